/**
 * virtio-blk (Virtio 1.x section 5.2) backed by a disk image file: IN, OUT, FLUSH and GET_ID
 * requests, 512-byte sectors, capacity from the file size. Requests run synchronously on notify
 * (the file is read and written in place, so the VMM sees the guest's writes at once).
 * @module
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { readChain, type DescBuffer } from './queue.js';
import type { VirtioBackend, VirtioIo } from './mmio.js';

const VIRTIO_BLK_T_IN = 0;
const VIRTIO_BLK_T_OUT = 1;
const VIRTIO_BLK_T_FLUSH = 4;
const VIRTIO_BLK_T_GET_ID = 8;
const VIRTIO_BLK_S_OK = 0;
const VIRTIO_BLK_S_IOERR = 1;
const VIRTIO_BLK_S_UNSUPP = 2;

/** Feature bits (5.2.3). */
export const VIRTIO_BLK_F = { SEG_MAX: 1n << 2n, RO: 1n << 5n, BLK_SIZE: 1n << 6n, FLUSH: 1n << 9n } as const;

const SECTOR = 512;
const QUEUE_SIZE = 256;
const SEG_MAX = QUEUE_SIZE - 2;

/** The storage behind a virtio-blk device. */
export interface BlockStore {
  readonly size: number;
  readonly readOnly: boolean;
  read(buf: Uint8Array, pos: number): void;
  write(buf: Uint8Array, pos: number): void;
  flush(): void;
  close(): void;
}

/** A disk image file, opened read-write (or read-only). */
export function fileStore(path: string, readOnly = false): BlockStore {
  const fd = openSync(path, readOnly ? 'r' : 'r+');
  const size = fstatSync(fd).size;
  return {
    size,
    readOnly,
    read(buf, pos) {
      let o = 0;
      while (o < buf.length) {
        const n = readSync(fd, buf, o, buf.length - o, pos + o);
        if (n === 0) {
          buf.fill(0, o);
          break;
        }
        o += n;
      }
    },
    write(buf, pos) {
      let o = 0;
      while (o < buf.length) o += writeSync(fd, buf, o, buf.length - o, pos + o);
    },
    flush: () => fsyncSync(fd),
    close: () => closeSync(fd),
  };
}

/** An in-memory disk (tests). */
export function memoryStore(bytes: Uint8Array, readOnly = false): BlockStore {
  return {
    size: bytes.length,
    readOnly,
    read: (buf, pos) => buf.set(bytes.subarray(pos, pos + buf.length)),
    write: (buf, pos) => bytes.set(buf, pos),
    flush() {},
    close() {},
  };
}

export class VirtioBlk implements VirtioBackend {
  readonly name = 'blk';
  readonly deviceId = 2;
  readonly queueMax = [QUEUE_SIZE];
  readonly features: bigint;
  private readonly sectors: bigint;
  /** Requests served by type (diagnostics). */
  readonly stats = { read: 0, write: 0, flush: 0, getId: 0, bytesRead: 0, bytesWritten: 0, errors: 0 };

  constructor(
    readonly store: BlockStore,
    private readonly serial = 'vkvm-disk',
  ) {
    this.sectors = BigInt(Math.floor(store.size / SECTOR));
    this.features = VIRTIO_BLK_F.SEG_MAX | VIRTIO_BLK_F.BLK_SIZE | VIRTIO_BLK_F.FLUSH | (store.readOnly ? VIRTIO_BLK_F.RO : 0n);
  }

  /** struct virtio_blk_config: capacity (le64) at 0, size_max at 8, seg_max at 12, blk_size at 20. */
  readConfig(offset: number, size: number): number {
    const cfg = new Uint8Array(24);
    const dv = new DataView(cfg.buffer);
    dv.setBigUint64(0, this.sectors, true);
    dv.setUint32(12, SEG_MAX, true);
    dv.setUint32(20, SECTOR, true);
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + (cfg[offset + i] ?? 0);
    return v;
  }

  notify(q: number, io: VirtioIo): void {
    const vq = io.queue(q);
    let any = false;
    for (let c = vq.pop(io.mem); c; c = vq.pop(io.mem)) {
      const written = this.request(io, c.buffers);
      vq.push(io.mem, c.head, written);
      any = true;
    }
    if (any) io.signalUsed();
  }

  /** Serves one request; returns the bytes written into the chain (data + status). */
  private request(io: VirtioIo, bufs: readonly DescBuffer[]): number {
    const hdr = readChain(io.mem, bufs, 16);
    const statusBuf = bufs[bufs.length - 1];
    if (hdr.length < 16 || !statusBuf || !statusBuf.writable || statusBuf.len < 1) {
      this.stats.errors++;
      return 0; // malformed: nothing sensible to report
    }
    const dv = new DataView(hdr.buffer);
    const type = dv.getUint32(0, true);
    const sector = Number(dv.getBigUint64(8, true));
    // The data buffers: everything after the 16-byte header, before the status byte.
    const data = splitData(bufs, 16, statusBuf);
    let status = VIRTIO_BLK_S_OK;
    let written = 0;
    const inRange = (len: number) => sector * SECTOR + len <= Number(this.sectors) * SECTOR;
    switch (type) {
      case VIRTIO_BLK_T_IN: {
        const len = data.reduce((s, b) => s + b.len, 0);
        if (data.some((b) => !b.writable) || !inRange(len)) {
          status = VIRTIO_BLK_S_IOERR;
          break;
        }
        let pos = sector * SECTOR;
        for (const b of data) {
          this.store.read(io.mem.slice(b.gpa, b.len), pos);
          pos += b.len;
        }
        written = len;
        this.stats.read++;
        this.stats.bytesRead += len;
        break;
      }
      case VIRTIO_BLK_T_OUT: {
        const len = data.reduce((s, b) => s + b.len, 0);
        if (this.store.readOnly || data.some((b) => b.writable) || !inRange(len)) {
          status = VIRTIO_BLK_S_IOERR;
          break;
        }
        let pos = sector * SECTOR;
        for (const b of data) {
          this.store.write(io.mem.slice(b.gpa, b.len), pos);
          pos += b.len;
        }
        this.stats.write++;
        this.stats.bytesWritten += len;
        break;
      }
      case VIRTIO_BLK_T_FLUSH:
        this.store.flush();
        this.stats.flush++;
        break;
      case VIRTIO_BLK_T_GET_ID: {
        const id = new Uint8Array(20);
        id.set(Buffer.from(this.serial, 'latin1').subarray(0, 20));
        let o = 0;
        for (const b of data) {
          if (!b.writable || o >= 20) continue;
          const n = Math.min(b.len, 20 - o);
          io.mem.slice(b.gpa, n).set(id.subarray(o, o + n));
          o += n;
        }
        written = o;
        this.stats.getId++;
        break;
      }
      default:
        status = VIRTIO_BLK_S_UNSUPP;
    }
    if (status !== VIRTIO_BLK_S_OK) this.stats.errors++;
    io.mem.slice(statusBuf.gpa + statusBuf.len - 1, 1)[0] = status;
    return written + 1;
  }
}

/** The buffers (or parts of them) between the first `skip` bytes and the status byte. */
function splitData(bufs: readonly DescBuffer[], skip: number, status: DescBuffer): DescBuffer[] {
  const out: DescBuffer[] = [];
  let s = skip;
  for (const b of bufs) {
    let { gpa, len } = b;
    if (s > 0) {
      const n = Math.min(s, len);
      gpa += n;
      len -= n;
      s -= n;
    }
    if (b === status) len -= 1; // the status byte is the chain's last
    if (len > 0) out.push({ gpa, len, writable: b.writable });
  }
  return out;
}
