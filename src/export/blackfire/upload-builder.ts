import * as os from 'node:os';
import type { ProfilePeriod } from '../../profile/period.js';
import type { EncodedUpload } from './blackfire-exporter.js';
import { encodePprof } from '../../profile/encode.js';
import { buildUploadEvent } from './event.js';
import { defaultTags, formatTagsProfiler, mergeTags } from './tags.js';

/** Encodes a period's pprofs (gzip, off the main thread) and builds its event.json: one upload. */
export async function buildUpload(period: ProfilePeriod): Promise<EncodedUpload> {
  const meta = {
    applicationName: period.applicationName,
    tags: mergeTags(
      defaultTags({
        applicationName: period.applicationName,
        hostname: period.hostname,
        probeVersion: period.probeVersion,
        nodeVersion: process.version,
        platform: process.platform,
        arch: process.arch,
        projectId: period.projectId,
      }),
      // Which process, and where in its life: 0 is its first upload; the one from stop() says it is the last.
      {
        process_id: String(process.pid),
        ...(period.sequence !== undefined ? { profile_seq: String(period.sequence) } : {}),
        ...(period.final ? { profile_final: 'true' } : {}),
      },
      period.labels,
    ),
    processStartMillis: period.processStartMillis,
    probeVersion: period.probeVersion,
    settings: period.settings,
  };
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
