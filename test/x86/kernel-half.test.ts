/**
 * Kernel-half addresses (negative as JS numbers) and CPL 3, as a Linux boot exercises them: the
 * guest kernelhalf.asm (test/guests/x86/kernel) maps 0xffffffff80000000 and runs there. Each
 * check below failed before its fix (see the guest's comments): exception frames pushed 16 bytes
 * too high for an RSP = 8 mod 16, BT* recomputing a negative linear address, IRETQ/RETFQ to CPL 3
 * refusing the user SS, REP STOSB with RCX = 0 running on a stale high half, a demand-paging #PF
 * on a chained block fetch escaping the JIT, and page-table bit 58 taken as a reserved bit.
 * Under the interpreter and the block JIT.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Kvm, type VcpuExit } from '../../src/index.js';
import { engineSys, X86_ENGINES, x86JitStats } from '../helpers/engines.js';
import { CODE, DATA, enterMode, RAM, STACK, writeGdt, writePageTables } from '../helpers/x86.js';
import { runToExit } from '../helpers/run.js';

const GUEST = new Uint8Array(readFileSync(resolve(__dirname, '../guests/x86/kernel/kernelhalf.bin')));
const KBASE = 0xffffffff80000000n;

describe.each(X86_ENGINES.map((e) => [e.name, e] as const))('kernel half and CPL 3 (%s)', (_name, engine) => {
  const sys = engineSys(engine);
  const vm = Kvm.open(sys).createVm();
  const ram = sys.alloc(RAM);
  writeGdt(ram.bytes);
  writePageTables(ram.bytes);
  ram.bytes.set(GUEST, CODE);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  enterMode(vcpu, 'long64');
  vcpu.setRegs({ rip: BigInt(CODE), rsp: BigInt(STACK), rflags: 2n });
  let exit: VcpuExit | unknown;
  try {
    exit = runToExit(vcpu); // loops on the 100 ms KVM_RUN bound's EINTR
  } catch (e) {
    exit = e;
  }
  const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset + DATA);
  const q = (off: number) => dv.getBigUint64(off, true);

  it('runs to its HLT with no unexpected exception', () => {
    expect(exit).toMatchObject({ reason: 'hlt' });
    expect(q(0x80), `fault at rip 0x${q(0x88).toString(16)}`).toBe(0n);
    expect(q(0x78)).toBe(1n);
    const st = x86JitStats(sys, vcpu.fd);
    if (st) expect(st.failed).toBe(0);
  });

  it('pushes an exception frame below RSP aligned down to 16 (RSP = 8 mod 16, kernel half)', () => {
    expect(q(0x08)).toBe(KBASE + 0x7dfc8n); // RIP slot: (RSP & ~15) - 40
    expect(q(0x10)).toBe(KBASE + 0x7dff8n); // RSP after IRETQ
    expect(q(0x00)).toBe(1n); // the canary at RSP survived
  });

  it('BT/BTS/BTR/BTC/LOCK BTS with a register bit offset address the right qword', () => {
    expect(q(0x18)).toBe(1n); // BT 70: bit 6 of qword 1
    expect(q(0x20)).toBe(0n); // qword 0 untouched
    expect(q(0x28)).toBe(0x0an); // BTS 65, BTR 70, BTC 67
    expect(q(0x30)).toBe(0x800000000000000an); // LOCK BTS 127
  });

  it('IRETQ and RETFQ return to CPL 3 with the user SS; INT 0x81 comes back through TSS.RSP0', () => {
    expect(q(0x38)).toBe(0x33n);
    expect(q(0x40)).toBe(0x2bn);
    expect(q(0x48)).toBe(0x33n);
    expect(q(0x50)).toBe(0x2bn);
    expect(q(0x58)).toBe(4n); // BTS 66 at CPL 3 on a user-half operand
  });

  it('REP STOSB with RCX = 0 stores nothing, whatever a previous 64-bit access left behind', () => {
    expect(q(0x60)).toBe(0n);
    expect(q(0x68)).toBe(0n);
  });

  it('a jump into a not-present page takes #PF, and the mapped code runs after IRETQ', () => {
    expect(q(0x70)).toBe(0x600dn);
  });
});
