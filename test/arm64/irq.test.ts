/**
 * The interrupt guests (test/guests/arm64/irq) on an in-kernel vGICv3: each prints exactly what it
 * printed under qemu-system-aarch64 -M virt,gic-version=3 (TCG), recorded in its .expect file by
 * test/guests/build-arm64.sh; the GICv2 builds (-v2) likewise under gic-version=2, on a vGICv2
 * created as a device and the legacy way. Interpreter and JIT.
 */
import { describe, expect, it } from 'vitest';
import { board, DOORBELL, irqExpect, irqGuest, UART } from './gic-board.js';
import { startWorker } from './irq-workers.js';
import { restoreGic, saveGic } from './vgic-state.js';

describe.each([
  { name: 'interpreter', jit: false },
  { name: 'jit', jit: true },
])('$name', ({ jit }) => {
  it('timer: virtual and physical timer interrupts in WFI, IMASK, a masked WFI wake', () => {
    const b = board(irqGuest('timer'), { jit });
    b.runToEnd();
    expect(b.uart.out).toBe(irqExpect('timer'));
  });

  it('uart: a level SPI from KVM_IRQ_LINE held until the device is cleared; the doorbell exits without an ioeventfd', () => {
    const b = board(irqGuest('uart'), { jit });
    b.runToEnd();
    expect(b.uart.out).toBe(irqExpect('uart'));
    expect(b.otherMmio.filter((a) => a === BigInt(DOORBELL))).toHaveLength(3);
  });

  it('uart: the same SPI from a resampling irqfd; the doorbell signals an ioeventfd without exits', () => {
    const b = board(irqGuest('uart'), { jit, uartIrq: 'irqfd', doorbell: true });
    b.runToEnd();
    expect(b.uart.out).toBe(irqExpect('uart'));
    expect(b.otherMmio).toEqual([]);
    expect(b.doorbell!.tryRead()).toBe(3n);
  });

  it('el0: timer and SPI interrupts taken from EL0 (WFI at EL0) by a kernel-half handler, MMU on', () => {
    for (const uartIrq of ['irqline', 'irqfd'] as const) {
      const b = board(irqGuest('el0'), { jit, uartIrq });
      b.runToEnd();
      expect(b.uart.out).toBe(irqExpect('el0'));
    }
  });

  // The legacy vGICv2 initializes at the first KVM_RUN: no irqfd before (kvm_irqfd_assign EAGAIN).
  it.each([
    ['v2', 'irqfd'],
    ['v2-legacy', 'irqline'],
  ] as const)('GICv2 (%s): the timer and uart guests built for it (uart SPI by %s)', (gic, uartIrq) => {
    const t = board(irqGuest('timer-v2'), { jit, gic });
    t.runToEnd();
    expect(t.uart.out).toBe(irqExpect('timer-v2'));
    const u = board(irqGuest('uart-v2'), { jit, gic, uartIrq, doorbell: true });
    u.runToEnd();
    expect(u.uart.out).toBe(irqExpect('uart-v2'));
    expect(u.doorbell!.tryRead()).toBe(3n);
  });
});

describe('SMP', () => {
  it.each([
    { name: 'interpreter', jit: false },
    { name: 'jit', jit: true },
  ])('sgi: PSCI CPU_ON and 50 SGI round trips between 2 vCPUs on worker threads ($name)', async ({ jit }) => {
    const b = board(irqGuest('sgi'), { jit, vcpus: 2 });
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const w1 = await startWorker(b.vcpus[1]!.export(), stop);
    const w0 = await startWorker(b.vcpus[0]!.export(), stop);
    const r0 = await w0.done;
    // vCPU 1 powered itself off and sleeps: stop it as a VMM would (a signal: immediate_exit,
    // set through the owner's mapping of its kvm_run).
    Atomics.store(stop, 0, 1);
    b.sys.mmap(b.vcpus[1]!.fd, 4096, 0)[1] = 1;
    const r1 = await w1.done;
    expect(r0.exits).toEqual(['system_event']);
    expect(r0.out).toBe(irqExpect('sgi'));
    expect(r1.exits).toEqual([]);
    expect(r1.out).toBe('');
  }, 60_000);
});

describe('vGIC save/restore', () => {
  it.each([
    { name: 'interpreter', jit: false },
    { name: 'jit', jit: true },
  ])('a guest saved mid-interrupt (active and pending) resumes on a restored VM with identical output ($name)', ({ jit }) => {
    const a = board(irqGuest('uart'), { jit, clock: 'deterministic' });
    // Run until the handler's third read of UARTMIS: SPI 33 is active, its level line still high.
    let mis = 0;
    const v = a.vcpus[0]!;
    for (let i = 0; mis < 3 && i < 10_000; i++) {
      const e = v.run();
      if (e.reason === 'intr') continue; // EINTR
      if (e.reason === 'mmio' && !e.isWrite && e.physAddr === BigInt(UART + 0x40)) mis++;
      a.handle(e);
    }
    expect(mis).toBe(3);
    // Complete the MMIO read as migration does (KVM_RUN with immediate_exit), then save.
    const run = a.sys.mmap(v.fd, 4096, 0);
    run[1] = 1;
    expect(v.run().reason).toBe('intr'); // EINTR
    run[1] = 0;
    const snap = saveGic(a.gic!, a.vcpus, 128);
    expect(snap.dist.get(0x304)! & 2).toBe(2); // SPI 33 active
    expect(snap.levels[0]!.get(32)! & 2).toBe(2); // and its line high
    const b = board(irqGuest('uart'), { jit, clock: 'deterministic' });
    b.ram.bytes.set(a.ram.bytes);
    restoreGic(b.gic!, b.vcpus, snap);
    Object.assign(b.uart, { out: a.uart.out, imsc: a.uart.imsc, ris: a.uart.ris, line: (a.uart as unknown as { line: boolean }).line });
    expect(saveGic(b.gic!, b.vcpus, 128)).toEqual(snap);
    a.runToEnd();
    b.runToEnd();
    expect(a.uart.out).toBe(irqExpect('uart'));
    expect(b.uart.out).toBe(irqExpect('uart'));
  });
});
