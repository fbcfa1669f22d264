/**
 * x87 transcendental instructions (FSIN, FCOS, FSINCOS, FPTAN, FPATAN, F2XM1, FYL2X, FYL2XP1).
 *
 * Arguments (64-bit significands) convert exactly to double-double (a pair of doubles, about 106
 * significant bits); the functions are evaluated in double-double by argument reduction and
 * Taylor/atanh series whose truncation error is below 2^-100, and the result is rounded once into
 * the extended format by the control word's RC. The results are therefore within 1 ulp of the
 * exact value (almost always correctly rounded); the hardware itself is documented to be within
 * 1 ulp, so the two may differ in the last bit (the differential test allows 2 ulps).
 *
 * FSIN/FCOS/FSINCOS/FPTAN reduce |x| >= pi/4 modulo pi/2 exactly against the 66-bit value of pi
 * that the x87 uses for its reduction (SDM "Transcendental instruction accuracy"), as the
 * hardware does, so large arguments give the hardware's (not the mathematically exact) results.
 * Operands with |x| >= 2^63 are out of range (C2 = 1, ST(0) unchanged). F2XM1 outside [-1, 1]
 * and FYL2XP1 outside |x| < 1 - sqrt(2)/2 have undefined results on hardware; here they are
 * still computed (2^x - 1 and log2(1 + x)).
 *
 * Every function takes the operand(s) as (se, hi, lo), the FCW, and returns the exception bits
 * with the result in R (and the second result of FSINCOS/FPTAN in R2); R[3] = 1 reports an
 * out-of-range operand. Nothing allocates: double-double values live in a Float64Array register
 * file.
 *
 * This module is their public face: trans-dd.ts has the double-double arithmetic and the
 * conversions to and from the extended format, trans-trig.ts FSIN/FCOS/FSINCOS/FPTAN/FPATAN,
 * trans-log.ts FYL2X/FYL2XP1/F2XM1.
 * @module
 */
export {
  fcosX, fpatanX, fptanX, fsincosX, fsinX,
} from './trans-trig.js';
export {
  f2xm1X, fyl2xp1X, fyl2xX,
} from './trans-log.js';
