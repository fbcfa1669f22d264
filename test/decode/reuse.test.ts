/**
 * A decoded `Insn` depends only on the bytes and the mode, never on what the record held before:
 * the x86 block cache decodes code it sees for the first time into reused scratch records
 * (src/arch/x86/blocks.ts), so a field left over from the previous instruction in that record
 * would change what the next one does (it did: x87 rows without operands, such as FUCOMPP,
 * kept the previous instruction's operand kinds and ran differently under the interpreter).
 */
import { expect, it } from 'vitest';
import { decode, DESCS, Insn, type DecodeMode, type OpDesc } from '../../src/arch/x86/decoder.js';
import { rowBytes } from './rows.js';

const MODES: DecodeMode[] = [
  { long64: true, def32: false },
  { long64: false, def32: true },
  { long64: false, def32: false },
];

/** Bytes that select row `d`, with `rex` (long mode) and a register or memory ModRM (reg 2 unless the row fixes it). */
function encode(d: OpDesc, rex: number, mem: boolean): number[] {
  const modrm = mem && d.mod !== 2 ? (1 << 6) | (2 << 3) | 4 : (3 << 6) | (2 << 3) | 1;
  // A SIB and disp8 after a built ModRM (the memory form uses them; the register form ignores them).
  const sibDisp = d.modrm && d.full < 0 ? [0x8b, 0x7f] : [];
  return [...rowBytes(d, rex, modrm), ...sibDisp, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
}

/** Every field a handler, the JIT or the block cache reads. */
function fields(i: Insn): unknown {
  return {
    addr: i.addr, len: i.len, mn: i.mn, desc: i.desc, osz: i.osz, asz: i.asz, kind: [...i.kind], reg: [...i.reg], size: [...i.size],
    nops: i.nops, base: i.base, index: i.index, scale: i.scale, disp: i.disp, seg: i.seg, segOverride: i.segOverride, ripRel: i.ripRel,
    imm: i.imm, immHi: i.immHi, imm2: i.imm2, modrm: i.modrm, mod: i.mod, rm: i.rm, regField: i.regField, rep: i.rep, lock: i.lock,
    rex: i.rex, cond: i.cond, bad: i.bad, bytes: [...i.bytes.subarray(0, Math.min(i.len, 15))],
  };
}

it('decoding into a used record gives what decoding into a fresh one gives (every row, after every kind of row)', () => {
  const samples: number[][] = [];
  for (const d of DESCS) for (const rex of [0, 0x45]) for (const mem of [false, true]) samples.push(encode(d, rex, mem));
  // Each sample is decoded into a record that last held another (a different row, operands and prefixes).
  const used = new Insn();
  let differ = 0;
  const first: string[] = [];
  for (const mode of MODES) {
    for (let n = 0; n < samples.length; n++) {
      const prev = samples[(n * 7919 + 13) % samples.length]!;
      const cur = samples[n]!;
      if (!mode.long64 && cur.some((b, k) => k < 4 && (b & 0xf0) === 0x40)) continue;
      decode(used, 0x1000, mode, (k) => prev[k] ?? 0);
      decode(used, 0x2000, mode, (k) => cur[k] ?? 0);
      const fresh = new Insn();
      decode(fresh, 0x2000, mode, (k) => cur[k] ?? 0);
      if (JSON.stringify(fields(used)) !== JSON.stringify(fields(fresh))) {
        differ++;
        if (first.length < 5) first.push(`${cur.slice(0, 6).map((b) => b.toString(16).padStart(2, '0')).join(' ')} (${fresh.desc?.name ?? 'bad'}) after ${prev.slice(0, 6).map((b) => b.toString(16).padStart(2, '0')).join(' ')}`);
      }
    }
  }
  expect(first, `${differ} decodes differ`).toEqual([]);
});
