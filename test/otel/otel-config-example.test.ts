import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { createConfigFactory } from '@opentelemetry/configuration';
import { readOptionsFromConfigFile } from '../../src/otel/config-file';
import { resolveConfig } from '../../src/config';

const example = path.join(__dirname, '..', '..', '..', 'otel-config', 'otel-config.yaml');

test('otel-config/otel-config.yaml: the SDK accepts it and the profiler reads the same values', () => {
  const saved = process.env.OTEL_CONFIG_FILE;
  process.env.OTEL_CONFIG_FILE = example;
  let model;
  try {
    model = createConfigFactory().getConfigModel();
  } finally {
    if (saved === undefined) delete process.env.OTEL_CONFIG_FILE;
    else process.env.OTEL_CONFIG_FILE = saved;
  }
  const env = { BLACKFIRE_AGENT_SOCKET: 'unix:///tmp/example-agent.sock' };
  const options = readOptionsFromConfigFile(example, env);
  const section = (model.distribution as { blackfire: Record<string, unknown> }).blackfire;
  assert.equal(options.periodMillis, section.period_millis);
  assert.equal(options.uploadTimeoutMillis, section.upload_timeout_millis);
  assert.deepEqual(options.labels, section.labels);
  assert.deepEqual(options.resourceLabels, section.resource_labels);
  assert.equal(options.agentSocket, 'unix:///tmp/example-agent.sock');
  assert.deepEqual(options.resource, Object.fromEntries(model.resource!.attributes!.map((a) => [a.name, a.value])));
  // And the options are valid for the Profiler.
  assert.equal(resolveConfig(options, {}).periodMillis, 45_000);
});
