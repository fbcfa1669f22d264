/** The null arch's byte code (src/kernel/null-arch.ts) and a VM set-up for the plumbing tests. */
import { nullArch } from '../../src/kernel/null-arch.js';
import { Kvm, virtualSys, type VirtualSysOptions } from '../../src/index.js';

export function le(v: number | bigint, n: number): number[] {
  return Array.from({ length: n }, (_, i) => Number((BigInt(v) >> BigInt(8 * i)) & 0xffn));
}

/** Toy CPU code builders. */
export const code = {
  hlt: () => [0x00],
  st: (gpa: number, v: number) => [0x01, ...le(gpa, 8), v],
  out: (port: number, v: number) => [0x02, ...le(port, 2), v],
  in: (port: number) => [0x03, ...le(port, 2)],
  ld: (gpa: number) => [0x04, ...le(gpa, 8)],
  jmp: (rel: number) => [0x05, rel & 0xff],
  out32: (port: number) => [0x06, ...le(port, 2)],
  st64: (gpa: number) => [0x07, ...le(gpa, 8)],
  mov: (imm: number) => [0x08, ...le(imm, 4)],
  clock: () => [0x09],
  timer: (ns: number) => [0x0a, ...le(ns, 4)],
  eoi: () => [0x0b],
  iret: () => [0x0c],
  st32: (gpa: number) => [0x0d, ...le(gpa, 8)],
  ivt: (gpa: number) => [0x0e, ...le(gpa, 8)],
  inc: () => [0x0f],
};

/** A null-arch VM with code at 0x1000 and, optionally, an interrupt handler at 0x2000. */
export function toyVm(main: number[][], opts: { handler?: number[][]; irqchip?: boolean; sys?: VirtualSysOptions } = {}) {
  const sys = virtualSys({ archBackend: nullArch, ...opts.sys });
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  if (opts.irqchip) vm.createIrqchip();
  const mem = sys.alloc(0x10000);
  mem.bytes.set(main.flat(), 0x1000);
  if (opts.handler) mem.bytes.set(opts.handler.flat(), 0x2000);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x10000, userspaceAddr: mem.hva });
  const vcpu = vm.createVcpu(0);
  vcpu.setRegs({ rip: 0x1000n });
  return { sys, kvm, vm, mem, vcpu };
}
