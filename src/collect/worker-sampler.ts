// A worker thread's own sampler, for the main thread's profiler (thread-protocol.ts): wall and CPU time of this
// isolate, with its spans (the worker's own OpenTelemetry setup is found as the zero-code entry finds it), sent
// as one profile per period over the channel; the last one when the worker exits. The live heap is the main
// thread's only.
import * as workerThreads from 'node:worker_threads';
import { OtelBridge } from '../otel/otel-bridge.js';
import { chooseHandOff } from './choose-hand-off.js';
import { addonUnavailable } from './pprof-bindings.js';
import { THREADS_CHANNEL_ENV, threadNameOf, type ThreadMessage, type ThreadSettings } from './thread-protocol.js';
import { TimeSampler } from './time-sampler.js';

const STARTED = Symbol.for('blackfire-otel-profiler.worker-sampler');

/** Starts this worker's sampler if the main thread's profiler asked for one; true if it runs. Safe to call twice. */
export function startWorkerSampler(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  const global = globalThis as { [STARTED]?: boolean };
  if (workerThreads.isMainThread || global[STARTED]) return global[STARTED] === true;
  const raw = env[THREADS_CHANNEL_ENV];
  if (!raw || addonUnavailable() !== undefined) return false;
  let settings: ThreadSettings;
  try {
    settings = JSON.parse(raw) as ThreadSettings;
  } catch {
    return false;
  }
  global[STARTED] = true;
  const threadId = workerThreads.threadId;
  const threadName = threadNameOf(threadId, (workerThreads as { threadName?: string }).threadName);
  const handOff = chooseHandOff();
  const sampler = new TimeSampler({ samplingIntervalMicros: settings.samplingIntervalMicros, periodMillis: settings.periodMillis, handOff });
  const otel = new OtelBridge({ handOff });
  const channel = new workerThreads.BroadcastChannel(settings.channel);
  let running = true;
  const send = (final: boolean): void => {
    if (!running) return;
    running = !final;
    try {
      const wall = sampler.rotate(!final, otel.generateLabels);
      channel.postMessage({ type: 'period', threadId, threadName, wall: wall.encode(), final } satisfies ThreadMessage);
    } catch {
      // this period of this worker is lost; the worker itself is not disturbed
    }
    if (final) {
      otel.disable();
      channel.close();
    }
  };
  // First of the 'exit' listeners: the addon's and the context store's stop sampling for a safe teardown.
  process.prependOnceListener('exit', () => send(true));
  sampler.start();
  otel.enable(sampler.holders);
  channel.onmessage = (event) => {
    if ((event as MessageEvent).data?.type === 'collect') send(false);
  };
  // The channel never keeps the worker alive; its last profile goes out as it exits.
  (channel as { unref?: () => void }).unref?.();
  channel.postMessage({ type: 'hello', threadId, threadName } satisfies ThreadMessage);
  return true;
}
