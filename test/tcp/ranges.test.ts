import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { mergeSpan, spanOf, type RangeSpan } from '../../src/tcp/ranges.js'

const span = (): RangeSpan => ({ i: 0, j: 0, lo: 0, hi: 0 })

describe('sorted disjoint ranges', () => {
  it('finds the span of a range and merges it: insert, touch, bridge, swallow', () => {
    const starts = [10, 30, 50]
    const ends = [20, 40, 60]
    expect(spanOf(starts, ends, 0, 5, span())).toEqual({ i: 0, j: 0, lo: 0, hi: 5 })
    expect(spanOf(starts, ends, 20, 25, span())).toEqual({ i: 0, j: 1, lo: 10, hi: 25 }) // touches [10, 20)
    expect(spanOf(starts, ends, 15, 30, span())).toEqual({ i: 0, j: 2, lo: 10, hi: 40 }) // bridges two
    expect(spanOf(starts, ends, 70, 80, span())).toEqual({ i: 3, j: 3, lo: 70, hi: 80 })
    mergeSpan(starts, ends, spanOf(starts, ends, 15, 30, span()))
    expect([starts, ends]).toEqual([[10, 50], [40, 60]])
    mergeSpan(starts, ends, spanOf(starts, ends, 0, 5, span()))
    expect([starts, ends]).toEqual([[0, 10, 50], [5, 40, 60]])
    mergeSpan(starts, ends, spanOf(starts, ends, 0, 100, span()))
    expect([starts, ends]).toEqual([[0], [100]])
  })

  it('after any sequence of merges, the ranges are sorted, disjoint, non-touching, and cover exactly the union', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(200), fc.integer({ min: 1, max: 30 })), { maxLength: 40 }), (adds) => {
        const starts: number[] = []
        const ends: number[] = []
        const model = new Set<number>()
        for (const [s, len] of adds) {
          mergeSpan(starts, ends, spanOf(starts, ends, s, s + len, span()))
          for (let x = s; x < s + len; x++) model.add(x)
        }
        for (let k = 0; k < starts.length; k++) {
          expect(starts[k]).toBeLessThan(ends[k])
          if (k > 0) expect(starts[k]).toBeGreaterThan(ends[k - 1])
        }
        const covered = new Set<number>()
        for (let k = 0; k < starts.length; k++) for (let x = starts[k]; x < ends[k]; x++) covered.add(x)
        expect([...covered].sort((a, b) => a - b)).toEqual([...model].sort((a, b) => a - b))
      }),
      { numRuns: 300 },
    )
  })
})
