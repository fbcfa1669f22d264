/**
 * The ways the x86 virtual backend runs guest code: the interpreter alone, and the block JIT
 * translating every block the first time it runs (hotness 0, so tests exercise the generated
 * code rather than the cold path) as JS functions ('jit', the default engine) or as WebAssembly
 * modules ('jit-wasm': `jitEngine: 'wasm'`, each block written into a module as it is translated).
 * Differential tests run under all three.
 * @module
 */
import { virtualSys, type Sys, type VirtualSysOptions } from '../../src/index.js';
import { TEST_RUN_TIMEOUT_MS } from './run.js';

export interface X86Engine {
  readonly name: string;
  readonly opts: VirtualSysOptions;
}

export const X86_ENGINES: readonly X86Engine[] = [
  { name: 'interpreter', opts: { arch: 'x86_64', jit: false } },
  { name: 'jit', opts: { arch: 'x86_64', jit: true, jitHotness: 0, jitEngine: 'js' } },
  { name: 'jit-wasm', opts: { arch: 'x86_64', jit: true, jitHotness: 0, jitEngine: 'wasm' } },
];

/** Block-JIT counters of a vCPU of the virtual backend (white-box). */
export interface X86JitStats {
  compiled: number;
  failed: number;
  invalidated: number;
  lastError: unknown;
}

export function x86JitStats(sys: Sys, vcpuFd: number): X86JitStats | null {
  const k = (sys as unknown as { kernel?: { file(fd: number): { vcpu?: { archState: { jitStats?: X86JitStats } } } | undefined } }).kernel;
  return k?.file(vcpuFd)?.vcpu?.archState.jitStats ?? null;
}

/** A virtualSys under `engine`. */
export function engineSys(engine: X86Engine): Sys {
  return virtualSys({ runTimeoutMs: TEST_RUN_TIMEOUT_MS, ...engine.opts });
}
