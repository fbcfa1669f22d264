/**
 * The x86 decode table compiled: OPCODE_TABLE (opcodes.ts) parsed once into descriptors, by
 * opcode and mandatory prefix, and the fast path's direct row tables. The decoder (decoder.ts)
 * reads them; everything here is built at load time.
 * @module
 */
import { isFeature, type FeatureName } from './features.js';
import { OPCODE_TABLE } from './opcodes.js';
import { O_J, spec } from './decode-operand.js';

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
/** XMM register 0-15. */
export const K_XMM = 7;
/** MMX register 0-7. */
export const K_MMX = 8;
/** x87 stack register ST(i): `reg` = i. */
export const K_ST = 9;

// ---- descriptor flags ----------------------------------------------------------------------
export const F_LOCK = 1;
export const F_I64 = 2;
export const F_O64 = 4;
export const F_D64 = 8;
export const F_F64 = 16;
export const F_REP = 32;
/** The decoded block ends after this instruction. */
export const F_END = 64;
/** A 16-byte memory operand must be 16-byte aligned (#GP(0) otherwise): SSE exception types 1, 2, 4. */
export const F_A16 = 128;

// ---- SDM exception classes (checked before the handler runs: exec/index.ts) ------------------
/** SIMD (SSE..SSE4.2): #UD if CR0.EM or !CR4.OSFXSR, #NM if CR0.TS. */
export const EXC_SSE = 1;
/** MMX: #UD if CR0.EM, #NM if CR0.TS, #MF if an x87 exception is pending. */
export const EXC_MMX = 2;
/** x87, waiting: #NM if CR0.EM or CR0.TS, then #MF if an x87 exception is pending. */
export const EXC_X87 = 4;
/** x87 non-waiting control forms (FNINIT, FNSTSW...) and FXSAVE/FXRSTOR: #NM if CR0.EM or CR0.TS. */
export const EXC_NM = 8;
/** XSAVE family: #UD if !CR4.OSXSAVE, #NM if CR0.TS. */
export const EXC_XSAVE = 16;

/** Mandatory-prefix classes of a row (0: legacy, 66/F2/F3 act as ordinary prefixes). */
export const PFX_NONE = 0, PFX_NP = 1, PFX_66 = 2, PFX_F3 = 3, PFX_F2 = 4;

/** An operand spec from the table: kind letter(s) + size letter (or fixed byte count). */
export interface OperandSpec {
  readonly kind: string;
  readonly size: string;
  /** Fixed size in bytes for the SDM-named memory forms (m32fp...), else 0. */
  readonly bytes: number;
  /** An x87 operand (ST(i), m32fp, m16int, m2byte, the environment...): the x87 exception class. */
  readonly x87: boolean;
  /** `kind` and `size` as small integers (O_* and S_*): the decoder switches on these, not on strings. */
  readonly k: number;
  readonly s: number;
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
  /** Mandatory-prefix class (PFX_*): PFX_NONE for legacy rows. */
  readonly prefix: number;
  /** REX.W selector: -1 any, 0 or 1. */
  readonly w: number;
  readonly flags: number;
  /** SDM exception class bits (EXC_*), 0 for none. */
  readonly exc: number;
  /** The CPUID feature that provides this encoding (features.ts), or null for the base ISA. */
  readonly feature: FeatureName | null;
  /** Opcode map (0 one-byte, 1 0F, 2 0F 38, 3 0F 3A) and opcode byte (first of a +r/+cc run). */
  readonly map: number;
  readonly opcode: number;
  /** The low opcode bits of a `+r`/`+cc` row (register number or condition code). */
  readonly low: number;
  readonly plusR: boolean;
  /** The table row it came from (for diagnostics and the decode tests). */
  readonly row: string;
  /** A relative branch operand (J) is present: its target is resolved after decoding. */
  readonly rel: boolean;
  /** ENTER (Iw,Ib: the second immediate is the nesting level). */
  readonly enter: boolean;
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

/** Every descriptor of the table, in row order. */
export const DESCS: OpDesc[] = [];
/** Descriptor lists by map * 256 + opcode. */
export const MAP: OpDesc[][] = Array.from({ length: 1024 }, () => []);
/**
 * Candidate pools by (map * 256 + opcode) * 5 + prefix class: the rows valid with that mandatory
 * prefix (explicit rows for the class, else the legacy rows), most specific ModRM selector first.
 */
export const POOLS: OpDesc[][] = [];
/** Whether any row of a pool reads a ModRM byte. */
export const POOL_MODRM: boolean[] = [];

const PFX_TOKENS: Record<string, number> = { NP: PFX_NP, '66': PFX_66, F3: PFX_F3, F2: PFX_F2 };
const FIXED_OPERANDS = ['AL', 'CL', 'DX', 'AX', 'rAX', 'eAX', 'ONE', 'ES', 'CS', 'SS', 'DS', 'FS', 'GS'];
/** The SDM's named memory operands: size letter or bytes. */
const NAMED_MEM: Record<string, [string, number]> = {
  m32fp: ['', 4], m64fp: ['', 8], m80fp: ['', 10], m16int: ['', 2], m32int: ['', 4], m64int: ['', 8], m80bcd: ['', 10],
  m2byte: ['', 2], 'm14/28byte': ['e', 0], 'm94/108byte': ['f', 0], m512byte: ['', 512],
};
const MMX_TO_XMM: Record<string, string> = { P: 'V', Q: 'W', N: 'U' };

function parseOperand(s: string): OperandSpec {
  if (FIXED_OPERANDS.includes(s)) return spec(s, '', 0);
  if (s === 'ST(0)') return spec('ST0', '', 10, true);
  if (s === 'ST(i)') return spec('STi', '', 10, true);
  const named = NAMED_MEM[s];
  if (named) return spec('M', named[0], named[1], s !== 'm512byte');
  if (!/^[A-Z][a-z]*$/.test(s)) throw new Error(`x86 opcode table: bad operand ${s}`);
  return spec(s[0]!, s.slice(1), 0);
}

function compile(): void {
  for (const raw of OPCODE_TABLE.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    try {
      compileRow(line);
    } catch (e) {
      throw new Error(`x86 opcode table row "${line}": ${(e as Error).message}`);
    }
  }
  for (let index = 0; index < 1024; index++) {
    const rows = MAP[index]!;
    for (let cls = 0; cls < 5; cls++) {
      // The rows valid with this mandatory-prefix class: its own (NP for none), then the legacy
      // rows (the prefix then acts as operand size / REP); another class's rows never (#UD, as
      // measured). Explicit rows first, then the most specific ModRM selector (=XX, /n with
      // mem|reg, /n, mem|reg), so the table's order does not matter; rows of equal rank must not
      // overlap (test/decode).
      const own = cls === PFX_NONE ? PFX_NP : cls;
      const rank = (d: OpDesc) => (d.prefix === own ? 8 : 0) + specificity(d);
      const pool = rows
        .filter((d) => d.prefix === own || d.prefix === PFX_NONE)
        .map((d, k) => ({ d, k }))
        .sort((a, b) => rank(b.d) - rank(a.d) || a.k - b.k)
        .map((x) => x.d);
      POOLS[index * 5 + cls] = pool;
      POOL_MODRM[index * 5 + cls] = pool.some((d) => d.modrm);
    }
  }
}

function specificity(d: OpDesc): number {
  return d.full >= 0 ? 4 : (d.reg >= 0 ? 2 : 0) + (d.mod !== 0 ? 1 : 0);
}

function compileRow(line: string): void {
  const t = line.split(/\s+/);
  let i = 0;
  let prefixes = [PFX_NONE];
  if (/^(NP|66|F3|F2)(\|(NP|66|F3|F2))*$/.test(t[0]!) && /^[0-9A-F]{2}(\+r|\+cc)?$/.test(t[1]!)) prefixes = t[i++]!.split('|').map((p) => PFX_TOKENS[p]!);
  let map = 0;
  if (t[i] === '0F') {
    map = 1;
    i++;
    if (t[i] === '38' && /^[0-9A-F]{2}$/.test(t[i + 1] ?? '')) {
      map = 2;
      i++;
    } else if (t[i] === '3A' && /^[0-9A-F]{2}$/.test(t[i + 1] ?? '')) {
      map = 3;
      i++;
    }
  }
  let opTok = t[i++]!;
  const plusCc = opTok.endsWith('+cc');
  const plusR = opTok.endsWith('+r') || plusCc;
  if (plusR) opTok = opTok.slice(0, plusCc ? -3 : -2);
  if (!/^[0-9A-F]{2}$/.test(opTok)) throw new Error(`opcode ${opTok}`);
  const opcode = parseInt(opTok, 16);
  let modrm = false;
  let reg = -1;
  let mod = 0;
  let full = -1;
  let w = -1;
  for (;;) {
    const tok = t[i]!;
    if (tok === '/r') modrm = true;
    else if (/^\/[0-7]$/.test(tok)) {
      modrm = true;
      reg = Number(tok[1]);
    } else if (tok === 'mem') mod = 1;
    else if (tok === 'reg') mod = 2;
    else if (/^=[0-9A-F]{2}$/.test(tok)) {
      modrm = true;
      full = parseInt(tok.slice(1), 16);
    } else if (tok === 'W0' || tok === 'W1') w = Number(tok[1]);
    else break;
    i++;
  }
  const name = t[i++]!;
  if (!/^[A-Z][A-Z0-9]*(cc)?$/.test(name)) throw new Error(`mnemonic ${name}`);
  let operands: OperandSpec[] = [];
  let flags = 0;
  let exc = 0;
  let features: FeatureName[] = [];
  let unaligned = false;
  let nw = false;
  for (; i < t.length; i++) {
    const tok = t[i]!;
    if (tok === 'L') flags |= F_LOCK;
    else if (tok === 'i64') flags |= F_I64;
    else if (tok === 'o64') flags |= F_O64;
    else if (tok === 'd64') flags |= F_D64;
    else if (tok === 'f64') flags |= F_F64 | F_D64;
    else if (tok === 'rep') flags |= F_REP;
    else if (tok === 'end') flags |= F_END;
    else if (tok === 'ua') unaligned = true;
    else if (tok === 'sse') exc |= EXC_SSE;
    else if (tok === 'mmx') exc |= EXC_MMX;
    else if (tok === 'x87') exc |= EXC_X87;
    else if (tok === 'nw') nw = true;
    else if (tok === 'xsave') exc |= EXC_XSAVE;
    else if (/^[A-Z0-9_]+(\/[A-Z0-9_]+)?$/.test(tok) && tok.split('/').every(isFeature)) features = tok.split('/') as FeatureName[];
    else if (operands.length === 0 && features.length === 0) operands = tok.split(',').map(parseOperand);
    else throw new Error(`unknown token ${tok}`);
  }
  if (features.length > 1 && features.length !== prefixes.length) throw new Error('one feature per prefix form');
  const mn = mnId(name);
  prefixes.forEach((prefix, p) => {
    // `NP|66`: the 66 form of an MMX row works on xmm registers.
    const xmm = prefix === PFX_66 && prefixes.includes(PFX_NP);
    const ops = xmm ? operands.map((o) => (MMX_TO_XMM[o.kind] ? spec(MMX_TO_XMM[o.kind]!, 'x', 0) : o)) : operands;
    let e = exc;
    for (const o of ops) {
      if ('VWU'.includes(o.kind)) e |= EXC_SSE;
      else if ('PQN'.includes(o.kind)) e |= EXC_MMX;
      else if (o.x87) e |= EXC_X87;
    }
    if (nw) e = (e & ~EXC_X87) | EXC_NM;
    let fl = flags;
    if (e & EXC_SSE && !unaligned && ops.some((o) => 'WM'.includes(o.kind) && o.size === 'x')) fl |= F_A16;
    const feature = features.length ? features[Math.min(p, features.length - 1)]! : null;
    // `+r` rows cover 8 opcodes (a register in the low bits), `+cc` rows 16 (a condition code).
    const count = plusCc ? 16 : plusR ? 8 : 1;
    for (let c = 0; c < count; c++) {
      const rel = ops.some((o) => o.k === O_J);
      const d: OpDesc = { mn, name, operands: ops, modrm, reg, mod, full, prefix, w, flags: fl, exc: e, feature, map, opcode, low: c, plusR, row: line, rel, enter: name === 'ENTER' };
      MAP[map * 256 + opcode + c]!.push(d);
      if (c === 0) DESCS.push(d);
    }
  });
}

compile();

/** The `XCHG Zv,rAX` descriptor of opcode 90 (90 with REX.B is XCHG r8, rAX, not NOP). */
export const XCHG_R8: OpDesc[] = MAP[0x90]!.filter((d) => d.name === 'XCHG');

/**
 * The fast path's rows by (map * 256 + opcode), maps 0 and 0F, for prefix class `cls` (PFX_NONE:
 * no legacy prefix; PFX_66: one 66 prefix): the pool's only row when it is valid in every mode,
 * for any REX.W and any ModRM.reg (mem/reg-only rows are checked against ModRM.mod), and has no
 * second immediate. null: decoded by the full path.
 */
function fastRows(cls: number): (OpDesc | null)[] {
  return Array.from({ length: 512 }, (_, index) => {
    const pool = POOLS[index * 5 + cls]!;
    // 90: NOP (the pool's first row); with REX.B the fast path takes XCHG r8, rAX (XCHG_R8) itself.
    if (index === 0x90) return pool[0]!.name === 'NOP' && XCHG_R8.length === 1 ? pool[0]! : null;
    if (pool.length !== 1 || index === 0x0f) return null;
    const d = pool[0]!;
    if (d.flags & (F_I64 | F_O64) || d.w >= 0 || d.enter) return null;
    if (d.modrm && (d.reg >= 0 || d.full >= 0)) return null;
    if (d.modrm !== POOL_MODRM[index * 5 + cls]) return null;
    return d;
  });
}
/**
 * Group opcodes (rows selected by ModRM.reg: 80-83, C0/C1, D0-D3, F6/F7, FE/FF...) by
 * (map * 256 + opcode) * 8 + ModRM.reg: the row the pool scan picks first for that reg when every
 * row of the pool is valid in every mode and for any REX.W (a mem/reg-only row is checked against
 * ModRM.mod; a mismatch goes to the full path). null: the full path.
 */
function fastRegRows(cls: number, fast: (OpDesc | null)[]): (OpDesc | null)[] {
  return Array.from({ length: 512 * 8 }, (_, x) => {
    const index = x >> 3;
    const reg = x & 7;
    const pool = POOLS[index * 5 + cls]!;
    if (pool.length === 0 || fast[index] !== null || index === 0x90 || index === 0x0f) return null;
    if (pool.some((d) => !d.modrm || d.full >= 0 || d.flags & (F_I64 | F_O64) || d.w >= 0 || d.enter)) return null;
    return pool.find((d) => d.reg === reg || d.reg < 0) ?? null;
  });
}
/** The fast path's rows without a legacy prefix, and after one 66 prefix (operand size, or a mandatory 66). */
export const FAST = fastRows(PFX_NONE);
export const FAST_REG = fastRegRows(PFX_NONE, FAST);
export const FAST66 = fastRows(PFX_66);
export const FAST_REG66 = fastRegRows(PFX_66, FAST66);
/** Legacy prefix bytes (66, 67, F0, F2, F3, segment overrides): the full path decodes them. */
export const LEGACY_PREFIX = new Uint8Array(256);
for (const b of [0x66, 0x67, 0xf0, 0xf2, 0xf3, 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65]) LEGACY_PREFIX[b] = 1;

/** True when the map has any descriptor for `index` (map * 256 + opcode). */
export function hasOpcode(index: number): boolean {
  return MAP[index]!.length > 0;
}
