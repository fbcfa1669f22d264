/**
 * The its guest (test/guests/arm64/irq/its.S) on an in-kernel vGICv3 with an ITS: LPI tables, the
 * command queue, LPIs from INT, KVM_SIGNAL_MSI and irqfds routed as MSIs, taken at EL1 and from
 * EL0; its output must be what it printed under qemu-system-aarch64 -M virt,gic-version=3 (TCG),
 * where the same requests are the guest's own GITS_TRANSLATER writes. Interpreter and JIT.
 */
import { describe, expect, it } from 'vitest';
import type { Device } from '../../src/index.js';
import { KVM_DEV_ARM_ITS as ITS, KVM_DEV_ARM_VGIC } from '../../src/uapi/arm64.js';
import { board, irqExpect, irqGuest } from './gic-board.js';
import { createIts, itsBoard } from './its-board.js';
import { startWorker } from './irq-workers.js';
import { restoreGic, saveGic } from './vgic-state.js';

describe.each([
  { name: 'interpreter', jit: false },
  { name: 'jit', jit: true },
])('$name', ({ jit }) => {
  it('its: LPIs from INT, KVM_SIGNAL_MSI and MSI irqfds, priorities, INV, CLEAR, MOVI, DISCARD, EL0', () => {
    const b = itsBoard({ jit });
    expect(b.runUntil()).toBe(false);
    expect(b.uart.out).toBe(irqExpect('its'));
    // KVM_SIGNAL_MSI: delivered (1) except for the discarded event (0); the disabled LPI's MSI
    // is delivered to its pending state (1).
    expect(b.msiResults).toEqual([1, 1, 1, 0, 1]);
    expect(b.irqfdCount).toBe(3);
  });
});

describe('ITS SMP', () => {
  it.each([
    { name: 'interpreter', jit: false },
    { name: 'jit', jit: true },
  ])('its-smp: LPIs routed by collection to a vCPU on another worker thread, MOVI and MAPC retarget them ($name)', async ({ jit }) => {
    const b = board(irqGuest('its-smp'), { jit, vcpus: 2 });
    createIts(b);
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const w1 = await startWorker(b.vcpus[1]!.export(), stop);
    const w0 = await startWorker(b.vcpus[0]!.export(), stop);
    const r0 = await w0.done;
    Atomics.store(stop, 0, 1);
    b.sys.mmap(b.vcpus[1]!.fd, 4096, 0)[1] = 1;
    const r1 = await w1.done;
    expect(r0.exits).toEqual(['system_event']);
    expect(r0.out).toBe(irqExpect('its-smp'));
    expect(r1.out).toBe('');
  }, 60_000);
});

describe('ITS save/restore', () => {
  it.each([
    { name: 'interpreter', jit: false },
    { name: 'jit', jit: true },
  ])('a guest saved with a disabled LPI pending resumes on a restored VM (ITS regs, tables, LPI state) with identical output ($name)', ({ jit }) => {
    const a = itsBoard({ jit, clock: 'deterministic' });
    expect(a.runUntil(() => a.uart.out.endsWith('disabled: none\n'))).toBe(true);
    // Complete the exit as migration does (KVM_RUN with immediate_exit), then save as QEMU does.
    const v = a.vcpus[0]!;
    const run = a.sys.mmap(v.fd, 4096, 0);
    run[1] = 1;
    expect(v.run().reason).toBe('intr');
    run[1] = 0;
    const G = KVM_DEV_ARM_VGIC;
    a.gic!.setAttr({ group: G.GRP_CTRL, attr: G.SAVE_PENDING_TABLES });
    a.its.setAttr({ group: G.GRP_CTRL, attr: ITS.SAVE_TABLES });
    const itsRegs = ITS_REGS.map((o) => [o, a.its.getAttr({ group: G.GRP_ITS_REGS, attr: o })] as const);
    const lpiRegs = a.vcpus.map((c) => LPI_REDIST.map((o) => [o, rd32(a.gic!, BigInt(c.id) << 32n, o)] as const));
    const snap = saveGic(a.gic!, a.vcpus, 128);
    // LPI 8193 is pending (and disabled): its bit is in vCPU 0's pending table.
    const pend = 0x40210000 - 0x40000000;
    expect((a.ram.bytes[pend + (8193 >> 3)]! >> (8193 & 7)) & 1).toBe(1);
    expect(snap.redist[0]!.get(0)! & 1).toBe(1); // GICR_CTLR.EnableLPIs

    const b = itsBoard({ jit, clock: 'deterministic' });
    b.ram.bytes.set(a.ram.bytes);
    b.vcpus.forEach((c, i) => {
      for (const [o, val] of lpiRegs[i]!) wr32(b.gic!, BigInt(c.id) << 32n, o, val);
    });
    restoreGic(b.gic!, b.vcpus, snap);
    const r = new Map(itsRegs);
    for (const o of [GITS_IIDR, GITS_CBASER, GITS_CREADR, GITS_CWRITER, ...BASERS]) b.its.setAttr({ group: G.GRP_ITS_REGS, attr: o }, r.get(o)!);
    b.its.setAttr({ group: G.GRP_CTRL, attr: ITS.RESTORE_TABLES });
    b.its.setAttr({ group: G.GRP_ITS_REGS, attr: GITS_CTLR }, r.get(GITS_CTLR)!);
    expect(ITS_REGS.map((o) => b.its.getAttr({ group: G.GRP_ITS_REGS, attr: o }))).toEqual(itsRegs.map(([, x]) => x));
    b.uart.out = a.uart.out;
    b.msiResults.push(...a.msiResults);
    b.irqfdCount = a.irqfdCount;
    expect(a.runUntil()).toBe(false);
    expect(b.runUntil()).toBe(false);
    expect(a.uart.out).toBe(irqExpect('its'));
    expect(b.uart.out).toBe(irqExpect('its'));
    expect(b.msiResults).toEqual([1, 1, 1, 0, 1]);
    expect(b.irqfdCount).toBe(3);
  });
});

const GITS_CTLR = 0x0;
const GITS_IIDR = 0x4;
const GITS_CBASER = 0x80;
const GITS_CWRITER = 0x88;
const GITS_CREADR = 0x90;
const BASERS = Array.from({ length: 8 }, (_, i) => 0x100 + 8 * i);
const ITS_REGS = [GITS_CTLR, GITS_IIDR, GITS_CBASER, GITS_CREADR, GITS_CWRITER, ...BASERS];
/** GICR_PROPBASER and GICR_PENDBASER (both halves), restored before GICR_CTLR. */
const LPI_REDIST = [0x70, 0x74, 0x78, 0x7c];
const rd32 = (gic: Device, mpidr: bigint, off: number) => new DataView(gic.getAttrBytes({ group: KVM_DEV_ARM_VGIC.GRP_REDIST_REGS, attr: mpidr | BigInt(off) }, 4).buffer).getUint32(0, true);
const wr32 = (gic: Device, mpidr: bigint, off: number, v: number) => gic.setAttr({ group: KVM_DEV_ARM_VGIC.GRP_REDIST_REGS, attr: mpidr | BigInt(off) }, Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24));
