/**
 * x86 bit operations: BT/BTS/BTR/BTC (and LOCK forms), BSF/BSR/TZCNT/LZCNT/POPCNT, BSWAP, MOVBE, CRC32.
 * @module
 */
import type { X86Cpu } from '../cpu.js';
import { K_IMM, K_MEM } from '../decoder.js';
import { AOp } from '../../../kernel/atomics.js';
import { lockedRmw } from '../atomic.js';
import { FLAG } from '../state.js';
import { crc32c, lzcnt, popcnt32, tzcnt } from '../fpu/sse.js';
import { definer, ea, MASK, rd, sx, wr, type Handler, type HandlerTable } from './operands.js';

/** The handlers of this family, by mnemonic (composed in exec/index.ts). */
export const BITS: HandlerTable = {};
const def = definer(BITS);

function btInsn(op: 0 | 1 | 2 | 3): Handler {
  return (c, i) => {
    const size = i.size[0]!;
    const bits = size * 8;
    let bit: number;
    // A kernel-half linear address is a negative number: no sentinel value, a flag instead.
    let lin = 0;
    let haveLin = false;
    if (i.kind[1] === K_IMM) bit = i.imm & (bits - 1);
    else {
      const off = size === 8 ? c.regNum(i.reg[1]!, 8) : sx(c.getReg(i.reg[1]!, size), size);
      if (i.kind[0] === K_MEM) {
        // Register bit offsets address memory beyond the operand (signed, in operand-size units).
        const unit = Math.floor(off / bits);
        const addr = ea(c, i) + unit * size;
        const a = i.asz === 2 ? addr & 0xffff : i.asz === 4 ? addr >>> 0 : addr;
        lin = c.linear(i.seg, a, size, op !== 0);
        haveLin = true;
        bit = off - unit * bits;
      } else bit = off & (bits - 1);
    }
    if (!haveLin && i.kind[0] === K_MEM) lin = c.linear(i.seg, ea(c, i), size, op !== 0);
    if (i.lock) return lockedBt(c, op, size, lin, bit);
    const v0 = i.kind[0] === K_MEM ? c.readLin(lin, size) : c.getReg(i.reg[0]!, size);
    const v1 = size === 8 ? c.t1 : 0;
    const word = bit >= 32 ? v1 : v0;
    const b = bit & 31;
    const cf = (word >>> b) & 1;
    if (op !== 0) {
      let nw = word;
      if (op === 1) nw = word | (1 << b);
      else if (op === 2) nw = word & ~(1 << b);
      else nw = word ^ (1 << b);
      const n0 = bit >= 32 ? v0 : nw;
      const n1 = bit >= 32 ? nw : v1;
      if (i.kind[0] === K_MEM) c.writeLin(lin, size, n0, n1);
      else c.setReg(i.reg[0]!, size, size < 4 ? n0 & MASK[size]! : n0, n1);
    }
    const fl = c.getFlags();
    c.s.rflags = ((fl & ~FLAG.CF) | (cf ? FLAG.CF : 0)) >>> 0;
  };
}
def('BT', btInsn(0));
def('BTS', btInsn(1));
def('BTR', btInsn(2));
def('BTC', btInsn(3));

function scanInsn(kind: 'bsf' | 'bsr' | 'tzcnt' | 'lzcnt' | 'popcnt'): Handler {
  return (c, i) => {
    const size = i.size[0]!;
    const bits = size * 8;
    let lo = rd(c, i, 1);
    const hi = size === 8 ? c.t1 : 0;
    if (size === 2) lo &= 0xffff;
    else if (size === 1) lo &= 0xff;
    const fl = c.getFlags();
    const zero = lo === 0 && hi === 0;
    if (kind === 'popcnt') {
      const n = popcnt32(lo) + popcnt32(hi);
      c.s.rflags = ((fl & ~(FLAG.CF | FLAG.PF | FLAG.AF | FLAG.ZF | FLAG.SF | FLAG.OF)) | (zero ? FLAG.ZF : 0)) >>> 0;
      c.setReg(i.reg[0]!, size, n);
      return;
    }
    if (kind === 'bsf' || kind === 'bsr') {
      // A zero source leaves the destination unchanged (as Intel and AMD implement it), ZF set.
      if (zero) {
        c.s.rflags = (fl | FLAG.ZF) >>> 0;
        return;
      }
      const r = kind === 'bsf' ? tzcnt(lo, hi, bits) : bits - 1 - lzcnt(lo, hi, bits);
      c.s.rflags = (fl & ~FLAG.ZF) >>> 0;
      c.setReg(i.reg[0]!, size, r);
      return;
    }
    const r = kind === 'tzcnt' ? tzcnt(lo, hi, bits) : zero ? bits : lzcnt(lo, hi, bits);
    c.s.rflags = ((fl & ~(FLAG.CF | FLAG.ZF)) | (r === 0 ? FLAG.ZF : 0) | (zero ? FLAG.CF : 0)) >>> 0;
    c.setReg(i.reg[0]!, size, r);
  };
}
def('BSF', scanInsn('bsf'));
def('BSR', scanInsn('bsr'));
def('TZCNT', scanInsn('tzcnt'));
def('LZCNT', scanInsn('lzcnt'));
def('POPCNT', scanInsn('popcnt'));

const bswap32 = (x: number) => ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);

/** MOVBE: a load or store with the bytes reversed (16, 32, 64 bits). */
def('MOVBE', (c, i) => {
  const size = i.size[0]!;
  const v = rd(c, i, 1);
  const hi = c.t1;
  if (size === 2) wr(c, i, 0, ((v & 0xff) << 8) | ((v >>> 8) & 0xff));
  else if (size === 4) wr(c, i, 0, bswap32(v));
  else wr(c, i, 0, bswap32(hi), bswap32(v));
});

/** CRC32 (SSE4.2): CRC-32C of the source's bytes into the 32-bit accumulator (a 64-bit destination zero-extends). */
def('CRC32', (c, i) => {
  const size = i.size[1]!;
  const v = rd(c, i, 1);
  const hi = size === 8 ? c.t1 : 0;
  c.setReg(i.reg[0]!, i.size[0]!, crc32c(c.getReg(i.reg[0]!, 4), v, hi, size), 0);
});

def('BSWAP', (c, i) => {
  const r = i.reg[0]!;
  const swap = bswap32;
  if (i.size[0] === 8) {
    const lo = c.getReg(r, 8);
    const hi = c.t1;
    c.setReg(r, 8, swap(hi), swap(lo));
  } else c.setReg(r, 4, swap(c.getReg(r, 4)));
});


// ---- LOCK BTS/BTR/BTC: one host atomic operation (atomic.ts).

/** LOCK BTS/BTR/BTC (op 1/2/3): one atomic OR/AND/XOR of the bit's mask; CF = the old bit. */
function lockedBt(c: X86Cpu, op: number, size: number, lin: number, bit: number): void {
  const m = 1 << (bit & 31);
  let lo = bit >= 32 ? 0 : m;
  let hi = bit >= 32 ? m : 0;
  if (op === 2) {
    lo = ~lo;
    hi = ~hi;
  }
  const v0 = lockedRmw(c, lin, size, op === 1 ? AOp.OR : op === 2 ? AOp.AND : AOp.XOR, lo, hi);
  const word = bit >= 32 ? c.t1 : v0;
  const fl = c.getFlags();
  c.s.rflags = ((fl & ~FLAG.CF) | ((word >>> (bit & 31)) & 1 ? FLAG.CF : 0)) >>> 0;
}
