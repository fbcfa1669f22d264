/** The arm64 guest fuzzer in CI: >= 20,000 random guests, MMU off and on, EL1 and EL0, under the oracle. */
import { expect, it } from 'vitest';
import { CI, describeFindings, GUEST, SEED } from './budget.js';
import { fuzzArm64Guests } from './guest-arm64.js';

it('arm64: random code and state only ever end in defined exits or KVM_RUN errnos', () => {
  const r = fuzzArm64Guests({ seed: SEED, runs: CI.guestRunsPerArch, ...GUEST });
  console.log(
    `[fuzz guest arm64] seed 0x${SEED.toString(16)}: ${r.runs} guests, ${r.kvmRuns} KVM_RUNs in ${(r.elapsedMs / 1000).toFixed(1)} s ` +
      `(slowest KVM_RUN ${r.maxRunMs.toFixed(1)} ms at ${r.slowest}); ${r.setupRefused} states refused; ${r.findings.total} findings\n` +
      `  setups: ${r.modes}\n  exits: ${r.exits}\n  errnos: ${r.errnos}\n  emulation failures by instruction: ${r.unsupported.toString(25)}`,
  );
  expect(r.runs).toBeGreaterThanOrEqual(CI.guestRunsPerArch);
  expect(r.modes.counts.size).toBe(4);
  for (const e of ['mmio', 'debug']) expect(r.exits.get(e)).toBeGreaterThan(0);
  expect(describeFindings('guest-arm64', r.findings.list)).toBe('');
}, 600_000);

