// k6/experimental/streams: the WHATWG Streams API k6 ships, which Node implements in
// node:stream/web (ReadableStream, its default reader, the queuing strategies).
import {
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
  ReadableStream,
  ReadableStreamDefaultReader,
} from 'node:stream/web';

export function createStreamsModule(): Record<string, unknown> {
  const mod: Record<string, unknown> = {
    ReadableStream,
    ReadableStreamDefaultReader,
    CountQueuingStrategy,
    ByteLengthQueuingStrategy,
  };
  mod.default = mod;
  return mod;
}
