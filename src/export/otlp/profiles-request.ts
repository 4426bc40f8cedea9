// One period as an OTLP `ExportProfilesServiceRequest` (profiles v1development), following profiles.proto:
// one ProfilesDictionary per request with the zero value at index 0 of every table, strings, functions,
// locations, stacks, links and attributes deduplicated; one Profile per sample type; each sample's span as a
// Link; the endpoint as a sample attribute; the OTel resource as the Resource; our package as the scope.
import { randomBytes } from 'node:crypto';
import type { AttributeValue, Attributes } from '@opentelemetry/api';
import type { Profile as Pprof } from 'pprof-format';
import type { ProfilePeriod } from '../../profile/period.js';
import { exportRequestType } from './schema.js';

type Numeric = number | bigint;
const num = (value: Numeric | undefined): number => Number(value ?? 0);

interface AnyValue { stringValue?: string; boolValue?: boolean; intValue?: number | string; doubleValue?: number; bytesValue?: Uint8Array }
interface OtlpLink { traceId: Uint8Array; spanId: Uint8Array }
interface OtlpSample { stackIndex: number; attributeIndices: number[]; linkIndex: number; values: Array<number | string> }
interface OtlpProfile {
  sampleType: { typeStrindex: number; unitStrindex: number };
  samples: OtlpSample[];
  timeUnixNano: string;
  durationNano: string;
  periodType: { typeStrindex: number; unitStrindex: number };
  period: string;
  profileId: Uint8Array;
}

/** The dictionary of one request: every table starts with its zero value, every entry appears once. */
class Dictionary {
  readonly stringTable: string[] = [''];
  readonly functionTable: object[] = [{}];
  readonly locationTable: object[] = [{}];
  readonly stackTable: Array<{ locationIndices: number[] }> = [{ locationIndices: [] }];
  // link_table[0]: zero-filled ids of the right length, as profiles.proto recommends.
  readonly linkTable: OtlpLink[] = [{ traceId: new Uint8Array(16), spanId: new Uint8Array(8) }];
  readonly attributeTable: object[] = [{}];
  readonly mappingTable: object[] = [{}];
  private readonly strings = new Map<string, number>([['', 0]]);
  private readonly functions = new Map<string, number>();
  private readonly locations = new Map<string, number>();
  private readonly stacks = new Map<string, number>();
  private readonly links = new Map<string, number>();
  private readonly attributes = new Map<string, number>();

  str(value: string): number {
    let index = this.strings.get(value);
    if (index === undefined) {
      index = this.stringTable.push(value) - 1;
      this.strings.set(value, index);
    }
    return index;
  }

  private intern<T extends object>(map: Map<string, number>, table: T[], key: string, make: () => T): number {
    let index = map.get(key);
    if (index === undefined) {
      index = table.push(make()) - 1;
      map.set(key, index);
    }
    return index;
  }

  fn(name: string, systemName: string, filename: string, startLine: number): number {
    const f = { nameStrindex: this.str(name), systemNameStrindex: this.str(systemName), filenameStrindex: this.str(filename), startLine };
    return this.intern(this.functions, this.functionTable, `${f.nameStrindex}/${f.systemNameStrindex}/${f.filenameStrindex}/${startLine}`, () => f);
  }

  location(lines: Array<{ functionIndex: number; line: number; column: number }>): number {
    return this.intern(this.locations, this.locationTable, lines.map((l) => `${l.functionIndex}:${l.line}:${l.column}`).join(','), () => ({ mappingIndex: 0, lines }));
  }

  stack(locationIndices: number[]): number {
    return this.intern(this.stacks, this.stackTable, locationIndices.join(','), () => ({ locationIndices }));
  }

  link(traceIdHex: string, spanId: bigint): number {
    return this.intern(this.links, this.linkTable, `${traceIdHex}/${spanId}`, () => {
      const spanBytes = new Uint8Array(8);
      new DataView(spanBytes.buffer).setBigUint64(0, BigInt.asUintN(64, spanId));
      return { traceId: Uint8Array.from(Buffer.from(traceIdHex, 'hex')), spanId: spanBytes };
    });
  }

  attribute(key: string, value: string): number {
    return this.intern(this.attributes, this.attributeTable, `${key}\u0000${value}`, () => ({ keyStrindex: this.str(key), value: { stringValue: value }, unitStrindex: 0 }));
  }
}

function anyValue(value: AttributeValue | undefined): AnyValue | undefined {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return Number.isInteger(value) ? { intValue: value } : { doubleValue: value };
  if (Array.isArray(value)) return { stringValue: JSON.stringify(value) };
  return undefined;
}

function keyValues(attributes: Attributes): Array<{ key: string; value: AnyValue }> {
  const out: Array<{ key: string; value: AnyValue }> = [];
  for (const [key, value] of Object.entries(attributes)) {
    const v = anyValue(value);
    if (v !== undefined) out.push({ key, value: v });
  }
  return out;
}

const SPAN_ID = 'span id';
const TRACE_ID = 'trace id';
const ENDPOINT = 'trace endpoint';
/** The span's endpoint, as a low-cardinality sample attribute. */
export const ENDPOINT_ATTRIBUTE = 'trace.endpoint';

/** Adds one Profile per sample type of `pprof` (samples with a zero value left out). */
function addProfiles(pprof: Pprof, dictionary: Dictionary, period: ProfilePeriod, out: OtlpProfile[]): void {
  const strings = pprof.stringTable.strings;
  const s = (index: Numeric | undefined): string => strings[num(index)] ?? '';
  const functionIndex = new Map<number, number>();
  for (const f of pprof.function) functionIndex.set(num(f.id), dictionary.fn(s(f.name), s(f.systemName), s(f.filename), num(f.startLine)));
  const locationIndex = new Map<number, number>();
  for (const l of pprof.location) {
    const lines = l.line.map((line) => ({ functionIndex: functionIndex.get(num(line.functionId)) ?? 0, line: num(line.line), column: num(line.column) }));
    locationIndex.set(num(l.id), dictionary.location(lines));
  }
  // Per pprof sample: its stack, link and attributes (the same for every sample type).
  const described = pprof.sample.map((sample) => {
    const stackIndex = dictionary.stack(sample.locationId.map((id) => locationIndex.get(num(id)) ?? 0));
    let spanId: bigint | undefined;
    let traceId: string | undefined;
    const attributeIndices: number[] = [];
    for (const label of sample.label) {
      const key = s(label.key);
      if (key === SPAN_ID) spanId = BigInt(label.num);
      else if (key === TRACE_ID) traceId = s(label.str);
      else if (key === ENDPOINT) attributeIndices.push(dictionary.attribute(ENDPOINT_ATTRIBUTE, s(label.str)));
    }
    const linkIndex = spanId !== undefined && traceId !== undefined && /^[0-9a-f]{32}$/.test(traceId) ? dictionary.link(traceId, spanId) : 0;
    return { stackIndex, linkIndex, attributeIndices };
  });
  const periodType = { typeStrindex: dictionary.str(s(pprof.periodType?.type)), unitStrindex: dictionary.str(s(pprof.periodType?.unit)) };
  pprof.sampleType.forEach((type, t) => {
    const samples: OtlpSample[] = [];
    pprof.sample.forEach((sample, i) => {
      const value = sample.value[t];
      if (value === undefined || num(value) === 0) return;
      samples.push({ ...described[i]!, values: [typeof value === 'bigint' ? value.toString() : value] });
    });
    out.push({
      sampleType: { typeStrindex: dictionary.str(s(type.type)), unitStrindex: dictionary.str(s(type.unit)) },
      samples,
      timeUnixNano: (BigInt(period.startMillis) * 1_000_000n).toString(),
      durationNano: (BigInt(Math.max(0, period.endMillis - period.startMillis)) * 1_000_000n).toString(),
      periodType,
      period: String(pprof.period ?? 0),
      profileId: Uint8Array.from(randomBytes(16)),
    });
  });
}

export interface RequestScope {
  name: string;
  version: string;
}

/** The request as a plain object (what protobufjs encodes), and how many profiles and samples it holds. */
export function buildProfilesRequest(period: ProfilePeriod, scope: RequestScope): object {
  const dictionary = new Dictionary();
  const profiles: OtlpProfile[] = [];
  addProfiles(period.wall, dictionary, period, profiles);
  addProfiles(period.space, dictionary, period, profiles);
  // process.pid (semantic conventions) tells the processes of one service apart, as the Blackfire exporter's process_id.
  const resourceAttributes: Attributes = { 'process.pid': process.pid, ...period.resource, 'service.name': period.resource['service.name'] ?? period.applicationName };
  return {
    resourceProfiles: [
      {
        resource: { attributes: keyValues(resourceAttributes) },
        scopeProfiles: [{ scope, profiles }],
      },
    ],
    dictionary: {
      mappingTable: dictionary.mappingTable,
      locationTable: dictionary.locationTable,
      functionTable: dictionary.functionTable,
      linkTable: dictionary.linkTable,
      stringTable: dictionary.stringTable,
      attributeTable: dictionary.attributeTable,
      stackTable: dictionary.stackTable,
    },
  };
}

/** The request's protobuf bytes. */
export function encodeProfilesRequest(period: ProfilePeriod, scope: RequestScope): Uint8Array {
  const type = exportRequestType();
  return type.encode(type.fromObject(buildProfilesRequest(period, scope))).finish();
}
