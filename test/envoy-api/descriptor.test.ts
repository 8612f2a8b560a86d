// The JSON descriptor `npm run build` writes for the xDS codec (envoy-api.json) holds the same
// API as the .proto files it comes from: every message with the same fields (numbers, types,
// labels, packing, map keys), oneofs and enum values, so gRPC bytes do not depend on which of
// the two the codec loaded.
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { ENVOY_API_FILES, envoyApiDescriptor, loadProtoRoot } from '../../proxy/xds/proto/envoy-api.js';

function shapes(root: protobuf.Root): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (ns: protobuf.NamespaceBase): void => {
    for (const n of ns.nestedArray) {
      if (n instanceof protobuf.Type) {
        const fields = n.fieldsArray.map((f) =>
          [
            f.name,
            f.id,
            f.type,
            f.repeated,
            f.packed,
            f.map,
            (f as unknown as { keyType?: string }).keyType ?? '',
            f.partOf?.name ?? '',
          ].join(':'),
        );
        out.set(n.fullName, fields.sort().join(' '));
      } else if (n instanceof protobuf.Enum) {
        out.set(n.fullName, JSON.stringify(Object.entries(n.values).sort()));
      }
      if (n instanceof protobuf.Namespace || n instanceof protobuf.Type) walk(n);
    }
  };
  walk(root);
  return out;
}

describe('the built JSON descriptor of Envoy’s API', () => {
  it('describes exactly what the .proto files do', () => {
    const fromProto = loadProtoRoot(ENVOY_API_FILES);
    const fromJson = protobuf.Root.fromJSON(JSON.parse(JSON.stringify(envoyApiDescriptor())) as protobuf.INamespace);
    fromJson.resolveAll();
    const a = shapes(fromProto);
    const b = shapes(fromJson);
    expect(a.size).toBeGreaterThan(400);
    expect([...b.entries()]).toEqual([...a.entries()]);
  });
});
