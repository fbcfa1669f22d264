import type { HostMemory } from '../sys/sys.js';
import type { Kvm } from './kvm.js';
import type { MemoryRegion } from './types.js';
import { Vcpu } from './vcpu.js';

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

  close(): void {
    if (this.scratch) this.sys.munmap(this.scratch.bytes);
    this.scratch = undefined;
    this.sys.close(this.fd);
  }
}
