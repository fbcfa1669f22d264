/**
 * IEEE 754 extended precision (the x87 80-bit format) in software, on JS numbers only.
 *
 * A value crosses the API as three int32s: `se` (bit 15 sign, bits 14-0 biased exponent), `hi`
 * (significand bits 63-32; bit 63 is the explicit integer bit J) and `lo` (bits 31-0) — the
 * 10 bytes of the register in memory order lo, hi, se. Results go to {@link R} (R[0] = lo, R[1] =
 * hi, R[2] = se; f64 results R[0] = low word, R[1] = high word; f32 and integers R[0], R[1]) and
 * each operation returns its exception bits in FSW positions ({@link IE} ... {@link PE}, {@link C1}
 * for "rounded up", {@link NOSTORE} when an unmasked exception suppresses the result). Nothing
 * allocates: intermediate values live in locals and a module-level Int32Array.
 *
 * Control is the x87 control word (FCW): exception masks bits 0-5, precision control bits 8-9
 * (00 = 24, 10 = 53, 11 = 64 bits; the reserved 01 rounds like 64), rounding control bits 10-11.
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
// Core result Z: 16 sign, 17 e, 18 m1, 19 m0, 20 x. Shifter output: 24..27.
const W = new Int32Array(64);
const A = 0, B = 8;
const CLS = 0, SGN = 1, EXP = 2, M1 = 3, M0 = 4, DEN = 5;
const ZS = 16, ZE_ = 17, ZM1 = 18, ZM0 = 19, ZX = 20;

/** Operand classes. */
export const enum Cls {
  ZERO = 0,
  FIN = 1,
  INF = 2,
  QNAN = 3,
  SNAN = 4,
  /** Unsupported encodings: unnormals, pseudo-zeros, pseudo-infinities, pseudo-NaNs. */
  BAD = 5,
}

const EMIN_X = -16382, EMAX_X = 16383;
const EMIN_D = -1022, EMAX_D = 1023;
const EMIN_S = -126, EMAX_S = 127;

// ---- unpacking -----------------------------------------------------------------------------

/** Normalizes the significand at slot o (m1:m0 != 0) so that bit 63 is set. */
function normalize(o: number): void {
  let m1 = W[o + M1]!, m0 = W[o + M0]!, e = W[o + EXP]!;
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
  W[o + M1] = m1;
  W[o + M0] = m0;
  W[o + EXP] = e;
}

/** Unpacks an extended value into slot o. */
function unpackX(se: number, hi: number, lo: number, o: number): number {
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
function unpackD(hi: number, lo: number, o: number, daz: boolean): number {
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
function unpackS(v: number, o: number, daz: boolean): number {
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
function shr3(m1: number, m0: number, x: number, n: number): void {
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
const RC_ = 28, RS = 29, RE = 30, RM1 = 31, RM0 = 32;

/**
 * Rounds sign × m1:m0:x × 2^(e-63) (m1 bit 31 set) to p bits (64, 53 or 24) within the normal
 * exponent range [emin, emax]. masks are the exception masks (FSW bit positions); wrap is the
 * exponent bias adjust for unmasked overflow/underflow (0: the result is suppressed, NOSTORE,
 * reporting PE too when ssePE and the result is inexact at p bits, as SSE does; x87 stores
 * don't); ftz flushes tiny results to zero (MXCSR.FTZ with UE masked). Result in W[RC_..RM0].
 */
function round(sign: number, e: number, m1: number, m0: number, x: number, p: number, emin: number, emax: number, rc: number, masks: number, wrap: number, ftz: boolean, ssePE = false): number {
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
function packX(): void {
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
function packD(): void {
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
function packS(): void {
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

function setX(se: number, hi: number, lo: number): void {
  R[0] = lo;
  R[1] = hi;
  R[2] = se;
}

function indefX(): number {
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
function finishX(cw: number): number {
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
function preX2(ca: number, cb: number, aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, cw: number): number {
  if (ca === Cls.BAD || cb === Cls.BAD) return indefX() | (cw & IE ? 0 : NOSTORE);
  if (ca >= Cls.QNAN || cb >= Cls.QNAN) {
    const f = nanX2(ca, aSe, aHi, aLo, cb, bSe, bHi, bLo);
    return f & ~cw & IE ? f | NOSTORE : f;
  }
  return 0;
}

function denX(cw: number): number {
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
function unpack2(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number): void {
  unpackX(aSe, aHi, aLo, A);
  unpackX(bSe, bHi, bLo, B);
  if (memDenormal) {
    if (memDenormal & 1) W[A + DEN] = 1;
    if (memDenormal & 2) W[B + DEN] = 1;
    memDenormal = 0;
  }
}

// ---- core arithmetic on finite non-zero operands (slots A, B -> Z) --------------------------

/** Z = A + B (sign of B already applied); returns 1 if the exact result is zero (Z sign set). */
function coreAdd(rc: number): number {
  let ea = W[A + EXP]!, eb = W[B + EXP]!;
  let a1 = W[A + M1]!, a0 = W[A + M0]!, b1 = W[B + M1]!, b0 = W[B + M0]!;
  let sa = W[A + SGN]!;
  const sb = W[B + SGN]!;
  // Order so that |A| >= |B| by exponent (and significand when equal).
  if (eb > ea || (eb === ea && (b1 >>> 0 > a1 >>> 0 || (b1 === a1 && b0 >>> 0 > a0 >>> 0)))) {
    let t = ea;
    ea = eb;
    eb = t;
    t = a1;
    a1 = b1;
    b1 = t;
    t = a0;
    a0 = b0;
    b0 = t;
    sa = sb;
    W[B + SGN] = W[A + SGN]!;
  }
  const sub = sa !== W[B + SGN]!;
  shr3(b1, b0, 0, ea - eb);
  b1 = W[24]!;
  b0 = W[25]!;
  const bx = W[26]!;
  let m1: number, m0: number, x: number, e = ea;
  if (!sub) {
    let t = bx >>> 0;
    x = t | 0;
    t = (a0 >>> 0) + (b0 >>> 0);
    m0 = t | 0;
    t = (a1 >>> 0) + (b1 >>> 0) + (t >= 4294967296 ? 1 : 0);
    m1 = t | 0;
    if (t >= 4294967296) {
      // Carry out: shift right one, jamming.
      x = (x >>> 1) | (m0 << 31) | (x & 1);
      m0 = (m0 >>> 1) | (m1 << 31);
      m1 = (m1 >>> 1) | 0x80000000;
      e++;
    }
  } else {
    // |A| >= |B|: A - B >= 0.
    let t = 0 - (bx >>> 0);
    x = t | 0;
    let br = t < 0 ? 1 : 0;
    t = (a0 >>> 0) - (b0 >>> 0) - br;
    m0 = t | 0;
    br = t < 0 ? 1 : 0;
    m1 = ((a1 >>> 0) - (b1 >>> 0) - br) | 0;
    if (m1 === 0 && m0 === 0 && x === 0) {
      W[ZS] = rc === RC_DOWN ? 1 : 0;
      return 1;
    }
    // Normalize left.
    if (m1 === 0) {
      m1 = m0;
      m0 = x;
      x = 0;
      e -= 32;
      if (m1 === 0) {
        m1 = m0;
        m0 = 0;
        e -= 32;
      }
    }
    const k = Math.clz32(m1);
    if (k) {
      m1 = (m1 << k) | (m0 >>> (32 - k));
      m0 = (m0 << k) | (x >>> (32 - k));
      x <<= k;
      e -= k;
    }
  }
  W[ZS] = sa;
  W[ZE_] = e;
  W[ZM1] = m1;
  W[ZM0] = m0;
  W[ZX] = x;
  return 0;
}

// 16-bit limb scratch for multiplication and division.
const L = new Float64Array(32);

/** Z = A × B (finite, non-zero). */
function coreMul(): void {
  const a1 = W[A + M1]!, a0 = W[A + M0]!, b1 = W[B + M1]!, b0 = W[B + M0]!;
  const a3 = a1 >>> 16, a2 = a1 & 0xffff, a1l = a0 >>> 16, a0l = a0 & 0xffff;
  const b3 = b1 >>> 16, b2 = b1 & 0xffff, b1l = b0 >>> 16, b0l = b0 & 0xffff;
  // Column sums (each < 2^34) with carries, limb by limb.
  let c = a0l * b0l;
  const r0 = c % 65536;
  c = (c - r0) / 65536 + a0l * b1l + a1l * b0l;
  const r1 = c % 65536;
  c = (c - r1) / 65536 + a0l * b2 + a1l * b1l + a2 * b0l;
  const r2 = c % 65536;
  c = (c - r2) / 65536 + a0l * b3 + a1l * b2 + a2 * b1l + a3 * b0l;
  const r3 = c % 65536;
  c = (c - r3) / 65536 + a1l * b3 + a2 * b2 + a3 * b1l;
  const r4 = c % 65536;
  c = (c - r4) / 65536 + a2 * b3 + a3 * b2;
  const r5 = c % 65536;
  c = (c - r5) / 65536 + a3 * b3;
  const r6 = c % 65536;
  const r7 = (c - r6) / 65536;
  let m1 = (r7 << 16) | r6, m0 = (r5 << 16) | r4, x = (r3 << 16) | r2;
  const s = r1 | r0;
  let e = W[A + EXP]! + W[B + EXP]!;
  if (m1 < 0) e++;
  else {
    m1 = (m1 << 1) | (m0 >>> 31);
    m0 = (m0 << 1) | (x >>> 31);
    x <<= 1; // (the bit shifted in from r1 is covered by the sticky bit)
  }
  W[ZS] = W[A + SGN]! ^ W[B + SGN]!;
  W[ZE_] = e;
  W[ZM1] = m1;
  W[ZM0] = m0;
  W[ZX] = x | (s !== 0 ? 1 : 0);
}

/**
 * Z = A / B (finite, non-zero): long division in 16-bit limbs (Knuth D with a double estimate),
 * 80 quotient bits plus sticky.
 */
function coreDiv(): void {
  const a1 = W[A + M1]!, a0 = W[A + M0]!, b1 = W[B + M1]!, b0 = W[B + M0]!;
  // Remainder limbs L[0..4] (L[0] most significant), divisor d3..d0 (d3 >= 2^15).
  const d3 = b1 >>> 16, d2 = b1 & 0xffff, d1 = b0 >>> 16, d0 = b0 & 0xffff;
  const dTop = d3 * 65536 + d2 + (d1 * 65536 + d0) / 4294967296;
  // Start with remainder = A (as 5 limbs with a leading zero limb).
  L[0] = 0;
  L[1] = a1 >>> 16;
  L[2] = a1 & 0xffff;
  L[3] = a0 >>> 16;
  L[4] = a0 & 0xffff;
  // 6 quotient limbs: q0 is 0 or 1 (A < 2B), then 5 more (80 bits after the binary point... ).
  let q0 = 0, q1 = 0, q2 = 0, q3 = 0, q4 = 0, q5 = 0;
  for (let j = 0; j < 6; j++) {
    // Estimate from the top three limbs.
    const top = L[0]! * 4294967296 + L[1]! * 65536 + L[2]!;
    let q = Math.floor(top / dTop);
    if (q > 65535) q = 65535;
    if (q > 0) {
      // L[0..4] -= q × d (d aligned to L[1..4]).
      let br = 0, t: number;
      t = L[4]! - q * d0 - br;
      br = Math.floor(t / 65536);
      L[4] = t - br * 65536;
      t = L[3]! - q * d1 + br;
      br = Math.floor(t / 65536);
      L[3] = t - br * 65536;
      t = L[2]! - q * d2 + br;
      br = Math.floor(t / 65536);
      L[2] = t - br * 65536;
      t = L[1]! - q * d3 + br;
      br = Math.floor(t / 65536);
      L[1] = t - br * 65536;
      L[0] = L[0]! + br;
      // Too large: add back.
      while (L[0]! < 0) {
        q--;
        t = L[4]! + d0;
        let cy = t >= 65536 ? 1 : 0;
        L[4] = t - cy * 65536;
        t = L[3]! + d1 + cy;
        cy = t >= 65536 ? 1 : 0;
        L[3] = t - cy * 65536;
        t = L[2]! + d2 + cy;
        cy = t >= 65536 ? 1 : 0;
        L[2] = t - cy * 65536;
        t = L[1]! + d3 + cy;
        cy = t >= 65536 ? 1 : 0;
        L[1] = t - cy * 65536;
        L[0] = L[0]! + cy;
      }
    }
    // Too small: subtract again while remainder >= d.
    while (L[0]! > 0 || (L[1]! > d3 || (L[1] === d3 && (L[2]! > d2 || (L[2] === d2 && (L[3]! > d1 || (L[3] === d1 && L[4]! >= d0))))))) {
      q++;
      let t: number = L[4]! - d0;
      let br = t < 0 ? 1 : 0;
      L[4] = t + br * 65536;
      t = L[3]! - d1 - br;
      br = t < 0 ? 1 : 0;
      L[3] = t + br * 65536;
      t = L[2]! - d2 - br;
      br = t < 0 ? 1 : 0;
      L[2] = t + br * 65536;
      t = L[1]! - d3 - br;
      br = t < 0 ? 1 : 0;
      L[1] = t + br * 65536;
      L[0] = L[0]! - br;
    }
    switch (j) {
      case 0: q0 = q; break;
      case 1: q1 = q; break;
      case 2: q2 = q; break;
      case 3: q3 = q; break;
      case 4: q4 = q; break;
      default: q5 = q;
    }
    // Shift remainder left one limb.
    L[0] = L[1]!;
    L[1] = L[2]!;
    L[2] = L[3]!;
    L[3] = L[4]!;
    L[4] = 0;
  }
  const rem = L[0]! + L[1]! + L[2]! + L[3]!;
  // Quotient = q0 . q1 q2 q3 q4 q5 (q0 in {0,1}).
  let m1: number, m0: number, x: number;
  let e = W[A + EXP]! - W[B + EXP]!;
  if (q0) {
    m1 = 0x80000000 | (q1 << 15) | (q2 >>> 1);
    m0 = (q2 << 31) | (q3 << 15) | (q4 >>> 1);
    x = (q4 << 31) | (q5 << 15);
  } else {
    e--;
    m1 = (q1 << 16) | q2;
    m0 = (q3 << 16) | q4;
    x = q5 << 16;
  }
  W[ZS] = W[A + SGN]! ^ W[B + SGN]!;
  W[ZE_] = e;
  W[ZM1] = m1;
  W[ZM0] = m0;
  W[ZX] = x | (rem !== 0 ? 1 : 0);
}

/** Z = sqrt(A) for finite positive A: bit-serial square root, 67 bits plus sticky. */
function coreSqrt(): void {
  let e = W[A + EXP]!;
  const a1 = W[A + M1]! >>> 0, a0 = W[A + M0]! >>> 0;
  // value = 1.f × 2^e; for an odd e the radicand is 2 × 1.f with exponent e - 1. The digit
  // recurrence takes 2 radicand bits per root bit: r = remainder, q = the root so far.
  const odd = e & 1;
  if (odd) e -= 1;
  // Radicand bits: for even e the leading "01" pair is 01.f, for odd 1x.f (one extra bit).
  let rh = 0, rm = 0, rl = 0; // remainder (up to ~70 bits): rh:rm:rl with rl 32 bits, rm 32, rh small
  let qh = 0, qm = 0, ql = 0; // root so far (67 bits): qh:qm:ql
  // Radicand stream: 64-bit significand preceded by one 0 bit when e was even (so the pair
  // stream starts "01" or "1x").
  const sh = odd ? 0 : 1; // bits of leading zero
  for (let i = 0; i < 67; i++) {
    // Next two radicand bits: positions (2i - sh) and (2i + 1 - sh) of the significand.
    const p0 = 2 * i - sh, p1 = p0 + 1;
    const bit0 = p0 < 0 || p0 > 63 ? 0 : p0 < 32 ? (a1 >>> (31 - p0)) & 1 : (a0 >>> (63 - p0)) & 1;
    const bit1 = p1 < 0 || p1 > 63 ? 0 : p1 < 32 ? (a1 >>> (31 - p1)) & 1 : (a0 >>> (63 - p1)) & 1;
    // r = (r << 2) | bits
    rh = ((rh << 2) | (rm >>> 30)) >>> 0;
    rm = ((rm << 2) | (rl >>> 30)) >>> 0;
    rl = ((rl << 2) | (bit0 << 1) | bit1) >>> 0;
    // t = (q << 2) | 1
    const th = ((qh << 2) | (qm >>> 30)) >>> 0;
    const tm = ((qm << 2) | (ql >>> 30)) >>> 0;
    const tl = ((ql << 2) | 1) >>> 0;
    // q <<= 1
    qh = ((qh << 1) | (qm >>> 31)) >>> 0;
    qm = ((qm << 1) | (ql >>> 31)) >>> 0;
    ql = (ql << 1) >>> 0;
    if (rh > th || (rh === th && (rm > tm || (rm === tm && rl >= tl)))) {
      let t = rl - tl;
      let br = t < 0 ? 1 : 0;
      rl = (t + br * 4294967296) >>> 0;
      t = rm - tm - br;
      br = t < 0 ? 1 : 0;
      rm = (t + br * 4294967296) >>> 0;
      rh = (rh - th - br) >>> 0;
      ql = (ql | 1) >>> 0;
    }
  }
  // Root has 67 bits: qh (3 bits) : qm : ql, top bit (bit 66) is J.
  const m1 = (qh << 29) | (qm >>> 3);
  const m0 = (qm << 29) | (ql >>> 3);
  const x = (ql << 29) | (rh | rm | rl ? 1 : 0);
  W[ZS] = 0;
  W[ZE_] = e >> 1;
  W[ZM1] = m1;
  W[ZM0] = m0;
  W[ZX] = x;
}

// ---- x87 arithmetic ------------------------------------------------------------------------

/** FADD/FSUB: a + b, or a - b when sub. */
export function addX(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, cw: number, sub: boolean): number {
  unpack2(aSe, aHi, aLo, bSe, bHi, bLo);
  const ca = W[A + CLS]!, cb = W[B + CLS]!;
  if (ca >= Cls.QNAN || cb >= Cls.QNAN) return preX2(ca, cb, aSe, aHi, aLo, bSe, bHi, bLo, cw);
  if (sub) W[B + SGN] = W[B + SGN]! ^ 1;
  let f = denX(cw);
  if (f & NOSTORE) return f;
  const sa = W[A + SGN]!, sb = W[B + SGN]!;
  if (ca === Cls.INF || cb === Cls.INF) {
    if (ca === Cls.INF && cb === Cls.INF && sa !== sb) return f | indefX() | (cw & IE ? 0 : NOSTORE);
    setX(((ca === Cls.INF ? sa : sb) << 15) | 0x7fff, 0x80000000 | 0, 0);
    return f;
  }
  if (ca === Cls.ZERO && cb === Cls.ZERO) {
    const s = sa === sb ? sa : ((cw >>> 10) & 3) === RC_DOWN ? 1 : 0;
    setX(s << 15, 0, 0);
    return f;
  }
  if (ca === Cls.ZERO || cb === Cls.ZERO) {
    const o = ca === Cls.ZERO ? B : A;
    W[ZS] = W[o + SGN]!;
    W[ZE_] = W[o + EXP]!;
    W[ZM1] = W[o + M1]!;
    W[ZM0] = W[o + M0]!;
    W[ZX] = 0;
  } else if (coreAdd((cw >>> 10) & 3)) {
    setX(W[ZS]! << 15, 0, 0);
    return f;
  }
  return f | finishX(cw);
}

/** FMUL. */
export function mulX(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, cw: number): number {
  unpack2(aSe, aHi, aLo, bSe, bHi, bLo);
  const ca = W[A + CLS]!, cb = W[B + CLS]!;
  if (ca >= Cls.QNAN || cb >= Cls.QNAN) return preX2(ca, cb, aSe, aHi, aLo, bSe, bHi, bLo, cw);
  const s = W[A + SGN]! ^ W[B + SGN]!;
  if ((ca === Cls.INF && cb === Cls.ZERO) || (ca === Cls.ZERO && cb === Cls.INF)) return indefX() | (cw & IE ? 0 : NOSTORE);
  const f = denX(cw);
  if (f & NOSTORE) return f;
  if (ca === Cls.INF || cb === Cls.INF) {
    setX((s << 15) | 0x7fff, 0x80000000 | 0, 0);
    return f;
  }
  if (ca === Cls.ZERO || cb === Cls.ZERO) {
    setX(s << 15, 0, 0);
    return f;
  }
  coreMul();
  return f | finishX(cw);
}

/** FDIV: a / b. */
export function divX(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, cw: number): number {
  unpack2(aSe, aHi, aLo, bSe, bHi, bLo);
  const ca = W[A + CLS]!, cb = W[B + CLS]!;
  if (ca >= Cls.QNAN || cb >= Cls.QNAN) return preX2(ca, cb, aSe, aHi, aLo, bSe, bHi, bLo, cw);
  const s = W[A + SGN]! ^ W[B + SGN]!;
  if ((ca === Cls.INF && cb === Cls.INF) || (ca === Cls.ZERO && cb === Cls.ZERO)) return indefX() | (cw & IE ? 0 : NOSTORE);
  if (cb === Cls.ZERO && ca !== Cls.INF) {
    // Finite / 0: zero divide (reported instead of a denormal dividend).
    if (!(cw & ZE)) return ZE | NOSTORE;
    setX((s << 15) | 0x7fff, 0x80000000 | 0, 0);
    return ZE;
  }
  const f = denX(cw);
  if (f & NOSTORE) return f;
  if (ca === Cls.INF) {
    setX((s << 15) | 0x7fff, 0x80000000 | 0, 0);
    return f;
  }
  if (ca === Cls.ZERO || cb === Cls.INF) {
    setX(s << 15, 0, 0);
    return f;
  }
  coreDiv();
  return f | finishX(cw);
}

/** FSQRT. */
export function sqrtX(se: number, hi: number, lo: number, cw: number): number {
  const c = unpackX(se, hi, lo, A);
  if (c === Cls.BAD) return indefX() | (cw & IE ? 0 : NOSTORE);
  if (c === Cls.QNAN || c === Cls.SNAN) {
    setX(se, hi | 0x40000000, lo);
    return c === Cls.SNAN ? (cw & IE ? IE : IE | NOSTORE) : 0;
  }
  if (c === Cls.ZERO) {
    setX(se, hi, lo);
    return 0;
  }
  if (W[A + SGN]) return indefX() | (cw & IE ? 0 : NOSTORE);
  const f = W[A + DEN] ? (cw & DE ? DE : DE | NOSTORE) : 0;
  if (f & NOSTORE) return f;
  if (c === Cls.INF) {
    setX(se, hi, lo);
    return 0;
  }
  coreSqrt();
  return f | finishX(cw);
}

/** Result codes of compareX (the FCOM condition codes C3 C2 C0 as an FSW mask). */
export const CMP_GT = 0, CMP_LT = 0x100, CMP_EQ = 0x4000, CMP_UN = 0x4500;

/**
 * FCOM/FUCOM/FCOMI/FUCOMI/FTST/FICOM: compares a with b. Returns the exception bits; the
 * outcome (CMP_GT/LT/EQ/UN) is in R[0]. quiet: only SNaNs (not QNaNs) raise IE.
 */
export function compareX(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, cw: number, quiet: boolean): number {
  unpack2(aSe, aHi, aLo, bSe, bHi, bLo);
  const ca = W[A + CLS]!, cb = W[B + CLS]!;
  if (ca >= Cls.QNAN || cb >= Cls.QNAN) {
    R[0] = CMP_UN;
    const inv = ca === Cls.BAD || cb === Cls.BAD || ca === Cls.SNAN || cb === Cls.SNAN || !quiet;
    return inv ? (cw & IE ? IE : IE | NOSTORE) : 0;
  }
  // The outcome is delivered even when an unmasked DE stops the instruction's pops.
  R[0] = cmpUnpacked(ca, cb);
  return denX(cw);
}

/** Compares unpacked finite/inf/zero A and B. */
function cmpUnpacked(ca: number, cb: number): number {
  const sa = W[A + SGN]!, sb = W[B + SGN]!;
  if (ca === Cls.ZERO && cb === Cls.ZERO) return CMP_EQ;
  if (ca === Cls.ZERO) return sb ? CMP_GT : CMP_LT;
  if (cb === Cls.ZERO) return sa ? CMP_LT : CMP_GT;
  if (sa !== sb) return sa ? CMP_LT : CMP_GT;
  // Same sign: compare magnitudes.
  let mag: number; // -1, 0, 1 for |a| vs |b|
  if (ca === Cls.INF || cb === Cls.INF) mag = ca === cb ? 0 : ca === Cls.INF ? 1 : -1;
  else {
    const ea = W[A + EXP]!, eb = W[B + EXP]!;
    if (ea !== eb) mag = ea > eb ? 1 : -1;
    else {
      const a1 = W[A + M1]! >>> 0, b1 = W[B + M1]! >>> 0, a0 = W[A + M0]! >>> 0, b0 = W[B + M0]! >>> 0;
      mag = a1 !== b1 ? (a1 > b1 ? 1 : -1) : a0 !== b0 ? (a0 > b0 ? 1 : -1) : 0;
    }
  }
  if (mag === 0) return CMP_EQ;
  return (mag > 0) !== (sa !== 0) ? CMP_GT : CMP_LT;
}

// ---- rounding to integer, scale, extract, remainder ----------------------------------------

/**
 * Rounds finite unpacked slot A (e < 63) to an integer by rc: result significand in
 * W[24] (m1), W[25] (m0) aligned as an integer (bit 0 = units), W[26] = 1 if inexact,
 * W[27] = 1 if the magnitude was rounded up. The value is sign × integer.
 */
function roundToInt(rc: number): void {
  const e = W[A + EXP]!, s = W[A + SGN]!;
  let m1 = W[A + M1]!, m0 = W[A + M0]!;
  let rbit: number, sticky: number;
  if (e >= 63) {
    W[24] = m1;
    W[25] = m0;
    W[26] = 0;
    W[27] = 0;
    return;
  }
  if (e < -1) {
    rbit = 0;
    sticky = 1;
    m1 = 0;
    m0 = 0;
  } else {
    // integer = m >> (63 - e)
    const n = 63 - e; // 1..64
    shr3(m1, m0, 0, n);
    m1 = W[24]!;
    m0 = W[25]!;
    const x = W[26]!;
    rbit = x >>> 31;
    sticky = x & 0x7fffffff;
  }
  const inexact = (rbit | sticky) !== 0;
  let inc = false;
  if (inexact) {
    if (rc === RC_NEAREST) inc = rbit !== 0 && (sticky !== 0 || (m0 & 1) !== 0);
    else if (rc === RC_DOWN) inc = s !== 0;
    else if (rc === RC_UP) inc = s === 0;
  }
  if (inc) {
    const t = (m0 >>> 0) + 1;
    m0 = t | 0;
    if (t >= 4294967296) m1 = (m1 + 1) | 0;
  }
  W[24] = m1;
  W[25] = m0;
  W[26] = inexact ? 1 : 0;
  W[27] = inc ? 1 : 0;
}

/** Writes sign × (integer m1:m0) as an extended value to R (exact; m1:m0 < 2^64). */
function intToX(s: number, m1: number, m0: number): void {
  if (m1 === 0 && m0 === 0) {
    setX(s << 15, 0, 0);
    return;
  }
  let e = 63;
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
  setX((s << 15) | (e + 16383), m1, m0);
}

/** FRNDINT. */
export function rndintX(se: number, hi: number, lo: number, cw: number): number {
  const c = unpackX(se, hi, lo, A);
  if (c === Cls.BAD) return indefX() | (cw & IE ? 0 : NOSTORE);
  if (c === Cls.QNAN || c === Cls.SNAN) {
    setX(se, hi | 0x40000000, lo);
    return c === Cls.SNAN ? (cw & IE ? IE : IE | NOSTORE) : 0;
  }
  let f = W[A + DEN] ? (cw & DE ? DE : DE | NOSTORE) : 0;
  if (f & NOSTORE) return f;
  if (c !== Cls.FIN || W[A + EXP]! >= 63) {
    setX(se, hi, lo);
    return f;
  }
  roundToInt((cw >>> 10) & 3);
  intToX(W[A + SGN]!, W[24]!, W[25]!);
  // Inexact: PE (an unmasked PE still delivers the rounded result).
  if (W[26]) f |= PE | (W[27] ? C1 : 0);
  return f;
}

/**
 * FIST/FISTP/FISTTP: converts to a signed integer of `bits` (16, 32, 64), rounding by rc
 * (FISTTP passes RC_ZERO). Result in R[0] (low word), R[1] (high word, 64-bit only). Out of
 * range, NaN or infinity: IE and the integer indefinite (the most negative value).
 */
export function toIntX(se: number, hi: number, lo: number, cw: number, bits: number, rc: number): number {
  const c = unpackX(se, hi, lo, A);
  let f = 0;
  if (c === Cls.ZERO) {
    R[0] = 0;
    R[1] = 0;
    return 0;
  }
  if (c === Cls.FIN) {
    roundToInt(rc);
    const m1 = W[24]!, m0 = W[25]!, s = W[A + SGN]!;
    // Range check on the magnitude (the most negative value is allowed).
    let ok: boolean;
    if (W[A + EXP]! >= 64) ok = false;
    else if (bits === 64) ok = m1 >= 0 || (s === 1 && m1 === (0x80000000 | 0) && m0 === 0);
    else {
      const lim = bits === 32 ? 2147483648 : 32768;
      ok = m1 === 0 && ((m0 >>> 0) < lim || (s === 1 && m0 >>> 0 === lim));
    }
    if (ok) {
      if (W[26]) f |= PE | (W[27] ? C1 : 0);
      if (s) {
        // Two's complement negate.
        const l = (~m0 + 1) | 0;
        R[0] = l;
        R[1] = (~m1 + (m0 === 0 ? 1 : 0)) | 0;
      } else {
        R[0] = m0;
        R[1] = m1;
      }
      if (bits === 16) R[0] = (R[0]! << 16) >> 16;
      if (bits < 64) R[1] = R[0]! >> 31;
      return f;
    }
  }
  // Invalid: NaN, infinity, unsupported or out of range.
  f |= IE;
  if (!(cw & IE)) return f | NOSTORE;
  R[0] = bits === 16 ? -32768 : 0x80000000 | 0;
  R[1] = bits === 64 ? 0x80000000 | 0 : R[0]! >> 31;
  if (bits === 64) R[0] = 0;
  return f;
}

/** FILD: signed integer lo/hi (64-bit: hi:lo; 16/32-bit: sign-extended lo, hi ignored) to extended. */
export function fromIntX(lo: number, hi: number, bits: number): void {
  if (bits < 64) hi = lo >> 31;
  if (hi < 0) {
    const nl = (~lo + 1) | 0;
    const nh = (~hi + (lo === 0 ? 1 : 0)) | 0;
    intToX(1, nh, nl);
  } else intToX(0, hi, lo);
}

/** FSCALE: a × 2^trunc(b). */
export function scaleX(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, cw: number): number {
  unpack2(aSe, aHi, aLo, bSe, bHi, bLo);
  const ca = W[A + CLS]!, cb = W[B + CLS]!;
  if (ca >= Cls.QNAN || cb >= Cls.QNAN) return preX2(ca, cb, aSe, aHi, aLo, bSe, bHi, bLo, cw);
  const f = denX(cw);
  if (f & NOSTORE) return f;
  const sa = W[A + SGN]!, sb = W[B + SGN]!;
  if (cb === Cls.INF) {
    // ×2^+inf: 0 invalid, else inf; ×2^-inf: inf invalid, else 0.
    if ((ca === Cls.ZERO && !sb) || (ca === Cls.INF && sb)) return f | indefX() | (cw & IE ? 0 : NOSTORE);
    if (sb) setX(sa << 15, 0, 0);
    else setX((sa << 15) | 0x7fff, 0x80000000 | 0, 0);
    return f;
  }
  if (ca !== Cls.FIN) {
    setX(aSe, aHi, aLo);
    return f;
  }
  // trunc(b) clamped (anything beyond +-2^16 already over/underflows every format).
  let n = 0;
  if (cb === Cls.FIN) {
    const eb = W[B + EXP]!;
    if (eb >= 0) n = eb > 20 ? 0x100000 : Math.floor((W[B + M1]! >>> 0) / Math.pow(2, 31 - eb));
    if (sb) n = -n;
  }
  W[ZS] = sa;
  W[ZE_] = W[A + EXP]! + n;
  W[ZM1] = W[A + M1]!;
  W[ZM0] = W[A + M0]!;
  W[ZX] = 0;
  return f | finishRem(cw);
}

/**
 * FXTRACT: R = significand (exponent 0), and the exponent as an extended value in R2 (R2[0] lo,
 * R2[1] hi, R2[2] se). The x87 layer stores exponent to ST(0) after the push order.
 */
export const R2 = new Int32Array(4);
export function xtractX(se: number, hi: number, lo: number, cw: number): number {
  const c = unpackX(se, hi, lo, A);
  if (c === Cls.BAD) {
    indefX();
    R2[0] = R[0]!;
    R2[1] = R[1]!;
    R2[2] = R[2]!;
    return IE | (cw & IE ? 0 : NOSTORE);
  }
  if (c === Cls.QNAN || c === Cls.SNAN) {
    setX(se, hi | 0x40000000, lo);
    R2[0] = R[0]!;
    R2[1] = R[1]!;
    R2[2] = R[2]!;
    return c === Cls.SNAN ? (cw & IE ? IE : IE | NOSTORE) : 0;
  }
  if (c === Cls.ZERO) {
    if (!(cw & ZE)) return ZE | NOSTORE;
    // Exponent -inf, significand the zero.
    R2[0] = 0;
    R2[1] = 0x80000000 | 0;
    R2[2] = 0xffff;
    setX(se, hi, lo);
    return ZE;
  }
  if (c === Cls.INF) {
    R2[0] = 0;
    R2[1] = 0x80000000 | 0;
    R2[2] = 0x7fff;
    setX(se, hi, lo);
    return 0;
  }
  const f = W[A + DEN] ? (cw & DE ? DE : DE | NOSTORE) : 0;
  if (f & NOSTORE) return f;
  const e = W[A + EXP]!;
  fromIntX(e, 0, 32);
  R2[0] = R[0]!;
  R2[1] = R[1]!;
  R2[2] = R[2]!;
  setX((W[A + SGN]! << 15) | 16383, W[A + M1]!, W[A + M0]!);
  return f;
}

/**
 * FPREM (round = false: truncating quotient) / FPREM1 (round = true: IEEE remainder): partial
 * remainder of a by b. Returns exception bits; R = remainder; R[3] = the condition code bits to
 * set in FSW (C2 for an incomplete reduction, else C0 C3 C1 = quotient bits 2, 1, 0).
 */
export function remX(aSe: number, aHi: number, aLo: number, bSe: number, bHi: number, bLo: number, cw: number, round1: boolean): number {
  unpack2(aSe, aHi, aLo, bSe, bHi, bLo);
  const ca = W[A + CLS]!, cb = W[B + CLS]!;
  R[3] = 0;
  if (ca >= Cls.QNAN || cb >= Cls.QNAN) return preX2(ca, cb, aSe, aHi, aLo, bSe, bHi, bLo, cw);
  if (ca === Cls.INF || cb === Cls.ZERO) return indefX() | (cw & IE ? 0 : NOSTORE);
  const f = denX(cw);
  if (f & NOSTORE) return f;
  if (ca === Cls.ZERO || cb === Cls.INF) {
    setX(aSe, aHi, aLo);
    // A denormal dividend is normalized by the remainder (it goes through the rounding).
    if (ca === Cls.FIN) {
      W[ZS] = W[A + SGN]!;
      W[ZE_] = W[A + EXP]!;
      W[ZM1] = W[A + M1]!;
      W[ZM0] = W[A + M0]!;
      W[ZX] = 0;
      return f | finishRem(cw);
    }
    return f;
  }
  const ea = W[A + EXP]!, eb = W[B + EXP]!;
  let d = ea - eb;
  const sa = W[A + SGN]!;
  let partial = false;
  if (d >= 64) {
    // Partial reduction by 2^(D-N): N = 32 + D mod 32 (the documented implementation choice).
    const nn = 32 + (d % 32);
    d = nn;
    partial = true;
  }
  // Long division of significands: r = A.m × 2^d mod B.m (bit-serial over d+1 quotient bits).
  let r1 = W[A + M1]! >>> 0, r0 = W[A + M0]! >>> 0;
  const b1 = W[B + M1]! >>> 0, b0 = W[B + M0]! >>> 0;
  let q = 0; // low bits of the quotient (3 needed)
  let rexp: number; // the remainder is r × 2^(rexp-63)
  if (d < 0) {
    // |a| < |b|: quotient 0 (FPREM), FPREM1 may still subtract once when |a| > |b|/2.
    if (!round1 || d < -1) {
      W[ZS] = sa;
      W[ZE_] = ea;
      W[ZM1] = W[A + M1]!;
      W[ZM0] = W[A + M0]!;
      W[ZX] = 0;
      return f | finishRem(cw);
    }
  }
  // In b's frame a = r × 2^d (r, b 64-bit): bit-serial division, for i from d down to 0:
  // (carry:r) >= b ? subtract and set the quotient bit; then shift left. (d = -1, FPREM1 only,
  // skips this: the quotient is 0.)
  let carry = 0;
  if (d >= 0) {
    for (let i = d; i >= 0; i--) {
      const ge = carry !== 0 || r1 > b1 || (r1 === b1 && r0 >= b0);
      q = (q << 1) & 7;
      if (ge) {
        const t = r0 - b0;
        const br = t < 0 ? 1 : 0;
        r0 = (t + br * 4294967296) >>> 0;
        r1 = (r1 - b1 - br + (carry ? 4294967296 : 0)) >>> 0;
        carry = 0;
        q |= 1;
      }
      if (i > 0) {
        carry = r1 >>> 31;
        r1 = ((r1 << 1) | (r0 >>> 31)) >>> 0;
        r0 = (r0 << 1) >>> 0;
      }
    }
  }
  rexp = eb;
  let rs = sa;
  if (round1 && !partial) {
    // IEEE remainder: if r > b/2, or r == b/2 and q odd: r = b - r, q++.
    // Compare 2r with b (r < b). For d == -1 the quotient is 0 and r = a (exponent eb-1).
    let twor1: number, twor0: number, twoc: number;
    if (d < 0) {
      r1 = W[A + M1]! >>> 0;
      r0 = W[A + M0]! >>> 0;
      // a = r × 2^(eb-1-63): 2a in b's frame is r itself.
      twoc = 0;
      twor1 = r1;
      twor0 = r0;
      rexp = eb - 1;
    } else {
      twoc = r1 >>> 31;
      twor1 = ((r1 << 1) | (r0 >>> 31)) >>> 0;
      twor0 = (r0 << 1) >>> 0;
    }
    const cmp = twoc ? 1 : twor1 !== b1 ? (twor1 > b1 ? 1 : -1) : twor0 !== b0 ? (twor0 > b0 ? 1 : -1) : 0;
    if (cmp > 0 || (cmp === 0 && (q & 1))) {
      // r = b - r (in b's frame; for d == -1 compute b - r/2 in the frame of eb-1: 2b - r).
      if (d < 0) {
        // value = b - a = (2b - r) × 2^(eb-1-63); 2b needs 65 bits.
        let t = 2 * b0 - r0;
        let br = 0;
        if (t < 0) {
          t += 4294967296;
          br = 1;
        }
        const lo = t >= 4294967296 ? t - 4294967296 : t;
        const cy = t >= 4294967296 ? 1 : 0;
        const hi = 2 * b1 + cy - r1 - br; // < 2^64 since r > b
        // 2b - r may need 65 bits: then b - a is taken in b's frame (its low bit is 0 there).
        if (hi >= 4294967296) {
          r1 = (hi / 2) >>> 0;
          r0 = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
          rexp = eb;
        } else {
          r1 = hi >>> 0;
          r0 = lo >>> 0;
        }
      } else {
        let t = b0 - r0;
        const br = t < 0 ? 1 : 0;
        r0 = (t + br * 4294967296) >>> 0;
        r1 = (b1 - r1 - br) >>> 0;
      }
      q = (q + 1) & 7;
      rs ^= 1;
    }
  }
  if (partial) {
    R[3] = 0x400; // C2: reduction incomplete
    rexp = ea - d;
  } else {
    // C0 = q2, C3 = q1, C1 = q0.
    R[3] = (q & 4 ? 0x100 : 0) | (q & 2 ? 0x4000 : 0) | (q & 1 ? 0x200 : 0);
  }
  if (r1 === 0 && r0 === 0) {
    setX(sa << 15, 0, 0);
    return f;
  }
  W[ZS] = rs;
  W[ZX] = 0;
  // Normalize (the remainder is exact; only a tiny result can need denormalizing).
  W[A + M1] = r1 | 0;
  W[A + M0] = r0 | 0;
  W[A + EXP] = rexp;
  normalize(A);
  W[ZE_] = W[A + EXP]!;
  W[ZM1] = W[A + M1]!;
  W[ZM0] = W[A + M0]!;
  return f | finishRem(cw);
}

/** Results not subject to PC (FPREM, FSCALE): 64-bit rounding, only denormalization can round. */
function finishRem(cw: number): number {
  const fl = round(W[ZS]!, W[ZE_]!, W[ZM1]!, W[ZM0]!, W[ZX]!, 64, EMIN_X, EMAX_X, (cw >>> 10) & 3, cw & EXC, WRAP_X87, false);
  packX();
  return fl;
}

// ---- conversions between formats ----------------------------------------------------------

/**
 * FLD m64: binary64 (hi:lo) to extended (exact). SNaN: IE, quieted; denormal: DE (the load still
 * happens). raw: an SNaN stays signalling and no exception is reported (arithmetic operands).
 */
export function fromF64X(hi: number, lo: number, cw: number, raw = false): number {
  const c = unpackD(hi, lo, A, false);
  const s = (hi >>> 31) << 15;
  if (c === Cls.ZERO) {
    setX(s, 0, 0);
    return 0;
  }
  if (c === Cls.INF) {
    setX(s | 0x7fff, 0x80000000 | 0, 0);
    return 0;
  }
  if (c === Cls.QNAN || c === Cls.SNAN) {
    if (raw) {
      setX(s | 0x7fff, W[A + M1]!, W[A + M0]!);
      return 0;
    }
    setX(s | 0x7fff, W[A + M1]! | 0x40000000, W[A + M0]!);
    return c === Cls.SNAN ? (cw & IE ? IE : IE | NOSTORE) : 0;
  }
  setX(s | (W[A + EXP]! + 16383), W[A + M1]!, W[A + M0]!);
  return W[A + DEN] ? DE : 0;
}

/** FLD m32. */
export function fromF32X(v: number, cw: number, raw = false): number {
  const c = unpackS(v, A, false);
  const s = (v >>> 31) << 15;
  if (c === Cls.ZERO) {
    setX(s, 0, 0);
    return 0;
  }
  if (c === Cls.INF) {
    setX(s | 0x7fff, 0x80000000 | 0, 0);
    return 0;
  }
  if (c === Cls.QNAN || c === Cls.SNAN) {
    if (raw) {
      setX(s | 0x7fff, W[A + M1]!, 0);
      return 0;
    }
    setX(s | 0x7fff, W[A + M1]! | 0x40000000, 0);
    return c === Cls.SNAN ? (cw & IE ? IE : IE | NOSTORE) : 0;
  }
  setX(s | (W[A + EXP]! + 16383), W[A + M1]!, W[A + M0]!);
  return W[A + DEN] ? DE : 0;
}

/** FST m64: extended to binary64 with rc; unmasked OE/UE leave memory alone (NOSTORE). */
export function toF64X(se: number, hi: number, lo: number, cw: number): number {
  const c = unpackX(se, hi, lo, A);
  const s = (se >>> 15) << 31;
  switch (c) {
    case Cls.ZERO:
      R[0] = 0;
      R[1] = s;
      return 0;
    case Cls.INF:
      R[0] = 0;
      R[1] = s | 0x7ff00000;
      return 0;
    case Cls.QNAN:
    case Cls.SNAN:
      R[0] = (hi << 21) | (lo >>> 11);
      R[1] = s | 0x7ff80000 | ((hi >>> 11) & 0xfffff);
      return c === Cls.SNAN ? (cw & IE ? IE : IE | NOSTORE) : 0;
    case Cls.BAD:
      R[0] = 0;
      R[1] = 0xfff80000 | 0;
      return cw & IE ? IE : IE | NOSTORE;
  }
  const fl = round(W[A + SGN]!, W[A + EXP]!, W[A + M1]!, W[A + M0]!, 0, 53, EMIN_D, EMAX_D, (cw >>> 10) & 3, cw & EXC, 0, false);
  if (fl & NOSTORE) return fl & ~PE;
  packD();
  return fl;
}

/** FST m32. */
export function toF32X(se: number, hi: number, lo: number, cw: number): number {
  const c = unpackX(se, hi, lo, A);
  const s = (se >>> 15) << 31;
  switch (c) {
    case Cls.ZERO:
      R[0] = s;
      return 0;
    case Cls.INF:
      R[0] = s | 0x7f800000;
      return 0;
    case Cls.QNAN:
    case Cls.SNAN:
      R[0] = s | 0x7fc00000 | ((hi >>> 8) & 0x3fffff);
      return c === Cls.SNAN ? (cw & IE ? IE : IE | NOSTORE) : 0;
    case Cls.BAD:
      R[0] = 0xffc00000 | 0;
      return cw & IE ? IE : IE | NOSTORE;
  }
  const fl = round(W[A + SGN]!, W[A + EXP]!, W[A + M1]!, W[A + M0]!, 0, 24, EMIN_S, EMAX_S, (cw >>> 10) & 3, cw & EXC, 0, false);
  if (fl & NOSTORE) return fl & ~PE;
  packS();
  return fl;
}

// ---- packed BCD ----------------------------------------------------------------------------

/**
 * FBLD: 10-byte packed BCD (bytes b[o..o+9], digit pairs little-endian, sign in bit 7 of byte 9)
 * to extended (exact). Invalid digits give an undefined result on hardware; here they are
 * taken at face value (digit values 10-15 weigh as such).
 */
export function fromBcdX(b: Uint8Array, o: number): void {
  // Digits 17..9 and 8..0 as two 9-digit numbers (exact in doubles).
  let lo9 = 0, hi9 = 0;
  for (let d = 17; d >= 0; d--) {
    const v = b[o + (d >> 1)]!;
    const digit = d & 1 ? v >>> 4 : v & 15;
    if (d >= 9) hi9 = hi9 * 10 + digit;
    else lo9 = lo9 * 10 + digit;
  }
  // value = hi9 × 10^9 + lo9 < 2^64: compute in 32-bit words.
  // hi9 × 10^9 = hi9 × 1e9 as 64-bit: split hi9 into 16-bit halves.
  const h = hi9 % 65536, g = (hi9 - h) / 65536; // hi9 = g × 2^16 + h
  // p = hi9 × 1e9 = g×1e9×2^16 + h×1e9
  const p1 = h * 1e9 + lo9; // < 2^46
  const p2 = g * 1e9; // × 2^16, < 2^50
  // total = p2 × 2^16 + p1
  const p1l = p1 % 4294967296, p1h = (p1 - p1l) / 4294967296;
  const p2l = (p2 % 65536) * 65536, p2h = Math.floor(p2 / 65536);
  let lo = p1l + p2l;
  let cy = 0;
  if (lo >= 4294967296) {
    lo -= 4294967296;
    cy = 1;
  }
  const hi = p1h + p2h + cy;
  intToX(b[o + 9]! >>> 7, hi | 0, lo | 0);
}

/**
 * FBSTP: extended to packed BCD in bytes out[o..o+9], rounding by RC. NaN, infinity or
 * |value| >= 10^18 (after rounding): IE and the BCD indefinite (masked) or NOSTORE.
 */
export function toBcdX(se: number, hi: number, lo: number, cw: number, out: Uint8Array, o: number): number {
  const c = unpackX(se, hi, lo, A);
  let f = 0;
  let m1 = 0, m0 = 0;
  const s = W[A + SGN]!;
  if (c === Cls.FIN) {
    if (W[A + EXP]! < 63) {
      roundToInt((cw >>> 10) & 3);
      m1 = W[24]!;
      m0 = W[25]!;
      if (W[26]) f |= PE | (W[27] ? C1 : 0);
    } else m1 = -1; // out of range
  } else if (c !== Cls.ZERO) m1 = -1;
  // 10^18 = 0x0DE0B6B3_A7640000
  const ok = m1 >= 0 && (m1 < 0x0de0b6b3 || (m1 === 0x0de0b6b3 && m0 >>> 0 < 0xa7640000));
  if (!ok) {
    f = (f & ~(PE | C1)) | IE;
    if (!(cw & IE)) return f | NOSTORE;
    for (let i = 0; i < 7; i++) out[o + i] = 0;
    out[o + 7] = 0xc0;
    out[o + 8] = 0xff;
    out[o + 9] = 0xff;
    return f;
  }
  // Split into 9-digit halves v = q × 1e9 + r by long division over 16-bit limbs (v < 2^60).
  const l3 = m1 >>> 16, l2 = m1 & 0xffff, l1 = m0 >>> 16, l0 = m0 & 0xffff;
  let r = l3;
  const q3 = Math.floor(r / 1e9);
  r = (r - q3 * 1e9) * 65536 + l2;
  const q2 = Math.floor(r / 1e9);
  r = (r - q2 * 1e9) * 65536 + l1;
  const q1 = Math.floor(r / 1e9);
  r = (r - q1 * 1e9) * 65536 + l0;
  const q0 = Math.floor(r / 1e9);
  r -= q0 * 1e9;
  let hiPart = ((q3 * 65536 + q2) * 65536 + q1) * 65536 + q0; // < 1e9
  let loPart = r;
  for (let d = 0; d < 18; d += 2) {
    let a: number, b: number;
    if (d < 9) {
      a = loPart % 10;
      loPart = (loPart - a) / 10;
    } else {
      a = hiPart % 10;
      hiPart = (hiPart - a) / 10;
    }
    if (d + 1 < 9) {
      b = loPart % 10;
      loPart = (loPart - b) / 10;
    } else {
      b = hiPart % 10;
      hiPart = (hiPart - b) / 10;
    }
    out[o + (d >> 1)] = a | (b << 4);
  }
  out[o + 9] = s ? 0x80 : 0;
  return f;
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

/** @internal Soft-float internals for sse.ts: scratch slots and the format-generic steps. */
export {
  W as SW, A as SA, B as SB, CLS as S_CLS, SGN as S_SGN, EXP as S_EXP, M1 as S_M1, M0 as S_M0, DEN as S_DEN,
  ZS as S_ZS, ZE_ as S_ZE, ZM1 as S_ZM1, ZM0 as S_ZM0, ZX as S_ZX, RC_ as S_RCLS, RS as S_RS, RE as S_RE, RM1 as S_RM1, RM0 as S_RM0,
  EMIN_D, EMAX_D, EMIN_S, EMAX_S, unpackD, unpackS, round, packD, packS, coreAdd, coreMul, coreDiv, coreSqrt, cmpUnpacked,
};
