// `/server_info` as Envoy prints it (envoy.admin.v3.ServerInfo, proto field names, every field
// of CommandLineOptions with its default, durations as "600s", uint64 as strings).
import type { ServerInfo } from './types.js';

/** Envoy's CommandLineOptions defaults (envoy/admin/v3/server_info.proto; source/server/options_impl.cc). */
const COMMAND_LINE_DEFAULTS = {
  base_id: '0',
  use_dynamic_base_id: false,
  skip_hot_restart_on_no_parent: false,
  skip_hot_restart_parent_stats: false,
  base_id_path: '',
  concurrency: 1,
  config_path: '',
  config_yaml: '',
  allow_unknown_static_fields: false,
  reject_unknown_dynamic_fields: false,
  ignore_unknown_dynamic_fields: false,
  admin_address_path: '',
  local_address_ip_version: 'v4',
  log_level: 'info',
  component_log_level: '',
  log_format: '[%Y-%m-%d %T.%e][%t][%l][%n] [%g:%#] %v',
  log_format_escaped: false,
  log_path: '',
  service_cluster: '',
  service_node: '',
  service_zone: '',
  file_flush_interval: '10s',
  drain_time: '600s',
  drain_strategy: 'Gradual',
  parent_shutdown_time: '900s',
  mode: 'Serve',
  disable_hot_restart: true,
  enable_mutex_tracing: false,
  restart_epoch: 0,
  cpuset_threads: false,
  disabled_extensions: [] as string[],
  enable_fine_grain_logging: false,
  socket_path: '@envoy_domain_socket',
  socket_mode: 0,
  enable_core_dump: false,
  stats_tag: [] as string[],
};

/** The proxy's own option names that differ from Envoy's message. */
function commandLineOptions(given: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...COMMAND_LINE_DEFAULTS };
  for (const [k, v] of Object.entries(given)) {
    if (v === undefined) continue;
    if (k === 'drain_time_s') out.drain_time = `${Number(v)}s`;
    else if (k in out) out[k] = v;
  }
  return out;
}

export function renderServerInfo(info: ServerInfo, state: string): string {
  const uptime = `${Math.floor(info.uptimeSeconds)}s`;
  const loc = info.node.locality ?? {};
  return JSON.stringify(
    {
      version: info.version,
      state,
      hot_restart_version: 'disabled',
      command_line_options: commandLineOptions(info.commandLineOptions),
      node: {
        id: info.node.id,
        cluster: info.node.cluster,
        metadata: info.node.metadata ?? {},
        locality: { region: loc.region ?? '', zone: loc.zone ?? '', sub_zone: loc.sub_zone ?? loc.subZone ?? '' },
        user_agent_name: 'meshscope',
      },
      uptime_current_epoch: uptime,
      uptime_all_epochs: uptime,
    },
    null,
    1,
  );
}
