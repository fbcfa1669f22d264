/**
 * The `vkvm` CLI: `run`, `caps` and `layout`, driven in-process with captured output, plus the
 * real executable spawned once; and one test per error path: what it prints and its exit status.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Kvm, KVM_CAP, KvmError, layoutRows, nativeSys, virtualSys, x86_64, arm64, type Sys } from '../../src/index.js';
import { EXIT, main, type CliIo } from '../../src/cli/main.js';
import { processIo } from '../../src/cli/io.js';
import { nativeX86 } from '../helpers/backends.js';
import { ARM64_HELLO, benchExpect, fibLine, image, ROOT, X86_BENCH, X86_HELLO, X86_HELLO16 } from '../mini-vmm/guests.js';

interface Captured {
  code: number;
  out: string;
  err: string;
}

/** Runs the CLI in-process; `io` overrides parts of the process IO (native backend, files). */
function cli(args: string[], io: Partial<CliIo> = {}): Captured {
  const out: Buffer[] = [];
  let err = '';
  // Synchronous unless a Linux boot runs vCPUs on worker threads (none here).
  const code = main(args, {
    ...processIo,
    stdout: (c) => void out.push(Buffer.from(typeof c === 'string' ? Buffer.from(c) : c)),
    stderr: (c) => void (err += c),
    ...io,
  }) as number;
  return { code, out: Buffer.concat(out).toString('latin1'), err };
}

const p = (rel: string) => resolve(ROOT, rel);
const tmp = mkdtempSync(join(tmpdir(), 'vkvm-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
function tmpFile(name: string, bytes: Uint8Array): string {
  const f = join(tmp, name);
  writeFileSync(f, bytes);
  return f;
}

describe('vkvm run', () => {
  it('boots the x86 C guest: console on stdout, exit summary on stderr, status 0', () => {
    const r = cli(['run', p(X86_HELLO)]);
    expect(r.out).toBe('hello from x86-64 long mode\n' + fibLine());
    expect(r.code).toBe(EXIT.OK);
    expect(r.err).toMatch(/^exit summary \(virtual x86_64\): 119 exits$/m);
    expect(r.err).toMatch(/io out 0xf4 exit +1$/m);
    expect(r.err).toMatch(/ended: the guest wrote 0 to the exit device/);
  });

  it('boots the arm64 C guest (arch from the ELF)', () => {
    const r = cli(['run', p(ARM64_HELLO), '--no-summary']);
    expect([r.code, r.out, r.err]).toEqual([0, 'hello from arm64 EL1\n' + fibLine(), '']);
  });

  it('passes the guest exit-device status through as the exit status', () => {
    // mov eax, 7 ; out 0xf4, eax
    const f = tmpFile('exit7.bin', Uint8Array.of(0xb8, 7, 0, 0, 0, 0xe7, 0xf4));
    expect(cli(['run', f, '--arch', 'x86_64', '--no-summary']).code).toBe(7);
  });

  it('--reg sets initial registers: the benchmark image with rdi = rounds', () => {
    const sum = benchExpect().get(2)!;
    const r = cli(['run', p(X86_BENCH), '--arch', 'x86_64', '--reg', 'rdi=2']);
    expect(r.out).toBe(`checksum=0x${sum.toString(16).padStart(8, '0')}\n`);
    expect(r.err).toContain(`result device: 0x${sum.toString(16)}`);
  });

  it('prints what the guest writes to the debug console, port 0xE9 (Bochs/QEMU isa-debugcon), which reads back 0xE9', () => {
    // real mode: mov al,'H'; out 0xe9,al; mov al,'i'; out 0xe9,al; mov al,10; out 0xe9,al; in al,0xe9; out 0xf4,al
    const code = Uint8Array.of(0xb0, 0x48, 0xe6, 0xe9, 0xb0, 0x69, 0xe6, 0xe9, 0xb0, 0x0a, 0xe6, 0xe9, 0xe4, 0xe9, 0xe6, 0xf4);
    const r = cli(['run', tmpFile('debugcon.bin', code), '--arch', 'x86_64', '--mode', 'real']);
    expect(r.out).toBe('Hi\n');
    expect(r.code).toBe(0xe9);
  });

  it('--trace prints every exit; --break reports hits with registers', () => {
    const r = cli(['run', p(X86_HELLO16), '--arch', 'x86_64', '--mode', 'real', '--trace', '--break', '0x7c00']);
    const traced = r.err.split('\n').filter((l) => l.startsWith('[exit] '));
    const total = Number(/exit summary \(virtual x86_64\): (\d+) exits/.exec(r.err)![1]);
    expect(traced.length).toBe(total);
    expect(traced[0]).toBe('[exit] #1 debug breakpoint 0x7c00');
    expect(r.err).toMatch(/^\[break\] #1 at 0x7c00: rax=0x0 .*rip=0x7c00 /m);
    expect(r.out).toBe('hello from x86 real mode\n');
  });

  it.skipIf(!nativeX86)('--backend native gives the same stdout and summary as the virtual backend', () => {
    const v = cli(['run', p(X86_HELLO)]);
    const n = cli(['run', p(X86_HELLO), '--backend', 'native']);
    expect(n.code).toBe(0);
    expect(n.out).toBe(v.out);
    expect(n.err.replace('native', 'virtual')).toBe(v.err);
  });
});

describe('vkvm run: error paths', () => {
  const usage = (args: string[], re: RegExp, io: Partial<CliIo> = {}, code: number = EXIT.USAGE) => {
    const r = cli(args, io);
    expect(r.err).toMatch(re);
    expect(r.code).toBe(code);
    expect(r.out).toBe('');
  };

  it('missing image file', () => usage(['run', join(tmp, 'no-such.elf')], /^vkvm: cannot read image '.*no-such\.elf': no such file$/m));
  it('image is a directory', () => usage(['run', tmp, '--arch', 'x86_64'], /cannot read image .*: is a directory/));
  it('empty image', () => usage(['run', tmpFile('empty.bin', new Uint8Array(0)), '--arch', 'x86_64'], /image '.*empty\.bin' is empty/));
  it('no image given', () => usage(['run'], /run: no image given/));
  it('unknown --arch', () => usage(['run', p(X86_HELLO), '--arch', 'mips'], /unknown architecture 'mips': use x86_64 or arm64/));
  it('an ELF of the other arch', () => usage(['run', p(ARM64_HELLO), '--arch', 'x86_64'], /is an arm64 ELF image, but --arch is x86_64/));
  it('a flat binary without --arch', () => usage(['run', p(X86_HELLO16)], /is a flat binary: give its architecture with --arch/));
  it('an ELF for an unsupported machine', () => {
    const elf = image(X86_HELLO).slice();
    elf.set([20, 0], 18); // EM_PPC
    usage(['run', tmpFile('ppc.elf', elf)], /ELF for e_machine 20: only x86 and AArch64 images can run here/);
  });
  it('an image that does not fit guest RAM', () => usage(['run', p(X86_HELLO), '--mem', '1M'], /lies outside guest RAM 0x0-0x100000 \(use a larger --mem\)/));
  it('bad option values', () => {
    usage(['run', p(X86_HELLO), '--backend', 'qemu'], /unknown backend 'qemu'/);
    usage(['run', p(X86_HELLO), '--mode', 'v86'], /unknown x86 mode 'v86'/);
    usage(['run', p(ARM64_HELLO), '--mode', 'real'], /--mode applies to x86_64 guests only/);
    usage(['run', p(X86_HELLO), '--break', 'main'], /--break: 'main' is not a number/);
    usage(['run', p(X86_HELLO), ...['1', '2', '3', '4', '5'].flatMap((a) => ['--break', a])], /at most 4 --break addresses/);
    usage(['run', p(X86_HELLO), '--reg', 'rdi'], /--reg 'rdi': expected NAME=VALUE/);
    usage(['run', p(X86_HELLO), '--reg', 'xmm0=1'], /unknown x86 register xmm0/);
    usage(['run', p(ARM64_HELLO), '--reg', 'x31=1'], /unknown arm64 register x31/);
    usage(['run', p(X86_HELLO), '--reg', 'rax=0x1ffffffffffffffff'], /does not fit 64 bits/);
    usage(['run', p(X86_HELLO), '--mem', '1000'], /--mem must be a positive multiple of 4K/);
    usage(['run', p(X86_HELLO), '--max-exits', '0'], /--max-exits must be at least 1/);
    usage(['run', p(X86_HELLO), '--bogus'], /Unknown option '--bogus'/);
  });

  it.skipIf(process.arch !== 'x64')('--backend native with a guest of another arch than the host', () =>
    usage(['run', p(ARM64_HELLO), '--backend', 'native'], /--backend native runs guests of the host's architecture \(x86_64\); this is an arm64 guest: use --backend virtual/, {}, EXIT.BACKEND));

  it('/dev/kvm absent', () => usage(['run', p(X86_HELLO), '--backend', 'native', '--device', join(tmp, 'no-kvm')], /native backend unavailable: .*no-kvm does not exist/, {}, EXIT.BACKEND));

  it('/dev/kvm not permitted (open fails with EACCES)', () => {
    // What nativeSys() does when open(2) is refused, for a user outside the kvm group.
    const unused = () => {
      throw new Error('not reached: open failed');
    };
    const refusing: Sys = {
      backend: 'native',
      arch: 'x86_64',
      open: () => {
        throw KvmError.of('EACCES', 'open');
      },
      ioctl: unused,
      mmap: unused,
      munmap: unused,
      alloc: unused,
      close: unused,
      eventfd: unused,
      read: unused,
      write: unused,
      fallocate: unused,
      waitReadable: unused,
    };
    usage(['run', p(X86_HELLO), '--backend', 'native'], /\/dev\/kvm: permission denied: add this user to the 'kvm' group \(or use --backend virtual\)/, { nativeUnavailableReason: () => undefined, nativeSys: () => refusing }, EXIT.BACKEND);
  });

  it('the FFI cannot load', () =>
    usage(['run', p(X86_HELLO), '--backend', 'native'], /native backend unavailable: FFI unavailable: Cannot find module 'koffi'/, { nativeUnavailableReason: () => "FFI unavailable: Cannot find module 'koffi'" }, EXIT.BACKEND));

  it('a guest that crashes (triple fault) and one that hits --max-exits', () => {
    const ud2 = tmpFile('ud2.bin', Uint8Array.of(0x0f, 0x0b));
    const crash = cli(['run', ud2, '--arch', 'x86_64']);
    expect(crash.code).toBe(EXIT.GUEST_ERROR);
    expect(crash.err).toMatch(/ended: KVM_EXIT_SHUTDOWN \(triple fault\) at 0x100000/);
    const limited = cli(['run', p(X86_HELLO), '--max-exits', '3']);
    expect(limited.code).toBe(EXIT.MAX_EXITS);
    expect(limited.err).toMatch(/: 3 exits\n[\s\S]*ended: stopped after 3 exits \(--max-exits\)/);
  });
});

describe('vkvm caps', () => {
  it('tabulates KVM_CHECK_EXTENSION per backend, with the values each backend reports', () => {
    const r = cli(['caps']);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/^\s+virtual x86_64\s+virtual arm64\s+(native x86_64|native)$/);
    const row = (name: string) => lines.find((l) => l.startsWith(name + ' '))?.trim().split(/\s{2,}/);
    const kx = Kvm.open(virtualSys({ arch: 'x86_64' }));
    const ka = Kvm.open(virtualSys({ arch: 'arm64' }));
    const kn = nativeX86 ? Kvm.open(nativeSys()) : undefined;
    const shown = (v: number) => (v === 0 ? '-' : String(v));
    for (const name of ['USER_MEMORY', 'NR_MEMSLOTS', 'SET_TSS_ADDR', 'SET_GUEST_DEBUG'] as const) {
      const cap = KVM_CAP[name];
      const expected = [shown(kx.checkExtension(cap)), shown(ka.checkExtension(cap)), kn ? shown(kn.checkExtension(cap)) : 'n/a'];
      expect(row(`KVM_CAP_${name} (${cap})`)?.slice(1)).toEqual(expected);
    }
    expect(row('KVM_GET_VCPU_MMAP_SIZE')?.slice(1, 3)).toEqual([String(kx.vcpuMmapSize()), String(ka.vcpuMmapSize())]);
    // Rows no backend reports appear only with --all.
    const all = cli(['caps', '--all']).out.split('\n');
    expect(all.length).toBeGreaterThan(lines.length);
    expect(all.length - 5).toBeGreaterThanOrEqual(Object.keys(KVM_CAP).length);
  });

  it('labels the caps of the seed extensions on their arch, not with the upstream name of the number', () => {
    const all = cli(['caps', '--all']).out.split('\n');
    const cells = (prefix: string) => all.find((l) => l.startsWith(prefix))?.trim().split(/\s{2,}/).slice(1);
    // 180 is KVM_CAP_S390_PROTECTED upstream; on the virtual arm64 host it is the IDSR seed cap.
    expect(cells('KVM_CAP_S390_PROTECTED (180)')?.slice(0, 2)).toEqual(['-', 'n/a']);
    expect(cells('KVM_CAP_ARM_IDSR_TO_USER (180, seed extension, virtual arm64)')?.slice(0, 2)).toEqual(['n/a', '1']);
    expect(cells('KVM_CAP_INTROSPECTION (999, seed extension, virtual x86_64)')?.slice(0, 2)).toEqual(['1', 'n/a']);
  });

  it('names why the native column is empty', () => {
    const r = cli(['caps', '--device', join(tmp, 'no-kvm')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^native: .*no-kvm does not exist/m);
    expect(r.out).toMatch(/KVM_CAP_USER_MEMORY \(3\)\s+1\s+1\s+n\/a$/m);
  });
});

describe('vkvm layout', () => {
  it('prints every member offset of a struct, as declared in src/uapi', () => {
    const r = cli(['layout', 'kvm_run', '--arch', 'x86_64']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toBe(`struct kvm_run (x86_64): ${x86_64.structs.kvm_run.size} bytes, align 8`);
    for (const row of layoutRows(x86_64.structs.kvm_run)) {
      expect(r.out).toMatch(new RegExp(`^ *${row.offset} +${row.size}  .*\\b${row.path.replace(/\./g, '\\.')}(  \\(include/vkvm\\))?$`, 'm'));
    }
    expect(r.out).toMatch(/^ +8 +4 +__u32 +exit_reason$/m); // the uapi's offset of exit_reason
  });

  it('arm64 structs with --arch arm64; `struct` prefix accepted; list without a name', () => {
    const r = cli(['layout', 'struct kvm_vcpu_init', '--arch', 'aarch64']);
    expect(r.out).toContain(`struct kvm_vcpu_init (arm64): ${arm64.structs.kvm_vcpu_init.size} bytes`);
    expect(r.out).toMatch(/^ +4 +28 +__u32\[7\] +features$/m);
    const list = cli(['layout', '--arch', 'x86_64']);
    expect(list.out).toMatch(/^ {2}kvm_regs +144 bytes$/m);
  });

  it('error paths: unknown struct, struct of the other arch, bad arch, two names', () => {
    const unknown = cli(['layout', 'kvm_regz', '--arch', 'x86_64']);
    expect([unknown.code, unknown.err]).toEqual([EXIT.USAGE, "vkvm: no struct 'kvm_regz' in the x86_64 uapi (vkvm layout lists them)\n"]);
    const other = cli(['layout', 'kvm_vcpu_init', '--arch', 'x86_64']);
    expect([other.code, other.err]).toEqual([EXIT.USAGE, 'vkvm: struct kvm_vcpu_init is arm64-only: use --arch arm64\n']);
    expect(cli(['layout', 'kvm_regs', '--arch', 'sparc']).code).toBe(EXIT.USAGE);
    expect(cli(['layout', 'kvm_regs', 'kvm_sregs']).err).toMatch(/layout takes one struct name, got 2/);
  });
});

describe('vkvm: command errors', () => {
  it('no command and unknown commands print the usage', () => {
    const none = cli([]);
    expect([none.code, none.err.split('\n')[0]]).toEqual([EXIT.USAGE, 'vkvm: no command given']);
    const bad = cli(['boot']);
    expect(bad.code).toBe(EXIT.USAGE);
    expect(bad.err).toMatch(/unknown command 'boot'[\s\S]*usage: vkvm <command>/);
    expect(cli(['help']).out).toMatch(/^usage: vkvm <command>/);
  });
});

describe('the vkvm executable', () => {
  const bin = p('src/cli/bin.ts');
  const tsx = ['--import', 'tsx', bin];

  it('runs a guest and exits with its status; a missing image exits 2', () => {
    const ok = spawnSync(process.execPath, [...tsx, 'run', p(X86_HELLO), '--no-summary'], { cwd: ROOT, encoding: 'latin1' });
    expect([ok.status, ok.stdout]).toEqual([0, 'hello from x86-64 long mode\n' + fibLine()]);
    const missing = spawnSync(process.execPath, [...tsx, 'run', 'nope.elf'], { cwd: ROOT, encoding: 'utf8' });
    expect(missing.status).toBe(EXIT.USAGE);
    expect(missing.stderr).toContain("vkvm: cannot read image 'nope.elf': no such file");
  }, 30_000);

  // As a user outside the kvm group (here: root running the CLI as nobody), /dev/kvm is refused.
  const canDrop = process.getuid?.() === 0 && existsSync('/dev/kvm');
  it.skipIf(!canDrop)('as a user without access to /dev/kvm: a clear error, exit 3', () => {
    const r = spawnSync(process.execPath, [...tsx, 'run', p(X86_HELLO), '--backend', 'native'], { cwd: ROOT, encoding: 'utf8', uid: 65534, gid: 65534, env: { ...process.env, HOME: tmpdir() } });
    expect(r.status).toBe(EXIT.BACKEND);
    expect(r.stderr).toMatch(/vkvm: native backend unavailable: \/dev\/kvm is not accessible \(EACCES\); add this user to the kvm group/);
  }, 30_000);
});
