/**
 * The benchmark's result shape (bench/results/*.json) and its readable table.
 * @module
 */
import type { LinuxBootRow } from './linux.js';

export interface MipsCell {
  readonly mips: number;
  readonly rounds: number;
  readonly instructions: number;
  readonly seconds: number;
  readonly checksum: number;
  readonly samples?: number[];
  /** arm64 block JIT: blocks translated in the last run. */
  readonly blocksTranslated?: number;
}

export interface MipsRow {
  readonly workload: string;
  readonly mask: number;
  readonly cells: Record<string, MipsCell>;
}

export interface Target {
  readonly name: string;
  readonly value: string;
  readonly pass: boolean;
}

export interface BenchResult {
  date: string;
  vkvm: string;
  machine: { cpu: string; cores: number; memGiB: number; kernel: string; node: string; load: number[]; kvm: string };
  settings: { seconds: number; repeats: number; quick: boolean };
  notes: string[];
  roundTrip: { backend: string; arch: string; exit: string; ns: number; samples: number[] }[];
  mips: MipsRow[];
  creation: { backend: string; arch: string; us: number; minUs: number; what: string }[];
  rss: { backend: string; addedMiB: number; slotOnlyMiB: number; touchMiB: number }[];
  /** (e) interrupt measurements (absent in results written before it existed). */
  irq?: { arch: string; what: string; value: number; unit: string; samples: number[] }[];
  /** (f) cold code: first-run MIPS (CPU time) and RSS per distinct instruction of a larger guest. */
  cold: { arch: string; instructions: number; mips: number; cpuSeconds: number; rssInstructions: number; rssPerInsn?: number; rssMiB?: number }[];
  /** (g) MMIO round trips, ns of CPU time. */
  mmio: { arch: string; readNs: number; writeNs: number }[];
  /** (h) 64-bit MUL/DIV kernel MIPS (CPU time): block JIT and interpreter. */
  mulDiv: { arch: string; mips: number; interpreterMips: number }[];
  /** (i) Linux boot to init (absent in results written before it existed, or when not measured). */
  linux?: LinuxBootRow[];
  targets: Target[];
}

const COLUMNS = ['vkvm x86_64', 'vkvm x86_64 (interpreter)', 'vkvm x86_64 (wasm engine)', 'vkvm arm64', 'vkvm arm64 (interpreter)', 'native', 'qemu-x86_64', 'qemu-aarch64', '/dev/kvm x86_64'];

function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n') + '\n';
}

const f1 = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

/** The Markdown report (also printed by `npm run bench`). */
export function renderTable(r: BenchResult): string {
  const m = r.machine;
  let out = `### vkvm ${r.vkvm} benchmark, ${r.date.slice(0, 10)}\n\n`;
  out += `Machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, Linux ${m.kernel}, Node ${m.node}, load ${m.load.join(' ')} at start; ${m.kvm}.\n\n`;
  if (r.roundTrip.length) {
    out += `**(a) KVM_RUN -> exit -> KVM_RUN round trip** (median of ${r.roundTrip[0]!.samples.length} batches; through \`Sys.ioctl\`, or timed by a C program for the "C program" rows)\n\n`;
    out += table(['backend', 'guest', 'exit', 'ns / round trip'], r.roundTrip.map((x) => [x.backend, x.arch, x.exit, x.ns.toFixed(0)]));
    out += '\n';
  }
  if (r.mips.length) {
    const cols = COLUMNS.filter((c) => r.mips.some((row) => row.cells[c]));
    out += `**(b) guest MIPS** (bench/guests/work.c; median of ${r.settings.repeats})\n\n`;
    out += table(['workload', ...cols], r.mips.map((row) => [row.workload, ...cols.map((c) => (row.cells[c] ? f1(row.cells[c]!.mips) : '-'))]));
    out += '\n';
  }
  if (r.creation.length) {
    out += '**(c) VM + vCPU creation** (median)\n\n';
    out += table(['backend', 'arch', 'µs', 'what'], r.creation.map((c) => [c.backend, c.arch, c.us.toFixed(1), c.what]));
    out += '\n';
  }
  if (r.rss.length) {
    out += '**(d) RSS added by a 4 GiB memslot with 1 MiB touched**\n\n';
    out += table(['backend', 'MiB added', 'alloc + KVM_SET_USER_MEMORY_REGION', 'touching 1 MiB'], r.rss.map((x) => [x.backend, x.addedMiB.toFixed(2), x.slotOnlyMiB.toFixed(2), x.touchMiB.toFixed(2)]));
    out += '\n';
  }
  if (r.irq?.length) {
    out += `**(e) interrupts** (virtual backend, vCPU on the measuring thread; median of ${r.irq[0]!.samples.length} batches)\n\n`;
    out += table(['arch', 'path', 'value', 'unit'], r.irq.map((x) => [x.arch, x.what, f1(x.value), x.unit]));
    out += '\n';
  }
  if (r.cold?.length) {
    out += '**(f) cold code** (distinct straight-line instructions run once: first-run MIPS of CPU time; RSS: a larger guest run twice, so all of it is cached, with the VM still open)\n\n';
    out += table(['arch', 'instructions', 'first-run MIPS', 'RSS run', 'RSS added (MiB)', 'bytes / distinct instruction'], r.cold.map((c) => [c.arch, String(c.instructions), f1(c.mips), String(c.rssInstructions), c.rssMiB?.toFixed(1) ?? '-', c.rssPerInsn?.toFixed(1) ?? '-']));
    out += '\n';
  }
  if (r.mmio?.length) {
    out += '**(g) MMIO round trip** (KVM_RUN -> KVM_EXIT_MMIO -> KVM_RUN through `Sys.ioctl`, ns of CPU time, median)\n\n';
    out += table(['arch', 'read ns', 'write ns'], r.mmio.map((m) => [m.arch, m.readNs.toFixed(0), m.writeNs.toFixed(0)]));
    out += '\n';
  }
  if (r.mulDiv?.length) {
    out += '**(h) 64-bit MUL/DIV kernel** (bench/cold.ts; MIPS of CPU time)\n\n';
    out += table(['arch', 'block JIT', 'interpreter'], r.mulDiv.map((m) => [m.arch, f1(m.mips), f1(m.interpreterMips)]));
    out += '\n';
  }
  if (r.linux?.length) {
    out += '**(i) Linux boot to init** (virtual backend, fixture kernels of test/linux/bin; wall time from building the VM; QEMU TCG boots the same files and command line right after, wall time from its start)\n\n';
    out += table(
      ['arch', 'configuration', 's to "Run /init"', 's to power-off', 'CPU s', 'guest clock at "Run /init"', 'ended', 'QEMU TCG s to "Run /init" / power-off', 'vkvm / QEMU (to init)'],
      r.linux.map((x) => [x.arch, x.config, (x.initMs / 1000).toFixed(1), (x.endMs / 1000).toFixed(1), x.cpuS.toFixed(1), x.guestInitS !== undefined ? `${x.guestInitS.toFixed(2)} s` : '-', x.end, x.qemu ? `${(x.qemu.initMs / 1000).toFixed(1)} / ${(x.qemu.endMs / 1000).toFixed(1)} (${x.qemu.config})` : '-', x.qemu ? `${(x.initMs / x.qemu.initMs).toFixed(1)}x` : '-']),
    );
    out += '\n';
  }
  if (r.targets.length) {
    out += '**Targets**\n\n';
    out += table(['target', 'measured', ''], r.targets.map((t) => [t.name, t.value, t.pass ? 'pass' : 'FAIL']));
    out += '\n';
  }
  if (r.notes.length) out += r.notes.map((n) => `- ${n}`).join('\n') + '\n';
  return out;
}
