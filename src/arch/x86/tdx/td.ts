/**
 * The KVM side of a trust domain (kvm_tdx in arch/x86/kvm/vmx/tdx.c): the TD state machine and
 * the KVM_MEMORY_ENCRYPT_OP sub-commands, with the kernel's checks and errnos in the kernel's
 * order; the mirror of the private page table KVM keeps, and how it drives the TDX module on a
 * private fault (TDH.MEM.SEPT.ADD, TDH.MEM.PAGE.AUG) and on a zap (TDH.MEM.RANGE.BLOCK ->
 * TDH.MEM.TRACK -> TDH.MEM.PAGE.REMOVE); and TD teardown (HKID release, reclaim).
 * @module
 */
import type { GuestMemfd } from '../../../kernel/gmem.js';
import type { Kernel } from '../../../kernel/kernel.js';
import type { MemslotChange } from '../../../kernel/memslots.js';
import type { UserArg } from '../../../kernel/uarg.js';
import type { Vcpu } from '../../../kernel/vcpu.js';
import type { Vm } from '../../../kernel/vm.js';
import { KvmError } from '../../../sys/error.js';
import type { ErrnoCode } from '../../../sys/errno.js';
import { KVM_MEMORY_ATTRIBUTE } from '../../../uapi/constants.js';
import { x86_64 } from '../../../uapi/index.js';
import { KVM_TDX, KVM_TDX_CAP } from '../../../uapi/x86.js';
import type { CpuidEntry } from '../cpuid.js';
import { TDVMCALLINFO_SETUP_EVENT_NOTIFY_INTERRUPT, TDX_EXTENDMR_CHUNKSIZE, TDX_STATUS, TDX_STATUS_MASK } from './abi.js';
import { ATTRIBUTES_FIXED1, capabilityCpuid, configLeafIndex, invalidCpuidValue, NUM_CPUID_CONFIG, SUPPORTED_ATTRS, SUPPORTED_XFAM, tdCpuid, unsupportedCpuid, XFAM_FIXED1 } from './caps.js';
import { HkidPool, TDCS_PAGES, TdxModule, type HostPage } from './module.js';

const S = x86_64.structs;
const PAGE = 4096;
/** KVM_MAX_CPUID_ENTRIES */
const MAX_CPUID_ENTRIES = 256;
/** MAX_NR_RESERVED_IOAPIC_PINS (KVM_MAX_IRQ_ROUTES) */
const MAX_IOAPIC_PINS = 4096;

/** KVM's TD states (enum kvm_tdx_state). */
export type TdState = 'UNINITIALIZED' | 'INITIALIZED' | 'RUNNABLE';

/** Counters of the KVM side (what KVM did with guest faults and exits). */
export interface TdKvmStats {
  /** Private EPT violations KVM resolved by mapping a page (AUG). */
  privateFaults: number;
  /** KVM_EXIT_MEMORY_FAULT exits (private/shared mismatch, no private backing). */
  memoryFaultExits: number;
  /** MMIO SPTEs installed with suppress-#VE cleared (the first MMIO access of a shared gfn). */
  mmioSpteInstalls: number;
  /** #VEs the TDX module injected, by exit reason. */
  readonly ve: Record<number, number>;
  /** SEAMCALLs retried after TDX_OPERAND_BUSY (the patch's -EAGAIN / -EBUSY retry). */
  retries: number;
  /** Private pages zapped (BLOCK + TRACK + REMOVE). */
  zaps: number;
}

/** The TDX private HKID pool of each virtual host. */
const pools = new WeakMap<Kernel, HkidPool>();
function poolOf(k: Kernel): HkidPool {
  let p = pools.get(k);
  if (!p) pools.set(k, (p = new HkidPool()));
  return p;
}

/** Pages of each guest_memfd already populated ("prepared" folios). */
const prepared = new WeakMap<GuestMemfd, Set<number>>();
function preparedOf(g: GuestMemfd): Set<number> {
  let s = prepared.get(g);
  if (!s) prepared.set(g, (s = new Set()));
  return s;
}

const err = (code: ErrnoCode, arg: UserArg, message?: string) => KvmError.of(code, 'ioctl', { request: arg.request, fd: arg.fd, ...(message ? { message } : {}) });

/** kvm_tdx: one TD as KVM sees it. */
export class TdxVm {
  state: TdState = 'UNINITIALIZED';
  /** The TDX module instance backing this TD (replaced when a failed INIT_VM is torn down). */
  module: TdxModule;
  attributes = 0n;
  xfam = 0n;
  /** Guest physical address width (48 or 52); the shared bit is GPA bit gpaw - 1. */
  gpaw = 48;
  /** The CPUID the TDX module virtualizes for this TD. */
  cpuid: CpuidEntry[] = [];
  /** KVM_CAP_SPLIT_IRQCHIP enabled (TDX requires an in-kernel local APIC). */
  splitIrqchip = false;
  /** Pages mapped in the mirror page table but not yet added (kvm_tdx->nr_premapped). */
  nrPremapped = 0;
  /** kvm_vm_dead(): every ioctl of the VM and its vCPUs fails with EIO (the generic kernel checks it). */
  get dead(): boolean {
    return this.vm.vmDead;
  }

  set dead(v: boolean) {
    if (v) this.vm.vmDead = true;
  }
  /** KVM's mirror of the Secure EPT: private gfn -> the guest_memfd page it maps. */
  readonly mirror = new Map<number, HostPage>();
  /** Shared gfns with an MMIO SPTE (suppress-#VE cleared): accesses raise #VE directly. */
  readonly mmioSptes = new Set<number>();
  readonly stats: TdKvmStats = { privateFaults: 0, memoryFaultExits: 0, mmioSpteInstalls: 0, ve: {}, retries: 0, zaps: 0 };
  private vcpusInitialized = 0;

  constructor(readonly vm: Vm) {
    this.module = new TdxModule(poolOf(vm.kernel));
    vm.attrListeners.push((start, end, attrs) => this.attributesChanged(start, end, attrs));
    vm.memslotListeners.push((c) => this.memslotChanged(c));
    vm.gmemReleaseListeners.push((g) => this.gmemReleased(g));
  }

  /** The shared bit as a gfn bit (kvm_gfn_direct_bits). */
  get sharedGfnBit(): number {
    return 2 ** (this.gpaw - 1 - 12);
  }

  /** True for a GPA with the shared bit clear (vt_is_tdx_private_gpa). */
  isPrivateGpa(gpa: bigint): boolean {
    return !((gpa >> BigInt(this.gpaw - 1)) & 1n);
  }

  // ---------------------------------------------------------------------------------------
  // VM ioctls (tdx_vm_ioctl)

  vmIoctl(arg: UserArg): number {
    if (this.dead) throw err('EIO', arg);
    const cmdBytes = arg.bytes(S.kvm_tdx_cmd.size);
    const cmd = S.kvm_tdx_cmd.decode(cmdBytes);
    if (cmd.hw_error) throw err('EINVAL', arg, 'hw_error must be 0');
    let r: number;
    const out = { hwError: 0n };
    switch (cmd.id) {
      case KVM_TDX.CAPABILITIES:
        r = this.capabilities(arg, cmd.flags, cmd.data);
        break;
      case KVM_TDX.INIT_VM:
        try {
          r = this.initVm(arg, cmd.flags, cmd.data, out);
        } finally {
          S.kvm_tdx_cmd.view(cmdBytes).hw_error = out.hwError;
        }
        break;
      case KVM_TDX.FINALIZE_VM:
        try {
          r = this.finalize(arg, out);
        } finally {
          S.kvm_tdx_cmd.view(cmdBytes).hw_error = out.hwError;
        }
        break;
      case KVM_TDX.TERMINATE_VM:
        r = this.terminate(arg);
        break;
      default:
        throw err('EINVAL', arg, `KVM_TDX command ${cmd.id} is not a VM command`);
    }
    return r;
  }

  /**
   * KVM_TDX_TERMINATE_VM (tdx_terminate_vm, 6.18): with every vCPU lock taken (EBUSY if one is
   * busy: here, attached to another thread), kvm_vm_dead() — every later ioctl of the VM and its
   * vCPUs is EIO — then the HKID is released, so private pages are reclaimed without BLOCK/TRACK/
   * REMOVE when the guest_memfd or the VM goes.
   */
  private terminate(arg: UserArg): number {
    for (const v of this.vm.vcpus.values()) if (v.away !== null) throw err('EBUSY', arg, 'a vCPU of the TD is in use');
    this.dead = true;
    this.module.releaseHkid();
    return 0;
  }

  /** KVM_TDX_CAPABILITIES */
  private capabilities(arg: UserArg, flags: number, data: bigint): number {
    if (flags) throw err('EINVAL', arg);
    const space = this.vm.kernel.space;
    const head = space.user(data, S.kvm_tdx_capabilities.size);
    const caps = S.kvm_tdx_capabilities.view(head);
    if (caps.cpuid.nent < NUM_CPUID_CONFIG) throw err('E2BIG', arg, `cpuid.nent must be at least ${NUM_CPUID_CONFIG}`);
    const entries = capabilityCpuid();
    const bytes = S.kvm_tdx_capabilities.encode({
      supported_attrs: SUPPORTED_ATTRS,
      supported_xfam: SUPPORTED_XFAM,
      kernel_tdvmcallinfo_1_r11: 0n,
      user_tdvmcallinfo_1_r11: TDVMCALLINFO_SETUP_EVENT_NOTIFY_INTERRUPT,
      kernel_tdvmcallinfo_1_r12: 0n,
      user_tdvmcallinfo_1_r12: 0n,
      supported_caps: BigInt(KVM_TDX_CAP.TERMINATE_VM),
      cpuid: { nent: entries.length, padding: 0, entries: [] },
    });
    head.set(bytes.subarray(0, S.kvm_tdx_capabilities.size));
    const out = space.user(data + BigInt(S.kvm_tdx_capabilities.size), entries.length * S.kvm_cpuid_entry2.size);
    entries.forEach((e, i) => S.kvm_cpuid_entry2.encodeInto({ ...e, padding: [0, 0, 0] }, out, i * S.kvm_cpuid_entry2.size));
    return 0;
  }

  /** KVM_TDX_INIT_VM (tdx_td_init + setup_tdparams + __tdx_td_init). */
  private initVm(arg: UserArg, flags: number, data: bigint, out: { hwError: bigint }): number {
    if (this.state !== 'UNINITIALIZED') throw err('EINVAL', arg, 'the TD is already initialized');
    if (flags) throw err('EINVAL', arg);
    const space = this.vm.kernel.space;
    const init = S.kvm_tdx_init_vm.decode(space.user(data, S.kvm_tdx_init_vm.size));
    const nent = init.cpuid.nent;
    if (nent > MAX_CPUID_ENTRIES) throw err('E2BIG', arg);
    const raw = space.user(data + BigInt(S.kvm_tdx_init_vm.size), nent * S.kvm_cpuid_entry2.size);
    const entries: CpuidEntry[] = Array.from({ length: nent }, (_, i) => {
      const e = S.kvm_cpuid_entry2.decode(raw, i * S.kvm_cpuid_entry2.size);
      return { function: e.function, index: e.index, flags: e.flags, eax: e.eax | 0, ebx: e.ebx | 0, ecx: e.ecx | 0, edx: e.edx | 0 };
    });
    if (init.reserved.some((x) => x !== 0n)) throw err('EINVAL', arg, 'reserved fields must be 0');
    if (init.cpuid.padding) throw err('EINVAL', arg, 'cpuid.padding must be 0');
    // setup_tdparams
    if (this.vm.createdVcpus) throw err('EBUSY', arg, 'vCPUs already exist');
    if (init.attributes & ~SUPPORTED_ATTRS) throw err('EINVAL', arg, 'unsupported TD attributes');
    if (init.xfam & ~SUPPORTED_XFAM) throw err('EINVAL', arg, 'unsupported XFAM');
    const pa = entries.find((e) => e.function === 0x80000008 && e.index === 0);
    if (!pa) throw err('EINVAL', arg, 'CPUID 0x80000008 (guest physical address width) is required');
    const gpaw = (pa.eax >>> 16) & 0xff;
    if (gpaw !== 48 && gpaw !== 52) throw err('EINVAL', arg, 'CPUID 0x80000008.EAX[23:16] must be 48 or 52');
    let copied = 0;
    for (const e of entries) {
      if (configLeafIndex(e.function, e.index) < 0) continue;
      if (unsupportedCpuid(e)) throw err('EINVAL', arg, 'TSX and WAITPKG cannot be given to a TD');
      copied++;
    }
    if (copied !== nent) throw err('EINVAL', arg, 'a CPUID entry is not configurable for TDs');

    // __tdx_td_init: HKID, TDR, keys, TDCS, TD_PARAMS.
    const pool = poolOf(this.vm.kernel);
    const hkid = pool.alloc();
    if (hkid < 0) throw err('ENOSPC', arg, 'no private HKID left');
    const m = this.module;
    const check = (st: bigint, what: string) => {
      if (st !== TDX_STATUS.SUCCESS) throw err('EIO', arg, `${what} failed: 0x${st.toString(16)}`);
    };
    check(m.mngCreate(hkid), 'TDH.MNG.CREATE');
    check(m.mngKeyConfig(), 'TDH.MNG.KEY.CONFIG');
    for (let i = 0; i < TDCS_PAGES; i++) check(m.mngAddcx(), 'TDH.MNG.ADDCX');
    const bad = invalidCpuidValue(entries);
    if (bad >= 0) {
      // TDH.MNG.INIT rejects the TD_PARAMS: the status reaches userspace in hw_error.
      out.hwError = TDX_STATUS.OPERAND_INVALID | 1n;
      this.teardown();
      this.module = new TdxModule(pool);
      throw err('EINVAL', arg, `CPUID entry ${bad} sets bits the TDX module does not allow`);
    }
    check(m.mngInit({ attributes: init.attributes | ATTRIBUTES_FIXED1, xfam: init.xfam | XFAM_FIXED1, gpaw, maxVcpus: this.vm.arch.maxVcpus }), 'TDH.MNG.INIT');
    this.attributes = init.attributes | ATTRIBUTES_FIXED1;
    this.xfam = init.xfam | XFAM_FIXED1;
    this.gpaw = gpaw;
    this.cpuid = tdCpuid(entries, gpaw);
    this.state = 'INITIALIZED';
    return 0;
  }

  /** KVM_TDX_FINALIZE_VM */
  private finalize(arg: UserArg, out: { hwError: bigint }): number {
    if (this.module.hkid < 0 || this.state === 'RUNNABLE') throw err('EINVAL', arg, 'the TD is not initialized or already finalized');
    if (this.nrPremapped) throw err('EINVAL', arg, 'pages are mapped but not added');
    const st = this.module.mrFinalize();
    out.hwError = st;
    if ((st & TDX_STATUS_MASK) === TDX_STATUS.OPERAND_BUSY) throw err('EBUSY', arg);
    if (st) throw err('EIO', arg);
    this.state = 'RUNNABLE';
    return 0;
  }

  // ---------------------------------------------------------------------------------------
  // vCPU ioctls (tdx_vcpu_ioctl)

  vcpuIoctl(vcpu: Vcpu, tdv: TdVcpuState, arg: UserArg): number {
    if (this.dead) throw err('EIO', arg);
    if (this.module.hkid < 0 || this.state === 'RUNNABLE') throw err('EINVAL', arg, 'KVM_TDX vCPU commands need an initialized, not yet finalized TD');
    const cmd = S.kvm_tdx_cmd.decode(arg.bytes(S.kvm_tdx_cmd.size));
    if (cmd.hw_error) throw err('EINVAL', arg, 'hw_error must be 0');
    switch (cmd.id) {
      case KVM_TDX.INIT_VCPU:
        return this.initVcpu(vcpu, tdv, arg, cmd.flags, cmd.data);
      case KVM_TDX.INIT_MEM_REGION:
        return this.initMemRegion(tdv, arg, cmd.flags, cmd.data);
      case KVM_TDX.GET_CPUID:
        return this.getCpuid(arg, cmd.data);
      default:
        throw err('EINVAL', arg, `KVM_TDX command ${cmd.id} is not a vCPU command`);
    }
  }

  /** KVM_TDX_INIT_VCPU: TDH.VP.CREATE/ADDCX/INIT; data is the vCPU's initial RCX. */
  private initVcpu(vcpu: Vcpu, tdv: TdVcpuState, arg: UserArg, flags: number, data: bigint): number {
    if (flags) throw err('EINVAL', arg);
    if (tdv.state !== 'UNINITIALIZED') throw err('EINVAL', arg, 'the vCPU is already initialized');
    const r = this.module.vpCreateAndInit();
    if (r.status) {
      this.dead = true; // KVM_BUG_ON
      throw err('EIO', arg, `TDH.VP.INIT failed: 0x${r.status.toString(16)}`);
    }
    tdv.state = 'INITIALIZED';
    tdv.index = r.index;
    tdv.onInit(data, r.index, vcpu.id === 0);
    this.vcpusInitialized++;
    return 0;
  }

  /** KVM_TDX_INIT_MEM_REGION: kvm_gmem_populate + TDH.MEM.PAGE.ADD (+ TDH.MR.EXTEND). */
  private initMemRegion(tdv: TdVcpuState, arg: UserArg, flags: number, data: bigint): number {
    if (tdv.state !== 'INITIALIZED') throw err('EINVAL', arg, 'KVM_TDX_INIT_VCPU first');
    if (flags & ~KVM_TDX.MEASURE_MEMORY_REGION) throw err('EINVAL', arg);
    const space = this.vm.kernel.space;
    const regionBytes = space.user(data, S.kvm_tdx_init_mem_region.size);
    const region = S.kvm_tdx_init_mem_region.view(regionBytes);
    const { source_addr: src, gpa, nr_pages: n } = S.kvm_tdx_init_mem_region.decode(regionBytes);
    const end = gpa + (n << 12n);
    if (src & 0xfffn || gpa & 0xfffn || n === 0n || end <= gpa || end > 1n << 64n || !this.isPrivateGpa(gpa) || !this.isPrivateGpa(end - 1n)) {
      throw err('EINVAL', arg, 'source_addr/gpa must be page aligned, nr_pages nonzero, and the range private');
    }
    let error: KvmError | null = null;
    try {
      while (region.nr_pages > 0n) {
        this.populateOne(arg, region.gpa, region.source_addr, (flags & KVM_TDX.MEASURE_MEMORY_REGION) !== 0);
        region.source_addr += BigInt(PAGE);
        region.gpa += BigInt(PAGE);
        region.nr_pages -= 1n;
      }
    } catch (e) {
      if (!(e instanceof KvmError)) throw e;
      error = e;
    }
    if (error) throw error;
    return 0;
  }

  /** One page of kvm_gmem_populate with tdx_gmem_post_populate. */
  private populateOne(arg: UserArg, gpa: bigint, src: bigint, measure: boolean): void {
    const gfn = Number(gpa >> 12n);
    const slot = this.vm.slotFor(gfn);
    if (!slot || !slot.gmem) throw err('EINVAL', arg, `gfn 0x${gfn.toString(16)} has no guest_memfd-backed memslot`);
    const rel = gfn - slot.baseGfn;
    const index = slot.gmem.offset / PAGE + rel;
    const done = preparedOf(slot.gmem.file);
    if (done.has(index)) throw err('EEXIST', arg, `gfn 0x${gfn.toString(16)} is already populated`);
    if (!this.vm.isPrivate(gfn)) throw err('EINVAL', arg, `gfn 0x${gfn.toString(16)} is not private (KVM_SET_MEMORY_ATTRIBUTES)`);
    const source = this.vm.kernel.space.user(src, PAGE); // get_user_pages_fast: EFAULT
    const page = slot.gmemPage(rel);
    if (!page) throw err('EFAULT', arg, 'the guest_memfd of this memslot was closed'); // kvm_gmem_get_file: NULL
    // kvm_tdp_map_page: link the Secure-EPT tables, then the leaf counts as premapped.
    this.linkTables(gpa);
    this.nrPremapped++;
    this.mirror.set(gfn, page);
    const st = this.retrying(() => this.module.pageAdd(gpa, page, source));
    if (st) {
      this.mirror.delete(gfn);
      this.nrPremapped--;
      throw err((st & TDX_STATUS_MASK) === TDX_STATUS.OPERAND_BUSY ? 'EBUSY' : 'EIO', arg, `TDH.MEM.PAGE.ADD failed: 0x${st.toString(16)}`);
    }
    this.nrPremapped--;
    done.add(index);
    if (measure) {
      for (let off = 0; off < PAGE; off += TDX_EXTENDMR_CHUNKSIZE) {
        if (this.module.mrExtend(gpa + BigInt(off))) throw err('EIO', arg);
      }
    }
  }

  /** KVM_TDX_GET_CPUID: the CPUID the TDX module virtualizes (E2BIG updates nent). */
  private getCpuid(arg: UserArg, data: bigint): number {
    const space = this.vm.kernel.space;
    const hdrSize = S.kvm_cpuid2.offsetOf('entries');
    const hdr = space.user(data, hdrSize);
    const dv = new DataView(hdr.buffer, hdr.byteOffset, hdrSize);
    const entries = this.cpuid.map((e) => {
      const sub = e.function === 4 || e.function === 7 || e.function === 0xd;
      const eax = e.function === 0x80000008 ? ((e.eax & ~0xff0000) | (this.gpaw << 16)) | 0 : e.eax;
      return { ...e, eax, flags: sub ? 1 : 0 };
    });
    const nent = dv.getUint32(S.kvm_cpuid2.offsetOf('nent'), true);
    dv.setUint32(S.kvm_cpuid2.offsetOf('nent'), entries.length, true);
    if (nent < entries.length) throw err('E2BIG', arg);
    const out = space.user(data + BigInt(hdrSize), entries.length * S.kvm_cpuid_entry2.size);
    entries.forEach((e, i) => S.kvm_cpuid_entry2.encodeInto({ ...e, padding: [0, 0, 0] }, out, i * S.kvm_cpuid_entry2.size));
    return 0;
  }

  // ---------------------------------------------------------------------------------------
  // KVM_ENABLE_CAP / KVM_CREATE_VCPU preconditions

  /** KVM_CAP_SPLIT_IRQCHIP on a TD (the in-kernel local APIC TDX requires). */
  enableSplitIrqchip(routes: bigint): void {
    const bad = (c: ErrnoCode) => KvmError.of(c, 'ioctl', { request: this.vm.kernel.req('KVM_ENABLE_CAP') });
    if (routes > BigInt(MAX_IOAPIC_PINS)) throw bad('EINVAL');
    if (this.splitIrqchip) throw bad('EEXIST');
    if (this.vm.createdVcpus) throw bad('EINVAL');
    this.splitIrqchip = true;
  }

  /** tdx_vcpu_create */
  checkVcpuCreate(): void {
    const req = this.vm.kernel.req('KVM_CREATE_VCPU');
    if (this.dead) throw KvmError.of('EIO', 'ioctl', { request: req });
    if (this.state !== 'INITIALIZED') throw KvmError.of('EIO', 'ioctl', { request: req, message: 'KVM_TDX_INIT_VM first (vCPUs are created before KVM_TDX_FINALIZE_VM)' });
    if (!this.splitIrqchip) throw KvmError.of('EINVAL', 'ioctl', { request: req, message: 'TDX needs an in-kernel local APIC: enable KVM_CAP_SPLIT_IRQCHIP' });
  }

  // ---------------------------------------------------------------------------------------
  // The mirror TDP MMU

  /**
   * Calls a SEAMCALL again while it reports TDX_OPERAND_BUSY: KVM's retry of -EBUSY/-EAGAIN (the
   * fault path returns RET_PF_RETRY; the zap path retries with vCPU entry blocked). vCPUs run one
   * at a time here, so nothing can be in guest mode while KVM retries.
   */
  retrying(call: () => bigint): bigint {
    let st = call();
    for (let n = 0; (st & TDX_STATUS_MASK) === TDX_STATUS.OPERAND_BUSY && n < 16; n++) {
      this.stats.retries++;
      st = call();
    }
    return st;
  }

  /** tdx_sept_link_private_spt for each missing Secure-EPT table on the walk to `gpa`. */
  private linkTables(gpa: bigint): void {
    for (const level of this.module.missingTables(gpa)) {
      const st = this.retrying(() => this.module.septAdd(gpa, level));
      if (st) {
        this.dead = true;
        throw KvmError.of('EIO', 'ioctl', { message: `TDH.MEM.SEPT.ADD failed: 0x${st.toString(16)}` });
      }
    }
  }

  /**
   * A private EPT violation KVM resolves (kvm_tdp_mmu_map for a private gfn): 'mapped' when the
   * page is now in the Secure EPT (AUG: the guest must accept it), or 'memory_fault' when KVM
   * must exit to userspace (no guest_memfd backing).
   */
  faultInPrivate(gfn: number): 'mapped' | 'memory_fault' {
    if (this.mirror.has(gfn)) return 'mapped';
    const slot = this.vm.slotFor(gfn);
    if (!slot || !slot.gmem) return 'memory_fault';
    const rel = gfn - slot.baseGfn;
    const page = slot.gmemPage(rel);
    if (!page) return 'memory_fault'; // the guest_memfd was released: kvm_gmem_get_pfn fails
    const gpa = BigInt(gfn) << 12n;
    this.linkTables(gpa);
    const st = this.retrying(() => this.module.pageAug(gpa, page));
    if (st) {
      this.dead = true;
      throw KvmError.of('EIO', 'ioctl', { message: `TDH.MEM.PAGE.AUG failed: 0x${st.toString(16)}` });
    }
    this.mirror.set(gfn, page);
    preparedOf(slot.gmem.file).add(slot.gmem.offset / PAGE + rel);
    this.stats.privateFaults++;
    return 'mapped';
  }

  /** tdx_sept_remove_private_spte: BLOCK, TRACK (kick vCPUs), REMOVE, WBINVD, clear the page. */
  zapPrivate(gfn: number): void {
    const page = this.mirror.get(gfn);
    if (!page) return;
    const gpa = BigInt(gfn) << 12n;
    const m = this.module;
    if (m.hkid < 0 && m.opState === 'TEARDOWN') {
      // The HKID is gone (KVM_TDX_TERMINATE_VM): tdx_reclaim_page, no BLOCK/TRACK/REMOVE.
      m.reclaimPage(gpa);
      page.bytes.fill(0, page.offset, page.offset + PAGE);
      this.mirror.delete(gfn);
      this.stats.zaps++;
      return;
    }
    let st = this.retrying(() => m.rangeBlock(gpa));
    if (st === TDX_STATUS.SUCCESS && this.state === 'RUNNABLE') st = this.retrying(() => m.track());
    if (st === TDX_STATUS.SUCCESS) st = this.retrying(() => m.pageRemove(gpa).status);
    if (st !== TDX_STATUS.SUCCESS) {
      this.dead = true; // KVM_BUG_ON
      return;
    }
    m.wbinvd(`gpa 0x${gpa.toString(16)}`);
    page.bytes.fill(0, page.offset, page.offset + PAGE); // tdx_clear_page
    this.mirror.delete(gfn);
    this.stats.zaps++;
  }

  /** KVM_SET_MEMORY_ATTRIBUTES: converting to shared zaps the private mappings of the range. */
  private attributesChanged(start: number, end: number, attrs: number): void {
    for (const g of [...this.mmioSptes]) if (g >= start && g < end) this.mmioSptes.delete(g);
    if (attrs & KVM_MEMORY_ATTRIBUTE.PRIVATE) return;
    const gfns = [...this.mirror.keys()].filter((g) => g >= start && g < end).sort((a, b) => a - b);
    for (const g of gfns) this.zapPrivate(g);
  }

  /**
   * kvm_gmem_release -> kvm_gmem_invalidate_begin: every private mapping of a page of `gmem` is
   * zapped (BLOCK, TRACK, REMOVE, cleared), so the guest loses those pages; its next access to
   * them is an EPT violation KVM cannot resolve (KVM_EXIT_MEMORY_FAULT).
   */
  private gmemReleased(gmem: GuestMemfd): void {
    const gfns = [...this.mirror.keys()].filter((g) => this.vm.slotFor(g)?.gmem?.file === gmem).sort((a, b) => a - b);
    for (const g of gfns) this.zapPrivate(g);
    this.vm.bumpMmu();
  }

  /** Memslot deletion or move zaps the slot's private mappings; MMIO SPTEs are regenerated. */
  private memslotChanged(c: MemslotChange): void {
    this.mmioSptes.clear();
    if (c.kind !== 'delete' && c.kind !== 'move') return;
    const base = c.kind === 'move' ? c.oldBaseGfn : c.slot.baseGfn;
    const gfns = [...this.mirror.keys()].filter((g) => g >= base && g < base + c.slot.npages).sort((a, b) => a - b);
    for (const g of gfns) this.zapPrivate(g);
  }

  // ---------------------------------------------------------------------------------------
  // Teardown

  /**
   * VM destruction (the v13 order): release the HKID first (VP.FLUSH, VPFLUSHDONE, CACHE.WB,
   * KEY.FREEID), then reclaim every page with TDH.PHYMEM.PAGE.RECLAIM and no further flush.
   */
  teardown(): void {
    const m = this.module;
    if (m.hkid >= 0) m.releaseHkid();
    if (m.opState === 'TEARDOWN') {
      m.reclaimAll((page) => page.bytes.fill(0, page.offset, page.offset + PAGE));
    }
    this.mirror.clear();
    this.state = 'UNINITIALIZED';
  }

  /** Initialized vCPUs (TDH.VP.INIT done). */
  get initializedVcpus(): number {
    return this.vcpusInitialized;
  }
}

/** vcpu_tdx: the per-vCPU TD state KVM keeps. */
export interface TdVcpuState {
  state: 'UNINITIALIZED' | 'INITIALIZED';
  /** The TDX module's vCPU index. */
  index: number;
  /** TDH.VP.INIT done: set the architectural initial state. */
  onInit(rcx: bigint, index: number, bsp: boolean): void;
}

const tds = new WeakMap<Vm, TdxVm>();

/** kvm_tdx of a TD VM (undefined for other VM types). */
export function tdOf(vm: Vm): TdxVm | undefined {
  return tds.get(vm);
}

/** tdx_vm_init */
export function createTd(vm: Vm): TdxVm {
  const td = new TdxVm(vm);
  tds.set(vm, td);
  return td;
}
