/**
 * The server's view of the program's shared memory (src/server/memory.ts): pieces of a file mapped
 * at the program's addresses join into one mapping, bytes are the file's (shared, not copied), and
 * memory the program unmaps leaves the kernel's space while views the emulator may still hold
 * read zeros instead of faulting the process.
 */
import { describe, expect, it } from 'vitest';
import { AddressSpace } from '../../src/kernel/hva.js';
import { SharedMemory, WINDOW } from '../../src/server/memory.js';
import { serverNative } from '../../src/server/native.js';
import { execUnavailable } from './helpers.js';

const P = 4096;

describe.skipIf(execUnavailable())('SharedMemory', () => {
  const setup = () => {
    const nat = serverNative();
    const fd = nat.memfd('vkvm-test', 2 ** 48);
    expect(fd).toBeGreaterThanOrEqual(0);
    const space = new AddressSpace();
    const mem = new SharedMemory(nat, space, () => {});
    const file = mem.file(fd, 1n, 2n);
    // The program's side: the same file mapped elsewhere, as the program itself would see it.
    const A = 0x7f12_3450_0000;
    const prog = nat.mmap(fd, 8 * P, A);
    if (typeof prog === 'number') throw new Error(`mmap: ${prog}`);
    return { nat, space, mem, file, A, prog: prog.bytes };
  };

  it('adjacent pieces become one mapping over the same bytes', () => {
    const { space, mem, file, A, prog } = setup();
    mem.map(file, 0, A, A + 2 * P);
    mem.map(file, 0, A + 2 * P, A + 4 * P);
    expect(space.all().length).toBe(1);
    expect(space.all()[0]!.length).toBe(4 * P);
    space.user(A + 3 * P + 5, 1)[0] = 0x5a; // the kernel writes...
    expect(prog[3 * P + 5]).toBe(0x5a); // ...into the program's memory
    prog[P] = 0x33;
    expect(space.user(A + P, 1)[0]).toBe(0x33);
    expect(mem.covers(A, A + 4 * P)).toBe(true);
    expect(mem.covers(A, A + 5 * P)).toBe(false);
  });

  it('unmapped memory leaves the space; an old view reads zeros, and the rest stays shared', () => {
    const { space, mem, file, A, prog } = setup();
    mem.map(file, 0, A, A + 4 * P);
    const stale = space.user(A, 4 * P); // what a TLB entry may hold
    prog[P + 1] = 7;
    prog[3 * P + 1] = 9;
    mem.unmap(A + P, A + 2 * P);
    expect(() => space.user(A + P, 1)).toThrow(/EFAULT/);
    expect(stale[P + 1]).toBe(0); // zero pages, not a fault
    expect(space.user(A + 3 * P + 1, 1)[0]).toBe(9);
    expect(space.all().map((m) => [m.hva - A, m.length])).toEqual([
      [0, P],
      [2 * P, 2 * P],
    ]);
  });

  it('a range across a window boundary maps as one piece per window', () => {
    const { space, mem, file } = setup();
    const B = 0x7f12_0000_0000 + WINDOW - P; // one page before a 1 GiB boundary
    mem.map(file, 0, B, B + 2 * P);
    expect(space.all().map((m) => m.length)).toEqual([P, P]);
  });

  it('thousands of adjacent slots (set_memory_region_test: 32764 of 2 MiB) make one view per window and no munmap', () => {
    const { nat, space, file } = setup();
    // A view per piece registered each grown piece with V8 as external memory: a full GC every
    // few slots, O(n^2) bytes in all (set_memory_region_test timed out). Now the window is one view.
    let views = 0;
    const counting = { ...nat, view: (addr: bigint, len: number) => (views++, nat.view(addr, len)) };
    const mem = new SharedMemory(counting, space, () => {});
    const unmapped: number[] = [];
    space.listener = { mapped: () => {}, unmapped: (m) => unmapped.push(m.hva) };
    const C = 0x7f20_0000_0000;
    for (let i = 0; i < 4000; i++) mem.map(file, 0, C + i * 16 * P, C + (i + 1) * 16 * P);
    expect(views).toBe(1);
    expect(unmapped).toEqual([]); // joining replaces the mapping, it does not unmap memory
    expect(space.all().map((m) => [m.hva, m.length])).toEqual([[C, 4000 * 16 * P]]);
    // The pieces are windows into one buffer; the bytes are still the file's.
    const b = space.user(C + 3999 * 16 * P, 1);
    b[0] = 0x42;
    expect(space.user(C + 3999 * 16 * P, 1)[0]).toBe(0x42);
    expect(mem.covers(C, C + 4000 * 16 * P)).toBe(true);
  });

  it('known ranges map on demand', () => {
    const { space, mem, file, A } = setup();
    mem.know(file, 0, A, A + 8 * P);
    expect(mem.mapKnown(A + 2 * P, A + 3 * P)).toBe(true);
    expect(mem.mapKnown(A + 7 * P, A + 9 * P)).toBe(false);
    expect(space.all().length).toBe(1);
    mem.unmap(A, A + 8 * P);
    expect(mem.mapKnown(A + 2 * P, A + 3 * P)).toBe(false);
  });
});
