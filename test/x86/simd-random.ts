/**
 * x87/MMX/SSE..SSE4.2 differential test against the host CPU: every row of those groups in the
 * opcode table (simd-gen.ts) runs with random operands — registers and memory forms, prefixes, REX
 * bits, immediates, random x87/MMX/XMM/MXCSR state and flags — natively (test/helpers/simdexec.c)
 * and in vkvm under both engines, at CPL0 with low and kernel-half addresses and at CPL3. Each
 * case's state after the instruction (the FXSAVE image, general registers, arithmetic flags, the
 * memory operand) must be equal.
 *
 * Recorded on the development host (an AMD EPYC with every tested extension): a digest of each
 * case's host result is committed (golden/simd-random.json), so machines that cannot run the
 * oracle still compare with it; where the host is of the recorded vendor with the extensions,
 * the live native run must also match. `UPDATE_GOLDEN=1` re-records.
 *
 * Compared under these rules (what the SDM leaves to the implementation, or the vendors differ
 * on): FOP/FIP/FDP in FXSAVE and the environment images (AMD stores them only with an exception
 * pending), MXCSR_MASK (AMD's misaligned-SSE bit), the destinations of RCPPS/RCPSS/RSQRTPS/RSQRTSS
 * (an approximation; its bound is checked instead), the flags LZCNT/TZCNT leave undefined, C1
 * after FCOMI/FUCOMI(P) (the SDM clears it, AMD keeps it), the condition codes of an invalid
 * FPREM/FPREM1.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { engineSys, type X86Engine } from '../helpers/engines.js';
import { APPROX, generate, HOST_BASE, listing, runVirtual, SLOT_LAYOUT as L, testedRows, VARIANTS, type SimdCase, type SimdProgram } from './simd-gen.js';

const ROOT = resolve(__dirname, '../..');
const GOLDEN = join(ROOT, 'test/x86/golden/simd-random.json');
const SEED = 0x51d0;
const PER_ROW = Number(process.env.SIMD_CASES ?? 6);
const ROWS_PER_PROGRAM = 120;
const UPDATE = process.env.UPDATE_GOLDEN === '1';

const rows = testedRows();
const programs: { seed: number; rows: typeof rows }[] = [];
for (let k = 0; k * ROWS_PER_PROGRAM < rows.length; k++) programs.push({ seed: SEED + k * 977, rows: rows.slice(k * ROWS_PER_PROGRAM, (k + 1) * ROWS_PER_PROGRAM) });

/** The host oracle: built and usable only on x86-64 Linux with gcc and a CPU of the recorded kind. */
let simdexec: string | null | undefined;
function hostRunner(): string | null {
  if (simdexec !== undefined) return simdexec;
  simdexec = null;
  if (process.arch !== 'x64' || process.platform !== 'linux') return null;
  const cpu = readFileSync('/proc/cpuinfo', 'utf8');
  const flags = cpu.match(/^flags\s*:(.*)$/m)?.[1]?.split(/\s+/) ?? [];
  if (!cpu.includes('AuthenticAMD') || !['sse4_2', 'ssse3', 'popcnt', 'bmi1', 'movbe'].every((f) => flags.includes(f))) return null;
  try {
    const dir = join(tmpdir(), `vkvm-simdexec-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    const out = join(dir, 'simdexec');
    execFileSync('gcc', ['-O1', '-o', out, join(ROOT, 'test/helpers/simdexec.c')], { stdio: 'pipe' });
    simdexec = out;
  } catch {
    simdexec = null;
  }
  return simdexec;
}

function runHost(p: SimdProgram): Uint8Array | null {
  const exe = hostRunner();
  if (!exe) return null;
  const file = join(tmpdir(), `vkvm-simd-${process.pid}.bin`);
  writeFileSync(file, p.image);
  const r = JSON.parse(execFileSync(exe, [file], { encoding: 'utf8', maxBuffer: 1 << 28 })) as { end: string; signal: number; rip: string; out: string };
  expect(r.end, `host run faulted (signal ${r.signal} at ${r.rip})`).toBe('hlt');
  return Uint8Array.from(Buffer.from(r.out, 'hex'));
}

/** A case's comparable result (see the rules above), from the output region. */
function result(out: Uint8Array, k: SimdCase, base: number, outOff: number): string {
  const so = k.slot * L.SLOT;
  const dv = new DataView(out.buffer, out.byteOffset, out.length);
  const fx = Uint8Array.from(out.subarray(so + L.OUT_FX, so + L.OUT_FX + 416));
  fx.fill(0, 5, 6);
  fx.fill(0, 6, 24); // FOP, FIP, FDP
  fx.fill(0, 28, 32); // MXCSR_MASK
  if (APPROX.has(k.desc.name)) fx.fill(0, 160, 416);
  // FCOMI/FUCOMI(P): the SDM clears C1; the AMD host leaves it.
  if (/^F(U)?COMIP?$/.test(k.desc.name)) fx[3] = fx[3]! & ~2;
  // FPREM/FPREM1 with an invalid operand (NaN, infinity, zero divisor): the SDM defines no
  // condition codes; the AMD host keeps C0/C3, the library clears them.
  if (/^FPREM1?$/.test(k.desc.name) && fx[2]! & 1 && !(out[so + L.IN_FX + 2]! & 1)) fx[3] = fx[3]! & ~0x47;
  const gpr: string[] = [];
  for (let g = 0; g < 16; g++) {
    let v = dv.getBigUint64(so + L.OUT_GPR + 8 * g, true);
    if (g === 3 || g === 7) v = BigInt.asUintN(64, v - BigInt.asUintN(64, BigInt(base)));
    gpr.push(v.toString(16));
  }
  const flagMask = /^(LZCNT|TZCNT)$/.test(k.desc.name) ? 0x41 : 0x8d5;
  const fl = Number(dv.getBigUint64(so + L.OUT_GPR + 128, true) & BigInt(flagMask));
  const mem = Uint8Array.from(out.subarray(so + L.MEMBUF, so + L.MEMBUF + 256));
  if (/^(FNSTENV|FNSAVE)$/.test(k.desc.name)) {
    // The pointer fields of the environment image (FIP, FCS, FOP, FDP, FDS).
    const rbx = Number(BigInt.asUintN(64, dv.getBigUint64(so + L.IN_GPR + 24, true) - BigInt.asUintN(64, BigInt(base))));
    const off = rbx - (outOff + so + L.MEMBUF);
    const small = k.bytes[0] === 0x66;
    if (small) mem.fill(0, off + 6, off + 14);
    else mem.fill(0, off + 12, off + 28);
  }
  return `${Buffer.from(fx).toString('hex')}|${gpr.join(',')}|${fl.toString(16)}|${Buffer.from(mem).toString('hex')}`;
}

const digest = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 12);

/**
 * The differential for `engines` (a test file per engine group, so vitest runs them side by side);
 * `main` adds the coverage check and the golden recording. `every(engine)`: the engine runs every
 * n-th program only (default all).
 */
export function simdRandomSuite(engines: readonly X86Engine[], main: boolean, every: (e: X86Engine) => number = () => 1): void {
  describe(`x87/MMX/SSE differential: random operands for every row, vs the host CPU (${engines.map((e) => e.name).join(', ')})`, () => {
    const golden: Record<string, string[]> = !UPDATE && existsSync(GOLDEN) ? (JSON.parse(readFileSync(GOLDEN, 'utf8')) as { programs: Record<string, string[]> }).programs : {};
    const recorded: Record<string, string[]> = {};
    let live = 0;

    if (main) it(`covers ${rows.length} rows, ${PER_ROW} cases each`, () => {
      // Every x87/MMX/SSE mnemonic of the table is exercised.
      const names = new Set(rows.map((d) => d.name));
      for (const n of ['FADD', 'FLD', 'FSTP', 'FNSTENV', 'FCOMI', 'PADDB', 'PSHUFB', 'PCMPISTRI', 'CVTSI2SD', 'COMISD', 'PMOVMSKB', 'ROUNDSD', 'DPPS', 'CRC32', 'MOVBE', 'POPCNT']) expect(names.has(n), n).toBe(true);
      expect(rows.length).toBeGreaterThan(400);
    });

    for (const [pi, prog] of programs.entries()) {
      for (const engine of engines) {
        if (pi % every(engine) !== 0) continue;
        for (const v of VARIANTS) {
          it(`program ${pi} (${prog.rows[0]!.name}..${prog.rows[prog.rows.length - 1]!.name}), ${engine.name}, ${v.name}`, { timeout: 120_000 }, () => {
            const key = String(pi);
            const host = generate(prog.seed, prog.rows, PER_ROW, HOST_BASE);
            let ref: string[] | undefined = recorded[key];
            if (!ref) {
              const out = runHost(host);
              if (out) {
                ref = host.cases.map((k) => digest(result(out, k, HOST_BASE, host.outOff)));
                recorded[key] = ref;
                live++;
                if (!UPDATE && golden[key]) expect(ref, 'the live host agrees with the recorded results').toEqual(golden[key]);
              } else ref = golden[key];
            }
            expect(ref, `golden results for program ${pi} (UPDATE_GOLDEN=1 on an x86-64 host records them)`).toBeDefined();
            const p = v.base === HOST_BASE && !v.user ? host : generate(prog.seed, prog.rows, PER_ROW, v.base, v.user);
            const r = runVirtual(engineSys(engine), p, v);
            expect(r.end).toBe('hlt');
            const bad: string[] = [];
            for (const [n, k] of p.cases.entries()) {
              if (digest(result(r.out, k, v.base, p.outOff)) !== ref![n]) bad.push(`${listing(k)} case ${n % PER_ROW}`);
            }
            expect(bad.slice(0, 8), `${bad.length} of ${p.cases.length} cases differ`).toEqual([]);
          });
        }
      }
    }

    it('records / reports', () => {
      if (main && UPDATE && Object.keys(recorded).length === programs.length) {
        writeFileSync(GOLDEN, JSON.stringify({ seed: SEED, perRow: PER_ROW, programs: recorded }) + '\n');
      }
      console.log(`[simd-random ${engines.map((e) => e.name).join(', ')}] ${rows.length} rows x ${PER_ROW} cases in ${programs.length} programs; ${live} programs against the live host, the rest against recorded results`);
    });
  });
}
