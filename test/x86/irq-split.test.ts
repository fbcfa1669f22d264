/**
 * KVM_CAP_SPLIT_IRQCHIP (test/guests/x86/irq/split.asm): LAPICs in the kernel, PIC and IOAPIC in
 * userspace; GSIs routed to MSIs (KVM_SET_GSI_ROUTING), a level-triggered one whose EOI exits with
 * KVM_EXIT_IOAPIC_EOI, and ExtINT from KVM_INTERRUPT. Both engines; /dev/kvm where present.
 */
import { describe, expect, it } from 'vitest';
import { type Sys } from '../../src/index.js';
import { nativeBackend, nativeX86, outcome } from '../helpers/backends.js';
import { engineSys, X86_ENGINES } from '../helpers/engines.js';
import { irqGuest, irqMachine, nextPhase, runToExit } from '../helpers/irq.js';

const SPLIT = irqGuest('split');
const backends: { name: string; make: () => Sys }[] = [...X86_ENGINES.map((e) => ({ name: e.name, make: () => engineSys(e) })), ...(nativeX86 ? [nativeBackend] : [])];

describe.each(backends)('split irqchip ($name)', (b) => {
  it('MSI routes, KVM_EXIT_IOAPIC_EOI for a level-triggered vector, ExtINT from KVM_INTERRUPT', () => {
    const m = irqMachine(b.make(), { code: SPLIT, irqchip: 'split' });
    const v = m.vcpus[0]!;
    const vm = m.vm;
    expect(outcome(() => vm.setGsiRouting([{ gsi: 5, type: 'irqchip', irqchip: 2, pin: 5 }]))).toBe('EINVAL'); // no in-kernel IOAPIC
    vm.setGsiRouting([
      { gsi: 5, type: 'msi', addressLo: 0xfee00000, data: 0x60 },
      { gsi: 6, type: 'msi', addressLo: 0xfee00000, data: 0x8061 }, // level
    ]);
    expect(nextPhase(v)).toBe(1);
    expect(vm.irqLineStatus(5, 1)).toBe(1);
    expect(vm.irqLineStatus(7, 1)).toBe(-1); // no route
    expect(nextPhase(v)).toBe(2);
    expect(m.q(0x60 * 8)).toBe(1n);

    vm.irqLine(6, 1);
    const { exit } = runToExit(v);
    expect(exit).toMatchObject({ reason: 'ioapic_eoi', vector: 0x61 });
    expect(m.q(0x61 * 8)).toBe(1n);
    vm.irqLine(6, 0); // userspace's IOAPIC saw the EOI
    expect(nextPhase(v)).toBe(3);

    v.interrupt(0x62);
    expect(outcome(() => v.interrupt(0x63))).toBe('EEXIST'); // one ExtINT at a time
    expect(nextPhase(v)).toBe(4);
    expect(m.q(0x62 * 8)).toBe(1n);
  });
});
