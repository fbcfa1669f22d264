/** The backends a shared scenario runs on: the virtual one always, the native one where it exists. */
import { isNativeAvailable, nativeSys, virtualSys, KvmError, type Sys } from '../../src/index.js';

export interface Backend {
  readonly name: 'virtual' | 'native';
  make(): Sys;
}

/** True when the real /dev/kvm can serve as the x86 oracle here. */
export const nativeX86 = process.arch === 'x64' && isNativeAvailable();

export const virtualBackend: Backend = { name: 'virtual', make: () => virtualSys({ arch: 'x86_64' }) };
export const nativeBackend: Backend = { name: 'native', make: () => nativeSys() };

/** Backends for x86 scenarios: virtual, plus native where available. */
export const x86Backends: Backend[] = nativeX86 ? [virtualBackend, nativeBackend] : [virtualBackend];

/** The errno code `f` fails with, or 'ok:<result>' when it succeeds (numbers and strings as they are, else their type). */
export function outcome(f: () => unknown): string {
  try {
    const r = f();
    return `ok:${typeof r === 'bigint' || typeof r === 'number' || typeof r === 'string' ? String(r) : typeof r}`;
  } catch (e) {
    if (e instanceof KvmError) return e.code;
    throw e;
  }
}
