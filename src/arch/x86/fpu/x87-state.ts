/**
 * The x87 register state over the vCPU's FXSAVE image: the control/status/tag words, the
 * register stack (TOP rotation), exception bookkeeping (sticky flags, ES/B, stack faults), the
 * control instructions, MMX aliasing, and the environment images of FSTENV/FLDENV, FSAVE/FRSTOR
 * and FXSAVE/FXRSTOR. {@link X87} (x87.ts) extends it with the instructions that compute.
 * @module
 */
import { C1, EXC, IE, INDEF_HI, INDEF_SE, NOSTORE, R, SF } from './f80.js';

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('x87: a little-endian host is required');

/** FSW bits. */
export const FSW = { IE: 1, DE: 2, ZE: 4, OE: 8, UE: 0x10, PE: 0x20, SF: 0x40, ES: 0x80, C0: 0x100, C1: 0x200, C2: 0x400, TOP: 0x3800, C3: 0x4000, B: 0x8000 } as const;
export const CC = 0x4700; // C3 C2 C1 C0


/** Environment image format for FSTENV/FLDENV/FSAVE/FRSTOR: operand size and CPU mode. */
export const EnvFormat = {
  PROT32: 0,
  REAL32: 1,
  PROT16: 2,
  REAL16: 3,
} as const;
export type EnvFormat = (typeof EnvFormat)[keyof typeof EnvFormat];

function put16(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
}
function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v;
  b[o + 1] = v >>> 8;
  b[o + 2] = v >>> 16;
  b[o + 3] = v >>> 24;
}
function get16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}
function get32(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
}

/** Byte offset of MMX register n in the image (valid once {@link X87.mmxEnter} has set TOP = 0). */
export function mmOff(n: number): number {
  return 32 + 16 * n;
}

/** The x87 register state (see the module doc); the instructions are in {@link X87}. */
export class X87State {
  readonly fx: Uint8Array;
  protected readonly w: Int32Array;
  protected readonly h: Uint16Array;

  constructor(fx: Uint8Array) {
    if (fx.byteOffset & 3 || fx.length < 512) throw new Error('x87: the FXSAVE image must be 512 bytes, 4-byte aligned');
    this.fx = fx;
    this.w = new Int32Array(fx.buffer, fx.byteOffset, 128);
    this.h = new Uint16Array(fx.buffer, fx.byteOffset, 256);
  }


  // ---- words ------------------------------------------------------------------------------

  get fcw(): number {
    return this.h[0]!;
  }
  get fsw(): number {
    return this.h[1]!;
  }
  set fsw(v: number) {
    this.h[1] = v;
  }
  get top(): number {
    return (this.h[1]! >>> 11) & 7;
  }
  /** The abridged tag byte (bit i: physical register i is not empty). */
  get ftwx(): number {
    return this.fx[4]!;
  }

  /** FSW.ES: an unmasked exception is pending; a waiting x87 instruction must raise #MF first. */
  pendingMF(): boolean {
    return (this.h[1]! & FSW.ES) !== 0;
  }

  /** WAIT/FWAIT: true when #MF must be raised. */
  fwait(): boolean {
    return this.pendingMF();
  }

  /**
   * Records the last non-control instruction: FOP (11 bits: low 3 bits of the first opcode byte,
   * then ModR/M), FIP (its offset), FDP (the memory operand's offset, if any: pass null to keep it).
   */
  setLast(fop: number, ip: number, dp: number | null): void {
    this.h[3] = fop & 0x7ff;
    this.w[2] = ip | 0;
    this.w[3] = Math.floor(ip / 4294967296) | 0;
    if (dp !== null) {
      this.w[4] = dp | 0;
      this.w[5] = Math.floor(dp / 4294967296) | 0;
    }
  }

  // ---- registers ---------------------------------------------------------------------------

  /** Physical register number of ST(i). */
  phys(i: number): number {
    return (this.top + i) & 7;
  }
  /** True when ST(i) is empty. */
  isEmpty(i: number): boolean {
    return !((this.fx[4]! >>> this.phys(i)) & 1);
  }
  /** ST(i) as (se, hi, lo) into R[2], R[1], R[0]. */
  getST(i: number): void {
    const o = 8 + 4 * i;
    R[0] = this.w[o]!;
    R[1] = this.w[o + 1]!;
    R[2] = this.h[2 * o + 4]!;
  }
  protected se(i: number): number {
    return this.h[2 * (8 + 4 * i) + 4]!;
  }
  protected hi(i: number): number {
    return this.w[9 + 4 * i]!;
  }
  protected lo(i: number): number {
    return this.w[8 + 4 * i]!;
  }
  /** Writes ST(i) and marks it valid. */
  setST(i: number, se: number, hi: number, lo: number): void {
    const o = 8 + 4 * i;
    this.w[o] = lo;
    this.w[o + 1] = hi;
    this.h[2 * o + 4] = se;
    this.fx[4] = this.fx[4]! | (1 << this.phys(i));
  }
  protected setSTR(i: number): void {
    this.setST(i, R[2]!, R[1]!, R[0]!);
  }

  /** Rotates the slots for TOP -= 1 (the new ST(0) is the old ST(7)). */
  protected rotPush(): void {
    const w = this.w;
    const a = w[36]!, b = w[37]!, c = w[38]!;
    for (let o = 36; o > 8; o -= 4) {
      w[o] = w[o - 4]!;
      w[o + 1] = w[o - 3]!;
      w[o + 2] = w[o - 2]!;
    }
    w[8] = a;
    w[9] = b;
    w[10] = c;
    this.h[1] = (this.h[1]! & ~FSW.TOP) | (((this.top - 1) & 7) << 11);
  }
  /** Rotates the slots for TOP += 1 (the old ST(0) becomes ST(7)). */
  private rotPop(): void {
    const w = this.w;
    const a = w[8]!, b = w[9]!, c = w[10]!;
    for (let o = 8; o < 36; o += 4) {
      w[o] = w[o + 4]!;
      w[o + 1] = w[o + 5]!;
      w[o + 2] = w[o + 6]!;
    }
    w[36] = a;
    w[37] = b;
    w[38] = c;
    this.h[1] = (this.h[1]! & ~FSW.TOP) | (((this.top + 1) & 7) << 11);
  }
  private readonly rot = new Int32Array(24);
  /** Sets TOP, rotating the slots so that the physical registers keep their contents. */
  private setTop(t: number): void {
    const d = (t - this.top) & 7;
    if (d) {
      const w = this.w, r = this.rot;
      for (let i = 0; i < 8; i++) {
        const o = 8 + 4 * ((i + d) & 7);
        r[3 * i] = w[o]!;
        r[3 * i + 1] = w[o + 1]!;
        r[3 * i + 2] = w[o + 2]!;
      }
      for (let i = 0; i < 8; i++) {
        w[8 + 4 * i] = r[3 * i]!;
        w[9 + 4 * i] = r[3 * i + 1]!;
        w[10 + 4 * i] = r[3 * i + 2]!;
      }
    }
    this.h[1] = (this.h[1]! & ~FSW.TOP) | (t << 11);
  }

  /** Pops: ST(0) becomes empty, TOP += 1. */
  pop(): void {
    this.fx[4] = this.fx[4]! & ~(1 << this.top);
    this.rotPop();
  }

  // ---- exception bookkeeping ---------------------------------------------------------------

  /**
   * Merges an operation's exception bits into FSW: sticky flags, C1 from the rounding, ES and B
   * when one is unmasked. Returns true when the result may be written.
   */
  protected commit(f: number): boolean {
    let sw = this.h[1]!;
    sw = (sw & ~FSW.C1) | (f & (EXC | SF | C1));
    if (f & EXC & ~this.h[0]!) sw |= FSW.ES | FSW.B;
    this.h[1] = sw;
    return (f & NOSTORE) === 0;
  }

  /** Stack underflow (reading an empty register): IE|SF, C1 = 0; true if masked (write indefinite). */
  protected underflow(): boolean {
    return this.commit(this.stackFault());
  }
  /** Stack underflow; masked, ST(i) takes the indefinite. False when unmasked (nothing written). */
  protected underflowTo(i: number): boolean {
    if (!this.underflow()) return false;
    this.setIndef(i);
    return true;
  }
  /** The stack-fault exception bits: IE|SF, with NOSTORE when IE is unmasked. */
  protected stackFault(): number {
    return IE | SF | (this.h[0]! & IE ? 0 : NOSTORE);
  }
  /** ST(i) = the real indefinite. */
  protected setIndef(i: number): void {
    this.setST(i, INDEF_SE, INDEF_HI, 0);
  }
  /** Pushes the real indefinite (TOP -= 1). */
  protected pushIndef(): void {
    this.rotPush();
    this.setIndef(0);
  }
  /** Stack overflow (pushing onto a non-empty ST(7)): IE|SF|C1. */
  protected overflow(): boolean {
    return this.commit(IE | SF | C1 | (this.h[0]! & IE ? 0 : NOSTORE));
  }

  /** Pushes R (se/hi/lo); handles stack overflow. f = the exception bits of producing R. */
  protected pushR(f: number): void {
    if (!this.isEmpty(7)) {
      if (!this.overflow()) return;
      this.pushIndef();
      return;
    }
    if (!this.commit(f)) return;
    this.rotPush();
    this.setSTR(0);
  }

  // ---- control -----------------------------------------------------------------------------

  /** FNINIT/FINIT (and the FPU part of RESET/INIT's FXSAVE image: FCW 0x37f, FTW empty). */
  finit(): void {
    this.setTop(0);
    this.h[0] = 0x37f;
    this.h[1] = 0;
    this.fx[4] = 0;
    this.h[3] = 0;
    this.w[2] = 0;
    this.w[3] = 0;
    this.w[4] = 0;
    this.w[5] = 0;
  }
  /** FLDCW: unmasking a flag that is set makes the exception pending. */
  fldcw(v: number): void {
    this.h[0] = v & 0x1f3f | 0x40;
    this.updateES();
  }
  private updateES(): void {
    const sw = this.h[1]!;
    this.h[1] = sw & EXC & ~this.h[0]! ? sw | FSW.ES | FSW.B : sw & ~(FSW.ES | FSW.B);
  }
  /** FNCLEX. */
  fclex(): void {
    this.h[1] = this.h[1]! & ~(EXC | FSW.SF | FSW.ES | FSW.B);
  }
  /** FFREE ST(i). */
  ffree(i: number): void {
    this.fx[4] = this.fx[4]! & ~(1 << this.phys(i));
    // The SDM leaves the condition codes undefined; the hardware clears C1 (as measured).
    this.h[1] = this.h[1]! & ~FSW.C1;
  }
  /** FINCSTP / FDECSTP (C1 cleared; tags unchanged). */
  fincstp(): void {
    this.rotPop();
    this.h[1] = this.h[1]! & ~FSW.C1;
  }
  fdecstp(): void {
    this.rotPush();
    this.h[1] = this.h[1]! & ~FSW.C1;
  }


  // ---- MMX ---------------------------------------------------------------------------------

  /**
   * Every MMX instruction but EMMS (after the handler's #MF check, MMX registers alias the x87
   * significands): TOP = 0 and all tags valid, so MMX register n is at {@link mmOff}(n).
   */
  mmxEnter(): void {
    this.setTop(0);
    this.fx[4] = 0xff;
  }
  /** After an MMX instruction writes MMn: its exponent/sign field reads as all ones. */
  mmxWritten(n: number): void {
    this.h[2 * (8 + 4 * n) + 4] = 0xffff;
  }
  /** EMMS: TOP = 0 (like every MMX instruction) and all tags empty. */
  emms(): void {
    this.setTop(0);
    this.fx[4] = 0;
  }

  // ---- environment images ------------------------------------------------------------------

  /** The full 16-bit tag word from the abridged tags and the register contents. */
  fullTag(): number {
    let tw = 0;
    const top = this.top;
    for (let p = 0; p < 8; p++) {
      let t: number;
      if (!((this.fx[4]! >>> p) & 1)) t = 3;
      else {
        const i = (p - top) & 7;
        const se = this.se(i), hi = this.hi(i), lo = this.lo(i);
        const ex = se & 0x7fff;
        if (ex === 0 && hi === 0 && lo === 0) t = 1;
        else if (ex === 0 || ex === 0x7fff || hi >= 0) t = 2;
        else t = 0;
      }
      tw |= t << (2 * p);
    }
    return tw;
  }

  /** FNSTENV: writes the 14/28-byte environment to out[o..]; then masks all exceptions. */
  fstenv(out: Uint8Array, o: number, fmt: EnvFormat): number {
    const n = this.writeEnv(out, o, fmt);
    this.h[0] = this.h[0]! | EXC;
    this.updateES();
    return n;
  }
  private writeEnv(out: Uint8Array, o: number, fmt: EnvFormat): number {
    const fip = this.w[2]! >>> 0, fdp = this.w[4]! >>> 0, fop = this.h[3]!;
    const cw = this.h[0]!, sw = this.h[1]!, tw = this.fullTag();
    if (fmt === EnvFormat.PROT32 || fmt === EnvFormat.REAL32) {
      // The unused upper halves read as ones.
      put32(out, o, cw | 0xffff0000);
      put32(out, o + 4, sw | 0xffff0000);
      put32(out, o + 8, tw | 0xffff0000);
      if (fmt === EnvFormat.PROT32) {
        put32(out, o + 12, fip);
        put32(out, o + 16, fop << 16); // FCS = 0
        put32(out, o + 20, fdp);
        put32(out, o + 24, 0xffff0000); // FDS = 0
      } else {
        put32(out, o + 12, (fip & 0xffff) | 0xffff0000);
        put32(out, o + 16, ((fip >>> 16) << 12) | fop);
        put32(out, o + 20, (fdp & 0xffff) | 0xffff0000);
        put32(out, o + 24, (fdp >>> 16) << 12);
      }
      return 28;
    }
    put16(out, o, cw);
    put16(out, o + 2, sw);
    put16(out, o + 4, tw);
    put16(out, o + 6, fip);
    if (fmt === EnvFormat.PROT16) {
      put16(out, o + 8, 0); // FCS
      put16(out, o + 10, fdp);
      put16(out, o + 12, 0); // FDS
    } else {
      put16(out, o + 8, (((fip >>> 16) & 0xf) << 12) | fop);
      put16(out, o + 10, fdp);
      put16(out, o + 12, ((fdp >>> 16) & 0xf) << 12);
    }
    return 14;
  }

  /** FLDENV from buf[o..]; returns the image size. */
  fldenv(buf: Uint8Array, o: number, fmt: EnvFormat): number {
    let cw: number, sw: number, tw: number, fip: number, fdp: number, fop: number;
    let n: number;
    if (fmt === EnvFormat.PROT32 || fmt === EnvFormat.REAL32) {
      cw = get16(buf, o);
      sw = get16(buf, o + 4);
      tw = get16(buf, o + 8);
      if (fmt === EnvFormat.PROT32) {
        fip = get32(buf, o + 12);
        fop = get16(buf, o + 18) & 0x7ff;
        fdp = get32(buf, o + 20);
      } else {
        const w16 = get32(buf, o + 16);
        fip = get16(buf, o + 12) | ((w16 >>> 12) << 16);
        fop = w16 & 0x7ff;
        fdp = get16(buf, o + 20) | ((get32(buf, o + 24) >>> 12) << 16);
      }
      n = 28;
    } else {
      cw = get16(buf, o);
      sw = get16(buf, o + 2);
      tw = get16(buf, o + 4);
      if (fmt === EnvFormat.PROT16) {
        fip = get16(buf, o + 6);
        fop = 0;
        fdp = get16(buf, o + 10);
      } else {
        const w8 = get16(buf, o + 8);
        fip = get16(buf, o + 6) | ((w8 >>> 12) << 16);
        fop = w8 & 0x7ff;
        fdp = get16(buf, o + 10) | ((get16(buf, o + 12) >>> 12) << 16);
      }
      n = 14;
    }
    this.h[0] = (cw & 0x1f3f) | 0x40;
    this.setTop((sw >>> 11) & 7);
    this.h[1] = sw;
    let ab = 0;
    for (let p = 0; p < 8; p++) if (((tw >>> (2 * p)) & 3) !== 3) ab |= 1 << p;
    this.fx[4] = ab;
    this.h[3] = fop;
    this.w[2] = fip | 0;
    this.w[3] = 0;
    this.w[4] = fdp | 0;
    this.w[5] = 0;
    this.updateES();
    return n;
  }

  /** FNSAVE: environment then ST(0)..ST(7) (94 or 108 bytes), then FNINIT. */
  fsave(out: Uint8Array, o: number, fmt: EnvFormat): number {
    let n = this.writeEnv(out, o, fmt);
    for (let i = 0; i < 8; i++, n += 10) out.set(this.fx.subarray(32 + 16 * i, 42 + 16 * i), o + n);
    this.finit();
    return n;
  }
  /** FRSTOR. */
  frstor(buf: Uint8Array, o: number, fmt: EnvFormat): number {
    let n = this.fldenv(buf, o, fmt);
    for (let i = 0; i < 8; i++, n += 10) this.fx.set(buf.subarray(o + n, o + n + 10), 32 + 16 * i);
    return n;
  }

  /**
   * FXSAVE/FXSAVE64 of the x87 and SSE state (bytes 0-463: the tail 464-511 is the software's
   * and not written). rex64 selects the 64-bit FIP/FDP form; otherwise FIP/FDP are 32 bits with
   * FCS/FDS (0). xmmCount: 8 outside 64-bit mode, 16 in it. sse: CR4.OSFXSR (MXCSR/XMM saved).
   */
  fxsave(out: Uint8Array, o: number, rex64: boolean, xmmCount: number, sse: boolean): void {
    const src = this.fx;
    out.set(src.subarray(0, 24), o);
    out[o + 5] = 0;
    if (!rex64) {
      // 32-bit form: FIP, FCS (0), FDP, FDS (0).
      put32(out, o + 12, 0);
      put32(out, o + 20, 0);
    }
    if (sse) {
      out.set(src.subarray(24, 28), o + 24);
      // MXCSR_MASK: every MXCSR bit (DAZ included) is writable.
      out[o + 28] = 0xff;
      out[o + 29] = 0xff;
      out[o + 30] = 0;
      out[o + 31] = 0;
    }
    for (let i = 0; i < 8; i++) {
      out.set(src.subarray(32 + 16 * i, 42 + 16 * i), o + 32 + 16 * i);
      for (let k = 10; k < 16; k++) out[o + 32 + 16 * i + k] = 0;
    }
    if (sse) out.set(src.subarray(160, 160 + 16 * xmmCount), o + 160);
  }
  /**
   * FXRSTOR: returns false (the caller raises #GP) when the MXCSR image sets reserved bits.
   */
  fxrstor(buf: Uint8Array, o: number, rex64: boolean, xmmCount: number, sse: boolean): boolean {
    const mx = get32(buf, o + 24);
    if (sse && mx & 0xffff0000) return false;
    const dst = this.fx;
    dst.set(buf.subarray(o, o + 8), 0);
    dst[5] = 0;
    if (rex64) dst.set(buf.subarray(o + 8, o + 24), 8);
    else {
      this.w[2] = get32(buf, o + 8);
      this.w[3] = 0;
      this.w[4] = get32(buf, o + 16);
      this.w[5] = 0;
    }
    for (let i = 0; i < 8; i++) dst.set(buf.subarray(o + 32 + 16 * i, o + 42 + 16 * i), 32 + 16 * i);
    if (sse) {
      this.w[6] = mx;
      dst.set(buf.subarray(o + 160, o + 160 + 16 * xmmCount), 160);
    }
    this.updateES();
    return true;
  }
}
