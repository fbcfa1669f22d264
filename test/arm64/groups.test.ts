/**
 * Instruction groups: each body in test/guests/arm64/groups runs bare-metal at EL1 here and as a
 * Linux binary under qemu-aarch64 at build time (build-arm64.sh recorded the .expect dump).
 * The final X0-X27, NZCV, V0-V31 and the 4 KiB scratch buffer must be identical.
 */
import { runToExit } from '../helpers/run.js';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { armMachine, GUEST_DIR, RAM_BASE, ENGINES, useEngine } from './helpers.js';

const GROUPS = ['alu', 'bits', 'branch', 'ldst', 'fp', 'simdshift', 'simdint', 'simdmisc'];
const DUMP = RAM_BASE + 0x10000;

function describeDiff(got: Uint8Array, want: Uint8Array): string[] {
  const out: string[] = [];
  const g = new DataView(got.buffer, got.byteOffset);
  const w = new DataView(want.buffer, want.byteOffset);
  const hex = (v: bigint) => '0x' + v.toString(16);
  for (let r = 0; r < 28; r++) {
    const a = g.getBigUint64(8 * r, true);
    const b = w.getBigUint64(8 * r, true);
    if (a !== b) out.push(`x${r}: got ${hex(a)} want ${hex(b)}`);
  }
  if (g.getBigUint64(224, true) !== w.getBigUint64(224, true)) out.push(`nzcv: got ${hex(g.getBigUint64(224, true))} want ${hex(w.getBigUint64(224, true))}`);
  for (let v = 0; v < 32; v++) {
    const o = 232 + 16 * v;
    const a = (g.getBigUint64(o + 8, true) << 64n) | g.getBigUint64(o, true);
    const b = (w.getBigUint64(o + 8, true) << 64n) | w.getBigUint64(o, true);
    if (a !== b) out.push(`v${v}: got ${hex(a)} want ${hex(b)}`);
  }
  for (let o = 1024; o < got.length; o += 8) {
    const a = g.getBigUint64(o, true);
    const b = w.getBigUint64(o, true);
    if (a !== b) out.push(`scratch+${o - 1024}: got ${hex(a)} want ${hex(b)}`);
  }
  return out;
}

describe.each(ENGINES)('$name', (engine) => {
  useEngine(engine);

  describe('arm64 instruction groups vs the qemu-aarch64 recording', () => {
    it.each(GROUPS)('%s', (name) => {
      const code = new Uint8Array(readFileSync(resolve(GUEST_DIR, `groups/${name}.bin`)));
      const want = new Uint8Array(readFileSync(resolve(GUEST_DIR, `groups/${name}.expect`)));
      const m = armMachine(code);
      const e = runToExit(m.vcpu);
      expect(e.reason).toBe('system_event');
      const got = m.ram.bytes.slice(DUMP - RAM_BASE, DUMP - RAM_BASE + want.length);
      expect(describeDiff(got, want)).toEqual([]);
    });
  });
});
