/**
 * What `vkvm run` does around a guest whichever machine runs it (the mini-VMM for an image, the
 * Linux VM for a kernel): the native backend's /dev/kvm, the guest console on stdout with the
 * exit trace interleaved, and the run's end as the exit status.
 * @module
 */
import { hostArch, type Arch, type Sys } from '../index.js';
import { formatSummary, type RunResult } from '../vmm/vmm.js';
import { CliError, EXIT, type CliIo } from './io.js';

/**
 * `--backend native`: the host's /dev/kvm at `device` for an `arch` guest (`what`: "guest",
 * "kernel"), or a CliError (EXIT.BACKEND) when the host cannot run it; undefined for the virtual
 * backend.
 */
export function nativeSysFor(io: CliIo, backend: string, arch: Arch, device: string, what: string): Sys | undefined {
  if (backend !== 'native') return undefined;
  const host = hostArch();
  if (host !== arch) {
    throw new CliError(`--backend native runs guests of the host's architecture (${host ?? process.arch}); this is an ${arch} ${what}: use --backend virtual`, EXIT.BACKEND);
  }
  const why = io.nativeUnavailableReason(device);
  if (why) throw new CliError(`native backend unavailable: ${why}`, EXIT.BACKEND);
  return io.nativeSys();
}

/** The guest console on stdout, flushed at newlines and at the end; `[exit]` trace lines on stderr between them. */
export class GuestConsole {
  private pending: number[] = [];
  /** The last byte written was not a newline. */
  midLine = false;

  constructor(private readonly io: CliIo) {}

  /** A byte the guest wrote. */
  readonly byte = (b: number): void => {
    this.pending.push(b);
    this.midLine = b !== 10;
    if (b === 10 || this.pending.length >= 4096) this.flush();
  };

  /** A trace line, in order with the console text on a terminal. */
  readonly trace = (l: string): void => {
    this.flush();
    this.io.stderr(`${this.midLine ? '\n' : ''}[exit] ${l}\n`);
    this.midLine = false;
  };

  flush(): void {
    if (this.pending.length) this.io.stdout(Uint8Array.from(this.pending));
    this.pending = [];
  }
}

/**
 * The exit status of a run: the summary on stderr when `summary` (on a line of its own even when
 * the guest stopped mid-line), else the reason of a failed run.
 */
export function runExitStatus(io: CliIo, console: GuestConsole, r: RunResult, summary: boolean): number {
  if (summary) io.stderr((console.midLine ? '\n' : '') + formatSummary(r) + '\n');
  switch (r.end) {
    case 'halt':
    case 'poweroff':
    case 'reset':
      return EXIT.OK;
    case 'exit-device':
      return r.status <= 255 ? r.status : 1;
    case 'max-exits':
    case 'time-limit':
      return EXIT.MAX_EXITS;
    default:
      if (!summary) io.stderr(`vkvm: ${r.detail}\n`);
      return EXIT.GUEST_ERROR;
  }
}
