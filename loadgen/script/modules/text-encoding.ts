// k6/experimental/encoding: the WHATWG Encoding API (TextEncoder, TextDecoder), Node's own.
export function createTextEncodingModule(): Record<string, unknown> {
  const mod: Record<string, unknown> = { TextEncoder, TextDecoder };
  mod.default = mod;
  return mod;
}
