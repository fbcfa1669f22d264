/**
 * The ioctl fuzzer in CI: >= 100,000 random syscalls per arch on the virtual backend under the
 * oracle (oracle.ts), and the same seeded call sequences on virtual and the real /dev/kvm compared
 * call by call (ioctl-diff.ts; skipped where /dev/kvm is absent).
 */
import { describe, expect, it } from 'vitest';
import { nativeX86 } from '../helpers/backends.js';
import { CI, describeFindings, SEED } from './budget.js';
import { diffIoctls } from './ioctl-diff.js';
import { fuzzIoctls } from './ioctl-fuzz.js';

describe('ioctl fuzzer', () => {
  it.each(['x86_64', 'arm64'] as const)('%s: random syscalls never escape, hang or answer outside the kernel errnos', async (arch) => {
    const r = fuzzIoctls({ arch, seed: SEED, calls: CI.ioctlsPerArch });
    await r.settled; // the waitReadable calls' findings
    console.log(
      `[fuzz ioctl ${arch}] seed 0x${SEED.toString(16)}: ${r.ioctls} ioctls (${r.ok} ok) + ${r.otherCalls} other syscalls in ${r.sequences} sequences, ` +
        `${(r.elapsedMs / 1000).toFixed(1)} s, slowest call ${r.maxCallMs.toFixed(1)} ms; ${r.findings.total} findings\n` +
        `  errnos: ${r.errnos}\n  exits: ${r.exits}\n  declared requests that succeeded: ${r.succeeded.size}`,
    );
    expect(r.ioctls).toBeGreaterThanOrEqual(CI.ioctlsPerArch);
    // The fuzzer reached the handlers, not just the fd and argument checks.
    expect(r.succeeded.size).toBeGreaterThan(arch === 'x86_64' ? 35 : 18);
    expect(r.errnos.get('EINVAL')).toBeGreaterThan(0);
    // The plumbing's ioctls got past their argument checks (live eventfds, in-kernel devices).
    for (const name of ['KVM_IOEVENTFD', ...(arch === 'x86_64' ? ['KVM_SET_CLOCK', 'KVM_GET_CLOCK'] : [])]) expect([name, r.succeeded.has(name)]).toEqual([name, true]);
    expect(describeFindings(`ioctl-${arch}`, r.findings.list)).toBe('');
  }, 300_000);

  it.skipIf(!nativeX86)('virtual and /dev/kvm give the same answer to the same generic call sequences', () => {
    const r = diffIoctls({ seed: SEED, sequences: CI.diffSequences });
    console.log(
      `[fuzz diff x86_64] seed 0x${SEED.toString(16)}: ${r.sequences} sequences, ${r.compared} calls compared with /dev/kvm (${r.skipped} not comparable), ` +
        `${(r.elapsedMs / 1000).toFixed(1)} s; ${r.findings.total} mismatches\n  outcomes: ${r.outcomes}`,
    );
    expect(r.compared).toBeGreaterThan(CI.diffSequences * 30);
    expect(r.outcomes.get('ok')).toBeGreaterThan(0);
    expect(describeFindings('diff', r.findings.list)).toBe('');
  }, 300_000);
});
