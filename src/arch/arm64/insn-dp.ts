/**
 * A64 data processing: immediate (PC-relative addressing, add/sub, logical, move wide, bitfield,
 * extract) and register (logical and add/sub shifted, add/sub extended, with carry, conditional
 * compare and select, 1/2/3-source). Encodings as table rows; handlers work on lo/hi pairs.
 *
 * Register operands: `r << 1` indexes X[r] with 31 = SP (SP-form encodings); ZR[r]/WZ[r] read
 * and write with 31 = XZR.
 * @module
 */
import { add64, asr64, clz64, crc32Update, CRC32C_TABLE, CRC32_TABLE, logicalImm, lsl64, lsr64, mul64, ones64, R, rbit32, rev16, rev32, ror32, ror64, sdiv64, shift32, shift64, smulh64, sub64, udiv64, umulh64 } from './alu.js';
import type { Cpu } from './cpu.js';
import type { Encoding } from './decoder.js';
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

const rd = (i: number) => i & 31;
const rn = (i: number) => (i >>> 5) & 31;
const rm = (i: number) => (i >>> 16) & 31;
const ra = (i: number) => (i >>> 10) & 31;

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

// ---- logical (shifted register) -----------------------------------------------------------------

function logReg64(c: Cpu, i: number): void {
  const x = c.x;
  const m = ZR[rm(i)]!;
  const amt = (i >>> 10) & 0x3f;
  let blo = x[m]!;
  let bhi = x[m + 1]!;
  if (amt !== 0) {
    shift64((i >>> 22) & 3, blo, bhi, amt);
    blo = R.lo;
    bhi = R.hi;
  }
  if (i & (1 << 21)) {
    blo = ~blo;
    bhi = ~bhi;
  }
  const n = ZR[rn(i)]!;
  let lo = x[n]!;
  let hi = x[n + 1]!;
  const opc = (i >>> 29) & 3;
  if (opc === 1) {
    lo |= blo;
    hi |= bhi;
  } else if (opc === 2) {
    lo ^= blo;
    hi ^= bhi;
  } else {
    lo &= blo;
    hi &= bhi;
    if (opc === 3) {
      c.n = hi >>> 31;
      c.z = (lo | hi) === 0 ? 1 : 0;
      c.c = 0;
      c.v = 0;
    }
  }
  const d = WZ[rd(i)]!;
  x[d] = lo;
  x[d + 1] = hi;
}

function logReg32(c: Cpu, i: number): void {
  const x = c.x;
  const amt = (i >>> 10) & 0x3f;
  let b = x[ZR[rm(i)]!]!;
  if (amt !== 0) b = shift32((i >>> 22) & 3, b, amt);
  if (i & (1 << 21)) b = ~b;
  let a = x[ZR[rn(i)]!]!;
  const opc = (i >>> 29) & 3;
  if (opc === 1) a |= b;
  else if (opc === 2) a ^= b;
  else {
    a &= b;
    if (opc === 3) {
      c.n = a >>> 31;
      c.z = a === 0 ? 1 : 0;
      c.c = 0;
      c.v = 0;
    }
  }
  const d = WZ[rd(i)]!;
  x[d] = a;
  x[d + 1] = 0;
}

/** MOV Xd, Xm (ORR Xd, XZR, Xm): the most common register move, kept branch-free. */
function movReg64(c: Cpu, i: number): void {
  const x = c.x;
  const m = ZR[rm(i)]!;
  const d = WZ[rd(i)]!;
  x[d] = x[m]!;
  x[d + 1] = x[m + 1]!;
}

function movReg32(c: Cpu, i: number): void {
  const x = c.x;
  const d = WZ[rd(i)]!;
  x[d] = x[ZR[rm(i)]!]!;
  x[d + 1] = 0;
}

// ---- add/sub (shifted register) -----------------------------------------------------------------

function addSubReg64(c: Cpu, i: number): void {
  const x = c.x;
  const m = ZR[rm(i)]!;
  const amt = (i >>> 10) & 0x3f;
  let blo = x[m]!;
  let bhi = x[m + 1]!;
  if (amt !== 0) {
    shift64((i >>> 22) & 3, blo, bhi, amt);
    blo = R.lo;
    bhi = R.hi;
  }
  const n = ZR[rn(i)]!;
  const sub = (i >>> 30) & 1;
  if (i & (1 << 29)) {
    if (sub) adds64(c, x[n]!, x[n + 1]!, ~blo, ~bhi, 1);
    else adds64(c, x[n]!, x[n + 1]!, blo, bhi, 0);
  } else if (sub) sub64(x[n]!, x[n + 1]!, blo, bhi);
  else add64(x[n]!, x[n + 1]!, blo, bhi);
  const d = WZ[rd(i)]!;
  x[d] = R.lo;
  x[d + 1] = R.hi;
}

function addSubReg32(c: Cpu, i: number): void {
  const x = c.x;
  const amt = (i >>> 10) & 0x3f;
  let b = x[ZR[rm(i)]!]!;
  if (amt !== 0) b = shift32((i >>> 22) & 3, b, amt);
  const a = x[ZR[rn(i)]!]!;
  const sub = (i >>> 30) & 1;
  let r: number;
  if (i & (1 << 29)) r = sub ? adds32(c, a, ~b, 1) : adds32(c, a, b, 0);
  else r = sub ? (a - b) | 0 : (a + b) | 0;
  const d = WZ[rd(i)]!;
  x[d] = r;
  x[d + 1] = 0;
}

// ---- add/sub (extended register) ----------------------------------------------------------------

/** ExtendReg(Rm, option, shift) into R. */
function extendReg(c: Cpu, m: number, option: number, sh: number): void {
  const x = c.x;
  let lo = x[m]!;
  let hi = x[m + 1]!;
  switch (option) {
    case 0: // UXTB
      lo &= 0xff;
      hi = 0;
      break;
    case 1: // UXTH
      lo &= 0xffff;
      hi = 0;
      break;
    case 2: // UXTW
      hi = 0;
      break;
    case 3: // UXTX
      break;
    case 4: // SXTB
      lo = (lo << 24) >> 24;
      hi = lo >> 31;
      break;
    case 5: // SXTH
      lo = (lo << 16) >> 16;
      hi = lo >> 31;
      break;
    case 6: // SXTW
      hi = lo >> 31;
      break;
    default: // SXTX
      break;
  }
  lsl64(lo, hi, sh);
}

function addSubExt(c: Cpu, i: number): void {
  const sf = i >>> 31;
  const sh = (i >>> 10) & 7;
  if (sh > 4) c.undef();
  const x = c.x;
  extendReg(c, ZR[rm(i)]!, (i >>> 13) & 7, sh);
  const blo = R.lo;
  let bhi = R.hi;
  const n = rn(i) << 1; // SP form
  const alo = x[n]!;
  const ahi = sf ? x[n + 1]! : 0;
  if (!sf) bhi = 0;
  const sub = (i >>> 30) & 1;
  const setFlags = (i >>> 29) & 1;
  let lo: number;
  let hi: number;
  if (!sf) {
    const b = blo;
    if (setFlags) lo = sub ? adds32(c, alo, ~b, 1) : adds32(c, alo, b, 0);
    else lo = sub ? (alo - b) | 0 : (alo + b) | 0;
    hi = 0;
  } else {
    if (setFlags) {
      if (sub) adds64(c, alo, ahi, ~blo, ~bhi, 1);
      else adds64(c, alo, ahi, blo, bhi, 0);
    } else if (sub) sub64(alo, ahi, blo, bhi);
    else add64(alo, ahi, blo, bhi);
    lo = R.lo;
    hi = R.hi;
  }
  const d = setFlags ? WZ[rd(i)]! : rd(i) << 1; // ADD/SUB (extended) write SP; ADDS/SUBS write XZR
  x[d] = lo;
  x[d + 1] = hi;
}

// ---- add/sub with carry ---------------------------------------------------------------------------

function adcSbc(c: Cpu, i: number): void {
  const sf = i >>> 31;
  const sub = (i >>> 30) & 1;
  const setFlags = (i >>> 29) & 1;
  const x = c.x;
  const n = ZR[rn(i)]!;
  const m = ZR[rm(i)]!;
  const d = WZ[rd(i)]!;
  const cin = c.c;
  if (sf) {
    const blo = sub ? ~x[m]! : x[m]!;
    const bhi = sub ? ~x[m + 1]! : x[m + 1]!;
    if (setFlags) adds64(c, x[n]!, x[n + 1]!, blo, bhi, cin);
    else {
      const l = (x[n]! >>> 0) + (blo >>> 0) + cin;
      R.lo = l | 0;
      R.hi = (x[n + 1]! + bhi + (l > 0xffffffff ? 1 : 0)) | 0;
    }
    x[d] = R.lo;
    x[d + 1] = R.hi;
  } else {
    const b = sub ? ~x[m]! : x[m]!;
    x[d] = setFlags ? adds32(c, x[n]!, b, cin) : (x[n]! + b + cin) | 0;
    x[d + 1] = 0;
  }
}

// ---- conditional compare / select -------------------------------------------------------------

function ccmp(c: Cpu, i: number): void {
  const sf = i >>> 31;
  const sub = (i >>> 30) & 1;
  if (condHolds(c, (i >>> 12) & 15)) {
    const x = c.x;
    const n = ZR[rn(i)]!;
    let blo: number;
    let bhi: number;
    if (i & (1 << 11)) {
      blo = (i >>> 16) & 31;
      bhi = 0;
    } else {
      const m = ZR[rm(i)]!;
      blo = x[m]!;
      bhi = x[m + 1]!;
    }
    if (sf) {
      if (sub) adds64(c, x[n]!, x[n + 1]!, ~blo, ~bhi, 1);
      else adds64(c, x[n]!, x[n + 1]!, blo, bhi, 0);
    } else if (sub) adds32(c, x[n]!, ~blo, 1);
    else adds32(c, x[n]!, blo, 0);
  } else {
    const nzcv = i & 15;
    c.n = nzcv >>> 3;
    c.z = (nzcv >>> 2) & 1;
    c.c = (nzcv >>> 1) & 1;
    c.v = nzcv & 1;
  }
}

function csel(c: Cpu, i: number): void {
  const sf = i >>> 31;
  const x = c.x;
  const d = WZ[rd(i)]!;
  if (condHolds(c, (i >>> 12) & 15)) {
    const n = ZR[rn(i)]!;
    x[d] = x[n]!;
    x[d + 1] = sf ? x[n + 1]! : 0;
    return;
  }
  const m = ZR[rm(i)]!;
  let lo = x[m]!;
  let hi = sf ? x[m + 1]! : 0;
  const op = ((i >>> 30) & 1) << 1 | ((i >>> 10) & 1); // 0 CSEL, 1 CSINC, 2 CSINV, 3 CSNEG
  if (op === 1) {
    const l = (lo >>> 0) + 1;
    lo = l | 0;
    hi = sf ? (hi + (l > 0xffffffff ? 1 : 0)) | 0 : 0;
  } else if (op === 2) {
    lo = ~lo;
    hi = sf ? ~hi : 0;
  } else if (op === 3) {
    if (sf) {
      sub64(0, 0, lo, hi);
      lo = R.lo;
      hi = R.hi;
    } else lo = -lo | 0;
  }
  x[d] = lo;
  x[d + 1] = hi;
}

// ---- data processing (1 source) -----------------------------------------------------------------

function dp1(c: Cpu, i: number): void {
  const sf = i >>> 31;
  const op = (i >>> 10) & 0x3f;
  const x = c.x;
  const n = ZR[rn(i)]!;
  const d = WZ[rd(i)]!;
  const lo = x[n]!;
  const hi = x[n + 1]!;
  let rlo: number;
  let rhi = 0;
  switch (op) {
    case 0: // RBIT
      if (sf) {
        rlo = rbit32(hi);
        rhi = rbit32(lo);
      } else rlo = rbit32(lo);
      break;
    case 1: // REV16
      rlo = rev16(lo);
      if (sf) rhi = rev16(hi);
      break;
    case 2: // REV (32) / REV32 (64)
      rlo = rev32(lo);
      if (sf) rhi = rev32(hi);
      break;
    case 3: // REV (64)
      rlo = rev32(hi);
      rhi = rev32(lo);
      break;
    case 4: // CLZ
      rlo = sf ? clz64(lo, hi) : Math.clz32(lo);
      break;
    default: {
      // CLS: leading bits equal to the sign bit, not counting it
      if (sf) {
        const s = hi >> 31;
        rlo = clz64(lo ^ s, hi ^ s) - 1;
      } else rlo = Math.clz32(lo ^ (lo >> 31)) - 1;
    }
  }
  x[d] = rlo;
  x[d + 1] = rhi;
}

// ---- data processing (2 source) -----------------------------------------------------------------

function dp2(c: Cpu, i: number): void {
  const sf = i >>> 31;
  const op = (i >>> 10) & 0x3f;
  const x = c.x;
  const n = ZR[rn(i)]!;
  const m = ZR[rm(i)]!;
  const d = WZ[rd(i)]!;
  const alo = x[n]!;
  const ahi = sf ? x[n + 1]! : 0;
  const blo = x[m]!;
  const bhi = sf ? x[m + 1]! : 0;
  let lo: number;
  let hi = 0;
  if (op === 2 || op === 3) {
    if ((blo | bhi) === 0) lo = 0;
    else if (sf) {
      if (op === 2) udiv64(alo, ahi, blo, bhi);
      else sdiv64(alo, ahi, blo, bhi);
      lo = R.lo;
      hi = R.hi;
    } else if (op === 2) lo = Math.floor((alo >>> 0) / (blo >>> 0)) | 0;
    else lo = Math.trunc(alo / blo) | 0; // INT32_MIN / -1 wraps to INT32_MIN
  } else if (op >= 8 && op <= 11) {
    const amt = sf ? blo & 63 : blo & 31;
    if (sf) {
      if (op === 8) lsl64(alo, ahi, amt);
      else if (op === 9) lsr64(alo, ahi, amt);
      else if (op === 10) asr64(alo, ahi, amt);
      else ror64(alo, ahi, amt);
      lo = R.lo;
      hi = R.hi;
    } else if (op === 8) lo = alo << amt;
    else if (op === 9) lo = alo >>> amt;
    else if (op === 10) lo = alo >> amt;
    else lo = ror32(alo, amt);
  } else {
    // CRC32{B,H,W,X} (op 16-19), CRC32C{B,H,W,X} (op 20-23)
    const bytes = 1 << (op & 3);
    lo = crc32Update(op & 4 ? CRC32C_TABLE : CRC32_TABLE, alo, x[m]!, x[m + 1]!, bytes);
  }
  x[d] = lo | 0;
  x[d + 1] = hi;
}

// ---- data processing (3 source) -----------------------------------------------------------------

function madd(c: Cpu, i: number): void {
  const sf = i >>> 31;
  const x = c.x;
  const n = ZR[rn(i)]!;
  const m = ZR[rm(i)]!;
  const a = ZR[ra(i)]!;
  const d = WZ[rd(i)]!;
  const sub = (i >>> 15) & 1;
  if (!sf) {
    const p = Math.imul(x[n]!, x[m]!);
    x[d] = sub ? (x[a]! - p) | 0 : (x[a]! + p) | 0;
    x[d + 1] = 0;
    return;
  }
  mul64(x[n]!, x[n + 1]!, x[m]!, x[m + 1]!);
  if (sub) sub64(x[a]!, x[a + 1]!, R.lo, R.hi);
  else add64(x[a]!, x[a + 1]!, R.lo, R.hi);
  x[d] = R.lo;
  x[d + 1] = R.hi;
}

/** SMADDL/SMSUBL/UMADDL/UMSUBL: 32x32 -> 64 plus Xa. */
function maddl(c: Cpu, i: number): void {
  const x = c.x;
  const n = ZR[rn(i)]!;
  const m = ZR[rm(i)]!;
  const a = ZR[ra(i)]!;
  const d = WZ[rd(i)]!;
  const unsigned = (i >>> 23) & 1;
  const sub = (i >>> 15) & 1;
  const wn = x[n]!;
  const wm = x[m]!;
  mul64(wn, unsigned ? 0 : wn >> 31, wm, unsigned ? 0 : wm >> 31);
  if (sub) sub64(x[a]!, x[a + 1]!, R.lo, R.hi);
  else add64(x[a]!, x[a + 1]!, R.lo, R.hi);
  x[d] = R.lo;
  x[d + 1] = R.hi;
}

function mulh(c: Cpu, i: number): void {
  const x = c.x;
  const n = ZR[rn(i)]!;
  const m = ZR[rm(i)]!;
  const d = WZ[rd(i)]!;
  if ((i >>> 23) & 1) umulh64(x[n]!, x[n + 1]!, x[m]!, x[m + 1]!);
  else smulh64(x[n]!, x[n + 1]!, x[m]!, x[m + 1]!);
  x[d] = R.lo;
  x[d + 1] = R.hi;
}

// ---- validity checks --------------------------------------------------------------------------------

const imm6Ok32 = (i: number) => i >>> 31 === 1 || ((i >>> 15) & 1) === 0;
const bitfieldOk = (i: number) => {
  const sf = i >>> 31;
  const nbit = (i >>> 22) & 1;
  if (sf !== nbit) return false;
  return sf === 1 || (((i >>> 21) & 1) === 0 && ((i >>> 15) & 1) === 0);
};
const logImmOk = (i: number) => (i >>> 31 === 1 || ((i >>> 22) & 1) === 0) && logicalImm((i >>> 22) & 1, (i >>> 16) & 0x3f, (i >>> 10) & 0x3f);

/** The data-processing rows. Groups: dp-imm, dp-reg (used by the random program generator). */
export const DP_ENCODINGS: readonly Encoding[] = [
  { name: 'ADR', pattern: '0 immlo:2 10000 immhi:19 Rd:5', exec: adr, group: 'dp-pcrel' },
  { name: 'ADRP', pattern: '1 immlo:2 10000 immhi:19 Rd:5', exec: adrp, group: 'dp-pcrel' },

  { name: 'ADD_imm_64', pattern: '1 0 0 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: addImm64, group: 'dp-imm' },
  { name: 'ADDS_imm_64', pattern: '1 0 1 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: addsImm64, group: 'dp-imm' },
  { name: 'SUB_imm_64', pattern: '1 1 0 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: subImm64, group: 'dp-imm' },
  { name: 'SUBS_imm_64', pattern: '1 1 1 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: subsImm64, group: 'dp-imm' },
  { name: 'ADD_imm_32', pattern: '0 0 0 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: addImm32, group: 'dp-imm' },
  { name: 'ADDS_imm_32', pattern: '0 0 1 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: addsImm32, group: 'dp-imm' },
  { name: 'SUB_imm_32', pattern: '0 1 0 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: subImm32, group: 'dp-imm' },
  { name: 'SUBS_imm_32', pattern: '0 1 1 100010 sh:1 imm12:12 Rn:5 Rd:5', exec: subsImm32, group: 'dp-imm' },

  { name: 'LOGICAL_imm', pattern: 'sf:1 opc:2 100100 N:1 immr:6 imms:6 Rn:5 Rd:5', exec: logImm, check: logImmOk, group: 'dp-imm' },

  { name: 'MOVN', pattern: 'sf:1 00 100101 hw:2 imm16:16 Rd:5', exec: movn, check: (i) => i >>> 31 === 1 || ((i >>> 22) & 1) === 0, group: 'dp-imm' },
  { name: 'MOVZ', pattern: 'sf:1 10 100101 hw:2 imm16:16 Rd:5', exec: movz, check: (i) => i >>> 31 === 1 || ((i >>> 22) & 1) === 0, group: 'dp-imm' },
  { name: 'MOVK', pattern: 'sf:1 11 100101 hw:2 imm16:16 Rd:5', exec: movk, check: (i) => i >>> 31 === 1 || ((i >>> 22) & 1) === 0, group: 'dp-imm' },

  { name: 'SBFM_64', pattern: '1 00 100110 N:1 immr:6 imms:6 Rn:5 Rd:5', exec: bitfield, check: bitfieldOk, group: 'dp-imm' },
  { name: 'BFM_64', pattern: '1 01 100110 N:1 immr:6 imms:6 Rn:5 Rd:5', exec: bitfield, check: bitfieldOk, group: 'dp-imm' },
  { name: 'UBFM_64', pattern: '1 10 100110 N:1 immr:6 imms:6 Rn:5 Rd:5', exec: bitfield, check: bitfieldOk, group: 'dp-imm' },
  { name: 'SBFM_32', pattern: '0 00 100110 N:1 immr:6 imms:6 Rn:5 Rd:5', exec: bitfield32, check: bitfieldOk, group: 'dp-imm' },
  { name: 'BFM_32', pattern: '0 01 100110 N:1 immr:6 imms:6 Rn:5 Rd:5', exec: bitfield32, check: bitfieldOk, group: 'dp-imm' },
  { name: 'UBFM_32', pattern: '0 10 100110 N:1 immr:6 imms:6 Rn:5 Rd:5', exec: bitfield32, check: bitfieldOk, group: 'dp-imm' },
  { name: 'EXTR', pattern: 'sf:1 00 100111 N:1 0 Rm:5 imms:6 Rn:5 Rd:5', exec: extr, check: (i) => i >>> 31 === ((i >>> 22) & 1) && (i >>> 31 === 1 || ((i >>> 15) & 1) === 0), group: 'dp-imm' },

  { name: 'MOV_reg_64', pattern: '1 01 01010 00 0 Rm:5 000000 11111 Rd:5', exec: movReg64, group: 'dp-reg' },
  { name: 'MOV_reg_32', pattern: '0 01 01010 00 0 Rm:5 000000 11111 Rd:5', exec: movReg32, group: 'dp-reg' },
  { name: 'LOGICAL_reg_64', pattern: '1 opc:2 01010 shift:2 N:1 Rm:5 imm6:6 Rn:5 Rd:5', exec: logReg64, group: 'dp-reg' },
  { name: 'LOGICAL_reg_32', pattern: '0 opc:2 01010 shift:2 N:1 Rm:5 imm6:6 Rn:5 Rd:5', exec: logReg32, check: imm6Ok32, group: 'dp-reg' },
  { name: 'ADDSUB_shift_64', pattern: '1 op:1 S:1 01011 shift:2 0 Rm:5 imm6:6 Rn:5 Rd:5', exec: addSubReg64, check: (i) => ((i >>> 22) & 3) !== 3, group: 'dp-reg' },
  { name: 'ADDSUB_shift_32', pattern: '0 op:1 S:1 01011 shift:2 0 Rm:5 imm6:6 Rn:5 Rd:5', exec: addSubReg32, check: (i) => ((i >>> 22) & 3) !== 3 && imm6Ok32(i), group: 'dp-reg' },
  { name: 'ADDSUB_ext', pattern: 'sf:1 op:1 S:1 01011 00 1 Rm:5 option:3 imm3:3 Rn:5 Rd:5', exec: addSubExt, check: (i) => ((i >>> 10) & 7) <= 4, group: 'dp-reg' },
  { name: 'ADC_SBC', pattern: 'sf:1 op:1 S:1 11010000 Rm:5 000000 Rn:5 Rd:5', exec: adcSbc, group: 'dp-reg' },
  { name: 'CCMP_reg', pattern: 'sf:1 op:1 1 11010010 Rm:5 cond:4 0 0 Rn:5 0 nzcv:4', exec: ccmp, group: 'dp-reg' },
  { name: 'CCMP_imm', pattern: 'sf:1 op:1 1 11010010 imm5:5 cond:4 1 0 Rn:5 0 nzcv:4', exec: ccmp, group: 'dp-reg' },
  { name: 'CSEL', pattern: 'sf:1 op:1 0 11010100 Rm:5 cond:4 0 o2:1 Rn:5 Rd:5', exec: csel, group: 'dp-reg' },
  { name: 'DP_1SRC', pattern: 'sf:1 1 0 11010110 00000 0000 op:2 Rn:5 Rd:5', exec: dp1, check: (i) => i >>> 31 === 1 || ((i >>> 10) & 3) !== 3, group: 'dp-reg' },
  { name: 'CLZ_CLS', pattern: 'sf:1 1 0 11010110 00000 00010 op:1 Rn:5 Rd:5', exec: dp1, group: 'dp-reg' },
  { name: 'DIV', pattern: 'sf:1 0 0 11010110 Rm:5 00001 o1:1 Rn:5 Rd:5', exec: dp2, group: 'dp-reg' },
  { name: 'SHIFTV', pattern: 'sf:1 0 0 11010110 Rm:5 0010 op2:2 Rn:5 Rd:5', exec: dp2, group: 'dp-reg' },
  { name: 'CRC32', pattern: 'sf:1 0 0 11010110 Rm:5 010 C:1 sz:2 Rn:5 Rd:5', exec: dp2, check: (i) => (i >>> 31 === 1) === (((i >>> 10) & 3) === 3), group: 'dp-crc' },
  { name: 'MADD_MSUB', pattern: 'sf:1 00 11011 000 Rm:5 o0:1 Ra:5 Rn:5 Rd:5', exec: madd, group: 'dp-reg' },
  { name: 'SMADDL_SMSUBL', pattern: '1 00 11011 001 Rm:5 o0:1 Ra:5 Rn:5 Rd:5', exec: maddl, group: 'dp-reg' },
  { name: 'UMADDL_UMSUBL', pattern: '1 00 11011 101 Rm:5 o0:1 Ra:5 Rn:5 Rd:5', exec: maddl, group: 'dp-reg' },
  { name: 'SMULH', pattern: '1 00 11011 010 Rm:5 0 Ra:5 Rn:5 Rd:5', exec: mulh, group: 'dp-reg' },
  { name: 'UMULH', pattern: '1 00 11011 110 Rm:5 0 Ra:5 Rn:5 Rd:5', exec: mulh, group: 'dp-reg' },
];
