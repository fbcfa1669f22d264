/**
 * test/shim/abi.c through `vkvm exec`: pointer arguments the kernel follows, bad pointers, fd
 * lifetime across dup/close/fork, memslot memory shared in place, two threads each running a
 * vCPU across several time slices, immediate_exit, module parameters. The program checks Linux's
 * behaviour itself (TAP); the counts it reports must be virtualSys()'s own.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { virtualSys, x86_64 } from '../../src/index.js';
import { cleanup, compile, execUnavailable, vkvmExec } from './helpers.js';

const why = execUnavailable('x86_64');

/** nent / nmsrs virtualSys() reports, for the same calls the C program makes. */
function counts(): { cpuid: number; msrs: number } {
  const sys = virtualSys();
  const kvm = sys.open('/dev/kvm');
  const c = new Uint8Array(8 + 256 * x86_64.structs.kvm_cpuid_entry2.size);
  new DataView(c.buffer).setUint32(0, 256, true);
  sys.ioctl(kvm, x86_64.ioctls.KVM_GET_SUPPORTED_CPUID!.request, c);
  const m = new Uint8Array(4 + 1024 * 4);
  new DataView(m.buffer).setUint32(0, 1024, true);
  sys.ioctl(kvm, x86_64.ioctls.KVM_GET_MSR_INDEX_LIST!.request, m);
  return { cpuid: new DataView(c.buffer).getUint32(0, true), msrs: new DataView(m.buffer).getUint32(0, true) };
}

describe.skipIf(why)('an unmodified C program against the shim (abi.c)', () => {
  let out = '';
  let code = -1;
  beforeAll(() => {
    const exe = compile('x86_64', 'abi', [join(__dirname, 'abi.c')], ['-pthread', `-I${join(__dirname, '../../include')}`]);
    ({ out, code } = vkvmExec(['--timeout', '120'], exe));
  }, 180_000);
  afterAll(cleanup);

  it('every check passes', () => {
    const bad = out.split('\n').filter((l) => l.startsWith('not ok'));
    expect(bad).toEqual([]);
    expect(out).toMatch(/^1\.\.(\d+)$/m);
    expect(Number(/^1\.\.(\d+)$/m.exec(out)![1])).toBeGreaterThanOrEqual(30);
    expect(code).toBe(0);
  });

  it('reports the counts virtualSys() reports', () => {
    const want = counts();
    expect(out).toContain(`# cpuid entries ${want.cpuid}\n`);
    expect(out).toContain(`# msr index list ${want.msrs}\n`);
  });
});
