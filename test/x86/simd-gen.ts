/**
 * Seeded generator of x87/MMX/SSE differential programs, driven by the opcode table: for every
 * row of an x87/MMX/SSE..SSE4.2 (and POPCNT/LZCNT/TZCNT/MOVBE/CRC32) mnemonic it encodes the
 * instruction with random registers, memory or register forms, prefixes, REX bits and
 * immediates, and wraps each in a harness that loads a random state (FXRSTOR64 of a random
 * x87/MMX/XMM/MXCSR image, random general registers and arithmetic flags), runs it, and stores
 * the state after it (FXSAVE64, the general registers, RFLAGS) next to the memory operand it
 * may have written. The same flat image runs natively (test/helpers/simdexec.c) and in a vkvm
 * guest (64-bit mode at CPL0 or CPL3, identity-mapped or in the kernel half).
 *
 * Exceptions are kept out of these programs: SIMD exceptions are masked in MXCSR, no x87
 * exception is pending on entry (unmasked ones may arise; they only become pending), 16-byte
 * operands of rows that require it are aligned. The fault cases are tested separately.
 */
import { DESCS, type OpDesc } from '../../src/arch/x86/decoder.js';
import { rng } from './alu-gen.js';

/** Where the image is loaded on the host, and in vkvm (the same guest physical address). */
export const HOST_BASE = 0x10000000;
/** The same physical image seen through the kernel half (PML4[256]). */
export const HIGH_BASE = -0x800000000000 + HOST_BASE;

const HDR = 40;
const CODE = 0x1000;
/** Harness code per case, at most (GPR loads and stores, FXRSTOR/FXSAVE, the instruction). */
const CODE_PER_CASE = 288;
const SLOT = 0x800;
/** Slot layout: input image, input GPRs (16) and RFLAGS, the memory operand, output image, output GPRs and RFLAGS. */
const IN_FX = 0x000, IN_GPR = 0x200, MEMBUF = 0x300, OUT_FX = 0x400, OUT_GPR = 0x600;
const STACK = 0x10000;

/** The mnemonics under test: every row of these groups. */
const GROUPS = new Set(['FPU', 'CMOV', 'MMX', 'SSE', 'SSE2', 'SSE3', 'SSSE3', 'SSE4_1', 'SSE4_2', 'POPCNT', 'ABM', 'BMI1', 'MOVBE']);
/** Rows not run here: the harness's own state instructions, and loads of MXCSR (a reserved bit faults). */
const SKIP = new Set(['FXSAVE', 'FXSAVE64', 'FXRSTOR', 'FXRSTOR64', 'LDMXCSR', 'CMOVcc', 'LAHF', 'SAHF', 'CLFLUSH', 'LFENCE', 'MFENCE', 'SFENCE', 'PAUSE', 'FWAIT']);
/** Results the SDM leaves to the implementation: their destinations are not compared. */
export const APPROX = new Set(['RCPPS', 'RCPSS', 'RSQRTPS', 'RSQRTSS']);
/** Transcendentals: run on operands whose results are exact (the library's accuracy is tested elsewhere). */
const TRANSCENDENTAL = new Set(['FSIN', 'FCOS', 'FSINCOS', 'FPTAN', 'FPATAN', 'F2XM1', 'FYL2X', 'FYL2XP1']);

/**
 * The x87 register forms the SDM does not document (D9 D8+i, DC D0+i/D8+i, DD C8+i, DE D0+i,
 * DF C8+i/D0+i/D8+i: aliases of FSTP, FCOM, FCOMP and FXCH). Decoded as their documented twins;
 * not compared, since vendors differ (the AMD host does not check ST(0)'s tag in D9 D8+i).
 */
const ALIASES = new Set(['D9 /3 reg FSTP ST(i) FPU', 'DC /2 reg FCOM ST(i) FPU', 'DC /3 reg FCOMP ST(i) FPU', 'DD /1 reg FXCH ST(i) FPU', 'DE /2 reg FCOMP ST(i) FPU', 'DF /1 reg FXCH ST(i) FPU', 'DF /2 reg FSTP ST(i) FPU', 'DF /3 reg FSTP ST(i) FPU']);

export function testedRows(): OpDesc[] {
  return DESCS.filter((d) => d.feature !== null && GROUPS.has(d.feature) && !SKIP.has(d.name) && !ALIASES.has(d.row));
}

export interface SimdCase {
  readonly desc: OpDesc;
  readonly bytes: number[];
  readonly slot: number;
}

export interface SimdProgram {
  /** The image at HOST_BASE (header, code, slots). */
  readonly image: Uint8Array;
  readonly cases: SimdCase[];
  readonly outOff: number;
  readonly outLen: number;
}

const hex = (b: readonly number[]) => b.map((x) => x.toString(16).padStart(2, '0')).join(' ');
export const listing = (k: SimdCase) => `${k.desc.name} [${hex(k.bytes)}] (${k.desc.row})`;

/**
 * `cases` cases of the rows in `rows`, for an image loaded at `base` (HOST_BASE or HIGH_BASE);
 * `user` ends with SYSCALL (CPL3) instead of HLT. The same seed gives the same cases at any base.
 */
export function generate(seed: number, rows: readonly OpDesc[], casesPerRow: number, base: number, user = false): SimdProgram {
  const r = rng(seed);
  const rnd = (n: number) => r() % n;
  const nCases = rows.length * casesPerRow;
  const SLOTS = (CODE + nCases * CODE_PER_CASE + 0x10000) & ~0xffff;
  const size = SLOTS + nCases * SLOT + STACK;
  const img = new Uint8Array(size);
  const dv = new DataView(img.buffer);
  const code: number[] = [];
  const cases: SimdCase[] = [];
  const abs = (off: number) => base + off;
  const u64 = (v: number) => {
    const b = BigInt.asUintN(64, BigInt(v));
    for (let k = 0n; k < 64n; k += 8n) code.push(Number((b >> k) & 0xffn));
  };
  const d32 = (v: number) => code.push(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff);
  let slot = 0;
  for (const desc of rows) {
    for (let n = 0; n < casesPerRow; n++, slot++) {
      const so = SLOTS + slot * SLOT;
      const insn = encode(desc, r);
      randomState(img, dv, so, desc, r);
      // rbx and rdi point into the memory operand (aligned for rows that need it).
      const mis = desc.flags & 128 /* F_A16 */ ? 0 : rnd(4) === 0 ? rnd(16) : 0;
      dv.setBigUint64(so + IN_GPR + 8 * 3, BigInt.asUintN(64, BigInt(abs(so + MEMBUF + 64 + mis))), true);
      dv.setBigUint64(so + IN_GPR + 8 * 7, BigInt.asUintN(64, BigInt(abs(so + MEMBUF + 64))), true);
      cases.push({ desc, bytes: insn, slot });
      // mov rax, in; fxrstor64 [rax]
      code.push(0x48, 0xb8);
      u64(abs(so + IN_FX));
      code.push(0x48, 0x0f, 0xae, 0x08);
      for (let g = 1; g < 16; g++) {
        if (g === 4) continue;
        code.push(0x48 | (g >= 8 ? 4 : 0), 0x8b, 0x80 | ((g & 7) << 3));
        d32(IN_GPR + 8 * g);
      }
      code.push(0xff, 0xb0); // push qword [rax + IN_GPR + 128]
      d32(IN_GPR + 128);
      code.push(0x9d); // popfq
      code.push(0x48, 0x8b, 0x80); // mov rax, [rax + IN_GPR]
      d32(IN_GPR);
      code.push(...insn);
      code.push(0x48, 0xa3); // mov [out.rax], rax
      u64(abs(so + OUT_GPR));
      code.push(0x48, 0xb8);
      u64(abs(so + OUT_FX));
      code.push(0x48, 0x0f, 0xae, 0x00); // fxsave64 [rax]
      for (let g = 1; g < 16; g++) {
        if (g === 4) continue;
        code.push(0x48 | (g >= 8 ? 4 : 0), 0x89, 0x80 | ((g & 7) << 3));
        d32(OUT_GPR - OUT_FX + 8 * g);
      }
      code.push(0x9c, 0x8f, 0x80); // pushfq; pop qword [rax + ...]
      d32(OUT_GPR - OUT_FX + 128);
    }
  }
  if (user) code.push(0x0f, 0x05); // SYSCALL to the kernel's HLT
  code.push(0xf4);
  if (code.length > SLOTS - CODE) throw new Error('simd-gen: code area too small');
  img.set(code, CODE);
  // The header simdexec.c reads (the host always loads at HOST_BASE).
  dv.setBigUint64(0, BigInt(HOST_BASE), true);
  dv.setBigUint64(8, BigInt(size), true);
  dv.setBigUint64(16, BigInt(HOST_BASE + CODE), true);
  dv.setBigUint64(24, BigInt(SLOTS), true);
  dv.setBigUint64(32, BigInt(nCases * SLOT), true);
  void HDR;
  return { image: img, cases, outOff: SLOTS, outLen: nCases * SLOT };
}

/** Byte offsets of a case's results in the output region. */
export const SLOT_LAYOUT = { SLOT, IN_FX, IN_GPR, MEMBUF, OUT_FX, OUT_GPR, CODE } as const;

// ---- the instruction ------------------------------------------------------------------------------

const GPR_KINDS = new Set(['E', 'G', 'R']);

/** Encodes `d` with random operands: memory forms are [rbx]; general registers avoid rsp, rbx and rdi. */
function encode(d: OpDesc, r: () => number): number[] {
  const rnd = (n: number) => r() % n;
  const out: number[] = [];
  const gprReg = () => [0, 1, 2, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15][rnd(13)]!;
  const ops = d.operands;
  const usesGpr = (k: number) => ops[k] !== undefined && GPR_KINDS.has(ops[k].kind);
  // ModRM fields: reg (ModRM.reg) and rm, with the REX bits that extend them.
  let reg = d.reg >= 0 ? d.reg : rnd(16);
  const regOp = ops.findIndex((o) => 'GVP'.includes(o.kind));
  if (regOp >= 0 && usesGpr(regOp)) reg = gprReg();
  if (regOp >= 0 && ops[regOp]!.kind === 'P') reg &= 7;
  const memForm = d.mod === 1 || (d.mod === 0 && rnd(2) === 0);
  let rm = memForm ? 3 : rnd(16);
  const rmOp = ops.findIndex((o) => 'EMWQUNR'.includes(o.kind) || o.kind === 'STi');
  if (!memForm && rmOp >= 0 && usesGpr(rmOp)) rm = gprReg();
  if (d.prefix === 2) out.push(0x66);
  if (d.prefix === 3) out.push(0xf3);
  if (d.prefix === 4) out.push(0xf2);
  // x87 environment forms: sometimes the 16-bit layout.
  if (d.prefix === 0 && /^(FLDENV|FNSTENV|FRSTOR|FNSAVE)$/.test(d.name) && rnd(3) === 0) out.push(0x66);
  // Legacy rows with an operand-size choice (POPCNT r16, MOVBE r16, CRC32 r/m16).
  if ((/^(POPCNT|LZCNT|TZCNT|MOVBE)$/.test(d.name) || (d.name === 'CRC32' && d.opcode === 0xf1)) && rnd(4) === 0) out.unshift(0x66);
  const w = d.w >= 0 ? d.w : /^(POPCNT|LZCNT|TZCNT|MOVBE|CRC32|CVT.*SI|MOVMSK|PEXTRW|PMOVMSKB|PCMPE)/.test(d.name) ? rnd(2) : rnd(4) === 0 ? 1 : 0;
  const rex = 0x40 | (w << 3) | (reg & 8 ? 4 : 0) | (!memForm && rm & 8 ? 1 : 0) | (rnd(4) === 0 ? 2 : 0);
  if (rex !== 0x40 || rnd(3) === 0) out.push(rex);
  if (d.map >= 1) out.push(0x0f);
  if (d.map === 2) out.push(0x38);
  if (d.map === 3) out.push(0x3a);
  out.push(d.opcode + d.low);
  if (d.modrm) {
    if (d.full >= 0) out.push(d.full);
    else if (memForm) out.push(((reg & 7) << 3) | 3); // [rbx]
    else out.push(0xc0 | ((reg & 7) << 3) | (rm & 7));
  }
  for (const o of ops) {
    if (o.kind === 'I') out.push(rnd(256));
  }
  return out;
}

// ---- random state ------------------------------------------------------------------------------

const F64 = new Float64Array(1);
const F64W = new Int32Array(F64.buffer);
const F32 = new Float32Array(1);
const F32W = new Int32Array(F32.buffer);

function randomState(img: Uint8Array, dv: DataView, so: number, d: OpDesc, r: () => number): void {
  const rnd = (n: number) => r() % n;
  const fx = so + IN_FX;
  // x87 control/status: any rounding/precision control and masks; no exception pending (the
  // status flags are a subset of the masked ones), a random TOP and condition codes.
  const masks = rnd(3) === 0 ? rnd(64) : 0x3f;
  const fcw = 0x40 | masks | (rnd(4) << 8) | (rnd(4) << 10);
  const flags = rnd(64) & masks;
  const fsw = flags | (rnd(8) << 11) | (rnd(16) & 0x7) << 8 | (rnd(2) << 14);
  dv.setUint16(fx, fcw, true);
  dv.setUint16(fx + 2, fsw, true);
  img[fx + 4] = rnd(4) === 0 ? rnd(256) : 0xff;
  // MXCSR: every exception masked, any rounding, DAZ, FTZ, some sticky flags.
  dv.setUint32(fx + 24, 0x1f80 | (rnd(4) << 13) | (rnd(4) === 0 ? 0x40 : 0) | (rnd(4) === 0 ? 0x8000 : 0) | (rnd(4) === 0 ? rnd(64) : 0), true);
  for (let i = 0; i < 8; i++) x87Value(dv, fx + 32 + 16 * i, r);
  if (TRANSCENDENTAL.has(d.name)) {
    // ST(0) and ST(1) (slots 0 and 1: the image is in stack order), valid, with exact results:
    // f(±0) = ±0 (or 1), atan(±0 / x) = ±0, y * log2(2^k) = y * k; everything else empty.
    const sign = rnd(2) << 15;
    const st0: [number, number] = d.name === 'FYL2X' ? [0x3fff + rnd(4), 0x80000000] : d.name === 'FPATAN' ? [0x3fff, 0x80000000] : [sign, 0];
    const st1: [number, number] = d.name === 'FPATAN' ? [sign, 0] : [0x4000, 0xc0000000];
    dv.setUint32(fx + 32, 0, true);
    dv.setUint32(fx + 36, st0[1] >>> 0, true);
    dv.setUint16(fx + 40, st0[0], true);
    dv.setUint32(fx + 48, 0, true);
    dv.setUint32(fx + 52, st1[1] >>> 0, true);
    dv.setUint16(fx + 56, st1[0], true);
    dv.setUint16(fx, 0x37f, true);
    const top = rnd(8);
    dv.setUint16(fx + 2, top << 11, true);
    img[fx + 4] = (1 << top) | (1 << ((top + 1) & 7));
  }
  for (let i = 0; i < 16; i++) {
    for (let h = 0; h < 2; h++) lane64(dv, fx + 160 + 16 * i + 8 * h, r);
  }
  // General registers: random, sometimes small; the explicit string lengths small.
  for (let g = 0; g < 16; g++) {
    const small = rnd(3) === 0;
    const lo = small ? rnd(64) - 16 : r() | 0;
    const hi = small ? (lo < 0 ? -1 : 0) : r() | 0;
    dv.setInt32(so + IN_GPR + 8 * g, lo, true);
    dv.setInt32(so + IN_GPR + 8 * g + 4, hi, true);
  }
  if (/^PCMPESTR/.test(d.name)) {
    for (const g of [0, 2]) {
      const v = rnd(41) - 20;
      dv.setBigInt64(so + IN_GPR + 8 * g, BigInt(v), true);
    }
  }
  // RFLAGS: the arithmetic flags random, the rest as user code has them.
  dv.setBigUint64(so + IN_GPR + 128, BigInt(0x202 | (r() & 0x8d5)), true);
  // The memory operand: values like the registers'.
  for (let k = 0; k < 256; k += 8) lane64(dv, so + MEMBUF + k, r);
}

/** A 64-bit lane: random bits, small integers, or binary64 / binary32 values (normal, special, denormal). */
function lane64(dv: DataView, o: number, r: () => number): void {
  const rnd = (n: number) => r() % n;
  switch (rnd(5)) {
    case 0:
      dv.setInt32(o, r() | 0, true);
      dv.setInt32(o + 4, r() | 0, true);
      return;
    case 1:
      dv.setInt32(o, rnd(200) - 100, true);
      dv.setInt32(o + 4, rnd(200) - 100, true);
      return;
    case 2:
      F64[0] = special(r) ?? (rnd(2) ? -1 : 1) * (rnd(1000) / 8) * 2 ** (rnd(40) - 20);
      dv.setInt32(o, F64W[0]!, true);
      dv.setInt32(o + 4, F64W[1]!, true);
      return;
    default:
      for (let h = 0; h < 2; h++) {
        F32[0] = special(r) ?? (rnd(2) ? -1 : 1) * (rnd(1000) / 8) * 2 ** (rnd(20) - 10);
        dv.setInt32(o + 4 * h, F32W[0]!, true);
      }
  }
}

function special(r: () => number): number | null {
  switch (r() % 12) {
    case 0: return 0;
    case 1: return -0;
    case 2: return Infinity;
    case 3: return NaN;
    case 4: return 1e-310; // a binary64 denormal (binary32: zero)
    case 5: return 2 ** 200;
    default: return null;
  }
}

/** An 80-bit x87 register: normal values of moderate exponent, zeros, infinities, NaNs, denormals, integers. */
function x87Value(dv: DataView, o: number, r: () => number): void {
  const rnd = (n: number) => r() % n;
  const sign = rnd(2) << 15;
  let se: number, hi: number, lo: number;
  switch (rnd(8)) {
    case 0:
      se = sign; hi = 0; lo = 0;
      break;
    case 1:
      se = sign | 0x7fff; hi = rnd(2) ? 0x80000000 : 0xc0000000 | r(); lo = rnd(2) ? 0 : r();
      break;
    case 2:
      se = sign; hi = r() & 0x7fffffff; lo = r();
      break;
    case 3:
      se = sign | (0x3fff + rnd(64)); hi = 0x80000000 | (rnd(1024) << 21); lo = 0;
      break;
    default:
      se = sign | (0x3fff + rnd(80) - 40); hi = 0x80000000 | r(); lo = r();
  }
  dv.setUint32(o, lo >>> 0, true);
  dv.setUint32(o + 4, hi >>> 0, true);
  dv.setUint16(o + 8, se, true);
}

// ---- running it ------------------------------------------------------------------------------------

import { Kvm, type Sys } from '../../src/index.js';
import { runToExit } from '../helpers/run.js';

/** The variants a program runs in under vkvm. */
export interface Variant {
  readonly name: string;
  readonly base: number;
  readonly user: boolean;
}
export const VARIANTS: readonly Variant[] = [
  { name: 'CPL0, low addresses', base: HOST_BASE, user: false },
  { name: 'CPL0, kernel half', base: HIGH_BASE, user: false },
  { name: 'CPL3', base: HOST_BASE, user: true },
];

const LOW = 0x100000;
const KERNEL_HLT = 0x7000;

/**
 * Runs a program in a vkvm guest: 64-bit mode, CR4.OSFXSR/OSXMMEXCPT set, the image at guest
 * physical HOST_BASE seen at `v.base`; returns the output region and how the run ended.
 */
export function runVirtual(sys: Sys, p: SimdProgram, v: Variant): { end: string; out: Uint8Array } {
  const vm = Kvm.open(sys).createVm();
  const low = sys.alloc(LOW);
  const m = low.bytes;
  const dv = new DataView(m.buffer, m.byteOffset, m.length);
  // GDT: null, kernel code64 (0x08), kernel data (0x10), user data (0x18), user code64 (0x20).
  [0n, 0x00af9b000000ffffn, 0x00cf93000000ffffn, 0x00cff3000000ffffn, 0x00affb000000ffffn].forEach((d, i) => dv.setBigUint64(0x500 + 8 * i, d, true));
  // PML4[0] and PML4[256] -> one PDPT -> 1 GiB of 2 MiB user pages.
  dv.setBigUint64(0x2000, 0x3007n, true);
  dv.setBigUint64(0x2000 + 256 * 8, 0x3007n, true);
  dv.setBigUint64(0x3000, 0x4007n, true);
  for (let i = 0; i < 512; i++) dv.setBigUint64(0x4000 + 8 * i, (BigInt(i) << 21n) | 0x87n, true);
  m[KERNEL_HLT] = 0xf4;
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: LOW, userspaceAddr: low.hva });
  const size = p.image.length + 0xfff & ~0xfff;
  const ram = sys.alloc(size);
  ram.bytes.set(p.image);
  vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: HOST_BASE, memorySize: size, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  const s = vcpu.getSregs();
  const seg = (selector: number, type: number, dpl: number, l: number) => ({ ...s.cs, base: 0n, limit: 0xffffffff, selector, type, present: 1, dpl, db: l ? 0 : 1, s: 1, l, g: 1, avl: 0, unusable: 0 });
  const cs = v.user ? seg(0x23, 11, 3, 1) : seg(0x08, 11, 0, 1);
  const ds = v.user ? seg(0x1b, 3, 3, 0) : seg(0x10, 3, 0, 0);
  vcpu.setSregs({
    cs, ds, es: ds, ss: ds, fs: ds, gs: ds,
    tr: { ...s.tr, base: 0n, limit: 0x67, selector: 0, type: 11, present: 1, s: 0 },
    gdt: { base: 0x500n, limit: 5 * 8 - 1 },
    cr0: 0x80050033n, cr3: 0x2000n, cr4: 0x620n, efer: 0x501n,
  } as never);
  vcpu.setMsrs([[0xc0000081, 0x0010000800000000n], [0xc0000082, BigInt(KERNEL_HLT)], [0xc0000084, 0n]]);
  vcpu.setRegs({ rip: BigInt.asUintN(64, BigInt(v.base + CODE)), rsp: BigInt.asUintN(64, BigInt(v.base + p.image.length - 64)), rflags: 2n });
  let end = 'limit';
  for (let n = 0; n < 8; n++) {
    const e = runToExit(vcpu); // loops on the 100 ms KVM_RUN bound's EINTR
    end = e.reason;
    if (e.reason === 'hlt' || e.reason === 'shutdown' || e.reason === 'internal_error' || e.reason === 'fail_entry') break;
  }
  return { end, out: ram.bytes.slice(p.outOff, p.outOff + p.outLen) };
}
