/**
 * x86-64 uapi: arch/x86/include/uapi/asm/kvm.h structs (incl. TDX), constants, kvm_run and ioctls.
 * @module
 */
import type { ConstGroup } from './constants.js';
import { defineIoctls, genericIoctlRows, scalarArgs, type IoctlRow } from './ioctls.js';
import { genericStructs, kvmRun } from './kvm.js';
import { array, char, flex, ptr, s64, struct, u16, u32, u64, u8, union, type AnyStruct } from './layout.js';

export const kvm_regs = struct('kvm_regs', {
  rax: u64, rbx: u64, rcx: u64, rdx: u64,
  rsi: u64, rdi: u64, rsp: u64, rbp: u64,
  r8: u64, r9: u64, r10: u64, r11: u64,
  r12: u64, r13: u64, r14: u64, r15: u64,
  rip: u64, rflags: u64,
});

export const kvm_segment = struct('kvm_segment', {
  base: u64,
  limit: u32,
  selector: u16,
  type: u8,
  present: u8, dpl: u8, db: u8, s: u8, l: u8, g: u8, avl: u8,
  unusable: u8,
  padding: u8,
});

export const kvm_dtable = struct('kvm_dtable', { base: u64, limit: u16, padding: array(u16, 3) });

const segments = {
  cs: kvm_segment, ds: kvm_segment, es: kvm_segment, fs: kvm_segment, gs: kvm_segment, ss: kvm_segment,
  tr: kvm_segment, ldt: kvm_segment,
  gdt: kvm_dtable, idt: kvm_dtable,
  cr0: u64, cr2: u64, cr3: u64, cr4: u64, cr8: u64,
  efer: u64,
  apic_base: u64,
} as const;

/** KVM_NR_INTERRUPTS = 256 -> four u64 words. */
export const kvm_sregs = struct('kvm_sregs', { ...segments, interrupt_bitmap: array(u64, 4) });

export const kvm_sregs2 = struct('kvm_sregs2', { ...segments, flags: u64, pdptrs: array(u64, 4) });

export const kvm_fpu = struct('kvm_fpu', {
  fpr: array(array(u8, 16), 8),
  fcw: u16,
  fsw: u16,
  ftwx: u8,
  pad1: u8,
  last_opcode: u16,
  last_ip: u64,
  last_dp: u64,
  xmm: array(array(u8, 16), 16),
  mxcsr: u32,
  pad2: u32,
});

export const kvm_msr_entry = struct('kvm_msr_entry', { index: u32, reserved: u32, data: u64 });
export const kvm_msrs = struct('kvm_msrs', { nmsrs: u32, pad: u32, entries: flex(kvm_msr_entry, 'nmsrs') });
export const kvm_msr_list = struct('kvm_msr_list', { nmsrs: u32, indices: flex(u32, 'nmsrs') });

export const kvm_msr_filter_range = struct('kvm_msr_filter_range', { flags: u32, nmsrs: u32, base: u32, bitmap: ptr });
/** KVM_MSR_FILTER_MAX_RANGES = 16. */
export const kvm_msr_filter = struct('kvm_msr_filter', { flags: u32, ranges: array(kvm_msr_filter_range, 16) });

/** KVM_X86_SET_MCE: a machine-check error put into one bank. */
export const kvm_x86_mce = struct('kvm_x86_mce', { status: u64, addr: u64, misc: u64, mcg_status: u64, bank: u8, pad1: array(u8, 7), pad2: array(u64, 3) });

export const kvm_cpuid_entry2 = struct('kvm_cpuid_entry2', {
  function: u32,
  index: u32,
  flags: u32,
  eax: u32, ebx: u32, ecx: u32, edx: u32,
  padding: array(u32, 3),
});
export const kvm_cpuid2 = struct('kvm_cpuid2', { nent: u32, padding: u32, entries: flex(kvm_cpuid_entry2, 'nent') });

export const kvm_debug_exit_arch = struct('kvm_debug_exit_arch', { exception: u32, pad: u32, pc: u64, dr6: u64, dr7: u64 });
export const kvm_guest_debug_arch = struct('kvm_guest_debug_arch', { debugreg: array(u64, 8) });
export const kvm_guest_debug = struct('kvm_guest_debug', { control: u32, pad: u32, arch: kvm_guest_debug_arch });

export const kvm_vcpu_events = struct('kvm_vcpu_events', {
  exception: struct(null, { injected: u8, nr: u8, has_error_code: u8, pending: u8, error_code: u32 }),
  interrupt: struct(null, { injected: u8, nr: u8, soft: u8, shadow: u8 }),
  nmi: struct(null, { injected: u8, pending: u8, masked: u8, pad: u8 }),
  sipi_vector: u32,
  flags: u32,
  smi: struct(null, { smm: u8, pending: u8, smm_inside_nmi: u8, latched_init: u8 }),
  triple_fault: struct(null, { pending: u8 }),
  reserved: array(u8, 26),
  exception_has_payload: u8,
  exception_payload: u64,
});

export const kvm_debugregs = struct('kvm_debugregs', { db: array(u64, 4), dr6: u64, dr7: u64, flags: u64, reserved: array(u64, 9) });

/** The uabi XSAVE image (standard format); KVM_GET_XSAVE2 may use more than the 4096 bytes (`extra[]`, empty here). */
export const kvm_xsave = struct('kvm_xsave', { region: array(u32, 1024) });

export const kvm_xcr = struct('kvm_xcr', { xcr: u32, reserved: u32, value: u64 });
/** KVM_MAX_XCRS = 16. */
export const kvm_xcrs = struct('kvm_xcrs', { nr_xcrs: u32, flags: u32, xcrs: array(kvm_xcr, 16), padding: array(u64, 16) });

export const kvm_sync_regs = struct('kvm_sync_regs', { regs: kvm_regs, sregs: kvm_sregs, events: kvm_vcpu_events });

export const kvm_pit_config = struct('kvm_pit_config', { flags: u32, pad: array(u32, 15) });

// The in-kernel irqchip's state (KVM_GET/SET_IRQCHIP, KVM_GET/SET_LAPIC, KVM_GET/SET_PIT(2)).

export const kvm_pic_state = struct('kvm_pic_state', {
  last_irr: u8,
  irr: u8,
  imr: u8,
  isr: u8,
  priority_add: u8,
  irq_base: u8,
  read_reg_select: u8,
  poll: u8,
  special_mask: u8,
  init_state: u8,
  auto_eoi: u8,
  rotate_on_auto_eoi: u8,
  special_fully_nested_mode: u8,
  init4: u8,
  elcr: u8,
  elcr_mask: u8,
});

/**
 * An IOAPIC redirection entry: the C union of `__u64 bits` and a bitfield struct; the bitfields
 * are decoded from `bits` (vector 0-7, delivery_mode 8-10, dest_mode 11, delivery_status 12,
 * polarity 13, remote_irr 14, trig_mode 15, mask 16, dest_id 56-63).
 */
export const kvm_ioapic_redirtbl = union(null, { bits: u64 });
export const kvm_ioapic_state = struct('kvm_ioapic_state', {
  base_address: u64,
  ioregsel: u32,
  id: u32,
  irr: u32,
  pad: u32,
  redirtbl: array(kvm_ioapic_redirtbl, 24),
});

/** struct kvm_irqchip: chip_id selects the view of the 512-byte union. */
export const kvm_irqchip = struct('kvm_irqchip', {
  chip_id: u32,
  pad: u32,
  chip: union(null, { dummy: array(char, 512), pic: kvm_pic_state, ioapic: kvm_ioapic_state }),
});

/** KVM_APIC_REG_SIZE = 0x400: the local APIC register page as the APIC's MMIO layout. */
export const kvm_lapic_state = struct('kvm_lapic_state', { regs: array(char, 0x400) });

export const kvm_pit_channel_state = struct('kvm_pit_channel_state', {
  count: u32,
  latched_count: u16,
  count_latched: u8,
  status_latched: u8,
  status: u8,
  read_state: u8,
  write_state: u8,
  write_latch: u8,
  rw_mode: u8,
  mode: u8,
  bcd: u8,
  gate: u8,
  count_load_time: s64,
});
export const kvm_pit_state = struct('kvm_pit_state', { channels: array(kvm_pit_channel_state, 3) });
export const kvm_pit_state2 = struct('kvm_pit_state2', { channels: array(kvm_pit_channel_state, 3), flags: u32, reserved: array(u32, 9) });
export const kvm_reinject_control = struct('kvm_reinject_control', { pit_reinject: u8, reserved: array(u8, 31) });

// TDX (arch/x86/include/uapi/asm/kvm.h, Linux 6.16+)

export const kvm_tdx_cmd = struct('kvm_tdx_cmd', { id: u32, flags: u32, data: u64, hw_error: u64 }, { ext: true });

export const kvm_tdx_capabilities = struct(
  'kvm_tdx_capabilities',
  {
    supported_attrs: u64,
    supported_xfam: u64,
    kernel_tdvmcallinfo_1_r11: u64,
    user_tdvmcallinfo_1_r11: u64,
    kernel_tdvmcallinfo_1_r12: u64,
    user_tdvmcallinfo_1_r12: u64,
    /** KVM_TDX_CAP_* (6.18: KVM_TDX_CAP_TERMINATE_VM). */
    supported_caps: u64,
    reserved: array(u64, 249),
    cpuid: kvm_cpuid2,
  },
  { ext: true },
);

export const kvm_tdx_init_vm = struct(
  'kvm_tdx_init_vm',
  {
    attributes: u64,
    xfam: u64,
    mrconfigid: array(u64, 6),
    mrowner: array(u64, 6),
    mrownerconfig: array(u64, 6),
    reserved: array(u64, 12),
    cpuid: kvm_cpuid2,
  },
  { ext: true },
);

export const kvm_tdx_init_mem_region = struct('kvm_tdx_init_mem_region', { source_addr: u64, gpa: u64, nr_pages: u64 }, { ext: true });

export const kvm_run = kvmRun({ debugExitArch: kvm_debug_exit_arch, syncRegs: kvm_sync_regs, extraExits: {} });

/** Every x86-64 struct, generic ones included. */
export const structs = {
  ...genericStructs,
  kvm_run,
  kvm_regs,
  kvm_segment,
  kvm_dtable,
  kvm_sregs,
  kvm_sregs2,
  kvm_fpu,
  kvm_msr_entry,
  kvm_msrs,
  kvm_msr_list,
  kvm_msr_filter_range,
  kvm_msr_filter,
  kvm_x86_mce,
  kvm_cpuid_entry2,
  kvm_cpuid2,
  kvm_debug_exit_arch,
  kvm_guest_debug_arch,
  kvm_guest_debug,
  kvm_vcpu_events,
  kvm_debugregs,
  kvm_xsave,
  kvm_xcr,
  kvm_xcrs,
  kvm_sync_regs,
  kvm_pit_config,
  kvm_pic_state,
  kvm_ioapic_state,
  kvm_irqchip,
  kvm_lapic_state,
  kvm_pit_channel_state,
  kvm_pit_state,
  kvm_pit_state2,
  kvm_reinject_control,
  kvm_tdx_cmd,
  kvm_tdx_capabilities,
  kvm_tdx_init_vm,
  kvm_tdx_init_mem_region,
} satisfies Record<string, AnyStruct>;

// ---------------------------------------------------------------------------------------------
// Constants

/** x86 kvm_guest_debug.control bits. */
export const KVM_GUESTDBG_X86 = {
  USE_SW_BP: 0x00010000,
  USE_HW_BP: 0x00020000,
  INJECT_DB: 0x00040000,
  INJECT_BP: 0x00080000,
  BLOCKIRQ: 0x00100000,
} as const;

/** kvm_irq_routing_irqchip.irqchip on x86 (KVM_NR_IRQCHIPS = 3). */
export const KVM_IRQCHIP = { PIC_MASTER: 0, PIC_SLAVE: 1, IOAPIC: 2 } as const;

/** KVM_IOAPIC_NUM_PINS */
export const KVM_IOAPIC_NUM_PINS = 24;

/** KVM_CREATE_PIT2 kvm_pit_config.flags. */
export const KVM_PIT = { SPEAKER_DUMMY: 1 } as const;

/** kvm_pit_state2.flags. */
export const KVM_PIT_FLAGS = { HPET_LEGACY: 1, SPEAKER_DATA_ON: 2 } as const;

/** KVM_CAP_X2APIC_API args[0] bits. */
export const KVM_X2APIC_API = { USE_32BIT_IDS: 1, DISABLE_BROADCAST_QUIRK: 2 } as const;

/** KVM_CAP_DISABLE_QUIRKS(2) bits (the ones the irqchip honours). */
export const KVM_X86_QUIRK = { LINT0_REENABLED: 1, CD_NW_CLEARED: 2, LAPIC_MMIO_HOLE: 4, OUT_7E_INC_RIP: 8, MISC_ENABLE_NO_MWAIT: 0x10 } as const;

/** KVM_CREATE_VM machine types on x86. */
export const KVM_X86_VM = { DEFAULT_VM: 0, SW_PROTECTED_VM: 1, SEV_VM: 2, SEV_ES_VM: 3, SNP_VM: 4, TDX_VM: 5 } as const;

/** enum kvm_tdx_cmd_id (KVM_MEMORY_ENCRYPT_OP sub-commands for TDX). */
export const KVM_TDX = {
  CAPABILITIES: 0,
  INIT_VM: 1,
  INIT_VCPU: 2,
  INIT_MEM_REGION: 3,
  FINALIZE_VM: 4,
  GET_CPUID: 5,
  TERMINATE_VM: 6,
  CMD_NR_MAX: 7,
  /** kvm_tdx_cmd.flags for INIT_MEM_REGION. */
  MEASURE_MEMORY_REGION: 1,
} as const;

/** kvm_tdx_capabilities.supported_caps bits. */
export const KVM_TDX_CAP = { TERMINATE_VM: 1 } as const;

/** kvm_run.kvm_valid_regs / kvm_dirty_regs bits. */
export const KVM_SYNC_X86 = { REGS: 1, SREGS: 2, EVENTS: 4, VALID_FIELDS: 7 } as const;

/**
 * Page offsets inside the vCPU mmap (KVM_PIO_PAGE_OFFSET, KVM_COALESCED_MMIO_PAGE_OFFSET,
 * KVM_DIRTY_LOG_PAGE_OFFSET): KVM_GET_VCPU_MMAP_SIZE covers the pages up to the coalesced MMIO one.
 */
export const KVM_PAGE_OFFSET = { PIO: 1, COALESCED_MMIO: 2, DIRTY_LOG: 64 } as const;

/** kvm_run.flags on x86. */
export const KVM_RUN_X86 = { SMM: 1, BUS_LOCK: 2, GUEST_MODE: 4 } as const;

/** kvm_cpuid_entry2.flags. */
export const KVM_CPUID_FLAG = { SIGNIFCANT_INDEX: 1, STATEFUL_FUNC: 2, STATE_READ_NEXT: 4 } as const;

/** kvm_vcpu_events.flags. */
export const KVM_VCPUEVENT_VALID = { NMI_PENDING: 1, SIPI_VECTOR: 2, SHADOW: 4, SMM: 8, PAYLOAD: 0x10, TRIPLE_FAULT: 0x20 } as const;

/** kvm_vcpu_events.interrupt.shadow. */
export const KVM_X86_SHADOW_INT = { MOV_SS: 1, STI: 2 } as const;

/** KVM_X86_SET_MSR_FILTER flags. */
export const KVM_MSR_FILTER = { READ: 1, WRITE: 2, DEFAULT_ALLOW: 0, DEFAULT_DENY: 1, MAX_RANGES: 16, MAX_BITMAP_SIZE: 0x600 } as const;

/** KVM_SET_SREGS2 flags. */
export const KVM_SREGS2_FLAGS = { PDPTRS_VALID: 1 } as const;

/** x86 kvm_run.hypercall.flags. */
export const KVM_EXIT_HYPERCALL_FLAG = { LONG_MODE: 1n } as const;

/** KVM_CAP_X86_DISABLE_EXITS arg bits. */
export const KVM_X86_DISABLE_EXITS = { MWAIT: 1, HLT: 2, PAUSE: 4, CSTATE: 8 } as const;

/** Exception vectors (asm/kvm.h *_VECTOR). */
export const VECTOR = {
  DE: 0, DB: 1, BP: 3, OF: 4, BR: 5, UD: 6, NM: 7, DF: 8, TS: 10, NP: 11, SS: 12, GP: 13, PF: 14, MF: 16, AC: 17, MC: 18, XM: 19, VE: 20, CP: 21,
} as const;

/** x86 constant groups for the C checks. */
export const constGroups: readonly ConstGroup[] = [
  { prefix: 'KVM_GUESTDBG_', values: KVM_GUESTDBG_X86 },
  { prefix: 'KVM_X86_', values: KVM_X86_VM },
  { prefix: 'KVM_IRQCHIP_', values: KVM_IRQCHIP },
  { prefix: 'KVM_', values: { NR_IRQCHIPS: 3, IOAPIC_NUM_PINS: KVM_IOAPIC_NUM_PINS, APIC_REG_SIZE: 0x400 } },
  { prefix: 'KVM_PIT_', values: KVM_PIT },
  { prefix: 'KVM_PIT_FLAGS_', values: KVM_PIT_FLAGS },
  { prefix: 'KVM_X2APIC_API_', values: KVM_X2APIC_API },
  { prefix: 'KVM_X86_QUIRK_', values: KVM_X86_QUIRK },
  { prefix: 'KVM_TDX_', values: KVM_TDX },
  { prefix: 'KVM_TDX_CAP_', values: KVM_TDX_CAP },
  { prefix: 'KVM_SYNC_X86_', values: KVM_SYNC_X86 },
  { prefix: 'KVM_', values: { PIO_PAGE_OFFSET: KVM_PAGE_OFFSET.PIO, COALESCED_MMIO_PAGE_OFFSET: KVM_PAGE_OFFSET.COALESCED_MMIO, DIRTY_LOG_PAGE_OFFSET: KVM_PAGE_OFFSET.DIRTY_LOG } },
  { prefix: 'KVM_RUN_X86_', values: KVM_RUN_X86 },
  { prefix: 'KVM_CPUID_FLAG_', values: KVM_CPUID_FLAG },
  { prefix: 'KVM_VCPUEVENT_VALID_', values: KVM_VCPUEVENT_VALID },
  { prefix: 'KVM_X86_SHADOW_INT_', values: KVM_X86_SHADOW_INT },
  { prefix: 'KVM_MSR_FILTER_', values: KVM_MSR_FILTER },
  { prefix: 'KVM_SREGS2_FLAGS_', values: KVM_SREGS2_FLAGS },
  { prefix: 'KVM_EXIT_HYPERCALL_', values: KVM_EXIT_HYPERCALL_FLAG },
  { prefix: 'KVM_X86_DISABLE_EXITS_', values: KVM_X86_DISABLE_EXITS },
  { prefix: '', values: Object.fromEntries(Object.entries(VECTOR).map(([k, v]) => [`${k}_VECTOR`, v])) },
];

// ---------------------------------------------------------------------------------------------
// ioctls

const SYS = ['system'] as const;
const VM = ['vm'] as const;
const VCPU = ['vcpu'] as const;

/** arch/x86/kvm/x86.c MAX_IO_MSRS: msr_io() answers E2BIG for nmsrs >= 256 before reading entries. */
const MSR_IO_LIMIT = { max: 255, above: 'refuse' } as const;
/**
 * KVM_MAX_CPUID_ENTRIES (256): KVM_SET_CPUID2 refuses more with E2BIG (kvm_vcpu_ioctl_set_cpuid2);
 * KVM_GET_SUPPORTED/EMULATED_CPUID clamp nent to it (kvm_dev_ioctl_get_cpuid); KVM_GET_CPUID2
 * writes at most the vCPU's entries, never more than that.
 */
const CPUID_REFUSE = { max: 256, above: 'refuse' } as const;
const CPUID_CLAMP = { max: 256, above: 'clamp' } as const;

const x86Rows = [
  ['GET_MSR_INDEX_LIST', 'rw', 0x02, kvm_msr_list, SYS],
  ['GET_SUPPORTED_CPUID', 'rw', 0x05, kvm_cpuid2, SYS, null, CPUID_CLAMP],
  ['GET_EMULATED_CPUID', 'rw', 0x09, kvm_cpuid2, SYS, null, CPUID_CLAMP],
  ['GET_MSR_FEATURE_INDEX_LIST', 'rw', 0x0a, kvm_msr_list, SYS],
  ['X86_SETUP_MCE', 'w', 0x9c, scalarArgs.u64, VCPU],
  ['X86_GET_MCE_CAP_SUPPORTED', 'r', 0x9d, scalarArgs.u64, SYS],
  ['X86_SET_MCE', 'w', 0x9e, kvm_x86_mce, VCPU],
  ['SET_NR_MMU_PAGES', 'none', 0x44, null, VM],
  ['SET_TSS_ADDR', 'none', 0x47, null, VM],
  ['SET_IDENTITY_MAP_ADDR', 'w', 0x48, scalarArgs.u64, VM],
  ['GET_IRQCHIP', 'rw', 0x62, kvm_irqchip, VM],
  ['SET_IRQCHIP', 'r', 0x63, kvm_irqchip, VM],
  ['CREATE_PIT', 'none', 0x64, null, VM],
  ['GET_PIT', 'rw', 0x65, kvm_pit_state, VM],
  ['SET_PIT', 'r', 0x66, kvm_pit_state, VM],
  ['REINJECT_CONTROL', 'none', 0x71, null, VM],
  ['CREATE_PIT2', 'w', 0x77, kvm_pit_config, VM],
  ['SET_BOOT_CPU_ID', 'none', 0x78, null, VM],
  ['GET_PIT2', 'r', 0x9f, kvm_pit_state2, VM],
  ['SET_PIT2', 'w', 0xa0, kvm_pit_state2, VM],
  ['SET_CLOCK', 'w', 0x7b, genericStructs.kvm_clock_data, VM],
  ['GET_CLOCK', 'r', 0x7c, genericStructs.kvm_clock_data, VM],
  ['MEMORY_ENCRYPT_OP', 'rw', 0xba, scalarArgs.ulong, ['vm', 'vcpu']],
  ['X86_SET_MSR_FILTER', 'w', 0xc6, kvm_msr_filter, VM],
  ['GET_SREGS', 'r', 0x83, kvm_sregs, VCPU],
  ['SET_SREGS', 'w', 0x84, kvm_sregs, VCPU],
  ['TRANSLATE', 'rw', 0x85, genericStructs.kvm_translation, VCPU],
  ['INTERRUPT', 'w', 0x86, genericStructs.kvm_interrupt, VCPU],
  ['GET_MSRS', 'rw', 0x88, kvm_msrs, ['system', 'vcpu'], null, MSR_IO_LIMIT],
  ['SET_MSRS', 'w', 0x89, kvm_msrs, VCPU, null, MSR_IO_LIMIT],
  ['GET_FPU', 'r', 0x8c, kvm_fpu, VCPU],
  ['SET_FPU', 'w', 0x8d, kvm_fpu, VCPU],
  ['SET_CPUID2', 'w', 0x90, kvm_cpuid2, VCPU, null, CPUID_REFUSE],
  ['GET_CPUID2', 'rw', 0x91, kvm_cpuid2, VCPU, null, CPUID_CLAMP],
  ['GET_LAPIC', 'r', 0x8e, kvm_lapic_state, VCPU],
  ['SET_LAPIC', 'w', 0x8f, kvm_lapic_state, VCPU],
  ['NMI', 'none', 0x9a, null, VCPU],
  ['KVMCLOCK_CTRL', 'none', 0xad, null, VCPU],
  ['GET_VCPU_EVENTS', 'r', 0x9f, kvm_vcpu_events, VCPU],
  ['SET_VCPU_EVENTS', 'w', 0xa0, kvm_vcpu_events, VCPU],
  ['GET_DEBUGREGS', 'r', 0xa1, kvm_debugregs, VCPU],
  ['SET_DEBUGREGS', 'w', 0xa2, kvm_debugregs, VCPU],
  ['SET_TSC_KHZ', 'none', 0xa2, null, ['vm', 'vcpu']],
  ['GET_TSC_KHZ', 'none', 0xa3, null, ['vm', 'vcpu']],
  ['GET_XSAVE', 'r', 0xa4, kvm_xsave, VCPU],
  ['SET_XSAVE', 'w', 0xa5, kvm_xsave, VCPU],
  ['GET_XCRS', 'r', 0xa6, kvm_xcrs, VCPU],
  ['SET_XCRS', 'w', 0xa7, kvm_xcrs, VCPU],
  ['GET_SREGS2', 'r', 0xcc, kvm_sregs2, VCPU],
  ['SET_SREGS2', 'w', 0xcd, kvm_sregs2, VCPU],
  ['GET_XSAVE2', 'r', 0xcf, kvm_xsave, VCPU],
] as const satisfies readonly IoctlRow[];

/** Every x86-64 KVM ioctl this project declares, by C name. */
export const ioctls = defineIoctls([...genericIoctlRows({ ...structs }), ...x86Rows]);
