import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startAgentServer, type AgentServer } from '../../src/agent/agent-server';
import type { ReceivedUpload } from '../../src/agent/upload-check';

export interface TestAgent extends AgentServer {
  dir: string;
  rejections: string[][];
  /** Resolves once `count` uploads have arrived (rejects after `timeoutMillis`). */
  waitForUploads(count: number, timeoutMillis?: number): Promise<ReceivedUpload[]>;
}

/** The stand-in agent on a fresh unix socket (or loopback TCP with `tcp: true`), writing into a temp folder. */
export async function startTestAgent(options: { tcp?: boolean; saveFiles?: boolean } = {}): Promise<TestAgent> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-agent-'));
  const rejections: string[][] = [];
  const waiters: Array<() => void> = [];
  const server = await startAgentServer({
    listen: options.tcp ? 'tcp://127.0.0.1:0' : `unix://${path.join(dir, 'agent.sock')}`,
    dir: options.saveFiles ? path.join(dir, 'profiles') : undefined,
    onUpload: () => waiters.splice(0).forEach((wake) => wake()),
    onReject: (problems) => rejections.push(problems),
  });
  const waitForUploads = async (count: number, timeoutMillis = 20_000): Promise<ReceivedUpload[]> => {
    const deadline = Date.now() + timeoutMillis;
    while (server.uploads.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} uploads within ${timeoutMillis} ms, got ${server.uploads.length}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100).unref();
      });
    }
    return server.uploads.slice(0, count);
  };
  const closeServer = server.close;
  return Object.assign(server, {
    dir,
    rejections,
    waitForUploads,
    close: async () => {
      await closeServer();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  });
}
