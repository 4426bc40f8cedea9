import { spawn } from 'node:child_process';
import * as path from 'node:path';

export interface ChildResult {
  exit: { code: number | null; signal: NodeJS.Signals | null };
  stdout: string;
  stderr: string;
}

/**
 * Runs `node <args>` as a plain program (not a test file) to its end, killed after `timeoutMillis`; the agent
 * address reaches it as TEST_AGENT_SOCKET, and the profiler's own environment variables are cleared.
 */
export async function runNodeFixture(args: string[], agentAddress: string, timeoutMillis = 30_000): Promise<ChildResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, TEST_AGENT_SOCKET: agentAddress };
  delete env.NODE_TEST_CONTEXT;
  delete env.BLACKFIRE_AGENT_SOCKET;
  delete env.OTEL_CONFIG_FILE;
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = await new Promise<ChildResult['exit']>((resolve) => {
    const guard = setTimeout(() => child.kill('SIGKILL'), timeoutMillis);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal });
    });
  });
  return { exit, stdout, stderr };
}

export interface NodeRun extends ChildResult {
  /** From spawn to exit. */
  millis: number;
}

/** Environment variables of the test runner that would change what a child does. */
const RUNNER_ONLY = ['NODE_TEST_CONTEXT', 'NODE_OPTIONS', 'OTEL_CONFIG_FILE', 'OTEL_SERVICE_NAME', 'OTEL_RESOURCE_ATTRIBUTES', 'OTEL_LOG_LEVEL', 'BLACKFIRE_AGENT_SOCKET', 'BLACKFIRE_CONPROF_PERIOD', 'BLACKFIRE_CONPROF_APP_NAME', 'BLACKFIRE_CONPROF_ENABLED', 'PLATFORM_APPLICATION_NAME'];

/**
 * `node <args>` in `cwd` (default: the repository root, where the package's self-reference resolves), with the
 * runner's own variables cleared and `env` added; killed after `timeoutMillis`. `onStdout` sees the output as it
 * comes (to signal the child once it is ready).
 */
export async function runNode(args: string[], options: { env?: Record<string, string>; cwd?: string; timeoutMillis?: number; onStdout?: (all: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<NodeRun> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of RUNNER_ONLY) delete env[key];
  Object.assign(env, options.env);
  const started = Date.now();
  const child = spawn(process.execPath, args, { cwd: options.cwd ?? REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    options.onStdout?.(stdout, child);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = await new Promise<ChildResult['exit']>((resolve) => {
    const guard = setTimeout(() => child.kill('SIGKILL'), options.timeoutMillis ?? 30_000);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal });
    });
  });
  return { exit, stdout, stderr, millis: Date.now() - started };
}

/** The repository root (build/test/helpers is three levels down). */
export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
