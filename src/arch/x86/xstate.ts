/**
 * KVM_GET_XSAVE / KVM_GET_XSAVE2 / KVM_SET_XSAVE: the vCPU's x87/SSE state as the kernel's uabi
 * XSAVE image (struct kvm_xsave, 4096 bytes, standard format), with the kernel's rules
 * (fpu_copy_guest_fpstate_to_uabi, fpu_copy_uabi_to_guest_fpstate): components not in use are
 * written as their initial state and left out of XSTATE_BV; on the way in, XSTATE_BV must be
 * within what this host saves, XCOMP_BV and the reserved header bytes zero, MXCSR valid;
 * components not in XSTATE_BV are initialised.
 * @module
 */
import { XCR0_SUPPORTED } from './cpuid.js';
import { MXCSR_MASK, xinuse } from './exec/xsave.js';
import type { X86Machine } from './run.js';

/** sizeof(struct kvm_xsave): also the guest FPU's uabi_size and KVM_CAP_XSAVE2's answer here. */
export const KVM_XSAVE_SIZE = 4096;
const HDR = 512;

/** The uabi image of the vCPU's state into `out` (KVM_XSAVE_SIZE bytes, zeroed first). */
export function getXsave(m: X86Machine, out: Uint8Array): void {
  const fx = m.s.fx;
  const fdv = new DataView(fx.buffer, fx.byteOffset, 512);
  const dv = new DataView(out.buffer, out.byteOffset, KVM_XSAVE_SIZE);
  out.fill(0, 0, KVM_XSAVE_SIZE);
  // XSTATE_BV: what is in use, within guest_supported_xcr0 | FP | SSE (always 3 here).
  const bv = xinuse(m.cpu) & XCR0_SUPPORTED;
  if (bv & 1) {
    out.set(fx.subarray(0, 24), 0);
    out.set(fx.subarray(32, 160), 32);
  } else dv.setUint16(0, 0x37f, true);
  dv.setUint32(24, bv & 2 ? fdv.getUint32(24, true) : 0x1f80, true);
  dv.setUint32(28, MXCSR_MASK, true);
  if (bv & 2) out.set(fx.subarray(160, 416), 160);
  // sw_reserved: word 0 is the host's user xstate mask (xstate_fx_sw_bytes).
  dv.setUint32(464, XCR0_SUPPORTED, true);
  dv.setUint32(HDR, bv, true);
}

/** Loads a uabi image; false (EINVAL) when the kernel would refuse it, with the state untouched. */
export function setXsave(m: X86Machine, img: Uint8Array): boolean {
  const dv = new DataView(img.buffer, img.byteOffset, KVM_XSAVE_SIZE);
  const bvLo = dv.getUint32(HDR, true);
  if (dv.getUint32(HDR + 4, true) !== 0 || bvLo & ~XCR0_SUPPORTED) return false;
  for (let k = HDR + 8; k < HDR + 64; k++) if (img[k] !== 0) return false;
  const mxcsr = dv.getUint32(24, true);
  if (bvLo & 3 && mxcsr & ~MXCSR_MASK) return false;
  const fx = m.s.fx;
  const fdv = new DataView(fx.buffer, fx.byteOffset, 512);
  if (bvLo & 1) {
    fx.set(img.subarray(0, 24), 0);
    fx.set(img.subarray(32, 160), 32);
  } else {
    fx.fill(0, 0, 24);
    fdv.setUint16(0, 0x37f, true);
    fx.fill(0, 32, 160);
  }
  // As the host's compacted XRSTORS takes it: MXCSR with the SSE component, else its initial value.
  fdv.setUint32(24, bvLo & 2 ? mxcsr : 0x1f80, true);
  if (bvLo & 2) fx.set(img.subarray(160, 416), 160);
  else fx.fill(0, 160, 416);
  return true;
}
