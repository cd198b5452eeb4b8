/** Small statistics for tests of randomness (ISNs). */

/** Lag-1 (serial) correlation of a series: near 0 when each value says nothing about the next. */
export function lag1(xs: ArrayLike<number>): number {
  const n = xs.length
  let mean = 0
  for (let i = 0; i < n; i++) mean += xs[i] / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    den += (xs[i] - mean) ** 2
    if (i + 1 < n) num += (xs[i] - mean) * (xs[i + 1] - mean)
  }
  return num / den
}
