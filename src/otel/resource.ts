import type { Attributes } from '@opentelemetry/api';
import { detectResources, envDetector } from '@opentelemetry/resources';
import { configError } from '../config-error.js';
import { profilerDiag } from '../diag.js';

/** What the profiler reads of an OTel resource (`@opentelemetry/resources` 2.x and 3.x). */
export interface ResourceLike {
  readonly attributes: Attributes;
  readonly asyncAttributesPending?: boolean;
  waitForAsyncAttributes?(): Promise<void>;
  /** `@opentelemetry/resources`: the attributes as given, promises of async ones included (first one wins). */
  getRawAttributes?(): ReadonlyArray<readonly [string, unknown]>;
}

const isPromiseLike = (value: unknown): boolean => typeof (value as PromiseLike<unknown> | undefined)?.then === 'function';

/** A resource's attributes; of one whose async attributes are still pending, those already known. */
function knownAttributes(resource: ResourceLike | undefined): Attributes {
  if (!resource) return {};
  if (!resource.asyncAttributesPending) return resource.attributes;
  const known: Attributes = {};
  for (const [key, value] of resource.getRawAttributes?.() ?? []) {
    if (value != null && !isPromiseLike(value) && known[key] === undefined) known[key] = value as Attributes[string];
  }
  return known;
}

/**
 * Resource attributes sent as upload labels by default: `*` ends a prefix. Pass `resourceLabels` to narrow
 * or widen it, e.g. `[...DEFAULT_RESOURCE_LABELS, 'process.runtime.*']`.
 */
export const DEFAULT_RESOURCE_LABELS: readonly string[] = Object.freeze([
  'service.*',
  'deployment.*',
  'host.name',
  'k8s.*',
  'cloud.*',
  'container.*',
  'faas.*',
]);

const UNKNOWN_SERVICE = /^unknown_service(:|$)/;

export function validateResourceLabels(value: unknown): readonly string[] {
  if (value === undefined) return DEFAULT_RESOURCE_LABELS;
  if (!Array.isArray(value) || value.some((p) => typeof p !== 'string' || p === '')) {
    throw configError('resourceLabels', value, 'an array of attribute names or prefixes ending in *');
  }
  return value as string[];
}

export function isResourceLike(value: unknown): value is ResourceLike {
  if (typeof value !== 'object' || value === null) return false;
  // An SDK Resource: reading its attributes before its async ones settle logs a diag error.
  if (typeof (value as ResourceLike).waitForAsyncAttributes === 'function' && 'asyncAttributesPending' in value) return true;
  return typeof (value as ResourceLike).attributes === 'object';
}

function matches(key: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => (p.endsWith('*') ? key.startsWith(p.slice(0, -1)) : key === p));
}

/** The selected attributes as labels (values as strings; arrays joined with `;`). */
export function selectResourceLabels(attributes: Attributes, patterns: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || !matches(key, patterns)) continue;
    labels[key] = Array.isArray(value) ? value.join(';') : String(value);
  }
  // The names Blackfire's and Datadog's UIs filter on, derived from the selected attributes only.
  const env = labels['deployment.environment.name'] ?? labels['deployment.environment'];
  if (env !== undefined && labels.env === undefined) labels.env = env;
  const version = labels['service.version'];
  if (version !== undefined && labels.version === undefined) labels.version = version;
  return labels;
}

/** `service.name`, unless it is the SDK's `unknown_service:*` placeholder. */
export function serviceNameOf(attributes: Attributes): string | undefined {
  const name = attributes['service.name'];
  return typeof name === 'string' && name !== '' && !UNKNOWN_SERVICE.test(name) ? name : undefined;
}

/**
 * The resource the profiler labels its uploads with: the `resource` option, over the resource of the SDK
 * (seen on its spans), over the environment (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`).
 */
export class ResourceSource {
  private sdkResource: ResourceLike | undefined;
  private readonly envResource: ResourceLike;
  private gaveUpWaiting = false;

  constructor(private readonly optionResource: ResourceLike | undefined) {
    // Read when the Profiler is built, never at import time.
    this.envResource = detectResources({ detectors: [envDetector] });
  }

  /** The SDK's resource, from the first span the span processor sees. */
  observe(resource: ResourceLike | undefined): void {
    if (resource && !this.sdkResource) this.sdkResource = resource;
  }

  /** Waits (at most `timeoutMillis`) for asynchronous resource attributes (detectors) to settle. */
  async settle(timeoutMillis: number): Promise<void> {
    if (this.gaveUpWaiting) return; // once timed out, later periods use what is known without waiting again
    const pending = [this.envResource, this.sdkResource, this.optionResource].filter(
      (r): r is ResourceLike => r?.asyncAttributesPending === true && typeof r.waitForAsyncAttributes === 'function',
    );
    if (pending.length === 0) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMillis);
      timer.unref();
    });
    const outcome = await Promise.race([Promise.all(pending.map((r) => r.waitForAsyncAttributes!())), timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.gaveUpWaiting = true;
      profilerDiag().warn(`resource detectors did not settle within ${timeoutMillis} ms; uploading without their pending attributes`);
    }
  }

  /** The first real `service.name` in precedence order (option, SDK, environment). */
  serviceName(): string | undefined {
    for (const r of [this.optionResource, this.sdkResource, this.envResource]) {
      const name = serviceNameOf(knownAttributes(r));
      if (name) return name;
    }
    return undefined;
  }

  /** The merged attributes; of a resource whose async attributes are still pending, those already known. */
  attributes(): Attributes {
    const merged = { ...knownAttributes(this.envResource), ...knownAttributes(this.sdkResource), ...knownAttributes(this.optionResource) };
    // The unknown_service:* placeholder never wins over a real name, in the labels either.
    const name = this.serviceName();
    if (name !== undefined) merged['service.name'] = name;
    // With no real name at all, the placeholder is left out (as the application name leaves it out).
    else if (typeof merged['service.name'] === 'string' && UNKNOWN_SERVICE.test(merged['service.name'])) delete merged['service.name'];
    return merged;
  }
}
