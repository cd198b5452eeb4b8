/**
 * Codec laws shared by every codec test (the dns-packet `testEncoder` idea): for any repr x,
 *  - emit writes exactly len(x) bytes,
 *  - parse(emit(x)) equals x (after the codec's own normalisation),
 *  - emitting at an offset into a poisoned buffer writes the same bytes and touches nothing else.
 * Plus the fuzz law: a decoder given random or mutated bytes returns a value or throws a WireError.
 */
import fc from 'fast-check'
import { expect } from 'vitest'
import { WireError } from '../../src/tcp/errors.js'

/** What a codec test hands to the laws. */
export interface CodecUnderTest<R> {
  /** Generates valid reprs. */
  arbitrary: fc.Arbitrary<R>
  /** Predicted number of bytes `emit` writes. */
  len(repr: R): number
  /** Writes repr at `offset` of `into`, returns the byte count written. */
  emit(repr: R, into: Uint8Array, offset: number): number
  /** Parses exactly the bytes emit wrote. */
  parse(bytes: Uint8Array): R
  /** Maps a repr to a plain comparable value (e.g. Uint8Array → hex); identity by default. */
  normalize?(repr: R): unknown
}

export const POISON = 0xa5

/** Checks the three codec laws for `runs` generated reprs. */
export function checkCodecLaws<R>(codec: CodecUnderTest<R>, runs = 300): void {
  const norm = codec.normalize ?? ((r: R) => r)
  fc.assert(
    fc.property(codec.arbitrary, fc.nat(9), (repr, offset) => {
      const n = codec.len(repr)
      const buf = new Uint8Array(offset + n + 7).fill(POISON)
      const written = codec.emit(repr, buf, offset)
      expect(written).toBe(n)
      // nothing before or after the written range was touched
      for (let i = 0; i < offset; i++) expect(buf[i]).toBe(POISON)
      for (let i = offset + n; i < buf.length; i++) expect(buf[i]).toBe(POISON)
      const bytes = buf.subarray(offset, offset + n)
      expect(norm(codec.parse(bytes))).toEqual(norm(repr))
      // emitting at offset 0 gives the same bytes
      const again = new Uint8Array(n).fill(POISON)
      codec.emit(repr, again, 0)
      expect(toHex(again)).toBe(toHex(bytes))
    }),
    { numRuns: runs },
  )
}

/** Random bytes plus mutations of `seeds`: bit flips, truncations, extension, and 0x00/0xff stamped into fields. */
export function fuzzInputs(seeds: Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const random = fc.uint8Array({ maxLength: 200 })
  if (seeds.length === 0) return random
  const mutated = fc
    .tuple(
      fc.constantFrom(...seeds),
      fc.array(
        fc.oneof(
          fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
          fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
          fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 0x7f, 0x80, 0xff) }),
          fc.record({ op: fc.constant('grow' as const), extra: fc.uint8Array({ maxLength: 16 }) }),
        ),
        { minLength: 1, maxLength: 6 },
      ),
    )
    .map(([seed, ops]) => {
      let b = Uint8Array.from(seed)
      for (const m of ops) {
        if (b.length === 0 && m.op !== 'grow') continue
        if (m.op === 'flip') b[m.at % b.length] ^= 1 << m.bit
        else if (m.op === 'set') b[m.at % b.length] = m.value
        else if (m.op === 'cut') b = b.subarray(0, m.at % (b.length + 1))
        else {
          const g = new Uint8Array(b.length + m.extra.length)
          g.set(b)
          g.set(m.extra, b.length)
          b = g
        }
      }
      return b
    })
  return fc.oneof(random, mutated, mutated)
}

/** Asserts that `decode` returns or throws a WireError for every fuzz input; any other throw fails. */
export function checkFuzz(decode: (bytes: Uint8Array) => unknown, seeds: Uint8Array[], runs = 2000): void {
  fc.assert(
    fc.property(fuzzInputs(seeds), (bytes) => {
      try {
        decode(bytes)
      } catch (e) {
        if (!(e instanceof WireError)) throw e
        expect(e.code).toMatch(/^[A-Z0-9_]+$/)
      }
    }),
    { numRuns: runs },
  )
}

/** Hex of bytes, lowercase, no separators. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

/**
 * Bytes from an annotated fixture: whitespace and `#` comments to end of line are ignored, so a fixture
 * can be laid out one field per line.
 */
export function hex(annotated: string): Uint8Array {
  const clean = annotated.replace(/#[^\n]*/g, '').replace(/\s+/g, '')
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`bad fixture hex: ${clean}`)
  return new Uint8Array(Buffer.from(clean, 'hex'))
}

/**
 * A reference RFC 1071 sum for tests, written out so their expectations do not lean on src/tcp/checksum.ts:
 * `initial` plus the 16-bit big-endian words of b[start, end) (an odd last byte padded with zero), folded
 * but not complemented. A correct checksum over its coverage sums to 0xffff.
 */
export function refOnesSum(b: Uint8Array, start = 0, end = b.length, initial = 0): number {
  let s = initial
  for (let i = start; i < end; i += 2) s += (b[i] << 8) | (i + 1 < end ? b[i + 1] : 0)
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16)
  return s
}

/** The reference checksum to write over b[start, end): the complement of {@link refOnesSum}. */
export function refChecksum(b: Uint8Array, start = 0, end = b.length): number {
  return ~refOnesSum(b, start, end) & 0xffff
}

/** A buffer of n poison bytes, for re-emitting fixtures. */
export function poisoned(n: number): Uint8Array {
  return new Uint8Array(n).fill(POISON)
}

/** The WireError code `f` throws, 'no error', or 'not a WireError' — for table-driven error tests. */
export function codeOf(f: () => unknown): string {
  try {
    f()
    return 'no error'
  } catch (e) {
    return e instanceof WireError ? e.code : 'not a WireError'
  }
}

/**
 * A fixture's round trip: parse `bytes`, check the predicted length, re-emit at `offset` into a poisoned
 * buffer, and compare byte for byte, with the bytes either side left untouched. Returns the parsed repr.
 */
export function reemitFixture<R>(
  bytes: Uint8Array,
  codec: { parse(b: Uint8Array): R; len(r: R): number; emit(r: R, into: Uint8Array, offset: number): number },
  offset = 3,
): R {
  const r = codec.parse(bytes)
  const n = codec.len(r)
  expect(n).toBeLessThanOrEqual(bytes.length)
  const out = poisoned(n + offset + 5)
  expect(codec.emit(r, out, offset)).toBe(n)
  expect(toHex(out.subarray(offset, offset + n))).toBe(toHex(bytes.subarray(0, n)))
  expect([out[offset - 1], out[offset + n]]).toEqual([POISON, POISON])
  return r
}
