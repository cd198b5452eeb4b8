/**
 * Sorted, disjoint, non-touching ranges [start, end) of offsets, kept in two parallel arrays: the shape
 * both the receiver's out-of-order queue (rcv.ts) and the sender's SACK scoreboard (sack.ts) use. These
 * helpers find where a new range lands and merge it in; each caller adds its own bounds and accounting.
 */

/** Where [s, e) lands: ranges i..j-1 overlap or touch it, and [lo, hi) is their union with it. */
export interface RangeSpan {
  /** The first range that ends at or after s (the insertion point when j === i). */
  i: number
  /** One past the last range that starts at or before e. */
  j: number
  lo: number
  hi: number
}

/** Finds where [s, e) lands among `starts`/`ends`, writing into (and returning) `out`. */
export function spanOf(starts: readonly number[], ends: readonly number[], s: number, e: number, out: RangeSpan): RangeSpan {
  let i = 0
  while (i < starts.length && ends[i] < s) i++
  let j = i
  let lo = s
  let hi = e
  while (j < starts.length && starts[j] <= e) {
    if (starts[j] < lo) lo = starts[j]
    if (ends[j] > hi) hi = ends[j]
    j++
  }
  out.i = i
  out.j = j
  out.lo = lo
  out.hi = hi
  return out
}

/** Replaces ranges i..j-1 of `span` with its union [lo, hi) (a new range at i when j === i). */
export function mergeSpan(starts: number[], ends: number[], span: RangeSpan): void {
  const { i, j } = span
  if (j === i) {
    starts.splice(i, 0, span.lo)
    ends.splice(i, 0, span.hi)
    return
  }
  starts[i] = span.lo
  ends[i] = span.hi
  if (j - i > 1) {
    starts.splice(i + 1, j - i - 1)
    ends.splice(i + 1, j - i - 1)
  }
}
