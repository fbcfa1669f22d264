/**
 * x86 MUL, IMUL (one, two and three operands), DIV, IDIV.
 * @module
 */
import { VEC, type X86Cpu } from '../cpu.js';
import type { Insn } from '../decoder.js';
import { FOp } from '../flags.js';
import { definer, MASK, rd, sx, trunc, ubig, type HandlerTable } from './operands.js';

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
    const r = BigInt.asUintN(64, c.s.getReg(0)) * ((BigInt(bh >>> 0) << 32n) | BigInt(b >>> 0));
    c.s.setReg(0, r);
    c.s.setReg(2, r >> 64n);
    setMulFlags(c, 8, r >> 64n !== 0n, Number(r & 0xffffffffn) | 0, Number((r >> 32n) & 0xffffffffn) | 0);
    return;
  }
  const a = c.getReg(0, size);
  if (size === 4) {
    const r = BigInt(a) * BigInt(b >>> 0);
    const lo = Number(r & 0xffffffffn) | 0;
    const hi = Number(r >> 32n) | 0;
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
    const r = BigInt.asIntN(64, c.s.getReg(0)) * BigInt.asIntN(64, (BigInt(bh >>> 0) << 32n) | BigInt(b >>> 0));
    const lo = BigInt.asUintN(64, r);
    c.s.setReg(0, lo);
    c.s.setReg(2, BigInt.asUintN(64, r >> 64n));
    setMulFlags(c, 8, BigInt.asIntN(64, lo) !== r, Number(lo & 0xffffffffn) | 0, Number(lo >> 32n) | 0);
    return;
  }
  const a = sx(c.getReg(0, size), size);
  if (size === 4) {
    const r = BigInt(a) * BigInt(b | 0);
    const lo = Number(BigInt.asIntN(32, r));
    c.setReg(0, 4, lo);
    c.setReg(2, 4, Number(BigInt.asIntN(32, r >> 32n)));
    setMulFlags(c, 4, BigInt(lo) !== r, lo, 0);
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
    const a = BigInt.asIntN(64, (BigInt(a1 >>> 0) << 32n) | BigInt(a0 >>> 0));
    const b = BigInt.asIntN(64, (BigInt(b1 >>> 0) << 32n) | BigInt(b0 >>> 0));
    const r = a * b;
    const lo = BigInt.asUintN(64, r);
    const r0 = Number(lo & 0xffffffffn) | 0;
    const r1 = Number(lo >> 32n) | 0;
    c.setReg(i.reg[0]!, 8, r0, r1);
    setMulFlags(c, 8, BigInt.asIntN(64, lo) !== r, r0, r1);
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
  const bits = BigInt(size * 8);
  let divisor = size === 8 ? (BigInt(d1 >>> 0) << 32n) | BigInt(d0 >>> 0) : ubig(d0, size);
  if (divisor === 0n) c.raise(VEC.DE);
  let dividend: bigint;
  if (size === 1) dividend = BigInt(c.getReg(0, 2));
  else if (size === 8) dividend = (c.s.getReg(2) << 64n) | c.s.getReg(0);
  else dividend = (BigInt(c.getReg(2, size)) << bits) | BigInt(c.getReg(0, size));
  if (signed) {
    dividend = BigInt.asIntN(Number(bits) * 2, dividend);
    divisor = BigInt.asIntN(Number(bits), divisor);
  }
  const q = dividend / divisor;
  const r = dividend % divisor;
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  if (q < min || q > max) c.raise(VEC.DE);
  const qu = BigInt.asUintN(Number(bits), q);
  const ru = BigInt.asUintN(Number(bits), r);
  if (size === 1) c.setReg(0, 2, Number(qu) | (Number(ru) << 8));
  else if (size === 8) {
    c.s.setReg(0, qu);
    c.s.setReg(2, ru);
  } else {
    c.setReg(0, size, Number(qu) | 0);
    c.setReg(2, size, Number(ru) | 0);
  }
  // Flags are undefined after DIV/IDIV; leave them as they were.
}
