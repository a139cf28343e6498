// The README's first session, driven through the client OpenAPI Generator's typescript-fetch
// generator writes (default options, except `importFileExtension=.js`, which its docs give for ESM)
// from the live server's /openapi.json: one API class per tag, a request object per operation,
// models with FromJSON/ToJSON mappers (camelCase properties), errors thrown as ResponseError.
import {
  AnnotationsApi, Configuration, DatasetsApi, EntriesApi, ErrorsFromJSON, ImportLineToJSON, OperationsApi,
  ProjectsApi, ResponseError,
} from './generated/oag/index.js';
import type {
  DatasetCreate, DatasetUpdate, Entry, EntryCreate, ImportLine, ProjectCreate, RpcCall, RpcRequest, SubmitRequest,
} from './generated/oag/index.js';
import { env, expectEqual, expectTrue, fail, run } from './check.js';

const config = new Configuration({
  basePath: env('DATASET_API_URL').replace(/\/+$/, ''),
  accessToken: env('DATASET_API_TOKEN'), // sent as `Authorization: Bearer` (the bearerAuth scheme)
});
const operations = new OperationsApi(config);
const projects = new ProjectsApi(config);
const datasets = new DatasetsApi(config);
const entriesApi = new EntriesApi(config);
const annotations = new AnnotationsApi(config);

const tag = `oag-${Date.now()}-${process.pid}`;

/** Runs a call that must succeed; a ResponseError stops the run with the server's answer. */
async function step<T>(name: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof ResponseError) fail(`${name}: HTTP ${err.response.status}: ${await err.response.text()}`);
    throw err;
  }
}

run('openapi-generator typescript-fetch', async (log) => {
  expectEqual('GET /healthz', await step('GET /healthz', () => operations.getHealth()), { status: 'ok' });

  const projectCreate: ProjectCreate = {
    data: { type: 'dataset:projects', attributes: { name: `Birds ${tag}`, organizationId: 1 } },
  };
  const project = (await step('POST /projects', () => projects.createProject({ projectCreate }))).data;
  expectEqual('project type', project.type, 'dataset:projects');
  log(`project ${project.id}`);

  const datasetCreate: DatasetCreate = {
    data: { type: 'dataset:datasets', attributes: { projectId: project.id, name: 'Photos', modality: 'image', labels: ['bird'] } },
  };
  const dataset = (await step('POST /datasets', () => datasets.createDataset({ datasetCreate }))).data;
  expectEqual('dataset project_id', dataset.attributes.projectId, project.id);
  expectEqual('dataset labels', dataset.attributes.labels, ['bird']);
  expectEqual('dataset modality', dataset.attributes.modality, 'image');
  log(`dataset ${dataset.id}`);

  const entries: Entry[] = [];
  for (const priority of [1, 2, 3]) {
    const entryCreate: EntryCreate = {
      data: { type: 'dataset:entries', attributes: { datasetId: dataset.id, resource: `s3://birds/${tag}/${priority}.jpg`, priority } },
    };
    const created = await step(`POST /entries #${priority}`, () => entriesApi.createEntryRaw({ entryCreate }));
    expectEqual(`POST /entries #${priority} status`, created.raw.status, 201);
    const entry = (await created.value()).data;
    expectEqual(`entry #${priority} wf_step`, entry.attributes.wfStep, 'annotate');
    expectEqual(`entry #${priority} status`, entry.attributes.status, 'pending');
    expectEqual(`entry #${priority} project_id`, entry.attributes.projectId, project.id);
    expectTrue(`entry #${priority} Location header`, (created.raw.headers.get('Location') ?? '').endsWith(`/entries/${entry.id}`));
    entries.push(entry);
  }
  log(`entries ${entries.map((e) => e.id).join(', ')}`);

  const listed = await step('GET /entries (filtered)', () => entriesApi.listEntries({
    filterDatasetId: dataset.id,
    filterPriorityGte: 2,
    sort: '-priority',
    count: 'true',
    included: ['dataset', 'dataset.project'],
    fieldsDatasetEntries: 'resource,priority,wf_step,dataset',
  }));
  expectEqual('list meta.count', listed.meta.count, 2);
  expectEqual('list order (priority)', listed.data.map((e) => e.attributes.priority), [3, 2]);
  expectEqual('list ids', listed.data.map((e) => e.id), [entries[2].id, entries[1].id]);
  const included = (listed.included ?? []).map((r) => `${r.type}/${r.id}`).sort();
  expectEqual('list included', included, [`dataset:datasets/${dataset.id}`, `dataset:projects/${project.id}`]);
  const includedDataset = (listed.included ?? []).find((r) => r.type === 'dataset:datasets');
  if (includedDataset?.type !== 'dataset:datasets') fail('list included: no dataset');
  expectEqual('included dataset name, labels, modality',
    [includedDataset.attributes.name, includedDataset.attributes.labels, includedDataset.attributes.modality], ['Photos', ['bird'], 'image']);
  log(`listed ${listed.data.length} of meta.count ${listed.meta.count}, included ${included.join(', ')}`);

  const next = (await step('GET /entries/next', () => entriesApi.claimNextEntry({ filterDatasetId: dataset.id }))).data;
  expectEqual('next is the highest priority', next.id, entries[2].id);
  expectEqual('next assigned_to_id', next.attributes.assignedToId, 1);
  expectEqual('next status', next.attributes.status, 'in_progress');
  log(`claimed ${next.id}`);

  // JSON-RPC: one call on POST /annotations/_rpc, then a batch on POST /annotations/_rpc/batch
  // (the README's create, then update + index). Every method's result is one RpcResult object.
  const create: RpcRequest = {
    jsonrpc: '2.0', method: 'create', id: 1,
    params: { entryId: next.id, dimensions: { x: 10, y: 20, w: 50, h: 40 }, annotation: { label: 'bird' } },
  };
  const single = await step('POST /annotations/_rpc (create)', () => annotations.callAnnotationsRpc({ rpcRequest: create }));
  const annotation = single?.result;
  if (!annotation?.id) fail(`RPC create: expected an annotation, got ${JSON.stringify(single)}`);
  expectEqual('RPC create id', single?.id, 1);
  expectEqual('RPC create entry_id', annotation.entryId, next.id);
  expectEqual('RPC create annotation', annotation.annotation, { label: 'bird' });
  const calls: RpcCall[] = [
    { jsonrpc: '2.0', method: 'update', id: 1, params: { id: annotation.id, dimensions: { x: 12, y: 20, w: 48, h: 40 } } },
    { jsonrpc: '2.0', method: 'index', id: 2, params: { filter: { entry_id: next.id } } },
  ];
  const batch = await step('POST /annotations/_rpc/batch', () => annotations.callAnnotationsRpcBatch({ rpcCall: calls }));
  if (!batch) fail('RPC batch: no replies');
  expectEqual('RPC reply ids', batch.map((reply) => reply.id), [1, 2]);
  expectEqual('RPC errors', batch.map((reply) => reply.error), [undefined, undefined]);
  expectEqual('RPC update dimensions', batch[0]?.result?.dimensions, { x: 12, y: 20, w: 48, h: 40 });
  expectEqual('RPC index ids', batch[1]?.result?.data?.map((a) => a.id), [annotation.id]);
  log(`annotation ${annotation.id} created, updated and listed over JSON-RPC`);

  const datasetUpdate: DatasetUpdate = {
    data: { type: 'dataset:datasets', id: dataset.id, attributes: { workflowConfiguration: { type: 'simple_review', sampleRate: 1 } } },
  };
  const reviewed = (await step('PATCH /datasets/{id}', () => datasets.updateDataset({ id: dataset.id, datasetUpdate }))).data;
  expectEqual('dataset workflow_configuration', reviewed.attributes.workflowConfiguration, { type: 'simple_review', sampleRate: 1 });

  // A JSON filter value is JSON text in a string parameter.
  for (const [wanted, expected] of [
    [{ type: 'simple_review' }, [dataset.id]],
    [{ type: 'simple_review', sample_rate: 0.5 }, []],
  ] as const) {
    const found = await step('GET /datasets (JSON filter)', () => datasets.listDatasets({
      filterProjectId: project.id, filterWorkflowConfiguration: JSON.stringify(wanted),
    }));
    expectEqual(`filter[workflow_configuration]=${JSON.stringify(wanted)}`, found.data.map((d) => d.id), expected);
  }

  const submitted = (await step('POST /entries/{id}/submit (annotate)', () => entriesApi.submitEntry({ id: next.id }))).data;
  expectEqual('after submit wf_step', submitted.attributes.wfStep, 'review');
  expectEqual('after submit submitted_by_id', submitted.attributes.submittedById, 1);

  const submitRequest: SubmitRequest = { data: { attributes: { approved: true } } };
  const approved = (await step('POST /entries/{id}/submit (review)', () => entriesApi.submitEntry({ id: next.id, submitRequest }))).data;
  expectEqual('after review wf_step', approved.attributes.wfStep, 'done');
  expectEqual('after review status', approved.attributes.status, 'completed');
  expectEqual('after review reviewed_by_id', approved.attributes.reviewedById, 1);
  log(`entry ${approved.id} reviewed: ${approved.attributes.wfStep}`);

  // The import's body is NDJSON, built from the generated ImportLine. The generated call would send
  // the lines as the runtime makes any non-JSON body (not NDJSON), so its documented per-call
  // `initOverrides` hook replaces the body with the lines, each through the generated ImportLineToJSON.
  const lines: ImportLine[] = [
    { resource: `s3://birds/${tag}/4.jpg`, priority: 4 },
    { resource: `s3://birds/${tag}/5.jpg`, annotations: [{ dimensions: { x: 1, y: 2, w: 3, h: 4 }, annotation: { label: 'bird' } }] },
  ];
  const ndjson = lines.map((line) => `${JSON.stringify(ImportLineToJSON(line))}\n`).join('');
  const imported = await step('POST /datasets/{id}/import', () => datasets.importDatasetEntries(
    { id: dataset.id, importLine: lines }, async () => ({ body: ndjson })));
  expectEqual('import created', imported.meta.created, 2);

  const counted = (await step('GET /datasets/{id}', () => datasets.getDataset({ id: dataset.id }))).data;
  expectEqual('dataset entries_total_count', counted.attributes.entriesTotalCount, 5);
  expectEqual('dataset entries_completed_count', counted.attributes.entriesCompletedCount, 1);

  // The export is NDJSON too: the generated exportDatasetEntries() would parse it as one JSON
  // document, so its Raw variant hands back the Response.
  const exported = await step('GET /datasets/{id}/export', () => datasets.exportDatasetEntriesRaw({ id: dataset.id, format: 'jsonl' }));
  const exportLines = (await exported.raw.text()).split('\n').filter((line) => line !== '');
  expectEqual('export lines', exportLines.length, 5);
  log(`imported 2, exported ${exportLines.length} lines`);

  // A refusal is thrown as a ResponseError holding the error document the spec describes.
  try {
    await entriesApi.reportEntryError({ id: next.id, errorRequest: { data: { attributes: { message: 'too late' } } } });
    fail('POST /entries/{id}/error on a done entry: expected 409, got a success');
  } catch (err) {
    if (!(err instanceof ResponseError)) throw err;
    expectEqual('POST /entries/{id}/error on a done entry', err.response.status, 409);
    expectEqual('409 error document', ErrorsFromJSON(await err.response.json()).errors[0]?.status, '409');
  }
});

// Compile-time only (never called). Requests the server accepts must typecheck...
export function acceptedRequestsTypecheck(id: string): void {
  void entriesApi.createEntry({ entryCreate: { data: { type: 'entries', attributes: { datasetId: id, resource: 's3://x' } } } }); // priority defaults to 0
  void datasets.updateDataset({ id, datasetUpdate: { data: { type: 'datasets', attributes: { workflowConfiguration: { type: 'simple_review' } } } } }); // sample_rate defaults to 1
  void entriesApi.submitEntry({ id });
}

// ...and requests it refuses must not: if the spec is loose about one of them, tsc reports
// "Unused '@ts-expect-error' directive" on that line. Each line breaks one rule only.
export function refusedRequestsDoNotTypecheck(id: string): void {
  // @ts-expect-error data.type must be 'dataset:entries' or 'entries' (else 409)
  void entriesApi.createEntry({ entryCreate: { data: { type: 'dataset:nope', attributes: { datasetId: id, resource: 's3://x', priority: 0 } } } });
  // @ts-expect-error an entry's resource is required on create (else 422)
  void entriesApi.createEntry({ entryCreate: { data: { type: 'dataset:entries', attributes: { datasetId: id, priority: 0 } } } });
  // @ts-expect-error unknown attribute (422)
  void entriesApi.createEntry({ entryCreate: { data: { type: 'entries', attributes: { datasetId: id, resource: 's3://x', priority: 0, colour: 'red' } } } });
  // @ts-expect-error a dataset needs a modality on create (422)
  void datasets.createDataset({ datasetCreate: { data: { type: 'dataset:datasets', attributes: { projectId: id, name: 'n' } } } });
  // @ts-expect-error a project needs organization_id on create (422)
  void projects.createProject({ projectCreate: { data: { type: 'dataset:projects', attributes: { name: 'n' } } } });
  // @ts-expect-error unknown include path (400)
  void entriesApi.listEntries({ included: ['datasets'] });
  // @ts-expect-error count takes the documented spellings only (400)
  void entriesApi.listEntries({ count: 'maybe' });
  // @ts-expect-error approved is a boolean (422)
  void entriesApi.submitEntry({ id, submitRequest: { data: { attributes: { approved: 'yes' } } } });
  // @ts-expect-error reporting an error needs a message (422)
  void entriesApi.reportEntryError({ id, errorRequest: { data: { attributes: {} } } });
  // @ts-expect-error the entry id is a path parameter
  void entriesApi.submitEntry({});
  // @ts-expect-error JSON-RPC 2.0 only (-32600, HTTP 400 for a single call)
  void annotations.callAnnotationsRpc({ rpcRequest: { jsonrpc: '1.0', method: 'show', id: 1, params: { id } } });
  // @ts-expect-error a call names its method (-32600, HTTP 400 for a single call)
  void annotations.callAnnotationsRpc({ rpcRequest: { jsonrpc: '2.0', id: 1, params: { id } } });
  // @ts-expect-error params are an object (-32600, HTTP 400 for a single call)
  void annotations.callAnnotationsRpc({ rpcRequest: { jsonrpc: '2.0', method: 'show', id: 1, params: 42 } });
  // @ts-expect-error a batch is an array of calls (HTTP 400: a single call goes to POST /annotations/_rpc)
  void annotations.callAnnotationsRpcBatch({ rpcCall: { jsonrpc: '2.0', method: 'show', id: 1, params: { id } } });
}
