// The logger keeps a failing target from flooding stderr: past a burst, repeats are counted.
import { Writable } from 'node:stream';
import { expect, it } from 'vitest';
import { Logger } from '../../loadgen/log.js';

it('prints a burst of identical messages, then counts the rest; console output is never suppressed', () => {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  const logger = new Logger(out, () => 5_000);
  for (let i = 0; i < 50; i++) logger.log('warn', 'Request Failed', { error: `refused ${i}` });
  for (let i = 0; i < 30; i++) logger.log('info', 'hello from the script', { source: 'console' });
  logger.flush();
  expect(text.split('\n').filter((l) => l.includes('msg="Request Failed"')).length).toBe(10);
  expect(text).toContain('40 more messages like this were suppressed: Request Failed');
  expect(text.split('\n').filter((l) => l.includes('hello from the script')).length).toBe(30);
});
