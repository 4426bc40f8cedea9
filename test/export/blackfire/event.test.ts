import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { buildUploadEvent, type EventInput } from '../../../src/export/blackfire/event';

const input: EventInput = {
  attachments: ['wall.pprof', 'space.pprof'],
  startMillis: Date.UTC(2026, 10, 26, 10, 18, 4, 141),
  endMillis: Date.UTC(2026, 10, 26, 10, 18, 49, 141),
  tagsProfiler: 'application_name:checkout,language:javascript',
  endpointCounts: { 'GET /orders/:id': 120 },
  applicationName: 'checkout',
  processStartMillis: Date.UTC(2026, 10, 26, 10, 0, 0, 0),
  nodeVersion: 'v24.11.0',
  availableProcessors: 2,
  probeVersion: '0.1.0',
  settings: { period_millis: 45000 },
};

test('buildUploadEvent: the exact event.json object', () => {
  assert.deepEqual(buildUploadEvent(input), {
    attachments: ['wall.pprof', 'space.pprof'],
    start: '2026-11-26T10:18:04.141Z',
    end: '2026-11-26T10:18:49.141Z',
    family: 'node',
    version: '4',
    tags_profiler: 'application_name:checkout,language:javascript',
    endpoint_counts: { 'GET /orders/:id': 120 },
    info: {
      application: { service: 'checkout', start_time: '2026-11-26T10:00:00.000Z' },
      runtime: { engine: 'nodejs', version: '24.11.0', available_processors: 2 },
      profiler: { version: '0.1.0', settings: { period_millis: 45000 } },
    },
  });
});

test('buildUploadEvent: the JSON text, keys in the intake order', () => {
  assert.equal(
    JSON.stringify(buildUploadEvent({ ...input, endpointCounts: {}, settings: {} })),
    '{"attachments":["wall.pprof","space.pprof"],"start":"2026-11-26T10:18:04.141Z","end":"2026-11-26T10:18:49.141Z",' +
      '"family":"node","version":"4","tags_profiler":"application_name:checkout,language:javascript","endpoint_counts":{},' +
      '"info":{"application":{"service":"checkout","start_time":"2026-11-26T10:00:00.000Z"},' +
      '"runtime":{"engine":"nodejs","version":"24.11.0","available_processors":2},' +
      '"profiler":{"version":"0.1.0","settings":{}}}}',
  );
});

test('buildUploadEvent: timestamps always carry milliseconds, even on a whole second', () => {
  const event = buildUploadEvent({ ...input, startMillis: Date.UTC(2026, 0, 1), endMillis: Date.UTC(2026, 0, 1, 0, 0, 45) });
  assert.equal(event.start, '2026-01-01T00:00:00.000Z');
  assert.equal(event.end, '2026-01-01T00:00:45.000Z');
});

test('buildUploadEvent: info.runtime.version has no leading "v", whichever form it is given in', () => {
  assert.equal(buildUploadEvent({ ...input, nodeVersion: 'v20.20.2' }).info.runtime.version, '20.20.2');
  assert.equal(buildUploadEvent({ ...input, nodeVersion: '20.20.2' }).info.runtime.version, '20.20.2');
  assert.equal(buildUploadEvent({ ...input, nodeVersion: process.version }).info.runtime.version, process.versions.node);
});

test('buildUploadEvent is pure: same input, same output', () => {
  assert.deepEqual(buildUploadEvent(input), buildUploadEvent(structuredClone(input)));
});
