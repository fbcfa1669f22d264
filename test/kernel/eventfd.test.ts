/**
 * eventfd(2) through `Sys`: the same scenarios on the virtual backend and, where the FFI loads
 * (any Linux host, /dev/kvm or not), on the real eventfd of the native backend — so the virtual
 * counter's semantics are checked against the kernel's fs/eventfd.c here.
 */
import { describe, expect, it } from 'vitest';
import { EFD, EventFd, KvmError, nativeSys, virtualSys, type Sys } from '../../src/index.js';
import { outcome } from '../helpers/backends.js';

function nativeOrNull(): Sys | null {
  try {
    return nativeSys();
  } catch {
    return null;
  }
}

const native = nativeOrNull();
const backends: { name: string; make: () => Sys }[] = [{ name: 'virtual', make: () => virtualSys() }, ...(native ? [{ name: 'native', make: () => native }] : [])];

const u64 = (v: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
};
const get64 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
const MAX = 0xffff_ffff_ffff_ffffn;

describe.each(backends)('eventfd on $name', ({ make }) => {
  it('read returns the count and resets it; writes add; EAGAIN at 0 when non-blocking', () => {
    const sys = make();
    const fd = sys.eventfd(3, EFD.NONBLOCK);
    try {
      const b = new Uint8Array(8);
      expect(sys.read(fd, b)).toBe(8);
      expect(get64(b)).toBe(3n);
      expect(outcome(() => sys.read(fd, b))).toBe('EAGAIN');
      expect(sys.write(fd, u64(5n))).toBe(8);
      expect(sys.write(fd, u64(7n))).toBe(8);
      sys.read(fd, b);
      expect(get64(b)).toBe(12n);
    } finally {
      sys.close(fd);
    }
  });

  it('EFD_SEMAPHORE reads 1 at a time', () => {
    const sys = make();
    const fd = sys.eventfd(2, EFD.NONBLOCK | EFD.SEMAPHORE);
    try {
      const b = new Uint8Array(8);
      sys.read(fd, b);
      expect(get64(b)).toBe(1n);
      sys.read(fd, b);
      expect(get64(b)).toBe(1n);
      expect(outcome(() => sys.read(fd, b))).toBe('EAGAIN');
    } finally {
      sys.close(fd);
    }
  });

  it('refuses ULLONG_MAX, a sum reaching it (EAGAIN), short and long buffers, unknown flags', () => {
    const sys = make();
    const fd = sys.eventfd(0, EFD.NONBLOCK | EFD.CLOEXEC);
    try {
      expect(outcome(() => sys.write(fd, u64(MAX)))).toBe('EINVAL');
      expect(sys.write(fd, u64(MAX - 1n))).toBe(8); // the largest count
      expect(outcome(() => sys.write(fd, u64(1n)))).toBe('EAGAIN');
      expect(outcome(() => sys.write(fd, new Uint8Array(4)))).toBe('EINVAL');
      expect(outcome(() => sys.write(fd, new Uint8Array(16)))).toBe('EINVAL');
      expect(outcome(() => sys.read(fd, new Uint8Array(4)))).toBe('EINVAL');
      const big = new Uint8Array(16);
      expect(sys.read(fd, big)).toBe(8); // a longer buffer reads 8 bytes
      expect(get64(big)).toBe(MAX - 1n);
      expect(outcome(() => sys.eventfd(0, 0x40))).toBe('EINVAL');
    } finally {
      sys.close(fd);
    }
  });

  it('waitReadable resolves on a signal without blocking the event loop, and times out', async () => {
    const sys = make();
    const fd = sys.eventfd(0, EFD.NONBLOCK);
    try {
      expect(await sys.waitReadable(fd, 20)).toBe(false);
      const t = setTimeout(() => sys.write(fd, u64(1n)), 20);
      const t0 = performance.now();
      expect(await sys.waitReadable(fd, 5000)).toBe(true);
      expect(performance.now() - t0).toBeLessThan(4000);
      clearTimeout(t);
      // Several waits at once, on several eventfds.
      const fd2 = sys.eventfd(0, EFD.NONBLOCK);
      const w = [sys.waitReadable(fd2, 5000), sys.waitReadable(fd2, 5000)];
      sys.write(fd2, u64(1n));
      expect(await Promise.all(w)).toEqual([true, true]);
      sys.close(fd2);
    } finally {
      sys.close(fd);
    }
  });

  it('the typed EventFd: signal, tryRead, wait, onSignal', async () => {
    const sys = make();
    const e = EventFd.create(sys);
    try {
      expect(e.tryRead()).toBe(null);
      e.signal();
      e.signal(2);
      expect(e.tryRead()).toBe(3n);
      setTimeout(() => e.signal(), 10);
      expect(await e.wait(5000)).toBe(1n);
      const seen: bigint[] = [];
      const stop = e.onSignal((n) => seen.push(n));
      e.signal(4);
      for (let i = 0; i < 100 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
      stop();
      expect(seen).toEqual([4n]);
    } finally {
      e.close();
    }
  });

  it('read/write on a closed fd is EBADF', () => {
    const sys = make();
    const fd = sys.eventfd(0, EFD.NONBLOCK);
    sys.close(fd);
    expect(outcome(() => sys.read(fd, new Uint8Array(8)))).toBe('EBADF');
    expect(outcome(() => sys.write(fd, u64(1n)))).toBe('EBADF');
  });
});

describe('eventfd in the virtual kernel', () => {
  it('read/write on a KVM fd is EINVAL; ioctl and mmap on an eventfd are ENOTTY and ENODEV', () => {
    const sys = virtualSys();
    const kvm = sys.open('/dev/kvm');
    expect(outcome(() => sys.read(kvm, new Uint8Array(8)))).toBe('EINVAL');
    expect(outcome(() => sys.write(kvm, u64(1n)))).toBe('EINVAL');
    const fd = sys.eventfd();
    expect(outcome(() => sys.ioctl(fd, 0xae00))).toBe('ENOTTY');
    expect(outcome(() => sys.mmap(fd, 4096))).toBe('ENODEV');
  });

  it('a blocking eventfd reads a pending count without waiting; the initial count must be an unsigned int', () => {
    const sys = virtualSys();
    const fd = sys.eventfd(9, 0);
    const b = new Uint8Array(8);
    expect(sys.read(fd, b)).toBe(8);
    expect(get64(b)).toBe(9n);
    expect(() => sys.eventfd(-1)).toThrow(KvmError);
    expect(() => sys.eventfd(2 ** 32)).toThrow(KvmError);
  });
});
