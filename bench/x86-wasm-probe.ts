/**
 * The x86 wasm probe's machinery (bench/x86-wasm.ts runs it, test/x86/wasm-probe.test.ts checks
 * it): the x86-64 benchmark guest booted with its RAM inside a shared WebAssembly.Memory (after
 * the vCPU's control area), the hot blocks of a warm-up run written as one wasm module
 * (src/arch/x86/emit-wasm.ts) and put in place of the JS translations of the same blocks, so the
 * real KVM_RUN loop (run.ts: dispatch, budgets, cold code, exits) runs the guest with wasm in its
 * hot loops. White-box (the vCPU's X86Machine), like bench/guests.ts `retired`.
 * @module
 */
import { Kvm, type Sys } from '../src/index.js';
import type { Block } from '../src/arch/x86/blocks.js';
import type { X86Machine } from '../src/arch/x86/run.js';
import { buildX86Module, X86_WASM, type WasmBlockSrc, type X86WasmCode } from '../src/arch/x86/emit-wasm.js';
import { sameCode, X86WasmBlocks, X86WasmCtl, x86WasmMemory } from '../src/arch/x86/emit-wasm-run.js';
import type { WasmMemory } from '../src/arch/arm64/wasm-module.js';
import { X86_BOARD, x86Board } from '../src/vmm/index.js';
import type { Guest } from './guests.js';

export const X86_RAM = 8 << 20;
const X86_ENTRY = 0x100000;
/** The control area at 0, guest RAM after it. */
export const RAM_OFF = X86_WASM.size;
export const PROBE_PAGES = (RAM_OFF + X86_RAM) / 65536;

export interface X86Guest extends Guest {
  readonly machine: () => X86Machine;
  readonly ram: Uint8Array;
}

interface KernelView {
  space: { map(length: number, backing?: Uint8Array): { hva: number; bytes: Uint8Array } };
  file(fd: number): { vcpu?: { archState: X86Machine } } | undefined;
}
const kernelOf = (sys: Sys) => (sys as unknown as { kernel: KernelView }).kernel;

/** A long-mode VM (the mini-VMM's board, as bench/guests.ts boots it) with `code` at the entry; RAM from `memory` when given. */
export function bootX86(sys: Sys, img: Uint8Array, regs: { rdi: bigint; rsi: bigint }, memory?: WasmMemory): X86Guest {
  const kernel = kernelOf(sys);
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const board = x86Board('long', () => {});
  vm.setTssAddr(X86_BOARD.TSS_ADDR);
  const ram = memory
    ? kernel.space.map(X86_RAM, new Uint8Array(memory.buffer, RAM_OFF))
    : (() => {
        const m = sys.alloc(X86_RAM);
        return { hva: Number(m.hva), bytes: m.bytes };
      })();
  board.prepareMemory(ram.bytes);
  ram.bytes.set(img, X86_ENTRY);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: X86_RAM, userspaceAddr: BigInt(ram.hva) });
  const vcpu = vm.createVcpu(0);
  board.setupVcpu(vcpu, X86_ENTRY, X86_RAM, regs);
  return {
    sys,
    kvm,
    vm,
    vcpu,
    arch: 'x86_64',
    ram: ram.bytes,
    machine: () => kernel.file(vcpu.fd)!.vcpu!.archState,
    close() {
      vcpu.close();
      vm.close();
      sys.munmap(ram.bytes);
      kvm.close();
    },
  };
}

/** The workload guest (bench/guests/work.c) with `rounds` and kernel `mask`. */
export function bootWork(sys: Sys, img: Uint8Array, rounds: number, mask: number, memory?: WasmMemory): X86Guest {
  return bootX86(sys, img, { rdi: BigInt(rounds), rsi: BigInt(mask >>> 0) }, memory);
}

type CacheView = { blocks: Map<number, Block>; compile(b: Block): void; invalidate(gfn: number): void; flush(): void; newEpoch(): void };
const cacheOf = (m: X86Machine) => m.blocks as unknown as CacheView;

/** The translated blocks of a vCPU (after a run): the hot code, as the module writer takes it. */
export function hotBlocks(m: X86Machine): WasmBlockSrc[] {
  const out: WasmBlockSrc[] = [];
  for (const b of cacheOf(m).blocks.values()) if (b.fn !== null && b.insns.length > 0) out.push({ insns: b.insns, modeKey: b.modeKey });
  return out.sort((a, b) => a.insns[0]!.addr - b.insns[0]!.addr);
}

/** Writes the module of `blocks` for a control area at 0 of a memory of `pages` pages. */
export function probeModule(blocks: readonly WasmBlockSrc[], pages = PROBE_PAGES): X86WasmCode {
  return buildX86Module(blocks, pages, 0);
}

/**
 * Binds `code` to the guest's vCPU (its register file moves into the memory) and puts module
 * blocks in place of the JS translations of the same code as the vCPU translates them; any write
 * to or flush of decoded code, or code changed between runs, retires the module (its blocks run
 * as JS from then on). Returns the bound module (its counters).
 */
export function installX86Wasm(g: X86Guest, code: X86WasmCode, memory: WasmMemory): X86WasmBlocks {
  const m = g.machine();
  const ctl = new X86WasmCtl(memory, 0);
  ctl.attach(m.cpu);
  const wb = new X86WasmBlocks(code, ctl);
  const cache = cacheOf(m);
  const compile = cache.compile.bind(cache);
  cache.compile = (b: Block) => {
    compile(b);
    const js = b.fn;
    if (js === null || !wb.valid) return;
    const i = code.blocks.findIndex((s) => sameCode(s, b));
    if (i < 0) return;
    const w = wb.fn(i);
    b.fn = (c, s, R, f, host, lim) => (wb.valid ? w(c, s, R, f, host, lim) : js(c, s, R, f, host, lim));
  };
  const invalidate = cache.invalidate.bind(cache);
  cache.invalidate = (gfn: number) => {
    wb.valid = false;
    invalidate(gfn);
  };
  const flush = cache.flush.bind(cache);
  cache.flush = () => {
    wb.valid = false;
    flush();
  };
  // Code userspace rewrote between runs: the module's blocks chain past the cache's revalidation.
  const newEpoch = cache.newEpoch.bind(cache);
  cache.newEpoch = () => {
    newEpoch();
    if (!wb.valid) return;
    for (const b of code.blocks) {
      const first = b.insns[0]!;
      const last = b.insns[b.insns.length - 1]!;
      const bytes = new Uint8Array(last.addr + last.len - first.addr);
      for (const i of b.insns) bytes.set(i.bytes.subarray(0, i.len), i.addr - first.addr);
      let same = false;
      try {
        same = m.cpu.codeMatches(first.addr, bytes);
      } catch {
        same = false;
      }
      if (!same) {
        wb.valid = false;
        return;
      }
    }
  };
  return wb;
}

/** What must come out the same whichever engine ran the guest. */
export interface FinalState {
  readonly regs: number[];
  readonly rflags: number;
  readonly rip: number;
  /** FNV-1a of guest RAM (as 32-bit words). */
  readonly ram: number;
}

export function finalState(g: X86Guest): FinalState {
  const c = g.machine().cpu;
  const words = new Int32Array(g.ram.buffer, g.ram.byteOffset, g.ram.length / 4);
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i]!, 0x01000193);
  return { regs: Array.from(c.s.r), rflags: c.getFlags(), rip: c.s.rip, ram: h >>> 0 };
}

export { x86WasmMemory };
