// The HTTP/1 codecs' DeferredWriter writes a turn's joined text straight to a plaintext TCP
// socket's native handle when the socket's Writable holds nothing. A write the kernel takes only
// in part stays queued in libuv; what follows goes through socket.write. Checked over real
// loopback sockets against a reader that stops reading: every text arrives whole and in order,
// the writer reports the socket above its watermark, and a write to a reset peer fails as Node's
// own write does.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DeferredWriter } from '../../proxy/core/http/deferred-writer.js';

/** A connected pair on 127.0.0.1: `writer` (accepted by our server) and `reader` (the client). */
async function socketPair(): Promise<{ writer: net.Socket; reader: net.Socket; close: () => void }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const reader = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  const writer = await accepted;
  await new Promise<void>((r) => (reader.connecting ? reader.once('connect', () => r()) : r()));
  writer.setNoDelay(true);
  return {
    writer,
    reader,
    close: () => {
      writer.destroy();
      reader.destroy();
      server.close();
    },
  };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

let cleanup: (() => void) | null = null;
afterEach(() => {
  cleanup?.();
  cleanup = null;
});

describe('DeferredWriter on a plaintext TCP socket', () => {
  it('keeps every text whole and in order when the kernel stops taking them, and reports the watermark', async () => {
    const { writer, reader, close } = await socketPair();
    cleanup = close;
    reader.pause(); // reads nothing until the writer is backed up
    let above = false;
    const deferred = new DeferredWriter(writer, () => {
      above = true;
    });
    // One ~4 KB text per turn, each numbered, until the socket's own buffer is over its mark:
    // the kernel's buffers filled first, so a handle write was left queued in part before it.
    const body = 'x'.repeat(4000);
    let sent = 0;
    while (!above) {
      deferred.write(`${String(sent).padStart(8, '0')}${body}\n`);
      sent++;
      await turn();
      if (sent > 100_000) throw new Error('the writer never reported backpressure');
    }
    expect(writer.writableLength).toBeGreaterThan(0);
    const expected = sent * (8 + body.length + 1);
    const chunks: Buffer[] = [];
    let received = 0;
    await new Promise<void>((resolve) => {
      reader.on('data', (d: Buffer) => {
        chunks.push(d);
        received += d.length;
        if (received >= expected) resolve();
      });
      reader.resume();
    });
    const lines = Buffer.concat(chunks).toString('latin1').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.length).toBe(sent);
    for (let i = 0; i < lines.length; i++) {
      expect(lines[i]!.slice(0, 8)).toBe(String(i).padStart(8, '0'));
      expect(lines[i]!.length).toBe(8 + body.length);
    }
  });

  it('keeps the texts of sockets backed up at once, and of one that is not, whole and in order', async () => {
    // Writes the kernel takes whole share one native write request; one left queued in libuv
    // keeps its own (binding it to a second queued write aborts Node), while other sockets' writes go on.
    const pairs = [await socketPair(), await socketPair(), await socketPair()];
    cleanup = () => {
      for (const p of pairs) p.close();
    };
    const body = 'x'.repeat(4000);
    const streams = pairs.map((p, i) => {
      const stream = { above: false, sent: 0, chunks: [] as Buffer[], writer: null as unknown as DeferredWriter };
      stream.writer = new DeferredWriter(p.writer, () => {
        stream.above = true;
      });
      if (i < 2) p.reader.pause(); // the first two are backed up; the third reads all along
      p.reader.on('data', (d: Buffer) => stream.chunks.push(d));
      return stream;
    });
    const [slowA, slowB, fast] = streams as [(typeof streams)[0], (typeof streams)[0], (typeof streams)[0]];
    const write = (s: typeof fast, text: string): void => {
      s.writer.write(`${String(s.sent++).padStart(8, '0')}${text}\n`);
    };
    for (let turns = 0; !(slowA.above && slowB.above); turns++) {
      if (!slowA.above) write(slowA, body);
      if (!slowB.above) write(slowB, body);
      write(fast, 'fast');
      await turn();
      if (turns > 100_000) throw new Error('the writers never reported backpressure');
    }
    for (let i = 0; i < 100; i++) {
      write(fast, 'fast');
      await turn();
    }
    pairs[0]!.reader.resume();
    pairs[1]!.reader.resume();
    const texts = [body, body, 'fast'];
    for (let i = 0; i < 3; i++) {
      const s = streams[i]!;
      const expected = s.sent * (8 + texts[i]!.length + 1);
      while (s.chunks.reduce((n, c) => n + c.length, 0) < expected) await new Promise((r) => setTimeout(r, 10));
      const lines = Buffer.concat(s.chunks).toString('latin1').split('\n');
      expect(lines.pop()).toBe('');
      expect(lines).toEqual(Array.from({ length: s.sent }, (_, n) => `${String(n).padStart(8, '0')}${texts[i]}`));
    }
  });

  it('fails a write to a peer that reset the connection as Node reports it', async () => {
    const { writer, reader, close } = await socketPair();
    cleanup = close;
    const failed = new Promise<NodeJS.ErrnoException>((r) => writer.once('error', r));
    reader.resetAndDestroy();
    await new Promise<void>((r) => reader.once('close', () => r()));
    const deferred = new DeferredWriter(writer);
    // The first write may still be taken before the reset is seen; the next ones cannot be.
    for (let i = 0; i < 1000 && !writer.destroyed; i++) {
      deferred.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
      await turn();
    }
    const err = await failed;
    expect(['EPIPE', 'ECONNRESET']).toContain(err.code);
    expect(writer.destroyed).toBe(true);
  });
});
