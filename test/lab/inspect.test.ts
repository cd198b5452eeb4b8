/**
 * Capture inspection (`tcplab inspect`, `inspect(source)`): link layers, the connection tracker on
 * synthetic captures built here (numbers known by construction), the CLI, bounded memory on a large
 * capture, committed fixtures checked against tshark, and — as root — captures that tcpdump writes from
 * real kernel connections in a namespace lab, checked against what tshark reads from the same file.
 */
import { spawnSync, type ChildProcess } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { EventEmitter } from 'node:events'
import { Readable } from 'node:stream'
import * as v8 from 'node:v8'
import * as vm from 'node:vm'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { COMMANDS, main } from '../../src/lab/cli.js'
import type { Io } from '../../src/lab/command.js'
import { inspectCommand, liveLine } from '../../src/lab/commands/inspect.js'
import {
  decodeSegment,
  inspect,
  locateIp,
  newSegmentInfo,
  toLadder,
  type ConnectionReport,
  type LinkView,
} from '../../src/lab/inspect/index.js'
import { capLinkType, inspectLive } from '../../src/lab/inspect/live.js'
import { bytesText, ProgressBar } from '../../src/lab/inspect/progress.js'
import { parseIp } from '../../src/net/addr.js'
import type { CapModule } from '../../src/net/native.js'
import { buildTcpPacket } from '../../src/net/packet.js'
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
  PcapWriter,
} from '../../src/net/pcap.js'
import { finishChecksum, onesSum, pseudoHeaderSum } from '../../src/tcp/checksum.js'
import { isWireError } from '../../src/tcp/errors.js'
import type { TcpOption } from '../../src/tcp/options.js'
import { parseFlags } from '../../src/tcp/segment.js'
import { seq } from '../../src/tcp/seq.js'
import { hex } from '../helpers/codecLaws.js'
import { describeRoot } from '../helpers/root.js'
import { LineReader, exitOf, repoPath, startTcpdump, until, withLab } from '../helpers/lab.js'
import type { Lab, LabSideName } from '../../src/net/netns.js'

// ---------------------------------------------------------------------------------------------------
// Building synthetic captures

/** 2023-11-14T22:13:20Z in ns: every synthetic capture starts here. */
const T0 = 1_700_000_000_000_000_000n
const T0_ISO = '2023-11-14T22:13:20.000Z'
const T0_US = 1_700_000_000_000_000

interface Ep {
  addr: Uint8Array
  port: number
}

interface SegSpec {
  /** Sender: client or server. */
  from: 'c' | 's'
  /** Microseconds after T0. */
  t: number
  flags: string
  seq: number
  ack?: number
  /** Payload length (zero bytes) or the payload itself. */
  len?: number
  payload?: Uint8Array
  win?: number
  opts?: TcpOption[]
  /** A wrong checksum, or the unfinished one checksum offload leaves (the pseudo-header sum). */
  checksum?: 'bad' | 'partial'
}

/** One raw IP packet of a conversation between `c` and `s`. */
function ipPacket(c: Ep, s: Ep, x: SegSpec): Uint8Array {
  const [src, dst] = x.from === 'c' ? [c, s] : [s, c]
  const payload = x.payload ?? new Uint8Array(x.len ?? 0)
  const bytes = buildTcpPacket(
    { src: src.addr, dst: dst.addr },
    {
      srcPort: src.port,
      dstPort: dst.port,
      seq: seq(x.seq),
      ack: seq(x.ack ?? 0),
      flags: parseFlags(x.flags),
      window: x.win ?? 1000,
      urgent: 0,
      options: x.opts ?? [],
      payload,
    },
    x.checksum === 'bad' ? 'bad' : 'compute',
  )
  if (x.checksum === 'partial') {
    // What Linux leaves for the NIC under CHECKSUM_PARTIAL: the folded pseudo-header sum, not complemented.
    const ipLen = src.addr.length === 4 ? 20 : 40
    const tcpLen = bytes.length - ipLen
    const v = pseudoHeaderSum(src.addr, dst.addr, 6, tcpLen)
    bytes[ipLen + 16] = v >>> 8
    bytes[ipLen + 17] = v & 0xff
  }
  return bytes
}

/** Link-layer wrappers around an IP packet. */
const link = {
  raw: (ip: Uint8Array): Uint8Array => ip,
  ethernet(ip: Uint8Array, vlan = false): Uint8Array {
    const type = ip[0] >> 4 === 4 ? [0x08, 0x00] : [0x86, 0xdd]
    const head = [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, ...(vlan ? [0x81, 0x00, 0x00, 0x05] : []), ...type]
    return concat(Uint8Array.from(head), ip)
  },
  /** Linux cooked v1: packet type (4 = outgoing), ARPHRD_ETHER, address length 6, address, protocol. */
  sll(ip: Uint8Array, out: boolean): Uint8Array {
    const proto = ip[0] >> 4 === 4 ? [0x08, 0x00] : [0x86, 0xdd]
    return concat(Uint8Array.from([0, out ? 4 : 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, ...proto]), ip)
  },
  /** Linux cooked v2: protocol, reserved, ifindex 2, ARPHRD_ETHER, packet type, address length 6, address. */
  sll2(ip: Uint8Array, out: boolean): Uint8Array {
    const proto = ip[0] >> 4 === 4 ? [0x08, 0x00] : [0x86, 0xdd]
    return concat(Uint8Array.from([...proto, 0, 0, 0, 0, 0, 2, 0, 1, out ? 4 : 0, 6, 2, 0, 0, 0, 0, 1, 0, 0]), ip)
  },
  /** BSD loopback: the address family in little-endian host order (2 = AF_INET, 30 = Darwin's AF_INET6). */
  null(ip: Uint8Array): Uint8Array {
    return concat(Uint8Array.from([ip[0] >> 4 === 4 ? 2 : 30, 0, 0, 0]), ip)
  },
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

interface Frame {
  data: Uint8Array
  /** Microseconds after T0. */
  t: number
  /** Length on the wire, when the capture cut the frame. */
  orig?: number
}

/** A nanosecond pcap in memory. */
function pcapBytes(frames: Frame[], linkType = LINKTYPE_RAW): Uint8Array {
  const chunks: Uint8Array[] = []
  const w = new PcapWriter((c) => chunks.push(c.slice()), { linkType, nanosecond: true })
  for (const f of frames) w.write(f.data, T0 + BigInt(Math.round(f.t * 1000)), f.orig ?? f.data.length)
  return concat(...chunks)
}

/** A conversation's segments as a capture of the given link type. */
function capture(c: Ep, s: Ep, segs: SegSpec[], lt: 'raw' | 'ethernet' | 'vlan' | 'sll' | 'sll2' | 'null' = 'raw', capturedOn?: 'c' | 's'): Uint8Array {
  const frames = segs.map((x) => {
    const ip = ipPacket(c, s, x)
    const out = capturedOn !== undefined && x.from === capturedOn
    const data =
      lt === 'raw' ? ip : lt === 'ethernet' ? link.ethernet(ip) : lt === 'vlan' ? link.ethernet(ip, true) : lt === 'sll' ? link.sll(ip, out) : lt === 'sll2' ? link.sll2(ip, out) : link.null(ip)
    return { data, t: x.t }
  })
  const linkType = { raw: LINKTYPE_RAW, ethernet: LINKTYPE_ETHERNET, vlan: LINKTYPE_ETHERNET, sll: LINKTYPE_LINUX_SLL, sll2: LINKTYPE_LINUX_SLL2, null: LINKTYPE_NULL }[lt]
  return pcapBytes(frames, linkType)
}

async function reportsOf(source: Parameters<typeof inspect>[0], opts?: Parameters<typeof inspect>[1]): Promise<ConnectionReport[]> {
  const out: ConnectionReport[] = []
  for await (const r of inspect(source, opts)) out.push(r)
  return out
}

const C: Ep = { addr: parseIp('192.0.2.1'), port: 40000 }
const S: Ep = { addr: parseIp('198.51.100.2'), port: 80 }
const C6: Ep = { addr: parseIp('2001:db8::1'), port: 40001 }
const S6: Ep = { addr: parseIp('2001:db8::2'), port: 443 }

const SYN_OPTS: TcpOption[] = [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'timestamp', value: 1, echo: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }]
const SYNACK_OPTS: TcpOption[] = [{ kind: 'mss', value: 1400 }, { kind: 'sackPermitted' }, { kind: 'timestamp', value: 9, echo: 1 }, { kind: 'nop' }, { kind: 'wscale', shift: 9 }]

/** A whole connection: handshake, 10 bytes up, 20 bytes down (sent twice), FIN both ways. */
const FULL: SegSpec[] = [
  { from: 'c', t: 0, flags: 'S', seq: 1000, opts: SYN_OPTS, win: 64240 },
  { from: 's', t: 1000, flags: 'SA', seq: 5000, ack: 1001, opts: SYNACK_OPTS, win: 65160 },
  { from: 'c', t: 1100, flags: 'A', seq: 1001, ack: 5001, win: 502 },
  { from: 'c', t: 1200, flags: 'PA', seq: 1001, ack: 5001, len: 10, win: 502 },
  { from: 's', t: 1300, flags: 'A', seq: 5001, ack: 1011, win: 128 },
  { from: 's', t: 1400, flags: 'PA', seq: 5001, ack: 1011, len: 20, win: 128 },
  { from: 's', t: 1500, flags: 'PA', seq: 5001, ack: 1011, len: 20, win: 128 },
  { from: 'c', t: 1600, flags: 'FA', seq: 1011, ack: 5021, win: 502 },
  { from: 's', t: 1700, flags: 'FA', seq: 5021, ack: 1012, win: 128 },
  { from: 'c', t: 1800, flags: 'A', seq: 1012, ack: 5022, win: 502 },
]

/** The report of FULL, field by field (numbers by construction of FULL above). */
const FULL_REPORT: ConnectionReport = {
  index: 1,
  family: 4,
  client: { ip: '192.0.2.1', port: 40000 },
  server: { ip: '198.51.100.2', port: 80 },
  rolesFrom: 'syn',
  start: T0_ISO,
  startUs: T0_US,
  durationUs: 1800,
  isn: { client: 1000, server: 5000 },
  options: {
    client: { mss: 1460, wscale: 7, sackPermitted: true, timestamps: true, other: [] },
    server: { mss: 1400, wscale: 9, sackPermitted: true, timestamps: true, other: [] },
  },
  negotiated: { mss: { clientToServer: 1400, serverToClient: 1460 }, windowScale: { client: 7, server: 9 }, sack: true, timestamps: true },
  handshake: 'complete',
  rtt: { clientUs: 1000, serverUs: 100 },
  retransmittedSyns: 0,
  retransmittedSynAcks: 0,
  resets: [],
  resetCount: 0,
  bytes: { clientToServer: 10, serverToClient: 20 },
  retransmittedSegments: { clientToServer: 0, serverToClient: 1 },
  ended: 'closed',
  endedBy: 'client',
  anomalies: [],
  packets: { total: 10, clientToServer: 5, serverToClient: 5 },
  evicted: false,
}

// ---------------------------------------------------------------------------------------------------
// Link layers

describe('locateIp: where the IP packet starts in each link type', () => {
  const ip = hex('45 00 00 14  00 01 00 00  40 06 00 00  c0 00 02 01  c6 33 64 02') // an IPv4 header
  const view: LinkView = { ipStart: -1, direction: 'unknown' }
  const at = (lt: number, frame: Uint8Array): [boolean, number, string] => {
    view.ipStart = -1
    const ok = locateIp(lt, frame, view)
    return [ok, view.ipStart, view.direction]
  }

  it('Ethernet II, with one or two VLAN tags', () => {
    expect(at(LINKTYPE_ETHERNET, link.ethernet(ip))).toEqual([true, 14, 'unknown'])
    expect(at(LINKTYPE_ETHERNET, link.ethernet(ip, true))).toEqual([true, 18, 'unknown'])
    const qinq = concat(hex('02 00 00 00 00 02  02 00 00 00 00 01  88 a8 00 07  81 00 00 05  08 00'), ip)
    expect(at(LINKTYPE_ETHERNET, qinq)).toEqual([true, 22, 'unknown'])
    // ARP (0x0806) and a frame shorter than its header carry no IP
    expect(at(LINKTYPE_ETHERNET, concat(hex('ff ff ff ff ff ff  02 00 00 00 00 01  08 06'), new Uint8Array(28)))[0]).toBe(false)
    expect(at(LINKTYPE_ETHERNET, hex('ff ff ff ff ff ff  02 00 00 00 00 01  08'))[0]).toBe(false)
    // a VLAN tag cut short
    expect(at(LINKTYPE_ETHERNET, hex('02 00 00 00 00 02  02 00 00 00 00 01  81 00 00'))[0]).toBe(false)
  })

  it('Linux cooked v1 and v2 tell the direction from the packet type', () => {
    expect(at(LINKTYPE_LINUX_SLL, link.sll(ip, true))).toEqual([true, 16, 'out'])
    expect(at(LINKTYPE_LINUX_SLL, link.sll(ip, false))).toEqual([true, 16, 'in'])
    expect(at(LINKTYPE_LINUX_SLL2, link.sll2(ip, true))).toEqual([true, 20, 'out'])
    expect(at(LINKTYPE_LINUX_SLL2, link.sll2(ip, false))).toEqual([true, 20, 'in'])
    // ARPHRD_NETLINK (824 = 0x0338): nlmon frames are never IP
    const nl = hex('00 00  00 00  00 00 00 02  03 38  00  00  00 00 00 00 00 00 00 00')
    expect(at(LINKTYPE_LINUX_SLL2, concat(nl, ip))[0]).toBe(false)
    expect(at(LINKTYPE_LINUX_SLL2, hex('08 00 00 00'))[0]).toBe(false)
  })

  it('BSD loopback in either byte order, LOOP big-endian, raw IP at 0', () => {
    expect(at(LINKTYPE_NULL, concat(hex('02 00 00 00'), ip))).toEqual([true, 4, 'unknown'])
    expect(at(LINKTYPE_NULL, concat(hex('00 00 00 02'), ip))).toEqual([true, 4, 'unknown'])
    for (const af of [10, 24, 28, 30]) expect(at(LINKTYPE_NULL, concat(Uint8Array.from([af, 0, 0, 0]), ip))[0]).toBe(true)
    expect(at(LINKTYPE_NULL, concat(hex('07 00 00 00'), ip))[0]).toBe(false) // not an IP family
    expect(at(108, concat(hex('00 00 00 02'), ip))).toEqual([true, 4, 'unknown'])
    expect(at(108, concat(hex('02 00 00 00'), ip))[0]).toBe(false) // LOOP is big-endian only
    expect(at(LINKTYPE_RAW, ip)).toEqual([true, 0, 'unknown'])
    expect(at(228, ip)).toEqual([true, 0, 'unknown'])
    expect(at(147, ip)[0]).toBe(false) // a user link type: unsupported
  })
})

describe('decodeSegment', () => {
  it('reads a segment through the codecs and classifies the checksum', () => {
    const seg = newSegmentInfo()
    const good = ipPacket(C, S, { from: 'c', t: 0, flags: 'PA', seq: 7, ack: 9, len: 5, opts: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 3, echo: 4 }] })
    expect(decodeSegment(LINKTYPE_RAW, good, false, seg)).toBe('tcp')
    expect({ ...seg, src: [...seg.src], dst: [...seg.dst] }).toEqual({
      family: 4, src: [192, 0, 2, 1], dst: [198, 51, 100, 2], srcPort: 40000, dstPort: 80, seq: 7, ack: 9,
      flags: 0x18, window: 1000, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 3, echo: 4 }],
      payloadLen: 5, checksum: 'ok', ipChecksumOk: true, direction: 'unknown',
    })
    expect(decodeSegment(LINKTYPE_RAW, ipPacket(C, S, { from: 'c', t: 0, flags: 'A', seq: 7, checksum: 'bad' }), false, seg)).toBe('tcp')
    expect(seg.checksum).toBe('bad')
    expect(decodeSegment(LINKTYPE_RAW, ipPacket(C6, S6, { from: 's', t: 0, flags: 'A', seq: 7, len: 3, checksum: 'partial' }), false, seg)).toBe('tcp')
    expect([seg.family, seg.checksum, seg.payloadLen, seg.srcPort]).toEqual([6, 'partial', 3, 443])
  })

  it('takes the payload length from the IP header when the capture cut the packet, and checks nothing', () => {
    const seg = newSegmentInfo()
    for (const [c, s] of [[C, S], [C6, S6]]) {
      const whole = ipPacket(c, s, { from: 'c', t: 0, flags: 'PA', seq: 1, ack: 1, len: 300 })
      const hl = c.addr.length === 4 ? 20 : 40
      expect(decodeSegment(LINKTYPE_RAW, whole.subarray(0, hl + 20 + 4), true, seg)).toBe('tcp')
      expect([seg.payloadLen, seg.checksum]).toEqual([300, 'unchecked'])
      // the TCP header itself cut: nothing to read
      expect(decodeSegment(LINKTYPE_RAW, whole.subarray(0, hl + 10), true, seg)).toBe('malformed')
    }
  })

  it('says why a frame has no segment', () => {
    const seg = newSegmentInfo()
    const udp = hex('45 00 00 1c  00 01 00 00  40 11 00 00  c0 00 02 01  c6 33 64 02  00 35 00 35 00 08 00 00')
    udp.set(hex('f6 7a'), 10) // a right header checksum is not needed to classify
    expect(decodeSegment(LINKTYPE_RAW, udp, false, seg)).toBe('not-tcp')
    const frag = ipPacket(C, S, { from: 'c', t: 0, flags: 'A', seq: 1 })
    frag[6] = 0x20 // MF
    expect(decodeSegment(LINKTYPE_RAW, frag, false, seg)).toBe('fragment')
    expect(decodeSegment(LINKTYPE_ETHERNET, hex('ff ff ff ff ff ff 02 00 00 00 00 01 08 06 00 01'), false, seg)).toBe('not-ip')
    expect(decodeSegment(LINKTYPE_RAW, hex('45 00 00 99'), false, seg)).toBe('malformed')
    expect(decodeSegment(LINKTYPE_RAW, hex('75 00 00 14'), false, seg)).toBe('malformed')
  })

  it('never throws, whatever the bytes', () => {
    const seeds = [link.ethernet(ipPacket(C, S, { from: 'c', t: 0, flags: 'S', seq: 1, opts: SYN_OPTS })), link.sll2(ipPacket(C6, S6, { from: 's', t: 0, flags: 'PA', seq: 1, len: 9 }), true)]
    const seg = newSegmentInfo()
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 120 }), fc.constantFrom(...seeds).chain((s) => fc.tuple(fc.nat(s.length), fc.nat(255), fc.nat(s.length)).map(([i, v, cut]) => {
        const b = s.slice(0, Math.max(cut, 1))
        b[i % b.length] = v
        return b
      }))), fc.constantFrom(LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW, LINKTYPE_NULL, LINKTYPE_LINUX_SLL), fc.boolean(), (bytes, lt, cut) => {
        const r = decodeSegment(lt, bytes, cut, seg)
        expect(['tcp', 'not-ip', 'not-tcp', 'fragment', 'malformed']).toContain(r)
      }),
      { numRuns: 3000 },
    )
  })
})

// ---------------------------------------------------------------------------------------------------
// The tracker, on synthetic captures

describe('inspect: one connection, field by field', () => {
  it('reports the whole connection', async () => {
    expect(await reportsOf(capture(C, S, FULL))).toEqual([FULL_REPORT])
  })

  it('gives the same report from every link type', async () => {
    for (const lt of ['ethernet', 'vlan', 'sll', 'sll2', 'null'] as const) {
      expect(await reportsOf(capture(C, S, FULL, lt)), lt).toEqual([FULL_REPORT])
    }
  })

  it('reads pcap from a path, a stream and an iterable of chunks alike, and reports how far it read', async () => {
    const bytes = capture(C, S, FULL)
    const file = path.join(os.tmpdir(), `tcplab-inspect-${process.pid}-full.pcap`)
    fs.writeFileSync(file, bytes)
    try {
      const seen: number[] = []
      expect(await reportsOf(file, { onRead: (n) => seen.push(n) })).toEqual([FULL_REPORT])
      expect(seen.at(-1)).toBe(bytes.length)
      expect(await reportsOf(fs.createReadStream(file, { highWaterMark: 7 }))).toEqual([FULL_REPORT])
      const chunks = Array.from({ length: Math.ceil(bytes.length / 13) }, (_, i) => bytes.subarray(i * 13, i * 13 + 13))
      expect(await reportsOf(chunks)).toEqual([FULL_REPORT])
    } finally {
      fs.rmSync(file, { force: true })
    }
  })

  it('counts bytes by sequence space across the 2^32 wrap, each byte once', async () => {
    const isn = 0xffffff00
    const segs: SegSpec[] = [
      { from: 'c', t: 0, flags: 'S', seq: isn },
      { from: 's', t: 10, flags: 'SA', seq: 7, ack: isn + 1 },
      { from: 'c', t: 20, flags: 'A', seq: isn + 1, ack: 8 },
      { from: 'c', t: 30, flags: 'PA', seq: isn + 1, ack: 8, len: 200 },
      { from: 'c', t: 40, flags: 'PA', seq: (isn + 201) >>> 0, ack: 8, len: 300 }, // crosses 2^32
      { from: 'c', t: 50, flags: 'PA', seq: (isn + 101) >>> 0, ack: 8, len: 200 }, // overlaps both: nothing new
      { from: 'c', t: 60, flags: 'PA', seq: (isn + 401) >>> 0, ack: 8, len: 150 }, // 50 new bytes
    ]
    const [r] = await reportsOf(capture(C, S, segs))
    expect(r.bytes).toEqual({ clientToServer: 550, serverToClient: 0 })
    expect(r.retransmittedSegments).toEqual({ clientToServer: 1, serverToClient: 0 })
    expect(r.ended).toBe('open')
    expect(r.anomalies).toEqual([])
  })

  it('measures RTTs from the last SYN before the SYN+ACK, and counts retransmitted SYNs and SYN+ACKs', async () => {
    const segs: SegSpec[] = [
      { from: 'c', t: 0, flags: 'S', seq: 1, opts: SYN_OPTS },
      { from: 'c', t: 1_000_000, flags: 'S', seq: 1, opts: SYN_OPTS },
      { from: 'c', t: 3_000_000, flags: 'S', seq: 1, opts: SYN_OPTS },
      { from: 's', t: 3_000_250, flags: 'SA', seq: 100, ack: 2, opts: SYNACK_OPTS },
      { from: 's', t: 4_000_250, flags: 'SA', seq: 100, ack: 2, opts: SYNACK_OPTS },
      { from: 'c', t: 4_000_300, flags: 'A', seq: 2, ack: 101 },
    ]
    const [r] = await reportsOf(capture(C, S, segs))
    expect([r.retransmittedSyns, r.retransmittedSynAcks, r.handshake]).toEqual([2, 1, 'complete'])
    expect(r.rtt).toEqual({ clientUs: 250, serverUs: 50 })
    expect(r.ended).toBe('open')
  })

  it('knows a refused connection, and an RST mid-stream with its relative sequence number', async () => {
    const refused = capture(C, S, [
      { from: 'c', t: 0, flags: 'S', seq: 77, opts: SYN_OPTS },
      { from: 's', t: 40, flags: 'RA', seq: 0, ack: 78 },
    ])
    const [r] = await reportsOf(refused)
    expect([r.handshake, r.ended, r.endedBy, r.negotiated, r.isn.server]).toEqual(['refused', 'refused', 'server', null, null])
    expect(r.resets).toEqual([{ by: 'server', seq: 0, relativeSeq: null, ack: 78, timeUs: 40 }])
    expect(r.anomalies).toEqual([])

    const reset = capture(C, S, [...FULL.slice(0, 6), { from: 'c', t: 1450, flags: 'R', seq: 1011 }, { from: 's', t: 1460, flags: 'PA', seq: 5021, ack: 1011, len: 5 }])
    const [x] = await reportsOf(reset)
    expect([x.handshake, x.ended, x.endedBy, x.resetCount]).toEqual(['complete', 'reset', 'client', 1])
    expect(x.resets).toEqual([{ by: 'client', seq: 1011, relativeSeq: 10, ack: null, timeUs: 1450 }])
    // what the server sent after the RST still counts as sent
    expect(x.bytes).toEqual({ clientToServer: 10, serverToClient: 25 })
  })

  it('flags data on a SYN, an ACK that does not acknowledge the SYN, and a handshake that never completed', async () => {
    // TCP Fast Open: 5 bytes on the SYN, acknowledged by the SYN+ACK: data on SYN, nothing else
    const tfo = capture(C, S, [
      { from: 'c', t: 0, flags: 'S', seq: 10, len: 5, opts: [...SYN_OPTS, { kind: 'unknown', type: 34, data: hex('01 02 03 04 05 06 07 08') }] },
      { from: 's', t: 10, flags: 'SA', seq: 20, ack: 16 },
      { from: 'c', t: 20, flags: 'A', seq: 16, ack: 21 },
    ])
    const [t] = await reportsOf(tfo)
    expect(t.options.client?.other).toEqual([34])
    expect(t.handshake).toBe('complete')
    expect(t.bytes.clientToServer).toBe(5)
    expect(t.anomalies).toEqual([{ kind: 'data-on-syn', by: 'client', count: 1, firstPacket: 1, message: 'data on a SYN from the client (5 bytes)' }])

    const wrong = capture(C, S, [
      { from: 'c', t: 0, flags: 'S', seq: 10 },
      { from: 's', t: 10, flags: 'SA', seq: 20, ack: 99 },
      { from: 'c', t: 20, flags: 'A', seq: 11, ack: 5 },
    ])
    const [w] = await reportsOf(wrong)
    expect(w.handshake).toBe('incomplete')
    expect(w.ended).toBe('incomplete')
    expect(w.anomalies.map((a) => [a.kind, a.by, a.count, a.firstPacket])).toEqual([
      ['synack-does-not-acknowledge-syn', 'server', 1, 2],
      ['ack-does-not-acknowledge-syn', 'client', 1, 3],
      ['handshake-incomplete', null, 1, 0],
    ])
    expect(w.anomalies[0].message).toBe("the server's SYN+ACK does not acknowledge the SYN (acknowledges 99, the SYN needs 11)")
    expect(w.anomalies[1].message).toBe("the client's ACK does not acknowledge the SYN+ACK (acknowledges 5, the SYN+ACK needs 21)")
    expect(w.anomalies[2].message).toBe('the handshake never completed (no ACK of the SYN+ACK captured)')

    const lonely = await reportsOf(capture(C, S, [{ from: 'c', t: 0, flags: 'S', seq: 10 }, { from: 'c', t: 1e6, flags: 'S', seq: 10 }]))
    expect(lonely[0].anomalies.map((a) => a.message)).toEqual(['the handshake never completed (no SYN+ACK captured)'])
    expect([lonely[0].retransmittedSyns, lonely[0].rtt.clientUs]).toEqual([1, null])
  })

  it('works out what was negotiated when an end leaves options out (RFC 9293 and RFC 7323 defaults)', async () => {
    const segs = (c: Ep, s: Ep): SegSpec[] => [
      { from: 'c', t: 0, flags: 'S', seq: 1, opts: [{ kind: 'mss', value: 1200 }, { kind: 'wscale', shift: 15 }, { kind: 'sackPermitted' }] },
      { from: 's', t: 5, flags: 'SA', seq: 1, ack: 2, opts: [{ kind: 'wscale', shift: 2 }, { kind: 'timestamp', value: 1, echo: 0 }] },
      { from: 'c', t: 9, flags: 'A', seq: 2, ack: 2 },
    ]
    const [v4] = await reportsOf(capture(C, S, segs(C, S)))
    expect(v4.negotiated).toEqual({ mss: { clientToServer: 536, serverToClient: 1200 }, windowScale: { client: 14, server: 2 }, sack: false, timestamps: false })
    expect(v4.anomalies.map((a) => a.message)).toEqual(['client offered window scale 15, above 14 (RFC 7323 §2.3: used as 14)'])
    const [v6] = await reportsOf(capture(C6, S6, segs(C6, S6)))
    expect(v6.family).toBe(6)
    expect(v6.client).toEqual({ ip: '2001:db8::1', port: 40001 })
    expect(v6.negotiated?.mss).toEqual({ clientToServer: 1220, serverToClient: 1200 })
    const noWs = await reportsOf(capture(C, S, [FULL[0], { ...FULL[1], opts: [{ kind: 'mss', value: 1400 }] }, FULL[2]]))
    expect(noWs[0].negotiated).toEqual({ mss: { clientToServer: 1400, serverToClient: 1460 }, windowScale: null, sack: false, timestamps: false })
  })

  it('guesses roles from the ports when the capture starts mid-connection, and from a lone SYN+ACK', async () => {
    const [mid] = await reportsOf(capture(C, S, [
      { from: 's', t: 0, flags: 'PA', seq: 500, ack: 900, len: 7 },
      { from: 'c', t: 5, flags: 'A', seq: 900, ack: 507 },
      { from: 'c', t: 6, flags: 'FA', seq: 900, ack: 507 },
    ]))
    expect([mid.rolesFrom, mid.client.port, mid.handshake, mid.ended, mid.endedBy]).toEqual(['ports', 40000, 'not-seen', 'half-closed', 'client'])
    expect(mid.bytes).toEqual({ clientToServer: 0, serverToClient: 7 })
    const [sa] = await reportsOf(capture(C, S, FULL.slice(1)))
    expect([sa.rolesFrom, sa.client.port, sa.isn.client, sa.rtt.clientUs, sa.rtt.serverUs, sa.negotiated]).toEqual(['syn-ack', 40000, null, null, 100, null])
  })

  it('starts a new connection when a SYN with a new ISN reuses the ports', async () => {
    const second = FULL.map((x) => ({ ...x, t: x.t + 10_000, seq: x.from === 'c' ? x.seq + 7777 : x.seq + 3333, ack: x.ack === undefined ? undefined : x.from === 'c' ? x.ack + 3333 : x.ack + 7777 }))
    const rs = await reportsOf(capture(C, S, [...FULL, ...second]))
    expect(rs.map((r) => [r.index, r.isn.client, r.ended, r.bytes.clientToServer, r.packets.total])).toEqual([
      [1, 1000, 'closed', 10, 10],
      [2, 8777, 'closed', 10, 10],
    ])
  })

  it('counts checksums per end, and says "possibly offloaded" only when all of one end\'s are wrong on its host', async () => {
    const allBad = FULL.map((x) => (x.from === 'c' ? { ...x, checksum: 'bad' as const } : x))
    const [raw] = await reportsOf(capture(C, S, allBad))
    expect(raw.anomalies).toEqual([
      {
        kind: 'bad-checksum', by: 'client', count: 5, firstPacket: 1, possiblyOffloaded: true,
        message: '5 of 5 TCP checksums from the client are wrong (possibly offloaded: checksum offload leaves them for the NIC to fill in after the capture point)',
      },
    ])
    // Cooked capture: the link layer says the client's packets were outgoing.
    const [sll2] = await reportsOf(capture(C, S, allBad, 'sll2', 'c'))
    expect(sll2.anomalies[0].possiblyOffloaded).toBe(true)
    // ... but incoming packets with wrong checksums were damaged on the way.
    const [incoming] = await reportsOf(capture(C, S, allBad, 'sll2', 's'))
    expect(incoming.anomalies[0].possiblyOffloaded).toBe(false)
    // Unfinished checksums (the pseudo-header sum) are offload's signature, even with both ends bad.
    const partial = FULL.map((x) => ({ ...x, checksum: 'partial' as const }))
    const [p] = await reportsOf(capture(C, S, partial))
    expect(p.anomalies.map((a) => [a.by, a.count, a.possiblyOffloaded])).toEqual([['client', 5, true], ['server', 5, true]])
    // One damaged packet among good ones is just that.
    const one = FULL.map((x, i) => (i === 5 ? { ...x, checksum: 'bad' as const } : x))
    const [o] = await reportsOf(capture(C, S, one))
    expect(o.anomalies).toEqual([
      { kind: 'bad-checksum', by: 'server', count: 1, firstPacket: 6, possiblyOffloaded: false, message: '1 of 5 TCP checksums from the server are wrong' },
    ])
  })

  it('reports segments the capture missed, and counts the bytes their sequence numbers cover', async () => {
    const [r] = await reportsOf(capture(C, S, [...FULL.slice(0, 3), { from: 'c', t: 1300, flags: 'PA', seq: 1011, ack: 5001, len: 10 }]))
    expect(r.bytes.clientToServer).toBe(20)
    expect(r.anomalies).toEqual([{ kind: 'segment-not-captured', by: 'client', count: 1, firstPacket: 4, message: '1 segment from the client not captured (gaps in the sequence numbers)' }])
  })

  it('reads packets cut by the snaplen: lengths from the IP header, checksums unchecked', async () => {
    // every payload cut to its first 2 bytes, as `tcpdump -s` would
    const frames = FULL.map((x) => {
      const ip = ipPacket(C, S, x)
      const len = x.len ?? 0
      return { data: ip.subarray(0, ip.length - len + Math.min(len, 2)), t: x.t, orig: ip.length }
    })
    expect(await reportsOf(pcapBytes(frames))).toEqual([FULL_REPORT])
  })

  it('counts what it skips', async () => {
    const udp = hex('45 00 00 1c  00 01 00 00  40 11 f6 7a  c0 00 02 01  c6 33 64 02  00 35 00 35 00 08 00 00')
    const arp = concat(hex('ff ff ff ff ff ff  02 00 00 00 00 01  08 06'), new Uint8Array(28))
    const frames = [
      { data: link.ethernet(ipPacket(C, S, FULL[0])), t: 0 },
      { data: link.ethernet(udp), t: 1 },
      { data: arp, t: 2 },
      { data: link.ethernet(hex('45 00 00 99 00')), t: 3 },
    ]
    const insp = inspect(pcapBytes(frames, LINKTYPE_ETHERNET))
    const rs: ConnectionReport[] = []
    for await (const r of insp) rs.push(r)
    expect(rs.length).toBe(1)
    expect(insp.summary()).toEqual({
      connections: 1, packets: 4, tcpPackets: 1, skipped: { notIp: 1, notTcp: 1, fragments: 0, malformed: 1 },
      unsupportedLinkTypes: {}, maxTracked: 1, maxConnections: 20000, evicted: 0, complete: true,
    })
    const other = inspect(pcapBytes([{ data: new Uint8Array(10), t: 0 }], 147))
    for await (const _ of other) expect.unreachable()
    expect(other.summary().unsupportedLinkTypes).toEqual({ 147: 1 })
  })

  it('rejects a file that is not a capture before yielding anything', async () => {
    await expect(reportsOf(new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n'))).rejects.toMatchObject({ code: 'PCAP_ERR_BAD_MAGIC' })
  })
})

describe('inspect: bounded table', () => {
  /** Connection i: ports 50000+i; `open` leaves it open, else it is closed with FIN both ways. */
  const conn = (i: number, t: number, open: boolean): SegSpec[] & { ep: Ep } => {
    const c = { addr: C.addr, port: 50000 + i }
    const segs: SegSpec[] = [
      { from: 'c', t, flags: 'S', seq: i * 100 },
      { from: 's', t: t + 1, flags: 'SA', seq: 9, ack: i * 100 + 1 },
      { from: 'c', t: t + 2, flags: 'A', seq: i * 100 + 1, ack: 10 },
    ]
    if (!open) segs.push({ from: 'c', t: t + 3, flags: 'FA', seq: i * 100 + 1, ack: 10 }, { from: 's', t: t + 4, flags: 'FA', seq: 10, ack: i * 100 + 2 })
    return Object.assign(segs, { ep: c })
  }

  it('reports finished connections first, then the least recently active open one, when it is full', async () => {
    const parts = [conn(1, 0, true), conn(2, 10, false), conn(3, 20, true), conn(4, 30, true), conn(5, 40, true)]
    const frames: Frame[] = []
    for (const p of parts) for (const x of p) frames.push({ data: ipPacket(p.ep, S, x), t: x.t })
    // connection 1 talks again after 3 opened: 3 becomes the least recently active
    frames.splice(13, 0, { data: ipPacket(parts[0].ep, S, { from: 'c', t: 22, flags: 'PA', seq: 101, ack: 10, len: 4 }), t: 22 })
    frames.sort((a, b) => a.t - b.t)
    const insp = inspect(pcapBytes(frames), { maxConnections: 3 })
    const order: Array<[number, boolean, string]> = []
    for await (const r of insp) order.push([r.index, r.evicted, r.ended])
    // 4 arrives: finished #2 leaves (not evicted); 5 arrives: #3 (least recently active) is evicted.
    expect(order).toEqual([
      [2, false, 'closed'],
      [3, true, 'open'],
      [1, false, 'open'],
      [4, false, 'open'],
      [5, false, 'open'],
    ])
    expect(insp.summary()).toMatchObject({ connections: 5, maxTracked: 3, maxConnections: 3, evicted: 1 })
    expect(insp.tracker.counters.tracked).toBe(0)
  })
})

describe('toLadder: states inferred from the capture', () => {
  it('draws the whole connection with both ends\' RFC 9293 states', async () => {
    const [r] = await reportsOf(capture(C, S, FULL), { keepSegments: 100 })
    expect(r.segments?.length).toBe(10)
    const ex = toLadder(r)
    expect(ex.left).toEqual({ label: 'client', endpoint: '192.0.2.1:40000', isn: 1000 })
    expect(ex.right).toEqual({ label: 'server', endpoint: '198.51.100.2:80', isn: 5000 })
    expect(ex.outcome).toBe('closed with FIN both ways (client closed first)')
    expect(ex.rows.map((x) => [x.from, x.flags, x.leftState, x.rightState, x.scaledWindow, x.notes ?? []])).toEqual([
      ['left', 'S', 'SYN-SENT', 'SYN-RECEIVED', 64240, []],
      ['right', 'SA', 'ESTABLISHED', 'SYN-RECEIVED', 65160, []],
      ['left', 'A', 'ESTABLISHED', 'ESTABLISHED', 502 * 128, []],
      ['left', 'PA', 'ESTABLISHED', 'ESTABLISHED', 502 * 128, []],
      ['right', 'A', 'ESTABLISHED', 'ESTABLISHED', 128 * 512, []],
      ['right', 'PA', 'ESTABLISHED', 'ESTABLISHED', 128 * 512, []],
      ['right', 'PA', 'ESTABLISHED', 'ESTABLISHED', 128 * 512, ['retransmission']],
      ['left', 'FA', 'FIN-WAIT-1', 'CLOSE-WAIT', 502 * 128, []],
      ['right', 'FA', 'TIME-WAIT', 'LAST-ACK', 128 * 512, []],
      ['left', 'A', 'TIME-WAIT', 'CLOSED', 502 * 128, []],
    ])
    expect(ex.rows.map((x) => [x.timeUs, x.seq, x.ack, x.len, x.hasAck])).toEqual(FULL.map((x) => [x.t, x.seq, x.ack ?? 0, x.len ?? 0, x.flags.includes('A')]))
    expect(ex.rows[0].options).toEqual(SYN_OPTS)
  })

  it('keeps the refusing server CLOSED, and only keeps segments of the connection asked for', async () => {
    const bytes = pcapBytes([
      ...FULL.map((x) => ({ data: ipPacket(C, S, x), t: x.t })),
      { data: ipPacket(C6, S6, { from: 'c', t: 5000, flags: 'S', seq: 1 }), t: 5000 },
      { data: ipPacket(C6, S6, { from: 's', t: 5001, flags: 'RA', seq: 0, ack: 2 }), t: 5001 },
    ])
    const rs = await reportsOf(bytes, { keepSegments: 100, keepSegmentsOf: 2 })
    expect(rs[0].segments).toBeUndefined()
    const ex = toLadder(rs[1])
    expect(ex.rows.map((x) => [x.flags, x.leftState, x.rightState])).toEqual([
      ['S', 'SYN-SENT', 'CLOSED'],
      ['RA', 'CLOSED', 'CLOSED'],
    ])
    expect(ex.outcome).toBe('refused (RST from server in answer to the SYN)')
    const capped = await reportsOf(bytes, { keepSegments: 3 })
    expect(capped[0].segments?.length).toBe(3)
  })
})

// ---------------------------------------------------------------------------------------------------
// The command

/** Runs `tcplab inspect …` through the real CLI entry (registering the command if the CLI lacks it). */
async function cli(argv: string[], stdin: Uint8Array = new Uint8Array(0)): Promise<{ code: number; out: string[]; err: string[] }> {
  if (!COMMANDS.some((c) => c.name === 'inspect')) COMMANDS.push(inspectCommand)
  const out: string[] = []
  const err: string[] = []
  const io: Io = { stdout: (l) => out.push(l), stderr: (l) => err.push(l), stdin: Readable.from([Buffer.from(stdin)]), isTTY: false }
  const code = await main(['inspect', ...argv], io)
  return { code, out, err }
}

describe('tcplab inspect FILE', () => {
  let dir: string
  let full: string
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcplab-inspect-'))
    full = path.join(dir, 'full.pcap')
    fs.writeFileSync(full, pcapBytes([
      ...FULL.map((x) => ({ data: ipPacket(C, S, x), t: x.t })),
      { data: ipPacket(C6, S6, { from: 'c', t: 5000, flags: 'S', seq: 1 }), t: 5000 },
      { data: ipPacket(C6, S6, { from: 's', t: 5040, flags: 'RA', seq: 0, ack: 2 }), t: 5040 },
    ]))
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it('prints an aligned text report per connection and a summary', async () => {
    const r = await cli([full])
    expect(r.code).toBe(0)
    expect(r.err).toEqual([])
    expect(r.out).toEqual([
      '#1  192.0.2.1:40000 → 198.51.100.2:80  IPv4, client → server',
      '  handshake      complete',
      '  RTT            client 1.000 ms (SYN→SYN+ACK)   server 0.100 ms (SYN+ACK→ACK)   as seen at the capture point',
      '  ISN            client 1000   server 5000',
      '  options        client  MSS 1460  wscale 7  SACK  TS',
      '                 server  MSS 1400  wscale 9  SACK  TS',
      '  negotiated     MSS 1400 client→server / 1460 server→client   window scale client 7 / server 9   SACK yes   timestamps yes',
      '  retransmitted  SYN 0   SYN+ACK 0   data segments 0 client→server / 1 server→client',
      '  bytes          client→server 10   server→client 20',
      '  ended          closed with FIN both ways (client closed first)',
      '  anomalies      none',
      `  packets        10 (client→server 5, server→client 5) over 1.800 ms, from ${T0_ISO}`,
      '',
      '#2  [2001:db8::1]:40001 → [2001:db8::2]:443  IPv6, client → server',
      '  handshake      refused',
      '  ISN            client 1   server -',
      '  options        client  no MSS  no wscale  no SACK  no TS',
      '                 server  (no SYN+ACK captured)',
      '  retransmitted  SYN 0   SYN+ACK 0   data segments 0 client→server / 0 server→client',
      '  bytes          client→server 0   server→client 0',
      '  ended          refused (RST from server in answer to the SYN)',
      '  resets         by server seq 0 at +0.040 ms',
      '  anomalies      none',
      '  packets        2 (client→server 1, server→client 1) over 0.040 ms, from 2023-11-14T22:13:20.005Z',
      '',
      '2 TCP connections in 12 packets (12 TCP)',
    ])
  })

  it('prints one JSON object per connection per line, then {"summary":…}', async () => {
    const r = await cli([full, '--json'])
    expect(r.code).toBe(0)
    const lines = r.out.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.length).toBe(3)
    expect(lines[0]).toEqual(JSON.parse(JSON.stringify(FULL_REPORT)))
    expect(lines[1]).toMatchObject({ index: 2, family: 6, ended: 'refused', resets: [{ by: 'server', seq: 0, relativeSeq: null, ack: 2, timeUs: 40 }] })
    expect(lines[2]).toEqual({
      summary: {
        connections: 2, packets: 12, tcpPackets: 12, skipped: { notIp: 0, notTcp: 0, fragments: 0, malformed: 0 },
        unsupportedLinkTypes: {}, maxTracked: 2, maxConnections: 20000, evicted: 0, complete: true,
      },
    })
    // the same from standard input
    const piped = await cli(['-', '--json'], fs.readFileSync(full))
    expect(piped.out).toEqual(r.out)
  })

  it('writes the ladder of a chosen connection with --diagram, and prints it with --ladder', async () => {
    const svg = path.join(dir, 'ladder.svg')
    const r = await cli([full, '--diagram', svg])
    expect(r.code).toBe(0)
    expect(r.err).toEqual([`wrote the ladder of connection #1 to ${svg} (svg)`])
    const text = fs.readFileSync(svg, 'utf8')
    expect(text).toMatch(/^<svg|^<\?xml/)
    expect(text).toContain('TIME-WAIT')
    const mmd = path.join(dir, 'refused.mmd')
    expect((await cli([full, '--diagram', mmd, '--connection', '2', '--json'])).code).toBe(0)
    expect(fs.readFileSync(mmd, 'utf8')).toContain('sequenceDiagram')
    const lad = await cli([full, '--ladder', '--connection', '2'])
    expect(lad.code).toBe(0)
    expect(lad.out.join('\n')).toContain('CLOSED')
  })

  it('fails in one line: bad options, a missing file, no such connection, not a capture', async () => {
    const one = (r: { err: string[]; out: string[] }): void => {
      expect(r.err.length).toBe(1)
      expect(r.err[0]).toMatch(/^tcplab inspect: /)
      expect(r.err[0]).not.toContain('\n')
    }
    let r = await cli([])
    expect(r.code).toBe(2)
    one(r)
    r = await cli([path.join(dir, 'nope.pcap')])
    expect([r.code, r.err]).toEqual([2, [`tcplab inspect: cannot read ${path.join(dir, 'nope.pcap')}: no such file`]])
    r = await cli([full, '--diagram', path.join(dir, 'x.png')])
    expect(r.code).toBe(2)
    expect(r.out).toEqual([]) // refused before reading the capture
    one(r)
    r = await cli([full, '--ladder', '--connection', '9'])
    expect(r.code).toBe(2)
    expect(r.err).toEqual(['tcplab inspect: the capture has no connection #9 (it has 2)'])
    r = await cli([full, '--iface', 'lo'])
    expect(r.code).toBe(2)
    one(r)
    r = await cli(['--iface', 'lo', '--diagram', 'x.svg'])
    expect([r.code, r.err]).toEqual([2, ['tcplab inspect: --diagram is for capture files, not --iface']])
    r = await cli([full, '--count', '3'])
    expect(r.code).toBe(2)
    r = await cli([full, '--ladder', '--json'])
    expect([r.code, r.out]).toEqual([2, [JSON.stringify({ error: { code: 'ERR_BAD_ARGUMENT', message: '--ladder prints text: use --diagram FILE with --json' } })]])
    const notPcap = path.join(dir, 'text.pcap')
    fs.writeFileSync(notPcap, 'hello, world\n')
    r = await cli([notPcap])
    expect(r.code).toBe(1)
    one(r)
    expect(r.err[0]).toContain('not a pcap or pcapng file')
  })

  it('on a truncated capture: reports what it read, then one line of error, exit 1', async () => {
    const whole = fs.readFileSync(full)
    const cut = path.join(dir, 'cut.pcap')
    fs.writeFileSync(cut, whole.subarray(0, whole.length - 30)) // inside the last record
    const r = await cli([cut, '--json'])
    expect(r.code).toBe(1)
    const lines = r.out.map((l) => JSON.parse(l) as Record<string, any>)
    expect(lines.map((l) => l.index ?? Object.keys(l)[0])).toEqual([1, 2, 'summary', 'error'])
    expect(lines[0]).toEqual(JSON.parse(JSON.stringify(FULL_REPORT)))
    expect(lines[1]).toMatchObject({ index: 2, handshake: 'incomplete', packets: { total: 1 } })
    expect(lines[2].summary).toMatchObject({ connections: 2, packets: 11, complete: false })
    expect(lines[3].error.code).toBe('PCAP_ERR_TRUNCATED')
    const t = await cli([cut])
    expect(t.code).toBe(1)
    expect(t.out.at(-1)).toBe('2 TCP connections in 11 packets (11 TCP); the capture is truncated')
    expect(t.err.length).toBe(1)
    expect(t.err[0]).toMatch(new RegExp(`^tcplab inspect: ${cut.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is truncated: capture ends inside a packet record at byte \\d+`))
    // the library API: the reports, then the error
    const seen: number[] = []
    await expect((async () => {
      for await (const x of inspect(cut)) seen.push(x.index)
    })()).rejects.toSatisfy((e: unknown) => isWireError(e, 'PCAP_ERR_TRUNCATED'))
    expect(seen).toEqual([1, 2])
  })
})

describe('progress bar', () => {
  it('redraws in place at most every interval, and erases itself', () => {
    const writes: string[] = []
    let now = 0
    const bar = new ProgressBar({ write: (s) => writes.push(s), columns: 60 }, 2_000_000, { now: () => now, intervalMs: 100 })
    bar.update(1000)
    now = 50
    bar.update(500_000) // too soon
    now = 150
    bar.update(1_000_000)
    bar.update(2_000_000) // the end is always drawn
    bar.done()
    // 60 columns: "reading [" + bar + "] " + 21 characters of numbers leaves 26 for the bar
    expect(writes).toEqual([
      `\rreading [${'.'.repeat(26)}]   0%  1.0 KB / 2.0 MB\x1b[K`,
      `\rreading [${'#'.repeat(13)}${'.'.repeat(13)}]  50%  1.0 MB / 2.0 MB\x1b[K`,
      `\rreading [${'#'.repeat(26)}] 100%  2.0 MB / 2.0 MB\x1b[K`,
      '\r\x1b[K',
    ])
    expect([bytesText(999), bytesText(1000), bytesText(1_234_567_890)]).toEqual(['999 B', '1.0 KB', '1.2 GB'])
  })
})

describe('live inspection, with a fake libpcap', () => {
  /** A `cap` stand-in: `open` records its arguments; `deliver` plays a frame as libpcap would. */
  function fakeCap(linkType: string): { cap: CapModule; deliver(frame: Uint8Array): void; opened: unknown[]; closed: () => boolean } {
    const opened: unknown[] = []
    let handle: (EventEmitter & { buffer?: Uint8Array; isClosed?: boolean }) | undefined
    class Cap extends EventEmitter {
      buffer?: Uint8Array
      isClosed = false
      open(device: string, filter: string, bufSize: number, buffer: Uint8Array): string {
        opened.push(device, filter, bufSize)
        this.buffer = buffer
        handle = this
        return linkType
      }
      send(): void {}
      close(): void {
        this.isClosed = true
      }
      static deviceList(): [] {
        return []
      }
    }
    return {
      cap: { Cap } as unknown as CapModule,
      opened,
      deliver(frame) {
        handle!.buffer!.set(frame)
        handle!.emit('packet', frame.length, false)
      },
      closed: () => handle?.isClosed === true,
    }
  }

  it('reports each handshake as it completes and each refusal as it happens', () => {
    const f = fakeCap('LINKTYPE_LINUX_SLL')
    const events: string[] = []
    const live = inspectLive({
      iface: 'any', cap: f.cap, skipPrivilegeCheck: true,
      onHandshake: (r) => events.push(liveLine(r, 'handshake')),
      onEnd: (r) => events.push(liveLine(r, 'end')),
    })
    expect(f.opened).toEqual(['any', 'tcp', 4 << 20])
    expect(live.linkType).toBe(LINKTYPE_LINUX_SLL)
    for (const x of FULL.slice(0, 3)) f.deliver(link.sll(ipPacket(C, S, x), x.from === 'c'))
    expect(events).toEqual([
      expect.stringMatching(/^192\.0\.2\.1:40000 → 198\.51\.100\.2:80 {2}handshake {2}SYN→SYN\+ACK \d+\.\d{3} ms {2}SYN\+ACK→ACK \d+\.\d{3} ms {2}MSS 1400\/1460 {2}wscale 7\/9 {2}SACK {2}TS$/),
    ])
    f.deliver(link.sll(ipPacket(C6, S6, { from: 'c', t: 0, flags: 'S', seq: 1 }), true))
    f.deliver(link.sll(ipPacket(C6, S6, { from: 's', t: 0, flags: 'RA', seq: 0, ack: 2 }), false))
    f.deliver(hex('00 00 00 01 00 06 02 00 00 00 00 01 00 00 08 06 00 01')) // ARP
    expect(events[1]).toBe('[2001:db8::1]:40001 → [2001:db8::2]:443  refused (RST from the server)')
    expect(live.summary()).toMatchObject({ packets: 6, tcpPackets: 5, skipped: { notIp: 1 } })
    live.stop()
    expect(f.closed()).toBe(true)
  })

  it('maps libpcap link type names and refuses what it cannot decode', () => {
    expect(['ETHERNET', 'NULL', 'LINKTYPE_LINUX_SLL', 'RAW', 'Unknown linktype 276'].map(capLinkType)).toEqual([1, 0, 113, 101, 276])
    expect(() => inspectLive({ iface: 'wlan0', cap: fakeCap('IEEE802_11_RADIO').cap, skipPrivilegeCheck: true })).toThrow(
      expect.objectContaining({ code: 'DEV_ERR_IO', message: 'wlan0 has link type IEEE802_11_RADIO, which tcplab cannot decode' }),
    )
    const denied = { Cap: class { open(): string { throw new Error("eth0: You don't have permission to capture on that device") } } } as unknown as CapModule
    expect(() => inspectLive({ iface: 'eth0', cap: denied, skipPrivilegeCheck: true })).toThrow(expect.objectContaining({ code: 'DEV_ERR_PERMISSION' }))
    const missing = { Cap: class { open(): string { throw new Error('nope0: No such device exists') } } } as unknown as CapModule
    expect(() => inspectLive({ iface: 'nope0', cap: missing, skipPrivilegeCheck: true })).toThrow(
      expect.objectContaining({ code: 'DEV_ERR_IO', message: 'cannot capture on nope0: nope0: No such device exists' }),
    )
  })
})

// ---------------------------------------------------------------------------------------------------
// Bounded memory and throughput on a large capture

/**
 * Writes `conns` connections, `window` of them open at once, 8 packets each (handshake, 100 bytes up, 200
 * down, FIN both ways), as raw IPv4 with right checksums. Packets are patched into per-step templates
 * and written through a 4 MB staging buffer, so a million take well under a second.
 */
function writeBigCapture(file: string, conns: number, window: number): number {
  const fd = fs.openSync(file, 'w')
  const stage = new Uint8Array(4 << 20)
  let used = 0
  const flush = (): void => {
    fs.writeSync(fd, stage, 0, used)
    used = 0
  }
  const w = new PcapWriter((c) => {
    if (used + c.length > stage.length) flush()
    stage.set(c, used)
    used += c.length
  }, { linkType: LINKTYPE_RAW, nanosecond: true })
  const cAddr = parseIp('10.1.0.1')
  const sAddr = parseIp('10.2.0.2')
  const opts: TcpOption[] = [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'wscale', shift: 7 }]
  // from client?, flags, seq offset from the sender's ISN, ack offset from the peer's ISN (-1: none), payload, options?
  const steps: Array<[boolean, string, number, number, number, boolean]> = [
    [true, 'S', 0, -1, 0, true],
    [false, 'SA', 0, 1, 0, true],
    [true, 'A', 1, 1, 0, false],
    [true, 'PA', 1, 1, 100, false],
    [false, 'PA', 1, 101, 200, false],
    [true, 'FA', 101, 201, 0, false],
    [false, 'FA', 201, 102, 0, false],
    [true, 'A', 102, 202, 0, false],
  ]
  const templates = steps.map(([fromClient, flags, , , len, withOpts]) =>
    ipPacket({ addr: cAddr, port: 0 }, { addr: sAddr, port: 0 }, { from: fromClient ? 'c' : 's', t: 0, flags, seq: 0, len, opts: withOpts ? opts : [] }),
  )
  const put16 = (b: Uint8Array, o: number, v: number): void => {
    b[o] = v >>> 8
    b[o + 1] = v
  }
  const put32 = (b: Uint8Array, o: number, v: number): void => {
    put16(b, o, v >>> 16)
    put16(b, o + 2, v & 0xffff)
  }
  let t = T0
  let packets = 0
  for (let base = 0; base < conns; base += window) {
    for (let st = 0; st < steps.length; st++) {
      const [fromClient, , so, ao] = steps[st]
      const p = templates[st]
      const tcp = p.subarray(20)
      for (let i = base; i < Math.min(conns, base + window); i++) {
        const port = 1024 + (i % 60000)
        const ci = Math.imul(i, 2654435761) >>> 0
        const si = (Math.imul(i, 40503) + 7) >>> 0
        // 60000 ports per client address: the third byte of the client's address counts the rounds
        p[fromClient ? 14 : 18] = Math.floor(i / 60000)
        put16(p, 10, 0)
        put16(p, 10, finishChecksum(onesSum(p, 0, 20)))
        put16(tcp, 0, fromClient ? port : 80)
        put16(tcp, 2, fromClient ? 80 : port)
        put32(tcp, 4, ((fromClient ? ci : si) + so) >>> 0)
        put32(tcp, 8, ao < 0 ? 0 : ((fromClient ? si : ci) + ao) >>> 0)
        put16(tcp, 16, 0)
        put16(tcp, 16, finishChecksum(onesSum(tcp, 0, tcp.length, pseudoHeaderSum(p.subarray(12, 16), p.subarray(16, 20), 6, tcp.length))))
        t += 10_000n
        w.write(p, t)
        packets++
      }
    }
  }
  flush()
  fs.closeSync(fd)
  return packets
}

describe('inspect: a large capture in bounded memory', () => {
  it('tracks at most maxConnections at once and keeps the heap flat over a million packets', async () => {
    const file = path.join(os.tmpdir(), `tcplab-inspect-big-${process.pid}.pcap`)
    try {
      const CONNS = 125_000
      const packets = writeBigCapture(file, CONNS, 1000)
      expect(packets).toBe(1_000_000)
      const size = fs.statSync(file).size
      // Live heap, not garbage: collect before each sample (V8's gc() made reachable for this process).
      v8.setFlagsFromString('--expose-gc')
      const gc = vm.runInNewContext('gc') as () => void
      const liveHeap = (): number => {
        gc()
        return process.memoryUsage().heapUsed
      }
      const base = liveHeap()
      let maxHeap = base
      let maxTracked = 0
      let chunks = 0
      const insp = inspect(file, {
        maxConnections: 2000,
        onRead: () => {
          // every 32 chunks of 256 KiB: a dozen samples over the file
          if (++chunks % 32 === 0) maxHeap = Math.max(maxHeap, liveHeap())
          maxTracked = Math.max(maxTracked, insp.tracker.counters.tracked)
        },
      })
      const started = performance.now()
      let n = 0
      let up = 0
      let down = 0
      let bad = 0
      for await (const r of insp) {
        n++
        up += r.bytes.clientToServer
        down += r.bytes.serverToClient
        if (r.ended !== 'closed' || r.handshake !== 'complete' || r.anomalies.length > 0 || r.evicted) bad++
      }
      const ms = performance.now() - started
      expect([n, up, down, bad]).toEqual([CONNS, CONNS * 100, CONNS * 200, 0])
      expect(insp.summary()).toMatchObject({ connections: CONNS, packets, tcpPackets: packets, maxTracked: 2000, evicted: 0, complete: true })
      expect(maxTracked).toBeLessThanOrEqual(2000)
      // Holding every connection would take over 300 MB here; the table's 2000 take a few.
      expect(maxHeap - base).toBeLessThan(40e6)
      console.log(
        `inspect: ${packets} packets (${(size / 1e6).toFixed(0)} MB, ${CONNS} connections) in ${ms.toFixed(0)} ms: ` +
          `${Math.round((packets / ms) * 1000)} packets/s (with ${Math.floor(chunks / 32)} forced collections), live heap +${((maxHeap - base) / 1e6).toFixed(1)} MB at most`,
      )
    } finally {
      fs.rmSync(file, { force: true })
    }
  }, 120_000)
})

// ---------------------------------------------------------------------------------------------------
// Expected numbers read from captures by tshark (an independent dissector)

const hasTshark = spawnSync('tshark', ['-v']).status === 0

/** One packet as tshark sees it. */
interface TsRow {
  ns: bigint
  src: string
  dst: string
  sport: number
  dport: number
  flags: number
  seq: number
  ack: number
  len: number
  /** Wireshark's relative sequence number (the SYN is 0). */
  relSeq: number
  mss: number | null
  wscale: number | null
  sackPerm: boolean
  ts: boolean
  /** 0 bad, 1 good, 2 not checked. */
  checksum: number
}

const TS_FIELDS = [
  'frame.time_epoch', 'ip.src', 'ipv6.src', 'ip.dst', 'ipv6.dst', 'tcp.srcport', 'tcp.dstport', 'tcp.flags', 'tcp.seq_raw', 'tcp.ack_raw',
  'tcp.len', 'tcp.seq', 'tcp.options.mss_val', 'tcp.options.wscale.shift', 'tcp.options.sack_perm', 'tcp.options.timestamp.tsval',
  'tcp.checksum.status',
]

/** The TCP packets of a capture, read by tshark with checksum validation on. */
function tsharkRows(file: string): TsRow[] {
  const r = spawnSync('tshark', ['-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'tcp.relative_sequence_numbers:TRUE', '-Y', 'tcp', '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=f', ...TS_FIELDS.flatMap((f) => ['-e', f])], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`)
  return r.stdout.trim().split('\n').filter(Boolean).map((line) => {
    const f = line.split('|')
    const [sec, frac = '0'] = f[0].split('.')
    const num = (s: string): number | null => (s === '' ? null : Number(s))
    return {
      ns: BigInt(sec) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9)),
      src: f[1] || f[2],
      dst: f[3] || f[4],
      sport: Number(f[5]),
      dport: Number(f[6]),
      flags: Number(f[7]),
      seq: Number(f[8]),
      ack: Number(f[9]),
      len: Number(f[10]),
      relSeq: Number(f[11]),
      mss: num(f[12]),
      wscale: num(f[13]),
      sackPerm: f[14] !== '',
      ts: f[15] !== '',
      checksum: Number(f[16]),
    }
  })
}

/** What a report should say about one connection, computed straight from tshark's packets. */
function expectedFrom(rows: TsRow[]): Record<string, unknown> {
  const SYN = 0x02
  const ACK = 0x10
  const RST = 0x04
  const syn = rows.find((p) => (p.flags & (SYN | ACK)) === SYN)!
  const client = { ip: syn.src, port: syn.sport }
  const fromClient = (p: TsRow): boolean => p.src === client.ip && p.sport === client.port
  const cRows = rows.filter(fromClient)
  const sRows = rows.filter((p) => !fromClient(p))
  const synAcks = sRows.filter((p) => (p.flags & (SYN | ACK)) === (SYN | ACK))
  const sa = synAcks[0]
  const offered = (p: TsRow | undefined): unknown =>
    p === undefined ? null : { mss: p.mss, wscale: p.wscale, sackPermitted: p.sackPerm, timestamps: p.ts, other: [] }
  const us = (a: bigint, b: bigint): number => Number(b - a) / 1000
  let clientUs: number | null = null
  let serverUs: number | null = null
  if (sa !== undefined) {
    const lastSyn = cRows.filter((p) => (p.flags & (SYN | ACK)) === SYN && p.ns <= sa.ns).at(-1)!
    clientUs = us(lastSyn.ns, sa.ns)
    const hsAck = cRows.find((p) => p.ns >= sa.ns && !(p.flags & SYN) && p.flags & ACK && !(p.flags & RST) && p.ack === ((sa.seq + 1) >>> 0))
    if (hsAck !== undefined) serverUs = us(synAcks.filter((p) => p.ns <= hsAck.ns).at(-1)!.ns, hsAck.ns)
  }
  const family = client.ip.includes(':') ? 6 : 4
  const def = family === 4 ? 536 : 1220
  const bytes = (rs: TsRow[]): number => Math.max(0, ...rs.filter((p) => p.len > 0).map((p) => p.relSeq + p.len - 1))
  const badOf = (rs: TsRow[]): number => rs.filter((p) => p.checksum === 0).length
  return {
    family,
    client,
    server: { ip: syn.dst, port: syn.dport },
    isn: { client: syn.seq, server: sa?.seq ?? null },
    options: { client: offered(syn), server: offered(sa) },
    negotiated:
      sa === undefined
        ? null
        : {
            mss: { clientToServer: sa.mss ?? def, serverToClient: syn.mss ?? def },
            windowScale: syn.wscale !== null && sa.wscale !== null ? { client: syn.wscale, server: sa.wscale } : null,
            sack: syn.sackPerm && sa.sackPerm,
            timestamps: syn.ts && sa.ts,
          },
    rtt: { clientUs, serverUs },
    retransmittedSyns: cRows.filter((p) => (p.flags & (SYN | ACK)) === SYN && p.seq === syn.seq).length - 1,
    retransmittedSynAcks: Math.max(0, synAcks.filter((p) => p.seq === sa.seq).length - 1),
    resets: rows.filter((p) => p.flags & RST).map((p) => ({ by: fromClient(p) ? 'client' : 'server', seq: p.seq })),
    bytes: { clientToServer: bytes(cRows), serverToClient: bytes(sRows) },
    packets: { total: rows.length, clientToServer: cRows.length, serverToClient: sRows.length },
    badChecksums: { client: badOf(cRows), server: badOf(sRows) },
  }
}

/** The same facts, picked from our report. */
function factsOf(r: ConnectionReport): Record<string, unknown> {
  const bad = (by: string): number => r.anomalies.filter((a) => a.kind === 'bad-checksum' && a.by === by).reduce((n, a) => n + a.count, 0)
  return {
    family: r.family,
    client: r.client,
    server: r.server,
    isn: r.isn,
    options: r.options,
    negotiated: r.negotiated,
    rtt: r.rtt,
    retransmittedSyns: r.retransmittedSyns,
    retransmittedSynAcks: r.retransmittedSynAcks,
    resets: r.resets.map((x) => ({ by: x.by, seq: x.seq })),
    bytes: r.bytes,
    packets: r.packets,
    badChecksums: { client: bad('client'), server: bad('server') },
  }
}

/** Every report agrees with tshark's reading of the same capture, connection by connection. */
function expectAgreesWithTshark(file: string, reports: ConnectionReport[]): void {
  const groups = new Map<string, TsRow[]>()
  for (const p of tsharkRows(file)) {
    const key = [`${p.src}|${p.sport}`, `${p.dst}|${p.dport}`].sort().join('>')
    if (!groups.has(key)) groups.set(key, [])
    groups.get(key)!.push(p)
  }
  expect(reports.length).toBe(groups.size)
  const expected = [...groups.values()].map(expectedFrom)
  expect(reports.map(factsOf)).toEqual(expected)
}

// ---------------------------------------------------------------------------------------------------
// Captures of real kernel connections: the scenarios, committed fixtures, and the lab that makes them

/** The connections of the lab run, in order, with what each must show whatever the numbers. */
const SCENARIOS: Array<{ label: string; check(r: ConnectionReport): void }> = [
  {
    label: 'all options on both ends',
    check(r) {
      expect([r.handshake, r.ended, r.endedBy]).toEqual(['complete', 'closed', 'client'])
      expect(r.negotiated).toMatchObject({ sack: true, timestamps: true, mss: { clientToServer: 1460, serverToClient: 1460 } })
      expect(r.negotiated?.windowScale).not.toBeNull()
      expect(r.bytes).toEqual({ clientToServer: 12, serverToClient: 12 })
      expect(r.anomalies).toEqual([])
    },
  },
  {
    label: 'server with net.ipv4.tcp_sack=0',
    check(r) {
      expect([r.options.client?.sackPermitted, r.options.server?.sackPermitted, r.negotiated?.sack, r.negotiated?.timestamps]).toEqual([true, false, false, true])
    },
  },
  {
    label: 'server with net.ipv4.tcp_timestamps=0',
    check(r) {
      expect([r.options.client?.timestamps, r.options.server?.timestamps, r.negotiated?.timestamps, r.negotiated?.sack]).toEqual([true, false, false, true])
    },
  },
  {
    label: 'server with net.ipv4.tcp_window_scaling=0',
    check(r) {
      expect(r.options.client?.wscale).not.toBeNull()
      expect(r.options.server?.wscale).toBeNull()
      expect(r.negotiated?.windowScale).toBeNull()
    },
  },
  {
    label: 'client with SACK, timestamps and window scaling off',
    check(r) {
      // Linux answers only with what the SYN offered.
      for (const o of [r.options.client, r.options.server]) expect(o).toMatchObject({ wscale: null, sackPermitted: false, timestamps: false })
      expect(r.negotiated).toMatchObject({ windowScale: null, sack: false, timestamps: false })
      expect(r.bytes).toEqual({ clientToServer: 12, serverToClient: 12 })
    },
  },
  {
    label: 'refused (nothing listens on 8081)',
    check(r) {
      expect([r.handshake, r.ended, r.endedBy, r.server.port, r.negotiated]).toEqual(['refused', 'refused', 'server', 8081, null])
      expect(r.resets.map((x) => x.by)).toEqual(['server'])
      expect(r.anomalies).toEqual([])
    },
  },
  {
    label: 'reset mid-stream (resetAndDestroy)',
    check(r) {
      expect([r.handshake, r.ended, r.endedBy]).toEqual(['complete', 'reset', 'client'])
      expect(r.resets.map((x) => [x.by, x.relativeSeq])).toEqual([['client', 12]])
    },
  },
  {
    label: 'IPv6',
    check(r) {
      expect([r.family, r.handshake, r.ended, r.server.ip]).toEqual([6, 'complete', 'closed', '2001:2::2'])
      expect(r.bytes).toEqual({ clientToServer: 12, serverToClient: 12 })
    },
  },
  {
    label: 'first SYN dropped by nft on the server',
    check(r) {
      expect(r.retransmittedSyns).toBeGreaterThanOrEqual(1)
      expect([r.handshake, r.ended]).toEqual(['complete', 'closed'])
    },
  },
  {
    label: 'first SYN+ACK dropped by nft on the client',
    check(r) {
      expect(r.retransmittedSynAcks).toBeGreaterThanOrEqual(1)
      expect([r.handshake, r.ended]).toEqual(['complete', 'closed'])
    },
  },
  {
    label: 'checksum offload on the client while the capture runs there',
    check(r) {
      const bad = r.anomalies.filter((a) => a.kind === 'bad-checksum')
      expect(bad.map((a) => [a.by, a.count === r.packets.clientToServer, a.possiblyOffloaded])).toEqual([['client', true, true]])
    },
  },
]

const FIXTURES = repoPath('test/fixtures/inspect')

/** Checks a capture of the lab run scenario by scenario (and returns the reports). */
async function checkLabCapture(file: string): Promise<ConnectionReport[]> {
  const reports = await reportsOf(file)
  expect(reports.map((r) => r.index)).toEqual(SCENARIOS.map((_, i) => i + 1))
  SCENARIOS.forEach((s, i) => {
    try {
      s.check(reports[i])
    } catch (e) {
      throw new Error(`${path.basename(file)} #${i + 1} (${s.label}): ${(e as Error).message}`)
    }
  })
  return reports
}

const NO_TSHARK = hasTshark ? '' : ' — skipped: tshark is not installed (apt-get install tshark)'

/** Facts that do not depend on when a packet was seen, for comparing two captures of the same traffic. */
const timeless = (r: ConnectionReport): unknown => {
  const { start: _s, startUs: _u, durationUs: _d, rtt: _r, resets, ...rest } = r
  return { ...rest, resets: resets.map((x) => ({ ...x, timeUs: 0 })), anomalies: rest.anomalies.filter((a) => a.kind !== 'bad-checksum') }
}

describe('committed fixtures from the namespace lab (test/fixtures/inspect)', () => {
  const names = ['lab-eth.pcap', 'lab-any-sll2.pcap', 'lab-eth.pcapng']
  it.each(names)('%s: what every scenario must show', async (name) => {
    await checkLabCapture(path.join(FIXTURES, name))
  })

  it.skipIf(!hasTshark).each(names)(`%s: the numbers tshark reads from the same file${NO_TSHARK}`, async (name) => {
    const file = path.join(FIXTURES, name)
    expectAgreesWithTshark(file, await reportsOf(file))
  })

  it('the Ethernet, cooked (SLL2) and pcapng captures of the same traffic agree', async () => {
    const eth = await reportsOf(path.join(FIXTURES, 'lab-eth.pcap'))
    expect(await reportsOf(path.join(FIXTURES, 'lab-eth.pcapng'))).toEqual(eth)
    const sll2 = await reportsOf(path.join(FIXTURES, 'lab-any-sll2.pcap'))
    expect(sll2.map(timeless)).toEqual(eth.map(timeless))
  })
})

/** Lab client: connect, send 12 bytes, wait for the echo, then close (or reset with `rst`). Prints its port. */
const CLIENT_JS = `
const net = require('net')
const [host, port, mode] = process.argv.slice(1)
const s = net.connect({ host, port: Number(port) })
s.on('connect', () => { console.log(s.localPort); s.write('hello tcplab') })
s.once('data', () => (mode === 'rst' ? s.resetAndDestroy() : s.end()))
s.on('error', (e) => console.log(e.code))
s.on('close', () => process.exit(0))
`
/** Lab server: echo, and close when the client does. */
const SERVER_JS = `
require('net').createServer((s) => { s.on('data', (d) => s.write(d)); s.on('end', () => s.end()); s.on('error', () => {}) })
  .listen(8080, '::', () => console.log('ready'))
`
/** Turns transmit checksum offload on or off (ETHTOOL_STXCSUM through SIOCETHTOOL): no ethtool needed. */
const TX_CSUM_PY = `
import array, fcntl, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
buf = array.array('B', struct.pack('II', 0x17, int(sys.argv[2])))
fcntl.ioctl(s.fileno(), 0x8946, struct.pack('16sP', sys.argv[1].encode(), buf.buffer_info()[0]))
`
const FILTER = 'tcp port 8080 or tcp port 8081 or udp port 9'

/**
 * An nft table dropping the first incoming packet that matches `match`: numgen's counter gives 0 to the
 * first packet the expression sees and counts on from there (the rule's earlier matches filter first).
 */
function dropFirst(table: string, match: string): string {
  return `table inet ${table} {
  chain in {
    type filter hook input priority -10; policy accept;
    ${match} numgen inc mod 1000000000 == 0 drop
  }
}
`
}


/** Whether the capture file already holds the UDP sentinel (so every packet before it is on disk). */
async function hasSentinel(file: string): Promise<boolean> {
  if (!fs.existsSync(file)) return false
  const insp = inspect(new Uint8Array(fs.readFileSync(file)))
  try {
    for await (const _ of insp) {
      // reports are not needed
    }
  } catch {
    // a record half written: not yet
  }
  return insp.summary().skipped.notTcp > 0
}

describeRoot('inspect: tcpdump captures of real kernel connections in a namespace lab', () => {
  let dir: string
  const files = { eth: '', any: '', pcapng: '' }
  let offloadOn = true

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcplab-inspect-lab-'))
    files.eth = path.join(dir, 'lab-eth.pcap')
    files.any = path.join(dir, 'lab-any-sll2.pcap')
    files.pcapng = path.join(dir, 'lab-eth.pcapng')
    await withLab(async (lab) => {
      const node = process.execPath
      const server = lab.spawn('b', [node, '-e', SERVER_JS], { stdio: ['ignore', 'pipe', 'pipe'] })
      await new LineReader(server).next(/^ready$/)
      const dumps = [
        await startTcpdump(lab, 'a', ['-i', lab.a.iface], files.eth, FILTER),
        await startTcpdump(lab, 'a', ['-i', 'any', '-y', 'LINUX_SLL2'], files.any, FILTER),
      ]
      const connect = async (host: string, port = 8080, mode = 'close'): Promise<void> => {
        await lab.exec('a', [node, '-e', CLIENT_JS, host, String(port), mode])
      }
      const sysctl = (side: LabSideName, ...kv: string[]): Promise<unknown> => lab.exec(side, ['sysctl', '-q', '-w', ...kv])
      const nft = (side: LabSideName, rules: string): Promise<unknown> => lab.exec(side, ['nft', '-f', '-'], { input: rules })
      const table = `tcplab_${lab.id}_drop`

      await connect(lab.b.ipv4)
      for (const opt of ['tcp_sack', 'tcp_timestamps', 'tcp_window_scaling']) {
        await sysctl('b', `net.ipv4.${opt}=0`)
        await connect(lab.b.ipv4)
        await sysctl('b', `net.ipv4.${opt}=1`)
      }
      await sysctl('a', 'net.ipv4.tcp_sack=0', 'net.ipv4.tcp_timestamps=0', 'net.ipv4.tcp_window_scaling=0')
      await connect(lab.b.ipv4)
      await sysctl('a', 'net.ipv4.tcp_sack=1', 'net.ipv4.tcp_timestamps=1', 'net.ipv4.tcp_window_scaling=1')
      await connect(lab.b.ipv4, 8081)
      await connect(lab.b.ipv4, 8080, 'rst')
      await connect(lab.b.ipv6)
      await nft('b', dropFirst(table, 'tcp dport 8080 tcp flags & (syn|ack) == syn'))
      await connect(lab.b.ipv4)
      await lab.exec('b', ['nft', 'delete', 'table', 'inet', table])
      await nft('a', dropFirst(table, 'tcp sport 8080 tcp flags & (syn|ack) == syn|ack'))
      await connect(lab.b.ipv4)
      await lab.exec('a', ['nft', 'delete', 'table', 'inet', table])
      const on = await lab.exec('a', ['python3', '-c', TX_CSUM_PY, lab.a.iface, '1'], { allowFail: true })
      offloadOn = on.code === 0
      await connect(lab.b.ipv4)
      await lab.exec('a', ['python3', '-c', TX_CSUM_PY, lab.a.iface, '0'], { allowFail: true })

      // A last datagram: once it is in both files, every packet before it is too.
      await lab.exec('a', [node, '-e', `require('dgram').createSocket('udp4').send('x', 9, '${lab.b.ipv4}', () => process.exit(0))`])
      await until(async () => (await hasSentinel(files.eth)) && (await hasSentinel(files.any)), Boolean)
      for (const d of dumps) d.kill('SIGINT')
      for (const d of dumps) await exitOf(d)
      server.kill()
    })
    const e = spawnSync('editcap', ['-F', 'pcapng', files.eth, files.pcapng])
    if (e.status !== 0) throw new Error(`editcap failed: ${e.stderr}`)
    if (process.env.INSPECT_WRITE_FIXTURES === '1') {
      for (const f of Object.values(files)) fs.copyFileSync(f, path.join(FIXTURES, path.basename(f)))
    }
  }, 60_000)
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true })
  })

  it('could turn checksum offload on in the lab (for the last scenario)', () => {
    expect(offloadOn).toBe(true)
  })

  it('Ethernet capture on the client: every scenario, with the numbers tshark reads from the same file', async () => {
    const reports = await checkLabCapture(files.eth)
    expect(hasTshark, 'tshark is needed to check the numbers (apt-get install tshark)').toBe(true)
    expectAgreesWithTshark(files.eth, reports)
  })

  it('Linux cooked v2 capture (tcpdump -i any -y LINUX_SLL2): the same, and the same facts as over Ethernet', async () => {
    const sll2 = await checkLabCapture(files.any)
    expectAgreesWithTshark(files.any, sll2)
    expect(sll2.map(timeless)).toEqual((await reportsOf(files.eth)).map(timeless))
  })

  it('pcapng (editcap -F pcapng): the very same reports', async () => {
    expect(await reportsOf(files.pcapng)).toEqual(await reportsOf(files.eth))
  })

  it('a truncated copy: the connections read so far, then PCAP_ERR_TRUNCATED', async () => {
    const whole = fs.readFileSync(files.eth)
    // the UDP sentinel is the last record (16 + 14 + 20 + 8 + 1 bytes): cut inside the record before it
    const cut = path.join(dir, 'cut.pcap')
    fs.writeFileSync(cut, whole.subarray(0, whole.length - 59 - 5))
    const full = await reportsOf(files.eth)
    const got: ConnectionReport[] = []
    await expect((async () => {
      for await (const r of inspect(cut)) got.push(r)
    })()).rejects.toMatchObject({ code: 'PCAP_ERR_TRUNCATED' })
    expect(got.length).toBe(full.length)
    expect(got.slice(0, -1)).toEqual(full.slice(0, -1))
    expect(got.at(-1)!.packets.total).toBe(full.at(-1)!.packets.total - 1)
    const r = await cli([cut])
    expect(r.code).toBe(1)
    expect(r.err).toEqual([expect.stringMatching(/^tcplab inspect: .*cut\.pcap is truncated: capture ends inside a packet record at byte \d+/)])
  })
})

describeRoot('inspect --iface: live, through libpcap on loopback', () => {
  /** A kernel echo server on 127.0.0.1 (loopback only), and a client that connects once it is up. */
  async function loopbackServer(): Promise<{ port: number; connect(): Promise<number>; close(): Promise<void> }> {
    const net = await import('node:net')
    const server = net.createServer((s) => {
      s.on('data', (d) => s.write(d))
      s.on('end', () => s.end())
      s.on('error', () => {})
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as { port: number }).port
    return {
      port,
      connect: () =>
        new Promise<number>((resolve, reject) => {
          let local = 0
          const c = net.connect(port, '127.0.0.1', () => {
            local = c.localPort!
            c.write('hello tcplab')
          })
          c.once('data', () => c.end())
          c.on('error', reject)
          c.on('close', () => resolve(local))
        }),
      close: () => new Promise<void>((r) => server.close(() => r())),
    }
  }

  it('reports the handshake of a real connection as it completes', async () => {
    const srv = await loopbackServer()
    const seen: ConnectionReport[] = []
    let done: () => void = () => undefined
    const got = new Promise<void>((r) => (done = r))
    const live = inspectLive({ iface: 'lo', filter: `tcp port ${srv.port}`, onHandshake: (r) => (seen.push(r), done()) })
    try {
      const clientPort = await srv.connect()
      await got
      expect(seen.length).toBe(1)
      const r = seen[0]
      expect([r.client, r.server, r.handshake, r.rolesFrom]).toEqual([{ ip: '127.0.0.1', port: clientPort }, { ip: '127.0.0.1', port: srv.port }, 'complete', 'syn'])
      expect(r.negotiated).toMatchObject({ sack: true, timestamps: true, mss: { clientToServer: 65495, serverToClient: 65495 } })
      expect(r.rtt.clientUs).not.toBeNull()
      expect(r.rtt.serverUs).not.toBeNull()
    } finally {
      live.stop()
      await srv.close()
    }
  })

  it('tcplab inspect --iface lo --count 1 --json prints the handshake, then a summary', async () => {
    const srv = await loopbackServer()
    try {
      const run = cli(['--iface', 'lo', '--filter', `tcp port ${srv.port}`, '--count', '1', '--json'])
      const clientPort = await srv.connect()
      const r = await run
      expect(r.code).toBe(0)
      const lines = r.out.map((l) => JSON.parse(l) as Record<string, any>)
      expect(lines.length).toBe(2)
      expect(lines[0]).toMatchObject({ event: 'handshake', client: { ip: '127.0.0.1', port: clientPort }, server: { port: srv.port }, handshake: 'complete' })
      expect(lines[1].summary).toMatchObject({ handshakes: 1, connections: 0 })
    } finally {
      await srv.close()
    }
  })
})
