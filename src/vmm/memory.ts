/**
 * Guest memory as the VMM sees it: the host buffers behind its memslots, addressed by gpa.
 * Devices that DMA (virtio) read and write guest RAM through this.
 * @module
 */

/** One RAM region: `bytes` backs gpa [gpa, gpa + bytes.length). */
export interface RamRegion {
  readonly gpa: number;
  readonly bytes: Uint8Array;
}

/** Thrown when a device touches memory that is not RAM (a guest bug: the device fails the request). */
export class GuestMemoryError extends Error {
  override readonly name = 'GuestMemoryError';
}

export class GuestMemory {
  constructor(readonly regions: RamRegion[] = []) {}

  add(r: RamRegion): void {
    this.regions.push(r);
  }

  /** The bytes at [gpa, gpa + len): a view into guest RAM (no copy); throws if not all RAM. */
  slice(gpa: number, len: number): Uint8Array {
    for (const r of this.regions) {
      const off = gpa - r.gpa;
      if (off >= 0 && off + len <= r.bytes.length) return r.bytes.subarray(off, off + len);
    }
    throw new GuestMemoryError(`gpa 0x${gpa.toString(16)}+0x${len.toString(16)} is not guest RAM`);
  }

  dataView(gpa: number, len: number): DataView {
    const b = this.slice(gpa, len);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }
}
