// Source maps: a TypeScript module compiled at test time (tsc with sourceMap; esbuild bundles with inline and
// external maps; tsc output run under --enable-source-maps) is profiled, and its stacks must name
// src/orders.ts and its lines, not the generated JavaScript.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createRequire } from 'node:module';
import { Profiler } from '../../src/profiler';
import { FileExporter } from '../../src/export/file/file-exporter';
import { loadProfiles, stacksOf, topFunctions } from '../../src/inspect/profile-query';
import { REPO_ROOT, runNode } from '../helpers/child';

/** The compiled fixtures, loaded as CommonJS. */
const load = createRequire(__filename);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-source-maps-'));
const source = path.join(tmp, 'src', 'orders.ts');
const tsLines = fs.readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'ts-orders', 'src', 'orders.ts'), 'utf8').split('\n');
const PRICE_LINE_LINE = tsLines.findIndex((l) => l.startsWith('export function priceLine')) + 1;

before(() => {
  fs.cpSync(path.join(REPO_ROOT, 'test', 'fixtures', 'ts-orders', 'src'), path.join(tmp, 'src'), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'es2022', module: 'commonjs', sourceMap: true, rootDir: 'src', outDir: 'dist', strict: true, types: [] }, include: ['src'] }));
  execFileSync(process.execPath, [path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', tmp], { stdio: 'pipe' });
  const esbuild = path.join(REPO_ROOT, 'node_modules', '.bin', 'esbuild');
  for (const [mode, out] of [['inline', 'bundle-inline'], ['linked', 'bundle-linked'], ['external', 'bundle-external']]) {
    execFileSync(esbuild, [path.join(tmp, 'src', 'main.ts'), '--bundle', '--platform=node', '--format=cjs', `--sourcemap=${mode}`, `--outfile=${path.join(tmp, out, 'main.js')}`], { stdio: 'pipe' });
  }
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Profiles `run(millis)` of the module in a Profiler of its own; returns the folder it wrote and its stats. */
async function profile(label: string, run: () => void, sourceMaps = true) {
  const dir = path.join(tmp, `profiles-${label}`);
  const profiler = new Profiler({ applicationName: label, periodMillis: 60_000, sourceMaps, exporters: [new FileExporter({ dir })] });
  profiler.start();
  run();
  await profiler.stop();
  return { dir, stats: profiler.stats().sourceMaps };
}

/** The file and the lines the cpu samples give a function. */
function whereIs(dir: string, name: string): { files: string[]; lines: number[] } {
  const frames = stacksOf(loadProfiles([dir]), 'cpu').flatMap((s) => s.frames).filter((f) => f.name === name);
  return { files: [...new Set(frames.map((f) => f.file))], lines: [...new Set(frames.map((f) => f.line))] };
}

test('tsc with sourceMap: priceLine is src/orders.ts at its TypeScript line, not dist/orders.js', async (t) => {
  const orders = load(path.join(tmp, 'dist', 'orders.js')) as { priceOrder(lines: unknown[], millis: number): number };
  const lines = [{ quantity: 2, unitPrice: 3 }];
  const mapped = await profile('tsc', () => orders.priceOrder(lines, 300));
  assert.deepEqual(whereIs(mapped.dir, 'priceLine'), { files: [source], lines: [PRICE_LINE_LINE] });
  const top = topFunctions(loadProfiles([mapped.dir]), 'cpu', {}, 3).rows;
  assert.ok(top.some((r) => r.name === 'priceLine' && r.file === source), JSON.stringify(top));
  t.diagnostic(`top: ${top.map((r) => `${r.name} ${r.file.startsWith(tmp) ? path.relative(tmp, r.file) : r.file} self ${(r.self / 1e6).toFixed(0)} ms`).join('; ')}`);
  t.diagnostic(`source maps: ${JSON.stringify(mapped.stats)}`);

  const plain = await profile('tsc-off', () => orders.priceOrder(lines, 200), false);
  // The second run may have priceLine inlined into priceOrder (V8 has seen it by now): either names the file.
  const generated = [whereIs(plain.dir, 'priceLine'), whereIs(plain.dir, 'priceOrder')].flatMap((w) => w.files);
  assert.ok(generated.length > 0, 'the module is in the profile');
  assert.deepEqual([...new Set(generated)], [path.join(tmp, 'dist', 'orders.js')], 'sourceMaps: false keeps the generated file');
});

test('esbuild bundles, inline, linked and external maps (no comment, main.js.map beside it): each function back in src/orders.ts', async () => {
  for (const bundle of ['bundle-inline', 'bundle-linked', 'bundle-external']) {
    const main = load(path.join(tmp, bundle, 'main.js')) as { run(millis: number): number };
    const mapped = await profile(bundle, () => main.run(250));
    assert.deepEqual(whereIs(mapped.dir, 'priceLine'), { files: [source], lines: [PRICE_LINE_LINE] }, bundle);
    assert.ok((mapped.stats?.filesMapped ?? 0) >= 1, `${bundle}: the bundle's map`);
  }
  assert.ok(fs.existsSync(path.join(tmp, 'bundle-external', 'main.js.map')));
});

test('node --enable-source-maps: the map the runtime loaded is used as it is', async () => {
  const script = [
    "const { Profiler } = require('blackfire-otel-profiler');",
    "const { FileExporter } = require('blackfire-otel-profiler');",
    `const orders = require(${JSON.stringify(path.join(tmp, 'dist', 'orders.js'))});`,
    `const profiler = new Profiler({ applicationName: 'esm-flag', periodMillis: 60000, exporters: [new FileExporter({ dir: ${JSON.stringify(path.join(tmp, 'profiles-flag'))} })] });`,
    'profiler.start();',
    'orders.priceOrder([{ quantity: 2, unitPrice: 3 }], 250);',
    'profiler.stop().then(() => process.stdout.write(JSON.stringify(profiler.stats().sourceMaps)));',
  ].join('\n');
  const run = await runNode(['--enable-source-maps', '-e', script]);
  assert.equal(run.exit.code, 0, run.stderr);
  assert.deepEqual(whereIs(path.join(tmp, 'profiles-flag'), 'priceLine'), { files: [source], lines: [PRICE_LINE_LINE] });
});
