/**
 * Instruction semantics against qemu-aarch64 (user mode): seeded random straight-line integer
 * programs (a64gen.ts) run in a static harness built here with aarch64-linux-gnu-gcc
 * (test/guests/arm64/diff) and in vkvm at EL1 through the KVM API (ONE_REG in, KVM_RUN until the
 * trailing BRK exits with KVM_GUESTDBG_USE_SW_BP, ONE_REG out). X0-X30 and NZCV must agree.
 * Skips cleanly without qemu-aarch64 or the cross compiler.
 * VKVM_A64_DIFF_SEED / VKVM_A64_DIFF_N explore other seeds and sizes.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { A64 } from '../../src/arch/arm64/table.js';
import { KVM_GUESTDBG } from '../../src/uapi/constants.js';
import { KVM_GUESTDBG_ARM64 } from '../../src/uapi/arm64.js';
import { hasCommand } from '../helpers/toolchain.js';
import { DIFF_ENCODINGS, randomProgram, Rng, type DiffProgram } from './a64gen.js';
import { armMachine, ENGINES, GUEST_DIR, RAM_BASE, reg, useEngine } from './helpers.js';

const SEED = Number(process.env.VKVM_A64_DIFF_SEED ?? 0x5eed_a64);
const COUNT = Number(process.env.VKVM_A64_DIFF_N ?? 2500);
const CC = 'aarch64-linux-gnu-gcc';
const QEMU = 'qemu-aarch64';
const available = hasCommand(CC) && spawnSync(QEMU, ['--version'], { stdio: 'ignore' }).status === 0;

function buildHarness(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vkvm-a64diff-'));
  const out = join(dir, 'harness');
  const src = resolve(GUEST_DIR, 'diff');
  const r = spawnSync(CC, ['-O2', '-static', '-o', out, join(src, 'harness.c'), join(src, 'harness.S')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`harness build failed: ${r.stderr}`);
  return out;
}

/** Runs every program under qemu-aarch64; 32 u64 (X0-X30, NZCV) each. */
function runQemu(harness: string, progs: DiffProgram[]): BigUint64Array {
  const parts: Buffer[] = [];
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v >>> 0);
    return b;
  };
  parts.push(u32(progs.length));
  for (const p of progs) {
    parts.push(u32(p.words.length));
    parts.push(Buffer.from(new Uint32Array(p.words.map((w) => w >>> 0)).buffer));
    const st = new BigUint64Array(32);
    p.x.forEach((v, i) => (st[i] = v));
    st[31] = BigInt(p.nzcv >>> 0);
    parts.push(Buffer.from(st.buffer));
  }
  const r = spawnSync(QEMU, ['-cpu', 'max', harness], { input: Buffer.concat(parts), maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`qemu-aarch64 failed (${r.status}): ${r.stderr?.toString()}`);
  const out = r.stdout as Buffer;
  expect(out.length).toBe(progs.length * 256);
  return new BigUint64Array(out.buffer.slice(out.byteOffset, out.byteOffset + out.length));
}

/** Runs every program in vkvm; 32 u64 each. */
function runVkvm(progs: DiffProgram[]): BigUint64Array {
  const m = armMachine(new Uint8Array(0), { ramSize: 0x10000 });
  m.vcpu.setGuestDebug(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG_ARM64.USE_SW_BP);
  const res = new BigUint64Array(progs.length * 32);
  const CODE = 0x1000;
  const dv = new DataView(m.ram.bytes.buffer, m.ram.bytes.byteOffset);
  progs.forEach((p, k) => {
    p.words.forEach((w, i) => dv.setUint32(CODE + 4 * i, w >>> 0, true));
    dv.setUint32(CODE + 4 * p.words.length, 0xd4200000, true); // brk #0
    for (let i = 0; i < 31; i++) m.vcpu.setOneReg(reg.x(i), p.x[i]!);
    m.vcpu.setOneReg(reg.pstate, BigInt((p.nzcv | 0x3c5) >>> 0));
    m.vcpu.setOneReg(reg.pc, RAM_BASE + CODE);
    const e = m.vcpu.run();
    if (e.reason !== 'debug' || e.arch.arch !== 'arm64' || e.arch.hsr >>> 26 !== 0x3c) throw new Error(`program ${k}: unexpected exit ${JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? v.toString(16) : v))}`);
    for (let i = 0; i < 31; i++) res[32 * k + i] = m.vcpu.getOneReg(reg.x(i));
    res[32 * k + 31] = m.vcpu.getOneReg(reg.pstate) & 0xf0000000n;
  });
  return res;
}

/** The programs and qemu's results, computed once for every engine. */
let recorded: { progs: DiffProgram[]; want: BigUint64Array } | null = null;
function recording(): { progs: DiffProgram[]; want: BigUint64Array } {
  if (!recorded) {
    const rng = new Rng(SEED);
    const progs = Array.from({ length: COUNT }, () => randomProgram(rng));
    recorded = { progs, want: runQemu(buildHarness(), progs) };
  }
  return recorded;
}

describe.skipIf(!available).each(ENGINES)('A64 integer semantics vs qemu-aarch64 ($name)', (engine) => {
  useEngine(engine);
  it(`${COUNT} seeded random programs agree on X0-X30 and NZCV (seed 0x${SEED.toString(16)})`, { timeout: 120_000 }, () => {
    const { progs, want } = recording();
    const got = runVkvm(progs);
    const bad: string[] = [];
    const hex = (v: bigint) => '0x' + v.toString(16);
    for (let k = 0; k < progs.length && bad.length < 8; k++) {
      const diffs: string[] = [];
      for (let i = 0; i < 32; i++) {
        if (got[32 * k + i] !== want[32 * k + i]) diffs.push(`${i === 31 ? 'nzcv' : `x${i}`}: vkvm ${hex(got[32 * k + i]!)} qemu ${hex(want[32 * k + i]!)}`);
      }
      if (diffs.length) {
        const p = progs[k]!;
        bad.push(`program ${k}: ${p.words.map((w, i) => `${(w >>> 0).toString(16).padStart(8, '0')} ${p.names[i]}`).join('; ')}\n  in: ${p.x.map(hex).join(' ')} nzcv=${(p.nzcv >>> 28).toString(2)}\n  ${diffs.join('\n  ')}`);
      }
    }
    expect(bad).toEqual([]);
    const used = new Set(progs.flatMap((p) => p.names));
    console.log(`[a64-diff] ${progs.length} programs, ${progs.reduce((s, p) => s + p.words.length, 0)} instructions, ${used.size}/${DIFF_ENCODINGS.length} encodings`);
    expect(used.size).toBe(DIFF_ENCODINGS.length);
    void A64;
  });
});
