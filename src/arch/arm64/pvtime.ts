/**
 * PV stolen time (arch/arm64/kvm/pvtime.c; ARM DEN0057A; Documentation/virt/kvm/arm/pvtime.rst):
 * userspace gives each vCPU the IPA of a 64-byte structure (KVM_ARM_VCPU_PVTIME_CTRL /
 * KVM_ARM_VCPU_PVTIME_IPA), the guest finds it with ARM_SMCCC_HV_PV_TIME_ST (which zeroes it),
 * and at every KVM_RUN entry (the kernel's KVM_REQ_RECORD_STEAL, requested at each vcpu_load)
 * `stolen_time` grows by the run_delay the vCPU's task accumulated since the last update: the
 * time the thread that issued KVM_RUN was runnable but not running (src/kernel/sched.ts; through
 * the preload shim, the program's thread). revision and attributes stay 0, as in Linux 6.12.
 * @module
 */
import type { UserArg } from '../../kernel/uarg.js';
import type { Vcpu } from '../../kernel/vcpu.js';
import { schedInfoOn } from '../../kernel/sched.js';
import { KvmError } from '../../sys/error.js';
import { ARM_SMCCC, KVM_ARM_VCPU_ATTR, pvclock_vcpu_stolen_time } from '../../uapi/arm64.js';
import type { Arm64Vcpu } from './cpu.js';

/** vcpu->arch.steal.base when unset. */
export const INVALID_GPA = -1;

const STOLEN = pvclock_vcpu_stolen_time.offsetOf('stolen_time');
const ZERO = new Uint8Array(pvclock_vcpu_stolen_time.size);
const st = new Uint8Array(8);
const stv = new DataView(st.buffer);
const TWO32 = 4294967296;

/** kvm_arm_pvtime_supported: sched_info_on(), i.e. the host publishes run_delay. */
export function pvtimeSupported(): boolean {
  return schedInfoOn();
}

/** kvm_update_stolen_time: adds the run_delay since the last update to the guest's stolen_time. */
export function updateStolenTime(vcpu: Vcpu, a: Arm64Vcpu): void {
  const s = a.steal;
  if (s.base === INVALID_GPA) return;
  const now = vcpu.vm.kernel.runDelay();
  if (now < 0) return; // the task's statistics are gone (the program thread ended)
  // kvm_get_guest / kvm_put_guest: nothing happens where no memslot (or a read-only one) backs it.
  if (!vcpu.vm.readGpa(s.base + STOLEN, st)) return;
  const delta = now - s.lastSteal;
  s.lastSteal = now;
  // The u64 sum modulo 2^64, in two halves (no BigInt on KVM_RUN entry).
  const lo = stv.getUint32(0, true) + delta;
  const carry = Math.floor(lo / TWO32);
  stv.setUint32(0, lo - carry * TWO32, true);
  stv.setUint32(4, (((stv.getUint32(4, true) + carry) % TWO32) + TWO32) % TWO32, true);
  vcpu.vm.writeGpa(s.base + STOLEN, st);
}

/** kvm_hypercall_pv_features: PV_TIME_FEATURES and PV_TIME_ST exist once userspace set the IPA. */
export function pvFeatures(a: Arm64Vcpu, feature: number): number {
  if (feature === ARM_SMCCC.HV_PV_TIME_FEATURES || feature === ARM_SMCCC.HV_PV_TIME_ST) {
    if (a.steal.base !== INVALID_GPA) return ARM_SMCCC.RET_SUCCESS;
  }
  return ARM_SMCCC.RET_NOT_SUPPORTED;
}

/** kvm_init_stolen_time (PV_TIME_ST): counting starts now; the structure is zeroed; its IPA or INVALID_GPA. */
export function initStolenTime(vcpu: Vcpu, a: Arm64Vcpu): number {
  const s = a.steal;
  if (s.base === INVALID_GPA) return INVALID_GPA;
  const now = vcpu.vm.kernel.runDelay();
  s.lastSteal = now < 0 ? 0 : now;
  vcpu.vm.writeGpa(s.base, ZERO);
  return s.base;
}

/** KVM_{SET,GET,HAS}_DEVICE_ATTR of group KVM_ARM_VCPU_PVTIME_CTRL (kvm_arm_pvtime_{set,get,has}_attr). */
export function pvtimeAttr(vcpu: Vcpu, op: 'set' | 'get' | 'has', attr: bigint, addr: bigint, arg: UserArg): number {
  const fail = (code: 'EINVAL' | 'ENXIO' | 'EEXIST', message?: string) => KvmError.of(code, 'ioctl', { request: arg.request, fd: arg.fd, ...(message ? { message } : {}) });
  const known = pvtimeSupported() && attr === BigInt(KVM_ARM_VCPU_ATTR.PVTIME_IPA);
  if (!known) throw fail('ENXIO');
  if (op === 'has') return 0;
  const a = vcpu.archState as Arm64Vcpu;
  const space = vcpu.vm.kernel.space;
  if (op === 'get') {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, a.steal.base === INVALID_GPA ? 0xffff_ffff_ffff_ffffn : BigInt(a.steal.base), true);
    space.user(addr, 8).set(out); // put_user: EFAULT
    return 0;
  }
  const u = space.user(addr, 8); // get_user: EFAULT
  const ipa = new DataView(u.buffer, u.byteOffset, 8).getBigUint64(0, true);
  if (ipa & 63n) throw fail('EINVAL', 'the PV time structure must be 64-byte aligned');
  if (a.steal.base !== INVALID_GPA) throw fail('EEXIST', 'the PV time IPA is already set');
  // gfn_to_hva: a memslot (writable: the kernel asks for a write mapping) must hold the IPA.
  const gfn = ipa >> 12n;
  const slot = gfn < 2n ** 52n ? vcpu.vm.slotFor(Number(gfn)) : undefined;
  if (!slot || slot.readonly) throw fail('EINVAL', 'no writable memslot holds the PV time IPA');
  a.steal.base = Number(ipa);
  return 0;
}
