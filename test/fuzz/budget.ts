/**
 * The CI budget of the fuzz tests and its knobs: `FUZZ_SEED` (default a new seed every run, so
 * each CI run explores new cases; every test prints the seed it used, and findings print with
 * what replays them) and `FUZZ_SCALE` (multiplies every count; `npm run fuzz` is the long-running
 * command).
 * @module
 */
import type { Finding } from './oracle.js';

export const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) >>> 0 : (Date.now() ^ (process.pid << 16) ^ Math.floor(Math.random() * 2 ** 32)) >>> 0;
export const SCALE = process.env.FUZZ_SCALE !== undefined ? Number(process.env.FUZZ_SCALE) : 1;

/** The counts the CI runs (the issue asks for >= 100,000 ioctls and >= 20,000 guest runs per arch). */
export const CI = {
  ioctlsPerArch: Math.round(100_000 * SCALE),
  guestRunsPerArch: Math.round(20_000 * SCALE),
  /** Guest runs with the block JIT translating every block at once (compiling costs most of it). */
  guestRunsJit: Math.round(3_000 * SCALE),
  /** The same under the x86 wasm engine (each translated block also written into a module). */
  guestRunsWasm: Math.round(600 * SCALE),
  diffSequences: Math.round(400 * SCALE),
  /** Slow-path guests (each KVM_RUN takes its whole wall-clock bound). */
  slowGuests: Math.round(100 * SCALE),
  /** SMP cases (each starts worker threads). */
  smpCases: Math.max(1, Math.round(4 * SCALE)),
};

/** Guest fuzzing: instructions per KVM_RUN and KVM_RUNs per guest in CI. */
export const GUEST = { runBudget: 200, maxExits: 4 };

/** One line per finding, with the replay command. */
export function describeFindings(fuzzer: string, list: readonly Finding[]): string {
  return list
    .map((f) => `[${f.kind}] ${f.what}\n  ${f.detail.split('\n').join('\n  ')}\n  replay: npm run fuzz -- --replay ${fuzzer}:${f.seed}:${f.index}`)
    .join('\n');
}
