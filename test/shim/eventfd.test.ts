/**
 * test/shim/eventfd.c through `vkvm exec`: the program's own eventfds in KVM_IOEVENTFD and
 * KVM_IRQFD (src/server/eventfd.ts). The program checks Linux's behaviour itself (TAP).
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, compile, execUnavailable, vkvmExec } from './helpers.js';

const why = execUnavailable('x86_64');

describe.skipIf(why)("the program's eventfds in ioeventfds and irqfds (eventfd.c)", () => {
  afterAll(cleanup);

  it.each([['jit', []], ['interpreter', ['--no-jit']]] as const)('every check passes (%s)', (_, opts) => {
    const exe = compile('x86_64', 'eventfd', [join(__dirname, 'eventfd.c')]);
    const { out, code } = vkvmExec(['--timeout', '60', ...opts], exe);
    expect(out.split('\n').filter((l) => l.startsWith('not ok'))).toEqual([]);
    expect(Number(/^1\.\.(\d+)$/m.exec(out)?.[1])).toBeGreaterThanOrEqual(20);
    expect(code).toBe(0);
  }, 120_000);
});
