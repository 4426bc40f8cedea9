import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { RateLimitedLog } from '../../diag.js';
import { encodePprof } from '../../profile/encode.js';
import type { ProfilePeriod } from '../../profile/period.js';
import type { ExportResult, ProfileExporter } from '../exporter.js';

export interface FileExporterOptions {
  /** The folder each period goes to, in a sub-folder of its own (made if missing). */
  dir: string;
  log?: RateLimitedLog;
}

/** A name safe as one path component: `../`, `/`, NUL and the like become `_`; never empty, `.` or `..`. */
export function safeName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
  return safe === '' || /^\.+$/.test(safe) ? '_' : safe;
}

/** One period's folder: `<app>-<start, 20261201T120000Z>-<seq, 0001>`, every part made safe. */
export function periodFolderName(applicationName: string, startIso: string, seq: number): string {
  const stamp = startIso.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${safeName(applicationName)}-${safeName(stamp)}-${String(seq).padStart(4, '0')}`;
}

/**
 * Makes one period's folder under `dir`, never reusing one: two writers in the same second (two processes, or
 * two profilers one after the other) each get their own, the later with the next free sequence number.
 */
export async function makePeriodFolder(dir: string, applicationName: string, startIso: string, seq: number, check: (folder: string) => string = (f) => f): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  for (let n = seq; n < seq + 10_000; n++) {
    const folder = check(path.join(dir, periodFolderName(applicationName, startIso, n)));
    try {
      await fs.mkdir(folder);
      return folder;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  throw new Error(`no free folder name for ${applicationName} at ${startIso} in ${dir}`);
}

/**
 * Writes each period to a folder: `<app>-<start>-<seq>/wall.pprof` and `space.pprof` (gzipped pprof, what
 * `go tool pprof` and the view read) and `period.json` (start, end, labels, endpoint counts, resource).
 */
export class FileExporter implements ProfileExporter {
  readonly name = 'file';
  private seq = 0;
  private readonly log: RateLimitedLog;

  constructor(private readonly options: FileExporterOptions) {
    if (typeof options?.dir !== 'string' || options.dir === '') throw new TypeError('FileExporter: dir must be a non-empty string');
    this.log = options.log ?? new RateLimitedLog();
  }

  async export(period: ProfilePeriod): Promise<ExportResult> {
    try {
      const [wall, space] = await Promise.all([encodePprof(period.wall), encodePprof(period.space)]);
      const folder = await makePeriodFolder(this.options.dir, period.applicationName, new Date(period.startMillis).toISOString(), ++this.seq);
      const described = {
        applicationName: period.applicationName,
        start: new Date(period.startMillis).toISOString(),
        end: new Date(period.endMillis).toISOString(),
        hostname: period.hostname,
        labels: period.labels,
        endpointCounts: period.endpointCounts,
        resource: period.resource,
        probeVersion: period.probeVersion,
        settings: period.settings,
      };
      await Promise.all([
        fs.writeFile(path.join(folder, 'wall.pprof'), wall),
        fs.writeFile(path.join(folder, 'space.pprof'), space),
        fs.writeFile(path.join(folder, 'period.json'), JSON.stringify(described, null, 2) + '\n'),
      ]);
      return { code: 'success', attempts: 1 };
    } catch (error) {
      const message = (error as Error)?.message ?? String(error);
      this.log.warn('file-write', `could not write the period's profiles to ${this.options.dir}: ${message}`);
      return { code: 'failure', attempts: 1, kind: 'file-write', message };
    }
  }

  async forceFlush(): Promise<void> {}

  async shutdown(): Promise<void> {}
}
