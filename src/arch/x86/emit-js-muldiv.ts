/**
 * The x86 JS JIT's MUL, IMUL, DIV and IDIV of 32 and 64 bits (JsEmitter's mulWide, imul64,
 * imul32, divWide): arith64.ts's exact paths inlined (arith64-js.ts), so the common cases make no
 * call and no round trip through `W`; the rest call arith64.ts as exec/muldiv.ts does. Register
 * operands are written `R[i]` (the emitter's register locals); `p` prefixes the variables an
 * instruction declares (unique per instruction: the deferred flags name them).
 * @module
 */
import { OVF_ABOVE, OVF_BELOW } from '../arith64.js';
import { div64Js, divBy32Js, mul128Js, mul64HiJs, mulHi32Js } from '../arith64-js.js';
import { FOp } from './flags.js';

const TWO32 = 4294967296;

/** Statements, and the flags record they leave as a deferred statement (JsEmitter `pend`) with its CF. */
export interface MulJs {
  readonly code: string;
  readonly pend: string;
  readonly cf: string;
}

/** The flags MUL/IMUL leave (exec/muldiv.ts setMulFlags): the product's low half, CF = OF = `o`. */
function mulFlags(size: number, r0: string, r1: string, o: string): string {
  return `f.op = ${FOp.EAGER_CO}; f.size = ${size}; f.a0 = 0; f.a1 = 0; f.b0 = 0; f.b1 = 0; f.r0 = ${r0}; f.r1 = ${r1}; f.cin = ${o}; f.ofv = ${o}; f.afv = 0;`;
}

/** MUL/IMUL r/m (one operand) of 4 or 8 bytes: rDX:rAX = rAX * (bl, bh). */
export function mulWideJs(p: string, signed: boolean, size: 4 | 8, bl: string, bh: string): MulJs {
  if (size === 8) {
    const ovf = signed ? `${p}w2 !== ${p}w1 >> 31 || ${p}w3 !== ${p}w1 >> 31` : `(${p}w2 | ${p}w3) !== 0`;
    const code = `${mul128Js(p, 'R[0]', 'R[1]', bl, bh, signed)} var ${p}o = ${ovf} ? 1 : 0; R[0] = ${p}w0; R[1] = ${p}w1; R[4] = ${p}w2; R[5] = ${p}w3;`;
    return { code, pend: mulFlags(8, `${p}w0`, `${p}w1`, `${p}o`), cf: `${p}o` };
  }
  // The unsigned high word, then for IMUL the signed one: minus b if a < 0, minus a if b < 0.
  let code = `var ${p}l = Math.imul(R[0], ${bl}), ${p}h = ${mulHi32Js('R[0]', bl, `${p}l`)};`;
  code += signed ? ` ${p}h = (${p}h - (R[0] < 0 ? ${bl} >>> 0 : 0) - (${bl} < 0 ? R[0] >>> 0 : 0)) | 0;` : ` ${p}h = ${p}h | 0;`;
  code += ` var ${p}o = ${p}h !== ${signed ? `${p}l >> 31` : '0'} ? 1 : 0; R[0] = ${p}l; R[1] = 0; R[4] = ${p}h; R[5] = 0;`;
  return { code, pend: mulFlags(4, `${p}l`, '0', `${p}o`), cf: `${p}o` };
}

/**
 * IMUL r64, r/m64 (, imm): GPR `r` = the low 64 bits of (al, ah) * (bl, bh); CF = OF = the signed
 * product does not fit, decided by the double product unless it lies within 2^-40 of 2^63 in
 * magnitude (arith64.ts imul64, called then).
 */
export function imul64Js(p: string, r: number, al: string, ah: string, bl: string, bh: string): MulJs {
  const code = [
    `var ${p}l = Math.imul(${al}, ${bl}), ${p}h = ${mul64HiJs(al, ah, bl, bh, `${p}l`)};`,
    `var ${p}m = Math.abs((${ah} * ${TWO32} + (${al} >>> 0)) * (${bh} * ${TWO32} + (${bl} >>> 0)));`,
    `var ${p}o = ${p}m < ${OVF_BELOW} ? 0 : ${p}m > ${OVF_ABOVE} ? 1 : K.imul64(${al}, ${ah}, ${bl}, ${bh}) ? 1 : 0;`,
    `R[${2 * r}] = ${p}l; R[${2 * r + 1}] = ${p}h;`,
  ].join(' ');
  return { code, pend: mulFlags(8, `${p}l`, `${p}h`, `${p}o`), cf: `${p}o` };
}

/** IMUL r32, r/m32 (, imm): GPR `r` = the low 32 bits of a * b (int32 words; their double product is exact below 2^53). */
export function imul32Js(p: string, r: number, a: string, b: string): MulJs {
  const code = `var ${p}l = Math.imul(${a}, ${b}), ${p}o = ${a} * ${b} !== ${p}l ? 1 : 0; R[${2 * r}] = ${p}l; R[${2 * r + 1}] = 0;`;
  return { code, pend: `f.op = ${FOp.EAGER_CO}; f.size = 4; f.a0 = 0; f.b0 = 0; f.r0 = ${p}l; f.cin = ${p}o; f.ofv = ${p}o; f.afv = 0;`, cf: `${p}o` };
}

/**
 * DIV/IDIV r/m of 4 or 8 bytes: rAX, rDX = rDX:rAX / (bl, bh), % (bl, bh); `de` raises #DE (a zero
 * divisor, a quotient that does not fit). Inline for a 64-bit dividend (rDX zero, or rAX's sign
 * for IDIV: after XOR rDX or CQO) and a 32-bit one; other 128-bit dividends call arith64.ts.
 */
export function divWideJs(p: string, signed: boolean, size: 4 | 8, bl: string, bh: string, de: string): string {
  const set = (q: string, r: string) => (size === 8 ? `R[0] = ${q}l; R[1] = ${q}h; R[4] = ${r}l; R[5] = ${r}h;` : `R[0] = ${q}; R[1] = 0; R[4] = ${r}; R[5] = 0;`);
  if (size === 8) {
    const call = `if (!K.${signed ? 'divs128' : 'divu128'}(R[0], R[1], R[4], R[5], ${bl}, ${bh})) ${de} ${p}l = K.W[0]; ${p}h = K.W[1]; ${p}rl = K.W[2]; ${p}rh = K.W[3];`;
    const guard = signed ? 'R[4] === R[5] && R[5] === R[1] >> 31' : '(R[4] | R[5]) === 0';
    return `${div64Js(p, 'R[0]', 'R[1]', bl, bh, signed, guard, call)} ${set(p, `${p}r`)}`;
  }
  if (!signed) {
    // EDX < the divisor: the quotient fits 32 bits (and the divisor is not zero).
    return `var ${p}l = 0, ${p}h = 0, ${p}r = 0; if ((R[4] >>> 0) < (${bl} >>> 0)) { ${divBy32Js(p, 'R[4] >>> 0', 'R[0] >>> 0', bl)} } else ${de} ${set(`${p}l`, `${p}r | 0`)}`;
  }
  // EDX:EAX below 2^53 in magnitude: one exact double division (see div64Js), else arith64.ts.
  return [
    `var ${p}l = 0, ${p}r = 0; if (((R[4] + 2097152) >>> 0) < 4194304 && ${bl} !== 0) {`,
    `var ${p}N = R[4] * ${TWO32} + (R[0] >>> 0), ${p}Q = Math.trunc(${p}N / ${bl}); if (${p}Q < -2147483648 || ${p}Q > 2147483647) ${de}`,
    `${p}l = ${p}Q | 0; ${p}r = (${p}N - ${p}Q * ${bl}) | 0;`,
    `} else { if (!K.divs128(R[0], R[4], R[4] >> 31, R[4] >> 31, ${bl}, ${bl} >> 31) || K.W[1] !== K.W[0] >> 31) ${de} ${p}l = K.W[0]; ${p}r = K.W[2]; }`,
    set(`${p}l`, `${p}r`),
  ].join(' ');
}
