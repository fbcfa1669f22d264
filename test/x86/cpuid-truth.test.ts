/**
 * CPUID never advertises what the CPU does not run: for every feature bit of
 * KVM_GET_SUPPORTED_CPUID that brings instructions, a probe of them runs without #UD (a long-mode
 * guest with an IDT whose handlers report the vector), under both engines. A feature bit with
 * instructions and no probe here fails the test, so a newly advertised feature needs one.
 */
import { describe, expect, it } from 'vitest';
import { Kvm, virtualSys } from '../../src/index.js';
import { engineSys, X86_ENGINES } from '../helpers/engines.js';
import { CODE, enterMode, RAM, STACK, writeGdt, writePageTables } from '../helpers/x86.js';
import { runToExit } from '../helpers/run.js';

const HANDLER = 0x9000;
const IDT = 0x6000;
/** Where LSTAR points (SYSCALL's target): a HLT that counts as success. */
const SYSCALL_TARGET = 0xa000;
const BUF = 0x7000; // 64-byte aligned scratch (FXSAVE needs 16, XSAVE 64)

interface Probe {
  code: number[];
  /** CR4/EFER bits the instructions need enabled first. */
  cr4?: bigint;
  efer?: bigint;
}

/** [leaf, register, bit] -> probe; bits without instructions are listed in NO_INSTRUCTIONS. */
const PROBES: Record<string, Probe> = {
  '1.edx.0': { code: [0xd9, 0xe8, 0xdd, 0xd8] }, // FPU: fld1; fstp st0
  '1.edx.4': { code: [0x0f, 0x31] }, // TSC: rdtsc
  '1.edx.5': { code: [0xb9, 0x10, 0, 0, 0, 0x0f, 0x32] }, // MSR: mov ecx, 0x10; rdmsr
  '1.edx.8': { code: [0x0f, 0xc7, 0x0e] }, // CX8: cmpxchg8b [rsi]
  '1.edx.11': { code: [0x0f, 0x34] }, // SEP: sysenter (#GP with SYSENTER_CS 0, not #UD)
  '1.edx.15': { code: [0x0f, 0x44, 0xc3] }, // CMOV: cmovz eax, ebx
  '1.edx.19': { code: [0x0f, 0xae, 0x3e] }, // CLFSH: clflush [rsi]
  '1.edx.23': { code: [0x0f, 0xfc, 0xc1, 0x0f, 0x77] }, // MMX: paddb mm0, mm1; emms
  '1.edx.24': { code: [0x0f, 0xae, 0x06, 0x0f, 0xae, 0x0e] }, // FXSR: fxsave [rsi]; fxrstor [rsi]
  '1.edx.25': { code: [0x0f, 0x58, 0xc1] }, // SSE: addps xmm0, xmm1
  '1.edx.26': { code: [0x66, 0x0f, 0x58, 0xc1] }, // SSE2: addpd xmm0, xmm1
  '1.ecx.0': { code: [0xf2, 0x0f, 0xd0, 0xc1] }, // SSE3: addsubps xmm0, xmm1
  '1.ecx.9': { code: [0x66, 0x0f, 0x38, 0x00, 0xc1] }, // SSSE3: pshufb xmm0, xmm1
  '1.ecx.13': { code: [0x48, 0x0f, 0xc7, 0x0e] }, // CX16: cmpxchg16b [rsi]
  '1.ecx.19': { code: [0x66, 0x0f, 0x38, 0x17, 0xc1] }, // SSE4.1: ptest xmm0, xmm1
  '1.ecx.20': { code: [0x66, 0x0f, 0x38, 0x37, 0xc1] }, // SSE4.2: pcmpgtq xmm0, xmm1
  '1.ecx.22': { code: [0x0f, 0x38, 0xf0, 0x06] }, // MOVBE: movbe eax, [rsi]
  '1.ecx.23': { code: [0xf3, 0x0f, 0xb8, 0xc3] }, // POPCNT: popcnt eax, ebx
  '1.ecx.26': { code: [0x31, 0xc9, 0x0f, 0x01, 0xd0], cr4: 0x40000n }, // XSAVE: xor ecx, ecx; xgetbv (CR4.OSXSAVE)
  '0x80000001.ecx.0': { code: [0x9f] }, // LAHF/SAHF in 64-bit mode: lahf
  '0x80000001.ecx.5': { code: [0xf3, 0x0f, 0xbd, 0xc3] }, // ABM: lzcnt eax, ebx
  '0x80000001.edx.11': { code: [0x0f, 0x05], efer: 1n }, // SYSCALL: syscall (EFER.SCE; LSTAR -> a HLT)
  '0x80000001.edx.27': { code: [0x0f, 0x01, 0xf9] }, // RDTSCP
};

/** Advertised bits that bring no instruction of their own (modes, paging, MSRs, the APIC...). */
const NO_INSTRUCTIONS = new Set([
  '1.edx.1', '1.edx.2', '1.edx.3', '1.edx.6', '1.edx.9', '1.edx.12', '1.edx.13', '1.edx.16', // VME DE PSE PAE APIC MTRR PGE PAT
  '1.ecx.21', '1.ecx.31', // X2APIC (its MSRs), HYPERVISOR
  '0x80000001.edx.20', '0x80000001.edx.29', // NX, LM
]);

/** The advertised instruction-set bits: `leaf.reg.bit` for leaf 1 ECX/EDX and 0x80000001 ECX/EDX. */
function advertised(): string[] {
  const kvm = Kvm.open(virtualSys());
  const out: string[] = [];
  for (const e of kvm.supportedCpuid()) {
    if (e.function !== 1 && e.function !== 0x80000001) continue;
    const leaf = e.function === 1 ? '1' : '0x80000001';
    for (const reg of ['ecx', 'edx'] as const) for (let b = 0; b < 32; b++) if ((e[reg] >>> b) & 1) out.push(`${leaf}.${reg}.${b}`);
  }
  return out;
}

function probe(engineIdx: number, p: Probe): { rip: bigint; reason: string } {
  const sys = engineSys(X86_ENGINES[engineIdx]!);
  const vm = Kvm.open(sys).createVm();
  const ram = sys.alloc(RAM);
  const mem = ram.bytes;
  const dv = new DataView(mem.buffer, mem.byteOffset);
  mem.set([...p.code, 0xf4], CODE);
  writeGdt(mem);
  writePageTables(mem);
  mem[SYSCALL_TARGET] = 0xf4;
  for (let v = 0; v < 32; v++) {
    const h = HANDLER + 16 * v;
    mem[h] = 0xf4;
    dv.setUint16(IDT + 16 * v, h & 0xffff, true);
    dv.setUint16(IDT + 16 * v + 2, 0x18, true);
    dv.setUint16(IDT + 16 * v + 4, 0x8e00, true);
  }
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  vcpu.setCpuid2(Kvm.open(sys).supportedCpuid());
  enterMode(vcpu, 'long64');
  const s = vcpu.getSregs();
  vcpu.setSregs({ idt: { base: BigInt(IDT), limit: 32 * 16 - 1 }, cr4: s.cr4 | (p.cr4 ?? 0n), efer: s.efer | (p.efer ?? 0n) });
  vcpu.setMsrs([[0xc0000082, BigInt(SYSCALL_TARGET)]]); // LSTAR
  vcpu.setRegs({ rip: BigInt(CODE), rsp: BigInt(STACK), rflags: 2n, rsi: BigInt(BUF) });
  const e = runToExit(vcpu); // loops on the 100 ms KVM_RUN bound's EINTR
  return { reason: e.reason, rip: vcpu.getRegs().rip };
}

describe('CPUID advertises only what the CPU runs', () => {
  it('every advertised bit is probed here or brings no instruction', () => {
    const missing = advertised().filter((k) => !PROBES[k] && !NO_INSTRUCTIONS.has(k));
    expect(missing).toEqual([]);
  });

  describe.each(X86_ENGINES.map((e, i) => [e.name, i] as const))('%s', (_n, eng) => {
    const check = (k: string) => {
      const r = probe(eng, PROBES[k]!);
      expect(r.reason).toBe('hlt');
      expect(r.rip, `ended in the handler of vector ${(Number(r.rip) - HANDLER - 1) / 16}`).not.toBe(BigInt(HANDLER + 16 * 6 + 1));
    };
    it.each(advertised().filter((k) => PROBES[k]))('%s: its instructions do not #UD', check);
  });
});
