// A stand-in agent that misbehaves on purpose, on a unix socket, one way per mode, switchable while it runs.
// Requests are read as real HTTP (headers, then Content-Length bytes); what comes back depends on the mode.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const FAULT_MODES = [
  'absent', // no socket file: ENOENT
  'refused', // a loopback port nobody listens on: ECONNREFUSED (tcp://)
  'never-answers', // reads the request, never answers
  'slow-drip', // answers 1 byte every 150 ms
  'http-404',
  'http-500',
  'http-429-retry-after', // 429 with Retry-After: 1
  'reset', // drops the connection once the request is in (a reset on tcp://; on a unix socket, a close)
  'garbage', // answers bytes that are not HTTP, then closes
  'ok-left-open', // a whole 200 answer, then the connection stays open
  'ok-body-never-ends', // 200, chunked, and the body never ends
] as const;
export type FaultMode = (typeof FAULT_MODES)[number] | 'ok';

export interface FaultAgent {
  readonly address: string;
  mode: FaultMode;
  /** Requests whose body arrived, per mode. */
  readonly requests: Map<FaultMode, number>;
  /** Times (epoch ms) of the requests that arrived, with the mode then. */
  readonly arrivals: Array<{ mode: FaultMode; atMillis: number; applicationName: string | undefined }>;
  close(): Promise<void>;
}

const RESPONSE_200 = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n';

/** On a unix socket, except for `refused`, which needs a loopback port (a unix socket file goes with its listener). */
export async function startFaultAgent(initial: FaultMode): Promise<FaultAgent & { setMode(mode: FaultMode): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-fault-'));
  const socketPath = path.join(dir, 'agent.sock');
  const tcp = initial === 'refused';
  let port = 0;
  if (tcp) {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  }
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let server: net.Server | undefined;
  const agent: FaultAgent = {
    address: tcp ? `tcp://127.0.0.1:${port}` : `unix://${socketPath}`,
    mode: initial,
    requests: new Map(),
    arrivals: [],
    close: async () => {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  const answer = (socket: net.Socket, mode: FaultMode): void => {
    switch (mode) {
      case 'ok':
        socket.end(RESPONSE_200);
        return;
      case 'never-answers':
        return;
      case 'slow-drip': {
        let i = 0;
        const timer = setInterval(() => {
          if (socket.destroyed) return clearInterval(timer);
          socket.write(RESPONSE_200[i++ % RESPONSE_200.length]!);
        }, 150);
        timers.add(timer);
        return;
      }
      case 'http-404':
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nnot found\n');
        return;
      case 'http-500':
        socket.end('HTTP/1.1 500 Internal Server Error\r\nContent-Length: 6\r\n\r\nerror\n');
        return;
      case 'http-429-retry-after':
        socket.end('HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 5\r\n\r\nslow\n');
        return;
      case 'reset':
        if (tcp) socket.resetAndDestroy();
        else socket.destroy();
        return;
      case 'garbage':
        socket.end('\x00\x01garbage, not HTTP\r\n\r\n');
        return;
      case 'ok-left-open':
        socket.write(RESPONSE_200);
        return;
      case 'ok-body-never-ends':
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nok\n\r\n');
        return;
      default:
        socket.destroy();
    }
  };

  const onConnection = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    let needed: number | undefined;
    let headerEnd = -1;
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (needed === undefined) {
        headerEnd = buffered.indexOf('\r\n\r\n');
        if (headerEnd < 0) return;
        const length = /content-length:\s*(\d+)/i.exec(buffered.subarray(0, headerEnd).toString('latin1'))?.[1];
        needed = headerEnd + 4 + Number(length ?? 0);
      }
      if (buffered.length < needed) return;
      const mode = agent.mode;
      agent.requests.set(mode, (agent.requests.get(mode) ?? 0) + 1);
      const body = buffered.subarray(headerEnd + 4).toString('latin1');
      const applicationName = /"application_name":"([^"]*)"/.exec(body)?.[1] ?? /application_name:([^,"]*)/.exec(body)?.[1];
      agent.arrivals.push({ mode, atMillis: Date.now(), applicationName });
      buffered = Buffer.alloc(0);
      needed = undefined;
      answer(socket, mode);
    });
  };

  /** Listening, or not (the socket file gone, or the port closed), as the mode needs. */
  const apply = async (mode: FaultMode): Promise<void> => {
    if (mode === 'absent' || mode === 'refused') {
      for (const socket of sockets) socket.destroy();
      if (server) await new Promise<void>((resolve) => server!.close(() => resolve()));
      server = undefined;
      if (!tcp) fs.rmSync(socketPath, { force: true });
      return;
    }
    if (!server) {
      server = net.createServer(onConnection);
      if (tcp) await new Promise<void>((resolve, reject) => server!.once('error', reject).listen(port, '127.0.0.1', resolve));
      else {
        fs.rmSync(socketPath, { force: true });
        await new Promise<void>((resolve) => server!.listen(socketPath, resolve));
      }
    }
  };
  await apply(initial);
  return Object.assign(agent, {
    async setMode(mode: FaultMode): Promise<void> {
      agent.mode = mode;
      await apply(mode);
    },
  });
}
