// `view`: the page over recorded profiles, through HTTP and in a real browser (Debian's Chromium driven by
// playwright-core). Two requests in their own server spans burn CPU in their own functions.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
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
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
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
