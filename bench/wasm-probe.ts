/**
 * The wasm probe's machinery (bench/wasm.ts runs it, test/arm64/wasm-probe.test.ts checks it):
 * the arm64 benchmark guest booted with its RAM inside a shared WebAssembly.Memory, the hot
 * blocks of a warm-up run written as one wasm module (src/arch/arm64/emit-wasm.ts), and that
 * module put in place of the JS translations of the same blocks, so the real KVM_RUN loop
 * (run.ts jitRun: dispatch, budget, interrupts, cold code) runs the guest with wasm in its hot
 * loops. White-box (the vCPU's Cpu and Jit), like bench/guests.ts `retired`.
 * @module
 */
import { Kvm, type Sys } from '../src/index.js';
import type { Block } from '../src/arch/arm64/blocks.js';
import type { Cpu } from '../src/arch/arm64/cpu.js';
import { buildModule, WasmBlocks, wasmMemory, WASM_LAYOUT, type WasmMemory, type WasmModuleCode } from '../src/arch/arm64/wasm-module.js';
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
  space: { map(length: number, buffer?: SharedArrayBuffer, byteOffset?: number): { hva: number; bytes: Uint8Array } };
  file(fd: number): { vcpu?: { archState: { cpu: Cpu } } } | undefined;
}
const kernelOf = (sys: Sys) => (sys as unknown as { kernel: KernelView }).kernel;

/**
 * A VM with one vCPU and `ramSize` bytes of RAM at 0x40000000: from `memory` at WASM_LAYOUT.ram
 * when given (a memslot over the wasm memory's SharedArrayBuffer), else from alloc(). Call
 * `prime` once the registers are set and before installWasm.
 */
export function armVm(sys: Sys, ramSize: number, memory?: WasmMemory): ArmGuest & { prime(): void } {
  const kernel = kernelOf(sys);
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const ram = memory ? kernel.space.map(ramSize, memory.buffer, WASM_LAYOUT.ram) : (() => {
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

/** The translated blocks of a vCPU (after a run): the hot code. */
export function hotBlocks(cpu: Cpu): Block[] {
  const seen = new Set<Block>();
  for (const b of cpu.jit!.table) if (b.fn !== null && b.valid && b.len > 0) seen.add(b);
  return [...seen].sort((a, b) => a.va - b.va);
}

/** Writes the module of `blocks` (see emit-wasm.ts); `chain` false: every branch to another block leaves it. */
export function probeModule(blocks: readonly Block[], chain = true, pages = PROBE_PAGES): WasmModuleCode {
  return buildModule(blocks, pages, chain);
}

const sameBlock = (a: Block, b: Block) => a.va === b.va && a.mode === b.mode && a.len === b.len && a.words.every((w, k) => w === b.words[k]);

/**
 * Puts the module's code in place of the JS translation of every block it has (as the vCPU
 * translates them: the module was written from another run's blocks), with the TLB flushes
 * hooked; `sharedRegs`: the vCPU's register file moves into the module's memory. Returns the
 * bound module (its counters).
 */
export function installWasm(g: ArmGuest, code: WasmModuleCode, memory: WasmMemory, sharedRegs = false): WasmBlocks {
  const wb = new WasmBlocks(code, memory, sharedRegs);
  const cpu = g.cpu();
  wb.attach(cpu);
  const jit = cpu.jit!;
  const compile = jit.compile.bind(jit);
  jit.compile = (b: Block) => {
    compile(b);
    if (b.fn === null) return;
    const i = code.blocks.findIndex((m) => sameBlock(m, b));
    if (i >= 0) b.fn = (c: Cpu, lim: number) => wb.enter(c, i, lim);
  };
  return wb;
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
