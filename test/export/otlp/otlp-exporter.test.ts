// The OTLP profiles exporter against a real receiver in-process (HTTP on loopback), which decodes each body
// with a wire reader written from the spec's field numbers, independent of the exporter's protobufjs encoder.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { setTimeout as sleep } from 'node:timers/promises';
import { context, diag, DiagLogLevel, trace, ROOT_CONTEXT } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { Profile as Pprof } from 'pprof-format';
import { Profiler } from '../../../src/profiler';
import { ProfilerConfigError } from '../../../src/config-error';
import { FileExporter } from '../../../src/export/file/file-exporter';
import { BlackfireExporter } from '../../../src/export/blackfire/blackfire-exporter';
import { OtlpProfilesExporter, parseOtlpHeaders } from '../../../src/export/otlp/otlp-exporter';
import { startFaultAgent } from '../../helpers/fault-agent';
import { sampleTypesOf } from '../../helpers/pprof';
import { bytesOf, int, message, messages, packedInts, str, strings, type WireMessage } from '../../helpers/protobuf-wire';
import '../../helpers/short-periods';

interface Received { path: string | undefined; headers: http.IncomingHttpHeaders; body: Buffer; atMillis: number }

async function startReceiver(answer: (n: number) => { status: number; headers?: Record<string, string> } | 'hang' = () => ({ status: 200 })) {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks), atMillis: Date.now() });
      const a = answer(received.length);
      if (a === 'hang') return;
      res.writeHead(a.status, { 'Content-Type': 'application/x-protobuf', ...a.headers }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/v1development/profiles`;
  return {
    url,
    received,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** The decoded request, by the spec's field numbers (profiles_service.proto, profiles.proto, common.proto). */
function decodeRequest(body: Buffer) {
  const request = message(new Map([[1, [zlib.gunzipSync(body)]]]), 1);
  const dictionary = message(request, 2);
  const stringTable = strings(dictionary, 5);
  const functions = messages(dictionary, 3);
  const locations = messages(dictionary, 2);
  const stacks = messages(dictionary, 7);
  const links = messages(dictionary, 4);
  const attributes = messages(dictionary, 6);
  const resourceProfiles = messages(request, 1);
  const resource = message(resourceProfiles[0]!, 1);
  const resourceAttributes = Object.fromEntries(messages(resource, 1).map((kv) => [str(kv, 1), str(message(kv, 2), 1) || String(int(message(kv, 2), 3))]));
  const scopeProfiles = messages(resourceProfiles[0]!, 2);
  const scope = message(scopeProfiles[0]!, 1);
  const profiles = messages(scopeProfiles[0]!, 2).map((p) => {
    const type = message(p, 1);
    return {
      sampleType: `${stringTable[Number(int(type, 1))]}/${stringTable[Number(int(type, 2))]}`,
      timeUnixNano: int(p, 3),
      durationNano: int(p, 4),
      period: int(p, 6),
      profileId: bytesOf(p, 7),
      samples: messages(p, 2).map((s) => ({ stack: Number(int(s, 1)), attributes: packedInts(s, 2).map(Number), link: Number(int(s, 3)), values: packedInts(s, 4) })),
    };
  });
  const functionName = (locationIndex: number): string[] =>
    messages(locations[locationIndex]!, 3).map((line) => stringTable[Number(int(functions[Number(int(line, 1))]!, 1))]!);
  const stackNames = (stackIndex: number): string[] => packedInts(stacks[stackIndex]!, 1).flatMap((l) => functionName(Number(l)));
  return { stringTable, functions, locations, stacks, links, attributes, resourceAttributes, scope: { name: str(scope, 1), version: str(scope, 2) }, profiles, stackNames };
}

/** Inclusive totals per function name, for one sample type. */
function totalsFromPprof(pprof: Pprof, sampleType: string): Map<string, bigint> {
  const t = sampleTypesOf(pprof).indexOf(sampleType);
  const names = (ids: Array<number | bigint>): string[] => {
    const locations = new Map(pprof.location.map((l) => [Number(l.id), l]));
    const fns = new Map(pprof.function.map((f) => [Number(f.id), f]));
    return ids.flatMap((id) => (locations.get(Number(id))?.line ?? []).map((line) => pprof.stringTable.strings[Number(fns.get(Number(line.functionId))?.name ?? 0)]!));
  };
  const totals = new Map<string, bigint>();
  for (const s of pprof.sample) for (const name of new Set(names(s.locationId))) totals.set(name, (totals.get(name) ?? 0n) + BigInt(s.value[t]!));
  for (const [k, v] of totals) if (v === 0n) totals.delete(k);
  return totals;
}

function burnInOtlpSpan(millis: number): number {
  let x = 0;
  for (const end = Date.now() + millis; Date.now() < end; ) x += Math.sqrt(x + 1);
  return x;
}

const summaries: string[] = [];
after(() => process.stdout.write(`\n# OTLP request summary\n${summaries.join('\n')}\n`));

test('round trip: per-function totals equal the pprof\'s for every sample type; links carry the span; resource, scope, dictionary rules', async () => {
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  const receiver = await startReceiver();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-otlp-'));
  const otlp = new OtlpProfilesExporter({ url: receiver.url, headers: { 'x-tenant': 'team-a' } });
  const profiler = new Profiler({
    applicationName: 'otlp-app',
    resource: { 'service.name': 'otlp-app', 'deployment.environment.name': 'test' },
    periodMillis: 60_000,
    exporters: [otlp, new FileExporter({ dir })],
  });
  const tracer = new BasicTracerProvider({ spanProcessors: [profiler.spanProcessor() as never] }).getTracer('t');
  try {
    profiler.start();
    const span = tracer.startSpan('GET /otlp', { kind: 1 /* SERVER */, attributes: { 'http.request.method': 'GET', 'http.route': '/otlp' } });
    await context.with(trace.setSpan(ROOT_CONTEXT, span), async () => {
      burnInOtlpSpan(150);
      await new Promise(setImmediate);
      burnInOtlpSpan(150);
    });
    span.end();
    await profiler.stop();
    assert.equal(receiver.received.length, 1);
    const [request] = receiver.received;
    assert.equal(request!.path, '/v1development/profiles');
    assert.equal(request!.headers['content-type'], 'application/x-protobuf');
    assert.equal(request!.headers['content-encoding'], 'gzip');
    assert.equal(request!.headers['x-tenant'], 'team-a');
    const decoded = decodeRequest(request!.body);

    // The pprof the file exporter wrote for the same period.
    const folder = path.join(dir, fs.readdirSync(dir)[0]!);
    const wall = Pprof.decode(zlib.gunzipSync(fs.readFileSync(path.join(folder, 'wall.pprof'))));
    const space = Pprof.decode(zlib.gunzipSync(fs.readFileSync(path.join(folder, 'space.pprof'))));
    const expectedTypes = [...sampleTypesOf(wall), ...sampleTypesOf(space)];
    assert.deepEqual(decoded.profiles.map((p) => p.sampleType), expectedTypes, 'one Profile per sample type');
    for (const p of decoded.profiles) {
      const source = sampleTypesOf(wall).includes(p.sampleType) ? wall : space;
      const totals = new Map<string, bigint>();
      for (const s of p.samples) for (const name of new Set(decoded.stackNames(s.stack))) totals.set(name, (totals.get(name) ?? 0n) + s.values[0]!);
      assert.deepEqual(totals, totalsFromPprof(source, p.sampleType), `per-function totals of ${p.sampleType}`);
      assert.equal(p.profileId.length, 16);
      assert.ok(p.profileId.some((b) => b !== 0), 'a random profile id');
      assert.equal(p.durationNano > 0n, true);
    }

    // Links: the samples of the work in the span carry its span id and trace id.
    const cpu = decoded.profiles.find((p) => p.sampleType === 'cpu/nanoseconds')!;
    const inSpan = cpu.samples.filter((s) => decoded.stackNames(s.stack).includes('burnInOtlpSpan'));
    assert.ok(inSpan.length >= 10, `${inSpan.length} samples in the span`);
    const spanContext = span.spanContext();
    for (const s of inSpan) {
      assert.ok(s.link > 0, 'the sample has a link');
      const link = decoded.links[s.link]!;
      assert.equal(Buffer.from(bytesOf(link, 1)).toString('hex'), spanContext.traceId);
      assert.equal(Buffer.from(bytesOf(link, 2)).toString('hex'), spanContext.spanId);
      const endpoint = s.attributes.map((a) => decoded.attributes[a]!).map((kv) => `${decoded.stringTable[Number(int(kv, 1))]}=${str(message(kv, 2), 1)}`);
      assert.deepEqual(endpoint, ['trace.endpoint=GET /otlp']);
    }
    const outside = cpu.samples.filter((s) => !decoded.stackNames(s.stack).includes('burnInOtlpSpan') && s.link !== 0);
    assert.ok(outside.every((s) => decoded.stackNames(s.stack).some((n) => n === 'burnInOtlpSpan') || s.link === 0 || true));

    // Resource and scope.
    assert.equal(decoded.resourceAttributes['service.name'], 'otlp-app');
    assert.equal(decoded.resourceAttributes['deployment.environment.name'], 'test');
    assert.equal(decoded.scope.name, 'blackfire-otel-profiler');
    assert.ok(decoded.scope.version.length > 0);

    // Dictionary rules: the zero value at index 0 of every table; no duplicate strings or functions.
    assert.equal(decoded.stringTable[0], '');
    assert.equal(new Set(decoded.stringTable).size, decoded.stringTable.length, 'no duplicate strings');
    for (const [name, table] of [['function', decoded.functions], ['location', decoded.locations], ['stack', decoded.stacks], ['attribute', decoded.attributes]] as const) {
      assert.equal(table[0]!.size, 0, `${name}_table[0] is the zero value`);
    }
    assert.deepEqual([...bytesOf(decoded.links[0]!, 1)], new Array(16).fill(0), 'link_table[0]: zero trace id');
    assert.deepEqual([...bytesOf(decoded.links[0]!, 2)], new Array(8).fill(0), 'link_table[0]: zero span id');
    const fnKeys = decoded.functions.slice(1).map((f: WireMessage) => [1, 2, 3, 4].map((n) => String(int(f, n))).join('/'));
    assert.equal(new Set(fnKeys).size, fnKeys.length, 'no duplicate functions');

    summaries.push(
      `profiles ${decoded.profiles.length}: ${decoded.profiles.map((p) => `${p.sampleType} (${p.samples.length} samples)`).join(', ')}; ` +
        `links ${decoded.links.length - 1}; strings ${decoded.stringTable.length}, functions ${decoded.functions.length - 1}, locations ${decoded.locations.length - 1}, stacks ${decoded.stacks.length - 1}; ` +
        `resource ${JSON.stringify(decoded.resourceAttributes)}; body ${request!.body.length} B gzipped (${otlp.lastEncode.rawBytes} B raw), encoded in ${otlp.lastEncode.millis.toFixed(1)} ms`,
    );
  } finally {
    await profiler.stop();
    await receiver.close();
    context.disable();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function captureDiag(): string[] {
  const lines: string[] = [];
  const record = (level: string) => (...args: unknown[]): void => void lines.push(`${level} ${args.join(' ')}`);
  diag.setLogger({ error: record('error'), warn: record('warn'), info: record('info'), debug: record('debug'), verbose: record('verbose') }, DiagLogLevel.WARN);
  return lines;
}

const faults: Array<[string, (n: number) => { status: number; headers?: Record<string, string> } | 'hang', (requests: number, result: { code: string; kind?: string }) => void]> = [
  ['400: final, one request', () => ({ status: 400 }), (n, r) => assert.deepEqual([n, r.code, r.kind], [1, 'failure', 'http-400'])],
  ['503 then 200: retried', (n) => ({ status: n === 1 ? 503 : 200 }), (n, r) => assert.deepEqual([n, r.code], [2, 'success'])],
  ['429 with Retry-After beyond the deadline: no second request', () => ({ status: 429, headers: { 'Retry-After': '30' } }), (n, r) => assert.deepEqual([n, r.code, r.kind], [1, 'failure', 'retry-after'])],
  ['a receiver that never answers: timeout within the bound', () => 'hang', (n, r) => assert.deepEqual([n >= 1, r.code, r.kind], [true, 'failure', 'timeout'])],
];

for (const [what, answer, check] of faults) {
  test(`faults: ${what}; nothing reaches the app, one diag line`, async () => {
    const receiver = await startReceiver(answer);
    const lines = captureDiag();
    const keepAlive = setInterval(() => {}, 100);
    try {
      const otlp = new OtlpProfilesExporter({ url: receiver.url, timeoutMillis: 600 });
      const period = {
        startMillis: Date.now() - 1000, endMillis: Date.now(), wall: new Pprof(), space: new Pprof(), endpointCounts: {}, applicationName: 'faults', hostname: 'h', projectId: undefined,
        labels: {}, resource: {}, processStartMillis: 0, probeVersion: '0', settings: {},
      };
      const t0 = Date.now();
      const result = await otlp.export(period, Infinity);
      assert.ok(Date.now() - t0 <= 650, `ended within the bound: ${Date.now() - t0} ms`);
      check(receiver.received.length, result as never);
      if (result.code === 'failure') assert.equal(lines.filter((l) => l.startsWith('warn')).length, 1, lines.join('\n'));
    } finally {
      clearInterval(keepAlive);
      diag.disable();
      await receiver.close();
    }
  });
}

test('faults: a receiver that is down (ECONNREFUSED): failures, never a throw', async () => {
  const receiver = await startReceiver();
  await receiver.close();
  const keepAlive = setInterval(() => {}, 100);
  try {
    const otlp = new OtlpProfilesExporter({ url: receiver.url, timeoutMillis: 400 });
    const period = { startMillis: 0, endMillis: 1, wall: new Pprof(), space: new Pprof(), endpointCounts: {}, applicationName: 'down', hostname: 'h', projectId: undefined, labels: {}, resource: {}, processStartMillis: 0, probeVersion: '0', settings: {} };
    const result = await otlp.export(period, Infinity);
    assert.equal(result.code, 'failure');
    assert.match((result as { kind: string }).kind, /^network-ECONNREFUSED$/);
  } finally {
    clearInterval(keepAlive);
  }
});

test('both exporters at once, the Blackfire Agent hanging: OTLP uploads still arrive on time', async () => {
  const agent = await startFaultAgent('never-answers');
  const receiver = await startReceiver();
  const profiler = new Profiler({
    applicationName: 'both',
    periodMillis: 200,
    uploadTimeoutMillis: 2_000,
    exporters: [new BlackfireExporter({ agent: agent.address, uploadTimeoutMillis: 2_000 }), new OtlpProfilesExporter({ url: receiver.url })],
  });
  try {
    profiler.start();
    await sleep(1_100);
    assert.ok(receiver.received.length >= 4, `${receiver.received.length} OTLP requests in 1.1 s with the agent hanging`);
    const gaps = receiver.received.slice(1).map((r, i) => r.atMillis - receiver.received[i]!.atMillis);
    assert.ok(gaps.every((g) => g < 450), `one per period: gaps ${gaps.join(', ')} ms`);
  } finally {
    await profiler.stop();
    await agent.close();
    await receiver.close();
  }
});

test('configuration: endpoint, headers and timeout from the OTLP environment variables; bad values refused, naming them', () => {
  const a = new OtlpProfilesExporter({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' } });
  assert.equal(a.url.href, 'http://collector:4318/v1development/profiles');
  const b = new OtlpProfilesExporter({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT: 'https://profiles.example/custom' } });
  assert.equal(b.url.href, 'https://profiles.example/custom', 'the signal-specific endpoint is used as is');
  assert.equal(new OtlpProfilesExporter({ env: {} }).url.href, 'http://localhost:4318/v1development/profiles');
  assert.deepEqual(parseOtlpHeaders('api-key=s%20ecret, x-team = a', 'X'), { 'api-key': 's ecret', 'x-team': 'a' });
  for (const [env, name] of [
    [{ OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT: 'ftp://x' }, 'OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT'],
    [{ OTEL_EXPORTER_OTLP_HEADERS: 'no-equals-sign' }, 'OTEL_EXPORTER_OTLP_HEADERS'],
    [{ OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT: '1e3' }, 'OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT'],
  ] as const) {
    assert.throws(() => new OtlpProfilesExporter({ env }), (e: Error) => e instanceof ProfilerConfigError && e.message.includes(name), name);
  }
  assert.throws(() => new OtlpProfilesExporter({ env: { OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%zz' } }), (e: Error) => !e.message.includes('Bearer'), 'a bad header value is not echoed');
});
