/**
 * kvm_vm_ioctl_check_extension_generic: the capabilities the generic kernel implements. Only what
 * vkvm really implements is reported; everything else is the arch's answer (0 if unknown).
 * @module
 */
import { availableParallelism } from 'node:os';
import { KVM_CAP, KVM_CLOCK, KVM_DIRTY_LOG, KVM_MEMORY_ATTRIBUTE } from '../uapi/constants.js';
import { abi } from '../uapi/index.js';
import { KVM_MAX_IRQ_ROUTES } from '../uapi/kvm.js';
import type { Kernel } from './kernel.js';
import type { Vm } from './vm.js';

/** The generic answer for `cap`, or undefined to ask the arch. */
export function genericCheckExtension(kernel: Kernel, cap: number, vm: Vm | null): number | undefined {
  const arch = kernel.arch;
  switch (cap) {
    case KVM_CAP.USER_MEMORY:
    case KVM_CAP.USER_MEMORY2:
    case KVM_CAP.DESTROY_MEMORY_REGION_WORKS:
    case KVM_CAP.JOIN_MEMORY_REGIONS_WORKS:
    case KVM_CAP.INTERNAL_ERROR_DATA:
    case KVM_CAP.CHECK_EXTENSION_VM:
    case KVM_CAP.ENABLE_CAP_VM:
    case KVM_CAP.IMMEDIATE_EXIT:
    case KVM_CAP.SYSTEM_EVENT_DATA:
      return 1;
    case KVM_CAP.MANUAL_DIRTY_LOG_PROTECT2:
      return KVM_DIRTY_LOG.MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG.INITIALLY_SET;
    case KVM_CAP.NR_MEMSLOTS:
      return arch.userMemSlots;
    case KVM_CAP.NR_VCPUS:
      return Math.min(hostCpus(), arch.maxVcpus);
    case KVM_CAP.MAX_VCPUS:
      return vm !== null ? vm.maxVcpus : arch.maxVcpus; // kvm->max_vcpus on a VM fd
    case KVM_CAP.MAX_VCPU_ID:
      return arch.maxVcpuIds;
    case KVM_CAP.MEMORY_ATTRIBUTES:
      return arch.hasPrivateMem(vm) ? KVM_MEMORY_ATTRIBUTE.PRIVATE : 0;
    case KVM_CAP.GUEST_MEMFD:
      return arch.hasPrivateMem(vm) || kernel.gmemFlags(vm) !== 0n ? 1 : 0;
    case KVM_CAP.GUEST_MEMFD_FLAGS:
      return Number(kernel.gmemFlags(vm)); // 0 before 6.18, where the capability does not exist
    // KVM_CREATE_DEVICE answers every type (ENODEV for the ones the arch lacks), as the kernel's.
    case KVM_CAP.DEVICE_CTRL:
      return 1;
    // Ioeventfds work once the arch's exit points consult the I/O buses.
    case KVM_CAP.IOEVENTFD:
    case KVM_CAP.IOEVENTFD_ANY_LENGTH:
      return arch.ioBus ? 1 : 0;
    // What needs an in-kernel irqchip: reported once the arch has one to route to.
    case KVM_CAP.IRQCHIP:
      return arch.createIrqchip ? 1 : undefined;
    case KVM_CAP.IRQFD:
    case KVM_CAP.SIGNAL_MSI:
      return arch.setRoutingEntry ? 1 : 0;
    case KVM_CAP.IRQFD_RESAMPLE:
      return arch.setRoutingEntry ? 1 : undefined;
    case KVM_CAP.IRQ_ROUTING:
      return arch.setRoutingEntry ? KVM_MAX_IRQ_ROUTES : 0;
    // KVM_GET_CLOCK / KVM_SET_CLOCK are generic here, where the arch's ABI declares them (x86).
    case KVM_CAP.ADJUST_CLOCK:
      return 'KVM_GET_CLOCK' in abi[arch.arch].ioctls ? KVM_CLOCK.TSC_STABLE | KVM_CLOCK.REALTIME | KVM_CLOCK.HOST_TSC : undefined;
    default:
      return undefined;
  }
}

let cpus: number | undefined;
/** num_online_cpus() of the host this runs on (KVM_CAP_NR_VCPUS is capped by it). */
function hostCpus(): number {
  return (cpus ??= Math.max(1, availableParallelism()));
}
