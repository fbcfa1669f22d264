/**
 * The SMP guests' machines: a VM per scenario with its vCPUs exported to worker threads, and the
 * guest's counters read back once the workers are done.
 */
import { Kvm, type Sys, type Vcpu } from '../../src/index.js';
import { guest } from '../helpers/guests.js';
import { enterMode, GDT } from '../helpers/x86.js';
import { reg } from '../arm64/helpers.js';
import { runOnWorker } from './harness.js';

const RAM = 0x200000;
export const X86_CODE = 0x8000;
export const X86_DATA_GPA = 0x20000;
const DATA = X86_DATA_GPA;

/** Offsets of counter.asm's data. */
export const X86_DATA = { LOCKW: 0x000, ARRIVED: 0x008, PLAIN: 0x040, XADD64: 0x080, INC32: 0x0c0, ADD16: 0x100, SUB64: 0x140, CAS64: 0x180, C8B: 0x1c0, UNALIGN: 0x301, FAILS: 0x400, SPLIT: 0xffe } as const;

export const X86_MODES = { xchg: 0, cmpxchg: 1, none: 2, bts: 3 } as const;

export interface X86Run {
  readonly counts: Record<keyof typeof X86_DATA, bigint>;
  readonly fails: bigint[];
  readonly vcpus: Vcpu[];
  readonly reports: Awaited<ReturnType<typeof runOnWorker>>[];
}

/** An x86 VM with 2 MiB of RAM at gpa 0 (identity-mapped, long mode), `code` at X86_CODE, `nvcpus` vCPUs there. */
export function x86Vm(sys: Sys, code: Uint8Array, nvcpus: number, opts: { dirtyLog?: boolean } = {}) {
  const vm = Kvm.open(sys).createVm();
  const ram = sys.alloc(RAM);
  const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset, RAM);
  ram.bytes.set(code, X86_CODE);
  GDT.forEach((d, i) => dv.setBigUint64(0x500 + 8 * i, d, true));
  dv.setBigUint64(0x2000, 0x3000n | 3n, true);
  dv.setBigUint64(0x3000, 0x4000n | 3n, true);
  for (let i = 0; i < 512; i++) dv.setBigUint64(0x4000 + 8 * i, (BigInt(i) << 21n) | 0x83n, true);
  vm.setUserMemoryRegion({ slot: 0, flags: opts.dirtyLog ? 1 : 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
  const vcpus: Vcpu[] = [];
  for (let id = 0; id < nvcpus; id++) {
    const v = vm.createVcpu(id);
    enterMode(v, 'long64');
    v.setRegs({ rip: X86_CODE, rsp: 0x7f000 - id * 0x1000, rflags: 2 });
    vcpus.push(v);
  }
  return { vm, ram, dv, vcpus };
}

/** Builds the VM (2 MiB RAM, long mode), runs `n` iterations per vCPU on `nvcpus` workers. */
export async function runX86(sys: Sys, mode: number, n: number, nvcpus = 2): Promise<X86Run> {
  const { dv, vcpus } = x86Vm(sys, guest('x86/smp/counter.bin'), nvcpus);
  // A split-locked access is fine here; a host kernel with split_lock_detect=fatal would #AC it.
  const noSplit = sys.backend === 'native' ? 1 : 0;
  vcpus.forEach((v, id) => v.setRegs({ rip: X86_CODE, rsp: 0x7f000 - id * 0x1000, rflags: 2, rdi: n, rsi: DATA, rdx: mode, r8: id, rbp: nvcpus, r10: noSplit }));
  const reports = await Promise.all(vcpus.map((v) => runOnWorker(v.export())));
  const u64 = (off: number) => dv.getBigUint64(DATA + off, true);
  const counts = Object.fromEntries(Object.entries(X86_DATA).map(([k, off]) => [k, k === 'INC32' || k === 'SPLIT' ? BigInt(dv.getUint32(DATA + off, true)) : k === 'ADD16' ? BigInt(dv.getUint16(DATA + off, true)) : u64(off)])) as X86Run['counts'];
  return { counts, fails: vcpus.map((_, i) => u64(X86_DATA.FAILS + 8 * i)), vcpus, reports };
}


// ---- arm64 ---------------------------------------------------------------------------------------

export const ARM_RAM_BASE = 0x4000_0000;
const ARM_RAM = 0x20_0000;
export const ARM_DATA = ARM_RAM_BASE + 0x10_0000;
/** Where each vCPU writes when done (MMIO, one doubleword per vCPU). */
export const ARM_DONE = 0x0900_0000;

/** Offsets of smp/counter.S's data. */
export const ARM_DATA_OFF = { LOCKW: 0x000, ARRIVED: 0x008, PLAIN: 0x040, EXCL64: 0x080, LDADD64: 0x0c0, STADD32: 0x100, CAS64: 0x140, PAIR128: 0x180, CASP32: 0x1c0, EXCL16: 0x200, CASP64: 0x240, FAILS: 0x400 } as const;

export const ARM_MODES = { exclusive: 0, swp: 1, none: 2, cas: 3 } as const;

export interface ArmRun {
  /** Doublewords at each offset (words/halfwords masked where the guest uses them). */
  readonly mem: (off: number, size?: 2 | 4 | 8) => bigint;
  readonly fails: bigint[];
  readonly vcpus: Vcpu[];
  readonly reports: Awaited<ReturnType<typeof runOnWorker>>[];
}

/** An arm64 VM with 2 MiB of RAM at 0x4000_0000 (MMU off), `code` at its start, `nvcpus` vCPUs there. */
export function arm64Vm(sys: Sys, code: Uint8Array, nvcpus: number) {
  const vm = Kvm.open(sys).createVm();
  const ram = sys.alloc(ARM_RAM);
  ram.bytes.set(code, 0);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: ARM_RAM_BASE, memorySize: ARM_RAM, userspaceAddr: ram.hva });
  const vcpus: Vcpu[] = [];
  for (let id = 0; id < nvcpus; id++) {
    const v = vm.createVcpu(id);
    v.armInit([]);
    v.setOneReg(reg.pc, ARM_RAM_BASE);
    v.setOneReg(reg.spEl1, ARM_RAM_BASE + ARM_RAM - id * 0x1000);
    vcpus.push(v);
  }
  return { vm, ram, vcpus };
}

/** Builds the VM (MMU off, RAM at 0x4000_0000), runs `n` iterations per vCPU on `nvcpus` workers. */
export async function runArm64(sys: Sys, mode: number, n: number, nvcpus = 2): Promise<ArmRun> {
  const { ram, vcpus } = arm64Vm(sys, guest('arm64/smp/counter.bin'), nvcpus);
  vcpus.forEach((v, id) => [n, ARM_DATA, mode, id, nvcpus, ARM_DONE + 8 * id].forEach((val, r) => v.setOneReg(reg.x(r), val)));
  const reports = await Promise.all(vcpus.map((v) => runOnWorker(v.export())));
  const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset, ARM_RAM);
  const at = ARM_DATA - ARM_RAM_BASE;
  const mem = (off: number, size: 2 | 4 | 8 = 8) =>
    size === 8 ? dv.getBigUint64(at + off, true) : BigInt(size === 4 ? dv.getUint32(at + off, true) : dv.getUint16(at + off, true));
  return { mem, fails: vcpus.map((_, i) => mem(ARM_DATA_OFF.FAILS + 8 * i)), vcpus, reports };
}
