/**
 * The i8042 keyboard controller at ports 0x60 (data) and 0x64 (status / command), reduced to what
 * a VMM without a keyboard needs (as Firecracker's): Linux's reset path -- `reboot=k` pulses the
 * CPU reset line with command 0xfe -- ends the guest, and the Linux i8042 driver's probe (self test,
 * controller configuration byte, interface tests, keyboard enable/disable) gets sane answers.
 * @module
 */
import type { Device } from '../devices.js';

const ST_OBF = 0x01; // output buffer full
const ST_SYS = 0x04; // system flag (POST passed)
const ST_CMD = 0x08; // last write was a command

export class I8042 {
  private status = ST_SYS;
  private out: number[] = [];
  /** Controller configuration byte: keyboard interrupt on, system flag, translation. */
  private config = 0x45;
  /** The command whose data byte is expected at port 0x60. */
  private pendingCmd = 0;
  /** Set when the guest pulsed the reset line (command 0xfe). */
  resetRequested = false;
  /** Called when the guest pulses the reset line. */
  onReset: (() => void) | undefined;

  private push(...b: number[]): void {
    this.out.push(...b);
  }

  private readStatus(): number {
    return (this.status & ~ST_OBF) | (this.out.length ? ST_OBF : 0);
  }

  private command(c: number): void {
    this.status |= ST_CMD;
    switch (c) {
      case 0x20: // read configuration byte
        this.push(this.config);
        break;
      case 0x60: // write configuration byte (data follows)
      case 0xd1: // write output port
      case 0xd2: // write keyboard output buffer
      case 0xd3: // write aux output buffer
      case 0xd4: // write to aux device
        this.pendingCmd = c;
        break;
      case 0xa7: // disable aux
        this.config |= 0x20;
        break;
      case 0xa8: // enable aux
        this.config &= ~0x20;
        break;
      case 0xa9: // aux interface test: no aux device (clock line stuck)
        this.push(0x01);
        break;
      case 0xaa: // controller self test
        this.push(0x55);
        break;
      case 0xab: // keyboard interface test: ok
        this.push(0x00);
        break;
      case 0xad: // disable keyboard
        this.config |= 0x10;
        break;
      case 0xae: // enable keyboard
        this.config &= ~0x10;
        break;
      case 0xc0: // read input port
        this.push(0x00);
        break;
      case 0xd0: // read output port: A20 on, reset line high
        this.push(0x03);
        break;
      default:
        if ((c & 0xf0) === 0xf0 && !(c & 1)) {
          // 0xf0-0xfe: pulse output lines; bit 0 low pulses the CPU reset line.
          this.resetRequested = true;
          this.onReset?.();
        }
    }
  }

  private data(v: number): void {
    this.status &= ~ST_CMD;
    const c = this.pendingCmd;
    this.pendingCmd = 0;
    switch (c) {
      case 0x60:
        this.config = v;
        break;
      case 0xd1:
        if (!(v & 1)) {
          this.resetRequested = true;
          this.onReset?.();
        }
        break;
      case 0xd2:
      case 0xd3:
        this.push(v);
        break;
      case 0xd4:
        break; // no aux device: nothing answers
      default:
        // A byte to the keyboard: acknowledge it (reset also reports a passed self test).
        this.push(0xfa);
        if (v === 0xff) this.push(0xaa);
    }
  }

  devices(): Device[] {
    return [
      {
        name: 'i8042',
        base: 0x60,
        size: 1,
        read: () => this.out.shift() ?? 0,
        write: (_o, _s, v) => this.data(v & 0xff),
      },
      {
        name: 'i8042',
        base: 0x64,
        size: 1,
        read: () => this.readStatus(),
        write: (_o, _s, v) => this.command(v & 0xff),
      },
    ];
  }
}
