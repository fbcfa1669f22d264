/** Running C programs through `vkvm exec` from tests: compile, run in-process, capture stdout. */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main, type CliIo } from '../../src/cli/main.js';
import { processIo } from '../../src/cli/io.js';
import { shimUnavailableReason } from '../../src/server/build.js';
import { ccFor } from '../helpers/toolchain.js';

/** Why `vkvm exec` cannot run here (tests skip), or undefined. */
export function execUnavailable(arch: 'x86_64' | 'arm64' = 'x86_64'): string | undefined {
  const why = shimUnavailableReason(arch);
  if (why) return why;
  try {
    require.resolve('koffi');
  } catch {
    return 'koffi is not installed';
  }
  if (arch === 'arm64' && process.arch !== 'arm64') {
    if (spawnSync('qemu-aarch64', ['--version'], { stdio: 'ignore' }).status !== 0) return 'qemu-aarch64 is not installed';
    if (!existsSync('/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1')) return 'no arm64 libc for qemu-aarch64 (libc6-arm64-cross)';
  }
  return undefined;
}

export const TMP = mkdtempSync(join(tmpdir(), 'vkvm-shim-test-'));
export function cleanup(): void {
  rmSync(TMP, { recursive: true, force: true });
}

/** Compiles C sources into an executable for `arch`; returns its path. */
export function compile(arch: 'x86_64' | 'arm64', out: string, sources: string[], flags: string[] = []): string {
  const cc = ccFor(arch);
  if (!cc) throw new Error(`no C compiler for ${arch}`);
  const exe = join(TMP, out);
  const r = spawnSync(cc, ['-O2', '-Wall', '-Werror', '-o', exe, ...sources, ...flags], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cc} failed:\n${r.stderr}`);
  return exe;
}

let seq = 0;
/**
 * `vkvm exec [opts] -- program args` in this process, with the program's stdout captured (and
 * its stderr in the same file with `mergeStderr`).
 */
export function vkvmExec(opts: string[], program: string, args: string[] = [], mergeStderr = false): { code: number; out: string; err: string } {
  const file = join(TMP, `out-${process.pid}-${seq++}.txt`);
  const fd = openSync(file, 'w');
  let err = '';
  try {
    const io: CliIo = { ...processIo, stdout: () => {}, stderr: (c) => void (err += c), programStdio: [-1, fd, mergeStderr ? fd : -1] };
    const code = main(['exec', ...opts, '--', program, ...args], io) as number; // exec is synchronous
    return { code, out: readFileSync(file, 'latin1'), err };
  } finally {
    closeSync(fd);
  }
}
