// Run by `npm run build` after tsc: writes Envoy's API (the .proto files envoy-api.ts names) as a
// protobufjs JSON descriptor next to the compiled envoy-api.js, which loads it instead of
// parsing the .proto files on the first xDS message.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DESCRIPTOR_FILE, envoyApiDescriptor } from './envoy-api.js';

const target = fileURLToPath(new URL(DESCRIPTOR_FILE, import.meta.url));
fs.writeFileSync(target, JSON.stringify(envoyApiDescriptor()));
process.stdout.write(`wrote ${target}\n`);
