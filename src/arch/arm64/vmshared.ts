/**
 * The arm64 VM state every thread running one of its vCPUs must see live, in shared memory
 * (declared with the uapi layout engine; a small SharedArrayBuffer for the VM and one per vCPU):
 * the counter offsets (kvm->arch.timer_data voffset and
 * poffset), VM flags (KVM_ARCH_FLAG_VM_COUNTER_OFFSET, TIMER_PPIS_IMMUTABLE), and per vCPU (by
 * vcpu_idx) its MPIDR, its power state (vcpu->arch.mp_state), a pending PSCI CPU_ON reset (entry
 * point and context id) and the CPU's IRQ/FIQ lines KVM_IRQ_LINE drives without a vGIC. PSCI
 * CPU_ON / AFFINITY_INFO from a vCPU on any thread find and wake their target through it.
 * @module
 */
import { KVM_MP_STATE } from '../../uapi/constants.js';
import { s32, struct, u64 } from '../../uapi/layout.js';

/** KVM_MAX_VCPUS of this backend. */
export const MAX_VCPUS = 512;

/** One vCPU's words (a small SharedArrayBuffer each, so a VM costs what its vCPUs need). */
export const ARM64_VCPU_SHARED = struct('vkvm_arm64_vcpu', {
  /** KVM_IRQ_LINE CPU-type lines: bit 0 IRQ, bit 1 FIQ (no vGIC). */
  lines: s32,
  mp_state: s32,
  /** A PSCI CPU_ON reset is pending (vcpu->arch.reset_state.reset). */
  reset: s32,
  entry_lo: s32,
  entry_hi: s32,
  ctx_lo: s32,
  ctx_hi: s32,
  /** MPIDR_EL1 affinity (Aff2.Aff1.Aff0). */
  mpidr: s32,
});

/** The VM's words. */
export const ARM64_VM_SHARED = struct('vkvm_arm64_vm', {
  flags: s32,
  pad: s32,
  /** Virtual and physical counter offsets, in counter ticks (u64, little-endian lo/hi words). */
  voffset: u64,
  poffset: u64,
});

/** Word index of the low half of each offset (VTIMER, PTIMER order); the high half follows. */
const OFF_WORD = [ARM64_VM_SHARED.offsetOf('voffset') / 4, ARM64_VM_SHARED.offsetOf('poffset') / 4] as const;

const F = {
  LINES: ARM64_VCPU_SHARED.offsetOf('lines') / 4,
  MP_STATE: ARM64_VCPU_SHARED.offsetOf('mp_state') / 4,
  RESET: ARM64_VCPU_SHARED.offsetOf('reset') / 4,
  ENTRY_LO: ARM64_VCPU_SHARED.offsetOf('entry_lo') / 4,
  ENTRY_HI: ARM64_VCPU_SHARED.offsetOf('entry_hi') / 4,
  CTX_LO: ARM64_VCPU_SHARED.offsetOf('ctx_lo') / 4,
  CTX_HI: ARM64_VCPU_SHARED.offsetOf('ctx_hi') / 4,
  MPIDR: ARM64_VCPU_SHARED.offsetOf('mpidr') / 4,
} as const;

/** VM flags. */
export const VM_FLAG = {
  /** KVM_ARM_SET_COUNTER_OFFSET was used: TIMER_CNT writes no longer move the offset. */
  COUNTER_OFFSET: 1,
  /** A vCPU has run: the timer PPIs are fixed (KVM_ARCH_FLAG_TIMER_PPIS_IMMUTABLE). */
  TIMER_PPIS_IMMUTABLE: 2,
  /**
   * The SMCCC services userspace disabled through the bitmapped firmware registers (kvm->arch.
   * smccc_feat, every bit set at VM creation; hypercalls.ts): their calls answer NOT_SUPPORTED.
   * KVM_REG_ARM_VENDOR_HYP_BMAP bit 0, the KVM vendor calls (UID and features).
   */
  VENDOR_FUNC_FEAT_OFF: 4,
  /** KVM_REG_ARM_STD_BMAP bit 0: the TRNG 1.0 calls. */
  TRNG_OFF: 8,
  /** KVM_REG_ARM_STD_HYP_BMAP bit 0: PV time. */
  PV_TIME_OFF: 16,
  /** KVM_REG_ARM_VENDOR_HYP_BMAP bit 1: the PTP call. */
  PTP_OFF: 32,
  /** KVM_CAP_ARM_SYSTEM_SUSPEND enabled: PSCI SYSTEM_SUSPEND exits to userspace (KVM_ARCH_FLAG_SYSTEM_SUSPEND_ENABLED). */
  SYSTEM_SUSPEND: 64,
} as const;

/** The shared memory of one VM: cloneable (it shares, not copies, when sent to a worker). */
export interface Arm64SharedMem {
  readonly vm: SharedArrayBuffer;
  /** By vcpu_idx. */
  readonly vcpus: Int32Array[];
}

/** A view of the shared words (one per thread; the memory is the same). */
export class Arm64Shared {
  readonly words: Int32Array;
  private readonly slots: Int32Array[];

  constructor(readonly mem: Arm64SharedMem = { vm: new SharedArrayBuffer(ARM64_VM_SHARED.size), vcpus: [] }) {
    this.words = new Int32Array(mem.vm);
    this.slots = mem.vcpus;
  }

  get flags(): number {
    return Atomics.load(this.words, 0);
  }

  setFlag(f: number): void {
    Atomics.or(this.words, 0, f);
  }

  clearFlag(f: number): void {
    Atomics.and(this.words, 0, ~f);
  }

  /** Low 32 bits (as u32) of counter offset `t` (0 virtual, 1 physical): exact u64, no float. */
  offLo(t: number): number {
    return this.words[OFF_WORD[t as 0 | 1]]! >>> 0;
  }

  /** High 32 bits (as u32) of counter offset `t`. */
  offHi(t: number): number {
    return this.words[OFF_WORD[t as 0 | 1] + 1]! >>> 0;
  }

  /** Counter offset `t` as a u64 (the ioctl edge). */
  offset(t: number): bigint {
    return (BigInt(this.offHi(t)) << 32n) | BigInt(this.offLo(t));
  }

  /** Sets counter offset `t` (taken modulo 2^64). */
  setOffset(t: number, v: bigint): void {
    const u = BigInt.asUintN(64, v);
    this.words[OFF_WORD[t as 0 | 1]] = Number(u & 0xffff_ffffn) | 0;
    this.words[OFF_WORD[t as 0 | 1] + 1] = Number(u >> 32n) | 0;
  }

  /** vCPUs created so far (indexes 0..n-1). */
  get nrVcpus(): number {
    return this.slots.length;
  }

  /** A new vCPU at index `i` with affinity `mpidr`. */
  addVcpu(i: number, mpidr: number): void {
    const w = new Int32Array(new SharedArrayBuffer(ARM64_VCPU_SHARED.size));
    w[F.MPIDR] = mpidr;
    this.slots[i] = w;
  }

  mpidr(i: number): number {
    return this.slots[i]![F.MPIDR]!;
  }

  /** The index of the vCPU with affinity `aff`, or -1. */
  indexOf(aff: number): number {
    for (let i = 0; i < this.slots.length; i++) if (this.slots[i]![F.MPIDR] === aff) return i;
    return -1;
  }

  mpState(i: number): number {
    return Atomics.load(this.slots[i]!, F.MP_STATE);
  }

  setMpState(i: number, s: number): void {
    Atomics.store(this.slots[i]!, F.MP_STATE, s);
  }

  stopped(i: number): boolean {
    return this.mpState(i) === KVM_MP_STATE.STOPPED;
  }

  /** The CPU's IRQ/FIQ lines as one shared word (the CPU tests it without locks). */
  linesView(i: number): Int32Array {
    const slot = this.slots[i]!;
    const v = this.lineViews[i];
    // Cached (KVM_RUN asks every time): the same view while the slot is the same words.
    if (v !== undefined && v.buffer === slot.buffer && v.byteOffset === slot.byteOffset + F.LINES * 4) return v;
    return (this.lineViews[i] = slot.subarray(F.LINES, F.LINES + 1));
  }
  private readonly lineViews: (Int32Array | undefined)[] = [];

  /** PSCI CPU_ON: the reset the target performs at its next KVM_RUN. */
  requestReset(i: number, entry: number, ctxLo: number, ctxHi: number): void {
    const w = this.slots[i]!;
    w[F.ENTRY_LO] = entry | 0;
    w[F.ENTRY_HI] = Math.floor(entry / 4294967296) | 0;
    w[F.CTX_LO] = ctxLo;
    w[F.CTX_HI] = ctxHi;
    Atomics.store(w, F.RESET, 1);
  }

  /** Takes a pending reset request of vCPU `i`: { pc, r0lo, r0hi } or null. */
  takeReset(i: number): { pc: number; r0lo: number; r0hi: number } | null {
    const w = this.slots[i]!;
    if (Atomics.exchange(w, F.RESET, 0) === 0) return null;
    return { pc: w[F.ENTRY_HI]! * 4294967296 + (w[F.ENTRY_LO]! >>> 0), r0lo: w[F.CTX_LO]!, r0hi: w[F.CTX_HI]! };
  }

  /** Drops a pending reset (KVM_ARM_VCPU_INIT resets the vCPU anyway). */
  clearReset(i: number): void {
    Atomics.store(this.slots[i]!, F.RESET, 0);
  }
}

const views = new WeakMap<SharedArrayBuffer, Arm64Shared>();

/** This thread's view of a VM's shared words. */
export function sharedOf(st: { readonly shared: Arm64SharedMem }): Arm64Shared {
  let v = views.get(st.shared.vm);
  if (v === undefined || v.mem !== st.shared) views.set(st.shared.vm, (v = new Arm64Shared(st.shared)));
  return v;
}
