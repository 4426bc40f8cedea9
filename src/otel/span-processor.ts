import type { Context } from '@opentelemetry/api';
import type { SpanLike } from './span-context.js';
import type { ResourceLike } from './resource.js';

/** The part of the Profiler the span processor drives. */
export interface ProcessorTarget {
  onSpanStart(span: SpanLike & { resource?: ResourceLike }, parentContext: Context): void;
  onSpanEnd(span: SpanLike): void;
  flush(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * An OpenTelemetry SpanProcessor (SDK 2.x and 3.x) that ties the profiler to the SDK: it learns each span's
 * local root and the SDK's resource, counts endpoints, and makes `forceFlush()` upload now and
 * `shutdown()` (e.g. `sdk.shutdown()`) stop the profiler with its final upload.
 */
export class ProfilerSpanProcessor {
  constructor(private readonly target: ProcessorTarget) {}

  onStart(span: SpanLike & { resource?: ResourceLike }, parentContext: Context): void {
    this.target.onSpanStart(span, parentContext);
  }

  onEnd(span: SpanLike): void {
    this.target.onSpanEnd(span);
  }

  forceFlush(): Promise<void> {
    return this.target.flush();
  }

  shutdown(): Promise<void> {
    return this.target.stop();
  }
}
