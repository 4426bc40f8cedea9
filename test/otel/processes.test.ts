// Processes and threads under `register`: every upload says which process (process_id) and where in its life
// (profile_seq from 0, profile_final on the last); cluster workers profile themselves (NODE_OPTIONS carries
// register) and their uploads never mix; worker threads under register are in their process's upload.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import type { ReceivedUpload } from '../../src/agent/upload-check';
import { summarizeUpload } from '../../src/agent/upload-summary';
import { startTestAgent, type TestAgent } from '../helpers/agent';
import { REPO_ROOT, runNode } from '../helpers/child';
import { labelsOf, totalFor } from '../helpers/pprof';

const fixtures = path.join(REPO_ROOT, 'test', 'fixtures');
let agent: TestAgent;
before(async () => {
  agent = await startTestAgent();
});
after(async () => {
  await agent?.close();
});

const tag = (upload: ReceivedUpload, key: string): string | undefined => new RegExp(`(?:^|,)${key}:([^,]*)`).exec(upload.event.tags_profiler)?.[1];

test('a cluster of 2 workers under NODE_OPTIONS=-r register: each process its own stream, told apart by process_id', async (t) => {
  const before = agent.uploads.length;
  const run = await runNode([path.join(fixtures, 'cluster-app.cjs')], {
    env: { NODE_OPTIONS: '-r blackfire-otel-profiler/register', BLACKFIRE_AGENT_SOCKET: agent.address, BLACKFIRE_CONPROF_APP_NAME: 'cluster' },
  });
  assert.equal(run.exit.code, 0, run.stderr);
  const { primary, workers } = JSON.parse(run.stdout) as { primary: number; workers: number[] };
  await agent.waitForUploads(before + 3, 10_000);
  const uploads = agent.uploads.slice(before);
  const byPid = new Map<string, ReceivedUpload[]>();
  for (const upload of uploads) byPid.set(tag(upload, 'process_id')!, [...(byPid.get(tag(upload, 'process_id')!) ?? []), upload]);
  assert.deepEqual([...byPid.keys()].sort(), [primary, ...workers].map(String).sort(), 'one stream per process: the primary and each worker');
  for (const pid of workers) {
    const stream = byPid.get(String(pid))!;
    assert.equal(stream.length, 1, `worker ${pid}: one upload (it lived 0.3 s)`);
    const [upload] = stream;
    assert.equal(tag(upload!, 'profile_seq'), '0', 'its first');
    assert.equal(tag(upload!, 'profile_final'), 'true', 'and its last');
    assert.ok(totalFor(upload!.profiles['wall.pprof']!, 'cpu/nanoseconds', 'burnInClusterWorker') > 100e6, `worker ${pid}'s own work, in its own upload`);
    t.diagnostic(`agent line: ${summarizeUpload(upload!)}`);
    assert.match(summarizeUpload(upload!), new RegExp(`pid=${pid} #0 \\(last\\)`), 'the stand-in agent shows them apart');
  }
  assert.equal(totalFor(byPid.get(String(primary))![0]!.profiles['wall.pprof']!, 'cpu/nanoseconds', 'burnInClusterWorker'), 0, 'no mixing');
});

test('worker threads under register (Worker taken before the profiler started): in the process\'s upload, by thread', async () => {
  const before = agent.uploads.length;
  const run = await runNode(['-r', 'blackfire-otel-profiler/register', path.join(fixtures, 'threads-under-register.cjs')], {
    env: { BLACKFIRE_AGENT_SOCKET: agent.address, BLACKFIRE_CONPROF_APP_NAME: 'threads' },
  });
  assert.equal(run.exit.code, 0, run.stderr);
  const { threads } = JSON.parse(run.stdout) as { threads: number[] };
  const [upload] = await agent.waitForUploads(before + 1, 10_000).then((all) => all.slice(before));
  const wall = upload!.profiles['wall.pprof']!;
  const cpuByThread = new Map<string, number>();
  const cpuAt = wall.sampleType.findIndex((vt) => wall.stringTable.strings[Number(vt.type)] === 'cpu');
  for (const sample of wall.sample) {
    const id = String(labelsOf(wall, sample)['thread id']);
    cpuByThread.set(id, (cpuByThread.get(id) ?? 0) + Number(sample.value[cpuAt]));
  }
  for (const id of threads) assert.ok((cpuByThread.get(String(id)) ?? 0) > 100e6, `thread ${id}: ${JSON.stringify([...cpuByThread])}`);
  assert.ok(totalFor(wall, 'cpu/nanoseconds', 'burnInRegisteredWorker') > 200e6);
});
