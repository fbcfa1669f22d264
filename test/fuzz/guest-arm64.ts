/**
 * The arm64 guest fuzzer: random A64 code (raw words, or words biased towards each encoding group)
 * from random EL1/EL0 state — PSTATE (mode, DAIF, NZCV), stack pointers, ELR/SPSR, the vector
 * table, SCTLR_EL1 (MMU on or off, alignment checks, WXN, big-endian data), TCR/TTBR0/MAIR with
 * stage-1 tables of random attributes, CPACR (FP traps), guest debug and the NISV/IDSR caps.
 * Every run gets a fresh VM from `mixSeed(seed, index)`, at most `maxExits` KVM_RUNs of at most
 * `runBudget` instructions each; the oracle is the x86 guest fuzzer's (guest-x86.ts).
 * @module
 */
import { Kvm, KVM_EXIT, virtualSys, type HostMemory, type Sys, type Vcpu } from '../../src/index.js';
import { coreRegId, KVM_ARM_IDSR, KVM_ARM_VCPU, sysRegId } from '../../src/uapi/arm64.js';
import { KVM_CAP } from '../../src/uapi/constants.js';
import { guarded, newReport, type GuestFuzzOptions, type GuestFuzzReport } from './guest-x86.js';
import { badError, checkExit, RUN_ERRNOS, type Finding } from './oracle.js';
import { takeInternalError } from './probe.js';
import { mixSeed, Rng } from './rng.js';

const BASE = 0x4000_0000;
const RAM = 0x20_0000;
const MMIO = 0x0900_0000;
const VECTORS = 0x0000;
const CODE = 0x1000;
const TABLES = 0x1_0000;

const REG = {
  x: (n: number) => coreRegId('regs.regs') + BigInt(2 * n),
  sp: coreRegId('regs.sp'),
  pc: coreRegId('regs.pc'),
  pstate: coreRegId('regs.pstate'),
  spEl1: coreRegId('sp_el1'),
  elr: coreRegId('elr_el1'),
  spsr: coreRegId('spsr'),
  SCTLR: sysRegId(3, 0, 1, 0, 0),
  CPACR: sysRegId(3, 0, 1, 0, 2),
  TTBR0: sysRegId(3, 0, 2, 0, 0),
  TTBR1: sysRegId(3, 0, 2, 0, 1),
  TCR: sysRegId(3, 0, 2, 0, 2),
  MAIR: sysRegId(3, 0, 10, 2, 0),
  VBAR: sysRegId(3, 0, 12, 0, 0),
  MDSCR: sysRegId(2, 0, 0, 2, 2),
  DBGBVR0: sysRegId(2, 0, 0, 0, 4),
  DBGBCR0: sysRegId(2, 0, 0, 0, 5),
  TPIDR_EL0: sysRegId(3, 3, 13, 0, 2),
  CNTV_CTL: sysRegId(3, 3, 14, 3, 1),
  CNTV_CVAL: sysRegId(3, 3, 14, 3, 2),
};

// A few encodings (Arm ARM): used to build vector stubs.
const A64 = {
  movzX9Mmio: (0xd2a00000 | ((MMIO >>> 16) << 5) | 9) >>> 0, // movz x9, #0x0900, lsl #16
  mrsX0Esr: 0xd5385200, // mrs x0, esr_el1
  strX0X9: 0xf9000120, // str x0, [x9]
  hvc0: 0xd4000002,
  eret: 0xd69f03e0,
  bSelf: 0x14000000,
  brk0: 0xd4200000,
  wfi: 0xd503207f,
  nop: 0xd503201f,
};

type Setup = 'mmu-off' | 'mmu-on' | 'el0' | 'wild';

/** Runs `runs` random arm64 guests under the oracle. */
export function fuzzArm64Guests(opts: GuestFuzzOptions): GuestFuzzReport {
  const report = newReport('arm64', opts.seed);
  const t0 = performance.now();
  const sys = virtualSys({ arch: 'arm64', runBudget: opts.runBudget ?? 3000, ...(opts.jitHotness !== undefined ? { jitHotness: opts.jitHotness } : {}) });
  const kvm = Kvm.open(sys);
  const ram = sys.alloc(RAM);
  const zero = new Float64Array(ram.bytes.buffer, ram.bytes.byteOffset, RAM / 8);
  for (let r = 0; r < opts.runs; r++) {
    const index = (opts.firstRun ?? 0) + r;
    zero.fill(0);
    runOne(sys, kvm, ram, new Rng(mixSeed(opts.seed, index)), index, opts, report);
    report.runs++;
  }
  sys.munmap(ram.bytes);
  report.elapsedMs = performance.now() - t0;
  return report;
}

function runOne(sys: Sys, kvm: Kvm, ram: HostMemory, rng: Rng, index: number, opts: GuestFuzzOptions, report: GuestFuzzReport): void {
  let step = 0;
  const found = (kind: Finding['kind'], what: string, detail: string) => {
    const f: Finding = { kind, seed: opts.seed, index, step, what, detail };
    report.findings.add(f);
    opts.onFinding?.(f);
  };
  const mem = ram.bytes;
  const dv = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
  const vm = kvm.createVm();
  let vcpu: Vcpu | undefined;
  try {
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: BASE, memorySize: RAM, userspaceAddr: ram.hva, flags: rng.chance(0.2) ? 1 : 0 });
    if (rng.chance(0.2)) vm.enableCap(KVM_CAP.ARM_NISV_TO_USER);
    const idsr = rng.chance(0.3);
    if (idsr) vm.enableCap(KVM_ARM_IDSR.KVM_CAP_ARM_IDSR_TO_USER);
    vcpu = vm.createVcpu(0);
    const c = vcpu;
    c.armInit(rng.chance(0.9) ? [KVM_ARM_VCPU.PSCI_0_2] : []);
    const setup = rng.weighted<Setup>([[4, 'mmu-off'], [4, 'mmu-on'], [2, 'el0'], [1, 'wild']]);
    report.modes.add(setup);
    const pc = BASE + CODE + 4 * rng.int(0x3000 / 4);
    buildMemory(rng, mem, dv, pc - BASE);
    const set = (what: string, id: bigint, v: bigint | number) => {
      if (!guarded(found, `KVM_SET_ONE_REG(${what})`, () => c.setOneReg(id, v))) report.setupRefused++;
    };
    for (let i = 0; i < 31; i++) set(`x${i}`, REG.x(i), reg(rng));
    set('pc', REG.pc, setup === 'wild' && rng.chance(0.3) ? rng.u64() : pc);
    const el0 = setup === 'el0' || (setup === 'wild' && rng.chance(0.3));
    let pstate = el0 ? 0 : rng.chance(0.8) ? 5 : 4; // EL0t, EL1h, EL1t
    if (rng.chance(0.5)) pstate |= rng.int(16) << 6; // DAIF
    pstate = (pstate | (rng.int(16) << 28)) >>> 0; // NZCV
    if (setup === 'wild' && rng.chance(0.3)) pstate = rng.u32();
    set('pstate', REG.pstate, pstate);
    set('sp_el0', REG.sp, rng.chance(0.8) ? BASE + 0x100000 + 16 * rng.int(0x8000) : rng.u64());
    set('sp_el1', REG.spEl1, rng.chance(0.8) ? BASE + RAM - 16 * rng.int(0x100) : rng.u64());
    set('elr_el1', REG.elr, rng.chance(0.7) ? pc + 4 * rng.int(64) : rng.u64());
    set('spsr_el1', REG.spsr, rng.chance(0.7) ? pstate : rng.u32());
    set('VBAR_EL1', REG.VBAR, rng.chance(0.9) ? BASE + VECTORS : rng.u64());
    set('CPACR_EL1', REG.CPACR, rng.chance(0.7) ? 3 << 20 : rng.int(4) << 20);
    set('TPIDR_EL0', REG.TPIDR_EL0, rng.u64());
    if (setup !== 'mmu-off') mmu(rng, mem, dv, set, setup === 'wild');
    else if (rng.chance(0.2)) set('SCTLR_EL1', REG.SCTLR, 0x00c50078n | BigInt(rng.chance(0.5) ? 2 : 0) | (rng.chance(0.1) ? 1n << 25n : 0n));
    if (rng.chance(0.1)) {
      set('MDSCR_EL1', REG.MDSCR, (rng.chance(0.5) ? 1 : 0) | (rng.chance(0.5) ? 1 << 13 : 0) | (rng.chance(0.5) ? 1 << 15 : 0));
      set('DBGBVR0_EL1', REG.DBGBVR0, pc + 4 * rng.int(16));
      set('DBGBCR0_EL1', REG.DBGBCR0, rng.chance(0.7) ? 0x1e7 : rng.u32());
    }
    if (rng.chance(0.1)) {
      set('CNTV_CVAL_EL0', REG.CNTV_CVAL, rng.interesting(64));
      set('CNTV_CTL_EL0', REG.CNTV_CTL, rng.int(8));
    }
    if (rng.chance(0.1)) {
      const control = 1 | (rng.chance(0.5) ? 2 : 0) | (rng.chance(0.3) ? 0x10000 : 0) | (rng.chance(0.3) ? 0x20000 : 0);
      if (!guarded(found, 'KVM_SET_GUEST_DEBUG', () => c.setGuestDebug(control, { dbg_bcr: [0x1e7n], dbg_bvr: [BigInt(pc + 4 * rng.int(16))], dbg_wcr: [rng.chance(0.5) ? 0x1ffn : 0n], dbg_wvr: [BigInt(BASE + 0x20000 + 8 * rng.int(512))] }))) report.setupRefused++;
    }

    const maxExits = opts.maxExits ?? 6;
    for (let n = 0; n < maxExits; n++) {
      step = n;
      const t = performance.now();
      let err: unknown;
      try {
        sys.ioctl(c.fd, kvm.req('KVM_RUN'), 0);
      } catch (e) {
        err = e;
      }
      const ms = performance.now() - t;
      report.kvmRuns++;
      if (ms > report.maxRunMs) {
        report.maxRunMs = ms;
        report.slowest = `${index}.${n}`;
      }
      if (ms > (opts.hangMs ?? 2000)) found('hang', `KVM_RUN #${n} (${setup})`, `${ms.toFixed(0)} ms`);
      const ie = takeInternalError(sys, c.fd);
      if (ie !== undefined) found('internal', `KVM_RUN #${n} (${setup})`, `JS exception swallowed by the run loop: ${ie instanceof Error ? `${ie.message}\n${ie.stack?.split('\n').slice(1, 5).join('\n')}` : String(ie)}`);
      if (err !== undefined) {
        const bad = badError(err, 'ioctl');
        if (bad) {
          found(bad.startsWith('escape') ? 'escape' : 'errno', `KVM_RUN #${n} (${setup})`, bad);
          break;
        }
        const code = (err as { code: string }).code;
        report.errnos.add(code);
        if (!RUN_ERRNOS.has(code)) found('errno', `KVM_RUN #${n} (${setup})`, `KVM_RUN failed with ${code}`);
        opts.log?.(`${index}.${n} ${setup} -> ${code}`);
        // EINTR: the run budget ran out, the guest is looping; going on rarely finds more.
        if (code !== 'EINTR' || rng.chance(0.8)) break;
        continue;
      }
      let reason: number;
      try {
        reason = checkExit('arm64', c.area);
      } catch (e) {
        found('exit', `KVM_RUN #${n} (${setup})`, (e as Error).message);
        break;
      }
      if (reason === KVM_ARM_IDSR.KVM_EXIT_ARM_IDSR && !idsr) found('exit', `KVM_RUN #${n} (${setup})`, 'KVM_EXIT_ARM_IDSR without KVM_CAP_ARM_IDSR_TO_USER');
      const exit = c.exit();
      report.exits.add(exit.reason);
      if (opts.log) opts.log(`${index}.${n} ${setup} -> ${exit.reason} ${JSON.stringify(exit, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))} pc=0x${c.getOneReg(REG.pc).toString(16)}`);
      if (exit.reason === 'internal_error') {
        report.unsupported.add(exit.insnBytes?.length ? `${setup}:${Buffer.from(exit.insnBytes).reverse().toString('hex')}` : `suberror ${exit.suberror}`);
        break;
      }
      if (reason === KVM_EXIT.SYSTEM_EVENT || reason === KVM_EXIT.FAIL_ENTRY) break;
      if (exit.reason === 'mmio' && !exit.isWrite) rng.fill(exit.data);
      else if (exit.reason === 'arm_idsr') exit.reply(rng.chance(0.5) ? { handled: true, regval: rng.u64() } : { handled: false });
      if (rng.chance(0.15)) {
        guarded(found, `read state (${setup})`, () => {
          c.getOneReg(REG.pc);
          c.getOneReg(REG.pstate);
          c.getOneReg(REG.SCTLR);
          c.getMpState();
          if (rng.chance(0.2)) c.regList();
        });
      }
    }
  } catch (e) {
    const bad = badError(e, 'ioctl');
    if (bad) found(bad.startsWith('escape') ? 'escape' : 'errno', 'setup', bad);
  } finally {
    vcpu?.close();
    vm.close();
  }
}

function reg(rng: Rng): bigint {
  return rng.weighted<bigint>([[3, BigInt(BASE + rng.int(RAM))], [1, BigInt(MMIO + rng.int(0x1000))], [2, rng.interesting(64)], [2, BigInt(rng.int(0x1000))], [2, rng.u64()]]);
}

/** Vector stubs, random data and code. */
function buildMemory(rng: Rng, mem: Uint8Array, dv: DataView, pcOff: number): void {
  for (let v = 0; v < 16; v++) {
    const at = VECTORS + 0x80 * v;
    const kind = rng.weighted<number>([[6, 0], [1, 1], [1, 2], [1, 3]]);
    const words =
      kind === 0 ? [A64.mrsX0Esr, A64.movzX9Mmio, A64.strX0X9, rng.chance(0.5) ? A64.bSelf : A64.eret] // report ESR over MMIO
      : kind === 1 ? [A64.hvc0, A64.eret]
      : kind === 2 ? [A64.eret]
      : Array.from({ length: 32 }, () => rng.u32());
    words.forEach((w, i) => dv.setUint32(at + 4 * i, w, true));
  }
  if (rng.chance(0.5)) rng.fill(mem, 0x20000, 0x24000);
  // Code: raw random words, or words biased towards the A64 encoding groups.
  const n = rng.weighted([[3, 4], [4, 16], [2, 64], [1, 256]]);
  const raw = rng.chance(0.4);
  for (let i = 0; i < n && pcOff + 4 * i < RAM; i++) dv.setUint32(pcOff + 4 * i, raw ? rng.u32() : shaped(rng), true);
}

/** A word in one of the main encoding groups (op0 bits 28:25), fields random. */
function shaped(rng: Rng): number {
  const w = rng.u32();
  switch (rng.int(8)) {
    case 0: return ((w & ~0x1e000000) | (0b1000 << 25)) >>> 0; // data processing, immediate
    case 1: return ((w & ~0x1e000000) | (0b1010 << 25)) >>> 0; // branches, exceptions, system
    case 2: return ((w & ~0x0a000000) | (0b0100 << 25)) >>> 0; // loads and stores
    case 3: return ((w & ~0x0e000000) | (0b0101 << 25)) >>> 0; // data processing, register
    case 4: return ((w & ~0x0e000000) | (0b0111 << 25)) >>> 0; // SIMD and FP
    case 5: return ((w & 0x001fffff) | 0xd5000000) >>> 0; // system instructions (MSR/MRS/SYS/HINT)
    case 6: return ((w & 0x3fffffff) | 0x88000000 | (rng.int(4) << 30)) >>> 0; // exclusives and atomics
    default: return rng.pick([A64.hvc0, A64.eret, A64.wfi, A64.nop, A64.brk0, 0xd4000001 /* svc */, 0xd4000003 /* smc */, 0xd503233f /* paciasp */, 0x00000000]);
  }
}

/** Stage-1 translation: TCR/MAIR/TTBR0 and 4 KiB-granule tables with random attributes. */
function mmu(rng: Rng, mem: Uint8Array, dv: DataView, set: (what: string, id: bigint, v: bigint | number) => void, wild: boolean): void {
  const t = BigInt(BASE + TABLES);
  // 39-bit VA: level 1 (1 GiB) -> level 2 (2 MiB) -> level 3 (4 KiB).
  const attrs = (device = false): bigint => {
    let a = 1n << 10n; // AF
    if (rng.chance(0.05)) a = 0n; // access flag fault
    a |= BigInt(device ? 1 : 0) << 2n; // AttrIndx
    a |= BigInt(rng.chance(0.8) ? 0 : rng.int(4)) << 6n; // AP
    a |= BigInt(rng.chance(0.8) ? 3 : rng.int(4)) << 8n; // SH
    if (rng.chance(0.1)) a |= 1n << 53n; // PXN
    if (rng.chance(0.1)) a |= 1n << 54n; // UXN
    if (rng.chance(0.05)) a |= 1n << 11n; // nG
    return a;
  };
  const l1 = TABLES;
  const l2 = TABLES + 0x1000;
  const l3 = TABLES + 0x2000;
  dv.setBigUint64(l1 + 8 * 0, 0x0n | attrs(true) | 1n, true); // 0..1 GiB: device block (MMIO)
  dv.setBigUint64(l1 + 8 * 1, (t + 0x1000n) | 3n, true); // 1..2 GiB: table
  for (let i = 2; i < 512; i++) if (rng.chance(0.02)) dv.setBigUint64(l1 + 8 * i, rng.u64(), true);
  dv.setBigUint64(l2, (t + 0x2000n) | 3n, true); // first 2 MiB: 4 KiB pages
  for (let i = 1; i < 512; i++) if (rng.chance(0.3)) dv.setBigUint64(l2 + 8 * i, (BigInt(BASE) + (BigInt(i) << 21n)) | attrs() | 1n, true);
  for (let i = 0; i < 512; i++) {
    const d = rng.chance(0.03) ? 0n : (BigInt(BASE) + (BigInt(i) << 12n)) | attrs() | 3n;
    dv.setBigUint64(l3 + 8 * i, d, true);
  }
  for (let i = 0; i < 4; i++) if (rng.chance(0.2)) dv.setBigUint64(TABLES + rng.int(0x3000 / 8) * 8, rng.u64(), true);
  void mem;
  const t0sz = wild && rng.chance(0.5) ? rng.range(12, 48) : 25;
  const tg0 = wild && rng.chance(0.3) ? rng.int(4) : 0;
  let tcr = BigInt(t0sz) | (BigInt(tg0) << 14n) | (1n << 23n) /* EPD1 */ | (BigInt(rng.int(6)) << 32n) /* IPS */;
  tcr |= BigInt(rng.int(4)) << 8n | BigInt(rng.int(4)) << 10n | BigInt(rng.int(4)) << 12n;
  if (wild && rng.chance(0.2)) tcr = rng.u64();
  set('MAIR_EL1', REG.MAIR, rng.chance(0.8) ? 0x00ffn | (0x00n << 8n) | (0x44n << 16n) : rng.u64());
  set('TCR_EL1', REG.TCR, tcr);
  set('TTBR0_EL1', REG.TTBR0, rng.chance(0.95) ? t : rng.u64());
  if (rng.chance(0.1)) set('TTBR1_EL1', REG.TTBR1, rng.u64());
  let sctlr = 0x00c50078n | 1n; // M
  if (rng.chance(0.5)) sctlr |= 1n << 2n | 1n << 12n; // C, I
  if (rng.chance(0.1)) sctlr |= 2n; // A
  if (rng.chance(0.05)) sctlr |= 1n << 19n; // WXN
  if (rng.chance(0.03)) sctlr |= 1n << 25n; // EE
  if (rng.chance(0.03)) sctlr |= 1n << 24n; // E0E
  if (rng.chance(0.1)) sctlr &= ~(1n << 3n); // SA off
  if (wild && rng.chance(0.3)) sctlr = rng.u64();
  set('SCTLR_EL1', REG.SCTLR, sctlr);
}
