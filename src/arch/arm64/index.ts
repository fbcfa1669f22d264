/**
 * The arm64 composition point: the arch backend `virtualSys()` uses (src/sys/backends.ts), with
 * the generic in-kernel device plumbing wired to the vGIC (vgic/device.ts) and the arch timer:
 * KVM_CREATE_DEVICE of the vGIC models, KVM_CREATE_IRQCHIP, KVM_IRQ_LINE's arm64 irq types, the
 * SPI routes irqfds drive, and MMIO exits that consult the VM's bus first (the vGIC frames,
 * ioeventfds).
 * @module
 */
import type { ArchBackend } from '../../kernel/arch.js';
import { KVM_IRQCHIP_NUM_PINS } from './irq-routing.js';
import { arm64Backend as base } from './backend.js';
import { createIrqchip } from './irqchip.js';
import { irqchipInKernel, irqLine, setRoutingEntry, vgicDeviceOps, vgicInitialized } from './vgic/device.js';

export const arm64Backend: ArchBackend = {
  ...base,
  ioBus: true,
  nrIrqchips: 1,
  irqchipPins: KVM_IRQCHIP_NUM_PINS,
  createIrqchip,
  irqchipInKernel,
  intcInitialized: vgicInitialized,
  setRoutingEntry,
  irqLine: (vm, irq, level) => irqLine(vm, irq, level),
  // vgic-irqfd.c kvm_set_msi: MSIs go through an ITS, which is not modelled.
  setMsi: () => -19, // -ENODEV
  deviceOps: vgicDeviceOps,
};
