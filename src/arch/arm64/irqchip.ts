/**
 * The arm64 in-kernel irqchip's ioctls around the vGIC device (vgic/device.ts): KVM_CREATE_IRQCHIP
 * (a legacy GICv2), KVM_ARM_SET_DEVICE_ADDR, KVM_ARM_SET_COUNTER_OFFSET, the VM's device
 * attributes (the SMCCC filter, in hypercalls.ts), the vCPU's (the timer PPIs, KVM_ARM_VCPU_TIMER_CTRL; PV time,
 * KVM_ARM_VCPU_PVTIME_CTRL, in pvtime.ts; no PMU) and kvm_arch_vcpu_precreate.
 * @module
 */
import { NOT_HANDLED } from '../../kernel/arch.js';
import type { UserArg } from '../../kernel/uarg.js';
import type { Vcpu } from '../../kernel/vcpu.js';
import type { Vm } from '../../kernel/vm.js';
import { KvmError } from '../../sys/error.js';
import { genericStructs } from '../../uapi/kvm.js';
import { arm64 } from '../../uapi/index.js';
import { KVM_ARM_VCPU_ATTR, KVM_ARM_VM_SMCCC } from '../../uapi/arm64.js';
import type { Arm64Vcpu, Arm64VmState } from './cpu.js';
import { irqchipInKernel, setLegacyDeviceAddr, vgicCreate, vgicInitialized } from './vgic/device.js';
import { GIC_V2 } from './vgic/vgic.js';
import { sharedOf, VM_FLAG } from './vmshared.js';
import { PTIMER, VTIMER } from './timer.js';
import { pvtimeAttr } from './pvtime.js';
import { vmSmcccAttr } from './hypercalls.js';

const S = arm64.structs;
const req = (name: keyof typeof arm64.ioctls) => arm64.ioctls[name]!.request;
const vmState = (vm: Vm) => vm.archState as Arm64VmState;

/** kvm_arch_vcpu_precreate: no new vCPU once the vGIC is initialized, no id past kvm->max_vcpus. */
export function precreateVcpu(vm: Vm, id: number): void {
  if (irqchipInKernel(vm) && vgicInitialized(vm)) throw KvmError.of('EBUSY', 'ioctl', { request: req('KVM_CREATE_VCPU'), message: 'the vGIC is initialized' });
  if (id >= vm.maxVcpus) throw KvmError.of('EINVAL', 'ioctl', { request: req('KVM_CREATE_VCPU'), message: 'vcpu id >= kvm->max_vcpus' });
}

/** KVM_CREATE_IRQCHIP on arm64: a GICv2, addressed with KVM_ARM_SET_DEVICE_ADDR. */
export function createIrqchip(vm: Vm): void {
  vgicCreate(vm, GIC_V2);
}

/** The arm64 VM ioctls of interrupts and time (kvm_arch_vm_ioctl). */
export function irqchipVmIoctl(vm: Vm, request: number, arg: UserArg): number | typeof NOT_HANDLED {
  switch (request) {
    case req('KVM_ARM_SET_DEVICE_ADDR'): {
      const a = S.kvm_arm_device_addr.decode(arg.bytes(S.kvm_arm_device_addr.size));
      setLegacyDeviceAddr(vm, a.id, a.addr);
      return 0;
    }
    case req('KVM_ARM_SET_COUNTER_OFFSET'): {
      // kvm_vm_ioctl_set_counter_offset: one offset for both counters; EBUSY while a vCPU runs.
      const o = S.kvm_arm_counter_offset.decode(arg.bytes(S.kvm_arm_counter_offset.size));
      if (o.reserved) throw KvmError.of('EINVAL', 'ioctl', { request, fd: arg.fd });
      for (const v of vm.vcpus.values()) if (v.away !== null) throw KvmError.of('EBUSY', 'ioctl', { request, fd: arg.fd });
      const sh = sharedOf(vmState(vm));
      sh.setFlag(VM_FLAG.COUNTER_OFFSET);
      sh.setOffset(VTIMER, o.counter_offset);
      sh.setOffset(PTIMER, o.counter_offset);
      for (const v of vm.vcpus.values()) (v.archState as Arm64Vcpu).cpu.userGen++;
      return 0;
    }
    case req('KVM_SET_DEVICE_ATTR'):
    case req('KVM_HAS_DEVICE_ATTR'): {
      // kvm_vm_{set,has}_attr: only the SMCCC filter (KVM_ARM_VM_SMCCC_CTRL); no KVM_GET_DEVICE_ATTR
      // on the VM (kvm_arch_vm_ioctl's default: EINVAL).
      const a = genericStructs.kvm_device_attr.decode(arg.bytes(genericStructs.kvm_device_attr.size));
      if (a.group !== KVM_ARM_VM_SMCCC.CTRL) throw KvmError.of('ENXIO', 'ioctl', { request, fd: arg.fd });
      return vmSmcccAttr(vm, request === req('KVM_SET_DEVICE_ATTR'), a.attr, a.addr, arg);
    }
    default:
      return NOT_HANDLED;
  }
}

/** KVM_{SET,GET,HAS}_DEVICE_ATTR on a vCPU (kvm_arm_vcpu_arch_*_attr). */
export function vcpuDeviceAttr(vcpu: Vcpu, request: number, arg: UserArg): number {
  const a = genericStructs.kvm_device_attr.decode(arg.bytes(genericStructs.kvm_device_attr.size));
  const vm = vcpu.vm;
  const fail = (code: 'EINVAL' | 'ENXIO' | 'EBUSY' | 'ENODEV', message?: string) => KvmError.of(code, 'ioctl', { request, fd: arg.fd, ...(message ? { message } : {}) });
  switch (a.group) {
    case KVM_ARM_VCPU_ATTR.PMU_V3_CTRL:
      // kvm_arm_pmu_v3_{has,get,set}_attr: the vCPU has no PMU.
      if (request === req('KVM_HAS_DEVICE_ATTR')) throw fail('ENXIO');
      if (request === req('KVM_GET_DEVICE_ATTR')) {
        if (a.attr !== 0n) throw fail('ENXIO'); // KVM_ARM_VCPU_PMU_V3_IRQ alone is readable
        throw irqchipInKernel(vm) ? fail('ENODEV', 'no PMU') : fail('EINVAL', 'no in-kernel irqchip');
      }
      throw fail('ENODEV', 'no PMU');
    case KVM_ARM_VCPU_ATTR.TIMER_CTRL: {
      const which = Number(a.attr);
      if (request === req('KVM_HAS_DEVICE_ATTR')) {
        if (a.attr > 3n) throw fail('ENXIO');
        return 0;
      }
      const st = vmState(vm);
      if (request === req('KVM_GET_DEVICE_ATTR')) {
        if (a.attr > 3n) throw fail('ENXIO');
        const b = new Uint8Array(4);
        new DataView(b.buffer).setInt32(0, st.timerPpis[which]!, true);
        vm.kernel.space.user(a.addr, 4).set(b);
        return 0;
      }
      // kvm_arm_timer_set_attr: needs the vGIC, a PPI, before any vCPU ran.
      if (!irqchipInKernel(vm)) throw fail('EINVAL', 'no in-kernel irqchip');
      const u = vm.kernel.space.user(a.addr, 4);
      const irq = new DataView(u.buffer, u.byteOffset, 4).getInt32(0, true);
      if (irq < 16 || irq >= 32) throw fail('EINVAL', 'not a PPI');
      if (sharedOf(st).flags & VM_FLAG.TIMER_PPIS_IMMUTABLE) throw fail('EBUSY', 'a vCPU has run');
      if (a.attr > 3n) throw fail('ENXIO');
      st.timerPpis[which] = irq;
      vm.bumpView();
      return 0;
    }
    case KVM_ARM_VCPU_ATTR.PVTIME_CTRL:
      return pvtimeAttr(vcpu, request === req('KVM_SET_DEVICE_ATTR') ? 'set' : request === req('KVM_GET_DEVICE_ATTR') ? 'get' : 'has', a.attr, a.addr, arg);
    default:
      throw fail('ENXIO');
  }
}
