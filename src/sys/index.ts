export { ERRNO, errnoName, type ErrnoCode } from './errno.js';
export { KvmError, isKvmError, ioctlName, type KvmErrorDetail } from './error.js';
export { isNativeAvailable, nativeSys, nativeUnavailableReason } from './native.js';
export { argExtent, checkPointerArg } from './args.js';
export { O_CLOEXEC, O_RDWR, PAGE_SIZE, type HostMemory, type IoctlArg, type Sys } from './sys.js';
