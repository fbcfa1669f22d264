/**
 * The arm64 wasm engine's bench and test harness (bench/wasm.ts, test/arm64/wasm-engine.test.ts):
 * the arm64 benchmark guest on a VM whose RAM comes from alloc() (carved out of the process's
 * wasm memory, hva.ts) or from a given shared memory, its final state, and the engine's
 * counters. White-box (the vCPU's Cpu), like bench/guests.ts `retired`.
 * @module
 */
import { Kvm, type Sys } from '../src/index.js';
import type { Cpu } from '../src/arch/arm64/cpu.js';
import { wasmMemory, WASM_LAYOUT, type WasmMemory } from '../src/arch/arm64/wasm-module.js';
import type { WasmVcpu } from '../src/arch/arm64/wasm-engine.js';
import { coreRegId, KVM_ARM_VCPU } from '../src/uapi/arm64.js';
import type { Guest } from './guests.js';

const ARM_RAM_BASE = 0x4000_0000;
export const ARM_RAM = 8 << 20;
/** Wasm pages of a probe memory: the control area, then guest RAM. */
export const PROBE_PAGES = (WASM_LAYOUT.ram + ARM_RAM) / 65536;

export interface ArmGuest extends Guest {
  readonly cpu: () => Cpu;
  readonly ram: Uint8Array;
}

interface KernelView {
  space: { map(length: number, backing?: Uint8Array): { hva: number; bytes: Uint8Array } };
  file(fd: number): { vcpu?: { archState: { cpu: Cpu } } } | undefined;
}
const kernelOf = (sys: Sys) => (sys as unknown as { kernel: KernelView }).kernel;

/**
 * A VM with one vCPU and `ramSize` bytes of RAM at 0x40000000: from `memory` at WASM_LAYOUT.ram
 * when given (a memslot over the wasm memory's SharedArrayBuffer), else from alloc(). Call
 * `prime` once the registers are set.
 */
export function armVm(sys: Sys, ramSize: number, memory?: WasmMemory): ArmGuest & { prime(): void } {
  const kernel = kernelOf(sys);
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const ram = memory ? kernel.space.map(ramSize, new Uint8Array(memory.buffer, WASM_LAYOUT.ram)) : (() => {
    const m = sys.alloc(ramSize);
    return { hva: Number(m.hva), bytes: m.bytes };
  })();
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: ARM_RAM_BASE, memorySize: ramSize, userspaceAddr: BigInt(ram.hva) });
  const vcpu = vm.createVcpu(0);
  vcpu.armInit([KVM_ARM_VCPU.PSCI_0_2]);
  return {
    sys,
    kvm,
    vm,
    vcpu,
    arch: 'arm64',
    ram: ram.bytes,
    cpu: () => kernel.file(vcpu.fd)!.vcpu!.archState.cpu,
    prime() {
      // The vCPU's state (and its Jit) exist from the first KVM_RUN: enter once with immediate_exit.
      vcpu.immediateExit = true;
      const r = vcpu.run();
      if (r.reason !== 'intr') throw new Error(`unexpected first exit ${r.reason}`);
      vcpu.immediateExit = false;
    },
    close() {
      vcpu.close();
      vm.close();
      sys.munmap(ram.bytes);
      kvm.close();
    },
  };
}

/** The arm64 workload guest (as bench/guests.ts boots it), RAM as {@link armVm} has it. */
export function bootArm(sys: Sys, img: Uint8Array, rounds: number, mask: number, memory?: WasmMemory): ArmGuest {
  const g = armVm(sys, ARM_RAM, memory);
  g.ram.set(img, 0);
  g.vcpu.setOneReg(coreRegId('regs.pc'), ARM_RAM_BASE);
  g.vcpu.setOneReg(coreRegId('regs.regs'), rounds);
  g.vcpu.setOneReg(coreRegId('regs.regs') + 2n, mask >>> 0);
  g.prime();
  return g;
}

/** The wasm engine's counters of a vCPU (null: it never made a wasm region). */
export function wasmStats(cpu: Cpu): WasmVcpu | null {
  return cpu.wasm as WasmVcpu | null;
}

/** What must come out the same whichever engine ran the guest. */
export interface FinalState {
  readonly x: number[];
  readonly nzcv: number;
  readonly pc: number;
  /** FNV-1a of guest RAM (as 32-bit words). */
  readonly ram: number;
}

export function finalState(g: ArmGuest): FinalState {
  const c = g.cpu();
  const words = new Int32Array(g.ram.buffer, g.ram.byteOffset, g.ram.length / 4);
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193);
  return { x: Array.from(c.x.subarray(0, 64)), nzcv: (c.n << 3) | (c.z << 2) | (c.c << 1) | c.v, pc: c.pc, ram: h >>> 0 };
}

export { wasmMemory };
