/**
 * The x86 composition point: the arch backend `virtualSys()` uses (src/sys/backends.ts), with its
 * flavours (VMX, TDX) and hooks (KVMI) plugged in by backend.ts, and the generic in-kernel device
 * plumbing wired here. The in-kernel irqchip models (PIC, IOAPIC, LAPIC, PIT) plug in here too:
 * `createIrqchip`, `irqchipInKernel`, `setRoutingEntry`, `setMsi`... (src/kernel/arch.ts).
 * @module
 */
import type { ArchBackend } from '../../kernel/arch.js';
import { KVM_CAP } from '../../uapi/constants.js';
import { x86Backend as base } from './backend.js';

export const x86Backend: ArchBackend = {
  ...base,
  // x86 reports length-0 ioeventfds on its own (the generic IOEVENTFD_ANY_LENGTH aside).
  checkExtension: (cap, vm) => (cap === KVM_CAP.IOEVENTFD_NO_LENGTH ? 1 : base.checkExtension(cap, vm)),
  // IN/OUT, OUTS and MMIO exits consult the VM's I/O buses first (ioeventfds, in-kernel devices).
  ioBus: true,
};
