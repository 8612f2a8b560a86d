// k6/experimental/streams: the WHATWG Streams API k6 ships, which Node implements in
// node:stream/web (ReadableStream, WritableStream, TransformStream, their default reader and
// writer, the queuing strategies).
import {
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
  ReadableStream,
  ReadableStreamDefaultReader,
  TransformStream,
  WritableStream,
  WritableStreamDefaultWriter,
} from 'node:stream/web';

export function createStreamsModule(): Record<string, unknown> {
  const mod: Record<string, unknown> = {
    ReadableStream,
    ReadableStreamDefaultReader,
    CountQueuingStrategy,
    ByteLengthQueuingStrategy,
    WritableStream,
    WritableStreamDefaultWriter,
    TransformStream,
  };
  mod.default = mod;
  return mod;
}
