/**
 * The x87/MMX/SSE differential against the host CPU (simd-random.ts) under both JIT engines: the
 * same programs, variants and results as simd-random.test.ts, in a file of its own so vitest runs
 * the two side by side (the JIT translates every block of the straight-line programs, which costs
 * most of the time).
 */
import { X86_ENGINES } from '../helpers/engines.js';
import { simdRandomSuite } from './simd-random.js';

// The wasm engine writes few of these blocks (x87/SSE rows are handler calls: such blocks stay JS)
// and runs a quarter of the programs.
simdRandomSuite(X86_ENGINES.filter((e) => e.name !== 'interpreter'), false, (e) => (e.name === 'jit-wasm' ? 4 : 1));
