/**
 * `vkvm run <image>`: boots a guest image in the mini-VMM (src/vmm) on either backend; with
 * `--kernel` it boots Linux instead (run-linux.ts).
 * The guest's UART output goes to stdout byte for byte; --trace lines, breakpoint reports and the
 * exit summary go to stderr. Exit status: the guest's (exit device value; 0 after HLT or PSCI
 * SYSTEM_OFF), or one of EXIT for VMM-side failures.
 * @module
 */
import { parseArgs } from 'node:util';
import { isKvmError, type Arch } from '../index.js';
import { MiniVmm, type Backend, type RunResult } from '../vmm/vmm.js';
import { MAX_BREAKPOINTS, type X86Mode } from '../vmm/boards.js';
import { ImageError, isElf, parseElf } from '../vmm/image.js';
import { parseArch, parseNumber, parseRegValue, parseSize } from './args.js';
import { GuestConsole, nativeSysFor, runExitStatus } from './guest.js';
import { CliError, EXIT, type CliIo } from './io.js';
import { cmdRunLinux, RUN_LINUX_USAGE } from './run-linux.js';

export const RUN_USAGE = `usage: vkvm run <image> [options]
       vkvm run --kernel FILE [--initrd FILE] [--cmdline STR] [--disk FILE] [--mem SIZE] [--cpus N]
                [--backend virtual|native]      (boots Linux: vkvm run --kernel x --help)

  <image>               ELF (x86-64, i386, AArch64) or flat binary
  --arch x86_64|arm64   guest architecture (default: the ELF's; required for a flat binary)
  --backend B           virtual (default: the in-process emulator) or native (the real /dev/kvm)
  --device PATH         the KVM device for --backend native (default /dev/kvm)
  --mode M              x86 entry mode: real, protected or long (default: long; protected for i386 ELF)
  --load ADDR           load address of a flat binary (default x86: 0x7c00 real, 0x100000 otherwise;
                        arm64: 0x40000000)
  --entry ADDR          entry point (default: the ELF's, or the load address)
  --mem SIZE            guest RAM, e.g. 64M (default 16M)
  --reg NAME=VALUE      initial register (rdi=5, x0=1...); repeatable
  --break ADDR          hardware breakpoint via KVM_SET_GUEST_DEBUG (up to ${MAX_BREAKPOINTS}); repeatable
  --trace               print every exit (stderr)
  --max-exits N         stop after N exits (default 1000000)
  --timeout SECONDS     stop after this much wall-clock time
  --no-summary          do not print the exit summary
  --irqchip none|kernel none (default): polled devices, HLT ends the run; kernel: the in-kernel
                        irqchip (x86 KVM_CREATE_IRQCHIP, arm64 a vGICv3 at 0x08000000 with
                        redistributors at 0x080a0000) and an interrupt-driven UART (x86 COM1 on
                        GSI 4, arm64 the PL011 on SPI 1 = INTID 33, by KVM_IRQ_LINE)
  --virtio-rng          a virtio-rng (entropy) device, virtio-mmio version 2 (needs --irqchip
                        kernel): x86 at 0xd0000000 on GSI 5, arm64 at 0x0a000000 on SPI 16 =
                        INTID 48; QueueNotify is an ioeventfd, the interrupt an irqfd (edge)
  --input STR           console input, typed into the UART as it has room (and, interrupt-driven,
                        while its receive interrupt is on); escapes \\n \\r \\t \\\\ \\xHH

Devices: x86: 16550 UART at port 0x3f8, exit device at port 0xf4 (a write ends the run with that
status), result port 0x500. arm64 ("virt" map): RAM at 0x40000000, PL011 at 0x09000000, exit
device at 0x09100000, result device at 0x09101000, PSCI 0.2 over HVC (SYSTEM_OFF ends the run).
With --irqchip kernel, HLT/WFI wait for interrupts in KVM; the run ends at the exit device or
PSCI SYSTEM_OFF (or --timeout).
Exit status: the guest's (exit device value, 0 after HLT/SYSTEM_OFF); 2 usage or image error,
3 backend unavailable, 4 guest crash or KVM error, 5 --max-exits or --timeout reached.
`;

export function cmdRun(argv: readonly string[], io: CliIo): number | Promise<number> {
  const { values: o, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      arch: { type: 'string' },
      backend: { type: 'string', default: 'virtual' },
      device: { type: 'string', default: '/dev/kvm' },
      mode: { type: 'string' },
      load: { type: 'string' },
      entry: { type: 'string' },
      mem: { type: 'string' },
      reg: { type: 'string', multiple: true, default: [] },
      break: { type: 'string', multiple: true, default: [] },
      trace: { type: 'boolean', default: false },
      'max-exits': { type: 'string' },
      'no-summary': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
      // Linux boot (run-linux.ts)
      kernel: { type: 'string' },
      initrd: { type: 'string' },
      cmdline: { type: 'string' },
      append: { type: 'string' },
      disk: { type: 'string' },
      'disk-ro': { type: 'boolean', default: false },
      cpus: { type: 'string' },
      irqchip: { type: 'string' },
      'virtio-rng': { type: 'boolean', default: false },
      input: { type: 'string' },
      'no-virtio-console': { type: 'boolean', default: false },
      timeout: { type: 'string' },
      clock: { type: 'string' },
    },
  });
  if (o.help) {
    io.stdout(o.kernel !== undefined ? RUN_LINUX_USAGE : RUN_USAGE);
    return EXIT.OK;
  }
  const linuxOnly = (['initrd', 'cmdline', 'append', 'disk', 'disk-ro', 'cpus', 'no-virtio-console', 'clock'] as const).filter((k) => o[k] !== undefined && o[k] !== false);
  if (o.kernel !== undefined) {
    if (o['virtio-rng'] || o.input !== undefined) throw new CliError(`--${o['virtio-rng'] ? 'virtio-rng' : 'input'} applies to flat/ELF images, not --kernel`);
    if (positionals.length) throw new CliError(`--kernel boots Linux: no image argument (got ${positionals.join(' ')})`);
    const imageOnly = (['mode', 'load', 'entry'] as const).filter((k) => o[k] !== undefined);
    if (imageOnly.length || (o.reg as string[]).length || (o.break as string[]).length) throw new CliError(`--${[...imageOnly, ...((o.reg as string[]).length ? ['reg'] : []), ...((o.break as string[]).length ? ['break'] : [])][0]} applies to flat/ELF images, not --kernel`);
    return cmdRunLinux(
      {
        kernel: o.kernel,
        ...(o.initrd !== undefined ? { initrd: o.initrd } : {}),
        ...(o.cmdline !== undefined ? { cmdline: o.cmdline } : {}),
        ...(o.append !== undefined ? { append: o.append } : {}),
        ...(o.disk !== undefined ? { disk: o.disk } : {}),
        diskRo: o['disk-ro'] as boolean,
        ...(o.mem !== undefined ? { mem: o.mem } : {}),
        ...(o.cpus !== undefined ? { cpus: o.cpus } : {}),
        ...(o.arch !== undefined ? { arch: o.arch } : {}),
        backend: o.backend as string,
        device: o.device as string,
        ...(o.irqchip !== undefined ? { irqchip: o.irqchip } : {}),
        virtioConsole: !o['no-virtio-console'],
        ...(o.timeout !== undefined ? { timeout: o.timeout } : {}),
        ...(o.clock !== undefined ? { clock: o.clock } : {}),
        ...(o['max-exits'] !== undefined ? { maxExits: o['max-exits'] } : {}),
        trace: o.trace as boolean,
        summary: !o['no-summary'],
      },
      io,
    );
  }
  if (linuxOnly.length) throw new CliError(`--${linuxOnly[0]} needs --kernel`);
  if (positionals.length !== 1) throw new CliError(positionals.length ? `run takes one image, got ${positionals.length}` : 'run: no image given\n\n' + RUN_USAGE);
  const path = positionals[0]!;

  // Options first, then the image: a usage error should not depend on the file.
  const backend = o.backend as string;
  if (backend !== 'virtual' && backend !== 'native') throw new CliError(`unknown backend '${backend}': use virtual or native`);
  let mode: X86Mode | undefined;
  if (o.mode !== undefined) {
    if (o.mode !== 'real' && o.mode !== 'protected' && o.mode !== 'long') throw new CliError(`unknown x86 mode '${o.mode}': use real, protected or long`);
    mode = o.mode;
  }
  const loadAddr = o.load !== undefined ? parseNumber('--load', o.load) : undefined;
  const entry = o.entry !== undefined ? parseNumber('--entry', o.entry) : undefined;
  const memSize = o.mem !== undefined ? parseSize('--mem', o.mem) : undefined;
  if (memSize !== undefined && (memSize <= 0 || memSize % 4096 !== 0)) throw new CliError(`--mem must be a positive multiple of 4K (got ${o.mem})`);
  const maxExits = o['max-exits'] !== undefined ? parseNumber('--max-exits', o['max-exits']) : undefined;
  if (maxExits === 0) throw new CliError('--max-exits must be at least 1');
  let irqchip: 'none' | 'kernel' = 'none';
  if (o.irqchip !== undefined) {
    if (o.irqchip !== 'none' && o.irqchip !== 'kernel') throw new CliError(`unknown --irqchip '${o.irqchip}' for an image: use none or kernel`);
    irqchip = o.irqchip;
  }
  if (o['virtio-rng'] && irqchip !== 'kernel') throw new CliError('--virtio-rng needs --irqchip kernel (its interrupt is an irqfd)');
  const timeout = o.timeout !== undefined ? Number(o.timeout) : undefined;
  if (timeout !== undefined && !(timeout > 0)) throw new CliError(`--timeout must be a positive number of seconds (got ${o.timeout})`);
  const consoleInput = o.input !== undefined ? unescapeInput(o.input) : undefined;
  const breakpoints = (o.break as string[]).map((b) => parseNumber('--break', b));
  if (breakpoints.length > MAX_BREAKPOINTS) throw new CliError(`at most ${MAX_BREAKPOINTS} --break addresses (hardware breakpoints)`);
  const regs: Record<string, bigint> = {};
  for (const r of o.reg as string[]) {
    const m = /^([a-z0-9]+)=(.+)$/i.exec(r);
    if (!m) throw new CliError(`--reg '${r}': expected NAME=VALUE`);
    regs[m[1]!.toLowerCase()] = parseRegValue(`--reg ${m[1]}`, m[2]!);
  }

  let image: Uint8Array;
  try {
    image = io.readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    throw new CliError(`cannot read image '${path}': ${why}`);
  }
  if (image.length === 0) throw new CliError(`image '${path}' is empty`);

  let arch: Arch;
  const elfArch = isElf(image) ? elfArchOf(image, path) : undefined;
  if (o.arch !== undefined) {
    arch = parseArch(o.arch);
    if (elfArch && elfArch !== arch) throw new CliError(`'${path}' is an ${elfArch} ELF image, but --arch is ${arch}`);
  } else if (elfArch) {
    arch = elfArch;
  } else {
    throw new CliError(`'${path}' is a flat binary: give its architecture with --arch x86_64|arm64`);
  }
  if (mode && arch !== 'x86_64') throw new CliError('--mode applies to x86_64 guests only');

  const sys = nativeSysFor(io, backend, arch, o.device as string, 'guest');
  const con = new GuestConsole(io);
  let vmm: MiniVmm;
  try {
    vmm = new MiniVmm({
      arch,
      ...(sys ? { sys, devicePath: o.device } : { backend: backend as Backend }),
      image,
      ...(mode ? { x86Mode: mode } : {}),
      ...(loadAddr !== undefined ? { loadAddr } : {}),
      ...(entry !== undefined ? { entry } : {}),
      ...(memSize !== undefined ? { memSize } : {}),
      ...(maxExits !== undefined ? { maxExits } : {}),
      regs,
      breakpoints,
      recordExits: false,
      irqchip,
      ...(o['virtio-rng'] ? { virtioRng: true } : {}),
      ...(consoleInput ? { consoleInput } : {}),
      ...(timeout !== undefined ? { timeLimitMs: timeout * 1000 } : {}),
      console: con.byte,
      ...(o.trace ? { trace: con.trace } : {}),
      onBreakpoint: (h) => io.stderr(`[break] #${h.n} at 0x${h.addr.toString(16)}: ${h.regs}\n`),
    });
  } catch (e) {
    if (e instanceof ImageError) throw new CliError(`${path}: ${e.message}`);
    if (isKvmError(e) && e.syscall === 'open') throw new CliError(openErrorText(o.device as string, e.code), EXIT.BACKEND);
    if (isKvmError(e)) throw new CliError(`setting up the VM failed: ${e.message}`, EXIT.GUEST_ERROR);
    if (e instanceof Error && /^unknown .* register|real-mode entry|guest memory|in-kernel irqchip/.test(e.message)) throw new CliError(e.message, /KVM_CAP_IRQCHIP/.test(e.message) ? EXIT.BACKEND : EXIT.USAGE);
    throw e;
  }
  let r: RunResult;
  try {
    r = vmm.run();
  } finally {
    con.flush();
    vmm.close();
  }
  return runExitStatus(io, con, r, !o['no-summary']);
}

/** `--input`: the string's bytes (latin1), with \n \r \t \\ and \xHH escapes. */
export function unescapeInput(s: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '\\' || i + 1 >= s.length) {
      out.push(s.charCodeAt(i) & 0xff);
      continue;
    }
    const n = s[++i]!;
    if (n === 'n') out.push(10);
    else if (n === 'r') out.push(13);
    else if (n === 't') out.push(9);
    else if (n === '\\') out.push(92);
    else if (n === 'x' && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else throw new CliError(`--input: unknown escape \\${n}`);
  }
  return Uint8Array.from(out);
}

function elfArchOf(image: Uint8Array, path: string): Arch {
  try {
    return parseElf(image).arch!;
  } catch (e) {
    if (e instanceof ImageError) throw new CliError(`${path}: ${e.message}`);
    throw e;
  }
}

function openErrorText(device: string, code: string): string {
  if (code === 'ENOENT') return `${device} does not exist: this machine has no KVM (use --backend virtual)`;
  if (code === 'EACCES' || code === 'EPERM') return `${device}: permission denied: add this user to the 'kvm' group (or use --backend virtual)`;
  return `cannot open ${device}: ${code}`;
}
