/**
 * The arch backends `virtualSys()` can run, as a static table: each entry is an arch's
 * composition point (src/arch/<arch>/index.ts), where everything the arch has is plugged in.
 * Nothing registers itself on import.
 * @module
 */
import { arm64Backend } from '../arch/arm64/index.js';
import { x86Backend } from '../arch/x86/index.js';
import type { ArchBackend } from '../kernel/arch.js';
import { nullArch } from '../kernel/null-arch.js';
import type { Arch } from '../uapi/index.js';

/** Backends by name: one per arch, plus the kernel's own test arch ('null', x86 ABI). */
const ARCH_BACKENDS: Readonly<Record<Arch | 'null', ArchBackend>> = {
  x86_64: x86Backend,
  arm64: arm64Backend,
  null: nullArch,
};

/** @internal The backend named `name` (an arch, or the name a backend gives itself). */
export function archBackendOf(name: string): ArchBackend {
  const b = (ARCH_BACKENDS as Record<string, ArchBackend | undefined>)[name];
  if (!b) throw new Error(`no arch backend ${name}`);
  return b;
}
