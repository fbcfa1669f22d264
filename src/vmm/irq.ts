/**
 * Interrupt lines between the VMM's devices and whatever delivers them: the VMM's own i8259
 * (userspace irqchip, injected with KVM_INTERRUPT) or the in-kernel irqchip (KVM_IRQ_LINE, or an
 * irqfd the VMM signals).
 * @module
 */
import type { EventFd, Vm } from '../index.js';

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

/**
 * An input of the in-kernel irqchip driven with KVM_IRQ_LINE (x86: the GSI; arm64: the irq-type
 * encoded number, e.g. an SPI's). Only level changes reach KVM, as a VMM's line would.
 */
export function vmIrqLine(vm: () => Vm, irq: number): IrqLine & { readonly level: boolean; readonly raises: number } {
  let level = false;
  let raises = 0;
  return {
    get level() {
      return level;
    },
    get raises() {
      return raises;
    },
    set(l) {
      if (l === level) return;
      level = l;
      if (l) raises++;
      vm().irqLine(irq, l);
    },
  };
}

/**
 * An edge-triggered input behind an irqfd (KVM_IRQFD without a resamplefd, which injects a pulse
 * per signal): every raise is one signal -- one interrupt -- whether or not the line was already
 * up; lowering does nothing (the guest acknowledges at the device). What Firecracker does for
 * virtio-mmio, whose interrupt the driver acknowledges through InterruptACK.
 */
export function irqfdLine(fd: EventFd): IrqLine & { readonly signals: number } {
  let signals = 0;
  return {
    get signals() {
      return signals;
    },
    set(l) {
      if (!l) return;
      signals++;
      fd.signal();
    },
  };
}
