/**
 * The TCP segment codec (RFC 9293 §3.1). Fixtures were produced by scapy 2.5 (checksums included) and are
 * laid out one field per line; each is parsed field by field, verified against its pseudo-header, and
 * re-emitted into a poisoned buffer. Then every error code, the view's setters, codec laws and fuzzing.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { checksumUpdate16, checksumUpdate32, type PseudoHeader } from '../../src/tcp/checksum.js'
import { WireError, type WireErrorCode } from '../../src/tcp/errors.js'
import { optionsLen, type TcpOption } from '../../src/tcp/options.js'
import {
  ACK,
  badChecksum,
  CHECKSUM,
  DATA_OFFSET,
  DST_PORT,
  emitTcp,
  FLAGS,
  formatFlags,
  parseFlags,
  parseTcp,
  SEQ,
  SRC_PORT,
  tcpHeaderLen,
  tcpLen,
  TcpFlags,
  TcpView,
  URGENT,
  WINDOW,
  type TcpParsed,
  type TcpRepr,
} from '../../src/tcp/segment.js'
import { seq, type Seq } from '../../src/tcp/seq.js'
import { arbOption, arbSeq, arbU16 } from './arbitraries.js'
import { checkCodecLaws, checkFuzz, hex, poisoned, POISON, toHex } from '../helpers/codecLaws.js'

// ---------------------------------------------------------------------------------------------------------
// Addresses (RFC 5737 / RFC 3849 documentation ranges where possible)

const CLIENT4 = hex('c0a8010a') // 192.168.1.10
const SERVER4 = hex('5db8d822') // 93.184.216.34
const C2S: PseudoHeader = { src: CLIENT4, dst: SERVER4 }
const S2C: PseudoHeader = { src: SERVER4, dst: CLIENT4 }
const V6: PseudoHeader = {
  src: hex('20010db8000000000000000000000001'), // 2001:db8::1
  dst: hex('20010db8000000000000000000000002'), // 2001:db8::2
}
const LO_A: PseudoHeader = { src: hex('0a000001'), dst: hex('0a000002') } // 10.0.0.1 → 10.0.0.2
const LO_B: PseudoHeader = { src: hex('0a000002'), dst: hex('0a000001') }

// ---------------------------------------------------------------------------------------------------------
// Fixtures

const SYN = hex(`
  c8 22                       # source port 51234
  00 50                       # destination port 80
  b1 d2 e3 f4                 # sequence number
  00 00 00 00                 # acknowledgment number (ACK not set)
  a0                          # data offset 10 words (40 bytes), reserved 0
  02                          # flags: SYN
  fa f0                       # window 64240
  c0 ef                       # checksum
  00 00                       # urgent pointer
  02 04 05 b4                 # MSS 1460
  04 02                       # SACK-permitted
  08 0a 0a 1b 2c 3d 00 00 00 00 # timestamps TSval 0x0a1b2c3d TSecr 0
  01                          # NOP
  03 03 07                    # window scale 7
`)

const SYN_ACK = hex(`
  00 50                       # source port 80
  c8 22                       # destination port 51234
  5e 6f 70 81                 # sequence number
  b1 d2 e3 f5                 # acknowledgment number: the SYN's seq + 1
  a0                          # data offset 10 words
  12                          # flags: SYN ACK
  fe 88                       # window 65160
  a9 ef                       # checksum
  00 00                       # urgent pointer
  02 04 05 b4                 # MSS 1460
  04 02                       # SACK-permitted
  08 0a 11 22 33 44 0a 1b 2c 3d # timestamps TSval 0x11223344 TSecr 0x0a1b2c3d
  01                          # NOP
  03 03 07                    # window scale 7
`)

const DATA_V6 = hex(`
  c8 22                       # source port 51234
  00 50                       # destination port 80
  b1 d2 e3 f5                 # sequence number
  5e 6f 70 82                 # acknowledgment number
  80                          # data offset 8 words (32 bytes)
  18                          # flags: PSH ACK
  01 f6                       # window 502
  2d 6a                       # checksum (IPv6 pseudo-header)
  00 00                       # urgent pointer
  01 01                       # NOP NOP
  08 0a 0a 1b 2c 50 11 22 33 44 # timestamps
  68 65 6c 6c 6f 0a           # payload "hello\\n"
`)

const SACK_1 = hex(`
  c8 22 00 50                 # ports 51234 → 80
  b1 d2 e3 fb                 # sequence number
  5e 6f 70 82                 # acknowledgment number
  b0                          # data offset 11 words (44 bytes)
  10                          # flags: ACK
  01 f6                       # window 502
  db 1e                       # checksum
  00 00                       # urgent pointer
  01 01                       # NOP NOP
  08 0a 0a 1b 2c 60 11 22 33 50 # timestamps
  01 01                       # NOP NOP
  05 0a 5e 6f 80 82 5e 6f 86 82 # SACK: one block
`)

const SACK_4 = hex(`
  c8 22 00 50                 # ports 51234 → 80
  b1 d2 e3 fb                 # sequence number
  5e 6f 70 82                 # acknowledgment number
  e0                          # data offset 14 words (56 bytes)
  10                          # flags: ACK
  01 f6                       # window 502
  47 2a                       # checksum
  00 00                       # urgent pointer
  01 01                       # NOP NOP
  05 22                       # SACK, len 34: four blocks
  5e 6f 80 82 5e 6f 86 82     # block 1
  5e 6f 90 82 5e 6f 96 82     # block 2
  5e 6f a0 82 5e 6f a6 82     # block 3
  ff ff fc 00 00 00 04 00     # block 4, across 2^32
`)

const TFO_SYN = hex(`
  c8 22                       # source port 51234
  01 bb                       # destination port 443
  b1 d2 e3 f4                 # sequence number
  00 00 00 00                 # acknowledgment number
  90                          # data offset 9 words (36 bytes)
  02                          # flags: SYN
  fa f0                       # window 64240
  a0 55                       # checksum
  00 00                       # urgent pointer
  02 04 05 b4                 # MSS 1460
  01 01                       # NOP NOP
  22 0a a1 b2 c3 d4 e5 f6 07 18 # kind 34 (Fast Open cookie), kept as unknown
`)

const EOL_SYN = hex(`
  c8 22 00 50                 # ports 51234 → 80
  b1 d2 e3 f4                 # sequence number
  00 00 00 00                 # acknowledgment number
  70                          # data offset 7 words (28 bytes)
  02                          # flags: SYN
  fa f0                       # window 64240
  2d 67                       # checksum
  00 00                       # urgent pointer
  02 04 05 b4                 # MSS 1460
  03 03 07                    # window scale 7
  00                          # EOL (also the padding to 32 bits)
`)

const URGENT_DATA = hex(`
  00 01                       # source port 1
  ff ff                       # destination port 65535
  ff ff ff ff                 # sequence number 2^32 - 1
  00 00 00 01                 # acknowledgment number
  50                          # data offset 5 words: no options
  f8                          # flags: PSH ACK URG ECE CWR
  00 00                       # window 0
  d6 7f                       # checksum
  00 03                       # urgent pointer 3
  61 62 63                    # payload "abc"
`)

const RST = hex(`
  ff ff 00 01                 # ports 65535 → 1
  00 00 00 01                 # sequence number
  00 00 00 00                 # acknowledgment number
  50                          # data offset 5
  04                          # flags: RST
  00 00                       # window 0
  9b dc                       # checksum
  00 00                       # urgent pointer
`)

interface Fixture {
  name: string
  bytes: Uint8Array
  pseudo: PseudoHeader
  repr: TcpRepr
  checksum: number
  dataOffset: number
}

const NO_PAYLOAD = new Uint8Array(0)
const LINUX_SYN_OPTS = (value: number, echo: number): TcpOption[] => [
  { kind: 'mss', value: 1460 },
  { kind: 'sackPermitted' },
  { kind: 'timestamp', value, echo },
  { kind: 'nop' },
  { kind: 'wscale', shift: 7 },
]

const FIXTURES: Fixture[] = [
  {
    name: 'Linux SYN',
    bytes: SYN,
    pseudo: C2S,
    checksum: 0xc0ef,
    dataOffset: 10,
    repr: {
      srcPort: 51234,
      dstPort: 80,
      seq: seq(0xb1d2e3f4),
      ack: seq(0),
      flags: TcpFlags.SYN,
      window: 64240,
      urgent: 0,
      options: LINUX_SYN_OPTS(0x0a1b2c3d, 0),
      payload: NO_PAYLOAD,
    },
  },
  {
    name: 'SYN+ACK',
    bytes: SYN_ACK,
    pseudo: S2C,
    checksum: 0xa9ef,
    dataOffset: 10,
    repr: {
      srcPort: 80,
      dstPort: 51234,
      seq: seq(0x5e6f7081),
      ack: seq(0xb1d2e3f5),
      flags: TcpFlags.SYN | TcpFlags.ACK,
      window: 65160,
      urgent: 0,
      options: LINUX_SYN_OPTS(0x11223344, 0x0a1b2c3d),
      payload: NO_PAYLOAD,
    },
  },
  {
    name: 'data segment over IPv6',
    bytes: DATA_V6,
    pseudo: V6,
    checksum: 0x2d6a,
    dataOffset: 8,
    repr: {
      srcPort: 51234,
      dstPort: 80,
      seq: seq(0xb1d2e3f5),
      ack: seq(0x5e6f7082),
      flags: TcpFlags.PSH | TcpFlags.ACK,
      window: 502,
      urgent: 0,
      options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 0x0a1b2c50, echo: 0x11223344 }],
      payload: new TextEncoder().encode('hello\n'),
    },
  },
  {
    name: 'ACK with one SACK block',
    bytes: SACK_1,
    pseudo: C2S,
    checksum: 0xdb1e,
    dataOffset: 11,
    repr: {
      srcPort: 51234,
      dstPort: 80,
      seq: seq(0xb1d2e3fb),
      ack: seq(0x5e6f7082),
      flags: TcpFlags.ACK,
      window: 502,
      urgent: 0,
      options: [
        { kind: 'nop' },
        { kind: 'nop' },
        { kind: 'timestamp', value: 0x0a1b2c60, echo: 0x11223350 },
        { kind: 'nop' },
        { kind: 'nop' },
        { kind: 'sack', blocks: [[seq(0x5e6f8082), seq(0x5e6f8682)]] },
      ],
      payload: NO_PAYLOAD,
    },
  },
  {
    name: 'ACK with four SACK blocks',
    bytes: SACK_4,
    pseudo: C2S,
    checksum: 0x472a,
    dataOffset: 14,
    repr: {
      srcPort: 51234,
      dstPort: 80,
      seq: seq(0xb1d2e3fb),
      ack: seq(0x5e6f7082),
      flags: TcpFlags.ACK,
      window: 502,
      urgent: 0,
      options: [
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
      ],
      payload: NO_PAYLOAD,
    },
  },
  {
    name: 'SYN with unknown kind 34',
    bytes: TFO_SYN,
    pseudo: C2S,
    checksum: 0xa055,
    dataOffset: 9,
    repr: {
      srcPort: 51234,
      dstPort: 443,
      seq: seq(0xb1d2e3f4),
      ack: seq(0),
      flags: TcpFlags.SYN,
      window: 64240,
      urgent: 0,
      options: [
        { kind: 'mss', value: 1460 },
        { kind: 'nop' },
        { kind: 'nop' },
        { kind: 'unknown', type: 34, data: hex('a1b2c3d4e5f60718') },
      ],
      payload: NO_PAYLOAD,
    },
  },
  {
    name: 'SYN ending in EOL',
    bytes: EOL_SYN,
    pseudo: C2S,
    checksum: 0x2d67,
    dataOffset: 7,
    repr: {
      srcPort: 51234,
      dstPort: 80,
      seq: seq(0xb1d2e3f4),
      ack: seq(0),
      flags: TcpFlags.SYN,
      window: 64240,
      urgent: 0,
      options: [{ kind: 'mss', value: 1460 }, { kind: 'wscale', shift: 7 }, { kind: 'eol' }],
      payload: NO_PAYLOAD,
    },
  },
  {
    name: 'urgent data with ECE and CWR, seq 2^32-1',
    bytes: URGENT_DATA,
    pseudo: LO_A,
    checksum: 0xd67f,
    dataOffset: 5,
    repr: {
      srcPort: 1,
      dstPort: 65535,
      seq: seq(0xffffffff),
      ack: seq(1),
      flags: TcpFlags.PSH | TcpFlags.ACK | TcpFlags.URG | TcpFlags.ECE | TcpFlags.CWR,
      window: 0,
      urgent: 3,
      options: [],
      payload: new TextEncoder().encode('abc'),
    },
  },
  {
    name: 'bare RST',
    bytes: RST,
    pseudo: LO_B,
    checksum: 0x9bdc,
    dataOffset: 5,
    repr: {
      srcPort: 65535,
      dstPort: 1,
      seq: seq(1),
      ack: seq(0),
      flags: TcpFlags.RST,
      window: 0,
      urgent: 0,
      options: [],
      payload: NO_PAYLOAD,
    },
  },
]

// ---------------------------------------------------------------------------------------------------------
// Helpers

/** The TcpRepr part of a value, with bytes as hex, for toEqual. */
function plain(r: TcpRepr): unknown {
  return {
    srcPort: r.srcPort,
    dstPort: r.dstPort,
    seq: r.seq,
    ack: r.ack,
    flags: r.flags,
    window: r.window,
    urgent: r.urgent,
    options: r.options.map((o) => (o.kind === 'unknown' ? { kind: o.kind, type: o.type, data: toHex(o.data) } : o)),
    payload: toHex(r.payload),
  }
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

const copy = (b: Uint8Array): Uint8Array => Uint8Array.from(b)

// ---------------------------------------------------------------------------------------------------------

describe('parseTcp: fixtures', () => {
  it('Linux SYN, field by field through the view', () => {
    const v = TcpView.check(SYN)
    expect(v.srcPort).toBe(51234)
    expect(v.dstPort).toBe(80)
    expect(v.seq).toBe(0xb1d2e3f4)
    expect(v.ack).toBe(0)
    expect(v.dataOffset).toBe(10)
    expect(v.headerLen).toBe(40)
    expect(v.flags).toBe(TcpFlags.SYN)
    expect(v.window).toBe(64240)
    expect(v.checksum).toBe(0xc0ef)
    expect(v.urgent).toBe(0)
    expect(toHex(v.optionBytes)).toBe('020405b40402080a0a1b2c3d0000000001030307')
    expect(v.payload.length).toBe(0)
    expect(v.verifyChecksum(C2S)).toBe(true)
    expect(v.verifyChecksum(S2C)).toBe(true) // the sum does not depend on address order…
    expect(v.verifyChecksum({ src: CLIENT4, dst: hex('5db8d823') })).toBe(false) // …but on the addresses
  })

  it('data segment: the payload is a subarray of the input (no copy)', () => {
    const p = parseTcp(DATA_V6, V6)
    expect(p.payload.buffer).toBe(DATA_V6.buffer)
    expect(p.payload.byteOffset).toBe(DATA_V6.byteOffset + 32)
    expect(new TextDecoder().decode(p.payload)).toBe('hello\n')
    const v = TcpView.check(DATA_V6)
    expect(v.payload.buffer).toBe(DATA_V6.buffer)
    expect(v.optionBytes.byteOffset).toBe(DATA_V6.byteOffset + 20)
  })

  it('unknown-option data is a subarray of the segment', () => {
    const p = parseTcp(TFO_SYN)
    const u = p.options[3]
    if (u.kind !== 'unknown') throw new Error('expected an unknown option')
    expect(u.data.buffer).toBe(TFO_SYN.buffer)
    expect(u.data.byteOffset).toBe(TFO_SYN.byteOffset + 28)
  })

  it.each(FIXTURES)('$name: parses, verifies, and re-emits byte for byte into a poisoned buffer', (f) => {
    const p: TcpParsed = parseTcp(f.bytes, f.pseudo, { requireChecksum: true })
    expect(plain(p)).toEqual(plain(f.repr))
    expect(p.dataOffset).toBe(f.dataOffset)
    expect(p.checksum).toBe(f.checksum)
    expect(p.checksumOk).toBe(true)
    expect(parseTcp(f.bytes).checksumOk).toBeUndefined()

    expect(tcpHeaderLen(p)).toBe(f.dataOffset * 4)
    expect(tcpLen(p)).toBe(f.bytes.length)
    const n = f.bytes.length
    const buf = poisoned(n + 10)
    expect(emitTcp(p, buf, 5, f.pseudo)).toBe(n)
    expect(toHex(buf.subarray(5, 5 + n))).toBe(toHex(f.bytes))
    expect(buf.subarray(0, 5).every((b) => b === POISON)).toBe(true)
    expect(buf.subarray(5 + n).every((b) => b === POISON)).toBe(true)

    // the hand-written repr gives the same bytes; without a pseudo-header the checksum field is zero
    const bare = poisoned(n)
    expect(emitTcp(f.repr, bare, 0)).toBe(n)
    const want = copy(f.bytes)
    want[CHECKSUM] = 0
    want[CHECKSUM + 1] = 0
    expect(toHex(bare)).toBe(toHex(want))
    // and fillChecksum on the bare bytes restores the fixture
    expect(new TcpView(bare).fillChecksum(f.pseudo)).toBe(f.checksum)
    expect(toHex(bare)).toBe(toHex(f.bytes))
  })

  it('reserved bits of byte 12 appear as flags 0x100..0x800 and round-trip', () => {
    const b = copy(RST)
    b[DATA_OFFSET] = 0x5f // data offset 5, all four reserved bits set
    const p = parseTcp(b)
    expect(p.flags).toBe(0xf00 | TcpFlags.RST)
    expect(p.dataOffset).toBe(5)
    const out = poisoned(20)
    emitTcp(p, out, 0)
    expect(out[DATA_OFFSET]).toBe(0x5f)
    expect(formatFlags(p.flags)).toBe('R')
  })

  it('padding after EOL is not kept: non-zero padding re-emits as zeros', () => {
    const b = copy(EOL_SYN)
    const odd = hex('c8220050 b1d2e3f4 00000000 8002faf0 0000 0000 020405b4 030307 00 dead beef')
    expect(parseTcp(odd).options).toEqual(parseTcp(b).options)
    const out = poisoned(28)
    expect(emitTcp(parseTcp(odd), out, 0)).toBe(28)
    // data offset 7 (not 8): the header is only as long as its options need
    expect(toHex(out)).toBe('c8220050b1d2e3f4000000007002faf000000000020405b403030700')
  })
})

describe('parseTcp / TcpView.check: errors', () => {
  it('TCP_ERR_TRUNCATED below 20 bytes', () => {
    for (const n of [0, 1, 12, 19]) {
      expectWireError(() => parseTcp(RST.subarray(0, n)), 'TCP_ERR_TRUNCATED', new RegExp(`of ${n} bytes`))
      expectWireError(() => TcpView.check(RST.subarray(0, n)), 'TCP_ERR_TRUNCATED')
    }
    expect(parseTcp(RST.subarray(0, 20)).flags).toBe(TcpFlags.RST)
  })

  it('TCP_ERR_BAD_DATA_OFFSET below 5 words', () => {
    for (const doff of [0, 1, 4]) {
      const b = copy(RST)
      b[DATA_OFFSET] = doff << 4
      expectWireError(() => parseTcp(b), 'TCP_ERR_BAD_DATA_OFFSET', /below the minimum of 5/)
      expectWireError(() => TcpView.check(b), 'TCP_ERR_BAD_DATA_OFFSET')
    }
  })

  it('TCP_ERR_BAD_DATA_OFFSET when the header claims more than the segment holds', () => {
    expectWireError(() => parseTcp(SYN.subarray(0, 39)), 'TCP_ERR_BAD_DATA_OFFSET', /offset 10 \(40 bytes\) exceeds the 39-byte/)
    const b = copy(SYN)
    b[DATA_OFFSET] = 0xf0
    expectWireError(() => parseTcp(b), 'TCP_ERR_BAD_DATA_OFFSET', /offset 15/)
    expectWireError(() => TcpView.check(b), 'TCP_ERR_BAD_DATA_OFFSET')
  })

  it('option errors carry segment offsets', () => {
    const mss5 = copy(SYN)
    mss5[21] = 5
    expectWireError(() => parseTcp(mss5), 'TCP_ERR_BAD_OPTION_LENGTH', /MSS option at segment offset 20: length 5, expected 4/)
    const short = copy(SYN)
    short[DATA_OFFSET] = 0x80 // 32-byte header: the timestamps at 26 need 36
    expectWireError(() => parseTcp(short), 'TCP_ERR_OPTION_OVERRUN', /timestamps option at segment offset 26: length 10 runs 4 byte/)
    const noLen = hex('0000 0000 00000000 00000000 6000 0000 0000 0000 01010102')
    expectWireError(() => parseTcp(noLen), 'TCP_ERR_BAD_OPTION_LENGTH', /MSS option at segment offset 23: length byte missing/)
    const zeroLen = hex('0000 0000 00000000 00000000 6000 0000 0000 0000 fe000000')
    expectWireError(() => parseTcp(zeroLen), 'TCP_ERR_BAD_OPTION_LENGTH', /kind 254 option at segment offset 20: length 0 < 2/)
    const sack11 = hex('0000 0000 00000000 00000000 8000 0000 0000 0000 050b 0000 0000 0000 0000 0000')
    expectWireError(() => parseTcp(sack11), 'TCP_ERR_BAD_OPTION_LENGTH', /SACK option at segment offset 20: length 11/)
    const sack42 = hex('0000 0000 00000000 00000000 f000 0000 0000 0000 052a' + '00'.repeat(38))
    expectWireError(() => parseTcp(sack42), 'TCP_ERR_BAD_OPTION_LENGTH', /SACK .*length 42/)
  })

  it('a wrong checksum: checksumOk false, or TCP_ERR_BAD_CHECKSUM when required', () => {
    const b = copy(DATA_V6)
    b[b.length - 1] ^= 0x01 // flip one payload bit
    const p = parseTcp(b, V6)
    expect(p.checksumOk).toBe(false)
    expect(p.checksum).toBe(0x2d6a)
    expectWireError(() => parseTcp(b, V6, { requireChecksum: true }), 'TCP_ERR_BAD_CHECKSUM', /0x2d6a does not verify/)
    expect(TcpView.check(b).verifyChecksum(V6)).toBe(false)
    // the right bytes with the wrong addresses fail too
    expect(parseTcp(DATA_V6, { src: V6.src, dst: V6.src }).checksumOk).toBe(false)
    // and an IPv6 segment checked as if it were IPv4 fails
    expect(parseTcp(DATA_V6, C2S).checksumOk).toBe(false)
    // a zero (offloaded) checksum does not verify
    const zero = copy(SYN)
    zero[CHECKSUM] = 0
    zero[CHECKSUM + 1] = 0
    expect(parseTcp(zero, C2S).checksumOk).toBe(false)
  })

  it('ERR_BAD_ARGUMENT for a malformed pseudo-header, or requireChecksum without one', () => {
    expectWireError(() => parseTcp(SYN, { src: CLIENT4, dst: V6.dst }), 'ERR_BAD_ARGUMENT', /4 or 16/)
    expectWireError(() => parseTcp(SYN, { src: hex('0102030405'), dst: hex('0102030405') }), 'ERR_BAD_ARGUMENT')
    expectWireError(() => TcpView.check(SYN).verifyChecksum({ src: CLIENT4, dst: hex('00') }), 'ERR_BAD_ARGUMENT')
    expectWireError(() => parseTcp(SYN, undefined, { requireChecksum: true }), 'ERR_BAD_ARGUMENT')
  })
})

describe('TcpView setters', () => {
  it('each setter writes exactly its field', () => {
    const cases: Array<[string, (v: TcpView) => void, number, string]> = [
      ['srcPort', (v) => (v.srcPort = 0x1234), SRC_PORT, '1234'],
      ['dstPort', (v) => (v.dstPort = 0xfffe), DST_PORT, 'fffe'],
      ['seq', (v) => (v.seq = seq(0xdeadbeef)), SEQ, 'deadbeef'],
      ['ack', (v) => (v.ack = seq(0x01020304)), ACK, '01020304'],
      ['window', (v) => (v.window = 0x0102), WINDOW, '0102'],
      ['checksum', (v) => (v.checksum = 0xabcd), CHECKSUM, 'abcd'],
      ['urgent', (v) => (v.urgent = 0x8000), URGENT, '8000'],
    ]
    for (const [name, set, at, want] of cases) {
      const b = copy(SYN)
      set(new TcpView(b))
      const expected = copy(SYN)
      expected.set(hex(want), at)
      expect(toHex(b), name).toBe(toHex(expected))
    }
  })

  it('flags and data offset share byte 12 without disturbing each other', () => {
    const b = copy(SYN) // byte 12 = a0, byte 13 = 02
    const v = new TcpView(b)
    v.flags = 0x912 // reserved bit 0x800 and 0x100, SYN ACK
    expect(b[DATA_OFFSET]).toBe(0xa9)
    expect(b[FLAGS]).toBe(0x12)
    expect(v.dataOffset).toBe(10)
    v.dataOffset = 6
    expect(b[DATA_OFFSET]).toBe(0x69)
    expect(v.flags).toBe(0x912)
    v.dataOffset = 0 // impossible values are allowed: the fault injector crafts them
    expect(b[DATA_OFFSET]).toBe(0x09)
    expectWireError(() => TcpView.check(b), 'TCP_ERR_BAD_DATA_OFFSET')
  })

  it('setters refuse values that do not fit, leaving the bytes alone', () => {
    const b = copy(SYN)
    const v = new TcpView(b)
    const bad: Array<() => void> = [
      () => (v.srcPort = 65536),
      () => (v.dstPort = -1),
      () => (v.seq = 2 ** 32 as Seq),
      () => (v.ack = -1 as Seq),
      () => (v.dataOffset = 16),
      () => (v.flags = 0x1000),
      () => (v.window = 1.5),
      () => (v.checksum = 0x10000),
      () => (v.urgent = NaN),
    ]
    for (const f of bad) expectWireError(f, 'TCP_ERR_BAD_FIELD')
    expect(toHex(b)).toBe(toHex(SYN))
  })

  it('RFC 1624 rewriting in place: new seq and port, checksum updated incrementally, still verifies', () => {
    const b = copy(DATA_V6)
    const v = TcpView.check(b)
    const oldSeq = v.seq
    v.seq = seq(0x00000010)
    v.checksum = checksumUpdate32(v.checksum, oldSeq, v.seq)
    const oldPort = v.srcPort
    v.srcPort = 40000
    v.checksum = checksumUpdate16(v.checksum, oldPort, 40000)
    expect(v.verifyChecksum(V6)).toBe(true)
    const incremental = v.checksum
    expect(v.fillChecksum(V6)).toBe(incremental)
  })
})

describe('emitTcp', () => {
  const syn = FIXTURES[0].repr

  it("checksum 'zero' leaves the field 0 even with a pseudo-header (offload)", () => {
    const b = poisoned(40)
    emitTcp(syn, b, 0, C2S, { checksum: 'zero' })
    expect(toHex(b.subarray(CHECKSUM, CHECKSUM + 2))).toBe('0000')
    expect(TcpView.check(b).verifyChecksum(C2S)).toBe(false)
  })

  it("checksum 'bad' writes the complement of the right value, which never verifies", () => {
    const b = poisoned(40)
    emitTcp(syn, b, 0, C2S, { checksum: 'bad' })
    expect(new TcpView(b).checksum).toBe(0xc0ef ^ 0xffff)
    expect(parseTcp(b, C2S).checksumOk).toBe(false)
    emitTcp(syn, b, 0, C2S, { checksum: 'compute' })
    expect(new TcpView(b).checksum).toBe(0xc0ef)
  })

  it("checksum 'bad' when the right checksum is 0x0000: 0xffff (-0) would verify, so 0x0001 is written", () => {
    // With urgent = u, the segment sums to S + u; choosing u = ~S (the checksum with urgent 0) makes the
    // sum 0xffff and the checksum 0x0000.
    const b = poisoned(40)
    emitTcp(syn, b, 0, C2S)
    const u = new TcpView(b).checksum
    const zeroSum: TcpRepr = { ...syn, urgent: u }
    emitTcp(zeroSum, b, 0, C2S)
    const v = new TcpView(b)
    expect(v.checksum).toBe(0x0000)
    expect(v.verifyChecksum(C2S)).toBe(true)
    v.checksum = 0xffff // -0: the other representation of zero, also correct (RFC 1624 §3)
    expect(v.verifyChecksum(C2S)).toBe(true)
    emitTcp(zeroSum, b, 0, C2S, { checksum: 'bad' })
    expect(v.checksum).toBe(0x0001)
    expect(v.verifyChecksum(C2S)).toBe(false)
    expect(badChecksum(0x0000)).toBe(0x0001)
    expect(badChecksum(0xffff)).toBe(0xfffe)
    expect(badChecksum(0x1234)).toBe(0xedcb)
  })

  it("'compute' or 'bad' without a pseudo-header is ERR_BAD_ARGUMENT", () => {
    expectWireError(() => emitTcp(syn, poisoned(40), 0, undefined, { checksum: 'compute' }), 'ERR_BAD_ARGUMENT')
    expectWireError(() => emitTcp(syn, poisoned(40), 0, undefined, { checksum: 'bad' }), 'ERR_BAD_ARGUMENT')
    expect(emitTcp(syn, poisoned(40), 0, undefined, { checksum: 'zero' })).toBe(40)
  })

  it.each<[string, Partial<TcpRepr>]>([
    ['srcPort 65536', { srcPort: 65536 }],
    ['srcPort -1', { srcPort: -1 }],
    ['dstPort 1.5', { dstPort: 1.5 }],
    ['seq 2^32', { seq: 2 ** 32 as Seq }],
    ['ack -1', { ack: -1 as Seq }],
    ['flags 0x1000', { flags: 0x1000 }],
    ['flags -1', { flags: -1 }],
    ['window 65536', { window: 65536 }],
    ['urgent NaN', { urgent: NaN }],
    ['MSS 70000', { options: [{ kind: 'mss', value: 70000 }] }],
    ['SACK with no blocks', { options: [{ kind: 'sack', blocks: [] }] }],
  ])('rejects %s with TCP_ERR_BAD_FIELD and writes nothing', (_name, patch) => {
    const b = poisoned(64)
    expectWireError(() => emitTcp({ ...syn, ...patch }, b, 0, C2S), 'TCP_ERR_BAD_FIELD')
    expect(b.every((x) => x === POISON)).toBe(true)
  })

  it('TCP_ERR_OPTIONS_TOO_LONG past 40 option bytes; exactly 40 fills a 60-byte header', () => {
    const four: TcpOption = { kind: 'sack', blocks: [1, 2, 3, 4].map((i): [Seq, Seq] => [seq(i), seq(i + 1)]) }
    const tooLong: TcpRepr = { ...syn, options: [four, { kind: 'timestamp', value: 1, echo: 2 }] } // 34 + 10
    expectWireError(() => tcpHeaderLen(tooLong), 'TCP_ERR_OPTIONS_TOO_LONG', /44 bytes/)
    expectWireError(() => tcpLen(tooLong), 'TCP_ERR_OPTIONS_TOO_LONG')
    const b = poisoned(80)
    expectWireError(() => emitTcp(tooLong, b, 0, C2S), 'TCP_ERR_OPTIONS_TOO_LONG')
    expect(b.every((x) => x === POISON)).toBe(true)
    const three: TcpOption = { kind: 'sack', blocks: [1, 2, 3].map((i): [Seq, Seq] => [seq(i), seq(i + 1)]) }
    const full: TcpRepr = {
      ...syn,
      options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 1, echo: 2 }, { kind: 'nop' }, { kind: 'nop' }, three],
    }
    expect(optionsLen(full.options)).toBe(40)
    expect(tcpHeaderLen(full)).toBe(60)
    expect(emitTcp(full, b, 0, C2S)).toBe(60)
    expect(b[DATA_OFFSET] >>> 4).toBe(15)
    expect(plain(parseTcp(b.subarray(0, 60), C2S, { requireChecksum: true }))).toEqual(plain(full))
  })

  it('pads options with zeros to a 32-bit boundary (which then parse as EOL)', () => {
    const ws: TcpRepr = { ...syn, options: [{ kind: 'wscale', shift: 14 }] }
    expect(tcpHeaderLen(ws)).toBe(24)
    const b = poisoned(24)
    expect(emitTcp(ws, b, 0)).toBe(24)
    expect(toHex(b.subarray(20))).toBe('03030e00')
    expect(b[DATA_OFFSET]).toBe(0x60)
    expect(parseTcp(b).options).toEqual([{ kind: 'wscale', shift: 14 }, { kind: 'eol' }])
    expect(tcpHeaderLen({ ...syn, options: [] })).toBe(20)
    expect(tcpHeaderLen({ ...syn, options: [{ kind: 'nop' }] })).toBe(24)
    expect(tcpHeaderLen({ ...syn, options: [{ kind: 'mss', value: 1 }] })).toBe(24)
    expect(tcpHeaderLen({ ...syn, options: [{ kind: 'mss', value: 1 }, { kind: 'nop' }] })).toBe(28)
  })

  it('copies the payload into the output (the output does not alias the repr)', () => {
    const payload = hex('0102030405')
    const b = poisoned(25)
    emitTcp({ ...FIXTURES[8].repr, payload }, b, 0)
    payload[0] = 0xff
    expect(toHex(b.subarray(20))).toBe('0102030405')
  })

  it('ERR_BAD_ARGUMENT when the buffer is too small or the offset is bad, with nothing written', () => {
    const b = poisoned(45)
    expectWireError(() => emitTcp(syn, b, 6, C2S), 'ERR_BAD_ARGUMENT', /40 bytes do not fit at offset 6 of 45/)
    expectWireError(() => emitTcp(syn, b, -1, C2S), 'ERR_BAD_ARGUMENT')
    expectWireError(() => emitTcp(syn, b, 1.5, C2S), 'ERR_BAD_ARGUMENT')
    expect(b.every((x) => x === POISON)).toBe(true)
    expect(emitTcp(syn, b, 5, C2S)).toBe(40)
  })
})

describe('formatFlags / parseFlags', () => {
  it('letters in FSRPAUEC order', () => {
    expect(formatFlags(TcpFlags.SYN | TcpFlags.ACK)).toBe('SA')
    expect(formatFlags(TcpFlags.FIN | TcpFlags.ACK)).toBe('FA')
    expect(formatFlags(TcpFlags.PSH | TcpFlags.ACK)).toBe('PA')
    expect(formatFlags(0xff)).toBe('FSRPAUEC')
    expect(formatFlags(0)).toBe('')
    expect(formatFlags(0xf00)).toBe('') // reserved bits are not letters
    expect(formatFlags(parseTcp(URGENT_DATA).flags)).toBe('PAUEC')
  })

  it('parses letters in any order and case', () => {
    expect(parseFlags('SA')).toBe(0x12)
    expect(parseFlags('as')).toBe(0x12)
    expect(parseFlags('cEuApRsF')).toBe(0xff)
    expect(parseFlags('')).toBe(0)
    expect(parseFlags('SS')).toBe(TcpFlags.SYN)
  })

  it.each(['X', 'S.', 'S A', 'ſ', '😀', 'N'])('rejects %j with ERR_BAD_ARGUMENT', (s) => {
    expectWireError(() => parseFlags(s), 'ERR_BAD_ARGUMENT')
  })

  it('round-trips every 8-bit value', () => {
    for (let f = 0; f < 256; f++) expect(parseFlags(formatFlags(f))).toBe(f)
  })
})

// ---------------------------------------------------------------------------------------------------------
// Laws and fuzzing

const arbOption20 = arbOption(20)
const arbOptions: fc.Arbitrary<TcpOption[]> = fc.array(arbOption20, { maxLength: 8 }).map((all) => {
  const out: TcpOption[] = []
  let n = 0
  for (const o of all) {
    const l = optionsLen([o])
    if (n + l > 40) break
    out.push(o)
    n += l
  }
  if (n % 4 !== 0) out.push({ kind: 'eol' })
  return out
})
const arbRepr: fc.Arbitrary<TcpRepr> = fc.record({
  srcPort: arbU16,
  dstPort: arbU16,
  seq: arbSeq,
  ack: arbSeq,
  flags: fc.integer({ min: 0, max: 0xfff }),
  window: arbU16,
  urgent: arbU16,
  options: arbOptions,
  payload: fc.uint8Array({ maxLength: 300 }),
})

describe('segments: codec laws and fuzzing', () => {
  const codec = (pseudo?: PseudoHeader) => ({
    arbitrary: arbRepr,
    len: tcpLen,
    emit: (r: TcpRepr, into: Uint8Array, offset: number) => emitTcp(r, into, offset, pseudo),
    // requireChecksum makes every law run also prove the emitted checksum right
    parse: (b: Uint8Array): TcpRepr => (pseudo ? parseTcp(b, pseudo, { requireChecksum: true }) : parseTcp(b)),
    normalize: plain,
  })

  it('laws without a pseudo-header (checksum 0)', () => checkCodecLaws(codec(), 300))
  it('laws with an IPv4 pseudo-header', () => checkCodecLaws(codec(C2S), 300))
  it('laws with an IPv6 pseudo-header', () => checkCodecLaws(codec(V6), 300))

  it('emitted checksums verify for random addresses, and a flipped bit never does', () => {
    const arbPseudo = fc.oneof(
      fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 4, maxLength: 4 })),
      fc.tuple(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 })),
    )
    fc.assert(
      fc.property(arbRepr, arbPseudo, fc.nat(), fc.nat(7), (repr, [src, dst], at, bit) => {
        const pseudo = { src, dst }
        const b = new Uint8Array(tcpLen(repr))
        emitTcp(repr, b, 0, pseudo)
        expect(parseTcp(b, pseudo).checksumOk).toBe(true)
        // a single-bit error changes the sum by ±2^k, never a multiple of 0xffff
        b[at % b.length] ^= 1 << bit
        expect(new TcpView(b).verifyChecksum(pseudo)).toBe(false) // unchecked: the flip may hit the data offset
      }),
      { numRuns: 300 },
    )
  })

  const seeds = FIXTURES.map((f) => f.bytes)
  it('parseTcp returns or throws a WireError on random and mutated segments', () => {
    checkFuzz((b) => parseTcp(b), seeds, 2000)
  })
  it('parseTcp with a required checksum returns or throws a WireError', () => {
    checkFuzz((b) => parseTcp(b, C2S, { requireChecksum: true }), seeds, 1000)
  })
  it('TcpView.check and every getter either work or throw a WireError', () => {
    checkFuzz((b) => {
      const v = TcpView.check(b)
      return [v.srcPort, v.dstPort, v.seq, v.ack, v.dataOffset, v.flags, v.window, v.checksum, v.urgent,
        v.optionBytes.length, v.payload.length, v.verifyChecksum(V6)]
    }, seeds, 500)
  })
})
