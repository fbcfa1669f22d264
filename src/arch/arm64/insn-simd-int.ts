/**
 * Advanced SIMD integer forms a C library's string and number routines use (glibc's memchr,
 * strlen, strchr... in a static busybox), beyond insn-simd.ts's moves, logic, ADD/SUB and shifts:
 * - three same: CMGT/CMHI, CMGE/CMHS, CMTST/CMEQ, SMAX/UMAX, SMIN/UMIN, SMAXP/UMAXP,
 *   SMINP/UMINP, ADDP, SSHL/USHL, SABD/UABD, MUL, MLA/MLS;
 * - two-register misc: REV64/REV32/REV16, CNT, NOT, RBIT, CLS/CLZ, CMGT/CMGE/CMEQ/CMLE/CMLT (zero),
 *   ABS/NEG, XTN, SCVTF/UCVTF and FCVTZS/FCVTZU (vector and scalar);
 * - across lanes: ADDV, SMAXV/UMAXV, SMINV/UMINV, SADDLV/UADDLV;
 * - permute (UZP1/2, TRN1/2, ZIP1/2) and EXT;
 * - three different: SADDL/UADDL, SADDW/UADDW, SSUBL/USUBL, SSUBW/USUBW, ADDHN/RADDHN,
 *   SUBHN/RSUBHN, SMLAL/UMLAL, SMLSL/UMLSL, SMULL/UMULL;
 * - shifts by immediate: SHRN/RSHRN, SSRA/USRA (both reached through insn-simd.ts's
 *   VEC_SHIFT_IMM row), and the scalar (D) SSHR/USHR/SSRA/USRA/SHL;
 * - scalar ADDP (D).
 *
 * Every element is handled as a 64-bit value in two int32 halves (lo, hi), sign- or
 * zero-extended from its element size, so one arithmetic serves every size; sources are copied to
 * scratch lanes first because the destination may be a source. Nothing allocates.
 * @module
 */
import type { Cpu } from './cpu.js';
import type { Encoding } from './decoder.js';
import { NL, NH, ML, MH, RL, RH, R, ldv, st, clearHigh, cmp64, add64, sub64, mul32, mul64lo, shl64 } from './simd-lanes.js';

const TWO32 = 4294967296;

function fpCheck(c: Cpu): void {
  if (!c.fpOk) c.fpTrap();
}

// ---- three same ------------------------------------------------------------------------------

const OP3_CMGT = 0b00110;
const OP3_CMGE = 0b00111;
const OP3_SSHL = 0b01000;
const OP3_MAX = 0b01100;
const OP3_MIN = 0b01101;
const OP3_ABD = 0b01110;
const OP3_MLA = 0b10010;
const OP3_CMTST = 0b10001;
const OP3_MUL = 0b10011;
const OP3_MAXP = 0b10100;
const OP3_MINP = 0b10101;
const OP3_ADDP = 0b10111;

/** Whether a three-same integer word is allocated here (size/Q limits per opcode). */
function sameOk(i: number): boolean {
  const q = (i >>> 30) & 1;
  const u = (i >>> 29) & 1;
  const size = (i >>> 22) & 3;
  const op = (i >>> 11) & 31;
  switch (op) {
    case OP3_CMGT:
    case OP3_CMGE:
    case OP3_CMTST:
    case OP3_SSHL:
    case OP3_ADDP:
      return (op !== OP3_ADDP || u === 0) && (size !== 3 || q === 1);
    case OP3_MAX:
    case OP3_MIN:
    case OP3_MAXP:
    case OP3_MINP:
    case OP3_ABD:
    case OP3_MLA:
      return size !== 3;
    case OP3_MUL:
      return u === 0 && size !== 3;
    default:
      return false;
  }
}

function vecSame(c: Cpu, i: number): void {
  fpCheck(c);
  const q = (i >>> 30) & 1;
  const u = (i >>> 29) & 1;
  const size = (i >>> 22) & 3;
  const op = (i >>> 11) & 31;
  const m = (i >>> 16) & 31;
  const n = (i >>> 5) & 31;
  const d = i & 31;
  const count = (q ? 16 : 8) >>> size;
  const signed = u === 0;
  ldv(c, n, size, count, signed, NL, NH);
  ldv(c, m, size, count, signed, ML, MH);
  if (op === OP3_ADDP || op === OP3_MAXP || op === OP3_MINP) {
    // Pairs of the concatenation Vm:Vn, Vn's first.
    const half = count >>> 1;
    for (let k = 0; k < count; k++) {
      const L = k < half ? NL : ML;
      const H = k < half ? NH : MH;
      const j = 2 * (k < half ? k : k - half);
      const al = L[j]!;
      const ah = H[j]!;
      const bl = L[j + 1]!;
      const bh = H[j + 1]!;
      if (op === OP3_ADDP) add64(al, ah, bl, bh);
      else {
        const r = cmp64(al, ah, bl, bh, signed);
        const first = op === OP3_MAXP ? r >= 0 : r <= 0;
        R.lo = first ? al : bl;
        R.hi = first ? ah : bh;
      }
      RL[k] = R.lo;
      RH[k] = R.hi;
    }
  } else {
    const acc = op === OP3_MLA;
    if (acc) ldv(c, d, size, count, false, RL, RH);
    for (let k = 0; k < count; k++) {
      const al = NL[k]!;
      const ah = NH[k]!;
      const bl = ML[k]!;
      const bh = MH[k]!;
      let lo: number;
      let hi: number;
      switch (op) {
        case OP3_CMGT:
          lo = hi = cmp64(al, ah, bl, bh, signed) > 0 ? -1 : 0;
          break;
        case OP3_CMGE:
          lo = hi = cmp64(al, ah, bl, bh, signed) >= 0 ? -1 : 0;
          break;
        case OP3_CMTST:
          // U=0 CMTST: (a AND b) != 0; U=1 CMEQ. Elements were zero-extended (U=1) or
          // sign-extended (U=0), which leaves the test of the element's own bits unchanged.
          lo = hi = u ? (al === bl && ah === bh ? -1 : 0) : (al & bl) !== 0 || (ah & bh) !== 0 ? -1 : 0;
          break;
        case OP3_SSHL: {
          // The shift is the signed low byte of the Vm element; right shifts round toward -inf.
          const sh = (bl << 24) >> 24;
          const esize = 8 << size;
          if (sh >= esize) {
            lo = hi = 0;
          } else if (sh <= -esize) {
            hi = signed ? ah >> 31 : 0;
            lo = hi;
          } else {
            shl64(al, ah, sh, signed);
            lo = R.lo;
            hi = R.hi;
          }
          break;
        }
        case OP3_MAX:
        case OP3_MIN: {
          const r = cmp64(al, ah, bl, bh, signed);
          const a = op === OP3_MAX ? r >= 0 : r <= 0;
          lo = a ? al : bl;
          hi = a ? ah : bh;
          break;
        }
        case OP3_ABD:
          if (cmp64(al, ah, bl, bh, signed) >= 0) sub64(al, ah, bl, bh);
          else sub64(bl, bh, al, ah);
          lo = R.lo;
          hi = R.hi;
          break;
        case OP3_MUL:
          lo = Math.imul(al, bl);
          hi = 0;
          break;
        default: {
          // MLA (U=0) / MLS (U=1)
          const p = Math.imul(al, bl);
          lo = u ? RL[k]! - p : RL[k]! + p;
          hi = 0;
        }
      }
      RL[k] = lo;
      RH[k] = hi;
    }
  }
  for (let k = 0; k < count; k++) st(c, d, size, k, RL[k]!, RH[k]!);
  clearHigh(c, d, q);
}

/** ADDP (scalar): Dd = Vn.D[0] + Vn.D[1]. */
function addpScalar(c: Cpu, i: number): void {
  fpCheck(c);
  const n = (i >>> 5) & 31;
  const d = i & 31;
  const dv = c.vdv;
  add64(dv.getInt32(n * 16, true), dv.getInt32(n * 16 + 4, true), dv.getInt32(n * 16 + 8, true), dv.getInt32(n * 16 + 12, true));
  c.vr.fill(0, d * 16, d * 16 + 16);
  dv.setInt32(d * 16, R.lo, true);
  dv.setInt32(d * 16 + 4, R.hi, true);
}

// ---- two-register misc -----------------------------------------------------------------------

const OP2_REV64 = 0b00000;
const OP2_REV16 = 0b00001;
const OP2_CLZ = 0b00100;
const OP2_CNT = 0b00101;
const OP2_CMGT0 = 0b01000;
const OP2_CMEQ0 = 0b01001;
const OP2_CMLT0 = 0b01010;
const OP2_ABS = 0b01011;
const OP2_XTN = 0b10010;
const OP2_FCVTZ = 0b11011;
const OP2_CVTF = 0b11101;

/** Whether a two-register-misc word (vector, or scalar when bit 28 is set) is allocated here. */
function miscOk(i: number): boolean {
  const scalar = (i >>> 28) & 1;
  const q = (i >>> 30) & 1;
  const u = (i >>> 29) & 1;
  const size = (i >>> 22) & 3;
  const op = (i >>> 12) & 31;
  switch (op) {
    case OP2_CMGT0:
    case OP2_CMEQ0:
    case OP2_ABS:
      return scalar ? size === 3 : size !== 3 || q === 1;
    case OP2_CMLT0:
      return u === 0 && (scalar ? size === 3 : size !== 3 || q === 1);
    case OP2_FCVTZ:
    case OP2_CVTF:
      // FCVTZS/FCVTZU need size 1x, SCVTF/UCVTF 0x; a double element needs Q=1 (vector).
      return (op === OP2_FCVTZ) === size >= 2 && (scalar === 1 || (size & 1) === 0 || q === 1);
    default:
      if (scalar) return false;
      switch (op) {
        case OP2_REV64:
          return size + u < 3; // REV64 B/H/S; REV32 (U=1) B/H
        case OP2_REV16:
          return u === 0 && size === 0;
        case OP2_CLZ:
          return size !== 3;
        case OP2_CNT:
          return u === 0 ? size === 0 : size <= 1; // CNT; NOT (size 0), RBIT (size 1)
        case OP2_XTN:
          return u === 0 && size !== 3;
        default:
          return false;
      }
  }
}

function countLeading(v: number, bits: number): number {
  return Math.clz32(v & (bits === 32 ? -1 : (1 << bits) - 1)) - (32 - bits);
}

function popcount8(v: number): number {
  v = v - ((v >>> 1) & 0x55);
  v = (v & 0x33) + ((v >>> 2) & 0x33);
  return (v + (v >>> 4)) & 0x0f;
}

function rbit8(v: number): number {
  let r = 0;
  for (let b = 0; b < 8; b++) if (v & (1 << b)) r |= 0x80 >>> b;
  return r;
}

/** FP value -> integer of `bits` bits, rounding toward zero, saturating, NaN 0; into (R.lo, R.hi). */
function fcvtz(v: number, signed: boolean, bits: number): void {
  let t = Math.trunc(v);
  if (Number.isNaN(t)) t = 0;
  const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  const min = signed ? -(2 ** (bits - 1)) : 0;
  if (bits === 64) {
    if (t >= 2 ** 63 && signed) {
      R.lo = -1;
      R.hi = 0x7fffffff;
    } else if (t >= 2 ** 64) {
      R.lo = -1;
      R.hi = -1;
    } else if (t <= min) {
      R.lo = 0;
      R.hi = signed ? -0x80000000 : 0;
    } else {
      R.lo = t % TWO32 | 0;
      R.hi = Math.floor(t / TWO32) | 0;
    }
  } else {
    R.lo = Math.min(max, Math.max(min, t)) | 0;
    R.hi = 0;
  }
}

const cvtBuf = new DataView(new ArrayBuffer(8));

function vecMisc(c: Cpu, i: number): void {
  fpCheck(c);
  const scalar = (i >>> 28) & 1;
  const q = scalar ? 0 : (i >>> 30) & 1;
  const u = (i >>> 29) & 1;
  const size = (i >>> 22) & 3;
  const op = (i >>> 12) & 31;
  const n = (i >>> 5) & 31;
  const d = i & 31;
  const dv = c.vdv;
  if (op === OP2_FCVTZ || op === OP2_CVTF) {
    const dbl = (size & 1) === 1;
    const esz = dbl ? 3 : 2;
    const count = scalar ? 1 : (q ? 16 : 8) >>> esz;
    for (let k = 0; k < count; k++) {
      const o = n * 16 + (k << esz);
      if (op === OP2_FCVTZ) {
        fcvtz(dbl ? dv.getFloat64(o, true) : dv.getFloat32(o, true), u === 0, dbl ? 64 : 32);
        RL[k] = R.lo;
        RH[k] = R.hi;
      } else {
        const lo = dv.getInt32(o, true);
        const hi = dbl ? dv.getInt32(o + 4, true) : 0;
        let v: number;
        if (dbl) v = u ? (hi >>> 0) * TWO32 + (lo >>> 0) : hi * TWO32 + (lo >>> 0);
        else v = u ? lo >>> 0 : lo;
        // The float result's bits.
        if (dbl) cvtBuf.setFloat64(0, v, true);
        else cvtBuf.setFloat32(0, v, true);
        RL[k] = cvtBuf.getInt32(0, true);
        RH[k] = dbl ? cvtBuf.getInt32(4, true) : 0;
      }
    }
    if (scalar) c.vr.fill(0, d * 16, d * 16 + 16);
    for (let k = 0; k < count; k++) st(c, d, esz, k, RL[k]!, RH[k]!);
    clearHigh(c, d, q);
    return;
  }
  if (op === OP2_XTN) {
    // XTN (Q=0) / XTN2 (Q=1): the 2*esize elements of Vn, truncated, into one half of Vd.
    const count = 8 >>> size;
    ldv(c, n, size + 1, count, false, NL, NH);
    for (let k = 0; k < count; k++) st(c, d, size, k + (q ? count : 0), NL[k]!, NH[k]!);
    clearHigh(c, d, q);
    return;
  }
  if (op === OP2_CNT) {
    // CNT, NOT (U=1, size 0), RBIT (U=1, size 1): bytes whatever the size field says.
    const vr = c.vr;
    for (let k = 0; k < (q ? 16 : 8); k++) {
      const b = vr[n * 16 + k]!;
      vr[d * 16 + k] = u === 0 ? popcount8(b) : size === 0 ? ~b : rbit8(b);
    }
    clearHigh(c, d, q);
    return;
  }
  const count = scalar ? 1 : (q ? 16 : 8) >>> size;
  if (op === OP2_REV64 || op === OP2_REV16) {
    // Reverse the elements inside each 64-, 32- or 16-bit container.
    const cbits = op === OP2_REV16 ? 16 : u ? 32 : 64;
    const per = cbits >>> (3 + size);
    ldv(c, n, size, count, false, NL, NH);
    for (let k = 0; k < count; k++) {
      const base = k - (k % per);
      st(c, d, size, base + per - 1 - (k - base), NL[k]!, NH[k]!);
    }
    clearHigh(c, d, q);
    return;
  }
  const signed = op !== OP2_CLZ || u === 0;
  ldv(c, n, size, count, signed, NL, NH);
  const esize = 8 << size;
  for (let k = 0; k < count; k++) {
    const al = NL[k]!;
    const ah = NH[k]!;
    let lo: number;
    let hi = 0;
    switch (op) {
      case OP2_CLZ:
        // CLS (U=0) counts the bits after the sign that equal it; CLZ (U=1) the leading zeros.
        lo = u ? countLeading(al, esize) : countLeading(al ^ (al >> 31), esize) - 1;
        break;
      case OP2_CMGT0:
        // CMGT (U=0): > 0; CMGE (U=1): >= 0
        lo = hi = ah > 0 || (ah === 0 && (u ? true : al !== 0)) ? -1 : 0;
        break;
      case OP2_CMEQ0:
        // CMEQ (U=0): == 0; CMLE (U=1): <= 0
        lo = hi = u ? (ah < 0 || (ah === 0 && al === 0) ? -1 : 0) : al === 0 && ah === 0 ? -1 : 0;
        break;
      case OP2_CMLT0:
        lo = hi = ah < 0 ? -1 : 0;
        break;
      default:
        // ABS (U=0) / NEG (U=1)
        if (u || ah < 0) {
          sub64(0, 0, al, ah);
          lo = R.lo;
          hi = R.hi;
        } else {
          lo = al;
          hi = ah;
        }
    }
    RL[k] = lo;
    RH[k] = hi;
  }
  if (scalar) c.vr.fill(0, d * 16, d * 16 + 16);
  for (let k = 0; k < count; k++) st(c, d, size, k, RL[k]!, RH[k]!);
  clearHigh(c, d, q);
}

// ---- across lanes ----------------------------------------------------------------------------

const OPV_ADDLV = 0b00011;
const OPV_MAXV = 0b01010;
const OPV_MINV = 0b11010;
const OPV_ADDV = 0b11011;

function acrossOk(i: number): boolean {
  const q = (i >>> 30) & 1;
  const u = (i >>> 29) & 1;
  const size = (i >>> 22) & 3;
  const op = (i >>> 12) & 31;
  if (size === 3 || (size === 2 && q === 0)) return false;
  return op === OPV_ADDLV || op === OPV_MAXV || op === OPV_MINV || (op === OPV_ADDV && u === 0);
}

function across(c: Cpu, i: number): void {
  fpCheck(c);
  const q = (i >>> 30) & 1;
  const u = (i >>> 29) & 1;
  const size = (i >>> 22) & 3;
  const op = (i >>> 12) & 31;
  const n = (i >>> 5) & 31;
  const d = i & 31;
  const count = (q ? 16 : 8) >>> size;
  const signed = u === 0;
  ldv(c, n, size, count, signed, NL, NH);
  let lo = NL[0]!;
  let hi = NH[0]!;
  for (let k = 1; k < count; k++) {
    if (op === OPV_ADDV || op === OPV_ADDLV) {
      add64(lo, hi, NL[k]!, NH[k]!);
      lo = R.lo;
      hi = R.hi;
    } else {
      const r = cmp64(NL[k]!, NH[k]!, lo, hi, signed);
      if (op === OPV_MAXV ? r > 0 : r < 0) {
        lo = NL[k]!;
        hi = NH[k]!;
      }
    }
  }
  c.vr.fill(0, d * 16, d * 16 + 16);
  st(c, d, op === OPV_ADDLV ? size + 1 : size, 0, lo, hi);
}

// ---- permute and EXT ---------------------------------------------------------------------------

function permute(c: Cpu, i: number): void {
  fpCheck(c);
  const q = (i >>> 30) & 1;
  const size = (i >>> 22) & 3;
  const op = (i >>> 12) & 7;
  const m = (i >>> 16) & 31;
  const n = (i >>> 5) & 31;
  const d = i & 31;
  const count = (q ? 16 : 8) >>> size;
  const half = count >>> 1;
  const part = op >>> 2; // 1: the "2" forms
  ldv(c, n, size, count, false, NL, NH);
  ldv(c, m, size, count, false, ML, MH);
  for (let k = 0; k < count; k++) {
    let fromM: boolean;
    let j: number;
    switch (op & 3) {
      case 1: // UZP: even (1) or odd (2) elements of Vn then of Vm
        fromM = k >= half;
        j = 2 * (k % half) + part;
        break;
      case 2: // TRN: even (or odd) lanes of Vn and Vm interleaved
        fromM = (k & 1) === 1;
        j = (k & ~1) + part;
        break;
      default: // ZIP: the low (or high) halves interleaved
        fromM = (k & 1) === 1;
        j = (k >>> 1) + part * half;
    }
    RL[k] = fromM ? ML[j]! : NL[j]!;
    RH[k] = fromM ? MH[j]! : NH[j]!;
  }
  for (let k = 0; k < count; k++) st(c, d, size, k, RL[k]!, RH[k]!);
  clearHigh(c, d, q);
}

const extBuf = new Uint8Array(32);

/** EXT: bytes imm4.. of the concatenation Vm:Vn. */
function extVec(c: Cpu, i: number): void {
  fpCheck(c);
  const q = (i >>> 30) & 1;
  const imm4 = (i >>> 11) & 15;
  const m = (i >>> 16) & 31;
  const n = (i >>> 5) & 31;
  const d = i & 31;
  const len = q ? 16 : 8;
  const vr = c.vr;
  for (let k = 0; k < len; k++) {
    extBuf[k] = vr[n * 16 + k]!;
    extBuf[len + k] = vr[m * 16 + k]!;
  }
  for (let k = 0; k < len; k++) vr[d * 16 + k] = extBuf[imm4 + k]!;
  clearHigh(c, d, q);
}

// ---- three different ---------------------------------------------------------------------------

const OPD_ADDL = 0b0000;
const OPD_ADDW = 0b0001;
const OPD_SUBL = 0b0010;
const OPD_SUBW = 0b0011;
const OPD_ADDHN = 0b0100;
const OPD_SUBHN = 0b0110;
const OPD_MLAL = 0b1000;
const OPD_MLSL = 0b1010;
const OPD_MULL = 0b1100;

function diffOk(i: number): boolean {
  const size = (i >>> 22) & 3;
  const op = (i >>> 12) & 15;
  if (size === 3) return false;
  return op <= OPD_SUBW || op === OPD_ADDHN || op === OPD_SUBHN || op === OPD_MLAL || op === OPD_MLSL || op === OPD_MULL;
}

function vecDiff(c: Cpu, i: number): void {
  fpCheck(c);
  const q = (i >>> 30) & 1;
  const u = (i >>> 29) & 1;
  const size = (i >>> 22) & 3;
  const op = (i >>> 12) & 15;
  const m = (i >>> 16) & 31;
  const n = (i >>> 5) & 31;
  const d = i & 31;
  const count = 8 >>> size; // wide elements
  const signed = u === 0;
  const part = q ? count : 0; // the "2" forms take the narrow upper half
  if (op === OPD_ADDHN || op === OPD_SUBHN) {
    // Wide Vn +/- wide Vm, the high half of each (U=1: rounded), into one half of Vd.
    ldv(c, n, size + 1, count, false, NL, NH);
    ldv(c, m, size + 1, count, false, ML, MH);
    const esize = 8 << size;
    for (let k = 0; k < count; k++) {
      if (op === OPD_ADDHN) add64(NL[k]!, NH[k]!, ML[k]!, MH[k]!);
      else sub64(NL[k]!, NH[k]!, ML[k]!, MH[k]!);
      if (u) {
        const l = R.lo;
        const h = R.hi;
        shl64(1, 0, esize - 1, false);
        add64(l, h, R.lo, R.hi);
      }
      shl64(R.lo, R.hi, -esize, false);
      st(c, d, size, k + part, R.lo, R.hi);
    }
    clearHigh(c, d, q);
    return;
  }
  const wideN = op === OPD_ADDW || op === OPD_SUBW;
  if (wideN) ldv(c, n, size + 1, count, false, NL, NH);
  else ldv(c, n, size, count, signed, NL, NH, part);
  ldv(c, m, size, count, signed, ML, MH, part);
  if (op === OPD_MLAL || op === OPD_MLSL) ldv(c, d, size + 1, count, false, RL, RH);
  for (let k = 0; k < count; k++) {
    const al = NL[k]!;
    const ah = NH[k]!;
    const bl = ML[k]!;
    const bh = MH[k]!;
    switch (op) {
      case OPD_ADDL:
      case OPD_ADDW:
        add64(al, ah, bl, bh);
        break;
      case OPD_SUBL:
      case OPD_SUBW:
        sub64(al, ah, bl, bh);
        break;
      default: {
        // The product of two extended elements fits 64 bits for size <= 2.
        if (size === 2) mul32(al, bl, signed);
        else mul64lo(al, ah, bl, bh);
        if (op === OPD_MLAL) add64(RL[k]!, RH[k]!, R.lo, R.hi);
        else if (op === OPD_MLSL) sub64(RL[k]!, RH[k]!, R.lo, R.hi);
      }
    }
    RL[k] = R.lo;
    RH[k] = R.hi;
  }
  for (let k = 0; k < count; k++) st(c, d, size + 1, k, RL[k]!, RH[k]!);
}

// ---- shifts by immediate: narrowing, accumulating, scalar --------------------------------------

/** SHRN/RSHRN (and the "2" forms): 2*esize elements of Vn shifted right, truncated, into one half. */
export function shrn(c: Cpu, i: number): void {
  fpCheck(c);
  const q = (i >>> 30) & 1;
  const immh = (i >>> 19) & 15;
  const immhb = (i >>> 16) & 127;
  const round = (i >>> 11) & 1;
  const n = (i >>> 5) & 31;
  const d = i & 31;
  const size = 31 - Math.clz32(immh);
  const sh = 2 * (8 << size) - immhb;
  const count = 8 >>> size;
  ldv(c, n, size + 1, count, false, NL, NH);
  for (let k = 0; k < count; k++) {
    let lo = NL[k]!;
    let hi = NH[k]!;
    if (round) {
      // Plus 1 << (sh-1): a carry out of the pair's 64 bits would land at bit >= esize after the
      // shift (sh <= esize), which the narrowing drops anyway.
      shl64(1, 0, sh - 1, false);
      add64(lo, hi, R.lo, R.hi);
      lo = R.lo;
      hi = R.hi;
    }
    shl64(lo, hi, -sh, false);
    st(c, d, size, k + (q ? count : 0), R.lo, R.hi);
  }
  clearHigh(c, d, q);
}

/**
 * SSRA/USRA (vector), and the scalar D forms of SSHR/USHR/SSRA/USRA/SHL: shift right (or SHL:
 * left) by the immediate, accumulating for SRA.
 */
export function shiftImmAcc(c: Cpu, i: number): void {
  fpCheck(c);
  const scalar = (i >>> 28) & 1;
  const q = scalar ? 0 : (i >>> 30) & 1;
  const u = (i >>> 29) & 1;
  const immh = (i >>> 19) & 15;
  const immhb = (i >>> 16) & 127;
  const op = (i >>> 11) & 31;
  const n = (i >>> 5) & 31;
  const d = i & 31;
  const size = 31 - Math.clz32(immh);
  if (size === 3 && !scalar && !q) c.undef();
  const esize = 8 << size;
  const count = scalar ? 1 : (q ? 16 : 8) >>> size;
  const left = op === 0b01010;
  const acc = op === 0b00010;
  const sh = left ? immhb - esize : -(2 * esize - immhb);
  ldv(c, n, size, count, u === 0, NL, NH);
  if (acc) ldv(c, d, size, count, false, ML, MH);
  for (let k = 0; k < count; k++) {
    shl64(NL[k]!, NH[k]!, sh, u === 0);
    if (acc) add64(ML[k]!, MH[k]!, R.lo, R.hi);
    RL[k] = R.lo;
    RH[k] = R.hi;
  }
  if (scalar) c.vr.fill(0, d * 16, d * 16 + 16);
  for (let k = 0; k < count; k++) st(c, d, size, k, RL[k]!, RH[k]!);
  clearHigh(c, d, q);
}

export const SIMD_INT_ENCODINGS: readonly Encoding[] = [
  { name: 'VEC_3SAME_INT', pattern: '0 Q:1 U:1 01110 size:2 1 Rm:5 opcode:5 1 Rn:5 Rd:5', exec: vecSame, check: sameOk, group: 'simd' },
  { name: 'VEC_2MISC_INT', pattern: '0 Q:1 U:1 01110 size:2 10000 opcode:5 10 Rn:5 Rd:5', exec: vecMisc, check: miscOk, group: 'simd' },
  { name: 'SCALAR_2MISC', pattern: '01 U:1 11110 size:2 10000 opcode:5 10 Rn:5 Rd:5', exec: vecMisc, check: miscOk, group: 'simd' },
  { name: 'VEC_ACROSS', pattern: '0 Q:1 U:1 01110 size:2 11000 opcode:5 10 Rn:5 Rd:5', exec: across, check: acrossOk, group: 'simd' },
  { name: 'VEC_PERMUTE', pattern: '0 Q:1 0 01110 size:2 0 Rm:5 0 opcode:3 10 Rn:5 Rd:5', exec: permute, check: (i) => ((i >>> 12) & 3) !== 0 && (((i >>> 22) & 3) !== 3 || ((i >>> 30) & 1) === 1), group: 'simd' },
  { name: 'EXT', pattern: '0 Q:1 101110 00 0 Rm:5 0 imm4:4 0 Rn:5 Rd:5', exec: extVec, check: (i) => ((i >>> 30) & 1) === 1 || ((i >>> 14) & 1) === 0, group: 'simd' },
  { name: 'VEC_3DIFF', pattern: '0 Q:1 U:1 01110 size:2 1 Rm:5 opcode:4 00 Rn:5 Rd:5', exec: vecDiff, check: diffOk, group: 'simd' },
  { name: 'SCALAR_SHIFT_IMM', pattern: '01 U:1 111110 immh:4 immb:3 opcode:5 1 Rn:5 Rd:5', exec: shiftImmAcc, check: (i) => {
    const op = (i >>> 11) & 31;
    return ((i >>> 19) & 8) !== 0 && (op === 0 || op === 0b00010 || (op === 0b01010 && ((i >>> 29) & 1) === 0));
  }, group: 'simd' },
  { name: 'ADDP_scalar', pattern: '01 0 11110 11 11000 11011 10 Rn:5 Rd:5', exec: addpScalar, group: 'simd' },
];
