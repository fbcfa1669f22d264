/**
 * The in-kernel I/O buses (virt/kvm/kvm_main.c kvm_io_bus_*): per VM, the PIO and MMIO address
 * ranges in-kernel devices claim. The arch exit points consult them before building an exit —
 * x86 `X86Machine.io` (IN/OUT) and the CPU's MMIO read/write paths, arm64 `Cpu.mmio` — so an
 * access a device takes completes inside KVM_RUN and userspace never sees it. Ioeventfds
 * (src/kernel/ioeventfd.ts) and the device models (PIC, IOAPIC, PIT, GIC distributor...) are
 * `IoDevice`s on these buses.
 *
 * A vCPU running on a worker thread sees the same ranges: ioeventfds are rebuilt there over the
 * same shared eventfd counters; every other device stays on the thread that owns the VM and the
 * worker's accesses are forwarded to it (`Vm.callOwner`), as ioctls from workers already are.
 * @module
 */
import { KvmError } from '../sys/error.js';
import type { Vcpu } from './vcpu.js';

/** enum kvm_bus. */
export const KVM_BUS = { MMIO: 0, PIO: 1, VIRTIO_CCW_NOTIFY: 2, FAST_MMIO: 3 } as const;
export type BusIndex = (typeof KVM_BUS)[keyof typeof KVM_BUS];
/** KVM_NR_BUSES */
export const KVM_NR_BUSES = 4;

/** NR_IOBUS_DEVS: devices per bus, not counting ioeventfds. */
export const NR_IOBUS_DEVS = 1000;

/**
 * An in-kernel device on a bus (struct kvm_io_device + kvm_io_device_ops). `data` holds the
 * access's `len` bytes, little-endian: a write's value, or where a read puts its result. Returning
 * false passes the access on (-EOPNOTSUPP): to the next device claiming the address, else to
 * userspace as an exit.
 */
export interface IoDevice {
  read?(vcpu: Vcpu, addr: number, len: number, data: Uint8Array): boolean;
  write?(vcpu: Vcpu, addr: number, len: number, data: Uint8Array): boolean;
  /** kvm_iodevice_destructor: the device was unregistered or the VM destroyed. */
  destructor?(): void;
  /**
   * What a vCPU on another thread needs to rebuild this device there (structured-cloneable); absent:
   * that vCPU's accesses are forwarded to the owner thread. Only ioeventfds have one.
   */
  share?(): SharedIoDevice;
}

/** A device a worker thread can rebuild (see `IoDevice.share`). */
export interface SharedIoDevice {
  readonly kind: 'ioeventfd';
  readonly data: unknown;
}

interface Range {
  readonly addr: number;
  readonly len: number;
  readonly dev: IoDevice;
  /** Not counted towards NR_IOBUS_DEVS (ioeventfds). */
  readonly ioeventfd: boolean;
}

/** One range as a worker thread mirrors it. */
export interface RangeView {
  readonly addr: number;
  readonly len: number;
  readonly ioeventfd: boolean;
  /** IoDevice.share(), or null: forward to the owner. */
  readonly share: SharedIoDevice | null;
}

/** kvm_io_bus_cmp: where range `a` (an access, or a range being inserted) sorts against `b`. */
function cmp(aAddr: number, aLen: number, bAddr: number, bLen: number): number {
  if (aAddr < bAddr) return -1;
  // b.len 0 claims its address only; otherwise the access must lie inside b.
  if (bLen !== 0 ? aAddr + aLen > bAddr + bLen : aAddr > bAddr) return 1;
  return 0;
}

/** One bus: ranges sorted as the kernel sorts them. */
export class IoBus {
  private ranges: Range[] = [];
  private ioeventfds = 0;
  /** Lowest and highest address any range covers: a quick miss for most accesses. */
  private lo = Infinity;
  private hi = -Infinity;
  /** Scratch for the typed-number entry points. */
  readonly scratch = new Uint8Array(8);
  readonly scratchDv = new DataView(this.scratch.buffer);

  /** True when no device is registered (the exit points test this first). */
  get empty(): boolean {
    return this.ranges.length === 0;
  }

  /** kvm_io_bus_register_dev: ENOSPC past NR_IOBUS_DEVS devices (ioeventfds aside). */
  register(addr: number, len: number, dev: IoDevice, ioeventfd = false): void {
    if (this.ranges.length - this.ioeventfds > NR_IOBUS_DEVS - 1 && !ioeventfd) throw KvmError.of('ENOSPC', 'ioctl');
    let i = 0;
    while (i < this.ranges.length && cmp(this.ranges[i]!.addr, this.ranges[i]!.len, addr, len) <= 0) i++;
    this.ranges.splice(i, 0, { addr, len, dev, ioeventfd });
    if (ioeventfd) this.ioeventfds++;
    this.bounds();
  }

  /** kvm_io_bus_unregister_dev: true when `dev` was there. */
  unregister(dev: IoDevice): boolean {
    const i = this.ranges.findIndex((r) => r.dev === dev);
    if (i < 0) return false;
    if (this.ranges[i]!.ioeventfd) this.ioeventfds--;
    this.ranges.splice(i, 1);
    this.bounds();
    dev.destructor?.();
    return true;
  }

  /** kvm_io_bus_write: true when a device took the write of `data[0..len)` at `addr`. */
  write(vcpu: Vcpu, addr: number, len: number, data: Uint8Array): boolean {
    if (addr < this.lo || addr > this.hi) return false;
    for (const r of this.ranges) {
      if (r.addr > addr) break;
      if (cmp(addr, len, r.addr, r.len) === 0 && r.dev.write?.(vcpu, addr, len, data)) return true;
    }
    return false;
  }

  /** kvm_io_bus_read: true when a device answered; the value is in `data[0..len)`. */
  read(vcpu: Vcpu, addr: number, len: number, data: Uint8Array): boolean {
    if (addr < this.lo || addr > this.hi) return false;
    for (const r of this.ranges) {
      if (r.addr > addr) break;
      if (cmp(addr, len, r.addr, r.len) === 0 && r.dev.read?.(vcpu, addr, len, data)) return true;
    }
    return false;
  }

  /** A write of the value `lo | hi << 32` (the exit points' register form): no allocation. */
  writeValue(vcpu: Vcpu, addr: number, len: number, lo: number, hi: number): boolean {
    if (addr < this.lo || addr > this.hi) return false;
    const dv = this.scratchDv;
    dv.setInt32(0, lo, true);
    dv.setInt32(4, hi, true);
    return this.write(vcpu, addr, len, this.scratch);
  }

  /** A read into `scratch` (the exit points then take `scratchDv`): no allocation. */
  readValue(vcpu: Vcpu, addr: number, len: number): boolean {
    if (addr < this.lo || addr > this.hi) return false;
    this.scratch.fill(0);
    return this.read(vcpu, addr, len, this.scratch);
  }

  /** Unregisters every device (VM destruction: kvm_io_bus_destroy). */
  destroy(): void {
    const all = this.ranges;
    this.ranges = [];
    this.ioeventfds = 0;
    this.bounds();
    for (const r of all) r.dev.destructor?.();
  }

  /** Drops every range without calling destructors (a worker's mirror rebuilding its view). */
  clear(): void {
    this.ranges = [];
    this.ioeventfds = 0;
    this.bounds();
  }

  /** The ranges as a worker thread mirrors them. */
  view(): RangeView[] {
    return this.ranges.map((r) => ({ addr: r.addr, len: r.len, ioeventfd: r.ioeventfd, share: r.dev.share?.() ?? null }));
  }

  private bounds(): void {
    let lo = Infinity;
    let hi = -Infinity;
    for (const r of this.ranges) {
      lo = Math.min(lo, r.addr);
      hi = Math.max(hi, r.addr + Math.max(r.len, 1) - 1);
    }
    this.lo = lo;
    this.hi = hi;
  }
}
