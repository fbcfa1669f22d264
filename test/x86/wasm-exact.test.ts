/**
 * The x86 JIT engines against the interpreter on wasm-exact.ts's loop programs (exits, faults,
 * code writes, TLB flushes; kernel half at CPL 0 and low half at CPL 3), the wasm engine's blocks
 * written into modules after a few rounds.
 */
import { describe, expect, it } from 'vitest';
import type { VirtualSysOptions } from '../../src/index.js';
import { exactProgram, runExact } from './wasm-exact.js';

const ENGINES: readonly [string, VirtualSysOptions][] = [
  ['jit-js', { jit: true, jitHotness: 0, jitEngine: 'js' }],
  ['jit-wasm', { jit: true, jitHotness: 0, jitEngine: 'wasm' }],
];

const N = Number(process.env.WASM_EXACT_PROGRAMS ?? 40);

describe.each([
  ['kernel half, CPL 0', false],
  ['low half, CPL 3', true],
] as const)('x86 JIT engines against the interpreter: loop programs with exits, faults and code writes (%s)', (_name, user) => {
  it.each(ENGINES)(`${N} programs under %s`, { timeout: 300_000 }, (name, opts) => {
    const failures: string[] = [];
    let inWasm = 0;
    for (let p = 0; p < N; p++) {
      const seed = 0x5eed + p * 104729 + (user ? 1 : 0);
      const prog = exactProgram(seed, user);
      const ref = runExact({ jit: false }, prog, user).trace;
      const got = runExact(opts, prog, user);
      inWasm += got.wasmInsns;
      const k = ref.findIndex((l, i) => l !== got.trace[i]);
      if (k >= 0 || ref.length !== got.trace.length) {
        const at = k >= 0 ? k : Math.min(ref.length, got.trace.length);
        failures.push(`seed ${seed} (${name}), exit ${at}:\n  ${prog.listing.join('\n  ')}\n  interpreter ${ref[at]}\n  ${name.padEnd(11)} ${got.trace[at]}`);
      }
    }
    expect(failures.slice(0, 2)).toEqual([]);
    if (name === 'jit-wasm') expect(inWasm).toBeGreaterThan(N * 200);
  });
});
