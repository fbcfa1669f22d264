/**
 * Bench rows for code that runs once or rarely, and for the costly instruction paths:
 *   (f) cold code: a guest of N distinct straight-line instructions (basic blocks of 8, ALU and
 *       stack/memory operations, as kernel code looks) run once, then HLT (x86) / PSCI SYSTEM_OFF
 *       (arm64): first-run MIPS, and in a child process the RSS added per distinct instruction
 *       for a much larger guest (the decoded-block and translation caches must stay bounded);
 *   (g) MMIO round trips per arch: a load from an address outside every memslot, KVM_EXIT_MMIO,
 *       the read completed by the next KVM_RUN;
 *   (h) a 64-bit MUL/IMUL/DIV/IDIV kernel on x86 (and the arm64 MUL/UMULH/UDIV/SDIV equivalent).
 * Times are CPU time of this thread (process.cpuUsage: user + system), so load from other
 * processes on the machine changes them less than it would wall time.
 *
 * The guests are generated here (fixed encodings, listed by each emitter): their instruction
 * counts are known exactly and their size is a parameter.
 * @module
 */
import { readFileSync } from 'node:fs';
import { isKvmError, Kvm, virtualSys, type Vcpu } from '../src/index.js';
import { coreRegId, KVM_ARM_VCPU } from '../src/uapi/arm64.js';
import { X86_BOARD, x86Board } from '../src/vmm/index.js';
import type { GuestArch } from './guests.js';

const X86_ENTRY = 0x100000;
const ARM_BASE = 0x4000_0000;
/** Data page the x86 guests load and store (identity-mapped, below the code). */
const DATA_OFF = 0x8000;
/** The MMIO address the (g) guests read: outside every memslot (x86: within the 1 GiB identity map). */
const MMIO_X86 = 0x3000_0000;
const MMIO_ARM = 0x0900_0000;

// ---- guest generators -------------------------------------------------------------------------

class Emitter {
  readonly bytes: Uint8Array;
  n = 0;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }
  b(...xs: number[]): void {
    for (const x of xs) this.bytes[this.n++] = x & 0xff;
  }
  u32(x: number): void {
    this.b(x, x >>> 8, x >>> 16, x >>> 24);
  }
}

/**
 * x86-64 cold code: `count` instructions in basic blocks of 8 (the 8th a taken `jnz` to the next
 * block), run `loops` times, then HLT. RBX points at the data page. Encodings:
 *   05 id            add eax, imm32
 *   48 89 43 08      mov [rbx+8], rax
 *   48 8d 4c 40 08   lea rcx, [rax+rax*2+8]
 *   31 ca            xor edx, ecx
 *   48 8b 73 08      mov rsi, [rbx+8]
 *   c1 e1 03         shl ecx, 3
 *   0d id            or eax, imm32 (bit 0 set: the jnz below is taken)
 *   75 00            jnz (next instruction)
 */
export function coldX86(count: number, loops = 1): Uint8Array {
  const e = new Emitter(count * 5 + 64);
  // mov r15d, loops (41 bf id): the body runs `loops` times (dec r15d; jnz body at its end).
  e.b(0x41, 0xbf);
  e.u32(loops);
  const body = e.n;
  // mov ebx, DATA_OFF (bb id): one instruction of setup.
  e.b(0xbb);
  e.u32(DATA_OFF);
  for (let i = 1; i < count; i++) {
    switch (i & 7) {
      case 0: e.b(0x05); e.u32(i * 2654435761); break;
      case 1: e.b(0x48, 0x89, 0x43, 0x08); break;
      case 2: e.b(0x48, 0x8d, 0x4c, 0x40, 0x08); break;
      case 3: e.b(0x31, 0xca); break;
      case 4: e.b(0x48, 0x8b, 0x73, 0x08); break;
      case 5: e.b(0xc1, 0xe1, 0x03); break;
      case 6: e.b(0x0d); e.u32(i | 1); break;
      case 7: e.b(0x75, 0x00); break;
    }
  }
  e.b(0x41, 0xff, 0xcf); // dec r15d
  e.b(0x0f, 0x85); // jnz rel32 -> body
  e.u32(body - (e.n + 4));
  e.b(0xf4); // hlt
  return e.bytes.subarray(0, e.n);
}

/** The arm64 cold guest's data page: the page after its code. */
const armDataAddr = (count: number) => ARM_BASE + ((count * 4 + 96 + 0x1fff) & ~0xfff);

/** PSCI SYSTEM_OFF: movz x0,#8; movk x0,#0x8400,lsl#16; hvc #0. */
function armOff(e: Emitter): void {
  e.u32(0xd2800100);
  e.u32(0xf2b08000);
  e.u32(0xd4000002);
}

/**
 * arm64 cold code: `count` instructions in basic blocks of 8 (the 8th a taken `b.ne` to the next
 * block), run `loops` times (subs; b.eq; b body), then PSCI SYSTEM_OFF. X9 points at the data page. Encodings:
 *   91000400+imm  add x0, x0, #imm12
 *   f9000520      str x0, [x9, #8]
 *   8b000401      add x1, x0, x0, lsl #1
 *   ca010042      eor x2, x2, x1
 *   f9400523      ldr x3, [x9, #8]
 *   b2400000      orr x0, x0, #1
 *   f1000004      subs x4, x0, #0 (Z clear: the b.ne below is taken)
 *   54000021      b.ne (next instruction)
 */
export function coldArm(count: number, loops = 1): Uint8Array {
  const e = new Emitter(count * 4 + 64);
  // movz x15, #loops: the body runs `loops` times (subs x15, x15, #1; b.ne body at its end).
  e.u32(0xd280000f | ((loops & 0xffff) << 5));
  const body = e.n;
  // x9 = the page after the code (stores must not land on code: that would be self-modifying):
  // movz x9, #hi16, lsl #16; movk x9, #lo16
  const data = armDataAddr(count);
  e.u32(0xd2a00009 | ((data >>> 16) << 5));
  e.u32(0xf2800009 | ((data & 0xffff) << 5));
  for (let i = 2; i < count; i++) {
    switch (i & 7) {
      case 0: e.u32(0x91000400 | ((i & 0xfff) << 10)); break; // add x0, x0, #imm12
      case 1: e.u32(0xf9000520); break;
      case 2: e.u32(0x8b000401); break;
      case 3: e.u32(0xca010042); break;
      case 4: e.u32(0xf9400523); break;
      case 5: e.u32(0xb2400000); break; // orr x0, x0, #1
      case 6: e.u32(0xf1000004); break; // subs x4, x0, #0
      case 7: e.u32(0x54000021); break; // b.ne .+4
    }
  }
  e.u32(0xf10005ef); // subs x15, x15, #1
  e.u32(0x54000040); // b.eq .+8 (b.ne reaches only 1 MiB back)
  e.u32(0x14000000 | (((body - e.n) / 4) & 0x3ffffff)); // b body
  armOff(e);
  return e.bytes.subarray(0, e.n);
}

// ---- booting ------------------------------------------------------------------------------------

interface Booted {
  sys: ReturnType<typeof virtualSys>;
  kvm: Kvm;
  vcpu: Vcpu;
  close(): void;
}

export function boot(arch: GuestArch, code: Uint8Array, ramBytes: number, opts: Parameters<typeof virtualSys>[0] = {}): Booted {
  const sys = virtualSys({ ...opts, arch });
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const ram = sys.alloc(ramBytes);
  let vcpu: Vcpu;
  if (arch === 'x86_64') {
    const board = x86Board('long', () => {});
    vm.setTssAddr(X86_BOARD.TSS_ADDR);
    board.prepareMemory(ram.bytes);
    ram.bytes.set(code, X86_ENTRY);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: ramBytes, userspaceAddr: ram.hva });
    vcpu = vm.createVcpu(0);
    board.setupVcpu(vcpu, X86_ENTRY, ramBytes, {});
  } else {
    ram.bytes.set(code, 0);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: ARM_BASE, memorySize: ramBytes, userspaceAddr: ram.hva });
    vcpu = vm.createVcpu(0);
    vcpu.armInit([KVM_ARM_VCPU.PSCI_0_2]);
    vcpu.setOneReg(coreRegId('regs.pc'), ARM_BASE);
  }
  return {
    sys,
    kvm,
    vcpu,
    close() {
      vcpu.close();
      vm.close();
      sys.munmap(ram.bytes);
      kvm.close();
    },
  };
}

/** Runs to HLT / SYSTEM_OFF; MMIO reads answer `mmioValue`. Returns exits taken. */
export function runToEnd(arch: GuestArch, vcpu: Vcpu, maxExits = Infinity): number {
  let exits = 0;
  for (;;) {
    let e;
    try {
      e = vcpu.run();
    } catch (err) {
      if (isKvmError(err, 'EINTR')) continue;
      throw err;
    }
    // KVM_RUN's wall-clock bound (EINTR, as the typed run() reports it): run again.
    if (e.reason === 'intr') continue;
    exits++;
    if (e.reason === 'hlt' && arch === 'x86_64') return exits;
    if (e.reason === 'system_event' && arch === 'arm64') return exits;
    if (e.reason === 'mmio') {
      if (!e.isWrite) e.data.fill(0x5a);
      if (exits >= maxExits) return exits;
      continue;
    }
    throw new Error(`${arch} cold guest: unexpected exit ${e.reason}`);
  }
}

const cpuSeconds = (t0: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(t0);
  return (d.user + d.system) / 1e6;
};

/** RAM for a cold guest: its code (at 1 MiB on x86, at the base on arm64), its data page, slack. */
const coldRam = (code: Uint8Array) => Math.max(8 << 20, (code.length + X86_ENTRY + (2 << 20)) & ~0xfffff);

// ---- (f) cold code -----------------------------------------------------------------------------

export interface ColdRow {
  arch: GuestArch;
  instructions: number;
  /** First-run MIPS: instructions / CPU seconds of the one KVM_RUN loop. */
  mips: number;
  cpuSeconds: number;
}

/**
 * Fresh-VM runs before the measured ones: at least this many instructions, so V8 has compiled the
 * emulator's paths (one run of 200k left the first measured runs at half speed, V8's background
 * compiles counted in their CPU time). The guest code is cold in every run all the same: each run
 * boots a new VM, whose block caches start empty. 5M, not 1M: with x86's one-pass path (quick.ts)
 * the CPU-time figure of 200k-instruction runs in one process climbs until about the 22nd run
 * (runs 1-21: 3, 4, 27, 14, 13, 9, 14, 16, 21, 19, 27, 16, 23, 33, 23, 19, 22, 28, 18, 28, 18;
 * from run 22: 27-33 MIPS; wall-clock rates above the CPU ones until then: V8's compiler threads),
 * so with 1M or 3M the median fell inside V8's warm-up of the emulator (3M gave 11.6-26.9 in
 * eight bench runs, 2026-12-06, load 0.2-2).
 */
const COLD_WARMUP_INSNS = 5_000_000;

/**
 * Fresh-VM samples per repeat. One sample is a few ms of CPU time (200k instructions), so a single
 * stall of the host (a page-cache miss, the sibling hyperthread busy) moved a median of three by
 * up to 2x; the median of 5 per repeat stays the median of cold runs, each in a new VM.
 */
const COLD_SAMPLES_PER_REPEAT = 5;

/** First-run MIPS of `count` distinct instructions (a fresh VM each sample; median of 5 per repeat). */
export function coldMips(arch: GuestArch, count: number, repeats: number): ColdRow {
  const code = arch === 'x86_64' ? coldX86(count) : coldArm(count);
  const ram = coldRam(code);
  const samples: number[] = [];
  const warm = Math.max(1, Math.ceil(COLD_WARMUP_INSNS / count));
  for (let r = 0; r < repeats * COLD_SAMPLES_PER_REPEAT + warm; r++) {
    const g = boot(arch, code, ram);
    try {
      const t0 = process.cpuUsage();
      runToEnd(arch, g.vcpu);
      if (r >= warm) samples.push(cpuSeconds(t0)); // the first runs warm V8 up
    } finally {
      g.close();
    }
  }
  samples.sort((a, b) => a - b);
  const s = samples[samples.length >> 1]!;
  return { arch, instructions: count, mips: count / s / 1e6, cpuSeconds: s };
}

/**
 * Child process: RSS added by running `count` distinct instructions twice (so every block is
 * decoded into the cache: the worst case), after a warm-up guest of the same shape so the code
 * paths themselves are resident; per distinct instruction.
 */
export function coldRssChild(arch: GuestArch, count: number): void {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
  const rss = () => {
    gc();
    gc();
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : process.memoryUsage().rss;
  };
  const code = arch === 'x86_64' ? coldX86(count, 2) : coldArm(count, 2);
  const ramBytes = coldRam(code);
  {
    const w = boot(arch, coldX86Or(arch, 20_000), 8 << 20);
    // (twice, as below)
    runToEnd(arch, w.vcpu);
    w.close();
  }
  const g = boot(arch, code, ramBytes);
  const before = rss();
  runToEnd(arch, g.vcpu);
  const after = rss(); // the VM is still open: its caches are live
  g.close();
  process.stdout.write(JSON.stringify({ arch, count, before, after, perInsn: (after - before) / count }) + '\n');
}

const coldX86Or = (arch: GuestArch, n: number) => (arch === 'x86_64' ? coldX86(n, 2) : coldArm(n, 2));

// ---- (g) MMIO round trip -----------------------------------------------------------------------

/**
 * An MMIO read loop: x86 `mov eax, [rbx]` (8b 03) ; `jmp -4` (eb fc) with RBX = MMIO_X86;
 * arm64 `ldr w0, [x9]` (b9400120) ; `b .-4` (17ffffff) with X9 = MMIO_ARM. Returns ns per
 * KVM_RUN -> KVM_EXIT_MMIO -> KVM_RUN (CPU time, median of batches).
 */
export function mmioRoundTrip(arch: GuestArch, iterations: number, repeats: number, write = false): number {
  let code: Uint8Array;
  if (arch === 'x86_64') {
    // mov ebx, imm32 (bb id); then the loop. A write: mov [rbx], eax (89 03).
    code = new Uint8Array([0xbb, ...le32(MMIO_X86), ...(write ? [0x89, 0x03] : [0x8b, 0x03]), 0xeb, 0xfc]);
  } else {
    // movz x9, #0x0900, lsl #16 (d2a12009); ldr w0,[x9] (b9400120) / str w0,[x9] (b9000120); b .-4
    code = new Uint8Array([...le32(0xd2a12009), ...le32(write ? 0xb9000120 : 0xb9400120), ...le32(0x17ffffff)]);
  }
  const g = boot(arch, code, 8 << 20);
  try {
    const v = g.vcpu;
    const fd = v.fd;
    const want = arch === 'x86_64' ? MMIO_X86 : MMIO_ARM;
    const sys = g.sys;
    const req = g.kvm.req('KVM_RUN');
    const area = v.area;
    const dv = new DataView(area.buffer, area.byteOffset, area.byteLength);
    const step = (): void => {
      try {
        sys.ioctl(fd, req, 0);
      } catch (err) {
        // KVM_RUN's wall-clock bound (EINTR) on a loaded machine: the round trip is run again.
        if (!isKvmError(err, 'EINTR')) throw err;
        sys.ioctl(fd, req, 0);
      }
    };
    for (let i = 0; i < 2000; i++) step();
    if (dv.getUint32(8, true) !== 6 /* KVM_EXIT_MMIO */ || Number(dv.getBigUint64(32, true)) !== want) throw new Error(`${arch} MMIO loop: exit ${dv.getUint32(8, true)}`);
    const samples: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const t0 = process.cpuUsage();
      for (let i = 0; i < iterations; i++) step();
      samples.push((cpuSeconds(t0) * 1e9) / iterations);
    }
    samples.sort((a, b) => a - b);
    return samples[samples.length >> 1]!;
  } finally {
    g.close();
  }
}

function le32(x: number): number[] {
  return [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, (x >>> 24) & 0xff];
}

// ---- (h) 64-bit MUL/DIV kernel -------------------------------------------------------------------

/**
 * A loop of 64-bit multiplies and divides with full-width operands, `iterations` times, then
 * HLT / SYSTEM_OFF. x86 (RCX counter, R8 odd multiplier, RDI divisor):
 *   48 89 d8        mov rax, rbx
 *   49 f7 e0        mul r8            (rdx:rax = rax * r8)
 *   48 89 c3        mov rbx, rax
 *   49 0f af d8     imul rbx, r8
 *   48 31 d2        xor rdx, rdx
 *   48 f7 f7        div rdi
 *   48 01 c3        add rbx, rax
 *   48 99           cqo
 *   48 f7 ff        idiv rdi
 *   48 01 d3        add rbx, rdx
 *   48 ff c9        dec rcx
 *   75 xx           jnz loop
 * 12 instructions per iteration (4 of them MUL/IMUL/DIV/IDIV).
 */
export function mulDivX86(iterations: number): Uint8Array {
  const pre = [
    0x48, 0xb9, ...le64(iterations), // mov rcx, imm64
    0x49, 0xb8, ...le64hex('9e3779b97f4a7c15'), // mov r8, imm64
    0x48, 0xbf, ...le64hex('00000000ffff0001'), // mov rdi, imm64
    0x48, 0xbb, ...le64hex('0123456789abcdef'), // mov rbx, imm64
  ];
  const body = [0x48, 0x89, 0xd8, 0x49, 0xf7, 0xe0, 0x48, 0x89, 0xc3, 0x49, 0x0f, 0xaf, 0xd8, 0x48, 0x31, 0xd2, 0x48, 0xf7, 0xf7, 0x48, 0x01, 0xc3, 0x48, 0x99, 0x48, 0xf7, 0xff, 0x48, 0x01, 0xd3, 0x48, 0xff, 0xc9];
  const jnz = [0x75, (-(body.length + 2)) & 0xff];
  return new Uint8Array([...pre, ...body, ...jnz, 0xf4]);
}
export const MULDIV_X86_PER_ITER = 12;
export const MULDIV_X86_SETUP = 4 + 1; // four movs, the hlt

/**
 * arm64 twin: X1 counter, X8 multiplier, X7 divisor, X3 accumulator:
 *   9b087c60 mul x0, x3, x8 ; 9bc87c62 umulh x2, x3, x8 ; ca020003 eor x3, x0, x2
 *   9ac70860 udiv x0, x3, x7 ; 9ac70c62 sdiv x2, x3, x7 ; 8b000063 add x3, x3, x0
 *   8b020063 add x3, x3, x2 ; f1000421 subs x1, x1, #1 ; 54ffff01 b.ne loop (-8 insns)
 * 9 per iteration (5 multiplies/divides); the result is copied to X4 at the end.
 */
export function mulDivArm(iterations: number): Uint8Array {
  const words = [
    ...movImm64(1, BigInt(iterations)),
    ...movImm64(8, 0x9e3779b97f4a7c15n),
    ...movImm64(7, 0xffff0001n),
    ...movImm64(3, 0x0123456789abcdefn),
    0x9b087c60, 0x9bc87c62, 0xca020003, 0x9ac70860, 0x9ac70c62, 0x8b000063, 0x8b020063, 0xf1000421, 0x54ffff01,
    0xaa0303e4, // mov x4, x3: the result, where PSCI SYSTEM_OFF (which zeroes x0-x3) leaves it
  ];
  const e = new Emitter(words.length * 4 + 16);
  for (const w of words) e.u32(w);
  armOff(e);
  return e.bytes.subarray(0, e.n);
}
export const MULDIV_ARM_PER_ITER = 9;

/** movz/movk x`rd` with a 64-bit constant (4 instructions). */
function movImm64(rd: number, v: bigint): number[] {
  const out: number[] = [];
  for (let hw = 0; hw < 4; hw++) {
    const imm = Number((v >> BigInt(16 * hw)) & 0xffffn);
    out.push(((hw === 0 ? 0xd2800000 : 0xf2800000) | (hw << 21) | (imm << 5) | rd) >>> 0);
  }
  return out;
}

function le64(n: number): number[] {
  return le64hex(BigInt(n).toString(16).padStart(16, '0'));
}
function le64hex(h: string): number[] {
  const v = BigInt('0x' + h);
  return Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(8 * i)) & 0xffn));
}

/** MIPS of the MUL/DIV kernel (CPU time; median of repeats) and the result register for a check. */
export function mulDivMips(arch: GuestArch, iterations: number, repeats: number, jit = true): { mips: number; result: bigint } {
  // (the result is checked against mulDivModel in test/bench/muldiv.test.ts)
  const code = arch === 'x86_64' ? mulDivX86(iterations) : mulDivArm(iterations);
  const insns = arch === 'x86_64' ? 4 + iterations * MULDIV_X86_PER_ITER : 17 + iterations * MULDIV_ARM_PER_ITER;
  const samples: number[] = [];
  let result = 0n;
  for (let r = 0; r < repeats + 1; r++) {
    const g = boot(arch, code, 8 << 20, { jit });
    try {
      const t0 = process.cpuUsage();
      runToEnd(arch, g.vcpu);
      if (r > 0) samples.push(cpuSeconds(t0));
      result = arch === 'x86_64' ? g.vcpu.getRegs().rbx : g.vcpu.getOneReg(coreRegId('regs.regs') + 8n); // rbx / x4
    } finally {
      g.close();
    }
  }
  samples.sort((a, b) => a - b);
  return { mips: insns / samples[samples.length >> 1]! / 1e6, result };
}

/** The MUL/DIV kernels' result computed with BigInt (what rbx / x4 must hold after `iterations`). */
export function mulDivModel(arch: GuestArch, iterations: number): bigint {
  const M = (1n << 64n) - 1n;
  const signed = (v: bigint) => BigInt.asIntN(64, v);
  const mult = 0x9e3779b97f4a7c15n;
  const div = 0xffff0001n; // rdi / x7
  let acc = 0x0123456789abcdefn;
  for (let i = 0; i < iterations; i++) {
    if (arch === 'x86_64') {
      // mov rax,rbx; mul r8; mov rbx,rax; imul rbx,r8; xor edx,edx; div rdi; add rbx,rax; cqo; idiv rdi; add rbx,rdx
      const rax = (acc * mult) & M;
      let rbx = (rax * mult) & M;
      const q = rax / div;
      rbx = (rbx + q) & M;
      rbx = (rbx + (signed(q) % div)) & M;
      acc = rbx;
    } else {
      // mul x0,x3,x8; umulh x2,x3,x8; eor x3,x0,x2; udiv x0,x3,x7; sdiv x2,x3,x7; add x3,x3,x0; add x3,x3,x2
      const p = acc * mult;
      const x3 = (p & M) ^ (p >> 64n);
      acc = (x3 + x3 / div + (signed(x3) / div)) & M;
    }
  }
  return acc;
}
