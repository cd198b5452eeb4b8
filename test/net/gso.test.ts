import { EventEmitter } from 'node:events'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isWireError } from '../../src/tcp/errors.js'
import { emitTcp, TcpFlags, type TcpRepr } from '../../src/tcp/segment.js'
import type { TcpOption } from '../../src/tcp/options.js'
import type { Seq } from '../../src/tcp/seq.js'
import { parseIp } from '../../src/net/addr.js'
import { openCapDevice } from '../../src/net/capdev.js'
import { emitEthernetHeader, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from '../../src/net/ethernet.js'
import {
  GsoCoalescer,
  gsoSegment,
  TCP_CHECKSUM_OFFSET,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  type GsoMeta,
} from '../../src/net/gso.js'
import { emitIpv4Header } from '../../src/net/ipv4.js'
import { emitIpv6Header } from '../../src/net/ipv6.js'
import { loadPacketTx, type CapModule, type PacketTxModule } from '../../src/net/native.js'
import { buildTcpPacket, decodeEthernet } from '../../src/net/packet.js'
import { hex, refChecksum, refOnesSum, toHex } from '../helpers/codecLaws.js'
import { turn } from '../helpers/virtual.js'

const { FIN, SYN, RST, PSH, ACK, URG, ECE, CWR } = TcpFlags

// ---------------------------------------------------------------------------------------------------
// Frames built with the project's own encoders

/** One direction of a TCP flow, as the headers every one of its data segments repeats. */
interface Flow {
  family: 4 | 6
  srcMac: Uint8Array
  dstMac: Uint8Array
  src: Uint8Array
  dst: Uint8Array
  srcPort: number
  dstPort: number
  ack: number
  window: number
  ttl: number
  tos: number
  dontFragment: boolean
  flowLabel: number
  options: TcpOption[]
  /** ACK or ACK|ECE: the flags of every frame (PSH is per frame). */
  flags: number
}

/** What a single frame may change beyond its flow: the odd shapes the coalescer must refuse. */
interface FrameExtras {
  /** IPv4 identification (default 0). */
  id?: number
  /** Flags of this frame (default: the flow's). */
  flags?: number
  urgent?: number
  /** Raw IPv4 option bytes (ihl > 5). */
  ipv4Options?: Uint8Array
  moreFragments?: boolean
  fragmentOffset?: number
  /** Raw IPv6 extension header bytes (the fixed header's next header becomes `nextHeader`). */
  ipv6Extensions?: Uint8Array
  nextHeader?: number
  etherType?: number
}

const OUR_MAC = hex('02746c00000a')
const PEER_MAC = hex('02746c000002')
const ts = (value: number, echo: number): TcpOption[] => [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value, echo }]

function flow(family: 4 | 6, over: Partial<Flow> = {}): Flow {
  return {
    family,
    srcMac: OUR_MAC,
    dstMac: PEER_MAC,
    src: family === 4 ? parseIp('198.18.0.10') : parseIp('fd00:7463::a'),
    dst: family === 4 ? parseIp('198.18.0.2') : parseIp('fd00:7463::2'),
    srcPort: 40000,
    dstPort: 5000,
    ack: 0x01020304,
    window: 501,
    ttl: 64,
    tos: 0,
    dontFragment: true,
    flowLabel: family === 6 ? 0x12345 : 0,
    options: ts(100, 50),
    flags: ACK,
    ...over,
  }
}

/** A data segment of `f` as an Ethernet frame with valid IP and TCP checksums. */
function frameOf(f: Flow, seq: number, payload: Uint8Array, x: FrameExtras = {}): Uint8Array {
  const tcp: TcpRepr = {
    srcPort: f.srcPort,
    dstPort: f.dstPort,
    seq: (seq >>> 0) as Seq,
    ack: f.ack as Seq,
    flags: x.flags ?? f.flags,
    window: f.window,
    urgent: x.urgent ?? 0,
    options: f.options,
    payload,
  }
  const etherType = x.etherType ?? (f.family === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6)
  let pkt: Uint8Array
  if (x.ipv4Options === undefined && x.ipv6Extensions === undefined && !x.moreFragments && !x.fragmentOffset) {
    pkt = buildTcpPacket(
      { src: f.src, dst: f.dst, ttl: f.ttl, id: x.id ?? 0, dontFragment: f.dontFragment, flowLabel: f.flowLabel, tos: f.tos },
      tcp,
    )
  } else {
    // Shapes buildTcpPacket never makes: the IP header by hand from the codecs, TCP after it.
    const seg = new Uint8Array(2000)
    const n = emitTcp(tcp, seg, 0, { src: f.src, dst: f.dst })
    let hl: number
    if (f.family === 4) {
      const opts = x.ipv4Options ?? new Uint8Array(0)
      pkt = new Uint8Array(20 + opts.length + n)
      const repr = {
        src: f.src, dst: f.dst, protocol: 6, ttl: f.ttl, id: x.id ?? 0, dscp: f.tos >> 2, ecn: f.tos & 3,
        dontFragment: f.dontFragment, moreFragments: x.moreFragments ?? false, fragmentOffset: x.fragmentOffset ?? 0,
        options: opts,
      }
      hl = emitIpv4Header(repr, n, pkt, 0)
    } else {
      const ext = x.ipv6Extensions ?? new Uint8Array(0)
      pkt = new Uint8Array(40 + ext.length + n)
      const repr = {
        src: f.src, dst: f.dst, trafficClass: f.tos, flowLabel: f.flowLabel, hopLimit: f.ttl,
        nextHeader: x.nextHeader ?? 6, extensions: ext,
      }
      hl = emitIpv6Header(repr, n, pkt, 0)
    }
    pkt.set(seg.subarray(0, n), hl)
  }
  const frame = new Uint8Array(14 + pkt.length)
  emitEthernetHeader({ dst: f.dstMac, src: f.srcMac, etherType }, frame, 0)
  frame.set(pkt, 14)
  return frame
}

/** Offsets of a frame of `f`: the TCP header and the payload. */
function layoutOf(f: Flow): { l4: number; hdrLen: number } {
  const l4 = 14 + (f.family === 4 ? 20 : 40)
  const optLen = f.options.reduce((n, o) => n + (o.kind === 'nop' || o.kind === 'eol' ? 1 : o.kind === 'timestamp' ? 10 : 0), 0)
  return { l4, hdrLen: l4 + 20 + Math.ceil(optLen / 4) * 4 }
}

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    b[i] = x >>> 24
  }
  return b
}

/** A train: `sizes[i]` payload bytes for frame i, contiguous from `seq0`, ids `ids[i]`, PSH on the last if asked. */
function train(f: Flow, seq0: number, payloads: Uint8Array[], opts: { ids?: number[]; pshLast?: boolean } = {}): Uint8Array[] {
  let seq = seq0 >>> 0
  return payloads.map((p, i) => {
    const last = i === payloads.length - 1
    const fr = frameOf(f, seq, p, { id: opts.ids?.[i] ?? 0, flags: f.flags | (last && opts.pshLast ? PSH : 0) })
    seq = (seq + p.length) >>> 0
    return fr
  })
}

/** The frames the kernel must put on the wire for `inputs`: the same, IPv4 ids counting up from id0. */
function expectedSegments(f: Flow, seq0: number, payloads: Uint8Array[], id0: number, pshLast: boolean): Uint8Array[] {
  return train(f, seq0, payloads, { ids: payloads.map((_, i) => (id0 + i) & 0xffff), pshLast })
}

const u16 = (b: Uint8Array, i: number): number => (b[i] << 8) | b[i + 1]

/** The folded, uncomplemented pseudo-header sum of a TCP segment of `tcpLen` bytes. */
function refPseudo(src: Uint8Array, dst: Uint8Array, tcpLen: number): number {
  return refOnesSum(dst, 0, dst.length, refOnesSum(src) + 6 + (tcpLen >>> 16) + (tcpLen & 0xffff))
}

/** The super-frame the coalescer must hand over for `inputs` (first frame's headers). */
function expectedSuper(f: Flow, inputs: Uint8Array[], pshLast: boolean): Uint8Array {
  const { l4, hdrLen } = layoutOf(f)
  const n = hdrLen + inputs.reduce((s, x) => s + x.length - hdrLen, 0)
  const e = new Uint8Array(n)
  e.set(inputs[0].subarray(0, hdrLen), 0)
  let at = hdrLen
  for (const x of inputs) {
    e.set(x.subarray(hdrLen), at)
    at += x.length - hdrLen
  }
  if (pshLast) e[l4 + 13] |= PSH
  if (f.family === 4) {
    e[16] = (n - 14) >> 8
    e[17] = (n - 14) & 0xff
    e[24] = 0
    e[25] = 0
    const c = refChecksum(e, 14, 34)
    e[24] = c >> 8
    e[25] = c & 0xff
  } else {
    e[18] = (n - l4) >> 8
    e[19] = (n - l4) & 0xff
  }
  const ph = refPseudo(f.src, f.dst, n - l4)
  e[l4 + 16] = ph >> 8
  e[l4 + 17] = ph & 0xff
  return e
}

/** Joins `frames` (each must be accepted) and returns the copied super-frame and its meta. */
function joinAll(frames: Uint8Array[], co = new GsoCoalescer()): { frame: Uint8Array; meta: GsoMeta } {
  for (const [i, fr] of frames.entries()) expect(co.add(fr), `frame ${i} accepted`).toBe(true)
  expect(co.frames).toBe(frames.length)
  const t = co.take()
  expect(t).toBeDefined()
  expect(co.pending).toBe(false)
  return { frame: t!.frame.slice(), meta: t!.meta }
}

const hexAll = (fs: Uint8Array[]): string[] => fs.map(toHex)

// ---------------------------------------------------------------------------------------------------
// Coalescer and reference segmentation (pure)

describe('GsoCoalescer + gsoSegment: a fixture', () => {
  // Two segments of one IPv4 flow, 8 bytes each, sequence numbers wrapping past 2^32, PSH on the last.
  // Checksums computed apart from tcplab (Python, RFC 1071).
  const f1 = hex(`
    02746c000002 02746c00000a 0800        # Ethernet: dst, src, IPv4
    45 00 003c 1234 4000 40 06 9c57       # IPv4: len 60, id 0x1234, DF, TTL 64, TCP, checksum
    c612000a c6120002                     # 198.18.0.10 -> 198.18.0.2
    9c40 1388 fffffffc 00000001           # TCP: 40000 -> 5000, seq 2^32-4, ack 1
    80 10 01f5 a69d 0000                  # doff 8, ACK, window 501, checksum, urgent
    01 01 080a 00000064 00000032          # NOP NOP TS 100/50
    6162636465666768                      # "abcdefgh"
  `)
  const f2 = hex(`
    02746c000002 02746c00000a 0800
    45 00 003c 9999 4000 40 06 14f2       # id 0x9999: whatever the sender put, the kernel writes id0+1
    c612000a c6120002
    9c40 1388 00000004 00000001           # seq 4 (wrapped)
    80 18 01f5 866e 0000                  # PSH|ACK
    01 01 080a 00000064 00000032
    696a6b6c6d6e6f70                      # "ijklmnop"
  `)
  const joined = hex(`
    02746c000002 02746c00000a 0800
    45 00 0044 1234 4000 40 06 9c4f       # total length 68, first id, header checksum for them
    c612000a c6120002
    9c40 1388 fffffffc 00000001
    80 18 01f5 8c67 0000                  # PSH of the last frame; pseudo-header sum (TCP length 48), not complemented
    01 01 080a 00000064 00000032
    6162636465666768 696a6b6c6d6e6f70
  `)
  const seg2 = hex(`
    02746c000002 02746c00000a 0800
    45 00 003c 1235 4000 40 06 9c56       # id0+1 = 0x1235 and its checksum
    c612000a c6120002
    9c40 1388 00000004 00000001
    80 18 01f5 866e 0000
    01 01 080a 00000064 00000032
    696a6b6c6d6e6f70
  `)
  const F = flow(4, { dstMac: PEER_MAC, srcMac: OUR_MAC, ack: 1, window: 501, options: ts(100, 50) })

  it('the project encoders build exactly these frames', () => {
    const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
    expect(toHex(frameOf(F, 0xfffffffc, enc('abcdefgh'), { id: 0x1234 }))).toBe(toHex(f1))
    expect(toHex(frameOf(F, 4, enc('ijklmnop'), { id: 0x9999, flags: ACK | PSH }))).toBe(toHex(f2))
  })

  it('joins them into the annotated super-frame and cuts it back into the same segments', () => {
    const { frame, meta } = joinAll([f1, f2])
    expect(toHex(frame)).toBe(toHex(joined))
    expect(meta).toEqual({ gsoType: VIRTIO_NET_HDR_GSO_TCPV4, gsoSize: 8, hdrLen: 66, csumStart: 34, csumOffset: 16, segments: 2 })
    expect(hexAll(gsoSegment(frame, meta))).toEqual([toHex(f1), toHex(seg2)])
  })
})

describe('GsoCoalescer + gsoSegment: round trip', () => {
  const optionSets: TcpOption[][] = [[], ts(0x11223344, 0x55667788), [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 7, echo: 9 }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'nop' }]]
  const arbTrain = fc.record({
    family: fc.constantFrom(4 as const, 6 as const),
    k: fc.integer({ min: 1, max: 50 }),
    m: fc.integer({ min: 500, max: 1460 }),
    lastFrac: fc.option(fc.integer({ min: 1, max: 1459 }), { nil: undefined }),
    seq0: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0xffffffff - 70000, max: 0xffffffff })),
    id0: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0xffc0, max: 0xffff })),
    idsRandom: fc.boolean(),
    ece: fc.boolean(),
    pshLast: fc.boolean(),
    tos: fc.constantFrom(0, 2, 0xb8),
    opts: fc.integer({ min: 0, max: optionSets.length - 1 }),
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
  })

  it('every frame is accepted; the kernel cut gives back the input frames (IPv4: ids id0+i)', () => {
    fc.assert(
      fc.property(arbTrain, (t) => {
        const F = flow(t.family, { flags: t.ece ? ACK | ECE : ACK, tos: t.tos, options: optionSets[t.opts] })
        const { l4, hdrLen } = layoutOf(F)
        const ipHdr = l4 - 14
        const kMax = Math.floor((65535 - (hdrLen - 14)) / t.m)
        const k = Math.min(t.k, kMax)
        const last = t.lastFrac === undefined ? t.m : 1 + (t.lastFrac % t.m)
        const payloads = Array.from({ length: k }, (_, i) => bytes(i === k - 1 ? last : t.m, t.seed + i))
        const ids = payloads.map((_, i) => (t.idsRandom ? (t.seed * (i + 7)) & 0xffff : (t.id0 + i) & 0xffff))
        ids[0] = t.id0
        const inputs = train(F, t.seq0, payloads, { ids, pshLast: t.pshLast })
        const { frame, meta } = joinAll(inputs)
        if (k === 1) {
          expect(meta).toMatchObject({ gsoType: VIRTIO_NET_HDR_GSO_NONE, csumOffset: 0, segments: 1 })
          expect(toHex(frame)).toBe(toHex(inputs[0]))
          expect(hexAll(gsoSegment(frame, meta))).toEqual(hexAll(inputs))
          return
        }
        expect(meta).toEqual({
          gsoType: t.family === 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
          gsoSize: t.m,
          hdrLen,
          csumStart: l4,
          csumOffset: TCP_CHECKSUM_OFFSET,
          segments: k,
        })
        // The super-frame itself: lengths, IPv4 header checksum, pseudo-header sum, payloads in order.
        expect(toHex(frame)).toBe(toHex(expectedSuper(F, inputs, t.pshLast)))
        if (t.family === 4) {
          expect(u16(frame, 16)).toBe(frame.length - 14)
          expect(refOnesSum(frame, 14, 14 + ipHdr)).toBe(0xffff)
        } else expect(u16(frame, 18)).toBe(frame.length - l4)
        expect(u16(frame, l4 + 16)).toBe(refPseudo(F.src, F.dst, frame.length - l4))
        // The cut: the inputs, byte for byte, but for IPv4 ids (id0+i) and the header checksum that goes with them.
        const out = gsoSegment(frame, meta)
        expect(hexAll(out)).toEqual(hexAll(expectedSegments(F, t.seq0, payloads, t.id0, t.pshLast)))
        if (t.family === 6) expect(hexAll(out)).toEqual(hexAll(inputs))
        for (const [i, s] of out.entries()) {
          if (t.family === 4) {
            expect(u16(s, 18)).toBe((t.id0 + i) & 0xffff)
            expect(refOnesSum(s, 14, 34)).toBe(0xffff)
            const differ: number[] = []
            for (let j = 0; j < s.length; j++) if (s[j] !== inputs[i][j]) differ.push(j)
            expect(differ.filter((j) => j !== 18 && j !== 19 && j !== 24 && j !== 25)).toEqual([])
          }
          expect(decodeEthernet(s).tcp?.checksumOk ?? true).toBe(true)
        }
      }),
      { numRuns: 150 },
    )
  })

  it('the pseudo-header sum in the super-frame completes (NEEDS_CSUM) into a valid TCP checksum', () => {
    for (const family of [4, 6] as const) {
      const F = flow(family)
      const { l4 } = layoutOf(F)
      const sup = joinAll(train(F, 0xffffff00, [bytes(1000, 1), bytes(1000, 2), bytes(333, 3)])).frame
      // What the kernel does with csum_start/csum_offset: sum from csum_start to the end, complement, store.
      const c = refChecksum(sup, l4)
      sup[l4 + 16] = c >> 8
      sup[l4 + 17] = c & 0xff
      expect(refOnesSum(sup, l4, sup.length, refPseudo(F.src, F.dst, sup.length - l4))).toBe(0xffff)
    }
  })

  it('copies frames: reusing the caller buffer after add() changes nothing', () => {
    const F = flow(4)
    const inputs = train(F, 1000, [bytes(700, 1), bytes(700, 2), bytes(700, 3)])
    const co = new GsoCoalescer()
    const scratch = new Uint8Array(inputs[0].length)
    for (const fr of inputs) {
      scratch.set(fr) // one transmit buffer, reused for each frame as a stack does
      expect(co.add(scratch)).toBe(true)
    }
    scratch.fill(0xa5)
    const t = co.take()!
    expect(hexAll(gsoSegment(t.frame, t.meta))).toEqual(hexAll(expectedSegments(F, 1000, [bytes(700, 1), bytes(700, 2), bytes(700, 3)], 0, false)))
  })

  it('add(frame, n) uses only the first n bytes', () => {
    const F = flow(6)
    const inputs = train(F, 5, [bytes(600, 4), bytes(600, 5)])
    const co = new GsoCoalescer()
    for (const fr of inputs) {
      const big = new Uint8Array(fr.length + 37).fill(0xee)
      big.set(fr)
      expect(co.add(big, fr.length)).toBe(true)
    }
    const t = co.take()!
    expect(hexAll(gsoSegment(t.frame, t.meta))).toEqual(hexAll(inputs))
  })

  it('take() ends the batch; clear() drops it; an empty coalescer takes nothing', () => {
    const F = flow(4)
    const [a, b, c] = train(F, 0, [bytes(500, 1), bytes(500, 2), bytes(500, 3)])
    const co = new GsoCoalescer()
    expect(co.take()).toBeUndefined()
    co.add(a)
    co.add(b)
    co.take()
    expect(co.take()).toBeUndefined()
    // c continues a and b, but the batch was taken: it starts a new super-frame of one.
    expect(co.add(c)).toBe(true)
    expect(co.frames).toBe(1)
    const t = co.take()!
    expect(t.meta.segments).toBe(1)
    expect(toHex(t.frame)).toBe(toHex(c))
    expect(co.pending).toBe(false)
    expect(co.take()).toBeUndefined()
  })
})

describe('GsoCoalescer: refusals', () => {
  const m = 1000
  const SEQ = 0xfffffc00 // the third frame starts past the wrap
  const p = (i: number): Uint8Array => bytes(m, 100 + i)

  /** Pending [f0, f1] of `F`; `bad` must be refused and leave them as they were. */
  function expectRefusedAfterTwo(F: Flow, bad: Uint8Array): void {
    const co = new GsoCoalescer()
    const pending = train(F, SEQ, [p(0), p(1)], { ids: [7, 8] })
    expect(co.add(pending[0])).toBe(true)
    expect(co.add(pending[1])).toBe(true)
    expect(co.add(bad)).toBe(false)
    expect(co.frames).toBe(2)
    const t = co.take()!
    expect(t.meta.segments).toBe(2)
    expect(hexAll(gsoSegment(t.frame, t.meta))).toEqual(hexAll(expectedSegments(F, SEQ, [p(0), p(1)], 7, false)))
  }

  const seq2 = (SEQ + 2 * m) >>> 0
  type Case = [name: string, make: (F: Flow) => Uint8Array]
  const cases: Case[] = [
    ['the next frame that would be accepted (control)', (F) => frameOf(F, seq2, p(2))],
    ['a gap in sequence numbers', (F) => frameOf(F, seq2 + 1, p(2))],
    ['an overlap (seq one short)', (F) => frameOf(F, seq2 - 1, p(2))],
    ['a retransmission of the second frame', (F) => frameOf(F, (SEQ + m) >>> 0, p(1))],
    ['another source port', (F) => frameOf({ ...F, srcPort: F.srcPort + 1 }, seq2, p(2))],
    ['another destination port', (F) => frameOf({ ...F, dstPort: F.dstPort + 1 }, seq2, p(2))],
    ['another source address', (F) => frameOf({ ...F, src: F.src.map((b, i) => (i === F.src.length - 1 ? b ^ 1 : b)) }, seq2, p(2))],
    ['another destination address', (F) => frameOf({ ...F, dst: F.dst.map((b, i) => (i === 0 ? b ^ 0x80 : b)) }, seq2, p(2))],
    ['another source MAC', (F) => frameOf({ ...F, srcMac: hex('02746c00000b') }, seq2, p(2))],
    ['another destination MAC', (F) => frameOf({ ...F, dstMac: hex('ffffffffffff') }, seq2, p(2))],
    ['another ack', (F) => frameOf({ ...F, ack: F.ack + 1 }, seq2, p(2))],
    ['another window', (F) => frameOf({ ...F, window: F.window + 1 }, seq2, p(2))],
    ['another TSval', (F) => frameOf({ ...F, options: ts(101, 50) }, seq2, p(2))],
    ['another TSecr', (F) => frameOf({ ...F, options: ts(100, 51) }, seq2, p(2))],
    ['no options', (F) => frameOf({ ...F, options: [] }, seq2, p(2))],
    ['the same options, reordered', (F) => frameOf({ ...F, options: [{ kind: 'timestamp', value: 100, echo: 50 }, { kind: 'nop' }, { kind: 'nop' }] }, seq2, p(2))],
    ['another TTL / hop limit', (F) => frameOf({ ...F, ttl: 63 }, seq2, p(2))],
    ['another TOS / traffic class (CE)', (F) => frameOf({ ...F, tos: 3 }, seq2, p(2))],
    ['a bigger payload than the first', (F) => frameOf(F, seq2, bytes(m + 1, 9))],
    ['FIN', (F) => frameOf(F, seq2, p(2), { flags: ACK | FIN })],
    ['SYN', (F) => frameOf(F, seq2, p(2), { flags: ACK | SYN })],
    ['RST', (F) => frameOf(F, seq2, p(2), { flags: ACK | RST })],
    ['URG', (F) => frameOf(F, seq2, p(2), { flags: ACK | URG, urgent: 10 })],
    ['CWR', (F) => frameOf(F, seq2, p(2), { flags: ACK | CWR })],
    ['ECE on a flow without it', (F) => frameOf(F, seq2, p(2), { flags: ACK | ECE })],
    ['no ACK', (F) => frameOf(F, seq2, p(2), { flags: PSH })],
    ['a pure ACK (no payload)', (F) => frameOf(F, seq2, new Uint8Array(0))],
    ['a non-IP EtherType', (F) => frameOf(F, seq2, p(2), { etherType: 0x88b5 })],
    ['Ethernet padding (frame longer than the IP length)', (F) => {
      const short = frameOf(F, seq2, bytes(m - 4, 9))
      const padded = new Uint8Array(short.length + 4)
      padded.set(short)
      return padded
    }],
    ['a truncated frame (shorter than the IP length)', (F) => frameOf(F, seq2, p(2)).subarray(0, -4)],
  ]
  const v4only: Case[] = [
    ['IPv4 with options (ihl 6)', (F) => frameOf(F, seq2, p(2), { ipv4Options: hex('01010100') })],
    ['an IPv4 fragment (MF)', (F) => frameOf({ ...F, dontFragment: false }, seq2, p(2), { moreFragments: true })],
    ['an IPv4 fragment (offset)', (F) => frameOf({ ...F, dontFragment: false }, seq2, p(2), { fragmentOffset: 100 })],
    ['DF clear', (F) => frameOf({ ...F, dontFragment: false }, seq2, p(2))],
  ]
  const v6only: Case[] = [
    // Hop-by-Hop (8 bytes: next header TCP, length 0, PadN of 4) between the fixed header and TCP.
    ['an IPv6 extension header', (F) => frameOf(F, seq2, p(2), { ipv6Extensions: hex('06 00 0104 00000000'), nextHeader: 0 })],
    ['another flow label', (F) => frameOf({ ...F, flowLabel: F.flowLabel + 1 }, seq2, p(2))],
  ]

  for (const family of [4, 6] as const) {
    for (const [name, make] of [...cases, ...(family === 4 ? v4only : v6only)]) {
      it(`IPv${family}: ${name}`, () => {
        const F = flow(family)
        if (name.endsWith('(control)')) {
          const co = new GsoCoalescer()
          for (const fr of [...train(F, SEQ, [p(0), p(1)]), make(F)]) expect(co.add(fr)).toBe(true)
          expect(co.frames).toBe(3)
          return
        }
        expectRefusedAfterTwo(F, make(F))
      })
    }
  }

  it('after a short frame nothing joins; after PSH nothing joins', () => {
    for (const family of [4, 6] as const) {
      const F = flow(family)
      for (const [pays, psh] of [[[p(0), bytes(m - 1, 5)], false], [[p(0), p(1)], true]] as const) {
        const co = new GsoCoalescer()
        const pending = train(F, SEQ, [...pays], { pshLast: psh })
        for (const fr of pending) expect(co.add(fr)).toBe(true)
        const next = (SEQ + pays[0].length + pays[1].length) >>> 0
        expect(co.add(frameOf(F, next, p(2)))).toBe(false)
        expect(co.add(frameOf(F, next, bytes(1, 1)))).toBe(false)
        expect(co.frames).toBe(2)
        const t = co.take()!
        expect(hexAll(gsoSegment(t.frame, t.meta))).toEqual(hexAll(expectedSegments(F, SEQ, [...pays], 0, psh)))
      }
    }
  })

  it('a frame that cannot start a super-frame is refused by an empty coalescer', () => {
    for (const family of [4, 6] as const) {
      const F = flow(family)
      const starters: Array<[string, Uint8Array]> = [
        ['SYN', frameOf(F, 0, new Uint8Array(0), { flags: SYN })],
        ['SYN|ACK with data', frameOf(F, 0, p(0), { flags: SYN | ACK })],
        ['FIN|ACK with data', frameOf(F, 0, p(0), { flags: FIN | ACK })],
        ['RST|ACK with data', frameOf(F, 0, p(0), { flags: RST | ACK })],
        ['URG', frameOf(F, 0, p(0), { flags: URG | ACK, urgent: 1 })],
        ['CWR', frameOf(F, 0, p(0), { flags: CWR | ACK })],
        ['no ACK', frameOf(F, 0, p(0), { flags: PSH })],
        ['pure ACK', frameOf(F, 0, new Uint8Array(0))],
        ['non-IP EtherType', frameOf(F, 0, p(0), { etherType: 0x88b5 })],
        ['VLAN-tagged', frameOf(F, 0, p(0), { etherType: 0x8100 })],
        ['padded', ((): Uint8Array => { const a = frameOf(F, 0, bytes(2, 1)); const b = new Uint8Array(a.length + 6); b.set(a); return b })()],
        ['truncated', frameOf(F, 0, p(0)).subarray(0, -1)],
        ['shorter than the headers', frameOf(F, 0, p(0)).subarray(0, 14 + 20 + 19)],
        ['an ARP frame', arpFrame()],
      ]
      if (family === 4) {
        starters.push(['IPv4 options', frameOf(F, 0, p(0), { ipv4Options: hex('01010100') })])
        starters.push(['MF', frameOf({ ...F, dontFragment: false }, 0, p(0), { moreFragments: true })])
        starters.push(['fragment offset', frameOf({ ...F, dontFragment: false }, 0, p(0), { fragmentOffset: 1 })])
        const udp = frameOf(F, 0, p(0))
        udp[23] = 17
        starters.push(['not TCP', udp])
      } else {
        starters.push(['extension header', frameOf(F, 0, p(0), { ipv6Extensions: hex('06 00 0104 00000000'), nextHeader: 0 })])
      }
      for (const [name, fr] of starters) {
        const co = new GsoCoalescer()
        expect(co.add(fr), `IPv${family} ${name}`).toBe(false)
        expect(co.pending).toBe(false)
        expect(co.take()).toBeUndefined()
      }
    }
  })

  it('stays within 65,535 bytes of IP packet: 44 full frames of 1460 join, the 45th does not', () => {
    for (const family of [4, 6] as const) {
      const F = flow(family) // IP + TCP headers: 52 (IPv4) / 72 (IPv6) bytes
      const ipTcp = layoutOf(F).hdrLen - 14
      const co = new GsoCoalescer()
      const frames = train(F, 0xfffff000, Array.from({ length: 46 }, (_, i) => bytes(1460, i + 1)))
      for (let i = 0; i < 44; i++) expect(co.add(frames[i])).toBe(true)
      expect(co.add(frames[44])).toBe(false)
      expect(co.frames).toBe(44)
      const t = co.take()!
      expect(t.frame.length).toBe(14 + ipTcp + 44 * 1460)
      expect(hexAll(gsoSegment(t.frame, t.meta))).toEqual(hexAll(expectedSegments(F, 0xfffff000, frames.slice(0, 44).map((f) => f.subarray(14 + ipTcp)), 0, false)))
      // Exactly at the limit: a last frame that brings the IP packet to 65,535 joins, one byte more does not.
      const fit = 65535 - ipTcp - 44 * 1460
      for (const [extra, ok] of [[fit, true], [fit + 1, false]] as const) {
        const c2 = new GsoCoalescer()
        for (let i = 0; i < 44; i++) c2.add(frames[i])
        const lastFr = frameOf(F, (0xfffff000 + 44 * 1460) >>> 0, bytes(extra, 77))
        expect(c2.add(lastFr), `${extra} bytes`).toBe(ok)
        if (ok) {
          const j = c2.take()!
          expect(j.frame.length).toBe(14 + 65535)
          expect(family === 4 ? u16(j.frame, 16) : u16(j.frame, 18) + 40).toBe(65535)
          const segs = gsoSegment(j.frame, j.meta)
          expect(segs.length).toBe(45)
          expect(toHex(segs[44])).toBe(toHex(family === 4 ? frameOf(F, (0xfffff000 + 44 * 1460) >>> 0, bytes(extra, 77), { id: 44 }) : lastFr))
        }
      }
    }
  })

  it('a smaller maxBytes bounds the super-frame the same way', () => {
    const F = flow(4)
    const hdr = layoutOf(F).hdrLen
    const co = new GsoCoalescer(hdr + 3 * 100)
    const frames = train(F, 0, [bytes(100, 1), bytes(100, 2), bytes(100, 3), bytes(100, 4)])
    expect(frames.map((f) => co.add(f))).toEqual([true, true, true, false])
    expect(co.take()!.frame.length).toBe(hdr + 300)
  })
})

function arpFrame(): Uint8Array {
  return hex(`
    ffffffffffff 02746c00000a 0806          # broadcast, ARP
    0001 0800 06 04 0001                    # Ethernet/IPv4 request
    02746c00000a c612000a 000000000000 c6120002
  `)
}

// ---------------------------------------------------------------------------------------------------
// The capture device with gso, over a stand-in cap and a stand-in packetTx

class StandInCap extends EventEmitter {
  static last: StandInCap
  closed = 0
  sent: string[] = []
  constructor(readonly log: string[] = StandInCap.log) {
    super()
  }
  static log: string[] = []
  open(): string {
    StandInCap.last = this
    return 'ETHERNET'
  }
  send(b: Uint8Array, n = b.length): void {
    this.sent.push(toHex(b.subarray(0, n)))
  }
  close(): void {
    this.closed++
    this.log.push('cap.close')
  }
  setMinBytes(): void {}
}
const standInCap = { Cap: StandInCap } as unknown as CapModule

interface TxCall {
  fd: number
  bytes: string
  length: number
  gsoType: number
  gsoSize: number
  hdrLen: number
  csumStart: number
  csumOffset: number
  result: number
}

/** The transmit addon: records each send (a copy of its bytes) and answers the length, or what it is told. */
class StandInTx implements PacketTxModule {
  opened: Array<{ ifname: string; sndbuf: number }> = []
  calls: TxCall[] = []
  closedFds: number[] = []
  /** Answers for the next sends, in order; then `busy ? -11 : length`. */
  answers: number[] = []
  busy = false
  openError: Error | undefined
  constructor(readonly log: string[]) {}
  open(ifname: string, sndbuf: number): number {
    if (this.openError !== undefined) throw this.openError
    this.opened.push({ ifname, sndbuf })
    return 7
  }
  send(fd: number, frame: Uint8Array, length: number, gsoType: number, gsoSize: number, hdrLen: number, csumStart: number, csumOffset: number): number {
    const result = this.answers.shift() ?? (this.busy ? -11 : length)
    this.calls.push({ fd, bytes: toHex(frame.subarray(0, length)), length, gsoType, gsoSize, hdrLen, csumStart, csumOffset, result })
    this.log.push(`send ${result < 0 ? result : gsoType}`)
    return result
  }
  close(fd: number): void {
    this.closedFds.push(fd)
    this.log.push('tx.close')
  }
  /** The sends that went out. */
  get out(): TxCall[] {
    return this.calls.filter((c) => c.result >= 0)
  }
}

function openGso(): { dev: ReturnType<typeof openCapDevice>; tx: StandInTx; cap: StandInCap; log: string[] } {
  const log: string[] = []
  StandInCap.log = log
  const tx = new StandInTx(log)
  const dev = openCapDevice({ iface: 'tlx', mac: '02:74:6c:00:00:0a', gso: true, cap: standInCap, packetTx: tx })
  return { dev, tx, cap: StandInCap.last, log }
}

/** Waits (up to a bound) for `cond`; the outcome is checked after, so it does not depend on timing. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 1))
}

/** What a send of a whole frame with no offload looks like. */
const plain = (f: Uint8Array): Omit<TxCall, 'result'> => ({
  fd: 7, bytes: toHex(f), length: f.length, gsoType: 0, gsoSize: 0, hdrLen: 0, csumStart: 0, csumOffset: 0,
})
const strip = (c: TxCall): Omit<TxCall, 'result'> => {
  const { result: _, ...rest } = c
  return rest
}

describe('capture device with gso (stand-in cap and packetTx)', () => {
  const M = 1448 // MSS with timestamps on a 1500-byte link: 66 + 1448 = 1514
  const F4 = flow(4)
  const F6 = flow(6)

  /** The super-frame send of `frames` of `F`. */
  function superCall(F: Flow, frames: Uint8Array[], pshLast = false): Omit<TxCall, 'result'> {
    const { l4, hdrLen } = layoutOf(F)
    const sup = expectedSuper(F, frames, pshLast)
    return {
      fd: 7, bytes: toHex(sup), length: sup.length,
      gsoType: F.family === 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
      gsoSize: frames[0].length - hdrLen, hdrLen, csumStart: l4, csumOffset: 16,
    }
  }

  it('opens the packet socket on the interface with a 16 MB send buffer', () => {
    const { dev, tx } = openGso()
    expect(dev.gso).toBe(true)
    expect(tx.opened).toEqual([{ ifname: 'tlx', sndbuf: 16 << 20 }])
    dev.close()
  })

  for (const F of [F4, F6]) {
    it(`IPv${F.family}: three full segments sent in one turn leave as one super-frame, after the turn`, async () => {
      const { dev, tx, cap } = openGso()
      const mss = 1514 - layoutOf(F).hdrLen // 1448 (IPv4) / 1428 (IPv6) with timestamps
      const frames = train(F, 0xffffffff - 1000, [bytes(mss, 1), bytes(mss, 2), bytes(mss, 3)], { ids: [500, 501, 502] })
      for (const f of frames) dev.send(f)
      expect(tx.calls).toEqual([])
      await turn()
      expect(tx.calls.map(strip)).toEqual([superCall(F, frames)])
      expect(cap.sent).toEqual([])
      // What the kernel makes of it: the three frames.
      const c = tx.calls[0]
      expect(hexAll(gsoSegment(hex(c.bytes), { ...c, segments: 3 }))).toEqual(hexAll(frames))
      expect(dev.stats()).toMatchObject({ sent: 3, gsoFrames: 1, gsoSegments: 3, queued: 0, sendErrors: 0 })
      dev.close()
    })
  }

  it('a frame that cannot join first sends the pending super-frame, then itself, inside send()', async () => {
    const { dev, tx } = openGso()
    const [a, b] = train(F4, 1, [bytes(M, 1), bytes(M, 2)])
    const pureAck = frameOf(F4, (1 + 2 * M) >>> 0, new Uint8Array(0))
    dev.send(a)
    dev.send(b)
    expect(tx.calls).toEqual([])
    dev.send(pureAck)
    expect(tx.calls.map(strip)).toEqual([superCall(F4, [a, b]), plain(pureAck)])
    dev.send(arpFrame())
    expect(tx.calls.map(strip)).toEqual([superCall(F4, [a, b]), plain(pureAck), plain(arpFrame())])
    await turn()
    expect(tx.calls.length).toBe(3)
    expect(dev.stats()).toMatchObject({ sent: 4, gsoFrames: 1, gsoSegments: 2 })
    dev.close()
  })

  it('an ARP frame after two joinable ones: super-frame first, then the ARP frame', () => {
    const { dev, tx } = openGso()
    const [a, b] = train(F6, 1, [bytes(M - 20, 1), bytes(M - 20, 2)])
    dev.send(a)
    dev.send(b)
    dev.send(arpFrame())
    expect(tx.calls.map(strip)).toEqual([superCall(F6, [a, b]), plain(arpFrame())])
    dev.close()
  })

  it('a segment of another flow sends the pending super-frame and starts its own', async () => {
    const { dev, tx } = openGso()
    const [a, b] = train(F4, 1, [bytes(M, 1), bytes(M, 2)])
    const other = frameOf({ ...F4, srcPort: 40001 }, 99, bytes(M, 3))
    dev.send(a)
    dev.send(b)
    dev.send(other)
    expect(tx.calls.map(strip)).toEqual([superCall(F4, [a, b])])
    await turn()
    expect(tx.calls.map(strip)).toEqual([superCall(F4, [a, b]), plain(other)])
    dev.close()
  })

  it('a single joinable frame goes out unchanged with gsoType 0 and csumOffset 0', async () => {
    const { dev, tx } = openGso()
    const a = frameOf(F4, 1, bytes(M, 1), { id: 0xbeef, flags: ACK | PSH })
    dev.send(a)
    expect(tx.calls).toEqual([])
    await turn()
    expect(tx.calls.map(strip)).toEqual([plain(a)])
    expect(dev.stats()).toMatchObject({ sent: 1, gsoFrames: 0, gsoSegments: 0 })
    dev.close()
  })

  it('EAGAIN: frames and super-frames queue in order with their meta and go out later in order', async () => {
    const { dev, tx } = openGso()
    tx.busy = true
    const ack1 = frameOf(F4, 0, new Uint8Array(0))
    const [a, b, c] = train(F4, 0, [bytes(M, 1), bytes(M, 2), bytes(M, 3)])
    const ack2 = frameOf(F4, 3 * M, new Uint8Array(0))
    const d = frameOf(F6, 50, bytes(M - 20, 4))
    dev.send(ack1) // refused: queued
    dev.send(a)
    dev.send(b)
    dev.send(c)
    dev.send(ack2) // flushes a+b+c behind ack1, then queues itself
    dev.send(d) // pending until the end of the turn, then queued
    await turn()
    await turn()
    expect(tx.out).toEqual([])
    // queued counts segments, as sent does: ack1, a+b+c, ack2, d
    expect(dev.stats()).toMatchObject({ sent: 0, queued: 6, sendErrors: 0, dropped: 0 })
    // Still busy in a later turn: a new batch queues as well, and must not overwrite the first one.
    const [e, g] = train(F4, 3 * M, [bytes(M, 5), bytes(M, 6)])
    dev.send(e)
    dev.send(g)
    await turn()
    expect(dev.stats().queued).toBe(8)
    tx.busy = false
    await until(() => tx.out.length === 5)
    expect(tx.out.map(strip)).toEqual([plain(ack1), superCall(F4, [a, b, c]), plain(ack2), plain(d), superCall(F4, [e, g])])
    expect(dev.stats()).toMatchObject({ sent: 8, queued: 8, gsoFrames: 2, gsoSegments: 5, sendErrors: 0, dropped: 0 })
    dev.close()
  })

  it('bounds the queue at 1000 segments, a super-frame counting as its segments; close drops (and counts) what waits', async () => {
    const { dev, tx } = openGso()
    tx.busy = true
    for (let i = 0; i < 998; i++) dev.send(frameOf(F4, 0, new Uint8Array(0)))
    const three = train(F4, 0, [bytes(M, 1), bytes(M, 2), bytes(M, 3)])
    for (const f of three) dev.send(f)
    await turn()
    // 998 + 3 > 1000: the super-frame is refused whole, each of its segments a send error
    expect(dev.stats()).toMatchObject({ sent: 0, queued: 998, sendErrors: 3, dropped: 0 })
    const two = train(F4, 0, [bytes(M, 4), bytes(M, 5)])
    for (const f of two) dev.send(f)
    await turn()
    expect(dev.stats()).toMatchObject({ sent: 0, queued: 1000, sendErrors: 3, dropped: 0 })
    dev.close()
    expect(dev.stats()).toMatchObject({ sent: 0, queued: 1000, sendErrors: 3, dropped: 1000 })
    expect(tx.out).toEqual([])
  })

  it('ENOBUFS on a super-frame: it queues with its meta and goes out on retry', async () => {
    const { dev, tx } = openGso()
    const frames = train(F6, 7, [bytes(M - 20, 1), bytes(M - 20, 2)])
    tx.answers = [-105]
    for (const f of frames) dev.send(f)
    await turn()
    expect(dev.stats()).toMatchObject({ sent: 0, queued: 2 })
    await until(() => tx.out.length === 1)
    expect(tx.calls.map(strip)).toEqual([superCall(F6, frames), superCall(F6, frames)])
    expect(dev.stats()).toMatchObject({ sent: 2, gsoFrames: 1, gsoSegments: 2, sendErrors: 0 })
    dev.close()
  })

  it('close() flushes the pending super-frame, closes the socket once, then refuses sends', async () => {
    const { dev, tx, cap, log } = openGso()
    const frames = train(F4, 9, [bytes(M, 1), bytes(M, 2)], { pshLast: true })
    for (const f of frames) dev.send(f)
    dev.close()
    expect(tx.calls.map(strip)).toEqual([superCall(F4, frames, true)])
    expect(log).toEqual([`send ${VIRTIO_NET_HDR_GSO_TCPV4}`, 'tx.close', 'cap.close'])
    expect(tx.closedFds).toEqual([7])
    dev.close()
    expect(tx.closedFds).toEqual([7])
    expect(cap.closed).toBe(1)
    let err: unknown
    try {
      dev.send(frames[0])
    } catch (e) {
      err = e
    }
    expect(isWireError(err, 'DEV_ERR_CLOSED')).toBe(true)
    await turn()
    expect(tx.calls.length).toBe(1)
    expect(dev.stats()).toMatchObject({ sent: 2, gsoFrames: 1, gsoSegments: 2 })
  })

  it('a negative errno other than EAGAIN/ENOBUFS counts a sendError and reaches the error handler', async () => {
    const { dev, tx } = openGso()
    const errors: unknown[] = []
    dev.onError((e) => errors.push(e))
    tx.answers = [-100, -1] // ENETDOWN on a plain frame, EPERM on a super-frame
    dev.send(arpFrame())
    const frames = train(F4, 0, [bytes(M, 1), bytes(M, 2), bytes(M, 3)])
    for (const f of frames) dev.send(f)
    await turn()
    await Promise.resolve()
    expect(errors.map((e) => [isWireError(e, 'DEV_ERR_IO'), (e as Error).message])).toEqual([
      [true, 'send on tlx failed (errno 100)'],
      [true, 'send on tlx failed (errno 1)'],
    ])
    expect(dev.stats()).toMatchObject({ sent: 0, sendErrors: 2, queued: 0, gsoFrames: 0, gsoSegments: 0 })
    await new Promise((r) => setTimeout(r, 3))
    expect(tx.calls.length).toBe(2) // not retried
    dev.close()
  })

  it('without gso the packetTx is not used and frames go through cap one by one', () => {
    StandInCap.log = []
    const tx = new StandInTx([])
    const dev = openCapDevice({ iface: 'tlx', mac: '02:74:6c:00:00:0a', cap: standInCap, packetTx: tx })
    const frames = train(F4, 0, [bytes(M, 1), bytes(M, 2)])
    for (const f of frames) dev.send(f)
    expect(dev.gso).toBe(false)
    expect(tx.opened).toEqual([])
    expect(tx.calls).toEqual([])
    expect(StandInCap.last.sent).toEqual(hexAll(frames))
    dev.close()
  })

  it('openCapDevice: packetTx.open failing with EPERM is DEV_ERR_PERMISSION, with ENODEV DEV_ERR_IO; cap is closed', () => {
    for (const [code, msg, want] of [
      ['EPERM', 'socket(AF_PACKET): Operation not permitted', 'DEV_ERR_PERMISSION'],
      ['ENODEV', 'if_nametoindex(tlx): No such device', 'DEV_ERR_IO'],
    ] as const) {
      StandInCap.log = []
      const tx = new StandInTx([])
      tx.openError = Object.assign(new Error(msg), { code })
      let err: unknown
      try {
        openCapDevice({ iface: 'tlx', gso: true, cap: standInCap, packetTx: tx })
      } catch (e) {
        err = e
      }
      expect(isWireError(err, want), code).toBe(true)
      if (code === 'ENODEV') expect((err as Error).message).toBe('cannot open a packet socket on tlx: if_nametoindex(tlx): No such device')
      expect(StandInCap.last.closed).toBe(1)
    }
  })
})

describe('loadPacketTx', () => {
  const load = (err: Error): unknown => {
    try {
      loadPacketTx({ require: () => { throw err } })
    } catch (e) {
      return e
    }
  }

  it('says the addon is not installed when it cannot be found', () => {
    const e = load(Object.assign(new Error("Cannot find module 'tcplab-packet-tx'\nRequire stack:\n- x"), { code: 'MODULE_NOT_FOUND' }))
    expect(isWireError(e, 'DEV_ERR_NO_PACKET_TX')).toBe(true)
    expect((e as Error).message).toBe(
      "segmentation offload (gso) needs tcplab's 'tcplab-packet-tx' addon, which is not installed: npm install (needs python3, make and g++; Linux only)",
    )
  })

  it('says it failed to load on any other error (a missing dependency of it included)', () => {
    let e = load(new Error('/x/packet_tx.node: invalid ELF header\nmore'))
    expect(isWireError(e, 'DEV_ERR_NO_PACKET_TX')).toBe(true)
    expect((e as Error).message).toBe(
      "segmentation offload (gso) needs tcplab's 'tcplab-packet-tx' addon, which failed to load (/x/packet_tx.node: invalid ELF header): npm install (needs python3, make and g++; Linux only)",
    )
    e = load(Object.assign(new Error("Cannot find module 'node-gyp-build'"), { code: 'MODULE_NOT_FOUND' }))
    expect((e as Error).message).toContain('failed to load')
  })

  it('returns what require gives for tcplab-packet-tx', () => {
    const asked: string[] = []
    const mod = new StandInTx([])
    expect(loadPacketTx({ require: (id) => (asked.push(id), mod) })).toBe(mod)
    expect(asked).toEqual(['tcplab-packet-tx'])
  })
})
