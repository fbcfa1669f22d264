/**
 * Kernel loading without booting: the boot_params/setup_header declarations against gcc and the
 * system's <asm/bootparam.h>, the bzImage parser on the committed fixture kernel, the zero page,
 * E820 map, command line, initrd placement, GDT and identity map the 64-bit entry needs, and the
 * arm64 Image header (plain, gzip, EFI zboot), its placement and the generated device tree.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { generateChecks } from '../../src/index.js';
import { decodeFdt } from '../../src/vmm/fdt.js';
import { ImageError } from '../../src/vmm/image.js';
import { loadArm64Linux, parseArm64Image, type Arm64Platform } from '../../src/vmm/linux/arm64.js';
import { boot_e820_entry, boot_params, E820_TYPE, setup_header } from '../../src/vmm/linux/bootparam.js';
import { loadX86Linux, parseBzImage, x86RamRanges, X86_LINUX } from '../../src/vmm/linux/x86.js';
import { ccFor, compileC } from '../helpers/toolchain.js';

const BIN = resolve(__dirname, 'bin');
const BZIMAGE = new Uint8Array(readFileSync(resolve(BIN, 'x86_64/bzImage')));
const MiB = 1 << 20;

/** Guest RAM as one buffer from gpa 0 (x86) or `base` (arm64). */
function ram(size: number, base = 0) {
  const bytes = new Uint8Array(size);
  return { bytes, mem: (gpa: number, len: number) => bytes.subarray(gpa - base, gpa - base + len) };
}

describe('x86 boot protocol structures', () => {
  const cc = ccFor('x86_64');
  it.skipIf(!cc)('setup_header, boot_e820_entry and boot_params match <asm/bootparam.h> (gcc static asserts)', () => {
    const prog = generateChecks({ structs: { setup_header, boot_e820_entry, boot_params }, constGroups: [], ioctls: {}, headers: ['asm/bootparam.h'] }, 'sys');
    const r = compileC(cc!, prog.source);
    expect(r.stderr).toBe('');
    expect(r.ok).toBe(true);
    expect(prog.asserts).toBeGreaterThan(100);
    // The check can fail: a wrong offset does not compile.
    const broken = prog.source.replace(/offsetof\(struct boot_params, e820_entries\) == (\d+)/, (_m, n: string) => `offsetof(struct boot_params, e820_entries) == ${Number(n) + 1}`);
    expect(broken).not.toBe(prog.source);
    expect(compileC(cc!, broken).ok).toBe(false);
  });

  it('has the documented offsets (zero-page.rst)', () => {
    expect(boot_params.size).toBe(4096);
    expect(boot_params.offsetOf('hdr')).toBe(0x1f1);
    expect(boot_params.offsetOf('e820_entries')).toBe(0x1e8);
    expect(boot_params.offsetOf('e820_table')).toBe(0x2d0);
    expect(boot_params.offsetOf('ext_cmd_line_ptr')).toBe(0x0c8);
    expect(boot_params.offsetOf('hdr.cmd_line_ptr')).toBe(0x228);
    expect(boot_params.offsetOf('hdr.init_size')).toBe(0x260);
  });
});

describe('bzImage loading (the 64-bit boot protocol)', () => {
  const img = parseBzImage(BZIMAGE);

  it('parses the fixture kernel: protocol, init_size, version string, the protected-mode part', () => {
    expect(img.protocol).toBeGreaterThanOrEqual(0x020f);
    expect(img.version).toMatch(/^6\.12\.\d+ \(vkvm@vkvm\)/);
    expect(img.initSize).toBeGreaterThan(img.kernel.length);
    expect(img.cmdlineSize).toBe(2047);
    expect(img.kernel.length + (BZIMAGE[0x1f1]! + 1) * 512).toBe(BZIMAGE.length);
  });

  it('writes the zero page, command line, initrd, E820 map, GDT and identity map', () => {
    const r = ram(64 * MiB);
    const initrd = Uint8Array.from({ length: 10000 }, (_, i) => i & 0xff);
    const l = loadX86Linux({ image: img, memSize: 64 * MiB, cmdline: 'console=ttyS0 quiet', initrd }, r.mem);
    expect(l.entry).toBe(0x100200);
    expect(Buffer.from(r.bytes.subarray(0x100000, 0x100000 + img.kernel.length)).equals(img.kernel)).toBe(true);
    const bp = boot_params.decode(r.bytes, X86_LINUX.ZERO_PAGE);
    expect(bp.hdr.boot_flag).toBe(0xaa55);
    expect(bp.hdr.header).toBe(0x53726448);
    expect(bp.hdr.type_of_loader).toBe(0xff);
    expect(bp.hdr.cmd_line_ptr).toBe(X86_LINUX.CMDLINE);
    expect(Buffer.from(r.bytes.subarray(X86_LINUX.CMDLINE, X86_LINUX.CMDLINE + 20)).toString('latin1')).toBe('console=ttyS0 quiet\0');
    expect(bp.sentinel).toBe(0);
    // The initrd: page-aligned at the top of RAM.
    expect(bp.hdr.ramdisk_image % 4096).toBe(0);
    expect(bp.hdr.ramdisk_image + bp.hdr.ramdisk_size).toBeLessThanOrEqual(64 * MiB);
    expect(bp.hdr.ramdisk_image + 4096 + bp.hdr.ramdisk_size).toBeGreaterThan(64 * MiB);
    expect(bp.hdr.ramdisk_size).toBe(10000);
    expect(Buffer.from(r.bytes.subarray(bp.hdr.ramdisk_image, bp.hdr.ramdisk_image + 10000)).equals(initrd)).toBe(true);
    // E820: base memory, the EBDA/BIOS hole, RAM from 1 MiB.
    expect(bp.e820_entries).toBe(3);
    expect(bp.e820_table.slice(0, 3).map((e) => [e.addr, e.size, e.type])).toEqual([
      [0n, 0x9fc00n, E820_TYPE.RAM],
      [0x9fc00n, 0x100000n - 0x9fc00n, E820_TYPE.RESERVED],
      [0x100000n, BigInt(64 * MiB - 0x100000), E820_TYPE.RAM],
    ]);
    // GDT: __BOOT_CS = 0x10 (64-bit code), __BOOT_DS = 0x18.
    const dv = new DataView(r.bytes.buffer);
    expect(dv.getBigUint64(X86_LINUX.GDT + 0x10, true)).toBe(0x00af9b000000ffffn);
    expect(dv.getBigUint64(X86_LINUX.GDT + 0x18, true)).toBe(0x00cf93000000ffffn);
    // Identity map of 4 GiB with 2 MiB pages.
    expect(dv.getBigUint64(X86_LINUX.PML4, true)).toBe(BigInt(X86_LINUX.PDPT) | 3n);
    expect(dv.getBigUint64(X86_LINUX.PDPT + 8 * 3, true)).toBe(BigInt(X86_LINUX.PD + 0x3000) | 3n);
    expect(dv.getBigUint64(X86_LINUX.PD + 8 * 2047, true)).toBe((2047n << 21n) | 0x83n);
  });

  it('splits RAM around the MMIO hole below 4 GiB', () => {
    expect(x86RamRanges(512 * MiB)).toEqual([{ gpa: 0, size: 512 * MiB }]);
    expect(x86RamRanges(4096 * MiB)).toEqual([{ gpa: 0, size: 0xc000_0000 }, { gpa: 0x1_0000_0000, size: 0x4000_0000 }]);
  });

  it('refuses what it cannot boot, with the reason', () => {
    expect(() => parseBzImage(new Uint8Array(4096))).toThrow(ImageError);
    const old = BZIMAGE.slice();
    new DataView(old.buffer).setUint16(0x206, 0x0204, true);
    expect(() => parseBzImage(old)).toThrow(/2\.04 is too old/);
    const no64 = BZIMAGE.slice();
    new DataView(no64.buffer).setUint16(0x236, 0, true);
    expect(() => parseBzImage(no64)).toThrow(/XLF_KERNEL_64/);
    expect(() => loadX86Linux({ image: img, memSize: 16 * MiB, cmdline: '' }, ram(16 * MiB).mem)).toThrow(/larger --mem/);
    expect(() => loadX86Linux({ image: img, memSize: 64 * MiB, cmdline: 'x'.repeat(3000) }, ram(64 * MiB).mem)).toThrow(/at most 2047/);
  });
});

describe('arm64 Image loading', () => {
  /** A minimal Image: the 64-byte header and some text. */
  function image(textOffset: number, imageSize: number, len = 0x1000): Uint8Array {
    const b = new Uint8Array(len);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, 0x14000010, true); // b #0x40
    dv.setBigUint64(8, BigInt(textOffset), true);
    dv.setBigUint64(16, BigInt(imageSize), true);
    dv.setBigUint64(24, 0xan, true); // 4K pages, anywhere
    dv.setUint32(56, 0x644d5241, true);
    b[0x800] = 0xab;
    return b;
  }
  const platform: Arm64Platform = {
    ramBase: 0x4000_0000,
    ramSize: 64 * MiB,
    mpidrs: [0x8000_0000n],
    gic: { dist: 0x0800_0000, distSize: 0x10000, redist: 0x080a_0000, redistSize: 0x20000 },
    uart: { base: 0x0900_0000, spi: 1 },
    virtio: [],
  };

  it('reads the header of a plain Image, an Image.gz and an EFI zboot image with a gzip payload', () => {
    const raw = image(0, 0x200000);
    expect(parseArm64Image(raw)).toMatchObject({ textOffset: 0, imageSize: 0x200000, flags: 0xan });
    expect(parseArm64Image(gzipSync(raw)).image).toEqual(raw);
    const gz = gzipSync(raw);
    const zboot = new Uint8Array(0x40 + gz.length);
    zboot.set([0x4d, 0x5a], 0);
    zboot.set(Buffer.from('zimg'), 4);
    const zdv = new DataView(zboot.buffer);
    zdv.setUint32(8, 0x40, true);
    zdv.setUint32(12, gz.length, true);
    zboot.set(Buffer.from('gzip'), 0x18);
    zboot.set(gz, 0x40);
    expect(parseArm64Image(zboot).image).toEqual(raw);
    // A pre-3.17 header (image_size 0) means text_offset 0x80000.
    expect(parseArm64Image(image(0x1234, 0)).textOffset).toBe(0x80000);
    expect(() => parseArm64Image(new Uint8Array(64))).toThrow(/ARM\\x64/);
    zboot.set(Buffer.from('zstd'), 0x18);
    expect(() => parseArm64Image(zboot)).toThrow(/only gzip/);
  });

  it('places the kernel at a 2 MiB-aligned base + text_offset, the DTB and initrd at the end of RAM', () => {
    const r = ram(64 * MiB, 0x4000_0000);
    const initrd = new Uint8Array(5000).fill(7);
    const l = loadArm64Linux({ image: parseArm64Image(image(0x80000, 0x300000)), cmdline: 'console=ttyAMA0', initrd, platform }, r.mem);
    expect(l.entry).toBe(0x4008_0000);
    expect(r.mem(0x4008_0800, 1)[0]).toBe(0xab);
    expect(l.dtb).toBe(0x4000_0000 + 62 * MiB);
    expect(l.dtb % 8).toBe(0);
    expect(l.initrd!.addr + l.initrd!.size).toBeLessThanOrEqual(l.dtb);
    const fdt = decodeFdt(r.mem(l.dtb, l.dtbSize));
    const chosen = fdt.root.children.find((c) => c.name === 'chosen')!;
    const prop = (n: string) => chosen.props.find(([k]) => k === n)![1];
    expect(Buffer.from(prop('bootargs')).toString()).toBe('console=ttyAMA0\0');
    expect(Buffer.from(prop('stdout-path')).toString()).toBe('/pl011@9000000\0');
    expect(new DataView(prop('linux,initrd-start').buffer).getBigUint64(0)).toBe(BigInt(l.initrd!.addr));
    expect(new DataView(prop('linux,initrd-end').buffer).getBigUint64(0)).toBe(BigInt(l.initrd!.addr + 5000));
    expect(() => loadArm64Linux({ image: parseArm64Image(image(0, 63 * MiB)), cmdline: '', platform }, ram(64 * MiB, 0x4000_0000).mem)).toThrow(/larger --mem/);
  });
});
