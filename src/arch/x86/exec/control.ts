/**
 * x86 control flow: Jcc, JMP, CALL, RET, LOOP/JrCXZ, far JMP/CALL/RET, IRET, INT n/INT3/INTO/INT1, HLT, NOP/PAUSE, and the flag instructions CLC/STC/CMC/CLD/STD/CLI/STI.
 * @module
 */
import { EMULATION_FAILURE, VEC, isCanonical, type X86Cpu } from '../cpu.js';
import { K_IMM, type Insn } from '../decoder.js';
import { FOp } from '../flags.js';
import { CS, FLAG, SS } from '../state.js';
import { invalidateSegsForCpl, loadCs, loadRealSeg, loadSeg } from '../deliver.js';
import { KVM_X86_SHADOW_INT } from '../../../uapi/x86.js';
import { definer, ea, rd, type Handler, type HandlerTable } from './operands.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const CONTROL: HandlerTable = {};
const def = definer(CONTROL);

/** Sets the branch target: truncated to the operand size, canonical-checked in 64-bit mode. */
function jumpTo(c: X86Cpu, target: number, osz: number): void {
  let t = target;
  if (osz === 2) t &= 0xffff;
  else if (osz === 4) t >>>= 0;
  if (c.long64 && !isCanonical(t)) c.gp(0);
  if (!c.long64 && c.pe && !(c.s.rflags & FLAG.VM) && t > c.s.seg[CS]!.limit) c.gp(0);
  c.next = t;
}

def('Jcc', (c, i) => {
  if (c.cond(i.cond)) jumpTo(c, i.imm - c.csBase, i.osz);
});

def('JMP', (c, i) => {
  if (i.kind[0] === K_IMM) jumpTo(c, i.imm - c.csBase, i.osz);
  else {
    const v = rd(c, i, 0);
    jumpTo(c, i.osz === 8 ? c.t1 * 0x100000000 + (v >>> 0) : v >>> 0, i.osz);
  }
});

def('CALL', (c, i) => {
  let target: number;
  if (i.kind[0] === K_IMM) target = i.imm - c.csBase;
  else {
    const v = rd(c, i, 0);
    target = i.osz === 8 ? c.t1 * 0x100000000 + (v >>> 0) : v >>> 0;
  }
  const ret = c.next;
  jumpTo(c, target, i.osz);
  c.push(i.osz, ret % 0x100000000 | 0, Math.floor(ret / 0x100000000));
});

def('RET', (c, i) => {
  const v = c.pop(i.osz);
  const target = i.osz === 8 ? c.t1 * 0x100000000 + (v >>> 0) : v >>> 0;
  if (i.nops && i.kind[0] === K_IMM) {
    const ss = c.stackSize();
    const sp = c.regNum(4, ss) + (i.imm & 0xffff);
    c.setRegNum(4, ss, ss === 2 ? sp & 0xffff : ss === 4 ? sp >>> 0 : sp);
  }
  jumpTo(c, target, i.osz);
});

function loopInsn(kind: 'loop' | 'loope' | 'loopne' | 'jrcxz'): Handler {
  return (c, i) => {
    const asz = i.asz;
    let cnt = c.regNum(1, asz);
    if (kind !== 'jrcxz') {
      cnt = asz === 2 ? (cnt - 1) & 0xffff : asz === 4 ? (cnt - 1) >>> 0 : cnt - 1;
      c.setRegNum(1, asz, cnt === -1 ? -1 : cnt);
      if (asz === 8 && cnt === -1) c.setReg(1, 8, -1, -1);
    }
    const nz = asz === 8 ? (c.getReg(1, 8) | c.t1) !== 0 : cnt !== 0;
    let take: boolean;
    if (kind === 'jrcxz') take = !nz;
    else if (kind === 'loop') take = nz;
    else if (kind === 'loope') take = nz && c.cond(4);
    else take = nz && !c.cond(4);
    if (take) jumpTo(c, i.imm - c.csBase, i.osz);
  };
}
def('LOOP', loopInsn('loop'));
def('LOOPE', loopInsn('loope'));
def('LOOPNE', loopInsn('loopne'));
def('JRCXZ', loopInsn('jrcxz'));

/** The selector of the last far pointer `farOperand` read. */
let farSel = 0;

/** The far pointer of JMPF/CALLF (ptr16:16/32 immediate or m16:16/32/64): the offset; the selector in `farSel`. */
function farOperand(c: X86Cpu, i: Insn): number {
  if (i.kind[0] === K_IMM) {
    farSel = i.imm2;
    return i.imm;
  }
  const a = ea(c, i);
  let off = c.read(i.seg, a, i.osz === 8 ? 8 : i.osz);
  if (i.osz === 8) off = c.t1 * 0x100000000 + (off >>> 0);
  farSel = c.read(i.seg, a + (i.osz === 8 ? 8 : i.osz), 2);
  return off;
}

def('JMPF', (c, i) => {
  const off = farOperand(c, i);
  farTransfer(c, farSel, off, i.osz, false);
});

def('CALLF', (c, i) => {
  const off = farOperand(c, i);
  const oldCs = c.s.seg[CS]!.selector;
  const ret = c.next;
  farTransfer(c, farSel, off, i.osz, true, oldCs, ret);
});

function farTransfer(c: X86Cpu, sel: number, off: number, osz: number, call: boolean, oldCs = 0, ret = 0): void {
  const s = c.s;
  const saved = { ...s.seg[CS]! };
  if (call) {
    // Push before loading CS so a stack fault leaves CS alone.
    c.push(osz, oldCs);
    c.push(osz, ret % 0x100000000 | 0, Math.floor(ret / 0x100000000));
  }
  try {
    loadCs(c, sel, c.pe && !(s.rflags & FLAG.VM) ? c.cpl : 0);
    const t = osz === 2 ? off & 0xffff : osz === 4 ? off >>> 0 : off;
    if (c.pe && !c.long64 && t > s.seg[CS]!.limit) c.gp(0);
    c.next = t;
  } catch (e) {
    s.seg[CS] = saved;
    c.updateMode();
    throw e;
  }
}

def('RETF', (c, i) => {
  const s = c.s;
  const osz = i.osz;
  const ss = c.stackSize();
  const sp0 = c.regNum(4, ss);
  const v = c.pop(osz);
  const off = osz === 8 ? c.t1 * 0x100000000 + (v >>> 0) : v >>> 0;
  const sel = c.pop(osz) & 0xffff;
  if (i.nops && i.kind[0] === K_IMM) {
    const sp = c.regNum(4, ss) + (i.imm & 0xffff);
    c.setRegNum(4, ss, ss === 2 ? sp & 0xffff : ss === 4 ? sp >>> 0 : sp);
  }
  const rpl = sel & 3;
  if (c.pe && !(s.rflags & FLAG.VM) && rpl > c.cpl) {
    // Return to an outer privilege level: pop SS:SP too.
    const nv = c.pop(osz);
    const nsp = osz === 8 ? c.t1 * 0x100000000 + (nv >>> 0) : nv >>> 0;
    const nss = c.pop(osz) & 0xffff;
    try {
      loadCs(c, sel, rpl);
      // SS is checked against the new CPL (CS.RPL); CPL itself follows SS.DPL, so it is still the old one here.
      loadSeg(c, SS, nss, rpl);
    } catch (e) {
      c.setRegNum(4, ss, sp0);
      throw e;
    }
    c.setRegNum(4, c.stackSize(), nsp);
    invalidateSegsForCpl(c);
  } else {
    try {
      loadCs(c, sel, c.pe && !(s.rflags & FLAG.VM) ? c.cpl : 0);
    } catch (e) {
      c.setRegNum(4, ss, sp0);
      throw e;
    }
  }
  c.next = osz === 2 ? off & 0xffff : off;
});

def('IRET', (c, i) => iret(c, i.osz));

function iret(c: X86Cpu, osz: number): void {
  const s = c.s;
  if (!c.pe || s.rflags & FLAG.VM) {
    if (s.rflags & FLAG.VM && ((s.rflags >>> 12) & 3) < 3) c.gp(0);
    const ip = c.pop(osz);
    const cs = c.pop(osz) & 0xffff;
    const fl = c.pop(osz);
    loadRealSeg(c, CS, cs);
    c.next = osz === 2 ? ip & 0xffff : ip >>> 0;
    let mask = FLAG.CF | FLAG.PF | FLAG.AF | FLAG.ZF | FLAG.SF | FLAG.TF | FLAG.IF | FLAG.DF | FLAG.OF | FLAG.NT | FLAG.IOPL;
    if (osz === 4) mask |= FLAG.AC | FLAG.ID | FLAG.RF;
    if (s.rflags & FLAG.VM) mask &= ~FLAG.IOPL;
    c.f.op = FOp.NONE;
    c.setFlags(fl, mask);
    c.updateMode();
    return;
  }
  if (s.rflags & FLAG.NT && !c.long64) throw EMULATION_FAILURE; // task return
  const v = c.pop(osz);
  const ip = osz === 8 ? c.t1 * 0x100000000 + (v >>> 0) : v >>> 0;
  const cs = c.pop(osz) & 0xffff;
  const fl = c.pop(osz);
  const rpl = cs & 3;
  const oldCpl = c.cpl;
  if (rpl < oldCpl) c.gp(cs & 0xfffc);
  const returnToV86 = !c.long64 && osz === 4 && fl & FLAG.VM && oldCpl === 0;
  if (returnToV86) throw EMULATION_FAILURE;
  let newSp = -1;
  let newSs = -1;
  if (c.long64 || rpl > oldCpl) {
    const sv = c.pop(osz);
    newSp = osz === 8 ? c.t1 * 0x100000000 + (sv >>> 0) : sv >>> 0;
    newSs = c.pop(osz) & 0xffff;
  }
  loadCs(c, cs, rpl);
  let mask = FLAG.CF | FLAG.PF | FLAG.AF | FLAG.ZF | FLAG.SF | FLAG.TF | FLAG.DF | FLAG.OF | FLAG.NT | FLAG.RF | FLAG.AC | FLAG.ID;
  if (oldCpl <= ((s.rflags >>> 12) & 3)) mask |= FLAG.IF;
  if (oldCpl === 0) mask |= FLAG.IOPL | FLAG.VIF | FLAG.VIP;
  if (osz === 2) mask &= 0xffff;
  c.f.op = FOp.NONE;
  c.setFlags(fl, mask);
  if (newSs >= 0) {
    if ((newSs & ~3) === 0 && c.long64 && rpl !== 3) {
      const sg = s.seg[SS]!;
      sg.selector = newSs;
      sg.unusable = 1;
      sg.dpl = rpl;
    } else {
      c.cpl = rpl; // SS is checked against the new CPL (the return CS's RPL), as the CPU does
      loadSeg(c, SS, newSs);
    }
    c.setRegNum(4, c.long64 ? 8 : s.seg[SS]!.db ? 4 : 2, newSp);
  }
  c.updateMode();
  if (c.cpl !== oldCpl) invalidateSegsForCpl(c);
  c.next = osz === 2 ? ip & 0xffff : ip;
}

// ---- interrupts -----------------------------------------------------------------------------

function softInt(c: X86Cpu, vec: number): void {
  const s = c.s;
  if (c.pe && s.rflags & FLAG.VM && ((s.rflags >>> 12) & 3) < 3) c.gp(0);
  c.softVector = vec;
}

def('INT', (c, i) => softInt(c, i.imm & 0xff));
def('INT3', (c) => softInt(c, VEC.BP));
def('INTO', (c) => {
  if (c.cond(0)) softInt(c, VEC.OF);
});
def('INT1', (c) => {
  c.icebp = true;
});

def('HLT', (c) => {
  if (c.cpl !== 0) c.gp(0);
  c.svc.hlt(c);
});

def('NOP', () => {});
def('PAUSE', () => {});

def('CLC', (c) => c.setFlags(0, FLAG.CF));
def('STC', (c) => c.setFlags(FLAG.CF, FLAG.CF));
def('CMC', (c) => c.setFlags(c.getFlags() ^ FLAG.CF, FLAG.CF));
def('CLD', (c) => c.setFlags(0, FLAG.DF));
def('STD', (c) => c.setFlags(FLAG.DF, FLAG.DF));
def('CLI', (c) => {
  const s = c.s;
  if (c.pe && c.cpl > ((s.rflags >>> 12) & 3)) c.gp(0);
  s.rflags &= ~FLAG.IF;
});
def('STI', (c) => {
  const s = c.s;
  if (c.pe && c.cpl > ((s.rflags >>> 12) & 3)) c.gp(0);
  if (!(s.rflags & FLAG.IF)) c.svc.shadow(c, KVM_X86_SHADOW_INT.STI);
  s.rflags |= FLAG.IF;
});
