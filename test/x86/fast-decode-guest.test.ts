/**
 * The decoder's fast path in a guest: 66-prefixed forms (operand size), NOPs (90, 66 90,
 * 0F 1F /0), XCHG r8d (41 90), memory operands and a 64-bit LEA, run as first-run streamed code
 * (interpreter) and as cached/translated blocks (JIT at hotness 0), at a kernel-half address at
 * CPL 0 and at a user address at CPL 3. The reference is the same program with a DS override
 * (3E, no effect in 64-bit mode on these operands) in front of every instruction, which the fast
 * path leaves to the full decoder: both must end with the same registers, flags and memory, and
 * a few values are checked outright.
 */
import { describe, expect, it } from 'vitest';
import { engineSys, X86_ENGINES } from '../helpers/engines.js';
import { runToExit } from '../helpers/run.js';
import { exitLine, halfGuest, KBASE, le32, MMIO_BASE, regsButRip, STACK } from '../helpers/x86.js';

const CODE_OFF = 0x10000;
const DATA_OFF = 0x30000;

/** The program, one instruction per entry (its data page in RBX). Ends with an MMIO store (an exit at any CPL). */
const PROGRAM: number[][] = [
  [0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11], // mov rax, 0x1122334455667788
  [0x48, 0xb9, 0x00, 0x00, 0xdd, 0xcc, 0xbb, 0xaa, 0x99, 0x88], // mov rcx, 0x8899aabbccdd0000
  [0x49, 0xc7, 0xc0, 0x44, 0x33, 0x22, 0x11], // mov r8, 0x11223344
  [0x66, 0x05, 0x34, 0x12], // add ax, 0x1234
  [0x66, 0x89, 0x43, 0x08], // mov [rbx+8], ax
  [0x66, 0x8b, 0x4b, 0x08], // mov cx, [rbx+8]
  [0x66, 0xc1, 0xe1, 0x04], // shl cx, 4
  [0x90], // nop
  [0x66, 0x90], // nop (66 90)
  [0x0f, 0x1f, 0x44, 0x00, 0x00], // nop dword [rax+rax]
  [0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00], // nop word [rax+rax]
  [0x41, 0x90], // xchg r8d, eax
  [0x66, 0x41, 0x90], // xchg r8w, ax
  [0x66, 0x83, 0xc2, 0xff], // add dx, -1
  [0x66, 0xba, 0x34, 0x12], // mov dx, 0x1234
  [0x66, 0xf7, 0xd2], // not dx
  [0x66, 0x48, 0x01, 0xc2], // add rdx, rax (REX.W wins over 66)
  [0x48, 0x8d, 0x84, 0x1b, 0x00, 0x01, 0x00, 0x00], // lea rax, [rbx+rbx+0x100]
  [0x48, 0x89, 0x43, 0x10], // mov [rbx+0x10], rax
  [0x66, 0xc7, 0x43, 0x18, 0xcd, 0xab], // mov word [rbx+0x18], 0xabcd
  [0x66, 0xff, 0x43, 0x18], // inc word [rbx+0x18]
  [0xeb, 0x00], // jmp +0 (a block end: the stream goes on)
  [0x66, 0x0f, 0xaf, 0xca], // imul cx, dx
  [0x66, 0x89, 0x4b, 0x20], // mov [rbx+0x20], cx
  [0x9c], // pushfq
  [0x8f, 0x43, 0x28], // pop qword [rbx+0x28]
  [0x88, 0x04, 0x25, ...le32(MMIO_BASE)], // mov [MMIO_BASE], al: the exit
];

interface Outcome {
  exit: string;
  regs: Record<string, string>;
  data: string;
}

/**
 * Runs PROGRAM (`override`: 3E before each instruction) at CPL 0 in the kernel half or at CPL 3
 * in the low half (pages user-accessible), under `engine`; returns the final state.
 */
function run(engine: (typeof X86_ENGINES)[number], cpl3: boolean, override: boolean): Outcome {
  const code = PROGRAM.flatMap((insn) => (override ? [0x3e, ...insn] : [...insn]));
  const { vcpu, ram, base } = halfGuest(engineSys(engine), code, CODE_OFF, cpl3);
  const m = ram.bytes;
  vcpu.setRegs({ rip: base + BigInt(CODE_OFF), rsp: base + BigInt(STACK), rbx: base + BigInt(DATA_OFF), rdx: 0x7777n, rflags: 2n });
  const e = runToExit(vcpu);
  const regs = regsButRip(vcpu); // RIP differs: the reference program is longer (its prefixes)
  const data = Buffer.from(m.subarray(DATA_OFF, DATA_OFF + 0x30)).toString('hex');
  return { exit: exitLine(e), regs, data };
}

describe.each(X86_ENGINES.map((e) => [e.name, e] as const))('fast-path forms in a guest (%s)', (_name, engine) => {
  for (const cpl3 of [false, true]) {
    it(`${cpl3 ? 'CPL 3, user half' : 'CPL 0, kernel half'}: the same state as the full decoder's`, () => {
      const fast = run(engine, cpl3, false);
      const full = run(engine, cpl3, true);
      expect(fast.exit).toBe(`mmio w ${MMIO_BASE.toString(16)} 1`);
      expect(fast).toEqual(full);
      const base = cpl3 ? 0n : KBASE;
      const dataLin = base + BigInt(DATA_OFF);
      // add ax, 0x1234 kept the high 48 bits; the word store and load; shl cx, 4 of 0x89bc.
      const word = (off: number) => fast.data.slice(off * 2, off * 2 + 4);
      expect(word(8)).toBe('bc89');
      // lea rax, [rbx+rbx+0x100]: exact modulo 2^64 in the kernel half.
      expect(fast.data.slice(0x10 * 2, 0x18 * 2)).toBe(Buffer.from(new BigUint64Array([BigInt.asUintN(64, 2n * dataLin + 0x100n)]).buffer).toString('hex'));
      expect(word(0x18)).toBe('ceab'); // 0xabcd + 1
      // xchg r8d, eax (41 90: 32 bits, zero-extended) then xchg r8w, ax: r8 = 0x5566 (eax's) : 0x3344 (the old r8's).
      expect(fast.regs.r8).toBe('55663344');
      // rcx: 0x8899aabbccdd, low word 0x89bc << 4 = 0x9bc0, then imul cx, dx.
      expect(fast.regs.rcx!.slice(0, 12)).toBe('8899aabbccdd');
    });
  }
});
