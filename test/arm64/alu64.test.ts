/**
 * arm64's 64-bit MUL (MADD's product), UMULH/SMULH/UDIV/SDIV helpers (src/arch/arm64/alu.ts, over the shared
 * src/arch/arith64.ts) against the BigInt formulation, on random and edge operands.
 */
import { expect, it } from 'vitest';
import { mul64, R, sdiv64, smulh64, udiv64, umulh64 } from '../../src/arch/arm64/alu.js';

const M64 = (1n << 64n) - 1n;
const lo = (v: bigint) => Number(BigInt.asIntN(32, v));
const hi = (v: bigint) => Number(BigInt.asIntN(32, v >> 32n));
const got = () => (BigInt(R.hi >>> 0) << 32n) | BigInt(R.lo >>> 0);

function operands(): bigint[] {
  const edge = [0n, 1n, 2n, 3n, 0x7fn, 0xffn, 0xffffn, 0xffff0001n, 0xffffffffn, 0x100000000n, 0x1fffffffffffffn, 0x20000000000000n, 0x7fffffffffffffffn, 0x8000000000000000n, M64, M64 - 1n, 0x9e3779b97f4a7c15n, 0x0123456789abcdefn];
  const out = [...edge];
  let x = 0x243f6a8885a308d3n;
  for (let i = 0; i < 400; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & M64;
    // Random widths: a value of 1..64 significant bits.
    out.push(x >> BigInt(Number(x >> 58n)));
  }
  return out;
}

it('MUL/UMULH/SMULH/UDIV/SDIV equal the BigInt results', () => {
  const ops = operands();
  const bad: string[] = [];
  for (let i = 0; i < ops.length; i++) {
    for (let j = 0; j < ops.length; j += 7) {
      const a = ops[i]!;
      const b = ops[(j + i) % ops.length]!;
      const as = BigInt.asIntN(64, a);
      const bs = BigInt.asIntN(64, b);
      mul64(lo(a), hi(a), lo(b), hi(b));
      if (got() !== ((a * b) & M64)) bad.push(`mul ${a} ${b}`);
      umulh64(lo(a), hi(a), lo(b), hi(b));
      if (got() !== (a * b) >> 64n) bad.push(`umulh ${a} ${b}`);
      smulh64(lo(a), hi(a), lo(b), hi(b));
      if (got() !== BigInt.asUintN(64, (as * bs) >> 64n)) bad.push(`smulh ${a} ${b}`);
      if (b === 0n) continue;
      udiv64(lo(a), hi(a), lo(b), hi(b));
      if (got() !== a / b) bad.push(`udiv ${a} ${b}`);
      sdiv64(lo(a), hi(a), lo(b), hi(b));
      // INT64_MIN / -1 is INT64_MIN (no trap on arm64).
      if (got() !== BigInt.asUintN(64, as / bs)) bad.push(`sdiv ${a} ${b}`);
    }
  }
  expect(bad.slice(0, 10)).toEqual([]);
});
