// Which application name and which labels an upload gets from OpenTelemetry resources: the `resource` option,
// the SDK's resource (seen by the span processor on its spans), OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES,
// against `applicationName`, BLACKFIRE_CONPROF_APP_NAME and PLATFORM_APPLICATION_NAME. Asserted on what
// reaches the stand-in agent (tags_profiler); the Profiler reads the environment when it is built.
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as os from 'node:os';
import { diag, DiagLogLevel, trace, type Attributes, type DiagLogger } from '@opentelemetry/api';
import { defaultResource, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { Profiler, type ProfilerOptions } from '../../src/index';
import { DEFAULT_RESOURCE_LABELS, selectResourceLabels, serviceNameOf } from '../../src/otel/resource';
import type { ReceivedUpload } from '../../src/agent/upload-check';
import { startTestAgent, type TestAgent } from '../helpers/agent';

/** Every variable that takes part in naming; cleared around each Profiler construction, then restored. */
const NAMING_ENV = ['OTEL_SERVICE_NAME', 'OTEL_RESOURCE_ATTRIBUTES', 'BLACKFIRE_CONPROF_APP_NAME', 'PLATFORM_APPLICATION_NAME'];

function withEnv<T>(env: Record<string, string>, fn: () => T): T {
  const saved = new Map(NAMING_ENV.concat(Object.keys(env)).map((key) => [key, process.env[key]]));
  for (const key of NAMING_ENV) delete process.env[key];
  Object.assign(process.env, env);
  try {
    return fn();
  } finally {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** tags_profiler as a map (the format has one `key:value` per comma-separated item). */
function tagsOf(upload: ReceivedUpload): Map<string, string> {
  return new Map(
    upload.event.tags_profiler.split(',').map((item) => {
      const at = item.indexOf(':');
      return [item.slice(0, at), item.slice(at + 1)] as [string, string];
    }),
  );
}

/** The labels that came from resource attributes (everything but the labels every upload has). */
// What every upload carries besides the resource's labels: the defaults and the process's place (process_id, profile_seq, profile_final).
const BASE_TAGS = new Set(['application_name', 'language', 'runtime', 'runtime_os', 'runtime_arch', 'runtime_version', 'host', 'probe_version', 'service', 'process_id', 'profile_seq', 'profile_final']);
function resourceTagsOf(upload: ReceivedUpload): Record<string, string> {
  return Object.fromEntries([...tagsOf(upload)].filter(([key]) => !BASE_TAGS.has(key)));
}

let agent: TestAgent;

before(async () => {
  agent = await startTestAgent();
});

after(async () => {
  await agent?.close();
});

interface Scenario {
  options?: ProfilerOptions;
  env?: Record<string, string>;
  /** The resource of an SDK tracer provider whose span the profiler's span processor sees. */
  sdkResource?: Resource;
}

/** Builds a Profiler under `env`, starts it, lets the SDK make one span (if any), stops: the one upload. */
async function uploadOf(scenario: Scenario): Promise<ReceivedUpload> {
  const count = agent.uploads.length;
  const profiler = withEnv(scenario.env ?? {}, () => new Profiler({ agentSocket: agent.address, periodMillis: 60_000, ...scenario.options }));
  profiler.start();
  try {
    if (scenario.sdkResource) {
      const provider = new BasicTracerProvider({ resource: scenario.sdkResource, spanProcessors: [profiler.spanProcessor()] });
      provider.getTracer('resource-test').startSpan('seen by the processor').end();
    }
  } finally {
    await profiler.stop();
  }
  const uploads = await agent.waitForUploads(count + 1, 10_000);
  assert.deepEqual(agent.rejections, []);
  assert.equal(agent.uploads.length, count + 1, 'one period, one upload');
  return uploads[count]!;
}

const applicationNameOf = async (scenario: Scenario): Promise<string | undefined> => tagsOf(await uploadOf(scenario)).get('application_name');

test('without any name: my-node-app; PLATFORM_APPLICATION_NAME over that', async () => {
  assert.equal(await applicationNameOf({}), 'my-node-app');
  assert.equal(await applicationNameOf({ env: { PLATFORM_APPLICATION_NAME: 'platform-app' } }), 'platform-app');
});

test('OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES: the name (over PLATFORM_APPLICATION_NAME) and the default label selection', async () => {
  const upload = await uploadOf({
    env: {
      PLATFORM_APPLICATION_NAME: 'platform-app',
      OTEL_SERVICE_NAME: 'env-service',
      OTEL_RESOURCE_ATTRIBUTES:
        'service.version=1.2.3,service.namespace=shop,deployment.environment.name=staging,host.name=web-7,k8s.pod.name=pod-9,' +
        'cloud.region=eu-west-3,container.id=c0ffee,faas.name=fn,process.pid=42,custom.team=payments,hostname=not-host.name',
    },
  });
  const tags = tagsOf(upload);
  assert.equal(tags.get('application_name'), 'env-service');
  assert.equal(tags.get('service'), 'env-service');
  assert.equal(upload.event.info.application.service, 'env-service');
  assert.deepEqual(resourceTagsOf(upload), {
    'service.name': 'env-service',
    'service.version': '1.2.3',
    'service.namespace': 'shop',
    'deployment.environment.name': 'staging',
    'host.name': 'web-7',
    'k8s.pod.name': 'pod-9',
    'cloud.region': 'eu-west-3',
    'container.id': 'c0ffee',
    'faas.name': 'fn',
    env: 'staging',
    version: '1.2.3',
  });
});

test('OTEL_SERVICE_NAME wins over a service.name in OTEL_RESOURCE_ATTRIBUTES', async () => {
  const upload = await uploadOf({ env: { OTEL_SERVICE_NAME: 'by-name', OTEL_RESOURCE_ATTRIBUTES: 'service.name=by-attributes' } });
  assert.equal(tagsOf(upload).get('application_name'), 'by-name');
  assert.equal(tagsOf(upload).get('service.name'), 'by-name');
});

test('a malformed OTEL_RESOURCE_ATTRIBUTES is dropped as a whole (as the SDK does), without crashing; OTEL_SERVICE_NAME still counts', async () => {
  const upload = await uploadOf({
    env: { OTEL_SERVICE_NAME: 'still-named', OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=pod-1,broken=a=b,%zz=bad-escape' },
  });
  assert.equal(tagsOf(upload).get('application_name'), 'still-named');
  assert.deepEqual(resourceTagsOf(upload), { 'service.name': 'still-named' });
  const garbage = await uploadOf({ env: { OTEL_RESOURCE_ATTRIBUTES: ',,,=,%' } });
  assert.equal(tagsOf(garbage).get('application_name'), 'my-node-app');
});

test('the SDK resource seen on spans wins over the environment; environment attributes it lacks stay', async () => {
  const upload = await uploadOf({
    env: { OTEL_SERVICE_NAME: 'env-service', OTEL_RESOURCE_ATTRIBUTES: 'k8s.namespace.name=from-env,service.version=0.0.1' },
    sdkResource: resourceFromAttributes({ 'service.name': 'sdk-service', 'service.version': '2.0.0', 'deployment.environment': 'prod' }),
  });
  const tags = tagsOf(upload);
  assert.equal(tags.get('application_name'), 'sdk-service');
  assert.deepEqual(resourceTagsOf(upload), {
    'service.name': 'sdk-service',
    'service.version': '2.0.0',
    'deployment.environment': 'prod',
    'k8s.namespace.name': 'from-env',
    env: 'prod', // from the older deployment.environment too
    version: '2.0.0',
  });
});

test('the resource option (plain attributes or a Resource) wins over the SDK resource and the environment', async () => {
  const sdkResource = resourceFromAttributes({ 'service.name': 'sdk-service', 'k8s.pod.name': 'sdk-pod', 'cloud.provider': 'gcp' });
  const env = { OTEL_SERVICE_NAME: 'env-service', OTEL_RESOURCE_ATTRIBUTES: 'container.name=env-container' };
  const expected = {
    'service.name': 'option-service',
    'k8s.pod.name': 'option-pod',
    'cloud.provider': 'gcp',
    'container.name': 'env-container',
  };
  const plain = await uploadOf({ options: { resource: { 'service.name': 'option-service', 'k8s.pod.name': 'option-pod' } }, env, sdkResource });
  assert.equal(tagsOf(plain).get('application_name'), 'option-service');
  assert.deepEqual(resourceTagsOf(plain), expected);
  const real = await uploadOf({
    options: { resource: resourceFromAttributes({ 'service.name': 'option-service', 'k8s.pod.name': 'option-pod' }) },
    env,
    sdkResource,
  });
  assert.equal(tagsOf(real).get('application_name'), 'option-service');
  assert.deepEqual(resourceTagsOf(real), expected);
});

test('the applicationName option wins over everything; BLACKFIRE_CONPROF_APP_NAME over any service.name; resource labels stay', async () => {
  const everything: Scenario = {
    options: { resource: { 'service.name': 'option-service' } },
    env: { OTEL_SERVICE_NAME: 'env-service', PLATFORM_APPLICATION_NAME: 'platform-app', BLACKFIRE_CONPROF_APP_NAME: 'blackfire-app' },
    sdkResource: resourceFromAttributes({ 'service.name': 'sdk-service' }),
  };
  const byOption = await uploadOf({ ...everything, options: { ...everything.options, applicationName: 'explicit-app' } });
  assert.equal(tagsOf(byOption).get('application_name'), 'explicit-app');
  assert.equal(tagsOf(byOption).get('service'), 'explicit-app');
  assert.equal(tagsOf(byOption).get('service.name'), 'option-service', 'the resource label is still the resource\'s');
  const byEnv = await uploadOf(everything);
  assert.equal(tagsOf(byEnv).get('application_name'), 'blackfire-app');
  assert.equal(tagsOf(byEnv).get('service.name'), 'option-service');
});

test('the SDK placeholder unknown_service:* never wins over a real name, wherever either comes from', async () => {
  const placeholder = { 'service.name': 'unknown_service:node' };
  // Option placeholder, real SDK name.
  assert.equal(
    await applicationNameOf({ options: { resource: placeholder }, sdkResource: resourceFromAttributes({ 'service.name': 'sdk-service' }) }),
    'sdk-service',
  );
  // The SDK's own default resource (unknown_service:<argv0>), real environment name.
  assert.match(String(defaultResource().attributes['service.name']), /^unknown_service:/);
  assert.equal(await applicationNameOf({ env: { OTEL_SERVICE_NAME: 'env-service' }, sdkResource: defaultResource() }), 'env-service');
  // Placeholders only: PLATFORM_APPLICATION_NAME, else the default name.
  assert.equal(
    await applicationNameOf({ options: { resource: placeholder }, sdkResource: defaultResource(), env: { PLATFORM_APPLICATION_NAME: 'platform-app' } }),
    'platform-app',
  );
  assert.equal(await applicationNameOf({ options: { resource: { 'service.name': 'unknown_service' } }, sdkResource: defaultResource() }), 'my-node-app');
});

test(
  'the service.name label agrees with application_name: a placeholder does not override a real service.name label',
  async () => {
    const upload = await uploadOf({ env: { OTEL_SERVICE_NAME: 'env-service' }, sdkResource: defaultResource() });
    assert.equal(tagsOf(upload).get('application_name'), 'env-service');
    assert.equal(tagsOf(upload).get('service.name'), 'env-service');
  },
);

test('resourceLabels narrows and widens the selection; user labels win over resource labels', async () => {
  const env = {
    OTEL_SERVICE_NAME: 'env-service',
    OTEL_RESOURCE_ATTRIBUTES: 'k8s.pod.name=pod-1,k8s.node.name=node-1,process.runtime.name=nodejs,process.pid=7,team=payments',
  };
  const narrow = await uploadOf({ env, options: { resourceLabels: ['k8s.pod.name', 'team'] } });
  assert.deepEqual(resourceTagsOf(narrow), { 'k8s.pod.name': 'pod-1', team: 'payments' });
  assert.equal(tagsOf(narrow).get('application_name'), 'env-service', 'naming does not depend on the label selection');

  const wide = await uploadOf({ env, options: { resourceLabels: [...DEFAULT_RESOURCE_LABELS, 'process.runtime.*'] } });
  assert.deepEqual(resourceTagsOf(wide), {
    'service.name': 'env-service',
    'k8s.pod.name': 'pod-1',
    'k8s.node.name': 'node-1',
    'process.runtime.name': 'nodejs',
  });

  const user = await uploadOf({ env, options: { labels: { 'k8s.pod.name': 'mine', team: 'core' }, resourceLabels: ['k8s.*', 'team'] } });
  assert.equal(tagsOf(user).get('k8s.pod.name'), 'mine');
  assert.equal(tagsOf(user).get('team'), 'core');
  assert.equal(tagsOf(user).get('k8s.node.name'), 'node-1');
});

test(
  'resourceLabels: [] sends no resource labels at all (env and version are derived only from selected attributes)',
  async () => {
    const upload = await uploadOf({
      env: { OTEL_SERVICE_NAME: 'env-service', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=staging,service.version=1.2.3' },
      options: { resourceLabels: [] },
    });
    assert.deepEqual(resourceTagsOf(upload), {});
  },
);

test('selectResourceLabels and serviceNameOf (pure)', () => {
  const attributes: Attributes = {
    'service.name': 'svc',
    'service.version': '3.1.0',
    'deployment.environment.name': 'prod',
    'deployment.environment': 'old-prod',
    'host.name': 'h',
    'host.arch': 'amd64',
    'k8s.container.restart_count': 2,
    'cloud.available': true,
    'container.image.tags': ['v1', 'latest'],
    'process.pid': 1,
    'servicex.name': 'not a service.* attribute',
  };
  assert.deepEqual(selectResourceLabels(attributes, DEFAULT_RESOURCE_LABELS), {
    'service.name': 'svc',
    'service.version': '3.1.0',
    'deployment.environment.name': 'prod',
    'deployment.environment': 'old-prod',
    'host.name': 'h',
    'k8s.container.restart_count': '2',
    'cloud.available': 'true',
    'container.image.tags': 'v1;latest',
    env: 'prod', // deployment.environment.name over the older deployment.environment
    version: '3.1.0',
  });
  // A selected attribute named env or version is not overwritten by the derived one.
  assert.deepEqual(selectResourceLabels({ env: 'mine', 'deployment.environment.name': 'prod' }, ['env']), { env: 'mine' });
  assert.equal(serviceNameOf({ 'service.name': 'svc' }), 'svc');
  for (const name of ['unknown_service', 'unknown_service:node', 'unknown_service:/usr/bin/node', '', 42, undefined]) {
    assert.equal(serviceNameOf({ 'service.name': name as string }), undefined, `service.name ${String(name)}`);
  }
  assert.equal(serviceNameOf({ 'service.name': 'unknown_services' }), 'unknown_services');
});

test('async resource attributes (a Resource option, or the SDK\'s) are in the first upload', async () => {
  let resolvePod!: (value: string) => void;
  const pod = new Promise<string>((resolve) => (resolvePod = resolve));
  const option = resourceFromAttributes({ 'service.name': 'async-service', 'k8s.pod.name': pod });
  assert.equal(option.asyncAttributesPending, true);
  const count = agent.uploads.length;
  const profiler = new Profiler({ agentSocket: agent.address, periodMillis: 60_000, resource: option });
  profiler.start();
  const stopped = profiler.stop();
  setTimeout(() => resolvePod('pod-1'), 300).unref(); // settles while the upload waits for it
  await stopped;
  const [upload] = (await agent.waitForUploads(count + 1, 10_000)).slice(count);
  assert.equal(tagsOf(upload!).get('application_name'), 'async-service');
  assert.equal(tagsOf(upload!).get('k8s.pod.name'), 'pod-1');

  const fromSdk = await uploadOf({
    sdkResource: resourceFromAttributes({ 'service.name': 'async-sdk-service', 'cloud.region': Promise.resolve('eu-west-3') }),
  });
  assert.equal(tagsOf(fromSdk).get('application_name'), 'async-sdk-service');
  assert.equal(tagsOf(fromSdk).get('cloud.region'), 'eu-west-3');
});

test(
  'an async attribute that never settles: stop() still delivers the upload in time, with the resource\'s settled service.name',
  async () => {
    const own = await startTestAgent(); // a late upload must not land in another test's agent
    try {
      const resource = resourceFromAttributes({ 'service.name': 'never-settles', 'cloud.region': new Promise<string>(() => {}) });
      const profiler = new Profiler({ agentSocket: own.address, periodMillis: 60_000, uploadTimeoutMillis: 1_000, resource });
      profiler.start();
      await profiler.stop();
      assert.equal(own.uploads.length, 1, 'the upload reached the agent before stop() resolved');
      assert.equal(tagsOf(own.uploads[0]!).get('application_name'), 'never-settles');
    } finally {
      await own.close();
    }
  },
);

test(
  'a Resource with pending async attributes given as the option logs no diag error',
  () => {
    const errors: string[] = [];
    const logger: DiagLogger = {
      error: (message: string) => errors.push(message),
      warn: () => {},
      info: () => {},
      debug: () => {},
      verbose: () => {},
    };
    diag.setLogger(logger, DiagLogLevel.ERROR);
    try {
      new Profiler({ agentSocket: agent.address, resource: resourceFromAttributes({ 'k8s.pod.name': new Promise<string>(() => {}) }) });
    } finally {
      diag.disable();
    }
    assert.deepEqual(errors, []);
  },
);

test('a bad resource or resourceLabels option throws, naming the option', () => {
  for (const resource of ['service.name=x', ['service.name'], null, 42]) {
    assert.throws(
      () => new Profiler({ agentSocket: agent.address, resource: resource as unknown as Attributes }),
      (error: Error) => error.name === 'ProfilerConfigError' && /\bresource must be\b/.test(error.message),
      `resource ${JSON.stringify(resource)}`,
    );
  }
  for (const resourceLabels of ['service.*', ['service.*', ''], [42], { 0: 'service.*' }]) {
    assert.throws(
      () => new Profiler({ agentSocket: agent.address, resourceLabels: resourceLabels as unknown as string[] }),
      (error: Error) => error.name === 'ProfilerConfigError' && /\bresourceLabels must be\b/.test(error.message),
      `resourceLabels ${JSON.stringify(resourceLabels)}`,
    );
  }
});

// Last: NodeSDK registers process-wide globals. Its default resource (detectors: env, process, host, whose
// host.id is asynchronous) has the unknown_service placeholder when no name is configured.
test('a real NodeSDK without a service name: the placeholder loses to PLATFORM_APPLICATION_NAME; its host and process attributes', async () => {
  const count = agent.uploads.length;
  const env = { PLATFORM_APPLICATION_NAME: 'platform-app' };
  const profiler = withEnv(env, () =>
    new Profiler({ agentSocket: agent.address, periodMillis: 60_000, resourceLabels: [...DEFAULT_RESOURCE_LABELS, 'process.runtime.name'] }),
  );
  const sdk = withEnv(env, () => {
    const instance = new NodeSDK({ spanProcessors: [profiler.spanProcessor()], metricReaders: [], logRecordProcessors: [] });
    instance.start();
    return instance;
  });
  try {
    profiler.start();
    trace.getTracer('resource-test').startActiveSpan('work', (span) => span.end());
  } finally {
    await sdk.shutdown(); // stops the profiler: its final upload
  }
  assert.equal(profiler.isRunning, false);
  const [upload] = (await agent.waitForUploads(count + 1, 10_000)).slice(count);
  const tags = tagsOf(upload!);
  assert.equal(tags.get('application_name'), 'platform-app');
  assert.equal(tags.get('host.name'), os.hostname().replace(/[,:]/g, '_'));
  assert.equal(tags.get('process.runtime.name'), 'nodejs');
  assert.equal(tags.has('process.pid'), false);
});
