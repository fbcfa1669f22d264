/**
 * virtio-rng, the entropy device (Virtio 1.x section 5.4): one virtqueue (requestq) of
 * device-writable buffers the device fills with random bytes from the VMM's source; no feature
 * bits, no configuration space.
 * @module
 */
import { randomFillSync } from 'node:crypto';
import type { VirtioBackend, VirtioIo } from './mmio.js';

/** Where the device's bytes come from: fills `buf` (default: the host's CSPRNG). */
export type EntropySource = (buf: Uint8Array) => void;

const QUEUE_SIZE = 64;
/** Bytes served per buffer at most: a guest asking for more gets a short (still valid) answer. */
const MAX_PER_REQUEST = 4096;

export class VirtioRng implements VirtioBackend {
  readonly name = 'rng';
  readonly deviceId = 4;
  readonly queueMax = [QUEUE_SIZE];
  readonly features = 0n;
  /** Requests (descriptor chains) served and bytes given (diagnostics). */
  readonly stats = { requests: 0, bytes: 0 };

  constructor(private readonly source: EntropySource = (b) => randomFillSync(b)) {}

  readConfig(): number {
    return 0;
  }

  notify(q: number, io: VirtioIo): void {
    if (q !== 0) return;
    const vq = io.queue(0);
    let any = false;
    for (let c = vq.pop(io.mem); c; c = vq.pop(io.mem)) {
      let written = 0;
      for (const b of c.buffers) {
        if (!b.writable || written >= MAX_PER_REQUEST) continue;
        const n = Math.min(b.len, MAX_PER_REQUEST - written);
        this.source(io.mem.slice(b.gpa, n));
        written += n;
      }
      vq.push(io.mem, c.head, written);
      this.stats.requests++;
      this.stats.bytes += written;
      any = true;
    }
    if (any) io.signalUsed();
  }
}
