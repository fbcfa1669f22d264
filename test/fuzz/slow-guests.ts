/**
 * The slow-path guest fuzzer (issue 19): guests built to make each instruction expensive — an
 * exception storm through a vector table that points back at the faulting code (real-mode IVT,
 * protected/long-mode IDT at CPL0 or CPL3, kernel-half addresses, arm64 vectors at EL1 or EL0),
 * loops storing into their own code page (plain stores, REP STOS/MOVS, arm64 STR/STP), and the
 * arm64 vCPU at its reset state after KVM_ARM_VCPU_INIT with no memory — with random registers
 * and operand choices, each under a random `runTimeoutMs` and an instruction budget too large to
 * matter.
 *
 * Oracle: every KVM_RUN returns EINTR with exit_reason KVM_EXIT_INTR (or a defined exit / errno,
 * checked as the other fuzzers do) within its bound: in wall time, or — when the machine starved
 * the process meanwhile — in CPU time (the work done past the deadline is what vkvm controls).
 * @module
 */
import { Kvm, KVM_EXIT, KvmError, virtualSys, type Sys, type Vcpu } from '../../src/index.js';
import { coreRegId, sysRegId } from '../../src/uapi/arm64.js';
import { enterMode } from '../helpers/x86.js';
import { badError, checkExit, Findings, RUN_ERRNOS, Tally, type Finding } from './oracle.js';
import { mixSeed, Rng } from './rng.js';

export interface SlowFuzzOptions {
  readonly seed: number;
  readonly runs: number;
  readonly firstRun?: number;
  /** KVM_RUNs per guest. Default 2. */
  readonly runsPerGuest?: number;
  /** How far past its bound a KVM_RUN may return (wall, or CPU when starved; GC pauses count). Default 300 ms. */
  readonly slackMs?: number;
  readonly onFinding?: (f: Finding) => void;
}

export interface SlowFuzzReport {
  readonly seed: number;
  runs: number;
  kvmRuns: number;
  readonly shapes: Tally;
  readonly outcomes: Tally;
  readonly findings: Findings;
  /** The largest (min of wall, CPU) overshoot past the bound seen, in ms. */
  maxOvershootMs: number;
  elapsedMs: number;
}

type Shape = 'x86-real-storm' | 'x86-prot-storm' | 'x86-long-storm' | 'x86-smc' | 'x86-rep-smc' | 'arm64-reset' | 'arm64-vector-storm' | 'arm64-smc';
const SHAPES: readonly Shape[] = ['x86-real-storm', 'x86-prot-storm', 'x86-long-storm', 'x86-smc', 'x86-rep-smc', 'arm64-reset', 'arm64-vector-storm', 'arm64-smc'];

/** Faulting x86 instructions (they raise before retiring): DIV by zero, UD2, INT3-free #GP/#PF sources. */
const X86_FAULTS: readonly (readonly number[])[] = [
  [0x31, 0xc9, 0xf7, 0xf1], // xor cx,cx; div cx / xor ecx,ecx; div ecx
  [0x0f, 0x0b], // ud2
  [0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x80], // mov eax,[0x80000000] (long mode: #PF; else MMIO)
  [0x0f, 0x01, 0xf8], // swapgs (#UD outside long mode, #GP at CPL3)
  [0xfa], // cli (#GP at CPL3 with IOPL 0)
  [0xf4], // hlt (#GP at CPL3)
];

export function fuzzSlowGuests(opts: SlowFuzzOptions): SlowFuzzReport {
  const report: SlowFuzzReport = { seed: opts.seed, runs: 0, kvmRuns: 0, shapes: new Tally(), outcomes: new Tally(), findings: new Findings(), maxOvershootMs: 0, elapsedMs: 0 };
  const t0 = performance.now();
  for (let r = 0; r < opts.runs; r++) {
    const index = (opts.firstRun ?? 0) + r;
    runOne(new Rng(mixSeed(opts.seed, index)), index, opts, report);
    report.runs++;
  }
  report.elapsedMs = performance.now() - t0;
  return report;
}

function runOne(rng: Rng, index: number, opts: SlowFuzzOptions, report: SlowFuzzReport): void {
  const shape = rng.pick(SHAPES);
  report.shapes.add(shape);
  const bound = rng.range(5, 60);
  const arm = shape.startsWith('arm64');
  const sys = virtualSys({ arch: arm ? 'arm64' : 'x86_64', runTimeoutMs: bound, runBudget: 2 ** 40, jit: rng.chance(0.5), ...(rng.chance(0.3) ? { jitHotness: 0 } : {}) });
  let step = 0;
  const found = (kind: Finding['kind'], what: string, detail: string) => {
    const f: Finding = { kind, seed: opts.seed, index, step, what, detail };
    report.findings.add(f);
    opts.onFinding?.(f);
  };
  let vcpu: Vcpu;
  try {
    vcpu = arm ? armGuest(sys, rng, shape) : x86Guest(sys, rng, shape);
  } catch (e) {
    const bad = badError(e, 'ioctl');
    if (bad) found('escape', `setup ${shape}`, bad);
    return;
  }
  for (let n = 0; n < (opts.runsPerGuest ?? 2); n++) {
    step = n;
    const c0 = process.cpuUsage();
    const t = performance.now();
    let err: unknown;
    try {
      vcpu.vm.sys.ioctl(vcpu.fd, vcpu.vm.kvm.req('KVM_RUN'), 0); // the raw ioctl: vcpu.run() turns EINTR into 'intr'
    } catch (e) {
      err = e;
    }
    const wall = performance.now() - t;
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / 1000;
    report.kvmRuns++;
    const over = Math.min(wall, cpu) - bound;
    if (over > report.maxOvershootMs) report.maxOvershootMs = over;
    if (process.env.SLOW_DEBUG && over > 20) console.log(`${index}.${n} ${shape} bound ${bound} wall ${wall.toFixed(0)} cpu ${cpu.toFixed(0)}`);
    if (over > (opts.slackMs ?? 300)) found('hang', `KVM_RUN #${n} (${shape}, bound ${bound} ms)`, `returned after ${wall.toFixed(0)} ms wall / ${cpu.toFixed(0)} ms CPU`);
    if (err !== undefined) {
      const bad = badError(err, 'ioctl');
      if (bad) {
        found(bad.startsWith('escape') ? 'escape' : 'errno', `KVM_RUN #${n} (${shape})`, bad);
        return;
      }
      const code = (err as KvmError).code;
      report.outcomes.add(code);
      if (!RUN_ERRNOS.has(code)) found('errno', `KVM_RUN #${n} (${shape})`, `KVM_RUN failed with ${code}`);
      if (code === 'EINTR' && vcpu.kvmRun.exit_reason !== KVM_EXIT.INTR) found('exit', `KVM_RUN #${n} (${shape})`, `EINTR with exit_reason ${vcpu.kvmRun.exit_reason}, not KVM_EXIT_INTR`);
      if (code !== 'EINTR') return;
      continue;
    }
    try {
      report.outcomes.add(`exit ${checkExit(arm ? 'arm64' : 'x86_64', vcpu.area)}`);
    } catch (e) {
      found('exit', `KVM_RUN #${n} (${shape})`, (e as Error).message);
      return;
    }
    const e = vcpu.exit();
    if (e.reason === 'mmio' && !e.isWrite) e.data.fill(0);
    if (e.reason === 'io' && e.direction === 'in') e.data.fill(0);
  }
}

/** x86 slow-path guests: 64 KiB of RAM at 0 (2 MiB in long mode), code at 0x1000. */
function x86Guest(sys: Sys, rng: Rng, shape: Shape): Vcpu {
  const vm = Kvm.open(sys).createVm();
  const size = shape === 'x86-long-storm' ? 0x20_0000 : 0x2_0000;
  const ram = sys.alloc(size);
  const m = ram.bytes;
  const dv = new DataView(m.buffer, m.byteOffset, size);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: size, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  const code = 0x1000;
  switch (shape) {
    case 'x86-real-storm': {
      enterMode(vcpu, 'real');
      const f = rng.pick(X86_FAULTS.slice(0, 4));
      m.set(f, code);
      // Every IVT vector -> the faulting code; the stack in its own segment so it wraps harmlessly.
      for (let v = 0; v < 256; v++) dv.setUint32(v * 4, code, true);
      const s = vcpu.getSregs();
      vcpu.setSregs({ ss: { ...s.ss, selector: 0x1000, base: 0x10000n } });
      vcpu.setRegs({ rip: BigInt(code), rsp: BigInt(rng.int(0x10000)), rflags: 2n, rax: rng.u64(), rdx: rng.u64() });
      break;
    }
    case 'x86-prot-storm':
    case 'x86-long-storm': {
      const long = shape === 'x86-long-storm';
      enterMode(vcpu, long ? 'long64' : 'prot32');
      if (long) {
        dv.setBigUint64(0x2000, 0x3000n | 7n, true);
        dv.setBigUint64(0x3000, 0x4000n | 7n, true);
        for (let i = 0; i < 512; i++) dv.setBigUint64(0x4000 + 8 * i, (BigInt(i) << 21n) | 0x87n, true);
        // The same 1 GiB mapped in the kernel half too (PML4[511], PDPT[510]).
        dv.setBigUint64(0x2000 + 511 * 8, 0x5000n | 7n, true);
        dv.setBigUint64(0x5000 + 510 * 8, 0x4000n | 7n, true);
      }
      const cpl3 = rng.chance(0.4);
      const kernelHalf = long && rng.chance(0.5);
      const base = kernelHalf ? 0xffff_ffff_8000_0000n : 0n;
      const f = rng.pick(X86_FAULTS);
      m.set(f, code);
      // IDT at 0x800: every vector a gate to the faulting code (DPL 3 so INT n from CPL3 gets there too).
      const cs = long ? 0x18 : 0x08;
      for (let v = 0; v < 256; v++) {
        const off = base + BigInt(code);
        const lo = (off & 0xffffn) | (BigInt(cs) << 16n) | (0xeen << 40n) | (((off >> 16n) & 0xffffn) << 48n);
        if (long) {
          dv.setBigUint64(0x800 + 16 * v, lo, true);
          dv.setBigUint64(0x800 + 16 * v + 8, (off >> 32n) & 0xffff_ffffn, true);
        } else dv.setBigUint64(0x800 + 8 * v, lo, true);
      }
      // GDT at 0x500 with ring-3 code/data; a TSS at 0x600 for the ring switch.
      const gdt = [0n, 0x00cf9b000000ffffn, 0x00cf93000000ffffn, 0x00af9b000000ffffn, 0x00cffb000000ffffn, 0x00cff3000000ffffn, 0x00affb000000ffffn, 0x0000890006000067n, 0n];
      gdt.forEach((d, i) => dv.setBigUint64(0x500 + 8 * i, d, true));
      dv.setBigUint64(0x600 + 4, long ? 0x1f000n + base : 0x1f000n, true); // RSP0 / ESP0
      if (!long) dv.setUint16(0x600 + 8, 0x10, true); // SS0
      const s = vcpu.getSregs();
      const seg = (sel: number, type: number, dpl: number, l: number) => ({ ...s.cs, base: 0n, limit: 0xffffffff, selector: sel | dpl, type, present: 1, dpl, db: l ? 0 : 1, s: 1, l, g: 1, avl: 0, unusable: 0 });
      const ring = cpl3 ? 3 : 0;
      const csSel = cpl3 ? (long ? 0x30 : 0x20) : cs;
      const dsSel = cpl3 ? 0x28 : 0x10;
      vcpu.setSregs({
        cs: seg(csSel, 11, ring, long ? 1 : 0),
        ds: seg(dsSel, 3, ring, 0),
        es: seg(dsSel, 3, ring, 0),
        ss: seg(dsSel, 3, ring, 0),
        tr: { ...s.tr, base: 0x600n, limit: 0x67, selector: 0x38, type: 11, present: 1, s: 0 },
        idt: { base: 0x800n + (kernelHalf ? 0n : 0n), limit: long ? 0xfff : 0x7ff, padding: [0, 0, 0] },
        gdt: { base: 0x500n, limit: 0x47, padding: [0, 0, 0] },
        ...(long ? { cr3: 0x2000n } : {}),
      });
      vcpu.setRegs({ rip: base + BigInt(code), rsp: base + BigInt(0x10000 + rng.int(0xe000)), rflags: 2n, rcx: rng.chance(0.5) ? 0n : rng.u64(), rdx: rng.u64() });
      break;
    }
    case 'x86-smc':
    case 'x86-rep-smc': {
      enterMode(vcpu, 'real');
      const target = code + 0x10 + rng.int(0xef0);
      if (shape === 'x86-smc') {
        // inc byte/word [target] (or add dword) ; jmp back
        const op = rng.pick([[0xfe, 0x06], [0xff, 0x06], [0x66, 0xff, 0x06], [0x80, 0x06]]);
        const insn = [...op, target & 0xff, target >> 8, ...(op[0] === 0x80 ? [rng.int(256)] : [])];
        m.set([...insn, 0xeb, (-(insn.length + 2)) & 0xff], code);
      } else {
        // mov di,target ; mov cx,n ; rep stosb/stosw/movsb ; jmp back
        const n = rng.range(1, 0xffff);
        const op = rng.pick([[0xf3, 0xaa], [0xf3, 0xab], [0xf3, 0xa4]]);
        const insn = [0xbf, target & 0xff, target >> 8, 0xb9, n & 0xff, n >> 8, 0xbe, 0x00, 0x10, ...op];
        m.set([...insn, 0xeb, (-(insn.length + 2)) & 0xff], code);
      }
      vcpu.setRegs({ rip: BigInt(code), rsp: 0x8000n, rflags: 2n, rax: rng.u64() });
      break;
    }
    default:
      throw new Error(shape);
  }
  return vcpu;
}

const ARM_RAM = 0x4000_0000;
const armReg = {
  pc: coreRegId('regs.pc'),
  pstate: coreRegId('regs.pstate'),
  x: (n: number) => coreRegId('regs.regs') + BigInt(2 * n),
  spEl1: coreRegId('sp_el1'),
  VBAR_EL1: sysRegId(3, 0, 12, 0, 0),
};

/** arm64 slow-path guests: 64 KiB of RAM at 0x4000_0000 (none for the reset-state shape). */
function armGuest(sys: Sys, rng: Rng, shape: Shape): Vcpu {
  const vm = Kvm.open(sys).createVm();
  const vcpu = vm.createVcpu(0);
  vcpu.armInit(rng.chance(0.5) ? [2] : []); // KVM_ARM_VCPU_PSCI_0_2 or not
  if (shape === 'arm64-reset') return vcpu; // PC 0, MMU off, nothing mapped anywhere
  const ram = sys.alloc(0x1_0000);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: ARM_RAM, memorySize: 0x1_0000, userspaceAddr: ram.hva });
  const words = new Uint32Array(ram.bytes.buffer, ram.bytes.byteOffset, 0x4000);
  if (shape === 'arm64-vector-storm') {
    // VBAR_EL1 at RAM: every vector slot holds a faulting instruction (UDF, a load from nowhere,
    // an SVC from EL0), and so does the entry point.
    const fault = rng.pick([0x0000_0000 /* udf #0 */, 0xf940_0000 /* ldr x0,[x0] with x0 unmapped */, 0xd400_0001 /* svc #0 */, 0xd4a0_0000 /* brk-like: hlt #0 */]);
    for (let i = 0; i < 0x800 / 4; i++) words[i] = fault;
    words[0x1000 / 4] = fault;
    vcpu.setOneReg(armReg.VBAR_EL1, BigInt(ARM_RAM));
    vcpu.setOneReg(armReg.pc, BigInt(ARM_RAM + 0x1000));
    vcpu.setOneReg(armReg.x(0), rng.chance(0.7) ? 0x10n : rng.u64());
    // EL0t or EL1h.
    vcpu.setOneReg(armReg.pstate, rng.chance(0.5) ? 0x3c5n : 0x3c0n);
    vcpu.setOneReg(armReg.spEl1, BigInt(ARM_RAM + 0xf000));
  } else {
    // str/stp into the code page, then branch back.
    const store = rng.pick([0xb900_0001 /* str w1,[x0] */, 0xf900_0001 /* str x1,[x0] */, 0xa900_0401 /* stp x1,x1,[x0] */, 0x3900_0001 /* strb w1,[x0] */]);
    words[0] = store;
    words[1] = 0x17ff_ffff; // b .-4
    vcpu.setOneReg(armReg.pc, BigInt(ARM_RAM));
    vcpu.setOneReg(armReg.x(0), BigInt(ARM_RAM + 0x10 + rng.int(0xf0) * 8));
    vcpu.setOneReg(armReg.x(1), rng.u64());
  }
  return vcpu;
}
