// The README's first session, driven through openapi-fetch's createClient<paths>() over the types
// openapi-typescript generates (default options) from the live server's /openapi.json.
import createClient from 'openapi-fetch';
import type { components, paths } from './generated/fetch/schema.js';
import { env, expectEqual, expectStatus, expectTrue, fail, run } from './check.js';

type Entry = components['schemas']['Entry'];
type ImportLine = components['schemas']['ImportLine'];

const baseUrl = env('DATASET_API_URL').replace(/\/+$/, '');
const token = env('DATASET_API_TOKEN');
const api = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });

const tag = `fetch-${Date.now()}-${process.pid}`;

run('openapi-fetch', async (log) => {
  expectEqual('GET /healthz', expectStatus('GET /healthz', await api.GET('/healthz'), 200), { status: 'ok' });

  const project = expectStatus('POST /projects', await api.POST('/projects', {
    body: { data: { type: 'dataset:projects', attributes: { name: `Birds ${tag}`, organization_id: 1 } } },
  }), 201).data;
  expectEqual('project type', project.type, 'dataset:projects');
  log(`project ${project.id}`);

  const dataset = expectStatus('POST /datasets', await api.POST('/datasets', {
    body: {
      data: {
        type: 'dataset:datasets',
        attributes: { project_id: project.id, name: 'Photos', modality: 'image', labels: ['bird'] },
      },
    },
  }), 201).data;
  expectEqual('dataset project_id', dataset.attributes.project_id, project.id);
  expectEqual('dataset labels', dataset.attributes.labels, ['bird']);
  expectEqual('dataset modality', dataset.attributes.modality, 'image');
  log(`dataset ${dataset.id}`);

  const entries: Entry[] = [];
  for (const priority of [1, 2, 3]) {
    const created = await api.POST('/entries', {
      body: {
        data: {
          type: 'dataset:entries',
          attributes: { dataset_id: dataset.id, resource: `s3://birds/${tag}/${priority}.jpg`, priority },
        },
      },
    });
    const entry = expectStatus(`POST /entries #${priority}`, created, 201).data;
    expectEqual(`entry #${priority} wf_step`, entry.attributes.wf_step, 'annotate');
    expectEqual(`entry #${priority} status`, entry.attributes.status, 'pending');
    expectEqual(`entry #${priority} project_id`, entry.attributes.project_id, project.id);
    expectTrue(`entry #${priority} Location header`, (created.response.headers.get('Location') ?? '').endsWith(`/entries/${entry.id}`));
    entries.push(entry);
  }
  log(`entries ${entries.map((e) => e.id).join(', ')}`);

  // openapi-fetch serializes arrays as repeated keys (included=dataset&included=dataset.project).
  const listed = expectStatus('GET /entries (filtered)', await api.GET('/entries', {
    params: {
      query: {
        'filter[dataset_id]': dataset.id,
        'filter[priority__gte]': 2,
        sort: '-priority',
        count: 'true',
        included: ['dataset', 'dataset.project'],
        'fields[dataset:entries]': 'resource,priority,wf_step,dataset',
      },
    },
  }), 200);
  expectEqual('list meta.count', listed.meta.count, 2);
  expectEqual('list order (priority)', listed.data.map((e) => e.attributes.priority), [3, 2]);
  expectEqual('list ids', listed.data.map((e) => e.id), [entries[2].id, entries[1].id]);
  for (const e of listed.data) {
    expectEqual(`sparse fieldset of ${e.id}`, Object.keys(e.attributes).sort(), ['priority', 'resource', 'wf_step']);
  }
  const included = (listed.included ?? []).map((r) => `${r.type}/${r.id}`).sort();
  expectEqual('list included', included, [`dataset:datasets/${dataset.id}`, `dataset:projects/${project.id}`]);
  log(`listed ${listed.data.length} of meta.count ${listed.meta.count}, included ${included.join(', ')}`);

  const next = expectStatus('GET /entries/next', await api.GET('/entries/next', {
    params: { query: { 'filter[dataset_id]': dataset.id } },
  }), 200).data;
  expectEqual('next is the highest priority', next.id, entries[2].id);
  expectEqual('next assigned_to_id', next.attributes.assigned_to_id, 1);
  expectEqual('next status', next.attributes.status, 'in_progress');
  log(`claimed ${next.id}`);

  // One call on POST /annotations/_rpc (RpcRequest), then a batch on its own operation (RpcCall[]).
  const answer = expectStatus('POST /annotations/_rpc', await api.POST('/annotations/_rpc', { body: { jsonrpc: '2.0', method: 'create', id: 1, params: { entry_id: next.id, dimensions: { x: 10, y: 20, w: 50, h: 40 }, annotation: { label: 'bird' } } } }), 200);
  expectEqual('RPC create id', answer.id, 1);
  const annotation = answer.result;
  if (!annotation?.id) fail(`RPC create: expected an annotation, got ${JSON.stringify(answer)}`);
  expectEqual('RPC create entry_id', annotation.entry_id, next.id);
  expectEqual('RPC create annotation', annotation.annotation, { label: 'bird' });
  expectEqual('RPC create dimensions', annotation.dimensions, { x: 10, y: 20, w: 50, h: 40 });
  const replies = expectStatus('POST /annotations/_rpc/batch', await api.POST('/annotations/_rpc/batch', { body: [
    { jsonrpc: '2.0', method: 'index', id: 2, params: { filter: { entry_id: next.id } } },
    { jsonrpc: '2.0', method: 'show', id: 'three', params: { id: annotation.id } },
    { jsonrpc: '2.0', method: 'shout', id: 4 },
  ] }), 200);
  expectEqual('RPC batch reply ids', replies.map((reply) => reply.id), [2, 'three', 4]);
  const [indexReply, showReply, unknownReply] = replies;
  expectEqual('RPC index ids', (indexReply.result?.data ?? []).map((a) => a.id), [annotation.id]);
  expectEqual('RPC show annotation', showReply.result?.annotation, { label: 'bird' });
  expectEqual('RPC unknown method', unknownReply.error?.code, -32601);
  log(`annotation ${annotation.id} created, listed and shown over JSON-RPC`);

  const reviewed = expectStatus('PATCH /datasets/{id}', await api.PATCH('/datasets/{id}', {
    params: { path: { id: dataset.id } },
    body: { data: { type: 'dataset:datasets', id: dataset.id, attributes: { workflow_configuration: { type: 'simple_review', sample_rate: 1 } } } },
  }), 200).data;
  expectEqual('dataset workflow_configuration', reviewed.attributes.workflow_configuration, { type: 'simple_review', sample_rate: 1 });

  // A JSON filter value is JSON text in a string parameter.
  for (const [wanted, expected] of [
    [{ type: 'simple_review' }, [dataset.id]],
    [{ type: 'simple_review', sample_rate: 0.5 }, []],
  ] as const) {
    const found = expectStatus('GET /datasets (JSON filter)', await api.GET('/datasets', {
      params: { query: { 'filter[project_id]': project.id, 'filter[workflow_configuration]': JSON.stringify(wanted) } },
    }), 200);
    expectEqual(`filter[workflow_configuration]=${JSON.stringify(wanted)}`, found.data.map((d) => d.id), expected);
  }

  const submitted = expectStatus('POST /entries/{id}/submit (annotate)', await api.POST('/entries/{id}/submit', {
    params: { path: { id: next.id } },
  }), 200).data;
  expectEqual('after submit wf_step', submitted.attributes.wf_step, 'review');
  expectEqual('after submit submitted_by_id', submitted.attributes.submitted_by_id, 1);

  const approved = expectStatus('POST /entries/{id}/submit (review)', await api.POST('/entries/{id}/submit', {
    params: { path: { id: next.id } },
    body: { data: { attributes: { approved: true } } },
  }), 200).data;
  expectEqual('after review wf_step', approved.attributes.wf_step, 'done');
  expectEqual('after review status', approved.attributes.status, 'completed');
  expectEqual('after review reviewed_by_id', approved.attributes.reviewed_by_id, 1);
  log(`entry ${approved.id} reviewed: ${approved.attributes.wf_step}`);

  // The import's body is NDJSON: the lines typecheck as the spec's ImportLine, a bodySerializer writes them.
  const lines: ImportLine[] = [
    { resource: `s3://birds/${tag}/4.jpg`, priority: 4 },
    { resource: `s3://birds/${tag}/5.jpg`, annotations: [{ dimensions: { x: 1, y: 2, w: 3, h: 4 }, annotation: { label: 'bird' } }] },
  ];
  const imported = expectStatus('POST /datasets/{id}/import', await api.POST('/datasets/{id}/import', {
    params: { path: { id: dataset.id } },
    body: lines,
    headers: { 'Content-Type': 'application/x-ndjson' },
    bodySerializer: (body: unknown) => (body as ImportLine[]).map((line) => `${JSON.stringify(line)}\n`).join(''),
  }), 200);
  expectEqual('import created', imported.meta.created, 2);

  const counted = expectStatus('GET /datasets/{id}', await api.GET('/datasets/{id}', {
    params: { path: { id: dataset.id } },
  }), 200).data;
  expectEqual('dataset entries_total_count', counted.attributes.entries_total_count, 5);
  expectEqual('dataset entries_completed_count', counted.attributes.entries_completed_count, 1);

  // A refusal comes back as the error document the spec describes.
  const refused = await api.POST('/entries/{id}/error', {
    params: { path: { id: next.id } },
    body: { data: { attributes: { message: 'too late' } } },
  });
  expectEqual('POST /entries/{id}/error on a done entry', refused.response.status, 409);
  expectEqual('409 error document', refused.error?.errors[0]?.status, '409');
});

// Compile-time only (never called). Requests the server accepts must typecheck...
export function acceptedRequestsTypecheck(id: string): void {
  void api.POST('/entries', { body: { data: { type: 'entries', attributes: { dataset_id: id, resource: 's3://x' } } } }); // priority defaults to 0
  void api.PATCH('/entries/{id}', { params: { path: { id } }, body: { data: { type: 'dataset:entries', attributes: { job_id: 'j' } } } }); // a PATCH names only what changes
  void api.PATCH('/datasets/{id}', { params: { path: { id } }, body: { data: { type: 'datasets', attributes: { workflow_configuration: { type: 'simple_review' } } } } }); // sample_rate defaults to 1
  void api.POST('/entries/{id}/submit', { params: { path: { id } } });
  void api.PATCH('/entries/{id}', { params: { path: { id } }, body: { links: { self: `/entries/${id}` }, data: { type: 'dataset:entries', id, links: { self: `/entries/${id}` }, attributes: { priority: 1 } } } }); // links are ignored
}

// ...and requests it refuses must not: if the spec is loose about one of them, tsc reports
// "Unused '@ts-expect-error' directive" on that line. Each line breaks one rule only.
export function refusedRequestsDoNotTypecheck(id: string): void {
  // @ts-expect-error data.type must be 'dataset:entries' or 'entries' (else 409)
  void api.POST('/entries', { body: { data: { type: 'dataset:nope', attributes: { dataset_id: id, resource: 's3://x', priority: 0 } } } });
  // @ts-expect-error an entry's resource is required on create (else 422)
  void api.POST('/entries', { body: { data: { type: 'dataset:entries', attributes: { dataset_id: id, priority: 0 } } } });
  // @ts-expect-error unknown attribute (422)
  void api.POST('/entries', { body: { data: { type: 'entries', attributes: { dataset_id: id, resource: 's3://x', priority: 0, colour: 'red' } } } });
  // @ts-expect-error a dataset needs a modality on create (422)
  void api.POST('/datasets', { body: { data: { type: 'dataset:datasets', attributes: { project_id: id, name: 'n' } } } });
  // @ts-expect-error a project needs organization_id on create (422)
  void api.POST('/projects', { body: { data: { type: 'dataset:projects', attributes: { name: 'n' } } } });
  // @ts-expect-error unknown include path (400)
  void api.GET('/entries', { params: { query: { included: ['datasets'] } } });
  // @ts-expect-error count takes the documented spellings only (400)
  void api.GET('/entries', { params: { query: { count: 'maybe' } } });
  // @ts-expect-error approved is a boolean (422)
  void api.POST('/entries/{id}/submit', { params: { path: { id } }, body: { data: { attributes: { approved: 'yes' } } } });
  // @ts-expect-error reporting an error needs a message (422)
  void api.POST('/entries/{id}/error', { params: { path: { id } }, body: { data: { attributes: {} } } });
  // @ts-expect-error the entry id is a path parameter
  void api.POST('/entries/{id}/submit', { params: {} });
  // @ts-expect-error JSON-RPC 2.0 only (-32600)
  void api.POST('/annotations/_rpc', { body: { jsonrpc: '1.0', method: 'show', id: 1, params: { id } } });
  // @ts-expect-error a call names its method (-32600, HTTP 400 for a single call)
  void api.POST('/annotations/_rpc', { body: { jsonrpc: '2.0', id: 1, params: { id } } });
}
