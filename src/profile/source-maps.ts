// Stacks in the original sources: a period's profiles, whose functions V8 names by the JavaScript that ran
// (dist/orders.js:12), rewritten to what the source maps say (src/orders.ts:9). Maps are found lazily, for the
// files that show up in samples, read asynchronously outside the rotation, parsed with Node's own SourceMap,
// and cached; what the runtime already parsed (`--enable-source-maps`) is taken as it is. Rewriting is one
// lookup per function and per location, on the main thread, once per period.
import * as fs from 'node:fs/promises';
import * as nodeModule from 'node:module';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Profile } from '../collect/pprof-bindings.js';

type NodeSourceMap = InstanceType<typeof nodeModule.SourceMap>;

interface LoadedMap {
  map: NodeSourceMap;
  /** Where the map's `sources` are relative to (the map file's URL, with its sourceRoot). */
  base: URL | undefined;
}

/** `//# sourceMappingURL=...` (or `/*# ... *\/`) at the end of a generated file. */
const SOURCE_MAPPING_URL = /\/[*/][#@]\s*sourceMappingURL=([^\s'"*]+)[\s*/]*$/;
/** Larger files (or maps) are not read: a bundle's map over this is rare, and its cost would be too. */
const MAX_BYTES = 64 * 1024 * 1024;
/** At most this many generated files are remembered (with or without a map). */
const MAX_FILES = 10_000;

export interface SourceMapStats {
  /** Generated files looked at so far, and those that had a map. */
  filesSeen: number;
  filesMapped: number;
  /** Time to find, read and parse the maps of the last period's new files (async, mostly off the main thread). */
  lastLoadMillis: number;
  /** Main-thread time to rewrite the last period's profiles. */
  lastApplyMillis: number;
}

function isScriptFile(name: string): boolean {
  return name !== '' && !name.startsWith('node:') && (name.startsWith('/') || name.startsWith('file://') || /^[A-Za-z]:[\\/]/.test(name));
}

async function readBounded(file: string): Promise<string | undefined> {
  const stat = await fs.stat(file);
  if (!stat.isFile() || stat.size > MAX_BYTES) return undefined;
  return fs.readFile(file, 'utf8');
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then((stat) => stat.isFile(), () => false);
}

/** The map's JSON and its location, from a data: URL or a file next to the script. */
async function mapPayload(scriptPath: string, url: string): Promise<{ json: string; location: URL | undefined } | undefined> {
  if (url.startsWith('data:')) {
    const comma = url.indexOf(',');
    if (comma < 0) return undefined;
    const meta = url.slice(5, comma);
    const data = url.slice(comma + 1);
    const json = meta.endsWith(';base64') ? Buffer.from(data, 'base64').toString('utf8') : decodeURIComponent(data);
    return { json, location: pathToFileURL(scriptPath) };
  }
  const location = new URL(url, pathToFileURL(scriptPath));
  if (location.protocol !== 'file:') return undefined; // never fetched over the network
  const json = await readBounded(fileURLToPath(location));
  return json === undefined ? undefined : { json, location };
}

export class SourceMaps {
  private readonly maps = new Map<string, LoadedMap | null>();
  readonly stats: SourceMapStats = { filesSeen: 0, filesMapped: 0, lastLoadMillis: 0, lastApplyMillis: 0 };

  /** Finds and parses the maps of the profiles' files not seen before. Never rejects. */
  async load(profiles: readonly Profile[]): Promise<void> {
    const t0 = performance.now();
    const files = new Set<string>();
    for (const profile of profiles) {
      const strings = profile.stringTable.strings;
      for (const fn of profile.function) {
        const file = strings[Number(fn.filename)] ?? '';
        if (!this.maps.has(file) && isScriptFile(file)) files.add(file);
      }
    }
    await Promise.all([...files].map(async (file) => {
      if (this.maps.size >= MAX_FILES) return;
      let loaded: LoadedMap | null = null;
      try {
        loaded = await this.loadOne(file);
      } catch {
        loaded = null; // unreadable, no map, or a broken one: the generated names stay
      }
      this.maps.set(file, loaded);
      this.stats.filesSeen++;
      if (loaded) this.stats.filesMapped++;
    }));
    this.stats.lastLoadMillis = performance.now() - t0;
  }

  private async loadOne(file: string): Promise<LoadedMap | null> {
    // What the runtime parsed already (--enable-source-maps, or module.setSourceMapsSupport): its sources are
    // absolute URLs.
    const known = typeof nodeModule.findSourceMap === 'function' ? nodeModule.findSourceMap(file) : undefined;
    if (known) return { map: known, base: undefined };
    const scriptPath = file.startsWith('file://') ? fileURLToPath(file) : file;
    const text = await readBounded(scriptPath);
    if (text === undefined) return null;
    // No comment: a map beside the file (`orders.js.map`), as bundlers write it with external maps.
    const url = SOURCE_MAPPING_URL.exec(text.slice(-4096).trimEnd())?.[1] ?? (/\/[*/][#@]\s*sourceMappingURL=(data:[^\s'"*]+)/.exec(text)?.[1]) ?? (await exists(scriptPath + '.map') ? path.basename(scriptPath) + '.map' : undefined);
    if (!url) return null;
    const payload = await mapPayload(scriptPath, url);
    if (!payload) return null;
    const json = JSON.parse(payload.json) as { sourceRoot?: string };
    const root = json.sourceRoot ? (json.sourceRoot.endsWith('/') ? json.sourceRoot : json.sourceRoot + '/') : '';
    return { map: new nodeModule.SourceMap(json as never), base: payload.location ? new URL(root, payload.location) : undefined };
  }

  /** The original file (a path where it is a local file) and line of a generated line (1-based). */
  private original(loaded: LoadedMap, line: number, column: number): { file: string; line: number } | undefined {
    const entry = loaded.map.findEntry(line - 1, Math.max(0, column - 1)) as { generatedLine?: number; originalSource?: string; originalLine?: number };
    // findEntry answers with the nearest mapping before the position: only a mapping on the same line counts.
    if (entry?.originalSource === undefined || entry.originalLine === undefined || entry.generatedLine !== line - 1) return undefined;
    let file = entry.originalSource;
    try {
      const url = loaded.base ? new URL(file, loaded.base) : new URL(file);
      if (url.protocol === 'file:') file = fileURLToPath(url);
    } catch {
      // not a URL: as written in the map
    }
    return { file: path.normalize(file), line: entry.originalLine + 1 };
  }

  /** Rewrites functions and locations of files with a map to their original file and line; returns how many. */
  apply(profile: Profile): number {
    const t0 = performance.now();
    const strings = profile.stringTable.strings;
    const functions = new Map(profile.function.map((fn) => [Number(fn.id), fn]));
    const generatedFile = new Map<number, string>(profile.function.map((fn) => [Number(fn.id), strings[Number(fn.filename)] ?? '']));
    const rewritten = new Set<number>();
    let count = 0;
    for (const location of profile.location) {
      for (const line of location.line) {
        const id = Number(line.functionId);
        const loaded = this.maps.get(generatedFile.get(id) ?? '');
        if (!loaded) continue;
        const original = this.original(loaded, Number(line.line), Number(line.column));
        if (!original) continue;
        line.line = original.line;
        count++;
        const fn = functions.get(id);
        if (fn && !rewritten.has(id)) {
          rewritten.add(id);
          fn.filename = profile.stringTable.dedup(original.file);
          if (Number(fn.startLine) > 0) fn.startLine = this.original(loaded, Number(fn.startLine), 0)?.line ?? fn.startLine;
        }
      }
    }
    this.stats.lastApplyMillis = performance.now() - t0;
    return count;
  }
}
