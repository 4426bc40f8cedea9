// Every option and environment variable against hostile values: each either gets a ProfilerConfigError that
// names the option (at construction, never later at start()), or a documented sanitisation; never a crash.
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { resolveConfig, LIMITS } from '../../src/config';
import { ProfilerConfigError } from '../../src/config-error';
import { Profiler } from '../../src/profiler';
import { formatTagsProfiler, mergeTags } from '../../src/export/blackfire/tags';

const counts = { errors: 0, sanitised: 0 };
after(() => process.stdout.write(`\n# bad input: ${counts.errors} clear errors, ${counts.sanitised} documented sanitisations\n`));

const LONG = 'x'.repeat(10_000);
const numberValues: Array<[string, unknown]> = [
  ['empty string', ''],
  ['negative', -1],
  ['zero', 0],
  ['NaN', NaN],
  ['Infinity', Infinity],
  ['1e12', 1e12],
  ['above 2^31', 2 ** 31 + 1],
  ['a string', '100'],
  ['an object', {}],
  ['null', null],
  ['10 kB string', LONG],
];
const numberOptions = ['periodMillis', 'uploadTimeoutMillis', 'samplingFrequencyHz', 'heapIntervalBytes', 'heapStackDepth', 'maxPendingUploads'] as const;

function expectError(options: object, env: Record<string, string>, option: string): void {
  assert.throws(
    () => resolveConfig(options as never, env),
    (error: Error) => {
      assert.ok(error instanceof ProfilerConfigError, `${error.name}: ${error.message}`);
      assert.ok(error.message.includes(option), `the message names ${option}: ${error.message}`);
      assert.ok(error.message.length < 400, 'the message stays short, even for a 10 kB value');
      return true;
    },
  );
  counts.errors++;
}

for (const option of numberOptions) {
  for (const [what, value] of numberValues) {
    if (option === 'heapIntervalBytes' && what === 'above 2^31') continue; // in its range (up to 2^32 - 1)
    test(`${option}: ${what} is refused, naming the option`, () => expectError({ [option]: value }, {}, option));
  }
  test(`${option}: a value just outside its range is refused, one just inside is taken`, () => {
    const { min, max } = LIMITS[option];
    expectError({ [option]: min - 1 }, {}, option);
    expectError({ [option]: max + 1 }, {}, option);
    assert.doesNotThrow(() => resolveConfig({ [option]: min } as never, {}));
    assert.doesNotThrow(() => resolveConfig({ [option]: max } as never, {}));
  });
}

test('milliseconds are checked after rounding: 0.4 ms is 0 ms, refused', () => {
  expectError({ uploadTimeoutMillis: 0.4 }, {}, 'uploadTimeoutMillis');
  expectError({ periodMillis: 999.4 }, {}, 'periodMillis');
  assert.equal(resolveConfig({ periodMillis: 1000.4 }, {}).periodMillis, 1000);
});

const envValues: Array<[string, string]> = [
  ['negative', '-1'],
  ['zero', '0'],
  ['rounds to 0 ms', '0.0001'],
  ['NaN', 'NaN'],
  ['Infinity', 'Infinity'],
  ['exponent', '1e3'],
  ['1e12', '1000000000000'],
  ['hex', '0x10'],
  ['above 2^31 ms', '2147484'],
  ['a unit', '45s'],
  ['control character', '4\n5'],
  ['10 kB', LONG],
];
for (const name of ['BLACKFIRE_CONPROF_PERIOD', 'BLACKFIRE_CONPROF_UPLOAD_TIMEOUT']) {
  for (const [what, value] of envValues) {
    test(`env ${name}: ${what} is refused, naming the variable`, () => expectError({}, { [name]: value }, name));
  }
  test(`env ${name}: an empty value means the default; decimals are seconds`, () => {
    const c = resolveConfig({}, { [name]: '   ' });
    assert.equal(name.endsWith('PERIOD') ? c.periodMillis : c.uploadTimeoutMillis, name.endsWith('PERIOD') ? 45_000 : 10_000);
    const d = resolveConfig({}, { [name]: ' 2.5 ' });
    assert.equal(name.endsWith('PERIOD') ? d.periodMillis : d.uploadTimeoutMillis, 2_500);
    counts.sanitised++;
  });
}

const badAddresses: Array<[string, string]> = [
  ['empty', ''],
  ['unknown scheme', 'ftp://agent:21'],
  ['relative path', 'unix://agent.sock'],
  ['no scheme', '/var/run/blackfire/agent.sock'],
  ['trailing newline', 'unix:///tmp/agent.sock\n'],
  ['NUL byte', 'unix:///tmp/agent\0.sock'],
  ['longer than sun_path', `unix:///tmp/${'a'.repeat(120)}.sock`],
  ['tcp port 0', 'tcp://127.0.0.1:0'],
  ['tcp without a port', 'tcp://127.0.0.1'],
  ['10 kB', `unix:///${LONG}`],
];
for (const [what, value] of badAddresses) {
  test(`agentSocket: ${what} is refused; so is the same in BLACKFIRE_AGENT_SOCKET`, () => {
    expectError({ agentSocket: value }, {}, 'agentSocket');
    // From the environment, surrounding blanks are trimmed (documented): a trailing newline there is taken off.
    if (what === 'trailing newline') {
      assert.equal(resolveConfig({}, { BLACKFIRE_AGENT_SOCKET: value }).agent.display, value.trim());
      counts.sanitised++;
    } else if (value !== '') expectError({}, { BLACKFIRE_AGENT_SOCKET: value }, 'BLACKFIRE_AGENT_SOCKET');
  });
}
test('agentSocket: a path of exactly 107 bytes is taken on Linux', { skip: process.platform !== 'linux' }, () => {
  const socketPath = '/' + 'a'.repeat(106);
  assert.equal(resolveConfig({ agentSocket: `unix://${socketPath}` }, {}).agent.display, `unix://${socketPath}`);
});

const badNames: Array<[string, unknown]> = [
  ['empty', ''],
  ['blank', '   '],
  ['a number', 42],
  ['control characters', 'app\nname'],
  ['10 kB', LONG],
];
for (const option of ['applicationName', 'hostname']) {
  for (const [what, value] of badNames) test(`${option}: ${what} is refused`, () => expectError({ [option]: value }, {}, option));
}
test('env BLACKFIRE_CONPROF_APP_NAME: control characters or 10 kB are refused', () => {
  expectError({}, { BLACKFIRE_CONPROF_APP_NAME: 'a\u0007b' }, 'BLACKFIRE_CONPROF_APP_NAME');
  expectError({}, { BLACKFIRE_CONPROF_APP_NAME: LONG }, 'BLACKFIRE_CONPROF_APP_NAME');
});

test('labels: 5,000 labels, keys that would be sent alike, empty or 10 kB keys, 10 kB values, non-strings are refused', () => {
  expectError({ labels: Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`k${i}`, 'v'])) }, {}, 'labels');
  expectError({ labels: { 'a,b': 'x', 'a:b': 'y' } }, {}, 'labels');
  expectError({ labels: { 'a\nb': 'x', a_b: 'y' } }, {}, 'labels');
  expectError({ labels: { '': 'x' } }, {}, 'labels');
  expectError({ labels: { [LONG]: 'x' } }, {}, 'labels');
  expectError({ labels: { k: LONG } }, {}, 'labels');
  expectError({ labels: { k: 1 } }, {}, 'labels');
  expectError({ labels: [] }, {}, 'labels');
});

test('labels: one key with "," ":" or a control character is sent with "_" in their place (documented)', () => {
  const config = resolveConfig({ labels: { 'zone:name': 'eu', 'a\nb': 'c' } }, {});
  assert.equal(formatTagsProfiler(mergeTags(config.userLabels)), 'zone_name:eu,a_b:c');
  counts.sanitised++;
});

test('labels: a key __proto__ is an ordinary label, sent as such', () => {
  const labels = JSON.parse('{"__proto__":"x","team":"a"}') as Record<string, string>;
  const config = resolveConfig({ labels }, {});
  assert.deepEqual(Object.keys(config.userLabels), ['__proto__', 'team']);
  assert.equal(formatTagsProfiler(mergeTags({ application_name: 'app' }, config.userLabels)), 'application_name:app,__proto__:x,team:a');
  counts.sanitised++;
});

test('tags: keys that sanitise alike are one key (the last value wins), never a duplicate; values lose , : and control characters', () => {
  const tags = mergeTags({ 'k8s,pod': 'a' }, { 'k8s:pod': 'b', zone: 'eu,west:1\n' });
  assert.equal(formatTagsProfiler(tags), 'k8s_pod:b,zone:eu_west_1_');
  counts.sanitised++;
});

test('the option errors come at construction, not at start()', () => {
  for (const options of [{ samplingFrequencyHz: 1e-6 }, { heapIntervalBytes: 1e12 }, { periodMillis: 2.2e9 }, { uploadTimeoutMillis: 3e9 }]) {
    assert.throws(() => new Profiler(options), ProfilerConfigError, JSON.stringify(options));
    counts.errors++;
  }
});
