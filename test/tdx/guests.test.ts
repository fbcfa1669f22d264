/** The committed TD guests are exactly what their sources and build scripts produce (needs nasm). */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hasCommand } from '../helpers/toolchain.js';

const DIRS: [string, string][] = [
  [resolve(__dirname, '../guests/x86/tdx'), 'td-guest.bin'],
  [resolve(__dirname, '../../examples/td-vmm'), 'td-hello.bin'],
];

describe('TD guest builds', () => {
  it.skipIf(!hasCommand('nasm'))('build.sh reproduces the committed binaries', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'vkvm-tdx-'));
    try {
      for (const [dir, bin] of DIRS) {
        const copy = join(tmp, bin);
        cpSync(dir, copy, { recursive: true });
        rmSync(join(copy, bin));
        const r = spawnSync('sh', [join(copy, 'build.sh')], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(0);
        expect(readFileSync(join(copy, bin)).equals(readFileSync(join(dir, bin))), bin).toBe(true);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
