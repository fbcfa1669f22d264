/**
 * The TDX flavour of the x86 backend. Like arch/x86/kvm/vmx/main.c choosing vmx_* or tdx_* per
 * VM, the x86 backend asks `tdx` first for a TD (KVM_X86_TDX_VM) and falls back to plain VMX.
 *
 * Debug/trace interface (virtual backend only): {@link tdxModuleOf} returns the live model of a
 * TD's TDX module (SEAMCALL counters, Secure-EPT states, epochs, per-vCPU flushes, an event log
 * and contention injection) and KVM's own counters for that TD.
 * @module
 */
import { NOT_HANDLED } from '../../../kernel/arch.js';
import type { UserArg } from '../../../kernel/uarg.js';
import type { Vcpu } from '../../../kernel/vcpu.js';
import type { Vm } from '../../../kernel/vm.js';
import { KvmError } from '../../../sys/error.js';
import type { Sys } from '../../../sys/sys.js';
import { kernelOf } from '../../../sys/kernel-of.js';
import { KVM_CAP, KVM_MP_STATE } from '../../../uapi/constants.js';
import { x86_64 } from '../../../uapi/index.js';
import { KVM_CAP_INTROSPECTION } from '../../../uapi/kvmi.js';
import { KVM_GUESTDBG_X86, KVM_X86_VM } from '../../../uapi/x86.js';
import { msrIo } from '../msr.js';
import { TdxMachine } from './machine.js';
import type { TdxEvent, TdxModule, TdxStats } from './module.js';
import { createTd, tdOf, type TdKvmStats, type TdState } from './td.js';

const I = x86_64.ioctls;
const req = (name: keyof typeof I) => I[name]!.request;

/** vCPU ioctls KVM refuses with EINVAL when the guest state is protected. */
const PROTECTED_STATE_IOCTLS = new Set<number>(
  (['KVM_GET_REGS', 'KVM_SET_REGS', 'KVM_GET_SREGS', 'KVM_SET_SREGS', 'KVM_GET_SREGS2', 'KVM_SET_SREGS2', 'KVM_GET_FPU', 'KVM_SET_FPU', 'KVM_GET_DEBUGREGS', 'KVM_SET_DEBUGREGS', 'KVM_GET_XCRS', 'KVM_SET_XCRS', 'KVM_GET_XSAVE', 'KVM_SET_XSAVE', 'KVM_GET_XSAVE2'] as const).map(req),
);

const einval = (arg: UserArg, message?: string) => KvmError.of('EINVAL', 'ioctl', { request: arg.request, fd: arg.fd, ...(message ? { message } : {}) });

/** The hooks the x86 backend calls for TD VMs and vCPUs. */
export const tdx = {
  /** KVM_X86_TDX_VM in KVM_CAP_VM_TYPES. */
  vmTypeBit: 1 << KVM_X86_VM.TDX_VM,

  /** tdx_vm_init (after the backend validated the type). */
  initVm(vm: Vm, type: number): void {
    if (type === KVM_X86_VM.TDX_VM) createTd(vm);
  },

  isTd(vm: Vm | null | undefined): boolean {
    return !!vm && tdOf(vm) !== undefined;
  },

  /** Per-VM capability answers that differ for a TD (undefined: ask VMX). */
  checkExtension(cap: number, vm: Vm | null): number | undefined {
    if (!vm || !tdOf(vm)) return undefined;
    switch (cap) {
      case KVM_CAP.SPLIT_IRQCHIP:
        return 1;
      case KVM_CAP.READONLY_MEM:
        return 0;
      case KVM_CAP_INTROSPECTION:
        // A TD's memory and vCPU state are the TD's alone: no introspection (README, threat model).
        return 0;
      default:
        return undefined;
    }
  },

  /** KVM_ENABLE_CAP for a TD (undefined: not a TD cap). */
  enableCap(vm: Vm, cap: number, args: readonly bigint[]): number | undefined {
    const td = tdOf(vm);
    if (!td || cap !== KVM_CAP.SPLIT_IRQCHIP) return undefined;
    td.enableSplitIrqchip(args[0] ?? 0n);
    return 0;
  },

  /** KVM_MEMORY_ENCRYPT_OP on a TD's VM fd. */
  vmIoctl(vm: Vm, request: number, arg: UserArg): number | typeof NOT_HANDLED {
    const td = tdOf(vm);
    if (!td) return NOT_HANDLED;
    if (request === req('KVM_MEMORY_ENCRYPT_OP')) return td.vmIoctl(arg);
    if (td.dead) throw KvmError.of('EIO', 'ioctl', { request, fd: arg.fd });
    return NOT_HANDLED;
  },

  /** tdx_vcpu_create: the TD vCPU, or undefined for a VMX vCPU. */
  createVcpu(vcpu: Vcpu): TdxMachine | undefined {
    const td = tdOf(vcpu.vm);
    if (!td) return undefined;
    td.checkVcpuCreate();
    return new TdxMachine(vcpu, td);
  },

  /** vCPU ioctls of a TD vCPU: KVM_TDX_* and the ones protected guest state refuses. */
  vcpuIoctl(vcpu: Vcpu, request: number, arg: UserArg): number | typeof NOT_HANDLED {
    const m = vcpu.archState;
    if (!(m instanceof TdxMachine)) return NOT_HANDLED;
    const td = m.td;
    if (td.dead) throw KvmError.of('EIO', 'ioctl', { request, fd: arg.fd });
    if (request === req('KVM_MEMORY_ENCRYPT_OP')) return td.vcpuIoctl(vcpu, m, arg);
    if (PROTECTED_STATE_IOCTLS.has(request)) throw einval(arg, 'the TD vCPU state is protected');
    switch (request) {
      case req('KVM_TRANSLATE'): {
        // KVM does not see the TD's paging state: it translates as with paging off.
        const b = arg.bytes(x86_64.structs.kvm_translation.size);
        const t = x86_64.structs.kvm_translation.decode(b);
        x86_64.structs.kvm_translation.encodeInto({ linear_address: t.linear_address, physical_address: t.linear_address, valid: 1, writeable: 1, usermode: 0 }, b);
        return 0;
      }
      case req('KVM_SET_MP_STATE'): {
        const st = x86_64.structs.kvm_mp_state.decode(arg.bytes(x86_64.structs.kvm_mp_state.size)).mp_state;
        if (st === KVM_MP_STATE.INIT_RECEIVED || st === KVM_MP_STATE.SIPI_RECEIVED) throw einval(arg);
        return NOT_HANDLED;
      }
      case req('KVM_SET_GUEST_DEBUG'): {
        const d = x86_64.structs.kvm_guest_debug.decode(arg.bytes(x86_64.structs.kvm_guest_debug.size));
        if (d.control & (KVM_GUESTDBG_X86.INJECT_BP | KVM_GUESTDBG_X86.INJECT_DB)) throw einval(arg);
        return NOT_HANDLED;
      }
      case req('KVM_GET_MSRS'):
      case req('KVM_SET_MSRS'):
        // Only the MSRs KVM emulates for a TD; the scan stops at the first other one.
        return msrIo(
          arg,
          request === req('KVM_SET_MSRS'),
          (idx) => m.kvmReadMsr(idx),
          (idx, v) => m.kvmWriteMsr(idx, v, true),
        );
      case req('KVM_INTERRUPT'): {
        // The TDX module owns interrupt delivery (posted interrupts): nothing is queued here.
        const irq = x86_64.structs.kvm_interrupt.decode(arg.bytes(x86_64.structs.kvm_interrupt.size)).irq;
        if (irq >= 256) throw einval(arg);
        return 0;
      }
      default:
        return NOT_HANDLED;
    }
  },

  /** kvm_arch_destroy_vm for a TD: HKID release and page reclaim. */
  destroyVm(vm: Vm): void {
    tdOf(vm)?.teardown();
  },
};

/** The debug/trace view of one TD (live objects: read them after each step). */
export interface TdxDebugView {
  /** KVM's TD state (kvm_tdx->state). */
  readonly state: TdState;
  /** The TDX module model: SEAMCALL counters, Secure EPT, epochs, event log, contention injection. */
  readonly module: TdxModule;
  /** Counters of the module model (alias of module.stats). */
  readonly stats: TdxStats;
  /** KVM's counters for the TD (private faults, memory-fault exits, MMIO SPTEs, #VEs by reason). */
  readonly kvm: TdKvmStats;
  /** The most recent module events. */
  readonly events: readonly TdxEvent[];
  /** Private gfns KVM maps in its mirror page table. */
  readonly mirrorGfns: readonly number[];
  /** True after kvm_vm_dead(). */
  readonly dead: boolean;
  /** The shared bit position in a GPA (GPAW - 1). */
  readonly sharedBit: number;
}

/**
 * The TDX module model behind a TD's VM fd on `virtualSys()` (undefined for other backends, VM
 * types or fds). The view follows the TD even across VM destruction while the caller keeps it.
 */
export function tdxModuleOf(sys: Sys, vmFd: number): TdxDebugView | undefined {
  const f = kernelOf(sys)?.file(vmFd);
  if (!f || f.kind !== 'vm') return undefined;
  const td = tdOf(f.vm);
  if (!td) return undefined;
  return {
    get state() {
      return td.state;
    },
    get module() {
      return td.module;
    },
    get stats() {
      return td.module.stats;
    },
    get kvm() {
      return td.stats;
    },
    get events() {
      return td.module.events;
    },
    get mirrorGfns() {
      return [...td.mirror.keys()].sort((a, b) => a - b);
    },
    get dead() {
      return td.dead;
    },
    get sharedBit() {
      return td.gpaw - 1;
    },
  };
}

export { TDCALL, TDVMCALL, TDVMCALL_STATUS, TDX_STATUS, SEAMCALL, TD_ATTR, EXIT_REASON } from './abi.js';
export type { TdxEvent, TdxStats, TdxModule } from './module.js';
export type { TdKvmStats, TdState } from './td.js';
