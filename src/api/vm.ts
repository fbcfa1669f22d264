import type { HostMemory } from '../sys/sys.js';
import { KVM_CAP, KVM_CREATE_DEVICE_FLAG, KVM_IOEVENTFD_FLAG, KVM_IRQ_ROUTING, KVM_IRQFD_FLAG } from '../uapi/constants.js';
import type { abi } from '../uapi/index.js';
import { Device } from './device.js';
import type { Kvm } from './kvm.js';
import type { GsiRoute, IoeventfdOptions, IrqfdOptions, KvmClock, MemoryRegion, MsiMessage, X86Irqchip, X86PitState2 } from './types.js';
import { Vcpu } from './vcpu.js';

const fdOf = (f: number | { readonly fd: number }): number => (typeof f === 'number' ? f : f.fd);

const big = (v: bigint | number | undefined): bigint => BigInt(v ?? 0);

/** A VM fd. */
export class Vm {
  private scratch: HostMemory | undefined;

  constructor(
    readonly kvm: Kvm,
    readonly fd: number,
    /** The type given to KVM_CREATE_VM. */
    readonly type: number,
  ) {}

  get sys() {
    return this.kvm.sys;
  }

  private get S() {
    return this.kvm.abi.structs;
  }

  private get x86() {
    return this.kvm.abi.structs as (typeof abi)['x86_64']['structs'];
  }

  /** Page-aligned memory for pointer arguments (dirty bitmaps, ONE_REG values), reused. */
  hostBuffer(len: number): HostMemory {
    if (!this.scratch || this.scratch.bytes.length < len) {
      if (this.scratch) this.sys.munmap(this.scratch.bytes);
      this.scratch = this.sys.alloc(Math.max(len, 4096));
    }
    return this.scratch;
  }

  /** KVM_CHECK_EXTENSION on the VM fd. */
  checkExtension(cap: number): number {
    return this.sys.ioctl(this.fd, this.kvm.req('KVM_CHECK_EXTENSION'), cap);
  }

  /** KVM_ENABLE_CAP on the VM fd. */
  enableCap(cap: number, args: readonly (bigint | number)[] = [], flags = 0): number {
    return this.sys.ioctl(this.fd, this.kvm.req('KVM_ENABLE_CAP'), this.S.kvm_enable_cap.encode({ cap, flags, args: args.map(big) }));
  }

  /** KVM_SET_USER_MEMORY_REGION (memorySize 0 deletes the slot). */
  setUserMemoryRegion(r: MemoryRegion): void {
    this.sys.ioctl(
      this.fd,
      this.kvm.req('KVM_SET_USER_MEMORY_REGION'),
      this.S.kvm_userspace_memory_region.encode({ slot: r.slot, flags: r.flags ?? 0, guest_phys_addr: big(r.guestPhysAddr), memory_size: big(r.memorySize), userspace_addr: big(r.userspaceAddr) }),
    );
  }

  /** KVM_SET_USER_MEMORY_REGION2 (guest_memfd-backed slots). */
  setUserMemoryRegion2(r: MemoryRegion): void {
    this.sys.ioctl(
      this.fd,
      this.kvm.req('KVM_SET_USER_MEMORY_REGION2'),
      this.S.kvm_userspace_memory_region2.encode({
        slot: r.slot,
        flags: r.flags ?? 0,
        guest_phys_addr: big(r.guestPhysAddr),
        memory_size: big(r.memorySize),
        userspace_addr: big(r.userspaceAddr),
        guest_memfd: r.guestMemfd ?? 0,
        guest_memfd_offset: big(r.guestMemfdOffset),
      }),
    );
  }

  /** KVM_CREATE_GUEST_MEMFD: returns the new fd. */
  createGuestMemfd(size: bigint | number, flags: bigint | number = 0): number {
    return this.sys.ioctl(this.fd, this.kvm.req('KVM_CREATE_GUEST_MEMFD'), this.S.kvm_create_guest_memfd.encode({ size: big(size), flags: big(flags) }));
  }

  /** KVM_SET_MEMORY_ATTRIBUTES */
  setMemoryAttributes(address: bigint | number, size: bigint | number, attributes: bigint | number, flags: bigint | number = 0): void {
    this.sys.ioctl(this.fd, this.kvm.req('KVM_SET_MEMORY_ATTRIBUTES'), this.S.kvm_memory_attributes.encode({ address: big(address), size: big(size), attributes: big(attributes), flags: big(flags) }));
  }

  /** KVM_GET_DIRTY_LOG: the slot's bitmap (one bit per page, 64-bit words), copied. */
  getDirtyLog(slot: number, npages: number): Uint8Array {
    const len = Math.ceil(npages / 64) * 8;
    const buf = this.hostBuffer(len);
    buf.bytes.fill(0, 0, len);
    this.sys.ioctl(this.fd, this.kvm.req('KVM_GET_DIRTY_LOG'), this.S.kvm_dirty_log.encode({ slot, dirty_bitmap: buf.hva }));
    return buf.bytes.slice(0, len);
  }

  /** KVM_CLEAR_DIRTY_LOG: clears the bits set in `bitmap` for [firstPage, firstPage + numPages). */
  clearDirtyLog(slot: number, firstPage: number, numPages: number, bitmap: Uint8Array): void {
    const buf = this.hostBuffer(bitmap.length);
    buf.bytes.set(bitmap);
    this.sys.ioctl(this.fd, this.kvm.req('KVM_CLEAR_DIRTY_LOG'), this.S.kvm_clear_dirty_log.encode({ slot, num_pages: numPages, first_page: BigInt(firstPage), dirty_bitmap: buf.hva }));
  }

  /** KVM_CREATE_VCPU, then mmap of its kvm_run area. */
  createVcpu(id: number): Vcpu {
    const fd = this.sys.ioctl(this.fd, this.kvm.req('KVM_CREATE_VCPU'), id);
    return new Vcpu(this, fd, id);
  }

  /** KVM_SET_TSS_ADDR (x86): the three pages KVM reserves for real-mode emulation on VMX. */
  setTssAddr(addr: bigint | number): void {
    this.sys.ioctl(this.fd, this.kvm.req('KVM_SET_TSS_ADDR'), BigInt(addr));
  }

  /** KVM_SET_IDENTITY_MAP_ADDR (x86): the page of the identity-map table for unpaged guests on EPT. */
  setIdentityMapAddr(addr: bigint | number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(addr), true);
    this.sys.ioctl(this.fd, this.kvm.req('KVM_SET_IDENTITY_MAP_ADDR'), b);
  }

  /** KVM_ARM_PREFERRED_TARGET (arm64). */
  armPreferredTarget(): { target: number; features: number[] } {
    const S = this.kvm.abi.structs as { kvm_vcpu_init: { alloc(): Uint8Array; decode(b: Uint8Array): { target: number; features: number[] } } };
    const b = S.kvm_vcpu_init.alloc();
    this.sys.ioctl(this.fd, this.kvm.req('KVM_ARM_PREFERRED_TARGET'), b);
    return S.kvm_vcpu_init.decode(b);
  }

  // ---- interrupts, eventfds, devices, time -----------------------------------------------------

  /** KVM_CREATE_IRQCHIP: the arch's in-kernel irqchip (x86: PICs + IOAPIC; arm64: a GICv2) and its default routing. */
  createIrqchip(): void {
    this.sys.ioctl(this.fd, this.kvm.req('KVM_CREATE_IRQCHIP'), 0);
  }

  /** KVM_CREATE_PIT2 (x86): the in-kernel i8254; `flags` KVM_PIT_SPEAKER_DUMMY (1) adds port 0x61. */
  createPit2(flags = 0): void {
    this.sys.ioctl(this.fd, this.kvm.req('KVM_CREATE_PIT2'), this.x86.kvm_pit_config.encode({ flags }));
  }

  /** KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP) (x86): LAPICs in the kernel, PIC/IOAPIC in userspace; `pins` IOAPIC pins routed to userspace. */
  enableSplitIrqchip(pins = 24): void {
    this.enableCap(KVM_CAP.SPLIT_IRQCHIP, [pins]);
  }

  /** KVM_GET_IRQCHIP (x86): `chipId` KVM_IRQCHIP_PIC_MASTER/SLAVE (the `pic` view) or KVM_IRQCHIP_IOAPIC (`ioapic`). */
  getIrqchip(chipId: number): X86Irqchip {
    const S = this.x86;
    const b = S.kvm_irqchip.encode({ chip_id: chipId });
    this.sys.ioctl(this.fd, this.kvm.req('KVM_GET_IRQCHIP'), b);
    return S.kvm_irqchip.decode(b);
  }

  /** KVM_SET_IRQCHIP (x86). */
  setIrqchip(c: { chip_id: number; chip: Partial<X86Irqchip['chip']> }): void {
    this.sys.ioctl(this.fd, this.kvm.req('KVM_SET_IRQCHIP'), this.x86.kvm_irqchip.encode(c as never));
  }

  /** KVM_GET_PIT2 (x86). */
  getPit2(): X86PitState2 {
    const S = this.x86;
    const b = S.kvm_pit_state2.alloc();
    this.sys.ioctl(this.fd, this.kvm.req('KVM_GET_PIT2'), b);
    return S.kvm_pit_state2.decode(b);
  }

  /** KVM_SET_PIT2 (x86). */
  setPit2(st: X86PitState2): void {
    this.sys.ioctl(this.fd, this.kvm.req('KVM_SET_PIT2'), this.x86.kvm_pit_state2.encode(st));
  }

  /** KVM_REINJECT_CONTROL (x86): whether the PIT queues ticks the guest has not acknowledged. */
  reinjectControl(pitReinject: boolean): void {
    this.sys.ioctl(this.fd, this.kvm.req('KVM_REINJECT_CONTROL'), this.x86.kvm_reinject_control.encode({ pit_reinject: pitReinject ? 1 : 0 }));
  }

  /** KVM_SET_BOOT_CPU_ID (x86): the vCPU id that starts as the BSP (before any vCPU exists). */
  setBootCpuId(id: number): void {
    this.sys.ioctl(this.fd, this.kvm.req('KVM_SET_BOOT_CPU_ID'), id);
  }

  /** KVM_SET_TSC_KHZ on the VM (x86): the TSC rate of vCPUs created from now on (0: the host's). */
  setTscKhz(khz: number): void {
    this.sys.ioctl(this.fd, this.kvm.req('KVM_SET_TSC_KHZ'), khz);
  }

  /** KVM_GET_TSC_KHZ on the VM (x86). */
  getTscKhz(): number {
    return this.sys.ioctl(this.fd, this.kvm.req('KVM_GET_TSC_KHZ'), 0);
  }

  /** KVM_IRQ_LINE: drives GSI `irq` (x86) or the encoded arm64 irq to `level` (true/1 high). */
  irqLine(irq: number, level: boolean | number): void {
    this.sys.ioctl(this.fd, this.kvm.req('KVM_IRQ_LINE'), this.S.kvm_irq_level.encode({ irq, level: Number(level) }));
  }

  /** KVM_IRQ_LINE_STATUS: as irqLine, returning the status (> 0 delivered, 0 coalesced or masked, < 0 not delivered). */
  irqLineStatus(irq: number, level: boolean | number): number {
    const b = this.S.kvm_irq_level.encode({ irq, level: Number(level) });
    this.sys.ioctl(this.fd, this.kvm.req('KVM_IRQ_LINE_STATUS'), b);
    return this.S.kvm_irq_level.decode(b).status;
  }

  /** KVM_SIGNAL_MSI: returns > 0 when delivered, 0 when blocked by the guest. */
  signalMsi(m: MsiMessage): number {
    return this.sys.ioctl(this.fd, this.kvm.req('KVM_SIGNAL_MSI'), this.S.kvm_msi.encode({ address_lo: m.addressLo, address_hi: m.addressHi ?? 0, data: m.data, flags: m.flags ?? 0, devid: m.devid ?? 0 }));
  }

  /** KVM_SET_GSI_ROUTING: replaces the whole routing table. */
  setGsiRouting(routes: readonly GsiRoute[]): void {
    const S = this.S;
    const b = S.kvm_irq_routing.alloc(routes.length);
    const E = S.kvm_irq_routing_entry;
    new DataView(b.buffer).setUint32(0, routes.length, true);
    routes.forEach((r, i) => {
      const at = S.kvm_irq_routing.size + i * E.size;
      if (r.type === 'irqchip') E.encodeInto({ gsi: r.gsi, type: KVM_IRQ_ROUTING.IRQCHIP, u: { irqchip: { irqchip: r.irqchip, pin: r.pin } } }, b, at);
      else if (r.type === 'msi') E.encodeInto({ gsi: r.gsi, type: KVM_IRQ_ROUTING.MSI, flags: r.flags ?? 0, u: { msi: { address_lo: r.addressLo, address_hi: r.addressHi ?? 0, data: r.data, devid: r.devid ?? 0 } } }, b, at);
      else E.encodeInto({ gsi: r.gsi, type: r.type, flags: r.flags ?? 0, u: { pad: r.u ?? [] } }, b, at);
    });
    this.sys.ioctl(this.fd, this.kvm.req('KVM_SET_GSI_ROUTING'), b);
  }

  /** KVM_IRQFD: a signal of the eventfd injects GSI `gsi` (deassign: removes it). */
  irqfd(o: IrqfdOptions): void {
    const flags = (o.deassign ? KVM_IRQFD_FLAG.DEASSIGN : 0) | (o.resamplefd !== undefined ? KVM_IRQFD_FLAG.RESAMPLE : 0) | (o.flags ?? 0);
    this.sys.ioctl(this.fd, this.kvm.req('KVM_IRQFD'), this.S.kvm_irqfd.encode({ fd: fdOf(o.fd), gsi: o.gsi, flags, resamplefd: o.resamplefd === undefined ? 0 : fdOf(o.resamplefd) }));
  }

  /** KVM_IOEVENTFD: a guest write to `addr` (of `datamatch`) signals the eventfd and completes without an exit. */
  ioeventfd(o: IoeventfdOptions): void {
    const flags = (o.datamatch !== undefined ? KVM_IOEVENTFD_FLAG.DATAMATCH : 0) | (o.pio ? KVM_IOEVENTFD_FLAG.PIO : 0) | (o.deassign ? KVM_IOEVENTFD_FLAG.DEASSIGN : 0) | (o.flags ?? 0);
    this.sys.ioctl(this.fd, this.kvm.req('KVM_IOEVENTFD'), this.S.kvm_ioeventfd.encode({ datamatch: BigInt(o.datamatch ?? 0), addr: BigInt(o.addr), len: o.len, fd: fdOf(o.fd), flags }));
  }

  /** KVM_CREATE_DEVICE of `type` (KVM_DEV_TYPE_*). With `test`, only asks whether the type exists (returns null). */
  createDevice(type: number, opts: { test?: boolean } = {}): Device | null {
    const b = this.S.kvm_create_device.encode({ type, flags: opts.test ? KVM_CREATE_DEVICE_FLAG.TEST : 0 });
    this.sys.ioctl(this.fd, this.kvm.req('KVM_CREATE_DEVICE'), b);
    return opts.test ? null : new Device(this, this.S.kvm_create_device.decode(b).fd, type);
  }

  /** KVM_GET_CLOCK (x86): kvmclock, with the wall clock and host TSC read at the same instant. */
  getClock(): KvmClock {
    const b = this.S.kvm_clock_data.alloc();
    this.sys.ioctl(this.fd, this.kvm.req('KVM_GET_CLOCK'), b);
    const d = this.S.kvm_clock_data.decode(b);
    return { clock: d.clock, flags: d.flags, realtime: d.realtime, hostTsc: d.host_tsc };
  }

  /** KVM_SET_CLOCK (x86): sets kvmclock (with KVM_CLOCK_REALTIME, advanced by the wall time since `realtime`). */
  setClock(c: { clock: bigint | number; flags?: number; realtime?: bigint | number }): void {
    this.sys.ioctl(this.fd, this.kvm.req('KVM_SET_CLOCK'), this.S.kvm_clock_data.encode({ clock: BigInt(c.clock), flags: c.flags ?? 0, realtime: BigInt(c.realtime ?? 0) }));
  }

  close(): void {
    if (this.scratch) this.sys.munmap(this.scratch.bytes);
    this.scratch = undefined;
    this.sys.close(this.fd);
  }
}
