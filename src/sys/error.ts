import { ERRNO, errnoName, errnoText, type ErrnoCode } from './errno.js';

/**
 * A failed system call, shaped like Node's `fs` errors: `code` ('EINVAL'), `errno` (22, the
 * Linux number), `syscall` ('ioctl'), and for ioctls the `request` number and `fd`.
 */
export class KvmError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly request?: number;
  readonly fd?: number;

  constructor(errno: number, syscall: string, detail?: { request?: number; fd?: number; message?: string }) {
    const code = errnoName(errno);
    const where = detail?.request !== undefined ? ` (request 0x${(detail.request >>> 0).toString(16)}${detail.fd !== undefined ? `, fd ${detail.fd}` : ''})` : '';
    super(`${code}: ${detail?.message ?? errnoText(errno)}, ${syscall}${where}`);
    this.name = 'KvmError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    if (detail?.request !== undefined) this.request = detail.request >>> 0;
    if (detail?.fd !== undefined) this.fd = detail.fd;
  }

  /** Builds an error from a symbolic code. */
  static of(code: ErrnoCode, syscall: string, detail?: { request?: number; fd?: number; message?: string }): KvmError {
    return new KvmError(ERRNO[code], syscall, detail);
  }
}

/** True when `e` is a KvmError with the given code. */
export function isKvmError(e: unknown, code?: ErrnoCode): e is KvmError {
  return e instanceof KvmError && (code === undefined || e.code === code);
}
