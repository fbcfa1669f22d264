/**
 * The benchmark guests (bench/guests: one work.c for x86-64 and arm64) booted through the typed
 * API on any `Sys`, as a VMM would: x86-64 in long mode with the mini-VMM's board (identity
 * page tables, GDT, COM1 answered so the guest's LSR polling ends), arm64 at EL1 with PSCI.
 * @module
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kvm, type Sys, type Vcpu, type Vm } from '../src/index.js';
import { coreRegId, KVM_ARM_VCPU } from '../src/uapi/arm64.js';
import { X86_BOARD, x86Board } from '../src/vmm/index.js';

export type GuestArch = 'x86_64' | 'arm64';

/** Kernel masks of work.h. */
export const KERNELS = { crc32: 1, sieve: 2, fib: 4, memcpy: 8 } as const;
export const MIX = 15;
/** The mask that makes the guest loop on an exit (OUT on x86, an MMIO store on arm64). */
export const EXIT_LOOP = 0xffffffff;

const X86_RAM = 8 << 20;
const X86_ENTRY = 0x100000;
const ARM_RAM_BASE = 0x4000_0000;
const ARM_RAM = 8 << 20;
const COM1_LSR = X86_BOARD.COM1 + 5;

/** A booted benchmark guest. */
export interface Guest {
  readonly sys: Sys;
  readonly kvm: Kvm;
  readonly vm: Vm;
  readonly vcpu: Vcpu;
  readonly arch: GuestArch;
  close(): void;
}

export function image(root: string, arch: GuestArch): Uint8Array {
  return new Uint8Array(readFileSync(join(root, 'bench/guests', arch === 'x86_64' ? 'x86' : 'arm64', 'work.bin')));
}

/** Creates the VM, loads the image and sets the entry registers (rounds, mask). */
export function bootGuest(sys: Sys, arch: GuestArch, img: Uint8Array, rounds: number, mask: number): Guest {
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  let vcpu: Vcpu;
  let ram: { hva: bigint; bytes: Uint8Array };
  if (arch === 'x86_64') {
    const board = x86Board('long', () => {});
    vm.setTssAddr(X86_BOARD.TSS_ADDR);
    ram = sys.alloc(X86_RAM);
    board.prepareMemory(ram.bytes);
    ram.bytes.set(img, X86_ENTRY);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: X86_RAM, userspaceAddr: ram.hva });
    vcpu = vm.createVcpu(0);
    board.setupVcpu(vcpu, X86_ENTRY, X86_RAM, { rdi: BigInt(rounds), rsi: BigInt(mask >>> 0) });
  } else {
    ram = sys.alloc(ARM_RAM);
    ram.bytes.set(img, 0);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: ARM_RAM_BASE, memorySize: ARM_RAM, userspaceAddr: ram.hva });
    vcpu = vm.createVcpu(0);
    vcpu.armInit([KVM_ARM_VCPU.PSCI_0_2]);
    vcpu.setOneReg(coreRegId('regs.pc'), ARM_RAM_BASE);
    vcpu.setOneReg(coreRegId('regs.regs'), rounds);
    vcpu.setOneReg(coreRegId('regs.regs') + 2n, mask >>> 0);
  }
  return {
    sys,
    kvm,
    vm,
    vcpu,
    arch,
    close() {
      vcpu.close();
      vm.close();
      sys.munmap(ram.bytes);
      kvm.close();
    },
  };
}

/** Instructions the virtual backend's vCPU retired (white-box; undefined on other backends). */
export function retired(g: Guest): number | undefined {
  const kernel = (g.sys as unknown as { kernel?: { file(fd: number): { vcpu?: { archState: { retired?: number; cpu?: { retired: number } } } } | undefined } }).kernel;
  const st = kernel?.file(g.vcpu.fd)?.vcpu?.archState;
  if (!st) return undefined;
  return st.retired ?? st.cpu?.retired;
}

export interface GuestResult {
  readonly checksum: number;
  /** Wall time of the KVM_RUN loop (VM set-up excluded). */
  readonly seconds: number;
  /** Retired instructions (virtual backend only). */
  readonly instructions: number | undefined;
  readonly exits: number;
  readonly console: string;
}

/** Runs a booted workload guest to its end: HLT (x86) or PSCI SYSTEM_OFF (arm64). */
export function runGuest(g: Guest): GuestResult {
  const { vcpu } = g;
  let checksum = -1;
  let exits = 0;
  let text = '';
  const t0 = process.hrtime.bigint();
  for (;;) {
    const e = vcpu.run();
    if (e.reason === 'intr') continue; // EINTR: the virtual backend's run budget: re-enter
    exits++;
    if (e.reason === 'io') {
      if (e.direction === 'in') {
        e.data.fill(0);
        if (e.port === COM1_LSR) e.data[0] = 0x60; // THR empty, transmitter idle
      } else if (e.port === X86_BOARD.COM1) text += String.fromCharCode(e.data[0]!);
      else if (e.port === X86_BOARD.RESULT_PORT && e.size === 4) checksum = new DataView(e.data.buffer, e.data.byteOffset, 4).getUint32(0, true);
      continue;
    }
    if (e.reason === 'hlt' && g.arch === 'x86_64') break;
    if (e.reason === 'system_event' && g.arch === 'arm64') {
      checksum = Number(vcpu.getOneReg(coreRegId('regs.regs') + 8n) & 0xffffffffn); // x4
      break;
    }
    throw new Error(`unexpected exit ${e.reason} after ${exits} exits`);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { checksum, seconds, instructions: retired(g), exits, console: text };
}
