/**
 * The Linux machines' devices on their own, driven as the Linux drivers drive them: the i8259
 * pair (initialisation, priorities, EOI, cascade, ELCR, poll), the i8254 on an injected clock
 * (modes 0 and 2, latch, read-back, port 0x61), the CMOS clock, the i8042 (self test, reset
 * line), the 8250 (THRE interrupt re-raise, receive FIFO, loopback MSR, OUT2 gating), and
 * virtio-mmio with a hand-built split virtqueue (feature negotiation, blk IN/OUT/FLUSH/GET_ID,
 * console TX/RX, a broken ring), the MP table (checksums, and ISA IRQ pins that match where the
 * in-kernel irqchip delivers each GSI: the PIT's ticks reach the LAPIC through IRQ 0's pin).
 */
import { describe, expect, it } from 'vitest';
import { Kvm, x86_64 } from '../../src/index.js';
import { x86Backends } from '../helpers/backends.js';
import { Uart16550, type Device } from '../../src/vmm/devices.js';
import type { IrqLine } from '../../src/vmm/irq.js';
import { GuestMemory } from '../../src/vmm/memory.js';
import { mpTable } from '../../src/vmm/linux/mptable.js';
import { Cmos } from '../../src/vmm/pc/cmos.js';
import { I8042 } from '../../src/vmm/pc/i8042.js';
import { I8254, PIT_HZ } from '../../src/vmm/pc/i8254.js';
import { I8259 } from '../../src/vmm/pc/i8259.js';
import { memoryStore, VirtioBlk } from '../../src/vmm/virtio/blk.js';
import { VirtioConsole } from '../../src/vmm/virtio/console.js';
import { VIRTIO_STATUS, VirtioMmio } from '../../src/vmm/virtio/mmio.js';

/** Port access helpers over a device list. */
function ports(devs: Device[]) {
  const find = (p: number) => {
    const d = devs.find((x) => p >= x.base && p < x.base + x.size);
    if (!d) throw new Error(`no device at 0x${p.toString(16)}`);
    return d;
  };
  return {
    out: (p: number, v: number, size = 1) => find(p).write(p - find(p).base, size, v),
    in: (p: number, size = 1) => find(p).read(p - find(p).base, size),
  };
}

/** Linux's init_8259A: ICW1-4 for master (vectors 0x30) and slave (0x38), then masks. */
function initPic(pic: I8259, io: ReturnType<typeof ports>, autoEoi = false) {
  io.out(0x21, 0xff);
  io.out(0xa1, 0xff);
  io.out(0x20, 0x11);
  io.out(0x21, 0x30);
  io.out(0x21, 0x04);
  io.out(0x21, autoEoi ? 0x03 : 0x01);
  io.out(0xa0, 0x11);
  io.out(0xa1, 0x38);
  io.out(0xa1, 0x02);
  io.out(0xa1, 0x01);
  io.out(0x21, 0x00);
  io.out(0xa1, 0x00);
  return pic;
}

describe('i8259 pair', () => {
  it('probes like Linux (the IMR reads back), delivers by priority, holds lower IRQs until EOI', () => {
    const pic = new I8259();
    const io = ports(pic.devices());
    io.out(0x21, 0xff);
    expect(io.in(0x21)).toBe(0xff);
    initPic(pic, io);
    const l3 = pic.line(3);
    const l1 = pic.line(1);
    l3.set(true);
    l1.set(true);
    expect(pic.pending()).toBe(true);
    expect(pic.acknowledge()).toBe(0x31); // IRQ1 first
    // IRQ3 is lower priority than the in-service IRQ1: not delivered yet.
    expect(pic.pending()).toBe(false);
    io.out(0x20, 0x0b); // OCW3: read ISR
    expect(io.in(0x20)).toBe(0x02);
    io.out(0x20, 0x20); // non-specific EOI
    expect(pic.pending()).toBe(true);
    expect(pic.acknowledge()).toBe(0x33);
    io.out(0x20, 0x63); // specific EOI for IRQ3
    expect(io.in(0x20)).toBe(0);
    expect(pic.pending()).toBe(false);
  });

  it('edge-triggered inputs latch a rising edge once; masked inputs wait; spurious IRQ 7', () => {
    const pic = initPic(new I8259(), ports(new I8259().devices()));
    const io = ports(pic.devices());
    initPic(pic, io);
    const l0 = pic.line(0);
    l0.set(true);
    l0.set(true); // no new edge
    io.out(0x21, 0x01); // mask IRQ0
    expect(pic.pending()).toBe(false);
    io.out(0x21, 0x00);
    expect(pic.acknowledge()).toBe(0x30);
    io.out(0x20, 0x20);
    expect(pic.pending()).toBe(false); // the line stayed high: no second edge
    l0.set(false);
    l0.set(true);
    expect(pic.pending()).toBe(true);
    // INTA with nothing pending answers IRQ 7 without setting ISR.
    const p2 = new I8259();
    initPic(p2, ports(p2.devices()));
    expect(p2.acknowledge()).toBe(0x37);
  });

  it('slave IRQs cascade through master input 2 and need EOIs on both chips; ELCR makes them level; spurious IRQ 15', () => {
    const pic = new I8259();
    const io = ports(pic.devices());
    initPic(pic, io);
    const l10 = pic.line(10);
    io.out(0x4d1, 0x04); // IRQ10 level-triggered
    expect(io.in(0x4d1)).toBe(0x04);
    l10.set(true);
    expect(pic.acknowledge()).toBe(0x3a);
    io.out(0xa0, 0x20);
    io.out(0x20, 0x20);
    // Level: still asserted, delivered again until the device lowers it.
    expect(pic.acknowledge()).toBe(0x3a);
    io.out(0xa0, 0x20);
    io.out(0x20, 0x20);
    // Lowered after its edge reached the master: the INTA finds nothing on the slave, so the
    // CPU gets the slave's spurious IRQ 15 (as the 8259A datasheet and QEMU have it).
    l10.set(false);
    expect(pic.acknowledge()).toBe(0x3f);
    expect(pic.pending()).toBe(false);
    // The ELCR cannot make IRQ 0, 1, 2 level-triggered.
    io.out(0x4d0, 0xff);
    expect(io.in(0x4d0)).toBe(0xf8);
  });

  it('auto-EOI mode leaves no ISR bit; OCW3 poll acknowledges', () => {
    const pic = new I8259();
    const io = ports(pic.devices());
    initPic(pic, io, true);
    pic.line(5).set(true);
    expect(pic.acknowledge()).toBe(0x35);
    io.out(0x20, 0x0b);
    expect(io.in(0x20)).toBe(0);
    pic.line(4).set(true);
    io.out(0x20, 0x0c); // poll
    expect(io.in(0x20)).toBe(0x84);
    expect(pic.pending()).toBe(false);
  });

  it('refuses IRQ 2 and out-of-range lines', () => {
    expect(() => new I8259().line(2)).toThrow(RangeError);
    expect(() => new I8259().line(16)).toThrow(RangeError);
  });
});

describe('i8254', () => {
  const setup = () => {
    let ns = 0;
    let edges = 0;
    const irq0: IrqLine = {
      set: (l) => {
        if (l) edges++;
      },
    };
    const pit = new I8254(irq0, () => ns);
    const io = ports(pit.devices());
    return { pit, io, advance: (ticks: number) => (ns += (ticks * 1e9) / PIT_HZ + 1), edges: () => edges };
  };

  it('mode 2 on channel 0 raises IRQ 0 every period; missed periods coalesce', () => {
    const { pit, io, advance, edges } = setup();
    io.out(0x43, 0x34); // ch0, lobyte/hibyte, mode 2
    io.out(0x40, 1000 & 0xff);
    io.out(0x40, 1000 >> 8);
    pit.update();
    expect(edges()).toBe(0);
    advance(1000);
    pit.update();
    expect(edges()).toBe(1);
    advance(5000);
    pit.update();
    expect(edges()).toBe(2);
    expect(pit.nsUntilIrq()).toBeLessThanOrEqual((1000 * 1e9) / PIT_HZ);
  });

  it('counter latch and live LSB/MSB reads count down; read-back returns the status byte', () => {
    const { io, advance } = setup();
    io.out(0x43, 0xb0); // ch2, lobyte/hibyte, mode 0
    io.out(0x42, 0xff);
    io.out(0x42, 0xff);
    advance(0x100);
    io.out(0x43, 0x80); // latch ch2
    advance(0x1000); // the latch holds
    const lo = io.in(0x42);
    const hi = io.in(0x42);
    expect((hi << 8) | lo).toBe(0xffff - 0x100);
    io.out(0x43, 0xe8); // read-back: status only (bit 5 set = no count), channel 2
    const st = io.in(0x42);
    expect(st & 0x3f).toBe(0x30); // RW = 3, mode 0, binary
    expect(st & 0x80).toBe(0); // OUT low until terminal count
  });

  it('channel 2 OUT is port 0x61 bit 5 once the gate is high and the count expires (TSC calibration)', () => {
    const { io, advance } = setup();
    io.out(0x61, (io.in(0x61) & ~0x02) | 0x01);
    io.out(0x43, 0xb0);
    io.out(0x42, 100);
    io.out(0x42, 0);
    expect(io.in(0x61) & 0x20).toBe(0);
    advance(100);
    expect(io.in(0x61) & 0x20).toBe(0x20);
    expect(io.in(0x61) & 0x01).toBe(1);
  });

  it('mode 0 and 4 on channel 0 are one-shots', () => {
    const { pit, io, advance, edges } = setup();
    io.out(0x43, 0x38); // mode 4 (Linux's oneshot clock event)
    io.out(0x40, 50);
    io.out(0x40, 0);
    advance(60);
    pit.update();
    advance(1000);
    pit.update();
    expect(edges()).toBe(1);
    expect(pit.nsUntilIrq()).toBe(Infinity);
  });
});

describe('CMOS, i8042', () => {
  it('reads the clock in BCD with the century; register C clears on read', () => {
    const io = ports([new Cmos(() => new Date(Date.UTC(2026, 0, 2, 13, 45, 59)))]);
    const rd = (i: number) => (io.out(0x70, i), io.in(0x71));
    expect([rd(0), rd(2), rd(4), rd(7), rd(8), rd(9), rd(0x32)]).toEqual([0x59, 0x45, 0x13, 0x02, 0x01, 0x26, 0x20]);
    expect(rd(0x0b) & 0x04).toBe(0); // BCD
    expect(rd(0x0d)).toBe(0x80); // valid RAM and time
    expect(rd(0x0a) & 0x80).toBe(0); // never "update in progress"
    io.out(0x70, 0x40);
    io.out(0x71, 0xab);
    expect(rd(0x40)).toBe(0xab);
    expect(rd(0x8f & 0x7f)).toBe(0); // NMI mask bit ignored in the index
  });

  it('answers the controller self test and pulses reset on 0xfe (reboot=k)', () => {
    const kbd = new I8042();
    let resets = 0;
    kbd.onReset = () => resets++;
    const io = ports(kbd.devices());
    expect(io.in(0x64) & 0x02).toBe(0); // input buffer empty: kb_wait() returns at once
    io.out(0x64, 0xaa);
    expect(io.in(0x64) & 0x01).toBe(1);
    expect(io.in(0x60)).toBe(0x55);
    io.out(0x64, 0x20);
    expect(io.in(0x60)).toBe(0x45);
    io.out(0x64, 0x60);
    io.out(0x60, 0x47);
    io.out(0x64, 0x20);
    expect(io.in(0x60)).toBe(0x47);
    expect(kbd.resetRequested).toBe(false);
    io.out(0x64, 0xfe);
    expect(kbd.resetRequested).toBe(true);
    expect(resets).toBe(1);
  });
});

describe('8250 UART', () => {
  const setup = () => {
    const levels: boolean[] = [];
    const out: number[] = [];
    const u = new Uart16550(0x3f8, (b) => out.push(b), { set: (l) => levels.push(l) });
    const io = ports([u]);
    return { u, io, out, level: () => levels[levels.length - 1] ?? false };
  };

  it('raises THRE when ETBEI is enabled (only with OUT2), clears it on an IIR read, re-raises after a THR write', () => {
    const { io, out, level } = setup();
    io.out(0x3f9, 0x02);
    expect(level()).toBe(false); // OUT2 gates the line
    io.out(0x3f9, 0x00);
    io.out(0x3fc, 0x08); // OUT2
    io.out(0x3f9, 0x02);
    expect(level()).toBe(true);
    expect(io.in(0x3fa) & 0x0f).toBe(0x02);
    expect(level()).toBe(false);
    expect(io.in(0x3fa) & 0x0f).toBe(0x01);
    io.out(0x3f8, 0x41);
    expect(out).toEqual([0x41]);
    expect(level()).toBe(true);
  });

  it('receives into the FIFO (DR, RDA interrupt), reports FIFO mode in IIR, loops back MCR to MSR', () => {
    const { u, io, level } = setup();
    io.out(0x3fc, 0x08);
    io.out(0x3fa, 0x07); // enable and clear FIFOs
    io.out(0x3f9, 0x01);
    expect(io.in(0x3fd) & 1).toBe(0);
    u.receive([0x68, 0x69]);
    expect(level()).toBe(true);
    expect(io.in(0x3fa)).toBe(0xc4);
    expect(io.in(0x3f8)).toBe(0x68);
    expect(io.in(0x3f8)).toBe(0x69);
    expect(io.in(0x3fd) & 1).toBe(0);
    expect(level()).toBe(false);
    io.out(0x3fc, 0x10 | 0x0a); // loop, RTS, OUT2: Linux's UART existence test
    expect(io.in(0x3fe) & 0xf0).toBe(0x90); // DCD | CTS
    io.out(0x3fc, 0x08);
    expect(io.in(0x3fe)).toBe(0xb0);
  });

  it('keeps the divisor latch behind DLAB', () => {
    const { io, out } = setup();
    io.out(0x3fb, 0x80);
    io.out(0x3f8, 0x01);
    io.out(0x3f9, 0x00);
    expect(io.in(0x3f8)).toBe(0x01);
    io.out(0x3fb, 0x03);
    expect(out).toEqual([]);
  });
});

// ---- virtio ----------------------------------------------------------------------------------

const Q = { DESC: 0x1000, AVAIL: 0x2000, USED: 0x3000, BUF: 0x10000 } as const;

/** A minimal virtio driver: negotiates, sets up queue `q` of size 8, submits chains. */
function driver(dev: VirtioMmio, mem: Uint8Array, features: bigint) {
  const w = (off: number, v: number) => dev.write(off, 4, v);
  const r = (off: number) => dev.read(off, 4);
  const dv = new DataView(mem.buffer);
  const nextDescs = new Map<number, number>();
  const availIdxs = new Map<number, number>();
  const api = {
    r,
    w,
    negotiate(): number {
      w(0x70, 0);
      w(0x70, VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER);
      w(0x24, 0);
      w(0x20, Number(features & 0xffffffffn));
      w(0x24, 1);
      w(0x20, Number(features >> 32n));
      w(0x70, VIRTIO_STATUS.ACKNOWLEDGE | VIRTIO_STATUS.DRIVER | VIRTIO_STATUS.FEATURES_OK);
      return r(0x70);
    },
    setupQueue(q: number, base = q * 0x4000) {
      w(0x30, q);
      w(0x38, 8);
      w(0x80, Q.DESC + base);
      w(0x84, 0);
      w(0x90, Q.AVAIL + base);
      w(0x94, 0);
      w(0xa0, Q.USED + base);
      w(0xa4, 0);
      w(0x44, 1);
    },
    driverOk() {
      w(0x70, r(0x70) | VIRTIO_STATUS.DRIVER_OK);
    },
    /** Puts a chain of [gpa, len, writable] on queue q's avail ring and notifies. */
    submit(q: number, bufs: [number, number, boolean][], base = q * 0x4000, notify = true) {
      let nextDesc = nextDescs.get(q) ?? 0;
      const head = nextDesc;
      bufs.forEach(([gpa, len, wr], k) => {
        const d = Q.DESC + base + 16 * nextDesc;
        dv.setBigUint64(d, BigInt(gpa), true);
        dv.setUint32(d + 8, len, true);
        const last = k === bufs.length - 1;
        dv.setUint16(d + 12, (last ? 0 : 1) | (wr ? 2 : 0), true);
        dv.setUint16(d + 14, last ? 0 : (nextDesc + 1) % 8, true);
        nextDesc = (nextDesc + 1) % 8;
      });
      nextDescs.set(q, nextDesc);
      const availIdx = availIdxs.get(q) ?? 0;
      dv.setUint16(Q.AVAIL + base + 4 + 2 * (availIdx % 8), head, true);
      availIdxs.set(q, availIdx + 1);
      dv.setUint16(Q.AVAIL + base + 2, availIdx + 1, true);
      if (notify) w(0x50, q);
      return head;
    },
    used(q: number, base = q * 0x4000) {
      const idx = dv.getUint16(Q.USED + base + 2, true);
      const last = idx - 1;
      return { idx, id: dv.getUint32(Q.USED + base + 4 + 8 * (last % 8), true), len: dv.getUint32(Q.USED + base + 8 + 8 * (last % 8), true) };
    },
  };
  return api;
}

describe('virtio-mmio', () => {
  const mk = <T extends ConstructorParameters<typeof VirtioMmio>[1]>(backend: T) => {
    const ram = new Uint8Array(0x40000);
    const mem = new GuestMemory([{ gpa: 0, bytes: ram }]);
    const levels: boolean[] = [];
    const dev = new VirtioMmio(0xd000_0000, backend, mem, { set: (l) => levels.push(l) });
    return { ram, dev, level: () => levels[levels.length - 1] ?? false };
  };

  it('identifies as a version-2 device and refuses a legacy driver (no VERSION_1) at FEATURES_OK', () => {
    const { ram, dev } = mk(new VirtioBlk(memoryStore(new Uint8Array(4096))));
    const d = driver(dev, ram, 0n);
    expect(d.r(0)).toBe(0x74726976);
    expect(d.r(4)).toBe(2);
    expect(d.r(8)).toBe(2);
    d.w(0x14, 1);
    expect(d.r(0x10) & 1).toBe(1); // VIRTIO_F_VERSION_1 is feature bit 32
    expect(d.negotiate() & VIRTIO_STATUS.FEATURES_OK).toBe(0);
    const d2 = driver(dev, ram, 1n << 32n);
    expect(d2.negotiate() & VIRTIO_STATUS.FEATURES_OK).toBe(VIRTIO_STATUS.FEATURES_OK);
  });

  it('virtio-blk: capacity, OUT then IN round trip, FLUSH, GET_ID, out-of-range IOERR; the interrupt and its ACK', () => {
    const disk = new Uint8Array(8 * 512);
    disk.set(Buffer.from('hello from the disk image\n'), 0);
    const blk = new VirtioBlk(memoryStore(disk), 'serial-42');
    const { ram, dev, level } = mk(blk);
    const d = driver(dev, ram, (1n << 32n) | (1n << 9n));
    d.negotiate();
    expect(dev.read(0x100, 4)).toBe(8); // capacity, low half
    expect(dev.read(0x114, 4)).toBe(512); // blk_size
    d.setupQueue(0);
    d.driverOk();
    const dv = new DataView(ram.buffer);
    const req = (type: number, sector: number, at: number) => {
      dv.setUint32(at, type, true);
      dv.setUint32(at + 4, 0, true);
      dv.setBigUint64(at + 8, BigInt(sector), true);
    };
    // OUT: write 512 bytes to sector 3.
    req(1, 3, Q.BUF);
    ram.fill(0x5a, Q.BUF + 0x100, Q.BUF + 0x300);
    ram[Q.BUF + 0x400] = 0xff;
    d.submit(0, [[Q.BUF, 16, false], [Q.BUF + 0x100, 512, false], [Q.BUF + 0x400, 1, true]]);
    expect(ram[Q.BUF + 0x400]).toBe(0);
    expect(disk.subarray(3 * 512, 4 * 512).every((b) => b === 0x5a)).toBe(true);
    expect(level()).toBe(true);
    expect(dev.read(0x60, 4)).toBe(1);
    dev.write(0x64, 4, 1);
    expect(level()).toBe(false);
    // IN: read sector 0 back through two buffers.
    req(0, 0, Q.BUF + 0x800);
    d.submit(0, [[Q.BUF + 0x800, 16, false], [Q.BUF + 0x900, 100, true], [Q.BUF + 0xa00, 412, true], [Q.BUF + 0xc00, 1, true]]);
    expect(Buffer.from(ram.subarray(Q.BUF + 0x900, Q.BUF + 0x900 + 26)).toString()).toBe('hello from the disk image\n');
    expect(d.used(0)).toMatchObject({ idx: 2, len: 513 });
    // FLUSH, GET_ID
    req(4, 0, Q.BUF + 0x1000);
    d.submit(0, [[Q.BUF + 0x1000, 16, false], [Q.BUF + 0x1100, 1, true]]);
    expect(ram[Q.BUF + 0x1100]).toBe(0);
    req(8, 0, Q.BUF + 0x1200);
    d.submit(0, [[Q.BUF + 0x1200, 16, false], [Q.BUF + 0x1300, 20, true], [Q.BUF + 0x1400, 1, true]]);
    expect(Buffer.from(ram.subarray(Q.BUF + 0x1300, Q.BUF + 0x1309)).toString()).toBe('serial-42');
    // Reading past the end: IOERR, nothing copied.
    req(0, 8, Q.BUF + 0x1500);
    d.submit(0, [[Q.BUF + 0x1500, 16, false], [Q.BUF + 0x1600, 512, true], [Q.BUF + 0x1800, 1, true]]);
    expect(ram[Q.BUF + 0x1800]).toBe(1);
    expect(blk.stats).toMatchObject({ read: 1, write: 1, flush: 1, getId: 1, errors: 1 });
  });

  it('a ring outside guest RAM sets NEEDS_RESET (and a config-change interrupt) instead of throwing', () => {
    const { ram, dev, level } = mk(new VirtioBlk(memoryStore(new Uint8Array(4096))));
    const d = driver(dev, ram, 1n << 32n);
    d.negotiate();
    d.setupQueue(0);
    d.w(0x30, 0);
    d.w(0x90, 0x7000_0000); // avail ring: not RAM
    d.driverOk();
    d.w(0x50, 0);
    expect(d.r(0x70) & VIRTIO_STATUS.NEEDS_RESET).toBe(VIRTIO_STATUS.NEEDS_RESET);
    expect(d.r(0x60) & 2).toBe(2);
    expect(level()).toBe(true);
    d.w(0x70, 0); // reset
    expect(d.r(0x70)).toBe(0);
    expect(level()).toBe(false);
  });

  it('virtio-console: TX bytes reach the sink; host input fills posted RX buffers', () => {
    const out: number[] = [];
    const con = new VirtioConsole((b) => out.push(b));
    const { ram, dev } = mk(con);
    const d = driver(dev, ram, 1n << 32n);
    d.negotiate();
    d.setupQueue(0);
    d.setupQueue(1);
    d.driverOk();
    ram.set(Buffer.from('hvc0!'), Q.BUF);
    d.submit(1, [[Q.BUF, 5, false]]);
    expect(Buffer.from(out).toString()).toBe('hvc0!');
    con.receive(Buffer.from('typed'));
    expect(d.used(0).idx).toBe(0); // no receive buffer yet: the input waits
    d.submit(0, [[Q.BUF + 0x100, 3, true]]);
    expect(d.used(0)).toMatchObject({ idx: 1, len: 3 });
    d.submit(0, [[Q.BUF + 0x200, 16, true]]);
    expect(d.used(0)).toMatchObject({ idx: 2, len: 2 });
    expect(Buffer.from(ram.subarray(Q.BUF + 0x100, Q.BUF + 0x103)).toString() + Buffer.from(ram.subarray(Q.BUF + 0x200, Q.BUF + 0x202)).toString()).toBe('typed');
  });
});

describe('MP table', () => {
  const sum = (b: Uint8Array) => b.reduce((s, x) => (s + x) & 0xff, 0);
  it('has valid checksums, one processor entry per CPU (the first the BSP), the IOAPIC and ISA routing', () => {
    const t = mpTable(0x9fc00, 2);
    expect(Buffer.from(t.subarray(0, 4)).toString()).toBe('_MP_');
    expect(sum(t.subarray(0, 16))).toBe(0);
    const dv = new DataView(t.buffer);
    expect(dv.getUint32(4, true)).toBe(0x9fc10);
    const len = dv.getUint16(16 + 4, true);
    expect(Buffer.from(t.subarray(16, 20)).toString()).toBe('PCMP');
    expect(sum(t.subarray(16, 16 + len))).toBe(0);
    expect(dv.getUint16(16 + 34, true)).toBe(2 + 1 + 1 + 15 + 2); // CPUs, bus, IOAPIC, 15 ISA IRQs, LINT0/1
    expect([t[16 + 44], t[16 + 44 + 1], t[16 + 44 + 3]]).toEqual([0, 0, 3]); // CPU 0: enabled | BSP
    expect([t[16 + 64], t[16 + 64 + 1], t[16 + 64 + 3]]).toEqual([0, 1, 1]); // CPU 1: enabled
    expect(() => mpTable(0, 0)).toThrow(RangeError);
  });

  /** The table's ISA interrupt assignments: [bus IRQ, IOAPIC pin]. */
  function isaRoutes(t: Uint8Array): [number, number][] {
    const dv = new DataView(t.buffer, t.byteOffset);
    const out: [number, number][] = [];
    for (let o = 16 + 44, n = dv.getUint16(16 + 34, true); n > 0; n--) {
      const type = t[o]!;
      if (type === 3 && t[o + 1] === 0) out.push([t[o + 5]!, t[o + 7]!]); // MP_INTSRC, mp_INT
      o += type === 0 ? 20 : 8;
    }
    return out;
  }

  // Linux takes the PIT's pin from this table (check_timer: "..TIMER: ... pin1=N"); a table that
  // named pin 2 while KVM's default routing sends GSI 0 to pin 0 left a stock kernel with no tick
  // at all: jiffies stayed at INITIAL_JIFFIES, and `reboot -f` slept forever in its first timeout.
  describe.each(x86Backends)('on the in-kernel irqchip ($name)', (b) => {
    it('names, for each ISA IRQ, the IOAPIC pin KVM_IRQ_LINE on that GSI raises', () => {
      const vm = Kvm.open(b.make()).createVm();
      vm.createIrqchip();
      const routes = isaRoutes(mpTable(0x9fc00, 1));
      expect(routes.map(([irq]) => irq)).toEqual([0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
      const irr = () => vm.getIrqchip(x86_64.KVM_IRQCHIP.IOAPIC).chip.ioapic.irr;
      for (const [irq, pin] of routes) {
        vm.irqLine(irq, 1);
        expect({ irq, irr: irr() }).toEqual({ irq, irr: 1 << pin });
        vm.irqLine(irq, 0);
        expect(irr()).toBe(0);
      }
    });

    it("delivers the in-kernel PIT's ticks to the LAPIC through IRQ 0's pin", async () => {
      const kvm = Kvm.open(b.make());
      const vm = kvm.createVm();
      vm.createIrqchip();
      vm.createPit2(0);
      const v = vm.createVcpu(0);
      // The LAPIC software-enabled (SVR bit 8), as Linux leaves it.
      const lapic = v.getLapic();
      new DataView(lapic.buffer, lapic.byteOffset).setUint32(0xf0, 0x1ff, true);
      v.setLapic(lapic);
      // What Linux programs on the pin the table names for IRQ 0: vector 0x30, fixed, edge, to APIC 0.
      const pin = isaRoutes(mpTable(0x9fc00, 1)).find(([irq]) => irq === 0)![1];
      const io = vm.getIrqchip(x86_64.KVM_IRQCHIP.IOAPIC).chip.ioapic;
      io.redirtbl[pin] = { bits: 0x30n };
      vm.setIrqchip({ chip_id: x86_64.KVM_IRQCHIP.IOAPIC, chip: { ioapic: io } });
      // Channel 0 as a 1 kHz rate generator (KVM_SET_PIT2 loads and starts it).
      const pit = vm.getPit2();
      pit.channels[0] = { ...pit.channels[0]!, mode: 2, count: 1193, rw_mode: 3, gate: 1 };
      vm.setPit2(pit);
      const irr30 = () => (new DataView(v.getLapic().buffer).getUint32(0x200 + 0x10 * (0x30 >> 5), true) >>> (0x30 & 31)) & 1;
      for (let i = 0; i < 100 && !irr30(); i++) await new Promise((r) => setTimeout(r, 5));
      expect(irr30()).toBe(1);
    });
  });
});
