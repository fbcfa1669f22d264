/**
 * The capabilities Firecracker checks at start-up (src/vmm/src/vstate/vm: `check_required_capabilities`;
 * x86 14, arm64 7) answer KVM_CHECK_EXTENSION with a positive value -- on the system fd and on a VM
 * fd -- and each one works: the test iterates the list and exercises every capability with the
 * smallest thing a VMM does with it (a guest access for USER_MEMORY and IOEVENTFD, an interrupt
 * made pending for IRQFD, a set/get round trip for the state ioctls, a guest CPUID and a PSCI call
 * for EXT_CPUID and ARM_PSCI_0_2). Virtual backend; /dev/kvm where present.
 */
import { describe, expect, it } from 'vitest';
import { arm64, EventFd, hostArch, isNativeAvailable, Kvm, KVM_CAP, KVM_DEV_TYPE, KVM_MP_STATE, KVM_REG, nativeSys, virtualSys, x86_64, type Arch, type Sys } from '../../src/index.js';
import { runToExit } from '../helpers/run.js';
import { CODE, enterMode, RAM, STACK, writeGdt, writePageTables } from '../helpers/x86.js';

/** Firecracker's lists (its KVM capability checks, x86_64 and aarch64). */
const REQUIRED: Record<Arch, readonly (keyof typeof KVM_CAP)[]> = {
  x86_64: ['IRQCHIP', 'IOEVENTFD', 'IRQFD', 'USER_MEMORY', 'SET_TSS_ADDR', 'PIT2', 'PIT_STATE2', 'ADJUST_CLOCK', 'DEBUGREGS', 'MP_STATE', 'VCPU_EVENTS', 'XCRS', 'XSAVE', 'EXT_CPUID'],
  arm64: ['IOEVENTFD', 'IRQFD', 'USER_MEMORY', 'ARM_PSCI_0_2', 'DEVICE_CTRL', 'MP_STATE', 'ONE_REG'],
};

const X = x86_64.structs;
const req = (n: 'KVM_GET_XCRS' | 'KVM_SET_XCRS' | 'KVM_GET_XSAVE' | 'KVM_SET_XSAVE') => x86_64.ioctls[n]!.request;

function code(e: unknown): string {
  return (e as { code?: string }).code ?? String(e);
}

/** An x86 VM with 2 MiB of RAM at 0 and one vCPU in long mode at CODE running `bytes` (the irqchip, as KVM wants it, before the vCPU). */
function x86Vm(sys: Sys, bytes: number[] = [0xf4], irqchip: 'none' | 'irqchip' | 'irqchip+pit' = 'none') {
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  if (irqchip !== 'none') vm.createIrqchip();
  if (irqchip === 'irqchip+pit') vm.createPit2();
  const ram = sys.alloc(RAM);
  writeGdt(ram.bytes);
  writePageTables(ram.bytes);
  ram.bytes.set(bytes, CODE);
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  vcpu.setCpuid2(kvm.supportedCpuid());
  enterMode(vcpu, 'long64');
  vcpu.setRegs({ rip: BigInt(CODE), rsp: BigInt(STACK), rflags: 2n });
  return { kvm, vm, ram, vcpu };
}

const ARM_RAM = 0x4000_0000;
const ARM_MMIO = 0x1000_0000;
/** An arm64 VM with 2 MiB of RAM at 1 GiB and one vCPU (PSCI 0.2) at its start running `insns`. */
function armVm(sys: Sys, insns: number[] = []) {
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const ram = sys.alloc(0x20_0000);
  const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset);
  insns.forEach((w, i) => dv.setUint32(4 * i, w, true));
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: ARM_RAM, memorySize: 0x20_0000, userspaceAddr: ram.hva });
  const vcpu = vm.createVcpu(0);
  vcpu.armInit([arm64.KVM_ARM_VCPU.PSCI_0_2]);
  vcpu.setOneReg(arm64.coreRegId('regs.pc'), ARM_RAM);
  return { kvm, vm, ram, vcpu };
}

/** A vGICv3 at the usual addresses (distributor 0x0800_0000, redistributors 0x080a_0000), initialised. */
function vgic(vm: ReturnType<Kvm['createVm']>) {
  const { KVM_DEV_ARM_VGIC: G, KVM_VGIC: A } = arm64;
  const gic = vm.createDevice(KVM_DEV_TYPE.ARM_VGIC_V3)!;
  gic.setAttr({ group: G.GRP_ADDR, attr: A.V3_ADDR_TYPE_DIST }, 0x0800_0000);
  gic.setAttr({ group: G.GRP_ADDR, attr: A.V3_ADDR_TYPE_REDIST }, 0x080a_0000);
  gic.setAttr({ group: G.GRP_CTRL, attr: G.CTRL_INIT });
  return gic;
}

type Exercise = (sys: Sys) => void;

const X86: Record<string, Exercise> = {
  IRQCHIP: (sys) => {
    const { vm } = x86Vm(sys, undefined, 'irqchip');
    // The IOAPIC comes up with every redirection entry masked; a second irqchip is refused.
    expect(vm.getIrqchip(x86_64.KVM_IRQCHIP.IOAPIC).chip.ioapic.redirtbl.every((r) => (r.bits >> 16n) & 1n)).toBe(true);
    expect(code(catching(() => vm.createIrqchip()))).toBe('EEXIST');
  },
  IOEVENTFD: (sys) => {
    // out 0x10, al; hlt: the OUT completes in the kernel (no exit), the eventfd counts it.
    const { vm, vcpu } = x86Vm(sys, [0xe6, 0x10, 0xf4]);
    const e = EventFd.create(sys);
    vm.ioeventfd({ fd: e.fd, addr: 0x10, len: 1, pio: true });
    expect(runToExit(vcpu).reason).toBe('hlt');
    expect(e.tryRead()).toBe(1n);
  },
  IRQFD: (sys) => {
    const { vm } = x86Vm(sys, undefined, 'irqchip');
    const e = EventFd.create(sys);
    vm.irqfd({ fd: e.fd, gsi: 3 });
    e.signal();
    // GSI 3 reaches the master i8259's pin 3 (an edge: IRR latches it).
    expect(vm.getIrqchip(x86_64.KVM_IRQCHIP.PIC_MASTER).chip.pic.irr & 8).toBe(8);
  },
  USER_MEMORY: (sys) => {
    // mov dword [0x20000], 0x1234abcd; hlt: the store lands in the memslot's host memory.
    const { ram, vcpu } = x86Vm(sys, [0xc7, 0x04, 0x25, 0x00, 0x00, 0x02, 0x00, 0xcd, 0xab, 0x34, 0x12, 0xf4]);
    expect(runToExit(vcpu).reason).toBe('hlt');
    expect(new DataView(ram.bytes.buffer, ram.bytes.byteOffset).getUint32(0x20000, true)).toBe(0x1234abcd);
  },
  SET_TSS_ADDR: (sys) => {
    const { vm } = x86Vm(sys);
    vm.setTssAddr(0xfffbd000);
    // The three pages must fit below 4 GiB (vmx_set_tss_addr).
    expect(code(catching(() => vm.setTssAddr(0xfffff000)))).toBe('EINVAL');
  },
  PIT2: (sys) => {
    const { vm } = x86Vm(sys, undefined, 'irqchip+pit');
    expect(vm.getPit2().channels).toHaveLength(3);
    expect(code(catching(() => vm.createPit2()))).toBe('EEXIST');
  },
  PIT_STATE2: (sys) => {
    const { vm } = x86Vm(sys, undefined, 'irqchip+pit');
    const st = vm.getPit2();
    st.channels[2]!.count = 0x1234;
    st.channels[2]!.mode = 2;
    vm.setPit2(st);
    expect(vm.getPit2().channels[2]).toMatchObject({ count: 0x1234, mode: 2 });
  },
  ADJUST_CLOCK: (sys) => {
    const { vm } = x86Vm(sys);
    vm.setClock({ clock: 5_000_000_000n });
    const c = vm.getClock().clock;
    expect(c >= 5_000_000_000n && c < 65_000_000_000n).toBe(true);
  },
  DEBUGREGS: (sys) => {
    const { vcpu } = x86Vm(sys);
    vcpu.setDebugRegs({ db: [0x1000n, 0x2000n, 0x3000n, 0x4000n], dr7: 0x455n });
    const d = vcpu.getDebugRegs();
    expect(d.db).toEqual([0x1000n, 0x2000n, 0x3000n, 0x4000n]);
    expect(d.dr7).toBe(0x455n);
  },
  MP_STATE: (sys) => {
    const { vcpu } = x86Vm(sys, undefined, 'irqchip');
    expect(vcpu.getMpState()).toBe(KVM_MP_STATE.RUNNABLE);
    vcpu.setMpState(KVM_MP_STATE.HALTED);
    expect(vcpu.getMpState()).toBe(KVM_MP_STATE.HALTED);
  },
  VCPU_EVENTS: (sys) => {
    const { vcpu } = x86Vm(sys);
    vcpu.setVcpuEvents({ nmi: { masked: 1 }, interrupt: { shadow: 1 }, flags: 4 /* KVM_VCPUEVENT_VALID_SHADOW */ });
    const e = vcpu.getVcpuEvents();
    expect(e.nmi.masked).toBe(1);
    expect(e.interrupt.shadow).toBe(1);
  },
  XCRS: (sys) => {
    const { vcpu } = x86Vm(sys);
    const xcrs = (value: bigint) => X.kvm_xcrs.encode({ nr_xcrs: 1, flags: 0, xcrs: Array.from({ length: 16 }, (_, i) => ({ xcr: 0, reserved: 0, value: i ? 0n : value })), padding: new Array(16).fill(0n) });
    sys.ioctl(vcpu.fd, req('KVM_SET_XCRS'), xcrs(3n)); // XCR0 = x87 | SSE
    const b = new Uint8Array(X.kvm_xcrs.size);
    sys.ioctl(vcpu.fd, req('KVM_GET_XCRS'), b);
    expect(X.kvm_xcrs.decode(b).xcrs[0]).toMatchObject({ xcr: 0, value: 3n });
  },
  XSAVE: (sys) => {
    const { vcpu } = x86Vm(sys);
    const f = vcpu.getFpu();
    f.xmm[3] = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
    vcpu.setFpu(f);
    const b = new Uint8Array(X.kvm_xsave.size);
    sys.ioctl(vcpu.fd, req('KVM_GET_XSAVE'), b);
    expect([...b.subarray(160 + 3 * 16, 160 + 4 * 16)]).toEqual([...f.xmm[3]!]); // the legacy area's XMM3
    b[160 + 3 * 16] = 0x55;
    sys.ioctl(vcpu.fd, req('KVM_SET_XSAVE'), b);
    expect(vcpu.getFpu().xmm[3]![0]).toBe(0x55);
  },
  EXT_CPUID: (sys) => {
    // mov eax, 0x80000001; cpuid; hlt: the guest sees the leaf KVM_SET_CPUID2 gave it.
    const { kvm, vcpu } = x86Vm(sys, [0xb8, 0x01, 0x00, 0x00, 0x80, 0x0f, 0xa2, 0xf4]);
    const leaf = kvm.supportedCpuid().find((e) => e.function === 0x80000001)!;
    expect(leaf).toBeDefined();
    expect(leaf.edx & (1 << 29)).not.toBe(0); // long mode
    expect(runToExit(vcpu).reason).toBe('hlt');
    const r = vcpu.getRegs();
    expect([Number(r.rcx), Number(r.rdx)]).toEqual([leaf.ecx >>> 0, leaf.edx >>> 0]);
  },
};

// arm64 instructions (A64 encodings).
const MOVZ_X0_MMIO = 0xd2a20000; // movz x0, #0x1000, lsl #16   (x0 = 0x1000_0000)
const STR_W1_X0 = 0xb9000001; // str w1, [x0]
const STR_W1_X0_8 = 0xb9000801; // str w1, [x0, #8]
const MOVZ_W0_PSCI = 0x52b08000; // movz w0, #0x8400, lsl #16  (PSCI_VERSION 0x8400_0000)
const MOVK_W0_8 = 0x72800100; // movk w0, #8               (SYSTEM_OFF 0x8400_0008)
const HVC_0 = 0xd4000002; // hvc #0
const MOV_X19_X0 = 0xaa0003f3; // mov x19, x0
const PSCI_VERSION_REG = KVM_REG.ARM64 | KVM_REG.SIZE_U64 | BigInt(arm64.KVM_REG_ARM.FW) | 0n;

const ARM: Record<string, Exercise> = {
  IOEVENTFD: (sys) => {
    // The first store completes in the kernel (the ioeventfd), the second exits to userspace.
    const { vm, vcpu } = armVm(sys, [MOVZ_X0_MMIO, STR_W1_X0, STR_W1_X0_8]);
    const e = EventFd.create(sys);
    vm.ioeventfd({ fd: e.fd, addr: ARM_MMIO, len: 4 });
    expect(runToExit(vcpu)).toMatchObject({ reason: 'mmio', physAddr: BigInt(ARM_MMIO + 8), isWrite: true });
    expect(e.tryRead()).toBe(1n);
  },
  IRQFD: (sys) => {
    const { vm } = armVm(sys);
    const gic = vgic(vm);
    const G = arm64.KVM_DEV_ARM_VGIC;
    gic.setAttr({ group: G.GRP_DIST_REGS, attr: 0xc08 }, 2); // GICD_ICFGR2: SPI 32 edge-triggered
    const e = EventFd.create(sys);
    vm.irqfd({ fd: e.fd, gsi: 0 }); // GSI 0 is SPI 32
    e.signal();
    expect(Number(gic.getAttr({ group: G.GRP_DIST_REGS, attr: 0x204 })) & 1).toBe(1); // GICD_ISPENDR1
  },
  USER_MEMORY: (sys) => {
    // str w1, [x0] to RAM, then to MMIO (the exit): the first store is in the memslot's memory.
    const { ram, vcpu } = armVm(sys, [0xd2a80000 /* movz x0, #0x4000, lsl #16 */, 0x91400400 /* add x0, x0, #1, lsl #12 */, STR_W1_X0, MOVZ_X0_MMIO, STR_W1_X0]);
    vcpu.setOneReg(arm64.coreRegId('regs.regs[1]'), 0x1234abcd);
    expect(runToExit(vcpu)).toMatchObject({ reason: 'mmio', physAddr: BigInt(ARM_MMIO) });
    expect(new DataView(ram.bytes.buffer, ram.bytes.byteOffset).getUint32(0x1000, true)).toBe(0x1234abcd);
  },
  ARM_PSCI_0_2: (sys) => {
    // PSCI_VERSION through HVC (the version KVM_REG_ARM_PSCI_VERSION says), then SYSTEM_OFF.
    const { vcpu } = armVm(sys, [MOVZ_W0_PSCI, HVC_0, MOV_X19_X0, MOVZ_W0_PSCI, MOVK_W0_8, HVC_0]);
    expect(runToExit(vcpu)).toMatchObject({ reason: 'system_event', type: 1 /* KVM_SYSTEM_EVENT_SHUTDOWN */ });
    const version = vcpu.getOneReg(PSCI_VERSION_REG);
    expect(version >= 2n).toBe(true); // 0.2 or later
    expect(vcpu.getOneReg(arm64.coreRegId('regs.regs[19]'))).toBe(version);
  },
  DEVICE_CTRL: (sys) => {
    const { vm } = armVm(sys);
    expect(vm.createDevice(KVM_DEV_TYPE.ARM_VGIC_V3, { test: true })).toBeNull(); // KVM_CREATE_DEVICE_TEST: supported
    const gic = vgic(vm);
    const G = arm64.KVM_DEV_ARM_VGIC;
    expect(gic.getAttr({ group: G.GRP_ADDR, attr: arm64.KVM_VGIC.V3_ADDR_TYPE_DIST })).toBe(0x0800_0000n);
    expect(gic.hasAttr({ group: G.GRP_CTRL, attr: G.CTRL_INIT })).toBe(true);
  },
  MP_STATE: (sys) => {
    const { vcpu } = armVm(sys);
    expect(vcpu.getMpState()).toBe(KVM_MP_STATE.RUNNABLE);
    vcpu.setMpState(KVM_MP_STATE.STOPPED);
    expect(vcpu.getMpState()).toBe(KVM_MP_STATE.STOPPED);
  },
  ONE_REG: (sys) => {
    const { vcpu } = armVm(sys);
    const x7 = arm64.coreRegId('regs.regs[7]');
    vcpu.setOneReg(x7, 0x0123_4567_89ab_cdefn);
    expect(vcpu.getOneReg(x7)).toBe(0x0123_4567_89ab_cdefn);
    expect(vcpu.regList()).toContain(x7);
  },
};

function catching(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return 'no error';
}

const EXERCISES: Record<Arch, Record<string, Exercise>> = { x86_64: X86, arm64: ARM };

const backends: { name: string; arch: Arch; make: () => Sys }[] = [
  { name: 'virtual x86_64', arch: 'x86_64', make: () => virtualSys({ arch: 'x86_64' }) },
  { name: 'virtual arm64', arch: 'arm64', make: () => virtualSys({ arch: 'arm64' }) },
  ...(isNativeAvailable() && hostArch() ? [{ name: `native ${hostArch()}`, arch: hostArch()!, make: () => nativeSys() }] : []),
];

describe.each(backends)("Firecracker's required capabilities ($name)", ({ arch, make }) => {
  it.each(REQUIRED[arch].map((c) => [c]))('KVM_CAP_%s answers 1 and works', (cap) => {
    const sys = make();
    const kvm = Kvm.open(sys);
    const n = KVM_CAP[cap];
    expect(n).toBeTypeOf('number');
    expect(kvm.checkExtension(n)).toBeGreaterThan(0);
    expect(kvm.createVm().checkExtension(n)).toBeGreaterThan(0);
    const exercise = EXERCISES[arch][cap];
    expect(exercise).toBeDefined();
    exercise!(sys);
  });

  it('the list is complete: every capability has its exercise', () => {
    expect(Object.keys(EXERCISES[arch]).sort()).toEqual([...REQUIRED[arch]].sort());
  });
});
