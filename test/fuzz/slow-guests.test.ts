/** The slow-path guest fuzzer in CI: exception storms and self-modifying loops return from KVM_RUN within their bound. */
import { expect, it } from 'vitest';
import { CI, describeFindings, SEED } from './budget.js';
import { fuzzSlowGuests } from './slow-guests.js';

it('slow-path guests (storms, self-modifying code, the arm64 reset state) always return within runTimeoutMs', () => {
  const r = fuzzSlowGuests({ seed: SEED, runs: CI.slowGuests });
  console.log(
    `[fuzz slow guests] seed 0x${SEED.toString(16)}: ${r.runs} guests, ${r.kvmRuns} KVM_RUNs in ${(r.elapsedMs / 1000).toFixed(1)} s; ` +
      `largest overshoot past the bound ${r.maxOvershootMs.toFixed(1)} ms; ${r.findings.total} findings\n  shapes: ${r.shapes}\n  outcomes: ${r.outcomes}`,
  );
  expect(r.runs).toBe(CI.slowGuests);
  expect(r.outcomes.get('EINTR')).toBeGreaterThan(0);
  expect(describeFindings('slow', r.findings.list)).toBe('');
}, 600_000);
