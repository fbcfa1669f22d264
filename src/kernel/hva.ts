/**
 * The virtual process's user address space: anonymous mappings (`alloc`, vCPU `mmap`) with host
 * virtual addresses, so pointer fields in ioctl structs (userspace_addr, kvm_one_reg.addr, ...)
 * resolve exactly where the kernel's copy_from_user would, and fail with EFAULT elsewhere.
 *
 * Memory is SharedArrayBuffer-backed: the OS commits pages on first touch, so a 4 GiB mapping
 * costs only what is written, and worker threads can share guest RAM.
 * @module
 */
import { KvmError } from '../sys/error.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

/** Lowest hva handed out, and the x86-64 user address limit (TASK_SIZE_MAX, 47 bits). */
const HVA_BASE = 0x7f00_0000_0000;
export const TASK_SIZE_MAX = 0x7fff_ffff_f000;
/** Unmapped pages left between mappings, so no two mappings are ever contiguous. */
const GUARD = 16 * PAGE_SIZE;
/** A typed array cannot exceed 4 GiB on this JS engine. */
export const MAX_MAPPING = 2 ** 32;

/** One anonymous mapping. */
export interface Mapping {
  readonly hva: number;
  readonly length: number;
  readonly bytes: Uint8Array;
  /** False once munmapped: the bytes stay valid for JS but the kernel no longer reaches them. */
  live: boolean;
}

export class AddressSpace {
  /** Live mappings sorted by hva. */
  private readonly maps: Mapping[] = [];
  private next = HVA_BASE;
  /**
   * Called when `find` misses, or `user` finds [hva, hva+len) not inside one mapping (a
   * worker-thread mirror of the owner's space, src/kernel/smp.ts; another process's memory,
   * src/server): it may add the missing mapping with `mapAt`; the lookup then runs once more.
   */
  onMiss: ((hva: number, len: number) => void) | undefined = undefined;

  /**
   * Maps `length` bytes (rounded up to pages): fresh zeroed shared memory, or `length` bytes of
   * an existing buffer from `byteOffset` (a vCPU's kvm_run area).
   */
  map(length: number, buffer?: SharedArrayBuffer, byteOffset = 0): Mapping {
    if (!Number.isSafeInteger(length) || length <= 0) throw KvmError.of('EINVAL', 'mmap');
    const len = Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
    if (len > MAX_MAPPING) throw KvmError.of('ENOMEM', 'mmap', { message: `a single mapping is limited to 4 GiB here (asked ${len} bytes)` });
    if (this.next + len > TASK_SIZE_MAX) throw KvmError.of('ENOMEM', 'mmap');
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(buffer ?? new SharedArrayBuffer(len), byteOffset, len);
    } catch {
      throw KvmError.of('ENOMEM', 'mmap');
    }
    const m: Mapping = { hva: this.next, length: len, bytes, live: true };
    this.next += len + GUARD;
    this.maps.push(m);
    return m;
  }

  /**
   * Mirrors a mapping of another thread's space at the same hva (the bytes share its
   * SharedArrayBuffer). A mapping already there is kept.
   */
  mapAt(hva: number, bytes: Uint8Array): Mapping {
    const have = this.find(hva, false);
    if (have && have.hva === hva && have.length === bytes.length) return have;
    const m: Mapping = { hva, length: bytes.length, bytes, live: true };
    let i = 0;
    while (i < this.maps.length && this.maps[i]!.hva < hva) i++;
    this.maps.splice(i, 0, m);
    this.next = Math.max(this.next, hva + bytes.length + GUARD);
    return m;
  }

  /** Every live mapping, sorted by hva. */
  all(): readonly Mapping[] {
    return this.maps;
  }

  /** Removes the mapping that starts at `hva` (munmap by address). */
  unmapHva(hva: number): void {
    const i = this.maps.findIndex((m) => m.hva === hva);
    if (i < 0) throw KvmError.of('EINVAL', 'munmap');
    this.maps[i]!.live = false;
    this.maps.splice(i, 1);
  }

  /** Removes the mapping whose bytes are `region` (or a prefix view of them). */
  unmap(region: Uint8Array): void {
    const i = this.maps.findIndex((m) => m.bytes.buffer === region.buffer && region.byteOffset === m.bytes.byteOffset);
    if (i < 0) throw KvmError.of('EINVAL', 'munmap', { message: 'not a region returned by mmap() or alloc() of this Sys' });
    this.maps[i]!.live = false;
    this.maps.splice(i, 1);
  }

  /** The mapping that contains `hva`, if any. */
  find(hva: number, miss = true): Mapping | undefined {
    const m = this.lookup(hva);
    if (m || !miss || !this.onMiss) return m;
    this.onMiss(hva, 1);
    return this.lookup(hva);
  }

  private lookup(hva: number): Mapping | undefined {
    const maps = this.maps;
    let lo = 0;
    let hi = maps.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = maps[mid]!;
      if (hva < m.hva) hi = mid - 1;
      else if (hva >= m.hva + m.length) lo = mid + 1;
      else return m;
    }
    return undefined;
  }

  /**
   * The bytes at [hva, hva+len) as a view, as copy_from_user/copy_to_user would reach them;
   * EFAULT when any byte is unmapped.
   */
  user(hva: number | bigint, len: number, syscall = 'ioctl'): Uint8Array {
    if (len === 0) return new Uint8Array(0); // copying 0 bytes never faults, whatever the pointer
    const a = typeof hva === 'bigint' ? (hva > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(hva)) : hva;
    let m = a >= 0 ? this.lookup(a) : undefined;
    if (a >= 0 && this.onMiss && (!m || a + len > m.hva + m.length)) {
      this.onMiss(a, len);
      m = this.lookup(a);
    }
    if (!m || a + len > m.hva + m.length) throw KvmError.of('EFAULT', syscall);
    const off = a - m.hva;
    return m.bytes.subarray(off, off + len);
  }
}
