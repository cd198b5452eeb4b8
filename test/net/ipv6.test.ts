import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isWireError, type WireErrorCode } from '../../src/tcp/errors.js'
import { IPPROTO_TCP } from '../../src/tcp/checksum.js'
import {
  emitIpv6,
  emitIpv6Header,
  IPPROTO_AH,
  IPPROTO_DSTOPTS,
  IPPROTO_ESP,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ICMPV6,
  IPPROTO_NONE,
  IPPROTO_ROUTING,
  IPV6_MAX_EXTENSION_HEADERS,
  ipv6HeaderLen,
  ipv6Len,
  Ipv6View,
  parseIpv6,
  type Ipv6Parsed,
  type Ipv6Repr,
} from '../../src/net/ipv6.js'
import { checkCodecLaws, checkFuzz, hex, poisoned, POISON, toHex, codeOf, reemitFixture } from '../helpers/codecLaws.js'

// Fixtures are packets the Linux kernel (6.18) sent, captured with tcpdump (loopback in a network namespace,
// or a veth pair between two), except where a comment says the packet was put together by hand.

const LOOPBACK = '00000000000000000000000000000001'

/** The SYN of `connect([::1]:34965)` (TCP checksum is the offload partial sum). */
const SYN = hex(`
  6 00 232b7   # version 6, traffic class 0, flow label 0x232b7
  0028         # payload length 40
  06           # next header TCP
  40           # hop limit 64
  ${LOOPBACK}  # source ::1
  ${LOOPBACK}  # destination ::1
  e564 8895 00a745fc 00000000 a002 ffc4 0030 0000   # TCP 58724 → 34965 SYN, window 65476
  0204ffc4 0402 080a e44a52bd 00000000 01 03030a    # MSS, SACK-permitted, TS, NOP, WS 10
`)

/** An MLDv2 report sent when the veth came up: Hop-by-Hop with Router Alert (RFC 3810 §5). */
const MLD = hex(`
  6 00 00000   # version 6, traffic class 0, flow label 0
  0038         # payload length 56
  00           # next header Hop-by-Hop
  01           # hop limit 1
  fe80000000000000000000fffe00000a   # source fe80::ff:fe00:a
  ff020000000000000000000000000016   # destination ff02::16 (all MLDv2 routers)
  3a 00        # HBH: next header ICMPv6, length 0 (8 bytes)
  05 02 0000   #   option Router Alert, MLD
  01 00        #   option PadN, 0 bytes
  8f 00 6fda 0000 0002                          # ICMPv6 type 143 (MLDv2 report), checksum, 2 records
  04 00 0000 ff0200000000000000000001ff00000a   # CHANGE_TO_EXCLUDE ff02::1:ff00:a
  04 00 0000 ff0200000000000000000001ff000001   # CHANGE_TO_EXCLUDE ff02::1:ff00:1
`)

const HBH_TO_DST = '3c 00 05020000 0100' // HBH: next Destination Options, Router Alert, PadN(0)
const DST_TO_TCP = '06 00 0104 00000000' // DST: next TCP, PadN(4)

/** A TCP SYN from a socket with IPV6_HOPOPTS and IPV6_DSTOPTS set: two extension headers before TCP. */
const SYN_HBH_DST = hex(`
  6 00 c95d7   # traffic class 0, flow label 0xc95d7
  0038         # payload length 56 = 8 + 8 + 40
  00 40        # next header Hop-by-Hop, hop limit 64
  ${LOOPBACK} ${LOOPBACK}
  ${HBH_TO_DST}   # Hop-by-Hop (8 bytes)
  ${DST_TO_TCP}   # Destination Options (8 bytes)
  de9e afff f53eee42 00000000 a002 fc94 0030 0000 020404c4 0402 080a 39c031cd 00000000 01 03030a  # TCP SYN
`)

/**
 * By hand: the same SYN as an atomic fragment (RFC 6946) with the Fragment header between Hop-by-Hop and
 * Destination Options, the order RFC 8200 §4.1 gives. tshark decodes it as written here.
 */
const SYN_HBH_FRAG_DST = hex(`
  6 00 c95d7   # traffic class 0, flow label 0xc95d7
  0040         # payload length 64 = 8 + 8 + 8 + 40
  00 40        # next header Hop-by-Hop, hop limit 64
  ${LOOPBACK} ${LOOPBACK}
  2c 00 05020000 0100   # Hop-by-Hop: next Fragment, Router Alert, PadN(0)
  3c 00                 # Fragment: next Destination Options, reserved
  0000                  #   offset 0, M 0: an atomic fragment
  5f3a9c01              #   identification
  ${DST_TO_TCP}         # Destination Options: next TCP
  de9e afff f53eee42 00000000 a002 fc94 0030 0000 020404c4 0402 080a 39c031cd 00000000 01 03030a  # TCP SYN
`)

function pattern(start: number, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) s += ((start + i) & 0xff).toString(16).padStart(2, '0')
  return s
}

/** First fragment of a 2056-byte UDP datagram (bytes(range(256)) * 8) with HBH and DST set, MTU 1280. */
const UDP_FIRST_FRAGMENT = hex(`
  6 00 ff70e   # flow label 0xff70e
  04d8         # payload length 1240 = 8 + 8 + 8 + 1216
  00 40        # next header Hop-by-Hop, hop limit 64
  ${LOOPBACK} ${LOOPBACK}
  ${HBH_TO_DST}         # Hop-by-Hop
  2c 00 0104 00000000   # Destination Options: next Fragment (Linux puts these before the Fragment header)
  11 00                 # Fragment: next UDP, reserved
  0001                  #   offset 0, M 1
  039715c7              #   identification
  c3a2 b25c 0808 77df   # UDP 50082 → 45660, length 2056
  ${pattern(0, 1208)}   # datagram bytes 0..1207
`)

/** The second and last fragment: the walk stops at the Fragment header, the rest is datagram bytes. */
const UDP_LAST_FRAGMENT = hex(`
  6 00 ff70e   # flow label 0xff70e
  0360         # payload length 864 = 8 + 8 + 8 + 840
  00 40
  ${LOOPBACK} ${LOOPBACK}
  ${HBH_TO_DST}
  2c 00 0104 00000000   # Destination Options: next Fragment
  11 00                 # Fragment: next UDP
  04c0                  #   offset 152 × 8 = 1216, M 0
  039715c7              #   identification
  ${pattern(0xb8, 840)} # datagram bytes 1216..2055
`)

/** By hand (tshark agrees): HBH → Routing (type 0, one address) → AH (24 bytes) → ESP. */
const ESP_CHAIN = hex(`
  6 00 00000 0046 00 40   # payload length 70, next Hop-by-Hop, hop limit 64
  20010db8000000000000000000000001   # 2001:db8::1
  20010db8000000000000000000000003   # 2001:db8::3
  2b 00 010400000000      # HBH: next Routing, PadN(4)
  33 02 00 01 00000000    # Routing: next AH, length 2 (24 bytes), type 0, segments left 1
  20010db8000000000000000000000002   #   address 2001:db8::2
  32 04 0000              # AH: next ESP, length 4 ((4 + 2) × 4 = 24 bytes), reserved
  00001000 00000001       #   SPI, sequence
  0123456789abcdef01234567   # ICV
  00001001 00000001 deadbeefcafe   # ESP: SPI, sequence, encrypted bytes
`)

const FIXTURES = [SYN, MLD, SYN_HBH_DST, SYN_HBH_FRAG_DST, UDP_FIRST_FRAGMENT, UDP_LAST_FRAGMENT, ESP_CHAIN]

/** Parses, re-emits into a poisoned buffer at an offset, and checks every byte and the byte count. */
function reemit(bytes: Uint8Array): Ipv6Parsed {
  return reemitFixture<Ipv6Parsed>(bytes, { parse: parseIpv6, len: ipv6Len, emit: emitIpv6 })
}

describe('parseIpv6 on kernel packets', () => {
  it('the loopback SYN', () => {
    const p = reemit(SYN)
    expect([p.trafficClass, p.flowLabel, p.payloadLength, p.nextHeader, p.hopLimit]).toEqual([0, 0x232b7, 40, 6, 64])
    expect(p.protocol).toBe(IPPROTO_TCP)
    expect(toHex(p.src)).toBe(LOOPBACK)
    expect(toHex(p.dst)).toBe(LOOPBACK)
    expect(p.extensions.length).toBe(0)
    expect(p.payload.length).toBe(40)
    expect(p.fragment).toBeUndefined()
  })

  it('MLDv2 report: Hop-by-Hop, then ICMPv6', () => {
    const p = reemit(MLD)
    expect([p.nextHeader, p.protocol, p.hopLimit, p.payloadLength]).toEqual([IPPROTO_HOPOPTS, IPPROTO_ICMPV6, 1, 56])
    expect(toHex(p.extensions)).toBe('3a00050200000100')
    expect(p.payload.length).toBe(48)
    expect(p.payload[0]).toBe(143)
    expect(toHex(p.dst)).toBe('ff020000000000000000000000000016')
  })

  it('SYN with Hop-by-Hop and Destination Options', () => {
    const p = reemit(SYN_HBH_DST)
    expect([p.nextHeader, p.protocol, p.flowLabel]).toEqual([IPPROTO_HOPOPTS, IPPROTO_TCP, 0xc95d7])
    expect(p.extensions.length).toBe(16)
    expect(ipv6HeaderLen(p)).toBe(56)
    expect(toHex(p.payload.subarray(0, 4))).toBe('de9eafff')
    expect(p.payload.length).toBe(40)
    expect(p.fragment).toBeUndefined()
  })

  it('SYN with Hop-by-Hop, Fragment and Destination Options', () => {
    const p = reemit(SYN_HBH_FRAG_DST)
    expect([p.nextHeader, p.protocol, p.payloadLength]).toEqual([IPPROTO_HOPOPTS, IPPROTO_TCP, 64])
    expect(p.extensions.length).toBe(24)
    expect(p.fragment).toEqual({ offset: 0, moreFragments: false, id: 0x5f3a9c01 })
    expect(toHex(p.payload)).toBe(toHex(SYN_HBH_DST.subarray(56)))
  })

  it('first fragment: the walk goes on through the Fragment header to UDP', () => {
    const p = reemit(UDP_FIRST_FRAGMENT)
    expect(p.protocol).toBe(17)
    expect(p.fragment).toEqual({ offset: 0, moreFragments: true, id: 0x039715c7 })
    expect(p.extensions.length).toBe(24)
    expect(p.payload.length).toBe(1216)
    expect(toHex(p.payload.subarray(0, 8))).toBe('c3a2b25c080877df')
  })

  it('last fragment: offset ≠ 0 ends the walk, protocol is the Fragment header next header', () => {
    const p = reemit(UDP_LAST_FRAGMENT)
    expect(p.protocol).toBe(17)
    expect(p.fragment).toEqual({ offset: 152, moreFragments: false, id: 0x039715c7 })
    expect(p.payload.length).toBe(840)
    expect(p.payload[0]).toBe(0xb8)
  })

  it('Routing and AH are walked; ESP stops the walk', () => {
    const p = reemit(ESP_CHAIN)
    expect(p.protocol).toBe(IPPROTO_ESP)
    expect(p.extensions.length).toBe(8 + 24 + 24)
    expect(toHex(p.payload)).toBe('0000100100000001deadbeefcafe')
  })

  it('a non-first fragment whose next header is an extension is not walked further', () => {
    const b = Uint8Array.from(UDP_LAST_FRAGMENT)
    b[56] = IPPROTO_DSTOPTS // Fragment.next = 60: its data continues the payload, it is no header
    b[57 + 8] = 0xff // would claim 2048 bytes if read as a header length
    const p = parseIpv6(b)
    expect(p.protocol).toBe(IPPROTO_DSTOPTS)
    expect(p.payload.length).toBe(840)
  })

  it('two Fragment headers (not legal, but parsed): the first one is reported', () => {
    const b = hex(`
      6 00 00000 0010 2c 40 ${LOOPBACK} ${LOOPBACK}
      2c 00 0000 00000001   # Fragment: next Fragment, offset 0, M 0, id 1
      3b 00 0009 00000002   # Fragment: next none, offset 1, M 1, id 2
    `)
    const p = reemit(b)
    expect(p.fragment).toEqual({ offset: 0, moreFragments: false, id: 1 })
    expect([p.protocol, p.extensions.length, p.payload.length]).toEqual([IPPROTO_NONE, 16, 0])
  })

  it('No Next Header: the rest is payload', () => {
    const b = hex(`6 00 00000 0008 3b 40 ${LOOPBACK} ${LOOPBACK} 0102030405060708`)
    const p = reemit(b)
    expect([p.nextHeader, p.protocol]).toEqual([IPPROTO_NONE, IPPROTO_NONE])
    expect(toHex(p.payload)).toBe('0102030405060708')
  })

  it('traffic class and flow label straddle bytes 0-3', () => {
    const b = hex(`6 ab cdef1 0000 3b ff ${LOOPBACK} ${LOOPBACK}`)
    const p = reemit(b)
    expect(p.trafficClass).toBe(0xab)
    expect(p.flowLabel).toBe(0xcdef1)
    expect(p.hopLimit).toBe(255)
  })

  it('ignores bytes past the payload length (Ethernet padding)', () => {
    const padded = new Uint8Array(SYN.length + 6)
    padded.set(SYN)
    const p = parseIpv6(padded)
    expect(p.payload.length).toBe(40)
    const out = new Uint8Array(SYN.length)
    emitIpv6(p, out, 0)
    expect(toHex(out)).toBe(toHex(SYN))
  })

  it('payload, extensions and addresses are views into the input, not copies', () => {
    const b = Uint8Array.from(SYN_HBH_FRAG_DST)
    const p = parseIpv6(b)
    for (const part of [p.src, p.dst, p.extensions, p.payload]) expect(part.buffer).toBe(b.buffer)
    expect(p.payload.byteOffset).toBe(64)
  })
})

describe('parseIpv6 errors', () => {
  const mut = (base: Uint8Array, at: number, ...v: number[]): Uint8Array => {
    const b = Uint8Array.from(base)
    b.set(v, at)
    return b
  }
  const LO2 = LOOPBACK + LOOPBACK
  const TOO_MANY = IPV6_MAX_EXTENSION_HEADERS + 1
  /** n Destination Options headers of 8 bytes each, then No Next Header. */
  const dstChain = (n: number): Uint8Array => {
    const b = new Uint8Array(40 + 8 * n)
    b.set(hex(`6000 0000 ${(8 * n).toString(16).padStart(4, '0')} 3c 40`))
    for (let i = 0; i < n; i++) b[40 + 8 * i] = i === n - 1 ? IPPROTO_NONE : IPPROTO_DSTOPTS
    return b
  }
  it.each([
    ['empty', 'IP_ERR_TRUNCATED', new Uint8Array(0)],
    ['39 bytes', 'IP_ERR_TRUNCATED', SYN.subarray(0, 39)],
    ['version 4', 'IP_ERR_BAD_VERSION', mut(SYN, 0, 0x40)],
    ['version 7', 'IP_ERR_BAD_VERSION', mut(SYN, 0, 0x70)],
    ['payload length one past the buffer', 'IP_ERR_BAD_TOTAL_LENGTH', SYN.subarray(0, 79)],
    ['payload length 65535 in 80 bytes', 'IP_ERR_BAD_TOTAL_LENGTH', mut(SYN, 4, 0xff, 0xff)],
    ['a header with no payload claiming HBH', 'IP_ERR_BAD_EXTENSION', mut(SYN.subarray(0, 40), 4, 0, 0, 0)],
    ['HBH with only 1 byte before the payload end', 'IP_ERR_BAD_EXTENSION', mut(MLD, 4, 0, 1)],
    ['HBH with 1 byte in the whole buffer', 'IP_ERR_BAD_EXTENSION', hex(`6000 0000 0001 00 40 ${LO2} 3a`)],
    ['AH with 1 byte in the whole buffer', 'IP_ERR_BAD_EXTENSION', hex(`6000 0000 0001 33 40 ${LO2} 3a`)],
    ['HBH length 7 (64 bytes) in 56', 'IP_ERR_BAD_EXTENSION', mut(MLD, 41, 7)],
    ['DST running past the payload length', 'IP_ERR_BAD_EXTENSION', mut(SYN_HBH_DST, 4, 0x00, 0x0f)],
    ['Fragment header cut short', 'IP_ERR_BAD_EXTENSION', mut(SYN, 4, 0x00, 0x07, IPPROTO_FRAGMENT)],
    ['AH length past the end', 'IP_ERR_BAD_EXTENSION', mut(ESP_CHAIN, 73, 0x20)],
    ['Routing length past the end', 'IP_ERR_BAD_EXTENSION', mut(ESP_CHAIN, 49, 0xff)],
    [`${TOO_MANY} extension headers`, 'IP_ERR_BAD_EXTENSION', dstChain(TOO_MANY)],
  ] as const)('%s → %s', (_name, code, bytes) => {
    expect(codeOf(() => parseIpv6(bytes))).toBe(code)
  })

  it(`${IPV6_MAX_EXTENSION_HEADERS} extension headers are fine`, () => {
    const p = parseIpv6(dstChain(IPV6_MAX_EXTENSION_HEADERS))
    expect(p.protocol).toBe(IPPROTO_NONE)
    expect(p.extensions.length).toBe(8 * IPV6_MAX_EXTENSION_HEADERS)
  })

  it('the view checks only the fixed header', () => {
    expect(codeOf(() => Ipv6View.check(SYN.subarray(0, 39)))).toBe('IP_ERR_TRUNCATED')
    expect(codeOf(() => Ipv6View.check(mut(SYN, 0, 0x40)))).toBe('IP_ERR_BAD_VERSION')
    expect(codeOf(() => Ipv6View.check(SYN.subarray(0, 79)))).toBe('IP_ERR_BAD_TOTAL_LENGTH')
    expect(codeOf(() => Ipv6View.check(mut(MLD, 41, 7)))).toBe('no error')
  })
})

describe('emitIpv6', () => {
  const base = (): Ipv6Repr => ({ ...parseIpv6(SYN_HBH_DST) })

  it('emitIpv6Header writes header and extensions, leaving the upper layer to the caller', () => {
    const p = parseIpv6(SYN_HBH_FRAG_DST)
    const out = poisoned(SYN_HBH_FRAG_DST.length + 2)
    expect(emitIpv6Header(p, p.payload.length, out, 1)).toBe(64)
    expect(out[65]).toBe(POISON)
    out.set(p.payload, 65)
    expect(toHex(out.subarray(1, 1 + SYN_HBH_FRAG_DST.length))).toBe(toHex(SYN_HBH_FRAG_DST))
  })

  it('builds a packet from a plain repr', () => {
    const r: Ipv6Repr = {
      src: hex('20010db8000000000000000000000001'),
      dst: hex('20010db8000000000000000000000002'),
      trafficClass: 0xb8,
      flowLabel: 0xfffff,
      hopLimit: 7,
      nextHeader: IPPROTO_DSTOPTS,
      extensions: hex('11 00 01 04 00000000'),
      payload: hex('abcd'),
    }
    const out = poisoned(50)
    expect(emitIpv6(r, out, 0)).toBe(50)
    expect(toHex(out)).toBe(
      toHex(
        hex(`
          6 b8 fffff   # traffic class 0xb8 (EF), flow label 0xfffff
          000a         # payload length 10 = 8 + 2
          3c 07        # next header Destination Options, hop limit 7
          20010db8000000000000000000000001 20010db8000000000000000000000002
          11 00 0104 00000000   # extension bytes as given
          abcd
        `),
      ),
    )
    expect(parseIpv6(out).protocol).toBe(17)
  })

  const bad = (patch: Partial<Ipv6Repr>) => ({ ...base(), ...patch })
  it.each([
    ['traffic class 256', 'IP_ERR_BAD_FIELD', bad({ trafficClass: 256 })],
    ['flow label 2^20', 'IP_ERR_BAD_FIELD', bad({ flowLabel: 0x100000 })],
    ['hop limit -1', 'IP_ERR_BAD_FIELD', bad({ hopLimit: -1 })],
    ['next header 256', 'IP_ERR_BAD_FIELD', bad({ nextHeader: 256 })],
    ['next header 6.5', 'IP_ERR_BAD_FIELD', bad({ nextHeader: 6.5 })],
    ['payload length 65536', 'IP_ERR_BAD_FIELD', bad({ payload: new Uint8Array(65536 - 16) })],
    ['a 4-byte source', 'IP_ERR_BAD_ADDRESS', bad({ src: new Uint8Array(4) })],
    ['a 17-byte destination', 'IP_ERR_BAD_ADDRESS', bad({ dst: new Uint8Array(17) })],
  ] as const)('%s → %s', (_name, code, repr) => {
    const out = poisoned(70000)
    expect(codeOf(() => emitIpv6(repr, out, 0))).toBe(code)
    expect(codeOf(() => emitIpv6Header(repr, repr.payload.length, out, 0))).toBe(code)
    expect(out.every((b) => b === POISON)).toBe(true)
  })

  it('refuses a buffer without room, before writing anything', () => {
    const out = poisoned(100)
    expect(codeOf(() => emitIpv6(base(), out, 10))).toBe('ERR_BAD_ARGUMENT') // 96 bytes
    expect(codeOf(() => emitIpv6Header(base(), 40, out, 45))).toBe('ERR_BAD_ARGUMENT') // 56 bytes
    expect(codeOf(() => emitIpv6(base(), out, 1.5))).toBe('ERR_BAD_ARGUMENT')
    expect(out.every((b) => b === POISON)).toBe(true)
    expect(emitIpv6Header(base(), 1000, out, 44)).toBe(56)
  })
})

describe('Ipv6View', () => {
  it('reads every field', () => {
    const v = Ipv6View.check(SYN_HBH_DST)
    expect([v.version, v.trafficClass, v.flowLabel, v.payloadLength, v.nextHeader, v.hopLimit]).toEqual([
      6, 0, 0xc95d7, 56, 0, 64,
    ])
    expect(toHex(v.src)).toBe(LOOPBACK)
    expect(toHex(v.dst)).toBe(LOOPBACK)
    expect(v.payload.length).toBe(56)
  })

  it('setters change only their own bits', () => {
    const b = Uint8Array.from(SYN)
    const v = new Ipv6View(b)
    v.trafficClass = 0xff
    expect(toHex(b.subarray(0, 4))).toBe('6ff232b7')
    v.flowLabel = 0
    expect(toHex(b.subarray(0, 4))).toBe('6ff00000')
    v.trafficClass = 0
    v.flowLabel = 0xfffff
    expect(toHex(b.subarray(0, 4))).toBe('600fffff')
    v.version = 4
    expect(b[0]).toBe(0x40)
    v.version = 6
    v.payloadLength = 0x1234
    v.nextHeader = 0x3b
    v.hopLimit = 1
    expect(toHex(b.subarray(0, 8))).toBe('600fffff12343b01')
    v.src = hex('20010db8000000000000000000000001')
    v.dst = hex('20010db8000000000000000000000002')
    expect(toHex(b.subarray(8, 40))).toBe('20010db800000000000000000000000120010db8000000000000000000000002')
    expect(toHex(b.subarray(40))).toBe(toHex(SYN.subarray(40)))
  })

  it.each([
    ['trafficClass', 256],
    ['flowLabel', 0x100000],
    ['payloadLength', 0x10000],
    ['nextHeader', -1],
    ['hopLimit', 256],
    ['version', 16],
  ] as const)('setter %s refuses %s', (field, value) => {
    const b = Uint8Array.from(SYN)
    const v = new Ipv6View(b) as unknown as Record<string, number>
    expect(codeOf(() => (v[field] = value))).toBe('IP_ERR_BAD_FIELD')
    expect(toHex(b)).toBe(toHex(SYN))
  })

  it('address setters refuse the wrong length', () => {
    const v = new Ipv6View(Uint8Array.from(SYN))
    expect(codeOf(() => (v.dst = new Uint8Array(4)))).toBe('IP_ERR_BAD_ADDRESS')
  })
})

// ---- laws -------------------------------------------------------------------------------------------

const bytesN = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const EXT = [IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_FRAGMENT, IPPROTO_DSTOPTS, IPPROTO_AH]

/** One extension header's bytes after the next-header byte (which the chain builder fills in). */
const extBody = (type: number, last: boolean): fc.Arbitrary<Uint8Array> => {
  if (type === IPPROTO_FRAGMENT) {
    // a non-first fragment ends the walk, so only the last header of a chain may have offset ≠ 0
    return fc.tuple(bytesN(7), fc.integer({ min: 0, max: 0x1fff }), fc.boolean()).map(([b, off, m]) => {
      const o = last ? off : 0
      b[1] = o >>> 5
      b[2] = ((o & 0x1f) << 3) | (b[2] & 0x06) | (m ? 1 : 0)
      return b
    })
  }
  const n = fc.integer({ min: 0, max: 3 })
  if (type === IPPROTO_AH) return n.chain((k) => bytesN((k + 2) * 4 - 1).map((b) => ((b[0] = k), b)))
  return n.chain((k) => bytesN((k + 1) * 8 - 1).map((b) => ((b[0] = k), b)))
}

/** A valid chain: extension types, then a final protocol that is not an extension header. */
const chainArb = fc
  .tuple(
    fc.array(fc.constantFrom(...EXT), { maxLength: 5 }),
    fc.oneof(
      fc.constantFrom(IPPROTO_TCP, 17, IPPROTO_ICMPV6, IPPROTO_ESP, IPPROTO_NONE),
      fc.integer({ min: 0, max: 255 }).filter((p) => !EXT.includes(p)),
    ),
  )
  .chain(([types, proto]) =>
    fc.tuple(
      fc.tuple(...types.map((t, i) => extBody(t, i === types.length - 1))),
      fc.constant(types),
      fc.constant(proto),
    ),
  )
  .map(([bodies, types, proto]) => {
    const parts: number[] = []
    types.forEach((_t, i) => {
      parts.push(i + 1 < types.length ? types[i + 1] : proto, ...bodies[i])
    })
    return { nextHeader: types.length ? types[0] : proto, extensions: Uint8Array.from(parts), proto }
  })

const reprArb: fc.Arbitrary<Ipv6Repr & { proto: number }> = fc
  .record({
    src: bytesN(16),
    dst: bytesN(16),
    trafficClass: fc.integer({ min: 0, max: 255 }),
    flowLabel: fc.integer({ min: 0, max: 0xfffff }),
    hopLimit: fc.integer({ min: 0, max: 255 }),
    chain: chainArb,
    payload: fc.uint8Array({ maxLength: 100 }),
  })
  .map(({ chain, ...r }) => ({ ...r, nextHeader: chain.nextHeader, extensions: chain.extensions, proto: chain.proto }))

const norm = (r: Ipv6Repr) => ({
  src: toHex(r.src),
  dst: toHex(r.dst),
  trafficClass: r.trafficClass,
  flowLabel: r.flowLabel,
  hopLimit: r.hopLimit,
  nextHeader: r.nextHeader,
  extensions: toHex(r.extensions),
  payload: toHex(r.payload),
})

describe('laws', () => {
  it('codec laws over random extension chains', () => {
    checkCodecLaws({
      arbitrary: reprArb,
      len: (r) => ipv6Len(r),
      emit: (r, into, off) => emitIpv6(r, into, off),
      parse: (b) => {
        const p = parseIpv6(b)
        expect(p.payloadLength).toBe(b.length - 40)
        return p
      },
      normalize: norm,
    })
  })

  it('the walk reports the chain’s final protocol', () => {
    fc.assert(
      fc.property(reprArb, (r) => {
        const out = new Uint8Array(ipv6Len(r))
        emitIpv6(r, out, 0)
        expect(parseIpv6(out).protocol).toBe(r.proto)
      }),
      { numRuns: 300 },
    )
  })

  it('parse never throws anything but a WireError', () => {
    checkFuzz((b) => parseIpv6(b), FIXTURES, 3000)
  })
})
