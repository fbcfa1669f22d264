/**
 * The x86 wasm probe (`npm run bench:x86wasm`): what a wasm backend behind the x86 JIT's
 * `X86Emitter` seam gives on the x86-64 workload mix, through the real KVM_RUN loop. Modes:
 *   js        today's block JIT (JsEmitter);
 *   js-wram   the same with guest RAM inside a shared WebAssembly.Memory;
 *   wasm      the hot blocks of a warm-up run written by the x86 wasm writer (emit-wasm.ts: GPRs
 *             in i64 locals, the register file X86_HOT in the wasm memory, lazy flags, inline
 *             TLB probe, blocks chained in one module) in place of their JS translations;
 *   engine    the wasm engine as a VM runs it (`virtualSys({ jitEngine: 'wasm' })`): modules
 *             written at run time from the blocks the JIT finds hot (their writing counted), the
 *             vCPU's control area in the memory the guest RAM is in;
 *   engine-sab  the same with guest RAM where sys.alloc() puts it today (a SharedArrayBuffer of its
 *             own): every guest access takes the exact path through an import (not in the default
 *             modes; `--modes js,engine-sab`).
 * Each run is a process of its own (a 16-round warm-up on a fresh VM, then the measured run on
 * another), modes alternating; every measured VM starts cold (interpreted until hot, translated)
 * as `npm run bench`'s. Every run must end with the same checksum, registers, RFLAGS, RIP and
 * guest RAM hash (non-zero exit otherwise). MIPS: retired instructions per CPU second.
 * Options: --rounds N (default 48), --repeats N (default 3), --mask M, --modes a,b, --out FILE.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { virtualSys } from '../src/index.js';
import { WA } from '../src/arch/arm64/wasm-module.js';
import { image, MIX, runGuest } from './guests.js';
import { mismatches, numArg, runChildMode, spawnModes, type ModeRun } from './modes.js';
import { bootWork, finalState, hotBlocks, installX86Wasm, probeModule, PROBE_PAGES, RAM_OFF, x86WasmMemory, type FinalState } from './x86-wasm-probe.js';
import { useX86WasmMemory, type X86WasmEngine } from '../src/arch/x86/emit-wasm-run.js';
import { DEFAULT_WASM_HOTNESS } from '../src/arch/x86/blocks.js';

const argv = process.argv.slice(2);
const opt = (name: string, d: number) => numArg(argv, name, d);
const ROUNDS = opt('--rounds', 48);
const REPEATS = opt('--repeats', 3);
const MASK = opt('--mask', MIX);
const img = image('.', 'x86_64');

type Mode = 'js' | 'js-wram' | 'wasm' | 'engine' | 'engine-sab';
interface Run extends ModeRun {
  mode: Mode;
  state: FinalState;
  entries?: number;
  handlerCalls?: number;
  slowAccesses?: number;
  condCalls?: number;
  wasmInsns?: number;
  modules?: number;
  coverage?: { inModules: number; hot: number };
  buildMs?: number;
}

function hot() {
  const warm = bootWork(virtualSys({ arch: 'x86_64', jitHotness: DEFAULT_WASM_HOTNESS }), img, 8, MASK);
  runGuest(warm);
  const blocks = hotBlocks(warm.machine());
  warm.close();
  const t0 = process.hrtime.bigint();
  const code = probeModule(blocks);
  const tWrite = Number(process.hrtime.bigint() - t0) / 1e6;
  const t1 = process.hrtime.bigint();
  new WA.Module(code.bytes);
  const tCompile = Number(process.hrtime.bigint() - t1) / 1e6;
  return { code, tWrite, tCompile };
}

function once(mode: Mode, rounds = ROUNDS): Run {
  const { code } = hot();
  const sys = virtualSys({ arch: 'x86_64', ...(mode.startsWith('engine') ? { jitEngine: 'wasm' as const } : {}) });
  const memory = mode === 'js' || mode === 'engine-sab' ? undefined : x86WasmMemory(PROBE_PAGES);
  // The engine's vCPU takes its control area from the memory the guest RAM is in.
  if (mode === 'engine') useX86WasmMemory(memory!, 0, RAM_OFF);
  const g = bootWork(sys, img, rounds, MASK, memory);
  useX86WasmMemory(null);
  const wb = mode === 'wasm' ? installX86Wasm(g, code, memory!) : undefined;
  const u0 = process.cpuUsage();
  const r = runGuest(g);
  const u = process.cpuUsage(u0);
  const seconds = (u.user + u.system) / 1e6;
  const instructions = r.instructions!;
  const run: Run = { mode, seconds, instructions, mips: instructions / seconds / 1e6, checksum: r.checksum, state: finalState(g) };
  if (wb) Object.assign(run, { entries: wb.entries, handlerCalls: wb.handlerCalls, slowAccesses: wb.slowAccesses, condCalls: wb.condCalls, wasmInsns: wb.insns });
  if (mode.startsWith('engine')) {
    const eng = (g.machine().blocks as unknown as { hook: X86WasmEngine }).hook;
    Object.assign(run, { wasmInsns: eng.wasmInsns(), modules: eng.stats.modules, buildMs: eng.stats.buildMs, entries: eng.entries(), coverage: eng.coverage() });
  }
  g.close();
  return run;
}

const modesIdx = argv.indexOf('--modes');
const modes: Mode[] = modesIdx >= 0 ? (argv[modesIdx + 1]!.split(',') as Mode[]) : ['js', 'js-wram', 'wasm', 'engine'];
runChildMode<Mode>(argv, once, 8);
const { code, tWrite, tCompile } = hot();
const runs = spawnModes<Run>(argv, modes, REPEATS);

const ref = runs[0]!;
const bad = mismatches(runs, (a, b) => a.rflags === b.rflags && a.rip === b.rip && a.ram === b.ram && a.regs.every((v, i) => v === b.regs[i]));

const med = (m: Mode, f: (r: Run) => number) => {
  const v = runs.filter((r) => r.mode === m).map(f).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)]!;
};
console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} on ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}`);
console.log(`x86-64 mix (mask ${MASK}), ${ROUNDS} rounds, ${ref.instructions} instructions, checksum 0x${ref.checksum.toString(16)}; ${REPEATS} runs per mode, alternating; median MIPS (CPU time)`);
for (const m of modes) {
  const r = runs.find((x) => x.mode === m)!;
  const extra = r.modules !== undefined ? `  in wasm ${((100 * r.wasmInsns!) / r.instructions).toFixed(1)}%, modules written ${r.modules} in ${r.buildMs!.toFixed(1)} ms, last module ${r.coverage!.inModules} of ${r.coverage!.hot} hot blocks, entries ${r.entries}` : r.entries !== undefined ? `  entries ${r.entries}, in wasm ${((100 * r.wasmInsns!) / r.instructions).toFixed(1)}%, handler calls ${r.handlerCalls}, slow accesses ${r.slowAccesses}, cond calls ${r.condCalls}` : '';
  console.log(`  ${m.padEnd(8)} ${med(m, (x) => x.mips).toFixed(0).padStart(5)} MIPS  ${med(m, (x) => x.seconds).toFixed(3)} s  [${runs.filter((x) => x.mode === m).map((x) => x.mips.toFixed(0)).join(', ')}]${extra}`);
}
const mj = med('js', (r) => r.mips);
if (modes.includes('wasm') && modes.includes('js')) console.log(`wasm / js: ${(med('wasm', (r) => r.mips) / mj).toFixed(2)}x`);
console.log(`module: ${code.blocks.length} blocks (${code.insns.length} instructions), ${code.bytes.length} bytes, written in ${tWrite.toFixed(1)} ms, compiled in ${tCompile.toFixed(1)} ms`);
for (const r of code.rejected) console.log(`  left out: block 0x${r.block.insns[0]!.addr.toString(16)} (${r.block.insns.length} instructions): ${r.why}`);
console.log(bad === 0 ? 'results: identical (checksum, GPRs, RFLAGS, RIP, RAM hash) in every run' : `results: ${bad} MISMATCHES`);
const outIdx = argv.indexOf('--out');
if (outIdx >= 0) writeFileSync(argv[outIdx + 1]!, JSON.stringify({ date: new Date().toISOString(), loadavg: loadavg(), rounds: ROUNDS, runs: runs.map(({ state, ...r }) => r), module: { blocks: code.blocks.length, bytes: code.bytes.length } }, null, 2) + '\n');
if (bad !== 0) process.exitCode = 1;
