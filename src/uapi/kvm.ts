/**
 * Generic uapi structs (include/uapi/linux/kvm.h) and the per-arch `struct kvm_run` builder.
 * @module
 */
import { array, char, ext, flex, ptr, s32, struct, u16, u32, u64, u8, union, type Agg, type Fields, type AnyStruct } from './layout.js';

export const kvm_userspace_memory_region = struct('kvm_userspace_memory_region', {
  slot: u32,
  flags: u32,
  guest_phys_addr: u64,
  memory_size: u64,
  userspace_addr: u64,
});

export const kvm_userspace_memory_region2 = struct(
  'kvm_userspace_memory_region2',
  {
    slot: u32,
    flags: u32,
    guest_phys_addr: u64,
    memory_size: u64,
    userspace_addr: u64,
    guest_memfd_offset: u64,
    guest_memfd: u32,
    pad1: u32,
    pad2: array(u64, 14),
  },
  { ext: true },
);

export const kvm_create_guest_memfd = struct('kvm_create_guest_memfd', { size: u64, flags: u64, reserved: array(u64, 6) }, { ext: true });

export const kvm_memory_attributes = struct('kvm_memory_attributes', { address: u64, size: u64, attributes: u64, flags: u64 }, { ext: true });

export const kvm_enable_cap = struct('kvm_enable_cap', { cap: u32, flags: u32, args: array(u64, 4), pad: array(u8, 64) });

export const kvm_one_reg = struct('kvm_one_reg', { id: u64, addr: u64 });

export const kvm_reg_list = struct('kvm_reg_list', { n: u64, reg: flex(u64, 'n') });

export const kvm_dirty_log = struct('kvm_dirty_log', {
  slot: u32,
  padding1: u32,
  $u: union(null, { dirty_bitmap: ptr, padding2: u64 }),
});

export const kvm_clear_dirty_log = struct('kvm_clear_dirty_log', {
  slot: u32,
  num_pages: u32,
  first_page: u64,
  $u: union(null, { dirty_bitmap: ptr, padding2: u64 }),
});

export const kvm_irq_level = struct('kvm_irq_level', { $u: union(null, { irq: u32, status: s32 }), level: u32 });

export const kvm_irqfd = struct('kvm_irqfd', { fd: u32, gsi: u32, flags: u32, resamplefd: u32, pad: array(u8, 16) });

// GSI routing (KVM_SET_GSI_ROUTING): one entry per route, the union selected by `type`.
export const kvm_irq_routing_irqchip = struct('kvm_irq_routing_irqchip', { irqchip: u32, pin: u32 });

export const kvm_irq_routing_msi = struct('kvm_irq_routing_msi', {
  address_lo: u32,
  address_hi: u32,
  data: u32,
  $u: union(null, { pad: u32, devid: u32 }),
});

export const kvm_irq_routing_s390_adapter = struct('kvm_irq_routing_s390_adapter', {
  ind_addr: u64,
  summary_addr: u64,
  ind_offset: u64,
  summary_offset: u32,
  adapter_id: u32,
});

export const kvm_irq_routing_hv_sint = struct('kvm_irq_routing_hv_sint', { vcpu: u32, sint: u32 });

export const kvm_irq_routing_xen_evtchn = struct('kvm_irq_routing_xen_evtchn', { port: u32, vcpu: u32, priority: u32 });

export const kvm_irq_routing_entry = struct('kvm_irq_routing_entry', {
  gsi: u32,
  type: u32,
  flags: u32,
  pad: u32,
  u: union(null, {
    irqchip: kvm_irq_routing_irqchip,
    msi: kvm_irq_routing_msi,
    adapter: kvm_irq_routing_s390_adapter,
    hv_sint: kvm_irq_routing_hv_sint,
    xen_evtchn: kvm_irq_routing_xen_evtchn,
    pad: array(u32, 8),
  }),
});

/** KVM_MAX_IRQ_ROUTES: the kernel refuses larger tables before reading their entries. */
export const KVM_MAX_IRQ_ROUTES = 4096;

export const kvm_irq_routing = struct('kvm_irq_routing', { nr: u32, flags: u32, entries: flex(kvm_irq_routing_entry, 'nr', KVM_MAX_IRQ_ROUTES) });

export const kvm_msi = struct('kvm_msi', { address_lo: u32, address_hi: u32, data: u32, flags: u32, devid: u32, pad: array(u8, 12) });

export const kvm_create_device = struct('kvm_create_device', { type: u32, fd: u32, flags: u32 });

export const kvm_device_attr = struct('kvm_device_attr', { flags: u32, group: u32, attr: u64, addr: u64 });

export const kvm_ioeventfd = struct('kvm_ioeventfd', {
  datamatch: u64,
  addr: u64,
  len: u32,
  fd: s32,
  flags: u32,
  pad: array(u8, 36),
});

export const kvm_interrupt = struct('kvm_interrupt', { irq: u32 });

/** KVM_GET_CLOCK / KVM_SET_CLOCK (declared in linux/kvm.h; x86 implements them). */
export const kvm_clock_data = struct('kvm_clock_data', { clock: u64, flags: u32, pad0: u32, realtime: u64, host_tsc: u64, pad: array(u32, 4) });

export const kvm_translation = struct('kvm_translation', {
  linear_address: u64,
  physical_address: u64,
  valid: u8,
  writeable: u8,
  usermode: u8,
  pad: array(u8, 5),
});

export const kvm_mp_state = struct('kvm_mp_state', { mp_state: u32 });

export const kvm_signal_mask = struct('kvm_signal_mask', { len: u32, sigset: flex(u8, 'len') });

export const kvm_coalesced_mmio_zone = struct('kvm_coalesced_mmio_zone', { addr: u64, size: u32, $u: union(null, { pad: u32, pio: u32 }) });

// ---------------------------------------------------------------------------------------------
// struct kvm_run

/** Offset of the exit union inside kvm_run (after the 32-byte header). */
const KVM_RUN_EXIT_UNION_SIZE = 256;
const SYNC_REGS_SIZE_BYTES = 2048;

const exitUnionBase = {
  /** KVM_EXIT_UNKNOWN */
  hw: struct(null, { hardware_exit_reason: u64 }),
  /** KVM_EXIT_FAIL_ENTRY */
  fail_entry: struct(null, { hardware_entry_failure_reason: u64, cpu: u32 }),
  /** KVM_EXIT_EXCEPTION */
  ex: struct(null, { exception: u32, error_code: u32 }),
  /** KVM_EXIT_IO */
  io: struct(null, { direction: u8, size: u8, port: u16, count: u32, data_offset: u64 }),
} as const;

const exitUnionAfterDebug = {
  /** KVM_EXIT_MMIO */
  mmio: struct(null, { phys_addr: u64, data: array(u8, 8), len: u32, is_write: u8 }),
  /** KVM_EXIT_HYPERCALL */
  hypercall: struct(null, {
    nr: u64,
    args: array(u64, 6),
    ret: u64,
    $u: union(null, { longmode: u32, flags: ext(u64, { anchor: 'hypercall.longmode' }) }),
  }),
  /** KVM_EXIT_TPR_ACCESS */
  tpr_access: struct(null, { rip: u64, is_write: u32, pad: u32 }),
  /** KVM_EXIT_INTERNAL_ERROR */
  internal: struct(null, { suberror: u32, ndata: u32, data: array(u64, 16) }),
  /** KVM_EXIT_INTERNAL_ERROR, suberror KVM_INTERNAL_ERROR_EMULATION (an ABI overlay of `internal`). */
  emulation_failure: struct(null, {
    suberror: u32,
    ndata: u32,
    flags: u64,
    $u: union(null, { $s: struct(null, { insn_size: u8, insn_bytes: array(u8, 15) }) }),
  }),
  /** KVM_EXIT_SYSTEM_EVENT */
  system_event: struct(null, {
    type: u32,
    ndata: u32,
    $u: union(null, { flags: u64, data: array(u64, 16) }),
  }),
  /** KVM_EXIT_IOAPIC_EOI */
  eoi: struct(null, { vector: u8 }),
  /** KVM_EXIT_ARM_NISV */
  arm_nisv: struct(null, { esr_iss: u64, fault_ipa: u64 }),
  /** KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR */
  msr: struct(null, { error: u8, pad: array(u8, 7), reason: u32, index: u32, data: u64 }),
  /** KVM_EXIT_NOTIFY */
  notify: struct(null, { flags: u32 }),
  /** KVM_EXIT_MEMORY_FAULT (6.8+) */
  memory_fault: ext(struct(null, { flags: u64, gpa: u64, size: u64 }), { cStruct: 'kvm_run_memory_fault', anchor: 'padding' }),
  /** KVM_EXIT_TDX (6.16+) */
  tdx: ext(
    struct(null, {
      flags: u64,
      nr: u64,
      $u: union(null, {
        unknown: struct(null, { ret: u64, data: array(u64, 5) }),
        get_quote: struct(null, { ret: u64, gpa: u64, size: u64 }),
        get_tdvmcall_info: struct(null, { ret: u64, leaf: u64, r11: u64, r12: u64, r13: u64, r14: u64 }),
        setup_event_notify: struct(null, { ret: u64, vector: u64 }),
      }),
    }),
    { cStruct: 'kvm_run_tdx', anchor: 'padding' },
  ),
} as const;

/** The architecture-specific parts of struct kvm_run. */
export interface KvmRunArch<D extends Agg, S extends Agg, X extends Fields> {
  /** struct kvm_debug_exit_arch */
  readonly debugExitArch: D;
  /** struct kvm_sync_regs */
  readonly syncRegs: S;
  /** Extra exit-union members only this arch has (e.g. the arm64 IDSR seed exit). */
  readonly extraExits: X;
}

/** Builds `struct kvm_run` for one architecture. */
export function kvmRun<D extends Agg, S extends Agg, X extends Fields>(arch: KvmRunArch<D, S, X>) {
  const exits = {
    ...exitUnionBase,
    /** KVM_EXIT_DEBUG */
    debug: struct(null, { arch: arch.debugExitArch }),
    ...exitUnionAfterDebug,
    ...arch.extraExits,
    /** Fixes the size of the union. */
    padding: array(char, KVM_RUN_EXIT_UNION_SIZE),
  };
  return struct('kvm_run', {
    request_interrupt_window: u8,
    immediate_exit: u8,
    padding1: array(u8, 6),
    exit_reason: u32,
    ready_for_interrupt_injection: u8,
    if_flag: u8,
    flags: u16,
    cr8: u64,
    apic_base: u64,
    $exit: union(null, exits, { size: KVM_RUN_EXIT_UNION_SIZE }),
    kvm_valid_regs: u64,
    kvm_dirty_regs: u64,
    s: union(null, { regs: arch.syncRegs, padding: array(char, SYNC_REGS_SIZE_BYTES) }, { size: SYNC_REGS_SIZE_BYTES }),
  });
}

/** The generic structs, shared by every arch. */
export const genericStructs = {
  kvm_userspace_memory_region,
  kvm_userspace_memory_region2,
  kvm_create_guest_memfd,
  kvm_memory_attributes,
  kvm_enable_cap,
  kvm_one_reg,
  kvm_reg_list,
  kvm_dirty_log,
  kvm_clear_dirty_log,
  kvm_irq_level,
  kvm_irqfd,
  kvm_ioeventfd,
  kvm_irq_routing_irqchip,
  kvm_irq_routing_msi,
  kvm_irq_routing_s390_adapter,
  kvm_irq_routing_hv_sint,
  kvm_irq_routing_xen_evtchn,
  kvm_irq_routing_entry,
  kvm_irq_routing,
  kvm_msi,
  kvm_create_device,
  kvm_device_attr,
  kvm_interrupt,
  kvm_clock_data,
  kvm_translation,
  kvm_mp_state,
  kvm_signal_mask,
  kvm_coalesced_mmio_zone,
} satisfies Record<string, AnyStruct>;
