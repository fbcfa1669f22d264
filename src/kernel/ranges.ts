/**
 * A map from integer ranges to values (default 0), as the kernel's xarray of memory attributes:
 * set() overwrites [start, end) and keeps the list sorted, split and merged.
 * @module
 */

/** Index of the first element of `a` (sorted by `key`) whose key is >= `x`: a.length when none. */
export function lowerBound<T>(a: readonly T[], x: number, key: (e: T) => number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (key(a[mid]!) < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class RangeMap {
  /** Disjoint, sorted, non-empty intervals with non-zero values. */
  private iv: { start: number; end: number; value: number }[] = [];

  get(key: number): number {
    const iv = this.iv;
    let lo = 0;
    let hi = iv.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = iv[mid]!;
      if (key < r.start) hi = mid - 1;
      else if (key >= r.end) lo = mid + 1;
      else return r.value;
    }
    return 0;
  }

  set(start: number, end: number, value: number): void {
    if (end <= start) return;
    const out: { start: number; end: number; value: number }[] = [];
    for (const r of this.iv) {
      if (r.end <= start || r.start >= end) out.push(r);
      else {
        if (r.start < start) out.push({ start: r.start, end: start, value: r.value });
        if (r.end > end) out.push({ start: end, end: r.end, value: r.value });
      }
    }
    if (value !== 0) out.push({ start, end, value });
    out.sort((a, b) => a.start - b.start);
    const merged: typeof out = [];
    for (const r of out) {
      const last = merged[merged.length - 1];
      if (last && last.end === r.start && last.value === r.value) last.end = r.end;
      else merged.push({ ...r });
    }
    this.iv = merged;
  }

  /** The intervals with a non-zero value. */
  entries(): readonly { readonly start: number; readonly end: number; readonly value: number }[] {
    return this.iv;
  }
}
