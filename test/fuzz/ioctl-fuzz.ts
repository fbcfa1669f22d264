/**
 * The ioctl fuzzer (virtual backend): seeded, bounded sequences of random syscalls across system,
 * VM, vCPU and guest_memfd fds — declared requests of both arches, mutated and random request
 * numbers, layout-aware and random argument bytes, closes, mmaps, pokes into kvm_run between
 * KVM_RUNs — with the oracle of oracle.ts after every call: no exception other than a KvmError with
 * a Linux errno, a valid return value, a defined exit with a usable payload, no swallowed emulator
 * exception, no call slower than `hangMs`.
 *
 * Each sequence runs on a fresh `virtualSys()` from the seed `mixSeed(seed, index)`, so
 * `(seed, index)` replays a finding on its own.
 * @module
 */
import { abi, EFD, iocDir, iocSize, IOC, KVMIO, KVM_CAP, KVM_CREATE_DEVICE_FLAG, KVM_DEV_TYPE, KVM_IOEVENTFD_FLAG, KVM_IRQFD_FLAG, KVM_MEM, GUEST_MEMFD_FLAG, KvmError, virtualSys, type Arch, type CType, type IoctlDef, type Sys } from '../../src/index.js';
import { genericStructs } from '../../src/uapi/kvm.js';
import { KVM_ARM_VCPU } from '../../src/uapi/arm64.js';
import { badError, badReturn, checkExit, Findings, Tally, type Finding } from './oracle.js';
import { installX86Probe, takeInternalError } from './probe.js';
import { mixSeed, Rng } from './rng.js';
import { MAX_ARG, shapeOf, structArg, writeLE, type PointerPool } from './structs.js';

export interface IoctlFuzzOptions {
  readonly arch: Arch;
  readonly seed: number;
  /** Stop after this many ioctl calls (the other syscalls are counted apart). */
  readonly calls: number;
  /** ioctls per sequence (each sequence gets a fresh virtualSys). Default 400. */
  readonly sequenceLength?: number;
  /** Instructions one KVM_RUN may retire (virtualSys runBudget). Default 5000. */
  readonly runBudget?: number;
  /** A call slower than this is reported as a hang. Default 2000 ms. */
  readonly hangMs?: number;
  /** First sequence index (to replay a finding: its index, with `sequences: 1`). Default 0. */
  readonly firstSequence?: number;
  /** Stop after this many sequences even if `calls` is not reached. */
  readonly sequences?: number;
  /** Called with each finding as it happens. */
  readonly onFinding?: (f: Finding) => void;
  /** Records each call of the sequence as a line (for replaying a finding). */
  readonly log?: (line: string) => void;
}

export interface IoctlFuzzReport {
  readonly arch: Arch;
  readonly seed: number;
  sequences: number;
  ioctls: number;
  /** open/close/mmap/munmap/alloc calls. */
  otherCalls: number;
  ok: number;
  readonly errnos: Tally;
  readonly exits: Tally;
  /** Distinct declared requests that succeeded at least once. */
  readonly succeeded: Set<string>;
  readonly findings: Findings;
  maxCallMs: number;
  elapsedMs: number;
  /** Resolves once every waitReadable the fuzzer started has settled (its findings are in by then). */
  settled: Promise<void>;
}

type Kind = 'system' | 'vm' | 'vcpu' | 'guest_memfd' | 'eventfd' | 'device';

interface Handle {
  readonly kind: Kind;
  readonly fd: number;
  open: boolean;
  /** vCPU: its mmap'd area. */
  area?: Uint8Array;
  /** eventfd: opened with EFD_NONBLOCK (a blocking read at 0, or a write past the maximum, would block this thread). */
  nonblock?: boolean;
}

const NAMES_OF_FD_RESULT = new Set(['KVM_CREATE_VM', 'KVM_CREATE_VCPU', 'KVM_CREATE_GUEST_MEMFD', 'KVM_GET_STATS_FD']);

/** Caps worth enabling/asking about (both arches' numbers and some that neither implements). */
const CAPS: number[] = (Object.values(KVM_CAP) as unknown[]).filter((v): v is number => typeof v === "number");

/** Guest RAM base per arch (x86: 0; arm64: the "virt" board's 1 GiB). */
const RAM_BASE: Record<Arch, number> = { x86_64: 0, arm64: 0x4000_0000 };

/** One fuzzing context: a fresh Sys and what the sequence has opened on it. */
class World {
  readonly handles: Handle[] = [];
  readonly regions: Uint8Array[] = [];
  /** Buffers successful calls returned, by argument type: SET calls start from them. */
  readonly corpus = new Map<CType, Uint8Array>();
  readonly hvas: bigint[] = [];
  readonly stale: bigint[] = [];
  scratch: { hva: bigint; bytes: Uint8Array } | undefined;

  constructor(
    readonly sys: Sys,
    readonly rng: Rng,
  ) {}

  live(kind?: Kind): Handle[] {
    return this.handles.filter((h) => h.open && (!kind || h.kind === kind));
  }

  readonly pointers: PointerPool = {
    pick: (rng) => {
      const s = this.scratch;
      return rng.weighted<() => bigint>([
        [6, () => (s ? s.hva + BigInt(rng.pick([0, 0, 0, 8, 0x800, 0xff8, 0x1000 - 1])) : 0n)],
        [2, () => (this.hvas.length ? rng.pick(this.hvas) + BigInt(rng.int(4) * 0x1000) : 0n)],
        [2, () => 0n],
        [1, () => (this.stale.length ? rng.pick(this.stale) : 0x10n)],
        [1, () => rng.pick([0x8000_0000_0000n, 0xffff_8000_0000_0000n, 0xffff_ffff_ffff_f000n, 0x7fff_ffff_f000n, 0x1000n])],
        [1, () => rng.u64()],
      ])();
    },
  };
}

/** Runs the ioctl fuzzer; never throws for what the fuzzed code does (findings are reported). */
export function fuzzIoctls(opts: IoctlFuzzOptions): IoctlFuzzReport {
  const arch = opts.arch;
  if (arch === 'x86_64') installX86Probe();
  const report: IoctlFuzzReport = {
    arch,
    seed: opts.seed,
    sequences: 0,
    ioctls: 0,
    otherCalls: 0,
    ok: 0,
    errnos: new Tally(),
    exits: new Tally(),
    succeeded: new Set(),
    findings: new Findings(),
    maxCallMs: 0,
    elapsedMs: 0,
    settled: Promise.resolve(),
  };
  const waits: Promise<void>[] = [];
  const started = performance.now();
  const seqLen = opts.sequenceLength ?? 400;
  const hangMs = opts.hangMs ?? 2000;
  const own = Object.values(abi[arch].ioctls as Record<string, IoctlDef>);
  const other = Object.values(abi[arch === 'x86_64' ? 'arm64' : 'x86_64'].ioctls as Record<string, IoctlDef>);
  const ownByRequest = new Map(own.map((d) => [d.request, d]));
  let index = opts.firstSequence ?? 0;

  while (report.ioctls < opts.calls && report.sequences < (opts.sequences ?? Infinity)) {
    const seed = mixSeed(opts.seed, index);
    const rng = new Rng(seed);
    const w = new World(virtualSys({ arch, runBudget: opts.runBudget ?? 5000 }), rng);
    const sys = w.sys;
    const target = Math.min(seqLen, opts.calls - report.ioctls);
    let n = 0;
    const found = (kind: Finding['kind'], what: string, detail: string) => {
      const f: Finding = { kind, seed: opts.seed, index, step: n, what, detail };
      report.findings.add(f);
      opts.onFinding?.(f);
    };
    /** Runs one syscall under the oracle. */
    const call = <T>(syscall: string, what: string, f: () => T): T | undefined => {
      const t0 = performance.now();
      let r: T | undefined;
      let err: unknown;
      try {
        r = f();
      } catch (e) {
        err = e;
      }
      const ms = performance.now() - t0;
      if (ms > report.maxCallMs) report.maxCallMs = ms;
      if (ms > hangMs) found('hang', what, `${ms.toFixed(0)} ms`);
      if (err !== undefined) {
        const bad = badError(err, syscall);
        if (bad) found(bad.startsWith('escape') ? 'escape' : 'errno', what, bad);
        else report.errnos.add((err as { code: string }).code);
        opts.log?.(`${n} ${what} -> ${(err as { code?: string }).code ?? String(err)}`);
        return undefined;
      }
      opts.log?.(`${n} ${what} -> ok ${typeof r === 'number' ? r : ''}`);
      return r;
    };
    const ioctl = (h: Handle | number, request: number, arg: number | bigint | Uint8Array | undefined, what: string): number | undefined => {
      const fd = typeof h === 'number' ? h : h.fd;
      n++;
      report.ioctls++;
      const r = call('ioctl', what, () => sys.ioctl(fd, request, arg));
      if (r === undefined) return undefined;
      const bad = badReturn(r);
      if (bad) found('return', what, bad);
      report.ok++;
      return r;
    };
    const other1 = <T>(syscall: string, what: string, f: () => T): T | undefined => {
      report.otherCalls++;
      return call(syscall, what, f);
    };
    const newVcpu = (fd: number): Handle => {
      const h: Handle = { kind: 'vcpu', fd, open: true };
      const area = other1('mmap', `mmap(vcpu ${fd})`, () => sys.mmap(fd, 4 * 4096));
      if (area) h.area = area;
      return h;
    };
    const afterRun = (h: Handle, what: string) => {
      const ie = takeInternalError(sys, h.fd);
      if (ie !== undefined) found('internal', what, `JS exception inside KVM_RUN: ${ie instanceof Error ? `${ie.message}\n${ie.stack?.split('\n').slice(1, 5).join('\n')}` : String(ie)}`);
    };

    // --- prologue: usually a working VM, so the handlers get past their first checks
    if (rng.chance(0.9)) {
      const kfd = other1('open', 'open(/dev/kvm)', () => sys.open('/dev/kvm'));
      if (kfd !== undefined) w.handles.push({ kind: 'system', fd: kfd, open: true });
      w.scratch = other1('mmap', 'alloc(scratch)', () => sys.alloc(0x10000));
      if (w.scratch) {
        rng.fill(w.scratch.bytes, 0, rng.int(0x10000));
        w.hvas.push(w.scratch.hva);
      }
      const vmfd = kfd === undefined ? undefined : ioctl(kfd, req(arch, 'KVM_CREATE_VM'), 0, 'KVM_CREATE_VM(0)');
      if (vmfd !== undefined) {
        w.handles.push({ kind: 'vm', fd: vmfd, open: true });
        const size = rng.pick([0x10000, 0x40000, 0x200000]);
        const ram = other1('mmap', `alloc(${size})`, () => sys.alloc(size));
        if (ram) {
          rng.fill(ram.bytes, 0, rng.chance(0.5) ? size : 0x2000);
          w.hvas.push(ram.hva);
          w.regions.push(ram.bytes);
          const region = abi[arch].structs.kvm_userspace_memory_region.encode({ slot: 0, flags: rng.chance(0.3) ? KVM_MEM.LOG_DIRTY_PAGES : 0, guest_phys_addr: RAM_BASE[arch], memory_size: size, userspace_addr: ram.hva });
          ioctl(vmfd, req(arch, 'KVM_SET_USER_MEMORY_REGION'), region, 'KVM_SET_USER_MEMORY_REGION(slot 0)');
        }
        const nv = rng.range(1, 2);
        for (let i = 0; i < nv; i++) {
          const cfd = ioctl(vmfd, req(arch, 'KVM_CREATE_VCPU'), i, `KVM_CREATE_VCPU(${i})`);
          if (cfd === undefined) continue;
          const h = newVcpu(cfd);
          w.handles.push(h);
          if (arch === 'arm64' && rng.chance(0.85)) {
            const init = abi.arm64.structs.kvm_vcpu_init.encode({ target: 5, features: [rng.chance(0.7) ? 1 << KVM_ARM_VCPU.PSCI_0_2 : 0] });
            ioctl(cfd, req(arch, 'KVM_ARM_VCPU_INIT'), init, 'KVM_ARM_VCPU_INIT');
            ioctl(cfd, req(arch, 'KVM_SET_ONE_REG'), oneReg(w, 0x6030_0000_0010_0040n, BigInt(RAM_BASE[arch] + rng.int(0x100) * 4)), 'KVM_SET_ONE_REG(pc)');
          }
        }
      }
    }

    // eventfds for KVM_IRQFD/KVM_IOEVENTFD to find (the plumbing's ioctls need a live one)
    for (let i = rng.int(3); i > 0; i--) doEventfd(w, other1, false);

    // --- the random part
    while (n < target) {
      const op = rng.weighted<'ioctl' | 'close' | 'open' | 'mmap' | 'munmap' | 'alloc' | 'poke' | 'eventfd' | 'efdio' | 'wait'>([
        [90, 'ioctl'], [2, 'close'], [1, 'open'], [2, 'mmap'], [1, 'munmap'], [1, 'alloc'], [3, 'poke'], [1, 'eventfd'], [2, 'efdio'], [1, 'wait'],
      ]);
      if (op === 'wait') {
        n++;
        report.otherCalls++;
        doWait(w, waits, (what, detail) => found('escape', what, detail));
        continue;
      }
      if (op !== 'ioctl') {
        n++; // counts towards the sequence length so a sequence always ends
        doOther(op, w, other1, newVcpu);
        continue;
      }
      const h = pickFd(w);
      const kind = typeof h === 'number' ? undefined : h.kind;
      const def = pickRequest(rng, kind, own, other);
      const request = def.request;
      const known = ownByRequest.get(typeof request === 'number' ? request >>> 0 : -1);
      const arg = makeArg(w, arch, request, known);
      const name = known?.name ?? (typeof request === 'number' ? `0x${(request >>> 0).toString(16)}` : typeof request === 'symbol' ? 'symbol' : String(request));
      const what = `ioctl(${typeof h === 'number' ? `fd ${h}` : `${h.kind} ${String(h.fd)}${h.open ? '' : ' closed'}`}, ${name}, ${argText(arg)})`;
      if (known?.name === 'KVM_RUN' && typeof h !== 'number' && h.area) {
        // What a VMM leaves in kvm_run between runs: immediate_exit, and answers to the last exit.
        h.area[0] = rng.chance(0.1) ? 1 : 0;
      }
      const r = ioctl(h, request as number, arg, what);
      if (r === undefined || !known) continue;
      report.succeeded.add(known.name);
      if (known.name === 'KVM_RUN') {
        // The fd may have been reused since the handle the fuzzer picked was closed.
        const fd = typeof h === 'number' ? h : h.fd;
        const cur = w.live('vcpu').find((x) => x.fd === fd);
        afterRun(cur ?? { kind: 'vcpu', fd, open: true }, what);
        if (cur?.area) {
          try {
            report.exits.add(String(checkExit(arch, cur.area)));
          } catch (e) {
            found('exit', what, (e as Error).message);
          }
        }
      }
      if (known.name === 'KVM_CREATE_DEVICE' && arg instanceof Uint8Array && arg.length >= 12) {
        // The new fd comes back in the struct (cd.fd), unless it was only KVM_CREATE_DEVICE_TEST.
        const cd = genericStructs.kvm_create_device.decode(arg) as { fd: number; flags: number };
        if (!(cd.flags & KVM_CREATE_DEVICE_FLAG.TEST)) w.handles.push({ kind: 'device', fd: cd.fd, open: true });
      }
      if (NAMES_OF_FD_RESULT.has(known.name)) {
        if (w.handles.some((x) => x.open && x.fd === r)) found('return', what, `returned fd ${r}, which is already open`);
        const k: Kind = known.name === 'KVM_CREATE_VM' ? 'vm' : known.name === 'KVM_CREATE_VCPU' ? 'vcpu' : 'guest_memfd';
        w.handles.push(k === 'vcpu' ? newVcpu(r) : { kind: k, fd: r, open: true });
        // Keep a sequence's footprint bounded.
        if (w.live().length > 24) closeOne(w, other1);
      }
      if (arg instanceof Uint8Array && known.arg && known.arg.kind !== 'scalar' && (known.dir === 'r' || known.dir === 'rw')) {
        w.corpus.set(known.arg, arg.slice());
      }
    }
    for (const h of w.live()) other1('close', `close(${h.fd})`, () => sys.close(h.fd));
    report.sequences++;
    index++;
  }
  report.elapsedMs = performance.now() - started;
  report.settled = Promise.all(waits).then(() => undefined);
  return report;
}

function req(arch: Arch, name: string): number {
  const d = (abi[arch].ioctls as Record<string, IoctlDef>)[name];
  if (!d) throw new Error(`no ${name} on ${arch}`);
  return d.request;
}

function oneReg(w: World, id: bigint, value: bigint): Uint8Array {
  const s = w.scratch;
  if (s) new DataView(s.bytes.buffer, s.bytes.byteOffset).setBigUint64(0xf00, value, true);
  return abi.x86_64.structs.kvm_one_reg.encode({ id, addr: s ? s.hva + 0xf00n : 0n });
}

function pickFd(w: World): Handle | number {
  const rng = w.rng;
  const live = w.live();
  return rng.weighted<() => Handle | number>([
    [live.length ? 80 : 0, () => rng.pick(live)],
    [w.handles.length ? 8 : 0, () => rng.pick(w.handles)],
    [6, () => rng.pick([-1, 0, 1, 2, 999_999, 0x7fff_ffff, 2 ** 31, 2 ** 53, 1.5, NaN, Infinity, -0])],
    [2, () => ({ kind: 'system' as Kind, fd: nonC(rng) as number, open: false })],
  ])();
}

/** A request number: declared (this arch's or the other's), mutated, or random. */
function pickRequest(rng: Rng, kind: Kind | undefined, own: readonly IoctlDef[], other: readonly IoctlDef[]): { request: number } {
  const forKind = kind ? own.filter((d) => (d.fds as readonly string[]).includes(kind)) : own;
  return rng.weighted<() => { request: number }>([
    [55, () => rng.pick(forKind.length ? forKind : own)],
    [12, () => rng.pick(own)],
    [5, () => rng.pick(other)],
    [
      12,
      () => {
        const d = rng.pick(own);
        const r = d.request;
        switch (rng.int(4)) {
          case 0:
            return { request: ((r & 0x3fff_ffff) | (rng.int(4) << 30)) >>> 0 }; // direction
          case 1:
            return { request: ((r & 0xc000_ffff) | ((iocSize(r) + rng.range(-8, 8)) & 0x3fff) << 16) >>> 0 }; // size
          case 2:
            return { request: ((r & 0xffff_00ff) | (rng.int(256) << 8)) >>> 0 }; // type
          default:
            return { request: (r ^ (1 << rng.int(32))) >>> 0 };
        }
      },
    ],
    [8, () => ({ request: IOC(rng.int(4), KVMIO, rng.int(256), rng.weighted([[3, 0], [3, rng.int(64)], [1, rng.int(0x4000)]])) })],
    [6, () => ({ request: rng.u32() })],
    [2, () => ({ request: rng.pick([-1, 2 ** 32 + 0xae01, 0xae01 + 0.5, NaN, -0xae01]) })],
    [1, () => ({ request: nonC(rng) as number })],
  ])();
}

/**
 * A JS value C has no spelling for, or one at the edge of a C type (issue 19: non-integers,
 * NaN, +-Infinity, null, strings, objects, bigints outside 64 bits): every Sys call must answer
 * it with a KvmError.
 */
export function nonC(rng: Rng): unknown {
  return rng.pick<() => unknown>([
    () => 1.5,
    () => -0.5,
    () => NaN,
    () => Infinity,
    () => -Infinity,
    () => null,
    () => undefined,
    () => 'x',
    () => '3',
    () => ({}),
    () => [],
    () => [4096],
    () => true,
    () => Symbol('s'),
    () => () => 0,
    () => 2n ** 64n,
    () => -(2n ** 63n) - 1n,
    () => 2 ** 64,
    () => -(2 ** 64),
    () => new ArrayBuffer(8),
    () => new Uint32Array(8),
    () => new DataView(new ArrayBuffer(8)),
    () => Number.MAX_VALUE,
    () => Number.MIN_VALUE,
  ])();
}

function interestingInt(rng: Rng): number | bigint {
  const v = rng.interesting(64);
  return rng.chance(0.5) ? v : Number(BigInt.asIntN(64, v));
}

/** An argument for `request` (integer, bytes, or nothing), shaped by its declaration if any. */
function makeArg(w: World, arch: Arch, request: number, def: IoctlDef | undefined): number | bigint | Uint8Array | undefined {
  const rng = w.rng;
  const r = typeof request === 'number' && Number.isFinite(request) ? request >>> 0 : 0;
  const special = def ? specialArg(w, arch, def) : undefined;
  if (special !== undefined && rng.chance(0.7)) return special;
  if (rng.chance(0.03)) return undefined;
  if (rng.chance(0.04)) return nonC(rng) as number;
  const dir = iocDir(r);
  const size = iocSize(r);
  if (dir === 0 || size === 0) {
    if (rng.chance(0.05)) return rng.bytes(rng.int(64));
    return interestingInt(rng);
  }
  if (rng.chance(0.08)) return rng.pick<number | bigint>([0, 0n, 1, w.pointers.pick(rng), rng.u64(), -1]);
  if (def?.arg && def.arg.kind !== 'scalar') return structArg(rng, shapeOf(def.arg), w.pointers, w.corpus.get(def.arg));
  const len = rng.weighted([[8, size], [1, rng.int(size)], [1, size + rng.int(64)]]);
  const b = rng.chance(0.3) ? new Uint8Array(Math.min(len, MAX_ARG)) : rng.bytes(Math.min(len, MAX_ARG));
  if (size === 8 && b.length >= 8 && rng.chance(0.5)) writeLE(b, 0, 8, rng.chance(0.5) ? w.pointers.pick(rng) : rng.interesting(64));
  return b;
}

/** Arguments that reach past the first checks of the handlers that need them. */
function specialArg(w: World, arch: Arch, def: IoctlDef): number | bigint | Uint8Array | undefined {
  const rng = w.rng;
  const S = abi[arch].structs as Record<string, { encode(v: unknown): Uint8Array }>;
  switch (def.name) {
    case 'KVM_CREATE_VM':
      return rng.weighted<number | bigint>([[8, 0], [2, 1], [1, rng.int(64)], [1, interestingInt(rng)]]);
    case 'KVM_CREATE_VCPU':
      return rng.weighted<number | bigint>([[8, rng.int(8)], [1, rng.pick([511, 512, 1023, 1024, 4095, 4096])], [1, interestingInt(rng)]]);
    case 'KVM_CHECK_EXTENSION':
      return rng.weighted<number | bigint>([[6, rng.pick(CAPS)], [2, rng.int(300)], [1, interestingInt(rng)]]);
    case 'KVM_RUN':
      return rng.chance(0.95) ? 0 : interestingInt(rng);
    case 'KVM_GET_API_VERSION':
    case 'KVM_GET_VCPU_MMAP_SIZE':
      return rng.chance(0.8) ? 0 : interestingInt(rng);
    case 'KVM_ENABLE_CAP':
      return S.kvm_enable_cap!.encode({ cap: rng.chance(0.8) ? rng.pick(CAPS) : rng.u32(), flags: rng.chance(0.8) ? 0 : rng.u32(), args: [rng.interesting(64), rng.interesting(64), 0n, 0n] });
    case 'KVM_SET_USER_MEMORY_REGION':
    case 'KVM_SET_USER_MEMORY_REGION2': {
      const page = 0x1000n;
      const hva = w.hvas.length ? rng.pick(w.hvas) : 0n;
      const v = {
        slot: rng.weighted<number>([[6, rng.int(4)], [1, rng.pick([0x10000, 32763, 32764, 32766, 32767, 0xffff])], [1, rng.u32()]]),
        flags: rng.weighted<number>([[4, 0], [2, KVM_MEM.LOG_DIRTY_PAGES], [1, KVM_MEM.READONLY], [1, KVM_MEM.GUEST_MEMFD], [1, rng.u32()]]),
        guest_phys_addr: rng.weighted<bigint>([[4, BigInt(RAM_BASE[arch]) + BigInt(rng.int(64)) * 0x10000n], [2, BigInt(rng.int(1 << 20)) * page], [1, rng.interesting(64)]]),
        memory_size: rng.weighted<bigint>([[3, 0n], [5, BigInt(rng.range(1, 64)) * page], [1, rng.pick([1n << 31n, (1n << 43n) - page, 1n << 43n, 1n << 44n])], [1, rng.interesting(64)]]),
        userspace_addr: rng.weighted<bigint>([[6, hva + BigInt(rng.int(8)) * page], [1, w.pointers.pick(rng)]]),
        guest_memfd_offset: rng.weighted<bigint>([[4, 0n], [2, BigInt(rng.int(16)) * page], [1, rng.interesting(64)]]),
        guest_memfd: w.live('guest_memfd').length && rng.chance(0.8) ? rng.pick(w.live('guest_memfd')).fd : rng.pick([0, -1, 3, 999_999]),
      };
      if (def.name === 'KVM_SET_USER_MEMORY_REGION') {
        const { guest_memfd_offset: _o, guest_memfd: _g, ...v1 } = v;
        return S.kvm_userspace_memory_region!.encode(v1);
      }
      return S.kvm_userspace_memory_region2!.encode(v);
    }
    case 'KVM_GET_DIRTY_LOG':
      return S.kvm_dirty_log!.encode({ slot: rng.weighted<number>([[6, rng.int(4)], [1, rng.u32()]]), dirty_bitmap: w.pointers.pick(rng) });
    case 'KVM_CLEAR_DIRTY_LOG':
      return S.kvm_clear_dirty_log!.encode({ slot: rng.int(4), num_pages: rng.weighted<number>([[4, rng.int(4) * 64], [2, rng.int(600)], [1, rng.u32()]]), first_page: rng.weighted<bigint>([[4, 0n], [2, BigInt(rng.int(8) * 64)], [1, rng.interesting(64)]]), dirty_bitmap: w.pointers.pick(rng) });
    case 'KVM_CREATE_GUEST_MEMFD':
      return S.kvm_create_guest_memfd!.encode({
        size: rng.weighted<bigint>([[5, BigInt(rng.range(1, 64)) * 0x1000n], [2, rng.pick([0n, 0x1001n, 1n << 32n, (1n << 32n) + 0x1000n, 1n << 40n, (1n << 63n) - 0x1000n, 1n << 63n, -0x1000n])], [1, rng.interesting(64)]]),
        flags: rng.weighted<bigint>([[5, 0n], [2, BigInt(rng.int(4))], [1, BigInt(GUEST_MEMFD_FLAG.MMAP)], [1, rng.interesting(64)]]),
      });
    case 'KVM_SET_MEMORY_ATTRIBUTES':
      return S.kvm_memory_attributes!.encode({ address: BigInt(rng.int(1 << 12)) * 0x1000n, size: BigInt(rng.int(64)) * 0x1000n, attributes: rng.chance(0.8) ? 8n : rng.interesting(64), flags: rng.chance(0.9) ? 0n : rng.interesting(64) });
    case 'KVM_GET_ONE_REG':
    case 'KVM_SET_ONE_REG': {
      const id = arch === 'arm64'
        ? rng.weighted<bigint>([[5, 0x6030_0000_0010_0000n + BigInt(rng.int(0x44) * 2)], [3, 0x6030_0000_0013_0000n | BigInt(rng.int(0x10000))], [1, 0x6040_0000_0010_0054n + BigInt(rng.int(32) * 4)], [1, rng.u64()]])
        : rng.u64();
      return S.kvm_one_reg!.encode({ id, addr: w.pointers.pick(rng) });
    }
    // The in-kernel device plumbing: live eventfds most of the time, so the handlers get past EBADF.
    case 'KVM_IOEVENTFD':
      return S.kvm_ioeventfd!.encode({
        datamatch: rng.chance(0.5) ? BigInt(rng.int(256)) : rng.interesting(64),
        addr: rng.weighted<bigint>([[4, BigInt(rng.pick([0x80, 0x600, 0x3f8, 0xcf8]))], [3, BigInt(RAM_BASE[arch]) + BigInt(rng.int(64)) * 0x1000n], [2, 0xd000_0000n + BigInt(rng.int(16) * 4)], [1, rng.interesting(64)]]),
        len: rng.weighted<number>([[6, rng.pick([0, 1, 2, 4, 8])], [1, rng.pick([3, 5, 16])], [1, rng.u32()]]),
        fd: efdOf(w),
        flags: rng.weighted<number>([[6, rng.int(8) & (KVM_IOEVENTFD_FLAG.DATAMATCH | KVM_IOEVENTFD_FLAG.PIO | KVM_IOEVENTFD_FLAG.DEASSIGN)], [1, KVM_IOEVENTFD_FLAG.VIRTIO_CCW_NOTIFY], [1, rng.u32()]]),
      });
    case 'KVM_IRQFD':
      return S.kvm_irqfd!.encode({
        fd: efdOf(w) >>> 0,
        gsi: rng.weighted<number>([[6, rng.int(32)], [1, rng.pick([1023, 1024, 4095, 4096])], [1, rng.u32()]]),
        flags: rng.weighted<number>([[6, rng.int(4) & (KVM_IRQFD_FLAG.DEASSIGN | KVM_IRQFD_FLAG.RESAMPLE)], [1, rng.u32()]]),
        resamplefd: efdOf(w) >>> 0,
      });
    case 'KVM_SET_GSI_ROUTING': {
      const nr = rng.weighted<number>([[6, rng.int(8)], [1, rng.pick([4096, 4097])], [1, rng.u32()]]);
      const entries = Math.min(nr, 8, rng.int(9));
      const E = genericStructs.kvm_irq_routing_entry;
      const b = new Uint8Array(8 + E.size * entries);
      new DataView(b.buffer).setUint32(0, nr, true);
      new DataView(b.buffer).setUint32(4, rng.chance(0.9) ? 0 : rng.u32(), true);
      for (let i = 0; i < entries; i++) {
        const e = rng.chance(0.8)
          ? { gsi: rng.int(32), type: rng.pick([1, 2]), flags: rng.chance(0.9) ? 0 : rng.u32(), u: { irqchip: { irqchip: rng.int(4), pin: rng.int(32) } } }
          : { gsi: rng.u32(), type: rng.u32(), flags: rng.u32(), u: { pad: [rng.u32(), rng.u32(), 0, 0, 0, 0, 0, 0] } };
        b.set(E.encode(e), 8 + E.size * i);
      }
      return b;
    }
    case 'KVM_IRQ_LINE':
    case 'KVM_IRQ_LINE_STATUS':
      return S.kvm_irq_level!.encode({ irq: rng.weighted<number>([[6, rng.int(48)], [1, (rng.int(4) << 24) | rng.int(1024)], [1, rng.u32()]]), level: rng.weighted<number>([[6, rng.int(2)], [1, rng.u32()]]) });
    case 'KVM_SIGNAL_MSI':
      return S.kvm_msi!.encode({ address_lo: rng.chance(0.7) ? 0xfee0_0000 | (rng.int(4) << 12) : rng.u32(), address_hi: rng.chance(0.8) ? 0 : rng.u32(), data: rng.int(256), flags: rng.chance(0.8) ? 0 : rng.u32(), devid: rng.chance(0.8) ? 0 : rng.u32() });
    case 'KVM_CREATE_DEVICE':
      return S.kvm_create_device!.encode({ type: rng.weighted<number>([[6, rng.pick(Object.values(KVM_DEV_TYPE))], [1, rng.int(64)], [1, rng.u32()]]), fd: 0, flags: rng.weighted<number>([[5, 0], [3, KVM_CREATE_DEVICE_FLAG.TEST], [1, rng.u32()]]) });
    case 'KVM_SET_DEVICE_ATTR':
    case 'KVM_GET_DEVICE_ATTR':
    case 'KVM_HAS_DEVICE_ATTR':
      return S.kvm_device_attr!.encode({ flags: rng.chance(0.8) ? 0 : rng.u32(), group: rng.weighted<number>([[6, rng.int(10)], [1, rng.u32()]]), attr: rng.chance(0.7) ? BigInt(rng.int(64)) : rng.interesting(64), addr: w.pointers.pick(rng) });
    case 'KVM_SET_CLOCK':
    case 'KVM_GET_CLOCK':
      return genericStructs.kvm_clock_data.encode({ clock: rng.interesting(64), flags: rng.weighted<number>([[5, 0], [2, rng.pick([2, 4, 8, 6])], [1, rng.u32()]]), realtime: rng.interesting(64) });
    case 'KVM_ARM_VCPU_INIT':
      return abi.arm64.structs.kvm_vcpu_init.encode({ target: rng.chance(0.8) ? 5 : rng.int(8), features: [rng.chance(0.8) ? rng.int(1 << 7) : rng.u32(), rng.chance(0.9) ? 0 : rng.u32()] });
    default:
      return undefined;
  }
}

/** An eventfd of the sequence most of the time, else another fd or a number no file has. */
function efdOf(w: World): number {
  const rng = w.rng;
  const efds = w.live('eventfd');
  return rng.weighted<() => number>([
    [efds.length ? 8 : 0, () => rng.pick(efds).fd],
    [2, () => (w.live().length ? rng.pick(w.live()).fd : 0)],
    [1, () => rng.pick([-1, 0, 1, 2, 999_999, 0x7fff_ffff])],
  ])();
}

type Other = <T>(s: string, what: string, f: () => T) => T | undefined;

/** eventfd(2) with flags and initvals of every kind, the odd one C could not pass. */
function doEventfd(w: World, other1: Other, wild: boolean): void {
  const rng = w.rng;
  const initval = wild && rng.chance(0.2) ? rng.pick<unknown>([nonC(rng), -1, 2 ** 32, rng.u32()]) : rng.int(4);
  const nonblock = rng.chance(0.8);
  const flags = wild && rng.chance(0.2) ? rng.pick<unknown>([nonC(rng), rng.u32(), EFD.CLOEXEC | 0x10]) : (nonblock ? EFD.NONBLOCK : 0) | (rng.chance(0.3) ? EFD.SEMAPHORE : 0) | (rng.chance(0.5) ? EFD.CLOEXEC : 0);
  const fd = other1('eventfd', `eventfd(${argText(initval)}, ${argText(flags)})`, () => w.sys.eventfd(initval as number, flags as number));
  if (fd !== undefined) w.handles.push({ kind: 'eventfd', fd, open: true, nonblock: typeof flags === 'number' && (flags & EFD.NONBLOCK) !== 0 });
}

/** read(2)/write(2) on eventfds (never one that would block this thread), other fds, bad fds, bad buffers. */
function doEfdIo(w: World, other1: Other): void {
  const rng = w.rng;
  const sys = w.sys;
  const efds = w.live('eventfd');
  const h = efds.length && rng.chance(0.8) ? rng.pick(efds) : undefined;
  // Only a non-blocking eventfd may be read/written with a valid buffer (a blocking one could sleep forever here).
  const safe = h === undefined || h.nonblock === true;
  const others = w.live().filter((x) => x.kind !== 'eventfd');
  const fd = h ? h.fd : rng.weighted<() => unknown>([[others.length ? 3 : 0, () => rng.pick(others).fd], [2, () => rng.pick([-1, 0, 999_999, NaN])], [1, () => nonC(rng)]])();
  const len = rng.weighted<number>([[6, 8], [1, rng.int(16)]]);
  const buf: unknown = !safe || rng.chance(0.1) ? rng.pick<unknown>([nonC(rng), new Uint16Array(4), null]) : new Uint8Array(len);
  if (rng.chance(0.5)) {
    other1('read', `read(${argText(fd)}, ${argText(buf)})`, () => sys.read(fd as number, buf as Uint8Array));
  } else {
    if (buf instanceof Uint8Array && buf.length >= 8) new DataView(buf.buffer).setBigUint64(0, rng.weighted<bigint>([[6, BigInt(rng.range(1, 4))], [1, 0n], [1, 0xffff_ffff_ffff_fffen], [1, 0xffff_ffff_ffff_ffffn]]), true);
    other1('write', `write(${argText(fd)}, ${argText(buf)})`, () => sys.write(fd as number, buf as Uint8Array));
  }
}

/** waitReadable: bad fds and timeouts reject with a KvmError, never throw or hang (timeout 0). */
function doWait(w: World, waits: Promise<void>[], escape: (what: string, detail: string) => void): void {
  const rng = w.rng;
  const efds = w.live('eventfd');
  const fd = efds.length && rng.chance(0.6) ? rng.pick(efds).fd : rng.chance(0.5) ? rng.pick([-1, 0, 999_999, NaN]) : nonC(rng);
  // Never a long timeout: the fuzzer awaits every wait at the end.
  const timeout = rng.weighted<unknown>([[8, 0], [1, -5], [1, rng.pick<unknown>(['x', {}, null, NaN, Symbol('t'), 1n, [0]])]]);
  const what = `waitReadable(${argText(fd)}, ${argText(timeout)})`;
  let p: unknown;
  try {
    p = w.sys.waitReadable(fd as number, timeout as number);
  } catch (e) {
    escape(what, `threw instead of rejecting: ${e instanceof KvmError ? e.code : String(e)}`);
    return;
  }
  if (!(p instanceof Promise)) {
    escape(what, 'waitReadable returned no promise');
    return;
  }
  // Settles only once this synchronous fuzzer yields: a wait that never does hangs the caller's await.
  waits.push(
    p.then(
      () => undefined,
      (e) => {
        const bad = badError(e, 'poll');
        if (bad) escape(what, `rejected: ${bad}`);
      },
    ),
  );
}

function argText(a: unknown): string {
  if (a === undefined) return 'undefined';
  if (typeof a === 'symbol' || typeof a === 'function') return typeof a;
  if (typeof a === 'object' && !(a instanceof Uint8Array)) return Object.prototype.toString.call(a);
  if (a instanceof Uint8Array) return `bytes[${a.length}] ${Buffer.from(a.subarray(0, 48)).toString('hex')}${a.length > 48 ? '…' : ''}`;
  return typeof a === 'bigint' ? `0x${a.toString(16)}n` : String(a);
}

function closeOne(w: World, other1: <T>(s: string, what: string, f: () => T) => T | undefined): void {
  const live = w.live();
  if (!live.length) return;
  const h = w.rng.pick(live);
  h.open = false;
  other1('close', `close(${h.kind} ${h.fd})`, () => w.sys.close(h.fd));
}

function doOther(
  op: 'close' | 'open' | 'mmap' | 'munmap' | 'alloc' | 'poke' | 'eventfd' | 'efdio',
  w: World,
  other1: <T>(s: string, what: string, f: () => T) => T | undefined,
  newVcpu: (fd: number) => Handle,
): void {
  const rng = w.rng;
  const sys = w.sys;
  switch (op) {
    case 'eventfd':
      doEventfd(w, other1, true);
      return;
    case 'efdio':
      doEfdIo(w, other1);
      return;
    case 'close': {
      if (rng.chance(0.8)) closeOne(w, other1);
      else {
        const fd = w.handles.length && rng.chance(0.5) ? rng.pick(w.handles).fd : rng.chance(0.5) ? rng.pick([-1, 0, 999_999, NaN]) : (nonC(rng) as number);
        if (other1("close", `close(${String(fd)})`, () => (sys.close(fd), true))) for (const h of w.handles) if (h.fd === fd) h.open = false;
      }
      return;
    }
    case 'open': {
      const path = rng.chance(0.9) ? '/dev/kvm' : rng.chance(0.5) ? rng.pick(['/dev/kvm2', '', '/dev/null', '/dev/kvm\0x']) : (nonC(rng) as string);
      const flags = rng.chance(0.9) ? undefined : rng.chance(0.5) ? rng.pick([0, 2, 0o2000002, -1]) : (nonC(rng) as number);
      const fd = other1('open', `open(${String(path)})`, () => sys.open(path, flags));
      if (fd !== undefined) w.handles.push({ kind: 'system', fd, open: true });
      return;
    }
    case 'mmap': {
      const h = w.handles.length ? rng.pick(w.handles) : undefined;
      const fd = h && rng.chance(0.9) ? h.fd : rng.pick([-1, 999_999]);
      const len = rng.weighted<number>([[4, rng.range(1, 4) * 4096], [1, rng.int(1 << 20)], [1, rng.pick([0, -1, 1.5, 2 ** 40])], [1, nonC(rng) as number]]);
      const off = rng.weighted<number>([[4, 0], [2, rng.int(80) * 4096], [1, rng.pick([1, -4096, 2 ** 53])], [1, nonC(rng) as number]]);
      const mfd = rng.chance(0.05) ? (nonC(rng) as number) : fd;
      const m = other1('mmap', `mmap(${String(mfd)}, ${String(len)}, ${String(off)})`, () => sys.mmap(mfd, len, off));
      if (m) {
        w.regions.push(m);
        if (h?.kind === 'vcpu' && off === 0 && m.length >= 4096 && !h.area) h.area = m;
      }
      if (h?.kind === 'vcpu' && !h.area && rng.chance(0.5)) Object.assign(h, { area: newVcpu(h.fd).area });
      return;
    }
    case 'munmap': {
      const r = w.regions.length && rng.chance(0.8) ? w.regions.splice(rng.int(w.regions.length), 1)[0]! : rng.chance(0.5) ? new Uint8Array(4096) : (nonC(rng) as Uint8Array);
      other1('munmap', 'munmap', () => sys.munmap(r));
      for (const h of w.handles) if (h.area === r) delete h.area;
      return;
    }
    case 'alloc': {
      const len = rng.weighted<number>([[6, rng.range(1, 64) * 4096], [1, rng.pick([0, -1, 1.5, 2 ** 32, 2 ** 32 + 4096, 2 ** 47, NaN])], [1, nonC(rng) as number]]);
      const m = other1('mmap', `alloc(${String(len)})`, () => sys.alloc(len));
      if (m) {
        w.regions.push(m.bytes);
        w.hvas.push(m.hva);
        if (rng.chance(0.2)) {
          other1('munmap', 'munmap(alloc)', () => sys.munmap(m.bytes));
          w.stale.push(m.hva);
        }
      }
      return;
    }
    case 'poke': {
      // Random bytes where the guest or the kernel will look: guest RAM, or kvm_run (exit answers).
      const vcpus = w.live('vcpu').filter((h) => h.area);
      if (vcpus.length && rng.chance(0.6)) {
        const a = rng.pick(vcpus).area!;
        const off = rng.weighted<number>([[3, 32 + rng.int(256)], [1, rng.int(a.length)]]);
        rng.fill(a, off, Math.min(a.length, off + rng.range(1, 16)));
        a[0] = 0; // leave immediate_exit to the KVM_RUN step
      } else if (w.regions.length) {
        const r = rng.pick(w.regions);
        if (r.length) {
          const off = rng.int(r.length);
          rng.fill(r, off, Math.min(r.length, off + rng.range(1, 256)));
        }
      }
      return;
    }
  }
}
