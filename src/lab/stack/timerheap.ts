/**
 * A binary min-heap of (time, item) pairs for the interface's single real timer. Times and items sit in
 * two parallel arrays (no entry objects), so pushing a deadline allocates nothing once the arrays have
 * grown. Deletion is lazy, the way Linux's and Go's timer wheels cancel: the owner records the deadline it
 * expects for an item and skips popped entries that no longer match, and `compact` drops stale entries in
 * bulk when they pile up.
 */

/** A min-heap keyed by a number (a time in µs); ties pop in no particular order. */
export class TimerHeap<T> {
  private readonly times: number[] = []
  private readonly items: T[] = []
  private n = 0

  /** Entries held, stale ones included. */
  get size(): number {
    return this.n
  }

  /** The earliest time, or Infinity when empty. */
  peekTime(): number {
    return this.n > 0 ? this.times[0] : Infinity
  }

  /** The item with the earliest time (undefined when empty). */
  peekItem(): T | undefined {
    return this.n > 0 ? this.items[0] : undefined
  }

  /** Adds `item` due at `at`. */
  push(at: number, item: T): void {
    let i = this.n++
    const times = this.times
    const items = this.items
    // Sift up: move parents down until the slot for `at` is found.
    while (i > 0) {
      const p = (i - 1) >> 1
      if (times[p] <= at) break
      times[i] = times[p]
      items[i] = items[p]
      i = p
    }
    times[i] = at
    items[i] = item
  }

  /** Removes and returns the earliest item (undefined when empty). Read `peekTime()` first for its time. */
  pop(): T | undefined {
    if (this.n === 0) return undefined
    const items = this.items
    const top = items[0]
    const last = --this.n
    if (last > 0) this.siftDown(0, this.times[last], items[last])
    // Drop the reference so a closed connection can be collected.
    items[last] = undefined as T
    return top
  }

  /** Keeps only the entries for which `keep(at, item)` is true, in O(n). */
  compact(keep: (at: number, item: T) => boolean): void {
    const times = this.times
    const items = this.items
    let w = 0
    for (let r = 0; r < this.n; r++) {
      if (keep(times[r], items[r])) {
        times[w] = times[r]
        items[w] = items[r]
        w++
      }
    }
    for (let i = w; i < this.n; i++) items[i] = undefined as T
    this.n = w
    // Floyd's heap construction.
    for (let i = (w >> 1) - 1; i >= 0; i--) this.siftDown(i, times[i], items[i])
  }

  /** Removes everything. */
  clear(): void {
    this.items.length = 0
    this.times.length = 0
    this.n = 0
  }

  private siftDown(i: number, at: number, item: T): void {
    const times = this.times
    const items = this.items
    const n = this.n
    for (;;) {
      let c = 2 * i + 1
      if (c >= n) break
      if (c + 1 < n && times[c + 1] < times[c]) c++
      if (times[c] >= at) break
      times[i] = times[c]
      items[i] = items[c]
      i = c
    }
    times[i] = at
    items[i] = item
  }
}
