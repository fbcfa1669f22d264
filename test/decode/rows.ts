/**
 * Bytes that select a row of the x86 opcode table: its mandatory prefix, REX (long mode), the
 * opcode map escapes, the opcode and a ModRM whose reg field is the row's (when it names one).
 * Shared by the decoder tests that walk every row.
 */
import { PFX_66, PFX_F2, PFX_F3, type OpDesc } from '../../src/arch/x86/decoder.js';

/** Row `d` with `rex` (0: none; REX.W added when the row needs it) and `modrm` (its reg field replaced by the row's). */
export function rowBytes(d: OpDesc, rex: number, modrm: number): number[] {
  const out: number[] = [];
  if (d.prefix === PFX_66) out.push(0x66);
  if (d.prefix === PFX_F3) out.push(0xf3);
  if (d.prefix === PFX_F2) out.push(0xf2);
  if (rex) out.push(rex | (d.w === 1 ? 8 : 0));
  if (d.map >= 1) out.push(0x0f);
  if (d.map === 2) out.push(0x38);
  if (d.map === 3) out.push(0x3a);
  out.push(d.opcode + d.low);
  if (d.modrm) out.push(d.full >= 0 ? d.full : (modrm & 0xc7) | ((d.reg >= 0 ? d.reg : (modrm >> 3) & 7) << 3));
  return out;
}
