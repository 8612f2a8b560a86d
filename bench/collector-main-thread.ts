// The collector's main-thread work per span, in process: OTLP protobuf bodies decoded to span
// columns (with the service graph's spans), the graph's pairing with its edge rows, and the
// Native block assembled from ~35k spans' records, then released as the pipeline releases a
// stored batch. This build against BENCH_BASELINE's (a checkout with dist/ built), alternated
// round by round; CPU per span from process.cpuUsage. BENCH_SHAPES=sidecar,synthetic,
// BENCH_ROUNDS (default 12), BENCH_STAGES=1 also times the decode on its own, BENCH_NO_GRAPH=1
// leaves the service graph out (the difference is its share). Builds in one process share a heap
// and the JIT's luck: for a few percent, run one process per build (BENCH_BASELINE unset, in
// each checkout) and alternate them.
import { pathToFileURL } from 'node:url';
import { loadBuilds, medianRatio } from './lib/in-process.js';
import { median } from './lib/median.js';
import { makeSidecarBodies, makeSyntheticBodies } from './lib/span-shapes.js';

interface Build {
  rows: typeof import('../collector/receivers/otlp/protobuf-rows.js');
  graph: typeof import('../collector/servicegraph/store.js');
  rb: typeof import('../collector/storage/clickhouse/rowbinary.js');
  sc: typeof import('../collector/storage/clickhouse/span-columns.js');
  native: typeof import('../collector/storage/clickhouse/native.js');
}

async function load(root: string): Promise<Build> {
  // Another checkout's build of the same modules, typed as this one's.
  const m = <T>(p: string): Promise<T> => import(pathToFileURL(`${root}/dist/collector/${p}`).href) as Promise<T>;
  return {
    rows: await m<Build['rows']>('receivers/otlp/protobuf-rows.js'),
    graph: await m<Build['graph']>('servicegraph/store.js'),
    rb: await m<Build['rb']>('storage/clickhouse/rowbinary.js'),
    sc: await m<Build['sc']>('storage/clickhouse/span-columns.js'),
    native: await m<Build['native']>('storage/clickhouse/native.js'),
  };
}

const RECORDS_PER_BLOCK = 70;

/** A pipeline's main-thread path over one build: returns a round runner and stage timers. */
function harness(b: Build) {
  const pool = new b.rb.SlabPool(16 << 20);
  const columns = new b.sc.SpanColumnsWriter(undefined, pool);
  const edges = new b.rb.RowBinaryWriter(1 << 20, pool);
  let edgeCount = 0;
  const graph = new b.graph.ServiceGraph(
    { maxItems: 1_000_000, ttlMs: 60_000 },
    {
      edge: (e: Parameters<typeof b.graph.writeEdgeRow>[1]) => {
        b.graph.writeEdgeRow(edges, e);
        edgeCount++;
      },
      unpaired: () => undefined,
      dropped: () => undefined,
    },
  );
  const now = BigInt(Date.now()) * 1_000_000n;
  const opts = {
    graphKeys: b.graph.GRAPH_ATTRIBUTE_KEYS,
    minNs: now - 86_400_000_000_000n,
    maxNs: now + 86_400_000_000_000n,
    outside: () => 'outside',
  };
  const arena = new b.native.BlockArena();
  const decode = (body: Buffer) => {
    const d = b.rows.decodeTracesToColumns(body, columns, opts);
    return { rows: columns.take(), graph: d.graph, count: d.count };
  };
  return {
    /** decode → graph → block for `bodies`, records released per block; returns spans. */
    async round(bodies: Buffer[]): Promise<number> {
      let spans = 0;
      let records: InstanceType<typeof b.sc.SpanColumns>[] = [];
      let edgeBufs: Buffer[] = [];
      const flush = async () => {
        const chunks: Buffer[] = await b.sc.spanBlockInTurns(records, arena);
        if (chunks.length === 0) throw new Error('empty block');
        arena.reset();
        for (const r of records) r.release();
        for (const e of edgeBufs) pool.release(e);
        records = [];
        edgeBufs = [];
      };
      for (const body of bodies) {
        const d = decode(body);
        spans += d.count;
        records.push(d.rows);
        if (process.env.BENCH_NO_GRAPH !== '1') graph.observe(d.graph, Date.now());
        if (edgeCount > 0) {
          edgeBufs.push(edges.take());
          edgeCount = 0;
        }
        if (records.length === RECORDS_PER_BLOCK) await flush();
      }
      if (records.length > 0) await flush();
      graph.expire(Date.now(), true);
      if (edgeCount > 0) {
        pool.release(edges.take());
        edgeCount = 0;
      }
      return spans;
    },
    decodeOnly(bodies: Buffer[]): number {
      let spans = 0;
      for (const body of bodies) {
        const d = decode(body);
        spans += d.count;
        d.rows.release();
      }
      return spans;
    },
  };
}

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

async function main(): Promise<void> {
  const builds = await loadBuilds(load);
  const rounds = Number(process.env.BENCH_ROUNDS ?? 12);
  const shapes = (process.env.BENCH_SHAPES ?? 'sidecar').split(',');
  for (const shape of shapes) {
    const distinct = shape === 'sidecar' ? makeSidecarBodies() : makeSyntheticBodies();
    // ~140k spans per round, 2 blocks of 70 records and a partial.
    const bodies: Buffer[] = [];
    for (let i = 0; i < 280; i++) bodies.push(distinct[i % distinct.length]!);
    const hs = builds.map((x) => ({ name: x.name, h: harness(x.build), whole: [] as number[], dec: [] as number[] }));
    for (const x of hs) {
      await x.h.round(bodies);
      x.h.decodeOnly(bodies);
    }
    for (let r = 0; r < rounds; r++) {
      for (const x of r % 2 === 0 ? hs : [...hs].reverse()) {
        let t = cpuUs();
        const n = await x.h.round(bodies);
        x.whole.push(((cpuUs() - t) * 1000) / n);
        if (process.env.BENCH_STAGES === '1') {
          t = cpuUs();
          const m = x.h.decodeOnly(bodies);
          x.dec.push(((cpuUs() - t) * 1000) / m);
        }
      }
    }
    for (const x of hs) {
      const f = (a: number[]) => a.map((v) => v.toFixed(0)).join('/');
      console.log(
        `${shape} ${x.name}: decode+graph+block ns/span median ${median(x.whole).toFixed(0)} (${f(x.whole)})` +
          (x.dec.length > 0 ? `; decode alone median ${median(x.dec).toFixed(0)} (${f(x.dec)})` : ''),
      );
    }
    if (hs.length === 2) {
      console.log(
        `${shape} this/baseline per round: whole ${medianRatio(hs[0]!.whole, hs[1]!.whole)}` +
          (hs[0]!.dec.length > 0 ? `, decode ${medianRatio(hs[0]!.dec, hs[1]!.dec)}` : ''),
      );
    }
  }
}

await main();
