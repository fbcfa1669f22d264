/**
 * The x86 arch backend (VMX flavour): KVM_CREATE_VM types, capabilities, vCPU state ioctls and
 * KVM_RUN. Like vmx/main.c, a VM's flavour (plain VMX or TDX) picks the implementation per VM.
 * @module
 */
import { NOT_HANDLED, type ArchBackend } from '../../kernel/arch.js';
import type { UserArg } from '../../kernel/uarg.js';
import type { Vcpu } from '../../kernel/vcpu.js';
import type { Vm } from '../../kernel/vm.js';
import { KvmError } from '../../sys/error.js';
import { registerArchBackend } from '../../sys/virtual.js';
import { GUEST_MEMFD_FLAG, KVM_CAP, KVM_MP_STATE } from '../../uapi/constants.js';
import { x86_64 } from '../../uapi/index.js';
import { KVM_GUESTDBG_X86, KVM_X86_VM } from '../../uapi/x86.js';
import { getRegs, getSregs, setRegs, setSregs } from './regs.js';
import { X86State } from './state.js';
import { x86Run } from './run.js';

const I = x86_64.ioctls;
const S = x86_64.structs;
const req = (name: keyof typeof I) => I[name]!.request;

/** Per-VM x86 state (kvm->arch). */
export interface X86VmState {
  readonly type: number;
  /** KVM_CAP_X86_USER_SPACE_MSR reasons enabled. */
  userSpaceMsr: number;
  /** KVM_CAP_EXIT_HYPERCALL enabled hypercalls mask. */
  exitHypercall: bigint;
}

/** Per-vCPU x86 state (vcpu->arch). */
export interface X86Vcpu {
  readonly state: X86State;
  mpState: number;
  /** kvm_guest_debug.control and debugreg[] as set by KVM_SET_GUEST_DEBUG. */
  guestDebug: number;
  readonly guestDebugRegs: bigint[];
}

/** KVM_GUESTDBG_VALID_MASK on x86. */
const GUESTDBG_VALID = 0x1 | 0x2 | KVM_GUESTDBG_X86.USE_SW_BP | KVM_GUESTDBG_X86.USE_HW_BP | KVM_GUESTDBG_X86.INJECT_DB | KVM_GUESTDBG_X86.INJECT_BP | KVM_GUESTDBG_X86.BLOCKIRQ;

/** VM types this host supports (TDX arrives with the TDX flavour). */
const VM_TYPES = (1 << KVM_X86_VM.DEFAULT_VM) | (1 << KVM_X86_VM.SW_PROTECTED_VM);

export const x86Backend: ArchBackend = {
  arch: 'x86_64',
  vcpuMmapPages: 3,
  maxVcpus: 1024,
  maxVcpuIds: 4096,
  userMemSlots: 32764,
  unknownVmIoctlErrno: 'ENOTTY',

  checkExtension(cap) {
    switch (cap) {
      case KVM_CAP.SET_GUEST_DEBUG:
      case KVM_CAP.READONLY_MEM:
      case KVM_CAP.MP_STATE:
      case KVM_CAP.SREGS2:
        return 1;
      case KVM_CAP.SET_GUEST_DEBUG2:
        return GUESTDBG_VALID;
      case KVM_CAP.VM_TYPES:
        return VM_TYPES;
      default:
        return 0;
    }
  },

  initVm(_vm, type): X86VmState {
    if (type < 0 || type > 31 || !(VM_TYPES & (1 << type))) {
      throw KvmError.of('EINVAL', 'ioctl', { request: req('KVM_CREATE_VM'), message: `VM type ${type} is not supported` });
    }
    return { type, userSpaceMsr: 0, exitHypercall: 0n };
  },
  addressSpaces: () => 1,
  hasPrivateMem: (vm) => !vm || (vm.archState as X86VmState).type === KVM_X86_VM.SW_PROTECTED_VM,
  hasReadonlyMem: () => true,
  gmemFlags: (vm) => (vm && (vm.archState as X86VmState).type !== KVM_X86_VM.DEFAULT_VM ? 0n : BigInt(GUEST_MEMFD_FLAG.MMAP | GUEST_MEMFD_FLAG.INIT_SHARED)),

  enableCapVm(_vm: Vm, _cap, flags) {
    if (flags) throw KvmError.of('EINVAL', 'ioctl', { request: req('KVM_ENABLE_CAP') });
    throw KvmError.of('EINVAL', 'ioctl', { request: req('KVM_ENABLE_CAP') });
  },

  createVcpu(): X86Vcpu {
    return { state: new X86State(), mpState: KVM_MP_STATE.RUNNABLE, guestDebug: 0, guestDebugRegs: new Array<bigint>(8).fill(0n) };
  },

  vcpuIoctl(vcpu: Vcpu, request: number, arg: UserArg) {
    const v = vcpu.archState as X86Vcpu;
    switch (request) {
      case req('KVM_GET_REGS'):
        arg.bytes(S.kvm_regs.size).set(getRegs(v.state));
        return 0;
      case req('KVM_SET_REGS'):
        setRegs(v.state, arg.bytes(S.kvm_regs.size));
        return 0;
      case req('KVM_GET_SREGS'):
        arg.bytes(S.kvm_sregs.size).set(getSregs(v.state));
        return 0;
      case req('KVM_SET_SREGS'):
        setSregs(v.state, arg.bytes(S.kvm_sregs.size));
        return 0;
      case req('KVM_GET_MP_STATE'):
        arg.bytes(4).set(S.kvm_mp_state.encode({ mp_state: v.mpState }));
        return 0;
      case req('KVM_SET_MP_STATE'): {
        const s = S.kvm_mp_state.decode(arg.bytes(4)).mp_state;
        if (s > KVM_MP_STATE.SIPI_RECEIVED && s !== KVM_MP_STATE.AP_RESET_HOLD) throw KvmError.of('EINVAL', 'ioctl', { request, fd: arg.fd });
        v.mpState = s;
        return 0;
      }
      case req('KVM_SET_GUEST_DEBUG'): {
        const d = S.kvm_guest_debug.decode(arg.bytes(S.kvm_guest_debug.size));
        if (d.control & ~GUESTDBG_VALID) throw KvmError.of('EINVAL', 'ioctl', { request, fd: arg.fd });
        v.guestDebug = d.control;
        d.arch.debugreg.forEach((r, i) => (v.guestDebugRegs[i] = r));
        return 0;
      }
      case req('KVM_ENABLE_CAP'):
        S.kvm_enable_cap.decode(arg.bytes(S.kvm_enable_cap.size));
        throw KvmError.of('EINVAL', 'ioctl', { request, fd: arg.fd });
      default:
        return NOT_HANDLED;
    }
  },

  run(vcpu: Vcpu): number {
    return x86Run(vcpu);
  },
};

registerArchBackend('x86_64', () => x86Backend);
