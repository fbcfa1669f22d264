/**
 * Declarative C layout engine.
 *
 * Every uapi struct is declared once, as data: field names and C types in declaration order. Offsets
 * and sizes are computed here with the C rules of the LP64 ABIs KVM runs on (x86-64 and arm64:
 * natural alignment, `__u64` aligned to 8, `__uint128_t` to 16). From one declaration come the
 * encoders/decoders, zero-copy views, ioctl sizes and the generated gcc `_Static_assert` checks,
 * so an offset is never written twice — and the checks prove the computation against gcc.
 *
 * Values: 8/16/32-bit fields are numbers, 64/128-bit fields are bigints (inputs also accept
 * numbers), byte arrays (`__u8`/`char`) are Uint8Arrays. Little-endian, as on every KVM host
 * this library targets.
 * @module
 */

/** A C scalar type. `V` is its JS value type. */
export interface Scalar<V extends number | bigint = number | bigint> {
  readonly kind: 'scalar';
  /** C spelling, used in generated checks and documentation. */
  readonly c: string;
  readonly size: number;
  readonly align: number;
  readonly signed: boolean;
  /** Phantom marker for the value type. */
  readonly __v?: V;
}

/** A fixed-size C array (`count` elements), or a flexible array member (`flex`, count 0). */
export interface Arr<E extends CType = CType> {
  readonly kind: 'array';
  readonly elem: E;
  readonly count: number;
  readonly flex: boolean;
  /** For a flexible array: the sibling member holding its element count (e.g. `nmsrs`). */
  readonly countField?: string;
  /**
   * For a flexible array: the largest count the kernel accepts. A larger one is refused before
   * any element is read, so no element counts towards the struct's extent.
   */
  readonly maxCount?: number;
  readonly size: number;
  readonly align: number;
}

/** Field map of an aggregate. Keys starting with `$` are anonymous members (C11 anonymous struct/union). */
export type Fields = { readonly [name: string]: CType };

/** A C struct or union. */
export interface Agg<F extends Fields = Fields> {
  readonly kind: 'struct' | 'union';
  /** C tag (`struct <tag>`), absent for anonymous aggregates. */
  readonly tag?: string;
  readonly fields: F;
  readonly members: readonly Member[];
  readonly size: number;
  readonly align: number;
  readonly packed: boolean;
  /** The whole struct is absent from the 6.1 system headers; the project's include/ declares it. */
  readonly ext: boolean;
}

export type CType = Scalar | Arr | Agg;

/** One laid-out member of an aggregate. */
export interface Member {
  /** Field name; null for an anonymous member whose own members are hoisted. */
  readonly name: string | null;
  readonly type: CType;
  readonly offset: number;
  /**
   * Set when the member is absent from the 6.1 uapi headers this project's CI machine ships, so
   * the gcc check takes it from the project's own include/ headers instead (see {@link ext}).
   */
  readonly ext?: ExtInfo;
}

/** How a member newer than the system headers is reached from C (see include/vkvm/kvm.h). */
export interface ExtInfo {
  /**
   * C struct in include/ that describes this member's payload, e.g. `kvm_run_memory_fault`.
   * Absent for a scalar that only widens an old member (then only the anchor offset is checked).
   */
  readonly cStruct?: string;
  /** A member path the system headers do have at the same offset (e.g. the union's `padding`). */
  readonly anchor: string;
}

// ---------------------------------------------------------------------------------------------
// Scalars

function scalar<V extends number | bigint>(c: string, size: number, signed: boolean, align = size): Scalar<V> {
  return Object.freeze({ kind: 'scalar', c, size, align, signed }) as Scalar<V>;
}

/** A one-byte scalar: arrays of these are Uint8Arrays in JS. */
export type ByteScalar = Scalar<number> & { readonly byte: true };

const byteScalar = (c: string, signed: boolean): ByteScalar => Object.freeze({ ...scalar<number>(c, 1, signed), byte: true as const });
export const u8 = byteScalar('__u8', false);
export const s8 = byteScalar('__s8', true);
export const char = byteScalar('char', true);
export const u16 = scalar<number>('__u16', 2, false);
export const s16 = scalar<number>('__s16', 2, true);
export const u32 = scalar<number>('__u32', 4, false);
export const s32 = scalar<number>('__s32', 4, true);
export const u64 = scalar<bigint>('__u64', 8, false);
export const s64 = scalar<bigint>('__s64', 8, true);
/** `__uint128_t` (arm64 FP/SIMD V registers). */
export const u128 = scalar<bigint>('__uint128_t', 16, false);
/** A user pointer (`void *`): 8 bytes on LP64, carried as a bigint hva. */
export const ptr = scalar<bigint>('void *', 8, false);
/** `unsigned long` on LP64. */
export const ulong = scalar<bigint>('unsigned long', 8, false);

// ---------------------------------------------------------------------------------------------
// Aggregates

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** `elem name[count]`. */
export function array<E extends CType>(elem: E, count: number): Arr<E> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`array count must be >= 1, got ${count}`);
  return Object.freeze({ kind: 'array', elem, count, flex: false, size: elem.size * count, align: elem.align }) as Arr<E>;
}

/**
 * `elem name[]`: a flexible array member; contributes no size. `countField` names the sibling that
 * holds the element count, so the real extent of a buffer can be computed (see `Struct.extent`).
 */
export function flex<E extends CType>(elem: E, countField?: string, maxCount?: number): Arr<E> {
  return Object.freeze({ kind: 'array', elem, count: 0, flex: true, size: 0, align: elem.align, ...(countField ? { countField } : {}), ...(maxCount !== undefined ? { maxCount } : {}) }) as Arr<E>;
}

const extMarks = new WeakMap<CType, ExtInfo>();

/**
 * Marks a member as newer than the 6.1 system headers. The returned type is a copy that carries
 * the mark, so the same base type can be used unmarked elsewhere.
 */
export function ext<T extends CType>(type: T, info: ExtInfo): T {
  const copy = Object.freeze({ ...type }) as unknown as T;
  extMarks.set(copy, info);
  return copy;
}

interface AggOptions {
  packed?: boolean;
  /** Absent from the 6.1 system headers (declared in include/). */
  ext?: boolean;
  /** Check the computed size against the expected one at declaration time. */
  size?: number;
}

function aggregate<F extends Fields>(kind: 'struct' | 'union', tag: string | undefined, fields: F, opts: AggOptions): Agg<F> {
  const members: Member[] = [];
  let off = 0;
  let size = 0;
  let align = 1;
  const packed = opts.packed ?? false;
  const keys = Object.keys(fields);
  keys.forEach((key, i) => {
    const type = fields[key]!;
    if (type.kind === 'array' && type.flex && (kind !== 'struct' || i !== keys.length - 1)) {
      throw new Error(`${tag ?? 'anonymous'}: flexible array ${key} must be the last struct member`);
    }
    const a = packed ? 1 : type.align;
    const offset = kind === 'struct' ? alignUp(off, a) : 0;
    const mark = extMarks.get(type);
    members.push(Object.freeze({ name: key.startsWith('$') ? null : key, type, offset, ...(mark ? { ext: mark } : {}) }));
    off = offset + type.size;
    size = Math.max(size, off);
    align = Math.max(align, a);
  });
  size = alignUp(size, align);
  if (opts.size !== undefined && opts.size !== size) {
    throw new Error(`${tag ?? 'anonymous'}: computed size ${size} != declared ${opts.size}`);
  }
  return Object.freeze({ kind, tag, fields, members: Object.freeze(members), size, align, packed, ext: opts.ext ?? false }) as Agg<F>;
}

/** `struct <tag> { ... }`. Pass `null` as tag for an anonymous struct. */
export function struct<F extends Fields>(tag: string | null, fields: F, opts: AggOptions = {}): Struct<F> {
  return withCodec(aggregate('struct', tag ?? undefined, fields, opts));
}

/** `union <tag> { ... }`. Pass `null` as tag for an anonymous union. */
export function union<F extends Fields>(tag: string | null, fields: F, opts: AggOptions = {}): Struct<F> {
  return withCodec(aggregate('union', tag ?? undefined, fields, opts));
}

// ---------------------------------------------------------------------------------------------
// Value types

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** JS value of a C type, as produced by `decode`. */
export type Value<T> = T extends Scalar<infer V>
  ? V
  : T extends Arr<infer E>
    ? E extends ByteScalar ? Uint8Array : E extends Scalar<infer V> ? V[] : Value<E>[]
    : T extends Agg<infer F>
      ? ObjectOf<F>
      : never;

type Named<F> = { -readonly [K in keyof F as K extends `$${string}` ? never : K]: Value<F[K]> };
type Hoisted<F> = UnionToIntersection<
  { [K in keyof F]: K extends `$${string}` ? (F[K] extends Agg<infer G> ? ObjectOf<G> : never) : never }[keyof F]
>;
/** Decoded object of an aggregate's fields (anonymous members hoisted, as in C). */
export type ObjectOf<F> = Named<F> & ([Hoisted<F>] extends [never] ? unknown : Hoisted<F>);

/** Accepted input for a C type in `encode`: everything optional, 64-bit fields take number or bigint. */
export type Input<T> = T extends Scalar<infer V>
  ? V extends bigint ? bigint | number : number
  : T extends Arr<infer E>
    ? E extends ByteScalar ? Uint8Array | ArrayLike<number> : ArrayLike<Input<E>>
    : T extends Agg<infer F>
      ? InputOf<F>
      : never;

type NamedIn<F> = { [K in keyof F as K extends `$${string}` ? never : K]?: Input<F[K]> };
type HoistedIn<F> = UnionToIntersection<
  { [K in keyof F]: K extends `$${string}` ? (F[K] extends Agg<infer G> ? InputOf<G> : never) : never }[keyof F]
>;
export type InputOf<F> = NamedIn<F> & ([HoistedIn<F>] extends [never] ? unknown : HoistedIn<F>);

/** Zero-copy accessor over an array inside a struct. */
export interface ArrayView<V> {
  readonly length: number;
  get(i: number): V;
  set(i: number, v: V extends bigint ? bigint | number : V): void;
}

/** Zero-copy view type of a C type. */
export type ViewOf<T> = T extends Scalar<infer V>
  ? V
  : T extends Arr<infer E>
    ? E extends ByteScalar ? Uint8Array : E extends Scalar<infer V> ? ArrayView<V> : ArrayView<ViewOf<E>>
    : T extends Agg<infer F>
      ? StructView<F>
      : never;

type NamedView<F> = { -readonly [K in keyof F as K extends `$${string}` ? never : K]: ViewOf<F[K]> };
type HoistedView<F> = UnionToIntersection<
  { [K in keyof F]: K extends `$${string}` ? (F[K] extends Agg<infer G> ? StructView<G> : never) : never }[keyof F]
>;
/** A live view over bytes: reading a property reads the bytes, assigning writes them. */
export type StructView<F> = NamedView<F> & ([HoistedView<F>] extends [never] ? unknown : HoistedView<F>) & {
  /** The bytes this view covers (a subarray of the caller's buffer, no copy). */
  readonly $bytes: Uint8Array;
};

// ---------------------------------------------------------------------------------------------
// Codec

/** Any declared struct, for collections (variance of the typed codec makes `Struct<Fields>` too strict). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyStruct = Struct<any>;

/** A declared aggregate with its codec: the public "C-struct fixture" object. */
export interface Struct<F extends Fields = Fields> extends Agg<F> {
  /** Flat map of every member path (dotted, anonymous members hoisted) to its byte offset. */
  readonly offsets: Readonly<Record<string, number>>;
  /** Byte offset of a member path such as `'io.port'` or `'s.regs.rip'`; throws for an unknown path. */
  offsetOf(path: string): number;
  /** Fresh zeroed bytes of this struct's size (plus `flexCount` elements of its flexible array). */
  alloc(flexCount?: number): Uint8Array;
  /**
   * Bytes the struct at `offset` really spans: its size plus the flexible array elements its count
   * field announces (nested as in kvm_tdx_capabilities.cpuid). Reads the count from `bytes`.
   * With `limit`, a count above `limit.max` counts as `max` ('clamp') or as none ('refuse').
   */
  extent(bytes: Uint8Array, offset?: number, limit?: { readonly max: number; readonly above: 'refuse' | 'clamp' }): number;
  /** Encodes a (partial) object into new bytes; omitted fields are zero. */
  encode(value: InputOf<F>): Uint8Array;
  /** Encodes into existing bytes at `offset`, leaving omitted fields untouched. */
  encodeInto(value: InputOf<F>, bytes: Uint8Array, offset?: number): void;
  /** Decodes bytes at `offset` into a plain object (unions decode every member). */
  decode(bytes: Uint8Array, offset?: number): ObjectOf<F>;
  /** A zero-copy accessor over bytes at `offset`. */
  view(bytes: Uint8Array, offset?: number): StructView<F>;
}

function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const isByte = (t: CType): boolean => t.kind === 'scalar' && t.size === 1;

function readScalar(dv: DataView, o: number, t: Scalar): number | bigint {
  switch (t.size) {
    case 1: return t.signed ? dv.getInt8(o) : dv.getUint8(o);
    case 2: return t.signed ? dv.getInt16(o, true) : dv.getUint16(o, true);
    case 4: return t.signed ? dv.getInt32(o, true) : dv.getUint32(o, true);
    case 8: return t.signed ? dv.getBigInt64(o, true) : dv.getBigUint64(o, true);
    default: return dv.getBigUint64(o, true) | (dv.getBigUint64(o + 8, true) << 64n);
  }
}

function writeScalar(dv: DataView, o: number, t: Scalar, v: number | bigint): void {
  switch (t.size) {
    case 1: dv.setUint8(o, Number(v) & 0xff); return;
    case 2: dv.setUint16(o, Number(v) & 0xffff, true); return;
    case 4: dv.setUint32(o, Number(v) >>> 0, true); return;
    case 8: dv.setBigUint64(o, BigInt.asUintN(64, BigInt(v)), true); return;
    default: {
      const b = BigInt.asUintN(128, BigInt(v));
      dv.setBigUint64(o, b & 0xffff_ffff_ffff_ffffn, true);
      dv.setBigUint64(o + 8, b >> 64n, true);
    }
  }
}

function decodeType(t: CType, bytes: Uint8Array, dv: DataView, o: number, withFlex = false, count = t.kind === 'array' ? t.count : 0): unknown {
  if (t.kind === 'scalar') return readScalar(dv, o, t);
  if (t.kind === 'array') {
    if (isByte(t.elem)) return bytes.slice(o, o + count);
    const out: unknown[] = [];
    for (let i = 0; i < count; i++) out.push(decodeType(t.elem, bytes, dv, o + i * t.elem.size, withFlex));
    return out;
  }
  const obj: Record<string, unknown> = {};
  decodeMembers(t, bytes, dv, o, obj, withFlex);
  return obj;
}

/** `withFlex`: a flexible array gets the elements its count field announces that the bytes hold. */
function decodeMembers(t: Agg, bytes: Uint8Array, dv: DataView, o: number, obj: Record<string, unknown>, withFlex = false): void {
  for (const m of t.members) {
    if (m.name === null) decodeMembers(m.type as Agg, bytes, dv, o + m.offset, obj, withFlex);
    else if (withFlex && m.type.kind === 'array' && m.type.flex && m.type.countField && m.type.elem.size > 0) {
      const room = Math.max(0, Math.floor((bytes.length - o - m.offset) / m.type.elem.size));
      const n = Math.min(Number(obj[m.type.countField] ?? 0), room);
      obj[m.name] = decodeType(m.type, bytes, dv, o + m.offset, withFlex, n);
    } else obj[m.name] = decodeType(m.type, bytes, dv, o + m.offset, withFlex);
  }
}

/**
 * Decodes a struct like `decode()`, and also its flexible array (kvm_msrs.entries...): as many
 * elements as the count field announces and `bytes` holds. For traces and debugging.
 */
export function decodeWithFlex(s: Struct, bytes: Uint8Array, offset = 0): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  decodeMembers(s, bytes, dataView(bytes), offset, obj, true);
  return obj;
}

function encodeType(t: CType, v: unknown, bytes: Uint8Array, dv: DataView, o: number, path: string): void {
  if (t.kind === 'scalar') {
    if (typeof v !== 'number' && typeof v !== 'bigint') throw new TypeError(`${path}: expected a number or bigint`);
    writeScalar(dv, o, t, v);
    return;
  }
  if (t.kind === 'array') {
    const src = v as ArrayLike<unknown>;
    if (src == null || typeof src.length !== 'number') throw new TypeError(`${path}: expected an array`);
    if (!t.flex && src.length > t.count) throw new RangeError(`${path}: ${src.length} elements for an array of ${t.count}`);
    for (let i = 0; i < src.length; i++) encodeType(t.elem, src[i], bytes, dv, o + i * t.elem.size, `${path}[${i}]`);
    return;
  }
  if (v == null || typeof v !== 'object') throw new TypeError(`${path}: expected an object`);
  encodeMembers(t, v as Record<string, unknown>, bytes, dv, o, path);
}

function encodeMembers(t: Agg, v: Record<string, unknown>, bytes: Uint8Array, dv: DataView, o: number, path: string): number {
  let used = 0;
  for (const m of t.members) {
    if (m.name === null) {
      used += encodeMembers(m.type as Agg, v, bytes, dv, o + m.offset, path);
    } else if (v[m.name] !== undefined) {
      encodeType(m.type, v[m.name], bytes, dv, o + m.offset, path ? `${path}.${m.name}` : m.name);
      used++;
    }
  }
  return used;
}

function knownKeys(t: Agg, out: Set<string>): Set<string> {
  for (const m of t.members) {
    if (m.name === null) knownKeys(m.type as Agg, out);
    else out.add(m.name);
  }
  return out;
}

function collectOffsets(t: Agg, base: number, prefix: string, out: Record<string, number>): void {
  for (const m of t.members) {
    const off = base + m.offset;
    if (m.name === null) {
      collectOffsets(m.type as Agg, off, prefix, out);
      continue;
    }
    const path = prefix + m.name;
    out[path] = off;
    if (m.type.kind === 'struct' || m.type.kind === 'union') collectOffsets(m.type, off, `${path}.`, out);
  }
}

// Views: one class per aggregate type, built on first use; getters live on the prototype.
interface ViewBase {
  readonly $b: Uint8Array;
  readonly $dv: DataView;
  readonly $o: number;
  $c?: Map<string, unknown>;
}

const viewClasses = new WeakMap<Agg, new (b: Uint8Array, dv: DataView, o: number) => ViewBase>();

function cached(self: ViewBase, key: string, make: () => unknown): unknown {
  const c = (self.$c ??= new Map());
  let v = c.get(key);
  if (v === undefined) c.set(key, (v = make()));
  return v;
}

function makeView(t: CType, b: Uint8Array, dv: DataView, o: number): unknown {
  if (t.kind === 'struct' || t.kind === 'union') return new (viewClass(t))(b, dv, o);
  if (t.kind === 'array') {
    if (isByte(t.elem)) return b.subarray(o, o + (t.flex ? b.length - o : t.count));
    const elem = t.elem;
    const length = t.flex ? Math.floor((b.length - o) / elem.size) : t.count;
    const check = (i: number) => {
      if (!Number.isInteger(i) || i < 0 || i >= length) throw new RangeError(`index ${i} out of [0, ${length})`);
      return o + i * elem.size;
    };
    return {
      length,
      get: (i: number) => (elem.kind === 'scalar' ? readScalar(dv, check(i), elem) : makeView(elem, b, dv, check(i))),
      set: (i: number, v: unknown) => encodeType(elem, v, b, dv, check(i), `[${i}]`),
    };
  }
  throw new Error('unreachable');
}

function defineMembers(proto: object, t: Agg, base: number): void {
  for (const m of t.members) {
    const off = base + m.offset;
    if (m.name === null) {
      defineMembers(proto, m.type as Agg, off);
      continue;
    }
    const type = m.type;
    const name = m.name;
    if (type.kind === 'scalar') {
      Object.defineProperty(proto, name, {
        get(this: ViewBase) { return readScalar(this.$dv, this.$o + off, type); },
        set(this: ViewBase, v: number | bigint) { writeScalar(this.$dv, this.$o + off, type, v); },
        enumerable: true,
      });
    } else {
      Object.defineProperty(proto, name, {
        get(this: ViewBase) { return cached(this, name, () => makeView(type, this.$b, this.$dv, this.$o + off)); },
        set(this: ViewBase, v: unknown) { encodeType(type, v, this.$b, this.$dv, this.$o + off, name); },
        enumerable: true,
      });
    }
  }
}

function viewClass(t: Agg): new (b: Uint8Array, dv: DataView, o: number) => ViewBase {
  let cls = viewClasses.get(t);
  if (!cls) {
    const size = t.size;
    cls = class View implements ViewBase {
      $c?: Map<string, unknown>;
      constructor(readonly $b: Uint8Array, readonly $dv: DataView, readonly $o: number) {}
      get $bytes(): Uint8Array { return this.$b.subarray(this.$o, this.$o + size); }
    };
    defineMembers(cls.prototype, t, 0);
    viewClasses.set(t, cls);
  }
  return cls;
}

function checkRoom(name: string, size: number, bytes: Uint8Array, offset: number): void {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`${name}: expected a Uint8Array`);
  if (!Number.isInteger(offset) || offset < 0 || offset + size > bytes.length) {
    throw new RangeError(`${name}: ${size} bytes at offset ${offset} do not fit in ${bytes.length}`);
  }
}

/** The element size of an aggregate's trailing flexible array (0 if none). */
function flexElemSize(t: Agg): number {
  const last = t.members[t.members.length - 1];
  if (!last) return 0;
  if (last.type.kind === 'array' && last.type.flex) return last.type.elem.size;
  if (last.type.kind === 'struct') return flexElemSize(last.type);
  return 0;
}

/** How many flexible-array elements an input object carries (so encode() makes room for them). */
function flexInputCount(t: Agg, value: unknown): number {
  const last = t.members[t.members.length - 1];
  if (!last || last.name === null || value == null || typeof value !== 'object') return 0;
  const v = (value as Record<string, unknown>)[last.name];
  if (last.type.kind === 'array' && last.type.flex) return (v as ArrayLike<unknown> | undefined)?.length ?? 0;
  if (last.type.kind === 'struct') return flexInputCount(last.type, v);
  return 0;
}

function extentOf(t: Agg, bytes: Uint8Array, offset: number, limit?: { readonly max: number; readonly above: 'refuse' | 'clamp' }): number {
  const last = t.members[t.members.length - 1];
  if (!last) return t.size;
  if (last.type.kind === 'struct' && t.kind === 'struct') return last.offset + extentOf(last.type, bytes, offset + last.offset, limit) + (t.size - last.offset - last.type.size);
  const arr = last.type;
  if (arr.kind !== 'array' || !arr.flex || !arr.countField) return t.size;
  const counter = t.members.find((m) => m.name === arr.countField);
  if (!counter || counter.type.kind !== 'scalar') return t.size;
  if (offset + counter.offset + counter.type.size > bytes.length) return t.size;
  let n = Number(readScalar(dataView(bytes), offset + counter.offset, counter.type));
  if (arr.maxCount !== undefined && n > arr.maxCount) return t.size;
  if (limit && n > limit.max) n = limit.above === 'clamp' ? limit.max : 0;
  return t.size + n * arr.elem.size;
}

function withCodec<F extends Fields>(agg: Agg<F>): Struct<F> {
  const name = agg.tag ? `struct ${agg.tag}` : `anonymous ${agg.kind}`;
  const offsets: Record<string, number> = {};
  collectOffsets(agg, 0, '', offsets);
  Object.freeze(offsets);
  const keys = knownKeys(agg, new Set());
  const codec = {
    offsets,
    offsetOf(path: string): number {
      const off = offsets[path];
      if (off === undefined) throw new Error(`${name} has no member ${path}`);
      return off;
    },
    alloc: (flexCount = 0) => new Uint8Array(agg.size + flexCount * flexElemSize(agg)),
    extent: (bytes: Uint8Array, offset = 0, limit?: { readonly max: number; readonly above: 'refuse' | 'clamp' }) => extentOf(agg, bytes, offset, limit),
    encodeInto(value: InputOf<F>, bytes: Uint8Array, offset = 0): void {
      checkRoom(name, agg.size, bytes, offset);
      for (const k of Object.keys(value as object)) {
        if (!keys.has(k)) throw new TypeError(`${name} has no member ${k}`);
      }
      encodeMembers(agg, value as Record<string, unknown>, bytes, dataView(bytes), offset, '');
    },
    encode(value: InputOf<F>): Uint8Array {
      const bytes = new Uint8Array(agg.size + flexInputCount(agg, value) * flexElemSize(agg));
      codec.encodeInto(value, bytes);
      return bytes;
    },
    decode(bytes: Uint8Array, offset = 0): ObjectOf<F> {
      checkRoom(name, agg.size, bytes, offset);
      return decodeType(agg, bytes, dataView(bytes), offset) as ObjectOf<F>;
    },
    view(bytes: Uint8Array, offset = 0): StructView<F> {
      checkRoom(name, agg.size, bytes, offset);
      return new (viewClass(agg))(bytes, dataView(bytes), offset) as unknown as StructView<F>;
    },
  };
  return Object.freeze(Object.assign(Object.create(null), agg, codec)) as Struct<F>;
}

// ---------------------------------------------------------------------------------------------
// Introspection used by the C check generator and the CLI's `layout` command

/** One row of a flattened layout: every member, nested members included, arrays as one row. */
export interface LayoutRow {
  /** Dotted C member designator usable in `offsetof` (anonymous members hoisted). */
  readonly path: string;
  readonly offset: number;
  readonly size: number;
  readonly c: string;
  readonly count?: number;
  readonly ext?: ExtInfo;
  /** Offset of the innermost `ext` ancestor and the path below it, for members reached through include/. */
  readonly extBase?: { readonly offset: number; readonly path: string; readonly info: ExtInfo };
}

function cTypeName(t: CType): string {
  if (t.kind === 'scalar') return t.c;
  if (t.kind === 'array') return `${cTypeName(t.elem)}[${t.flex ? '' : t.count}]`;
  return t.tag ? `${t.kind} ${t.tag}` : `${t.kind} {…}`;
}

/** Flattens an aggregate into rows, in declaration order. */
export function layoutRows(t: Agg): LayoutRow[] {
  const rows: LayoutRow[] = [];
  const walk = (agg: Agg, base: number, prefix: string, extBase: LayoutRow['extBase'] | undefined) => {
    for (const m of agg.members) {
      const off = base + m.offset;
      if (m.name === null) {
        walk(m.type as Agg, off, prefix, extBase);
        continue;
      }
      const path = prefix + m.name;
      const myExt = m.ext ? { offset: off, path: '', info: m.ext } : extBase ? { ...extBase, path: extBase.path ? `${extBase.path}.${m.name}` : m.name } : undefined;
      const row: LayoutRow = {
        path,
        offset: off,
        size: m.type.size,
        c: cTypeName(m.type),
        ...(m.type.kind === 'array' ? { count: m.type.count } : {}),
        ...(m.ext ? { ext: m.ext } : {}),
        ...(myExt ? { extBase: myExt } : {}),
      };
      rows.push(row);
      if (m.type.kind === 'struct' || m.type.kind === 'union') walk(m.type, off, `${path}.`, myExt);
    }
  };
  walk(t, 0, '', undefined);
  return rows;
}
