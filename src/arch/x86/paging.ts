/**
 * Facts of x86 paging the MMU's walk checks against: #PF error code bits, the reserved bits of a
 * PAE/4-level entry for a MAXPHYADDR, the U/S, R/W, NX rights of a walk, canonical addresses.
 * @module
 */
import { supportedCpuid } from './cpuid.js';

/** Page-fault error code bits. */
export const PF_P = 1, PF_W = 2, PF_U = 4, PF_RSVD = 8, PF_I = 16;

/**
 * Reserved address bits of a PAE paging entry's high dword for a MAXPHYADDR of `bits`:
 * bits [51:MAXPHYADDR] plus bits [62:52] (4-level paging ignores 62:52: the walk masks them off).
 * An entry with one set is a #PF with the reserved-bit error code.
 */
export function rsvdHiFor(bits: number): number {
  return 0x7ff00000 | (0xfffff & ~((1 << (Math.min(52, bits) - 32)) - 1));
}

/** This host's MAXPHYADDR (CPUID 0x80000008 EAX[7:0]): what the hardware walk checks under EPT. */
export const HOST_RSVD_HI = rsvdHiFor((supportedCpuid().find((e) => e.function === 0x80000008)?.eax ?? 36) & 0xff);

/** Whether a walk's combined U/S, R/W and NX bits allow the access (else #PF with P set). */
export function accessOk(user: boolean, write: boolean, fetch: boolean, userOk: boolean, writeOk: boolean, nx: boolean, wp: boolean): boolean {
  if (user && !userOk) return false;
  if (write && !writeOk && (user || wp)) return false;
  // SMEP/SMAP are not exposed in CPUID here, so CR4.SMEP/SMAP cannot be set.
  return !(fetch && nx);
}

/** True for a canonical 48-bit address (as a JS number). */
export function isCanonical(lin: number): boolean {
  return lin >= -0x800000000000 && lin < 0x800000000000;
}
