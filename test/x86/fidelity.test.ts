/**
 * x86 semantics an independent instruction suite found wrong, each against the SDM (a current
 * CPU, not the 8086) or against what KVM does (arch/x86/kvm/x86.c), under both engines:
 * DAS/AAS, BOUND with a register operand, LEAVE whose POP faults, SALC, page-table entries with
 * address bits above MAXPHYADDR, and host single-step over INS/OUTS, MOV SS/POP SS and HLT.
 */
import { describe, expect, it } from 'vitest';
import { Kvm, KVM_GUESTDBG, type Vcpu, type VcpuExit } from '../../src/index.js';
import { engineSys, X86_ENGINES } from '../helpers/engines.js';
import { CODE, enterMode, RAM, STACK, writeGdt, writePageTables, type Mode } from '../helpers/x86.js';

/** Where #UD/#SS/#PF handlers live: each is `hlt` at HANDLER + 16 * vector. */
const HANDLER = 0x9000;
const IDT = 0x6000;
const FLAG_CF = 1, FLAG_AF = 0x10;

function machine(engineIdx: number, mode: Mode, code: number[], setup?: (v: Vcpu, mem: Uint8Array) => void) {
  const sys = engineSys(X86_ENGINES[engineIdx]!);
  const vm = Kvm.open(sys).createVm();
  const ram = sys.alloc(RAM);
  const mem = ram.bytes;
  mem.set(code, CODE);
  writeGdt(mem);
  writePageTables(mem);
  const dv = new DataView(mem.buffer, mem.byteOffset);
  for (let v = 0; v < 32; v++) mem[HANDLER + 16 * v] = 0xf4; // hlt
  if (mode === 'real') {
    for (let v = 0; v < 32; v++) dv.setUint32(4 * v, HANDLER + 16 * v, true); // IVT: 0000:handler
  } else if (mode === 'long64') {
    for (let v = 0; v < 32; v++) {
      const h = HANDLER + 16 * v;
      dv.setUint16(IDT + 16 * v, h & 0xffff, true);
      dv.setUint16(IDT + 16 * v + 2, 0x18, true);
      dv.setUint16(IDT + 16 * v + 4, 0x8e00, true); // present, DPL 0, 64-bit interrupt gate
      dv.setUint16(IDT + 16 * v + 6, h >>> 16, true);
    }
  }
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  enterMode(vcpu, mode);
  if (mode === 'long64') vcpu.setSregs({ idt: { base: BigInt(IDT), limit: 32 * 16 - 1 } });
  vcpu.setRegs({ rip: BigInt(CODE), rsp: BigInt(STACK), rflags: 2n });
  setup?.(vcpu, mem);
  return { vcpu, mem, dv };
}

/** Runs to the first exit that is not a debug exit (or returns every exit with `all`). */
function runTo(vcpu: Vcpu, max = 16): VcpuExit {
  for (let n = 0; n < max; n++) {
    const e = vcpu.run();
    if (e.reason !== 'debug') return e;
  }
  throw new Error('no exit');
}

describe.each(X86_ENGINES.map((e, i) => [e.name, i] as const))('%s', (_name, eng) => {
  describe('BCD adjust as current CPUs do it', () => {
    it('DAS: CF also takes the borrow of AL - 6 (AL = 03h, AF = 1 gives FDh with CF = 1)', () => {
      const { vcpu } = machine(eng, 'real', [0x2f, 0xf4], (v) => v.setRegs({ rax: 0x03n, rflags: 2n | BigInt(FLAG_AF) }));
      expect(runTo(vcpu).reason).toBe('hlt');
      const r = vcpu.getRegs();
      expect(r.rax & 0xffn).toBe(0xfdn);
      expect(r.rflags & BigInt(FLAG_CF | FLAG_AF)).toBe(BigInt(FLAG_CF | FLAG_AF));
    });

    it('DAS without the adjustments leaves CF clear', () => {
      const { vcpu } = machine(eng, 'real', [0x2f, 0xf4], (v) => v.setRegs({ rax: 0x42n, rflags: 2n }));
      runTo(vcpu);
      const r = vcpu.getRegs();
      expect(r.rax & 0xffn).toBe(0x42n);
      expect(r.rflags & BigInt(FLAG_CF)).toBe(0n);
    });

    it('AAS: AX - 6 (the borrow reaches AH), then AH - 1 (AX = 0203h, AF = 1 gives 000Dh, not 8086\'s 010Dh)', () => {
      const { vcpu } = machine(eng, 'real', [0x3f, 0xf4], (v) => v.setRegs({ rax: 0x0203n, rflags: 2n | BigInt(FLAG_AF) }));
      runTo(vcpu);
      const r = vcpu.getRegs();
      expect(r.rax & 0xffffn).toBe(0x000dn);
      expect(r.rflags & BigInt(FLAG_CF | FLAG_AF)).toBe(BigInt(FLAG_CF | FLAG_AF));
    });

    it('AAA stays AX + 106h', () => {
      const { vcpu } = machine(eng, 'real', [0x37, 0xf4], (v) => v.setRegs({ rax: 0x00ffn, rflags: 2n }));
      runTo(vcpu);
      expect(vcpu.getRegs().rax & 0xffffn).toBe(0x0205n);
    });
  });

  describe('legacy instructions', () => {
    it('BOUND with a register operand (mod = 3) is #UD', () => {
      const { vcpu } = machine(eng, 'real', [0x62, 0xc0, 0xf4]); // bound ax, ax (mod=3)
      expect(runTo(vcpu).reason).toBe('hlt');
      expect(vcpu.getRegs().rip).toBe(BigInt(HANDLER + 16 * 6 + 1)); // the #UD handler's hlt
    });

    it('BOUND with a memory operand in range runs on', () => {
      const { vcpu, dv } = machine(eng, 'real', [0x62, 0x06, 0x00, 0x70, 0xf4], (v) => v.setRegs({ rax: 5n })); // bound ax, [0x7000]
      dv.setInt16(0x7000, 1, true);
      dv.setInt16(0x7002, 9, true);
      runTo(vcpu);
      expect(vcpu.getRegs().rip).toBe(BigInt(CODE + 5));
    });

    it('SALC sets AL from CF outside 64-bit mode', () => {
      const { vcpu } = machine(eng, 'real', [0xf9, 0xd6, 0x88, 0xc3, 0xf8, 0xd6, 0xf4]); // stc; salc; mov bl,al; clc; salc; hlt
      expect(runTo(vcpu).reason).toBe('hlt');
      const r = vcpu.getRegs();
      expect(r.rbx & 0xffn).toBe(0xffn);
      expect(r.rax & 0xffn).toBe(0n);
      expect(r.rip).toBe(BigInt(CODE + 7));
    });

    it('SALC is #UD in 64-bit mode', () => {
      const { vcpu } = machine(eng, 'long64', [0xd6, 0xf4]);
      expect(runTo(vcpu).reason).toBe('hlt');
      expect(vcpu.getRegs().rip).toBe(BigInt(HANDLER + 16 * 6 + 1));
    });

    it('LEAVE whose POP faults leaves RSP as it was (the #PF frame holds the old RSP)', () => {
      // rbp -> 1 GiB, past the identity map (PDPT[1] not present): the POP takes #PF.
      const { vcpu, dv } = machine(eng, 'long64', [0xc9, 0xf4], (v) => v.setRegs({ rbp: 0x40000000n }));
      const e = runTo(vcpu);
      expect(e.reason).toBe('hlt');
      const r = vcpu.getRegs();
      expect(r.rip).toBe(BigInt(HANDLER + 16 * 14 + 1));
      expect(vcpu.getSregs().cr2).toBe(0x40000000n);
      // Frame: error code, RIP, CS, RFLAGS, RSP, SS.
      const sp = Number(r.rsp);
      expect(dv.getBigUint64(sp + 8, true)).toBe(BigInt(CODE)); // faulting RIP: LEAVE itself
      expect(dv.getBigUint64(sp + 32, true)).toBe(BigInt(STACK)); // RSP before LEAVE
      expect(r.rbp).toBe(0x40000000n);
    });
  });

  describe('page-table entries with address bits above MAXPHYADDR (39 on this host)', () => {
    /** PD[1] (2 MiB..4 MiB) -> a page table at 0x5000 whose entry 0 maps `pte`. */
    const mapWith = (pte: bigint, pde = 0x5000n | 3n) => (_v: Vcpu, mem: Uint8Array) => {
      const dv = new DataView(mem.buffer, mem.byteOffset);
      dv.setBigUint64(0x4000 + 8, pde, true);
      dv.setBigUint64(0x5000, pte, true);
    };

    it('a PTE whose frame has bit 40 set is #PF with P|RSVD (read: error code 9)', () => {
      const { vcpu, dv } = machine(eng, 'long64', [0x8b, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0xf4], mapWith((1n << 40n) | 0x1000n | 3n)); // mov eax, [0x200000]
      const e = runTo(vcpu);
      expect(e.reason).toBe('hlt');
      const r = vcpu.getRegs();
      expect(r.rip).toBe(BigInt(HANDLER + 16 * 14 + 1));
      expect(dv.getBigUint64(Number(r.rsp), true)).toBe(9n); // P | RSVD
      expect(vcpu.getSregs().cr2).toBe(0x200000n);
    });

    it('a PDE pointing at a table above MAXPHYADDR is #PF with P|W|RSVD for a write (error code 0xb)', () => {
      const { vcpu, dv } = machine(eng, 'long64', [0xc7, 0x04, 0x25, 0x00, 0x10, 0x20, 0x00, 0x01, 0x00, 0x00, 0x00, 0xf4], mapWith(0x1000n | 3n, (1n << 45n) | 0x5000n | 3n)); // mov dword [0x201000], 1
      expect(runTo(vcpu).reason).toBe('hlt');
      const r = vcpu.getRegs();
      expect(r.rip).toBe(BigInt(HANDLER + 16 * 14 + 1));
      expect(dv.getBigUint64(Number(r.rsp), true)).toBe(0xbn);
    });

    it('bit 38 (below MAXPHYADDR) is an address, not reserved: the access goes to MMIO', () => {
      const { vcpu } = machine(eng, 'long64', [0x8b, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00, 0xf4], mapWith((1n << 38n) | 3n));
      const e = runTo(vcpu);
      expect(e).toMatchObject({ reason: 'mmio', physAddr: 1n << 38n, isWrite: false });
    });
  });

  describe('host single-step (KVM_GUESTDBG_SINGLESTEP) as KVM reports it', () => {
    const STEP = KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP;
    const step = (v: Vcpu) => v.setGuestDebug(STEP);
    const rip = (e: VcpuExit) => (e.reason === 'debug' && e.arch.arch === 'x86_64' ? e.arch.pc : -1n);

    it('INS: the next KVM_RUN completes it and reports the step there, before the following instruction', () => {
      // insb; nop; hlt  (rdi -> 0x7000, dx = port 0x60)
      const { vcpu, mem } = machine(eng, 'long64', [0x6c, 0x90, 0xf4], (v) => {
        v.setRegs({ rdi: 0x7000n, rdx: 0x60n });
        step(v);
      });
      const io = vcpu.run();
      expect(io).toMatchObject({ reason: 'io', direction: 'in', port: 0x60 });
      if (io.reason === 'io') io.data[0] = 0x5a;
      const e = vcpu.run();
      expect(e.reason).toBe('debug'); // complete_emulated_pio -> kvm_vcpu_do_singlestep
      expect(rip(e)).toBe(BigInt(CODE + 1)); // at the NOP: it has not run
      expect(mem[0x7000]).toBe(0x5a);
      expect(rip(vcpu.run())).toBe(BigInt(CODE + 2));
    });

    it('OUTS: KVM does not complete it in the emulator (its FIXME), so the following instruction runs before the step', () => {
      // outsb; nop; hlt
      const { vcpu } = machine(eng, 'long64', [0x6e, 0x90, 0xf4], (v) => {
        v.setRegs({ rsi: 0x7000n, rdx: 0x61n });
        step(v);
      });
      expect(vcpu.run()).toMatchObject({ reason: 'io', direction: 'out', port: 0x61 });
      const e = vcpu.run();
      expect(rip(e)).toBe(BigInt(CODE + 2)); // past the NOP
    });

    it('OUT (fast PIO): the completion is the step (kvm_skip_emulated_instruction)', () => {
      // out 0x61, al; nop; hlt
      const { vcpu } = machine(eng, 'long64', [0xe6, 0x61, 0x90, 0xf4], step);
      expect(vcpu.run()).toMatchObject({ reason: 'io', direction: 'out', port: 0x61 });
      expect(rip(vcpu.run())).toBe(BigInt(CODE + 2));
    });

    it('MOV SS holds the step trap until after the next instruction', () => {
      // mov ax, ss; mov ss, ax; nop; nop; hlt
      const { vcpu } = machine(eng, 'long64', [0x66, 0x8c, 0xd0, 0x8e, 0xd0, 0x90, 0x90, 0xf4], step);
      expect(rip(vcpu.run())).toBe(BigInt(CODE + 3)); // after mov ax, ss
      expect(rip(vcpu.run())).toBe(BigInt(CODE + 6)); // after mov ss, ax AND the first nop
      expect(rip(vcpu.run())).toBe(BigInt(CODE + 7));
    });

    it('POP SS (real mode) holds it too', () => {
      // push ss; pop ss; nop; nop; hlt
      const { vcpu } = machine(eng, 'real', [0x16, 0x17, 0x90, 0x90, 0xf4], step);
      expect(rip(vcpu.run())).toBe(BigInt(CODE + 1));
      expect(rip(vcpu.run())).toBe(BigInt(CODE + 3));
      expect(rip(vcpu.run())).toBe(BigInt(CODE + 4));
    });

    it('STI and MOV SS report their shadows as KVM_X86_SHADOW_INT_STI (2) and _MOV_SS (1) in KVM_GET_VCPU_EVENTS', () => {
      // The OUT right after them exits inside the shadow (it has not retired).
      const a = machine(eng, 'long64', [0xfa, 0xfb, 0xe6, 0x61, 0xf4]); // cli; sti; out 0x61, al
      expect(a.vcpu.run()).toMatchObject({ reason: 'io', port: 0x61 });
      expect(a.vcpu.getVcpuEvents().interrupt.shadow).toBe(2);
      const b = machine(eng, 'long64', [0x66, 0x8c, 0xd0, 0x8e, 0xd0, 0xe6, 0x61, 0xf4]); // mov ax, ss; mov ss, ax; out 0x61, al
      expect(b.vcpu.run()).toMatchObject({ reason: 'io', port: 0x61 });
      expect(b.vcpu.getVcpuEvents().interrupt.shadow).toBe(1);
    });

    it('HLT: KVM_EXIT_HLT with RIP past it (kvm_emulate_halt overrides the step exit)', () => {
      // nop; hlt; nop
      const { vcpu } = machine(eng, 'long64', [0x90, 0xf4, 0x90], step);
      expect(rip(vcpu.run())).toBe(BigInt(CODE + 1));
      const e = vcpu.run();
      expect(e.reason).toBe('hlt');
      expect(vcpu.getRegs().rip).toBe(BigInt(CODE + 2));
    });
  });
});
