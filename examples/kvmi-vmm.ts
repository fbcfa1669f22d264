/**
 * A VMM that hands its guest to an introspection tool in another process (KVMI over a
 * Unix-domain socketpair): `npx tsx examples/kvmi-vmm.ts`.
 *
 * It boots the KVMI test guest (test/guests/x86/kvmi) in long mode on virtualSys(), creates a
 * socketpair, hooks the VM to one end (KVM_INTROSPECTION_HOOK) and starts examples/kvmi-tool.ts
 * with the other end as its fd 3. The tool write-protects a guest page; the guest writes a
 * pattern there; the vCPU stops on the PF event until the tool, in its own process, grants write
 * access and replies RETRY; the write lands and the tool reads the page back.
 *
 * KVM_RUN blocks while the tool thinks (up to 100 ms at a time, then it returns EINTR with
 * KVM_EXIT_INTR and the loop below simply runs again), exactly where a KVM vCPU thread would wait.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  hostSocketpair,
  introspectionCommand,
  introspectionEvent,
  introspectionHook,
  introspectionUnhook,
  isKvmiSocketAvailable,
  Kvm,
  kvmiSocketFd,
  virtualSys,
  type VcpuExit,
} from 'vkvm';

const HERE = resolve(fileURLToPath(import.meta.url), '..');
const GUEST = resolve(HERE, '../test/guests/x86/kvmi/kvmi-guest.bin');
const TEST_GPA = 0x400000;
const TEST_GVA = 0x40000000;
const PATTERN_AT = 0x9010; // where the guest takes the qword it writes
const T_PF_WRITE = 6; // the guest's "write the pattern to TEST_GVA" test

/** Long-mode VM: 2 MiB of RAM, the guest at 0x8000, TEST_GVA -> TEST_GPA (a second memslot). */
function makeVm() {
  const sys = virtualSys();
  const kvm = Kvm.open(sys);
  const vm = kvm.createVm();
  const ram = sys.alloc(0x200000);
  const page = sys.alloc(0x2000);
  const dv = new DataView(ram.bytes.buffer, ram.bytes.byteOffset);
  ram.bytes.set(readFileSync(GUEST), 0x8000);
  [0n, 0x00cf9b000000ffffn, 0x00cf93000000ffffn, 0x00af9b000000ffffn].forEach((d, i) => dv.setBigUint64(0x500 + 8 * i, d, true));
  dv.setBigUint64(0x2000, 0x3003n, true); // PML4 -> PDPT
  dv.setBigUint64(0x3000, 0x4003n, true); // PDPT[0] -> identity 2 MiB pages
  dv.setBigUint64(0x3008, 0x5003n, true); // PDPT[1] -> PD for 1 GiB..
  for (let i = 0; i < 512; i++) dv.setBigUint64(0x4000 + 8 * i, (BigInt(i) << 21n) | 0x83n, true);
  dv.setBigUint64(0x5000, 0x6003n, true);
  dv.setBigUint64(0x6000, BigInt(TEST_GPA) | 3n, true); // TEST_GVA -> TEST_GPA
  vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: 0, memorySize: 0x200000, userspaceAddr: ram.hva });
  vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: TEST_GPA, memorySize: 0x2000, userspaceAddr: page.hva });
  const vcpu = vm.createVcpu(0);
  const s = vcpu.getSregs();
  const seg = (selector: number, type: number, l: number) => ({ ...s.cs, base: 0n, limit: 0xffffffff, selector, type, present: 1, db: l ? 0 : 1, s: 1, l, g: 1 });
  const data = seg(0x10, 3, 0);
  vcpu.setSregs({ cs: seg(0x18, 11, 1), ds: data, es: data, ss: data, fs: data, gs: data, gdt: { base: 0x500n, limit: 31, padding: [0, 0, 0] }, cr0: 0x80050033n, cr3: 0x2000n, cr4: 0x220n, efer: 0x500n });
  vcpu.setRegs({ rip: 0x8000n, rsp: 0x7f000n, rflags: 2n });
  return { sys, vm, vcpu, ram: ram.bytes, page: page.bytes };
}

/** Runs guest test `id` until the guest reports done; EINTR (vCPU waiting on the tool) just means "again". */
async function runGuestTest(vcpu: ReturnType<typeof makeVm>['vcpu'], id: number): Promise<{ exit: VcpuExit; intr: number }> {
  let intr = 0;
  for (;;) {
    const e: VcpuExit = vcpu.run();
    if (e.reason === 'intr') {
      // KVM_RUN returned EINTR: the vCPU waits for the tool; yield so its reply can arrive.
      intr++;
      await new Promise((r) => setImmediate(r));
      continue;
    }
    if (e.reason === 'io' && e.port === 0x10) new DataView(e.data.buffer, e.data.byteOffset, 4).setUint32(0, id, true);
    else return { exit: e, intr };
  }
}

async function main(): Promise<number> {
  if (!isKvmiSocketAvailable()) {
    console.log('KVMI host sockets need Linux and koffi; skipping');
    return 0;
  }
  const m = makeVm();
  await runGuestTest(m.vcpu, 0); // boot: the guest builds its IDT and finishes a no-op test

  const [kernelEnd, toolEnd] = hostSocketpair();
  const fd = kvmiSocketFd(m.sys, kernelEnd);
  introspectionHook(m.sys, m.vm.fd, fd);
  m.sys.close(fd); // the VM holds its own reference to the socket
  introspectionCommand(m.sys, m.vm.fd, -1, true); // allow every command
  introspectionEvent(m.sys, m.vm.fd, -1, true); // and every event

  const tool = spawn(process.execPath, ['--import', 'tsx', resolve(HERE, 'kvmi-tool.ts'), '--fd', '3', '--gpa', `0x${TEST_GPA.toString(16)}`], {
    stdio: ['pipe', 'pipe', 'inherit', toolEnd],
  });
  const lines: string[] = [];
  let wake: (() => void) | null = null;
  let buf = '';
  tool.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
      wake?.();
    }
  });
  const nextLine = async () => {
    while (!lines.length) await new Promise<void>((r) => (wake = r));
    return lines.shift()!;
  };
  const exited = new Promise<number>((r) => tool.on('exit', (code) => r(code ?? 1)));

  console.log(`tool pid ${tool.pid} says: ${await nextLine()}`);
  const pattern = 0x5eed_cafe_f00d_beefn;
  new DataView(m.ram.buffer, m.ram.byteOffset).setBigUint64(PATTERN_AT, pattern, true);
  const run = await runGuestTest(m.vcpu, T_PF_WRITE);
  const landed = new DataView(m.page.buffer, m.page.byteOffset).getBigUint64(0, true);
  console.log(`guest test done (${run.exit.reason}); KVM_RUN returned EINTR ${run.intr} times while the tool decided`);
  console.log(`VMM sees 0x${landed.toString(16)} at gpa 0x${TEST_GPA.toString(16)}`);
  tool.stdin!.write('go\n');
  const report = JSON.parse(await nextLine()) as { faults: { gva: string; gpa: string }[]; readBack: string };
  console.log('tool report:', JSON.stringify(report));
  const code = await exited;
  introspectionUnhook(m.sys, m.vm.fd);
  const ok =
    code === 0 &&
    landed === pattern &&
    report.readBack === `0x${pattern.toString(16)}` &&
    report.faults[0]?.gva === `0x${TEST_GVA.toString(16)}` &&
    report.faults[0]?.gpa === `0x${TEST_GPA.toString(16)}`;
  console.log(ok ? 'OK' : 'MISMATCH');
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
