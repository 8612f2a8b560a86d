// envoy.filters.network.direct_response: a terminal network filter that answers every new
// connection with fixed bytes and closes it, reading nothing (Envoy's use: a chain that turns
// away connections nothing else matches, with a message).
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { z } from 'zod';
import { defineExtension } from '../../../../core/registry.js';
import { type DownstreamConnection, type NetworkFilter, registries } from '../../../../core/extension-points.js';
import { dataSourceSchema } from '../../../../api/schema.js';

export const DIRECT_RESPONSE_TYPE_URL =
  'type.googleapis.com/envoy.extensions.filters.network.direct_response.v3.Config';

const directResponseSchema = z
  .object({ '@type': z.literal(DIRECT_RESPONSE_TYPE_URL).optional(), response: dataSourceSchema.optional() })
  .strict();

registries.networkFilters.register(
  defineExtension({
    name: 'envoy.filters.network.direct_response',
    typeUrls: [DIRECT_RESPONSE_TYPE_URL],
    configSchema: directResponseSchema,
    terminal: true,
    create(config): NetworkFilter {
      const r = config.response;
      const body =
        r === undefined
          ? Buffer.alloc(0)
          : r.inline_string !== undefined
            ? Buffer.from(r.inline_string)
            : r.inline_bytes !== undefined
              ? Buffer.from(r.inline_bytes, 'base64')
              : readFileSync(r.filename!);
      return {
        onNewConnection(transport) {
          const socket = transport.stream;
          socket.on('error', () => {
            // A peer that resets before reading the response: nothing to answer any more.
          });
          // Input is discarded; the socket closes once the peer has closed its side too.
          socket.on('data', () => {});
          socket.end(body);
          return new ClosingConnection(socket);
        },
      };
    },
  }),
);

class ClosingConnection implements DownstreamConnection {
  readonly #socket: Socket;
  constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('end', () => socket.destroy());
  }
  drain(): void {
    // Already closing: the response is written and the write side ended.
  }
  destroy(): void {
    this.#socket.destroy();
  }
  onClose(fn: () => void): void {
    if (this.#socket.destroyed) fn();
    else this.#socket.once('close', fn);
  }
}
