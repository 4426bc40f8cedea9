import * as os from 'node:os';
import type { Profile } from '../collect/pprof-bindings.js';
import type { EncodedUpload } from '../export/blackfire-exporter.js';
import { encodePprof } from './encode.js';
import { buildUploadEvent } from './event.js';
import { formatTagsProfiler } from './tags.js';

/** One period's raw profiles, just collected. */
export interface CollectedPeriod {
  startMillis: number;
  endMillis: number;
  wall: Profile;
  space: Profile;
  endpointCounts: Record<string, number>;
}

export interface UploadMetadata {
  applicationName: string;
  tags: Record<string, string>;
  processStartMillis: number;
  probeVersion: string;
  settings: Record<string, unknown>;
}

/** Encodes a period's pprofs (gzip, off the main thread) and builds its event.json: one upload. */
export async function buildUpload(period: CollectedPeriod, meta: UploadMetadata): Promise<EncodedUpload> {
  const [wall, space] = await Promise.all([encodePprof(period.wall), encodePprof(period.space)]);
  const event = buildUploadEvent({
    attachments: ['wall.pprof', 'space.pprof'],
    startMillis: period.startMillis,
    endMillis: period.endMillis,
    tagsProfiler: formatTagsProfiler(meta.tags),
    endpointCounts: period.endpointCounts,
    applicationName: meta.applicationName,
    processStartMillis: meta.processStartMillis,
    nodeVersion: process.version,
    availableProcessors: os.availableParallelism(),
    probeVersion: meta.probeVersion,
    settings: meta.settings,
  });
  return { event, files: [{ name: 'wall.pprof', data: wall }, { name: 'space.pprof', data: space }] };
}
