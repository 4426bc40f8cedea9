import { localParentSpanId, localRootOf, newSampleContext, type LocalRoot, type SampleContext, type SpanLike } from './span-context.js';

/** How many recently seen spans are remembered by id, to find a child's local root without a span processor. */
const RECENT_SPANS = 2048;

/**
 * Where a span keeps what the profiler knows of it: a property of the span object (a WeakMap costs
 * microseconds per span once it holds many entries; a property costs nothing).
 */
const LOCAL_ROOT = Symbol('blackfire-otel-profiler.local-root');
const SAMPLE_CONTEXT = Symbol('blackfire-otel-profiler.sample-context');

type TrackedSpan = SpanLike & { [LOCAL_ROOT]?: LocalRoot; [SAMPLE_CONTEXT]?: SampleContext };

/**
 * The local root and sample context of each span. With the profiler's span processor registered, every span
 * is seen at `onStart` with its exact parent, and only its local root is noted then; its sample context is
 * made when it is first activated. Without the processor (zero-code start), a span is first seen when it is
 * activated, and its local root is found through its parent's id among recently seen spans.
 */
export class SpanRegistry {
  private readonly recentById = new Map<string, LocalRoot>();
  private readonly recentRing: Array<string | undefined> = new Array<string | undefined>(RECENT_SPANS);
  private recentNext = 0;
  private inferParents = true;
  /** Told when a span is found to be a local root (first sight). */
  onLocalRoot: (root: LocalRoot) => void = () => {};

  /** From a span processor's onStart: the parent span is known exactly (undefined or remote: local root). */
  registerStart(span: SpanLike, parent: SpanLike | undefined): void {
    const tracked = span as TrackedSpan;
    if (tracked[LOCAL_ROOT]) return;
    const parentRoot = parent && !parent.spanContext().isRemote ? this.localRootOf(parent) : undefined;
    this.setRoot(tracked, parentRoot);
  }

  /** The span's local root, if the span has been seen. */
  peekRoot(span: SpanLike): LocalRoot | undefined {
    return (span as TrackedSpan)[LOCAL_ROOT];
  }

  /** The span's sample context, made on first activation. */
  contextOf(span: SpanLike): SampleContext {
    const tracked = span as TrackedSpan;
    return (tracked[SAMPLE_CONTEXT] ??= newSampleContext(span, this.localRootOf(tracked)));
  }

  private localRootOf(span: TrackedSpan): LocalRoot {
    const known = span[LOCAL_ROOT];
    if (known) return known;
    // Not seen at onStart: zero-code, or a span started before the profiler. Infer from the parent's id.
    const parentId = localParentSpanId(span);
    return this.setRoot(span, parentId === undefined ? undefined : this.recentById.get(parentId));
  }

  private setRoot(span: TrackedSpan, parentRoot: LocalRoot | undefined): LocalRoot {
    const root = parentRoot ?? localRootOf(span);
    span[LOCAL_ROOT] = root;
    if (this.inferParents) this.remember(span.spanContext().spanId, root);
    if (parentRoot === undefined) this.onLocalRoot(root);
    return root;
  }

  /** Remembers a span's root by its id, forgetting the oldest beyond RECENT_SPANS (a ring: O(1)). */
  private remember(spanId: string, root: LocalRoot): void {
    const evicted = this.recentRing[this.recentNext];
    if (evicted !== undefined) this.recentById.delete(evicted);
    this.recentRing[this.recentNext] = spanId;
    this.recentNext = (this.recentNext + 1) % RECENT_SPANS;
    this.recentById.set(spanId, root);
  }

  /** A span processor gives exact parents from now on: stop remembering spans by id. */
  stopInferringParents(): void {
    this.inferParents = false;
    this.recentById.clear();
    this.recentRing.fill(undefined);
  }
}
