/**
 * arm64 uapi: arch/arm64/include/uapi/asm/kvm.h structs, constants, kvm_run (with the IDSR seed
 * exit) and ioctls.
 * @module
 */
import type { ConstGroup } from './constants.js';
import { defineIoctls, genericIoctlRows, scalarArgs, type IoctlRow } from './ioctls.js';
import { genericStructs, kvmRun } from './kvm.js';
import { array, ext, struct, u128, u32, u64, u8, type Agg, type AnyStruct, type CType } from './layout.js';

export const user_pt_regs = struct('user_pt_regs', { regs: array(u64, 31), sp: u64, pc: u64, pstate: u64 });

export const user_fpsimd_state = struct('user_fpsimd_state', { vregs: array(u128, 32), fpsr: u32, fpcr: u32, __reserved: array(u32, 2) });

/** KVM_NR_SPSR = 5. */
export const kvm_regs = struct('kvm_regs', {
  regs: user_pt_regs,
  sp_el1: u64,
  elr_el1: u64,
  spsr: array(u64, 5),
  fp_regs: user_fpsimd_state,
});

export const kvm_vcpu_init = struct('kvm_vcpu_init', { target: u32, features: array(u32, 7) });

/** KVM_ARM_MAX_DBG_REGS = 16 of each kind. */
export const kvm_guest_debug_arch = struct('kvm_guest_debug_arch', {
  dbg_bcr: array(u64, 16),
  dbg_bvr: array(u64, 16),
  dbg_wcr: array(u64, 16),
  dbg_wvr: array(u64, 16),
});

export const kvm_guest_debug = struct('kvm_guest_debug', { control: u32, pad: u32, arch: kvm_guest_debug_arch });

/** hsr is ESR_EL2[31:0]; hsr_high is ESR_EL2[61:32], valid when flags carry KVM_DEBUG_ARCH_HSR_HIGH_VALID. */
export const kvm_debug_exit_arch = struct('kvm_debug_exit_arch', { hsr: u32, hsr_high: u32, far: u64 });

export const kvm_sync_regs = struct('kvm_sync_regs', { device_irq_level: u64 });

/** KVM_ARM_SET_DEVICE_ADDR (the legacy GICv2 address setting): id = device id << 16 | address type. */
export const kvm_arm_device_addr = struct('kvm_arm_device_addr', { id: u64, addr: u64 });

/** KVM_ARM_SET_COUNTER_OFFSET (6.4): one offset for the virtual and physical counters of every vCPU. */
export const kvm_arm_counter_offset = struct('kvm_arm_counter_offset', { counter_offset: u64, reserved: u64 }, { ext: true });

/** KVM_SET_DEVICE_ATTR KVM_ARM_VM_SMCCC_FILTER on the VM fd (6.4): what KVM does with SMCCC calls in [base, base + nr_functions). */
export const kvm_smccc_filter = struct('kvm_smccc_filter', { base: u32, nr_functions: u32, action: u8, pad: array(u8, 15) }, { ext: true });

/**
 * The IDSR seed exit payload (KVM_EXIT_ARM_IDSR): an EL1 access to an implementation-defined
 * system register, forwarded to the VMM. See include/vkvm/arm_idsr.h for the state machine.
 */
export const kvm_run_arm_idsr = struct(null, {
  Op0: u8,
  Op1: u8,
  CRn: u8,
  CRm: u8,
  Op2: u8,
  padding: array(u8, 3),
  regval: u64,
  is_write: u8,
  is_needed: u8,
  is_handled: u8,
});

export const kvm_run = kvmRun({
  debugExitArch: kvm_debug_exit_arch,
  syncRegs: kvm_sync_regs,
  extraExits: { arm_idsr: ext(kvm_run_arm_idsr, { cStruct: 'kvm_run_arm_idsr', anchor: 'padding' }) },
});

/** Every arm64 struct, generic ones included. */
export const structs = {
  ...genericStructs,
  kvm_run,
  user_pt_regs,
  user_fpsimd_state,
  kvm_regs,
  kvm_vcpu_init,
  kvm_guest_debug_arch,
  kvm_guest_debug,
  kvm_debug_exit_arch,
  kvm_sync_regs,
  kvm_arm_device_addr,
  kvm_arm_counter_offset,
  kvm_smccc_filter,
} satisfies Record<string, AnyStruct>;

// ---------------------------------------------------------------------------------------------
// Constants

/** arm64 kvm_guest_debug.control bits. */
export const KVM_GUESTDBG_ARM64 = { USE_SW_BP: 1 << 16, USE_HW: 1 << 17 } as const;

/** kvm_vcpu_init.features bit numbers. */
export const KVM_ARM_VCPU = {
  POWER_OFF: 0,
  EL1_32BIT: 1,
  PSCI_0_2: 2,
  PMU_V3: 3,
  SVE: 4,
  PTRAUTH_ADDRESS: 5,
  PTRAUTH_GENERIC: 6,
} as const;

/** KVM_ARM_PREFERRED_TARGET targets. */
export const KVM_ARM_TARGET = {
  AEM_V8: 0,
  FOUNDATION_V8: 1,
  CORTEX_A57: 2,
  XGENE_POTENZA: 3,
  CORTEX_A53: 4,
  GENERIC_V8: 5,
} as const;

/** ONE_REG id fields on arm64. */
export const KVM_REG_ARM = {
  COPROC_MASK: 0x0fff0000,
  COPROC_SHIFT: 16,
  CORE: 0x0010 << 16,
  DEMUX: 0x0011 << 16,
  FW: 0x0014 << 16,
  FW_FEAT_BMAP: 0x0016 << 16,
} as const;

/** System-register ONE_REG encoding (KVM_REG_ARM64_SYSREG_*). */
export const KVM_REG_ARM64_SYSREG = {
  /** The coproc value itself: `KVM_REG_ARM64_SYSREG`. */
  '': 0x0013 << 16,
  _OP0_MASK: 0xc000,
  _OP0_SHIFT: 14,
  _OP1_MASK: 0x3800,
  _OP1_SHIFT: 11,
  _CRN_MASK: 0x0780,
  _CRN_SHIFT: 7,
  _CRM_MASK: 0x0078,
  _CRM_SHIFT: 3,
  _OP2_MASK: 0x0007,
  _OP2_SHIFT: 0,
} as const;

/** Names `coreRegId` accepts besides kvm_regs member paths. */
const CORE_ALIASES: Readonly<Record<string, string>> = {
  ...Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`x${i}`, `regs.regs[${i}]`])),
  ...Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`v${i}`, `fp_regs.vregs[${i}]`])),
  pc: 'regs.pc',
  /** SP_EL0, as in struct user_pt_regs (SP_EL1 is `sp_el1`). */
  sp: 'regs.sp',
  pstate: 'regs.pstate',
  fpsr: 'fp_regs.fpsr',
  fpcr: 'fp_regs.fpcr',
};

/**
 * `KVM_REG_ARM_CORE_REG(name)` with its `KVM_REG_SIZE_*`: the ONE_REG id of a core register,
 * which addresses struct kvm_regs in 32-bit words. `path` is what the C macro takes — a member
 * path with array indices (`'regs.regs[5]'`, `'regs.pc'`, `'sp_el1'`, `'spsr[0]'`,
 * `'fp_regs.vregs[31]'`, `'fp_regs.fpcr'`; an array without an index means its element 0) —
 * or a short name: `x0`..`x30`, `v0`..`v31`, `pc`, `sp` (SP_EL0), `pstate`, `fpsr`, `fpcr`.
 * The size is the register's own: 128 bits for V registers, 32 for FPSR/FPCR, else 64.
 * Throws a RangeError for a path kvm_regs does not have.
 */
export function coreRegId(path: string): bigint {
  const full = CORE_ALIASES[path] ?? path;
  let t: CType = kvm_regs;
  let off = 0;
  for (const part of full.split('.')) {
    const m = /^([A-Za-z_]\w*)(?:\[(\d+)\])?$/.exec(part);
    const member: Agg['members'][number] | undefined = m && (t.kind === 'struct' || t.kind === 'union') ? t.members.find((x) => x.name === m[1]) : undefined;
    if (!m || !member) throw new RangeError(`kvm_regs has no core register ${path}`);
    off += member.offset;
    t = member.type;
    if (t.kind === 'array') {
      const i = m[2] === undefined ? 0 : Number(m[2]);
      if (i >= t.count) throw new RangeError(`${path}: index ${i} is past the ${t.count} elements of ${m[1]}`);
      off += i * t.elem.size;
      t = t.elem;
    } else if (m[2] !== undefined) throw new RangeError(`${path}: ${m[1]} is not an array`);
  }
  const sizes: Partial<Record<number, bigint>> = { 4: 0x0020000000000000n, 8: 0x0030000000000000n, 16: 0x0040000000000000n };
  const size = t.kind === 'scalar' ? sizes[t.size] : undefined;
  if (size === undefined) throw new RangeError(`${path} is not a core register (a ${t.kind} of ${t.size} bytes)`);
  return 0x6000000000000000n | size | BigInt(KVM_REG_ARM.CORE) | BigInt(off / 4);
}

/** `ARM64_SYS_REG(op0, op1, crn, crm, op2)`: a 64-bit sysreg ONE_REG id. */
export function sysRegId(op0: number, op1: number, crn: number, crm: number, op2: number): bigint {
  return 0x6000000000000000n | 0x0030000000000000n | BigInt(KVM_REG_ARM64_SYSREG['']) |
    BigInt(((op0 << 14) & 0xc000) | ((op1 << 11) & 0x3800) | ((crn << 7) & 0x0780) | ((crm << 3) & 0x78) | (op2 & 7));
}

/** The VM's SMCCC device attributes (KVM_ARM_VM_SMCCC_CTRL / _FILTER), the filter's actions, and the arm64 KVM_EXIT_HYPERCALL flags. */
export const KVM_ARM_VM_SMCCC = { CTRL: 0, FILTER: 0 } as const;
export const KVM_SMCCC_FILTER = { HANDLE: 0, DENY: 1, FWD_TO_USER: 2 } as const;
export const KVM_HYPERCALL_EXIT = { SMC: 1, '16BIT': 2 } as const;

/** Feature bits of the bitmapped firmware registers KVM_REG_ARM_{STD,STD_HYP,VENDOR_HYP}_BMAP. */
export const KVM_REG_ARM_FW_BIT = {
  STD_BIT_TRNG_V1_0: 0,
  STD_HYP_BIT_PV_TIME: 0,
  VENDOR_HYP_BIT_FUNC_FEAT: 0,
  VENDOR_HYP_BIT_PTP: 1,
} as const;

/**
 * SMCCC function ids and return values KVM serves (include/linux/arm-smccc.h: not uapi, so not
 * among the gcc-checked constants; the values are the SMC Calling Convention's and ARM DEN0057A /
 * DEN0098's).
 */
export const ARM_SMCCC = {
  VERSION_FUNC_ID: 0x80000000,
  ARCH_FEATURES_FUNC_ID: 0x80000001,
  ARCH_WORKAROUND_1: 0x80008000,
  ARCH_WORKAROUND_2: 0x80007fff,
  ARCH_WORKAROUND_3: 0x80003fff,
  VERSION_1_1: 0x10001,
  VENDOR_HYP_CALL_UID_FUNC_ID: 0x8600ff01,
  VENDOR_HYP_KVM_FEATURES_FUNC_ID: 0x86000000,
  VENDOR_HYP_KVM_PTP_FUNC_ID: 0x86000001,
  HV_PV_TIME_FEATURES: 0xc5000020,
  HV_PV_TIME_ST: 0xc5000021,
  TRNG_VERSION: 0x84000050,
  TRNG_FEATURES: 0x84000051,
  TRNG_GET_UUID: 0x84000052,
  TRNG_RND32: 0x84000053,
  TRNG_RND64: 0xc4000053,
  /** ARM_SMCCC_OWNER_STANDARD (bits 29:24 of a function id). */
  OWNER_STANDARD: 4,
  RET_SUCCESS: 0,
  RET_NOT_SUPPORTED: -1,
  RET_NOT_REQUIRED: -2,
  RET_INVALID_PARAMETER: -3,
} as const;

/** ptp_kvm's counter selector (KVM_PTP_VIRT_COUNTER, KVM_PTP_PHYS_COUNTER). */
export const KVM_PTP = { VIRT_COUNTER: 0, PHYS_COUNTER: 1 } as const;

/**
 * struct pvclock_vcpu_stolen_time (arch/arm64/include/asm/pvclock-abi.h, ARM DEN0057A): the PV
 * time structure in guest memory, little-endian, 64 bytes. Kernel-internal, not uapi: no header
 * to check it against, the guest test (test/guests/arm64/hypercalls.S) reads it at these offsets.
 */
export const pvclock_vcpu_stolen_time = struct('pvclock_vcpu_stolen_time', {
  revision: u32,
  attributes: u32,
  stolen_time: u64,
  padding: array(u8, 48),
});

/** PSCI function ids and return codes (include/uapi/linux/psci.h). */
export const PSCI = {
  '0_2_FN_BASE': 0x84000000,
  '0_2_64BIT': 0x40000000,
  '0_2_FN_PSCI_VERSION': 0x84000000,
  '0_2_FN_CPU_SUSPEND': 0x84000001,
  '0_2_FN_CPU_OFF': 0x84000002,
  '0_2_FN_CPU_ON': 0x84000003,
  '0_2_FN_AFFINITY_INFO': 0x84000004,
  '0_2_FN_MIGRATE': 0x84000005,
  '0_2_FN_MIGRATE_INFO_TYPE': 0x84000006,
  '0_2_FN_MIGRATE_INFO_UP_CPU': 0x84000007,
  '0_2_FN_SYSTEM_OFF': 0x84000008,
  '0_2_FN_SYSTEM_RESET': 0x84000009,
  '0_2_FN64_CPU_SUSPEND': 0xc4000001,
  '0_2_FN64_CPU_ON': 0xc4000003,
  '0_2_FN64_AFFINITY_INFO': 0xc4000004,
  '1_0_FN_PSCI_FEATURES': 0x8400000a,
  '1_0_FN_SYSTEM_SUSPEND': 0x8400000e,
  '1_0_FN64_SYSTEM_SUSPEND': 0xc400000e,
  '1_1_FN_SYSTEM_RESET2': 0x84000012,
  '1_1_FN64_SYSTEM_RESET2': 0xc4000012,
  '1_1_RESET_TYPE_SYSTEM_WARM_RESET': 0,
  '1_1_RESET_TYPE_VENDOR_START': 0x80000000,
  RET_SUCCESS: 0,
  RET_NOT_SUPPORTED: -1,
  RET_INVALID_PARAMS: -2,
  RET_DENIED: -3,
  RET_ALREADY_ON: -4,
  RET_ON_PENDING: -5,
  RET_INTERNAL_FAILURE: -6,
  RET_NOT_PRESENT: -7,
  RET_DISABLED: -8,
  RET_INVALID_ADDRESS: -9,
} as const;

/** kvm_run.system_event.data[0] of a KVM_SYSTEM_EVENT_RESET on arm64 (KVM_SYSTEM_EVENT_RESET_FLAG_*). */
export const KVM_SYSTEM_EVENT_RESET_FLAG = { PSCI_RESET2: 1 } as const;

/** KVM_ARM_SET_DEVICE_ADDR id fields and device (KVM_ARM_DEVICE_*). */
export const KVM_ARM_DEVICE = { TYPE_SHIFT: 0, TYPE_MASK: 0xffff, ID_SHIFT: 16, ID_MASK: 0xffff0000, VGIC_V2: 0 } as const;

/** vGIC address types and frame sizes (KVM_VGIC_*). */
export const KVM_VGIC = {
  V2_ADDR_TYPE_DIST: 0,
  V2_ADDR_TYPE_CPU: 1,
  V2_DIST_SIZE: 0x1000,
  V2_CPU_SIZE: 0x2000,
  V3_ADDR_TYPE_DIST: 2,
  V3_ADDR_TYPE_REDIST: 3,
  ITS_ADDR_TYPE: 4,
  V3_ADDR_TYPE_REDIST_REGION: 5,
  V3_DIST_SIZE: 0x10000,
  V3_REDIST_SIZE: 0x20000,
  V3_ITS_SIZE: 0x20000,
} as const;

/** The vGIC device's attribute groups and fields (KVM_DEV_ARM_VGIC_*). */
export const KVM_DEV_ARM_VGIC = {
  GRP_ADDR: 0,
  GRP_DIST_REGS: 1,
  GRP_CPU_REGS: 2,
  CPUID_SHIFT: 32,
  CPUID_MASK: 0xffn << 32n,
  V3_MPIDR_SHIFT: 32,
  V3_MPIDR_MASK: 0xffffffffn << 32n,
  OFFSET_SHIFT: 0,
  OFFSET_MASK: 0xffffffffn,
  SYSREG_INSTR_MASK: 0xffff,
  GRP_NR_IRQS: 3,
  GRP_CTRL: 4,
  GRP_REDIST_REGS: 5,
  GRP_CPU_SYSREGS: 6,
  GRP_LEVEL_INFO: 7,
  GRP_ITS_REGS: 8,
  LINE_LEVEL_INFO_SHIFT: 10,
  LINE_LEVEL_INFO_MASK: 0x3fffffn << 10n,
  LINE_LEVEL_INTID_MASK: 0x3ff,
  CTRL_INIT: 0,
  SAVE_PENDING_TABLES: 3,
} as const;

/** The ITS device's KVM_DEV_ARM_VGIC_GRP_CTRL attributes (KVM_DEV_ARM_ITS_*; uapi names them apart). */
export const KVM_DEV_ARM_ITS = {
  SAVE_TABLES: 1,
  RESTORE_TABLES: 2,
  CTRL_RESET: 4,
} as const;

/** KVM_IRQ_LINE's irq field on arm64 (KVM_ARM_IRQ_*): vcpu2:4 | type:4 | vcpu:8 | num:16. */
export const KVM_ARM_IRQ = {
  VCPU2_SHIFT: 28,
  VCPU2_MASK: 0xf,
  TYPE_SHIFT: 24,
  TYPE_MASK: 0xf,
  VCPU_SHIFT: 16,
  VCPU_MASK: 0xff,
  NUM_SHIFT: 0,
  NUM_MASK: 0xffff,
  TYPE_CPU: 0,
  TYPE_SPI: 1,
  TYPE_PPI: 2,
  CPU_IRQ: 0,
  CPU_FIQ: 1,
} as const;

/** vCPU device attributes: groups and the timer's (KVM_ARM_VCPU_*_CTRL, KVM_ARM_VCPU_TIMER_IRQ_*). */
export const KVM_ARM_VCPU_ATTR = {
  PMU_V3_CTRL: 0,
  TIMER_CTRL: 1,
  PVTIME_CTRL: 2,
  PVTIME_IPA: 0,
  TIMER_IRQ_VTIMER: 0,
  TIMER_IRQ_PTIMER: 1,
  TIMER_IRQ_HVTIMER: 2,
  TIMER_IRQ_HPTIMER: 3,
} as const;

/**
 * The IDSR seed extension numbers ("KVM: arm64: Add support for IDSR exits to userspace", 2020).
 * They clash with upstream numbers of other arches (29 is KVM_EXIT_X86_RDMSR, 180 is
 * KVM_CAP_S390_PROTECTED), which is why they are only active on arm64 VMs.
 */
export const KVM_ARM_IDSR = { KVM_CAP_ARM_IDSR_TO_USER: 180, KVM_EXIT_ARM_IDSR: 29 } as const;

/**
 * Page offsets inside the vCPU mmap: KVM_COALESCED_MMIO_PAGE_OFFSET (no PIO page on arm64), and
 * the dirty ring's KVM_DIRTY_LOG_PAGE_OFFSET, as on x86 (arm64's uapi defines it since the dirty
 * ring came to arm64 in 6.3 — the 6.1 headers the C checks use still fall back to 0, so it is not
 * among the checked constants).
 */
export const KVM_PAGE_OFFSET = { COALESCED_MMIO: 1, DIRTY_LOG: 64 } as const;

/** arm64 constant groups for the C checks. */
export const constGroups: readonly ConstGroup[] = [
  { prefix: 'KVM_GUESTDBG_', values: KVM_GUESTDBG_ARM64 },
  { prefix: 'KVM_ARM_VCPU_', values: KVM_ARM_VCPU },
  { prefix: 'KVM_ARM_TARGET_', values: KVM_ARM_TARGET },
  { prefix: 'KVM_REG_ARM_', values: KVM_REG_ARM },
  { prefix: 'KVM_REG_ARM_', values: KVM_REG_ARM_FW_BIT },
  { prefix: 'KVM_ARM_VM_SMCCC_', values: KVM_ARM_VM_SMCCC },
  { prefix: 'KVM_SMCCC_FILTER_', values: KVM_SMCCC_FILTER },
  { prefix: 'KVM_HYPERCALL_EXIT_', values: KVM_HYPERCALL_EXIT },
  { prefix: 'KVM_REG_ARM64_SYSREG', values: KVM_REG_ARM64_SYSREG },
  { prefix: 'PSCI_', values: PSCI },
  { prefix: 'KVM_SYSTEM_EVENT_RESET_FLAG_', values: KVM_SYSTEM_EVENT_RESET_FLAG },
  { prefix: 'KVM_', values: { COALESCED_MMIO_PAGE_OFFSET: KVM_PAGE_OFFSET.COALESCED_MMIO } },
  // The masks and frame sizes the C headers spell with kernel-only macros (__GENMASK, SZ_64K) stay unchecked.
  { prefix: 'KVM_ARM_DEVICE_', values: { TYPE_SHIFT: KVM_ARM_DEVICE.TYPE_SHIFT, ID_SHIFT: KVM_ARM_DEVICE.ID_SHIFT, VGIC_V2: KVM_ARM_DEVICE.VGIC_V2 } },
  { prefix: 'KVM_VGIC_', values: Object.fromEntries(Object.entries(KVM_VGIC).filter(([k]) => !/^V3_.*SIZE$/.test(k))) },
  { prefix: 'KVM_DEV_ARM_VGIC_', values: KVM_DEV_ARM_VGIC },
  { prefix: 'KVM_DEV_ARM_ITS_', values: KVM_DEV_ARM_ITS },
  { prefix: 'KVM_ARM_IRQ_', values: KVM_ARM_IRQ },
  { prefix: 'KVM_ARM_VCPU_', values: KVM_ARM_VCPU_ATTR },
  { prefix: '', values: KVM_ARM_IDSR },
  { prefix: 'KVM_', values: { DEBUG_ARCH_HSR_HIGH_VALID: 1, ARM_MAX_DBG_REGS: 16, NR_SPSR: 5, VM_TYPE_ARM_IPA_SIZE_MASK: 0xffn, NR_IRQCHIPS: 1 } },
];

// ---------------------------------------------------------------------------------------------
// ioctls

const arm64Rows = [
  ['ARM_VCPU_INIT', 'w', 0xae, kvm_vcpu_init, ['vcpu']],
  ['ARM_PREFERRED_TARGET', 'r', 0xaf, kvm_vcpu_init, ['vm']],
  ['ARM_SET_DEVICE_ADDR', 'w', 0xab, kvm_arm_device_addr, ['vm']],
  ['ARM_SET_COUNTER_OFFSET', 'w', 0xb5, kvm_arm_counter_offset, ['vm']],
  ['ARM_VCPU_FINALIZE', 'w', 0xc2, scalarArgs.int, ['vcpu']],
] as const satisfies readonly IoctlRow[];

/** Every arm64 KVM ioctl this project declares, by C name. */
export const ioctls = defineIoctls([...genericIoctlRows({ ...structs }), ...arm64Rows]);
