/**
 * Stage-1 translation for the EL1&0 regime: 4K granule, up to 48-bit VA split between TTBR0_EL1
 * and TTBR1_EL1 by TCR_EL1.T0SZ/T1SZ, hierarchical APTable/UXNTable/PXNTable, AP[2:1], UXN/PXN,
 * SCTLR_EL1.WXN, and the Access flag (an Access flag fault when AF=0: no hardware AF update,
 * ID_AA64MMFR1_EL1.HAFDBS = 0). Stage 2 is the memslots: a walk that reads outside them is the
 * synchronous external abort KVM injects.
 *
 * `translate` returns the physical address, or a negative number `-1 - FSC` (the fault status
 * code, level included) so AT can report a fault without raising it.
 * @module
 */
import type { Cpu } from './cpu.js';

/** Access kinds. */
export const ACC_R = 0;
export const ACC_W = 1;
export const ACC_X = 2;

/** Permission bits cached per translation. */
export const P_R1 = 1;
export const P_W1 = 2;
export const P_X1 = 4;
export const P_R0 = 8;
export const P_W0 = 16;
export const P_X0 = 32;
export const P_ALL = 63;

/** Fault status codes (DFSC/IFSC); add the level for the level-dependent ones. */
export const FSC = {
  ADDR_SIZE: 0x00,
  TRANSLATION: 0x04,
  ACCESS_FLAG: 0x08,
  PERMISSION: 0x0c,
  EXT_ABORT: 0x10,
  EXT_ABORT_WALK: 0x14,
  ALIGNMENT: 0x21,
  DEBUG: 0x22,
} as const;

const TWO32 = 4294967296;
const PA_LIMIT = 2 ** 48;

/** TCR_EL1/SCTLR_EL1 fields the walk needs, decoded once per register write. */
export class MmuConfig {
  on = false;
  t0sz = 16;
  t1sz = 16;
  epd0 = 0;
  epd1 = 0;
  wxn = 0;
  /** Table base addresses (bits [47:1] of TTBRn, 8-byte aligned). */
  ttbr0 = 0;
  ttbr1 = 0;
  mairLo = 0;
  mairHi = 0;
  /** Output address size: TCR_EL1.IPS, at most ID_AA64MMFR0_EL1.PARange (48 bits). */
  paBits = 48;
}

/** TCR_EL1.IPS / PARange encodings to bits. */
export const PA_SIZE_BITS = [32, 36, 40, 42, 44, 48, 52] as const;

/** Result registers of the last successful translation. */
export class Translation {
  /** Permissions (P_*) of the page. */
  perms = P_ALL;
  /** Device memory (unaligned accesses fault). */
  device = false;
  /** MAIR attribute byte and shareability, for PAR_EL1. */
  attr = 0;
  sh = 0;
}

const descBuf = new Uint8Array(8);
const descDv = new DataView(descBuf.buffer);

/** Translates `va` for an access of kind `acc` at exception level `el`. */
export function translate(c: Cpu, va: number, acc: number, el: number, out: Translation): number {
  const m = c.mmu;
  if (!m.on) {
    // Stage 1 off: flat, data accesses Device-nGnRnE, instruction fetches Normal.
    if (va < 0 || va >= PA_LIMIT) return -1 - FSC.ADDR_SIZE;
    out.perms = P_ALL;
    out.device = acc !== ACC_X;
    out.attr = acc === ACC_X ? 0x44 : 0x00;
    out.sh = 2;
    return va;
  }
  const upper = va < 0;
  const tsz = Math.min(39, Math.max(16, upper ? m.t1sz : m.t0sz));
  const inBits = 64 - tsz;
  if (upper) {
    if (va < -(2 ** inBits) || m.epd1) return -1 - FSC.TRANSLATION;
  } else if (va >= 2 ** inBits || m.epd0) {
    return -1 - FSC.TRANSLATION;
  }
  // Index bits relative to the region: for TTBR1 the VA's low inBits bits.
  const rel = upper ? va + 2 ** inBits : va;
  let level = inBits > 39 ? 0 : inBits > 30 ? 1 : 2;
  let table = upper ? m.ttbr1 : m.ttbr0;
  let apTable = 0;
  let xnTable = 0; // bit 0 PXN, bit 1 UXN
  const vm = c.vm;
  for (;;) {
    const shift = 12 + 9 * (3 - level);
    const idx = Math.floor(rel / 2 ** shift) % 512;
    const gpa = table + idx * 8;
    if (!vm.readGpa(gpa, descBuf)) return -1 - FSC.EXT_ABORT;
    const lo = descDv.getInt32(0, true);
    const hi = descDv.getInt32(4, true);
    if ((lo & 1) === 0) return -1 - (FSC.TRANSLATION + level);
    const oa = (hi & 0xffff) * TWO32 + ((lo & ~0xfff) >>> 0);
    if (level < 3 && (lo & 2) !== 0) {
      // OA bits [51:48] beyond a 48-bit PA, or an OA above TCR_EL1.IPS: an Address size fault here.
      if (hi & 0xf0000 || oa >= 2 ** m.paBits) return -1 - (FSC.ADDR_SIZE + level);
      apTable |= (hi >>> 29) & 3;
      xnTable |= (hi >>> 27) & 3;
      table = oa;
      level++;
      continue;
    }
    if (level === 3 ? (lo & 2) === 0 : level === 0) return -1 - (FSC.TRANSLATION + level);
    // A block or page descriptor's OA ends at bit 49: bit 50 is GP (BTI guarded page), bit 51 DBM
    // (dirty bit modifier, Linux's PTE_WRITE), neither an address bit.
    if (hi & 0x30000 || oa >= 2 ** m.paBits) return -1 - (FSC.ADDR_SIZE + level);
    if ((lo & 0x400) === 0) return -1 - (FSC.ACCESS_FLAG + level);
    // Permissions
    const ap = (lo >>> 6) & 3;
    const w1 = (ap & 2) === 0 && (apTable & 2) === 0;
    const r0 = (ap & 1) !== 0 && (apTable & 1) === 0;
    const w0 = ap === 1 && (apTable & 3) === 0;
    const pxn = ((hi >>> 21) & 1) | (xnTable & 1);
    const uxn = ((hi >>> 22) & 1) | ((xnTable >>> 1) & 1);
    let perms = P_R1 | (w1 ? P_W1 : 0) | (r0 ? P_R0 : 0) | (w0 ? P_W0 : 0);
    if (!pxn && !w0 && !(m.wxn && w1)) perms |= P_X1;
    if (!uxn && !(m.wxn && w0)) perms |= P_X0;
    const need = acc === ACC_R ? (el ? P_R1 : P_R0) : acc === ACC_W ? (el ? P_W1 : P_W0) : el ? P_X1 : P_X0;
    if ((perms & need) === 0) return -1 - (FSC.PERMISSION + level);
    const attrIdx = (lo >>> 2) & 7;
    const attr = (attrIdx < 4 ? m.mairLo >>> (8 * attrIdx) : m.mairHi >>> (8 * (attrIdx - 4))) & 0xff;
    out.perms = perms;
    out.attr = attr;
    out.sh = (lo >>> 8) & 3;
    out.device = acc !== ACC_X && (attr & 0xf0) === 0;
    const size = 2 ** shift;
    return oa - (oa % size) + (rel % size);
  }
}
