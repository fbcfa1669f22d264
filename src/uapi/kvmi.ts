/**
 * KVM introspection (KVMI), the seed extension of the never-merged "VM introspection" series
 * (v12, Oct 2021): the VM ioctls, the message protocol's structs, ids, actions and error codes.
 * x86 only. Declared once here; include/vkvm/kvmi.h is the C side and the generated gcc checks
 * prove both agree. Every struct is absent from the system headers (`ext`).
 * @module
 */
import type { ConstGroup } from './constants.js';
import { defineIoctls, type IoctlRow } from './ioctls.js';
import { array, flex, s32, struct, u16, u32, u64, u8, type AnyStruct } from './layout.js';
import { kvm_msrs, kvm_regs, kvm_sregs } from './x86.js';

const E = { ext: true } as const;

// ---- VM ioctl arguments (include/uapi/linux/kvm.h of the series) ----------------------------

/** KVM_INTROSPECTION_HOOK: the socket connected to the tool. */
export const kvm_introspection_hook = struct('kvm_introspection_hook', { fd: s32, padding: u32, uuid: array(u8, 16) }, E);
/** KVM_INTROSPECTION_COMMAND / _EVENT: allow (1) or disallow (0) one id, or all (-1). */
export const kvm_introspection_feature = struct('kvm_introspection_feature', { allow: u32, id: s32 }, E);

// ---- generic messages (include/uapi/linux/kvmi.h) -------------------------------------------

export const kvmi_msg_hdr = struct('kvmi_msg_hdr', { id: u16, size: u16, seq: u32 }, E);
export const kvmi_error_code = struct('kvmi_error_code', { err: s32, padding: u32 }, E);
export const kvmi_features = struct('kvmi_features', { singlestep: u8, padding: array(u8, 7) }, E);
export const kvmi_get_version_reply = struct('kvmi_get_version_reply', { version: u32, max_msg_size: u32, features: kvmi_features }, E);
export const kvmi_vm_check_command = struct('kvmi_vm_check_command', { id: u16, padding1: u16, padding2: u32 }, E);
export const kvmi_vm_check_event = struct('kvmi_vm_check_event', { id: u16, padding1: u16, padding2: u32 }, E);
export const kvmi_vm_get_info_reply = struct('kvmi_vm_get_info_reply', { vcpu_count: u32, padding: array(u32, 3) }, E);
export const kvmi_event_hdr = struct('kvmi_event_hdr', { event: u16, padding: array(u16, 3) }, E);
export const kvmi_vm_control_events = struct('kvmi_vm_control_events', { event_id: u16, enable: u8, padding1: u8, padding2: u32 }, E);
export const kvmi_vm_read_physical = struct('kvmi_vm_read_physical', { gpa: u64, size: u16, padding1: u16, padding2: u32 }, E);
export const kvmi_vm_write_physical = struct('kvmi_vm_write_physical', { gpa: u64, size: u16, padding1: u16, padding2: u32, data: flex(u8, 'size') }, E);
export const kvmi_vcpu_hdr = struct('kvmi_vcpu_hdr', { vcpu: u16, padding1: u16, padding2: u32 }, E);
export const kvmi_vm_pause_vcpu = struct('kvmi_vm_pause_vcpu', { vcpu: u16, wait: u8, padding1: u8, padding2: u32 }, E);
export const kvmi_vcpu_event_reply = struct('kvmi_vcpu_event_reply', { action: u8, event: u8, padding1: u16, padding2: u32 }, E);
export const kvmi_vcpu_control_events = struct('kvmi_vcpu_control_events', { event_id: u16, enable: u8, padding1: u8, padding2: u32 }, E);
export const kvmi_vcpu_event_breakpoint = struct('kvmi_vcpu_event_breakpoint', { gpa: u64, insn_len: u8, padding: array(u8, 7) }, E);
export const kvmi_vm_control_cleanup = struct('kvmi_vm_control_cleanup', { enable: u8, padding: array(u8, 7) }, E);
export const kvmi_page_access_entry = struct('kvmi_page_access_entry', { gpa: u64, access: u8, padding: array(u8, 7) }, E);
export const kvmi_vm_set_page_access = struct('kvmi_vm_set_page_access', { count: u16, padding1: u16, padding2: u32, entries: flex(kvmi_page_access_entry, 'count') }, E);
export const kvmi_vcpu_event_pf = struct('kvmi_vcpu_event_pf', { gva: u64, gpa: u64, access: u8, padding1: u8, padding2: u16, padding3: u32 }, E);
export const kvmi_vcpu_control_singlestep = struct('kvmi_vcpu_control_singlestep', { enable: u8, padding: array(u8, 7) }, E);
export const kvmi_vcpu_event_singlestep = struct('kvmi_vcpu_event_singlestep', { failed: u8, padding: array(u8, 7) }, E);
export const kvmi_vcpu_translate_gva = struct('kvmi_vcpu_translate_gva', { gva: u64 }, E);
export const kvmi_vcpu_translate_gva_reply = struct('kvmi_vcpu_translate_gva_reply', { gpa: u64 }, E);

// ---- x86 (arch/x86/include/uapi/asm/kvmi.h) --------------------------------------------------

export const kvmi_vcpu_get_info_reply = struct('kvmi_vcpu_get_info_reply', { tsc_speed: u64 }, E);

/** The MSRs every vCPU event carries. */
export const kvmi_vcpu_event_msrs = struct(
  null,
  { sysenter_cs: u64, sysenter_esp: u64, sysenter_eip: u64, efer: u64, star: u64, lstar: u64, cstar: u64, pat: u64, shadow_gs: u64 },
  E,
);
/** The arch part of every vCPU event: CPU mode (2, 4 or 8 bytes), registers, some MSRs. */
export const kvmi_vcpu_event_arch = struct('kvmi_vcpu_event_arch', { mode: u8, padding: array(u8, 7), regs: kvm_regs, sregs: kvm_sregs, msrs: kvmi_vcpu_event_msrs }, { ext: true, size: 536 });
/** The common part of every vCPU event (after kvmi_event_hdr). */
export const kvmi_vcpu_event = struct('kvmi_vcpu_event', { size: u16, vcpu: u16, padding: u32, arch: kvmi_vcpu_event_arch }, { ext: true, size: 544 });

export const kvmi_vcpu_get_registers = struct('kvmi_vcpu_get_registers', { nmsrs: u16, padding1: u16, padding2: u32, msrs_idx: flex(u32, 'nmsrs') }, E);
export const kvmi_vcpu_get_registers_reply = struct('kvmi_vcpu_get_registers_reply', { mode: u32, padding: u32, regs: kvm_regs, sregs: kvm_sregs, msrs: kvm_msrs }, { ext: true, size: 472 });
export const kvmi_vcpu_get_cpuid = struct('kvmi_vcpu_get_cpuid', { function: u32, index: u32 }, E);
export const kvmi_vcpu_get_cpuid_reply = struct('kvmi_vcpu_get_cpuid_reply', { eax: u32, ebx: u32, ecx: u32, edx: u32 }, E);
export const kvmi_vcpu_control_cr = struct('kvmi_vcpu_control_cr', { cr: u8, enable: u8, padding1: u16, padding2: u32 }, E);
export const kvmi_vcpu_event_cr = struct('kvmi_vcpu_event_cr', { cr: u8, padding: array(u8, 7), old_value: u64, new_value: u64 }, E);
export const kvmi_vcpu_event_cr_reply = struct('kvmi_vcpu_event_cr_reply', { new_val: u64 }, E);
export const kvmi_vcpu_event_trap = struct('kvmi_vcpu_event_trap', { nr: u8, padding1: u8, padding2: u16, error_code: u32, address: u64 }, E);
export const kvmi_vcpu_inject_exception = struct('kvmi_vcpu_inject_exception', { nr: u8, padding1: u8, padding2: u16, error_code: u32, address: u64 }, E);
export const kvmi_vcpu_event_xsetbv = struct('kvmi_vcpu_event_xsetbv', { xcr: u8, padding: array(u8, 7), old_value: u64, new_value: u64 }, E);
export const kvmi_vcpu_get_xcr = struct('kvmi_vcpu_get_xcr', { xcr: u8, padding: array(u8, 7) }, E);
export const kvmi_vcpu_get_xcr_reply = struct('kvmi_vcpu_get_xcr_reply', { value: u64 }, E);
export const kvmi_vcpu_get_mtrr_type = struct('kvmi_vcpu_get_mtrr_type', { gpa: u64 }, E);
export const kvmi_vcpu_get_mtrr_type_reply = struct('kvmi_vcpu_get_mtrr_type_reply', { type: u8, padding: array(u8, 7) }, E);
export const kvmi_vcpu_event_descriptor = struct('kvmi_vcpu_event_descriptor', { descriptor: u8, write: u8, padding: array(u8, 6) }, E);
export const kvmi_vcpu_control_msr = struct('kvmi_vcpu_control_msr', { enable: u8, padding1: u8, padding2: u16, msr: u32 }, E);
export const kvmi_vcpu_event_msr = struct('kvmi_vcpu_event_msr', { msr: u32, padding: u32, old_value: u64, new_value: u64 }, E);
export const kvmi_vcpu_event_msr_reply = struct('kvmi_vcpu_event_msr_reply', { new_val: u64 }, E);

/** Every KVMI struct (for the C checks and as byte-exact fixtures). */
export const structs = {
  kvm_introspection_hook,
  kvm_introspection_feature,
  kvmi_msg_hdr,
  kvmi_error_code,
  kvmi_features,
  kvmi_get_version_reply,
  kvmi_vm_check_command,
  kvmi_vm_check_event,
  kvmi_vm_get_info_reply,
  kvmi_event_hdr,
  kvmi_vm_control_events,
  kvmi_vm_read_physical,
  kvmi_vm_write_physical,
  kvmi_vcpu_hdr,
  kvmi_vm_pause_vcpu,
  kvmi_vcpu_event_reply,
  kvmi_vcpu_control_events,
  kvmi_vcpu_event_breakpoint,
  kvmi_vm_control_cleanup,
  kvmi_page_access_entry,
  kvmi_vm_set_page_access,
  kvmi_vcpu_event_pf,
  kvmi_vcpu_control_singlestep,
  kvmi_vcpu_event_singlestep,
  kvmi_vcpu_translate_gva,
  kvmi_vcpu_translate_gva_reply,
  kvmi_vcpu_get_info_reply,
  kvmi_vcpu_event_arch,
  kvmi_vcpu_event,
  kvmi_vcpu_get_registers,
  kvmi_vcpu_get_registers_reply,
  kvmi_vcpu_get_cpuid,
  kvmi_vcpu_get_cpuid_reply,
  kvmi_vcpu_control_cr,
  kvmi_vcpu_event_cr,
  kvmi_vcpu_event_cr_reply,
  kvmi_vcpu_event_trap,
  kvmi_vcpu_inject_exception,
  kvmi_vcpu_event_xsetbv,
  kvmi_vcpu_get_xcr,
  kvmi_vcpu_get_xcr_reply,
  kvmi_vcpu_get_mtrr_type,
  kvmi_vcpu_get_mtrr_type_reply,
  kvmi_vcpu_event_descriptor,
  kvmi_vcpu_control_msr,
  kvmi_vcpu_event_msr,
  kvmi_vcpu_event_msr_reply,
} satisfies Record<string, AnyStruct>;

// ---- constants --------------------------------------------------------------------------------

/** `KVMI_VERSION`. */
export const KVMI_VERSION = 1;
/** KVMI_MAX_MSG_SIZE: the largest `kvmi_msg_hdr.size` (4096 * 2 - sizeof(struct kvmi_msg_hdr)). */
export const KVMI_MAX_MSG_SIZE = 4096 * 2 - 8;

/**
 * KVM_CAP_INTROSPECTION. The series moved it with every rebase (999 in the RFC, 179, 180, 184,
 * 193 in v10/v11; v12's value was never published). 193 is upstream KVM_CAP_X86_BUS_LOCK_EXIT
 * on x86 itself, so vkvm answers the RFC's 999, outside the upstream range.
 */
export const KVM_CAP_INTROSPECTION = 999;

/** `KVMI_VM_MESSAGE_ID(id)` / `KVMI_VCPU_MESSAGE_ID(id)`. */
const vmId = (n: number) => n << 1;
const vcpuId = (n: number) => (n << 1) | 1;

/** Message ids (kvmi_msg_hdr.id): VM messages even, vCPU messages odd. */
export const KVMI_MSG = {
  VM_EVENT: vmId(0),
  GET_VERSION: vmId(1),
  VM_CHECK_COMMAND: vmId(2),
  VM_CHECK_EVENT: vmId(3),
  VM_GET_INFO: vmId(4),
  VM_CONTROL_EVENTS: vmId(5),
  VM_READ_PHYSICAL: vmId(6),
  VM_WRITE_PHYSICAL: vmId(7),
  VM_PAUSE_VCPU: vmId(8),
  VM_CONTROL_CLEANUP: vmId(9),
  VM_SET_PAGE_ACCESS: vmId(10),
  NEXT_VM_MESSAGE: vmId(10) + 1,
  VCPU_EVENT: vcpuId(0),
  VCPU_GET_INFO: vcpuId(1),
  VCPU_CONTROL_EVENTS: vcpuId(2),
  VCPU_GET_REGISTERS: vcpuId(3),
  VCPU_SET_REGISTERS: vcpuId(4),
  VCPU_GET_CPUID: vcpuId(5),
  VCPU_CONTROL_CR: vcpuId(6),
  VCPU_INJECT_EXCEPTION: vcpuId(7),
  VCPU_GET_XCR: vcpuId(8),
  VCPU_GET_XSAVE: vcpuId(9),
  VCPU_SET_XSAVE: vcpuId(10),
  VCPU_GET_MTRR_TYPE: vcpuId(11),
  VCPU_CONTROL_MSR: vcpuId(12),
  VCPU_CONTROL_SINGLESTEP: vcpuId(13),
  VCPU_TRANSLATE_GVA: vcpuId(14),
  NEXT_VCPU_MESSAGE: vcpuId(14) + 1,
} as const;

/** Event ids (kvmi_event_hdr.event). */
export const KVMI_EVENT = {
  VM_EVENT_UNHOOK: vmId(0),
  NEXT_VM_EVENT: vmId(0) + 1,
  VCPU_EVENT_PAUSE: vcpuId(0),
  VCPU_EVENT_HYPERCALL: vcpuId(1),
  VCPU_EVENT_BREAKPOINT: vcpuId(2),
  VCPU_EVENT_CR: vcpuId(3),
  VCPU_EVENT_TRAP: vcpuId(4),
  VCPU_EVENT_XSETBV: vcpuId(5),
  VCPU_EVENT_DESCRIPTOR: vcpuId(6),
  VCPU_EVENT_MSR: vcpuId(7),
  VCPU_EVENT_PF: vcpuId(8),
  VCPU_EVENT_SINGLESTEP: vcpuId(9),
  NEXT_VCPU_EVENT: vcpuId(9) + 1,
} as const;

/** Size of the command allow-list: max(NEXT_VM_MESSAGE, NEXT_VCPU_MESSAGE). */
export const KVMI_NUM_COMMANDS = Math.max(KVMI_MSG.NEXT_VM_MESSAGE, KVMI_MSG.NEXT_VCPU_MESSAGE);
/** Size of the event allow-list: max(NEXT_VM_EVENT, NEXT_VCPU_EVENT). */
export const KVMI_NUM_EVENTS = Math.max(KVMI_EVENT.NEXT_VM_EVENT, KVMI_EVENT.NEXT_VCPU_EVENT);

/** kvmi_vcpu_event_reply.action. */
export const KVMI_EVENT_ACTION = { CONTINUE: 0, RETRY: 1, CRASH: 2 } as const;

/** kvmi_page_access_entry.access bits (and kvmi_vcpu_event_pf.access). */
export const KVMI_PAGE_ACCESS = { R: 1, W: 2, X: 4 } as const;

/** kvmi_vcpu_event_descriptor.descriptor. */
export const KVMI_DESC = { IDTR: 1, GDTR: 2, LDTR: 3, TR: 4 } as const;

/**
 * KVM hypercall error codes (include/uapi/linux/kvm_para.h) as the replies carry them, negated.
 * EAGAIN, ENOENT, ENOMEM and EBUSY are the series' additions.
 */
export const KVM_E = { ENOSYS: 1000, EFAULT: 14, EINVAL: 22, E2BIG: 7, EPERM: 1, EOPNOTSUPP: 95, EAGAIN: 11, ENOENT: 2, ENOMEM: 12, EBUSY: 16 } as const;

/** The agent hypercall that raises KVMI_VCPU_EVENT_HYPERCALL: RAX = KVM_HC_XEN_HVM_OP, arg0 = the sub-op. */
export const KVMI_HC = { KVM_HC_XEN_HVM_OP: 34, KVM_HC_XEN_HVM_OP_GUEST_REQUEST_VM_EVENT: 24 } as const;

/** KVMI constant groups for the C checks. */
export const constGroups: readonly ConstGroup[] = [
  { prefix: '', values: { KVMI_VERSION, KVMI_MAX_MSG_SIZE, KVM_CAP_INTROSPECTION, KVMI_NUM_COMMANDS, KVMI_NUM_EVENTS } },
  {
    prefix: 'KVMI_',
    values: Object.fromEntries(Object.entries(KVMI_MSG).map(([k, v]) => [k, v])),
  },
  { prefix: 'KVMI_', values: KVMI_EVENT },
  { prefix: 'KVMI_EVENT_ACTION_', values: KVMI_EVENT_ACTION },
  { prefix: 'KVMI_PAGE_ACCESS_', values: KVMI_PAGE_ACCESS },
  { prefix: 'KVMI_DESC_', values: KVMI_DESC },
  { prefix: 'KVM_', values: KVM_E },
  { prefix: '', values: KVMI_HC },
];

// ---- ioctls (VM fd) ---------------------------------------------------------------------------

const VM = ['vm'] as const;
const rows = [
  ['INTROSPECTION_HOOK', 'w', 0xc8, kvm_introspection_hook, VM, 'ext'],
  ['INTROSPECTION_UNHOOK', 'none', 0xc9, null, VM, 'ext'],
  ['INTROSPECTION_COMMAND', 'w', 0xca, kvm_introspection_feature, VM, 'ext'],
  ['INTROSPECTION_EVENT', 'w', 0xcb, kvm_introspection_feature, VM, 'ext'],
  ['INTROSPECTION_PREUNHOOK', 'none', 0xcc, null, VM, 'ext'],
] as const satisfies readonly IoctlRow[];

/** The KVMI VM ioctls (merged into the x86-64 ioctl table by uapi/index.ts). */
export const ioctls = defineIoctls(rows);
