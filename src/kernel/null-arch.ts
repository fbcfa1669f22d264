/**
 * A minimal arch for the generic kernel's own tests: the x86-64 ABI (layouts, ioctl numbers) over
 * a toy byte-code CPU, so memslots, dirty logging, read-only slots, IO/MMIO completion and
 * immediate_exit can be tested without a real ISA. Not used by `virtualSys()` unless asked.
 *
 * Byte code at gpa `rip` (acc is rax):
 *   00 HLT | 01 <gpa:u64> <imm:u8> store | 02 <port:u16> <imm:u8> OUT | 03 <port:u16> IN -> acc
 *   04 <gpa:u64> load -> acc | 05 <rel:s8> JMP | anything else: emulation failure
 * @module
 */
import { KvmError } from '../sys/error.js';
import { KVM_CAP, KVM_EXIT, KVM_EXIT_IO, KVM_GUESTDBG, KVM_MP_STATE } from '../uapi/constants.js';
import { x86_64 } from '../uapi/index.js';
import { NOT_HANDLED, type ArchBackend } from './arch.js';
import { exitEmulationFailure, exitIo, exitMmio, exitSimple, PIO_DATA_OFFSET, RUN } from './exits.js';
import { PAGE_SIZE } from './hva.js';
import type { UserArg } from './uarg.js';
import type { Vcpu } from './vcpu.js';
import type { Vm } from './vm.js';

const S = x86_64.structs;
const I = x86_64.ioctls;

interface NullCpu {
  rip: bigint;
  acc: bigint;
  mpState: number;
  debug: number;
  /** What the next KVM_RUN must complete: an IN or an MMIO read (the result goes to acc). */
  pending: 'in' | 'mmio' | null;
}

/** Steps per KVM_RUN before it returns as if a signal arrived (KVM_EXIT_INTR, EINTR). */
const STEP_BUDGET = 1_000_000;

export const nullArch: ArchBackend = {
  arch: 'x86_64',
  vcpuMmapPages: 3,
  maxVcpus: 1024,
  maxVcpuIds: 4096,
  userMemSlots: 32764,
  unknownVmIoctlErrno: 'ENOTTY',

  checkExtension(cap) {
    switch (cap) {
      case KVM_CAP.READONLY_MEM:
      case KVM_CAP.SET_GUEST_DEBUG:
        return 1;
      default:
        return 0;
    }
  },
  initVm(_vm, type) {
    if (type !== 0) throw KvmError.of('EINVAL', 'ioctl', { message: 'the null arch has only the default VM type' });
    return {};
  },
  addressSpaces: () => 1,
  hasPrivateMem: () => false,
  hasReadonlyMem: () => true,
  gmemFlags: () => 0n,
  enableCapVm() {
    throw KvmError.of('EINVAL', 'ioctl');
  },
  createVcpu(): NullCpu {
    return { rip: 0n, acc: 0n, mpState: KVM_MP_STATE.RUNNABLE, debug: 0, pending: null };
  },
  vcpuIoctl(vcpu: Vcpu, request: number, arg: UserArg) {
    const c = vcpu.archState as NullCpu;
    switch (request) {
      case I.KVM_GET_REGS!.request: {
        const out = arg.bytes(S.kvm_regs.size);
        out.set(S.kvm_regs.encode({ rip: c.rip, rax: c.acc, rflags: 2n }));
        return 0;
      }
      case I.KVM_SET_REGS!.request: {
        const r = S.kvm_regs.decode(arg.bytes(S.kvm_regs.size));
        c.rip = r.rip;
        c.acc = r.rax;
        return 0;
      }
      case I.KVM_GET_MP_STATE!.request:
        arg.bytes(4).set(S.kvm_mp_state.encode({ mp_state: c.mpState }));
        return 0;
      case I.KVM_SET_MP_STATE!.request: {
        const s = S.kvm_mp_state.decode(arg.bytes(4)).mp_state;
        if (s !== KVM_MP_STATE.RUNNABLE && s !== KVM_MP_STATE.HALTED) throw KvmError.of('EINVAL', 'ioctl');
        c.mpState = s;
        return 0;
      }
      case I.KVM_SET_GUEST_DEBUG!.request: {
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
};

function step(vcpu: Vcpu, c: NullCpu): number {
  const vm = vcpu.vm;
  const b = new Uint8Array(12);
  for (let n = 0; n < STEP_BUDGET; n++) {
    const rip = Number(c.rip);
    const fetch = fetchBytes(vm, rip, b);
    if (fetch === 'efault') throw KvmError.of('EFAULT', 'ioctl');
    if (fetch === 'mmio') {
      exitEmulationFailure(vcpu);
      return 0;
    }
    const dv = new DataView(b.buffer);
    switch (b[0]) {
      case 0x00:
        c.rip += 1n;
        exitSimple(vcpu, KVM_EXIT.HLT);
        return 0;
      case 0x01: {
        const gpa = Number(dv.getBigUint64(1, true));
        const v = b[9]!;
        c.rip += 10n;
        const gfn = Math.floor(gpa / PAGE_SIZE);
        const slot = vm.slotFor(gfn);
        if (!slot || slot.readonly) {
          exitMmio(vcpu, gpa, 1, true, Uint8Array.of(v));
          return 0;
        }
        const page = slot.page(gfn - slot.baseGfn);
        if (!page) throw KvmError.of('EFAULT', 'ioctl');
        page.bytes[page.offset + (gpa % PAGE_SIZE)] = v;
        slot.markDirty(gfn - slot.baseGfn);
        break;
      }
      case 0x02:
        c.rip += 4n;
        vcpu.area[PIO_DATA_OFFSET] = b[3]!;
        exitIo(vcpu, KVM_EXIT_IO.OUT, dv.getUint16(1, true), 1, 1);
        return 0;
      case 0x03:
        c.rip += 3n;
        c.pending = 'in';
        exitIo(vcpu, KVM_EXIT_IO.IN, dv.getUint16(1, true), 1, 1);
        return 0;
      case 0x04: {
        const gpa = Number(dv.getBigUint64(1, true));
        c.rip += 9n;
        const one = new Uint8Array(1);
        if (!vm.readGpa(gpa, one)) {
          const slot = vm.slotFor(Math.floor(gpa / PAGE_SIZE));
          if (slot) throw KvmError.of('EFAULT', 'ioctl');
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
      default:
        exitEmulationFailure(vcpu, b.subarray(0, 1));
        return 0;
    }
    if (c.debug & KVM_GUESTDBG.SINGLESTEP && c.debug & KVM_GUESTDBG.ENABLE) {
      exitSimple(vcpu, KVM_EXIT.DEBUG);
      vcpu.runDv.setBigUint64(RUN['debug.arch'] + 8, c.rip, true);
      return 0;
    }
  }
  exitSimple(vcpu, KVM_EXIT.INTR);
  throw KvmError.of('EINTR', 'ioctl');
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
