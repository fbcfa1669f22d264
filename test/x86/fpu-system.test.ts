/**
 * x87/SSE/XSAVE as the operating system sees them (the guest test/guests/x86/kernel/fpusys.asm,
 * in the kernel half at CPL 0 and from the low half at CPL 3, under the interpreter and the block
 * JIT): the vector each probed instruction raises under CR0.EM/TS/MP, CR4.OSFXSR/OSXMMEXCPT/
 * OSXSAVE, a pending x87 exception and an unmasked SIMD exception (with the saved RIP on the
 * instruction), XSETBV/XGETBV operand checks, XSAVE/XRSTOR/XSAVEC alignment, headers and images,
 * CPUID.1:ECX.OSXSAVE following CR4; and, as KVM does, CR4.OSXSAVE reserved for a guest whose
 * CPUID (KVM_SET_CPUID2) has no XSAVE. Expectations are the SDM's exception tables.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Kvm, type VcpuExit } from '../../src/index.js';
import { engineSys, X86_ENGINES, x86JitStats } from '../helpers/engines.js';
import { CODE, DATA, enterMode, RAM, STACK, writeGdt, writePageTables } from '../helpers/x86.js';
import { runToExit } from '../helpers/run.js';

const GUEST = new Uint8Array(readFileSync(resolve(__dirname, '../guests/x86/kernel/fpusys.bin')));
const RES = 0x100;
const VAL = 0x800;

const NONE = 0xff;
/** A fault with the saved RIP on the probed instruction. */
const F = (vec: number, code = 0) => vec | 0x100 | (code << 16);
const UD = F(6), NM = F(7), GP0 = F(13, 0), MF = F(16), XM = F(19);

/** The probes, in the guest's order (T0, T1, ...). */
const PROBES: [string, number][] = [
  ['OSFXSR=0: MOVAPS', UD],
  ['OSFXSR=0: FXSAVE', NONE],
  ['OSFXSR=0: PADDB mm', NONE],
  ['OSFXSR=0: EMMS', NONE],
  ['OSXSAVE=0: XGETBV', UD],
  ['OSXSAVE=0: XSETBV', UD],
  ['OSXSAVE=0: XSAVE', UD],
  ['MOV CR4 (OSXSAVE)', NONE],
  ['XGETBV 0', NONE],
  ['XGETBV 1', GP0],
  ['XSETBV 0', GP0],
  ['XSETBV SSE only', GP0],
  ['XSETBV AVX', GP0],
  ['XSETBV bit 32', GP0],
  ['XSETBV XCR1', GP0],
  ['XSETBV x87|SSE', NONE],
  ['TS: FLD1', NM],
  ['TS+MP: FWAIT', NM],
  ['TS: FNSTSW', NM],
  ['TS: MOVAPS', NM],
  ['TS: PADDB mm', NM],
  ['TS: EMMS', NM],
  ['TS: FXSAVE', NM],
  ['TS: XSAVE', NM],
  ['TS: LDMXCSR', NM],
  ['TS: XGETBV', NONE],
  ['TS, MP=0: FWAIT', NONE],
  ['CLTS', NONE],
  ['after CLTS: FLD1', NONE],
  ['EM: FLD1', NM],
  ['EM: MOVAPS', UD],
  ['EM: PADDB mm', UD],
  ['EM: FXSAVE', NM],
  ['EM: XSAVE', NONE],
  ['EM: FWAIT', NONE],
  ['EM: LDMXCSR', UD],
  ['unmasked #Z: FDIVP', NONE],
  ['pending: FNSTSW', NONE],
  ['pending: FWAIT', MF],
  ['pending: FLD1', MF],
  ['pending: PADDB mm', MF],
  ['pending: EMMS', MF],
  ['pending: MOVAPS', NONE],
  ['pending: FXSAVE', NONE],
  ['pending: FINIT', MF],
  ['pending: FNCLEX', NONE],
  ['after FNCLEX: FWAIT', NONE],
  ['ZM=0: DIVSS by 0', XM],
  ['ZM=0, OSXMMEXCPT=0: DIVSS by 0', UD],
  ['masked: DIVSS by 0', NONE],
  ['LDMXCSR reserved bit', GP0],
  ['XSAVE misaligned', GP0],
  ['FXSAVE misaligned', GP0],
  ['XSAVE', NONE],
  ['XRSTOR', NONE],
  ['XRSTOR XSTATE_BV outside XCR0', GP0],
  ['XRSTOR reserved header byte', GP0],
  ['XRSTOR reserved MXCSR bit', GP0],
  ['XRSTOR XSTATE_BV=0', NONE],
  ['XSAVEC', NONE],
  ['XRSTOR compacted', NONE],
  ['XSETBV x87 only', NONE],
  ['XCR0=1: MOVAPS', NONE],
  ['XCR0=1: XSAVE', NONE],
  ['CPL3, TS: FLD1', NM],
  ['CPL3, TS: MOVAPS', NM],
  ['CPL3: XGETBV', NONE],
  ['CPL3: XSETBV', GP0],
  ['CPL3: CLTS', GP0],
  ['CPL3: DIVSS by 0, ZM=0', XM],
  ['CPL3: pending x87 exception, FWAIT', MF],
  ['CPL3: XSAVE', NONE],
];

const hex = (v: bigint | number) => '0x' + v.toString(16);

function run(engine: (typeof X86_ENGINES)[number], withCpuid: boolean) {
  const sys = engineSys(engine);
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const ram = sys.alloc(RAM);
  writeGdt(ram.bytes);
  writePageTables(ram.bytes);
  ram.bytes.set(GUEST, CODE);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  if (withCpuid) vcpu.setCpuid2(kvm.supportedCpuid());
  enterMode(vcpu, 'long64');
  vcpu.setRegs({ rip: BigInt(CODE), rsp: BigInt(STACK), rflags: 2n });
  let exit: VcpuExit | unknown;
  try {
    exit = runToExit(vcpu); // loops on the 100 ms KVM_RUN bound's EINTR (many JIT compiles)
  } catch (e) {
    exit = e;
  }
  const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset + DATA);
  const q = (off: number) => dv.getBigUint64(off, true);
  return { sys, vcpu, exit, q, res: (n: number) => Number(q(RES + 8 * n)), val: (n: number) => q(VAL + 8 * n) };
}

describe.each(X86_ENGINES.map((e) => [e.name, e] as const))('x87/SSE/XSAVE system behaviour (%s)', (_name, engine) => {
  const r = run(engine, true);

  it('runs to its HLT with every probe done and no unexpected exception', () => {
    expect(r.exit).toMatchObject({ reason: 'hlt' });
    expect(r.q(0x20), `unexpected exception, frame word 0x${r.q(0x28).toString(16)}`).toBe(0n);
    expect(Number(r.q(0x30))).toBe(PROBES.length);
    const st = x86JitStats(r.sys, r.vcpu.fd);
    if (st) expect(st.failed).toBe(0);
  });

  it('each probe raises the SDM exception, with RIP on the instruction', () => {
    const got = PROBES.map(([name], n) => `T${n} ${name}: ${hex(r.res(n))}`);
    const want = PROBES.map(([name, v], n) => `T${n} ${name}: ${hex(v)}`);
    expect(got).toEqual(want);
  });

  it('CPUID.1 advertises x87/MMX/FXSR/SSE..SSE4.2/XSAVE; ECX.OSXSAVE follows CR4', () => {
    const ecx0 = Number(r.val(0)), edx = Number(r.val(1)), ecx1 = Number(r.val(2));
    for (const b of [0, 23, 24, 25, 26]) expect((edx >>> b) & 1, `EDX bit ${b}`).toBe(1);
    for (const b of [0, 9, 19, 20, 26]) expect((ecx0 >>> b) & 1, `ECX bit ${b}`).toBe(1);
    expect((ecx0 >>> 27) & 1).toBe(0);
    expect((ecx1 >>> 27) & 1).toBe(1);
  });

  it('XCR0 is x87 at reset and x87|SSE after XSETBV; CLTS clears CR0.TS', () => {
    expect([r.val(3), r.val(4), r.val(5)]).toEqual([1n, 0n, 3n]);
    expect(r.val(6) & 8n).toBe(0n);
  });

  it('an unmasked x87 exception is pending in FSW (ES, B, ZE) without a fault of its own', () => {
    expect(r.val(7) & 0x80ffn).toBe(0x8084n);
  });

  it('#XM leaves the destination and sets the MXCSR flag; masked, the result is infinity', () => {
    expect([hex(r.val(8)), hex(r.val(9)), hex(r.val(10))]).toEqual(['0x1d84', '0x3f800000', '0x7f800000']);
  });

  it('XSAVE stores XSTATE_BV, MXCSR and XMM; XRSTOR brings them back', () => {
    expect([r.val(11), r.val(12), r.val(13), r.val(14)].map(hex)).toEqual(['0x3', '0x0', '0x9f80', '0x123456789abcdef']);
    expect([r.val(15), r.val(16), r.val(17), r.val(18)].map(hex)).toEqual(['0x123456789abcdef', '0x9f80', '0x400921fb54442d18', '0x3ff0000000000000']);
  });

  it('XRSTOR with XSTATE_BV = 0 initialises x87 and XMM (MXCSR still loaded, standard form)', () => {
    expect([r.val(19), r.val(20), r.val(21), r.val(22)].map(hex)).toEqual(['0x0', '0x37f', '0x0', '0x9f80']);
  });

  it('XSAVEC writes the compacted header with the init optimisation; XRSTOR takes it', () => {
    expect([r.val(23), r.val(24), r.val(25)].map(hex)).toEqual(['0x2', '0x8000000000000003', '0x9f80']);
  });

  it('with XCR0 = x87, XSAVE leaves the XMM area alone; at CPL 3 it saves SSE state', () => {
    expect(hex(r.val(26))).toBe('0xaaaaaaaaaaaaaaaa');
    expect(r.val(27) & 2n).toBe(2n);
  });

  it('without XSAVE in the guest CPUID, CR4.OSXSAVE is reserved (#GP), as KVM makes it', () => {
    const n = run(engine, false);
    expect(n.exit).toMatchObject({ reason: 'hlt' });
    expect(n.q(0x30)).toBe(BigInt.asUintN(64, -1n));
    expect(hex(n.res(7))).toBe(hex(GP0));
    // CPUID is all zeros for such a guest.
    expect(n.val(0)).toBe(0n);
  });
});
