#!/usr/bin/env node
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { parseArgs } from 'node:util';
import { Profile } from 'pprof-format';
import { startAgentServer, summarizeUpload } from './agent/agent-server.js';
import { formatSpanTop, parseSpanQuery, spanTop } from './inspect/span-top.js';

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

function span(args: string[]): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { top: { type: 'string' } } });
  const [id, ...targets] = positionals;
  if (!id || targets.length === 0) {
    process.stderr.write('span: a span or trace id and at least one profile file are required\n' + USAGE);
    return 2;
  }
  const files = targets.flatMap(wallProfilesIn);
  const top = spanTop(files.map(readProfile), parseSpanQuery(id));
  out(`${id} in ${files.length} profile(s): ${formatSpanTop(top, Number(values.top ?? 20))}`);
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
