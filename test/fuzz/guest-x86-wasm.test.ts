/**
 * The x86_64 guest fuzzer under the wasm engine (`jitEngine: 'wasm'`), every block translated at
 * first sight (hotness 0) and written into a module as it is: fewer guests than the JS engine's
 * half (guest-x86-jit.test.ts), in a file of its own so vitest runs it beside the other halves.
 */
import { expect, it } from 'vitest';
import { CI, describeFindings, GUEST, SEED } from './budget.js';
import { fuzzX86Guests } from './guest-x86.js';

it('x86_64: the same under the wasm engine, every block translated at first sight (jit-wasm, hotness 0)', () => {
  const r = fuzzX86Guests({ seed: SEED ^ 0x3a5, runs: CI.guestRunsWasm, ...GUEST, jitHotness: 0, jitEngine: 'wasm' });
  console.log(`[fuzz guest x86_64, jit-wasm hotness 0] seed 0x${SEED.toString(16)} (FUZZ_SEED; the guests use it ^ 0x3a5; replay with VKVM_JIT_ENGINE=wasm): ${r.runs} guests, ${r.kvmRuns} KVM_RUNs in ${(r.elapsedMs / 1000).toFixed(1)} s; ${r.findings.total} findings`);
  expect(r.runs).toBeGreaterThanOrEqual(CI.guestRunsWasm);
  expect(describeFindings('guest-x86_64', r.findings.list)).toBe('');
}, 600_000);
