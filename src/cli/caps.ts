/**
 * `vkvm caps`: what each backend supports, as a table -- KVM_GET_API_VERSION,
 * KVM_GET_VCPU_MMAP_SIZE and KVM_CHECK_EXTENSION of every capability vkvm knows, on the virtual
 * x86-64 and arm64 hosts and on the real /dev/kvm where this machine has one.
 * @module
 */
import { parseArgs } from 'node:util';
import { arm64, Kvm, KVM_CAP, virtualSys, type Arch, type Sys } from '../index.js';
import { KVM_CAP_INTROSPECTION } from '../uapi/kvmi.js';
import { EXIT, type CliIo } from './io.js';

export const CAPS_USAGE = `usage: vkvm caps [--all] [--device PATH]

  --all           list every capability, also those no backend reports
  --device PATH   the KVM device of the native column (default /dev/kvm)
`;

/**
 * The seed extensions' capabilities (README, Seed extensions): numbers upstream gives other caps
 * (180 is KVM_CAP_S390_PROTECTED upstream) mean these on the virtual backend of one arch. Their
 * rows show only those columns, and the upstream row does not read them there.
 */
const SEED_CAPS: readonly { name: string; cap: number; arch: Arch }[] = [
  { name: 'KVM_CAP_ARM_IDSR_TO_USER', cap: arm64.KVM_ARM_IDSR.KVM_CAP_ARM_IDSR_TO_USER, arch: 'arm64' },
  { name: 'KVM_CAP_INTROSPECTION', cap: KVM_CAP_INTROSPECTION, arch: 'x86_64' },
];

interface Column {
  readonly title: string;
  readonly sys?: Sys;
  readonly note?: string;
}

export function cmdCaps(argv: readonly string[], io: CliIo): number {
  const { values: o } = parseArgs({
    args: [...argv],
    options: { all: { type: 'boolean', default: false }, device: { type: 'string', default: '/dev/kvm' }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (o.help) {
    io.stdout(CAPS_USAGE);
    return EXIT.OK;
  }
  const device = o.device as string;
  const cols: Column[] = [
    { title: 'virtual x86_64', sys: virtualSys({ arch: 'x86_64' }) },
    { title: 'virtual arm64', sys: virtualSys({ arch: 'arm64' }) },
  ];
  const why = io.nativeUnavailableReason(device);
  if (why) cols.push({ title: 'native', note: why });
  else {
    try {
      const sys = io.nativeSys();
      cols.push({ title: `native ${sys.arch}`, sys });
    } catch (e) {
      cols.push({ title: 'native', note: (e as Error).message });
    }
  }

  const kvms = cols.map((c) => {
    if (!c.sys) return undefined;
    try {
      return Kvm.open(c.sys, c.sys.backend === 'native' ? device : '/dev/kvm');
    } catch (e) {
      (c as { note?: string }).note = (e as Error).message;
      return undefined;
    }
  });
  const cell = (k: Kvm | undefined, f: (k: Kvm) => number): string => {
    if (!k) return 'n/a';
    try {
      const v = f(k);
      return v === 0 ? '-' : String(v);
    } catch (e) {
      return (e as { code?: string }).code ?? 'error';
    }
  };
  const rows: string[][] = [
    ['KVM_GET_API_VERSION', ...kvms.map((k) => cell(k, (x) => x.apiVersion()))],
    ['KVM_GET_VCPU_MMAP_SIZE', ...kvms.map((k) => cell(k, (x) => x.vcpuMmapSize()))],
  ];
  const seedOf = (i: number, cap: number) => (cols[i]!.sys?.backend === 'virtual' ? SEED_CAPS.find((s) => s.cap === cap && s.arch === cols[i]!.sys!.arch) : undefined);
  const capRows: string[][] = [];
  for (const [name, cap] of Object.entries(KVM_CAP)) {
    const vals = kvms.map((k, i) => (seedOf(i, cap) ? 'n/a' : cell(k, (x) => x.checkExtension(cap))));
    if (o.all || vals.some((v) => v !== '-' && v !== 'n/a')) capRows.push([`KVM_CAP_${name} (${cap})`, ...vals]);
  }
  for (const s of SEED_CAPS) {
    const vals = kvms.map((k, i) => (seedOf(i, s.cap) === s ? cell(k, (x) => x.checkExtension(s.cap)) : 'n/a'));
    capRows.push([`${s.name} (${s.cap}, seed extension, virtual ${s.arch})`, ...vals]);
  }
  const header = ['', ...cols.map((c) => c.title)];
  const all = [header, ...rows, ...capRows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const out = [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt), ...capRows.map(fmt)];
  const counts = kvms.map((k, i) => (k ? `${cols[i]!.title}: ${capRows.filter((r) => r[i + 1] !== '-' && r[i + 1] !== 'n/a').length}` : undefined)).filter(Boolean);
  out.push('', `capabilities reported (non-zero): ${counts.join(', ')}; '-' = 0 (unsupported)`);
  for (const c of cols) if (c.note) out.push(`${c.title}: ${c.note}`);
  io.stdout(out.join('\n') + '\n');
  for (const k of kvms) k?.close();
  return EXIT.OK;
}
