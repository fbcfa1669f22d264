/**
 * An ioctl argument as the kernel sees it: an `unsigned long` that handlers may read as an integer
 * or dereference as a user pointer. Dereferencing is lazy, so each handler fails with EFAULT at
 * the same point the kernel's copy_from_user/copy_to_user would, and not before.
 * @module
 */
import { KvmError } from '../sys/error.js';
import type { IoctlArg } from '../sys/sys.js';
import type { AddressSpace } from './hva.js';

/** What an integer argument becomes when userspace passed bytes to a request taking a value. */
const STACK_POINTER = 0x7ffc_0000_1000n;

export class UserArg {
  constructor(
    private readonly raw: IoctlArg | undefined,
    private readonly space: AddressSpace,
    readonly request: number,
    readonly fd: number,
  ) {}

  /** The argument as the kernel's `unsigned long arg`. */
  get int(): bigint {
    const r = this.raw;
    if (r === undefined) return 0n;
    if (r instanceof Uint8Array) return STACK_POINTER;
    return BigInt.asUintN(64, BigInt(r));
  }

  /** True when userspace passed the struct bytes directly. */
  get isBytes(): boolean {
    return this.raw instanceof Uint8Array;
  }

  /**
   * The `len` bytes the argument points to (copy_from_user/copy_to_user): the caller's Uint8Array,
   * or the mapped memory at the pointer value. EFAULT when shorter or unmapped.
   */
  bytes(len: number): Uint8Array {
    const r = this.raw;
    if (r instanceof Uint8Array) {
      if (r.length < len) throw this.efault(`argument is ${r.length} bytes, the kernel would access ${len}`);
      return r;
    }
    return this.space.user(this.int, len);
  }

  /** Bytes at `offset` past the argument's start (flexible arrays after a header already read). */
  slice(offset: number, len: number): Uint8Array {
    const r = this.raw;
    if (r instanceof Uint8Array) {
      if (r.length < offset + len) throw this.efault(`argument is ${r.length} bytes, the kernel would access ${offset + len}`);
      return r.subarray(offset, offset + len);
    }
    return this.space.user(this.int + BigInt(offset), len);
  }

  efault(message?: string): KvmError {
    return KvmError.of('EFAULT', 'ioctl', { request: this.request, fd: this.fd, ...(message ? { message } : {}) });
  }
}
