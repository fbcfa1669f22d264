/**
 * The extended-precision (x87 80-bit) soft-float core: the exception bits, the result registers
 * {@link R}, the scratch slots, unpacking of extended/binary64/binary32 operands, rounding at
 * any precision and exponent range, packing, and the NaN/invalid-operand rules of the x87. The
 * operations built on it are f80-arith.ts (add, mul, div, sqrt, compare), f80-int.ts (integers,
 * scale, extract, remainder) and f80-cvt.ts (formats, BCD); f80.ts is their public face.
 *
 * Internally a finite value is sign, unbiased exponent e and a 64-bit significand m1:m0 with the
 * integer bit at m1 bit 31 (value = 1.f × 2^e), plus a 32-bit extension word x below m0 into whose
 * bit 0 every lower non-zero bit is "jammed" (sticky), so rounding at any precision <= 64 is exact.
 * @module
 */


// ---- exception bits (FSW / MXCSR positions) ------------------------------------------------

/** Invalid operation. */
export const IE = 0x1;
/** Denormal operand. */
export const DE = 0x2;
/** Zero divide. */
export const ZE = 0x4;
/** Overflow. */
export const OE = 0x8;
/** Underflow. */
export const UE = 0x10;
/** Precision (inexact). */
export const PE = 0x20;
/** x87 stack fault (with IE; C1 tells overflow from underflow). */
export const SF = 0x40;
/** x87 C1: the result was rounded up in magnitude (or, with SF, stack overflow). */
export const C1 = 0x200;
/** An unmasked exception: the destination must not be written. Never part of FSW/MXCSR. */
export const NOSTORE = 0x10000;
/** The six exception flags. */
export const EXC = 0x3f;

/** Rounding control values (FCW bits 10-11, MXCSR bits 13-14). */
export const RC_NEAREST = 0, RC_DOWN = 1, RC_UP = 2, RC_ZERO = 3;

/** x87 exponent bias adjust applied to results of unmasked overflow/underflow. */
export const WRAP_X87 = 0x6000;

/** Output registers of every operation (see the module doc). */
export const R = new Int32Array(4);

/** The real indefinite (default QNaN) of the extended format. */
export const INDEF_SE = 0xffff, INDEF_HI = 0xc0000000 | 0, INDEF_LO = 0;

// ---- scratch -------------------------------------------------------------------------------

// Unpacked operands A (0..5) and B (8..13): class, sign, e, m1, m0, denormal-operand.
// Core result Z: 16 sign, 17 e, 18 m1, 19 m0, 20 x. Shifter output: 24..27. normalize64: 32..34.
export const W = new Int32Array(64);
export const A = 0, B = 8;
export const CLS = 0, SGN = 1, EXP = 2, M1 = 3, M0 = 4, DEN = 5;
export const ZS = 16, ZE_ = 17, ZM1 = 18, ZM0 = 19, ZX = 20;

/** Operand classes. */
export const Cls = {
  ZERO: 0,
  FIN: 1,
  INF: 2,
  QNAN: 3,
  SNAN: 4,
  /** Unsupported encodings: unnormals, pseudo-zeros, pseudo-infinities, pseudo-NaNs. */
  BAD: 5,
} as const;
export type Cls = (typeof Cls)[keyof typeof Cls];

export const EMIN_X = -16382, EMAX_X = 16383;
export const EMIN_D = -1022, EMAX_D = 1023;
export const EMIN_S = -126, EMAX_S = 127;

// ---- unpacking -----------------------------------------------------------------------------

/** Output of {@link normalize64}: exponent, significand high and low words. */
export const NE = 32, NM1 = 33, NM0 = 34;

/** Shifts a non-zero 64-bit significand m1:m0 (exponent e) left until bit 63 is set; result in W[NE..NM0]. */
export function normalize64(m1: number, m0: number, e: number): void {
  if (m1 === 0) {
    m1 = m0;
    m0 = 0;
    e -= 32;
  }
  const n = Math.clz32(m1);
  if (n) {
    m1 = (m1 << n) | (m0 >>> (32 - n));
    m0 <<= n;
    e -= n;
  }
  W[NE] = e;
  W[NM1] = m1;
  W[NM0] = m0;
}

/** Normalizes the significand at slot o (m1:m0 != 0) so that bit 63 is set. */
export function normalize(o: number): void {
  normalize64(W[o + M1]!, W[o + M0]!, W[o + EXP]!);
  W[o + M1] = W[NM1]!;
  W[o + M0] = W[NM0]!;
  W[o + EXP] = W[NE]!;
}

/** Unpacks an extended value into slot o. */
export function unpackX(se: number, hi: number, lo: number, o: number): number {
  const ex = se & 0x7fff;
  W[o + SGN] = (se >>> 15) & 1;
  W[o + M1] = hi;
  W[o + M0] = lo;
  W[o + DEN] = 0;
  let c: number;
  if (ex === 0x7fff) {
    if (hi >= 0) c = Cls.BAD;
    else if ((hi & 0x7fffffff) === 0 && lo === 0) c = Cls.INF;
    else c = hi & 0x40000000 ? Cls.QNAN : Cls.SNAN;
  } else if (ex === 0) {
    if (hi === 0 && lo === 0) c = Cls.ZERO;
    else {
      // Denormals and pseudo-denormals (J = 1) both have the exponent of the smallest normal.
      c = Cls.FIN;
      W[o + DEN] = 1;
      W[o + EXP] = EMIN_X;
      if (hi >= 0) normalize(o);
    }
  } else if (hi >= 0) c = Cls.BAD;
  else {
    c = Cls.FIN;
    W[o + EXP] = ex - 16383;
  }
  W[o + CLS] = c;
  return c;
}

/** Unpacks a binary64 (words hi:lo) into slot o; daz treats denormals as zero. */
export function unpackD(hi: number, lo: number, o: number, daz: boolean): number {
  const ex = (hi >>> 20) & 0x7ff;
  const fh = hi & 0xfffff;
  W[o + SGN] = hi >>> 31;
  W[o + M1] = 0x80000000 | (fh << 11) | (lo >>> 21);
  W[o + M0] = lo << 11;
  W[o + DEN] = 0;
  let c: number;
  if (ex === 0x7ff) {
    if (fh === 0 && lo === 0) c = Cls.INF;
    else c = fh & 0x80000 ? Cls.QNAN : Cls.SNAN;
  } else if (ex === 0) {
    if ((fh === 0 && lo === 0) || daz) c = Cls.ZERO;
    else {
      c = Cls.FIN;
      W[o + DEN] = 1;
      W[o + EXP] = EMIN_D;
      W[o + M1] = (fh << 11) | (lo >>> 21);
      normalize(o);
    }
  } else {
    c = Cls.FIN;
    W[o + EXP] = ex - 1023;
  }
  W[o + CLS] = c;
  return c;
}

/** Unpacks a binary32 into slot o. */
export function unpackS(v: number, o: number, daz: boolean): number {
  const ex = (v >>> 23) & 0xff;
  const f = v & 0x7fffff;
  W[o + SGN] = v >>> 31;
  W[o + M1] = 0x80000000 | (f << 8);
  W[o + M0] = 0;
  W[o + DEN] = 0;
  let c: number;
  if (ex === 0xff) c = f === 0 ? Cls.INF : f & 0x400000 ? Cls.QNAN : Cls.SNAN;
  else if (ex === 0) {
    if (f === 0 || daz) c = Cls.ZERO;
    else {
      c = Cls.FIN;
      W[o + DEN] = 1;
      W[o + EXP] = EMIN_S;
      W[o + M1] = f << 8;
      normalize(o);
    }
  } else {
    c = Cls.FIN;
    W[o + EXP] = ex - 127;
  }
  W[o + CLS] = c;
  return c;
}

/** The class of an extended value (exported for FXAM and the tag word). */
export function classX(se: number, hi: number, lo: number): number {
  return unpackX(se, hi, lo, A);
}

// ---- rounding ------------------------------------------------------------------------------

/** Tininess is detected after rounding on x86 (x87 and SSE). */
const TINY_AFTER_ROUNDING = true;

/**
 * Shifts m1:m0:x right by n (>= 0) with sticky jamming; result in W[24..26].
 */
export function shr3(m1: number, m0: number, x: number, n: number): void {
  if (n === 0) {
    W[24] = m1;
    W[25] = m0;
    W[26] = x;
    return;
  }
  let s: number;
  if (n < 32) {
    s = x << (32 - n);
    x = (x >>> n) | (m0 << (32 - n));
    m0 = (m0 >>> n) | (m1 << (32 - n));
    m1 >>>= n;
  } else if (n < 64) {
    const k = n - 32;
    if (k === 0) {
      s = x;
      x = m0;
      m0 = m1;
    } else {
      s = x | (m0 << (32 - k));
      x = (m0 >>> k) | (m1 << (32 - k));
      m0 = m1 >>> k;
    }
    m1 = 0;
  } else if (n < 96) {
    const k = n - 64;
    if (k === 0) {
      s = x | m0;
      x = m1;
    } else {
      s = x | m0 | (m1 << (32 - k));
      x = m1 >>> k;
    }
    m0 = 0;
    m1 = 0;
  } else {
    s = x | m0 | m1;
    x = 0;
    m0 = 0;
    m1 = 0;
  }
  W[24] = m1;
  W[25] = m0;
  W[26] = x | (s !== 0 ? 1 : 0);
}

// Rounded result (before packing): 28 class (0 zero, 1 finite, 2 inf), 29 sign, 30 e, 31 m1, 32 m0.
export const RC_ = 28, RS = 29, RE = 30, RM1 = 31, RM0 = 32;

/**
 * Rounds sign × m1:m0:x × 2^(e-63) (m1 bit 31 set) to p bits (64, 53 or 24) within the normal
 * exponent range [emin, emax]. masks are the exception masks (FSW bit positions); wrap is the
 * exponent bias adjust for unmasked overflow/underflow (0: the result is suppressed, NOSTORE,
 * reporting PE too when ssePE and the result is inexact at p bits, as SSE does; x87 stores
 * don't); ftz flushes tiny results to zero (MXCSR.FTZ with UE masked). Result in W[RC_..RM0].
 */
export function round(sign: number, e: number, m1: number, m0: number, x: number, p: number, emin: number, emax: number, rc: number, masks: number, wrap: number, ftz: boolean, ssePE = false): number {
  let flags = 0;
  let tiny = false;
  W[RS] = sign;
  if (e < emin) {
    // Tiny unless (detecting after rounding) the value rounds up to the smallest normal.
    const t = !(TINY_AFTER_ROUNDING && e === emin - 1 && roundsToNormal(sign, m1, m0, x, p, rc));
    if (!(masks & UE) && t) {
      // Unmasked underflow: the exponent wraps (x87 register destination) or nothing is stored.
      if (!wrap) return UE | NOSTORE | (ssePE && roundInexact(m1, m0, x, p) ? PE : 0);
      if (e + wrap < emin) {
        // Beyond what the bias adjust reaches (FSCALE): a signed zero.
        W[RC_] = 0;
        return UE | PE;
      }
      e += wrap;
      flags |= UE;
    } else if (masks & UE) {
      // Masked (or beyond what the wrap can bring into range): denormalize.
      tiny = t;
      if (ftz && tiny) {
        W[RC_] = 0;
        return UE | PE;
      }
      shr3(m1, m0, x, emin - e);
      m1 = W[24]!;
      m0 = W[25]!;
      x = W[26]!;
      e = emin;
    }
  }
  // Round at bit n = 64 - p of m1:m0.
  const n = 64 - p;
  let lsb: number, rbit: number, sticky: number;
  if (n === 0) {
    lsb = m0 & 1;
    rbit = x >>> 31;
    sticky = x & 0x7fffffff;
  } else if (n < 32) {
    lsb = (m0 >>> n) & 1;
    rbit = (m0 >>> (n - 1)) & 1;
    sticky = (m0 & ((1 << (n - 1)) - 1)) | x;
    m0 &= ~((1 << n) - 1);
  } else if (n === 32) {
    lsb = m1 & 1;
    rbit = m0 >>> 31;
    sticky = (m0 & 0x7fffffff) | x;
    m0 = 0;
  } else {
    const k = n - 32;
    lsb = (m1 >>> k) & 1;
    rbit = (m1 >>> (k - 1)) & 1;
    sticky = (m1 & ((1 << (k - 1)) - 1)) | m0 | x;
    m1 &= ~((1 << k) - 1);
    m0 = 0;
  }
  const inexact = (rbit | sticky) !== 0;
  let inc = false;
  if (inexact) {
    flags |= PE;
    if (rc === RC_NEAREST) inc = rbit !== 0 && (sticky !== 0 || lsb !== 0);
    else if (rc === RC_DOWN) inc = sign !== 0;
    else if (rc === RC_UP) inc = sign === 0;
    if (tiny) flags |= UE;
  }
  if (inc) {
    flags |= C1;
    if (n < 32) {
      const s = (m0 >>> 0) + ((1 << n) >>> 0);
      m0 = s | 0;
      if (s >= 4294967296) {
        const t = (m1 >>> 0) + 1;
        m1 = t | 0;
        if (t >= 4294967296) {
          m1 = 0x80000000 | 0;
          e++;
        }
      }
    } else {
      const t = (m1 >>> 0) + Math.pow(2, n - 32);
      m1 = t | 0;
      if (t >= 4294967296) {
        m1 = 0x80000000 | 0;
        e++;
      }
    }
  }
  if (m1 === 0 && m0 === 0) {
    // A denormal that rounded to zero.
    W[RC_] = 0;
    return flags;
  }
  if (e > emax) {
    if (!(masks & OE)) {
      if (!wrap) return OE | NOSTORE | (ssePE && inexact ? PE : 0);
      if (e - wrap > emax) {
        // Beyond what the bias adjust reaches (FSCALE): infinity.
        W[RC_] = 2;
        return flags | OE | PE | C1;
      }
      e -= wrap;
      flags |= OE;
    } else {
      flags |= OE | PE;
      // Masked: infinity, or the largest finite value when rounding goes toward zero.
      if (rc === RC_ZERO || (rc === RC_DOWN && !sign) || (rc === RC_UP && sign)) {
        W[RC_] = 1;
        W[RE] = emax;
        W[RM1] = n >= 32 ? ~((1 << (n - 32)) - 1) : -1;
        W[RM0] = n >= 32 ? 0 : n ? ~((1 << n) - 1) : -1;
        return flags & ~C1;
      }
      W[RC_] = 2;
      return flags | C1;
    }
  }
  W[RC_] = 1;
  W[RE] = e;
  W[RM1] = m1;
  W[RM0] = m0;
  return flags;
}

/** True when rounding m1:m0:x at p bits is inexact. */
function roundInexact(m1: number, m0: number, x: number, p: number): boolean {
  if (x) return true;
  if (p === 64) return false;
  if (p > 32) return (m0 & ((1 << (64 - p)) - 1)) !== 0;
  return m0 !== 0 || (m1 & ((1 << (32 - p)) - 1)) !== 0;
}

/** For e = emin-1: whether rounding to p bits with unbounded exponent carries to 2^emin. */
function roundsToNormal(sign: number, m1: number, m0: number, x: number, p: number, rc: number): boolean {
  // Only an all-ones significand (at p bits) can carry out.
  const n = 64 - p;
  let ones: boolean, rbit: number, sticky: number;
  if (n === 0) {
    ones = m1 === -1 && m0 === -1;
    rbit = x >>> 31;
    sticky = x & 0x7fffffff;
  } else if (n < 32) {
    ones = m1 === -1 && m0 >>> n === -1 >>> n;
    rbit = (m0 >>> (n - 1)) & 1;
    sticky = (m0 & ((1 << (n - 1)) - 1)) | x;
  } else {
    const k = n - 32;
    ones = m1 >>> k === -1 >>> k;
    rbit = (m1 >>> (k - 1)) & 1;
    sticky = (m1 & ((1 << (k - 1)) - 1)) | m0 | x;
  }
  if (!ones) return false;
  if (rc === RC_NEAREST) return rbit !== 0;
  if (rc === RC_ZERO) return false;
  if ((rbit | sticky) === 0) return false;
  return rc === RC_DOWN ? sign !== 0 : sign === 0;
}

// ---- packing -------------------------------------------------------------------------------

/** Packs the rounded result as extended into R. */
export function packX(): void {
  const s = W[RS]! << 15;
  const c = W[RC_]!;
  if (c === 0) {
    R[0] = 0;
    R[1] = 0;
    R[2] = s;
  } else if (c === 2) {
    R[0] = 0;
    R[1] = 0x80000000 | 0;
    R[2] = s | 0x7fff;
  } else {
    const m1 = W[RM1]!;
    R[0] = W[RM0]!;
    R[1] = m1;
    R[2] = s | (m1 < 0 ? W[RE]! + 16383 : 0);
  }
}

/** Packs the rounded result as binary64 into R[0] (low), R[1] (high). */
export function packD(): void {
  const s = W[RS]! << 31;
  const c = W[RC_]!;
  if (c === 0) {
    R[0] = 0;
    R[1] = s;
  } else if (c === 2) {
    R[0] = 0;
    R[1] = s | 0x7ff00000;
  } else {
    const m1 = W[RM1]!, m0 = W[RM0]!;
    const ex = m1 < 0 ? W[RE]! + 1023 : 0;
    R[0] = (m1 << 21) | (m0 >>> 11);
    R[1] = s | (ex << 20) | ((m1 >>> 11) & 0xfffff);
  }
}

/** Packs the rounded result as binary32 into R[0]. */
export function packS(): void {
  const s = W[RS]! << 31;
  const c = W[RC_]!;
  if (c === 0) R[0] = s;
  else if (c === 2) R[0] = s | 0x7f800000;
  else {
    const m1 = W[RM1]!;
    const ex = m1 < 0 ? W[RE]! + 127 : 0;
    R[0] = s | (ex << 23) | ((m1 >>> 8) & 0x7fffff);
  }
}

export function setX(se: number, hi: number, lo: number): void {
  R[0] = lo;
  R[1] = hi;
  R[2] = se;
}

export function indefX(): number {
  R[0] = 0;
  R[1] = INDEF_HI;
  R[2] = INDEF_SE;
  return IE;
}

const pcBits = (cw: number): number => {
  const pc = (cw >>> 8) & 3;
  return pc === 0 ? 24 : pc === 2 ? 53 : 64;
};

/** Rounds core result Z to the x87 destination (register: wrapped exponent when unmasked). */
export function finishX(cw: number): number {
  const f = round(W[ZS]!, W[ZE_]!, W[ZM1]!, W[ZM0]!, W[ZX]!, pcBits(cw), EMIN_X, EMAX_X, (cw >>> 10) & 3, cw & EXC, WRAP_X87, false);
  packX();
  return f;
}

// ---- NaN propagation (x87) -----------------------------------------------------------------

/**
 * The x87 rule for a NaN result from two operands (SDM "Rules for Generating QNaNs"): an SNaN
 * raises IE; a QNaN operand beats an SNaN; of two NaNs of the same kind the larger significand
 * wins (equal: the positive one). The result is quieted.
 */
function nanX2(ca: number, sa: number, ha: number, la: number, cb: number, sb: number, hb: number, lb: number): number {
  const an = ca === Cls.QNAN || ca === Cls.SNAN, bn = cb === Cls.QNAN || cb === Cls.SNAN;
  const f = ca === Cls.SNAN || cb === Cls.SNAN ? IE : 0;
  let pickA: boolean;
  if (!bn) pickA = true;
  else if (!an) pickA = false;
  else if (ca !== cb) pickA = ca === Cls.QNAN;
  else {
    const ua = ha >>> 0, ub = hb >>> 0;
    if (ua !== ub) pickA = ua > ub;
    else if (la !== lb) pickA = la >>> 0 > lb >>> 0;
    else pickA = (sa & 0x8000) === 0 || (sb & 0x8000) !== 0;
  }
  if (pickA) setX(sa, ha | 0x40000000, la);
  else setX(sb, hb | 0x40000000, lb);
  return f;
}

/** Pre-computation checks shared by the two-operand x87 arithmetic: invalid encodings, NaNs, denormals. */
export function preX2(ca: number, cb: number, aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, cw: number): number {
  if (ca === Cls.BAD || cb === Cls.BAD) return indefX() | (cw & IE ? 0 : NOSTORE);
  if (ca >= Cls.QNAN || cb >= Cls.QNAN) {
    const f = nanX2(ca, aSe, aHi, aLo, cb, bSe, bHi, bLo);
    return f & ~cw & IE ? f | NOSTORE : f;
  }
  return 0;
}

export function denX(cw: number): number {
  return W[A + DEN]! | W[B + DEN]! ? (cw & DE ? DE : DE | NOSTORE) : 0;
}

/**
 * A memory operand converted from binary32/64 was a denormal there (its extended form is normal):
 * bit 0 = operand a, bit 1 = operand b of the next two-operand operation, which then reports DE
 * under the same priority rules as for a denormal register. Reset by that operation.
 */
let memDenormal = 0;
export function setMemDenormal(mask: number): void {
  memDenormal = mask;
}

/** Unpacks both operands of a two-operand x87 operation (applying the memory-denormal hint). */
export function unpack2(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number): void {
  unpackX(aSe, aHi, aLo, A);
  unpackX(bSe, bHi, bLo, B);
  if (memDenormal) {
    if (memDenormal & 1) W[A + DEN] = 1;
    if (memDenormal & 2) W[B + DEN] = 1;
    memDenormal = 0;
  }
}


// ---- helpers for the transcendentals (trans.ts) --------------------------------------------

/** Unpacks an extended value into out[o..o+5]: class, sign, e, m1, m0, denormal. */
export function unpackInto(se: number, hi: number, lo: number, out: Int32Array, o: number): number {
  const c = unpackX(se, hi, lo, A);
  for (let k = 0; k < 6; k++) out[o + k] = W[A + k]!;
  return c;
}

/** Rounds sign × m1:m0:x × 2^(e-63) (m1 bit 31 set) to the extended register format, by RC, PC ignored. */
export function roundToX(sign: number, e: number, m1: number, m0: number, x: number, cw: number): number {
  const f = round(sign, e, m1, m0, x, 64, EMIN_X, EMAX_X, (cw >>> 10) & 3, cw & EXC, WRAP_X87, false);
  packX();
  return f;
}

/** The x87 NaN/invalid-operand result of a two-operand operation (R), or 0 when neither is special. */
export function nanOrInvalid2(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, cw: number): number {
  const ca = unpackX(aSe, aHi, aLo, A), cb = unpackX(bSe, bHi, bLo, B);
  if (ca < Cls.QNAN && cb < Cls.QNAN) return 0;
  return preX2(ca, cb, aSe, aHi, aLo, bSe, bHi, bLo, cw) | 0x20000;
}

/** Marks the result R as the real indefinite and returns IE (with NOSTORE when unmasked). */
export function invalidX(cw: number): number {
  return indefX() | (cw & IE ? 0 : NOSTORE);
}

// ---- internals shared with the SSE slow paths (sse.ts) ------------------------------------
