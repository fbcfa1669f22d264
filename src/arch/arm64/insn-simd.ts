/**
 * The FP/SIMD subset a compiled guest commonly uses beyond loads and stores: FMOV (register,
 * general, immediate), scalar single/double arithmetic (FADD/FSUB/FMUL/FDIV/FNMUL, FMAX/FMIN,
 * FABS/FNEG/FSQRT, FCVT S<->D, FMADD family, FCMP/FCMPE, FCSEL), integer conversions
 * (SCVTF/UCVTF/FCVTZS/FCVTZU), and the vector moves MOVI/MVNI, DUP, INS, UMOV/SMOV, the bitwise
 * three-same group, integer ADD/SUB and the shifts by immediate SSHR/USHR, SHL, SSHLL/USHLL
 * (UXTL/SXTL); the integer forms of a C library's string routines are insn-simd-int.ts. Rounding is round-to-nearest-even (FPCR.RMode is not
 * modelled) and FPSR cumulative exception bits are not set.
 * @module
 */
import type { Cpu } from './cpu.js';
import type { Encoding } from './decoder.js';
import { condHolds } from './insn-dp.js';
import { shiftImmAcc, shrn } from './insn-simd-int.js';
import { WZ, ZR } from './state.js';

const TWO32 = 4294967296;

function fpCheck(c: Cpu): void {
  if (!c.fpOk) c.fpTrap();
}

/** Scalar FP register n as a number (type 0 single, 1 double). */
function getF(c: Cpu, n: number, dbl: boolean): number {
  return dbl ? c.vdv.getFloat64(n * 16, true) : c.vdv.getFloat32(n * 16, true);
}

/** Writes a scalar FP result, zeroing the rest of the vector register. */
function setF(c: Cpu, n: number, dbl: boolean, v: number): void {
  const o = n * 16;
  c.vr.fill(0, o, o + 16);
  if (dbl) c.vdv.setFloat64(o, v, true);
  else c.vdv.setFloat32(o, v, true);
}

const isDbl = (i: number) => ((i >>> 22) & 3) === 1;
const typeOk = (i: number) => ((i >>> 22) & 3) < 2;

// ---- FMOV and conversions (FP <-> general) --------------------------------------------------------

function fpInt(c: Cpu, i: number): void {
  fpCheck(c);
  const sf = i >>> 31;
  const type = (i >>> 22) & 3;
  const rmode = (i >>> 19) & 3;
  const opcode = (i >>> 16) & 7;
  const n = (i >>> 5) & 31;
  const d = i & 31;
  const x = c.x;
  const dv = c.vdv;
  if (opcode === 6 || opcode === 7) {
    // FMOV: bit moves
    const toGp = opcode === 6;
    if (type === 2) {
      // FMOV Xd, Vn.D[1] / Vd.D[1], Xn
      if (toGp) {
        const w = WZ[d]!;
        x[w] = dv.getInt32(n * 16 + 8, true);
        x[w + 1] = dv.getInt32(n * 16 + 12, true);
      } else {
        const s = ZR[n]!;
        dv.setInt32(d * 16 + 8, x[s]!, true);
        dv.setInt32(d * 16 + 12, x[s + 1]!, true);
      }
      return;
    }
    if (toGp) {
      const w = WZ[d]!;
      x[w] = dv.getInt32(n * 16, true);
      x[w + 1] = sf ? dv.getInt32(n * 16 + 4, true) : 0;
    } else {
      const s = ZR[n]!;
      const o = d * 16;
      c.vr.fill(0, o, o + 16);
      dv.setInt32(o, x[s]!, true);
      if (sf) dv.setInt32(o + 4, x[s + 1]!, true);
    }
    return;
  }
  const dbl = type === 1;
  if (rmode === 0 && (opcode === 2 || opcode === 3)) {
    // SCVTF / UCVTF (scalar, integer)
    const s = ZR[n]!;
    let v: number;
    if (sf) v = opcode === 2 ? x[s + 1]! * TWO32 + (x[s]! >>> 0) : (x[s + 1]! >>> 0) * TWO32 + (x[s]! >>> 0);
    else v = opcode === 2 ? x[s]! : x[s]! >>> 0;
    setF(c, d, dbl, v);
    return;
  }
  if (rmode === 3 && (opcode === 0 || opcode === 1)) {
    // FCVTZS / FCVTZU (scalar, integer): truncate toward zero, saturate, NaN -> 0
    let v = Math.trunc(getF(c, n, dbl));
    if (Number.isNaN(v)) v = 0;
    const signed = opcode === 0;
    const w = WZ[d]!;
    if (sf) {
      const min = signed ? -(2 ** 63) : 0;
      if (v >= 2 ** 63 && signed) {
        x[w] = -1;
        x[w + 1] = 0x7fffffff;
      } else if (v >= 2 ** 64) {
        x[w] = -1;
        x[w + 1] = -1;
      } else if (v <= min) {
        x[w] = 0;
        x[w + 1] = signed ? -0x80000000 : 0;
      } else {
        x[w] = v % TWO32 | 0;
        x[w + 1] = Math.floor(v / TWO32) | 0;
      }
    } else {
      const max = signed ? 0x7fffffff : 0xffffffff;
      const min = signed ? -0x80000000 : 0;
      x[w] = Math.min(max, Math.max(min, v)) | 0;
      x[w + 1] = 0;
    }
    return;
  }
  c.undef();
}

// ---- scalar FP data processing ----------------------------------------------------------------

function fmovReg(c: Cpu, i: number): void {
  fpCheck(c);
  const dbl = isDbl(i);
  const n = (i >>> 5) & 31;
  const d = i & 31;
  const lo = c.vdv.getInt32(n * 16, true);
  const hi = dbl ? c.vdv.getInt32(n * 16 + 4, true) : 0;
  c.vr.fill(0, d * 16, d * 16 + 16);
  c.vdv.setInt32(d * 16, lo, true);
  c.vdv.setInt32(d * 16 + 4, hi, true);
}

/** VFPExpandImm(imm8) */
function fpImm(imm8: number, dbl: boolean): number {
  const sign = imm8 >>> 7 ? -1 : 1;
  const exp = ((imm8 >>> 4) & 7) ^ 4; // NOT(b):b:b.. collapsed to the 3-bit exponent offset
  const frac = 16 + (imm8 & 15);
  void dbl;
  return sign * frac * 2 ** (exp - 4 - 3);
}

function fmovImm(c: Cpu, i: number): void {
  fpCheck(c);
  const dbl = isDbl(i);
  setF(c, i & 31, dbl, fpImm((i >>> 13) & 0xff, dbl));
}

function round(dbl: boolean, v: number): number {
  return dbl ? v : Math.fround(v);
}

function fp2(c: Cpu, i: number): void {
  fpCheck(c);
  const dbl = isDbl(i);
  const a = getF(c, (i >>> 5) & 31, dbl);
  const b = getF(c, (i >>> 16) & 31, dbl);
  let r: number;
  switch ((i >>> 12) & 15) {
    case 0:
      r = a * b;
      break;
    case 1:
      r = a / b;
      break;
    case 2:
      r = a + b;
      break;
    case 3:
      r = a - b;
      break;
    case 4:
      r = Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b);
      break;
    case 5:
      r = Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b);
      break;
    case 6:
      r = Number.isNaN(a) ? b : Number.isNaN(b) ? a : Math.max(a, b);
      break;
    case 7:
      r = Number.isNaN(a) ? b : Number.isNaN(b) ? a : Math.min(a, b);
      break;
    default:
      r = -(a * b);
  }
  setF(c, i & 31, dbl, round(dbl, r));
}

function fp1(c: Cpu, i: number): void {
  fpCheck(c);
  const type = (i >>> 22) & 3;
  const dbl = type === 1;
  const op = (i >>> 15) & 0x3f;
  const a = getF(c, (i >>> 5) & 31, dbl);
  const d = i & 31;
  switch (op) {
    case 1:
      setF(c, d, dbl, Math.abs(a));
      return;
    case 2:
      setF(c, d, dbl, -a);
      return;
    case 3:
      setF(c, d, dbl, round(dbl, Math.sqrt(a)));
      return;
    case 4:
      setF(c, d, false, Math.fround(a)); // FCVT Sd, Dn
      return;
    case 5:
      setF(c, d, true, a); // FCVT Dd, Sn
      return;
    default:
      c.undef();
  }
}

function fmadd(c: Cpu, i: number): void {
  fpCheck(c);
  const dbl = isDbl(i);
  const a = getF(c, (i >>> 10) & 31, dbl);
  const n = getF(c, (i >>> 5) & 31, dbl);
  const m = getF(c, (i >>> 16) & 31, dbl);
  const o1 = (i >>> 21) & 1;
  const o0 = (i >>> 15) & 1;
  // FMADD a+nm, FMSUB a-nm, FNMADD -a-nm, FNMSUB -a+nm
  const p = o0 ^ o1 ? -(n * m) : n * m;
  setF(c, i & 31, dbl, round(dbl, o1 ? -a + p : a + p));
}

function fcmp(c: Cpu, i: number): void {
  fpCheck(c);
  const dbl = isDbl(i);
  const a = getF(c, (i >>> 5) & 31, dbl);
  const b = (i >>> 3) & 1 ? 0 : getF(c, (i >>> 16) & 31, dbl);
  if (Number.isNaN(a) || Number.isNaN(b)) {
    c.n = 0;
    c.z = 0;
    c.c = 1;
    c.v = 1;
  } else if (a === b) {
    c.n = 0;
    c.z = 1;
    c.c = 1;
    c.v = 0;
  } else if (a < b) {
    c.n = 1;
    c.z = 0;
    c.c = 0;
    c.v = 0;
  } else {
    c.n = 0;
    c.z = 0;
    c.c = 1;
    c.v = 0;
  }
}

function fcsel(c: Cpu, i: number): void {
  fpCheck(c);
  const dbl = isDbl(i);
  const cond = (i >>> 12) & 15;
  const pick = condHolds(c, cond) ? (i >>> 5) & 31 : (i >>> 16) & 31;
  setF(c, i & 31, dbl, getF(c, pick, dbl));
}

// ---- vector moves ------------------------------------------------------------------------------------

/** Clears the upper 64 bits of Vd when Q = 0. */
function clearHigh(c: Cpu, d: number, q: number): void {
  if (!q) c.vr.fill(0, d * 16 + 8, d * 16 + 16);
}

/** AdvSIMDExpandImm(op, cmode, imm8) into two int32 halves (lo, hi). */
function expandImm(op: number, cmode: number, imm8: number, out: Int32Array): boolean {
  let lo: number;
  let hi: number;
  switch (cmode >>> 1) {
    case 0:
    case 1:
    case 2:
    case 3: {
      const v = imm8 << (8 * (cmode >>> 1));
      lo = hi = v;
      break;
    }
    case 4:
    case 5: {
      const h = imm8 << (8 * ((cmode >>> 1) & 1));
      lo = hi = (h & 0xffff) | (h << 16);
      break;
    }
    case 6: {
      const v = cmode & 1 ? (imm8 << 16) | 0xffff : (imm8 << 8) | 0xff;
      lo = hi = v;
      break;
    }
    default:
      if ((cmode & 1) === 0 && op === 0) {
        const b = imm8 * 0x01010101;
        lo = hi = b | 0;
      } else if ((cmode & 1) === 0 && op === 1) {
        let l = 0;
        let h = 0;
        for (let k = 0; k < 4; k++) if (imm8 & (1 << k)) l |= 0xff << (8 * k);
        for (let k = 0; k < 4; k++) if (imm8 & (1 << (k + 4))) h |= 0xff << (8 * k);
        lo = l;
        hi = h;
      } else if (op === 0) {
        // single-precision immediate replicated
        const a = imm8 >>> 7;
        const b = (imm8 >>> 6) & 1;
        const e = (a << 31) | ((b ? 0x1f : 0x20) << 25) | ((imm8 & 0x3f) << 19);
        lo = hi = e;
      } else {
        // double-precision immediate
        const a = imm8 >>> 7;
        const b = (imm8 >>> 6) & 1;
        lo = 0;
        hi = (a << 31) | ((b ? 0xff : 0x100) << 22) | ((imm8 & 0x3f) << 16);
      }
  }
  out[0] = lo;
  out[1] = hi;
  return true;
}

const immBuf = new Int32Array(2);

/** MOVI/MVNI/ORR/BIC (vector, immediate). */
function vecImm(c: Cpu, i: number): void {
  fpCheck(c);
  const q = (i >>> 30) & 1;
  const op = (i >>> 29) & 1;
  const cmode = (i >>> 12) & 15;
  const imm8 = (((i >>> 16) & 7) << 5) | ((i >>> 5) & 31);
  const d = i & 31;
  if (op === 1 && cmode === 15 && !q) c.undef();
  expandImm(op, cmode, imm8, immBuf);
  let lo = immBuf[0]!;
  let hi = immBuf[1]!;
  const dv = c.vdv;
  const o = d * 16;
  // ORR (cmode 0xx1 / 10x1, op 0) and BIC (same, op 1) modify; the rest write.
  const modify = (cmode < 12 && (cmode & 1) === 1) ? (op ? 'bic' : 'orr') : null;
  const invert = op === 1 && cmode !== 14 && cmode !== 15 && !modify;
  if (invert) {
    lo = ~lo;
    hi = ~hi;
  }
  for (let k = 0; k < (q ? 2 : 1); k++) {
    const base = o + 8 * k;
    if (modify === 'orr') {
      dv.setInt32(base, dv.getInt32(base, true) | lo, true);
      dv.setInt32(base + 4, dv.getInt32(base + 4, true) | hi, true);
    } else if (modify === 'bic') {
      dv.setInt32(base, dv.getInt32(base, true) & ~lo, true);
      dv.setInt32(base + 4, dv.getInt32(base + 4, true) & ~hi, true);
    } else {
      dv.setInt32(base, lo, true);
      dv.setInt32(base + 4, hi, true);
    }
  }
  clearHigh(c, d, q);
}

/** Element size from imm5 (lowest set bit): 0 B, 1 H, 2 S, 3 D; -1 reserved. */
const elemSize = (imm5: number) => (imm5 & 1 ? 0 : imm5 & 2 ? 1 : imm5 & 4 ? 2 : imm5 & 8 ? 3 : -1);

function readElem(c: Cpu, n: number, size: number, idx: number): void {
  const dv = c.vdv;
  const o = n * 16 + (idx << size);
  if (size === 3) {
    immBuf[0] = dv.getInt32(o, true);
    immBuf[1] = dv.getInt32(o + 4, true);
  } else {
    immBuf[0] = size === 2 ? dv.getInt32(o, true) : size === 1 ? dv.getUint16(o, true) : dv.getUint8(o);
    immBuf[1] = 0;
  }
}

function writeElem(c: Cpu, d: number, size: number, idx: number, lo: number, hi: number): void {
  const dv = c.vdv;
  const o = d * 16 + (idx << size);
  if (size === 3) {
    dv.setInt32(o, lo, true);
    dv.setInt32(o + 4, hi, true);
  } else if (size === 2) dv.setInt32(o, lo, true);
  else if (size === 1) dv.setUint16(o, lo & 0xffff, true);
  else dv.setUint8(o, lo & 0xff);
}

/** DUP (element / general), INS (general), UMOV, SMOV. */
function copy(c: Cpu, i: number): void {
  fpCheck(c);
  const q = (i >>> 30) & 1;
  const imm5 = (i >>> 16) & 31;
  const imm4 = (i >>> 11) & 15;
  const n = (i >>> 5) & 31;
  const d = i & 31;
  const size = elemSize(imm5);
  if (size < 0) c.undef();
  const idx = imm5 >>> (size + 1);
  const x = c.x;
  switch (imm4) {
    case 0: {
      // DUP (element)
      if (size === 3 && !q) c.undef();
      readElem(c, n, size, idx);
      const lo = immBuf[0]!;
      const hi = immBuf[1]!;
      const count = (q ? 16 : 8) >>> size;
      for (let k = 0; k < count; k++) writeElem(c, d, size, k, lo, hi);
      clearHigh(c, d, q);
      return;
    }
    case 1: {
      // DUP (general)
      if (size === 3 && !q) c.undef();
      const s = ZR[n]!;
      const count = (q ? 16 : 8) >>> size;
      for (let k = 0; k < count; k++) writeElem(c, d, size, k, x[s]!, x[s + 1]!);
      clearHigh(c, d, q);
      return;
    }
    case 3: {
      // INS (general)
      if (!q) c.undef();
      const s = ZR[n]!;
      writeElem(c, d, size, idx, x[s]!, x[s + 1]!);
      return;
    }
    case 5:
    case 7: {
      // SMOV (5) / UMOV (7)
      const signed = imm4 === 5;
      if (signed ? size >= (q ? 3 : 2) : q ? size !== 3 : size === 3) c.undef();
      readElem(c, n, size, idx);
      let lo = immBuf[0]!;
      let hi = immBuf[1]!;
      if (signed) {
        if (size === 0) lo = (lo << 24) >> 24;
        else if (size === 1) lo = (lo << 16) >> 16;
        hi = q ? lo >> 31 : 0;
      }
      const w = WZ[d]!;
      x[w] = lo;
      x[w + 1] = q ? hi : 0;
      return;
    }
    default:
      c.undef();
  }
}

/** INS (element): Vd.T[dst] = Vn.T[src]. */
function insElem(c: Cpu, i: number): void {
  fpCheck(c);
  const imm5 = (i >>> 16) & 31;
  const imm4 = (i >>> 11) & 15;
  const size = elemSize(imm5);
  if (size < 0) c.undef();
  readElem(c, (i >>> 5) & 31, size, imm4 >>> size);
  writeElem(c, i & 31, size, imm5 >>> (size + 1), immBuf[0]!, immBuf[1]!);
}

/** AND/BIC/ORR/ORN/EOR/BSL/BIT/BIF (vector). */
function vecLogic(c: Cpu, i: number): void {
  fpCheck(c);
  const q = (i >>> 30) & 1;
  const u = (i >>> 29) & 1;
  const opc = (i >>> 22) & 3;
  const dv = c.vdv;
  const n = ((i >>> 5) & 31) * 16;
  const m = ((i >>> 16) & 31) * 16;
  const d = (i & 31) * 16;
  for (let k = 0; k < (q ? 16 : 8); k += 4) {
    const a = dv.getInt32(n + k, true);
    const b = dv.getInt32(m + k, true);
    const t = dv.getInt32(d + k, true);
    let r: number;
    if (!u) r = opc === 0 ? a & b : opc === 1 ? a & ~b : opc === 2 ? a | b : a | ~b;
    else if (opc === 0) r = a ^ b;
    else if (opc === 1) r = (t & a) | (~t & b); // BSL
    else if (opc === 2) r = (t & ~b) | (a & b); // BIT
    else r = (t & b) | (a & ~b); // BIF
    dv.setInt32(d + k, r, true);
  }
  clearHigh(c, i & 31, q);
}

/** ADD/SUB (vector, integer). */
function vecAddSub(c: Cpu, i: number): void {
  fpCheck(c);
  const q = (i >>> 30) & 1;
  const sub = (i >>> 29) & 1;
  const size = (i >>> 22) & 3;
  if (size === 3 && !q) c.undef();
  const n = (i >>> 5) & 31;
  const m = (i >>> 16) & 31;
  const d = i & 31;
  const count = (q ? 16 : 8) >>> size;
  for (let k = 0; k < count; k++) {
    readElem(c, n, size, k);
    const al = immBuf[0]!;
    const ah = immBuf[1]!;
    readElem(c, m, size, k);
    const bl = immBuf[0]!;
    const bh = immBuf[1]!;
    if (size === 3) {
      const l = sub ? (al >>> 0) - (bl >>> 0) : (al >>> 0) + (bl >>> 0);
      const carry = sub ? (l < 0 ? -1 : 0) : l > 0xffffffff ? 1 : 0;
      writeElem(c, d, 3, k, l | 0, (sub ? ah - bh : ah + bh) + carry);
    } else writeElem(c, d, size, k, sub ? al - bl : al + bl, 0);
  }
  clearHigh(c, d, q);
}

/** Scratch for a shift's source elements (the destination may be the source). */
const shiftSrc = new Int32Array(32);

/** A 64-bit value (lo, hi halves) shifted by 0..63: left, or right (arithmetic when `signed`); into immBuf. */
function shift64(lo: number, hi: number, sh: number, right: boolean, signed: boolean): void {
  if (sh === 0) {
    immBuf[0] = lo;
    immBuf[1] = hi;
  } else if (!right) {
    if (sh >= 32) {
      immBuf[1] = lo << (sh - 32);
      immBuf[0] = 0;
    } else {
      immBuf[1] = (hi << sh) | (lo >>> (32 - sh));
      immBuf[0] = lo << sh;
    }
  } else if (sh >= 32) {
    immBuf[0] = signed ? hi >> (sh - 32) : hi >>> (sh - 32);
    immBuf[1] = signed ? hi >> 31 : 0;
  } else {
    immBuf[0] = (lo >>> sh) | (hi << (32 - sh));
    immBuf[1] = signed ? hi >> sh : hi >>> sh;
  }
}

/**
 * Advanced SIMD shift by immediate: SSHR/USHR (opcode 00000), SHL (01010, U=0), SSHLL/USHLL
 * (10100; UXTL/SXTL are their shift-0 forms; Q=1: the "2" forms, from the upper half); SSRA/USRA
 * (00010) and SHRN/RSHRN (1000x) are insn-simd-int.ts's.
 */
function vecShiftImm(c: Cpu, i: number): void {
  fpCheck(c);
  const q = (i >>> 30) & 1;
  const u = (i >>> 29) & 1;
  const immh = (i >>> 19) & 15;
  const immhb = (i >>> 16) & 127;
  const op = (i >>> 11) & 31;
  const n = (i >>> 5) & 31;
  const d = i & 31;
  const size = 31 - Math.clz32(immh);
  const esize = 8 << size;
  if (op === 0b00010) return shiftImmAcc(c, i); // SSRA/USRA
  if (op >>> 1 === 0b1000) return shrn(c, i); // SHRN/RSHRN
  if (op === 0b10100) {
    // SSHLL/USHLL: 8 bytes of narrow elements, widened and shifted left.
    if (size === 3) c.undef();
    const sh = immhb - esize;
    const count = 8 >>> size;
    for (let k = 0; k < count; k++) {
      readElem(c, n, size, k + (q ? count : 0));
      const v = immBuf[0]!;
      shiftSrc[k] = u ? v : size === 0 ? (v << 24) >> 24 : size === 1 ? (v << 16) >> 16 : v;
    }
    for (let k = 0; k < count; k++) {
      const v = shiftSrc[k]!;
      // The element as a 64-bit value (sign- or zero-extended), shifted; the low 2*esize bits kept.
      shift64(v, u ? 0 : v >> 31, sh, false, false);
      writeElem(c, d, size + 1, k, immBuf[0]!, immBuf[1]!);
    }
    return;
  }
  if (size === 3 && !q) c.undef();
  const right = op === 0;
  const sh = right ? 2 * esize - immhb : immhb - esize;
  const count = (q ? 16 : 8) >>> size;
  for (let k = 0; k < count; k++) {
    readElem(c, n, size, k);
    let lo = immBuf[0]!;
    let hi = immBuf[1]!;
    if (size < 3) {
      // As a sign- or zero-extended 64-bit value; writeElem keeps the low esize bits.
      if (!u) lo = size === 0 ? (lo << 24) >> 24 : size === 1 ? (lo << 16) >> 16 : lo;
      hi = u ? 0 : lo >> 31;
    }
    // A right shift by the element size leaves copies of the sign (SSHR) or 0 (USHR).
    if (right && sh >= 64) {
      immBuf[0] = u ? 0 : hi >> 31;
      immBuf[1] = immBuf[0]!;
    } else shift64(lo, hi, sh, right, !u);
    writeElem(c, d, size, k, immBuf[0]!, immBuf[1]!);
  }
  clearHigh(c, d, q);
}

export const SIMD_ENCODINGS: readonly Encoding[] = [
  { name: 'FP_INT', pattern: 'sf:1 0 0 11110 type:2 1 rmode:2 opcode:3 000000 Rn:5 Rd:5', exec: fpInt, group: 'fp', check: (i) => {
    const sf = i >>> 31;
    const type = (i >>> 22) & 3;
    const rmode = (i >>> 19) & 3;
    const op = (i >>> 16) & 7;
    if (op >= 6) return (rmode === 0 && ((sf === 0 && type === 0) || (sf === 1 && type === 1))) || (sf === 1 && type === 2 && rmode === 1);
    return type < 2 && ((rmode === 0 && (op === 2 || op === 3)) || (rmode === 3 && op < 2));
  } },
  { name: 'FMOV_reg', pattern: '0 0 0 11110 type:2 1 0000 00 10000 Rn:5 Rd:5', exec: fmovReg, check: typeOk, group: 'fp' },
  { name: 'FP_1SRC', pattern: '0 0 0 11110 type:2 1 0 opcode:5 10000 Rn:5 Rd:5', exec: fp1, check: (i) => typeOk(i) && [1, 2, 3].includes((i >>> 15) & 0x3f) || (((i >>> 22) & 3) === 1 && ((i >>> 15) & 0x3f) === 4) || (((i >>> 22) & 3) === 0 && ((i >>> 15) & 0x3f) === 5), group: 'fp' },
  { name: 'FMOV_imm', pattern: '0 0 0 11110 type:2 1 imm8:8 100 00000 Rd:5', exec: fmovImm, check: typeOk, group: 'fp' },
  { name: 'FP_2SRC', pattern: '0 0 0 11110 type:2 1 Rm:5 opcode:4 10 Rn:5 Rd:5', exec: fp2, check: (i) => typeOk(i) && ((i >>> 12) & 15) <= 8, group: 'fp' },
  { name: 'FP_3SRC', pattern: '0 0 0 11111 type:2 o1:1 Rm:5 o0:1 Ra:5 Rn:5 Rd:5', exec: fmadd, check: typeOk, group: 'fp' },
  { name: 'FCMP', pattern: '0 0 0 11110 type:2 1 Rm:5 00 1000 Rn:5 opc:2 000', exec: fcmp, check: typeOk, group: 'fp' },
  { name: 'FCSEL', pattern: '0 0 0 11110 type:2 1 Rm:5 cond:4 11 Rn:5 Rd:5', exec: fcsel, check: typeOk, group: 'fp' },
  { name: 'MOVI', pattern: '0 Q:1 op:1 0111100000 abc:3 cmode:4 0 1 defgh:5 Rd:5', exec: vecImm, group: 'simd' },
  { name: 'COPY', pattern: '0 Q:1 0 01110000 imm5:5 0 imm4:4 1 Rn:5 Rd:5', exec: copy, group: 'simd' },
  { name: 'INS_elem', pattern: '0 1 1 01110000 imm5:5 0 imm4:4 1 Rn:5 Rd:5', exec: insElem, group: 'simd' },
  { name: 'VEC_LOGIC', pattern: '0 Q:1 U:1 01110 opc:2 1 Rm:5 00011 1 Rn:5 Rd:5', exec: vecLogic, group: 'simd' },
  { name: 'VEC_ADDSUB', pattern: '0 Q:1 U:1 01110 size:2 1 Rm:5 10000 1 Rn:5 Rd:5', exec: vecAddSub, group: 'simd' },
  { name: 'VEC_SHIFT_IMM', pattern: '0 Q:1 U:1 011110 immh:4 immb:3 opcode:5 1 Rn:5 Rd:5', exec: vecShiftImm, group: 'simd', check: (i) => {
    const immh = (i >>> 19) & 15;
    const op = (i >>> 11) & 31;
    const u = (i >>> 29) & 1;
    if (immh === 0) return false;
    if (op === 0b10000 || op === 0b10001) return u === 0 && immh < 8; // SHRN/RSHRN
    return op === 0 || op === 0b00010 || (op === 0b01010 && u === 0) || op === 0b10100;
  } },
];
