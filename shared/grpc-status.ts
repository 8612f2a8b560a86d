// gRPC's status code names, one table for whoever prints or exposes them: the proxy's
// `%GRPC_STATUS%` (Envoy's CAMEL_STRING) and k6/net/grpc's `StatusXxx` constants use the same
// spelling, so both read it from here rather than keep two lists in step.

/** google.rpc.Code names in Envoy's CAMEL_STRING spelling (k6's too), indexed by code 0..16. */
export const GRPC_STATUS_CAMEL_NAMES: readonly string[] = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];
