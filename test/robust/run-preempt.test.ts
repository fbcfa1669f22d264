/**
 * RunDeadline.preempt (src/kernel/deadline.ts): a kernel serving several callers from one JS thread
 * (the shim server) ends a spinning vCPU's KVM_RUN, or a halted vCPU's sleep, as soon as another
 * caller waits, with EINTR and KVM_EXIT_INTR as the time bound does; without a waiting caller the
 * run goes on to that bound. Both engines, both arches.
 */
import { describe, expect, it } from 'vitest';
import { Kvm, KvmError, KVM_EXIT, virtualSys, type Sys, type Vcpu } from '../../src/index.js';
import { kernelOf } from '../../src/sys/kernel-of.js';
import type { RunDeadline } from '../../src/kernel/deadline.js';
import { enterMode } from '../helpers/x86.js';
import { reg } from '../arm64/helpers.js';
import { guest } from '../helpers/guests.js';

/** The bound the runs here would otherwise reach. */
const BOUND_MS = 400;

function x86Spin(sys: Sys, code: number[], irqchip = false): Vcpu {
  const vm = Kvm.open(sys).createVm();
  if (irqchip) vm.createIrqchip();
  const ram = sys.alloc(0x20000);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x20000, userspaceAddr: ram.hva });
  ram.bytes.set(code, 0x1000);
  const vcpu = vm.createVcpu(0);
  enterMode(vcpu, 'real');
  vcpu.setRegs({ rip: 0x1000n, rsp: 0x8000n, rflags: 2n });
  return vcpu;
}

function arm64Spin(sys: Sys): Vcpu {
  const vm = Kvm.open(sys).createVm();
  const vcpu = vm.createVcpu(0);
  vcpu.armInit([]);
  const ram = sys.alloc(0x10000);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0x4000_0000, memorySize: 0x10000, userspaceAddr: ram.hva });
  const words = [...new Uint32Array(guest('arm64/robust/spin.bin').slice().buffer)];
  new Uint32Array(ram.bytes.buffer, ram.bytes.byteOffset, words.length).set(words);
  vcpu.setOneReg(reg.pc, 0x4000_0000n);
  return vcpu;
}

/** One raw KVM_RUN: its errno code and wall time. */
function run(vcpu: Vcpu): { code: string | undefined; ms: number } {
  const t0 = performance.now();
  let code: string | undefined;
  try {
    vcpu.vm.sys.ioctl(vcpu.fd, vcpu.vm.kvm.req('KVM_RUN'), 0);
  } catch (e) {
    code = e instanceof KvmError ? e.code : String(e);
  }
  return { code, ms: performance.now() - t0 };
}

/**
 * Arms `d.preempt` to say yes `afterMs` from now, runs, and checks the run ended then with EINTR and
 * KVM_EXIT_INTR, well before the bound; returns how often preempt was asked. `d.preempt` is left
 * saying no (nobody waits) for what follows.
 */
function expectPreempted(vcpu: Vcpu, d: RunDeadline, afterMs: number): number {
  let asked = 0;
  let wake = performance.now() + afterMs;
  d.preempt = () => {
    asked++;
    return performance.now() >= wake;
  };
  const r = run(vcpu);
  wake = Infinity;
  expect(r.code).toBe('EINTR');
  expect(vcpu.kvmRun.exit_reason).toBe(KVM_EXIT.INTR);
  expect(d.preempted).toBe(true);
  expect(r.ms).toBeGreaterThanOrEqual(afterMs - 1);
  expect(r.ms).toBeLessThan(BOUND_MS - 100);
  return asked;
}

const ENGINES = [
  { name: 'interpreter', opts: { jit: false } },
  { name: 'jit', opts: { jit: true, jitHotness: 0 } },
] as const;

const SPINNERS = [
  { name: 'x86 spin', arch: 'x86_64', make: (sys: Sys) => x86Spin(sys, [...guest('x86/robust/spin.bin')]) },
  { name: 'arm64 spin', arch: 'arm64', make: arm64Spin },
] as const;

describe('KVM_RUN ends early when another caller waits (RunDeadline.preempt)', () => {
  for (const e of ENGINES) {
    for (const g of SPINNERS) {
      it(`${e.name}, ${g.name}: EINTR once preempt says so, not before; the full bound when it never does`, () => {
        const sys = virtualSys({ arch: g.arch, runTimeoutMs: BOUND_MS, runBudget: 1e13, ...e.opts }); // the time bound, not the instruction budget, ends the full run
        const vcpu = g.make(sys);
        const d = kernelOf(sys)!.deadline;
        d.preempt = () => false;
        run(vcpu); // warm up (translation, first faults)
        // Asked again and again (about once a millisecond) before it said yes.
        expect(expectPreempted(vcpu, d, 30)).toBeGreaterThan(1);
        // Nobody waits: the run reaches the time bound, and preempted stays false.
        const full = run(vcpu);
        expect(full.code).toBe('EINTR');
        expect(d.preempted).toBe(false);
        expect(full.ms).toBeGreaterThanOrEqual(BOUND_MS - 1);
      });
    }
  }

  it('a halted vCPU (HLT, in-kernel irqchip, IF=0) stops sleeping once another caller waits', () => {
    // cli; hlt: nothing wakes it, so on the owner thread it sleeps haltWaitMs and returns EINTR.
    const sys = virtualSys({ arch: 'x86_64', haltWaitMs: BOUND_MS, runTimeoutMs: BOUND_MS * 2 });
    const vcpu = x86Spin(sys, [0xfa, 0xf4, 0xeb, 0xfd], true);
    const d = kernelOf(sys)!.deadline;
    const slept = run(vcpu);
    expect(slept.code).toBe('EINTR');
    expect(slept.ms).toBeGreaterThanOrEqual(BOUND_MS - 1);
    expectPreempted(vcpu, d, 20);
    expect(run(vcpu).ms).toBeGreaterThanOrEqual(BOUND_MS - 1);
  });
});
