import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { encodeMultipart, newBoundary, type MultipartPart } from '../../../src/export/blackfire/multipart';
import { boundaryOf, parseMultipart } from '../../../src/agent/multipart-parser';

const BOUNDARY = '----blackfire-otel-profiler-000102030405060708090a0b';
const EVENT = '{"family":"node"}';
// Bytes a text-minded encoder would mangle: NUL, a bare CRLF, 0xff, and something that looks like a delimiter.
const WALL = Buffer.from([0x00, 0x0d, 0x0a, 0xff, 0x1f, 0x8b, 0x0d, 0x0a, 0x2d, 0x2d, 0x00]);
const SPACE = Buffer.from([0xff, 0xfe, 0x0d, 0x0a, 0x0d, 0x0a, 0x00]);

const parts: MultipartPart[] = [
  { name: 'event', filename: 'event.json', contentType: 'application/json', data: Buffer.from(EVENT) },
  { name: 'wall.pprof', filename: 'wall.pprof', contentType: 'application/octet-stream', data: WALL },
  { name: 'space.pprof', filename: 'space.pprof', contentType: 'application/octet-stream', data: SPACE },
];

const expected = Buffer.concat([
  Buffer.from(
    `--${BOUNDARY}\r\n` +
      'Content-Disposition: form-data; name="event"; filename="event.json"\r\n' +
      'Content-Type: application/json\r\n' +
      '\r\n' +
      EVENT +
      '\r\n' +
      `--${BOUNDARY}\r\n` +
      'Content-Disposition: form-data; name="wall.pprof"; filename="wall.pprof"\r\n' +
      'Content-Type: application/octet-stream\r\n' +
      '\r\n',
  ),
  WALL,
  Buffer.from(
    '\r\n' +
      `--${BOUNDARY}\r\n` +
      'Content-Disposition: form-data; name="space.pprof"; filename="space.pprof"\r\n' +
      'Content-Type: application/octet-stream\r\n' +
      '\r\n',
  ),
  SPACE,
  Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
]);

test('encodeMultipart: event.json then two binary parts, byte for byte', () => {
  const body = encodeMultipart(parts, BOUNDARY);
  assert.equal(body.toString('hex'), expected.toString('hex'));
});

test('encodeMultipart copies only the view of a Uint8Array, not its whole backing buffer', () => {
  const backing = Buffer.concat([Buffer.from('XXXX'), WALL, Buffer.from('YYYY')]);
  const view = new Uint8Array(backing.buffer, backing.byteOffset + 4, WALL.length);
  const body = encodeMultipart([{ ...parts[1]!, data: view }], BOUNDARY);
  const [part] = parseMultipart(body, BOUNDARY);
  assert.deepEqual(part?.data, WALL);
});

test('parseMultipart round-trips what encodeMultipart wrote', () => {
  const parsed = parseMultipart(encodeMultipart(parts, BOUNDARY), BOUNDARY);
  assert.deepEqual(
    parsed.map((p) => ({ name: p.name, filename: p.filename, contentType: p.contentType, data: Buffer.from(p.data) })),
    parts.map((p) => ({ name: p.name, filename: p.filename, contentType: p.contentType, data: Buffer.from(p.data) })),
  );
});

test('parseMultipart round-trips random binary parts with a fresh boundary', () => {
  const boundary = newBoundary();
  assert.match(boundary, /^----blackfire-otel-profiler-[0-9a-f]{24}$/);
  assert.notEqual(boundary, newBoundary());
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const random = [all, Buffer.alloc(0), Buffer.from('\r\n--\r\n')];
  const body = encodeMultipart(
    random.map((data, i) => ({ name: `p${i}`, filename: `p${i}.bin`, contentType: 'application/octet-stream', data })),
    boundary,
  );
  assert.deepEqual(
    parseMultipart(body, boundary).map((p) => Buffer.from(p.data)),
    random,
  );
});

test('boundaryOf reads the boundary of a multipart/form-data Content-Type, quoted or not', () => {
  assert.equal(boundaryOf(`multipart/form-data; boundary=${BOUNDARY}`), BOUNDARY);
  assert.equal(boundaryOf('multipart/form-data; charset=utf-8; boundary="a b"'), 'a b');
  assert.equal(boundaryOf('application/json'), undefined);
  assert.equal(boundaryOf('multipart/form-data'), undefined);
  assert.equal(boundaryOf(undefined), undefined);
});

const good = encodeMultipart(parts, BOUNDARY).toString('latin1');
const malformed: Array<[string, string, RegExp]> = [
  ['a preamble before the first boundary', 'preamble\r\n' + good, /does not start with the boundary/],
  ['another boundary', good.replaceAll(BOUNDARY, 'other'), /does not start with the boundary/],
  ['no CRLF after a boundary', good.replace(`${BOUNDARY}\r\n`, `${BOUNDARY}  `), /boundary is not followed by CRLF/],
  ['no closing boundary at all', `--${BOUNDARY}`, /boundary is not followed by CRLF/],
  ['headers that never end', `--${BOUNDARY}\r\nContent-Disposition: form-data; name="event"\r\n`, /part has no end of headers/],
  ['a truncated last part', good.slice(0, good.length - 40), /part is not closed by the boundary/],
  [
    'a part without a form-data name',
    `--${BOUNDARY}\r\nContent-Disposition: attachment; filename="x"\r\n\r\ndata\r\n--${BOUNDARY}--\r\n`,
    /part has no form-data name/,
  ],
];

for (const [what, body, message] of malformed) {
  test(`parseMultipart rejects ${what} with a clear error`, () => {
    assert.throws(() => parseMultipart(Buffer.from(body, 'latin1'), BOUNDARY), message);
  });
}

test('parseMultipart accepts the empty multipart body (just the close delimiter)', () => {
  assert.deepEqual(parseMultipart(Buffer.from(`--${BOUNDARY}--\r\n`), BOUNDARY), []);
});
