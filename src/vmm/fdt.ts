/**
 * A flattened device tree (DTB) writer: the boot-time description of an arm64 machine that the VMM
 * hands Linux in x0 (Documentation/arch/arm64/booting.rst). The tree is plain data
 * (`FdtNode`); `encodeFdt` lays it out as the Devicetree Specification's format version 17 --
 * header, memory reservation block, structure block, strings block -- in the same order and with
 * the same string-table sharing as `dtc`, so a tree compiled by dtc from our own decompiled output
 * is byte-identical (the tests check this).
 * @module
 */

/** A property value: a string, a string list, 32-bit cells, raw bytes, or empty (a flag). */
export type FdtValue = string | readonly string[] | FdtCells | Uint8Array | null;

/** A list of 32-bit big-endian cells; 64-bit values are two cells (high first). */
export interface FdtCells {
  readonly cells: readonly number[];
}

/** A device tree node: its unit name ("" for the root, "uart@9000000"), properties, children. */
export interface FdtNode {
  readonly name: string;
  readonly props: readonly (readonly [string, FdtValue])[];
  readonly children?: readonly FdtNode[];
}

/** `<a b c>`: 32-bit cells. */
export const u32 = (...v: readonly number[]): FdtCells => ({ cells: v.map((x) => x >>> 0) });

/** 64-bit values as cell pairs (`<hi lo>` each): reg/ranges entries with #address-cells = 2. */
export const u64 = (...v: readonly (number | bigint)[]): FdtCells => ({
  cells: v.flatMap((x) => {
    const b = BigInt.asUintN(64, BigInt(x));
    return [Number(b >> 32n), Number(b & 0xffffffffn)];
  }),
});

const FDT_MAGIC = 0xd00dfeed;
const FDT_BEGIN_NODE = 1;
const FDT_END_NODE = 2;
const FDT_PROP = 3;
const FDT_END = 9;
const HEADER_SIZE = 40;

/** Options of the blob beyond the tree. */
export interface FdtOptions {
  /** /memreserve/ entries: [address, size]. */
  readonly memReserve?: readonly (readonly [number | bigint, number | bigint])[];
  /** The header's boot_cpuid_phys. */
  readonly bootCpuid?: number;
}

/** Growable big-endian byte writer. */
class Out {
  buf = new Uint8Array(4096);
  len = 0;
  private grow(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
  }
  u32(v: number): void {
    this.grow(4);
    new DataView(this.buf.buffer).setUint32(this.len, v >>> 0);
    this.len += 4;
  }
  bytes(b: Uint8Array): void {
    this.grow(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  align4(): void {
    const pad = (4 - (this.len % 4)) % 4;
    this.grow(pad);
    this.buf.fill(0, this.len, this.len + pad);
    this.len += pad;
  }
  done(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The bytes of a property value. */
export function fdtValueBytes(v: FdtValue): Uint8Array {
  if (v === null) return new Uint8Array(0);
  if (typeof v === 'string') return utf8(v + '\0');
  if (v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return utf8((v as readonly string[]).map((s) => s + '\0').join(''));
  const cells = (v as FdtCells).cells;
  const b = new Uint8Array(4 * cells.length);
  const dv = new DataView(b.buffer);
  cells.forEach((c, i) => dv.setUint32(4 * i, c >>> 0));
  return b;
}

/**
 * The strings block as dtc builds it: a name already present -- as a whole string or as the
 * tail of one -- is shared, else appended.
 */
class Strings {
  private text = '';
  offset(name: string): number {
    const want = name + '\0';
    const at = this.text.indexOf(want);
    // A match must start a string or be a tail of one: any position works, the NUL ends it.
    if (at >= 0) return at;
    const off = this.text.length;
    this.text += want;
    return off;
  }
  bytes(): Uint8Array {
    return utf8(this.text);
  }
}

/** Encodes a tree as a DTB (version 17, last compatible version 16). */
export function encodeFdt(root: FdtNode, opts: FdtOptions = {}): Uint8Array {
  if (root.name !== '') throw new Error('the root node has an empty name');
  const strings = new Strings();
  const st = new Out();
  const walk = (n: FdtNode): void => {
    if (/[\0/]/.test(n.name)) throw new Error(`bad node name ${JSON.stringify(n.name)}`);
    st.u32(FDT_BEGIN_NODE);
    st.bytes(utf8(n.name + '\0'));
    st.align4();
    const seen = new Set<string>();
    for (const [name, value] of n.props) {
      if (seen.has(name)) throw new Error(`duplicate property ${name} in node ${JSON.stringify(n.name)}`);
      seen.add(name);
      const b = fdtValueBytes(value);
      st.u32(FDT_PROP);
      st.u32(b.length);
      st.u32(strings.offset(name));
      st.bytes(b);
      st.align4();
    }
    const names = new Set<string>();
    for (const c of n.children ?? []) {
      if (names.has(c.name)) throw new Error(`duplicate node ${c.name}`);
      names.add(c.name);
      walk(c);
    }
    st.u32(FDT_END_NODE);
  };
  walk(root);
  st.u32(FDT_END);
  const struct = st.done();
  const strs = strings.bytes();

  const rsv = opts.memReserve ?? [];
  const rsvOff = HEADER_SIZE; // 40: already 8-aligned
  const rsvSize = 16 * (rsv.length + 1);
  const structOff = rsvOff + rsvSize;
  const stringsOff = structOff + struct.length;
  const total = stringsOff + strs.length;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  [FDT_MAGIC, total, structOff, stringsOff, rsvOff, 17, 16, opts.bootCpuid ?? 0, strs.length, struct.length].forEach((v, i) => dv.setUint32(4 * i, v));
  rsv.forEach(([a, s], i) => {
    dv.setBigUint64(rsvOff + 16 * i, BigInt(a));
    dv.setBigUint64(rsvOff + 16 * i + 8, BigInt(s));
  });
  out.set(struct, structOff);
  out.set(strs, stringsOff);
  return out;
}

/** A decoded DTB: the tree (values as raw bytes) and the reservations; for tests and tools. */
export interface DecodedFdt {
  readonly root: { name: string; props: [string, Uint8Array][]; children: DecodedFdt['root'][] };
  readonly memReserve: [bigint, bigint][];
  readonly bootCpuid: number;
}

/** Parses a DTB (checks the magic and version; throws on malformed input). */
export function decodeFdt(b: Uint8Array): DecodedFdt {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < HEADER_SIZE || dv.getUint32(0) !== FDT_MAGIC) throw new Error('not a flattened device tree');
  const [total, structOff, stringsOff, rsvOff, version] = [1, 2, 3, 4, 5].map((i) => dv.getUint32(4 * i));
  if (total! > b.length || version! < 16) throw new Error('truncated or unsupported device tree');
  const memReserve: [bigint, bigint][] = [];
  for (let o = rsvOff!; ; o += 16) {
    const a = dv.getBigUint64(o);
    const s = dv.getBigUint64(o + 8);
    if (a === 0n && s === 0n) break;
    memReserve.push([a, s]);
  }
  const cstr = (o: number): [string, number] => {
    let e = o;
    while (b[e] !== 0) e++;
    return [new TextDecoder().decode(b.subarray(o, e)), e + 1];
  };
  let p = structOff!;
  const tok = () => {
    const t = dv.getUint32(p);
    p += 4;
    return t;
  };
  const node = (): DecodedFdt['root'] => {
    const [name, e] = cstr(p);
    p = (e + 3) & ~3;
    const n: DecodedFdt['root'] = { name, props: [], children: [] };
    for (;;) {
      const t = tok();
      if (t === FDT_PROP) {
        const len = tok();
        const nameOff = tok();
        n.props.push([cstr(stringsOff! + nameOff)[0], b.slice(p, p + len)]);
        p = (p + len + 3) & ~3;
      } else if (t === FDT_BEGIN_NODE) n.children.push(node());
      else if (t === FDT_END_NODE) return n;
      else if (t !== 4 /* FDT_NOP */) throw new Error(`bad token ${t} at ${p - 4}`);
    }
  };
  if (tok() !== FDT_BEGIN_NODE) throw new Error('the structure block does not start with a node');
  const root = node();
  return { root, memReserve, bootCpuid: dv.getUint32(28) };
}
