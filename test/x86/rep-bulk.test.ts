/**
 * REP MOVS/STOS a page at a time (exec/string.ts `repBulk`) against the same instructions element
 * by element: random forms (byte to qword), counts, source/destination offsets (page-crossing,
 * overlapping both ways, equal), kernel-half addresses, CPL 3, DF=1 (element by element either
 * way), destinations in MMIO, in a not-present page (#PF mid-copy, here a triple fault) and in the
 * code itself (self-modifying), sources in MMIO. Every register, every exit and all of RAM must
 * be the same, under the interpreter and the block JIT.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Kvm, type Sys, type VcpuExit } from '../../src/index.js';
import { repBulkOn } from '../../src/arch/x86/exec/string.js';
import { engineSys, X86_ENGINES } from '../helpers/engines.js';
import { runToExit } from '../helpers/run.js';
import { CODE, enterMode, RAM, STACK, writeGdt, writePageTables } from '../helpers/x86.js';

/** The kernel half as Linux maps it (0xffffffff80000000: negative as a JS number). */
const KBASE = -0x80000000;
/** Physical 0x1000-0x1fffff is ordinary RAM; 0x200000-0x3fffff is mapped (PD[1]) but MMIO; 0x400000 up is not present. */
const MMIO_GPA = 0x200000;

interface Case {
  op: 'movs' | 'stos';
  size: 1 | 2 | 4 | 8;
  src: number;
  dst: number;
  count: number;
  df: boolean;
  user: boolean;
  kernelHalf: boolean;
}

function code(c: Case): number[] {
  const base = c.op === 'movs' ? 0xa4 : 0xaa;
  const b: number[] = [];
  if (c.df) b.push(0xfd); // STD
  if (c.size === 2) b.push(0x66);
  b.push(0xf3);
  if (c.size === 8) b.push(0x48);
  b.push(c.size === 1 ? base : base + 1);
  b.push(0x90, 0x90, 0x90, 0x90, 0xf4); // NOPs (a copy may land on them), HLT
  return b;
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function cases(): Case[] {
  const r = rng(0x5eed18);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
  const out: Case[] = [];
  const sizes = [1, 2, 4, 8] as const;
  for (let n = 0; n < 36; n++) {
    const size = pick(sizes);
    const op = n % 3 === 0 ? 'stos' : 'movs';
    const src = 0x40000 + Math.floor(r() * 3) * 0x1000 + pick([0, 1, 3, 0xff8, 0xffd, 0x7ff]);
    // Overlaps both ways, apart, the same buffer.
    const delta = pick([-9, -4, -1, 0, 1, 2, 3, 4, 5, 8, 9, 0x1000, 0x3003, -0x2001]);
    out.push({ op, size, src, dst: src + delta, count: pick([0, 1, 2, 7, 511, 512, 513, 1500, 4100, 9000]), df: n % 11 === 5, user: n % 7 === 3, kernelHalf: n % 5 === 2 });
  }
  // Into MMIO (exits per element), into a not-present page (#PF after the mapped part), from MMIO.
  out.push({ op: 'stos', size: 1, src: 0, dst: MMIO_GPA - 5, count: 9, df: false, user: false, kernelHalf: false });
  out.push({ op: 'movs', size: 8, src: 0x40000, dst: MMIO_GPA - 16, count: 4, df: false, user: false, kernelHalf: true });
  out.push({ op: 'stos', size: 4, src: 0, dst: 0x400000 - 0x1802, count: 0x1000, df: false, user: false, kernelHalf: false });
  out.push({ op: 'movs', size: 2, src: 0x40000, dst: 0x400000 - 0x10, count: 64, df: false, user: true, kernelHalf: false });
  out.push({ op: 'movs', size: 1, src: MMIO_GPA - 3, dst: 0x50000, count: 6, df: false, user: false, kernelHalf: false });
  // Over the NOPs after the instruction (self-modifying: they become HLTs or a copy of the code).
  out.push({ op: 'stos', size: 1, src: 0, dst: CODE - 0x10, count: 0x18, df: false, user: false, kernelHalf: false });
  out.push({ op: 'movs', size: 4, src: CODE - 0x100, dst: CODE - 0x40, count: 0x20, df: false, user: false, kernelHalf: true });
  return out;
}

/** Page tables: PD[0] RAM, PD[1] the MMIO hole, the rest not present; user pages for CPL 3; the kernel half at KBASE. */
function setup(mem: Uint8Array, user: boolean): void {
  writePageTables(mem);
  const dv = new DataView(mem.buffer, mem.byteOffset);
  const u = user ? 4n : 0n;
  dv.setBigUint64(0x2000, 0x3000n | 3n | u, true);
  dv.setBigUint64(0x3000, 0x4000n | 3n | u, true);
  for (let i = 0; i < 512; i++) dv.setBigUint64(0x4000 + 8 * i, i < 2 ? (BigInt(i) << 21n) | 0x83n | u : 0n, true);
  dv.setBigUint64(0x2000 + 511 * 8, 0x5000n | 3n | u, true); // PML4[511]
  dv.setBigUint64(0x5000 + 510 * 8, 0x4000n | 3n | u, true); // PDPT[510] -> the same PD
}

interface Outcome {
  exits: string[];
  regs: string;
  ram: string;
}

function run(sys: Sys, c: Case): Outcome {
  const vm = Kvm.open(sys).createVm();
  const ram = sys.alloc(RAM);
  writeGdt(ram.bytes);
  setup(ram.bytes, c.user);
  for (let a = 0x10000; a < RAM; a++) ram.bytes[a] = (a * 7 + (a >>> 9)) & 0xff;
  ram.bytes.set(code(c), CODE);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  enterMode(vcpu, 'long64');
  const k = c.kernelHalf ? KBASE : 0;
  if (c.user) {
    const s = vcpu.getSregs();
    vcpu.setSregs({ ...s, cs: { ...s.cs, dpl: 3, selector: 0x1b }, ss: { ...s.ss, dpl: 3, selector: 0x23 }, ds: { ...s.ds, dpl: 3, selector: 0x23 }, es: { ...s.es, dpl: 3, selector: 0x23 } });
  }
  const signed = (v: number) => BigInt.asUintN(64, BigInt(v));
  vcpu.setRegs({ rip: signed(k + CODE), rsp: signed(k + STACK), rflags: 2n, rax: 0x8877665544332211n, rcx: BigInt(c.count), rsi: signed(k + c.src), rdi: signed(k + c.dst) });
  const exits: string[] = [];
  for (let n = 0; n < 64; n++) {
    const e: VcpuExit = runToExit(vcpu);
    const r = vcpu.getRegs();
    exits.push(`${e.reason} ${'physAddr' in e ? `${e.physAddr} ${e.isWrite} ${Buffer.from(e.data).toString('hex')}` : ''} rip=${r.rip} rcx=${r.rcx} rsi=${r.rsi} rdi=${r.rdi}`);
    if (e.reason !== 'mmio') break;
    if (!e.isWrite) for (let i = 0; i < e.len; i++) e.data[i] = Number((e.physAddr + BigInt(i) * 5n) & 0xffn);
  }
  const r = vcpu.getRegs();
  return { exits, regs: `${r.rip} ${r.rcx} ${r.rsi} ${r.rdi} ${r.rflags}`, ram: createHash('sha256').update(ram.bytes).digest('hex') };
}

describe.each(X86_ENGINES.map((e) => [e.name, e] as const))('REP MOVS/STOS a page at a time (%s)', (_name, engine) => {
  const all = cases();
  it.each(all.map((c, i) => [i, `${c.op}${c.size} ${c.src.toString(16)}->${c.dst.toString(16)} x${c.count}${c.df ? ' DF' : ''}${c.user ? ' CPL3' : ''}${c.kernelHalf ? ' kernel-half' : ''}`, c] as const))('case %i: %s', (_i, _label, c) => {
    repBulkOn.value = false;
    let ref: Outcome;
    try {
      ref = run(engineSys(engine), c);
    } finally {
      repBulkOn.value = true;
    }
    const got = run(engineSys(engine), c);
    expect(got.exits).toEqual(ref.exits);
    expect(got.regs).toBe(ref.regs);
    expect(got.ram).toBe(ref.ram);
  });

  it('reaches the HLT with the copy done on the common forms (the test guests do run)', () => {
    const c: Case = { op: 'movs', size: 1, src: 0x40001, dst: 0x50003, count: 5000, df: false, user: false, kernelHalf: true };
    const o = run(engineSys(engine), c);
    expect(o.exits.at(-1)).toMatch(/^hlt .* rcx=0 rsi=18446744071562335113 rdi=18446744071562400651$/);
  });
});
