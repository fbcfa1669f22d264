/**
 * The workload outside vkvm: built from bench/guests/work.c with the guests' own code-generation
 * flags (so workload() is the same machine code) into a native host program (the physical
 * limit) and into static Linux programs for qemu-x86_64 / qemu-aarch64 user mode.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const COMMON = ['-O2', '-ffreestanding', '-fno-builtin', '-fno-tree-loop-distribute-patterns', '-fno-strict-aliasing', '-mgeneral-regs-only', '-fno-stack-protector', '-fno-asynchronous-unwind-tables'];
const X86 = [...COMMON, '-m64', '-mno-red-zone', '-fno-pic', '-fcf-protection=none'];
const A64 = [...COMMON, '-fno-pic'];

export function hasCommand(cmd: string, arg = '--version'): boolean {
  const r = spawnSync(cmd, [arg], { stdio: 'ignore' });
  return r.status === 0;
}

export interface HostPrograms {
  /** x86-64 native (also run under qemu-x86_64). */
  readonly x86?: string;
  /** aarch64 static Linux program for qemu-aarch64. */
  readonly arm64?: string;
  readonly notes: string[];
}

function cc(compiler: string, args: string[]): string | null {
  const r = spawnSync(compiler, args, { encoding: 'utf8' });
  return r.status === 0 ? null : `${compiler} ${args.join(' ')}: ${r.stderr || r.error}`;
}

/** Builds what the installed toolchains allow. */
export function buildHostPrograms(root: string): HostPrograms {
  const dir = mkdtempSync(join(tmpdir(), 'vkvm-bench-'));
  const src = join(root, 'bench/guests');
  const notes: string[] = [];
  let x86: string | undefined;
  let arm64: string | undefined;
  if (hasCommand('gcc')) {
    const out = join(dir, 'work-x86_64');
    const err =
      cc('gcc', [...X86, '-c', join(src, 'work.c'), '-o', join(dir, 'work-x86.o')]) ??
      cc('gcc', ['-O2', '-static', '-no-pie', '-I', src, '-o', out, join(src, 'host.c'), join(dir, 'work-x86.o')]);
    if (err) notes.push(`x86-64 host program not built: ${err}`);
    else x86 = out;
  } else notes.push('gcc not installed: no native run');
  const a64cc = 'aarch64-linux-gnu-gcc';
  if (hasCommand(a64cc)) {
    const out = join(dir, 'work-aarch64');
    const err =
      cc(a64cc, [...A64, '-c', join(src, 'work.c'), '-o', join(dir, 'work-a64.o')]) ?? cc(a64cc, ['-O2', '-static', '-I', src, '-o', out, join(src, 'host.c'), join(dir, 'work-a64.o')]);
    if (err) notes.push(`aarch64 program not built: ${err}`);
    else arm64 = out;
  } else notes.push(`${a64cc} not installed: no qemu-aarch64 run`);
  return { x86, arm64, notes };
}

export interface HostRun {
  /** Median nanoseconds of workload(rounds, mask) over the repeats. */
  readonly ns: number;
  readonly checksum: number;
}

/** Runs `prog` (under `runner` when given: qemu-x86_64 / qemu-aarch64) and returns the median time. */
export function runHost(prog: string, rounds: number, mask: number, repeats: number, runner?: string): HostRun {
  const args = [String(rounds), String(mask), String(repeats)];
  const r = runner ? spawnSync(runner, [prog, ...args], { encoding: 'utf8' }) : spawnSync(prog, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${runner ?? prog} failed: ${r.stderr || r.error}`);
  const lines = r.stdout.trim().split('\n').map((l) => l.split(' '));
  const ns = lines.map((f) => Number(f[2])).sort((a, b) => a - b);
  return { ns: ns[ns.length >> 1]!, checksum: Number(lines[0]![3]) >>> 0 };
}
