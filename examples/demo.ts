/**
 * `npm run demo`: the mini-VMM (src/vmm, re-exported by examples/mini-vmm) boots two bundled guests written in
 * freestanding C -- an x86-64 one entered in long mode, an arm64 one at EL1 -- on the embedded
 * virtual backend, printing their console output and exit summaries. Where this machine has a
 * usable /dev/kvm, the same x86 guest then runs on it through the same VMM code, and the two runs
 * are compared byte for byte.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostArch, isNativeAvailable, Kvm, KVM_CAP, nativeUnavailableReason, virtualSys, type Arch } from 'vkvm';
import { formatSummary, runGuest, type Backend, type RunResult } from './mini-vmm/index.js';

const HERE = resolve(fileURLToPath(import.meta.url), '..');

const GUESTS: Record<Arch, { path: string; what: string }> = {
  x86_64: { path: 'guests/x86/hello.elf', what: 'freestanding C, 64-bit long mode, 16550 UART at port 0x3f8' },
  arm64: { path: 'guests/arm64/hello.elf', what: 'freestanding C, EL1, PL011 UART at 0x09000000, PSCI SYSTEM_OFF' },
};

/** Line-buffered console: the guest's lines, indented under the heading. */
function consoleSink(): (b: number) => void {
  let line: number[] = [];
  return (b) => {
    if (b !== 10) {
      line.push(b);
      return;
    }
    process.stdout.write(`  | ${Buffer.from(line).toString('latin1')}\n`);
    line = [];
  };
}

function boot(arch: Arch, backend: Backend): RunResult {
  const g = GUESTS[arch];
  console.log(`\n== ${arch} guest examples/${g.path} (${g.what}) on the ${backend} backend`);
  const image = new Uint8Array(readFileSync(resolve(HERE, g.path)));
  const t0 = performance.now();
  const r = runGuest({ arch, backend, image, console: consoleSink() });
  const ms = performance.now() - t0;
  console.log(formatSummary(r).replace(/^/gm, '  '));
  console.log(`  (${ms.toFixed(0)} ms)`);
  return r;
}

console.log('vkvm demo: one mini-VMM, written against the typed KVM API, booting real guests');
const x86 = boot('x86_64', 'virtual');
const arm = boot('arm64', 'virtual');
let failed = x86.status !== 0 || arm.status !== 0;

if (hostArch() === 'x86_64' && isNativeAvailable()) {
  const native = boot('x86_64', 'native');
  const sameConsole = Buffer.compare(Buffer.from(native.console), Buffer.from(x86.console)) === 0;
  const sameExits = native.exits.length === x86.exits.length && native.exits.every((e, i) => e === x86.exits[i]);
  console.log(`\n  native vs virtual: console output ${sameConsole ? 'identical' : 'DIFFERENT'} (${x86.console.length} bytes), exit sequence ${sameExits ? 'identical' : 'DIFFERENT'} (${x86.exits.length} exits)`);
  failed ||= !sameConsole || !sameExits || native.status !== 0;
} else {
  console.log(`\n== native /dev/kvm: not used here (${nativeUnavailableReason() ?? `host is ${process.arch}`})`);
}

const describe = (arch: Arch) => {
  const kvm = Kvm.open(virtualSys({ arch }));
  // Some caps are VM properties the system fd refuses (arm64 KVM_CAP_MSI_DEVID: EINVAL, as arm.c).
  const has = (c: number) => {
    try {
      return kvm.checkExtension(c) !== 0;
    } catch {
      return false;
    }
  };
  const caps = Object.values(KVM_CAP).filter(has).length;
  const s = `${arch}: KVM_GET_API_VERSION ${kvm.apiVersion()}, ${caps} capabilities`;
  kvm.close();
  return s;
};
console.log(`\nvirtual backends: ${describe('x86_64')}; ${describe('arm64')} (vkvm caps: the table)`);
if (failed) {
  console.error('demo: a guest did not finish cleanly');
  process.exitCode = 1;
}
