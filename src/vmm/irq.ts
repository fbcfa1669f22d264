/**
 * Interrupt lines between the VMM's devices and whatever delivers them: the VMM's own i8259
 * (userspace irqchip, injected with KVM_INTERRUPT) or the in-kernel irqchip (KVM_IRQ_LINE).
 * @module
 */

/** One interrupt input, driven by a device: level-triggered lines hold it, edge ones pulse it. */
export interface IrqLine {
  set(level: boolean): void;
}

/** Something with numbered interrupt inputs (ISA IRQs / GSIs, SPIs). */
export interface IrqController {
  line(n: number): IrqLine;
}

/** A line nobody listens to (a device with no interrupt wired, e.g. polled arm64 until the vGIC). */
export const NO_IRQ: IrqLine = { set() {} };

/** A rising then falling edge. */
export function pulse(l: IrqLine): void {
  l.set(true);
  l.set(false);
}
