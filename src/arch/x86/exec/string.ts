/**
 * x86 string instructions: MOVS, STOS, LODS, CMPS, SCAS, with REP prefixes.
 * @module
 */
import type { X86Cpu } from '../cpu.js';
import type { Insn } from '../decoder.js';
import { REF } from '../mmu.js';
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

/** @internal Whether REP MOVS/STOS may take `repBulk` (tests compare against element by element). */
export const repBulkOn = { value: true };

let bulkDv: DataView | null = null;
let bulkU8: Uint8Array<ArrayBufferLike> = new Uint8Array(0);

/**
 * REP MOVS/STOS forward with 64-bit addresses: the elements (at most `max` of `cnt`) that lie in
 * the current source and destination pages, read and written through the TLB's host views in
 * element order, so an overlapping copy repeats its pattern as element by element. The page
 * lookups raise what the first element's accesses would, in the same order. Returns the elements
 * done (RSI/RDI/RCX advanced), or 0 when the first element must go element by element: it
 * crosses a page, or a page is MMIO or holds decoded code (its writes invalidate blocks).
 */
function repBulk(c: X86Cpu, i: Insn, movs: boolean, cnt: number, max: number): number {
  const size = i.size[0] === 0 ? i.size[1]! : i.size[0]!;
  let sdv: DataView | null = null;
  let so = 0;
  let si = 0;
  let room = 4096;
  if (movs) {
    si = c.regNum(6, 8);
    const slin = c.linear(i.seg, si, size, false);
    if ((slin & 0xfff) + size > 4096 || !c.readRef(slin)) return 0;
    sdv = REF.dv;
    so = REF.off;
    room = 4096 - (slin & 0xfff);
  }
  const di = c.regNum(7, 8);
  const dlin = c.linear(ES, di, size, true);
  const doff = dlin & 0xfff;
  if (doff + size > 4096 || !c.writeRef(dlin)) return 0;
  const dv = REF.dv;
  const d = REF.off;
  const k = Math.min(cnt, max, Math.floor(Math.min(room, 4096 - doff) / size));
  const bytes = k * size;
  if (dv !== bulkDv) {
    bulkDv = dv;
    bulkU8 = new Uint8Array(dv.buffer, dv.byteOffset, dv.byteLength);
  }
  const u8 = bulkU8;
  if (sdv === null) {
    const lo = c.getReg(0, size);
    const hi = c.t1;
    if (size === 1) u8.fill(lo, d, d + k);
    else for (let o = d; o < d + bytes; o += size) {
      if (size === 2) dv.setUint16(o, lo, true);
      else {
        dv.setInt32(o, lo, true);
        if (size === 8) dv.setInt32(o + 4, hi, true);
      }
    }
  } else if (sdv === dv && (d <= so || d >= so + bytes)) {
    // No element reads bytes an earlier one wrote: one move.
    u8.copyWithin(d, so, so + bytes);
  } else {
    for (let j = 0; j < bytes; j += size) {
      if (size === 1) dv.setUint8(d + j, sdv.getUint8(so + j));
      else if (size === 2) dv.setUint16(d + j, sdv.getUint16(so + j, true), true);
      else if (size === 4) dv.setInt32(d + j, sdv.getInt32(so + j, true), true);
      else {
        const lo = sdv.getInt32(so + j, true);
        const hi = sdv.getInt32(so + j + 4, true);
        dv.setInt32(d + j, lo, true);
        dv.setInt32(d + j + 4, hi, true);
      }
    }
  }
  if (movs) c.setRegNum(6, 8, si + bytes);
  c.setRegNum(7, 8, di + bytes);
  c.setRegNum(1, 8, cnt - k);
  return k;
}

/** Iterations a REP string op may run before the run loop checks for exits and interrupts. */
export const REP_CHUNK = 4096;

function stringInsn(op: string): Handler {
  const cond = op === 'CMPS' || op === 'SCAS';
  const bulkOp = op === 'MOVS' || op === 'STOS';
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
    const bulk = bulkOp && repBulkOn.value && !one && asz === 8 && c.long64 && (c.s.rflags & FLAG.DF) === 0 && !c.watchOn && c.kvmi === null;
    while (n-- > 0) {
      // regNum gives the whole count (a 64-bit RCX included): no high half to consult.
      const cnt = c.regNum(1, asz);
      if (cnt === 0) return;
      if (bulk) {
        const k = repBulk(c, i, op === 'MOVS', cnt, n + 1);
        if (k > 0) {
          n -= k - 1;
          if (cnt === k) return;
          if (deadline.passed()) break;
          continue;
        }
      }
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
