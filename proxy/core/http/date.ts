// The `date` header for local replies, formatted at most once per second.
let cachedSecond = 0;
let cachedValue = '';

export function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedValue = new Date(now).toUTCString();
  }
  return cachedValue;
}
