/**
 * Data aborts outside the memslots, as KVM's io_mem_abort handles them: the syndrome that makes an
 * access emulatable (ISV), the in-kernel devices of the MMIO bus first, then the MMIO exit (or the
 * NISV exit with its stage-2 fault status), and the completion of an MMIO read on the next
 * KVM_RUN (kvm_handle_mmio_return).
 * @module
 */
import { exitMmio, RUN, setExitReason } from '../../kernel/exits.js';
import type { Vm } from '../../kernel/vm.js';
import { KvmError } from '../../sys/error.js';
import { KVM_EXIT } from '../../uapi/constants.js';
import { EXIT, ISS_WNR, Pending, STOP_EXIT, type Cpu } from './cpu.js';
import { FSC } from './mmu.js';

/** The value the next KVM_RUN takes for Rt after an MMIO read (kvm_handle_mmio_return). */
export function completeMmioRead(c: Cpu, data: Uint8Array, off = 0): void {
  const len = c.pendingLen;
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < Math.min(len, 4); i++) lo |= data[off + i]! << (8 * i);
  for (let i = 4; i < len; i++) hi |= data[off + i]! << (8 * (i - 4));
  if (c.pendingSse && len < 8) {
    if (len === 4) hi = lo >> 31;
    else {
      const sh = 32 - 8 * len;
      lo = (lo << sh) >> sh;
      hi = lo >> 31;
    }
  }
  if (!c.pendingSf) hi = 0;
  const rt = c.pendingRt;
  if (rt !== 31) {
    c.x[2 * rt] = lo;
    c.x[2 * rt + 1] = hi;
  }
}

/**
 * The ESR ISS a data abort would carry for `insn` when it has a valid syndrome (ISV = 1: loads and
 * stores of a single general-purpose register, no writeback, not exclusive, not atomic), packed
 * as SRT[4:0] | SAS[9:8] | SSE[10] | SF[11]; -1 when ISV = 0.
 */
export function isvSyndrome(insn: number): number {
  const size = insn >>> 30;
  // Load/store register, V = 0: bits [29:27] = 111, bit 26 = 0.
  if (((insn >>> 26) & 0xf) === 0b1110) {
    const kind = (insn >>> 24) & 3;
    const opc = (insn >>> 22) & 3;
    let ok = false;
    if (kind === 1) ok = true; // unsigned offset
    else if (kind === 0) {
      const mode = (insn >>> 10) & 3;
      ok = (insn & (1 << 21)) === 0 ? mode === 0 || mode === 2 : mode === 2; // LDUR/LDTR, register offset
    }
    if (!ok) return -1;
    if (size === 3 && opc === 2) return -1; // PRFM
    if (opc === 3 && size >= 2) return -1;
    const sse = opc >= 2;
    const sf = size === 3 || opc === 2;
    return (insn & 31) | (size << 8) | (sse ? 0x400 : 0) | (sf ? 0x800 : 0);
  }
  // Load/store ordered (LDAR/STLR/LDLAR/STLLR): size 001000 1 L 0 Rs o0 ...
  if (((insn >>> 23) & 0x7f) === 0b0010001 && (insn & (1 << 21)) === 0) {
    return (insn & 31) | (size << 8) | (size === 3 ? 0x800 : 0);
  }
  return -1;
}

/**
 * The stage-2 fault status a data abort outside the memslots carries: a permission fault for a
 * write to a read-only slot, else a translation fault at the level where KVM's stage-2 tables
 * would run out (no slot in the same 1 GiB: level 1; in the same 2 MiB: level 2; else level 3).
 */
export function stage2Fsc(vm: Vm, pa: number, write: boolean): number {
  const gfn = Math.floor(pa / 4096);
  const slot = vm.slotFor(gfn);
  if (slot && write && slot.readonly) return FSC.PERMISSION + 3;
  const near = (span: number) => {
    const first = Math.floor(gfn / span) * span;
    for (const s of vm.slots[0]!.all()) if (s.baseGfn < first + span && s.baseGfn + s.npages > first) return true;
    return false;
  };
  if (!near(512 * 512)) return FSC.TRANSLATION + 1;
  if (!near(512)) return FSC.TRANSLATION + 2;
  return FSC.TRANSLATION + 3;
}

/**
 * A data access outside the memslots (or a write to a read-only slot): the MMIO exit when the
 * instruction has a valid syndrome, else KVM_EXIT_ARM_NISV or ENOSYS (io_mem_abort).
 */
export function mmioAccess(c: Cpu, pa: number, size: number, write: boolean, lo: number, hi: number): { dv: DataView | null; off: number } {
  const syn = isvSyndrome(c.insn);
  const v = c.vcpu;
  if (syn < 0) {
    c.pc = c.insnPc;
    if (c.vmState.nisvToUser) {
      const iss = (write ? ISS_WNR : 0) | stage2Fsc(c.vm, pa, write);
      v.run.fill(0, RUN['hw.hardware_exit_reason'], RUN['hw.hardware_exit_reason'] + 256);
      setExitReason(v, KVM_EXIT.ARM_NISV);
      v.runDv.setBigUint64(RUN['arm_nisv.esr_iss'], BigInt(iss), true);
      v.runDv.setBigUint64(RUN['arm_nisv.fault_ipa'], BigInt(pa), true);
      throw EXIT;
    }
    throw KvmError.of('ENOSYS', 'ioctl', { message: 'data abort outside memslots with no valid syndrome' });
  }
  const len = 1 << ((syn >>> 8) & 3);
  // kvm_io_bus_write/read: an in-kernel device (the vGIC's frames, an ioeventfd) takes it first.
  const bus = c.mmioBus;
  if (!bus.empty && size === len) {
    const r = c.resolved;
    if (write ? bus.writeValue(v, pa, len, lo, hi) : bus.readValue(v, pa, len)) {
      // A write lands in the scratch; a read takes its value from the bus's.
      r.dv = write ? c.splitDv : bus.scratchDv;
      r.off = write ? 8 : 0;
      return r;
    }
  }
  if (write) {
    const data = c.split;
    const d = c.splitDv;
    d.setInt32(0, lo, true);
    d.setInt32(4, hi, true);
    exitMmio(v, pa, len, true, data); // exitMmio copies len bytes: no view per exit
    c.pending = Pending.MMIO_WRITE;
  } else {
    exitMmio(v, pa, len, false);
    c.pending = Pending.MMIO_READ;
    c.pendingRt = syn & 31;
    c.pendingLen = len;
    c.pendingSse = (syn & 0x400) !== 0;
    c.pendingSf = (syn & 0x800) !== 0;
  }
  if (size !== len) {
    // Part of a split access: abandon the instruction here.
    c.pc = c.insnPc;
    throw EXIT;
  }
  // The whole access of a single-register load/store: let the instruction finish against a
  // scratch buffer (a load's Rt is rewritten when the exit completes) and stop after it; the
  // run loop rewinds the PC to it, as KVM reports it during the exit.
  c.stop |= STOP_EXIT;
  const r = c.resolved;
  r.dv = c.splitDv;
  r.off = 8;
  return r;
}
