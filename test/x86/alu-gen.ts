/**
 * Seeded generator of straight-line 64-bit ALU/flag programs for the randomized differential test.
 * It encodes machine code directly (no assembler at test time) and tracks which RFLAGS bits are
 * architecturally defined after each instruction, so a program never lets an undefined flag reach
 * a register (flag readers are only emitted when what they read is defined) and the final RFLAGS
 * is compared under the mask of defined bits. AMD and Intel differ exactly in the undefined ones.
 */

export const CF = 0x1;
export const PF = 0x4;
export const AF = 0x10;
export const ZF = 0x40;
export const SF = 0x80;
export const OF = 0x800;
export const ALL = CF | PF | AF | ZF | SF | OF;

/** Data the programs read and write (gpa; the harness identity-maps it). */
export const DATA = 0x20000;

export interface GenProgram {
  code: Uint8Array;
  regs: Record<string, bigint>;
  mem: Uint8Array;
  /** RFLAGS bits defined at the end. */
  defined: number;
  /** A readable listing, for failure messages. */
  listing: string[];
}

const REGS = ['rax', 'rcx', 'rdx', 'rbx', 'rsp', 'rbp', 'rsi', 'rdi', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15'];

/** Condition codes and the flags each reads. */
const CC_READS = [OF, OF, CF, CF, ZF, ZF, CF | ZF, CF | ZF, SF, SF, PF, PF, SF | OF, SF | OF, ZF | SF | OF, ZF | SF | OF];

export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

export function generate(seed: number, length = 12): GenProgram {
  const r = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[r() % a.length]!;
  const out: number[] = [];
  const listing: string[] = [];
  let defined = 0; // RFLAGS = 2 at entry: every arithmetic flag is 0, hence defined
  defined = ALL;
  const reg = () => {
    let x = r() % 16;
    if (x === 4) x = 0; // never RSP
    return x;
  };
  const sizes = [1, 2, 4, 8] as const;
  /** Emits prefix/REX/opcode/ModRM for a reg-reg or reg-mem form. */
  const emit = (size: number, opcode: number[], regField: number, rm: number | 'mem', memOff = 0, byteOp = false) => {
    if (size === 2) out.push(0x66);
    const w = size === 8 ? 8 : 0;
    const rexR = (regField >> 3) & 1;
    const rexB = rm === 'mem' ? 0 : (rm >> 3) & 1;
    // Byte operations always take a REX so registers 4-7 mean SPL..DIL (uniform encoding).
    const rex = 0x40 | w | (rexR << 2) | rexB;
    if (rex !== 0x40 || byteOp) out.push(rex);
    out.push(...opcode);
    if (rm === 'mem') {
      out.push(((regField & 7) << 3) | 4, 0x25);
      const a = DATA + memOff;
      out.push(a & 0xff, (a >> 8) & 0xff, (a >> 16) & 0xff, (a >>> 24) & 0xff);
    } else out.push(0xc0 | ((regField & 7) << 3) | (rm & 7));
  };
  const imm = (n: number) => {
    const v = r();
    for (let i = 0; i < n; i++) out.push((v >>> (8 * i)) & 0xff);
  };
  const rmOf = (size: number): [number | 'mem', number, string] => {
    if (r() % 4 === 0) {
      const off = (r() % 16) * 8;
      return ['mem', off, `[D+${off}]`];
    }
    const x = reg();
    return [x, 0, `${REGS[x]}/${size}`];
  };

  const regs: Record<string, bigint> = {};
  for (const name of REGS) {
    if (name === 'rsp') continue;
    const kindv = r() % 4;
    const hi = BigInt(r());
    const lo = BigInt(r());
    regs[name] = kindv === 0 ? lo & 0xffn : kindv === 1 ? BigInt.asUintN(64, -(lo & 0xffffn)) : (hi << 32n) | lo;
  }
  const mem = new Uint8Array(128);
  for (let i = 0; i < mem.length; i++) mem[i] = r() & 0xff;
  for (let n = 0; n < length; n++) {
    const kind = r() % 14;
    const size = pick(sizes);
    const byteOp = size === 1;
    if (kind <= 3) {
      // ALU r/m, r (ADD OR ADC SBB AND SUB XOR CMP) or TEST
      let op = r() % 9;
      if ((op === 2 || op === 3) && !(defined & CF)) op = 0;
      const [rm, off, rmName] = rmOf(size);
      const src = reg();
      const opc = op === 8 ? (byteOp ? 0x84 : 0x85) : (op << 3) | (byteOp ? 0 : 1);
      emit(size, [opc], src, rm, off, byteOp);
      listing.push(`${['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp', 'test'][op]} ${rmName}, ${REGS[src]}`);
      defined = op === 1 || op === 4 || op === 6 || op === 8 ? ALL & ~AF : ALL;
    } else if (kind === 4) {
      // ALU r/m, imm
      let op = r() % 8;
      if ((op === 2 || op === 3) && !(defined & CF)) op = 5;
      const [rm, off, rmName] = rmOf(size);
      if (byteOp) {
        emit(size, [0x80], op, rm, off, true);
        imm(1);
      } else if (r() & 1) {
        emit(size, [0x83], op, rm, off);
        imm(1);
      } else {
        emit(size, [0x81], op, rm, off);
        imm(size === 2 ? 2 : 4);
      }
      listing.push(`${['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp'][op]} ${rmName}, imm`);
      defined = op === 1 || op === 4 || op === 6 ? ALL & ~AF : ALL;
    } else if (kind === 5) {
      // INC DEC NEG NOT
      const op = r() % 4;
      const [rm, off, rmName] = rmOf(size);
      if (op < 2) emit(size, [byteOp ? 0xfe : 0xff], op, rm, off, byteOp);
      else emit(size, [byteOp ? 0xf6 : 0xf7], op === 2 ? 3 : 2, rm, off, byteOp);
      listing.push(`${['inc', 'dec', 'neg', 'not'][op]} ${rmName}`);
      if (op < 2) defined = (defined & CF) | (ALL & ~CF);
      else if (op === 2) defined = ALL;
    } else if (kind === 6) {
      // Shifts and rotates by an immediate in 1..bits-1 (no undefined CF); RCL/RCR need CF.
      let op = r() % 7;
      if (op === 6) op = 7; // SAR
      if ((op === 2 || op === 3) && !(defined & CF)) op = 4;
      const bits = size * 8;
      const cnt = 1 + (r() % (bits - 1));
      const [rm, off, rmName] = rmOf(size);
      if (cnt === 1 && r() & 1) emit(size, [byteOp ? 0xd0 : 0xd1], op, rm, off, byteOp);
      else {
        emit(size, [byteOp ? 0xc0 : 0xc1], op, rm, off, byteOp);
        out.push(cnt);
      }
      listing.push(`${['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', '', 'sar'][op]} ${rmName}, ${cnt}`);
      if (op <= 3) defined = (defined & ~(CF | OF)) | CF | (cnt === 1 ? OF : 0);
      else defined = CF | PF | ZF | SF | (cnt === 1 ? OF : 0);
    } else if (kind === 7) {
      // MUL/IMUL rdx:rax, IMUL r, r/m, IMUL r, r/m, imm
      const form = r() % 3;
      const sz = byteOp ? 4 : size;
      const [rm, off, rmName] = rmOf(sz);
      if (form === 0) {
        const op = 4 + (r() & 1);
        emit(sz, [0xf7], op, rm, off);
        listing.push(`${op === 4 ? 'mul' : 'imul'} ${rmName}`);
      } else if (form === 1) {
        const d = reg();
        emit(sz, [0x0f, 0xaf], d, rm, off);
        listing.push(`imul ${REGS[d]}, ${rmName}`);
      } else {
        const d = reg();
        emit(sz, [0x69], d, rm, off);
        imm(sz === 2 ? 2 : 4);
        listing.push(`imul ${REGS[d]}, ${rmName}, imm`);
      }
      defined = CF | OF;
    } else if (kind === 8) {
      // BT/BTS/BTR/BTC r/m, imm8 (registers: the offset is taken modulo the size)
      const op = 4 + (r() % 4);
      const sz = byteOp ? 4 : size;
      const x = reg();
      emit(sz, [0x0f, 0xba], op, x);
      out.push(r() & 0xff);
      listing.push(`${['bt', 'bts', 'btr', 'btc'][op - 4]} ${REGS[x]}/${sz}, imm8`);
      defined = (defined & ZF) | CF;
    } else if (kind === 9) {
      // SETcc / CMOVcc on defined flags only
      const cc = r() % 16;
      if ((CC_READS[cc]! & defined) !== CC_READS[cc]) {
        n--;
        continue;
      }
      if (r() & 1) {
        const [rm, off, rmName] = rmOf(1);
        emit(1, [0x0f, 0x90 + cc], 0, rm, off, true);
        listing.push(`set${cc} ${rmName}`);
      } else {
        const sz = byteOp ? 4 : size;
        const d = reg();
        const [rm, off, rmName] = rmOf(sz);
        emit(sz, [0x0f, 0x40 + cc], d, rm, off);
        listing.push(`cmov${cc} ${REGS[d]}, ${rmName}`);
      }
    } else if (kind === 10) {
      // XADD / CMPXCHG (flags of ADD / CMP)
      const [rm, off, rmName] = rmOf(size);
      const s = reg();
      const x = r() & 1;
      emit(size, [0x0f, (x ? 0xc0 : 0xb0) | (byteOp ? 0 : 1)], s, rm, off, byteOp);
      listing.push(`${x ? 'xadd' : 'cmpxchg'} ${rmName}, ${REGS[s]}`);
      defined = ALL;
    } else if (kind === 11) {
      // MOVZX / MOVSX, BSWAP, LEA: no flags
      const f = r() % 3;
      const d = reg();
      if (f === 0) {
        const src = r() & 1 ? 1 : 2;
        const [rm, off, rmName] = rmOf(src);
        const sz = size === 1 || size === 2 ? 4 : size;
        emit(sz, [0x0f, (r() & 1 ? 0xbe : 0xb6) | (src === 2 ? 1 : 0)], d, rm, off, src === 1);
        listing.push(`movzx/sx ${REGS[d]}, ${rmName}`);
      } else if (f === 1) {
        const sz = size === 8 ? 8 : 4;
        if (sz === 8 || d >= 8) out.push(0x40 | (sz === 8 ? 8 : 0) | ((d >> 3) & 1));
        out.push(0x0f, 0xc8 + (d & 7));
        listing.push(`bswap ${REGS[d]}/${sz}`);
      } else {
        const b = reg();
        let ix = reg();
        if (ix === 4) ix = 1;
        const sz = size === 1 ? 4 : size;
        if (sz === 2) out.push(0x66);
        out.push(0x40 | (sz === 8 ? 8 : 0) | (((d >> 3) & 1) << 2) | (((ix >> 3) & 1) << 1) | ((b >> 3) & 1));
        out.push(0x8d, 0x84 | ((d & 7) << 3), ((r() % 4) << 6) | ((ix & 7) << 3) | (b & 7));
        imm(4);
        listing.push(`lea ${REGS[d]}/${sz}, [${REGS[b]}+${REGS[ix]}*s+disp]`);
      }
    } else {
      // MOV r/m, r and MOV r, r/m
      const [rm, off, rmName] = rmOf(size);
      const x = reg();
      emit(size, [(r() & 1 ? 0x88 : 0x8a) | (byteOp ? 0 : 1)], x, rm, off, byteOp);
      listing.push(`mov ${rmName} <-> ${REGS[x]}`);
    }
  }
  out.push(0xf4); // HLT
  return { code: Uint8Array.from(out), regs, mem, defined, listing };
}
