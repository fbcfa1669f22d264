/**
 * KVMI test harness: a long-mode VM running test/guests/x86/kvmi/kvmi-guest.bin, hooked to a
 * KvmiClient, and a VMM worker that runs one guest test the way the selftest's vcpu_worker does
 * (answering "which test" on port 0x10 until the guest reports done on port 0x11), retrying
 * KVM_RUN on EINTR (a vCPU parked on an event) after yielding so the in-process tool can answer.
 */
import { Kvm, KvmError, KvmiClient, kvmiInProcessPair, kvmiSocketFd, virtualSys, x86_64, type Sys, type VcpuExit } from '../../src/index.js';
import { guest } from '../helpers/guests.js';
import { runToExit } from '../helpers/run.js';

export const RAM = 0x200000;
export const CODE = 0x8000;
export const MAILBOX = 0x9000;
export const HC_RESULT = MAILBOX + 0x08;
export const PATTERN = MAILBOX + 0x10;
export const READ_RES = MAILBOX + 0x18;
export const LAST_VEC = MAILBOX + 0x20;
export const VEC_COUNT = MAILBOX + 0x24;
export const STACK = 0x7f000;
/** Memslot 1: the test page and the exec page. */
export const TEST_GPA = 0x400000;
export const EXEC_GPA = 0x401000;
export const TEST_GVA = 0x40000000;
export const EXEC_GVA = 0x40001000;

/** Guest test ids (kvmi-guest.asm). */
export const T = { NOOP: 0, BP: 1, CR: 2, DESCRIPTOR: 3, HYPERCALL: 4, MSR: 5, PF_WRITE: 6, XSETBV: 7, PF_READ: 8, PF_EXEC: 9, IDT: 10 } as const;

const I = x86_64.ioctls;
export const IOCTL = {
  HOOK: I.KVM_INTROSPECTION_HOOK!.request,
  UNHOOK: I.KVM_INTROSPECTION_UNHOOK!.request,
  COMMAND: I.KVM_INTROSPECTION_COMMAND!.request,
  EVENT: I.KVM_INTROSPECTION_EVENT!.request,
  PREUNHOOK: I.KVM_INTROSPECTION_PREUNHOOK!.request,
};

const GDT = [0n, 0x00cf9b000000ffffn, 0x00cf93000000ffffn, 0x00af9b000000ffffn];

export interface Machine {
  sys: Sys;
  kvm: Kvm;
  vm: ReturnType<Kvm['createVm']>;
  vcpu: ReturnType<ReturnType<Kvm['createVm']>['createVcpu']>;
  ram: Uint8Array;
  /** Memslot 1's backing (TEST_GPA, EXEC_GPA). */
  slot1: { hva: bigint; bytes: Uint8Array };
}

/** A VM with 2 MiB of RAM (slot 0), two pages at TEST_GPA (slot 1), and vCPU 0 in long mode at the guest's start. */
export function makeMachine(sys: Sys = virtualSys()): Machine {
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const ram = sys.alloc(RAM);
  const slot1 = sys.alloc(0x2000);
  const m = ram.bytes;
  const dv = new DataView(m.buffer, m.byteOffset);
  m.set(guest('x86/kvmi/kvmi-guest.bin'), CODE);
  GDT.forEach((d, i) => dv.setBigUint64(0x500 + 8 * i, d, true));
  // Page tables: identity map of the first GiB (2 MiB pages) and TEST_GVA/EXEC_GVA -> slot 1 (4 KiB pages).
  dv.setBigUint64(0x2000, 0x3000n | 3n, true);
  dv.setBigUint64(0x3000, 0x4000n | 3n, true);
  dv.setBigUint64(0x3008, 0x5000n | 3n, true);
  for (let i = 0; i < 512; i++) dv.setBigUint64(0x4000 + 8 * i, (BigInt(i) << 21n) | 0x83n, true);
  dv.setBigUint64(0x5000, 0x6000n | 3n, true);
  dv.setBigUint64(0x6000, BigInt(TEST_GPA) | 3n, true);
  dv.setBigUint64(0x6008, BigInt(EXEC_GPA) | 3n, true);
  slot1.bytes[EXEC_GPA - TEST_GPA] = 0xc3; // RET
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
  vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: TEST_GPA, memorySize: 0x2000, userspaceAddr: slot1.hva });
  const vcpu = vm.createVcpu(0);
  const s = vcpu.getSregs();
  const seg = (selector: number, type: number, l: number) => ({ ...s.cs, base: 0n, limit: 0xffffffff, selector, type, present: 1, dpl: 0, db: l ? 0 : 1, s: 1, l, g: 1, avl: 0, unusable: 0 });
  vcpu.setSregs({
    cs: seg(0x18, 11, 1),
    ds: seg(0x10, 3, 0),
    es: seg(0x10, 3, 0),
    ss: seg(0x10, 3, 0),
    fs: seg(0x10, 3, 0),
    gs: seg(0x10, 3, 0),
    tr: { ...s.tr, base: 0n, limit: 0x67, selector: 0, type: 11, present: 1, s: 0 },
    gdt: { base: 0x500n, limit: GDT.length * 8 - 1, padding: [0, 0, 0] },
    cr0: 0x80050033n,
    cr3: 0x2000n,
    cr4: 0x20n | 0x200n,
    efer: 0x500n,
  });
  vcpu.setRegs({ rip: BigInt(CODE), rsp: BigInt(STACK), rflags: 2n });
  setCpuid(sys, vcpu.fd, kvm.supportedCpuid());
  // Let the guest build its IDT and stop at its first "which test?" request.
  const first = runToExit(vcpu);
  if (first.reason !== 'io' || first.port !== 0x10) throw new Error(`guest did not start: ${first.reason}`);
  return { sys, kvm, vm, vcpu, ram: m, slot1 };
}

function setCpuid(sys: Sys, fd: number, entries: ReturnType<Kvm['supportedCpuid']>): void {
  const S = x86_64.structs;
  const b = S.kvm_cpuid2.alloc(entries.length);
  S.kvm_cpuid2.encodeInto({ nent: entries.length }, b);
  entries.forEach((e, i) => S.kvm_cpuid_entry2.encodeInto(e, b, 8 + 40 * i));
  sys.ioctl(fd, I.KVM_SET_CPUID2!.request, b);
}

/** KVM_INTROSPECTION_COMMAND / _EVENT: 0, or the errno code. */
export function feature(mc: Machine, request: number, id: number, allow: number): string | 0 {
  const b = new Uint8Array(8);
  const dv = new DataView(b.buffer);
  dv.setUint32(0, allow, true);
  dv.setInt32(4, id, true);
  return errnoOf(() => mc.sys.ioctl(mc.vm.fd, request, b));
}

/** KVM_INTROSPECTION_HOOK with `fd`: 0, or the errno code. */
export function hookFd(mc: Machine, fd: number, padding = 0): string | 0 {
  const b = new Uint8Array(24);
  const dv = new DataView(b.buffer);
  dv.setInt32(0, fd, true);
  dv.setUint32(4, padding, true);
  return errnoOf(() => mc.sys.ioctl(mc.vm.fd, IOCTL.HOOK, b));
}

export function errnoOf(f: () => unknown): string | 0 {
  try {
    f();
    return 0;
  } catch (e) {
    if (e instanceof KvmError) return e.code;
    throw e;
  }
}

/** Hooks the VM to a fresh in-process tool, with every command and event allowed. */
export function hookInProcess(mc: Machine): KvmiClient {
  const { kernel, tool } = kvmiInProcessPair();
  const fd = kvmiSocketFd(mc.sys, kernel);
  if (hookFd(mc, fd) !== 0) throw new Error('hook failed');
  mc.sys.close(fd); // the VM keeps its own reference to the socket
  if (feature(mc, IOCTL.COMMAND, -1, 1) !== 0 || feature(mc, IOCTL.EVENT, -1, 1) !== 0) throw new Error('allow failed');
  return new KvmiClient(tool);
}

export const tick = () => new Promise<void>((r) => setImmediate(r));

export interface TestRun {
  /** The exit that ended the run: OUT to port 0x11 (the guest finished the test), or another. */
  exit: VcpuExit;
  /** KVM_RUN calls that failed with EINTR (the vCPU parked on an event). */
  intr: number;
}

/**
 * Runs guest test `id` to completion, like the selftest's vcpu_worker. Returns at the guest's
 * "done" OUT, or at any exit other than the test protocol's IN/OUT (shutdown, internal error...).
 */
export async function runTest(mc: Machine, id: number, maxIntr = 10000): Promise<TestRun> {
  let intr = 0;
  const last = mc.vcpu.exit();
  if (last.reason === 'io' && last.direction === 'in' && last.port === 0x10) new DataView(last.data.buffer, last.data.byteOffset, 4).setUint32(0, id, true);
  for (;;) {
    const e: VcpuExit = mc.vcpu.run();
    if (e.reason === 'intr' && intr < maxIntr) {
      // EINTR: the vCPU waits for the tool's reply; yield so the tool can answer.
      intr++;
      await tick();
      continue;
    }
    if (e.reason === 'io' && e.direction === 'in' && e.port === 0x10) {
      new DataView(e.data.buffer, e.data.byteOffset, 4).setUint32(0, id, true);
      continue;
    }
    return { exit: e, intr };
  }
}

/** True when the run ended with the guest's "test done". */
export const isDone = (r: TestRun) => r.exit.reason === 'io' && r.exit.direction === 'out' && r.exit.port === 0x11;

export const u64 = (b: Uint8Array, off: number) => new DataView(b.buffer, b.byteOffset).getBigUint64(off, true);
export const u32 = (b: Uint8Array, off: number) => new DataView(b.buffer, b.byteOffset).getUint32(off, true);
