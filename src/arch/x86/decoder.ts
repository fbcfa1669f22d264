/**
 * The table-driven x86 decoder: OPCODE_TABLE is compiled once into per-opcode descriptor lists;
 * decoding an instruction fills a reusable `Insn` record (prefixes, REX, ModRM/SIB, displacement,
 * immediates, operand and address size for the current mode). No allocation per instruction.
 * @module
 */
import { OPCODE_TABLE } from './opcodes.js';
import { CS, DS, ES, FS, GS, SS } from './state.js';

// ---- operand kinds -------------------------------------------------------------------------
export const K_NONE = 0;
/** General register: `reg` index 0-15, or 16-19 for AH/CH/DH/BH. */
export const K_REG = 1;
/** Memory operand (the instruction's ModRM/moffs address). */
export const K_MEM = 2;
/** Immediate in `imm` (and `immHi` for 64-bit). */
export const K_IMM = 3;
export const K_SEG = 4;
export const K_CR = 5;
export const K_DR = 6;
export const K_XMM = 7;

// ---- descriptor flags ----------------------------------------------------------------------
export const F_LOCK = 1;
export const F_I64 = 2;
export const F_O64 = 4;
export const F_D64 = 8;
export const F_F64 = 16;
export const F_REP = 32;

/** An operand spec from the table: kind letter + size letter. */
interface OperandSpec {
  readonly kind: string;
  readonly size: string;
}

export interface OpDesc {
  /** Mnemonic id (index in MNEMONICS). */
  readonly mn: number;
  readonly name: string;
  readonly operands: readonly OperandSpec[];
  readonly modrm: boolean;
  /** ModRM.reg selector (/n), or -1. */
  readonly reg: number;
  /** 0 any, 1 memory only, 2 register only. */
  readonly mod: number;
  /** The full ModRM byte (=XX), or -1. */
  readonly full: number;
  /** Mandatory prefix (0x66, 0xF2, 0xF3) or 0. */
  readonly prefix: number;
  readonly flags: number;
  /** The low opcode bits of a `+r` row (register number or condition code). */
  readonly low: number;
  readonly plusR: boolean;
}

/** Mnemonics in table order; handlers are indexed by these ids. */
export const MNEMONICS: string[] = [];
const mnIds = new Map<string, number>();

function mnId(name: string): number {
  let id = mnIds.get(name);
  if (id === undefined) {
    id = MNEMONICS.length;
    MNEMONICS.push(name);
    mnIds.set(name, id);
  }
  return id;
}

/** The id of a mnemonic (throws for a typo at load time). */
export function mnemonic(name: string): number {
  const id = mnIds.get(name);
  if (id === undefined) throw new Error(`no x86 mnemonic ${name} in the opcode table`);
  return id;
}

/** Descriptor lists: [0..255] one-byte map, [256..511] 0F map. */
const MAP: OpDesc[][] = Array.from({ length: 512 }, () => []);

function compile(): void {
  for (const raw of OPCODE_TABLE.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const t = line.split(/\s+/);
    let i = 0;
    let prefix = 0;
    if (['66', 'F2', 'F3'].includes(t[0]!) && /^[0-9A-F]{2}(\+r)?$/.test(t[1]!)) prefix = parseInt(t[i++]!, 16);
    let map = 0;
    if (t[i] === '0F') {
      map = 256;
      i++;
    }
    let opTok = t[i++]!;
    const plusR = opTok.endsWith('+r');
    if (plusR) opTok = opTok.slice(0, -2);
    const opcode = parseInt(opTok, 16);
    let modrm = false;
    let reg = -1;
    let mod = 0;
    let full = -1;
    for (;;) {
      const tok = t[i]!;
      if (tok === '/r') modrm = true;
      else if (/^\/[0-7]$/.test(tok)) {
        modrm = true;
        reg = Number(tok[1]);
      } else if (tok === 'mem') mod = 1;
      else if (tok === 'reg') mod = 2;
      else if (tok.startsWith('=')) {
        modrm = true;
        full = parseInt(tok.slice(1), 16);
      } else break;
      i++;
    }
    const name = t[i++]!;
    let operands: OperandSpec[] = [];
    let flags = 0;
    for (; i < t.length; i++) {
      const tok = t[i]!;
      if (tok === 'L') flags |= F_LOCK;
      else if (tok === 'i64') flags |= F_I64;
      else if (tok === 'o64') flags |= F_O64;
      else if (tok === 'd64') flags |= F_D64;
      else if (tok === 'f64') flags |= F_F64 | F_D64;
      else if (tok === 'rep') flags |= F_REP;
      else operands = tok.split(',').map(parseOperand);
    }
    const mn = mnId(name);
    // `+r` rows cover 8 opcodes (a register in the low bits), or 16 for the condition-code
    // families (Jcc, SETcc, CMOVcc: the condition in the low nibble).
    const count = !plusR ? 1 : ['JCC', 'SETCC', 'CMOVCC'].includes(name) ? 16 : 8;
    for (let c = 0; c < count; c++) {
      MAP[map + opcode + c]!.push({ mn, name, operands, modrm, reg, mod, full, prefix, flags, low: c, plusR });
    }
  }
}

const SEG_NAMES = ['ES', 'CS', 'SS', 'DS', 'FS', 'GS'];

function parseOperand(s: string): OperandSpec {
  const fixed = ['AL', 'CL', 'DX', 'rAX', 'eAX', 'ONE', 'ES', 'CS', 'SS', 'DS', 'FS', 'GS'];
  if (fixed.includes(s)) return { kind: s, size: '' };
  return { kind: s[0]!, size: s.slice(1) };
}

compile();

/** The `XCHG Zv,rAX` descriptor of opcode 90 (90 with REX.B is XCHG r8, rAX, not NOP). */
const XCHG_R8: OpDesc[] = MAP[0x90]!.filter((d) => d.name === 'XCHG');

/** True when the map has any descriptor for `index`. */
export function hasOpcode(index: number): boolean {
  return MAP[index]!.length > 0;
}

// ---- the decoded instruction ---------------------------------------------------------------

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
  /** Operand kinds, registers and sizes (up to three operands). */
  readonly kind = new Int8Array(3);
  readonly reg = new Int8Array(3);
  readonly size = new Int8Array(3);
  nops = 0;
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
  /** ModRM fields (after REX). */
  modrm = -1;
  mod = 0;
  rm = 0;
  regField = 0;
  /** 0, 0xF3 (REP/REPE) or 0xF2 (REPNE). */
  rep = 0;
  lock = false;
  rex = 0;
  /** Condition code / low opcode bits (Jcc, SETcc, CMOVcc, +r rows). */
  cond = 0;
  /** Why the bytes did not decode: 0 ok, 1 #UD, 2 too long (#GP), 3 fetch fault (see fetchFault). */
  bad = 0;
  /** Raw bytes (for emulation-failure reports). */
  readonly bytes = new Uint8Array(15);
}

/** The CPU mode the decoder needs. */
export interface DecodeMode {
  /** 64-bit mode (long mode with CS.L = 1). */
  long64: boolean;
  /** Default operand/address size 32 (CS.D = 1) outside 64-bit mode; 16 otherwise (incl. real mode). */
  def32: boolean;
}

const SEG_PREFIX: Record<number, number> = { 0x26: ES, 0x2e: CS, 0x36: SS, 0x3e: DS, 0x64: FS, 0x65: GS };

/**
 * Decodes at `addr` from `fetch(i)` (byte i of the instruction; returns -1 when it cannot be read,
 * e.g. a page fault — the decoder then sets `bad` = 3 and `len` = the faulting byte index).
 */
export function decode(insn: Insn, addr: number, mode: DecodeMode, fetch: (i: number) => number): void {
  insn.addr = addr;
  insn.mn = -1;
  insn.desc = null;
  insn.bad = 0;
  insn.rep = 0;
  insn.lock = false;
  insn.rex = 0;
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
  insn.modrm = -1;
  insn.nops = 0;
  insn.cond = 0;
  let i = 0;
  const byte = (): number => {
    if (i >= 15) throw TOO_LONG;
    const b = fetch(i);
    if (b < 0) throw FETCH_FAULT;
    insn.bytes[i] = b;
    i++;
    return b;
  };
  try {
    let opsizePrefix = false;
    let addrPrefix = false;
    let lastRep = 0;
    let b: number;
    // Legacy prefixes, then REX (64-bit mode; a legacy prefix after REX cancels it).
    for (;;) {
      b = byte();
      if (b === 0x66) opsizePrefix = true;
      else if (b === 0x67) addrPrefix = true;
      else if (b === 0xf0) insn.lock = true;
      else if (b === 0xf2 || b === 0xf3) lastRep = b;
      else if (b in SEG_PREFIX) {
        insn.seg = SEG_PREFIX[b]!;
        insn.segOverride = true;
      } else if (mode.long64 && (b & 0xf0) === 0x40) {
        insn.rex = b;
        b = byte();
        if (b === 0x66 || b === 0x67 || b === 0xf0 || b === 0xf2 || b === 0xf3 || b in SEG_PREFIX || (b & 0xf0) === 0x40) {
          // Not immediately before the opcode: REX is ignored; re-scan this byte as a prefix.
          insn.rex = 0;
          i--;
          continue;
        }
        break;
      } else break;
    }
    let index = b;
    if (b === 0x0f) index = 256 + byte();
    const cands = MAP[index]!;
    if (cands.length === 0) return ud(insn, i);
    const rexW = (insn.rex & 8) !== 0;
    // Mandatory prefix selection (SSE rows, PAUSE, POPCNT...): the variant for F3/F2, else 66.
    let mandatory = 0;
    if (cands.some((d) => d.prefix !== 0)) {
      if (lastRep && cands.some((d) => d.prefix === lastRep)) mandatory = lastRep;
      else if (opsizePrefix && cands.some((d) => d.prefix === 0x66)) mandatory = 0x66;
    }
    // 90 with REX.B is XCHG r8, rAX, not NOP.
    const pool = index === 0x90 && insn.rex & 1 ? XCHG_R8 : cands.filter((d) => d.prefix === mandatory);
    const needModrm = pool.some((d) => d.modrm);
    let modrm = -1;
    if (needModrm) modrm = byte();
    let desc: OpDesc | undefined;
    for (const d of pool) {
      if (d.flags & F_I64 && mode.long64) continue;
      if (d.flags & F_O64 && !mode.long64) continue;
      if (!matchesModrm(d, modrm)) continue;
      if (d.full >= 0 && d.full !== modrm) continue;
      if (d.full < 0 && pool.some((x) => x.full === modrm && x.full >= 0)) continue;
      desc = d;
      break;
    }
    if (!desc) return ud(insn, i);
    if (mandatory === 0x66) opsizePrefix = false; // consumed as a mandatory prefix
    insn.desc = desc;
    insn.mn = desc.mn;
    insn.cond = desc.low;
    if (mandatory === 0) insn.rep = lastRep;
    // Operand and address size.
    if (mode.long64) {
      insn.osz = rexW ? 8 : desc.flags & F_F64 ? 8 : desc.flags & F_D64 ? (opsizePrefix ? 2 : 8) : opsizePrefix ? 2 : 4;
      insn.asz = addrPrefix ? 4 : 8;
    } else {
      const d32 = mode.def32;
      insn.osz = d32 !== opsizePrefix ? 4 : 2;
      insn.asz = d32 !== addrPrefix ? 4 : 2;
    }
    if (insn.lock && !(desc.flags & F_LOCK)) return ud(insn, i);
    if (modrm >= 0) {
      insn.modrm = modrm;
      insn.mod = modrm >> 6;
      insn.regField = ((modrm >> 3) & 7) | ((insn.rex & 4) << 1);
      insn.rm = (modrm & 7) | ((insn.rex & 1) << 3);
      if (insn.mod !== 3) decodeMemory(insn, modrm, byte, mode);
      if (insn.lock && insn.mod === 3) return ud(insn, i);
    } else if (insn.lock) return ud(insn, i);
    // Operands.
    const ops = desc.operands;
    insn.nops = ops.length;
    for (let k = 0; k < ops.length; k++) {
      const op = ops[k]!;
      decodeOperand(insn, k, op, desc, byte, mode, index);
    }
    insn.len = i;
    // RIP-relative displacement is relative to the next instruction (known only now).
    if (insn.ripRel) insn.disp += addr + i;
    // Relative branch targets likewise.
    for (let k = 0; k < ops.length; k++) {
      if (ops[k]!.kind === 'J') {
        const target = addr + i + insn.imm;
        insn.imm = insn.osz === 2 ? target & 0xffff : mode.long64 ? target : target >>> 0;
      }
    }
  } catch (e) {
    if (e === TOO_LONG) {
      insn.bad = 2;
      insn.len = 15;
      return;
    }
    if (e === FETCH_FAULT) {
      insn.bad = 3;
      insn.len = i;
      return;
    }
    throw e;
  }
}

function matchesModrm(d: OpDesc, modrm: number): boolean {
  if (!d.modrm) return true;
  if (modrm < 0) return false;
  if (d.reg >= 0 && ((modrm >> 3) & 7) !== d.reg) return false;
  const m = modrm >> 6;
  if (d.mod === 1 && m === 3) return false;
  if (d.mod === 2 && m !== 3) return false;
  return true;
}

const TOO_LONG = { tooLong: true };
const FETCH_FAULT = { fetchFault: true };

function ud(insn: Insn, len: number): void {
  insn.bad = 1;
  insn.len = len;
  insn.mn = -1;
}

/** 16-bit ModRM addressing: base/index pairs (BX+SI ...) by rm. */
const RM16_BASE = [3, 3, 5, 5, 6, 7, 5, 3];
const RM16_INDEX = [6, 7, 6, 7, -1, -1, -1, -1];

function decodeMemory(insn: Insn, modrm: number, byte: () => number, mode: DecodeMode): void {
  const mod = modrm >> 6;
  const rm = modrm & 7;
  if (insn.asz === 2) {
    if (mod === 0 && rm === 6) {
      insn.disp = s16(byte() | (byte() << 8));
      return;
    }
    insn.base = RM16_BASE[rm]!;
    insn.index = RM16_INDEX[rm]!;
    if (!insn.segOverride && (insn.base === 5 /* BP */)) insn.seg = SS;
    if (mod === 1) insn.disp = s8(byte());
    else if (mod === 2) insn.disp = s16(byte() | (byte() << 8));
    return;
  }
  let base = rm | ((insn.rex & 1) << 3);
  if (rm === 4) {
    const sib = byte();
    const idx = ((sib >> 3) & 7) | ((insn.rex & 2) << 2);
    insn.scale = 1 << (sib >> 6);
    insn.index = idx === 4 ? -1 : idx;
    base = (sib & 7) | ((insn.rex & 1) << 3);
    if ((sib & 7) === 5 && mod === 0) {
      insn.base = -1;
      insn.disp = byte() | (byte() << 8) | (byte() << 16) | (byte() << 24);
      return;
    }
  } else if (rm === 5 && mod === 0) {
    insn.disp = byte() | (byte() << 8) | (byte() << 16) | (byte() << 24);
    if (mode.long64) insn.ripRel = true;
    return;
  }
  insn.base = base;
  if (!insn.segOverride && ((base & 7) === 4 || (base & 7) === 5) && base < 8) insn.seg = SS;
  if (mod === 1) insn.disp = s8(byte());
  else if (mod === 2) insn.disp = byte() | (byte() << 8) | (byte() << 16) | (byte() << 24);
}

const s8 = (b: number) => (b << 24) >> 24;
const s16 = (w: number) => (w << 16) >> 16;

function sizeOf(letter: string, insn: Insn): number {
  switch (letter) {
    case 'b': return 1;
    case 'w': return 2;
    case 'd': return 4;
    case 'q': return 8;
    case 'v': return insn.osz;
    case 'z': return insn.osz === 2 ? 2 : 4;
    case 'y': return insn.osz === 8 ? 8 : 4;
    case 'x': return 16;
    case 'p': return insn.osz === 2 ? 4 : insn.osz === 4 ? 6 : 10;
    case 's': return insn.asz === 8 ? 10 : 6;
    default: return insn.osz;
  }
}

function decodeOperand(insn: Insn, k: number, op: OperandSpec, desc: OpDesc, byte: () => number, mode: DecodeMode, index: number): void {
  const size = sizeOf(op.size, insn);
  insn.size[k] = size;
  insn.reg[k] = 0;
  const gpr = (r: number, sz: number) => (sz === 1 && !insn.rex && r >= 4 && r < 8 ? r + 12 : r);
  switch (op.kind) {
    case 'E':
    case 'M':
    case 'W':
      if (insn.mod === 3) {
        insn.kind[k] = op.kind === 'W' ? K_XMM : K_REG;
        insn.reg[k] = op.kind === 'W' ? insn.rm : gpr(insn.rm, size);
      } else insn.kind[k] = K_MEM;
      return;
    case 'G':
      insn.kind[k] = K_REG;
      insn.reg[k] = gpr(insn.regField, size);
      return;
    case 'R':
      insn.kind[k] = K_REG;
      insn.reg[k] = insn.rm;
      // MOV to/from CR/DR ignores mod and uses 64-bit registers in 64-bit mode, 32 otherwise.
      insn.size[k] = mode.long64 ? 8 : 4;
      return;
    case 'V':
      insn.kind[k] = K_XMM;
      insn.reg[k] = insn.regField;
      return;
    case 'S':
      insn.kind[k] = K_SEG;
      insn.reg[k] = insn.regField & 7;
      return;
    case 'C':
      insn.kind[k] = K_CR;
      insn.reg[k] = insn.regField;
      insn.size[k] = mode.long64 ? 8 : 4;
      return;
    case 'D':
      insn.kind[k] = K_DR;
      insn.reg[k] = insn.regField;
      insn.size[k] = mode.long64 ? 8 : 4;
      return;
    case 'Z':
      insn.kind[k] = K_REG;
      insn.reg[k] = gpr(desc.low | ((insn.rex & 1) << 3), size);
      return;
    case 'I': {
      insn.kind[k] = K_IMM;
      if (op.size === 'v' && insn.osz === 8) {
        // MOV r64, imm64
        insn.imm = byte() | (byte() << 8) | (byte() << 16) | (byte() << 24);
        insn.immHi = byte() | (byte() << 8) | (byte() << 16) | (byte() << 24);
        return;
      }
      const n = op.size === 'b' ? 1 : op.size === 'w' ? 2 : op.size === 'v' ? insn.osz : op.size === 'z' ? (insn.osz === 2 ? 2 : 4) : 4;
      let v = 0;
      for (let j = 0; j < n; j++) v |= byte() << (8 * j);
      v = n === 1 ? s8(v) : n === 2 ? s16(v) : v | 0;
      if (k === 1 && desc.name === 'ENTER') {
        insn.imm2 = v & 0xff; // ENTER Iw,Ib: the nesting level
        return;
      }
      insn.imm = v;
      insn.immHi = v < 0 ? -1 : 0;
      return;
    }
    case 'J': {
      insn.kind[k] = K_IMM;
      const n = op.size === 'b' ? 1 : insn.osz === 2 ? 2 : 4;
      let v = 0;
      for (let j = 0; j < n; j++) v |= byte() << (8 * j);
      insn.imm = n === 1 ? s8(v) : n === 2 ? s16(v) : v | 0;
      return;
    }
    case 'O': {
      insn.kind[k] = K_MEM;
      let v = 0;
      let hi = 0;
      for (let j = 0; j < Math.min(insn.asz, 4); j++) v |= byte() << (8 * j);
      if (insn.asz === 8) for (let j = 0; j < 4; j++) hi |= byte() << (8 * j);
      insn.disp = insn.asz === 8 ? hi * 0x100000000 + (v >>> 0) : v >>> 0;
      return;
    }
    case 'A': {
      insn.kind[k] = K_IMM;
      let v = 0;
      for (let j = 0; j < insn.osz; j++) v |= byte() << (8 * j);
      insn.imm = insn.osz === 2 ? v & 0xffff : v >>> 0;
      insn.imm2 = byte() | (byte() << 8);
      return;
    }
    case 'X':
    case 'Y':
      insn.kind[k] = K_MEM;
      return;
    case 'AL':
      insn.kind[k] = K_REG;
      insn.reg[k] = 0;
      insn.size[k] = 1;
      return;
    case 'CL':
      insn.kind[k] = K_REG;
      insn.reg[k] = 1;
      insn.size[k] = 1;
      return;
    case 'DX':
      insn.kind[k] = K_REG;
      insn.reg[k] = 2;
      insn.size[k] = 2;
      return;
    case 'rAX':
      insn.kind[k] = K_REG;
      insn.reg[k] = 0;
      insn.size[k] = insn.osz;
      return;
    case 'eAX':
      insn.kind[k] = K_REG;
      insn.reg[k] = 0;
      insn.size[k] = insn.osz === 2 ? 2 : 4;
      return;
    case 'ONE':
      insn.kind[k] = K_IMM;
      insn.imm = 1;
      return;
    case 'ES':
    case 'CS':
    case 'SS':
    case 'DS':
    case 'FS':
    case 'GS':
      // PUSH/POP of a segment register named by the opcode.
      insn.kind[k] = K_SEG;
      insn.reg[k] = SEG_NAMES.indexOf(op.kind);
      insn.size[k] = 2;
      return;
    default:
      throw new Error(`x86 decoder: operand kind ${op.kind} (opcode index ${index})`);
  }
}
