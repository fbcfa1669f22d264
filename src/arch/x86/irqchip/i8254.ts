/**
 * The 8254 PIT (arch/x86/kvm/i8254.c): ports 0x40-0x43, channel 0 on GSI 0 (modes 0/1/4 one
 * shot, 2/3 periodic, at 1193181 Hz on the VM's deadline queue, periodic no faster than 200 us),
 * counter latch, read-back, status, BCD flag, the gate of channel 2 and the speaker port 0x61
 * (KVM_PIT_SPEAKER_DUMMY: gate in bit 0, speaker data in bit 1, OUT2 in bit 5, the refresh toggle
 * in bit 4) that Linux calibrates the TSC with. The reinject policy (KVM_REINJECT_CONTROL, on by
 * default): ticks the guest has not acknowledged yet are queued and delivered one per EOI.
 *
 * VM-wide, on the thread that owns the VM (a worker vCPU's port accesses are forwarded).
 * @module
 */
import type { IoDevice } from '../../../kernel/iobus.js';
import type { AckNotifier } from '../../../kernel/irq.js';
import type { Vm } from '../../../kernel/vm.js';
import { KVM_PIT, KVM_PIT_FLAGS } from '../../../uapi/x86.js';

/** KVM_PIT_FREQ */
export const PIT_FREQ = 1193181;
const PIT_BASE = 0x40;
const SPEAKER_PORT = 0x61;
const MIN_PERIOD_NS = 200_000;
const RW = { LSB: 1, MSB: 2, WORD0: 3, WORD1: 4 } as const;

/** struct kvm_kpit_channel_state (count_load_time: VM clock ns). */
export interface PitChannel {
  count: number;
  latched_count: number;
  count_latched: number;
  status_latched: number;
  status: number;
  read_state: number;
  write_state: number;
  write_latch: number;
  rw_mode: number;
  mode: number;
  bcd: number;
  gate: number;
  count_load_time: number;
}

/** What the PIT needs from the rest of the VM. */
export interface PitHost {
  /** kvm_set_irq on GSI 0 with the PIT's own irq source. */
  setIrq0(level: number): void;
  /** The IOAPIC is in the kernel (create_pit_timer does nothing otherwise). */
  readonly ioapicInKernel: boolean;
  /** Delivers LVT0 on every vCPU whose LINT0 is in NMI mode (the NMI watchdog). */
  nmiWatchdog(): void;
}

/** struct kvm_pit */
export class KvmPit implements AckNotifier {
  readonly channels: PitChannel[];
  flags = 0;
  private isPeriodic = false;
  /** ns */
  private period = 0;
  /** The timer's current expiry (hrtimer), ns; -1 when not armed. */
  private expires = -1;
  reinject = false;
  private pending = 0;
  private irqAck = 1;
  readonly gsi = 0;
  private readonly dev: IoDevice;
  private readonly speaker: IoDevice | null;

  constructor(
    private readonly vm: Vm,
    private readonly host: PitHost,
    pitFlags: number,
  ) {
    this.channels = Array.from({ length: 3 }, () => ({ count: 0, latched_count: 0, count_latched: 0, status_latched: 0, status: 0, read_state: 0, write_state: 0, write_latch: 0, rw_mode: 0, mode: 0, bcd: 0, gate: 0, count_load_time: 0 }));
    this.dev = {
      read: (_v, addr, len, data) => {
        if (addr < PIT_BASE || addr >= PIT_BASE + 4) return false;
        const r = this.ioRead(addr & 3);
        if (r >= 0) {
          data.fill(0, 0, len);
          data[0] = r & 0xff;
        }
        return true;
      },
      write: (_v, addr, _len, data) => {
        if (addr < PIT_BASE || addr >= PIT_BASE + 4) return false;
        this.ioWrite(addr & 3, data[0]!);
        return true;
      },
    };
    this.speaker =
      pitFlags & KVM_PIT.SPEAKER_DUMMY
        ? {
            read: (_v, addr, len, data) => {
              if (addr !== SPEAKER_PORT) return false;
              // The refresh clock toggles about every 15 us: bit 14 of the ns clock.
              const refresh = (Math.floor(this.now()) >>> 14) & 1;
              const r = ((this.flags & KVM_PIT_FLAGS.SPEAKER_DATA_ON ? 1 : 0) << 1) | this.channels[2]!.gate | (this.getOut(2) << 5) | (refresh << 4);
              data.fill(0, 0, len);
              data[0] = r & 0xff;
              return true;
            },
            write: (_v, addr, _len, data) => {
              if (addr !== SPEAKER_PORT) return false;
              const val = data[0]!;
              if (val & 2) this.flags |= KVM_PIT_FLAGS.SPEAKER_DATA_ON;
              else this.flags &= ~KVM_PIT_FLAGS.SPEAKER_DATA_ON;
              this.setGate(2, val & 1);
              return true;
            },
          }
        : null;
    this.resetAll();
  }

  private now(): number {
    return this.vm.clock.now();
  }

  /** kvm_io_bus_register_dev of the PIT (and the speaker port with KVM_PIT_SPEAKER_DUMMY). */
  register(bus: { register(addr: number, len: number, dev: IoDevice): void }): void {
    bus.register(PIT_BASE, 4, this.dev);
    if (this.speaker) bus.register(SPEAKER_PORT, 4, this.speaker);
  }

  unregister(bus: { unregister(dev: IoDevice): boolean }): void {
    bus.unregister(this.dev);
    if (this.speaker) bus.unregister(this.speaker);
    this.vm.timers.cancel(this);
  }

  /** kvm_pit_reset */
  private resetAll(): void {
    this.flags = 0;
    for (let i = 0; i < 3; i++) {
      const c = this.channels[i]!;
      c.mode = 0xff;
      c.gate = i !== 2 ? 1 : 0;
      this.loadCount(i, 0);
    }
    this.resetReinject();
  }

  private resetReinject(): void {
    this.pending = 0;
    this.irqAck = 1;
  }

  /** kvm_pit_set_reinject (registers the ack notifier on GSI 0 while on). */
  setReinject(on: boolean): void {
    if (this.reinject === on) return;
    if (on) {
      this.resetReinject();
      this.vm.irq.registerAckNotifier(this);
    } else this.vm.irq.unregisterAckNotifier(this);
    this.reinject = on;
  }

  /** kvm_pit_ack_irq: the guest EOI'd GSI 0: a queued tick goes out now. */
  irqAcked(): void {
    this.irqAck = 1;
    // atomic_dec_if_positive(&pending) > 0: another tick is still queued
    if (this.pending > 0 && --this.pending > 0) this.doWork();
  }

  /** pit_mask_notifer: unmasking GSI 0 forgets the queued ticks. */
  maskChanged(masked: boolean): void {
    if (!masked) this.resetReinject();
  }

  /** pit_do_work: one tick on GSI 0 (and the NMI watchdog). */
  private doWork(): void {
    if (this.reinject) {
      if (!this.irqAck) return;
      this.irqAck = 0;
    }
    this.host.setIrq0(1);
    this.host.setIrq0(0);
    this.host.nmiWatchdog();
  }

  /** pit_timer_fn */
  private timerFn(): void {
    if (this.reinject) this.pending++;
    this.doWork();
    if (this.isPeriodic) {
      this.expires += this.period;
      this.vm.timers.arm(this, this.expires, () => this.timerFn());
    } else this.expires = -1;
  }

  private setGate(ch: number, val: number): void {
    const c = this.channels[ch]!;
    switch (c.mode) {
      case 1:
      case 2:
      case 3:
      case 5:
        if (c.gate < val) c.count_load_time = this.now(); // restart on a rising edge
        break;
    }
    c.gate = val;
  }

  /** kpit_elapsed, ns */
  private elapsed(ch: number): number {
    if (ch === 0) {
      if (!this.period) return 0;
      const remaining = this.expires < 0 ? 0 : Math.max(0, this.expires - this.now());
      return this.period - remaining;
    }
    return this.now() - this.channels[ch]!.count_load_time;
  }

  private ticks(ch: number): number {
    return Math.floor((this.elapsed(ch) * PIT_FREQ) / 1e9);
  }

  /** pit_get_count */
  private getCount(ch: number): number {
    const c = this.channels[ch]!;
    const d = this.ticks(ch);
    switch (c.mode) {
      case 0:
      case 1:
      case 4:
      case 5:
        return (c.count - d) & 0xffff;
      case 3:
        return c.count - ((2 * d) % c.count);
      default:
        return c.count - (d % c.count);
    }
  }

  /** pit_get_out */
  getOut(ch: number): number {
    const c = this.channels[ch]!;
    const d = this.ticks(ch);
    switch (c.mode) {
      case 1:
        return d < c.count ? 1 : 0;
      case 2:
        return d % c.count === 0 && d !== 0 ? 1 : 0;
      case 3:
        return d % c.count < (c.count + 1) >> 1 ? 1 : 0;
      case 4:
      case 5:
        return d === c.count ? 1 : 0;
      default:
        return d >= c.count ? 1 : 0;
    }
  }

  private latchCount(ch: number): void {
    const c = this.channels[ch]!;
    if (!c.count_latched) {
      c.latched_count = this.getCount(ch) & 0xffff;
      c.count_latched = c.rw_mode;
    }
  }

  private latchStatus(ch: number): void {
    const c = this.channels[ch]!;
    if (!c.status_latched) {
      c.status = ((this.getOut(ch) << 7) | (c.rw_mode << 4) | (c.mode << 1) | c.bcd) & 0xff;
      c.status_latched = 1;
    }
  }

  /** create_pit_timer */
  private createTimer(val: number, periodic: boolean): void {
    if (!this.host.ioapicInKernel || this.flags & KVM_PIT_FLAGS.HPET_LEGACY) return;
    const interval = Math.floor((val * 1e9) / PIT_FREQ);
    this.vm.timers.cancel(this);
    this.period = interval;
    this.isPeriodic = periodic;
    this.resetReinject();
    if (periodic && this.period < MIN_PERIOD_NS) this.period = MIN_PERIOD_NS;
    this.expires = this.now() + interval;
    this.vm.timers.arm(this, this.expires, () => this.timerFn());
  }

  /** pit_load_count */
  private loadCount(ch: number, val: number): void {
    if (val === 0) val = 0x10000;
    this.channels[ch]!.count = val;
    if (ch !== 0) {
      this.channels[ch]!.count_load_time = this.now();
      return;
    }
    switch (this.channels[0]!.mode) {
      case 0:
      case 1:
      case 4:
        this.createTimer(val, false);
        break;
      case 2:
      case 3:
        this.createTimer(val, true);
        break;
      default:
        this.vm.timers.cancel(this);
        this.expires = -1;
    }
  }

  /** kvm_pit_load_count (KVM_SET_PIT(2)); `hpetLegacyStart` loads channel 0 without starting it. */
  loadCountExternal(ch: number, val: number, hpetLegacyStart: boolean): void {
    if (hpetLegacyStart) {
      const saved = this.channels[0]!.mode;
      this.channels[0]!.mode = 0xff;
      this.loadCount(ch, val);
      this.channels[0]!.mode = saved;
    } else this.loadCount(ch, val);
  }

  /** pit_ioport_write */
  private ioWrite(addr: number, v: number): void {
    const val = v & 0xff;
    if (addr === 3) {
      const ch = val >> 6;
      if (ch === 3) {
        for (let i = 0; i < 3; i++) {
          if (val & (2 << i)) {
            if (!(val & 0x20)) this.latchCount(i);
            if (!(val & 0x10)) this.latchStatus(i);
          }
        }
        return;
      }
      const c = this.channels[ch]!;
      const access = (val >> 4) & 3;
      if (access === 0) this.latchCount(ch);
      else {
        c.rw_mode = access;
        c.read_state = access;
        c.write_state = access;
        c.mode = (val >> 1) & 7;
        if (c.mode > 5) c.mode -= 4;
        c.bcd = val & 1;
      }
      return;
    }
    const c = this.channels[addr]!;
    switch (c.write_state) {
      case RW.MSB:
        this.loadCount(addr, val << 8);
        break;
      case RW.WORD0:
        c.write_latch = val;
        c.write_state = RW.WORD1;
        break;
      case RW.WORD1:
        this.loadCount(addr, c.write_latch | (val << 8));
        c.write_state = RW.WORD0;
        break;
      default:
        this.loadCount(addr, val);
    }
  }

  /** pit_ioport_read (-1: port 0x43 reads nothing). */
  private ioRead(addr: number): number {
    if (addr === 3) return -1;
    const c = this.channels[addr]!;
    if (c.status_latched) {
      c.status_latched = 0;
      return c.status;
    }
    if (c.count_latched) {
      switch (c.count_latched) {
        case RW.MSB:
          c.count_latched = 0;
          return c.latched_count >> 8;
        case RW.WORD0:
          c.count_latched = RW.MSB;
          return c.latched_count & 0xff;
        default:
          c.count_latched = 0;
          return c.latched_count & 0xff;
      }
    }
    switch (c.read_state) {
      case RW.MSB:
        return (this.getCount(addr) >> 8) & 0xff;
      case RW.WORD0:
        c.read_state = RW.WORD1;
        return this.getCount(addr) & 0xff;
      case RW.WORD1:
        c.read_state = RW.WORD0;
        return (this.getCount(addr) >> 8) & 0xff;
      default:
        return this.getCount(addr) & 0xff;
    }
  }

  /** KVM_GET_PIT2 */
  getState(): { channels: PitChannel[]; flags: number } {
    return { channels: this.channels.map((c) => ({ ...c })), flags: this.flags };
  }

  /** KVM_SET_PIT2 (`legacyFlags`: KVM_SET_PIT, which has no flags). */
  setState(channels: readonly PitChannel[], flags: number | null): void {
    let start = false;
    if (flags !== null) {
      const prev = this.flags & KVM_PIT_FLAGS.HPET_LEGACY;
      const cur = flags & KVM_PIT_FLAGS.HPET_LEGACY;
      start = !prev && cur !== 0;
    }
    channels.forEach((c, i) => Object.assign(this.channels[i]!, c));
    if (flags !== null) this.flags = flags;
    for (let i = 0; i < 3; i++) this.loadCountExternal(i, this.channels[i]!.count, start && i === 0);
  }
}
