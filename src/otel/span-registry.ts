import { LOCAL_ROOT, localParentSpanId, type SampleContext, type SpanLike } from './span-context.js';

/** How many recently seen spans are remembered by id, to find a child's local root without a span processor. */
const RECENT_SPANS = 2048;

/**
 * The local root of each span, noted on the span (`LOCAL_ROOT`). With the profiler's span processor registered,
 * every span is seen at `onStart` with its exact parent. Without the processor (zero-code start), a span is first
 * seen when it is activated, and its local root is found through its parent's id among recently seen spans.
 */
export class SpanRegistry {
  private readonly recentById = new Map<string, SpanLike>();
  private readonly recentRing: Array<string | undefined> = new Array<string | undefined>(RECENT_SPANS);
  private recentNext = 0;
  private inferParents = true;
  /** Told when a span is found to be a local root (first sight). */
  onLocalRoot: (root: SpanLike) => void = () => {};

  /** From a span processor's onStart: the parent span is known exactly (undefined or remote: local root). */
  registerStart(span: SpanLike, parent: SpanLike | undefined): void {
    const tracked = span as SampleContext;
    if (tracked[LOCAL_ROOT]) return;
    const parentRoot = parent && !parent.spanContext().isRemote ? this.localRootOf(parent) : undefined;
    this.setRoot(tracked, parentRoot);
  }

  /** The span's local root, if the span has been seen. */
  peekRoot(span: SpanLike): SpanLike | undefined {
    return (span as SampleContext)[LOCAL_ROOT];
  }

  /** The span as the sampler's context: its local root noted (inferred at first sight if not seen at onStart). */
  contextOf(span: SpanLike): SampleContext {
    this.localRootOf(span as SampleContext);
    return span;
  }

  private localRootOf(span: SampleContext): SpanLike {
    const known = span[LOCAL_ROOT];
    if (known) return known;
    // Not seen at onStart: zero-code, or a span started before the profiler. Infer from the parent's id.
    const parentId = localParentSpanId(span);
    return this.setRoot(span, parentId === undefined ? undefined : this.recentById.get(parentId));
  }

  private setRoot(span: SampleContext, parentRoot: SpanLike | undefined): SpanLike {
    const root = parentRoot ?? span;
    span[LOCAL_ROOT] = root;
    if (this.inferParents) this.remember(span.spanContext().spanId, root);
    if (parentRoot === undefined) this.onLocalRoot(root);
    return root;
  }

  /** Remembers a span's root by its id, forgetting the oldest beyond RECENT_SPANS (a ring: O(1)). */
  private remember(spanId: string, root: SpanLike): void {
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
