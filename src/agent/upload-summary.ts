import type { Profile } from 'pprof-format';
import { sampleTypesOf, type ReceivedUpload } from './upload-check.js';

/** Sum of one sample type over a profile's samples, or undefined if the profile does not have it. */
export function totalOf(profile: Profile, sampleType: string): number | undefined {
  const index = sampleTypesOf(profile).indexOf(sampleType);
  if (index < 0) return undefined;
  let total = 0;
  for (const sample of profile.sample) total += Number(sample.value[index]);
  return total;
}

function tag(upload: ReceivedUpload, key: string): string {
  return new RegExp(`(?:^|,)${key}:([^,]*)`).exec(upload.event.tags_profiler)?.[1] ?? '?';
}

const seconds = (nanos: number | undefined): string => `${((nanos ?? 0) / 1e9).toFixed(2)} s`;
const mebibytes = (bytes: number | undefined): string => `${((bytes ?? 0) / 1048576).toFixed(1)} MiB`;

/** One line describing an upload: application, period, sample counts and totals. */
export function summarizeUpload(upload: ReceivedUpload): string {
  const start = Date.parse(upload.event.start);
  const periodSeconds = ((Date.parse(upload.event.end) - start) / 1000).toFixed(1);
  const process = tag(upload, 'process_id');
  const seq = tag(upload, 'profile_seq');
  const where = process ? `; pid=${process} #${seq ?? '?'}${tag(upload, 'profile_final') === 'true' ? ' (last)' : ''}` : '';
  const parts = [`application=${tag(upload, 'application_name')}${where}`, `period=${upload.event.start} +${periodSeconds}s`];
  const wall = upload.profiles['wall.pprof'];
  if (wall) {
    parts.push(
      `wall.pprof: ${totalOf(wall, 'sample/count') ?? 0} samples, wall ${seconds(totalOf(wall, 'wall/nanoseconds'))}, cpu ${seconds(totalOf(wall, 'cpu/nanoseconds'))}`,
    );
  }
  const space = upload.profiles['space.pprof'];
  if (space) {
    let text = `space.pprof: ${space.sample.length} samples, inuse ${mebibytes(totalOf(space, 'inuse_space/bytes'))}`;
    const alloc = totalOf(space, 'alloc_space/bytes');
    if (alloc !== undefined) text += `, allocated ${mebibytes(alloc)}`;
    parts.push(text);
  }
  const endpoints = Object.keys(upload.event.endpoint_counts ?? {}).length;
  if (endpoints > 0) parts.push(`endpoints: ${endpoints}`);
  return parts.join('; ');
}
