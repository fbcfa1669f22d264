/**
 * `vkvm run --kernel FILE`: boots a Linux kernel (x86-64 bzImage, arm64 Image / Image.gz) with an
 * optional initrd, command line and virtio-blk disk (src/vmm/linux). The console (UART and
 * virtio console) goes to stdout; the exit summary to stderr. Exit status 0 when the guest powers
 * off (arm64 PSCI SYSTEM_OFF, x86 HLT with interrupts off after `poweroff`) or resets (x86
 * `reboot=k` through the i8042, as Firecracker ends a guest).
 * @module
 */
import { isKvmError, type Arch } from '../index.js';
import { ImageError } from '../vmm/image.js';
import { decompressArm64Kernel } from '../vmm/linux/arm64.js';
import { LinuxVm, type IrqchipMode } from '../vmm/linux/vm.js';
import { isBzImage } from '../vmm/linux/x86.js';
import type { RunResult } from '../vmm/vmm.js';
import { parseArch, parseNumber, parseSize } from './args.js';
import { GuestConsole, nativeSysFor, runExitStatus } from './guest.js';
import { CliError, EXIT, type CliIo } from './io.js';

export const RUN_LINUX_USAGE = `usage: vkvm run --kernel FILE [options]

  --kernel FILE         Linux kernel: x86-64 bzImage, or arm64 Image (Image.gz, EFI zboot with gzip)
  --initrd FILE         initramfs / initrd
  --cmdline STR         kernel command line (default: the board's console settings;
                        virtio_mmio.device= parameters are appended on x86)
  --append STR          extra parameters after the default (or given) command line
  --disk FILE           a virtio-blk disk backed by FILE (written in place)
  --disk-ro             attach the disk read-only
  --mem SIZE            guest RAM, e.g. 512M (default 256M)
  --cpus N              vCPUs (default 1)
  --arch x86_64|arm64   the kernel's architecture (default: from the image)
  --backend B           virtual (default) or native (the real /dev/kvm)
  --device PATH         the KVM device for --backend native (default /dev/kvm)
  --irqchip MODE        auto (default), kernel (x86: KVM_CREATE_IRQCHIP; arm64: a vGICv3 by
                        KVM_CREATE_DEVICE), userspace (x86: the VMM's i8259/i8254 with
                        KVM_INTERRUPT), none (arm64 without a vGIC)
  --no-virtio-console   no virtio console (hvc0)
  --timeout SECONDS     stop after this much wall-clock time
  --clock host|deterministic
                        the guest's time (virtual backend): the host's clock (default), or
                        time that advances with retired instructions and skips idle periods
  --max-exits N         stop after N exits
  --trace               print every exit (stderr)
  --no-summary          do not print the exit summary

Exit status: 0 when the guest powers off or resets; 4 guest crash or KVM error; 5 limit reached;
2 usage or image error; 3 backend unavailable.
`;

export interface LinuxRunOptions {
  readonly kernel: string;
  readonly initrd?: string;
  readonly cmdline?: string;
  readonly append?: string;
  readonly disk?: string;
  readonly diskRo: boolean;
  readonly mem?: string;
  readonly cpus?: string;
  readonly arch?: string;
  readonly backend: string;
  readonly device: string;
  readonly irqchip?: string;
  readonly virtioConsole: boolean;
  readonly timeout?: string;
  readonly clock?: string;
  readonly maxExits?: string;
  readonly trace: boolean;
  readonly summary: boolean;
}

/** The architecture a kernel image is for, from its format. */
export function kernelArch(b: Uint8Array): Arch | undefined {
  if (isBzImage(b)) return 'x86_64';
  try {
    const raw = decompressArm64Kernel(b);
    if (raw.length >= 64 && new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getUint32(56, true) === 0x644d5241) return 'arm64';
  } catch {
    return undefined;
  }
  return undefined;
}

function readInput(io: CliIo, what: string, path: string): Uint8Array {
  try {
    return io.readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    throw new CliError(`cannot read ${what} '${path}': ${why}`);
  }
}

export function cmdRunLinux(o: LinuxRunOptions, io: CliIo): number | Promise<number> {
  const backend = o.backend;
  if (backend !== 'virtual' && backend !== 'native') throw new CliError(`unknown backend '${backend}': use virtual or native`);
  const memSize = o.mem !== undefined ? parseSize('--mem', o.mem) : undefined;
  if (memSize !== undefined && (memSize < 16 << 20 || memSize % (2 << 20))) throw new CliError(`--mem must be a multiple of 2M and at least 16M (got ${o.mem})`);
  const cpus = o.cpus !== undefined ? parseNumber('--cpus', o.cpus) : undefined;
  if (cpus !== undefined && (cpus < 1 || cpus > 64)) throw new CliError(`--cpus must be 1-64 (got ${o.cpus})`);
  const timeout = o.timeout !== undefined ? Number(o.timeout) : undefined;
  if (timeout !== undefined && !(timeout > 0)) throw new CliError(`--timeout must be a positive number of seconds (got ${o.timeout})`);
  const maxExits = o.maxExits !== undefined ? parseNumber('--max-exits', o.maxExits) : undefined;
  if (maxExits === 0) throw new CliError('--max-exits must be at least 1');
  if (o.clock !== undefined && o.clock !== 'host' && o.clock !== 'deterministic') throw new CliError(`unknown --clock '${o.clock}': use host or deterministic`);
  if (o.clock !== undefined && backend === 'native') throw new CliError('--clock applies to the virtual backend');
  let irqchip: 'auto' | IrqchipMode = 'auto';
  if (o.irqchip !== undefined) {
    if (!['auto', 'kernel', 'userspace', 'none'].includes(o.irqchip)) throw new CliError(`unknown --irqchip '${o.irqchip}': use auto, kernel, userspace or none`);
    irqchip = o.irqchip as typeof irqchip;
  }

  const kernel = readInput(io, 'kernel', o.kernel);
  const initrd = o.initrd !== undefined ? readInput(io, 'initrd', o.initrd) : undefined;
  const detected = kernelArch(kernel);
  let arch: Arch;
  if (o.arch !== undefined) {
    arch = parseArch(o.arch);
    if (detected && detected !== arch) throw new CliError(`'${o.kernel}' is an ${detected} kernel, but --arch is ${arch}`);
  } else if (detected) arch = detected;
  else throw new CliError(`'${o.kernel}' is neither an x86-64 bzImage nor an arm64 Image`);

  const sys = nativeSysFor(io, backend, arch, o.device, 'kernel');
  const con = new GuestConsole(io);
  let vm: LinuxVm;
  try {
    vm = new LinuxVm({
      arch,
      ...(sys ? { sys, devicePath: o.device } : { backend: 'virtual' as const }),
      ...(o.clock !== undefined ? { clock: o.clock as 'host' | 'deterministic' } : {}),
      kernel,
      ...(initrd ? { initrd } : {}),
      ...(o.cmdline !== undefined ? { cmdline: o.cmdline } : {}),
      ...(o.append !== undefined ? { extraCmdline: o.append } : {}),
      ...(o.disk !== undefined ? { disk: o.disk, diskReadOnly: o.diskRo } : {}),
      ...(memSize !== undefined ? { memSize } : {}),
      ...(cpus !== undefined ? { cpus } : {}),
      irqchip,
      virtioConsole: o.virtioConsole,
      ...(timeout !== undefined ? { timeLimitMs: timeout * 1000 } : {}),
      ...(maxExits !== undefined ? { maxExits } : {}),
      console: con.byte,
      ...(o.trace ? { trace: con.trace } : {}),
    });
  } catch (e) {
    if (e instanceof ImageError) throw new CliError(`${o.kernel}: ${e.message}`);
    if (isKvmError(e) && e.syscall === 'open') throw new CliError(`cannot open ${o.device}: ${e.code}`, EXIT.BACKEND);
    if (isKvmError(e)) throw new CliError(`setting up the VM failed: ${e.message}`, EXIT.GUEST_ERROR);
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' && o.disk !== undefined) throw new CliError(`cannot open disk '${o.disk}': no such file`);
    if (e instanceof Error) throw new CliError(e.message);
    throw e;
  }
  const done = (r: RunResult): number => runExitStatus(io, con, r, o.summary);
  // SMP: each vCPU on its own worker thread (this thread keeps the devices: it must not block).
  if (vm.machine.vcpus.length > 1) {
    return vm.runAsync().then(done).finally(() => {
      con.flush();
      vm.close();
    });
  }
  let r: RunResult;
  try {
    r = vm.run();
  } finally {
    con.flush();
    vm.close();
  }
  return done(r);
}
