/**
 * The table-driven x86 decoder: OPCODE_TABLE is compiled once into per-opcode descriptor lists
 * (decode-table.ts); decoding an instruction fills a reusable `Insn` record (prefixes, REX, ModRM/SIB, displacement,
 * immediates, operand and address size for the current mode). No allocation per instruction.
 * @module
 */
import { byte, decodeOperand, FETCH_FAULT, O_E, O_G, O_I, O_J, O_M, O_RAX, O_Z, S_B, S_V, S_W, S_Z, s16, s8, sizeOf, TOO_LONG } from './decode-operand.js';
import { CS, DS, ES, FS, GS, SS } from './state.js';
export { DESCS, EXC_MMX, EXC_NM, EXC_SSE, EXC_X87, EXC_XSAVE, F_A16, F_D64, F_END, F_F64, F_I64, F_LOCK, F_O64, F_REP, K_CR, K_DR, K_IMM, K_MEM, K_MMX, K_NONE, K_REG, K_SEG, K_ST, K_XMM, MNEMONICS, PFX_66, PFX_F2, PFX_F3, PFX_NONE, PFX_NP, hasOpcode, mnemonic } from './decode-table.js';
export type { OperandSpec, OpDesc } from './decode-table.js';
import { FAST, FAST66, FAST_REG, FAST_REG66, F_D64, F_F64, F_I64, F_LOCK, F_O64, K_IMM, K_MEM, K_REG, LEGACY_PREFIX, PFX_66, PFX_F2, PFX_F3, PFX_NONE, POOLS, POOL_MODRM, XCHG_R8 } from './decode-table.js';
import type { OpDesc } from './decode-table.js';

// ---- the decoded instruction ---------------------------------------------------------------

const NO_BYTES = new Uint8Array(0);
const NO_FETCH = (_i: number): number => -1;

/** One decoded instruction. Reused: the decoder writes every field. */
export class Insn {
  /** Linear address of the first byte. */
  addr = 0;
  len = 0;
  mn = -1;
  desc: OpDesc | null = null;
  /** Operand size in bytes (2, 4, 8) after prefixes and mode. */
  osz = 4;
  /** Address size in bytes (2, 4, 8). */
  asz = 4;
  /** Operand kinds, registers and sizes (up to four operands), in one 16-byte buffer: `opsClear` zeroes it in two stores. */
  private readonly opsBuf = new ArrayBuffer(16);
  readonly kind = new Int8Array(this.opsBuf, 0, 4);
  readonly reg = new Int8Array(this.opsBuf, 4, 4);
  /** Bytes (up to 512: FXSAVE's image). */
  readonly size = new Int16Array(this.opsBuf, 8, 4);
  readonly opsClear = new Float64Array(this.opsBuf);
  /** Operand count (the row's; 0 when the bytes did not decode). */
  get nops(): number {
    const d = this.desc;
    return d === null || this.bad !== 0 ? 0 : d.operands.length;
  }
  /** Memory operand: base/index register (-1 none), scale, displacement, segment. */
  base = -1;
  index = -1;
  scale = 1;
  disp = 0;
  seg = DS;
  /** True when a segment override prefix was given. */
  segOverride = false;
  /** RIP-relative (disp already includes the next RIP). */
  ripRel = false;
  /** Immediate (sign-extended to 32 bits as a signed number) and the high word for 64-bit immediates. */
  imm = 0;
  immHi = 0;
  /** Second immediate (ENTER's level, far pointer selector). */
  imm2 = 0;
  /** The ModRM byte, -1 when there is none. */
  modrm = -1;
  /** ModRM.mod (0 without ModRM). */
  get mod(): number {
    const m = this.modrm;
    return m < 0 ? 0 : m >> 6;
  }
  /** ModRM.rm with REX.B (0 without ModRM). */
  get rm(): number {
    const m = this.modrm;
    return m < 0 ? 0 : (m & 7) | ((this.rex & 1) << 3);
  }
  /** ModRM.reg with REX.R (0 without ModRM). */
  get regField(): number {
    const m = this.modrm;
    return m < 0 ? 0 : ((m >> 3) & 7) | ((this.rex & 4) << 1);
  }
  /** 0, 0xF3 (REP/REPE) or 0xF2 (REPNE). */
  rep = 0;
  lock = false;
  rex = 0;
  /** Condition code / low opcode bits (Jcc, SETcc, CMOVcc, +r rows): the row's. */
  get cond(): number {
    const d = this.desc;
    return d === null ? 0 : d.low;
  }
  /** Why the bytes did not decode: 0 ok, 1 #UD, 2 too long (#GP), 3 fetch fault (see fetchFault). */
  bad = 0;
  /**
   * The full path (decodeInsn) decoded this record last: rep, lock, segOverride, imm2 and bad may
   * hold other values than the fast path's (all default), which then resets them.
   */
  full = true;
  /**
   * The memory-operand fields (seg, ripRel, base, index, scale, disp) may hold other values than
   * the defaults an instruction without a memory operand has (the fast path then resets them).
   */
  memSet = true;
  /**
   * Raw bytes (emulation-failure reports, the block cache's copy of a block's code), copied from
   * the code page when first asked for (the caller asks before the guest runs on: decodeFrom).
   */
  get bytes(): Uint8Array {
    const n = this.srcN;
    if (n !== 0) {
      const raw = this.raw;
      const src = this.src;
      const o = this.srcOff;
      for (let k = 0; k < n; k++) raw[k] = src[o + k]!;
      this.srcN = 0;
    }
    return this.raw;
  }
  private readonly raw = new Uint8Array(15);
  /** Bytes 0..srcN-1 not yet copied into `raw`: at `srcOff` in `src`. */
  private src: Uint8Array = NO_BYTES;
  private srcOff = 0;
  private srcN = 0;
  /** Byte i, read through fetch. */
  setByte(i: number, b: number): void {
    this.raw[i] = b;
  }
  /** Bytes 0..n-1 are at `off` in `u8` (decodeFrom). */
  bytesFrom(u8: Uint8Array, off: number, n: number): void {
    // (Mostly the same page buffer: no pointer store, no write barrier.)
    if (this.src !== u8) this.src = u8;
    this.srcOff = off;
    this.srcN = n;
  }
  /** The decoder's byte cursor and sources while it decodes this record (decodeFrom). */
  pos = 0;
  fetch: (i: number) => number = NO_FETCH;
  u8: Uint8Array = NO_BYTES;
  off = 0;
  avail = 0;
}

/** The CPU mode the decoder needs. */
export interface DecodeMode {
  /** 64-bit mode (long mode with CS.L = 1). */
  long64: boolean;
  /** Default operand/address size 32 (CS.D = 1) outside 64-bit mode; 16 otherwise (incl. real mode). */
  def32: boolean;
}

/** Segment override prefixes: the segment by prefix byte, -1 for other bytes. */
const SEG_OF = new Int8Array(256).fill(-1);
SEG_OF[0x26] = ES;
SEG_OF[0x2e] = CS;
SEG_OF[0x36] = SS;
SEG_OF[0x3e] = DS;
SEG_OF[0x64] = FS;
SEG_OF[0x65] = GS;

/**
 * Decodes at `addr` from `fetch(i)` (byte i of the instruction; returns -1 when it cannot be read,
 * e.g. a page fault — the decoder then sets `bad` = 3 and `len` = the faulting byte index).
 */
export function decode(insn: Insn, addr: number, mode: DecodeMode, fetch: (i: number) => number): void {
  decodeFrom(insn, addr, mode, fetch, NO_BYTES, 0, 0);
}

/**
 * decode() with bytes 0..avail-1 of the instruction read from `u8` at `offset` onwards (its code
 * page as mapped, whose fetch the caller checked; below 2**31): no call per byte; `fetch` serves the rest.
 */
export function decodeFrom(insn: Insn, addr: number, mode: DecodeMode, fetch: (i: number) => number, u8: Uint8Array, offset: number, avail: number): void {
  // Offsets are int32 here (the caller reads pages at 2 GiB or more of a buffer through fetch):
  // V8 then indexes the bytes with integer arithmetic, not doubles.
  const off = offset | 0;
  // (decodeFast sets the byte cursor itself, only when it reads through byte(): rarely.)
  if (avail >= 15 && decodeFast(insn, addr, mode, u8, off)) return;
  decodeFull(insn, addr, mode, fetch, u8, off, avail);
}

/** What {@link modrmMem} parsed (one reused record: nothing is allocated per instruction). */
export const MEM = { base: -1, index: -1, scale: 1, disp: 0, ripForm: false };

/**
 * The ModRM memory operand (mod < 3, 32/64-bit addressing) whose ModRM byte is at `p0`: base and
 * index (-1 none, REX-extended), scale and displacement into {@link MEM}; `ripForm` for mod 0,
 * rm 5 without SIB (RIP-relative in 64-bit mode, the displacement not yet made absolute). Returns
 * the offset after it. The decoder's fast path and the one-pass forms (quick.ts) share it.
 */
export function modrmMem(u8: Uint8Array, p0: number, rex: number): number {
  let p = p0;
  const modrm = u8[p++]!;
  const mod = modrm >> 6;
  const rm = modrm & 7;
  let base = rm | ((rex & 1) << 3);
  let index = -1;
  let scale = 1;
  let disp = 0;
  let ripForm = false;
  if (rm === 4) {
    const sib = u8[p++]!;
    const idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
    scale = 1 << (sib >> 6);
    if (idx !== 4) index = idx;
    base = (sib & 7) | ((rex & 1) << 3);
    if ((sib & 7) === 5 && mod === 0) {
      base = -1;
      disp = u8[p]! | (u8[p + 1]! << 8) | (u8[p + 2]! << 16) | (u8[p + 3]! << 24);
      p += 4;
    }
  } else if (rm === 5 && mod === 0) {
    base = -1;
    disp = u8[p]! | (u8[p + 1]! << 8) | (u8[p + 2]! << 16) | (u8[p + 3]! << 24);
    p += 4;
    ripForm = true;
  }
  if (base >= 0) {
    if (mod === 1) disp = s8(u8[p++]!);
    else if (mod === 2) {
      disp = u8[p]! | (u8[p + 1]! << 8) | (u8[p + 2]! << 16) | (u8[p + 3]! << 24);
      p += 4;
    }
  }
  const m = MEM;
  m.base = base;
  m.index = index;
  m.scale = scale;
  m.disp = disp;
  m.ripForm = ripForm;
  return p;
}

/**
 * decodeFrom's common case alone, for a caller that has the page's bytes (`off` an int32 offset
 * in `u8`, at least 15 bytes readable there): true when it decoded the instruction; false (the
 * record half-written) when the caller must call decodeFull. One call less per instruction.
 */
export function decodePage(insn: Insn, addr: number, mode: DecodeMode, u8: Uint8Array, off: number): boolean {
  return decodeFast(insn, addr, mode, u8, off);
}

/** decodeFrom without its fast path (the instruction decodePage left). */
export function decodeFull(insn: Insn, addr: number, mode: DecodeMode, fetch: (i: number) => number, u8: Uint8Array, offset: number, avail: number): void {
  const off = offset | 0;
  const n = avail < 15 ? avail : 15;
  insn.fetch = fetch;
  insn.u8 = u8;
  insn.off = off;
  insn.avail = n;
  insn.pos = 0;
  decodeInsn(insn, addr, mode);
  // The bytes read straight from the page (byteSlow recorded the rest), copied when asked for.
  insn.bytesFrom(u8, off, insn.pos < n ? insn.pos : n);
}

/** decodeFast's byte cursor for decodeOperand and decodeMemory (byte()): all 15 bytes on the page. */
function cursor(insn: Insn, u8: Uint8Array, off: number, pos: number): void {
  insn.u8 = u8;
  insn.off = off;
  insn.avail = 15;
  insn.pos = pos;
}

/**
 * The common case without the prefix loop, the pool scan and the exception handler: no legacy
 * prefix, an optional REX, a one-byte or 0F opcode whose row FAST or FAST_REG holds, all 15 bytes readable
 * (so nothing can fault or be too long). Writes every field decodeInsn writes, with the same
 * values (test/decode/fast-path.test.ts); returns false (fields half-written) to leave the
 * instruction to decodeInsn.
 */
function decodeFast(insn: Insn, addr: number, mode: DecodeMode, u8: Uint8Array, off: number): boolean {
  const long64 = mode.long64;
  let p = off;
  let b = u8[p++]!;
  // One 66 prefix (operand size, or a mandatory 66 of an SSE row): its own tables.
  const p66 = b === 0x66;
  if (p66) b = u8[p++]!;
  let rex = 0;
  if (long64 && (b & 0xf0) === 0x40) {
    rex = b;
    b = u8[p++]!;
    if ((b & 0xf0) === 0x40) return false;
  }
  if (LEGACY_PREFIX[b] !== 0) return false;
  let index = b;
  if (b === 0x0f) {
    index = 256 + u8[p++]!;
    if (index === 256 + 0x38 || index === 256 + 0x3a) return false;
  }
  let desc = (p66 ? FAST66 : FAST)[index]!;
  if (index === 0x90 && (rex & 1) !== 0) desc = XCHG_R8[0]!; // 41 90: XCHG r8, rAX (90 alone: NOP)
  let modrm = -1;
  let mod = 0;
  if (desc === null) {
    modrm = u8[p++]!;
    desc = (p66 ? FAST_REG66 : FAST_REG)[index * 8 + ((modrm >> 3) & 7)]!;
    if (desc === null) return false;
    mod = modrm >> 6;
    if ((desc.mod === 1 && mod === 3) || (desc.mod === 2 && mod !== 3)) return false;
  } else if (desc.modrm) {
    modrm = u8[p++]!;
    mod = modrm >> 6;
    if ((desc.mod === 1 && mod === 3) || (desc.mod === 2 && mod !== 3)) return false;
  }
  insn.addr = addr;
  insn.desc = desc;
  insn.mn = desc.mn;
  // The prefix fields (none here), and the operand fields the memory decode below writes when
  // there is a memory operand and these defaults otherwise (resetPrefixesAndOperands' values).
  if (insn.full) {
    // Only the full path sets these to anything else.
    insn.full = false;
    insn.bad = 0;
    insn.rep = 0;
    insn.lock = false;
    insn.segOverride = false;
    insn.imm2 = 0;
  }
  insn.rex = rex;
  insn.imm = 0;
  insn.immHi = 0;
  const clr = insn.opsClear;
  clr[0] = 0;
  clr[1] = 0;
  let asz: number;
  // 66 is an operand-size prefix unless the row's mandatory prefix (decodeInsn's opsizePrefix).
  const o16 = p66 && desc.prefix !== PFX_66;
  if (long64) {
    insn.osz = rex & 8 || desc.flags & F_F64 ? 8 : o16 ? 2 : desc.flags & F_D64 ? 8 : 4;
    asz = 8;
  } else {
    asz = mode.def32 ? 4 : 2;
    insn.osz = mode.def32 !== o16 ? 4 : 2;
  }
  insn.asz = asz;
  insn.modrm = modrm;
  if (mod === 3 || modrm < 0) {
    if (insn.memSet) {
      insn.memSet = false;
      insn.seg = DS;
      insn.ripRel = false;
      insn.base = -1;
      insn.index = -1;
      insn.scale = 1;
      insn.disp = 0;
    }
  } else if (asz !== 2) {
    // 32/64-bit addressing without a segment override, the bytes at p (decodeMemory's values).
    insn.memSet = true;
    p = modrmMem(u8, p - 1, rex);
    const base = MEM.base;
    insn.ripRel = MEM.ripForm && long64;
    insn.base = base;
    insn.index = MEM.index;
    insn.scale = MEM.scale;
    insn.disp = MEM.disp;
    const seg = base === 4 || base === 5 ? SS : DS;
    insn.seg = seg;
  } else {
    insn.memSet = true;
    insn.seg = DS;
    insn.ripRel = false;
    insn.base = -1;
    insn.index = -1;
    insn.scale = 1;
    insn.disp = 0;
    cursor(insn, u8, off, p - off);
    decodeMemory(insn, modrm, mode);
    p = off + insn.pos;
  }
  insn.pos = p - off;
  // Operands: the common kinds here (what decodeOperand does for them), the others there.
  const ops = desc.operands;
  const nops = ops.length;
  const kd = insn.kind;
  const rg = insn.reg;
  const sz = insn.size;
  for (let k = 0; k < nops; k++) {
    const op = ops[k]!;
    const ok = op.k;
    if (ok === O_E || ok === O_G || ok === O_Z || ok === O_M) {
      const size = op.bytes || sizeOf(op.s, insn);
      sz[k] = size;
      let r: number;
      if (ok === O_E || ok === O_M) {
        if (mod !== 3) {
          kd[k] = K_MEM;
          continue;
        }
        r = (modrm & 7) | ((rex & 1) << 3);
      } else r = ok === O_G ? ((modrm >> 3) & 7) | ((rex & 4) << 1) : desc.low | ((rex & 1) << 3);
      kd[k] = K_REG;
      rg[k] = size === 1 && rex === 0 && r >= 4 && r < 8 ? r + 12 : r;
    } else if ((ok === O_I && !(op.s === S_V && insn.osz === 8)) || ok === O_J) {
      const s = op.s;
      const osz = insn.osz;
      const n = s === S_B ? 1 : ok === O_J ? (osz === 2 ? 2 : 4) : s === S_W ? 2 : s === S_V ? osz : s === S_Z ? (osz === 2 ? 2 : 4) : 4;
      sz[k] = op.bytes || sizeOf(s, insn);
      kd[k] = K_IMM;
      const q = off + insn.pos;
      insn.pos += n;
      const v = n === 1 ? s8(u8[q]!) : n === 2 ? s16(u8[q]! | (u8[q + 1]! << 8)) : u8[q]! | (u8[q + 1]! << 8) | (u8[q + 2]! << 16) | (u8[q + 3]! << 24);
      insn.imm = v;
      if (ok === O_I) insn.immHi = v < 0 ? -1 : 0;
    } else if (ok === O_RAX) {
      // rAX (ADD/OR/.../TEST rAX, Iz; XCHG): operand-size accumulator (its reg slot is 0 already).
      kd[k] = K_REG;
      sz[k] = insn.osz;
    } else {
      // (Moffs and string operands write the memory fields too.)
      insn.memSet = true;
      cursor(insn, u8, off, insn.pos);
      decodeOperand(insn, k, op, desc, mode, index);
    }
  }
  finishLength(insn, desc, addr, long64);
  // The bytes are on the page, copied when asked for.
  insn.bytesFrom(u8, off, insn.len);
  return true;
}

/**
 * The instruction's length is known (`insn.pos`): RIP-relative displacements and relative branch
 * targets, both relative to the next instruction, become absolute. Both decode paths end here.
 */
function finishLength(insn: Insn, desc: OpDesc, addr: number, long64: boolean): void {
  const i = insn.pos;
  insn.len = i;
  if (insn.ripRel) insn.disp += addr + i;
  if (desc.rel) {
    const target = addr + i + insn.imm;
    insn.imm = insn.osz === 2 ? target & 0xffff : long64 ? target : target >>> 0;
  }
}

/** The prefix and operand fields both decode paths start from (nothing of a reused record's last instruction). */
function resetPrefixesAndOperands(insn: Insn, rex: number): void {
  insn.bad = 0;
  insn.rep = 0;
  insn.lock = false;
  insn.rex = rex;
  insn.seg = DS;
  insn.segOverride = false;
  insn.ripRel = false;
  insn.base = -1;
  insn.index = -1;
  insn.scale = 1;
  insn.disp = 0;
  insn.imm = 0;
  insn.immHi = 0;
  insn.imm2 = 0;
}

function decodeInsn(insn: Insn, addr: number, mode: DecodeMode): void {
  insn.addr = addr;
  insn.mn = -1;
  insn.desc = null;
  insn.full = true;
  insn.memSet = true;
  resetPrefixesAndOperands(insn, 0);
  insn.modrm = -1;
  insn.osz = 4;
  insn.asz = 4;
  insn.len = 0;
  // The record may be reused (the block cache's scratch records): nothing of the previous
  // instruction may remain, down to the operand slots this one leaves unused.
  const clr = insn.opsClear;
  clr[0] = 0;
  clr[1] = 0;
  try {
    let opsizePrefix = false;
    let addrPrefix = false;
    let lastRep = 0;
    let b: number;
    // Legacy prefixes, then REX (64-bit mode; a legacy prefix after REX cancels it).
    for (;;) {
      b = byte(insn);
      if (b === 0x66) opsizePrefix = true;
      else if (b === 0x67) addrPrefix = true;
      else if (b === 0xf0) insn.lock = true;
      else if (b === 0xf2 || b === 0xf3) lastRep = b;
      else if (SEG_OF[b]! >= 0) {
        insn.seg = SEG_OF[b]!;
        insn.segOverride = true;
      } else if (mode.long64 && (b & 0xf0) === 0x40) {
        insn.rex = b;
        b = byte(insn);
        if (b === 0x66 || b === 0x67 || b === 0xf0 || b === 0xf2 || b === 0xf3 || SEG_OF[b]! >= 0 || (b & 0xf0) === 0x40) {
          // Not immediately before the opcode: REX is ignored; re-scan this byte as a prefix.
          insn.rex = 0;
          insn.pos--;
          continue;
        }
        break;
      } else break;
    }
    let index = b;
    if (b === 0x0f) {
      const b2 = byte(insn);
      index = b2 === 0x38 ? 512 + byte(insn) : b2 === 0x3a ? 768 + byte(insn) : 256 + b2;
    }
    // The mandatory-prefix class: the last of F2/F3, else 66, else none.
    const cls = lastRep === 0xf3 ? PFX_F3 : lastRep === 0xf2 ? PFX_F2 : opsizePrefix ? PFX_66 : PFX_NONE;
    // 90 with REX.B is XCHG r8, rAX, not NOP.
    const pool = index === 0x90 && insn.rex & 1 ? XCHG_R8 : POOLS[index * 5 + cls]!;
    if (pool.length === 0) return ud(insn, insn.pos);
    const w = mode.long64 && insn.rex & 8 ? 1 : 0;
    let modrm = -1;
    if (POOL_MODRM[index * 5 + cls]) modrm = byte(insn);
    let desc: OpDesc | undefined;
    for (let k = 0; k < pool.length; k++) {
      const d = pool[k]!;
      if (d.flags & F_I64 && mode.long64) continue;
      if (d.flags & F_O64 && !mode.long64) continue;
      if (d.w >= 0 && d.w !== w) continue;
      if (!matchesModrm(d, modrm)) continue;
      desc = d;
      break;
    }
    if (!desc) return ud(insn, insn.pos);
    // A mandatory 66 is not an operand-size prefix; a mandatory F2/F3 is not a REP prefix.
    if (desc.prefix === PFX_66) opsizePrefix = false;
    insn.desc = desc;
    insn.mn = desc.mn;
    if (desc.prefix === PFX_NONE) insn.rep = lastRep;
    const rexW = (insn.rex & 8) !== 0;
    // Operand and address size.
    if (mode.long64) {
      insn.osz = rexW ? 8 : desc.flags & F_F64 ? 8 : desc.flags & F_D64 ? (opsizePrefix ? 2 : 8) : opsizePrefix ? 2 : 4;
      insn.asz = addrPrefix ? 4 : 8;
    } else {
      const d32 = mode.def32;
      insn.osz = d32 !== opsizePrefix ? 4 : 2;
      insn.asz = d32 !== addrPrefix ? 4 : 2;
    }
    if (insn.lock && !(desc.flags & F_LOCK)) return ud(insn, insn.pos);
    if (modrm >= 0) {
      insn.modrm = modrm;
      if (modrm >> 6 !== 3) decodeMemory(insn, modrm, mode);
      if (insn.lock && insn.mod === 3) return ud(insn, insn.pos);
    } else if (insn.lock) return ud(insn, insn.pos);
    // Operands.
    const ops = desc.operands;
    for (let k = 0; k < ops.length; k++) {
      const op = ops[k]!;
      decodeOperand(insn, k, op, desc, mode, index);
    }
    finishLength(insn, desc, addr, mode.long64);
  } catch (e) {
    if (e === TOO_LONG) {
      insn.bad = 2;
      insn.len = 15;
      return;
    }
    if (e === FETCH_FAULT) {
      insn.bad = 3;
      insn.len = insn.pos;
      return;
    }
    throw e;
  }
}

function matchesModrm(d: OpDesc, modrm: number): boolean {
  if (!d.modrm) return true;
  if (modrm < 0) return false;
  if (d.full >= 0) return d.full === modrm;
  if (d.reg >= 0 && ((modrm >> 3) & 7) !== d.reg) return false;
  const m = modrm >> 6;
  if (d.mod === 1 && m === 3) return false;
  if (d.mod === 2 && m !== 3) return false;
  return true;
}

function ud(insn: Insn, len: number): void {
  insn.bad = 1;
  insn.len = len;
  insn.mn = -1;
}

/** 16-bit ModRM addressing: base/index pairs (BX+SI ...) by rm. */
const RM16_BASE = [3, 3, 5, 5, 6, 7, 5, 3];
const RM16_INDEX = [6, 7, 6, 7, -1, -1, -1, -1];

function decodeMemory(insn: Insn, modrm: number, mode: DecodeMode): void {
  const mod = modrm >> 6;
  const rm = modrm & 7;
  if (insn.asz === 2) {
    if (mod === 0 && rm === 6) {
      insn.disp = s16(byte(insn) | (byte(insn) << 8));
      return;
    }
    insn.base = RM16_BASE[rm]!;
    insn.index = RM16_INDEX[rm]!;
    if (!insn.segOverride && (insn.base === 5 /* BP */)) insn.seg = SS;
    if (mod === 1) insn.disp = s8(byte(insn));
    else if (mod === 2) insn.disp = s16(byte(insn) | (byte(insn) << 8));
    return;
  }
  let base = rm | ((insn.rex & 1) << 3);
  if (rm === 4) {
    const sib = byte(insn);
    const idx = ((sib >> 3) & 7) | ((insn.rex & 2) << 2);
    insn.scale = 1 << (sib >> 6);
    insn.index = idx === 4 ? -1 : idx;
    base = (sib & 7) | ((insn.rex & 1) << 3);
    if ((sib & 7) === 5 && mod === 0) {
      insn.base = -1;
      insn.disp = byte(insn) | (byte(insn) << 8) | (byte(insn) << 16) | (byte(insn) << 24);
      return;
    }
  } else if (rm === 5 && mod === 0) {
    insn.disp = byte(insn) | (byte(insn) << 8) | (byte(insn) << 16) | (byte(insn) << 24);
    if (mode.long64) insn.ripRel = true;
    return;
  }
  insn.base = base;
  if (!insn.segOverride && ((base & 7) === 4 || (base & 7) === 5) && base < 8) insn.seg = SS;
  if (mod === 1) insn.disp = s8(byte(insn));
  else if (mod === 2) insn.disp = byte(insn) | (byte(insn) << 8) | (byte(insn) << 16) | (byte(insn) << 24);
}
