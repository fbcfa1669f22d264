/**
 * The interrupt sources a VMM drives, into a guest whose handlers run through a kernel-half IDT
 * (test/guests/x86/irq/irqsrc.asm): KVM_IRQ_LINE(_STATUS) through the IOAPIC (edge, and level with
 * remote IRR and the EOI broadcast), KVM_SIGNAL_MSI, an irqfd, a resampling irqfd, an ioeventfd hit
 * from CPL3 with no exit, and an MSI taken at CPL3. Both engines; /dev/kvm where present.
 */
import { describe, expect, it } from 'vitest';
import { EventFd, x86_64, type Sys } from '../../src/index.js';
import { nativeBackend, nativeX86 } from '../helpers/backends.js';
import { engineSys, X86_ENGINES } from '../helpers/engines.js';
import { irqGuest, irqMachine, nextPhase, runToExit } from '../helpers/irq.js';

const IRQSRC = irqGuest('irqsrc');
const MMIO = 0x300000;
const backends: { name: string; make: () => Sys }[] = [...X86_ENGINES.map((e) => ({ name: e.name, make: () => engineSys(e) })), ...(nativeX86 ? [nativeBackend] : [])];

describe.each(backends)('interrupt sources ($name)', (b) => {
  it('IRQ_LINE (edge, level), SIGNAL_MSI, irqfd, resampling irqfd, ioeventfd and an MSI at CPL3', () => {
    const sys = b.make();
    const m = irqMachine(sys, { code: IRQSRC });
    const v = m.vcpus[0]!;
    const vm = m.vm;
    const count = (vec: number) => m.q(vec * 8);
    const kick = EventFd.create(sys);
    const e10 = EventFd.create(sys);
    const e11 = EventFd.create(sys);
    const r11 = EventFd.create(sys);
    vm.ioeventfd({ fd: kick, addr: MMIO + 0x40, len: 4 });
    vm.irqfd({ fd: e10, gsi: 10 });
    vm.irqfd({ fd: e11, gsi: 11, resamplefd: r11 });

    expect(nextPhase(v)).toBe(1);
    expect(vm.irqLineStatus(5, 1)).toBe(1); // delivered to one LAPIC
    expect(vm.irqLineStatus(5, 0)).toBe(1);
    expect(nextPhase(v)).toBe(2);
    expect(count(0x35)).toBe(1n);

    expect(vm.signalMsi({ addressLo: 0xfee00000, data: 0x41 })).toBe(1);
    expect(vm.signalMsi({ addressLo: 0xfee05000, data: 0x41 })).toBe(0); // APIC ID 5: no such LAPIC
    expect(nextPhase(v)).toBe(3);
    expect(count(0x41)).toBe(1n);

    e10.signal();
    expect(nextPhase(v)).toBe(4);
    expect(count(0x42)).toBe(1n);

    const remoteIrr9 = () => (vm.getIrqchip(x86_64.KVM_IRQCHIP.IOAPIC).chip.ioapic.redirtbl[9]!.bits >> 14n) & 1n;
    expect(vm.irqLineStatus(9, 1)).toBe(1);
    for (let k = 1; k <= 2; k++) {
      const { exit } = runToExit(v); // the level handler, before its EOI
      expect(exit).toMatchObject({ reason: 'io', port: 0x601 });
      expect(remoteIrr9()).toBe(1n); // waits for the EOI
      expect(vm.irqLineStatus(9, 1)).toBe(-1); // ioapic_service: remote IRR set, not delivered
      if (k === 2) vm.irqLine(9, 0); // the device is serviced
    }
    expect(nextPhase(v)).toBe(5);
    expect(count(0x39)).toBe(2n); // redelivered once at the EOI while the line was still high
    expect(remoteIrr9()).toBe(0n);

    e11.signal();
    expect(nextPhase(v)).toBe(6);
    expect(count(0x43)).toBe(1n);
    expect(r11.tryRead()).toBe(1n); // the EOI lowered the line and told the VMM
    expect(kick.tryRead()).toBe(1n); // the CPL3 store hit the ioeventfd without an exit
    expect(m.q(0x400 + 0x43 * 8)).toBe(0x18n);

    expect(vm.signalMsi({ addressLo: 0xfee00000, data: 0x41 })).toBe(1);
    expect(nextPhase(v)).toBe(7);
    expect(count(0x41)).toBe(2n);
    expect(m.q(0x400 + 0x41 * 8)).toBe(0x3bn); // taken at CPL3
  });
});
