/**
 * The shim protocol: the header and record layouts and the constants declared in
 * src/server/proto.ts, proven against native/shim/vkvm-proto.h by gcc (x86-64 and aarch64), so the
 * C and TypeScript sides cannot drift apart.
 */
import { describe, expect, it } from 'vitest';
import { layoutRows } from '../../src/uapi/index.js';
import { C_CONSTANTS, vkvm_hdr, vkvm_rec } from '../../src/server/proto.js';
import { shimSourceDir } from '../../src/server/build.js';
import { ccFor, compileC } from '../helpers/toolchain.js';

function checks(): string {
  const lines = ['#include <stddef.h>', '#include "vkvm-proto.h"'];
  for (const s of [vkvm_hdr, vkvm_rec]) {
    lines.push(`_Static_assert(sizeof(struct ${s.tag}) == ${s.size}, "size of ${s.tag}");`);
    for (const r of layoutRows(s)) {
      if (r.path.includes('[')) continue;
      lines.push(`_Static_assert(offsetof(struct ${s.tag}, ${r.path}) == ${r.offset}, "${s.tag}.${r.path}");`);
    }
  }
  for (const [k, v] of Object.entries(C_CONSTANTS)) lines.push(`_Static_assert(${k} == ${v}, "${k}");`);
  return lines.join('\n') + '\n';
}

describe.each(['x86_64', 'arm64'] as const)('%s: vkvm-proto.h against src/server/proto.ts', (arch) => {
  const cc = ccFor(arch);
  it.skipIf(!cc)('every size, offset and constant agrees', () => {
    const r = compileC(cc!, checks(), [`-I${shimSourceDir()}`]);
    expect(r.stderr).toBe('');
    expect(r.ok).toBe(true);
  });
  it.skipIf(!cc)('a wrong expectation fails to compile (the check can fail)', () => {
    const bad = checks().replace(/(VKVM_OP_REPLY == )(\d+)/, (_m, a: string, n: string) => `${a}${Number(n) + 1}`);
    expect(bad).not.toBe(checks());
    expect(compileC(cc!, bad, [`-I${shimSourceDir()}`]).ok).toBe(false);
  });
});

it('covers both structs and every op', () => {
  const src = checks();
  expect(src).toContain('offsetof(struct vkvm_hdr, ret) == 8');
  expect(src).toContain('offsetof(struct vkvm_rec, kfd) == 16');
  for (const op of ['HELLO', 'OPEN', 'IOCTL', 'CLOSE', 'UNMAP', 'DATA', 'FALLOCATE', 'REPLY', 'CB_READ', 'CB_SHARE', 'CB_GETFD']) expect(src).toContain(`VKVM_OP_${op} == `);
});
