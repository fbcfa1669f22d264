/**
 * Internal-error probes: both interpreters turn a JS exception inside KVM_RUN into an emulation
 * failure exit, so the host survives an emulator bug. That keeps the oracle's "no exception
 * escapes" true by construction — so the fuzzers also look behind it: a KVM_EXIT_INTERNAL_ERROR
 * caused by a JS exception (rather than an instruction the emulator does not implement) is a bug.
 *
 * arm64 records the exception on its Cpu (`internalError`). The x86 run loop does not, so the
 * probe wraps the two x86 methods the run loop calls inside its catch-all (test-only): the
 * machine's runBlock and the event injection.
 * @module
 */
import type { Sys } from '../../src/index.js';
import { kernelOf } from '../../src/sys/virtual.js';
import { EMULATION_FAILURE, ERRNO_EXIT, EXIT, FAULT } from '../../src/arch/x86/cpu.js';
import { X86Events } from '../../src/arch/x86/events.js';
import { X86Machine } from '../../src/arch/x86/run.js';
import { KvmError } from '../../src/sys/error.js';

const SENTINELS = new Set<unknown>([EMULATION_FAILURE, ERRNO_EXIT, EXIT, FAULT]);
let x86Caught: unknown[] = [];
let installed = false;

/** Wraps the x86 run-loop steps so JS exceptions the run loop would swallow are recorded. */
export function installX86Probe(): void {
  if (installed) return;
  installed = true;
  const wrap = (cls: { prototype: unknown; name: string }, name: string) => {
    const proto = cls.prototype as Record<string, (...a: unknown[]) => unknown>;
    const orig = proto[name];
    if (typeof orig !== 'function') throw new Error(`${cls.name}.${name} is gone: update test/fuzz/probe.ts`);
    proto[name] = function (this: unknown, ...args: unknown[]) {
      try {
        return orig.apply(this, args);
      } catch (e) {
        if (!SENTINELS.has(e) && !(e instanceof KvmError)) x86Caught.push(e);
        throw e;
      }
    };
  };
  wrap(X86Machine, 'runBlock');
  wrap(X86Events, 'inject');
}

/**
 * The JS exception an interpreter swallowed during the last KVM_RUN on `vcpuFd`, if any (clears
 * it). x86 needs {@link installX86Probe} first.
 */
export function takeInternalError(sys: Sys, vcpuFd: number): unknown {
  if (sys.arch === 'x86_64') {
    const e = x86Caught[0];
    x86Caught = [];
    return e;
  }
  const f = kernelOf(sys)?.file(vcpuFd);
  if (f?.kind !== 'vcpu') return undefined;
  const cpu = (f.vcpu.archState as { cpu?: { internalError: unknown } }).cpu;
  const e = cpu?.internalError ?? undefined;
  if (cpu) cpu.internalError = null;
  return e ?? undefined;
}
