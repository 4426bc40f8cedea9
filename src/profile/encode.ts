import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import type { Profile } from '../collect/pprof-bindings.js';

const gzip = promisify(zlib.gzip);

/**
 * Serialises a profile to the pprof protobuf and gzips it. The protobuf is written in chunks that yield to
 * the event loop, and gzip runs on libuv's thread pool: the main thread is only held for short slices.
 */
export async function encodePprof(profile: Profile): Promise<Buffer> {
  const raw = await profile.encodeAsync();
  return gzip(raw);
}
