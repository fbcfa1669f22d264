/**
 * KVM_IOEVENTFD (virt/kvm/eventfd.c kvm_ioeventfd): a guest PIO or MMIO write to an address
 * (optionally with a given value) signals an eventfd and completes inside KVM_RUN, without an exit.
 * Each ioeventfd is an `IoDevice` on the VM's PIO or MMIO bus; vCPUs on worker threads rebuild it
 * over the same shared counter, so their writes signal it with no message to the owner thread.
 * @module
 */
import { KvmError } from '../sys/error.js';
import { KVM_IOEVENTFD_FLAG } from '../uapi/constants.js';
import { EventFdCtx } from './eventfd.js';
import { KVM_BUS, type BusIndex, type IoDevice, type SharedIoDevice } from './iobus.js';
import type { Vm } from './vm.js';

/** KVM_IOEVENTFD_VALID_FLAG_MASK: the four flags the uapi defines. */
const VALID_FLAGS = KVM_IOEVENTFD_FLAG.DATAMATCH | KVM_IOEVENTFD_FLAG.PIO | KVM_IOEVENTFD_FLAG.DEASSIGN | KVM_IOEVENTFD_FLAG.VIRTIO_CCW_NOTIFY;
const U64 = (1n << 64n) - 1n;

/** struct kvm_ioeventfd, decoded. */
export interface IoeventfdArgs {
  readonly datamatch: bigint;
  readonly addr: bigint;
  readonly len: number;
  readonly fd: number;
  readonly flags: number;
}

/** What a worker needs to rebuild an ioeventfd (SharedIoDevice.data). */
interface IoeventfdShare {
  readonly shared: SharedArrayBuffer;
  readonly semaphore: boolean;
  readonly addr: number;
  readonly length: number;
  readonly wildcard: boolean;
  readonly matchLo: number;
  readonly matchHi: number;
}

/** struct _ioeventfd: one registration, a device on one bus. */
export class Ioeventfd implements IoDevice {
  /** The address as a number (NaN when above 2^53: no guest access can reach it). */
  private readonly at: number;
  /** datamatch as two u32 halves (compared without BigInt on the hot path). */
  private readonly matchLo: number;
  private readonly matchHi: number;

  constructor(
    readonly bus: BusIndex,
    readonly addr: bigint,
    /** 0: any access length (KVM_CAP_IOEVENTFD_ANY_LENGTH). */
    readonly length: number,
    readonly ctx: EventFdCtx,
    readonly wildcard: boolean,
    readonly datamatch: bigint,
  ) {
    this.at = addr <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(addr) : NaN;
    this.matchLo = Number(datamatch & 0xffffffffn);
    this.matchHi = Number((datamatch >> 32n) & 0xffffffffn);
  }

  /** The bus address as a number (NaN: unreachable). */
  get address(): number {
    return this.at;
  }

  /** ioeventfd_in_range */
  private inRange(addr: number, len: number, data: Uint8Array): boolean {
    if (addr !== this.at) return false;
    if (this.length === 0) return true;
    if (len !== this.length) return false;
    if (this.wildcard) return true;
    const dv = new DataView(data.buffer, data.byteOffset, 8);
    switch (len) {
      case 1:
        return this.matchHi === 0 && dv.getUint8(0) === this.matchLo;
      case 2:
        return this.matchHi === 0 && dv.getUint16(0, true) === this.matchLo;
      case 4:
        return this.matchHi === 0 && dv.getUint32(0, true) === this.matchLo;
      case 8:
        return dv.getUint32(0, true) === this.matchLo && dv.getUint32(4, true) === this.matchHi;
      default:
        return false;
    }
  }

  /** ioeventfd_write: a hit signals the eventfd and completes the write. */
  write(_vcpu: unknown, addr: number, len: number, data: Uint8Array): boolean {
    if (!this.inRange(addr, len, data)) return false;
    this.ctx.signal();
    return true;
  }

  share(): SharedIoDevice {
    const data: IoeventfdShare = { shared: this.ctx.shared, semaphore: this.ctx.semaphore, addr: this.at, length: this.length, wildcard: this.wildcard, matchLo: this.matchLo, matchHi: this.matchHi };
    return { kind: 'ioeventfd', data };
  }

  /** A worker thread's copy of a shared ioeventfd. */
  static fromShare(bus: BusIndex, share: SharedIoDevice): Ioeventfd {
    const d = share.data as IoeventfdShare;
    const datamatch = (BigInt(d.matchHi >>> 0) << 32n) | BigInt(d.matchLo >>> 0);
    return new Ioeventfd(bus, BigInt(d.addr), d.length, EventFdCtx.attach(d.shared, d.semaphore), d.wildcard, datamatch);
  }
}

/** ioeventfd_bus_from_flags */
function busFromFlags(flags: number): BusIndex {
  if (flags & KVM_IOEVENTFD_FLAG.PIO) return KVM_BUS.PIO;
  if (flags & KVM_IOEVENTFD_FLAG.VIRTIO_CCW_NOTIFY) return KVM_BUS.VIRTIO_CCW_NOTIFY;
  return KVM_BUS.MMIO;
}

/** kvm->ioeventfds: every registration of a VM, across its buses. */
export class Ioeventfds {
  private readonly list: Ioeventfd[] = [];

  constructor(private readonly vm: Vm) {}

  /** kvm_ioeventfd */
  ioctl(args: IoeventfdArgs): number {
    if (args.flags & KVM_IOEVENTFD_FLAG.DEASSIGN) return this.deassign(args);
    return this.assign(args);
  }

  /** kvm_assign_ioeventfd */
  private assign(args: IoeventfdArgs): number {
    const bus = busFromFlags(args.flags);
    // must be natural-word sized, or 0 to ignore length
    if (![0, 1, 2, 4, 8].includes(args.len)) throw einval('ioeventfd length must be 0, 1, 2, 4 or 8');
    if (args.addr + BigInt(args.len) > U64) throw einval('ioeventfd range wraps');
    if (args.flags & ~VALID_FLAGS) throw einval('unknown ioeventfd flags');
    if (args.len === 0 && args.flags & KVM_IOEVENTFD_FLAG.DATAMATCH) throw einval('a length-0 ioeventfd cannot match data');
    this.assignIdx(bus, args);
    // Length 0 on MMIO also goes on the fast-MMIO bus (the kernel's quick path for VMX EPT
    // misconfigurations); kept for the registration bookkeeping, never consulted here.
    if (args.len === 0 && bus === KVM_BUS.MMIO) {
      try {
        this.assignIdx(KVM_BUS.FAST_MMIO, args);
      } catch (e) {
        this.deassignIdx(bus, args);
        throw e;
      }
    }
    return 0;
  }

  /** kvm_assign_ioeventfd_idx */
  private assignIdx(bus: BusIndex, args: IoeventfdArgs): void {
    const ctx = this.vm.kernel.eventfdCtx(args.fd);
    const wildcard = (args.flags & KVM_IOEVENTFD_FLAG.DATAMATCH) === 0;
    const p = new Ioeventfd(bus, args.addr, args.len, ctx, wildcard, wildcard ? 0n : args.datamatch);
    if (this.collides(p)) throw KvmError.of('EEXIST', 'ioctl', { message: 'an ioeventfd already claims this address (and value)' });
    // An address no guest access can reach is registered but never put on a bus.
    if (p.address === p.address) this.vm.buses[bus]!.register(p.address, p.length, p, true);
    this.list.push(p);
    this.vm.bumpView();
  }

  /** ioeventfd_check_collision */
  private collides(p: Ioeventfd): boolean {
    return this.list.some((q) => q.bus === p.bus && q.addr === p.addr && (!q.length || !p.length || (q.length === p.length && (q.wildcard || p.wildcard || q.datamatch === p.datamatch))));
  }

  /** kvm_deassign_ioeventfd */
  private deassign(args: IoeventfdArgs): number {
    const bus = busFromFlags(args.flags);
    const r = this.deassignIdx(bus, args);
    if (!args.len && bus === KVM_BUS.MMIO) {
      try {
        this.deassignIdx(KVM_BUS.FAST_MMIO, args);
      } catch {
        /* the kernel ignores this one's result */
      }
    }
    return r;
  }

  /** kvm_deassign_ioeventfd_idx: ENOENT when nothing matches. */
  private deassignIdx(bus: BusIndex, args: IoeventfdArgs): number {
    const ctx = this.vm.kernel.eventfdCtx(args.fd);
    const wildcard = (args.flags & KVM_IOEVENTFD_FLAG.DATAMATCH) === 0;
    const i = this.list.findIndex(
      (p) => p.bus === bus && p.ctx.shared === ctx.shared && p.addr === args.addr && p.length === args.len && p.wildcard === wildcard && (p.wildcard || p.datamatch === args.datamatch),
    );
    if (i < 0) throw KvmError.of('ENOENT', 'ioctl', { message: 'no such ioeventfd' });
    const p = this.list[i]!;
    this.list.splice(i, 1);
    this.vm.buses[bus]!.unregister(p);
    this.vm.bumpView();
    return 0;
  }

  /** The registrations (tests, introspection). */
  all(): readonly Ioeventfd[] {
    return this.list;
  }
}

function einval(message: string): KvmError {
  return KvmError.of('EINVAL', 'ioctl', { message });
}
