#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { startAgentServer, summarizeUpload } from './agent/agent-server.js';

const USAGE = `Usage:
  blackfire-otel-profiler agent --listen <unix:///path | tcp://host:port> [--dir <folder>]
      A local stand-in for the Blackfire Agent: checks every upload, writes its event.json and pprof files
      to --dir (one folder per upload) and prints one line per upload.
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

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'agent') return agent(rest);
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
