import { abi, ioctlByRequest, type Arch } from '../uapi/index.js';
import { ERRNO, errnoName, errnoText, type ErrnoCode } from './errno.js';

/** What a failed call was doing: the ioctl request and fd, the path opened, a specific message. */
export interface KvmErrorDetail {
  request?: number;
  fd?: number;
  /** The file `open` was given. */
  path?: string;
  message?: string;
}

/**
 * The C name of an ioctl request ('KVM_SET_SREGS'), from the x86-64 table first, then arm64's
 * (the numbers differ where the argument sizes do), or undefined for a number no table has.
 */
export function ioctlName(request: number, arch?: Arch): string | undefined {
  const arches: Arch[] = arch ? [arch] : (Object.keys(abi) as Arch[]);
  for (const a of arches) {
    const d = ioctlByRequest(a, request);
    if (d) return d.name;
  }
  return undefined;
}

/**
 * A failed system call, shaped like Node's `fs` errors: `code` ('EINVAL'), `errno` (22, the
 * Linux number), `syscall` ('ioctl'), for ioctls the `request` number, its C name `ioctl`
 * ('KVM_SET_SREGS') and the `fd`, for `open` the `path`. The message reads like Node's:
 * `EINVAL: Invalid argument, ioctl KVM_SET_SREGS (request 0x4138ae84, fd 5)`,
 * `ENOENT: no such file or directory, open '/dev/kvm'`.
 */
export class KvmError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly request?: number;
  /** The ioctl's C name, when the request is a declared KVM ioctl. */
  readonly ioctl?: string;
  readonly fd?: number;
  readonly path?: string;

  constructor(errno: number, syscall: string, detail?: KvmErrorDetail) {
    const code = errnoName(errno);
    const request = detail?.request !== undefined ? detail.request >>> 0 : undefined;
    const name = request !== undefined ? ioctlName(request) : undefined;
    let where = '';
    if (request !== undefined) {
      where = ` ${name ?? 'request'} (${name ? 'request ' : ''}0x${request.toString(16)}${detail?.fd !== undefined ? `, fd ${detail.fd}` : ''})`;
    } else if (detail?.path !== undefined) {
      where = ` '${detail.path}'`;
    } else if (detail?.fd !== undefined) {
      where = ` (fd ${detail.fd})`;
    }
    super(`${code}: ${detail?.message ?? errnoText(errno)}, ${syscall}${where}`);
    this.name = 'KvmError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    if (request !== undefined) this.request = request;
    if (name !== undefined) this.ioctl = name;
    if (detail?.fd !== undefined) this.fd = detail.fd;
    if (detail?.path !== undefined) this.path = detail.path;
    Object.defineProperty(this, 'detailMessage', { value: detail?.message, enumerable: false });
  }

  /**
   * @internal The same error for the ioctl `request` on `fd`, when it was raised deep in the
   * kernel without them (so every ioctl error names its ioctl).
   */
  static forIoctl(e: KvmError, request: number, fd: number): KvmError {
    if (e.request !== undefined || e.syscall !== 'ioctl') return e;
    const message = (e as unknown as { detailMessage?: string }).detailMessage;
    const perFd = SHARED.get(e);
    if (perFd !== undefined) {
      const n = perFd.get(fd);
      if (n !== undefined && n.request === request >>> 0) return n;
    }
    const n = new KvmError(e.errno, 'ioctl', { request, fd, ...(message !== undefined ? { message } : {}) });
    if (perFd !== undefined) perFd.set(fd, n);
    else n.stack = e.stack;
    return n;
  }

  /**
   * @internal An error raised again and again on a hot path (KVM_RUN's EINTR, thousands per boot):
   * built once, and once per fd that `forIoctl` names, then thrown as is — an Error's stack
   * capture costs tens of microseconds. Its stack is where it was first built.
   */
  static shared(code: ErrnoCode, syscall: string, detail?: KvmErrorDetail): KvmError {
    const e = KvmError.of(code, syscall, detail);
    SHARED.set(e, new Map());
    return e;
  }

  /** Builds an error from a symbolic code. */
  static of(code: ErrnoCode, syscall: string, detail?: KvmErrorDetail): KvmError {
    return new KvmError(ERRNO[code], syscall, detail);
  }
}

/** The errors `KvmError.shared` made, with their per-fd copies. */
const SHARED = new WeakMap<KvmError, Map<number, KvmError>>();

/** True when `e` is a KvmError with the given code. */
export function isKvmError(e: unknown, code?: ErrnoCode): e is KvmError {
  return e instanceof KvmError && (code === undefined || e.code === code);
}
