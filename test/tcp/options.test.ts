/**
 * TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018): annotated fixtures parsed field by field and re-emitted
 * into poisoned buffers, every error code with truncated and impossible lengths, codec laws and fuzzing.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { WireError, type WireErrorCode } from '../../src/tcp/errors.js'
import {
  emitOptions,
  findOption,
  optionsLen,
  parseOptions,
  type TcpOption,
} from '../../src/tcp/options.js'
import { seq, type Seq } from '../../src/tcp/seq.js'
import { arbOption } from './arbitraries.js'
import { checkCodecLaws, checkFuzz, hex, poisoned, POISON, toHex } from '../helpers/codecLaws.js'

// ---------------------------------------------------------------------------------------------------------
// Fixtures: option spaces as Linux and others send them.

/** Linux 6.x SYN: MSS, SACK-permitted, timestamps, NOP, window scale (20 bytes, no padding needed). */
const LINUX_SYN = hex(`
  02 04 05 b4                 # MSS, len 4, 1460
  04 02                       # SACK-permitted, len 2
  08 0a 0a 1b 2c 3d 00 00 00 00 # timestamps, len 10, TSval 0x0a1b2c3d, TSecr 0
  01                          # NOP
  03 03 07                    # window scale, len 3, shift 7
`)
const LINUX_SYN_OPTS: TcpOption[] = [
  { kind: 'mss', value: 1460 },
  { kind: 'sackPermitted' },
  { kind: 'timestamp', value: 0x0a1b2c3d, echo: 0 },
  { kind: 'nop' },
  { kind: 'wscale', shift: 7 },
]

/** Linux ACK carrying one SACK block after the timestamps (NOPs align each option to 4 bytes). */
const SACK_1 = hex(`
  01 01                       # NOP NOP
  08 0a 0a 1b 2c 60 11 22 33 50 # timestamps, TSval 0x0a1b2c60, TSecr 0x11223350
  01 01                       # NOP NOP
  05 0a                       # SACK, len 10: one block
  5e 6f 80 82 5e 6f 86 82     # left edge 0x5e6f8082, right edge 0x5e6f8682
`)
const SACK_1_OPTS: TcpOption[] = [
  { kind: 'nop' },
  { kind: 'nop' },
  { kind: 'timestamp', value: 0x0a1b2c60, echo: 0x11223350 },
  { kind: 'nop' },
  { kind: 'nop' },
  { kind: 'sack', blocks: [[seq(0x5e6f8082), seq(0x5e6f8682)]] },
]

/** Four SACK blocks (the RFC 2018 maximum, only without timestamps); the last straddles 2^32. */
const SACK_4 = hex(`
  01 01                       # NOP NOP
  05 22                       # SACK, len 34: four blocks
  5e 6f 80 82 5e 6f 86 82     # block 1
  5e 6f 90 82 5e 6f 96 82     # block 2
  5e 6f a0 82 5e 6f a6 82     # block 3
  ff ff fc 00 00 00 04 00     # block 4: 0xfffffc00 .. 0x00000400, across the wrap
`)
const SACK_4_OPTS: TcpOption[] = [
  { kind: 'nop' },
  { kind: 'nop' },
  {
    kind: 'sack',
    blocks: [
      [seq(0x5e6f8082), seq(0x5e6f8682)],
      [seq(0x5e6f9082), seq(0x5e6f9682)],
      [seq(0x5e6fa082), seq(0x5e6fa682)],
      [seq(0xfffffc00), seq(0x00000400)],
    ],
  },
]

/** Kind 34 (TCP Fast Open cookie, RFC 7413) is not one we decode: kept raw so it re-emits byte for byte. */
const UNKNOWN_34 = hex(`
  02 04 05 b4                 # MSS 1460
  01 01                       # NOP NOP
  22 0a                       # kind 34, len 10
  a1 b2 c3 d4 e5 f6 07 18     # 8 bytes of cookie
`)

/** Window scale then EOL and zero padding (RFC 9293 §3.2: the list ends at EOL). */
const EOL_PADDED = hex(`
  02 04 05 b4                 # MSS 1460
  03 03 07                    # window scale 7
  00                          # EOL
  00 00 00 00                 # padding
`)

const FIXTURES: Array<{ name: string; bytes: Uint8Array; options: TcpOption[]; emitted?: number }> = [
  { name: 'Linux SYN', bytes: LINUX_SYN, options: LINUX_SYN_OPTS },
  { name: 'SACK, 1 block', bytes: SACK_1, options: SACK_1_OPTS },
  { name: 'SACK, 4 blocks', bytes: SACK_4, options: SACK_4_OPTS },
  {
    name: 'unknown kind 34',
    bytes: UNKNOWN_34,
    options: [
      { kind: 'mss', value: 1460 },
      { kind: 'nop' },
      { kind: 'nop' },
      { kind: 'unknown', type: 34, data: hex('a1b2c3d4e5f60718') },
    ],
  },
  {
    name: 'EOL with padding',
    bytes: EOL_PADDED,
    options: [{ kind: 'mss', value: 1460 }, { kind: 'wscale', shift: 7 }, { kind: 'eol' }],
    emitted: 8, // emitOptions writes up to and including EOL; the padding is the header's business
  },
]

/** Makes unknown-option data comparable with toEqual (a subarray and a fresh array differ in buffer). */
function plain(options: TcpOption[]): unknown[] {
  return options.map((o) => (o.kind === 'unknown' ? { kind: o.kind, type: o.type, data: toHex(o.data) } : o))
}

function expectWireError(f: () => unknown, code: WireErrorCode, message?: RegExp): void {
  let caught: unknown
  try {
    f()
  } catch (e) {
    caught = e
  }
  expect(caught).toBeInstanceOf(WireError)
  expect((caught as WireError).code).toBe(code)
  if (message) expect((caught as WireError).message).toMatch(message)
}

describe('parseOptions: fixtures', () => {
  it('Linux SYN, field by field', () => {
    const o = parseOptions(LINUX_SYN)
    expect(o).toHaveLength(5)
    expect(o[0]).toEqual({ kind: 'mss', value: 1460 })
    expect(o[1]).toEqual({ kind: 'sackPermitted' })
    expect(o[2]).toEqual({ kind: 'timestamp', value: 0x0a1b2c3d, echo: 0 })
    expect(o[3]).toEqual({ kind: 'nop' })
    expect(o[4]).toEqual({ kind: 'wscale', shift: 7 })
  })

  it('SACK blocks keep their 32-bit edges, including across 2^32', () => {
    const one = parseOptions(SACK_1)
    expect(findOption(one, 'sack')?.blocks).toEqual([[0x5e6f8082, 0x5e6f8682]])
    const four = parseOptions(SACK_4)
    const sack = findOption(four, 'sack')
    expect(sack?.blocks).toHaveLength(4)
    expect(sack?.blocks[3]).toEqual([0xfffffc00, 0x400])
  })

  it('unknown kind 34 keeps its data as a subarray of the input (no copy)', () => {
    const o = parseOptions(UNKNOWN_34)
    const u = o[3]
    expect(u.kind).toBe('unknown')
    if (u.kind !== 'unknown') throw new Error('unreachable')
    expect(u.type).toBe(34)
    expect(toHex(u.data)).toBe('a1b2c3d4e5f60718')
    expect(u.data.buffer).toBe(UNKNOWN_34.buffer)
    expect(u.data.byteOffset).toBe(UNKNOWN_34.byteOffset + 8)
  })

  it('EOL ends the list; whatever follows is padding and ignored, even if not zero', () => {
    expect(parseOptions(EOL_PADDED)).toEqual([{ kind: 'mss', value: 1460 }, { kind: 'wscale', shift: 7 }, { kind: 'eol' }])
    // garbage after EOL, even a would-be overrun, is not parsed
    expect(parseOptions(hex('00 08 0a ff'))).toEqual([{ kind: 'eol' }])
  })

  it('empty option space and NOP-only', () => {
    expect(parseOptions(new Uint8Array(0))).toEqual([])
    expect(parseOptions(hex('01 01 01'))).toEqual([{ kind: 'nop' }, { kind: 'nop' }, { kind: 'nop' }])
  })

  it('window scale above 14 and MSS 0 parse as sent (clamping is the receiver\'s policy, RFC 7323 §2.3)', () => {
    expect(parseOptions(hex('03 03 ff 02 04 00 00'))).toEqual([
      { kind: 'wscale', shift: 255 },
      { kind: 'mss', value: 0 },
    ])
  })

  it.each(FIXTURES)('$name: parses to the expected list and re-emits byte for byte into a poisoned buffer', (f) => {
    const parsed = parseOptions(f.bytes)
    expect(plain(parsed)).toEqual(plain(f.options))
    const n = f.emitted ?? f.bytes.length
    expect(optionsLen(parsed)).toBe(n)
    const buf = poisoned(n + 6)
    expect(emitOptions(parsed, buf, 3)).toBe(n)
    expect(toHex(buf.subarray(3, 3 + n))).toBe(toHex(f.bytes.subarray(0, n)))
    expect(toHex(buf.subarray(0, 3))).toBe('a5a5a5')
    expect(toHex(buf.subarray(3 + n))).toBe('a5a5a5')
    // and from the hand-written repr too
    const again = poisoned(n)
    expect(emitOptions(f.options, again, 0)).toBe(n)
    expect(toHex(again)).toBe(toHex(f.bytes.subarray(0, n)))
  })
})

describe('parseOptions: errors', () => {
  it('TCP_ERR_BAD_OPTION_LENGTH when the length byte is missing', () => {
    expectWireError(() => parseOptions(hex('02')), 'TCP_ERR_BAD_OPTION_LENGTH', /MSS option at option offset 0: length byte missing/)
    expectWireError(() => parseOptions(hex('01 01 08')), 'TCP_ERR_BAD_OPTION_LENGTH', /timestamps option at option offset 2/)
    expectWireError(() => parseOptions(hex('02 04 05 b4 22')), 'TCP_ERR_BAD_OPTION_LENGTH', /kind 34 .* offset 4/)
  })

  it('TCP_ERR_BAD_OPTION_LENGTH when the length is below 2 (it counts kind and length)', () => {
    expectWireError(() => parseOptions(hex('22 00')), 'TCP_ERR_BAD_OPTION_LENGTH', /kind 34 .*length 0 < 2/)
    expectWireError(() => parseOptions(hex('01 fe 01 00')), 'TCP_ERR_BAD_OPTION_LENGTH', /kind 254 option at option offset 1: length 1 < 2/)
    expectWireError(() => parseOptions(hex('08 01 00 00')), 'TCP_ERR_BAD_OPTION_LENGTH', /timestamps/)
  })

  it.each([
    ['MSS len 5', '02 05 05 b4 00', /MSS option at option offset 0: length 5, expected 4/],
    ['MSS len 3', '02 03 05', /MSS .*length 3, expected 4/],
    ['window scale len 4', '03 04 07 00', /window-scale .*length 4, expected 3/],
    ['window scale len 2', '01 03 02', /window-scale option at option offset 1: length 2, expected 3/],
    ['SACK-permitted len 3', '04 03 00', /SACK-permitted .*length 3, expected 2/],
    ['timestamps len 9', '08 09 00 00 00 00 00 00 00', /timestamps .*length 9, expected 10/],
    ['SACK len 2 (no blocks)', '05 02', /SACK .*length 2, expected 2 \+ 8n/],
    ['SACK len 11', '05 0b' + ' 00'.repeat(9), /SACK .*length 11/],
    ['SACK len 42 (five blocks cannot fit)', '05 2a' + ' 00'.repeat(38), /SACK .*length 42/],
  ])('TCP_ERR_BAD_OPTION_LENGTH for a known kind with the wrong length: %s', (_name, bytes, message) => {
    expectWireError(() => parseOptions(hex(bytes)), 'TCP_ERR_BAD_OPTION_LENGTH', message)
  })

  it.each([
    ['MSS cut short', '02 04 05', /MSS option at option offset 0: length 4 runs 1 byte/],
    ['timestamps cut short', '01 08 0a 00 00 00', /timestamps option at option offset 1: length 10 runs 5 byte/],
    ['SACK block cut short', '05 0a 00 00 00 00 00 00 00', /SACK .*runs 1 byte/],
    ['unknown kind running past the end', '22 0a a1 b2', /kind 34 option at option offset 0: length 10 runs 6 byte/],
    ['unknown kind of length 255', 'fd ff 00', /kind 253 .*length 255/],
  ])('TCP_ERR_OPTION_OVERRUN when an option runs past the end: %s', (_name, bytes, message) => {
    expectWireError(() => parseOptions(hex(bytes)), 'TCP_ERR_OPTION_OVERRUN', message)
  })

  it('every truncation of every fixture parses or throws a length/overrun error, never anything else', () => {
    for (const f of FIXTURES) {
      for (let n = 0; n <= f.bytes.length; n++) {
        try {
          parseOptions(f.bytes.subarray(0, n))
        } catch (e) {
          expect(e).toBeInstanceOf(WireError)
          expect(['TCP_ERR_BAD_OPTION_LENGTH', 'TCP_ERR_OPTION_OVERRUN']).toContain((e as WireError).code)
        }
      }
    }
    // cutting the Linux SYN inside the timestamps is an overrun; right after a kind byte, a missing length
    expectWireError(() => parseOptions(LINUX_SYN.subarray(0, 10)), 'TCP_ERR_OPTION_OVERRUN')
    expectWireError(() => parseOptions(LINUX_SYN.subarray(0, 7)), 'TCP_ERR_BAD_OPTION_LENGTH')
  })
})

describe('emitOptions / optionsLen', () => {
  it('optionsLen counts unpadded bytes', () => {
    expect(optionsLen([])).toBe(0)
    expect(optionsLen(LINUX_SYN_OPTS)).toBe(20)
    expect(optionsLen([{ kind: 'wscale', shift: 0 }])).toBe(3)
    expect(optionsLen(SACK_4_OPTS)).toBe(36)
    expect(optionsLen([{ kind: 'unknown', type: 99, data: new Uint8Array(5) }, { kind: 'eol' }])).toBe(8)
  })

  it.each<[string, TcpOption]>([
    ['MSS -1', { kind: 'mss', value: -1 }],
    ['MSS 65536', { kind: 'mss', value: 65536 }],
    ['MSS 1.5', { kind: 'mss', value: 1.5 }],
    ['MSS NaN', { kind: 'mss', value: NaN }],
    ['shift 256', { kind: 'wscale', shift: 256 }],
    ['shift -1', { kind: 'wscale', shift: -1 }],
    ['SACK with no blocks', { kind: 'sack', blocks: [] }],
    ['SACK with 5 blocks', { kind: 'sack', blocks: Array.from({ length: 5 }, (): [Seq, Seq] => [seq(1), seq(2)]) }],
    ['SACK edge 2^32', { kind: 'sack', blocks: [[seq(1), 2 ** 32 as Seq]] }],
    ['timestamp -1', { kind: 'timestamp', value: -1, echo: 0 }],
    ['timestamp echo 2^32', { kind: 'timestamp', value: 0, echo: 2 ** 32 }],
    ['unknown data of 39 bytes', { kind: 'unknown', type: 99, data: new Uint8Array(39) }],
    ['unknown type 256', { kind: 'unknown', type: 256, data: new Uint8Array(0) }],
    ['unknown type -1', { kind: 'unknown', type: -1, data: new Uint8Array(0) }],
  ])('rejects %s with TCP_ERR_BAD_FIELD and writes nothing', (_name, bad) => {
    const buf = poisoned(64)
    expectWireError(() => emitOptions([{ kind: 'nop' }, bad], buf, 0), 'TCP_ERR_BAD_FIELD', /option 1/)
    expect(buf.every((b) => b === POISON)).toBe(true)
  })

  it('accepts the extremes', () => {
    const buf = poisoned(64)
    const n = emitOptions(
      [
        { kind: 'mss', value: 65535 },
        { kind: 'wscale', shift: 255 },
        { kind: 'timestamp', value: 0xffffffff, echo: 0xffffffff },
        { kind: 'unknown', type: 255, data: new Uint8Array(38).fill(7) },
      ],
      buf,
      0,
    )
    expect(n).toBe(4 + 3 + 10 + 40)
    expect(toHex(buf.subarray(0, 17))).toBe('0204ffff' + '0303ff' + '080affffffffffffffff')
    expect(buf[17]).toBe(255)
    expect(buf[18]).toBe(40)
  })

  it('refuses a buffer that is too small, or a bad offset, with ERR_BAD_ARGUMENT and writes nothing', () => {
    const buf = poisoned(19)
    expectWireError(() => emitOptions(LINUX_SYN_OPTS, buf, 0), 'ERR_BAD_ARGUMENT')
    expectWireError(() => emitOptions(LINUX_SYN_OPTS, poisoned(30), 11), 'ERR_BAD_ARGUMENT')
    expectWireError(() => emitOptions(LINUX_SYN_OPTS, poisoned(30), -1), 'ERR_BAD_ARGUMENT')
    expectWireError(() => emitOptions(LINUX_SYN_OPTS, poisoned(30), 0.5), 'ERR_BAD_ARGUMENT')
    expect(buf.every((b) => b === POISON)).toBe(true)
    expect(emitOptions(LINUX_SYN_OPTS, poisoned(30), 10)).toBe(20)
  })

  it('findOption returns the first option of a kind, typed', () => {
    const opts: TcpOption[] = [...LINUX_SYN_OPTS, { kind: 'mss', value: 536 }]
    const mss = findOption(opts, 'mss')
    // the type narrows: .value is accessible without a cast
    expect(mss?.value).toBe(1460)
    expect(findOption(opts, 'wscale')?.shift).toBe(7)
    expect(findOption(opts, 'timestamp')?.value).toBe(0x0a1b2c3d)
    expect(findOption(opts, 'sack')).toBeUndefined()
    expect(findOption([], 'nop')).toBeUndefined()
  })
})

// ---------------------------------------------------------------------------------------------------------
// Laws and fuzzing

const arbOptionNoEol = arbOption(38)

const arbOptionList: fc.Arbitrary<TcpOption[]> = fc
  .tuple(fc.array(arbOptionNoEol, { maxLength: 8 }), fc.boolean())
  .map(([list, eol]) => (eol ? [...list, { kind: 'eol' } as TcpOption] : list))

describe('options: codec laws and fuzzing', () => {
  it('decode(encode(x)) = x, predicted length = written length, offsets work', () => {
    checkCodecLaws<TcpOption[]>(
      {
        arbitrary: arbOptionList,
        len: optionsLen,
        emit: emitOptions,
        parse: parseOptions,
        normalize: plain,
      },
      500,
    )
  })

  it('parseOptions returns or throws a WireError on random and mutated option spaces', () => {
    checkFuzz(parseOptions, FIXTURES.map((f) => f.bytes), 2500)
  })
})
