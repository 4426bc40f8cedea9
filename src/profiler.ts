import { performance } from 'node:perf_hooks';
import { DEFAULT_APPLICATION_NAME, resolveConfig, type ProfilerConfig, type ProfilerOptions, type Environment } from './config.js';
import { PROBE_VERSION } from './version.js';
import { profilerDiag, RateLimitedLog } from './diag.js';
import { TimeSampler } from './collect/time-sampler.js';
import { HeapSampler } from './collect/heap-sampler.js';
import { addonUnavailable } from './collect/pprof-bindings.js';

/** The addon's failed load is logged once per process, not at every start(). */
let addonErrorLogged = false;
/** Periods collected in this process (thread), over every Profiler: `profile_seq` 0 is the process's first. */
let nextSequence = 0;
import { chooseHandOff } from './collect/choose-hand-off.js';
import type { HandOffMode } from './collect/hand-off.js';
import { configError } from './config-error.js';
import { FileExporter } from './export/file/file-exporter.js';
import { OtlpProfilesExporter } from './export/otlp/otlp-exporter.js';
import { BlackfireExporter } from './export/blackfire/blackfire-exporter.js';
import type { ExportResult, ProfileExporter } from './export/exporter.js';
import type { CollectedPeriod, ProfilePeriod } from './profile/period.js';
import { UploadQueue } from './export/upload-queue.js';
import { SourceMaps, type SourceMapStats } from './profile/source-maps.js';
import { isMainThread } from 'node:worker_threads';
import { ThreadCollector } from './collect/thread-collector.js';
import { mergeThreads } from './profile/merge-threads.js';

/** How long a period waits for the worker threads' profiles (a busy worker's then joins the next period). */
const THREAD_WAIT_MILLIS = 250;
import { OtelBridge } from './otel/otel-bridge.js';
import { ProfilerSpanProcessor } from './otel/span-processor.js';

/** What the profiler has done so far; numbers a user or a benchmark can read. */
export interface ProfilerStats {
  periodsCollected: number;
  uploadsSucceeded: number;
  uploadsFailed: number;
  periodsDropped: number;
  /** Main-thread time of the last rotation (stopping/restarting the samplers, reading the heap profile). */
  lastRotationMillis: number;
  /** Time from the end of the last rotation until its pprofs were encoded and gzipped (mostly off the main thread). */
  lastEncodeMillis: number;
  /** The last rotation's main-thread time by step (ms): V8 profiler stop/restart, pprof building, heap profile. */
  lastRotationBreakdownMillis: { sampleStop: number; serialize: number; heapProfile: number };
  /** How the active span reaches the sampler here. */
  spanHandOff: HandOffMode;
  /** Context holders alive now (the `context-store` hand-off, while sampling): one per live context with a span. */
  liveContextHolders: number | undefined;
  /** Allocation mode (Node >= 26): how often V8's heap sampler was restarted to bound its memory (each restart
   * makes the next period's live heap count only objects allocated since). */
  heapSamplerRestarts: number;
  /** Source maps (`sourceMaps`, on by default): files seen and mapped, and the last period's cost. */
  sourceMaps: SourceMapStats | undefined;
}

const RUNNING = Symbol.for('blackfire-otel-profiler.running');
type GlobalWithRunning = typeof globalThis & { [RUNNING]?: Profiler };

/** Who started a Profiler, for the "already running" message: the zero-code entry marks its own. */
const STARTED_BY = new WeakMap<Profiler, string>();

/** Not part of the API: `register` says the Profiler is its own. */
export function markStartedBy(profiler: Profiler, entry: string): void {
  STARTED_BY.set(profiler, entry);
}

/** A continuous profiler: samples wall/CPU time and the heap, and uploads one profile per period to the Blackfire Agent. */
export class Profiler {
  private readonly config: ProfilerConfig;
  private readonly log = new RateLimitedLog();
  /** One queue per exporter: a slow or failing exporter never delays the others. */
  private readonly sinks: Array<{ exporter: ProfileExporter; queue: UploadQueue<ProfilePeriod>; succeeded: number; failed: number }>;
  private readonly timeSampler: TimeSampler;
  private readonly heapSampler: HeapSampler;
  private readonly encoding = new Set<Promise<void>>();
  private readonly processStartMillis = Date.now() - performance.now();
  private readonly otel: OtelBridge;
  private readonly handOff: HandOffMode = chooseHandOff();
  private processor: ProfilerSpanProcessor | undefined;
  private running = false;
  private periodStartMillis = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopping: Promise<void> | undefined;
  private lastHeapProfileMillis = 0;
  private readonly statsValue: Omit<ProfilerStats, 'spanHandOff' | 'liveContextHolders' | 'lastRotationBreakdownMillis' | 'heapSamplerRestarts' | 'sourceMaps' | 'uploadsSucceeded' | 'uploadsFailed' | 'periodsDropped' | 'lastEncodeMillis'> = {
    periodsCollected: 0,
    lastRotationMillis: 0,
  };
  private readonly onBeforeExit = (): void => {
    void this.stop();
  };
  /** Aborted when stop() begins: uploads then give up on an agent that is not there (ENOENT, ECONNREFUSED) at once. */
  private stopSignal = new AbortController();
  private applicationNameWarned = false;
  private readonly sourceMaps: SourceMaps | undefined;
  /** Worker threads (`workerThreads`, from the main thread only). */
  private readonly threads: ThreadCollector | undefined;

  /** Validates the options and reads the environment; starts nothing. Throws on a bad option, naming it. */
  constructor(options: ProfilerOptions = {}) {
    this.config = resolveConfig(options);
    for (const warning of this.config.warnings) profilerDiag().warn(warning);
    const exporters =
      options.exporters === undefined
        ? this.exportersFromEnv(process.env)
        : Array.isArray(options.exporters)
          ? options.exporters.map((e: unknown) => (typeof e === 'string' ? this.exporterNamed(e, 'exporters', options.exporters) : e))
          : options.exporters;
    this.sinks = readExporters(exporters).map((exporter) => {
      const sink = { exporter, succeeded: 0, failed: 0, queue: undefined as unknown as UploadQueue<ProfilePeriod> };
      sink.queue = new UploadQueue<ProfilePeriod>({
        maxPending: this.config.maxPendingUploads,
        send: (period, deadline) => this.send(sink, period, deadline),
        onDrop: (now, total, reason) => {
          this.log.warn(`${exporter.name}-dropped-${reason}`, `${exporter.name}: dropped ${now} period(s) of profiles (${reason}); ${total} dropped in all`);
        },
      });
      return sink;
    });
    this.timeSampler = new TimeSampler({
      samplingIntervalMicros: this.config.samplingIntervalMicros,
      periodMillis: this.config.periodMillis,
      handOff: this.handOff,
    });
    this.heapSampler = new HeapSampler({
      heapIntervalBytes: this.config.heapIntervalBytes,
      heapStackDepth: this.config.heapStackDepth,
      allocations: this.config.allocationProfiling === 'on',
    });
    this.sourceMaps = this.config.sourceMaps ? new SourceMaps() : undefined;
    this.threads = this.config.workerThreads && isMainThread ? new ThreadCollector() : undefined;
    this.otel = new OtelBridge({
      resource: options.resource,
      resourceLabels: options.resourceLabels,
      handOff: this.handOff,
    });
  }

  /**
   * The application name uploads are filed under: the option or `BLACKFIRE_CONPROF_APP_NAME`, else the OTel
   * `service.name` (never the SDK's `unknown_service:*` placeholder), else `PLATFORM_APPLICATION_NAME` or `my-node-app`.
   */
  get applicationName(): string {
    if (this.config.applicationNameSource === 'default') return this.otel.resource.serviceName() ?? this.config.applicationName;
    return this.config.applicationName;
  }

  get isRunning(): boolean {
    return this.running;
  }

  stats(): ProfilerStats {
    const { sampleStopMillis, serializeMillis } = this.timeSampler.lastRotation;
    const sum = (of: (sink: Profiler['sinks'][number]) => number): number => this.sinks.reduce((total, sink) => total + of(sink), 0);
    const blackfire = this.sinks.find((sink) => sink.exporter instanceof BlackfireExporter)?.exporter as BlackfireExporter | undefined;
    return {
      ...this.statsValue,
      // Derived from the exporters' queues, never kept twice.
      uploadsSucceeded: sum((sink) => sink.succeeded),
      uploadsFailed: sum((sink) => sink.failed),
      periodsDropped: sum((sink) => sink.queue.dropped),
      lastEncodeMillis: blackfire?.lastEncodeMillis ?? 0,
      lastRotationBreakdownMillis: { sampleStop: sampleStopMillis, serialize: serializeMillis, heapProfile: this.lastHeapProfileMillis },
      spanHandOff: this.handOff,
      liveContextHolders: this.timeSampler.liveHolders(),
      heapSamplerRestarts: this.heapSampler.restarts,
      sourceMaps: this.sourceMaps ? { ...this.sourceMaps.stats } : undefined,
    };
  }

  /**
   * The OpenTelemetry SpanProcessor to add to the SDK (`spanProcessors: [profiler.spanProcessor(), ...]`):
   * it gives samples their local root span and endpoint, labels uploads with the SDK's resource, and makes
   * `sdk.shutdown()` stop the profiler (final upload) and `forceFlush()` upload now. Same object each call.
   */
  spanProcessor(): ProfilerSpanProcessor {
    this.processor ??= new ProfilerSpanProcessor({
      onSpanStart: (span, parentContext) => this.otel.onSpanStart(span, parentContext),
      onSpanEnd: (span) => this.otel.onSpanEnd(span),
      flush: () => this.flush(),
      stop: () => this.stop(),
    });
    return this.processor;
  }

  /**
   * Starts sampling now, synchronously (so the application's start-up is profiled). Safe to call twice.
   * Throws if another Profiler is already running in this thread.
   */
  start(): void {
    if (this.running) return;
    if (!this.config.enabled) {
      profilerDiag().info('not profiling: BLACKFIRE_CONPROF_ENABLED is false');
      return;
    }
    const global = globalThis as GlobalWithRunning;
    const other = global[RUNNING];
    if (other && other !== this) {
      const by = STARTED_BY.get(other);
      throw new Error(
        by
          ? `blackfire-otel-profiler: a Profiler for application "${other.applicationName}" is already running in this thread, started by ${by} (NODE_OPTIONS or --import/-r); use that one, or drop ${by} to start your own`
          : `blackfire-otel-profiler: a Profiler for application "${other.applicationName}" is already running in this thread; stop() it before starting another`,
      );
    }
    const unavailable = addonUnavailable();
    if (unavailable !== undefined) {
      // No sampler here (no prebuilt binary for this platform, say): the application runs unprofiled.
      if (!addonErrorLogged) profilerDiag().error(`not profiling: ${unavailable}`);
      addonErrorLogged = true;
      return;
    }
    this.timeSampler.start();
    try {
      this.heapSampler.start();
    } catch (error) {
      this.timeSampler.rotate(false);
      throw error;
    }
    global[RUNNING] = this;
    this.running = true;
    this.stopSignal = new AbortController();
    this.otel.enable(this.timeSampler.holders);
    this.periodStartMillis = Date.now();
    this.guarded('threads', () => this.threads?.start({ samplingIntervalMicros: this.config.samplingIntervalMicros, periodMillis: this.config.periodMillis }));
    this.scheduleRotation();
    process.on('beforeExit', this.onBeforeExit);
    if (this.config.allocationProfiling === 'unavailable') {
      profilerDiag().info(
        `allocation profiling (alloc_space, alloc_objects) needs Node.js >= 26; this is ${process.version}: only the live heap is profiled`,
      );
    }
  }

  /**
   * Stops the samplers, uploads the last (partial) period and resolves when it is sent, or after
   * `uploadTimeoutMillis` at the latest. Never rejects. Safe to call twice; `start()` may follow.
   */
  stop(): Promise<void> {
    if (!this.running) return this.stopping ?? Promise.resolve();
    // A stop() of an earlier run may still be uploading: this one resolves after both.
    const previous = this.stopping;
    const current = this.stopAndFlush();
    const stopping: Promise<void> = (previous ? Promise.all([previous, current]).then(() => undefined) : current).finally(() => {
      if (this.stopping === stopping) this.stopping = undefined;
    });
    this.stopping = stopping;
    return stopping;
  }

  /** Ends the current period now and uploads it; resolves when sent or after `uploadTimeoutMillis`. */
  async flush(): Promise<void> {
    if (!this.running) return this.stopping;
    const deadline = Date.now() + this.config.uploadTimeoutMillis;
    this.collectAndSubmit(false);
    await this.settle(deadline);
  }

  private async stopAndFlush(): Promise<void> {
    const deadline = Date.now() + this.config.uploadTimeoutMillis;
    clearTimeout(this.timer);
    this.stopSignal.abort();
    process.removeListener('beforeExit', this.onBeforeExit);
    // Each step on its own: one that fails must not leave the others undone, nor reject stop().
    this.guarded('stop', () => this.otel.disable());
    this.guarded('collect', () => this.collectAndSubmit(true));
    this.guarded('stop', () => this.heapSampler.stop());
    this.running = false;
    const global = globalThis as GlobalWithRunning;
    if (global[RUNNING] === this) delete global[RUNNING];
    await this.settle(deadline);
    // After the last period took the workers' last profiles.
    if (!this.running) this.guarded('threads', () => this.threads?.stop());
  }

  private guarded(kind: string, step: () => void): void {
    try {
      step();
    } catch (error) {
      this.log.warn(kind, `${kind}: ${(error as Error)?.message ?? String(error)}`);
    }
  }

  /** Waits for the encodings under way and the backlog, until `deadline`; never rejects. */
  private async settle(deadline: number): Promise<void> {
    try {
      await Promise.all(this.encoding);
      await Promise.all(this.sinks.map((sink) => sink.queue.drain(deadline)));
      // Exporters are flushed, not shut down: start() may follow stop().
      const remaining = Math.max(0, deadline - Date.now());
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(this.sinks.map((sink) => Promise.resolve().then(() => sink.exporter.forceFlush()).catch(() => {}))),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, remaining))),
      ]);
      clearTimeout(timer);
    } catch (error) {
      this.log.warn('settle', `could not finish the uploads: ${(error as Error)?.message ?? String(error)}`);
    }
  }

  /** The next rotation, `periodMillis` after the current period began (the rotation's own time included). */
  private scheduleRotation(): void {
    const delayMillis = Math.max(0, this.periodStartMillis + this.config.periodMillis - Date.now());
    this.timer = setTimeout(() => {
      this.collectAndSubmit(false);
      if (this.running) this.scheduleRotation();
    }, delayMillis);
    this.timer.unref();
  }

  /** Rotates the samplers (synchronously, no gap unless `final`), then encodes and queues the period. */
  private collectAndSubmit(final: boolean): void {
    let period: CollectedPeriod;
    try {
      period = this.collect(final);
    } catch (error) {
      this.log.warn('collect', `could not collect the period's profiles: ${(error as Error).message}`);
      return;
    }
    const encoding = this.describe(period).then(
      (described) => {
        for (const sink of this.sinks) sink.queue.push(described);
      },
      (error: Error) => this.log.warn('encode', `could not describe the period's profiles: ${error.message}`),
    );
    this.encoding.add(encoding);
    void encoding.finally(() => this.encoding.delete(encoding));
  }

  private collect(final: boolean): CollectedPeriod {
    const t0 = performance.now();
    const wall = this.timeSampler.rotate(!final, this.otel.generateLabels);
    this.threads?.request();
    const t1 = performance.now();
    const space = this.heapSampler.profile();
    const endMillis = Date.now();
    const t2 = performance.now();
    this.lastHeapProfileMillis = t2 - t1;
    this.statsValue.lastRotationMillis = t2 - t0;
    this.statsValue.periodsCollected++;
    // pprof's time_nanos is when the profile began (as Go writes it); the addon stamps the end.
    for (const profile of [wall, space]) {
      profile.timeNanos = BigInt(this.periodStartMillis) * 1_000_000n;
      profile.durationNanos = BigInt(Math.max(0, endMillis - this.periodStartMillis)) * 1_000_000n;
    }
    // wall.pprof opens on wall time in pprof viewers (the last sample type, cpu, otherwise).
    wall.defaultSampleType = wall.stringTable.dedup('wall');
    const period: CollectedPeriod = {
      startMillis: this.periodStartMillis,
      endMillis,
      wall,
      space,
      endpointCounts: this.otel.takeEndpointCounts(),
      sequence: nextSequence++,
      final,
    };
    this.periodStartMillis = endMillis;
    return period;
  }

  /** `OTEL_PROFILES_EXPORTER` (comma-separated, as `OTEL_TRACES_EXPORTER`): `blackfire` (the default), `otlp`, `file`. */
  private exportersFromEnv(env: Environment): ProfileExporter[] {
    const raw = env.OTEL_PROFILES_EXPORTER?.trim() || 'blackfire';
    return raw.split(',').map((name) => this.exporterNamed(name, 'env OTEL_PROFILES_EXPORTER', raw));
  }

  /** `blackfire`, `otlp` (configured by the OTLP environment variables) or `file` (`BLACKFIRE_CONPROF_FILE_DIR`). */
  private exporterNamed(name: string, option: string, value: unknown): ProfileExporter {
    const env = process.env;
    switch (name.trim().toLowerCase()) {
      case 'blackfire':
        return new BlackfireExporter({ agent: this.config.agent, uploadTimeoutMillis: this.config.uploadTimeoutMillis, basicAuth: this.config.basicAuth, log: this.log });
      case 'otlp':
        return new OtlpProfilesExporter({ env, log: this.log });
      case 'file':
        return new FileExporter({ dir: env.BLACKFIRE_CONPROF_FILE_DIR?.trim() || 'profiles', log: this.log });
      default:
        throw configError(option, value, option.startsWith('env') ? 'a comma-separated list of blackfire, otlp, file' : 'ProfileExporters or the names blackfire, otlp, file');
    }
  }

  /** The period with what describes it (name, labels, resource), for every exporter alike. */
  private async describe(period: CollectedPeriod): Promise<ProfilePeriod> {
    // At most half the upload's time budget: the upload itself must still fit in it.
    await this.otel.resource.settle(Math.min(this.config.uploadTimeoutMillis / 2, 5_000));
    try {
      mergeThreads(period.wall, this.threads ? await this.threads.take(THREAD_WAIT_MILLIS) : []);
    } catch (error) {
      this.log.warn('threads', `worker threads' profiles not merged: ${(error as Error)?.message ?? String(error)}`);
    }
    if (this.sourceMaps) {
      try {
        await this.sourceMaps.load([period.wall, period.space]);
        this.sourceMaps.apply(period.wall);
        this.sourceMaps.apply(period.space);
      } catch (error) {
        this.log.warn('source-maps', `source maps not applied: ${(error as Error)?.message ?? String(error)}`);
      }
    }
    const applicationName = this.applicationName;
    if (applicationName === DEFAULT_APPLICATION_NAME && this.config.applicationNameSource === 'default' && !this.applicationNameWarned) {
      this.applicationNameWarned = true;
      profilerDiag().warn(
        `profiles are filed under the fallback application name "${DEFAULT_APPLICATION_NAME}": no applicationName option, no BLACKFIRE_CONPROF_APP_NAME or OTEL_SERVICE_NAME, and no span from an SDK with a service.name yet. ` +
          'In an ESM app, start the SDK in a file loaded with --import before the app (imports are hoisted: an SDK started in app.mjs sees no spans); see the README, "ESM apps"',
      );
    }
    return {
      ...period,
      stopping: this.stopSignal.signal,
      applicationName,
      hostname: this.config.hostname,
      projectId: this.config.projectId,
      labels: { ...this.otel.resourceLabels(), ...this.config.userLabels },
      resource: this.otel.resource.attributes(),
      processStartMillis: this.processStartMillis,
      probeVersion: PROBE_VERSION,
      settings: this.settings(),
    };
  }

  private settings(): Record<string, unknown> {
    const c = this.config;
    return {
      sampling_frequency_hz: Math.round(1e6 / c.samplingIntervalMicros),
      period_millis: c.periodMillis,
      upload_timeout_millis: c.uploadTimeoutMillis,
      heap_interval_bytes: c.heapIntervalBytes,
      heap_stack_depth: c.heapStackDepth,
      allocation_profiling:
        c.allocationProfiling === 'unavailable' ? `unavailable: needs Node.js >= 26 (runtime ${process.version})` : c.allocationProfiling,
      span_context_handoff: this.handOff,
      source_maps: c.sourceMaps,
    };
  }

  private async send(sink: Profiler['sinks'][number], period: ProfilePeriod, deadlineMillis: number): Promise<ExportResult> {
    const result = await sink.exporter.export(period, Math.min(deadlineMillis, Date.now() + this.config.uploadTimeoutMillis));
    if (result.code === 'success') sink.succeeded++;
    else sink.failed++;
    return result;
  }
}

/** The `exporters` option: a non-empty array of ProfileExporters with distinct names. */
function readExporters(value: unknown): ProfileExporter[] {
  const valid = Array.isArray(value) && value.length > 0 && value.every((e) => typeof e === 'object' && e !== null && typeof (e as ProfileExporter).export === 'function' && typeof (e as ProfileExporter).name === 'string');
  if (!valid) throw configError('exporters', value, 'a non-empty array of ProfileExporters (export, forceFlush, shutdown, name)');
  const names = (value as ProfileExporter[]).map((e) => e.name);
  if (new Set(names).size !== names.length) throw configError('exporters', names, 'exporters with distinct names');
  return value as ProfileExporter[];
}
