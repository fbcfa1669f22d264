/**
 * kvm_vm_ioctl_check_extension_generic: the capabilities the generic kernel implements. Only what
 * vkvm really implements is reported; everything else is the arch's answer (0 if unknown).
 * @module
 */
import { availableParallelism } from 'node:os';
import { KVM_CAP, KVM_DIRTY_LOG, KVM_MEMORY_ATTRIBUTE } from '../uapi/constants.js';
import type { ArchBackend } from './arch.js';
import type { Vm } from './vm.js';

/** The generic answer for `cap`, or undefined to ask the arch. */
export function genericCheckExtension(arch: ArchBackend, cap: number, vm: Vm | null): number | undefined {
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
      return arch.maxVcpus;
    case KVM_CAP.MAX_VCPU_ID:
      return arch.maxVcpuIds;
    case KVM_CAP.MEMORY_ATTRIBUTES:
      return arch.hasPrivateMem(vm) ? KVM_MEMORY_ATTRIBUTE.PRIVATE : 0;
    case KVM_CAP.GUEST_MEMFD:
      return arch.hasPrivateMem(vm) || arch.gmemFlags(vm) !== 0n ? 1 : 0;
    case KVM_CAP.GUEST_MEMFD_FLAGS:
      return Number(arch.gmemFlags(vm));
    default:
      return undefined;
  }
}

let cpus: number | undefined;
/** num_online_cpus() of the host this runs on (KVM_CAP_NR_VCPUS is capped by it). */
function hostCpus(): number {
  return (cpus ??= Math.max(1, availableParallelism()));
}
