// End-to-end check of the Java client of OpenAPI Generator (-g java --library native, options
// openApiNullable=false and useSingleRequestParameter=true), unpatched, against a live
// dataset-api serve: the README's first session through the generated API classes and models.
// Built and run by run.sh (next to this file): DATASET_API_URL and DATASET_API_TOKEN (an admin
// token) set. Exit 0: every check held; 1: a check failed (the message says which).

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.UUID;
import org.openapitools.client.ApiClient;
import org.openapitools.client.ApiException;
import org.openapitools.client.ApiResponse;
import org.openapitools.client.api.AnnotationsApi;
import org.openapitools.client.api.DatasetsApi;
import org.openapitools.client.api.EntriesApi;
import org.openapitools.client.api.OperationsApi;
import org.openapitools.client.api.ProjectsApi;
import org.openapitools.client.model.*;

public class E2e {
  static final long ADMIN_ACCOUNT_ID = 1L;

  static class Failure extends RuntimeException {
    Failure(String message) { super(message); }
  }

  static void check(boolean condition, String message) {
    if (!condition) throw new Failure(message);
  }

  static void step(String title) {
    System.out.println("== " + title);
  }

  interface Call<T> { ApiResponse<T> run() throws ApiException; }

  /** The generated *WithHttpInfo call: its typed body when the status is the expected one. */
  static <T> T call(String what, int status, Call<T> call) {
    ApiResponse<T> response;
    try {
      response = call.run();
    } catch (ApiException e) {
      throw new Failure(what + ": HTTP " + e.getCode() + ": " + e.getResponseBody());
    }
    System.out.println("   " + what + " -> " + response.getStatusCode());
    check(response.getStatusCode() == status, what + ": expected HTTP " + status + ", got " + response.getStatusCode());
    return response.getData();
  }

  public static void main(String[] args) throws Exception {
    String url = System.getenv("DATASET_API_URL");
    String token = System.getenv("DATASET_API_TOKEN");
    if (url == null || url.isEmpty() || token == null || token.isEmpty()) {
      System.err.println("E2e: set DATASET_API_URL and DATASET_API_TOKEN (an admin token)");
      System.exit(2);
    }
    long started = System.nanoTime();
    try {
      session(url.replaceAll("/+$", ""), token);
    } catch (Failure e) {
      System.err.println("\nFAILED: " + e.getMessage());
      System.exit(1);
    }
    System.out.printf("%nOK: the generated Java client drove the whole first session (%.1fs)%n",
        (System.nanoTime() - started) / 1e9);
  }

  static void session(String url, String token) throws Exception {
    ApiClient client = new ApiClient();
    client.updateBaseUri(url);
    // the native library has no bearer scheme of its own: its request interceptor adds the header
    client.setRequestInterceptor(builder -> builder.header("Authorization", "Bearer " + token));
    ObjectMapper mapper = client.getObjectMapper();
    ProjectsApi projects = new ProjectsApi(client);
    DatasetsApi datasets = new DatasetsApi(client);
    EntriesApi entries = new EntriesApi(client);

    step("health");
    call("getHealth", 200, () -> new OperationsApi(client).getHealthWithHttpInfo());

    step("a project");
    Project project = call("createProject", 201, () -> projects.createProjectWithHttpInfo(
        new ProjectCreate().data(new ProjectCreateData().type(ProjectType.DATASET_PROJECTS)
            .attributes(new ProjectCreateAttributes().name("Birds").organizationId(1L))))).getData();
    check("Birds".equals(project.getAttributes().getName()), "createProject: " + project);

    step("a dataset in it");
    Dataset dataset = call("createDataset", 201, () -> datasets.createDatasetWithHttpInfo(
        new DatasetCreate().data(new DatasetCreateData().type(DatasetType.DATASET_DATASETS)
            .attributes(new DatasetCreateAttributes().projectId(UUID.fromString(project.getId()))
                .name("Photos").modality("image").labels(List.of("bird")))))).getData();
    check(project.getId().equals(String.valueOf(dataset.getAttributes().getProjectId())),
        "createDataset: project_id " + dataset.getAttributes().getProjectId());
    check(List.of("bird").equals(dataset.getAttributes().getLabels()), "createDataset: labels " + dataset.getAttributes().getLabels());

    step("a JSON filter: filter[workflow_configuration] (JSON text in a string parameter)");
    for (Object[] wanted : new Object[][] {
        {Map.of("type", "simple_review"), List.of(dataset.getId())},
        {Map.of("type", "simple_review", "sample_rate", 0.5), List.of()}}) {
      String json = mapper.writeValueAsString(wanted[0]);
      List<Dataset> found = call("listDatasets", 200, () -> datasets.listDatasetsWithHttpInfo(
          DatasetsApi.APIListDatasetsRequest.newBuilder().filterProjectId(project.getId())
              .filterWorkflowConfiguration(json).build())).getData();
      List<String> ids = new ArrayList<>();
      found.forEach(d -> ids.add(d.getId()));
      check(ids.equals(wanted[1]), "filter[workflow_configuration]=" + json + ": " + ids + ", expected " + wanted[1]);
    }

    step("three entries");
    List<Entry> created = new ArrayList<>();
    for (int i = 1; i <= 3; i++) {
      int priority = i;
      Entry entry = call("createEntry " + i, 201, () -> entries.createEntryWithHttpInfo(
          new EntryCreate().data(new EntryCreateData().type(EntryType.DATASET_ENTRIES)
              .attributes(new EntryCreateAttributes().datasetId(UUID.fromString(dataset.getId()))
                  .resource("s3://birds/" + priority + ".jpg").priority(priority))))).getData();
      check(entry.getAttributes().getWfStep() == EntryAttributes.WfStepEnum.ANNOTATE
          && entry.getAttributes().getStatus() == EntryAttributes.StatusEnum.PENDING,
          "createEntry " + i + ": " + entry.getAttributes());
      created.add(entry);
    }

    step("filtered list: priority >= 2, -priority, count, included dataset + dataset.project");
    EntryCollection listing = call("listEntries", 200, () -> entries.listEntriesWithHttpInfo(
        EntriesApi.APIListEntriesRequest.newBuilder().filterDatasetId(dataset.getId()).filterPriorityGte(2L)
            .sort("-priority").count("true").included(List.of("dataset", "dataset.project")).build()));
    check(Objects.equals(listing.getMeta().getCount(), 2), "listEntries: meta.count " + listing.getMeta().getCount());
    check(listing.getData().size() == 2 && listing.getData().get(0).getId().equals(created.get(2).getId())
        && listing.getData().get(1).getId().equals(created.get(1).getId()), "listEntries: not entries 3 then 2: " + listing.getData());
    Dataset includedDataset = null;
    Project includedProject = null;
    for (AnyResource item : listing.getIncluded()) {
      if (item.getActualInstance() instanceof Dataset) includedDataset = item.getDataset();
      else if (item.getActualInstance() instanceof Project) includedProject = item.getProject();
      else throw new Failure("listEntries: unexpected included " + item.getActualInstance());
    }
    check(listing.getIncluded().size() == 2 && includedDataset != null && includedProject != null,
        "listEntries: included " + listing.getIncluded());
    check(includedDataset.getId().equals(dataset.getId()) && "Photos".equals(includedDataset.getAttributes().getName())
        && List.of("bird").equals(includedDataset.getAttributes().getLabels())
        && "image".equals(includedDataset.getAttributes().getModality())
        && "Birds".equals(includedProject.getAttributes().getName()),
        "listEntries: the included dataset and project lost attributes: " + includedDataset + includedProject);

    step("GET /entries/next claims the highest priority entry");
    Entry claimed = call("claimNextEntry", 200, () -> entries.claimNextEntryWithHttpInfo(
        EntriesApi.APIClaimNextEntryRequest.newBuilder().filterDatasetId(dataset.getId()).build())).getData();
    check(claimed.getId().equals(created.get(2).getId()), "claimNextEntry: claimed " + claimed.getAttributes().getResource());
    check(claimed.getAttributes().getStatus() == EntryAttributes.StatusEnum.IN_PROGRESS
        && Objects.equals(claimed.getAttributes().getAssignedToId(), ADMIN_ACCOUNT_ID), "claimNextEntry: " + claimed.getAttributes());

    Rpc.session(client, UUID.fromString(claimed.getId()));

    step("submit at annotate (sample_rate 1: every submitted entry goes to review)");
    // submitEntry's body is optional, but the native library writes an omitted body as the JSON
    // text `null` (ObjectMapper.writeValueAsBytes(null)), which the server refuses (422): send an
    // empty SubmitRequest instead (see docs/clients-openapi-generator.md).
    Entry submitted = call("submitEntry", 200, () -> entries.submitEntryWithHttpInfo(
        EntriesApi.APISubmitEntryRequest.newBuilder().id(claimed.getId()).submitRequest(new SubmitRequest()
            .data(new SubmitRequestData().attributes(new SubmitRequestDataAttributes()))).build())).getData();
    check(submitted.getAttributes().getWfStep() == EntryAttributes.WfStepEnum.REVIEW, "submitEntry: " + submitted.getAttributes());

    step("review: select, then submit approved=true");
    call("selectEntry", 200, () -> entries.selectEntryWithHttpInfo(
        EntriesApi.APISelectEntryRequest.newBuilder().id(claimed.getId()).build()));
    Entry done = call("submitEntry approved", 200, () -> entries.submitEntryWithHttpInfo(
        EntriesApi.APISubmitEntryRequest.newBuilder().id(claimed.getId()).submitRequest(new SubmitRequest()
            .data(new SubmitRequestData().attributes(new SubmitRequestDataAttributes().approved(true)))).build())).getData();
    check(done.getAttributes().getWfStep() == EntryAttributes.WfStepEnum.DONE
        && done.getAttributes().getStatus() == EntryAttributes.StatusEnum.COMPLETED, "submitEntry approved: " + done.getAttributes());

    step("import two entries, one with a pre-annotation (NDJSON lines from the generated ImportLine)");
    // The generated importDatasetEntries writes its List<ImportLine> as ONE JSON array under
    // Content-Type application/x-ndjson (the server reads lines: 422). So the lines go through the
    // client's own HttpClient, interceptor and ObjectMapper; the answer is read as ImportResult.
    List<ImportLine> lines = List.of(new ImportLine().resource("s3://birds/4.jpg").priority(4),
        new ImportLine().resource("s3://birds/5.jpg").annotations(List.of(new ImportAnnotation()
            .dimensions(Map.of("x", 1, "y", 2, "w", 3, "h", 4)).annotation(Map.of("label", "bird")))));
    StringBuilder ndjson = new StringBuilder();
    for (ImportLine line : lines) ndjson.append(mapper.writeValueAsString(line)).append('\n');
    HttpRequest.Builder request = HttpRequest.newBuilder()
        .uri(URI.create(client.getBaseUri() + "/datasets/" + dataset.getId() + "/import"))
        .header("Content-Type", "application/x-ndjson").header("Accept", "application/vnd.api+json")
        .POST(HttpRequest.BodyPublishers.ofString(ndjson.toString()));
    client.getRequestInterceptor().accept(request);
    HttpResponse<String> imported = client.getHttpClient().send(request.build(), HttpResponse.BodyHandlers.ofString());
    System.out.println("   importDatasetEntries -> " + imported.statusCode());
    check(imported.statusCode() == 200, "importDatasetEntries: HTTP " + imported.statusCode() + ": " + imported.body());
    ImportResult result = mapper.readValue(imported.body(), ImportResult.class);
    check(result.getMeta().getCreated() == 2 && result.getMeta().getSkipped() == 0, "importDatasetEntries: " + result);

    step("export as NDJSON, each line read as the generated ExportLine");
    // exportDatasetEntries reads the body as one JSON document (List<ExportLine>): NDJSON is not one,
    // so the lines come through the client's own HttpClient, each read as an ExportLine.
    HttpRequest.Builder exportRequest = HttpRequest.newBuilder()
        .uri(URI.create(client.getBaseUri() + "/datasets/" + dataset.getId() + "/export?format=jsonl")).GET();
    client.getRequestInterceptor().accept(exportRequest);
    HttpResponse<String> export = client.getHttpClient().send(exportRequest.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    check(export.statusCode() == 200, "exportDatasetEntries: HTTP " + export.statusCode() + ": " + export.body());
    List<ExportLine> exported = new ArrayList<>();
    for (String line : export.body().split("\n")) if (!line.isEmpty()) exported.add(mapper.readValue(line, ExportLine.class));
    System.out.println("   exportDatasetEntries -> " + export.statusCode() + ", " + exported.size() + " lines");
    List<String> resources = new ArrayList<>();
    exported.forEach(e -> resources.add(e.getResource()));
    resources.sort(null);
    check(resources.equals(List.of("s3://birds/1.jpg", "s3://birds/2.jpg", "s3://birds/3.jpg", "s3://birds/4.jpg", "s3://birds/5.jpg")),
        "exportDatasetEntries: " + resources);
    ExportLine doneLine = exported.stream().filter(e -> e.getId().toString().equals(claimed.getId())).findFirst().orElseThrow();
    check(doneLine.getWfStep() == ExportLine.WfStepEnum.DONE && doneLine.getAnnotations().size() == 1,
        "exportDatasetEntries: the reviewed entry's line " + doneLine);

    step("read back: the dataset counts 5 entries, 1 completed");
    DatasetAttributes counted = call("getDataset", 200, () -> datasets.getDatasetWithHttpInfo(
        DatasetsApi.APIGetDatasetRequest.newBuilder().id(dataset.getId()).build())).getData().getAttributes();
    check(counted.getEntriesTotalCount() == 5 && counted.getEntriesCompletedCount() == 1,
        "getDataset: total " + counted.getEntriesTotalCount() + ", completed " + counted.getEntriesCompletedCount());
  }
}
