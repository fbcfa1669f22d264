/**
 * TDX architectural numbers: SEAMCALL and TDCALL leaves, TDG.VP.VMCALL sub-functions and status
 * codes (GHCI), TDX module completion status codes, TD attributes, and the VMX exit reasons a #VE
 * reports. Facts from the TDX module ABI / GHCI as the Linux kernel and the TDX module sources
 * spell them (see /work/shared/research/tdx.md).
 * @module
 */

/** SEAMCALL leaf numbers (host -> TDX module). */
export const SEAMCALL = {
  TDH_VP_ENTER: 0,
  TDH_MNG_ADDCX: 1,
  TDH_MEM_PAGE_ADD: 2,
  TDH_MEM_SEPT_ADD: 3,
  TDH_VP_ADDCX: 4,
  TDH_MEM_PAGE_AUG: 6,
  TDH_MEM_RANGE_BLOCK: 7,
  TDH_MNG_KEY_CONFIG: 8,
  TDH_MNG_CREATE: 9,
  TDH_VP_CREATE: 10,
  TDH_MNG_RD: 11,
  TDH_MR_EXTEND: 16,
  TDH_MR_FINALIZE: 17,
  TDH_VP_FLUSH: 18,
  TDH_MNG_VPFLUSHDONE: 19,
  TDH_MNG_KEY_FREEID: 20,
  TDH_MNG_INIT: 21,
  TDH_VP_INIT: 22,
  TDH_PHYMEM_PAGE_RECLAIM: 28,
  TDH_MEM_PAGE_REMOVE: 29,
  TDH_MEM_TRACK: 38,
  TDH_PHYMEM_CACHE_WB: 40,
  TDH_PHYMEM_PAGE_WBINVD: 41,
} as const;

export type SeamcallName = keyof typeof SEAMCALL;

/** TDCALL leaf numbers (TD guest -> TDX module), in RAX. */
export const TDCALL = {
  TDG_VP_VMCALL: 0,
  TDG_VP_INFO: 1,
  TDG_MR_RTMR_EXTEND: 2,
  TDG_VP_VEINFO_GET: 3,
  TDG_MR_REPORT: 4,
  TDG_VP_CPUIDVE_SET: 5,
  TDG_MEM_PAGE_ACCEPT: 6,
  TDG_VM_RD: 7,
  TDG_VM_WR: 8,
} as const;

/** TDG.VP.VMCALL sub-functions (R11) of the GHCI: instruction emulation uses VMX exit reasons. */
export const TDVMCALL = {
  CPUID: 10,
  HLT: 12,
  IO: 30,
  RDMSR: 31,
  WRMSR: 32,
  MMIO: 48,
  GET_TD_VM_CALL_INFO: 0x10000,
  MAP_GPA: 0x10001,
  GET_QUOTE: 0x10002,
  REPORT_FATAL_ERROR: 0x10003,
  SETUP_EVENT_NOTIFY_INTERRUPT: 0x10004,
} as const;

/** TDG.VP.VMCALL completion status (R10). */
export const TDVMCALL_STATUS = {
  SUCCESS: 0n,
  RETRY: 1n,
  INVALID_OPERAND: 0x8000000000000000n,
  GPA_INUSE: 0x8000000000000001n,
  ALIGN_ERROR: 0x8000000000000002n,
  SUBFUNC_UNSUPPORTED: 0x8000000000000003n,
} as const;

/** GetTdVmCallInfo leaf 1, R11: SetupEventNotifyInterrupt is handled by userspace. */
export const TDVMCALLINFO_SETUP_EVENT_NOTIFY_INTERRUPT = 1n << 1n;

/** TDX module completion status codes (RAX of SEAMCALL/TDCALL); the low 32 bits carry details. */
export const TDX_STATUS = {
  SUCCESS: 0n,
  OPERAND_INVALID: 0xc000010000000000n,
  OPERAND_BUSY: 0x8000020000000000n,
  PREVIOUS_TLB_EPOCH_BUSY: 0x8000020100000000n,
  TD_ASSOCIATED_PAGES_EXIST: 0xc000040000000000n,
  OP_STATE_INCORRECT: 0xc000060800000000n,
  VCPU_STATE_INCORRECT: 0xc000070000000000n,
  NO_VALID_VE_INFO: 0xc000070400000000n,
  MAX_VCPUS_EXCEEDED: 0xc000070500000000n,
  KEY_STATE_INCORRECT: 0xc000081100000000n,
  FLUSHVP_NOT_DONE: 0x8000082400000000n,
  EPT_WALK_FAILED: 0xc0000b0000000000n,
  EPT_ENTRY_FREE: 0xc0000b0100000000n,
  EPT_ENTRY_NOT_FREE: 0xc0000b0200000000n,
  GPA_RANGE_NOT_BLOCKED: 0xc0000b0600000000n,
  GPA_RANGE_ALREADY_BLOCKED: 0x00000b0700000000n,
  TLB_TRACKING_NOT_DONE: 0xc0000b0800000000n,
  PAGE_ALREADY_ACCEPTED: 0x00000b0a00000000n,
  PAGE_SIZE_MISMATCH: 0xc0000b0b00000000n,
  EPT_ENTRY_STATE_INCORRECT: 0xc0000b0d00000000n,
} as const;

/** The status class (upper 32 bits) of a completion status. */
export const TDX_STATUS_MASK = 0xffffffff00000000n;

/** Operand ids in the low bits of a status. */
export const TDX_OPERAND_ID = { RAX: 0n, RCX: 1n, RDX: 2n, R8: 8n, SEPT: 0x92n, TD_EPOCH: 0xa9n } as const;

/** TD ATTRIBUTES bits. */
export const TD_ATTR = { DEBUG: 1n << 0n, SEPT_VE_DISABLE: 1n << 28n, PKS: 1n << 30n, KL: 1n << 31n, PERFMON: 1n << 63n } as const;

/** VMX basic exit reasons, as a #VE and a TD exit report them. */
export const EXIT_REASON = {
  CPUID: 10,
  HLT: 12,
  VMCALL: 18,
  IO_INSTRUCTION: 30,
  MSR_READ: 31,
  MSR_WRITE: 32,
  EPT_VIOLATION: 48,
  EPT_MISCONFIG: 49,
  TDCALL: 77,
} as const;

/** The #VE vector. */
export const VE_VECTOR = 20;

/** KVM_MAP_GPA_RANGE attribute encodings (include/uapi/linux/kvm_para.h). */
export const KVM_MAP_GPA_RANGE = { DECRYPTED: 0n, ENCRYPTED: 1n << 4n } as const;

/** KVM_HC_MAP_GPA_RANGE, the hypercall MapGPA is converted into. */
export const KVM_HC_MAP_GPA_RANGE = 12;

/** TDVMCALL<MapGPA> is split into exits of at most this many bytes (TDX_MAP_GPA_MAX_LEN). */
export const TDX_MAP_GPA_MAX_LEN = 2 * 1024 * 1024;

/** TDH.MR.EXTEND measures 256-byte chunks (TDX_EXTENDMR_CHUNKSIZE). */
export const TDX_EXTENDMR_CHUNKSIZE = 256;

/** Private host key ids the virtual platform reserves for TDs: [first, first + count). */
export const TDX_KEYIDS = { first: 32, count: 32 } as const;
