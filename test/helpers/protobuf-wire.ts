// A protobuf wire-format reader written for the tests, independent of protobufjs (which the exporter encodes
// with): fields by number, as the spec numbers them. Varints and fixed64 come back as bigint.
export type WireValue = bigint | Uint8Array;
export type WireMessage = Map<number, WireValue[]>;

export function decodeWire(bytes: Uint8Array): WireMessage {
  const fields: WireMessage = new Map();
  let at = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (at >= bytes.length) throw new Error('truncated varint');
      const byte = bytes[at++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (at < bytes.length) {
    const tag = Number(varint());
    const field = tag >>> 3;
    const wire = tag & 7;
    let value: WireValue;
    if (wire === 0) value = varint();
    else if (wire === 1) {
      value = new DataView(bytes.buffer, bytes.byteOffset + at, 8).getBigUint64(0, true);
      at += 8;
    } else if (wire === 2) {
      const length = Number(varint());
      value = bytes.subarray(at, at + length);
      at += length;
    } else if (wire === 5) {
      value = BigInt(new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, true));
      at += 4;
    } else throw new Error(`unknown wire type ${wire}`);
    const list = fields.get(field) ?? [];
    list.push(value);
    fields.set(field, list);
  }
  return fields;
}

export const messages = (m: WireMessage, field: number): WireMessage[] => (m.get(field) ?? []).map((v) => decodeWire(v as Uint8Array));
export const message = (m: WireMessage, field: number): WireMessage => decodeWire((m.get(field)?.[0] as Uint8Array | undefined) ?? new Uint8Array());
export const int = (m: WireMessage, field: number): bigint => (m.get(field)?.[0] as bigint | undefined) ?? 0n;
export const bytesOf = (m: WireMessage, field: number): Uint8Array => (m.get(field)?.[0] as Uint8Array | undefined) ?? new Uint8Array();
export const str = (m: WireMessage, field: number): string => Buffer.from(bytesOf(m, field)).toString('utf8');
export const strings = (m: WireMessage, field: number): string[] => (m.get(field) ?? []).map((v) => Buffer.from(v as Uint8Array).toString('utf8'));

/** A repeated scalar field, packed (proto3's default) or not. */
export function packedInts(m: WireMessage, field: number): bigint[] {
  const out: bigint[] = [];
  for (const v of m.get(field) ?? []) {
    if (typeof v === 'bigint') {
      out.push(v);
      continue;
    }
    let at = 0;
    while (at < v.length) {
      let result = 0n;
      let shift = 0n;
      for (;;) {
        const byte = v[at++]!;
        result |= BigInt(byte & 0x7f) << shift;
        if ((byte & 0x80) === 0) break;
        shift += 7n;
      }
      out.push(result);
    }
  }
  return out;
}
