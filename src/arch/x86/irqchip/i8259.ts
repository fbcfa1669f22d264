/**
 * The two cascaded 8259A PICs (arch/x86/kvm/i8259.c): ports 0x20-0x21 (master), 0xa0-0xa1 (slave)
 * and the PIIX ELCR at 0x4d0-0x4d1, edge and level triggering, priority rotation, special mask,
 * poll mode, auto-EOI, the slave cascaded on master pin 2. Its output goes to the LAPICs that take
 * ExtINT on LINT0 (kvm_apic_accept_pic_intr); the interrupt acknowledge is kvm_pic_read_irq.
 *
 * VM-wide, on the thread that owns the VM: its output line is a shared word vCPUs on other threads
 * read (`X86Irqchip.picOutput`), and their acknowledge is forwarded here.
 * @module
 */
import type { IoDevice } from '../../../kernel/iobus.js';
import type { Vm } from '../../../kernel/vm.js';
import { KVM_IRQCHIP } from '../../../uapi/x86.js';

/** PIC_NUM_PINS */
export const PIC_NUM_PINS = 16;

/** struct kvm_kpic_state: the fields of struct kvm_pic_state, in its order. */
export interface KpicState {
  last_irr: number;
  irr: number;
  imr: number;
  isr: number;
  priority_add: number;
  irq_base: number;
  read_reg_select: number;
  poll: number;
  special_mask: number;
  init_state: number;
  auto_eoi: number;
  rotate_on_auto_eoi: number;
  special_fully_nested_mode: number;
  init4: number;
  elcr: number;
  elcr_mask: number;
}

function kpic(elcrMask: number): KpicState {
  return { last_irr: 0, irr: 0, imr: 0, isr: 0, priority_add: 0, irq_base: 0, read_reg_select: 0, poll: 0, special_mask: 0, init_state: 0, auto_eoi: 0, rotate_on_auto_eoi: 0, special_fully_nested_mode: 0, init4: 0, elcr: 0, elcr_mask: elcrMask };
}

/** What the PIC needs from the rest of the irqchip. */
export interface PicHost {
  /** The output line changed (pic_irq_request); `wakeup` when it rose. */
  picOutput(level: boolean, wakeup: boolean): void;
  /** Whether any vCPU's LAPIC takes ExtINT (kvm_apic_accept_pic_intr of some vCPU). */
  anyAcceptsPic(): boolean;
  /** kvm_fire_mask_notifiers */
  fireMaskNotifiers(irqchip: number, pin: number, masked: boolean): void;
}

/** struct kvm_pic */
export class KvmPic {
  readonly pics: [KpicState, KpicState] = [kpic(0xf8), kpic(0xde)];
  /** irq_states: per pin, the sources holding it high (bit per irq source id). */
  private readonly irqStates = new Uint32Array(PIC_NUM_PINS);
  output = false;
  private readonly devs: IoDevice[];

  constructor(
    private readonly vm: Vm,
    private readonly host: PicHost,
  ) {
    const dev = (): IoDevice => ({
      read: (_v, addr, len, data) => {
        if (len !== 1) {
          data.fill(0, 0, len);
          return true;
        }
        data[0] = this.ioRead(addr);
        return true;
      },
      write: (_v, addr, len, data) => {
        if (len === 1) this.ioWrite(addr, data[0]!);
        return true;
      },
    });
    this.devs = [dev(), dev(), dev()];
  }

  /** kvm_pic_init's kvm_io_bus_register_dev calls. */
  register(bus: { register(addr: number, len: number, dev: IoDevice): void }): void {
    bus.register(0x20, 2, this.devs[0]!);
    bus.register(0xa0, 2, this.devs[1]!);
    bus.register(0x4d0, 2, this.devs[2]!);
  }

  unregister(bus: { unregister(dev: IoDevice): boolean }): void {
    for (const d of this.devs) bus.unregister(d);
  }

  /** pic_set_irq1: edge detection into IRR; -1 when the pin is masked, 0 when coalesced. */
  private setIrq1(s: KpicState, irq: number, level: number): number {
    const mask = 1 << irq;
    let ret = 1;
    if (s.elcr & mask) {
      if (level) {
        ret = s.irr & mask ? 0 : 1;
        s.irr |= mask;
        s.last_irr |= mask;
      } else {
        s.irr &= ~mask;
        s.last_irr &= ~mask;
      }
    } else if (level) {
      if ((s.last_irr & mask) === 0) {
        ret = s.irr & mask ? 0 : 1;
        s.irr |= mask;
      }
      s.last_irr |= mask;
    } else s.last_irr &= ~mask;
    return s.imr & mask ? -1 : ret;
  }

  /** get_priority: the highest priority in `mask` (8: none). */
  private priority(s: KpicState, mask: number): number {
    if (mask === 0) return 8;
    let p = 0;
    while ((mask & (1 << ((p + s.priority_add) & 7))) === 0) p++;
    return p;
  }

  /** pic_get_irq: the pin this PIC wants to raise, -1 none. */
  private getIrq(s: KpicState): number {
    const p = this.priority(s, s.irr & ~s.imr);
    if (p === 8) return -1;
    let mask = s.isr;
    if (s.special_fully_nested_mode && s === this.pics[0]) mask &= ~(1 << 2);
    return p < this.priority(s, mask) ? (p + s.priority_add) & 7 : -1;
  }

  /** pic_update_irq */
  private update(): void {
    if (this.getIrq(this.pics[1]) >= 0) {
      this.setIrq1(this.pics[0], 2, 1);
      this.setIrq1(this.pics[0], 2, 0);
    }
    const level = this.getIrq(this.pics[0]) >= 0;
    const wakeup = !this.output;
    this.output = level;
    this.host.picOutput(level, wakeup && level);
  }

  /** kvm_pic_update_irq (after KVM_SET_IRQCHIP) */
  updateIrq(): void {
    this.update();
  }

  /** kvm_pic_set_irq: the route callback of a PIC pin (0-15). */
  setIrq(irq: number, sourceId: number, level: number): number {
    const st = this.irqStates;
    if (level) st[irq]! |= 1 << sourceId;
    else st[irq]! &= ~(1 << sourceId);
    const ret = this.setIrq1(this.pics[irq >> 3]!, irq & 7, st[irq]! ? 1 : 0);
    this.update();
    return ret;
  }

  /** kvm_pic_clear_all */
  clearAll(sourceId: number): void {
    for (let i = 0; i < PIC_NUM_PINS; i++) this.irqStates[i]! &= ~(1 << sourceId);
  }

  /** pic_clear_isr: the ack notifiers of the pin run. */
  private clearIsr(s: KpicState, irq: number): void {
    s.isr &= ~(1 << irq);
    const pin = s === this.pics[0] ? irq : irq + 8;
    this.vm.irq.notifyAcked(pin < 8 ? KVM_IRQCHIP.PIC_MASTER : KVM_IRQCHIP.PIC_SLAVE, pin);
  }

  /** pic_intack */
  private intack(s: KpicState, irq: number): void {
    s.isr |= 1 << irq;
    if (!(s.elcr & (1 << irq))) s.irr &= ~(1 << irq);
    if (s.auto_eoi) {
      if (s.rotate_on_auto_eoi) s.priority_add = (irq + 1) & 7;
      this.clearIsr(s, irq);
    }
  }

  /** kvm_pic_read_irq: the interrupt acknowledge cycle; the vector (spurious: IRQ 7 of that PIC). */
  readIrq(): number {
    this.output = false;
    const [m, sl] = this.pics;
    let intno: number;
    const irq = this.getIrq(m);
    if (irq >= 0) {
      this.intack(m, irq);
      if (irq === 2) {
        let irq2 = this.getIrq(sl);
        if (irq2 >= 0) this.intack(sl, irq2);
        else irq2 = 7;
        intno = sl.irq_base + irq2;
      } else intno = m.irq_base + irq;
    } else intno = m.irq_base + 7;
    this.update();
    return intno & 0xff;
  }

  /** kvm_pic_reset (ICW1) */
  private reset(s: KpicState): void {
    const edgeIrr = s.irr & ~s.elcr;
    s.last_irr = 0;
    s.irr &= s.elcr;
    s.imr = 0;
    s.priority_add = 0;
    s.special_mask = 0;
    s.read_reg_select = 0;
    if (!s.init4) {
      s.special_fully_nested_mode = 0;
      s.auto_eoi = 0;
    }
    s.init_state = 1;
    if (!this.host.anyAcceptsPic()) return;
    for (let irq = 0; irq < 8; irq++) if (edgeIrr & (1 << irq)) this.clearIsr(s, irq);
  }

  /** pic_ioport_write */
  private portWrite(s: KpicState, addr: number, val: number): void {
    if ((addr & 1) === 0) {
      if (val & 0x10) {
        s.init4 = val & 1;
        this.reset(s);
      } else if (val & 0x08) {
        if (val & 0x04) s.poll = 1;
        if (val & 0x02) s.read_reg_select = val & 1;
        if (val & 0x40) s.special_mask = (val >> 5) & 1;
      } else {
        const cmd = val >> 5;
        switch (cmd) {
          case 0:
          case 4:
            s.rotate_on_auto_eoi = cmd >> 2;
            break;
          case 1: // non-specific EOI
          case 5: {
            const p = this.priority(s, s.isr);
            if (p !== 8) {
              const irq = (p + s.priority_add) & 7;
              if (cmd === 5) s.priority_add = (irq + 1) & 7;
              this.clearIsr(s, irq);
              this.update();
            }
            break;
          }
          case 3: // specific EOI
            this.clearIsr(s, val & 7);
            this.update();
            break;
          case 6:
            s.priority_add = (val + 1) & 7;
            this.update();
            break;
          case 7: {
            const irq = val & 7;
            s.priority_add = (irq + 1) & 7;
            this.clearIsr(s, irq);
            this.update();
            break;
          }
          default:
            break;
        }
      }
      return;
    }
    switch (s.init_state) {
      case 0: {
        const diff = s.imr ^ val;
        const off = s === this.pics[0] ? 0 : 8;
        s.imr = val;
        for (let irq = 0; irq < 8; irq++) {
          if (diff & (1 << irq)) this.host.fireMaskNotifiers(irq + off < 8 ? KVM_IRQCHIP.PIC_MASTER : KVM_IRQCHIP.PIC_SLAVE, irq + off, (s.imr & (1 << irq)) !== 0);
        }
        this.update();
        break;
      }
      case 1:
        s.irq_base = val & 0xf8;
        s.init_state = 2;
        break;
      case 2:
        s.init_state = s.init4 ? 3 : 0;
        break;
      case 3:
        s.special_fully_nested_mode = (val >> 4) & 1;
        s.auto_eoi = (val >> 1) & 1;
        s.init_state = 0;
        break;
    }
  }

  /** pic_poll_read */
  private pollRead(s: KpicState, addr1: number): number {
    let ret = this.getIrq(s);
    if (ret >= 0) {
      if (addr1 >> 7) {
        this.pics[0].isr &= ~(1 << 2);
        this.pics[0].irr &= ~(1 << 2);
      }
      s.irr &= ~(1 << ret);
      this.clearIsr(s, ret);
      if (addr1 >> 7 || ret !== 2) this.update();
      ret |= 0x80;
    } else {
      ret = 0x07;
      this.update();
    }
    return ret;
  }

  private ioRead(addr: number): number {
    switch (addr) {
      case 0x20:
      case 0x21:
      case 0xa0:
      case 0xa1: {
        const s = this.pics[addr >> 7]!;
        if (s.poll) {
          const r = this.pollRead(s, addr);
          s.poll = 0;
          return r;
        }
        if ((addr & 1) === 0) return s.read_reg_select ? s.isr : s.irr;
        return s.imr;
      }
      case 0x4d0:
      case 0x4d1:
        return this.pics[addr & 1]!.elcr;
      default:
        return 0;
    }
  }

  private ioWrite(addr: number, val: number): void {
    switch (addr) {
      case 0x20:
      case 0x21:
        this.portWrite(this.pics[0], addr, val);
        break;
      case 0xa0:
      case 0xa1:
        this.portWrite(this.pics[1], addr, val);
        break;
      case 0x4d0:
      case 0x4d1: {
        const s = this.pics[addr & 1]!;
        s.elcr = val & s.elcr_mask;
        break;
      }
    }
  }
}
