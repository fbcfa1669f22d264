/** What a call ended with, as the tests compare it against the kernel's errno. */
import { KvmError } from '../../src/index.js';

/**
 * 'ok' when `f` returns; the errno name of a KvmError it throws; anything else thrown is named as
 * such ("threw TypeError: ..."), so a test expecting an errno fails on it.
 */
export function errnoOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    if (e instanceof KvmError) return e.code;
    return `threw ${(e as Error)?.constructor?.name ?? typeof e}: ${String((e as Error)?.message ?? e)}`;
  }
}
