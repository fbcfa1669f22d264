/**
 * x86 data movement: MOV (with segment, CR and DR forms), MOVZX/MOVSX/MOVSXD, LEA, XCHG, CMPXCHG, CMPXCHG8B/CMPXCHG16B, XADD (and LOCK forms), CMOVcc, SETcc, CBW/CWD, XLAT, LES/LDS/LSS/LFS/LGS.
 * @module
 */
import { Acc, type X86Cpu } from '../cpu.js';
import { K_MEM, K_REG, K_SEG, type Insn } from '../decoder.js';
import { AOp, lockWord, unlockWord } from '../../../kernel/atomics.js';
import { lockedCas, lockedRmw } from '../atomic.js';
import { CS, DS, ES, FLAG, FS, GS, SS } from '../state.js';
import { alu, Alu } from './alu.js';
import { movCr, movDr } from './system.js';
import { loadSeg } from '../deliver.js';
import { KVM_X86_SHADOW_INT } from '../../../uapi/x86.js';
import { definer, ea, eaHalves, MASK, rd, rdAt, rdSoft, rmwAddr, sx, trunc, wr, wrAt, type Handler, type HandlerTable } from './operands.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const MOVE: HandlerTable = {};
const def = definer(MOVE);

def('MOV', (c, i) => {
  const k0 = i.kind[0];
  const k1 = i.kind[1];
  if (k0 === K_SEG) {
    if (i.reg[0] === CS) c.ud();
    const sel = rd(c, i, 1) & 0xffff;
    loadSeg(c, i.reg[0]!, sel);
    if (i.reg[0] === SS) c.svc.shadow(c, KVM_X86_SHADOW_INT.MOV_SS);
    return;
  }
  if (k1 === K_SEG) {
    if (i.reg[1]! > 5) c.ud();
    const sel = c.s.seg[i.reg[1]!]!.selector;
    // To a register: zero-extended to the operand size; to memory: always 16 bits.
    if (k0 === K_MEM) c.write(i.seg, ea(c, i), 2, sel);
    else c.setReg(i.reg[0]!, i.size[0]! === 8 ? 8 : i.size[0]! < 4 ? i.size[0]! : 4, sel);
    return;
  }
  if (k0 === 5 /* K_CR */ || k1 === 5) return movCr(c, i);
  if (k0 === 6 /* K_DR */ || k1 === 6) return movDr(c, i);
  if (k0 === K_REG) {
    // A load: an MMIO read exits without unwinding (rdSoft); nothing is written before it.
    const v = rdSoft(c, i, 1);
    if (c.exitNow) return;
    wr(c, i, 0, v, c.t1);
    return;
  }
  const v = rd(c, i, 1);
  wr(c, i, 0, v, c.t1);
});

def('MOVZX', (c, i) => {
  const v = rdSoft(c, i, 1);
  if (c.exitNow) return;
  c.setReg(i.reg[0]!, i.size[0]!, v & MASK[i.size[1]!]!, 0);
});

def('MOVSX', (c, i) => {
  const v0 = rdSoft(c, i, 1);
  if (c.exitNow) return;
  const v = sx(v0, i.size[1]!);
  c.setReg(i.reg[0]!, i.size[0]!, trunc(v, i.size[0]!), v < 0 ? -1 : 0);
});

def('MOVSXD', (c, i) => {
  const v = rdSoft(c, i, 1) | 0;
  if (c.exitNow) return;
  if (i.size[0] === 8) c.setReg(i.reg[0]!, 8, v, v < 0 ? -1 : 0);
  else c.setReg(i.reg[0]!, i.size[0]!, trunc(v, i.size[0]!));
});

def('LEA', (c, i) => {
  if (i.asz === 8) {
    // Exact halves: a 64-bit sum of arbitrary registers may not fit a double.
    eaHalves(c, i);
    if (i.size[0] === 8) c.setReg(i.reg[0]!, 8, c.eaLo, c.eaHi);
    else c.setReg(i.reg[0]!, i.size[0]!, trunc(c.eaLo, i.size[0]!));
  } else c.setReg(i.reg[0]!, i.size[0]!, trunc(ea(c, i) | 0, i.size[0]!));
});

def('XCHG', (c, i) => {
  const size = i.size[0]!;
  const lin = rmwAddr(c, i);
  if (i.kind[0] === K_MEM) return lockedXchg(c, i, lin); // XCHG with memory is always locked
  const a0 = rdAt(c, i, lin);
  const a1 = c.t1;
  const b0 = c.getReg(i.reg[1]!, size);
  const b1 = c.t1;
  wrAt(c, i, lin, b0, size === 8 ? b1 : 0);
  c.setReg(i.reg[1]!, size, a0, size === 8 ? a1 : 0);
});

def('CMPXCHG', (c, i) => {
  const size = i.size[0]!;
  const lin = rmwAddr(c, i);
  if (i.lock) return lockedCmpxchg(c, i, lin);
  const d0 = rdAt(c, i, lin);
  const d1 = size === 8 ? c.t1 : 0;
  const a0 = c.getReg(0, size);
  const a1 = size === 8 ? c.t1 : 0;
  alu(c, Alu.CMP, size, a0, a1, d0, d1);
  if (c.f.zf()) {
    const s0 = c.getReg(i.reg[1]!, size);
    wrAt(c, i, lin, s0, size === 8 ? c.t1 : 0);
  } else {
    // The destination is written back unchanged (a locked RMW always writes; a 32-bit register
    // destination is zero-extended like any 32-bit write).
    wrAt(c, i, lin, d0, d1);
    c.setReg(0, size, d0, d1);
  }
});

def('CMPXCHG8B', (c, i) => {
  const lin = c.linear(i.seg, ea(c, i), 8, true);
  if (i.lock) return lockedCmpxchg8b(c, lin);
  const lo = c.readLin(lin, 8);
  const hi = c.t1;
  const eax = c.getReg(0, 4) | 0;
  const edx = c.getReg(2, 4) | 0;
  const fl = c.getFlags();
  if (lo === eax && hi === edx) {
    c.writeLin(lin, 8, c.getReg(3, 4) | 0, c.getReg(1, 4) | 0);
    c.s.rflags = (fl | FLAG.ZF) >>> 0;
  } else {
    c.writeLin(lin, 8, lo, hi);
    c.setReg(0, 4, lo);
    c.setReg(2, 4, hi);
    c.s.rflags = (fl & ~FLAG.ZF) >>> 0;
  }
});

/**
 * CMPXCHG16B: RDX:RAX against the aligned m128 (#GP(0) otherwise); equal: RCX:RBX stored, ZF = 1;
 * else the memory value (written back, as the locked cycle does) loaded into RDX:RAX, ZF = 0.
 * LOCKed it runs under the VM's atomic lock: atomic against other locked accesses.
 */
def('CMPXCHG16B', (c, i) => {
  const lin = c.linear(i.seg, ea(c, i), 16, true);
  if (lin % 16) c.gp(0);
  c.translate(lin, Acc.WRITE);
  const lock = i.lock ? c.vm.atomicLock : null;
  if (lock) lockWord(lock);
  try {
    const m0 = c.readLin(lin, 8);
    const m1 = c.t1;
    const m2 = c.readLin(lin + 8, 8);
    const m3 = c.t1;
    const R = c.s.r;
    const fl = c.getFlags();
    if (m0 === R[0] && m1 === R[1] && m2 === R[4] && m3 === R[5]) {
      c.writeLin(lin, 8, R[6]!, R[7]!);
      c.writeLin(lin + 8, 8, R[2]!, R[3]!);
      c.s.rflags = (fl | FLAG.ZF) >>> 0;
    } else {
      c.writeLin(lin, 8, m0, m1);
      c.writeLin(lin + 8, 8, m2, m3);
      c.setReg(0, 8, m0, m1);
      c.setReg(2, 8, m2, m3);
      c.s.rflags = (fl & ~FLAG.ZF) >>> 0;
    }
  } finally {
    if (lock) unlockWord(lock);
  }
});

def('XADD', (c, i) => {
  const size = i.size[0]!;
  const lin = rmwAddr(c, i);
  if (i.lock) return lockedXadd(c, i, lin);
  const d0 = rdAt(c, i, lin);
  const d1 = size === 8 ? c.t1 : 0;
  const s0 = c.getReg(i.reg[1]!, size);
  const s1 = size === 8 ? c.t1 : 0;
  const r = alu(c, Alu.ADD, size, d0, d1, s0, s1);
  const rh = c.t1;
  c.setReg(i.reg[1]!, size, d0, d1);
  wrAt(c, i, lin, r, rh);
});

def('CMOVcc', (c, i) => {
  const v = rd(c, i, 1);
  const hi = c.t1;
  // A 32-bit CMOV zero-extends even when the condition is false.
  if (c.cond(i.cond)) c.setReg(i.reg[0]!, i.size[0]!, v, hi);
  else if (i.size[0] === 4) c.setReg(i.reg[0]!, 4, c.getReg(i.reg[0]!, 4));
});

def('SETcc', (c, i) => wr(c, i, 0, c.cond(i.cond) ? 1 : 0));

def('CBW', (c, i) => {
  if (i.osz === 2) c.setReg(0, 2, sx(c.getReg(0, 1), 1) & 0xffff);
  else if (i.osz === 4) c.setReg(0, 4, sx(c.getReg(0, 2), 2));
  else {
    const v = c.getReg(0, 4) | 0;
    c.setReg(0, 8, v, v < 0 ? -1 : 0);
  }
});

def('CWD', (c, i) => {
  if (i.osz === 2) c.setReg(2, 2, c.getReg(0, 2) & 0x8000 ? 0xffff : 0);
  else if (i.osz === 4) c.setReg(2, 4, (c.getReg(0, 4) | 0) < 0 ? -1 : 0);
  else {
    c.getReg(0, 8);
    const neg = c.t1 < 0;
    c.setReg(2, 8, neg ? -1 : 0, neg ? -1 : 0);
  }
});

def('XLAT', (c, i) => {
  const base = c.regNum(3, i.asz);
  const a = base + c.getReg(0, 1);
  const off = i.asz === 2 ? a & 0xffff : i.asz === 4 ? a >>> 0 : a;
  c.setReg(0, 1, c.read(i.seg, off, 1));
});

function loadFar(seg: number): Handler {
  return (c, i) => {
    const a = ea(c, i);
    const size = i.size[0]!;
    const off = c.read(i.seg, a, size);
    const offHi = c.t1;
    const sel = c.read(i.seg, trunc(a + size, i.asz === 2 ? 2 : 4), 2);
    loadSeg(c, seg, sel);
    c.setReg(i.reg[0]!, size, off, offHi);
    if (seg === SS) c.svc.shadow(c, KVM_X86_SHADOW_INT.MOV_SS);
  };
}
def('LES', loadFar(ES));
def('LDS', loadFar(DS));
def('LSS', loadFar(SS));
def('LFS', loadFar(FS));
def('LGS', loadFar(GS));


// ---- LOCK forms and XCHG with memory: one host atomic operation each (atomic.ts).

function lockedXchg(c: X86Cpu, i: Insn, lin: number): void {
  const size = i.size[0]!;
  const b0 = c.getReg(i.reg[1]!, size);
  const b1 = size === 8 ? c.t1 : 0;
  const a0 = lockedRmw(c, lin, size, AOp.XCHG, b0, b1);
  c.setReg(i.reg[1]!, size, a0, size === 8 ? c.t1 : 0);
}

function lockedCmpxchg(c: X86Cpu, i: Insn, lin: number): void {
  const size = i.size[0]!;
  const a0 = c.getReg(0, size);
  const a1 = size === 8 ? c.t1 : 0;
  const s0 = c.getReg(i.reg[1]!, size);
  const s1 = size === 8 ? c.t1 : 0;
  const d0 = lockedCas(c, lin, size, a0, a1, s0, s1);
  const d1 = size === 8 ? c.t1 : 0;
  alu(c, Alu.CMP, size, a0, a1, d0, d1);
  if (!c.f.zf()) c.setReg(0, size, d0, d1);
}

function lockedCmpxchg8b(c: X86Cpu, lin: number): void {
  const eax = c.getReg(0, 4) | 0;
  const edx = c.getReg(2, 4) | 0;
  const ebx = c.getReg(3, 4) | 0;
  const ecx = c.getReg(1, 4) | 0;
  const lo = lockedCas(c, lin, 8, eax, edx, ebx, ecx);
  const hi = c.t1;
  const fl = c.getFlags();
  if (lo === eax && hi === edx) c.s.rflags = (fl | FLAG.ZF) >>> 0;
  else {
    c.setReg(0, 4, lo);
    c.setReg(2, 4, hi);
    c.s.rflags = (fl & ~FLAG.ZF) >>> 0;
  }
}

function lockedXadd(c: X86Cpu, i: Insn, lin: number): void {
  const size = i.size[0]!;
  const s0 = c.getReg(i.reg[1]!, size);
  const s1 = size === 8 ? c.t1 : 0;
  const d0 = lockedRmw(c, lin, size, AOp.ADD, s0, s1);
  const d1 = size === 8 ? c.t1 : 0;
  alu(c, Alu.ADD, size, d0, d1, s0, s1);
  c.setReg(i.reg[1]!, size, d0, d1);
}
