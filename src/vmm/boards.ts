/**
 * The two boards the mini-VMM builds: guest memory map, devices, and how the boot vCPU starts.
 * Everything goes through the typed API (`Vm`, `Vcpu`) -- KVM_SET_SREGS/REGS on x86,
 * KVM_ARM_VCPU_INIT and KVM_SET_ONE_REG on arm64 -- so it works on any backend.
 * @module
 */
import { arm64, KVM_DEV_TYPE, KVM_GUESTDBG, x86_64, type Arch, type Vcpu, type Vm, type X86Segment } from '../index.js';
import { Bus, DebugCon, ExitDevice, Pl011, ResultPort, Uart16550, type ConsoleSink } from './devices.js';
import type { IrqLine } from './irq.js';

/** The CPU mode an x86 guest is entered in. */
export type X86Mode = 'real' | 'protected' | 'long';

/** Register values to set before the first KVM_RUN, by KVM's names (rdi, x0, ...). */
export type InitialRegs = Readonly<Record<string, bigint>>;

/** What the run loop needs from a board. */
export interface Board {
  readonly arch: Arch;
  /** Guest-physical base of RAM. */
  readonly ramBase: number;
  /** Where a flat image goes when no load address is given. */
  readonly flatLoadAddr: number;
  /** Port IO devices (x86) and MMIO devices. */
  readonly io: Bus;
  readonly mmio: Bus;
  readonly exitDevice: ExitDevice;
  readonly result: ResultPort;
  /** Guest-physical ranges the VMM itself writes (boot tables) that an image must not overlap. */
  readonly reserved: readonly [number, number][];
  /** Writes the board's boot data (GDT, page tables...) into RAM. */
  prepareMemory(ram: Uint8Array): void;
  /** Sets the boot vCPU's state: entry point, stack, mode, then `regs`. */
  setupVcpu(vcpu: Vcpu, entry: number, ramSize: number, regs: InitialRegs): void;
  /** The guest's program counter. */
  pc(vcpu: Vcpu): bigint;
  /** General registers for a breakpoint report. */
  dumpRegs(vcpu: Vcpu): string;
  /**
   * A HLT exit (no in-kernel irqchip): undefined when the VMM will wake the vCPU with an
   * interrupt (the run goes on), else how the run ends. Default: the guest is done.
   */
  onHlt?(vcpu: Vcpu): { end: 'halt' | 'guest-error'; status: number; detail: string } | undefined;
  /** A device asked to end the run (e.g. the i8042 reset line), checked after every exit. */
  stopRequest?(): { end: 'reset' | 'poweroff' | 'guest-error'; status: number; detail: string } | undefined;
  /** The console UART (input goes to its `receive`). */
  readonly uart: Uart16550 | Pl011;
  /** KVM_SET_GUEST_DEBUG arguments: hardware breakpoints at `addrs` (at most 4). */
  hwBreakpoints(addrs: readonly number[]): { control: number; arch: Parameters<Vcpu['setGuestDebug']>[1] };
  /** Classifies a KVM_EXIT_DEBUG: a hardware breakpoint hit or a completed single step. */
  debugKind(vcpu: Vcpu, e: Extract<ReturnType<Vcpu['run']>, { reason: 'debug' }>): 'breakpoint' | 'step' | 'other';
}

/** The board limits: at most this many hardware breakpoints (x86 DR0-3; arm64 guarantees 2, KVM reports up to 16). */
export const MAX_BREAKPOINTS = 4;

const hex = (v: bigint | number): string => '0x' + BigInt.asUintN(64, BigInt(v)).toString(16);

// ---------------------------------------------------------------------------------------------
// x86: a PC-like board

/** The x86 board's fixed addresses. */
export const X86_BOARD = {
  /** GDT: null, 32-bit code 0x08, data 0x10, 64-bit code 0x18. */
  GDT: 0x1000,
  /** Long-mode page tables: PML4, PDPT, one PD identity-mapping the first 1 GiB with 2 MiB pages. */
  PML4: 0x2000,
  PDPT: 0x3000,
  PD: 0x4000,
  TABLES_END: 0x5000,
  /** Flat images: real mode at 0000:7c00 (a boot sector's place), else at 1 MiB. */
  FLAT_REAL: 0x7c00,
  FLAT_PROTECTED: 0x100000,
  /** Real mode stack top (below the boot sector). */
  REAL_STACK: 0x7c00,
  /** KVM_SET_TSS_ADDR: three pages below the 4 GiB BIOS area, as QEMU and Firecracker use. */
  TSS_ADDR: 0xfffbd000,
  COM1: 0x3f8,
  /** COM1's ISA IRQ (GSI with the in-kernel irqchip). */
  COM1_IRQ: 4,
  /** The virtio-mmio window (`--virtio-rng`) and its GSI, where the Linux machine puts its first. */
  VIRTIO: 0xd000_0000,
  VIRTIO_IRQ: 5,
  /** The Bochs/QEMU debug console: bytes written here go to the console too. */
  DEBUGCON: 0xe9,
  EXIT_PORT: 0xf4,
  RESULT_PORT: 0x500,
} as const;

const GDT_ENTRIES = [0n, 0x00cf9b000000ffffn, 0x00cf93000000ffffn, 0x00af9b000000ffffn];

const X86_REGS = ['rax', 'rbx', 'rcx', 'rdx', 'rsi', 'rdi', 'rsp', 'rbp', 'r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rip', 'rflags'] as const;

/** Register names `--reg` accepts on x86. */
export const x86RegNames: readonly string[] = X86_REGS;

/** With `uartIrq`, the 16550 drives it (interrupt-driven console); without, it is polled. */
export function x86Board(mode: X86Mode, sink: ConsoleSink, uartIrq?: IrqLine): Board {
  const io = new Bus();
  const mmio = new Bus();
  const uart = io.add(new Uart16550(X86_BOARD.COM1, sink, uartIrq));
  io.add(new DebugCon(X86_BOARD.DEBUGCON, sink));
  const exitDevice = io.add(new ExitDevice(X86_BOARD.EXIT_PORT, 4));
  const result = io.add(new ResultPort(X86_BOARD.RESULT_PORT));
  const flat = (selector: number, type: number, db: number, l: number): Partial<X86Segment> => ({
    base: 0n, limit: 0xffffffff, selector, type, present: 1, dpl: 0, db, s: 1, l, g: 1, avl: 0, unusable: 0,
  });
  return {
    arch: 'x86_64',
    ramBase: 0,
    flatLoadAddr: mode === 'real' ? X86_BOARD.FLAT_REAL : X86_BOARD.FLAT_PROTECTED,
    io,
    mmio,
    exitDevice,
    result,
    uart,
    reserved: mode === 'real' ? [] : [[X86_BOARD.GDT, X86_BOARD.TABLES_END]],
    prepareMemory(ram) {
      if (mode === 'real') return;
      const dv = new DataView(ram.buffer, ram.byteOffset, ram.byteLength);
      GDT_ENTRIES.forEach((d, i) => dv.setBigUint64(X86_BOARD.GDT + 8 * i, d, true));
      if (mode !== 'long') return;
      dv.setBigUint64(X86_BOARD.PML4, BigInt(X86_BOARD.PDPT) | 3n, true);
      dv.setBigUint64(X86_BOARD.PDPT, BigInt(X86_BOARD.PD) | 3n, true);
      for (let i = 0; i < 512; i++) dv.setBigUint64(X86_BOARD.PD + 8 * i, (BigInt(i) << 21n) | 0x83n, true);
    },
    setupVcpu(vcpu, entry, ramSize, regs) {
      const s = vcpu.getSregs();
      let rip = BigInt(entry);
      let rsp: bigint;
      if (mode === 'real') {
        if (entry >= 0x100000) throw new Error(`a real-mode entry point must lie below 1 MiB (got ${hex(entry)})`);
        const csSel = (entry >>> 4) & 0xf000;
        rip = BigInt(entry - csSel * 16);
        const r = (selector: number, type: number): Partial<X86Segment> => ({ ...s.cs, base: BigInt(selector * 16), limit: 0xffff, selector, type, db: 0, l: 0, g: 0 });
        vcpu.setSregs({ cs: r(csSel, 11), ds: r(0, 3), es: r(0, 3), ss: r(0, 3), fs: r(0, 3), gs: r(0, 3) });
        rsp = BigInt(X86_BOARD.REAL_STACK);
      } else {
        const long = mode === 'long';
        const data = flat(0x10, 3, 1, 0);
        vcpu.setSregs({
          cs: long ? flat(0x18, 11, 0, 1) : flat(0x08, 11, 1, 0),
          ds: data, es: data, ss: data, fs: data, gs: data,
          tr: { ...s.tr, base: 0n, limit: 0x67, selector: 0, type: 11, present: 1, s: 0 },
          gdt: { base: BigInt(X86_BOARD.GDT), limit: GDT_ENTRIES.length * 8 - 1 },
          // long: PE MP ET NE WP AM PG; protected: PE ET.
          cr0: long ? 0x80050033n : 0x11n,
          ...(long ? { cr3: BigInt(X86_BOARD.PML4), cr4: 0x20n | 0x200n, efer: 0x500n } : {}),
        });
        rsp = BigInt(Math.min(ramSize, 0x1_0000_0000) & ~0xf);
      }
      const init: Record<string, bigint> = { rip, rsp, rflags: 2n };
      for (const [k, v] of Object.entries(regs)) {
        if (!(X86_REGS as readonly string[]).includes(k)) throw new Error(`unknown x86 register ${k} (one of ${X86_REGS.join(' ')})`);
        init[k] = v;
      }
      vcpu.setRegs(init);
    },
    pc(vcpu) {
      return vcpu.getRegs().rip;
    },
    dumpRegs(vcpu) {
      const r = vcpu.getRegs() as unknown as Record<string, bigint>;
      return X86_REGS.map((n) => `${n}=${hex(r[n]!)}`).join(' ');
    },
    hwBreakpoints(addrs) {
      // DR7: Ln enable bits (2n), R/W=00 (execute) and LEN=00; bit 10 reads as 1.
      let dr7 = 0x400n;
      addrs.forEach((_, i) => (dr7 |= 1n << BigInt(2 * i)));
      const debugreg = [0n, 0n, 0n, 0n, 0n, 0n, 0n, dr7];
      addrs.forEach((a, i) => (debugreg[i] = BigInt(a)));
      return { control: KVM_GUESTDBG.ENABLE | x86_64.KVM_GUESTDBG_X86.USE_HW_BP, arch: { debugreg } };
    },
    debugKind(_vcpu, e) {
      if (e.arch.arch !== 'x86_64' || e.arch.exception !== 1) return 'other';
      if (e.arch.dr6 & 0x4000n) return 'step'; // DR6.BS
      return e.arch.dr6 & 0xfn ? 'breakpoint' : 'other';
    },
  };
}

// ---------------------------------------------------------------------------------------------
// arm64: a "virt"-like board

/** The arm64 board's fixed addresses (UART and RAM where QEMU's "virt" board has them). */
export const ARM64_BOARD = {
  RAM_BASE: 0x4000_0000,
  UART: 0x0900_0000,
  EXIT: 0x0910_0000,
  RESULT: 0x0910_1000,
  /** The vGICv3 (`--irqchip kernel`): distributor, then one redistributor (RD + SGI frames) per vCPU. */
  GIC_DIST: 0x0800_0000,
  GIC_REDIST: 0x080a_0000,
  /** The PL011's SPI (INTID 32 + 1). */
  UART_SPI: 1,
  /** The virtio-mmio window (`--virtio-rng`) and its SPI (INTID 32 + 16), QEMU "virt"'s first. */
  VIRTIO: 0x0a00_0000,
  VIRTIO_SPI: 16,
} as const;

/** SPIs a vGIC is created with (NR_IRQS counts the 32 private interrupts too). */
const GIC_NR_IRQS = 128;

/**
 * A vGICv3 as VMMs create it (QEMU, kvmtool): after the vCPUs, KVM_CREATE_DEVICE, the
 * distributor's and one redistributor region's addresses, NR_IRQS, then CTRL_INIT.
 */
export function createGicV3(vm: Vm, cpus: number, dist: number = ARM64_BOARD.GIC_DIST, redist: number = ARM64_BOARD.GIC_REDIST): void {
  const { KVM_DEV_ARM_VGIC: G, KVM_VGIC: A } = arm64;
  const gic = vm.createDevice(KVM_DEV_TYPE.ARM_VGIC_V3)!;
  gic.setAttr({ group: G.GRP_ADDR, attr: A.V3_ADDR_TYPE_DIST }, dist);
  // One redistributor region for every vCPU: base | count << 52 (region index 0).
  gic.setAttr({ group: G.GRP_ADDR, attr: A.V3_ADDR_TYPE_REDIST_REGION }, BigInt(redist) | (BigInt(cpus) << 52n));
  gic.setAttr({ group: G.GRP_NR_IRQS, attr: 0 }, Uint8Array.of(GIC_NR_IRQS, 0, 0, 0));
  gic.setAttr({ group: G.GRP_CTRL, attr: G.CTRL_INIT });
}

/** KVM_IRQ_LINE's number for SPI `spi` (arm64 irq-type encoding: type SPI, INTID 32 + spi). */
export const spiIrq = (spi: number): number => (arm64.KVM_ARM_IRQ.TYPE_SPI << arm64.KVM_ARM_IRQ.TYPE_SHIFT) | (32 + spi);

const ARM_REGS = [...Array.from({ length: 31 }, (_, i) => `x${i}`), 'sp', 'pc'];

/** Register names `--reg` accepts on arm64. */
export const arm64RegNames: readonly string[] = ARM_REGS;

function armRegId(name: string): bigint {
  if (name === 'pc') return arm64.coreRegId('regs.pc');
  if (name === 'sp') return arm64.coreRegId('sp_el1'); // the vCPU starts in EL1h
  const n = /^x(\d+)$/.exec(name);
  if (n && Number(n[1]) <= 30) return arm64.coreRegId('regs.regs') + 2n * BigInt(n[1]!);
  throw new Error(`unknown arm64 register ${name} (x0..x30, sp, pc)`);
}

/** With `uartIrq`, the PL011 drives it (its SPI); without, it is polled. */
export function arm64Board(sink: ConsoleSink, uartIrq?: IrqLine): Board {
  const io = new Bus();
  const mmio = new Bus();
  const uart = mmio.add(new Pl011(ARM64_BOARD.UART, sink, uartIrq));
  const exitDevice = mmio.add(new ExitDevice(ARM64_BOARD.EXIT, 0x1000));
  const result = mmio.add(new ResultPort(ARM64_BOARD.RESULT));
  return {
    arch: 'arm64',
    ramBase: ARM64_BOARD.RAM_BASE,
    flatLoadAddr: ARM64_BOARD.RAM_BASE,
    io,
    mmio,
    exitDevice,
    result,
    uart,
    reserved: [],
    prepareMemory() {},
    setupVcpu(vcpu, entry, ramSize, regs) {
      vcpu.armInit([arm64.KVM_ARM_VCPU.PSCI_0_2]);
      vcpu.setOneReg(armRegId('pc'), entry);
      vcpu.setOneReg(armRegId('sp'), ARM64_BOARD.RAM_BASE + ramSize);
      for (const [k, v] of Object.entries(regs)) vcpu.setOneReg(armRegId(k), v);
    },
    pc(vcpu) {
      return vcpu.getOneReg(armRegId('pc'));
    },
    dumpRegs(vcpu) {
      return ARM_REGS.map((n) => `${n}=${hex(vcpu.getOneReg(armRegId(n)))}`).join(' ');
    },
    hwBreakpoints(addrs) {
      // DBGBCR: E=1, PMC=0b11 (EL1 and EL0), BAS=0b1111 (the whole A64 instruction).
      const bcr = (1n << 0n) | (3n << 1n) | (0xfn << 5n);
      const dbg_bcr = Array.from({ length: 16 }, (_, i) => (i < addrs.length ? bcr : 0n));
      const dbg_bvr = Array.from({ length: 16 }, (_, i) => BigInt(addrs[i] ?? 0));
      const zero = Array.from({ length: 16 }, () => 0n);
      return { control: KVM_GUESTDBG.ENABLE | arm64.KVM_GUESTDBG_ARM64.USE_HW, arch: { dbg_bcr, dbg_bvr, dbg_wcr: zero, dbg_wvr: zero } };
    },
    debugKind(_vcpu, e) {
      if (e.arch.arch !== 'arm64') return 'other';
      const ec = e.arch.hsr >>> 26;
      return ec === 0x30 || ec === 0x31 ? 'breakpoint' : ec === 0x32 || ec === 0x33 ? 'step' : 'other';
    },
  };
}
