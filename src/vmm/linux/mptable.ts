/**
 * The Intel MultiProcessor Specification 1.4 tables: how an ACPI-less x86 guest learns its CPUs,
 * its I/O APIC and how the ISA interrupts reach it (Linux: arch/x86/kernel/mpparse.c scans the
 * last KiB of base memory for the floating pointer). Written only with an in-kernel irqchip
 * (a LAPIC per vCPU and an IOAPIC), as Firecracker does.
 * @module
 */

/** The local APIC and I/O APIC base addresses (the architectural defaults). */
export const LAPIC_BASE = 0xfee0_0000;
export const IOAPIC_BASE = 0xfec0_0000;
/** I/O APIC inputs (KVM's IOAPIC has 24 pins). */
export const IOAPIC_PINS = 24;

const MPC_CPU_ENABLED = 1;
const MPC_CPU_BOOTPROCESSOR = 2;
const MP_IRQ_INT = 0;
const MP_IRQ_NMI = 1;
const MP_IRQ_EXTINT = 3;

function checksum(b: Uint8Array): number {
  let s = 0;
  for (const x of b) s = (s + x) & 0xff;
  return (0x100 - s) & 0xff;
}

/** The floating pointer (16 bytes) followed by the configuration table, for placement at `addr`. */
export function mpTable(addr: number, cpus: number): Uint8Array {
  if (cpus < 1 || cpus > 254) throw new RangeError(`an MP table describes 1-254 CPUs, not ${cpus}`);
  const ioapicId = cpus; // after the LAPIC IDs 0..cpus-1
  const entries: Uint8Array[] = [];
  const entry = (size: number, fill: (dv: DataView, b: Uint8Array) => void) => {
    const b = new Uint8Array(size);
    fill(new DataView(b.buffer), b);
    entries.push(b);
  };
  for (let i = 0; i < cpus; i++) {
    entry(20, (dv) => {
      dv.setUint8(0, 0); // MP_PROCESSOR
      dv.setUint8(1, i); // LAPIC ID
      dv.setUint8(2, 0x14); // LAPIC version (integrated)
      dv.setUint8(3, MPC_CPU_ENABLED | (i === 0 ? MPC_CPU_BOOTPROCESSOR : 0));
      dv.setUint32(4, 0x600, true); // family 6
      dv.setUint32(8, 0x201, true); // FPU | APIC
    });
  }
  entry(8, (dv, b) => {
    dv.setUint8(0, 1); // MP_BUS
    dv.setUint8(1, 0);
    b.set(Buffer.from('ISA   ', 'latin1'), 2);
  });
  entry(8, (dv) => {
    dv.setUint8(0, 2); // MP_IOAPIC
    dv.setUint8(1, ioapicId);
    dv.setUint8(2, 0x11);
    dv.setUint8(3, 1); // enabled
    dv.setUint32(4, IOAPIC_BASE, true);
  });
  // ISA IRQ n on IOAPIC pin n, as KVM's default GSI routing wires them (irq_comm.c: GSI n to
  // IOAPIC pin n and PIC pin n % 8) and as Firecracker's MP table says. No IRQ0-to-pin-2 override
  // (QEMU's, which it pairs with its own KVM_SET_GSI_ROUTING): the in-kernel PIT raises GSI 0, which
  // reaches pin 0, so a guest told "pin 2" gets no timer interrupt at all.
  for (let irq = 0; irq < 16; irq++) {
    if (irq === 2) continue; // the PIC cascade: no ISA device
    entry(8, (dv) => {
      dv.setUint8(0, 3); // MP_INTSRC
      dv.setUint8(1, MP_IRQ_INT);
      dv.setUint16(2, 0, true); // polarity and trigger conform to the (ISA) bus: edge, high
      dv.setUint8(4, 0); // bus 0
      dv.setUint8(5, irq);
      dv.setUint8(6, ioapicId);
      dv.setUint8(7, irq);
    });
  }
  entry(8, (dv) => {
    dv.setUint8(0, 4); // MP_LINTSRC
    dv.setUint8(1, MP_IRQ_EXTINT);
    dv.setUint8(4, 0);
    dv.setUint8(5, 0);
    dv.setUint8(6, 0xff); // all LAPICs
    dv.setUint8(7, 0); // LINT0
  });
  entry(8, (dv) => {
    dv.setUint8(0, 4);
    dv.setUint8(1, MP_IRQ_NMI);
    dv.setUint8(4, 0);
    dv.setUint8(5, 0);
    dv.setUint8(6, 0xff);
    dv.setUint8(7, 1); // LINT1
  });
  const body = entries.reduce((n, e) => n + e.length, 0);
  const out = new Uint8Array(16 + 44 + body);
  const dv = new DataView(out.buffer);
  // Floating pointer.
  out.set(Buffer.from('_MP_', 'latin1'), 0);
  dv.setUint32(4, addr + 16, true);
  dv.setUint8(8, 1); // length in 16-byte units
  dv.setUint8(9, 4); // spec revision 1.4
  dv.setUint8(11, 0); // feature 1: a configuration table is present
  dv.setUint8(12, 0); // feature 2: virtual-wire mode (no IMCR)
  dv.setUint8(10, checksum(out.subarray(0, 16)));
  // Configuration table header.
  const t = 16;
  out.set(Buffer.from('PCMP', 'latin1'), t);
  dv.setUint16(t + 4, 44 + body, true);
  dv.setUint8(t + 6, 4);
  out.set(Buffer.from('VKVM    ', 'latin1'), t + 8);
  out.set(Buffer.from('VKVM-VMM    ', 'latin1'), t + 16);
  dv.setUint16(t + 34, entries.length, true);
  dv.setUint32(t + 36, LAPIC_BASE, true);
  let o = t + 44;
  for (const e of entries) {
    out.set(e, o);
    o += e.length;
  }
  dv.setUint8(t + 7, checksum(out.subarray(t, t + 44 + body)));
  return out;
}
