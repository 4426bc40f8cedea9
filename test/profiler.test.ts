// End to end: a real Profiler samples real work and uploads to the stand-in agent (real HTTP on a unix socket,
// or loopback TCP), which parses the multipart body and decodes the pprofs. What is checked is what a user of
// Blackfire would see: one upload per period, covering consecutive periods, with the labels and sample types
// the agent expects, in pprof files that Go's own pprof tool reads.
import { after, before, describe, test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Profiler } from '../src/profiler';
import { PROBE_VERSION } from '../src/version';
import type { ReceivedUpload } from '../src/agent/upload-check';
import { startTestAgent, type TestAgent } from './helpers/agent';
import { sampleTypesOf, total, totalFor } from './helpers/pprof';
import { goMissing, goPprof } from './helpers/go-pprof';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const WALL_TYPES = ['sample/count', 'wall/nanoseconds', 'cpu/nanoseconds'];
// The order of the space types is @datadog/pprof's (inuse/alloc objects, then inuse/alloc space on Node >= 26);
// consumers find a type by name, so only the set is checked.
const SPACE_TYPES =
  NODE_MAJOR >= 26
    ? ['inuse_objects/count', 'inuse_space/bytes', 'alloc_objects/count', 'alloc_space/bytes']
    : ['inuse_objects/count', 'inuse_space/bytes'];

let sink = 0;

/** Burns CPU for `millis`: the work the uploads must show. */
function busyWork(millis: number): void {
  const end = performance.now() + millis;
  let x = sink | 1;
  while (performance.now() < end) {
    for (let i = 0; i < 10_000; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  }
  sink ^= x;
}

/**
 * The same, for the TCP test. Not busyWork: V8's CPU profiler does not know code that V8 compiled on-stack
 * (OSR) before the profiler started (here, in the previous test's session), and charges its samples to the
 * caller; a function first run under this session's profiler has a name in its samples.
 */
function busyWorkOverTcp(millis: number): void {
  const end = performance.now() + millis;
  let x = sink | 1;
  while (performance.now() < end) {
    for (let i = 0; i < 10_000; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  }
  sink ^= x;
}

/** Busy slices of 40 ms for `millis`, yielding between them so the profiler's timers and uploads run. */
async function workFor(millis: number, work: (millis: number) => void = busyWork): Promise<void> {
  const end = performance.now() + millis;
  for (let slice = 0; slice < 1000 && performance.now() < end; slice++) {
    work(40);
    await yieldToEventLoop();
  }
}

/** `tags_profiler` as key -> value; every tag must be exactly one `key:value` (nothing raw inside). */
function parseTags(tagsProfiler: string): Map<string, string> {
  const tags = new Map<string, string>();
  for (const tag of tagsProfiler.split(',')) {
    const parts = tag.split(':');
    assert.equal(parts.length, 2, `tag ${JSON.stringify(tag)} of ${JSON.stringify(tagsProfiler)} is not one key:value`);
    assert.ok(!tags.has(parts[0]!), `tag ${parts[0]} is sent twice in ${JSON.stringify(tagsProfiler)}`);
    tags.set(parts[0]!, parts[1]!);
  }
  return tags;
}

describe('a profiler with a 1 s period, on a unix socket', () => {
  let agent: TestAgent;
  let uploads: ReceivedUpload[] = [];
  let periodsBeforeStop = 0;

  before(async () => {
    agent = await startTestAgent({ saveFiles: true });
    const profiler = new Profiler({
      applicationName: 'e2e-checkout',
      agentSocket: agent.address,
      periodMillis: 1000,
      labels: { team: 'pay,ments:eu', 'zone:name': 'west', host: 'label-host' },
    });
    profiler.start();
    await workFor(2500);
    // Periods end at ~1 s and ~2 s; the second one's upload may still be on its way.
    await agent.waitForUploads(2, 5000);
    periodsBeforeStop = profiler.stats().periodsCollected;
    await profiler.stop();
    uploads = agent.uploads;
  });

  after(async () => {
    await agent?.close();
  });

  test('uploads once per period while running, then once more on stop()', () => {
    assert.deepEqual(agent.rejections, []);
    assert.ok(periodsBeforeStop >= 2, `expected >= 2 periods in ~2.5 s with a 1 s period, got ${periodsBeforeStop}`);
    assert.equal(uploads.length, periodsBeforeStop + 1, 'each period uploaded once, plus the final one from stop()');
  });

  test('periods are consecutive: each one ends where the next one starts, non-final ones last ~1 s', () => {
    assert.ok(uploads.length >= 3);
    for (let i = 0; i + 1 < uploads.length; i++) {
      const { start, end } = uploads[i]!.event;
      assert.equal(end, uploads[i + 1]!.event.start, `period ${i} ends at ${end}, period ${i + 1} starts at ${uploads[i + 1]!.event.start}`);
      const millis = Date.parse(end) - Date.parse(start);
      assert.ok(millis >= 950 && millis <= 3000, `period ${i} lasted ${millis} ms, expected ~1000`);
    }
    const last = uploads.at(-1)!.event;
    assert.ok(Date.parse(last.end) >= Date.parse(last.start));
  });

  test('event.json: attachments wall.pprof + space.pprof, family node, version 4', () => {
    for (const upload of uploads) {
      assert.deepEqual(upload.event.attachments, ['wall.pprof', 'space.pprof']);
      assert.deepEqual(Object.keys(upload.files).sort(), ['space.pprof', 'wall.pprof']);
      assert.equal(upload.event.family, 'node');
      assert.equal(upload.event.version, '4');
    }
  });

  test('tags_profiler: default labels, then user labels (sanitised, winning over a default)', () => {
    for (const upload of uploads) {
      const tags = parseTags(upload.event.tags_profiler);
      assert.equal(tags.get('application_name'), 'e2e-checkout');
      assert.equal(tags.get('language'), 'javascript');
      assert.equal(tags.get('runtime'), 'nodejs');
      assert.equal(tags.get('runtime_os'), process.platform);
      assert.equal(tags.get('runtime_arch'), process.arch);
      assert.equal(tags.get('runtime_version'), process.version);
      assert.equal(tags.get('probe_version'), PROBE_VERSION);
      // A user label named like a default wins over it (and is sent once).
      assert.equal(tags.get('host'), 'label-host');
      // `,` and `:` cannot be escaped in this format: they are replaced, in values and in keys.
      assert.equal(tags.get('team'), 'pay_ments_eu');
      assert.equal(tags.get('zone_name'), 'west');
    }
  });

  test('sample types: wall.pprof has count/wall/cpu, space.pprof has inuse (+ alloc on Node >= 26)', () => {
    for (const upload of uploads) {
      assert.deepEqual(sampleTypesOf(upload.profiles['wall.pprof']!), WALL_TYPES);
      assert.deepEqual(sampleTypesOf(upload.profiles['space.pprof']!).sort(), [...SPACE_TYPES].sort());
    }
  });

  test('the work done shows in the wall and CPU time of each full period', () => {
    for (const upload of uploads.slice(0, -1)) {
      const wall = upload.profiles['wall.pprof']!;
      const cpuSeconds = totalFor(wall, 'cpu/nanoseconds', 'busyWork') / 1e9;
      const wallSeconds = totalFor(wall, 'wall/nanoseconds', 'busyWork') / 1e9;
      // ~1 s periods spent mostly in busyWork (40 ms slices with short yields between them).
      assert.ok(wallSeconds >= 0.5 && wallSeconds <= 1.5, `busyWork wall ${wallSeconds.toFixed(3)} s in a ~1 s period`);
      assert.ok(cpuSeconds >= 0.2, `busyWork CPU ${cpuSeconds.toFixed(3)} s in a ~1 s period`);
    }
  });

  test('go tool pprof -raw reads every uploaded pprof, with the same totals', (t) => {
    // .ci/run installs Go (Debian golang-go), so in CI a missing `go` fails; elsewhere the test says why it skips.
    const missing = goMissing();
    if (missing) {
      t.skip(missing);
      return;
    }
    const profilesDir = path.join(agent.dir, 'profiles');
    const folders = fs.readdirSync(profilesDir).sort();
    assert.equal(folders.length, uploads.length, `one folder per upload in ${profilesDir}`);
    for (const [i, folder] of folders.entries()) {
      assert.match(folder, /^e2e-checkout-\d{8}T\d{6}Z-\d{4}$/);
      for (const name of ['wall.pprof', 'space.pprof']) {
        const file = path.join(profilesDir, folder, name);
        const raw = parseRawPprof(goPprof('-raw', file));
        const profile = uploads[i]!.profiles[name]!;
        const types = sampleTypesOf(profile);
        assert.deepEqual(raw.sampleTypes, types, `${file}: sample types as go reads them`);
        if (name === 'wall.pprof') assert.equal(raw.defaultType, 'wall/nanoseconds', 'wall.pprof opens on wall time');
        assert.ok(raw.rows.length > 0, `${file}: go reads no samples`);
        for (const [column, type] of types.entries()) {
          const goTotal = raw.rows.reduce((sum, row) => sum + row[column]!, 0);
          assert.equal(goTotal, total(profile, type), `${file}: total ${type} as go reads it`);
        }
      }
    }
  });
});

test('uploads to an agent on loopback TCP (tcp://127.0.0.1:port)', async () => {
  const agent = await startTestAgent({ tcp: true });
  try {
    assert.match(agent.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    const profiler = new Profiler({ applicationName: 'e2e-tcp', agentSocket: agent.address, periodMillis: 60_000 });
    profiler.start();
    await workFor(300, busyWorkOverTcp);
    await profiler.stop();
    const [upload] = await agent.waitForUploads(1, 5000);
    assert.deepEqual(agent.rejections, []);
    assert.equal(agent.uploads.length, 1);
    assert.equal(parseTags(upload!.event.tags_profiler).get('application_name'), 'e2e-tcp');
    assert.deepEqual(sampleTypesOf(upload!.profiles['wall.pprof']!), WALL_TYPES);
    assert.ok(totalFor(upload!.profiles['wall.pprof']!, 'cpu/nanoseconds', 'busyWorkOverTcp') > 0, 'busyWorkOverTcp is in the profile');
    assert.equal(profiler.stats().uploadsSucceeded, 1);
  } finally {
    await agent.close();
  }
});

// --- go tool pprof ---------------------------------------------------------------------------------------------

/** The sample types and the value columns of the samples in `go tool pprof -raw` output. */
function parseRawPprof(output: string): { sampleTypes: string[]; defaultType: string | undefined; rows: number[][] } {
  const lines = output.split('\n');
  const at = lines.indexOf('Samples:');
  assert.ok(at >= 0, `no "Samples:" section in go tool pprof -raw output:\n${output.slice(0, 500)}`);
  // go marks the default sample type `wall/nanoseconds[dflt]`.
  const marked = lines[at + 1]!.trim().split(/\s+/);
  const sampleTypes = marked.map((t) => t.replace(/\[dflt\]$/, ''));
  const defaultType = marked.find((t) => t.endsWith('[dflt]'))?.replace(/\[dflt\]$/, '');
  const rows: number[][] = [];
  for (const line of lines.slice(at + 2)) {
    if (/^\S/.test(line)) break; // the next section (Locations, Mappings)
    const values = /^\s*(-?\d+(?:\s+-?\d+)*):/.exec(line)?.[1];
    if (values) rows.push(values.split(/\s+/).map(Number));
  }
  return { sampleTypes, defaultType, rows };
}
