/**
 * guest_memfd (virt/kvm/guest_memfd.c): a file of guest memory that memslots bind ranges of
 * (KVM_SET_USER_MEMORY_REGION2 with KVM_MEM_GUEST_MEMFD). Unless created with
 * GUEST_MEMFD_FLAG_MMAP, the VMM cannot map it, so private contents never reach userspace.
 * @module
 */
import { KvmError } from '../sys/error.js';
import { GUEST_MEMFD_FLAG } from '../uapi/constants.js';
import { MAX_MAPPING, PAGE_SIZE } from './hva.js';

export class GuestMemfd {
  /**
   * The file's pages in chunks of up to 4 GiB (the largest typed array here), each allocated on
   * first use and committed by the OS page by page, so a file may be as large as the kernel
   * allows (2^63 - 4 KiB) and cost only what is touched.
   */
  private readonly chunks = new Map<number, Uint8Array>();
  private readonly chunkSize: number;
  /** Bound ranges (file pages), for the EEXIST rule of kvm_gmem_bind. */
  private readonly bindings: { start: number; count: number; baseGfn: number }[] = [];
  /**
   * The last fd was closed (kvm_gmem_release): the memslots bound to it no longer reach it
   * (slot->gmem.file is NULL), so a private access faults to userspace, and its pages are gone.
   */
  released = false;

  constructor(
    /** The VM that created it; binding it to another VM is EINVAL. */
    readonly owner: object,
    readonly size: number,
    readonly flags: bigint,
  ) {
    this.chunkSize = Math.min(size, MAX_MAPPING);
    if (size <= MAX_MAPPING) this.chunk(0);
  }

  /** The whole file as bytes, for files that fit one chunk (at most 4 GiB). */
  get bytes(): Uint8Array {
    if (this.size > MAX_MAPPING) throw new RangeError('guest_memfd larger than 4 GiB: use page()');
    return this.chunk(0);
  }

  private chunk(i: number): Uint8Array {
    let c = this.chunks.get(i);
    if (!c) {
      const len = Math.min(this.chunkSize, this.size - i * this.chunkSize);
      try {
        c = new Uint8Array(new SharedArrayBuffer(len));
      } catch {
        throw KvmError.of('ENOMEM', 'ioctl', { message: 'cannot allocate guest_memfd memory' });
      }
      this.chunks.set(i, c);
    }
    return c;
  }

  /** The bytes holding file page `index` and that page's offset in them. */
  page(index: number): { bytes: Uint8Array; offset: number } {
    const off = index * PAGE_SIZE;
    const i = Math.floor(off / this.chunkSize);
    return { bytes: this.chunk(i), offset: off - i * this.chunkSize };
  }

  get mappable(): boolean {
    return (this.flags & BigInt(GUEST_MEMFD_FLAG.MMAP)) !== 0n;
  }

  /** kvm_gmem_bind: [offset, offset + npages pages) must lie in the file and not be bound yet (else EINVAL). */
  bind(offset: number, npages: number, baseGfn: number): void {
    // The kernel computes this in loff_t (signed 64 bits): an end past 2^63 wraps negative and
    // passes, as on Linux.
    const off = BigInt.asIntN(64, BigInt(offset));
    const end = BigInt.asIntN(64, off + BigInt(npages) * BigInt(PAGE_SIZE));
    if (off < 0n || off % BigInt(PAGE_SIZE) !== 0n || end > BigInt(this.size)) {
      throw KvmError.of('EINVAL', 'ioctl', { message: 'guest_memfd range outside the file' });
    }
    const start = offset / PAGE_SIZE;
    if (this.bindings.some((b) => start < b.start + b.count && start + npages > b.start)) throw KvmError.of('EINVAL', 'ioctl', { message: 'guest_memfd range already bound' });
    this.bindings.push({ start, count: npages, baseGfn });
  }

  unbind(offset: number, npages: number): void {
    const start = offset / PAGE_SIZE;
    const i = this.bindings.findIndex((b) => b.start === start && b.count === npages);
    if (i >= 0) this.bindings.splice(i, 1);
  }

  /** kvm_gmem_release: unbinds every slot and frees the pages (the caller zaps the mappings first). */
  release(): void {
    this.released = true;
    this.chunks.clear();
  }

  /**
   * kvm_gmem_punch_hole: the pages of [start, end) (bytes, page-aligned; past the end of the file
   * is nothing) go, so they read zero the next time they are faulted in. Chunks never touched
   * stay unallocated.
   */
  punchHole(start: number, end: number): void {
    const hi = Math.min(end, this.size);
    for (const [i, c] of this.chunks) {
      const base = i * this.chunkSize;
      const lo = Math.max(start, base);
      const top = Math.min(hi, base + c.length);
      if (lo < top) c.fill(0, lo - base, top - base);
    }
  }

  /** Zeroes a page (hole punch, or a private page being given back). */
  discard(index: number): void {
    const p = this.page(index);
    p.bytes.fill(0, p.offset, p.offset + PAGE_SIZE);
  }
}
