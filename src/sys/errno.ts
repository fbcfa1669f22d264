/**
 * Linux errno numbers (asm-generic/errno-base.h, errno.h). Fixed here rather than taken from
 * `os.constants.errno`, because the virtual backend answers with Linux numbers on every host OS.
 * @module
 */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  ENOEXEC: 8,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENODEV: 19,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  EROFS: 30,
  EPIPE: 32,
  ERANGE: 34,
  EDEADLK: 35,
  ENOSYS: 38,
  ENODATA: 61,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  EADDRINUSE: 98,
  ETIMEDOUT: 110,
  EHWPOISON: 133,
} as const;

export type ErrnoCode = keyof typeof ERRNO;

const byNumber = new Map<number, ErrnoCode>(Object.entries(ERRNO).map(([k, v]) => [v, k as ErrnoCode]));

/** The symbolic name of a Linux errno number, or `E<n>` when unknown. */
export function errnoName(errno: number): string {
  return byNumber.get(errno) ?? `E${errno}`;
}

/** Linux's strerror text for the codes the KVM API uses (for messages only). */
const TEXT: Partial<Record<ErrnoCode, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  ENXIO: 'No such device or address',
  E2BIG: 'Argument list too long',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EFAULT: 'Bad address',
  EBUSY: 'Device or resource busy',
  EEXIST: 'File exists',
  ENODEV: 'No such device',
  EINVAL: 'Invalid argument',
  EMFILE: 'Too many open files',
  ENOTTY: 'Inappropriate ioctl for device',
  ENOSPC: 'No space left on device',
  ERANGE: 'Numerical result out of range',
  ENOSYS: 'Function not implemented',
  EOPNOTSUPP: 'Operation not supported',
  EHWPOISON: 'Memory page has hardware error',
};

export function errnoText(errno: number): string {
  const name = byNumber.get(errno);
  return (name && TEXT[name]) ?? `errno ${errno}`;
}
