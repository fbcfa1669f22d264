/**
 * KVM_GET/SET_REGS and KVM_GET/SET_SREGS: conversion between struct kvm_regs / kvm_sregs bytes
 * and the interpreter's state.
 * @module
 */
import { x86_64 } from '../../uapi/index.js';
import type { CpuidEntry } from './cpuid.js';
import { CR0, CR4, EFER, linearToU64, u64ToLinear, type DTable, type Segment, type X86State } from './state.js';

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

// ---- KVM_SET_SREGS(2) validity (arch/x86/kvm/x86.c) ------------------------------------------

/** CPUID feature bits the checks below consult (leaf, subleaf, register, bit). */
const FEAT = {
  VMX: [1, 0, 'ecx', 5], PCID: [1, 0, 'ecx', 17], X2APIC: [1, 0, 'ecx', 21], XSAVE: [1, 0, 'ecx', 26],
  FSGSBASE: [7, 0, 'ebx', 0], SMEP: [7, 0, 'ebx', 7], SMAP: [7, 0, 'ebx', 20], UMIP: [7, 0, 'ecx', 2], PKU: [7, 0, 'ecx', 3], LA57: [7, 0, 'ecx', 16],
  LAM: [7, 1, 'eax', 26], NX: [0x80000001, 0, 'edx', 20], LM: [0x80000001, 0, 'edx', 29],
} as const satisfies Record<string, readonly [number, number, 'eax' | 'ebx' | 'ecx' | 'edx', number]>;

type Feature = keyof typeof FEAT;
/** What a CPUID table answers for a feature (the table KVM_GET_SUPPORTED_CPUID or KVM_SET_CPUID2 gave). */
export type HasFeature = (f: Feature) => boolean;

export function cpuidHas(entries: readonly CpuidEntry[]): HasFeature {
  return (f) => {
    const [leaf, sub, reg, bit] = FEAT[f];
    const e = entries.find((x) => x.function === leaf && (x.index === sub || !(x.flags & 1)));
    return e !== undefined && ((e[reg] >>> bit) & 1) === 1;
  };
}

/** CR4_RESERVED_BITS: the complement of every CR4 bit KVM knows (CR4.LAM_SUP is bit 28). */
const CR4_KNOWN = CR4.VME | CR4.PVI | CR4.TSD | CR4.DE | CR4.PSE | CR4.PAE | CR4.MCE | CR4.PGE | CR4.PCE | CR4.OSFXSR | CR4.PCIDE | CR4.OSXSAVE |
  CR4.SMEP | CR4.FSGSBASE | CR4.OSXMMEXCPT | CR4.LA57 | CR4.VMXE | CR4.SMAP | CR4.PKE | CR4.UMIP | 0x10000000;

/** __cr4_reserved_bits: CR4_RESERVED_BITS plus the bits of features `has` lacks. */
function cr4Reserved(has: HasFeature): bigint {
  let known = CR4_KNOWN;
  const drop = (f: Feature, bit: number) => {
    if (!has(f)) known &= ~bit;
  };
  drop('XSAVE', CR4.OSXSAVE);
  drop('SMEP', CR4.SMEP);
  drop('SMAP', CR4.SMAP);
  drop('FSGSBASE', CR4.FSGSBASE);
  drop('PKU', CR4.PKE);
  drop('LA57', CR4.LA57);
  drop('UMIP', CR4.UMIP);
  drop('VMX', CR4.VMXE);
  drop('PCID', CR4.PCIDE);
  drop('LAM', 0x10000000);
  return ~BigInt(known >>> 0) & 0xffffffffffffffffn;
}

/** cpuid_query_maxphyaddr: CPUID 0x80000008 EAX[7:0] when the table reaches that leaf, else 36. */
export function cpuidMaxPhyAddr(entries: readonly CpuidEntry[]): number {
  const ext = entries.find((e) => e.function === 0x80000000);
  if (!ext || ext.eax >>> 0 < 0x80000008) return 36;
  const e = entries.find((x) => x.function === 0x80000008);
  return e ? e.eax & 0xff : 36;
}

/**
 * The guest model the checks run against: the host's supported CPUID (cr4_reserved_bits,
 * efer_reserved_bits) and, once KVM_SET_CPUID2 installed one, the guest's (cr4_guest_rsvd_bits,
 * __kvm_valid_efer, MAXPHYADDR). Before KVM_SET_CPUID2 the guest is not restricted further.
 */
export interface SregsModel {
  readonly host: HasFeature;
  readonly guest: HasFeature | null;
  /** Guest MAXPHYADDR (36 before KVM_SET_CPUID2, as vcpu->arch.maxphyaddr starts). */
  readonly maxPhyAddr: number;
}

const NW = BigInt(CR0.NW), CD = BigInt(CR0.CD), PG = BigInt(CR0.PG), PE = BigInt(CR0.PE);
const PAE = BigInt(CR4.PAE);
const LME = BigInt(EFER.LME), LMA = BigInt(EFER.LMA), NXE = BigInt(EFER.NXE), SCE = BigInt(EFER.SCE);

/**
 * Why KVM_SET_SREGS/KVM_SET_SREGS2 would refuse `r` with EINVAL (kvm_is_valid_sregs,
 * kvm_is_valid_cr0, kvm_is_valid_cr4 / __kvm_is_valid_cr4, kvm_valid_efer, and kvm_apic_set_base
 * for apic_base), or null when it is accepted. Nothing is changed before these pass.
 */
export function sregsInvalid(r: Pick<SegInSregs, 'cr0' | 'cr3' | 'cr4' | 'efer' | 'apic_base'> & { cs: { l: number } }, model: SregsModel): string | null {
  const resv = (bits: number) => (bits >= 64 ? 0n : ~((1n << BigInt(bits)) - 1n) & 0xffffffffffffffffn);
  const gpaResv = resv(model.maxPhyAddr);
  if (r.efer & LME && r.cr0 & PG) {
    // EFER.LME with CR0.PG is IA-32e mode: CR4.PAE and EFER.LMA must be set, CR3 a legal GPA.
    if (!(r.cr4 & PAE)) return 'EFER.LME and CR0.PG without CR4.PAE';
    if (!(r.efer & LMA)) return 'EFER.LME and CR0.PG without EFER.LMA';
    const cr3 = model.guest?.('LAM') ? r.cr3 & ~((1n << 61n) | (1n << 62n)) : r.cr3;
    if (cr3 & gpaResv) return `CR3 0x${r.cr3.toString(16)} has bits above MAXPHYADDR (${model.maxPhyAddr})`;
  } else {
    if (r.efer & LMA) return 'EFER.LMA outside IA-32e mode (needs EFER.LME and CR0.PG)';
    if (r.cs.l) return 'a 64-bit code segment (CS.L) outside IA-32e mode';
  }
  // kvm_is_valid_cr4
  const cr4Bad = r.cr4 & (cr4Reserved(model.host) | (model.guest ? cr4Reserved(model.guest) : 0n));
  if (cr4Bad) return `reserved CR4 bits 0x${cr4Bad.toString(16)}`;
  // kvm_is_valid_cr0: the upper half is reserved on x86-64, NW needs CD, PG needs PE.
  if (r.cr0 >> 32n) return `CR0 bits above bit 31 (0x${r.cr0.toString(16)})`;
  if (r.cr0 & NW && !(r.cr0 & CD)) return 'CR0.NW without CR0.CD';
  if (r.cr0 & PG && !(r.cr0 & PE)) return 'CR0.PG without CR0.PE';
  // kvm_valid_efer: efer_reserved_bits of this host, then what the guest's CPUID allows.
  let eferOk = SCE;
  if (model.host('LM')) eferOk |= LME | LMA;
  if (model.host('NX')) eferOk |= NXE;
  if (r.efer & ~eferOk) return `reserved EFER bits 0x${(r.efer & ~eferOk).toString(16)}`;
  if (model.guest && r.efer & (LME | LMA) && !model.guest('LM')) return 'EFER.LME/LMA without CPUID long mode';
  if (model.guest && r.efer & NXE && !model.guest('NX')) return 'EFER.NXE without CPUID NX';
  // kvm_apic_set_base (host-initiated): reserved bits, and x2APIC needs CPUID x2APIC.
  const x2apic = model.guest?.('X2APIC') ?? false;
  const apicResv = gpaResv | 0x2ffn | (x2apic ? 0n : 0x400n);
  if (r.apic_base & apicResv) return `reserved APIC base bits 0x${(r.apic_base & apicResv).toString(16)}`;
  if ((r.apic_base & 0xc00n) === 0x400n) return 'APIC base with x2APIC enabled but the APIC disabled';
  return null;
}

type SegInSregs = ReturnType<typeof S.kvm_sregs.decode>;
