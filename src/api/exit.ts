/**
 * `VcpuExit`: what KVM_RUN returned, decoded from kvm_run into a discriminated union.
 * @module
 */
import { KVM_EXIT, KVM_EXIT_IO, type Arch } from '../uapi/index.js';
import { KVM_ARM_IDSR } from '../uapi/arm64.js';
import type { KvmRunView } from './types.js';

export type VcpuExit =
  | { readonly reason: 'io'; readonly exitReason: number; readonly direction: 'in' | 'out'; readonly port: number; readonly size: number; readonly count: number;
      /** The data bytes in the vCPU mmap area (live: write IN data here before the next run). */
      readonly data: Uint8Array }
  | { readonly reason: 'mmio'; readonly exitReason: number; readonly physAddr: bigint; readonly len: number; readonly isWrite: boolean;
      /** kvm_run.mmio.data (live: write read data here before the next run). */
      readonly data: Uint8Array }
  | { readonly reason: 'hlt' | 'shutdown' | 'intr' | 'irq_window_open' | 'nmi'; readonly exitReason: number }
  | { readonly reason: 'debug'; readonly exitReason: number; readonly arch: DebugExitArch }
  | { readonly reason: 'ioapic_eoi'; readonly exitReason: number;
      /** The vector the guest EOI'd (KVM_EXIT_IOAPIC_EOI: a split irqchip's userspace IOAPIC owns it). */
      readonly vector: number }
  | { readonly reason: 'fail_entry'; readonly exitReason: number; readonly hardwareEntryFailureReason: bigint; readonly cpu: number }
  | { readonly reason: 'exception'; readonly exitReason: number; readonly exception: number; readonly errorCode: number }
  | { readonly reason: 'internal_error'; readonly exitReason: number; readonly suberror: number; readonly data: readonly bigint[];
      /** For KVM_INTERNAL_ERROR_EMULATION with instruction bytes: the bytes. */
      readonly insnBytes?: Uint8Array }
  | { readonly reason: 'system_event'; readonly exitReason: number; readonly type: number; readonly data: readonly bigint[] }
  | { readonly reason: 'hypercall'; readonly exitReason: number; readonly nr: bigint; readonly args: readonly bigint[]; readonly flags: bigint;
      /** Set the return value here before the next run. */
      setRet(ret: bigint): void }
  | { readonly reason: 'x86_rdmsr' | 'x86_wrmsr'; readonly exitReason: number; readonly index: number; readonly msrReason: number; readonly data: bigint;
      /** Answer the exit: data for RDMSR, or error = true to inject #GP. */
      reply(r: { data?: bigint; error?: boolean }): void }
  | { readonly reason: 'memory_fault'; readonly exitReason: number; readonly flags: bigint; readonly gpa: bigint; readonly size: bigint }
  | { readonly reason: 'tdx'; readonly exitReason: number; readonly flags: bigint;
      /** The TDG.VP.VMCALL leaf (GetQuote 0x10002, GetTdVmCallInfo 0x10000, SetupEventNotifyInterrupt 0x10004). */
      readonly nr: bigint; readonly ret: bigint; readonly data: readonly bigint[];
      /** The call, decoded by `nr` (the kvm_run.tdx union member KVM filled). */
      readonly call: TdxExitCall;
      /** The TDVMCALL status the guest gets in R10 (TDVMCALL_STATUS_SUCCESS = 0) before the next run. */
      setRet(ret: bigint): void }
  | { readonly reason: 'arm_nisv'; readonly exitReason: number; readonly esrIss: bigint; readonly faultIpa: bigint }
  | { readonly reason: 'arm_idsr'; readonly exitReason: number; readonly op0: number; readonly op1: number; readonly crn: number; readonly crm: number; readonly op2: number;
      readonly regval: bigint; readonly isWrite: boolean;
      /** Answer the exit: handled (with the value a read returns) or not (the guest takes UNDEF). */
      reply(r: { handled: boolean; regval?: bigint }): void }
  | { readonly reason: 'unknown'; readonly exitReason: number; readonly hardwareExitReason: bigint };

/** KVM_EXIT_TDX calls by leaf (Documentation/virt/kvm/api.rst, KVM_EXIT_TDX). */
export type TdxExitCall =
  | { readonly kind: 'get_quote'; readonly gpa: bigint; readonly size: bigint }
  | { readonly kind: 'get_tdvmcall_info'; readonly leaf: bigint;
      /** R11..R14 the guest gets back (the TDVMCALLs userspace handles, for leaf 1). */
      setInfo(r: { r11?: bigint; r12?: bigint; r13?: bigint; r14?: bigint }): void }
  | { readonly kind: 'setup_event_notify'; readonly vector: bigint }
  | { readonly kind: 'unknown' };

/** GHCI TDG.VP.VMCALL leaves KVM forwards as KVM_EXIT_TDX. */
const TDVMCALL_EXIT = { GET_TD_VM_CALL_INFO: 0x10000n, GET_QUOTE: 0x10002n, SETUP_EVENT_NOTIFY_INTERRUPT: 0x10004n } as const;

function tdxCall(run: KvmRunView): TdxExitCall {
  const t = run.tdx;
  switch (t.nr) {
    case TDVMCALL_EXIT.GET_QUOTE:
      return { kind: 'get_quote', gpa: t.get_quote.gpa, size: t.get_quote.size };
    case TDVMCALL_EXIT.GET_TD_VM_CALL_INFO:
      return {
        kind: 'get_tdvmcall_info',
        leaf: t.get_tdvmcall_info.leaf,
        setInfo: ({ r11, r12, r13, r14 }) => {
          const g = t.get_tdvmcall_info;
          if (r11 !== undefined) g.r11 = r11;
          if (r12 !== undefined) g.r12 = r12;
          if (r13 !== undefined) g.r13 = r13;
          if (r14 !== undefined) g.r14 = r14;
        },
      };
    case TDVMCALL_EXIT.SETUP_EVENT_NOTIFY_INTERRUPT:
      return { kind: 'setup_event_notify', vector: t.setup_event_notify.vector };
    default:
      return { kind: 'unknown' };
  }
}

export type DebugExitArch =
  | { readonly arch: 'x86_64'; readonly exception: number; readonly pc: bigint; readonly dr6: bigint; readonly dr7: bigint }
  | { readonly arch: 'arm64'; readonly hsr: number; readonly hsrHigh: number; readonly far: bigint };

/** Decodes the exit in `run` (kvm_run view) and `area` (the whole vCPU mmap). */
export function decodeExit(arch: Arch, run: KvmRunView, area: Uint8Array): VcpuExit {
  const exitReason = run.exit_reason;
  switch (exitReason) {
    case KVM_EXIT.IO: {
      const off = Number(run.io.data_offset);
      const len = run.io.size * run.io.count;
      return {
        reason: 'io',
        exitReason,
        direction: run.io.direction === KVM_EXIT_IO.OUT ? 'out' : 'in',
        port: run.io.port,
        size: run.io.size,
        count: run.io.count,
        data: off + len <= area.length ? area.subarray(off, off + len) : new Uint8Array(0),
      };
    }
    case KVM_EXIT.MMIO:
      return { reason: 'mmio', exitReason, physAddr: run.mmio.phys_addr, len: run.mmio.len, isWrite: run.mmio.is_write !== 0, data: run.mmio.data.subarray(0, Math.min(8, run.mmio.len)) };
    case KVM_EXIT.HLT:
      return { reason: 'hlt', exitReason };
    case KVM_EXIT.SHUTDOWN:
      return { reason: 'shutdown', exitReason };
    case KVM_EXIT.INTR:
      return { reason: 'intr', exitReason };
    case KVM_EXIT.IRQ_WINDOW_OPEN:
      return { reason: 'irq_window_open', exitReason };
    case KVM_EXIT.NMI:
      return { reason: 'nmi', exitReason };
    case KVM_EXIT.DEBUG:
      return { reason: 'debug', exitReason, arch: debugArch(arch, run) };
    case KVM_EXIT.IOAPIC_EOI:
      return { reason: 'ioapic_eoi', exitReason, vector: run.eoi.vector };
    case KVM_EXIT.FAIL_ENTRY:
      return { reason: 'fail_entry', exitReason, hardwareEntryFailureReason: run.fail_entry.hardware_entry_failure_reason, cpu: run.fail_entry.cpu };
    case KVM_EXIT.EXCEPTION:
      return { reason: 'exception', exitReason, exception: run.ex.exception, errorCode: run.ex.error_code };
    case KVM_EXIT.INTERNAL_ERROR: {
      const n = Math.min(16, run.internal.ndata);
      const data = Array.from({ length: n }, (_, i) => run.internal.data.get(i));
      const withBytes = run.internal.suberror === 1 && n >= 3 && (run.emulation_failure.flags & 1n) !== 0n;
      return {
        reason: 'internal_error',
        exitReason,
        suberror: run.internal.suberror,
        data,
        ...(withBytes ? { insnBytes: run.emulation_failure.insn_bytes.slice(0, Math.min(15, run.emulation_failure.insn_size)) } : {}),
      };
    }
    case KVM_EXIT.SYSTEM_EVENT: {
      const n = Math.min(16, run.system_event.ndata);
      return { reason: 'system_event', exitReason, type: run.system_event.type, data: Array.from({ length: n }, (_, i) => run.system_event.data.get(i)) };
    }
    case KVM_EXIT.HYPERCALL:
      return {
        reason: 'hypercall',
        exitReason,
        nr: run.hypercall.nr,
        args: Array.from({ length: 6 }, (_, i) => run.hypercall.args.get(i)),
        flags: run.hypercall.flags,
        setRet: (ret: bigint) => {
          run.hypercall.ret = ret;
        },
      };
    case KVM_EXIT.MEMORY_FAULT:
      return { reason: 'memory_fault', exitReason, flags: run.memory_fault.flags, gpa: run.memory_fault.gpa, size: run.memory_fault.size };
    case KVM_EXIT.TDX:
      return {
        reason: 'tdx',
        exitReason,
        flags: run.tdx.flags,
        nr: run.tdx.nr,
        ret: run.tdx.unknown.ret,
        data: Array.from({ length: 5 }, (_, i) => run.tdx.unknown.data.get(i)),
        call: tdxCall(run),
        setRet: (ret: bigint) => {
          run.tdx.unknown.ret = ret;
        },
      };
    case KVM_EXIT.ARM_NISV:
      return { reason: 'arm_nisv', exitReason, esrIss: run.arm_nisv.esr_iss, faultIpa: run.arm_nisv.fault_ipa };
    default:
      break;
  }
  // 29/30 are KVM_EXIT_X86_RDMSR/WRMSR on x86; 29 is the IDSR seed exit on arm64.
  if (arch === 'x86_64' && (exitReason === KVM_EXIT.X86_RDMSR || exitReason === KVM_EXIT.X86_WRMSR)) {
    return {
      reason: exitReason === KVM_EXIT.X86_RDMSR ? 'x86_rdmsr' : 'x86_wrmsr',
      exitReason,
      index: run.msr.index,
      msrReason: run.msr.reason,
      data: run.msr.data,
      reply: ({ data, error }: { data?: bigint; error?: boolean }) => {
        if (data !== undefined) run.msr.data = data;
        run.msr.error = error ? 1 : 0;
      },
    };
  }
  if (arch === 'arm64' && exitReason === KVM_ARM_IDSR.KVM_EXIT_ARM_IDSR && 'arm_idsr' in run) {
    const r = (run as unknown as { arm_idsr: IdsrView }).arm_idsr;
    return {
      reason: 'arm_idsr',
      exitReason,
      op0: r.Op0,
      op1: r.Op1,
      crn: r.CRn,
      crm: r.CRm,
      op2: r.Op2,
      regval: r.regval,
      isWrite: r.is_write !== 0,
      reply: ({ handled, regval }: { handled: boolean; regval?: bigint }) => {
        if (regval !== undefined) r.regval = regval;
        r.is_handled = handled ? 1 : 0;
      },
    };
  }
  return { reason: 'unknown', exitReason, hardwareExitReason: run.hw.hardware_exit_reason };
}

interface IdsrView {
  Op0: number;
  Op1: number;
  CRn: number;
  CRm: number;
  Op2: number;
  regval: bigint;
  is_write: number;
  is_needed: number;
  is_handled: number;
}

function debugArch(arch: Arch, run: KvmRunView): DebugExitArch {
  const a = run.debug.arch as unknown as Record<string, number | bigint>;
  if (arch === 'x86_64') return { arch, exception: a.exception as number, pc: a.pc as bigint, dr6: a.dr6 as bigint, dr7: a.dr7 as bigint };
  return { arch, hsr: a.hsr as number, hsrHigh: a.hsr_high as number, far: a.far as bigint };
}
