/**
 * `npm run bench` (h), the 64-bit MUL/DIV kernel: the MIPS it reports are only worth something if
 * the guest computed the right thing. Both arches, both engines, against the kernel's BigInt model
 * (bench/cold.ts mulDivModel), for an iteration count that crosses the JIT's hotness threshold.
 */
import { describe, expect, it } from 'vitest';
import { mulDivMips, mulDivModel } from '../../bench/cold.js';

describe('bench (h): the MUL/DIV kernels compute what their model does', () => {
  for (const arch of ['x86_64', 'arm64'] as const) {
    for (const jit of [true, false]) {
      it(`${arch}, ${jit ? 'block JIT' : 'interpreter'}`, () => {
        const n = jit ? 40_000 : 3_000;
        const want = mulDivModel(arch, n);
        expect(want).not.toBe(0x0123456789abcdefn);
        expect(mulDivMips(arch, n, 1, jit).result).toBe(want);
      }, 60_000);
    }
  }
});
