/**
 * MMIO loads leave the block without unwinding (X86Mmu.readLinSoft: `exitNow`, no thrown EXIT):
 * MOV/MOVZX/MOVSX/MOVSXD to a register, CMP and TEST. The guest (test/guests/x86/kernel/
 * mmioread.asm) loads through a low and a kernel-half (negative) linear address, three rounds;
 * every load is one KVM_EXIT_MMIO whose data userspace gives, and at each exit nothing of the
 * instruction has happened yet (the destination — even `mov rbx, [rbx]` — still holds its old
 * value, RIP points at it). Interpreter and block JIT give the same exits, registers and results,
 * and the values are the ones userspace answered.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { virtualSys } from '../../src/index.js';
import { X86_ENGINES } from '../helpers/engines.js';
import { CODE, DATA, MMIO_BASE, runProgram, type Trace } from '../helpers/x86.js';

const GUEST = new Uint8Array(readFileSync(resolve(__dirname, '../guests/x86/kernel/mmioread.bin')));
/** What runProgram answers for an MMIO read byte at gpa p. */
const byteAt = (p: number) => (p + 0x21) & 0xff;
const le = (p: number, n: number) => {
  let v = 0n;
  for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt((p + i * 3 + 0x21) & 0xff);
  return v;
};
const u64 = (v: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
};
const sx = (v: bigint, bits: number) => BigInt.asUintN(64, BigInt.asIntN(bits, v));
/** Arithmetic flags of rflags (CF PF AF ZF SF OF). */
const ARITH = 0x8d5n;

function run(opts: Parameters<typeof virtualSys>[0], base: bigint): Trace {
  return runProgram(virtualSys(opts), {
    mode: 'long64',
    code: GUEST,
    regs: { rbx: base, r8: DATA, r10: 0x1234, r12: 0x1111111111111111n, r15: 3 },
    // Kernel half: PML4[511] -> the PDPT, PDPT[510] -> the 1 GiB identity PD, so
    // 0xffffffff80000000 + x is gpa x.
    mem: [
      [0x2000 + 511 * 8, u64(0x3003n)],
      [0x3000 + 510 * 8, u64(0x4003n)],
    ],
    maxExits: 200,
  });
}

const BASES = [
  ['low', BigInt(MMIO_BASE)],
  ['kernel half', 0xffffffff80000000n + BigInt(MMIO_BASE)],
] as const;

describe.each(BASES)('x86 MMIO loads without unwinding (%s addresses)', (_name, base) => {
  const traces = X86_ENGINES.map((e) => [e.name, run(e.opts, base)] as const);
  // The default engine too: blocks interpreted at first sight, translated once hot.
  traces.push(['default', run({ arch: 'x86_64' }, base)] as const);

  it('one KVM_EXIT_MMIO per load, taken before the instruction did anything, then HLT', () => {
    for (const [name, t] of traces) {
      expect(t.end, name).toBe('hlt');
      const mmio = t.exits.filter((x) => x.exit.reason === 'mmio');
      expect(mmio.length, name).toBe(3 * 10);
      // The 9th load of each round is mov rbx, [rbx]: RBX is still the address at its exit.
      for (let r = 0; r < 3; r++) {
        const x = mmio[r * 10 + 9]!;
        expect(x.exit.physAddr, name).toBe('0x' + MMIO_BASE.toString(16));
        expect(BigInt(x.regs.rbx!), name).toBe(BigInt.asUintN(64, base));
        expect(BigInt(x.regs.rip!) - BigInt(CODE), name).toBe(0x52n); // mov rbx, [rbx]
      }
    }
  });

  it('the values userspace answered, the same under every engine', () => {
    const [, ref] = traces[0]!;
    const dv = Buffer.from(ref.data, 'hex');
    const q = (off: number) => dv.readBigUInt64LE(off);
    const p = MMIO_BASE;
    for (let r = 0; r < 3; r++) {
      const o = r * 80;
      expect(q(o + 0)).toBe(le(p, 4)); // mov eax, [rbx]
      expect(q(o + 8)).toBe(le(p + 8, 8)); // mov rcx, [rbx+8]
      expect(q(o + 16)).toBe(BigInt(byteAt(p + 1))); // movzx edx, byte [rbx+1]
      expect(q(o + 24)).toBe(sx(le(p + 2, 2), 16)); // movsx rsi, word [rbx+2]
      expect(q(o + 32)).toBe(sx(le(p + 4, 4), 32)); // movsxd rdi, dword [rbx+4]
      expect(q(o + 40)).toBe(0x1111111111111100n | BigInt(byteAt(p + 5))); // mov r12b, [rbx+5]
      const cmp = BigInt.asUintN(32, le(p + 12, 4) - 0x2dn);
      expect((q(o + 48) >> 6n) & 1n).toBe(cmp === 0n ? 1n : 0n); // ZF of cmp dword [rbx+12], 0x2d
      expect((q(o + 48) >> 7n) & 1n).toBe(cmp >> 31n); // SF
      expect((q(o + 48) & 1n)).toBe(le(p + 12, 4) < 0x2dn ? 1n : 0n); // CF
      expect((q(o + 56) >> 6n) & 1n).toBe(byteAt(p + 13) & 0x80 ? 0n : 1n); // ZF of test byte [rbx+13], 0x80
      expect(q(o + 64) & 1n).toBe(0x1234n < le(p + 16, 8) ? 1n : 0n); // CF of cmp r10, [rbx+16]
      expect(q(o + 72)).toBe(le(p, 8)); // mov rbx, [rbx]
    }
    for (const [name, t] of traces.slice(1)) {
      expect(t.data, name).toBe(ref.data);
      expect(t.exits.map((x) => [x.exit, x.regs.rip, x.regs.rbx, x.regs.rax, x.regs.rcx, x.regs.rdx, x.regs.r12, BigInt(x.regs.rflags!) & ARITH]), name).toEqual(
        ref.exits.map((x) => [x.exit, x.regs.rip, x.regs.rbx, x.regs.rax, x.regs.rcx, x.regs.rdx, x.regs.r12, BigInt(x.regs.rflags!) & ARITH]),
      );
    }
  });
});
