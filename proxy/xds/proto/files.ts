// The protobuf messages meshscope speaks on gRPC xDS: Envoy's v3 names and field numbers
// (checked against envoyproxy/data-plane-api), trimmed to the fields the proxy implements
// and the control plane emits. Any field outside this set cannot cross a gRPC stream: the
// codec refuses it by path instead of dropping it (see codec.ts).

const WELL_KNOWN = `
syntax = "proto3";
package google.protobuf;
message Any { string type_url = 1; bytes value = 2; }
message Duration { int64 seconds = 1; int32 nanos = 2; }
message UInt32Value { uint32 value = 1; }
message UInt64Value { uint64 value = 1; }
message Int64Value { int64 value = 1; }
message BoolValue { bool value = 1; }
message DoubleValue { double value = 1; }
message StringValue { string value = 1; }
message Empty {}
message Struct { map<string, Value> fields = 1; }
message Value {
  oneof kind {
    NullValue null_value = 1; double number_value = 2; string string_value = 3;
    bool bool_value = 4; Struct struct_value = 5; ListValue list_value = 6;
  }
}
enum NullValue { NULL_VALUE = 0; }
message ListValue { repeated Value values = 1; }
`;

const RPC = `
syntax = "proto3";
package google.rpc;
message Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
`;

const TYPE = `
syntax = "proto3";
package envoy.type.v3;
message FractionalPercent {
  uint32 numerator = 1;
  DenominatorType denominator = 2;
  enum DenominatorType { HUNDRED = 0; TEN_THOUSAND = 1; MILLION = 2; }
}
message Percent { double value = 1; }
message Int64Range { int64 start = 1; int64 end = 2; }
`;

const MATCHER = `
syntax = "proto3";
package envoy.type.matcher.v3;
message RegexMatcher {
  message GoogleRE2 { google.protobuf.UInt32Value max_program_size = 1; }
  GoogleRE2 google_re2 = 1;
  string regex = 2;
}
message RegexMatchAndSubstitute { RegexMatcher pattern = 1; string substitution = 2; }
message StringMatcher {
  oneof match_pattern { string exact = 1; string prefix = 2; string suffix = 3; RegexMatcher safe_regex = 5; string contains = 7; }
  bool ignore_case = 6;
}
`;

const CORE = `
syntax = "proto3";
package envoy.config.core.v3;
message Locality { string region = 1; string zone = 2; string sub_zone = 3; }
message BuildVersion {}
message Node {
  string id = 1; string cluster = 2; google.protobuf.Struct metadata = 3; Locality locality = 4;
  string user_agent_name = 6;
  oneof user_agent_version_type { string user_agent_version = 7; }
}
message SocketAddress {
  enum Protocol { TCP = 0; UDP = 1; }
  Protocol protocol = 1; string address = 2;
  oneof port_specifier { uint32 port_value = 3; string named_port = 4; }
  string resolver_name = 5; bool ipv4_compat = 6;
}
message Address { oneof address { SocketAddress socket_address = 1; } }
enum TrafficDirection { UNSPECIFIED = 0; INBOUND = 1; OUTBOUND = 2; }
enum RoutingPriority { DEFAULT = 0; HIGH = 1; }
enum HealthStatus { UNKNOWN = 0; HEALTHY = 1; UNHEALTHY = 2; DRAINING = 3; TIMEOUT = 4; DEGRADED = 5; }
enum ApiVersion { AUTO = 0; V2 = 1; V3 = 2; }
message HeaderValue { string key = 1; string value = 2; }
message HeaderValueOption {
  enum HeaderAppendAction { APPEND_IF_EXISTS_OR_ADD = 0; ADD_IF_ABSENT = 1; OVERWRITE_IF_EXISTS_OR_ADD = 2; OVERWRITE_IF_EXISTS = 3; }
  HeaderValue header = 1; google.protobuf.BoolValue append = 2; HeaderAppendAction append_action = 3; bool keep_empty_value = 4;
}
message DataSource { oneof specifier { string filename = 1; bytes inline_bytes = 2; string inline_string = 3; } }
message RuntimeFractionalPercent { envoy.type.v3.FractionalPercent default_value = 1; string runtime_key = 2; }
message HttpUri { string uri = 1; oneof http_upstream_type { string cluster = 2; } google.protobuf.Duration timeout = 3; }
message HttpService { HttpUri http_uri = 1; repeated HeaderValueOption request_headers_to_add = 2; }
message GrpcService {
  message EnvoyGrpc { string cluster_name = 1; string authority = 2; }
  oneof target_specifier { EnvoyGrpc envoy_grpc = 1; }
  google.protobuf.Duration timeout = 3;
}
message AggregatedConfigSource {}
message SelfConfigSource { ApiVersion transport_api_version = 1; }
message RateLimitSettings { google.protobuf.UInt32Value max_tokens = 1; google.protobuf.DoubleValue fill_rate = 2; }
message ApiConfigSource {
  enum ApiType { DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE = 0; REST = 1; GRPC = 2; DELTA_GRPC = 3; AGGREGATED_GRPC = 5; AGGREGATED_DELTA_GRPC = 6; }
  ApiType api_type = 1; ApiVersion transport_api_version = 8; repeated string cluster_names = 2;
  repeated GrpcService grpc_services = 4; google.protobuf.Duration refresh_delay = 3; google.protobuf.Duration request_timeout = 5;
  RateLimitSettings rate_limit_settings = 6; bool set_node_on_first_message_only = 7;
}
message WatchedDirectory { string path = 1; }
message PathConfigSource { string path = 1; WatchedDirectory watched_directory = 2; }
message ConfigSource {
  oneof config_source_specifier {
    string path = 1; PathConfigSource path_config_source = 8; ApiConfigSource api_config_source = 2;
    AggregatedConfigSource ads = 3; SelfConfigSource self = 5;
  }
  google.protobuf.Duration initial_fetch_timeout = 4; ApiVersion resource_api_version = 6;
}
message HttpProtocolOptions {
  google.protobuf.Duration idle_timeout = 1; google.protobuf.UInt32Value max_headers_count = 2;
  google.protobuf.Duration max_connection_duration = 3; google.protobuf.Duration max_stream_duration = 4;
  google.protobuf.UInt32Value max_requests_per_connection = 6;
}
message Http1ProtocolOptions {
  google.protobuf.BoolValue allow_absolute_url = 1; bool accept_http_10 = 2; string default_host_for_http_10 = 3;
}
message Http2ProtocolOptions {
  google.protobuf.UInt32Value hpack_table_size = 1; google.protobuf.UInt32Value max_concurrent_streams = 2;
  google.protobuf.UInt32Value initial_stream_window_size = 3; google.protobuf.UInt32Value initial_connection_window_size = 4;
}
message TypedExtensionConfig { string name = 1; google.protobuf.Any typed_config = 2; }
`;

const ACCESSLOG = `
syntax = "proto3";
package envoy.config.accesslog.v3;
message AccessLog { string name = 1; oneof config_type { google.protobuf.Any typed_config = 4; } }
`;

const TRACE = `
syntax = "proto3";
package envoy.config.trace.v3;
message Tracing { message Http { string name = 1; oneof config_type { google.protobuf.Any typed_config = 3; } } Http http = 1; }
message OpenTelemetryConfig {
  envoy.config.core.v3.GrpcService grpc_service = 1; envoy.config.core.v3.HttpService http_service = 3; string service_name = 2;
}
message ZipkinConfig {
  enum CollectorEndpointVersion { DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE = 0; HTTP_JSON = 1; HTTP_PROTO = 2; GRPC = 3; }
  string collector_cluster = 1; string collector_endpoint = 2; bool trace_id_128bit = 3;
  google.protobuf.BoolValue shared_span_context = 4; CollectorEndpointVersion collector_endpoint_version = 5; string collector_hostname = 6;
}
`;

const ROUTE = `
syntax = "proto3";
package envoy.config.route.v3;
message RouteConfiguration {
  string name = 1; repeated VirtualHost virtual_hosts = 2;
  repeated envoy.config.core.v3.HeaderValueOption response_headers_to_add = 4; repeated string response_headers_to_remove = 5;
  repeated envoy.config.core.v3.HeaderValueOption request_headers_to_add = 6; repeated string request_headers_to_remove = 8;
  google.protobuf.BoolValue validate_clusters = 7;
}
message VirtualHost {
  string name = 1; repeated string domains = 2; repeated Route routes = 3;
  repeated envoy.config.core.v3.HeaderValueOption request_headers_to_add = 7; repeated string request_headers_to_remove = 13;
  repeated envoy.config.core.v3.HeaderValueOption response_headers_to_add = 10; repeated string response_headers_to_remove = 11;
  map<string, google.protobuf.Any> typed_per_filter_config = 15; RetryPolicy retry_policy = 16;
}
message Route {
  string name = 14; RouteMatch match = 1;
  oneof action { RouteAction route = 2; RedirectAction redirect = 3; DirectResponseAction direct_response = 7; }
  Decorator decorator = 5; map<string, google.protobuf.Any> typed_per_filter_config = 13;
  repeated envoy.config.core.v3.HeaderValueOption request_headers_to_add = 9; repeated string request_headers_to_remove = 12;
  repeated envoy.config.core.v3.HeaderValueOption response_headers_to_add = 10; repeated string response_headers_to_remove = 11;
}
message RouteMatch {
  oneof path_specifier { string prefix = 1; string path = 2; envoy.type.matcher.v3.RegexMatcher safe_regex = 10; string path_separated_prefix = 14; }
  google.protobuf.BoolValue case_sensitive = 4; envoy.config.core.v3.RuntimeFractionalPercent runtime_fraction = 9;
  repeated HeaderMatcher headers = 6; repeated QueryParameterMatcher query_parameters = 7;
}
message HeaderMatcher {
  string name = 1;
  oneof header_match_specifier {
    string exact_match = 4; envoy.type.matcher.v3.RegexMatcher safe_regex_match = 11; envoy.type.v3.Int64Range range_match = 6;
    bool present_match = 7; string prefix_match = 9; string suffix_match = 10; string contains_match = 12;
    envoy.type.matcher.v3.StringMatcher string_match = 13;
  }
  bool invert_match = 8; bool treat_missing_header_as_empty = 14;
}
message QueryParameterMatcher {
  string name = 1;
  oneof query_parameter_match_specifier { envoy.type.matcher.v3.StringMatcher string_match = 5; bool present_match = 6; }
}
message WeightedCluster {
  message ClusterWeight {
    string name = 1; google.protobuf.UInt32Value weight = 2;
    repeated envoy.config.core.v3.HeaderValueOption request_headers_to_add = 4; repeated string request_headers_to_remove = 9;
    repeated envoy.config.core.v3.HeaderValueOption response_headers_to_add = 5; repeated string response_headers_to_remove = 6;
    map<string, google.protobuf.Any> typed_per_filter_config = 10;
  }
  repeated ClusterWeight clusters = 1; google.protobuf.UInt32Value total_weight = 3; string runtime_key_prefix = 2;
}
message RetryPolicy {
  message RetryBackOff { google.protobuf.Duration base_interval = 1; google.protobuf.Duration max_interval = 2; }
  message RetryHostPredicate { string name = 1; oneof config_type { google.protobuf.Any typed_config = 3; } }
  string retry_on = 1; google.protobuf.UInt32Value num_retries = 2; google.protobuf.Duration per_try_timeout = 3;
  google.protobuf.Duration per_try_idle_timeout = 13; repeated RetryHostPredicate retry_host_predicate = 5;
  int64 host_selection_retry_max_attempts = 6; repeated uint32 retriable_status_codes = 7; RetryBackOff retry_back_off = 8;
}
message RouteAction {
  enum ClusterNotFoundResponseCode { SERVICE_UNAVAILABLE = 0; NOT_FOUND = 1; INTERNAL_SERVER_ERROR = 2; }
  message RequestMirrorPolicy {
    string cluster = 1; string cluster_header = 5; envoy.config.core.v3.RuntimeFractionalPercent runtime_fraction = 3;
    google.protobuf.BoolValue trace_sampled = 4;
  }
  message HashPolicy {
    message Header { string header_name = 1; }
    message Cookie { string name = 1; google.protobuf.Duration ttl = 2; string path = 3; }
    message ConnectionProperties { bool source_ip = 1; }
    message QueryParameter { string name = 1; }
    oneof policy_specifier { Header header = 1; Cookie cookie = 2; ConnectionProperties connection_properties = 3; QueryParameter query_parameter = 5; }
    bool terminal = 4;
  }
  message UpgradeConfig { string upgrade_type = 1; google.protobuf.BoolValue enabled = 3; }
  oneof cluster_specifier { string cluster = 1; string cluster_header = 2; WeightedCluster weighted_clusters = 3; }
  ClusterNotFoundResponseCode cluster_not_found_response_code = 20;
  string prefix_rewrite = 5; envoy.type.matcher.v3.RegexMatchAndSubstitute regex_rewrite = 32;
  oneof host_rewrite_specifier { string host_rewrite_literal = 6; google.protobuf.BoolValue auto_host_rewrite = 7; string host_rewrite_header = 29; }
  google.protobuf.Duration timeout = 8; google.protobuf.Duration idle_timeout = 24; RetryPolicy retry_policy = 9;
  repeated RequestMirrorPolicy request_mirror_policies = 30; repeated HashPolicy hash_policy = 15;
  repeated UpgradeConfig upgrade_configs = 25;
}
message RedirectAction {
  enum RedirectResponseCode { MOVED_PERMANENTLY = 0; FOUND = 1; SEE_OTHER = 2; TEMPORARY_REDIRECT = 3; PERMANENT_REDIRECT = 4; }
  oneof scheme_rewrite_specifier { bool https_redirect = 4; string scheme_redirect = 7; }
  string host_redirect = 1; uint32 port_redirect = 8;
  oneof path_rewrite_specifier { string path_redirect = 2; string prefix_rewrite = 5; envoy.type.matcher.v3.RegexMatchAndSubstitute regex_rewrite = 9; }
  RedirectResponseCode response_code = 3; bool strip_query = 6;
}
message DirectResponseAction { uint32 status = 1; envoy.config.core.v3.DataSource body = 2; }
message Decorator { string operation = 1; google.protobuf.BoolValue propagate = 2; }
`;

const ENDPOINT = `
syntax = "proto3";
package envoy.config.endpoint.v3;
message ClusterLoadAssignment {
  message Policy { google.protobuf.UInt32Value overprovisioning_factor = 3; }
  string cluster_name = 1; repeated LocalityLbEndpoints endpoints = 2; Policy policy = 4;
}
message LocalityLbEndpoints {
  envoy.config.core.v3.Locality locality = 1; repeated LbEndpoint lb_endpoints = 2;
  google.protobuf.UInt32Value load_balancing_weight = 3; uint32 priority = 5;
}
message LbEndpoint {
  oneof host_identifier { Endpoint endpoint = 1; }
  envoy.config.core.v3.HealthStatus health_status = 2; google.protobuf.UInt32Value load_balancing_weight = 4;
}
message Endpoint { envoy.config.core.v3.Address address = 1; string hostname = 3; }
`;

const CLUSTER = `
syntax = "proto3";
package envoy.config.cluster.v3;
message Cluster {
  enum DiscoveryType { STATIC = 0; STRICT_DNS = 1; LOGICAL_DNS = 2; EDS = 3; ORIGINAL_DST = 4; }
  enum LbPolicy { ROUND_ROBIN = 0; LEAST_REQUEST = 1; RING_HASH = 2; RANDOM = 3; MAGLEV = 5; CLUSTER_PROVIDED = 6; }
  enum DnsLookupFamily { AUTO = 0; V4_ONLY = 1; V6_ONLY = 2; V4_PREFERRED = 3; ALL = 4; }
  message EdsClusterConfig { envoy.config.core.v3.ConfigSource eds_config = 1; string service_name = 2; }
  message CommonLbConfig {
    message LocalityWeightedLbConfig {}
    envoy.type.v3.Percent healthy_panic_threshold = 1;
    oneof locality_config_specifier { LocalityWeightedLbConfig locality_weighted_lb_config = 3; }
  }
  message LeastRequestLbConfig { google.protobuf.UInt32Value choice_count = 1; }
  message RingHashLbConfig {
    enum HashFunction { XX_HASH = 0; MURMUR_HASH_2 = 1; }
    google.protobuf.UInt64Value minimum_ring_size = 1; HashFunction hash_function = 3; google.protobuf.UInt64Value maximum_ring_size = 4;
  }
  message MaglevLbConfig { google.protobuf.UInt64Value table_size = 1; }
  string name = 1;
  oneof cluster_discovery_type { DiscoveryType type = 2; }
  EdsClusterConfig eds_cluster_config = 3; google.protobuf.Duration connect_timeout = 4;
  google.protobuf.UInt32Value per_connection_buffer_limit_bytes = 5; LbPolicy lb_policy = 6;
  envoy.config.endpoint.v3.ClusterLoadAssignment load_assignment = 33;
  google.protobuf.UInt32Value max_requests_per_connection = 9; CircuitBreakers circuit_breakers = 10;
  envoy.config.core.v3.HttpProtocolOptions common_http_protocol_options = 29;
  map<string, google.protobuf.Any> typed_extension_protocol_options = 36;
  google.protobuf.Duration dns_refresh_rate = 16; bool respect_dns_ttl = 39; DnsLookupFamily dns_lookup_family = 17;
  OutlierDetection outlier_detection = 19; CommonLbConfig common_lb_config = 27;
  oneof lb_config { RingHashLbConfig ring_hash_lb_config = 23; MaglevLbConfig maglev_lb_config = 52; LeastRequestLbConfig least_request_lb_config = 37; }
}
message CircuitBreakers {
  message Thresholds {
    envoy.config.core.v3.RoutingPriority priority = 1; google.protobuf.UInt32Value max_connections = 2;
    google.protobuf.UInt32Value max_pending_requests = 3; google.protobuf.UInt32Value max_requests = 4;
    google.protobuf.UInt32Value max_retries = 5;
  }
  repeated Thresholds thresholds = 1;
}
message OutlierDetection {
  google.protobuf.UInt32Value consecutive_5xx = 1; google.protobuf.Duration interval = 2;
  google.protobuf.Duration base_ejection_time = 3; google.protobuf.UInt32Value max_ejection_percent = 4;
  google.protobuf.UInt32Value enforcing_consecutive_5xx = 5; google.protobuf.UInt32Value enforcing_success_rate = 6;
  google.protobuf.UInt32Value success_rate_minimum_hosts = 7; google.protobuf.UInt32Value success_rate_request_volume = 8;
  google.protobuf.UInt32Value success_rate_stdev_factor = 9; google.protobuf.UInt32Value consecutive_gateway_failure = 10;
  google.protobuf.UInt32Value enforcing_consecutive_gateway_failure = 11; bool split_external_local_origin_errors = 12;
  google.protobuf.UInt32Value consecutive_local_origin_failure = 13; google.protobuf.UInt32Value failure_percentage_threshold = 16;
  google.protobuf.UInt32Value enforcing_failure_percentage = 17; google.protobuf.UInt32Value failure_percentage_minimum_hosts = 19;
  google.protobuf.UInt32Value failure_percentage_request_volume = 20; google.protobuf.Duration max_ejection_time = 21;
}
`;

const LISTENER = `
syntax = "proto3";
package envoy.config.listener.v3;
message Filter { string name = 1; oneof config_type { google.protobuf.Any typed_config = 4; } }
message FilterChain { repeated Filter filters = 3; string name = 7; }
message Listener {
  string name = 1; envoy.config.core.v3.Address address = 2; string stat_prefix = 28; repeated FilterChain filter_chains = 3;
  google.protobuf.UInt32Value per_connection_buffer_limit_bytes = 5; envoy.config.core.v3.TrafficDirection traffic_direction = 16;
  repeated envoy.config.accesslog.v3.AccessLog access_log = 22;
}
`;

const HCM = `
syntax = "proto3";
package envoy.extensions.filters.network.http_connection_manager.v3;
message HttpConnectionManager {
  enum CodecType { AUTO = 0; HTTP1 = 1; HTTP2 = 2; HTTP3 = 3; }
  enum ServerHeaderTransformation { OVERWRITE = 0; APPEND_IF_ABSENT = 1; PASS_THROUGH = 2; }
  message Tracing {
    envoy.type.v3.Percent client_sampling = 3; envoy.type.v3.Percent random_sampling = 4; envoy.type.v3.Percent overall_sampling = 5;
    bool verbose = 6; google.protobuf.UInt32Value max_path_tag_length = 7;
    envoy.config.trace.v3.Tracing.Http provider = 9; google.protobuf.BoolValue spawn_upstream_span = 10;
  }
  message UpgradeConfig { string upgrade_type = 1; google.protobuf.BoolValue enabled = 3; }
  CodecType codec_type = 1; string stat_prefix = 2;
  oneof route_specifier { Rds rds = 3; envoy.config.route.v3.RouteConfiguration route_config = 4; }
  repeated HttpFilter http_filters = 5; Tracing tracing = 7;
  envoy.config.core.v3.HttpProtocolOptions common_http_protocol_options = 35;
  envoy.config.core.v3.Http1ProtocolOptions http_protocol_options = 8;
  string server_name = 10; ServerHeaderTransformation server_header_transformation = 34;
  google.protobuf.UInt32Value max_request_headers_kb = 29; google.protobuf.Duration stream_idle_timeout = 24;
  google.protobuf.Duration request_timeout = 28; google.protobuf.Duration request_headers_timeout = 41;
  repeated envoy.config.accesslog.v3.AccessLog access_log = 13; google.protobuf.BoolValue use_remote_address = 14;
  uint32 xff_num_trusted_hops = 19; bool skip_xff_append = 21; google.protobuf.BoolValue generate_request_id = 15;
  bool preserve_external_request_id = 32; repeated UpgradeConfig upgrade_configs = 23;
  bool strip_matching_host_port = 39; bool strip_any_host_port = 42;
}
message Rds { envoy.config.core.v3.ConfigSource config_source = 1; string route_config_name = 2; }
message HttpFilter { string name = 1; oneof config_type { google.protobuf.Any typed_config = 4; } bool is_optional = 6; bool disabled = 7; }
`;

const EXTENSIONS = `
syntax = "proto3";
package envoy.extensions.filters.http.router.v3;
message Router {
  google.protobuf.BoolValue dynamic_stats = 1; bool start_child_span = 2; bool suppress_envoy_headers = 4;
  repeated string strict_check_headers = 5; bool respect_expected_rq_timeout = 6;
}
`;

const FAULT = `
syntax = "proto3";
package envoy.extensions.filters.common.fault.v3;
message FaultDelay {
  message HeaderDelay {}
  oneof fault_delay_secifier { google.protobuf.Duration fixed_delay = 3; HeaderDelay header_delay = 5; }
  envoy.type.v3.FractionalPercent percentage = 4;
}
message FaultRateLimit {
  message FixedLimit { uint64 limit_kbps = 1; }
  message HeaderLimit {}
  oneof limit_type { FixedLimit fixed_limit = 1; HeaderLimit header_limit = 3; }
  envoy.type.v3.FractionalPercent percentage = 2;
}
`;

const HTTP_FAULT = `
syntax = "proto3";
package envoy.extensions.filters.http.fault.v3;
message FaultAbort {
  message HeaderAbort {}
  oneof error_type { uint32 http_status = 2; uint32 grpc_status = 5; HeaderAbort header_abort = 4; }
  envoy.type.v3.FractionalPercent percentage = 3;
}
message HTTPFault {
  envoy.extensions.filters.common.fault.v3.FaultDelay delay = 1; FaultAbort abort = 2; string upstream_cluster = 3;
  repeated envoy.config.route.v3.HeaderMatcher headers = 4; repeated string downstream_nodes = 5;
  google.protobuf.UInt32Value max_active_faults = 6; envoy.extensions.filters.common.fault.v3.FaultRateLimit response_rate_limit = 7;
}
`;

const ACCESS_LOGGERS = `
syntax = "proto3";
package envoy.extensions.access_loggers.stream.v3;
message StdoutAccessLog { oneof access_log_format { envoy.config.core.v3.SubstitutionFormatString log_format = 1; } }
message StderrAccessLog { oneof access_log_format { envoy.config.core.v3.SubstitutionFormatString log_format = 1; } }
`;

const OTLP_COMMON = `
syntax = "proto3";
package opentelemetry.proto.common.v1;
message AnyValue {
  oneof value {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
`;

const OTEL_ACCESS_LOG = `
syntax = "proto3";
package envoy.extensions.access_loggers.grpc.v3;
message CommonGrpcAccessLogConfig {
  string log_name = 1; envoy.config.core.v3.GrpcService grpc_service = 2; envoy.config.core.v3.ApiVersion transport_api_version = 6;
  google.protobuf.Duration buffer_flush_interval = 3; google.protobuf.UInt32Value buffer_size_bytes = 4;
  repeated string filter_state_objects_to_log = 5;
}
`;

const OTEL_ACCESS_LOG_CONFIG = `
syntax = "proto3";
package envoy.extensions.access_loggers.open_telemetry.v3;
message OpenTelemetryAccessLogConfig {
  envoy.extensions.access_loggers.grpc.v3.CommonGrpcAccessLogConfig common_config = 1;
  envoy.config.core.v3.HttpService http_service = 8; envoy.config.core.v3.GrpcService grpc_service = 9;
  bool disable_builtin_labels = 5; opentelemetry.proto.common.v1.KeyValueList resource_attributes = 4;
  opentelemetry.proto.common.v1.AnyValue body = 2; opentelemetry.proto.common.v1.KeyValueList attributes = 3;
  string stat_prefix = 6; string log_name = 10; google.protobuf.Duration buffer_flush_interval = 11;
  google.protobuf.UInt32Value buffer_size_bytes = 12;
}
`;

const FILE_ACCESS_LOG = `
syntax = "proto3";
package envoy.extensions.access_loggers.file.v3;
message FileAccessLog {
  string path = 1;
  oneof access_log_format { envoy.config.core.v3.SubstitutionFormatString log_format = 5; }
}
`;

const SUBSTITUTION = `
syntax = "proto3";
package envoy.config.core.v3;
message SubstitutionFormatString {
  oneof format { google.protobuf.Struct json_format = 2; DataSource text_format_source = 5; }
  bool omit_empty_values = 3; string content_type = 4;
}
`;

const UPSTREAMS = `
syntax = "proto3";
package envoy.extensions.upstreams.http.v3;
message HttpProtocolOptions {
  message ExplicitHttpConfig {
    oneof protocol_config {
      envoy.config.core.v3.Http1ProtocolOptions http_protocol_options = 1;
      envoy.config.core.v3.Http2ProtocolOptions http2_protocol_options = 2;
    }
  }
  envoy.config.core.v3.HttpProtocolOptions common_http_protocol_options = 1;
  oneof upstream_protocol_options { ExplicitHttpConfig explicit_http_config = 3; }
}
`;

const HASH_POLICY = `
syntax = "proto3";
package envoy.type.v3;
message HashPolicy {
  message SourceIp {}
  oneof policy_specifier { SourceIp source_ip = 1; }
}
`;

const TCP_PROXY = `
syntax = "proto3";
package envoy.extensions.filters.network.tcp_proxy.v3;
message TcpProxy {
  message WeightedCluster {
    message ClusterWeight { string name = 1; uint32 weight = 2; }
    repeated ClusterWeight clusters = 1;
  }
  string stat_prefix = 1;
  oneof cluster_specifier { string cluster = 2; WeightedCluster weighted_clusters = 10; }
  google.protobuf.Duration idle_timeout = 8;
  repeated envoy.config.accesslog.v3.AccessLog access_log = 5;
  google.protobuf.UInt32Value max_connect_attempts = 7;
  google.protobuf.Duration max_downstream_connection_duration = 13;
  repeated envoy.type.v3.HashPolicy hash_policy = 11;
}
`;

// Istio's stats filter config; meshscope's control plane sends it empty (the defaults).
const ISTIO_STATS = `
syntax = "proto3";
package stats;
message PluginConfig {}
`;

const DISCOVERY = `
syntax = "proto3";
package envoy.service.discovery.v3;
message DiscoveryRequest {
  string version_info = 1; envoy.config.core.v3.Node node = 2; repeated string resource_names = 3;
  string type_url = 4; string response_nonce = 5; google.rpc.Status error_detail = 6;
}
message DiscoveryResponse {
  string version_info = 1; repeated google.protobuf.Any resources = 2; bool canary = 3; string type_url = 4; string nonce = 5;
}
message DeltaDiscoveryRequest {
  envoy.config.core.v3.Node node = 1; string type_url = 2; repeated string resource_names_subscribe = 3;
  repeated string resource_names_unsubscribe = 4; map<string, string> initial_resource_versions = 5;
  string response_nonce = 6; google.rpc.Status error_detail = 7;
}
message DeltaDiscoveryResponse {
  string system_version_info = 1; repeated Resource resources = 2; string type_url = 4;
  repeated string removed_resources = 6; string nonce = 5;
}
message Resource { string name = 3; repeated string aliases = 4; string version = 1; google.protobuf.Any resource = 2; }
`;

export const PROTO_FILES: readonly string[] = [
  WELL_KNOWN,
  RPC,
  TYPE,
  MATCHER,
  CORE,
  SUBSTITUTION,
  ACCESSLOG,
  TRACE,
  ROUTE,
  ENDPOINT,
  CLUSTER,
  LISTENER,
  HCM,
  EXTENSIONS,
  FAULT,
  HTTP_FAULT,
  ACCESS_LOGGERS,
  FILE_ACCESS_LOG,
  OTLP_COMMON,
  OTEL_ACCESS_LOG,
  OTEL_ACCESS_LOG_CONFIG,
  UPSTREAMS,
  HASH_POLICY,
  TCP_PROXY,
  ISTIO_STATS,
  DISCOVERY,
];
