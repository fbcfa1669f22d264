/**
 * PSCI 0.1 / 0.2 / 1.0 / 1.1 as KVM implements it in the kernel (arch/arm64/kvm/psci.c, kvm_psci_call),
 * reached through the SMCCC dispatcher (hypercalls.ts). Results go to X0 with X1-X3 zeroed
 * (smccc_set_retval). SYSTEM_OFF, SYSTEM_RESET and SYSTEM_RESET2 power every vCPU off and exit
 * with KVM_EXIT_SYSTEM_EVENT (X0 preloaded with INTERNAL_FAILURE in case userspace resumes the
 * vCPU anyway); SYSTEM_SUSPEND, once userspace enabled KVM_CAP_ARM_SYSTEM_SUSPEND, exits with
 * KVM_SYSTEM_EVENT_SUSPEND and leaves the registers to the VMM.
 * @module
 */
import { exitSystemEvent } from '../../kernel/exits.js';
import { KVM_MP_STATE, KVM_SYSTEM_EVENT } from '../../uapi/constants.js';
import { ARM_SMCCC, KVM_SYSTEM_EVENT_RESET_FLAG, PSCI } from '../../uapi/arm64.js';
import { EXIT, type Cpu } from './cpu.js';
import { VM_FLAG } from './vmshared.js';

/** PSCI 0.1 function ids (KVM_PSCI_FN_BASE + n). */
export const PSCI_0_1 = { CPU_SUSPEND: 0x95c1ba5e, CPU_OFF: 0x95c1ba5f, CPU_ON: 0x95c1ba60, MIGRATE: 0x95c1ba61 };
const PSCI_0_2_TOS_MP = 2;

/** Outcome of a call beyond its return value. */
export const Hvc = {
  CONTINUE: 0,
  /** The vCPU waits (WFI-like, or powered off): KVM_RUN returns as if a signal arrived. */
  BLOCK: 1,
} as const;
export type Hvc = (typeof Hvc)[keyof typeof Hvc];

/** smccc_set_retval: X0-X3 from numbers (negative ones sign-extended to 64 bits). */
export function setRet(c: Cpu, v0: number, v1 = 0, v2 = 0, v3 = 0): void {
  const x = c.x;
  for (let r = 0; r < 4; r++) {
    const v = r === 0 ? v0 : r === 1 ? v1 : r === 2 ? v2 : v3;
    x[2 * r] = v | 0;
    x[2 * r + 1] = v < 0 ? -1 : Math.floor(v / 4294967296) | 0;
  }
}

const arg = (c: Cpu, n: number) => c.x[2 * n + 1]! * 4294967296 + (c.x[2 * n]! >>> 0);
const arg32 = (c: Cpu, n: number) => c.x[2 * n]! >>> 0;

/** kvm_psci_call: PSCI by the vCPU's PSCI version. */
export function psciCall(c: Cpu, fn: number): Hvc {
  if (c.psciVersion === 0x1) return psci01(c, fn);
  if (c.psciVersion >= 0x10000) return psci1x(c, fn, c.psciVersion & 0xffff);
  return psci02(c, fn);
}

/** kvm_psci_1_x_call: PSCI 1.0 (minor 0) and 1.1 (minor 1); the rest as 0.2. */
function psci1x(c: Cpu, fn: number, minor: number): Hvc {
  switch (fn) {
    case PSCI['0_2_FN_PSCI_VERSION']:
      setRet(c, minor === 0 ? 0x10000 : 0x10001);
      return Hvc.CONTINUE;
    case PSCI['1_0_FN_PSCI_FEATURES']:
      setRet(c, psciFeature(c, arg32(c, 1), minor));
      return Hvc.CONTINUE;
    case PSCI['1_0_FN_SYSTEM_SUSPEND']:
    case PSCI['1_0_FN64_SYSTEM_SUSPEND']:
      // With KVM_CAP_ARM_SYSTEM_SUSPEND: straight to userspace, the registers untouched (the VMM
      // reads the call's arguments from them; kvm_psci_narrow_to_32bit for the 32-bit call).
      if (!(c.shared.flags & VM_FLAG.SYSTEM_SUSPEND)) break;
      if (fn === PSCI['1_0_FN_SYSTEM_SUSPEND']) narrow(c);
      exitSystemEvent(c.vcpu, KVM_SYSTEM_EVENT.SUSPEND, []);
      throw EXIT;
    case PSCI['1_1_FN_SYSTEM_RESET2']:
    case PSCI['1_1_FN64_SYSTEM_RESET2']: {
      if (minor < 1) break;
      if (fn === PSCI['1_1_FN_SYSTEM_RESET2']) narrow(c);
      const type = arg32(c, 1);
      // SYSTEM_WARM_RESET or a vendor reset: a system event; architectural types KVM does not know: INVALID_PARAMS.
      if (type <= PSCI['1_1_RESET_TYPE_SYSTEM_WARM_RESET'] || type >= PSCI['1_1_RESET_TYPE_VENDOR_START']) {
        return systemEvent(c, KVM_SYSTEM_EVENT.RESET, BigInt(KVM_SYSTEM_EVENT_RESET_FLAG.PSCI_RESET2));
      }
      setRet(c, PSCI.RET_INVALID_PARAMS);
      return Hvc.CONTINUE;
    }
    default:
      return psci02(c, fn);
  }
  setRet(c, PSCI.RET_NOT_SUPPORTED);
  return Hvc.CONTINUE;
}

/** kvm_psci_narrow_to_32bit: the upper halves of X1-X3 cleared in place. */
function narrow(c: Cpu): void {
  c.x[3] = 0;
  c.x[5] = 0;
  c.x[7] = 0;
}

function psci01(c: Cpu, fn: number): Hvc {
  switch (fn) {
    case PSCI_0_1.CPU_OFF:
      powerOff(c);
      setRet(c, PSCI.RET_SUCCESS);
      return Hvc.BLOCK;
    case PSCI_0_1.CPU_ON:
      setRet(c, cpuOn(c, false));
      return Hvc.CONTINUE;
    default:
      setRet(c, PSCI.RET_NOT_SUPPORTED);
      return Hvc.CONTINUE;
  }
}

/** kvm_psci_0_2_call */
function psci02(c: Cpu, fn: number): Hvc {
  switch (fn) {
    case PSCI['0_2_FN_PSCI_VERSION']:
      setRet(c, c.psciVersion);
      return Hvc.CONTINUE;
    case PSCI['0_2_FN_CPU_SUSPEND']:
    case PSCI['0_2_FN64_CPU_SUSPEND']:
      // KVM emulates CPU_SUSPEND as WFI.
      setRet(c, PSCI.RET_SUCCESS);
      return Hvc.BLOCK;
    case PSCI['0_2_FN_CPU_OFF']:
      powerOff(c);
      setRet(c, PSCI.RET_SUCCESS);
      return Hvc.BLOCK;
    case PSCI['0_2_FN_CPU_ON']:
      setRet(c, cpuOn(c, true));
      return Hvc.CONTINUE;
    case PSCI['0_2_FN64_CPU_ON']:
      setRet(c, cpuOn(c, false));
      return Hvc.CONTINUE;
    case PSCI['0_2_FN_AFFINITY_INFO']:
      setRet(c, affinityInfo(c, true));
      return Hvc.CONTINUE;
    case PSCI['0_2_FN64_AFFINITY_INFO']:
      setRet(c, affinityInfo(c, false));
      return Hvc.CONTINUE;
    case PSCI['0_2_FN_MIGRATE_INFO_TYPE']:
      setRet(c, PSCI_0_2_TOS_MP);
      return Hvc.CONTINUE;
    case PSCI['0_2_FN_SYSTEM_OFF']:
      return systemEvent(c, KVM_SYSTEM_EVENT.SHUTDOWN);
    case PSCI['0_2_FN_SYSTEM_RESET']:
      return systemEvent(c, KVM_SYSTEM_EVENT.RESET);
    default:
      break;
  }
  setRet(c, PSCI.RET_NOT_SUPPORTED);
  return Hvc.CONTINUE;
}

/** PSCI_FEATURES of PSCI 1.x: SYSTEM_SUSPEND with KVM_CAP_ARM_SYSTEM_SUSPEND, SYSTEM_RESET2 from 1.1. */
function psciFeature(c: Cpu, f: number, minor: number): number {
  switch (f) {
    case PSCI['1_0_FN_SYSTEM_SUSPEND']:
    case PSCI['1_0_FN64_SYSTEM_SUSPEND']:
      return c.shared.flags & VM_FLAG.SYSTEM_SUSPEND ? 0 : PSCI.RET_NOT_SUPPORTED;
    case PSCI['1_1_FN_SYSTEM_RESET2']:
    case PSCI['1_1_FN64_SYSTEM_RESET2']:
      return minor >= 1 ? 0 : PSCI.RET_NOT_SUPPORTED;
    case PSCI['0_2_FN_PSCI_VERSION']:
    case PSCI['0_2_FN_CPU_SUSPEND']:
    case PSCI['0_2_FN64_CPU_SUSPEND']:
    case PSCI['0_2_FN_CPU_OFF']:
    case PSCI['0_2_FN_CPU_ON']:
    case PSCI['0_2_FN64_CPU_ON']:
    case PSCI['0_2_FN_AFFINITY_INFO']:
    case PSCI['0_2_FN64_AFFINITY_INFO']:
    case PSCI['0_2_FN_MIGRATE_INFO_TYPE']:
    case PSCI['0_2_FN_SYSTEM_OFF']:
    case PSCI['0_2_FN_SYSTEM_RESET']:
    case PSCI['1_0_FN_PSCI_FEATURES']:
    case ARM_SMCCC.VERSION_FUNC_ID:
      return 0;
    default:
      return PSCI.RET_NOT_SUPPORTED;
  }
}

function powerOff(c: Cpu): void {
  c.shared.setMpState(c.vcpuIdx, KVM_MP_STATE.STOPPED);
}

/** kvm_psci_vcpu_on */
function cpuOn(c: Cpu, narrow: boolean): number {
  let target = arg(c, 1);
  let entry = arg(c, 2);
  const ctxLo = c.x[6]!;
  let ctxHi = c.x[7]!;
  if (narrow) {
    target = arg32(c, 1);
    entry = arg32(c, 2);
    ctxHi = 0;
  }
  if (!validAffinity(target)) return PSCI.RET_INVALID_PARAMS;
  // The target by MPIDR, in the VM's shared words: it may be running on another thread.
  const sh = c.shared;
  const t = target < 2 ** 32 ? sh.indexOf(target) : -1;
  if (t < 0) return PSCI.RET_INVALID_PARAMS;
  if (!sh.stopped(t)) return c.psciVersion === 0x1 ? PSCI.RET_INVALID_PARAMS : PSCI.RET_ALREADY_ON;
  sh.requestReset(t, entry, ctxLo, ctxHi);
  sh.setMpState(t, KVM_MP_STATE.RUNNABLE);
  const k = c.vmState.kicks[t];
  if (k !== undefined) {
    Atomics.or(k, 0, 1);
    Atomics.notify(k, 0);
  }
  return PSCI.RET_SUCCESS;
}

/** Only MPIDR_HWID_BITMASK bits may be set. */
function validAffinity(v: number): boolean {
  if (v < 0 || v >= 2 ** 40) return false;
  const hi = Math.floor(v / 2 ** 32);
  const lo = v % 2 ** 32;
  return (lo & 0xff000000) === 0 && (hi & ~0xff) === 0;
}

function affinityInfo(c: Cpu, narrow: boolean): number {
  const target = narrow ? arg32(c, 1) : arg(c, 1);
  const level = narrow ? arg32(c, 2) : arg(c, 2);
  if (!validAffinity(target)) return PSCI.RET_INVALID_PARAMS;
  if (level > 3) return PSCI.RET_INVALID_PARAMS;
  // AFFINITY_MASK(level) & MPIDR_HWID_BITMASK: ignore the affinity fields below `level`.
  const ignore = level === 0 ? 1 : 2 ** (8 * level);
  const want = Math.floor(target / ignore);
  const sh = c.shared;
  for (let i = 0; i < sh.nrVcpus; i++) {
    if (Math.floor(sh.mpidr(i) / ignore) === want && !sh.stopped(i)) return 0; // PSCI_0_2_AFFINITY_LEVEL_ON
  }
  return 1; // OFF
}

/** kvm_prepare_system_event: every vCPU powers off; this one exits (data[0] = `flags`). */
function systemEvent(c: Cpu, type: number, flags = 0n): never {
  const sh = c.shared;
  for (let i = 0; i < sh.nrVcpus; i++) sh.setMpState(i, KVM_MP_STATE.STOPPED);
  setRet(c, PSCI.RET_INTERNAL_FAILURE);
  exitSystemEvent(c.vcpu, type, [flags]);
  throw EXIT;
}
