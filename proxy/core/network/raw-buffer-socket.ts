// envoy.transport_sockets.raw_buffer: plaintext TCP. The accepted or connected net.Socket is the
// native stream as it is; `:scheme` is `http`.
import { connect, Socket, type SocketConstructorOpts } from 'node:net';
import type {
  DownstreamTransportSocketFactory,
  TransportSocket,
  UpstreamTransportSocketFactory,
} from './transport-socket.js';

export const RAW_BUFFER_TRANSPORT_SOCKET = 'envoy.transport_sockets.raw_buffer';

/**
 * Every upstream socket of this worker, and every accepted one a codec reads with `readWith`,
 * reads into this one buffer (net's `onread`): no allocation per read. Safe because a read is
 * consumed synchronously: the HTTP/1 parser copies what it holds across reads and both HTTP/1
 * codecs hand body bytes on as copies.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/**
 * Where Node keeps a socket's `onread` (its buffer and callback), found once on a socket made
 * with that option. Node offers `onread` only to sockets it connects, not to the ones a server
 * accepts; setting the same two slots and pointing the handle at the buffer, as Node's own
 * constructor does, gives an accepted socket the same reads. Null when this Node keeps them
 * otherwise: accepted sockets are then read through `data` events, as before.
 */
const USER_BUFFER_SLOTS = findUserBufferSlots();

interface UserBufferSlots {
  readonly buffer: symbol;
  readonly callback: symbol;
}

function findUserBufferSlots(): UserBufferSlots | null {
  const buffer = Buffer.alloc(1);
  const callback = (): boolean => true;
  const probe = new Socket({ onread: { buffer, callback } } as SocketConstructorOpts);
  const slots = probe as unknown as Record<symbol, unknown>;
  const find = (name: string, value: unknown): symbol | undefined =>
    Object.getOwnPropertySymbols(probe).find((s) => s.description === name && slots[s] === value);
  const b = find('kBuffer', buffer);
  const c = find('kBufferCb', callback);
  probe.destroy();
  return b === undefined || c === undefined ? null : { buffer: b, callback: c };
}

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

export class RawBufferSocket implements TransportSocket {
  readonly transportProtocol = 'raw_buffer' as const;
  readonly scheme = 'http' as const;
  readonly applicationProtocol = '';
  readonly requestedServerName = '';
  readonly ssl = null;
  readonly stream: Socket;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  #connected: boolean;

  /** An accepted socket (connected), or one still connecting to `remote`. */
  constructor(stream: Socket, remote?: { address: string; port: number }) {
    this.stream = stream;
    this.#connected = remote === undefined;
    this.remoteAddress = remote?.address ?? stream.remoteAddress ?? '';
    this.remotePort = remote?.port ?? stream.remotePort ?? 0;
    this.localAddress = stream.localAddress ?? '';
    this.localPort = stream.localPort ?? 0;
  }

  readWith(onRead: (data: Buffer) => void): boolean {
    const handle = (this.stream as unknown as { _handle?: Partial<UserBufferHandle> | null })._handle;
    if (USER_BUFFER_SLOTS === null || typeof handle?.useUserBuffer !== 'function') return false;
    const slots = this.stream as unknown as Record<symbol, unknown>;
    slots[USER_BUFFER_SLOTS.buffer] = READ_BUFFER;
    slots[USER_BUFFER_SLOTS.callback] = (nread: number): boolean => {
      onRead(READ_BUFFER.subarray(0, nread));
      return true;
    };
    handle.useUserBuffer(READ_BUFFER);
    return true;
  }

  onConnected(fn: () => void): void {
    if (this.#connected) {
      fn();
      return;
    }
    this.stream.once('connect', () => {
      this.#connected = true;
      this.localAddress = this.stream.localAddress ?? '';
      this.localPort = this.stream.localPort ?? 0;
      fn();
    });
  }
}

export const rawBufferDownstreamFactory: DownstreamTransportSocketFactory = {
  transportProtocol: 'raw_buffer',
  createTransportSocket(accepted: Socket): TransportSocket {
    return new RawBufferSocket(accepted);
  },
};

export const rawBufferUpstreamFactory: UpstreamTransportSocketFactory = {
  transportProtocol: 'raw_buffer',
  connect(address: string, port: number, onRead: ((data: Buffer) => void) | null): TransportSocket {
    if (onRead === null) return new RawBufferSocket(connect({ host: address, port, noDelay: true }), { address, port });
    const socket = connect({
      host: address,
      port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (nread: number): boolean => {
          onRead(READ_BUFFER.subarray(0, nread));
          return true;
        },
      },
    });
    return new RawBufferSocket(socket, { address, port });
  },
};
