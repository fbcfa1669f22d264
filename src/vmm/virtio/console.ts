/**
 * virtio-console (Virtio 1.x section 5.3), a single port: transmitq bytes go to the VMM's console
 * sink, host input fills the driver's receiveq buffers as they become available (hvc0).
 * @module
 */
import { readChain, writeChain } from './queue.js';
import type { VirtioBackend, VirtioIo } from './mmio.js';

const RX = 0;
const TX = 1;

export class VirtioConsole implements VirtioBackend {
  readonly name = 'console';
  readonly deviceId = 3;
  readonly queueMax = [64, 64];
  readonly features = 0n;
  private readonly input: number[] = [];
  private io: VirtioIo | undefined;

  constructor(private readonly sink: (byte: number) => void) {}

  /** struct virtio_console_config (cols, rows, max_nr_ports, emerg_wr): all zero here. */
  readConfig(): number {
    return 0;
  }

  /** Host input for the guest (delivered when the driver has posted receive buffers). */
  receive(bytes: Iterable<number>): void {
    for (const b of bytes) this.input.push(b & 0xff);
    if (this.io?.active) this.deliver(this.io);
  }

  reset(): void {
    this.io = undefined;
  }

  activate(io: VirtioIo): void {
    this.io = io;
    this.deliver(io);
  }

  notify(q: number, io: VirtioIo): void {
    this.io = io;
    if (q === RX) {
      this.deliver(io);
      return;
    }
    if (q !== TX) return;
    const vq = io.queue(TX);
    let any = false;
    for (let c = vq.pop(io.mem); c; c = vq.pop(io.mem)) {
      for (const b of readChain(io.mem, c.buffers)) this.sink(b);
      vq.push(io.mem, c.head, 0);
      any = true;
    }
    if (any) io.signalUsed();
  }

  private deliver(io: VirtioIo): void {
    const vq = io.queue(RX);
    let any = false;
    while (this.input.length) {
      const c = vq.pop(io.mem);
      if (!c) break;
      const room = c.buffers.filter((b) => b.writable).reduce((s, b) => s + b.len, 0);
      const chunk = Uint8Array.from(this.input.splice(0, room));
      vq.push(io.mem, c.head, writeChain(io.mem, c.buffers, chunk));
      any = true;
    }
    if (any) io.signalUsed();
  }
}
