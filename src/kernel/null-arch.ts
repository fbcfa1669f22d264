/**
 * A minimal arch for the generic kernel's own tests: the x86-64 ABI (layouts, ioctl numbers) over
 * a toy byte-code CPU, so memslots, dirty logging, read-only slots, IO/MMIO completion,
 * immediate_exit, and the in-kernel device plumbing (I/O bus, ioeventfds, routing, irqfds, a toy
 * irqchip, halting that sleeps, timers, vCPUs on workers) can be tested without a real ISA. Not
 * used by `virtualSys()` unless asked (`archBackend: nullArch`).
 *
 * Byte code at gpa `rip` (acc is rax; little-endian immediates):
 *   00 HLT (sleeps until an interrupt with the toy irqchip, else KVM_EXIT_HLT)
 *   01 <gpa:u64> <imm:u8> store | 02 <port:u16> <imm:u8> OUT | 03 <port:u16> IN -> acc
 *   04 <gpa:u64> load -> acc | 05 <rel:s8> JMP
 *   06 <port:u16> OUT32 acc | 07 <gpa:u64> store acc (8 bytes) | 08 <imm:u32> acc = imm
 *   09 acc = VM clock (ns) | 0a <ns:u32> toy timer: vector 0xf0 in `ns` | 0b EOI | 0c IRET
 *   0d <gpa:u64> store acc (4 bytes) | 0e <gpa:u64> interrupt handler address (0: interrupts off)
 *   0f acc += 1 | anything else: emulation failure
 * An interrupt (toy irqchip, src/kernel/null-irqchip.ts) is taken at an instruction boundary when
 * a handler is set and none is in service: acc = vector, the return address is saved, rip = handler.
 * @module
 */
import { KvmError } from '../sys/error.js';
import { KVM_CAP, KVM_EXIT, KVM_EXIT_IO, KVM_GUESTDBG, KVM_MP_STATE } from '../uapi/constants.js';
import { x86_64 } from '../uapi/index.js';
import { NOT_HANDLED, type ArchBackend } from './arch.js';
import { exitEmulationFailure, exitIo, exitMmio, exitSimple, PIO_DATA_OFFSET, RUN } from './exits.js';
import { PAGE_SIZE } from './hva.js';
import { KVM_BUS } from './iobus.js';
import { anyPending, deliver, nullEoi, nullIrqchipHooks, takeVector, type NullVmState } from './null-irqchip.js';
import { KVM_REQ, kvmVcpuBlock } from './requests.js';
import type { UserArg } from './uarg.js';
import type { Vcpu } from './vcpu.js';
import type { Vm } from './vm.js';

const S = x86_64.structs;
const I = x86_64.ioctls;

/** The toy timer's vector. */
export const TIMER_VECTOR = 0xf0;

interface NullCpu {
  rip: bigint;
  acc: bigint;
  mpState: number;
  debug: number;
  /** What the next KVM_RUN must complete: an IN or an MMIO read (the result goes to acc). */
  pending: 'in' | 'mmio' | null;
  /** Interrupt handler address (0: interrupts off), the saved return address, the vector in service (-1). */
  ivt: bigint;
  saved: bigint;
  inService: number;
  /** Instructions retired (the deterministic clock counts them). */
  retired: number;
  /** Pending vectors, 256 bits in shared memory (the toy irqchip sets them from any thread). */
  pendingVectors: Int32Array;
  /** Toy timer deadline, ns (carried when the vCPU moves threads), or -1. */
  timerAt: number;
}

/** Steps per KVM_RUN before it returns as if a signal arrived (KVM_EXIT_INTR, EINTR). */
const STEP_BUDGET = 1_000_000;

const vmState = (vm: Vm) => vm.archState as NullVmState;

export const nullArch: ArchBackend = {
  arch: 'x86_64',
  name: 'null',
  vcpuMmapPages: x86_64.KVM_PAGE_OFFSET.COALESCED_MMIO + 1,
  maxVcpus: 1024,
  maxVcpuIds: 4096,
  userMemSlots: 32764,
  unknownVmIoctlErrno: 'ENOTTY',
  ioBus: true,

  checkExtension(cap) {
    switch (cap) {
      case KVM_CAP.READONLY_MEM:
      case KVM_CAP.SET_GUEST_DEBUG:
        return 1;
      default:
        return 0;
    }
  },
  initVm(_vm, type): NullVmState {
    if (type !== 0) throw KvmError.of('EINVAL', 'ioctl', { message: 'the null arch has only the default VM type' });
    return { chip: null, inKernel: false };
  },
  addressSpaces: () => 1,
  hasPrivateMem: () => false,
  hasReadonlyMem: () => true,
  gmemFlags: () => 0n,
  enableCapVm() {
    throw KvmError.of('EINVAL', 'ioctl');
  },
  ...nullIrqchipHooks,
  createVcpu(): NullCpu {
    return { rip: 0n, acc: 0n, mpState: KVM_MP_STATE.RUNNABLE, debug: 0, pending: null, ivt: 0n, saved: 0n, inService: -1, retired: 0, pendingVectors: new Int32Array(new SharedArrayBuffer(32)), timerAt: -1 };
  },
  vcpuIoctl(vcpu: Vcpu, request: number, arg: UserArg) {
    const c = vcpu.archState as NullCpu;
    switch (request) {
      case I.KVM_GET_REGS.request: {
        const out = arg.bytes(S.kvm_regs.size);
        out.set(S.kvm_regs.encode({ rip: c.rip, rax: c.acc, rflags: 2n }));
        return 0;
      }
      case I.KVM_SET_REGS.request: {
        const r = S.kvm_regs.decode(arg.bytes(S.kvm_regs.size));
        c.rip = r.rip;
        c.acc = r.rax;
        return 0;
      }
      case I.KVM_GET_MP_STATE.request:
        arg.bytes(S.kvm_mp_state.size).set(S.kvm_mp_state.encode({ mp_state: c.mpState }));
        return 0;
      case I.KVM_SET_MP_STATE.request: {
        const s = S.kvm_mp_state.decode(arg.bytes(S.kvm_mp_state.size)).mp_state;
        if (s !== KVM_MP_STATE.RUNNABLE && s !== KVM_MP_STATE.HALTED) throw KvmError.of('EINVAL', 'ioctl');
        c.mpState = s;
        return 0;
      }
      case I.KVM_SET_GUEST_DEBUG.request: {
        const d = S.kvm_guest_debug.decode(arg.bytes(S.kvm_guest_debug.size));
        if (d.control & ~(KVM_GUESTDBG.ENABLE | KVM_GUESTDBG.SINGLESTEP)) throw KvmError.of('EINVAL', 'ioctl');
        c.debug = d.control;
        return 0;
      }
      default:
        return NOT_HANDLED;
    }
  },
  run(vcpu: Vcpu): number {
    const c = vcpu.archState as NullCpu;
    if (c.pending) {
      c.acc = BigInt(c.pending === 'in' ? vcpu.area[PIO_DATA_OFFSET]! : vcpu.run[RUN['mmio.data']]!);
      c.pending = null;
    }
    if (vcpu.immediateExit) throw KvmError.of('EINTR', 'ioctl');
    return step(vcpu, c);
  },

  // SMP: the toy CPU can run on a worker thread too.
  saveVcpu(vcpu: Vcpu): NullCpu {
    return { ...(vcpu.archState as NullCpu) };
  },
  loadVcpu(vcpu: Vcpu, state: unknown): void {
    Object.assign(vcpu.archState as NullCpu, state as NullCpu);
    const c = vcpu.archState as NullCpu;
    if (c.timerAt >= 0) armTimer(vcpu, c, c.timerAt);
  },
  saveVm(vm: Vm): unknown {
    return { inKernel: vmState(vm).inKernel };
  },
  loadVm(vm: Vm, state: unknown): void {
    vmState(vm).inKernel = (state as { inKernel: boolean }).inKernel;
  },
};

/** Arms the toy timer: at `at` ns, vector 0xf0 (fires on the vCPU's own thread). */
function armTimer(vcpu: Vcpu, c: NullCpu, at: number): void {
  c.timerAt = at;
  vcpu.timer.arm('null-timer', at, () => {
    c.timerAt = -1;
    deliver(vcpu.vm, vcpu.id, TIMER_VECTOR);
  });
}

/** An interrupt can be taken now: one pending, a handler set, none in service. */
function canTake(c: NullCpu): boolean {
  return c.ivt !== 0n && c.inService < 0 && anyPending(c.pendingVectors);
}

/** Takes the lowest pending vector: acc = vector, the return address saved, rip = handler. */
function take(c: NullCpu): void {
  const vec = takeVector(c.pendingVectors);
  if (vec < 0) return;
  c.inService = vec;
  c.saved = c.rip;
  c.acc = BigInt(vec);
  c.rip = c.ivt;
}

/** kvm_vcpu_halt with the toy irqchip: 'intr' ends KVM_RUN with EINTR, the vCPU still halted. */
function halt(vcpu: Vcpu, c: NullCpu): boolean {
  c.mpState = KVM_MP_STATE.HALTED;
  const r = kvmVcpuBlock(vcpu, c.retired, () => canTake(c));
  if (r === 'intr') return false;
  c.mpState = KVM_MP_STATE.RUNNABLE;
  return true;
}

function intr(vcpu: Vcpu): never {
  exitSimple(vcpu, KVM_EXIT.INTR);
  throw KvmError.of('EINTR', 'ioctl');
}

function step(vcpu: Vcpu, c: NullCpu): number {
  const vm = vcpu.vm;
  const irqchip = vmState(vm).inKernel;
  const b = new Uint8Array(12);
  const dv = new DataView(b.buffer);
  const pioBus = vm.buses[KVM_BUS.PIO]!;
  const mmioBus = vm.buses[KVM_BUS.MMIO]!;
  if (c.mpState === KVM_MP_STATE.HALTED && irqchip && !halt(vcpu, c)) intr(vcpu);
  const start = c.retired;
  let check = c.retired + vcpu.timer.budget(STEP_BUDGET, c.retired);
  for (;;) {
    if (c.retired - start >= STEP_BUDGET) break;
    if (c.retired >= check) {
      vcpu.timer.poll(c.retired);
      check = c.retired + vcpu.timer.budget(STEP_BUDGET, c.retired);
    }
    // vcpu->requests: a kick from any thread (an interrupt, a signal).
    const req = Atomics.load(vcpu.requests, 0);
    if (req !== 0) {
      Atomics.and(vcpu.requests, 0, ~req);
      if (req & KVM_REQ.SIGNAL) intr(vcpu);
    }
    if (canTake(c)) take(c);
    const rip = Number(c.rip);
    const fetch = fetchBytes(vm, rip, b);
    if (fetch === 'efault') throw KvmError.of('EFAULT', 'ioctl');
    if (fetch === 'mmio') {
      exitEmulationFailure(vcpu);
      return 0;
    }
    c.retired++;
    switch (b[0]) {
      case 0x00:
        c.rip += 1n;
        if (!irqchip) {
          exitSimple(vcpu, KVM_EXIT.HLT);
          return 0;
        }
        if (!halt(vcpu, c)) intr(vcpu);
        check = c.retired; // time moved on while halted
        break;
      case 0x01: {
        const gpa = Number(dv.getBigUint64(1, true));
        c.rip += 10n;
        if (store(vcpu, gpa, 1, BigInt(b[9]!))) return 0;
        break;
      }
      case 0x02:
      case 0x06: {
        const size = b[0] === 0x02 ? 1 : 4;
        const port = dv.getUint16(1, true);
        const val = size === 1 ? b[3]! : Number(c.acc & 0xffffffffn);
        c.rip += size === 1 ? 4n : 3n;
        if (pioBus.writeValue(vcpu, port, size, val | 0, 0)) break; // an in-kernel device took it
        new DataView(vcpu.area.buffer, vcpu.area.byteOffset + PIO_DATA_OFFSET, 4).setUint32(0, val >>> 0, true);
        exitIo(vcpu, KVM_EXIT_IO.OUT, port, size, 1);
        return 0;
      }
      case 0x03: {
        const port = dv.getUint16(1, true);
        c.rip += 3n;
        if (pioBus.readValue(vcpu, port, 1)) {
          c.acc = BigInt(pioBus.scratch[0]!);
          break;
        }
        c.pending = 'in';
        exitIo(vcpu, KVM_EXIT_IO.IN, port, 1, 1);
        return 0;
      }
      case 0x04: {
        const gpa = Number(dv.getBigUint64(1, true));
        c.rip += 9n;
        const one = new Uint8Array(1);
        if (!vm.readGpa(gpa, one)) {
          const slot = vm.slotFor(Math.floor(gpa / PAGE_SIZE));
          if (slot) throw KvmError.of('EFAULT', 'ioctl');
          if (mmioBus.readValue(vcpu, gpa, 1)) {
            c.acc = BigInt(mmioBus.scratch[0]!);
            break;
          }
          c.pending = 'mmio';
          exitMmio(vcpu, gpa, 1, false);
          return 0;
        }
        c.acc = BigInt(one[0]!);
        break;
      }
      case 0x05:
        c.rip = BigInt.asUintN(64, c.rip + 2n + BigInt(dv.getInt8(1)));
        break;
      case 0x07:
      case 0x0d: {
        const gpa = Number(dv.getBigUint64(1, true));
        c.rip += 9n;
        if (store(vcpu, gpa, b[0] === 0x07 ? 8 : 4, c.acc)) return 0;
        break;
      }
      case 0x08:
        c.acc = BigInt(dv.getUint32(1, true));
        c.rip += 5n;
        break;
      case 0x09:
        c.acc = BigInt(vcpu.timer.now(c.retired));
        c.rip += 1n;
        break;
      case 0x0a:
        c.rip += 5n;
        armTimer(vcpu, c, vcpu.timer.now(c.retired) + dv.getUint32(1, true));
        check = c.retired;
        break;
      case 0x0b:
        c.rip += 1n;
        if (c.inService >= 0) {
          const v = c.inService;
          c.inService = -1;
          if (v !== TIMER_VECTOR) nullEoi(vcpu, v);
        }
        break;
      case 0x0c:
        c.rip = c.saved;
        break;
      case 0x0e:
        c.ivt = dv.getBigUint64(1, true);
        c.rip += 9n;
        break;
      case 0x0f:
        c.acc = BigInt.asUintN(64, c.acc + 1n);
        c.rip += 1n;
        break;
      default:
        c.retired--;
        exitEmulationFailure(vcpu, b.subarray(0, 1));
        return 0;
    }
    if (c.debug & KVM_GUESTDBG.SINGLESTEP && c.debug & KVM_GUESTDBG.ENABLE) {
      exitSimple(vcpu, KVM_EXIT.DEBUG);
      vcpu.runDv.setBigUint64(RUN['debug.arch'] + 8, c.rip, true);
      return 0;
    }
  }
  intr(vcpu);
}

/**
 * A guest store of `size` bytes: to RAM (marking it dirty), else to an in-kernel device on the
 * MMIO bus, else an MMIO exit (true: the run stops there).
 */
function store(vcpu: Vcpu, gpa: number, size: number, value: bigint): boolean {
  const vm = vcpu.vm;
  const data = new Uint8Array(8);
  new DataView(data.buffer).setBigUint64(0, BigInt.asUintN(64, value), true);
  const gfn = Math.floor(gpa / PAGE_SIZE);
  const slot = vm.slotFor(gfn);
  if (slot && !slot.readonly && Math.floor((gpa + size - 1) / PAGE_SIZE) === gfn) {
    const page = slot.page(gfn - slot.baseGfn);
    if (!page) throw KvmError.of('EFAULT', 'ioctl');
    page.bytes.set(data.subarray(0, size), page.offset + (gpa % PAGE_SIZE));
    slot.markDirty(gfn - slot.baseGfn);
    return false;
  }
  if (vm.buses[KVM_BUS.MMIO]!.write(vcpu, gpa, size, data)) return false;
  exitMmio(vcpu, gpa, size, true, data.subarray(0, size));
  return true;
}

/** Reads up to `out.length` code bytes; 'mmio' when the first byte is not in a slot, 'efault' when unbacked. */
function fetchBytes(vm: Vm, gpa: number, out: Uint8Array): 'ok' | 'mmio' | 'efault' {
  out.fill(0);
  for (let i = 0; i < out.length; i++) {
    const a = gpa + i;
    const gfn = Math.floor(a / PAGE_SIZE);
    const slot = vm.slotFor(gfn);
    if (!slot) return i === 0 ? 'mmio' : 'ok';
    const page = slot.page(gfn - slot.baseGfn);
    if (!page) return 'efault';
    out[i] = page.bytes[page.offset + (a % PAGE_SIZE)]!;
  }
  return 'ok';
}
