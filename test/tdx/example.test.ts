/** The TD mini-VMM example (examples/td-vmm.ts) boots its guest to power-off. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isNativeAvailable, Kvm, KVM_CAP, nativeSys, virtualSys } from '../../src/index.js';
import { runTdVmm } from '../../examples/td-vmm.js';

const image = () => new Uint8Array(readFileSync(resolve(__dirname, '../../examples/td-vmm/td-hello.bin')));

describe('examples/td-vmm', () => {
  it('boots td-hello as a TD on the virtual backend', () => {
    const lines: string[] = [];
    const r = runTdVmm(virtualSys(), image(), (l) => lines.push(l), { trace: true });
    expect(r.console).toBe('Hello from a trust domain: TDVMCALL<Instruction.IO> on COM1\nand again with OUT instructions, each one a #VE\n');
    expect(r.reported).toBe(0x7d0c0de5);
    expect(r.shared).toBe('a message for the VMM, in a page converted to shared');
    expect(r.poweredOff).toBe(true);
    expect(r.exits).toEqual({ io: 110, mmio: 1, hypercall: 1 });
    expect(lines.some((l) => l.includes('[tdx] TDH_MEM_PAGE_AUG gpa 0x1ff000'))).toBe(true);
    expect(lines.some((l) => l.includes('MapGPA: 0x100000 x 1 pages -> shared'))).toBe(true);
  });

  it.runIf(isNativeAvailable())('on /dev/kvm: boots where KVM_X86_TDX_VM is offered, else refuses saying why', () => {
    const sys = nativeSys();
    const tdx = (Kvm.open(sys).checkExtension(KVM_CAP.VM_TYPES) & (1 << 5)) !== 0;
    if (tdx) expect(runTdVmm(sys, image()).poweredOff).toBe(true);
    else expect(() => runTdVmm(sys, image())).toThrow(/does not offer KVM_X86_TDX_VM/);
  });
});
