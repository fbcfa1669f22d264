/**
 * The x86 composition point: the arch backend `virtualSys()` uses (src/sys/backends.ts), with its
 * flavours (VMX, TDX) and hooks (KVMI) plugged in by backend.ts, and the in-kernel irqchip family
 * (irqchip/: PIC, IOAPIC, LAPIC, PIT, kvmclock) wired into the generic device plumbing here.
 * @module
 */
import type { ArchBackend } from '../../kernel/arch.js';
import { KVM_CAP } from '../../uapi/constants.js';
import { KVM_IOAPIC_NUM_PINS } from '../../uapi/x86.js';
import { x86Backend as base } from './backend.js';
import { chipOf } from './irqchip/chip.js';

export const x86Backend: ArchBackend = {
  ...base,
  // x86 reports length-0 ioeventfds on its own (the generic IOEVENTFD_ANY_LENGTH aside).
  checkExtension: (cap, vm) => (cap === KVM_CAP.IOEVENTFD_NO_LENGTH ? 1 : base.checkExtension(cap, vm)),
  // IN/OUT, OUTS and MMIO exits consult the VM's I/O buses first (ioeventfds, in-kernel devices).
  ioBus: true,
  // KVM_NR_IRQCHIPS (PIC master, PIC slave, IOAPIC) and KVM_IRQCHIP_NUM_PINS.
  nrIrqchips: 3,
  irqchipPins: KVM_IOAPIC_NUM_PINS,
  createIrqchip: (vm) => chipOf(vm).create(),
  irqchipInKernel: (vm) => chipOf(vm).inKernel,
  // kvm_arch_irqfd_allowed: resampling needs the in-kernel IOAPIC (a full irqchip).
  irqfdAllowed: (vm, resample) => (resample ? chipOf(vm).ioapicInKernel : chipOf(vm).inKernel),
  setRoutingEntry: (vm, e) => chipOf(vm).routingEntry(e),
  setMsi: (vm, msi, src, level, lineStatus) => chipOf(vm).setMsi(msi, src, level, lineStatus),
  irqRoutingUpdated: (vm) => chipOf(vm).routingChanged(),
  ackNotifiersChanged: (vm) => {
    const c = chipOf(vm);
    if (c.ioapicInKernel) c.scanIoapic();
  },
};
