/** The x86 guest fuzzer in CI: >= 20,000 random guests, every mode, under the oracle. */
import { expect, it } from 'vitest';
import { CI, describeFindings, GUEST, SEED } from './budget.js';
import { fuzzX86Guests } from './guest-x86.js';

it('x86: random code and state in every mode only ever ends in defined exits or KVM_RUN errnos', () => {
  const r = fuzzX86Guests({ seed: SEED, runs: CI.guestRunsPerArch, ...GUEST });
  console.log(
    `[fuzz guest x86_64] seed 0x${SEED.toString(16)}: ${r.runs} guests, ${r.kvmRuns} KVM_RUNs in ${(r.elapsedMs / 1000).toFixed(1)} s ` +
      `(slowest KVM_RUN ${r.maxRunMs.toFixed(1)} ms at ${r.slowest}); ${r.setupRefused} states refused; ${r.findings.total} findings\n` +
      `  modes: ${r.modes}\n  exits: ${r.exits}\n  errnos: ${r.errnos}\n  emulation failures by instruction: ${r.unsupported.toString(25)}`,
  );
  expect(r.runs).toBeGreaterThanOrEqual(CI.guestRunsPerArch);
  // Every mode was reached and guests got far enough to exit in the usual ways.
  expect(r.modes.counts.size).toBe(8);
  for (const e of ['io', 'mmio', 'hlt', 'shutdown']) expect(r.exits.get(e)).toBeGreaterThan(0);
  expect(describeFindings('guest-x86_64', r.findings.list)).toBe('');
}, 600_000);

