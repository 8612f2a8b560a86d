// Embedded chDB's allocator options. libchdb.so carries its own jemalloc (5.3, its symbols
// hidden: ClickHouse's allocations go to it, Node's own to glibc's malloc), which reads its
// options once, from JE_MALLOC_CONF, when the library is loaded. So this module is imported
// before 'chdb' (client.ts) and sets the variable in the process's environment, unless the
// operator set it: every process that opens an embedded store gets them, however it started.
// Built in are percpu_arena:percpu (an arena per CPU) and dirty_decay_ms:5000 (freed pages stay
// resident for up to 5 s; ClickHouse's background thread purges them).
// One arena: an insert's columns are freed on whichever CPU its threads last ran on, and an
// insert or merge allocating on the other CPU could not reuse them; each arena kept its own
// high-water mark of freed pages. (Large allocations then share one arena's lock: the embedded
// engine runs inside a few-hundred-MiB budget, on a few cores.) Measured with
// bench:collector-engine-memory (10 inserts by the writer, merges on, until they settle), peak
// anonymous memory, built-in -> one arena: 60k-span inserts 300 ms apart 404/374/381 ->
// 357/360/362 MB, CPU 6.69 -> 6.61 s over 3 rounds; 85k-span inserts 700 ms apart
// 364/391/373 -> 358/347/341 MB, CPU 9.18 -> 9.29 s. bench:collector, sidecar-shaped spans at
// 128-147k spans/s, 8 interleaved pairs: peak RSS median 694 -> 658 MB, CPU per span +1.6%.
// Not kept: dirty_decay_ms:1000 beside it lowered the peak further (85k-span inserts back to
// back 427/407/514 -> 391/403/407 MB; 700 ms apart 401 -> 359 MB) and jemalloc's resident memory
// afterwards from 90-216 to 54-59 MB, but cost CPU when the cores were busy: in closed-loop
// bench:collector runs against main, stored spans/s fell in 9 of 10 interleaved pairs
// (synthetic 173/188/165/86/54k -> 118/76/108/53/92k), since pages returned between inserts were
// faulted in again by the next one. dirty_decay_ms:0 cost 30% more CPU.

// A bundle (esbuild with 'chdb' external) hoists 'chdb' above its own code: a bundled program
// passes JEMALLOC_OPTIONS in the environment it starts with (bench:collector-engine-memory).
export const JEMALLOC_OPTIONS = 'percpu_arena:disabled,narenas:1';

process.env.JE_MALLOC_CONF ??= JEMALLOC_OPTIONS;
