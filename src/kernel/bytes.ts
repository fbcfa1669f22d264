/**
 * Byte helpers shared by layers that do not otherwise meet (the wasm writers, the KVMI stream, the
 * shim server).
 * @module
 */

/** The bytes of `parts` one after another, in a new array. */
export function concat(parts: readonly ArrayLike<number>[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
