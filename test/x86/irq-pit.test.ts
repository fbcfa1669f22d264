/**
 * The in-kernel PIT through the in-kernel PIC (test/guests/x86/irq/pitpic.asm): IRQ0 in rate
 * generator mode taken while halted and at CPL3 through the BSP's LINT0 (ExtINT), the speaker port
 * 0x61 (KVM_PIT_SPEAKER_DUMMY) with channel 2's gate and OUT2 as Linux calibrates the TSC with,
 * KVM_GET_PIT2 / KVM_GET_IRQCHIP views of the same state. Both engines, both clocks; /dev/kvm where present.
 */
import { describe, expect, it } from 'vitest';
import { virtualSys, x86_64, type Sys } from '../../src/index.js';
import { nativeBackend, nativeX86 } from '../helpers/backends.js';
import { X86_ENGINES } from '../helpers/engines.js';
import { irqGuest, irqMachine, nextPhase } from '../helpers/irq.js';

const PIT = irqGuest('pitpic');
const backends: { name: string; make: () => Sys }[] = [
  ...X86_ENGINES.flatMap((e) => (['host', 'deterministic'] as const).map((clock) => ({ name: `${e.name}, ${clock} clock`, make: () => virtualSys({ ...e.opts, clock }) }))),
  ...(nativeX86 ? [nativeBackend] : []),
];

describe.each(backends)('PIT on IRQ0 through the PIC ($name)', (b) => {
  it('ticks while halted and at CPL3; channel 2 + port 0x61 calibrate the TSC', { timeout: 60_000 }, () => {
    const m = irqMachine(b.make(), { code: PIT, pit: x86_64.KVM_PIT.SPEAKER_DUMMY });
    const v = m.vcpus[0]!;
    const khz = v.getTscKhz() || 2_400_000;
    const exact = b.name.includes('deterministic');

    expect(nextPhase(v)).toBe(1);
    expect(m.q(0)).toBeGreaterThanOrEqual(5n);
    const periodNs = (597 * 1e9) / 1193181;
    for (let i = 1; i < 5; i++) {
      const d = (Number(m.q(0x100 + 8 * i) - m.q(0x100 + 8 * (i - 1))) * 1e6) / khz;
      if (exact) expect(Math.abs(d - periodNs)).toBeLessThan(2000);
      else expect(d).toBeGreaterThan(0);
    }
    const pit = m.vm.getPit2();
    expect(pit.channels[0]).toMatchObject({ mode: 2, count: 597, rw_mode: 3 });
    const pic = m.vm.getIrqchip(x86_64.KVM_IRQCHIP.PIC_MASTER).chip.pic;
    expect(pic).toMatchObject({ irq_base: 0x20, imr: 0xfe, init_state: 0 });

    expect(nextPhase(v)).toBe(2);
    const cal = (Number(m.q(0x20) - m.q(0x18)) * 1e6) / khz; // ns OUT2 took to rise
    expect(cal).toBeGreaterThanOrEqual(2_000_000 * 0.999); // 2386 PIT ticks: 2 ms
    if (exact) expect(cal).toBeLessThan(2_000_000 * 1.001);
    // The guest polled OUT2 low first: more than once on the deterministic clock; on the host
    // clock a descheduled vCPU thread (a loaded machine) can find the 2 ms over by its second poll.
    expect(m.q(0x28)).toBeGreaterThan(exact ? 1n : 0n);
    expect(m.vm.getPit2().channels[2]).toMatchObject({ mode: 0, gate: 1, count: 2386 });

    expect(nextPhase(v)).toBe(3);
    expect(m.q(0)).toBeGreaterThanOrEqual(3n);
    expect(m.q(8)).toBe(0x3bn); // the last tick interrupted CPL3
  });
});
