/**
 * The x86 opcode map as data, in the notation of the Intel SDM (Vol. 2, App. A and the
 * instruction pages): one row per encoding of a mnemonic —
 *
 *     [prefixes] <opcode bytes> [ModRM selector] [W0|W1] <MNEMONIC> [operands] [attributes]
 *
 * Prefixes (the mandatory-prefix column): none — 66/F2/F3 act as legacy prefixes (operand size,
 * REP); `NP`, `66`, `F3`, `F2` — the row is valid only with exactly that mandatory prefix (F2/F3
 * win over 66; another prefix selects another row or is #UD, as the hardware does); `NP|66` — an
 * MMX form without a prefix and the SSE2 form with 66, P/Q/N operands becoming V/W/U (xmm).
 *
 * Opcode bytes: hex, in the maps `XX` (one byte), `0F XX`, `0F 38 XX`, `0F 3A XX`; `+r` adds a
 * register in the low three bits (8 opcodes), `+cc` a condition code in the low four (16:
 * Jcc, SETcc, CMOVcc). ModRM: `/n` selects ModRM.reg, `/r` marks a ModRM; `mem`/`reg` restrict
 * ModRM.mod; `=XX` pins the whole ModRM byte (0F 01 C1 VMCALL...). `W0`/`W1` select on REX.W.
 *
 * Operands (SDM App. A letters): E r/m, G reg, M memory only, R register (ModRM.rm), S segment
 * register, C/D control/debug register, I immediate, J relative offset, O moffs, A far pointer,
 * Z register in the opcode's low bits, X/Y string source/destination, V/W/U xmm reg / xmm r/m /
 * xmm register in ModRM.rm, P/Q/N the MMX equivalents, fixed registers (AL, rAX, DX, CL, ONE).
 * Sizes: b byte, w word, d dword, q qword, v 16/32/64 by operand size, z 16/32 (imm32
 * sign-extended in 64-bit), y 32/64, p far pointer, s pseudo-descriptor, x 128-bit. x87
 * operands use the SDM's own names: ST(0), ST(i), m32fp, m64fp, m80fp, m16int, m32int, m64int,
 * m80bcd, m2byte, m14/28byte, m94/108byte; and m512byte (FXSAVE).
 *
 * Attributes: L lockable, i64 invalid in 64-bit mode, o64 only in 64-bit mode, d64 default
 * 64-bit operand size in long mode, f64 forced 64-bit (near branches), rep takes REP prefixes,
 * end ends a decoded block (control flow, mode or translation changes, exits); the CPUID feature
 * that provides the instruction (features.ts: `SSE2`; `MMX/SSE2` on `NP|66` rows); the SDM
 * exception class where the operands do not imply it (`sse`: #UD unless CR0.EM = 0 and
 * CR4.OSFXSR = 1, #NM on CR0.TS; `mmx`; `x87`; `nw` for the non-waiting x87 control forms;
 * `xsave`), and `ua` for SSE rows whose 16-byte memory operand need not be aligned (the others
 * #GP on a misaligned one, SDM exception types 1, 2 and 4).
 *
 * The maps are in opcodes/: one-byte.ts, map-0f.ts (general-purpose and system rows), simd.ts
 * (the SSE/MMX rows of 0F, and the 0F 38 and 0F 3A maps), x87.ts (D8-DF); rows of a repeated
 * shape are generated from lists (opcodes/shapes.ts). A new instruction is one row in its map
 * and a handler under exec/ by the same mnemonic.
 * @module
 */
import { MAP_0F } from './opcodes/map-0f.js';
import { ONE_BYTE_MAP } from './opcodes/one-byte.js';
import { MAP_0F38, MAP_0F3A, SIMD_0F } from './opcodes/simd.js';
import { X87_MAP } from './opcodes/x87.js';

/** The whole table, one row a line (`#` lines are comments). */
export const OPCODE_TABLE = [ONE_BYTE_MAP, MAP_0F, SIMD_0F, MAP_0F38, MAP_0F3A, X87_MAP].join('\n') + '\n';
