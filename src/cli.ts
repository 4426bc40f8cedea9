#!/usr/bin/env node
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Profile } from 'pprof-format';
import { startAgentServer, summarizeUpload } from './agent/agent-server.js';
import { formatSpanTop, parseSpanQuery, spanTop, type SpanQuery } from './inspect/span-top.js';
import { loadProfiles, toCollapsed, topFunctions, toSpeedscope, type SampleFilter } from './inspect/profile-query.js';
import { startViewServer } from './inspect/view-server.js';

const USAGE = `Usage:
  blackfire-otel-profiler agent --listen <unix:///path | tcp://host:port> [--dir <folder>]
      A local stand-in for the Blackfire Agent: checks every upload, writes its event.json and pprof files
      to --dir (one folder per upload) and prints one line per upload.
  blackfire-otel-profiler span <span-id | local-root-span-id | trace-id> <wall.pprof | folder>... [--top N]
      The functions that burned the time of one span (with everything under it, when it is a local root)
      or of one trace, from uploaded wall.pprof files (gzipped or not; folders are searched for wall*.pprof).
  blackfire-otel-profiler top <folder | file.pprof>... [--type cpu|wall|inuse_space|alloc_space|...] [--top N]
                              [--span ID] [--trace ID] [--endpoint "GET /route"] [--json]
      The top functions (self and total) of one dimension (default cpu), over every period given, merged,
      keeping only the samples of a span (with all under it, for a local root), a trace or an endpoint.
  blackfire-otel-profiler convert --to collapsed|speedscope <folder | file.pprof>... [--type ...] [filters]
                                  [--out FILE]
      The same selection for other viewers: Brendan Gregg's collapsed stacks, or speedscope JSON.
  blackfire-otel-profiler view <folder | file.pprof>... [--port N] [--host 127.0.0.1]
      A local page: the flame graph (speedscope) and top table of each dimension, filtered by span, trace or
      endpoint (the URL carries the filters: /?span=<local root span id>). Folders are read again at every
      request: new uploads appear. Loopback only unless --host says otherwise.
`;

function out(line: string): void {
  process.stdout.write(line + '\n');
}

async function agent(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { listen: { type: 'string' }, dir: { type: 'string' } } });
  if (!values.listen) {
    process.stderr.write('agent: --listen is required\n' + USAGE);
    return 2;
  }
  let count = 0;
  const server = await startAgentServer({
    listen: values.listen,
    dir: values.dir,
    onUpload: (upload, savedTo) => {
      count++;
      out(`upload #${count}: ${summarizeUpload(upload)}${savedTo ? ` -> ${savedTo}` : ''}`);
    },
    onReject: (problems) => out(`rejected: ${problems.join('; ')}`),
  });
  out(`agent stand-in listening on ${server.address}${values.dir ? `, writing to ${values.dir}` : ''}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  out(`agent stand-in stopped after ${count} upload(s)`);
  return 0;
}

function wallProfilesIn(target: string): string[] {
  if (!fs.statSync(target).isDirectory()) return [target];
  return fs
    .readdirSync(target, { recursive: true, encoding: 'utf8' })
    .filter((name) => /(^|\/)wall[^/]*\.pprof$/.test(name))
    .sort()
    .map((name) => path.join(target, name));
}

function readProfile(file: string): Profile {
  const data = fs.readFileSync(file);
  return Profile.decode(data[0] === 0x1f && data[1] === 0x8b ? zlib.gunzipSync(data) : data);
}

function usageError(message: string): number {
  process.stderr.write(`span: ${message}\n` + USAGE);
  return 2;
}

function span(args: string[]): number {
  // A signed decimal id (as `go tool pprof` shows ids above 2^63) looks like an option to parseArgs.
  const signedId = args[0] !== undefined && /^-\d+$/.test(args[0]) ? args[0] : undefined;
  let parsed;
  try {
    parsed = parseArgs({ args: signedId ? args.slice(1) : args, allowPositionals: true, options: { top: { type: 'string' } } });
  } catch (error) {
    return usageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const [id, ...targets] = signedId ? [signedId, ...positionals] : positionals;
  if (!id || targets.length === 0) return usageError('a span or trace id and at least one profile file are required');
  const limit = values.top === undefined ? 20 : Number(values.top);
  if (!Number.isInteger(limit) || limit < 1) return usageError(`--top must be a positive integer, got ${JSON.stringify(values.top)}`);
  let query: SpanQuery;
  try {
    query = parseSpanQuery(id);
  } catch (error) {
    return usageError((error as Error).message);
  }
  const files = targets.flatMap(wallProfilesIn);
  const top = spanTop(files.map(readProfile), query);
  out(`${id} in ${files.length} profile(s): ${formatSpanTop(top, limit)}`);
  return top.samples > 0 ? 0 : 1;
}

const FILTER_OPTIONS = {
  type: { type: 'string' },
  span: { type: 'string' },
  trace: { type: 'string' },
  endpoint: { type: 'string' },
} as const;

function filterOf(values: { span?: string | undefined; trace?: string | undefined; endpoint?: string | undefined }): SampleFilter {
  return { span: values.span, trace: values.trace, endpoint: values.endpoint };
}

function commandError(command: string, message: string): number {
  process.stderr.write(`${command}: ${message}\n`);
  return 2;
}

/** A command's own failure (bad flag, unreadable input): `<command>: <message>` on stderr, exit 2. */
async function guarded(command: string, run: () => number | Promise<number>): Promise<number> {
  try {
    return await run();
  } catch (error) {
    return commandError(command, (error as Error).message);
  }
}

/** parseArgs with positionals; a bad flag is a usage error. */
function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, allowPositionals: true, options });
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${USAGE}`);
  }
}

function top(args: string[]): Promise<number> {
  return guarded('top', () => {
    const { values, positionals } = parse(args, { ...FILTER_OPTIONS, top: { type: 'string' }, json: { type: 'boolean' } });
    if (positionals.length === 0) throw new Error(`at least one folder or pprof file is required\n${USAGE}`);
    const limit = values.top === undefined ? 20 : Number(values.top);
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`--top must be a positive integer, got ${JSON.stringify(values.top)}`);
    const type = values.type ?? 'cpu';
    const result = topFunctions(loadProfiles(positionals), type, filterOf(values), limit);
    if (values.json) {
      out(JSON.stringify({ type, filter: filterOf(values), total: result.total, rows: result.rows }));
    } else {
      out(`${type}: total ${result.total}`);
      out(['self', 'self%', 'total', 'total%', 'function'].join('\t'));
      const pct = (v: number): string => (result.total > 0 ? ((100 * v) / result.total).toFixed(1) + '%' : '-');
      for (const row of result.rows) out([row.self, pct(row.self), row.total, pct(row.total), `${row.name}${row.file ? ' ' + row.file : ''}`].join('\t'));
    }
    return result.total > 0 ? 0 : 1;
  });
}

function convert(args: string[]): Promise<number> {
  return guarded('convert', () => {
    const { values, positionals } = parse(args, { ...FILTER_OPTIONS, to: { type: 'string' }, out: { type: 'string' } });
    if (values.to !== 'collapsed' && values.to !== 'speedscope') throw new Error(`--to must be collapsed or speedscope, got ${JSON.stringify(values.to)}`);
    if (positionals.length === 0) throw new Error('at least one folder or pprof file is required');
    const profiles = loadProfiles(positionals);
    const type = values.type ?? 'cpu';
    const text = values.to === 'collapsed' ? toCollapsed(profiles, type, filterOf(values)) : JSON.stringify(toSpeedscope(profiles, type, filterOf(values)));
    if (values.out) fs.writeFileSync(values.out, text);
    else process.stdout.write(text);
    return 0;
  });
}

function view(args: string[]): Promise<number> {
  return guarded('view', async () => {
    const { values, positionals } = parse(args, { port: { type: 'string' }, host: { type: 'string' } });
    if (positionals.length === 0) throw new Error('at least one folder or pprof file is required');
    const port = values.port === undefined ? 0 : Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0 to 65535, got ${JSON.stringify(values.port)}`);
    const host = values.host ?? '127.0.0.1';
    const server = await startViewServer({ targets: positionals, host, port });
    if (!/^(127\.|::1$|localhost$)/.test(host)) process.stderr.write(`view: warning: listening on ${host}, reachable from other machines\n`);
    out(`view: ${server.url}`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await server.close();
    return 0;
  });
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'agent') return agent(rest);
  if (command === 'span') return span(rest);
  if (command === 'top') return top(rest);
  if (command === 'convert') return convert(rest);
  if (command === 'view') return view(rest);
  process.stderr.write(command && command !== '--help' ? `unknown command ${JSON.stringify(command)}\n${USAGE}` : USAGE);
  return command && command !== '--help' ? 2 : 0;
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
