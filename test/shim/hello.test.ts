/**
 * A kvm-hello-world-style VMM written in C (test/shim/hello/kvm-hello.c), unmodified, on the
 * virtual /dev/kvm through `vkvm exec`: one guest (C, built for each x86 mode) in real mode,
 * protected mode, protected mode with paging and long mode. Its output must be byte for byte the
 * output of the same VMM written in TypeScript (hello/vmm.ts) on virtualSys() in-process, and on
 * the real /dev/kvm where this machine has one.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { virtualSys } from '../../src/index.js';
import { nativeX86 } from '../helpers/backends.js';
import { cleanup, compile, execUnavailable, TMP, vkvmExec } from './helpers.js';
import { GUEST, HELLO_DIR, MODE_NAME, MODES, runHello } from './hello/vmm.js';

const why = execUnavailable('x86_64');

describe.skipIf(why)('kvm-hello (C) through vkvm exec', () => {
  let exe = '';
  beforeAll(() => {
    exe = compile('x86_64', 'kvm-hello', [join(HELLO_DIR, 'kvm-hello.c')]);
  }, 120_000);
  afterAll(cleanup);

  it.each(MODES)('mode -%s prints what the TypeScript VMM prints', (mode) => {
    const want = runHello(virtualSys(), mode);
    expect(want.status).toBe(0);
    expect(want.out).toContain(`${MODE_NAME[mode]} mode: HLT after 15 exits (14 IO) rax=42`);
    const got = vkvmExec(['--timeout', '60'], exe, [`-${mode}`, join(HELLO_DIR, GUEST[mode])]);
    expect(got.err).toBe('');
    expect(got.out).toBe(want.out);
    expect(got.code).toBe(0);
  }, 120_000);

  it('also under the interpreter (--no-jit)', () => {
    const got = vkvmExec(['--timeout', '60', '--no-jit'], exe, ['-l', join(HELLO_DIR, GUEST.l)]);
    expect(got.out).toBe(runHello(virtualSys({ jit: false }), 'l').out);
    expect(got.code).toBe(0);
  }, 120_000);

  it.skipIf(!nativeX86)('the same program on /dev/kvm prints the same', () => {
    for (const mode of MODES) {
      const r = spawnSync(exe, [`-${mode}`, join(HELLO_DIR, GUEST[mode])], { encoding: 'latin1' });
      expect(r.stdout).toBe(runHello(virtualSys(), mode).out);
    }
  });

  it('a guest that prints something else changes the output (the comparison can fail)', () => {
    const img = new Uint8Array(readFileSync(join(HELLO_DIR, GUEST.r)));
    const at = Buffer.from(img).indexOf('Hello');
    img[at] = 'J'.charCodeAt(0);
    const bad = join(TMP, 'jello16.bin');
    writeFileSync(bad, img);
    const got = vkvmExec(['--timeout', '60'], exe, ['-r', bad]);
    expect(got.out.startsWith('Jello, world!\n')).toBe(true);
    expect(got.out).not.toBe(runHello(virtualSys(), 'r').out);
  }, 120_000);
});
