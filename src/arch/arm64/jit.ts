/**
 * The arm64 block JIT: guest basic blocks decoded once and translated into specialised JS
 * functions (`new Function`), cached per vCPU by virtual address and execution mode.
 *
 * - A block runs from its first instruction to the first one that may change control flow or
 *   processor mode (branches, exception generation, system instructions, WFI/WFE, UNALLOCATED),
 *   to the end of its 4 KiB page, or to MAX_BLOCK instructions.
 * - Blocks start cold: the dispatcher interprets them (run.ts) and counts executions; after
 *   `hotness` executions the block is translated. A block whose final branch targets its own
 *   start becomes a loop inside its function, bounded by the instruction budget it is given.
 * - The simple integer instructions, branches and general-register loads/stores are generated
 *   inline with their fields as constants; everything else calls the interpreter's handler with
 *   the word as a constant (the same semantics by construction).
 * - Correctness under code changes: every block remembers its instruction words and guest page.
 *   Guest writes to a page holding blocks never use the write TLB; they reach `codeWrite`, which
 *   drops the overlapping blocks before the store lands and tells the running block to stop
 *   (`Cpu.stop`), so self-modifying code sees its new instructions at once. Writes userspace
 *   makes between runs (through its mapping, invisible here) are caught by revalidation: each
 *   KVM_RUN starts a new epoch, and a block's words are compared with guest memory the first
 *   time it runs in an epoch.
 * @module
 */
import { logicalImm, mul64, R } from './alu.js';
import { STOP_CODE, type Cpu } from './cpu.js';
import { baseAddr } from './insn-ldst.js';
import { A64 } from './table.js';

/** A translated block: runs the block (looping while `lim` allows), updates pc and retired. */
export type BlockFn = (c: Cpu, lim: number) => void;

/** Longest block, in instructions. */
const MAX_BLOCK = 96;
/** Direct-mapped dispatch table size (entries, a power of two). */
export const TABLE_SIZE = 4096;
export const TABLE_MASK = TABLE_SIZE - 1;
/** Executions of a block before it is translated (interpreted until then). */
export const DEFAULT_HOTNESS = 16;
/** Entries of the process-wide source -> function cache. */
const FN_CACHE_LIMIT = 8192;

/** A decoded guest block. */
export class Block {
  /** Translation, null while cold. */
  fn: BlockFn | null = null;
  /** Executions while cold. */
  hits = 0;
  /** `Cpu.jitKey` the block was last validated under (epoch and mode); -1 when invalid. */
  key = -1;
  valid = true;
  /** Translation failed once (an emulator bug): stay interpreted. */
  noJit = false;
  /** Instructions in the block. */
  readonly len: number;

  constructor(
    /** Guest virtual address of the first instruction. */
    readonly va: number,
    /** Execution-mode key (Cpu.modeKey) it was decoded for. */
    readonly mode: number,
    /** Guest frame holding it, and the byte offset of its first word in that frame. */
    readonly gfn: number,
    readonly off: number,
    /** Its instruction words and handler ids. */
    readonly words: Int32Array,
    readonly ids: Uint16Array,
  ) {
    this.len = words.length;
  }
}

/** The blocks decoded from one guest frame, with a per-word count of blocks covering it. */
class CodePage {
  readonly blocks: Block[] = [];
  readonly cover = new Uint16Array(1024);
}

const DUMMY = new Block(NaN, -1, -1, 0, new Int32Array(0), new Uint16Array(0));

/** Handler ids of encodings that end a block (control flow, exceptions, system state). */
const ENDERS = new Uint8Array(A64.handlers.length);
/** Handler ids of encodings whose handler can neither fault nor read the PC (pure register work). */
const PURE = new Uint8Array(A64.handlers.length);
/** Handler ids of load/store encodings (a fallback call may write memory). */
const LDST = new Uint8Array(A64.handlers.length);
const NAME: string[] = [];
{
  const enders = new Set(['B', 'BL', 'B_cond', 'CBZ_CBNZ', 'TBZ_TBNZ', 'BR', 'BLR', 'RET', 'ERET', 'SVC', 'HVC', 'SMC', 'BRK', 'HLT', 'HINT', 'ISB', 'MSR_imm', 'SYS', 'MRS_MSR', 'UNALLOCATED']);
  for (const e of A64.encodings) {
    NAME[e.id] = e.name;
    if (enders.has(e.name)) ENDERS[e.id] = 1;
    if (e.group === 'dp-imm' || e.group === 'dp-reg' || e.group === 'dp-crc' || e.group === 'dp-pcrel') PURE[e.id] = 1;
    if (e.group?.startsWith('ldst') || e.name.startsWith('LD1_ST1')) LDST[e.id] = 1;
  }
}

/** HINT words that do something (WFE, WFI): the others are NOPs and do not end a block. */
const isActiveHint = (w: number) => {
  const op = (w >>> 5) & 0x7f;
  return op === 2 || op === 3;
};

/** Whether `id`/`w` ends a block. */
function endsBlock(id: number, w: number): boolean {
  if (ENDERS[id] === 0) return false;
  if (NAME[id] === 'HINT') return isActiveHint(w);
  return true;
}

/** Helpers the generated code reaches through `K`. */
const K = { R, baseAddr, mul64 };

const fnCache = new Map<string, BlockFn>();

/** Per-vCPU JIT state. */
export class Jit {
  /** Dispatch table indexed by (pc >>> 2) & TABLE_MASK. */
  readonly table: Block[] = new Array<Block>(TABLE_SIZE).fill(DUMMY);
  private readonly byVa = new Map<number, Block[]>();
  /** Guest frames holding decoded blocks (their writes go through `codeWrite`). */
  readonly pages = new Map<number, CodePage>();
  /** Revalidation epoch: bumped by every KVM_RUN. */
  epoch = 1;
  /** Blocks translated (statistics for tests and benchmarks). */
  compiled = 0;
  /** Blocks dropped because guest code wrote to them. */
  invalidated = 0;
  /** Blocks whose translation failed (an emulator bug; they stay interpreted). */
  failed = 0;
  /** The first translation error, for tests. */
  lastError: unknown = null;

  constructor(
    private readonly c: Cpu,
    /** Executions before translation (0: translate at first sight). */
    readonly hotness: number,
  ) {}

  /** A new KVM_RUN: blocks must be compared with guest memory again before they run. */
  newEpoch(): void {
    this.epoch++;
    if (this.epoch > 0x3fffff) this.epoch = 1;
    this.c.updateJitKey();
  }

  /** Drops the virtual-address index (TLB flush): blocks are found again through their words. */
  flushVa(): void {
    this.table.fill(DUMMY);
  }

  /**
   * The block at `pc` (c.pc): the cached one if its words still match guest memory, else a newly
   * decoded one. Raises the fetch faults (through Cpu.fetchSlow).
   */
  lookup(pc: number): Block {
    const c = this.c;
    let off = pc - c.fetchVa;
    if ((pc & 3) !== 0 || !(off >= 0 && off < 4096) || c.fetchEl !== c.el) {
      c.fetchSlow();
      off = pc - c.fetchVa;
    }
    const gfn = c.fetchGfn;
    const words = c.fetchWords;
    const w0 = off >>> 2;
    const mode = c.modeKey;
    const list = this.byVa.get(pc);
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) {
        const b = list[i]!;
        if (b.mode !== mode || b.gfn !== gfn) continue;
        if (!sameWords(b.words, words, w0)) {
          this.drop(b);
          i--;
          continue;
        }
        b.key = c.jitKey;
        this.table[(pc >>> 2) & TABLE_MASK] = b;
        return b;
      }
    }
    const b = this.decode(pc, mode, gfn, off, words);
    b.key = c.jitKey;
    this.table[(pc >>> 2) & TABLE_MASK] = b;
    if (this.hotness === 0) this.compile(b);
    return b;
  }

  private decode(pc: number, mode: number, gfn: number, off: number, words: Int32Array): Block {
    const w0 = off >>> 2;
    const ids: number[] = [];
    for (let k = w0; k < 1024 && ids.length < MAX_BLOCK; k++) {
      const w = words[k]!;
      const id = A64.decode(w);
      ids.push(id);
      if (endsBlock(id, w)) break;
    }
    const b = new Block(pc, mode, gfn, off, words.slice(w0, w0 + ids.length), Uint16Array.from(ids));
    let list = this.byVa.get(pc);
    if (list === undefined) this.byVa.set(pc, (list = []));
    list.push(b);
    let page = this.pages.get(gfn);
    if (page === undefined) {
      this.pages.set(gfn, (page = new CodePage()));
      // Writes to this frame must now reach codeWrite: no write TLB entry may point at it.
      this.c.flushWriteTlb();
    }
    page.blocks.push(b);
    for (let k = 0; k < ids.length; k++) page.cover[w0 + k]!++;
    return b;
  }

  /** Translates `b` into a JS function. */
  compile(b: Block): void {
    if (b.fn !== null || b.noJit) return;
    try {
      const src = generate(b, (b.mode >>> 1) & 3, (b.mode & 8) !== 0);
      let fn = fnCache.get(src);
      if (fn === undefined) {
        fn = new Function('H', 'K', src)(A64.handlers, K) as BlockFn;
        if (fnCache.size >= FN_CACHE_LIMIT) fnCache.clear();
        fnCache.set(src, fn);
      }
      b.fn = fn;
      this.compiled++;
    } catch (e) {
      b.noJit = true;
      this.failed++;
      this.lastError ??= e;
    }
  }

  /** Removes `b` from every index. */
  private drop(b: Block): void {
    if (!b.valid) return;
    b.valid = false;
    b.key = -1;
    const list = this.byVa.get(b.va);
    if (list !== undefined) {
      const i = list.indexOf(b);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byVa.delete(b.va);
    }
    const page = this.pages.get(b.gfn);
    if (page !== undefined) {
      const i = page.blocks.indexOf(b);
      if (i >= 0) page.blocks.splice(i, 1);
      const w0 = b.off >>> 2;
      for (let k = 0; k < b.len; k++) page.cover[w0 + k]!--;
      if (page.blocks.length === 0) this.pages.delete(b.gfn);
    }
    const t = (b.va >>> 2) & TABLE_MASK;
    if (this.table[t] === b) this.table[t] = DUMMY;
  }

  /**
   * A guest store of `size` bytes at byte `off` of code frame `gfn` (called before it lands):
   * drops every block it overlaps and flags the running block to stop after this instruction.
   */
  codeWrite(gfn: number, off: number, size: number): void {
    const page = this.pages.get(gfn);
    if (page === undefined) return;
    const first = off >>> 2;
    const last = Math.min(1023, (off + size - 1) >>> 2);
    let hit = false;
    for (let w = first; w <= last; w++) if (page.cover[w] !== 0) hit = true;
    if (!hit) return;
    for (const b of page.blocks.slice()) {
      const w0 = b.off >>> 2;
      if (w0 <= last && w0 + b.len > first) {
        this.drop(b);
        this.invalidated++;
      }
    }
    this.c.stop |= STOP_CODE;
  }

  /** Whether guest frame `gfn` holds decoded blocks. */
  isCode(gfn: number): boolean {
    return this.pages.has(gfn);
  }
}

function sameWords(a: Int32Array, page: Int32Array, w0: number): boolean {
  for (let k = 0; k < a.length; k++) if (a[k] !== page[w0 + k]) return false;
  return true;
}

// ================================================================================================
// Code generation

const TWO32 = 4294967296;
const lit = (v: number): string => (Object.is(v, -0) ? '0' : String(v));
const loOf = (v: number) => v | 0;
const hiOf = (v: number) => Math.floor(v / TWO32) | 0;

/** Register operands: X[r] low/high word, with register 31 as XZR (reads) or SP. */
const xl = (r: number) => `x[${2 * r}]`;
const xh = (r: number) => `x[${2 * r + 1}]`;
const zl = (r: number) => (r === 31 ? '0' : xl(r));
const zh = (r: number) => (r === 31 ? '0' : xh(r));

/** Writes (lo, hi) to X[d]; `zr`: register 31 is XZR (discarded), else SP. */
function put(d: number, lo: string, hi: string, zr: boolean): string {
  if (zr && d === 31) return '';
  return `x[${2 * d}] = ${lo}; x[${2 * d + 1}] = ${hi};`;
}

/** ConditionHolds(cond) over the cpu's NZCV. */
function condExpr(cond: number): string {
  let e: string;
  switch (cond >>> 1) {
    case 0:
      e = 'c.z === 1';
      break;
    case 1:
      e = 'c.c === 1';
      break;
    case 2:
      e = 'c.n === 1';
      break;
    case 3:
      e = 'c.v === 1';
      break;
    case 4:
      e = '(c.c === 1 && c.z === 0)';
      break;
    case 5:
      e = 'c.n === c.v';
      break;
    case 6:
      e = '(c.n === c.v && c.z === 0)';
      break;
    default:
      return 'true';
  }
  return cond & 1 ? `!(${e})` : e;
}

/** 64-bit shift of temps (al, ah) by a constant: [lo, hi] expressions. type 0 LSL 1 LSR 2 ASR 3 ROR. */
function shift64c(type: number, al: string, ah: string, n: number): [string, string] {
  if (n === 0) return [al, ah];
  switch (type) {
    case 0:
      return n < 32 ? [`(${al} << ${n})`, `((${ah} << ${n}) | (${al} >>> ${32 - n}))`] : ['0', `(${al} << ${n - 32})`];
    case 1:
      if (n < 32) return [`((${al} >>> ${n}) | (${ah} << ${32 - n}))`, `((${ah} >>> ${n}) | 0)`];
      return [n === 32 ? ah : `((${ah} >>> ${n - 32}) | 0)`, '0'];
    case 2:
      if (n < 32) return [`((${al} >>> ${n}) | (${ah} << ${32 - n}))`, `(${ah} >> ${n})`];
      return [`(${ah} >> ${n - 32})`, `(${ah} >> 31)`];
    default: {
      let a = al;
      let b = ah;
      if (n >= 32) {
        a = ah;
        b = al;
        n -= 32;
        if (n === 0) return [a, b];
      }
      return [`((${a} >>> ${n}) | (${b} << ${32 - n}))`, `((${b} >>> ${n}) | (${a} << ${32 - n}))`];
    }
  }
}

/** 32-bit shift of temp v by a constant. */
function shift32c(type: number, v: string, n: number): string {
  if (n === 0) return v;
  switch (type) {
    case 0:
      return `(${v} << ${n})`;
    case 1:
      return `((${v} >>> ${n}) | 0)`;
    case 2:
      return `(${v} >> ${n})`;
    default:
      return `((${v} >>> ${n}) | (${v} << ${32 - n}))`;
  }
}

/** Statements computing 64-bit a + b + cin into (rl, rh), with NZCV when `flags`. */
function add64Code(al: string, ah: string, bl: string, bh: string, cin: string, flags: boolean): string {
  if (!flags) {
    return `const l_ = (${al} >>> 0) + (${bl} >>> 0) + ${cin}; const rl = l_ | 0; const rh = (${ah} + ${bh} + (l_ > 4294967295 ? 1 : 0)) | 0;`;
  }
  return (
    `const ah_ = ${ah}; const bh_ = ${bh}; const l_ = (${al} >>> 0) + (${bl} >>> 0) + ${cin}; ` +
    `const h_ = (ah_ >>> 0) + (bh_ >>> 0) + (l_ > 4294967295 ? 1 : 0); const rl = l_ | 0; const rh = h_ | 0; ` +
    `c.n = rh >>> 31; c.z = (rl | rh) === 0 ? 1 : 0; c.c = h_ > 4294967295 ? 1 : 0; c.v = ((ah_ ^ rh) & (bh_ ^ rh)) >>> 31;`
  );
}

/** Statements computing 32-bit a + b + cin into r, with NZCV when `flags`. */
function add32Code(a: string, b: string, cin: string, flags: boolean): string {
  if (!flags) return `const r = (${a} + ${b} + ${cin}) | 0;`;
  return (
    `const a_ = ${a}; const b_ = ${b}; const s_ = (a_ >>> 0) + (b_ >>> 0) + ${cin}; const r = s_ | 0; ` +
    `c.n = r >>> 31; c.z = r === 0 ? 1 : 0; c.c = s_ > 4294967295 ? 1 : 0; c.v = ((a_ ^ r) & (b_ ^ r)) >>> 31;`
  );
}

/** ExtendReg(Rm, option, sh) of register m (31 = XZR) into temps (el, eh). */
function extendCode(m: number, option: number, sh: number): string {
  let lo = zl(m);
  let hi = zh(m);
  switch (option) {
    case 0:
      lo = `(${lo} & 255)`;
      hi = '0';
      break;
    case 1:
      lo = `(${lo} & 65535)`;
      hi = '0';
      break;
    case 2:
      hi = '0';
      break;
    case 4:
      lo = `((${lo} << 24) >> 24)`;
      hi = 'el0 >> 31';
      break;
    case 5:
      lo = `((${lo} << 16) >> 16)`;
      hi = 'el0 >> 31';
      break;
    case 6:
      hi = 'el0 >> 31';
      break;
    default:
      break;
  }
  const [sl, shh] = shift64c(0, 'el0', 'eh0', sh);
  return `const el0 = ${lo}; const eh0 = ${hi}; const el = ${sl}; const eh = ${shh};`;
}

/** What an instruction's generated code needs around it. */
interface Emitted {
  /** Statements. */
  code: string;
  /** A memory access: may fault or exit (needs insnPc/insn/pc set first), may stop the block after it. */
  mayThrow: boolean;
  /** May write guest memory. */
  stores: boolean;
}

const pure = (code: string): Emitted => ({ code, mayThrow: false, stores: false });

/** The address of a load/store from base register n (31 = SP) plus a constant, into `va`. */
function addrCode(n: number, off: string, tbi: number, spAlign: boolean): string {
  let s = '';
  if (tbi !== 0) return `const va = K.baseAddr(c, ${n}) + ${off};`;
  if (n === 31 && spAlign) s += `if ((x[62] & 15) !== 0) c.exception(0x26, 0); `;
  return s + `const va = ${xh(n)} * 4294967296 + (${xl(n)} >>> 0) + ${off};`;
}

/** Load of `size` bytes (sign-extending to 32/64 per opc) into X[t], or store from X[t]. */
function gprAccess(size: number, opc: number, t: number, va: string): string {
  if (opc === 0) {
    switch (size) {
      case 0:
        return `c.write8(${va}, ${zl(t)} & 255);`;
      case 1:
        return `c.write16(${va}, ${zl(t)} & 65535);`;
      case 2:
        return `c.write32(${va}, ${zl(t)});`;
      default:
        return `c.write64(${va}, ${zl(t)}, ${zh(t)});`;
    }
  }
  if (size === 3) return `c.read64(${va}); ${put(t, 'c.rlo', 'c.rhi', true)}`;
  let v: string;
  if (size === 0) v = opc >= 2 ? `((c.read8(${va}) << 24) >> 24)` : `c.read8(${va})`;
  else if (size === 1) v = opc >= 2 ? `((c.read16(${va}) << 16) >> 16)` : `c.read16(${va})`;
  else v = `c.read32(${va})`;
  if (t === 31) return `${v};`;
  return `{ const v = ${v}; ${put(t, 'v', opc === 2 ? 'v >> 31' : '0', true)} }`;
}

/** 64-bit writeback X[n] += off (n may be SP). */
function writebackCode(n: number, off: number): string {
  if (off === 0) return '';
  return `{ ${add64Code(xl(n), xh(n), lit(off | 0), off < 0 ? '-1' : '0', '0', false)} ${put(n, 'rl', 'rh', false)} }`;
}

/** Inline code for instruction `w` (handler id `id`) at `pc`, or null to call its handler. */
function emit(id: number, w: number, pc: number, tbi: number, spAlign: boolean): Emitted | null {
  const name = NAME[id]!;
  const rd = w & 31;
  const rn = (w >>> 5) & 31;
  const rm = (w >>> 16) & 31;
  const sf = w >>> 31;
  switch (name) {
    case 'ADR':
    case 'ADRP': {
      const imm = ((((w >> 5) << 2) & ~3) | ((w >>> 29) & 3)) << 11 >> 11;
      const v = name === 'ADR' ? pc + imm : pc - (pc & 4095) + imm * 4096;
      return pure(put(rd, lit(loOf(v)), lit(hiOf(v)), true));
    }
    case 'ADD_imm_64':
    case 'SUB_imm_64': {
      const imm = ((w >>> 10) & 0xfff) << ((w >>> 22) & 1 ? 12 : 0);
      if (imm === 0) return pure(`{ const rl = ${xl(rn)}; const rh = ${xh(rn)}; ${put(rd, 'rl', 'rh', false)} }`);
      const code =
        name === 'ADD_imm_64'
          ? `const l_ = (${xl(rn)} >>> 0) + ${imm}; const rh = (${xh(rn)} + (l_ > 4294967295 ? 1 : 0)) | 0;`
          : `const l_ = (${xl(rn)} >>> 0) - ${imm}; const rh = (${xh(rn)} - (l_ < 0 ? 1 : 0)) | 0;`;
      return pure(`{ ${code} ${put(rd, 'l_ | 0', 'rh', false)} }`);
    }
    case 'ADD_imm_32':
    case 'SUB_imm_32': {
      const imm = ((w >>> 10) & 0xfff) << ((w >>> 22) & 1 ? 12 : 0);
      return pure(put(rd, `(${xl(rn)} ${name === 'ADD_imm_32' ? '+' : '-'} ${imm}) | 0`, '0', false));
    }
    case 'ADDS_imm_64':
    case 'SUBS_imm_64': {
      const imm = ((w >>> 10) & 0xfff) << ((w >>> 22) & 1 ? 12 : 0);
      const sub = name === 'SUBS_imm_64';
      return pure(`{ ${add64Code(xl(rn), xh(rn), lit(sub ? ~imm : imm), sub ? '-1' : '0', sub ? '1' : '0', true)} ${put(rd, 'rl', 'rh', true)} }`);
    }
    case 'ADDS_imm_32':
    case 'SUBS_imm_32': {
      const imm = ((w >>> 10) & 0xfff) << ((w >>> 22) & 1 ? 12 : 0);
      const sub = name === 'SUBS_imm_32';
      return pure(`{ ${add32Code(xl(rn), lit(sub ? ~imm : imm), sub ? '1' : '0', true)} ${put(rd, 'r', '0', true)} }`);
    }
    case 'LOGICAL_imm': {
      const opc = (w >>> 29) & 3;
      if (!logicalImm((w >>> 22) & 1, (w >>> 16) & 0x3f, (w >>> 10) & 0x3f)) return null;
      const ml = R.lo;
      const mh = sf ? R.hi : 0;
      const op = opc === 1 ? '|' : opc === 2 ? '^' : '&';
      const lo = `(${zl(rn)} ${op} ${ml})`;
      const hi = sf ? `(${zh(rn)} ${op} ${mh})` : '0';
      if (opc === 3) {
        const n = sf ? 'rh >>> 31' : 'rl >>> 31';
        return pure(`{ const rl = ${lo}; const rh = ${hi}; c.n = ${n}; c.z = (rl | rh) === 0 ? 1 : 0; c.c = 0; c.v = 0; ${put(rd, 'rl', 'rh', true)} }`);
      }
      if (rn === 31 && opc === 1) return pure(put(rd, lit(ml), lit(mh), false)); // MOV (bitmask immediate)
      return pure(`{ const rl = ${lo}; const rh = ${hi}; ${put(rd, 'rl', 'rh', false)} }`);
    }
    case 'MOVZ':
    case 'MOVN': {
      const hw = (w >>> 21) & 3;
      const imm = (w >>> 5) & 0xffff;
      let lo = hw < 2 ? (imm << (16 * hw)) | 0 : 0;
      let hi = hw < 2 ? 0 : (imm << (16 * (hw - 2))) | 0;
      if (name === 'MOVN') {
        lo = ~lo;
        hi = sf ? ~hi : 0;
      }
      return pure(put(rd, lit(lo), lit(hi), true));
    }
    case 'MOVK': {
      if (rd === 31) return pure('');
      const hw = (w >>> 21) & 3;
      const imm = (w >>> 5) & 0xffff;
      const sh = 16 * (hw & 1);
      const m = ~(0xffff << sh);
      const v = (imm << sh) | 0;
      if (hw < 2) return pure(`x[${2 * rd}] = (x[${2 * rd}] & ${m}) | ${v};${sf ? '' : ` x[${2 * rd + 1}] = 0;`}`);
      return pure(`x[${2 * rd + 1}] = (x[${2 * rd + 1}] & ${m}) | ${v};`);
    }
    case 'UBFM_64':
    case 'SBFM_64': {
      const immr = (w >>> 16) & 0x3f;
      const imms = (w >>> 10) & 0x3f;
      const u = name === 'UBFM_64';
      if (imms === 63) {
        const [l, h] = shift64c(u ? 1 : 2, 'al', 'ah', immr);
        return pure(`{ const al = ${zl(rn)}; const ah = ${zh(rn)}; const rl = ${l}; const rh = ${h}; ${put(rd, 'rl', 'rh', true)} }`);
      }
      if (u && imms + 1 === immr) {
        const [l, h] = shift64c(0, 'al', 'ah', 63 - imms);
        return pure(`{ const al = ${zl(rn)}; const ah = ${zh(rn)}; const rl = ${l}; const rh = ${h}; ${put(rd, 'rl', 'rh', true)} }`);
      }
      if (imms >= immr && imms < 32) {
        const width = imms - immr + 1;
        const mask = width === 32 ? -1 : (1 << width) - 1;
        const f = `((${zl(rn)} >>> ${immr}) & ${mask})`;
        if (u) return pure(put(rd, f, '0', true));
        return pure(`{ const rl = (${f} << ${32 - width}) >> ${32 - width}; ${put(rd, 'rl', 'rl >> 31', true)} }`);
      }
      return null;
    }
    case 'UBFM_32':
    case 'SBFM_32':
    case 'BFM_32': {
      const opc = (w >>> 29) & 3;
      const immr = (w >>> 16) & 31;
      const imms = (w >>> 10) & 31;
      const src = zl(rn);
      let r: string;
      if (imms >= immr) {
        const width = imms - immr + 1;
        const m = width === 32 ? -1 : (1 << width) - 1;
        const field = `((${src} >>> ${immr}) & ${m})`;
        if (opc === 2) r = field;
        else if (opc === 0) r = `((${field} << ${32 - width}) >> ${32 - width})`;
        else r = `((${zl(rd)} & ${~m}) | ${field})`;
      } else {
        const width = imms + 1;
        const pos = 32 - immr;
        const m = (1 << width) - 1;
        if (opc === 2) r = `((${src} & ${m}) << ${pos})`;
        else if (opc === 0) r = `(((${src} << ${32 - width}) >> ${32 - width}) << ${pos})`;
        else r = `((${zl(rd)} & ${~(m << pos)}) | ((${src} & ${m}) << ${pos}))`;
      }
      return pure(`{ const rl = ${r}; ${put(rd, 'rl', '0', true)} }`);
    }
    case 'MOV_reg_64':
      return pure(`{ const rl = ${zl(rm)}; const rh = ${zh(rm)}; ${put(rd, 'rl', 'rh', true)} }`);
    case 'MOV_reg_32':
      return pure(put(rd, zl(rm), '0', true));
    case 'LOGICAL_reg_64':
    case 'LOGICAL_reg_32': {
      const opc = (w >>> 29) & 3;
      const type = (w >>> 22) & 3;
      const amt = (w >>> 10) & 0x3f;
      const not = (w & (1 << 21)) !== 0 ? '~' : '';
      const op = opc === 1 ? '|' : opc === 2 ? '^' : '&';
      if (name === 'LOGICAL_reg_64') {
        const [bl, bh] = shift64c(type, 'bl0', 'bh0', amt);
        let s = `const bl0 = ${zl(rm)}; const bh0 = ${zh(rm)}; const rl = ${zl(rn)} ${op} ${not}${bl}; const rh = ${zh(rn)} ${op} ${not}${bh};`;
        if (opc === 3) s += ' c.n = rh >>> 31; c.z = (rl | rh) === 0 ? 1 : 0; c.c = 0; c.v = 0;';
        return pure(`{ ${s} ${put(rd, 'rl', 'rh', true)} }`);
      }
      const b = shift32c(type, 'b0', amt);
      let s = `const b0 = ${zl(rm)}; const rl = ${zl(rn)} ${op} ${not}${b};`;
      if (opc === 3) s += ' c.n = rl >>> 31; c.z = rl === 0 ? 1 : 0; c.c = 0; c.v = 0;';
      return pure(`{ ${s} ${put(rd, 'rl', '0', true)} }`);
    }
    case 'ADDSUB_shift_64': {
      const type = (w >>> 22) & 3;
      const amt = (w >>> 10) & 0x3f;
      const sub = (w >>> 30) & 1;
      const flags = ((w >>> 29) & 1) === 1;
      const [bl, bh] = shift64c(type, 'bl0', 'bh0', amt);
      const pre = `const bl0 = ${zl(rm)}; const bh0 = ${zh(rm)}; const bl = ${bl}; const bh = ${bh};`;
      const body = sub ? add64Code(zl(rn), zh(rn), '~bl', '~bh', '1', flags) : add64Code(zl(rn), zh(rn), 'bl', 'bh', '0', flags);
      return pure(`{ ${pre} ${body} ${put(rd, 'rl', 'rh', true)} }`);
    }
    case 'ADDSUB_shift_32': {
      const type = (w >>> 22) & 3;
      const amt = (w >>> 10) & 0x3f;
      const sub = (w >>> 30) & 1;
      const flags = ((w >>> 29) & 1) === 1;
      const pre = `const b0 = ${zl(rm)}; const b = ${shift32c(type, 'b0', amt)};`;
      let body: string;
      if (flags) body = sub ? add32Code(zl(rn), '~b', '1', true) : add32Code(zl(rn), 'b', '0', true);
      else body = `const r = (${zl(rn)} ${sub ? '-' : '+'} b) | 0;`;
      return pure(`{ ${pre} ${body} ${put(rd, 'r', '0', true)} }`);
    }
    case 'ADDSUB_ext': {
      const sh = (w >>> 10) & 7;
      const option = (w >>> 13) & 7;
      const sub = (w >>> 30) & 1;
      const flags = ((w >>> 29) & 1) === 1;
      const ext = extendCode(rm, option, sh);
      let body: string;
      if (!sf) {
        if (flags) body = sub ? add32Code(xl(rn), '~el', '1', true) : add32Code(xl(rn), 'el', '0', true);
        else body = `const r = (${xl(rn)} ${sub ? '-' : '+'} el) | 0;`;
        return pure(`{ ${ext} ${body} ${put(rd, 'r', '0', flags)} }`);
      }
      body = sub ? add64Code(xl(rn), xh(rn), '~el', '~eh', '1', flags) : add64Code(xl(rn), xh(rn), 'el', 'eh', '0', flags);
      return pure(`{ ${ext} ${body} ${put(rd, 'rl', 'rh', flags)} }`);
    }
    case 'CSEL': {
      const cond = (w >>> 12) & 15;
      const op = (((w >>> 30) & 1) << 1) | ((w >>> 10) & 1);
      let lo: string;
      let hi: string;
      if (op === 0) {
        lo = zl(rm);
        hi = sf ? zh(rm) : '0';
        return pure(`{ let rl, rh; if (${condExpr(cond)}) { rl = ${zl(rn)}; rh = ${sf ? zh(rn) : '0'}; } else { rl = ${lo}; rh = ${hi}; } ${put(rd, 'rl', 'rh', true)} }`);
      }
      let alt: string;
      if (op === 1) alt = sf ? `const l_ = (${zl(rm)} >>> 0) + 1; rl = l_ | 0; rh = (${zh(rm)} + (l_ > 4294967295 ? 1 : 0)) | 0;` : `rl = (${zl(rm)} + 1) | 0; rh = 0;`;
      else if (op === 2) alt = `rl = ~${zl(rm)}; rh = ${sf ? `~${zh(rm)}` : '0'};`;
      else alt = sf ? `const l_ = 0 - (${zl(rm)} >>> 0); rl = l_ | 0; rh = (0 - ${zh(rm)} - (l_ < 0 ? 1 : 0)) | 0;` : `rl = -${zl(rm)} | 0; rh = 0;`;
      return pure(`{ let rl, rh; if (${condExpr(cond)}) { rl = ${zl(rn)}; rh = ${sf ? zh(rn) : '0'}; } else { ${alt} } ${put(rd, 'rl', 'rh', true)} }`);
    }
    case 'CCMP_reg':
    case 'CCMP_imm': {
      const cond = (w >>> 12) & 15;
      const sub = (w >>> 30) & 1;
      const nzcv = w & 15;
      const imm = name === 'CCMP_imm';
      const bl = imm ? lit((w >>> 16) & 31) : zl(rm);
      const bh = imm ? '0' : zh(rm);
      let body: string;
      if (sf) body = sub ? add64Code(zl(rn), zh(rn), `~${bl}`, `~${bh}`, '1', true) : add64Code(zl(rn), zh(rn), bl, bh, '0', true);
      else body = sub ? add32Code(zl(rn), `~${bl}`, '1', true) : add32Code(zl(rn), bl, '0', true);
      return pure(`if (${condExpr(cond)}) { ${body} } else { c.n = ${nzcv >>> 3}; c.z = ${(nzcv >>> 2) & 1}; c.c = ${(nzcv >>> 1) & 1}; c.v = ${nzcv & 1}; }`);
    }
    case 'MADD_MSUB': {
      if (sf) return null;
      const sub = (w >>> 15) & 1;
      const ra = (w >>> 10) & 31;
      return pure(put(rd, `(${zl(ra)} ${sub ? '-' : '+'} Math.imul(${zl(rn)}, ${zl(rm)})) | 0`, '0', true));
    }
    case 'SHIFTV': {
      if (sf) return null;
      const op = (w >>> 10) & 3;
      const v = zl(rn);
      let r: string;
      if (op === 0) r = `${v} << (${zl(rm)} & 31)`;
      else if (op === 1) r = `(${v} >>> (${zl(rm)} & 31)) | 0`;
      else if (op === 2) r = `${v} >> (${zl(rm)} & 31)`;
      else return null;
      return pure(put(rd, r, '0', true));
    }
    case 'DIV': {
      if (sf) return null;
      const signed = (w >>> 10) & 1;
      const r = signed ? `Math.trunc(a_ / b_) | 0` : `Math.floor((a_ >>> 0) / (b_ >>> 0)) | 0`;
      return pure(`{ const a_ = ${zl(rn)}; const b_ = ${zl(rm)}; const r = b_ === 0 ? 0 : ${r}; ${put(rd, 'r', '0', true)} }`);
    }
    case 'HINT':
    case 'DSB':
    case 'DMB':
    case 'PRFM_uimm':
    case 'PRFUM':
    case 'PRFM_reg':
    case 'PRFM_lit':
      return pure('');
    // ---- loads and stores of general-purpose registers ------------------------------------------
    case 'LDR_uimm_64':
    case 'STR_uimm_64':
    case 'LDR_uimm_32':
    case 'STR_uimm_32':
    case 'LDRB_uimm':
    case 'STRB_uimm':
    case 'LDST_uimm': {
      if ((w >>> 26) & 1) return null; // SIMD&FP
      const size = w >>> 30;
      const opc = (w >>> 22) & 3;
      const off = ((w >>> 10) & 0xfff) * (1 << size);
      return mem(`${addrCode(rn, lit(off), tbi, spAlign)} ${gprAccess(size, opc, rd, 'va')}`, opc === 0);
    }
    case 'LDST_unscaled': {
      if ((w >>> 26) & 1) return null;
      const size = w >>> 30;
      const opc = (w >>> 22) & 3;
      const off = (w << 11) >> 23;
      return mem(`${addrCode(rn, lit(off), tbi, spAlign)} ${gprAccess(size, opc, rd, 'va')}`, opc === 0);
    }
    case 'LDST_post':
    case 'LDST_pre': {
      if ((w >>> 26) & 1) return null;
      const size = w >>> 30;
      const opc = (w >>> 22) & 3;
      const off = (w << 11) >> 23;
      const pre = name === 'LDST_pre';
      return mem(`{ ${addrCode(rn, pre ? lit(off) : '0', tbi, spAlign)} ${gprAccess(size, opc, rd, 'va')} } ${writebackCode(rn, off)}`, opc === 0);
    }
    case 'LDRB_reg':
    case 'STRB_reg':
    case 'LDR_reg_32':
    case 'STR_reg_32':
    case 'LDR_reg_64':
    case 'STR_reg_64':
    case 'LDST_reg': {
      if ((w >>> 26) & 1) return null;
      const size = w >>> 30;
      const opc = (w >>> 22) & 3;
      const option = (w >>> 13) & 7;
      const sh = (w >>> 12) & 1 ? size : 0;
      let off: string;
      if (option === 3 || option === 7) off = `(${zh(rm)} * 4294967296 + (${zl(rm)} >>> 0))`;
      else if (option === 2) off = `(${zl(rm)} >>> 0)`;
      else off = zl(rm);
      if (sh) off = `${off} * ${1 << sh}`;
      return mem(`${addrCode(rn, off, tbi, spAlign)} ${gprAccess(size, opc, rd, 'va')}`, opc === 0);
    }
    case 'LDR_lit': {
      if ((w >>> 26) & 1) return null;
      const opc = w >>> 30;
      const va = lit(pc + (((w << 8) >> 13) << 2));
      if (opc === 1) return mem(`c.read64(${va}); ${put(rd, 'c.rlo', 'c.rhi', true)}`, false);
      return mem(`{ const v = c.read32(${va}); ${put(rd, 'v', opc === 2 ? 'v >> 31' : '0', true)} }`, false);
    }
    case 'LDSTP': {
      if ((w >>> 26) & 1) return null;
      const opc = w >>> 30;
      const mode = (w >>> 23) & 3;
      const load = (w >>> 22) & 1;
      const bytes = opc >>> 1 ? 8 : 4;
      const off = ((w << 10) >> 25) * bytes;
      const rt = rd;
      const rt2 = (w >>> 10) & 31;
      let s = addrCode(rn, mode === 1 ? '0' : lit(off), tbi, spAlign) + ' ';
      if (load) {
        if (bytes === 8) s += 'c.read64(va); const l1 = c.rlo; const h1 = c.rhi; c.read64(va + 8); const l2 = c.rlo; const h2 = c.rhi; ';
        else if (opc === 1) s += 'const l1 = c.read32(va); const l2 = c.read32(va + 4); const h1 = l1 >> 31; const h2 = l2 >> 31; ';
        else s += 'const l1 = c.read32(va); const l2 = c.read32(va + 4); const h1 = 0; const h2 = 0; ';
        s += put(rt, 'l1', 'h1', true) + ' ' + put(rt2, 'l2', 'h2', true);
      } else if (bytes === 8) {
        s += `const a_ = ${zl(rt)}; const b_ = ${zh(rt)}; const e_ = ${zl(rt2)}; const f_ = ${zh(rt2)}; c.write64(va, a_, b_); c.write64(va + 8, e_, f_);`;
      } else {
        s += `const a_ = ${zl(rt)}; const e_ = ${zl(rt2)}; c.write32(va, a_); c.write32(va + 4, e_);`;
      }
      return mem(`{ ${s} } ${mode === 1 || mode === 3 ? writebackCode(rn, off) : ''}`, !load);
    }
    default:
      return null;
  }
}

const mem = (code: string, stores: boolean): Emitted => ({ code, mayThrow: true, stores });

/** The JS source of block `b` (the body of `function (H, K)` returning the block function). */
export function generate(b: Block, tbi: number, spAlign: boolean): string {
  const n = b.len;
  const va = b.va;
  const lastId = b.ids[n - 1]!;
  const lastW = b.words[n - 1]!;
  const ends = endsBlock(lastId, lastW);
  // A final direct branch back to the block's start makes the block a loop.
  let loop = false;
  if (ends) {
    const lastPc = va + 4 * (n - 1);
    const t = branchTarget(NAME[lastId]!, lastW, lastPc);
    loop = t === va;
  }
  const out: string[] = [];
  out.push('"use strict";');
  out.push('return function (c, lim) {');
  out.push('const x = c.x;');
  if (loop) out.push('for (;;) {');
  const exitAt = (k: number, pcExpr: string) => `c.pc = ${pcExpr}; c.retired += ${k}; return;`;
  for (let k = 0; k < n; k++) {
    const id = b.ids[k]!;
    const w = b.words[k]!;
    const pc = va + 4 * k;
    const name = NAME[id]!;
    const last = k === n - 1;
    if (last && ends) {
      out.push(branchCode(name, id, w, pc, k, n, va, loop, tbi));
      break;
    }
    const e = emit(id, w, pc, tbi, spAlign);
    if (e !== null) {
      // What the interpreter would hold if this instruction faults, exits or fails.
      if (e.mayThrow) out.push(`c.insnPc = ${lit(pc)}; c.insn = ${w}; c.pc = ${lit(pc + 4)};`);
      out.push(`{ ${e.code} }`);
      if (e.mayThrow) out.push(`if (c.stop !== 0) { ${exitAt(k + 1, lit(pc + 4))} }`);
      continue;
    }
    // The interpreter's handler, with the word as a constant.
    if (PURE[id] === 1) {
      out.push(`H[${id}](c, ${w});`);
      continue;
    }
    out.push(`c.insnPc = ${lit(pc)}; c.insn = ${w}; c.pc = ${lit(pc + 4)}; H[${id}](c, ${w});`);
    if (LDST[id] === 1) out.push(`if (c.stop !== 0) { ${exitAt(k + 1, lit(pc + 4))} }`);
  }
  if (!ends) out.push(exitAt(n, lit(va + 4 * n)));
  if (loop) out.push('}');
  out.push('};');
  return out.join('\n');
}

/** The direct target of a branch word (NaN for register branches and non-branches). */
function branchTarget(name: string, w: number, pc: number): number {
  switch (name) {
    case 'B':
    case 'BL':
      return pc + ((w << 6) >> 4);
    case 'B_cond':
    case 'CBZ_CBNZ':
      return pc + (((w << 8) >> 13) << 2);
    case 'TBZ_TBNZ':
      return pc + (((w << 13) >> 18) << 2);
    default:
      return NaN;
  }
}

/** Code for the block's last instruction (a block ender) at index k of n. */
function branchCode(name: string, id: number, w: number, pc: number, k: number, n: number, va: number, loop: boolean, tbi: number): string {
  const next = lit(pc + 4);
  const done = (pcExpr: string) => `c.pc = ${pcExpr}; c.retired += ${n}; return;`;
  // The taken edge: back to the top of the loop while the budget allows, else leave.
  const taken = (t: number) => (loop && t === va ? `c.retired += ${n}; lim -= ${n}; if (lim < ${n}) { c.pc = ${lit(va)}; return; } continue;` : done(lit(t)));
  const t = branchTarget(name, w, pc);
  switch (name) {
    case 'B':
      return taken(t);
    case 'BL':
      return `x[60] = ${loOf(pc + 4)}; x[61] = ${hiOf(pc + 4)}; ${taken(t)}`;
    case 'B_cond':
      return `if (${condExpr(w & 15)}) { ${taken(t)} } ${done(next)}`;
    case 'CBZ_CBNZ': {
      const r = w & 31;
      const v = w >>> 31 ? `(${zl(r)} | ${zh(r)})` : zl(r);
      const nz = (w >>> 24) & 1;
      return `if (${v} ${nz ? '!==' : '==='} 0) { ${taken(t)} } ${done(next)}`;
    }
    case 'TBZ_TBNZ': {
      const r = w & 31;
      const bit = ((w >>> 26) & 0x20) | ((w >>> 19) & 31);
      const v = bit >= 32 ? `((${zh(r)} >>> ${bit - 32}) & 1)` : `((${zl(r)} >>> ${bit}) & 1)`;
      return `if (${v} === ${(w >>> 24) & 1}) { ${taken(t)} } ${done(next)}`;
    }
    case 'BR':
    case 'BLR':
    case 'RET': {
      if (tbi !== 0) break;
      const r = (w >>> 5) & 31;
      const link = name === 'BLR' ? ` x[60] = ${loOf(pc + 4)}; x[61] = ${hiOf(pc + 4)};` : '';
      return `{ const t = ${zh(r)} * 4294967296 + (${zl(r)} >>> 0);${link} c.pc = t; if ((t & 3) !== 0) c.fetchVa = NaN; c.retired += ${n}; return; }`;
    }
    default:
      break;
  }
  // Everything else through the handler: it sets the PC (or raises, or throws).
  return `c.insnPc = ${lit(pc)}; c.insn = ${w}; c.pc = ${next}; H[${id}](c, ${w}); c.retired += ${k + 1}; return;`;
}
