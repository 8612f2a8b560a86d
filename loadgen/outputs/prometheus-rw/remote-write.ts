// Prometheus remote write 1.0 on the wire: a WriteRequest protobuf (prometheus/prompb) compressed
// with snappy's block format. Only the four messages remote write needs are encoded, by hand:
//   WriteRequest { repeated TimeSeries timeseries = 1; }
//   TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//   Label        { string name = 1; string value = 2; }
//   Sample       { double value = 1; int64 timestamp = 2; }   // timestamp in ms
// The snappy encoder emits literals only: a valid block every decoder reads, without compression,
// which a local receiver does not need (and it keeps a compression library off the dependency list).

export interface Series {
  /** Label pairs including __name__; sorted by name here, as the protocol requires. */
  labels: Array<[string, string]>;
  value: number;
  timestampMs: number;
}

class Writer {
  #buf = Buffer.allocUnsafe(1024);
  #len = 0;

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }

  varint(v: number): void {
    this.#room(10);
    let n = v;
    while (n >= 0x80) {
      this.#buf[this.#len++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    this.#buf[this.#len++] = n;
  }

  bytes(field: number, data: Buffer): void {
    this.varint((field << 3) | 2);
    this.varint(data.length);
    this.#room(data.length);
    data.copy(this.#buf, this.#len);
    this.#len += data.length;
  }

  double(field: number, v: number): void {
    this.varint((field << 3) | 1);
    this.#room(8);
    this.#buf.writeDoubleLE(v, this.#len);
    this.#len += 8;
  }

  int64(field: number, v: number): void {
    this.varint(field << 3);
    this.varint(v);
  }

  finish(): Buffer {
    return this.#buf.subarray(0, this.#len);
  }
}

export function encodeWriteRequest(series: readonly Series[]): Buffer {
  const req = new Writer();
  for (const s of series) {
    const ts = new Writer();
    for (const [name, value] of [...s.labels].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
      const label = new Writer();
      label.bytes(1, Buffer.from(name, 'utf8'));
      label.bytes(2, Buffer.from(value, 'utf8'));
      ts.bytes(1, label.finish());
    }
    const sample = new Writer();
    sample.double(1, s.value);
    sample.int64(2, Math.round(s.timestampMs));
    ts.bytes(2, sample.finish());
    req.bytes(1, ts.finish());
  }
  return req.finish();
}

/** Snappy block format, literals only: varint(length), then tagged literal runs of up to 64 KiB. */
export function snappyLiteral(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  const head: number[] = [];
  for (let n = data.length; ; ) {
    head.push(n >= 0x80 ? (n % 0x80) | 0x80 : n);
    if (n < 0x80) break;
    n = Math.floor(n / 0x80);
  }
  parts.push(Buffer.from(head));
  const RUN = 65536;
  for (let off = 0; off < data.length; off += RUN) {
    const len = Math.min(RUN, data.length - off);
    // A literal's tag: (len - 1) << 2 up to 60 bytes; above, 61 << 2 then len - 1 in 2 bytes (LE).
    const tag = len <= 60 ? Buffer.from([(len - 1) << 2]) : Buffer.from([61 << 2, (len - 1) & 0xff, (len - 1) >> 8]);
    parts.push(tag, data.subarray(off, off + len));
  }
  return Buffer.concat(parts);
}
