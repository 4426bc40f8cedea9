// A new user's first hour (issue 10): ESM apps (an Express 5 app with the auto-instrumentations), failures
// nobody would see, a slow exit with the agent absent, SIGTERM under `register`, and settings that harm. Real
// child processes, a real stand-in agent on a unix socket, a real NodeSDK.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ReceivedUpload } from '../../src/agent/upload-check';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { REPO_ROOT, runNode, type NodeRun } from '../helpers/child';
import { labelsOf } from '../helpers/pprof';

const esmApp = path.join(REPO_ROOT, 'test', 'fixtures', 'esm-app');
const fixtures = path.join(REPO_ROOT, 'test', 'fixtures');
const REGISTER = 'blackfire-otel-profiler/register';
/** Spans to stdout (ignored): no OTLP exporter tries the network. */
const OTEL_LOCAL = { OTEL_TRACES_EXPORTER: 'console', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-first-hour-'));

let agent: TestAgent;
before(async () => {
  agent = await startTestAgent();
});
after(async () => {
  await agent?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs `node <args>` and returns it with the uploads that arrived during the run. */
async function runWithUploads(args: string[], options: Parameters<typeof runNode>[1] = {}): Promise<NodeRun & { uploads: ReceivedUpload[] }> {
  const before = agent.uploads.length;
  const run = await runNode(args, { ...options, env: { BLACKFIRE_AGENT_SOCKET: agent.address, ...options.env } });
  await new Promise((resolve) => setTimeout(resolve, 100)); // an upload written just before exit lands
  return { ...run, uploads: agent.uploads.slice(before) };
}

function endpointsOf(uploads: ReceivedUpload[]): { counted: string[]; labelled: string[] } {
  const counted = new Set<string>();
  const labelled = new Set<string>();
  for (const upload of uploads) {
    for (const endpoint of Object.keys(upload.event.endpoint_counts ?? {})) counted.add(endpoint);
    const wall = upload.profiles['wall.pprof']!;
    for (const sample of wall.sample) {
      const endpoint = labelsOf(wall, sample)['trace endpoint'];
      if (typeof endpoint === 'string') labelled.add(endpoint);
    }
  }
  return { counted: [...counted].sort(), labelled: [...labelled].sort() };
}

const appNameOf = (upload: ReceivedUpload): string | undefined => /(?:^|,)application_name:([^,]*)/.exec(String(upload.event.tags_profiler))?.[1];

// --- 1. ESM apps ---------------------------------------------------------------------------------------------

test('ESM, the README recipe: --import ./instrumentation.mjs (loader hook, NodeSDK, profiler) app.mjs: Express routes label the samples', async (t) => {
  const run = await runWithUploads(['--import', './instrumentation.mjs', 'app.mjs'], { cwd: esmApp, env: OTEL_LOCAL });
  assert.equal(run.exit.code, 0, run.stderr);
  assert.match(run.stdout, /app done/);
  assert.equal(run.uploads.length, 1, 'the final upload, at beforeExit');
  assert.equal(appNameOf(run.uploads[0]!), 'users');
  const endpoints = endpointsOf(run.uploads);
  assert.deepEqual(endpoints.counted, ['GET /users/:id']);
  assert.deepEqual(endpoints.labelled, ['GET /users/:id']);
  t.diagnostic(`README recipe on ${process.version}: endpoints ${JSON.stringify(run.uploads[0]!.event.endpoint_counts)}`);
});

test('ESM, zero code: --import register --import the auto-instrumentations\' register: register installs OpenTelemetry\'s loader hook, routes are there', async (t) => {
  const run = await runWithUploads(['--import', REGISTER, '--import', '@opentelemetry/auto-instrumentations-node/register', 'app.mjs'], { cwd: esmApp, env: { ...OTEL_LOCAL, OTEL_SERVICE_NAME: 'users' } });
  assert.equal(run.exit.code, 0, run.stderr);
  assert.equal(run.uploads.length, 1);
  assert.deepEqual(endpointsOf(run.uploads).labelled, ['GET /users/:id']);
  assert.doesNotMatch(run.stderr, /without http\.route/);
  t.diagnostic(`zero-code ESM on ${process.version}: endpoints ${JSON.stringify(run.uploads[0]!.event.endpoint_counts)}`);
});

test('ESM without the loader hook (BLACKFIRE_CONPROF_ESM_HOOK=false): the endpoint is only "GET", and one warning says why', async () => {
  const run = await runWithUploads(['--import', REGISTER, '--import', '@opentelemetry/auto-instrumentations-node/register', 'app.mjs'], { cwd: esmApp, env: { ...OTEL_LOCAL, OTEL_SERVICE_NAME: 'users', BLACKFIRE_CONPROF_ESM_HOOK: 'false' } });
  assert.equal(run.exit.code, 0, run.stderr);
  assert.deepEqual(endpointsOf(run.uploads).counted, ['GET']);
  const warnings = run.stderr.split('\n').filter((line) => /without http\.route/.test(line));
  assert.equal(warnings.length, 1, run.stderr);
  assert.match(warnings[0]!, /ESM app, OpenTelemetry needs its loader hook/);
});

test('ESM, the SDK started inside app.mjs (imports are hoisted): no route, and a warning names the likely cause', async () => {
  const run = await runWithUploads(['sdk-in-app.mjs'], { cwd: esmApp, env: OTEL_LOCAL });
  assert.equal(run.exit.code, 0, run.stderr);
  assert.ok(!endpointsOf(run.uploads).counted.includes('GET /users/:id'), 'Express was loaded before the SDK started');
  assert.match(run.stderr, /without http\.route|fallback application name "my-node-app"/, run.stderr);
  assert.match(run.stderr, /ESM/);
});

// --- 2. Failures nobody sees -----------------------------------------------------------------------------------

async function freeLoopbackPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('agent absent (no socket, or nothing on the port): a 0.1 s script exits at once, and with no diag logger the failure is one stderr line', async (t) => {
  const absent = [`unix://${path.join(tmp, 'no-agent.sock')}`, `tcp://127.0.0.1:${await freeLoopbackPort()}`];
  for (const address of absent) {
    const run = await runNode(['-r', REGISTER, path.join(fixtures, 'short-script.cjs')], { env: { BLACKFIRE_AGENT_SOCKET: address, BLACKFIRE_CONPROF_APP_NAME: 'short' } });
    assert.equal(run.exit.code, 0, run.stderr);
    assert.match(run.stdout, /done true/);
    assert.ok(run.millis < 5_000, `${address}: exited after ${run.millis} ms (the upload timeout is 10 s)`);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /^blackfire-otel-profiler warn: profile upload to .* failed: .*(ENOENT|ECONNREFUSED).*\(shown once; no OpenTelemetry diag logger is registered/);
    t.diagnostic(`${address}: a 0.1 s script under register exited after ${run.millis} ms`);
  }
  const inCode = await runNode([path.join(fixtures, 'short-script.cjs')], { env: { FIXTURE_IN_CODE: '1', BLACKFIRE_AGENT_SOCKET: absent[0]! } });
  assert.equal(inCode.exit.code, 0, inCode.stderr);
  const stopMillis = Number(/stop\(\) took (\d+) ms/.exec(inCode.stdout)?.[1]);
  assert.ok(stopMillis < 2_000, `stop() took ${stopMillis} ms with the agent absent`);
  t.diagnostic(`in code, agent absent: stop() took ${stopMillis} ms, the process ${inCode.millis} ms`);
});

/** Runs the fixture until it prints "ready", then sends it `signal`; returns the run and the ms from signal to exit. */
async function signalled(nodeArgs: string[], signal: NodeJS.Signals, env: Record<string, string> = {}): Promise<NodeRun & { uploads: ReceivedUpload[]; afterSignalMillis: number }> {
  let sentAt = 0;
  const run = await runWithUploads([...nodeArgs, path.join(fixtures, 'runs-until-signal.cjs')], {
    env: { BLACKFIRE_CONPROF_APP_NAME: 'signalled', ...env },
    onStdout: (all, child) => {
      if (sentAt === 0 && all.includes('ready')) {
        sentAt = Date.now();
        child.kill(signal);
      }
    },
  });
  return { ...run, afterSignalMillis: Date.now() - 100 - sentAt };
}

test('SIGTERM and SIGINT under register: the last partial period is uploaded, then the process ends by the signal, as without us', async (t) => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const without = await signalled([], signal);
    assert.deepEqual(without.exit, { code: null, signal }, 'the baseline: Node ends by the signal');
    const run = await signalled(['-r', REGISTER], signal);
    assert.deepEqual(run.exit, without.exit, `${signal}: ended exactly as without the profiler (stderr: ${run.stderr})`);
    assert.equal(run.uploads.length, 1, `${signal}: the final upload arrived`);
    assert.equal(appNameOf(run.uploads[0]!), 'signalled');
    assert.ok(run.uploads[0]!.profiles['wall.pprof']!.sample.length > 0, 'with the samples of the partial period');
    assert.ok(run.afterSignalMillis < 2_500, `${signal}: ended ${run.afterSignalMillis} ms after the signal`);
    t.diagnostic(`${signal} under register: final upload ${run.uploads[0]!.event.start}..${run.uploads[0]!.event.end}, ${run.uploads[0]!.profiles['wall.pprof']!.sample.length} wall samples, exit ${run.afterSignalMillis} ms after the signal`);
  }
});

test('SIGTERM under register, the app has its own handler: it runs, and its exit code stands', async () => {
  const without = await signalled([], 'SIGTERM', { FIXTURE_OWN_HANDLER: '1' });
  const run = await signalled(['-r', REGISTER], 'SIGTERM', { FIXTURE_OWN_HANDLER: '1' });
  assert.deepEqual(without.exit, { code: 7, signal: null });
  assert.deepEqual(run.exit, { code: 7, signal: null }, run.stderr);
  assert.match(run.stdout, /own handler/);
});

// --- 3. Configuration that harms -------------------------------------------------------------------------------

test('register: a bad environment variable logs one error and the application runs, unprofiled', async () => {
  for (const [name, value] of [['BLACKFIRE_CONPROF_PERIOD', 'abc'], ['BLACKFIRE_CONPROF_PERIOD', '0.045'], ['BLACKFIRE_CONPROF_ENABLED', 'maybe']] as const) {
    const run = await runWithUploads(['-r', REGISTER, path.join(fixtures, 'short-script.cjs')], { env: { [name]: value } });
    assert.equal(run.exit.code, 0, run.stderr);
    assert.match(run.stdout, /done true/, 'the application ran');
    assert.equal(run.uploads.length, 0);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, new RegExp(`not profiling \\(blackfire-otel-profiler/register\\): blackfire-otel-profiler: env ${name} must be .*, got "${value.replace('.', '\\.')}"`));
  }
});

test('BLACKFIRE_CONPROF_ENABLED=false, or enabled: false in OTEL_CONFIG_FILE: register is a no-op', async () => {
  const file = path.join(tmp, 'disabled.yaml');
  fs.writeFileSync(file, 'file_format: "1.0"\ndistribution:\n  blackfire:\n    enabled: false\n');
  for (const env of [{ BLACKFIRE_CONPROF_ENABLED: 'false' }, { BLACKFIRE_CONPROF_ENABLED: '0' }, { OTEL_CONFIG_FILE: file }] as Array<Record<string, string>>) {
    const run = await runWithUploads(['-r', REGISTER, '-e', "process.stdout.write(String(require('blackfire-otel-profiler/register').profiler))"], { env });
    assert.deepEqual([run.exit.code, run.stdout, run.stderr, run.uploads.length], [0, 'undefined', '', 0], JSON.stringify(env));
  }
});

test('register plus a Profiler started in code: the "already running" error names blackfire-otel-profiler/register', async () => {
  const run = await runNode(['-r', REGISTER, '-e', "try { new (require('blackfire-otel-profiler').Profiler)().start() } catch (e) { process.stdout.write(e.message) }"], {
    env: { BLACKFIRE_AGENT_SOCKET: agent.address, BLACKFIRE_CONPROF_APP_NAME: 'twice' },
  });
  assert.match(run.stdout, /a Profiler for application "twice" is already running in this thread, started by blackfire-otel-profiler\/register/);
});
