/**
 * `vkvm exec` as a command: the program's exit status passes through (128+N for a signal), the
 * usage errors, --timeout, a missing program, and a program that never touches /dev/kvm.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { main, type CliIo } from '../../src/cli/main.js';
import { processIo } from '../../src/cli/io.js';
import { cleanup, execUnavailable, vkvmExec } from './helpers.js';

function cli(args: string[]): { code: number; out: string; err: string } {
  let out = '';
  let err = '';
  const io: CliIo = { ...processIo, stdout: (c) => void (out += String(c)), stderr: (c) => void (err += c) };
  return { code: main(args, io) as number, out, err }; // exec is synchronous
}

afterAll(cleanup);

describe('vkvm exec usage', () => {
  it('--help prints the usage', () => {
    const r = cli(['exec', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('usage: vkvm exec');
  });
  it('no program is a usage error (2)', () => {
    const r = cli(['exec', '--']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('no program given');
  });
  it('an unknown option is a usage error (2)', () => {
    const r = cli(['exec', '--bogus', '--', '/bin/true']);
    expect(r.code).toBe(2);
    expect(r.err).toContain("unknown option '--bogus'");
  });
  it('a bad --arch is a usage error', () => {
    expect(cli(['exec', '--arch', 'riscv', '--', '/bin/true']).code).toBe(2);
  });
  it('a missing program is 127, as a shell says', () => {
    const r = cli(['exec', '--', '/nonexistent/program']);
    expect(r.code).toBe(127);
    expect(r.err).toContain('not found');
  });
});

describe.skipIf(execUnavailable())('vkvm exec status', () => {
  it("the program's exit status", () => {
    expect(vkvmExec([], '/bin/sh', ['-c', 'exit 7']).code).toBe(7);
    expect(vkvmExec([], '/bin/sh', ['-c', 'echo hi']).out).toBe('hi\n');
  }, 60_000);
  it('killed by a signal: 128 + its number', () => {
    expect(vkvmExec([], '/bin/sh', ['-c', 'kill -9 $$']).code).toBe(137);
  }, 60_000);
  it('--timeout kills the program: 124', () => {
    const t0 = Date.now();
    const r = vkvmExec(['--timeout', '1'], '/bin/sleep', ['30']);
    expect(r.code).toBe(124);
    expect(r.err).toContain('killed after 1 s');
    expect(Date.now() - t0).toBeLessThan(20_000);
  }, 60_000);
  it('a PATH name is found as execvp would', () => {
    expect(vkvmExec([], 'true').code).toBe(0);
  }, 60_000);
});
