/**
 * The irqchip fuzzer: random guests poke the in-kernel PIC, PIT (with the speaker port), ELCR,
 * LAPIC (xAPIC MMIO and x2APIC MSRs: IPIs incl. INIT/SIPI/NMI to self, the timer in every mode,
 * TPR, EOI), IOAPIC, TSC/TSC_DEADLINE/APIC_BASE and the kvmclock MSRs, with STI/CLI/HLT and
 * software interrupts in between, while the VMM drives KVM_IRQ_LINE, KVM_SIGNAL_MSI, an irqfd and
 * KVM_NMI and saves and restores KVM_GET/SET_LAPIC, IRQCHIP, PIT2 and VCPU_EVENTS between runs.
 * Oracle (test/fuzz): every KVM_RUN ends with a defined exit or an errno KVM_RUN may return, no
 * JS exception escapes any call nor is swallowed by the run loop (probe.ts), and the state each
 * GET returns is accepted by its SET. Both engines, deterministic clock, seeded (reproducible).
 */
import { writeSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EventFd, KvmError, virtualSys, x86_64, type Vcpu } from '../../src/index.js';
import { X86_ENGINES } from '../helpers/engines.js';
import { irqGuest, irqMachine } from '../helpers/irq.js';
import { checkExit, RUN_ERRNOS } from '../fuzz/oracle.js';
import { installX86Probe, takeInternalError } from '../fuzz/probe.js';
import { mixSeed, Rng } from '../fuzz/rng.js';

const STUB = irqGuest('fuzzstub');
const FUZZ = 0x10000;
const PROGRAMS = Number(process.env.IRQ_FUZZ_PROGRAMS ?? 6);
const SEED = Number(process.env.IRQ_FUZZ_SEED ?? 0x1e9);
const { KVM_IRQCHIP } = x86_64;

const PORTS = [0x20, 0x21, 0xa0, 0xa1, 0x40, 0x41, 0x42, 0x43, 0x61];
const MSRS = [0x10, 0x1b, 0x3b, 0x6e0, 0x11, 0x12, 0x4b564d00, 0x4b564d01, 0x802, 0x803, 0x808, 0x80a, 0x80b, 0x80d, 0x80f, 0x830, 0x832, 0x835, 0x836, 0x837, 0x838, 0x839, 0x83e, 0x83f];
/** LAPIC register offsets (ID, TPR, EOI, LDR, DFR, SVR, ICR2, ICR, LVTs, TMICT, TDCR, ESR). */
const LAPIC_REGS = [0x20, 0x80, 0xb0, 0xd0, 0xe0, 0xf0, 0x310, 0x300, 0x320, 0x330, 0x340, 0x350, 0x360, 0x370, 0x380, 0x390, 0x3e0, 0x280, 0x100, 0x200];

/** Random guest code: `ops` operations on the interrupt and time devices. */
function program(rng: Rng, ops: number): Uint8Array {
  const out: number[] = [];
  const u8 = (v: number) => out.push(v & 0xff);
  const u16 = (v: number) => (u8(v), u8(v >> 8));
  const u32 = (v: number) => (u16(v), u16(v >>> 16));
  const value = () => (rng.chance(0.5) ? rng.u32() : rng.pick([0, 1, 0xff, 0x1ff, 0x20040, 0x40040, 0x40, 0x4030, 0x4400, 0x4500, 0x4600, 0xc4030, 0x80000, 0x10000, 0x700, 0xfee00900, 0xfee00d00]));
  for (let i = 0; i < ops; i++) {
    switch (rng.int(12)) {
      case 0: // OUT imm8
        u8(0xb0), u8(rng.u32()), u8(0xe6), u8(rng.pick(PORTS));
        break;
      case 1: // IN imm8
        u8(0xe4), u8(rng.pick(PORTS));
        break;
      case 2: // ELCR through DX
        u8(0x66), u8(0xba), u16(rng.pick([0x4d0, 0x4d1])), u8(0xb0), u8(rng.u32()), u8(0xee);
        break;
      case 3:
      case 4: // LAPIC MMIO write (mov rbx, imm64; mov dword [rbx], imm32)
        u8(0x48), u8(0xbb), u32(0xfee00000 + rng.pick(LAPIC_REGS)), u32(0), u8(0xc7), u8(0x03), u32(value());
        break;
      case 5: // LAPIC MMIO read
        u8(0x48), u8(0xbb), u32(0xfee00000 + (rng.int(0x40) << 4)), u32(0), u8(0x8b), u8(0x03);
        break;
      case 6: // IOAPIC: IOREGSEL, then IOWIN
        u8(0x48), u8(0xbb), u32(0xfec00000), u32(0), u8(0xc7), u8(0x03), u32(rng.int(0x40));
        u8(0xc7), u8(0x43), u8(0x10), u32(value());
        break;
      case 7:
      case 8: { // WRMSR / RDMSR (ecx, eax, edx)
        u8(0xb9), u32(rng.pick(MSRS)), u8(0xb8), u32(value()), u8(0xba), u32(rng.chance(0.8) ? 0 : rng.u32());
        u8(0x0f), u8(rng.chance(0.6) ? 0x30 : 0x32);
        break;
      }
      case 9: // STI; NOP / HLT
        u8(0xfb), u8(rng.chance(0.5) ? 0x90 : 0xf4);
        break;
      case 10: // CLI
        u8(0xfa);
        break;
      case 11: // INT n
        u8(0xcd), u8(rng.range(0x20, 0xff));
        break;
    }
  }
  u8(0xfb), u8(0xf4), u8(0xeb), u8(0xfc); // sti; hlt; jmp back to the hlt
  return new Uint8Array(out);
}

function run(v: Vcpu): string {
  try {
    const r = v.run();
    if (r.reason === 'intr') return 'EINTR'; // KVM_RUN failed with EINTR: exit_reason is KVM_EXIT_INTR, not a 0-return exit
    checkExit('x86_64', v.area);
    return r.reason;
  } catch (e) {
    if (e instanceof KvmError && RUN_ERRNOS.has(e.code)) return e.code;
    throw e;
  }
}

describe.each(X86_ENGINES)('irqchip fuzzer ($name)', (e) => {
  it(`${PROGRAMS} random guests against PIC/PIT/LAPIC/IOAPIC/MSRs and VMM-side interrupts`, { timeout: 300_000 }, () => {
    installX86Probe();
    const tally: Record<string, number> = {};
    for (let p = 0; p < PROGRAMS; p++) {
      const rng = new Rng(mixSeed(SEED, p));
      const sys = virtualSys({ ...e.opts, clock: 'deterministic', runBudget: 5_000, haltWaitMs: 0 });
      const m = irqMachine(sys, { code: STUB, pit: x86_64.KVM_PIT.SPEAKER_DUMMY });
      m.ram.bytes.set(program(rng, 150), FUZZ);
      const v = m.vcpus[0]!;
      const irq = EventFd.create(sys);
      m.vm.irqfd({ fd: irq, gsi: rng.int(24) });
      const where = `program ${p} (seed ${SEED})`;
      if (process.env.IRQ_FUZZ_LOG) writeSync(2, `${where}\n`);
      for (let step = 0; step < 12; step++) {
        if (process.env.IRQ_FUZZ_LOG) writeSync(2, ` step ${step} ${Date.now()}\n`);
        const reason = run(v);
        tally[reason] = (tally[reason] ?? 0) + 1;
        const internal = takeInternalError(sys, v.fd);
        if (internal) throw new Error(`${where} step ${step}: the run loop swallowed ${String(internal)}\n${(internal as Error).stack ?? ''}`);
        if (reason === 'internal_error' && process.env.IRQ_FUZZ_LOG) {
          const x = v.exit();
          writeSync(2, `${where} internal ${JSON.stringify(x, (_k, y) => (typeof y === 'bigint' ? y.toString(16) : y instanceof Uint8Array ? [...y] : y))} rip ${v.getRegs().rip.toString(16)} cr0 ${v.getSregs().cr0.toString(16)}\n`);
        }
        if (reason === 'shutdown' || reason === 'internal_error') break;
        switch (rng.int(6)) {
          case 0:
            m.vm.irqLine(rng.int(24), rng.int(2));
            break;
          case 1:
            m.vm.signalMsi({ addressLo: 0xfee00000 | (rng.chance(0.8) ? 0 : rng.int(256) << 12), data: rng.u32() & 0xffff });
            break;
          case 2:
            irq.signal();
            break;
          case 3:
            v.nmi();
            break;
          case 4: { // a VMM saves and restores the interrupt state (each GET must be a valid SET)
            v.setLapic(v.getLapic());
            for (const id of [KVM_IRQCHIP.PIC_MASTER, KVM_IRQCHIP.PIC_SLAVE, KVM_IRQCHIP.IOAPIC]) m.vm.setIrqchip(m.vm.getIrqchip(id));
            m.vm.setPit2(m.vm.getPit2());
            v.setVcpuEvents(v.getVcpuEvents());
            v.setMpState(v.getMpState());
            break;
          }
          default:
            break;
        }
      }
      v.getRegs();
      v.getSregs();
    }
    console.log(`[irqchip-fuzz] ${e.name}: ${PROGRAMS} programs, exits ${JSON.stringify(tally)}`);
    expect(Object.keys(tally).length).toBeGreaterThan(0);
  });
});
