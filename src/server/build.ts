/**
 * Builds the C parts of `vkvm exec` from the sources the package ships (native/shim): the
 * LD_PRELOAD shim for the program's arch and the server's syscall helper for this host. Built
 * with the system C compiler (the cross compiler for an arm64 shim on x86) into build/shim when
 * the package directory is writable, else a per-user cache, and rebuilt when the sources change.
 * @module
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Arch } from '../uapi/index.js';

/** The shim's files (one shared library, see vkvm-shim.h) and the server helper's. */
const SHIM_FILES = ['vkvm-shim.c', 'vkvm-shim-conn.c', 'vkvm-shim-call.c', 'vkvm-shim-share.c'];
const SERVER_FILES = ['vkvm-server.c'];
/** Everything a build reads: a change to any of them rebuilds both libraries. */
const SOURCES = [...SHIM_FILES, ...SERVER_FILES, 'vkvm-shim.h', 'vkvm-proto.h', 'vkvm-wire.h'];

/** The package's root: the nearest directory above this module holding native/shim. */
export function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(d, 'native', 'shim', 'vkvm-shim.c'))) return d;
    const up = dirname(d);
    if (up === d) throw new Error('cannot find native/shim (the shim sources) above ' + fileURLToPath(import.meta.url));
    d = up;
  }
}

export function shimSourceDir(): string {
  return join(packageRoot(), 'native', 'shim');
}

const compilers = new Map<Arch, string | undefined>();

/** A C compiler that targets `arch` on this host, or undefined (looked up once per process). */
export function compilerFor(arch: Arch): string | undefined {
  if (compilers.has(arch)) return compilers.get(arch);
  const host = process.arch === 'x64' ? 'x86_64' : process.arch === 'arm64' ? 'arm64' : undefined;
  const names = arch === host ? [process.env.CC ?? 'cc', 'gcc'] : arch === 'arm64' ? ['aarch64-linux-gnu-gcc'] : ['x86_64-linux-gnu-gcc'];
  const found = names.find((n) => spawnSync(n, ['--version'], { stdio: 'ignore' }).status === 0);
  compilers.set(arch, found);
  return found;
}

function writable(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function outDir(): string {
  const pkg = join(packageRoot(), 'build', 'shim');
  if (writable(pkg)) return pkg;
  const cache = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'vkvm', 'shim');
  mkdirSync(cache, { recursive: true });
  return cache;
}

function sourceHash(cc: string): string {
  const h = createHash('sha256');
  const src = shimSourceDir();
  for (const f of SOURCES) h.update(f).update(readFileSync(join(src, f)));
  h.update(cc);
  return h.digest('hex').slice(0, 16);
}

/** Why `vkvm exec` cannot build its libraries for `arch`, or undefined. */
export function shimUnavailableReason(arch: Arch): string | undefined {
  if (process.platform !== 'linux') return `vkvm exec needs Linux (this is ${process.platform})`;
  if (!compilerFor(arch)) return arch === 'arm64' ? 'no C compiler for arm64 (install gcc-aarch64-linux-gnu)' : 'no C compiler (cc/gcc) to build the shim';
  if (!compilerFor(hostArchOf())) return 'no C compiler (cc/gcc) to build the server helper';
  return undefined;
}

function hostArchOf(): Arch {
  return process.arch === 'arm64' ? 'arm64' : 'x86_64';
}

/**
 * Compiles `files` of native/shim into a shared library for `arch` unless an up-to-date one
 * exists; returns its path.
 */
function build(arch: Arch, files: readonly string[], libName: string, libs: string[]): string {
  const cc = compilerFor(arch);
  if (!cc) throw new Error(shimUnavailableReason(arch) ?? `no compiler for ${arch}`);
  const dir = join(outDir(), arch);
  mkdirSync(dir, { recursive: true });
  const hash = sourceHash(cc);
  const out = join(dir, `${libName}-${hash}.so`);
  if (existsSync(out)) return out;
  const tmp = `${out}.${process.pid}.tmp`;
  execFileSync(cc, ['-O2', '-g', '-Wall', '-fPIC', '-shared', '-fvisibility=hidden', '-o', tmp, ...files.map((f) => join(shimSourceDir(), f)), ...libs], { stdio: ['ignore', 'ignore', 'pipe'] });
  renameSync(tmp, out); // atomic: concurrent builders never see a half-written library
  // Builds of older sources are dead weight once no run can still be starting with them.
  const day = Date.now() - 24 * 3600 * 1000;
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (f.startsWith(`${libName}-`) && f.endsWith('.so') && p !== out && statSync(p).mtimeMs < day) rmSync(p, { force: true });
  }
  return resolve(out);
}

/** The LD_PRELOAD shim for programs of `arch` (built on demand). */
export function shimLibrary(arch: Arch): string {
  return build(arch, SHIM_FILES, 'libvkvm-shim', ['-ldl', '-pthread']);
}

/** The server's syscall helper for this host (built on demand). */
export function serverLibrary(): string {
  return build(hostArchOf(), SERVER_FILES, 'libvkvm-server', []);
}
