/**
 * x86 the stack: PUSH/POP (with segment forms), PUSHA/POPA, PUSHF/POPF, LAHF/SAHF, ENTER, LEAVE.
 * @module
 */
import { K_IMM, K_REG, K_SEG } from '../decoder.js';
import { FOp } from '../flags.js';
import { FLAG, SS } from '../state.js';
import { loadSeg } from '../deliver.js';
import { KVM_X86_SHADOW_INT } from '../../../uapi/x86.js';
import { definer, rd, trunc, wr, type HandlerTable } from './operands.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const STACK: HandlerTable = {};
const def = definer(STACK);

def('PUSH', (c, i) => {
  const k = i.kind[0];
  if (k === K_SEG) {
    // A 32/64-bit push of a selector moves only 16 bits, the rest of the slot keeps its old
    // bytes (recent Intel cores and KVM's emulator alike).
    const sel = c.s.seg[i.reg[0]!]!.selector;
    const ss = c.stackSize();
    const sp = c.regNum(4, ss);
    const nsp = ss === 2 ? (sp - i.osz) & 0xffff : ss === 4 ? (sp - i.osz) >>> 0 : sp - i.osz;
    c.write(SS, nsp, 2, sel);
    c.setRegNum(4, ss, nsp);
    return;
  }
  const v = rd(c, i, 0);
  const hi = c.t1;
  if (k === K_IMM) {
    const size = i.osz;
    c.push(size, trunc(i.imm, size), size === 8 ? i.immHi : 0);
    return;
  }
  c.push(i.osz, v, hi);
});

def('POP', (c, i) => {
  if (i.kind[0] === K_SEG) {
    const ss = c.stackSize();
    const sp = c.regNum(4, ss);
    const sel = c.read(SS, sp, i.osz) & 0xffff;
    loadSeg(c, i.reg[0]!, sel);
    c.setRegNum(4, ss, ss === 2 ? (sp + i.osz) & 0xffff : ss === 4 ? (sp + i.osz) >>> 0 : sp + i.osz);
    if (i.reg[0] === SS) c.svc.shadow(c, KVM_X86_SHADOW_INT.MOV_SS);
    return;
  }
  // POP r/m computes a stack-relative address after incrementing RSP.
  const ss = c.stackSize();
  const sp = c.regNum(4, ss);
  const v = c.read(SS, sp, i.osz);
  const hi = c.t1;
  const nsp = ss === 2 ? (sp + i.osz) & 0xffff : ss === 4 ? (sp + i.osz) >>> 0 : sp + i.osz;
  if (i.kind[0] === K_REG) {
    c.setRegNum(4, ss, nsp);
    c.setReg(i.reg[0]!, i.osz, v, hi);
  } else {
    c.setRegNum(4, ss, nsp);
    try {
      wr(c, i, 0, v, hi);
    } catch (e) {
      c.setRegNum(4, ss, sp);
      throw e;
    }
  }
});

def('PUSHA', (c, i) => {
  const size = i.osz;
  const sp = c.getReg(4, size);
  for (const r of [0, 1, 2, 3]) c.push(size, c.getReg(r, size));
  c.push(size, sp);
  for (const r of [5, 6, 7]) c.push(size, c.getReg(r, size));
});

def('POPA', (c, i) => {
  const size = i.osz;
  for (const r of [7, 6, 5]) c.setReg(r, size, c.pop(size));
  c.pop(size); // skip SP
  for (const r of [3, 2, 1, 0]) c.setReg(r, size, c.pop(size));
});

def('PUSHF', (c, i) => {
  const s = c.s;
  if (s.rflags & FLAG.VM && ((s.rflags >>> 12) & 3) < 3) c.gp(0);
  // VM and RF are pushed as 0.
  c.push(i.osz, i.osz === 2 ? (c.getFlags() & ~(FLAG.VM | FLAG.RF)) & 0xffff : (c.getFlags() & ~(FLAG.VM | FLAG.RF)) | 0);
});

def('POPF', (c, i) => {
  const s = c.s;
  if (s.rflags & FLAG.VM && ((s.rflags >>> 12) & 3) < 3) c.gp(0);
  const v = c.pop(i.osz);
  const iopl = (s.rflags >>> 12) & 3;
  let mask = FLAG.CF | FLAG.PF | FLAG.AF | FLAG.ZF | FLAG.SF | FLAG.TF | FLAG.DF | FLAG.OF | FLAG.NT;
  if (i.osz >= 4) mask |= FLAG.AC | FLAG.ID;
  if (!c.pe || c.cpl === 0) mask |= FLAG.IOPL;
  if (!c.pe || c.cpl <= iopl) mask |= FLAG.IF;
  if (i.osz === 2) mask &= 0xffff;
  c.f.op = FOp.NONE;
  c.setFlags(v, mask);
  c.s.rflags &= ~FLAG.RF;
});

def('LAHF', (c) => {
  c.setReg(16, 1, c.getFlags() & 0xd5 | 2);
});

def('SAHF', (c) => {
  const ah = c.getReg(16, 1);
  c.setFlags(ah, FLAG.CF | FLAG.PF | FLAG.AF | FLAG.ZF | FLAG.SF);
});

def('ENTER', (c, i) => {
  const size = i.osz;
  const level = i.imm2 & 31;
  const ss = c.stackSize();
  c.push(size, c.getReg(5, size), size === 8 ? c.t1 : 0);
  const frame = c.regNum(4, ss);
  for (let k = 1; k < level; k++) {
    const bp = c.regNum(5, ss) - k * size;
    const v = c.read(SS, ss === 2 ? bp & 0xffff : ss === 4 ? bp >>> 0 : bp, size);
    c.push(size, v, c.t1);
  }
  if (level > 0) c.push(size, frame % 0x100000000 | 0, Math.floor(frame / 0x100000000));
  const nsp = frame - (level > 0 ? level * size : 0) - (i.imm & 0xffff);
  // Probe the final stack location (a fault leaves RBP and RSP unchanged only approximately here).
  c.setRegNum(5, size === 8 ? 8 : size, frame);
  c.setRegNum(4, ss, ss === 2 ? nsp & 0xffff : ss === 4 ? nsp >>> 0 : nsp);
});

def('LEAVE', (c, i) => {
  // rSP <- rBP, then POP rBP, as one instruction: if the pop faults, rSP keeps its old value.
  const ss = c.stackSize();
  const sp = c.regNum(4, ss);
  c.setRegNum(4, ss, c.regNum(5, ss));
  let v: number;
  try {
    v = c.pop(i.osz);
  } catch (e) {
    c.setRegNum(4, ss, sp);
    throw e;
  }
  c.setReg(5, i.osz, v, c.t1);
});
