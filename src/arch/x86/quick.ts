/**
 * Cold code's one-pass forms (64-bit mode): the commonest register-only instructions are decoded
 * and executed in one step from the code page's bytes (run.ts runStream calls quickRun, which runs
 * them back to back with RIP in a local), with no `Insn` record, no operand plumbing and no
 * handler call. Which forms these are comes from the decode table: QUICK is built at load from
 * the fast path's rows (decode-table.ts FAST/FAST_REG) by mnemonic and operand shape, so an opcode
 * the table gives another row never matches here. Each form computes exactly what its handler
 * (exec/alu.ts, move.ts, control.ts) computes: through the same helpers (incDecResult,
 * shiftResult, alu for ADC/SBB), or inline where a call per instruction cost more than the work
 * (ADD/SUB/CMP/logic and 32-bit shifts: the same operands, result and flag record as alu and
 * shiftFlags make; addresses exact modulo 2^64 as eaHalves forms them). MOV to or from memory
 * only through a TLB hit on RAM. Anything else — a prefix other than REX, another memory
 * operand, a TLB miss, a byte or 16-bit operand, a branch to a non-canonical address — stops the run at that instruction, changed in nothing, and it
 * takes the ordinary path (decodePage + step), which then raises what it raises: nothing here can
 * fault or exit, so nothing is left half done.
 * @module
 */
import type { X86Cpu } from './cpu.js';
import { FAST, FAST_REG, type OpDesc } from './decode-table.js';
import { O_E, O_G, O_I, O_J, O_M, O_ONE, O_RAX, O_Z, S_B, S_V, S_Z } from './decode-operand.js';
import { MEM, modrmMem } from './decoder.js';
import { alu, Alu, incDecResult } from './exec/alu.js';
import { FOp } from './flags.js';
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

/** quickRun's result bit: it stopped after a branch (a block end); the count is in the bits below. */
export const QUICK_END = 0x10000;

const rd32 = (u8: Uint8Array, p: number): number => u8[p]! | (u8[p + 1]! << 8) | (u8[p + 2]! << 16) | (u8[p + 3]! << 24);

/**
 * Executes the instructions from RIP = `start` (64-bit mode, CS base 0: RIP is the linear
 * address) while they are one of the forms, on the page whose bytes are at `off0 + linear` in
 * `u8`, at most `lim` (below QUICK_END) of them: returns how many ran, | QUICK_END when the last
 * was a branch, with RIP after the last one (at the first one that is not a form, which has not
 * run). It stops too within 15 bytes of `pageEnd`. RIP lives in a local meanwhile: nothing here
 * can fault or exit. `user` is 1 at CPL 3 (the TLB's tag bit).
 */
export function quickRun(c: X86Cpu, u8: Uint8Array, off0: number, start: number, pageEnd: number, lim: number, user: number): number {
  const R = c.s.r;
  // Offsets in u8 (int32) while the run goes straight on: RIP = start + (o - o0).
  const o0 = (off0 + start) | 0;
  const oEnd = o0 + (pageEnd - start);
  let o = o0;
  let n = 0;
  run: while (n < lim && oEnd - o >= 15) {
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
    if (form === Q_NONE) break;
    const op = QUICK_OP[x]!;
    const w = (rex & 8) !== 0;
    if (form === Q_LEA || ((form === Q_MOV_EG || form === Q_MOV_GE) && u8[p]! < 0xc0)) {
      // LEA, or MOV to or from memory (64-bit addressing: no 67 prefix; DS or SS: no segment
      // base). The address as lo:hi halves, exact modulo 2^64 (eaHalves' result).
      const m = u8[p]!;
      if (m >= 0xc0) break run; // LEA with a register: #UD
      let bi: number;
      let xi = -1;
      let scale = 1;
      let disp: number;
      if ((m & 7) !== 4 && m >= 0x40) {
        // [base + disp8 / disp32] (no SIB, not RIP-relative), the commonest: read here.
        bi = (m & 7) | ((rex & 1) << 3);
        if (m < 0x80) {
          disp = (u8[p + 1]! << 24) >> 24;
          p += 2;
        } else {
          disp = rd32(u8, p + 1);
          p += 5;
        }
      } else {
        p = modrmMem(u8, p, rex);
        bi = MEM.base;
        xi = MEM.index;
        scale = MEM.scale;
        // RIP-relative: the displacement from the next instruction (decodeFast's finishLength).
        disp = MEM.ripForm ? MEM.disp + start + (p - o0) : MEM.disp;
      }
      const sum = disp + (bi >= 0 ? R[2 * bi]! >>> 0 : 0) + (xi >= 0 ? R[2 * xi]! >>> 0 : 0) * scale;
      const lo = sum | 0;
      const hi = ((bi >= 0 ? R[2 * bi + 1]! : 0) + (xi >= 0 ? Math.imul(R[2 * xi + 1]!, scale) : 0) + Math.floor(sum / 0x100000000)) | 0;
      const r = 2 * (((m >> 3) & 7) | ((rex & 4) << 1));
      if (form === Q_LEA) {
        R[r] = lo;
        R[r + 1] = w ? hi : 0;
      } else {
        // As the handler's read or write, only when the TLB has the page for it (a read-set /
        // write-set hit: RAM, not MMIO, not decoded code) and the address is canonical: then
        // nothing can fault or exit.
        const off = lo & 0xfff;
        if (off + (w ? 8 : 4) > 0x1000 || hi >= 0x8000 || hi < -0x8000) break run;
        const i = (lo >>> 12) & TLB_MASK;
        const tag = (hi * 0x100000 + (lo >>> 12)) * 2 + user;
        if (form === Q_MOV_EG) {
          if (c.wTag[i] !== tag) break run;
          const dv = c.wDv[i]!;
          const at = c.wOff[i]! + off;
          dv.setInt32(at, R[r]!, true);
          if (w) dv.setInt32(at + 4, R[r + 1]!, true);
        } else {
          if (c.rTag[i] !== tag) break run;
          const dv = c.rDv[i]!;
          const at = c.rOff[i]! + off;
          R[r] = dv.getInt32(at, true);
          R[r + 1] = w ? dv.getInt32(at + 4, true) : 0;
        }
      }
      o = p;
      n++;
      continue;
    }
    // An ALU form's destination register and source (a register or a sign-extended immediate).
    let ad = -1;
    let s0 = 0;
    let s1 = 0;
    switch (form) {
      case Q_ALU_EG:
      case Q_ALU_GE:
      case Q_MOV_EG:
      case Q_MOV_GE:
      case Q_INCDEC: {
        // (MOV with a memory operand ran above; the ALU and INC/DEC forms take the ordinary path.)
        if (u8[p]! < 0xc0) break run;
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
        } else {
          ad = d;
          s0 = w || op !== ALU_TEST ? R[2 * s]! : R[2 * s]! >>> 0;
          s1 = w ? R[2 * s + 1]! : 0;
        }
        break;
      }
      case Q_ALU_AI: {
        s0 = rd32(u8, p);
        s1 = s0 < 0 ? -1 : 0;
        p += 4;
        ad = 0;
        break;
      }
      case Q_ALU_EIZ:
      case Q_ALU_EIB: {
        const m = u8[p++]!;
        if (m < 0xc0) break run;
        if (form === Q_ALU_EIB) s0 = (u8[p++]! << 24) >> 24;
        else {
          s0 = rd32(u8, p);
          p += 4;
        }
        s1 = s0 < 0 ? -1 : 0;
        ad = (m & 7) | ((rex & 1) << 3);
        break;
      }
      case Q_SHIFT_I:
      case Q_SHIFT_1: {
        const m = u8[p++]!;
        if (m < 0xc0) break run;
        const d = (m & 7) | ((rex & 1) << 3);
        const cnt = (form === Q_SHIFT_1 ? 1 : u8[p++]!) & (w ? 63 : 31);
        // A count of 0 changes nothing (not even the upper half of a 32-bit register), as the handler.
        if (cnt !== 0) {
          if (w) {
            const r = shiftResult(c, op, 8, R[2 * d]!, R[2 * d + 1]!, cnt);
            const rh = c.t1;
            R[2 * d] = r;
            R[2 * d + 1] = rh;
            shiftFlags(c, 8, r, rh);
          } else shift32(c, op, d, cnt);
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
      default: {
        // Jcc / JMP: the target relative to the next instruction; 64-bit operand size (f64).
        let rel: number;
        if (form === Q_JCC8 || form === Q_JMP8) rel = (u8[p++]! << 24) >> 24;
        else {
          rel = rd32(u8, p);
          p += 4;
        }
        const next = start + (p - o0);
        if (form === Q_JMP8 || form === Q_JMP32 || taken(c, op)) {
          const t = next + rel;
          // A non-canonical target: #GP, raised by the ordinary path.
          if (!isCanonical(t)) break run;
          c.s.rip = t;
        } else c.s.rip = next;
        return (n + 1) | QUICK_END;
      }
    }
    if (ad >= 0) {
      if (op === Alu.ADC || op === Alu.SBB) aluCarry(c, op, w, ad, s0, s1);
      else aluFast(c, op, w, ad, s0, s1);
    }
    o = p;
    n++;
  }
  c.s.rip = start + (o - o0);
  return n;
}

/** Jcc's condition `cc`: JZ/JNZ from the lazy record's result directly, the others through cond. */
function taken(c: X86Cpu, cc: number): boolean {
  const f = c.f;
  if (cc >> 1 !== 2 || f.op === FOp.NONE) return c.cond(cc);
  return (f.zf() === 1) !== ((cc & 1) === 1);
}

/**
 * ADD, SUB, CMP, AND, OR, XOR, TEST on register `d` (operand size 8 with REX.W, else 4) with
 * source b0:b1 (a register or a sign-extended immediate), recorded as alu (exec/alu.ts) records
 * them from aluInsn and TEST: the same operands, result and kind.
 */
function aluFast(c: X86Cpu, op: number, w: boolean, d: number, b0: number, b1: number): void {
  const R = c.s.r;
  // A 32-bit TEST reads its register unsigned (rdSoft), the others signed (the caller passes b0 so).
  const a0 = w || op !== ALU_TEST ? R[2 * d]! : R[2 * d]! >>> 0;
  const a1 = w ? R[2 * d + 1]! : 0;
  if (!w) {
    if (op !== ALU_TEST) b0 |= 0;
    b1 = 0;
  }
  let r0: number;
  let r1 = 0;
  let kind: number = FOp.LOGIC;
  if (op === Alu.ADD) {
    kind = FOp.ADD;
    const lo = (a0 >>> 0) + (b0 >>> 0);
    r0 = lo | 0;
    if (w) r1 = (a1 + b1 + (lo > 0xffffffff ? 1 : 0)) | 0;
  } else if (op === Alu.SUB || op === Alu.CMP) {
    kind = FOp.SUB;
    const lo = (a0 >>> 0) - (b0 >>> 0);
    r0 = lo | 0;
    if (w) r1 = (a1 - b1 - (lo < 0 ? 1 : 0)) | 0;
  } else if (op === Alu.OR) {
    r0 = a0 | b0;
    r1 = a1 | b1;
  } else if (op === Alu.XOR) {
    r0 = a0 ^ b0;
    r1 = a1 ^ b1;
  } else {
    r0 = a0 & b0;
    r1 = a1 & b1;
  }
  c.f.set(kind as FOp, w ? 8 : 4, a0, a1, b0, b1, r0, r1);
  if (kind !== FOp.LOGIC) c.f.cin = 0;
  if (op !== Alu.CMP && op !== ALU_TEST) {
    R[2 * d] = r0;
    R[2 * d + 1] = r1;
  }
}

/** SHL/SHR/SAR (kind 4, 5, 6) of 32-bit register `d` by `cnt` (1..31), as shiftResult and shiftFlags compute it. */
function shift32(c: X86Cpu, kind: number, d: number, cnt: number): void {
  const R = c.s.r;
  const a = R[2 * d]! >>> 0;
  let r: number;
  let cf: number;
  let of: number;
  if (kind === 4) {
    r = a << cnt;
    cf = (a >>> (32 - cnt)) & 1;
    of = (r >>> 31) ^ cf;
  } else if (kind === 5) {
    r = (a >>> cnt) | 0;
    cf = (a >>> (cnt - 1)) & 1;
    of = a >>> 31;
  } else {
    r = (a | 0) >> cnt;
    cf = ((a | 0) >> (cnt - 1)) & 1;
    of = 0;
  }
  R[2 * d] = r;
  R[2 * d + 1] = 0;
  const f = c.f;
  f.set(FOp.EAGER_CO, 4, 0, 0, 0, 0, r, 0);
  f.cin = cf;
  f.ofv = of;
  f.afv = 0;
}

/** ADC and SBB on register `d` (operand size 8 with REX.W, else 4) with source b0:b1, through alu as aluInsn. */
function aluCarry(c: X86Cpu, op: number, w: boolean, d: number, b0: number, b1: number): void {
  const R = c.s.r;
  const r = w ? alu(c, op as Alu, 8, R[2 * d]!, R[2 * d + 1]!, b0, b1) : alu(c, op as Alu, 4, R[2 * d]!, 0, b0 | 0, 0);
  R[2 * d] = r;
  R[2 * d + 1] = w ? c.t1 : 0;
}
