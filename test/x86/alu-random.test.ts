/**
 * Randomized differential test: seeded straight-line 64-bit ALU/flag programs (alu-gen.ts) run on
 * the virtual backend and on the real /dev/kvm; final registers, the defined RFLAGS bits and the
 * data they wrote must be equal. A digest of each program's real-KVM result is committed
 * (golden/alu-random.json), so machines without /dev/kvm still compare against the real kernel;
 * `UPDATE_GOLDEN=1` re-records it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isNativeAvailable, nativeSys, type Sys } from '../../src/index.js';
import { engineSys, X86_ENGINES } from '../helpers/engines.js';
import { runProgram } from '../helpers/x86.js';
import { DATA, generate, type GenProgram } from './alu-gen.js';

const PROGRAMS = Number(process.env.ALU_PROGRAMS ?? 2000);
const SEED = 0x5eed86;
const GOLDEN = join(resolve(__dirname), 'golden/alu-random.json');

function outcome(sys: Sys, p: GenProgram): string {
  const t = runProgram(sys, { mode: 'long64', code: p.code, regs: p.regs, mem: [[DATA, p.mem]], maxExits: 4 });
  const last = t.exits[t.exits.length - 1];
  const regs = { ...(last?.regs ?? {}) };
  regs.rflags = '0x' + (Number(regs.rflags ?? 0) & p.defined).toString(16);
  return JSON.stringify({ end: t.end, reason: last?.exit.reason, regs, data: t.data.slice(0, 256) });
}

const digest = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);

for (const engine of X86_ENGINES)
describe(`randomized ALU/flags differential (virtual vs /dev/kvm), ${engine.name}`, () => {
  it(`${PROGRAMS} seeded programs agree on registers, defined flags and memory`, { timeout: 300_000 }, () => {
    const native = isNativeAvailable() && process.env.VKVM_NATIVE !== '0';
    const update = process.env.UPDATE_GOLDEN === '1' && native;
    const golden: string[] = !update && existsSync(GOLDEN) ? (JSON.parse(readFileSync(GOLDEN, 'utf8')) as { digests: string[] }).digests : [];
    const recorded: string[] = [];
    let live = 0;
    let againstGolden = 0;
    const failures: string[] = [];
    for (let i = 0; i < PROGRAMS; i++) {
      const p = generate(SEED + i * 7919);
      const v = outcome(engineSys(engine), p);
      let ref: string | undefined;
      if (native) {
        ref = outcome(nativeSys(), p);
        live++;
        recorded.push(digest(ref));
      }
      if (ref === undefined && golden[i] !== undefined) {
        againstGolden++;
        if (digest(v) !== golden[i]) failures.push(`program ${i} (seed ${SEED + i * 7919}): digest differs from the recorded real-KVM result\n  ${p.listing.join('\n  ')}`);
        continue;
      }
      if (ref !== undefined && v !== ref) failures.push(`program ${i} (seed ${SEED + i * 7919}):\n  ${p.listing.join('\n  ')}\n  virtual ${v}\n  native  ${ref}`);
    }
    if (update) writeFileSync(GOLDEN, JSON.stringify({ seed: SEED, programs: PROGRAMS, digests: recorded }) + '\n');
    console.log(`[alu-random] ${PROGRAMS} programs: ${live} against live /dev/kvm, ${againstGolden} against recorded real-KVM digests, ${failures.length} divergences`);
    expect(live + againstGolden).toBe(PROGRAMS);
    expect(failures.slice(0, 3)).toEqual([]);
  });
});
