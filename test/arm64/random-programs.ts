/**
 * Seeded random arm64 programs for the engine-against-interpreter tests (the block JIT's,
 * test/arm64/jit.test.ts, and the wasm engine's, test/arm64/wasm-engine.test.ts): data processing from
 * the decoder's table, general-register loads and stores that stay in a data area (x25, x28 and SP
 * point into it, x27 is a small offset), forward branches and counted loops, ending at BRK #0.
 */
import { Rng, randomInsn } from './a64gen.js';
import { RAM_BASE } from './helpers.js';

export const BRK0 = 0xd4200000 | 0;

/** Which forms a program may hold beyond the common ones. */
export interface ProgramForms {
  /** LDR (literal) reading an earlier instruction word. */
  readonly literal: boolean;
  /** LDP/STP with pre/post-index writeback. */
  readonly writebackPairs: boolean;
  /** SUBS/ADDS #0 and CMN #0, one straight-line instruction in 8: the flag-setting corners. */
  readonly flagCorners: boolean;
}

/** The block JIT's test: every form. */
export const ALL_FORMS: ProgramForms = { literal: true, writebackPairs: true, flagCorners: false };

export const DATA = RAM_BASE + 0x10000; // x25, x28 and SP point here; accesses stay within +-8 KiB
export const CODE = RAM_BASE + 0x1000;
export const RAM = 0x20000;

const u = (v: number) => v | 0;
const ldstUimm = (size: number, opc: number, imm12: number, rn: number, rt: number) => u((size << 30) | (0b111001 << 24) | (opc << 22) | (imm12 << 10) | (rn << 5) | rt);
const ldstImm9 = (size: number, opc: number, imm9: number, mode: number, rn: number, rt: number) => u((size << 30) | (0b111000 << 24) | (opc << 22) | ((imm9 & 0x1ff) << 12) | (mode << 10) | (rn << 5) | rt);
const ldstReg = (size: number, opc: number, rm: number, option: number, s: number, rn: number, rt: number) => u((size << 30) | (0b111000 << 24) | (opc << 22) | (1 << 21) | (rm << 16) | (option << 13) | (s << 12) | (0b10 << 10) | (rn << 5) | rt);
const ldstPair = (opc: number, mode: number, l: number, imm7: number, rt2: number, rn: number, rt: number) => u((opc << 30) | (0b101 << 27) | (mode << 23) | (l << 22) | ((imm7 & 0x7f) << 15) | (rt2 << 10) | (rn << 5) | rt);

/** A random general-register load or store that stays inside the data area and aligned. */
function randomLdst(rng: Rng, pcIndex: number, forms: ProgramForms): number {
  const dst = () => (rng.below(8) === 0 ? 31 : rng.below(25));
  const src = () => rng.below(32);
  const sizeOpc = (): [number, number] => {
    for (;;) {
      const size = rng.below(4);
      const opc = rng.below(4);
      if (size === 3 && opc >= 2) continue;
      if (size === 2 && opc === 3) continue;
      return [size, opc];
    }
  };
  switch (rng.below(forms.literal ? 6 : 5)) {
    case 0: {
      const [size, opc] = sizeOpc();
      return ldstUimm(size, opc, rng.below(64), rng.below(3) === 0 ? 31 : 28, opc === 0 ? src() : dst());
    }
    case 1: {
      const [size, opc] = sizeOpc();
      return ldstImm9(size, opc, (rng.below(32) - 16) << size, 0, rng.below(3) === 0 ? 31 : 28, opc === 0 ? src() : dst());
    }
    case 2: {
      // pre/post-index on x25, moving it by multiples of 16
      const [size, opc] = sizeOpc();
      return ldstImm9(size, opc, (rng.below(17) - 8) * 16, rng.below(2) ? 1 : 3, 25, opc === 0 ? src() : dst());
    }
    case 3: {
      const [size, opc] = sizeOpc();
      return ldstReg(size, opc, 27, [2, 3, 6, 7][rng.below(4)]!, rng.below(2), 28, opc === 0 ? src() : dst());
    }
    case 4: {
      const opc = [0, 1, 2][rng.below(3)]!;
      const load = opc === 1 ? 1 : rng.below(2);
      const wb = forms.writebackPairs && rng.below(2) === 1;
      const mode = wb ? (rng.below(2) ? 1 : 3) : opc === 1 ? 2 : rng.below(2) ? 0 : 2;
      const scale = opc === 2 ? 8 : 4;
      const imm7 = wb ? ((rng.below(9) - 4) * 16) / scale : rng.below(32) - 16;
      const rt = load ? rng.below(25) : src();
      let rt2 = load ? rng.below(25) : src();
      if (load && rt2 === rt) rt2 = (rt + 1) % 25;
      return ldstPair(opc, mode, load, imm7, rt2, wb ? 25 : rng.below(3) === 0 ? 31 : 28, rt);
    }
    default: {
      // LDR (literal), 32-bit or LDRSW, reading an earlier instruction word
      const back = rng.below(pcIndex + 1);
      return u(((rng.below(2) ? 2 : 0) << 30) | (0b011000 << 24) | (((-back) & 0x7ffff) << 5) | dst());
    }
  }
}

/** A data-processing instruction from the generator that leaves x25-x28 alone. */
function randomDp(rng: Rng): number {
  for (;;) {
    const { word } = randomInsn(rng);
    const rd = word & 31;
    if (rd >= 25 && rd <= 28) continue;
    return word;
  }
}

/** SUBS/ADDS with #0 and CMN #0 (64 and 32 bits): the carry and overflow corners of flag setting. */
function flagCorner(rng: Rng): number {
  const d = rng.below(2) ? 31 : rng.below(25);
  const n = rng.below(31);
  return u([0xf1000000, 0x71000000, 0xb1000000, 0x31000000][rng.below(4)]! | (n << 5) | d);
}

function straight(rng: Rng, pc: number, forms: ProgramForms): number {
  if (forms.flagCorners && rng.below(8) === 0) return flagCorner(rng);
  return rng.below(3) === 0 ? randomLdst(rng, pc, forms) : randomDp(rng);
}

export interface Program {
  words: number[];
  x: bigint[];
  nzcv: number;
  /** Initial contents of the data area (DATA - 8 KiB .. DATA + 8 KiB). */
  data: Uint8Array;
}

export function randomProgram(rng: Rng, forms: ProgramForms = ALL_FORMS): Program {
  const words: number[] = [];
  const segments = 1 + rng.below(6);
  for (let s = 0; s < segments; s++) {
    switch (rng.below(4)) {
      case 0: {
        // counted loop: movz x26, #n; body; subs x26, x26, #1 | sub + cbnz; b.ne body
        words.push(u(0xd2800000 | ((1 + rng.below(6)) << 5) | 26));
        const top = words.length;
        const body = 1 + rng.below(8);
        for (let i = 0; i < body; i++) words.push(straight(rng, words.length, forms));
        if (rng.below(2)) {
          words.push(u(0xf1000400 | (26 << 5) | 26)); // subs x26, x26, #1
          words.push(u(0x54000001 | (((top - words.length) & 0x7ffff) << 5))); // b.ne top
        } else {
          words.push(u(0xd1000400 | (26 << 5) | 26)); // sub x26, x26, #1
          words.push(u(0xb5000000 | (((top - words.length) & 0x7ffff) << 5) | 26)); // cbnz x26, top
        }
        break;
      }
      case 1: {
        // a forward branch over 1-3 instructions
        const skip = 1 + rng.below(3);
        const off = ((skip + 1) & 0x7ffff) << 5;
        const r = rng.below(31);
        const kind = rng.below(3);
        if (kind === 0) words.push(u(0x54000000 | off | rng.below(16))); // b.cond
        else if (kind === 1) words.push(u((rng.below(2) << 31) | 0x34000000 | (rng.below(2) << 24) | off | r)); // cbz/cbnz
        else {
          const bit = rng.below(64);
          words.push(u(((bit >> 5) << 31) | 0x36000000 | (rng.below(2) << 24) | ((bit & 31) << 19) | (((skip + 1) & 0x3fff) << 5) | r)); // tbz/tbnz
        }
        for (let i = 0; i < skip; i++) words.push(straight(rng, words.length, forms));
        break;
      }
      default: {
        const n = 1 + rng.below(10);
        for (let i = 0; i < n; i++) words.push(straight(rng, words.length, forms));
      }
    }
  }
  words.push(BRK0);
  const x = Array.from({ length: 31 }, () => rng.value());
  x[25] = BigInt(DATA);
  x[26] = 0n;
  x[27] = BigInt(8 * rng.below(32));
  x[28] = BigInt(DATA);
  const data = new Uint8Array(0x4000);
  for (let i = 0; i < data.length; i += 4) new DataView(data.buffer).setUint32(i, rng.u32(), true);
  return { words, x, nzcv: rng.below(16) << 28, data };
}
