/**
 * Memslots (virt/kvm/kvm_main.c): gfn ranges backed by userspace memory, with dirty bitmaps,
 * read-only and guest_memfd flags, and the validation rules of __kvm_set_memory_region.
 * @module
 */
import { KvmError } from '../sys/error.js';
import { KVM_MEM } from '../uapi/constants.js';
import type { AddressSpace, Mapping } from './hva.js';
import { PAGE_SHIFT, PAGE_SIZE, TASK_SIZE_MAX } from './hva.js';
import type { GuestMemfd } from './gmem.js';
import { lowerBound } from './ranges.js';

/** KVM_MEM_MAX_NR_PAGES: memslot size limit in pages ((1 << 31) - 1). */
export const KVM_MEM_MAX_NR_PAGES = 2 ** 31 - 1;

/** The fields of kvm_userspace_memory_region2 the kernel acts on. */
export interface RegionRequest {
  slot: number;
  flags: number;
  guestPhysAddr: bigint;
  memorySize: bigint;
  userspaceAddr: bigint;
  guestMemfdOffset: bigint;
  guestMemfd: number;
}

export class Memslot {
  /** Cached backing mapping; re-resolved if it goes away. */
  private mapping: Mapping | undefined;
  /** The cached mapping's whole buffer (page() offsets count from its start, as the MMUs' views do). */
  private buf: Uint8Array | undefined;
  /** One bit per page, in 64-bit words (as the kernel's unsigned long bitmap); null unless dirty logging. */
  dirty: Uint32Array | null = null;

  constructor(
    readonly id: number,
    readonly as: number,
    public baseGfn: number,
    readonly npages: number,
    public flags: number,
    readonly userspaceAddr: number,
    readonly gmem: { file: GuestMemfd; offset: number } | undefined,
    private readonly space: AddressSpace,
  ) {
    this.use(space.find(userspaceAddr));
  }

  private use(m: Mapping | undefined): void {
    this.mapping = m;
    // A mapping may be a window into a larger buffer (the shim's server maps program memory so):
    // page() gives offsets from the buffer's start.
    const b = m?.bytes;
    this.buf = !b || b.byteOffset === 0 ? b : new Uint8Array(b.buffer, 0, b.byteOffset + b.length);
  }

  get readonly(): boolean {
    return (this.flags & KVM_MEM.READONLY) !== 0;
  }

  /**
   * Host bytes backing page `rel` of this slot (relative to base_gfn) and the offset of that page
   * within them, or undefined when the userspace range is not mapped there (the guest access then
   * fails the way an unbacked hva does: KVM_RUN returns EFAULT).
   */
  page(rel: number): { bytes: Uint8Array; offset: number } | undefined {
    const hva = this.userspaceAddr + rel * PAGE_SIZE;
    let m = this.mapping;
    if (!m || !m.live || hva < m.hva || hva + PAGE_SIZE > m.hva + m.length) {
      this.use((m = this.space.find(hva)));
      if (!m || hva + PAGE_SIZE > m.hva + m.length) return undefined;
    }
    return { bytes: this.buf!, offset: m.bytes.byteOffset + hva - m.hva };
  }

  /**
   * Page `rel` in the bound guest_memfd (private memory, or all memory of an mmap-able gmem slot),
   * or undefined once the file was released (kvm_gmem_get_pfn then fails: EFAULT).
   */
  gmemPage(rel: number): { bytes: Uint8Array; offset: number } | undefined {
    const g = this.gmem!;
    if (g.file.released) return undefined;
    return g.file.page(g.offset / PAGE_SIZE + rel);
  }

  /** Guest accesses of every gfn go to guest_memfd (a shared, mmap-able guest_memfd slot). */
  get gmemOnly(): boolean {
    return this.gmem !== undefined && this.gmem.file.mappable;
  }

  markDirty(rel: number): void {
    // Atomic: vCPUs on other threads mark the same (shared) bitmap the VMM harvests.
    const d = this.dirty;
    if (d) Atomics.or(d, rel >>> 5, 1 << (rel & 31));
  }
}

/** Bitmap words (u32) for npages, rounded to whole u64 longs like kvm_dirty_bitmap_bytes(). */
export function dirtyWords(npages: number): number {
  return Math.ceil(npages / 64) * 2;
}

/** kvm_prepare_memory_region's bitmap rule: keep the old one, or allocate (maybe all set), or none. */
function bitmapFor(flags: number, old: Uint32Array | null, npages: number, initiallySet: boolean): Uint32Array | null {
  if (!(flags & KVM_MEM.LOG_DIRTY_PAGES)) return null;
  if (old) return old;
  let b: Uint32Array;
  try {
    // Shared memory: vCPUs running on worker threads mark it too (src/kernel/smp.ts).
    b = new Uint32Array(new SharedArrayBuffer(dirtyWords(npages) * 4));
  } catch {
    // kvm_alloc_dirty_bitmap: the kernel's allocation fails with ENOMEM.
    throw KvmError.of('ENOMEM', 'ioctl', { message: 'cannot allocate the dirty bitmap' });
  }
  if (initiallySet) {
    b.fill(0xffff_ffff, 0, npages >>> 5);
    if (npages & 31) b[npages >>> 5] = (1 << (npages & 31)) - 1;
  }
  return b;
}

const baseGfnOf = (m: Memslot): number => m.baseGfn;
const userspaceAddrOf = (m: Memslot): number => m.userspaceAddr;

/** One address space's memslots. */
export class MemslotSet {
  readonly byId = new Map<number, Memslot>();
  /** Sorted by baseGfn; non-overlapping. */
  private sorted: Memslot[] = [];
  /** Sorted by userspaceAddr (they may overlap), and the largest slot's bytes: hva lookups. */
  private byHva: Memslot[] = [];
  private maxBytes = 0;
  private last: Memslot | undefined;
  nrPages = 0;

  find(gfn: number): Memslot | undefined {
    const l = this.last;
    if (l && gfn >= l.baseGfn && gfn < l.baseGfn + l.npages) return l;
    const s = this.sorted;
    let lo = 0;
    let hi = s.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = s[mid]!;
      if (gfn < m.baseGfn) hi = mid - 1;
      else if (gfn >= m.baseGfn + m.npages) lo = mid + 1;
      else return (this.last = m);
    }
    return undefined;
  }

  overlaps(id: number, start: number, end: number): boolean {
    // Slots do not overlap each other, so only the last slot starting below `end` and the one
    // before it (when that is the slot being moved) can reach into [start, end).
    const s = this.sorted;
    for (let i = this.lowerBound(end) - 1; i >= 0; i--) {
      const m = s[i]!;
      if (m.id === id) continue;
      return m.baseGfn + m.npages > start;
    }
    return false;
  }

  /** Index of the first slot whose baseGfn is >= gfn. */
  private lowerBound(gfn: number): number {
    return lowerBound(this.sorted, gfn, baseGfnOf);
  }

  /** True when a slot backed by host memory (not a guest_memfd-only one) covers part of [hva, hva + len). */
  mapsHva(hva: number, len: number): boolean {
    const h = this.byHva;
    // Slots starting below hva + len, back to those that could still reach hva.
    for (let i = this.hvaBound(hva + len) - 1; i >= 0; i--) {
      const m = h[i]!;
      if (m.userspaceAddr + this.maxBytes <= hva) break;
      if (!m.gmemOnly && hva < m.userspaceAddr + m.npages * PAGE_SIZE) return true;
    }
    return false;
  }

  /** Index of the first slot (by hva) whose userspaceAddr is >= hva. */
  private hvaBound(hva: number): number {
    return lowerBound(this.byHva, hva, userspaceAddrOf);
  }

  insert(m: Memslot): void {
    this.byId.set(m.id, m);
    insertAt(this.byHva, this.hvaBound(m.userspaceAddr), m);
    this.maxBytes = Math.max(this.maxBytes, m.npages * PAGE_SIZE);
    insertAt(this.sorted, this.lowerBound(m.baseGfn), m);
    this.last = undefined;
    this.nrPages += m.npages;
  }

  remove(m: Memslot): void {
    this.byId.delete(m.id);
    let i = this.lowerBound(m.baseGfn);
    if (this.sorted[i] !== m) i = this.sorted.indexOf(m);
    let k = this.hvaBound(m.userspaceAddr);
    while (k < this.byHva.length && this.byHva[k] !== m) k++;
    if (k < this.byHva.length) removeAt(this.byHva, k);
    if (i >= 0) removeAt(this.sorted, i);
    this.last = undefined;
    this.nrPages -= m.npages;
  }

  /** Moves `m` to `baseGfn` (a slot of the set): out of the gfn order and back in, O(n) without a sort. */
  move(m: Memslot, baseGfn: number): void {
    let i = this.lowerBound(m.baseGfn);
    if (this.sorted[i] !== m) i = this.sorted.indexOf(m);
    if (i >= 0) removeAt(this.sorted, i);
    m.baseGfn = baseGfn;
    insertAt(this.sorted, this.lowerBound(baseGfn), m);
    this.last = undefined;
  }

  all(): readonly Memslot[] {
    return this.sorted;
  }
}

/** a.splice(i, 0, v), moving only the elements after i (V8's splice copies large arrays whole). */
function insertAt<T>(a: T[], i: number, v: T): void {
  a.push(v);
  for (let j = a.length - 1; j > i; j--) a[j] = a[j - 1]!;
  a[i] = v;
}

/** a.splice(i, 1), moving only the elements after i. */
function removeAt<T>(a: T[], i: number): void {
  for (let j = i + 1; j < a.length; j++) a[j - 1] = a[j]!;
  a.pop();
}

/** What changed, for the arch and the VM's listeners (as KVM_MR_* in the kernel). */
export type MemslotChange =
  | { kind: 'create'; slot: Memslot }
  | { kind: 'delete'; slot: Memslot }
  | { kind: 'move'; slot: Memslot; oldBaseGfn: number }
  | { kind: 'flags'; slot: Memslot; oldFlags: number };

export interface MemslotPolicy {
  /** KVM_USER_MEM_SLOTS */
  readonly userMemSlots: number;
  /** kvm_arch_nr_memslot_as_ids */
  readonly addressSpaces: number;
  /** KVM_MEM_GUEST_MEMFD slots allowed (kvm_arch_supports_gmem). */
  readonly supportsGmem: boolean;
  readonly hasReadonlyMem: boolean;
  /** KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET both enabled: new bitmaps start all set. */
  readonly dirtyInitiallySet: boolean;
  /** Resolves guest_memfd fds (EBADF / EINVAL as kvm_gmem_bind). */
  gmem(fd: number): GuestMemfd;
  /** kvm_arch_prepare_memory_region: the arch may refuse a new or changed slot (throws). */
  prepare?(kind: 'create' | 'move' | 'flags', baseGfn: number, npages: number, flags: number): void;
}

/**
 * __kvm_set_memory_region: validates the request and applies it to `sets`. Returns the change,
 * or undefined for a no-op (same slot, same everything).
 */
export function setMemoryRegion(sets: MemslotSet[], space: AddressSpace, p: MemslotPolicy, mem: RegionRequest): MemslotChange | undefined {
  const einval = (why: string) => KvmError.of('EINVAL', 'ioctl', { message: `KVM_SET_USER_MEMORY_REGION: ${why}` });
  // check_memory_region_flags
  let valid = KVM_MEM.LOG_DIRTY_PAGES;
  if (p.supportsGmem) valid |= KVM_MEM.GUEST_MEMFD;
  if (mem.flags & KVM_MEM.GUEST_MEMFD) valid &= ~KVM_MEM.LOG_DIRTY_PAGES;
  if (p.hasReadonlyMem && !(mem.flags & KVM_MEM.GUEST_MEMFD)) valid |= KVM_MEM.READONLY;
  if (mem.flags & ~valid) throw einval(`invalid flags 0x${(mem.flags >>> 0).toString(16)}`);

  const asId = mem.slot >>> 16;
  const id = mem.slot & 0xffff;
  const PAGE = BigInt(PAGE_SIZE);
  if (mem.memorySize % PAGE !== 0n || mem.memorySize >= 1n << 64n) throw einval('memory_size is not page aligned');
  if (mem.guestPhysAddr % PAGE !== 0n) throw einval('guest_phys_addr is not page aligned');
  if (mem.userspaceAddr % PAGE !== 0n || mem.userspaceAddr + mem.memorySize > BigInt(TASK_SIZE_MAX) || mem.userspaceAddr + mem.memorySize < mem.userspaceAddr) {
    throw einval('userspace_addr is not a page-aligned user address range');
  }
  if (mem.flags & KVM_MEM.GUEST_MEMFD && (mem.guestMemfdOffset % PAGE !== 0n || mem.guestMemfdOffset + mem.memorySize >= 1n << 64n)) {
    throw einval('guest_memfd_offset is not page aligned');
  }
  if (asId >= p.addressSpaces || id >= p.userMemSlots) throw einval('slot out of range');
  if (mem.guestPhysAddr + mem.memorySize >= 1n << 64n) throw einval('gpa range wraps');
  if (mem.memorySize >> BigInt(PAGE_SHIFT) > BigInt(KVM_MEM_MAX_NR_PAGES)) throw einval('slot too large');

  const set = sets[asId]!;
  const old = set.byId.get(id);
  if (mem.memorySize === 0n) {
    if (!old) throw einval('deleting a slot that does not exist');
    set.remove(old);
    old.gmem?.file.unbind(old.gmem.offset, old.npages);
    return { kind: 'delete', slot: old };
  }
  const baseGfn = Number(mem.guestPhysAddr >> BigInt(PAGE_SHIFT));
  const npages = Number(mem.memorySize >> BigInt(PAGE_SHIFT));
  const uaddr = Number(mem.userspaceAddr);
  if (old) {
    if (mem.flags & KVM_MEM.GUEST_MEMFD) throw einval('guest_memfd slots cannot be modified, only deleted');
    if (uaddr !== old.userspaceAddr || npages !== old.npages || (mem.flags ^ old.flags) & KVM_MEM.READONLY) {
      throw einval('only the gpa or the dirty-log flag of an existing slot can change');
    }
    if (baseGfn !== old.baseGfn) {
      if (set.overlaps(id, baseGfn, baseGfn + npages)) throw KvmError.of('EEXIST', 'ioctl');
      p.prepare?.('move', baseGfn, npages, mem.flags);
      const oldBaseGfn = old.baseGfn;
      set.move(old, baseGfn);
      const oldFlags = old.flags;
      old.flags = mem.flags;
      old.dirty = bitmapFor(mem.flags, oldFlags & KVM_MEM.LOG_DIRTY_PAGES ? old.dirty : null, npages, p.dirtyInitiallySet);
      return { kind: 'move', slot: old, oldBaseGfn };
    }
    if (mem.flags === old.flags) return undefined;
    p.prepare?.('flags', baseGfn, npages, mem.flags);
    const oldFlags = old.flags;
    old.flags = mem.flags;
    old.dirty = bitmapFor(mem.flags, old.dirty, npages, p.dirtyInitiallySet);
    return { kind: 'flags', slot: old, oldFlags };
  }
  if (set.overlaps(id, baseGfn, baseGfn + npages)) throw KvmError.of('EEXIST', 'ioctl');
  let gmem: Memslot['gmem'];
  if (mem.flags & KVM_MEM.GUEST_MEMFD) {
    const file = p.gmem(mem.guestMemfd);
    const offset = Number(mem.guestMemfdOffset);
    file.bind(offset, npages, baseGfn);
    gmem = { file, offset };
  }
  const slot = new Memslot(id, asId, baseGfn, npages, mem.flags, uaddr, gmem, space);
  try {
    p.prepare?.('create', baseGfn, npages, mem.flags);
    slot.dirty = bitmapFor(mem.flags, null, npages, p.dirtyInitiallySet);
  } catch (e) {
    gmem?.file.unbind(gmem.offset, npages);
    throw e;
  }
  set.insert(slot);
  return { kind: 'create', slot };
}
