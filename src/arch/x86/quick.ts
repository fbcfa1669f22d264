/**
 * Cold code's one-pass forms (64-bit mode): the commonest register-only instructions are decoded
 * and executed in one step from the code page's bytes (run.ts runStream), with no `Insn` record,
 * no operand plumbing and no handler call. Which forms these are comes from the decode table:
 * QUICK is built at load from the fast path's rows (decode-table.ts FAST/FAST_REG) by mnemonic
 * and operand shape, so an opcode the table gives another row never matches here. Each form
 * computes exactly what its handler (exec/alu.ts, move.ts, control.ts) computes, through the
 * same helpers (alu, incDecResult, shiftResult, eaHalves); MOV to or from memory only through
 * a TLB hit on RAM. Anything else — a prefix other than REX, another memory operand, a TLB miss,
 * a byte or 16-bit operand, a branch to a non-canonical address — returns 0 having changed
 * nothing, and the instruction takes the ordinary path (decodePage + step), which then raises
 * what it raises: nothing here can fault or exit, so nothing is left half done.
 * @module
 */
import type { X86Cpu } from './cpu.js';
import { FAST, FAST_REG, type OpDesc } from './decode-table.js';
import { O_E, O_G, O_I, O_J, O_M, O_ONE, O_RAX, O_Z, S_B, S_V, S_Z } from './decode-operand.js';
import { MEM, modrmMem, type Insn } from './decoder.js';
import { alu, Alu, incDecResult } from './exec/alu.js';
import { eaHalves } from './exec/operands.js';
import { shiftFlags, shiftResult } from './exec/shift.js';
import { TLB_MASK } from './mmu.js';
import { isCanonical } from './paging.js';

// Form codes (QUICK_FORM).
const Q_NONE = 0;
/** ALU/TEST Ev,Gv with ModRM.mod = 3. */
const Q_ALU_EG = 1;
/** ALU Gv,Ev with ModRM.mod = 3. */
const Q_ALU_GE = 2;
/** ALU/TEST rAX,Iz. */
const Q_ALU_AI = 3;
/** ALU Ev,Iz / Ev,Ib (81 /n, 83 /n) with ModRM.mod = 3. */
const Q_ALU_EIZ = 4;
const Q_ALU_EIB = 5;
/** MOV Ev,Gv / Gv,Ev with ModRM.mod = 3. */
const Q_MOV_EG = 6;
const Q_MOV_GE = 7;
/** MOV Zv,Iv (B8+r). */
const Q_MOV_ZI = 8;
/** LEA Gv,M. */
const Q_LEA = 9;
/** Jcc / JMP rel8 and rel32. */
const Q_JCC8 = 10;
const Q_JCC32 = 11;
const Q_JMP8 = 12;
const Q_JMP32 = 13;
/** INC/DEC Ev (FF /0, /1) with ModRM.mod = 3. */
const Q_INCDEC = 14;
/** SHL/SHR/SAR Ev,Ib and Ev,1 (C1, D1 /4 /5 /6 /7) with ModRM.mod = 3. */
const Q_SHIFT_I = 15;
const Q_SHIFT_1 = 16;

/** exec/shift.ts's kinds of SHL, SHR, SAR. */
const SHIFT_KINDS: Record<string, number> = { SHL: 4, SHR: 5, SAR: 6 };

/** The ALU operation of an ALU form (Alu.*), TEST as ALU_TEST; INC 0 / DEC 1; Jcc's condition. */
const ALU_TEST = 8;

/**
 * By (map * 256 + opcode) * 8 + ModRM.reg (maps 0 and 0F, no legacy prefix): the form, and its
 * operation. Rows without a ModRM fill all eight slots alike, so the caller may index with the
 * byte after the opcode whatever it is.
 */
export const QUICK_FORM = new Uint8Array(512 * 8);
const QUICK_OP = new Uint8Array(512 * 8);

const ALU_NAMES: Record<string, number> = { ADD: Alu.ADD, OR: Alu.OR, ADC: Alu.ADC, SBB: Alu.SBB, AND: Alu.AND, SUB: Alu.SUB, XOR: Alu.XOR, CMP: Alu.CMP, TEST: ALU_TEST };

/** The form of a fast-path row (and its operation), [Q_NONE, 0] when it has none. */
function formOf(d: OpDesc | null): [number, number] {
  if (d === null) return [Q_NONE, 0];
  const o = d.operands;
  const k0 = o[0]?.k ?? -1;
  const k1 = o[1]?.k ?? -1;
  const s0 = o[0]?.s ?? -1;
  const s1 = o[1]?.s ?? -1;
  const v0 = s0 === S_V && o[0]!.bytes === 0;
  const v1 = s1 === S_V && o[1]!.bytes === 0;
  const op = ALU_NAMES[d.name];
  if (op !== undefined && o.length === 2) {
    if (k0 === O_E && k1 === O_G && v0 && v1) return [Q_ALU_EG, op];
    if (op !== ALU_TEST && k0 === O_G && k1 === O_E && v0 && v1) return [Q_ALU_GE, op];
    if (k0 === O_RAX && k1 === O_I && s1 === S_Z) return [Q_ALU_AI, op];
    if (op !== ALU_TEST && k0 === O_E && v0 && k1 === O_I && s1 === S_Z) return [Q_ALU_EIZ, op];
    if (op !== ALU_TEST && k0 === O_E && v0 && k1 === O_I && s1 === S_B) return [Q_ALU_EIB, op];
  }
  if (d.name === 'MOV' && o.length === 2 && v0 && v1) {
    if (k0 === O_E && k1 === O_G) return [Q_MOV_EG, 0];
    if (k0 === O_G && k1 === O_E) return [Q_MOV_GE, 0];
    if (k0 === O_Z && k1 === O_I) return [Q_MOV_ZI, 0];
  }
  if (d.name === 'LEA' && o.length === 2 && k0 === O_G && v0 && k1 === O_M) return [Q_LEA, 0];
  if ((d.name === 'Jcc' || d.name === 'JMP') && o.length === 1 && k0 === O_J) {
    const jcc = d.name === 'Jcc';
    if (s0 === S_B) return [jcc ? Q_JCC8 : Q_JMP8, d.low];
    if (s0 === S_Z) return [jcc ? Q_JCC32 : Q_JMP32, d.low];
  }
  if ((d.name === 'INC' || d.name === 'DEC') && o.length === 1 && k0 === O_E && v0) return [Q_INCDEC, d.name === 'DEC' ? 1 : 0];
  const sh = SHIFT_KINDS[d.name];
  if (sh !== undefined && o.length === 2 && k0 === O_E && v0) {
    if (k1 === O_I && s1 === S_B) return [Q_SHIFT_I, sh];
    if (k1 === O_ONE) return [Q_SHIFT_1, sh];
  }
  return [Q_NONE, 0];
}

for (let index = 0; index < 512; index++) {
  for (let reg = 0; reg < 8; reg++) {
    const [form, op] = formOf(FAST[index] ?? FAST_REG[index * 8 + reg] ?? null);
    QUICK_FORM[index * 8 + reg] = form;
    QUICK_OP[index * 8 + reg] = op;
  }
}

/** runStream's result bit: the form ends a decoded block (a branch). */
export const QUICK_END = 0x100;

const rd32 = (u8: Uint8Array, p: number): number => u8[p]! | (u8[p + 1]! << 8) | (u8[p + 2]! << 16) | (u8[p + 3]! << 24);

/**
 * Executes the instruction at RIP = `rip` (64-bit mode, CS base 0: its linear address), whose 15
 * bytes are at `o` in `u8`, when it is one of the forms: returns its length (| QUICK_END for a
 * branch) with RIP advanced, or 0 having changed nothing. `insn` is scratch for LEA's address
 * (its memory-operand fields; `memSet` marks them for the decoder).
 */
export function quickStep(c: X86Cpu, insn: Insn, u8: Uint8Array, o: number, rip: number): number {
  let p = o;
  let b = u8[p++]!;
  let rex = 0;
  if ((b & 0xf0) === 0x40) {
    rex = b;
    b = u8[p++]!;
  }
  let index = b;
  if (b === 0x0f) index = 256 + u8[p++]!;
  const x = index * 8 + ((u8[p]! >> 3) & 7);
  const form = QUICK_FORM[x]!;
  if (form === Q_NONE) return 0;
  const op = QUICK_OP[x]!;
  const R = c.s.r;
  const w = (rex & 8) !== 0;
  switch (form) {
    case Q_ALU_EG:
    case Q_ALU_GE:
    case Q_MOV_EG:
    case Q_MOV_GE:
    case Q_INCDEC: {
      if (u8[p]! < 0xc0) {
        // A memory operand: MOV only (the ALU and INC/DEC forms take the ordinary path).
        if (form !== Q_MOV_EG && form !== Q_MOV_GE) return 0;
        p = movMem(c, u8, o, p, rex, rip, form === Q_MOV_EG);
        if (p === 0) return 0;
        break;
      }
      const m = u8[p++]!;
      const rm = (m & 7) | ((rex & 1) << 3);
      const rg = ((m >> 3) & 7) | ((rex & 4) << 1);
      const d = form === Q_ALU_GE || form === Q_MOV_GE ? rg : rm;
      const s = d === rg ? rm : rg;
      if (form === Q_MOV_EG || form === Q_MOV_GE) {
        R[2 * d] = R[2 * s]!;
        R[2 * d + 1] = w ? R[2 * s + 1]! : 0;
      } else if (form === Q_INCDEC) {
        const r = incDecResult(c, w ? 8 : 4, op === 1, w ? R[2 * d]! : R[2 * d]! >>> 0, w ? R[2 * d + 1]! : 0);
        R[2 * d] = r;
        R[2 * d + 1] = w ? c.t1 : 0;
      } else aluRegs(c, op, w, d, w || op !== ALU_TEST ? R[2 * s]! : R[2 * s]! >>> 0, w ? R[2 * s + 1]! : 0);
      break;
    }
    case Q_ALU_AI: {
      const imm = rd32(u8, p);
      p += 4;
      aluRegs(c, op, w, 0, imm, imm < 0 ? -1 : 0);
      break;
    }
    case Q_ALU_EIZ:
    case Q_ALU_EIB: {
      const m = u8[p++]!;
      if (m < 0xc0) return 0;
      let imm: number;
      if (form === Q_ALU_EIB) imm = (u8[p++]! << 24) >> 24;
      else {
        imm = rd32(u8, p);
        p += 4;
      }
      aluRegs(c, op, w, (m & 7) | ((rex & 1) << 3), imm, imm < 0 ? -1 : 0);
      break;
    }
    case Q_SHIFT_I:
    case Q_SHIFT_1: {
      const m = u8[p++]!;
      if (m < 0xc0) return 0;
      const d = (m & 7) | ((rex & 1) << 3);
      const cnt = (form === Q_SHIFT_1 ? 1 : u8[p++]!) & (w ? 63 : 31);
      // A count of 0 changes nothing (not even the upper half of a 32-bit register), as the handler.
      if (cnt !== 0) {
        const size = w ? 8 : 4;
        const r = shiftResult(c, op, size, w ? R[2 * d]! : R[2 * d]! >>> 0, w ? R[2 * d + 1]! : 0, cnt);
        const rh = w ? c.t1 : 0;
        R[2 * d] = r;
        R[2 * d + 1] = rh;
        shiftFlags(c, size, r, rh);
      }
      break;
    }
    case Q_MOV_ZI: {
      const d = (b & 7) | ((rex & 1) << 3);
      R[2 * d] = rd32(u8, p);
      R[2 * d + 1] = w ? rd32(u8, p + 4) : 0;
      p += w ? 8 : 4;
      break;
    }
    case Q_LEA: {
      p = lea(c, insn, u8, o, p, rex, rip);
      if (p === 0) return 0;
      break;
    }
    default: {
      // Jcc / JMP: the target relative to the next instruction; 64-bit operand size (f64).
      let rel: number;
      if (form === Q_JCC8 || form === Q_JMP8) rel = (u8[p++]! << 24) >> 24;
      else {
        rel = rd32(u8, p);
        p += 4;
      }
      const len = p - o;
      if ((form === Q_JMP8 || form === Q_JMP32) || c.cond(op)) {
        const t = rip + len + rel;
        // A non-canonical target: #GP, raised by the ordinary path.
        if (!isCanonical(t)) return 0;
        c.s.rip = t;
      } else c.s.rip = rip + len;
      return len | QUICK_END;
    }
  }
  const len = p - o;
  c.s.rip = rip + len;
  return len;
}

/**
 * The ALU forms on register `d` (operand size 8 with REX.W, else 4) with source b0:b1 (a register
 * or a sign-extended immediate), as aluInsn and TEST compute them.
 */
function aluRegs(c: X86Cpu, op: number, w: boolean, d: number, b0: number, b1: number): void {
  const R = c.s.r;
  if (op === ALU_TEST) {
    // TEST reads its operands as rdSoft does: a 32-bit register unsigned (the caller's b0 too), an immediate signed.
    if (w) alu(c, Alu.AND, 8, R[2 * d]!, R[2 * d + 1]!, b0, b1);
    else alu(c, Alu.AND, 4, R[2 * d]! >>> 0, 0, b0, 0);
    return;
  }
  const r = w ? alu(c, op as Alu, 8, R[2 * d]!, R[2 * d + 1]!, b0, b1) : alu(c, op as Alu, 4, R[2 * d]!, 0, b0 | 0, 0);
  if (op !== Alu.CMP) {
    R[2 * d] = r;
    R[2 * d + 1] = w ? c.t1 : 0;
  }
}

/**
 * LEA Gv,M with 64-bit addressing (no 67 prefix), the ModRM byte at `p0` of the instruction at
 * `o`: the result as the LEA handler's (eaHalves on insn's memory fields, `memSet` marking them
 * for the decoder). Returns the offset after the instruction, 0 for a register ModRM (#UD: the
 * ordinary path).
 */
function lea(c: X86Cpu, insn: Insn, u8: Uint8Array, o: number, p0: number, rex: number, rip: number): number {
  const modrm = u8[p0]!;
  if (modrm >= 0xc0) return 0;
  const p = modrmMem(u8, p0, rex);
  insn.memSet = true;
  insn.base = MEM.base;
  insn.index = MEM.index;
  insn.scale = MEM.scale;
  // RIP-relative: the displacement from the next instruction (decodeFast's finishLength).
  insn.disp = MEM.ripForm ? MEM.disp + rip + (p - o) : MEM.disp;
  eaHalves(c, insn);
  const d = ((modrm >> 3) & 7) | ((rex & 4) << 1);
  const R = c.s.r;
  R[2 * d] = c.eaLo;
  R[2 * d + 1] = (rex & 8) !== 0 ? c.eaHi : 0;
  return p;
}

/**
 * MOV Ev,Gv / Gv,Ev with a memory operand (DS or SS: no segment base in 64-bit mode), the ModRM
 * byte at `p0` of the instruction at `o`: only when the access is within one page that the TLB
 * maps for it already (a read-set / write-set hit: RAM, not MMIO, not decoded code), with no data
 * breakpoint armed and no MMIO read being replayed — then nothing can fault or exit. The address
 * as ea() forms it (registers below 2^48 in magnitude; others take the ordinary path). Returns
 * the offset after the instruction, or 0 having changed nothing.
 */
function movMem(c: X86Cpu, u8: Uint8Array, o: number, p0: number, rex: number, rip: number, store: boolean): number {
  if (c.watchOn || c.mmioCount !== 0) return 0;
  const p = modrmMem(u8, p0, rex);
  const R = c.s.r;
  const b = MEM.base;
  const x = MEM.index;
  const bh = b >= 0 ? R[2 * b + 1]! : 0;
  const xh = x >= 0 ? R[2 * x + 1]! : 0;
  if (!(bh < 0x10000 && bh >= -0x10000 && xh < 0x10000 && xh >= -0x10000)) return 0;
  const bl = b >= 0 ? R[2 * b]! >>> 0 : 0;
  const xl = x >= 0 ? R[2 * x]! >>> 0 : 0;
  const disp = MEM.ripForm ? MEM.disp + rip + (p - o) : MEM.disp;
  const lin = disp + (bh * 0x100000000 + bl) + (xh * 0x100000000 + xl) * MEM.scale;
  const w = (rex & 8) !== 0;
  const size = w ? 8 : 4;
  const off = lin & 0xfff;
  if (off + size > 0x1000 || !isCanonical(lin)) return 0;
  const vpn = (lin - off) / 0x1000;
  const i = vpn & TLB_MASK;
  const tag = vpn * 2 + (c.cpl === 3 ? 1 : 0);
  const r = ((u8[p0]! >> 3) & 7) | ((rex & 4) << 1);
  if (store) {
    if (c.wTag[i] !== tag) return 0;
    const dv = c.wDv[i]!;
    const a = c.wOff[i]! + off;
    dv.setInt32(a, R[2 * r]!, true);
    if (w) dv.setInt32(a + 4, R[2 * r + 1]!, true);
  } else {
    if (c.rTag[i] !== tag) return 0;
    const dv = c.rDv[i]!;
    const a = c.rOff[i]! + off;
    R[2 * r] = dv.getInt32(a, true);
    R[2 * r + 1] = w ? dv.getInt32(a + 4, true) : 0;
  }
  return p;
}
