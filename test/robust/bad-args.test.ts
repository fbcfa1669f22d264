/**
 * Issue 19 item 7: every `Sys` call given a JS value no C caller could pass (non-integer, NaN,
 * Infinity, null, a string, an object...) fails with a KvmError carrying the errno the kernel gives
 * the nearest C call — never a RangeError/TypeError from deep inside. Runs on the virtual backend,
 * on a vCPU attached in a worker-style mirror, and on nativeSys() where koffi loads (the argument
 * checks are shared, src/sys/args.ts; the native half uses /dev/null, so it needs no /dev/kvm).
 */
import { describe, expect, it } from 'vitest';
import { KvmError, nativeSys, nativeUnavailableReason, virtualSys, x86_64, type Sys } from '../../src/index.js';
import { errnoOf } from '../helpers/errno.js';

const I = x86_64.ioctls;
const r = (n: keyof typeof I) => I[n]!.request;

/** JS values C has no spelling for. */
const NON_INTEGERS: unknown[] = [1.5, -0.5, NaN, Infinity, -Infinity, 'x', '3', {}, [], true, Symbol('s'), () => 0, new ArrayBuffer(8)];
const BAD_FDS: unknown[] = [...NON_INTEGERS, null, undefined, 3n, 2 ** 31, -1];

const show = (v: unknown) => (typeof v === 'symbol' ? v.toString() : typeof v === 'function' ? 'fn' : typeof v === 'bigint' ? `${v}n` : v instanceof ArrayBuffer ? 'ArrayBuffer' : JSON.stringify(v) ?? String(v));

interface Env {
  sys: Sys;
  kvm: number;
  vm: number;
  vcpu: number;
  /** An eventfd (a readable fd, for the read/write buffer checks). */
  efd: number;
}

function virtualEnv(): Env {
  const sys = virtualSys({ arch: 'x86_64' });
  const kvm = sys.open('/dev/kvm');
  const vm = sys.ioctl(kvm, r('KVM_CREATE_VM'), 0);
  const vcpu = sys.ioctl(vm, r('KVM_CREATE_VCPU'), 0);
  return { sys, kvm, vm, vcpu, efd: sys.eventfd(1, 0) };
}

/** waitReadable's bad fds and timeouts: a rejected promise with the errno, on every backend. */
async function waitChecks(sys: Sys, efd: number): Promise<string[]> {
  const wrong: string[] = [];
  const rows: [string, string, () => Promise<boolean>][] = [];
  for (const fd of BAD_FDS) rows.push([`waitReadable(fd=${show(fd)})`, 'EBADF', () => sys.waitReadable(fd as number, 0)]);
  for (const t of [NaN, 'x', {}, null, Symbol('t'), 1n]) rows.push([`waitReadable(timeout=${show(t)})`, 'EINVAL', () => sys.waitReadable(efd, t as number)]);
  rows.push(['waitReadable(eventfd at 1, 0)', 'ok', () => sys.waitReadable(efd, 0)]);
  for (const [name, want, f] of rows) {
    let got: string;
    try {
      const p = f();
      if (!(p instanceof Promise)) got = 'not a promise';
      else got = await p.then(() => 'ok', (e) => (e instanceof KvmError ? e.code : `rejected with ${String(e)}`));
    } catch (e) {
      got = `threw synchronously: ${e instanceof KvmError ? e.code : String(e)}`;
    }
    if (got !== want) wrong.push(`${name}: want ${want}, got ${got}`);
  }
  return wrong;
}

/** Every Sys call with every bad value: [description, expected errno, call]. */
function table(e: Env): [string, string, () => unknown][] {
  const { sys } = e;
  const rows: [string, string, () => unknown][] = [];
  const S = sys as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const fd of BAD_FDS) {
    rows.push([`ioctl(fd=${show(fd)})`, 'EBADF', () => S.ioctl!.call(sys, fd, r('KVM_GET_API_VERSION'), 0)]);
    rows.push([`close(${show(fd)})`, 'EBADF', () => S.close!.call(sys, fd)]);
    rows.push([`mmap(fd=${show(fd)})`, 'EBADF', () => S.mmap!.call(sys, fd, 4096, 0)]);
    rows.push([`read(fd=${show(fd)})`, 'EBADF', () => S.read!.call(sys, fd, new Uint8Array(8))]);
    rows.push([`write(fd=${show(fd)})`, 'EBADF', () => S.write!.call(sys, fd, new Uint8Array(8))]);
  }
  // eventfd(2), read(2), write(2): an initval/flags C could not hold is EINVAL, a buffer that is
  // no bytes is a pointer to nothing (EFAULT).
  for (const v of [...NON_INTEGERS, null, -1, 2 ** 32, 2 ** 53]) {
    rows.push([`eventfd(initval=${show(v)})`, 'EINVAL', () => S.eventfd!.call(sys, v, 0)]);
    if (typeof v !== 'number' || !Number.isInteger(v)) rows.push([`eventfd(flags=${show(v)})`, 'EINVAL', () => S.eventfd!.call(sys, 0, v)]);
  }
  for (const v of [...NON_INTEGERS, null, undefined, 8, new Uint16Array(4), new DataView(new ArrayBuffer(8))]) {
    if (v instanceof Uint8Array) continue;
    rows.push([`read(buf=${show(v)})`, 'EFAULT', () => S.read!.call(sys, e.efd, v)]);
    rows.push([`write(buf=${show(v)})`, 'EFAULT', () => S.write!.call(sys, e.efd, v)]);
  }
  // ioctl(2) takes `unsigned int cmd`: a value that is no integer names no ioctl, so each fd
  // answers as for an unknown request (request 0 is none): EINVAL from /dev/kvm and vCPU fds,
  // ENOTTY from an x86 VM fd.
  const unknown = (fd: number) => errnoOf(() => sys.ioctl(fd, 0, 0));
  for (const [kind, fd] of [['kvm', e.kvm], ['vm', e.vm], ['vcpu', e.vcpu]] as const) {
    for (const v of [...NON_INTEGERS, null]) rows.push([`ioctl(${kind}, request=${show(v)})`, unknown(fd), () => S.ioctl!.call(sys, fd, v, 0)]);
  }
  for (const v of [...NON_INTEGERS, null, undefined]) {
    // A pointer argument C could not hold points nowhere: EFAULT, as copy_from_user answers.
    if (v !== null && v !== undefined) {
      rows.push([`KVM_GET_REGS(arg=${show(v)})`, 'EFAULT', () => S.ioctl!.call(sys, e.vcpu, r('KVM_GET_REGS'), v)]);
      // An integer argument (unsigned long) C could not hold: EINVAL.
      rows.push([`KVM_CHECK_EXTENSION(arg=${show(v)})`, 'EINVAL', () => S.ioctl!.call(sys, e.kvm, r('KVM_CHECK_EXTENSION'), v)]);
      rows.push([`KVM_CREATE_VCPU(arg=${show(v)})`, 'EINVAL', () => S.ioctl!.call(sys, e.vm, r('KVM_CREATE_VCPU'), v)]);
    }
    rows.push([`mmap(length=${show(v)})`, 'EINVAL', () => S.mmap!.call(sys, e.vcpu, v, 0)]);
    if (v !== undefined) rows.push([`mmap(offset=${show(v)})`, 'EINVAL', () => S.mmap!.call(sys, e.vcpu, 4096, v)]);
    rows.push([`alloc(${show(v)})`, 'EINVAL', () => S.alloc!.call(sys, v)]);
    rows.push([`munmap(${show(v)})`, 'EINVAL', () => S.munmap!.call(sys, v)]);
    if (typeof v !== 'string') rows.push([`open(path=${show(v)})`, 'EFAULT', () => S.open!.call(sys, v)]);
    if (v !== undefined) rows.push([`open(flags=${show(v)})`, 'EINVAL', () => S.open!.call(sys, '/dev/kvm', v)]);
  }
  // Integers C cannot hold in an unsigned long.
  for (const v of [2n ** 64n, -(2n ** 63n) - 1n, 2 ** 64, -(2 ** 64)]) {
    rows.push([`KVM_CHECK_EXTENSION(arg=${show(v)})`, 'EINVAL', () => sys.ioctl(e.kvm, r('KVM_CHECK_EXTENSION'), v as number)]);
  }
  // NULL is a pointer C can pass: the kernel's own answer.
  rows.push(['KVM_GET_REGS(NULL as null)', 'EFAULT', () => S.ioctl!.call(sys, e.vcpu, r('KVM_GET_REGS'), null)]);
  rows.push(['KVM_CHECK_EXTENSION(null) = (0)', 'ok', () => S.ioctl!.call(sys, e.kvm, r('KVM_CHECK_EXTENSION'), null)]);
  // Values C can pass still work.
  rows.push(['KVM_CHECK_EXTENSION(-1)', 'ok', () => sys.ioctl(e.kvm, r('KVM_CHECK_EXTENSION'), -1)]);
  rows.push(['KVM_CHECK_EXTENSION(2**63 as bigint)', 'ok', () => sys.ioctl(e.kvm, r('KVM_CHECK_EXTENSION'), 2n ** 63n)]);
  rows.push(['ioctl with a negative request (C int spelling)', 'ok', () => sys.ioctl(e.kvm, r('KVM_GET_API_VERSION') | 0)]);
  rows.push(['unknown request on /dev/kvm', 'EINVAL', () => sys.ioctl(e.kvm, 0)]);
  return rows;
}

function check(rows: [string, string, () => unknown][]): void {
  const wrong = rows.map(([name, want, f]) => [name, want, errnoOf(f)] as const).filter(([, want, got]) => want !== got);
  expect(wrong.map(([n, w, g]) => `${n}: want ${w}, got ${g}`)).toEqual([]);
}

describe('bad JS arguments give the C caller errno (issue 19 item 7)', () => {
  it('virtualSys: every Sys call', () => {
    const e = virtualEnv();
    check(table(e));
    // and the Sys still works afterwards
    expect(e.sys.ioctl(e.kvm, r('KVM_GET_API_VERSION'))).toBe(12);
  });

  it('virtualSys: waitReadable rejects bad fds and timeouts with the errno', async () => {
    const e = virtualEnv();
    expect(await waitChecks(e.sys, e.efd)).toEqual([]);
  });

  it('virtualSys with a trace and fault rules: the same errnos, and the trace sees them', () => {
    const events: unknown[] = [];
    const sys = virtualSys({ arch: 'x86_64', trace: (ev) => events.push(ev), faults: [{ ioctl: 'KVM_RUN', nth: 99, errno: 'EINTR' }] });
    const kvm = sys.open('/dev/kvm');
    const vm = sys.ioctl(kvm, r('KVM_CREATE_VM'), 0);
    const vcpu = sys.ioctl(vm, r('KVM_CREATE_VCPU'), 0);
    check(table({ sys, kvm, vm, vcpu, efd: sys.eventfd(1, 0) }));
    expect(events.length).toBeGreaterThan(50);
  });

  it('exportVcpu/attachVcpu with bad handles and fds', async () => {
    const { exportVcpu, attachVcpu } = await import('../../src/index.js');
    const e = virtualEnv();
    for (const fd of BAD_FDS) expect([show(fd), errnoOf(() => exportVcpu(e.sys, fd as number))]).toEqual([show(fd), 'EBADF']);
    for (const h of [null, undefined, 1, 'x', {}, { backend: 'virtual' }]) expect([show(h), errnoOf(() => attachVcpu(h as never))]).toEqual([show(h), 'EINVAL']);
  });

  const why = nativeUnavailableReason('/dev/null');
  it.skipIf(why !== undefined && !why.includes('/dev/null'))('nativeSys: the same checks before any FFI call (on /dev/null)', async () => {
    let sys: Sys;
    try {
      sys = nativeSys();
    } catch {
      return; // not Linux/x86_64 or arm64
    }
    const fd = sys.open('/dev/null');
    const efd = sys.eventfd(1, 0);
    try {
      // /dev/null stands in for every fd: the checks under test happen before the kernel is asked;
      // calls C could make (the 'ok' rows, NULL) get /dev/null's own answer, not compared here.
      check(table({ sys, kvm: fd, vm: fd, vcpu: fd, efd }).filter(([name, want]) => want !== 'ok' && !name.includes('NULL') && !name.startsWith('unknown request')));
      expect(await waitChecks(sys, efd)).toEqual([]);
    } finally {
      sys.close(efd);
      sys.close(fd);
    }
  });
});
