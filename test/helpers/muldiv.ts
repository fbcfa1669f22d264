/**
 * x86 MUL/IMUL/DIV/IDIV test material: edge and random 64-bit operands, and the BigInt model of
 * each instruction (test/x86/arith64.test.ts, test/x86/jit-muldiv.test.ts).
 * @module
 */
import type { Rng } from '../fuzz/rng.js';

export const M64 = (1n << 64n) - 1n;
const u64 = (x: bigint) => BigInt.asUintN(64, x);

/**
 * Edge operands: 0, 1, -1, 2^63, 2^64 - 1, the word and double boundaries (2^31, 2^32, +-2^53),
 * and the boundaries of arith64's paths (2^21 and 2^51 divisors, 2^53 dividends), with neighbours.
 */
export const EDGE = [0x1fffffn, 0x200000n, 0x200001n, 0x7_ffff_ffff_ffffn, 0x8_0000_0000_0000n, 0x8_0000_0000_0001n, 0xfffn, 0x1000n, 0n, 1n, 2n, 3n, 0x7fn, 0x80n, 0xffn, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 0x1_0000_0001n, 0xffff_ffff_ffffn, 0x1_0000_0000_0000n, 1n << 52n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, 0x7fff_ffff_ffff_ffffn, 0x8000_0000_0000_0000n, 0x8000_0000_0000_0001n, 0xffff_ffff_0000_0000n, 0xffff_ffff_ffff_fffen, M64, 0x0123_4567_89ab_cdefn, 0x9e37_79b9_7f4a_7c15n, 0xffff_ffff_8000_0000n, 0xffe0_0000_0000_0000n, 0xffdf_ffff_ffff_ffffn, 0xffe0_0000_0000_0001n, 0xffff_ffff_ffe0_0000n];

/** A random operand of mixed magnitude: small, 32-bit, 48-bit, full width, near the edges. */
export function rand64(r: Rng): bigint {
  const k = r.int(6);
  const full = (BigInt(r.u32()) << 32n) | BigInt(r.u32());
  if (k === 0) return BigInt(r.int(1000));
  if (k === 1) return BigInt(r.u32());
  if (k === 2) return full >> 16n;
  if (k === 3) return EDGE[r.int(EDGE.length)]! ^ BigInt(r.int(4));
  if (k === 4) return u64(-BigInt(r.int(1 << 20)));
  return full;
}

/** The forms of test/x86: MUL, IMUL, DIV, IDIV on RDX:RAX, IMUL r, r/m and IMUL r, r/m, imm. */
export type Op = 'mul' | 'imul' | 'div' | 'idiv' | 'imul2' | 'imul3';
export const OPEXT: Record<string, number> = { mul: 4, imul: 5, div: 6, idiv: 7 };

/** The BigInt model of the instruction (the formulation muldiv.ts used before): RAX, RDX, CF=OF, or #DE. */
export function model(op: Op, size: number, rax: bigint, rdx: bigint, rbx: bigint, imm: number): { rax: bigint; rdx: bigint; cfof?: boolean } | 'DE' {
  const bits = BigInt(size * 8);
  const mask = (1n << bits) - 1n;
  const sx = (v: bigint) => BigInt.asIntN(Number(bits), v);
  const a = rax & mask;
  const b = rbx & mask;
  const merge = (reg: bigint, v: bigint) => (size === 4 ? v & mask : size === 8 ? v & mask : (reg & ~mask) | (v & mask));
  if (op === 'mul' || op === 'imul') {
    const p = op === 'mul' ? a * b : sx(a) * sx(b);
    const l = p & mask;
    const h = (p >> bits) & mask;
    const ovf = op === 'mul' ? h !== 0n : sx(l) !== p;
    if (size === 1) return { rax: (rax & ~0xffffn) | (p & 0xffffn), rdx, cfof: ovf };
    return { rax: merge(rax, l), rdx: merge(rdx, h), cfof: ovf };
  }
  if (op === 'imul2' || op === 'imul3') {
    const src2 = op === 'imul2' ? sx(b) : BigInt(imm) ; // imm32 sign-extended (imm16 for size 2)
    const src1 = op === 'imul2' ? sx(a) : sx(b);
    const p = src1 * (size === 2 && op === 'imul3' ? BigInt((imm << 16) >> 16) : src2);
    return { rax: merge(rax, p), rdx, cfof: sx(p & mask) !== p };
  }
  // div / idiv
  const signed = op === 'idiv';
  let n = size === 1 ? rax & 0xffffn : ((rdx & mask) << bits) | a;
  let d = b;
  if (d === 0n) return 'DE';
  if (signed) {
    n = BigInt.asIntN(Number(bits) * 2, n);
    d = sx(d);
  }
  const q = n / d;
  const rem = n % d;
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : mask;
  if (q < min || q > max) return 'DE';
  if (size === 1) return { rax: (rax & ~0xffffn) | (q & 0xffn) | ((rem & 0xffn) << 8n), rdx };
  return { rax: merge(rax, q), rdx: merge(rdx, rem) };
}

