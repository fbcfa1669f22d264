/**
 * The child-process protocol of the wasm probe benches (bench/wasm.ts, bench/x86-wasm.ts): each
 * (repeat, mode) runs in a process of its own, so every mode starts from a fresh V8.
 * @module
 */
import { spawnSync } from 'node:child_process';

/**
 * In a child (`--mode M` in `argv`): a warm-up run of `warmRounds` (V8 optimizes the run loop,
 * interpreter and handlers once per process), then the measured run on a fresh VM, printed as
 * JSON on stdout; the process exits. Otherwise returns.
 */
export function runChildMode<M extends string>(argv: readonly string[], once: (mode: M, rounds?: number) => unknown, warmRounds: number): void {
  const i = argv.indexOf('--mode');
  if (i < 0) return;
  once(argv[i + 1] as M, warmRounds);
  process.stdout.write(JSON.stringify(once(argv[i + 1] as M)) + '\n');
  process.exit(0);
}

/** Runs this script once per mode, `repeats` times over, as children (see runChildMode): their results in order. */
export function spawnModes<R>(argv: readonly string[], modes: readonly string[], repeats: number): R[] {
  const runs: R[] = [];
  for (let rep = 0; rep < repeats; rep++) {
    for (const m of modes) {
      const c = spawnSync(process.execPath, [...process.execArgv, process.argv[1]!, ...argv, '--mode', m], { encoding: 'utf8', maxBuffer: 1 << 26 });
      if (c.status !== 0) throw new Error(`--mode ${m} failed: ${c.stderr}`);
      runs.push(JSON.parse(c.stdout.trim().split('\n').pop()!) as R);
    }
  }
  return runs;
}

/** The number after `name` in `argv`, or `d`. */
export function numArg(argv: readonly string[], name: string, d: number): number {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : d;
}

/** What every mode's run reports: its rate, and enough to tell whether two runs ended the same. */
export interface ModeRun {
  readonly mode: string;
  readonly seconds: number;
  readonly instructions: number;
  readonly mips: number;
  readonly checksum: number;
  readonly state: { readonly ram: number };
}

/**
 * Runs whose result differs from the first run's (checksum, instruction count, and `sameState` on
 * the arch's final state), each reported on stderr: their number.
 */
export function mismatches<R extends ModeRun>(runs: readonly R[], sameState: (a: R['state'], b: R['state']) => boolean): number {
  const ref = runs[0]!;
  let bad = 0;
  for (const r of runs) {
    if (r.checksum === ref.checksum && r.instructions === ref.instructions && sameState(r.state, ref.state)) continue;
    bad++;
    console.error(`MISMATCH: ${r.mode} checksum ${r.checksum.toString(16)} insns ${r.instructions} ram ${r.state.ram.toString(16)} vs ${ref.checksum.toString(16)} ${ref.instructions} ${ref.state.ram.toString(16)}`);
  }
  return bad;
}
