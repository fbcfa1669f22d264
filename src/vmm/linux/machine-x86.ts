/**
 * The x86-64 Linux machine: a PC without firmware, as Firecracker builds it. RAM from 0 (with the
 * MMIO hole from 3 GiB), the bzImage loaded through the 64-bit boot protocol, COM1 (8250 on IRQ 4),
 * the i8042 (its reset line ends the guest), the RTC/CMOS, the debug exit port 0xf4, virtio-mmio
 * block and console at 0xd000_0000 (IRQ 5 up, announced with `virtio_mmio.device=`).
 * Interrupts: KVM's in-kernel irqchip and PIT when KVM_CAP_IRQCHIP says so (with an MP table for
 * the CPUs and IOAPIC), else the VMM's own i8259 + i8254 injected with KVM_INTERRUPT through the
 * interrupt window (one vCPU; the guest sees no local APIC).
 * @module
 */
import { KVM_MP_STATE, type Vcpu, type X86Segment } from '../../index.js';
import { x86Board, X86_BOARD, type Board } from '../boards.js';
import { Bus, ExitDevice, ResultPort, Uart16550, type Device } from '../devices.js';
import { vmIrqLine, type IrqController, type IrqLine } from '../irq.js';
import { Cmos } from '../pc/cmos.js';
import { I8042 } from '../pc/i8042.js';
import { I8254 } from '../pc/i8254.js';
import { I8259 } from '../pc/i8259.js';
import { fileStore, VirtioBlk } from '../virtio/blk.js';
import { VirtioConsole } from '../virtio/console.js';
import { VIRTIO_MMIO_SIZE, VirtioMmio } from '../virtio/mmio.js';
import { joinCmdline, type LinuxMachine, type MachineContext } from './machine.js';
import { mpTable } from './mptable.js';
import { loadX86Linux, parseBzImage, x86RamRanges, X86_LINUX, X86_LINUX_GDT } from './x86.js';

/** Where the x86 machine's virtio-mmio windows start, one page apart, and their first IRQ. */
export const X86_VIRTIO = { BASE: 0xd000_0000, STRIDE: 0x1000, FIRST_IRQ: 5 } as const;

/** The default command line: COM1 console, restart through the i8042, no PCI probing. */
export const X86_DEFAULT_CMDLINE = 'console=ttyS0 earlyprintk=serial,ttyS0 reboot=k panic=-1 pci=off i8042.noaux i8042.nomux i8042.nopnp i8042.dumbkbd';

/** KVM_PIT_SPEAKER_DUMMY: the in-kernel PIT also answers port 0x61. */
const KVM_PIT_SPEAKER_DUMMY = 1;

/** ISA IRQs on the in-kernel irqchip: KVM_IRQ_LINE with the GSI. */
class KernelIrqchip implements IrqController {
  constructor(private readonly ctx: MachineContext) {}
  line(n: number): IrqLine {
    return vmIrqLine(() => this.ctx.vm, n);
  }
}

/** Ports Linux writes and never reads back meaningfully: POST codes (io_delay), DMA page registers. */
function sinkPorts(): Device[] {
  const sink = (name: string, base: number, size: number): Device => ({ name, base, size, read: () => 0xff, write() {} });
  return [sink('post', 0x80, 1), sink('dma-page', 0x81, 15)];
}

export function buildX86Linux(ctx: MachineContext): LinuxMachine {
  const { opts, vm, memSize, cpus } = ctx;
  const image = parseBzImage(opts.kernel);
  if (ctx.irqchip === 'userspace' && cpus > 1) throw new Error('more than one vCPU needs the in-kernel irqchip (the VMM\'s own i8259 serves one vCPU)');
  if (ctx.irqchip === 'none') throw new Error('an x86 Linux guest needs an interrupt controller');
  vm.setTssAddr(X86_BOARD.TSS_ADDR);
  vm.setIdentityMapAddr(X86_BOARD.TSS_ADDR + 0x3000);
  const kernelIrqchip = ctx.irqchip === 'kernel';
  if (kernelIrqchip) {
    vm.createIrqchip();
    vm.createPit2(KVM_PIT_SPEAKER_DUMMY);
  }
  for (const r of x86RamRanges(memSize)) ctx.addRam(r.gpa, r.size);

  // Devices.
  const io = new Bus();
  const mmio = new Bus();
  const pic = kernelIrqchip ? undefined : new I8259();
  const irqs: IrqController = pic ?? new KernelIrqchip(ctx);
  const pit = pic ? new I8254(pic.line(0)) : undefined;
  if (pic) for (const d of pic.devices()) io.add(d);
  if (pit) for (const d of pit.devices()) io.add(d);
  const uart = io.add(new Uart16550(X86_BOARD.COM1, ctx.sink, irqs.line(4)));
  const i8042 = new I8042();
  for (const d of i8042.devices()) io.add(d);
  io.add(new Cmos());
  for (const d of sinkPorts()) io.add(d);
  const exitDevice = io.add(new ExitDevice(X86_BOARD.EXIT_PORT, 4));
  const result = io.add(new ResultPort(X86_BOARD.RESULT_PORT));
  const virtio: VirtioMmio[] = [];
  const addVirtio = (dev: ConstructorParameters<typeof VirtioMmio>[1]) => {
    const n = virtio.length;
    const t = new VirtioMmio(X86_VIRTIO.BASE + n * X86_VIRTIO.STRIDE, dev, ctx.mem, irqs.line(X86_VIRTIO.FIRST_IRQ + n));
    mmio.add(t);
    virtio.push(t);
    return t;
  };
  let blk: VirtioBlk | undefined;
  if (opts.disk !== undefined) {
    blk = new VirtioBlk(typeof opts.disk === 'string' ? fileStore(opts.disk, opts.diskReadOnly) : opts.disk);
    addVirtio(blk);
  }
  const hvc = opts.virtioConsole === false ? undefined : new VirtioConsole(ctx.sink);
  if (hvc) addVirtio(hvc);

  const cmdline = joinCmdline(
    opts.cmdline ?? X86_DEFAULT_CMDLINE,
    ...virtio.map((v, i) => `virtio_mmio.device=${VIRTIO_MMIO_SIZE}@0x${v.base.toString(16)}:${X86_VIRTIO.FIRST_IRQ + i}`),
    opts.extraCmdline,
  );
  const layout = loadX86Linux({ image, memSize, cmdline, ...(opts.initrd ? { initrd: opts.initrd } : {}) }, (gpa, len) => ctx.mem.slice(gpa, len));
  if (kernelIrqchip) ctx.mem.slice(X86_LINUX.MPTABLE, 0x400).set(mpTable(X86_LINUX.MPTABLE, cpus));

  // vCPUs: CPUID from KVM_GET_SUPPORTED_CPUID with each vCPU's APIC ID; the BSP in long mode.
  const supported = ctx.kvm.supportedCpuid();
  const vcpus: Vcpu[] = [];
  for (let i = 0; i < cpus; i++) {
    const v = vm.createVcpu(i);
    v.setCpuid2(
      supported.map((e) => {
        if (e.function === 1) {
          const ebx = (e.ebx & 0x0000ffff) | (i << 24) | (Math.min(cpus, 255) << 16);
          // No local APIC without the in-kernel irqchip (the i8259 is wired straight to INTR).
          const edx = kernelIrqchip ? e.edx : e.edx & ~(1 << 9);
          return { ...e, ebx, edx: edx | 0 };
        }
        return e;
      }),
    );
    vcpus.push(v);
  }
  const bsp = vcpus[0]!;
  const s = bsp.getSregs();
  const flat = (selector: number, type: number, db: number, l: number): Partial<X86Segment> => ({
    base: 0n, limit: 0xffffffff, selector, type, present: 1, dpl: 0, db, s: 1, l, g: 1, avl: 0, unusable: 0,
  });
  const data = flat(X86_LINUX.BOOT_DS, 3, 1, 0);
  bsp.setSregs({
    cs: flat(X86_LINUX.BOOT_CS, 11, 0, 1),
    ds: data, es: data, ss: data, fs: data, gs: data,
    tr: { ...s.tr, base: 0n, limit: 0x67, selector: 0, type: 11, present: 1, s: 0 },
    gdt: { base: BigInt(X86_LINUX.GDT), limit: X86_LINUX_GDT.length * 8 - 1 },
    idt: { base: 0n, limit: 0 },
    cr0: 0x80050033n, // PG AM WP NE ET MP PE
    cr3: BigInt(X86_LINUX.PML4),
    cr4: 0x20n, // PAE
    efer: 0x500n, // LMA | LME
    // Without the in-kernel LAPIC the APIC is globally disabled (and CPUID says there is none).
    ...(kernelIrqchip ? {} : { apic_base: 0xfee00100n }),
  });
  bsp.setRegs({ rip: BigInt(layout.entry), rsi: BigInt(layout.zeroPage), rsp: BigInt(X86_LINUX.BOOT_STACK), rflags: 2n });
  if (kernelIrqchip) for (const ap of vcpus.slice(1)) ap.setMpState(KVM_MP_STATE.UNINITIALIZED);

  const base = x86Board('long', ctx.sink);
  let pendingInput = opts.consoleInput ? Array.from(opts.consoleInput) : [];
  const board: Board = {
    ...base,
    io,
    mmio,
    exitDevice,
    result,
    uart,
    reserved: [],
    onHlt(vcpu) {
      if (kernelIrqchip) return undefined;
      // HLT with interrupts off and no NMI source: nothing will ever wake this vCPU.
      if (!(vcpu.getRegs().rflags & 0x200n)) return { end: 'halt', status: 0, detail: 'the guest halted with interrupts disabled (HLT, IF=0)' };
      return undefined;
    },
    stopRequest() {
      return i8042.resetRequested ? { end: 'reset', status: 0, detail: 'the guest reset the machine through the i8042 (reboot=k)' } : undefined;
    },
  };

  return {
    board,
    vcpus,
    irqchip: ctx.irqchip,
    cmdline,
    beforeRun(i) {
      if (!pic || i !== 0) return;
      const run = vcpus[0]!.kvmRun;
      if (pic.pending()) {
        if (run.ready_for_interrupt_injection && run.if_flag) {
          vcpus[0]!.interrupt(pic.acknowledge());
          run.request_interrupt_window = pic.pending() ? 1 : 0;
        } else run.request_interrupt_window = 1;
      } else run.request_interrupt_window = 0;
    },
    wakeable(i) {
      return !!pic && i === 0 && pic.pending();
    },
    tick() {
      pit?.update();
      if (pendingInput.length && uart.rxSpace) uart.receive(pendingInput.splice(0, uart.rxSpace));
      for (const v of virtio) v.poll();
    },
    nsUntilEvent() {
      return pit ? pit.nsUntilIrq() : Infinity;
    },
    describe() {
      const lines = [`x86_64 Linux: ${image.version ?? 'unknown version'}, irqchip ${ctx.irqchip}, ${cpus} vCPU(s), ${memSize >> 20} MiB`];
      if (pic) lines.push(`  i8259 interrupts delivered: ${pic.delivered.map((n, irq) => (n ? `IRQ${irq}=${n}` : '')).filter(Boolean).join(' ') || 'none'}; i8254 IRQ0 edges: ${pit!.irqs}`);
      if (blk) lines.push(`  virtio-blk: ${blk.stats.read} reads (${blk.stats.bytesRead} B), ${blk.stats.write} writes (${blk.stats.bytesWritten} B), ${blk.stats.flush} flushes, ${blk.stats.errors} errors`);
      return lines;
    },
    close() {
      blk?.store.close();
      pendingInput = [];
    },
  };
}
