/**
 * Issue 19 item 3: KVM_RUN returns within a bounded wall time whatever the guest does, as a
 * signal makes it return on Linux: EINTR with exit_reason KVM_EXIT_INTR. Each known slow-path
 * guest (2-250 us per instruction, which the instruction budget alone let run for minutes) under
 * both engines, with the default bound (100 ms) and a configured one.
 */
import { describe, expect, it } from 'vitest';
import { Kvm, KvmError, KVM_EXIT, virtualSys, type Sys, type Vcpu } from '../../src/index.js';
import { enterMode } from '../helpers/x86.js';
import { reg } from '../arm64/helpers.js';
import { guest } from '../helpers/guests.js';

/**
 * Slack over the bound: the run returns at the first instruction boundary after the deadline
 * (a few ms of work at most), but a loaded machine adds GC pauses and descheduled time. So the
 * median run is held to `SLACK_MS` over the bound in wall time or, when the process was starved
 * of CPU meanwhile, in CPU time (work past the deadline is what the emulator controls); every run
 * is held to `HANG_MS` (a hang is minutes).
 */
const SLACK_MS = 150;
const HANG_MS = 3000;

interface Guest {
  name: string;
  arch: 'x86_64' | 'arm64';
  setup(sys: Sys): Vcpu;
}

function x86Real(sys: Sys, code: number[], at = 0x1000, extra?: (ram: Uint8Array, vcpu: Vcpu) => void): Vcpu {
  const vm = Kvm.open(sys).createVm();
  const ram = sys.alloc(0x20000);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x20000, userspaceAddr: ram.hva });
  ram.bytes.set(code, at);
  const vcpu = vm.createVcpu(0);
  enterMode(vcpu, 'real');
  vcpu.setRegs({ rip: BigInt(at), rsp: 0x8000n, rflags: 2n });
  extra?.(ram.bytes, vcpu);
  return vcpu;
}

function arm64(sys: Sys, words: number[] | null, regs: [bigint, bigint][] = []): Vcpu {
  const vm = Kvm.open(sys).createVm();
  const vcpu = vm.createVcpu(0);
  vcpu.armInit([]);
  if (words) {
    const ram = sys.alloc(0x10000);
    vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0x4000_0000, memorySize: 0x10000, userspaceAddr: ram.hva });
    new Uint32Array(ram.bytes.buffer, ram.bytes.byteOffset, words.length).set(words);
    vcpu.setOneReg(reg.pc, 0x4000_0000n);
    for (const [id, v] of regs) vcpu.setOneReg(id, v);
  }
  return vcpu;
}

/** The guests (test/guests/{x86,arm64}/robust). */
const x86g = (name: string) => [...guest(`x86/robust/${name}.bin`)];
const armg = (name: string) => [...new Uint32Array(guest(`arm64/robust/${name}.bin`).slice().buffer)];

const GUESTS: Guest[] = [
  {
    // IVT[0] -> the DIV itself: #DE, forever (the stack wraps in its own 64 KiB segment).
    name: 'x86 real-mode #DE storm',
    arch: 'x86_64',
    setup: (sys) =>
      x86Real(sys, x86g('de-storm'), 0x1000, (ram, vcpu) => {
        new DataView(ram.buffer, ram.byteOffset).setUint32(0, 0x0000_1000, true);
        const s = vcpu.getSregs();
        vcpu.setSregs({ ss: { ...s.ss, selector: 0x1000, base: 0x10000n } });
      }),
  },
  { name: 'x86 loop storing into its own code page', arch: 'x86_64', setup: (sys) => x86Real(sys, x86g('smc-loop')) },
  { name: 'x86 REP STOSB into its own code page', arch: 'x86_64', setup: (sys) => x86Real(sys, x86g('rep-smc')) },
  { name: 'x86 spin', arch: 'x86_64', setup: (sys) => x86Real(sys, x86g('spin')) },
  // KVM_ARM_VCPU_INIT and run: PC 0, no memory anywhere — an abort storm at the vectors.
  { name: 'arm64 vCPU at its reset state after KVM_ARM_VCPU_INIT', arch: 'arm64', setup: (sys) => arm64(sys, null) },
  { name: 'arm64 loop storing into its own code page', arch: 'arm64', setup: (sys) => arm64(sys, armg('smc-loop'), [[reg.x(0), 0x4000_0100n]]) },
  { name: 'arm64 spin', arch: 'arm64', setup: (sys) => arm64(sys, armg('spin')) },
];

const ENGINES = [
  { name: 'interpreter', opts: { jit: false } },
  { name: 'jit', opts: { jit: true, jitHotness: 0 } },
] as const;

/** Builds a Sys with the library's own default bound (the suite sets VKVM_RUN_TIMEOUT_MS, vitest.config.ts). */
function withoutEnvBound<T>(make: () => T): T {
  const saved = process.env.VKVM_RUN_TIMEOUT_MS;
  delete process.env.VKVM_RUN_TIMEOUT_MS;
  try {
    return make();
  } finally {
    if (saved !== undefined) process.env.VKVM_RUN_TIMEOUT_MS = saved;
  }
}

/** Runs once; checks the signal-like return; gives the wall time and the CPU time it took. */
function timedRun(vcpu: Vcpu): { wall: number; cpu: number } {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let err: unknown;
  try {
    // The raw ioctl: vcpu.run() returns EINTR as { reason: 'intr' } and drops its message.
    vcpu.vm.sys.ioctl(vcpu.fd, vcpu.vm.kvm.req('KVM_RUN'), 0);
  } catch (e) {
    err = e;
  }
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  expect(err).toBeInstanceOf(KvmError);
  expect((err as KvmError).code).toBe('EINTR');
  expect(vcpu.kvmRun.exit_reason).toBe(KVM_EXIT.INTR);
  return { wall, cpu: (c.user + c.system) / 1000 };
}

/** Runs `n` times and checks the bound as described above. */
function checkBound(vcpu: Vcpu, bound: number, n: number): void {
  const runs = Array.from({ length: n }, () => timedRun(vcpu));
  const walls = runs.map((r) => r.wall).sort((a, b) => a - b);
  const cost = runs.map((r) => Math.min(r.wall, r.cpu)).sort((a, b) => a - b);
  expect(walls[0]).toBeGreaterThanOrEqual(bound - 1);
  expect(cost[n >> 1]).toBeLessThan(bound + SLACK_MS);
  expect(walls[n - 1]).toBeLessThan(bound + HANG_MS);
}

describe('KVM_RUN returns within its wall-clock bound whatever the guest does (issue 19 item 3)', () => {
  for (const e of ENGINES) {
    describe(e.name, () => {
      it.each(GUESTS.map((g) => [g.name, g] as const))('%s: runTimeoutMs 40', (_n, g) => {
        checkBound(g.setup(virtualSys({ arch: g.arch, runTimeoutMs: 40, ...e.opts })), 40, 5);
      });

      it.each(GUESTS.map((g) => [g.name, g] as const))('%s: the default bound (100 ms)', (_n, g) => {
        // The instruction budget set out of the way: translated `b .` retires ~3 billion per
        // second, so the default 200 million would end the run (EINTR all the same) before 100 ms.
        checkBound(g.setup(withoutEnvBound(() => virtualSys({ arch: g.arch, runBudget: Number.MAX_SAFE_INTEGER, ...e.opts }))), 100, 3);
      });
    });
  }

  it('VKVM_RUN_TIMEOUT_MS sets the default bound; runTimeoutMs wins over it; a bad value is refused', () => {
    const saved = process.env.VKVM_RUN_TIMEOUT_MS;
    try {
      process.env.VKVM_RUN_TIMEOUT_MS = '30';
      checkBound(GUESTS[3]!.setup(virtualSys({ arch: 'x86_64' })), 30, 3);
      checkBound(GUESTS[3]!.setup(virtualSys({ arch: 'x86_64', runTimeoutMs: 60 })), 60, 3);
      process.env.VKVM_RUN_TIMEOUT_MS = 'soon';
      expect(() => virtualSys({ arch: 'x86_64' })).toThrow(/VKVM_RUN_TIMEOUT_MS/);
    } finally {
      if (saved === undefined) delete process.env.VKVM_RUN_TIMEOUT_MS;
      else process.env.VKVM_RUN_TIMEOUT_MS = saved;
    }
  });

  it('runTimeoutMs is validated; Infinity leaves only the instruction budget', () => {
    expect(() => virtualSys({ runTimeoutMs: 0 })).toThrow();
    expect(() => virtualSys({ runTimeoutMs: -1 })).toThrow();
    expect(() => virtualSys({ runTimeoutMs: NaN })).toThrow();
    const vcpu = GUESTS[3]!.setup(virtualSys({ runTimeoutMs: Infinity, runBudget: 5_000_000 }));
    expect(timedRun(vcpu).wall).toBeGreaterThan(0);
  });
});
