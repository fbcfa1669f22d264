/**
 * x86 shifts and rotates: ROL/ROR/RCL/RCR/SHL/SHR/SAR, SHLD/SHRD.
 * @module
 */
import type { X86Cpu } from '../cpu.js';
import { K_IMM } from '../decoder.js';
import { FOp } from '../flags.js';
import { FLAG } from '../state.js';
import { definer, rdAt, rmwAddr, trunc, ubig, wrAt, type Handler, type HandlerTable } from './operands.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const SHIFT: HandlerTable = {};
const def = definer(SHIFT);

const Sh = {
  ROL: 0,
  ROR: 1,
  RCL: 2,
  RCR: 3,
  SHL: 4,
  SHR: 5,
  SAR: 6,
} as const;
type Sh = (typeof Sh)[keyof typeof Sh];

/** shiftResult's CF and OF, for shiftFlags. */
let shiftCf = 0;
let shiftOf = 0;

/**
 * SHL/SHR/SAR (kind 4, 5, 6) of a0:a1 (`size` bytes) by `cnt` (1..31, or 1..63 for 8 bytes): the
 * low half of the result (trunc'd to size), its high half in c.t1; CF and OF kept for shiftFlags.
 */
export function shiftResult(c: X86Cpu, kind: number, size: number, a0: number, a1: number, cnt: number): number {
  if (size !== 8) {
    // SHL/SHR/SAR of 8/16/32 bits in int32 arithmetic (the count is at most 31).
    const bits = size * 8;
    const bits1 = bits - 1;
    const a = size === 4 ? a0 >>> 0 : a0 & (size === 1 ? 0xff : 0xffff);
    let res: number;
    if (kind === Sh.SHL) {
      res = cnt >= bits ? 0 : size === 4 ? (a << cnt) >>> 0 : (a << cnt) & (size === 1 ? 0xff : 0xffff);
      shiftCf = cnt <= bits ? (a >>> (bits - cnt)) & 1 : 0;
      shiftOf = ((res >>> bits1) & 1) ^ shiftCf;
    } else if (kind === Sh.SHR) {
      res = a >>> cnt;
      shiftCf = (a >>> (cnt - 1)) & 1;
      shiftOf = (a >>> bits1) & 1;
    } else {
      const sa = size === 4 ? a | 0 : size === 2 ? (a << 16) >> 16 : (a << 24) >> 24;
      res = sa >> cnt;
      shiftCf = (sa >> (cnt - 1)) & 1;
      shiftOf = 0;
    }
    c.t1 = 0;
    return trunc(res, size);
  }
  // 64-bit SHL/SHR/SAR on the two 32-bit halves.
  const lo = a0 | 0;
  const hi = a1 | 0;
  let rl: number;
  let rh: number;
  if (kind === Sh.SHL) {
    if (cnt < 32) {
      rh = (hi << cnt) | (lo >>> (32 - cnt));
      rl = lo << cnt;
    } else {
      rh = lo << (cnt - 32);
      rl = 0;
    }
    shiftCf = bit64(lo, hi, 64 - cnt);
    shiftOf = (rh >>> 31) ^ shiftCf;
  } else {
    if (cnt < 32) {
      rl = (lo >>> cnt) | (hi << (32 - cnt));
      rh = kind === Sh.SHR ? hi >>> cnt : hi >> cnt;
    } else {
      rl = kind === Sh.SHR ? hi >>> (cnt - 32) : hi >> (cnt - 32);
      rh = kind === Sh.SHR ? 0 : hi >> 31;
    }
    shiftCf = bit64(lo, hi, cnt - 1);
    shiftOf = kind === Sh.SHR ? hi >>> 31 : 0;
  }
  c.t1 = rh | 0;
  return rl | 0;
}

/** Bit k of lo:hi. */
const bit64 = (lo: number, hi: number, k: number) => (k < 32 ? (lo >>> k) & 1 : (hi >>> (k - 32)) & 1);

/** The flags of the shiftResult just computed (its result r0:r1). */
export function shiftFlags(c: X86Cpu, size: number, r0: number, r1: number): void {
  const f = c.f;
  f.set(FOp.EAGER_CO, size, 0, 0, 0, 0, r0, r1);
  f.cin = shiftCf;
  f.ofv = shiftOf;
  f.afv = 0;
}

function shiftInsn(kind: Sh): Handler {
  return (c, i) => {
    const size = i.size[0]!;
    const bits = size * 8;
    const cnt = (i.kind[1] === K_IMM ? i.imm : c.getReg(1, 1)) & (size === 8 ? 63 : 31);
    const lin = rmwAddr(c, i);
    const a0 = rdAt(c, i, lin);
    const a1 = size === 8 ? c.t1 : 0;
    if (cnt === 0) return;
    if (kind >= Sh.SHL) {
      // SHL/SHR/SAR: the result written before the flags (a faulting store changes nothing).
      const r = shiftResult(c, kind, size, a0, a1, cnt);
      const rh = c.t1;
      wrAt(c, i, lin, r, rh);
      shiftFlags(c, size, r, rh);
      return;
    }
    if (kind === Sh.ROL || kind === Sh.ROR) {
      // ROL/ROR in int32 arithmetic (64-bit on the two halves): hash and cipher code (jhash,
      // ChaCha's rol32) rotates constantly, and the BigInt form allocated per instruction.
      const left = kind === Sh.ROL;
      let n = cnt % bits;
      let rl: number;
      let rh = 0;
      if (size === 8) {
        let lo = a0 | 0;
        let hi = a1 | 0;
        // A rotate by 32 or more swaps the halves first; a right rotate by n is a left one by 64 - n.
        if (!left && n !== 0) n = 64 - n;
        if (n >= 32) {
          const t = lo;
          lo = hi;
          hi = t;
          n -= 32;
        }
        rl = n === 0 ? lo : (lo << n) | (hi >>> (32 - n));
        rh = n === 0 ? hi : (hi << n) | (lo >>> (32 - n));
      } else {
        const a = size === 4 ? a0 >>> 0 : a0 & (size === 1 ? 0xff : 0xffff);
        if (!left && n !== 0) n = bits - n;
        const r = n === 0 ? a : (a << n) | (a >>> (bits - n));
        rl = trunc(r, size);
      }
      rl |= 0;
      rh |= 0;
      wrAt(c, i, lin, rl, rh);
      // The result's top two bits (bits - 1, bits - 2) and bit 0 give CF and OF.
      const top = size === 8 ? rh : rl << (32 - bits);
      const msb = (top >>> 31) & 1;
      const cf = left ? rl & 1 : msb;
      const of = left ? msb ^ cf : msb ^ ((top >>> 30) & 1);
      // Rotates change only CF and OF.
      const fl = c.getFlags();
      c.s.rflags = ((fl & ~(FLAG.CF | FLAG.OF)) | (cf ? FLAG.CF : 0) | (of ? FLAG.OF : 0)) >>> 0;
      return;
    }
    // RCL/RCR: BigInt for 64-bit, numbers otherwise (exact below 2^53).
    let v = size === 8 ? (BigInt(a1 >>> 0) << 32n) | BigInt(a0 >>> 0) : ubig(a0, size);
    const B = BigInt(bits);
    const mask = (1n << B) - 1n;
    const msb = (x: bigint) => Number((x >> (B - 1n)) & 1n);
    let cf = 0;
    let of = 0;
    let result: bigint;
    const cin = BigInt(c.cf());
    switch (kind) {
      case Sh.RCL: {
        const n = cnt % (bits + 1);
        let r = v;
        let carry = cin;
        for (let k = 0; k < n; k++) {
          const out = (r >> (B - 1n)) & 1n;
          r = ((r << 1n) | carry) & mask;
          carry = out;
        }
        result = r;
        cf = Number(carry);
        of = msb(result) ^ cf;
        if (n === 0) {
          // Masked count non-zero but a full rotation: value and CF unchanged; OF as computed on hardware.
          cf = Number(cin);
          of = msb(result) ^ cf;
        }
        break;
      }
      case Sh.RCR: {
        const n = cnt % (bits + 1);
        let r = v;
        let carry = cin;
        of = msb(v) ^ Number(carry);
        for (let k = 0; k < n; k++) {
          const out = r & 1n;
          r = (r >> 1n) | (carry << (B - 1n));
          carry = out;
        }
        result = r;
        cf = Number(carry);
        if (n === 0) cf = Number(cin);
        break;
      }
      case Sh.SHL: {
        const n = BigInt(cnt);
        result = (v << n) & mask;
        cf = cnt <= bits ? Number((v >> (B - n)) & 1n) : 0;
        of = msb(result) ^ cf;
        break;
      }
      case Sh.SHR: {
        const n = BigInt(cnt);
        result = v >> n;
        cf = Number((v >> (n - 1n)) & 1n);
        of = msb(v);
        break;
      }
      default: {
        const n = BigInt(cnt);
        const sv = BigInt.asIntN(bits, v);
        result = BigInt.asUintN(bits, sv >> n);
        cf = Number((sv >> (n - 1n)) & 1n);
        of = 0;
      }
    }
    v = result;
    const r0 = size === 8 ? Number(v & 0xffffffffn) | 0 : trunc(Number(v), size);
    const r1 = size === 8 ? Number(v >> 32n) | 0 : 0;
    wrAt(c, i, lin, r0, r1);
    if (kind <= Sh.RCR) {
      // Rotates change only CF and OF.
      const fl = c.getFlags();
      c.s.rflags = ((fl & ~(FLAG.CF | FLAG.OF)) | (cf ? FLAG.CF : 0) | (of ? FLAG.OF : 0)) >>> 0;
    } else {
      const f = c.f;
      f.set(FOp.EAGER_CO, size, 0, 0, 0, 0, r0, r1);
      f.cin = cf;
      f.ofv = of;
      f.afv = 0;
    }
  };
}
def('ROL', shiftInsn(Sh.ROL));
def('ROR', shiftInsn(Sh.ROR));
def('RCL', shiftInsn(Sh.RCL));
def('RCR', shiftInsn(Sh.RCR));
def('SHL', shiftInsn(Sh.SHL));
def('SHR', shiftInsn(Sh.SHR));
def('SAR', shiftInsn(Sh.SAR));

function shiftDouble(left: boolean): Handler {
  return (c, i) => {
    const size = i.size[0]!;
    const bits = size * 8;
    const cnt = (i.nops === 3 && i.kind[2] === K_IMM ? i.imm : c.getReg(1, 1)) & (size === 8 ? 63 : 31);
    const lin = rmwAddr(c, i);
    const a0 = rdAt(c, i, lin);
    const a1 = size === 8 ? c.t1 : 0;
    const s0 = c.getReg(i.reg[1]!, size);
    const s1 = size === 8 ? c.t1 : 0;
    if (cnt === 0) return;
    const B = BigInt(bits);
    const mask = (1n << B) - 1n;
    const dst = size === 8 ? (BigInt(a1 >>> 0) << 32n) | BigInt(a0 >>> 0) : ubig(a0, size);
    const src = size === 8 ? (BigInt(s1 >>> 0) << 32n) | BigInt(s0 >>> 0) : ubig(s0, size);
    const n = BigInt(cnt);
    let r: bigint;
    let cf: number;
    if (left) {
      const wide = (dst << B) | src;
      r = (wide << n >> B) & mask;
      cf = cnt <= bits ? Number((dst >> (B - n)) & 1n) : 0;
    } else {
      const wide = (src << B) | dst;
      r = (wide >> n) & mask;
      cf = Number((dst >> (n - 1n)) & 1n);
    }
    const of = Number(((r ^ dst) >> (B - 1n)) & 1n);
    const r0 = size === 8 ? Number(r & 0xffffffffn) | 0 : trunc(Number(r), size);
    const r1 = size === 8 ? Number(r >> 32n) | 0 : 0;
    wrAt(c, i, lin, r0, r1);
    const f = c.f;
    f.set(FOp.EAGER_CO, size, 0, 0, 0, 0, r0, r1);
    f.cin = cf;
    f.ofv = of;
    f.afv = 0;
  };
}
def('SHLD', shiftDouble(true));
def('SHRD', shiftDouble(false));
