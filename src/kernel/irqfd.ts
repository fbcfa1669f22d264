/**
 * KVM_IRQFD (virt/kvm/eventfd.c kvm_irqfd): an eventfd whose signal injects an interrupt on a GSI.
 * Edge irqfds pulse the GSI (kvm_set_irq 1 then 0), except where the arch injects in atomic
 * context (arm64 SPIs on an initialized vGIC: raised only); resampling irqfds (KVM_IRQFD_FLAG_RESAMPLE)
 * raise it as a level that stays up until the guest's EOI, when the kernel lowers it and signals
 * the resample eventfd so the VMM can re-check its device and signal again.
 *
 * Injection happens on the thread that owns the VM, synchronously when the signal comes from that
 * thread (a write(2) through its Sys: the kernel's wake-up callback), and from its event loop when
 * the counter was bumped on another thread (an ioeventfd hit on a worker). The interrupt then
 * reaches a vCPU running anywhere through its shared request word (src/kernel/requests.ts).
 * @module
 */
import { KvmError } from '../sys/error.js';
import { KVM_IRQFD_FLAG } from '../uapi/constants.js';
import { POLL, type EventFdCtx } from './eventfd.js';
import { EWOULDBLOCK, KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID, KVM_USERSPACE_IRQ_SOURCE_ID, type AckNotifier } from './irq.js';
import type { Vm } from './vm.js';

/** struct kvm_irqfd, decoded. */
export interface IrqfdArgs {
  readonly fd: number;
  readonly gsi: number;
  readonly flags: number;
  readonly resamplefd: number;
}

/** struct kvm_kernel_irqfd_resampler: the irqfds sharing one level-triggered GSI. */
class Resampler implements AckNotifier {
  readonly irqfds = new Set<Irqfd>();

  constructor(
    private readonly vm: Vm,
    readonly gsi: number,
  ) {}

  /** irqfd_resampler_ack: the guest EOI'd the line: lower it and tell every resamplefd. */
  irqAcked(): void {
    this.vm.irq.setIrq(KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID, this.gsi, 0, false);
    for (const i of this.irqfds) i.resamplefd!.signal();
  }
}

/** struct kvm_kernel_irqfd */
class Irqfd {
  private unhook: (() => void) | null = null;
  /** The change of the counter this thread handled last (the event-loop watcher skips it). */
  private handled = -1;
  active = true;

  constructor(
    private readonly vm: Vm,
    readonly gsi: number,
    readonly eventfd: EventFdCtx,
    readonly resampler: Resampler | null,
    readonly resamplefd: EventFdCtx | null,
    private readonly onHangup: (i: Irqfd) => void,
  ) {}

  /** irqfd_wakeup's kvm_arch_set_irq_inatomic, else irqfd_inject */
  inject(): void {
    const irq = this.vm.irq;
    if (this.resampler === null) {
      // irqfd->irq_entry is the GSI's route only when it has exactly one (irqfd_update).
      const routes = irq.routesOf(this.gsi);
      const atomic = routes.length === 1 ? routes[0]!.setInatomic : undefined;
      if (atomic !== undefined && atomic(this.vm, KVM_USERSPACE_IRQ_SOURCE_ID) !== -EWOULDBLOCK) return;
      irq.setIrq(KVM_USERSPACE_IRQ_SOURCE_ID, this.gsi, 1, false);
      irq.setIrq(KVM_USERSPACE_IRQ_SOURCE_ID, this.gsi, 0, false);
    } else {
      irq.setIrq(KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID, this.gsi, 1, false);
    }
  }

  /** Hooks the eventfd's wake-ups (init_waitqueue_func_entry + vfs_poll). */
  start(): void {
    this.unhook = this.eventfd.addWaiter((mask) => this.wakeup(mask));
    void this.watch();
  }

  /** irqfd_wakeup: a signal consumes the count and injects; POLLHUP (the eventfd closed) deactivates. */
  private wakeup(mask: number): void {
    if (!this.active) return;
    if (mask & POLL.IN) {
      this.handled = this.eventfd.seq;
      if (this.eventfd.take() !== 0n) this.inject();
    }
    if (mask & POLL.HUP) this.onHangup(this);
  }

  /** Signals made on other threads: the same wake-up, from this thread's event loop. */
  private async watch(): Promise<void> {
    const e = this.eventfd;
    this.handled = e.seq; // what was pending before the registration is the caller's to inject
    while (this.active) {
      const seq = e.seq;
      if (e.released) {
        this.onHangup(this);
        return;
      }
      if (seq !== this.handled) {
        this.handled = seq;
        if (e.take() !== 0n) this.inject();
        continue;
      }
      await e.waitChange(seq);
    }
  }

  /** irqfd_deactivate + irqfd_shutdown */
  stop(): void {
    this.active = false;
    this.unhook?.();
    this.unhook = null;
    this.eventfd.kick(); // ends the event-loop watcher
  }
}

/** kvm->irqfds */
export class Irqfds {
  private readonly items: Irqfd[] = [];
  private readonly resamplers: Resampler[] = [];

  constructor(private readonly vm: Vm) {}

  /** kvm_irqfd */
  ioctl(args: IrqfdArgs): number {
    if (args.flags & ~(KVM_IRQFD_FLAG.DEASSIGN | KVM_IRQFD_FLAG.RESAMPLE)) throw einval('unknown irqfd flags');
    if (args.flags & KVM_IRQFD_FLAG.DEASSIGN) return this.deassign(args);
    return this.assign(args);
  }

  /** kvm_irqfd_assign */
  private assign(args: IrqfdArgs): number {
    const vm = this.vm;
    const a = vm.arch;
    if (!(a.intcInitialized?.(vm) ?? true)) throw KvmError.of('EAGAIN', 'ioctl', { message: 'the interrupt controller is not initialized' });
    const resample = (args.flags & KVM_IRQFD_FLAG.RESAMPLE) !== 0;
    if (!(a.irqfdAllowed?.(vm, resample) ?? a.irqchipInKernel?.(vm) ?? false)) throw einval('irqfds need an in-kernel irqchip');
    const eventfd = vm.kernel.eventfdCtx(args.fd);
    let resampler: Resampler | null = null;
    let resamplefd: EventFdCtx | null = null;
    if (resample) {
      resamplefd = vm.kernel.eventfdCtx(args.resamplefd);
      resampler = this.resamplers.find((r) => r.gsi === args.gsi) ?? null;
      if (resampler === null) {
        resampler = new Resampler(vm, args.gsi);
        this.resamplers.push(resampler);
        vm.irq.registerAckNotifier(resampler);
      }
    }
    const irqfd = new Irqfd(vm, args.gsi, eventfd, resampler, resamplefd, (i) => this.release(i));
    resampler?.irqfds.add(irqfd);
    if (this.items.some((i) => i.eventfd.shared === eventfd.shared)) {
      this.shutdownResampler(irqfd);
      throw KvmError.of('EBUSY', 'ioctl', { message: 'this eventfd already drives an irqfd' });
    }
    this.items.push(irqfd);
    irqfd.start();
    // An event already pending before the registration is injected as if it had just come.
    if (eventfd.poll() & POLL.IN) irqfd.inject();
    return 0;
  }

  /** kvm_irqfd_deassign: every irqfd of this eventfd and GSI goes; 0 even when there was none. */
  private deassign(args: IrqfdArgs): number {
    const eventfd = this.vm.kernel.eventfdCtx(args.fd);
    for (const i of [...this.items]) if (i.eventfd.shared === eventfd.shared && i.gsi === args.gsi) this.release(i);
    return 0;
  }

  /** irqfd_deactivate / irqfd_shutdown */
  private release(i: Irqfd): void {
    const k = this.items.indexOf(i);
    if (k < 0) return;
    this.items.splice(k, 1);
    i.stop();
    this.shutdownResampler(i);
  }

  /** irqfd_resampler_shutdown: the last irqfd of a resampler lowers its line. */
  private shutdownResampler(i: Irqfd): void {
    const r = i.resampler;
    if (!r) return;
    r.irqfds.delete(i);
    if (r.irqfds.size === 0) {
      this.vm.irq.unregisterAckNotifier(r);
      this.vm.irq.setIrq(KVM_IRQFD_RESAMPLE_IRQ_SOURCE_ID, r.gsi, 0, false);
      this.resamplers.splice(this.resamplers.indexOf(r), 1);
    }
  }

  /**
   * kvm_notify_irqfd_resampler: signals the resamplefds of the resampling irqfds on `gsi` (an
   * IOAPIC pin was unmasked with a stale IRR: the device re-asserts if it still needs service).
   * True when there was a resampler.
   */
  notifyResampler(gsi: number): boolean {
    if (gsi < 0) return false;
    const r = this.resamplers.find((x) => x.gsi === gsi);
    if (!r) return false;
    for (const i of r.irqfds) i.resamplefd!.signal();
    return true;
  }

  /** kvm_irqfd_release: the VM is going away. */
  releaseAll(): void {
    for (const i of [...this.items]) this.release(i);
  }

  /** The GSIs with an irqfd (tests). */
  get count(): number {
    return this.items.length;
  }
}

function einval(message: string): KvmError {
  return KvmError.of('EINVAL', 'ioctl', { message });
}
