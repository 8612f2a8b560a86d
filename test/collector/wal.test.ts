// The write-ahead log on its own: group commit, replay in order, a torn tail cut off, stored
// records not replayed, segments released once stored.

import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CollectorOverloadedError } from '../../collector/errors.js';
import { WriteAheadLog } from '../../collector/pipeline/wal.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'collector-wal-'));
  dirs.push(d);
  return d;
}

const segments = (dir: string): string[] =>
  readdirSync(dir)
    .filter((n) => n.startsWith('wal-'))
    .sort();

describe('write-ahead log', () => {
  it('group-commits concurrent appends and replays them in order after a restart', async () => {
    const dir = tempDir();
    let syncs = 0;
    const { wal, replay } = await WriteAheadLog.open({
      dir,
      maxBytes: 1 << 20,
      segmentBytes: 1 << 20,
      onSync: () => syncs++,
    });
    expect(replay).toEqual([]);
    const appends = Array.from({ length: 50 }, (_, i) => wal.append(1 + (i % 4), Buffer.from(`record ${i}`)));
    expect(appends.map((a) => a.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await Promise.all(appends.map((a) => a.durable));
    expect(syncs).toBeLessThan(50);
    await wal.close();

    const reopened = await WriteAheadLog.open({ dir, maxBytes: 1 << 20, segmentBytes: 1 << 20 });
    expect(reopened.replay.map((r) => [r.seq, r.kind, r.payload.toString()])).toEqual(
      Array.from({ length: 50 }, (_, i) => [i + 1, 1 + (i % 4), `record ${i}`]),
    );
    await reopened.wal.close();
  });

  it('cuts off a torn tail and garbage, keeping every complete record', async () => {
    const dir = tempDir();
    const { wal } = await WriteAheadLog.open({ dir, maxBytes: 1 << 20, segmentBytes: 1 << 20 });
    for (let i = 0; i < 3; i++) await wal.append(1, Buffer.from(`complete ${i}`)).durable;
    await wal.append(1, Buffer.alloc(100, 7)).durable;
    await wal.close();
    const [segment] = segments(dir);
    const path = join(dir, segment!);
    // A crash in the middle of the last write: half of the last record is on disk.
    truncateSync(path, statSync(path).size - 50);
    appendFileSync(path, Buffer.from([0xde, 0xad]));

    const { wal: again, replay } = await WriteAheadLog.open({ dir, maxBytes: 1 << 20, segmentBytes: 1 << 20 });
    expect(replay.map((r) => r.payload.toString())).toEqual(['complete 0', 'complete 1', 'complete 2']);
    // New records continue after the last intact one.
    expect(again.append(1, Buffer.from('next')).seq).toBe(4);
    await again.close();
  });

  it('a write cut short (the file size limit) is refused and cut off: the acknowledged records around it all replay', async () => {
    const dir = tempDir();
    // The log in a child process whose files may not grow past 8 KiB (bash's ulimit -f): the
    // kernel writes part of the second record, then refuses (EFBIG), as a full disk would.
    const wal = resolve('dist/collector/pipeline/wal.js');
    const script = `
      const { WriteAheadLog } = await import(${JSON.stringify(wal)});
      const { wal } = await WriteAheadLog.open({ dir: ${JSON.stringify(dir)}, maxBytes: 1 << 20, segmentBytes: 1 << 20 });
      const outcome = async (a) => a.durable.then((loc) => wal.read(loc).toString(), (e) => 'refused: ' + e.message);
      const first = await outcome(wal.append(1, Buffer.alloc(3000, 'a')));
      const second = await outcome(wal.append(1, Buffer.alloc(6000, 'b')));
      const third = await outcome(wal.append(1, Buffer.alloc(1000, 'c')));
      await wal.close();
      console.log(JSON.stringify([first.length, second, third.length]));
    `;
    const child = spawnSync(
      'bash',
      ['-c', 'ulimit -f 8; exec "$0" --input-type=module -e "$1"', process.execPath, script],
      {
        encoding: 'utf8',
      },
    );
    expect(child.stderr).toBe('');
    const [first, second, third] = JSON.parse(child.stdout) as [number, string, number];
    expect(first).toBe(3000);
    expect(second).toMatch(/^refused: write-ahead log append failed: .*EFBIG/);
    // Only possible because the refused record's partial bytes were cut off again.
    expect(third).toBe(1000);

    const reopened = await WriteAheadLog.open({ dir, maxBytes: 1 << 20, segmentBytes: 1 << 20 });
    expect(reopened.replay.map((r) => [r.seq, r.payload.length, r.payload[0]])).toEqual([
      [1, 3000, 0x61],
      [3, 1000, 0x63],
    ]);
    await reopened.wal.close();
  });

  it('does not replay stored records, releases stored segments, and refuses appends beyond its limit', async () => {
    const dir = tempDir();
    const { wal } = await WriteAheadLog.open({ dir, maxBytes: 4096, segmentBytes: 1024 });
    const seqs: number[] = [];
    for (let i = 0; i < 6; i++) {
      const a = wal.append(1, Buffer.alloc(500, i));
      await a.durable;
      seqs.push(a.seq);
    }
    expect(segments(dir).length).toBeGreaterThan(1);
    expect(() => wal.append(1, Buffer.alloc(2000))).toThrow(CollectorOverloadedError);
    wal.markStored(seqs[3]!);
    const before = wal.bytes;
    expect(before).toBeLessThan(6 * 517);
    await wal.close();

    const { wal: again, replay } = await WriteAheadLog.open({ dir, maxBytes: 4096, segmentBytes: 1024 });
    expect(replay.map((r) => r.seq)).toEqual([seqs[4], seqs[5]]);
    again.markStored(seqs[5]!);
    // Everything stored: the next append starts a fresh segment and the old ones go away.
    await again.append(1, Buffer.from('fresh')).durable;
    again.markStored(again.storedSeq);
    await again.close();
    const left = await WriteAheadLog.open({ dir, maxBytes: 4096, segmentBytes: 1024 });
    expect(left.replay.map((r) => r.payload.toString())).toEqual(['fresh']);
    await left.wal.close();
  });
});
