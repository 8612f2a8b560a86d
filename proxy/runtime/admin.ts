// Admin endpoints for the runtime, in Envoy's shapes: GET /runtime lists the layers and, for
// every key, its raw value in each layer and the value that wins; POST /runtime_modify sets
// or (with an empty value) removes admin-layer overrides.
import type { AdminHandlerRegistry, AdminRequest, AdminResponse } from '../admin/types.js';
import type { LayeredRuntime } from './loader.js';
import type { RuntimeSnapshot } from './snapshot.js';
import { RuntimeNoAdminLayerError } from './errors.js';

export interface RuntimeDump {
  layers: string[];
  entries: Record<string, { final_value: string; layer_values: string[] }>;
}

export function runtimeDump(snapshot: RuntimeSnapshot): RuntimeDump {
  const keys = new Set<string>();
  for (const layer of snapshot.layers) for (const key of layer.values.keys()) keys.add(key);
  const entries: RuntimeDump['entries'] = {};
  for (const key of [...keys].sort()) {
    const layerValues = snapshot.layers.map((layer) => layer.values.get(key)?.raw ?? '');
    let finalValue = '';
    for (const value of layerValues) if (value !== '') finalValue = value;
    entries[key] = { final_value: finalValue, layer_values: layerValues };
  }
  return { layers: snapshot.layers.map((layer) => layer.name), entries };
}

const USAGE =
  'usage: /runtime_modify?key1=value1&key2=value2&keyN=valueN\n' +
  '       or send the parameters as form values\n' +
  'use an empty value to remove a previously added override\n';

function runtimeModify(runtime: LayeredRuntime, request: AdminRequest): AdminResponse {
  let params: Array<[string, string]> = [...request.query];
  if (params.length === 0 && request.body.length > 0) params = [...new URLSearchParams(request.body.toString('utf8'))];
  if (params.length === 0) return { status: 400, contentType: 'text/plain; charset=UTF-8', body: USAGE };
  try {
    runtime.mergeValues(params);
  } catch (err) {
    if (err instanceof RuntimeNoAdminLayerError)
      return { status: 503, contentType: 'text/plain; charset=UTF-8', body: `${err.message}\n` };
    throw err;
  }
  return { status: 200, contentType: 'text/plain; charset=UTF-8', body: 'OK\n' };
}

export function registerRuntimeAdminHandlers(registry: AdminHandlerRegistry, runtime: LayeredRuntime): void {
  registry.addHandler('/runtime', 'print runtime values', false, () => ({
    status: 200,
    contentType: 'application/json',
    body: `${JSON.stringify(runtimeDump(runtime.snapshot()), null, 2)}\n`,
  }));
  registry.addHandler(
    '/runtime_modify',
    'Adds or modifies an existing runtime value (key=value); an empty value removes it',
    true,
    (request) => runtimeModify(runtime, request),
  );
}
