/**
 * KVM_CREATE_DEVICE and the device fd (virt/kvm/kvm_main.c kvm_ioctl_create_device,
 * kvm_device_ioctl): in-kernel devices created by type (the arm64 vGIC and ITS, VFIO...), driven
 * through KVM_SET/GET/HAS_DEVICE_ATTR on the fd the ioctl returns. The arch supplies the device
 * types it has (`ArchBackend.deviceOps`, the kvm_device_ops_table); unknown types are ENODEV.
 * @module
 */
import { KvmError } from '../sys/error.js';
import { genericStructs as S } from '../uapi/kvm.js';
import type { UserArg } from './uarg.js';
import type { Vm } from './vm.js';

/** struct kvm_device_attr, decoded, with access to the user memory `addr` points at. */
export interface DeviceAttr {
  readonly flags: number;
  readonly group: number;
  readonly attr: bigint;
  readonly addr: bigint;
}

/** struct kvm_device_ops. Accessors throw the kernel's errno; an absent accessor is EPERM. */
export interface KvmDeviceOps {
  /** The device's name (the anon inode's, e.g. "kvm-arm-vgic-v3"). */
  readonly name: string;
  /** ops->create: builds the device state (dev.state) or throws (EEXIST, EBUSY...). */
  create(dev: KvmDevice, type: number): void;
  /** ops->init: after creation, before the fd exists. */
  init?(dev: KvmDevice): void;
  setAttr?(dev: KvmDevice, attr: DeviceAttr): number;
  getAttr?(dev: KvmDevice, attr: DeviceAttr): number;
  hasAttr?(dev: KvmDevice, attr: DeviceAttr): number;
  /** ops->ioctl: other requests on the device fd (ENOTTY when absent). */
  ioctl?(dev: KvmDevice, request: number, arg: UserArg): number;
  /** ops->release: the fd was closed. */
  release?(dev: KvmDevice): void;
}

/** struct kvm_device */
export class KvmDevice {
  /** The device model's own state (set by ops.create). */
  state: unknown = undefined;

  constructor(
    readonly ops: KvmDeviceOps,
    readonly vm: Vm,
    readonly type: number,
  ) {}

  /** `len` bytes of user memory at `attr.addr` (EFAULT when unmapped), for get/set accessors. */
  user(attr: DeviceAttr, len: number): Uint8Array {
    return this.vm.kernel.space.user(attr.addr, len);
  }

  /** kvm_device_ioctl */
  ioctl(request: number, arg: UserArg): number {
    if (this.vm.dead) throw KvmError.of('EIO', 'ioctl', { request, fd: arg.fd });
    const nr = this.vm.kernel.nr;
    const access = (f: ((dev: KvmDevice, a: DeviceAttr) => number) | undefined) => {
      if (!f) throw KvmError.of('EPERM', 'ioctl', { request, fd: arg.fd });
      const a = S.kvm_device_attr.decode(arg.bytes(S.kvm_device_attr.size));
      return f.call(this.ops, this, a);
    };
    switch (request) {
      case nr.KVM_SET_DEVICE_ATTR:
        return access(this.ops.setAttr);
      case nr.KVM_GET_DEVICE_ATTR:
        return access(this.ops.getAttr);
      case nr.KVM_HAS_DEVICE_ATTR:
        return access(this.ops.hasAttr);
      default:
        if (this.ops.ioctl) return this.ops.ioctl(this, request, arg);
        throw KvmError.of('ENOTTY', 'ioctl', { request, fd: arg.fd });
    }
  }
}
