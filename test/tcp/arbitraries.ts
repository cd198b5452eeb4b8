/** fast-check arbitraries shared by the TCP codec tests. */
import fc from 'fast-check'
import type { TcpOption } from '../../src/tcp/options.js'
import { seq } from '../../src/tcp/seq.js'

/** Sequence numbers, with the wrap-point values drawn often. */
export const arbSeq = fc
  .oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 0xffffffff, 0x7fffffff, 0x80000000))
  .map(seq)
/** 16-bit fields, extremes drawn often. */
export const arbU16 = fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0, 0xffff))
/** 32-bit fields, extremes drawn often. */
export const arbU32 = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 0xffffffff))
/** Kinds the codec decodes; an `unknown` with one of these would parse back as the known option. */
export const KNOWN_KINDS = new Set([0, 1, 2, 3, 4, 5, 8])

/** Any option but EOL (which may only end a list); unknown options carry up to `unknownMax` data bytes. */
export function arbOption(unknownMax: number): fc.Arbitrary<TcpOption> {
  return fc.oneof(
    fc.constant<TcpOption>({ kind: 'nop' }),
    fc.integer({ min: 0, max: 0xffff }).map((value): TcpOption => ({ kind: 'mss', value })),
    fc.integer({ min: 0, max: 255 }).map((shift): TcpOption => ({ kind: 'wscale', shift })),
    fc.constant<TcpOption>({ kind: 'sackPermitted' }),
    fc.array(fc.tuple(arbSeq, arbSeq), { minLength: 1, maxLength: 4 }).map((blocks): TcpOption => ({ kind: 'sack', blocks })),
    fc.tuple(arbU32, arbU32).map(([value, echo]): TcpOption => ({ kind: 'timestamp', value, echo })),
    fc
      .tuple(fc.integer({ min: 0, max: 255 }).filter((t) => !KNOWN_KINDS.has(t)), fc.uint8Array({ maxLength: unknownMax }))
      .map(([type, data]): TcpOption => ({ kind: 'unknown', type, data })),
  )
}
