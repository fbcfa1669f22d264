/** Loading committed guest programs (built by test/guests/build.sh). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export const GUEST_DIR = resolve(__dirname, '../guests');

export function guest(path: string): Uint8Array {
  return new Uint8Array(readFileSync(resolve(GUEST_DIR, path)));
}
