/**
 * `npm run bench:irq`: the in-kernel interrupt paths of the x86 irqchip (src/arch/x86/irqchip), on
 * the vCPU's own thread, with the guest test/guests/x86/irq/bench.asm:
 *   (a) irqfd -> guest handler -> ioeventfd round trip: the VMM signals an eventfd assigned with
 *       KVM_IRQFD (an MSI route), KVM_RUN wakes the halted vCPU, the handler writes the ioeventfd
 *       port (no exit) and EOIs, the guest halts again and KVM_RUN returns (haltWaitMs 0: EINTR at
 *       once, as a signal would), and the VMM reads the ioeventfd's count. ns per round trip;
 *   (b) timer interrupt rate: the LAPIC timer periodic at its 200 us minimum under the
 *       deterministic clock (a halted vCPU's time jumps to the next deadline), so the rate is
 *       what delivering, handling and EOI-ing a timer interrupt costs: interrupts per host second.
 * Both with the block JIT and the interpreter. Options: --quick, --no-interp.
 * @module
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EventFd, virtualSys, type Vcpu } from '../src/index.js';
import { irqMachine } from '../test/helpers/irq.js';

const argv = process.argv.slice(2);
const root = resolve(argv.includes('--root') ? argv[argv.indexOf('--root') + 1]! : process.cwd());
const quick = argv.includes('--quick');
const code = new Uint8Array(readFileSync(join(root, 'test/guests/x86/irq/bench.bin')));
const now = () => process.hrtime.bigint();

/** KVM_RUN until it returns EINTR (the halted vCPU gave up its wait); any exit is an error. */
function runToIntr(v: Vcpu): void {
  const e = v.run();
  if (e.reason !== 'intr') throw new Error(`unexpected exit ${e.reason}`);
}

function report(v: Vcpu): number {
  for (;;) {
    const e = v.run();
    if (e.reason === 'intr') continue;
    if (e.reason !== 'io' || e.port !== 0x600) throw new Error(`unexpected exit ${e.reason}`);
    return new DataView(e.data.buffer, e.data.byteOffset).getUint32(0, true);
  }
}

function irqfdRoundTrip(jit: boolean, n: number): number {
  const sys = virtualSys({ arch: 'x86_64', jit, haltWaitMs: 0 });
  const m = irqMachine(sys, { code });
  const v = m.vcpus[0]!;
  v.setRegs({ rdi: 1n });
  if (report(v) !== 1) throw new Error('guest not ready');
  const irq = EventFd.create(sys);
  const kick = EventFd.create(sys);
  m.vm.setGsiRouting([{ gsi: 30, type: 'msi', addressLo: 0xfee00000, data: 0x50 }]);
  m.vm.irqfd({ fd: irq, gsi: 30 });
  m.vm.ioeventfd({ fd: kick, addr: 0x700, len: 1, pio: true });
  runToIntr(v); // halted
  const once = () => {
    irq.signal();
    runToIntr(v);
    if (kick.tryRead() !== 1n) throw new Error('the handler did not write the ioeventfd');
  };
  for (let i = 0; i < Math.min(n, 2000); i++) once();
  const t0 = now();
  for (let i = 0; i < n; i++) once();
  return Number(now() - t0) / n;
}

function timerRate(jit: boolean, reports: number): number {
  const sys = virtualSys({ arch: 'x86_64', jit, clock: 'deterministic' });
  const m = irqMachine(sys, { code });
  const v = m.vcpus[0]!;
  v.setRegs({ rdi: 2n });
  if (report(v) !== 2) throw new Error('no ticks'); // warm-up: 10000 ticks
  const t0 = now();
  for (let i = 0; i < reports; i++) if (report(v) !== 2) throw new Error('no ticks');
  return (reports * 10_000) / (Number(now() - t0) / 1e9);
}

const rows: string[] = ['| engine | irqfd -> handler -> ioeventfd round trip | timer interrupts per second |', '|---|---|---|'];
for (const jit of argv.includes('--no-interp') ? [true] : [true, false]) {
  const rt = irqfdRoundTrip(jit, quick ? 2000 : 20_000);
  const rate = timerRate(jit, quick ? 1 : 5);
  rows.push(`| ${jit ? 'block JIT' : 'interpreter'} | ${(rt / 1000).toFixed(1)} us | ${Math.round(rate).toLocaleString('en-US')} |`);
}
console.log(rows.join('\n'));
