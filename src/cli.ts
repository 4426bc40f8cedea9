#!/usr/bin/env node
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { parseArgs } from 'node:util';
import { Profile } from 'pprof-format';
import { startAgentServer, summarizeUpload } from './agent/agent-server.js';
import { formatSpanTop, parseSpanQuery, spanTop, type SpanQuery } from './inspect/span-top.js';

const USAGE = `Usage:
  blackfire-otel-profiler agent --listen <unix:///path | tcp://host:port> [--dir <folder>]
      A local stand-in for the Blackfire Agent: checks every upload, writes its event.json and pprof files
      to --dir (one folder per upload) and prints one line per upload.
  blackfire-otel-profiler span <span-id | local-root-span-id | trace-id> <wall.pprof | folder>... [--top N]
      The functions that burned the time of one span (with everything under it, when it is a local root)
      or of one trace, from uploaded wall.pprof files (gzipped or not; folders are searched for wall*.pprof).
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

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'agent') return agent(rest);
  if (command === 'span') return span(rest);
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
