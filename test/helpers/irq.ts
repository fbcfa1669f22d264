/**
 * Harness for the interrupt guests (test/guests/x86/irq): a VM with an in-kernel irqchip (full or
 * split) or none, optionally a PIT, 2 MiB of RAM with the long-mode setup of helpers/x86.ts, guest
 * CPUID from KVM_GET_SUPPORTED_CPUID (plus TSC_DEADLINE_TIMER where KVM_CAP_TSC_DEADLINE_TIMER says
 * the in-kernel LAPIC has it, as a VMM does), and a run loop that treats EINTR as a signal: run again.
 * Written against the typed API only, so the same test runs on /dev/kvm.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { KVM_CAP, Kvm, type HostMemory, type Sys, type Vcpu, type VcpuExit, type Vm } from '../../src/index.js';
import { CODE, DATA, enterMode, RAM, STACK, writeGdt, writePageTables } from './x86.js';

export { CODE, DATA, RAM, STACK };

/** A built guest of test/guests/x86/irq. */
export function irqGuest(name: string): Uint8Array {
  return new Uint8Array(readFileSync(resolve(__dirname, `../guests/x86/irq/${name}.bin`)));
}

export interface IrqMachineOptions {
  code: Uint8Array;
  irqchip?: 'kernel' | 'split' | 'none';
  /** KVM_CREATE_PIT2 with these flags (after the irqchip). */
  pit?: number;
  vcpus?: number;
  /** Before the vCPUs exist (KVM_ENABLE_CAP, KVM_SET_TSC_KHZ...). */
  beforeVcpus?: (vm: Vm) => void;
}

export interface IrqMachine {
  readonly sys: Sys;
  readonly kvm: Kvm;
  readonly vm: Vm;
  readonly ram: HostMemory;
  readonly vcpus: Vcpu[];
  /** u64 at DATA + off. */
  q(off: number): bigint;
  /** u32 at DATA + off. */
  d(off: number): number;
}

/** The guest CPUID a VMM sets: the supported leaves, with TSC_DEADLINE_TIMER when the in-kernel LAPIC emulates it. */
export function guestCpuid(kvm: Kvm, lapic: boolean) {
  const deadline = lapic && kvm.checkExtension(KVM_CAP.TSC_DEADLINE_TIMER) > 0;
  return kvm.supportedCpuid().map((e) => (e.function === 1 && deadline ? { ...e, ecx: (e.ecx | (1 << 24)) >>> 0 } : e));
}

export function irqMachine(sys: Sys, o: IrqMachineOptions): IrqMachine {
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const chip = o.irqchip ?? 'kernel';
  if (chip === 'kernel') vm.createIrqchip();
  else if (chip === 'split') vm.enableSplitIrqchip(24);
  if (o.pit !== undefined) vm.createPit2(o.pit);
  o.beforeVcpus?.(vm);
  const ram = sys.alloc(RAM);
  writeGdt(ram.bytes);
  writePageTables(ram.bytes);
  ram.bytes.set(o.code, CODE);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
  const cpuid = guestCpuid(kvm, chip !== 'none');
  const vcpus: Vcpu[] = [];
  for (let i = 0; i < (o.vcpus ?? 1); i++) {
    const v = vm.createVcpu(i);
    v.setCpuid2(cpuid);
    vcpus.push(v);
  }
  const v0 = vcpus[0]!;
  enterMode(v0, 'long64');
  v0.setRegs({ rip: BigInt(CODE), rsp: BigInt(STACK), rflags: 2n });
  const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset + DATA);
  return { sys, kvm, vm, ram, vcpus, q: (off) => dv.getBigUint64(off, true), d: (off) => dv.getUint32(off, true) };
}

/** KVM_RUN until an exit other than EINTR (a halted vCPU's signal-like return); counts the EINTRs. */
export function runToExit(vcpu: Vcpu, maxIntr = 100_000): { exit: VcpuExit; intr: number } {
  for (let intr = 0; intr <= maxIntr; intr++) {
    const exit = vcpu.run();
    if (exit.reason !== 'intr') return { exit, intr }; // 'intr': EINTR
  }
  throw new Error('the vCPU stayed halted');
}

/** Runs to the next OUT to the report port 0x600 and returns its phase (EAX); fails on any other exit. */
export function nextPhase(vcpu: Vcpu): number {
  const { exit } = runToExit(vcpu);
  if (exit.reason !== 'io' || exit.port !== 0x600) throw new Error(`unexpected exit ${JSON.stringify(exit, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v instanceof Uint8Array ? [...v] : v))} at rip 0x${vcpu.getRegs().rip.toString(16)}`);
  return new DataView(exit.data.buffer, exit.data.byteOffset).getUint32(0, true);
}
