/**
 * The mini-VMM's devices, emulated in userspace on IO and MMIO exits exactly as a VMM does for
 * KVM: a 16550 UART (x86 COM1), a PL011 UART (arm64) -- each polled, or interrupt-driven through
 * an `IrqLine` --, an exit device (the guest writes its exit status), and a result port (the
 * guest reports a 32-bit value, e.g. a benchmark checksum).
 * @module
 */

import type { IrqLine } from './irq.js';

/** A device on a bus (x86 port IO or MMIO). Offsets are relative to the device's base. */
export interface Device {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  read(offset: number, size: number): number;
  write(offset: number, size: number, value: number): void;
}

/** Where UART output goes: one call per byte the guest transmits. */
export type ConsoleSink = (byte: number) => void;

/**
 * An 8250/16550A UART: THR/RBR, IER, IIR/FCR, LCR (divisor latch behind DLAB), MCR (with
 * loopback), LSR, MSR, SCR. Transmission is instant (LSR always shows THRE | TEMT); received bytes
 * (`receive`) wait in a 16-byte FIFO. With an IRQ line, the 16550's interrupt sources -- received
 * data, THR empty (raised again by each THR write and by enabling ETBEI, as Linux's THRE test
 * expects), modem status -- drive it, gated by MCR.OUT2 as on a PC; without one the UART is polled.
 */
export class Uart16550 implements Device {
  readonly name = 'uart16550';
  readonly size = 8;
  private ier = 0;
  private lcr = 0;
  private mcr = 0;
  private scr = 0;
  private dll = 0;
  private dlm = 0;
  private fcr = 0;
  private thrPending = false;
  private readonly rx: number[] = [];

  constructor(
    readonly base: number,
    private readonly sink: ConsoleSink,
    private readonly irq?: IrqLine,
  ) {}

  /** Bytes arriving on the line (console input); they wait in the receive FIFO. */
  receive(bytes: Iterable<number>): void {
    for (const b of bytes) if (this.rx.length < 4096) this.rx.push(b & 0xff);
    this.update();
  }

  /** Room for more input before the FIFO fills (flow control for a console feeder). */
  get rxSpace(): number {
    return 16 - Math.min(16, this.rx.length);
  }

  /** Whether a console feeder should type now: polled, always; interrupt-driven, while IER.ERBFI is set. */
  get acceptsInput(): boolean {
    return !this.irq || (this.ier & 0x01) !== 0;
  }

  /** IIR: the pending interrupt source of highest priority. */
  private iir(): number {
    const fifo = this.fcr & 1 ? 0xc0 : 0;
    if (this.ier & 0x01 && this.rx.length) return fifo | 0x04;
    if (this.ier & 0x02 && this.thrPending) return fifo | 0x02;
    return fifo | 0x01;
  }

  private update(): void {
    if (!this.irq) return;
    const loop = (this.mcr & 0x10) !== 0;
    this.irq.set(!loop && (this.mcr & 0x08) !== 0 && (this.iir() & 1) === 0);
  }

  read(offset: number): number {
    const dlab = (this.lcr & 0x80) !== 0;
    switch (offset) {
      case 0: {
        if (dlab) return this.dll;
        const b = this.rx.shift() ?? 0;
        this.update();
        return b;
      }
      case 1:
        return dlab ? this.dlm : this.ier;
      case 2: {
        const v = this.iir();
        if ((v & 0x0f) === 0x02) {
          // Reading IIR clears a THR-empty interrupt it reports.
          this.thrPending = false;
          this.update();
        }
        return v;
      }
      case 3:
        return this.lcr;
      case 4:
        return this.mcr;
      case 5:
        return 0x60 | (this.rx.length ? 0x01 : 0); // THRE | TEMT | DR
      case 6:
        if (this.mcr & 0x10) {
          // Loopback: CTS = RTS, DSR = DTR, RI = OUT1, DCD = OUT2.
          const m = this.mcr;
          return ((m & 2) << 3) | ((m & 1) << 5) | ((m & 4) << 4) | ((m & 8) << 4);
        }
        return 0xb0; // DCD | DSR | CTS
      default:
        return this.scr;
    }
  }

  write(offset: number, _size: number, value: number): void {
    const v = value & 0xff;
    const dlab = (this.lcr & 0x80) !== 0;
    switch (offset) {
      case 0:
        if (dlab) this.dll = v;
        else {
          if (this.mcr & 0x10) this.rx.push(v);
          else this.sink(v);
          this.thrPending = true; // sent at once: the THR is empty again
        }
        break;
      case 1:
        if (dlab) this.dlm = v;
        else {
          // Enabling the THR-empty interrupt while the THR is empty raises it.
          if (v & 0x02 && !(this.ier & 0x02)) this.thrPending = true;
          this.ier = v & 0x0f;
        }
        break;
      case 2:
        this.fcr = v & 0xc9;
        if (v & 0x02) this.rx.length = 0;
        break;
      case 3:
        this.lcr = v;
        break;
      case 4:
        this.mcr = v & 0x1f;
        break;
      case 7:
        this.scr = v;
        break;
      default:
        break; // read-only registers
    }
    this.update();
  }
}

/** PL011 interrupt bits (UARTRIS/UARTMIS/UARTIMSC/UARTICR). */
export const PL011_INT = { RX: 1 << 4, TX: 1 << 5, RT: 1 << 6 } as const;

/**
 * An ARM PL011 UART: DR, FR, the baud/line/control registers (stored), LCR_H.FEN (a 32-byte
 * receive FIFO, else a one-byte holding register), IFLS, the interrupt registers UARTIMSC,
 * UARTRIS, UARTMIS, UARTICR, loopback (CR.LBE) and the PrimeCell identification.
 * Transmission is instant, so every byte written to DR leaves the transmit FIFO below its level:
 * TXRIS is set by each write (as QEMU's PL011 does; a driver starts transmission by writing the
 * first bytes itself, as Linux's does). Received bytes (`receive`) wait in a host queue and enter
 * the FIFO as it has room: RXRIS when the FIFO reaches its trigger level (one byte without the
 * FIFO), RTRIS (receive timeout -- instant here) when bytes sit below it; reading DR until the
 * FIFO is below the level (empty, for RT) clears them, as does UARTICR. The interrupt line is
 * UARTRIS & UARTIMSC != 0 (UARTINTR, level-triggered): the SPI a VMM drives with KVM_IRQ_LINE.
 */
export class Pl011 implements Device {
  readonly name = 'pl011';
  readonly size = 0x1000;
  private readonly regs = new Map<number, number>([
    [0x30, 0x300], // UARTCR: TXE | RXE
  ]);
  private imsc = 0;
  private ris = 0;
  private lcrh = 0;
  private ifls = 0x12; // RX and TX at 1/2 full
  private readonly fifo: number[] = [];
  private readonly input: number[] = [];

  private static readonly ID = [0x11, 0x10, 0x14, 0x00, 0x0d, 0xf0, 0x05, 0xb1]; // 0xfe0..0xffc

  constructor(
    readonly base: number,
    private readonly sink: ConsoleSink,
    private readonly irq?: IrqLine,
  ) {}

  /** Bytes arriving on the line (console input): they enter the receive FIFO as it has room. */
  receive(bytes: Iterable<number>): void {
    for (const b of bytes) this.input.push(b & 0xff);
    this.fill();
    this.update();
  }

  /** Bytes received but not yet in the FIFO. */
  get pendingInput(): number {
    return this.input.length;
  }

  /** Room for more input in the FIFO, counting what waits for it (flow control for a console feeder). */
  get rxSpace(): number {
    return Math.max(0, this.depth - this.fifo.length - this.input.length);
  }

  /** Whether a console feeder should type now: polled, always; interrupt-driven, while RXIM or RTIM is set. */
  get acceptsInput(): boolean {
    return !this.irq || (this.imsc & (PL011_INT.RX | PL011_INT.RT)) !== 0;
  }

  private get depth(): number {
    return this.lcrh & 0x10 ? 32 : 1;
  }

  /** The receive FIFO's trigger level (UARTIFLS.RXIFLSEL: 1/8 .. 7/8 of 32); 1 without the FIFO. */
  private get rxLevel(): number {
    return this.lcrh & 0x10 ? ([4, 8, 16, 24, 28][(this.ifls >> 3) & 7] ?? 16) : 1;
  }

  private fill(): void {
    let got = false;
    while (this.input.length && this.fifo.length < this.depth) {
      this.fifo.push(this.input.shift()!);
      got = true;
    }
    if (!got) return;
    if (this.fifo.length >= this.rxLevel) this.ris |= PL011_INT.RX;
    else this.ris |= PL011_INT.RT;
  }

  private update(): void {
    this.irq?.set((this.ris & this.imsc) !== 0);
  }

  read(offset: number): number {
    switch (offset) {
      case 0x00: {
        const b = this.fifo.shift();
        if (this.fifo.length < this.rxLevel) this.ris &= ~PL011_INT.RX;
        if (!this.fifo.length) this.ris &= ~PL011_INT.RT;
        this.fill();
        this.update();
        return b ?? 0;
      }
      case 0x18: // FR: TXFE always (instant transmission); RXFE / RXFF from the FIFO
        return 0x80 | (this.fifo.length ? 0 : 0x10) | (this.fifo.length >= this.depth ? 0x40 : 0);
      case 0x24:
      case 0x28:
      case 0x30:
        return this.regs.get(offset) ?? 0;
      case 0x2c:
        return this.lcrh;
      case 0x34:
        return this.ifls;
      case 0x38:
        return this.imsc;
      case 0x3c:
        return this.ris;
      case 0x40:
        return this.ris & this.imsc;
      default:
        if (offset >= 0xfe0) return Pl011.ID[(offset - 0xfe0) >> 2] ?? 0;
        return this.regs.get(offset) ?? 0;
    }
  }

  write(offset: number, _size: number, value: number): void {
    const v = value >>> 0;
    switch (offset) {
      case 0x00:
        if (this.regs.get(0x30)! & 0x80) {
          this.input.push(v & 0xff); // CR.LBE: loopback
          this.fill();
        } else this.sink(v & 0xff);
        this.ris |= PL011_INT.TX;
        break;
      case 0x2c:
        // Switching the FIFO on or off flushes it (the PL011 TRM); the host queue keeps the rest.
        if ((v ^ this.lcrh) & 0x10) this.fifo.length = 0;
        this.lcrh = v & 0xff;
        this.fill();
        break;
      case 0x34:
        this.ifls = v & 0x3f;
        break;
      case 0x38:
        this.imsc = v & 0x7ff;
        break;
      case 0x44:
        this.ris &= ~v;
        break;
      case 0x18:
      case 0x3c:
      case 0x40:
        return; // read-only
      default:
        if (offset < 0xfe0) this.regs.set(offset, v);
        return;
    }
    this.update();
  }
}

/** The exit device: a write ends the run with the written value as the guest's exit status. */
export class ExitDevice implements Device {
  readonly name = 'exit';
  status: number | undefined;

  constructor(
    readonly base: number,
    readonly size: number,
  ) {}

  read(): number {
    return 0;
  }

  write(_offset: number, _size: number, value: number): void {
    this.status = value >>> 0;
  }
}

/** The result port: every 32-bit write is recorded (the benchmark image reports its checksum here). */
export class ResultPort implements Device {
  readonly name = 'result';
  readonly size = 4;
  readonly values: number[] = [];

  constructor(readonly base: number) {}

  read(): number {
    return 0;
  }

  write(_offset: number, _size: number, value: number): void {
    this.values.push(value >>> 0);
  }
}

/** A bus: devices by address range, looked up on each access. */
export class Bus {
  private readonly devices: Device[] = [];

  add<D extends Device>(d: D): D {
    for (const o of this.devices) {
      if (d.base < o.base + o.size && o.base < d.base + d.size) throw new Error(`${d.name} overlaps ${o.name}`);
    }
    this.devices.push(d);
    return d;
  }

  find(addr: number): Device | undefined {
    for (const d of this.devices) if (addr >= d.base && addr < d.base + d.size) return d;
    return undefined;
  }
}

/**
 * The debug console at port 0xE9 (Bochs' "port E9 hack", QEMU's isa-debugcon): every byte
 * written goes to the console; a read returns 0xE9, which is how guests detect it.
 */
export class DebugCon implements Device {
  readonly name = 'debugcon';
  readonly size = 1;

  constructor(
    readonly base: number,
    private readonly sink: ConsoleSink,
  ) {}

  read(): number {
    return 0xe9;
  }

  write(_offset: number, _size: number, value: number): void {
    this.sink(value & 0xff);
  }
}
