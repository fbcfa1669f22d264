/**
 * x86 MUL, IMUL (one, two and three operands), DIV, IDIV.
 * @module
 */
import { divs128, divu128, imul64, muls64, mulu64, W } from '../../arith64.js';
import { VEC, type X86Cpu } from '../cpu.js';
import type { Insn } from '../decoder.js';
import { FOp } from '../flags.js';
import { definer, MASK, rd, sx, trunc, type HandlerTable } from './operands.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const MULDIV: HandlerTable = {};
const def = definer(MULDIV);

function setMulFlags(c: X86Cpu, size: number, overflow: boolean, r0: number, r1: number): void {
  const f = c.f;
  f.set(FOp.EAGER_CO, size, 0, 0, 0, 0, r0, r1);
  f.cin = overflow ? 1 : 0;
  f.ofv = overflow ? 1 : 0;
  f.afv = 0;
}

def('MUL', (c, i) => {
  const size = i.size[0]!;
  const b = rd(c, i, 0);
  const bh = c.t1;
  if (size === 8) {
    const R = c.s.r;
    mulu64(R[0]!, R[1]!, b, bh);
    const r0 = W[0]!;
    const r1 = W[1]!;
    c.setReg(2, 8, W[2]!, W[3]!);
    c.setReg(0, 8, r0, r1);
    setMulFlags(c, 8, (W[2]! | W[3]!) !== 0, r0, r1);
    return;
  }
  const a = c.getReg(0, size);
  if (size === 4) {
    mulu64(a, 0, b, 0);
    const lo = W[0]!;
    const hi = W[1]!;
    c.setReg(0, 4, lo);
    c.setReg(2, 4, hi);
    setMulFlags(c, 4, hi !== 0, lo, 0);
    return;
  }
  const r = a * (b & MASK[size]!);
  if (size === 1) {
    c.setReg(0, 2, r);
    setMulFlags(c, 1, r >> 8 !== 0, r & 0xff, 0);
  } else {
    c.setReg(0, 2, r & 0xffff);
    c.setReg(2, 2, r >>> 16);
    setMulFlags(c, 2, r >>> 16 !== 0, r & 0xffff, 0);
  }
});

/** IMUL r/m (one operand): rDX:rAX = rAX * r/m, signed. */
function imul1(c: X86Cpu, i: Insn): void {
  const size = i.size[0]!;
  const b = rd(c, i, 0);
  const bh = c.t1;
  if (size === 8) {
    const R = c.s.r;
    muls64(R[0]!, R[1]!, b, bh);
    const r0 = W[0]!;
    const r1 = W[1]!;
    // The product fits 64 bits when the high half is the sign extension of the low half.
    const ovf = W[2] !== r1 >> 31 || W[3] !== r1 >> 31;
    c.setReg(2, 8, W[2]!, W[3]!);
    c.setReg(0, 8, r0, r1);
    setMulFlags(c, 8, ovf, r0, r1);
    return;
  }
  const a = sx(c.getReg(0, size), size);
  if (size === 4) {
    muls64(a, a >> 31, b | 0, (b | 0) >> 31);
    const lo = W[0]!;
    c.setReg(0, 4, lo);
    c.setReg(2, 4, W[1]!);
    setMulFlags(c, 4, W[1] !== lo >> 31, lo, 0);
    return;
  }
  const r = a * sx(b, size);
  if (size === 1) {
    c.setReg(0, 2, r & 0xffff);
    setMulFlags(c, 1, sx(r & 0xff, 1) !== r, r & 0xff, 0);
  } else {
    c.setReg(0, 2, r & 0xffff);
    c.setReg(2, 2, (r >> 16) & 0xffff);
    setMulFlags(c, 2, sx(r & 0xffff, 2) !== r, r & 0xffff, 0);
  }
}


/** IMUL Gv, Ev[, imm]: truncated signed product. */
function imulTrunc(c: X86Cpu, i: Insn, a0: number, a1: number, b0: number, b1: number): void {
  const size = i.size[0]!;
  if (size === 8) {
    const ovf = imul64(a0, a1, b0, b1);
    const r0 = W[0]!;
    const r1 = W[1]!;
    c.setReg(i.reg[0]!, 8, r0, r1);
    setMulFlags(c, 8, ovf, r0, r1);
    return;
  }
  let r: number;
  let ovf: boolean;
  if (size === 4) {
    // The double product is exact below 2^53; beyond, it certainly differs from the int32 result.
    r = Math.imul(a0, b0);
    ovf = (a0 | 0) * (b0 | 0) !== r;
  } else {
    const p = sx(a0, size) * sx(b0, size);
    r = trunc(p, size);
    ovf = sx(r, size) !== p;
  }
  c.setReg(i.reg[0]!, size, r);
  setMulFlags(c, size, ovf, r, 0);
}

/** IMUL: the one-operand widening form, and the two- and three-operand truncating forms. */
def('IMUL', (c, i) => {
  if (i.nops === 1) return imul1(c, i);
  if (i.nops === 2) {
    const a0 = rd(c, i, 0);
    const a1 = c.t1;
    const b0 = rd(c, i, 1);
    return imulTrunc(c, i, a0, a1, b0, c.t1);
  }
  const a0 = rd(c, i, 1);
  const a1 = c.t1;
  const size = i.size[0]!;
  imulTrunc(c, i, a0, a1, trunc(i.imm, size), size === 8 ? i.immHi : 0);
});

def('DIV', (c, i) => divide(c, i, false));
def('IDIV', (c, i) => divide(c, i, true));

function divide(c: X86Cpu, i: Insn, signed: boolean): void {
  const size = i.size[0]!;
  const d0 = rd(c, i, 0);
  const d1 = c.t1;
  if (size >= 4) {
    // rDX:rAX / r/m as a 128/64 divide (no BigInt); a 32-bit quotient must also fit 32 bits.
    const R = c.s.r;
    let ok: boolean;
    if (size === 8) ok = signed ? divs128(R[0]!, R[1]!, R[4]!, R[5]!, d0, d1) : divu128(R[0]!, R[1]!, R[4]!, R[5]!, d0, d1);
    else {
      const lo = R[0]!;
      const hi = R[4]!;
      if (signed) ok = divs128(lo, hi, hi >> 31, hi >> 31, d0 | 0, (d0 | 0) >> 31) && W[1] === W[0]! >> 31;
      else ok = divu128(lo, hi, 0, 0, d0, 0) && W[1] === 0;
    }
    if (!ok) c.raise(VEC.DE);
    const q0 = W[0]!;
    const q1 = W[1]!;
    c.setReg(2, size, W[2]!, W[3]!);
    c.setReg(0, size, q0, q1);
    // Flags are undefined after DIV/IDIV; leave them as they were.
    return;
  }
  // 8- and 16-bit: the dividend (AX, DX:AX) and quotient are exact in doubles.
  const bits = size * 8;
  let divisor = d0 & MASK[size]!;
  if (divisor === 0) c.raise(VEC.DE);
  let dividend = size === 1 ? c.getReg(0, 2) : c.getReg(2, 2) * 0x10000 + c.getReg(0, 2);
  if (signed) {
    dividend = sx(dividend, size * 2);
    divisor = sx(divisor, size);
  }
  const q = Math.trunc(dividend / divisor);
  const r = dividend - q * divisor;
  const min = signed ? -(2 ** (bits - 1)) : 0;
  const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  if (q < min || q > max) c.raise(VEC.DE);
  if (size === 1) c.setReg(0, 2, (q & 0xff) | ((r & 0xff) << 8));
  else {
    c.setReg(0, 2, q & 0xffff);
    c.setReg(2, 2, r & 0xffff);
  }
  // Flags are undefined after DIV/IDIV; leave them as they were.
}
