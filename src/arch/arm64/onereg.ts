/**
 * KVM_GET/SET_ONE_REG and KVM_GET_REG_LIST on arm64: core registers (KVM_REG_ARM_CORE, indexed
 * by 32-bit words of struct kvm_regs), system registers (KVM_REG_ARM64_SYSREG) and firmware
 * pseudo-registers (KVM_REG_ARM_FW).
 * @module
 */
import type { UserArg } from '../../kernel/uarg.js';
import type { Vcpu } from '../../kernel/vcpu.js';
import { KvmError } from '../../sys/error.js';
import { kvmRegSize, KVM_REG } from '../../uapi/constants.js';
import { arm64 } from '../../uapi/index.js';
import { KVM_ARM_VCPU, KVM_REG_ARM } from '../../uapi/arm64.js';
import type { Cpu } from './cpu.js';
import { cnt, counter, CTL_ISTATUS, expired, PTIMER, ticksNow, VTIMER } from './timer.js';
import { VM_FLAG } from './vmshared.js';
import { fwBmap, fwBmapFeatures, setFwBmap } from './hypercalls.js';
import { SR, SYSREGS, SYSREG_BY_KEY, SYSREG_INDEX } from './sysregs.js';

const S = arm64.structs;
const CORE = BigInt(KVM_REG_ARM.CORE);
const SYSREG = 0x0013n << 16n;
const FW = BigInt(KVM_REG_ARM.FW);
const COPROC_MASK = BigInt(KVM_REG_ARM.COPROC_MASK);
const PSCI_VERSION_ID = KVM_REG.ARM64 | KVM_REG.SIZE_U64 | FW | 0n;
/** KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_1..3 (KVM_REG_ARM_FW_REG(1..3)). */
const WA_IDS = [1n, 2n, 3n].map((r) => KVM_REG.ARM64 | KVM_REG.SIZE_U64 | FW | r);
/** KVM_REG_ARM_STD_BMAP, _STD_HYP_BMAP, _VENDOR_HYP_BMAP (KVM_REG_ARM_FW_FEAT_BMAP_REG(0..2)). */
const BMAP_IDS = [0n, 1n, 2n].map((r) => KVM_REG.ARM64 | KVM_REG.SIZE_U64 | BigInt(KVM_REG_ARM.FW_FEAT_BMAP) | r);
/** KVM_REG_FEATURE_LEVEL_MASK and KVM_REG_ARM_SMCCC_ARCH_WORKAROUND_2_ENABLED. */
const FEATURE_LEVEL_MASK = 0xfn;
const WA2_ENABLED = 0x10n;
/**
 * get_kernel_wa_level: this CPU reports no firmware mitigation for Spectre v2/v4/BHB (the
 * SPECTRE_VULNERABLE answer: level 0, *_NOT_AVAIL), as SMCCC_ARCH_FEATURES of the workarounds
 * already answers NOT_SUPPORTED (hypercalls.ts).
 */
const WA_LEVEL = 0n;
/** KVM_ARM_PSCI_0_1, _0_2, _1_0, _1_1 (PSCI_VERSION(major, minor)). */
const PSCI_0_1 = 0x1n;
const PSCI_0_2 = 0x2n;
const PSCI_1_0 = 0x10000n;
const PSCI_1_1 = 0x10001n;

const off = (p: string) => S.kvm_regs.offsetOf(p);
const X0 = off('regs.regs');
const SP = off('regs.sp');
const PC = off('regs.pc');
const PSTATE_OFF = off('regs.pstate');
const SP_EL1 = off('sp_el1');
const ELR_EL1 = off('elr_el1');
const SPSR = off('spsr');
const VREGS = off('fp_regs.vregs');
const FPSR = off('fp_regs.fpsr');
const FPCR = off('fp_regs.fpcr');
/** sizeof(struct kvm_regs) / sizeof(__u32): the core-register id space. */
const NR_CORE_WORDS = S.kvm_regs.size / 4;

/** Every core register id, in kvm_regs order (what KVM_GET_REG_LIST reports). */
function coreIds(): bigint[] {
  const ids: bigint[] = [];
  const id = (o: number, size: bigint) => KVM_REG.ARM64 | size | CORE | BigInt(o / 4);
  for (let i = 0; i < 31; i++) ids.push(id(X0 + 8 * i, KVM_REG.SIZE_U64));
  ids.push(id(SP, KVM_REG.SIZE_U64), id(PC, KVM_REG.SIZE_U64), id(PSTATE_OFF, KVM_REG.SIZE_U64), id(SP_EL1, KVM_REG.SIZE_U64), id(ELR_EL1, KVM_REG.SIZE_U64));
  for (let i = 0; i < 5; i++) ids.push(id(SPSR + 8 * i, KVM_REG.SIZE_U64));
  for (let i = 0; i < 32; i++) ids.push(id(VREGS + 16 * i, KVM_REG.SIZE_U128));
  ids.push(id(FPSR, KVM_REG.SIZE_U32), id(FPCR, KVM_REG.SIZE_U32));
  return ids;
}

const ALL_IDS: readonly bigint[] = [
  ...coreIds(),
  PSCI_VERSION_ID,
  ...WA_IDS,
  ...BMAP_IDS,
  ...SYSREGS.filter((r) => !r.hidden).map((r) => KVM_REG.ARM64 | KVM_REG.SIZE_U64 | SYSREG | BigInt(r.key)),
];

/**
 * A ONE_REG-visible system register's value: the timer counters are computed, a timer's CTL
 * shows ISTATUS whenever the count has reached CVAL (read_timer_ctl, enabled or not).
 */
export function sysregValue(s: Cpu, key: number): bigint {
  switch (SYSREG_INDEX.get(key)) {
    case SR.TIMER_CNT:
      counter(s, VTIMER);
      return (BigInt(cnt.hi) << 32n) | BigInt(cnt.lo);
    case SR.PTIMER_CNT:
      counter(s, PTIMER);
      return (BigInt(cnt.hi) << 32n) | BigInt(cnt.lo);
    case SR.TIMER_CTL:
    case SR.PTIMER_CTL: {
      const t = SYSREG_INDEX.get(key) === SR.TIMER_CTL ? VTIMER : PTIMER;
      return (s.getSysByKey(key) ?? 0n) | (expired(s, t) ? BigInt(CTL_ISTATUS) : 0n);
    }
    default:
      return s.getSysByKey(key) ?? SYSREG_BY_KEY.get(key)?.reset ?? 0n;
  }
}

/** Reads a register's bytes (little-endian, KVM_REG_SIZE(id) long), or throws its errno. */
function read(s: Cpu, id: bigint): Uint8Array {
  const size = kvmRegSize(id);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  const kind = id & COPROC_MASK;
  // kvm_arm_get/set_reg: nothing arch-specific in the upper 32 bits (only the arch and size fields).
  if ((id & ~KVM_REG.SIZE_MASK) >> 32n !== KVM_REG.ARM64 >> 32n) throw KvmError.of('EINVAL', 'ioctl');
  if (kind === CORE) {
    // get/set_core_reg: the 32-bit word index (every low bit but the CORE one, bits 28-31
    // included) and the words the id's size spans must lie inside kvm_regs (ENOENT), then the
    // size must be that register's (core_reg_size_from_offset, EINVAL).
    const word = Number((id & 0xffffffffn) & ~CORE);
    if (word >= NR_CORE_WORDS || word + size / 4 >= NR_CORE_WORDS) throw KvmError.of('ENOENT', 'ioctl');
    const o = word * 4;
    const want = coreSize(o);
    if (want === 0 || want !== size) throw KvmError.of('EINVAL', 'ioctl');
    if (o >= X0 && o < SP) dv.setBigUint64(0, s.getX((o - X0) / 8), true);
    else if (o === SP) dv.setBigUint64(0, s.getSp(0), true);
    else if (o === PC) dv.setBigUint64(0, s.pc64, true);
    else if (o === PSTATE_OFF) dv.setBigUint64(0, BigInt(s.pstate >>> 0), true);
    else if (o === SP_EL1) dv.setBigUint64(0, s.getSp(1), true);
    else if (o === ELR_EL1) dv.setBigUint64(0, s.elrEl1, true);
    else if (o === SPSR) dv.setBigUint64(0, BigInt(s.spsrEl1 >>> 0), true);
    else if (o > SPSR && o < SPSR + 40) dv.setBigUint64(0, s.spsr32[(o - SPSR) / 8 - 1]!, true);
    else if (o >= VREGS && o < VREGS + 512) out.set(s.vr.subarray(o - VREGS, o - VREGS + 16));
    else if (o === FPSR) dv.setUint32(0, s.fpsr, true);
    else if (o === FPCR) dv.setUint32(0, s.fpcr, true);
    return out;
  }
  if (kind === SYSREG) {
    const key = Number(id & 0xffffn);
    if (size !== 8 || !SYSREG_BY_KEY.has(key) || SYSREG_BY_KEY.get(key)!.hidden) throw KvmError.of('ENOENT', 'ioctl');
    dv.setBigUint64(0, sysregValue(s, key), true);
    return out;
  }
  if (id === PSCI_VERSION_ID) {
    dv.setBigUint64(0, BigInt(s.psciVersion), true);
    return out;
  }
  if (WA_IDS.includes(id)) {
    dv.setBigUint64(0, WA_LEVEL, true);
    return out;
  }
  const b = BMAP_IDS.indexOf(id);
  if (b >= 0) {
    dv.setBigUint64(0, fwBmap(s.shared, b), true);
    return out;
  }
  throw KvmError.of('ENOENT', 'ioctl');
}

/** Size of the core register at kvm_regs offset `o` (0 when `o` is not the start of one). */
function coreSize(o: number): number {
  if (o % 4) return 0;
  if (o >= VREGS && o < VREGS + 512) return (o - VREGS) % 16 === 0 ? 16 : 0;
  if (o === FPSR || o === FPCR) return 4;
  if (o < VREGS && o % 8 === 0 && o <= SPSR + 32) return 8;
  return 0;
}

export function getOneReg(vcpu: Vcpu, s: Cpu, id: bigint, addr: bigint): void {
  const data = read(s, id);
  vcpu.vm.kernel.space.user(addr, data.length).set(data);
}

export function setOneReg(vcpu: Vcpu, s: Cpu, id: bigint, addr: bigint): void {
  const cur = read(s, id); // validates the id and size
  const data = vcpu.vm.kernel.space.user(addr, cur.length);
  const dv = new DataView(data.buffer, data.byteOffset, data.length);
  const kind = id & COPROC_MASK;
  if (kind === CORE) {
    const o = Number(id & 0xffffn) * 4;
    if (o >= X0 && o < SP) s.setX((o - X0) / 8, dv.getBigUint64(0, true));
    else if (o === SP) s.setSp(0, dv.getBigUint64(0, true));
    else if (o === PC) s.pc64 = dv.getBigUint64(0, true);
    else if (o === PSTATE_OFF) {
      const p = dv.getBigUint64(0, true);
      // set_core_reg checks only the mode field: AArch64 EL0t/EL1t/EL1h here (no EL2, no
      // AArch32). Other bits are accepted; those above bit 31 (no PSTATE field this CPU has)
      // read back as 0, where KVM would keep them in regs.pstate.
      const m = Number(p & 0x1fn);
      if (![0b00000, 0b00100, 0b00101].includes(m)) throw KvmError.of('EINVAL', 'ioctl');
      s.pstate = Number(p & 0xffffffffn) >>> 0;
    } else if (o === SP_EL1) s.setSp(1, dv.getBigUint64(0, true));
    else if (o === ELR_EL1) s.elrEl1 = dv.getBigUint64(0, true);
    else if (o === SPSR) s.spsrEl1 = Number(dv.getBigUint64(0, true) & 0xffffffffn) >>> 0;
    else if (o > SPSR && o < SPSR + 40) s.spsr32[(o - SPSR) / 8 - 1] = dv.getBigUint64(0, true);
    else if (o >= VREGS && o < VREGS + 512) s.vr.set(data, o - VREGS);
    else if (o === FPSR) s.fpsr = dv.getUint32(0, true);
    else if (o === FPCR) s.fpcr = dv.getUint32(0, true);
    s.userGen++;
    return;
  }
  if (kind === SYSREG) {
    const key = Number(id & 0xffffn);
    const def = SYSREG_BY_KEY.get(key)!;
    const v = dv.getBigUint64(0, true);
    // ID registers are writable by userspace only to their current value here; OSLSR_EL1 only in OSLK.
    const cur = sysregValue(s, key);
    if (SYSREG_INDEX.get(key) === SR.OSLSR) {
      if ((v ^ cur) & ~2n) throw KvmError.of('EINVAL', 'ioctl');
    } else if (def.userWi) return; // REG_USER_WI: accepted, no effect
    else if (def.ro && v !== cur) throw KvmError.of('EINVAL', 'ioctl');
    const idx = SYSREG_INDEX.get(key);
    if (idx === SR.TIMER_CNT || idx === SR.PTIMER_CNT) {
      // The counter is the VM's: writing it moves the VM's offset (kvm_arm_timer_set_reg), unless
      // userspace took the offset over with KVM_ARM_SET_COUNTER_OFFSET.
      if ((s.shared.flags & VM_FLAG.COUNTER_OFFSET) === 0) {
        s.shared.setOffset(idx === SR.TIMER_CNT ? VTIMER : PTIMER, BigInt(ticksNow(s)) - v);
      }
    } else if (idx === SR.TIMER_CTL || idx === SR.PTIMER_CTL) s.setSysByKey(key, v & 3n);
    else s.setSysByKey(key, v);
    s.userGen++;
    return;
  }
  if (id === PSCI_VERSION_ID) {
    const v = dv.getBigUint64(0, true);
    // kvm_arm_set_fw_reg: 0.1 for a vCPU without KVM_ARM_VCPU_PSCI_0_2, else 0.2, 1.0 or 1.1.
    const wants02 = (((vcpu.archState as { features: number | null }).features ?? 0) & (1 << KVM_ARM_VCPU.PSCI_0_2)) !== 0;
    const ok = v === PSCI_0_1 ? !wants02 : v === PSCI_0_2 || v === PSCI_1_0 || v === PSCI_1_1 ? wants02 : false;
    if (!ok) throw KvmError.of('EINVAL', 'ioctl', { message: `PSCI version 0x${v.toString(16)} is not one this vCPU can take` });
    s.psciVersion = Number(v);
    return;
  }
  const v = dv.getBigUint64(0, true);
  const wa = WA_IDS.indexOf(id);
  if (wa >= 0) {
    // kvm_arm_set_fw_reg: a level no higher than the kernel's (WORKAROUND_2: ENABLED only with
    // AVAIL; NOT_AVAIL/UNKNOWN count as NOT_AVAIL, AVAIL/NOT_REQUIRED as NOT_REQUIRED, 3).
    if (wa !== 1) {
      if (v & ~FEATURE_LEVEL_MASK || v > WA_LEVEL) throw KvmError.of('EINVAL', 'ioctl');
      return;
    }
    if (v & ~(FEATURE_LEVEL_MASK | WA2_ENABLED)) throw KvmError.of('EINVAL', 'ioctl');
    const level = v & FEATURE_LEVEL_MASK;
    if (v & WA2_ENABLED && level !== 2n) throw KvmError.of('EINVAL', 'ioctl');
    if (level > 3n || (level >= 2n ? 3n : 0n) > WA_LEVEL) throw KvmError.of('EINVAL', 'ioctl');
    return;
  }
  const b = BMAP_IDS.indexOf(id);
  if (b >= 0) {
    // kvm_arm_set_fw_reg_bmap: unsupported bits EINVAL; once the VM ran only the current value.
    if (v & ~fwBmapFeatures(b)) throw KvmError.of('EINVAL', 'ioctl', { message: 'an SMCCC service this VM cannot offer' });
    if (s.shared.flags & VM_FLAG.TIMER_PPIS_IMMUTABLE && v !== new DataView(cur.buffer).getBigUint64(0, true)) {
      throw KvmError.of('EBUSY', 'ioctl', { message: 'the VM has run' });
    }
    setFwBmap(s.shared, b, v);
  }
}

/** KVM_GET_REG_LIST: E2BIG (with n updated) when the caller's array is too small. */
export function regList(_vcpu: Vcpu, arg: UserArg): number {
  const hdr = arg.bytes(8);
  const n = new DataView(hdr.buffer, hdr.byteOffset, 8).getBigUint64(0, true);
  new DataView(hdr.buffer, hdr.byteOffset, 8).setBigUint64(0, BigInt(ALL_IDS.length), true);
  if (n < BigInt(ALL_IDS.length)) throw KvmError.of('E2BIG', 'ioctl', { request: arg.request, fd: arg.fd });
  const out = arg.slice(8, 8 * ALL_IDS.length);
  const dv = new DataView(out.buffer, out.byteOffset, out.length);
  ALL_IDS.forEach((id, i) => dv.setBigUint64(8 * i, id, true));
  return 0;
}

