/** The SMP fuzzer in CI: worker vCPUs racing memslot changes, munmaps, dirty-log harvests and terminations. */
import { expect, it } from 'vitest';
import { CI, describeFindings, SEED } from './budget.js';
import { fuzzSmp } from './smp-fuzz.js';
import { wasmRamConfig } from '../../src/kernel/hva.js';

// Each mapping a SharedArrayBuffer of its own (not carved from the wasm memory, whose munmapped
// bytes a later mapping reuses), so the oracle can watch unmapped memory for stray worker stores.
wasmRamConfig.enabled = false;

it('worker vCPUs racing the owner never touch removed memory, lose no dirty page, and never wedge the VM lock', async () => {
  const r = await fuzzSmp({ seed: SEED, cases: CI.smpCases });
  console.log(
    `[fuzz smp] seed 0x${SEED.toString(16)}: ${r.cases} cases in ${(r.elapsedMs / 1000).toFixed(1)} s, slowest owner call ${r.maxCallMs.toFixed(0)} ms; ${r.findings.total} findings\n` +
      `  actions: ${r.actions}\n  worker ends: ${r.workerEnds}`,
  );
  expect(r.cases).toBe(CI.smpCases);
  expect(describeFindings('smp', r.findings.list)).toBe('');
}, 600_000);

it('regression: seed 1000 case 0 (a writer stopped by immediate_exit while the owner waits for its report) ends', async () => {
  // Hung before the fix: vcpu.run() returns EINTR as { reason: 'intr' }, and the worker's run
  // loop only stopped on a thrown EINTR, so immediate_exit never stopped it. The watchdog turns
  // a hang into a finding.
  const r = await fuzzSmp({ seed: 1000, cases: 1, caseLimitMs: 30_000 });
  expect(describeFindings('smp', r.findings.list)).toBe('');
  expect(r.cases).toBe(1);
}, 60_000);
