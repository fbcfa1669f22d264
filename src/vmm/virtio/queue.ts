/**
 * A split virtqueue (Virtio 1.x, 2.7): the driver's descriptor table and available ring, the
 * device's used ring, all in guest memory. Indirect descriptors and event-index suppression are
 * not offered, so the rings are walked plainly.
 * @module
 */
import { GuestMemory, GuestMemoryError } from '../memory.js';

const VIRTQ_DESC_F_NEXT = 1;
const VIRTQ_DESC_F_WRITE = 2;

/** One buffer of a chain: device-readable or device-writable guest memory. */
export interface DescBuffer {
  readonly gpa: number;
  readonly len: number;
  readonly writable: boolean;
}

/** A descriptor chain popped from the available ring. */
export interface DescChain {
  readonly head: number;
  readonly buffers: readonly DescBuffer[];
}

export class Virtqueue {
  /** QueueNum: ring size the driver chose. */
  num = 0;
  ready = false;
  desc = 0;
  driver = 0;
  device = 0;
  /** The next available-ring index the device will consume. */
  private lastAvail = 0;

  constructor(readonly maxSize: number) {}

  reset(): void {
    this.num = 0;
    this.ready = false;
    this.desc = this.driver = this.device = 0;
    this.lastAvail = 0;
  }

  /** Pops the next chain the driver made available, or undefined. Throws GuestMemoryError on bad rings. */
  pop(mem: GuestMemory): DescChain | undefined {
    if (!this.ready || !this.num) return undefined;
    const avail = mem.dataView(this.driver, 4 + 2 * this.num);
    const idx = avail.getUint16(2, true);
    if (idx === this.lastAvail) return undefined;
    const head = avail.getUint16(4 + 2 * (this.lastAvail % this.num), true);
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    if (head >= this.num) throw new GuestMemoryError(`descriptor index ${head} >= queue size ${this.num}`);
    const table = mem.dataView(this.desc, 16 * this.num);
    const buffers: DescBuffer[] = [];
    let i = head;
    for (let n = 0; ; n++) {
      if (n >= this.num) throw new GuestMemoryError('descriptor chain loops');
      const o = 16 * i;
      const gpa = Number(table.getBigUint64(o, true));
      const len = table.getUint32(o + 8, true);
      const flags = table.getUint16(o + 12, true);
      buffers.push({ gpa, len, writable: (flags & VIRTQ_DESC_F_WRITE) !== 0 });
      if (!(flags & VIRTQ_DESC_F_NEXT)) break;
      i = table.getUint16(o + 14, true);
      if (i >= this.num) throw new GuestMemoryError(`descriptor index ${i} >= queue size ${this.num}`);
    }
    return { head, buffers };
  }

  /** Returns a chain to the driver with `written` bytes written into its writable buffers. */
  push(mem: GuestMemory, head: number, written: number): void {
    const used = mem.dataView(this.device, 4 + 8 * this.num);
    const idx = used.getUint16(2, true);
    const e = 4 + 8 * (idx % this.num);
    used.setUint32(e, head, true);
    used.setUint32(e + 4, written, true);
    used.setUint16(2, (idx + 1) & 0xffff, true);
  }
}

/** Reads a chain's device-readable bytes (in order) into one buffer, up to `max`. */
export function readChain(mem: GuestMemory, bufs: readonly DescBuffer[], max = Infinity): Uint8Array {
  const parts = bufs.filter((b) => !b.writable);
  const total = Math.min(max, parts.reduce((s, b) => s + b.len, 0));
  const out = new Uint8Array(total);
  let o = 0;
  for (const b of parts) {
    if (o >= total) break;
    const n = Math.min(b.len, total - o);
    out.set(mem.slice(b.gpa, n), o);
    o += n;
  }
  return out;
}

/** Writes `data` across a chain's device-writable buffers; returns the bytes written. */
export function writeChain(mem: GuestMemory, bufs: readonly DescBuffer[], data: Uint8Array): number {
  let o = 0;
  for (const b of bufs) {
    if (!b.writable || o >= data.length) continue;
    const n = Math.min(b.len, data.length - o);
    mem.slice(b.gpa, n).set(data.subarray(o, o + n));
    o += n;
  }
  return o;
}
