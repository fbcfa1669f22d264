/**
 * Generates C programs of `_Static_assert`s from the uapi declarations, so gcc proves every
 * computed size, offset, constant and ioctl number against real headers.
 *
 * Two programs per arch:
 *  - `sys`: against the installed kernel headers, for everything they contain (structs not marked
 *    ext; constants and ioctls guarded by `#ifdef`, since older headers lack newer ones);
 *  - `ext`: against the project's include/vkvm headers, for what the system headers lack, and
 *    unconditionally for every constant and ioctl (so include/ must fill every gap).
 * @module
 */
import type { ConstGroup } from './constants.js';
import type { IoctlDef } from './ioctls.js';
import { layoutRows, type Agg, type AnyStruct } from './layout.js';

export type CheckMode = 'sys' | 'ext';

/** What one arch contributes to the checks. */
export interface CheckSet {
  readonly structs: Readonly<Record<string, AnyStruct>>;
  readonly constGroups: readonly ConstGroup[];
  readonly ioctls: Readonly<Record<string, IoctlDef>>;
  /** Extra system headers the constants need (e.g. linux/psci.h). */
  readonly headers?: readonly string[];
}

export interface CheckProgram {
  readonly source: string;
  /** Number of `_Static_assert`s in the program (guarded ones included). */
  readonly asserts: number;
  /** Number of struct members (leaf and nested) covered. */
  readonly members: number;
}

const cNum = (v: number | bigint): string => {
  if (typeof v === 'bigint') return `${v}ULL`;
  return v < 0 ? `(${v})` : `${v}U`;
};

/** Generates one C check program. */
export function generateChecks(set: CheckSet, mode: CheckMode): CheckProgram {
  const lines: string[] = ['#include <stddef.h>', '#include <linux/kvm.h>'];
  for (const h of set.headers ?? []) lines.push(`#include <${h}>`);
  if (mode === 'ext') lines.push('#include "vkvm/kvm.h"');
  lines.push('#define CHECK(cond, what) _Static_assert(cond, what)', '');
  let asserts = 0;
  let members = 0;
  const check = (cond: string, what: string) => {
    lines.push(`CHECK(${cond}, "${what}");`);
    asserts++;
  };
  const seenTags = new Set<string>();
  for (const s of Object.values(set.structs)) {
    if (!s.tag || seenTags.has(s.tag)) continue;
    seenTags.add(s.tag);
    const wholeExt = s.ext;
    if (mode === 'sys' && wholeExt) continue;
    const T = `struct ${s.tag}`;
    if (mode === 'ext' && !wholeExt) {
      // Only the members the system headers lack, reached through include/'s payload structs.
      for (const r of layoutRows(s)) {
        if (!r.extBase) continue;
        members++;
        const { info, offset: base, path } = r.extBase;
        if (path === '') {
          check(`offsetof(${T}, ${info.anchor}) == ${r.offset}`, `${s.tag}.${r.path} offset (anchor ${info.anchor})`);
          if (info.cStruct) check(`sizeof(struct ${info.cStruct}) == ${r.size}`, `${info.cStruct} size`);
        } else if (info.cStruct) {
          check(`offsetof(struct ${info.cStruct}, ${path}) == ${r.offset - base}`, `${s.tag}.${r.path} offset`);
          if (!(r.count === 0)) check(`sizeof(((struct ${info.cStruct} *)0)->${path}) == ${r.size}`, `${s.tag}.${r.path} size`);
        }
      }
      continue;
    }
    check(`sizeof(${T}) == ${s.size}`, `${s.tag} size`);
    emitMembers(s, T, s.tag, check, () => members++);
  }
  for (const g of set.constGroups) {
    for (const [k, v] of Object.entries(g.values)) {
      const name = g.prefix + k;
      if (mode === 'sys') lines.push(`#ifdef ${name}`);
      check(`${name} == ${cNum(v)}`, name);
      if (mode === 'sys') lines.push('#endif');
    }
  }
  for (const io of Object.values(set.ioctls)) {
    if (mode === 'sys') lines.push(`#ifdef ${io.name}`);
    check(`${io.name} == ${cNum(io.request)}`, `${io.name} = 0x${io.request.toString(16)}`);
    if (mode === 'sys') lines.push('#endif');
  }
  lines.push('', 'int main(void) { return 0; }', '');
  return { source: lines.join('\n'), asserts, members };
}

function emitMembers(s: Agg, T: string, tag: string, check: (cond: string, what: string) => void, counted: () => void): void {
  for (const r of layoutRows(s)) {
    if (r.extBase) continue;
    counted();
    check(`offsetof(${T}, ${r.path}) == ${r.offset}`, `${tag}.${r.path} offset`);
    if (r.count !== 0) check(`sizeof(((${T} *)0)->${r.path}) == ${r.size}`, `${tag}.${r.path} size`);
  }
}
