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
  if (arg === undefined || arg === 0 || arg === 0n) return arg;
  if (!(arg instanceof Uint8Array)) {
    throw KvmError.of('EFAULT', 'ioctl', { request, fd, message: 'this request takes a struct: pass its bytes as a Uint8Array' });
  }
  const need = argExtent(arch, request, arg.length >= iocSize(request) ? arg : new Uint8Array(0));
  if (arg.length < need) {
    throw KvmError.of('EFAULT', 'ioctl', { request, fd, message: `argument is ${arg.length} bytes, the kernel would access ${need}` });
  }
  return arg;
}
