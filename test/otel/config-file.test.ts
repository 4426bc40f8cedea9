// readOptionsFromConfigFile: the profiler's options from an OpenTelemetry declarative configuration file
// (OTEL_CONFIG_FILE): `distribution.blackfire` and `resource.attributes`, with the data model's environment
// variable substitution. Where the OTel SDK's own reader (@opentelemetry/configuration) reads the same file,
// the profiler must read the same values.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createConfigFactory } from '@opentelemetry/configuration';
import { readOptionsFromConfigFile } from '../../src/otel/config-file';
import { resolveConfig } from '../../src/config';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-config-file-'));
let fileCount = 0;

after(() => fs.rmSync(dir, { recursive: true, force: true }));

function writeConfig(text: string): string {
  const file = path.join(dir, `config-${++fileCount}.yaml`);
  fs.writeFileSync(file, text);
  return file;
}

/** A file_format 1.0 document with `lines` (YAML, 4-space indented) as its distribution.blackfire section. */
const blackfire = (...lines: string[]): string => ['file_format: "1.0"', 'distribution:', '  blackfire:', ...lines.map((l) => '    ' + l), ''].join('\n');

const read = (text: string, env: NodeJS.ProcessEnv = {}): Record<string, unknown> =>
  readOptionsFromConfigFile(writeConfig(text), env) as Record<string, unknown>;

const labelsOf = (text: string, env: NodeJS.ProcessEnv = {}): Record<string, unknown> => read(text, env).labels as Record<string, unknown>;

/** What the OTel SDK's reader makes of the same file under the same environment: its distribution.blackfire. */
function sdkReads(text: string, env: Record<string, string>): Record<string, unknown> {
  const file = writeConfig(text);
  const keys = ['OTEL_CONFIG_FILE', ...Object.keys(env)];
  const saved = new Map(keys.map((key) => [key, process.env[key]]));
  Object.assign(process.env, env, { OTEL_CONFIG_FILE: file });
  try {
    const model = createConfigFactory().getConfigModel() as { distribution?: { blackfire?: Record<string, unknown> } };
    return model.distribution!.blackfire!;
  } finally {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** The error a bad file gets: a ProfilerConfigError whose message matches every pattern. */
function assertConfigError(text: string, patterns: RegExp[], env: NodeJS.ProcessEnv = {}): void {
  assert.throws(
    () => read(text, env),
    (error: Error) => {
      assert.equal(error.name, 'ProfilerConfigError');
      for (const pattern of patterns) assert.match(error.message, pattern);
      return true;
    },
  );
}

test('every distribution.blackfire key maps to its option; the result is a valid configuration', () => {
  const options = read(
    blackfire(
      'application_name: checkout',
      'period_millis: 30000',
      'upload_timeout_millis: 5000',
      'agent_socket: unix:///tmp/agent.sock',
      'labels:',
      '  team: payments',
      'sampling_frequency_hz: 50',
      'heap_interval_bytes: 1048576',
      'allocation_profiling: false',
      'resource_labels: ["service.*", "k8s.pod.name"]',
    ),
  );
  assert.deepEqual(options, {
    applicationName: 'checkout',
    periodMillis: 30_000,
    uploadTimeoutMillis: 5_000,
    agentSocket: 'unix:///tmp/agent.sock',
    labels: { team: 'payments' },
    samplingFrequencyHz: 50,
    heapIntervalBytes: 1_048_576,
    allocationProfiling: false,
    resourceLabels: ['service.*', 'k8s.pod.name'],
  });
  const config = resolveConfig(options, {});
  assert.equal(config.applicationName, 'checkout');
  assert.equal(config.periodMillis, 30_000);
  assert.deepEqual(config.agent, resolveConfig({ agentSocket: 'unix:///tmp/agent.sock' }, {}).agent);
  assert.equal(config.samplingIntervalMicros, 20_000);
});

test('${VAR} and ${VAR:-default} are replaced from the given environment, also inside a longer value', () => {
  const text = blackfire(
    'agent_socket: ${SOCKET}',
    'application_name: ${APP:-fallback-app}',
    'labels:',
    '  region: eu-${REGION:-west}-${ZONE:-a}',
    '  unset: ${NOT_SET_ANYWHERE}x',
  );
  assert.deepEqual(read(text, { SOCKET: 'unix:///run/bf.sock', REGION: 'north' }), {
    agentSocket: 'unix:///run/bf.sock',
    applicationName: 'fallback-app',
    labels: { region: 'eu-north-a', unset: 'x' },
  });
  assert.equal(read(text, { SOCKET: 'tcp://127.0.0.1:8307', APP: 'from-env' }).applicationName, 'from-env');
  // A default may hold a URL (colons, slashes).
  assert.equal(read(blackfire('agent_socket: ${NOPE:-unix:///var/run/blackfire/agent.sock}')).agentSocket, 'unix:///var/run/blackfire/agent.sock');
});

test('$$ is a literal $, never the start of a reference; replacement text is not substituted again', () => {
  const labels = labelsOf(
    blackfire('labels:', '  a: $${V}', '  b: $$${V}', '  c: $$$${V}', '  d: price $$ 5', '  e: ${INDIRECT}', '  f: a $ b', '  g: ${DOLLARS}'),
    { V: 'v', INDIRECT: '${V}', DOLLARS: 'x$$' },
  );
  assert.deepEqual(labels, { a: '${V}', b: '$v', c: '$${V}', d: 'price $ 5', e: '${V}', f: 'a $ b', g: 'x$$' });
});

test('an unquoted value takes the type it reads as after substitution; a quoted one stays a string', () => {
  const env = { PERIOD: '1500', FALSE: 'false', HZ: '99.5', HEX: '0x80000', NUM: '42' };
  const options = read(
    blackfire(
      'period_millis: ${PERIOD}',
      'allocation_profiling: ${FALSE}',
      'sampling_frequency_hz: ${HZ}',
      'heap_interval_bytes: ${HEX}',
      'labels:',
      '  double_quoted: "${NUM}"',
      "  single_quoted: '${FALSE}'",
      '  plain_literal_quoted: "007"',
      '  version: "1.10"',
    ),
    env,
  );
  assert.deepEqual(options, {
    periodMillis: 1500,
    allocationProfiling: false,
    samplingFrequencyHz: 99.5,
    heapIntervalBytes: 524_288,
    labels: { double_quoted: '42', single_quoted: 'false', plain_literal_quoted: '007', version: '1.10' },
  });
  // So the options pass validation: a typed number, not the string "1500".
  assert.equal(resolveConfig(options, {}).periodMillis, 1500);
  // The same as the OTel SDK reads it.
  assert.deepEqual(
    sdkReads(blackfire('period_millis: ${PERIOD}', 'allocation_profiling: ${FALSE}', 'labels:', '  double_quoted: "${NUM}"'), env),
    { period_millis: 1500, allocation_profiling: false, labels: { double_quoted: '42' } },
  );
});

test('mapping keys are not substituted', () => {
  assert.deepEqual(labelsOf(blackfire('labels:', '  ${KEY}: value'), { KEY: 'replaced' }), { '${KEY}': 'value' });
});

test('an unknown distribution.blackfire key fails, naming the file, the key and the known keys', () => {
  const file = writeConfig(blackfire('period_milis: 1000'));
  assert.throws(
    () => readOptionsFromConfigFile(file, {}),
    (error: Error) =>
      error.name === 'ProfilerConfigError' &&
      error.message.includes(`${file}: distribution.blackfire.period_milis must be one of the known keys`) &&
      error.message.includes('period_millis'),
  );
  assertConfigError(blackfire('applicationName: camelCase'), [/distribution\.blackfire\.applicationName/, /application_name/]);
  assertConfigError(['file_format: "1.0"', 'distribution:', '  blackfire: 5'].join('\n'), [/distribution\.blackfire must be a mapping/]);
  assertConfigError(['file_format: "1.0"', 'distribution:', '  blackfire: [a]'].join('\n'), [/distribution\.blackfire must be a mapping/]);
});

test('file_format: missing, not 1.x, or not a string fails, naming file_format', () => {
  assertConfigError('distribution:\n  blackfire:\n    period_millis: 1000\n', [/file_format must be a "1\.x" version string, got undefined/]);
  assertConfigError('file_format: "2.0"\n', [/file_format/, /"2\.0"/]);
  assertConfigError('file_format: "0.4"\n', [/file_format/, /"0\.4"/]);
  assertConfigError('file_format: 1.0\n', [/file_format/]); // a YAML float, as the SDK also rejects it
  assertConfigError('', [/file_format/]); // an empty file
  assert.deepEqual(read('file_format: "1.1"\n'), {});
  assert.deepEqual(read('file_format: "1.0"\ndistribution:\n  other_vendor:\n    x: 1\n'), {}, 'other distributions are not ours to check');
  assert.deepEqual(read('file_format: "1.0"\ndistribution:\n  blackfire:\n'), {}, 'an empty section');
});

test(
  'file_format "1.0-rc.2" (a pre-release tag the schema documents and the SDK accepts) is accepted',
  () => {
    assert.deepEqual(sdkReads('file_format: "1.0-rc.2"\ndistribution:\n  blackfire:\n    period_millis: 1000\n', {}), { period_millis: 1000 });
    assert.deepEqual(read('file_format: "1.0-rc.2"\ndistribution:\n  blackfire:\n    period_millis: 1000\n'), { periodMillis: 1000 });
  },
);

test('an unreadable or invalid YAML file fails, naming OTEL_CONFIG_FILE', () => {
  assert.throws(
    () => readOptionsFromConfigFile(path.join(dir, 'does-not-exist.yaml'), {}),
    (error: Error) => error.name === 'ProfilerConfigError' && /env OTEL_CONFIG_FILE must be a readable file/.test(error.message) && /ENOENT/.test(error.message),
  );
  assertConfigError('file_format: "1.0"\n  bad: [\n', [/env OTEL_CONFIG_FILE must be valid YAML/]);
});

test('resource.attributes (a list of name/value) becomes the resource option', () => {
  const options = read(
    [
      'file_format: "1.0"',
      'resource:',
      '  attributes:',
      '    - name: service.name',
      '      value: ${SERVICE:-checkout}',
      '    - name: service.version',
      '      value: "1.4.2"',
      '    - name: deployment.environment.name',
      '      value: ${DEPLOYMENT_ENVIRONMENT}',
      '    - name: replicas',
      '      value: 3',
      '      type: int',
      '    - name: k8s.namespace.name',
      '      value: shop',
      'distribution:',
      '  blackfire:',
      '    period_millis: 1000',
      '',
    ].join('\n'),
    { DEPLOYMENT_ENVIRONMENT: 'staging' },
  );
  assert.deepEqual(options, {
    resource: { 'service.name': 'checkout', 'service.version': '1.4.2', 'deployment.environment.name': 'staging', replicas: 3, 'k8s.namespace.name': 'shop' },
    periodMillis: 1000,
  });
  assert.deepEqual(read('file_format: "1.0"\nresource:\n  schema_url: https://example.com\n'), {}, 'no attributes, no resource option');
  assertConfigError('file_format: "1.0"\nresource:\n  attributes:\n    service.name: x\n', [/resource\.attributes must be a list of \{name, value\}/]);
  assertConfigError('file_format: "1.0"\nresource:\n  attributes:\n    - value: x\n', [/resource\.attributes\[\]\.name must be a string, got undefined/]);
  assertConfigError('file_format: "1.0"\nresource:\n  attributes:\n    - name: 7\n      value: x\n', [/resource\.attributes\[\]\.name must be a string, got 7/]);
});

test('without an environment argument, process.env is read', () => {
  const saved = process.env.BF_CONFIG_FILE_TEST_PERIOD;
  process.env.BF_CONFIG_FILE_TEST_PERIOD = '2500';
  try {
    assert.equal(readOptionsFromConfigFile(writeConfig(blackfire('period_millis: ${BF_CONFIG_FILE_TEST_PERIOD}'))).periodMillis, 2500);
  } finally {
    if (saved === undefined) delete process.env.BF_CONFIG_FILE_TEST_PERIOD;
    else process.env.BF_CONFIG_FILE_TEST_PERIOD = saved;
  }
});

// The data model's substitution rules (opentelemetry-specification, configuration/data-model.md), where the
// profiler's reader and the SDK's (@opentelemetry/configuration) read the same file differently.

test(
  '${env:VAR} is the alternative spelling of ${VAR}',
  () => {
    const text = blackfire('agent_socket: ${env:SOCKET}');
    assert.equal(sdkReads(text, { SOCKET: 'unix:///run/bf.sock' }).agent_socket, 'unix:///run/bf.sock');
    assert.equal(read(text, { SOCKET: 'unix:///run/bf.sock' }).agentSocket, 'unix:///run/bf.sock');
  },
);

test(
  '${VAR:-default} takes the default when VAR is set but empty',
  () => {
    const text = blackfire('agent_socket: ${SOCKET:-unix:///var/run/blackfire/agent.sock}');
    assert.equal(sdkReads(text, { SOCKET: '' }).agent_socket, 'unix:///var/run/blackfire/agent.sock');
    assert.equal(read(text, { SOCKET: '' }).agentSocket, 'unix:///var/run/blackfire/agent.sock');
  },
);

test(
  'an environment variable cannot inject YAML structure: a substituted value is a scalar, a non-scalar reading stays the string',
  () => {
    const env = { MAP: 'a: b', LIST: '- x', BROKEN: '[x', MULTILINE: 'value\nkey:value' };
    const text = blackfire('labels:', '  map: ${MAP}', '  list: ${LIST}', '  broken: ${BROKEN}', '  multiline: ${MULTILINE}');
    const expected = { map: 'a: b', list: '- x', broken: '[x', multiline: 'value\nkey:value' };
    assert.deepEqual(sdkReads(text, env).labels, expected);
    assert.deepEqual(labelsOf(text, env), expected);
  },
);

test(
  'an invalid reference such as ${VAR:?message} fails the file',
  () => {
    const text = blackfire('application_name: ${APP:?required}');
    assert.throws(() => sdkReads(text, { APP: 'x' }), /invalid env var substitution/);
    assert.throws(() => read(text, { APP: 'x' }), (error: Error) => /application_name/.test(error.message) && /\$\{APP:\?required\}/.test(error.message));
  },
);

test('config-file errors name the key in the file (period_millis), not the code option; unknown keys get the nearest', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bf-config-keys-'));
  const write = (body: string): string => {
    const file = path.join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(file, `file_format: "1.0"\ndistribution:\n  blackfire:\n${body}`);
    return file;
  };
  try {
    let file = write('    period_millis: 45\n');
    assert.throws(() => readOptionsFromConfigFile(file, {}), new RegExp(`^ProfilerConfigError: blackfire-otel-profiler: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: distribution\\.blackfire\\.period_millis must be a duration from 1000 to 3600000 ms, got 45$`));
    file = write('    labels:\n      team: 7\n');
    assert.throws(() => readOptionsFromConfigFile(file, {}), /distribution\.blackfire\.labels\["team"\] must be a string/);
    file = write('    period: 45000\n');
    assert.throws(() => readOptionsFromConfigFile(file, {}), /distribution\.blackfire\.period must be one of the known keys \(did you mean period_millis\?/);
    file = write('    enabled: "maybe"\n');
    assert.throws(() => readOptionsFromConfigFile(file, {}), /distribution\.blackfire\.enabled must be true or false, got "maybe"/);
    assert.deepEqual(readOptionsFromConfigFile(write('    enabled: ${BLACKFIRE_CONPROF_ENABLED:-true}\n'), { BLACKFIRE_CONPROF_ENABLED: '0' }), { enabled: false }, 'the env words too');
    assert.deepEqual(readOptionsFromConfigFile(write('    enabled: false\n'), {}), { enabled: false });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
