/**
 * The x86_64 guest fuzzer with the block JIT translating every block at first sight (hotness 0):
 * its own file so vitest runs it beside guest-x86.test.ts (one worker per file).
 */
import { expect, it } from 'vitest';
import { CI, describeFindings, GUEST, SEED } from './budget.js';
import { fuzzX86Guests } from './guest-x86.js';

it('x86_64: the same with every block translated at first sight (block JIT, JS engine, hotness 0)', () => {
  const r = fuzzX86Guests({ seed: SEED ^ 0x717, runs: CI.guestRunsJit, ...GUEST, jitHotness: 0, jitEngine: 'js' });
  console.log(`[fuzz guest x86_64, jit hotness 0] seed 0x${SEED.toString(16)} (FUZZ_SEED; the guests use it ^ 0x717): ${r.runs} guests, ${r.kvmRuns} KVM_RUNs in ${(r.elapsedMs / 1000).toFixed(1)} s; ${r.findings.total} findings`);
  expect(r.runs).toBeGreaterThanOrEqual(CI.guestRunsJit);
  expect(describeFindings('guest-x86_64', r.findings.list)).toBe('');
}, 600_000);
