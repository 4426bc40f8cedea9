// One exporter interface, several exporters: each with its own queue, so a slow one never delays the others;
// chosen by the `exporters` option or OTEL_PROFILES_EXPORTER.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { setTimeout as sleep } from 'node:timers/promises';
import { Profile } from 'pprof-format';
import { Profiler } from '../../src/profiler';
import { ProfilerConfigError } from '../../src/config-error';
import { BlackfireExporter } from '../../src/export/blackfire/blackfire-exporter';
import { FileExporter } from '../../src/export/file/file-exporter';
import type { ProfileExporter } from '../../src/export/exporter';
import { startFaultAgent } from '../helpers/fault-agent';
import { startTestAgent } from '../helpers/agent';
import { readOptionsFromConfigFile } from '../../src/otel/config-file';
import { sampleTypesOf, totalFor } from '../helpers/pprof';
import { goMissing, goPprof } from '../helpers/go-pprof';
import '../helpers/short-periods';

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bf-exporters-'));
}

function burnInFileTest(millis: number): number {
  let x = 0;
  for (const end = Date.now() + millis; Date.now() < end; ) x += Math.sqrt(x + 1);
  return x;
}

test('FileExporter: each period in its own folder, wall.pprof and space.pprof gzipped, period.json beside them', async () => {
  const dir = tempDir();
  const profiler = new Profiler({ applicationName: 'file-app', labels: { team: 'core' }, periodMillis: 60_000, exporters: [new FileExporter({ dir })] });
  try {
    profiler.start();
    burnInFileTest(200);
    await profiler.stop();
    const [folder, ...more] = fs.readdirSync(dir);
    assert.equal(more.length, 0);
    assert.match(folder!, /^file-app-\d{8}T\d{6}Z-0001$/);
    const files = fs.readdirSync(path.join(dir, folder!)).sort();
    assert.deepEqual(files, ['period.json', 'space.pprof', 'wall.pprof']);
    const wall = Profile.decode(zlib.gunzipSync(fs.readFileSync(path.join(dir, folder!, 'wall.pprof'))));
    assert.deepEqual(sampleTypesOf(wall), ['sample/count', 'wall/nanoseconds', 'cpu/nanoseconds']);
    assert.ok(totalFor(wall, 'cpu/nanoseconds', 'burnInFileTest') > 50e6, 'the work is in the file');
    const described = JSON.parse(fs.readFileSync(path.join(dir, folder!, 'period.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(described.applicationName, 'file-app');
    assert.deepEqual((described.labels as Record<string, string>).team, 'core');
    assert.ok(typeof described.start === 'string' && typeof described.end === 'string');
    assert.equal(profiler.stats().uploadsSucceeded, 1);
    if (!goMissing()) goPprof('-raw', path.join(dir, folder!, 'wall.pprof'));
  } finally {
    await profiler.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('two exporters at once, the Blackfire Agent hanging: the file exporter still gets every period on time', async () => {
  const dir = tempDir();
  const agent = await startFaultAgent('never-answers');
  const profiler = new Profiler({
    applicationName: 'independent',
    periodMillis: 200,
    uploadTimeoutMillis: 2_000,
    exporters: [new BlackfireExporter({ agent: agent.address, uploadTimeoutMillis: 2_000 }), new FileExporter({ dir })],
  });
  try {
    profiler.start();
    await sleep(1_100);
    const written = fs.readdirSync(dir).length;
    assert.ok(written >= 4, `the file exporter wrote ${written} periods in 1.1 s while the agent hung`);
    assert.ok((agent.requests.get('never-answers') ?? 0) <= 1, 'one Blackfire upload at a time, still hanging');
  } finally {
    await profiler.stop();
    await agent.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('OTEL_PROFILES_EXPORTER: blackfire (default), file, a comma-separated list; anything else is refused, naming it', async () => {
  const saved = { exporter: process.env.OTEL_PROFILES_EXPORTER, dir: process.env.BLACKFIRE_CONPROF_FILE_DIR };
  const dir = tempDir();
  const agent = await startTestAgent();
  try {
    process.env.OTEL_PROFILES_EXPORTER = 'blackfire, file';
    process.env.BLACKFIRE_CONPROF_FILE_DIR = dir;
    const both = new Profiler({ applicationName: 'env-both', periodMillis: 60_000, agentSocket: agent.address });
    both.start();
    await both.stop();
    assert.equal(agent.uploads.length, 1, 'the agent got the period');
    assert.equal(fs.readdirSync(dir).length, 1, 'and so did the folder');
    process.env.OTEL_PROFILES_EXPORTER = 'otlp-or-something';
    assert.throws(() => new Profiler({ periodMillis: 60_000 }), (error: Error) => error instanceof ProfilerConfigError && /OTEL_PROFILES_EXPORTER/.test(error.message) && /otlp-or-something/.test(error.message));
  } finally {
    if (saved.exporter === undefined) delete process.env.OTEL_PROFILES_EXPORTER;
    else process.env.OTEL_PROFILES_EXPORTER = saved.exporter;
    if (saved.dir === undefined) delete process.env.BLACKFIRE_CONPROF_FILE_DIR;
    else process.env.BLACKFIRE_CONPROF_FILE_DIR = saved.dir;
    await agent.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the exporters option: a non-empty array of ProfileExporters with distinct names, else a clear error', () => {
  const fake = (name: string): ProfileExporter => ({ name, export: async () => ({ code: 'success', attempts: 1 }), forceFlush: async () => {}, shutdown: async () => {} });
  for (const bad of [[], 'file', [{}], [fake('a'), fake('a')]]) {
    assert.throws(() => new Profiler({ exporters: bad as never }), (error: Error) => error instanceof ProfilerConfigError && /exporters/.test(error.message), JSON.stringify(bad));
  }
  assert.doesNotThrow(() => new Profiler({ exporters: [fake('a'), fake('b')] }));
});

test('a ProfileExporter that throws or hangs costs its own periods only; stop() still resolves in time', async () => {
  const dir = tempDir();
  const throwing: ProfileExporter = { name: 'throwing', export: async () => Promise.reject(new Error('boom')), forceFlush: async () => Promise.reject(new Error('flush boom')), shutdown: async () => {} };
  const hanging: ProfileExporter = { name: 'hanging', export: () => new Promise(() => {}), forceFlush: () => new Promise(() => {}), shutdown: async () => {} };
  const profiler = new Profiler({ periodMillis: 200, uploadTimeoutMillis: 300, exporters: [throwing, hanging, new FileExporter({ dir })] });
  try {
    profiler.start();
    await sleep(700);
    const t0 = Date.now();
    await profiler.stop();
    assert.ok(Date.now() - t0 <= 400, `stop() took ${Date.now() - t0} ms`);
    assert.ok(fs.readdirSync(dir).length >= 3, 'the file exporter got its periods');
  } finally {
    await profiler.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('exporters by name, in the option and in OTEL_CONFIG_FILE (distribution.blackfire.exporters)', async () => {
  const dir = tempDir();
  const saved = process.env.BLACKFIRE_CONPROF_FILE_DIR;
  process.env.BLACKFIRE_CONPROF_FILE_DIR = path.join(dir, 'out');
  try {
    const file = path.join(dir, 'otel.yaml');
    fs.writeFileSync(file, 'file_format: "1.0"\ndistribution:\n  blackfire:\n    application_name: from-config\n    period_millis: 60000\n    exporters: [file]\n');
    const options = readOptionsFromConfigFile(file, {});
    assert.deepEqual(options.exporters, ['file']);
    const profiler = new Profiler(options);
    profiler.start();
    await profiler.stop();
    assert.match(fs.readdirSync(path.join(dir, 'out'))[0]!, /^from-config-/);
    assert.throws(() => new Profiler({ exporters: ['smoke-signals' as never] }), (e: Error) => e instanceof ProfilerConfigError && /exporters/.test(e.message));
  } finally {
    if (saved === undefined) delete process.env.BLACKFIRE_CONPROF_FILE_DIR;
    else process.env.BLACKFIRE_CONPROF_FILE_DIR = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('FileExporter: two writers of periods that start in the same second get their own folders', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-file-same-second-'));
  try {
    const period = (app: string) => ({
      startMillis: Date.parse('2026-12-01T12:00:00.100Z'), endMillis: Date.parse('2026-12-01T12:00:00.900Z'), wall: new Profile(), space: new Profile(),
      endpointCounts: {}, applicationName: app, hostname: 'h', projectId: undefined, labels: {}, resource: {}, processStartMillis: 0, probeVersion: 'test', settings: {},
    });
    const results = await Promise.all([new FileExporter({ dir }).export(period('same')), new FileExporter({ dir }).export(period('same'))]);
    assert.deepEqual(results.map((r) => r.code), ['success', 'success']);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['same-20261201T120000Z-0001', 'same-20261201T120000Z-0002'], 'none overwritten');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
