// Zero-code start: `node --import blackfire-otel-profiler/register app.mjs` and `node -r ... app.cjs`, run
// from the repository root so that the package's self-reference resolves through its exports map. The
// profiler starts from the environment (or OTEL_CONFIG_FILE) before the application, which then starts its own
// NodeSDK without the profiler's span processor: local roots are inferred, endpoints counted on their end().
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ReceivedUpload } from '../../src/agent/upload-check';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { labelsOf, sampleTypesOf, stackOf } from '../helpers/pprof';

const repoRoot = path.resolve(__dirname, '..', '..', '..');
const fixtures = path.join(repoRoot, 'test', 'fixtures');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-register-'));

interface AppResult {
  profilerWasRunning: boolean;
  requests: Array<{ server: string; child: string; trace: string }>;
}
interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment variables of the test runner that would change what the child does. */
const INHERITED_OUT = [
  'NODE_TEST_CONTEXT',
  'NODE_OPTIONS',
  'OTEL_CONFIG_FILE',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
  'BLACKFIRE_AGENT_SOCKET',
  'BLACKFIRE_CONPROF_PERIOD',
  'BLACKFIRE_CONPROF_APP_NAME',
  'PLATFORM_APPLICATION_NAME',
];

async function runApp(nodeArgs: string[], env: Record<string, string>): Promise<Run> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const key of INHERITED_OUT) delete childEnv[key];
  Object.assign(childEnv, env);
  const child = spawn(process.execPath, nodeArgs, { cwd: repoRoot, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => {
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

let agent: TestAgent;

before(async () => {
  agent = await startTestAgent();
});

after(async () => {
  await agent?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs the app to its natural exit and returns what it printed and the one upload it made on the way out. */
async function runToUpload(nodeArgs: string[], env: Record<string, string>): Promise<{ app: AppResult; upload: ReceivedUpload }> {
  const count = agent.uploads.length;
  const run = await runApp(nodeArgs, env);
  assert.deepEqual({ code: run.code, signal: run.signal }, { code: 0, signal: null }, `stderr: ${run.stderr}`);
  assert.equal(run.stderr, '');
  const app = JSON.parse(run.stdout) as AppResult;
  const uploads = await agent.waitForUploads(count + 1, 10_000);
  assert.deepEqual(agent.rejections, []);
  assert.equal(agent.uploads.length, count + 1, 'one upload, made on beforeExit');
  return { app, upload: uploads[count]! };
}

const tagsOf = (upload: ReceivedUpload): Map<string, string> =>
  new Map(upload.event.tags_profiler.split(',').map((item) => [item.slice(0, item.indexOf(':')), item.slice(item.indexOf(':') + 1)]));

const hex16 = (n: bigint): string => n.toString(16).padStart(16, '0');

/** The child spans' samples: each carries its child span, the request's server span as local root, the endpoint. */
function assertRequestSamples(upload: ReceivedUpload, app: AppResult, label: string): void {
  const wall = upload.profiles['wall.pprof']!;
  const countAt = sampleTypesOf(wall).indexOf('sample/count');
  const byChild = new Map(app.requests.map((r) => [r.child, r]));
  const seenChildren = new Set<string>();
  let samples = 0;
  let right = 0;
  const wrong: string[] = [];
  for (const sample of wall.sample) {
    if (!stackOf(wall, sample.locationId).includes('burnInChildSpan')) continue;
    const n = Number(sample.value[countAt]);
    samples += n;
    const labels = labelsOf(wall, sample);
    if (labels['span id'] === undefined) continue;
    const request = byChild.get(hex16(labels['span id'] as bigint));
    if (!request) wrong.push(`span id ${hex16(labels['span id'] as bigint)} is no child span`);
    else if (labels['local root span id'] !== BigInt('0x' + request.server)) wrong.push(`local root ${String(labels['local root span id'])} is not the server span`);
    else if (labels['trace id'] !== request.trace) wrong.push('wrong trace id');
    else if (labels['trace endpoint'] !== 'GET /r') wrong.push(`endpoint ${String(labels['trace endpoint'])}`);
    else {
      right += n;
      seenChildren.add(request.child);
    }
  }
  assert.ok(samples >= 20, `${label}: only ${samples} samples of burnInChildSpan`);
  assert.deepEqual(wrong.slice(0, 3), [], label);
  assert.ok(right / samples >= 0.9, `${label}: ${right} of ${samples} samples carry their spans`);
  assert.equal(seenChildren.size, app.requests.length, `${label}: every request has labelled samples`);
}

for (const [kind, nodeArgs] of [
  ['ESM', ['--import', 'blackfire-otel-profiler/register', path.join(fixtures, 'register-app.mjs')]],
  ['CommonJS', ['-r', 'blackfire-otel-profiler/register', path.join(fixtures, 'register-app.cjs')]],
] as const) {
  test(`${kind}: the profiler starts from the environment; spans of the app's own NodeSDK label the samples; upload on exit`, async () => {
    const serviceName = `register-${kind.toLowerCase()}`;
    const { app, upload } = await runToUpload([...nodeArgs], {
      BLACKFIRE_AGENT_SOCKET: agent.address,
      BLACKFIRE_CONPROF_PERIOD: '60',
      OTEL_SERVICE_NAME: serviceName,
    });
    assert.equal(app.profilerWasRunning, true, 'running before the application\'s first line');
    assert.equal(app.requests.length, 3);
    assert.equal(tagsOf(upload).get('application_name'), serviceName);
    assert.equal(upload.event.info.profiler.settings.period_millis, 60_000);
    assert.deepEqual(upload.event.endpoint_counts, { 'GET /r': 3 });
    assertRequestSamples(upload, app, kind);
  });
}

test('OTEL_CONFIG_FILE: distribution.blackfire (agent_socket by ${VAR}, period_millis, labels) and resource.attributes are honoured', async () => {
  const file = path.join(tmp, 'otel-config.yaml');
  fs.writeFileSync(
    file,
    [
      'file_format: "1.0"',
      'resource:',
      '  attributes:',
      '    - name: service.name',
      '      value: from-config-file',
      '    - name: deployment.environment.name',
      '      value: ${DEPLOYMENT_ENVIRONMENT:-staging}',
      'distribution:',
      '  blackfire:',
      '    agent_socket: ${TEST_AGENT_SOCKET}',
      '    period_millis: 30000',
      '    labels:',
      '      team: zero-code',
      '',
    ].join('\n'),
  );
  // No BLACKFIRE_AGENT_SOCKET: the upload arrives only if agent_socket was read from the file.
  const { app, upload } = await runToUpload(['-r', 'blackfire-otel-profiler/register', path.join(fixtures, 'register-app.cjs')], {
    OTEL_CONFIG_FILE: file,
    TEST_AGENT_SOCKET: agent.address,
  });
  assert.equal(app.profilerWasRunning, true);
  const tags = tagsOf(upload);
  assert.equal(tags.get('application_name'), 'from-config-file');
  assert.equal(tags.get('team'), 'zero-code');
  assert.equal(tags.get('deployment.environment.name'), 'staging');
  assert.equal(tags.get('env'), 'staging');
  assert.equal(upload.event.info.profiler.settings.period_millis, 30_000);
  assert.deepEqual(upload.event.endpoint_counts, { 'GET /r': 3 });
  assertRequestSamples(upload, app, 'OTEL_CONFIG_FILE');
});

test('OTEL_CONFIG_FILE with an unknown distribution.blackfire key: one error naming the key, and the application runs unprofiled', async () => {
  const file = path.join(tmp, 'bad-otel-config.yaml');
  fs.writeFileSync(file, ['file_format: "1.0"', 'distribution:', '  blackfire:', '    period_milis: 1000', ''].join('\n'));
  const count = agent.uploads.length;
  for (const nodeArgs of [
    ['--import', 'blackfire-otel-profiler/register', path.join(fixtures, 'register-app.mjs')],
    ['-r', 'blackfire-otel-profiler/register', path.join(fixtures, 'register-app.cjs')],
  ]) {
    const run = await runApp(nodeArgs, { OTEL_CONFIG_FILE: file, BLACKFIRE_AGENT_SOCKET: agent.address });
    assert.equal(run.code, 0, `${nodeArgs[0]}: the application is not stopped (${run.stderr})`);
    assert.equal((JSON.parse(run.stdout) as AppResult).profilerWasRunning, false, `${nodeArgs[0]}: it ran, unprofiled`);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0]!, /not profiling \(blackfire-otel-profiler\/register\): .*distribution\.blackfire\.period_milis must be one of the known keys \(did you mean period_millis\?/, nodeArgs[0]);
  }
  assert.equal(agent.uploads.length, count, 'nothing was profiled');
});
