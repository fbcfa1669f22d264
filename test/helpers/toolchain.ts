/** Finding and running the C toolchains the layout checks and guest builds use. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const INCLUDE_DIR = resolve(__dirname, '../../include');

/** True when `cmd --version` runs. */
export function hasCommand(cmd: string): boolean {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return r.status === 0;
}

/** The C compiler for an arch on this machine, if installed. */
export function ccFor(arch: 'x86_64' | 'arm64'): string | undefined {
  const host = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'arm64' : undefined;
  const candidates = arch === host ? ['gcc', 'cc'] : arch === 'arm64' ? ['aarch64-linux-gnu-gcc'] : ['x86_64-linux-gnu-gcc'];
  return candidates.find(hasCommand);
}

/** Compiles C source with `-fsyntax-only`; returns gcc's verdict and diagnostics. */
export function compileC(cc: string, source: string, args: string[] = []): { ok: boolean; stderr: string } {
  const dir = mkdtempSync(join(tmpdir(), 'vkvm-cc-'));
  const file = join(dir, 'check.c');
  writeFileSync(file, source);
  const r = spawnSync(cc, ['-std=gnu11', '-fsyntax-only', '-Wall', '-Werror', ...args, file], { encoding: 'utf8' });
  return { ok: r.status === 0, stderr: r.stderr ?? '' };
}
