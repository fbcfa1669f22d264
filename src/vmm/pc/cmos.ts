/**
 * The MC146818 RTC and CMOS RAM behind ports 0x70 (index, bit 7 = NMI mask) and 0x71 (data), as
 * far as Linux uses them without ACPI: the wall-clock time at boot (BCD, 24-hour, from the host's
 * UTC clock; never "update in progress"), status registers A-D, the century byte, and the rest of
 * the 128 bytes as plain RAM.
 * @module
 */
import type { Device } from '../devices.js';

const bcd = (v: number) => ((Math.floor(v / 10) << 4) | v % 10) & 0xff;

export class Cmos implements Device {
  readonly name = 'cmos';
  readonly base = 0x70;
  readonly size = 2;
  private index = 0;
  private readonly ram = new Uint8Array(128);

  constructor(
    /** The time the RTC shows (default: the host's, read at each access). */
    private readonly now: () => Date = () => new Date(),
  ) {
    this.ram[0x0a] = 0x26; // 32.768 kHz base, 1024 Hz periodic rate; UIP clear
    this.ram[0x0b] = 0x02; // 24-hour, BCD, no interrupts
    this.ram[0x0d] = 0x80; // VRT: battery and RAM valid
  }

  read(off: number): number {
    if (off === 0) return 0xff; // the index port is write-only
    const i = this.index;
    const t = this.now();
    switch (i) {
      case 0x00:
        return bcd(t.getUTCSeconds());
      case 0x02:
        return bcd(t.getUTCMinutes());
      case 0x04:
        return bcd(t.getUTCHours());
      case 0x06:
        return bcd(t.getUTCDay() + 1);
      case 0x07:
        return bcd(t.getUTCDate());
      case 0x08:
        return bcd(t.getUTCMonth() + 1);
      case 0x09:
        return bcd(t.getUTCFullYear() % 100);
      case 0x32:
        return bcd(Math.floor(t.getUTCFullYear() / 100));
      case 0x0c: {
        // Reading register C clears its interrupt flags.
        const v = this.ram[0x0c]!;
        this.ram[0x0c] = 0;
        return v;
      }
      default:
        return this.ram[i]!;
    }
  }

  write(off: number, _size: number, v: number): void {
    if (off === 0) {
      this.index = v & 0x7f;
      return;
    }
    const i = this.index;
    if (i === 0x0c || i === 0x0d) return; // read-only
    // Time registers: the clock keeps following the host (setting the RTC is not modelled).
    if (i <= 0x09 || i === 0x32) return;
    if (i === 0x0a) this.ram[i] = v & 0x7f; // UIP is read-only
    else this.ram[i] = v & 0xff;
  }
}
