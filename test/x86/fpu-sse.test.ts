/**
 * SSE..SSE4.2 numerics against the host CPU: every operation of src/arch/x86/fpu/sse.ts runs on
 * random and edge-case lanes (zeros, denormals, infinities, QNaN/SNaN payloads, values near
 * overflow/underflow and the binary32 range ends) under random MXCSR values (each rounding mode,
 * DAZ, FTZ, masked and unmasked exceptions) on the real CPU (test/helpers/fpu-oracle.c:
 * `ldmxcsr; xmm0 = a; xmm1 = b; <insn>`) and in the model: the destination register, MXCSR,
 * the flags and the #XM fault (SIGFPE on the host) must agree bit for bit.
 * FPU_CASES=N sets the cases per operation (default 1500).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { R } from '../../src/arch/x86/fpu/f80.js';
import { crc32c, FOp, Fmt, lzcnt, popcnt32, Sse, tzcnt, XM } from '../../src/arch/x86/fpu/sse.js';
import { fpuOracle, hex, IN_SIZE, oracleSkipReason, OUT_SIZE, randF32, randF64, Rng } from '../helpers/fpu-oracle.js';

const CASES = Number(process.env.FPU_CASES ?? 1500);
const SEED = Number(process.env.FPU_SEED ?? 0x55e);

/** What the model produced besides XMM0/MXCSR. */
interface Out {
  fault?: boolean;
  gpr?: [number, number];
  flags?: number; // compared under `flagMask`
  flagMask?: number;
  ecx?: number;
  xmm1?: boolean; // compare xmm1 too (unused)
}

type Model = (s: Sse, rec: { a: DataView; b: DataView; imm: number; aux: number }) => Out | void;

const fault = (r: number): Out | void => (r === XM ? { fault: true } : undefined);
const X0 = 160;

const arith = (op: FOp, fmt: Fmt, packed: boolean): Model => (s) => fault(s.arith(op, fmt, packed, 0));
const MODELS: Record<string, Model> = {
  addss: arith(FOp.ADD, Fmt.F32, false),
  subss: arith(FOp.SUB, Fmt.F32, false),
  mulss: arith(FOp.MUL, Fmt.F32, false),
  divss: arith(FOp.DIV, Fmt.F32, false),
  sqrtss: arith(FOp.SQRT, Fmt.F32, false),
  minss: arith(FOp.MIN, Fmt.F32, false),
  maxss: arith(FOp.MAX, Fmt.F32, false),
  addsd: arith(FOp.ADD, Fmt.F64, false),
  subsd: arith(FOp.SUB, Fmt.F64, false),
  mulsd: arith(FOp.MUL, Fmt.F64, false),
  divsd: arith(FOp.DIV, Fmt.F64, false),
  sqrtsd: arith(FOp.SQRT, Fmt.F64, false),
  minsd: arith(FOp.MIN, Fmt.F64, false),
  maxsd: arith(FOp.MAX, Fmt.F64, false),
  addps: arith(FOp.ADD, Fmt.F32, true),
  mulps: arith(FOp.MUL, Fmt.F32, true),
  divps: arith(FOp.DIV, Fmt.F32, true),
  sqrtps: arith(FOp.SQRT, Fmt.F32, true),
  maxps: arith(FOp.MAX, Fmt.F32, true),
  subpd: arith(FOp.SUB, Fmt.F64, true),
  mulpd: arith(FOp.MUL, Fmt.F64, true),
  divpd: arith(FOp.DIV, Fmt.F64, true),
  sqrtpd: arith(FOp.SQRT, Fmt.F64, true),
  minpd: arith(FOp.MIN, Fmt.F64, true),
  addsubps: (s) => fault(s.addsub(Fmt.F32, 0)),
  addsubpd: (s) => fault(s.addsub(Fmt.F64, 0)),
  haddps: (s) => fault(s.hadd(Fmt.F32, false, 0)),
  hsubpd: (s) => fault(s.hadd(Fmt.F64, true, 0)),
  comiss: (s) => (s.comi(Fmt.F32, false, 0) === XM ? { fault: true } : { flags: s.eflags, flagMask: 0x8d5 }),
  ucomiss: (s) => (s.comi(Fmt.F32, true, 0) === XM ? { fault: true } : { flags: s.eflags, flagMask: 0x8d5 }),
  comisd: (s) => (s.comi(Fmt.F64, false, 0) === XM ? { fault: true } : { flags: s.eflags, flagMask: 0x8d5 }),
  ucomisd: (s) => (s.comi(Fmt.F64, true, 0) === XM ? { fault: true } : { flags: s.eflags, flagMask: 0x8d5 }),
  cvtss2sd: (s) => fault(s.cvtF32toF64(false, 0)),
  cvtsd2ss: (s) => fault(s.cvtF64toF32(false, 0)),
  cvtps2pd: (s) => fault(s.cvtF32toF64(true, 0)),
  cvtpd2ps: (s) => fault(s.cvtF64toF32(true, 0)),
  cvtdq2ps: (s) => fault(s.cvtI32toF(Fmt.F32, 0)),
  cvtdq2pd: (s) => fault(s.cvtI32toF(Fmt.F64, 0)),
  cvtps2dq: (s) => fault(s.cvtFtoI32(Fmt.F32, false, 0)),
  cvttps2dq: (s) => fault(s.cvtFtoI32(Fmt.F32, true, 0)),
  cvtpd2dq: (s) => fault(s.cvtFtoI32(Fmt.F64, false, 0)),
  cvttpd2dq: (s) => fault(s.cvtFtoI32(Fmt.F64, true, 0)),
  cvtsi2ss32: (s, r) => fault(s.cvtIntToScalar(Fmt.F32, r.a.getInt32(0, true), r.a.getInt32(0, true) >> 31, 0)),
  cvtsi2ss64: (s, r) => fault(s.cvtIntToScalar(Fmt.F32, r.a.getInt32(0, true), r.a.getInt32(4, true), 0)),
  cvtsi2sd32: (s, r) => fault(s.cvtIntToScalar(Fmt.F64, r.a.getInt32(0, true), r.a.getInt32(0, true) >> 31, 0)),
  cvtsi2sd64: (s, r) => fault(s.cvtIntToScalar(Fmt.F64, r.a.getInt32(0, true), r.a.getInt32(4, true), 0)),
  cvtss2si32: toInt(Fmt.F32, 32, false),
  cvtss2si64: toInt(Fmt.F32, 64, false),
  cvttss2si32: toInt(Fmt.F32, 32, true),
  cvttss2si64: toInt(Fmt.F32, 64, true),
  cvtsd2si32: toInt(Fmt.F64, 32, false),
  cvtsd2si64: toInt(Fmt.F64, 64, false),
  cvttsd2si32: toInt(Fmt.F64, 32, true),
  cvttsd2si64: toInt(Fmt.F64, 64, true),
  pmaddwd: (s) => s.pmaddwd(X0, 16),
  psadbw: (s) => s.psadbw(X0, 16),
  pmulhuw: (s) => s.pmulhw(X0, 16, false),
  pmulhw: (s) => s.pmulhw(X0, 16, true),
  pmuludq: (s) => s.pmuludq(X0, 16),
  pmulld: (s) => s.pmulld(X0, 16),
  pmaddubsw: (s) => s.pmaddubsw(X0, 16),
  pmulhrsw: (s) => s.pmulhrsw(X0, 16),
  packsswb: (s) => s.pack(X0, 16, true, false),
  packssdw: (s) => s.pack(X0, 16, false, false),
  packuswb: (s) => s.pack(X0, 16, true, true),
  packusdw: (s) => s.pack(X0, 16, false, true),
  pshufb: (s) => s.pshufb(X0, 16),
  paddsb: (s) => s.addSat(X0, 16, false, false, false),
  psubusw: (s) => s.addSat(X0, 16, true, true, true),
  pavgb: (s) => s.pavg(X0, 16, false),
  phaddsw: (s) => s.hint(X0, 16, false, false, true),
  pminsd: (s) => s.minmaxInt(X0, 16, 4, false, false),
  phminposuw: (s) => s.phminposuw(X0),
  pmovmskb: (s) => ({ gpr: [s.pmovmskb(16), 0] }),
  ptest: (s) => {
    s.ptest(X0);
    return { flags: s.eflags, flagMask: 0x8d5 };
  },
  crc32b: (_s, r) => ({ gpr: [crc32c(r.a.getInt32(0, true), r.b.getInt32(0, true), 0, 1), 0] }),
  crc32w: (_s, r) => ({ gpr: [crc32c(r.a.getInt32(0, true), r.b.getInt32(0, true), 0, 2), 0] }),
  crc32l: (_s, r) => ({ gpr: [crc32c(r.a.getInt32(0, true), r.b.getInt32(0, true), 0, 4), 0] }),
  crc32q: (_s, r) => ({ gpr: [crc32c(r.a.getInt32(0, true), r.b.getInt32(0, true), r.b.getInt32(4, true), 8), 0] }),
  popcnt64: (_s, r) => {
    const v = popcnt32(r.b.getInt32(0, true)) + popcnt32(r.b.getInt32(4, true));
    return { gpr: [v, 0], flags: v === 0 ? 0x40 : 0, flagMask: 0x8d5 };
  },
  lzcnt64: (_s, r) => {
    const lo = r.b.getInt32(0, true), hi = r.b.getInt32(4, true);
    const v = lzcnt(lo, hi, 64);
    return { gpr: [v, 0], flags: (v === 64 ? 1 : 0) | (v === 0 ? 0x40 : 0), flagMask: 0x41 };
  },
  tzcnt64: (_s, r) => {
    const lo = r.b.getInt32(0, true), hi = r.b.getInt32(4, true);
    const v = tzcnt(lo, hi, 64);
    return { gpr: [v, 0], flags: (v === 64 ? 1 : 0) | (v === 0 ? 0x40 : 0), flagMask: 0x41 };
  },
  popcnt16: (_s, r) => {
    const v = popcnt32(r.b.getInt32(0, true) & 0xffff);
    return { gpr: [(r.a.getInt32(0, true) & ~0xffff) | v, r.a.getInt32(4, true)], flags: v === 0 ? 0x40 : 0, flagMask: 0x8d5 };
  },
  lzcnt32: (_s, r) => {
    const v = lzcnt(r.b.getInt32(0, true), 0, 32);
    return { gpr: [v, 0], flags: (v === 32 ? 1 : 0) | (v === 0 ? 0x40 : 0), flagMask: 0x41 };
  },
  tzcnt16: (_s, r) => {
    const v = tzcnt(r.b.getInt32(0, true), 0, 16);
    return { gpr: [(r.a.getInt32(0, true) & ~0xffff) | v, r.a.getInt32(4, true)], flags: (v === 16 ? 1 : 0) | (v === 0 ? 0x40 : 0), flagMask: 0x41 };
  },
  cmpss: (s, r) => fault(s.cmp(r.imm & 7, Fmt.F32, false, 0)),
  cmpsd: (s, r) => fault(s.cmp(r.imm & 7, Fmt.F64, false, 0)),
  cmpps: (s, r) => fault(s.cmp(r.imm & 7, Fmt.F32, true, 0)),
  cmppd: (s, r) => fault(s.cmp(r.imm & 7, Fmt.F64, true, 0)),
  vcmpss: (s, r) => fault(s.cmp(r.imm & 31, Fmt.F32, false, 0)),
  vcmppd: (s, r) => fault(s.cmp(r.imm & 31, Fmt.F64, true, 0)),
  roundss: (s, r) => fault(s.roundTo(Fmt.F32, false, r.imm & 15, 0)),
  roundsd: (s, r) => fault(s.roundTo(Fmt.F64, false, r.imm & 15, 0)),
  roundps: (s, r) => fault(s.roundTo(Fmt.F32, true, r.imm & 15, 0)),
  roundpd: (s, r) => fault(s.roundTo(Fmt.F64, true, r.imm & 15, 0)),
  mpsadbw: (s, r) => s.mpsadbw(X0, r.imm & 7),
  dpps: (s, r) => fault(s.dp(Fmt.F32, r.imm & 255, 0)),
  dppd: (s, r) => fault(s.dp(Fmt.F64, r.imm & 255, 0)),
  pcmpestri: (s, r) => strOut(s, r, true, false),
  pcmpestrm: (s, r) => strOut(s, r, true, true),
  pcmpistri: (s, r) => strOut(s, r, false, false),
  pcmpistrm: (s, r) => strOut(s, r, false, true),
};

function toInt(fmt: Fmt, bits: 32 | 64, trunc: boolean): Model {
  return (s) => {
    if (s.cvtScalarToInt(fmt, bits, trunc) === XM) return { fault: true };
    return { gpr: [R[0]!, bits === 32 ? 0 : R[1]!] };
  };
}

function strOut(s: Sse, r: { aux: number; imm: number }, explicit: boolean, mask: boolean): Out {
  const la = (r.aux << 24) >> 24, lb = (r.aux << 16) >> 24;
  const idx = s.pcmpstr(X0, r.imm & 255, la, lb, !explicit, mask);
  const o: Out = { flags: s.eflags, flagMask: 0x8d5 };
  if (!mask) o.ecx = idx;
  return o;
}

/** The lane type of an operation's source operands. */
function laneType(op: string): 'f32' | 'f64' | 'int' | 'gpr' {
  if (/^cvtsi2/.test(op)) return 'gpr';
  if (/^(p|crc|popcnt|lzcnt|tzcnt|mpsadbw|cvtdq2)/.test(op)) return 'int';
  if (/^cvtt?(ss|ps)2/.test(op)) return 'f32';
  if (/^cvtt?(sd|pd)2/.test(op)) return 'f64';
  return /(sd|pd)$/.test(op) ? 'f64' : 'f32';
}

function fillOperand(op: string, r: Rng, v: DataView, a: DataView | null): void {
  const t = laneType(op);
  if (t === 'int') {
    for (let k = 0; k < 16; k++) v.setUint8(k, r.bit(0.3) ? r.pick([0, 1, 0x7f, 0x80, 0xff, 0x41, 0x61]) : r.int(256));
    if (op.startsWith('pcmpi') && r.bit(0.6)) v.setUint8(r.int(16), 0);
    if (a && r.bit(0.3)) for (let k = 0; k < 16; k++) if (r.bit(0.5)) v.setUint8(k, a.getUint8(k));
    if (/cnt/.test(op) && r.bit(0.2)) {
      v.setUint32(0, 0, true);
      if (r.bit()) v.setUint32(4, 0, true);
    }
    return;
  }
  if (t === 'gpr') {
    const pick = [0, 1, -1, 0x7fffffff, -0x80000000, 0x1000001, 0x7fffffc0];
    v.setInt32(0, r.bit(0.3) ? r.pick(pick) : r.u32(), true);
    v.setInt32(4, r.bit(0.3) ? r.pick([0, -1, 0x7fffffff, -0x80000000]) : r.bit(0.3) ? r.int(0x400000) : r.u32(), true);
    return;
  }
  const use64 = t === 'f64';
  // Products/quotients at the tininess boundary: (1 -/+ a few ulps) against the smallest normal
  // (+ a few ulps), in either order, for a lane of a multiply or divide.
  const boundary = a !== null && /^(mul|div|dp)/.test(op) && r.bit(0.15);
  if (use64) {
    for (let k = 0; k < 2; k++) {
      let [lo, hi] = randF64(r);
      if (boundary && r.bit(0.5)) {
        // One operand next to 1, the other next to the smallest normal (the dividend for DIV).
        const one = (r.bit() ? 0x80000000 : 0) | (r.bit() ? 0x3fefffff : 0x3ff00000);
        const oneLo = one & 0x100000 ? r.int(4) : (0xffffffff - r.int(4)) >>> 0;
        const tiny = (r.bit() ? 0x80000000 : 0) | 0x00100000;
        const tinyFirst = op.startsWith('div') || r.bit();
        a!.setUint32(8 * k, tinyFirst ? r.int(4) : oneLo, true);
        a!.setUint32(8 * k + 4, (tinyFirst ? tiny : one) >>> 0, true);
        v.setUint32(8 * k, tinyFirst ? oneLo : r.int(4), true);
        v.setUint32(8 * k + 4, (tinyFirst ? one : tiny) >>> 0, true);
        continue;
      }
      if (a && r.bit(0.25)) {
        lo = (a.getUint32(8 * k, true) + r.int(5) - 2) >>> 0;
        hi = (a.getUint32(8 * k + 4, true) ^ (r.bit() ? 0x80000000 : 0)) >>> 0;
      }
      if (/2si|2dq/.test(op) && r.bit(0.5)) {
        // Values near the integer ranges.
        const e = 1023 + r.int(66);
        hi = ((r.bit() ? 0x80000000 : 0) | (e << 20) | (r.u32() & 0xfffff)) >>> 0;
      }
      v.setUint32(8 * k, lo, true);
      v.setUint32(8 * k + 4, hi, true);
    }
  } else {
    for (let k = 0; k < 4; k++) {
      let x = randF32(r);
      if (boundary && r.bit(0.5)) {
        const one = (r.bit() ? 0x80000000 : 0) | (r.bit() ? 0x3f7ffffc + r.int(4) : 0x3f800000 + r.int(4));
        const tiny = (r.bit() ? 0x80000000 : 0) | (0x00800000 + r.int(4));
        const tinyFirst = op.startsWith('div') || r.bit();
        a!.setUint32(4 * k, (tinyFirst ? tiny : one) >>> 0, true);
        v.setUint32(4 * k, (tinyFirst ? one : tiny) >>> 0, true);
        continue;
      }
      if (a && r.bit(0.25)) x = ((a.getUint32(4 * k, true) + r.int(5) - 2) ^ (r.bit() ? 0x80000000 : 0)) >>> 0;
      if (/2si|2dq/.test(op) && r.bit(0.5)) x = ((r.bit() ? 0x80000000 : 0) | ((127 + r.int(66)) << 23) | (r.u32() & 0x7fffff)) >>> 0;
      v.setUint32(4 * k, x, true);
    }
  }
}

function randMxcsr(r: Rng): number {
  const masks = r.bit(0.7) ? 0x1f80 : (r.u32() & 0x3f) << 7;
  return masks | (r.int(4) << 13) | (r.bit(0.15) ? 0x8000 : 0) | (r.bit(0.15) ? 0x40 : 0);
}

const oracle = fpuOracle();

describe.skipIf(!oracle)(`SSE numerics vs the host CPU${oracle ? '' : ` (skipped: ${oracleSkipReason})`}`, () => {
  const names = Object.keys(MODELS);
  const results = new Map<string, string[]>();
  const skipped = new Set<string>();

  beforeAll(() => {
    const o = oracle!;
    const rng = new Rng(SEED);
    const fx = new Uint8Array(512);
    const s = new Sse(fx);
    const fdv = new DataView(fx.buffer);
    // Records of consecutive operations share one oracle run of at most BATCH records (bounded
    // memory for long runs, few process spawns for short ones).
    const BATCH = 150000;
    const jobs: { op: string; count: number }[] = [];
    for (const op of names) for (let done = 0; done < CASES; done += BATCH) jobs.push({ op, count: Math.min(BATCH, CASES - done) });
    for (let j0 = 0; j0 < jobs.length; ) {
      let j1 = j0, total = 0;
      while (j1 < jobs.length && (j1 === j0 || total + jobs[j1]!.count <= BATCH)) total += jobs[j1++]!.count;
      const input = new Uint8Array(total * IN_SIZE);
      const idv = new DataView(input.buffer);
      let first = 0;
      for (let j = j0; j < j1; j++) {
        const { op, count } = jobs[j]!;
        const id = o.ops.get(op);
        if (id === undefined) throw new Error(`oracle lacks ${op}`);
        for (let n = first; n < first + count; n++) {
          const base = n * IN_SIZE;
          idv.setUint32(base, id, true);
          idv.setUint32(base + 4, randMxcsr(rng), true);
          idv.setUint32(base + 8, rng.u32(), true);
          idv.setUint32(base + 12, rng.bit(0.5) ? rng.u32() : rng.int(18) | (rng.int(18) << 8), true);
          const a = new DataView(input.buffer, base + 16, 16);
          fillOperand(op, rng, a, null);
          fillOperand(op, rng, new DataView(input.buffer, base + 32, 16), a);
          fillOperand(op, rng, new DataView(input.buffer, base + 48, 16), null);
        }
        first += count;
      }
      const out = o.run(input);
      first = 0;
      for (let j = j0; j < j1; j++) {
        const { op, count } = jobs[j]!;
        if (!results.has(op)) results.set(op, []);
        const bad = results.get(op)!;
        for (let n = first; n < first + count; n++) {
          const base = n * IN_SIZE;
          const host = out.subarray(n * OUT_SIZE, (n + 1) * OUT_SIZE);
          const hv = new DataView(host.buffer, host.byteOffset, OUT_SIZE);
          if (hv.getUint32(24, true) === 4) {
            skipped.add(op); // SIGILL: this CPU lacks the instruction
            continue;
          }
          const mx = idv.getUint32(base + 4, true);
          fx.fill(0);
          fdv.setUint32(24, mx, true);
          fx.set(input.subarray(base + 16, base + 32), 160);
          fx.set(input.subarray(base + 32, base + 48), 176);
          fx.set(input.subarray(base + 48, base + 64), 192);
          s.srcReg(1);
          const rec = { a: new DataView(input.buffer, base + 16, 16), b: new DataView(input.buffer, base + 32, 16), imm: idv.getUint32(base + 8, true), aux: idv.getUint32(base + 12, true) };
          const res = (MODELS[op]!(s, rec) ?? {}) as Out;
          const diff = compare(res, fx, s, hv, host);
          if (diff && bad.length < 8) {
            bad.push(`mxcsr=${mx.toString(16)} imm=${rec.imm & 255} aux=${rec.aux.toString(16)} a=${hex(input.subarray(base + 16, base + 32))} b=${hex(input.subarray(base + 32, base + 48))}: ${diff}`);
          }
        }
        first += count;
      }
      j0 = j1;
    }
  }, 600_000);

  for (const op of names) {
    it(op, () => {
      if (skipped.has(op)) return;
      expect(results.get(op)).toEqual([]);
    });
  }
});

function compare(res: Out, fx: Uint8Array, s: Sse, hv: DataView, host: Uint8Array): string {
  const hostFault = hv.getUint32(24, true) === 8;
  const hmx = hv.getUint32(16, true);
  if (hostFault !== !!res.fault) return `fault host ${hostFault} model ${!!res.fault} (mxcsr host ${hmx.toString(16)} model ${s.mxcsr.toString(16)}; xmm0 host ${hex(host.subarray(0, 16))} model ${hex(fx.subarray(160, 176))})`;
  if (hmx !== s.mxcsr >>> 0) return `mxcsr host ${hmx.toString(16)} model ${(s.mxcsr >>> 0).toString(16)} (xmm0 host ${hex(host.subarray(0, 16))} model ${hex(fx.subarray(160, 176))})`;
  if (hostFault) return '';
  for (let k = 0; k < 16; k++) if (host[k] !== fx[160 + k]) return `xmm0 host ${hex(host.subarray(0, 16))} model ${hex(fx.subarray(160, 176))}`;
  if (res.gpr) {
    const lo = hv.getInt32(32, true), hi = hv.getInt32(36, true);
    if (lo !== (res.gpr[0] | 0) || hi !== (res.gpr[1] | 0)) return `gpr host ${hi.toString(16)}:${lo.toString(16)} model ${(res.gpr[1] | 0).toString(16)}:${(res.gpr[0] | 0).toString(16)}`;
  }
  if (res.flags !== undefined) {
    const m = res.flagMask ?? 0x8d5;
    const h = hv.getUint32(20, true) & m;
    if (h !== (res.flags & m)) return `rflags host ${h.toString(16)} model ${(res.flags & m).toString(16)}`;
  }
  if (res.ecx !== undefined) {
    const h = hv.getInt32(56, true);
    if (h !== res.ecx) return `ecx host ${h} model ${res.ecx}`;
  }
  return '';
}
