/**
 * (a) for C programs: the KVM_RUN round trip of bench/shim/roundtrip.c through `vkvm exec` (the
 * LD_PRELOAD shim and its server; arm64 under qemu-aarch64 with the arm64 shim), and the same
 * program directly on /dev/kvm where present. The program times its own ioctl() calls.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.js';
import { processIo } from '../src/cli/io.js';
import { compilerFor, shimUnavailableReason } from '../src/server/build.js';
import type { GuestArch } from './guests.js';

export interface ShimRoundTrip {
  readonly ns: number;
  readonly samples: number[];
}

const dir = mkdtempSync(join(tmpdir(), 'vkvm-bench-shim-'));

/** Builds roundtrip.c for `arch`; the program's path, or why not. */
export function buildRoundTrip(root: string, arch: GuestArch): string | { why: string } {
  const cc = compilerFor(arch);
  if (!cc) return { why: `no C compiler for ${arch}` };
  const out = join(dir, `roundtrip-${arch}`);
  const r = spawnSync(cc, ['-O2', '-o', out, join(root, 'bench/shim/roundtrip.c')], { encoding: 'utf8' });
  return r.status === 0 ? out : { why: `${cc} failed: ${r.stderr}` };
}

function parse(out: string): ShimRoundTrip | undefined {
  const samples = [...out.matchAll(/^ns (\d+)/gm)].map((m) => Number(m[1]));
  if (!samples.length) return undefined;
  const s = [...samples].sort((a, b) => a - b);
  return { ns: s[s.length >> 1]!, samples };
}

/** The program through `vkvm exec` (in this process, as the CLI runs it). */
export function shimRoundTrip(prog: string, arch: GuestArch, iterations: number, batches: number): ShimRoundTrip | { why: string } {
  const why = shimUnavailableReason(arch);
  if (why) return { why };
  const file = join(dir, `out-${arch}.txt`);
  const fd = openSync(file, 'w');
  let err = '';
  try {
    const code = main(['exec', '--arch', arch, '--timeout', '600', '--', prog, String(iterations), String(batches)], { ...processIo, stderr: (c) => void (err += c), programStdio: [-1, fd, -1] });
    const r = parse(readFileSync(file, 'utf8'));
    if (code !== 0 || !r) return { why: `vkvm exec failed (status ${code}): ${err.trim()}` };
    return r;
  } finally {
    closeSync(fd);
  }
}

/** The program run directly (on the real /dev/kvm). */
export function nativeRoundTrip(prog: string, iterations: number, batches: number): ShimRoundTrip | { why: string } {
  const r = spawnSync(prog, [String(iterations), String(batches)], { encoding: 'utf8' });
  return parse(r.stdout ?? '') ?? { why: `failed: ${r.stderr}` };
}
