/**
 * The its guest (test/guests/arm64/irq/its.S) on an in-kernel vGICv3 with an ITS: LPI tables, the
 * command queue, LPIs from INT, KVM_SIGNAL_MSI and irqfds routed as MSIs, taken at EL1 and from
 * EL0; its output must be what it printed under qemu-system-aarch64 -M virt,gic-version=3 (TCG),
 * where the same requests are the guest's own GITS_TRANSLATER writes. Interpreter and JIT.
 */
import { describe, expect, it } from 'vitest';
import { irqExpect } from './gic-board.js';
import { itsBoard } from './its-board.js';

describe.each([
  { name: 'interpreter', jit: false },
  { name: 'jit', jit: true },
])('$name', ({ jit }) => {
  it('its: LPIs from INT, KVM_SIGNAL_MSI and MSI irqfds, priorities, INV, CLEAR, MOVI, DISCARD, EL0', () => {
    const b = itsBoard({ jit });
    expect(b.runUntil()).toBe(false);
    expect(b.uart.out).toBe(irqExpect('its'));
    // KVM_SIGNAL_MSI: delivered (1) except for the discarded event (0); the disabled LPI's MSI
    // is delivered to its pending state (1).
    expect(b.msiResults).toEqual([1, 1, 1, 0, 1]);
    expect(b.irqfdCount).toBe(3);
  });
});
