/**
 * x86 port I/O: IN, OUT, INS, OUTS (the I/O permission checks; the exits are services.ts).
 * @module
 */
import type { X86Cpu } from '../cpu.js';
import { K_IMM } from '../decoder.js';
import { FLAG, TR } from '../state.js';
import { definer, type HandlerTable } from './operands.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const IO: HandlerTable = {};
const def = definer(IO);

/** Protection check for IN/OUT/INS/OUTS: IOPL, then the TSS I/O permission bitmap. */
function ioAllowed(c: X86Cpu, port: number, size: number): void {
  const s = c.s;
  if (!c.pe) return;
  if (!(s.rflags & FLAG.VM) && c.cpl <= ((s.rflags >>> 12) & 3)) return;
  const tr = s.seg[TR]!;
  if (tr.limit < 0x67 || !(tr.type === 9 || tr.type === 11)) c.gp(0);
  const base = c.readLin(c.wrapLin(tr.base + 0x66), 2, true);
  const byte = base + (port >> 3);
  if (byte + 1 > tr.limit) c.gp(0);
  const bits = c.readLin(c.wrapLin(tr.base + byte), 2, true);
  if ((bits >> (port & 7)) & ((1 << size) - 1)) c.gp(0);
}

const ioBuf = new Uint8Array(8);

def('IN', (c, i) => {
  const port = i.kind[1] === K_IMM ? i.imm & 0xff : c.getReg(2, 2);
  const size = i.size[0]!;
  ioAllowed(c, port, size);
  c.svc.io(c, i, port, size, 1, false, ioBuf);
});

def('OUT', (c, i) => {
  const port = i.kind[0] === K_IMM ? i.imm & 0xff : c.getReg(2, 2);
  const size = i.size[1]!;
  ioAllowed(c, port, size);
  const v = c.getReg(0, size);
  for (let k = 0; k < size; k++) ioBuf[k] = (v >>> (8 * k)) & 0xff;
  c.svc.io(c, i, port, size, 1, true, ioBuf);
});

def('INS', (c, i) => {
  const port = c.getReg(2, 2);
  const size = i.size[0]!;
  ioAllowed(c, port, size);
  if (i.rep && c.regNum(1, i.asz) === 0) return;
  c.svc.io(c, i, port, size, -1, false, ioBuf);
});

def('OUTS', (c, i) => {
  const port = c.getReg(2, 2);
  const size = i.size[1]!;
  ioAllowed(c, port, size);
  if (i.rep && c.regNum(1, i.asz) === 0) return;
  c.svc.io(c, i, port, size, -1, true, ioBuf);
});
