/**
 * `npm run fuzz` — the fuzzers for as long as you like, from one seed:
 *
 *   npm run fuzz -- --seed 42 --hours 3             # everything, 3 hours
 *   npm run fuzz -- --seed 42 --minutes 10 --only guest --arch arm64
 *   npm run fuzz -- --replay guest-x86_64:42:1234   # one case again, with its log
 *
 * Each round runs a slice of every fuzzer (ioctl per arch, guest per arch, and the virtual-vs-
 * /dev/kvm differential where /dev/kvm exists), continuing each fuzzer's case numbering, so a long
 * run is one seed's stream and every finding replays from `fuzzer:seed:index`. Prints the counts
 * after every round and each finding as it happens; exits 1 if anything was found.
 * @module
 */
import '../../src/index.js';
import { isNativeAvailable } from '../../src/index.js';
import { GUEST } from './budget.js';
import { fuzzArm64Guests } from './guest-arm64.js';
import { fuzzX86Guests, type GuestFuzzOptions, type GuestFuzzReport } from './guest-x86.js';
import { diffIoctls } from './ioctl-diff.js';
import { fuzzIoctls } from './ioctl-fuzz.js';
import type { Finding } from './oracle.js';

type Arch = 'x86_64' | 'arm64';

interface Args {
  seed: number;
  ms: number;
  only: Set<string>;
  arch: Arch[];
  replay?: string;
  runBudget: number;
  maxExits: number;
}

function parse(argv: string[]): Args {
  const a: Args = { seed: (Date.now() ^ (process.pid << 16)) >>> 0, ms: 60_000, only: new Set(['ioctl', 'guest', 'diff']), arch: ['x86_64', 'arm64'], runBudget: GUEST.runBudget, maxExits: GUEST.maxExits };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    if (k === '--seed') a.seed = Number(v()) >>> 0;
    else if (k === '--hours') a.ms = Number(v()) * 3_600_000;
    else if (k === '--minutes') a.ms = Number(v()) * 60_000;
    else if (k === '--seconds') a.ms = Number(v()) * 1000;
    else if (k === '--only') a.only = new Set(v().split(','));
    else if (k === '--arch') a.arch = v().split(',') as Arch[];
    else if (k === '--replay') a.replay = v();
    else if (k === '--run-budget') a.runBudget = Number(v());
    else if (k === '--max-exits') a.maxExits = Number(v());
    else if (k === '--help' || k === '-h') {
      console.log('npm run fuzz -- [--seed N] [--hours H | --minutes M | --seconds S] [--only ioctl,guest,diff] [--arch x86_64,arm64] [--run-budget N] [--max-exits N] [--replay fuzzer:seed:index]');
      process.exit(0);
    } else throw new Error(`unknown option ${k} (see --help)`);
  }
  return a;
}

function printFinding(fuzzer: string, f: Finding): void {
  console.log(`\n!! ${fuzzer} [${f.kind}] ${f.what}\n   ${f.detail.split('\n').join('\n   ')}\n   replay: npm run fuzz -- --replay ${fuzzer}:${f.seed}:${f.index}\n`);
}

const guestFuzzers: Record<Arch, (o: GuestFuzzOptions) => GuestFuzzReport> = { x86_64: fuzzX86Guests, arm64: fuzzArm64Guests };

function replay(spec: string, args: Args): number {
  const [fuzzer, seedText, indexText] = spec.split(':');
  const seed = Number(seedText) >>> 0;
  const index = Number(indexText);
  const log = (l: string) => console.log(l);
  let findings: readonly Finding[];
  if (fuzzer === 'ioctl-x86_64' || fuzzer === 'ioctl-arm64') {
    findings = fuzzIoctls({ arch: fuzzer.slice(6) as Arch, seed, calls: Infinity, sequences: 1, firstSequence: index, log }).findings.list;
  } else if (fuzzer === 'guest-x86_64' || fuzzer === 'guest-arm64') {
    findings = guestFuzzers[fuzzer.slice(6) as Arch]({ seed, runs: 1, firstRun: index, runBudget: args.runBudget, maxExits: args.maxExits, log }).findings.list;
  } else if (fuzzer === 'diff') {
    findings = diffIoctls({ seed, sequences: 1, firstSequence: index, log }).findings.list;
  } else throw new Error(`unknown fuzzer ${fuzzer}: ioctl-x86_64, ioctl-arm64, guest-x86_64, guest-arm64 or diff`);
  for (const f of findings) printFinding(fuzzer!, f);
  console.log(findings.length ? `${findings.length} finding(s)` : 'no finding');
  return findings.length ? 1 : 0;
}

function main(): number {
  const args = parse(process.argv.slice(2));
  if (args.replay) return replay(args.replay, args);
  const native = process.arch === 'x64' && isNativeAvailable();
  const diff = args.only.has('diff') && native && args.arch.includes('x86_64');
  console.log(`vkvm fuzz: seed ${args.seed} for ${(args.ms / 60_000).toFixed(1)} min; ${[...args.only].join(', ')} on ${args.arch.join(', ')}${args.only.has('diff') && !diff ? ' (no /dev/kvm: differential skipped)' : ''}`);
  const counts = new Map<string, number>();
  const next = new Map<string, number>(); // next case index per fuzzer
  let found = 0;
  const add = (k: string, n: number) => counts.set(k, (counts.get(k) ?? 0) + n);
  const onFinding = (fuzzer: string) => (f: Finding) => {
    found++;
    printFinding(fuzzer, f);
  };
  const t0 = Date.now();
  let round = 0;
  while (Date.now() - t0 < args.ms) {
    round++;
    for (const arch of args.arch) {
      if (args.only.has('ioctl')) {
        const k = `ioctl-${arch}`;
        const r = fuzzIoctls({ arch, seed: args.seed, calls: 20_000, firstSequence: next.get(k) ?? 0, onFinding: onFinding(k) });
        next.set(k, (next.get(k) ?? 0) + r.sequences);
        add(`${k} ioctls`, r.ioctls);
        add(`${k} other syscalls`, r.otherCalls);
      }
      if (args.only.has('guest')) {
        const k = `guest-${arch}`;
        const runs = 2000;
        const r = guestFuzzers[arch]({ seed: args.seed, runs, firstRun: next.get(k) ?? 0, runBudget: args.runBudget, maxExits: args.maxExits, onFinding: onFinding(k) });
        next.set(k, (next.get(k) ?? 0) + runs);
        add(`${k} guests`, r.runs);
        add(`${k} KVM_RUNs`, r.kvmRuns);
      }
    }
    if (diff) {
      const r = diffIoctls({ seed: args.seed, sequences: 100, firstSequence: next.get('diff') ?? 0, onFinding: onFinding('diff') });
      next.set('diff', (next.get('diff') ?? 0) + r.sequences);
      add('diff calls compared with /dev/kvm', r.compared);
    }
    const min = ((Date.now() - t0) / 60_000).toFixed(1);
    console.log(`[round ${round}, ${min} min] ${[...counts.entries()].map(([k, v]) => `${k} ${v}`).join(', ')}; findings ${found}`);
  }
  console.log(`\ndone: seed ${args.seed}, ${round} rounds in ${((Date.now() - t0) / 60_000).toFixed(1)} min, ${found} finding(s)`);
  return found ? 1 : 0;
}

process.exitCode = main();
