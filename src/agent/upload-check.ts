import * as zlib from 'node:zlib';
import { Profile } from 'pprof-format';
import type { UploadEvent } from '../export/blackfire/event.js';
import type { ParsedPart } from './multipart-parser.js';

/** An upload the stand-in agent accepted: event.json and every pprof, decompressed and decoded. */
export interface ReceivedUpload {
  event: UploadEvent;
  /** The parts as sent (compressed pprof bytes). */
  files: Record<string, Buffer>;
  profiles: Record<string, Profile>;
  headers: Record<string, string | string[] | undefined>;
}

/** Sample types (`type/unit`) each attachment must have, in this order at least. */
const REQUIRED_SAMPLE_TYPES: Record<string, string[]> = {
  'wall.pprof': ['sample/count', 'wall/nanoseconds', 'cpu/nanoseconds'],
  'space.pprof': ['inuse_objects/count', 'inuse_space/bytes'],
};

const ISO_MILLIS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

function decompress(name: string, data: Buffer): Buffer {
  if (data[0] === 0x1f && data[1] === 0x8b) return zlib.gunzipSync(data);
  if (data.readUInt32LE(0) === 0xfd2fb528) {
    const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Buffer) => Buffer }).zstdDecompressSync;
    if (!zstd) throw new Error(`${name} is zstd-compressed but this runtime cannot decompress zstd`);
    return zstd(data);
  }
  throw new Error(`${name} is neither gzip nor zstd (first bytes ${data.subarray(0, 4).toString('hex')})`);
}

export function sampleTypesOf(profile: Profile): string[] {
  const strings = profile.stringTable.strings;
  return profile.sampleType.map((t) => `${strings[Number(t.type)]}/${strings[Number(t.unit)]}`);
}

function checkEvent(event: UploadEvent, problems: string[]): void {
  if (event.family !== 'node') problems.push(`event.family is ${JSON.stringify(event.family)}, not "node"`);
  if (event.version !== '4') problems.push(`event.version is ${JSON.stringify(event.version)}, not "4"`);
  if (!ISO_MILLIS.test(event.start) || !ISO_MILLIS.test(event.end)) problems.push('event.start/end are not ISO-8601 with milliseconds');
  else if (Date.parse(event.start) > Date.parse(event.end)) problems.push('event.start is after event.end');
  if (typeof event.tags_profiler !== 'string' || !/(^|,)application_name:[^,]+/.test(event.tags_profiler)) {
    problems.push('event.tags_profiler has no application_name');
  }
  if (typeof event.endpoint_counts !== 'object' || event.endpoint_counts === null) problems.push('event.endpoint_counts is not an object');
  if (!Array.isArray(event.attachments) || event.attachments.length === 0) problems.push('event.attachments is empty');
}

function checkProfile(name: string, data: Buffer, problems: string[]): Profile | undefined {
  let profile: Profile;
  try {
    profile = Profile.decode(decompress(name, data));
  } catch (error) {
    problems.push(`${name} does not decode: ${(error as Error).message}`);
    return undefined;
  }
  const types = sampleTypesOf(profile);
  const missing = (REQUIRED_SAMPLE_TYPES[name] ?? []).filter((t) => !types.includes(t));
  if (missing.length > 0) problems.push(`${name} lacks sample types ${missing.join(', ')} (has ${types.join(', ')})`);
  return profile;
}

/** Checks parsed parts against the intake contract; returns the upload, or the list of problems. */
export function checkUpload(
  parts: ParsedPart[],
  headers: ReceivedUpload['headers'],
): { upload: ReceivedUpload } | { problems: string[] } {
  const problems: string[] = [];
  const [first, ...rest] = parts;
  if (!first || first.name !== 'event' || first.filename !== 'event.json') {
    return { problems: ['the first part is not name="event"; filename="event.json"'] };
  }
  let event: UploadEvent;
  try {
    event = JSON.parse(first.data.toString('utf8')) as UploadEvent;
  } catch (error) {
    return { problems: [`event.json is not JSON: ${(error as Error).message}`] };
  }
  checkEvent(event, problems);
  const files: Record<string, Buffer> = {};
  const profiles: Record<string, Profile> = {};
  for (const part of rest) {
    if (part.name !== part.filename) problems.push(`part ${part.name} has filename ${String(part.filename)}`);
    files[part.name] = part.data;
    const profile = checkProfile(part.name, part.data, problems);
    if (profile) profiles[part.name] = profile;
  }
  for (const name of event.attachments ?? []) if (!files[name]) problems.push(`attachment ${name} is listed but not sent`);
  for (const name of Object.keys(files)) if (!event.attachments?.includes(name)) problems.push(`part ${name} is not listed in attachments`);
  return problems.length > 0 ? { problems } : { upload: { event, files, profiles, headers } };
}
