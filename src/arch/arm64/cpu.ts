/**
 * The arm64 vCPU as the interpreter sees it: the architectural state (Arm64State) plus the
 * machinery around it — software TLBs over guest memory, instruction fetch, exception entry and
 * return, the exclusive monitor, and the userspace exits (MMIO, NISV) a data abort can become.
 *
 * Guest-visible faults are raised by throwing {@link FAULT} after the exception has been taken
 * (state already updated); exits to userspace throw {@link EXIT} after kvm_run has been filled.
 * Both are constant objects, so raising allocates nothing; the run loop catches them.
 * @module
 */
import { RUN_COST } from '../../kernel/deadline.js';
import { KVM_BUS, type IoBus } from '../../kernel/iobus.js';
import type { Vcpu } from '../../kernel/vcpu.js';
import type { Vm } from '../../kernel/vm.js';
import type { Jit } from './blocks.js';
import { KvmError } from '../../sys/error.js';
import { checkWatchpoints, debugAttn, watchpointsMayFire } from './debug.js';
import { FetchTlb } from './itlb.js';
import { mmioAccess } from './mmio.js';
import { ACC_R, ACC_W, ACC_X, FSC, MmuConfig, P_R0, P_R1, P_W0, P_W1, PA_SIZE_BITS, translate, Translation } from './mmu.js';
import { Arm64State, numHi, numLo, pairToNum, SP_SLOT } from './state.js';
import { SR } from './sysregs.js';
import { DEFAULT_TIMER_PPIS } from './timer.js';
import type { VgicConfig } from './vgic/device.js';
import type { VgicState } from './vgic/vgic.js';
import { sharedOf, type Arm64Shared, type Arm64SharedMem } from './vmshared.js';

/** Thrown after the guest took an exception (the instruction did not complete). */
export const FAULT: { readonly kind: 'fault' } = Object.freeze({ kind: 'fault' });
/** Thrown after an exit to userspace was prepared in kvm_run. */
export const EXIT: { readonly kind: 'exit' } = Object.freeze({ kind: 'exit' });

/** ESR_ELx.EC values. */
export const EC = {
  UNKNOWN: 0x00,
  FP_ASIMD: 0x07,
  ILLEGAL: 0x0e,
  SVC64: 0x15,
  HVC64: 0x16,
  SMC64: 0x17,
  SYS64: 0x18,
  IABT_LOW: 0x20,
  IABT_CUR: 0x21,
  PC_ALIGN: 0x22,
  DABT_LOW: 0x24,
  DABT_CUR: 0x25,
  SP_ALIGN: 0x26,
  BREAKPT_LOW: 0x30,
  BREAKPT_CUR: 0x31,
  SOFTSTP_LOW: 0x32,
  SOFTSTP_CUR: 0x33,
  WATCHPT_LOW: 0x34,
  WATCHPT_CUR: 0x35,
  BRK64: 0x3c,
} as const;

/** ESR_ELx.IL: every A64 instruction is 32 bits. */
export const ESR_IL = 1 << 25;
/** ISS bits of data aborts. */
export const ISS_WNR = 1 << 6;
export const ISS_CM = 1 << 8;

/** Per-VM arm64 state (kvm->arch). */
export interface Arm64VmState {
  readonly ipaBits: number;
  /** KVM_CAP_ARM_NISV_TO_USER enabled. */
  nisvToUser: boolean;
  /** KVM_CAP_ARM_IDSR_TO_USER enabled (seed extension). */
  idsrToUser: boolean;
  /** Block JIT: executions of a block before it is translated (0: at once). */
  jitHotness: number;
  /** The state every thread must see live (vmshared.ts): counter offsets, vCPU power and lines. */
  readonly shared: Arm64SharedMem;
  /** vcpu->requests of each vCPU by vcpu_idx, so any thread can kick any vCPU. */
  readonly kicks: Int32Array[];
  /** kvm->arch.timer_data.ppi: the vtimer, ptimer, hvtimer and hptimer PPIs. */
  timerPpis: number[];
  /** The in-kernel vGIC (vgic/device.ts), null without one. */
  vgic: VgicConfig | null;
  /** kvm->arch.smccc_filter (hypercalls.ts): sorted [first, last, action] triples; null: none. */
  smcccFilter: number[] | null;
}

/** Host-side debug state of a vCPU (KVM_SET_GUEST_DEBUG). */
export class HostDebug {
  /** kvm_guest_debug.control as accepted (0 when ENABLE is clear). */
  control = 0;
  /** external_debug_state: dbg_{b,w}{c,v}r[16] as lo/hi pairs. */
  readonly bcr = new Int32Array(32);
  readonly bvr = new Int32Array(32);
  readonly wcr = new Int32Array(32);
  readonly wvr = new Int32Array(32);
}

/** vcpu->arch for arm64. */
export interface Arm64Vcpu {
  /** The architectural state and interpreter (recreated by KVM_ARM_VCPU_INIT). */
  cpu: Cpu;
  /** KVM_ARM_VCPU_INIT done (with these features), else ENOEXEC for run and register access. */
  features: number | null;
  /** vcpu->arch.mp_state (in the VM's shared words: PSCI on other threads reads and sets it). */
  mpState: number;
  readonly host: HostDebug;
  /** The vCPU has entered KVM_RUN once (kvm_arch_vcpu_run_pid_change done). */
  hasRun: boolean;
  /** vcpu->arch.steal (pvtime.ts): the PV time structure's IPA (-1: INVALID_GPA), run_delay at the last update. */
  readonly steal: { base: number; lastSteal: number };
}

/** The ISR_EL1 / output bits of a vCPU's interrupt lines (vGIC output or KVM_IRQ_LINE CPU lines). */
export const LINE_IRQ = 1;
export const LINE_FIQ = 2;
/** `attn` bit: an interrupt the vCPU can take now (the run loop delivers it at the next boundary). */
export const ATTN_IRQ = 4;

/** `Cpu.stop` bits. */
export const STOP_CODE = 1;
export const STOP_EXIT = 2;

/** What the next KVM_RUN must finish before running (kvm_handle_mmio_return and friends). */
export const Pending = { NONE: 0, MMIO_READ: 1, MMIO_WRITE: 2, IDSR: 3 } as const;
export type Pending = (typeof Pending)[keyof typeof Pending];

const TWO32 = 4294967296;
const TLB_SIZE = 256;
const DUMMY_DV = new DataView(new ArrayBuffer(8));
const EMPTY_WORDS = new Int32Array(1024);

/** DataViews over guest memory mappings, shared by every vCPU (one per backing buffer). */
const dataViews = new WeakMap<ArrayBufferLike, DataView>();
function dvOf(bytes: Uint8Array): DataView {
  let dv = dataViews.get(bytes.buffer);
  if (!dv) {
    dv = new DataView(bytes.buffer);
    dataViews.set(bytes.buffer, dv);
  }
  return dv;
}

export class Cpu extends Arm64State {
  readonly vm: Vm;
  /** The VM's MMIO bus (kvm->buses[KVM_MMIO_BUS]): data aborts go there before exiting. */
  readonly mmioBus: IoBus;
  readonly vmState: Arm64VmState;
  /** Address of the instruction being executed. */
  insnPc = 0;
  /** The word being executed (for the MMIO syndrome and debug). */
  insn = 0;

  // ---- software TLBs: [EL0 entries | EL1 entries], tag = virtual page number ------------------
  readonly rTag = new Float64Array(2 * TLB_SIZE).fill(NaN);
  readonly rDv: DataView[] = new Array<DataView>(2 * TLB_SIZE).fill(DUMMY_DV);
  readonly rOff = new Int32Array(2 * TLB_SIZE);
  /** The entry maps Device memory (unaligned accesses fault). */
  readonly rDev = new Uint8Array(2 * TLB_SIZE);
  readonly wTag = new Float64Array(2 * TLB_SIZE).fill(NaN);
  readonly wDv: DataView[] = new Array<DataView>(2 * TLB_SIZE).fill(DUMMY_DV);
  readonly wOff = new Int32Array(2 * TLB_SIZE);
  readonly wDev = new Uint8Array(2 * TLB_SIZE);
  /** TLB half for data accesses: 0 (EL0 permissions) or TLB_SIZE (EL1). */
  tlbBase = TLB_SIZE;
  /** Instruction fetch translations (itlb.ts). */
  readonly itlb = new FetchTlb();
  /** Virtual address of the page `fetchWords` holds (NaN: none). */
  fetchVa = NaN;
  /** The EL `fetchVa` was translated for. */
  fetchEl = -1;
  fetchWords: Int32Array = EMPTY_WORDS;
  /** The vm.mmuGen the caches were filled under. */
  mmuGen = -1;
  /** Guest frame of the page `fetchWords` holds. */
  fetchGfn = -1;

  // ---- block JIT (jit.ts); null when the VM interprets only ----------------------------------
  jit: Jit | null = null;
  /** The wasm engine's context (wasm-engine.ts): its TLB mirror is emptied with the TLBs. */
  wasm: { flush(): void } | null = null;
  /** What generated code is specialised on: EL | TBI << 1 | SP alignment check << 3. */
  modeKey = 0;
  /** Epoch and mode a cached block must carry to run without revalidation. */
  jitKey = 0;
  /**
   * Why the current instruction must be the last of this stretch (STOP_* bits): a store dropped
   * translated code, or the instruction made an MMIO exit that completes on the next KVM_RUN.
   * Checked after every memory access by translated code and after every instruction by the
   * interpreter; an exit this way costs no exception unwinding.
   */
  stop = 0;

  readonly mmu = new MmuConfig();
  readonly tr = new Translation();
  /** TCR_EL1.TBI0 | TBI1 << 1. */
  tbi = 0;
  /** SCTLR_EL1.A: alignment checking. */
  alignCheck = false;
  /** SCTLR_EL1 bits EL0 access depends on (UCI, UCT, DZE, UMA, SA0, SA). */
  sctlrLo = 0;
  /** FP/SIMD accessible at the current EL (CPACR_EL1.FPEN). */
  fpOk = false;
  /** SP alignment checking for the current EL (SCTLR_EL1.SA / SA0). */
  spAlignCheck = false;

  // ---- exclusive monitor (value-compared, like QEMU's, so other vCPUs' stores break it) --------
  exVa = NaN;
  exSize = 0;
  readonly exVal = new Int32Array(4);

  /** 64-bit results of read64 and friends. */
  rlo = 0;
  rhi = 0;

  /** Nonzero while per-instruction slow checks are needed (debug, PSTATE.IL). */
  attn = 0;
  /** Any watchpoint may fire: data accesses bypass the TLB. */
  wpActive = false;
  /** The current instruction was emulated by the hypervisor (HVC/SMC): a step sees ISV = 0. */
  emulated = false;
  /** The current instruction is a load-exclusive (software step ISS.EX). */
  loadExclusive = false;

  // ---- interrupts and time ----------------------------------------------------------------------
  /** vcpu_idx (creation order): this vCPU's slot in the VM's shared words and the vGIC. */
  readonly vcpuIdx: number;
  /** The VM's shared words (counter offsets, power states). */
  readonly shared: Arm64Shared;
  /** vcpu->requests (kicks from any thread). */
  readonly req: Int32Array;
  /** The interrupt lines the CPU tests (LINE_IRQ | LINE_FIQ): its vGIC output, or its CPU lines without a vGIC. */
  lines: Int32Array;
  /** The VM's vGIC once initialized (this thread's view), else null. */
  gic: VgicState | null = null;
  /** The timers' output levels as last driven, and their PPIs. */
  readonly timerLevel = [false, false];
  timerPpis: readonly number[] = DEFAULT_TIMER_PPIS;

  /** Software step bookkeeping: who is stepping the current instruction (debug.ts). */
  stepping = 0;
  /** The last guest software step completed an instruction (ESR.ISS.ISV) / it was a load-exclusive (EX). */
  ssIsv = 0;
  ssEx = 0;
  /** The vCPU would sleep in the kernel (WFI, PSCI CPU_SUSPEND/CPU_OFF): KVM_RUN returns EINTR. */
  blocked = false;
  /** Set by ERET (PSTATE.SS comes from SPSR, not from the step state machine). */
  eretDone = false;

  /** Instructions retired. */
  retired = 0;
  /** userGen the derived state was last synced to. */
  syncedGen = 0;
  /** An emulator bug caught by the run loop (reported as an emulation failure). */
  internalError: unknown = null;
  /** Userspace exit being completed on the next KVM_RUN. */
  pending: Pending = Pending.NONE;
  pendingRt = 0;
  pendingLen = 0;
  pendingSse = false;
  pendingSf = false;

  readonly host: HostDebug;

  constructor(
    readonly vcpu: Vcpu,
    host: HostDebug,
    mpidr: bigint,
  ) {
    super(mpidr);
    this.vm = vcpu.vm;
    this.mmioBus = vcpu.vm.buses[KVM_BUS.MMIO]!;
    this.vmState = vcpu.vm.archState as Arm64VmState;
    this.host = host;
    this.vcpuIdx = vcpu.index;
    this.shared = sharedOf(this.vmState);
    this.req = vcpu.requests;
    this.lines = this.shared.linesView(vcpu.index);
    this.syncAll();
  }

  // ================================================================================================
  // Derived state

  /** Re-derives every cached view of the registers (after reset or ONE_REG writes). */
  syncAll(): void {
    this.syncMmu();
    this.mdscrEff = this.sysLo[SR.MDSCR]!;
    this.updateAttn();
  }

  /** SCTLR/TCR/TTBR/MAIR changed: decode them again and drop every translation. */
  syncMmu(): void {
    const lo = this.sysLo;
    const hi = this.sysHi;
    const m = this.mmu;
    const sctlr = lo[SR.SCTLR]!;
    m.on = (sctlr & 1) !== 0;
    m.wxn = (sctlr >>> 19) & 1;
    this.alignCheck = (sctlr & 2) !== 0;
    this.sctlrLo = sctlr;
    const tcrLo = lo[SR.TCR]!;
    const tcrHi = hi[SR.TCR]!;
    m.t0sz = tcrLo & 0x3f;
    m.epd0 = (tcrLo >>> 7) & 1;
    m.t1sz = (tcrLo >>> 16) & 0x3f;
    m.epd1 = (tcrLo >>> 23) & 1;
    m.paBits = Math.min(48, PA_SIZE_BITS[tcrHi & 7] ?? 48); // TCR_EL1.IPS [34:32], capped at PARange
    this.tbi = m.on ? (tcrHi >>> 5) & 3 : 0;
    m.ttbr0 = ((hi[SR.TTBR0]! & 0xffff) * TWO32 + (lo[SR.TTBR0]! >>> 0)) - ((lo[SR.TTBR0]! >>> 0) % 8);
    m.ttbr1 = ((hi[SR.TTBR1]! & 0xffff) * TWO32 + (lo[SR.TTBR1]! >>> 0)) - ((lo[SR.TTBR1]! >>> 0) % 8);
    m.mairLo = lo[SR.MAIR]!;
    m.mairHi = hi[SR.MAIR]!;
    this.flushTlb();
    this.modeChanged();
  }

  /** EL, SPSel, DAIF, CPACR or PSTATE.IL changed. */
  modeChanged(): void {
    // Instruction fetch permissions differ between EL0 and EL1: re-translate the fetch page.
    if (this.el !== this.fetchEl) {
      this.fetchEl = this.el;
      this.fetchVa = NaN;
    }
    this.tlbBase = this.el ? TLB_SIZE : 0;
    this.spAlignCheck = (this.sctlrLo & (this.el ? 8 : 16)) !== 0;
    const fpen = (this.sysLo[SR.CPACR]! >>> 20) & 3;
    this.fpOk = this.el ? (fpen & 1) !== 0 : fpen === 3;
    this.attn = this.il | this.dbgAttn | this.irqAttn();
    // The fast loop only looks at `attn` when the fetch page changes: force that.
    if (this.attn !== 0) this.fetchVa = NaN;
    this.modeKey = this.el | (this.tbi << 1) | (this.spAlignCheck ? 8 : 0);
    this.updateJitKey();
  }

  /** Recomputes `jitKey` (mode change or new JIT epoch). */
  updateJitKey(): void {
    this.jitKey = (this.jit !== null ? this.jit.epoch : 0) * 16 + this.modeKey;
  }

  /** The debug part of `attn` (recomputed only when debug state changes). */
  dbgAttn = 0;
  /**
   * MDSCR_EL1 as the debug logic sees it: an MSR takes effect at the next context
   * synchronization event (ISB, exception entry, exception return).
   */
  mdscrEff = 0;

  /** A context synchronization event: pending debug control changes take effect. */
  contextSync(): void {
    const m = this.sysLo[SR.MDSCR]!;
    if (m !== this.mdscrEff) {
      this.mdscrEff = m;
      this.updateAttn();
    }
  }

  /** ATTN_IRQ when an interrupt line is up and PSTATE does not mask it (DAIF.I for IRQ, DAIF.F for FIQ). */
  irqAttn(): number {
    const l = this.lines[0]!;
    return (l & LINE_IRQ && (this.daif & 2) === 0) || (l & LINE_FIQ && (this.daif & 1) === 0) ? ATTN_IRQ : 0;
  }

  /** The lines changed (a kick): re-derives ATTN_IRQ. */
  linesChanged(): void {
    const a = (this.attn & ~ATTN_IRQ) | this.irqAttn();
    if (a !== this.attn) {
      this.attn = a;
      if (a !== 0) this.fetchVa = NaN;
    }
  }

  /**
   * Takes the interrupt PSTATE allows (FIQ, then IRQ) at the current PC, between instructions:
   * ELR_EL1 is the next instruction, ESR_EL1 is not written. False when the lines dropped meanwhile.
   */
  takeInterrupt(): boolean {
    const l = this.lines[0]!;
    let off = -1;
    if (l & LINE_FIQ && (this.daif & 1) === 0) off = 0x100;
    else if (l & LINE_IRQ && (this.daif & 2) === 0) off = 0x80;
    if (off < 0) {
      this.linesChanged();
      return false;
    }
    this.takeException(-1, 0, null, this.pc, off, false);
    return true;
  }

  /** Recomputes `attn` and `wpActive` (debug.ts fills in the details). */
  updateAttn(): void {
    this.dbgAttn = debugAttn(this);
    this.attn = this.il | this.dbgAttn | this.irqAttn();
    if (this.attn !== 0) this.fetchVa = NaN;
    const wp = watchpointsMayFire(this);
    if (wp !== this.wpActive) {
      this.wpActive = wp;
      this.flushTlb();
    }
  }

  flushTlb(): void {
    this.rTag.fill(NaN);
    this.wTag.fill(NaN);
    this.fetchVa = NaN;
    this.itlb.flush();
    if (this.jit !== null) this.jit.flushVa();
    if (this.wasm !== null) this.wasm.flush();
  }

  /** Drops the write TLB only (a frame became a code page: its writes must take the slow path). */
  flushWriteTlb(): void {
    this.wTag.fill(NaN);
    if (this.wasm !== null) this.wasm.flush();
  }

  /**
   * Called at KVM_RUN entry: memslot or dirty-log changes invalidate host translations.
   * `force` drops them anyway (see X86Mmu.syncMmu).
   */
  checkMmuGen(force = false): void {
    const g = Atomics.load(this.vm.mmuGen, 0);
    if (g !== this.mmuGen || force) {
      this.mmuGen = g;
      this.flushTlb();
    }
  }

  // ================================================================================================
  // Exceptions

  /** Takes a synchronous exception to EL1 and throws FAULT. */
  exception(ec: number, iss: number, far: number | null = null, ret = this.insnPc, stepCompleted = false): never {
    this.takeException(ec, iss, far, ret, 0, stepCompleted);
    throw FAULT;
  }

  /**
   * AArch64.TakeException to EL1: ESR/FAR/ELR/SPSR, PSTATE (EL1h, DAIF masked, SS and IL clear),
   * PC = VBAR_EL1 + vector offset. `stepCompleted`: the exception was generated by an
   * instruction that counts as stepped (SVC/HVC/SMC), so SPSR.SS = 0.
   */
  takeException(ec: number, iss: number, far: number | null, ret: number, typeOff: number, stepCompleted: boolean): void {
    const spsr = stepCompleted ? this.pstate & ~(1 << 21) : this.pstate;
    const lo = this.sysLo;
    const hi = this.sysHi;
    // An interrupt (ec < 0) leaves ESR_EL1 alone.
    if (ec >= 0) {
      lo[SR.ESR] = (ec << 26) | ESR_IL | iss;
      hi[SR.ESR] = 0;
    }
    if (far !== null) {
      lo[SR.FAR] = numLo(far);
      hi[SR.FAR] = numHi(far);
    }
    this.elr[0] = numLo(ret);
    this.elr[1] = numHi(ret);
    this.spsrEl1 = spsr;
    const off = (this.el === 0 ? 0x400 : this.spSel ? 0x200 : 0) + typeOff;
    this.selectSp(1, 1);
    this.daif = 0xf;
    this.ss = 0;
    this.il = 0;
    this.pc = pairToNum(lo[SR.VBAR]! & ~0x7ff, hi[SR.VBAR]!) + off;
    this.exVa = NaN;
    this.modeChanged();
    this.contextSync();
    this.exceptionTaken = true;
  }

  /** Set by takeException; the step logic reads and clears it. */
  exceptionTaken = false;

  /**
   * Takes a synchronous exception without unwinding: for handlers whose last act is the
   * exception (SVC, an UNALLOCATED encoding), sparing the cost of a throw.
   */
  raise(ec: number, iss: number, ret = this.insnPc, stepCompleted = false): void {
    this.takeException(ec, iss, null, ret, 0, stepCompleted);
  }

  /** UNDEFINED: EC 0 (unknown reason), as hardware and kvm_inject_undefined report it. */
  undef(): never {
    return this.exception(EC.UNKNOWN, 0);
  }

  /** FP/SIMD access trapped by CPACR_EL1.FPEN (ISS: CV=1, COND=0xE). */
  fpTrap(): never {
    return this.exception(EC.FP_ASIMD, 0x1e00000);
  }

  /** A stage-1 or alignment fault on a data access. */
  dataAbort(va: number, write: boolean, fsc: number, cm = false): never {
    return this.exception(this.el ? EC.DABT_CUR : EC.DABT_LOW, (write && !cm ? ISS_WNR : 0) | (cm ? ISS_CM | ISS_WNR : 0) | fsc, va);
  }

  /** Performs ERET (EL1 only; the caller checked). */
  eret(): void {
    const spsr = this.spsrEl1;
    const target = pairToNum(this.elr[0]!, this.elr[1]!);
    const m = spsr & 0x1f;
    const legal = m === 0b00000 || m === 0b00100 || m === 0b00101;
    this.n = (spsr >>> 31) & 1;
    this.z = (spsr >>> 30) & 1;
    this.c = (spsr >>> 29) & 1;
    this.v = (spsr >>> 28) & 1;
    this.ss = (spsr >>> 21) & 1;
    this.daif = (spsr >>> 6) & 15;
    if (legal) {
      this.il = (spsr >>> 20) & 1;
      this.selectSp(m >>> 2, m & 1);
    } else {
      // Illegal exception return: EL and SP unchanged, PSTATE.IL set.
      this.il = 1;
    }
    this.exVa = NaN;
    this.eretDone = true;
    this.branchTo(target);
    this.modeChanged();
    this.contextSync();
  }

  /** Branch to a register value: an unaligned target faults when fetched. */
  branchTo(target: number): void {
    this.pc = target;
    if ((target & 3) !== 0) this.fetchVa = NaN;
  }

  // ================================================================================================
  // Instruction fetch

  /** Makes `fetchWords`/`fetchVa` cover `this.pc`, or raises the fetch fault (itlb.ts). */
  fetchSlow(): void {
    this.itlb.fetch(this);
  }

  // ================================================================================================
  // Data access: fast paths (TLB hit, aligned) inline, everything else in accessSlow.

  read8(va: number): number {
    const vpn = Math.floor(va / 4096);
    const i = (vpn & 255) | this.tlbBase;
    if (this.rTag[i] === vpn) return this.rDv[i]!.getUint8(this.rOff[i]! + (va & 4095));
    return this.readSlow(va, 1);
  }

  read16(va: number): number {
    const vpn = Math.floor(va / 4096);
    const i = (vpn & 255) | this.tlbBase;
    if (this.rTag[i] === vpn && (va & 1) === 0) return this.rDv[i]!.getUint16(this.rOff[i]! + (va & 4095), true);
    return this.readSlow(va, 2);
  }

  /** Returns the word as a signed int32. */
  read32(va: number): number {
    const vpn = Math.floor(va / 4096);
    const i = (vpn & 255) | this.tlbBase;
    if (this.rTag[i] === vpn && (va & 3) === 0) return this.rDv[i]!.getInt32(this.rOff[i]! + (va & 4095), true);
    return this.readSlow(va, 4);
  }

  /** Result in rlo/rhi. */
  read64(va: number): void {
    const vpn = Math.floor(va / 4096);
    const i = (vpn & 255) | this.tlbBase;
    if (this.rTag[i] === vpn && (va & 7) === 0) {
      const dv = this.rDv[i]!;
      const o = this.rOff[i]! + (va & 4095);
      this.rlo = dv.getInt32(o, true);
      this.rhi = dv.getInt32(o + 4, true);
      return;
    }
    this.readSlow(va, 8);
  }

  write8(va: number, v: number): void {
    const vpn = Math.floor(va / 4096);
    const i = (vpn & 255) | this.tlbBase;
    if (this.wTag[i] === vpn) {
      this.wDv[i]!.setUint8(this.wOff[i]! + (va & 4095), v);
      return;
    }
    this.writeSlow(va, 1, v, 0);
  }

  write16(va: number, v: number): void {
    const vpn = Math.floor(va / 4096);
    const i = (vpn & 255) | this.tlbBase;
    if (this.wTag[i] === vpn && (va & 1) === 0) {
      this.wDv[i]!.setUint16(this.wOff[i]! + (va & 4095), v, true);
      return;
    }
    this.writeSlow(va, 2, v, 0);
  }

  write32(va: number, v: number): void {
    const vpn = Math.floor(va / 4096);
    const i = (vpn & 255) | this.tlbBase;
    if (this.wTag[i] === vpn && (va & 3) === 0) {
      this.wDv[i]!.setInt32(this.wOff[i]! + (va & 4095), v, true);
      return;
    }
    this.writeSlow(va, 4, v, 0);
  }

  write64(va: number, lo: number, hi: number): void {
    const vpn = Math.floor(va / 4096);
    const i = (vpn & 255) | this.tlbBase;
    if (this.wTag[i] === vpn && (va & 7) === 0) {
      const dv = this.wDv[i]!;
      const o = this.wOff[i]! + (va & 4095);
      dv.setInt32(o, lo, true);
      dv.setInt32(o + 4, hi, true);
      return;
    }
    this.writeSlow(va, 8, lo, hi);
  }

  /** Scratch for split accesses (and MMIO: bytes 8-15 stand in for the device register). */
  readonly split = new Uint8Array(16);
  readonly splitDv = new DataView(this.split.buffer);

  /**
   * The slow read: alignment, translation, watchpoints, MMIO, page crossing; fills the TLB.
   * Returns the value for sizes 1-4 (size 4 signed), sets rlo/rhi for 8.
   */
  readSlow(va: number, size: number): number {
    const { dv, off } = this.resolve(va, size, false, 0, 0);
    if (dv === null) {
      // Page-crossing access: byte by byte through the split buffer.
      for (let k = 0; k < size; k++) this.split[k] = this.read8(va + k);
      return this.fromSplit(size);
    }
    switch (size) {
      case 1:
        return dv.getUint8(off);
      case 2:
        return dv.getUint16(off, true);
      case 4:
        return dv.getInt32(off, true);
      default:
        this.rlo = dv.getInt32(off, true);
        this.rhi = dv.getInt32(off + 4, true);
        return 0;
    }
  }

  private fromSplit(size: number): number {
    const d = this.splitDv;
    if (size === 2) return d.getUint16(0, true);
    if (size === 4) return d.getInt32(0, true);
    this.rlo = d.getInt32(0, true);
    this.rhi = d.getInt32(4, true);
    return 0;
  }

  writeSlow(va: number, size: number, lo: number, hi: number): void {
    const { dv, off } = this.resolve(va, size, true, lo, hi);
    if (dv === null) {
      const d = this.splitDv;
      d.setInt32(0, lo, true);
      d.setInt32(4, hi, true);
      // Translate every byte first so a fault leaves memory untouched.
      for (let k = 0; k < size; k++) this.resolve(va + k, 1, true, 0, 0, true);
      for (let k = 0; k < size; k++) this.write8(va + k, this.split[k]!);
      return;
    }
    switch (size) {
      case 1:
        dv.setUint8(off, lo);
        break;
      case 2:
        dv.setUint16(off, lo, true);
        break;
      case 4:
        dv.setInt32(off, lo, true);
        break;
      default:
        dv.setInt32(off, lo, true);
        dv.setInt32(off + 4, hi, true);
    }
  }

  /** resolve()'s result (one object, reused). */
  readonly resolved = { dv: DUMMY_DV as DataView | null, off: 0 };

  /**
   * Translates a data access and returns where it lands in host memory (dv null: the access
   * crosses a page and must be split). Raises alignment/translation/permission faults and
   * watchpoints, and turns accesses outside the memslots into MMIO/NISV exits.
   */
  resolve(va: number, size: number, write: boolean, lo: number, hi: number, probeOnly = false): { dv: DataView | null; off: number } {
    const r = this.resolved;
    const unaligned = (va & (size - 1)) !== 0;
    if (unaligned && this.alignCheck) this.dataAbort(va, write, FSC.ALIGNMENT);
    const inPage = (va & 4095) + size <= 4096;
    if (!this.wpActive && inPage) {
      // A TLB hit the fast path declined (unaligned): fine unless the page is Device memory.
      const vpn = Math.floor(va / 4096);
      const i = (vpn & 255) | this.tlbBase;
      if (write ? this.wTag[i] === vpn && this.wDev[i] === 0 : this.rTag[i] === vpn && this.rDev[i] === 0) {
        r.dv = write ? this.wDv[i]! : this.rDv[i]!;
        r.off = (write ? this.wOff[i]! : this.rOff[i]!) + (va & 4095);
        return r;
      }
    }
    const el = this.tlbBase ? 1 : 0;
    const pa = translate(this, va, write ? ACC_W : ACC_R, el, this.tr);
    if (pa < 0) this.dataAbort(va, write, -1 - pa);
    if (unaligned && this.tr.device) this.dataAbort(va, write, FSC.ALIGNMENT);
    if (this.wpActive) checkWatchpoints(this, va, size, write);
    if (!inPage) {
      r.dv = null;
      r.off = 0;
      return r;
    }
    const gfn = Math.floor(pa / 4096);
    const page = this.vm.guestPage(gfn, write);
    if (page === 'mmio') {
      if (probeOnly) return r;
      return mmioAccess(this, pa, size, write, lo, hi);
    }
    if (page === 'efault') throw KvmError.of('EFAULT', 'ioctl', { message: `guest memory at gpa 0x${pa.toString(16)} is not mapped` });
    const dv = dvOf(page.bytes);
    const pageOff = page.bytes.byteOffset + page.offset;
    // A store to a frame holding translated code drops the code it overlaps (self-modifying
    // code); such frames never get a write TLB entry.
    let code = false;
    if (write && this.jit !== null && this.jit.isCode(gfn)) {
      this.vm.kernel.deadline.charge(RUN_COST.CODE_WRITE);
      this.jit.codeWrite(gfn, pa % 4096, size);
      code = true;
    }
    if (!this.wpActive) {
      const vpn = Math.floor(va / 4096);
      const i = (vpn & 255) | this.tlbBase;
      const perms = this.tr.perms;
      const dev = this.tr.device ? 1 : 0;
      if (write && !code && perms & (el ? P_W1 : P_W0)) {
        this.wTag[i] = vpn;
        this.wDv[i] = dv;
        this.wOff[i] = pageOff;
        this.wDev[i] = dev;
      }
      // A write resolution marks the page dirty; reads may use it too.
      if (perms & (el ? P_R1 : P_R0)) {
        this.rTag[i] = vpn;
        this.rDv[i] = dv;
        this.rOff[i] = pageOff;
        this.rDev[i] = dev;
      }
    }
    r.dv = dv;
    r.off = pageOff + (va & 4095);
    return r;
  }

  // ================================================================================================
  // Helpers for handlers

  /** Checks natural alignment for exclusives/atomics/acquire-release (always checked in v8.0). */
  requireAligned(va: number, size: number, write: boolean): void {
    if ((va & (size - 1)) !== 0) this.dataAbort(va, write, FSC.ALIGNMENT);
  }

  /** Reads the current SP as a double (exact for canonical addresses). */
  spVa(): number {
    return this.x[SP_SLOT + 1]! * TWO32 + (this.x[SP_SLOT]! >>> 0);
  }

  /** Translates without raising (AT, DC ZVA probing): PA or -1 - FSC. */
  probe(va: number, acc: number, el: number): number {
    return translate(this, va, acc, el, this.tr);
  }

  /** X[n] (31 = XZR) as a double (exact below 2^53; for addresses). */
  xNum(n: number): number {
    return n === 31 ? 0 : this.x[2 * n + 1]! * TWO32 + (this.x[2 * n]! >>> 0);
  }

  /** Writes a double (integer, |v| < 2^53) to X[n] (31 discarded). */
  setXNum(n: number, v: number): void {
    if (n === 31) return;
    this.x[2 * n] = numLo(v);
    this.x[2 * n + 1] = numHi(v);
  }
}

export { ACC_R, ACC_W, ACC_X, pairToNum };
