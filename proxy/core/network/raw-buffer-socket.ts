// envoy.transport_sockets.raw_buffer: plaintext TCP. The accepted or connected net.Socket is the
// native stream as it is; `:scheme` is `http`.
import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import { readFromHandle } from '../../../shared/stream-wrap.js';
import type {
  DownstreamTransportSocketFactory,
  TransportSocket,
  UpstreamTransportSocketFactory,
} from './transport-socket.js';
import { readIntoBuffer, sharedBufferViews } from './user-buffer-reads.js';
import { duringRead } from '../read-clock.js';

export const RAW_BUFFER_TRANSPORT_SOCKET = 'envoy.transport_sockets.raw_buffer';

/**
 * Every upstream socket of this worker, and every accepted one a codec reads with `readWith`,
 * reads into this one buffer (net's `onread`): no allocation per read. Safe because a read is
 * consumed synchronously: the HTTP/1 parser copies what it holds across reads and both HTTP/1
 * codecs hand body bytes on as copies.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);
/** READ_BUFFER's views for the upstream sockets' reads (see sharedBufferViews). */
const readView = sharedBufferViews(READ_BUFFER);

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
    return readIntoBuffer(this.stream, READ_BUFFER, onRead);
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
    const handleRead = (nread: number): void => onRead(readView(nread));
    const onBytes = (nread: number): void => duringRead(handleRead, nread);
    const socket = connect({
      host: address,
      port,
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (nread: number): boolean => {
          onBytes(nread);
          return true;
        },
      },
    });
    // The handle exists once connect() returns: its reads skip net's callback (stream-wrap.ts).
    readFromHandle(socket, onBytes);
    return new RawBufferSocket(socket, { address, port });
  },
};
