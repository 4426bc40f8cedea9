import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { defaultTags, formatTagsProfiler, mergeTags, sanitizeTagPart, type TagSource } from '../../../src/export/blackfire/tags';

const source: TagSource = {
  applicationName: 'checkout',
  hostname: 'web-1',
  probeVersion: '0.1.0',
  nodeVersion: 'v24.11.0',
  platform: 'linux',
  arch: 'x64',
};

test('defaultTags: the labels Blackfire probes send, in their order, without project_id when unset', () => {
  const tags = defaultTags(source);
  assert.deepEqual(Object.entries(tags), [
    ['application_name', 'checkout'],
    ['language', 'javascript'],
    ['runtime', 'nodejs'],
    ['runtime_os', 'linux'],
    ['runtime_arch', 'x64'],
    ['runtime_version', 'v24.11.0'],
    ['host', 'web-1'],
    ['probe_version', '0.1.0'],
    ['service', 'checkout'],
  ]);
  assert.equal('project_id' in defaultTags({ ...source, projectId: '' }), false);
  assert.equal('project_id' in defaultTags({ ...source, projectId: undefined }), false);
});

test('defaultTags: project_id last when set', () => {
  const tags = defaultTags({ ...source, projectId: 'abc123' });
  assert.deepEqual(Object.keys(tags).slice(-2), ['service', 'project_id']);
  assert.equal(tags.project_id, 'abc123');
});

test('mergeTags: later sets win, a key keeps its first position, inputs are not modified', () => {
  const defaults = { application_name: 'a', host: 'h', service: 'a' };
  const resource = { service: 'from-resource', 'deployment.environment': 'prod' };
  const user = { service: 'from-user', team: 'payments' };
  const merged = mergeTags(defaults, resource, user);
  assert.deepEqual(Object.entries(merged), [
    ['application_name', 'a'],
    ['host', 'h'],
    ['service', 'from-user'],
    ['deployment.environment', 'prod'],
    ['team', 'payments'],
  ]);
  assert.deepEqual(defaults, { application_name: 'a', host: 'h', service: 'a' });
  assert.deepEqual(mergeTags(), {});
  assert.deepEqual(mergeTags(resource, {}), resource);
  assert.notEqual(mergeTags(resource), resource);
});

test('formatTagsProfiler: comma-separated key:value in insertion order', () => {
  assert.equal(
    formatTagsProfiler(defaultTags({ ...source, projectId: 'p1' })),
    'application_name:checkout,language:javascript,runtime:nodejs,runtime_os:linux,runtime_arch:x64,' +
      'runtime_version:v24.11.0,host:web-1,probe_version:0.1.0,service:checkout,project_id:p1',
  );
  assert.equal(formatTagsProfiler({}), '');
});

test('formatTagsProfiler: "," and ":" (and CR/LF) inside keys or values become "_"', () => {
  const tags = { 'a,b': 'c:d', 'url:port': 'http://x:80,y', plain: 'ok', multi: 'l1\r\nl2' };
  assert.equal(formatTagsProfiler(tags), 'a_b:c_d,url_port:http_//x_80_y,plain:ok,multi:l1__l2');
  // What comes out always splits back into exactly the pairs that went in.
  const pairs = formatTagsProfiler(tags).split(',').map((pair) => pair.split(':'));
  assert.equal(pairs.length, 4);
  for (const pair of pairs) assert.equal(pair.length, 2);
  assert.equal(sanitizeTagPart('no-change_here.ok'), 'no-change_here.ok');
});
