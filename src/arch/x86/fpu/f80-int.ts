/**
 * Extended-precision operations on the integer grid: rounding to an integer (FRNDINT, FIST),
 * integer loads (FILD), FSCALE, FXTRACT and the partial remainders FPREM/FPREM1.
 * @module
 */
import { A, B, C1, Cls, CLS, DE, DEN, denX, EMAX_X, EMIN_X, EXC, EXP, IE, indefX, M0, M1, NE, NM0, NM1, normalize, normalize64, NOSTORE, packX, PE, preX2, R, RC_DOWN, RC_NEAREST, RC_UP, round, setX, SGN, shr3, unpack2, unpackX, W, WRAP_X87, ZE, ZE_, ZM0, ZM1, ZS, ZX } from './f80-core.js';

/**
 * Rounds finite unpacked slot A (e < 63) to an integer by rc: result significand in
 * W[24] (m1), W[25] (m0) aligned as an integer (bit 0 = units), W[26] = 1 if inexact,
 * W[27] = 1 if the magnitude was rounded up. The value is sign × integer.
 */
export function roundToInt(rc: number): void {
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
export function intToX(s: number, m1: number, m0: number): void {
  if (m1 === 0 && m0 === 0) {
    setX(s << 15, 0, 0);
    return;
  }
  normalize64(m1, m0, 63);
  setX((s << 15) | (W[NE]! + 16383), W[NM1]!, W[NM0]!);
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
