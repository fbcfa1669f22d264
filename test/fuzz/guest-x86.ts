/**
 * The x86 guest fuzzer: random code bytes run from random register, segment, descriptor-table and
 * paging state in each mode — real, 16/32-bit protected (paging off, 2-level, PAE), long mode
 * (64-bit and compatibility), vm86, rings 0 and 3 — with random IDT/GDT contents, debug
 * registers, guest debug, queued events and memslot layouts (RAM, read-only ROM, unbacked hva,
 * MMIO holes). Every run gets a fresh VM from `mixSeed(seed, index)` and at most `maxExits`
 * KVM_RUNs of at most `runBudget` instructions each.
 *
 * Oracle: KVM_RUN returns 0 with a defined exit whose payload is usable, or fails with a KvmError
 * errno KVM_RUN may return; no JS exception escapes any call, and none is swallowed inside the
 * interpreter (probe.ts); no KVM_RUN takes longer than `hangMs`.
 * @module
 */
import { Kvm, KVM_EXIT, KvmiClient, kvmiInProcessPair, kvmiSocketFd, virtualSys, x86_64, type HostMemory, type Sys, type Vcpu, type X86Sregs } from '../../src/index.js';
import { KVMI_MSG, kvmi_vcpu_hdr, kvmi_vcpu_translate_gva } from '../../src/uapi/kvmi.js';
import { badError, checkExit, Findings, RUN_ERRNOS, Tally, type Finding } from './oracle.js';
import { installX86Probe, takeInternalError } from './probe.js';
import { mixSeed, Rng } from './rng.js';

export interface GuestFuzzOptions {
  readonly seed: number;
  readonly runs: number;
  readonly firstRun?: number;
  /** Instructions per KVM_RUN (virtualSys runBudget). Default 3000. */
  readonly runBudget?: number;
  /** KVM_RUNs per guest. Default 6. */
  readonly maxExits?: number;
  /** A KVM_RUN slower than this is a hang. Default 2000 ms. */
  readonly hangMs?: number;
  /** Block-JIT hotness (0: every block translated at first sight); default the engine's own. */
  readonly jitHotness?: number;
  /** The x86 JIT's engine (virtualSys jitEngine); default the VM's own (VKVM_JIT_ENGINE, else 'js'). */
  readonly jitEngine?: 'js' | 'wasm';
  readonly onFinding?: (f: Finding) => void;
  readonly log?: (line: string) => void;
}

export interface GuestFuzzReport {
  readonly arch: 'x86_64' | 'arm64';
  readonly seed: number;
  runs: number;
  kvmRuns: number;
  /** Guests whose chosen state KVM_SET_SREGS/ONE_REG refused (the run goes on with what was accepted). */
  setupRefused: number;
  readonly modes: Tally;
  readonly exits: Tally;
  readonly errnos: Tally;
  /** KVM_EXIT_INTERNAL_ERROR (emulation failure) by the first bytes of the instruction. */
  readonly unsupported: Tally;
  readonly findings: Findings;
  maxRunMs: number;
  /** Where the slowest KVM_RUN was: `index.step`. */
  slowest: string;
  elapsedMs: number;
}

const S = x86_64.structs;
const REQ_NAMES = ['KVM_RUN', 'KVM_INTERRUPT', 'KVM_NMI', 'KVM_TRANSLATE', 'KVM_SET_SREGS', 'KVM_SET_REGS', 'KVM_SET_CPUID2'] as const;
const REQ = Object.fromEntries(REQ_NAMES.map((n) => [n, x86_64.ioctls[n]!.request])) as Record<(typeof REQ_NAMES)[number], number>;

let resetState: X86Sregs | undefined;
/** The sregs of a vCPU after reset (read once: every fresh vCPU starts there). */
function resetSregs(c: Vcpu): X86Sregs {
  return (resetState ??= c.getSregs());
}

let cpuid: Uint8Array | undefined;
/** KVM_SET_CPUID2 bytes of KVM_GET_SUPPORTED_CPUID (built once). */
function cpuidBytes(c: Vcpu): Uint8Array {
  if (!cpuid) {
    const entries = c.vm.kvm.supportedCpuid();
    cpuid = S.kvm_cpuid2.alloc(entries.length);
    S.kvm_cpuid2.encodeInto({ nent: entries.length, entries: entries as never }, cpuid);
  }
  return cpuid;
}
const RAM = 0x10_0000;
const GDT = 0x500;
const IDT = 0x1000;
const TSS = 0x3000;
const PT = 0x4000; // page tables: 0x4000..0x9fff
const STUBS = 0xa000;
const CODE = 0x1_0000;

type Mode = 'real' | 'prot16' | 'prot32' | 'prot32-paging' | 'prot32-pae' | 'long64' | 'compat' | 'vm86';

const GDT_ENTRIES = [
  0n,
  0x00cf9b000000ffffn, // 0x08 code32
  0x00cf93000000ffffn, // 0x10 data
  0x00af9b000000ffffn, // 0x18 code64
  0x00009b000000ffffn, // 0x20 code16
  0x000093000000ffffn, // 0x28 data16
  0x00cffb000000ffffn, // 0x30 code32 dpl3
  0x00cff3000000ffffn, // 0x38 data dpl3
  0x00affb000000ffffn, // 0x40 code64 dpl3
];
const TSS_SEL = 0x48;

/** Runs `runs` random x86 guests under the oracle. */
export function fuzzX86Guests(opts: GuestFuzzOptions): GuestFuzzReport {
  installX86Probe();
  const report = newReport('x86_64', opts.seed);
  const t0 = performance.now();
  const sys = virtualSys({ arch: 'x86_64', runBudget: opts.runBudget ?? 3000, ...(opts.jitHotness !== undefined ? { jitHotness: opts.jitHotness } : {}), ...(opts.jitEngine !== undefined ? { jitEngine: opts.jitEngine } : {}) });
  const kvm = Kvm.open(sys);
  // Guest memory is reused (zeroed) from run to run: allocating it each time costs more than the run.
  const ram = sys.alloc(RAM);
  const rom = sys.alloc(0x10000);
  // (Zeroed through a Float64Array: fill() of a shared Uint8Array is several times slower.)
  const zero = new Float64Array(ram.bytes.buffer, ram.bytes.byteOffset, RAM / 8);
  for (let r = 0; r < opts.runs; r++) {
    const index = (opts.firstRun ?? 0) + r;
    zero.fill(0);
    runOne(sys, kvm, ram, rom, new Rng(mixSeed(opts.seed, index)), index, opts, report);
    report.runs++;
  }
  sys.munmap(ram.bytes);
  sys.munmap(rom.bytes);
  report.elapsedMs = performance.now() - t0;
  return report;
}

export function newReport(arch: 'x86_64' | 'arm64', seed: number): GuestFuzzReport {
  return { arch, seed, runs: 0, kvmRuns: 0, setupRefused: 0, modes: new Tally(), exits: new Tally(), errnos: new Tally(), unsupported: new Tally(), findings: new Findings(), maxRunMs: 0, slowest: '', elapsedMs: 0 };
}

/** Wraps a setup call: a KvmError means the state was refused (fine); anything else is a finding. */
export function guarded(found: (kind: Finding['kind'], what: string, detail: string) => void, what: string, f: () => void): boolean {
  try {
    f();
    return true;
  } catch (e) {
    const bad = badError(e, 'ioctl');
    if (bad) found(bad.startsWith('escape') ? 'escape' : 'errno', what, bad);
    return false;
  }
}

function runOne(sys: Sys, kvm: Kvm, ram: HostMemory, romMem: HostMemory, rng: Rng, index: number, opts: GuestFuzzOptions, report: GuestFuzzReport): void {
  let step = 0;
  const found = (kind: Finding['kind'], what: string, detail: string) => {
    const f: Finding = { kind, seed: opts.seed, index, step, what, detail };
    report.findings.add(f);
    opts.onFinding?.(f);
  };
  const vm = kvm.createVm();
  const mem = ram.bytes;
  const dv = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
  let vcpu: Vcpu | undefined;
  try {
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva, flags: rng.chance(0.2) ? 1 : 0 });
    if (rng.chance(0.3)) {
      const rom = romMem;
      rng.fill(rom.bytes, 0, 0x4000);
      vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: RAM, memorySize: 0x10000, userspaceAddr: rom.hva, flags: 2 });
    }
    // A slot whose userspace memory is not mapped: guest accesses there make KVM_RUN fail with EFAULT.
    if (rng.chance(0.1)) vm.setUserMemoryRegion({ slot: 2, guestPhysAddr: RAM + 0x10000, memorySize: 0x10000, userspaceAddr: 0x10000n });
    // An introspection tool in the same thread: its translate-gva commands run inside KVM_RUN
    // (read at entry), whatever the guest did to its page tables (issue 19).
    const tool = rng.chance(0.05) ? hookTool(sys, vm.fd) : undefined;
    vcpu = vm.createVcpu(0);
    const mode = rng.weighted<Mode>([[3, 'real'], [1, 'prot16'], [3, 'prot32'], [2, 'prot32-paging'], [2, 'prot32-pae'], [5, 'long64'], [1, 'compat'], [1, 'vm86']]);
    report.modes.add(mode);
    const ring3 = mode !== 'real' && mode !== 'vm86' && mode !== 'prot16' && rng.chance(0.2);
    buildMemory(rng, mem, dv, mode);
    const rip = CODE + rng.int(0x7000);
    writeCode(rng, mem, rip);
    const c = vcpu;
    if (!guarded(found, `KVM_SET_SREGS(${mode})`, () => void sys.ioctl(c.fd, REQ.KVM_SET_SREGS, S.kvm_sregs.encode(sregsFor(rng, resetSregs(c), mode, ring3))))) report.setupRefused++;
    const regs: Record<string, bigint> = {};
    for (const r of ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15']) regs[r] = gpr(rng);
    regs.rsp = rng.chance(0.8) ? BigInt(0x80000 + rng.int(0x7f000)) : gpr(rng);
    regs.rip = mode === 'real' || mode === 'vm86' || mode === 'prot16' ? BigInt(rip & 0xffff) : BigInt(rip);
    regs.rflags = rflags(rng, mode);
    if (!guarded(found, 'KVM_SET_REGS', () => void sys.ioctl(c.fd, REQ.KVM_SET_REGS, S.kvm_regs.encode(regs)))) report.setupRefused++;
    extras(rng, c, rip, found, report);

    const maxExits = opts.maxExits ?? 6;
    for (let n = 0; n < maxExits; n++) {
      step = n;
      // Page tables outside every memslot, in the unbacked slot, in ROM or in MMIO (issue 19):
      // the host-side walks (KVM_TRANSLATE, KVMI translate-gva) must answer, and KVM_RUN go on.
      if (rng.chance(0.1)) movePageTables(rng, c, found, mode);
      if (tool && rng.chance(0.5)) for (let k = rng.range(1, 4); k > 0; k--) tool.translate(rng.chance(0.5) ? BigInt(rng.int(RAM)) : rng.u64());
      const t = performance.now();
      let err: unknown;
      try {
        sys.ioctl(c.fd, REQ.KVM_RUN, 0);
      } catch (e) {
        err = e;
      }
      const ms = performance.now() - t;
      report.kvmRuns++;
      if (ms > report.maxRunMs) {
        report.maxRunMs = ms;
        report.slowest = `${index}.${n}`;
      }
      if (ms > (opts.hangMs ?? 2000)) found('hang', `KVM_RUN #${n} (${mode})`, `${ms.toFixed(0)} ms`);
      const ie = takeInternalError(sys, c.fd);
      if (ie !== undefined) found('internal', `KVM_RUN #${n} (${mode})`, `JS exception swallowed by the run loop: ${ie instanceof Error ? `${ie.message}\n${ie.stack?.split('\n').slice(1, 5).join('\n')}` : String(ie)}`);
      if (err !== undefined) {
        const bad = badError(err, 'ioctl');
        if (bad) {
          found(bad.startsWith('escape') ? 'escape' : 'errno', `KVM_RUN #${n} (${mode})`, bad);
          break;
        }
        const code = (err as { code: string }).code;
        report.errnos.add(code);
        if (!RUN_ERRNOS.has(code)) found('errno', `KVM_RUN #${n} (${mode})`, `KVM_RUN failed with ${code}`);
        opts.log?.(`${index}.${n} ${mode} -> ${code}`);
        // EINTR: the run budget ran out, the guest is looping; going on rarely finds more.
        if (code !== 'EINTR' || rng.chance(0.8)) break;
        continue;
      }
      let reason: number;
      try {
        reason = checkExit('x86_64', c.area);
      } catch (e) {
        found('exit', `KVM_RUN #${n} (${mode})`, (e as Error).message);
        break;
      }
      const exit = c.exit();
      report.exits.add(exit.reason);
      if (opts.log) opts.log(`${index}.${n} ${mode} -> ${exit.reason} ${describe(c, exit, mem)}`);
      if (exit.reason === 'internal_error') {
        report.unsupported.add(exit.insnBytes?.length ? `${mode}:${Buffer.from(exit.insnBytes.subarray(0, 3)).toString('hex')}` : `${mode}:no bytes`);
        break;
      }
      if (reason === KVM_EXIT.SHUTDOWN || reason === KVM_EXIT.FAIL_ENTRY || reason === KVM_EXIT.SYSTEM_EVENT) break;
      // Answer the exit the way a VMM would, with random data.
      if (exit.reason === 'io' && exit.direction === 'in') rng.fill(exit.data);
      else if (exit.reason === 'mmio' && !exit.isWrite) rng.fill(exit.data);
      else if (exit.reason === 'x86_rdmsr' || exit.reason === 'x86_wrmsr') exit.reply(rng.chance(0.5) ? { data: rng.u64() } : { error: true });
      else if (exit.reason === 'hypercall') exit.setRet(rng.u64());
      // Sometimes the VMM looks at or changes the state between runs.
      if (rng.chance(0.15)) pokeState(rng, c, found, mode);
    }
  } catch (e) {
    const bad = badError(e, 'ioctl');
    if (bad) found(bad.startsWith('escape') ? 'escape' : 'errno', 'setup', bad);
  } finally {
    vcpu?.close();
    vm.close();
  }
}

function gpr(rng: Rng): bigint {
  return rng.weighted<bigint>([[3, BigInt(rng.int(RAM))], [2, rng.interesting(64)], [2, BigInt(rng.int(0x10000))], [2, rng.u64()]]);
}

function rflags(rng: Rng, mode: Mode): bigint {
  let f = 2;
  for (const bit of [0, 2, 4, 6, 7, 10, 11]) if (rng.chance(0.4)) f |= 1 << bit; // CF PF AF ZF SF DF OF
  if (rng.chance(0.5)) f |= 1 << 9; // IF
  if (rng.chance(0.08)) f |= 1 << 8; // TF
  if (rng.chance(0.1)) f |= rng.int(4) << 12; // IOPL
  if (rng.chance(0.05)) f |= 1 << 14; // NT
  if (rng.chance(0.05)) f |= 1 << 16; // RF
  if (rng.chance(0.1)) f |= 1 << 18; // AC
  if (rng.chance(0.1)) f |= 1 << 21; // ID
  if (mode === 'vm86') f |= 1 << 17; // VM
  if (rng.chance(0.02)) f = rng.u32() | 2;
  return BigInt(f >>> 0);
}

function buildMemory(rng: Rng, mem: Uint8Array, dv: DataView, mode: Mode): void {
  // Some random data everywhere code might reach, plus the structures the mode needs.
  if (rng.chance(0.5)) rng.fill(mem, 0x20000, 0x24000);
  if (rng.chance(0.2)) rng.fill(mem, 0x80000, 0x84000);
  GDT_ENTRIES.forEach((d, i) => dv.setBigUint64(GDT + 8 * i, d, true));
  // 64-bit TSS descriptor (also fine as a 32-bit one) at 0x48.
  dv.setBigUint64(GDT + TSS_SEL, 0x00008b0000000067n | (BigInt(TSS) << 16n), true);
  for (let i = 11; i < 32; i++) dv.setBigUint64(GDT + 8 * i, rng.chance(0.5) ? rng.u64() : GDT_ENTRIES[rng.int(GDT_ENTRIES.length)]! ^ (1n << BigInt(rng.int(64))), true);
  if (rng.chance(0.2)) for (let i = 1; i < 9; i++) if (rng.chance(0.2)) dv.setBigUint64(GDT + 8 * i, rng.u64(), true);
  // TSS: stacks for privilege changes and interrupts.
  rng.fill(mem, TSS, TSS + 0x68);
  dv.setUint32(TSS + 4, 0x70000, true); // esp0 / rsp0 low
  dv.setUint32(TSS + 8, rng.chance(0.8) ? 0 : rng.u32(), true);
  // Handler stubs: out 0x80 with the vector in al, then hlt; or random bytes.
  for (let v = 0; v < 256; v++) {
    const a = STUBS + 16 * v;
    if (rng.chance(0.9)) mem.set([0xb0, v, 0xe6, 0x80, 0xf4, 0xeb, 0xfe], a);
    else rng.fill(mem, a, a + 16);
  }
  // IVT (real mode) at 0, IDT at IDT: gates to the stubs.
  const long = mode === 'long64' || mode === 'compat';
  for (let v = 0; v < 256; v++) {
    dv.setUint16(4 * v, (STUBS + 16 * v) & 0xffff, true);
    dv.setUint16(4 * v + 2, 0, true);
    const h = STUBS + 16 * v;
    const type = rng.chance(0.9) ? rng.pick([0xe, 0xf]) : rng.int(16);
    const attr = (rng.chance(0.97) ? 0x80 : 0) | (rng.chance(0.85) ? 0 : rng.int(4) << 5) | type;
    if (long) {
      const e = IDT + 16 * v;
      dv.setUint16(e, h & 0xffff, true);
      dv.setUint16(e + 2, rng.chance(0.95) ? 0x18 : rng.pick([0x08, 0x40, 0, rng.int(0x10000)]), true);
      dv.setUint8(e + 4, rng.chance(0.9) ? 0 : rng.int(8)); // IST
      dv.setUint8(e + 5, attr);
      dv.setUint16(e + 6, h >>> 16, true);
      dv.setUint32(e + 8, 0, true);
    } else {
      const e = IDT + 8 * v;
      dv.setUint16(e, h & 0xffff, true);
      dv.setUint16(e + 2, rng.chance(0.95) ? (mode === 'prot16' ? 0x20 : 0x08) : rng.pick([0x30, 0x18, 0, rng.int(0x10000)]), true);
      dv.setUint8(e + 4, 0);
      dv.setUint8(e + 5, attr);
      dv.setUint16(e + 6, h >>> 16, true);
    }
  }
  // Page tables: identity maps with random permission bits and some holes.
  const perm = (): number => {
    let p = 0x7; // P RW US
    if (rng.chance(0.1)) p &= ~2;
    if (rng.chance(0.15)) p &= ~4;
    if (rng.chance(0.03)) p &= ~1;
    return p;
  };
  if (mode === 'prot32-paging') {
    // PD at PT; PDE 0 -> page table at PT+0x1000 (4 KiB pages); other PDEs 4 MiB pages (PSE).
    dv.setUint32(PT, (PT + 0x1000) | perm(), true);
    for (let i = 0; i < 1024; i++) dv.setUint32(PT + 0x1000 + 4 * i, (i << 12) | perm(), true);
    for (let i = 1; i < 1024; i++) if (rng.chance(0.3)) dv.setUint32(PT + 4 * i, ((i << 22) | 0x80 | perm()) >>> 0, true);
  } else if (mode === 'prot32-pae' || long) {
    const nx = (): bigint => (rng.chance(0.1) ? 1n << 63n : 0n);
    if (long) {
      dv.setBigUint64(PT, BigInt(PT + 0x1000) | BigInt(perm()), true); // PML4[0]
      for (let i = 1; i < 512; i++) if (rng.chance(0.05)) dv.setBigUint64(PT + 8 * i, rng.u64(), true);
      dv.setBigUint64(PT + 0x1000, BigInt(PT + 0x2000) | BigInt(perm()), true); // PDPT[0]
      if (rng.chance(0.3)) dv.setBigUint64(PT + 0x1000 + 8, (1n << 30n) | 0x83n | nx(), true); // a 1 GiB page
    } else {
      for (let i = 0; i < 4; i++) dv.setBigUint64(PT + 8 * i, BigInt(PT + 0x2000) | 1n, true); // PDPTEs
      if (rng.chance(0.1)) dv.setBigUint64(PT + 8 * rng.int(4), rng.u64(), true);
    }
    // PD: entry 0 -> 4 KiB table, the rest 2 MiB pages.
    dv.setBigUint64(PT + 0x2000, BigInt(PT + 0x3000) | BigInt(perm()) | nx(), true);
    for (let i = 1; i < 512; i++) dv.setBigUint64(PT + 0x2000 + 8 * i, (BigInt(i) << 21n) | 0x80n | BigInt(perm()) | nx(), true);
    for (let i = 0; i < 512; i++) dv.setBigUint64(PT + 0x3000 + 8 * i, (BigInt(i) << 12n) | BigInt(perm()) | nx(), true);
    for (let i = 0; i < 8; i++) if (rng.chance(0.2)) dv.setBigUint64(PT + 0x2000 + rng.int(0x2000), rng.u64(), true);
  }
}

/** Random code at `rip`: raw bytes, or x86-shaped noise (prefixes, escapes, ModRM). */
function writeCode(rng: Rng, mem: Uint8Array, rip: number): void {
  const len = rng.weighted([[3, 16], [4, 64], [2, 256], [1, 1024]]);
  const end = Math.min(RAM, rip + len);
  if (rng.chance(0.5)) {
    rng.fill(mem, rip, end);
    return;
  }
  const PREFIXES = [0x66, 0x67, 0xf2, 0xf3, 0xf0, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0x40, 0x48, 0x41, 0x4c, 0x4f];
  let a = rip;
  while (a < end) {
    const k = rng.int(10);
    if (k < 2) mem[a++] = rng.pick(PREFIXES);
    else if (k < 4) {
      mem[a++] = 0x0f;
      if (a < end) mem[a++] = rng.chance(0.15) ? rng.pick([0x38, 0x3a, 0x01, 0x00, 0xae, 0xc7]) : rng.int(256);
    } else mem[a++] = rng.int(256);
    // ModRM / SIB / displacement / immediate bytes.
    for (let i = rng.int(5); i > 0 && a < end; i--) mem[a++] = rng.int(256);
  }
}

type Seg = X86Sregs['cs'];

function seg(base: number, limit: number, selector: number, type: number, dpl: number, db: number, l: number, g: number, s = 1): Seg {
  return { base: BigInt(base), limit, selector, type, present: 1, dpl, db, s, l, g, avl: 0, unusable: 0, padding: 0 };
}

function mutateSeg(rng: Rng, sg: Seg): Seg {
  const m = { ...sg };
  switch (rng.int(8)) {
    case 0: m.base = rng.chance(0.5) ? BigInt(rng.int(RAM)) : rng.interesting(64); break;
    case 1: m.limit = rng.chance(0.5) ? rng.int(0x10000) : rng.u32(); break;
    case 2: m.type = rng.int(16); break;
    case 3: m.present = rng.int(2); break;
    case 4: m.dpl = rng.int(4); break;
    case 5: m.db = rng.int(2); m.l = rng.int(2); break;
    case 6: m.g = rng.int(2); m.s = rng.int(2); break;
    default: m.unusable = rng.int(2); m.selector = rng.int(0x10000); break;
  }
  return m;
}

function sregsFor(rng: Rng, cur: X86Sregs, mode: Mode, ring3: boolean): X86Sregs {
  const s: X86Sregs = { ...cur };
  const gdt = { base: BigInt(GDT), limit: 32 * 8 - 1, padding: [0, 0, 0] };
  const long = mode === 'long64' || mode === 'compat';
  const idt = { base: BigInt(mode === 'real' || mode === 'vm86' ? 0 : IDT), limit: mode === 'real' || mode === 'vm86' ? 0x3ff : long ? 256 * 16 - 1 : 256 * 8 - 1, padding: [0, 0, 0] };
  s.gdt = gdt;
  s.idt = rng.chance(0.95) ? idt : { base: rng.interesting(64), limit: rng.int(0x10000), padding: [0, 0, 0] };
  const tr = seg(TSS, 0x67, TSS_SEL, 11, 0, 0, 0, 0, 0);
  s.tr = tr;
  s.ldt = { ...seg(0, 0xffff, 0, 2, 0, 0, 0, 0, 0), unusable: 1, present: 0 };
  if (mode === 'real' || mode === 'vm86') {
    const base = rng.chance(0.8) ? 0 : rng.int(0x1000) << 4;
    const r = (type: number) => seg(base, 0xffff, base >>> 4, type, mode === 'vm86' ? 3 : 0, 0, 0, 0);
    Object.assign(s, { cs: r(11), ds: r(3), es: r(3), ss: r(3), fs: r(3), gs: r(3) });
    s.cr0 = mode === 'vm86' ? 0x11n : 0x60000010n;
    s.cr4 = 0n;
    s.efer = 0n;
  } else {
    const dpl = ring3 ? 3 : 0;
    const code = mode === 'prot16' ? seg(0, 0xffff, 0x20, 11, 0, 0, 0, 0) : mode === 'long64' ? seg(0, 0xffffffff, ring3 ? 0x43 : 0x18, 11, dpl, 0, 1, 1) : seg(0, 0xffffffff, ring3 ? 0x33 : 0x08, 11, dpl, 1, 0, 1);
    const data = mode === 'prot16' ? seg(0, 0xffff, 0x28, 3, 0, 0, 0, 0) : seg(0, 0xffffffff, ring3 ? 0x3b : 0x10, 3, dpl, 1, 0, 1);
    Object.assign(s, { cs: code, ds: data, es: data, ss: data, fs: data, gs: data });
    let cr0 = 0x11n; // PE ET
    if (rng.chance(0.7)) cr0 |= 0x20n; // NE
    if (rng.chance(0.3)) cr0 |= 0x10000n; // WP
    if (rng.chance(0.2)) cr0 |= 0x40000n; // AM
    if (rng.chance(0.1)) cr0 |= 0x8n; // TS
    if (rng.chance(0.1)) cr0 |= 0x4n; // EM
    if (rng.chance(0.3)) cr0 |= 0x2n; // MP
    let cr4 = 0n;
    if (rng.chance(0.5)) cr4 |= 0x200n | 0x400n; // OSFXSR OSXMMEXCPT
    if (rng.chance(0.2)) cr4 |= 0x80n; // PGE
    if (rng.chance(0.1)) cr4 |= 0x800n; // UMIP
    if (rng.chance(0.1)) cr4 |= 0x10000n; // FSGSBASE
    if (rng.chance(0.1)) cr4 |= 0x40000n; // OSXSAVE
    if (rng.chance(0.05)) cr4 |= 0x8n; // DE
    let efer = 0n;
    if (rng.chance(0.5)) efer |= 1n; // SCE
    if (mode === 'prot32-paging') {
      cr0 |= 0x80000000n;
      cr4 |= rng.chance(0.8) ? 0x10n : 0n; // PSE
      s.cr3 = BigInt(PT);
    } else if (mode === 'prot32-pae') {
      cr0 |= 0x80000000n;
      cr4 |= 0x20n;
      if (rng.chance(0.5)) efer |= 0x800n; // NXE
      s.cr3 = BigInt(PT);
    } else if (long) {
      cr0 |= 0x80000000n;
      cr4 |= 0x20n;
      efer |= 0x500n; // LME LMA
      if (rng.chance(0.5)) efer |= 0x800n;
      s.cr3 = BigInt(PT);
    }
    s.cr0 = cr0;
    s.cr4 = cr4;
    s.efer = efer;
  }
  // Perturbations: segment attributes, control-register bits, a random selector load.
  const segs = ['cs', 'ds', 'es', 'ss', 'fs', 'gs', 'tr', 'ldt'] as const;
  for (let i = rng.weighted([[6, 0], [3, 1], [1, 3]]); i > 0; i--) {
    const k = rng.pick(segs);
    s[k] = mutateSeg(rng, s[k]);
  }
  if (rng.chance(0.05)) s.cr0 ^= 1n << BigInt(rng.int(32));
  if (rng.chance(0.05)) s.cr4 ^= 1n << BigInt(rng.int(24));
  if (rng.chance(0.03)) s.efer ^= 1n << BigInt(rng.int(16));
  if (rng.chance(0.05)) s.cr3 = rng.interesting(64) & ~0xfffn;
  if (rng.chance(0.1)) s.fs = { ...s.fs, base: rng.interesting(64) };
  if (rng.chance(0.1)) s.gs = { ...s.gs, base: rng.interesting(64) };
  s.cr2 = rng.chance(0.1) ? rng.u64() : 0n;
  s.cr8 = BigInt(rng.chance(0.1) ? rng.int(16) : 0);
  return s;
}

/** Debug registers, guest debug, queued events, CPUID, MSRs: each sometimes. */
function extras(rng: Rng, c: Vcpu, rip: number, found: (k: Finding['kind'], w: string, d: string) => void, report: GuestFuzzReport): void {
  const near = () => BigInt(rip + rng.int(64));
  const tryIt = (what: string, f: () => void) => {
    if (!guarded(found, what, f)) report.setupRefused++;
  };
  if (rng.chance(0.1)) {
    const dr7 = BigInt(rng.u32()) & 0xffff_23ffn;
    tryIt('KVM_SET_DEBUGREGS', () => c.setDebugRegs({ db: [near(), near(), BigInt(0x20000 + rng.int(0x100)), rng.u64()], dr6: 0xffff0ff0n, dr7: dr7 | 0x400n, flags: 0n }));
  }
  if (rng.chance(0.1)) {
    const control = 1 | (rng.chance(0.5) ? 2 : 0) | (rng.chance(0.3) ? 0x10000 : 0) | (rng.chance(0.3) ? 0x20000 : 0);
    tryIt('KVM_SET_GUEST_DEBUG', () => c.setGuestDebug(control, { debugreg: [near(), near(), 0n, 0n, 0n, 0n, 0n, BigInt(rng.u32() & 0xffff00ff) | 0x400n] }));
  }
  if (rng.chance(0.08)) {
    const nr = rng.weighted<number>([[8, rng.int(32)], [1, rng.int(256)]]);
    tryIt('KVM_SET_VCPU_EVENTS', () => c.setVcpuEvents({ exception: { injected: 1, nr, has_error_code: rng.int(2), error_code: rng.u32() }, flags: 0 }));
  }
  if (rng.chance(0.05)) tryIt('KVM_INTERRUPT', () => c.vm.sys.ioctl(c.fd, REQ.KVM_INTERRUPT, S.kvm_interrupt.encode({ irq: rng.int(256) })));
  if (rng.chance(0.03)) tryIt('KVM_NMI', () => c.vm.sys.ioctl(c.fd, REQ.KVM_NMI, 0));
  if (rng.chance(0.2)) tryIt('KVM_SET_CPUID2', () => void c.vm.sys.ioctl(c.fd, REQ.KVM_SET_CPUID2, cpuidBytes(c)));
  if (rng.chance(0.1)) {
    const msrs: [number, bigint][] = [[0xc0000081, rng.u64()], [0xc0000082, BigInt(rip)], [0xc0000084, rng.u64() & 0xffffffffn], [0x174, 0x08n], [0x175, 0x70000n], [0x176, BigInt(rip)], [0xc0000100, rng.interesting(64)], [0xc0000101, rng.interesting(64)], [0xc0000102, rng.u64()]];
    tryIt('KVM_SET_MSRS', () => void c.setMsrs(msrs));
  }
  if (rng.chance(0.05)) tryIt('KVM_ENABLE_CAP(X86_USER_SPACE_MSR)', () => void c.vm.enableCap(188, [7]));
}

/** A KVMI tool hooked to the VM in this thread; its replies are not awaited (the run loop reads the commands). */
function hookTool(sys: Sys, vmFd: number): { translate(gva: bigint): void } {
  const { kernel, tool } = kvmiInProcessPair();
  const fd = kvmiSocketFd(sys, kernel);
  const b = new Uint8Array(24);
  new DataView(b.buffer).setInt32(0, fd, true);
  sys.ioctl(vmFd, x86_64.ioctls.KVM_INTROSPECTION_HOOK!.request, b);
  sys.close(fd);
  const allow = new Uint8Array(8);
  new DataView(allow.buffer).setUint32(0, 1, true);
  new DataView(allow.buffer).setInt32(4, -1, true);
  sys.ioctl(vmFd, x86_64.ioctls.KVM_INTROSPECTION_COMMAND!.request, allow);
  const client = new KvmiClient(tool);
  return {
    translate(gva) {
      const body = new Uint8Array(kvmi_vcpu_hdr.size + kvmi_vcpu_translate_gva.size);
      kvmi_vcpu_hdr.encodeInto({ vcpu: 0, padding1: 0, padding2: 0 }, body);
      kvmi_vcpu_translate_gva.encodeInto({ gva }, body, kvmi_vcpu_hdr.size);
      client.request(KVMI_MSG.VCPU_TRANSLATE_GVA, body).catch(() => undefined);
    },
  };
}

/** Points CR3 where the kernel cannot read page tables from, then asks for a translation. */
function movePageTables(rng: Rng, c: Vcpu, found: (k: Finding['kind'], w: string, d: string) => void, mode: Mode): void {
  const cr3 = rng.pick([0x7fff_0000n, BigInt(RAM), BigInt(RAM + 0x10000), BigInt(RAM + 0x30000), 0xfee0_0000n, 1n << 38n, BigInt(rng.int(RAM)) & ~0xfffn]);
  guarded(found, `KVM_SET_SREGS(cr3 0x${cr3.toString(16)}) (${mode})`, () => c.setSregs({ cr3 }));
  guarded(found, `KVM_TRANSLATE with cr3 0x${cr3.toString(16)} (${mode})`, () => void c.vm.sys.ioctl(c.fd, REQ.KVM_TRANSLATE, S.kvm_translation.encode({ linear_address: rng.chance(0.5) ? BigInt(rng.int(RAM)) : rng.u64() })));
}

function pokeState(rng: Rng, c: Vcpu, found: (k: Finding['kind'], w: string, d: string) => void, mode: Mode): void {
  const read = () => {
    c.getRegs();
    c.getSregs();
    c.getVcpuEvents();
    c.getFpu();
    c.getDebugRegs();
    c.vm.sys.ioctl(c.fd, REQ.KVM_TRANSLATE, S.kvm_translation.encode({ linear_address: rng.chance(0.5) ? BigInt(rng.int(RAM)) : rng.u64() }));
  };
  guarded(found, `read state (${mode})`, read);
  if (rng.chance(0.3)) guarded(found, `KVM_SET_REGS between runs (${mode})`, () => c.setRegs({ rip: BigInt(CODE + rng.int(0x7000)), rflags: rflags(rng, mode) }));
}


/** Exit and state details for replay logs. */
function describe(c: Vcpu, exit: ReturnType<Vcpu['exit']>, mem: Uint8Array): string {
  const r = c.getRegs();
  const sr = c.getSregs();
  const lin = Number((sr.cs.base + r.rip) & 0xfffffn);
  const at = Buffer.from(mem.subarray(lin, lin + 16)).toString('hex');
  const e = JSON.stringify(exit, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v));
  return `${e} rip=0x${r.rip.toString(16)} cs=${sr.cs.selector.toString(16)}/${sr.cs.base.toString(16)} cr0=${sr.cr0.toString(16)} bytes@rip=${at}`;
}
