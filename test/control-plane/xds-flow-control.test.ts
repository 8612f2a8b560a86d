// HTTP/2 flow control on the xDS server's ADS streams, seen from a client that frames HTTP/2 by
// hand over a socket, so it decides exactly when its windows open: a CDS push larger than the
// client's stream window stops at the window until WINDOW_UPDATE, and a sidecar that does not
// read while the mesh keeps changing is not sent every version in between (what waits for it
// stays bounded), then gets the newest state once it reads again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { stringify } from 'yaml';
import { startControlPlane, TYPE_URL, type ControlPlane } from '../../control-plane/index.js';
import { decodeMessage, encodeMessage, type JsonValue } from '../../proxy/xds/index.js';
import { tempDir, waitFor, type TempDir } from './helpers.js';

const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
/** About 170 octets of CDS per service: 250 services make a push of some 43 KB. */
const SERVICES = 250;

function meshText(services: number): string {
  return stringify({
    name: 'flow',
    services: Array.from({ length: services }, (_, s) => ({
      name: `svc-${s}`,
      ports: [{ name: 'http', port: 8080 }],
      workloads: [
        {
          name: `w-${s}`,
          endpoints: { http: `127.0.0.1:${20000 + s}` },
          ...(s === 0 ? { sidecar: { inbound: { http: 19101 }, outbound_port: 19102 } } : {}),
        },
      ],
    })),
  });
}

function h2frame(type: number, flags: number, id: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(id, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK literal fields without indexing, new names (RFC 7541 §6.2.2); every string here is under 127 octets. */
function headerBlock(fields: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [n, v] of fields)
    parts.push(Buffer.from([0, n.length]), Buffer.from(n), Buffer.from([v.length]), Buffer.from(v));
  return Buffer.concat(parts);
}

const DATA = 0;
const HEADERS = 1;
const RST_STREAM = 3;
const SETTINGS = 4;
const PING = 6;
const WINDOW_UPDATE = 8;

interface Response {
  version_info: string;
  resources: Array<{ name?: string }>;
}

/** One ADS stream (id 1) on a hand-framed HTTP/2 connection. */
class RawAdsClient {
  readonly #socket: net.Socket;
  #input = Buffer.alloc(0);
  #body = Buffer.alloc(0);
  /** DATA octets received on the ADS stream. */
  dataBytes = 0;
  readonly responses: Response[] = [];
  pingAcks = 0;
  reset = false;

  constructor(port: number, initialWindow: number) {
    this.#socket = net.connect(port, '127.0.0.1');
    this.#socket.on('data', (c: Buffer) => this.#onData(c));
    this.#socket.on('error', () => undefined);
    const settings = Buffer.alloc(6);
    settings.writeUInt16BE(0x4, 0); // SETTINGS_INITIAL_WINDOW_SIZE
    settings.writeUInt32BE(initialWindow, 2);
    const request = encodeMessage('envoy.service.discovery.v3.DiscoveryRequest', {
      node: { id: 'w-0', cluster: 'svc-0' },
      type_url: TYPE_URL.clusters,
    } as JsonValue);
    const grpc = Buffer.alloc(5 + request.length);
    grpc.writeUInt32BE(request.length, 1);
    grpc.set(request, 5);
    this.#socket.write(
      Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
        h2frame(SETTINGS, 0, 0, settings),
        h2frame(
          HEADERS,
          0x4, // END_HEADERS
          1,
          headerBlock([
            [':method', 'POST'],
            [':scheme', 'http'],
            [':path', ADS_PATH],
            [':authority', 'xds'],
            ['content-type', 'application/grpc'],
            ['te', 'trailers'],
          ]),
        ),
        h2frame(DATA, 0, 1, grpc),
      ]),
    );
  }

  #onData(chunk: Buffer): void {
    this.#input = Buffer.concat([this.#input, chunk]);
    while (this.#input.length >= 9) {
      const len = this.#input.readUIntBE(0, 3);
      if (this.#input.length < 9 + len) return;
      const type = this.#input[3]!;
      const flags = this.#input[4]!;
      const id = this.#input.readUInt32BE(5) & 0x7fffffff;
      const payload = this.#input.subarray(9, 9 + len);
      this.#input = this.#input.subarray(9 + len);
      if (type === SETTINGS && (flags & 1) === 0) this.#socket.write(h2frame(SETTINGS, 1, 0));
      else if (type === PING && (flags & 1) !== 0) this.pingAcks++;
      else if (type === RST_STREAM && id === 1) this.reset = true;
      else if (type === DATA && id === 1) {
        this.dataBytes += len;
        this.#body = Buffer.concat([this.#body, payload]);
        while (this.#body.length >= 5 && this.#body.length >= 5 + this.#body.readUInt32BE(1)) {
          const size = this.#body.readUInt32BE(1);
          const message = this.#body.subarray(5, 5 + size);
          this.#body = this.#body.subarray(5 + size);
          this.responses.push(
            decodeMessage('envoy.service.discovery.v3.DiscoveryResponse', message) as unknown as Response,
          );
        }
      }
    }
  }

  /** Resolves once the server answered a PING sent now: it has written everything it could before it. */
  async roundTrip(): Promise<void> {
    const want = this.pingAcks + 1;
    this.#socket.write(h2frame(PING, 0, 0, Buffer.alloc(8)));
    await waitFor(() => this.pingAcks >= want || undefined, 'PING ACK');
  }

  openWindows(increment: number): void {
    const inc = Buffer.alloc(4);
    inc.writeUInt32BE(increment);
    this.#socket.write(Buffer.concat([h2frame(WINDOW_UPDATE, 0, 1, inc), h2frame(WINDOW_UPDATE, 0, 0, inc)]));
  }

  close(): void {
    this.#socket.destroy();
  }
}

let dir: TempDir;
let cp: ControlPlane;
let applied = 0;

beforeAll(async () => {
  dir = tempDir();
  dir.write('mesh.yaml', meshText(SERVICES));
  cp = await startControlPlane({
    meshPath: dir.file('mesh.yaml'),
    port: 0,
    debounceMs: 20,
    log: () => undefined,
    onMeshApplied: () => applied++,
  });
});

afterAll(async () => {
  await cp.close();
  dir.remove();
});

const hasCluster = (r: Response, service: string): boolean =>
  r.resources.some((c) => typeof c.name === 'string' && c.name.endsWith(`/${service}`));

describe('xDS server flow control', () => {
  it('stops a CDS push larger than the stream window at the window, and sends the rest after WINDOW_UPDATE', async () => {
    const c = new RawAdsClient(cp.port, 4096);
    try {
      await waitFor(() => c.dataBytes >= 4096 || undefined, 'the first 4096 octets of the CDS push');
      await c.roundTrip();
      expect(c.dataBytes).toBe(4096);
      expect(c.responses).toHaveLength(0);
      c.openWindows(1 << 20);
      const cds = await waitFor(() => c.responses[0], 'the whole CDS response');
      expect(c.dataBytes).toBeGreaterThan(40_000);
      expect(hasCluster(cds, `svc-${SERVICES - 1}`)).toBe(true);
      expect(c.reset).toBe(false);
    } finally {
      c.close();
    }
  });

  it('does not queue every version for a sidecar that does not read, and sends it the newest once it does', async () => {
    const c = new RawAdsClient(cp.port, 0);
    const edits = 8;
    try {
      await waitFor(() => cp.stats().adsStreams >= 1 || undefined, 'the ADS stream');
      for (let i = 1; i <= edits; i++) {
        const before = applied;
        dir.write('mesh.yaml', meshText(SERVICES + i));
        await waitFor(() => applied > before || undefined, `edit ${i} applied`);
      }
      await c.roundTrip();
      expect(c.dataBytes).toBe(0);
      c.openWindows(1 << 30);
      const newest = `svc-${SERVICES + edits - 1}`;
      await waitFor(() => c.responses.some((r) => hasCluster(r, newest)) || undefined, `a CDS push with ${newest}`);
      await c.roundTrip();
      // The first push and one more wait behind the closed window (64 KiB of them); the edits
      // after that collapse into one push of the newest state.
      expect(c.responses.length).toBeLessThanOrEqual(3);
      expect(hasCluster(c.responses[c.responses.length - 1]!, newest)).toBe(true);
      expect(c.reset).toBe(false);
    } finally {
      c.close();
    }
  });
});
