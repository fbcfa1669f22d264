/**
 * An ioctl argument as the kernel sees it: an `unsigned long` that handlers may read as an integer
 * or dereference as a user pointer. Dereferencing is lazy, so each handler fails with EFAULT at
 * the same point the kernel's copy_from_user/copy_to_user would, and not before.
 * @module
 */
import { KvmError } from '../sys/error.js';
import { ulongOf } from '../sys/args.js';
import type { AddressSpace } from './hva.js';

/** What an integer argument becomes when userspace passed bytes to a request taking a value. */
const STACK_POINTER = 0x7ffc_0000_1000n;

export class UserArg {
  constructor(
    /** What userspace passed: normally an IoctlArg, but any JS value reaches here (src/sys/args.ts). */
    private readonly raw: unknown,
    private readonly space: AddressSpace,
    readonly request: number,
    readonly fd: number,
  ) {}

  /** The argument as the kernel's `unsigned long arg`. */
  get int(): bigint {
    const r = this.raw;
    if (r instanceof Uint8Array) return STACK_POINTER;
    const v = ulongOf(r);
    // A value no unsigned long holds (1.5, NaN, a string...): invalid where the handler uses it.
    if (v === undefined) throw KvmError.of('EINVAL', 'ioctl', { request: this.request, fd: this.fd, message: 'the argument is no integer C could pass' });
    return v;
  }

  /** The argument as a user pointer: a value no pointer holds points at nothing mapped (EFAULT). */
  private get pointer(): bigint {
    const v = ulongOf(this.raw);
    if (v === undefined) throw this.efault('the argument is no pointer C could pass');
    return v;
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
    return this.space.user(this.pointer, len);
  }

  /** Bytes at `offset` past the argument's start (flexible arrays after a header already read). */
  slice(offset: number, len: number): Uint8Array {
    const r = this.raw;
    if (r instanceof Uint8Array) {
      if (r.length < offset + len) throw this.efault(`argument is ${r.length} bytes, the kernel would access ${offset + len}`);
      return r.subarray(offset, offset + len);
    }
    return this.space.user(this.pointer + BigInt(offset), len);
  }

  efault(message?: string): KvmError {
    return KvmError.of('EFAULT', 'ioctl', { request: this.request, fd: this.fd, ...(message ? { message } : {}) });
  }
}
