/**
 * Cold code's one-pass forms (src/arch/x86/quick.ts) in a guest: register ALU/TEST/CMP (32 and
 * 64 bits, REX.R/REX.B registers, every ALU operation incl. ADC/SBB after a carry), ALU with
 * Iz/Ib, INC/DEC, MOV reg/reg, imm32, imm64, LEA (SIB, no base, disp8/disp32, RIP-relative, a
 * 32-bit destination), MOV to and from memory (SIB, disp8/disp32, RIP-relative; a TLB miss, a
 * page-crossing load, an MMIO load that exits), Jcc/JMP rel8 and rel32 taken and not taken,
 * shifts by an immediate or one, and the flags the inline ALU and 32-bit shift forms record
 * (PUSHF and Jcc of each condition after them), run as first-run streamed code and as
 * cached/translated blocks, at a kernel-half address at CPL 0 and at a user address at CPL 3.
 * The reference is the same program with a DS override (3E) before every instruction, which the
 * one-pass forms leave to the decoder and the handlers: both must end with the same registers,
 * flags and memory.
 */
import { describe, expect, it } from 'vitest';
import { engineSys, X86_ENGINES } from '../helpers/engines.js';
import { runToExit } from '../helpers/run.js';
import { exitLine, halfGuest, KBASE, le32, MMIO_BASE, regsButRip, STACK } from '../helpers/x86.js';

const CODE_OFF = 0x10000;
const DATA_OFF = 0x30000;

/** An instruction, or a branch over the next `skip` instructions (its rel filled in at layout). */
type Entry = number[] | { branch: number[]; rel32: boolean; skip: number };

/** An instruction every branch skips: R12 counts the ones that ran (none). */
const POISON = [0x49, 0xff, 0xc4]; // inc r12

/** Counts the Jcc probes that fell through (LEA: flags unchanged). */
const BUMP = [0x4d, 0x8d, 0x6d, 0x01]; // lea r13, [r13+1]

/** PUSHF into slot `k` of the data page (0x200 + 8k), then each Jcc of `ccs` over a BUMP. */
function probe(k: number, ccs: number[]): Entry[] {
  const out: Entry[] = [[0x9c], [0x8f, 0x83, ...le32(0x200 + 8 * k)]]; // pushfq; pop qword [rbx+0x200+8k]
  for (const cc of ccs) out.push({ branch: [cc], rel32: false, skip: 1 }, BUMP);
  return out;
}

const PROGRAM: Entry[] = [
  [0x48, 0xb8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x81], // mov rax, 0x8122334455667788
  [0x49, 0xb9, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00], // mov r9, 0xffffffff
  [0xb9, 0xf0, 0xff, 0xff, 0xff], // mov ecx, 0xfffffff0
  [0x41, 0xba, 0x01, 0x00, 0x00, 0x80], // mov r10d, 0x80000001
  [0x48, 0x01, 0xc1], // add rcx, rax
  [0x4c, 0x01, 0xc8], // add rax, r9 (REX.R)
  [0x48, 0x11, 0xc2], // adc rdx, rax
  [0x4d, 0x19, 0xd1], // sbb r9, r10 (REX.R, REX.B)
  [0x31, 0xc8], // xor eax, ecx
  [0x48, 0x33, 0xd1], // xor rdx, rcx (Gv,Ev)
  [0x21, 0xd1], // and ecx, edx
  [0x48, 0x09, 0xc6], // or rsi, rax
  [0x48, 0x29, 0xf7], // sub rdi, rsi
  [0x4c, 0x2b, 0xc7], // sub r8, rdi
  [0x48, 0x39, 0xc1], // cmp rcx, rax
  { branch: [0x73], rel32: false, skip: 1 }, // jae
  POISON,
  [0x85, 0xc9], // test ecx, ecx
  [0x48, 0x85, 0xc0], // test rax, rax
  [0xa9, 0x00, 0x00, 0x00, 0x80], // test eax, 0x80000000
  [0x48, 0xa9, 0x00, 0x00, 0x00, 0x80], // test rax, -0x80000000
  [0x05, 0xff, 0xff, 0xff, 0x7f], // add eax, 0x7fffffff
  [0x48, 0x2d, 0x01, 0x00, 0x00, 0x80], // sub rax, -0x7fffffff
  [0x15, 0x01, 0x00, 0x00, 0x00], // adc eax, 1
  [0x48, 0x3d, 0x00, 0x01, 0x00, 0x00], // cmp rax, 0x100
  { branch: [0x0f, 0x84], rel32: true, skip: 1 }, // je rel32
  [0x48, 0x81, 0xc3, 0x00, 0x10, 0x00, 0x00], // add rbx, 0x1000 (then back)
  [0x48, 0x81, 0xeb, 0x00, 0x10, 0x00, 0x00], // sub rbx, 0x1000
  [0x41, 0x81, 0xf2, 0x78, 0x56, 0x34, 0x12], // xor r10d, 0x12345678
  [0x48, 0x83, 0xe0, 0xf0], // and rax, -16
  [0x83, 0xc9, 0x81], // or ecx, -127
  [0x49, 0x83, 0xd1, 0x7f], // adc r9, 127
  [0x83, 0xfa, 0x05], // cmp edx, 5
  { branch: [0x7f], rel32: false, skip: 1 }, // jg
  POISON,
  [0x48, 0xff, 0xc0], // inc rax
  [0xff, 0xc9], // dec ecx
  [0x49, 0xff, 0xc9], // dec r9
  [0x49, 0x89, 0xc6], // mov r14, rax
  [0x89, 0xcf], // mov edi, ecx
  [0x4d, 0x8b, 0xf9], // mov r15, r9
  [0x44, 0x8b, 0xd8], // mov r11d, eax
  [0x48, 0x8d, 0x84, 0x9b, 0x00, 0x01, 0x00, 0x00], // lea rax, [rbx+rbx*4+0x100]
  [0x48, 0x8d, 0x4b, 0xf8], // lea rcx, [rbx-8]
  [0x8d, 0x14, 0x8d, 0x10, 0x00, 0x00, 0x00], // lea edx, [rcx*4+0x10] (no base)
  [0x4c, 0x8d, 0x05, 0x10, 0x00, 0x00, 0x00], // lea r8, [rip+0x10]
  [0x4a, 0x8d, 0x34, 0x08], // lea rsi, [rax+r9] (REX.X)
  [0x41, 0xbd, 0x02, 0x00, 0x00, 0x00], // mov r13d, 2
  [0x48, 0x89, 0x5b, 0x18], // mov [rbx+0x18], rbx (the first store to the page: a TLB miss)
  [0x4a, 0x89, 0x44, 0xeb, 0x20], // mov [rbx+r13*8+0x20], rax (REX.X)
  [0x89, 0x93, 0x00, 0x01, 0x00, 0x00], // mov [rbx+0x100], edx (disp32)
  [0x48, 0x8b, 0x7b, 0x18], // mov rdi, [rbx+0x18]
  [0x46, 0x8b, 0x5c, 0xeb, 0x20], // mov r11d, [rbx+r13*8+0x20] (REX.R, REX.X)
  [0x4c, 0x8b, 0x73, 0x20], // mov r14, [rbx+0x20] (a TLB hit)
  [0x48, 0x89, 0x53, 0x28], // mov [rbx+0x28], rdx (a TLB hit)
  [0x48, 0x01, 0x43, 0x28], // add [rbx+0x28], rax (ALU with memory: the ordinary path)
  [0x48, 0x2b, 0x4b, 0x18], // sub rcx, [rbx+0x18]
  [0x83, 0x43, 0x30, 0x05], // add dword [rbx+0x30], 5
  [0xff, 0x43, 0x30], // inc dword [rbx+0x30]
  [0x48, 0x39, 0x43, 0x28], // cmp [rbx+0x28], rax
  [0x4c, 0x8b, 0xa3, 0xfc, 0x0f, 0x00, 0x00], // mov r12, [rbx+0xffc] (crosses into the next page)
  [0x4c, 0x89, 0xa3, 0x40, 0x00, 0x00, 0x00], // mov [rbx+0x40], r12
  [0x45, 0x31, 0xe4], // xor r12d, r12d
  [0x48, 0xc1, 0xe0, 0x05], // shl rax, 5
  [0xc1, 0xe9, 0x03], // shr ecx, 3
  [0x48, 0xc1, 0xfa, 0x21], // sar rdx, 33
  [0x49, 0xd1, 0xe0], // shl r8, 1
  [0xd1, 0xfe], // sar esi, 1
  [0x48, 0xc1, 0xea, 0x00], // shr rdx, 0 (flags unchanged)
  [0x48, 0x39, 0xc0], // cmp rax, rax
  { branch: [0x75], rel32: false, skip: 0 }, // jne (not taken)
  { branch: [0xeb], rel32: false, skip: 1 }, // jmp rel8
  POISON,
  { branch: [0xe9], rel32: true, skip: 1 }, // jmp rel32
  POISON,
  [0x48, 0x89, 0x43, 0x08], // mov [rbx+8], rax
  // Each flag of the inline ALU and 32-bit shift records, as PUSHF and every Jcc read them.
  [0xb9, 0x01, 0x00, 0x00, 0x80], // mov ecx, 0x80000001
  [0xd1, 0xe1], // shl ecx, 1 (CF, OF)
  ...probe(0, [0x72, 0x70, 0x74, 0x7a]), // jc, jo, je, jp
  [0xb9, 0x03, 0x00, 0x00, 0x80], // mov ecx, 0x80000003
  [0xd1, 0xe9], // shr ecx, 1 (CF, OF from the sign)
  ...probe(1, [0x70, 0x75, 0x78]), // jo, jne, js
  [0xb9, 0x00, 0x00, 0x00, 0xc0], // mov ecx, 0xc0000000
  [0xc1, 0xf9, 0x1f], // sar ecx, 31
  ...probe(2, [0x72, 0x74, 0x78, 0x7c]), // jc, je, js, jl
  [0xc1, 0xe1, 0x1f], // shl ecx, 31
  ...probe(3, [0x72, 0x70, 0x7e]), // jc, jo, jle
  [0xb8, 0xff, 0xff, 0xff, 0x7f], // mov eax, 0x7fffffff
  [0x05, 0x01, 0x00, 0x00, 0x00], // add eax, 1 (OF, SF, AF)
  ...probe(4, [0x70, 0x78, 0x7c, 0x7a]), // jo, js, jl, jp
  [0x2d, 0x01, 0x00, 0x00, 0x80], // sub eax, 0x80000001 (borrow)
  ...probe(5, [0x72, 0x76, 0x7c, 0x7e, 0x74]), // jb, jbe, jl, jle, je
  [0xa9, 0xff, 0xff, 0xff, 0xff], // test eax, -1
  ...probe(6, [0x74, 0x75, 0x78, 0x7a]), // je, jne, js, jp
  [0x48, 0x01, 0xc0], // add rax, rax (a carry out of 64 bits)
  ...probe(7, [0x72, 0x74, 0x78, 0x70]), // jc, je, js, jo
  [0x48, 0x83, 0xf8, 0xff], // cmp rax, -1
  ...probe(8, [0x72, 0x7c, 0x7e, 0x76]), // jb, jl, jle, jbe
  [0x41, 0x81, 0xe5, 0x00, 0x00, 0x00, 0x00], // and r13d, 0 (ZF from a logic result)
  ...probe(9, [0x74, 0x75, 0x7a, 0x72]), // je, jne, jp, jc
  [0x9c], // pushfq
  [0x8f, 0x43, 0x10], // pop qword [rbx+0x10]
  [0x8b, 0x04, 0x25, ...le32(MMIO_BASE)], // mov eax, [MMIO_BASE]: the exit (a load the TLB does not map)
];

/** The program's bytes (`override`: 3E before each instruction), branch displacements resolved. */
function layout(override: boolean): number[] {
  const len = (e: Entry) => (override ? 1 : 0) + (Array.isArray(e) ? e.length : e.branch.length + (e.rel32 ? 4 : 1));
  const out: number[] = [];
  PROGRAM.forEach((e, k) => {
    if (override) out.push(0x3e);
    if (Array.isArray(e)) return void out.push(...e);
    let rel = 0;
    for (let j = 1; j <= e.skip; j++) rel += len(PROGRAM[k + j]!);
    out.push(...e.branch, ...(e.rel32 ? le32(rel) : [rel]));
  });
  return out;
}

interface Outcome {
  exit: string;
  regs: Record<string, string>;
  data: string;
}

/** Runs PROGRAM at CPL 0 in the kernel half or at CPL 3 in the low half, under `engine`. */
function run(engine: (typeof X86_ENGINES)[number], cpl3: boolean, override: boolean): Outcome {
  const { vcpu, ram, base } = halfGuest(engineSys(engine), layout(override), CODE_OFF, cpl3);
  const m = ram.bytes;
  vcpu.setRegs({ rip: base + BigInt(CODE_OFF), rsp: base + BigInt(STACK), rbx: base + BigInt(DATA_OFF), rdx: 0x7777n, rsi: 0x5555_0000_1234n, rdi: 0xdead_beef_0000n, rflags: 2n });
  const e = runToExit(vcpu);
  const regs = regsButRip(vcpu); // RIP differs: the reference program is longer (its prefixes)
  // lea r8, [rip+0x10] differs by the prefixes before it: compared on its own below.
  const data = Buffer.from(m.subarray(DATA_OFF, DATA_OFF + 0x1010)).toString('hex');
  return { exit: exitLine(e), regs, data };
}

/** The RIP-relative LEA and load alone (and a 32-bit LEA destination): r8 = the next RIP + 0x10, edx zero-extended. */
function ripRel(engine: (typeof X86_ENGINES)[number], cpl3: boolean): { r8: bigint; rdx: bigint; rcx: bigint; expect: bigint } {
  // lea r8, [rip+0x10]; lea edx, [rsp-1]; mov rcx, [rip-7] (its own bytes); the exit.
  const code = [0x4c, 0x8d, 0x05, 0x10, 0x00, 0x00, 0x00, 0x8d, 0x54, 0x24, 0xff, 0x48, 0x8b, 0x0d, 0xf9, 0xff, 0xff, 0xff, 0x88, 0x04, 0x25, ...le32(MMIO_BASE)];
  const { vcpu, base } = halfGuest(engineSys(engine), code, CODE_OFF, cpl3);
  vcpu.setRegs({ rip: base + BigInt(CODE_OFF), rsp: base + BigInt(STACK), rdx: 0xffff_ffff_ffff_ffffn, rflags: 2n });
  runToExit(vcpu);
  const r = vcpu.getRegs();
  return { r8: r.r8, rdx: r.rdx, rcx: r.rcx, expect: BigInt.asUintN(64, base + BigInt(CODE_OFF) + 7n + 0x10n) };
}

describe.each(X86_ENGINES.map((e) => [e.name, e] as const))('one-pass forms in a guest (%s)', (_name, engine) => {
  for (const cpl3 of [false, true]) {
    const where = cpl3 ? 'CPL 3, user half' : 'CPL 0, kernel half';
    it(`${where}: the same state as the decoder's and handlers'`, () => {
      const quick = run(engine, cpl3, false);
      const full = run(engine, cpl3, true);
      expect(quick.exit).toBe(`mmio r ${MMIO_BASE.toString(16)} 4`);
      // r8 holds a RIP-relative address (the prefixed program's is later): compared apart.
      expect(BigInt('0x' + quick.regs.r8!) - BigInt('0x' + full.regs.r8!)).toBeLessThan(0n);
      delete quick.regs.r8;
      delete full.regs.r8;
      expect(quick).toEqual(full);
      // Every branch skipped its POISON.
      expect(quick.regs.r12).toBe('0');
    });
    it(`${where}: RIP-relative LEA and MOV, 32-bit LEA`, () => {
      const r = ripRel(engine, cpl3);
      expect(r.r8).toBe(r.expect);
      expect(r.rdx).toBe(BigInt.asUintN(32, (cpl3 ? 0n : KBASE) + BigInt(STACK) - 1n));
      expect(r.rcx).toBe(0x88fffffff90d8b48n); // mov rcx, [rip-7]: its own 7 bytes and the next one
    });
  }
});
