/**
 * Data aborts outside the memslots, as KVM's io_mem_abort sees them: the syndrome that makes an
 * access emulatable (ISV), the stage-2 fault status a NISV exit reports, and the completion of an
 * MMIO read on the next KVM_RUN (kvm_handle_mmio_return).
 * @module
 */
import type { Vm } from '../../kernel/vm.js';
import type { Cpu } from './cpu.js';
import { FSC } from './mmu.js';

/** The value the next KVM_RUN takes for Rt after an MMIO read (kvm_handle_mmio_return). */
export function completeMmioRead(c: Cpu, data: Uint8Array): void {
  const len = c.pendingLen;
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < Math.min(len, 4); i++) lo |= data[i]! << (8 * i);
  for (let i = 4; i < len; i++) hi |= data[i]! << (8 * (i - 4));
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
