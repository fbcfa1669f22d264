/**
 * `npm run soak [-- --cycles N] [--worker-every K] [--workers W]`: the full soak (10^5 cycles by
 * default), printing figures at every tenth; exits 1 if anything grew or a cycle went wrong.
 */
import { soak } from './soak.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const r = await soak({ cycles: opt('--cycles', 100_000), workerEvery: opt('--worker-every', 50), workers: opt('--workers', 2), log: (l) => console.log(l) });
const first = r.samples[0]!;
const warm = r.samples[Math.floor(r.samples.length / 2)] ?? first;
const last = r.samples[r.samples.length - 1]!;
const flat = JSON.stringify(first.space) === JSON.stringify(last.space) && JSON.stringify(first.fds) === JSON.stringify(last.fds);
console.log(
  `\n${r.cycles} cycles (${r.onWorkers} on workers) in ${(r.ms / 1000).toFixed(1)} s (${(r.ms / r.cycles).toFixed(2)} ms/cycle); ` +
    `RSS ${warm.rssMiB.toFixed(1)} -> ${last.rssMiB.toFixed(1)} MiB, heap ${warm.heapMiB.toFixed(1)} -> ${last.heapMiB.toFixed(1)} MiB from halfway; ` +
    `address space and fds ${flat ? 'flat' : 'GREW'}; ${r.problems.length} problem(s)`,
);
for (const p of r.problems.slice(0, 20)) console.log(`  ${p}`);
process.exitCode = r.problems.length || !flat || last.heapMiB - warm.heapMiB > 16 ? 1 : 0;
