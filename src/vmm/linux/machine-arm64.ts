/**
 * The arm64 Linux machine: QEMU "virt"'s memory map (RAM at 1 GiB, GICv3 distributor at
 * 0x0800_0000 with the redistributors after it, PL011 at 0x0900_0000, virtio-mmio transports from
 * 0x0a00_0000), the Image at the start of RAM, the device tree and initrd at its end, PSCI 0.2
 * over HVC (secondary vCPUs start powered off and come up through CPU_ON; SYSTEM_OFF ends the
 * guest), the exit and result devices of the mini-VMM. Interrupts come from KVM's vGICv3
 * (KVM_CREATE_DEVICE, set up as QEMU and kvmtool do: vCPUs first, then the frames' addresses,
 * NR_IRQS, CTRL_INIT); the arch timer's PPIs are the vGIC's own, the devices' SPIs are driven with
 * KVM_IRQ_LINE. Without it (--irqchip none) the devices are polled and nothing is injected: Linux
 * then defers the PL011 and virtio probes (no interrupt domain) and init has no console.
 * @module
 */
import { arm64, type Vcpu } from '../../index.js';
import { arm64Board, ARM64_BOARD, createGicV3, spiIrq, type Board } from '../boards.js';
import { Bus, ExitDevice, Pl011, ResultPort } from '../devices.js';
import { NO_IRQ, vmIrqLine, type IrqLine } from '../irq.js';
import { fileStore, VirtioBlk } from '../virtio/blk.js';
import { VirtioConsole } from '../virtio/console.js';
import { VIRTIO_MMIO_SIZE, VirtioMmio } from '../virtio/mmio.js';
import { loadArm64Linux, parseArm64Image, type Arm64Platform } from './arm64.js';
import { joinCmdline, type LinuxMachine, type MachineContext } from './machine.js';

/** The arm64 machine's fixed addresses and interrupt numbers (SPI numbers, as the DT gives them). */
export const ARM64_LINUX = {
  GIC_DIST: 0x0800_0000,
  GIC_DIST_SIZE: 0x1_0000,
  GIC_REDIST: 0x080a_0000,
  /** Per vCPU: RD_base and SGI_base frames. */
  GIC_REDIST_STRIDE: 0x2_0000,
  UART_SPI: 1,
  VIRTIO: 0x0a00_0000,
  VIRTIO_FIRST_SPI: 16,
} as const;

/** The default command line: the PL011 console (also as the early console). */
export const ARM64_DEFAULT_CMDLINE = 'console=ttyAMA0 earlycon=pl011,mmio32,0x9000000 panic=-1';

/** MPIDR_EL1 as a ONE_REG id (op0 3, op1 0, CRn 0, CRm 0, op2 5). */
const MPIDR_EL1 = arm64.sysRegId(3, 0, 0, 0, 5);

export function buildArm64Linux(ctx: MachineContext): LinuxMachine {
  const { opts, vm, memSize, cpus } = ctx;
  if (ctx.irqchip === 'userspace') throw new Error('arm64 has no userspace interrupt controller here');
  const image = parseArm64Image(opts.kernel);
  ctx.addRam(ARM64_BOARD.RAM_BASE, memSize);

  const io = new Bus();
  const mmio = new Bus();
  // SPI lines: KVM_IRQ_LINE with the SPI's INTID (32 + the DT's SPI number), once the vGIC exists.
  const kernelIrq = ctx.irqchip === 'kernel';
  const spiLine = (spi: number): IrqLine => (kernelIrq ? vmIrqLine(() => vm, spiIrq(spi)) : NO_IRQ);
  // The PL011 drives its SPI (the DT's): Linux's amba-pl011 takes input and TX-empty interrupts.
  const uartLine = kernelIrq ? vmIrqLine(() => vm, spiIrq(ARM64_LINUX.UART_SPI)) : undefined;
  const uart = mmio.add(new Pl011(ARM64_BOARD.UART, ctx.sink, uartLine));
  const exitDevice = mmio.add(new ExitDevice(ARM64_BOARD.EXIT, 0x1000));
  const result = mmio.add(new ResultPort(ARM64_BOARD.RESULT));
  const virtio: VirtioMmio[] = [];
  const addVirtio = (dev: ConstructorParameters<typeof VirtioMmio>[1]) => {
    const t = new VirtioMmio(ARM64_LINUX.VIRTIO + virtio.length * VIRTIO_MMIO_SIZE, dev, ctx.mem, spiLine(ARM64_LINUX.VIRTIO_FIRST_SPI + virtio.length));
    mmio.add(t);
    virtio.push(t);
  };
  let blk: VirtioBlk | undefined;
  if (opts.disk !== undefined) {
    blk = new VirtioBlk(typeof opts.disk === 'string' ? fileStore(opts.disk, opts.diskReadOnly) : opts.disk);
    addVirtio(blk);
  }
  if (opts.virtioConsole !== false) addVirtio(new VirtioConsole(ctx.sink));

  // vCPUs: PSCI 0.2; the secondaries start powered off (CPU_ON brings them up).
  const vcpus: Vcpu[] = [];
  for (let i = 0; i < cpus; i++) {
    const v = vm.createVcpu(i);
    v.armInit(i === 0 ? [arm64.KVM_ARM_VCPU.PSCI_0_2] : [arm64.KVM_ARM_VCPU.PSCI_0_2, arm64.KVM_ARM_VCPU.POWER_OFF]);
    vcpus.push(v);
  }
  if (kernelIrq) createGicV3(vm, cpus, ARM64_LINUX.GIC_DIST, ARM64_LINUX.GIC_REDIST);
  const platform: Arm64Platform = {
    ramBase: ARM64_BOARD.RAM_BASE,
    ramSize: memSize,
    mpidrs: vcpus.map((v) => v.getOneReg(MPIDR_EL1)),
    gic: { dist: ARM64_LINUX.GIC_DIST, distSize: ARM64_LINUX.GIC_DIST_SIZE, redist: ARM64_LINUX.GIC_REDIST, redistSize: ARM64_LINUX.GIC_REDIST_STRIDE * cpus },
    uart: { base: ARM64_BOARD.UART, spi: ARM64_LINUX.UART_SPI },
    virtio: virtio.map((v, i) => ({ base: v.base, size: VIRTIO_MMIO_SIZE, spi: ARM64_LINUX.VIRTIO_FIRST_SPI + i })),
  };
  const cmdline = joinCmdline(opts.cmdline ?? ARM64_DEFAULT_CMDLINE, opts.extraCmdline);
  const layout = loadArm64Linux({ image, cmdline, platform, ...(opts.initrd ? { initrd: opts.initrd } : {}) }, (gpa, len) => ctx.mem.slice(gpa, len));
  const bsp = vcpus[0]!;
  bsp.setOneReg(arm64.coreRegId('regs.pc'), layout.entry);
  bsp.setOneReg(arm64.coreRegId('regs.regs'), layout.dtb); // x0
  // PSTATE: EL1h with D, A, I, F masked (KVM's reset value already).

  let pendingInput = opts.consoleInput ? Array.from(opts.consoleInput) : [];
  const base = arm64Board(ctx.sink);
  const board: Board = { ...base, io, mmio, exitDevice, result, uart, reserved: [] };
  return {
    board,
    vcpus,
    irqchip: ctx.irqchip,
    cmdline,
    beforeRun() {},
    wakeable() {
      return true;
    },
    tick() {
      if (pendingInput.length && uart.acceptsInput && uart.rxSpace) uart.receive(pendingInput.splice(0, uart.rxSpace));
      for (const v of virtio) v.poll();
    },
    nsUntilEvent() {
      return Infinity;
    },
    describe() {
      const lines = [`arm64 Linux: Image ${(image.image.length / 2 ** 20).toFixed(1)} MiB, text_offset 0x${image.textOffset.toString(16)}, DTB ${layout.dtbSize} B at 0x${layout.dtb.toString(16)}, irqchip ${ctx.irqchip}, ${cpus} vCPU(s), ${memSize >> 20} MiB`];
      if (uartLine) lines.push(`  PL011 interrupts raised: ${uartLine.raises}`);
      if (blk) lines.push(`  virtio-blk: ${blk.stats.read} reads (${blk.stats.bytesRead} B), ${blk.stats.write} writes (${blk.stats.bytesWritten} B), ${blk.stats.flush} flushes, ${blk.stats.errors} errors`);
      return lines;
    },
    close() {
      blk?.store.close();
      pendingInput = [];
    },
  };
}
