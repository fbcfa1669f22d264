/**
 * test/shim/eventfd.c through `vkvm exec`: the program's own eventfds in KVM_IOEVENTFD and
 * KVM_IRQFD (src/server/eventfd.ts), x86-64 (PIO and MMIO) and arm64 under qemu-aarch64 (MMIO).
 * The program checks Linux's behaviour itself (TAP).
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, compile, execUnavailable, vkvmExec } from './helpers.js';

afterAll(cleanup);

describe.each(['x86_64', 'arm64'] as const)("the program's eventfds in ioeventfds and irqfds (eventfd.c, %s)", (arch) => {
  const why = execUnavailable(arch);
  it.skipIf(why).each([['jit', []], ['interpreter', ['--no-jit']]] as const)('every check passes (%s)', (_, opts) => {
    const exe = compile(arch, `eventfd-${arch}`, [join(__dirname, 'eventfd.c')]);
    const { out, code } = vkvmExec(['--arch', arch, '--timeout', '90', ...opts], exe);
    expect(out.split('\n').filter((l) => l.startsWith('not ok'))).toEqual([]);
    expect(Number(/^1\.\.(\d+)$/m.exec(out)?.[1])).toBeGreaterThanOrEqual(21);
    // x86 VMs have the in-kernel irqchip: the program's write(2) to an irqfd's eventfd raised the line.
    if (arch === 'x86_64') expect(out).toMatch(/^ok \d+ - the irqfd raised IRQ 5/m);
    expect(code).toBe(0);
  }, 150_000);
});
