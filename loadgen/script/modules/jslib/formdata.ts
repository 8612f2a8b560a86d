// jslib.k6.io/formdata, served built in: FormData for multipart bodies with several files or
// fields of one name: append(name, value | http.file()), body() and boundary, sent as
// `http.post(url, fd.body(), { headers: { 'Content-Type': 'multipart/form-data; boundary=' + fd.boundary } })`.
import { randomBytes } from 'node:crypto';
import { types } from 'node:util';

interface FilePart {
  data: string | ArrayBuffer | ArrayBufferView;
  filename?: string;
  content_type?: string;
}

function bytes(v: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return Buffer.from(v);
}

export function createFormDataModule(): Record<string, unknown> {
  class FormData {
    readonly boundary = `------RWWorkerFormDataBoundary${randomBytes(12).toString('hex')}`;
    readonly #parts: Array<[string, string | FilePart]> = [];

    append(name: string, value: unknown): void {
      const isFile =
        value !== null &&
        typeof value === 'object' &&
        'data' in value &&
        (typeof (value as FilePart).data === 'string' ||
          types.isAnyArrayBuffer((value as FilePart).data) ||
          ArrayBuffer.isView((value as FilePart).data));
      this.#parts.push([String(name), isFile ? (value as FilePart) : String(value)]);
    }

    /** The multipart body as an ArrayBuffer. */
    body(): ArrayBuffer {
      const chunks: Buffer[] = [];
      for (const [name, v] of this.#parts) {
        if (typeof v === 'string') {
          chunks.push(
            Buffer.from(`--${this.boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${v}\r\n`),
          );
        } else {
          const filename = v.filename ?? 'blob';
          const type = v.content_type ?? 'application/octet-stream';
          chunks.push(
            Buffer.from(
              `--${this.boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`,
            ),
            bytes(v.data),
            Buffer.from('\r\n'),
          );
        }
      }
      chunks.push(Buffer.from(`--${this.boundary}--\r\n`));
      const buf = Buffer.concat(chunks);
      return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer;
    }
  }
  const mod: Record<string, unknown> = { FormData };
  mod.default = mod;
  return mod;
}
