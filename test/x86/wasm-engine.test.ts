/**
 * The x86 wasm writer (src/arch/x86/emit-wasm.ts) against the interpreter: the benchmark guest
 * with its hot blocks in one module written ahead (the probe of `npm run bench:x86wasm`), the
 * same guest under the wasm engine (`jitEngine: 'wasm'`, modules written at run time), and seeded
 * random loop programs under the engine — with guest RAM inside the shared WebAssembly.Memory of
 * the vCPU's control area, so loads and stores take the inline TLB path. Final registers, RFLAGS,
 * RIP and memory must be identical, and the code must really have run in wasm.
 */
import { describe, expect, it } from 'vitest';
import { virtualSys, type Sys } from '../../src/index.js';
import { image, MIX, runGuest } from '../../bench/guests.js';
import { bootWork, finalState, hotBlocks, installX86Wasm, probeModule, PROBE_PAGES, RAM_OFF, x86WasmMemory } from '../../bench/x86-wasm-probe.js';
import { useX86WasmMemory, type X86WasmEngine } from '../../src/arch/x86/emit-wasm-run.js';
import { X86_WASM } from '../../src/arch/x86/emit-wasm.js';
import type { WasmMemory } from '../../src/arch/arm64/wasm-module.js';
import type { X86Machine } from '../../src/arch/x86/run.js';
import { DEFAULT_WASM_HOTNESS } from '../../src/arch/x86/blocks.js';
import { DATA, le32, RAM, runProgram } from '../helpers/x86.js';
import { TEST_RUN_TIMEOUT_MS } from '../helpers/run.js';
import { generate, rng } from './alu-gen.js';

const img = image('.', 'x86_64');
const ROUNDS = 6;

const engineOf = (g: { machine(): X86Machine }) => (g.machine().blocks as unknown as { hook: X86WasmEngine | null }).hook;

describe('x86 wasm writer', () => {
  it('the benchmark guest with its hot blocks in one module ends as under the interpreter', { timeout: 120_000 }, () => {
    const ref = bootWork(virtualSys({ arch: 'x86_64', jit: false }), img, ROUNDS, MIX);
    const r0 = runGuest(ref);
    const s0 = finalState(ref);
    ref.close();
    const warm = bootWork(virtualSys({ arch: 'x86_64', jitHotness: DEFAULT_WASM_HOTNESS }), img, 4, MIX); // the wasm engine's hotness picks its hot blocks
    runGuest(warm);
    const code = probeModule(hotBlocks(warm.machine()));
    warm.close();
    expect(code.blocks.length).toBeGreaterThan(5);
    const memory = x86WasmMemory(PROBE_PAGES);
    const g = bootWork(virtualSys({ arch: 'x86_64' }), img, ROUNDS, MIX, memory);
    const wb = installX86Wasm(g, code, memory);
    const r = runGuest(g);
    expect(r.checksum).toBe(r0.checksum);
    expect(r.instructions).toBe(r0.instructions);
    expect(finalState(g)).toEqual(s0);
    // Most of the work ran in the module, its accesses through the inline TLB.
    expect(wb.insns / r.instructions!).toBeGreaterThan(0.9);
    expect(wb.slowAccesses).toBeLessThan(1000);
    g.close();
  });

  it('the benchmark guest under the wasm engine (modules written at run time) ends as under the interpreter', { timeout: 120_000 }, () => {
    const ref = bootWork(virtualSys({ arch: 'x86_64', jit: false }), img, ROUNDS, MIX);
    const r0 = runGuest(ref);
    const s0 = finalState(ref);
    ref.close();
    const memory = x86WasmMemory(PROBE_PAGES);
    useX86WasmMemory(memory, 0, RAM_OFF);
    try {
      const g = bootWork(virtualSys({ arch: 'x86_64', jitEngine: 'wasm' }), img, ROUNDS, MIX, memory);
      const r = runGuest(g);
      expect(r.checksum).toBe(r0.checksum);
      expect(finalState(g)).toEqual(s0);
      const eng = engineOf(g)!;
      expect(eng).not.toBeNull();
      expect(eng.stats.failed).toBe(0);
      expect(eng.stats.modules).toBeGreaterThan(0);
      expect(eng.wasmInsns() / r.instructions!).toBeGreaterThan(0.5);
      g.close();
    } finally {
      useX86WasmMemory(null);
    }
  });

  const N = Number(process.env.WASM_PROGRAMS ?? 200);
  it(`${N} seeded loop programs end in the same state under the wasm engine (RAM in the wasm memory) and the interpreter`, { timeout: 180_000 }, () => {
    const memory = x86WasmMemory((X86_WASM.size + RAM) / 65536);
    const failures: string[] = [];
    let inWasm = 0;
    for (let p = 0; p < N; p++) {
      const prog = loopProgram(0x3a5e + p * 7919);
      const interp = runProgram(virtualSys({ arch: 'x86_64', jit: false, runTimeoutMs: TEST_RUN_TIMEOUT_MS }), { mode: 'long64', code: prog.code, regs: prog.regs, mem: [[DATA, prog.mem]], maxExits: 4 });
      useX86WasmMemory(memory, 0, X86_WASM.size);
      const sys = wasmRamSys(virtualSys({ arch: 'x86_64', jit: true, jitHotness: 0, jitEngine: 'wasm', runTimeoutMs: TEST_RUN_TIMEOUT_MS }), memory);
      let engines: X86WasmEngine[] = [];
      const wasm = runProgram(sys, { mode: 'long64', code: prog.code, regs: prog.regs, mem: [[DATA, prog.mem]], maxExits: 4, setup: (vcpu) => (engines = [engineOf({ machine: () => machineOf(sys, vcpu.fd) })!]) });
      useX86WasmMemory(null);
      inWasm += engines[0]!.wasmInsns();
      const a = JSON.stringify({ end: interp.end, last: interp.exits[interp.exits.length - 1], data: interp.data });
      const b = JSON.stringify({ end: wasm.end, last: wasm.exits[wasm.exits.length - 1], data: wasm.data });
      if (a !== b) failures.push(`program ${p}:\n  ${prog.listing.join('\n  ')}\n  interpreter ${a}\n  wasm        ${b}`);
    }
    expect(failures.slice(0, 2)).toEqual([]);
    expect(inWasm).toBeGreaterThan(N * 20);
  });
});

const machineOf = (sys: Sys, fd: number) => (sys as unknown as { kernel: { file(fd: number): { vcpu: { archState: X86Machine } } } }).kernel.file(fd).vcpu.archState;

/** A Sys whose alloc() maps guest RAM into `memory` after its first control area (zeroed). */
function wasmRamSys(sys: Sys, memory: WasmMemory): Sys {
  const space = (sys as unknown as { kernel: { space: { map(length: number, backing?: Uint8Array): { hva: number; bytes: Uint8Array } } } }).kernel.space;
  (sys as { alloc: Sys['alloc'] }).alloc = ((length: number) => {
    const m = space.map(length, new Uint8Array(memory.buffer, X86_WASM.size));
    m.bytes.fill(0);
    return { hva: BigInt(m.hva), bytes: m.bytes };
  }) as Sys['alloc'];
  return sys;
}

/**
 * A countdown loop (counter in memory) around a random straight-line body (alu-gen: ALU, shifts,
 * MUL/IMUL, SETcc/CMOVcc, memory operands), then PUSH/POP, a CALL/RET pair and a flag-writer + Jcc.
 */
function loopProgram(seed: number): { code: Uint8Array; regs: Record<string, bigint>; mem: Uint8Array; listing: string[] } {
  const r = rng(seed);
  const body = generate(seed, 8);
  const code: number[] = [];
  const listing = [...body.listing];
  code.push(...Array.from(body.code.subarray(0, body.code.length - 1)));
  // push rbx; push qword [D+8]; pop rdx; pop rbx (RSP moves, memory through the stack)
  code.push(0x53, 0xff, 0x34, 0x25, ...le32(DATA + 8), 0x5a, 0x5b);
  // call +n (to a `lea rax, [rax + rdx*2 + 5]; ret` after the loop)
  const callAt = code.length;
  code.push(0xe8, 0, 0, 0, 0);
  listing.push('push rbx; push [D+8]; pop rdx; pop rbx; call f');
  const cc = r() % 16;
  code.push(0x48, 0x39, 0xc8 | 0); // cmp rax, rcx
  code.push(0x70 + cc, 3, 0x48, 0xff, 0xc0); // jcc +3; inc rax
  listing.push(`cmp rax, rcx; j${cc} over inc rax`);
  const cnt = DATA + 0x100;
  code.push(0x48, 0xff, 0x0c, 0x25, ...le32(cnt)); // dec qword [count]
  const rel = -(code.length + 6);
  code.push(0x0f, 0x85, ...le32(rel)); // jnz top
  code.push(0xf4);
  const f = code.length;
  code.push(0x48, 0x8d, 0x44, 0x50, 0x05, 0xc3); // lea rax, [rax + rdx*2 + 5]; ret
  const d = f - (callAt + 5);
  code.splice(callAt + 1, 4, ...le32(d));
  listing.push('dec qword [count]; jnz top; hlt; f: lea rax, [rax+rdx*2+5]; ret');
  const mem = new Uint8Array(0x108);
  mem.set(body.mem, 0);
  mem[0x100] = 2 + (r() % 30);
  return { code: Uint8Array.from(code), regs: body.regs, mem, listing };
}

