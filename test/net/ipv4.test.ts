import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { internetChecksum, onesSum } from '../../src/tcp/checksum.js'
import { isWireError, type WireErrorCode } from '../../src/tcp/errors.js'
import {
  emitIpv4,
  emitIpv4Header,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  ipv4HeaderLen,
  ipv4Len,
  Ipv4Offset,
  Ipv4View,
  parseIpv4,
  type Ipv4Parsed,
  type Ipv4Repr,
} from '../../src/net/ipv4.js'
import { checkCodecLaws, checkFuzz, hex, poisoned, POISON, toHex, codeOf, reemitFixture } from '../helpers/codecLaws.js'

// Fixtures are packets the Linux kernel (6.18) sent, captured with tcpdump: on loopback in a network
// namespace, and across a veth pair between two namespaces (10.9.0.1 → 10.9.0.2, MTU 1500).

/** The SYN of `connect(127.0.0.1:44311)` on loopback (the TCP checksum is the offload partial sum). */
const SYN = hex(`
  45           # version 4, IHL 5 (20 bytes)
  00           # DSCP 0, ECN 0
  003c         # total length 60
  09af         # identification 2479
  4000         # flags DF, fragment offset 0
  40           # TTL 64
  06           # protocol TCP
  330b         # header checksum
  7f000001     # source 127.0.0.1
  7f000001     # destination 127.0.0.1
  9048 ad17 472a294c 00000000 a002 ffd7 fe30 0000   # TCP 36936 → 44311 SYN, window 65495
  0204ffd7 0402 080a1a75f99800000000 01 03030a      # MSS 65495, SACK-permitted, TS, NOP, WS 10
`)

/** A 5-byte UDP datagram ("hello") from a Python socket across the veth. */
const UDP = hex(`
  45 00 0021   # IHL 5, DSCP 0, total length 33
  aaec         # identification 43756
  4000         # DF
  40 11        # TTL 64, protocol UDP
  7bcb         # header checksum
  0a090001     # source 10.9.0.1
  0a090002     # destination 10.9.0.2
  e6a7 270f 000d 1433   # UDP 59047 → 9999, length 13, checksum
  68656c6c6f            # "hello"
`)

/** The ICMP port unreachable the peer's kernel answered with: DSCP CS6 (0xc0), no DF, id from its counter. */
const ICMP = hex(`
  45 c0 003d   # IHL 5, DSCP 48 (CS6), ECN 0, total length 61
  ac70         # identification 44144
  0000         # no flags, offset 0
  40 01        # TTL 64, protocol ICMP
  b97b         # header checksum
  0a090002     # source 10.9.0.2
  0a090001     # destination 10.9.0.1
  03 03 9733 00000000   # ICMP destination unreachable, port unreachable, checksum, unused
  ${toHex(UDP)}         # the offending datagram, whole
`)

/** The same kind of datagram sent with setsockopt(IP_OPTIONS, Record Route with two slots): IHL 8. */
const RECORD_ROUTE = hex(`
  48           # version 4, IHL 8 (32 bytes)
  00 002a      # DSCP 0, total length 42
  ab60 4000    # identification 43872, DF
  40 11 5f39   # TTL 64, UDP, header checksum
  0a090001     # source 10.9.0.1
  0a090002     # destination 10.9.0.2
  07 0b 08     # option: Record Route (RFC 791 §3.1), length 11, pointer 8 (second slot is next)
  0a090001     #   slot 1: the sender filled in its own address
  00000000     #   slot 2: empty
  00           # option: End of Option List (pads the header to 32)
  a93e 270f 000a 1430   # UDP 43326 → 9999, length 10, checksum
  7272                  # "rr"
`)

/** n bytes counting up from `start` (mod 256): the test datagram was bytes(range(256)) * 12. */
function pattern(start: number, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) s += ((start + i) & 0xff).toString(16).padStart(2, '0')
  return s
}

/** The middle fragment of a 3080-byte UDP datagram split for MTU 1500: MF set, offset 185 (1480 bytes). */
const FRAGMENT_MIDDLE = hex(`
  45 00 05dc   # IHL 5, DSCP 0, total length 1500
  ab35         # identification 43829 (all three fragments share it)
  20b9         # MF, fragment offset 185 × 8 = 1480
  40 11 950e   # TTL 64, UDP (the fragment carries no UDP header), header checksum
  0a090001 0a090002   # 10.9.0.1 → 10.9.0.2
  ${pattern(0xc0, 1480)}  # datagram bytes 1480..2959
`)

/** The last fragment of the same datagram: MF clear, offset 370 (2960 bytes). */
const FRAGMENT_LAST = hex(`
  45 00 008c   # IHL 5, DSCP 0, total length 140
  ab35         # identification 43829
  0172         # no flags, fragment offset 370 × 8 = 2960
  40 11 b9a5   # TTL 64, UDP, header checksum
  0a090001 0a090002   # 10.9.0.1 → 10.9.0.2
  ${pattern(0x88, 120)}   # datagram bytes 2960..3079
`)

const FIXTURES = [SYN, UDP, ICMP, RECORD_ROUTE, FRAGMENT_MIDDLE, FRAGMENT_LAST]

/** Parses, re-emits into a poisoned buffer at an offset, and checks every byte and the byte count. */
function reemit(bytes: Uint8Array): Ipv4Parsed {
  return reemitFixture<Ipv4Parsed>(bytes, { parse: parseIpv4, len: ipv4Len, emit: emitIpv4 })
}

const ip = (s: string): string => s.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('')

describe('parseIpv4 on kernel packets', () => {
  it('the loopback SYN', () => {
    const p = reemit(SYN)
    expect(p.ihl).toBe(5)
    expect(p.dscp).toBe(0)
    expect(p.ecn).toBe(0)
    expect(p.totalLength).toBe(60)
    expect(p.id).toBe(2479)
    expect(p.dontFragment).toBe(true)
    expect(p.moreFragments).toBe(false)
    expect(p.fragmentOffset).toBe(0)
    expect(p.isFragment).toBe(false)
    expect(p.ttl).toBe(64)
    expect(p.protocol).toBe(IPPROTO_TCP)
    expect(p.checksum).toBe(0x330b)
    expect(p.checksumOk).toBe(true)
    expect(toHex(p.src)).toBe(ip('127.0.0.1'))
    expect(toHex(p.dst)).toBe(ip('127.0.0.1'))
    expect(p.options.length).toBe(0)
    expect(p.payload.length).toBe(40)
    expect(toHex(p.payload.subarray(0, 4))).toBe('9048ad17')
  })

  it('a UDP datagram with DF', () => {
    const p = reemit(UDP)
    expect([p.totalLength, p.id, p.protocol, p.checksum, p.ttl]).toEqual([33, 43756, IPPROTO_UDP, 0x7bcb, 64])
    expect(p.dontFragment).toBe(true)
    expect(toHex(p.src)).toBe(ip('10.9.0.1'))
    expect(toHex(p.dst)).toBe(ip('10.9.0.2'))
    expect(Buffer.from(p.payload.subarray(8)).toString()).toBe('hello')
  })

  it('an ICMP error with DSCP CS6 and no DF', () => {
    const p = reemit(ICMP)
    expect(p.dscp).toBe(48)
    expect(p.ecn).toBe(0)
    expect(p.dontFragment).toBe(false)
    expect([p.totalLength, p.id, p.protocol, p.checksum]).toEqual([61, 44144, IPPROTO_ICMP, 0xb97b])
    // the quoted datagram parses as the one we sent
    const inner = parseIpv4(p.payload.subarray(8))
    expect(toHex(inner.payload)).toBe(toHex(UDP.subarray(20)))
  })

  it('a header with options (IHL 8): options kept raw, payload after IHL*4', () => {
    const p = reemit(RECORD_ROUTE)
    expect(p.ihl).toBe(8)
    expect(p.totalLength).toBe(42)
    expect(toHex(p.options)).toBe('070b080a0900010000000000')
    expect(toHex(p.payload)).toBe('a93e270f000a14307272')
    expect(p.checksum).toBe(0x5f39)
    expect(p.checksumOk).toBe(true)
    expect(ipv4HeaderLen(p)).toBe(32)
  })

  it('a middle fragment', () => {
    const p = reemit(FRAGMENT_MIDDLE)
    expect(p.moreFragments).toBe(true)
    expect(p.dontFragment).toBe(false)
    expect(p.fragmentOffset).toBe(185)
    expect(p.isFragment).toBe(true)
    expect(p.id).toBe(43829)
    expect(p.payload.length).toBe(1480)
    expect(p.payload[0]).toBe(0xc0)
  })

  it('the last fragment: MF clear but offset ≠ 0 is still a fragment', () => {
    const p = reemit(FRAGMENT_LAST)
    expect(p.moreFragments).toBe(false)
    expect(p.fragmentOffset).toBe(370)
    expect(p.isFragment).toBe(true)
    expect(p.payload.length).toBe(120)
  })

  it('every fixture header checksum is what RFC 1071 gives and is verified', () => {
    for (const f of FIXTURES) {
      const p = parseIpv4(f, { requireChecksum: true })
      const copy = Uint8Array.from(f.subarray(0, p.ihl * 4))
      copy[10] = copy[11] = 0
      expect(internetChecksum(copy)).toBe(p.checksum)
      expect(new Ipv4View(f).verifyChecksum()).toBe(true)
    }
  })

  it('payload, options and addresses are views into the input, not copies', () => {
    const bytes = Uint8Array.from(RECORD_ROUTE)
    const p = parseIpv4(bytes)
    for (const part of [p.src, p.dst, p.options, p.payload]) expect(part.buffer).toBe(bytes.buffer)
    expect(p.payload.byteOffset).toBe(32)
    bytes[32] = 0x11
    expect(p.payload[0]).toBe(0x11)
  })

  it('ignores bytes past the total length (Ethernet pads a 33-byte packet to 46)', () => {
    const padded = new Uint8Array(46)
    padded.set(UDP)
    const p = parseIpv4(padded)
    expect(p.totalLength).toBe(33)
    expect(toHex(p.payload)).toBe(toHex(UDP.subarray(20)))
    const out = poisoned(40)
    expect(emitIpv4(p, out, 0)).toBe(33)
    expect(toHex(out.subarray(0, 33))).toBe(toHex(UDP))
  })

  it('works on a subarray at an odd offset of a larger buffer', () => {
    const big = new Uint8Array(RECORD_ROUTE.length + 7)
    big.set(RECORD_ROUTE, 5)
    const p = parseIpv4(big.subarray(5, 5 + RECORD_ROUTE.length), { requireChecksum: true })
    expect(p.checksumOk).toBe(true)
    expect(toHex(p.payload)).toBe('a93e270f000a14307272')
  })
})

describe('parseIpv4 errors', () => {
  const mut = (base: Uint8Array, at: number, ...v: number[]): Uint8Array => {
    const b = Uint8Array.from(base)
    b.set(v, at)
    return b
  }
  it.each([
    ['empty', 'IP_ERR_TRUNCATED', new Uint8Array(0)],
    ['19 bytes', 'IP_ERR_TRUNCATED', SYN.subarray(0, 19)],
    ['version 6', 'IP_ERR_BAD_VERSION', mut(SYN, 0, 0x65)],
    ['version 0', 'IP_ERR_BAD_VERSION', mut(SYN, 0, 0x05)],
    ['IHL 4', 'IP_ERR_BAD_IHL', mut(SYN, 0, 0x44)],
    ['IHL 0', 'IP_ERR_BAD_IHL', mut(SYN, 0, 0x40)],
    ['IHL 6 in a 20-byte buffer', 'IP_ERR_BAD_IHL', mut(SYN, 0, 0x46).subarray(0, 20)],
    ['IHL 8 cut inside the options', 'IP_ERR_BAD_IHL', RECORD_ROUTE.subarray(0, 31)],
    ['IHL 15 in a 42-byte packet', 'IP_ERR_BAD_IHL', mut(RECORD_ROUTE, 0, 0x4f)],
    ['total length 59 below IHL 15 (60 bytes)', 'IP_ERR_BAD_TOTAL_LENGTH', mut(SYN, 0, 0x4f, 0x00, 0x00, 0x3b)],
    ['total length 19', 'IP_ERR_BAD_TOTAL_LENGTH', mut(SYN, 2, 0x00, 0x13)],
    ['total length 0 (TSO captures)', 'IP_ERR_BAD_TOTAL_LENGTH', mut(SYN, 2, 0x00, 0x00)],
    ['total length below IHL*4', 'IP_ERR_BAD_TOTAL_LENGTH', mut(RECORD_ROUTE, 2, 0x00, 0x1f)],
    ['total length past the buffer', 'IP_ERR_BAD_TOTAL_LENGTH', SYN.subarray(0, 59)],
    ['total length 65535', 'IP_ERR_BAD_TOTAL_LENGTH', mut(SYN, 2, 0xff, 0xff)],
  ] as const)('%s → %s', (_name, code, bytes) => {
    expect(codeOf(() => parseIpv4(bytes))).toBe(code)
    expect(codeOf(() => Ipv4View.check(bytes))).toBe(code)
  })

  it('a wrong checksum is reported, and refused with requireChecksum', () => {
    const bad = Uint8Array.from(SYN)
    bad[Ipv4Offset.TTL] = 63 // a router that forgot to update the checksum
    expect(parseIpv4(bad).checksumOk).toBe(false)
    expect(codeOf(() => parseIpv4(bad, { requireChecksum: true }))).toBe('IP_ERR_BAD_CHECKSUM')
    expect(codeOf(() => parseIpv4(SYN, { requireChecksum: true }))).toBe('no error')
  })
})

describe('emitIpv4', () => {
  const base = (): Ipv4Repr => ({ ...parseIpv4(UDP) })

  it('checksum modes: compute (default), zero, bad', () => {
    const r = base()
    const out = poisoned(33)
    emitIpv4(r, out, 0, { checksum: 'zero' })
    expect(toHex(out.subarray(10, 12))).toBe('0000')
    expect(toHex(out.subarray(12))).toBe(toHex(UDP.subarray(12)))
    emitIpv4(r, out, 0, { checksum: 'bad' })
    expect(parseIpv4(out).checksumOk).toBe(false)
    expect(parseIpv4(out).checksum).not.toBe(0x7bcb)
    emitIpv4(r, out, 0, { checksum: 'compute' })
    expect(toHex(out)).toBe(toHex(UDP))
  })

  it("'bad' fails even where the right checksum is 0x0000 (whose complement 0xffff would verify)", () => {
    const r = { ...base(), id: 0x26b8 } // chosen so that the header sums to 0xffff without its checksum
    const out = new Uint8Array(33)
    emitIpv4(r, out, 0)
    expect(toHex(out.subarray(10, 12))).toBe('0000')
    expect(parseIpv4(out).checksumOk).toBe(true)
    out[10] = out[11] = 0xff // the one's-complement twin of zero also verifies …
    expect(parseIpv4(out).checksumOk).toBe(true)
    emitIpv4(r, out, 0, { checksum: 'bad' }) // … so 'bad' must not be a plain complement
    expect(parseIpv4(out).checksumOk).toBe(false)
  })

  it("'bad' never verifies, whatever the fields", () => {
    fc.assert(
      fc.property(reprArb, (r) => {
        const out = new Uint8Array(ipv4Len(r))
        emitIpv4(r, out, 0, { checksum: 'bad' })
        expect(onesSum(out, 0, ipv4HeaderLen(r))).not.toBe(0xffff)
        expect(parseIpv4(out).checksumOk).toBe(false)
      }),
      { numRuns: 500 },
    )
  })

  it('emitIpv4Header leaves room for a payload written in place, same bytes as emitIpv4', () => {
    const p = parseIpv4(RECORD_ROUTE)
    const out = poisoned(RECORD_ROUTE.length + 4)
    const hl = emitIpv4Header(p, p.payload.length, out, 2)
    expect(hl).toBe(32)
    expect(out[2 + 32]).toBe(POISON) // the payload slot is untouched
    out.set(p.payload, 2 + hl) // stands for a TCP segment emitted straight into the buffer
    expect(toHex(out.subarray(2, 2 + RECORD_ROUTE.length))).toBe(toHex(RECORD_ROUTE))
    expect(out[0]).toBe(POISON)
    expect(out[out.length - 1]).toBe(POISON)
  })

  it('builds a packet from a plain repr', () => {
    const r: Ipv4Repr = {
      src: new Uint8Array([192, 0, 2, 1]),
      dst: new Uint8Array([198, 51, 100, 7]),
      protocol: IPPROTO_TCP,
      ttl: 255,
      id: 0xbeef,
      dscp: 46,
      ecn: 3,
      dontFragment: false,
      moreFragments: true,
      fragmentOffset: 0x1fff,
      options: new Uint8Array([1, 1, 1, 0]),
      payload: new Uint8Array([0xde, 0xad]),
    }
    const out = poisoned(26)
    expect(emitIpv4(r, out, 0)).toBe(26)
    expect(toHex(out)).toBe(
      toHex(
        hex(`
          46         # version 4, IHL 6
          bb         # DSCP 46 (EF) << 2 | ECN 3 (CE)
          001a       # total length 26
          beef       # identification
          3fff       # MF, offset 8191
          ff 06      # TTL 255, TCP
          ccf6       # checksum (worked out separately with a Python one-liner)
          c0000201   # 192.0.2.1
          c6336407   # 198.51.100.7
          01010100   # NOP NOP NOP EOL
          dead       # payload
        `),
      ),
    )
    expect(onesSum(out, 0, 24)).toBe(0xffff)
  })

  const bad = (patch: Partial<Ipv4Repr>) => ({ ...base(), ...patch })
  it.each([
    ['protocol 256', 'IP_ERR_BAD_FIELD', bad({ protocol: 256 })],
    ['ttl -1', 'IP_ERR_BAD_FIELD', bad({ ttl: -1 })],
    ['ttl 1.5', 'IP_ERR_BAD_FIELD', bad({ ttl: 1.5 })],
    ['id 65536', 'IP_ERR_BAD_FIELD', bad({ id: 65536 })],
    ['dscp 64', 'IP_ERR_BAD_FIELD', bad({ dscp: 64 })],
    ['ecn 4', 'IP_ERR_BAD_FIELD', bad({ ecn: 4 })],
    ['fragment offset 8192', 'IP_ERR_BAD_FIELD', bad({ fragmentOffset: 8192 })],
    ['options of 3 bytes', 'IP_ERR_BAD_FIELD', bad({ options: new Uint8Array(3) })],
    ['options of 44 bytes', 'IP_ERR_BAD_FIELD', bad({ options: new Uint8Array(44) })],
    ['total length 65536', 'IP_ERR_BAD_FIELD', bad({ payload: new Uint8Array(65516) })],
    ['a 16-byte source', 'IP_ERR_BAD_ADDRESS', bad({ src: new Uint8Array(16) })],
    ['a 3-byte destination', 'IP_ERR_BAD_ADDRESS', bad({ dst: new Uint8Array(3) })],
  ] as const)('%s → %s', (_name, code, repr) => {
    const out = poisoned(70000)
    expect(codeOf(() => emitIpv4(repr, out, 0))).toBe(code)
    expect(codeOf(() => emitIpv4Header(repr, repr.payload.length, out, 0))).toBe(code)
    expect(out.every((b) => b === POISON)).toBe(true)
  })

  it('65535 bytes is the largest packet', () => {
    const r = bad({ payload: new Uint8Array(65515) })
    const out = new Uint8Array(65535)
    expect(emitIpv4(r, out, 0)).toBe(65535)
    expect(parseIpv4(out).totalLength).toBe(65535)
  })

  it('refuses a buffer without room, before writing anything', () => {
    const out = poisoned(40)
    expect(codeOf(() => emitIpv4(base(), out, 8))).toBe('ERR_BAD_ARGUMENT') // 33 bytes do not fit at 8
    expect(codeOf(() => emitIpv4(base(), out, -1))).toBe('ERR_BAD_ARGUMENT')
    expect(codeOf(() => emitIpv4Header(base(), 13, out, 21))).toBe('ERR_BAD_ARGUMENT')
    expect(out.every((b) => b === POISON)).toBe(true)
    expect(emitIpv4Header(base(), 1000, out, 20)).toBe(20) // the header alone needs only its own room
  })
})

describe('Ipv4View', () => {
  it('reads every field of the options fixture', () => {
    const v = Ipv4View.check(RECORD_ROUTE)
    expect([v.version, v.ihl, v.headerLen, v.dscp, v.ecn, v.totalLength, v.id]).toEqual([4, 8, 32, 0, 0, 42, 43872])
    expect([v.reservedFlag, v.dontFragment, v.moreFragments, v.fragmentOffset]).toEqual([false, true, false, 0])
    expect([v.ttl, v.protocol, v.checksum]).toEqual([64, 17, 0x5f39])
    expect(toHex(v.src)).toBe('0a090001')
    expect(toHex(v.dst)).toBe('0a090002')
    expect(toHex(v.options)).toBe('070b080a0900010000000000')
    expect(toHex(v.payload)).toBe('a93e270f000a14307272')
  })

  it('setters change only their own bits, and fillChecksum makes it valid again', () => {
    const b = Uint8Array.from(UDP)
    const v = new Ipv4View(b)
    v.ttl = 63
    expect(v.verifyChecksum()).toBe(false)
    v.fillChecksum()
    expect(v.verifyChecksum()).toBe(true)
    // RFC 1624: decrementing the TTL adds 0x0100 to the checksum
    expect(v.checksum).toBe(0x7ccb)
    v.dscp = 0x3f
    expect(b[1]).toBe(0xfc)
    v.ecn = 2
    expect(b[1]).toBe(0xfe)
    expect(v.dscp).toBe(0x3f)
    v.dontFragment = false
    v.moreFragments = true
    v.fragmentOffset = 0x155
    expect(toHex(b.subarray(6, 8))).toBe('2155')
    v.reservedFlag = true
    expect(toHex(b.subarray(6, 8))).toBe('a155')
    expect([v.reservedFlag, v.dontFragment, v.moreFragments, v.fragmentOffset]).toEqual([true, false, true, 0x155])
    v.ihl = 6
    expect(b[0]).toBe(0x46)
    v.version = 5
    expect(b[0]).toBe(0x56)
    v.id = 0x1234
    v.totalLength = 0x4321
    v.protocol = 1
    v.checksum = 0xabcd
    expect(toHex(b.subarray(0, 12))).toBe('56fe4321' + '1234' + 'a155' + '3f01' + 'abcd')
    v.src = new Uint8Array([1, 2, 3, 4])
    v.dst = new Uint8Array([5, 6, 7, 8])
    expect(toHex(b.subarray(12, 20))).toBe('0102030405060708')
  })

  it.each([
    ['ttl', 256],
    ['dscp', 64],
    ['ecn', 4],
    ['ihl', 16],
    ['fragmentOffset', 0x2000],
    ['id', -1],
    ['totalLength', 0x10000],
    ['checksum', 0.5],
  ] as const)('setter %s refuses %s', (field, value) => {
    const b = Uint8Array.from(UDP)
    const v = new Ipv4View(b) as unknown as Record<string, number>
    expect(codeOf(() => (v[field] = value))).toBe('IP_ERR_BAD_FIELD')
    expect(toHex(b)).toBe(toHex(UDP))
  })

  it('address setters refuse the wrong length', () => {
    const v = new Ipv4View(Uint8Array.from(UDP))
    expect(codeOf(() => (v.src = new Uint8Array(16)))).toBe('IP_ERR_BAD_ADDRESS')
  })
})

const bytesN = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const reprArb: fc.Arbitrary<Ipv4Repr> = fc.record({
  src: bytesN(4),
  dst: bytesN(4),
  protocol: fc.integer({ min: 0, max: 255 }),
  ttl: fc.integer({ min: 0, max: 255 }),
  id: fc.integer({ min: 0, max: 0xffff }),
  dscp: fc.integer({ min: 0, max: 63 }),
  ecn: fc.integer({ min: 0, max: 3 }),
  dontFragment: fc.boolean(),
  moreFragments: fc.boolean(),
  fragmentOffset: fc.integer({ min: 0, max: 0x1fff }),
  options: fc.integer({ min: 0, max: 10 }).chain((w) => bytesN(4 * w)),
  payload: fc.uint8Array({ maxLength: 120 }),
})

const norm = (r: Ipv4Repr) => ({
  src: toHex(r.src),
  dst: toHex(r.dst),
  protocol: r.protocol,
  ttl: r.ttl,
  id: r.id,
  dscp: r.dscp,
  ecn: r.ecn,
  dontFragment: r.dontFragment,
  moreFragments: r.moreFragments,
  fragmentOffset: r.fragmentOffset,
  options: toHex(r.options),
  payload: toHex(r.payload),
})

describe('laws', () => {
  it('codec laws', () => {
    checkCodecLaws({
      arbitrary: reprArb,
      len: (r) => ipv4Len(r),
      emit: (r, into, off) => emitIpv4(r, into, off),
      parse: (b) => {
        const p = parseIpv4(b, { requireChecksum: true })
        expect(p.totalLength).toBe(b.length)
        expect(p.isFragment).toBe(p.moreFragments || p.fragmentOffset !== 0)
        return p
      },
      normalize: norm,
    })
  })

  it('parse never throws anything but a WireError', () => {
    checkFuzz((b) => parseIpv4(b), FIXTURES, 3000)
    checkFuzz((b) => parseIpv4(b, { requireChecksum: true }), FIXTURES, 2000)
  })

  it('whatever parses re-emits to the same bytes up to the total length (reserved flag aside)', () => {
    fc.assert(
      fc.property(fc.constantFrom(...FIXTURES), fc.nat(), fc.nat(255), (seed, at, value) => {
        const b = Uint8Array.from(seed)
        b[at % Math.min(b.length, 40)] = value
        let p: Ipv4Parsed
        try {
          p = parseIpv4(b)
        } catch (e) {
          if (isWireError(e)) return
          throw e
        }
        b[6] &= 0x7f // the reserved flag is not in the repr
        const out = new Uint8Array(p.totalLength)
        emitIpv4(p, out, 0, { checksum: p.checksumOk ? 'compute' : 'bad' })
        if (p.checksumOk) expect(toHex(out)).toBe(toHex(b.subarray(0, p.totalLength)))
        else expect(toHex(out.subarray(12))).toBe(toHex(b.subarray(12, p.totalLength)))
      }),
      { numRuns: 2000 },
    )
  })
})
