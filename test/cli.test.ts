// The CLI's conventions: help on stdout with exit 0 (-h, --help, help, <command> --help), usage on stderr with
// exit 2 for no arguments or a usage error, --version; the agent's messages.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROBE_VERSION } from '../src/version';
import { CLI, runCli } from './helpers/cli';

const COMMANDS = ['agent', 'span', 'top', 'convert', 'view'];

test('-h, --help and help print the usage of every command on stdout, exit 0', () => {
  for (const flag of ['-h', '--help', 'help']) {
    const r = runCli(flag);
    assert.equal(r.status, 0, flag);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /^Usage: blackfire-otel-profiler <command>/);
    for (const command of COMMANDS) assert.match(r.stdout, new RegExp(`\\n  blackfire-otel-profiler ${command} `), `${flag} lists ${command}`);
  }
});

test('<command> --help (and -h, and help <command>) prints that command\'s usage on stdout, exit 0', (t) => {
  for (const command of COMMANDS) {
    for (const args of [[command, '--help'], [command, '-h'], ['help', command], [command, 'some-folder', '--help']]) {
      const r = runCli(...args);
      assert.equal(r.status, 0, args.join(' '));
      assert.equal(r.stderr, '', args.join(' '));
      assert.ok(r.stdout.startsWith(`Usage:\n  blackfire-otel-profiler ${command} `), `${args.join(' ')}: ${r.stdout.slice(0, 80)}`);
      assert.doesNotMatch(r.stdout, new RegExp(`blackfire-otel-profiler (?!${command} )(${COMMANDS.join('|')}) `), 'only that command');
    }
    t.diagnostic(`${command} --help:\n${runCli(command, '--help').stdout}`);
  }
});

test('no arguments: the usage on stderr, exit 2; --version prints the version', () => {
  const none = runCli();
  assert.equal(none.status, 2);
  assert.equal(none.stdout, '');
  assert.match(none.stderr, /^Usage: blackfire-otel-profiler/);
  const version = runCli('--version');
  assert.deepEqual([version.status, version.stdout, version.stderr], [0, `${PROBE_VERSION}\n`, '']);
});

test('agent --listen with a bare path: one clear line naming --listen, with the unix:// form to use; no http(s)://', () => {
  const r = runCli('agent', '--listen', '/tmp/x.sock');
  assert.equal(r.status, 2);
  const [first] = r.stderr.split('\n');
  assert.equal(first, 'agent: --listen must be unix:///absolute/path or tcp://host:port, got "/tmp/x.sock" (did you mean unix:///tmp/x.sock?)');
  assert.doesNotMatch(r.stderr, /blackfire-otel-profiler: .*blackfire-otel-profiler:/, 'the program name once');
  assert.doesNotMatch(r.stderr, /https?:\/\//);
  assert.match(runCli('agent', '--listen', '127.0.0.1:8307').stderr, /did you mean tcp:\/\/127\.0\.0\.1:8307\?/);
  assert.match(runCli('agent').stderr, /^agent: --listen is required\n/);
});

test('agent without --dir says that it saves nothing', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-cli-agent-'));
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [CLI, 'agent', '--listen', `unix://${path.join(dir, 'a.sock')}`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('\n')) resolve(out.split('\n')[0]!);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    assert.match(line, /^agent stand-in listening on unix:\/\/.*; not saving uploads \(no --dir\)/);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
