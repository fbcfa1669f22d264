/**
 * The kernel behind a `virtualSys()` (white-box tests, models, the TDX debug view, KVMI's
 * in-process sockets). A leaf module, so the layers above `Sys` reach it without an import cycle.
 * @module
 */
import type { Kernel } from '../kernel/kernel.js';
import type { Sys } from './sys.js';

const kernels = new WeakMap<object, Kernel>();

/** @internal Records the kernel of a virtual Sys (its constructor calls this). */
export function bindKernel(sys: Sys, kernel: Kernel): void {
  kernels.set(sys, kernel);
}

/** @internal The kernel behind a `virtualSys()`; undefined for other Sys implementations. */
export function kernelOf(sys: Sys): Kernel | undefined {
  return kernels.get(sys);
}
