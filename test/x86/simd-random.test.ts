/**
 * The x87/MMX/SSE differential against the host CPU (simd-random.ts) under the interpreter, with
 * the coverage check and the golden recording; simd-random-jit.test.ts runs the JIT engines.
 */
import { X86_ENGINES } from '../helpers/engines.js';
import { simdRandomSuite } from './simd-random.js';

simdRandomSuite(X86_ENGINES.filter((e) => e.name === 'interpreter'), true);
