// The defects a hostile production found (issue 7), each kept as its reproduction.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { context, diag, DiagLogLevel, trace, ROOT_CONTEXT, type DiagLogger } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { Profiler } from '../../src/profiler';
import { PROFILE_ATTRIBUTE } from '../../src/otel/otel-bridge';
import { BlackfireExporter, type EncodedUpload } from '../../src/export/blackfire/blackfire-exporter';
import { parseAgentAddress } from '../../src/export/agent-address';
import { buildUploadEvent } from '../../src/export/blackfire/event';
import { startAgentServer } from '../../src/agent/agent-server';
import { startFaultAgent } from '../helpers/fault-agent';
import { startTestAgent } from '../helpers/agent';
import { runNodeFixture } from '../helpers/child';
import '../helpers/short-periods';

const appFaults: unknown[] = [];
const onFault = (error: unknown): void => {
  appFaults.push(error);
};
process.on('unhandledRejection', onFault);
after(() => process.off('unhandledRejection', onFault));

function captureDiag(options: { throwOnWarnOnce?: boolean } = {}): string[] {
  const lines: string[] = [];
  let throwNext = options.throwOnWarnOnce === true;
  const record = (level: string) => (...args: unknown[]): void => {
    lines.push(`${level} ${args.map(String).join(' ')}`);
    if (level === 'warn' && throwNext) {
      throwNext = false;
      throw new Error('the log stream was closed');
    }
  };
  const logger: DiagLogger = { error: record('error'), warn: record('warn'), info: record('info'), debug: record('debug'), verbose: record('verbose') };
  diag.setLogger(logger, DiagLogLevel.ALL);
  return lines;
}

test('1. a diag logger that throws, with an agent answering 500 then 200: uploads resume, nothing reaches the app, stop() resolves (twice over a restart)', async () => {
  const agent = await startFaultAgent('http-500');
  const lines = captureDiag({ throwOnWarnOnce: true });
  const faultsBefore = appFaults.length;
  const profiler = new Profiler({ applicationName: 'throwing-diag', periodMillis: 200, uploadTimeoutMillis: 300, agentSocket: agent.address });
  try {
    profiler.start();
    await sleep(700);
    assert.ok(lines.some((l) => l.startsWith('warn')), 'the failing upload was reported (and the logger threw)');
    await agent.setMode('ok');
    const deadline = Date.now() + 3_000;
    while (profiler.stats().uploadsSucceeded === 0 && Date.now() < deadline) await sleep(20);
    assert.ok(profiler.stats().uploadsSucceeded >= 1, 'uploads resumed after the agent recovered');
    await profiler.stop();
    profiler.start();
    await sleep(250);
    await profiler.stop();
    assert.deepEqual(appFaults.slice(faultsBefore), [], 'no unhandled rejection');
    assert.ok((profiler as unknown as { sinks: Array<{ queue: { size: number } }> }).sinks.every((s) => s.queue.size === 0), 'the queue is empty, not stuck');
  } finally {
    await profiler.stop();
    diag.disable();
    await agent.close();
  }
});

test('2. after stop(), with a foreign wrapper on top of the context manager, nothing of ours acts on new spans', async () => {
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  const profiler = new Profiler({ applicationName: 'after-stop', periodMillis: 60_000, uploadTimeoutMillis: 200, agentSocket: 'unix:///nonexistent/bf-after-stop.sock' });
  const provider = new BasicTracerProvider({ spanProcessors: [profiler.spanProcessor() as never] });
  const tracer = provider.getTracer('t');
  try {
    profiler.start();
    const before = tracer.startSpan('before');
    context.with(trace.setSpan(ROOT_CONTEXT, before), () => 0);
    before.end();
    // Another library wraps with() on top of ours.
    const ours = manager.with;
    let foreignCalls = 0;
    manager.with = function foreignWith(this: unknown, ...args: Parameters<typeof ours>) {
      foreignCalls++;
      return ours.apply(this, args);
    } as typeof ours;
    await profiler.stop();
    const root = tracer.startSpan('root-after-stop');
    let child: ReturnType<typeof tracer.startSpan> | undefined;
    context.with(trace.setSpan(ROOT_CONTEXT, root), () => {
      child = tracer.startSpan('child-after-stop');
      context.with(trace.setSpan(context.active(), child), () => 0);
      child.end();
    });
    root.end();
    assert.ok(foreignCalls >= 2, 'the foreign wrapper ran');
    const attributesOf = (span: unknown): Record<string, unknown> => (span as { attributes: Record<string, unknown> }).attributes;
    assert.equal(attributesOf(root)[PROFILE_ATTRIBUTE], undefined, 'no drill-down attribute on a root started after stop()');
    assert.equal(attributesOf(child)[PROFILE_ATTRIBUTE], undefined, 'nor on its child');
    assert.ok(attributesOf(before)[PROFILE_ATTRIBUTE] !== undefined, 'while running, the root got it');
  } finally {
    await profiler.stop();
    context.disable();
  }
});

test('5. an app that never calls stop() exits on its own while the agent accepts and never answers', async () => {
  const agent = await startFaultAgent('never-answers');
  try {
    const fixture = path.resolve(__dirname, '../../../test/fixtures/exits-with-hanging-agent.mjs');
    const t0 = Date.now();
    const result = await runNodeFixture([fixture], agent.address, 20_000);
    const millis = Date.now() - t0;
    assert.deepEqual(result.exit, { code: 0, signal: null }, `stderr: ${result.stderr}`);
    // The app's own work is ~1.2 s; at beforeExit the last upload is bounded by the 1 s upload timeout.
    assert.ok(millis < 6_000, `exited after ${millis} ms`);
    assert.ok((agent.requests.get('never-answers') ?? 0) >= 1, 'uploads were attempted');
  } finally {
    await agent.close();
  }
});

test('13. without any service name, the SDK placeholder unknown_service:* is not sent as a label', async () => {
  const agent = await startTestAgent();
  const env = { ...process.env };
  delete process.env.OTEL_SERVICE_NAME;
  delete process.env.OTEL_RESOURCE_ATTRIBUTES;
  const profiler = new Profiler({ periodMillis: 60_000, agentSocket: agent.address });
  const provider = new BasicTracerProvider({ spanProcessors: [profiler.spanProcessor() as never] });
  try {
    profiler.start();
    const span = provider.getTracer('t').startSpan('s');
    assert.match(String((span as unknown as { resource: { attributes: Record<string, unknown> } }).resource.attributes['service.name']), /^unknown_service/);
    span.end();
    await profiler.stop();
    const [upload] = await agent.waitForUploads(1);
    const tags = upload!.event.tags_profiler;
    assert.doesNotMatch(tags, /unknown_service/, tags);
    assert.match(tags, /application_name:my-node-app/);
  } finally {
    Object.assign(process.env, env);
    await profiler.stop();
    await agent.close();
  }
});

test('security: the server id and token never appear in diag lines (at ALL), errors, uploads or stats()', async () => {
  const id = 'srv-id-7f3a9c';
  const token = 'srv-token-d41d8cd98f00b204';
  const basic = Buffer.from(`${id}:${token}`).toString('base64');
  const saved = { id: process.env.BLACKFIRE_SERVER_ID, token: process.env.BLACKFIRE_SERVER_TOKEN };
  process.env.BLACKFIRE_SERVER_ID = id;
  process.env.BLACKFIRE_SERVER_TOKEN = token;
  const lines = captureDiag();
  const ok = await startTestAgent();
  const failing = await startFaultAgent('http-500');
  try {
    for (const address of [ok.address, failing.address]) {
      const profiler = new Profiler({ applicationName: 'secrets', periodMillis: 200, uploadTimeoutMillis: 300, agentSocket: address });
      profiler.start();
      await sleep(450);
      await profiler.stop();
      const stats = JSON.stringify(profiler.stats());
      for (const secret of [id, token, basic]) assert.ok(!stats.includes(secret), 'stats() has no credential');
    }
    const [upload] = await ok.waitForUploads(1);
    assert.equal(upload!.headers.authorization, `Basic ${basic}`, 'the agent does get them, in the Authorization header');
    const event = JSON.stringify(upload!.event);
    for (const secret of [id, token, basic]) {
      assert.ok(!event.includes(secret), 'event.json has no credential');
      assert.ok(!lines.some((l) => l.includes(secret)), `no diag line has a credential: ${lines.filter((l) => l.includes(secret)).join(' | ')}`);
    }
    assert.ok(lines.some((l) => l.includes('HTTP 500')), 'the failures were logged');
  } finally {
    process.env.BLACKFIRE_SERVER_ID = saved.id;
    process.env.BLACKFIRE_SERVER_TOKEN = saved.token;
    if (saved.id === undefined) delete process.env.BLACKFIRE_SERVER_ID;
    if (saved.token === undefined) delete process.env.BLACKFIRE_SERVER_TOKEN;
    diag.disable();
    await ok.close();
    await failing.close();
  }
});

test('security: https:// verifies the certificate; a self-signed agent fails closed, with a clear line', async () => {
  const fixtures = path.resolve(__dirname, '../../../test/fixtures');
  let requests = 0;
  const server = https.createServer({ key: fs.readFileSync(path.join(fixtures, 'self-signed.key')), cert: fs.readFileSync(path.join(fixtures, 'self-signed.crt')) }, (_req, res) => {
    requests++;
    res.writeHead(200).end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const lines = captureDiag();
  try {
    const exporter = new BlackfireExporter({ agent: parseAgentAddress(`https://127.0.0.1:${port}`, 'agentSocket'), uploadTimeoutMillis: 1_000 });
    const upload: EncodedUpload = {
      event: buildUploadEvent({ attachments: [], startMillis: 0, endMillis: 1, tagsProfiler: 'application_name:tls', endpointCounts: {}, applicationName: 'tls', processStartMillis: 0, nodeVersion: process.version, availableProcessors: 1, probeVersion: '0', settings: {} }),
      files: [],
    };
    const keepAlive = setInterval(() => {}, 100);
    const result = await exporter.send(upload).finally(() => clearInterval(keepAlive));
    assert.equal(result.code, 'failure');
    assert.equal(requests, 0, 'no request reached the server past the TLS handshake');
    const line = lines.find((l) => l.startsWith('warn'));
    assert.ok(line && /self[- ]signed|certificate/i.test(line), `a clear line: ${line}`);
  } finally {
    diag.disable();
    server.close();
    server.closeAllConnections();
  }
});

test("security: the stand-in agent never writes outside its --dir, whatever the upload's names hold", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-traversal-'));
  const out = path.join(dir, 'out');
  const server = await startAgentServer({ listen: `unix://${path.join(dir, 'agent.sock')}`, dir: out });
  try {
    for (const name of ['../escape', '/etc/escape', 'a\u0000b', '..', '../../x,y']) {
      const profiler = new Profiler({ applicationName: name.replace('\u0000', '-'), labels: { application_name: name.replace('\u0000', '') }, periodMillis: 60_000, agentSocket: server.address });
      profiler.start();
      await profiler.stop();
    }
    const written = fs.readdirSync(out);
    assert.ok(written.length >= 5, `one folder per upload: ${written.join(', ')}`);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['agent.sock', 'out'], 'nothing beside the folder');
    for (const folder of written) assert.ok(!folder.includes('/') && folder !== '.' && folder !== '..', folder);
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the addon unavailable (a failed load): start() logs one diag error, and the app runs unprofiled', async () => {
  const agent = await startTestAgent();
  try {
    const fixture = path.resolve(__dirname, '../../../test/fixtures/addon-unavailable.cjs');
    const result = await runNodeFixture([fixture], agent.address, 20_000);
    assert.deepEqual(result.exit, { code: 0, signal: null }, `stderr: ${result.stderr}`);
    assert.equal(result.stdout, 'app done true 0\n');
    const lines = result.stderr.split('\n').filter((l) => l.includes('blackfire-otel-profiler'));
    assert.equal(lines.length, 1, `one diag line: ${result.stderr}`);
    assert.match(lines[0]!, /not profiling: @datadog\/pprof could not be loaded: No native build was found/);
    assert.equal(agent.uploads.length, 0);
  } finally {
    await agent.close();
  }
});

test('security: the stand-in agent refuses a body over its limit (413) and a malformed one (400), and keeps serving', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-limits-'));
  const server = await startAgentServer({ listen: `unix://${path.join(dir, 'agent.sock')}`, maxBodyBytes: 64 * 1024 });
  const send = (body: Buffer, contentType: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const request = http.request(
        { socketPath: path.join(dir, 'agent.sock'), path: '/profiling/v1/input', method: 'POST', headers: { 'Content-Type': contentType, 'Content-Length': body.length }, agent: false },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  try {
    assert.equal(await send(Buffer.alloc(200 * 1024, 1), 'multipart/form-data; boundary=x'), 413);
    assert.equal(await send(Buffer.from('--x\r\nnot a part'), 'multipart/form-data; boundary=x'), 400);
    assert.equal(await send(Buffer.from([0, 1, 2, 255]), 'multipart/form-data; boundary=x'), 400);
    const profiler = new Profiler({ applicationName: 'after-bad-bodies', periodMillis: 60_000, agentSocket: server.address });
    profiler.start();
    await profiler.stop();
    assert.equal(server.uploads.length, 1, 'a good upload is still accepted afterwards');
  } finally {
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
