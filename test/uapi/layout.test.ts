/** The layout engine: computed C layouts, encode/decode/view round trips, flexible arrays. */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { array, flex, s16, struct, u16, u32, u64, u8, union, x86_64, arm64, KVM_EXIT, IOW, IOR, IOWR, IO, KVMIO, iocSize, iocDir, iocNr } from '../../src/uapi/index.js';

const { structs: X } = x86_64;

describe('layout computation', () => {
  it('aligns members naturally and pads the tail like gcc', () => {
    const s = struct('t', { a: u8, b: u64, c: u16 });
    expect(s.offsets).toEqual({ a: 0, b: 8, c: 16 });
    expect(s.size).toBe(24);
    expect(s.align).toBe(8);
  });

  it('packs when asked', () => {
    const s = struct('p', { a: u8, b: u32 }, { packed: true });
    expect(s.offsets.b).toBe(1);
    expect(s.size).toBe(5);
  });

  it('hoists anonymous members and overlays union members', () => {
    const s = struct('h', { tag: u32, $u: union(null, { x: u64, y: array(u8, 3) }), tail: u8 });
    expect(s.offsets).toEqual({ tag: 0, x: 8, y: 8, tail: 16 });
    expect(s.size).toBe(24);
  });

  it('knows the kvm_run landmarks of the x86-64 and arm64 ABI', () => {
    for (const run of [X.kvm_run, arm64.structs.kvm_run]) {
      expect(run.size).toBe(2352);
      expect(run.offsetOf('exit_reason')).toBe(8);
      expect(run.offsetOf('io.data_offset')).toBe(40);
      expect(run.offsetOf('mmio.is_write')).toBe(52);
      expect(run.offsetOf('kvm_valid_regs')).toBe(288);
      expect(run.offsetOf('s')).toBe(304);
    }
    expect(X.kvm_run.offsetOf('debug.arch.dr7')).toBe(56);
    expect(arm64.structs.kvm_run.offsetOf('debug.arch.far')).toBe(40);
    expect(X.kvm_run.offsetOf('s.regs.sregs.cr0')).toBe(304 + 144 + 224);
  });

  it('throws for an unknown member path', () => {
    expect(() => X.kvm_regs.offsetOf('eax')).toThrow(/no member eax/);
  });

  it('rejects a flexible array that is not last', () => {
    expect(() => struct('bad', { a: flex(u32), b: u32 })).toThrow(/last/);
  });
});

describe('codec', () => {
  it('encodes a partial object, zeroing the rest, and decodes it back', () => {
    const b = X.kvm_regs.encode({ rip: 0x1000n, rax: 2 });
    expect(b.length).toBe(144);
    const d = X.kvm_regs.decode(b);
    expect(d.rip).toBe(0x1000n);
    expect(d.rax).toBe(2n);
    expect(d.rbx).toBe(0n);
    expect(new DataView(b.buffer).getBigUint64(128, true)).toBe(0x1000n);
  });

  it('round-trips nested structs, byte arrays and arrays of structs', () => {
    const v = { cs: { base: 0xffff0000n, selector: 0xf000, type: 11, present: 1 }, cr0: 0x60000010n, interrupt_bitmap: [1n, 0n, 0n, 1n << 63n] };
    const d = X.kvm_sregs.decode(X.kvm_sregs.encode(v));
    expect(d.cs.base).toBe(0xffff0000n);
    expect(d.cs.selector).toBe(0xf000);
    expect(d.cs.type).toBe(11);
    expect(d.interrupt_bitmap).toEqual([1n, 0n, 0n, 1n << 63n]);
    const fpu = X.kvm_fpu.decode(X.kvm_fpu.encode({ xmm: [new Uint8Array(16).fill(0xab)], mxcsr: 0x1f80 }));
    expect(fpu.xmm[0]).toEqual(new Uint8Array(16).fill(0xab));
    expect(fpu.xmm[1]).toEqual(new Uint8Array(16));
    expect(fpu.mxcsr).toBe(0x1f80);
  });

  it('wraps 64-bit values and sign-extends signed fields', () => {
    const s = struct('w', { a: u64, b: s16 });
    const d = s.decode(s.encode({ a: -1, b: 0xffff }));
    expect(d.a).toBe(0xffff_ffff_ffff_ffffn);
    expect(d.b).toBe(-1);
  });

  it('rejects unknown members and oversized arrays instead of dropping them', () => {
    // @ts-expect-error eax is not a kvm_regs member
    expect(() => X.kvm_regs.encode({ eax: 1 })).toThrow(/no member eax/);
    expect(() => X.kvm_sregs.encode({ interrupt_bitmap: [0n, 0n, 0n, 0n, 0n] })).toThrow(RangeError);
  });

  it('refuses bytes too short for the struct', () => {
    expect(() => X.kvm_regs.decode(new Uint8Array(100))).toThrow(RangeError);
    expect(() => X.kvm_regs.view(new Uint8Array(144), 8)).toThrow(RangeError);
  });

  it('gives zero-copy views whose writes land in the caller bytes', () => {
    const bytes = new Uint8Array(4096);
    const run = X.kvm_run.view(bytes);
    run.exit_reason = KVM_EXIT.IO;
    run.io.port = 0x3f8;
    run.io.data_offset = 4096n;
    const dv = new DataView(bytes.buffer);
    expect(dv.getUint32(8, true)).toBe(2);
    expect(dv.getUint16(34, true)).toBe(0x3f8);
    expect(dv.getBigUint64(40, true)).toBe(4096n);
    // The exit members share one union: mmio.data overlays io.data_offset.
    run.mmio.data[3] = 0x5a;
    expect(bytes[43]).toBe(0x5a);
    expect(run.io.data_offset).toBe(4096n + (0x5an << 24n));
    const dbg = X.kvm_guest_debug.view(new Uint8Array(X.kvm_guest_debug.size));
    dbg.arch.debugreg.set(7, 0x400);
    expect(dbg.arch.debugreg.get(7)).toBe(0x400n);
    expect(() => dbg.arch.debugreg.get(8)).toThrow(RangeError);
  });

  it('computes the real extent of flexible-array structs from their count field', () => {
    const b = X.kvm_msrs.alloc(3);
    expect(b.length).toBe(8 + 3 * 16);
    X.kvm_msrs.encodeInto({ nmsrs: 3, entries: [{ index: 0x10 }, { index: 0xc0000080 }, { index: 0x174, data: 5n }] }, b);
    expect(X.kvm_msrs.extent(b)).toBe(56);
    const v = X.kvm_msrs.view(b);
    expect(v.entries.length).toBe(3);
    expect(v.entries.get(2).data).toBe(5n);
    // Nested: kvm_tdx_capabilities ends in a kvm_cpuid2.
    const caps = X.kvm_tdx_capabilities.alloc(2);
    X.kvm_tdx_capabilities.view(caps).cpuid.nent = 2;
    expect(X.kvm_tdx_capabilities.extent(caps)).toBe(X.kvm_tdx_capabilities.size + 2 * 40);
  });
});

describe('ioctl numbers', () => {
  it('encodes _IO/_IOR/_IOW/_IOWR from the declared sizes', () => {
    expect(IO(KVMIO, 0x80)).toBe(0xae80);
    expect(IOR(KVMIO, 0x81, X.kvm_regs)).toBe(0x8090ae81);
    expect(IOW(KVMIO, 0x46, X.kvm_userspace_memory_region)).toBe(0x4020ae46);
    expect(IOWR(KVMIO, 0x05, X.kvm_cpuid2)).toBe(0xc008ae05);
    expect(x86_64.ioctls.KVM_SET_SREGS!.request).toBe(0x4138ae84);
    expect(iocSize(0x8090ae81)).toBe(144);
    expect(iocDir(0x8090ae81)).toBe(2);
    expect(iocNr(0x8090ae81)).toBe(0x81);
  });

  it('gives arch-specific numbers where the argument layout differs', () => {
    expect(x86_64.ioctls.KVM_GET_REGS!.request).not.toBe(arm64.ioctls.KVM_GET_REGS!.request);
    expect(arm64.ioctls.KVM_GET_REGS!.request).toBe(IOR(KVMIO, 0x81, arm64.structs.kvm_regs.size));
    expect(x86_64.ioctls.KVM_SET_GUEST_DEBUG!.request).toBe(0x4048ae9b);
    expect(arm64.ioctls.KVM_SET_GUEST_DEBUG!.request).toBe(0x4208ae9b);
  });

  it('rejects sizes that do not fit the 14-bit size field', () => {
    expect(() => IOW(KVMIO, 1, 1 << 14)).toThrow(RangeError);
  });
});

describe('types', () => {
  it('types byte arrays as Uint8Array and wide arrays as element arrays', () => {
    const d = x86_64.structs.kvm_run.decode(new Uint8Array(2352));
    expectTypeOf(d.mmio.data).toEqualTypeOf<Uint8Array>();
    expectTypeOf(d.internal.data).toEqualTypeOf<bigint[]>();
    expectTypeOf(d.exit_reason).toEqualTypeOf<number>();
    const v = x86_64.structs.kvm_run.view(new Uint8Array(2352));
    expectTypeOf(v.mmio.data).toEqualTypeOf<Uint8Array>();
    expectTypeOf(v.io.data_offset).toEqualTypeOf<bigint>();
    expect(v.mmio.data).toBeInstanceOf(Uint8Array);
    expect(Array.isArray(d.internal.data)).toBe(true);
  });
});

describe('flexible arrays in encode', () => {
  it('makes room for the elements given', () => {
    const b = x86_64.structs.kvm_msrs.encode({ nmsrs: 2, entries: [{ index: 1 }, { index: 2, data: 3n }] });
    expect(b.length).toBe(8 + 2 * 16);
    expect(x86_64.structs.kvm_msrs.view(b).entries.get(1).data).toBe(3n);
    const c = x86_64.structs.kvm_tdx_init_vm.encode({ cpuid: { nent: 1, entries: [{ function: 7 }] } });
    expect(c.length).toBe(x86_64.structs.kvm_tdx_init_vm.size + 40);
  });
});
