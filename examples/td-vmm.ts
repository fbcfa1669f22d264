/**
 * A mini-VMM that boots a trust domain (Intel TDX) the way QEMU does on Linux KVM, with the typed
 * API (`TdxVm` wraps the KVM_MEMORY_ENCRYPT_OP sub-commands):
 *
 *   KVM_CREATE_VM(KVM_X86_TDX_VM) -> KVM_TDX_CAPABILITIES -> KVM_CAP_SPLIT_IRQCHIP,
 *   KVM_CAP_EXIT_HYPERCALL -> KVM_TDX_INIT_VM -> KVM_CREATE_VCPU -> KVM_TDX_INIT_VCPU ->
 *   KVM_SET_CPUID2 -> KVM_CREATE_GUEST_MEMFD -> KVM_SET_USER_MEMORY_REGION2 ->
 *   KVM_SET_MEMORY_ATTRIBUTES(PRIVATE) -> KVM_TDX_INIT_MEM_REGION (measured firmware) ->
 *   KVM_TDX_FINALIZE_VM -> KVM_RUN loop (serial console, an MMIO device, MapGPA conversions,
 *   memory faults, KVM_EXIT_TDX, ACPI power-off).
 *
 * Run: `npx tsx examples/td-vmm.ts` (add `--trace` for the TDX module's SEAMCALL log). The guest
 * is examples/td-vmm/td-hello.asm. The virtual backend models an Intel TDX host; on a machine
 * whose /dev/kvm offers KVM_X86_TDX_VM the same code runs with `--native`.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kvm, KVM_CAP, KVM_MEM, KVM_MEMORY_ATTRIBUTE, nativeSys, TdxVm, tdxModuleOf, virtualSys, x86_64, type Sys, type VcpuExit } from 'vkvm';

const { KVM_X86_VM } = x86_64;
const KVM_HC_MAP_GPA_RANGE = 12;
const RAM = 0x200000;
const FW_BASE = 0xffff0000;
const FW_SIZE = 0x10000;
const COM1 = 0x3f8;
/** A device register the guest reads by MMIO (at guest physical 0xfed00000, no memslot). */
const DEVICE = 0xfed00000n;
const DEVICE_ID = 0x7d0c0de5;

export interface TdVmmResult {
  console: string;
  /** What the guest left in the page it shared (MapGPA). */
  shared: string;
  /** The device register value the guest reported on port 0x80. */
  reported: number;
  exits: Record<string, number>;
  poweredOff: boolean;
}

/** Boots the TD guest `image` on `sys`; `log` gets one line per step. */
export function runTdVmm(sys: Sys, image: Uint8Array, log: (line: string) => void = () => {}, opts: { trace?: boolean } = {}): TdVmmResult {
  const kvm = Kvm.open(sys);
  const types = kvm.checkExtension(KVM_CAP.VM_TYPES);
  if (!(types & (1 << KVM_X86_VM.TDX_VM))) throw new Error(`this KVM does not offer KVM_X86_TDX_VM (KVM_CAP_VM_TYPES = 0x${types.toString(16)})`);
  const vm = kvm.createVm(KVM_X86_VM.TDX_VM);
  const td = new TdxVm(vm);
  log(`KVM_CREATE_VM(KVM_X86_TDX_VM) = fd ${vm.fd}`);
  // The virtual backend exposes its TDX module model (counters, SEAMCALL log).
  const dbg = tdxModuleOf(sys, vm.fd);
  if (dbg && opts.trace) {
    dbg.module.onEvent = (e) => {
      if (e.leaf === 'TDH_MR_EXTEND' || e.leaf === 'TDH_VP_ENTER' || e.leaf === 'TD_EXIT') return;
      log(`    [tdx] ${e.leaf}${e.gpa !== undefined ? ` gpa 0x${e.gpa.toString(16)}` : ''}${e.vcpu !== undefined ? ` vcpu ${e.vcpu}` : ''} -> 0x${e.status.toString(16)} (epoch ${e.epoch})${e.detail ? ` ${e.detail}` : ''}`);
    };
  }

  // What the TDX module lets a TD have.
  const caps = td.capabilities();
  log(`KVM_TDX_CAPABILITIES: attributes 0x${caps.supportedAttrs.toString(16)} (${caps.attributes.join(' ')}), xfam 0x${caps.supportedXfam.toString(16)} (${caps.xfam.join(' ')}), ${caps.cpuid.length} configurable CPUID leaves`);

  vm.enableCap(KVM_CAP.SPLIT_IRQCHIP, [24]);
  vm.enableCap(KVM_CAP.EXIT_HYPERCALL, [1n << BigInt(KVM_HC_MAP_GPA_RANGE)]);
  // GPAW 48 (shared bit 47), through CPUID 0x80000008.EAX[23:16].
  td.initVm({ attributes: 0n, xfam: 3n, cpuid: [{ function: 0x80000008, eax: 48 << 16 }] });
  log('KVM_TDX_INIT_VM: GPAW 48, no attributes');

  const vcpu = vm.createVcpu(0);
  td.initVcpu(vcpu);
  vcpu.setCpuid2(kvm.supportedCpuid());
  log(`KVM_CREATE_VCPU + KVM_TDX_INIT_VCPU + KVM_SET_CPUID2: vCPU fd ${vcpu.fd}`);

  // Private memory lives in a guest_memfd; the userspace mapping backs the shared side.
  const ram = sys.alloc(RAM);
  const fwShared = sys.alloc(FW_SIZE);
  const gmem = vm.createGuestMemfd(RAM + FW_SIZE);
  vm.setUserMemoryRegion2({ slot: 0, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: 0, memorySize: RAM, userspaceAddr: ram.hva, guestMemfd: gmem, guestMemfdOffset: 0 });
  vm.setUserMemoryRegion2({ slot: 1, flags: KVM_MEM.GUEST_MEMFD, guestPhysAddr: FW_BASE, memorySize: FW_SIZE, userspaceAddr: fwShared.hva, guestMemfd: gmem, guestMemfdOffset: RAM });
  vm.setMemoryAttributes(0, RAM, KVM_MEMORY_ATTRIBUTE.PRIVATE);
  vm.setMemoryAttributes(FW_BASE, FW_SIZE, KVM_MEMORY_ATTRIBUTE.PRIVATE);
  log(`guest_memfd fd ${gmem}: RAM 0-0x${RAM.toString(16)} and firmware at 0x${FW_BASE.toString(16)}, both private`);

  const src = sys.alloc(FW_SIZE);
  src.bytes.set(image);
  td.initMemRegion(vcpu, { sourceAddr: src.hva, gpa: FW_BASE, nrPages: FW_SIZE / 4096 }); // measured
  td.finalize();
  const mrtd = dbg?.module.mrtdValue;
  log(`KVM_TDX_INIT_MEM_REGION (measured) + KVM_TDX_FINALIZE_VM${mrtd ? `: MRTD ${Buffer.from(mrtd).toString('hex').slice(0, 32)}...` : ''}`);

  const out: TdVmmResult = { console: '', shared: '', reported: 0, exits: {}, poweredOff: false };
  for (let n = 0; n < 10000 && !out.poweredOff; n++) {
    const e: VcpuExit = vcpu.run();
    out.exits[e.reason] = (out.exits[e.reason] ?? 0) + 1;
    switch (e.reason) {
      case 'io':
        if (e.port === COM1 && e.direction === 'out') out.console += String.fromCharCode(e.data[0]!);
        else if (e.port === 0x80) out.reported = new DataView(e.data.buffer, e.data.byteOffset, 4).getUint32(0, true);
        else if (e.port === 0x604) out.poweredOff = true;
        else if (e.direction === 'in') e.data.fill(0xff);
        break;
      case 'mmio':
        if (!e.isWrite && e.physAddr === DEVICE) new DataView(e.data.buffer, e.data.byteOffset, 4).setUint32(0, DEVICE_ID, true);
        break;
      case 'hypercall': {
        // TDG.VP.VMCALL<MapGPA> arrives as KVM_HC_MAP_GPA_RANGE: flip the memory attributes.
        const [gpa, npages, attrs] = e.args as [bigint, bigint, bigint];
        vm.setMemoryAttributes(gpa, npages * 4096n, attrs & 0x10n ? KVM_MEMORY_ATTRIBUTE.PRIVATE : 0);
        log(`MapGPA: 0x${gpa.toString(16)} x ${npages} pages -> ${attrs & 0x10n ? 'private' : 'shared'}`);
        e.setRet(0n);
        break;
      }
      case 'memory_fault':
        // KVM_RUN returned -1/EFAULT with KVM_EXIT_MEMORY_FAULT (run() returns it as an exit).
        // Implicit conversion: make the gfn what the guest accessed it as.
        vm.setMemoryAttributes(e.gpa, e.size, e.flags & 8n ? KVM_MEMORY_ATTRIBUTE.PRIVATE : 0);
        break;
      case 'tdx':
        e.setRet(0x8000000000000003n); // TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED: no quote service, no notifications
        break;
      case 'system_event':
        throw new Error(`the TD reported a fatal error (type ${e.type}): ${e.data.map((d) => d.toString(16)).join(' ')}`);
      default:
        throw new Error(`unexpected exit ${e.reason}`);
    }
  }
  const shared = ram.bytes.subarray(0x100000, 0x101000);
  out.shared = Buffer.from(shared.subarray(0, shared.indexOf(0))).toString('latin1');
  if (dbg) {
    const s = dbg.stats;
    log(`TDX module: ${s.pagesAdded} pages added, ${s.pagesAugmented} augmented, ${s.pagesAccepted} accepted, ${s.pagesRemoved} removed, epoch ${dbg.module.epoch}, ${s.tlbFlushes} TLB flushes, ${s.entries} TD entries`);
    log(`KVM: #VE by reason ${JSON.stringify(dbg.kvm.ve)}, ${dbg.kvm.mmioSpteInstalls} MMIO SPTE, ${dbg.kvm.privateFaults} private faults`);
  }
  vcpu.close();
  sys.close(gmem);
  vm.close();
  return out;
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const here = resolve(fileURLToPath(import.meta.url), '..');
  const image = new Uint8Array(readFileSync(resolve(here, 'td-vmm/td-hello.bin')));
  const native = process.argv.includes('--native');
  const trace = process.argv.includes('--trace');
  const sys = native ? nativeSys() : virtualSys();
  console.log(`== booting examples/td-vmm/td-hello.bin as a TD on the ${native ? 'native' : 'virtual'} backend`);
  try {
    const r = runTdVmm(sys, image, (l) => console.log(`  ${l}`), { trace });
    for (const line of r.console.trimEnd().split('\n')) console.log(`  | ${line}`);
    console.log(`  device register read by MMIO (#VE): 0x${r.reported.toString(16)}`);
    console.log(`  shared page: "${r.shared}"`);
    console.log(`  exits: ${JSON.stringify(r.exits)}; powered off: ${r.poweredOff}`);
  } catch (e) {
    console.error(`  ${(e as Error).message}`);
    process.exitCode = 1;
  }
}
