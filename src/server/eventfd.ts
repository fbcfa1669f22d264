/**
 * The program's own eventfds in KVM_IRQFD / KVM_IOEVENTFD (and the resample fd). The program
 * made them with eventfd(2) on the host kernel, and keeps using them with read/write/poll/epoll
 * there; the virtual kernel needs an eventfd of its own (src/kernel/eventfd.ts). A bridge joins
 * the two:
 * - the kernel's signals (an ioeventfd hit, a resample) move to the program's eventfd: a
 *   wait-queue entry on the kernel counter takes what it gained and adds it to the host one;
 * - the program's writes reach the kernel's readers (an irqfd): while the kernel counter has a
 *   reader, the server polls the host eventfd with its connections, takes its count (RWF_NOWAIT:
 *   the file's blocking mode is the program's) and adds it to the kernel counter, whose irqfd
 *   injects at once.
 * One bridge per host eventfd (its `eventfd-id` in /proc/self/fdinfo, the kernel's own identity
 * of the ctx), so dup'd fds and DEASSIGN find the same kernel eventfd, as eventfd_ctx_fdget does.
 * @module
 */
import { readFileSync } from 'node:fs';
import type { Kernel } from '../kernel/kernel.js';
import { POLL, type EventFdCtx } from '../kernel/eventfd.js';
import { EFD } from '../uapi/constants.js';
import type { ServerNative } from './native.js';

export interface EventfdBridge {
  /** The server's copy of the program's eventfd. */
  readonly fd: number;
  /** The kernel eventfd standing for it. */
  readonly kfd: number;
  readonly ctx: EventFdCtx;
  /** Set while the bridge itself adds to the kernel counter (not a kernel signal to pass back). */
  inbound: boolean;
  readonly unhook: () => void;
}

/** What /proc/self/fdinfo says about an eventfd: its id and EFD_SEMAPHORE, or undefined for other files. */
export function eventfdInfo(fd: number): { id: string; semaphore: boolean } | undefined {
  let info: string;
  try {
    info = readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1');
  } catch {
    return undefined;
  }
  if (!/^eventfd-count:/m.test(info)) return undefined;
  // eventfd-id arrived in Linux 5.19; before it, each received fd is its own eventfd.
  const id = /^eventfd-id:\s*(\d+)/m.exec(info)?.[1] ?? `fd${fd}`;
  return { id, semaphore: /^eventfd-semaphore:\s*1/m.test(info) };
}

export class EventfdBridges {
  private readonly byId = new Map<string, EventfdBridge>();

  constructor(
    private readonly kernel: Kernel,
    private readonly nat: ServerNative,
  ) {}

  /**
   * The kernel fd for a received fd of the program (this takes ownership of `fd`): its bridge's
   * kernel eventfd, or undefined when `fd` is no eventfd (the kernel's EINVAL).
   */
  adopt(fd: number): number | undefined {
    const info = eventfdInfo(fd);
    if (!info) {
      this.nat.close(fd);
      return undefined;
    }
    const have = this.byId.get(info.id);
    if (have) {
      this.nat.close(fd);
      return have.kfd;
    }
    const kfd = this.kernel.eventfd(0, info.semaphore ? EFD.SEMAPHORE : 0);
    const f = this.kernel.file(kfd);
    if (f?.kind !== 'eventfd') throw new Error('kernel eventfd missing');
    const ctx = f.efd.ctx;
    const b: EventfdBridge = {
      fd,
      kfd,
      ctx,
      inbound: false,
      // A kernel signal (ioeventfd, resample): what the counter gained goes to the program's eventfd.
      unhook: ctx.addWaiter((mask) => {
        if (!(mask & POLL.IN) || b.inbound) return;
        const n = ctx.take();
        if (n !== 0n) this.nat.efdAdd(fd, n);
      }),
    };
    this.byId.set(info.id, b);
    return kfd;
  }

  /** Host eventfds to poll now: those whose kernel counter has a reader besides the bridge (an irqfd). */
  watched(): EventfdBridge[] {
    const out: EventfdBridge[] = [];
    for (const b of this.byId.values()) if (b.ctx.hooked > 1) out.push(b);
    return out;
  }

  /** The program's eventfd became readable: its count moves to the kernel counter (the irqfd takes it). */
  pull(b: EventfdBridge): void {
    const n = this.nat.efdTake(b.fd);
    if (typeof n === 'number' || n === 0n) return;
    b.inbound = true;
    try {
      b.ctx.write(n, true);
    } catch {
      /* the kernel counter is full: eventfd_signal saturates */
    } finally {
      b.inbound = false;
    }
  }

  /** Ends every bridge (the server is closing). */
  close(): void {
    for (const b of this.byId.values()) {
      b.unhook();
      this.nat.close(b.fd);
      try {
        this.kernel.close(b.kfd);
      } catch {
        /* already closed */
      }
    }
    this.byId.clear();
  }
}
