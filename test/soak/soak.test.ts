/**
 * The soak in CI (issue 19): a portion of the 10^5 cycles `npm run soak` runs (SOAK_CYCLES
 * overrides), with figures printed; the address space and the fds are exactly flat, no VM lock is
 * left held, RSS and heap stay within a bound.
 */
import { expect, it } from 'vitest';
import { soak, type SoakReport } from './soak.js';

const CYCLES = Number(process.env.SOAK_CYCLES ?? 4000);
const RSS_SLACK_MIB = 48;

/** RSS growth over the second half of a run. */
const lateRssGrowth = (r: SoakReport) => r.samples[r.samples.length - 1]!.rssMiB - r.samples[Math.floor(r.samples.length / 2)]!.rssMiB;

it(`${CYCLES} VM/vCPU/memslot create-run-close cycles (1 in 50 on workers) leak nothing`, async () => {
  const run = async () => {
    const r = await soak({ cycles: CYCLES, workerEvery: 50, log: (l) => console.log(l) });
    console.log(`[soak] ${r.cycles} cycles (${r.onWorkers} on workers) in ${(r.ms / 1000).toFixed(1)} s, ${(r.ms / r.cycles).toFixed(2)} ms per cycle`);
    expect(r.problems).toEqual([]);
    const mid = r.samples[Math.floor(r.samples.length / 2)]!;
    const last = r.samples[r.samples.length - 1]!;
    expect(last.space).toEqual(r.samples[0]!.space);
    expect(last.fds).toEqual(r.samples[0]!.fds);
    expect(last.heapMiB - mid.heapMiB).toBeLessThan(8);
    return r;
  };
  // Freed per-VM buffers (block caches, the arch's per-vCPU state) stay in the native allocator's
  // free lists: RSS climbs ~60 MiB and then stays there (6000 cycles measured; ~150 MiB while each
  // vCPU's mmap area was 256 KiB). Most runs reach that plateau within the first thousand cycles,
  // but some only after the halfway sample (seen at cycles 2800-4000, alone and in CI); then a
  // second run in the same process, which starts on the plateau, must be flat from its first
  // sample. A leak grows in both runs.
  const first = await run();
  if (lateRssGrowth(first) < RSS_SLACK_MIB) return;
  console.log(`[soak] RSS grew ${lateRssGrowth(first).toFixed(1)} MiB over the second half: a second run must be flat`);
  const second = await run();
  expect(second.samples[second.samples.length - 1]!.rssMiB - second.samples[0]!.rssMiB).toBeLessThan(RSS_SLACK_MIB);
}, 600_000);
