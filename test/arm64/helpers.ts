/**
 * arm64 test harness: a VM with RAM at the "virt" board's base, a guest image loaded at its start,
 * and small helpers over the typed API (registers by name, running until an exit).
 *
 * Guest physical layout: RAM at 0x4000_0000 (4 MiB by default), code at its start, stack at its
 * top; everything else is MMIO (tests use 0x0900_0000 as the "device").
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import type { Arm64VmState } from '../../src/arch/arm64/cpu.js';
import { Kvm, virtualSys, type Sys, type VirtualSysOptions, type Vm, type VcpuExit } from '../../src/index.js';
import { TEST_RUN_TIMEOUT_MS } from '../helpers/run.js';
import { coreRegId, KVM_ARM_VCPU, sysRegId } from '../../src/uapi/arm64.js';
import { runToExit } from '../helpers/run.js';

export const RAM_BASE = 0x4000_0000;
export const RAM_SIZE = 0x40_0000;
export const MMIO = 0x0900_0000;
export const PSCI_SYSTEM_OFF = 0x84000008n;

export const GUEST_DIR = resolve(__dirname, '../guests/arm64');

/** A committed guest binary from test/guests/arm64. */
export function armGuest(name: string): Uint8Array {
  return new Uint8Array(readFileSync(resolve(GUEST_DIR, `${name}.bin`)));
}

export const reg = {
  x: (n: number) => coreRegId('regs.regs') + BigInt(2 * n),
  sp: coreRegId('regs.sp'),
  pc: coreRegId('regs.pc'),
  pstate: coreRegId('regs.pstate'),
  spEl1: coreRegId('sp_el1'),
  elr: coreRegId('elr_el1'),
  spsr: coreRegId('spsr'),
  sys: sysRegId,
  ESR_EL1: sysRegId(3, 0, 5, 2, 0),
  FAR_EL1: sysRegId(3, 0, 6, 0, 0),
  VBAR_EL1: sysRegId(3, 0, 12, 0, 0),
  SCTLR_EL1: sysRegId(3, 0, 1, 0, 0),
  ID_AA64DFR0_EL1: sysRegId(3, 0, 0, 5, 0),
  MDSCR_EL1: sysRegId(2, 0, 0, 2, 2),
  DBGBVR: (n: number) => sysRegId(2, 0, 0, n, 4),
  DBGBCR: (n: number) => sysRegId(2, 0, 0, n, 5),
  DBGWVR: (n: number) => sysRegId(2, 0, 0, n, 6),
  DBGWCR: (n: number) => sysRegId(2, 0, 0, n, 7),
};

/**
 * How guest code runs: the interpreter alone, or the block JIT translating every block the first
 * time it runs (hotness 0, so the tests exercise the generated code, not the cold path), as wasm
 * modules (the default engine, 'jit') or as JS functions ('jit-js').
 */
export interface Engine {
  readonly name: string;
  readonly jit: boolean;
  /** Block executions before translation (Arm64VmState.jitHotness). */
  readonly hotness?: number;
  /** What the JIT writes (virtualSys jitEngine; undefined: the default). */
  readonly jitEngine?: 'wasm' | 'js';
}

export const ENGINES: readonly Engine[] = [
  { name: 'interpreter', jit: false },
  { name: 'jit', jit: true, hotness: 0 },
  { name: 'jit-js', jit: true, hotness: 0, jitEngine: 'js' },
];

const DEFAULT_ENGINE: Engine = { name: 'default', jit: true };
let engine: Engine = DEFAULT_ENGINE;

/**
 * Makes the machines of the enclosing describe block use `e`: at once (for machines built while
 * the block is collected) and before its tests run.
 */
export function useEngine(e: Engine): void {
  engine = e;
  beforeAll(() => {
    engine = e;
  });
  afterAll(() => {
    engine = DEFAULT_ENGINE;
    // Every block the JIT met must have translated: a failure would hide behind the interpreter.
    const failures = machines.flatMap((m) => {
      const st = jitStats(m.sys, m.vcpu.fd);
      return st && st.failed ? [String(st.lastError)] : [];
    });
    machines.length = 0;
    expect(failures).toEqual([]);
  });
}

/** Machines built under a JIT engine, checked for translation failures by useEngine. */
const machines: ArmMachine[] = [];

/** The engine new machines use. */
export function currentEngine(): Engine {
  return engine;
}

/** Runs `f` with new machines using `e` (for tests comparing engines within one test). */
export function withEngine<T>(e: Engine, f: () => T): T {
  const before = engine;
  engine = e;
  try {
    return f();
  } finally {
    engine = before;
  }
}

/** A virtualSys for arm64 under the current engine. */
export function armSys(runBudget?: number, opts: VirtualSysOptions = {}): Sys {
  return virtualSys({ runTimeoutMs: TEST_RUN_TIMEOUT_MS, ...opts, arch: 'arm64', jit: engine.jit, ...(engine.jitEngine ? { jitEngine: engine.jitEngine } : {}), ...(runBudget ? { runBudget } : {}) });
}

/** Applies the engine's JIT hotness to a VM of `sys` (white-box: the VM's arch state). */
export function applyEngine(sys: Sys, vm: Vm): void {
  if (engine.hotness === undefined) return;
  const k = (sys as unknown as { kernel: { file(fd: number): { vm?: { archState: Arm64VmState } } | undefined } }).kernel;
  k.file(vm.fd)!.vm!.archState.jitHotness = engine.hotness;
}

export interface JitStats {
  compiled: number;
  /** Blocks translated into another block's region (besides its entry). */
  regionBlocks: number;
  invalidated: number;
  failed: number;
  lastError: unknown;
}

/** The block JIT's counters for a vCPU (white-box), or null when it runs interpreted. */
export function jitStats(sys: Sys, vcpuFd: number): JitStats | null {
  const k = (sys as unknown as { kernel: { file(fd: number): { vcpu?: { archState: { cpu: { jit: JitStats | null } } } } | undefined } }).kernel;
  return k.file(vcpuFd)?.vcpu?.archState.cpu.jit ?? null;
}

export interface ArmMachine {
  sys: Sys;
  kvm: Kvm;
  vm: ReturnType<Kvm['createVm']>;
  vcpu: ReturnType<ReturnType<Kvm['createVm']>['createVcpu']>;
  ram: { hva: bigint; bytes: Uint8Array };
  /** X[n] */
  x(n: number): bigint;
  setX(n: number, v: bigint | number): void;
  pc(): bigint;
}

export interface MachineOptions {
  ramSize?: number;
  features?: number[];
  /** Extra memory contents: [gpa, bytes]. */
  mem?: [number, Uint8Array][];
  /** Instructions per KVM_RUN before EINTR (virtualSys runBudget). */
  runBudget?: number;
  /** Other virtualSys options (the clock...). */
  sys?: VirtualSysOptions;
}

/** A fresh VM + vCPU with `code` at RAM_BASE, PC there, SP at the top of RAM. */
export function armMachine(code: Uint8Array, opts: MachineOptions = {}): ArmMachine {
  const sys = armSys(opts.runBudget, opts.sys);
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  applyEngine(sys, vm);
  const size = opts.ramSize ?? RAM_SIZE;
  const ram = sys.alloc(size);
  ram.bytes.set(code, 0);
  for (const [gpa, b] of opts.mem ?? []) ram.bytes.set(b, gpa - RAM_BASE);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: RAM_BASE, memorySize: size, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  vcpu.armInit(opts.features ?? [KVM_ARM_VCPU.PSCI_0_2]);
  vcpu.setOneReg(reg.pc, RAM_BASE);
  vcpu.setOneReg(reg.spEl1, RAM_BASE + size);
  const m: ArmMachine = {
    sys,
    kvm,
    vm,
    vcpu,
    ram,
    x: (n) => vcpu.getOneReg(reg.x(n)),
    setX: (n, v) => vcpu.setOneReg(reg.x(n), v),
    pc: () => vcpu.getOneReg(reg.pc),
  };
  if (engine.jit) machines.push(m);
  return m;
}

/** Runs until an exit other than the ones `onExit` handles (return true to continue). */
export function runUntil(m: ArmMachine, onExit: (e: VcpuExit) => boolean = () => false, max = 1000): VcpuExit {
  for (let n = 0; n < max; n++) {
    const e = runToExit(m.vcpu);
    if (!onExit(e)) return e;
  }
  throw new Error('too many exits');
}

/** Little-endian bytes of a u64 (for MMIO read replies). */
export function le64(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true);
  return b;
}
