/**
 * HVC/SMC #0 from EL1: the SMCCC services KVM implements in the kernel (arch/arm64/kvm/
 * hypercalls.c, kvm_smccc_call_handler; Documentation/virt/kvm/arm/hypercalls.rst):
 * SMCCC_VERSION / ARCH_FEATURES, TRNG (trng.ts), PV time (pvtime.ts), the KVM vendor-hypervisor
 * calls (UID, features, PTP) and PSCI (psci.ts). The bitmapped firmware registers
 * (KVM_REG_ARM_STD_BMAP, _STD_HYP_BMAP, _VENDOR_HYP_BMAP) choose which services a VM offers:
 * every bit is set at VM creation, userspace may clear bits until a vCPU has run, and a call of
 * a cleared service answers NOT_SUPPORTED (kvm_smccc_get_action). Before those, the VM's SMCCC
 * filter (KVM_ARM_VM_SMCCC_CTRL) may deny a range of calls or forward it to userspace
 * (KVM_EXIT_HYPERCALL).
 * @module
 */
import { exitHypercall } from '../../kernel/exits.js';
import type { UserArg } from '../../kernel/uarg.js';
import type { Vm } from '../../kernel/vm.js';
import { KvmError } from '../../sys/error.js';
import { ARM_SMCCC, KVM_ARM_VM_SMCCC, KVM_HYPERCALL_EXIT, KVM_PTP, KVM_SMCCC_FILTER, kvm_smccc_filter } from '../../uapi/arm64.js';
import { EXIT, type Arm64Vcpu, type Arm64VmState, type Cpu } from './cpu.js';
import { Hvc, psciCall, PSCI_0_1, setRet } from './psci.js';
import { initStolenTime, pvFeatures } from './pvtime.js';
import { cnt, counterAt, NS_PER_TICK, PTIMER, ticksNow, VTIMER } from './timer.js';
import { trngCall } from './trng.js';
import { sharedOf, VM_FLAG, type Arm64Shared } from './vmshared.js';

export { Hvc } from './psci.js';

/** ARM_SMCCC_VENDOR_HYP_UID_KVM_REG_0..3 (28b46fb6-2ec5-11e9-a9ca-4b564d003a74). */
const KVM_UID = [0xb66fb428, 0xe911c52e, 0x564bcaa9, 0x743a004d] as const;

/**
 * The bitmapped firmware registers, by KVM_REG_ARM_FW_FEAT_BMAP_REG index: for each feature bit
 * (bit n = entry n), the VM flag recording it cleared. Every bit is a service implemented here,
 * so the supported mask (KVM_ARM_SMCCC_*_FEATURES) is all of them.
 */
const FW_BMAPS: readonly (readonly number[])[] = [
  [VM_FLAG.TRNG_OFF], // KVM_REG_ARM_STD_BMAP: KVM_REG_ARM_STD_BIT_TRNG_V1_0
  [VM_FLAG.PV_TIME_OFF], // KVM_REG_ARM_STD_HYP_BMAP: KVM_REG_ARM_STD_HYP_BIT_PV_TIME
  [VM_FLAG.VENDOR_FUNC_FEAT_OFF, VM_FLAG.PTP_OFF], // KVM_REG_ARM_VENDOR_HYP_BMAP: _BIT_FUNC_FEAT, _BIT_PTP
];

/** Number of bitmapped firmware registers. */
export const NR_FW_BMAPS = FW_BMAPS.length;

/** KVM_ARM_SMCCC_{STD,STD_HYP,VENDOR_HYP}_FEATURES: the bits register `r` may hold. */
export function fwBmapFeatures(r: number): bigint {
  return (1n << BigInt(FW_BMAPS[r]!.length)) - 1n;
}

/** The value of bitmap register `r` (kvm->arch.smccc_feat). */
export function fwBmap(sh: Arm64Shared, r: number): bigint {
  const f = sh.flags;
  let v = 0n;
  FW_BMAPS[r]!.forEach((off, bit) => {
    if (!(f & off)) v |= 1n << BigInt(bit);
  });
  return v;
}

/** Stores bitmap register `r` (the caller checked the bits and the VM's state). */
export function setFwBmap(sh: Arm64Shared, r: number, v: bigint): void {
  FW_BMAPS[r]!.forEach((off, bit) => {
    if ((v >> BigInt(bit)) & 1n) sh.clearFlag(off);
    else sh.setFlag(off);
  });
}

/** The flag whose absence lets `fn` run (kvm_smccc_test_fw_bmap), 0 when no bitmap gates it. */
function gate(fn: number): number {
  switch (fn) {
    case ARM_SMCCC.TRNG_VERSION:
    case ARM_SMCCC.TRNG_FEATURES:
    case ARM_SMCCC.TRNG_GET_UUID:
    case ARM_SMCCC.TRNG_RND32:
    case ARM_SMCCC.TRNG_RND64:
      return VM_FLAG.TRNG_OFF;
    case ARM_SMCCC.HV_PV_TIME_FEATURES:
    case ARM_SMCCC.HV_PV_TIME_ST:
      return VM_FLAG.PV_TIME_OFF;
    case ARM_SMCCC.VENDOR_HYP_KVM_FEATURES_FUNC_ID:
    case ARM_SMCCC.VENDOR_HYP_CALL_UID_FUNC_ID:
      return VM_FLAG.VENDOR_FUNC_FEAT_OFF;
    case ARM_SMCCC.VENDOR_HYP_KVM_PTP_FUNC_ID:
      return VM_FLAG.PTP_OFF;
    default:
      return 0;
  }
}

/**
 * kvm_smccc_default_allowed: SMCCC_VERSION, ARCH_FEATURES, the PSCI range of the standard
 * service (function numbers 0-0x1f) and KVM's PSCI 0.1 ids need no bitmap bit.
 */
function defaultAllowed(fn: number): boolean {
  if (fn === ARM_SMCCC.VERSION_FUNC_ID || fn === ARM_SMCCC.ARCH_FEATURES_FUNC_ID) return true;
  if (((fn >>> 24) & 0x3f) === ARM_SMCCC.OWNER_STANDARD && (fn & 0xffff) <= 0x1f) return true;
  return fn >= PSCI_0_1.CPU_SUSPEND && fn <= PSCI_0_1.MIGRATE;
}

/**
 * HVC #imm / SMC #0 at EL1 (kvm_smccc_call_handler; `smc` for the SMC conduit). The PC already
 * points past the instruction.
 */
export function smcccCall(c: Cpu, smc: boolean): Hvc {
  const fn = c.x[0]! >>> 0;
  // kvm_smccc_get_action: the filter's action first; then a call neither enabled by its bitmap
  // bit nor allowed by default is denied.
  const action = filterAction(c.vmState.smcccFilter, fn);
  if (action === KVM_SMCCC_FILTER.FWD_TO_USER) {
    // kvm_prepare_hypercall_exit: userspace answers in X0-X3 and runs the vCPU again.
    exitHypercall(c.vcpu, BigInt(fn), [], smc ? BigInt(KVM_HYPERCALL_EXIT.SMC) : 0n);
    throw EXIT;
  }
  const g = gate(fn);
  if (action === KVM_SMCCC_FILTER.DENY || (g !== 0 ? c.shared.flags & g : !defaultAllowed(fn))) {
    setRet(c, ARM_SMCCC.RET_NOT_SUPPORTED);
    return Hvc.CONTINUE;
  }
  switch (fn) {
    case ARM_SMCCC.VERSION_FUNC_ID:
      setRet(c, ARM_SMCCC.VERSION_1_1);
      return Hvc.CONTINUE;
    case ARM_SMCCC.ARCH_FEATURES_FUNC_ID:
      setRet(c, archFeature(c, c.x[2]! >>> 0));
      return Hvc.CONTINUE;
    case ARM_SMCCC.HV_PV_TIME_FEATURES:
      setRet(c, pvFeatures(c.vcpu.archState as Arm64Vcpu, c.x[2]! >>> 0));
      return Hvc.CONTINUE;
    case ARM_SMCCC.HV_PV_TIME_ST: {
      const gpa = initStolenTime(c.vcpu, c.vcpu.archState as Arm64Vcpu);
      setRet(c, gpa < 0 ? ARM_SMCCC.RET_NOT_SUPPORTED : gpa);
      return Hvc.CONTINUE;
    }
    case ARM_SMCCC.VENDOR_HYP_CALL_UID_FUNC_ID:
      setRet(c, KVM_UID[0], KVM_UID[1], KVM_UID[2], KVM_UID[3]);
      return Hvc.CONTINUE;
    case ARM_SMCCC.VENDOR_HYP_KVM_FEATURES_FUNC_ID:
      setRet(c, Number(fwBmap(c.shared, 2)));
      return Hvc.CONTINUE;
    case ARM_SMCCC.VENDOR_HYP_KVM_PTP_FUNC_ID:
      ptp(c);
      return Hvc.CONTINUE;
    case ARM_SMCCC.TRNG_VERSION:
    case ARM_SMCCC.TRNG_FEATURES:
    case ARM_SMCCC.TRNG_GET_UUID:
    case ARM_SMCCC.TRNG_RND32:
    case ARM_SMCCC.TRNG_RND64:
      trngCall(c, fn);
      return Hvc.CONTINUE;
    default:
      return psciCall(c, fn);
  }
}

/**
 * SMCCC_ARCH_FEATURES: the Spectre workarounds answer NOT_SUPPORTED (the SPECTRE_VULNERABLE
 * answer, matching the workaround registers' level 0 in onereg.ts); PV_TIME_FEATURES exists while
 * its bitmap bit is set; anything else NOT_SUPPORTED.
 */
function archFeature(c: Cpu, f: number): number {
  if (f === ARM_SMCCC.HV_PV_TIME_FEATURES && !(c.shared.flags & VM_FLAG.PV_TIME_OFF)) return ARM_SMCCC.RET_SUCCESS;
  return ARM_SMCCC.RET_NOT_SUPPORTED;
}

/**
 * ARM_SMCCC_VENDOR_HYP_KVM_PTP_FUNC_ID (kvm_ptp_get_time; Documentation/virt/kvm/arm/ptp_kvm.rst):
 * the wall clock and the chosen counter (X1: KVM_PTP_VIRT_COUNTER or _PHYS_COUNTER) at one
 * instant: X0/X1 the upper/lower 32 bits of CLOCK_REALTIME ns, X2/X3 those of the counter. The
 * counter here is the VM clock, which the wall clock follows only on the host clock; under the
 * deterministic clock (like a host whose clocksource is not the architected counter) and for an
 * unknown counter the call answers NOT_SUPPORTED.
 */
function ptp(c: Cpu): void {
  const which = c.x[2]! >>> 0;
  const t = which === KVM_PTP.VIRT_COUNTER ? VTIMER : which === KVM_PTP.PHYS_COUNTER ? PTIMER : -1;
  const ticks = ticksNow(c);
  const real = t < 0 ? null : c.vcpu.vm.clock.realtimeAt(ticks * NS_PER_TICK);
  if (real === null) {
    setRet(c, ARM_SMCCC.RET_NOT_SUPPORTED);
    return;
  }
  counterAt(c, t, ticks);
  setRet(c, Number((real >> 32n) & 0xffff_ffffn), Number(real & 0xffff_ffffn), cnt.hi, cnt.lo);
}

/** kvm_smccc_filter_get_action: the action of the range holding `fn`, HANDLE outside every range. */
function filterAction(f: readonly number[] | null, fn: number): number {
  if (f === null) return KVM_SMCCC_FILTER.HANDLE;
  for (let i = 0; i < f.length; i += 3) if (fn >= f[i]! && fn <= f[i + 1]!) return f[i + 2]!;
  return KVM_SMCCC_FILTER.HANDLE;
}

/** The SMCCC architecture ranges (32- and 64-bit fast calls of owner 0) userspace may not filter. */
const RESERVED = [0x80000000, 0x8000ffff, KVM_SMCCC_FILTER.HANDLE, 0xc0000000, 0xc000ffff, KVM_SMCCC_FILTER.HANDLE] as const;

/** Inserts [first, last] into the sorted triples (mtree_insert_range): EEXIST when it overlaps a range. */
function insertRange(f: number[], first: number, last: number, action: number): boolean {
  let i = 0;
  while (i < f.length && f[i + 1]! < first) i += 3;
  if (i < f.length && f[i]! <= last) return false;
  f.splice(i, 0, first, last, action);
  return true;
}

/**
 * KVM_SET_DEVICE_ATTR / KVM_HAS_DEVICE_ATTR of group KVM_ARM_VM_SMCCC_CTRL on the VM
 * (kvm_vm_smccc_{set,has}_attr, kvm_smccc_set_filter): only KVM_ARM_VM_SMCCC_FILTER (ENXIO
 * else); a struct kvm_smccc_filter with a zero pad, at least one function, no wrap past 2^32 and
 * a known action (EINVAL), before the VM has run (EBUSY), overlapping neither the architecture
 * ranges nor an earlier range (EEXIST).
 */
export function vmSmcccAttr(vm: Vm, set: boolean, attr: bigint, addr: bigint, arg: UserArg): number {
  const fail = (code: 'EINVAL' | 'ENXIO' | 'EBUSY' | 'EEXIST', message?: string) => KvmError.of(code, 'ioctl', { request: arg.request, fd: arg.fd, ...(message ? { message } : {}) });
  if (attr !== BigInt(KVM_ARM_VM_SMCCC.FILTER)) throw fail('ENXIO');
  if (!set) return 0;
  const F = kvm_smccc_filter;
  const f = F.decode(vm.kernel.space.user(addr, F.size)); // copy_from_user: EFAULT
  if (f.pad.some((b) => b !== 0)) throw fail('EINVAL', 'nonzero pad');
  const first = f.base >>> 0;
  const last = first + (f.nr_functions >>> 0) - 1;
  if (f.nr_functions === 0 || last >= 2 ** 32 || f.action > KVM_SMCCC_FILTER.FWD_TO_USER) throw fail('EINVAL', 'bad range or action');
  const st = vm.archState as Arm64VmState;
  if (sharedOf(st).flags & VM_FLAG.TIMER_PPIS_IMMUTABLE) throw fail('EBUSY', 'the VM has run');
  st.smcccFilter ??= [...RESERVED];
  if (!insertRange(st.smcccFilter, first, last, f.action)) throw fail('EEXIST', 'the range overlaps a filtered or reserved one');
  vm.bumpView(); // vCPUs on other threads see the VM state again
  return 0;
}
