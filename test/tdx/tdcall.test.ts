/**
 * Guest-visible TDCALL and TDG.VP.VMCALL results: the TD firmware's probe scenario executes a
 * table of TDCALLs (register values from the test) and reports RAX, R10 and R11 after each, so
 * the TDX module and GHCI status codes KVM and the module return are checked one by one.
 */
import { describe, expect, it } from 'vitest';
import { KVM_CAP, virtualSys, type VcpuExit } from '../../src/index.js';
import { tdxModuleOf, TDCALL, TDVMCALL, TDVMCALL_STATUS, TDX_STATUS } from '../../src/arch/x86/tdx/index.js';
import { KVM_TDX } from '../../src/uapi/x86.js';
import { SHARED, tdFirmware, TestTd } from './td.js';

interface Call {
  rax: bigint;
  rcx?: bigint;
  rdx?: bigint;
  r8?: bigint;
  r10?: bigint;
  r11?: bigint;
  r12?: bigint;
  r13?: bigint;
  r14?: bigint;
  r15?: bigint;
}
interface Result {
  rax: bigint;
  r10: bigint;
  r11: bigint;
}
/** R10..R15 exposed (the usual TDG.VP.VMCALL bitmap). */
const EXPOSE = 0xfc00n;
const vmcall = (leaf: number, r: Omit<Call, 'rax' | 'r11'> = {}): Call => ({ rax: 0n, rcx: EXPOSE, r10: 0n, r11: BigInt(leaf), ...r });

/** Runs the probe table; `onExit` answers exits other than the reports. */
function probe(calls: Call[], opts: { exitHypercall?: boolean; onExit?: (e: VcpuExit, td: TestTd) => void } = {}): { results: Result[]; td: TestTd } {
  const fw = tdFirmware().slice();
  const dv = new DataView(fw.buffer);
  calls.forEach((c, i) => {
    const base = 0xc000 + 80 * i;
    [c.rax, c.rcx, c.rdx, c.r8, c.r10, c.r11, c.r12, c.r13, c.r14, c.r15].forEach((v, k) => dv.setBigUint64(base + 8 * k, v ?? 0n, true));
  });
  dv.setBigUint64(0xc000 + 80 * calls.length, 0xffffffffffffffffn, true);
  const sys = virtualSys();
  const td = new TestTd(sys, { firmware: fw, scenario: () => 4, upTo: 'memory' }).build();
  if (opts.exitHypercall === false) td.vm.enableCap(KVM_CAP.EXIT_HYPERCALL, [0n]);
  td.vmCmd(KVM_TDX.FINALIZE_VM);
  const words: number[] = [];
  const v = td.vcpus[0]!;
  for (let n = 0; n < 1000; n++) {
    const e = v.run();
    if (e.reason === 'io' && e.port === 0xe2) {
      const w = new DataView(e.data.buffer, e.data.byteOffset, 4).getUint32(0, true);
      if (w === 0xe2e2e2e2 && words.length === 6 * calls.length) break;
      words.push(w);
      continue;
    }
    if (!opts.onExit) throw new Error(`unexpected exit ${e.reason}`);
    opts.onExit(e, td);
  }
  const q = (lo: number, hi: number) => (BigInt(hi) << 32n) | BigInt(lo);
  const results = calls.map((_, i) => ({ rax: q(words[6 * i]!, words[6 * i + 1]!), r10: q(words[6 * i + 2]!, words[6 * i + 3]!), r11: q(words[6 * i + 4]!, words[6 * i + 5]!) }));
  return { results, td };
}

const S = TDVMCALL_STATUS;

describe('TDX: TDCALL leaves as the guest sees them', () => {
  it('TDG.VP.INFO, TDG.VP.VEINFO.GET without a #VE, unknown leaves', () => {
    const { results } = probe([{ rax: BigInt(TDCALL.TDG_VP_INFO) }, { rax: BigInt(TDCALL.TDG_VP_VEINFO_GET) }, { rax: 9n }]);
    expect(results[0]).toEqual({ rax: 0n, r10: 0n, r11: 0n });
    expect(results[1]!.rax).toBe(TDX_STATUS.NO_VALID_VE_INFO);
    expect(results[2]!.rax).toBe(TDX_STATUS.OPERAND_INVALID);
  });

  it('TDG.MEM.PAGE.ACCEPT: success, already accepted, 2 MiB level, shared GPA', () => {
    const A = BigInt(TDCALL.TDG_MEM_PAGE_ACCEPT);
    const { results, td } = probe([{ rax: A, rcx: 0x150000n }, { rax: A, rcx: 0x150000n }, { rax: A, rcx: 0x160000n | 1n }, { rax: A, rcx: SHARED | 0x170000n }]);
    expect(results.map((r) => r.rax)).toEqual([TDX_STATUS.SUCCESS, TDX_STATUS.PAGE_ALREADY_ACCEPTED | 1n, TDX_STATUS.PAGE_SIZE_MISMATCH | 1n, TDX_STATUS.OPERAND_INVALID | 1n]);
    const dbg = tdxModuleOf(td.sys, td.vmFd)!;
    expect(dbg.module.septState(0x150)).toBe('MAPPED');
    expect(dbg.module.septState(0x160)).toBeUndefined();
  });

  it('TDG.VP.VMCALL: the exposed-register bitmap must leave RAX, RCX, RSP out', () => {
    const { results } = probe([{ ...vmcall(TDVMCALL.CPUID), rcx: EXPOSE | 1n }, { ...vmcall(TDVMCALL.CPUID), rcx: 1n << 16n }]);
    expect(results.map((r) => r.rax)).toEqual([TDX_STATUS.OPERAND_INVALID | 1n, TDX_STATUS.OPERAND_INVALID | 1n]);
  });

  it('TDG.VP.VMCALL status codes: INVALID_OPERAND, ALIGN_ERROR, SUBFUNC_UNSUPPORTED, KVM hypercalls', () => {
    const { results } = probe([
      vmcall(TDVMCALL.IO, { r12: 3n, r13: 1n, r14: 0x80n }), // size 3
      vmcall(TDVMCALL.IO, { r12: 1n, r13: 2n, r14: 0x80n }), // direction 2
      vmcall(TDVMCALL.MMIO, { r12: 4n, r13: 0n, r14: 0xc0000000n }), // private GPA
      vmcall(TDVMCALL.MMIO, { r12: 16n, r13: 0n, r14: SHARED | 0xc0000000n }), // size 16
      vmcall(TDVMCALL.MAP_GPA, { r12: SHARED | 0x100800n, r13: 0x1000n }), // unaligned
      vmcall(TDVMCALL.MAP_GPA, { r12: (SHARED - 0x1000n), r13: 0x2000n }), // private..shared
      vmcall(TDVMCALL.MAP_GPA, { r12: SHARED | 0x100000n, r13: 0n }), // empty
      vmcall(TDVMCALL.GET_QUOTE, { r12: 0x100000n, r13: 0x1000n }), // private buffer
      vmcall(TDVMCALL.SETUP_EVENT_NOTIFY_INTERRUPT, { r12: 5n }), // vector < 32
      vmcall(TDVMCALL.GET_TD_VM_CALL_INFO, { r12: 0n }),
      vmcall(TDVMCALL.GET_TD_VM_CALL_INFO, { r12: 2n }),
      vmcall(0x10005),
      vmcall(TDVMCALL.RDMSR, { r12: 0xc0000082n }), // LSTAR: not emulated by KVM for TDs
      vmcall(TDVMCALL.WRMSR, { r12: 0x1bn, r13: 0n }), // APIC_BASE is read-only
      { rax: 0n, rcx: EXPOSE, r10: 1n }, // KVM hypercall 1: ENOSYS
    ]);
    const r10 = results.map((r) => r.r10);
    expect(r10).toEqual([
      S.INVALID_OPERAND, S.INVALID_OPERAND, S.INVALID_OPERAND, S.INVALID_OPERAND,
      S.ALIGN_ERROR, S.INVALID_OPERAND, S.INVALID_OPERAND,
      S.INVALID_OPERAND, S.INVALID_OPERAND,
      S.SUCCESS, S.INVALID_OPERAND, S.SUBFUNC_UNSUPPORTED,
      S.INVALID_OPERAND, S.INVALID_OPERAND,
      BigInt.asUintN(64, -1000n),
    ]);
    expect(results.every((r) => r.rax === 0n)).toBe(true); // the TDCALL itself succeeded
    expect(results[4]!.r11).toBe(SHARED | 0x100800n); // MapGPA reports the failing GPA in R11
    expect(results[9]!.r11).toBe(0n);
  });

  it('MapGPA without KVM_CAP_EXIT_HYPERCALL(KVM_HC_MAP_GPA_RANGE) is SUBFUNC_UNSUPPORTED', () => {
    const { results } = probe([vmcall(TDVMCALL.MAP_GPA, { r12: SHARED | 0x100000n, r13: 0x1000n })], { exitHypercall: false });
    expect(results[0]).toMatchObject({ r10: S.SUBFUNC_UNSUPPORTED, r11: SHARED | 0x100000n });
  });

  it('MapGPA is split into 2 MiB exits; a failing chunk reports its GPA', () => {
    const seen: bigint[][] = [];
    const { results } = probe([vmcall(TDVMCALL.MAP_GPA, { r12: SHARED, r13: 0x500000n }), vmcall(TDVMCALL.MAP_GPA, { r12: SHARED, r13: 0x400000n })], {
      onExit: (e) => {
        if (e.reason !== 'hypercall') throw new Error(e.reason);
        seen.push([e.args[0]!, e.args[1]!, e.args[2]!]);
        e.setRet(seen.length === 5 ? 1n : 0n); // refuse the second chunk of the second call
      },
    });
    expect(seen).toEqual([
      [0n, 512n, 0n], [0x200000n, 512n, 0n], [0x400000n, 256n, 0n],
      [0n, 512n, 0n], [0x200000n, 512n, 0n],
    ]);
    expect(results[0]!.r10).toBe(S.SUCCESS);
    expect(results[1]).toMatchObject({ r10: S.INVALID_OPERAND, r11: SHARED | 0x200000n });
  });

  it('MapGPA of a private range asks for ENCRYPTED; RDMSR/WRMSR of KVM-emulated MSRs; userspace MSR exits', () => {
    const msrExits: string[] = [];
    const { results } = probe(
      [
        vmcall(TDVMCALL.MAP_GPA, { r12: 0x100000n, r13: 0x1000n }),
        vmcall(TDVMCALL.WRMSR, { r12: 0x277n, r13: 0x0007040600070406n }),
        vmcall(TDVMCALL.RDMSR, { r12: 0x277n }),
        vmcall(TDVMCALL.RDMSR, { r12: 0x12345n }),
      ],
      {
        onExit: (e, td) => {
          if (e.reason === 'hypercall') {
            expect(e.args[2]).toBe(0x10n); // KVM_MAP_GPA_RANGE_ENCRYPTED
            e.setRet(0n);
            td.vm.enableCap(KVM_CAP.X86_USER_SPACE_MSR, [2n]);
            return;
          }
          if (e.reason === 'x86_rdmsr') {
            msrExits.push(`rdmsr ${e.index.toString(16)} reason ${e.msrReason}`);
            e.reply({ data: 0xabcdn });
            return;
          }
          throw new Error(e.reason);
        },
      },
    );
    expect(results.map((r) => r.r10)).toEqual([S.SUCCESS, S.SUCCESS, S.SUCCESS, S.SUCCESS]);
    expect(results[2]!.r11).toBe(0x0007040600070406n);
    expect(msrExits).toEqual(['rdmsr 12345 reason 2']);
    expect(results[3]!.r11).toBe(0xabcdn);
  });
});
