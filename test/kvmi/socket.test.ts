/**
 * KVMI over real Unix-domain stream sockets: a socketpair in this process, a tool listening on a
 * path, and a tool in a separate process (examples/kvmi-tool.ts) driving a running guest.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectUnix, hostSocketpair, isKvmiSocketAvailable, KvmiClient, kvmiSocketFd } from '../../src/index.js';
import { KVMI_EVENT, KVMI_EVENT_ACTION, KVMI_PAGE_ACCESS } from '../../src/uapi/kvmi.js';
import { feature, hookFd, IOCTL, isDone, makeMachine, PATTERN, runTest, T, TEST_GPA, TEST_GVA, u64, type Machine } from './helpers.js';

const ROOT = resolve(__dirname, '../..');
const available = isKvmiSocketAvailable();

function hookHostFd(mc: Machine, osFd: number, replyWaitMs?: number): void {
  const fd = kvmiSocketFd(mc.sys, osFd, replyWaitMs === undefined ? {} : { replyWaitMs });
  expect(hookFd(mc, fd)).toBe(0);
  mc.sys.close(fd);
  expect(feature(mc, IOCTL.COMMAND, -1, 1)).toBe(0);
  expect(feature(mc, IOCTL.EVENT, -1, 1)).toBe(0);
}

describe.skipIf(!available)('KVMI over host sockets', () => {
  it('a socketpair in one process: commands, the PF round trip, EOF on unhook', async () => {
    const mc = makeMachine();
    const [k, t] = hostSocketpair();
    hookHostFd(mc, k, 0); // the tool shares this thread: park at once instead of blocking
    const c = KvmiClient.fromFd(t);
    expect(await c.getVersion()).toEqual({ version: 1, maxMsgSize: 8184, singlestep: false });
    // Many commands in flight at once come back in order.
    const infos = await Promise.all(Array.from({ length: 50 }, () => c.getInfo()));
    expect(infos.every((i) => i.vcpuCount === 1)).toBe(true);
    await c.setPageAccess([{ gpa: TEST_GPA, access: KVMI_PAGE_ACCESS.R }]);
    await c.controlEvents(0, KVMI_EVENT.VCPU_EVENT_PF, true);
    new DataView(mc.ram.buffer, mc.ram.byteOffset).setBigUint64(PATTERN, 0xabcdn, true);
    const run = runTest(mc, T.PF_WRITE);
    const e = await c.nextEvent(KVMI_EVENT.VCPU_EVENT_PF);
    expect(e.data).toEqual({ kind: 'pf', gva: BigInt(TEST_GVA), gpa: BigInt(TEST_GPA), access: KVMI_PAGE_ACCESS.W });
    await c.setPageAccess([{ gpa: TEST_GPA, access: KVMI_PAGE_ACCESS.R | KVMI_PAGE_ACCESS.W }]);
    c.reply(e, KVMI_EVENT_ACTION.RETRY);
    expect(isDone(await run)).toBe(true);
    expect(u64(mc.slot1.bytes, 0)).toBe(0xabcdn);
    const closed = new Promise<void>((r) => c.onClose(r));
    mc.sys.ioctl(mc.vm.fd, IOCTL.UNHOOK);
    await closed;
    expect(c.closed).toBe(true);
  });

  it('the VMM connects to a tool listening on a path (connectUnix)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vkvm-kvmi-'));
    const path = join(dir, 'tool.sock');
    let accepted: ((s: Socket) => void) | null = null;
    const got = new Promise<Socket>((r) => (accepted = r));
    const server = createServer((s) => accepted!(s));
    await new Promise<void>((r) => server.listen(path, r));
    try {
      const mc = makeMachine();
      hookHostFd(mc, connectUnix(path), 0);
      const c = KvmiClient.fromSocket(await got);
      expect((await c.getVersion()).version).toBe(1);
      expect(await c.translateGva(0, TEST_GVA)).toBe(BigInt(TEST_GPA));
      c.close();
    } finally {
      server.close();
    }
  });

  it('a tool in a separate process (examples/kvmi-tool.ts) drives the running guest', async () => {
    const mc = makeMachine();
    const [k, t] = hostSocketpair();
    hookHostFd(mc, k); // default: the vCPU blocks up to 100 ms for the other process's reply
    const tool = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'examples/kvmi-tool.ts'), '--fd', '3', '--gpa', String(TEST_GPA)], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'pipe', t],
    });
    const out: string[] = [];
    let err = '';
    let wake: (() => void) | null = null;
    let buf = '';
    tool.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) out.push(buf.slice(0, i));
      wake?.();
    });
    tool.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number>((r) => tool.on('exit', (code) => r(code ?? -1)));
    const line = async () => {
      while (!out.length) await new Promise<void>((r) => (wake = r));
      return out.shift()!;
    };
    expect(await line()).toBe('ready');
    // The write faults; the tool answers from its own process while the vCPU waits in KVM_RUN.
    const dv = new DataView(mc.ram.buffer, mc.ram.byteOffset);
    dv.setBigUint64(PATTERN, 0x1111n, true);
    const first = await runTest(mc, T.PF_WRITE);
    expect(isDone(first)).toBe(true);
    expect(u64(mc.slot1.bytes, 0)).toBe(0x1111n);
    // The tool granted W: the next write goes straight through.
    dv.setBigUint64(PATTERN, 0x2222n, true);
    const second = await runTest(mc, T.PF_WRITE);
    expect(second.intr).toBe(0);
    tool.stdin!.write('go\n');
    const report = JSON.parse(await line()) as { pid: number; version: number; vcpus: number; faults: { gva: string; gpa: string; access: number }[]; readBack: string };
    expect(await exited).toBe(0);
    expect(report.pid).toBe(tool.pid);
    expect(report.pid).not.toBe(process.pid);
    expect(report.version).toBe(1);
    expect(report.vcpus).toBe(1);
    expect(report.faults).toHaveLength(1);
    expect(report.faults[0]).toMatchObject({ gva: `0x${TEST_GVA.toString(16)}`, gpa: `0x${TEST_GPA.toString(16)}`, access: KVMI_PAGE_ACCESS.W });
    expect(report.readBack).toBe('0x2222');
    expect(err).toContain('PF write');
  }, 30_000);

  it('examples/kvmi-vmm.ts runs end to end', async () => {
    const p = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'examples/kvmi-vmm.ts')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number>((r) => p.on('exit', (c) => r(c ?? -1)));
    expect(out).toContain('VMM sees 0x5eedcafef00dbeef');
    expect(out.trim().endsWith('OK')).toBe(true);
    expect(code).toBe(0);
  }, 30_000);
});
