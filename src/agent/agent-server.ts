import * as http from 'node:http';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { parseAgentAddress } from '../export/agent-address.js';
import { makePeriodFolder, safeName } from '../export/file/file-exporter.js';
import { INTAKE_PATH } from '../export/blackfire/blackfire-exporter.js';
import { boundaryOf, parseMultipart } from './multipart-parser.js';
import { checkUpload, type ReceivedUpload } from './upload-check.js';
import { summarizeUpload } from './upload-summary.js';

export interface AgentServerOptions {
  /** `unix:///path` or `tcp://host:port` (port 0: any free port). */
  listen: string;
  /** Folder each upload is written to (a sub-folder per upload); none: keep nothing on disk. */
  dir?: string;
  /** Told of every accepted upload. */
  onUpload?: (upload: ReceivedUpload, savedTo: string | undefined) => void;
  /** Told of every rejected request, with why. */
  onReject?: (problems: string[]) => void;
  /** Largest body accepted, in bytes. Default 64 MiB. */
  maxBodyBytes?: number;
}

export interface AgentServer {
  /** The address to give the profiler (`agentSocket`). */
  readonly address: string;
  readonly uploads: ReceivedUpload[];
  close(): Promise<void>;
}


/** `dir/<parts...>`, each part made safe; refuses anything that would land outside `dir`. */
function inside(dir: string, ...parts: string[]): string {
  const root = path.resolve(dir);
  const target = path.resolve(root, ...parts.map(safeName));
  if (!target.startsWith(root + path.sep)) throw new Error(`refusing to write outside ${root}: ${target}`);
  return target;
}

async function save(dir: string, seq: number, upload: ReceivedUpload): Promise<string> {
  // Every name below comes from the upload: none may reach outside `dir` (`../`, `/`, NUL are made `_`).
  const app = /(?:^|,)application_name:([^,]*)/.exec(String(upload.event.tags_profiler))?.[1] ?? 'app';
  const folder = await makePeriodFolder(dir, app, String(upload.event.start), seq, (candidate) => inside(dir, path.basename(candidate)));
  await fs.writeFile(path.join(folder, 'event.json'), JSON.stringify(upload.event, null, 2) + '\n');
  for (const [name, data] of Object.entries(upload.files)) await fs.writeFile(inside(folder, name), data);
  return folder;
}

function readBody(req: http.IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
    });
    req.on('end', () => resolve(size <= maxBytes ? Buffer.concat(chunks) : undefined));
    req.on('error', reject);
  });
}

/**
 * A local stand-in for the Blackfire Agent's profiling intake: it checks each upload against the contract
 * (multipart layout, event.json, decodable pprofs with the right sample types), answers 200 or 400, and
 * keeps what it received.
 */
export async function startAgentServer(options: AgentServerOptions): Promise<AgentServer> {
  const address = parseAgentAddress(options.listen, 'listen', true);
  const uploads: ReceivedUpload[] = [];
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024 * 1024;
  let seq = 0;
  const reject = (res: http.ServerResponse, status: number, problems: string[]): void => {
    options.onReject?.(problems);
    res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ problems }));
  };
  const server = http.createServer((req, res) => {
    void (async () => {
      if (req.method !== 'POST' || req.url !== INTAKE_PATH) return reject(res, 404, [`no route ${req.method} ${req.url}`]);
      const boundary = boundaryOf(req.headers['content-type']);
      if (!boundary) return reject(res, 400, ['Content-Type is not multipart/form-data with a boundary']);
      const body = await readBody(req, maxBodyBytes);
      if (!body) return reject(res, 413, [`body larger than ${maxBodyBytes} bytes`]);
      let checked;
      try {
        checked = checkUpload(parseMultipart(body, boundary), req.headers);
      } catch (error) {
        return reject(res, 400, [`malformed multipart body: ${(error as Error).message}`]);
      }
      if ('problems' in checked) return reject(res, 400, checked.problems);
      seq++;
      uploads.push(checked.upload);
      const savedTo = options.dir ? await save(options.dir, seq, checked.upload) : undefined;
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      options.onUpload?.(checked.upload, savedTo);
    })().catch((error: Error) => reject(res, 500, [error.message]));
  });
  if (address.kind === 'unix') {
    await fs.rm(address.socketPath, { force: true });
    await new Promise<void>((resolve, rejectListen) => server.once('error', rejectListen).listen(address.socketPath, resolve));
  } else {
    const host = address.url.hostname.replace(/^\[|\]$/g, '');
    await new Promise<void>((resolve, rejectListen) =>
      server.once('error', rejectListen).listen(Number(address.url.port || 80), host, resolve),
    );
  }
  const bound = server.address();
  const display =
    address.kind === 'unix' ? address.display : `tcp://${address.url.hostname}:${(bound as AddressInfo).port}`;
  return {
    address: display,
    uploads,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export { summarizeUpload };
