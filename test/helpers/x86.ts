/**
 * x86 differential harness: the same guest bytes and initial state on any backend, with the exit
 * sequence (reason + payload) and the register state at every exit recorded for comparison.
 *
 * Guest physical layout (2 MiB of RAM at gpa 0):
 *   0x0500 GDT, 0x0600 IDT (filled by programs that need one), 0x2000.. long-mode page tables
 *   (identity map of the first 1 GiB with 2 MiB pages), 0x8000 code, 0x20000 data, 0x7f000 stack top.
 *   MMIO: everything at gpa >= 0x200000 that is not RAM.
 */
import { Kvm, type HostMemory, type Sys, type Vcpu, type VcpuExit, type Vm, type X86Regs, type X86Sregs } from '../../src/index.js';
import { runToExit } from './run.js';

export type Mode = 'real' | 'prot32' | 'long64';

export const CODE = 0x8000;
export const DATA = 0x20000;
export const STACK = 0x7f000;
export const RAM = 0x200000;
export const MMIO_BASE = 0x300000;

export interface Program {
  mode: Mode;
  code: Uint8Array;
  /** Initial registers (merged over the defaults: rip = CODE, rsp = STACK, rflags = 2). */
  regs?: Partial<Record<keyof X86Regs, bigint | number>>;
  /** Extra memory to initialise: [gpa, bytes]. */
  mem?: [number, Uint8Array][];
  /** Exit limit (default 64). */
  maxExits?: number;
  /** Extra setup on the vCPU before running (guest debug...). */
  setup?: (vcpu: ReturnType<ReturnType<Kvm['createVm']>['createVcpu']>) => void;
  /** Called at each exit before it is recorded; may change state (e.g. skip an instruction). */
  onExit?: (e: VcpuExit, vcpu: ReturnType<ReturnType<Kvm['createVm']>['createVcpu']>, n: number) => 'stop' | void;
}

export interface ExitRecord {
  exit: Record<string, unknown>;
  regs: Record<string, string>;
  sregs: Record<string, string>;
}

export interface Trace {
  exits: ExitRecord[];
  /** Hex of the data page after the run. */
  data: string;
  /** How the run ended. */
  end: string;
}

const hex = (v: bigint | number) => '0x' + BigInt.asUintN(64, BigInt(v)).toString(16);

/** 8-byte GDT entries: null, 32-bit code (0x08), data (0x10), 64-bit code (0x18), 16-bit code (0x20), 16-bit data (0x28). */
export const GDT = [
  0n,
  0x00cf9b000000ffffn,
  0x00cf93000000ffffn,
  0x00af9b000000ffffn,
  0x00009b000000ffffn,
  0x000093000000ffffn,
];

export function writeGdt(mem: Uint8Array): void {
  const dv = new DataView(mem.buffer, mem.byteOffset);
  GDT.forEach((d, i) => dv.setBigUint64(0x500 + 8 * i, d, true));
}

export function writePageTables(mem: Uint8Array): void {
  const dv = new DataView(mem.buffer, mem.byteOffset);
  dv.setBigUint64(0x2000, 0x3000n | 3n, true); // PML4[0] -> PDPT
  dv.setBigUint64(0x3000, 0x4000n | 3n, true); // PDPT[0] -> PD
  for (let i = 0; i < 512; i++) dv.setBigUint64(0x4000 + 8 * i, (BigInt(i) << 21n) | 0x83n, true); // 2 MiB pages
}

const seg = (selector: number, type: number, db: number, l: number, g = 1, limit = 0xffffffff) => ({ base: 0n, limit, selector, type, present: 1, dpl: 0, db, s: 1, l, g, avl: 0, unusable: 0, padding: 0 });

/** Puts the vCPU in `mode` the way a VMM does with KVM_SET_SREGS (like kvm-hello-world). */
export function enterMode(vcpu: ReturnType<ReturnType<Kvm['createVm']>['createVcpu']>, mode: Mode): void {
  const s = vcpu.getSregs();
  if (mode === 'real') {
    const r = (sel: number, type: number) => ({ ...s.cs, base: 0n, limit: 0xffff, selector: sel, type, db: 0, l: 0, g: 0 });
    vcpu.setSregs({ cs: r(0, 11), ds: r(0, 3), es: r(0, 3), ss: r(0, 3), fs: r(0, 3), gs: r(0, 3) });
    return;
  }
  const code = mode === 'long64' ? seg(0x18, 11, 0, 1) : seg(0x08, 11, 1, 0);
  const data = seg(0x10, 3, 1, 0);
  const tr = { ...s.tr, base: 0n, limit: 0x67, selector: 0, type: 11, present: 1, s: 0 };
  const sregs: Partial<X86Sregs> = {
    cs: code,
    ds: data,
    es: data,
    ss: data,
    fs: data,
    gs: data,
    tr,
    gdt: { base: 0x500n, limit: GDT.length * 8 - 1, padding: [0, 0, 0] },
    cr0: mode === 'long64' ? 0x80050033n : 0x60000011n | 0x20n,
  };
  if (mode === 'long64') Object.assign(sregs, { cr3: 0x2000n, cr4: 0x20n | 0x200n, efer: 0x500n });
  vcpu.setSregs(sregs as never);
}

/**
 * A VM on `sys` with RAM at gpa 0 in the layout above (GDT, page tables), changed by `edit`
 * before it is mapped, and one vCPU in 64-bit mode (the registers are the caller's to set).
 */
export function longModeVcpu(sys: Sys, edit: (m: Uint8Array, dv: DataView) => void): { vm: Vm; vcpu: Vcpu; ram: HostMemory } {
  const vm = Kvm.open(sys).createVm();
  const ram = sys.alloc(RAM);
  const m = ram.bytes;
  writeGdt(m);
  writePageTables(m);
  edit(m, new DataView(m.buffer, m.byteOffset, m.length));
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  enterMode(vcpu, 'long64');
  return { vm, vcpu, ram };
}

/** Runs `prog` on `sys` and records every exit. */
export function runProgram(sys: Sys, prog: Program): Trace {
  const vm = Kvm.open(sys).createVm();
  const ram = sys.alloc(RAM);
  ram.bytes.set(prog.code, CODE);
  writeGdt(ram.bytes);
  writePageTables(ram.bytes);
  for (const [gpa, b] of prog.mem ?? []) ram.bytes.set(b, gpa);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  enterMode(vcpu, prog.mode);
  const regs: Record<string, bigint> = { rip: BigInt(CODE), rsp: BigInt(STACK), rflags: 2n };
  for (const [k, v] of Object.entries(prog.regs ?? {})) regs[k] = BigInt(v);
  vcpu.setRegs(regs);
  prog.setup?.(vcpu);
  const exits: ExitRecord[] = [];
  let end = 'limit';
  const max = prog.maxExits ?? 64;
  for (let n = 0; n < max; n++) {
    let e: VcpuExit;
    try {
      e = runToExit(vcpu);
    } catch (err) {
      end = `errno:${(err as { code?: string }).code ?? String(err)}`;
      break;
    }
    const stop = prog.onExit?.(e, vcpu, n);
    exits.push({ exit: describeExit(e), regs: regsOf(vcpu.getRegs()), sregs: sregsOf(vcpu.getSregs()) });
    if (e.reason === 'io') {
      if (e.direction === 'in') e.data.fill(0).forEach((_, i) => (e.data[i] = (e.port + i * 7 + 0x11) & 0xff));
    } else if (e.reason === 'mmio') {
      if (!e.isWrite) for (let i = 0; i < e.len; i++) e.data[i] = Number((e.physAddr + BigInt(i) * 3n + 0x21n) & 0xffn);
    } else if (e.reason !== 'debug' && e.reason !== 'hypercall' && e.reason !== 'x86_rdmsr' && e.reason !== 'x86_wrmsr') {
      end = e.reason;
      break;
    }
    if (stop === 'stop') {
      end = 'stopped';
      break;
    }
  }
  const data = Buffer.from(ram.bytes.subarray(DATA, DATA + 256)).toString('hex');
  return { exits, data, end };
}

function describeExit(e: VcpuExit): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (typeof v === 'function') continue;
    if (k === 'exitReason') continue;
    out[k] = v instanceof Uint8Array ? Buffer.from(v).toString('hex') : typeof v === 'bigint' ? hex(v) : v && typeof v === 'object' ? JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? hex(x) : x))) : v;
  }
  return out;
}

function regsOf(r: X86Regs): Record<string, string> {
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, hex(v)]));
}

function sregsOf(s: X86Sregs): Record<string, string> {
  const o: Record<string, string> = {};
  for (const n of ['cs', 'ds', 'es', 'ss', 'fs', 'gs'] as const) o[n] = `${hex(s[n].selector)}:${hex(s[n].base)}`;
  o.cr0 = hex(s.cr0);
  o.cr2 = hex(s.cr2);
  o.cr3 = hex(s.cr3);
  o.cr4 = hex(s.cr4);
  o.efer = hex(s.efer);
  return o;
}

/**
 * Page tables over writePageTables' for user and kernel-half guests: the low 1 GiB identity map
 * made user-accessible, and the kernel half (0xffff_ff80_0000_0000 + x -> x, PML4[511] ->
 * PDPT `pdptHi`, whose entry 510 reuses the same page directory).
 */
export function mapUserAndKernelHalf(dv: DataView, pdptHi: number): void {
  dv.setBigUint64(0x2000, 0x3000n | 7n, true);
  dv.setBigUint64(0x3000, 0x4000n | 7n, true);
  for (let i = 0; i < 512; i++) dv.setBigUint64(0x4000 + 8 * i, (BigInt(i) << 21n) | 0x87n, true);
  dv.setBigUint64(0x2000 + 511 * 8, BigInt(pdptHi) | 7n, true);
  dv.setBigUint64(pdptHi + 510 * 8, 0x4000n | 7n, true);
}

/** CPL 3: CS, SS and DS as the user selectors of GDT (DPL 3). */
export function enterUser(vcpu: Vcpu): void {
  const s = vcpu.getSregs();
  vcpu.setSregs({ ...s, cs: { ...s.cs, selector: 0x1b, dpl: 3 }, ss: { ...s.ss, selector: 0x13, dpl: 3 }, ds: { ...s.ds, selector: 0x13, dpl: 3 } });
}

/** The general registers but RIP, as hex strings (for guests compared with a longer reference program). */
export function regsButRip(vcpu: Vcpu): Record<string, string> {
  const regs: Record<string, string> = {};
  for (const [k, v] of Object.entries(vcpu.getRegs())) if (k !== 'rip') regs[k] = BigInt(v as bigint).toString(16);
  return regs;
}

/** An exit in one line: MMIO's direction, address and length, else the reason. */
export const exitLine = (e: VcpuExit): string => (e.reason === 'mmio' ? `mmio ${e.isWrite ? 'w' : 'r'} ${e.physAddr.toString(16)} ${e.len}` : e.reason);

/** Where aliasKernelHalf maps gpa 0: linear KBASE + x -> x. */
export const KBASE = 0xffff_ffff_8000_0000n;

/**
 * The kernel half over writePageTables' own tables (PML4[511] -> the same PDPT, whose entry 510
 * -> the same PD: linear KBASE + x -> x), and with `user` every level U/S.
 */
export function aliasKernelHalf(dv: DataView, user: boolean): void {
  dv.setBigUint64(0x2000 + 511 * 8, 0x3000n | 3n, true);
  dv.setBigUint64(0x3000 + 510 * 8, 0x4000n | 3n, true);
  if (user) {
    dv.setBigUint64(0x2000, 0x3000n | 7n, true);
    dv.setBigUint64(0x3000, 0x4000n | 7n, true);
    for (let i = 0; i < 512; i++) dv.setBigUint64(0x4000 + 8 * i, (BigInt(i) << 21n) | 0x87n, true);
  }
}

/**
 * A 64-bit vCPU on `sys` with `code` at gpa `codeOff`, to run at CPL 0 in the kernel half or at
 * CPL 3 in the low half (pages user-accessible); `base` is the half's linear address of gpa 0.
 */
export function halfGuest(sys: Sys, code: ArrayLike<number>, codeOff: number, cpl3: boolean): { vcpu: Vcpu; ram: HostMemory; base: bigint } {
  const { vcpu, ram } = longModeVcpu(sys, (m, dv) => {
    aliasKernelHalf(dv, cpl3);
    m.set(code, codeOff);
  });
  if (cpl3) enterUser(vcpu);
  return { vcpu, ram, base: cpl3 ? 0n : KBASE };
}

/** `v` as four little-endian bytes. */
export const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
