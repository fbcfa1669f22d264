/**
 * Guest images: ELF (32- or 64-bit, little-endian; PT_LOAD segments placed at their physical
 * addresses) or a flat binary (placed at one load address). Pure parsing: no KVM here.
 * @module
 */
import type { Arch } from '../index.js';

/** One piece of the image to copy into guest memory. */
export interface Segment {
  readonly gpa: number;
  /** Bytes from the file; the rest of `memSize` is zero (fresh guest RAM already is). */
  readonly bytes: Uint8Array;
  readonly memSize: number;
}

export interface LoadedImage {
  readonly format: 'elf' | 'flat';
  readonly segments: readonly Segment[];
  /** Entry point (ELF e_entry); undefined for a flat binary (the board decides). */
  readonly entry?: number;
  /** The arch an ELF declares (e_machine); undefined for a flat binary. */
  readonly arch?: Arch;
  /** ELF class for x86: 32-bit images default to protected mode, 64-bit to long mode. */
  readonly elfClass?: 32 | 64;
}

/** A problem with the image itself (the CLI prints it and exits 2). */
export class ImageError extends Error {
  override readonly name = 'ImageError';
}

const EM_386 = 3;
const EM_X86_64 = 62;
const EM_AARCH64 = 183;
const PT_LOAD = 1;

/** Human name of an ELF e_machine. */
export function elfMachineName(m: number): string {
  return m === EM_386 ? 'i386' : m === EM_X86_64 ? 'x86-64' : m === EM_AARCH64 ? 'AArch64' : `e_machine ${m}`;
}

/** True when `bytes` starts with the ELF magic. */
export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

/** Parses an ELF executable into its loadable segments. */
export function parseElf(bytes: Uint8Array): LoadedImage {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (!isElf(bytes) || bytes.length < 52) throw new ImageError('not an ELF file');
  const cls = bytes[4];
  if (cls !== 1 && cls !== 2) throw new ImageError(`unknown ELF class ${cls}`);
  if (bytes[5] !== 1) throw new ImageError('big-endian ELF images are not supported');
  const is64 = cls === 2;
  if (is64 && bytes.length < 64) throw new ImageError('truncated ELF header');
  const machine = dv.getUint16(18, true);
  const arch: Arch | undefined = machine === EM_X86_64 || machine === EM_386 ? 'x86_64' : machine === EM_AARCH64 ? 'arm64' : undefined;
  if (!arch) throw new ImageError(`ELF for ${elfMachineName(machine)}: only x86 and AArch64 images can run here`);
  const entry = is64 ? Number(dv.getBigUint64(24, true)) : dv.getUint32(24, true);
  const phoff = is64 ? Number(dv.getBigUint64(32, true)) : dv.getUint32(28, true);
  const phentsize = dv.getUint16(is64 ? 54 : 42, true);
  const phnum = dv.getUint16(is64 ? 56 : 44, true);
  if (phnum === 0) throw new ImageError('ELF has no program headers');
  if (phoff + phnum * phentsize > bytes.length || phentsize < (is64 ? 56 : 32)) throw new ImageError('ELF program headers lie outside the file');
  const segments: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (dv.getUint32(p, true) !== PT_LOAD) continue;
    const [offset, paddr, filesz, memsz] = is64
      ? [Number(dv.getBigUint64(p + 8, true)), Number(dv.getBigUint64(p + 24, true)), Number(dv.getBigUint64(p + 32, true)), Number(dv.getBigUint64(p + 40, true))]
      : [dv.getUint32(p + 4, true), dv.getUint32(p + 12, true), dv.getUint32(p + 16, true), dv.getUint32(p + 20, true)];
    if (offset + filesz > bytes.length) throw new ImageError(`ELF segment ${i} lies outside the file`);
    if (memsz < filesz) throw new ImageError(`ELF segment ${i}: p_memsz < p_filesz`);
    segments.push({ gpa: paddr, bytes: bytes.subarray(offset, offset + filesz), memSize: memsz });
  }
  if (segments.length === 0) throw new ImageError('ELF has no PT_LOAD segment');
  return { format: 'elf', segments, entry, arch, elfClass: is64 ? 64 : 32 };
}

/** Reads an image: ELF when it has the magic, else a flat binary to place at `flatLoadAddr`. */
export function loadImage(bytes: Uint8Array, flatLoadAddr: number): LoadedImage {
  if (bytes.length === 0) throw new ImageError('the image is empty');
  if (isElf(bytes)) return parseElf(bytes);
  return { format: 'flat', segments: [{ gpa: flatLoadAddr, bytes, memSize: bytes.length }] };
}
