/**
 * The arm64 composition point: the arch backend `virtualSys()` uses (src/sys/backends.ts), with
 * the generic in-kernel device plumbing wired here. The vGIC and the arch timer plug in here:
 * `deviceOps` (KVM_DEV_TYPE_ARM_VGIC_V3/V2), `createIrqchip`, `irqchipInKernel`,
 * `intcInitialized`, `setRoutingEntry`, `irqLine` (arm64's irq-type layout)... (src/kernel/arch.ts).
 * @module
 */
import type { ArchBackend } from '../../kernel/arch.js';
import { arm64Backend as base } from './backend.js';

export const arm64Backend: ArchBackend = {
  ...base,
  // MMIO exits consult the VM's MMIO bus first (Cpu.mmio): ioeventfds, in-kernel devices.
  ioBus: true,
};
