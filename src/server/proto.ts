/**
 * The shim protocol (native/shim/vkvm-proto.h) as data: the message header and reply record
 * layouts and the op numbers, declared once here and proven against the C header by gcc
 * (test/server/proto.test.ts).
 * @module
 */
import { array, s32, s64, struct, u32, u64 } from '../uapi/layout.js';

export const PROTO_VERSION = 1;

/** Entries of the per-process fd table the shim shares: fdtab[process fd] = kernel fd + 1. */
export const FDTAB_ENTRIES = 1 << 20;

export const vkvm_hdr = struct('vkvm_hdr', { op: u32, len: u32, ret: s64, a: array(u64, 4) });
export const vkvm_rec = struct('vkvm_rec', { kind: u32, len: u32, addr: u64, kfd: s32, flags: u32 });

/** enum vkvm_op */
export const OP = {
  HELLO: 1,
  OPEN: 2,
  IOCTL: 3,
  CLOSE: 4,
  UNMAP: 5,
  DATA: 6,
  FALLOCATE: 7,
  REPLY: 64,
  CB_READ: 65,
  CB_SHARE: 66,
  CB_GETFD: 67,
} as const;

export const ARCH_ID = { x86_64: 0, arm64: 1 } as const;

export const HELLO = { ANCHOR: 1, FORKED: 2 } as const;
export const REPLY = { RETRY: 1, CONTENTS: 2 } as const;
export const SHARE = { AS_FILE: 1 } as const;
export const REC = { WRITE: 1, NEWFD: 2 } as const;
export const NEWFD = { RUN_AREA: 1, GMEM: 2 } as const;

export const MAX_FDS_PER_MSG = 8;

/** The C names of the constants above, for the gcc check. */
export const C_CONSTANTS: Readonly<Record<string, number>> = {
  VKVM_PROTO_VERSION: PROTO_VERSION,
  VKVM_FDTAB_ENTRIES: FDTAB_ENTRIES,
  ...Object.fromEntries(Object.entries(OP).map(([k, v]) => [`VKVM_OP_${k}`, v])),
  VKVM_ARCH_X86_64: ARCH_ID.x86_64,
  VKVM_ARCH_ARM64: ARCH_ID.arm64,
  VKVM_HELLO_ANCHOR: HELLO.ANCHOR,
  VKVM_HELLO_FORKED: HELLO.FORKED,
  VKVM_SHARE_AS_FILE: SHARE.AS_FILE,
  VKVM_REPLY_RETRY: REPLY.RETRY,
  VKVM_REPLY_CONTENTS: REPLY.CONTENTS,
  VKVM_REC_WRITE: REC.WRITE,
  VKVM_REC_NEWFD: REC.NEWFD,
  VKVM_NEWFD_RUN_AREA: NEWFD.RUN_AREA,
  VKVM_NEWFD_GMEM: NEWFD.GMEM,
  VKVM_MAX_FDS_PER_MSG: MAX_FDS_PER_MSG,
};

/** Header field offsets (hot path: read and written with a DataView). */
export const HDR = {
  size: vkvm_hdr.size,
  op: vkvm_hdr.offsetOf('op'),
  len: vkvm_hdr.offsetOf('len'),
  ret: vkvm_hdr.offsetOf('ret'),
  a0: vkvm_hdr.offsetOf('a'),
} as const;

export const RECF = {
  size: vkvm_rec.size,
  kind: vkvm_rec.offsetOf('kind'),
  len: vkvm_rec.offsetOf('len'),
  addr: vkvm_rec.offsetOf('addr'),
  kfd: vkvm_rec.offsetOf('kfd'),
  flags: vkvm_rec.offsetOf('flags'),
} as const;
