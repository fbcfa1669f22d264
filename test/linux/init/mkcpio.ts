/** `tsx mkcpio.ts INIT OUT`: writes the fixture initramfs (cpio newc) around the static init INIT. */
import { readFileSync, writeFileSync } from 'node:fs';
import { fixtureInitramfs } from '../cpio.js';

const [init, out] = process.argv.slice(2);
if (!init || !out) throw new Error('usage: mkcpio.ts INIT OUT');
writeFileSync(out, fixtureInitramfs(new Uint8Array(readFileSync(init))));
