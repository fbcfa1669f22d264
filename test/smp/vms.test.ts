/**
 * Several VMs in one process are independent: the same guest at the same guest-physical
 * addresses in two VMs (of one Sys, and of two Sys), run in one thread and on worker threads at
 * the same time, sees only its own memory, registers and locks.
 */
import { runToExit } from '../helpers/run.js';
import { describe, expect, it } from 'vitest';
import { virtualSys, type Sys } from '../../src/index.js';
import { guest } from '../helpers/guests.js';
import { X86_CODE, X86_DATA, X86_DATA_GPA, X86_MODES, x86Vm } from './machines.js';
import { runOnWorker } from './harness.js';

/** A VM with one vCPU set up to run the counter guest `n` times alone (barrier of 1), with RBX = tag. */
function counterVm(sys: Sys, n: number, tag: number) {
  const m = x86Vm(sys, guest('x86/smp/counter.bin'), 1);
  m.vcpus[0]!.setRegs({ rip: X86_CODE, rsp: 0x7f000, rdi: n, rsi: X86_DATA_GPA, rdx: X86_MODES.xchg, r8: 0, rbp: 1, rflags: 2, r15: tag });
  return m;
}

const counts = (m: ReturnType<typeof counterVm>) => ({
  plain: m.dv.getBigUint64(X86_DATA_GPA + X86_DATA.PLAIN, true),
  xadd: m.dv.getBigUint64(X86_DATA_GPA + X86_DATA.XADD64, true),
  arrived: m.dv.getBigUint64(X86_DATA_GPA + X86_DATA.ARRIVED, true),
});

describe('independent VMs in one process', () => {
  it('two VMs of one Sys in one thread: separate memory and registers', () => {
    const sys = virtualSys({ arch: 'x86_64' });
    const a = counterVm(sys, 300, 0xa);
    const b = counterVm(sys, 700, 0xb);
    expect(runToExit(a.vcpus[0]!).reason).toBe('hlt');
    expect(counts(a)).toEqual({ plain: 300n, xadd: 300n, arrived: 1n });
    expect(counts(b)).toEqual({ plain: 0n, xadd: 0n, arrived: 0n });
    expect(runToExit(b.vcpus[0]!).reason).toBe('hlt');
    expect(counts(b)).toEqual({ plain: 700n, xadd: 700n, arrived: 1n });
    expect(counts(a).plain).toBe(300n);
    expect([a.vcpus[0]!.getRegs().r15, b.vcpus[0]!.getRegs().r15]).toEqual([0xan, 0xbn]);
  });

  for (const shared of [true, false]) {
    it(`two VMs (${shared ? 'one Sys' : 'two Sys'}) on two workers at once: each counts only its own`, async () => {
      const s1 = virtualSys({ arch: 'x86_64' });
      const s2 = shared ? s1 : virtualSys({ arch: 'x86_64' });
      const N = 100_000;
      const a = counterVm(s1, N, 0xa);
      const b = counterVm(s2, 2 * N, 0xb);
      const [ra, rb] = await Promise.all([runOnWorker(a.vcpus[0]!.export()), runOnWorker(b.vcpus[0]!.export())]);
      expect([ra.exits, rb.exits]).toEqual([['hlt'], ['hlt']]);
      expect(counts(a)).toEqual({ plain: BigInt(N), xadd: BigInt(N), arrived: 1n });
      expect(counts(b)).toEqual({ plain: BigInt(2 * N), xadd: BigInt(2 * N), arrived: 1n });
      expect([a.vcpus[0]!.getRegs().r15, b.vcpus[0]!.getRegs().r15]).toEqual([0xan, 0xbn]);
      // Each VM's lock word is its own: both free, neither ever contended by the other VM.
      expect([a.dv.getUint32(X86_DATA_GPA, true), b.dv.getUint32(X86_DATA_GPA, true)]).toEqual([0, 0]);
      expect([a.dv.getBigUint64(X86_DATA_GPA + X86_DATA.FAILS, true), b.dv.getBigUint64(X86_DATA_GPA + X86_DATA.FAILS, true)]).toEqual([0n, 0n]);
    }, 120_000);
  }
});
