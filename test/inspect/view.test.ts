// `view`: the page over recorded profiles, through HTTP and in a real browser (Debian's Chromium driven by
// playwright-core). Two requests in their own server spans burn CPU in their own functions.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { CLI } from '../helpers/cli';
import { context, trace, ROOT_CONTEXT, SpanKind, type Span } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { Profiler } from '../../src/profiler';
import { FileExporter } from '../../src/export/file/file-exporter';
import { loadProfiles, topFunctions } from '../../src/inspect/profile-query';
import { startViewServer, type ViewServer } from '../../src/inspect/view-server';

const CHROMIUM = '/usr/bin/chromium';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-view-'));
const artifacts = path.resolve(__dirname, '..', '..', '..', 'test-artifacts');
let server: ViewServer;
let spanB: Span;

function burnForViewA(millis: number): number {
  let x = 0;
  for (const end = Date.now() + millis; Date.now() < end; ) x += Math.sqrt(x + 1);
  return x;
}
function burnForViewB(millis: number): number {
  let x = 0;
  for (const end = Date.now() + millis; Date.now() < end; ) x += Math.cbrt(x + 2);
  return x;
}

async function launchChromium() {
  const { chromium } = await import('playwright-core');
  fs.mkdirSync(artifacts, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

before(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const profiler = new Profiler({ applicationName: 'view-app', periodMillis: 60_000, exporters: [new FileExporter({ dir })] });
  const tracer = new BasicTracerProvider({ spanProcessors: [profiler.spanProcessor() as never] }).getTracer('t');
  profiler.start();
  const spanA = tracer.startSpan('GET /a', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'http.route': '/a' } });
  context.with(trace.setSpan(ROOT_CONTEXT, spanA), () => burnForViewA(400));
  spanA.end();
  spanB = tracer.startSpan('GET /b', { kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET', 'http.route': '/b' } });
  context.with(trace.setSpan(ROOT_CONTEXT, spanB), () => burnForViewB(200));
  spanB.end();
  await profiler.stop();
  context.disable();
  server = await startViewServer({ targets: [dir] });
});

after(async () => {
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('HTTP: the page, the top table API (the same rows as top), speedscope assets; read-only; bad input is a 400, not a crash', async () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'loopback by default');
  const page = await fetch(server.url);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<iframe id="flame"/);
  const decimal = BigInt('0x' + spanB.spanContext().spanId).toString();
  const top = (await (await fetch(`${server.url}api/top?type=cpu&span=${decimal}&limit=10`)).json()) as { rows: unknown[] };
  assert.deepEqual(top.rows, JSON.parse(JSON.stringify(topFunctions(loadProfiles([dir]), 'cpu', { span: decimal }, 10).rows)));
  const assets = await fetch(`${server.url}speedscope/index.html`);
  assert.equal(assets.status, 200);
  assert.equal((await fetch(`${server.url}speedscope/..%2F..%2Fpackage.json`)).status, 404, 'nothing outside the assets folder');
  assert.equal((await fetch(server.url, { method: 'POST' })).status, 405, 'no write endpoints');
  const bad = await fetch(`${server.url}api/top?trace=xyz`);
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /--trace wants 32 hex digits/);
  assert.equal((await fetch(server.url)).status, 200, 'still serving');
  await assert.rejects(startViewServer({ targets: [path.join(dir, 'missing')] }), /no such file or folder/);
});

test('browser: the hottest function is in the flame graph and the table; a span filter narrows both to that request', { skip: fs.existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (.ci/run installs Debian's chromium)` }, async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
    const firstRows = async (): Promise<string[]> => {
      await page.waitForSelector('#top tbody tr');
      return page.$$eval('#top tbody tr td.fn', (cells) => cells.slice(0, 5).map((c) => c.textContent ?? ''));
    };
    const sandwichNames = async (): Promise<string> => {
      const frame = page.frameLocator('#flame');
      await frame.getByText('Sandwich').first().click();
      await frame.getByText('burnFor', { exact: false }).first().waitFor();
      return (await frame.locator('body').innerText()).slice(0, 20_000);
    };
    fs.mkdirSync(artifacts, { recursive: true });

    await page.goto(server.url);
    const all = await firstRows();
    assert.match(all[0]!, /^burnForViewA /, `the hottest function heads the table: ${all.join(' | ')}`);
    const unfiltered = await sandwichNames();
    assert.ok(unfiltered.includes('burnForViewA') && unfiltered.includes('burnForViewB'), 'both requests are in the flame graph');
    await page.screenshot({ path: path.join(artifacts, 'view-unfiltered.png') });
    const expected = topFunctions(loadProfiles([dir]), "cpu", {}, 5).rows.map((r) => (r.file ? `${r.name}  ${r.file}` : r.name));
    assert.deepEqual(all, expected, 'the table is what top gives for the same filters');

    const decimal = BigInt('0x' + spanB.spanContext().spanId).toString();
    await page.goto(`${server.url}?type=cpu&span=${decimal}`);
    const filtered = await firstRows();
    assert.match(filtered[0]!, /^burnForViewB /, filtered.join(' | '));
    assert.ok(!filtered.some((r) => r.startsWith('burnForViewA')), 'nothing of the other request');
    const narrowed = await sandwichNames();
    assert.ok(narrowed.includes('burnForViewB') && !narrowed.includes('burnForViewA'), 'the flame graph is narrowed to that span');
    assert.equal(await page.inputValue('#span'), decimal, 'the deep link filled the filter');
    await page.screenshot({ path: path.join(artifacts, 'view-span.png') });
  } finally {
    await browser.close();
  }
});

test('periods: the summary lists each upload, and since/until narrow the table to one', async () => {
  const summary = (await (await fetch(`${server.url}api/summary`)).json()) as { periods: Array<{ startMillis: number; endMillis: number; files: number }> };
  assert.equal(summary.periods.length, 1);
  const [p] = summary.periods;
  const inside = (await (await fetch(`${server.url}api/top?type=cpu&since=${p!.startMillis}&until=${p!.endMillis}`)).json()) as { total: number };
  const all = (await (await fetch(`${server.url}api/top?type=cpu`)).json()) as { total: number };
  assert.equal(inside.total, all.total);
  const before = await fetch(`${server.url}api/top?type=cpu&until=${p!.startMillis}`);
  assert.equal(before.status, 400);
  assert.match(((await before.json()) as { error: string }).error, /^no period between the first and /);
});

test('agent --view --open: the live page waits for the first upload, shows it without a restart, and BROWSER got the URL', async () => {
  const live = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-view-live-'));
  const socket = path.join(live, 'agent.sock');
  const opened = path.join(live, 'opened.txt');
  const browserScript = path.join(live, 'browser.sh');
  fs.writeFileSync(browserScript, `#!/bin/sh\nprintf '%s' "$1" > '${opened}'\n`, { mode: 0o755 });
  const env: NodeJS.ProcessEnv = { ...process.env, BROWSER: browserScript };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [CLI, 'agent', '--listen', `unix://${socket}`, '--dir', path.join(live, 'uploads'), '--view', '--open'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const guard = setTimeout(() => reject(new Error(`no view URL in 20 s: ${stdout} ${stderr}`)), 20_000);
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk;
        const match = /view: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
        if (match) {
          clearTimeout(guard);
          resolve(match[1]!);
        }
      });
      child.once('exit', (code) => reject(new Error(`agent exited (${code}): ${stderr}`)));
    });
    const waiting = (await (await fetch(`${url}api/top?type=cpu`)).json()) as { waiting?: boolean; rows: unknown[] };
    assert.deepEqual([waiting.waiting, waiting.rows.length], [true, 0], 'no upload yet: an answer, not an error');
    for (let i = 0; i < 50 && !fs.existsSync(opened); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(fs.readFileSync(opened, 'utf8'), url, '--open ran $BROWSER with the URL');

    // Where Chromium is, the page is open before the upload and must show it without a reload.
    const browser = fs.existsSync(CHROMIUM) ? await launchChromium() : undefined;
    try {
      const page = await browser?.newPage({ viewport: { width: 1400, height: 800 } });
      await page?.goto(url);
      await page?.locator('#status', { hasText: 'waiting for the first' }).waitFor({ timeout: 10_000 });
      const profiler = new Profiler({ applicationName: 'live-app', periodMillis: 60_000, agentSocket: `unix://${socket}` });
      profiler.start();
      burnForViewA(200);
      await profiler.stop();
      assert.equal(profiler.stats().uploadsSucceeded, 1);
      const top = (await (await fetch(`${url}api/top?type=cpu`)).json()) as { waiting?: boolean; rows: Array<{ name: string }> };
      assert.equal(top.waiting, undefined);
      assert.ok(top.rows.some((r) => r.name === 'burnForViewA'), 'the new upload is in the same running view');
      if (page) {
        await page.locator('#top td.fn', { hasText: 'burnForViewA' }).first().waitFor({ timeout: 15_000 });
        assert.match(await page.locator('#period').innerText(), /#1 /, 'the upload is in the period picker');
        await page.screenshot({ path: path.join(artifacts, 'view-live.png') });
      }
    } finally {
      await browser?.close();
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
    fs.rmSync(live, { recursive: true, force: true });
  }
});
