/**
 * The virtual process's user address space: anonymous mappings (`alloc`, vCPU `mmap`) with host
 * virtual addresses, so pointer fields in ioctl structs (userspace_addr, kvm_one_reg.addr, ...)
 * resolve exactly where the kernel's copy_from_user would, and fail with EFAULT elsewhere.
 *
 * Memory is shared: the OS commits pages on first touch, so a 4 GiB mapping costs only what is
 * written, and worker threads can share guest RAM. Where WebAssembly shared memory exists, a
 * mapping of up to {@link WASM_CARVE_MAX} bytes is carved out of one process-wide shared
 * `WebAssembly.Memory` ({@link wasmRam}: 4 GiB reserved lazily, initial = maximum so its buffer
 * never detaches), so the arm64 JIT's wasm code reaches guest RAM directly; larger mappings, and
 * any once it is full, are SharedArrayBuffers of their own (reached through the TLB-miss path).
 * @module
 */
import { KvmError } from '../sys/error.js';
import { lowerBound } from './ranges.js';

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

/** Lowest hva handed out, and the x86-64 user address limit (TASK_SIZE_MAX, 47 bits). */
const HVA_BASE = 0x7f00_0000_0000;
export const TASK_SIZE_MAX = 0x7fff_ffff_f000;
/** Unmapped pages left between mappings, so no two mappings are ever contiguous. */
const GUARD = 16 * PAGE_SIZE;
/** A typed array cannot exceed 4 GiB on this JS engine. */
export const MAX_MAPPING = 2 ** 32;

const hvaOf = (m: Mapping): number => m.hva;

/** The few WebAssembly JS API members used (the project's TS lib has no WebAssembly types). */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
}
type WasmMemoryCtor = new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
const WasmMemoryApi = (globalThis as unknown as { WebAssembly?: { Memory?: WasmMemoryCtor } }).WebAssembly?.Memory;

/** Largest mapping carved out of the wasm memory (bytes). */
export const WASM_CARVE_MAX = 512 << 20;
/**
 * Wasm pages (64 KiB) of the process's memory: memory32's 4 GiB less one page (a typed array
 * over a buffer of exactly 4 GiB does not survive postMessage to a worker in Node 20: it arrives
 * as nothing, and the worker dies).
 */
export const WASM_PAGES = 65535;

/**
 * Control areas (the wasm engines' per-vCPU registers, exit record and TLB: one area per arm64
 * vCPU, eight per x86 vCPU) in the memory's pool.
 */
export const CTL_AREAS = 512;
export const CTL_AREA_BYTES = 8192;
/** The pool: a bitmap of areas in use (first page), then the areas; guest RAM is carved above it. */
const CTL_POOL = PAGE_SIZE;
const RAM_START = CTL_POOL + CTL_AREAS * CTL_AREA_BYTES;

/** The bitmap bits of `count` adjacent control areas (count up to 32), from bit 0. */
const ctlMask = (count: number): number => (count === 32 ? -1 : (1 << count) - 1);

/**
 * The process's shared `WebAssembly.Memory` and a first-fit allocator over it for guest RAM
 * mappings (on the thread that reserved it; a worker's view never carves), and the pool of
 * per-vCPU control areas, taken and given back by any thread (atomically, in the memory's first
 * page). RAM given back stays committed (the wasm memory cannot give pages back to the OS) and
 * is zeroed when it is handed out again, as mmap does.
 */
export class WasmRam {
  readonly buffer: SharedArrayBuffer;
  private readonly u8: Uint8Array;
  private readonly bits: Int32Array;
  /** Free ranges [start, end) sorted by start, coalesced. */
  private readonly free: number[];
  /** Everything from here on was never handed out (zero, uncommitted). */
  private used = RAM_START;

  constructor(
    readonly memory: WasmMemory,
    /** A worker's view of the owner's memory: it takes control areas only. */
    readonly adopted = false,
  ) {
    this.buffer = memory.buffer;
    this.u8 = new Uint8Array(this.buffer);
    this.bits = new Int32Array(this.buffer, 0, CTL_AREAS / 32);
    this.free = adopted ? [] : [RAM_START, this.buffer.byteLength];
  }

  /**
   * `count` adjacent zeroed control areas of CTL_AREA_BYTES (`count` a power of two up to 32,
   * aligned to it): their offset, or -1 when the pool has no such run. Atomic: any thread that
   * shares the memory (an SMP worker's adopted view too) takes areas from the same pool.
   */
  allocCtl(count = 1): number {
    const ones = ctlMask(count);
    for (let w = 0; w < CTL_AREAS / 32; w++) {
      for (let b = 0; b < 32; ) {
        const v = Atomics.load(this.bits, w);
        if (v === -1) break;
        const mask = ones << b;
        if ((v & mask) !== 0) {
          b += count;
          continue;
        }
        if (Atomics.compareExchange(this.bits, w, v, v | mask) !== v) continue;
        const off = CTL_POOL + (w * 32 + b) * CTL_AREA_BYTES;
        this.u8.fill(0, off, off + count * CTL_AREA_BYTES);
        return off;
      }
    }
    return -1;
  }

  /** Gives `count` control areas back (as allocCtl gave them). */
  releaseCtl(off: number, count = 1): void {
    const i = (off - CTL_POOL) / CTL_AREA_BYTES;
    Atomics.and(this.bits, i >>> 5, ~(ctlMask(count) << (i & 31)));
  }

  /**
   * `len` bytes (a multiple of 4 KiB) of guest RAM, zeroed: their offset, or -1 when nothing
   * fits. The lowest free range that fits, as mmap reuses what munmap gave back (so RSS stays
   * bounded by the most carved at once); the part of it handed out before is zeroed now, space
   * never handed out is zero already and stays uncommitted.
   */
  alloc(len: number): number {
    if (this.adopted) return -1;
    const f = this.free;
    for (let i = 0; i < f.length; i += 2) {
      const start = f[i]!;
      if (f[i + 1]! - start < len) continue;
      if (f[i + 1]! - start === len) f.splice(i, 2);
      else f[i] = start + len;
      const end = start + len;
      if (start < this.used) this.u8.fill(0, start, Math.min(end, this.used));
      if (end > this.used) this.used = end;
      return start;
    }
    return -1;
  }

  /** Gives [off, off + len) back (zeroed when it is handed out again). */
  release(off: number, len: number): void {
    const f = this.free;
    let i = 0;
    while (i < f.length && f[i]! < off) i += 2;
    let lo = off;
    let hi = off + len;
    if (i < f.length && f[i] === hi) {
      hi = f[i + 1]!;
      f.splice(i, 2);
    }
    if (i >= 2 && f[i - 1] === lo) {
      lo = f[i - 2]!;
      i -= 2;
      f.splice(i, 2);
    }
    f.splice(i, 0, lo, hi);
  }
}

let ram: WasmRam | null | undefined;
/** Set false (or VKVM_WASM_RAM=0 in the environment) to keep every mapping a SharedArrayBuffer of its own. */
export const wasmRamConfig = { enabled: (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.VKVM_WASM_RAM !== '0' };

/**
 * This thread's view of the process's wasm memory, reserved at the first call; null without
 * WebAssembly shared memory (or when disabled, or when reserving failed).
 */
export function wasmRam(): WasmRam | null {
  if (ram !== undefined) return ram;
  ram = null;
  if (WasmMemoryApi === undefined || !wasmRamConfig.enabled) return null;
  try {
    ram = new WasmRam(new WasmMemoryApi({ initial: WASM_PAGES, maximum: WASM_PAGES, shared: true }));
  } catch {
    ram = null;
  }
  return ram;
}

/**
 * A worker thread takes the owner's memory (posted with the mappings it holds): this thread's
 * views of those mappings then share its buffer, and its wasm modules import it.
 */
export function adoptWasmRam(memory: WasmMemory): WasmRam {
  if (ram === undefined || ram === null) ram = new WasmRam(memory, true);
  return ram;
}

/** One anonymous mapping. */
export interface Mapping {
  readonly hva: number;
  /** Bytes reachable from `hva` on (`bytes.length`). */
  readonly length: number;
  readonly bytes: Uint8Array;
  /**
   * Address space the mmap took when more than `length` (page-rounded): a vCPU fd mapped past the
   * pages Linux backs. The rest has no pages: touching it faults (SIGBUS there, EFAULT for the
   * kernel's copies here), so it belongs to no mapping's `length`.
   */
  readonly reserved?: number;
  /** False once munmapped: the bytes stay valid for JS but the kernel no longer reaches them. */
  live: boolean;
  /**
   * Which mmap() of the owner's space this is (a worker's mirror keeps the owner's number): a
   * place (hva, length) is reused once munmapped, so mirrors tell mappings apart by it.
   */
  readonly serial?: number;
  /** The process's wasm memory when the bytes were carved out of it ({@link wasmRam}). */
  readonly wasm?: WasmMemory;
}

export class AddressSpace {
  /** Live mappings sorted by hva. */
  private readonly maps: Mapping[] = [];
  /** The last Mapping.serial given. */
  private serials = 0;
  /** Everything at and above `top` is free. */
  private top = HVA_BASE;
  /**
   * Free ranges below `top` left by munmap: [start, end) pairs sorted by start, coalesced. Each
   * mapping owns its bytes plus the guard pages after it, so a hole is reusable as it stands.
   */
  private readonly holes: number[] = [];
  /**
   * Mappings `mapAt` made at a given address: their range never came from the holes or the top,
   * so unmapping them gives nothing back (the shim server maps the program's own addresses there,
   * one temporary copy per ioctl argument: handing those back made `holes` grow by a pair per
   * ioctl, duplicates included, and every splice of it O(n)).
   */
  private readonly fixed = new WeakSet<Mapping>();
  /**
   * Called when `find` misses, or `user` finds [hva, hva+len) not inside one mapping (a
   * worker-thread mirror of the owner's space, src/kernel/smp.ts; another process's memory,
   * src/server): it may add the missing mapping with `mapAt`; the lookup then runs once more.
   */
  onMiss: ((hva: number, len: number) => void) | undefined = undefined;
  /** Told of every mapping added and removed (the owner's SMP state: mirrors follow). */
  listener: { mapped(m: Mapping): void; unmapped(m: Mapping): void } | null = null;

  /**
   * Maps `length` bytes (rounded up to pages): fresh zeroed shared memory, or the bytes of an
   * existing buffer (a vCPU's mmap area) that back the mapping's first pages; address space past
   * `backing` is taken but has no pages (see {@link Mapping.reserved}). Placed at the lowest free
   * address that fits (as mmap reuses what munmap returned), so address space never leaks.
   */
  map(length: number, backing?: Uint8Array): Mapping {
    if (!Number.isSafeInteger(length) || length <= 0) throw KvmError.of('EINVAL', 'mmap');
    const len = Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
    if (len > MAX_MAPPING) throw KvmError.of('ENOMEM', 'mmap', { message: `a single mapping is limited to 4 GiB here (asked ${len} bytes)` });
    const hva = this.place(len + GUARD);
    if (hva < 0) throw KvmError.of('ENOMEM', 'mmap');
    let bytes: Uint8Array;
    let wasm: WasmMemory | undefined;
    try {
      const r = backing === undefined && len <= WASM_CARVE_MAX ? wasmRam() : null;
      const off = r !== null ? r.alloc(len) : -1;
      if (off >= 0) {
        bytes = new Uint8Array(r!.buffer, off, len);
        wasm = r!.memory;
      } else bytes = backing?.subarray(0, len) ?? new Uint8Array(new SharedArrayBuffer(len));
    } catch {
      this.release(hva, len + GUARD);
      throw KvmError.of('ENOMEM', 'mmap');
    }
    const serial = ++this.serials;
    const m: Mapping =
      wasm !== undefined
        ? { hva, length: len, bytes, live: true, serial, wasm }
        : bytes.length < len
          ? { hva, length: bytes.length, bytes, live: true, serial, reserved: len }
          : { hva, length: len, bytes, live: true, serial };
    this.insert(m);
    this.listener?.mapped(m);
    return m;
  }

  /** Takes `need` bytes of address space: the first hole that fits, else the top; -1 if none. */
  private place(need: number): number {
    const h = this.holes;
    for (let i = 0; i < h.length; i += 2) {
      const start = h[i]!;
      const end = h[i + 1]!;
      if (end - start < need) continue;
      if (end - start === need) h.splice(i, 2);
      else h[i] = start + need;
      return start;
    }
    if (this.top + need > TASK_SIZE_MAX) return -1;
    const at = this.top;
    this.top += need;
    return at;
  }

  /** Gives [start, start + len) back: into the holes (coalesced), or to the top. */
  private release(start: number, len: number): void {
    const h = this.holes;
    let end = start + len;
    let lo = start;
    // The first hole starting after `start` (binary search over the pairs).
    let a = 0;
    let b = h.length / 2;
    while (a < b) {
      const mid = (a + b) >>> 1;
      if (h[2 * mid]! < start) a = mid + 1;
      else b = mid;
    }
    let i = 2 * a;
    // Merge with the hole before and the one after when they touch.
    if (i >= 2 && h[i - 1] === lo) {
      lo = h[i - 2]!;
      i -= 2;
      h.splice(i, 2);
    }
    if (i < h.length && h[i] === end) {
      end = h[i + 1]!;
      h.splice(i, 2);
    }
    if (end === this.top) this.top = lo;
    else h.splice(i, 0, lo, end);
  }

  private insert(m: Mapping): void {
    this.maps.splice(this.lowerBound(m.hva), 0, m);
  }

  /** Index of the first mapping at or above `hva`. */
  private lowerBound(hva: number): number {
    return lowerBound(this.maps, hva, hvaOf);
  }

  /**
   * Mirrors a mapping of another thread's space at the same hva (the bytes share its
   * SharedArrayBuffer; each message brings a new SharedArrayBuffer object for the same memory,
   * so mappings are matched by place and, given the owner's `serial`, by that number: the same
   * place may hold a newer mapping in the owner than the one here, whose munmap has not reached
   * this thread yet). A mapping already there is kept; others overlapping it are gone in the
   * owner (their hva was reused) and go here too.
   */
  mapAt(hva: number, bytes: Uint8Array, serial?: number, wasm?: WasmMemory): Mapping {
    // The owner's wasm memory: this thread's views share this thread's buffer object for it.
    if (wasm !== undefined) bytes = new Uint8Array(adoptWasmRam(wasm).buffer, bytes.byteOffset, bytes.length);
    const have = this.find(hva, false);
    if (have && have.hva === hva && have.length === bytes.length && have.bytes.byteOffset === bytes.byteOffset && have.serial === serial) return have;
    // The mappings it overlaps are a run of the sorted list: from the last one starting below
    // `hva` (which may reach into it) to the last one starting below its end.
    const maps = this.maps;
    const end = hva + bytes.length;
    let i = this.lowerBound(hva) - 1;
    if (i < 0 || maps[i]!.hva + maps[i]!.length <= hva) i++;
    let j = i;
    while (j < maps.length && maps[j]!.hva < end) maps[j++]!.live = false;
    if (j > i) maps.splice(i, j - i);
    const m: Mapping = wasm !== undefined ? { hva, length: bytes.length, bytes, live: true, serial, wasm } : { hva, length: bytes.length, bytes, live: true, serial };
    this.fixed.add(m);
    this.insert(m);
    // A mirror never places mappings itself: `top` only keeps `extent` meaningful.
    this.top = Math.max(this.top, hva + bytes.length + GUARD);
    return m;
  }

  /** Removes every mapping for which `keep` is false (a mirror following the owner's munmaps). */
  retain(keep: (m: Mapping) => boolean): void {
    for (let i = this.maps.length - 1; i >= 0; i--) {
      const m = this.maps[i]!;
      if (!keep(m)) {
        m.live = false;
        this.maps.splice(i, 1);
      }
    }
  }

  /** Address space in use: bytes of the live mappings and the top of the space (for leak checks). */
  extent(): { mapped: number; top: number; holes: number } {
    let mapped = 0;
    for (const m of this.maps) mapped += m.length;
    return { mapped, top: this.top - HVA_BASE, holes: this.holes.length / 2 };
  }

  /** Every live mapping, sorted by hva. */
  all(): readonly Mapping[] {
    return this.maps;
  }

  /** Removes the mapping that starts at `hva` (munmap by address); its address space is free again. */
  unmapHva(hva: number): Mapping {
    // By its start, not by lookup: a mapping without pages (length 0) contains no address.
    const m = this.maps[this.lowerBound(hva)];
    if (!m || m.hva !== hva) throw KvmError.of('EINVAL', 'munmap');
    this.remove(m);
    return m;
  }

  /** Removes the mapping whose bytes are `region` (or a prefix view of them); returns it. */
  unmap(region: Uint8Array): Mapping {
    // The newest such mapping first (a vCPU area may be mapped several times).
    for (let i = this.maps.length - 1; i >= 0; i--) {
      const m = this.maps[i]!;
      if (m.bytes.buffer === region.buffer && region.byteOffset === m.bytes.byteOffset) {
        this.remove(m);
        return m;
      }
    }
    throw KvmError.of('EINVAL', 'munmap', { message: 'not a region returned by mmap() or alloc() of this Sys' });
  }

  private remove(m: Mapping): void {
    let i = this.lowerBound(m.hva);
    if (this.maps[i] !== m) i = this.maps.indexOf(m);
    m.live = false;
    this.maps.splice(i, 1);
    // Mirrors stop using it before its address space can be handed out again.
    this.listener?.unmapped(m);
    if (!this.fixed.has(m)) {
      this.release(m.hva, (m.reserved ?? m.length) + GUARD);
      // A carved mapping's bytes go back to the wasm memory (zeroed before the next mmap gets them).
      if (m.wasm !== undefined && ram != null && m.bytes.buffer === ram.buffer) ram.release(m.bytes.byteOffset, m.length);
    }
  }

  /** The mapping that contains `hva`, if any. */
  find(hva: number, miss = true): Mapping | undefined {
    const m = this.lookup(hva);
    if (m || !miss || !this.onMiss) return m;
    this.onMiss(hva, 1);
    return this.lookup(hva);
  }

  private lookup(hva: number): Mapping | undefined {
    const maps = this.maps;
    let lo = 0;
    let hi = maps.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const m = maps[mid]!;
      if (hva < m.hva) hi = mid - 1;
      else if (hva >= m.hva + m.length) lo = mid + 1;
      else return m;
    }
    return undefined;
  }

  /**
   * The bytes at [hva, hva+len) as a view, as copy_from_user/copy_to_user would reach them;
   * EFAULT when any byte is unmapped.
   */
  user(hva: number | bigint, len: number, syscall = 'ioctl'): Uint8Array {
    if (len === 0) return new Uint8Array(0); // copying 0 bytes never faults, whatever the pointer
    const a = typeof hva === 'bigint' ? (hva > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(hva)) : hva;
    let m = a >= 0 ? this.lookup(a) : undefined;
    if (a >= 0 && this.onMiss && (!m || a + len > m.hva + m.length)) {
      this.onMiss(a, len);
      m = this.lookup(a);
    }
    if (!m || a + len > m.hva + m.length) throw KvmError.of('EFAULT', syscall);
    const off = a - m.hva;
    return m.bytes.subarray(off, off + len);
  }
}
