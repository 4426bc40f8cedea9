// The main job end to end: the local agent stand-in, the example HTTP service profiled under load, its
// uploads checked and written to ./profiles/demo-<time>/, then one request's trace drilled into.
//   npm run demo            (after npm ci; ~20 s)
//   npm run demo -- --open  (then serves the view of the demo's profiles and opens it, until Ctrl-C)
// Everything stays on this machine: a unix socket for the agent, 127.0.0.1 for the service.
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cjs', 'cli.js');
const out = (line) => process.stdout.write(line + '\n');
const LOAD_SECONDS = Number(process.env.DEMO_LOAD_SECONDS ?? 8);
const MAX_REQUESTS = 5000;

const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
const dir = path.join(root, 'profiles', `demo-${stamp}`);
fs.mkdirSync(dir, { recursive: true });
const socket = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bf-demo-')), 'agent.sock');

/** Starts a child, resolves with it once a line of its stdout matches `ready`. */
function startChild(name, args, env, ready, onLine) {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        onLine(line);
        const match = ready.exec(line);
        if (match) resolve({ child, match });
      }
    });
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready`)));
  });
}

const exited = (child) => new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));

function get(port, urlPath, traceparent) {
  return new Promise((resolve, reject) => {
    const headers = traceparent ? { traceparent } : {};
    http.get({ host: '127.0.0.1', port, path: urlPath, headers, agent: false }, (res) => {
      res.resume().on('end', resolve);
    }).on('error', reject);
  });
}

/** `top --json` of the demo's profiles. */
function topJson(...args) {
  return JSON.parse(execFileSync(process.execPath, [cli, 'top', dir, '--json', ...args], { encoding: 'utf8' }));
}

async function load(port) {
  const paths = ['/orders/17', '/orders/42', '/search', '/health'];
  const until = Date.now() + LOAD_SECONDS * 1000;
  let sent = 0;
  const worker = async () => {
    while (Date.now() < until && sent < MAX_REQUESTS) await get(port, paths[sent++ % paths.length]);
  };
  await Promise.all([worker(), worker(), worker()]);
  return sent;
}

const spansLog = fs.createWriteStream(path.join(dir, 'spans.log'));
const { child: agent } = await startChild('agent', [cli, 'agent', '--listen', `unix://${socket}`, '--dir', dir], {},
  /listening/, (line) => out(`agent   | ${line}`));
const { child: service, match } = await startChild('service', [path.join(root, 'examples', 'http-service.cjs')], {
  BLACKFIRE_AGENT_SOCKET: `unix://${socket}`,
  BLACKFIRE_CONPROF_PERIOD: '3',
  EXAMPLE_SPAN_EXPORTER: 'console',
}, /listening on http:\/\/127\.0\.0\.1:(\d+)/, (line) => spansLog.write(line + '\n'));
const port = Number(match[1]);
out(`service | listening on 127.0.0.1:${port}; sending requests for ${LOAD_SECONDS} s`);

// A traced batch: 20 requests from one upstream trace, whose id we know, to drill into afterwards.
const traceId = randomBytes(16).toString('hex');
for (let i = 0; i < 20; i++) await get(port, `/orders/${i}`, `00-${traceId}-${randomBytes(8).toString('hex')}-01`);
const sent = await load(port);
out(`service | ${sent + 20} requests sent; stopping the service (sdk.shutdown() makes the final upload)`);
service.kill('SIGTERM');
await exited(service);
agent.kill('SIGTERM');
await exited(agent);
spansLog.end();

const walls = fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('wall.pprof')).sort();
out(`\n${walls.length} uploads written to ${path.relative(root, dir)}/`);
out(`\n$ blackfire-otel-profiler span ${traceId} ${path.relative(root, dir)}`);
try {
  out(execFileSync(process.execPath, [cli, 'span', traceId, dir, '--top', '8'], { encoding: 'utf8' }).trimEnd());
} catch (error) {
  out(String(error.stdout ?? error.message).trimEnd());
}
const lastWall = walls.length > 0 ? path.join(dir, walls[walls.length - 1]) : undefined;
let go = true;
try {
  execFileSync('go', ['version'], { stdio: 'ignore' });
} catch {
  go = false;
}
if (lastWall && go) {
  out(`\n$ go tool pprof -top -nodecount=12 ${path.relative(root, lastWall)}`);
  out(execFileSync('go', ['tool', 'pprof', '-top', '-nodecount=12', lastWall], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trimEnd());
} else if (lastWall) {
  out(`\n(go is not installed: skipping go tool pprof -top ${path.relative(root, lastWall)})`);
}
const view = `node ${path.relative(root, cli)} view ${path.relative(root, dir)}`;
// The slowest request as the profile saw it: the local root span with the most wall time sampled (a request
// that spent its time queued, not running, has few samples or none).
let slowest;
try {
  const [request] = topJson('--type', 'wall', '--by', 'span', '--top', '1').rows;
  const [endpoint] = request ? topJson('--type', 'wall', '--by', 'endpoint', '--span', request.name, '--top', '1').rows : [];
  if (request) slowest = { spanId: request.name, millis: request.total / 1e6, endpoint: endpoint?.name ?? 'its endpoint' };
} catch (error) {
  out(`(no span found in the profiles: ${String(error.stderr ?? error.message).trim()})`);
}
const slowestQuery = slowest ? `?type=wall&span=${slowest.spanId}` : '';
const slowestText = slowest ? `the slowest request as sampled (${slowest.endpoint}, ${slowest.millis.toFixed(1)} ms of wall time)` : '';
if (!process.argv.includes('--open')) {
  out(`\nSee it as a flame graph: ${view} --port 8090   (npx blackfire-otel-profiler view ..., installed; --open opens it)`);
  out(`  all requests:            http://127.0.0.1:8090/`);
  out(`  the traced batch above:  http://127.0.0.1:8090/?type=cpu&trace=${traceId}`);
  if (slowest) out(`  ${slowestText}: http://127.0.0.1:8090/${slowestQuery}`);
  out(`  (or: npm run demo -- --open)`);
} else {
  // Serve the view of this run's profiles and open it; Ctrl-C ends it.
  const { child: viewer, match: served } = await startChild('view', [cli, 'view', dir, '--open'], {}, /view: (http:\S+)/, (line) => out(`view    | ${line}`));
  if (slowest) out(`view    | ${slowestText}: ${served[1]}${slowestQuery}`);
  out(`view    | the traced batch above: ${served[1]}?type=cpu&trace=${traceId}`);
  out('view    | Ctrl-C to end');
  const end = () => viewer.kill('SIGTERM');
  process.once('SIGINT', end);
  process.once('SIGTERM', end);
  await exited(viewer);
}
