/**
 * KVM_GET/SET_REGS and KVM_GET/SET_SREGS: conversion between struct kvm_regs / kvm_sregs bytes
 * and the interpreter's state.
 * @module
 */
import { x86_64 } from '../../uapi/index.js';
import { linearToU64, u64ToLinear, type DTable, type Segment, type X86State } from './state.js';

const S = x86_64.structs;
type SegIn = ReturnType<typeof S.kvm_segment.decode>;

/** kvm_regs field order vs. x86 GPR encoding order. */
const REG_NAMES = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'] as const;
const SEG_NAMES = ['es', 'cs', 'ss', 'ds', 'fs', 'gs', 'tr', 'ldt'] as const;

export function getRegs(s: X86State): Uint8Array {
  const o: Record<string, bigint> = { rip: linearToU64(s.rip), rflags: BigInt(s.rflags >>> 0) };
  REG_NAMES.forEach((n, i) => (o[n] = s.getReg(i)));
  return S.kvm_regs.encode(o);
}

export function setRegs(s: X86State, bytes: Uint8Array): void {
  const r = S.kvm_regs.decode(bytes);
  REG_NAMES.forEach((n, i) => s.setReg(i, r[n]));
  s.rip = u64ToLinear(r.rip);
  // Bit 1 of RFLAGS always reads as 1.
  s.rflags = (Number(r.rflags & 0xffffffffn) | 2) >>> 0;
}

function segOut(g: Segment): SegIn {
  return { base: g.baseRaw, limit: g.limit >>> 0, selector: g.selector, type: g.type, present: g.present, dpl: g.dpl, db: g.db, s: g.s, l: g.l, g: g.g, avl: g.avl, unusable: g.unusable, padding: 0 };
}

function segIn(g: SegIn): Segment {
  return { selector: g.selector, base: u64ToLinear(g.base), baseRaw: g.base, limit: g.limit >>> 0, type: g.type & 15, present: g.present & 1, dpl: g.dpl & 3, db: g.db & 1, s: g.s & 1, l: g.l & 1, g: g.g & 1, avl: g.avl & 1, unusable: g.unusable & 1 };
}

const dtOut = (d: DTable) => ({ base: d.baseRaw, limit: d.limit });
const dtIn = (d: { base: bigint; limit: number }): DTable => ({ base: u64ToLinear(d.base), baseRaw: d.base, limit: d.limit });

export function getSregs(s: X86State): Uint8Array {
  const o: Record<string, unknown> = {
    gdt: dtOut(s.gdt),
    idt: dtOut(s.idt),
    cr0: BigInt(s.cr0 >>> 0),
    cr2: s.cr2,
    cr3: s.cr3,
    cr4: BigInt(s.cr4 >>> 0),
    cr8: BigInt(s.cr8),
    efer: BigInt(s.efer >>> 0),
    apic_base: s.apicBase,
    interrupt_bitmap: [0n, 0n, 0n, 0n],
  };
  SEG_NAMES.forEach((n, i) => (o[n] = segOut(s.seg[i]!)));
  return S.kvm_sregs.encode(o);
}

export function setSregs(s: X86State, bytes: Uint8Array): void {
  const r = S.kvm_sregs.decode(bytes);
  SEG_NAMES.forEach((n, i) => (s.seg[i] = segIn(r[n])));
  s.gdt = dtIn(r.gdt);
  s.idt = dtIn(r.idt);
  s.cr0 = Number(r.cr0 & 0xffffffffn) >>> 0;
  s.cr2 = r.cr2;
  s.cr3 = r.cr3;
  s.cr4 = Number(r.cr4 & 0xffffffffn) >>> 0;
  s.cr8 = Number(r.cr8 & 0xfn);
  s.efer = Number(r.efer & 0xffffffffn) >>> 0;
  s.apicBase = r.apic_base;
}
