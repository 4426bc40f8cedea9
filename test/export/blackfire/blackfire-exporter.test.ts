import { test, afterEach } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { BlackfireExporter, INTAKE_PATH, type EncodedUpload, type ExportResult } from '../../../src/export/blackfire/blackfire-exporter';
import { parseAgentAddress } from '../../../src/export/agent-address';
import { boundaryOf, parseMultipart } from '../../../src/agent/multipart-parser';
import { buildUploadEvent } from '../../../src/export/blackfire/event';
import { Profiler } from '../../../src/profiler';
import { startTestAgent } from '../../helpers/agent';
import '../../helpers/short-periods';

// ---- helpers -------------------------------------------------------------------------------------------

interface ReceivedRequest {
  method: string | undefined;
  url: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** What a scripted agent does with its n-th request (1-based): answer with a status, or never answer. */
type Script = (n: number) => number | 'hang';

interface ScriptedAgent {
  /** The address to give the exporter: `unix://...` or `tcp://127.0.0.1:<port>`. */
  address: string;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-exporter-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function listen(server: net.Server, on: 'unix' | 'tcp'): Promise<string> {
  if (on === 'unix') {
    const socketPath = path.join(tempDir(), 'agent.sock');
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socketPath, resolve));
    return `unix://${socketPath}`;
  }
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  return `tcp://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
}

/** A real HTTP server that records every request and answers as `script` says. Closed after each test. */
async function startScriptedAgent(on: 'unix' | 'tcp', script: Script): Promise<ScriptedAgent> {
  const requests: ReceivedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      requests.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks) });
      const answer = script(requests.length);
      if (answer === 'hang') return;
      res.writeHead(answer, { 'Content-Type': 'text/plain' }).end(`status ${answer}\n`);
    });
  });
  const address = await listen(server, on);
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  cleanups.push(close);
  return { address, requests, close };
}

interface DiagLine {
  level: string;
  text: string;
}

/** Captures the profiler's diag lines (the global OTel diag logger) until the end of the test. */
function captureDiag(): DiagLine[] {
  const lines: DiagLine[] = [];
  const record =
    (level: string) =>
    (...args: unknown[]): void => {
      if (args[0] === 'blackfire-otel-profiler') lines.push({ level, text: args.slice(1).join(' ') });
    };
  const logger: DiagLogger = {
    error: record('error'),
    warn: record('warn'),
    info: record('info'),
    debug: record('debug'),
    verbose: record('verbose'),
  };
  diag.setLogger(logger, DiagLogLevel.ALL);
  cleanups.push(() => diag.disable());
  return lines;
}

const WALL = Buffer.from([0x1f, 0x8b, 0x00, 0x0d, 0x0a, 0xff, 0x2d, 0x2d]);
const upload: EncodedUpload = {
  event: buildUploadEvent({
    attachments: ['wall.pprof'],
    startMillis: Date.UTC(2026, 10, 26, 10, 18, 4, 141),
    endMillis: Date.UTC(2026, 10, 26, 10, 18, 49, 141),
    tagsProfiler: 'application_name:checkout',
    endpointCounts: {},
    applicationName: 'checkout',
    processStartMillis: Date.UTC(2026, 10, 26, 10, 0, 0, 0),
    nodeVersion: 'v20.20.2',
    availableProcessors: 2,
    probeVersion: '0.1.0',
    settings: {},
  }),
  files: [{ name: 'wall.pprof', data: WALL }],
};

function exporterFor(address: string, options: { uploadTimeoutMillis?: number; basicAuth?: string } = {}): BlackfireExporter {
  return new BlackfireExporter({
    agent: parseAgentAddress(address, 'agentSocket'),
    uploadTimeoutMillis: options.uploadTimeoutMillis ?? 5_000,
    basicAuth: options.basicAuth,
  });
}

/**
 * The exporter's backoff timer is unref()ed (the profiler never keeps a process alive): while it waits between
 * attempts on an agent that is down, only a ref'ed handle of the test's own keeps the test's event loop going.
 */
function keepAlive(): void {
  const timer = setInterval(() => {}, 1_000);
  cleanups.push(() => clearInterval(timer));
}

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; millis: number }> {
  const start = Date.now();
  const value = await run();
  return { value, millis: Date.now() - start };
}

function assertFailure(result: ExportResult, kind: string): asserts result is Extract<ExportResult, { code: 'failure' }> {
  assert.equal(result.code, 'failure', JSON.stringify(result));
  assert.equal(result.code === 'failure' && result.kind, kind, JSON.stringify(result));
}

// ---- accepted -------------------------------------------------------------------------------------------

test('2xx on a unix socket: success after one POST /profiling/v1/input carrying the multipart body, no Authorization', async () => {
  const agent = await startScriptedAgent('unix', () => 202);
  const result = await exporterFor(agent.address).send(upload);
  assert.deepEqual(result, { code: 'success', attempts: 1 });
  assert.equal(agent.requests.length, 1);
  const [request] = agent.requests;
  assert.equal(request?.method, 'POST');
  assert.equal(request?.url, INTAKE_PATH);
  assert.equal(INTAKE_PATH, '/profiling/v1/input');
  const boundary = boundaryOf(request?.headers['content-type']);
  assert.ok(boundary, `Content-Type ${request?.headers['content-type']} is not multipart/form-data with a boundary`);
  assert.equal(request?.headers['content-length'], String(request?.body.length));
  assert.equal(request?.headers.authorization, undefined);
  const parts = parseMultipart(request!.body, boundary);
  assert.deepEqual(
    parts.map((p) => [p.name, p.filename, p.contentType]),
    [
      ['event', 'event.json', 'application/json'],
      ['wall.pprof', 'wall.pprof', 'application/octet-stream'],
    ],
  );
  assert.deepEqual(JSON.parse(parts[0]!.data.toString('utf8')), upload.event);
  assert.deepEqual(parts[1]?.data, WALL);
});

test('2xx on tcp://127.0.0.1:<port>: success, with the Basic Authorization header when basicAuth is set', async () => {
  const agent = await startScriptedAgent('tcp', () => 200);
  const basicAuth = 'Basic ' + Buffer.from('server-id:server-token').toString('base64');
  const result = await exporterFor(agent.address, { basicAuth }).send(upload);
  assert.deepEqual(result, { code: 'success', attempts: 1 });
  assert.equal(agent.requests[0]?.url, INTAKE_PATH);
  assert.match(agent.requests[0]?.headers['content-type'] ?? '', /^multipart\/form-data; boundary=/);
  assert.equal(agent.requests[0]?.headers.authorization, basicAuth);
});

// ---- retried ----------------------------------------------------------------------------------------------

for (const status of [500, 429]) {
  test(`${status} then 200: retried, success with attempts=2`, async () => {
    const agent = await startScriptedAgent('unix', (n) => (n === 1 ? status : 200));
    const result = await exporterFor(agent.address).send(upload);
    assert.deepEqual(result, { code: 'success', attempts: 2 });
    assert.equal(agent.requests.length, 2);
    assert.deepEqual(agent.requests[1]?.body, agent.requests[0]?.body);
  });
}

test('503 until the deadline: failure http-503 within uploadTimeoutMillis, every attempt reached the agent', async () => {
  const agent = await startScriptedAgent('unix', () => 503);
  const uploadTimeoutMillis = 1_200;
  const { value: result, millis } = await timed(() => exporterFor(agent.address, { uploadTimeoutMillis }).send(upload));
  assertFailure(result, 'http-503');
  assert.ok(millis <= uploadTimeoutMillis + 500, `took ${millis} ms for a ${uploadTimeoutMillis} ms bound`);
  assert.ok(result.attempts >= 2, `only ${result.attempts} attempt(s) in ${millis} ms`);
  assert.equal(agent.requests.length, result.attempts);
  assert.match(result.message, /HTTP 503: status 503/);
});

test('a deadline given to export() shortens the upload bound', async () => {
  const agent = await startScriptedAgent('unix', () => 503);
  const { value: result, millis } = await timed(() => exporterFor(agent.address, { uploadTimeoutMillis: 10_000 }).send(upload, Date.now() + 300));
  assertFailure(result, 'http-503');
  assert.ok(millis <= 300 + 500, `took ${millis} ms for a 300 ms deadline`);
});

// ---- refused ------------------------------------------------------------------------------------------------

for (const status of [400, 403]) {
  test(`${status}: not retried (exactly one request), failure http-${status}`, async () => {
    const agent = await startScriptedAgent('unix', () => status);
    const result = await exporterFor(agent.address).send(upload);
    assertFailure(result, `http-${status}`);
    assert.equal(result.attempts, 1);
    assert.equal(agent.requests.length, 1);
    assert.match(result.message, new RegExp(`the agent refused the upload: HTTP ${status}`));
  });
}

test('404: failure agent-too-old after exactly one request, and diag says "Blackfire Agent >= 2.13.0 is required"', async () => {
  const lines = captureDiag();
  const agent = await startScriptedAgent('unix', () => 404);
  const result = await exporterFor(agent.address).send(upload);
  assertFailure(result, 'agent-too-old');
  assert.equal(result.attempts, 1);
  assert.equal(agent.requests.length, 1);
  assert.equal(lines.length, 1, JSON.stringify(lines));
  assert.equal(lines[0]?.level, 'error');
  assert.ok(lines[0]?.text.includes('Blackfire Agent >= 2.13.0 is required'), lines[0]?.text);
  assert.ok(lines[0]?.text.includes(agent.address), lines[0]?.text);
});

test('a peer that does not speak HTTP ("hello\\r\\n", then close): failure agent-too-old, one connection', async () => {
  const lines = captureDiag();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    socket.resume();
    socket.end('hello\r\n');
  });
  const address = await listen(server, 'unix');
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const result = await exporterFor(address).send(upload);
  assertFailure(result, 'agent-too-old');
  assert.match(result.message, /^Blackfire Agent >= 2\.13\.0 is required: the agent's answer is not HTTP \(HPE_/);
  assert.equal(connections, 1);
  assert.ok(lines.some((l) => l.level === 'error' && l.text.includes('Blackfire Agent >= 2.13.0 is required')), JSON.stringify(lines));
});

// ---- slow or down ---------------------------------------------------------------------------------------------

test('an agent that never answers: failure timeout within uploadTimeoutMillis + 1 s', async () => {
  const agent = await startScriptedAgent('unix', () => 'hang');
  const uploadTimeoutMillis = 1_000;
  const { value: result, millis } = await timed(() => exporterFor(agent.address, { uploadTimeoutMillis }).send(upload));
  assertFailure(result, 'timeout');
  assert.ok(millis <= uploadTimeoutMillis + 1_000, `took ${millis} ms`);
  assert.ok(millis >= uploadTimeoutMillis - 50, `gave up after ${millis} ms, before the ${uploadTimeoutMillis} ms bound`);
  assert.equal(agent.requests.length, 1);
});

test('Profiler.stop() with an agent that never answers resolves within uploadTimeoutMillis + 1 s', async () => {
  const agent = await startScriptedAgent('unix', () => 'hang');
  const uploadTimeoutMillis = 1_000;
  const profiler = new Profiler({ periodMillis: 60_000, uploadTimeoutMillis, agentSocket: agent.address });
  profiler.start();
  cleanups.push(() => profiler.stop());
  const { millis } = await timed(() => profiler.stop());
  assert.ok(millis <= uploadTimeoutMillis + 1_000, `stop() took ${millis} ms`);
  assert.equal(profiler.isRunning, false);
  assert.equal(profiler.stats().periodsCollected, 1);
  assert.equal(agent.requests.length, 1, 'the final period was sent');
});

test('Profiler.stop() uploads the last period to the stand-in agent, which accepts it', async () => {
  const agent = await startTestAgent();
  cleanups.push(() => agent.close());
  const profiler = new Profiler({ periodMillis: 60_000, uploadTimeoutMillis: 5_000, agentSocket: agent.address, applicationName: 'exporter-test' });
  profiler.start();
  await profiler.stop();
  assert.deepEqual(agent.rejections, []);
  const [received] = await agent.waitForUploads(1, 1_000);
  assert.deepEqual(received?.event.attachments, ['wall.pprof', 'space.pprof']);
  assert.match(received?.event.tags_profiler ?? '', /^application_name:exporter-test,/);
  assert.deepEqual(profiler.stats().uploadsSucceeded, 1);
});

test(
  'Profiler: periods uploaded after a flush() still reach the agent',
  async () => {
    const agent = await startTestAgent();
    cleanups.push(() => agent.close());
    // flush() drains the upload queue with a deadline 250 ms ahead; the next period's upload starts after it.
    const profiler = new Profiler({ periodMillis: 500, uploadTimeoutMillis: 250, agentSocket: agent.address });
    profiler.start();
    cleanups.push(() => profiler.stop());
    await profiler.flush();
    assert.equal(agent.uploads.length, 1);
    await agent.waitForUploads(2, 1_000).catch(() => undefined);
    assert.deepEqual(
      { uploads: agent.uploads.length, failed: profiler.stats().uploadsFailed },
      { uploads: 2, failed: 0 },
      'the period after flush() was not uploaded',
    );
  },
);

test(
  'await profiler.stop() settles with the agent down, even when nothing else keeps the process alive',
  async () => {
    const dist = path.join(__dirname, '..', '..', '..', '..', 'dist', 'cjs', 'index.js');
    const socket = path.join(tempDir(), 'no-agent.sock');
    const script =
      `const { Profiler } = require(${JSON.stringify(dist)});` +
      `const p = new Profiler({ agentSocket: 'unix://${socket}', uploadTimeoutMillis: 500 }); p.start();` +
      `p.stop().then(() => console.log('stop settled'));`;
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['-e', script], { timeout: 10_000 }, (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out))),
    );
    assert.equal(stdout.trim(), 'stop settled', 'the process exited while awaiting stop(): code after it never ran');
  },
);

async function closedTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('agent down (ECONNREFUSED, ENOENT): failures, never a throw, and one diag warn line per kind', async () => {
  const lines = captureDiag();
  keepAlive();
  const refused = exporterFor(`tcp://127.0.0.1:${await closedTcpPort()}`, { uploadTimeoutMillis: 300 });
  const missing = exporterFor(`unix://${path.join(tempDir(), 'no-agent.sock')}`, { uploadTimeoutMillis: 300 });
  const results = await Promise.all([
    ...[1, 2, 3].map(() => refused.send(upload)),
    ...[1, 2, 3].map(() => missing.send(upload)),
  ]);
  for (const result of results.slice(0, 3)) assertFailure(result, 'network-ECONNREFUSED');
  for (const result of results.slice(3)) assertFailure(result, 'network-ENOENT');
  for (const result of results) assert.ok(result.attempts >= 1);
  // Then the same kinds again: still nothing new in the log.
  assertFailure(await refused.send(upload), 'network-ECONNREFUSED');
  const warns = lines.filter((l) => l.level === 'warn');
  assert.equal(warns.length, 2, JSON.stringify(lines, null, 1));
  assert.equal(lines.length, 2, JSON.stringify(lines, null, 1));
  assert.equal(warns.filter((l) => /ECONNREFUSED/.test(l.text)).length, 1);
  assert.equal(warns.filter((l) => /ENOENT/.test(l.text)).length, 1);
  assert.ok(warns.every((l) => l.text.startsWith('profile upload to ')), JSON.stringify(warns));
});

// ---- no spans from the profiler's own requests ----------------------------------------------------------------

test("the exporter's requests create no spans, while the application's own requests do", async () => {
  const agent = await startScriptedAgent('unix', () => 200);
  const fixture = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'exporter-no-spans.js');
  const socketPath = agent.address.slice('unix://'.length);
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [fixture, socketPath], { timeout: 15_000 }, (error, out, err) =>
      error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
    );
  });
  const report = JSON.parse(stdout) as { result: ExportResult; duringExport: string[]; controlStatus: number; afterControl: string[] };
  assert.deepEqual(report.result, { code: 'success', attempts: 1 });
  assert.deepEqual(report.duringExport, [], 'the upload to the agent produced client spans');
  assert.equal(report.controlStatus, 200);
  assert.equal(report.afterControl.length, 1, `the control request should give one client span: ${JSON.stringify(report.afterControl)}`);
  assert.deepEqual(
    agent.requests.map((r) => [r.method, r.url]),
    [
      ['POST', INTAKE_PATH],
      ['GET', '/control'],
    ],
  );
  assert.equal(agent.requests[0]?.headers.traceparent, undefined);
});
