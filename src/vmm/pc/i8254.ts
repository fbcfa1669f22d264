/**
 * The PC's 8254 interval timer in userspace, for a VM without an in-kernel PIT (KVM_CREATE_PIT2):
 * three 16-bit down-counters at 1.193182 MHz on the host's monotonic clock. Channel 0 drives
 * ISA IRQ 0 (Linux's clock event before the LAPIC timer, and the reference its TSC calibration
 * reads); channel 2's gate and output are port 0x61 bits 0 and 5 (calibration loops poll them).
 * Counter latch and read-back commands, LSB/MSB/LSB-then-MSB access, modes 0-5.
 * @module
 */
import type { Device } from '../devices.js';
import type { IrqLine } from '../irq.js';

/** The PIT input clock, Hz. */
export const PIT_HZ = 1_193_182;

/** Monotonic time in nanoseconds (injectable for tests). */
export type Clock = () => number;

export const hostClock: Clock = () => performance.now() * 1e6;

class Channel {
  /** The reload value (0 means 65536). */
  count = 0x10000;
  mode = 0;
  /** Access mode: 1 LSB, 2 MSB, 3 LSB then MSB. */
  rw = 3;
  bcd = false;
  gate: boolean;
  /** When the count was loaded (ticks); counting starts here. */
  loadTick = 0;
  /** No count written yet since the mode was set: the counter is stopped (mode 0 output low). */
  armed = false;
  /** Write toggle (LSB first) and the pending LSB. */
  writeMsb = false;
  writeLatch = 0;
  /** Read toggle and the latched count (null: read live). */
  readMsb = false;
  latched: number | null = null;
  latchedRw = 3;
  status: number | null = null;
  /** The next IRQ edge (ticks) for channel 0, or Infinity. */
  nextEdge = Infinity;

  constructor(gate: boolean) {
    this.gate = gate;
  }
}

export class I8254 {
  private readonly ch = [new Channel(true), new Channel(true), new Channel(false)];
  private readonly t0: number;
  /** Speaker data enable (port 0x61 bit 1) and the refresh toggle (bit 4). */
  private speaker = 0;
  /** Channel-0 interrupts raised (diagnostics). */
  irqs = 0;

  constructor(
    private readonly irq0: IrqLine,
    private readonly clock: Clock = hostClock,
  ) {
    this.t0 = clock();
  }

  /** PIT ticks since creation. */
  ticks(): number {
    return Math.floor(((this.clock() - this.t0) * PIT_HZ) / 1e9);
  }

  /** Nanoseconds (on the clock) until channel 0's next interrupt, or Infinity. */
  nsUntilIrq(): number {
    const e = this.ch[0]!.nextEdge;
    if (e === Infinity) return Infinity;
    return Math.max(0, ((e - this.ticks()) * 1e9) / PIT_HZ);
  }

  /** Raises IRQ 0 if channel 0's output rose since the last call (missed periods coalesce into one). */
  update(): void {
    const c = this.ch[0]!;
    const now = this.ticks();
    if (c.nextEdge > now) return;
    this.irqs++;
    this.irq0.set(true);
    this.irq0.set(false);
    c.nextEdge = this.followingEdge(c, now);
  }

  /** Counter value and output of `c` at tick `now`. */
  private state(c: Channel, now: number): { count: number; out: boolean } {
    const n = c.count;
    if (!c.armed) return { count: n & 0xffff, out: c.mode !== 0 };
    const d = now - c.loadTick;
    switch (c.mode) {
      case 0: // interrupt on terminal count
      case 1:
        return { count: (n - d) & 0xffff, out: d >= n };
      case 4: // software-triggered strobe: low for one clock at terminal count
      case 5:
        return { count: (n - d) & 0xffff, out: d !== n };
      case 2:
      case 6:
        return { count: n - (d % n), out: d % n !== n - 1 };
      default: {
        // 3 (and 7): square wave, the count runs down by two per clock, twice per period.
        const half = (n + 1) >> 1;
        const p = d % n;
        return { count: (n - 2 * (p % half)) & 0xfffe || 0, out: p < half };
      }
    }
  }

  /** The tick of channel 0's next rising output edge after `now` (an IRQ 0 edge). */
  private followingEdge(c: Channel, now: number): number {
    if (!c.armed || !c.gate) return Infinity;
    const n = c.count;
    const d = now - c.loadTick;
    switch (c.mode) {
      case 0:
      case 1:
        return d < n ? c.loadTick + n : Infinity;
      case 4:
      case 5:
        return d < n + 1 ? c.loadTick + n + 1 : Infinity;
      default: {
        // Periodic: every n ticks.
        const k = Math.floor(d / n) + 1;
        return c.loadTick + k * n;
      }
    }
  }

  private load(i: number, value: number): void {
    const c = this.ch[i]!;
    c.count = value === 0 ? 0x10000 : value;
    c.loadTick = this.ticks();
    c.armed = true;
    if (i === 0) c.nextEdge = this.followingEdge(c, c.loadTick);
  }

  private writeControl(v: number): void {
    const sel = v >> 6;
    if (sel === 3) {
      // Read-back: latch count (bit 5 clear) and/or status (bit 4 clear) of the selected channels.
      const now = this.ticks();
      for (let i = 0; i < 3; i++) {
        if (!(v & (2 << i))) continue;
        const c = this.ch[i]!;
        const st = this.state(c, now);
        if (!(v & 0x20) && c.latched === null) {
          c.latched = st.count;
          c.latchedRw = c.rw;
          c.readMsb = false;
        }
        if (!(v & 0x10) && c.status === null) c.status = (st.out ? 0x80 : 0) | (c.armed ? 0 : 0x40) | (c.rw << 4) | (c.mode << 1) | (c.bcd ? 1 : 0);
      }
      return;
    }
    const c = this.ch[sel]!;
    const rw = (v >> 4) & 3;
    if (rw === 0) {
      // Counter latch command.
      if (c.latched === null) {
        c.latched = this.state(c, this.ticks()).count;
        c.latchedRw = c.rw;
        c.readMsb = false;
      }
      return;
    }
    c.rw = rw;
    c.mode = (v >> 1) & 7;
    if (c.mode > 5) c.mode -= 4; // 6, 7 alias 2, 3
    c.bcd = (v & 1) !== 0;
    c.armed = false;
    c.writeMsb = false;
    c.readMsb = false;
    c.latched = null;
    if (sel === 0) c.nextEdge = Infinity;
  }

  private writeCounter(i: number, v: number): void {
    const c = this.ch[i]!;
    switch (c.rw) {
      case 1:
        this.load(i, v);
        break;
      case 2:
        this.load(i, v << 8);
        break;
      default:
        if (!c.writeMsb) {
          c.writeLatch = v;
          c.writeMsb = true;
          // Mode 0: writing the first byte stops the count until the second.
          if (c.mode === 0) {
            c.armed = false;
            if (i === 0) c.nextEdge = Infinity;
          }
        } else {
          c.writeMsb = false;
          this.load(i, c.writeLatch | (v << 8));
        }
    }
  }

  private readCounter(i: number): number {
    const c = this.ch[i]!;
    if (c.status !== null) {
      const s = c.status;
      c.status = null;
      return s;
    }
    const rw = c.latched !== null ? c.latchedRw : c.rw;
    const value = c.latched ?? this.state(c, this.ticks()).count;
    let byte: number;
    if (rw === 1) byte = value & 0xff;
    else if (rw === 2) byte = (value >> 8) & 0xff;
    else {
      byte = c.readMsb ? (value >> 8) & 0xff : value & 0xff;
      c.readMsb = !c.readMsb;
      if (c.readMsb) return byte; // the latch holds until the MSB is read too
    }
    c.latched = null;
    return byte;
  }

  /** Ports 0x40-0x43 and the channel-2 gate/speaker port 0x61. */
  devices(): Device[] {
    return [
      {
        name: 'i8254',
        base: 0x40,
        size: 4,
        read: (off) => (off === 3 ? 0xff : this.readCounter(off)),
        write: (off, _size, v) => (off === 3 ? this.writeControl(v & 0xff) : this.writeCounter(off, v & 0xff)),
      },
      {
        name: 'port61',
        base: 0x61,
        size: 1,
        read: () => {
          const c = this.ch[2]!;
          this.speaker ^= 0x10; // the refresh toggle some delay loops watch
          const out = c.gate && this.state(c, this.ticks()).out;
          return (c.gate ? 1 : 0) | (this.speaker & 0x12) | (out ? 0x20 : 0);
        },
        write: (_off, _size, v) => {
          const c = this.ch[2]!;
          const gate = (v & 1) !== 0;
          // A rising gate restarts modes 1 and 5 (and 2/3 reload); mode 0 resumes counting.
          if (gate && !c.gate && c.armed) c.loadTick = this.ticks();
          c.gate = gate;
          this.speaker = (this.speaker & 0x10) | (v & 2);
        },
      },
    ];
  }
}
