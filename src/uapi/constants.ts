/**
 * Generic KVM constants (include/uapi/linux/kvm.h), declared once. Architecture-specific constants
 * live in x86.ts and arm64.ts, the seed extensions in kvmi.ts and arm64.ts.
 * @module
 */

/** KVM_GET_API_VERSION answer. */
export const KVM_API_VERSION = 12;

/** KVM_CAP_* extension numbers (KVM_CHECK_EXTENSION / KVM_ENABLE_CAP). */
export const KVM_CAP = {
  IRQCHIP: 0,
  HLT: 1,
  MMU_SHADOW_CACHE_CONTROL: 2,
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  VAPIC: 6,
  EXT_CPUID: 7,
  CLOCKSOURCE: 8,
  NR_VCPUS: 9,
  NR_MEMSLOTS: 10,
  PIT: 11,
  NOP_IO_DELAY: 12,
  PV_MMU: 13,
  MP_STATE: 14,
  COALESCED_MMIO: 15,
  SYNC_MMU: 16,
  IOMMU: 18,
  DESTROY_MEMORY_REGION_WORKS: 21,
  USER_NMI: 22,
  SET_GUEST_DEBUG: 23,
  REINJECT_CONTROL: 24,
  IRQ_ROUTING: 25,
  IRQ_INJECT_STATUS: 26,
  ASSIGN_DEV_IRQ: 29,
  JOIN_MEMORY_REGIONS_WORKS: 30,
  MCE: 31,
  IRQFD: 32,
  PIT2: 33,
  SET_BOOT_CPU_ID: 34,
  PIT_STATE2: 35,
  IOEVENTFD: 36,
  SET_IDENTITY_MAP_ADDR: 37,
  XEN_HVM: 38,
  ADJUST_CLOCK: 39,
  INTERNAL_ERROR_DATA: 40,
  VCPU_EVENTS: 41,
  S390_PSW: 42,
  PPC_SEGSTATE: 43,
  HYPERV: 44,
  HYPERV_VAPIC: 45,
  HYPERV_SPIN: 46,
  PCI_SEGMENT: 47,
  PPC_PAIRED_SINGLES: 48,
  INTR_SHADOW: 49,
  DEBUGREGS: 50,
  X86_ROBUST_SINGLESTEP: 51,
  PPC_OSI: 52,
  PPC_UNSET_IRQ: 53,
  ENABLE_CAP: 54,
  XSAVE: 55,
  XCRS: 56,
  PPC_GET_PVINFO: 57,
  PPC_IRQ_LEVEL: 58,
  ASYNC_PF: 59,
  TSC_CONTROL: 60,
  GET_TSC_KHZ: 61,
  PPC_BOOKE_SREGS: 62,
  SPAPR_TCE: 63,
  PPC_SMT: 64,
  PPC_RMA: 65,
  MAX_VCPUS: 66,
  PPC_HIOR: 67,
  PPC_PAPR: 68,
  SW_TLB: 69,
  ONE_REG: 70,
  S390_GMAP: 71,
  TSC_DEADLINE_TIMER: 72,
  S390_UCONTROL: 73,
  SYNC_REGS: 74,
  PCI_2_3: 75,
  KVMCLOCK_CTRL: 76,
  SIGNAL_MSI: 77,
  PPC_GET_SMMU_INFO: 78,
  S390_COW: 79,
  PPC_ALLOC_HTAB: 80,
  READONLY_MEM: 81,
  IRQFD_RESAMPLE: 82,
  PPC_BOOKE_WATCHDOG: 83,
  PPC_HTAB_FD: 84,
  S390_CSS_SUPPORT: 85,
  PPC_EPR: 86,
  ARM_PSCI: 87,
  ARM_SET_DEVICE_ADDR: 88,
  DEVICE_CTRL: 89,
  IRQ_MPIC: 90,
  PPC_RTAS: 91,
  IRQ_XICS: 92,
  ARM_EL1_32BIT: 93,
  SPAPR_MULTITCE: 94,
  EXT_EMUL_CPUID: 95,
  HYPERV_TIME: 96,
  IOAPIC_POLARITY_IGNORED: 97,
  ENABLE_CAP_VM: 98,
  S390_IRQCHIP: 99,
  IOEVENTFD_NO_LENGTH: 100,
  VM_ATTRIBUTES: 101,
  ARM_PSCI_0_2: 102,
  PPC_FIXUP_HCALL: 103,
  PPC_ENABLE_HCALL: 104,
  CHECK_EXTENSION_VM: 105,
  S390_USER_SIGP: 106,
  S390_VECTOR_REGISTERS: 107,
  S390_MEM_OP: 108,
  S390_USER_STSI: 109,
  S390_SKEYS: 110,
  MIPS_FPU: 111,
  MIPS_MSA: 112,
  S390_INJECT_IRQ: 113,
  S390_IRQ_STATE: 114,
  PPC_HWRNG: 115,
  DISABLE_QUIRKS: 116,
  X86_SMM: 117,
  MULTI_ADDRESS_SPACE: 118,
  GUEST_DEBUG_HW_BPS: 119,
  GUEST_DEBUG_HW_WPS: 120,
  SPLIT_IRQCHIP: 121,
  IOEVENTFD_ANY_LENGTH: 122,
  HYPERV_SYNIC: 123,
  S390_RI: 124,
  SPAPR_TCE_64: 125,
  ARM_PMU_V3: 126,
  VCPU_ATTRIBUTES: 127,
  MAX_VCPU_ID: 128,
  X2APIC_API: 129,
  S390_USER_INSTR0: 130,
  MSI_DEVID: 131,
  PPC_HTM: 132,
  SPAPR_RESIZE_HPT: 133,
  PPC_MMU_RADIX: 134,
  PPC_MMU_HASH_V3: 135,
  IMMEDIATE_EXIT: 136,
  MIPS_VZ: 137,
  MIPS_TE: 138,
  MIPS_64BIT: 139,
  S390_GS: 140,
  S390_AIS: 141,
  SPAPR_TCE_VFIO: 142,
  X86_DISABLE_EXITS: 143,
  ARM_USER_IRQ: 144,
  S390_CMMA_MIGRATION: 145,
  PPC_FWNMI: 146,
  PPC_SMT_POSSIBLE: 147,
  HYPERV_SYNIC2: 148,
  HYPERV_VP_INDEX: 149,
  S390_AIS_MIGRATION: 150,
  PPC_GET_CPU_CHAR: 151,
  S390_BPB: 152,
  GET_MSR_FEATURES: 153,
  HYPERV_EVENTFD: 154,
  HYPERV_TLBFLUSH: 155,
  S390_HPAGE_1M: 156,
  NESTED_STATE: 157,
  ARM_INJECT_SERROR_ESR: 158,
  MSR_PLATFORM_INFO: 159,
  PPC_NESTED_HV: 160,
  HYPERV_SEND_IPI: 161,
  COALESCED_PIO: 162,
  HYPERV_ENLIGHTENED_VMCS: 163,
  EXCEPTION_PAYLOAD: 164,
  ARM_VM_IPA_SIZE: 165,
  MANUAL_DIRTY_LOG_PROTECT: 166,
  HYPERV_CPUID: 167,
  MANUAL_DIRTY_LOG_PROTECT2: 168,
  PPC_IRQ_XIVE: 169,
  ARM_SVE: 170,
  ARM_PTRAUTH_ADDRESS: 171,
  ARM_PTRAUTH_GENERIC: 172,
  PMU_EVENT_FILTER: 173,
  ARM_IRQ_LINE_LAYOUT_2: 174,
  HYPERV_DIRECT_TLBFLUSH: 175,
  PPC_GUEST_DEBUG_SSTEP: 176,
  ARM_NISV_TO_USER: 177,
  ARM_INJECT_EXT_DABT: 178,
  S390_VCPU_RESETS: 179,
  S390_PROTECTED: 180,
  PPC_SECURE_GUEST: 181,
  HALT_POLL: 182,
  ASYNC_PF_INT: 183,
  LAST_CPU: 184,
  SMALLER_MAXPHYADDR: 185,
  S390_DIAG318: 186,
  STEAL_TIME: 187,
  X86_USER_SPACE_MSR: 188,
  X86_MSR_FILTER: 189,
  ENFORCE_PV_FEATURE_CPUID: 190,
  SYS_HYPERV_CPUID: 191,
  DIRTY_LOG_RING: 192,
  X86_BUS_LOCK_EXIT: 193,
  PPC_DAWR1: 194,
  SET_GUEST_DEBUG2: 195,
  SGX_ATTRIBUTE: 196,
  VM_COPY_ENC_CONTEXT_FROM: 197,
  PTP_KVM: 198,
  HYPERV_ENFORCE_CPUID: 199,
  SREGS2: 200,
  EXIT_HYPERCALL: 201,
  PPC_RPT_INVALIDATE: 202,
  BINARY_STATS_FD: 203,
  EXIT_ON_EMULATION_FAILURE: 204,
  ARM_MTE: 205,
  VM_MOVE_ENC_CONTEXT_FROM: 206,
  VM_GPA_BITS: 207,
  XSAVE2: 208,
  SYS_ATTRIBUTES: 209,
  PPC_AIL_MODE_3: 210,
  S390_MEM_OP_EXTENSION: 211,
  PMU_CAPABILITY: 212,
  DISABLE_QUIRKS2: 213,
  VM_TSC_CONTROL: 214,
  SYSTEM_EVENT_DATA: 215,
  ARM_SYSTEM_SUSPEND: 216,
  S390_PROTECTED_DUMP: 217,
  X86_TRIPLE_FAULT_EVENT: 218,
  X86_NOTIFY_VMEXIT: 219,
  VM_DISABLE_NX_HUGE_PAGES: 220,
  S390_ZPCI_OP: 221,
  S390_CPU_TOPOLOGY: 222,
  DIRTY_LOG_RING_ACQ_REL: 223,
  S390_PROTECTED_ASYNC_DISABLE: 224,
  DIRTY_LOG_RING_WITH_BITMAP: 225,
  PMU_EVENT_MASKED_EVENTS: 226,
  COUNTER_OFFSET: 227,
  ARM_EAGER_SPLIT_CHUNK_SIZE: 228,
  ARM_SUPPORTED_BLOCK_SIZES: 229,
  ARM_SUPPORTED_REG_MASK_RANGES: 230,
  USER_MEMORY2: 231,
  MEMORY_FAULT_INFO: 232,
  MEMORY_ATTRIBUTES: 233,
  GUEST_MEMFD: 234,
  VM_TYPES: 235,
  PRE_FAULT_MEMORY: 236,
  X86_APIC_BUS_CYCLES_NS: 237,
  X86_GUEST_MODE: 238,
  ARM_WRITABLE_IMP_ID_REGS: 239,
  ARM_EL2: 240,
  ARM_EL2_E2H0: 241,
  RISCV_MP_STATE_RESET: 242,
  ARM_CACHEABLE_PFNMAP_SUPPORTED: 243,
  GUEST_MEMFD_FLAGS: 244,
} as const;

/** KVM_EXIT_* exit reasons (kvm_run.exit_reason). The arm64 IDSR seed reason is in arm64.ts. */
export const KVM_EXIT = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  SET_TPR: 11,
  TPR_ACCESS: 12,
  S390_SIEIC: 13,
  S390_RESET: 14,
  DCR: 15,
  NMI: 16,
  INTERNAL_ERROR: 17,
  OSI: 18,
  PAPR_HCALL: 19,
  S390_UCONTROL: 20,
  WATCHDOG: 21,
  S390_TSCH: 22,
  EPR: 23,
  SYSTEM_EVENT: 24,
  S390_STSI: 25,
  IOAPIC_EOI: 26,
  HYPERV: 27,
  ARM_NISV: 28,
  X86_RDMSR: 29,
  X86_WRMSR: 30,
  DIRTY_RING_FULL: 31,
  AP_RESET_HOLD: 32,
  X86_BUS_LOCK: 33,
  XEN: 34,
  RISCV_SBI: 35,
  RISCV_CSR: 36,
  NOTIFY: 37,
  LOONGARCH_IOCSR: 38,
  MEMORY_FAULT: 39,
  TDX: 40,
} as const;

/** kvm_run.io.direction. */
export const KVM_EXIT_IO = { IN: 0, OUT: 1 } as const;

/** kvm_run.internal.suberror for KVM_EXIT_INTERNAL_ERROR. */
export const KVM_INTERNAL_ERROR = {
  EMULATION: 1,
  SIMUL_EX: 2,
  DELIVERY_EV: 3,
  UNEXPECTED_EXIT_REASON: 4,
} as const;

/** kvm_run.emulation_failure.flags. */
export const KVM_INTERNAL_ERROR_EMULATION_FLAG = { INSTRUCTION_BYTES: 1 } as const;

/** kvm_run.system_event.type. */
export const KVM_SYSTEM_EVENT = {
  SHUTDOWN: 1,
  RESET: 2,
  CRASH: 3,
  WAKEUP: 4,
  SUSPEND: 5,
  SEV_TERM: 6,
  TDX_FATAL: 7,
} as const;

/** kvm_run.msr.reason for KVM_EXIT_X86_RDMSR/WRMSR (also the KVM_CAP_X86_USER_SPACE_MSR arg bits). */
export const KVM_MSR_EXIT_REASON = { INVAL: 1, UNKNOWN: 2, FILTER: 4 } as const;

/** kvm_run.memory_fault.flags. */
export const KVM_MEMORY_EXIT_FLAG = { PRIVATE: 8 } as const;

/** kvm_guest_debug.control: generic bits (arch bits in x86.ts / arm64.ts). */
export const KVM_GUESTDBG = { ENABLE: 0x1, SINGLESTEP: 0x2 } as const;

/** kvm_userspace_memory_region.flags. */
export const KVM_MEM = { LOG_DIRTY_PAGES: 1, READONLY: 2, GUEST_MEMFD: 4 } as const;

/** kvm_memory_attributes.attributes. */
export const KVM_MEMORY_ATTRIBUTE = { PRIVATE: 8 } as const;

/** kvm_create_guest_memfd.flags. */
export const GUEST_MEMFD_FLAG = { MMAP: 1, INIT_SHARED: 2 } as const;

/** kvm_mp_state.mp_state. */
export const KVM_MP_STATE = {
  RUNNABLE: 0,
  UNINITIALIZED: 1,
  INIT_RECEIVED: 2,
  HALTED: 3,
  SIPI_RECEIVED: 4,
  STOPPED: 5,
  CHECK_STOP: 6,
  OPERATING: 7,
  LOAD: 8,
  AP_RESET_HOLD: 9,
  SUSPENDED: 10,
} as const;

/** KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 arg bits. */
export const KVM_DIRTY_LOG = { MANUAL_PROTECT_ENABLE: 1, INITIALLY_SET: 2 } as const;

/** kvm_ioeventfd.flags. */
export const KVM_IOEVENTFD_FLAG = { DATAMATCH: 1, PIO: 2, DEASSIGN: 4, VIRTIO_CCW_NOTIFY: 8 } as const;

/** kvm_irqfd.flags. */
export const KVM_IRQFD_FLAG = { DEASSIGN: 1, RESAMPLE: 2 } as const;

/** kvm_irq_routing_entry.type. */
export const KVM_IRQ_ROUTING = { IRQCHIP: 1, MSI: 2, S390_ADAPTER: 3, HV_SINT: 4, XEN_EVTCHN: 5 } as const;

/** kvm_msi.flags and the flags of an MSI routing entry. */
export const KVM_MSI = { VALID_DEVID: 1 } as const;

/** kvm_create_device.flags. */
export const KVM_CREATE_DEVICE_FLAG = { TEST: 1 } as const;

/** enum kvm_device_type (KVM_CREATE_DEVICE). */
export const KVM_DEV_TYPE = {
  FSL_MPIC_20: 1,
  FSL_MPIC_42: 2,
  XICS: 3,
  VFIO: 4,
  ARM_VGIC_V2: 5,
  FLIC: 6,
  ARM_VGIC_V3: 7,
  ARM_VGIC_ITS: 8,
  XIVE: 9,
  ARM_PV_TIME: 10,
} as const;

/** kvm_clock_data.flags (KVM_GET_CLOCK / KVM_SET_CLOCK, KVM_CAP_ADJUST_CLOCK). */
export const KVM_CLOCK = { TSC_STABLE: 2, REALTIME: 4, HOST_TSC: 8 } as const;

/** eventfd(2) flags (EFD_CLOEXEC is O_CLOEXEC, EFD_NONBLOCK is O_NONBLOCK). */
export const EFD = { SEMAPHORE: 1, CLOEXEC: 0o2000000, NONBLOCK: 0o4000 } as const;

/** fallocate(2) modes (linux/falloc.h): what a guest_memfd takes is KEEP_SIZE with or without PUNCH_HOLE. */
export const FALLOC_FL = { KEEP_SIZE: 0x01, PUNCH_HOLE: 0x02, COLLAPSE_RANGE: 0x08, ZERO_RANGE: 0x10, INSERT_RANGE: 0x20, UNSHARE_RANGE: 0x40 } as const;

/** ONE_REG id encoding (generic part). */
export const KVM_REG = {
  ARCH_MASK: 0xff00000000000000n,
  GENERIC: 0n,
  X86: 0x2000000000000000n,
  ARM64: 0x6000000000000000n,
  SIZE_SHIFT: 52n,
  SIZE_MASK: 0x00f0000000000000n,
  SIZE_U8: 0n,
  SIZE_U16: 0x0010000000000000n,
  SIZE_U32: 0x0020000000000000n,
  SIZE_U64: 0x0030000000000000n,
  SIZE_U128: 0x0040000000000000n,
  SIZE_U256: 0x0050000000000000n,
  SIZE_U512: 0x0060000000000000n,
  SIZE_U1024: 0x0070000000000000n,
  SIZE_U2048: 0x0080000000000000n,
} as const;

/** `KVM_REG_SIZE(id)`: the byte size encoded in a ONE_REG id. */
export const kvmRegSize = (id: bigint): number => 1 << Number((id & KVM_REG.SIZE_MASK) >> KVM_REG.SIZE_SHIFT);

/** A named group of C constants `<prefix><key>`, used by the generated C checks and by trace output. */
export interface ConstGroup {
  readonly prefix: string;
  readonly values: Readonly<Record<string, number | bigint>>;
}

/** The generic constant groups. */
export const genericConstGroups: readonly ConstGroup[] = [
  { prefix: 'KVM_CAP_', values: KVM_CAP },
  { prefix: 'KVM_EXIT_', values: KVM_EXIT },
  { prefix: 'KVM_EXIT_IO_', values: KVM_EXIT_IO },
  { prefix: 'KVM_INTERNAL_ERROR_', values: KVM_INTERNAL_ERROR },
  { prefix: 'KVM_INTERNAL_ERROR_EMULATION_FLAG_', values: KVM_INTERNAL_ERROR_EMULATION_FLAG },
  { prefix: 'KVM_SYSTEM_EVENT_', values: KVM_SYSTEM_EVENT },
  { prefix: 'KVM_MSR_EXIT_REASON_', values: KVM_MSR_EXIT_REASON },
  { prefix: 'KVM_MEMORY_EXIT_FLAG_', values: KVM_MEMORY_EXIT_FLAG },
  { prefix: 'KVM_GUESTDBG_', values: KVM_GUESTDBG },
  { prefix: 'KVM_MEM_', values: KVM_MEM },
  { prefix: 'KVM_MEMORY_ATTRIBUTE_', values: KVM_MEMORY_ATTRIBUTE },
  { prefix: 'GUEST_MEMFD_FLAG_', values: GUEST_MEMFD_FLAG },
  { prefix: 'KVM_MP_STATE_', values: KVM_MP_STATE },
  { prefix: 'KVM_DIRTY_LOG_', values: KVM_DIRTY_LOG },
  { prefix: 'KVM_IOEVENTFD_FLAG_', values: KVM_IOEVENTFD_FLAG },
  { prefix: 'KVM_IRQFD_FLAG_', values: KVM_IRQFD_FLAG },
  { prefix: 'KVM_IRQ_ROUTING_', values: KVM_IRQ_ROUTING },
  { prefix: 'KVM_MSI_', values: KVM_MSI },
  { prefix: 'KVM_CREATE_DEVICE_', values: KVM_CREATE_DEVICE_FLAG },
  { prefix: 'KVM_DEV_TYPE_', values: KVM_DEV_TYPE },
  { prefix: 'KVM_CLOCK_', values: KVM_CLOCK },
  { prefix: 'EFD_', values: EFD },
  { prefix: 'FALLOC_FL_', values: FALLOC_FL },
];

/**
 * The generic groups of the in-kernel device interface (eventfds, routing, devices), which every
 * arch's headers define: the arm64 check covers them too.
 */
export const deviceConstGroups: readonly ConstGroup[] = [
  { prefix: 'KVM_IOEVENTFD_FLAG_', values: KVM_IOEVENTFD_FLAG },
  { prefix: 'KVM_IRQFD_FLAG_', values: KVM_IRQFD_FLAG },
  { prefix: 'KVM_IRQ_ROUTING_', values: KVM_IRQ_ROUTING },
  { prefix: 'KVM_MSI_', values: KVM_MSI },
  { prefix: 'KVM_CREATE_DEVICE_', values: KVM_CREATE_DEVICE_FLAG },
  { prefix: 'KVM_DEV_TYPE_', values: KVM_DEV_TYPE },
  { prefix: 'KVM_CLOCK_', values: KVM_CLOCK },
  { prefix: 'EFD_', values: EFD },
  { prefix: 'KVM_REG_', values: KVM_REG },
  { prefix: 'KVM_', values: { API_VERSION: KVM_API_VERSION } },
];

/** Reverse lookup: the C name of a value in a group (e.g. `constName(KVM_EXIT, 2)` -> 'IO'). */
export function constName<T extends Record<string, number | bigint>>(group: T, value: number | bigint): keyof T | undefined {
  for (const k in group) if (group[k] === value) return k;
  return undefined;
}
