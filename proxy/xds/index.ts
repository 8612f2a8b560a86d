// The proxy's xDS side: the protobuf codec shared with the control plane, and the client
// that subscribes to a management server (gRPC ADS, REST-JSON polling or watched files).
export {
  encodeMessage,
  encodeAnyMessage,
  decodeMessage,
  decodeAny,
  knowsTypeUrl,
  ProtoCodecError,
  type JsonValue,
  type JsonMap,
} from './proto/codec.js';
