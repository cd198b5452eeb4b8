import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isWireError, type WireErrorCode } from '../../src/tcp/errors.js'
import {
  emitEthernet,
  emitEthernetHeader,
  ETHERNET_MIN_FRAME_LEN,
  ethernetHeaderLen,
  ethernetLen,
  EthernetOffset,
  EthernetView,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_QINQ,
  ETHERTYPE_VLAN,
  parseEthernet,
  type EthernetRepr,
} from '../../src/net/ethernet.js'
import { parseIpv4 } from '../../src/net/ipv4.js'
import { checkCodecLaws, checkFuzz, hex, poisoned, POISON, toHex, codeOf, reemitFixture } from '../helpers/codecLaws.js'

// Frames captured with tcpdump on a veth pair between two network namespaces (Linux 6.18): host A is
// 02:00:00:00:00:0a / 10.9.0.1, host B 02:00:00:00:00:0b / 10.9.0.2. Captured on the sender, so frames
// shorter than 60 bytes are not padded yet.

const ARP_BODY = '0001 0800 06 04 0001 02000000000a 0a090001 000000000000 0a090002'

/** A's kernel asking who has 10.9.0.2. */
const ARP_REQUEST = hex(`
  ffffffffffff   # destination: broadcast
  02000000000a   # source: A
  0806           # EtherType ARP
  ${ARP_BODY}    # request: who has 10.9.0.2, tell 10.9.0.1 (28 bytes)
`)

const UDP_PACKET = '45000021aaec400040117bcb0a0900010a090002 e6a7270f000d1433 68656c6c6f'

/** The UDP datagram that the ARP exchange let A send: 47 bytes as the sender's capture shows it. */
const UDP_FRAME = hex(`
  02000000000b   # destination: B
  02000000000a   # source: A
  0800           # EtherType IPv4
  ${UDP_PACKET}  # 10.9.0.1:59047 → 10.9.0.2:9999 "hello" (33 bytes)
`)

/** The same frame as a receiving NIC delivers it: padded with zeros to 60 bytes. */
const UDP_FRAME_PADDED = hex(`${toHex(UDP_FRAME)} ${'00'.repeat(13)}`)

/** An MLDv2 report to 33:33:00:00:00:16, the IPv6 multicast MAC of ff02::16 (RFC 2464 §7). */
const MLD_FRAME = hex(`
  333300000016   # destination: IPv6 multicast ff02::16
  02000000000b   # source: B
  86dd           # EtherType IPv6
  6000000000380001fe80000000000000000000fffe00000bff020000000000000000000000000016   # IPv6, HBH next
  3a000502000001008f006fd70000000204000000ff0200000000000000000001ff00000b04000000ff0200000000000000000001ff000002
`)

/**
 * By hand (this kernel has no 8021q module): the ARP request as a trunk port carries it, VLAN 10 with
 * priority 5, padded to 60 bytes. tshark decodes it as annotated.
 */
const VLAN_ARP = hex(`
  ffffffffffff 02000000000a
  8100           # TPID 802.1Q
  a00a           # TCI: PCP 5, DEI 0, VID 10
  0806           # EtherType ARP
  ${ARP_BODY}
  0000000000000000000000000000   # padding to 60 bytes
`)

/** By hand: the UDP frame in QinQ, S-tag VID 100 (DEI set) outside a C-tag VID 10. One tag is decoded. */
const QINQ_UDP = hex(`
  02000000000b 02000000000a
  88a8           # TPID 802.1ad (S-tag)
  1064           # TCI: PCP 0, DEI 1, VID 100
  8100           # EtherType after the tag: the inner C-tag's TPID
  000a 0800      # inner TCI VID 10, EtherType IPv4: left in the payload
  ${UDP_PACKET}
`)

const FIXTURES = [ARP_REQUEST, UDP_FRAME, UDP_FRAME_PADDED, MLD_FRAME, VLAN_ARP, QINQ_UDP]

/** Parses, re-emits into a poisoned buffer at an offset, and checks every byte and the byte count. */
function reemit(bytes: Uint8Array): EthernetRepr {
  return reemitFixture<EthernetRepr>(bytes, { parse: parseEthernet, len: ethernetLen, emit: emitEthernet })
}

describe('parseEthernet on captured frames', () => {
  it('ARP request to broadcast', () => {
    const r = reemit(ARP_REQUEST)
    expect(toHex(r.dst)).toBe('ffffffffffff')
    expect(toHex(r.src)).toBe('02000000000a')
    expect(r.etherType).toBe(ETHERTYPE_ARP)
    expect(r.vlan).toBeUndefined()
    expect(toHex(r.payload)).toBe(toHex(hex(ARP_BODY)))
  })

  it('IPv4 frame: 47 bytes unpadded, and as padded to 60 on receipt', () => {
    const r = reemit(UDP_FRAME)
    expect(r.etherType).toBe(ETHERTYPE_IPV4)
    expect(r.payload.length).toBe(33)
    const padded = reemit(UDP_FRAME_PADDED)
    expect(padded.payload.length).toBe(46) // Ethernet does not know where IP ends …
    expect(parseIpv4(padded.payload).payload.length).toBe(13) // … IP's total length does
  })

  it('IPv6 multicast frame', () => {
    const r = reemit(MLD_FRAME)
    expect(toHex(r.dst)).toBe('333300000016')
    expect(r.etherType).toBe(ETHERTYPE_IPV6)
    expect(r.payload.length).toBe(96)
  })

  it('802.1Q tagged frame', () => {
    const r = reemit(VLAN_ARP)
    expect(r.vlan).toEqual({ tpid: ETHERTYPE_VLAN, pcp: 5, dei: false, id: 10 })
    expect(r.etherType).toBe(ETHERTYPE_ARP)
    expect(ethernetHeaderLen(r)).toBe(18)
    expect(r.payload.length).toBe(42)
    expect(toHex(r.payload.subarray(0, 28))).toBe(toHex(hex(ARP_BODY)))
  })

  it('QinQ: the outer 802.1ad tag is decoded, the inner tag stays in the payload', () => {
    const r = reemit(QINQ_UDP)
    expect(r.vlan).toEqual({ tpid: ETHERTYPE_QINQ, pcp: 0, dei: true, id: 100 })
    expect(r.etherType).toBe(ETHERTYPE_VLAN)
    // the payload is itself "TCI + EtherType + packet": parse it as one more tag by hand
    expect(toHex(r.payload.subarray(0, 4))).toBe('000a0800')
    expect(parseIpv4(r.payload.subarray(4)).totalLength).toBe(33)
  })

  it('the payload is a view into the frame, not a copy', () => {
    const b = Uint8Array.from(VLAN_ARP)
    const r = parseEthernet(b)
    for (const part of [r.dst, r.src, r.payload]) expect(part.buffer).toBe(b.buffer)
    expect(r.payload.byteOffset).toBe(18)
  })

  it('a header with nothing after it is fine', () => {
    expect(reemit(ARP_REQUEST.subarray(0, 14)).payload.length).toBe(0)
    expect(reemit(VLAN_ARP.subarray(0, 18)).payload.length).toBe(0)
  })

  it('an 802.3 length field (< 0x0600) is kept as the EtherType', () => {
    const r = reemit(hex(`0180c2000000 02000000000a 0026 424203 000000`)) // an STP BPDU's LLC start
    expect(r.etherType).toBe(0x26)
  })
})

describe('parseEthernet errors', () => {
  it.each([
    ['empty', new Uint8Array(0)],
    ['13 bytes', ARP_REQUEST.subarray(0, 13)],
    ['a VLAN TPID with 17 bytes', VLAN_ARP.subarray(0, 17)],
    ['an 802.1ad TPID with 14 bytes', QINQ_UDP.subarray(0, 14)],
  ])('%s → ETH_ERR_TRUNCATED', (_name, bytes) => {
    expect(codeOf(() => parseEthernet(bytes))).toBe('ETH_ERR_TRUNCATED')
    expect(codeOf(() => EthernetView.check(bytes))).toBe('ETH_ERR_TRUNCATED')
  })
})

describe('emitEthernet', () => {
  it('does not pad by default; pads with zeros to 60 when asked', () => {
    const r = parseEthernet(UDP_FRAME)
    expect(ethernetLen(r)).toBe(47)
    expect(ethernetLen(r, { pad: true })).toBe(ETHERNET_MIN_FRAME_LEN)
    const out = poisoned(64)
    expect(emitEthernet(r, out, 1, { pad: true })).toBe(60)
    expect(toHex(out.subarray(1, 61))).toBe(toHex(UDP_FRAME_PADDED))
    expect([out[0], out[61]]).toEqual([POISON, POISON])
    // a frame already long enough is not touched by pad
    const big = parseEthernet(MLD_FRAME)
    expect(ethernetLen(big, { pad: true })).toBe(110)
  })

  it('a tag with no TPID is written as 802.1Q', () => {
    const out = poisoned(18)
    const r: EthernetRepr = {
      dst: hex('ffffffffffff'),
      src: hex('02000000000a'),
      vlan: { pcp: 7, dei: true, id: 0xfff },
      etherType: 0x86dd,
      payload: new Uint8Array(0),
    }
    expect(emitEthernet(r, out, 0)).toBe(18)
    expect(toHex(out)).toBe('ffffffffffff02000000000a' + '8100' + 'ffff' + '86dd')
  })

  it('emitEthernetHeader writes only the header', () => {
    const r = parseEthernet(VLAN_ARP)
    const out = poisoned(20)
    expect(emitEthernetHeader(r, out, 1)).toBe(18)
    expect(toHex(out.subarray(1, 19))).toBe(toHex(VLAN_ARP.subarray(0, 18)))
    expect(out[19]).toBe(POISON)
  })

  const base = (): EthernetRepr => parseEthernet(VLAN_ARP)
  it.each([
    ['EtherType 65536', 'ETH_ERR_BAD_FIELD', { ...base(), etherType: 0x10000 }],
    ['PCP 8', 'ETH_ERR_BAD_FIELD', { ...base(), vlan: { pcp: 8, dei: false, id: 1 } }],
    ['VID 4096', 'ETH_ERR_BAD_FIELD', { ...base(), vlan: { pcp: 0, dei: false, id: 4096 } }],
    ['TPID 0x9100', 'ETH_ERR_BAD_FIELD', { ...base(), vlan: { tpid: 0x9100, pcp: 0, dei: false, id: 1 } }],
    ['a 5-byte destination', 'ETH_ERR_BAD_ADDRESS', { ...base(), dst: new Uint8Array(5) }],
    ['a 7-byte source', 'ETH_ERR_BAD_ADDRESS', { ...base(), src: new Uint8Array(7) }],
  ] as const)('%s → %s', (_name, code, repr) => {
    const out = poisoned(100)
    expect(codeOf(() => emitEthernet(repr, out, 0))).toBe(code)
    expect(out.every((b) => b === POISON)).toBe(true)
  })

  it('names the type of an address that is not a Uint8Array (a plain array of 6 numbers is the usual slip)', () => {
    const out = poisoned(100)
    const message = (repr: unknown): string => {
      try {
        emitEthernet(repr as EthernetRepr, out, 0)
      } catch (e) {
        expect(isWireError(e, 'ETH_ERR_BAD_ADDRESS')).toBe(true)
        return (e as Error).message
      }
      throw new Error('emitEthernet accepted it')
    }
    expect(message({ ...base(), dst: [2, 0, 0, 0, 0, 0x0b] })).toBe('Ethernet destination address needs a Uint8Array of 6 bytes, got Array of length 6')
    expect(message({ ...base(), src: new Uint16Array(6) })).toBe('Ethernet source address needs a Uint8Array of 6 bytes, got Uint16Array of length 6')
    expect(message({ ...base(), src: '02:00:00:00:00:0a' })).toBe('Ethernet source address needs a Uint8Array of 6 bytes, got string')
    expect(message({ ...base(), dst: undefined })).toBe('Ethernet destination address needs a Uint8Array of 6 bytes, got undefined')
    expect(message({ ...base(), dst: null })).toBe('Ethernet destination address needs a Uint8Array of 6 bytes, got null')
    // a Uint8Array of the wrong length keeps the plain message; a Buffer is a Uint8Array and is accepted
    expect(message({ ...base(), dst: new Uint8Array(5) })).toBe('Ethernet destination address needs 6 bytes, got 5')
    expect(out.every((b) => b === POISON)).toBe(true)
    expect(emitEthernet({ ...base(), dst: Buffer.from('02000000000b', 'hex') }, out, 0)).toBe(60)
    expect(toHex(out.subarray(0, 6))).toBe('02000000000b')
    // the view's setters check the same way
    const v = EthernetView.check(poisoned(18).fill(0))
    expect(() => (v.dst = [1, 2, 3, 4, 5, 6] as unknown as Uint8Array)).toThrow('Ethernet destination address needs a Uint8Array of 6 bytes, got Array of length 6')
  })

  it('refuses a buffer without room, before writing anything', () => {
    const out = poisoned(59)
    expect(codeOf(() => emitEthernet(base(), out, 0))).toBe('ERR_BAD_ARGUMENT') // 60 bytes
    expect(codeOf(() => emitEthernet(parseEthernet(UDP_FRAME), out, 0, { pad: true }))).toBe('ERR_BAD_ARGUMENT')
    expect(codeOf(() => emitEthernetHeader(base(), out, 42))).toBe('ERR_BAD_ARGUMENT')
    expect(out.every((b) => b === POISON)).toBe(true)
    expect(emitEthernet(parseEthernet(UDP_FRAME), out, 0)).toBe(47)
  })
})

describe('EthernetView', () => {
  it('reads the tagged fixture', () => {
    const v = EthernetView.check(VLAN_ARP)
    expect(toHex(v.dst)).toBe('ffffffffffff')
    expect(toHex(v.src)).toBe('02000000000a')
    expect([v.outerEtherType, v.tagged, v.tci, v.pcp, v.dei, v.vlanId, v.etherType, v.headerLen]).toEqual([
      0x8100, true, 0xa00a, 5, false, 10, 0x0806, 18,
    ])
    expect(v.payload.length).toBe(42)
    const u = EthernetView.check(UDP_FRAME)
    expect([u.outerEtherType, u.tagged, u.etherType, u.headerLen]).toEqual([0x0800, false, 0x0800, 14])
  })

  it('setters change only their own bits', () => {
    const b = Uint8Array.from(VLAN_ARP)
    const v = new EthernetView(b)
    v.pcp = 0
    expect(toHex(b.subarray(14, 16))).toBe('000a')
    v.dei = true
    expect(toHex(b.subarray(14, 16))).toBe('100a')
    v.vlanId = 0xabc
    expect(toHex(b.subarray(14, 16))).toBe('1abc')
    v.dei = false
    v.pcp = 7
    expect(toHex(b.subarray(14, 16))).toBe('eabc')
    v.tci = 0x0001
    v.etherType = ETHERTYPE_IPV6 // the inner one, since the frame is tagged
    expect(toHex(b.subarray(12, 18))).toBe('8100000186dd')
    v.dst = hex('010203040506')
    v.src = hex('0a0b0c0d0e0f')
    expect(toHex(b.subarray(0, 12))).toBe('0102030405060a0b0c0d0e0f')
    v.outerEtherType = ETHERTYPE_IPV4 // now untagged: etherType is the outer one
    expect([v.tagged, v.etherType, v.headerLen]).toEqual([false, ETHERTYPE_IPV4, EthernetOffset.PAYLOAD])
  })

  it.each([
    ['pcp', 8],
    ['vlanId', 4096],
    ['tci', 0x10000],
    ['etherType', -1],
    ['outerEtherType', 1.5],
  ] as const)('setter %s refuses %s', (field, value) => {
    const b = Uint8Array.from(VLAN_ARP)
    const v = new EthernetView(b) as unknown as Record<string, number>
    expect(codeOf(() => (v[field] = value))).toBe('ETH_ERR_BAD_FIELD')
    expect(toHex(b)).toBe(toHex(VLAN_ARP))
  })

  it('MAC setters refuse the wrong length', () => {
    expect(codeOf(() => (new EthernetView(Uint8Array.from(VLAN_ARP)).src = new Uint8Array(4)))).toBe(
      'ETH_ERR_BAD_ADDRESS',
    )
  })
})

const bytesN = (n: number) => fc.uint8Array({ minLength: n, maxLength: n })
const reprArb: fc.Arbitrary<EthernetRepr> = fc.oneof(
  fc.record({
    dst: bytesN(6),
    src: bytesN(6),
    // untagged: any EtherType except a TPID, which would read back as a tag
    etherType: fc.integer({ min: 0, max: 0xffff }).filter((t) => t !== ETHERTYPE_VLAN && t !== ETHERTYPE_QINQ),
    payload: fc.uint8Array({ maxLength: 80 }),
  }),
  fc.record({
    dst: bytesN(6),
    src: bytesN(6),
    vlan: fc.record({
      tpid: fc.constantFrom(ETHERTYPE_VLAN, ETHERTYPE_QINQ),
      pcp: fc.integer({ min: 0, max: 7 }),
      dei: fc.boolean(),
      id: fc.integer({ min: 0, max: 0xfff }),
    }),
    etherType: fc.integer({ min: 0, max: 0xffff }),
    payload: fc.uint8Array({ maxLength: 80 }),
  }),
)

const norm = (r: EthernetRepr) => ({
  dst: toHex(r.dst),
  src: toHex(r.src),
  vlan: r.vlan,
  etherType: r.etherType,
  payload: toHex(r.payload),
})

describe('laws', () => {
  it('codec laws', () => {
    checkCodecLaws({
      arbitrary: reprArb,
      len: (r) => ethernetLen(r),
      emit: emitEthernet,
      parse: parseEthernet,
      normalize: norm,
    })
  })

  it('codec laws with padding: the frame is 60 bytes or more and starts with the unpadded one', () => {
    fc.assert(
      fc.property(reprArb, (r) => {
        const n = ethernetLen(r, { pad: true })
        expect(n).toBe(Math.max(60, ethernetLen(r)))
        const out = poisoned(n + 1)
        expect(emitEthernet(r, out, 0, { pad: true })).toBe(n)
        expect(out[n]).toBe(POISON)
        const bare = new Uint8Array(ethernetLen(r))
        emitEthernet(r, bare, 0)
        expect(toHex(out.subarray(0, bare.length))).toBe(toHex(bare))
        expect(out.subarray(bare.length, n).every((b) => b === 0)).toBe(true)
      }),
    )
  })

  it('parse never throws anything but a WireError', () => {
    checkFuzz(parseEthernet, FIXTURES, 3000)
  })
})

// ---- tshark as an outside reader -----------------------------------------------------------------------

function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Classic pcap, link type 1 (Ethernet), one record per frame. */
function pcapOf(frames: Uint8Array[]): Uint8Array {
  const parts: Buffer[] = []
  const head = Buffer.alloc(24)
  head.writeUInt32LE(0xa1b2c3d4, 0)
  head.writeUInt16LE(2, 4)
  head.writeUInt16LE(4, 6)
  head.writeUInt32LE(65535, 16)
  head.writeUInt32LE(1, 20)
  parts.push(head)
  for (const f of frames) {
    const rec = Buffer.alloc(16)
    rec.writeUInt32LE(f.length, 8)
    rec.writeUInt32LE(f.length, 12)
    parts.push(rec, Buffer.from(f))
  }
  return Buffer.concat(parts)
}

describe.skipIf(!hasTshark())('tshark reads what we emit', () => {
  it('tags, EtherTypes and addresses', () => {
    const a = hex('02000000000a')
    const b = hex('02000000000b')
    const reprs: EthernetRepr[] = [
      {
        dst: hex('ffffffffffff'),
        src: a,
        vlan: { tpid: ETHERTYPE_VLAN, pcp: 5, dei: false, id: 10 },
        etherType: ETHERTYPE_ARP,
        payload: hex(ARP_BODY),
      },
      {
        dst: b,
        src: a,
        vlan: { tpid: ETHERTYPE_QINQ, pcp: 3, dei: true, id: 4094 },
        etherType: ETHERTYPE_IPV4,
        payload: hex(UDP_PACKET),
      },
      { dst: hex('333300000016'), src: b, etherType: ETHERTYPE_IPV6, payload: MLD_FRAME.subarray(14) },
    ]
    const frames = reprs.map((r) => {
      const f = new Uint8Array(ethernetLen(r, { pad: true }))
      emitEthernet(r, f, 0, { pad: true })
      return f
    })
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-eth-'))
    try {
      const file = join(dir, 'frames.pcap')
      writeFileSync(file, pcapOf(frames))
      const fields = [
        ...['eth.dst', 'eth.src', 'eth.type'],
        ...['vlan.priority', 'vlan.dei', 'vlan.id', 'vlan.etype'],
        ...['ieee8021ad.id', 'ieee8021ad.priority', 'ieee8021ad.dei'],
        ...['arp.dst.proto_ipv4', 'ip.dst', 'ipv6.dst'],
      ]
      const args = ['-r', file, '-T', 'fields', ...fields.flatMap((f) => ['-e', f]), '-E', 'separator=|']
      const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      const rows = out.trim().split('\n').map((l) => l.split('|'))
      // booleans print as 0/1 or False/True depending on the tshark version
      const norm = (v: string) => (v === 'False' ? '0' : v === 'True' ? '1' : v)
      const row = (i: number) => Object.fromEntries(fields.map((f, j) => [f, norm(rows[i][j])]))
      expect(rows.length).toBe(3)
      expect(row(0)).toMatchObject({
        'eth.dst': 'ff:ff:ff:ff:ff:ff',
        'eth.src': '02:00:00:00:00:0a',
        'vlan.priority': '5',
        'vlan.dei': '0',
        'vlan.id': '10',
        'vlan.etype': '0x0806',
        'arp.dst.proto_ipv4': '10.9.0.2',
      })
      expect(row(1)).toMatchObject({
        'ieee8021ad.id': '4094',
        'ieee8021ad.priority': '3',
        'ieee8021ad.dei': '1',
        'ip.dst': '10.9.0.2',
      })
      expect(row(2)).toMatchObject({ 'eth.dst': '33:33:00:00:00:16', 'eth.type': '0x86dd', 'ipv6.dst': 'ff02::16' })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
