import { test, after, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Profile, StringTable, ValueType } from 'pprof-format';
import { encodeMultipart, type MultipartPart } from '../../src/export/blackfire/multipart';
import { startTestAgent, type TestAgent } from '../helpers/agent';

const BOUNDARY = 'test-boundary-0123456789';

/** An encoded (not compressed) pprof with the given `type/unit` sample types and one sample. */
function pprof(sampleTypes: string[]): Buffer {
  const stringTable = new StringTable();
  const sampleType = sampleTypes.map((t) => {
    const [type = '', unit = ''] = t.split('/');
    return new ValueType({ type: stringTable.dedup(type), unit: stringTable.dedup(unit) });
  });
  const profile = new Profile({ sampleType, stringTable, sample: [{ locationId: [], value: sampleTypes.map(() => 1), label: [] }] });
  return Buffer.from(profile.encode());
}

const WALL_TYPES = ['sample/count', 'wall/nanoseconds', 'cpu/nanoseconds'];
const SPACE_TYPES = ['inuse_objects/count', 'inuse_space/bytes'];

const event = {
  attachments: ['wall.pprof', 'space.pprof'],
  start: '2026-11-26T10:18:04.141Z',
  end: '2026-11-26T10:18:49.141Z',
  family: 'node',
  version: '4',
  tags_profiler: 'application_name:checkout,language:javascript,runtime:nodejs',
  endpoint_counts: {},
  info: {
    application: { service: 'checkout', start_time: '2026-11-26T10:00:00.000Z' },
    runtime: { engine: 'nodejs', version: '20.20.2', available_processors: 2 },
    profiler: { version: '0.1.0', settings: {} },
  },
};

const file = (name: string, data: Buffer): MultipartPart => ({ name, filename: name, contentType: 'application/octet-stream', data });
const eventPart = (e: object): MultipartPart => ({
  name: 'event',
  filename: 'event.json',
  contentType: 'application/json',
  data: Buffer.from(JSON.stringify(e)),
});
const WALL = zlib.gzipSync(pprof(WALL_TYPES));
const SPACE = zlib.gzipSync(pprof(SPACE_TYPES));
const goodParts = (): MultipartPart[] => [eventPart(event), file('wall.pprof', WALL), file('space.pprof', SPACE)];

interface Reply {
  status: number;
  body: { problems?: string[] };
}

function post(agent: TestAgent, parts: MultipartPart[], options: { path?: string; method?: string; contentType?: string } = {}): Promise<Reply> {
  const body = encodeMultipart(parts, BOUNDARY);
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        socketPath: agent.address.slice('unix://'.length),
        path: options.path ?? '/profiling/v1/input',
        method: options.method ?? 'POST',
        headers: { 'Content-Type': options.contentType ?? `multipart/form-data; boundary=${BOUNDARY}`, 'Content-Length': body.length },
        agent: false,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.method === 'GET' ? undefined : body);
  });
}

let agent: TestAgent;
before(async () => {
  agent = await startTestAgent({ saveFiles: true });
});
after(() => agent.close());

test('accepts a correct upload (200), decodes its pprofs and writes event.json and the pprofs to the folder', async () => {
  const reply = await post(agent, goodParts());
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  const [upload] = await agent.waitForUploads(1, 2_000);
  assert.deepEqual(upload?.event, event);
  assert.deepEqual(Object.keys(upload?.profiles ?? {}), ['wall.pprof', 'space.pprof']);
  assert.equal(upload?.profiles['wall.pprof']?.sample.length, 1);
  const folder = path.join(agent.dir, 'profiles', 'checkout-20261126T101804Z-0001');
  assert.deepEqual(fs.readdirSync(folder).sort(), ['event.json', 'space.pprof', 'wall.pprof']);
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(folder, 'event.json'), 'utf8')), event);
  assert.deepEqual(fs.readFileSync(path.join(folder, 'wall.pprof')), WALL);
  assert.deepEqual(fs.readFileSync(path.join(folder, 'space.pprof')), SPACE);
});

const rejected: Array<[string, () => MultipartPart[], RegExp]> = [
  ['an attachment listed but not sent', () => [eventPart(event), file('wall.pprof', WALL)], /attachment space\.pprof is listed but not sent/],
  ['a part not listed in attachments', () => [...goodParts(), file('extra.pprof', WALL)], /part extra\.pprof is not listed in attachments/],
  ['a pprof that is not gzip', () => [eventPart(event), file('wall.pprof', pprof(WALL_TYPES)), file('space.pprof', SPACE)], /wall\.pprof does not decode: wall\.pprof is neither gzip nor zstd/],
  ['a gzip that is not a pprof', () => [eventPart(event), file('wall.pprof', zlib.gzipSync(Buffer.from([0xff, 0xff, 0xff]))), file('space.pprof', SPACE)], /wall\.pprof does not decode/],
  [
    'a wall.pprof lacking cpu/nanoseconds',
    () => [eventPart(event), file('wall.pprof', zlib.gzipSync(pprof(['sample/count', 'wall/nanoseconds']))), file('space.pprof', SPACE)],
    /wall\.pprof lacks sample types cpu\/nanoseconds \(has sample\/count, wall\/nanoseconds\)/,
  ],
  ['event.json first part missing', () => [file('wall.pprof', WALL), file('space.pprof', SPACE)], /the first part is not name="event"; filename="event.json"/],
  ['event.json that is not JSON', () => [{ ...eventPart(event), data: Buffer.from('{nope') }, file('wall.pprof', WALL)], /event\.json is not JSON/],
  ['start without milliseconds', () => [eventPart({ ...event, start: '2026-11-26T10:18:04Z' }), file('wall.pprof', WALL), file('space.pprof', SPACE)], /not ISO-8601 with milliseconds/],
  ['no application_name', () => [eventPart({ ...event, tags_profiler: 'language:javascript' }), file('wall.pprof', WALL), file('space.pprof', SPACE)], /no application_name/],
];

for (const [what, parts, problem] of rejected) {
  test(`rejects (400) ${what}, saying why`, async () => {
    const before = agent.uploads.length;
    const reply = await post(agent, parts());
    assert.equal(reply.status, 400);
    assert.ok(reply.body.problems?.some((p) => problem.test(p)), `problems: ${JSON.stringify(reply.body.problems)}`);
    assert.deepEqual(agent.rejections.at(-1), reply.body.problems);
    assert.equal(agent.uploads.length, before);
  });
}

test('rejects (400) a body that is not multipart, and a Content-Type without boundary', async () => {
  const truncated = await post(agent, goodParts(), { contentType: 'multipart/form-data; boundary=another' });
  assert.equal(truncated.status, 400);
  assert.match(truncated.body.problems?.[0] ?? '', /malformed multipart body: the body does not start with the boundary/);
  const json = await post(agent, goodParts(), { contentType: 'application/json' });
  assert.equal(json.status, 400);
  assert.match(json.body.problems?.[0] ?? '', /not multipart\/form-data with a boundary/);
});

test('answers 404 on a wrong path or method', async () => {
  const wrongPath = await post(agent, goodParts(), { path: '/profiling/v1/inputs' });
  assert.equal(wrongPath.status, 404);
  assert.match(wrongPath.body.problems?.[0] ?? '', /no route POST \/profiling\/v1\/inputs/);
  const get = await post(agent, [], { method: 'GET' });
  assert.equal(get.status, 404);
});

test('the tcp:// stand-in reports the port it got', async () => {
  const tcp = await startTestAgent({ tcp: true });
  try {
    assert.match(tcp.address, /^tcp:\/\/127\.0\.0\.1:[1-9]\d*$/);
  } finally {
    await tcp.close();
  }
});
