/**
 * A newc ("070701") cpio writer for initramfs images: deterministic (inode numbers in order,
 * mtime 0, uid/gid 0), so the committed fixture initramfs rebuilds byte for byte.
 * @module
 */
import { concat } from '../../src/kernel/bytes.js';

/** One initramfs entry: a directory, a regular file, a character device or a symlink. */
export type CpioEntry =
  | { readonly path: string; readonly type: 'dir'; readonly mode?: number }
  | { readonly path: string; readonly type: 'file'; readonly data: Uint8Array; readonly mode?: number }
  | { readonly path: string; readonly type: 'char'; readonly major: number; readonly minor: number; readonly mode?: number }
  | { readonly path: string; readonly type: 'symlink'; readonly target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;
const S_IFLNK = 0o120000;

/** The archive bytes (uncompressed; the kernel also takes it gzip-compressed). */
export function cpioNewc(entries: readonly CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let len = 0;
  const push = (b: Uint8Array) => {
    parts.push(b);
    len += b.length;
    const pad = (4 - (len % 4)) % 4;
    if (pad) {
      parts.push(new Uint8Array(pad));
      len += pad;
    }
  };
  const hex8 = (v: number) => (v >>> 0).toString(16).padStart(8, '0');
  const record = (ino: number, mode: number, nlink: number, data: Uint8Array, name: string, rdev: [number, number] = [0, 0]) => {
    const nameBytes = Buffer.from(name + '\0', 'utf8');
    const fields = [ino, mode, 0, 0, nlink, 0, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0];
    const hdr = Buffer.from('070701' + fields.map(hex8).join(''), 'latin1');
    const head = new Uint8Array(hdr.length + nameBytes.length);
    head.set(hdr);
    head.set(nameBytes, hdr.length);
    push(head);
    if (data.length) push(data);
  };
  entries.forEach((e, i) => {
    const path = e.path.replace(/^\/+/, '');
    const ino = i + 1;
    switch (e.type) {
      case 'dir':
        record(ino, S_IFDIR | (e.mode ?? 0o755), 2, new Uint8Array(0), path);
        break;
      case 'file':
        record(ino, S_IFREG | (e.mode ?? 0o644), 1, e.data, path);
        break;
      case 'char':
        record(ino, S_IFCHR | (e.mode ?? 0o600), 1, new Uint8Array(0), path, [e.major, e.minor]);
        break;
      case 'symlink':
        record(ino, S_IFLNK | 0o777, 1, Buffer.from(e.target, 'utf8'), path);
        break;
    }
  });
  record(0, 0, 1, new Uint8Array(0), 'TRAILER!!!');
  return concat(parts);
}

/** The fixture initramfs: /init plus the directories and the console node the kernel expects. */
export function fixtureInitramfs(init: Uint8Array): Uint8Array {
  return cpioNewc([
    { path: 'dev', type: 'dir' },
    { path: 'dev/console', type: 'char', major: 5, minor: 1 },
    { path: 'proc', type: 'dir' },
    { path: 'sys', type: 'dir' },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    { path: 'init', type: 'file', data: init, mode: 0o755 },
  ]);
}
