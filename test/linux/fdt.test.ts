/**
 * The FDT writer against dtc: the arm64 board's tree, decompiled by `dtc -I dtb -O dts` and
 * compiled back with `dtc -I dts -O dtb`, must give our bytes exactly (same block order, string
 * sharing, padding), and the decompiled text must say what the board means.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { decodeFdt, encodeFdt, u32, u64, type FdtNode } from '../../src/vmm/fdt.js';
import { arm64DeviceTree, type Arm64Platform } from '../../src/vmm/linux/arm64.js';
import { hasCommand } from '../helpers/toolchain.js';

const DTC = hasCommand('dtc');

function dtc(args: string[], input: Uint8Array | string): { out: Buffer; err: string; status: number | null } {
  const r = spawnSync('dtc', args, { input });
  return { out: r.stdout, err: r.stderr.toString(), status: r.status };
}

const platform: Arm64Platform = {
  ramBase: 0x4000_0000,
  ramSize: 0x1000_0000,
  mpidrs: [0x8000_0000n, 0x8000_0001n],
  gic: { dist: 0x0800_0000, distSize: 0x10000, redist: 0x080a_0000, redistSize: 0x40000 },
  uart: { base: 0x0900_0000, spi: 1 },
  virtio: [
    { base: 0x0a00_0000, size: 0x200, spi: 16 },
    { base: 0x0a00_0200, size: 0x200, spi: 17 },
  ],
};
const chosen: FdtNode['props'] = [
  ['bootargs', 'console=ttyAMA0 earlycon'],
  ['stdout-path', '/pl011@9000000'],
  ['linux,initrd-start', u64(0x4fc00000)],
  ['linux,initrd-end', u64(0x4fc01234)],
];

describe('FDT writer', () => {
  const blob = encodeFdt(arm64DeviceTree(platform, chosen), { memReserve: [[0x4800_0000, 0x1000]] });

  it.skipIf(!DTC)('dtc decompiles it and compiles the source back to the same bytes', () => {
    const dts = dtc(['-q', '-I', 'dtb', '-O', 'dts', '-'], blob);
    expect(dts.status, dts.err).toBe(0);
    const text = dts.out.toString();
    const back = dtc(['-q', '-I', 'dts', '-O', 'dtb', '-'], text);
    expect(back.status, back.err).toBe(0);
    expect(Buffer.from(blob).equals(back.out)).toBe(true);
    // And the text is the board we meant.
    expect(text).toContain('/memreserve/\t0x0000000048000000 0x0000000000001000;');
    expect(text).toMatch(/compatible = "arm,pl011\\0arm,primecell";/);
    expect(text).toMatch(/cpu@1 \{[^}]*reg = <0x00 0x01>;/s);
    expect(text).toMatch(/intc@8000000 \{[^}]*reg = <0x00 0x8000000 0x00 0x10000 0x00 0x80a0000 0x00 0x40000>;[^}]*phandle = <0x01>;/s);
    expect(text).toMatch(/virtio_mmio@a000200 \{[^}]*interrupts = <0x00 0x11 0x01>;/s);
    expect(text).toMatch(/chosen \{[^}]*bootargs = "console=ttyAMA0 earlycon";[^}]*linux,initrd-end = <0x00 0x4fc01234>;/s);
    expect(text).toMatch(/memory@40000000 \{[^}]*reg = <0x00 0x40000000 0x00 0x10000000>;/s);
  });

  it.skipIf(!DTC)('dtc accepts it without warnings about the tree itself', () => {
    const r = dtc(['-I', 'dtb', '-O', 'dts', '-o', '/dev/null', '-'], blob);
    expect(r.status).toBe(0);
    expect(r.err).toBe('');
  });

  it('decodes back to the same tree (names, values, reservations)', () => {
    const d = decodeFdt(blob);
    expect(d.memReserve).toEqual([[0x4800_0000n, 0x1000n]]);
    const names = d.root.children.map((c) => c.name);
    expect(names).toEqual(['cpus', 'memory@40000000', 'psci', 'intc@8000000', 'timer', 'apb-pclk', 'pl011@9000000', 'virtio_mmio@a000000', 'virtio_mmio@a000200', 'chosen']);
    const uart = d.root.children.find((c) => c.name === 'pl011@9000000')!;
    expect(Buffer.from(uart.props.find(([n]) => n === 'interrupts')![1]).toString('hex')).toBe('000000000000000100000004');
  });

  it('shares strings as dtc does: a name that is the tail of an earlier one reuses it', () => {
    const b = encodeFdt({ name: '', props: [['linux,phandle', u32(1)], ['phandle', u32(1)]] });
    const d = new DataView(b.buffer);
    expect(d.getUint32(32)).toBe('linux,phandle\0'.length); // size_dt_strings: "phandle" is shared
  });

  it('refuses malformed trees', () => {
    expect(() => encodeFdt({ name: 'x', props: [] })).toThrow(/root/);
    expect(() => encodeFdt({ name: '', props: [['a', null], ['a', null]] })).toThrow(/duplicate property/);
    expect(() => encodeFdt({ name: '', props: [], children: [{ name: 'n', props: [] }, { name: 'n', props: [] }] })).toThrow(/duplicate node/);
    expect(() => decodeFdt(new Uint8Array(40))).toThrow(/not a flattened device tree/);
  });
});
