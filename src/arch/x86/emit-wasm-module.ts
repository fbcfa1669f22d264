/**
 * The x86 wasm writer's module: many blocks (emit-wasm.ts `WasmX86Emitter` each) in one function
 * `run(block, lim)` with `br_table` dispatch, its imports and locals, as bytes.
 * @module
 */
import { mnemonic, type Insn } from './decoder.js';
import { selectBlock } from './jit.js';
import { get, I32, I64, localDecls, mem, name, O, section, uleb, Unsupported, VOID } from '../arm64/wasm-writer.js';
import { EXIT, f64c, Fn, gl, i32c, IMPORT_TYPES, L, REGS, set, X86_WASM } from './emit-wasm-base.js';
import { WasmX86Emitter } from './emit-wasm.js';
import { concat } from '../../kernel/bytes.js';

// ---- the module ----------------------------------------------------------------------------------

/** A block as the writer takes it: its decoded instructions (64-bit mode) and mode key. */
export interface WasmBlockSrc {
  readonly insns: readonly Insn[];
  readonly modeKey: number;
}

/** A compiled module of blocks and what the runtime needs to serve its imports. */
export interface X86WasmCode {
  readonly bytes: Uint8Array;
  readonly blocks: WasmBlockSrc[];
  /** Instructions by module-wide id (the imports' first argument). */
  readonly insns: Insn[];
  /** Blocks left out, with why (they keep their JS translations). */
  readonly rejected: { block: WasmBlockSrc; why: string }[];
  /** The control area's offset in the memory. */
  readonly ctl: number;
}

/** Instructions in one module at most. */
export const MODULE_INSNS = 512;

export const long64Of = (modeKey: number) => (modeKey & 1) !== 0;

/** The code of block `b` inside the module (throws Unsupported). */
export function genBlock(f: Fn, b: WasmBlockSrc, g0: number): number[][] {
  const insns = b.insns;
  const n = insns.length;
  const start = insns[0]!.addr;
  const e = new WasmX86Emitter(f, insns, g0);
  const out: number[] = [O.loop, VOID];
  e.selfLevel = f.depth;
  f.depth++;
  // The budget, except for the block the call entered at (it runs once, as a JS translation).
  out.push(...get(L.entry), O.i32eqz, ...get(L.n), ...i32c(n), O.i32add, ...get(L.lim), O.i32gts, O.i32and, O.if, VOID);
  f.depth++;
  out.push(...i32c(0), ...f64c(start), ...mem(O.f64store, 3, f.ctl + X86_WASM.exitRip), ...f.br(EXIT), O.end);
  f.depth--;
  out.push(...i32c(0), ...set(L.entry));
  selectBlock(e, insns, { long64: true, def32: (b.modeKey & 2) !== 0 });
  f.depth--;
  return [out, e.code, [O.end, O.unreachable]];
}


/**
 * Writes one module `run(block, lim) -> retired` for `blocks` (64-bit mode; the rest, and blocks
 * the writer does not cover, are listed in `rejected`), importing its memory as `m.mem` (shared,
 * `pages` 64 KiB pages) with the vCPU's control area at `ctl`. With `slotOf` (the engine) a
 * chained jump to another block goes there only when the block's stamp word is the current stamp
 * (validated in this KVM_RUN under this TLB generation), else it leaves to the run loop.
 */
export function buildX86Module(blocks: readonly WasmBlockSrc[], pages: number, ctl: number, slotOf?: (b: WasmBlockSrc) => number): X86WasmCode {
  const rejected: { block: WasmBlockSrc; why: string }[] = [];
  let cands = blocks.filter((b) => {
    if (long64Of(b.modeKey) && b.insns.length > 0) return true;
    rejected.push({ block: b, why: 'not 64-bit mode' });
    return false;
  });
  // Chaining is between blocks of one mode key: keep the most common one.
  const keys = new Map<number, number>();
  for (const b of cands) keys.set(b.modeKey, (keys.get(b.modeKey) ?? 0) + 1);
  const key = [...keys.entries()].sort((a, b) => b[1] - a[1])[0]?.[0];
  cands = cands.filter((b) => {
    if (b.modeKey === key) return true;
    rejected.push({ block: b, why: 'another mode key' });
    return false;
  });
  // A bound on the function V8 compiles (its optimizing compile grows faster than its size).
  let total = 0;
  cands = cands.filter((b) => {
    total += b.insns.length;
    if (total <= MODULE_INSNS) return true;
    rejected.push({ block: b, why: 'module full' });
    return false;
  });
  for (;;) {
    const index = new Map<number, number>();
    cands.forEach((b, i) => index.set(b.insns[0]!.addr, i));
    const sites = new Set<number>();
    for (const b of cands) for (const i of b.insns) if (isCall(i) && index.has(i.addr + i.len)) sites.add(i.addr + i.len);
    const f = new Fn(index, [...sites].sort((a, b) => a - b), ctl, slotOf === undefined ? null : cands.map(slotOf));
    const N = cands.length;
    const bodies: number[][][] = [];
    const ids: Insn[] = [];
    let bad = -1;
    for (let i = 0; i < N; i++) {
      f.depth = N + 1 - i;
      try {
        bodies.push(genBlock(f, cands[i]!, ids.length));
        ids.push(...cands[i]!.insns);
      } catch (err) {
        if (!(err instanceof Unsupported)) throw err;
        rejected.push({ block: cands[i]!, why: err.message });
        bad = i;
        break;
      }
    }
    if (bad >= 0) {
      cands = cands.filter((_, i) => i !== bad);
      continue;
    }
    const body: number[] = [];
    for (let r = 0; r < 16; r++) body.push(...i32c(0), ...mem(O.i64load, 3, ctl + REGS + 8 * r), ...set(gl(r)));
    body.push(...i32c(0), ...mem(O.i32load, 2, ctl + X86_WASM.user), ...set(L.u));
    body.push(...i32c(0), ...i32c(0), ...mem(O.i32store, 2, ctl + X86_WASM.status));
    body.push(...i32c(1), ...set(L.entry), ...get(L.block), ...set(L.next));
    body.push(O.block, VOID, O.loop, VOID);
    for (let i = 0; i < N; i++) body.push(O.block, VOID);
    body.push(...get(L.next), O.br_table);
    uleb(body, N);
    for (let i = 0; i < N; i++) uleb(body, i);
    uleb(body, N + 1);
    // The function's code as chunks: prologue and dispatch, the blocks, the epilogue.
    const chunks: number[][] = [body];
    for (let i = 0; i < N; i++) chunks.push([O.end], ...bodies[i]!);
    const epi: number[] = [O.end, O.end];
    // (Every way out stored the registers it wrote.)
    epi.push(...get(L.n), O.end);
    chunks.push(epi);
    // Locals: 16 i64 registers, n, u, next (i32), the address (i64), ps, st, entry (i32), then the temps.
    const fn = localDecls([[16, I64], [3, I32], [1, I64], [3, I32]], f.temps);
    let fnLen = fn.length;
    for (const c of chunks) fnLen += c.length;
    const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const types: number[] = [];
    uleb(types, IMPORT_TYPES.length + 1);
    for (const [, params, results] of IMPORT_TYPES) {
      types.push(0x60);
      uleb(types, params.length);
      types.push(...params);
      uleb(types, results.length);
      types.push(...results);
    }
    types.push(0x60, 2, I32, I32, 1, I32);
    section(out, 1, types);
    const imp: number[] = [];
    uleb(imp, IMPORT_TYPES.length + 1);
    IMPORT_TYPES.forEach(([nm], t) => {
      name(imp, 'm');
      name(imp, nm);
      imp.push(0x00, t);
    });
    name(imp, 'm');
    name(imp, 'mem');
    imp.push(0x02, 0x03);
    uleb(imp, pages);
    uleb(imp, pages);
    section(out, 2, imp);
    section(out, 3, [1, IMPORT_TYPES.length]);
    const exp: number[] = [1];
    name(exp, 'run');
    exp.push(0x00);
    uleb(exp, IMPORT_TYPES.length);
    section(out, 7, exp);
    // The code section: one function body of fnLen bytes.
    const head: number[] = [1];
    uleb(head, fnLen);
    out.push(10);
    uleb(out, head.length + fnLen);
    out.push(...head, ...fn);
    return { bytes: concat([out, ...chunks]), blocks: cands, insns: ids, rejected, ctl };
  }
}

/** CALL in 64-bit mode (its return address may be a return site of the module). */
export function isCall(i: Insn): boolean {
  return i.mn === CALL_MN && i.osz === 8;
}
export const CALL_MN = mnemonic('CALL');

