import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isWireError, type WireErrorCode } from '../../src/tcp/errors.js'
import {
  ARP_LEN,
  ARP_OP_REPLY,
  ARP_OP_REQUEST,
  arpLen,
  ArpOffset,
  ArpView,
  emitArp,
  parseArp,
  type ArpRepr,
} from '../../src/net/arp.js'
import { parseEthernet } from '../../src/net/ethernet.js'
import { checkCodecLaws, checkFuzz, hex, poisoned, POISON, toHex, codeOf, reemitFixture } from '../helpers/codecLaws.js'

// The ARP exchange two Linux 6.18 kernels made across a veth pair (captured with tcpdump on A's side)
// before A's first datagram to B: A = 02:00:00:00:00:0a / 10.9.0.1, B = 02:00:00:00:00:0b / 10.9.0.2.

/** A asks: who has 10.9.0.2? */
const REQUEST = hex(`
  0001           # hardware type Ethernet
  0800           # protocol type IPv4
  06 04          # hardware length 6, protocol length 4
  0001           # operation: request
  02000000000a   # sender MAC (A)
  0a090001       # sender IP 10.9.0.1
  000000000000   # target MAC: unknown, zero (Linux leaves it zero in a request)
  0a090002       # target IP 10.9.0.2
`)

/** B answers A directly: 10.9.0.2 is at 02:00:00:00:00:0b. */
const REPLY = hex(`
  0001 0800 06 04
  0002           # operation: reply
  02000000000b   # sender MAC (B)
  0a090002       # sender IP 10.9.0.2
  02000000000a   # target MAC (A)
  0a090001       # target IP 10.9.0.1
`)

/** The request as a receiving NIC delivers it: the Ethernet frame padded to 60 bytes. */
const REQUEST_FRAME_PADDED = hex(`ffffffffffff 02000000000a 0806 ${toHex(REQUEST)} ${'00'.repeat(18)}`)

const FIXTURES = [REQUEST, REPLY, REQUEST_FRAME_PADDED.subarray(14)]

function reemit(bytes: Uint8Array): ArpRepr {
  return reemitFixture<ArpRepr>(bytes, { parse: parseArp, len: arpLen, emit: emitArp })
}

describe('parseArp on kernel packets', () => {
  it('request', () => {
    const r = reemit(REQUEST)
    expect(r.op).toBe(ARP_OP_REQUEST)
    expect(toHex(r.senderMac)).toBe('02000000000a')
    expect(toHex(r.senderIp)).toBe('0a090001')
    expect(toHex(r.targetMac)).toBe('000000000000')
    expect(toHex(r.targetIp)).toBe('0a090002')
  })

  it('reply', () => {
    const r = reemit(REPLY)
    expect(r.op).toBe(ARP_OP_REPLY)
    expect(toHex(r.senderMac)).toBe('02000000000b')
    expect(toHex(r.senderIp)).toBe('0a090002')
    expect(toHex(r.targetMac)).toBe('02000000000a')
    expect(toHex(r.targetIp)).toBe('0a090001')
  })

  it('inside a padded Ethernet frame: the 18 padding bytes are ignored', () => {
    const eth = parseEthernet(REQUEST_FRAME_PADDED)
    expect(eth.payload.length).toBe(46)
    const r = reemit(eth.payload)
    expect(toHex(r.targetIp)).toBe('0a090002')
  })

  it('addresses are views into the input', () => {
    const b = Uint8Array.from(REPLY)
    const r = parseArp(b)
    for (const a of [r.senderMac, r.senderIp, r.targetMac, r.targetIp]) expect(a.buffer).toBe(b.buffer)
    expect(r.targetIp.byteOffset).toBe(ArpOffset.TPA)
  })

  it('any other operation number is kept (RFC 5227 probes are requests; 3/4 are RARP, kept as is)', () => {
    const b = Uint8Array.from(REQUEST)
    b[7] = 4
    expect(reemit(b).op).toBe(4)
  })
})

describe('parseArp errors', () => {
  const mut = (at: number, ...v: number[]) => {
    const b = Uint8Array.from(REQUEST)
    b.set(v, at)
    return b
  }
  it.each([
    ['empty', 'ARP_ERR_TRUNCATED', new Uint8Array(0)],
    ['27 bytes', 'ARP_ERR_TRUNCATED', REQUEST.subarray(0, 27)],
    ['8 bytes of a header only', 'ARP_ERR_TRUNCATED', REQUEST.subarray(0, 8)],
    ['hardware type 6 (IEEE 802)', 'ARP_ERR_UNSUPPORTED', mut(0, 0, 6)],
    ['protocol type IPv6', 'ARP_ERR_UNSUPPORTED', mut(2, 0x86, 0xdd)],
    ['hardware length 8', 'ARP_ERR_UNSUPPORTED', mut(4, 8)],
    ['protocol length 16', 'ARP_ERR_UNSUPPORTED', mut(5, 16)],
    ['protocol length 2', 'ARP_ERR_UNSUPPORTED', mut(5, 2)],
    ['hardware length 0', 'ARP_ERR_UNSUPPORTED', mut(4, 0)],
  ] as const)('%s → %s', (_name, code, bytes) => {
    expect(codeOf(() => parseArp(bytes))).toBe(code)
    expect(codeOf(() => ArpView.check(bytes))).toBe(code)
  })
})

describe('emitArp', () => {
  it('builds a gratuitous ARP reply from a plain repr', () => {
    const mac = hex('02000000000b')
    const ip = hex('0a090002')
    const out = poisoned(28)
    emitArp({ op: ARP_OP_REPLY, senderMac: mac, senderIp: ip, targetMac: hex('ffffffffffff'), targetIp: ip }, out, 0)
    expect(toHex(out)).toBe(toHex(hex('0001 0800 06 04 0002 02000000000b 0a090002 ffffffffffff 0a090002')))
  })

  const base = (): ArpRepr => ({ ...parseArp(REPLY) })
  it.each([
    ['op 65536', 'ARP_ERR_BAD_FIELD', { ...base(), op: 65536 }],
    ['op -1', 'ARP_ERR_BAD_FIELD', { ...base(), op: -1 }],
    ['a 5-byte sender MAC', 'ETH_ERR_BAD_ADDRESS', { ...base(), senderMac: new Uint8Array(5) }],
    ['a 16-byte target IP', 'IP_ERR_BAD_ADDRESS', { ...base(), targetIp: new Uint8Array(16) }],
    ['a 7-byte target MAC', 'ETH_ERR_BAD_ADDRESS', { ...base(), targetMac: new Uint8Array(7) }],
    ['a 3-byte sender IP', 'IP_ERR_BAD_ADDRESS', { ...base(), senderIp: new Uint8Array(3) }],
  ] as const)('%s → %s', (_name, code, repr) => {
    const out = poisoned(40)
    expect(codeOf(() => emitArp(repr, out, 0))).toBe(code)
    expect(out.every((b) => b === POISON)).toBe(true)
  })

  it('refuses a buffer without room, before writing anything', () => {
    const out = poisoned(30)
    expect(codeOf(() => emitArp(base(), out, 3))).toBe('ERR_BAD_ARGUMENT')
    expect(out.every((b) => b === POISON)).toBe(true)
    expect(emitArp(base(), out, 2)).toBe(28)
  })
})

describe('ArpView', () => {
  it('reads and writes every field', () => {
    const b = Uint8Array.from(REQUEST)
    const v = ArpView.check(b)
    expect([v.htype, v.ptype, v.hlen, v.plen, v.op]).toEqual([1, 0x0800, 6, 4, 1])
    // turn the request into the reply, field by field, as an ARP responder would
    v.op = ARP_OP_REPLY
    v.targetMac = v.senderMac.slice()
    v.targetIp = v.senderIp.slice()
    v.senderMac = hex('02000000000b')
    v.senderIp = hex('0a090002')
    expect(toHex(b)).toBe(toHex(REPLY))
    v.htype = 6
    v.ptype = 0x86dd
    v.hlen = 8
    v.plen = 16
    expect(toHex(b.subarray(0, 6))).toBe('000686dd0810')
  })

  it.each([
    ['op', 0x10000],
    ['htype', -1],
    ['ptype', 1.5],
    ['hlen', 256],
    ['plen', -1],
  ] as const)('setter %s refuses %s', (field, value) => {
    const b = Uint8Array.from(REQUEST)
    const v = new ArpView(b) as unknown as Record<string, number>
    expect(codeOf(() => (v[field] = value))).toBe('ARP_ERR_BAD_FIELD')
    expect(toHex(b)).toBe(toHex(REQUEST))
  })

  it('address setters refuse the wrong length', () => {
    const v = new ArpView(Uint8Array.from(REQUEST))
    expect(codeOf(() => (v.senderIp = new Uint8Array(6)))).toBe('IP_ERR_BAD_ADDRESS')
    expect(codeOf(() => (v.targetMac = new Uint8Array(4)))).toBe('ETH_ERR_BAD_ADDRESS')
  })
})

const bytesN = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const reprArb: fc.Arbitrary<ArpRepr> = fc.record({
  op: fc.oneof(fc.constantFrom(ARP_OP_REQUEST, ARP_OP_REPLY), fc.integer({ min: 0, max: 0xffff })),
  senderMac: bytesN(6),
  senderIp: bytesN(4),
  targetMac: bytesN(6),
  targetIp: bytesN(4),
})

const norm = (r: ArpRepr) => ({
  op: r.op,
  senderMac: toHex(r.senderMac),
  senderIp: toHex(r.senderIp),
  targetMac: toHex(r.targetMac),
  targetIp: toHex(r.targetIp),
})

describe('laws', () => {
  it('codec laws', () => {
    checkCodecLaws({ arbitrary: reprArb, len: arpLen, emit: emitArp, parse: parseArp, normalize: norm })
  })

  it('parse never throws anything but a WireError', () => {
    checkFuzz(parseArp, FIXTURES, 3000)
  })
})
