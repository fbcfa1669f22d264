/**
 * x86 vCPU architectural state, in the representation the interpreter works on:
 * 64-bit registers as lo/hi int32 pairs (no BigInt in the hot path), linear addresses as JS
 * numbers (canonical, sign-extended from bit 47, exact within 2^53). BigInt only at the ABI edge.
 * @module
 */
import { array, s32, struct, u8 } from '../../uapi/layout.js';

/** GPR indices in x86 encoding order. */
export const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7;
export const R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15;

/** Segment register indices in x86 encoding order (then TR and LDTR). */
export const ES = 0, CS = 1, SS = 2, DS = 3, FS = 4, GS = 5, TR = 6, LDTR = 7;

/** RFLAGS bits. */
export const FLAG = {
  CF: 1 << 0, FIXED1: 1 << 1, PF: 1 << 2, AF: 1 << 4, ZF: 1 << 6, SF: 1 << 7, TF: 1 << 8, IF: 1 << 9, DF: 1 << 10, OF: 1 << 11,
  IOPL: 3 << 12, NT: 1 << 14, RF: 1 << 16, VM: 1 << 17, AC: 1 << 18, VIF: 1 << 19, VIP: 1 << 20, ID: 1 << 21,
} as const;

export const CR0 = { PE: 1, MP: 2, EM: 4, TS: 8, ET: 0x10, NE: 0x20, WP: 0x10000, AM: 0x40000, NW: 0x20000000, CD: 0x40000000, PG: 0x80000000 } as const;
export const CR4 = {
  VME: 1, PVI: 2, TSD: 4, DE: 8, PSE: 0x10, PAE: 0x20, MCE: 0x40, PGE: 0x80, PCE: 0x100, OSFXSR: 0x200, OSXMMEXCPT: 0x400, UMIP: 0x800,
  LA57: 0x1000, VMXE: 0x2000, SMXE: 0x4000, FSGSBASE: 0x10000, PCIDE: 0x20000, OSXSAVE: 0x40000, SMEP: 0x100000, SMAP: 0x200000, PKE: 0x400000,
} as const;
export const EFER = { SCE: 1, LME: 0x100, LMA: 0x400, NXE: 0x800 } as const;

/** A segment register with its hidden part (as struct kvm_segment describes it). */
export interface Segment {
  selector: number;
  /** Linear base (number; exact for every canonical address). */
  base: number;
  /** The base exactly as set (for GET_SREGS round trips of non-canonical values). */
  baseRaw: bigint;
  /** Byte-granular limit (kvm_segment.limit). */
  limit: number;
  type: number;
  present: number;
  dpl: number;
  db: number;
  s: number;
  l: number;
  g: number;
  avl: number;
  unusable: number;
}

export function segment(selector: number, base: number, limit: number, type: number, s = 1): Segment {
  return { selector, base, baseRaw: BigInt(base), limit, type, present: 1, dpl: 0, db: 0, s, l: 0, g: 0, avl: 0, unusable: 0 };
}

/** Descriptor table register (GDTR/IDTR). */
export interface DTable {
  base: number;
  baseRaw: bigint;
  limit: number;
}

/** Converts a u64 to a JS number keeping canonical (sign-extended) addresses exact. */
export function u64ToLinear(v: bigint): number {
  return Number(BigInt.asIntN(64, v));
}

/** Converts a linear address number back to u64. */
export function linearToU64(n: number): bigint {
  return BigInt.asUintN(64, BigInt(n));
}

/**
 * The typed-array state of a vCPU, declared once with the uapi layout engine: `X86State.r` and
 * `X86State.fx` are views at these offsets of one buffer (`X86State.hot`), so a backend that keeps
 * CPU state in linear memory (wasm) takes its offsets from this declaration. GPR i is `r[2i]`
 * (low 32 bits) and `r[2i + 1]` (high), as int32. RIP, RFLAGS and the lazy flags record
 * (flags.ts) are JS properties (V8 keeps them unboxed); they join the layout when a backend
 * needs them in memory.
 */
export const X86_HOT = struct('vkvm_x86_hot', {
  r: array(s32, 32),
  fx: array(u8, 512),
});

export class X86State {
  /** The hot arrays (X86_HOT) as one block of bytes. */
  readonly hot = new Uint8Array(X86_HOT.size);
  /** GPRs: r[2i] low 32 bits, r[2i+1] high 32 bits (both as int32). */
  readonly r = new Int32Array(this.hot.buffer, X86_HOT.offsetOf('r'), X86_HOT.fields.r.count);
  /** RIP as a linear-style number (exact below 2^53; canonical addresses always fit). */
  rip = 0xfff0;
  rflags = FLAG.FIXED1;
  readonly seg: Segment[];
  gdt: DTable = { base: 0, baseRaw: 0n, limit: 0xffff };
  idt: DTable = { base: 0, baseRaw: 0n, limit: 0xffff };
  cr0 = 0x60000010;
  cr2 = 0n;
  cr3 = 0n;
  cr4 = 0;
  cr8 = 0;
  efer = 0;
  apicBase = 0xfee00900n;
  /** DR0-DR3 as set by the guest or SET_DEBUGREGS. */
  readonly db: bigint[] = [0n, 0n, 0n, 0n];
  dr6 = 0xffff0ff0n;
  dr7 = 0x400n;
  xcr0 = 1n;
  /** Model-specific registers by index (what RDMSR/WRMSR and KVM_GET/SET_MSRS see). */
  readonly msrs = new Map<number, bigint>();
  /** x87/SSE state in FXSAVE layout (512 bytes). */
  readonly fx = new Uint8Array(this.hot.buffer, X86_HOT.offsetOf('fx'), X86_HOT.fields.fx.count);
  /** Interrupt shadow for the next instruction, as KVM_X86_SHADOW_INT_*: STI 2, MOV SS / POP SS 1 (KVM_GET/SET_VCPU_EVENTS pass it as is). */
  shadow = 0;

  constructor() {
    this.seg = [
      segment(0, 0, 0xffff, 3), // ES
      segment(0xf000, 0xffff0000, 0xffff, 11), // CS
      segment(0, 0, 0xffff, 3), // SS
      segment(0, 0, 0xffff, 3), // DS
      segment(0, 0, 0xffff, 3), // FS
      segment(0, 0, 0xffff, 3), // GS
      segment(0, 0, 0xffff, 11, 0), // TR
      segment(0, 0, 0xffff, 2, 0), // LDTR
    ];
    this.seg[CS]!.baseRaw = 0xffff0000n;
    // RDX holds the processor signature at reset; before KVM_SET_CPUID2 KVM uses 0x600.
    this.r[2 * RDX] = 0x600;
    // FCW = 0x37f and MXCSR = 0x1f80 at reset.
    const dv = new DataView(this.fx.buffer, this.fx.byteOffset, 512);
    dv.setUint16(0, 0x37f, true);
    dv.setUint32(24, 0x1f80, true);
  }

  getReg(i: number): bigint {
    return (BigInt(this.r[2 * i + 1]! >>> 0) << 32n) | BigInt(this.r[2 * i]! >>> 0);
  }

  setReg(i: number, v: bigint): void {
    this.r[2 * i] = Number(v & 0xffffffffn) | 0;
    this.r[2 * i + 1] = Number((v >> 32n) & 0xffffffffn) | 0;
  }
}
