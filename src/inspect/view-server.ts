// `view`: a local web page over folders of profiles. Our page carries the controls (dimension, span, trace,
// endpoint, function search) and the top table; the flame graph is speedscope's (MIT, its built app served from
// the installed `speedscope` package, nothing fetched from the internet), loaded with the filtered selection
// through its `#profileURL=`. The folders are read again at every request, so new uploads appear as they land.
// GET only; loopback unless told otherwise.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { sampleTypesOf } from '../agent/upload-check.js';
import { resolvePackage } from '../collect/addon.cjs';
import { listPeriods, loadProfiles, parseTime, toSpeedscope, topFunctions, type LoadedProfile, type SampleFilter } from './profile-query.js';
import { VIEW_PAGE } from './view-page.js';

export interface ViewServerOptions {
  targets: readonly string[];
  host?: string;
  port?: number;
  /** Live use (`agent --view`): the folder may have no upload yet; the page waits for the first. */
  allowEmpty?: boolean;
}

export interface ViewServer {
  url: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** speedscope's built app, from the installed package. */
function speedscopeDir(): string {
  return path.join(path.dirname(resolvePackage('speedscope/package.json')), 'dist', 'release');
}

function filterFrom(params: URLSearchParams): SampleFilter {
  const get = (name: string): string | undefined => params.get(name)?.trim() || undefined;
  return { span: get('span'), trace: get('trace'), endpoint: get('endpoint'), thread: get('thread'), sinceMillis: parseTime('since', get('since')), untilMillis: parseTime('until', get('until')) };
}

/** The folders' profiles now; none yet is an answer, not an error, when live. */
function load(options: ViewServerOptions): LoadedProfile[] {
  return loadProfiles(options.targets, { allowEmpty: options.allowEmpty });
}

export async function startViewServer(options: ViewServerOptions): Promise<ViewServer> {
  load(options); // a clear error now, before listening, for a path that cannot work
  const assets = speedscopeDir();
  const send = (res: http.ServerResponse, status: number, type: string, body: string | Buffer): void => {
    res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' }).end(body);
  };
  const json = (res: http.ServerResponse, status: number, value: unknown): void => send(res, status, 'application/json', JSON.stringify(value));
  const server = http.createServer((req, res) => {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'read-only: GET only' });
      const url = new URL(req.url ?? '/', 'http://view.local');
      const type = url.searchParams.get('type')?.trim() || 'cpu';
      if (url.pathname === '/') return send(res, 200, TYPES['.html']!, VIEW_PAGE);
      if (url.pathname === '/api/summary') {
        const profiles = load(options);
        const types = [...new Set(profiles.flatMap((p) => sampleTypesOf(p.profile).map((t) => t.split('/')[0]!)))];
        const periods = listPeriods(profiles).map((p) => ({ ...p, period: path.basename(p.period) }));
        return json(res, 200, { files: profiles.length, types, periods });
      }
      if (url.pathname === '/api/top') {
        const limit = Math.min(200, Math.max(1, Number(url.searchParams.get('limit') ?? 30) || 30));
        const profiles = load(options);
        if (profiles.length === 0) return json(res, 200, { type, total: 0, rows: [], waiting: true });
        return json(res, 200, { type, ...topFunctions(profiles, type, filterFrom(url.searchParams), limit) });
      }
      if (url.pathname === '/api/speedscope') {
        const filter = filterFrom(url.searchParams);
        const title = [type, filter.endpoint, filter.span && `span ${filter.span}`, filter.trace && `trace ${filter.trace}`].filter(Boolean).join(' · ');
        return json(res, 200, toSpeedscope(load(options), type, filter, title));
      }
      if (url.pathname.startsWith('/speedscope/')) {
        const file = path.normalize(path.join(assets, decodeURIComponent(url.pathname.slice('/speedscope/'.length)) || 'index.html'));
        if (!file.startsWith(assets + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) return json(res, 404, { error: 'not found' });
        return send(res, 200, TYPES[path.extname(file)] ?? 'application/octet-stream', fs.readFileSync(file));
      }
      return json(res, 404, { error: `no page ${url.pathname}` });
    } catch (error) {
      // Bad input (a filter, a corrupt or vanished file): a clear answer, never a crash.
      return json(res, 400, { error: (error as Error).message });
    }
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(options.port ?? 0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
