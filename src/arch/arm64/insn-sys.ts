/**
 * A64 branches, exception generation and system instructions: B/BL/B.cond/CBZ/TBZ/BR/BLR/RET/
 * ERET, SVC/HVC/SMC/BRK/HLT, hints (WFI/WFE/...), barriers, MSR (immediate), SYS (DC/IC/TLBI/AT)
 * and MRS/MSR (register, in sysaccess.ts).
 * @module
 */
import { KVM_GUESTDBG } from '../../uapi/constants.js';
import { ACC_R, ACC_W, EC, EXIT, type Cpu } from './cpu.js';
import { debugExit } from './debug.js';
import type { Encoding } from './decoder.js';
import type { JitForm } from './emit.js';
import { condHolds } from './insn-dp.js';
import { FSC } from './mmu.js';
import { Hvc, smcccCall } from './hypercalls.js';
import { numHi, numLo, ZR } from './state.js';
import { mrsMsr } from './sysaccess.js';
import { SR } from './sysregs.js';

const TWO32 = 4294967296;

// ---- branches ---------------------------------------------------------------------------------------

function b(c: Cpu, i: number): void {
  c.pc = c.insnPc + ((i << 6) >> 4);
}

function bl(c: Cpu, i: number): void {
  const ret = c.insnPc + 4;
  c.x[60] = numLo(ret);
  c.x[61] = numHi(ret);
  c.pc = c.insnPc + ((i << 6) >> 4);
}

function bcond(c: Cpu, i: number): void {
  if (condHolds(c, i & 15)) c.pc = c.insnPc + (((i << 8) >> 13) << 2);
}

function cbz(c: Cpu, i: number): void {
  const t = ZR[i & 31]!;
  const zero = (i >>> 31 ? c.x[t]! | c.x[t + 1]! : c.x[t]!) === 0;
  if (zero !== ((i >>> 24) & 1) > 0) c.pc = c.insnPc + (((i << 8) >> 13) << 2);
}

function tbz(c: Cpu, i: number): void {
  const t = ZR[i & 31]!;
  const bit = ((i >>> 26) & 0x20) | ((i >>> 19) & 31);
  const set = (bit >= 32 ? c.x[t + 1]! >>> (bit - 32) : c.x[t]! >>> bit) & 1;
  if (set === ((i >>> 24) & 1)) c.pc = c.insnPc + (((i << 13) >> 18) << 2);
}

/** A branch target from a register: TBI strips the tag; misaligned targets fault at fetch. */
function regTarget(c: Cpu, n: number): number {
  let hi = c.x[n + 1]!;
  if (c.tbi !== 0 && (c.tbi >>> ((hi >>> 23) & 1)) & 1) hi = (hi << 8) >> 8;
  return hi * TWO32 + (c.x[n]! >>> 0);
}

function br(c: Cpu, i: number): void {
  c.branchTo(regTarget(c, ZR[(i >>> 5) & 31]!));
}

function blr(c: Cpu, i: number): void {
  const target = regTarget(c, ZR[(i >>> 5) & 31]!);
  const ret = c.insnPc + 4;
  c.x[60] = numLo(ret);
  c.x[61] = numHi(ret);
  c.branchTo(target);
}

function eret(c: Cpu): void {
  if (c.el === 0) c.undef();
  c.eret();
}

// ---- exception generation ---------------------------------------------------------------------------

const imm16 = (i: number) => (i >>> 5) & 0xffff;

function svc(c: Cpu, i: number): void {
  c.raise(EC.SVC64, imm16(i), c.pc, true);
}

function hvc(c: Cpu): void {
  if (c.el === 0) c.undef();
  c.emulated = true;
  if (smcccCall(c, false) === Hvc.BLOCK) block(c);
}

function smc(c: Cpu, i: number): void {
  if (c.el === 0) c.undef();
  c.emulated = true;
  if (imm16(i) !== 0) {
    // SMCs with a nonzero immediate are reserved (SMCCC): X0 = -1.
    c.x[0] = -1;
    c.x[1] = -1;
    return;
  }
  if (smcccCall(c, true) === Hvc.BLOCK) block(c);
}

/** The vCPU would sleep in the kernel (WFI, CPU_SUSPEND, CPU_OFF): the run loop returns EINTR. */
function block(c: Cpu): never {
  c.blocked = true;
  throw EXIT;
}

function brk(c: Cpu, i: number): void {
  // With guest debugging enabled, MDCR_EL2.TDE routes BRK to the hypervisor: KVM_EXIT_DEBUG.
  if (c.host.control & KVM_GUESTDBG.ENABLE) {
    c.pc = c.insnPc;
    debugExit(c, EC.BRK64, imm16(i), 0);
  }
  c.exception(EC.BRK64, imm16(i));
}

function undefined_(c: Cpu): void {
  c.undef();
}

// ---- hints, barriers, PSTATE -----------------------------------------------------------------------

function hint(c: Cpu, i: number): void {
  const op = (i >>> 5) & 0x7f; // CRm:op2
  if (op === 3) {
    // WFI: trapped to EL1 from EL0 unless SCTLR_EL1.nTWI; at EL1 KVM blocks the vCPU.
    if (c.el === 0 && (c.sctlrLo & (1 << 16)) === 0) c.exception(0x01, 0x1e00000);
    c.emulated = true;
    block(c);
  }
  if (op === 2 && c.el === 0 && (c.sctlrLo & (1 << 18)) === 0) c.exception(0x01, 0x1e00001); // WFE, nTWE
  // NOP, YIELD, WFE (no event source here), SEV, SEVL, and the rest of the hint space.
}

function clrex(c: Cpu): void {
  c.exVa = NaN;
}

function barrier(): void {}

/** ISB: a context synchronization event. */
function isb(c: Cpu): void {
  c.contextSync();
}

function msrImm(c: Cpu, i: number): void {
  const op1 = (i >>> 16) & 7;
  const op2 = (i >>> 5) & 7;
  const crm = (i >>> 8) & 15;
  if (op1 === 0 && op2 === 5) {
    // SPSel
    if (c.el === 0) c.undef();
    c.selectSp(c.el, crm & 1);
    c.modeChanged();
    return;
  }
  if (op1 === 3 && (op2 === 6 || op2 === 7)) {
    // DAIFSet / DAIFClr
    if (c.el === 0 && (c.sctlrLo & (1 << 9)) === 0) c.undef();
    c.daif = op2 === 6 ? c.daif | crm : c.daif & ~crm;
    c.modeChanged();
    return;
  }
  c.undef();
}

// ---- SYS: DC, IC, TLBI, AT -------------------------------------------------------------------------

function sys(c: Cpu, i: number): void {
  const op1 = (i >>> 16) & 7;
  const crn = (i >>> 12) & 15;
  const crm = (i >>> 8) & 15;
  const op2 = (i >>> 5) & 7;
  const rt = i & 31;
  const el0 = c.el === 0;
  const uci = (c.sctlrLo & (1 << 26)) !== 0;
  if (crn === 7) {
    if (op1 === 0 && op2 === 0 && (crm === 1 || crm === 5)) {
      if (el0) c.undef(); // IC IALLUIS / IALLU: decoding is per word, nothing to flush
      return;
    }
    if (op1 === 3 && crm === 5 && op2 === 1) {
      if (el0 && !uci) c.undef(); // IC IVAU
      return;
    }
    if (op1 === 0 && crm === 6 && op2 === 1) return dcByVa(c, rt, el0, true); // DC IVAC
    if (op1 === 0 && op2 === 2 && (crm === 6 || crm === 10 || crm === 14)) {
      if (el0) c.undef(); // DC ISW / CSW / CISW
      return;
    }
    if (op1 === 3 && op2 === 1 && (crm === 10 || crm === 11 || crm === 14)) {
      if (el0 && !uci) c.undef();
      return dcByVa(c, rt, false, false); // DC CVAC / CVAU / CIVAC
    }
    if (op1 === 3 && crm === 4 && op2 === 1) return dcZva(c, rt); // DC ZVA
    if (op1 === 0 && crm === 8 && op2 <= 3) {
      if (el0) c.undef();
      return at(c, rt, op2);
    }
  }
  if (crn === 8 && op1 === 0 && (crm === 3 || crm === 7) && op2 !== 4 && op2 !== 6) {
    if (el0) c.undef();
    c.flushTlb(); // TLBI VMALLE1{IS}, VAE1, ASIDE1, VAAE1, VALE1, VAALE1: drop everything
    return;
  }
  c.undef();
}

/** Cache maintenance by VA: checks the translation (a fault reports CM = 1); memory is coherent. */
function dcByVa(c: Cpu, rt: number, el1Only: boolean, invalidate: boolean): void {
  if (el1Only && c.el === 0) c.undef();
  const va = c.xNum(rt);
  const pa = c.probe(va, invalidate ? ACC_W : ACC_R, c.el);
  if (pa < 0) c.dataAbort(va, true, -1 - pa, true);
}

function dcZva(c: Cpu, rt: number): void {
  if (c.el === 0 && (c.sctlrLo & (1 << 14)) === 0) c.undef(); // SCTLR_EL1.DZE
  const va0 = regAddr(c, rt);
  const va = va0 - (((va0 % 64) + 64) % 64);
  const pa = c.probe(va, ACC_W, c.el);
  if (pa < 0) c.dataAbort(va0, true, -1 - pa);
  if (c.tr.device) c.dataAbort(va0, true, FSC.ALIGNMENT);
  for (let k = 0; k < 64; k += 8) c.write64(va + k, 0, 0);
}

const regAddr = (c: Cpu, rt: number) => (rt === 31 ? 0 : c.x[2 * rt + 1]! * TWO32 + (c.x[2 * rt]! >>> 0));

/** AT S1E1R/S1E1W/S1E0R/S1E0W: the translation (or its fault) into PAR_EL1. */
function at(c: Cpu, rt: number, op2: number): void {
  const va = regAddr(c, rt);
  const pa = c.probe(va, op2 & 1 ? ACC_W : ACC_R, op2 >= 2 ? 0 : 1);
  const lo = c.sysLo;
  const hi = c.sysHi;
  if (pa < 0) {
    // F = 1, FST = fault status; S1WALK/PTW not modelled.
    lo[SR.PAR] = 1 | ((-1 - pa) << 1) | (1 << 11);
    hi[SR.PAR] = 0;
    return;
  }
  const page = pa - (pa % 4096);
  lo[SR.PAR] = (numLo(page) & ~0xfff) | (c.tr.sh << 7) | (1 << 11);
  hi[SR.PAR] = (numHi(page) & 0xffff) | (c.tr.attr << 24);
}

// ---- block JIT: branch targets and inline forms ------------------------------------------------------

const targetB = (w: number, pc: number) => pc + ((w << 6) >> 4);
const target19 = (w: number, pc: number) => pc + (((w << 8) >> 13) << 2);
const target14 = (w: number, pc: number) => pc + (((w << 13) >> 18) << 2);

const jitB: JitForm = (e, w, pc) => {
  e.jump(targetB(w, pc));
  return true;
};

const jitBl: JitForm = (e, w, pc) => {
  e.set(30, e.k64(pc + 4), false);
  e.jump(targetB(w, pc));
  return true;
};

const jitBcond: JitForm = (e, w, pc) => {
  e.jumpIf(e.cond(w & 15), target19(w, pc));
  e.jump(pc + 4);
  return true;
};

const jitCbz: JitForm = (e, w, pc) => {
  const r = e.z(w & 31);
  const v = w >>> 31 ? e.op(r.lo, '|', r.hi) : r.lo;
  e.jumpIf((w >>> 24) & 1 ? e.ne(v, e.k(0)) : e.eq(v, e.k(0)), target19(w, pc));
  e.jump(pc + 4);
  return true;
};

const jitTbz: JitForm = (e, w, pc) => {
  const r = e.z(w & 31);
  const bit = ((w >>> 26) & 0x20) | ((w >>> 19) & 31);
  const v = e.op(e.op(bit >= 32 ? r.hi : r.lo, '>>>', e.k(bit & 31)), '&', e.k(1));
  e.jumpIf(e.eq(v, e.k((w >>> 24) & 1)), target14(w, pc));
  e.jump(pc + 4);
  return true;
};

/** BR/BLR/RET; with TBI on, the handler strips the tag. */
const jitBr: JitForm = (e, w) => {
  if (e.tbi !== 0) return false;
  e.jumpReg((w >>> 5) & 31, ((w >>> 21) & 3) === 1);
  return true;
};

/** HINT: WFE and WFI end a block (handler call); the other hints are no-ops. */
const activeHint = (w: number) => {
  const op = (w >>> 5) & 0x7f;
  return op === 2 || op === 3;
};
const jitHint: JitForm = (_e, w) => !activeHint(w);
const jitNop: JitForm = () => true;

// ---- rows ------------------------------------------------------------------------------------------

export const SYS_ENCODINGS: readonly Encoding[] = [
  { name: 'B', pattern: '0 00101 imm26:26', exec: b, group: 'branch', ends: true, target: targetB, jit: jitB },
  { name: 'BL', pattern: '1 00101 imm26:26', exec: bl, group: 'branch', ends: true, target: targetB, jit: jitBl },
  { name: 'B_cond', pattern: '0101010 0 imm19:19 0 cond:4', exec: bcond, group: 'branch', ends: true, target: target19, jit: jitBcond },
  { name: 'CBZ_CBNZ', pattern: 'sf:1 011010 op:1 imm19:19 Rt:5', exec: cbz, group: 'branch', ends: true, target: target19, jit: jitCbz },
  { name: 'TBZ_TBNZ', pattern: 'b5:1 011011 op:1 b40:5 imm14:14 Rt:5', exec: tbz, group: 'branch', ends: true, target: target14, jit: jitTbz },
  { name: 'BR', pattern: '1101011 0000 11111 000000 Rn:5 00000', exec: br, group: 'branch', ends: true, jit: jitBr },
  { name: 'BLR', pattern: '1101011 0001 11111 000000 Rn:5 00000', exec: blr, group: 'branch', ends: true, jit: jitBr },
  { name: 'RET', pattern: '1101011 0010 11111 000000 Rn:5 00000', exec: br, group: 'branch', ends: true, jit: jitBr },
  { name: 'ERET', pattern: '1101011 0100 11111 000000 11111 00000', exec: eret, group: 'branch', ends: true },
  { name: 'SVC', pattern: '11010100 000 imm16:16 000 01', exec: svc, group: 'exception', ends: true },
  { name: 'HVC', pattern: '11010100 000 imm16:16 000 10', exec: hvc, group: 'exception', ends: true },
  { name: 'SMC', pattern: '11010100 000 imm16:16 000 11', exec: smc, group: 'exception', ends: true },
  { name: 'BRK', pattern: '11010100 001 imm16:16 000 00', exec: brk, group: 'exception', ends: true },
  { name: 'HLT', pattern: '11010100 010 imm16:16 000 00', exec: undefined_, group: 'exception', ends: true },
  { name: 'HINT', pattern: '1101010100 0 00 011 0010 CRm:4 op2:3 11111', exec: hint, group: 'system', ends: activeHint, jit: jitHint },
  { name: 'CLREX', pattern: '1101010100 0 00 011 0011 CRm:4 010 11111', exec: clrex, group: 'system' },
  { name: 'DSB', pattern: '1101010100 0 00 011 0011 CRm:4 100 11111', exec: barrier, group: 'system', jit: jitNop },
  { name: 'DMB', pattern: '1101010100 0 00 011 0011 CRm:4 101 11111', exec: barrier, group: 'system', jit: jitNop },
  { name: 'ISB', pattern: '1101010100 0 00 011 0011 CRm:4 110 11111', exec: isb, group: 'system', ends: true },
  { name: 'MSR_imm', pattern: '1101010100 0 00 op1:3 0100 CRm:4 op2:3 11111', exec: msrImm, group: 'system', ends: true },
  { name: 'SYS', pattern: '1101010100 0 01 op1:3 CRn:4 CRm:4 op2:3 Rt:5', exec: sys, group: 'system', ends: true },
  { name: 'MRS_MSR', pattern: '1101010100 L:1 1 o0:1 op1:3 CRn:4 CRm:4 op2:3 Rt:5', exec: mrsMsr, group: 'system', ends: true },
];

