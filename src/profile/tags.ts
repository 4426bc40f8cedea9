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

/** Later label sets win on a clash (defaults, then resource labels, then the user's labels). */
export function mergeTags(...sets: Array<Record<string, string>>): Record<string, string> {
  return Object.assign({}, ...sets) as Record<string, string>;
}

// The format has no escaping: `,` separates tags and `:` key from value, so neither may appear inside one.
const RESERVED = /[,:\r\n]/g;

export function sanitizeTagPart(part: string): string {
  return part.replace(RESERVED, '_');
}

/** `tags_profiler`: one string of comma-separated `key:value`. */
export function formatTagsProfiler(tags: Record<string, string>): string {
  return Object.entries(tags)
    .map(([key, value]) => `${sanitizeTagPart(key)}:${sanitizeTagPart(value)}`)
    .join(',');
}
