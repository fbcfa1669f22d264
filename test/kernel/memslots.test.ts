/**
 * MemslotSet's lookups stay logarithmic with 32K slots (set_memory_region_test adds
 * KVM_CAP_NR_MEMSLOTS of them, like kvm_main.c's gfn and hva interval trees), and answer the
 * same as a scan: which slot holds a gfn, and whether host memory in [hva, hva + len) backs one
 * (the munmap notifier's question, asked for every temporary copy the shim's server drops).
 */
import { describe, expect, it } from 'vitest';
import { AddressSpace, PAGE_SIZE } from '../../src/kernel/hva.js';
import { Memslot, MemslotSet } from '../../src/kernel/memslots.js';

const N = 32764;
const SLOT = 512; // pages (2 MiB)

describe('MemslotSet', () => {
  const space = new AddressSpace();
  const U = 0x7f00_0000_0000;
  const make = (id: number, gfn: number, uaddr: number, npages = SLOT) => new Memslot(id, 0, gfn, npages, 0, uaddr, undefined, space);

  it('32764 slots: insert, find by gfn and by hva, remove, quickly', () => {
    const set = new MemslotSet();
    const t0 = performance.now();
    for (let i = 0; i < N; i++) set.insert(make(i, i * SLOT, U + i * SLOT * PAGE_SIZE));
    let found = 0;
    for (let i = 0; i < N; i++) if (set.find(i * SLOT + 7)?.id === i) found++;
    let hits = 0;
    for (let i = 0; i < N; i++) if (set.mapsHva(U + i * SLOT * PAGE_SIZE + 5 * PAGE_SIZE, 8)) hits++;
    expect([found, hits]).toEqual([N, N]);
    for (let i = N - 1; i >= N / 2; i--) set.remove(set.byId.get(i)!);
    const ms = performance.now() - t0;
    expect(set.all().length).toBe(N / 2);
    // The removed slots no longer back their memory; the others still do.
    expect(set.mapsHva(U + (N / 2) * SLOT * PAGE_SIZE, PAGE_SIZE)).toBe(false);
    expect(set.mapsHva(U + (N / 2 - 1) * SLOT * PAGE_SIZE, PAGE_SIZE)).toBe(true);
    expect(set.find((N / 2) * SLOT)).toBeUndefined();
    // A linear scan per hva lookup (the old Vm.maps) took seconds here; the bound is loose for a loaded machine.
    expect(ms).toBeLessThan(5000);
  });

  it('moving one slot back and forth among 8K (memslot_perf_test move active area): order kept, no full sort per move', () => {
    const set = new MemslotSet();
    const n = 8192;
    for (let i = 0; i < n; i++) set.insert(make(i, 2 * i * SLOT, U + i * SLOT * PAGE_SIZE));
    const m = set.byId.get(0)!;
    const t0 = performance.now();
    for (let k = 0; k <= 4000; k++) set.move(m, k & 1 ? 2 * (n - 1) * SLOT + SLOT : SLOT); // into a gap at the end, then at the start
    const ms = performance.now() - t0;
    const gfns = set.all().map((s) => s.baseGfn);
    expect(gfns).toEqual([...gfns].sort((a, b) => a - b));
    expect(set.find(SLOT + 3)?.id).toBe(0);
    expect(set.find(0)).toBeUndefined();
    expect(set.all().length).toBe(n);
    expect(ms).toBeLessThan(3000);
  });

  it('mapsHva answers as a scan, for overlapping slots of different sizes', () => {
    const set = new MemslotSet();
    const slots = [make(0, 0, U, 16), make(1, 100, U + 4 * PAGE_SIZE, 2), make(2, 200, U + 64 * PAGE_SIZE, 1), make(3, 300, U + 4 * PAGE_SIZE, 1)];
    for (const s of slots) set.insert(s);
    const scan = (hva: number, len: number) => slots.some((s) => set.byId.get(s.id) && s.userspaceAddr < hva + len && hva < s.userspaceAddr + s.npages * PAGE_SIZE);
    for (let p = -2; p < 70; p++) for (const len of [1, PAGE_SIZE, 3 * PAGE_SIZE]) expect([p, len, set.mapsHva(U + p * PAGE_SIZE, len)]).toEqual([p, len, scan(U + p * PAGE_SIZE, len)]);
    set.remove(slots[0]!);
    for (let p = -2; p < 70; p++) expect([p, set.mapsHva(U + p * PAGE_SIZE, 1)]).toEqual([p, scan(U + p * PAGE_SIZE, 1)]);
  });
});
