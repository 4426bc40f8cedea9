/** What the default labels are built from (all of it known when the Profiler is built). */
export interface TagSource {
  applicationName: string;
  hostname: string;
  probeVersion: string;
  nodeVersion: string;
  platform: string;
  arch: string;
  projectId?: string | undefined;
}

/** The labels Blackfire's probes send, in their order. */
export function defaultTags(source: TagSource): Record<string, string> {
  const tags: Record<string, string> = {
    application_name: source.applicationName,
    language: 'javascript',
    runtime: 'nodejs',
    runtime_os: source.platform,
    runtime_arch: source.arch,
    runtime_version: source.nodeVersion,
    host: source.hostname,
    probe_version: source.probeVersion,
    service: source.applicationName,
  };
  if (source.projectId) tags.project_id = source.projectId;
  return tags;
}

/**
 * Later label sets win on a clash (defaults, then resource labels, then the user's labels); a key keeps its first
 * position. Keys are compared as sent (after sanitising), so `a,b` and `a:b` are one key, not a duplicate.
 */
export function mergeTags(...sets: Array<Record<string, string>>): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const set of sets) {
    for (const [key, value] of Object.entries(set)) {
      // defineProperty: a key such as `__proto__` is an ordinary label, not a prototype change.
      Object.defineProperty(merged, sanitizeTagPart(key), { value, enumerable: true, writable: true, configurable: true });
    }
  }
  return merged;
}

// The format has no escaping: `,` separates tags and `:` key from value, so neither may appear inside one; nor
// may control characters.
// eslint-disable-next-line no-control-regex
const RESERVED = /[,:\u0000-\u001f\u007f]/g;

export function sanitizeTagPart(part: string): string {
  return part.replace(RESERVED, '_');
}

/** `tags_profiler`: one string of comma-separated `key:value`, each key once (the last value given wins). */
export function formatTagsProfiler(tags: Record<string, string>): string {
  const byKey = new Map<string, string>();
  for (const [key, value] of Object.entries(tags)) byKey.set(sanitizeTagPart(key), sanitizeTagPart(value));
  return [...byKey].map(([key, value]) => `${key}:${value}`).join(',');
}
