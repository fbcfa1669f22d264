/**
 * Loading an arm64 Linux Image (Documentation/arch/arm64/booting.rst): the 64-byte header
 * (text_offset, image_size, flags, "ARM\x64" magic), the kernel placed at a 2 MiB-aligned base
 * plus text_offset, a device tree the VMM generates (memory, CPUs, PSCI, GICv3, the architected
 * timer, PL011 with its clock, virtio-mmio transports, /chosen with bootargs, stdout-path and the
 * initrd) in the last 2 MiB of RAM, the initrd below it, and x0 = the DTB on entry.
 * Compressed kernels (Image.gz, and EFI zboot images carrying gzip, as distributions ship) are
 * decompressed first.
 * @module
 */
import { gunzipSync } from 'node:zlib';
import { encodeFdt, u32, u64, type FdtNode } from '../fdt.js';
import { ImageError } from '../image.js';

const ARM64_MAGIC = 0x644d5241; // "ARM\x64"
const SZ_2M = 0x20_0000;

/** A parsed arm64 Image. */
export interface Arm64Image {
  /** The uncompressed Image. */
  readonly image: Uint8Array;
  readonly textOffset: number;
  /** Bytes the kernel occupies from its load address (image_size; at least the file). */
  readonly imageSize: number;
  readonly flags: bigint;
}

/** True when `b` is gzip data. */
const isGzip = (b: Uint8Array) => b.length > 2 && b[0] === 0x1f && b[1] === 0x8b;

/** Unwraps Image.gz / EFI zboot ("MZ" + "zimg") to the raw Image. */
export function decompressArm64Kernel(b: Uint8Array): Uint8Array {
  if (isGzip(b)) {
    try {
      return new Uint8Array(gunzipSync(b));
    } catch (e) {
      throw new ImageError(`the gzip-compressed kernel does not decompress: ${(e as Error).message}`);
    }
  }
  if (b.length >= 64 && b[0] === 0x4d && b[1] === 0x5a && Buffer.from(b.subarray(4, 8)).toString('latin1') === 'zimg') {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const off = dv.getUint32(8, true);
    const size = dv.getUint32(12, true);
    const comp = Buffer.from(b.subarray(0x18, 0x20)).toString('latin1').replace(/\0.*$/, '');
    if (off + size > b.length) throw new ImageError('EFI zboot image: payload outside the file');
    const payload = b.subarray(off, off + size);
    if (comp !== 'gzip' || !isGzip(payload)) throw new ImageError(`EFI zboot image compressed with ${comp || 'an unknown method'}: only gzip is supported (decompress it to an Image first)`);
    return decompressArm64Kernel(payload);
  }
  return b;
}

/** Parses an arm64 Image header (after decompression). */
export function parseArm64Image(raw: Uint8Array): Arm64Image {
  const image = decompressArm64Kernel(raw);
  if (image.length < 64) throw new ImageError('not an arm64 Image: shorter than its 64-byte header');
  const dv = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (dv.getUint32(56, true) !== ARM64_MAGIC) throw new ImageError('not an arm64 Image (no "ARM\\x64" magic at offset 56)');
  let textOffset = Number(dv.getBigUint64(8, true));
  const imageSize = Number(dv.getBigUint64(16, true));
  const flags = dv.getBigUint64(24, true);
  // image_size 0: a pre-3.17 kernel with the historical text_offset.
  if (imageSize === 0) textOffset = 0x80000;
  if (flags & 1n) throw new ImageError('big-endian arm64 kernels are not supported');
  return { image, textOffset, imageSize: Math.max(imageSize, image.length), flags };
}

/** The arm64 board's devices as the device tree describes them. */
export interface Arm64Platform {
  readonly ramBase: number;
  readonly ramSize: number;
  /** MPIDR_EL1 affinity of each vCPU (the cpu nodes' reg). */
  readonly mpidrs: readonly bigint[];
  readonly gic: { readonly dist: number; readonly distSize: number; readonly redist: number; readonly redistSize: number };
  readonly uart: { readonly base: number; readonly spi: number };
  readonly virtio: readonly { readonly base: number; readonly size: number; readonly spi: number }[];
}

/** phandles of the nodes others refer to. */
const PHANDLE = { GIC: 1, APB_PCLK: 2 } as const;
const GIC_SPI = 0;
const GIC_PPI = 1;
const IRQ_TYPE_EDGE_RISING = 1;
const IRQ_TYPE_LEVEL_HIGH = 4;

const hexName = (n: number) => n.toString(16);

/** The device tree of the board (before /chosen is filled by `loadArm64Linux`). */
export function arm64DeviceTree(p: Arm64Platform, chosen: FdtNode['props']): FdtNode {
  const cpus: FdtNode = {
    name: 'cpus',
    props: [
      ['#address-cells', u32(2)],
      ['#size-cells', u32(0)],
    ],
    children: p.mpidrs.map((mpidr) => {
      const aff = mpidr & 0xff00ffffffn;
      return {
        name: `cpu@${aff.toString(16)}`,
        props: [
          ['device_type', 'cpu'],
          ['compatible', 'arm,arm-v8'],
          ['enable-method', 'psci'],
          ['reg', u64(aff)],
        ],
      };
    }),
  };
  return {
    name: '',
    props: [
      ['compatible', 'linux,dummy-virt'],
      ['#address-cells', u32(2)],
      ['#size-cells', u32(2)],
      ['interrupt-parent', u32(PHANDLE.GIC)],
    ],
    children: [
      cpus,
      {
        name: `memory@${hexName(p.ramBase)}`,
        props: [
          ['device_type', 'memory'],
          ['reg', u64(p.ramBase, p.ramSize)],
        ],
      },
      {
        name: 'psci',
        props: [
          ['compatible', ['arm,psci-1.0', 'arm,psci-0.2']],
          ['method', 'hvc'],
        ],
      },
      {
        name: `intc@${hexName(p.gic.dist)}`,
        props: [
          ['compatible', 'arm,gic-v3'],
          ['#interrupt-cells', u32(3)],
          ['#address-cells', u32(2)],
          ['#size-cells', u32(2)],
          ['ranges', null],
          ['interrupt-controller', null],
          ['reg', u64(p.gic.dist, p.gic.distSize, p.gic.redist, p.gic.redistSize)],
          ['phandle', u32(PHANDLE.GIC)],
        ],
      },
      {
        name: 'timer',
        props: [
          ['compatible', 'arm,armv8-timer'],
          // Secure, non-secure physical, virtual and hypervisor timers: PPIs 13, 14, 11, 10.
          ['interrupts', u32(GIC_PPI, 13, IRQ_TYPE_LEVEL_HIGH, GIC_PPI, 14, IRQ_TYPE_LEVEL_HIGH, GIC_PPI, 11, IRQ_TYPE_LEVEL_HIGH, GIC_PPI, 10, IRQ_TYPE_LEVEL_HIGH)],
          ['always-on', null],
        ],
      },
      {
        name: 'apb-pclk',
        props: [
          ['compatible', 'fixed-clock'],
          ['#clock-cells', u32(0)],
          ['clock-frequency', u32(24_000_000)],
          ['clock-output-names', 'clk24mhz'],
          ['phandle', u32(PHANDLE.APB_PCLK)],
        ],
      },
      {
        name: `pl011@${hexName(p.uart.base)}`,
        props: [
          ['compatible', ['arm,pl011', 'arm,primecell']],
          ['reg', u64(p.uart.base, 0x1000)],
          ['interrupts', u32(GIC_SPI, p.uart.spi, IRQ_TYPE_LEVEL_HIGH)],
          ['clocks', u32(PHANDLE.APB_PCLK, PHANDLE.APB_PCLK)],
          ['clock-names', ['uartclk', 'apb_pclk']],
        ],
      },
      ...p.virtio.map(
        (v): FdtNode => ({
          name: `virtio_mmio@${hexName(v.base)}`,
          props: [
            ['compatible', 'virtio,mmio'],
            ['reg', u64(v.base, v.size)],
            ['interrupts', u32(GIC_SPI, v.spi, IRQ_TYPE_EDGE_RISING)],
            ['dma-coherent', null],
          ],
        }),
      ),
      { name: 'chosen', props: chosen },
    ],
  };
}

/** Where things went. */
export interface Arm64LinuxLayout {
  /** The kernel's entry: its load address. */
  readonly entry: number;
  readonly dtb: number;
  readonly dtbSize: number;
  readonly initrd?: { readonly addr: number; readonly size: number };
}

/** Writes kernel, initrd and DTB into RAM (`mem(gpa, len)` gives guest RAM bytes). */
export function loadArm64Linux(
  boot: { readonly image: Arm64Image; readonly cmdline: string; readonly initrd?: Uint8Array; readonly platform: Arm64Platform },
  mem: (gpa: number, len: number) => Uint8Array,
): Arm64LinuxLayout {
  const { image, platform: p } = boot;
  const ramEnd = p.ramBase + p.ramSize;
  const kernelBase = Math.ceil(p.ramBase / SZ_2M) * SZ_2M;
  const entry = kernelBase + image.textOffset;
  const kernelEnd = entry + image.imageSize;
  // The DTB in the last 2 MiB block of RAM; the initrd page-aligned just below it.
  const dtbBlock = Math.floor((ramEnd - SZ_2M) / SZ_2M) * SZ_2M;
  let initrd: Arm64LinuxLayout['initrd'];
  let top = dtbBlock;
  if (boot.initrd && boot.initrd.length) {
    const addr = Math.floor((top - boot.initrd.length) / 4096) * 4096;
    initrd = { addr, size: boot.initrd.length };
    top = addr;
  }
  if (top < kernelEnd) throw new ImageError(`the kernel (${(image.imageSize / 2 ** 20).toFixed(1)} MiB in memory)${initrd ? ', initrd' : ''} and device tree do not fit in ${p.ramSize / 2 ** 20} MiB of RAM; use a larger --mem`);
  const chosen: [string, FdtNode['props'][number][1]][] = [
    ['bootargs', boot.cmdline],
    ['stdout-path', `/pl011@${hexName(p.uart.base)}`],
  ];
  if (initrd) {
    chosen.push(['linux,initrd-start', u64(initrd.addr)], ['linux,initrd-end', u64(initrd.addr + initrd.size)]);
  }
  const dtb = encodeFdt(arm64DeviceTree(p, chosen));
  if (dtb.length > SZ_2M) throw new Error('the device tree exceeds 2 MiB');

  mem(entry, image.image.length).set(image.image);
  if (initrd) mem(initrd.addr, initrd.size).set(boot.initrd!);
  mem(dtbBlock, dtb.length).set(dtb);
  return { entry, dtb: dtbBlock, dtbSize: dtb.length, ...(initrd ? { initrd } : {}) };
}
