// Side by side on an OpenTelemetry HTTP service (NodeSDK + HTTP instrumentation, a span per request and a child
// span, ~0.75 ms CPU per request): no profiler, the same again (A/A: the noise floor), ours (all dimensions and
// span correlation), ours zero-code (register, no span processor), and Datadog's profiler (dd-trace, tracing
// plugins off, profiling on with CPU time, uploading to the same stand-in agent, the same period).
// Method: each condition is its own server process (bench/compare-child.js), all pinned to one core; this
// process, on the other core, sends a fixed request rate (open loop, ~55% of the server core at baseline) to one
// server at a time, in short slices that cycle through the conditions (a shared machine's drift hits all alike),
// for many rounds. A server's CPU time is counted during its own slices only: its profiler's periodic work
// (rotation, encoding, upload; the period runs on the wall clock) falls into them in proportion, as it would in
// a server loaded all the time. CPU per request = the condition's CPU over all its slices / its requests, against
// the first condition's (baseline A) over the same rounds; min..max over blocks of 4 consecutive rounds. Drift is
// handled by the fine interleaving; a core-speed probe (native SHA-256 every 100 ms in each server, its own time
// taken out of the CPU counted) is reported, not divided by: its per-process bias (up to 15% between servers on
// the same core, measured) was larger than the drift it would correct. Latency runs from each request's
// scheduled send time to its response's end.
// Usage: node build/bench/compare.js [--quick] [--rounds=N] [--slice-seconds=S] [--results=bench/RESULTS.md]
// Env: BENCH_PERIOD_MILLIS (default 10000); BENCH_SERVER_FLAGS (flags for every server); BENCH_SAVE_DIR (keep the uploads there); DD_TRACE_MODULE (default: dd-trace, or dd-trace 5 on Node < 22).
import { fork, execFileSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { ProfilerStats } from '../src/profiler';
import { fmt, median, printTable, quantile, startBenchAgent, withTimeout, type BenchAgent } from './harness';

const QUICK = process.argv.includes('--quick');
const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const ROUNDS = Number(arg('rounds') ?? (QUICK ? 4 : 12));
const SLICE_SECONDS = Number(arg('slice-seconds') ?? (QUICK ? 2 : 4));
/** At the measured rate, per server, before the rounds: CPU per request settles as the JIT does. */
const WARM_SECONDS = QUICK ? 3 : 10;
const PERIOD_MILLIS = Number(process.env.BENCH_PERIOD_MILLIS ?? 10_000);
const TARGET_CORE_SHARE = 0.55;
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const DEFAULT_CONDITIONS = ['baseline', 'baseline-b', 'ours', 'ours-zero-code', 'dd-trace'];
/** `--conditions=baseline,ours,ours/no-heap`: what to compare (the first is the reference); `/x,y` is a variant. */
const CONDITIONS: readonly string[] = arg('conditions')?.split(',') ?? DEFAULT_CONDITIONS;
type Condition = string;

interface Usage { cpuMicros: number; requests: number; probeRuns: number; probeMicrosTotal: number; rssBytes: number; maxRssBytes: number; eventLoopMaxMillis: number; stats?: ProfilerStats }
interface Slice { cpuPerRequestMicros: number; probeMicros: number; latencies: number[]; sent: number; done: number; errors: number; usage: Usage }

function cores(): { server: string; load: string } | undefined {
  if (os.availableParallelism() < 2) return undefined;
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return { server: '1', load: '0' };
  } catch {
    return undefined;
  }
}

/** dd-trace for this runtime: the dev dependency (6.x, Node >= 22), else 5.x installed into a cache folder. */
function ddTraceModule(): string {
  if (process.env.DD_TRACE_MODULE) return process.env.DD_TRACE_MODULE;
  if (NODE_MAJOR >= 22) return 'dd-trace';
  const dir = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'blackfire-otel-profiler', 'dd-trace-5');
  const entry = path.join(dir, 'node_modules', 'dd-trace');
  if (!fs.existsSync(entry)) {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync('npm', ['install', '--prefix', dir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', 'dd-trace@5.132.0'], { stdio: 'inherit' });
  }
  return entry;
}

class Server {
  readonly child: ChildProcess;
  port = 0;
  constructor(readonly condition: Condition, agent: BenchAgent, pin: string | undefined, ddModule: string) {
    const script = path.join(__dirname, 'compare-child.js');
    const env: NodeJS.ProcessEnv = { ...process.env, BENCH_AGENT_SOCKET: agent.address, BENCH_PERIOD_MILLIS: String(PERIOD_MILLIS) };
    // BENCH_SERVER_FLAGS: V8/Node flags for every server (an investigation aid, e.g. `--no-flush-bytecode`).
    const execArgv: string[] = (process.env.BENCH_SERVER_FLAGS ?? '').split(' ').filter(Boolean);
    if (condition.startsWith('ours-zero-code')) {
      execArgv.push('-r', path.join(__dirname, '..', 'src', 'register.js'));
      Object.assign(env, { BLACKFIRE_AGENT_SOCKET: agent.address, BLACKFIRE_CONPROF_PERIOD: String(PERIOD_MILLIS / 1000), BLACKFIRE_CONPROF_APP_NAME: 'bench-compare-zero-code' });
    }
    if (condition.startsWith('dd-trace')) {
      Object.assign(env, {
        DD_TRACE_MODULE: ddModule,
        DD_TRACE_AGENT_URL: agent.address,
        DD_SERVICE: 'bench-compare-dd',
        DD_TAGS: 'application_name:bench-compare-dd',
        DD_PROFILING_ENABLED: 'true',
        DD_PROFILING_UPLOAD_PERIOD: String(PERIOD_MILLIS / 1000),
        DD_PROFILING_CPU_ENABLED: 'true',
        DD_REMOTE_CONFIGURATION_ENABLED: 'false',
        DD_INSTRUMENTATION_TELEMETRY_ENABLED: 'false',
        DD_TRACE_STARTUP_LOGS: 'false',
        DD_RUNTIME_METRICS_ENABLED: 'false',
      });
    }
    const [name, ...variant] = condition.split('/');
    const condArg = name === 'baseline-b' ? 'baseline' : name!;
    env.BENCH_VARIANT = variant.join(',');
    this.child = pin
      ? fork(script, [condArg], { env, execPath: 'taskset', execArgv: ['-c', pin, process.execPath, ...execArgv], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      : fork(script, [condArg], { env, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  }
  next<T>(millis = 60_000): Promise<T> {
    const answer = new Promise<T>((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`${this.condition}: exited (${code}) before answering`));
      this.child.once('exit', onExit);
      this.child.once('message', (message) => {
        this.child.off('exit', onExit);
        resolve(message as T);
      });
    });
    return withTimeout(answer, millis, this.condition);
  }
  request<T>(message: object): Promise<T> {
    const answer = this.next<T>();
    this.child.send(message);
    return answer;
  }
  async ready(): Promise<void> {
    this.port = (await this.next<{ port: number }>()).port;
  }
  async stop(): Promise<{ stats?: ProfilerStats }> {
    try {
      return await this.request<{ stats?: ProfilerStats }>({ type: 'stop' });
    } finally {
      if (this.child.exitCode === null) await withTimeout(once(this.child, 'exit'), 20_000, 'exit').catch(() => this.child.kill('SIGKILL'));
    }
  }
}

/** An open-loop load: requests scheduled at a fixed rate for `millis`, latency from the scheduled time. */
async function load(port: number, ratePerSecond: number, millis: number): Promise<Pick<Slice, 'latencies' | 'sent' | 'done' | 'errors'>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const latencies: number[] = [];
  let sent = 0;
  let errors = 0;
  const total = Math.round((ratePerSecond * millis) / 1000);
  const start = performance.now();
  const inFlight = new Set<Promise<void>>();
  const send = (scheduled: number): void => {
    const request = new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/orders/42', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(performance.now() - scheduled);
          resolve();
        });
      });
      req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        errors++;
        resolve();
      });
    });
    inFlight.add(request);
    void request.finally(() => inFlight.delete(request));
  };
  while (sent < total) {
    const now = performance.now();
    while (sent < total && start + (sent * 1000) / ratePerSecond <= now) send(start + (sent++ * 1000) / ratePerSecond);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await withTimeout(Promise.all(inFlight), 20_000, 'load drain');
  agent.destroy();
  return { latencies, sent, done: latencies.length, errors };
}

async function slice(server: Server, rate: number, millis: number): Promise<Slice> {
  const before = await server.request<Usage>({ type: 'usage' });
  const traffic = await load(server.port, rate, millis);
  const after = await server.request<Usage>({ type: 'usage' });
  const requests = after.requests - before.requests;
  const probeMicros = after.probeMicrosTotal - before.probeMicrosTotal;
  const probeRuns = after.probeRuns - before.probeRuns;
  return { ...traffic, cpuPerRequestMicros: (after.cpuMicros - before.cpuMicros - probeMicros) / requests, probeMicros: probeMicros / probeRuns, usage: after };
}

function row(label: string, values: (c: Condition) => string): string[] {
  return [label, ...CONDITIONS.map(values)];
}

const CPU_COUNT = os.availableParallelism();

async function main(): Promise<void> {
  const pin = cores();
  const ddModule = ddTraceModule();
  const started = Date.now();
  const agent = await startBenchAgent();
  const servers = new Map(CONDITIONS.map((c) => [c, new Server(c, agent, pin?.server, ddModule)]));
  if (pin) execFileSync('taskset', ['-cp', pin.load, String(process.pid)], { stdio: 'ignore' });
  const slices = new Map<Condition, Slice[]>(CONDITIONS.map((c) => [c, []]));
  const finals = new Map<Condition, { stats?: ProfilerStats }>();
  let rate = 0;
  try {
    await Promise.all([...servers.values()].map((s) => s.ready()));
    // Warm-up at a modest rate, then the rate that keeps baseline A at ~55% of its core.
    for (const s of servers.values()) await slice(s, 200, QUICK ? 1500 : 3000);
    await slice(servers.get('baseline')!, 400, 2000);
    const calibration = await slice(servers.get('baseline')!, 400, 3000);
    rate = Math.round((TARGET_CORE_SHARE * 1e6) / calibration.cpuPerRequestMicros);
    console.log(`calibration: ${fmt(calibration.cpuPerRequestMicros, 0)} µs CPU per request at baseline -> ${rate} req/s (${TARGET_CORE_SHARE * 100}% of one core)`);
    for (const s of servers.values()) await slice(s, rate, WARM_SECONDS * 1000);
    for (let round = 0; round < ROUNDS; round++) {
      // A different order each round (rotated, and reversed every other), so no condition always follows another.
      const rotated = CONDITIONS.map((_, i) => CONDITIONS[(i + round) % CONDITIONS.length]!);
      const order = round % 2 === 0 ? rotated : rotated.reverse();
      for (const c of order) {
        const result = await slice(servers.get(c)!, rate, SLICE_SECONDS * 1000);
        slices.get(c)!.push(result);
        if (process.argv.includes('--verbose')) console.log(`  ${c}: ${fmt(result.cpuPerRequestMicros, 1)} µs CPU/request, probe ${fmt(result.probeMicros, 0)} µs, ${result.done} requests`);
      }
      if ((round + 1) % 5 === 0 || round + 1 === ROUNDS) console.log(`round ${round + 1}/${ROUNDS} done (${Math.round((Date.now() - started) / 1000)} s)`);
    }
  } finally {
    for (const [c, s] of servers) finals.set(c, await s.stop().catch(() => ({})));
    await agent.close();
  }
  report(rate, slices, finals, agent, pin !== undefined, ddModule, Math.round((Date.now() - started) / 1000));
}

function report(rate: number, slices: Map<Condition, Slice[]>, finals: Map<Condition, { stats?: ProfilerStats }>, agent: BenchAgent, pinned: boolean, ddModule: string, seconds: number): void {
  const base = slices.get(CONDITIONS[0]!)!;
  /** CPU per request over slices [from, to) of a condition (the probe's own time already taken out). */
  const cpuPerRequest = (list: Slice[], from = 0, to = list.length): number => {
    const part = list.slice(from, to);
    return part.reduce((sum, s) => sum + s.cpuPerRequestMicros * s.done, 0) / part.reduce((sum, s) => sum + s.done, 0);
  };
  const BLOCK = 4;
  const ratio = (c: Condition): { all: number; blocks: number[] } => {
    const list = slices.get(c)!;
    const blocks: number[] = [];
    for (let from = 0; from < list.length; from += BLOCK) blocks.push(cpuPerRequest(list, from, from + BLOCK) / cpuPerRequest(base, from, from + BLOCK));
    return { all: cpuPerRequest(list) / cpuPerRequest(base), blocks };
  };
  const pct = (r: { all: number; blocks: number[] }): string => `${fmt(100 * (r.all - 1), 1)}% [${fmt(100 * (Math.min(...r.blocks) - 1), 1)}..${fmt(100 * (Math.max(...r.blocks) - 1), 1)}]`;
  const all = (c: Condition): number[] => slices.get(c)!.flatMap((s) => s.latencies);
  const last = (c: Condition): Usage => slices.get(c)!.at(-1)!.usage;
  const maxStat = (c: Condition, f: (s: ProfilerStats) => number | undefined): string => {
    const values = slices.get(c)!.map((s) => (s.usage.stats ? f(s.usage.stats) : undefined)).filter((v): v is number => v !== undefined);
    return values.length ? fmt(Math.max(...values), 1) : '-';
  };
  const ddVersion = readVersion(ddModule);
  const lines: string[] = [];
  const say = (line = ''): void => {
    console.log(line);
    lines.push(line);
  };
  say(`## Node ${process.version} (${new Date().toISOString().slice(0, 10)})`);
  say();
  say(`${os.cpus()[0]?.model ?? 'cpu'}, ${CPU_COUNT} CPUs, ${pinned ? 'servers pinned to core 1, load on core 0' : 'not pinned (taskset missing)'}; @datadog/pprof ${readVersion('@datadog/pprof')}, dd-trace ${ddVersion}, OTel SDK ${readVersion('@opentelemetry/sdk-trace-base')}`);
  say(`${rate} req/s open loop (55% of one core at baseline), ${ROUNDS} interleaved rounds of ${SLICE_SECONDS} s per condition, period ${PERIOD_MILLIS / 1000} s for every profiler, ${seconds} s in all; uploads accepted by the stand-in agent: ${agent.uploads.length}`);
  say();
  const table: string[][] = [
    row(`CPU per request vs ${CONDITIONS[0]} [min..max over blocks of ${BLOCK} rounds]`, (c) => (c === CONDITIONS[0] ? `${fmt(cpuPerRequest(base), 0)} µs` : pct(ratio(c)))),
    row('p50 latency (ms)', (c) => fmt(quantile(all(c), 0.5), 2)),
    row('p99 latency (ms)', (c) => fmt(quantile(all(c), 0.99), 2)),
    row('max latency (ms)', (c) => fmt(Math.max(...all(c)), 1)),
    row('peak RSS (MB)', (c) => fmt(last(c).maxRssBytes / 2 ** 20, 0)),
    row('max event-loop block (ms)', (c) => fmt(Math.max(...slices.get(c)!.map((s) => s.usage.eventLoopMaxMillis)), 1)),
    row('main-thread time per rotation, max (ms)', (c) => maxStat(c, (s) => s.lastRotationMillis)),
    row('live context holders (last slice)', (c) => maxStat(c, (s) => s.liveContextHolders)),
    row('core-speed probe, median (µs)', (c) => fmt(median(slices.get(c)!.map((s) => s.probeMicros)), 0)),
    row('requests failed', (c) => String(slices.get(c)!.reduce((n, s) => n + s.errors + (s.sent - s.done), 0))),
  ];
  const names: Record<string, string> = { baseline: 'no profiler (A)', 'baseline-b': 'no profiler (B, A/A)', ours: 'ours', 'ours-zero-code': 'ours zero-code', 'dd-trace': 'Datadog (dd-trace)' };
  const header = ['', ...CONDITIONS.map((c) => names[c] ?? c)];
  printTable(header, table);
  lines.push('', `| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...table.map((r) => `| ${r.join(' | ')} |`));
  say();
  if (slices.has('ours') && slices.has('dd-trace') && slices.has('baseline-b')) {
    const ours = ratio('ours').all - 1;
    const dd = ratio('dd-trace').all - 1;
    say(`ours: ${fmt(100 * ours, 1)}% CPU per request; Datadog's: ${fmt(100 * dd, 1)}%; ${dd > 0.01 ? `ours / Datadog's extra: ${fmt(ours / dd, 2)}; ` : ''}A/A (the noise floor): ${pct(ratio('baseline-b'))}`);
  }
  const hand = finals.get('ours')?.stats?.spanHandOff;
  if (hand) say(`span hand-off: ${hand}`);
  const file = arg('results');
  if (file) fs.appendFileSync(file, lines.join('\n') + '\n\n');
}

function readVersion(moduleName: string): string {
  try {
    return (JSON.parse(fs.readFileSync(require.resolve(path.join(moduleName, 'package.json')), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

void main().catch((error: Error) => {
  console.error(error);
  process.exitCode = 1;
});
