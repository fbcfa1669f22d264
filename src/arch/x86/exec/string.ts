/**
 * x86 string instructions: MOVS, STOS, LODS, CMPS, SCAS, with REP prefixes.
 * @module
 */
import type { X86Cpu } from '../cpu.js';
import type { Insn } from '../decoder.js';
import { ES, FLAG } from '../state.js';
import { alu, Alu } from './alu.js';
import { definer, type Handler, type HandlerTable } from './operands.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const STRING: HandlerTable = {};
const def = definer(STRING);

/** Runs one iteration of a string op per call; REP loops are driven by `repString`. */
function strStep(c: X86Cpu, i: Insn, op: string): void {
  const size = i.size[0] === 0 ? i.size[1]! : op === 'LODS' ? i.size[1]! : i.size[0]!;
  const asz = i.asz;
  const delta = c.s.rflags & FLAG.DF ? -size : size;
  const si = c.regNum(6, asz);
  const di = c.regNum(7, asz);
  const adv = (v: number) => (asz === 2 ? (v + delta) & 0xffff : asz === 4 ? (v + delta) >>> 0 : v + delta);
  switch (op) {
    case 'MOVS': {
      const v = c.read(i.seg, si, size);
      c.write(ES, di, size, v, c.t1);
      c.setRegNum(6, asz, adv(si));
      c.setRegNum(7, asz, adv(di));
      return;
    }
    case 'STOS': {
      const v = c.getReg(0, size);
      c.write(ES, di, size, v, c.t1);
      c.setRegNum(7, asz, adv(di));
      return;
    }
    case 'LODS': {
      const v = c.read(i.seg, si, size);
      c.setReg(0, size, v, c.t1);
      c.setRegNum(6, asz, adv(si));
      return;
    }
    case 'CMPS': {
      const a = c.read(i.seg, si, size);
      const ah = c.t1;
      const b = c.read(ES, di, size);
      const bh = c.t1;
      alu(c, Alu.CMP, size, size === 4 ? a | 0 : a, size === 8 ? ah : 0, size === 4 ? b | 0 : b, size === 8 ? bh : 0);
      c.setRegNum(6, asz, adv(si));
      c.setRegNum(7, asz, adv(di));
      return;
    }
    default: {
      // SCAS
      const a = c.getReg(0, size);
      const ah = c.t1;
      const b = c.read(ES, di, size);
      alu(c, Alu.CMP, size, size === 4 ? a | 0 : a, size === 8 ? ah : 0, size === 4 ? b | 0 : b, size === 8 ? c.t1 : 0);
      c.setRegNum(7, asz, adv(di));
    }
  }
}

/** Iterations a REP string op may run before the run loop checks for exits and interrupts. */
export const REP_CHUNK = 4096;

function stringInsn(op: string): Handler {
  const cond = op === 'CMPS' || op === 'SCAS';
  return (c, i) => {
    if (!i.rep) return strStep(c, i, op);
    const asz = i.asz;
    // Under single step (TF or the host's) or watched breakpoints, each iteration is a step.
    const one = c.repOne || (c.s.rflags & FLAG.TF) !== 0;
    let n = one ? 1 : REP_CHUNK;
    // KVM_RUN's wall-clock bound (src/kernel/deadline.ts): elements can be slow (MMIO, code
    // pages), so the clock is read every 256, and a run whose time is up stops between elements,
    // as an interrupt would.
    const deadline = c.vm.kernel.deadline;
    while (n-- > 0) {
      // regNum gives the whole count (a 64-bit RCX included): no high half to consult.
      const cnt = c.regNum(1, asz);
      if (cnt === 0) return;
      strStep(c, i, op);
      const left = asz === 8 ? cnt - 1 : asz === 4 ? (cnt - 1) >>> 0 : (cnt - 1) & 0xffff;
      c.setRegNum(1, asz, left);
      if (cond) {
        const zf = c.cond(4);
        if ((i.rep === 0xf3 && !zf) || (i.rep === 0xf2 && zf)) return;
      }
      if (left === 0) return;
      if ((n & 255) === 0 && deadline.passed()) break;
    }
    // Not finished: re-execute this instruction (RIP stays), as an interruptible REP does; a trap
    // taken between iterations sees RF set (KVM's emulator), so the restart skips code breakpoints.
    c.next = c.s.rip;
    if (one) c.s.rflags |= FLAG.RF;
  };
}
def('MOVS', stringInsn('MOVS'));
def('STOS', stringInsn('STOS'));
def('LODS', stringInsn('LODS'));
def('CMPS', stringInsn('CMPS'));
def('SCAS', stringInsn('SCAS'));
