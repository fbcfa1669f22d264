/**
 * Guest RAM carved out of the process's shared WebAssembly.Memory (src/kernel/hva.ts `wasmRam`):
 * alloc() places a mapping of up to WASM_CARVE_MAX there (the arm64 wasm engine reaches it
 * directly), larger ones get a SharedArrayBuffer of their own; munmapped space is reused,
 * lowest first, zeroed; 1 MiB touched in a carved mapping costs about
 * 1 MiB of RSS; the control-area pool hands out distinct areas and takes them back.
 */
import { describe, expect, it } from 'vitest';
import { virtualSys } from '../../src/index.js';
import { AddressSpace, CTL_AREA_BYTES, wasmRam, WASM_CARVE_MAX, WASM_PAGES } from '../../src/kernel/hva.js';

const ram = wasmRam();

describe.skipIf(ram === null)('guest RAM in the process wasm memory', () => {
  it('is reserved once, initial = maximum (its buffer never detaches)', () => {
    expect(ram!.buffer.byteLength).toBe(WASM_PAGES * 65536);
    expect(wasmRam()).toBe(ram);
    expect(ram!.memory.buffer).toBe(ram!.buffer);
  });

  it('alloc() carves mappings up to WASM_CARVE_MAX; larger ones are SharedArrayBuffers of their own', () => {
    const sys = virtualSys({ arch: 'arm64' });
    const small = sys.alloc(1 << 20);
    expect(small.bytes.buffer).toBe(ram!.buffer);
    const big = sys.alloc(WASM_CARVE_MAX + 4096);
    expect(big.bytes.buffer).not.toBe(ram!.buffer);
    expect(big.bytes.buffer.byteLength).toBe(WASM_CARVE_MAX + 4096);
    sys.munmap(small.bytes);
    sys.munmap(big.bytes);
  });

  it('munmapped space is reused lowest first and comes back zeroed', () => {
    const s = new AddressSpace();
    const a = s.map(0x4000);
    const b = s.map(0x4000);
    a.bytes.fill(0xaa);
    s.unmap(a.bytes);
    const c = s.map(0x2000);
    expect(c.bytes.buffer).toBe(ram!.buffer);
    expect(c.bytes.byteOffset).toBe(a.bytes.byteOffset);
    expect(c.bytes.every((v) => v === 0)).toBe(true);
    // The rest of a's range is still free and comes back zeroed too.
    const d = s.map(0x2000);
    expect(d.bytes.byteOffset).toBe(a.bytes.byteOffset + 0x2000);
    expect(d.bytes.every((v) => v === 0)).toBe(true);
    for (const m of [b, c, d]) s.unmap(m.bytes);
  });

  it('1 MiB touched in a 256 MiB carved mapping adds about 1 MiB of RSS', () => {
    const sys = virtualSys({ arch: 'arm64' });
    const before = process.memoryUsage().rss;
    const m = sys.alloc(256 << 20);
    expect(m.bytes.buffer).toBe(ram!.buffer);
    for (let i = 0; i < 1 << 20; i += 4096) m.bytes[(64 << 20) + i] = 1;
    const added = (process.memoryUsage().rss - before) / 2 ** 20;
    expect(added).toBeLessThan(16);
    sys.munmap(m.bytes);
  });

  it('control areas: distinct, zeroed, given back', () => {
    const r = ram!;
    const got = Array.from({ length: 40 }, () => r.allocCtl());
    expect(new Set(got).size).toBe(40);
    for (const off of got) expect(off).toBeGreaterThan(0);
    const sorted = [...got].sort((x, y) => x - y);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]! - sorted[i - 1]!).toBeGreaterThanOrEqual(CTL_AREA_BYTES);
    new Uint8Array(r.buffer, got[0]!, CTL_AREA_BYTES).fill(7);
    r.releaseCtl(got[0]!);
    const again = r.allocCtl();
    expect(again).toBe(got[0]);
    expect(new Uint8Array(r.buffer, again, CTL_AREA_BYTES).every((v) => v === 0)).toBe(true);
    for (const off of [again, ...got.slice(1)]) r.releaseCtl(off);
  });

  it('runs of control areas (x86 takes eight): aligned, disjoint from single areas, zeroed, given back', () => {
    const r = ram!;
    const singles = Array.from({ length: 5 }, () => r.allocCtl());
    const runs = Array.from({ length: 6 }, () => r.allocCtl(8));
    const spans = [...singles.map((o) => [o, o + CTL_AREA_BYTES]), ...runs.map((o) => [o, o + 8 * CTL_AREA_BYTES])].sort((a, b) => a[0]! - b[0]!);
    for (const o of runs) expect(o).toBeGreaterThan(0);
    // No two spans overlap; runs start on a multiple of eight areas from the first single one's word.
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]!).toBeGreaterThanOrEqual(spans[i - 1]![1]!);
    for (const o of runs) expect(((o - runs[0]!) / CTL_AREA_BYTES) % 8).toBe(0);
    new Uint8Array(r.buffer, runs[0]!, 8 * CTL_AREA_BYTES).fill(9);
    r.releaseCtl(runs[0]!, 8);
    const again = r.allocCtl(8);
    expect(again).toBe(runs[0]);
    expect(new Uint8Array(r.buffer, again, 8 * CTL_AREA_BYTES).every((v) => v === 0)).toBe(true);
    // A freed single area inside a word of runs is found again by a single allocation only.
    r.releaseCtl(singles[2]!);
    expect(r.allocCtl()).toBe(singles[2]);
    for (const o of singles) r.releaseCtl(o);
    for (const o of [again, ...runs.slice(1)]) r.releaseCtl(o, 8);
  });
});
