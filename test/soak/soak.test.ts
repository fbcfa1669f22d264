/**
 * The soak in CI (issue 19): a portion of the 10^5 cycles `npm run soak` runs (SOAK_CYCLES
 * overrides), with figures printed; the address space and the fds are exactly flat, no VM lock is
 * left held, RSS and heap stay within a bound.
 */
import { expect, it } from 'vitest';
import { soak } from './soak.js';

const CYCLES = Number(process.env.SOAK_CYCLES ?? 4000);

it(`${CYCLES} VM/vCPU/memslot create-run-close cycles (1 in 50 on workers) leak nothing`, async () => {
  const r = await soak({ cycles: CYCLES, workerEvery: 50, log: (l) => console.log(l) });
  console.log(`[soak] ${r.cycles} cycles (${r.onWorkers} on workers) in ${(r.ms / 1000).toFixed(1)} s, ${(r.ms / r.cycles).toFixed(2)} ms per cycle`);
  expect(r.problems).toEqual([]);
  // Halfway, the allocators hold what they will keep holding (freed shared buffers are reused,
  // not returned to the OS): from there on RSS and heap stay where they are.
  const mid = r.samples[Math.floor(r.samples.length / 2)]!;
  const last = r.samples[r.samples.length - 1]!;
  expect(last.space).toEqual(r.samples[0]!.space);
  expect(last.fds).toEqual(r.samples[0]!.fds);
  expect(last.heapMiB - mid.heapMiB).toBeLessThan(8);
  expect(last.rssMiB - mid.rssMiB).toBeLessThan(48);
}, 300_000);
