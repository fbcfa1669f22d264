/**
 * The A64 decode table: every implemented encoding, compiled once into the decoder the
 * interpreter uses. Anything no row matches is UNALLOCATED and raises UNDEF (EC 0x00), as the
 * hardware does for an unimplemented instruction.
 * @module
 */
import type { Cpu } from './cpu.js';
import { Decoder } from './decoder.js';
import { DP_ENCODINGS } from './insn-dp.js';
import { DP_REG_ENCODINGS } from './insn-dp-reg.js';
import { ATOMIC_ENCODINGS } from './insn-atomic.js';
import { LDST_ENCODINGS } from './insn-ldst.js';
import { SIMD_ENCODINGS } from './insn-simd.js';
import { SIMD_INT_ENCODINGS } from './insn-simd-int.js';
import { SYS_ENCODINGS } from './insn-sys.js';

/** The compiled A64 table. */
export const A64 = new Decoder([...DP_ENCODINGS, ...DP_REG_ENCODINGS, ...SYS_ENCODINGS, ...LDST_ENCODINGS, ...ATOMIC_ENCODINGS, ...SIMD_ENCODINGS, ...SIMD_INT_ENCODINGS], (c: Cpu) => c.raise(0, 0));
