import { spawn } from 'node:child_process';

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
