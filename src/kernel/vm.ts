/**
 * A VM file (kvm_vm_ioctl): memslots and dirty logging, vCPU creation, capabilities, guest_memfd
 * and memory attributes. Arch-specific ioctls go to the arch backend.
 * @module
 */
import { KvmError } from '../sys/error.js';
import { KVM_CAP, KVM_CLOCK, KVM_CREATE_DEVICE_FLAG, KVM_DIRTY_LOG, KVM_MEM, KVM_MEMORY_ATTRIBUTE } from '../uapi/constants.js';
import type { IoctlName } from '../uapi/index.js';
import { genericStructs as S, KVM_MAX_IRQ_ROUTES } from '../uapi/kvm.js';
import { NOT_HANDLED, type ArchBackend } from './arch.js';
import { KvmDevice } from './device.js';
import { GuestMemfd } from './gmem.js';
import { IoBus, KVM_NR_BUSES } from './iobus.js';
import { Ioeventfds } from './ioeventfd.js';
import { routedIrqLine, routingEntryFrom, sendUserspaceMsi, VmIrq } from './irq.js';
import { Irqfds } from './irqfd.js';
import type { ForwardedIo } from './smp.js';
import { CLOCK_BASE, CLOCK_BYTES, HOST_TSC_KHZ, VmClock, VmTimers } from './timer.js';
import { PAGE_SHIFT, PAGE_SIZE } from './hva.js';
import type { Kernel } from './kernel.js';
import { MemslotSet, setMemoryRegion, type Memslot, type MemslotChange, type RegionRequest } from './memslots.js';
import { RangeMap } from './ranges.js';
import type { UserArg } from './uarg.js';
import { Vcpu } from './vcpu.js';

/** A resolved guest page: `bytes[offset .. offset + 4096)` backs the gfn. */
export interface GuestPage {
  readonly bytes: Uint8Array;
  readonly offset: number;
  readonly slot: Memslot;
  /** Page index within the slot. */
  readonly rel: number;
}

/** Bytes of a VM's shared words: mmuGen at 0, viewGen at 4, the atomic lock at 64, the clock at 128. */
const VM_SHARED_BYTES = CLOCK_BASE + CLOCK_BYTES;

export class Vm {
  readonly arch: ArchBackend;
  /** The arch's per-VM state (kvm->arch). */
  readonly archState: unknown;
  /** Memslots per address space. */
  readonly slots: MemslotSet[];
  readonly vcpus = new Map<number, Vcpu>();
  createdVcpus = 0;
  /** kvm->max_vcpus: KVM_MAX_VCPUS unless the arch lowers it (arm64: 8 with a GICv2). */
  maxVcpus: number;
  /** KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 args[0]. */
  manualDirtyLogProtect = 0n;
  /** Per-gfn memory attributes (KVM_SET_MEMORY_ATTRIBUTES). */
  readonly memAttrs = new RangeMap();
  /** Called after every memslot change (arch MMU, introspection). */
  readonly memslotListeners: ((change: MemslotChange) => void)[] = [];
  /** Called after memory attributes change on [startGfn, endGfn). */
  readonly attrListeners: ((startGfn: number, endGfn: number, attrs: number) => void)[] = [];
  /** Called when a guest_memfd of this VM is released, before its pages go (kvm_gmem_invalidate_begin). */
  readonly gmemReleaseListeners: ((gmem: GuestMemfd) => void)[] = [];
  /**
   * MMU generation, bumped whenever a cached gpa->host translation may have become wrong (memslot
   * change, dirty-log harvest that must re-arm write tracking, memory attribute change). Arch TLBs
   * compare it; shared so worker-thread vCPUs see it too.
   */
  readonly mmuGen: Int32Array;
  /**
   * Bumped whenever what a vCPU on another thread mirrors of this VM changes (memslots, VM
   * capabilities, arch VM state): attached vCPUs refresh their view at the next KVM_RUN
   * (src/kernel/smp.ts).
   */
  readonly viewGen: Int32Array;
  /**
   * The VM's lock for locked guest accesses that no single host atomic can do (split or
   * unaligned x86 LOCK, 16-byte compare-and-swap): holder word and acquisition count, see
   * src/kernel/atomics.ts.
   */
  readonly atomicLock: Int32Array;
  /** The SharedArrayBuffer holding mmuGen, viewGen, atomicLock and the clock (shared with worker threads). */
  readonly sharedWords: SharedArrayBuffer;
  /** The VM clock every guest counter derives from (src/kernel/timer.ts). */
  readonly clock: VmClock;
  /** VM-wide device deadlines, serviced on the owner thread. */
  readonly timers: VmTimers;
  /** kvm->buses, by enum kvm_bus (KVM_BUS): the in-kernel devices' address ranges (src/kernel/iobus.ts). */
  readonly buses: IoBus[];
  /** kvm->ioeventfds (KVM_IOEVENTFD). */
  readonly ioeventfds: Ioeventfds;
  /** GSI routing and ack notifiers (src/kernel/irq.ts). */
  readonly irq: VmIrq;
  /** kvm->irqfds (KVM_IRQFD). */
  readonly irqfds: Irqfds;
  /**
   * Operations of VM-wide device models that must run on the thread owning the VM, by name
   * (`callOwner`): a device registers them when it is created, e.g. an irqchip's EOI handling.
   */
  readonly ownerOps = new Map<string, (payload: unknown, vcpu: Vcpu | null) => unknown>();
  /** Open files referring to this VM (the VM fd, vCPU fds, guest_memfds). */
  private refs = 1;
  /** Destroyed: the last file referring to it was closed. */
  dead = false;
  /** kvm_vm_dead(): every later ioctl of the VM and of its vCPUs fails with EIO (kvm_vm_ioctl, kvm_vcpu_ioctl). */
  vmDead = false;

  constructor(
    readonly kernel: Kernel,
    readonly type: number,
    /** A worker thread's mirror of a VM passes the owner's shared words (src/kernel/smp.ts). */
    shared?: SharedArrayBuffer,
  ) {
    this.sharedWords = shared ?? new SharedArrayBuffer(VM_SHARED_BYTES);
    this.mmuGen = new Int32Array(this.sharedWords, 0, 1);
    this.viewGen = new Int32Array(this.sharedWords, 4, 1);
    // On its own cache line: contended by every thread doing a locked split access.
    this.atomicLock = new Int32Array(this.sharedWords, 64, 2);
    this.clock = new VmClock(this.sharedWords, shared ? undefined : kernel.clock);
    this.timers = new VmTimers(this.clock);
    this.buses = Array.from({ length: KVM_NR_BUSES }, () => new IoBus());
    this.arch = kernel.arch;
    this.maxVcpus = this.arch.maxVcpus;
    this.irq = new VmIrq(this);
    this.irqfds = new Irqfds(this);
    this.ioeventfds = new Ioeventfds(this);
    // A vCPU on a worker thread reaching a device of the owner's buses (src/kernel/smp.ts).
    this.ownerOps.set('iobus', (p, vcpu) => {
      const io = p as ForwardedIo;
      const data = new Uint8Array(8);
      data.set(io.data.subarray(0, Math.min(8, io.len)));
      const bus = this.buses[io.bus]!;
      const handled = vcpu !== null && (io.write ? bus.write(vcpu, io.addr, io.len, data) : bus.read(vcpu, io.addr, io.len, data));
      return { handled, data };
    });
    this.archState = this.arch.initVm(this, type);
    this.slots = Array.from({ length: this.arch.addressSpaces(this) }, () => new MemslotSet());
    kernel.vms.add(this);
  }

  /** True when a memslot of this VM is backed by host memory in [hva, hva + length). */
  maps(hva: number, length: number): boolean {
    for (const set of this.slots) if (set.mapsHva(hva, length)) return true;
    return false;
  }

  private req(name: IoctlName): number {
    return this.kernel.req(name);
  }

  /** A file referring to this VM was opened (a device fd: kvm_get_kvm). */
  fileOpened(): void {
    this.refs++;
  }

  /** kvm_gmem_release: the last fd of `gmem` closed. Mappings of its pages are zapped, then the file lets go of them and of its VM reference. */
  gmemReleased(gmem: GuestMemfd): void {
    for (const l of this.gmemReleaseListeners) l(gmem);
    gmem.release();
    this.bumpMmu(); // cached translations may point into the file's pages
    this.bumpView();
    this.fileClosed();
  }

  fileClosed(): void {
    if (--this.refs === 0) {
      this.dead = true;
      this.kernel.vms.delete(this);
      this.irqfds.releaseAll();
      for (const b of this.buses) b.destroy();
      this.timers.stop();
      this.arch.destroyVm?.(this);
    }
  }

  /**
   * Runs the VM-wide device operation `op` on the thread that owns the VM: directly there, and
   * from a vCPU on a worker thread by forwarding it (the worker waits for the owner's event loop,
   * as its forwarded ioctls do). `payload` and the result must be structured-cloneable.
   */
  callOwner(op: string, payload: unknown, vcpu: Vcpu | null = null): unknown {
    if (this.kernel.forward) return this.kernel.forward(op, payload, vcpu?.id ?? -1);
    const f = this.ownerOps.get(op);
    if (!f) throw new Error(`no owner operation ${op}`);
    return f(payload, vcpu);
  }

  ioctl(request: number, arg: UserArg): number {
    const nr = this.kernel.nr;
    if (this.vmDead) throw KvmError.of('EIO', 'ioctl', { request, fd: arg.fd, message: 'the VM is dead (kvm_vm_dead)' });
    switch (request) {
      case nr.KVM_CREATE_VCPU:
        return this.createVcpu(arg.int);
      case nr.KVM_ENABLE_CAP: {
        const r = this.enableCap(arg);
        this.bumpView();
        return r;
      }
      case nr.KVM_SET_USER_MEMORY_REGION:
      case nr.KVM_SET_USER_MEMORY_REGION2:
        return this.setUserMemoryRegion(request === nr.KVM_SET_USER_MEMORY_REGION2, arg);
      case nr.KVM_GET_DIRTY_LOG:
        return this.getDirtyLog(arg);
      case nr.KVM_CLEAR_DIRTY_LOG:
        return this.clearDirtyLog(arg);
      case nr.KVM_CHECK_EXTENSION:
        return this.kernel.checkExtension(arg.int, this);
      case nr.KVM_CREATE_GUEST_MEMFD:
        return this.createGuestMemfd(arg);
      case nr.KVM_SET_MEMORY_ATTRIBUTES:
        if (this.arch.hasPrivateMem(this)) return this.setMemoryAttributes(arg);
        break;
      case nr.KVM_IOEVENTFD:
        return this.ioeventfds.ioctl(S.kvm_ioeventfd.decode(arg.bytes(S.kvm_ioeventfd.size)));
      case nr.KVM_IRQFD:
        return this.irqfds.ioctl(S.kvm_irqfd.decode(arg.bytes(S.kvm_irqfd.size)));
      case nr.KVM_IRQ_LINE:
      case nr.KVM_IRQ_LINE_STATUS:
        return this.irqLine(request === nr.KVM_IRQ_LINE_STATUS, arg);
      case nr.KVM_SIGNAL_MSI: {
        const m = S.kvm_msi.decode(arg.bytes(S.kvm_msi.size));
        return sendUserspaceMsi(this, { addressLo: m.address_lo, addressHi: m.address_hi, data: m.data, flags: m.flags, devid: m.devid });
      }
      case nr.KVM_SET_GSI_ROUTING:
        return this.setGsiRouting(arg);
      case nr.KVM_CREATE_IRQCHIP:
        if (!this.arch.createIrqchip) break;
        this.arch.createIrqchip(this);
        this.bumpView();
        return 0;
      case nr.KVM_CREATE_DEVICE:
        return this.createDevice(arg);
      case nr.KVM_GET_CLOCK:
        return this.getClock(arg);
      case nr.KVM_SET_CLOCK:
        return this.setClock(arg);
      default: {
        const r = this.arch.vmIoctl?.(this, request, arg) ?? NOT_HANDLED;
        if (r !== NOT_HANDLED) {
          this.bumpView(); // it may have changed arch VM state (an MSR filter...)
          return r;
        }
      }
    }
    throw KvmError.of(this.arch.unknownVmIoctlErrno, 'ioctl', { request, fd: arg.fd });
  }

  private einval(arg: UserArg, message?: string): KvmError {
    return KvmError.of('EINVAL', 'ioctl', { request: arg.request, fd: arg.fd, ...(message ? { message } : {}) });
  }

  /** kvm_vm_ioctl_create_vcpu */
  private createVcpu(id: bigint): number {
    if (id >= BigInt(this.arch.maxVcpuIds)) throw KvmError.of('EINVAL', 'ioctl', { request: this.req('KVM_CREATE_VCPU'), message: `vcpu id ${id} >= KVM_MAX_VCPU_IDS` });
    if (this.createdVcpus >= this.maxVcpus) throw KvmError.of('EINVAL', 'ioctl', { request: this.req('KVM_CREATE_VCPU'), message: 'KVM_MAX_VCPUS reached' });
    const n = Number(id);
    this.arch.precreateVcpu?.(this, n);
    if (this.vcpus.has(n)) throw KvmError.of('EEXIST', 'ioctl', { request: this.req('KVM_CREATE_VCPU') });
    const vcpu = new Vcpu(this, n, this.vcpus.size);
    this.createdVcpus++;
    this.vcpus.set(n, vcpu);
    this.refs++;
    return this.kernel.install({ kind: 'vcpu', vcpu });
  }

  /** KVM_IRQ_LINE / KVM_IRQ_LINE_STATUS: the arch's kvm_vm_ioctl_irq_line; the status goes back for _STATUS. */
  private irqLine(status: boolean, arg: UserArg): number {
    const b = arg.bytes(S.kvm_irq_level.size);
    const ev = S.kvm_irq_level.decode(b);
    const r = this.arch.irqLine ? this.arch.irqLine(this, ev.irq, ev.level, status) : routedIrqLine(this, ev.irq, ev.level, status);
    if (status) S.kvm_irq_level.encodeInto({ status: r }, b);
    return 0;
  }

  /** KVM_SET_GSI_ROUTING (kvm_vm_ioctl): the preconditions, then kvm_set_irq_routing. */
  private setGsiRouting(arg: UserArg): number {
    const hdr = S.kvm_irq_routing.decode(arg.bytes(S.kvm_irq_routing.size));
    const a = this.arch;
    if (!(a.canSetIrqRouting?.(this) ?? a.irqchipInKernel?.(this) ?? false)) throw this.einval(arg, 'no in-kernel irqchip');
    if (hdr.nr > KVM_MAX_IRQ_ROUTES) throw this.einval(arg, 'more than KVM_MAX_IRQ_ROUTES entries');
    if (hdr.flags) throw this.einval(arg, 'flags must be 0');
    const E = S.kvm_irq_routing_entry;
    const raw = hdr.nr ? arg.slice(S.kvm_irq_routing.size, hdr.nr * E.size) : new Uint8Array(0);
    const entries = Array.from({ length: hdr.nr }, (_, i) => routingEntryFrom(E.decode(raw, i * E.size)));
    this.irq.setRouting(entries);
    return 0;
  }

  /** kvm_ioctl_create_device */
  private createDevice(arg: UserArg): number {
    const b = arg.bytes(S.kvm_create_device.size);
    const cd = S.kvm_create_device.decode(b);
    const ops = this.arch.deviceOps?.(cd.type);
    if (!ops) throw KvmError.of('ENODEV', 'ioctl', { request: arg.request, fd: arg.fd, message: `no device type ${cd.type}` });
    if (cd.flags & KVM_CREATE_DEVICE_FLAG.TEST) return 0;
    const dev = new KvmDevice(ops, this, cd.type);
    ops.create(dev, cd.type);
    ops.init?.(dev);
    this.fileOpened();
    const fd = this.kernel.install({ kind: 'device', dev, vm: this });
    S.kvm_create_device.encodeInto({ fd }, b);
    this.bumpView();
    return 0;
  }

  /** KVM_GET_CLOCK (x86 kvm_vm_ioctl_get_clock): kvmclock with the host TSC and wall clock read at the same instant. */
  private getClock(arg: UserArg): number {
    const out = arg.bytes(S.kvm_clock_data.size);
    const c = this.clock;
    const flags = c.clockFlags;
    const ns = c.now();
    out.set(
      S.kvm_clock_data.encode({
        clock: BigInt(Math.round(ns + c.kvmclockOffset)),
        flags,
        realtime: flags & KVM_CLOCK.REALTIME ? BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6)) : 0n,
        host_tsc: BigInt(Math.floor((ns * HOST_TSC_KHZ) / 1e6)),
      }),
    );
    return 0;
  }

  /** KVM_SET_CLOCK (x86 kvm_vm_ioctl_set_clock): EINVAL for unknown flags; KVM_CLOCK_REALTIME adds the wall time passed since. */
  private setClock(arg: UserArg): number {
    const d = S.kvm_clock_data.decode(arg.bytes(S.kvm_clock_data.size));
    if (d.flags & ~(KVM_CLOCK.TSC_STABLE | KVM_CLOCK.REALTIME | KVM_CLOCK.HOST_TSC)) throw this.einval(arg, 'unknown kvm_clock_data flags');
    let clock = BigInt.asIntN(64, d.clock);
    if (d.flags & KVM_CLOCK.REALTIME) {
      const nowReal = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
      if (nowReal > d.realtime) clock += nowReal - d.realtime;
    }
    this.clock.setKvmclock(Number(clock));
    this.bumpView();
    return 0;
  }

  /** kvm_vm_ioctl_enable_cap_generic, then the arch's kvm_vm_ioctl_enable_cap. */
  private enableCap(arg: UserArg): number {
    const cap = S.kvm_enable_cap.decode(arg.bytes(S.kvm_enable_cap.size));
    if (cap.cap === KVM_CAP.MANUAL_DIRTY_LOG_PROTECT2) {
      const a0 = cap.args[0]!;
      const all = BigInt(KVM_DIRTY_LOG.MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG.INITIALLY_SET);
      const allowed = a0 & BigInt(KVM_DIRTY_LOG.MANUAL_PROTECT_ENABLE) ? all : BigInt(KVM_DIRTY_LOG.MANUAL_PROTECT_ENABLE);
      if (cap.flags || a0 & ~allowed) throw this.einval(arg);
      this.manualDirtyLogProtect = a0;
      return 0;
    }
    return this.arch.enableCapVm(this, cap.cap, cap.flags, cap.args);
  }

  private setUserMemoryRegion(v2: boolean, arg: UserArg): number {
    const size = v2 ? S.kvm_userspace_memory_region2.size : S.kvm_userspace_memory_region.size;
    const bytes = arg.bytes(size);
    const m = v2 ? S.kvm_userspace_memory_region2.decode(bytes) : { ...S.kvm_userspace_memory_region.decode(bytes), guest_memfd_offset: 0n, guest_memfd: 0 };
    if (!v2 && m.flags & ~(KVM_MEM.LOG_DIRTY_PAGES | KVM_MEM.READONLY)) throw this.einval(arg, 'flag not valid for KVM_SET_USER_MEMORY_REGION');
    const req: RegionRequest = {
      slot: m.slot,
      flags: m.flags,
      guestPhysAddr: m.guest_phys_addr,
      memorySize: m.memory_size,
      userspaceAddr: m.userspace_addr,
      guestMemfdOffset: m.guest_memfd_offset,
      guestMemfd: m.guest_memfd,
    };
    if ((req.slot & 0xffff) >= this.arch.userMemSlots) throw this.einval(arg, 'slot >= KVM_USER_MEM_SLOTS');
    if (req.flags & KVM_MEM.GUEST_MEMFD && this.kernel.smp?.has(this)) {
      throw KvmError.of('EOPNOTSUPP', 'ioctl', { request: arg.request, fd: arg.fd, message: 'guest_memfd memslots cannot be used by vCPUs on other threads (hand them back first)' });
    }
    const change = setMemoryRegion(this.slots, this.kernel.space, {
      userMemSlots: this.arch.userMemSlots,
      addressSpaces: this.slots.length,
      supportsGmem: this.arch.hasPrivateMem(this) || this.kernel.gmemFlags(this) !== 0n,
      hasReadonlyMem: this.arch.hasReadonlyMem(this),
      dirtyInitiallySet: this.manualDirtyLogProtect === BigInt(KVM_DIRTY_LOG.MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG.INITIALLY_SET),
      gmem: (fd) => this.gmemFile(fd),
      prepare: (kind, baseGfn, npages, flags) => this.arch.prepareMemoryRegion?.(this, kind, baseGfn, npages, flags),
    }, req);
    if (change) {
      this.bumpView();
      this.flushRemoteTlbs();
      for (const l of this.memslotListeners) l(change);
    }
    return 0;
  }

  private gmemFile(fd: number): GuestMemfd {
    const f = this.kernel.file(fd);
    // fget: fds 0-2 are open (stdio), just no guest_memfd (kvm_gmem_bind: EINVAL).
    if (!f && !(Number.isInteger(fd) && fd >= 0 && fd < 3)) throw KvmError.of('EBADF', 'ioctl');
    if (!f || f.kind !== 'guest_memfd' || f.vm !== this) throw KvmError.of('EINVAL', 'ioctl', { message: 'not a guest_memfd of this VM' });
    return f.gmem;
  }

  /** The slot of `slot` (as_id << 16 | id) as the dirty-log ioctls validate it. */
  private logSlot(arg: UserArg, slotId: number): Memslot {
    const asId = slotId >>> 16;
    const id = slotId & 0xffff;
    if (asId >= this.slots.length || id >= this.arch.userMemSlots) throw this.einval(arg);
    const slot = this.slots[asId]!.byId.get(id);
    if (!slot || !slot.dirty) throw KvmError.of('ENOENT', 'ioctl', { request: arg.request, fd: arg.fd });
    return slot;
  }

  /** kvm_get_dirty_log_protect */
  private getDirtyLog(arg: UserArg): number {
    const log = S.kvm_dirty_log.decode(arg.bytes(S.kvm_dirty_log.size));
    const slot = this.logSlot(arg, log.slot);
    const dirty = slot.dirty!;
    const out = this.kernel.space.user(log.dirty_bitmap, dirty.length * 4);
    const words = new Uint32Array(dirty.length);
    if (!(this.manualDirtyLogProtect & BigInt(KVM_DIRTY_LOG.MANUAL_PROTECT_ENABLE))) {
      // Word by word atomically: a vCPU on another thread may be marking pages meanwhile.
      for (let w = 0; w < dirty.length; w++) words[w] = Atomics.exchange(dirty, w, 0);
      // Re-arm write tracking before returning, as the kernel write-protects harvested pages:
      // from here on, every write of every vCPU marks its page again.
      this.flushRemoteTlbs();
    } else {
      for (let w = 0; w < dirty.length; w++) words[w] = Atomics.load(dirty, w);
    }
    out.set(new Uint8Array(words.buffer));
    return 0;
  }

  /** kvm_clear_dirty_log_protect */
  private clearDirtyLog(arg: UserArg): number {
    const log = S.kvm_clear_dirty_log.decode(arg.bytes(S.kvm_clear_dirty_log.size));
    const asId = log.slot >>> 16;
    const id = log.slot & 0xffff;
    if (asId >= this.slots.length || id >= this.arch.userMemSlots) throw this.einval(arg);
    if (log.first_page & 63n) throw this.einval(arg, 'first_page must be a multiple of 64');
    const slot = this.slots[asId]!.byId.get(id);
    if (!slot || !slot.dirty) throw KvmError.of('ENOENT', 'ioctl', { request: arg.request, fd: arg.fd });
    const np = BigInt(slot.npages);
    const first = log.first_page;
    const num = BigInt(log.num_pages);
    if (first > np || num > np - first || (num < np - first && num & 63n)) throw this.einval(arg);
    const n = Number((num + 63n) / 64n) * 8;
    const mask = this.kernel.space.user(log.dirty_bitmap, n);
    const dirty = slot.dirty;
    // first_page is a multiple of 64, so mask bit i and page first + i share their bit position
    // within 32-bit words: clear word by word.
    const w0 = Number(first) / 32;
    const count = Number(num);
    for (let w = 0; w * 32 < count; w++) {
      let m = (mask[4 * w]! | (mask[4 * w + 1]! << 8) | (mask[4 * w + 2]! << 16) | (mask[4 * w + 3]! << 24)) >>> 0;
      const left = count - w * 32;
      if (left < 32) m &= (1 << left) - 1;
      Atomics.and(dirty, w0 + w, ~m);
    }
    this.flushRemoteTlbs(); // the cleared pages are write-protected again before this returns
    return 0;
  }

  /** kvm_gmem_create */
  private createGuestMemfd(arg: UserArg): number {
    const c = S.kvm_create_guest_memfd.decode(arg.bytes(S.kvm_create_guest_memfd.size));
    if (c.flags & ~this.kernel.gmemFlags(this)) throw this.einval(arg, 'unsupported guest_memfd flags');
    const size = BigInt.asIntN(64, c.size);
    if (size <= 0n || size % BigInt(PAGE_SIZE) !== 0n) throw this.einval(arg, 'guest_memfd size must be a positive multiple of the page size');
    const gmem = new GuestMemfd(this, Number(size), c.flags);
    this.refs++;
    return this.kernel.install({ kind: 'guest_memfd', gmem, vm: this });
  }

  /** kvm_vm_ioctl_set_mem_attributes */
  private setMemoryAttributes(arg: UserArg): number {
    const a = S.kvm_memory_attributes.decode(arg.bytes(S.kvm_memory_attributes.size));
    if (a.flags) throw this.einval(arg, 'flags must be 0');
    if (a.attributes & ~BigInt(KVM_MEMORY_ATTRIBUTE.PRIVATE)) throw this.einval(arg, 'unsupported attributes');
    if (a.size === 0n || a.address + a.size >= 1n << 64n) throw this.einval(arg);
    if (a.address % BigInt(PAGE_SIZE) || a.size % BigInt(PAGE_SIZE)) throw this.einval(arg, 'address and size must be page aligned');
    const start = Number(a.address >> BigInt(PAGE_SHIFT));
    const end = Number((a.address + a.size) >> BigInt(PAGE_SHIFT));
    this.memAttrs.set(start, end, Number(a.attributes));
    this.bumpView();
    this.flushRemoteTlbs();
    for (const l of this.attrListeners) l(start, end, Number(a.attributes));
    return 0;
  }

  /** Invalidates every cached gpa->host translation of every vCPU of this VM. */
  bumpMmu(): void {
    Atomics.add(this.mmuGen, 0, 1);
  }

  /**
   * kvm_flush_remote_tlbs (and the SRCU grace period of a memslot update): bumps the MMU
   * generation and returns once no vCPU of this VM, on any thread, can still use a translation
   * cached before (src/kernel/smp.ts).
   */
  flushRemoteTlbs(): void {
    this.bumpMmu();
    this.kernel.smp?.flush(this);
  }

  /** What vCPUs on other threads mirror of this VM changed: the new view goes to them. */
  bumpView(): void {
    Atomics.add(this.viewGen, 0, 1);
    this.kernel.smp?.viewChanged(this);
  }

  /**
   * Resolves a guest access to `gfn` (address space `as`): the host page, or why there is none —
   * 'mmio' (no memslot, or a write to a read-only slot: an MMIO exit) or 'efault' (the slot's
   * userspace memory is not mapped: KVM_RUN fails with EFAULT). A write resolution marks the page
   * dirty; callers may cache it until `mmuGen` changes.
   */
  guestPage(gfn: number, write: boolean, as = 0): GuestPage | 'mmio' | 'efault' {
    const slot = this.slots[as]?.find(gfn);
    if (!slot || (write && slot.readonly)) return 'mmio';
    const rel = gfn - slot.baseGfn;
    const page = slot.gmemOnly || (slot.gmem && this.isPrivate(gfn)) ? slot.gmemPage(rel) : slot.page(rel);
    if (!page) return 'efault';
    if (write) slot.markDirty(rel);
    return { bytes: page.bytes, offset: page.offset, slot, rel };
  }

  /** True when `gfn` is private (KVM_MEMORY_ATTRIBUTE_PRIVATE). */
  isPrivate(gfn: number): boolean {
    return (this.memAttrs.get(gfn) & KVM_MEMORY_ATTRIBUTE.PRIVATE) !== 0;
  }

  /** The memslot holding `gfn` in address space `as`. */
  slotFor(gfn: number, as = 0): Memslot | undefined {
    return this.slots[as]?.find(gfn);
  }

  /**
   * The page behind `gfn` as the kernel's own accesses reach it (kvm_read_guest, get_user_pages
   * on the memslot's hva): the memory userspace maps, never a private page. A private gfn
   * (KVM_MEMORY_ATTRIBUTE_PRIVATE, backed by guest_memfd) gives its shared backing, as in Linux:
   * what the guest reads there is in guest_memfd, out of reach. 'none' when no memslot or no
   * mapping backs the gfn. No dirty marking: writers mark the page themselves.
   */
  hostPage(gfn: number, as = 0): GuestPage | 'none' {
    const slot = this.slotFor(gfn, as);
    if (!slot) return 'none';
    const rel = gfn - slot.baseGfn;
    // A mappable guest_memfd (shared by construction) is the memory userspace maps.
    const page = slot.gmemOnly ? slot.gmemPage(rel) : slot.page(rel);
    return page ? { bytes: page.bytes, offset: page.offset, slot, rel } : 'none';
  }

  /**
   * Reads guest physical memory the way the kernel would for its own purposes ({@link hostPage}:
   * shared memory only, no dirty marking). Returns false when any page is not backed.
   */
  readGpa(gpa: number, out: Uint8Array, as = 0): boolean {
    return this.copyGpa(gpa, out, false, as);
  }

  /** Writes guest physical memory from the kernel side (shared memory only), marking pages dirty. */
  writeGpa(gpa: number, data: Uint8Array, as = 0): boolean {
    return this.copyGpa(gpa, data, true, as);
  }

  private copyGpa(gpa: number, buf: Uint8Array, write: boolean, as: number): boolean {
    let done = 0;
    while (done < buf.length) {
      const a = gpa + done;
      const gfn = Math.floor(a / PAGE_SIZE);
      const page = this.hostPage(gfn, as);
      if (typeof page !== 'object' || (write && page.slot.readonly)) return false;
      const inPage = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - inPage, buf.length - done);
      const host = page.bytes.subarray(page.offset + inPage, page.offset + inPage + n);
      if (write) {
        host.set(buf.subarray(done, done + n));
        page.slot.markDirty(page.rel);
      } else {
        buf.set(host, done);
      }
      done += n;
    }
    return true;
  }
}
