import * as fs from 'node:fs';
import * as yaml from 'yaml';
import { configError, ProfilerConfigError } from '../config-error.js';
import { nearestOption, readEnabled, resolveConfig, type ProfilerOptions, type Environment } from '../config.js';

/** What the file gives: the Profiler's options, and whether `register` should start at all. */
export type ConfigFileOptions = ProfilerOptions & { enabled?: boolean };

/** `distribution.blackfire` keys (snake_case, as in the OTel configuration schema) and the options they set. */
const KEYS: Record<string, keyof ConfigFileOptions> = {
  enabled: 'enabled',
  application_name: 'applicationName',
  period_millis: 'periodMillis',
  upload_timeout_millis: 'uploadTimeoutMillis',
  agent_socket: 'agentSocket',
  labels: 'labels',
  sampling_frequency_hz: 'samplingFrequencyHz',
  heap_interval_bytes: 'heapIntervalBytes',
  allocation_profiling: 'allocationProfiling',
  resource_labels: 'resourceLabels',
  source_maps: 'sourceMaps',
  worker_threads: 'workerThreads',
  // The file format has no profiles section yet (1.x: tracer, meter and logger providers only): where periods go
  // lives here, as names; the OTLP exporter then reads the standard OTEL_EXPORTER_OTLP_* variables.
  exporters: 'exporters',
};

/** A reference: `${NAME}`, `${env:NAME}`, with an optional `:-default` (the OTel configuration data model). */
const REFERENCE = /\$\{([^}]*)\}/g;
const REFERENCE_BODY = /^(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-([^\n]*))?$/;

/** Substitutes the references of one value; `$$` is a literal `$` that never starts a reference. */
function substituteValue(value: string, env: Environment, where: string): string {
  return value
    .split('$$')
    .map((chunk) =>
      chunk.replace(REFERENCE, (match: string, body: string) => {
        const reference = REFERENCE_BODY.exec(body);
        if (!reference) throw configError(where, match, 'a reference of the form ${NAME}, ${env:NAME} or ${NAME:-default}');
        const fromEnv = env[reference[1]!];
        return fromEnv !== undefined && fromEnv !== '' ? fromEnv : (reference[2] ?? '');
      }),
    )
    .join('$');
}

/** An unquoted substituted value reads as null, a boolean or a number when YAML says so; never as a structure. */
function typedScalar(text: string): unknown {
  let value: unknown;
  try {
    value = yaml.parse(text, { version: '1.2' });
  } catch {
    return text;
  }
  return value === null || typeof value === 'number' || typeof value === 'boolean' ? value : text;
}

/** `${VAR}`, `${env:VAR}` and `${VAR:-default}` in scalar values, `$$` for a literal `$` (the OTel configuration data model). */
function substituteEnv(doc: yaml.Document, env: Environment, file: string): void {
  yaml.visit(doc, {
    Scalar(key, node, path) {
      if (key === 'key' || typeof node.value !== 'string') return;
      const keys = path.filter(yaml.isPair).map((pair) => String(yaml.isScalar(pair.key) ? pair.key.value : pair.key));
      const substituted = substituteValue(node.value, env, `${file}: ${keys.join('.')}`);
      if (substituted === node.value) return;
      // An unquoted value takes the type it now reads as (`period_millis: ${PERIOD}` is a number).
      node.value = node.type === yaml.Scalar.PLAIN ? typedScalar(substituted) : substituted;
    },
  });
}

function resourceAttributes(resource: unknown, file: string): Record<string, unknown> | undefined {
  if (resource === undefined || resource === null) return undefined;
  const list = (resource as { attributes?: unknown }).attributes;
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) throw configError(`${file}: resource.attributes`, list, 'a list of {name, value}');
  const attributes: Record<string, unknown> = {};
  for (const entry of list as Array<{ name?: unknown; value?: unknown }>) {
    if (typeof entry?.name !== 'string') throw configError(`${file}: resource.attributes[].name`, entry?.name, 'a string');
    attributes[entry.name] = entry.value;
  }
  return attributes;
}

/**
 * Profiler options from an OpenTelemetry declarative configuration file (`OTEL_CONFIG_FILE`): its
 * `distribution.blackfire` section, and `resource.attributes` as the resource. Throws naming the bad key.
 */
export function readOptionsFromConfigFile(file: string, env: Environment = process.env): ConfigFileOptions {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw configError('env OTEL_CONFIG_FILE', file, `a readable file (${(error as Error).message})`);
  }
  const doc = yaml.parseDocument(text, { version: '1.2' });
  if (doc.errors.length > 0) throw configError('env OTEL_CONFIG_FILE', file, `valid YAML (${doc.errors[0]!.message})`);
  substituteEnv(doc, env, file);
  const model = (doc.toJS() ?? {}) as { file_format?: unknown; resource?: unknown; distribution?: { blackfire?: unknown } };
  if (typeof model.file_format !== 'string' || !/^1\.\d+(-[0-9A-Za-z.]+)?$/.test(model.file_format)) {
    throw configError(`${file}: file_format`, model.file_format, 'a "1.x" version string');
  }
  const options: Record<string, unknown> = {};
  const attributes = resourceAttributes(model.resource, file);
  if (attributes) options.resource = attributes;
  const section = model.distribution?.blackfire ?? {};
  if (typeof section !== 'object' || section === null || Array.isArray(section)) {
    throw configError(`${file}: distribution.blackfire`, section, 'a mapping');
  }
  const yamlKeyOf = new Map<string, string>();
  for (const [key, value] of Object.entries(section)) {
    const option = KEYS[key];
    if (!option) {
      throw configError(`${file}: distribution.blackfire.${key}`, value, `one of the known keys (did you mean ${nearestOption(key, Object.keys(KEYS))}? known: ${Object.keys(KEYS).join(', ')})`);
    }
    options[option] = value;
    yamlKeyOf.set(option, key);
  }
  // The same words as BLACKFIRE_CONPROF_ENABLED (`enabled: ${BLACKFIRE_CONPROF_ENABLED:-true}` may give `0` or `no`).
  if (options.enabled !== undefined && typeof options.enabled !== 'boolean') {
    if (typeof options.enabled !== 'string' && typeof options.enabled !== 'number') throw configError(`${file}: distribution.blackfire.enabled`, options.enabled, 'true or false');
    options.enabled = readEnabled(String(options.enabled), `${file}: distribution.blackfire.enabled`);
  }
  // Checked here, so that a bad value is named by its key in the file (period_millis), not by the code option.
  const profilerOptions: Record<string, unknown> = { ...options };
  delete profilerOptions.enabled;
  try {
    resolveConfig(profilerOptions as ProfilerOptions, env);
  } catch (error) {
    if (!(error instanceof ProfilerConfigError)) throw error;
    const named = /^blackfire-otel-profiler: (\w+)/.exec(error.message)?.[1];
    const key = named === undefined ? undefined : named === 'resource' ? 'resource.attributes' : yamlKeyOf.has(named) ? `distribution.blackfire.${yamlKeyOf.get(named)}` : undefined;
    if (key === undefined) throw error;
    throw new ProfilerConfigError(error.message.replace(`blackfire-otel-profiler: ${named}`, `blackfire-otel-profiler: ${file}: ${key}`));
  }
  return options as ConfigFileOptions;
}
