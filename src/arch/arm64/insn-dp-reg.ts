/**
 * A64 data processing, register: logical and add/sub (shifted register), add/sub (extended
 * register), with carry, conditional compare and select, 1/2/3-source. Encodings as table rows
 * with their handlers (lo/hi pairs) and, for the block JIT, their inline forms (emit.ts).
 * @module
 */
import { add64, asr64, clz64, crc32Update, CRC32C_TABLE, CRC32_TABLE, lsl64, lsr64, mul64, R, rbit32, rev16, rev32, ror32, ror64, sdiv64, shift32, shift64, smulh64, sub64, udiv64, umulh64 } from './alu.js';
import type { Cpu } from './cpu.js';
import { withAttrs, type Encoding } from './decoder.js';
import type { JitForm, Op, Pair } from './emit.js';
import { adds32, adds64, condHolds, ra, rd, rm, rn, w32 } from './insn-dp.js';
import { WZ, ZR } from './state.js';

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

// ---- inline forms (block JIT) ---------------------------------------------------------------------

const jitMovReg: JitForm = (e, w) => {
  const m = e.z(rm(w));
  e.set(rd(w), w >>> 31 ? m : w32(e, m.lo), true);
  return true;
};

const jitLogReg: JitForm = (e, w) => {
  const opc = (w >>> 29) & 3;
  const type = (w >>> 22) & 3;
  const amt = (w >>> 10) & 0x3f;
  const inv = (w & (1 << 21)) !== 0;
  const o: Op = opc === 1 ? '|' : opc === 2 ? '^' : '&';
  const n = e.z(rn(w));
  if (w >>> 31) {
    const b = e.shift64(type, e.z(rm(w)), amt);
    const r = e.pairTemp({ lo: e.op(n.lo, o, inv ? e.not(b.lo) : b.lo), hi: e.op(n.hi, o, inv ? e.not(b.hi) : b.hi) });
    if (opc === 3) e.flagsLogic(r);
    e.set(rd(w), r, true);
    return true;
  }
  const b = e.shift32(type, e.z(rm(w)).lo, amt);
  const r = e.temp(e.op(n.lo, o, inv ? e.not(b) : b));
  if (opc === 3) e.flagsLogic(r);
  e.set(rd(w), w32(e, r), true);
  return true;
};

/** ~b, for subtraction as a + ~b + 1. */
const notPair = (e: Parameters<JitForm>[0], b: Pair): Pair => ({ lo: e.not(b.lo), hi: e.not(b.hi) });

const jitAddSubShift: JitForm = (e, w) => {
  const type = (w >>> 22) & 3;
  const amt = (w >>> 10) & 0x3f;
  const sub = ((w >>> 30) & 1) as 0 | 1;
  const flags = ((w >>> 29) & 1) === 1;
  const n = e.z(rn(w));
  if (w >>> 31) {
    const b = e.pairTemp(e.shift64(type, e.z(rm(w)), amt));
    e.set(rd(w), e.add64(n, sub ? notPair(e, b) : b, sub, flags), true);
    return true;
  }
  const b = e.temp(e.shift32(type, e.z(rm(w)).lo, amt));
  const r = flags ? e.add32(n.lo, sub ? e.not(b) : b, sub, true) : e.op(n.lo, sub ? '-' : '+', b);
  e.set(rd(w), w32(e, r), true);
  return true;
};

/** ADD/SUB (extended register): Rn is SP-form; so is Rd unless flags are set. */
const jitAddSubExt: JitForm = (e, w) => {
  const sub = ((w >>> 30) & 1) as 0 | 1;
  const flags = ((w >>> 29) & 1) === 1;
  const ext = e.extend(rm(w), (w >>> 13) & 7, (w >>> 10) & 7);
  const n = e.x(rn(w));
  if (w >>> 31) {
    e.set(rd(w), e.add64(n, sub ? notPair(e, ext) : ext, sub, flags), flags);
    return true;
  }
  const r = flags ? e.add32(n.lo, sub ? e.not(ext.lo) : ext.lo, sub, true) : e.op(n.lo, sub ? '-' : '+', ext.lo);
  e.set(rd(w), w32(e, r), flags);
  return true;
};

/** CSEL, CSINC, CSINV, CSNEG. */
const jitCsel: JitForm = (e, w) => {
  const sf = w >>> 31;
  const op = (((w >>> 30) & 1) << 1) | ((w >>> 10) & 1);
  const n = e.z(rn(w));
  const m = e.z(rm(w));
  let alt: Pair;
  if (op === 0) alt = sf ? m : w32(e, m.lo);
  else if (op === 1) alt = sf ? e.addK64(m, 1) : w32(e, e.op(m.lo, '+', e.k(1)));
  else if (op === 2) alt = sf ? notPair(e, m) : w32(e, e.not(m.lo));
  else alt = sf ? e.add64(e.k64(0), notPair(e, m), 1, false) : w32(e, e.op(e.k(0), '-', m.lo));
  e.set(rd(w), e.select(e.cond((w >>> 12) & 15), sf ? n : w32(e, n.lo), alt), true);
  return true;
};

/** CCMN/CCMP (register and immediate). */
const jitCcmp: JitForm = (e, w) => {
  const sub = ((w >>> 30) & 1) as 0 | 1;
  const b: Pair = (w >>> 11) & 1 ? e.k64((w >>> 16) & 31) : e.z(rm(w));
  const n = e.z(rn(w));
  e.when(
    e.cond((w >>> 12) & 15),
    () => {
      if (w >>> 31) e.add64(n, sub ? notPair(e, b) : b, sub, true);
      else e.add32(n.lo, sub ? e.not(b.lo) : b.lo, sub, true);
    },
    () => e.setNzcv(w & 15),
  );
  return true;
};

/** MADD/MSUB. */
const jitMadd: JitForm = (e, w) => {
  const sub = (w >>> 15) & 1;
  if (w >>> 31) {
    const p = e.mul64(e.z(rn(w)), e.z(rm(w)));
    e.set(rd(w), e.add64(e.z(ra(w)), sub ? notPair(e, p) : p, sub as 0 | 1, false), true);
    return true;
  }
  e.set(rd(w), w32(e, e.op(e.z(ra(w)).lo, sub ? '-' : '+', e.imul(e.z(rn(w)).lo, e.z(rm(w)).lo))), true);
  return true;
};

/** SMADDL/SMSUBL/UMADDL/UMSUBL: the 32-bit operands extended, then as MADD. */
const jitMaddl: JitForm = (e, w) => {
  const ext = (v: Pair): Pair => ((w >>> 23) & 1 ? w32(e, v.lo) : { lo: v.lo, hi: e.op(v.lo, '>>', e.k(31)) });
  const sub = (w >>> 15) & 1;
  const p = e.mul64(ext(e.z(rn(w))), ext(e.z(rm(w))));
  e.set(rd(w), e.add64(e.z(ra(w)), sub ? notPair(e, p) : p, sub as 0 | 1, false), true);
  return true;
};

/** UMULH/SMULH. */
const jitMulh: JitForm = (e, w) => {
  e.set(rd(w), e.mulHigh64(e.z(rn(w)), e.z(rm(w)), ((w >>> 23) & 1) === 0), true);
  return true;
};

/** LSLV/LSRV/ASRV, 32-bit. */
const jitShiftV: JitForm = (e, w) => {
  const op = (w >>> 10) & 3;
  if (w >>> 31 || op === 3) return false;
  const o: Op = op === 0 ? '<<' : op === 1 ? '>>>' : '>>';
  e.set(rd(w), w32(e, e.op(e.z(rn(w)).lo, o, e.op(e.z(rm(w)).lo, '&', e.k(31)))), true);
  return true;
};

/** UDIV/SDIV. */
const jitDiv: JitForm = (e, w) => {
  if (w >>> 31) {
    e.set(rd(w), e.div64(e.z(rn(w)), e.z(rm(w)), ((w >>> 10) & 1) === 1), true);
    return true;
  }
  e.set(rd(w), w32(e, e.div32(e.z(rn(w)).lo, e.z(rm(w)).lo, ((w >>> 10) & 1) === 1)), true);
  return true;
};

// ---- rows -------------------------------------------------------------------------------------------

const imm6Ok32 = (i: number) => i >>> 31 === 1 || ((i >>> 15) & 1) === 0;

/** The data-processing (register) rows: pure register work. Groups: dp-reg, dp-crc. */
export const DP_REG_ENCODINGS: readonly Encoding[] = withAttrs({ pure: true }, [
  { name: 'MOV_reg_64', pattern: '1 01 01010 00 0 Rm:5 000000 11111 Rd:5', exec: movReg64, group: 'dp-reg', jit: jitMovReg },
  { name: 'MOV_reg_32', pattern: '0 01 01010 00 0 Rm:5 000000 11111 Rd:5', exec: movReg32, group: 'dp-reg', jit: jitMovReg },
  { name: 'LOGICAL_reg_64', pattern: '1 opc:2 01010 shift:2 N:1 Rm:5 imm6:6 Rn:5 Rd:5', exec: logReg64, group: 'dp-reg', jit: jitLogReg },
  { name: 'LOGICAL_reg_32', pattern: '0 opc:2 01010 shift:2 N:1 Rm:5 imm6:6 Rn:5 Rd:5', exec: logReg32, check: imm6Ok32, group: 'dp-reg', jit: jitLogReg },
  { name: 'ADDSUB_shift_64', pattern: '1 op:1 S:1 01011 shift:2 0 Rm:5 imm6:6 Rn:5 Rd:5', exec: addSubReg64, check: (i) => ((i >>> 22) & 3) !== 3, group: 'dp-reg', jit: jitAddSubShift },
  { name: 'ADDSUB_shift_32', pattern: '0 op:1 S:1 01011 shift:2 0 Rm:5 imm6:6 Rn:5 Rd:5', exec: addSubReg32, check: (i) => ((i >>> 22) & 3) !== 3 && imm6Ok32(i), group: 'dp-reg', jit: jitAddSubShift },
  { name: 'ADDSUB_ext', pattern: 'sf:1 op:1 S:1 01011 00 1 Rm:5 option:3 imm3:3 Rn:5 Rd:5', exec: addSubExt, check: (i) => ((i >>> 10) & 7) <= 4, group: 'dp-reg', jit: jitAddSubExt },
  { name: 'ADC_SBC', pattern: 'sf:1 op:1 S:1 11010000 Rm:5 000000 Rn:5 Rd:5', exec: adcSbc, group: 'dp-reg' },
  { name: 'CCMP_reg', pattern: 'sf:1 op:1 1 11010010 Rm:5 cond:4 0 0 Rn:5 0 nzcv:4', exec: ccmp, group: 'dp-reg', jit: jitCcmp },
  { name: 'CCMP_imm', pattern: 'sf:1 op:1 1 11010010 imm5:5 cond:4 1 0 Rn:5 0 nzcv:4', exec: ccmp, group: 'dp-reg', jit: jitCcmp },
  { name: 'CSEL', pattern: 'sf:1 op:1 0 11010100 Rm:5 cond:4 0 o2:1 Rn:5 Rd:5', exec: csel, group: 'dp-reg', jit: jitCsel },
  { name: 'DP_1SRC', pattern: 'sf:1 1 0 11010110 00000 0000 op:2 Rn:5 Rd:5', exec: dp1, check: (i) => i >>> 31 === 1 || ((i >>> 10) & 3) !== 3, group: 'dp-reg' },
  { name: 'CLZ_CLS', pattern: 'sf:1 1 0 11010110 00000 00010 op:1 Rn:5 Rd:5', exec: dp1, group: 'dp-reg' },
  { name: 'DIV', pattern: 'sf:1 0 0 11010110 Rm:5 00001 o1:1 Rn:5 Rd:5', exec: dp2, group: 'dp-reg', jit: jitDiv },
  { name: 'SHIFTV', pattern: 'sf:1 0 0 11010110 Rm:5 0010 op2:2 Rn:5 Rd:5', exec: dp2, group: 'dp-reg', jit: jitShiftV },
  { name: 'CRC32', pattern: 'sf:1 0 0 11010110 Rm:5 010 C:1 sz:2 Rn:5 Rd:5', exec: dp2, check: (i) => (i >>> 31 === 1) === (((i >>> 10) & 3) === 3), group: 'dp-crc' },
  { name: 'MADD_MSUB', pattern: 'sf:1 00 11011 000 Rm:5 o0:1 Ra:5 Rn:5 Rd:5', exec: madd, group: 'dp-reg', jit: jitMadd },
  { name: 'SMADDL_SMSUBL', pattern: '1 00 11011 001 Rm:5 o0:1 Ra:5 Rn:5 Rd:5', exec: maddl, group: 'dp-reg', jit: jitMaddl },
  { name: 'UMADDL_UMSUBL', pattern: '1 00 11011 101 Rm:5 o0:1 Ra:5 Rn:5 Rd:5', exec: maddl, group: 'dp-reg', jit: jitMaddl },
  { name: 'SMULH', pattern: '1 00 11011 010 Rm:5 0 Ra:5 Rn:5 Rd:5', exec: mulh, group: 'dp-reg', jit: jitMulh },
  { name: 'UMULH', pattern: '1 00 11011 110 Rm:5 0 Ra:5 Rn:5 Rd:5', exec: mulh, group: 'dp-reg', jit: jitMulh },
]);
