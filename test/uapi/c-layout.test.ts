/**
 * The uapi declarations against gcc: every struct size, member offset and size, constant and ioctl
 * number, once against the system kernel headers and once against the project's include/ headers.
 */
import { describe, expect, it } from 'vitest';
import { checkSets, generateChecks, layoutRows, type Arch } from '../../src/uapi/index.js';
import { ccFor, compileC, INCLUDE_DIR } from '../helpers/toolchain.js';

const arches: Arch[] = ['x86_64', 'arm64'];

describe.each(arches)('%s layouts under gcc', (arch) => {
  const cc = ccFor(arch);
  const set = checkSets[arch];

  it.skipIf(!cc)('system headers agree with every declaration they contain', () => {
    const prog = generateChecks(set, 'sys');
    const r = compileC(cc!, prog.source);
    expect(r.stderr).toBe('');
    expect(r.ok).toBe(true);
    console.log(`[c-layout] ${arch} sys: ${prog.asserts} static asserts over ${prog.members} struct members (${cc})`);
  });

  it.skipIf(!cc)('include/vkvm headers agree with everything newer than the system headers', () => {
    const prog = generateChecks(set, 'ext');
    const r = compileC(cc!, prog.source, [`-I${INCLUDE_DIR}`]);
    expect(r.stderr).toBe('');
    expect(r.ok).toBe(true);
    console.log(`[c-layout] ${arch} ext: ${prog.asserts} static asserts over ${prog.members} struct members (${cc})`);
  });

  it.skipIf(!cc)('a wrong expectation fails to compile (the check can fail)', () => {
    const prog = generateChecks(set, 'sys');
    const broken = prog.source.replace(/(CHECK\(sizeof\(struct kvm_run\) == )(\d+)/, (_m, a: string, n: string) => `${a}${Number(n) + 8}`);
    expect(broken).not.toBe(prog.source);
    expect(compileC(cc!, broken).ok).toBe(false);
  });

  it('covers every declared member, constant and ioctl between the two programs', () => {
    const sys = generateChecks(set, 'sys');
    const ext = generateChecks(set, 'ext');
    let rows = 0;
    const tags = new Set<string>();
    for (const s of Object.values(set.structs)) {
      if (!s.tag || tags.has(s.tag)) continue;
      tags.add(s.tag);
      rows += layoutRows(s).length;
    }
    // ext members of old structs appear in ext only; whole ext structs only in ext; the rest in sys.
    expect(sys.members + ext.members).toBe(rows);
    for (const io of Object.values(set.ioctls)) expect(ext.source).toContain(`CHECK(${io.name} == `);
    for (const g of set.constGroups) for (const k of Object.keys(g.values)) expect(ext.source).toContain(`CHECK(${g.prefix + k} == `);
  });
});
