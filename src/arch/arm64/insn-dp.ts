/**
 * A64 data processing, immediate: PC-relative addressing, add/sub, logical, move wide, bitfield,
 * extract; and the flag helpers every group shares (ADDS, ConditionHolds). The register forms are
 * in insn-dp-reg.ts. Encodings as table rows with their handlers (lo/hi pairs) and, for the block
 * JIT, their inline forms (emit.ts).
 *
 * Register operands: `r << 1` indexes X[r] with 31 = SP (SP-form encodings); ZR[r]/WZ[r] read
 * and write with 31 = XZR.
 * @module
 */
import { asr64, logicalImm, lsl64, lsr64, ones64, R } from './alu.js';
import type { Cpu } from './cpu.js';
import { withAttrs, type Encoding } from './decoder.js';
import { SHIFT, type Emitter, type JitForm, type Pair, type Val } from './emit.js';
import { numHi, numLo, WZ, ZR } from './state.js';

// ---- flags ------------------------------------------------------------------------------------------

/** R = a + b + cin (64-bit) and NZCV. */
export function adds64(c: Cpu, alo: number, ahi: number, blo: number, bhi: number, cin: number): void {
  const l = (alo >>> 0) + (blo >>> 0) + cin;
  const h = (ahi >>> 0) + (bhi >>> 0) + (l > 0xffffffff ? 1 : 0);
  const rlo = l | 0;
  const rhi = h | 0;
  c.n = rhi >>> 31;
  c.z = (rlo | rhi) === 0 ? 1 : 0;
  c.c = h > 0xffffffff ? 1 : 0;
  c.v = ((ahi ^ rhi) & (bhi ^ rhi)) >>> 31;
  R.lo = rlo;
  R.hi = rhi;
}

/** a + b + cin (32-bit) with NZCV. */
export function adds32(c: Cpu, a: number, b: number, cin: number): number {
  const s = (a >>> 0) + (b >>> 0) + cin;
  const r = s | 0;
  c.n = r >>> 31;
  c.z = r === 0 ? 1 : 0;
  c.c = s > 0xffffffff ? 1 : 0;
  c.v = ((a ^ r) & (b ^ r)) >>> 31;
  return r;
}

/** ConditionHolds(cond) on PSTATE.NZCV. */
export function condHolds(c: Cpu, cond: number): boolean {
  let r: boolean;
  switch (cond >>> 1) {
    case 0:
      r = c.z === 1;
      break;
    case 1:
      r = c.c === 1;
      break;
    case 2:
      r = c.n === 1;
      break;
    case 3:
      r = c.v === 1;
      break;
    case 4:
      r = c.c === 1 && c.z === 0;
      break;
    case 5:
      r = c.n === c.v;
      break;
    case 6:
      r = c.n === c.v && c.z === 0;
      break;
    default:
      return true;
  }
  return (cond & 1) !== 0 ? !r : r;
}

/** Register fields of the data-processing encodings. */
export const rd = (i: number) => i & 31;
export const rn = (i: number) => (i >>> 5) & 31;
export const rm = (i: number) => (i >>> 16) & 31;
export const ra = (i: number) => (i >>> 10) & 31;

// ---- PC-relative ------------------------------------------------------------------------------------

function adr(c: Cpu, i: number): void {
  const imm = (((i >> 5) << 2) & ~3) | ((i >>> 29) & 3); // immhi:immlo, sign from bit 23
  const off = ((imm << 11) >> 11); // 21-bit signed
  const v = c.insnPc + off;
  const d = WZ[rd(i)]!;
  c.x[d] = numLo(v);
  c.x[d + 1] = numHi(v);
}

function adrp(c: Cpu, i: number): void {
  const imm = ((((i >> 5) << 2) & ~3) | ((i >>> 29) & 3)) << 11 >> 11;
  const base = c.insnPc - (c.insnPc & 4095);
  const v = base + imm * 4096;
  const d = WZ[rd(i)]!;
  c.x[d] = numLo(v);
  c.x[d + 1] = numHi(v);
}

// ---- add/sub immediate ----------------------------------------------------------------------------

const imm12 = (i: number) => ((i >>> 10) & 0xfff) << ((i >>> 22) & 1 ? 12 : 0);

function addImm64(c: Cpu, i: number): void {
  const x = c.x;
  const n = rn(i) << 1;
  const l = (x[n]! >>> 0) + imm12(i);
  const h = (x[n + 1]! + (l > 0xffffffff ? 1 : 0)) | 0;
  const d = rd(i) << 1;
  x[d] = l | 0;
  x[d + 1] = h;
}

function subImm64(c: Cpu, i: number): void {
  const x = c.x;
  const n = rn(i) << 1;
  const l = (x[n]! >>> 0) - imm12(i);
  const h = (x[n + 1]! - (l < 0 ? 1 : 0)) | 0;
  const d = rd(i) << 1;
  x[d] = l | 0;
  x[d + 1] = h;
}

function addsImm64(c: Cpu, i: number): void {
  const x = c.x;
  const n = rn(i) << 1;
  adds64(c, x[n]!, x[n + 1]!, imm12(i), 0, 0);
  const d = WZ[rd(i)]!;
  x[d] = R.lo;
  x[d + 1] = R.hi;
}

function subsImm64(c: Cpu, i: number): void {
  const x = c.x;
  const n = rn(i) << 1;
  adds64(c, x[n]!, x[n + 1]!, ~imm12(i), -1, 1);
  const d = WZ[rd(i)]!;
  x[d] = R.lo;
  x[d + 1] = R.hi;
}

function addImm32(c: Cpu, i: number): void {
  const x = c.x;
  const d = rd(i) << 1;
  x[d] = (x[rn(i) << 1]! + imm12(i)) | 0;
  x[d + 1] = 0;
}

function subImm32(c: Cpu, i: number): void {
  const x = c.x;
  const d = rd(i) << 1;
  x[d] = (x[rn(i) << 1]! - imm12(i)) | 0;
  x[d + 1] = 0;
}

function addsImm32(c: Cpu, i: number): void {
  const x = c.x;
  const r = adds32(c, x[rn(i) << 1]!, imm12(i), 0);
  const d = WZ[rd(i)]!;
  x[d] = r;
  x[d + 1] = 0;
}

function subsImm32(c: Cpu, i: number): void {
  const x = c.x;
  const r = adds32(c, x[rn(i) << 1]!, ~imm12(i), 1);
  const d = WZ[rd(i)]!;
  x[d] = r;
  x[d + 1] = 0;
}

// ---- logical immediate ----------------------------------------------------------------------------

function logImm(c: Cpu, i: number): void {
  const sf = i >>> 31;
  const opc = (i >>> 29) & 3;
  logicalImm((i >>> 22) & 1, (i >>> 16) & 0x3f, (i >>> 10) & 0x3f); // valid: the decoder checked
  const x = c.x;
  const n = ZR[rn(i)]!;
  let lo = x[n]!;
  let hi = sf ? x[n + 1]! : 0;
  const mlo = R.lo;
  const mhi = sf ? R.hi : 0;
  switch (opc) {
    case 0:
    case 3:
      lo &= mlo;
      hi &= mhi;
      break;
    case 1:
      lo |= mlo;
      hi |= mhi;
      break;
    default:
      lo ^= mlo;
      hi ^= mhi;
  }
  if (opc === 3) {
    // ANDS: Rd is XZR-form
    c.n = sf ? hi >>> 31 : lo >>> 31;
    c.z = (lo | hi) === 0 ? 1 : 0;
    c.c = 0;
    c.v = 0;
    const d = WZ[rd(i)]!;
    x[d] = lo;
    x[d + 1] = hi;
    return;
  }
  const d = rd(i) << 1; // AND/ORR/EOR immediate write SP when Rd = 31
  x[d] = lo;
  x[d + 1] = hi;
}

// ---- move wide ------------------------------------------------------------------------------------

function movz(c: Cpu, i: number): void {
  const hw = (i >>> 21) & 3;
  const imm = (i >>> 5) & 0xffff;
  const d = WZ[rd(i)]!;
  const x = c.x;
  if (hw < 2) {
    x[d] = imm << (16 * hw);
    x[d + 1] = 0;
  } else {
    x[d] = 0;
    x[d + 1] = imm << (16 * (hw - 2));
  }
}

function movn(c: Cpu, i: number): void {
  movz(c, i);
  const d = WZ[rd(i)]!;
  const x = c.x;
  x[d] = ~x[d]!;
  x[d + 1] = i >>> 31 ? ~x[d + 1]! : 0;
}

function movk(c: Cpu, i: number): void {
  const hw = (i >>> 21) & 3;
  const imm = (i >>> 5) & 0xffff;
  const d = WZ[rd(i)]!;
  const x = c.x;
  const sh = 16 * (hw & 1);
  const m = ~(0xffff << sh);
  if (hw < 2) x[d] = (x[d]! & m) | (imm << sh);
  else x[d + 1] = (x[d + 1]! & m) | (imm << sh);
  if (!(i >>> 31)) x[d + 1] = 0;
}

// ---- bitfield -------------------------------------------------------------------------------------

function bitfield(c: Cpu, i: number): void {
  const sf = i >>> 31;
  const opc = (i >>> 29) & 3; // 0 SBFM, 1 BFM, 2 UBFM
  const immr = (i >>> 16) & 0x3f;
  const imms = (i >>> 10) & 0x3f;
  const x = c.x;
  const n = ZR[rn(i)]!;
  const d = WZ[rd(i)]!;
  if (opc !== 1) {
    // The common aliases on their own: LSR/ASR (imms = 63), LSL (imms + 1 = immr), and
    // UBFX/SBFX of a field inside the low word.
    if (imms === 63) {
      if (opc === 2) lsr64(x[n]!, x[n + 1]!, immr);
      else asr64(x[n]!, x[n + 1]!, immr);
      x[d] = R.lo;
      x[d + 1] = R.hi;
      return;
    }
    if (opc === 2 && imms + 1 === immr) {
      lsl64(x[n]!, x[n + 1]!, 63 - imms);
      x[d] = R.lo;
      x[d + 1] = R.hi;
      return;
    }
    if (imms >= immr && imms < 32) {
      const width = imms - immr + 1;
      const field = (x[n]! >>> immr) & (width === 32 ? -1 : (1 << width) - 1);
      const lo = opc === 2 ? field : (field << (32 - width)) >> (32 - width);
      x[d] = lo;
      x[d + 1] = opc === 2 ? 0 : lo >> 31;
      return;
    }
  }
  const size = sf ? 64 : 32;
  let slo = x[n]!;
  let shi = sf ? x[n + 1]! : 0;
  let flo: number; // the field, placed
  let fhi: number;
  let mlo: number; // mask of the destination bits written
  let mhi: number;
  let signBit: number; // index of the field's top bit in the result (for SBFM)
  if (imms >= immr) {
    const width = imms - immr + 1;
    ones64(width);
    mlo = R.lo;
    mhi = R.hi;
    lsr64(slo, shi, immr);
    flo = R.lo & mlo;
    fhi = R.hi & mhi;
    signBit = width - 1;
  } else {
    const width = imms + 1;
    const pos = size - immr;
    ones64(width);
    const wlo = R.lo;
    const whi = R.hi;
    slo &= wlo;
    shi &= whi;
    lsl64(slo, shi, pos);
    flo = R.lo;
    fhi = R.hi;
    lsl64(wlo, whi, pos);
    mlo = R.lo;
    mhi = R.hi;
    signBit = pos + width - 1;
  }
  let lo: number;
  let hi: number;
  if (opc === 1) {
    lo = (x[d]! & ~mlo) | flo;
    hi = sf ? (x[d + 1]! & ~mhi) | fhi : 0;
  } else if (opc === 2) {
    lo = flo;
    hi = fhi;
  } else {
    // SBFM: bits above the field copy its top bit; bits below (LSL form) are zero.
    const top = signBit >= 32 ? (fhi >>> (signBit - 32)) & 1 : (flo >>> signBit) & 1;
    lo = flo;
    hi = fhi;
    if (top) {
      ones64(signBit + 1);
      lo |= ~R.lo;
      hi |= ~R.hi;
    }
  }
  x[d] = lo;
  x[d + 1] = sf ? hi : 0;
}

/** The 32-bit SBFM/BFM/UBFM (sf = 0): the same semantics on one int32. */
function bitfield32(c: Cpu, i: number): void {
  const opc = (i >>> 29) & 3;
  const immr = (i >>> 16) & 31;
  const imms = (i >>> 10) & 31;
  const x = c.x;
  const src = x[ZR[rn(i)]!]!;
  const d = WZ[rd(i)]!;
  let r: number;
  if (imms >= immr) {
    const width = imms - immr + 1;
    const m = width === 32 ? -1 : (1 << width) - 1;
    const field = (src >>> immr) & m;
    if (opc === 2) r = field;
    else if (opc === 0) r = (field << (32 - width)) >> (32 - width);
    else r = (x[d]! & ~m) | field;
  } else {
    const width = imms + 1;
    const pos = 32 - immr;
    const m = (1 << width) - 1;
    if (opc === 2) r = (src & m) << pos;
    else if (opc === 0) r = ((src << (32 - width)) >> (32 - width)) << pos;
    else r = (x[d]! & ~(m << pos)) | ((src & m) << pos);
  }
  x[d] = r;
  x[d + 1] = 0;
}

function extr(c: Cpu, i: number): void {
  const sf = i >>> 31;
  const lsb = (i >>> 10) & 0x3f;
  const x = c.x;
  const n = ZR[rn(i)]!;
  const m = ZR[rm(i)]!;
  const d = WZ[rd(i)]!;
  if (!sf) {
    const hiW = x[n]!;
    const loW = x[m]!;
    x[d] = lsb === 0 ? loW : (loW >>> lsb) | (hiW << (32 - lsb));
    x[d + 1] = 0;
    return;
  }
  // (Rn:Rm) >> lsb, low 64 bits
  const nlo = x[n]!;
  const nhi = x[n + 1]!;
  const mlo = x[m]!;
  const mhi = x[m + 1]!;
  if (lsb === 0) {
    x[d] = mlo;
    x[d + 1] = mhi;
  } else if (lsb < 32) {
    x[d] = (mlo >>> lsb) | (mhi << (32 - lsb));
    x[d + 1] = (mhi >>> lsb) | (nlo << (32 - lsb));
  } else if (lsb === 32) {
    x[d] = mhi;
    x[d + 1] = nlo;
  } else {
    const s = lsb - 32;
    x[d] = (mhi >>> s) | (nlo << (32 - s));
    x[d + 1] = (nlo >>> s) | (nhi << (32 - s));
  }
}

// ---- validity checks --------------------------------------------------------------------------------

const bitfieldOk = (i: number) => {
  const sf = i >>> 31;
  const nbit = (i >>> 22) & 1;
  if (sf !== nbit) return false;
  return sf === 1 || (((i >>> 21) & 1) === 0 && ((i >>> 15) & 1) === 0);
};
const logImmOk = (i: number) => (i >>> 31 === 1 || ((i >>> 22) & 1) === 0) && logicalImm((i >>> 22) & 1, (i >>> 16) & 0x3f, (i >>> 10) & 0x3f);

// ---- inline forms (block JIT) ---------------------------------------------------------------------

/** A W result: the value, zero-extended. */
export const w32 = (e: Emitter, v: Val): Pair => ({ lo: v, hi: e.k(0) });

const jitAdr: JitForm = (e, w, pc) => {
  const imm = ((((w >> 5) << 2) & ~3) | ((w >>> 29) & 3)) << 11 >> 11;
  e.set(rd(w), e.k64(w >>> 31 ? pc - (pc & 4095) + imm * 4096 : pc + imm), true);
  return true;
};

/** ADD/SUB (immediate), 64-bit: Rd and Rn are SP-form. */
const jitAddImm64: JitForm = (e, w) => {
  const imm = imm12(w);
  e.set(rd(w), e.addK64(e.x(rn(w)), (w >>> 30) & 1 ? -imm : imm), false);
  return true;
};

const jitAddImm32: JitForm = (e, w) => {
  e.set(rd(w), w32(e, e.op(e.x(rn(w)).lo, (w >>> 30) & 1 ? '-' : '+', e.k(imm12(w)))), false);
  return true;
};

/** ADDS/SUBS (immediate): SUBS adds ~imm + 1. */
const jitAddsImm: JitForm = (e, w) => {
  const imm = imm12(w);
  const sub = (w >>> 30) & 1;
  if (w >>> 31) e.set(rd(w), e.add64(e.x(rn(w)), sub ? { lo: e.k(~imm), hi: e.k(-1) } : { lo: e.k(imm), hi: e.k(0) }, sub as 0 | 1, true), true);
  else e.set(rd(w), w32(e, e.add32(e.x(rn(w)).lo, e.k(sub ? ~imm : imm), sub as 0 | 1, true)), true);
  return true;
};

const jitLogImm: JitForm = (e, w) => {
  const sf = w >>> 31;
  const opc = (w >>> 29) & 3;
  if (!logicalImm((w >>> 22) & 1, (w >>> 16) & 0x3f, (w >>> 10) & 0x3f)) return false;
  const ml = R.lo;
  const mh = sf ? R.hi : 0;
  const n = rn(w);
  // MOV (bitmask immediate): ORR from XZR.
  if (n === 31 && opc === 1) {
    e.set(rd(w), { lo: e.k(ml), hi: e.k(mh) }, false);
    return true;
  }
  const o = opc === 1 ? '|' : opc === 2 ? '^' : '&';
  const src = e.z(n);
  const r = { lo: e.op(src.lo, o, e.k(ml)), hi: sf ? e.op(src.hi, o, e.k(mh)) : e.k(0) };
  if (opc !== 3) {
    e.set(rd(w), r, false);
    return true;
  }
  const t = e.pairTemp(r);
  e.flagsLogic(sf ? t : t.lo);
  e.set(rd(w), t, true);
  return true;
};

const jitMovWide: JitForm = (e, w) => {
  const hw = (w >>> 21) & 3;
  const imm = (w >>> 5) & 0xffff;
  const opc = (w >>> 29) & 3;
  if (opc === 3) {
    // MOVK: one 16-bit field of one half; a W destination clears the high half.
    const d = rd(w);
    if (d === 31) return true;
    const sh = 16 * (hw & 1);
    const half = hw < 2 ? 0 : 1;
    e.setHalf(d, half, e.op(e.op(e.x(d)[half ? 'hi' : 'lo'], '&', e.k(~(0xffff << sh))), '|', e.k(imm << sh)));
    if (!(w >>> 31) && half === 0) e.setHalf(d, 1, e.k(0));
    return true;
  }
  let lo = hw < 2 ? (imm << (16 * hw)) | 0 : 0;
  let hi = hw < 2 ? 0 : (imm << (16 * (hw - 2))) | 0;
  if (opc === 0) {
    lo = ~lo;
    hi = w >>> 31 ? ~hi : 0;
  }
  e.set(rd(w), { lo: e.k(lo), hi: e.k(hi) }, true);
  return true;
};

/** UBFM/SBFM (64-bit): the shift and 32-bit field extractions compilers emit. */
const jitBitfield64: JitForm = (e, w) => {
  const immr = (w >>> 16) & 0x3f;
  const imms = (w >>> 10) & 0x3f;
  const u = ((w >>> 29) & 3) === 2;
  const src = e.z(rn(w));
  if (imms === 63) {
    e.set(rd(w), e.shift64(u ? SHIFT.LSR : SHIFT.ASR, src, immr), true); // LSR / ASR
    return true;
  }
  if (u && imms + 1 === immr) {
    e.set(rd(w), e.shift64(SHIFT.LSL, src, 63 - imms), true); // LSL
    return true;
  }
  if (imms < immr || imms >= 32) return false;
  const width = imms - immr + 1;
  const f = e.op(e.op(src.lo, '>>>', e.k(immr)), '&', e.k(width === 32 ? -1 : (1 << width) - 1));
  if (u) e.set(rd(w), w32(e, f), true);
  else {
    const lo = e.temp(e.op(e.op(f, '<<', e.k(32 - width)), '>>', e.k(32 - width)));
    e.set(rd(w), { lo, hi: e.op(lo, '>>', e.k(31)) }, true);
  }
  return true;
};

const jitBitfield32: JitForm = (e, w) => {
  const opc = (w >>> 29) & 3;
  const immr = (w >>> 16) & 31;
  const imms = (w >>> 10) & 31;
  const src = e.z(rn(w)).lo;
  const k = e.k.bind(e);
  let r: Val;
  if (imms >= immr) {
    const width = imms - immr + 1;
    const m = width === 32 ? -1 : (1 << width) - 1;
    const field = e.op(e.op(src, '>>>', k(immr)), '&', k(m));
    if (opc === 2) r = field;
    else if (opc === 0) r = e.op(e.op(field, '<<', k(32 - width)), '>>', k(32 - width));
    else r = e.op(e.op(e.z(rd(w)).lo, '&', k(~m)), '|', field);
  } else {
    const width = imms + 1;
    const pos = 32 - immr;
    const m = (1 << width) - 1;
    if (opc === 2) r = e.op(e.op(src, '&', k(m)), '<<', k(pos));
    else if (opc === 0) r = e.op(e.op(e.op(src, '<<', k(32 - width)), '>>', k(32 - width)), '<<', k(pos));
    else r = e.op(e.op(e.z(rd(w)).lo, '&', k(~(m << pos))), '|', e.op(e.op(src, '&', k(m)), '<<', k(pos)));
  }
  e.set(rd(w), w32(e, r), true);
  return true;
};

/**
 * The data-processing (immediate) rows. Groups: dp-pcrel, dp-imm (used by the random program
 * generator). Their handlers are pure register work, except ADR/ADRP's (they read the PC; they
 * are always inlined).
 */
export const DP_ENCODINGS: readonly Encoding[] = [
  { name: 'ADR', pattern: '0 immlo:2 10000 immhi:19 Rd:5', exec: adr, group: 'dp-pcrel', jit: jitAdr },
  { name: 'ADRP', pattern: '1 immlo:2 10000 immhi:19 Rd:5', exec: adrp, group: 'dp-pcrel', jit: jitAdr },
  ...withAttrs({ pure: true }, [
    { name: 'ADD_imm_64', pattern: '1 0 0 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: addImm64, group: 'dp-imm', jit: jitAddImm64 },
    { name: 'ADDS_imm_64', pattern: '1 0 1 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: addsImm64, group: 'dp-imm', jit: jitAddsImm },
    { name: 'SUB_imm_64', pattern: '1 1 0 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: subImm64, group: 'dp-imm', jit: jitAddImm64 },
    { name: 'SUBS_imm_64', pattern: '1 1 1 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: subsImm64, group: 'dp-imm', jit: jitAddsImm },
    { name: 'ADD_imm_32', pattern: '0 0 0 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: addImm32, group: 'dp-imm', jit: jitAddImm32 },
    { name: 'ADDS_imm_32', pattern: '0 0 1 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: addsImm32, group: 'dp-imm', jit: jitAddsImm },
    { name: 'SUB_imm_32', pattern: '0 1 0 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: subImm32, group: 'dp-imm', jit: jitAddImm32 },
    { name: 'SUBS_imm_32', pattern: '0 1 1 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: subsImm32, group: 'dp-imm', jit: jitAddsImm },

    { name: 'LOGICAL_imm', pattern: 'sf:1 opc:2 100100 N:1 immr:6 imms:6 Rn:5 Rd:5', exec: logImm, check: logImmOk, group: 'dp-imm', jit: jitLogImm },

    { name: 'MOVN', pattern: 'sf:1 00 100101 hw:2 imm16:16 Rd:5', exec: movn, check: (i) => i >>> 31 === 1 || ((i >>> 22) & 1) === 0, group: 'dp-imm', jit: jitMovWide },
    { name: 'MOVZ', pattern: 'sf:1 10 100101 hw:2 imm16:16 Rd:5', exec: movz, check: (i) => i >>> 31 === 1 || ((i >>> 22) & 1) === 0, group: 'dp-imm', jit: jitMovWide },
    { name: 'MOVK', pattern: 'sf:1 11 100101 hw:2 imm16:16 Rd:5', exec: movk, check: (i) => i >>> 31 === 1 || ((i >>> 22) & 1) === 0, group: 'dp-imm', jit: jitMovWide },

    { name: 'SBFM_64', pattern: '1 00 100110 N:1 immr:6 imms:6 Rn:5 Rd:5', exec: bitfield, check: bitfieldOk, group: 'dp-imm', jit: jitBitfield64 },
    { name: 'BFM_64', pattern: '1 01 100110 N:1 immr:6 imms:6 Rn:5 Rd:5', exec: bitfield, check: bitfieldOk, group: 'dp-imm' },
    { name: 'UBFM_64', pattern: '1 10 100110 N:1 immr:6 imms:6 Rn:5 Rd:5', exec: bitfield, check: bitfieldOk, group: 'dp-imm', jit: jitBitfield64 },
    { name: 'SBFM_32', pattern: '0 00 100110 N:1 immr:6 imms:6 Rn:5 Rd:5', exec: bitfield32, check: bitfieldOk, group: 'dp-imm', jit: jitBitfield32 },
    { name: 'BFM_32', pattern: '0 01 100110 N:1 immr:6 imms:6 Rn:5 Rd:5', exec: bitfield32, check: bitfieldOk, group: 'dp-imm', jit: jitBitfield32 },
    { name: 'UBFM_32', pattern: '0 10 100110 N:1 immr:6 imms:6 Rn:5 Rd:5', exec: bitfield32, check: bitfieldOk, group: 'dp-imm', jit: jitBitfield32 },
    { name: 'EXTR', pattern: 'sf:1 00 100111 N:1 0 Rm:5 imms:6 Rn:5 Rd:5', exec: extr, check: (i) => i >>> 31 === ((i >>> 22) & 1) && (i >>> 31 === 1 || ((i >>> 15) & 1) === 0), group: 'dp-imm' },
  ]),
];
