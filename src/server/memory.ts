/**
 * The program's shared memory as the server's kernel sees it: ranges of files the program maps
 * (the shim's address-space memfd, or the program's own shared mappings), mapped here at the
 * program's own addresses in the kernel's address space.
 *
 * Each file is mapped through 1 GiB windows of address space, the whole window with one mmap
 * (one VMA however many memslots it holds: thousands of small slots must not exhaust
 * vm.max_map_count); the kernel's address space sees only the pieces the program shares there.
 * Nothing is ever unmapped: memory the program unmaps reads zeros (the shim punches it out of its
 * address-space file; a file of the program's own is replaced by zero pages there), so a view the
 * emulator still holds (a TLB entry) cannot fault the server.
 * @module
 */
import type { AddressSpace, Mapping } from '../kernel/hva.js';
import { lowerBound } from '../kernel/ranges.js';
import type { ServerNative } from './native.js';

/** Window size: a typed array's limit is 4 GiB; 1 GiB keeps reservations modest. */
export const WINDOW = 1 << 30;

/** A file of the program (one open fd here, shared by every window of it). */
export interface ProgramFile {
  readonly fd: number;
  readonly dev: bigint;
  readonly ino: bigint;
  /** The shim's address-space memfd: 2^48 bytes, offset = address, unmapped memory punched out. */
  readonly asFile: boolean;
}

interface Piece {
  lo: number;
  hi: number;
  mapping: Mapping;
}

interface Window {
  readonly file: ProgramFile;
  /** The address at which the program maps file offset 0. */
  readonly base: number;
  /** Program address of the window's first byte. */
  readonly start: number;
  readonly addr: bigint;
  /**
   * The whole window as one view, made once: pieces are subarrays of it. (A view per piece would
   * register its bytes with V8 as external memory each time: thousands of slots that grow a
   * piece would then cost a full GC every few of them.)
   */
  view: Uint8Array | undefined;
  /** Mapped pieces, sorted, never touching each other. */
  readonly pieces: Piece[];
  /** Ranges replaced by zero pages (program files only), to map from the file again if shared again. */
  zeroed: [number, number][];
}

/** A range the program has told us maps `file` at `base` (mapped here piece by piece, on demand). */
interface Known {
  lo: number;
  hi: number;
  readonly file: ProgramFile;
  readonly base: number;
}

export class SharedMemory {
  private readonly files = new Map<string, ProgramFile>();
  private readonly windows = new Map<string, Window>();
  private known: Known[] = [];

  constructor(
    private readonly nat: ServerNative,
    private readonly space: AddressSpace,
    private readonly log: (line: string) => void,
  ) {}

  /** The file of (dev, ino), adopting `fd` for it, or closing `fd` when it is known already. */
  file(fd: number, dev: bigint, ino: bigint, asFile = false): ProgramFile {
    const key = `${dev}:${ino}`;
    const have = this.files.get(key);
    if (have) {
      this.nat.close(fd);
      return have;
    }
    const f = { fd, dev, ino, asFile };
    this.files.set(key, f);
    return f;
  }

  /** Records that the program maps [lo, hi) of `file` at `base` (what the shim reported). */
  know(file: ProgramFile, base: number, lo: number, hi: number): void {
    // Whatever was known there before is gone (the program replaced that memory).
    this.forget(lo, hi);
    const ks = this.known;
    ks.splice(firstEndingAfter(ks, lo), 0, { lo, hi, file, base });
  }

  /** True when [lo, hi) lies in ranges the program shared; then maps it. */
  mapKnown(lo: number, hi: number): boolean {
    const k = this.known[firstEndingAfter(this.known, lo)];
    if (!k || !(k.lo <= lo && hi <= k.hi)) return false;
    this.map(k.file, k.base, lo, hi);
    return true;
  }

  /** Maps [lo, hi) of `file` (offset = address - base) into the kernel's space. */
  map(file: ProgramFile, base: number, lo: number, hi: number): boolean {
    for (let w0 = Math.floor(lo / WINDOW) * WINDOW; w0 < hi; w0 += WINDOW) {
      const a = Math.max(lo, w0);
      const b = Math.min(hi, w0 + WINDOW);
      const w = this.window(file, base, w0);
      if (!w) return false;
      // Parts zeroed when the program unmapped them come from the file again.
      for (const [zl, zh] of w.zeroed.filter(([zl, zh]) => zl < b && a < zh)) {
        const x = Math.max(zl, a);
        const y = Math.min(zh, b);
        if (this.nat.mapFixed(w.addr + BigInt(x - w0), y - x, file.fd, x - base) < 0) return false;
      }
      w.zeroed = cut(w.zeroed, a, b);
      this.addPiece(w, a, b);
    }
    return true;
  }

  /** The program unmapped [lo, hi): pieces there read zeros and leave the kernel's space. */
  unmap(lo: number, hi: number): void {
    this.forget(lo, hi);
    for (const w of this.windows.values()) if (overlapping(w.pieces, lo, hi) >= 0) this.unmapWindowRange(w, lo, hi);
  }

  private forget(lo: number, hi: number): void {
    // Known ranges are sorted and disjoint: those overlapping [lo, hi) are one run.
    const ks = this.known;
    const i = firstEndingAfter(ks, lo);
    let j = i;
    while (j < ks.length && ks[j]!.lo < hi) j++;
    if (j === i) return;
    const keep: Known[] = [];
    if (ks[i]!.lo < lo) keep.push({ ...ks[i]!, hi: lo });
    if (hi < ks[j - 1]!.hi) keep.push({ ...ks[j - 1]!, lo: hi });
    ks.splice(i, j - i, ...keep);
  }

  private window(file: ProgramFile, base: number, start: number): Window | undefined {
    const key = `${file.dev}:${file.ino}:${base}:${start}`;
    let w = this.windows.get(key);
    if (w) return w;
    const r = this.nat.reserve(WINDOW);
    if (typeof r === 'number') {
      this.log(`cannot reserve a window (errno ${-r})`);
      return undefined;
    }
    // The whole window from the file (offsets below 0 stay reserved): one mapping.
    const from = Math.max(start, base);
    if (from < start + WINDOW) {
      const e = this.nat.mapFixed(r + BigInt(from - start), start + WINDOW - from, file.fd, from - base);
      if (e < 0) {
        this.log(`cannot map a window of the program's memory (errno ${-e})`);
        return undefined;
      }
    }
    w = { file, base, start, addr: r, view: undefined, pieces: [], zeroed: [] };
    this.windows.set(key, w);
    return w;
  }

  /** Adds [a, b) to the window's pieces, joining the ones it overlaps or touches. */
  private addPiece(w: Window, a: number, b: number): void {
    // Other windows' pieces over this range are another file the program no longer maps there.
    for (const o of this.windows.values()) if (o !== w && overlapping(o.pieces, a, b) >= 0) this.unmapWindowRange(o, a, b);
    // The pieces it overlaps or touches are a run of the sorted list.
    const ps = w.pieces;
    let i = firstEndingAtOrAfter(ps, a);
    let j = i;
    let lo = a;
    let hi = b;
    while (j < ps.length && ps[j]!.lo <= b) {
      lo = Math.min(lo, ps[j]!.lo);
      hi = Math.max(hi, ps[j]!.hi);
      j++;
    }
    if (j - i === 1 && ps[i]!.lo === lo && ps[i]!.hi === hi) return; // inside one already
    // The joined pieces are the same memory at the same addresses: the new mapping replaces them
    // in the kernel's space (no munmap: nothing the vCPUs hold of them changes).
    ps.splice(i, j - i, this.piece(w, lo, hi));
  }

  private unmapWindowRange(w: Window, lo: number, hi: number): void {
    const ps = w.pieces;
    const i = firstEndingAtOrAfter(ps, lo + 1);
    let j = i;
    while (j < ps.length && ps[j]!.lo < hi) j++;
    for (const p of ps.slice(i, j)) {
      const a = Math.max(lo, p.lo);
      const b = Math.min(hi, p.hi);
      // The address-space file reads zeros there already (the shim punched it); a file of the
      // program's own may still hold data, or end: zero pages in its place.
      if (!w.file.asFile) {
        this.nat.mapFixed(w.addr + BigInt(a - w.start), b - a, -1, 0);
        w.zeroed.push([a, b]);
      }
      ps.splice(firstEndingAtOrAfter(ps, p.hi), 1);
      this.space.unmapHva(p.lo);
      if (p.lo < a) this.insert(w, p.lo, a);
      if (b < p.hi) this.insert(w, b, p.hi);
    }
  }

  private insert(w: Window, lo: number, hi: number): void {
    w.pieces.splice(firstEndingAtOrAfter(w.pieces, lo), 0, this.piece(w, lo, hi));
  }

  /**
   * Maps [lo, hi) of the window into the kernel's space, replacing the mappings there (pieces
   * it joins: the same memory at the same addresses, so nothing a vCPU holds of them changes).
   */
  private piece(w: Window, lo: number, hi: number): Piece {
    w.view ??= this.nat.view(w.addr, WINDOW);
    const bytes = w.view.subarray(lo - w.start, hi - w.start);
    this.pieceMaps.add(bytes);
    return { lo, hi, mapping: this.space.mapAt(lo, bytes) };
  }

  /** The bytes of every piece made (WeakSet: a piece replaced or unmapped goes with its mapping). */
  private readonly pieceMaps = new WeakSet<Uint8Array>();

  /** True when [lo, hi) is inside one mapped piece. */
  covers(lo: number, hi: number): boolean {
    const m = this.space.find(lo, false);
    return !!m && hi <= m.hva + m.length && this.pieceMaps.has(m.bytes);
  }

  /** Closes the files (the windows stay reserved until the process ends: views may remain). */
  close(): void {
    for (const f of this.files.values()) this.nat.close(f.fd);
    this.files.clear();
  }
}

/** Index of the first piece whose end is at or after `a` (pieces are sorted and disjoint). */
function firstEndingAtOrAfter(ps: readonly Piece[], a: number): number {
  return lowerBound(ps, a, pieceEnd);
}
const pieceEnd = (p: Piece): number => p.hi;

/** Index of the first range whose end is after `a` (ranges sorted and disjoint). */
function firstEndingAfter(rs: readonly { hi: number }[], a: number): number {
  let lo = 0;
  let hi = rs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (rs[mid]!.hi <= a) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of a piece overlapping [a, b), or -1. */
function overlapping(ps: readonly Piece[], a: number, b: number): number {
  const i = firstEndingAtOrAfter(ps, a + 1);
  return i < ps.length && ps[i]!.lo < b ? i : -1;
}

/** `ranges` without [lo, hi). */
function cut(ranges: [number, number][], lo: number, hi: number): [number, number][] {
  const out: [number, number][] = [];
  for (const [a, b] of ranges) {
    if (b <= lo || hi <= a) out.push([a, b]);
    else {
      if (a < lo) out.push([a, lo]);
      if (hi < b) out.push([hi, b]);
    }
  }
  return out;
}
