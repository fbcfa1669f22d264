/**
 * `vkvm run --kernel`: option errors (each with its message and exit status), the architecture
 * taken from the kernel image, and a short run of the x86 fixture under --timeout (console on
 * stdout, summary on stderr, status 5 when the limit ends it).
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { processIo } from '../../src/cli/io.js';
import { EXIT, main } from '../../src/cli/main.js';
import { kernelArch } from '../../src/cli/run-linux.js';
import { readFileSync } from 'node:fs';

const BIN = resolve(__dirname, 'bin');
const BZ = resolve(BIN, 'x86_64/bzImage');
const CPIO = resolve(BIN, 'x86_64/initramfs.cpio');

function cli(args: string[]) {
  const out: Buffer[] = [];
  let err = '';
  const code = main(args, { ...processIo, stdout: (c) => void out.push(Buffer.from(c)), stderr: (c) => void (err += c) });
  return { code, out: Buffer.concat(out).toString('latin1'), err };
}

describe('vkvm run --kernel', () => {
  it('tells option mistakes apart, before reading anything', () => {
    expect(cli(['run', '--kernel', BZ, 'extra.bin'])).toMatchObject({ code: EXIT.USAGE, err: expect.stringMatching(/no image argument/) });
    expect(cli(['run', '--kernel', BZ, '--mode', 'real'])).toMatchObject({ code: EXIT.USAGE, err: expect.stringMatching(/--mode applies to flat\/ELF images/) });
    expect(cli(['run', 'x.bin', '--initrd', CPIO])).toMatchObject({ code: EXIT.USAGE, err: expect.stringMatching(/--initrd needs --kernel/) });
    expect(cli(['run', '--kernel', BZ, '--cpus', '0'])).toMatchObject({ code: EXIT.USAGE, err: expect.stringMatching(/--cpus must be 1-64/) });
    expect(cli(['run', '--kernel', BZ, '--mem', '10M'])).toMatchObject({ code: EXIT.USAGE, err: expect.stringMatching(/--mem must be a multiple of 2M/) });
    expect(cli(['run', '--kernel', BZ, '--irqchip', 'pic'])).toMatchObject({ code: EXIT.USAGE, err: expect.stringMatching(/unknown --irqchip/) });
    expect(cli(['run', '--kernel', BZ, '--timeout=0'])).toMatchObject({ code: EXIT.USAGE, err: expect.stringMatching(/--timeout must be a positive/) });
    expect(cli(['run', '--kernel', BZ, '--clock', 'wall'])).toMatchObject({ code: EXIT.USAGE, err: expect.stringMatching(/unknown --clock 'wall': use host or deterministic/) });
    expect(cli(['run', '--kernel', BZ, '--clock', 'deterministic', '--backend', 'native'])).toMatchObject({ code: EXIT.USAGE, err: expect.stringMatching(/--clock applies to the virtual backend/) });
    expect(cli(['run', 'x.bin', '--clock', 'host'])).toMatchObject({ code: EXIT.USAGE, err: expect.stringMatching(/--clock needs --kernel/) });
    expect(cli(['run', '--kernel', '/nonexistent/bzImage'])).toMatchObject({ code: EXIT.USAGE, err: expect.stringMatching(/cannot read kernel '\/nonexistent\/bzImage': no such file/) });
    expect(cli(['run', '--kernel', CPIO])).toMatchObject({ code: EXIT.USAGE, err: expect.stringMatching(/neither an x86-64 bzImage nor an arm64 Image/) });
    expect(cli(['run', '--kernel', BZ, '--arch', 'arm64'])).toMatchObject({ code: EXIT.USAGE, err: expect.stringMatching(/is an x86_64 kernel, but --arch is arm64/) });
    expect(cli(['run', '--kernel', BZ, '--cpus', '2', '--irqchip', 'userspace'])).toMatchObject({ code: EXIT.USAGE, err: expect.stringMatching(/needs the in-kernel irqchip/) });
    expect(cli(['run', '--kernel', BZ, '--disk', '/nonexistent/disk.img'])).toMatchObject({ code: EXIT.USAGE, err: expect.stringMatching(/cannot open disk/) });
  });

  it('takes the architecture from the image', () => {
    expect(kernelArch(new Uint8Array(readFileSync(BZ)))).toBe('x86_64');
    expect(kernelArch(new Uint8Array(readFileSync(CPIO)))).toBeUndefined();
  });

  it('--help for --kernel prints the Linux options', () => {
    const r = cli(['run', '--kernel', 'x', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--initrd FILE/);
    expect(r.out).toMatch(/--disk FILE/);
  });

  it('boots the x86 fixture until --timeout: the summary on stderr, status 5', () => {
    const r = cli(['run', '--kernel', BZ, '--initrd', CPIO, '--mem', '64M', '--timeout', '4']);
    expect(r.code).toBe(EXIT.MAX_EXITS);
    expect(r.err).toMatch(/^ +io out 0x3fb uart16550 +\d+$/m); // the decompressor set up COM1 (earlyprintk=serial)
    expect(r.err).toMatch(/^exit summary \(virtual x86_64\): \d+ exits$/m);
    expect(r.err).toMatch(/x86_64 Linux: 6\.12\.\d+ .*irqchip kernel, 1 vCPU\(s\), 64 MiB/); // KVM_CAP_IRQCHIP: the in-kernel one
    expect(r.err).toMatch(/ended: stopped after 4000 ms \(time limit\)/);
  }, 60_000);
});
