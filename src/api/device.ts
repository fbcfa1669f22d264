/**
 * A device fd from KVM_CREATE_DEVICE (the arm64 vGIC and ITS, VFIO...), with its attribute ioctls.
 * @module
 */
import type { Vm } from './vm.js';

/** A device attribute: `group`/`attr` as the device's uapi defines them, `flags` usually 0. */
export interface DeviceAttrId {
  readonly group: number;
  readonly attr: bigint | number;
  readonly flags?: number;
}

/** A KVM device fd. */
export class Device {
  constructor(
    readonly vm: Vm,
    readonly fd: number,
    /** The KVM_DEV_TYPE_* it was created with. */
    readonly type: number,
  ) {}

  private attrIoctl(name: 'KVM_SET_DEVICE_ATTR' | 'KVM_GET_DEVICE_ATTR' | 'KVM_HAS_DEVICE_ATTR', a: DeviceAttrId, addr: bigint): number {
    const S = this.vm.kvm.abi.structs;
    return this.vm.sys.ioctl(this.fd, this.vm.kvm.req(name), S.kvm_device_attr.encode({ flags: a.flags ?? 0, group: a.group, attr: BigInt(a.attr), addr }));
  }

  /** KVM_HAS_DEVICE_ATTR: true when the device has the attribute (ENXIO and the like become false). */
  hasAttr(a: DeviceAttrId): boolean {
    try {
      this.attrIoctl('KVM_HAS_DEVICE_ATTR', a, 0n);
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === 'ENXIO') return false;
      throw e;
    }
  }

  /** KVM_SET_DEVICE_ATTR with `value` as the bytes at `addr` (a u64, or raw bytes; omitted: addr 0). */
  setAttr(a: DeviceAttrId, value?: bigint | number | Uint8Array): void {
    if (value === undefined) {
      this.attrIoctl('KVM_SET_DEVICE_ATTR', a, 0n);
      return;
    }
    const bytes = value instanceof Uint8Array ? value : u64(value);
    const buf = this.vm.hostBuffer(bytes.length);
    buf.bytes.set(bytes);
    this.attrIoctl('KVM_SET_DEVICE_ATTR', a, buf.hva);
  }

  /** KVM_GET_DEVICE_ATTR: the `len` bytes (default 8) the device writes at `addr`. */
  getAttrBytes(a: DeviceAttrId, len = 8): Uint8Array {
    const buf = this.vm.hostBuffer(len);
    buf.bytes.fill(0, 0, len);
    this.attrIoctl('KVM_GET_DEVICE_ATTR', a, buf.hva);
    return buf.bytes.slice(0, len);
  }

  /** KVM_GET_DEVICE_ATTR of a u64 attribute. */
  getAttr(a: DeviceAttrId): bigint {
    const b = this.getAttrBytes(a, 8);
    return new DataView(b.buffer).getBigUint64(0, true);
  }

  close(): void {
    this.vm.sys.close(this.fd);
  }
}

function u64(v: bigint | number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(v)), true);
  return b;
}
