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

/**
 * What the profiler notes on a span it has seen, as properties of the span object itself: a WeakMap costs
 * microseconds per span once it holds many entries, and an object of ours pointing at each span is worse: V8
 * pretenures such short-lived objects once some survive, and every span they point at then survives the young
 * generation's collections until the next full GC (measured: +1.4 us per span).
 */
export const LOCAL_ROOT = Symbol('blackfire-otel-profiler.local-root');
const LABELS = Symbol('blackfire-otel-profiler.labels');

export type SampleLabels = Record<string, string | bigint>;

/**
 * The per-span context the sampler attaches to each wall/CPU sample: the span itself, with its local root (the
 * first span of its trace in this process: no parent, or a remote parent; itself for a root) noted on it. Labels
 * are built from it at rotation, once per span and period, and kept once its local root has ended.
 */
export type SampleContext = SpanLike & { [LOCAL_ROOT]?: SpanLike; [LABELS]?: SampleLabels };

/** The span id (16 hex) as the unsigned 64-bit number Datadog's format uses for `span id` labels. */
export function spanIdToNum(spanIdHex: string): bigint {
  return BigInt('0x' + spanIdHex);
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

/** The pprof labels of a sample taken while `span` was active, or undefined if its local root is not known. */
export function sampleLabels(span: SampleContext): SampleLabels | undefined {
  const cached = span[LABELS];
  if (cached !== undefined) return cached;
  const root = span[LOCAL_ROOT];
  if (root === undefined) return undefined;
  const spanContext = span.spanContext();
  const spanIdNum = spanIdToNum(spanContext.spanId);
  const labels: SampleLabels = {
    'span id': spanIdNum,
    'local root span id': root === span ? spanIdNum : spanIdToNum(root.spanContext().spanId),
    'trace id': spanContext.traceId,
  };
  const endpoint = endpointOf(root);
  if (endpoint !== undefined) labels['trace endpoint'] = endpoint;
  // Once the local root has ended its route can no longer change: keep them.
  if (root.ended === true) span[LABELS] = labels;
  return labels;
}
