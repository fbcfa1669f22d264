/**
 * The mini-VMM (src/vmm) booting real guests: the bundled demo guests on the virtual
 * backend, the same x86 guests on the real /dev/kvm with byte-identical console output and the
 * same exit sequence, the freestanding-C benchmark workload's checksum on both backends and as a
 * host program, hardware breakpoints, and the image loader's checks.
 *
 * Native runs are kept to what this host runs in reasonable time: on the PVM host of this project
 * every guest mode -- long mode included -- goes through KVM's instruction emulator (~1.5 M
 * guest instructions/s), so the native benchmark runs one round only.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageError, MiniVmm, parseElf, runGuest, X86_BOARD, type MiniVmmOptions, type RunResult } from '../../src/vmm/index.js';
import { nativeX86 } from '../helpers/backends.js';
import { hasCommand } from '../helpers/toolchain.js';
import { ARM64_HELLO, BENCH_DIR, benchExpect, DEMO_GUESTS, fibLine, image, ROOT, X86_BENCH, X86_HELLO, X86_HELLO16, X86_HELLO32 } from './guests.js';

const text = (r: RunResult) => Buffer.from(r.console).toString('latin1');
const count = (r: RunResult, key: string) => r.counts.get(key) ?? 0;

const benchImage = image(X86_BENCH);

/** The x86 guests both backends run, with how to enter them. */
const X86_CASES: { name: string; opts: Omit<MiniVmmOptions, 'backend'> }[] = [
  { name: 'C guest, long mode (ELF)', opts: { arch: 'x86_64', image: image(X86_HELLO) } },
  { name: 'real mode (flat at 0000:7c00)', opts: { arch: 'x86_64', image: image(X86_HELLO16), x86Mode: 'real' } },
  { name: 'protected mode (flat at 1 MiB, REP OUTSB)', opts: { arch: 'x86_64', image: image(X86_HELLO32), x86Mode: 'protected' } },
  { name: 'C benchmark workload, 1 round', opts: { arch: 'x86_64', image: benchImage, regs: { rdi: 1n } } },
];

describe('mini-VMM on the virtual backend', () => {
  it('boots the x86 C guest in long mode: UART text, exit device', () => {
    const r = runGuest({ arch: 'x86_64', image: image(X86_HELLO) });
    expect(text(r)).toBe('hello from x86-64 long mode\n' + fibLine());
    expect(r.end).toBe('exit-device');
    expect(r.status).toBe(0);
    // Every character: one LSR poll (IN 0x3fd) and one THR write; plus the divisor latch write.
    expect(count(r, 'io in 0x3fd uart16550')).toBe(r.console.length);
    expect(count(r, 'io out 0x3f8 uart16550')).toBe(r.console.length + 1);
    expect(r.exits.at(-1)).toBe('io out 0xf4 4 00000000');
    expect(r.exits.length).toBe(r.totalExits);
  });

  it('boots the arm64 C guest at EL1: PL011 text, PSCI SYSTEM_OFF', () => {
    const r = runGuest({ arch: 'arm64', image: image(ARM64_HELLO) });
    expect(text(r)).toBe('hello from arm64 EL1\n' + fibLine());
    expect(r.end).toBe('poweroff');
    expect(r.status).toBe(0);
    expect(count(r, 'mmio write 0x9000000 pl011')).toBe(r.console.length);
    expect(count(r, 'mmio read 0x9000018 pl011')).toBe(r.console.length);
    expect(r.exits.at(-1)).toBe('system_event shutdown');
  });

  it('boots a real-mode guest (ends in HLT) and a protected-mode guest (exit device)', () => {
    const real = runGuest({ arch: 'x86_64', image: image(X86_HELLO16), x86Mode: 'real' });
    expect(text(real)).toBe('hello from x86 real mode\n');
    expect(real.end).toBe('halt');
    const prot = runGuest({ arch: 'x86_64', image: image(X86_HELLO32), x86Mode: 'protected' });
    expect(text(prot)).toBe('hello from x86 protected mode\n');
    expect(prot.end).toBe('exit-device');
  });

  it('runs the freestanding C benchmark workload: checksum = the host build of the same C', () => {
    const expected = benchExpect();
    expect(expected.size).toBeGreaterThanOrEqual(2);
    for (const rounds of [1, 2]) {
      const r = runGuest({ arch: 'x86_64', image: image(X86_BENCH), regs: { rdi: BigInt(rounds) } });
      const sum = expected.get(rounds)!;
      expect(r.results).toEqual([sum]);
      expect(text(r)).toBe(`checksum=0x${sum.toString(16).padStart(8, '0')}\n`);
      expect(r.end).toBe('halt');
    }
  });

  it('stops at --max-exits and reports a triple fault as a guest error', () => {
    const r = runGuest({ arch: 'x86_64', image: image(X86_HELLO), maxExits: 10 });
    expect(r.end).toBe('max-exits');
    expect(r.totalExits).toBe(10);
    const ud2 = runGuest({ arch: 'x86_64', image: Uint8Array.of(0x0f, 0x0b) }); // #UD with no IDT
    expect(ud2.end).toBe('guest-error');
    expect(ud2.exits).toEqual(['shutdown']);
  });

  it('gives the guest its initial registers (--reg) on both arches', () => {
    // mov eax, edi ; out 0x500, eax (via dx) ; hlt -- reports rdi through the result port.
    const x86 = runGuest({ arch: 'x86_64', image: Uint8Array.of(0x89, 0xf8, 0x66, 0xba, 0x00, 0x05, 0xef, 0xf4), regs: { rdi: 0xdeadbeefn } });
    expect(x86.results).toEqual([0xdeadbeef]);
    // arm64: mov x1, #0x09100000 ; movk x1, #0x1000 ; str w5, [x1] (result) ; mov x2, #0x09100000 ; str w5, [x2] (exit).
    const a = (w: number) => [w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24];
    const prog = Uint8Array.from([...a(0xd2a12201), ...a(0xf2820001), ...a(0xb9000025), ...a(0xd2a12202), ...a(0xb9000045)]);
    const arm = runGuest({ arch: 'arm64', image: prog, regs: { x5: 0x1234n } });
    expect(arm.results).toEqual([0x1234]);
    expect(arm.end).toBe('exit-device');
  });
});

describe('hardware breakpoints (KVM_SET_GUEST_DEBUG)', () => {
  /** Address of the first IN AL,DX (0xec) of hello16.bin: its LSR polling loop. */
  const pollAddr = X86_BOARD.FLAT_REAL + image(X86_HELLO16).indexOf(0xec);

  it('x86: stops at the entry and at every pass through a loop, then steps over', () => {
    const hits: bigint[] = [];
    const r = runGuest({ arch: 'x86_64', image: image(X86_HELLO16), x86Mode: 'real', breakpoints: [X86_BOARD.FLAT_REAL, pollAddr], onBreakpoint: (h) => hits.push(h.addr) });
    expect(text(r)).toBe('hello from x86 real mode\n'); // the guest is not disturbed
    expect(hits[0]).toBe(BigInt(X86_BOARD.FLAT_REAL));
    expect(hits.slice(1).every((a) => a === BigInt(pollAddr))).toBe(true);
    expect(hits.length).toBe(1 + r.console.length); // one poll per character (LSR is always ready)
    expect(r.exits[0]).toBe(`debug breakpoint 0x${X86_BOARD.FLAT_REAL.toString(16)}`);
    expect(r.exits[1]).toMatch(/^debug step 0x7c01$/); // CLD is one byte
  });

  it('arm64: stops at the entry point and steps over it', () => {
    const entry = parseElf(image(ARM64_HELLO)).entry!;
    const hits: bigint[] = [];
    const r = runGuest({ arch: 'arm64', image: image(ARM64_HELLO), breakpoints: [entry], onBreakpoint: (h) => hits.push(h.addr) });
    expect(hits).toEqual([BigInt(entry)]);
    expect(r.exits.slice(0, 2)).toEqual([`debug breakpoint 0x${entry.toString(16)}`, `debug step 0x${(entry + 4).toString(16)}`]);
    expect(text(r)).toBe('hello from arm64 EL1\n' + fibLine());
  });
});

describe.skipIf(!nativeX86)('the same x86 guests on /dev/kvm and on the virtual backend', () => {
  for (const c of X86_CASES) {
    it(`${c.name}: byte-identical console output, same exit sequence`, () => {
      const virt = runGuest({ ...c.opts, backend: 'virtual' });
      const native = runGuest({ ...c.opts, backend: 'native' });
      expect(native.backend).toBe('native');
      expect(native.console.length).toBeGreaterThan(0);
      expect(Buffer.from(native.console).equals(Buffer.from(virt.console))).toBe(true);
      expect(native.exits).toEqual(virt.exits);
      expect([native.end, native.status]).toEqual([virt.end, virt.status]);
      expect(native.results).toEqual(virt.results);
      // The benchmark: its checksum on /dev/kvm is the host build's too.
      if (c.opts.image === benchImage) expect(native.results).toEqual([benchExpect().get(1)]);
    }, 60_000);
  }

  it('breakpoints hit at the same places with the same registers', () => {
    const pollAddr = X86_BOARD.FLAT_REAL + image(X86_HELLO16).indexOf(0xec);
    const run = (backend: 'virtual' | 'native') => {
      const hits: string[] = [];
      const r = runGuest({ arch: 'x86_64', backend, image: image(X86_HELLO16), x86Mode: 'real', breakpoints: [pollAddr], onBreakpoint: (h) => hits.push(`${h.addr} ${h.regs}`) });
      return { hits, exits: r.exits };
    };
    const v = run('virtual');
    const n = run('native');
    expect(n.hits.length).toBeGreaterThan(0);
    expect(n.hits).toEqual(v.hits);
    expect(n.exits).toEqual(v.exits);
  }, 60_000);

  it('a triple fault is KVM_EXIT_SHUTDOWN on both', () => {
    const ud2 = Uint8Array.of(0x0f, 0x0b);
    expect(runGuest({ arch: 'x86_64', backend: 'native', image: ud2 }).exits).toEqual(runGuest({ arch: 'x86_64', image: ud2 }).exits);
  });
});

describe('native execution of the benchmark workload', () => {
  it.skipIf(!hasCommand('gcc'))('work.c built as a host program computes the committed work.expect', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vkvm-bench-'));
    try {
      const exe = join(dir, 'host');
      const cc = spawnSync('gcc', ['-O2', '-o', exe, 'host.c', 'work.c'], { cwd: BENCH_DIR, encoding: 'utf8' });
      expect(cc.stderr).toBe('');
      const lines = readFileSync(join(BENCH_DIR, 'work.expect'), 'utf8').trim().split('\n');
      expect(lines.length).toBeGreaterThanOrEqual(8);
      for (const line of lines) {
        const [, rounds, mask, sum] = /^rounds=(\d+) mask=(\d+) checksum=(0x[0-9a-f]{8})$/.exec(line)!;
        // host prints "<rounds> <mask> <ns> <checksum>"
        const out = spawnSync(exe, [rounds!, mask!], { encoding: 'utf8' }).stdout.trim().split(' ');
        expect(out[3], line).toBe(sum);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('image loading', () => {
  it('reads the arch, entry and segments of the committed ELFs', () => {
    const x = parseElf(image(X86_HELLO));
    expect([x.arch, x.elfClass, x.entry]).toEqual(['x86_64', 64, 0x100000]);
    const a = parseElf(image(ARM64_HELLO));
    expect([a.arch, a.entry]).toEqual(['arm64', 0x4000_0000]);
    expect(a.segments[0]!.gpa).toBe(0x4000_0000);
  });

  it('refuses images that cannot run, before touching KVM', () => {
    const elf = image(X86_HELLO);
    const patched = (off: number, bytes: number[]) => {
      const b = elf.slice();
      b.set(bytes, off);
      return b;
    };
    expect(() => parseElf(patched(18, [40, 0]))).toThrow(/ARM|e_machine 40/); // EM_ARM
    expect(() => parseElf(patched(5, [2]))).toThrow(/big-endian/);
    expect(() => parseElf(elf.subarray(0, 40))).toThrow(ImageError);
    expect(() => new MiniVmm({ arch: 'arm64', image: elf })).toThrow(/x86_64 ELF, not arm64/);
    expect(() => new MiniVmm({ arch: 'x86_64', image: elf, memSize: 0x100000 })).toThrow(/outside guest RAM/);
    expect(() => new MiniVmm({ arch: 'x86_64', image: Uint8Array.of(0xf4), loadAddr: 0x1800 })).toThrow(/overlaps the VMM's boot tables/);
    expect(() => new MiniVmm({ arch: 'x86_64', image: Uint8Array.of(0xf4), x86Mode: 'real', loadAddr: 0x100000 })).toThrow(/below 1 MiB/);
    expect(() => new MiniVmm({ arch: 'x86_64', image: new Uint8Array(0) })).toThrow(/empty/);
  });
});

describe('the mini-VMM uses only the public typed API', () => {
  it('imports nothing from the emulator: only src/index.js, node built-ins and its own modules', () => {
    const dir = resolve(ROOT, 'src/vmm');
    const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.ts') ? [join(d, e.name)] : []));
    const files = walk(dir);
    expect(files.length).toBeGreaterThanOrEqual(20);
    for (const f of files) {
      const src = readFileSync(f, 'utf8');
      const specs = [...src.matchAll(/from\s+'([^']+)'/g)].map((m) => m[1]!);
      for (const s of specs) {
        if (s.startsWith('node:')) continue;
        const target = resolve(dirname(f), s).replace(/\.js$/, '.ts');
        const ok = target === resolve(ROOT, 'src/index.ts') || target.startsWith(dir + '/');
        expect(ok, `${f} imports ${s}`).toBe(true);
      }
    }
  });
});

describe('the shipped CLI does not depend on examples/', () => {
  it('src/ imports nothing from examples/ (the mini-VMM lives in src/vmm)', () => {
    const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith('.ts') ? [join(d, e.name)] : []));
    const files = walk(resolve(ROOT, 'src'));
    expect(files.length).toBeGreaterThan(50);
    for (const f of files) expect(readFileSync(f, 'utf8'), f).not.toMatch(/from\s+'[^']*examples\//);
  });
});

describe('committed guest images are built from their sources', () => {
  const tools = hasCommand('gcc') && hasCommand('nasm') && hasCommand('aarch64-linux-gnu-gcc') && hasCommand('ld');
  it.skipIf(!tools)('examples/guests/build.sh and bench/guests/build.sh reproduce them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vkvm-guests-'));
    try {
      for (const [src, name, outs] of [
        [DEMO_GUESTS, 'demo', ['x86/hello.elf', 'x86/hello16.bin', 'x86/hello32.bin', 'arm64/hello.elf']],
        [BENCH_DIR, 'bench', ['x86/work.bin', 'arm64/work.bin', 'work.expect']],
      ] as const) {
        const copy = join(dir, name);
        cpSync(src, copy, { recursive: true });
        for (const o of outs) rmSync(join(copy, o));
        const r = spawnSync('sh', [join(copy, 'build.sh')], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        for (const o of outs) expect(readFileSync(join(copy, o)).equals(readFileSync(join(src, o))), `${name}: ${o}`).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
