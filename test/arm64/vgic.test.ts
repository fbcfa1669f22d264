/**
 * The vGIC model on its own (no VM): distributor/redistributor/GICC register tables, the ICC_*
 * CPU interface, priorities, groups, edge/level, pending/active, routing and SGIs, as the GIC
 * architecture and KVM's vgic define them.
 */
import { describe, expect, it } from 'vitest';
import { iccAccess, iccUserAccess, ICC, RES, UNDEF } from '../../src/arch/arm64/vgic/cpuif.js';
import { mmioRead, mmioWrite, uaccessRead, uaccessWrite, type Region } from '../../src/arch/arm64/vgic/mmio.js';
import { CPU_REGS, DIST_REGS as V2_DIST, giccRead, giccWrite } from '../../src/arch/arm64/vgic/v2.js';
import { DIST_REGS, REDIST_REGS } from '../../src/arch/arm64/vgic/v3.js';
import { CPU, GIC_V2, GIC_V3, OUT_FIQ, OUT_IRQ, SPURIOUS, VgicState } from '../../src/arch/arm64/vgic/vgic.js';

function gic(model: number, nVcpus = 2, nrSpis = 64) {
  const kicks = Array.from({ length: nVcpus }, () => new Int32Array(new SharedArrayBuffer(4)));
  const g = VgicState.create(model, nrSpis, kicks.map((kick, i) => ({ id: i, mpidr: i, kick })));
  const out = { lo: 0, hi: 0 };
  const rd = (regions: readonly Region[], vcpu: number, addr: number, len = 4) => {
    mmioRead(regions, { g, vcpu }, addr, len, out);
    return len === 8 ? out.lo + out.hi * 2 ** 32 : out.lo;
  };
  const wr = (regions: readonly Region[], vcpu: number, addr: number, val: number, len = 4) => mmioWrite(regions, { g, vcpu }, addr, len, val, Math.floor(val / 2 ** 32));
  const icc = (v: number, k: number, val?: number) => {
    const r = iccAccess(g, v, k, val === undefined, val ?? 0, 0);
    if (r === UNDEF) return 'UNDEF';
    return val === undefined ? RES.lo : undefined;
  };
  /** Distributor on, Group 1 forwarded, PMR open: the state Linux sets up. */
  const ready = () => {
    wr(model === GIC_V3 ? DIST_REGS : V2_DIST, 0, 0, model === GIC_V3 ? 2 : 1);
    for (let v = 0; v < nVcpus; v++) {
      if (model === GIC_V3) {
        icc(v, ICC.IGRPEN1, 1);
        icc(v, ICC.IGRPEN0, 1);
        icc(v, ICC.PMR, 0xf0);
      } else {
        giccWrite({ g, vcpu: v }, 0, 4, 3);
        giccWrite({ g, vcpu: v }, 4, 4, 0xf0);
      }
    }
  };
  const out_ = (v: number) => g.outView(v)[0]!;
  return { g, kicks, rd, wr, icc, ready, out: out_ };
}

const SGI = 0x10000;

describe('GICv3 distributor and redistributor registers', () => {
  it('identify a KVM GICv3: TYPER lines and ID bits, IIDR, PIDR2, CTLR ARE/DS, redistributor TYPER', () => {
    const { rd, wr } = gic(GIC_V3, 2, 64);
    expect(rd(DIST_REGS, 0, 0x0)).toBe(0x50); // ARE_NS | DS, disabled
    expect(rd(DIST_REGS, 0, 0x4)).toBe(((96 >> 5) - 1) | (9 << 19));
    expect(rd(DIST_REGS, 0, 0x8)).toBe((0x4b << 24) | (3 << 12) | 0x43b);
    expect(rd(DIST_REGS, 0, 0xffe8)).toBe(0x3b);
    expect(rd(REDIST_REGS, 1, 0xffe8)).toBe(0x3b);
    wr(DIST_REGS, 0, 0x0, 0xffffffff);
    expect(rd(DIST_REGS, 0, 0x0)).toBe(0x52);
    // GICR_TYPER of vCPU 1: affinity 1 in the high word, processor number 1, no PLPIS.
    expect(rd(REDIST_REGS, 1, 0x8, 8)).toBe(1 * 2 ** 32 + (1 << 8));
    expect(rd(REDIST_REGS, 1, 0xc)).toBe(1);
  });

  it('keeps private interrupts in the redistributors: the distributor banks are RAZ/WI there', () => {
    const { rd, wr } = gic(GIC_V3);
    expect(rd(REDIST_REGS, 0, SGI + 0x100)).toBe(0xffff); // SGIs reset enabled
    expect(rd(DIST_REGS, 0, 0x100)).toBe(0);
    wr(DIST_REGS, 0, 0x100, 0xffffffff);
    expect(rd(REDIST_REGS, 0, SGI + 0x100)).toBe(0xffff);
    wr(REDIST_REGS, 1, SGI + 0x100, 1 << 27);
    expect(rd(REDIST_REGS, 1, SGI + 0x100)).toBe((0xffff | (1 << 27)) >>> 0);
    expect(rd(REDIST_REGS, 0, SGI + 0x100)).toBe(0xffff); // banked per vCPU
    // ICFGR0: SGIs edge (0b10 each), read-only; ICFGR1 (PPIs) level and read-only too.
    expect(rd(REDIST_REGS, 0, SGI + 0xc00)).toBe(0xaaaaaaaa);
    wr(REDIST_REGS, 0, SGI + 0xc04, 0xaaaaaaaa);
    expect(rd(REDIST_REGS, 0, SGI + 0xc04)).toBe(0);
  });

  it('keeps 5 priority bits, takes byte and word accesses, and ignores widths the region refuses', () => {
    const { rd, wr } = gic(GIC_V3);
    wr(DIST_REGS, 0, 0x420, 0x12345678);
    expect(rd(DIST_REGS, 0, 0x420)).toBe(0x10305078);
    wr(DIST_REGS, 0, 0x421, 0xff, 1);
    expect(rd(DIST_REGS, 0, 0x421, 1)).toBe(0xf8);
    expect(rd(DIST_REGS, 0, 0x420)).toBe(0x1030f878);
    // ISENABLER takes 32-bit accesses only; a byte write is ignored, a byte read is 0.
    wr(DIST_REGS, 0, 0x104, 0xff, 1);
    expect(rd(DIST_REGS, 0, 0x104)).toBe(0);
    expect(rd(DIST_REGS, 0, 0x100, 1)).toBe(0);
    // INTIDs beyond the configured 96 are RAZ/WI.
    wr(DIST_REGS, 0, 0x10c, 0xffffffff);
    expect(rd(DIST_REGS, 0, 0x10c)).toBe(0);
  });

  it('routes SPIs by IROUTER affinity (Aff3 word RAZ/WI), to no vCPU for an unknown affinity', () => {
    const { g, rd, wr, ready, out } = gic(GIC_V3);
    ready();
    wr(DIST_REGS, 0, 0x6000 + 8 * 40, 1);
    wr(DIST_REGS, 0, 0x6000 + 8 * 40 + 4, 0xff);
    expect(rd(DIST_REGS, 0, 0x6000 + 8 * 40, 8)).toBe(1);
    wr(DIST_REGS, 0, 0x104, 1 << 8); // enable SPI 40
    g.inject(-1, 40, true);
    expect([out(0), out(1)]).toEqual([0, OUT_IRQ]);
    wr(DIST_REGS, 0, 0x6000 + 8 * 40, 0x070000);
    expect([out(0), out(1)]).toEqual([0, 0]);
    wr(DIST_REGS, 0, 0x6000 + 8 * 40, 0);
    expect([out(0), out(1)]).toEqual([OUT_IRQ, 0]);
  });
});

describe('GICv3 delivery through the ICC_* CPU interface', () => {
  it('a level SPI: signals while the line is high, acknowledge makes it active, re-signals after EOI until lowered', () => {
    const { g, kicks, wr, icc, ready, out } = gic(GIC_V3);
    ready();
    wr(DIST_REGS, 0, 0x104, 1 << 1); // enable SPI 33
    wr(DIST_REGS, 0, 0x420, 0xa0 << 8); // priority 0xa0
    expect(g.inject(-1, 33, true)).toBe(true);
    expect(out(0)).toBe(OUT_IRQ);
    expect(Atomics.load(kicks[0]!, 0) & 1).toBe(1);
    expect(icc(0, ICC.HPPIR1)).toBe(33);
    expect(icc(0, ICC.IAR1)).toBe(33);
    expect(icc(0, ICC.RPR)).toBe(0xa0);
    expect(out(0)).toBe(0); // active: not signalled again
    expect(icc(0, ICC.IAR1)).toBe(SPURIOUS);
    icc(0, ICC.EOIR1, 33);
    expect(icc(0, ICC.RPR)).toBe(0xff);
    expect(out(0)).toBe(OUT_IRQ); // the line is still high
    g.inject(-1, 33, false);
    expect(out(0)).toBe(0);
    expect(icc(0, ICC.IAR1)).toBe(SPURIOUS);
  });

  it('an edge SPI latches once per rising level; a new edge while active stays pending', () => {
    const { g, wr, icc, ready, out } = gic(GIC_V3);
    ready();
    wr(DIST_REGS, 0, 0xc08, 2 << 2); // SPI 33 edge-triggered
    wr(DIST_REGS, 0, 0x104, 1 << 1);
    g.inject(-1, 33, true);
    expect(icc(0, ICC.IAR1)).toBe(33);
    g.inject(-1, 33, true); // pending again while active
    expect(out(0)).toBe(0);
    icc(0, ICC.EOIR1, 33);
    expect(icc(0, ICC.IAR1)).toBe(33);
    icc(0, ICC.EOIR1, 33);
    expect(out(0)).toBe(0);
  });

  it('masks by PMR and preempts by group priority only', () => {
    const { g, wr, icc, ready, out } = gic(GIC_V3);
    ready();
    wr(DIST_REGS, 0, 0x104, 0b110); // SPIs 33, 34
    wr(DIST_REGS, 0, 0x420, (0x80 << 8) | (0x40 << 16)); // 33: 0x80, 34: 0x40
    icc(0, ICC.PMR, 0x80);
    g.inject(-1, 33, true);
    expect(out(0)).toBe(0); // priority 0x80 is not below PMR 0x80
    icc(0, ICC.PMR, 0xf8);
    expect(out(0)).toBe(OUT_IRQ);
    expect(icc(0, ICC.IAR1)).toBe(33);
    g.inject(-1, 34, true); // higher priority: preempts
    expect(out(0)).toBe(OUT_IRQ);
    expect(icc(0, ICC.IAR1)).toBe(34);
    expect(icc(0, ICC.RPR)).toBe(0x40);
    icc(0, ICC.EOIR1, 34);
    expect(icc(0, ICC.RPR)).toBe(0x80);
    // With the binary point grouping 0x80 and 0x88 together, 0x88 does not preempt 0x80.
    icc(0, ICC.BPR1, 7);
    expect(icc(0, ICC.BPR1)).toBe(7);
  });

  it('Group 0 is signalled as FIQ and acknowledged through IAR0 only', () => {
    const { g, wr, icc, ready, out } = gic(GIC_V3);
    ready();
    wr(DIST_REGS, 0, 0x84, 0); // SPIs 32-63 to Group 0
    wr(DIST_REGS, 0, 0x104, 1 << 1);
    g.inject(-1, 33, true);
    expect(out(0)).toBe(OUT_FIQ);
    expect(icc(0, ICC.IAR1)).toBe(SPURIOUS);
    expect(icc(0, ICC.HPPIR0)).toBe(33);
    expect(icc(0, ICC.IAR0)).toBe(33);
    icc(0, ICC.EOIR0, 33);
    icc(0, ICC.IGRPEN0, 0);
    expect(out(0)).toBe(0);
  });

  it('EOImode 1 splits priority drop (EOIR) from deactivation (DIR)', () => {
    const { g, wr, icc, ready, out } = gic(GIC_V3);
    ready();
    icc(0, ICC.CTLR, 2);
    expect(icc(0, ICC.CTLR)).toBe((4 << 8) | (1 << 15) | 2);
    wr(DIST_REGS, 0, 0xc08, 2 << 2);
    wr(DIST_REGS, 0, 0x104, 1 << 1);
    g.inject(-1, 33, true);
    expect(icc(0, ICC.IAR1)).toBe(33);
    icc(0, ICC.EOIR1, 33);
    expect(icc(0, ICC.RPR)).toBe(0xff);
    g.inject(-1, 33, true);
    expect(out(0)).toBe(0); // still active
    icc(0, ICC.DIR, 33);
    expect(out(0)).toBe(OUT_IRQ);
  });

  it('ICC_SGI1R_EL1 targets by affinity list or every other vCPU; SGI0R raises Group 0 SGIs only', () => {
    const { icc, ready, out, g, rd } = gic(GIC_V3, 3);
    const rdPend = (v: number) => rd(REDIST_REGS, v, SGI + 0x200);
    ready();
    iccAccess(g, 0, ICC.SGI1R, false, (5 << 24) | 0b110, 0); // SGI 5 to Aff0 1 and 2
    expect([out(0), out(1), out(2)]).toEqual([0, OUT_IRQ, OUT_IRQ]);
    expect(icc(1, ICC.IAR1)).toBe(5);
    iccAccess(g, 2, ICC.SGI1R, false, 7 << 24, 1 << 8); // IRM: all but vCPU 2
    expect(icc(0, ICC.IAR1)).toBe(7);
    expect(icc(2, ICC.IAR1)).toBe(5); // only its earlier SGI 5
    iccAccess(g, 0, ICC.SGI0R, false, (9 << 24) | 0b10, 0); // SGI 9 is Group 1: not raised
    expect(rdPend(1) & (1 << 9)).toBe(0);
    expect(rdPend(1) & (1 << 7)).toBe(1 << 7);
    expect(icc(0, ICC.SGI1R)).toBe('UNDEF'); // write-only
    expect(icc(0, ICC.IAR1, 0)).toBe('UNDEF'); // read-only
    expect(icc(0, ICC.AP0R1)).toBe('UNDEF'); // beyond 5 priority bits
  });

  it('userspace: CPU_SYSREGS checks restores; ISPENDR exposes the latch alone (line levels are LEVEL_INFO)', () => {
    const { g, wr, rd } = gic(GIC_V3);
    const c = { g, vcpu: 0 };
    expect(iccUserAccess(g, 0, ICC.CTLR, false, (5 << 8) | (1 << 15))).toBe('EINVAL'); // 6 priority bits
    expect(iccUserAccess(g, 0, ICC.CTLR, false, (4 << 8) | 2)).toBe('EINVAL'); // A3V differs
    expect(iccUserAccess(g, 0, ICC.CTLR, false, (4 << 8) | (1 << 15) | 1)).toBeUndefined();
    expect(iccUserAccess(g, 0, ICC.AP1R2, true, 0)).toBe('EINVAL');
    expect(iccUserAccess(g, 0, ICC.SRE, false, 0)).toBe('EINVAL');
    expect(iccUserAccess(g, 0, ICC.IAR1, true, 0)).toBe('ENOENT');
    g.inject(-1, 33, true); // level line high
    expect(rd(DIST_REGS, 0, 0x204)).toBe(2); // the guest sees it pending
    expect(uaccessRead(DIST_REGS, c, 0x204)).toBe(0); // userspace: no latch
    uaccessWrite(DIST_REGS, c, 0x204, 4);
    expect(uaccessRead(DIST_REGS, c, 0x204)).toBe(4);
    uaccessWrite(DIST_REGS, c, 0x284, 4); // ICPENDR: ignored from userspace
    expect(uaccessRead(DIST_REGS, c, 0x204)).toBe(4);
    expect(uaccessWrite(DIST_REGS, c, 0x8, 0x43b | (0x4b << 24) | (2 << 12))).toBeUndefined();
    expect(rd(DIST_REGS, 0, 0x8) >>> 12 & 0xf).toBe(2);
    expect(uaccessWrite(DIST_REGS, c, 0x8, 0x43c | (0x4b << 24) | (2 << 12))).toBe('EINVAL');
    wr(DIST_REGS, 0, 0x204, 0);
  });

  it('calls the level-EOI hook when a level-triggered SPI is deactivated (resampling irqfds)', () => {
    const { g, wr, icc, ready } = gic(GIC_V3);
    const acked: number[] = [];
    g.onLevelEoi = (spi) => acked.push(spi);
    ready();
    wr(DIST_REGS, 0, 0x104, 0b110);
    wr(DIST_REGS, 0, 0xc08, 2 << 4); // SPI 34 edge
    g.inject(-1, 33, true);
    g.inject(-1, 34, true);
    expect(icc(0, ICC.IAR1)).toBe(33);
    g.inject(-1, 33, false); // the device was serviced
    icc(0, ICC.EOIR1, 33);
    expect(acked).toEqual([1]);
    expect(icc(0, ICC.IAR1)).toBe(34);
    icc(0, ICC.EOIR1, 34);
    expect(acked).toEqual([1]);
  });
});

describe('GICv2', () => {
  it('routes SPIs by ITARGETSR (lowest CPU), banks private interrupts, reads its own CPU as their target', () => {
    const { g, rd, wr, ready, out } = gic(GIC_V2, 3);
    ready();
    expect(rd(V2_DIST, 0, 0x4)).toBe(((96 >> 5) - 1) | (2 << 5));
    expect(rd(V2_DIST, 2, 0x800)).toBe(0x04040404);
    wr(V2_DIST, 0, 0x820, 0x06); // SPI 32 to CPUs 1 and 2: delivered to 1
    expect(rd(V2_DIST, 0, 0x820)).toBe(0x06);
    wr(V2_DIST, 0, 0x104, 1);
    g.inject(-1, 32, true);
    expect([out(0), out(1), out(2)]).toEqual([0, OUT_IRQ, 0]);
  });

  it('GICD_SGIR sets per-source pending bits; GICC_IAR returns the source; CPENDSGIR clears', () => {
    const { g, rd, wr, ready, out } = gic(GIC_V2, 3);
    ready();
    wr(V2_DIST, 0, 0xf00, (0b100 << 16) | 3); // SGI 3 to CPU 2 from CPU 0
    wr(V2_DIST, 1, 0xf00, (2 << 24) | 3); // SGI 3 to itself from CPU 1
    wr(V2_DIST, 1, 0xf00, (1 << 24) | 3); // SGI 3 to all but CPU 1
    expect(rd(V2_DIST, 2, 0xf20) & 0xff000000).toBe(0b011 << 24); // sources 0 and 1
    expect(out(2)).toBe(OUT_IRQ); // Group 0 signalled as IRQ without FIQEn
    const c2 = { g, vcpu: 2 };
    expect(giccRead(c2, 0x0c, 4)).toBe(3 | (0 << 10));
    giccWrite(c2, 0x10, 4, 3);
    expect(giccRead(c2, 0x0c, 4)).toBe(3 | (1 << 10));
    giccWrite(c2, 0x10, 4, 3 | (1 << 10));
    expect(giccRead(c2, 0x0c, 4)).toBe(SPURIOUS);
    expect(rd(V2_DIST, 1, 0xf20) >>> 24).toBe(0b10);
    wr(V2_DIST, 1, 0xf10, 0xff << 24);
    expect(rd(V2_DIST, 1, 0xf20)).toBe(0);
    // Guest writes to ISPENDR0's SGI bits are ignored.
    wr(V2_DIST, 0, 0x200, 0xffff);
    expect(rd(V2_DIST, 0, 0x200) & 0xffff).toBe(1 << 3);
  });

  it('Group 0 becomes FIQ with GICC_CTLR.FIQEn; CPU_REGS exposes PMR as its top five bits', () => {
    const { g, wr, ready, out } = gic(GIC_V2, 1);
    ready();
    wr(V2_DIST, 0, 0x104, 1);
    g.inject(-1, 32, true);
    expect(out(0)).toBe(OUT_IRQ);
    giccWrite({ g, vcpu: 0 }, 0, 4, 3 | 8);
    expect(out(0)).toBe(OUT_FIQ);
    expect(uaccessRead(CPU_REGS, { g, vcpu: 0 }, 0x4)).toBe(0xf0 >> 3);
    expect(uaccessRead(CPU_REGS, { g, vcpu: 0 }, 0xfc)).toBe((0x4b << 20) | (2 << 16) | 0x43b);
    expect(g.cpuWord(0, CPU.V2CTLR)).toBe(11);
  });
});
