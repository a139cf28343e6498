// The README's first session, driven through the functions orval (client: 'fetch', see
// orval.config.ts) generates from the live server's /openapi.json. Each function answers
// { data, status, headers }, a union on `status`; `expectStatus` narrows it to the status wanted.
import {
  callAnnotationsRpc, callAnnotationsRpcBatch, claimNextEntry, createDataset, createEntry, createProject, exportDatasetEntries,
  getDataset, getHealth, getImportDatasetEntriesUrl, listDatasets, listEntries, reportEntryError,
  submitEntry, updateDataset,
} from './generated/orval/api.js';
import type {
  DatasetCreate, DatasetUpdate, Entry, EntryCreate, ImportLine, ImportResult, ProjectCreate, RpcCall, RpcRequest,
  SubmitRequest,
} from './generated/orval/api.js';
import { env, expectEqual, expectTrue, fail, run } from './check.js';

const token = env('DATASET_API_TOKEN');
env('DATASET_API_URL'); // orval.config.ts built it into every generated URL (`baseUrl`)
// orval's functions take a RequestInit last; its headers are merged under the generated Content-Type.
const auth = { headers: { Authorization: `Bearer ${token}` } } satisfies RequestInit;

const tag = `orval-${Date.now()}-${process.pid}`;

/** Narrows a generated answer to the variant of one HTTP status, or stops with the server's words. */
function expectStatus<R extends { status: number }, S extends R['status']>(
  step: string, answer: R, status: S,
): Extract<R, { status: S }> {
  if (!hasStatus(answer, status)) fail(`${step}: expected HTTP ${status}, got ${answer.status}: ${JSON.stringify(answer)}`);
  return answer;
}

function hasStatus<R extends { status: number }, S extends R['status']>(answer: R, status: S): answer is Extract<R, { status: S }> {
  return answer.status === status;
}

run('orval', async (log) => {
  expectEqual('GET /healthz', expectStatus('GET /healthz', await getHealth(), 200).data, { status: 'ok' });

  const projectBody: ProjectCreate = {
    data: { type: 'dataset:projects', attributes: { name: `Birds ${tag}`, organization_id: 1 } },
  };
  const project = expectStatus('POST /projects', await createProject(projectBody, auth), 201).data.data;
  expectEqual('project type', project.type, 'dataset:projects');
  log(`project ${project.id}`);

  const datasetBody: DatasetCreate = {
    data: { type: 'dataset:datasets', attributes: { project_id: project.id, name: 'Photos', modality: 'image', labels: ['bird'] } },
  };
  const dataset = expectStatus('POST /datasets', await createDataset(datasetBody, auth), 201).data.data;
  expectEqual('dataset project_id', dataset.attributes.project_id, project.id);
  expectEqual('dataset labels', dataset.attributes.labels, ['bird']);
  expectEqual('dataset modality', dataset.attributes.modality, 'image');
  log(`dataset ${dataset.id}`);

  const entries: Entry[] = [];
  for (const priority of [1, 2, 3]) {
    const entryBody: EntryCreate = {
      data: { type: 'dataset:entries', attributes: { dataset_id: dataset.id, resource: `s3://birds/${tag}/${priority}.jpg`, priority } },
    };
    const created = expectStatus(`POST /entries #${priority}`, await createEntry(entryBody, auth), 201);
    const entry = created.data.data;
    expectEqual(`entry #${priority} wf_step`, entry.attributes.wf_step, 'annotate');
    expectEqual(`entry #${priority} status`, entry.attributes.status, 'pending');
    expectEqual(`entry #${priority} project_id`, entry.attributes.project_id, project.id);
    expectTrue(`entry #${priority} Location header`, (created.headers.get('Location') ?? '').endsWith(`/entries/${entry.id}`));
    entries.push(entry);
  }
  log(`entries ${entries.map((e) => e.id).join(', ')}`);

  // orval sends an array query parameter as repeated keys (included=dataset&included=dataset.project).
  const listed = expectStatus('GET /entries (filtered)', await listEntries({
    'filter[dataset_id]': dataset.id,
    'filter[priority__gte]': 2,
    sort: '-priority',
    count: 'true',
    included: ['dataset', 'dataset.project'],
    'fields[dataset:entries]': 'resource,priority,wf_step,dataset',
  }, auth), 200).data;
  expectEqual('list meta.count', listed.meta.count, 2);
  expectEqual('list order (priority)', listed.data.map((e) => e.attributes.priority), [3, 2]);
  expectEqual('list ids', listed.data.map((e) => e.id), [entries[2].id, entries[1].id]);
  for (const e of listed.data) {
    expectEqual(`sparse fieldset of ${e.id}`, Object.keys(e.attributes).sort(), ['priority', 'resource', 'wf_step']);
  }
  const included = (listed.included ?? []).map((r) => `${r.type}/${r.id}`).sort();
  expectEqual('list included', included, [`dataset:datasets/${dataset.id}`, `dataset:projects/${project.id}`]);
  const includedDataset = (listed.included ?? []).find((r) => r.type === 'dataset:datasets');
  if (includedDataset?.type !== 'dataset:datasets') fail('list included: no dataset');
  expectEqual('included dataset name, labels, modality',
    [includedDataset.attributes.name, includedDataset.attributes.labels, includedDataset.attributes.modality], ['Photos', ['bird'], 'image']);
  log(`listed ${listed.data.length} of meta.count ${listed.meta.count}, included ${included.join(', ')}`);

  const next = expectStatus('GET /entries/next', await claimNextEntry({ 'filter[dataset_id]': dataset.id }, auth), 200).data.data;
  expectEqual('next is the highest priority', next.id, entries[2].id);
  expectEqual('next assigned_to_id', next.attributes.assigned_to_id, 1);
  expectEqual('next status', next.attributes.status, 'in_progress');
  log(`claimed ${next.id}`);

  // JSON-RPC: one call on POST /annotations/_rpc, then a batch on POST /annotations/_rpc/batch
  // (the README's create, then update + index). Every method's result is one RpcResult object.
  const create: RpcRequest = {
    jsonrpc: '2.0', method: 'create', id: 1,
    params: { entry_id: next.id, dimensions: { x: 10, y: 20, w: 50, h: 40 }, annotation: { label: 'bird' } },
  };
  const single = expectStatus('POST /annotations/_rpc (create)', await callAnnotationsRpc(create, undefined, auth), 200).data;
  const annotation = single.result;
  if (!annotation?.id) fail(`RPC create: expected an annotation, got ${JSON.stringify(single)}`);
  expectEqual('RPC create id', single.id, 1);
  expectEqual('RPC create entry_id', annotation.entry_id, next.id);
  expectEqual('RPC create annotation', annotation.annotation, { label: 'bird' });
  const calls: RpcCall[] = [
    { jsonrpc: '2.0', method: 'update', id: 1, params: { id: annotation.id, dimensions: { x: 12, y: 20, w: 48, h: 40 } } },
    { jsonrpc: '2.0', method: 'index', id: 2, params: { filter: { entry_id: next.id } } },
  ];
  const batch = expectStatus('POST /annotations/_rpc/batch', await callAnnotationsRpcBatch(calls, undefined, auth), 200).data;
  expectEqual('RPC reply ids', batch.map((reply) => reply.id), [1, 2]);
  expectEqual('RPC errors', batch.map((reply) => reply.error), [undefined, undefined]);
  expectEqual('RPC update dimensions', batch[0]?.result?.dimensions, { x: 12, y: 20, w: 48, h: 40 });
  expectEqual('RPC index ids', batch[1]?.result?.data?.map((a) => a.id), [annotation.id]);
  log(`annotation ${annotation.id} created, updated and listed over JSON-RPC`);

  const review: DatasetUpdate = {
    data: { type: 'dataset:datasets', id: dataset.id, attributes: { workflow_configuration: { type: 'simple_review', sample_rate: 1 } } },
  };
  const reviewed = expectStatus('PATCH /datasets/{id}', await updateDataset(dataset.id, review, auth), 200).data.data;
  expectEqual('dataset workflow_configuration', reviewed.attributes.workflow_configuration, { type: 'simple_review', sample_rate: 1 });

  // A JSON filter value is JSON text in a string parameter.
  for (const [wanted, expected] of [
    [{ type: 'simple_review' }, [dataset.id]],
    [{ type: 'simple_review', sample_rate: 0.5 }, []],
  ] as const) {
    const found = expectStatus('GET /datasets (JSON filter)', await listDatasets({
      'filter[project_id]': project.id, 'filter[workflow_configuration]': JSON.stringify(wanted),
    }, auth), 200).data;
    expectEqual(`filter[workflow_configuration]=${JSON.stringify(wanted)}`, found.data.map((d) => d.id), expected);
  }

  const submitted = expectStatus('POST /entries/{id}/submit (annotate)', await submitEntry(next.id, undefined, undefined, auth), 200).data.data;
  expectEqual('after submit wf_step', submitted.attributes.wf_step, 'review');
  expectEqual('after submit submitted_by_id', submitted.attributes.submitted_by_id, 1);

  const approval: SubmitRequest = { data: { attributes: { approved: true } } };
  const approved = expectStatus('POST /entries/{id}/submit (review)', await submitEntry(next.id, approval, undefined, auth), 200).data.data;
  expectEqual('after review wf_step', approved.attributes.wf_step, 'done');
  expectEqual('after review status', approved.attributes.status, 'completed');
  expectEqual('after review reviewed_by_id', approved.attributes.reviewed_by_id, 1);
  log(`entry ${approved.id} reviewed: ${approved.attributes.wf_step}`);

  // The import's body is NDJSON, built from the generated ImportLine. orval's importDatasetEntries
  // JSON.stringify()s its body (one JSON array) and sends no Content-Type, and a caller's RequestInit
  // cannot replace that body, so the lines go through fetch on orval's own URL builder
  // (docs/clients-typescript.md links the orval issue).
  const lines: ImportLine[] = [
    { resource: `s3://birds/${tag}/4.jpg`, priority: 4 },
    { resource: `s3://birds/${tag}/5.jpg`, annotations: [{ dimensions: { x: 1, y: 2, w: 3, h: 4 }, annotation: { label: 'bird' } }] },
  ];
  const importAnswer = await fetch(getImportDatasetEntriesUrl(dataset.id), {
    method: 'POST',
    headers: { ...auth.headers, 'Content-Type': 'application/x-ndjson' },
    body: lines.map((line) => `${JSON.stringify(line)}\n`).join(''),
  });
  expectEqual('POST /datasets/{id}/import status', importAnswer.status, 200);
  const imported: ImportResult = await importAnswer.json();
  expectEqual('import created', imported.meta.created, 2);

  const counted = expectStatus('GET /datasets/{id}', await getDataset(dataset.id, undefined, auth), 200).data.data;
  expectEqual('dataset entries_total_count', counted.attributes.entries_total_count, 5);
  expectEqual('dataset entries_completed_count', counted.attributes.entries_completed_count, 1);

  // The export: orval hands back the Response of an NDJSON answer as `stream`.
  const exported = await exportDatasetEntries(dataset.id, { format: 'jsonl' }, auth);
  if (!hasStatus(exported, 200) || !('stream' in exported)) fail(`GET /datasets/{id}/export: ${exported.status}`);
  const exportLines = (await exported.stream.text()).split('\n').filter((line) => line !== '');
  expectEqual('export lines', exportLines.length, 5);
  log(`imported 2, exported ${exportLines.length} lines`);

  // A refusal comes back as the error document the spec describes.
  const refused = await reportEntryError(next.id, { data: { attributes: { message: 'too late' } } }, undefined, auth);
  const conflict = expectStatus('POST /entries/{id}/error on a done entry', refused, 409).data;
  expectEqual('409 error document', conflict.errors[0]?.status, '409');
});

// Compile-time only (never called). Requests the server accepts must typecheck...
export function acceptedRequestsTypecheck(id: string): void {
  void createEntry({ data: { type: 'entries', attributes: { dataset_id: id, resource: 's3://x' } } }); // priority defaults to 0
  void updateDataset(id, { data: { type: 'datasets', attributes: { workflow_configuration: { type: 'simple_review' } } } }); // sample_rate defaults to 1
  void submitEntry(id);
}

// ...and requests it refuses must not: if the spec is loose about one of them, tsc reports
// "Unused '@ts-expect-error' directive" on that line. Each line breaks one rule only.
export function refusedRequestsDoNotTypecheck(id: string): void {
  // @ts-expect-error data.type must be 'dataset:entries' or 'entries' (else 409)
  void createEntry({ data: { type: 'dataset:nope', attributes: { dataset_id: id, resource: 's3://x', priority: 0 } } });
  // @ts-expect-error an entry's resource is required on create (else 422)
  void createEntry({ data: { type: 'dataset:entries', attributes: { dataset_id: id, priority: 0 } } });
  // @ts-expect-error unknown attribute (422)
  void createEntry({ data: { type: 'entries', attributes: { dataset_id: id, resource: 's3://x', priority: 0, colour: 'red' } } });
  // @ts-expect-error a dataset needs a modality on create (422)
  void createDataset({ data: { type: 'dataset:datasets', attributes: { project_id: id, name: 'n' } } });
  // @ts-expect-error a project needs organization_id on create (422)
  void createProject({ data: { type: 'dataset:projects', attributes: { name: 'n' } } });
  // @ts-expect-error unknown include path (400)
  void listEntries({ included: ['datasets'] });
  // @ts-expect-error count takes the documented spellings only (400)
  void listEntries({ count: 'maybe' });
  // @ts-expect-error approved is a boolean (422)
  void submitEntry(id, { data: { attributes: { approved: 'yes' } } });
  // @ts-expect-error reporting an error needs a message (422)
  void reportEntryError(id, { data: { attributes: {} } });
  // @ts-expect-error JSON-RPC 2.0 only (-32600, HTTP 400 for a single call)
  void callAnnotationsRpc({ jsonrpc: '1.0', method: 'show', id: 1, params: { id } });
  // @ts-expect-error a call names its method (-32600, HTTP 400 for a single call)
  void callAnnotationsRpc({ jsonrpc: '2.0', id: 1, params: { id } });
  // @ts-expect-error params are an object (-32600, HTTP 400 for a single call)
  void callAnnotationsRpc({ jsonrpc: '2.0', method: 'show', id: 1, params: 42 });
  // @ts-expect-error a batch is an array of calls (HTTP 400: a single call goes to POST /annotations/_rpc)
  void callAnnotationsRpcBatch({ jsonrpc: '2.0', method: 'show', id: 1, params: { id } });
}
