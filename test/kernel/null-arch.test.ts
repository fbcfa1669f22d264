/**
 * The generic kernel under a toy CPU (null arch): guest writes and dirty logging, read-only slots,
 * IO/MMIO completion on the next KVM_RUN, immediate_exit ordering, unbacked memory, slot changes.
 */
import { describe, expect, it } from 'vitest';
import { nullArch } from '../../src/kernel/null-arch.js';
import { Kvm, KVM_CAP, KVM_EXIT, KVM_GUESTDBG, KVM_MEM, virtualSys, type Vcpu } from '../../src/index.js';
import { outcome } from '../helpers/backends.js';

/** Toy CPU code builders. */
const code = {
  hlt: () => [0x00],
  st: (gpa: number, v: number) => [0x01, ...le(gpa, 8), v],
  out: (port: number, v: number) => [0x02, port & 0xff, port >> 8, v],
  in: (port: number) => [0x03, port & 0xff, port >> 8],
  ld: (gpa: number) => [0x04, ...le(gpa, 8)],
  jmp: (rel: number) => [0x05, rel & 0xff],
};
function le(v: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Number((BigInt(v) >> BigInt(8 * i)) & 0xffn));
}

function setup(program: number[][], opts: { slotFlags?: number } = {}) {
  const sys = virtualSys({ archBackend: nullArch });
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const mem = sys.alloc(0x10000);
  mem.bytes.set(program.flat(), 0x1000);
  vm.setUserMemoryRegion({ slot: 0, flags: opts.slotFlags ?? 0, guestPhysAddr: 0, memorySize: 0x10000, userspaceAddr: mem.hva });
  const vcpu = vm.createVcpu(0);
  vcpu.setRegs({ rip: 0x1000n });
  return { sys, kvm, vm, mem, vcpu };
}

const reasonOf = (v: Vcpu) => v.run().reason;

describe('generic kernel with the null arch', () => {
  it('logs guest writes in the dirty bitmap, and GET_DIRTY_LOG clears it', () => {
    const { vm, vcpu, mem } = setup([code.st(0x3000, 7), code.st(0x3001, 8), code.st(0x9000, 9), code.hlt()], { slotFlags: KVM_MEM.LOG_DIRTY_PAGES });
    expect(reasonOf(vcpu)).toBe('hlt');
    expect(mem.bytes[0x3000]).toBe(7);
    expect(mem.bytes[0x9000]).toBe(9);
    const log = vm.getDirtyLog(0, 16);
    expect([...log.subarray(0, 2)]).toEqual([1 << 3, 1 << 1]);
    expect([...vm.getDirtyLog(0, 16)].every((b) => b === 0)).toBe(true);
  });

  it('turns writes to a read-only slot into MMIO write exits and leaves memory untouched', () => {
    const { vm, vcpu, sys } = setup([code.st(0x20010, 0x42), code.hlt()]);
    const rom = sys.alloc(0x1000);
    vm.setUserMemoryRegion({ slot: 1, flags: KVM_MEM.READONLY, guestPhysAddr: 0x20000, memorySize: 0x1000, userspaceAddr: rom.hva });
    const e = vcpu.run();
    expect(e).toMatchObject({ reason: 'mmio', physAddr: 0x20010n, len: 1, isWrite: true });
    expect(e.reason === 'mmio' && [...e.data]).toEqual([0x42]);
    expect(rom.bytes[0x10]).toBe(0);
    expect(reasonOf(vcpu)).toBe('hlt');
  });

  it('completes an MMIO read with the data the VMM wrote before the next KVM_RUN', () => {
    const { vcpu } = setup([code.ld(0xfee00000), code.out(0x10, 0), code.hlt()]);
    const e = vcpu.run();
    expect(e).toMatchObject({ reason: 'mmio', physAddr: 0xfee00000n, isWrite: false, len: 1 });
    if (e.reason === 'mmio') e.data[0] = 0x99;
    expect(reasonOf(vcpu)).toBe('io');
    expect(vcpu.getRegs().rax).toBe(0x99n);
  });

  it('completes an IN with the data the VMM put at data_offset, even when the next run exits immediately', () => {
    const { vcpu } = setup([code.in(0x60), code.hlt()]);
    const e = vcpu.run();
    expect(e).toMatchObject({ reason: 'io', direction: 'in', port: 0x60, size: 1, count: 1 });
    if (e.reason === 'io') e.data[0] = 0xab;
    vcpu.immediateExit = true;
    expect(vcpu.run().reason).toBe('intr'); // EINTR
    // The pending IN was completed before immediate_exit was honoured (as vcpu_run_complete_io relies on).
    expect(vcpu.getRegs().rax).toBe(0xabn);
    vcpu.immediateExit = false;
    expect(reasonOf(vcpu)).toBe('hlt');
  });

  it('answers EFAULT when a slot points at an hva that is no longer mapped', () => {
    const { vcpu, sys, vm } = setup([code.st(0x30000, 1), code.hlt()]);
    const m = sys.alloc(0x1000);
    vm.setUserMemoryRegion({ slot: 2, guestPhysAddr: 0x30000, memorySize: 0x1000, userspaceAddr: m.hva });
    sys.munmap(m.bytes);
    expect(outcome(() => vcpu.run())).toBe('EFAULT');
  });

  it('sends accesses to a deleted slot to MMIO, and a moved slot is found at its new gpa', () => {
    const prog = [code.st(0x40000, 5), code.st(0x50000, 6), code.hlt()];
    const { vcpu, sys, vm } = setup(prog);
    const m = sys.alloc(0x1000);
    vm.setUserMemoryRegion({ slot: 3, guestPhysAddr: 0x40000, memorySize: 0x1000, userspaceAddr: m.hva });
    vm.setUserMemoryRegion({ slot: 3, guestPhysAddr: 0x50000, memorySize: 0x1000, userspaceAddr: m.hva });
    expect(vcpu.run()).toMatchObject({ reason: 'mmio', physAddr: 0x40000n });
    expect(reasonOf(vcpu)).toBe('hlt');
    expect(m.bytes[0]).toBe(6);
  });

  it('reports an instruction it cannot run as KVM_EXIT_INTERNAL_ERROR / EMULATION with the bytes', () => {
    const { vcpu } = setup([[0xee, 0x01]]);
    const e = vcpu.run();
    expect(e).toMatchObject({ reason: 'internal_error', exitReason: KVM_EXIT.INTERNAL_ERROR, suberror: 1 });
    expect(e.reason === 'internal_error' && [...(e.insnBytes ?? [])]).toEqual([0xee]);
  });

  it('single-steps with KVM_GUESTDBG_SINGLESTEP', () => {
    const { vcpu } = setup([code.st(0x3000, 1), code.st(0x3001, 2), code.hlt()]);
    vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP);
    const pcs: bigint[] = [];
    for (let i = 0; i < 2; i++) {
      const e = vcpu.run();
      expect(e.reason).toBe('debug');
      pcs.push(e.reason === 'debug' && e.arch.arch === 'x86_64' ? e.arch.pc : -1n);
    }
    expect(pcs).toEqual([0x100an, 0x1014n]);
    vcpu.setGuestDebug(0);
    expect(reasonOf(vcpu)).toBe('hlt');
  });

  it('returns EINTR with KVM_EXIT_INTR when a guest loops past the run budget (as a signal would)', () => {
    const { vcpu, sys } = setup([code.jmp(-2)]);
    expect(outcome(() => sys.ioctl(vcpu.fd, vcpu.vm.kvm.req('KVM_RUN'), 0))).toBe('EINTR');
    expect(vcpu.kvmRun.exit_reason).toBe(10); // KVM_EXIT_INTR, set by the kernel
    expect(vcpu.exit().reason).toBe('intr');
  });

  it('reports only the caps the arch implements', () => {
    const { kvm, vm } = setup([code.hlt()]);
    expect(kvm.checkExtension(KVM_CAP.READONLY_MEM)).toBe(1);
    expect(kvm.checkExtension(KVM_CAP.X86_USER_SPACE_MSR)).toBe(0);
    expect(vm.checkExtension(KVM_CAP.NR_MEMSLOTS)).toBe(32764);
  });
});
