/**
 * Introspection and the x86 engine depend in one direction only: src/introspection reaches an
 * x86 vCPU through its own KvmiX86Vcpu interface (implemented in src/arch/x86/kvmi.ts) and imports
 * nothing of src/arch — no import cycle between the two.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIR = resolve(__dirname, '../../src/introspection');

describe('introspection layering', () => {
  it('src/introspection imports nothing of src/arch', () => {
    const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) expect(readFileSync(join(DIR, f), 'utf8'), f).not.toMatch(/from\s+'[^']*\/arch\//);
  });
});
