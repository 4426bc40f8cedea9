import { SpanKind, type Attributes, type SpanContext } from '@opentelemetry/api';

/** What the profiler reads of an OpenTelemetry SDK span (any SDK 2.x / 3.x span has it). */
export interface SpanLike {
  spanContext(): SpanContext;
  readonly kind?: SpanKind;
  readonly name?: string;
  readonly attributes?: Attributes;
  /** SDK >= 2: the parent's context; undefined for a root span. */
  readonly parentSpanContext?: SpanContext;
  /** True once the span has ended: its attributes no longer change. */
  readonly ended?: boolean;
  /** SDK 1.x spelling. */
  readonly parentSpanId?: string;
  setAttribute?(key: string, value: string): unknown;
}

/** A local root span: the first span of a trace in this process (no parent, or a remote parent). */
export interface LocalRoot {
  readonly span: SpanLike;
  readonly spanId: string;
  /** `spanId` as a number, computed when first needed (labels, the drill-down attribute). */
  spanIdNum?: bigint;
}

/**
 * The per-span context the sampler attaches to each wall/CPU sample. One object per span, shared by all of
 * its samples; labels are built from it once per period, not per sample, and numbers only when needed.
 */
export interface SampleContext {
  readonly spanId: string;
  readonly traceId: string;
  readonly root: LocalRoot;
  spanIdNum?: bigint;
  /** Labels, kept once the local root has ended (its endpoint can no longer change). */
  labels?: Record<string, string | bigint> | undefined;
}

/** The span id (16 hex) as the unsigned 64-bit number Datadog's format uses for `span id` labels. */
export function spanIdToNum(spanIdHex: string): bigint {
  return BigInt('0x' + spanIdHex);
}

export function rootSpanIdNum(root: LocalRoot): bigint {
  return (root.spanIdNum ??= spanIdToNum(root.spanId));
}

export function localRootOf(span: SpanLike): LocalRoot {
  return { span, spanId: span.spanContext().spanId };
}

export function newSampleContext(span: SpanLike, root: LocalRoot): SampleContext {
  const spanContext = span.spanContext();
  return { spanId: spanContext.spanId, traceId: spanContext.traceId, root };
}

/** The parent span id of an SDK span, if it has a parent in this process (remote parents do not count). */
export function localParentSpanId(span: SpanLike): string | undefined {
  const parent = span.parentSpanContext;
  if (parent) return parent.isRemote ? undefined : parent.spanId;
  return span.parentSpanId || undefined;
}

/**
 * `<method> <route>` of a server span (e.g. `GET /orders/:id`), from `http.route`; never the raw URL.
 * Without a route, the span name (low cardinality by the semantic conventions). Undefined for other kinds.
 */
export function endpointOf(span: SpanLike): string | undefined {
  if (span.kind !== SpanKind.SERVER) return undefined;
  const attributes = span.attributes ?? {};
  const method = attributes['http.request.method'] ?? attributes['http.method'];
  const route = attributes['http.route'];
  if (typeof route === 'string' && route !== '') {
    return typeof method === 'string' && method !== '' ? `${method} ${route}` : route;
  }
  return span.name || (typeof method === 'string' ? method : undefined);
}

/** The pprof labels of a sample taken while `context`'s span was active. */
export function sampleLabels(context: SampleContext): Record<string, string | bigint> {
  const labels: Record<string, string | bigint> = {
    'span id': (context.spanIdNum ??= spanIdToNum(context.spanId)),
    'local root span id': rootSpanIdNum(context.root),
    'trace id': context.traceId,
  };
  const endpoint = endpointOf(context.root.span);
  if (endpoint !== undefined) labels['trace endpoint'] = endpoint;
  return labels;
}
