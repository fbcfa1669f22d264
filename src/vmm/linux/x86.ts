/**
 * Loading an x86-64 Linux bzImage the way a VMM does without firmware: the 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst, "64-bit Boot Protocol"). The protected-mode kernel goes to
 * 1 MiB (code32_start), the zero page (struct boot_params) gets the image's setup header, the
 * command line, the initrd and an E820 map; the boot vCPU starts in long mode at the kernel's
 * 64-bit entry (load address + 0x200) with %rsi = the zero page, on identity-mapped page tables
 * and a GDT with __BOOT_CS = 0x10 and __BOOT_DS = 0x18, interrupts off.
 * Pure memory layout here; the vCPU registers are set by the board.
 * @module
 */
import { ImageError } from '../image.js';
import { boot_params, E820_MAX_ENTRIES_ZEROPAGE, E820_TYPE, LOADFLAGS, setup_header, XLF } from './bootparam.js';

/** The guest-physical layout of the boot data (below 1 MiB, as Firecracker places it). */
export const X86_LINUX = {
  /** GDT: null, null, __BOOT_CS (0x10, 64-bit code), __BOOT_DS (0x18, data). */
  GDT: 0x500,
  /** struct boot_params */
  ZERO_PAGE: 0x7000,
  /** The boot stack's top (the kernel switches to its own at once). */
  BOOT_STACK: 0x8ff0,
  /** PML4, PDPT and four page directories: an identity map of the low 4 GiB with 2 MiB pages. */
  PML4: 0x9000,
  PDPT: 0xa000,
  PD: 0xb000,
  /** The command line (NUL-terminated). */
  CMDLINE: 0x20000,
  CMDLINE_MAX: 0x10000,
  /** The MP floating pointer and table: in the last KiB of base memory, where Linux scans. */
  MPTABLE: 0x9fc00,
  /** The end of base memory: 0x9fc00-0xfffff is reserved (EBDA, VGA, BIOS). */
  EBDA_START: 0x9fc00,
  /** The protected-mode kernel's load address: code32_start's default. */
  KERNEL: 0x100000,
  /** Guest RAM below 4 GiB ends here at most; the MMIO hole (virtio, IOAPIC, LAPIC) follows. */
  MMIO_HOLE: 0xc000_0000,
  /** The selectors the 64-bit entry needs. */
  BOOT_CS: 0x10,
  BOOT_DS: 0x18,
} as const;

/** GDT descriptors: __BOOT_CS (64-bit code, DPL 0) and __BOOT_DS (flat 4 GiB data). */
export const X86_LINUX_GDT = [0n, 0n, 0x00af9b000000ffffn, 0x00cf93000000ffffn] as const;

/** What the VMM needs from a bzImage. */
export interface BzImage {
  /** Boot protocol version, e.g. 0x020f. */
  readonly protocol: number;
  /** The setup header bytes (0x1f1 up to 0x202 + byte 0x201). */
  readonly setupHeader: Uint8Array;
  /** The protected-mode kernel: everything after the setup sectors. */
  readonly kernel: Uint8Array;
  /** Memory the kernel needs from its load address while it decompresses (setup_header.init_size). */
  readonly initSize: number;
  /** setup_header.initrd_addr_max: the highest address the initrd may end at (inclusive). */
  readonly initrdAddrMax: number;
  /** setup_header.cmdline_size: the longest command line, without the NUL. */
  readonly cmdlineSize: number;
  /** setup_header.kernel_version: the version string, if present. */
  readonly version: string | undefined;
}

/** True when `b` looks like a bzImage: the boot-sector signature and "HdrS". */
export function isBzImage(b: Uint8Array): boolean {
  if (b.length < 0x264) return false;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return dv.getUint16(0x1fe, true) === 0xaa55 && dv.getUint32(0x202, true) === 0x53726448;
}

/** Parses a bzImage's setup header and checks it can be entered through the 64-bit protocol. */
export function parseBzImage(b: Uint8Array): BzImage {
  if (!isBzImage(b)) throw new ImageError('not a bzImage (no 0xAA55 boot signature and "HdrS" header at 0x202)');
  const hdr = setup_header.decode(b, 0x1f1);
  if (hdr.version < 0x020c) throw new ImageError(`boot protocol ${fmtProto(hdr.version)} is too old: the 64-bit entry needs 2.12 or later`);
  if (!(hdr.xloadflags & XLF.KERNEL_64)) throw new ImageError('the kernel has no 64-bit entry point (xloadflags lacks XLF_KERNEL_64)');
  if (!(hdr.loadflags & LOADFLAGS.LOADED_HIGH)) throw new ImageError('not a bzImage: the kernel does not load at 1 MiB (loadflags LOADED_HIGH clear)');
  const setupSects = hdr.setup_sects || 4;
  const kernelOff = (setupSects + 1) * 512;
  if (kernelOff >= b.length) throw new ImageError(`the bzImage is truncated: ${setupSects} setup sectors, ${b.length} bytes`);
  const hdrEnd = 0x202 + b[0x201]!;
  return {
    protocol: hdr.version,
    setupHeader: b.slice(0x1f1, hdrEnd),
    kernel: b.subarray(kernelOff),
    initSize: hdr.init_size,
    initrdAddrMax: hdr.initrd_addr_max,
    cmdlineSize: hdr.cmdline_size,
    version: hdr.kernel_version ? cString(b, hdr.kernel_version + 0x200) : undefined,
  };
}

const fmtProto = (v: number) => `${v >> 8}.${(v & 0xff).toString().padStart(2, '0')}`;

function cString(b: Uint8Array, off: number): string | undefined {
  if (off >= b.length) return undefined;
  let e = off;
  while (e < b.length && b[e] !== 0 && e - off < 256) e++;
  return Buffer.from(b.subarray(off, e)).toString('latin1');
}

/** One E820 range. */
export interface E820Entry {
  readonly addr: number;
  readonly size: number;
  readonly type: number;
}

/** A boot's inputs: the RAM layout and what goes into it. */
export interface X86LinuxBoot {
  readonly image: BzImage;
  /** Guest RAM size (bytes from gpa 0; above MMIO_HOLE it continues at 4 GiB). */
  readonly memSize: number;
  readonly cmdline: string;
  readonly initrd?: Uint8Array;
}

/** Where things went. */
export interface X86LinuxLayout {
  /** The 64-bit entry point (KERNEL + 0x200). */
  readonly entry: number;
  readonly zeroPage: number;
  readonly initrd?: { readonly addr: number; readonly size: number };
  readonly e820: readonly E820Entry[];
}

/** The RAM ranges of a guest with `memSize` bytes: [0, hole) and, beyond it, from 4 GiB. */
export function x86RamRanges(memSize: number): { gpa: number; size: number }[] {
  const low = Math.min(memSize, X86_LINUX.MMIO_HOLE);
  const r = [{ gpa: 0, size: low }];
  if (memSize > low) r.push({ gpa: 0x1_0000_0000, size: memSize - low });
  return r;
}

/**
 * Writes the kernel, initrd, command line, zero page, GDT and page tables into guest memory.
 * `mem(gpa, len)` returns the bytes of guest RAM at `gpa`.
 */
export function loadX86Linux(boot: X86LinuxBoot, mem: (gpa: number, len: number) => Uint8Array): X86LinuxLayout {
  const { image, memSize } = boot;
  const lowEnd = Math.min(memSize, X86_LINUX.MMIO_HOLE);
  // The kernel decompresses itself at max(load address, LOAD_PHYSICAL_ADDR = 16 MiB, aligned)
  // and needs init_size bytes there; keep a margin for the initrd above it.
  const kernelEnd = X86_LINUX.KERNEL + image.kernel.length;
  const needed = Math.max(kernelEnd, 0x100_0000 + image.initSize);
  if (lowEnd < needed) throw new ImageError(`the kernel needs at least ${mib(needed)} of RAM below 3 GiB (init_size ${mib(image.initSize)}); use a larger --mem`);
  const cmd = Buffer.from(boot.cmdline, 'latin1');
  if (cmd.length > Math.min(image.cmdlineSize || 255, X86_LINUX.CMDLINE_MAX - 1)) {
    throw new ImageError(`the command line is ${cmd.length} bytes; this kernel takes at most ${image.cmdlineSize}`);
  }

  mem(X86_LINUX.KERNEL, image.kernel.length).set(image.kernel);
  const c = mem(X86_LINUX.CMDLINE, cmd.length + 1);
  c.set(cmd);
  c[cmd.length] = 0;

  // The initrd: page-aligned at the top of low RAM, below initrd_addr_max (as bootloaders do).
  let initrd: X86LinuxLayout['initrd'];
  if (boot.initrd && boot.initrd.length) {
    const max = Math.min(lowEnd, (image.initrdAddrMax >>> 0) + 1);
    const addr = Math.floor((max - boot.initrd.length) / 4096) * 4096;
    if (addr < needed) throw new ImageError(`the initrd (${mib(boot.initrd.length)}) does not fit above the kernel in ${mib(lowEnd)} of RAM; use a larger --mem`);
    mem(addr, boot.initrd.length).set(boot.initrd);
    initrd = { addr, size: boot.initrd.length };
  }

  const e820: E820Entry[] = [
    { addr: 0, size: X86_LINUX.EBDA_START, type: E820_TYPE.RAM },
    { addr: X86_LINUX.EBDA_START, size: 0x100000 - X86_LINUX.EBDA_START, type: E820_TYPE.RESERVED },
    { addr: 0x100000, size: lowEnd - 0x100000, type: E820_TYPE.RAM },
  ];
  if (memSize > lowEnd) e820.push({ addr: 0x1_0000_0000, size: memSize - lowEnd, type: E820_TYPE.RAM });
  if (e820.length > E820_MAX_ENTRIES_ZEROPAGE) throw new Error('too many E820 entries');

  // The zero page: zeros, the image's setup header, then what the loader owns.
  const zp = mem(X86_LINUX.ZERO_PAGE, boot_params.size);
  zp.fill(0);
  zp.set(image.setupHeader, 0x1f1);
  const bp = boot_params.view(zp);
  bp.hdr.type_of_loader = 0xff; // "undefined" boot loader
  bp.hdr.loadflags = (bp.hdr.loadflags & ~LOADFLAGS.QUIET_FLAG) | LOADFLAGS.CAN_USE_HEAP;
  bp.hdr.heap_end_ptr = 0xfe00;
  bp.hdr.vid_mode = 0xffff; // "normal"
  bp.hdr.cmd_line_ptr = X86_LINUX.CMDLINE;
  bp.ext_cmd_line_ptr = 0;
  if (initrd) {
    bp.hdr.ramdisk_image = initrd.addr;
    bp.hdr.ramdisk_size = initrd.size;
  }
  bp.e820_entries = e820.length;
  e820.forEach((e, i) => {
    const v = bp.e820_table.get(i);
    v.addr = BigInt(e.addr);
    v.size = BigInt(e.size);
    v.type = e.type;
  });

  // GDT and the identity map of the low 4 GiB (2 MiB pages: PS | RW | P).
  const gdt = mem(X86_LINUX.GDT, 8 * X86_LINUX_GDT.length);
  const gdv = new DataView(gdt.buffer, gdt.byteOffset, gdt.byteLength);
  X86_LINUX_GDT.forEach((d, i) => gdv.setBigUint64(8 * i, d, true));
  const pt = mem(X86_LINUX.PML4, 0x6000);
  const pdv = new DataView(pt.buffer, pt.byteOffset, pt.byteLength);
  pt.fill(0);
  pdv.setBigUint64(0, BigInt(X86_LINUX.PDPT) | 3n, true);
  for (let i = 0; i < 4; i++) pdv.setBigUint64(X86_LINUX.PDPT - X86_LINUX.PML4 + 8 * i, BigInt(X86_LINUX.PD + 0x1000 * i) | 3n, true);
  for (let i = 0; i < 4 * 512; i++) pdv.setBigUint64(X86_LINUX.PD - X86_LINUX.PML4 + 8 * i, (BigInt(i) << 21n) | 0x83n, true);

  return { entry: X86_LINUX.KERNEL + 0x200, zeroPage: X86_LINUX.ZERO_PAGE, ...(initrd ? { initrd } : {}), e820 };
}

const mib = (n: number) => `${(n / (1 << 20)).toFixed(n % (1 << 20) ? 1 : 0)} MiB`;
