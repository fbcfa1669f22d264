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
import { KvmError } from '../../sys/error.js';
import { KVM_CAP } from '../../uapi/constants.js';
import { irqchipInKernel, irqLine, setRoutingEntry, vgicDeviceOps, vgicInitialized } from './vgic/device.js';
import { itsSetMsi, msisRequireDevid } from './vgic/its.js';

export const arm64Backend: ArchBackend = {
  ...base,
  checkExtension(cap, vm) {
    // KVM_CAP_MSI_DEVID: kvm->arch.vgic.msis_require_devid (an ITS exists); EINVAL on the system fd.
    if (cap === KVM_CAP.MSI_DEVID) {
      if (vm === null) throw KvmError.of('EINVAL', 'ioctl', { message: 'KVM_CAP_MSI_DEVID needs a VM' });
      return msisRequireDevid(vm) ? 1 : 0;
    }
    return base.checkExtension(cap, vm);
  },
  ioBus: true,
  nrIrqchips: 1,
  irqchipPins: KVM_IRQCHIP_NUM_PINS,
  createIrqchip,
  irqchipInKernel,
  intcInitialized: vgicInitialized,
  setRoutingEntry,
  irqLine: (vm, irq, level) => irqLine(vm, irq, level),
  // vgic-irqfd.c kvm_set_msi: MSIs go through an ITS (vgic/its.ts).
  setMsi: (vm, msi, _source, level) => itsSetMsi(vm, msi, level),
  deviceOps: vgicDeviceOps,
};
