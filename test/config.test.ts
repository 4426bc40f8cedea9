import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { resolveConfig } from '../src/config';
import { ProfilerConfigError } from '../src/config-error';

const env = {};

test('defaults: 45 s period, 10 s upload timeout, 100 Hz, 512 KiB heap interval, depth 64, platform socket', () => {
  const config = resolveConfig({}, env);
  assert.equal(config.applicationName, 'my-node-app');
  assert.equal(config.periodMillis, 45_000);
  assert.equal(config.uploadTimeoutMillis, 10_000);
  assert.equal(config.samplingIntervalMicros, 10_000);
  assert.equal(config.heapIntervalBytes, 512 * 1024);
  assert.equal(config.heapStackDepth, 64);
  assert.deepEqual(config.agent, { kind: 'unix', socketPath: '/var/run/blackfire/agent.sock', display: 'unix:///var/run/blackfire/agent.sock' });
});

test('applicationName: option > BLACKFIRE_CONPROF_APP_NAME > PLATFORM_APPLICATION_NAME > my-node-app', () => {
  const full = { BLACKFIRE_CONPROF_APP_NAME: 'from-bf', PLATFORM_APPLICATION_NAME: 'from-platform' };
  assert.equal(resolveConfig({ applicationName: 'opt' }, full).applicationName, 'opt');
  assert.equal(resolveConfig({}, full).applicationName, 'from-bf');
  assert.equal(resolveConfig({}, { PLATFORM_APPLICATION_NAME: 'from-platform' }).applicationName, 'from-platform');
  assert.equal(resolveConfig({}, {}).applicationName, 'my-node-app');
});

test('period and upload timeout: options in ms win over env in seconds', () => {
  const e = { BLACKFIRE_CONPROF_PERIOD: '30', BLACKFIRE_CONPROF_UPLOAD_TIMEOUT: '2.5' };
  assert.equal(resolveConfig({}, e).periodMillis, 30_000);
  assert.equal(resolveConfig({}, e).uploadTimeoutMillis, 2_500);
  assert.equal(resolveConfig({ periodMillis: 1000, uploadTimeoutMillis: 500 }, e).periodMillis, 1000);
  assert.equal(resolveConfig({ periodMillis: 1000, uploadTimeoutMillis: 500 }, e).uploadTimeoutMillis, 500);
});

test('agentSocket: option > BLACKFIRE_AGENT_SOCKET; tcp:// means plain HTTP', () => {
  const e = { BLACKFIRE_AGENT_SOCKET: 'tcp://127.0.0.1:8307' };
  const fromEnv = resolveConfig({}, e).agent;
  assert.equal(fromEnv.kind, 'http');
  assert.equal(fromEnv.kind === 'http' && fromEnv.url.href, 'http://127.0.0.1:8307/');
  assert.equal(resolveConfig({ agentSocket: 'unix:///tmp/a.sock' }, e).agent.display, 'unix:///tmp/a.sock');
  assert.equal(resolveConfig({ agentSocket: 'https://agent.example:8443' }, e).agent.kind, 'http');
});

const bad: Array<[string, Record<string, unknown>, Record<string, string>, RegExp]> = [
  ['periodMillis', { periodMillis: 0 }, {}, /periodMillis must be a duration from 1000 to 3600000 ms, got 0/],
  ['periodMillis', { periodMillis: '45000' }, {}, /periodMillis must be .* got "45000"/],
  ['periodMillis', { periodMillis: NaN }, {}, /periodMillis .* got NaN/],
  ['uploadTimeoutMillis', { uploadTimeoutMillis: -1 }, {}, /uploadTimeoutMillis must be .* got -1/],
  ['BLACKFIRE_CONPROF_PERIOD', {}, { BLACKFIRE_CONPROF_PERIOD: 'soon' }, /env BLACKFIRE_CONPROF_PERIOD must be a decimal number of seconds from 1 to 3600, got "soon"/],
  ['BLACKFIRE_CONPROF_UPLOAD_TIMEOUT', {}, { BLACKFIRE_CONPROF_UPLOAD_TIMEOUT: '-3' }, /env BLACKFIRE_CONPROF_UPLOAD_TIMEOUT .* got "-3"/],
  ['agentSocket', { agentSocket: 'ftp://x' }, {}, /agentSocket must be a unix:\/\/, tcp:\/\/, http:\/\/ or https:\/\/ address \(unknown scheme ftp:\/\/\), got "ftp:\/\/x"/],
  ['agentSocket', { agentSocket: '/var/run/agent.sock' }, {}, /agentSocket .*no scheme.*"\/var\/run\/agent.sock"/],
  ['agentSocket', { agentSocket: 'tcp://localhost' }, {}, /agentSocket .*tcp:\/\/ needs host:port/],
  ['BLACKFIRE_AGENT_SOCKET', {}, { BLACKFIRE_AGENT_SOCKET: 'udp://1.2.3.4:1' }, /env BLACKFIRE_AGENT_SOCKET .* got "udp:\/\/1.2.3.4:1"/],
  ['labels', { labels: { team: 42 } }, {}, /labels\["team"\] must be a string of at most 1000 characters, got 42/],
  ['labels', { labels: 'team:a' }, {}, /labels must be an object of string values, got "team:a"/],
  ['applicationName', { applicationName: '' }, {}, /applicationName must be a non-empty string of at most 255 characters, without control characters, got ""/],
  ['samplingFrequencyHz', { samplingFrequencyHz: 5000 }, {}, /samplingFrequencyHz must be a number from 1 to 1000, got 5000/],
  ['heapIntervalBytes', { heapIntervalBytes: 1.5 }, {}, /heapIntervalBytes must be an integer from 1024 to 4294967295, got 1.5/],
  ['allocationProfiling', { allocationProfiling: 'yes' }, {}, /allocationProfiling must be true or false, got "yes"/],
  ['maxPendingUploads', { maxPendingUploads: 0 }, {}, /maxPendingUploads must be an integer from 1 to 100, got 0/],
];

for (const [name, options, e, message] of bad) {
  test(`bad ${name} (${JSON.stringify(options)} ${JSON.stringify(e)}) throws naming it`, () => {
    assert.throws(() => resolveConfig(options as never, e), (error: Error) => {
      assert.ok(error instanceof ProfilerConfigError);
      assert.match(error.message, message);
      return true;
    });
  });
}

test('allocation profiling is on from Node 26, "unavailable" below', () => {
  const major = Number(process.versions.node.split('.')[0]);
  assert.equal(resolveConfig({}, {}).allocationProfiling, major >= 26 ? 'on' : 'unavailable');
  assert.equal(resolveConfig({ allocationProfiling: false }, {}).allocationProfiling, 'off');
});

test('BLACKFIRE_SERVER_ID/TOKEN give HTTP Basic auth, only when both are set', () => {
  assert.equal(resolveConfig({}, { BLACKFIRE_SERVER_ID: 'id' }).basicAuth, undefined);
  assert.equal(resolveConfig({}, { BLACKFIRE_SERVER_ID: 'id', BLACKFIRE_SERVER_TOKEN: 'tok' }).basicAuth, 'Basic ' + Buffer.from('id:tok').toString('base64'));
});

test('period: at least 1 s (45 meant as seconds is an error naming it); under 10 s a warning; 45 s none', () => {
  assert.throws(() => resolveConfig({ periodMillis: 45 }, env), /^ProfilerConfigError: blackfire-otel-profiler: periodMillis must be a duration from 1000 to 3600000 ms, got 45$/);
  assert.throws(() => resolveConfig({}, { BLACKFIRE_CONPROF_PERIOD: '0.5' }), /env BLACKFIRE_CONPROF_PERIOD must be a decimal number of seconds from 1 to 3600, got "0.5"/);
  assert.deepEqual(resolveConfig({ periodMillis: 1000 }, env).warnings, ['periodMillis is 1000 ms: one upload and one heap profile every 1 s; periods under 10 s are meant for tests (the default is 45 s)']);
  assert.deepEqual(resolveConfig({ periodMillis: 10_000 }, env).warnings, []);
  assert.deepEqual(resolveConfig({}, env).warnings, []);
});

test('unknown option keys: a warning each, naming the nearest known option', () => {
  const { warnings } = resolveConfig({ period: 45_000, application_name: 'x', uploadTimeout: 5, lables: {} } as never, env);
  assert.deepEqual(warnings, [
    'unknown option "period" is ignored; did you mean "periodMillis"?',
    'unknown option "application_name" is ignored; did you mean "applicationName"?',
    'unknown option "uploadTimeout" is ignored; did you mean "uploadTimeoutMillis"?',
    'unknown option "lables" is ignored; did you mean "labels"?',
  ]);
});

test('BLACKFIRE_CONPROF_ENABLED: false/0/no/off turn it off, true/1/yes/on or unset leave it on, anything else is refused', () => {
  for (const value of ['false', '0', 'no', 'OFF']) assert.equal(resolveConfig({}, { BLACKFIRE_CONPROF_ENABLED: value }).enabled, false, value);
  for (const value of ['true', '1', 'yes', 'on', '']) assert.equal(resolveConfig({}, { BLACKFIRE_CONPROF_ENABLED: value }).enabled, true, value);
  assert.equal(resolveConfig({}, {}).enabled, true);
  assert.throws(() => resolveConfig({}, { BLACKFIRE_CONPROF_ENABLED: 'maybe' }), (e) => e instanceof ProfilerConfigError && /env BLACKFIRE_CONPROF_ENABLED must be true or false, got "maybe"/.test(e.message));
});
