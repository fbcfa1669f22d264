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
 *
 * This module is the format's public face; the code is in f80-core.ts (representation, rounding,
 * NaN rules), f80-arith.ts (add, mul, div, sqrt, compare), f80-int.ts (integers, scale, extract,
 * remainder) and f80-cvt.ts (binary64/binary32, packed BCD).
 * @module
 */
export {
  C1, classX, Cls, DE, EXC, IE, INDEF_HI, INDEF_LO, INDEF_SE, invalidX, nanOrInvalid2, NOSTORE, OE, PE, R, RC_DOWN, RC_NEAREST, RC_UP, RC_ZERO, roundToX, setMemDenormal, SF, UE, unpackInto, WRAP_X87, ZE,
} from './f80-core.js';
export {
  addX, CMP_EQ, CMP_GT, CMP_LT, CMP_UN, compareX, divX, mulX, sqrtX,
} from './f80-arith.js';
export {
  fromIntX, R2, remX, rndintX, scaleX, toIntX, xtractX,
} from './f80-int.js';
export {
  fromBcdX, fromF32X, fromF64X, toBcdX, toF32X, toF64X,
} from './f80-cvt.js';

// ---- internals shared with the SSE slow paths (sse.ts) ------------------------------------

/** @internal Soft-float internals for sse.ts: scratch slots and the format-generic steps. */
export {
  W as SW, A as SA, B as SB, CLS as S_CLS, SGN as S_SGN, EXP as S_EXP, M1 as S_M1, M0 as S_M0, DEN as S_DEN,
  ZS as S_ZS, ZE_ as S_ZE, ZM1 as S_ZM1, ZM0 as S_ZM0, ZX as S_ZX, RC_ as S_RCLS, RS as S_RS, RE as S_RE, RM1 as S_RM1, RM0 as S_RM0,
  NE as S_NE, NM1 as S_NM1, NM0 as S_NM0, normalize64,
  EMIN_D, EMAX_D, EMIN_S, EMAX_S, unpackD, unpackS, round, packD, packS,
} from './f80-core.js';
/** @internal */
export { coreAdd, coreMul, coreDiv, coreSqrt, cmpUnpacked } from './f80-arith.js';
