/**
 * Writing exits into kvm_run, shared by every arch. Offsets come from the uapi declaration (the
 * generic members sit at the same offsets on x86-64 and arm64; checked at load).
 * @module
 */
import { arm64, x86_64 } from '../uapi/index.js';
import { KVM_EXIT, KVM_EXIT_IO, KVM_INTERNAL_ERROR } from '../uapi/constants.js';
import { PAGE_SIZE } from './hva.js';
import type { Vcpu } from './vcpu.js';
import { KvmError } from '../sys/error.js';

/**
 * KVM_RUN's EINTRs, by reason (`KvmError.shared`: no Error built per return; a boot makes
 * thousands). `limit` and `budget` are the virtual backend's wall-clock bound and instruction
 * budget; `signal` is a signal, immediate_exit or a kick.
 */
export const RUN_EINTR = {
  signal: KvmError.shared('EINTR', 'ioctl'),
  limit: KvmError.shared('EINTR', 'ioctl', { message: 'run time limit reached (as if a signal arrived)' }),
  budget: KvmError.shared('EINTR', 'ioctl', { message: 'run budget reached (as if a signal arrived)' }),
} as const;

const paths = [
  'immediate_exit', 'exit_reason', 'ready_for_interrupt_injection', 'if_flag', 'flags', 'cr8', 'apic_base',
  'hw.hardware_exit_reason',
  'fail_entry.hardware_entry_failure_reason', 'fail_entry.cpu',
  'ex.exception', 'ex.error_code',
  'io.direction', 'io.size', 'io.port', 'io.count', 'io.data_offset',
  'debug.arch',
  'mmio.phys_addr', 'mmio.data', 'mmio.len', 'mmio.is_write',
  'hypercall.nr', 'hypercall.args', 'hypercall.ret', 'hypercall.flags',
  'internal.suberror', 'internal.ndata', 'internal.data',
  'emulation_failure.flags', 'emulation_failure.insn_size', 'emulation_failure.insn_bytes',
  'system_event.type', 'system_event.ndata', 'system_event.data',
  'arm_nisv.esr_iss', 'arm_nisv.fault_ipa',
  'msr.error', 'msr.reason', 'msr.index', 'msr.data',
  'memory_fault.flags', 'memory_fault.gpa', 'memory_fault.size',
  'tdx.flags', 'tdx.nr', 'tdx.unknown.ret', 'tdx.unknown.data',
  'kvm_valid_regs', 'kvm_dirty_regs', 's',
] as const;

type RunField = (typeof paths)[number];

/** Offsets of the generic kvm_run members. */
export const RUN: Readonly<Record<RunField, number>> = Object.freeze(
  Object.fromEntries(
    paths.map((p) => {
      const a = x86_64.structs.kvm_run.offsetOf(p);
      if (arm64.structs.kvm_run.offsetOf(p) !== a) throw new Error(`kvm_run.${p} differs between arches`);
      return [p, a];
    }),
  ) as Record<RunField, number>,
);

/** Size of a member of kvm_run's exit union (from the declaration; the same on every arch). */
function exitSize(name: string): number {
  for (const m of x86_64.structs.kvm_run.members) {
    if (m.name !== null || m.type.kind !== 'union') continue;
    const e = m.type.members.find((x) => x.name === name);
    if (e) return e.type.size;
  }
  throw new Error(`kvm_run has no exit member ${name}`);
}
const HYPERCALL_SIZE = exitSize('hypercall');
const MSR_SIZE = exitSize('msr');

/** Offset of the x86 PIO data page in the vCPU mmap area (KVM_PIO_PAGE_OFFSET * PAGE_SIZE). */
export const PIO_DATA_OFFSET = x86_64.KVM_PAGE_OFFSET.PIO * PAGE_SIZE;

export function setExitReason(v: Vcpu, reason: number): void {
  v.runDv.setUint32(RUN.exit_reason, reason, true);
}

export function exitReason(v: Vcpu): number {
  return v.runDv.getUint32(RUN.exit_reason, true);
}

/** Clears the exit union (the kernel leaves stale bytes, but deterministic output helps tests; no ABI meaning). */
function clearUnion(v: Vcpu): void {
  v.run.fill(0, RUN['hw.hardware_exit_reason'], RUN['hw.hardware_exit_reason'] + 256);
}

/** KVM_EXIT_IO: data (count * size bytes) lives in the vCPU area at `dataOffset`. */
export function exitIo(v: Vcpu, direction: number, port: number, size: number, count: number, dataOffset = PIO_DATA_OFFSET): void {
  clearUnion(v);
  setExitReason(v, KVM_EXIT.IO);
  const dv = v.runDv;
  dv.setUint8(RUN['io.direction'], direction === KVM_EXIT_IO.OUT ? 1 : 0);
  dv.setUint8(RUN['io.size'], size);
  dv.setUint16(RUN['io.port'], port, true);
  dv.setUint32(RUN['io.count'], count, true);
  dv.setUint32(RUN['io.data_offset'], dataOffset, true); // < 2^32: no BigInt on the hot exit
  dv.setUint32(RUN['io.data_offset'] + 4, 0, true);
}

/**
 * KVM_EXIT_MMIO; for a write, `data` holds the bytes written. For a read, KVM leaves mmio.data as it
 * was (stale bytes of the previous exit), and so do we: VMMs that forget to fill it see the same bytes.
 */
export function exitMmio(v: Vcpu, gpa: bigint | number, len: number, isWrite: boolean, data?: Uint8Array): void {
  setExitReason(v, KVM_EXIT.MMIO);
  const dv = v.runDv;
  if (typeof gpa === 'number' && gpa >= 0) {
    // Two words: no BigInt per exit on the hot MMIO path.
    dv.setUint32(RUN['mmio.phys_addr'], gpa % 0x100000000, true);
    dv.setUint32(RUN['mmio.phys_addr'] + 4, Math.floor(gpa / 0x100000000), true);
  } else dv.setBigUint64(RUN['mmio.phys_addr'], BigInt.asUintN(64, BigInt(gpa)), true);
  if (data) {
    // Byte by byte: no subarray view per exit.
    const run = v.run;
    const o = RUN['mmio.data'];
    for (let k = 0, e = Math.min(8, len, data.length); k < e; k++) run[o + k] = data[k]!;
  }
  dv.setUint32(RUN['mmio.len'], len, true);
  dv.setUint8(RUN['mmio.is_write'], isWrite ? 1 : 0);
}

/**
 * KVM_EXIT_HYPERCALL (KVM_CAP_EXIT_HYPERCALL): `nr`, its arguments and `flags`
 * (KVM_EXIT_HYPERCALL_LONG_MODE); `ret` starts at 0 for userspace to fill. VMX's VMCALL and a
 * TD's TDG.VP.VMCALL both write it.
 */
export function exitHypercall(v: Vcpu, nr: bigint, args: readonly bigint[], flags: bigint): void {
  v.run.fill(0, RUN['hypercall.nr'], RUN['hypercall.nr'] + HYPERCALL_SIZE);
  setExitReason(v, KVM_EXIT.HYPERCALL);
  const dv = v.runDv;
  dv.setBigUint64(RUN['hypercall.nr'], nr, true);
  for (let i = 0; i < args.length; i++) dv.setBigUint64(RUN['hypercall.args'] + 8 * i, args[i]!, true);
  dv.setBigUint64(RUN['hypercall.flags'], flags, true);
}

/**
 * KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR (KVM_CAP_X86_USER_SPACE_MSR): `error` starts at 0,
 * `data` is the value written (0 for a read). VMX's RDMSR/WRMSR and a TD's TDG.VP.VMCALL<RDMSR/WRMSR>
 * both write it.
 */
export function exitX86Msr(v: Vcpu, write: boolean, reason: number, index: number, data: bigint): void {
  v.run.fill(0, RUN['msr.error'], RUN['msr.error'] + MSR_SIZE);
  setExitReason(v, write ? KVM_EXIT.X86_WRMSR : KVM_EXIT.X86_RDMSR);
  const dv = v.runDv;
  dv.setUint32(RUN['msr.reason'], reason, true);
  dv.setUint32(RUN['msr.index'], index, true);
  dv.setBigUint64(RUN['msr.data'], data, true);
}

/** An exit with no payload (HLT, SHUTDOWN, INTR, IRQ_WINDOW_OPEN...). */
export function exitSimple(v: Vcpu, reason: number): void {
  setExitReason(v, reason);
}

/** KVM_EXIT_INTERNAL_ERROR with suberror EMULATION and the instruction bytes (KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES). */
export function exitEmulationFailure(v: Vcpu, insn?: Uint8Array): void {
  clearUnion(v);
  setExitReason(v, KVM_EXIT.INTERNAL_ERROR);
  const dv = v.runDv;
  dv.setUint32(RUN['internal.suberror'], KVM_INTERNAL_ERROR.EMULATION, true);
  if (insn && insn.length) {
    const n = Math.min(15, insn.length);
    // ndata counts u64 words after suberror/ndata: flags + insn_size/insn_bytes (16 bytes).
    dv.setUint32(RUN['internal.ndata'], 3, true);
    dv.setBigUint64(RUN['emulation_failure.flags'], 1n, true);
    dv.setUint8(RUN['emulation_failure.insn_size'], n);
    v.run.set(insn.subarray(0, n), RUN['emulation_failure.insn_bytes']);
  } else {
    dv.setUint32(RUN['internal.ndata'], 0, true);
  }
}

/** KVM_EXIT_INTERNAL_ERROR with another suberror and u64 data words. */
export function exitInternalError(v: Vcpu, suberror: number, data: readonly bigint[] = []): void {
  clearUnion(v);
  setExitReason(v, KVM_EXIT.INTERNAL_ERROR);
  const dv = v.runDv;
  dv.setUint32(RUN['internal.suberror'], suberror, true);
  dv.setUint32(RUN['internal.ndata'], data.length, true);
  data.slice(0, 16).forEach((d, i) => dv.setBigUint64(RUN['internal.data'] + 8 * i, BigInt.asUintN(64, d), true));
}

/** KVM_EXIT_SYSTEM_EVENT with `type` and data words (KVM_CAP_SYSTEM_EVENT_DATA layout). */
export function exitSystemEvent(v: Vcpu, type: number, data: readonly bigint[] = []): void {
  clearUnion(v);
  setExitReason(v, KVM_EXIT.SYSTEM_EVENT);
  const dv = v.runDv;
  dv.setUint32(RUN['system_event.type'], type, true);
  dv.setUint32(RUN['system_event.ndata'], data.length, true);
  data.slice(0, 16).forEach((d, i) => dv.setBigUint64(RUN['system_event.data'] + 8 * i, BigInt.asUintN(64, d), true));
}

/** KVM_EXIT_MEMORY_FAULT (KVM_CAP_MEMORY_FAULT_INFO). */
export function exitMemoryFault(v: Vcpu, gpa: number | bigint, size: number | bigint, flags: bigint): void {
  clearUnion(v);
  setExitReason(v, KVM_EXIT.MEMORY_FAULT);
  const dv = v.runDv;
  dv.setBigUint64(RUN['memory_fault.flags'], flags, true);
  dv.setBigUint64(RUN['memory_fault.gpa'], BigInt(gpa), true);
  dv.setBigUint64(RUN['memory_fault.size'], BigInt(size), true);
}
