/**
 * Extended-precision arithmetic on the soft-float core (f80-core.ts): the core add, multiply,
 * divide and square root on unpacked finite operands (shared with the SSE slow paths), and the
 * x87 FADD/FSUB, FMUL, FDIV, FSQRT and FCOM entry points with their special-operand rules.
 * @module
 */
import { A, B, Cls, CLS, DE, DEN, denX, EXP, finishX, IE, indefX, M0, M1, NOSTORE, preX2, R, RC_DOWN, setX, SGN, shr3, unpack2, unpackX, W, ZE, ZE_, ZM0, ZM1, ZS, ZX } from './f80-core.js';

/** Z = A + B (sign of B already applied); returns 1 if the exact result is zero (Z sign set). */
export function coreAdd(rc: number): number {
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
export function coreMul(): void {
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
export function coreDiv(): void {
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
export function coreSqrt(): void {
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
export function cmpUnpacked(ca: number, cb: number): number {
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
