/**
 * Issue 15: the tolerant option parser (what it keeps, where it stops, the strict parser unchanged) and the
 * named options (TFO, exp-TFO, MD5, MPTCP, UTO, TCP-AO, EDO): annotated fixtures and the codec laws.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  emitOptions,
  nameOption,
  namedOptionLen,
  namedToOption,
  parseOptionRangeTolerant,
  parseOptions,
  type NamedOption,
} from '../../src/tcp/options.js'
import { parseTcp } from '../../src/tcp/segment.js'
import { WireError } from '../../src/tcp/errors.js'
import { checkCodecLaws, hex, toHex } from '../helpers/codecLaws.js'

const BAD_TS = hex(`
  02 04 05 b4   # MSS 1460
  01 01         # NOP NOP
  08 02         # timestamps with length 2 (must be 10)
  00 00 00 00 00 00 00 00 # what would have been its data
`)

describe('parseOptionRangeTolerant', () => {
  it('keeps the options before a malformed one and reports it with the strict code', () => {
    const r = parseOptionRangeTolerant(BAD_TS, 0, BAD_TS.length, 20, 'segment')
    expect(r.options).toEqual([{ kind: 'mss', value: 1460 }, { kind: 'nop' }, { kind: 'nop' }])
    expect(r.malformed).toEqual({
      kind: 'malformed', code: 'TCP_ERR_BAD_OPTION_LENGTH', type: 8, offset: 26, length: 2,
      message: 'timestamps option at segment offset 26: length 2, expected 10',
    })
    expect(() => parseOptions(BAD_TS)).toThrow(WireError)
  })

  it.each([
    ['length byte missing', hex('01 22'), 'TCP_ERR_BAD_OPTION_LENGTH', undefined],
    ['length below 2', hex('22 01 00 00'), 'TCP_ERR_BAD_OPTION_LENGTH', 1],
    ['overrun', hex('22 0a 01 02'), 'TCP_ERR_OPTION_OVERRUN', 10],
  ])('%s', (_name, bytes, code, length) => {
    const r = parseOptionRangeTolerant(bytes, 0, bytes.length, 0, 'option')
    expect(r.malformed?.code).toBe(code)
    expect(r.malformed?.length).toBe(length)
    expect(r.malformed?.type).toBe(0x22)
  })

  it('parseTcp: strict by default, tolerant on request', () => {
    const seg = hex(`
      00 01 00 02  00 00 00 00  00 00 00 00  # ports 1 > 2, seq 0, ack 0
      80 02 20 00  00 00 00 00               # doff 8 (32 bytes), SYN, window 8192, cksum 0, urg 0
    `)
    const bytes = new Uint8Array([...seg, ...BAD_TS.subarray(0, 12)])
    expect(() => parseTcp(bytes)).toThrow(/timestamps option at segment offset 26/)
    const t = parseTcp(bytes, undefined, { tolerantOptions: true })
    expect(t.options).toHaveLength(3)
    expect(t.optionError?.offset).toBe(26)
    const good = new Uint8Array([...seg.subarray(0, 20), ...hex('02 04 05 b4  01 01 01 00 # MSS 1460, NOPs, EOL')])
    good[12] = 0x70 // data offset 7: 28 bytes
    const g = parseTcp(good, undefined, { tolerantOptions: true })
    expect('optionError' in g).toBe(false)
    expect(g.options).toEqual(parseTcp(good).options)
  })
})

/** Each named option as bytes on the wire, with its fields. */
const NAMED: Array<[string, Uint8Array, NamedOption]> = [
  ['TFO cookie', hex('22 06  01 02 03 04 # kind 34, len 6, cookie'), { kind: 'tfo', type: 34, cookie: hex('01020304') }],
  ['TFO request', hex('22 02 # kind 34, len 2, no cookie'), { kind: 'tfo', type: 34, cookie: new Uint8Array(0) }],
  ['exp TFO', hex('fe 08  f9 89  aa bb cc dd # kind 254, len 8, magic 0xF989, cookie'), { kind: 'tfo', type: 254, cookie: hex('aabbccdd') }],
  ['MD5', hex('13 12  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f # kind 19, len 18, digest'), { kind: 'md5', digest: hex('000102030405060708090a0b0c0d0e0f') }],
  ['MPTCP', hex('1e 05  01  01 02 # kind 30, len 5, subtype 0 flags 1, data'), { kind: 'mptcp', subtype: 0, flags: 1, data: hex('0102') }],
  ['UTO', hex('1c 04  80 1e # kind 28, len 4, G=1 (minutes), 30'), { kind: 'uto', minutes: true, timeout: 30 }],
  ['TCP-AO', hex('1d 08  01 02  aa bb cc dd # kind 29, len 8, keyid 1, rnextkeyid 2, MAC'), { kind: 'tcpAo', keyId: 1, rNextKeyId: 2, mac: hex('aabbccdd') }],
  ['EDO', hex('fd 08  0e d0  00 14  00 28 # kind 253, len 8, ExID 0x0ED0, header 20, segment 40'), { kind: 'edo', type: 253, headerLength: 20, segmentLength: 40 }],
  ['EDO supported', hex('fd 04  0e d0 # kind 253, len 4, ExID'), { kind: 'edo', type: 253 }],
]

describe('named options', () => {
  it.each(NAMED)('%s: parsed to its fields and written back byte for byte', (_n, wire, named) => {
    const [o] = parseOptions(wire)
    expect(nameOption(o)).toEqual(named)
    const back = new Uint8Array(wire.length).fill(0xa5)
    expect(emitOptions([namedToOption(named)], back, 0)).toBe(wire.length)
    expect(toHex(back)).toBe(toHex(wire))
    expect(namedOptionLen(named)).toBe(wire.length)
  })

  it.each([
    ['TFO cookie of 2 bytes', hex('22 04 0a 0b')],
    ['MD5 of 4 bytes', hex('13 06 00 00 00 00')],
    ['254 without the magic', hex('fe 06 12 34 aa bb')],
  ])('%s stays unnamed', (_n, wire) => {
    expect(nameOption(parseOptions(wire)[0])).toBeUndefined()
  })

  it('refuses fields that cannot be written', () => {
    expect(() => namedToOption({ kind: 'tfo', type: 34, cookie: new Uint8Array(3) })).toThrow(/4\.\.16/)
    expect(() => namedToOption({ kind: 'uto', minutes: false, timeout: 0x8000 })).toThrow(/0\.\.32767/)
    expect(() => namedToOption({ kind: 'md5', digest: new Uint8Array(15) })).toThrow(/expected 16/)
  })

  const bytesArb = (min: number, max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max })
  const arbNamed: fc.Arbitrary<NamedOption> = fc.oneof(
    fc.record({ kind: fc.constant('tfo' as const), type: fc.constantFrom(34 as const, 254 as const), cookie: fc.oneof(bytesArb(0, 0), bytesArb(4, 16)) }),
    fc.record({ kind: fc.constant('md5' as const), digest: bytesArb(16, 16) }),
    fc.record({ kind: fc.constant('mptcp' as const), subtype: fc.nat(15), flags: fc.nat(15), data: bytesArb(0, 30) }),
    fc.record({ kind: fc.constant('uto' as const), minutes: fc.boolean(), timeout: fc.nat(0x7fff) }),
    fc.record({ kind: fc.constant('tcpAo' as const), keyId: fc.nat(255), rNextKeyId: fc.nat(255), mac: bytesArb(0, 30) }),
    fc.record({ kind: fc.constant('edo' as const), type: fc.constantFrom(253 as const, 254 as const), headerLength: fc.nat(0xffff), segmentLength: fc.nat(0xffff) }),
    fc.record({ kind: fc.constant('edo' as const), type: fc.constantFrom(253 as const, 254 as const) }),
  )

  it('obeys the codec laws', () => {
    checkCodecLaws<NamedOption>({
      arbitrary: arbNamed,
      len: namedOptionLen,
      emit: (n, into, offset) => emitOptions([namedToOption(n)], into, offset),
      parse: (bytes) => nameOption(parseOptions(bytes)[0])!,
      normalize: (n) => JSON.parse(JSON.stringify(n, (_k, v) => (v instanceof Uint8Array ? toHex(v) : v))),
    })
  })
})
