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
  /** Lazily committed by the OS: untouched pages cost nothing. */
  readonly bytes: Uint8Array;
  /** Bound ranges (file pages), for the EEXIST rule of kvm_gmem_bind. */
  private readonly bindings: { start: number; count: number; baseGfn: number }[] = [];

  constructor(
    /** The VM that created it; binding it to another VM is EINVAL. */
    readonly owner: object,
    readonly size: number,
    readonly flags: bigint,
  ) {
    if (size > MAX_MAPPING) throw KvmError.of('ENOMEM', 'ioctl', { message: 'guest_memfd is limited to 4 GiB here' });
    try {
      this.bytes = new Uint8Array(new SharedArrayBuffer(size));
    } catch {
      throw KvmError.of('ENOMEM', 'ioctl');
    }
  }

  get mappable(): boolean {
    return (this.flags & BigInt(GUEST_MEMFD_FLAG.MMAP)) !== 0n;
  }

  /** kvm_gmem_bind: [offset, offset + npages pages) must lie in the file and not be bound yet (else EINVAL). */
  bind(offset: number, npages: number, baseGfn: number): void {
    if (offset < 0 || offset % PAGE_SIZE !== 0 || offset + npages * PAGE_SIZE > this.size) {
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

  /** Zeroes a page (hole punch, or a private page being given back). */
  discard(index: number): void {
    this.bytes.fill(0, index * PAGE_SIZE, (index + 1) * PAGE_SIZE);
  }
}
