/**
 * Time and devices in the generic kernel (null arch): timer deadlines that wake a halted vCPU,
 * the deterministic clock (identical traces run after run), the owner thread's bounded halt,
 * KVM_GET/SET_CLOCK, and KVM_CREATE_DEVICE with its device fd.
 */
import { describe, expect, it } from 'vitest';
import { KVM_CAP, KVM_CLOCK, KVM_DEV_TYPE, type VcpuExit } from '../../src/index.js';
import { TIMER_VECTOR } from '../../src/kernel/null-arch.js';
import { NULL_DEVICE_TYPE } from '../../src/kernel/null-irqchip.js';
import { outcome } from '../helpers/backends.js';
import { code, toyVm } from './toy.js';

const RESULT = 0x20000;

/**
 * A timer guest: arms its timer for 20 us and halts; each interrupt's handler reads the clock,
 * reports it with an MMIO store (the exits the trace records) and re-arms the timer.
 */
function timerGuest(clock: 'host' | 'deterministic') {
  // main: ivt; timer 20000; loop: hlt; jmp loop
  const main = [code.ivt(0x2000), code.timer(20_000), code.hlt(), code.jmp(-3)];
  const handler = [code.clock(), code.st64(RESULT), code.timer(20_000), code.eoi(), code.iret()];
  return toyVm(main, { irqchip: true, handler, sys: { clock } });
}

function trace(clock: 'host' | 'deterministic', n = 10): string[] {
  const t = timerGuest(clock);
  const out: string[] = [];
  while (out.length < n) {
    let e: VcpuExit;
    try {
      e = t.vcpu.run();
    } catch (err) {
      out.push(`err:${(err as { code?: string }).code}`);
      continue;
    }
    out.push(e.reason === 'mmio' ? `mmio:${e.physAddr.toString(16)}:${new DataView(e.data.buffer, e.data.byteOffset).getBigUint64(0, true)}` : e.reason);
  }
  return out;
}

describe('timers and the clocks', () => {
  it('a timer deadline wakes a halted vCPU (host clock)', () => {
    const t0 = performance.now();
    const tr = trace('host', 5);
    expect(tr.every((x) => x.startsWith('mmio:20000:') || x === 'err:EINTR')).toBe(true);
    expect(tr.filter((x) => x.startsWith('mmio')).length).toBeGreaterThan(0);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('the deterministic clock gives the same exits and clock values on every run', () => {
    const a = trace('deterministic');
    const b = trace('deterministic');
    expect(a).toEqual(b);
    // Time advances by the retired instructions and jumps to each deadline: 20 us apart, plus
    // the handful of instructions between.
    const values = a.map((x) => BigInt(x.split(':')[2]!));
    for (let i = 1; i < values.length; i++) {
      const d = values[i]! - values[i - 1]!;
      expect(d > 20_000n && d < 20_100n).toBe(true);
    }
    expect(a.some((x) => x.startsWith('err'))).toBe(false); // never waits on the host
  });

  it('a halted vCPU on the owner thread returns EINTR/KVM_EXIT_INTR after haltWaitMs, still halted', () => {
    const t = toyVm([code.hlt()], { irqchip: true });
    const t0 = performance.now();
    expect(t.vcpu.run().reason).toBe('intr'); // EINTR
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(9);
    expect(ms).toBeLessThan(1000);
    expect(t.vcpu.kvmRun.exit_reason).toBe(10);
    expect(t.vcpu.getMpState()).toBe(3); // KVM_MP_STATE_HALTED
  });

  it('immediate_exit ends a halt at once', () => {
    const t = toyVm([code.hlt()], { irqchip: true, sys: { haltWaitMs: 10_000 } });
    t.vcpu.immediateExit = true;
    const t0 = performance.now();
    expect(t.vcpu.run().reason).toBe('intr'); // EINTR
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('the toy timer vector is what the handler sees', () => {
    const [first] = trace('deterministic', 1);
    expect(first).toMatch(/^mmio:20000:/);
    expect(TIMER_VECTOR).toBe(0xf0);
  });
});

describe('KVM_GET_CLOCK / KVM_SET_CLOCK', () => {
  it('starts near 0 at VM creation, follows the host clock, and is set by KVM_SET_CLOCK', () => {
    const t = toyVm([code.hlt()]);
    const c0 = t.vm.getClock();
    expect(c0.flags).toBe(KVM_CLOCK.TSC_STABLE | KVM_CLOCK.REALTIME | KVM_CLOCK.HOST_TSC);
    expect(c0.clock < 5_000_000_000n).toBe(true);
    const wall = BigInt(Date.now()) * 1_000_000n;
    expect(c0.realtime > wall - 5_000_000_000n && c0.realtime < wall + 5_000_000_000n).toBe(true);
    t.vm.setClock({ clock: 10_000_000_000n });
    const c1 = t.vm.getClock();
    expect(c1.clock >= 10_000_000_000n && c1.clock < 10_500_000_000n).toBe(true);
    // KVM_CLOCK_REALTIME: the wall time since `realtime` is added (here: 1 s ago).
    t.vm.setClock({ clock: 0, flags: KVM_CLOCK.REALTIME, realtime: c1.realtime - 1_000_000_000n });
    const c2 = t.vm.getClock();
    expect(c2.clock >= 1_000_000_000n && c2.clock < 1_500_000_000n).toBe(true);
    // The flags GET_CLOCK returns are accepted back; anything else is EINVAL (x86.c kvm_vm_ioctl_set_clock).
    expect(outcome(() => t.vm.setClock({ clock: 0, flags: c2.flags }))).toBe('ok:undefined');
    expect(outcome(() => t.vm.setClock({ clock: 0, flags: 1 }))).toBe('EINVAL');
    expect(t.vm.checkExtension(KVM_CAP.ADJUST_CLOCK)).toBe(KVM_CLOCK.TSC_STABLE | KVM_CLOCK.REALTIME | KVM_CLOCK.HOST_TSC);
  });

  it('the deterministic clock has no wall-clock pair', () => {
    const t = toyVm([code.hlt()], { sys: { clock: 'deterministic' } });
    const c = t.vm.getClock();
    expect(c.flags).toBe(KVM_CLOCK.TSC_STABLE | KVM_CLOCK.HOST_TSC);
    expect(c.clock).toBe(0n);
  });
});

describe('KVM_CREATE_DEVICE and the device fd', () => {
  // Linux 6.12 virt/kvm/kvm_main.c: kvm_ioctl_create_device (4876), kvm_device_ioctl (4796).
  it('ENODEV for types the arch lacks; TEST only asks; attributes get/set/has', () => {
    const t = toyVm([code.hlt()]);
    expect(outcome(() => t.vm.createDevice(0))).toBe('ENODEV');
    expect(outcome(() => t.vm.createDevice(KVM_DEV_TYPE.ARM_VGIC_V3))).toBe('ENODEV');
    expect(outcome(() => t.vm.createDevice(KVM_DEV_TYPE.ARM_VGIC_V3, { test: true }))).toBe('ENODEV');
    expect(outcome(() => t.vm.createDevice(1 << 20))).toBe('ENODEV');
    expect(t.vm.createDevice(NULL_DEVICE_TYPE, { test: true })).toBe(null);
    const d = t.vm.createDevice(NULL_DEVICE_TYPE)!;
    expect(d.fd).toBeGreaterThan(2);
    expect(d.hasAttr({ group: 0, attr: 0 })).toBe(true);
    expect(d.hasAttr({ group: 1, attr: 0 })).toBe(false);
    d.setAttr({ group: 0, attr: 0 }, 0x1234_5678_9abcn);
    expect(d.getAttr({ group: 0, attr: 0 })).toBe(0x1234_5678_9abcn);
    expect(d.getAttr({ group: 0, attr: 1 })).toBe(1n);
    expect(outcome(() => d.setAttr({ group: 0, attr: 1 }, 5))).toBe('EPERM');
    expect(outcome(() => d.setAttr({ group: 0, attr: 0 }))).toBe('EFAULT'); // addr 0
    expect(outcome(() => t.sys.ioctl(d.fd, t.kvm.req('KVM_RUN'), 0))).toBe('ENOTTY'); // no ops->ioctl
    expect(outcome(() => t.sys.mmap(d.fd, 4096))).toBe('ENODEV');
    expect(outcome(() => t.vm.createDevice(NULL_DEVICE_TYPE))).toBe('EEXIST'); // the device's own create refuses
    d.close();
    expect(outcome(() => t.vm.createDevice(NULL_DEVICE_TYPE))).toBe('ok:object');
  });

  it('a device fd keeps its VM alive after the VM fd closes', () => {
    const t = toyVm([code.hlt()]);
    const d = t.vm.createDevice(NULL_DEVICE_TYPE)!;
    t.vcpu.close();
    t.vm.close();
    d.setAttr({ group: 0, attr: 0 }, 9);
    expect(d.getAttr({ group: 0, attr: 0 })).toBe(9n);
    d.close();
  });
});
