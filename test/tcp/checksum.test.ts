/**
 * The Internet checksum (RFC 1071), pseudo-header sums (RFC 9293 §3.1, RFC 8200 §8.1) and incremental
 * update (RFC 1624), checked against a deliberately naive reference: sum every big-endian word into a
 * plain number, then fold.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  checksumUpdate16,
  checksumUpdate32,
  finishChecksum,
  internetChecksum,
  IPPROTO_TCP,
  onesSum,
  pseudoHeaderSum,
} from '../../src/tcp/checksum.js'
import { hex } from '../helpers/codecLaws.js'

/** Word-by-word sum with carries folded at the end (RFC 1071 §4.1, without the tricks). */
function refSum(bytes: ArrayLike<number>, initial = 0): number {
  let sum = initial
  for (let i = 0; i < bytes.length; i += 2) sum += bytes[i] * 256 + (i + 1 < bytes.length ? bytes[i + 1] : 0)
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000)
  return sum
}

/** Copies `data` into a fresh buffer at byte `at`, so the view's byteOffset parity is under test control. */
function placed(data: Uint8Array, at: number): Uint8Array {
  const backing = new Uint8Array(at + data.length + 3).fill(0xa5)
  backing.set(data, at)
  return backing.subarray(at, at + data.length)
}

describe('onesSum / internetChecksum (RFC 1071)', () => {
  it("RFC 1071 §3's worked example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2", () => {
    const b = hex('0001 f203 f4f5 f6f7')
    expect(onesSum(b)).toBe(0xddf2)
    expect(internetChecksum(b)).toBe(0x220d) // ~ddf2
    expect(finishChecksum(0xddf2)).toBe(0x220d)
  })

  it('pads an odd trailing byte with zero (RFC 1071 §4.1)', () => {
    expect(onesSum(hex('01'))).toBe(0x0100)
    expect(onesSum(hex('abcdef'))).toBe(0x9ace) // abcd + ef00 = 1_9acd → 9ace
    expect(onesSum(hex('0001 f203 f4f5 f6'))).toBe(0xdcfb) // ddf2 - 00f7
    expect(onesSum(new Uint8Array(0))).toBe(0)
    expect(onesSum(new Uint8Array(0), 0, 0, 0x1234)).toBe(0x1234)
  })

  it('folds end-around carries: ffff + 0001 = 0001, and all-ones stays ffff (-0)', () => {
    expect(onesSum(hex('ffff 0001'))).toBe(0x0001)
    expect(onesSum(hex('ffff ffff ffff'))).toBe(0xffff)
    expect(onesSum(new Uint8Array(300).fill(0xff))).toBe(0xffff) // the wide path too
    expect(onesSum(new Uint8Array(300))).toBe(0)
  })

  it('honours start/end within a buffer', () => {
    const b = hex('ffff 0001 f203 f4f5 f6f7 eeee')
    expect(onesSum(b, 2, 10)).toBe(0xddf2)
  })

  it('chained calls over even-length pieces equal one call', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat(), fc.nat(), (data, x, y) => {
        const cuts = [x % (data.length + 1), y % (data.length + 1)].map((c) => c & ~1).sort((a, b) => a - b)
        let s = onesSum(data, 0, cuts[0], 0)
        s = onesSum(data, cuts[0], cuts[1], s)
        s = onesSum(data, cuts[1], data.length, s)
        expect(s).toBe(onesSum(data))
        expect(s).toBe(refSum(data))
      }),
      { numRuns: 500 },
    )
  })

  it('the wide (≥128 bytes, 2-aligned) path equals the byte path at odd and even offsets', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 128, maxLength: 2000 }),
        fc.integer({ min: 0, max: 0xffff }),
        (data, initial) => {
          const want = refSum(data, initial)
          const even = placed(data, 2) // byteOffset 2: the Uint16Array path
          const odd = placed(data, 1) // byteOffset 1: must fall back to bytes
          expect(even.byteOffset & 1).toBe(0)
          expect(odd.byteOffset & 1).toBe(1)
          expect(onesSum(even, 0, even.length, initial)).toBe(want)
          expect(onesSum(odd, 0, odd.length, initial)).toBe(want)
          // a start index that shifts the alignment inside one view
          expect(onesSum(even, 1, even.length, initial)).toBe(refSum(data.subarray(1), initial))
          expect(onesSum(odd, 1, odd.length, initial)).toBe(refSum(data.subarray(1), initial))
        },
      ),
      { numRuns: 300 },
    )
  })

  it('the wide path folds between 8192-word blocks (70 000 bytes of 0xff… and random)', () => {
    const ones = placed(new Uint8Array(70_001).fill(0xff), 0)
    expect(onesSum(ones)).toBe(refSum(ones))
    const rnd = new Uint8Array(70_000)
    for (let i = 0; i < rnd.length; i++) rnd[i] = (i * 2654435761) >>> 24
    expect(onesSum(placed(rnd, 0))).toBe(refSum(rnd))
    expect(onesSum(placed(rnd, 1))).toBe(refSum(rnd))
  })
})

describe('pseudoHeaderSum', () => {
  const arbV4 = fc.uint8Array({ minLength: 4, maxLength: 4 })
  const arbV6 = fc.uint8Array({ minLength: 16, maxLength: 16 })

  it('IPv4: equals the sum of the explicit 12-byte pseudo-header (RFC 9293 §3.1)', () => {
    fc.assert(
      fc.property(arbV4, arbV4, fc.integer({ min: 0, max: 0xffff }), (src, dst, len) => {
        const ph = new Uint8Array(12)
        ph.set(src, 0)
        ph.set(dst, 4)
        ph[8] = 0
        ph[9] = IPPROTO_TCP
        ph[10] = len >>> 8
        ph[11] = len & 0xff
        expect(pseudoHeaderSum(src, dst, IPPROTO_TCP, len)).toBe(refSum(ph))
      }),
      { numRuns: 500 },
    )
  })

  it('IPv6: equals the sum of the explicit 40-byte pseudo-header with a 32-bit length (RFC 8200 §8.1)', () => {
    fc.assert(
      fc.property(arbV6, arbV6, fc.integer({ min: 0, max: 0xffffffff }), (src, dst, len) => {
        const ph = new Uint8Array(40)
        ph.set(src, 0)
        ph.set(dst, 16)
        ph[32] = len >>> 24
        ph[33] = (len >>> 16) & 0xff
        ph[34] = (len >>> 8) & 0xff
        ph[35] = len & 0xff
        ph[39] = IPPROTO_TCP
        expect(pseudoHeaderSum(src, dst, IPPROTO_TCP, len)).toBe(refSum(ph))
      }),
      { numRuns: 500 },
    )
  })

  it('reproduces checksums computed by scapy for a captured IPv4 SYN and an IPv6 data segment', () => {
    // Both segments are fixtures in segment.test.ts; the checksum fields were produced by scapy 2.5.
    const syn = hex('c8220050 b1d2e3f4 00000000 a002faf0 0000 0000 020405b4 0402 080a0a1b2c3d00000000 01 030307')
    const sum4 = pseudoHeaderSum(hex('c0a8010a'), hex('5db8d822'), IPPROTO_TCP, syn.length)
    expect(finishChecksum(onesSum(syn, 0, syn.length, sum4))).toBe(0xc0ef)
    const data = hex('c8220050 b1d2e3f5 5e6f7082 801801f6 0000 0000 0101 080a0a1b2c5011223344 68656c6c6f0a')
    const sum6 = pseudoHeaderSum(
      hex('20010db8000000000000000000000001'),
      hex('20010db8000000000000000000000002'),
      IPPROTO_TCP,
      data.length,
    )
    expect(finishChecksum(onesSum(data, 0, data.length, sum6))).toBe(0x2d6a)
  })
})

describe('incremental update (RFC 1624)', () => {
  /** A buffer of words with its checksum, the way a header carries one. */
  const arbWords = fc.uint8Array({ minLength: 2, maxLength: 64 }).map((b) => (b.length & 1 ? b.subarray(1) : b))

  it("RFC 1624 §3's example: eqn. 3 gives 0x0000 where eqn. 2 gave the wrong 0xffff", () => {
    // The other words sum to 0xcd7a; m = 0x5555 changes to m' = 0x3285.
    const before = hex('cd7a 5555')
    const hc = internetChecksum(before)
    expect(hc).toBe(0xdd2f)
    const after = hex('cd7a 3285')
    expect(internetChecksum(after)).toBe(0x0000)
    expect(checksumUpdate16(hc, 0x5555, 0x3285)).toBe(0x0000)
    // eqn. 2 (RFC 1141), shown for contrast: HC - ~m - m' in one's complement gives -0 (0xffff)
    // one's-complement subtraction is addition of the complement, with end-around carry
    const sub = (a: number, b: number): number => {
      const s = a + (~b & 0xffff)
      return (s & 0xffff) + (s >>> 16)
    }
    expect(sub(sub(hc, ~0x5555 & 0xffff), 0x3285)).toBe(0xffff)
  })

  it('the -0/+0 edge: when the covered data becomes all zero, eqn. 3 yields 0x0000, recomputation 0xffff', () => {
    // Only possible when nothing else is covered; a TCP pseudo-header always carries protocol 6, so a
    // segment's sum is never zero and the two agree exactly there (the property below).
    const hc = internetChecksum(hex('1234'))
    expect(hc).toBe(0xedcb)
    expect(checksumUpdate16(hc, 0x1234, 0x0000)).toBe(0x0000)
    expect(internetChecksum(hex('0000'))).toBe(0xffff)
  })

  it('eqn. 3 equals full recomputation whenever the new data is not all zero', () => {
    fc.assert(
      fc.property(arbWords, fc.nat(), fc.integer({ min: 0, max: 0xffff }), (data, at, newWord) => {
        const i = (at % (data.length >> 1)) * 2
        const oldWord = (data[i] << 8) | data[i + 1]
        const hc = internetChecksum(data)
        const next = Uint8Array.from(data)
        next[i] = newWord >>> 8
        next[i + 1] = newWord & 0xff
        const updated = checksumUpdate16(hc, oldWord, newWord)
        if (next.some((b) => b !== 0)) expect(updated).toBe(internetChecksum(next))
        else expect([updated, internetChecksum(next)]).toEqual([0x0000, 0xffff])
      }),
      { numRuns: 1000 },
    )
  })

  it('checksumUpdate32 equals recomputation of a TCP-like sum when a 32-bit field changes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 20, maxLength: 80 }).map((b) => b.subarray(0, b.length & ~3)),
        fc.nat(),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        (data, at, newValue, src, dst) => {
          const i = (at % (data.length >> 2)) * 4
          const ph = pseudoHeaderSum(src, dst, IPPROTO_TCP, data.length) // never zero: protocol 6
          const oldValue = ((data[i] << 24) | (data[i + 1] << 16) | (data[i + 2] << 8) | data[i + 3]) >>> 0
          const hc = finishChecksum(onesSum(data, 0, data.length, ph))
          const next = Uint8Array.from(data)
          next[i] = newValue >>> 24
          next[i + 1] = (newValue >>> 16) & 0xff
          next[i + 2] = (newValue >>> 8) & 0xff
          next[i + 3] = newValue & 0xff
          expect(checksumUpdate32(hc, oldValue, newValue)).toBe(finishChecksum(onesSum(next, 0, next.length, ph)))
        },
      ),
      { numRuns: 1000 },
    )
  })
})

describe('internetChecksum short path', () => {
  /** RFC 1071 by the book: big-endian words, end-around carry, complement. */
  function reference(b: Uint8Array, s: number, e: number): number {
    let sum = 0
    for (let i = s; i < e; i += 2) sum += (b[i] << 8) | (i + 1 < e ? b[i + 1] : 0)
    while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000)
    return ~sum & 0xffff
  }
  it('equals RFC 1071 by the book for any slice below and around 128 bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), (b, x, y) => {
        const s = b.length ? x % (b.length + 1) : 0
        const e = s + (b.length - s ? y % (b.length - s + 1) : 0)
        expect(internetChecksum(b, s, e)).toBe(reference(b, s, e))
      }),
      { numRuns: 3000 },
    )
    expect(internetChecksum(new Uint8Array(127).fill(0xff))).toBe(reference(new Uint8Array(127).fill(0xff), 0, 127))
  })
})
