/**
 * `vkvm exec [--arch A] -- PROGRAM ARGS...`: runs an unmodified program whose /dev/kvm is the
 * virtual one. The program gets the LD_PRELOAD shim (native/shim, built on demand); this process
 * is its server (src/server) until the program ends, and exits with the program's status.
 * arm64 programs on an x86-64 host run under qemu-aarch64 (user mode) with an arm64 shim.
 * @module
 */
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Arch } from '../uapi/index.js';
import { serverLibrary, shimLibrary, shimUnavailableReason } from '../server/build.js';
import { serverNative } from '../server/native.js';
import { ShimServer } from '../server/server.js';
import { parseArch, parseNumber } from './args.js';
import { LINUX_LATEST, LINUX_OLDEST, parseLinuxOption } from '../kernel/linux.js';
import { CliError, EXIT, type CliIo } from './io.js';

export const EXEC_USAGE = `usage: vkvm exec [options] -- PROGRAM [ARGS...]

Runs PROGRAM with /dev/kvm served by vkvm's virtual kernel (an LD_PRELOAD shim forwards the
program's KVM calls to this process). Exits with the program's status (128+N if killed by signal N).

  --arch x86_64|arm64   the virtual host (default: PROGRAM's ELF machine, else this host's);
                        arm64 programs on an x86-64 host run under qemu-aarch64
  --no-jit              interpret guest code only (no block JIT)
  --slice N             instructions per KVM_RUN time slice (default 2000000)
  --linux X.Y           present the KVM API of Linux X.Y (${LINUX_OLDEST} to ${LINUX_LATEST}, the default):
                        what later releases added is absent (e.g. for that release's selftests)
  --trace               print every forwarded call (stderr)
  --timeout S           kill the program (SIGKILL) after S seconds and exit 124; a guest that
                        never exits keeps KVM_RUN running, as on Linux
  --prepare             only build the shim and server libraries (for --arch, else every arch
                        with a compiler) and print their paths (npm run build:shim)

Needs a C compiler (the shim is built from the package's C sources on first use; the
cross compiler aarch64-linux-gnu-gcc for arm64 programs) and the optional dependency koffi.
`;

/** Where arm64 libraries live for qemu-aarch64 on an x86-64 Debian/Ubuntu host. */
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';

export function cmdExec(argv: readonly string[], io: CliIo): number {
  // Options come first; `--` or the first word that is not an option starts the command.
  let start = 0;
  while (start < argv.length && argv[start]!.startsWith('-') && argv[start] !== '--') start += ['--arch', '--slice', '--timeout', '--linux'].includes(argv[start]!) ? 2 : 1;
  const opts = argv.slice(0, start);
  const cmd = argv.slice(argv[start] === '--' ? start + 1 : start);
  let arch: Arch | undefined;
  let jit = true;
  let trace = false;
  let slice: number | undefined;
  let timeout: number | undefined;
  let linux: string | undefined;
  for (let i = 0; i < opts.length; i++) {
    const o = opts[i]!;
    if (o === '--help' || o === '-h') {
      io.stdout(EXEC_USAGE);
      return EXIT.OK;
    } else if (o === '--arch') arch = parseArch(need(opts, ++i, o));
    else if (o.startsWith('--arch=')) arch = parseArch(o.slice(7));
    else if (o === '--no-jit') jit = false;
    else if (o === '--trace') trace = true;
    else if (o === '--slice') slice = parseNumber('--slice', need(opts, ++i, o));
    else if (o === '--linux') {
      linux = need(opts, ++i, o);
      try {
        parseLinuxOption(linux);
      } catch (e) {
        throw new CliError(`exec: --${(e as Error).message}`);
      }
    } else if (o === '--timeout') timeout = parseNumber('--timeout', need(opts, ++i, o));
    else if (o === '--prepare') return prepare(io, arch);
    else throw new CliError(`exec: unknown option '${o}'\n\n${EXEC_USAGE}`);
  }
  if (!cmd.length) throw new CliError('exec: no program given\n\n' + EXEC_USAGE);
  if (slice !== undefined && slice < 1) throw new CliError('--slice must be at least 1');
  const program = cmd[0]!;
  const path = resolveProgram(program);
  if (!path) throw new CliError(`exec: ${program}: not found`, 127);
  arch ??= elfArch(path) ?? (process.arch === 'arm64' ? 'arm64' : 'x86_64');

  const why = shimUnavailableReason(arch);
  if (why) throw new CliError(`exec: ${why}`, EXIT.BACKEND);
  const foreign = arch === 'arm64' && process.arch !== 'arm64';
  if (foreign && !resolveProgram('qemu-aarch64')) throw new CliError('exec: arm64 programs need qemu-aarch64 (qemu-user) on this host', EXIT.BACKEND);
  let shim: string;
  let nat: ReturnType<typeof serverNative>;
  try {
    shim = shimLibrary(arch);
    nat = serverNative();
  } catch (e) {
    throw new CliError(`exec: ${(e as Error).message}`, EXIT.BACKEND);
  }

  const dir = mkdtempSync(join(tmpdir(), 'vkvm-'));
  const sock = join(dir, 'kvm.sock');
  const server = new ShimServer({ arch, jit, ...(linux !== undefined ? { linux } : {}), ...(slice !== undefined ? { slice } : {}), ...(trace ? { trace: (l: string) => io.stderr(`vkvm: ${l}\n`) } : {}) });
  try {
    server.listen(sock);
    const env = Object.entries(process.env)
      .filter(([k]) => k !== 'VKVM_SOCKET' && (foreign || k !== 'LD_PRELOAD'))
      .map(([k, v]) => `${k}=${v}`);
    let file: string;
    let args: string[];
    if (foreign) {
      file = 'qemu-aarch64';
      args = ['qemu-aarch64', '-L', ARM64_SYSROOT, '-E', `LD_PRELOAD=${shim}`, '-E', `VKVM_SOCKET=${sock}`, path, ...cmd.slice(1)];
    } else {
      const pre = process.env.LD_PRELOAD;
      env.push(`LD_PRELOAD=${pre ? `${shim}:${pre}` : shim}`, `VKVM_SOCKET=${sock}`);
      file = path;
      args = cmd;
    }
    const child = nat.spawn(file, args, env, io.programStdio);
    if (typeof child === 'number') throw new CliError(`exec: cannot start ${program}: errno ${-child}`, 127);
    let status: number | undefined;
    let killed = false;
    const deadline = timeout !== undefined ? Date.now() + timeout * 1000 : Infinity;
    server.serve(
      child.pidfd,
      () => {
        if (Date.now() >= deadline && !killed) {
          nat.kill(child.pid, 9);
          killed = true;
        }
        if (child.pidfd >= 0) return false;
        const w = nat.wait(child.pid, false);
        if (typeof w !== 'number' && w.done) status = w.status;
        return status !== undefined;
      },
      timeout !== undefined || child.pidfd < 0 ? 100 : -1,
    );
    if (status === undefined) {
      const w = nat.wait(child.pid, true);
      status = typeof w === 'number' ? 0x7f : w.status;
    }
    if (child.pidfd >= 0) nat.close(child.pidfd);
    if (killed) {
      io.stderr(`vkvm: exec: ${program} killed after ${timeout} s (--timeout)\n`);
      return 124;
    }
    return (status & 0x7f) === 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f);
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Builds the libraries ahead of time. */
function prepare(io: CliIo, arch: Arch | undefined): number {
  const arches: Arch[] = arch ? [arch] : ['x86_64', 'arm64'];
  try {
    io.stdout(`server helper: ${serverLibrary()}\n`);
    for (const a of arches) {
      const why = shimUnavailableReason(a);
      if (why) {
        if (arch) throw new CliError(`exec: ${why}`, EXIT.BACKEND);
        io.stdout(`${a} shim: skipped (${why})\n`);
      } else {
        io.stdout(`${a} shim: ${shimLibrary(a)}\n`);
      }
    }
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`exec: ${(e as Error).message}`, EXIT.BACKEND);
  }
  return EXIT.OK;
}

function need(a: readonly string[], i: number, o: string): string {
  const v = a[i];
  if (v === undefined) throw new CliError(`${o} needs a value`);
  return v;
}

/** PROGRAM as execvp would find it. */
function resolveProgram(p: string): string | undefined {
  const ok = (f: string) => {
    try {
      return statSync(f).isFile();
    } catch {
      return false;
    }
  };
  if (p.includes('/')) return ok(p) ? p : undefined;
  for (const d of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const f = join(d || '.', p);
    if (ok(f)) return f;
  }
  return undefined;
}

/** The KVM arch of an ELF executable (e_machine), if it is one. */
function elfArch(path: string): Arch | undefined {
  if (!existsSync(path)) return undefined;
  const b = Buffer.alloc(20);
  let fd = -1;
  try {
    fd = openSync(path, 'r');
    if (readSync(fd, b, 0, 20, 0) < 20) return undefined;
  } catch {
    return undefined;
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  if (b.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const machine = b.readUInt16LE(18);
  return machine === 62 ? 'x86_64' : machine === 183 ? 'arm64' : undefined;
}
