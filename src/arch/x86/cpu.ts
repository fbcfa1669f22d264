/**
 * The x86 CPU core: registers, lazy RFLAGS, the execution-mode cache and the stack, over the
 * memory side in mmu.ts (`X86Mmu`). Segment loads and exception/interrupt delivery are in
 * deliver.ts, instruction semantics in exec/, the KVM_RUN loop in run.ts.
 *
 * Guest faults are thrown as the `FAULT` sentinel (the vector and error code live on the CPU);
 * a userspace exit in the middle of an instruction is thrown as `EXIT`. Neither allocates.
 * @module
 */
import type { Vcpu } from '../../kernel/vcpu.js';
import type { Vm } from '../../kernel/vm.js';
import type { X86Services } from './services.js';
import { Flags, FOp, ARITH_FLAGS } from './flags.js';
import { deliver } from './deliver.js';
import { Sse } from './fpu/sse.js';
import { X87 } from './fpu/x87.js';
import { X86Mmu } from './mmu.js';
import { CR0, CS, EFER, FLAG, SS, type X86State } from './state.js';

export { EMULATION_FAILURE, ERRNO_EXIT, EXIT, FAULT, VEC } from './faults.js';
export { Acc, isCanonical, REF, type MmioRead } from './mmu.js';

export class X86Cpu extends X86Mmu {
  readonly f = new Flags();
  // --- mode cache (recomputed by updateMode; long64, pe, paging and cpl live in X86Mmu) ---
  def32 = false;
  csBase = 0;
  /** Mask for RIP arithmetic: 0xffff, 0xffffffff or 0 (64-bit: no mask). */
  ipMask = 0xffff;
  /** RIP of the next instruction, set by the run loop before each handler; branches overwrite it. */
  next = 0;
  /** A software interrupt (INT n/INT3/INTO) raised by the instruction, delivered after it; -1 none. */
  softVector = -1;
  /** ICEBP (INT1) executed: deliver #DB as a trap after the instruction. */
  icebp = false;
  /** Exact low/high words of the last 64-bit effective address (LEA of arbitrary 64-bit values). */
  eaLo = 0;
  eaHi = 0;
  /** REP string ops run one iteration per instruction step (single step, breakpoints watched). */
  repOne = false;
  /** Bytes the last instruction fetched (for emulation-failure reports). */
  lastInsn: { readonly bytes: Uint8Array; readonly len: number } | null = null;
  /** The bytes of the last instruction fetched (allocates: for failure reports only). */
  lastInsnBytes(): Uint8Array | undefined {
    const i = this.lastInsn;
    return i ? i.bytes.subarray(0, i.len) : undefined;
  }
  /** Instructions a translated block retired before the one that threw (jit.ts). */
  jitN = 0;
  /** A translated block ended in an exception or interrupt delivery (ends a chain of blocks). */
  faulted = false;
  /** The x87/SSE state (X86State.fx, FXSAVE layout) in typed views, for the x87/MMX/SSE handlers. */
  readonly fxw: Int32Array;
  readonly fxb: Uint8Array;
  readonly fxsb: Int8Array;
  readonly fxh: Uint16Array;
  readonly fxsh: Int16Array;
  /** The x87 unit and the SSE numerics over the same image (fpu/). */
  readonly x87: X87;
  readonly sse: Sse;
  /** Views of `sse.src`, the second-source scratch of the SIMD handlers. */
  readonly srcw: Int32Array;
  readonly srcb: Uint8Array;
  readonly srcsb: Int8Array;
  readonly srch: Uint16Array;
  readonly srcsh: Int16Array;

  constructor(
    s: X86State,
    vcpu: Vcpu,
    vm: Vm,
    /** What the instruction handlers ask of KVM (CPUID, MSRs, I/O, hypercalls...). */
    readonly svc: X86Services,
  ) {
    super(s, vcpu, vm);
    const fx = s.fx;
    this.fxw = new Int32Array(fx.buffer, fx.byteOffset, 128);
    this.fxb = fx;
    this.fxsb = new Int8Array(fx.buffer, fx.byteOffset, 512);
    this.fxh = new Uint16Array(fx.buffer, fx.byteOffset, 256);
    this.fxsh = new Int16Array(fx.buffer, fx.byteOffset, 256);
    this.x87 = new X87(fx);
    this.sse = new Sse(fx);
    const src = this.sse.src;
    this.srcw = src;
    this.srcb = new Uint8Array(src.buffer);
    this.srcsb = new Int8Array(src.buffer);
    this.srch = new Uint16Array(src.buffer);
    this.srcsh = new Int16Array(src.buffer);
    this.updateMode();
  }

  /**
   * Delivers vector `vec` (exception, external interrupt or INT n) through the IVT or IDT with the
   * double/triple fault rules (deliver.ts); false on a triple fault. A method, so introspection can
   * wrap it per vCPU (accesses made while delivering raise no events).
   */
  deliver(vec: number, hasCode: boolean, code: number, soft: boolean, pushIp: number): boolean {
    return deliver(this, vec, hasCode, code, soft, pushIp);
  }

  // ---------------------------------------------------------------------------------------
  // Registers

  /** Reads general register `r` of `size` bytes (1/2/4 -> unsigned number; 8 -> low half, high in t1). r 16-19 = AH..BH. */
  getReg(r: number, size: number): number {
    const R = this.s.r;
    switch (size) {
      case 1:
        return r >= 16 ? (R[2 * (r - 16)]! >>> 8) & 0xff : R[2 * r]! & 0xff;
      case 2:
        return R[2 * r]! & 0xffff;
      case 4:
        return R[2 * r]! >>> 0;
      default:
        this.t1 = R[2 * r + 1]!;
        return R[2 * r]!;
    }
  }

  /** Writes a general register with x86 rules: 32-bit writes zero the top, 8/16-bit merge. */
  setReg(r: number, size: number, lo: number, hi = 0): void {
    const R = this.s.r;
    switch (size) {
      case 1:
        if (r >= 16) R[2 * (r - 16)] = (R[2 * (r - 16)]! & ~0xff00) | ((lo & 0xff) << 8);
        else R[2 * r] = (R[2 * r]! & ~0xff) | (lo & 0xff);
        return;
      case 2:
        R[2 * r] = (R[2 * r]! & ~0xffff) | (lo & 0xffff);
        return;
      case 4:
        R[2 * r] = lo | 0;
        R[2 * r + 1] = 0;
        return;
      default:
        R[2 * r] = lo | 0;
        R[2 * r + 1] = hi | 0;
    }
  }

  /** A register as a JS number (exact below 2^53; used for addresses and counts). */
  regNum(r: number, size: number): number {
    if (size < 8) return this.getReg(r, size);
    const R = this.s.r;
    return R[2 * r + 1]! * 0x100000000 + (R[2 * r]! >>> 0);
  }

  /** Sets a register from a JS number (addresses, counts). */
  setRegNum(r: number, size: number, v: number): void {
    if (size < 8) return this.setReg(r, size, v | 0);
    const lo = v % 0x100000000;
    const hi = Math.floor(v / 0x100000000);
    this.setReg(r, 8, lo | 0, hi | 0);
  }

  // ---------------------------------------------------------------------------------------
  // RFLAGS

  /** RFLAGS with the lazy arithmetic flags folded in. */
  getFlags(): number {
    const f = this.f;
    if (f.op === FOp.NONE) return this.s.rflags;
    this.s.rflags = ((this.s.rflags & ~ARITH_FLAGS) | f.bits() | FLAG.FIXED1) >>> 0;
    f.op = FOp.NONE;
    return this.s.rflags;
  }

  /** Replaces RFLAGS bits in `mask` with `value`. */
  setFlags(value: number, mask: number): void {
    const cur = this.getFlags();
    this.s.rflags = (((cur & ~mask) | (value & mask)) | FLAG.FIXED1) >>> 0;
  }

  cf(): number {
    return this.f.op === FOp.NONE ? this.s.rflags & FLAG.CF : this.f.cf();
  }

  /** Evaluates condition code cc (Jcc/SETcc/CMOVcc encoding). */
  cond(cc: number): boolean {
    const f = this.f;
    let r: boolean;
    if (f.op === FOp.NONE) {
      const x = this.s.rflags;
      switch (cc >> 1) {
        case 0: r = (x & FLAG.OF) !== 0; break;
        case 1: r = (x & FLAG.CF) !== 0; break;
        case 2: r = (x & FLAG.ZF) !== 0; break;
        case 3: r = (x & (FLAG.CF | FLAG.ZF)) !== 0; break;
        case 4: r = (x & FLAG.SF) !== 0; break;
        case 5: r = (x & FLAG.PF) !== 0; break;
        case 6: r = ((x & FLAG.SF) !== 0) !== ((x & FLAG.OF) !== 0); break;
        default: r = (x & FLAG.ZF) !== 0 || ((x & FLAG.SF) !== 0) !== ((x & FLAG.OF) !== 0);
      }
    } else {
      switch (cc >> 1) {
        case 0: r = f.of() === 1; break;
        case 1: r = f.cf() === 1; break;
        case 2: r = f.zf() === 1; break;
        case 3: r = f.cf() === 1 || f.zf() === 1; break;
        case 4: r = f.sf() === 1; break;
        case 5: r = f.pf() === 1; break;
        case 6: r = f.sf() !== f.of(); break;
        default: r = f.zf() === 1 || f.sf() !== f.of();
      }
    }
    return cc & 1 ? !r : r;
  }

  // ---------------------------------------------------------------------------------------
  // Modes

  /** Recomputes the cached mode after CR0/EFER/CS/CR4 changes. */
  updateMode(): void {
    const s = this.s;
    this.pe = (s.cr0 & CR0.PE) !== 0;
    this.paging = this.pe && (s.cr0 & CR0.PG) !== 0;
    const lma = (s.efer & EFER.LMA) !== 0;
    const cs = s.seg[CS]!;
    this.long64 = lma && cs.l === 1;
    this.def32 = this.pe && !(s.rflags & FLAG.VM) && cs.db === 1;
    this.cpl = !this.pe ? 0 : s.rflags & FLAG.VM ? 3 : s.seg[SS]!.dpl;
    this.csBase = this.long64 ? 0 : cs.base;
    this.ipMask = this.long64 ? 0 : this.def32 ? 0xffffffff : 0xffff;
  }

  /** Masks an instruction pointer to the current code size. */
  maskIp(ip: number): number {
    const m = this.ipMask;
    return m === 0 ? ip : m === 0xffff ? ip & 0xffff : ip >>> 0;
  }

  // ---------------------------------------------------------------------------------------
  // Stack

  /** Stack pointer width: 8 in 64-bit mode, 4 with SS.B, else 2. */
  stackSize(): number {
    return this.long64 ? 8 : this.s.seg[SS]!.db ? 4 : 2;
  }

  push(size: number, lo: number, hi = 0): void {
    const ss = this.stackSize();
    const sp = this.regNum(4, ss);
    const nsp = wrapSp(sp - size, ss);
    this.write(SS, nsp, size, lo, hi);
    this.setRegNum(4, ss, nsp);
  }

  pop(size: number): number {
    const ss = this.stackSize();
    const sp = this.regNum(4, ss);
    const v = this.read(SS, sp, size);
    const hi = this.t1;
    this.setRegNum(4, ss, wrapSp(sp + size, ss));
    this.t1 = hi;
    return v;
  }
}

function wrapSp(v: number, size: number): number {
  if (size === 2) return v & 0xffff;
  if (size === 4) return v >>> 0;
  return v;
}
