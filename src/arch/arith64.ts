/**
 * 64x64 -> 128-bit multiply and 128/64 -> 64-bit divide on 32-bit words, without BigInt (the
 * hot-path rule: numbers and typed arrays only). Operands and results are (lo, hi) int32 pairs,
 * low word first; results land in the shared scratch `W`. Exact for every input: products are
 * formed from 32-bit halves (low words from Math.imul, high words from the double product, the
 * rounding error corrected by the low word) and division is Knuth's algorithm D on 16-bit limbs,
 * with short paths for operands below 2^52 and for one-word divisors. Shared by both arches: x86
 * MUL/IMUL/DIV/IDIV (x86/exec/muldiv.ts) and arm64 UMULH/SMULH/UDIV/SDIV (arm64/alu.ts).
 * @module
 */

/**
 * Results: after `mul64` the 128-bit product (W[0] lowest word .. W[3] highest); after `div128`
 * the quotient (W[0], W[1]) and the remainder (W[2], W[3]).
 */
export const W = new Int32Array(4);

const B = 65536;

const TWO32 = 4294967296;
const INV32 = 1 / TWO32;

/** Unsigned 64x64 -> 128 product of (a0, a1) and (b0, b1) into W[0..3]. */
export function mulu64(a0: number, a1: number, b0: number, b1: number): void {
  const x0 = a0 >>> 0;
  const x1 = a1 >>> 0;
  const y0 = b0 >>> 0;
  const y1 = b1 >>> 0;
  // Each 32x32 product: the low word exactly from Math.imul; the high word from the double
  // product, within 2^-19 of an integer (its rounding error is below 2^12), so + 0.5 and a
  // truncation (>>> 0, cheaper than Math.round) give it.
  const l00 = Math.imul(x0, y0) >>> 0;
  const h00 = ((x0 * y0 - l00) * INV32 + 0.5) >>> 0;
  const l01 = Math.imul(x0, y1) >>> 0;
  const h01 = ((x0 * y1 - l01) * INV32 + 0.5) >>> 0;
  const l10 = Math.imul(x1, y0) >>> 0;
  const h10 = ((x1 * y0 - l10) * INV32 + 0.5) >>> 0;
  const l11 = Math.imul(x1, y1) >>> 0;
  const h11 = ((x1 * y1 - l11) * INV32 + 0.5) >>> 0;
  // Column sums (< 2^34): exact in doubles; >>> 0 keeps the word, the rest carries.
  const s1 = h00 + l01 + l10;
  const w1 = s1 >>> 0;
  const s2 = h01 + h10 + l11 + (s1 - w1) * INV32;
  const w2 = s2 >>> 0;
  W[0] = l00;
  W[1] = w1;
  W[2] = w2;
  W[3] = h11 + (s2 - w2) * INV32;
}

/** Signed 64x64 -> 128 product into W[0..3] (the unsigned product, high half corrected for signs). */
export function muls64(a0: number, a1: number, b0: number, b1: number): void {
  mulu64(a0, a1, b0, b1);
  // (a - 2^64*sa)(b - 2^64*sb) = ab - 2^64(sa*b + sb*a) mod 2^128.
  if (a1 < 0) sub64hi(b0, b1);
  if (b1 < 0) sub64hi(a0, a1);
}

/** 2^63 with a margin far beyond the double product's rounding (under 2^-51 relative). */
export const OVF_BELOW = 9223372036854775808 * (1 - 2 ** -40);
export const OVF_ABOVE = 9223372036854775808 * (1 + 2 ** -40);

/**
 * The low 64 bits of a * b into W[0..1] (integer partial products, as arm64's mul64); returns
 * whether the signed product overflows 64 bits (x86 IMUL's CF/OF). The double product decides
 * that unless it lies within 2^-40 of 2^63 in magnitude; then the signed 128-bit product does.
 */
export function imul64(a0: number, a1: number, b0: number, b1: number): boolean {
  const al = a0 & 0xffff;
  const ah = a0 >>> 16;
  const bl = b0 & 0xffff;
  const bh = b0 >>> 16;
  const p01 = al * bh;
  const p10 = ah * bl;
  const mid = ((al * bl) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const hi = (ah * bh + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16) + Math.imul(a0, b1) + Math.imul(a1, b0)) | 0;
  const p = Math.abs((a1 * TWO32 + (a0 >>> 0)) * (b1 * TWO32 + (b0 >>> 0)));
  if (p < OVF_BELOW) {
    W[0] = Math.imul(a0, b0);
    W[1] = hi;
    return false;
  }
  if (p > OVF_ABOVE) {
    W[0] = Math.imul(a0, b0);
    W[1] = hi;
    return true;
  }
  muls64(a0, a1, b0, b1);
  return W[2] !== hi >> 31 || W[3] !== hi >> 31;
}

/** W[2..3] -= (x0, x1) mod 2^64. */
function sub64hi(x0: number, x1: number): void {
  const lo = (W[2]! >>> 0) - (x0 >>> 0);
  W[2] = lo | 0;
  W[3] = (W[3]! - x1 - (lo < 0 ? 1 : 0)) | 0;
}

// Knuth D working storage: dividend (9 limbs after normalising), divisor (4), quotient (8).
const un = new Int32Array(9);
const vn = new Int32Array(4);
const qd = new Int32Array(8);

/**
 * Unsigned (n3:n2:n1:n0) / (d1:d0): quotient in W[0..1], remainder in W[2..3]. Returns false
 * (W untouched) when x86 raises #DE: a zero divisor, or a quotient that needs more than 64 bits
 * (the dividend's high half >= the divisor).
 */
export function divu128(n0: number, n1: number, n2: number, n3: number, d0: number, d1: number): boolean {
  const dh = d1 >>> 0;
  const dl = d0 >>> 0;
  if (dh === 0 && dl === 0) return false;
  const nh = n3 >>> 0;
  const nl = n2 >>> 0;
  if ((nh | nl) === 0) {
    // A 64-bit dividend (DIV after zeroing rDX, and every arm64 UDIV).
    divu64(n0, n1, d0, d1);
    return true;
  }
  if (nh > dh || (nh === dh && nl >= dl)) return false;
  if (dh === 0) {
    // One-word divisor (so n3 = 0, n2 < d): two 64/32 steps, each with a quotient below 2^32.
    div64by32(n2, n1, d0);
    W[1] = F[1]!;
    div64by32(F[0]!, n0, d0);
    W[0] = F[1]!;
    W[2] = F[0]!;
    W[3] = 0;
    return true;
  }
  return divKnuth(n0, n1, n2, n3, d0, d1);
}

/**
 * Unsigned 64-bit (n1:n0) / (d1:d0) for a non-zero divisor: quotient in W[0..1], remainder in
 * W[2..3]. Below 2^53 one double division is exact. Above, a double quotient estimate (within
 * one of the true one for divisors from 2^21 to 2^51) is corrected by the exact remainder, formed
 * from 32-bit word products; smaller divisors take two exact 64/32 steps, larger ones (a quotient
 * below 2^13) compare products split in two exact doubles.
 */
export function divu64(n0: number, n1: number, d0: number, d1: number): void {
  const nh = n1 >>> 0;
  const dh = d1 >>> 0;
  if (nh < 0x200000 && dh < 0x200000) {
    // Both below 2^53 (the common case, kept small to inline): the rounded quotient of exact
    // integers floors to the true one.
    const n = nh * TWO32 + (n0 >>> 0);
    const d = dh * TWO32 + (d0 >>> 0);
    const q = Math.floor(n / d);
    setQR(q, n - q * d);
    return;
  }
  // Int32 arguments: uint32 ones above 2^31 would be boxed for the call.
  divu64Wide(n0, n1, d0, d1);
}

/** divu64 for a dividend or divisor of 2^53 or more. */
function divu64Wide(n0: number, n1: number, d0: number, d1: number): void {
  const nh = n1 >>> 0;
  const nl = n0 >>> 0;
  const dh = d1 >>> 0;
  const dl = d0 >>> 0;
  if (dh < 0x80000) {
    // d < 2^51, exact as a double (so n >= 2^53 here).
    const d = dh * TWO32 + dl;
    if (dh === 0 && dl < 0x200000) {
      // Small divisor: (nh / d), then (r * 2^32 + nl) / d, each exact (r < d < 2^21).
      const qh = Math.floor(nh / dl);
      const m = (nh - qh * dl) * TWO32 + nl;
      const ql = Math.floor(m / dl);
      W[0] = ql | 0;
      W[1] = qh | 0;
      W[2] = m - ql * dl;
      W[3] = 0;
      return;
    }
    // 2^21 <= d < 2^51: q < 2^43, so the estimate is within one.
    const n = nh * TWO32 + nl;
    let q = Math.floor(n / d);
    let r = exactRem(n, q, d, nl, dl);
    while (r < 0) {
      q--;
      r += d;
    }
    while (r >= d) {
      q++;
      r -= d;
    }
    setQR(q, r);
    return;
  }
  // d >= 2^51: q < 2^13.
  if (nh < dh || (nh === dh && nl < dl)) {
    W[0] = 0;
    W[1] = 0;
    W[2] = nl;
    W[3] = nh;
    return;
  }
  let q = Math.floor((nh * TWO32 + nl) / (dh * TWO32 + dl));
  // r = n - q * d as rh * 2^32 + rl (each part exact: q * dh and q * dl are below 2^45).
  let rh = nh - q * dh;
  let rl = nl - q * dl;
  const c = Math.floor(rl * INV32);
  rh += c;
  rl -= c * TWO32;
  while (rh < 0) {
    q--;
    rl += dl;
    rh += dh;
    if (rl >= TWO32) {
      rl -= TWO32;
      rh++;
    }
  }
  while (rh > dh || (rh === dh && rl >= dl)) {
    q++;
    rl -= dl;
    rh -= dh;
    if (rl < 0) {
      rl += TWO32;
      rh--;
    }
  }
  W[0] = q;
  W[1] = 0;
  W[2] = rl;
  W[3] = rh;
}

/**
 * The exact n - q * d for an integer n < 2^64 (`n` its rounded double, `nl` its low word), a
 * quotient estimate q < 2^53 and a divisor d < 2^51 (`dl` its low word), when the result is
 * below 2^52 in magnitude: the double difference is within 2^13 of it (the roundings of n and of
 * q * d) and Math.imul gives its low word exactly, which pins the rest.
 */
function exactRem(n: number, q: number, d: number, nl: number, dl: number): number {
  const ra = n - q * d;
  return ra + ((nl - Math.imul(q, dl) - ra) | 0);
}

/** W[0..1] = q, W[2..3] = r for integers 0 <= q, r < 2^53. */
function setQR(q: number, r: number): void {
  const q0 = q >>> 0;
  const r0 = r >>> 0;
  W[0] = q0;
  W[1] = (q - q0) * INV32;
  W[2] = r0;
  W[3] = (r - r0) * INV32;
}

/**
 * Signed 64-bit (n1:n0) / (d1:d0) for a non-zero divisor, truncating toward zero: quotient in
 * W[0..1] (INT64_MIN / -1 wraps to INT64_MIN, as arm64 SDIV gives), remainder (the dividend's
 * sign) in W[2..3].
 */
export function divs64(n0: number, n1: number, d0: number, d1: number): void {
  const nNeg = n1 < 0;
  const dNeg = d1 < 0;
  if (nNeg) {
    n0 = -n0 | 0;
    n1 = n0 === 0 ? -n1 | 0 : ~n1;
  }
  if (dNeg) {
    d0 = -d0 | 0;
    d1 = d0 === 0 ? -d1 | 0 : ~d1;
  }
  divu64(n0, n1, d0, d1);
  if (nNeg !== dNeg) neg64(0);
  if (nNeg) neg64(2);
}

/**
 * div64by32's results: the remainder, the quotient (a typed array, as a module `let` holding a
 * double would allocate a number at each store, and the words are passed as int32 for the same
 * reason: a uint32 above 2^31 is boxed for a call).
 */
const F = new Float64Array(2);

/**
 * (h * 2^32 + l) / d for h < d < 2^32 (words as int32 or uint32; the quotient is below 2^32):
 * quotient in F[1], remainder in F[0]. Below 2^21 the dividend is exact in a double; above, the
 * double quotient is within one of the true one and the exact remainder corrects it.
 */
function div64by32(hw: number, lw: number, dw: number): void {
  const h = hw >>> 0;
  const l = lw >>> 0;
  const d = dw >>> 0;
  if (d < 0x200000) {
    // h < d < 2^21: h * 2^32 + l < 2^53, exact.
    const n = h * TWO32 + l;
    const q = Math.floor(n / d);
    F[0] = n - q * d;
    F[1] = q;
    return;
  }
  if (h === 0) {
    // l, d < 2^32: a non-integer l / d is at least 2^-32 from an integer, far beyond the rounding.
    const q0 = Math.floor(l / d);
    F[0] = l - q0 * d;
    F[1] = q0;
    return;
  }
  const n = h * TWO32 + l;
  let q = Math.floor(n / d);
  let r = exactRem(n, q, d, l, d);
  while (r < 0) {
    q--;
    r += d;
  }
  while (r >= d) {
    q++;
    r -= d;
  }
  F[0] = r;
  F[1] = q;
}

/** Knuth's algorithm D on 16-bit limbs for a divisor of 3 or 4 limbs (d >= 2^32); see divu128. */
function divKnuth(n0: number, n1: number, n2: number, n3: number, d0: number, d1: number): boolean {
  const nl = n2 >>> 0;
  const nh = n3 >>> 0;
  const dl = d0 >>> 0;
  const dh = d1 >>> 0;
  // Knuth D with 16-bit limbs; the divisor has 3 or 4 limbs (d >= 2^32).
  const n = (dh >>> 16) !== 0 ? 4 : 3;
  const top = n === 4 ? dh >>> 16 : dh & 0xffff;
  const s = Math.clz32(top) - 16; // normalising shift: the divisor's top limb gets its high bit set
  // Divisor limbs, shifted left by s.
  const v64l = s === 0 ? dl : ((dl << s) >>> 0);
  const v64h = s === 0 ? dh : (((dh << s) | (dl >>> (32 - s))) >>> 0);
  vn[0] = v64l & 0xffff;
  vn[1] = v64l >>> 16;
  vn[2] = v64h & 0xffff;
  vn[3] = v64h >>> 16;
  // Dividend limbs, shifted left by s (9 limbs).
  const w0 = n0 >>> 0;
  const w1 = n1 >>> 0;
  const w2 = nl;
  const w3 = nh;
  const s0 = s === 0 ? w0 : (w0 << s) >>> 0;
  const s1 = s === 0 ? w1 : ((w1 << s) | (w0 >>> (32 - s))) >>> 0;
  const s2 = s === 0 ? w2 : ((w2 << s) | (w1 >>> (32 - s))) >>> 0;
  const s3 = s === 0 ? w3 : ((w3 << s) | (w2 >>> (32 - s))) >>> 0;
  un[0] = s0 & 0xffff;
  un[1] = s0 >>> 16;
  un[2] = s1 & 0xffff;
  un[3] = s1 >>> 16;
  un[4] = s2 & 0xffff;
  un[5] = s2 >>> 16;
  un[6] = s3 & 0xffff;
  un[7] = s3 >>> 16;
  un[8] = s === 0 ? 0 : w3 >>> (32 - s);
  const vTop = vn[n - 1]!;
  const vNext = vn[n - 2]!;
  qd.fill(0);
  for (let j = 8 - n; j >= 0; j--) {
    const num = un[j + n]! * B + un[j + n - 1]!;
    let qhat = Math.floor(num / vTop);
    let rhat = num - qhat * vTop;
    while (qhat >= B || qhat * vNext > rhat * B + un[j + n - 2]!) {
      qhat--;
      rhat += vTop;
      if (rhat >= B) break;
    }
    // un[j..j+n] -= qhat * vn
    let k = 0;
    let t = 0;
    for (let i = 0; i < n; i++) {
      const p = qhat * vn[i]!; // < 2^32
      t = un[i + j]! - k - (p & 0xffff);
      un[i + j] = t & 0xffff;
      k = (p >>> 16) - (t >> 16);
    }
    t = un[j + n]! - k;
    un[j + n] = t & 0xffff;
    if (t < 0) {
      // qhat was one too large: add the divisor back.
      qhat--;
      k = 0;
      for (let i = 0; i < n; i++) {
        t = un[i + j]! + vn[i]! + k;
        un[i + j] = t & 0xffff;
        k = t >>> 16;
      }
      un[j + n] = (un[j + n]! + k) & 0xffff;
    }
    qd[j] = qhat;
  }
  W[0] = qd[0]! | (qd[1]! << 16);
  W[1] = qd[2]! | (qd[3]! << 16);
  // Remainder: the low n limbs, shifted back right by s.
  const r0 = (un[0]! | (un[1]! << 16)) >>> 0;
  const r1 = n === 4 ? (un[2]! | (un[3]! << 16)) >>> 0 : un[2]!;
  W[2] = s === 0 ? r0 : (r0 >>> s) | (r1 << (32 - s));
  W[3] = s === 0 ? r1 : r1 >>> s;
  return true;
}

/**
 * Signed (n3:n2:n1:n0) / (d1:d0), truncating toward zero: quotient in W[0..1], remainder (the
 * dividend's sign) in W[2..3]. Returns false for #DE: a zero divisor or a quotient outside the
 * signed 64-bit range.
 */
export function divs128(n0: number, n1: number, n2: number, n3: number, d0: number, d1: number): boolean {
  if (n2 === n3 && n3 === n1 >> 31) {
    // A sign-extended 64-bit dividend (IDIV after CQO): only INT64_MIN / -1 overflows.
    if ((d0 | d1) === 0 || (n1 === -0x80000000 && n0 === 0 && (d0 & d1) === -1)) return false;
    divs64(n0, n1, d0, d1);
    return true;
  }
  const nNeg = n3 < 0;
  const dNeg = d1 < 0;
  if (nNeg) {
    // 128-bit two's complement negation.
    n0 = ~n0;
    n1 = ~n1;
    n2 = ~n2;
    n3 = ~n3;
    n0 = (n0 + 1) | 0;
    if (n0 === 0) {
      n1 = (n1 + 1) | 0;
      if (n1 === 0) {
        n2 = (n2 + 1) | 0;
        if (n2 === 0) n3 = (n3 + 1) | 0;
      }
    }
  }
  if (dNeg) {
    d0 = ~d0;
    d1 = ~d1;
    d0 = (d0 + 1) | 0;
    if (d0 === 0) d1 = (d1 + 1) | 0;
  }
  if (!divu128(n0, n1, n2, n3, d0, d1)) return false;
  const qNeg = nNeg !== dNeg;
  const qh = W[1]! >>> 0;
  // |quotient| <= 2^63 - 1, or exactly 2^63 when negative.
  if (qh > 0x7fffffff && !(qNeg && qh === 0x80000000 && W[0] === 0)) return false;
  if (qNeg) neg64(0);
  if (nNeg) neg64(2);
  return true;
}

/** W[k..k+1] = -W[k..k+1] mod 2^64. */
function neg64(k: number): void {
  const lo = (~W[k]! + 1) | 0;
  W[k + 1] = lo === 0 ? (~W[k + 1]! + 1) | 0 : ~W[k + 1]!;
  W[k] = lo;
}
