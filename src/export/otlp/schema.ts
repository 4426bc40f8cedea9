// The subset of the OTLP profiles protocol this exporter writes, as a protobufjs descriptor written from the
// spec: opentelemetry-proto `profiles/v1development` (profiles.proto, profiles_service.proto) with `common/v1`
// and `resource/v1`, as of proto 1.11 (profiles alpha). Field numbers are the spec's; messages and fields we
// never write are left out (a decoder skips what it does not know, and we only encode).
import protobuf from 'protobufjs';

/** The proto package version the exporter targets; the URL path carries the same `v1development`. */
export const OTLP_PROFILES_VERSION = 'v1development';

type Fields = Record<string, { id: number; type: string; rule?: 'repeated' }>;
const message = (fields: Fields): { fields: Fields } => ({ fields });

const DESCRIPTOR = {
  nested: {
    otlp: {
      nested: {
        AnyValue: {
          oneofs: { value: { oneof: ['stringValue', 'boolValue', 'intValue', 'doubleValue', 'bytesValue'] } },
          fields: {
            stringValue: { id: 1, type: 'string' },
            boolValue: { id: 2, type: 'bool' },
            intValue: { id: 3, type: 'int64' },
            doubleValue: { id: 4, type: 'double' },
            bytesValue: { id: 7, type: 'bytes' },
          },
        },
        KeyValue: message({ key: { id: 1, type: 'string' }, value: { id: 2, type: 'AnyValue' } }),
        InstrumentationScope: message({ name: { id: 1, type: 'string' }, version: { id: 2, type: 'string' } }),
        Resource: message({ attributes: { id: 1, type: 'KeyValue', rule: 'repeated' } }),
        ExportProfilesServiceRequest: message({
          resourceProfiles: { id: 1, type: 'ResourceProfiles', rule: 'repeated' },
          dictionary: { id: 2, type: 'ProfilesDictionary' },
        }),
        ProfilesDictionary: message({
          mappingTable: { id: 1, type: 'Mapping', rule: 'repeated' },
          locationTable: { id: 2, type: 'Location', rule: 'repeated' },
          functionTable: { id: 3, type: 'Function', rule: 'repeated' },
          linkTable: { id: 4, type: 'Link', rule: 'repeated' },
          stringTable: { id: 5, type: 'string', rule: 'repeated' },
          attributeTable: { id: 6, type: 'KeyValueAndUnit', rule: 'repeated' },
          stackTable: { id: 7, type: 'Stack', rule: 'repeated' },
        }),
        ResourceProfiles: message({
          resource: { id: 1, type: 'Resource' },
          scopeProfiles: { id: 2, type: 'ScopeProfiles', rule: 'repeated' },
          schemaUrl: { id: 3, type: 'string' },
        }),
        ScopeProfiles: message({
          scope: { id: 1, type: 'InstrumentationScope' },
          profiles: { id: 2, type: 'Profile', rule: 'repeated' },
          schemaUrl: { id: 3, type: 'string' },
        }),
        Profile: message({
          sampleType: { id: 1, type: 'ValueType' },
          samples: { id: 2, type: 'Sample', rule: 'repeated' },
          timeUnixNano: { id: 3, type: 'fixed64' },
          durationNano: { id: 4, type: 'uint64' },
          periodType: { id: 5, type: 'ValueType' },
          period: { id: 6, type: 'int64' },
          profileId: { id: 7, type: 'bytes' },
          originalPayloadFormat: { id: 9, type: 'string' },
          originalPayload: { id: 10, type: 'bytes' },
          attributeIndices: { id: 11, type: 'int32', rule: 'repeated' },
        }),
        Link: message({ traceId: { id: 1, type: 'bytes' }, spanId: { id: 2, type: 'bytes' } }),
        ValueType: message({ typeStrindex: { id: 1, type: 'int32' }, unitStrindex: { id: 2, type: 'int32' } }),
        Sample: message({
          stackIndex: { id: 1, type: 'int32' },
          attributeIndices: { id: 2, type: 'int32', rule: 'repeated' },
          linkIndex: { id: 3, type: 'int32' },
          values: { id: 4, type: 'int64', rule: 'repeated' },
        }),
        Mapping: message({ filenameStrindex: { id: 4, type: 'int32' } }),
        Stack: message({ locationIndices: { id: 1, type: 'int32', rule: 'repeated' } }),
        Location: message({
          mappingIndex: { id: 1, type: 'int32' },
          address: { id: 2, type: 'uint64' },
          lines: { id: 3, type: 'Line', rule: 'repeated' },
        }),
        Line: message({ functionIndex: { id: 1, type: 'int32' }, line: { id: 2, type: 'int64' }, column: { id: 3, type: 'int64' } }),
        Function: message({
          nameStrindex: { id: 1, type: 'int32' },
          systemNameStrindex: { id: 2, type: 'int32' },
          filenameStrindex: { id: 3, type: 'int32' },
          startLine: { id: 4, type: 'int64' },
        }),
        KeyValueAndUnit: message({ keyStrindex: { id: 1, type: 'int32' }, value: { id: 2, type: 'AnyValue' }, unitStrindex: { id: 3, type: 'int32' } }),
      },
    },
  },
};

let requestType: protobuf.Type | undefined;

/** `ExportProfilesServiceRequest`, built on first use (not at import). */
export function exportRequestType(): protobuf.Type {
  requestType ??= protobuf.Root.fromJSON(DESCRIPTOR).lookupType('otlp.ExportProfilesServiceRequest');
  return requestType;
}
