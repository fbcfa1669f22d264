/**
 * An introspection tool in its own process: it speaks KVMI over a Unix-domain stream socket to a
 * VMM running a guest on vkvm (see examples/kvmi-vmm.ts, which starts it with the socket as fd 3).
 *
 *   npx tsx examples/kvmi-tool.ts [--fd 3 | --path /tmp/kvmi.sock] --gpa 0x400000 [--events 1]
 *
 * What it does, libkvmi-style: checks the protocol version, makes the guest page at --gpa
 * read-only (KVMI_VM_SET_PAGE_ACCESS), enables KVMI_VCPU_EVENT_PF on vCPU 0 and prints "ready".
 * For each of the first --events write faults it logs the event, grants write access and replies
 * RETRY; then it reads the page back (KVMI_VM_READ_PHYSICAL) and prints one JSON report line.
 */
import { KvmiClient, kvmi, type KvmiEvent } from 'vkvm';

const { KVMI_EVENT, KVMI_EVENT_ACTION, KVMI_PAGE_ACCESS } = kvmi;

function arg(name: string, dflt?: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

async function main(): Promise<void> {
  const path = arg('path');
  const client = path ? await KvmiClient.connect(path) : KvmiClient.fromFd(Number(arg('fd', '3')));
  const gpa = BigInt(arg('gpa', '0x400000')!);
  const wanted = Number(arg('events', '1'));

  const version = await client.getVersion();
  const info = await client.getInfo();
  await client.setPageAccess([{ gpa, access: KVMI_PAGE_ACCESS.R }]);
  await client.controlEvents(0, KVMI_EVENT.VCPU_EVENT_PF, true);
  process.stdout.write('ready\n');

  const faults: { gva: string; gpa: string; access: number; rip: string }[] = [];
  while (faults.length < wanted) {
    const e: KvmiEvent = await client.nextEvent(KVMI_EVENT.VCPU_EVENT_PF);
    if (e.data.kind !== 'pf') continue;
    faults.push({ gva: `0x${e.data.gva.toString(16)}`, gpa: `0x${e.data.gpa.toString(16)}`, access: e.data.access, rip: `0x${e.regs!.rip.toString(16)}` });
    process.stderr.write(`[kvmi-tool] PF ${faults.at(-1)!.access === KVMI_PAGE_ACCESS.W ? 'write' : 'access'} gva ${faults.at(-1)!.gva} gpa ${faults.at(-1)!.gpa} at rip ${faults.at(-1)!.rip}\n`);
    await client.setPageAccess([{ gpa, access: KVMI_PAGE_ACCESS.R | KVMI_PAGE_ACCESS.W }]);
    client.reply(e, KVMI_EVENT_ACTION.RETRY);
  }
  // Wait for the VMM's go-ahead (the guest's write has landed), then read the page back.
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  process.stdin.destroy();
  const page = await client.readPhysical(gpa, 8);
  const report = {
    pid: process.pid,
    version: version.version,
    maxMsgSize: version.maxMsgSize,
    vcpus: info.vcpuCount,
    faults,
    readBack: `0x${new DataView(page.buffer, page.byteOffset).getBigUint64(0, true).toString(16)}`,
  };
  process.stdout.write(JSON.stringify(report) + '\n');
  client.close();
}

main().catch((e: unknown) => {
  process.stderr.write(`[kvmi-tool] ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
