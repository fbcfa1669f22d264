/**
 * The SDM's exception conditions common to whole instruction classes, checked before the handler
 * touches any operand (the table row's EXC_* bits, decoder.ts): CR0.EM/TS, CR4.OSFXSR/OSXSAVE and
 * a pending x87 exception, in the SDM's order — #UD, then #NM, then #MF.
 * @module
 */
import { VEC, type X86Cpu } from '../cpu.js';
import { EXC_MMX, EXC_NM, EXC_SSE, EXC_X87, EXC_XSAVE } from '../decoder.js';
import { CR0, CR4 } from '../state.js';

/** FSW.ES (the word at FXSAVE byte 0: FCW low, FSW high): an unmasked x87 exception is pending. */
const FSW_ES = 0x80 << 16;

export function checkClass(c: X86Cpu, e: number): void {
  const cr0 = c.s.cr0;
  if (e & (EXC_SSE | EXC_MMX) && cr0 & CR0.EM) c.ud();
  if (e & EXC_SSE && !(c.s.cr4 & CR4.OSFXSR)) c.ud();
  if (e & EXC_XSAVE && !(c.s.cr4 & CR4.OSXSAVE)) c.ud();
  if (e & (EXC_X87 | EXC_NM) ? cr0 & (CR0.EM | CR0.TS) : cr0 & CR0.TS) c.raise(VEC.NM);
  if (e & (EXC_X87 | EXC_MMX) && c.fxw[0]! & FSW_ES) c.raise(VEC.MF);
}
