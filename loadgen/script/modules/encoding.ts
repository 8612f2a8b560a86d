// k6/encoding: base64 in k6's four alphabets.
type B64 = 'std' | 'rawstd' | 'url' | 'rawurl';

export function createEncodingModule(): Record<string, unknown> {
  const b64encode = (input: string | ArrayBuffer, encoding: B64 = 'std'): string => {
    const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : Buffer.from(input);
    const url = encoding === 'url' || encoding === 'rawurl';
    let s = buf.toString(url ? 'base64url' : 'base64');
    if (encoding === 'url') s += '='.repeat((4 - (s.length % 4)) % 4);
    if (encoding === 'rawstd') s = s.replace(/=+$/, '');
    return s;
  };
  const b64decode = (input: string, encoding: B64 = 'std', format?: 's'): string | ArrayBuffer => {
    const url = encoding === 'url' || encoding === 'rawurl';
    const buf = Buffer.from(input, url ? 'base64url' : 'base64');
    return format === 's'
      ? buf.toString('utf8')
      : (buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer);
  };
  const mod: Record<string, unknown> = { b64encode, b64decode };
  mod.default = mod;
  return mod;
}
