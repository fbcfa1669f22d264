/**
 * The x86 block JIT: a decoded block (blocks.ts) translated into one specialised function once it
 * is hot. This file chooses what to emit; the {@link X86Emitter} (emit.ts) says how it is written,
 * and `JsEmitter` (emit-js.ts) writes JS for `new Function`.
 *
 * - Inline: MOV/MOVZX/MOVSX/MOVSXD/LEA, ADD/SUB/AND/OR/XOR/CMP/TEST, INC/DEC, SHL/SHR/SAR by an
 *   immediate, IMUL, 32/64-bit MUL/DIV/IDIV and CWD/CDQ/CQO (arith64, no BigInt), CMOVcc, SETcc, NOP, and in 64-bit mode PUSH/POP of a register, near
 *   CALL/JMP/RET/Jcc. Their operand forms are fixed at translation time: registers become slots
 *   of the register file, memory operands an address computation. Everything else calls the
 *   interpreter's handler with its decoded `Insn` (the same semantics by construction;
 *   LOCK-prefixed forms always do). A new inline form is one entry of {@link INLINE}, keyed by
 *   the mnemonic of its table rows.
 * - Flags stay lazy (the interpreter's `Flags` record, written only where it can be observed: see
 *   emit-js.ts). A Jcc whose flags come from an inline ALU instruction of the same block tests the
 *   operands directly.
 * - A block ending in a Jcc back to its own start becomes a loop inside its function, bounded by
 *   the instruction limit it is given.
 * - Stores check after themselves whether they hit translated code (self-modifying code: the
 *   block stops at once, the next instruction is decoded afresh) or MMIO (the exit follows the
 *   instruction, as in the interpreter).
 * @module
 */
import { K_IMM, K_MEM, K_REG, mnemonic, type Insn } from './decoder.js';
import type { AluOp, Cond, Pair, Rel, X86Emitter } from './emit.js';
import { compileJs, type JitMode, type JitTlb, type JsRegion, type RegionMember, type X86BlockFn } from './compile-js.js';
import { JsEmitter, SITE_LIMIT } from './emit-js.js';
import { FOp } from './flags.js';
import { RSP } from './state.js';

export type { JitHost, JitMode, JitTlb, RegionMember, X86BlockFn } from './compile-js.js';

/** A block of a region: its decoded instructions and what the translated code checks of it. */
export interface RegionBlock extends RegionMember {
  readonly insns: readonly Insn[];
}

/** Canonical address bounds (48-bit). */
const CANON_LO = -0x800000000000;
const CANON_HI = 0x800000000000;
const TWO32 = 4294967296;
const MASKS = [0, 255, 65535, 0, -1];

const isCanonical = (a: number) => a >= CANON_LO && a < CANON_HI;
const sizeOk = (size: number) => size === 1 || size === 2 || size === 4 || size === 8;

/** The last inline flag-writing instruction: its operand variables, for fused Jcc conditions. */
interface FlagSrc {
  readonly kind: 'sub' | 'add' | 'logic' | 'incdec';
  readonly size: number;
  readonly a: Pair;
  readonly b: Pair;
  readonly r: Pair;
}

/** One instruction being selected: the emitter, the instruction, whether it is the block's last. */
export interface Ctx {
  readonly e: X86Emitter;
  readonly i: Insn;
  readonly isLast: boolean;
  readonly long64: boolean;
}

/** What an inline form returns: whether it emitted the instruction (false: the handler is called). */
export type Form = (t: Selector, x: Ctx) => boolean;

/**
 * The inline forms, keyed by the mnemonic of their table rows (opcodes/; a name that is not a
 * table mnemonic fails at load). A form declines (returns false) before it emits anything.
 */
export const INLINE: Readonly<Record<string, Form>> = {
  NOP: () => true,
  MOV: (t, x) => t.mov(x),
  MOVZX: (t, x) => t.movx(x),
  MOVSX: (t, x) => t.movx(x),
  MOVSXD: (t, x) => t.movx(x),
  LEA: (t, x) => t.lea(x),
  ADD: (t, x) => t.alu(x, '+', 'add'),
  SUB: (t, x) => t.alu(x, '-', 'sub'),
  CMP: (t, x) => t.alu(x, '-', 'sub'),
  AND: (t, x) => t.alu(x, '&', 'logic'),
  TEST: (t, x) => t.alu(x, '&', 'logic'),
  OR: (t, x) => t.alu(x, '|', 'logic'),
  XOR: (t, x) => t.alu(x, '^', 'logic'),
  INC: (t, x) => t.incdec(x, false),
  DEC: (t, x) => t.incdec(x, true),
  SHL: (t, x) => t.shift(x, 'shl'),
  SHR: (t, x) => t.shift(x, 'shr'),
  SAR: (t, x) => t.shift(x, 'sar'),
  IMUL: (t, x) => (x.i.nops === 1 ? t.muldiv(x, true, false) : x.i.size[0] === 8 ? t.imul64(x) : t.imul(x)),
  MUL: (t, x) => t.muldiv(x, false, false),
  DIV: (t, x) => t.muldiv(x, false, true),
  IDIV: (t, x) => t.muldiv(x, true, true),
  CWD: (t, x) => t.cwd(x),
  CMOVcc: (t, x) => t.cmov(x),
  SETcc: (t, x) => t.setcc(x),
  PUSH: (t, x) => x.long64 && t.push(x),
  POP: (t, x) => x.long64 && t.pop(x),
  // Control flow: a block's last instruction, 64-bit mode; the form leaves the block itself.
  Jcc: (t, x) => t.branch(x),
  JMP: (t, x) => t.branch(x),
  CALL: (t, x) => t.branch(x),
  RET: (t, x) => t.branch(x),
};

/** Forms by mnemonic id; `BRANCH` marks the control-flow forms. */
const FORMS: (Form | undefined)[] = [];
for (const [name, form] of Object.entries(INLINE)) FORMS[mnemonic(name)] = form;
const [JCC, JMP, CALL, RET, CMP, TEST, MOVZX, MOVSXD] = ['Jcc', 'JMP', 'CALL', 'RET', 'CMP', 'TEST', 'MOVZX', 'MOVSXD'].map(mnemonic) as [number, number, number, number, number, number, number, number];
const BRANCH = new Set([JCC, JMP, CALL, RET]);

/** Translates decoded blocks for one execution mode. */
export class X86Translator {
  constructor(private readonly mode: JitMode) {}

  /**
   * Translates `insns` (a block starting at insns[0].addr) for the vCPU whose TLB is `tlb` (its
   * loads and stores probe it inline; without one they always call the MMU); throws on an
   * internal error.
   */
  translate(insns: readonly Insn[], tlb?: JitTlb): X86BlockFn {
    return compileJs(this.source(insns), insns, tlb);
  }

  /** The factory body (for tests and debugging). */
  source(insns: readonly Insn[]): string {
    const e = new JsEmitter(this.mode, insns);
    selectBlock(e, insns, this.mode);
    return e.source();
  }

  /**
   * Translates a region: `blocks[0]` (the entry) and blocks it reaches, on one code page, as one
   * function that moves between them (emit-js.ts JsEmitter; 64-bit mode). The member blocks are
   * kept by the translation (their validation epoch is checked at every move).
   */
  translateRegion(blocks: readonly RegionBlock[], tlb?: JitTlb): X86BlockFn {
    const { src, insns } = this.regionSource(blocks);
    return compileJs(src, insns, tlb, blocks);
  }

  /** The region of `blocks` if this process compiled the same region before (another VM, an earlier translation), else null. */
  cachedRegion(blocks: readonly RegionBlock[], tlb: JitTlb): X86BlockFn | null {
    const { src, insns } = this.regionSource(blocks);
    return compileJs(src, insns, tlb, blocks, true);
  }

  /** The factory body of a region and its concatenated instructions (for tests and debugging). */
  regionSource(blocks: readonly RegionBlock[]): { src: string; insns: Insn[] } {
    const insns: Insn[] = [];
    const region: { starts: number[]; bases: number[]; lens: number[]; retSites: number[] } = { starts: [], bases: [], lens: [], retSites: [] };
    const returns = new Set<number>();
    for (const b of blocks) {
      region.starts.push(b.insns[0]!.addr);
      region.bases.push(insns.length);
      region.lens.push(b.insns.length);
      for (const i of b.insns) {
        insns.push(i);
        if (i.mn === CALL) returns.add(i.addr + i.len);
      }
    }
    region.starts.forEach((a, j) => returns.has(a) && region.retSites.push(j));
    const e = new JsEmitter(this.mode, insns, region satisfies JsRegion, SITE_LIMIT);
    blocks.forEach((b, j) => new Selector(this.mode).block(e, b.insns, region.bases[j]!));
    return { src: e.source(), insns };
  }
}

/** Emits block `insns` through `e` (any X86Emitter): inline forms where they apply, handler calls elsewhere. */
export function selectBlock(e: X86Emitter, insns: readonly Insn[], mode: JitMode): void {
  new Selector(mode).block(e, insns);
}

/** Chooses, instruction by instruction, an inline form or the handler call, and emits it. */
export class Selector {
  private flags: FlagSrc | null = null;

  constructor(private readonly mode: JitMode) {}

  /** Emits one block; `base`: the index of its first instruction in the emitter's list (a region's member). */
  block(e: X86Emitter, insns: readonly Insn[], base = 0): void {
    const n = insns.length;
    const last = insns[n - 1]!;
    const loop = this.mode.long64 && last.mn === JCC && last.osz === 8 && last.imm === insns[0]!.addr && n > 1;
    this.flags = null;
    for (let k = 0; k < n; k++) {
      if (k === n - 1 && loop) break;
      const i = insns[k]!;
      e.begin(base + k);
      const x: Ctx = { e, i, isLast: k === n - 1, long64: this.mode.long64 };
      if (i.bad || i.mn < 0 || i.lock || !this.inline(x)) {
        this.flags = null;
        e.handler(x.isLast);
      }
    }
    e.end(loop ? this.cond(e, last.cond) : null);
  }

  /** Emits the inline form of x.i, or returns false for the handler call. */
  private inline(x: Ctx): boolean {
    const form = FORMS[x.i.mn];
    if (form === undefined) return false;
    if (BRANCH.has(x.i.mn)) return x.long64 && x.isLast && form(this, x);
    const ok = form(this, x);
    if (ok && x.isLast) x.e.leave();
    return ok;
  }

  // ---- operands --------------------------------------------------------------------------------

  /**
   * dst = operand `op` of the instruction (immediates sign-extended to `size`). `soft`: see
   * X86Emitter.load (no other access or effect of the instruction comes before this read).
   */
  private read(x: Ctx, op: number, dst: Pair, size: number, memAddrDone = false, soft = false): void {
    const { e, i } = x;
    switch (i.kind[op]) {
      case K_REG:
        e.assign(dst, e.reg(i.reg[op]!, size), size);
        return;
      case K_MEM:
        if (!memAddrDone) e.linear(i, size, false);
        e.load(dst, size, soft);
        return;
      default: {
        const lo = size === 4 || size === 8 ? i.imm | 0 : i.imm & MASKS[size]!;
        e.assign(dst, { lo: e.k(lo), hi: e.k(i.immHi | 0) }, size);
      }
    }
  }

  /** Writes the destination operand 0 (register, or memory at the computed address). */
  private write(x: Ctx, size: number, v: Pair): void {
    if (x.i.kind[0] === K_MEM) x.e.store(size, v);
    else x.e.setReg(x.i.reg[0]!, size, v.lo, v.hi);
  }

  // ---- data movement ---------------------------------------------------------------------------

  mov(x: Ctx): boolean {
    const { e, i } = x;
    const k0 = i.kind[0];
    const k1 = i.kind[1];
    const size = i.size[0]!;
    if (!sizeOk(size)) return false;
    if (k0 === K_REG && (k1 === K_REG || k1 === K_IMM || k1 === K_MEM)) {
      if (k1 !== K_IMM && i.size[1] !== size) return false;
      const v = e.local('v', size);
      this.read(x, 1, v, size, false, true);
      e.setReg(i.reg[0]!, size, v.lo, v.hi);
      return true;
    }
    if (k0 === K_MEM && (k1 === K_REG || k1 === K_IMM)) {
      if (k1 === K_REG && i.size[1] !== size) return false;
      const v = e.local('v', size);
      this.read(x, 1, v, size);
      e.linear(i, size, true);
      e.store(size, v);
      e.stopCheck();
      return true;
    }
    return false;
  }

  movx(x: Ctx): boolean {
    const { e, i } = x;
    const ds = i.size[0]!;
    const ss = i.size[1]!;
    if (i.kind[0] !== K_REG || (i.kind[1] !== K_REG && i.kind[1] !== K_MEM)) return false;
    const d = i.reg[0]!;
    if (i.mn === MOVSXD) {
      if (ss !== 4 || (ds !== 8 && ds !== 4)) return false;
      const v = e.local('v', 4);
      this.read(x, 1, v, 4, false, true);
      e.setReg(d, ds, v.lo, e.sar(v.lo, 31));
      return true;
    }
    if ((ss !== 1 && ss !== 2) || (ds !== 2 && ds !== 4 && ds !== 8) || ds <= ss) return false;
    const v = e.local('v', 4);
    this.read(x, 1, v, ss, false, true);
    if (i.mn === MOVZX) {
      e.setReg(d, ds, v.lo, e.k(0));
      return true;
    }
    e.sext(v, ss);
    e.setReg(d, ds, ds === 2 ? e.and(v.lo, 65535) : v.lo, e.sar(v.lo, 31));
    return true;
  }

  lea(x: Ctx): boolean {
    const { e, i } = x;
    const ds = i.size[0]!;
    if (i.kind[0] !== K_REG || i.kind[1] !== K_MEM || (ds !== 2 && ds !== 4)) return false;
    e.setReg(i.reg[0]!, ds, e.lea(i), e.k(0));
    return true;
  }

  // ---- arithmetic ------------------------------------------------------------------------------

  alu(x: Ctx, op: AluOp, kind: 'add' | 'sub' | 'logic'): boolean {
    const { e, i } = x;
    const size = i.size[0]!;
    const k0 = i.kind[0];
    const k1 = i.kind[1];
    if (!sizeOk(size)) return false;
    if (k0 !== K_REG && k0 !== K_MEM) return false;
    if (k1 !== K_REG && k1 !== K_IMM && k1 !== K_MEM) return false;
    if (k0 === K_MEM && k1 === K_MEM) return false;
    if (k1 !== K_IMM && i.size[1] !== size) return false;
    // CMP and TEST only compare.
    const writes = i.mn !== CMP && i.mn !== TEST;
    const a = e.local('a', size);
    const b = e.local('b', size);
    const r = e.local('r', size);
    // CMP/TEST write nothing: an MMIO operand exits without unwinding.
    if (k0 === K_MEM) {
      e.linear(i, size, writes);
      this.read(x, 0, a, size, true, !writes);
    } else this.read(x, 0, a, size);
    this.read(x, 1, b, size, false, !writes);
    e.alu(op, size, r, a, b);
    // The store first (it may fault: flags unchanged), then the flags, then the stop checks.
    if (writes) this.write(x, size, r);
    e.flags(kind === 'add' ? FOp.ADD : kind === 'sub' ? FOp.SUB : FOp.LOGIC, size, a, b, r);
    if (writes && k0 === K_MEM) e.stopCheck();
    this.flags = { kind, size, a, b, r };
    return true;
  }

  incdec(x: Ctx, dec: boolean): boolean {
    const { e, i } = x;
    const size = i.size[0]!;
    const k0 = i.kind[0];
    if (!sizeOk(size) || (k0 !== K_REG && k0 !== K_MEM)) return false;
    const a = e.local('a', size);
    const r = e.local('r', size);
    if (k0 === K_MEM) {
      e.linear(i, size, true);
      this.read(x, 0, a, size, true);
    } else this.read(x, 0, a, size);
    e.step(dec, size, r, a);
    // CF is preserved: read it before the flags record changes.
    const cf = e.carry();
    this.write(x, size, r);
    const one = { lo: e.k(1), hi: e.k(0) };
    e.flags(dec ? FOp.DEC : FOp.INC, size, a, one, r, cf);
    if (k0 === K_MEM) e.stopCheck();
    this.flags = { kind: 'incdec', size, a, b: one, r };
    return true;
  }

  shift(x: Ctx, kind: 'shl' | 'shr' | 'sar'): boolean {
    const i = x.i;
    const size = i.size[0]!;
    if (i.kind[0] !== K_REG || i.kind[1] !== K_IMM || (size !== 4 && size !== 8)) return false;
    const cnt = i.imm & (size === 8 ? 63 : 31);
    if (cnt === 0) return true; // nothing changes, flags included
    this.flags = null;
    x.e.shift(kind, size, i.reg[0]!, cnt);
    return true;
  }

  /** IMUL r32, r/m32 (, imm): CF = OF = the product does not fit; SF/ZF/PF from the result. */
  imul(x: Ctx): boolean {
    const { e, i } = x;
    const three = i.nops === 3;
    if (i.kind[0] !== K_REG || i.size[0] !== 4 || i.size[1] !== 4 || (i.kind[1] !== K_REG && i.kind[1] !== K_MEM)) return false;
    if (three && i.kind[2] !== K_IMM) return false;
    const a = e.local('a', 4);
    this.read(x, 1, a, 4);
    const b = three ? e.k(i.imm | 0) : e.reg(i.reg[0]!, 4).lo;
    this.flags = null;
    e.imul32(i.reg[0]!, a.lo, b);
    return true;
  }

  /**
   * IMUL r64, r/m64 (, imm): the truncated signed product through arith64 (exec/muldiv.ts
   * imulTrunc's result and flags).
   */
  imul64(x: Ctx): boolean {
    const { e, i } = x;
    const three = i.nops === 3;
    if (i.kind[0] !== K_REG || i.size[1] !== 8 || (i.kind[1] !== K_REG && i.kind[1] !== K_MEM)) return false;
    if (three && i.kind[2] !== K_IMM) return false;
    const a = e.local('a', 8);
    this.read(x, 1, a, 8);
    const b = three ? { lo: e.k(i.imm | 0), hi: e.k(i.immHi | 0) } : e.reg(i.reg[0]!, 8);
    this.flags = null;
    e.imul64(i.reg[0]!, a, b);
    return true;
  }

  /**
   * MUL, IMUL (one operand), DIV, IDIV of 32 and 64 bits: rDX:rAX through arith64 (no BigInt),
   * #DE as the interpreter raises it, DIV/IDIV leaving the flags as they were.
   */
  muldiv(x: Ctx, signed: boolean, div: boolean): boolean {
    const { e, i } = x;
    const size = i.size[0]!;
    if ((size !== 4 && size !== 8) || (i.kind[0] !== K_REG && i.kind[0] !== K_MEM)) return false;
    const b = e.local('b', size);
    this.read(x, 0, b, size);
    if (div) e.divWide(signed, size, b);
    else {
      this.flags = null;
      e.mulWide(signed, size, b);
    }
    return true;
  }

  /** CWD/CDQ/CQO: rDX = the sign of rAX (flags untouched). */
  cwd(x: Ctx): boolean {
    x.e.signExtendAx(x.i.osz);
    return true;
  }

  /** CMOVcc r, r/m (the source is read either way; a 32-bit CMOV zero-extends even when false). */
  cmov(x: Ctx): boolean {
    const { e, i } = x;
    const size = i.size[0]!;
    if (i.kind[0] !== K_REG || (size !== 4 && size !== 8) || (i.kind[1] !== K_REG && i.kind[1] !== K_MEM)) return false;
    const v = e.local('v', size);
    this.read(x, 1, v, size);
    e.cmov(this.cond(e, i.cond), i.reg[0]!, v, size);
    return true;
  }

  /** SETcc r/m8. */
  setcc(x: Ctx): boolean {
    const { e, i } = x;
    if (i.kind[0] === K_REG) {
      e.setReg(i.reg[0]!, 1, e.bool(this.cond(e, i.cond)), e.k(0));
      return true;
    }
    if (i.kind[0] !== K_MEM) return false;
    const v = e.condValue(this.cond(e, i.cond));
    e.linear(i, 1, true);
    e.store(1, { lo: v, hi: e.k(0) });
    e.stopCheck();
    return true;
  }

  // ---- stack and control flow (64-bit mode) ----------------------------------------------------

  push(x: Ctx): boolean {
    const { e, i } = x;
    if (i.kind[0] !== K_REG || i.osz !== 8 || i.size[0] !== 8) return false;
    e.stackAddr(-8, 8);
    e.store(8, e.reg(i.reg[0]!, 8));
    e.rspAdjust(-8);
    e.stopCheck();
    return true;
  }

  pop(x: Ctx): boolean {
    const { e, i } = x;
    if (i.kind[0] !== K_REG || i.osz !== 8 || i.size[0] !== 8 || i.reg[0] === RSP) return false;
    e.stackAddr(0, 8);
    const v = e.scratch();
    e.load(v, 8);
    e.rspAdjust(8);
    e.setReg(i.reg[0]!, 8, v.lo, v.hi);
    return true;
  }

  branch(x: Ctx): boolean {
    const { e, i } = x;
    const next = i.addr + i.len;
    if (i.osz !== 8) return false;
    switch (i.mn) {
      case JCC:
        if (!isCanonical(i.imm)) return false;
        e.jumpIf(this.cond(e, i.cond), i.imm, next);
        return true;
      case JMP:
        if (i.kind[0] !== K_IMM || !isCanonical(i.imm)) return false;
        e.jump(i.imm);
        return true;
      case CALL:
        if (i.kind[0] !== K_IMM || !isCanonical(i.imm)) return false;
        e.stackAddr(-8, 8);
        e.store(8, { lo: e.k(next % TWO32 | 0), hi: e.k(Math.floor(next / TWO32) | 0) });
        e.rspAdjust(-8);
        e.jump(i.imm);
        return true;
      case RET: {
        if (i.nops !== 0) return false;
        e.stackAddr(0, 8);
        const v = e.scratch();
        e.load(v, 8);
        e.target(v);
        e.rspAdjust(8);
        e.jump();
        return true;
      }
    }
    return false;
  }

  /** Condition `cc`, fused with the last inline flag writer when its operands decide it. */
  private cond(e: X86Emitter, cc: number): Cond {
    const g = this.flags;
    const base = cc >> 1;
    let c: Cond | null = null;
    if (g !== null) {
      const { a, b, r, size } = g;
      if (base === 2) c = e.isZero(r, size);
      else if (base === 4) c = e.isNeg(r, size);
      else if (g.kind === 'sub') {
        const rel: Rel | null = base === 1 ? 'ltu' : base === 3 ? 'leu' : base === 6 ? 'lts' : base === 7 ? 'les' : null;
        if (rel !== null) c = e.cmp(rel, size, a, b);
      } else if (g.kind === 'logic') {
        // CF = OF = 0.
        if (base === 0 || base === 1) c = e.never();
        else if (base === 3) c = e.isZero(r, size);
        else if (base === 6) c = e.isNeg(r, size);
        else if (base === 7) c = e.or(e.isZero(r, size), e.isNeg(r, size));
      }
    }
    if (c === null) return e.flagCond(cc);
    return cc & 1 ? e.not(c) : c;
  }
}
