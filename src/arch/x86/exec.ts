/**
 * x86 instruction semantics, one handler per mnemonic of the opcode table. Handlers work on the
 * decoded `Insn` and the CPU; they read operands through the helpers below, raise guest faults
 * through `c.raise`, and leave `c.next` as the next RIP (branches set it).
 * @module
 */
import { EMULATION_FAILURE, EXIT, VEC, isCanonical, type X86Cpu } from './cpu.js';
import { K_IMM, K_MEM, K_REG, K_SEG, K_XMM, MNEMONICS, mnemonic, type Insn } from './decoder.js';
import { FOp, ltu } from './flags.js';
import { AOp } from '../../kernel/atomics.js';
import { lockedCas, lockedRmw, lockedUpdate } from './atomic.js';
import { CR0, CR4, CS, DS, EFER, ES, FLAG, FS, GS, LDTR, SS, TR } from './state.js';

export type Handler = (c: X86Cpu, i: Insn) => void;

export const HANDLERS: Handler[] = new Array<Handler>(MNEMONICS.length);
function def(name: string, h: Handler): void {
  HANDLERS[mnemonic(name)] = h;
}

const MASK = [0, 0xff, 0xffff, 0, 0xffffffff, 0, 0, 0, 0xffffffff];
const SIGN = [0, 0x80, 0x8000, 0, 0x80000000];

/** The unsigned value of a <= 4-byte operand as a BigInt (size 4 values are int32 in registers). */
function ubig(v: number, size: number): bigint {
  return BigInt(size === 4 ? v >>> 0 : v & MASK[size]!);
}

/** Truncates a 32-bit-or-less value to `size` (returns int32 for size 4). */
function trunc(v: number, size: number): number {
  return size === 1 ? v & 0xff : size === 2 ? v & 0xffff : v | 0;
}

// ---------------------------------------------------------------------------------------------
// Operands

/** Effective address (segment offset) of the memory operand. */
export function ea(c: X86Cpu, i: Insn): number {
  if (i.asz === 8) return ea64(c, i);
  let a = i.disp;
  if (i.base >= 0) a += c.regNum(i.base, i.asz);
  if (i.index >= 0) a += c.regNum(i.index, i.asz) * i.scale;
  return i.asz === 2 ? a & 0xffff : a >>> 0;
}

/**
 * 64-bit effective address. Registers below 2^48 in magnitude (every canonical pointer) sum exactly
 * in a double; otherwise the low 32 bits are summed in int32 arithmetic and the high word recovered
 * from the (slightly inexact) double sum, so LEA of any 64-bit values is exact modulo 2^64.
 */
function ea64(c: X86Cpu, i: Insn): number {
  const R = c.s.r;
  const b = i.base;
  const x = i.index;
  const bh = b >= 0 ? R[2 * b + 1]! : 0;
  const xh = x >= 0 ? R[2 * x + 1]! : 0;
  const bl = b >= 0 ? R[2 * b]! >>> 0 : 0;
  const xl = x >= 0 ? R[2 * x]! >>> 0 : 0;
  const a = i.disp + (bh * 0x100000000 + bl) + (xh * 0x100000000 + xl) * i.scale;
  const lo = ((i.disp | 0) + (bl | 0) + Math.imul(xl | 0, i.scale)) | 0;
  c.eaLo = lo;
  if (bh < 0x10000 && bh >= -0x10000 && xh < 0x10000 && xh >= -0x10000) {
    c.eaHi = Math.floor(a / 0x100000000) | 0;
    return a;
  }
  // The high word modulo 2^32, signed (the double's error is far below 2^31).
  const hi = (Math.round((a - (lo >>> 0)) / 0x100000000) % 0x100000000) | 0;
  c.eaHi = hi;
  return hi * 0x100000000 + (lo >>> 0);
}

/** Wraps a 64-bit sum held in a JS number to the signed 64-bit range (canonical values stay exact). */
function wrap64(a: number): number {
  if (a >= 0x8000000000000000 || a < -0x8000000000000000) return Number(BigInt.asIntN(64, BigInt(Math.round(a))));
  return a;
}

/** Reads operand k (low half returned, high half in c.t1 for 8-byte operands). */
function rd(c: X86Cpu, i: Insn, k: number): number {
  const size = i.size[k]!;
  switch (i.kind[k]) {
    case K_REG: {
      const v = c.getReg(i.reg[k]!, size);
      if (size < 8) c.t1 = 0;
      return v;
    }
    case K_MEM: {
      const v = c.read(i.seg, ea(c, i), size);
      if (size < 8) c.t1 = 0;
      return size === 4 ? v | 0 : v;
    }
    case K_IMM:
      // Iz with a 64-bit destination is sign-extended to 64 bits.
      if (size === 8 || i.size[0] === 8) {
        c.t1 = i.immHi;
        return i.imm;
      }
      c.t1 = 0;
      return trunc(i.imm, size);
    default:
      throw EMULATION_FAILURE;
  }
}

/** Writes operand k. */
function wr(c: X86Cpu, i: Insn, k: number, lo: number, hi = 0): void {
  const size = i.size[k]!;
  if (i.kind[k] === K_REG) c.setReg(i.reg[k]!, size, lo, hi);
  else if (i.kind[k] === K_MEM) c.write(i.seg, ea(c, i), size, lo, hi);
  else throw EMULATION_FAILURE;
}

/**
 * Read-modify-write of operand 0: returns the linear address used (for memory) so the write goes
 * to the same place without a second segment check; -1 for a register.
 */
function rmwAddr(c: X86Cpu, i: Insn): number {
  return i.kind[0] === K_MEM ? c.linear(i.seg, ea(c, i), i.size[0]!, true) : -1;
}

function rdAt(c: X86Cpu, i: Insn, lin: number): number {
  const size = i.size[0]!;
  if (lin < 0 && i.kind[0] !== K_MEM) {
    const v = c.getReg(i.reg[0]!, size);
    if (size < 8) c.t1 = 0;
    return v;
  }
  const v = c.readLin(lin, size);
  if (size < 8) c.t1 = 0;
  return size === 4 ? v | 0 : v;
}

function wrAt(c: X86Cpu, i: Insn, lin: number, lo: number, hi: number): void {
  if (i.kind[0] !== K_MEM) c.setReg(i.reg[0]!, i.size[0]!, lo, hi);
  else c.writeLin(lin, i.size[0]!, lo, hi);
}

// ---------------------------------------------------------------------------------------------
// ALU

const enum Alu {
  ADD, OR, ADC, SBB, AND, SUB, XOR, CMP,
}

/** Computes a two-operand ALU op with flags; returns the low half, high half in c.t1. */
function alu(c: X86Cpu, op: Alu, size: number, a0: number, a1: number, b0: number, b1: number): number {
  const f = c.f;
  let r0: number;
  let r1 = 0;
  switch (op) {
    case Alu.ADD:
    case Alu.ADC: {
      const cin = op === Alu.ADC ? c.cf() ? 1 : 0 : 0;
      if (size === 8) {
        const lo = (a0 >>> 0) + (b0 >>> 0) + cin;
        r0 = lo | 0;
        r1 = (a1 + b1 + (lo > 0xffffffff ? 1 : 0)) | 0;
      } else r0 = trunc(a0 + b0 + cin, size);
      f.set(op === Alu.ADC ? FOp.ADC : FOp.ADD, size, a0, a1, b0, b1, r0, r1);
      f.cin = cin;
      break;
    }
    case Alu.SUB:
    case Alu.SBB:
    case Alu.CMP: {
      const cin = op === Alu.SBB ? c.cf() ? 1 : 0 : 0;
      if (size === 8) {
        const lo = (a0 >>> 0) - (b0 >>> 0) - cin;
        r0 = lo | 0;
        r1 = (a1 - b1 - (lo < 0 ? 1 : 0)) | 0;
      } else r0 = trunc(a0 - b0 - cin, size);
      f.set(op === Alu.SBB ? FOp.SBB : FOp.SUB, size, a0, a1, b0, b1, r0, r1);
      f.cin = cin;
      break;
    }
    case Alu.AND:
      r0 = trunc(a0 & b0, size);
      r1 = size === 8 ? a1 & b1 : 0;
      f.set(FOp.LOGIC, size, a0, a1, b0, b1, r0, r1);
      break;
    case Alu.OR:
      r0 = trunc(a0 | b0, size);
      r1 = size === 8 ? a1 | b1 : 0;
      f.set(FOp.LOGIC, size, a0, a1, b0, b1, r0, r1);
      break;
    default:
      r0 = trunc(a0 ^ b0, size);
      r1 = size === 8 ? a1 ^ b1 : 0;
      f.set(FOp.LOGIC, size, a0, a1, b0, b1, r0, r1);
  }
  c.t1 = r1;
  return r0;
}

function aluInsn(op: Alu): Handler {
  const writes = op !== Alu.CMP;
  return (c, i) => {
    const size = i.size[0]!;
    if (size === 4 && i.kind[0] === K_REG && i.kind[1] !== K_MEM) {
      // The common 32-bit register form without the operand plumbing.
      const R = c.s.r;
      const d = 2 * i.reg[0]!;
      const r = alu(c, op, 4, R[d]!, 0, i.kind[1] === K_IMM ? i.imm | 0 : R[2 * i.reg[1]!]!, 0);
      if (writes) {
        R[d] = r;
        R[d + 1] = 0;
      }
      return;
    }
    const lin = writes ? rmwAddr(c, i) : -1;
    if (i.lock) return lockedAlu(c, i, op, lin);
    const a0 = writes ? rdAt(c, i, lin) : rd(c, i, 0);
    const a1 = c.t1;
    const b0 = rd(c, i, 1);
    const b1 = size === 8 ? c.t1 : 0;
    // Immediates narrower than the operand are sign-extended.
    const bx0 = i.kind[1] === K_IMM ? trunc(i.imm, size) : b0;
    const bx1 = i.kind[1] === K_IMM ? (size === 8 ? i.immHi : 0) : b1;
    const r = alu(c, op, size, a0, size === 8 ? a1 : 0, bx0, bx1);
    if (writes) wrAt(c, i, lin, r, c.t1);
  };
}

def('ADD', aluInsn(Alu.ADD));
def('OR', aluInsn(Alu.OR));
def('ADC', aluInsn(Alu.ADC));
def('SBB', aluInsn(Alu.SBB));
def('AND', aluInsn(Alu.AND));
def('SUB', aluInsn(Alu.SUB));
def('XOR', aluInsn(Alu.XOR));
def('CMP', aluInsn(Alu.CMP));
def('TEST', (c, i) => {
  const size = i.size[0]!;
  const a0 = rd(c, i, 0);
  const a1 = c.t1;
  const b0 = rd(c, i, 1);
  const b1 = c.t1;
  alu(c, Alu.AND, size, a0, a1, b0, b1);
});

function incdec(dec: boolean): Handler {
  return (c, i) => {
    const size = i.size[0]!;
    const lin = rmwAddr(c, i);
    if (i.lock) return lockedIncDec(c, i, lin, dec);
    const a0 = rdAt(c, i, lin);
    const r0 = incDecResult(c, size, dec, a0, size === 8 ? c.t1 : 0);
    wrAt(c, i, lin, r0, c.t1);
  };
}

/** INC/DEC of a0:a1: sets the flags (CF preserved) and returns the low half, the high half in c.t1. */
function incDecResult(c: X86Cpu, size: number, dec: boolean, a0: number, a1: number): number {
  const cf = c.cf();
  let r0: number;
  let r1 = 0;
  if (size === 8) {
    const lo = (a0 >>> 0) + (dec ? -1 : 1);
    r0 = lo | 0;
    r1 = (a1 + (lo > 0xffffffff ? 1 : lo < 0 ? -1 : 0)) | 0;
  } else r0 = trunc(a0 + (dec ? -1 : 1), size);
  c.f.set(dec ? FOp.DEC : FOp.INC, size, a0, a1, 1, 0, r0, r1);
  c.f.cin = cf;
  c.t1 = r1;
  return r0;
}
def('INC', incdec(false));
def('DEC', incdec(true));

def('NOT', (c, i) => {
  const lin = rmwAddr(c, i);
  if (i.lock) return void lockedRmw(c, lin, i.size[0]!, AOp.XOR, -1, -1);
  const a0 = rdAt(c, i, lin);
  const a1 = c.t1;
  wrAt(c, i, lin, trunc(~a0, i.size[0]!), ~a1);
});

def('NEG', (c, i) => {
  const size = i.size[0]!;
  const lin = rmwAddr(c, i);
  if (i.lock) return lockedNeg(c, i, lin);
  const a0 = rdAt(c, i, lin);
  const a1 = size === 8 ? c.t1 : 0;
  const r = alu(c, Alu.SUB, size, 0, 0, a0, a1);
  wrAt(c, i, lin, r, c.t1);
});

// ---- multiply / divide ----------------------------------------------------------------------

/** Signed value of a (size <= 4) operand. */
function sx(v: number, size: number): number {
  return size === 1 ? (v << 24) >> 24 : size === 2 ? (v << 16) >> 16 : v | 0;
}

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

def('IMUL1', (c, i) => {
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
});

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

def('IMUL2', (c, i) => {
  const a0 = rd(c, i, 0);
  const a1 = c.t1;
  const b0 = rd(c, i, 1);
  imulTrunc(c, i, a0, a1, b0, c.t1);
});

def('IMUL3', (c, i) => {
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

// ---- shifts and rotates ---------------------------------------------------------------------

const enum Sh {
  ROL, ROR, RCL, RCR, SHL, SHR, SAR,
}

function shiftInsn(kind: Sh): Handler {
  return (c, i) => {
    const size = i.size[0]!;
    const bits = size * 8;
    const cnt = (i.kind[1] === K_IMM ? i.imm : c.getReg(1, 1)) & (size === 8 ? 63 : 31);
    const lin = rmwAddr(c, i);
    const a0 = rdAt(c, i, lin);
    const a1 = size === 8 ? c.t1 : 0;
    if (cnt === 0) return;
    if (size !== 8 && kind >= Sh.SHL) {
      // Fast path: SHL/SHR/SAR of 8/16/32 bits in int32 arithmetic (the count is at most 31).
      const bits1 = bits - 1;
      const a = size === 4 ? a0 >>> 0 : a0 & (size === 1 ? 0xff : 0xffff);
      let res: number;
      let cf: number;
      let of: number;
      if (kind === Sh.SHL) {
        res = cnt >= bits ? 0 : size === 4 ? (a << cnt) >>> 0 : (a << cnt) & (size === 1 ? 0xff : 0xffff);
        cf = cnt <= bits ? (a >>> (bits - cnt)) & 1 : 0;
        of = ((res >>> bits1) & 1) ^ cf;
      } else if (kind === Sh.SHR) {
        res = a >>> cnt;
        cf = (a >>> (cnt - 1)) & 1;
        of = (a >>> bits1) & 1;
      } else {
        const sa = size === 4 ? a | 0 : size === 2 ? (a << 16) >> 16 : (a << 24) >> 24;
        res = sa >> cnt;
        cf = (sa >> (cnt - 1)) & 1;
        of = 0;
      }
      const r = trunc(res, size);
      wrAt(c, i, lin, r, 0);
      const f = c.f;
      f.set(FOp.EAGER_CO, size, 0, 0, 0, 0, r, 0);
      f.cin = cf;
      f.ofv = of;
      f.afv = 0;
      return;
    }
    if (kind >= Sh.SHL) {
      // 64-bit SHL/SHR/SAR on the two 32-bit halves.
      const lo = a0 | 0;
      const hi = a1 | 0;
      const bit = (k: number) => (k < 32 ? (lo >>> k) & 1 : (hi >>> (k - 32)) & 1);
      let rl: number;
      let rh: number;
      let cf: number;
      let of: number;
      if (kind === Sh.SHL) {
        if (cnt < 32) {
          rh = (hi << cnt) | (lo >>> (32 - cnt));
          rl = lo << cnt;
        } else {
          rh = lo << (cnt - 32);
          rl = 0;
        }
        cf = bit(64 - cnt);
        of = (rh >>> 31) ^ cf;
      } else {
        if (cnt < 32) {
          rl = (lo >>> cnt) | (hi << (32 - cnt));
          rh = kind === Sh.SHR ? hi >>> cnt : hi >> cnt;
        } else {
          rl = kind === Sh.SHR ? hi >>> (cnt - 32) : hi >> (cnt - 32);
          rh = kind === Sh.SHR ? 0 : hi >> 31;
        }
        cf = bit(cnt - 1);
        of = kind === Sh.SHR ? hi >>> 31 : 0;
      }
      rl |= 0;
      rh |= 0;
      wrAt(c, i, lin, rl, rh);
      const f = c.f;
      f.set(FOp.EAGER_CO, 8, 0, 0, 0, 0, rl, rh);
      f.cin = cf;
      f.ofv = of;
      f.afv = 0;
      return;
    }
    // Rotates: BigInt for 64-bit, numbers otherwise (exact below 2^53).
    let v = size === 8 ? (BigInt(a1 >>> 0) << 32n) | BigInt(a0 >>> 0) : ubig(a0, size);
    const B = BigInt(bits);
    const mask = (1n << B) - 1n;
    const msb = (x: bigint) => Number((x >> (B - 1n)) & 1n);
    let cf = 0;
    let of = 0;
    let result: bigint;
    const cin = BigInt(c.cf());
    switch (kind) {
      case Sh.ROL: {
        const n = BigInt(cnt % bits);
        result = ((v << n) | (v >> ((B - n) % B))) & mask;
        cf = Number(result & 1n);
        of = msb(result) ^ cf;
        break;
      }
      case Sh.ROR: {
        const n = BigInt(cnt % bits);
        result = ((v >> n) | (v << ((B - n) % B))) & mask;
        cf = msb(result);
        of = msb(result) ^ Number((result >> (B - 2n)) & 1n);
        break;
      }
      case Sh.RCL: {
        const n = cnt % (bits + 1);
        let r = v;
        let carry = cin;
        for (let k = 0; k < n; k++) {
          const out = (r >> (B - 1n)) & 1n;
          r = ((r << 1n) | carry) & mask;
          carry = out;
        }
        result = r;
        cf = Number(carry);
        of = msb(result) ^ cf;
        if (n === 0) {
          // Masked count non-zero but a full rotation: value and CF unchanged; OF as computed on hardware.
          cf = Number(cin);
          of = msb(result) ^ cf;
        }
        break;
      }
      case Sh.RCR: {
        const n = cnt % (bits + 1);
        let r = v;
        let carry = cin;
        of = msb(v) ^ Number(carry);
        for (let k = 0; k < n; k++) {
          const out = r & 1n;
          r = (r >> 1n) | (carry << (B - 1n));
          carry = out;
        }
        result = r;
        cf = Number(carry);
        if (n === 0) cf = Number(cin);
        break;
      }
      case Sh.SHL: {
        const n = BigInt(cnt);
        result = (v << n) & mask;
        cf = cnt <= bits ? Number((v >> (B - n)) & 1n) : 0;
        of = msb(result) ^ cf;
        break;
      }
      case Sh.SHR: {
        const n = BigInt(cnt);
        result = v >> n;
        cf = Number((v >> (n - 1n)) & 1n);
        of = msb(v);
        break;
      }
      default: {
        const n = BigInt(cnt);
        const sv = BigInt.asIntN(bits, v);
        result = BigInt.asUintN(bits, sv >> n);
        cf = Number((sv >> (n - 1n)) & 1n);
        of = 0;
      }
    }
    v = result;
    const r0 = size === 8 ? Number(v & 0xffffffffn) | 0 : trunc(Number(v), size);
    const r1 = size === 8 ? Number(v >> 32n) | 0 : 0;
    wrAt(c, i, lin, r0, r1);
    if (kind <= Sh.RCR) {
      // Rotates change only CF and OF.
      const fl = c.getFlags();
      c.s.rflags = ((fl & ~(FLAG.CF | FLAG.OF)) | (cf ? FLAG.CF : 0) | (of ? FLAG.OF : 0)) >>> 0;
    } else {
      const f = c.f;
      f.set(FOp.EAGER_CO, size, 0, 0, 0, 0, r0, r1);
      f.cin = cf;
      f.ofv = of;
      f.afv = 0;
    }
  };
}
def('ROL', shiftInsn(Sh.ROL));
def('ROR', shiftInsn(Sh.ROR));
def('RCL', shiftInsn(Sh.RCL));
def('RCR', shiftInsn(Sh.RCR));
def('SHL', shiftInsn(Sh.SHL));
def('SHR', shiftInsn(Sh.SHR));
def('SAR', shiftInsn(Sh.SAR));

function shiftDouble(left: boolean): Handler {
  return (c, i) => {
    const size = i.size[0]!;
    const bits = size * 8;
    const cnt = (i.nops === 3 && i.kind[2] === K_IMM ? i.imm : c.getReg(1, 1)) & (size === 8 ? 63 : 31);
    const lin = rmwAddr(c, i);
    const a0 = rdAt(c, i, lin);
    const a1 = size === 8 ? c.t1 : 0;
    const s0 = c.getReg(i.reg[1]!, size);
    const s1 = size === 8 ? c.t1 : 0;
    if (cnt === 0) return;
    const B = BigInt(bits);
    const mask = (1n << B) - 1n;
    const dst = size === 8 ? (BigInt(a1 >>> 0) << 32n) | BigInt(a0 >>> 0) : ubig(a0, size);
    const src = size === 8 ? (BigInt(s1 >>> 0) << 32n) | BigInt(s0 >>> 0) : ubig(s0, size);
    const n = BigInt(cnt);
    let r: bigint;
    let cf: number;
    if (left) {
      const wide = (dst << B) | src;
      r = (wide << n >> B) & mask;
      cf = cnt <= bits ? Number((dst >> (B - n)) & 1n) : 0;
    } else {
      const wide = (src << B) | dst;
      r = (wide >> n) & mask;
      cf = Number((dst >> (n - 1n)) & 1n);
    }
    const of = Number(((r ^ dst) >> (B - 1n)) & 1n);
    const r0 = size === 8 ? Number(r & 0xffffffffn) | 0 : trunc(Number(r), size);
    const r1 = size === 8 ? Number(r >> 32n) | 0 : 0;
    wrAt(c, i, lin, r0, r1);
    const f = c.f;
    f.set(FOp.EAGER_CO, size, 0, 0, 0, 0, r0, r1);
    f.cin = cf;
    f.ofv = of;
    f.afv = 0;
  };
}
def('SHLD', shiftDouble(true));
def('SHRD', shiftDouble(false));

// ---- bit operations -------------------------------------------------------------------------

function btInsn(op: 0 | 1 | 2 | 3): Handler {
  return (c, i) => {
    const size = i.size[0]!;
    const bits = size * 8;
    let bit: number;
    let lin = -1;
    if (i.kind[1] === K_IMM) bit = i.imm & (bits - 1);
    else {
      const off = size === 8 ? c.regNum(i.reg[1]!, 8) : sx(c.getReg(i.reg[1]!, size), size);
      if (i.kind[0] === K_MEM) {
        // Register bit offsets address memory beyond the operand (signed, in operand-size units).
        const unit = Math.floor(off / bits);
        const addr = ea(c, i) + unit * size;
        const a = i.asz === 2 ? addr & 0xffff : i.asz === 4 ? addr >>> 0 : addr;
        lin = c.linear(i.seg, a, size, op !== 0);
        bit = off - unit * bits;
      } else bit = off & (bits - 1);
    }
    if (lin < 0 && i.kind[0] === K_MEM) lin = c.linear(i.seg, ea(c, i), size, op !== 0);
    if (i.lock) return lockedBt(c, op, size, lin, bit);
    const v0 = i.kind[0] === K_MEM ? c.readLin(lin, size) : c.getReg(i.reg[0]!, size);
    const v1 = size === 8 ? c.t1 : 0;
    const word = bit >= 32 ? v1 : v0;
    const b = bit & 31;
    const cf = (word >>> b) & 1;
    if (op !== 0) {
      let nw = word;
      if (op === 1) nw = word | (1 << b);
      else if (op === 2) nw = word & ~(1 << b);
      else nw = word ^ (1 << b);
      const n0 = bit >= 32 ? v0 : nw;
      const n1 = bit >= 32 ? nw : v1;
      if (i.kind[0] === K_MEM) c.writeLin(lin, size, n0, n1);
      else c.setReg(i.reg[0]!, size, size < 4 ? n0 & MASK[size]! : n0, n1);
    }
    const fl = c.getFlags();
    c.s.rflags = ((fl & ~FLAG.CF) | (cf ? FLAG.CF : 0)) >>> 0;
  };
}
def('BT', btInsn(0));
def('BTS', btInsn(1));
def('BTR', btInsn(2));
def('BTC', btInsn(3));

function scanInsn(kind: 'bsf' | 'bsr' | 'tzcnt' | 'lzcnt' | 'popcnt'): Handler {
  return (c, i) => {
    const size = i.size[0]!;
    const bits = size * 8;
    const v0 = rd(c, i, 1);
    const v1 = size === 8 ? c.t1 : 0;
    const v = size === 8 ? (BigInt(v1 >>> 0) << 32n) | BigInt(v0 >>> 0) : ubig(v0, size);
    const fl = c.getFlags();
    let res = 0;
    let cf = 0;
    let zf = 0;
    if (kind === 'popcnt') {
      let x = v;
      while (x) {
        res += Number(x & 1n);
        x >>= 1n;
      }
      zf = v === 0n ? 1 : 0;
      c.s.rflags = ((fl & ~(FLAG.CF | FLAG.PF | FLAG.AF | FLAG.ZF | FLAG.SF | FLAG.OF)) | (zf ? FLAG.ZF : 0)) >>> 0;
      c.setReg(i.reg[0]!, size, res);
      return;
    }
    if (v === 0n) {
      if (kind === 'bsf' || kind === 'bsr') {
        // Destination unchanged (as Intel and AMD implement it), ZF set.
        c.s.rflags = (fl | FLAG.ZF) >>> 0;
        return;
      }
      res = bits;
      cf = 1;
    } else if (kind === 'bsf' || kind === 'tzcnt') {
      while (!((v >> BigInt(res)) & 1n)) res++;
    } else {
      let top = bits - 1;
      while (!((v >> BigInt(top)) & 1n)) top--;
      res = kind === 'bsr' ? top : bits - 1 - top;
    }
    zf = kind === 'bsf' || kind === 'bsr' ? 0 : res === 0 ? 1 : 0;
    const keep = kind === 'bsf' || kind === 'bsr' ? fl & ~FLAG.ZF : fl & ~(FLAG.CF | FLAG.ZF);
    c.s.rflags = (keep | (zf ? FLAG.ZF : 0) | (cf ? FLAG.CF : 0)) >>> 0;
    c.setReg(i.reg[0]!, size, res);
  };
}
def('BSF', scanInsn('bsf'));
def('BSR', scanInsn('bsr'));
def('TZCNT', scanInsn('tzcnt'));
def('LZCNT', scanInsn('lzcnt'));
def('POPCNT', scanInsn('popcnt'));

def('BSWAP', (c, i) => {
  const r = i.reg[0]!;
  const swap = (x: number) => ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);
  if (i.size[0] === 8) {
    const lo = c.getReg(r, 8);
    const hi = c.t1;
    c.setReg(r, 8, swap(hi), swap(lo));
  } else c.setReg(r, 4, swap(c.getReg(r, 4)));
});

// ---- data movement --------------------------------------------------------------------------

def('MOV', (c, i) => {
  const k0 = i.kind[0];
  const k1 = i.kind[1];
  if (k0 === K_SEG) {
    if (i.reg[0] === CS) c.ud();
    const sel = rd(c, i, 1) & 0xffff;
    c.loadSeg(i.reg[0]!, sel);
    if (i.reg[0] === SS) c.svc.shadow(c, 2);
    return;
  }
  if (k1 === K_SEG) {
    if (i.reg[1]! > 5) c.ud();
    const sel = c.s.seg[i.reg[1]!]!.selector;
    // To a register: zero-extended to the operand size; to memory: always 16 bits.
    if (k0 === K_MEM) c.write(i.seg, ea(c, i), 2, sel);
    else c.setReg(i.reg[0]!, i.size[0]! === 8 ? 8 : i.size[0]! < 4 ? i.size[0]! : 4, sel);
    return;
  }
  if (k0 === 5 /* K_CR */ || k1 === 5) return movCr(c, i);
  if (k0 === 6 /* K_DR */ || k1 === 6) return movDr(c, i);
  const v = rd(c, i, 1);
  wr(c, i, 0, v, c.t1);
});

def('MOVZX', (c, i) => {
  const v = rd(c, i, 1);
  c.setReg(i.reg[0]!, i.size[0]!, v & MASK[i.size[1]!]!, 0);
});

def('MOVSX', (c, i) => {
  const v = sx(rd(c, i, 1), i.size[1]!);
  c.setReg(i.reg[0]!, i.size[0]!, trunc(v, i.size[0]!), v < 0 ? -1 : 0);
});

def('MOVSXD', (c, i) => {
  const v = rd(c, i, 1) | 0;
  if (i.size[0] === 8) c.setReg(i.reg[0]!, 8, v, v < 0 ? -1 : 0);
  else c.setReg(i.reg[0]!, i.size[0]!, trunc(v, i.size[0]!));
});

def('LEA', (c, i) => {
  const a = ea(c, i);
  if (i.asz === 8) {
    // Exact halves: a 64-bit sum of arbitrary registers may not fit a double.
    if (i.size[0] === 8) c.setReg(i.reg[0]!, 8, c.eaLo, c.eaHi);
    else c.setReg(i.reg[0]!, i.size[0]!, trunc(c.eaLo, i.size[0]!));
  } else c.setReg(i.reg[0]!, i.size[0]!, trunc(a | 0, i.size[0]!));
});

def('XCHG', (c, i) => {
  const size = i.size[0]!;
  const lin = rmwAddr(c, i);
  if (i.kind[0] === K_MEM) return lockedXchg(c, i, lin); // XCHG with memory is always locked
  const a0 = rdAt(c, i, lin);
  const a1 = c.t1;
  const b0 = c.getReg(i.reg[1]!, size);
  const b1 = c.t1;
  wrAt(c, i, lin, b0, size === 8 ? b1 : 0);
  c.setReg(i.reg[1]!, size, a0, size === 8 ? a1 : 0);
});

def('CMPXCHG', (c, i) => {
  const size = i.size[0]!;
  const lin = rmwAddr(c, i);
  if (i.lock) return lockedCmpxchg(c, i, lin);
  const d0 = rdAt(c, i, lin);
  const d1 = size === 8 ? c.t1 : 0;
  const a0 = c.getReg(0, size);
  const a1 = size === 8 ? c.t1 : 0;
  alu(c, Alu.CMP, size, a0, a1, d0, d1);
  if (c.f.zf()) {
    const s0 = c.getReg(i.reg[1]!, size);
    wrAt(c, i, lin, s0, size === 8 ? c.t1 : 0);
  } else {
    // The destination is written back unchanged (a locked RMW always writes; a 32-bit register
    // destination is zero-extended like any 32-bit write).
    wrAt(c, i, lin, d0, d1);
    c.setReg(0, size, d0, d1);
  }
});

def('CMPXCHG8B', (c, i) => {
  const q = i.rex & 8;
  if (q) throw EMULATION_FAILURE; // CMPXCHG16B is not advertised in CPUID
  const lin = c.linear(i.seg, ea(c, i), 8, true);
  if (i.lock) return lockedCmpxchg8b(c, lin);
  const lo = c.readLin(lin, 8);
  const hi = c.t1;
  const eax = c.getReg(0, 4) | 0;
  const edx = c.getReg(2, 4) | 0;
  const fl = c.getFlags();
  if (lo === eax && hi === edx) {
    c.writeLin(lin, 8, c.getReg(3, 4) | 0, c.getReg(1, 4) | 0);
    c.s.rflags = (fl | FLAG.ZF) >>> 0;
  } else {
    c.writeLin(lin, 8, lo, hi);
    c.setReg(0, 4, lo);
    c.setReg(2, 4, hi);
    c.s.rflags = (fl & ~FLAG.ZF) >>> 0;
  }
});

def('XADD', (c, i) => {
  const size = i.size[0]!;
  const lin = rmwAddr(c, i);
  if (i.lock) return lockedXadd(c, i, lin);
  const d0 = rdAt(c, i, lin);
  const d1 = size === 8 ? c.t1 : 0;
  const s0 = c.getReg(i.reg[1]!, size);
  const s1 = size === 8 ? c.t1 : 0;
  const r = alu(c, Alu.ADD, size, d0, d1, s0, s1);
  const rh = c.t1;
  c.setReg(i.reg[1]!, size, d0, d1);
  wrAt(c, i, lin, r, rh);
});

def('CMOVCC', (c, i) => {
  const v = rd(c, i, 1);
  const hi = c.t1;
  // A 32-bit CMOV zero-extends even when the condition is false.
  if (c.cond(i.cond)) c.setReg(i.reg[0]!, i.size[0]!, v, hi);
  else if (i.size[0] === 4) c.setReg(i.reg[0]!, 4, c.getReg(i.reg[0]!, 4));
});

def('SETCC', (c, i) => wr(c, i, 0, c.cond(i.cond) ? 1 : 0));

def('CBW', (c, i) => {
  if (i.osz === 2) c.setReg(0, 2, sx(c.getReg(0, 1), 1) & 0xffff);
  else if (i.osz === 4) c.setReg(0, 4, sx(c.getReg(0, 2), 2));
  else {
    const v = c.getReg(0, 4) | 0;
    c.setReg(0, 8, v, v < 0 ? -1 : 0);
  }
});

def('CWD', (c, i) => {
  if (i.osz === 2) c.setReg(2, 2, c.getReg(0, 2) & 0x8000 ? 0xffff : 0);
  else if (i.osz === 4) c.setReg(2, 4, (c.getReg(0, 4) | 0) < 0 ? -1 : 0);
  else {
    c.getReg(0, 8);
    const neg = c.t1 < 0;
    c.setReg(2, 8, neg ? -1 : 0, neg ? -1 : 0);
  }
});

def('XLAT', (c, i) => {
  const base = c.regNum(3, i.asz);
  const a = base + c.getReg(0, 1);
  const off = i.asz === 2 ? a & 0xffff : i.asz === 4 ? a >>> 0 : a;
  c.setReg(0, 1, c.read(i.seg, off, 1));
});

function loadFar(seg: number): Handler {
  return (c, i) => {
    const a = ea(c, i);
    const size = i.size[0]!;
    const off = c.read(i.seg, a, size);
    const offHi = c.t1;
    const sel = c.read(i.seg, trunc(a + size, i.asz === 2 ? 2 : 4), 2);
    c.loadSeg(seg, sel);
    c.setReg(i.reg[0]!, size, off, offHi);
    if (seg === SS) c.svc.shadow(c, 2);
  };
}
def('LES', loadFar(ES));
def('LDS', loadFar(DS));
def('LSS', loadFar(SS));
def('LFS', loadFar(FS));
def('LGS', loadFar(GS));

// ---- stack ----------------------------------------------------------------------------------

def('PUSH', (c, i) => {
  const k = i.kind[0];
  if (k === K_SEG) {
    // A 32/64-bit push of a selector moves only 16 bits, the rest of the slot keeps its old
    // bytes (recent Intel cores and KVM's emulator alike).
    const sel = c.s.seg[i.reg[0]!]!.selector;
    const ss = c.stackSize();
    const sp = c.regNum(4, ss);
    const nsp = ss === 2 ? (sp - i.osz) & 0xffff : ss === 4 ? (sp - i.osz) >>> 0 : sp - i.osz;
    c.write(SS, nsp, 2, sel);
    c.setRegNum(4, ss, nsp);
    return;
  }
  const v = rd(c, i, 0);
  const hi = c.t1;
  if (k === K_IMM) {
    const size = i.osz;
    c.push(size, trunc(i.imm, size), size === 8 ? i.immHi : 0);
    return;
  }
  c.push(i.osz, v, hi);
});

def('POP', (c, i) => {
  if (i.kind[0] === K_SEG) {
    const ss = c.stackSize();
    const sp = c.regNum(4, ss);
    const sel = c.read(SS, sp, i.osz) & 0xffff;
    c.loadSeg(i.reg[0]!, sel);
    c.setRegNum(4, ss, ss === 2 ? (sp + i.osz) & 0xffff : ss === 4 ? (sp + i.osz) >>> 0 : sp + i.osz);
    if (i.reg[0] === SS) c.svc.shadow(c, 2);
    return;
  }
  // POP r/m computes a stack-relative address after incrementing RSP.
  const ss = c.stackSize();
  const sp = c.regNum(4, ss);
  const v = c.read(SS, sp, i.osz);
  const hi = c.t1;
  const nsp = ss === 2 ? (sp + i.osz) & 0xffff : ss === 4 ? (sp + i.osz) >>> 0 : sp + i.osz;
  if (i.kind[0] === K_REG) {
    c.setRegNum(4, ss, nsp);
    c.setReg(i.reg[0]!, i.osz, v, hi);
  } else {
    c.setRegNum(4, ss, nsp);
    try {
      wr(c, i, 0, v, hi);
    } catch (e) {
      c.setRegNum(4, ss, sp);
      throw e;
    }
  }
});

def('PUSHA', (c, i) => {
  const size = i.osz;
  const sp = c.getReg(4, size);
  for (const r of [0, 1, 2, 3]) c.push(size, c.getReg(r, size));
  c.push(size, sp);
  for (const r of [5, 6, 7]) c.push(size, c.getReg(r, size));
});

def('POPA', (c, i) => {
  const size = i.osz;
  for (const r of [7, 6, 5]) c.setReg(r, size, c.pop(size));
  c.pop(size); // skip SP
  for (const r of [3, 2, 1, 0]) c.setReg(r, size, c.pop(size));
});

def('PUSHF', (c, i) => {
  const s = c.s;
  if (s.rflags & FLAG.VM && ((s.rflags >>> 12) & 3) < 3) c.gp(0);
  // VM and RF are pushed as 0.
  c.push(i.osz, i.osz === 2 ? (c.getFlags() & ~(FLAG.VM | FLAG.RF)) & 0xffff : (c.getFlags() & ~(FLAG.VM | FLAG.RF)) | 0);
});

def('POPF', (c, i) => {
  const s = c.s;
  if (s.rflags & FLAG.VM && ((s.rflags >>> 12) & 3) < 3) c.gp(0);
  const v = c.pop(i.osz);
  const iopl = (s.rflags >>> 12) & 3;
  let mask = FLAG.CF | FLAG.PF | FLAG.AF | FLAG.ZF | FLAG.SF | FLAG.TF | FLAG.DF | FLAG.OF | FLAG.NT;
  if (i.osz >= 4) mask |= FLAG.AC | FLAG.ID;
  if (!c.pe || c.cpl === 0) mask |= FLAG.IOPL;
  if (!c.pe || c.cpl <= iopl) mask |= FLAG.IF;
  if (i.osz === 2) mask &= 0xffff;
  c.f.op = FOp.NONE;
  c.setFlags(v, mask);
  c.s.rflags &= ~FLAG.RF;
});

def('LAHF', (c) => {
  c.setReg(16, 1, c.getFlags() & 0xd5 | 2);
});

def('SAHF', (c) => {
  const ah = c.getReg(16, 1);
  c.setFlags(ah, FLAG.CF | FLAG.PF | FLAG.AF | FLAG.ZF | FLAG.SF);
});

def('ENTER', (c, i) => {
  const size = i.osz;
  const level = i.imm2 & 31;
  const ss = c.stackSize();
  c.push(size, c.getReg(5, size), size === 8 ? c.t1 : 0);
  const frame = c.regNum(4, ss);
  for (let k = 1; k < level; k++) {
    const bp = c.regNum(5, ss) - k * size;
    const v = c.read(SS, ss === 2 ? bp & 0xffff : ss === 4 ? bp >>> 0 : bp, size);
    c.push(size, v, c.t1);
  }
  if (level > 0) c.push(size, frame % 0x100000000 | 0, Math.floor(frame / 0x100000000));
  const nsp = frame - (level > 0 ? level * size : 0) - (i.imm & 0xffff);
  // Probe the final stack location (a fault leaves RBP and RSP unchanged only approximately here).
  c.setRegNum(5, size === 8 ? 8 : size, frame);
  c.setRegNum(4, ss, ss === 2 ? nsp & 0xffff : ss === 4 ? nsp >>> 0 : nsp);
});

def('LEAVE', (c, i) => {
  const ss = c.stackSize();
  c.setRegNum(4, ss, c.regNum(5, ss));
  const v = c.pop(i.osz);
  c.setReg(5, i.osz, v, c.t1);
});

// ---- control flow ---------------------------------------------------------------------------

/** Sets the branch target: truncated to the operand size, canonical-checked in 64-bit mode. */
function jumpTo(c: X86Cpu, target: number, osz: number): void {
  let t = target;
  if (osz === 2) t &= 0xffff;
  else if (osz === 4) t >>>= 0;
  if (c.long64 && !isCanonical(t)) c.gp(0);
  if (!c.long64 && c.pe && !(c.s.rflags & FLAG.VM) && t > c.s.seg[CS]!.limit) c.gp(0);
  c.next = t;
}

def('JCC', (c, i) => {
  if (c.cond(i.cond)) jumpTo(c, i.imm - c.csBase, i.osz);
});

def('JMP', (c, i) => {
  if (i.kind[0] === K_IMM) jumpTo(c, i.imm - c.csBase, i.osz);
  else {
    const v = rd(c, i, 0);
    jumpTo(c, i.osz === 8 ? c.t1 * 0x100000000 + (v >>> 0) : v >>> 0, i.osz);
  }
});

def('CALL', (c, i) => {
  let target: number;
  if (i.kind[0] === K_IMM) target = i.imm - c.csBase;
  else {
    const v = rd(c, i, 0);
    target = i.osz === 8 ? c.t1 * 0x100000000 + (v >>> 0) : v >>> 0;
  }
  const ret = c.next;
  jumpTo(c, target, i.osz);
  c.push(i.osz, ret % 0x100000000 | 0, Math.floor(ret / 0x100000000));
});

def('RET', (c, i) => {
  const v = c.pop(i.osz);
  const target = i.osz === 8 ? c.t1 * 0x100000000 + (v >>> 0) : v >>> 0;
  if (i.nops && i.kind[0] === K_IMM) {
    const ss = c.stackSize();
    const sp = c.regNum(4, ss) + (i.imm & 0xffff);
    c.setRegNum(4, ss, ss === 2 ? sp & 0xffff : ss === 4 ? sp >>> 0 : sp);
  }
  jumpTo(c, target, i.osz);
});

function loopInsn(kind: 'loop' | 'loope' | 'loopne' | 'jrcxz'): Handler {
  return (c, i) => {
    const asz = i.asz;
    let cnt = c.regNum(1, asz);
    if (kind !== 'jrcxz') {
      cnt = asz === 2 ? (cnt - 1) & 0xffff : asz === 4 ? (cnt - 1) >>> 0 : cnt - 1;
      c.setRegNum(1, asz, cnt === -1 ? -1 : cnt);
      if (asz === 8 && cnt === -1) c.setReg(1, 8, -1, -1);
    }
    const nz = asz === 8 ? (c.getReg(1, 8) | c.t1) !== 0 : cnt !== 0;
    let take: boolean;
    if (kind === 'jrcxz') take = !nz;
    else if (kind === 'loop') take = nz;
    else if (kind === 'loope') take = nz && c.cond(4);
    else take = nz && !c.cond(4);
    if (take) jumpTo(c, i.imm - c.csBase, i.osz);
  };
}
def('LOOP', loopInsn('loop'));
def('LOOPE', loopInsn('loope'));
def('LOOPNE', loopInsn('loopne'));
def('JRCXZ', loopInsn('jrcxz'));

def('JMPF', (c, i) => {
  let off: number;
  let sel: number;
  if (i.kind[0] === K_IMM) {
    off = i.imm;
    sel = i.imm2;
  } else {
    const a = ea(c, i);
    off = c.read(i.seg, a, i.osz === 8 ? 8 : i.osz);
    if (i.osz === 8) off = c.t1 * 0x100000000 + (off >>> 0);
    sel = c.read(i.seg, a + (i.osz === 8 ? 8 : i.osz), 2);
  }
  farTransfer(c, sel, off, i.osz, false);
});

def('CALLF', (c, i) => {
  let off: number;
  let sel: number;
  if (i.kind[0] === K_IMM) {
    off = i.imm;
    sel = i.imm2;
  } else {
    const a = ea(c, i);
    off = c.read(i.seg, a, i.osz === 8 ? 8 : i.osz);
    if (i.osz === 8) off = c.t1 * 0x100000000 + (off >>> 0);
    sel = c.read(i.seg, a + (i.osz === 8 ? 8 : i.osz), 2);
  }
  const oldCs = c.s.seg[CS]!.selector;
  const ret = c.next;
  farTransfer(c, sel, off, i.osz, true, oldCs, ret);
});

function farTransfer(c: X86Cpu, sel: number, off: number, osz: number, call: boolean, oldCs = 0, ret = 0): void {
  const s = c.s;
  const saved = { ...s.seg[CS]! };
  if (call) {
    // Push before loading CS so a stack fault leaves CS alone.
    c.push(osz, oldCs);
    c.push(osz, ret % 0x100000000 | 0, Math.floor(ret / 0x100000000));
  }
  try {
    c.loadCs(sel, c.pe && !(s.rflags & FLAG.VM) ? c.cpl : 0);
    const t = osz === 2 ? off & 0xffff : osz === 4 ? off >>> 0 : off;
    if (c.pe && !c.long64 && t > s.seg[CS]!.limit) c.gp(0);
    c.next = t;
  } catch (e) {
    s.seg[CS] = saved;
    c.updateMode();
    throw e;
  }
}

def('RETF', (c, i) => {
  const s = c.s;
  const osz = i.osz;
  const ss = c.stackSize();
  const sp0 = c.regNum(4, ss);
  const v = c.pop(osz);
  const off = osz === 8 ? c.t1 * 0x100000000 + (v >>> 0) : v >>> 0;
  const sel = c.pop(osz) & 0xffff;
  if (i.nops && i.kind[0] === K_IMM) {
    const sp = c.regNum(4, ss) + (i.imm & 0xffff);
    c.setRegNum(4, ss, ss === 2 ? sp & 0xffff : ss === 4 ? sp >>> 0 : sp);
  }
  const rpl = sel & 3;
  if (c.pe && !(s.rflags & FLAG.VM) && rpl > c.cpl) {
    // Return to an outer privilege level: pop SS:SP too.
    const nv = c.pop(osz);
    const nsp = osz === 8 ? c.t1 * 0x100000000 + (nv >>> 0) : nv >>> 0;
    const nss = c.pop(osz) & 0xffff;
    try {
      c.loadCs(sel, rpl);
      c.loadSeg(SS, nss);
    } catch (e) {
      c.setRegNum(4, ss, sp0);
      throw e;
    }
    c.setRegNum(4, c.stackSize(), nsp);
    c.invalidateSegsForCpl();
  } else {
    try {
      c.loadCs(sel, c.pe && !(s.rflags & FLAG.VM) ? c.cpl : 0);
    } catch (e) {
      c.setRegNum(4, ss, sp0);
      throw e;
    }
  }
  c.next = osz === 2 ? off & 0xffff : off;
});

def('IRET', (c, i) => iret(c, i.osz));

function iret(c: X86Cpu, osz: number): void {
  const s = c.s;
  if (!c.pe || s.rflags & FLAG.VM) {
    if (s.rflags & FLAG.VM && ((s.rflags >>> 12) & 3) < 3) c.gp(0);
    const ip = c.pop(osz);
    const cs = c.pop(osz) & 0xffff;
    const fl = c.pop(osz);
    c.loadRealSeg(CS, cs);
    c.next = osz === 2 ? ip & 0xffff : ip >>> 0;
    let mask = FLAG.CF | FLAG.PF | FLAG.AF | FLAG.ZF | FLAG.SF | FLAG.TF | FLAG.IF | FLAG.DF | FLAG.OF | FLAG.NT | FLAG.IOPL;
    if (osz === 4) mask |= FLAG.AC | FLAG.ID | FLAG.RF;
    if (s.rflags & FLAG.VM) mask &= ~FLAG.IOPL;
    c.f.op = FOp.NONE;
    c.setFlags(fl, mask);
    c.updateMode();
    return;
  }
  if (s.rflags & FLAG.NT && !c.long64) throw EMULATION_FAILURE; // task return
  const v = c.pop(osz);
  const ip = osz === 8 ? c.t1 * 0x100000000 + (v >>> 0) : v >>> 0;
  const cs = c.pop(osz) & 0xffff;
  const fl = c.pop(osz);
  const rpl = cs & 3;
  const oldCpl = c.cpl;
  if (rpl < oldCpl) c.gp(cs & 0xfffc);
  const returnToV86 = !c.long64 && osz === 4 && fl & FLAG.VM && oldCpl === 0;
  if (returnToV86) throw EMULATION_FAILURE;
  let newSp = -1;
  let newSs = -1;
  if (c.long64 || rpl > oldCpl) {
    const sv = c.pop(osz);
    newSp = osz === 8 ? c.t1 * 0x100000000 + (sv >>> 0) : sv >>> 0;
    newSs = c.pop(osz) & 0xffff;
  }
  c.loadCs(cs, rpl);
  let mask = FLAG.CF | FLAG.PF | FLAG.AF | FLAG.ZF | FLAG.SF | FLAG.TF | FLAG.DF | FLAG.OF | FLAG.NT | FLAG.RF | FLAG.AC | FLAG.ID;
  if (oldCpl <= ((s.rflags >>> 12) & 3)) mask |= FLAG.IF;
  if (oldCpl === 0) mask |= FLAG.IOPL | FLAG.VIF | FLAG.VIP;
  if (osz === 2) mask &= 0xffff;
  c.f.op = FOp.NONE;
  c.setFlags(fl, mask);
  if (newSs >= 0) {
    if ((newSs & ~3) === 0 && c.long64 && rpl !== 3) {
      const sg = s.seg[SS]!;
      sg.selector = newSs;
      sg.unusable = 1;
      sg.dpl = rpl;
    } else c.loadSeg(SS, newSs);
    c.setRegNum(4, c.long64 ? 8 : s.seg[SS]!.db ? 4 : 2, newSp);
  }
  c.updateMode();
  if (c.cpl !== oldCpl) c.invalidateSegsForCpl();
  c.next = osz === 2 ? ip & 0xffff : ip;
}

// ---- interrupts -----------------------------------------------------------------------------

/** A software interrupt: delivered at the next instruction boundary with `next` as return address. */
export const SOFT_INT = { vector: -1 };

function softInt(c: X86Cpu, vec: number): void {
  const s = c.s;
  if (c.pe && s.rflags & FLAG.VM && ((s.rflags >>> 12) & 3) < 3) c.gp(0);
  c.softVector = vec;
}

def('INT', (c, i) => softInt(c, i.imm & 0xff));
def('INT3', (c) => softInt(c, VEC.BP));
def('INTO', (c) => {
  if (c.cond(0)) softInt(c, VEC.OF);
});
def('INT1', (c) => {
  c.icebp = true;
});

def('HLT', (c) => {
  if (c.cpl !== 0) c.gp(0);
  c.svc.hlt(c);
});

def('NOP', () => {});
def('PAUSE', () => {});
def('FWAIT', (c) => {
  if ((c.s.cr0 & (CR0.MP | CR0.TS)) === (CR0.MP | CR0.TS)) c.raise(VEC.NM);
});

def('CLC', (c) => c.setFlags(0, FLAG.CF));
def('STC', (c) => c.setFlags(FLAG.CF, FLAG.CF));
def('CMC', (c) => c.setFlags(c.getFlags() ^ FLAG.CF, FLAG.CF));
def('CLD', (c) => c.setFlags(0, FLAG.DF));
def('STD', (c) => c.setFlags(FLAG.DF, FLAG.DF));
def('CLI', (c) => {
  const s = c.s;
  if (c.pe && c.cpl > ((s.rflags >>> 12) & 3)) c.gp(0);
  s.rflags &= ~FLAG.IF;
});
def('STI', (c) => {
  const s = c.s;
  if (c.pe && c.cpl > ((s.rflags >>> 12) & 3)) c.gp(0);
  if (!(s.rflags & FLAG.IF)) c.svc.shadow(c, 1);
  s.rflags |= FLAG.IF;
});

// ---- string instructions --------------------------------------------------------------------

/** Runs one iteration of a string op per call; REP loops are driven by `repString`. */
function strStep(c: X86Cpu, i: Insn, op: string): void {
  const size = i.size[0] === 0 ? i.size[1]! : op === 'LODS' ? i.size[1]! : i.size[0]!;
  const asz = i.asz;
  const delta = c.s.rflags & FLAG.DF ? -size : size;
  const si = c.regNum(6, asz);
  const di = c.regNum(7, asz);
  const adv = (v: number) => (asz === 2 ? (v + delta) & 0xffff : asz === 4 ? (v + delta) >>> 0 : v + delta);
  switch (op) {
    case 'MOVS': {
      const v = c.read(i.seg, si, size);
      c.write(ES, di, size, v, c.t1);
      c.setRegNum(6, asz, adv(si));
      c.setRegNum(7, asz, adv(di));
      return;
    }
    case 'STOS': {
      const v = c.getReg(0, size);
      c.write(ES, di, size, v, c.t1);
      c.setRegNum(7, asz, adv(di));
      return;
    }
    case 'LODS': {
      const v = c.read(i.seg, si, size);
      c.setReg(0, size, v, c.t1);
      c.setRegNum(6, asz, adv(si));
      return;
    }
    case 'CMPS': {
      const a = c.read(i.seg, si, size);
      const ah = c.t1;
      const b = c.read(ES, di, size);
      const bh = c.t1;
      alu(c, Alu.CMP, size, size === 4 ? a | 0 : a, size === 8 ? ah : 0, size === 4 ? b | 0 : b, size === 8 ? bh : 0);
      c.setRegNum(6, asz, adv(si));
      c.setRegNum(7, asz, adv(di));
      return;
    }
    default: {
      // SCAS
      const a = c.getReg(0, size);
      const ah = c.t1;
      const b = c.read(ES, di, size);
      alu(c, Alu.CMP, size, size === 4 ? a | 0 : a, size === 8 ? ah : 0, size === 4 ? b | 0 : b, size === 8 ? c.t1 : 0);
      c.setRegNum(7, asz, adv(di));
    }
  }
}

/** Iterations a REP string op may run before the run loop checks for exits and interrupts. */
export const REP_CHUNK = 4096;

function stringInsn(op: string): Handler {
  const cond = op === 'CMPS' || op === 'SCAS';
  return (c, i) => {
    if (!i.rep) return strStep(c, i, op);
    const asz = i.asz;
    // Under single step (TF or the host's) or watched breakpoints, each iteration is a step.
    const one = c.repOne || (c.s.rflags & FLAG.TF) !== 0;
    let n = one ? 1 : REP_CHUNK;
    while (n-- > 0) {
      const cnt = c.regNum(1, asz);
      if (cnt === 0 && (asz !== 8 || c.t1 === 0)) return;
      strStep(c, i, op);
      const left = asz === 8 ? cnt - 1 : asz === 4 ? (cnt - 1) >>> 0 : (cnt - 1) & 0xffff;
      c.setRegNum(1, asz, left);
      if (cond) {
        const zf = c.cond(4);
        if ((i.rep === 0xf3 && !zf) || (i.rep === 0xf2 && zf)) return;
      }
      if (left === 0) return;
    }
    // Not finished: re-execute this instruction (RIP stays), as an interruptible REP does; a trap
    // taken between iterations sees RF set (KVM's emulator), so the restart skips code breakpoints.
    c.next = c.s.rip;
    if (one) c.s.rflags |= FLAG.RF;
  };
}
def('MOVS', stringInsn('MOVS'));
def('STOS', stringInsn('STOS'));
def('LODS', stringInsn('LODS'));
def('CMPS', stringInsn('CMPS'));
def('SCAS', stringInsn('SCAS'));

// ---- port I/O -------------------------------------------------------------------------------

/** Protection check for IN/OUT/INS/OUTS: IOPL, then the TSS I/O permission bitmap. */
function ioAllowed(c: X86Cpu, port: number, size: number): void {
  const s = c.s;
  if (!c.pe) return;
  if (!(s.rflags & FLAG.VM) && c.cpl <= ((s.rflags >>> 12) & 3)) return;
  const tr = s.seg[TR]!;
  if (tr.limit < 0x67 || !(tr.type === 9 || tr.type === 11)) c.gp(0);
  const base = c.readLin(c.wrapLin(tr.base + 0x66), 2, true);
  const byte = base + (port >> 3);
  if (byte + 1 > tr.limit) c.gp(0);
  const bits = c.readLin(c.wrapLin(tr.base + byte), 2, true);
  if ((bits >> (port & 7)) & ((1 << size) - 1)) c.gp(0);
}

const ioBuf = new Uint8Array(8);

def('IN', (c, i) => {
  const port = i.kind[1] === K_IMM ? i.imm & 0xff : c.getReg(2, 2);
  const size = i.size[0]!;
  ioAllowed(c, port, size);
  c.svc.io(c, i, port, size, 1, false, ioBuf);
});

def('OUT', (c, i) => {
  const port = i.kind[0] === K_IMM ? i.imm & 0xff : c.getReg(2, 2);
  const size = i.size[1]!;
  ioAllowed(c, port, size);
  const v = c.getReg(0, size);
  for (let k = 0; k < size; k++) ioBuf[k] = (v >>> (8 * k)) & 0xff;
  c.svc.io(c, i, port, size, 1, true, ioBuf);
});

def('INS', (c, i) => {
  const port = c.getReg(2, 2);
  const size = i.size[0]!;
  ioAllowed(c, port, size);
  if (i.rep && c.regNum(1, i.asz) === 0) return;
  c.svc.io(c, i, port, size, -1, false, ioBuf);
});

def('OUTS', (c, i) => {
  const port = c.getReg(2, 2);
  const size = i.size[1]!;
  ioAllowed(c, port, size);
  if (i.rep && c.regNum(1, i.asz) === 0) return;
  c.svc.io(c, i, port, size, -1, true, ioBuf);
});

// ---- BCD and legacy -------------------------------------------------------------------------

def('DAA', (c) => bcd(c, 'daa'));
def('DAS', (c) => bcd(c, 'das'));
def('AAA', (c) => bcd(c, 'aaa'));
def('AAS', (c) => bcd(c, 'aas'));

function bcd(c: X86Cpu, op: 'daa' | 'das' | 'aaa' | 'aas'): void {
  const fl = c.getFlags();
  let al = c.getReg(0, 1);
  const cf = (fl & FLAG.CF) !== 0;
  const af = (fl & FLAG.AF) !== 0;
  let ncf = false;
  let naf = false;
  if (op === 'daa' || op === 'das') {
    const old = al;
    if ((al & 0xf) > 9 || af) {
      al = op === 'daa' ? al + 6 : al - 6;
      naf = true;
    }
    if (old > 0x99 || cf) {
      al = op === 'daa' ? al + 0x60 : al - 0x60;
      ncf = true;
    }
    al &= 0xff;
    c.setReg(0, 1, al);
    c.f.set(FOp.EAGER_CO, 1, 0, 0, 0, 0, al, 0);
    c.f.cin = ncf ? 1 : 0;
    c.f.ofv = 0;
    c.f.afv = naf ? 1 : 0;
    return;
  }
  let ax = c.getReg(0, 2);
  if ((al & 0xf) > 9 || af) {
    ax = op === 'aaa' ? ax + 0x106 : ((ax - 6) & 0xff) | ((((ax >> 8) - 1) & 0xff) << 8);
    naf = ncf = true;
  }
  ax = (ax & 0xff0f) & 0xffff;
  c.setReg(0, 2, ax);
  c.f.set(FOp.EAGER_CO, 1, 0, 0, 0, 0, ax & 0xff, 0);
  c.f.cin = ncf ? 1 : 0;
  c.f.ofv = 0;
  c.f.afv = naf ? 1 : 0;
}

def('AAM', (c, i) => {
  const base = i.imm & 0xff;
  if (base === 0) c.raise(VEC.DE);
  const al = c.getReg(0, 1);
  const r = al % base;
  c.setReg(0, 2, (Math.floor(al / base) << 8) | r);
  c.f.set(FOp.LOGIC, 1, 0, 0, 0, 0, r, 0);
});

def('AAD', (c, i) => {
  const base = i.imm & 0xff;
  const ax = c.getReg(0, 2);
  const r = ((ax & 0xff) + (ax >> 8) * base) & 0xff;
  c.setReg(0, 2, r);
  c.f.set(FOp.LOGIC, 1, 0, 0, 0, 0, r, 0);
});

def('BOUND', (c, i) => {
  const size = i.osz;
  const a = ea(c, i);
  const lo = sx(c.read(i.seg, a, size), size);
  const hi = sx(c.read(i.seg, a + size, size), size);
  const v = sx(c.getReg(i.reg[0]!, size), size);
  if (v < lo || v > hi) c.raise(VEC.BR);
});

def('ARPL', (c, i) => {
  if (!c.pe || c.s.rflags & FLAG.VM) c.ud();
  const lin = rmwAddr(c, i);
  const d = rdAt(c, i, lin) & 0xffff;
  const src = c.getReg(i.reg[1]!, 2);
  if ((d & 3) < (src & 3)) {
    wrAt(c, i, lin, (d & ~3) | (src & 3), 0);
    c.setFlags(FLAG.ZF, FLAG.ZF);
  } else c.setFlags(0, FLAG.ZF);
});

// ---- system instructions --------------------------------------------------------------------

function cpl0(c: X86Cpu): void {
  if (c.cpl !== 0) c.gp(0);
}

function movCr(c: X86Cpu, i: Insn): void {
  cpl0(c);
  const s = c.s;
  if (i.kind[1] === 5) {
    // MOV reg, CRn
    const n = i.reg[1]!;
    let v: bigint;
    switch (n) {
      case 0: v = BigInt(s.cr0 >>> 0); break;
      case 2: v = s.cr2; break;
      case 3: v = s.cr3; break;
      case 4: v = BigInt(s.cr4 >>> 0); break;
      case 8: v = BigInt(s.cr8); break;
      default: return c.ud();
    }
    if (!c.long64) v &= 0xffffffffn;
    c.setReg(i.reg[0]!, c.long64 ? 8 : 4, Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0);
    return;
  }
  const n = i.reg[0]!;
  const lo = c.getReg(i.reg[1]!, c.long64 ? 8 : 4);
  const hi = c.long64 ? c.t1 : 0;
  const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  switch (n) {
    case 0: {
      if (v >> 32n) c.gp(0);
      let cr0 = Number(v) >>> 0;
      cr0 |= CR0.ET;
      if (cr0 & CR0.PG && !(cr0 & CR0.PE)) c.gp(0);
      if (cr0 & CR0.NW && !(cr0 & CR0.CD)) c.gp(0);
      if (c.kvmi !== null) cr0 = Number(c.kvmi.cr(0, BigInt(s.cr0 >>> 0), BigInt(cr0))) >>> 0; // [kvmi hook] KVMI_VCPU_EVENT_CR
      // Enabling paging with EFER.LME requires PAE and activates long mode.
      if (cr0 & CR0.PG && !(s.cr0 & CR0.PG) && s.efer & EFER.LME) {
        if (!(s.cr4 & CR4.PAE)) c.gp(0);
        if (s.seg[CS]!.l) c.gp(0);
        s.efer |= EFER.LMA;
      }
      if (!(cr0 & CR0.PG) && s.cr0 & CR0.PG && s.efer & EFER.LMA) {
        if (c.long64) c.gp(0);
        s.efer &= ~EFER.LMA;
      }
      s.cr0 = cr0;
      c.svc.paging(c);
      return;
    }
    case 2:
      s.cr2 = v;
      return;
    case 3:
      if (c.long64 && v >> 52n) c.gp(0);
      s.cr3 = c.kvmi !== null ? c.kvmi.cr(3, s.cr3, c.long64 ? v : v & 0xffffffffn) : c.long64 ? v : v & 0xffffffffn; // [kvmi hook]
      c.svc.paging(c);
      return;
    case 4: {
      const allowed = CR4.VME | CR4.PVI | CR4.TSD | CR4.DE | CR4.PSE | CR4.PAE | CR4.MCE | CR4.PGE | CR4.PCE | CR4.OSFXSR | CR4.OSXMMEXCPT | CR4.OSXSAVE | CR4.FSGSBASE;
      if (v & ~BigInt(allowed)) c.gp(0);
      const cr4 = c.kvmi !== null ? Number(c.kvmi.cr(4, BigInt(s.cr4 >>> 0), v)) : Number(v); // [kvmi hook]
      if (s.efer & EFER.LMA && !(cr4 & CR4.PAE)) c.gp(0);
      s.cr4 = cr4;
      c.svc.paging(c);
      return;
    }
    case 8:
      if (v >> 4n) c.gp(0);
      s.cr8 = Number(v);
      return;
    default:
      c.ud();
  }
}

function movDr(c: X86Cpu, i: Insn): void {
  cpl0(c);
  const s = c.s;
  c.svc.drAccess(c, i);
  const toDr = i.kind[0] === 6;
  let n = toDr ? i.reg[0]! : i.reg[1]!;
  if (n === 4 || n === 5) {
    if (s.cr4 & CR4.DE) c.ud();
    n += 2;
  }
  if (n > 7) c.ud();
  if (toDr) {
    const lo = c.getReg(i.reg[1]!, c.long64 ? 8 : 4);
    const hi = c.long64 ? c.t1 : 0;
    const v = (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
    if (n < 4) s.db[n] = v;
    else if (n === 6) {
      if (v >> 32n) c.gp(0);
      s.dr6 = (v | 0xffff0ff0n) & 0xffffefffn | 0xffff0ff0n;
    } else {
      if (v >> 32n) c.gp(0);
      s.dr7 = (v & ~0x2000n | 0x400n) & 0xffffffffn;
    }
    c.svc.debugRegs(c);
  } else {
    const v = n < 4 ? s.db[n]! : n === 6 ? s.dr6 : s.dr7;
    c.setReg(i.reg[0]!, c.long64 ? 8 : 4, Number(v & 0xffffffffn) | 0, Number((v >> 32n) & 0xffffffffn) | 0);
  }
}

function descTable(load: boolean, idt: boolean): Handler {
  return (c, i) => {
    if (load) cpl0(c);
    if (c.kvmi !== null) c.kvmi.descriptor(idt ? 1 : 2, load); // [kvmi hook] KVMI_VCPU_EVENT_DESCRIPTOR (IDTR/GDTR)
    const s = c.s;
    const a = ea(c, i);
    const tbl = idt ? 'idt' : 'gdt';
    if (load) {
      const limit = c.read(i.seg, a, 2);
      let base: number;
      if (c.long64) {
        const lo = c.read(i.seg, a + 2, 8);
        base = c.t1 * 0x100000000 + (lo >>> 0);
        if (!isCanonical(base)) c.gp(0);
      } else {
        base = c.read(i.seg, i.asz === 2 ? (a + 2) & 0xffff : a + 2, 4) >>> 0;
        if (i.osz === 2) base &= 0xffffff;
      }
      s[tbl] = { base, baseRaw: BigInt.asUintN(64, BigInt(base)), limit };
    } else {
      if (s.cr4 & CR4.UMIP && c.cpl > 0) c.gp(0);
      const t = s[tbl];
      c.write(i.seg, a, 2, t.limit);
      if (c.long64) c.write(i.seg, a + 2, 8, Number(t.baseRaw & 0xffffffffn) | 0, Number(t.baseRaw >> 32n) | 0);
      else c.write(i.seg, a + 2, 4, Number(t.baseRaw & 0xffffffffn) | 0);
    }
  };
}
def('LGDT', descTable(true, false));
def('LIDT', descTable(true, true));
def('SGDT', descTable(false, false));
def('SIDT', descTable(false, true));

def('LLDT', (c, i) => {
  if (!c.pe || c.s.rflags & FLAG.VM) c.ud();
  cpl0(c);
  if (c.kvmi !== null) c.kvmi.descriptor(3, true); // [kvmi hook]
  const sel = rd(c, i, 0) & 0xffff;
  const s = c.s;
  const l = s.seg[LDTR]!;
  if ((sel & ~3) === 0) {
    l.selector = sel;
    l.unusable = 1;
    return;
  }
  if (sel & 4) c.gp(sel & 0xfffc);
  const { lo, hi } = c.readDescriptor(sel);
  if ((hi >>> 12) & 1 || ((hi >>> 8) & 15) !== 2) c.gp(sel & 0xfffc);
  if (!((hi >>> 15) & 1)) c.raise(VEC.NP, sel & 0xfffc);
  const X86CpuCls = c.constructor as unknown as { fromDescriptor: (sg: typeof l, sel: number, lo: number, hi: number) => void };
  X86CpuCls.fromDescriptor(l, sel, lo, hi);
  if (c.long64) {
    const up = c.readDescriptorHigh(sel);
    l.base = up * 0x100000000 + l.base;
    l.baseRaw = BigInt.asUintN(64, BigInt(l.base));
  }
});

def('LTR', (c, i) => {
  if (!c.pe || c.s.rflags & FLAG.VM) c.ud();
  cpl0(c);
  if (c.kvmi !== null) c.kvmi.descriptor(4, true); // [kvmi hook]
  const sel = rd(c, i, 0) & 0xffff;
  const s = c.s;
  if ((sel & ~3) === 0 || sel & 4) c.gp(sel & 0xfffc);
  const { lo, hi } = c.readDescriptor(sel);
  const type = (hi >>> 8) & 15;
  if ((hi >>> 12) & 1 || (type !== 1 && type !== 9)) c.gp(sel & 0xfffc);
  if (!((hi >>> 15) & 1)) c.raise(VEC.NP, sel & 0xfffc);
  const t = s.seg[TR]!;
  const X86CpuCls = c.constructor as unknown as { fromDescriptor: (sg: typeof t, sel: number, lo: number, hi: number) => void };
  X86CpuCls.fromDescriptor(t, sel, lo, hi | 0x200);
  if (c.long64) {
    const up = c.readDescriptorHigh(sel);
    t.base = up * 0x100000000 + t.base;
    t.baseRaw = BigInt.asUintN(64, BigInt(t.base));
  }
  // Mark the TSS busy in the GDT.
  c.writeLin(c.wrapLin(s.gdt.base + (sel & ~7) + 4), 4, hi | 0x200, 0, true);
});

def('SLDT', (c, i) => {
  if (!c.pe || c.s.rflags & FLAG.VM) c.ud();
  if (c.kvmi !== null) c.kvmi.descriptor(3, false); // [kvmi hook]
  wr(c, i, 0, c.s.seg[LDTR]!.selector);
});
def('STR', (c, i) => {
  if (!c.pe || c.s.rflags & FLAG.VM) c.ud();
  if (c.kvmi !== null) c.kvmi.descriptor(4, false); // [kvmi hook]
  wr(c, i, 0, c.s.seg[TR]!.selector);
});
def('SMSW', (c, i) => {
  const v = c.s.cr0;
  if (i.kind[0] === K_REG) c.setReg(i.reg[0]!, i.osz, i.osz === 2 ? v & 0xffff : v | 0);
  else c.write(i.seg, ea(c, i), 2, v & 0xffff);
});
def('LMSW', (c, i) => {
  cpl0(c);
  const v = rd(c, i, 0) & 0xf;
  const s = c.s;
  // LMSW can set PE but not clear it.
  const cr0 = ((s.cr0 & ~0xe) | (v & 0xe) | (s.cr0 & 1) | (v & 1)) >>> 0;
  s.cr0 = c.kvmi !== null ? Number(c.kvmi.cr(0, BigInt(s.cr0 >>> 0), BigInt(cr0))) >>> 0 : cr0; // [kvmi hook] (kvm_lmsw -> kvm_set_cr0)
  c.svc.paging(c);
});
def('CLTS', (c) => {
  cpl0(c);
  c.s.cr0 &= ~CR0.TS;
});
def('INVLPG', (c, i) => {
  cpl0(c);
  const a = ea(c, i);
  c.flushTlbPage(c.long64 ? (i.seg === FS || i.seg === GS ? c.s.seg[i.seg]!.base + a : a) : (c.s.seg[i.seg]!.base + a) >>> 0);
});
def('INVD', cpl0);
def('WBINVD', cpl0);

function verRw(write: boolean): Handler {
  return (c, i) => {
    if (!c.pe || c.s.rflags & FLAG.VM) c.ud();
    const sel = rd(c, i, 0) & 0xffff;
    let ok = false;
    if (sel & ~3) {
      try {
        const { hi } = c.readDescriptor(sel);
        const type = (hi >>> 8) & 15;
        const dpl = (hi >>> 13) & 3;
        const code = (type & 8) !== 0;
        const conforming = code && (type & 4) !== 0;
        const privOk = conforming || (dpl >= c.cpl && dpl >= (sel & 3));
        ok = ((hi >>> 12) & 1) === 1 && privOk && (write ? !code && (type & 2) !== 0 : !code || (type & 2) !== 0);
      } catch {
        ok = false;
      }
    }
    c.setFlags(ok ? FLAG.ZF : 0, FLAG.ZF);
  };
}
def('VERR', verRw(false));
def('VERW', verRw(true));

function larLsl(lsl: boolean): Handler {
  return (c, i) => {
    if (!c.pe || c.s.rflags & FLAG.VM) c.ud();
    const sel = rd(c, i, 1) & 0xffff;
    let ok = false;
    let lo = 0;
    let hi = 0;
    if (sel & ~3) {
      try {
        ({ lo, hi } = c.readDescriptor(sel));
        const type = (hi >>> 8) & 15;
        const sBit = (hi >>> 12) & 1;
        const dpl = (hi >>> 13) & 3;
        const conforming = sBit && (type & 0xc) === 0xc;
        const validSys = lsl ? [1, 2, 3, 9, 11].includes(type) : [1, 2, 3, 4, 5, 9, 11, 12].includes(type);
        ok = (sBit === 1 || (!c.long64 ? validSys : [2, 9, 11, 12].includes(type) && !lsl) || (lsl && [2, 9, 11].includes(type))) && (conforming || (dpl >= c.cpl && dpl >= (sel & 3)));
      } catch {
        ok = false;
      }
    }
    if (ok) {
      let v: number;
      if (lsl) {
        let limit = (lo & 0xffff) | (hi & 0xf0000);
        if (hi & 0x800000) limit = ((limit << 12) | 0xfff) >>> 0;
        v = limit;
      } else v = hi & 0x00ffff00;
      c.setReg(i.reg[0]!, i.osz, i.osz === 2 ? v & 0xffff : v);
    }
    c.setFlags(ok ? FLAG.ZF : 0, FLAG.ZF);
  };
}
def('LAR', larLsl(false));
def('LSL', larLsl(true));

const cpuidOut = new Int32Array(4);
def('CPUID', (c) => {
  c.svc.cpuid(c.getReg(0, 4), c.getReg(1, 4), cpuidOut);
  c.setReg(0, 4, cpuidOut[0]!);
  c.setReg(3, 4, cpuidOut[1]!);
  c.setReg(1, 4, cpuidOut[2]!);
  c.setReg(2, 4, cpuidOut[3]!);
});

def('RDMSR', (c) => {
  cpl0(c);
  const idx = c.getReg(1, 4);
  const v = c.svc.rdmsr(c, idx);
  if (v === undefined) return c.gp(0);
  c.setReg(0, 4, Number(v & 0xffffffffn) | 0);
  c.setReg(2, 4, Number((v >> 32n) & 0xffffffffn) | 0);
});

def('WRMSR', (c) => {
  cpl0(c);
  const idx = c.getReg(1, 4);
  const v = (BigInt(c.getReg(2, 4)) << 32n) | BigInt(c.getReg(0, 4));
  if (!c.svc.wrmsr(c, idx, v)) c.gp(0);
});

def('RDTSC', (c) => {
  if (c.s.cr4 & CR4.TSD && c.cpl !== 0) c.gp(0);
  const t = c.svc.rdtsc();
  c.setReg(0, 4, Number(t & 0xffffffffn) | 0);
  c.setReg(2, 4, Number((t >> 32n) & 0xffffffffn) | 0);
});

def('RDTSCP', (c) => {
  if (c.s.cr4 & CR4.TSD && c.cpl !== 0) c.gp(0);
  const t = c.svc.rdtsc();
  c.setReg(0, 4, Number(t & 0xffffffffn) | 0);
  c.setReg(2, 4, Number((t >> 32n) & 0xffffffffn) | 0);
  c.setReg(1, 4, Number(c.s.msrs.get(0xc0000103) ?? 0n) | 0);
});

def('RDPMC', (c) => c.gp(0));

def('SYSCALL', (c, i) => {
  const s = c.s;
  if (!(s.efer & EFER.SCE) || !(s.efer & EFER.LMA)) c.ud();
  const star = s.msrs.get(0xc0000081) ?? 0n;
  const lstar = s.msrs.get(0xc0000082) ?? 0n;
  const fmask = Number((s.msrs.get(0xc0000084) ?? 0n) & 0xffffffffn);
  const ret = c.next;
  c.setRegNum(1, 8, ret);
  const fl = c.getFlags();
  c.setReg(11, 8, (fl & ~FLAG.RF) | 0, 0);
  const sel = Number((star >> 32n) & 0xfffcn);
  const cs = s.seg[CS]!;
  Object.assign(cs, { selector: sel, base: 0, baseRaw: 0n, limit: 0xffffffff, type: 11, s: 1, dpl: 0, present: 1, l: c.long64 ? 1 : 0, db: c.long64 ? 0 : 1, g: 1, unusable: 0 });
  const ss = s.seg[SS]!;
  Object.assign(ss, { selector: sel + 8, base: 0, baseRaw: 0n, limit: 0xffffffff, type: 3, s: 1, dpl: 0, present: 1, l: 0, db: 1, g: 1, unusable: 0 });
  s.rflags = ((fl & ~fmask) & ~FLAG.RF) >>> 0 | FLAG.FIXED1;
  c.updateMode();
  c.next = c.long64 ? Number(BigInt.asIntN(64, lstar)) : Number(s.msrs.get(0xc0000083) ?? 0n) >>> 0;
  void i;
});

def('SYSRET', (c, i) => {
  const s = c.s;
  if (!(s.efer & EFER.SCE) || !(s.efer & EFER.LMA)) c.ud();
  if (c.cpl !== 0) c.gp(0);
  const star = s.msrs.get(0xc0000081) ?? 0n;
  const base = Number((star >> 48n) & 0xffffn);
  const to64 = i.osz === 8;
  const rip = to64 ? c.regNum(1, 8) : c.getReg(1, 4);
  if (to64 && !isCanonical(rip)) c.gp(0);
  const cs = s.seg[CS]!;
  Object.assign(cs, { selector: (to64 ? base + 16 : base) | 3, base: 0, baseRaw: 0n, limit: 0xffffffff, type: 11, s: 1, dpl: 3, present: 1, l: to64 ? 1 : 0, db: to64 ? 0 : 1, g: 1, unusable: 0 });
  const ss = s.seg[SS]!;
  // SS.DPL = 3; the selector's other attributes stay as they were (hidden state), as on Intel.
  Object.assign(ss, { selector: (base + 8) | 3, dpl: 3, type: 3, s: 1, present: 1, unusable: 0, db: 1, base: 0, baseRaw: 0n, limit: 0xffffffff, g: 1 });
  c.f.op = FOp.NONE;
  s.rflags = ((c.getReg(11, 4) & 0x3c7fd7) | FLAG.FIXED1) >>> 0;
  c.updateMode();
  c.next = rip;
});

def('SYSENTER', () => {
  throw EMULATION_FAILURE;
});
def('SYSEXIT', () => {
  throw EMULATION_FAILURE;
});

def('SWAPGS', (c) => {
  cpl0(c);
  const s = c.s;
  const gs = s.seg[GS]!;
  const k = s.msrs.get(0xc0000102) ?? 0n;
  s.msrs.set(0xc0000102, gs.baseRaw);
  gs.baseRaw = k;
  gs.base = Number(BigInt.asIntN(64, k));
});

def('VMCALL', (c, i) => c.svc.hypercall(c, i));
def('VMMCALL', (c, i) => c.svc.hypercall(c, i));
def('TDCALL', (c, i) => c.svc.tdcall(c, i)); // [tdx hook]

def('XGETBV', (c) => {
  if (!(c.s.cr4 & CR4.OSXSAVE)) c.ud();
  if (c.getReg(1, 4) !== 0) c.gp(0);
  const v = c.s.xcr0;
  c.setReg(0, 4, Number(v & 0xffffffffn) | 0);
  c.setReg(2, 4, Number(v >> 32n) | 0);
});

def('XSETBV', (c) => {
  if (!(c.s.cr4 & CR4.OSXSAVE)) c.ud();
  cpl0(c);
  const v = (BigInt(c.getReg(2, 4)) << 32n) | BigInt(c.getReg(0, 4));
  // x87 must stay enabled; only x87 and SSE state exist here.
  if (c.getReg(1, 4) !== 0 || !(v & 1n) || v & ~3n) c.gp(0);
  if (c.kvmi !== null) c.kvmi.xsetbv(0, c.s.xcr0, v); // [kvmi hook] KVMI_VCPU_EVENT_XSETBV
  c.s.xcr0 = v;
});

def('MONITOR', (c) => c.ud());
def('MWAIT', (c) => c.ud());
def('CLAC', (c) => c.ud());
def('STAC', (c) => c.ud());
def('UD0', (c) => c.ud());
def('UD1', (c) => c.ud());
def('UD2', (c) => c.ud());
def('LFENCE', () => {});
def('MFENCE', () => {});
def('SFENCE', () => {});
def('CLFLUSH', (c, i) => {
  c.read(i.seg, ea(c, i), 1);
});

// ---- SSE moves ------------------------------------------------------------------------------

function sseOk(c: X86Cpu): void {
  const s = c.s;
  if (s.cr0 & CR0.EM || !(s.cr4 & CR4.OSFXSR)) c.ud();
  if (s.cr0 & CR0.TS) c.raise(VEC.NM);
}

/** XMM register n as four int32 lanes in the FXSAVE image (offset 160 + 16n). */
function xmmOff(n: number): number {
  return 160 + 16 * n;
}

const fxDv = new WeakMap<Uint8Array, DataView>();
function fx(c: X86Cpu): DataView {
  let dv = fxDv.get(c.s.fx);
  if (!dv) fxDv.set(c.s.fx, (dv = new DataView(c.s.fx.buffer, c.s.fx.byteOffset, 512)));
  return dv;
}

/** Moves `bytes` (4, 8 or 16) between operands 0 and 1; `zeroUpper` clears the rest of an XMM destination. */
function sseMove(bytes: number, aligned: boolean, zeroUpperFromMem: boolean): Handler {
  return (c, i) => {
    sseOk(c);
    const dv = fx(c);
    const tmp = [0, 0, 0, 0];
    const n = bytes / 4;
    // Source
    if (i.kind[1] === K_XMM) {
      const o = xmmOff(i.reg[1]!);
      for (let k = 0; k < n; k++) tmp[k] = dv.getInt32(o + 4 * k, true);
    } else if (i.kind[1] === K_MEM) {
      const a = ea(c, i);
      if (aligned && bytes === 16 && a % 16) c.gp(0);
      const lin = c.linear(i.seg, a, bytes, false);
      for (let k = 0; k < n; k += 2) {
        if (n - k >= 2) {
          tmp[k] = c.readLin(lin + 4 * k, 8);
          tmp[k + 1] = c.t1;
        } else tmp[k] = c.readLin(lin + 4 * k, 4) | 0;
      }
    } else {
      // GPR source (MOVD/MOVQ xmm, r)
      tmp[0] = c.getReg(i.reg[1]!, i.size[1]!) | 0;
      tmp[1] = i.size[1] === 8 ? c.t1 : 0;
    }
    // Destination
    if (i.kind[0] === K_XMM) {
      const o = xmmOff(i.reg[0]!);
      const fromMem = i.kind[1] !== K_XMM;
      for (let k = 0; k < 4; k++) {
        if (k < n) dv.setInt32(o + 4 * k, tmp[k]!, true);
        else if (fromMem && zeroUpperFromMem) dv.setInt32(o + 4 * k, 0, true);
      }
    } else if (i.kind[0] === K_MEM) {
      const a = ea(c, i);
      if (aligned && bytes === 16 && a % 16) c.gp(0);
      const lin = c.linear(i.seg, a, bytes, true);
      for (let k = 0; k < n; k += 2) {
        if (n - k >= 2) c.writeLin(lin + 4 * k, 8, tmp[k]!, tmp[k + 1]!);
        else c.writeLin(lin + 4 * k, 4, tmp[k]!);
      }
    } else c.setReg(i.reg[0]!, i.size[0]!, tmp[0]!, tmp[1]!);
  };
}
def('MOVUPS', sseMove(16, false, true));
def('MOVAPS', sseMove(16, true, true));
def('MOVSS', sseMove(4, false, true));
def('MOVSD', sseMove(8, false, true));
def('MOVLPS', sseMove(8, false, false));
def('MOVQ', (c, i) => {
  sseMove(8, false, true)(c, i);
  // MOVQ xmm, xmm/m64 always clears the upper half.
  if (i.kind[0] === K_XMM) {
    const dv = fx(c);
    const o = xmmOff(i.reg[0]!);
    dv.setInt32(o + 8, 0, true);
    dv.setInt32(o + 12, 0, true);
  }
});
def('MOVD', (c, i) => {
  const bytes = i.size[i.kind[0] === K_XMM ? 1 : 0] === 8 ? 8 : 4;
  sseMove(bytes, false, true)(c, i);
  if (i.kind[0] === K_XMM) {
    const dv = fx(c);
    const o = xmmOff(i.reg[0]!);
    for (let k = bytes / 4; k < 4; k++) dv.setInt32(o + 4 * k, 0, true);
  }
});
def('MOVHPS', (c, i) => {
  sseOk(c);
  const dv = fx(c);
  const a = ea(c, i);
  if (i.kind[0] === K_XMM) {
    const o = xmmOff(i.reg[0]!);
    const lin = c.linear(i.seg, a, 8, false);
    dv.setInt32(o + 8, c.readLin(lin, 8), true);
    dv.setInt32(o + 12, c.t1, true);
  } else {
    const o = xmmOff(i.reg[1]!);
    c.write(i.seg, a, 8, dv.getInt32(o + 8, true), dv.getInt32(o + 12, true));
  }
});

function sseLogic(op: 'and' | 'or' | 'xor'): Handler {
  return (c, i) => {
    sseOk(c);
    const dv = fx(c);
    const d = xmmOff(i.reg[0]!);
    const src = [0, 0, 0, 0];
    if (i.kind[1] === K_XMM) for (let k = 0; k < 4; k++) src[k] = dv.getInt32(xmmOff(i.reg[1]!) + 4 * k, true);
    else {
      const a = ea(c, i);
      if (a % 16) c.gp(0);
      const lin = c.linear(i.seg, a, 16, false);
      src[0] = c.readLin(lin, 8);
      src[1] = c.t1;
      src[2] = c.readLin(lin + 8, 8);
      src[3] = c.t1;
    }
    for (let k = 0; k < 4; k++) {
      const x = dv.getInt32(d + 4 * k, true);
      dv.setInt32(d + 4 * k, op === 'and' ? x & src[k]! : op === 'or' ? x | src[k]! : x ^ src[k]!, true);
    }
  };
}
def('ANDPS', sseLogic('and'));
def('ORPS', sseLogic('or'));
def('XORPS', sseLogic('xor'));

def('LDMXCSR', (c, i) => {
  sseOk(c);
  const v = c.read(i.seg, ea(c, i), 4);
  if (v & 0xffff0000) c.gp(0);
  fx(c).setUint32(24, v, true);
});
def('STMXCSR', (c, i) => {
  sseOk(c);
  c.write(i.seg, ea(c, i), 4, fx(c).getUint32(24, true) | 0);
});

def('FXSAVE', (c, i) => {
  if (c.s.cr0 & (CR0.EM | CR0.TS)) c.raise(c.s.cr0 & CR0.EM ? VEC.UD : VEC.NM);
  const a = ea(c, i);
  if (a % 16) c.gp(0);
  const lin = c.linear(i.seg, a, 512, true);
  const img = c.s.fx;
  for (let k = 0; k < 512; k += 4) c.writeLin(lin + k, 4, new DataView(img.buffer, img.byteOffset).getInt32(k, true));
});
def('FXRSTOR', (c, i) => {
  if (c.s.cr0 & (CR0.EM | CR0.TS)) c.raise(c.s.cr0 & CR0.EM ? VEC.UD : VEC.NM);
  const a = ea(c, i);
  if (a % 16) c.gp(0);
  const lin = c.linear(i.seg, a, 512, false);
  const tmp = new Uint8Array(512);
  const dv = new DataView(tmp.buffer);
  for (let k = 0; k < 512; k += 4) dv.setInt32(k, c.readLin(lin + k, 4) | 0, true);
  if (dv.getUint32(24, true) & 0xffff0000) c.gp(0);
  c.s.fx.set(tmp);
});

// ---------------------------------------------------------------------------------------------
// LOCK-prefixed read-modify-write, and XCHG with memory: the memory access is one host atomic
// operation (atomic.ts), so it stays atomic when the VM's vCPUs run on several threads; flags and
// register results are computed from the old value it returns.

function lockedAlu(c: X86Cpu, i: Insn, op: Alu, lin: number): void {
  const size = i.size[0]!;
  const b0 = rd(c, i, 1);
  const b1 = size === 8 ? c.t1 : 0;
  const bx0 = i.kind[1] === K_IMM ? trunc(i.imm, size) : b0;
  const bx1 = i.kind[1] === K_IMM ? (size === 8 ? i.immHi : 0) : b1;
  let a0: number;
  if (op === Alu.AND || op === Alu.OR || op === Alu.XOR) {
    a0 = lockedRmw(c, lin, size, op === Alu.AND ? AOp.AND : op === Alu.OR ? AOp.OR : AOp.XOR, bx0, bx1);
  } else {
    // ADD/ADC/SUB/SBB: one atomic add of the operand (plus CF; negated to subtract).
    const cin = op === Alu.ADC || op === Alu.SBB ? c.cf() : 0;
    const sub = op === Alu.SUB || op === Alu.SBB;
    if (size === 8) {
      let v = ((BigInt(bx1 | 0) << 32n) | BigInt(bx0 >>> 0)) + BigInt(cin);
      v = BigInt.asUintN(64, sub ? -v : v);
      a0 = lockedRmw(c, lin, 8, AOp.ADD, Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0);
    } else a0 = lockedRmw(c, lin, size, AOp.ADD, sub ? -(bx0 + cin) : bx0 + cin, 0);
  }
  alu(c, op, size, a0, size === 8 ? c.t1 : 0, bx0, bx1);
}

function lockedIncDec(c: X86Cpu, i: Insn, lin: number, dec: boolean): void {
  const size = i.size[0]!;
  const a0 = lockedRmw(c, lin, size, AOp.ADD, dec ? -1 : 1, dec ? -1 : 0);
  incDecResult(c, size, dec, a0, size === 8 ? c.t1 : 0);
}

function lockedNeg(c: X86Cpu, i: Insn, lin: number): void {
  const size = i.size[0]!;
  const a0 = lockedUpdate(c, lin, size, (lo, hi, out) => {
    out.v = size === 8 ? (~hi + (lo === 0 ? 1 : 0)) | 0 : 0;
    return size === 8 ? -lo | 0 : trunc(-lo, size);
  });
  alu(c, Alu.SUB, size, 0, 0, a0, size === 8 ? c.t1 : 0);
}

function lockedXchg(c: X86Cpu, i: Insn, lin: number): void {
  const size = i.size[0]!;
  const b0 = c.getReg(i.reg[1]!, size);
  const b1 = size === 8 ? c.t1 : 0;
  const a0 = lockedRmw(c, lin, size, AOp.XCHG, b0, b1);
  c.setReg(i.reg[1]!, size, a0, size === 8 ? c.t1 : 0);
}

function lockedCmpxchg(c: X86Cpu, i: Insn, lin: number): void {
  const size = i.size[0]!;
  const a0 = c.getReg(0, size);
  const a1 = size === 8 ? c.t1 : 0;
  const s0 = c.getReg(i.reg[1]!, size);
  const s1 = size === 8 ? c.t1 : 0;
  const d0 = lockedCas(c, lin, size, a0, a1, s0, s1);
  const d1 = size === 8 ? c.t1 : 0;
  alu(c, Alu.CMP, size, a0, a1, d0, d1);
  if (!c.f.zf()) c.setReg(0, size, d0, d1);
}

function lockedCmpxchg8b(c: X86Cpu, lin: number): void {
  const eax = c.getReg(0, 4) | 0;
  const edx = c.getReg(2, 4) | 0;
  const ebx = c.getReg(3, 4) | 0;
  const ecx = c.getReg(1, 4) | 0;
  const lo = lockedCas(c, lin, 8, eax, edx, ebx, ecx);
  const hi = c.t1;
  const fl = c.getFlags();
  if (lo === eax && hi === edx) c.s.rflags = (fl | FLAG.ZF) >>> 0;
  else {
    c.setReg(0, 4, lo);
    c.setReg(2, 4, hi);
    c.s.rflags = (fl & ~FLAG.ZF) >>> 0;
  }
}

function lockedXadd(c: X86Cpu, i: Insn, lin: number): void {
  const size = i.size[0]!;
  const s0 = c.getReg(i.reg[1]!, size);
  const s1 = size === 8 ? c.t1 : 0;
  const d0 = lockedRmw(c, lin, size, AOp.ADD, s0, s1);
  const d1 = size === 8 ? c.t1 : 0;
  alu(c, Alu.ADD, size, d0, d1, s0, s1);
  c.setReg(i.reg[1]!, size, d0, d1);
}

/** LOCK BTS/BTR/BTC (op 1/2/3): one atomic OR/AND/XOR of the bit's mask; CF = the old bit. */
function lockedBt(c: X86Cpu, op: number, size: number, lin: number, bit: number): void {
  const m = 1 << (bit & 31);
  let lo = bit >= 32 ? 0 : m;
  let hi = bit >= 32 ? m : 0;
  if (op === 2) {
    lo = ~lo;
    hi = ~hi;
  }
  const v0 = lockedRmw(c, lin, size, op === 1 ? AOp.OR : op === 2 ? AOp.AND : AOp.XOR, lo, hi);
  const word = bit >= 32 ? c.t1 : v0;
  const fl = c.getFlags();
  c.s.rflags = ((fl & ~FLAG.CF) | ((word >>> (bit & 31)) & 1 ? FLAG.CF : 0)) >>> 0;
}

// Every mnemonic must have a handler (a table row without one is a bug caught at load).
for (let k = 0; k < MNEMONICS.length; k++) {
  if (!HANDLERS[k]) throw new Error(`x86: no handler for ${MNEMONICS[k]}`);
}

export { EXIT, K_SEG, ltu };
