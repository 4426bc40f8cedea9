#!/usr/bin/env node
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { startAgentServer, summarizeUpload } from './agent/agent-server.js';
import { formatSpanTop, parseSpanQuery, spanTop, type SpanQuery } from './inspect/span-top.js';
import { decodePprof, GROUP_LABELS, loadProfiles, parseTime, toCollapsed, toMergedPprof, topFunctions, topLabels, toSpeedscope, type GroupBy, type SampleFilter } from './inspect/profile-query.js';
import { openBrowser } from './inspect/open-browser.js';
import { startViewServer, type ViewServer } from './inspect/view-server.js';
import { PROBE_VERSION } from './version.js';

/** Each command's usage, for `<command> --help`; all of them for `--help`. */
const COMMANDS = {
  agent: `  blackfire-otel-profiler agent --listen <unix:///path | tcp://host:port> [--dir <folder>] [--view [--view-port N]] [--open]
      A local stand-in for the Blackfire Agent: checks every upload, writes its event.json and pprof files
      to --dir (one folder per upload; without --dir nothing is saved) and prints one line per upload.
      --view also serves the view of --dir, live: new uploads appear in the open page.
`,
  span: `  blackfire-otel-profiler span <span-id | local-root-span-id | trace-id> <wall.pprof | folder>... [--top N]
      The functions that burned the time of one span (with everything under it, when it is a local root)
      or of one trace, from uploaded wall.pprof files (gzipped or not; folders are searched for wall*.pprof).
      After --, every argument is an id or a file (a negative decimal id, as go tool pprof -tags shows it).
`,
  top: `  blackfire-otel-profiler top <folder | file.pprof>... [--type cpu|wall|inuse_space|alloc_space|...] [--top N]
                              [--span ID] [--trace ID] [--endpoint "GET /route"] [--thread ID|NAME]
                              [--since T] [--until T] [--by function|span|trace|endpoint|thread] [--json]
      The top functions (self and total) of one dimension (default cpu), over every period given, merged,
      keeping only the samples of a span (with all under it, for a local root), a trace or an endpoint, and
      only the periods that overlap [--since, --until) (ISO 8601 times or epoch milliseconds). --by span
      lists the requests (local root spans) with the most instead: the ids to pass to --span.
`,
  convert: `  blackfire-otel-profiler convert --to collapsed|speedscope|pprof <folder | file.pprof>... [--type ...] [filters]
                                  [--out FILE]
      The same selection as top, for other viewers: Brendan Gregg's collapsed stacks, speedscope JSON, or one
      merged gzipped pprof (labels kept; opens on --type in go tool pprof).
`,
  view: `  blackfire-otel-profiler view <folder | file.pprof>... [--port N] [--host 127.0.0.1] [--open]
      A local page: the flame graph (speedscope) and top table of each dimension, filtered by span, trace,
      endpoint or period (the URL carries the filters: /?span=<local root span id>). Folders are read again
      at every request: new uploads appear. Loopback only unless --host says otherwise. --open opens it in
      $BROWSER or the system's browser.
`,
} as const;

type Command = keyof typeof COMMANDS;

const USAGE = `Usage: blackfire-otel-profiler <command> [options]   (--help, <command> --help, --version)

${Object.values(COMMANDS).join('\n')}`;

/** A usage error: the message, then the command's usage, on stderr; exit 2. */
class UsageError extends Error {}

function out(line: string): void {
  process.stdout.write(line + '\n');
}

function agent(args: string[]): Promise<number> {
  return guarded('agent', () => agentServe(args));
}

/** `--listen`: where the stand-in listens. A bare path gets the hint of its unix:// form. */
function listenAddress(value: string | undefined): string {
  if (!value) throw new UsageError('--listen is required');
  if (/^unix:\/\/\/|^tcp:\/\/[^/]+:\d+$/i.test(value)) return value;
  const hint = value.startsWith('/') ? ` (did you mean unix://${value}?)` : /^[\w.-]+:\d+$/.test(value) ? ` (did you mean tcp://${value}?)` : '';
  throw new UsageError(`--listen must be unix:///absolute/path or tcp://host:port, got ${JSON.stringify(value)}${hint}`);
}

async function agentServe(args: string[]): Promise<number> {
  const { values } = parse(args, { listen: { type: 'string' }, dir: { type: 'string' }, view: { type: 'boolean' }, 'view-port': { type: 'string' }, open: { type: 'boolean' } }, false);
  const listen = listenAddress(values.listen);
  if ((values.view || values.open) && !values.dir) throw new UsageError('--view needs --dir, the folder it shows');
  const viewPort = portOf('--view-port', values['view-port']);
  let count = 0;
  const server = await startAgentServer({
    listen,
    dir: values.dir,
    onUpload: (upload, savedTo) => {
      count++;
      out(`upload #${count}: ${summarizeUpload(upload)}${savedTo ? ` -> ${savedTo}` : ''}`);
    },
    onReject: (problems) => out(`rejected: ${problems.join('; ')}`),
  });
  out(`agent stand-in listening on ${server.address}${values.dir ? `, writing to ${values.dir}` : '; not saving uploads (no --dir): each is checked and printed, then dropped'}`);
  let viewer: ViewServer | undefined;
  if (values.dir && (values.view || values.open)) {
    fs.mkdirSync(values.dir, { recursive: true });
    viewer = await startViewServer({ targets: [values.dir], port: viewPort, allowEmpty: true });
    out(`view: ${viewer.url} (live: new uploads appear as they land)`);
    if (values.open) await openOrSay(viewer.url);
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await Promise.all([server.close(), viewer?.close()]);
  out(`agent stand-in stopped after ${count} upload(s)`);
  return 0;
}

function portOf(option: string, value: string | undefined): number {
  const port = value === undefined ? 0 : Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${option} must be 0 to 65535, got ${JSON.stringify(value)}`);
  return port;
}

async function openOrSay(url: string): Promise<void> {
  const result = await openBrowser(url);
  if (!result.opened) process.stderr.write(`view: no browser to open (${result.reason}; set BROWSER): open ${url} yourself\n`);
}

function wallProfilesIn(target: string): string[] {
  if (!fs.statSync(target).isDirectory()) return [target];
  return fs
    .readdirSync(target, { recursive: true, encoding: 'utf8' })
    .filter((name) => /(^|\/)wall[^/]*\.pprof$/.test(name))
    .sort()
    .map((name) => path.join(target, name));
}


function span(args: string[]): Promise<number> {
  return guarded('span', () => {
    // A signed decimal id (as `go tool pprof` shows ids above 2^63) looks like an option: it may come first,
    // or anywhere after `--`.
    const signedId = args[0] !== undefined && /^-\d+$/.test(args[0]) ? args[0] : undefined;
    const { values, positionals } = parse(signedId ? args.slice(1) : args, { top: { type: 'string' } });
    const [id, ...targets] = signedId ? [signedId, ...positionals] : positionals;
    if (!id || targets.length === 0) throw new UsageError('a span or trace id and at least one profile file are required');
    const limit = values.top === undefined ? 20 : Number(values.top);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--top must be a positive integer, got ${JSON.stringify(values.top)}`);
    const query: SpanQuery = parseSpanQuery(id);
    const files = targets.flatMap((target) => {
      if (!fs.existsSync(target)) {
        throw new Error(`no such file or folder: ${target}${target.startsWith('-') ? ' (after --, every argument is an id or a file: put options before --)' : ''}`);
      }
      return wallProfilesIn(target);
    });
    const top = spanTop(files.map((file) => decodePprof(fs.readFileSync(file))), query);
    out(`${id} in ${files.length} profile(s): ${formatSpanTop(top, limit)}`);
    if (top.samples === 0) {
      process.stderr.write(
        `span: no sample carries ${id}. Likely: the id was rounded (go tool pprof -tags shows large ids as rounded signed numbers: ` +
          `copy it from the span attribute blackfire.profile.local_root_span_id or the trace UI instead), the request was shorter ` +
          `than one sampling interval (10 ms at 100 Hz), or it ran in a period these files do not hold. \`top --by span\` lists the ids that have samples.\n`,
      );
    }
    return top.samples > 0 ? 0 : 1;
  });
}

const FILTER_OPTIONS = {
  type: { type: 'string' },
  span: { type: 'string' },
  trace: { type: 'string' },
  endpoint: { type: 'string' },
  thread: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
} as const;

type FilterValues = { [K in keyof typeof FILTER_OPTIONS]?: string | undefined };

function filterOf(values: FilterValues): SampleFilter {
  return { span: values.span, trace: values.trace, endpoint: values.endpoint, thread: values.thread, sinceMillis: parseTime('--since', values.since), untilMillis: parseTime('--until', values.until) };
}

function commandError(command: string, message: string): number {
  process.stderr.write(`${command}: ${message}\n`);
  return 2;
}

/**
 * A command's own failure: `<command>: <message>` on stderr, exit 2; a usage error adds the command's usage.
 * `<command> --help` (or -h) prints that usage on stdout, exit 0.
 */
async function guarded(command: Command, run: () => number | Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${command}: ${error.message}\nUsage:\n${COMMANDS[command]}`);
      return 2;
    }
    return commandError(command, (error as Error).message);
  }
}

/** parseArgs (with positionals, unless told otherwise); a bad flag is a usage error. */
function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args, allowPositionals, options });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function top(args: string[]): Promise<number> {
  return guarded('top', () => {
    const { values, positionals } = parse(args, { ...FILTER_OPTIONS, top: { type: 'string' }, json: { type: 'boolean' }, by: { type: 'string' } });
    if (positionals.length === 0) throw new UsageError('at least one folder or pprof file is required');
    const limit = values.top === undefined ? 20 : Number(values.top);
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`--top must be a positive integer, got ${JSON.stringify(values.top)}`);
    const by = values.by ?? 'function';
    if (by !== 'function' && !Object.hasOwn(GROUP_LABELS, by)) throw new Error(`--by must be function, span, trace, endpoint or thread, got ${JSON.stringify(values.by)}`);
    const type = values.type ?? 'cpu';
    const profiles = loadProfiles(positionals);
    const result = by === 'function' ? topFunctions(profiles, type, filterOf(values), limit) : topLabels(profiles, type, by as GroupBy, filterOf(values), limit);
    if (values.json) {
      out(JSON.stringify({ type, by, filter: filterOf(values), total: result.total, rows: result.rows }));
    } else {
      out(`${type}: total ${result.total}`);
      out(['self', 'self%', 'total', 'total%', by === 'span' ? 'local root span id' : by].join('\t'));
      const pct = (v: number): string => (result.total > 0 ? ((100 * v) / result.total).toFixed(1) + '%' : '-');
      for (const row of result.rows) out([row.self, pct(row.self), row.total, pct(row.total), `${row.name}${row.file ? ' ' + row.file : ''}`].join('\t'));
    }
    return result.total > 0 ? 0 : 1;
  });
}

function convert(args: string[]): Promise<number> {
  return guarded('convert', () => {
    const { values, positionals } = parse(args, { ...FILTER_OPTIONS, to: { type: 'string' }, out: { type: 'string' } });
    const format = values.to;
    if (format !== 'collapsed' && format !== 'speedscope' && format !== 'pprof') throw new UsageError(`--to must be collapsed, speedscope or pprof, got ${JSON.stringify(format)}`);
    if (positionals.length === 0) throw new UsageError('at least one folder or pprof file is required');
    const profiles = loadProfiles(positionals);
    const type = values.type ?? 'cpu';
    const filter = filterOf(values);
    const data =
      format === 'collapsed' ? toCollapsed(profiles, type, filter)
      : format === 'speedscope' ? JSON.stringify(toSpeedscope(profiles, type, filter))
      : zlib.gzipSync(toMergedPprof(profiles, type, filter).encode());
    if (values.out) fs.writeFileSync(values.out, data);
    else process.stdout.write(data);
    return 0;
  });
}

function view(args: string[]): Promise<number> {
  return guarded('view', async () => {
    const { values, positionals } = parse(args, { port: { type: 'string' }, host: { type: 'string' }, open: { type: 'boolean' } });
    if (positionals.length === 0) throw new UsageError('at least one folder or pprof file is required');
    const port = portOf('--port', values.port);
    const host = values.host ?? '127.0.0.1';
    const server = await startViewServer({ targets: positionals, host, port });
    if (!/^(127\.|::1$|localhost$)/.test(host)) process.stderr.write(`view: warning: listening on ${host}, reachable from other machines\n`);
    out(`view: ${server.url}`);
    if (values.open) await openOrSay(server.url);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    return 0;
  });
}

const RUN: Record<Command, (args: string[]) => Promise<number>> = { agent, span, top, convert, view };
const HELP = ['-h', '--help'];

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    process.stderr.write(USAGE);
    return 2;
  }
  if (HELP.includes(command) || command === 'help') {
    const about = rest[0] !== undefined && Object.hasOwn(COMMANDS, rest[0]) ? `Usage:\n${COMMANDS[rest[0] as Command]}` : USAGE;
    process.stdout.write(about);
    return 0;
  }
  if (command === '--version' || command === '-v') {
    out(PROBE_VERSION);
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, command)) {
    process.stderr.write(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
    return 2;
  }
  // `<command> --help` anywhere before a `--`.
  const beforeDashes = rest.indexOf('--') >= 0 ? rest.slice(0, rest.indexOf('--')) : rest;
  if (beforeDashes.some((arg) => HELP.includes(arg))) {
    process.stdout.write(`Usage:\n${COMMANDS[command as Command]}`);
    return 0;
  }
  return RUN[command as Command](rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: Error) => {
    process.stderr.write(`blackfire-otel-profiler: ${error.message}\n`);
    process.exitCode = 1;
  },
);
