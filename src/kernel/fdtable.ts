/**
 * The fd numbers of the virtual process: the lowest free number on every allocation (as POSIX
 * requires of open(2) and as the kernel's fd bitmap gives), in O(log n): a min-heap of numbers
 * freed below the high-water mark, and the mark itself.
 * @module
 */

export class FdNumbers {
  /** Every number >= next is free. */
  private next: number;
  /** Free numbers below `next` (a binary min-heap). */
  private readonly heap: number[] = [];

  constructor(
    /** The first number handed out (3: 0-2 are stdio). */
    first: number,
    /** RLIMIT_NOFILE: numbers stay below it. */
    private readonly limit: number,
  ) {
    this.next = first;
  }

  /** The lowest free number, now taken; -1 when all below the limit are in use (EMFILE). */
  take(): number {
    const h = this.heap;
    if (h.length === 0) return this.next < this.limit ? this.next++ : -1;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      // Sift `last` down from the root.
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const c = l + 1 < h.length && h[l + 1]! < h[l]! ? l + 1 : l;
        if (h[c]! >= last) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  /** Gives `fd` back (it was taken and is now closed). */
  free(fd: number): void {
    if (fd === this.next - 1) {
      // The top number: lower the mark (freed numbers below it stay in the heap).
      this.next--;
      return;
    }
    const h = this.heap;
    let i = h.length;
    h.push(fd);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]! <= fd) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = fd;
  }
}
