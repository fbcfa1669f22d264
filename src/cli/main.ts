/**
 * The `vkvm` command line: `run` (boot a guest image in the mini-VMM on either backend), `exec`
 * (an unmodified KVM program on the virtual /dev/kvm, through the preload shim), `caps`
 * (what each backend supports), `layout` (offsets of any uapi struct).
 * @module
 */
import { cmdCaps } from './caps.js';
import { cmdExec } from './exec.js';
import { CliError, EXIT, processIo, type CliIo } from './io.js';
import { cmdLayout } from './layout.js';
import { cmdRun } from './run.js';

export { EXIT, type CliIo } from './io.js';

export const USAGE = `usage: vkvm <command> [options]

  run <image>       boot a guest (ELF or flat binary) in the mini-VMM: vkvm run --help
  run --kernel F    boot Linux (bzImage / arm64 Image) with --initrd, --cmdline, --disk...
  exec -- PROG ...  run an unmodified KVM program on the virtual /dev/kvm: vkvm exec --help
  caps              capabilities of each backend (virtual x86_64/arm64, native /dev/kvm)
  layout [struct]   offsets of a KVM uapi struct (the C fixture view)
  help              this text
`;

/**
 * Runs the CLI with `argv` (without node and script); returns the exit status (a promise of it
 * when the run keeps this thread's event loop busy: a Linux boot with vCPUs on worker threads).
 */
export function main(argv: readonly string[], io: CliIo = processIo): number | Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'run':
        return cmdRun(rest, io);
      case 'exec':
        return cmdExec(rest, io);
      case 'caps':
        return cmdCaps(rest, io);
      case 'layout':
        return cmdLayout(rest, io);
      case 'help':
      case '--help':
      case '-h':
        io.stdout(USAGE);
        return EXIT.OK;
      case undefined:
        throw new CliError('no command given\n\n' + USAGE);
      default:
        throw new CliError(`unknown command '${cmd}'\n\n${USAGE}`);
    }
  } catch (e) {
    if (e instanceof CliError) {
      io.stderr(`vkvm: ${e.message}\n`);
      return e.exitCode;
    }
    // node:util parseArgs: unknown options, missing values.
    const code = (e as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
      io.stderr(`vkvm: ${(e as Error).message}\n`);
      return EXIT.USAGE;
    }
    throw e;
  }
}
