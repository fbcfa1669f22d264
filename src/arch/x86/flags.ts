/**
 * Lazy arithmetic flags: an ALU operation records its kind, size, operands and result; CF, PF,
 * AF, ZF, SF and OF are computed only when something reads them (Jcc, PUSHF, ADC...). Values are
 * int32 lo/hi halves; byte and word values are kept masked.
 * @module
 */
import { FLAG } from './state.js';

export const FOp = {
  /** The arithmetic flags in `rflags` are current. */
  NONE: 0,
  ADD: 1,
  ADC: 2,
  SUB: 3,
  SBB: 4,
  /** AND/OR/XOR/TEST: CF = OF = 0, AF = 0. */
  LOGIC: 5,
  INC: 6,
  DEC: 7,
  /** Shifts, rotates, multiplies: CF and OF computed eagerly into `cin`/`ofv`; SZP from the result. */
  EAGER_CO: 8,
} as const;
export type FOp = (typeof FOp)[keyof typeof FOp];

export const ARITH_FLAGS = FLAG.CF | FLAG.PF | FLAG.AF | FLAG.ZF | FLAG.SF | FLAG.OF;

const PARITY = new Uint8Array(256);
for (let i = 0; i < 256; i++) {
  let b = i;
  b ^= b >> 4;
  b ^= b >> 2;
  b ^= b >> 1;
  PARITY[i] = (~b & 1) * FLAG.PF;
}

/** The lazy flag state (part of the CPU). */
export class Flags {
  op: FOp = FOp.NONE;
  size = 4;
  a0 = 0;
  a1 = 0;
  b0 = 0;
  b1 = 0;
  r0 = 0;
  r1 = 0;
  /** Carry in (ADC/SBB), the preserved CF (INC/DEC), or the eager CF (EAGER_CO). */
  cin = 0;
  /** The eager OF (EAGER_CO). */
  ofv = 0;
  /** AF for EAGER_CO ops (architecturally undefined; kept as the operation left it). */
  afv = 0;

  set(op: FOp, size: number, a0: number, a1: number, b0: number, b1: number, r0: number, r1: number): void {
    this.op = op;
    this.size = size;
    this.a0 = a0;
    this.a1 = a1;
    this.b0 = b0;
    this.b1 = b1;
    this.r0 = r0;
    this.r1 = r1;
  }

  /** Sign bit of the result (0/1). */
  sf(): number {
    const sz = this.size;
    return sz === 8 ? this.r1 >>> 31 : sz === 4 ? this.r0 >>> 31 : (this.r0 >>> (sz * 8 - 1)) & 1;
  }

  zf(): number {
    return (this.size === 8 ? (this.r0 | this.r1) === 0 : this.r0 === 0) ? 1 : 0;
  }

  pf(): number {
    return PARITY[this.r0 & 0xff] ? 1 : 0;
  }

  af(): number {
    switch (this.op) {
      case FOp.LOGIC:
        return 0;
      case FOp.EAGER_CO:
        return this.afv;
      default:
        return ((this.a0 ^ this.b0 ^ this.r0) >>> 4) & 1;
    }
  }

  cf(): number {
    switch (this.op) {
      case FOp.ADD:
        return ltu(this.size, this.r0, this.r1, this.a0, this.a1);
      case FOp.ADC:
        return this.cin ? (ltu(this.size, this.a0, this.a1, this.r0, this.r1) ? 0 : 1) : ltu(this.size, this.r0, this.r1, this.a0, this.a1);
      case FOp.SUB:
        return ltu(this.size, this.a0, this.a1, this.b0, this.b1);
      case FOp.SBB:
        return ltu(this.size, this.a0, this.a1, this.b0, this.b1) || (this.cin && this.a0 === this.b0 && (this.size < 8 || this.a1 === this.b1)) ? 1 : 0;
      case FOp.LOGIC:
        return 0;
      default:
        return this.cin;
    }
  }

  of(): number {
    const sb = this.size === 8 ? 31 : this.size * 8 - 1;
    const hi = this.size === 8;
    const a = hi ? this.a1 : this.a0;
    const b = hi ? this.b1 : this.b0;
    const r = hi ? this.r1 : this.r0;
    switch (this.op) {
      case FOp.ADD:
      case FOp.ADC:
      case FOp.INC:
        return (((a ^ r) & (b ^ r)) >>> sb) & 1;
      case FOp.SUB:
      case FOp.SBB:
      case FOp.DEC:
        return (((a ^ b) & (a ^ r)) >>> sb) & 1;
      case FOp.LOGIC:
        return 0;
      default:
        return this.ofv;
    }
  }

  /** All six arithmetic flags as RFLAGS bits. */
  bits(): number {
    if (this.op === FOp.NONE) return 0;
    return (
      this.cf() * FLAG.CF |
      (PARITY[this.r0 & 0xff]!) |
      this.af() * FLAG.AF |
      this.zf() * FLAG.ZF |
      this.sf() * FLAG.SF |
      this.of() * FLAG.OF
    );
  }
}

/** Unsigned a < b for values of `size` bytes (lo/hi int32 halves). */
export function ltu(size: number, a0: number, a1: number, b0: number, b1: number): number {
  if (size === 8) {
    const ah = a1 >>> 0;
    const bh = b1 >>> 0;
    return ah < bh || (ah === bh && a0 >>> 0 < b0 >>> 0) ? 1 : 0;
  }
  return a0 >>> 0 < b0 >>> 0 ? 1 : 0;
}

export { PARITY };
