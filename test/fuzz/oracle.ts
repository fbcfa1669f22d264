/**
 * The fuzzers' oracle: what a call may do (return a non-negative int, or fail with a KvmError
 * carrying a Linux errno), which exits KVM_RUN may report per arch and what their payloads may
 * hold, and the counters every fuzzer prints.
 * @module
 */
import { ERRNO, KvmError } from '../../src/index.js';
import { RUN } from '../../src/kernel/exits.js';
import { KVM_EXIT, type Arch } from '../../src/uapi/index.js';

const KNOWN_ERRNOS = new Set<number>(Object.values(ERRNO));

/** Why `e` is not an acceptable failure of `syscall`, or undefined when it is. */
export function badError(e: unknown, syscall: string): string | undefined {
  if (!(e instanceof KvmError)) return `escape: ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack?.split('\n').slice(1, 6).join('\n') ?? ''}` : describe(e)}`;
  if (!KNOWN_ERRNOS.has(e.errno)) return `unknown errno ${e.errno} (${e.code})`;
  if (e.syscall !== syscall) return `KvmError says syscall ${e.syscall}, expected ${syscall}`;
  return undefined;
}

function describe(e: unknown): string {
  try {
    return `${String(e)} ${JSON.stringify(e)}`;
  } catch {
    return String(e);
  }
}

/** Why `r` is not a valid ioctl(2) return value, or undefined. */
export function badReturn(r: unknown): string | undefined {
  return typeof r === 'number' && Number.isInteger(r) && r >= 0 && r <= 0x7fff_ffff ? undefined : `ioctl returned ${String(r)}`;
}

/** KVM_EXIT_ARM_IDSR of the seed extension (arm64 only). */
const EXIT_ARM_IDSR = 29;

/** Exit reasons KVM_RUN may report with a 0 return, per arch. */
export const DEFINED_EXITS: Record<Arch, ReadonlySet<number>> = {
  x86_64: new Set([
    KVM_EXIT.IO, KVM_EXIT.MMIO, KVM_EXIT.HLT, KVM_EXIT.SHUTDOWN, KVM_EXIT.DEBUG, KVM_EXIT.INTERNAL_ERROR, KVM_EXIT.IRQ_WINDOW_OPEN,
    KVM_EXIT.HYPERCALL, KVM_EXIT.X86_RDMSR, KVM_EXIT.X86_WRMSR, KVM_EXIT.MEMORY_FAULT, KVM_EXIT.FAIL_ENTRY, KVM_EXIT.SYSTEM_EVENT, KVM_EXIT.TDX,
  ]),
  arm64: new Set([
    KVM_EXIT.MMIO, KVM_EXIT.SYSTEM_EVENT, KVM_EXIT.DEBUG, KVM_EXIT.INTERNAL_ERROR, KVM_EXIT.ARM_NISV, EXIT_ARM_IDSR, KVM_EXIT.HYPERCALL,
    KVM_EXIT.MEMORY_FAULT, KVM_EXIT.FAIL_ENTRY,
  ]),
};

/**
 * errnos KVM_RUN may fail with on a well-formed call (arm64: ENOSYS for a data abort outside
 * memslots without a valid syndrome, io_mem_abort; ENXIO and EBUSY from the first run of a vCPU
 * whose vGIC lacks its addresses or initialization, kvm_vgic_map_resources).
 */
export const RUN_ERRNOS = new Set(['EINTR', 'EFAULT', 'ENOEXEC', 'EINVAL', 'ENOMEM', 'EHWPOISON', 'EAGAIN', 'EIO', 'ENOSYS', 'ENXIO', 'EBUSY']);

/**
 * Checks the exit in a vCPU's mmap area after KVM_RUN returned 0: a defined reason and a payload
 * that a VMM can use without going out of bounds. Returns the exit reason's name, or throws.
 */
export function checkExit(arch: Arch, area: Uint8Array): number {
  const dv = new DataView(area.buffer, area.byteOffset, area.byteLength);
  const reason = dv.getUint32(RUN.exit_reason, true);
  if (!DEFINED_EXITS[arch].has(reason)) throw new Error(`undefined exit reason ${reason}`);
  switch (reason) {
    case KVM_EXIT.IO: {
      const size = dv.getUint8(RUN['io.size']);
      const count = dv.getUint32(RUN['io.count'], true);
      const off = Number(dv.getBigUint64(RUN['io.data_offset'], true));
      const dir = dv.getUint8(RUN['io.direction']);
      if (![1, 2, 4].includes(size) || count < 1 || dir > 1 || off + size * count > area.length) {
        throw new Error(`bad KVM_EXIT_IO payload: size ${size} count ${count} dir ${dir} data_offset ${off} (area ${area.length})`);
      }
      break;
    }
    case KVM_EXIT.MMIO: {
      const len = dv.getUint32(RUN['mmio.len'], true);
      const w = dv.getUint8(RUN['mmio.is_write']);
      if (len < 1 || len > 8 || w > 1) throw new Error(`bad KVM_EXIT_MMIO payload: len ${len} is_write ${w}`);
      break;
    }
    case KVM_EXIT.INTERNAL_ERROR: {
      const sub = dv.getUint32(RUN['internal.suberror'], true);
      const n = dv.getUint32(RUN['internal.ndata'], true);
      if (sub < 1 || sub > 4 || n > 16) throw new Error(`bad KVM_EXIT_INTERNAL_ERROR: suberror ${sub} ndata ${n}`);
      break;
    }
    case KVM_EXIT.SYSTEM_EVENT: {
      const type = dv.getUint32(RUN['system_event.type'], true);
      const n = dv.getUint32(RUN['system_event.ndata'], true);
      if (type < 1 || type > 7 || n > 16) throw new Error(`bad KVM_EXIT_SYSTEM_EVENT: type ${type} ndata ${n}`);
      break;
    }
  }
  return reason;
}

/** A failure the oracle found, with what is needed to replay it. */
export interface Finding {
  readonly kind: 'escape' | 'errno' | 'return' | 'exit' | 'hang' | 'internal' | 'mismatch' | 'stale';
  readonly seed: number;
  /** Case (sequence or guest run) index: `(seed, index)` replays it. */
  readonly index: number;
  readonly step: number;
  readonly what: string;
  readonly detail: string;
}

/** Counters a fuzzer reports. */
export class Tally {
  readonly counts = new Map<string, number>();
  add(key: string, n = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }
  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }
  /** `key n, key n, ...`, largest first. */
  toString(limit = 40): string {
    return [...this.counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([k, v]) => `${k} ${v}`).join(', ');
  }
  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort((a, b) => b[1] - a[1]));
  }
}

/** Keeps the first `max` findings (the rest are only counted). */
export class Findings {
  readonly list: Finding[] = [];
  total = 0;
  constructor(private readonly max = 20) {}
  add(f: Finding): void {
    this.total++;
    if (this.list.length < this.max) this.list.push(f);
  }
}
