/**
 * Argument checks both backends apply before an ioctl touches memory, so that a short buffer is
 * EFAULT (as the kernel's copy_from_user/copy_to_user would answer) and never a stray access.
 * @module
 */
import { iocDir, iocSize, ioctlByRequest, type Arch, type IoctlDef } from '../uapi/index.js';
import { KvmError } from './error.js';
import type { IoctlArg } from './sys.js';

/**
 * The number of bytes an ioctl reads or writes through its pointer argument: `_IOC_SIZE` of the
 * request, or for a struct with a flexible array (kvm_msrs, kvm_cpuid2, kvm_reg_list...) the
 * extent its count field announces, within the kernel's limit on that count (`IoctlDef.countLimit`).
 * 0 for `_IO` requests, which take no pointer.
 */
export function argExtent(arch: Arch, request: number, bytes: Uint8Array): number {
  if (iocDir(request) === 0) return 0;
  const def = ioctlByRequest(arch, request);
  const arg = def?.arg;
  if (arg && arg.kind !== 'scalar' && arg.kind !== 'array' && 'extent' in arg) {
    // A count over the kernel's limit is refused (or clamped) before any element is accessed.
    return (arg as { extent(b: Uint8Array, o: number, l?: IoctlDef['countLimit']): number }).extent(bytes, 0, def.countLimit);
  }
  return iocSize(request);
}

/**
 * Validates an ioctl argument for a request whose direction says it takes a pointer: the caller
 * must pass the struct's bytes, long enough for everything the kernel would access, or NULL
 * (0 or undefined). Throws EFAULT otherwise. Returns the argument unchanged.
 */
export function checkPointerArg(arch: Arch, fd: number, request: number, arg: IoctlArg | undefined): IoctlArg | undefined {
  if (iocDir(request) === 0 || iocSize(request) === 0) return arg;
  // NULL goes through: the kernel answers it itself (EFAULT at its copy, or a documented meaning
  // such as KVM_SET_SIGNAL_MASK's "no mask"), and nothing is mapped at 0 for it to reach.
  if (arg === undefined || arg === null || arg === 0 || arg === 0n) return arg;
  if (!(arg instanceof Uint8Array)) {
    throw KvmError.of('EFAULT', 'ioctl', { request, fd, message: 'this request takes a struct: pass its bytes as a Uint8Array' });
  }
  const need = argExtent(arch, request, arg.length >= iocSize(request) ? arg : new Uint8Array(0));
  if (arg.length < need) {
    throw KvmError.of('EFAULT', 'ioctl', { request, fd, message: `argument is ${arg.length} bytes, the kernel would access ${need}` });
  }
  return arg;
}

// ---- JS values C could not pass -------------------------------------------------------------------
// A `Sys` call is a syscall: each argument has a C type (int fd, unsigned int cmd, unsigned long
// arg, size_t length, const char *path). A JS value that type cannot hold gets the errno the
// kernel gives the nearest C call — never a RangeError/TypeError from the backend.

const U64 = 1n << 64n;

/** An `int fd`: a JS integer in [0, 2^31), else EBADF (as for fd -1). */
export function fdArg(fd: unknown, syscall: string, request?: number): number {
  if (typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 && fd <= 0x7fff_ffff) return fd;
  throw KvmError.of('EBADF', syscall, request === undefined ? {} : { request });
}

/**
 * ioctl(2)'s `unsigned int cmd`: an integer is taken modulo 2^32 as C truncates it (so the signed
 * spelling of a request works); anything else names no ioctl and becomes request 0, which no file
 * knows: the fd then answers as for any unknown request (EINVAL from /dev/kvm and vCPU fds, ENOTTY
 * from x86 VM fds...), after the EBADF of a bad fd.
 */
export function requestArg(request: unknown): number {
  return typeof request === 'number' && Number.isInteger(request) ? request >>> 0 : 0;
}

/**
 * The `unsigned long` an integer argument stands for, or undefined when C could not hold it (a
 * non-integer, NaN, +-Infinity, a bigint outside [-2^63, 2^64), any other type). null and
 * undefined are 0 (NULL).
 */
export function ulongOf(arg: unknown): bigint | undefined {
  if (arg === undefined || arg === null || arg === 0) return 0n; // 0: KVM_RUN's, without a BigInt per call
  if (typeof arg === 'number') return Number.isInteger(arg) && arg > -(2 ** 63) - 1 && arg < 2 ** 64 ? BigInt.asUintN(64, BigInt(arg)) : undefined;
  if (typeof arg === 'bigint') return arg >= -(1n << 63n) && arg < U64 ? BigInt.asUintN(64, arg) : undefined;
  return undefined;
}

/**
 * An ioctl argument for the native call, checked before it: struct bytes as they are; an integer
 * as its unsigned long. A value C could not pass is EFAULT for a request that takes a pointer
 * (no such pointer is mapped) and EINVAL for one that takes a value.
 */
export function ioctlArg(fd: number, request: number, arg: unknown): IoctlArg {
  if (arg instanceof Uint8Array) return arg;
  const v = ulongOf(arg);
  if (v !== undefined) return v;
  const pointer = iocDir(request) !== 0 && iocSize(request) !== 0;
  throw KvmError.of(pointer ? 'EFAULT' : 'EINVAL', 'ioctl', { request, fd, message: `${describe(arg)} is no ${pointer ? 'pointer' : 'unsigned long'} C could pass` });
}

/** A `size_t` length of mmap/alloc: a positive safe integer, else EINVAL. */
export function lengthArg(length: unknown, syscall: string): number {
  if (typeof length === 'number' && Number.isSafeInteger(length) && length > 0) return length;
  throw KvmError.of('EINVAL', syscall, { message: `length ${describe(length)}` });
}

/** mmap's `off_t offset`: a non-negative safe integer (page alignment is the kernel's check), else EINVAL. */
export function offsetArg(offset: unknown): number {
  if (offset === undefined) return 0;
  if (typeof offset === 'number' && Number.isSafeInteger(offset) && offset >= 0) return offset;
  throw KvmError.of('EINVAL', 'mmap', { message: `offset ${describe(offset)}` });
}

/** munmap's region: bytes returned by mmap/alloc, else EINVAL (munmap of no mapping). */
export function regionArg(region: unknown): Uint8Array {
  if (region instanceof Uint8Array) return region;
  throw KvmError.of('EINVAL', 'munmap', { message: `${describe(region)} is not a region returned by mmap() or alloc()` });
}

/** open's `const char *path`: a string (cut at a NUL, as C reads it), else EFAULT. */
export function pathArg(path: unknown): string {
  if (typeof path !== 'string') throw KvmError.of('EFAULT', 'open', { message: `path ${describe(path)} is not a string` });
  const nul = path.indexOf('\0');
  return nul < 0 ? path : path.slice(0, nul);
}

/** open's `int flags`: an integer that fits an int (or undefined for the default), else EINVAL. */
export function flagsArg(flags: unknown): number | undefined {
  if (flags === undefined) return undefined;
  if (typeof flags === 'number' && Number.isInteger(flags) && flags >= -(2 ** 31) && flags < 2 ** 32) return flags | 0;
  throw KvmError.of('EINVAL', 'open', { message: `flags ${describe(flags)}` });
}

/** read/write's buffer (`void *buf`): bytes, else EFAULT (no such pointer is mapped). */
export function bufArg(buf: unknown, syscall: 'read' | 'write'): Uint8Array {
  if (buf instanceof Uint8Array) return buf;
  throw KvmError.of('EFAULT', syscall, { message: `buffer ${describe(buf)} is not a Uint8Array` });
}

/** eventfd(2)'s `unsigned int initval` and `int flags`: integers C could hold, else EINVAL. */
export function eventfdArgs(initval: unknown, flags: unknown): [number, number] {
  const iv = initval === undefined ? 0 : initval;
  const fl = flags === undefined ? 0 : flags;
  if (typeof iv === 'number' && Number.isInteger(iv) && iv >= 0 && iv <= 0xffff_ffff && typeof fl === 'number' && Number.isInteger(fl) && fl >= -(2 ** 31) && fl < 2 ** 32) return [iv, fl];
  throw KvmError.of('EINVAL', 'eventfd', { message: `initval ${describe(initval)}, flags ${describe(flags)}` });
}

/** waitReadable's timeout in ms: undefined (none) or a number that is not NaN (negative: 0), else EINVAL as poll(2) gives no such int. */
export function timeoutArg(timeoutMs: unknown): number | undefined {
  if (timeoutMs === undefined) return undefined;
  if (typeof timeoutMs === 'number' && !Number.isNaN(timeoutMs)) return timeoutMs;
  throw KvmError.of('EINVAL', 'poll', { message: `timeout ${describe(timeoutMs)}` });
}

function describe(v: unknown): string {
  if (typeof v === 'symbol' || typeof v === 'function') return typeof v;
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null || typeof v !== 'object') return String(v);
  return Object.prototype.toString.call(v);
}

/**
 * A loff_t argument (fallocate's offset and len): an integer number or bigint, taken modulo 2^64
 * as signed as C converts it; anything else is EINVAL.
 */
export function loffArg(v: unknown): bigint {
  if (typeof v === 'bigint') return BigInt.asIntN(64, v);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt.asIntN(64, BigInt(v));
  throw KvmError.of('EINVAL', 'fallocate');
}
