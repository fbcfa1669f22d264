/**
 * `npm run bench:fpu`: throughput of the x87/SSE numerics of src/arch/x86/fpu (millions of
 * operations per second, median of repeats), next to the JS double operation they emulate.
 * Operands cycle through a table of values (normal, and for the "slow" rows denormal or directed
 * rounding cases) so nothing constant-folds. Prints a table; `--out FILE` also writes JSON.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { addX, divX, mulX, R, sqrtX, toF64X, fromF64X } from '../src/arch/x86/fpu/f80.js';
import { crc32c, FOp, Fmt, opD, opS, Sse } from '../src/arch/x86/fpu/sse.js';
import { fsinX } from '../src/arch/x86/fpu/trans.js';
import { Op, X87 } from '../src/arch/x86/fpu/x87.js';

const argv = process.argv.slice(2);
const outIdx = argv.indexOf('--out');
const SECONDS = Number(argv[argv.indexOf('--seconds') + 1] ?? 0.3) || 0.3;

interface Row {
  name: string;
  mops: number;
}
const rows: Row[] = [];

/** Runs body(i) in batches for about SECONDS, three times; records the median Mops/s. */
function bench(name: string, body: (i: number) => number): void {
  let sink = 0;
  const samples: number[] = [];
  for (let rep = 0; rep < 3; rep++) {
    let n = 0;
    const t0 = process.hrtime.bigint();
    let t = 0;
    do {
      for (let i = 0; i < 4096; i++) sink += body(i & 255);
      n += 4096;
      t = Number(process.hrtime.bigint() - t0) / 1e9;
    } while (t < SECONDS);
    samples.push(n / t / 1e6);
  }
  samples.sort((a, b) => a - b);
  rows.push({ name, mops: samples[1]! });
  if (sink === 0.5) console.log('');
}

// Operand tables: 256 normal doubles in [1, 2^20) with random signs, as bits and as f80.
const D = new Float64Array(256), DI = new Int32Array(D.buffer);
const X = new Int32Array(256 * 3);
const DEN = new Int32Array(512); // denormal doubles
let seed = 12345;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) | 0) >>> 0) / 4294967296;
for (let i = 0; i < 256; i++) {
  D[i] = (rnd() * 2 ** 20 + 1) * (rnd() < 0.5 ? -1 : 1);
  fromF64X(DI[2 * i + 1]!, DI[2 * i]!, 0x37f);
  X[3 * i] = R[2]!;
  X[3 * i + 1] = R[1]!;
  X[3 * i + 2] = R[0]!;
  DEN[2 * i] = (rnd() * 4294967296) | 0;
  DEN[2 * i + 1] = (rnd() * 0xfffff) | 0;
}
const F = new Float32Array(256), FI = new Int32Array(F.buffer);
for (let i = 0; i < 256; i++) F[i] = D[i]! / 1024;

const MX = 0x1f80, MX_UP = 0x1f80 | (2 << 13);
const CW = 0x37f;

// The harness alone, and the JS double operations emulated (bodies return small ints so no
// result is boxed).
bench('(harness: call of an empty body)', (i) => i);
bench('JS double a + b (reference)', (i) => (D[i]! + D[(i + 1) & 255]! < 0 ? 1 : 0));
bench('JS double a / b (reference)', (i) => (D[i]! / D[(i + 1) & 255]! < 0 ? 1 : 0));

// f80 core.
const xa = (i: number) => 3 * i;
bench('f80 add (FADD core)', (i) => {
  const a = xa(i), b = xa((i + 7) & 255);
  return addX(X[a]!, X[a + 1]!, X[a + 2]!, X[b]!, X[b + 1]!, X[b + 2]!, CW, false);
});
bench('f80 mul (FMUL core)', (i) => {
  const a = xa(i), b = xa((i + 7) & 255);
  return mulX(X[a]!, X[a + 1]!, X[a + 2]!, X[b]!, X[b + 1]!, X[b + 2]!, CW);
});
bench('f80 div (FDIV core)', (i) => {
  const a = xa(i), b = xa((i + 7) & 255);
  return divX(X[a]!, X[a + 1]!, X[a + 2]!, X[b]!, X[b + 1]!, X[b + 2]!, CW);
});
bench('f80 sqrt (FSQRT core)', (i) => {
  const a = xa(i);
  return sqrtX(X[a]! & 0x7fff, X[a + 1]!, X[a + 2]!, CW);
});
bench('f80 -> f64 store (FST m64 core)', (i) => {
  const a = xa(i);
  return toF64X(X[a]!, X[a + 1]!, X[a + 2]!, CW);
});
bench('f80 fsin (|x| < 2^20)', (i) => {
  const a = xa(i);
  return fsinX(X[a]!, X[a + 1]!, X[a + 2]!, CW);
});

// x87 instruction level: FLD m64; FADD m64... as the handlers will drive it.
const fx = new Uint8Array(512);
const x87 = new X87(fx);
x87.finit();
bench('x87 FLD m64 + FMUL m64 + FSTP m64', (i) => {
  x87.fldF64(DI[2 * i]!, DI[2 * i + 1]!);
  const j = (i + 3) & 255;
  x87.arithMem(Op.MUL, 1, DI[2 * j]!, DI[2 * j + 1]!);
  x87.fstF64(true);
  return R[0]!;
});
bench('x87 FADD ST(0), ST(1) (two pushes, pops)', (i) => {
  x87.fldF64(DI[2 * i]!, DI[2 * i + 1]!);
  x87.fldF64(DI[2 * ((i + 1) & 255)]!, DI[2 * ((i + 1) & 255) + 1]!);
  x87.arith(Op.ADD, 1, 0, true);
  x87.pop();
  return 0;
});

// SSE scalar.
const d0 = (i: number) => DI[2 * i]!, d1 = (i: number) => DI[2 * i + 1]!;
bench('SSE addsd (fast path)', (i) => opD(FOp.ADD, d0(i), d1(i), d0((i + 5) & 255), d1((i + 5) & 255), MX));
bench('SSE mulsd (fast path)', (i) => opD(FOp.MUL, d0(i), d1(i), d0((i + 5) & 255), d1((i + 5) & 255), MX));
bench('SSE divsd (fast path)', (i) => opD(FOp.DIV, d0(i), d1(i), d0((i + 5) & 255), d1((i + 5) & 255), MX));
bench('SSE sqrtsd (fast path)', (i) => opD(FOp.SQRT, 0, 0, d0(i), d1(i) & 0x7fffffff, MX));
bench('SSE addsd RC=up (fast path)', (i) => opD(FOp.ADD, d0(i), d1(i), d0((i + 5) & 255), d1((i + 5) & 255), MX_UP));
bench('SSE addsd denormal operand (slow path)', (i) => opD(FOp.ADD, DEN[2 * i]!, DEN[2 * i + 1]!, d0((i + 5) & 255), d1((i + 5) & 255), MX));
bench('SSE mulss (fast path)', (i) => opS(FOp.MUL, FI[i]!, FI[(i + 3) & 255]!, MX));
bench('SSE divss (fast path)', (i) => opS(FOp.DIV, FI[i]!, FI[(i + 3) & 255]!, MX));

// SSE packed / integer on the register file.
const sx = new Uint8Array(512);
const sse = new Sse(sx);
sse.mxcsr = MX;
for (let k = 0; k < 4; k++) sx.set(new Uint8Array(F.buffer, 16 * k, 16), 160 + 16 * k);
bench('SSE mulps xmm0, xmm1 (4 lanes)', (i) => {
  sse.srcReg(1 + (i & 1));
  return sse.arith(FOp.MUL, Fmt.F32, true, 0) + (sse.mxcsr = MX);
});
bench('SSE addpd xmm0, xmm1 (2 lanes)', (i) => {
  sse.srcReg(1 + (i & 1));
  return sse.arith(FOp.ADD, Fmt.F64, true, 3);
});
for (let k = 0; k < 16; k++) sx[176 + k] = 0x61 + (k % 7);
bench('SSE pcmpistri (equal any, bytes)', (i) => {
  sse.srcMem(0x64636261, 0x68676665 ^ i, 0x6c6b6a69, 0x006f6e6d);
  return sse.pcmpstr(176, 0x00, 0, 0, true, false);
});
bench('SSE pshufb xmm0, xmm1', (i) => {
  sse.srcMem(0x03020100 ^ i, 0x07060504, 0x0b0a0908, 0x0f0e0d0c);
  sse.pshufb(160, 16);
  return 0;
});
bench('crc32q', (i) => crc32c(i, DI[2 * i]!, DI[2 * i + 1]!, 8));

// ---- report -----------------------------------------------------------------------------------
const w = Math.max(...rows.map((r) => r.name.length));
console.log(`load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} on ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'})`);
console.log(`${'operation'.padEnd(w)}  Mops/s   ns/op`);
for (const r of rows) console.log(`${r.name.padEnd(w)}  ${r.mops.toFixed(1).padStart(6)}  ${(1000 / r.mops).toFixed(1).padStart(6)}`);
if (outIdx >= 0) writeFileSync(argv[outIdx + 1]!, JSON.stringify({ date: new Date().toISOString(), rows }, null, 2) + '\n');
