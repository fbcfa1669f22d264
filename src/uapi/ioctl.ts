/**
 * Linux ioctl request encoding (include/uapi/asm-generic/ioctl.h, as used by x86-64 and arm64):
 * `dir << 30 | size << 16 | type << 8 | nr`, dir bit 0 = write (user -> kernel), bit 1 = read.
 * @module
 */
import type { CType } from './layout.js';

/** The KVM ioctl type byte. */
export const KVMIO = 0xae;

export const IOC_NONE = 0;
export const IOC_WRITE = 1;
export const IOC_READ = 2;

const IOC_SIZEBITS = 14;

/** `_IOC(dir, type, nr, size)`. */
export function IOC(dir: number, type: number, nr: number, size: number): number {
  if (size < 0 || size >= 1 << IOC_SIZEBITS) throw new RangeError(`ioctl size ${size} does not fit in ${IOC_SIZEBITS} bits`);
  return ((dir << 30) | (size << 16) | (type << 8) | nr) >>> 0;
}

export const IO = (type: number, nr: number): number => IOC(IOC_NONE, type, nr, 0);
export const IOR = (type: number, nr: number, arg: CType | number): number => IOC(IOC_READ, type, nr, sizeOf(arg));
export const IOW = (type: number, nr: number, arg: CType | number): number => IOC(IOC_WRITE, type, nr, sizeOf(arg));
export const IOWR = (type: number, nr: number, arg: CType | number): number => IOC(IOC_READ | IOC_WRITE, type, nr, sizeOf(arg));

const sizeOf = (arg: CType | number): number => (typeof arg === 'number' ? arg : arg.size);

/** `_IOC_DIR(req)`. */
export const iocDir = (req: number): number => (req >>> 30) & 3;
/** `_IOC_SIZE(req)`. */
export const iocSize = (req: number): number => (req >>> 16) & ((1 << IOC_SIZEBITS) - 1);
/** `_IOC_TYPE(req)`. */
export const iocType = (req: number): number => (req >>> 8) & 0xff;
/** `_IOC_NR(req)`. */
export const iocNr = (req: number): number => req & 0xff;
