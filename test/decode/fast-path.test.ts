/**
 * decodeFrom (what the block cache uses: the code page's bytes read directly, a fast path for
 * unprefixed one-byte and 0F opcodes) decodes exactly what decode (one fetch call per byte, the
 * full path) decodes: every field, for every row of the table (also after a 66 prefix) and for random bytes, in each mode,
 * into records that held another instruction, near the end of the readable bytes too (fetch
 * faults and the 15-byte limit).
 */
import { expect, it } from 'vitest';
import { decode, decodeFrom, DESCS, Insn, type DecodeMode, type OpDesc } from '../../src/arch/x86/decoder.js';
import { rowBytes } from './rows.js';

const MODES: DecodeMode[] = [
  { long64: true, def32: false },
  { long64: false, def32: true },
  { long64: false, def32: false },
];

function fields(i: Insn): string {
  return JSON.stringify({
    addr: i.addr, len: i.len, mn: i.mn, desc: i.desc?.row ?? null, osz: i.osz, asz: i.asz, kind: [...i.kind], reg: [...i.reg], size: [...i.size],
    nops: i.nops, base: i.base, index: i.index, scale: i.scale, disp: i.disp, seg: i.seg, segOverride: i.segOverride, ripRel: i.ripRel,
    imm: i.imm, immHi: i.immHi, imm2: i.imm2, modrm: i.modrm, mod: i.mod, rm: i.rm, regField: i.regField, rep: i.rep, lock: i.lock,
    rex: i.rex, cond: i.cond, bad: i.bad, bytes: [...i.bytes.subarray(0, Math.min(i.len, 15))],
  });
}

/** Bytes that select row `d`, then random tail bytes. */
function encode(d: OpDesc, rex: number, modrm: number, tail: number[]): number[] {
  return [...rowBytes(d, rex, modrm), ...tail];
}

/** A small deterministic generator (the failures must reproduce). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 24;
  };
}

it('decodeFrom (page bytes, fast path) equals decode (fetch per byte) on every row and on random bytes, in every mode', () => {
  const r = rng(0x5eed);
  const samples: number[][] = [];
  for (const d of DESCS) {
    for (const rex of [0, 0x45, 0x4a]) {
      for (let k = 0; k < 2; k++) samples.push(encode(d, rex, r(), Array.from({ length: 14 }, r)));
      // A 66 operand-size prefix in front (the fast path decodes one 66 itself); rows with a
      // mandatory prefix get a second one (66 66, 66 F3 ...: the full path's).
      samples.push([0x66, ...encode(d, rex, r(), Array.from({ length: 14 }, r))]);
    }
  }
  // Random bytes, with a REX or a prefix in front now and then.
  for (let k = 0; k < 8000; k++) {
    const b = Array.from({ length: 16 }, r);
    if (k % 3 === 0) b[0] = 0x40 | (b[0]! & 15);
    if (k % 5 === 0) b[1] = 0x0f;
    if (k % 7 === 0) b.unshift(0x66);
    samples.push(b);
  }
  const fast = new Insn();
  const full = new Insn();
  const page = new Uint8Array(64);
  let differ = 0;
  const first: string[] = [];
  for (const mode of MODES) {
    for (let n = 0; n < samples.length; n++) {
      const cur = samples[n]!;
      const prev = samples[(n * 7919 + 13) % samples.length]!;
      // The record last held another instruction; the bytes end `avail` bytes in (then fetch faults).
      for (const avail of [16, 6, 2]) {
        const addr = 0x7ff0_0000_1000 - 64 + (n % 40);
        page.fill(0xcc);
        page.set(prev.slice(0, 16), 0);
        decodeFrom(fast, addr, mode, () => -1, page, 0, 15);
        page.set(cur.slice(0, 16), 8);
        const fetch = (k: number) => (k < avail ? cur[k] ?? 0 : -1);
        decodeFrom(fast, addr, mode, fetch, page, 8, Math.min(avail, 16));
        decode(full, addr, mode, fetch);
        if (fields(fast) !== fields(full)) {
          differ++;
          if (first.length < 5) first.push(`${mode.long64 ? 64 : mode.def32 ? 32 : 16}-bit avail ${avail}: ${cur.slice(0, 8).map((b) => b.toString(16).padStart(2, '0')).join(' ')} (${full.desc?.name ?? 'bad ' + full.bad})`);
        }
      }
    }
  }
  expect(first, `${differ} decodes differ`).toEqual([]);
}, 60_000);
