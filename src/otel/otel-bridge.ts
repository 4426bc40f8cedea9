import { trace, type Attributes, type Context } from '@opentelemetry/api';
import { configError } from '../config-error.js';
import type { GenerateLabels } from '../collect/pprof-bindings.js';
import type { ContextHolders } from '../collect/context-store.js';
import type { HandOffMode } from '../collect/time-sampler.js';
import { ContextHook, NO_SPAN } from './context-hook.js';
import { EndpointCounts } from './endpoint-counts.js';
import { isResourceLike, ResourceSource, selectResourceLabels, validateResourceLabels, type ResourceLike } from './resource.js';
import { endpointOf, sampleLabels, spanIdToNum, type SampleContext, type SpanLike } from './span-context.js';
import { SpanRegistry } from './span-registry.js';
import { profilerDiag } from '../diag.js';

/** An HTTP server span (it has a method) with no `http.route`: its endpoint is only the method, or the span name. */
function isHttpWithoutRoute(span: SpanLike): boolean {
  const attributes = span.attributes ?? {};
  const route = attributes['http.route'];
  return (attributes['http.request.method'] ?? attributes['http.method']) !== undefined && (typeof route !== 'string' || route === '');
}

import { PROFILE_ATTRIBUTE } from './profile-attribute.js';
export { PROFILE_ATTRIBUTE };

export interface OtelBridgeOptions {
  resource?: ResourceLike | Attributes | undefined;
  resourceLabels?: readonly string[] | undefined;
  handOff: HandOffMode;
}

type EndableSpan = SpanLike & { end?: (...args: unknown[]) => unknown };

function readResourceOption(value: unknown): ResourceLike | undefined {
  if (value === undefined) return undefined;
  if (isResourceLike(value)) return value;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return { attributes: value as Attributes };
  throw configError('resource', value, 'an OpenTelemetry Resource or an object of attributes');
}

/** Everything the profiler takes from OpenTelemetry: span hand-off, sample labels, endpoints, resource. */
export class OtelBridge {
  readonly resource: ResourceSource;
  private readonly resourceLabelPatterns: readonly string[];
  private readonly registry = new SpanRegistry();
  private readonly endpoints = new EndpointCounts();
  private readonly hook: ContextHook;
  private enabled = false;
  private processorSeen = false;
  private routeWarned = false;

  constructor(options: OtelBridgeOptions) {
    this.resourceLabelPatterns = validateResourceLabels(options.resourceLabels);
    this.resource = new ResourceSource(readResourceOption(options.resource));
    this.hook = new ContextHook({
      sampleContextOf: (span) => this.registry.contextOf(span),
      handOff: options.handOff,
    });
    this.registry.onLocalRoot = (root) => this.onLocalRoot(root);
  }

  /** Starts the span hand-off; the context-store hand-off needs the running sampler's holders. */
  enable(holders?: ContextHolders): void {
    this.enabled = true;
    this.hook.enable(holders);
  }

  disable(): void {
    this.enabled = false;
    this.hook.disable();
  }

  /** From the span processor. */
  onSpanStart(span: SpanLike & { resource?: ResourceLike }, parentContext: Context): void {
    if (!this.enabled) return;
    if (!this.processorSeen) {
      this.processorSeen = true;
      this.registry.stopInferringParents();
    }
    this.resource.observe(span.resource);
    if (!this.hook.installed) this.hook.installOnGlobal();
    this.registry.registerStart(span, trace.getSpan(parentContext));
  }

  /** From the span processor: counts finished local-root server spans per endpoint. */
  onSpanEnd(span: SpanLike): void {
    if (!this.enabled) return;
    if (this.registry.peekRoot(span) === span) this.countEndpoint(span);
  }

  /**
   * Labels of one sample, at rotation: its span's, built once per span and period (kept once the local root has
   * ended; while it is open its route may yet be set). Samples outside spans carry none.
   */
  readonly generateLabels: GenerateLabels = ({ context }) => {
    const span = context?.context as SampleContext | undefined;
    if (span === undefined || span === NO_SPAN) return {};
    return (sampleLabels(span) ?? {}) as Record<string, string | number>;
  };

  /** The period's endpoint counts; the next period starts from zero. */
  takeEndpointCounts(): Record<string, number> {
    return this.endpoints.take();
  }

  resourceLabels(): Record<string, string> {
    return selectResourceLabels(this.resource.attributes(), this.resourceLabelPatterns);
  }

  private countEndpoint(span: SpanLike): void {
    const endpoint = endpointOf(span);
    if (endpoint === undefined) return;
    // The route check runs once per endpoint name and period, not per request.
    if (this.endpoints.count(endpoint) && !this.routeWarned && isHttpWithoutRoute(span)) {
      this.routeWarned = true;
      profilerDiag().warn(
        `local-root server spans end without http.route (endpoint ${JSON.stringify(endpoint)}): the router is not instrumented. ` +
          'In an ESM app, OpenTelemetry needs its loader hook (module.register("@opentelemetry/instrumentation/hook.mjs", import.meta.url) in a file loaded with --import, ' +
          'or --import blackfire-otel-profiler/register, which installs it); with no router instrumentation, set the route yourself. See the README, "ESM apps"',
      );
    }
  }

  private onLocalRoot(root: SpanLike): void {
    if (!this.enabled) return;
    const span = root as EndableSpan;
    span.setAttribute?.(PROFILE_ATTRIBUTE, spanIdToNum(span.spanContext().spanId).toString());
    if (this.processorSeen || typeof span.end !== 'function' || endpointOf(span) === undefined) return;
    // Zero-code start, no span processor: count the endpoint when the local root ends.
    const end = span.end;
    const bridge = this;
    span.end = function (this: unknown, ...args: unknown[]) {
      if (bridge.enabled) bridge.countEndpoint(span);
      return end.apply(this, args);
    };
  }
}
