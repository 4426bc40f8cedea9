// The cost of source maps on a real bundle: @opentelemetry/sdk-node and its dependencies bundled by esbuild
// with an inline map (a few MB), then a period's profile naming --functions of its lines. Times the first load
// (read + parse, the async step outside the rotation), a later load (cached) and the rewrite (main thread).
// Usage: node build/bench/source-maps.js [--functions=2000]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Function as PprofFunction, Line, Location, Profile, StringTable } from 'pprof-format';
import { SourceMaps } from '../src/profile/source-maps';
import { printTable } from './harness';

const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const FUNCTIONS = Number(arg('functions') ?? 2000);
const root = path.resolve(__dirname, '..', '..');

function profileOf(file: string, lines: number[]): Profile {
  const strings = new StringTable();
  const functions = lines.map((line, i) => new PprofFunction({ id: i + 1, name: strings.dedup(`f${i}`), filename: strings.dedup(file), startLine: line }));
  const locations = lines.map((line, i) => new Location({ id: i + 1, line: [new Line({ functionId: i + 1, line })] }));
  return new Profile({ stringTable: strings, function: functions, location: locations });
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-bench-maps-'));
  try {
    const entry = path.join(dir, 'entry.js');
    fs.writeFileSync(entry, "module.exports = require('@opentelemetry/sdk-node');\n");
    const bundle = path.join(dir, 'bundle.js');
    execFileSync(path.join(root, 'node_modules', '.bin', 'esbuild'), [entry, '--bundle', '--platform=node', '--format=cjs', '--sourcemap=inline', `--outfile=${bundle}`], { cwd: root, stdio: 'pipe', env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') } });
    const size = fs.statSync(bundle).size;
    const lineCount = fs.readFileSync(bundle, 'utf8').split('\n').length;
    const lines = Array.from({ length: FUNCTIONS }, (_, i) => 1 + Math.floor((i * (lineCount - 2)) / FUNCTIONS));
    const maps = new SourceMaps();
    const first = profileOf(bundle, lines);
    let t0 = performance.now();
    await maps.load([first]);
    const firstLoad = performance.now() - t0;
    t0 = performance.now();
    const mapped = maps.apply(first);
    const firstApply = performance.now() - t0;
    const second = profileOf(bundle, lines);
    t0 = performance.now();
    await maps.load([second]);
    const cachedLoad = performance.now() - t0;
    t0 = performance.now();
    maps.apply(second);
    const secondApply = performance.now() - t0;
    console.log(`source maps on an esbuild bundle of @opentelemetry/sdk-node (${(size / 2 ** 20).toFixed(1)} MB with its inline map, ${lineCount} lines), ${process.version}`);
    printTable(
      ['profile functions', 'mapped', 'first load ms (read+parse)', 'rewrite ms', 'later load ms (cached)', 'later rewrite ms'],
      [[String(FUNCTIONS), String(mapped), firstLoad.toFixed(1), firstApply.toFixed(2), cachedLoad.toFixed(2), secondApply.toFixed(2)]],
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

void main();
