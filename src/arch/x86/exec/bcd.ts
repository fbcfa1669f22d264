/**
 * x86 BCD and legacy: DAA/DAS/AAA/AAS, AAM/AAD, BOUND, ARPL.
 * @module
 */
import { VEC, type X86Cpu } from '../cpu.js';
import { FOp } from '../flags.js';
import { FLAG } from '../state.js';
import { definer, ea, rdAt, rmwAddr, sx, wrAt, type HandlerTable } from './operands.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const BCD: HandlerTable = {};
const def = definer(BCD);

def('DAA', (c) => bcd(c, 'daa'));
def('DAS', (c) => bcd(c, 'das'));
def('AAA', (c) => bcd(c, 'aaa'));
def('AAS', (c) => bcd(c, 'aas'));

function bcd(c: X86Cpu, op: 'daa' | 'das' | 'aaa' | 'aas'): void {
  const fl = c.getFlags();
  let al = c.getReg(0, 1);
  const cf = (fl & FLAG.CF) !== 0;
  const af = (fl & FLAG.AF) !== 0;
  let ncf = false;
  let naf = false;
  if (op === 'daa' || op === 'das') {
    const old = al;
    if ((al & 0xf) > 9 || af) {
      al = op === 'daa' ? al + 6 : al - 6;
      // SDM: CF <- old CF or the carry (DAA) / borrow (DAS) of AL +/- 6.
      ncf = cf || al > 0xff || al < 0;
      naf = true;
    }
    if (old > 0x99 || cf) {
      al = op === 'daa' ? al + 0x60 : al - 0x60;
      ncf = true;
    }
    al &= 0xff;
    c.setReg(0, 1, al);
    c.f.set(FOp.EAGER_CO, 1, 0, 0, 0, 0, al, 0);
    c.f.cin = ncf ? 1 : 0;
    c.f.ofv = 0;
    c.f.afv = naf ? 1 : 0;
    return;
  }
  let ax = c.getReg(0, 2);
  if ((al & 0xf) > 9 || af) {
    // As current CPUs (and the SDM) do it: AAA is AX + 106h; AAS is AX - 6 (AL's borrow reaches
    // AH), then AH - 1. The 8086 adjusted AL and AH separately.
    ax = op === 'aaa' ? ax + 0x106 : ax - 6 - 0x100;
    naf = ncf = true;
  }
  ax = (ax & 0xff0f) & 0xffff;
  c.setReg(0, 2, ax);
  c.f.set(FOp.EAGER_CO, 1, 0, 0, 0, 0, ax & 0xff, 0);
  c.f.cin = ncf ? 1 : 0;
  c.f.ofv = 0;
  c.f.afv = naf ? 1 : 0;
}

def('AAM', (c, i) => {
  const base = i.imm & 0xff;
  if (base === 0) c.raise(VEC.DE);
  const al = c.getReg(0, 1);
  const r = al % base;
  c.setReg(0, 2, (Math.floor(al / base) << 8) | r);
  c.f.set(FOp.LOGIC, 1, 0, 0, 0, 0, r, 0);
});

def('AAD', (c, i) => {
  const base = i.imm & 0xff;
  const ax = c.getReg(0, 2);
  const r = ((ax & 0xff) + (ax >> 8) * base) & 0xff;
  c.setReg(0, 2, r);
  c.f.set(FOp.LOGIC, 1, 0, 0, 0, 0, r, 0);
});

def('BOUND', (c, i) => {
  const size = i.osz;
  const a = ea(c, i);
  const lo = sx(c.read(i.seg, a, size), size);
  const hi = sx(c.read(i.seg, a + size, size), size);
  const v = sx(c.getReg(i.reg[0]!, size), size);
  if (v < lo || v > hi) c.raise(VEC.BR);
});

/** SALC (D6, undocumented, Intel and AMD): AL = CF ? FFh : 0, flags unchanged; #UD in 64-bit mode. */
def('SALC', (c) => {
  c.setReg(0, 1, c.getFlags() & FLAG.CF ? 0xff : 0);
});

def('ARPL', (c, i) => {
  if (!c.pe || c.s.rflags & FLAG.VM) c.ud();
  const lin = rmwAddr(c, i);
  const d = rdAt(c, i, lin) & 0xffff;
  const src = c.getReg(i.reg[1]!, 2);
  if ((d & 3) < (src & 3)) {
    wrAt(c, i, lin, (d & ~3) | (src & 3), 0);
    c.setFlags(FLAG.ZF, FLAG.ZF);
  } else c.setFlags(0, FLAG.ZF);
});
