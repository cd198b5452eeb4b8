/**
 * RFC 6528 initial sequence numbers: ISN = M + F(4-tuple, key), M a 4 µs clock, F a keyed hash. Checked
 * against an independent computation, for the clock's monotonicity, for spread across 4-tuples and keys,
 * and for the TCB's use of it (and of the override hook).
 */
import { describe, expect, it } from 'vitest'
import { HashDomain, createIsnGenerator, isnClock, isnFor, keyedHash32, tsOffsetFor } from '../../src/tcp/isn.js'
import { Tcb } from '../../src/tcp/tcb.js'
import { sipHash24, sipHashHigh } from '../../src/tcp/siphash.js'
import type { FourTuple } from '../../src/tcp/types.js'
import { lag1 } from '../helpers/stats.js'
import { TUPLE, prng } from './helpers.js'

const KEY = new Uint8Array(32).map((_, i) => i * 7 + 1)

/** F computed from the documented construction, independently of the module's message layout. */
function referenceF(key: Uint8Array, t: FourTuple): number {
  const msg = Uint8Array.from([
    HashDomain.ISN, 0, t.localPort >> 8, t.localPort & 255, t.remotePort >> 8, t.remotePort & 255, 0, 0, 0, 0,
    ...t.localAddr, ...t.remoteAddr,
  ])
  return sipHash24(key, msg)
}

describe('SipHash-2-4', () => {
  it("matches the paper's reference vectors (key 00..0f, message 00..len-1)", () => {
    const key = Uint8Array.from({ length: 16 }, (_, i) => i)
    const tag = (len: number): string => {
      const lo = sipHash24(key, Uint8Array.from({ length: len }, (_, i) => i))
      return sipHashHigh.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0')
    }
    expect(tag(0)).toBe('726fdb47dd0e0e31')
    expect(tag(1)).toBe('74f839c593dc67fd')
    expect(tag(8)).toBe('93f5f5799a932462')
    expect(tag(15)).toBe('a129ca6149be45e5')
  })
})

function tupleFrom(r: () => number): FourTuple {
  const b = () => Math.floor(r() * 256)
  return {
    localAddr: Uint8Array.of(10, b(), b(), b()),
    localPort: Math.floor(r() * 65536),
    remoteAddr: Uint8Array.of(192, 168, b(), b()),
    remotePort: Math.floor(r() * 65536),
  }
}

describe('RFC 6528 ISN', () => {
  it('is M + F: a 4 µs clock plus SipHash-2-4 of key and 4-tuple', () => {
    const f = referenceF(KEY, TUPLE)
    expect(keyedHash32(KEY, HashDomain.ISN, TUPLE)).toBe(f)
    expect(isnFor(KEY, TUPLE, 0)).toBe(f)
    expect(isnFor(KEY, TUPLE, 4)).toBe((f + 1) >>> 0)
    expect(isnFor(KEY, TUPLE, 7)).toBe((f + 1) >>> 0)
    expect(isnFor(KEY, TUPLE, 4_000_000)).toBe((f + 1_000_000) >>> 0)
  })

  it('the clock wraps after 2^32 ticks (4.77 hours)', () => {
    expect(isnClock(4 * 2 ** 32)).toBe(0)
    expect(isnClock(4 * (2 ** 32 - 1))).toBe(2 ** 32 - 1)
  })

  it('one 4-tuple: 100,000 ISNs at increasing times never repeat within the clock window', () => {
    const r = prng(1)
    const seen = new Set<number>()
    let now = 0
    for (let i = 0; i < 100_000; i++) {
      now += 4 + Math.floor(r() * 1000)
      seen.add(isnFor(KEY, TUPLE, now))
    }
    expect(seen.size).toBe(100_000)
  })

  it('varied 4-tuples: ISNs spread over 32 bits and the next is not predictable from the previous', () => {
    const r = prng(2)
    const n = 100_000
    const xs = new Float64Array(n)
    const seen = new Set<number>()
    const buckets = new Uint32Array(16)
    for (let i = 0; i < n; i++) {
      const v = isnFor(KEY, tupleFrom(r), 1_000_000 + i * 4)
      xs[i] = v
      seen.add(v)
      buckets[v >>> 28]++
    }
    // Birthday bound: ~1 collision expected in 100k draws from 2^32.
    expect(seen.size).toBeGreaterThan(n - 10)
    for (const b of buckets) expect(Math.abs(b - n / 16)).toBeLessThan(n / 16 / 10)
    // Lag-1 correlation of successive ISNs.
    expect(Math.abs(lag1(xs))).toBeLessThan(0.02)
  })

  it('another key gives unrelated ISNs; each 4-tuple field matters', () => {
    const other = new Uint8Array(32).fill(9)
    expect(isnFor(other, TUPLE, 0)).not.toBe(isnFor(KEY, TUPLE, 0))
    const variants: FourTuple[] = [
      { ...TUPLE, localPort: TUPLE.localPort + 1 },
      { ...TUPLE, remotePort: TUPLE.remotePort + 1 },
      { ...TUPLE, localAddr: Uint8Array.of(192, 0, 2, 9) },
      { ...TUPLE, remoteAddr: Uint8Array.of(192, 0, 2, 9) },
    ]
    const base = isnFor(KEY, TUPLE, 0)
    for (const v of variants) expect(isnFor(KEY, v, 0)).not.toBe(base)
  })

  it('the timestamp offset uses its own domain (not derivable from the ISN)', () => {
    expect(tsOffsetFor(KEY, TUPLE)).toBe(keyedHash32(KEY, HashDomain.TS_OFFSET, TUPLE))
    expect(tsOffsetFor(KEY, TUPLE)).not.toBe(keyedHash32(KEY, HashDomain.ISN, TUPLE))
  })

  it('a generator needs a key of at least 128 bits and copies it', () => {
    expect(() => createIsnGenerator(new Uint8Array(8))).toThrow(RangeError)
    const key = KEY.slice()
    const g = createIsnGenerator(key)
    key.fill(0)
    expect(g(TUPLE, 40)).toBe(isnFor(KEY, TUPLE, 40))
  })
})

describe('the TCB and its ISN', () => {
  it('uses RFC 6528 with the configured key', () => {
    const t = Tcb.connect(TUPLE, 123_456, { isnSecret: KEY })
    expect(t.iss).toBe(isnFor(KEY, TUPLE, 123_456))
    expect(t.dispatch(123_456)!.seq).toBe(t.iss)
  })

  it('takes a fixed ISN or a function from the test hook', () => {
    expect(Tcb.connect(TUPLE, 0, { iss: 0xfffffffe, tsOffset: 0 }).iss).toBe(0xfffffffe)
    expect(Tcb.connect(TUPLE, 0, { iss: 2 ** 32 + 5, tsOffset: 0 }).iss).toBe(5)
    expect(Tcb.connect(TUPLE, 8, { iss: (_t, now) => now * 2, tsOffset: 0 }).iss).toBe(16)
  })

  it('without a key, a process-wide random key still gives RFC 6528 structure (4 µs clock)', () => {
    const a = Tcb.connect(TUPLE, 0, {}).iss
    const b = Tcb.connect(TUPLE, 400, {}).iss
    expect((b - a) >>> 0).toBe(100)
  })
})
