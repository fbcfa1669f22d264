/**
 * Guest debug on x86: KVM_SET_GUEST_DEBUG (host single-step, host hardware breakpoints, software
 * breakpoints), the guest's own DR0-DR7 breakpoints and watchpoints, and KVM_EXIT_DEBUG.
 * Instruction breakpoints are faults checked before an instruction; data breakpoints, single
 * step and ICEBP are traps after it.
 * @module
 */
import { RUN, setExitReason } from '../../kernel/exits.js';
import { KVM_EXIT } from '../../uapi/constants.js';
import { KVM_GUESTDBG_X86 } from '../../uapi/x86.js';
import { EXIT, VEC, type X86Cpu } from './cpu.js';
import type { Insn } from './decoder.js';
import type { X86Machine } from './run.js';
import { FLAG } from './state.js';

/** Debug state of one vCPU (vcpu->guest_debug and vcpu->arch.eff_db). */
export class X86Debug {
  /** KVM_SET_GUEST_DEBUG control. */
  control = 0;
  /** KVM_SET_GUEST_DEBUG debugreg[]. */
  readonly regs: bigint[] = new Array<bigint>(8).fill(0n);
  /**
   * Whether the guest's DR7 enables a breakpoint: recomputed at KVM_RUN entry and on guest DR
   * writes (the only ways DR7 changes), so blocks do not test a BigInt.
   */
  guestBpArmed = false;

  constructor(private readonly m: X86Machine) {}

  /** The DR7 guestBpArmed was computed from: unchanged (a compare, no BigInt made), nothing to do. */
  private dr7Seen = 0n;

  updateGuestBpArmed(): void {
    const dr7 = this.m.s.dr7;
    if (dr7 === this.dr7Seen) return;
    this.dr7Seen = dr7;
    this.guestBpArmed = (dr7 & 0xffn) !== 0n;
  }

  /** Host single-step (KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP). */
  singleStep(): boolean {
    return (this.control & 3) === 3;
  }

  /** Host hardware breakpoints in use: per-instruction checks needed. */
  hostPerInsn(): boolean {
    const dbg = this.control;
    return (dbg & 1) !== 0 && (dbg & (2 | KVM_GUESTDBG_X86.USE_HW_BP)) !== 0;
  }

  /** Effective DR7 and breakpoint addresses: the host's while it debugs with HW BPs, else the guest's. */
  effDr7(): bigint {
    return this.hostHwBp() ? this.regs[7]! : this.m.s.dr7;
  }

  private effDr(i: number): bigint {
    return this.hostHwBp() ? this.regs[i]! : this.m.s.db[i]!;
  }

  private hostHwBp(): boolean {
    return (this.control & 1) !== 0 && (this.control & KVM_GUESTDBG_X86.USE_HW_BP) !== 0;
  }

  /** KVM_EXIT_DEBUG with the exception, PC and (for #DB) DR6/DR7; stops the run loop. */
  exit(exception: number, pc: bigint, dr6: bigint | null, dr7: bigint | null): void {
    const v = this.m.vcpu;
    setExitReason(v, KVM_EXIT.DEBUG);
    const base = RUN['debug.arch'];
    v.runDv.setUint32(base, exception, true);
    v.runDv.setBigUint64(base + 8, pc, true);
    if (dr6 !== null) v.runDv.setBigUint64(base + 16, dr6, true);
    if (dr7 !== null) v.runDv.setBigUint64(base + 24, dr7, true);
    this.m.stopReason = KVM_EXIT.DEBUG;
  }

  /** The host single-step exit after a step ending at the current RIP. */
  stepExit(dr6: bigint): void {
    const c = this.m.cpu;
    this.exit(VEC.DB, BigInt.asUintN(64, BigInt(c.wrapLin(c.csBase + this.m.s.rip))), dr6, this.effDr7());
  }

  /** Instruction breakpoints (faults, before the instruction). Returns true to stop the block. */
  beforeInsn(insn: Insn): boolean {
    const m = this.m;
    if (m.intro !== null && m.intro.perInsn && m.intro.beforeInsn(insn)) return true; // [kvmi hook] execute restrictions
    const s = m.s;
    const dr7 = this.effDr7();
    if (!(dr7 & 0xffn) || s.rflags & FLAG.RF) {
      s.rflags &= ~FLAG.RF;
      return false;
    }
    let hits = 0;
    const lin = BigInt.asUintN(64, BigInt(insn.addr));
    for (let i = 0; i < 4; i++) {
      if (!((dr7 >> BigInt(2 * i)) & 3n)) continue;
      const rw = Number((dr7 >> BigInt(16 + 4 * i)) & 3n);
      if (rw !== 0) continue;
      if (BigInt.asUintN(64, this.effDr(i)) === lin) hits |= 1 << i;
    }
    if (!hits) return false;
    if (this.hostHwBp()) {
      this.exit(VEC.DB, BigInt(insn.addr), 0xffff0ff0n | BigInt(hits), dr7);
      return true;
    }
    s.dr6 = (s.dr6 & ~0xfn) | BigInt(hits) | 0xffff0ff0n;
    m.events.fault(VEC.DB, false, 0);
    return true;
  }

  /** Traps after an instruction: data breakpoints, single step, TF, ICEBP. Returns true to stop. */
  afterInsn(tf: boolean): boolean {
    const m = this.m;
    const c = m.cpu;
    const s = m.s;
    let dr6 = 0n;
    if (c.icebp) {
      c.icebp = false;
      m.events.deliverTrap(VEC.DB);
      return true;
    }
    const watch = c.watchHits;
    if (watch) {
      c.watchHits = 0;
      dr6 |= BigInt(watch);
    }
    // An instruction that already exits to userspace (MMIO write) reports no step. HLT does the
    // step (kvm_skip_emulated_instruction fills the debug exit) and then exits as HLT
    // (kvm_emulate_halt sets KVM_EXIT_HLT over it: the TODO there).
    if (this.singleStep() && m.stopReason === KVM_EXIT.HLT) {
      this.stepExit(0xffff0ff0n | dr6 | 0x4000n);
      setExitReason(m.vcpu, KVM_EXIT.HLT);
      m.stopReason = KVM_EXIT.HLT;
      return true;
    }
    if (this.singleStep() && m.stopReason === 0) {
      this.stepExit(0xffff0ff0n | dr6 | 0x4000n);
      return true;
    }
    if (dr6 && this.hostHwBp()) {
      this.stepExit(0xffff0ff0n | dr6);
      return true;
    }
    if (tf) dr6 |= 0x4000n;
    if (dr6) {
      s.dr6 = (s.dr6 & ~0x400fn) | dr6 | 0xffff0ff0n;
      m.events.deliverTrap(VEC.DB);
      return true;
    }
    return false;
  }

  /** Guest debug registers or KVM_SET_GUEST_DEBUG/DEBUGREGS changed: re-arm the checks. */
  regsChanged(): void {
    this.updateGuestBpArmed();
    this.armWatchpoints();
  }

  /** Arms the CPU's data-breakpoint checks from the effective DR7 (the host's while it debugs). */
  armWatchpoints(): void {
    const host = this.hostHwBp();
    const dr7 = this.effDr7();
    const c = this.m.cpu;
    c.watchOn = false;
    for (let i = 0; i < 4; i++) {
      const en = (dr7 >> BigInt(2 * i)) & 3n;
      const rw = Number((dr7 >> BigInt(16 + 4 * i)) & 3n);
      const len = [1, 2, 8, 4][Number((dr7 >> BigInt(18 + 4 * i)) & 3n)]!;
      if (!en || rw === 0 || rw === 2) {
        c.watchRw[i] = 0;
        continue;
      }
      const addr = Number(BigInt.asIntN(64, host ? this.regs[i]! : this.m.s.db[i]!));
      c.watchAddr[i] = addr - (((addr % len) + len) % len);
      c.watchLen[i] = len;
      c.watchRw[i] = rw;
      c.watchOn = true;
    }
  }

  /** MOV to/from DRn: DR7.GD makes it fault with #DB (DR6.BD) before executing. */
  drAccess(c: X86Cpu, i: Insn): void {
    const dr7 = this.effDr7();
    if (!(dr7 & 0x2000n)) return;
    if (this.hostHwBp()) {
      this.exit(VEC.DB, BigInt.asUintN(64, BigInt(i.addr)), 0xffff2ff0n, dr7);
      c.next = this.m.s.rip;
      throw EXIT;
    }
    const s = this.m.s;
    s.dr6 = (s.dr6 & ~0xe00fn) | 0x2000n | 0xffff0ff0n;
    c.raise(VEC.DB);
  }
}
