/**
 * The PC's two cascaded 8259A interrupt controllers in userspace, for a VM without an in-kernel
 * irqchip (QEMU's kernel-irqchip=off): the VMM asks `pending()` before each KVM_RUN and
 * injects `acknowledge()`'s vector with KVM_INTERRUPT when the vCPU can take it. Modelled after the
 * 8259A datasheet: ICW1-4 initialisation, OCW1 mask, OCW2 EOI/rotation, OCW3 IRR/ISR read and
 * poll, special mask mode, auto-EOI, the ELCR (edge/level per line, ports 0x4d0/0x4d1), slave
 * on master input 2, spurious IRQ 7/15.
 * @module
 */
import type { Device } from '../devices.js';
import type { IrqController, IrqLine } from '../irq.js';

class Chip {
  irr = 0;
  imr = 0;
  isr = 0;
  /** The level seen last on each input (edge detection). */
  level = 0;
  elcr = 0;
  /** Lowest-priority rotation: input (priorityAdd) has the highest priority. */
  priorityAdd = 0;
  vectorBase = 0;
  /** Initialisation: 0 = ready, 2..4 = expecting ICW2..ICW4. */
  initStep = 0;
  icw4Needed = false;
  single = false;
  autoEoi = false;
  rotateOnAutoEoi = false;
  specialMask = false;
  readIsr = false;
  poll = false;

  constructor(readonly elcrMask: number) {}

  setInput(irq: number, high: boolean): void {
    const bit = 1 << irq;
    if (this.elcr & bit) {
      // Level-triggered: IRR follows the line.
      if (high) this.irr |= bit;
      else this.irr &= ~bit;
    } else if (high && !(this.level & bit)) this.irr |= bit;
    if (high) this.level |= bit;
    else this.level &= ~bit;
  }

  /** The highest-priority bit of `mask` in rotation order, or 8. */
  private highest(mask: number): number {
    if (!mask) return 8;
    let p = 0;
    while (!(mask & (1 << ((p + this.priorityAdd) & 7)))) p++;
    return p;
  }

  /** The input that would be delivered now, or -1. `cascade` is this chip's slave input (2 on the master). */
  best(cascade: number): number {
    const p = this.highest(this.irr & ~this.imr);
    if (p === 8) return -1;
    // In-service inputs of higher priority block it (special mask mode: only the masked ones);
    // a slave's in-service request does not block further slave requests in fully nested mode.
    let inService = this.isr;
    if (this.specialMask) inService &= ~this.imr;
    if (cascade >= 0) inService &= ~(1 << cascade);
    const q = this.highest(inService);
    return p < q ? (p + this.priorityAdd) & 7 : -1;
  }

  /** Acknowledges input `irq`: ISR set (unless auto-EOI), IRR cleared for edge inputs. */
  ack(irq: number): void {
    const bit = 1 << irq;
    if (this.autoEoi) {
      if (this.rotateOnAutoEoi) this.priorityAdd = (irq + 1) & 7;
    } else this.isr |= bit;
    if (!(this.elcr & bit)) this.irr &= ~bit;
  }

  writeCommand(v: number): void {
    if (v & 0x10) {
      // ICW1: restart initialisation; edge detection and masks reset.
      this.icw4Needed = (v & 1) !== 0;
      this.single = (v & 2) !== 0;
      this.initStep = 2;
      this.imr = 0;
      this.isr = 0;
      this.irr &= this.elcr;
      this.level = 0;
      this.priorityAdd = 0;
      this.readIsr = false;
      this.specialMask = false;
      this.autoEoi = false;
      this.rotateOnAutoEoi = false;
      this.poll = false;
    } else if (v & 0x08) {
      // OCW3
      if (v & 0x04) this.poll = true;
      if (v & 0x02) this.readIsr = (v & 1) !== 0;
      if (v & 0x40) this.specialMask = (v & 0x20) !== 0;
    } else {
      // OCW2
      const cmd = v >> 5;
      switch (cmd) {
        case 0:
        case 4:
          this.rotateOnAutoEoi = cmd === 4;
          break;
        case 1: // non-specific EOI
        case 5: {
          // ...with rotation
          const p = this.highest(this.isr);
          if (p !== 8) {
            const irq = (p + this.priorityAdd) & 7;
            this.isr &= ~(1 << irq);
            if (cmd === 5) this.priorityAdd = (irq + 1) & 7;
          }
          break;
        }
        case 3: // specific EOI
        case 7: {
          const irq = v & 7;
          this.isr &= ~(1 << irq);
          if (cmd === 7) this.priorityAdd = (irq + 1) & 7;
          break;
        }
        case 6: // set priority
          this.priorityAdd = (v + 1) & 7;
          break;
        default:
          break;
      }
    }
  }

  writeData(v: number): void {
    switch (this.initStep) {
      case 2:
        this.vectorBase = v & 0xf8;
        this.initStep = this.single ? (this.icw4Needed ? 4 : 0) : 3;
        break;
      case 3:
        this.initStep = this.icw4Needed ? 4 : 0;
        break;
      case 4:
        this.autoEoi = (v & 2) !== 0;
        this.initStep = 0;
        break;
      default:
        this.imr = v;
    }
  }
}

/** The master/slave pair: ISA IRQs 0-15 (IRQ 2 is the cascade). */
export class I8259 implements IrqController {
  private readonly master = new Chip(0xf8);
  private readonly slave = new Chip(0xde);
  /** Interrupts delivered, by IRQ (diagnostics). */
  readonly delivered = new Array<number>(16).fill(0);

  line(n: number): IrqLine {
    if (!Number.isInteger(n) || n < 0 || n > 15 || n === 2) throw new RangeError(`no ISA IRQ ${n} on the i8259 pair`);
    return { set: (level) => this.setIrq(n, level) };
  }

  setIrq(n: number, level: boolean): void {
    if (n < 8) this.master.setInput(n, level);
    else {
      this.slave.setInput(n - 8, level);
      this.cascade();
    }
  }

  /** The slave's INT output drives master input 2. */
  private cascade(): void {
    this.master.setInput(2, this.slave.best(-1) >= 0);
  }

  /** True while the master's INT output is asserted (an interrupt is waiting to be acknowledged). */
  pending(): boolean {
    return this.master.best(this.master.single ? -1 : 2) >= 0;
  }

  /** The INTA cycle: the vector of the interrupt being delivered (a spurious IRQ 7/15 if none). */
  acknowledge(): number {
    const m = this.master.best(this.master.single ? -1 : 2);
    let vector: number;
    if (m < 0) {
      vector = this.master.vectorBase + 7; // spurious: no ISR bit
    } else if (m === 2 && !this.master.single) {
      this.master.ack(2);
      const s = this.slave.best(-1);
      if (s < 0) vector = this.slave.vectorBase + 7;
      else {
        this.slave.ack(s);
        this.delivered[8 + s]!++;
        vector = this.slave.vectorBase + s;
      }
      this.cascade();
    } else {
      this.master.ack(m);
      this.delivered[m]!++;
      vector = this.master.vectorBase + m;
    }
    return vector;
  }

  /** OCW3 poll: the read that follows a poll command acknowledges like INTA. */
  private pollRead(chip: Chip, isSlave: boolean): number {
    chip.poll = false;
    const irq = chip.best(isSlave || chip.single ? -1 : 2);
    if (irq < 0) return 0;
    chip.ack(irq);
    if (isSlave) this.cascade();
    return 0x80 | irq;
  }

  private port(chip: Chip, isSlave: boolean, base: number, name: string): Device {
    return {
      name,
      base,
      size: 2,
      read: (off) => {
        if (chip.poll) return this.pollRead(chip, isSlave);
        if (off === 0) return chip.readIsr ? chip.isr : chip.irr;
        return chip.imr;
      },
      write: (off, _size, v) => {
        if (off === 0) chip.writeCommand(v & 0xff);
        else chip.writeData(v & 0xff);
        if (isSlave) this.cascade();
      },
    };
  }

  /** The port devices: 0x20-0x21, 0xa0-0xa1 and the ELCR at 0x4d0-0x4d1. */
  devices(): Device[] {
    const elcr: Device = {
      name: 'i8259-elcr',
      base: 0x4d0,
      size: 2,
      read: (off) => (off === 0 ? this.master.elcr : this.slave.elcr),
      write: (off, _size, v) => {
        const chip = off === 0 ? this.master : this.slave;
        chip.elcr = v & chip.elcrMask;
      },
    };
    return [this.port(this.master, false, 0x20, 'i8259-master'), this.port(this.slave, true, 0xa0, 'i8259-slave'), elcr];
  }
}
