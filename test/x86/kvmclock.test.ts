/**
 * kvmclock (test/guests/x86/irq/kvmclock.asm): the KVM CPUID leaves, MSR_KVM_WALL_CLOCK_NEW and
 * MSR_KVM_SYSTEM_TIME_NEW, the pvclock page read from the TSC as Linux reads it — agreeing with
 * KVM_GET_CLOCK, following KVM_SET_CLOCK, flagging KVM_KVMCLOCK_CTRL — at CPL0 and CPL3. Both
 * engines, both clocks; /dev/kvm where present.
 */
import { describe, expect, it } from 'vitest';
import { Kvm, KVM_CAP, virtualSys, type Sys } from '../../src/index.js';
import { kernelOf } from '../../src/sys/kernel-of.js';
import { nativeBackend, nativeX86 } from '../helpers/backends.js';
import { X86_ENGINES } from '../helpers/engines.js';
import { irqGuest, irqMachine, nextPhase } from '../helpers/irq.js';

const KVMCLOCK = irqGuest('kvmclock');
const backends: { name: string; make: () => Sys }[] = [
  ...X86_ENGINES.flatMap((e) => (['host', 'deterministic'] as const).map((clock) => ({ name: `${e.name}, ${clock} clock`, make: () => virtualSys({ ...e.opts, clock }) }))),
  ...(nativeX86 ? [nativeBackend] : []),
];

describe.each(backends)('kvmclock ($name)', (b) => {
  it('the pvclock page agrees with KVM_GET_CLOCK, follows KVM_SET_CLOCK and KVM_KVMCLOCK_CTRL, and reads at CPL3', () => {
    const m = irqMachine(b.make(), { code: KVMCLOCK });
    const v = m.vcpus[0]!;
    const exact = b.name.includes('deterministic');
    expect(m.vm.checkExtension(KVM_CAP.KVMCLOCK_CTRL)).toBe(1);

    expect(nextPhase(v)).toBe(1);
    const clk = m.vm.getClock();
    const str = (off: number) => Buffer.from(new Uint8Array(m.ram.bytes.buffer, m.ram.bytes.byteOffset + 0x20000 + off, 4)).toString('latin1');
    expect(m.d(0)).toBeGreaterThanOrEqual(0x40000001);
    expect(str(4) + str(8) + str(12)).toBe('KVMKVMKVM\0\0\0');
    const feat = m.d(0x10);
    for (const bit of [0, 1, 3, 24]) expect((feat >>> bit) & 1).toBe(1); // CLOCKSOURCE, NOP_IO_DELAY, CLOCKSOURCE2, STABLE_BIT
    const [t1, tsc1, t2, tsc2] = [m.q(0x20), m.q(0x28), m.q(0x30), m.q(0x38)];
    const khz = v.getTscKhz();
    expect(t2 > t1).toBe(true);
    // The two reads are as far apart in kvmclock as their TSCs say.
    expect(Math.abs(Number(t2 - t1) - (Number(tsc2 - tsc1) * 1e6) / khz)).toBeLessThan(2);
    // KVM_GET_CLOCK, taken after the guest's second read, is a little later.
    const after = clk.clock - t2;
    expect(after >= 0n).toBe(true);
    expect(after < (exact ? 10_000n : 1_000_000_000n)).toBe(true);
    // The wall clock at kvmclock 0 (the deterministic clock has none: 0).
    const wall = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset + 0x20180);
    expect(wall.getUint32(0, true) % 2).toBe(0);
    const sec = wall.getUint32(4, true);
    if (exact) expect(sec).toBe(0);
    else expect(Math.abs(sec + Number(clk.clock) / 1e9 - Date.now() / 1e3)).toBeLessThan(60);

    m.vm.setClock({ clock: clk.clock + 1_000_000_000n });
    v.kvmclockCtrl();
    expect(nextPhase(v)).toBe(2);
    const t3 = m.q(0x40);
    const jump = t3 - t2;
    expect(jump >= 1_000_000_000n).toBe(true); // KVM_SET_CLOCK moved it forward by a second
    expect(jump < (exact ? 1_000_100_000n : 3_000_000_000n)).toBe(true);
    const flags = Number(m.q(0x50));
    expect(flags & 2).toBe(2); // PVCLOCK_GUEST_STOPPED, from KVM_KVMCLOCK_CTRL
    if (b.name !== 'native') expect(flags & 1).toBe(1); // PVCLOCK_TSC_STABLE_BIT
  });
});

/**
 * kvm_arch_vcpu_postcreate -> kvm_synchronize_tsc(vcpu, NULL) (arch/x86/kvm/x86.c, 6.12): a new
 * vCPU's TSC reads 0 at its creation, and vCPUs created later at the same rate join that timeline
 * (cur_tsc_offset); a host-initiated IA32_TSC write sets the timeline later vCPUs join.
 * tsc_msrs_test.c:106 reads the TSC right after creating its vCPU and expects it near 0 (within
 * 2^29 cycles: 0.22 s at 2.4 GHz) however long the VM existed before.
 */
describe.each([...X86_ENGINES.map((e) => ({ name: e.name, make: () => virtualSys({ ...e.opts, clock: 'deterministic' as const }) })), ...(nativeX86 ? [nativeBackend] : [])])('TSC at vCPU creation ($name)', (b) => {
  it('counts from the first vCPU\'s creation, not the VM\'s; later vCPUs share its timeline; a host write moves it', () => {
    const sys = b.make();
    const vm = Kvm.open(sys).createVm();
    const wait = (ms: number) => {
      // The deterministic clock stands still outside KVM_RUN: advance the VM's time by hand.
      const k = kernelOf(sys);
      const f = k?.file(vm.fd);
      if (f?.kind === 'vm') f.vm.clock.advanceTo(f.vm.clock.now() + ms * 1e6);
      const until = performance.now() + (k ? 0 : ms);
      while (performance.now() < until);
    };
    wait(400); // the VM exists for 400 ms (9.6e8 cycles) before its first vCPU
    const a = vm.createVcpu(0);
    const tscA = a.getMsrs([0x10]).get(0x10)!;
    expect(tscA).toBeLessThan(1n << 29n);
    wait(100);
    const b1 = vm.createVcpu(1);
    const [ta, tb] = [a.getMsrs([0x10]).get(0x10)!, b1.getMsrs([0x10]).get(0x10)!];
    expect(ta).toBeGreaterThanOrEqual(200_000_000n); // 100 ms at 2.4 GHz
    expect(tb - ta).toBeLessThan(1n << 24n); // the same timeline (read a moment apart)
    a.setMsrs(new Map([[0x10, 1n << 40n]]));
    const c = vm.createVcpu(2);
    expect(c.getMsrs([0x10]).get(0x10)! - (1n << 40n)).toBeLessThan(1n << 26n);
  });
});
