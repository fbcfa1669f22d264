/**
 * KVM_GET_XSAVE / KVM_GET_XSAVE2 / KVM_SET_XSAVE and KVM_GET/SET_XCRS with the kernel's rules
 * (Linux 6.12 arch/x86/kvm/x86.c, arch/x86/kernel/fpu/{core,xstate}.c): the standard-format image
 * with components not in use written as their initial state and left out of XSTATE_BV, the
 * user xstate mask in sw_reserved, EINVAL for XSTATE_BV outside what the host saves, a non-zero
 * XCOMP_BV, reserved header bytes or a reserved MXCSR bit; SET_XCRS taking the first XCR0 entry
 * within the guest CPUID's leaf 0xD.
 */
import { describe, expect, it } from 'vitest';
import { KVM_CAP, Kvm, virtualSys, x86_64 } from '../../src/index.js';

const S = x86_64.structs;
const I = x86_64.ioctls;
const req = (n: keyof typeof I) => I[n]!.request;

function errnoOf(f: () => unknown): string {
  try {
    f();
    return '';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

function setup(cpuid = true) {
  const sys = virtualSys({ arch: 'x86_64' });
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const vcpu = vm.createVcpu(0);
  if (cpuid) vcpu.setCpuid2(kvm.supportedCpuid());
  const get = (n: 'KVM_GET_XSAVE' | 'KVM_GET_XSAVE2' = 'KVM_GET_XSAVE') => {
    const b = new Uint8Array(S.kvm_xsave.size).fill(0xee);
    sys.ioctl(vcpu.fd, req(n), b);
    return b;
  };
  const set = (b: Uint8Array) => errnoOf(() => sys.ioctl(vcpu.fd, req('KVM_SET_XSAVE'), b));
  return { sys, kvm, vm, vcpu, get, set };
}

const dvOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

describe('KVM_GET/SET_XSAVE', () => {
  it('KVM_CAP_XSAVE is 1 and KVM_CAP_XSAVE2 is sizeof(struct kvm_xsave)', () => {
    const { kvm, vm } = setup();
    expect(S.kvm_xsave.size).toBe(4096);
    expect(kvm.checkExtension(KVM_CAP.XSAVE)).toBe(1);
    expect(vm.checkExtension(KVM_CAP.XSAVE2)).toBe(4096);
  });

  it('a fresh vCPU: nothing in use, the initial FCW/MXCSR, the user xstate mask in sw_reserved', () => {
    const { get } = setup();
    const b = get();
    const dv = dvOf(b);
    expect(dv.getUint16(0, true)).toBe(0x37f);
    expect(dv.getUint32(24, true)).toBe(0x1f80);
    expect(dv.getUint32(28, true)).toBe(0xffff);
    expect(dv.getBigUint64(464, true)).toBe(3n);
    expect(dv.getBigUint64(512, true)).toBe(0n); // XSTATE_BV
    expect(dv.getBigUint64(520, true)).toBe(0n); // XCOMP_BV
    // Everything else is zero (the kernel zero-fills the whole struct).
    const rest = b.slice();
    rest.fill(0, 0, 2);
    rest.fill(0, 24, 32);
    rest.fill(0, 464, 472);
    expect(rest.every((x) => x === 0)).toBe(true);
    expect(Buffer.from(get('KVM_GET_XSAVE2')).equals(Buffer.from(b))).toBe(true);
  });

  it('state set with KVM_SET_FPU comes back in the image with XSTATE_BV = x87 | SSE, and round-trips', () => {
    const { vcpu, get, set } = setup();
    const f = vcpu.getFpu();
    f.fcw = 0x27f;
    f.fsw = 0x3800;
    f.ftwx = 0x80;
    f.mxcsr = 0x9fc0;
    f.fpr[7] = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f, 0, 0, 0, 0, 0, 0]);
    f.xmm[15] = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
    vcpu.setFpu(f);
    const b = get();
    const dv = dvOf(b);
    expect(dv.getBigUint64(512, true)).toBe(3n);
    expect([dv.getUint16(0, true), dv.getUint16(2, true), b[4], dv.getUint32(24, true)]).toEqual([0x27f, 0x3800, 0x80, 0x9fc0]);
    expect(Array.from(b.subarray(160 + 15 * 16, 160 + 16 * 16))).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    // Reset the state, then load the image: KVM_GET_FPU sees the same registers.
    expect(set(new Uint8Array(4096))).toBe('');
    expect(vcpu.getFpu().fcw).toBe(0x37f);
    expect(vcpu.getFpu().mxcsr).toBe(0x1f80);
    expect(set(b)).toBe('');
    const g = vcpu.getFpu();
    expect([g.fcw, g.fsw, g.ftwx, g.mxcsr]).toEqual([0x27f, 0x3800, 0x80, 0x9fc0]);
    expect(Array.from(g.fpr[7]!.subarray(0, 10))).toEqual([0, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0x3f]);
    expect(Array.from(g.xmm[15]!)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
  });

  it('XSTATE_BV selects what is loaded; the rest goes to its initial state', () => {
    const { vcpu, get, set } = setup();
    const f = vcpu.getFpu();
    f.fcw = 0x27f;
    f.mxcsr = 0x9fc0;
    f.xmm[0] = new Uint8Array(16).fill(7);
    vcpu.setFpu(f);
    const b = get();
    dvOf(b).setBigUint64(512, 1n, true); // x87 only
    expect(set(b)).toBe('');
    let g = vcpu.getFpu();
    expect([g.fcw, g.mxcsr, g.xmm[0]![0]]).toEqual([0x27f, 0x1f80, 0]);
    vcpu.setFpu(f);
    const c = get();
    dvOf(c).setBigUint64(512, 2n, true); // SSE only
    expect(set(c)).toBe('');
    g = vcpu.getFpu();
    expect([g.fcw, g.mxcsr, g.xmm[0]![0]]).toEqual([0x37f, 0x9fc0, 7]);
  });

  it('EINVAL: XSTATE_BV outside the host mask, XCOMP_BV, reserved header bytes, a reserved MXCSR bit', () => {
    const { vcpu, get, set } = setup();
    const ok = get();
    const bad = (edit: (dv: DataView) => void) => {
      const b = ok.slice();
      edit(dvOf(b));
      return set(b);
    };
    expect(bad((dv) => dv.setBigUint64(512, 4n, true))).toBe('EINVAL');
    expect(bad((dv) => dv.setBigUint64(512, 1n << 32n, true))).toBe('EINVAL');
    expect(bad((dv) => dv.setBigUint64(520, 0x8000000000000003n, true))).toBe('EINVAL');
    expect(bad((dv) => dv.setUint8(512 + 63, 1))).toBe('EINVAL');
    expect(bad((dv) => (dv.setBigUint64(512, 2n, true), dv.setUint32(24, 0x10000, true)))).toBe('EINVAL');
    expect(bad((dv) => (dv.setBigUint64(512, 1n, true), dv.setUint32(24, 0x10000, true)))).toBe('EINVAL');
    // MXCSR is only checked when x87 or SSE is in XSTATE_BV.
    expect(bad((dv) => (dv.setBigUint64(512, 0n, true), dv.setUint32(24, 0x10000, true)))).toBe('');
    expect(vcpu.getFpu().mxcsr).toBe(0x1f80);
  });
});

describe('KVM_GET/SET_XCRS', () => {
  const xcrs = (entries: [number, bigint][], flags = 0) => {
    const xs = Array.from({ length: 16 }, (_, i) => ({ xcr: entries[i]?.[0] ?? 0, reserved: 0, value: entries[i]?.[1] ?? 0n }));
    return S.kvm_xcrs.encode({ nr_xcrs: entries.length, flags, xcrs: xs, padding: new Array(16).fill(0n) });
  };
  const getXcr0 = (sys: ReturnType<typeof setup>['sys'], fd: number) => {
    const b = new Uint8Array(S.kvm_xcrs.size);
    sys.ioctl(fd, req('KVM_GET_XCRS'), b);
    const x = S.kvm_xcrs.decode(b);
    return [x.nr_xcrs, x.xcrs[0]!.xcr, x.xcrs[0]!.value];
  };

  it('XCR0 is x87 at reset; the first XCR0 entry is applied, other indexes ignored', () => {
    const { sys, vcpu } = setup();
    expect(getXcr0(sys, vcpu.fd)).toEqual([1, 0, 1n]);
    expect(errnoOf(() => sys.ioctl(vcpu.fd, req('KVM_SET_XCRS'), xcrs([[1, 7n], [0, 3n], [0, 1n]])))).toBe('');
    expect(getXcr0(sys, vcpu.fd)).toEqual([1, 0, 3n]);
  });

  it('EINVAL: flags, more than 16 entries, x87 off, bits outside the guest CPUID leaf 0xD', () => {
    const { sys, vcpu } = setup();
    const set = (b: Uint8Array) => errnoOf(() => sys.ioctl(vcpu.fd, req('KVM_SET_XCRS'), b));
    expect(set(xcrs([[0, 3n]], 1))).toBe('EINVAL');
    const many = xcrs([[0, 3n]]);
    dvOf(many).setUint32(0, 17, true);
    expect(set(many)).toBe('EINVAL');
    expect(set(xcrs([[0, 2n]]))).toBe('EINVAL');
    expect(set(xcrs([[0, 7n]]))).toBe('EINVAL');
    expect(getXcr0(sys, vcpu.fd)).toEqual([1, 0, 1n]);
    // No KVM_SET_CPUID2: guest_supported_xcr0 is empty, only x87 is accepted.
    const n = setup(false);
    expect(errnoOf(() => n.sys.ioctl(n.vcpu.fd, req('KVM_SET_XCRS'), xcrs([[0, 3n]])))).toBe('EINVAL');
    expect(errnoOf(() => n.sys.ioctl(n.vcpu.fd, req('KVM_SET_XCRS'), xcrs([[0, 1n]])))).toBe('');
  });
});
