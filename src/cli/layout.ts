/**
 * `vkvm layout <struct>`: the offsets table of a uapi struct, from the same declarations that
 * generate the accessors and the gcc `_Static_assert` checks -- the C fixture view.
 * @module
 */
import { parseArgs } from 'node:util';
import { abi, hostArch, layoutRows, type AnyStruct, type Arch } from '../index.js';
import { parseArch } from './args.js';
import { CliError, EXIT, type CliIo } from './io.js';

export const LAYOUT_USAGE = `usage: vkvm layout [<struct>] [--arch x86_64|arm64]

  <struct>        e.g. kvm_regs, kvm_run, kvm_userspace_memory_region; none: list the structs
  --arch A        which arch's layout (default: this host's, else x86_64)
`;

function structsOf(arch: Arch): Record<string, AnyStruct> {
  return abi[arch].structs as unknown as Record<string, AnyStruct>;
}

export function cmdLayout(argv: readonly string[], io: CliIo): number {
  const { values: o, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { arch: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (o.help) {
    io.stdout(LAYOUT_USAGE);
    return EXIT.OK;
  }
  const arch: Arch = o.arch !== undefined ? parseArch(o.arch) : (hostArch() ?? 'x86_64');
  const structs = structsOf(arch);
  if (positionals.length === 0) {
    io.stdout(`${arch} uapi structs:\n` + Object.entries(structs).map(([k, s]) => `  ${k.padEnd(32)} ${String(s.size).padStart(5)} bytes${s.ext ? '  (include/vkvm)' : ''}`).join('\n') + '\n');
    return EXIT.OK;
  }
  if (positionals.length > 1) throw new CliError(`layout takes one struct name, got ${positionals.length}`);
  const name = positionals[0]!.replace(/^struct\s+/, '');
  const s = structs[name];
  if (!s) {
    const other: Arch = arch === 'x86_64' ? 'arm64' : 'x86_64';
    if (structsOf(other)[name]) throw new CliError(`struct ${name} is ${other}-only: use --arch ${other}`);
    const near = Object.keys(structs).filter((k) => k.includes(name) || name.includes(k.replace(/^kvm_/, '')));
    throw new CliError(`no struct '${name}' in the ${arch} uapi${near.length ? `; did you mean: ${near.slice(0, 6).join(', ')}` : ''} (vkvm layout lists them)`);
  }
  const rows = layoutRows(s);
  const lines = [
    `struct ${s.tag ?? name} (${arch}): ${s.size} bytes, align ${s.align}${s.ext ? ' -- newer than the 6.1 headers: include/vkvm/kvm.h' : ''}`,
    `${'offset'.padStart(7)} ${'size'.padStart(6)}  ${'type'.padEnd(28)} member`,
  ];
  for (const r of rows) {
    const depth = r.path.split('.').length - 1;
    lines.push(`${String(r.offset).padStart(7)} ${String(r.size).padStart(6)}  ${r.c.padEnd(28)} ${'  '.repeat(depth)}${r.path}${r.ext ? '  (include/vkvm)' : ''}`);
  }
  io.stdout(lines.join('\n') + '\n');
  return EXIT.OK;
}
