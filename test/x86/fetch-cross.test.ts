/**
 * Instruction fetch across a page boundary: the decoder reads a code page's bytes directly (the
 * TLB's view of it) and must take the bytes past its end from the next linear page's own frame,
 * not from the physically next bytes. The guest maps linear 0x11000 to frame 0x30000 and puts an
 * instruction across 0x11000; frame 0x11000 holds other bytes. Under the interpreter and the JIT.
 */
import { describe, expect, it } from 'vitest';
import type { Vcpu } from '../../src/index.js';
import { engineSys, X86_ENGINES } from '../helpers/engines.js';
import { runToExit } from '../helpers/run.js';
import { longModeVcpu, STACK } from '../helpers/x86.js';

const PT = 0x5000;
const START = 0x10ff0;

/**
 * A long-mode VM whose first 2 MiB are 4 KiB pages (a page table at PT): identity, except linear
 * page 0x11000, whose PTE is `pte11`. `place` writes the code; then the vCPU starts at `rip`.
 */
function crossingVm(engine: (typeof X86_ENGINES)[number], pte11: bigint, place: (m: Uint8Array) => void, regs: Parameters<Vcpu['setRegs']>[0]): Vcpu {
  const { vcpu } = longModeVcpu(engineSys(engine), (m, dv) => {
    dv.setBigUint64(0x4000, BigInt(PT) | 3n, true);
    for (let i = 0; i < 512; i++) dv.setBigUint64(PT + 8 * i, i === 0x11 ? pte11 : (BigInt(i) << 12n) | 3n, true);
    place(m);
  });
  vcpu.setRegs({ rsp: BigInt(STACK), rflags: 2n, ...regs });
  return vcpu;
}

describe.each(X86_ENGINES.map((e) => [e.name, e] as const))('fetch across a page boundary (%s)', (_name, engine) => {
  it('takes the bytes past the page from the next page frame, every iteration', () => {
    // PD[0] -> a page table of 4 KiB pages: identity, except linear 0x11000 -> frame 0x30000.
    // 0x10ff0: mov ecx, 50; then (loop) 9 NOPs; mov rax, imm64 (48 b8 + 8 bytes) from 0x10ffe
    // (2 bytes on the first page); add rbx, rax; dec ecx; jnz loop; hlt.
    const code = [0xb9, 50, 0, 0, 0, ...Array(9).fill(0x90), 0x48, 0xb8, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x08, 0x48, 0x01, 0xc3, 0xff, 0xc9, 0x75, 0];
    code[code.length - 1] = (5 - code.length) & 0xff; // jnz back to the NOPs (offset 5)
    code.push(0xf4);
    expect(START + 14).toBe(0x10ffe);
    const first = 0x11000 - START;
    const vcpu = crossingVm(
      engine,
      0x30000n | 3n,
      (m) => {
        // Bytes on the first page at their frame; the rest at frame 0x30000. Frame 0x11000 gets
        // INT3s: reading it instead would not decode the same instruction.
        m.set(code.slice(0, first), START);
        m.set(code.slice(first), 0x30000);
        m.fill(0xcc, 0x11000, 0x11000 + code.length);
      },
      { rip: BigInt(START), rbx: 0n },
    );
    expect(runToExit(vcpu)).toMatchObject({ reason: 'hlt' });
    const r = vcpu.getRegs();
    expect(r.rax).toBe(0x0877665544332211n);
    expect(r.rbx).toBe((0x0877665544332211n * 50n) & 0xffffffffffffffffn);
    expect(r.rip).toBe(BigInt(0x11000 + code.length - first));
  });
  it('a fetch fault past the page end faults the crossing instruction: what ran before it retired', () => {
    // inc rcx; inc rcx; mov rax, imm64 from 0x10ffb (5 bytes on the first page); linear 0x11000
    // is not present. No IDT: #PF ends in a triple fault, with RIP on the mov and CR2 = 0x11000.
    // First sight (the interpreter runs it as it decodes) and a block cached at first sight (JIT).
    const start = 0x10ff5;
    const vcpu = crossingVm(engine, 0n, (m) => m.set([0x48, 0xff, 0xc1, 0x48, 0xff, 0xc1, 0x48, 0xb8, 1, 2, 3], start), { rip: BigInt(start), rcx: 0n, rax: 7n });
    expect(runToExit(vcpu)).toMatchObject({ reason: 'shutdown' });
    const r = vcpu.getRegs();
    expect(r.rip).toBe(0x10ffbn);
    expect(r.rcx).toBe(2n);
    expect(r.rax).toBe(7n);
    expect(vcpu.getSregs().cr2).toBe(0x11000n);
  });
});
