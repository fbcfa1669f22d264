/**
 * arith64.ts's common paths as JS source, for the JS JITs (x86 emit-js-muldiv.ts, arm64
 * emit-js.ts) to inline: a hot multiply or divide then makes no call and no round trip through
 * `W`. Same formulations as arith64.ts (see there why each is exact). The generators take the
 * emitter's own names: operands are evaluated more than once (pass variables or register
 * locals), and `m`/`q` prefix the `var`s they declare.
 * @module
 */

const TWO32 = 4294967296;
/** 2^-32 as source text (round-trips exactly). */
export const INV32 = String(1 / TWO32);

/**
 * The high word of the unsigned 32x32 product of words `x` and `y` whose low word (Math.imul)
 * is `lo`: the double product is within 2^12 of the exact one, so + 0.5 and a truncation give it.
 */
export function mulHi32Js(x: string, y: string, lo: string): string {
  return `(((((${x}) >>> 0) * ((${y}) >>> 0) - ((${lo}) >>> 0)) * ${INV32} + 0.5) >>> 0)`;
}

/** The high word of the low 64 bits of (al, ah) * (bl, bh), whose low word is `lo` = Math.imul(al, bl). */
export function mul64HiJs(al: string, ah: string, bl: string, bh: string, lo: string): string {
  return `(${mulHi32Js(al, bl, lo)} + Math.imul(${al}, ${bh}) + Math.imul(${ah}, ${bl})) | 0`;
}

/**
 * Statements declaring `${m}w0`..`${m}w3`, the 128-bit product of (a0, a1) and (b0, b1) as int32
 * words, lowest first (arith64.ts mulu64); `signed`: the signed product (muls64's correction of
 * the high half: (a - 2^64 sa)(b - 2^64 sb) = ab - 2^64 (sa b + sb a) mod 2^128).
 */
export function mul128Js(m: string, a0: string, a1: string, b0: string, b1: string, signed: boolean): string {
  const part = (n: string, x: string, y: string) => `${m}l${n} = Math.imul(${m}${x}, ${m}${y}) >>> 0, ${m}h${n} = ((${m}${x} * ${m}${y} - ${m}l${n}) * ${INV32} + 0.5) >>> 0`;
  const out = [
    `var ${m}x0 = ${a0} >>> 0, ${m}x1 = ${a1} >>> 0, ${m}y0 = ${b0} >>> 0, ${m}y1 = ${b1} >>> 0;`,
    `var ${part('00', 'x0', 'y0')}, ${part('01', 'x0', 'y1')}, ${part('10', 'x1', 'y0')}, ${part('11', 'x1', 'y1')};`,
    `var ${m}s1 = ${m}h00 + ${m}l01 + ${m}l10, ${m}s2 = ${m}h01 + ${m}h10 + ${m}l11 + (${m}s1 - (${m}s1 >>> 0)) * ${INV32};`,
    `var ${m}w0 = ${m}l00 | 0, ${m}w1 = ${m}s1 | 0, ${m}w2 = ${m}s2 | 0, ${m}w3 = (${m}h11 + (${m}s2 - (${m}s2 >>> 0)) * ${INV32}) | 0;`,
  ];
  if (signed) {
    const sub = (x0: string, x1: string) => `{ var ${m}d = (${m}w2 >>> 0) - (${x0} >>> 0); ${m}w2 = ${m}d | 0; ${m}w3 = (${m}w3 - ${x1} - (${m}d < 0 ? 1 : 0)) | 0; }`;
    out.push(`if (${a1} < 0) ${sub(b0, b1)} if (${b1} < 0) ${sub(a0, a1)}`);
  }
  return out.join(' ');
}

/**
 * Statements setting `${q}l`, `${q}h` (int32 words) to the unsigned quotient of (nh * 2^32 + nl)
 * by a non-zero divisor word `dw`, and `${q}r` (a double below 2^32) to the remainder, as
 * arith64.ts divides: below 2^21 two exact double divisions (the high word's remainder times
 * 2^32 plus the low word stays below 2^53); above, the double quotient of the rounded dividend is
 * within one of the true one (under 2^43), and the remainder's low word from Math.imul pins the
 * exact remainder that corrects it. `nh`, `nl`: uint32 expressions.
 */
export function divBy32Js(q: string, nh: string, nl: string, dw: string): string {
  return [
    `var ${q}d = ${dw} >>> 0, ${q}a = ${nh}, ${q}b = ${nl};`,
    `if (${q}d < 2097152) { var ${q}u = Math.floor(${q}a / ${q}d), ${q}m = (${q}a - ${q}u * ${q}d) * ${TWO32} + ${q}b, ${q}v = Math.floor(${q}m / ${q}d);`,
    `${q}l = ${q}v | 0; ${q}h = ${q}u | 0; ${q}r = ${q}m - ${q}v * ${q}d; }`,
    `else { var ${q}n = ${q}a * ${TWO32} + ${q}b, ${q}e = Math.floor(${q}n / ${q}d), ${q}x = ${q}n - ${q}e * ${q}d; ${q}x += (${q}b - Math.imul(${q}e, ${q}d) - ${q}x) | 0;`,
    `if (${q}x < 0) { ${q}e--; ${q}x += ${q}d; } else if (${q}x >= ${q}d) { ${q}e++; ${q}x -= ${q}d; } ${q}l = ${q}e | 0; ${q}h = Math.floor(${q}e * ${INV32}) | 0; ${q}r = ${q}x; }`,
  ].join(' ');
}

/**
 * Statements setting `${q}l`, `${q}h` to the 64-bit quotient and `${q}rl`, `${q}rh` to the
 * remainder of (al, ah) by (bl, bh), truncating toward zero (`signed`) or unsigned, on the paths
 * that need no call: both operands below 2^53 in magnitude (one exact double division), or a
 * divisor of one word (below 2^32, positive) by divBy32Js. Where neither applies, where the
 * divisor is zero or where `guard` (a condition on the dividend, '' for none) fails, `slow` runs
 * instead: it sets the four itself (from the arith64.ts call) or leaves them 0.
 */
export function div64Js(q: string, al: string, ah: string, bl: string, bh: string, signed: boolean, guard: string, slow: string): string {
  const g = guard === '' ? '' : `${guard} && `;
  const small = signed ? (h: string) => `((${h} + 2097152) >>> 0) < 4194304` : (h: string) => `(${h} >>> 0) < 2097152`;
  const num = (l: string, h: string) => (signed ? `${h} * ${TWO32} + (${l} >>> 0)` : `(${h} >>> 0) * ${TWO32} + (${l} >>> 0)`);
  const out = [`var ${q}l = 0, ${q}h = 0, ${q}r = 0, ${q}rl = 0, ${q}rh = 0;`];
  // Both below 2^53: the rounded quotient of exact integers truncates to the true one, and the
  // remainder n - q * d is exact (|q * d| <= |n|).
  out.push(`if (${g}(${bl} | ${bh}) !== 0 && ${small(ah)} && ${small(bh)}) { var ${q}N = ${num(al, ah)}, ${q}D = ${num(bl, bh)}, ${q}Q = Math.${signed ? 'trunc' : 'floor'}(${q}N / ${q}D), ${q}R = ${q}N - ${q}Q * ${q}D;`);
  out.push(`${q}l = ${q}Q | 0; ${q}h = Math.floor(${q}Q * ${INV32}) | 0; ${q}rl = ${q}R | 0; ${q}rh = Math.floor(${q}R * ${INV32}) | 0;`);
  if (!signed) out.push(`} else if (${g}${bh} === 0 && ${bl} !== 0) { ${divBy32Js(q, `${ah} >>> 0`, `${al} >>> 0`, bl)} ${q}rl = ${q}r | 0;`);
  else {
    // |n| by divBy32Js, then the quotient and remainder take the dividend's sign (the divisor is positive).
    out.push(`} else if (${g}${bh} === 0 && ${bl} !== 0) { var ${q}s = ${ah} < 0, ${q}n0 = ${al}, ${q}n1 = ${ah};`);
    out.push(`if (${q}s) { ${q}n0 = -(${al}) | 0; ${q}n1 = ${q}n0 === 0 ? -(${ah}) | 0 : ~(${ah}); }`);
    out.push(divBy32Js(q, `${q}n1 >>> 0`, `${q}n0 >>> 0`, bl));
    out.push(`if (${q}s) { ${q}l = -${q}l | 0; ${q}h = ${q}l === 0 ? -${q}h | 0 : ~${q}h; ${q}rl = -${q}r | 0; ${q}rh = ${q}r === 0 ? 0 : -1; } else ${q}rl = ${q}r | 0;`);
  }
  out.push(`} else { ${slow} }`);
  return out.join(' ');
}
