/**
 * The differential ioctl fuzzer: the same seeded call sequence on `virtualSys()` and on the real
 * /dev/kvm (`nativeSys()`), call by call, with fds tracked symbolically (the two processes number
 * their fds differently). Each call's outcome — the errno, or success and, where it must match,
 * the value — is compared.
 *
 * What is compared (the rule; see also the README's testing section):
 * - Generic calls that virt/kvm/kvm_main.c answers the same on every host: the system-fd ioctls,
 *   KVM_CREATE_VCPU, memslots (KVM_SET_USER_MEMORY_REGION/2), the dirty log (and the bitmap it
 *   returns), KVM_CLEAR_DIRTY_LOG, KVM_ENABLE_CAP of KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 and of caps
 *   no kernel has, KVM_CREATE_GUEST_MEMFD, KVM_SET_MEMORY_ATTRIBUTES, KVM_RUN's argument and
 *   immediate_exit checks, KVM_SET_SIGNAL_MASK, close(), requests no kernel defines, and declared
 *   requests sent to an fd kind that does not take them.
 * - KVM_CHECK_EXTENSION: always the errno; the value only for caps whose value is the generic
 *   kernel's, not the host's (MUST_MATCH_CAPS).
 * - KVM_CREATE_VM: only for types both backends agree they support or not (KVM_CAP_VM_TYPES):
 *   this host offers type 0 only, vkvm also KVM_X86_SW_PROTECTED_VM.
 * Not compared, because the two may legitimately differ: arch ioctls on their own fd kind (the host
 * is AMD with PVM, vkvm models VMX), ioctls vkvm does not implement and reports as such through
 * KVM_CHECK_EXTENSION (irqchip, irqfd, ioeventfd, coalesced MMIO, stats fds), requests the VFS
 * answers before KVM sees them (FIOCLEX, FIONBIO, FS_IOC_*... — do_vfs_ioctl), and running guests.
 *
 * Safety on the real kernel: pointer fields only ever hold 0, a non-canonical address, or the hva
 * of this sequence's own scratch buffer, and struct buffers are never shorter than what the
 * kernel writes; fds are only used while this sequence owns them (a closed fd is used only when
 * /proc/self/fd shows it is still free).
 * @module
 */
import { existsSync } from 'node:fs';
import { abi, IOC, KVMIO, KVM_CAP, KVM_DIRTY_LOG, KVM_MEM, nativeSys, virtualSys, type HostMemory, type IoctlDef, type Sys } from '../../src/index.js';
import { kernelOf } from '../../src/sys/virtual.js';
import { badError, Findings, Tally, type Finding } from './oracle.js';
import { mixSeed, Rng } from './rng.js';

const I = abi.x86_64.ioctls as Record<string, IoctlDef>;
const S = abi.x86_64.structs;
const R = (name: string) => I[name]!.request;

/** Caps whose value comes from the generic kernel (or constants both share), so must be equal. */
export const MUST_MATCH_CAPS = [
  KVM_CAP.USER_MEMORY, KVM_CAP.NR_MEMSLOTS, KVM_CAP.MAX_VCPUS, KVM_CAP.MAX_VCPU_ID, KVM_CAP.NR_VCPUS,
  KVM_CAP.MANUAL_DIRTY_LOG_PROTECT2, KVM_CAP.GUEST_MEMFD, KVM_CAP.GUEST_MEMFD_FLAGS, KVM_CAP.IMMEDIATE_EXIT,
  KVM_CAP.CHECK_EXTENSION_VM, KVM_CAP.ENABLE_CAP_VM, KVM_CAP.USER_MEMORY2, KVM_CAP.DESTROY_MEMORY_REGION_WORKS,
  KVM_CAP.JOIN_MEMORY_REGIONS_WORKS, KVM_CAP.INTERNAL_ERROR_DATA, KVM_CAP.SYSTEM_EVENT_DATA, KVM_CAP.READONLY_MEM,
];

/** Declared generic requests vkvm leaves unimplemented (KVM_CHECK_EXTENSION says so): not compared on their own fd kind. */
const UNIMPLEMENTED = new Set(['KVM_CREATE_IRQCHIP', 'KVM_REGISTER_COALESCED_MMIO', 'KVM_UNREGISTER_COALESCED_MMIO', 'KVM_GET_STATS_FD']);

/** ioctl type bytes the VFS intercepts some numbers of (fs/ioctl.c do_vfs_ioctl): never generated. */
const VFS_TYPES = new Set([0x00, 0x54, 0x66, 0x58, 0x94, 0x15]);

type Kind = 'system' | 'vm' | 'vcpu' | 'guest_memfd';

interface Handle {
  readonly id: number;
  readonly kind: Kind;
  open: boolean;
  /** The VM (vCPUs, guest_memfds). */
  readonly vm?: Handle;
}

/** One backend's view of the sequence. */
interface Side {
  readonly name: 'virtual' | 'native';
  readonly sys: Sys;
  readonly fds: Map<number, number>;
  readonly areas: Map<number, Uint8Array>;
  readonly scratch: HostMemory;
  readonly ram: HostMemory;
  /** KVM_CAP_VM_TYPES */
  readonly vmTypes: number;
  /** Where memslots must end (x86 kvm_mmu_max_gfn: host MAXPHYADDR with TDP, 52 bits without). */
  readonly slotLimit: bigint;
}

/** A value that means something different on each side (an hva, an fd). */
type Sym = { readonly ram: number } | { readonly scratch: number } | { readonly handle: Handle } | { readonly abs: bigint };

interface Op {
  readonly text: string;
  /** Handles the op uses: it is skipped when a closed one's fd is reused on either side. */
  readonly uses: readonly Handle[];
  /** How outcomes compare: the errno only, or the returned value too. */
  readonly compare: 'errno' | 'value' | 'skip';
  run(side: Side): number | undefined;
  /** Bytes to compare after success (the dirty bitmap the call wrote). */
  after?(side: Side): string;
  /** On success on both: the handle the call created. */
  creates?: { kind: Kind; vm?: Handle };
  /** Not compared on these two backends (they may legitimately differ). */
  skipIf?(sides: readonly [Side, Side]): boolean | number;
}

export interface DiffOptions {
  readonly seed: number;
  readonly sequences: number;
  /** Ops per sequence. Default 40. */
  readonly length?: number;
  readonly firstSequence?: number;
  readonly log?: (line: string) => void;
  readonly onFinding?: (f: Finding) => void;
}

export interface DiffReport {
  sequences: number;
  ops: number;
  compared: number;
  skipped: number;
  readonly outcomes: Tally;
  readonly findings: Findings;
  elapsedMs: number;
}

const PAGE = 0x1000n;
const NONCANONICAL = 0x8000_0000_0000n;

function resolve(side: Side, v: Sym): bigint {
  if ('ram' in v) return side.ram.hva + BigInt(v.ram);
  if ('scratch' in v) return side.scratch.hva + BigInt(v.scratch);
  if ('handle' in v) return BigInt(side.fds.get(v.handle.id) ?? -1);
  return v.abs;
}

function symText(v: Sym): string {
  if ('ram' in v) return `ram+0x${v.ram.toString(16)}`;
  if ('scratch' in v) return `scratch+0x${v.scratch.toString(16)}`;
  if ('handle' in v) return `fd(${v.handle.kind} #${v.handle.id})`;
  return `0x${v.abs.toString(16)}`;
}

function makeSide(name: 'virtual' | 'native'): Side {
  const sys = name === 'virtual' ? virtualSys({ arch: 'x86_64' }) : nativeSys();
  const scratch = sys.alloc(0x10000);
  const ram = sys.alloc(0x40000);
  const k = sys.open('/dev/kvm');
  const vmTypes = sys.ioctl(k, R('KVM_CHECK_EXTENSION'), KVM_CAP.VM_TYPES);
  sys.close(k);
  return { name, sys, fds: new Map(), areas: new Map(), scratch, ram, vmTypes, slotLimit: slotLimitOf(name, sys, ram) };
}

const limits = new Map<string, bigint>();
/** The highest end of a memslot this backend accepts, probed once with a 1-page slot. */
function slotLimitOf(name: string, sys: Sys, ram: HostMemory): bigint {
  let limit = limits.get(name);
  if (limit === undefined) {
    const k = sys.open('/dev/kvm');
    const vm = sys.ioctl(k, R('KVM_CREATE_VM'), 0);
    limit = 0n;
    for (let bits = 30n; bits <= 64n; bits++) {
      const end = 1n << bits;
      try {
        sys.ioctl(vm, R('KVM_SET_USER_MEMORY_REGION'), S.kvm_userspace_memory_region.encode({ slot: 0, guest_phys_addr: end - PAGE, memory_size: PAGE, userspace_addr: ram.hva }));
        sys.ioctl(vm, R('KVM_SET_USER_MEMORY_REGION'), S.kvm_userspace_memory_region.encode({ slot: 0, guest_phys_addr: end - PAGE, memory_size: 0n, userspace_addr: ram.hva }));
        limit = end;
      } catch {
        break;
      }
    }
    sys.close(vm);
    sys.close(k);
    limits.set(name, limit);
  }
  return limit;
}

function disposeSide(side: Side): void {
  for (const fd of side.fds.values()) {
    try {
      side.sys.close(fd);
    } catch {
      /* already closed */
    }
  }
  for (const a of side.areas.values()) side.sys.munmap(a);
  side.sys.munmap(side.scratch.bytes);
  side.sys.munmap(side.ram.bytes);
}

/** True when a closed handle's fd is still free on this side (so using it means EBADF). */
function fdFree(side: Side, h: Handle): boolean {
  const fd = side.fds.get(h.id);
  if (fd === undefined) return false;
  if (side.name === 'native') return !existsSync(`/proc/self/fd/${fd}`);
  return kernelOf(side.sys)?.file(fd) === undefined;
}

function outcomeOf(side: Side, op: Op): { text: string; value?: number; bad?: string } {
  try {
    const v = op.run(side);
    return { text: `ok:${v ?? ''}`, ...(v !== undefined ? { value: v } : {}) };
  } catch (e) {
    const bad = badError(e, (e as { syscall?: string }).syscall ?? 'ioctl');
    if (bad) return { text: 'ESCAPE', bad };
    return { text: (e as { code: string }).code };
  }
}

/** Runs `sequences` random sequences on both backends and compares every call. */
export function diffIoctls(opts: DiffOptions): DiffReport {
  const report: DiffReport = { sequences: 0, ops: 0, compared: 0, skipped: 0, outcomes: new Tally(), findings: new Findings(), elapsedMs: 0 };
  const t0 = performance.now();
  const len = opts.length ?? 40;
  for (let s = 0; s < opts.sequences; s++) {
    const index = (opts.firstSequence ?? 0) + s;
    const rng = new Rng(mixSeed(opts.seed, index));
    const sides = [makeSide('virtual'), makeSide('native')] as const;
    const handles: Handle[] = [];
    let nextId = 0;
    try {
      const open = (): Op => ({
        text: 'open(/dev/kvm)',
        uses: [],
        compare: 'errno',
        run: (side) => side.sys.open('/dev/kvm'),
        creates: { kind: 'system' },
      });
      for (let step = 0; step < len; step++) {
        const op = step === 0 ? open() : step === 1 && rng.chance(0.9) ? createVm(handles, 0) ?? open() : genOp(rng, handles, open);
        report.ops++;
        if (op.compare === 'skip' || op.skipIf?.(sides) || op.uses.some((h) => !h.open && !sides.every((side) => fdFree(side, h)))) {
          report.skipped++;
          opts.log?.(`${step} SKIP ${op.text}`);
          continue;
        }
        for (const side of sides) side.scratch.bytes.fill(0, 0, 0x1000);
        const out = sides.map((side) => outcomeOf(side, op));
        const after = op.after && out.every((o) => o.text.startsWith('ok')) ? sides.map((side) => op.after!(side)) : undefined;
        report.compared++;
        const [v, n] = out as [ReturnType<typeof outcomeOf>, ReturnType<typeof outcomeOf>];
        const same = op.compare === 'value' ? v.text === n.text : v.text.startsWith('ok') ? n.text.startsWith('ok') : v.text === n.text;
        report.outcomes.add(v.text.startsWith('ok') ? 'ok' : v.text);
        opts.log?.(`${step} ${op.text} -> virtual ${v.text} native ${n.text}${after ? ` [${after[0] === after[1] ? 'same bytes' : 'BYTES DIFFER'}]` : ''}`);
        const finding = (kind: Finding['kind'], detail: string) => {
          const f: Finding = { kind, seed: opts.seed, index, step, what: op.text, detail };
          report.findings.add(f);
          opts.onFinding?.(f);
        };
        if (v.bad || n.bad) finding('escape', `virtual: ${v.bad ?? v.text}; native: ${n.bad ?? n.text}`);
        if (!same) {
          finding('mismatch', `virtual ${v.text}, native ${n.text}`);
          // Register what one side created so it is closed at the end, then stop: the states differ.
          if (op.creates) sides.forEach((side, i) => out[i]!.value !== undefined && side.sys.close(out[i]!.value!));
          break;
        }
        if (after && after[0] !== after[1]) {
          finding('mismatch', `returned bytes differ: virtual ${after[0]} native ${after[1]}`);
          break;
        }
        if (op.creates && v.value !== undefined && n.value !== undefined) {
          const h: Handle = { id: nextId++, kind: op.creates.kind, open: true, ...(op.creates.vm ? { vm: op.creates.vm } : {}) };
          handles.push(h);
          sides.forEach((side, i) => {
            side.fds.set(h.id, out[i]!.value!);
            if (h.kind === 'vcpu') side.areas.set(h.id, side.sys.mmap(out[i]!.value!, 3 * 4096));
          });
        }
        if (op.text.startsWith('close(') && v.text.startsWith('ok')) {
          op.uses[0]!.open = false;
          for (const side of sides) {
            const a = side.areas.get(op.uses[0]!.id);
            if (a) side.sys.munmap(a);
            side.areas.delete(op.uses[0]!.id);
          }
        }
      }
    } finally {
      for (const side of sides) {
        for (const h of handles) if (!h.open) side.fds.delete(h.id);
        disposeSide(side);
      }
    }
    report.sequences++;
  }
  report.elapsedMs = performance.now() - t0;
  return report;
}

function createVm(handles: Handle[], type: number): Op | undefined {
  const sys = handles.find((h) => h.open && h.kind === 'system');
  if (!sys) return undefined;
  return {
    text: `KVM_CREATE_VM(${type})`,
    uses: [sys],
    compare: 'errno',
    run: (side) => side.sys.ioctl(side.fds.get(sys.id)!, R('KVM_CREATE_VM'), type),
    creates: { kind: 'vm' },
  };
}

/** A handle of `kind` (mostly open), or undefined. */
function pickHandle(rng: Rng, handles: Handle[], kind?: Kind): Handle | undefined {
  const of = handles.filter((h) => !kind || h.kind === kind);
  const open = of.filter((h) => h.open);
  if (open.length && rng.chance(0.93)) return rng.pick(open);
  return of.length ? rng.pick(of) : undefined;
}

function fdOf(side: Side, h: Handle): number {
  return side.fds.get(h.id)!;
}

function genOp(rng: Rng, handles: Handle[], open: () => Op): Op {
  const kinds: [number, () => Op | undefined][] = [
    [2, open],
    [3, () => {
      const h = pickHandle(rng, handles);
      return h && { text: `close(${h.kind} #${h.id})`, uses: [h], compare: 'errno', run: (side) => (side.sys.close(fdOf(side, h)), 0) };
    }],
    [3, () => sysCall(rng, handles)],
    [3, () => {
      const h = pickHandle(rng, handles, 'system');
      if (!h) return undefined;
      const type = rng.weighted<number>([[6, 0], [2, 1], [2, rng.range(2, 5)], [1, rng.pick([0x100, 31, 32, -1])]]);
      return {
        text: `KVM_CREATE_VM(${type}) on #${h.id}`,
        uses: [h],
        compare: 'errno',
        // Compared only where both hosts agree whether the type exists (KVM_CAP_VM_TYPES).
        skipIf: (sides) => type >= 0 && type < 32 && ((sides[0].vmTypes ^ sides[1].vmTypes) >> type) & 1,
        run: (side) => side.sys.ioctl(fdOf(side, h), R('KVM_CREATE_VM'), type),
        creates: { kind: 'vm' },
      };
    }],
    [4, () => {
      const vm = pickHandle(rng, handles, 'vm');
      if (!vm) return undefined;
      const id = rng.weighted<number | bigint>([[8, rng.int(5)], [1, rng.pick([4095, 4096, 1023, 1024])], [1, rng.pick([-1, 2 ** 31, 2 ** 32, 0x7fff_ffff])]]);
      return { text: `KVM_CREATE_VCPU(${id}) on vm #${vm.id}`, uses: [vm], compare: 'errno', run: (side) => side.sys.ioctl(fdOf(side, vm), R('KVM_CREATE_VCPU'), id), creates: { kind: 'vcpu', vm } };
    }],
    [10, () => memslot(rng, handles)],
    [4, () => dirtyLog(rng, handles)],
    [3, () => clearDirtyLog(rng, handles)],
    [3, () => enableCap(rng, handles)],
    [4, () => guestMemfd(rng, handles)],
    [1, () => {
      const vm = pickHandle(rng, handles, 'vm');
      if (!vm) return undefined;
      const b = S.kvm_memory_attributes.encode({ address: BigInt(rng.int(16)) * PAGE, size: BigInt(rng.int(4)) * PAGE, attributes: rng.pick([0n, 8n, 1n]), flags: rng.pick([0n, 1n]) });
      return { text: `KVM_SET_MEMORY_ATTRIBUTES(${hex(b)}) on vm #${vm.id}`, uses: [vm], compare: 'errno', run: (side) => side.sys.ioctl(fdOf(side, vm), R('KVM_SET_MEMORY_ATTRIBUTES'), b) };
    }],
    [3, () => runOp(rng, handles)],
    [2, () => signalMask(rng, handles)],
    [5, () => unknownRequest(rng, handles)],
    [5, () => wrongKind(rng, handles)],
  ];
  for (;;) {
    const op = rng.weighted(kinds)();
    if (op) return op;
  }
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex').replace(/(00)+$/, '…');
}

function sysCall(rng: Rng, handles: Handle[]): Op | undefined {
  const h = pickHandle(rng, handles, rng.chance(0.8) ? 'system' : undefined);
  if (!h) return undefined;
  switch (rng.int(3)) {
    case 0: {
      const arg = rng.pick([0, 0, 1, -1]);
      return { text: `KVM_GET_API_VERSION(${arg}) on ${h.kind} #${h.id}`, uses: [h], compare: 'value', run: (side) => side.sys.ioctl(fdOf(side, h), R('KVM_GET_API_VERSION'), arg) };
    }
    case 1: {
      const arg = rng.pick([0, 0, 1]);
      return { text: `KVM_GET_VCPU_MMAP_SIZE(${arg}) on ${h.kind} #${h.id}`, uses: [h], compare: 'value', run: (side) => side.sys.ioctl(fdOf(side, h), R('KVM_GET_VCPU_MMAP_SIZE'), arg) };
    }
    default: {
      const must = rng.chance(0.5);
      const cap = must ? rng.pick(MUST_MATCH_CAPS) : rng.weighted<number | bigint>([[4, rng.int(260)], [1, rng.pick([-1, 2 ** 31, 2n ** 40n])]]);
      return { text: `KVM_CHECK_EXTENSION(${cap}) on ${h.kind} #${h.id}`, uses: [h], compare: must ? 'value' : 'errno', run: (side) => side.sys.ioctl(fdOf(side, h), R('KVM_CHECK_EXTENSION'), cap) };
    }
  }
}

function memslot(rng: Rng, handles: Handle[]): Op | undefined {
  const vm = pickHandle(rng, handles, 'vm');
  if (!vm) return undefined;
  const v2 = rng.chance(0.4);
  const slot = rng.weighted<number>([[10, rng.int(4)], [1, rng.pick([32763, 32764, 0x10000, 0x10001, 0xffff])]]);
  let flags = rng.weighted<number>([[6, 0], [4, KVM_MEM.LOG_DIRTY_PAGES], [2, KVM_MEM.READONLY], [2, KVM_MEM.GUEST_MEMFD], [1, KVM_MEM.LOG_DIRTY_PAGES | KVM_MEM.READONLY], [1, KVM_MEM.GUEST_MEMFD | KVM_MEM.LOG_DIRTY_PAGES], [1, 1 << rng.int(32)]]);
  const gpa = rng.weighted<bigint>([[8, BigInt(rng.int(16)) * 0x10000n], [2, BigInt(rng.int(1 << 20)) * PAGE], [1, rng.pick([0x1001n, (1n << 52n) - PAGE, 0xffff_ffff_ffff_f000n, 1n << 63n])]]);
  const size = rng.weighted<bigint>([[3, 0n], [8, BigInt(rng.range(1, 16)) * PAGE], [1, rng.pick([0x1001n, (2n ** 31n - 1n) * PAGE, 2n ** 31n * PAGE, 1n << 40n, 0xffff_ffff_ffff_f000n])]]);
  // Dirty logging of a huge slot makes the kernel allocate its bitmap: keep those small.
  if (size > 0x100000n) flags &= ~KVM_MEM.LOG_DIRTY_PAGES;
  const uaddr = rng.weighted<Sym>([[10, { ram: rng.int(16) * 0x1000 }], [1, { ram: 8 }], [1, { abs: rng.pick([0x1000n, 0x7fff_ffff_f000n, 0x7fff_ffff_e000n, NONCANONICAL, 0xffff_8000_0000_0000n]) }]]);
  const gmems = handles.filter((h) => h.kind === 'guest_memfd' && h.vm === vm);
  const gfd = rng.weighted<Sym>([[gmems.length ? 6 : 0, { handle: gmems.length ? rng.pick(gmems) : vm }], [1, { handle: vm }], [1, { abs: 999_999n }], [1, { abs: 0xffff_ffffn }]]);
  const goff = rng.weighted<bigint>([[6, 0n], [3, BigInt(rng.int(8)) * PAGE], [1, rng.pick([0x800n, 1n << 63n, (1n << 63n) - PAGE, 0xffff_ffff_ffff_f000n])]]);
  const text = `KVM_SET_USER_MEMORY_REGION${v2 ? '2' : ''}(slot 0x${slot.toString(16)} flags 0x${(flags >>> 0).toString(16)} gpa 0x${gpa.toString(16)} size 0x${size.toString(16)} uaddr ${symText(uaddr)}${v2 ? ` gmem ${symText(gfd)} off 0x${goff.toString(16)}` : ''}) on vm #${vm.id}`;
  const uses = [vm, ...('handle' in gfd && v2 ? [gfd.handle] : [])];
  return {
    text,
    uses,
    compare: 'errno',
    // The arch's largest guest physical address is the host's: not compared between the two limits.
    skipIf: (sides) => {
      const end = gpa + size;
      const [a, b] = [sides[0].slotLimit, sides[1].slotLimit];
      return size > 0n && end > (a < b ? a : b) && end <= (a < b ? b : a);
    },
    run: (side) => {
      const base = { slot, flags, guest_phys_addr: gpa, memory_size: size, userspace_addr: resolve(side, uaddr) };
      const b = v2 ? S.kvm_userspace_memory_region2.encode({ ...base, guest_memfd_offset: goff, guest_memfd: Number(resolve(side, gfd)) }) : S.kvm_userspace_memory_region.encode(base);
      return side.sys.ioctl(fdOf(side, vm), R(v2 ? 'KVM_SET_USER_MEMORY_REGION2' : 'KVM_SET_USER_MEMORY_REGION'), b);
    },
  };
}

function bitmapPtr(rng: Rng): Sym {
  return rng.weighted<Sym>([[8, { scratch: 0 }], [1, { abs: 0n }], [1, { abs: NONCANONICAL }]]);
}

function dirtyLog(rng: Rng, handles: Handle[]): Op | undefined {
  const vm = pickHandle(rng, handles, 'vm');
  if (!vm) return undefined;
  const slot = rng.weighted<number>([[8, rng.int(4)], [1, rng.pick([32764, 0x10000, 0xffff_ffff])]]);
  const ptr = bitmapPtr(rng);
  return {
    text: `KVM_GET_DIRTY_LOG(slot 0x${slot.toString(16)}, bitmap ${symText(ptr)}) on vm #${vm.id}`,
    uses: [vm],
    compare: 'errno',
    run: (side) => side.sys.ioctl(fdOf(side, vm), R('KVM_GET_DIRTY_LOG'), S.kvm_dirty_log.encode({ slot, dirty_bitmap: resolve(side, ptr) })),
    after: (side) => Buffer.from(side.scratch.bytes.subarray(0, 0x1000)).toString('hex').replace(/(00)+$/, ''),
  };
}

function clearDirtyLog(rng: Rng, handles: Handle[]): Op | undefined {
  const vm = pickHandle(rng, handles, 'vm');
  if (!vm) return undefined;
  const slot = rng.weighted<number>([[8, rng.int(4)], [1, rng.pick([32764, 0x10000])]]);
  const first = rng.weighted<bigint>([[6, 0n], [2, 64n], [1, BigInt(rng.int(70))], [1, rng.pick([1n << 63n, 0xffff_ffff_ffff_ffc0n])]]);
  const num = rng.weighted<number>([[4, rng.range(1, 16)], [2, 64], [1, 0], [1, rng.pick([63, 65, 128, 0xffff_ffff])]]);
  const ptr = bitmapPtr(rng);
  const mask = rng.chance(0.5) ? 0xff : rng.int(256);
  return {
    text: `KVM_CLEAR_DIRTY_LOG(slot ${slot}, first ${first}, num ${num}, mask 0x${mask.toString(16)}, ${symText(ptr)}) on vm #${vm.id}`,
    uses: [vm],
    compare: 'errno',
    run: (side) => {
      side.scratch.bytes.fill(mask, 0, 16);
      return side.sys.ioctl(fdOf(side, vm), R('KVM_CLEAR_DIRTY_LOG'), S.kvm_clear_dirty_log.encode({ slot, num_pages: num, first_page: first, dirty_bitmap: resolve(side, ptr) }));
    },
  };
}

function enableCap(rng: Rng, handles: Handle[]): Op | undefined {
  const h = pickHandle(rng, handles, rng.chance(0.85) ? 'vm' : undefined);
  if (!h) return undefined;
  const generic = rng.chance(0.7);
  const cap = generic ? KVM_CAP.MANUAL_DIRTY_LOG_PROTECT2 : rng.pick([9999, 0x7fff_ffff, 1000]);
  const flags = rng.chance(0.85) ? 0 : rng.pick([1, 0x8000_0000]);
  const a0 = BigInt(rng.weighted<number>([[6, rng.int(4)], [1, rng.int(8)], [1, KVM_DIRTY_LOG.MANUAL_PROTECT_ENABLE]]));
  const b = S.kvm_enable_cap.encode({ cap, flags, args: [a0] });
  return { text: `KVM_ENABLE_CAP(cap ${cap}, flags ${flags}, arg0 ${a0}) on ${h.kind} #${h.id}`, uses: [h], compare: 'errno', run: (side) => side.sys.ioctl(fdOf(side, h), R('KVM_ENABLE_CAP'), b) };
}

function guestMemfd(rng: Rng, handles: Handle[]): Op | undefined {
  const vm = pickHandle(rng, handles, 'vm');
  if (!vm) return undefined;
  const size = rng.weighted<bigint>([[6, BigInt(rng.range(1, 16)) * PAGE], [1, 0n], [1, 0x1001n], [2, rng.pick([1n << 32n, (1n << 32n) + PAGE, 1n << 40n, (1n << 63n) - PAGE])], [1, rng.pick([1n << 63n, 0xffff_ffff_ffff_f000n])]]);
  const flags = rng.weighted<bigint>([[6, 0n], [3, BigInt(rng.int(4))], [1, rng.pick([4n, 1n << 63n])]]);
  const b = S.kvm_create_guest_memfd.encode({ size, flags });
  return { text: `KVM_CREATE_GUEST_MEMFD(size 0x${size.toString(16)}, flags 0x${flags.toString(16)}) on vm #${vm.id}`, uses: [vm], compare: 'errno', run: (side) => side.sys.ioctl(fdOf(side, vm), R('KVM_CREATE_GUEST_MEMFD'), b), creates: { kind: 'guest_memfd', vm } };
}

function runOp(rng: Rng, handles: Handle[]): Op | undefined {
  const v = pickHandle(rng, handles, 'vcpu');
  if (!v) return undefined;
  // arg 0 needs the kvm_run mapping to set immediate_exit (gone once the fd is closed).
  const arg = rng.chance(0.5) || !v.open ? rng.pick([1, -1, 0x1000]) : 0;
  // A guest never runs here: with arg 0, immediate_exit is set (EINTR before entry).
  return {
    text: `KVM_RUN(${arg}) with immediate_exit on vcpu #${v.id}`,
    uses: [v],
    compare: 'errno',
    run: (side) => {
      const a = side.areas.get(v.id);
      if (a) a[1] = 1;
      return side.sys.ioctl(fdOf(side, v), R('KVM_RUN'), arg);
    },
  };
}

function signalMask(rng: Rng, handles: Handle[]): Op | undefined {
  const v = pickHandle(rng, handles, 'vcpu');
  if (!v) return undefined;
  const kind = rng.int(4);
  const b = kind === 0 ? S.kvm_signal_mask.encode({ len: 8, sigset: new Uint8Array(8).fill(0xff) }) : kind === 1 ? S.kvm_signal_mask.encode({ len: rng.pick([0, 4, 16, 128]), sigset: new Uint8Array(128) }) : undefined;
  const arg = kind === 2 ? 0 : kind === 3 ? new Uint8Array(2) : b!;
  return { text: `KVM_SET_SIGNAL_MASK(${arg instanceof Uint8Array ? hex(arg) : arg}) on vcpu #${v.id}`, uses: [v], compare: 'errno', run: (side) => side.sys.ioctl(fdOf(side, v), R('KVM_SET_SIGNAL_MASK'), arg) };
}

function unknownRequest(rng: Rng, handles: Handle[]): Op | undefined {
  const h = pickHandle(rng, handles);
  if (!h) return undefined;
  let request: number;
  if (rng.chance(0.6)) request = IOC(rng.int(4), KVMIO, rng.range(0xf0, 0xff), rng.pick([0, 4, 8, 16, 64, rng.int(0x400)]));
  else {
    let type: number;
    do type = rng.int(256);
    while (VFS_TYPES.has(type) || type === KVMIO);
    request = IOC(rng.int(4), type, rng.int(256), rng.pick([0, 4, 8, rng.int(0x100)]));
  }
  const size = (request >>> 16) & 0x3fff;
  const dir = request >>> 30;
  const arg = dir === 0 || size === 0 ? rng.pick([0, 1]) : new Uint8Array(Math.max(8, size));
  return { text: `ioctl 0x${request.toString(16)} on ${h.kind} #${h.id}`, uses: [h], compare: 'errno', run: (side) => side.sys.ioctl(fdOf(side, h), request, arg) };
}

function wrongKind(rng: Rng, handles: Handle[]): Op | undefined {
  const h = pickHandle(rng, handles);
  if (!h) return undefined;
  const defs = Object.values(I).filter((d) => !(d.fds as readonly string[]).includes(h.kind));
  if (!defs.length) return undefined;
  const d = rng.pick(defs);
  // Zeroed bytes of the full extent: whatever the kernel writes stays inside them.
  const arg = d.dir === 'none' ? rng.pick([0, 1]) : new Uint8Array(Math.max(d.arg?.size ?? 8, 8) + 64);
  return { text: `${d.name} on ${h.kind} #${h.id}`, uses: [h], compare: UNIMPLEMENTED.has(d.name) && h.kind === 'vm' ? 'skip' : 'errno', run: (side) => side.sys.ioctl(fdOf(side, h), d.request, arg) };
}
