import { localParentSpanId, localRootOf, newSampleContext, type LocalRoot, type SampleContext, type SpanLike } from './span-context.js';

/** How many recently seen spans are remembered by id, to find a child's local root without a span processor. */
const RECENT_SPANS = 2048;

/**
 * The sample context of each span. With the profiler's span processor registered, every span is known from
 * `onStart` with its exact parent. Without it (zero-code start), a span is first seen when it is activated,
 * and its local root is found through its parent's id among recently seen spans.
 */
export class SpanRegistry {
  private readonly bySpan = new WeakMap<SpanLike, SampleContext>();
  private readonly recentById = new Map<string, SampleContext>();
  private inferParents = true;
  /** Told when a span is found to be a local root (first sight). */
  onLocalRoot: (root: LocalRoot) => void = () => {};

  /** From a span processor's onStart: the parent span is known exactly (undefined or remote: local root). */
  registerStart(span: SpanLike, parent: SpanLike | undefined): SampleContext {
    const known = this.bySpan.get(span);
    if (known) return known;
    const parentContext = parent && !parent.spanContext().isRemote ? this.contextOf(parent) : undefined;
    return this.add(span, parentContext?.root);
  }

  /** The span's sample context if it has one. */
  peek(span: SpanLike): SampleContext | undefined {
    return this.bySpan.get(span);
  }

  /** The span's sample context, creating it on first sight. */
  contextOf(span: SpanLike): SampleContext {
    const known = this.bySpan.get(span);
    if (known) return known;
    const parentId = localParentSpanId(span);
    const parentContext = parentId === undefined ? undefined : this.recentById.get(parentId);
    // A local parent we have not seen: the best root we know is the span itself.
    return this.add(span, parentContext?.root);
  }

  private add(span: SpanLike, root: LocalRoot | undefined): SampleContext {
    const sampleContext = newSampleContext(span, root ?? localRootOf(span));
    this.bySpan.set(span, sampleContext);
    if (this.inferParents) this.remember(span.spanContext().spanId, sampleContext);
    if (root === undefined) this.onLocalRoot(sampleContext.root);
    return sampleContext;
  }

  private remember(spanId: string, sampleContext: SampleContext): void {
    if (this.recentById.size >= RECENT_SPANS) {
      const oldest = this.recentById.keys().next().value;
      if (oldest !== undefined) this.recentById.delete(oldest);
    }
    this.recentById.set(spanId, sampleContext);
  }

  /** A span processor gives exact parents from now on: stop remembering spans by id. */
  stopInferringParents(): void {
    this.inferParents = false;
    this.recentById.clear();
  }
}
