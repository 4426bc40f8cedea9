/** The `event.json` part of an upload, as the Blackfire Agent's intake reads it. */
export interface UploadEvent {
  attachments: string[];
  start: string;
  end: string;
  family: 'node';
  version: '4';
  tags_profiler: string;
  endpoint_counts: Record<string, number>;
  info: {
    application: { service: string; start_time: string };
    runtime: { engine: 'nodejs'; version: string; available_processors: number };
    profiler: { version: string; settings: Record<string, unknown> };
  };
}

export interface EventInput {
  attachments: string[];
  startMillis: number;
  endMillis: number;
  tagsProfiler: string;
  endpointCounts: Record<string, number>;
  applicationName: string;
  processStartMillis: number;
  nodeVersion: string;
  availableProcessors: number;
  probeVersion: string;
  settings: Record<string, unknown>;
}

/** Builds event.json for one period (pure: same input, same output). */
export function buildUploadEvent(input: EventInput): UploadEvent {
  return {
    attachments: input.attachments,
    start: new Date(input.startMillis).toISOString(),
    end: new Date(input.endMillis).toISOString(),
    family: 'node',
    version: '4',
    tags_profiler: input.tagsProfiler,
    endpoint_counts: input.endpointCounts,
    info: {
      application: { service: input.applicationName, start_time: new Date(input.processStartMillis).toISOString() },
      runtime: { engine: 'nodejs', version: input.nodeVersion.replace(/^v/, ''), available_processors: input.availableProcessors },
      profiler: { version: input.probeVersion, settings: input.settings },
    },
  };
}
