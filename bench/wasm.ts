/**
 * `npm run bench:wasm`: the arm64 steady-state mix (bench/guests/work.c) under the block JIT's two
 * engines, alternating, each run a process of its own (this script with `--mode M`: a 16-round
 * warm-up on a fresh VM, then the measured run on another, so one engine's generated code cannot
 * make the other's run loop polymorphic):
 *   js    hot regions translated to JS functions (`virtualSys({ jitEngine: 'js' })`);
 *   wasm  hot regions written as wasm modules at run time (the default; src/arch/arm64/wasm-engine.ts).
 * Every measured VM starts cold (blocks interpreted until hot, then translated) like
 * `npm run bench`'s. Each run must end with the same checksum, registers, NZCV, PC and guest RAM
 * hash (it exits non-zero otherwise). MIPS are retired instructions per CPU second
 * (process.cpuUsage). Also: the cost of an empty JS -> wasm call, and the engine's counters.
 * Options: --rounds N (default 96), --repeats N (default 3), --out FILE (JSON).
 * @module
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { virtualSys } from '../src/index.js';
import { WA } from '../src/arch/arm64/wasm-module.js';
import { image, MIX, runGuest } from './guests.js';
import { mismatches, numArg, runChildMode, spawnModes, type ModeRun } from './modes.js';
import { bootArm, finalState, wasmStats, type FinalState } from './wasm-probe.js';

const argv = process.argv.slice(2);
const opt = (name: string, d: number) => numArg(argv, name, d);
const root = argv[argv.indexOf('--root') + 1] ?? '.';
const ROUNDS = opt('--rounds', 96);
const REPEATS = opt('--repeats', 3);
const MASK = opt('--mask', MIX);
const img = image(root, 'arm64');

type Mode = 'js' | 'wasm';
interface Run extends ModeRun {
  mode: Mode;
  state: FinalState;
  regions?: number;
  entries?: number;
  slow?: number;
  wasmInsns?: number;
  demoted?: number;
}

function once(mode: Mode, rounds = ROUNDS): Run {
  const sys = virtualSys({ arch: 'arm64', jitEngine: mode });
  const g = bootArm(sys, img, rounds, MASK);
  const u0 = process.cpuUsage();
  const r = runGuest(g);
  const u = process.cpuUsage(u0);
  const seconds = (u.user + u.system) / 1e6;
  const instructions = g.cpu().retired;
  const run: Run = { mode, seconds, instructions, mips: instructions / seconds / 1e6, checksum: r.checksum, state: finalState(g) };
  const wv = wasmStats(g.cpu());
  if (wv) Object.assign(run, { regions: wv.regions, entries: wv.entries, slow: wv.slow, wasmInsns: wv.insns, demoted: wv.demoted });
  g.close();
  return run;
}

const modes: Mode[] = ['js', 'wasm'];
runChildMode<Mode>(argv, once, 16);
const runs = spawnModes<Run>(argv, modes, REPEATS);

// ---- same results everywhere --------------------------------------------------------------------
const ref = runs[0]!;
const bad = mismatches(runs, (a, b) => a.nzcv === b.nzcv && a.pc === b.pc && a.ram === b.ram && a.x.every((v, i) => v === b.x[i]));

// ---- the JS -> wasm call itself -------------------------------------------------------------------
// (module (func (export "f") (param i32) (result i32) local.get 0))
const nop = new WA.Instance(new WA.Module(Uint8Array.from([0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 127, 1, 127, 3, 2, 1, 0, 7, 5, 1, 1, 102, 0, 0, 10, 6, 1, 4, 0, 32, 0, 11])), {}).exports.f as (x: number) => number;
const jsf = (x: number) => x;
function perCall(f: (x: number) => number): number {
  let best = Infinity;
  for (let rep = 0; rep < 5; rep++) {
    let s = 0;
    const u0 = process.cpuUsage();
    for (let i = 0; i < 2e7; i++) s += f(i);
    const u = process.cpuUsage(u0);
    if (s === -1) console.log('');
    best = Math.min(best, ((u.user + u.system) * 1000) / 2e7);
  }
  return best;
}
const nsWasmCall = perCall(nop);
const nsJsCall = perCall(jsf);

// ---- report ---------------------------------------------------------------------------------------
const med = (m: Mode, f: (r: Run) => number) => {
  const v = runs.filter((r) => r.mode === m).map(f).sort((a, b) => a - b);
  return v[Math.floor(v.length / 2)]!;
};
const mips = Object.fromEntries(modes.map((m) => [m, med(m, (r) => r.mips)])) as Record<Mode, number>;
const secs = Object.fromEntries(modes.map((m) => [m, med(m, (r) => r.seconds)])) as Record<Mode, number>;
console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(' ')} on ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}`);
console.log(`arm64 mix, ${ROUNDS} rounds, ${ref.instructions} instructions, checksum 0x${ref.checksum.toString(16)}; ${REPEATS} runs per mode, alternating; median MIPS (CPU time)`);
for (const m of modes) {
  const r = runs.find((x) => x.mode === m)!;
  const extra = r.entries !== undefined ? `  ${r.regions} regions (${r.demoted} back to JS), wasm entries ${r.entries}, in wasm ${((100 * r.wasmInsns!) / r.instructions).toFixed(1)}% of instructions, slow-path instructions ${r.slow}` : '';
  console.log(`  ${m.padEnd(8)} ${mips[m].toFixed(0).padStart(5)} MIPS  ${secs[m].toFixed(3)} s  [${runs.filter((x) => x.mode === m).map((x) => x.mips.toFixed(0)).join(', ')}]${extra}`);
}
console.log(`wasm / js: ${(mips.wasm / mips.js).toFixed(2)}x`);
console.log(`JS -> wasm call (empty export): ${nsWasmCall.toFixed(1)} ns; JS -> JS call: ${nsJsCall.toFixed(1)} ns`);
console.log(bad === 0 ? 'results: identical (checksum, X0-X30/SP, NZCV, PC, RAM hash) in every run' : `results: ${bad} MISMATCHES`);
const outIdx = argv.indexOf('--out');
if (outIdx >= 0) writeFileSync(argv[outIdx + 1]!, JSON.stringify({ date: new Date().toISOString(), loadavg: loadavg(), rounds: ROUNDS, mips, secs, nsWasmCall, nsJsCall, runs: runs.map(({ state, ...r }) => r) }, null, 2) + '\n');
if (bad !== 0) process.exitCode = 1;
