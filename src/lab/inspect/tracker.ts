/**
 * Connection tracking for capture inspection: one small record per TCP connection, fed one segment at a
 * time, turned into a {@link ConnectionReport} when the connection leaves the table.
 *
 * Memory is bounded by the number of connections tracked at once, never by the capture: per connection
 * the tracker keeps counters, both ends' handshake facts and addresses (copied once, 4 or 16 bytes), at
 * most MAX_RESETS_KEPT RSTs and, only when asked, up to `keepSegments` segments for a diagram. Nothing
 * else of a packet is kept. The table holds at most `maxConnections` entries (default 20 000): when a new
 * connection would exceed it, a finished connection (RST seen, or FIN both ways) is reported and dropped
 * first, oldest finish first; failing that, the least recently active open one is reported early
 * (`evicted: true`), and later packets of it start a fresh entry whose handshake was "not seen".
 * Reports come out in order of first packet at the end of the capture, except those that had to leave
 * the table early, which come out as they leave.
 *
 * Client and server: the sender of the first SYN (without ACK) is the client; with no SYN captured, the
 * receiver of the SYN+ACK; with neither, the end with the higher port (ephemeral ports are high). A SYN
 * with a new ISN on a tuple that already saw one (port reuse) starts a new connection.
 */
import { formatIp } from '../../net/addr.js'
import type { TcpOption } from '../../tcp/options.js'
import { TcpFlags } from '../../tcp/segment.js'
import { seqDiff, seqGt, type Seq } from '../../tcp/seq.js'
import type { SegmentInfo } from './decode.js'
import {
  MAX_RESETS_KEPT,
  type Anomaly,
  type AnomalyKind,
  type ConnectionReport,
  type EndReason,
  type InspectSummary,
  type NegotiatedOptions,
  type OfferedOptions,
  type Role,
  type SegmentRecord,
} from './report.js'

/** Default cap on connections tracked at once. */
export const DEFAULT_MAX_CONNECTIONS = 20_000
/**
 * Default cap on segments kept per connection when segments are kept at all: the first half and the last
 * half of the connection (a ring), so a ladder of a long connection shows its start and its end.
 */
export const DEFAULT_MAX_SEGMENTS = 2_000
/**
 * Most segments of the elided middle kept for state inference only (SYN, FIN, RST and the ACKs that can
 * move a state: see {@link ConnectionTracker}). Past it, the states drawn after the gap may be off.
 */
export const MAX_INFERENCE_SEGMENTS = 10_000

/** The packet last pushed: its connection's number and the bases of relative seq and ack (as tcpdump shows them). */
export interface PacketContext {
  /** 1-based connection number, as in the reports. */
  connection: number
  /** The sender's first sequence number (its ISN when its SYN was captured); undefined: not known. */
  seqBase: number | undefined
  /** The receiver's, likewise (or the first number the sender acknowledged of it). */
  ackBase: number | undefined
}

/** RFC 9293 §3.7.1: the send MSS when the peer sent no MSS option (IPv4 536, IPv6 1220, RFC 8200 §5). */
const DEFAULT_MSS_V4 = 536
const DEFAULT_MSS_V6 = 1220
/** RFC 7323 §2.3: shift counts above 14 are used as 14. */
const MAX_WSCALE = 14

/** Options of a {@link ConnectionTracker}. */
export interface TrackerOptions {
  /** Most connections tracked at once (default 20 000); see the module comment for what happens beyond. */
  maxConnections?: number
  /** Keep up to this many segments per connection for {@link toLadder} (default 0: none). */
  keepSegments?: number
  /** Keep segments only for the connection with this index (1-based); default every connection. */
  keepSegmentsOf?: number
  /** Called when a connection's handshake completes (live mode prints it); gets a report of it so far. */
  onHandshake?: (report: ConnectionReport) => void
  /** Called when a connection ends (RST, refusal, FIN both ways); gets a report of it so far. */
  onEnd?: (report: ConnectionReport) => void
}

/** Packet counters of a tracker. */
export interface TrackerCounters {
  tcpPackets: number
  /** Connections currently in the table, and the most there ever were. */
  tracked: number
  maxTracked: number
  /** Connections reported early because the table was full. */
  evicted: number
  /** Connections reported so far. */
  reported: number
}

interface AnomalyAcc {
  kind: AnomalyKind
  by: Side | undefined
  count: number
  firstPacket: number
  detail: string
}

/** One end of a tracked connection. */
class Side {
  isn: number | undefined
  offered: OfferedOptions | undefined
  /** SYNs (SYN without ACK) and SYN+ACKs sent, including the first. */
  syns = 0
  synAcks = 0
  synRetrans = 0
  synAckRetrans = 0
  lastSynNs = -1n
  lastSynAckNs = -1n
  /** Payload bytes on its SYN or SYN+ACK (TCP Fast Open). */
  synData = 0
  /** Sequence tracking: the highest sequence number sent so far (after data), and bytes counted. */
  seqStarted = false
  maxEnd = 0
  bytes = 0
  retransSegments = 0
  finSeq: number | undefined
  packets = 0
  /** Checksums: verifiable ones, wrong ones, wrong the way offload leaves them; first bad packet. */
  checked = 0
  bad = 0
  partial = 0
  firstBad = 0
  /** Packets whose direction the link layer told, and how many were outgoing from the capturing host. */
  directionKnown = 0
  outgoing = 0
  ipBad = 0
  firstIpBad = 0
  /** Base of relative sequence numbers: the ISN, else the first number seen from or acknowledged to this end. */
  base: number | undefined
  /** For kept segments: the peer sent a SYN or FIN this end has not acknowledged yet (its next ACK may move a state). */
  owesAck = false
  /** For kept segments: this end has acknowledged the peer's FIN. */
  ackedPeerFin = false

  constructor(
    readonly addr: Uint8Array,
    readonly port: number,
  ) {}
}

/** One tracked connection. */
class Conn {
  client: Side | undefined
  rolesFrom: 'syn' | 'syn-ack' | undefined
  packets = 0
  lastNs: bigint
  synAckSeen = false
  handshakeDone = false
  refused = false
  rttClientNs = -1n
  rttServerNs = -1n
  end: { reason: EndReason; by: Side } | undefined
  finished = false
  evicted = false
  resets: Array<{ by: Side; seq: number; ack: number | null; ns: bigint }> = []
  resetCount = 0
  anomalies: AnomalyAcc[] = []
  /** Kept segments (only when asked for); the sender's role is settled when the report is built. */
  segments: Array<{ side: Side; rec: SegmentRecord }> | undefined
  /** The last segments, a ring once the head is full: `tail[(tailStart + i) % tail.length]`. */
  tail: Array<{ side: Side; rec: SegmentRecord; infer: boolean }> = []
  tailStart = 0
  /** Segments between head and tail: how many, and those kept for state inference. */
  elided = 0
  elidedKept: Array<{ side: Side; rec: SegmentRecord }> = []
  /** Some packet of it matched the inspect filter. */
  matched = false
  /** Next connection with the same tuple hash. */
  hashNext: Conn | undefined
  /** Neighbours in the table's LRU list (open connections) or finish-order list (finished ones). */
  prev: Conn | undefined
  next: Conn | undefined

  constructor(
    readonly index: number,
    readonly hash: number,
    readonly family: 4 | 6,
    readonly a: Side,
    readonly b: Side,
    readonly firstNs: bigint,
  ) {
    this.lastNs = firstNs
  }

  /** Whether the segment belongs to this connection (either direction). */
  matches(seg: SegmentInfo): boolean {
    const a = this.a
    const b = this.b
    if (a.port === seg.srcPort && b.port === seg.dstPort && sameAddr(a.addr, seg.src) && sameAddr(b.addr, seg.dst)) return true
    return b.port === seg.srcPort && a.port === seg.dstPort && sameAddr(b.addr, seg.src) && sameAddr(a.addr, seg.dst)
  }

  other(s: Side): Side {
    return s === this.a ? this.b : this.a
  }

  note(kind: AnomalyKind, by: Side | undefined, detail = ''): void {
    for (const x of this.anomalies) {
      if (x.kind === kind && x.by === by) {
        x.count++
        return
      }
    }
    this.anomalies.push({ kind, by, count: 1, firstPacket: this.packets, detail })
  }
}

const rd32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0

/** A 32-bit hash of an address and port (murmur3's finalizer over each 32-bit word). */
function endpointHash(addr: Uint8Array, port: number): number {
  let h = Math.imul(port ^ 0x9e3779b9, 0x85ebca6b)
  for (let i = 0; i < addr.length; i += 4) {
    h ^= rd32(addr, i)
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  }
  return h ^ (h >>> 16)
}

/**
 * The same small integer for both directions of a connection (XOR is symmetric), kept in V8's small
 * integer range so the table's Map hashes it fast. Collisions chain through `Conn.hashNext`.
 */
function tupleHash(seg: SegmentInfo): number {
  return (endpointHash(seg.src, seg.srcPort) ^ endpointHash(seg.dst, seg.dstPort)) & 0x3fffffff
}

function sameAddr(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** An intrusive doubly linked list of connections: O(1) append, unlink and oldest-first. */
class ConnList {
  head: Conn | undefined
  tail: Conn | undefined
  size = 0

  append(c: Conn): void {
    c.prev = this.tail
    c.next = undefined
    if (this.tail !== undefined) this.tail.next = c
    else this.head = c
    this.tail = c
    this.size++
  }

  unlink(c: Conn): void {
    if (c.prev !== undefined) c.prev.next = c.next
    else this.head = c.next
    if (c.next !== undefined) c.next.prev = c.prev
    else this.tail = c.prev
    c.prev = c.next = undefined
    this.size--
  }
}

function offeredFrom(options: readonly TcpOption[]): OfferedOptions {
  const o: OfferedOptions = { mss: null, wscale: null, sackPermitted: false, timestamps: false, other: [] }
  for (const opt of options) {
    switch (opt.kind) {
      case 'mss':
        o.mss = opt.value
        break
      case 'wscale':
        o.wscale = opt.shift
        break
      case 'sackPermitted':
        o.sackPermitted = true
        break
      case 'timestamp':
        o.timestamps = true
        break
      case 'sack':
        o.other.push(5)
        break
      case 'unknown':
        o.other.push(opt.type)
        break
      default:
        break // NOP and EOL are padding
    }
  }
  return o
}

/** Options of a kept segment: unknown-kind data is copied, since the frame it points into is reused. */
function keepOptions(options: readonly TcpOption[]): TcpOption[] {
  return options.map((o): TcpOption => {
    if (o.kind === 'unknown') return { kind: 'unknown', type: o.type, data: new Uint8Array(o.data) }
    if (o.kind === 'sack') return { kind: 'sack', blocks: o.blocks.map(([l, r]): [Seq, Seq] => [l, r]) }
    return o
  })
}

const nsToUs = (ns: bigint): number => Number(ns) / 1000

/**
 * The streaming connection table. Feed it with {@link ConnectionTracker.push}; reports of connections that
 * leave the table early land in {@link ConnectionTracker.drain}; {@link ConnectionTracker.finish} reports
 * the rest in order of first packet.
 */
export class ConnectionTracker {
  /** Tuple hash → first connection of its chain. */
  private readonly table = new Map<number, Conn>()
  /** Open connections, least recently active first. */
  private readonly active = new ConnList()
  /** Finished connections (RST seen, FIN both ways), oldest finish first. */
  private readonly done = new ConnList()
  private readonly out: ConnectionReport[] = []
  private nextIndex = 1
  private readonly maxConnections: number
  private readonly keepSegments: number
  private readonly keepHead: number
  private readonly keepTail: number
  private lastConn: Conn | undefined
  /** The packet last pushed (updated in place by every push). */
  readonly packet: PacketContext = { connection: 0, seqBase: undefined, ackBase: undefined }
  private readonly keepSegmentsOf: number | undefined
  private readonly onHandshake: ((r: ConnectionReport) => void) | undefined
  private readonly onEnd: ((r: ConnectionReport) => void) | undefined
  /** Counters, live. */
  readonly counters: TrackerCounters = { tcpPackets: 0, tracked: 0, maxTracked: 0, evicted: 0, reported: 0 }

  /** Copies the tracker's share of an inspect summary (connections, TCP packets, table use) into `into`. */
  fillSummary(into: InspectSummary): InspectSummary {
    const c = this.counters
    into.connections = c.reported
    into.tcpPackets = c.tcpPackets
    into.maxTracked = c.maxTracked
    into.evicted = c.evicted
    return into
  }

  constructor(opts: TrackerOptions = {}) {
    const max = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`maxConnections must be a positive integer, got ${max}`)
    this.maxConnections = max
    this.keepSegments = opts.keepSegments ?? 0
    this.keepHead = Math.ceil(this.keepSegments / 2)
    this.keepTail = this.keepSegments - this.keepHead
    this.keepSegmentsOf = opts.keepSegmentsOf
    this.onHandshake = opts.onHandshake
    this.onEnd = opts.onEnd
  }

  /** The table's limit. */
  get limit(): number {
    return this.maxConnections
  }

  /** Reports of connections that left the table since the last call (empty most of the time). */
  drain(): ConnectionReport[] {
    if (this.out.length === 0) return EMPTY
    return this.out.splice(0, this.out.length)
  }

  /** Reports every connection still in the table, in order of first packet, and empties it. */
  finish(): ConnectionReport[] {
    const rest: Conn[] = []
    for (const list of [this.done, this.active]) {
      for (let c = list.head; c !== undefined; c = c.next) rest.push(c)
      list.head = list.tail = undefined
      list.size = 0
    }
    rest.sort((x, y) => x.index - y.index)
    this.table.clear()
    this.counters.tracked = 0
    const reports = this.out.splice(0, this.out.length)
    for (const c of rest) reports.push(this.report(c))
    this.counters.reported += rest.length
    return reports
  }

  /** Processes one TCP segment captured at `ns` (ns since the epoch). Its byte arrays are not kept. */
  push(seg: SegmentInfo, ns: bigint): void {
    this.counters.tcpPackets++
    const hash = tupleHash(seg)
    let conn = this.table.get(hash)
    while (conn !== undefined && !conn.matches(seg)) conn = conn.hashNext
    if (conn !== undefined && !conn.finished && conn !== this.active.tail) {
      // Most recently active last.
      this.active.unlink(conn)
      this.active.append(conn)
    }
    if (conn !== undefined && (seg.flags & (TcpFlags.SYN | TcpFlags.ACK)) === TcpFlags.SYN && this.startsNew(conn, seg)) {
      this.remove(conn)
      this.emit(conn)
      conn = undefined
    }
    if (conn === undefined) conn = this.create(hash, seg, ns)
    this.update(conn, seg, ns)
    this.lastConn = conn
    const s = ipEqualsPort(conn.a, seg) ? conn.a : conn.b
    const p = this.packet
    p.connection = conn.index
    p.seqBase = s.base
    p.ackBase = conn.other(s).base
    // RST or FIN both ways: the connection is over and first in line to leave a full table.
    if (!conn.finished && conn.end !== undefined) {
      conn.finished = true
      this.active.unlink(conn)
      this.done.append(conn)
      if (this.onEnd !== undefined) this.onEnd(this.report(conn))
    }
  }

  /** Marks the connection of the packet last pushed as matching a filter (its report says `matched`). */
  matchLast(): void {
    if (this.lastConn !== undefined) this.lastConn.matched = true
  }

  /** A SYN with a new ISN, or a SYN after unrelated traffic or after the end: port reuse, a new connection. */
  private startsNew(conn: Conn, seg: SegmentInfo): boolean {
    const s = ipEqualsPort(conn.a, seg) ? conn.a : conn.b
    if (s.isn !== undefined) return s.isn !== seg.seq
    return conn.finished || conn.rolesFrom === undefined
  }

  private create(hash: number, seg: SegmentInfo, ns: bigint): Conn {
    while (this.active.size + this.done.size >= this.maxConnections) this.evictOne()
    // Copies (new Uint8Array(view) copies; a Buffer's slice() would not): the frame is reused.
    const a = new Side(new Uint8Array(seg.src), seg.srcPort)
    const b = new Side(new Uint8Array(seg.dst), seg.dstPort)
    const conn = new Conn(this.nextIndex++, hash, seg.family, a, b, ns)
    if (this.keepSegments > 0 && (this.keepSegmentsOf === undefined || this.keepSegmentsOf === conn.index)) conn.segments = []
    conn.hashNext = this.table.get(hash)
    this.table.set(hash, conn)
    this.active.append(conn)
    const n = this.active.size + this.done.size
    this.counters.tracked = n
    if (n > this.counters.maxTracked) this.counters.maxTracked = n
    return conn
  }

  private evictOne(): void {
    const victim = this.done.head ?? this.active.head!
    if (!victim.finished) {
      victim.evicted = true
      this.counters.evicted++
    }
    this.remove(victim)
    this.emit(victim)
  }

  private remove(conn: Conn): void {
    const list = conn.finished ? this.done : this.active
    list.unlink(conn)
    const first = this.table.get(conn.hash)
    if (first === conn) {
      if (conn.hashNext === undefined) this.table.delete(conn.hash)
      else this.table.set(conn.hash, conn.hashNext)
    } else {
      let c = first
      while (c !== undefined && c.hashNext !== conn) c = c.hashNext
      if (c !== undefined) c.hashNext = conn.hashNext
    }
    conn.hashNext = undefined
    this.counters.tracked = this.active.size + this.done.size
  }

  private emit(conn: Conn): void {
    this.out.push(this.report(conn))
    this.counters.reported++
  }

  private update(conn: Conn, seg: SegmentInfo, ns: bigint): void {
    const s = ipEqualsPort(conn.a, seg) ? conn.a : conn.b
    const o = conn.other(s)
    conn.packets++
    conn.lastNs = ns
    s.packets++
    const notes: string[] | undefined = conn.segments !== undefined ? [] : undefined

    if (seg.checksum !== 'unchecked') {
      s.checked++
      if (seg.checksum !== 'ok') {
        s.bad++
        if (seg.checksum === 'partial') s.partial++
        if (s.firstBad === 0) s.firstBad = conn.packets
        notes?.push('bad checksum')
      }
    }
    if (!seg.ipChecksumOk) {
      s.ipBad++
      if (s.firstIpBad === 0) s.firstIpBad = conn.packets
      notes?.push('bad IP checksum')
    }
    if (seg.direction !== 'unknown') {
      s.directionKnown++
      if (seg.direction === 'out') s.outgoing++
    }

    const flags = seg.flags
    const syn = (flags & TcpFlags.SYN) !== 0
    const ack = (flags & TcpFlags.ACK) !== 0
    const rst = (flags & TcpFlags.RST) !== 0
    const fin = (flags & TcpFlags.FIN) !== 0
    const len = seg.payloadLen

    // Relative numbers (Wireshark's default): from the ISN; with the SYN not captured, as if it had taken
    // the number before the first one seen (so data starts at 1), or before the first one acknowledged.
    if (syn && s.isn === undefined) s.base = seg.seq
    else if (s.base === undefined) s.base = (seg.seq - 1) >>> 0
    if (ack && o.base === undefined) o.base = (seg.ack - 1) >>> 0

    if (rst) {
      conn.resetCount++
      if (conn.resets.length < MAX_RESETS_KEPT) conn.resets.push({ by: s, seq: seg.seq, ack: ack ? seg.ack : null, ns })
      if (conn.end === undefined) {
        // Refused: the RST answers a SYN that never got a SYN+ACK (RFC 9293 §3.10.7.1, CLOSED state).
        if (!conn.synAckSeen && o.syns > 0 && !syn) {
          conn.refused = true
          conn.end = { reason: 'refused', by: s }
        } else conn.end = { reason: 'reset', by: s }
      }
    }

    if (syn && !ack) {
      if (conn.client === undefined) {
        conn.client = s
        conn.rolesFrom = 'syn'
      }
      if (s.isn === undefined) {
        s.isn = seg.seq
        s.offered = offeredFrom(seg.options)
      } else if (seg.seq === s.isn) {
        s.synRetrans++
        notes?.push('retransmission')
      }
      s.syns++
      if (!conn.synAckSeen) s.lastSynNs = ns
      if (len > 0) {
        s.synData = Math.max(s.synData, len)
        conn.note('data-on-syn', s, `${len} bytes`)
        notes?.push('data on SYN')
      }
    } else if (syn && ack) {
      if (conn.client === undefined) {
        conn.client = o
        conn.rolesFrom = 'syn-ack'
      }
      if (s.isn === undefined) {
        s.isn = seg.seq
        s.offered = offeredFrom(seg.options)
      } else if (seg.seq === s.isn) {
        s.synAckRetrans++
        notes?.push('retransmission')
      }
      s.synAcks++
      if (!conn.synAckSeen) {
        conn.synAckSeen = true
        if (o.lastSynNs >= 0n) conn.rttClientNs = ns - o.lastSynNs
        if (o.isn !== undefined) {
          const d = seqDiff(seg.ack as Seq, ((o.isn + 1) >>> 0) as Seq)
          if (d < 0 || d > o.synData) {
            conn.note('synack-does-not-acknowledge-syn', s, `acknowledges ${seg.ack}, the SYN needs ${(o.isn + 1) >>> 0}`)
            notes?.push('does not acknowledge the SYN')
          }
        }
      }
      if (!conn.handshakeDone) s.lastSynAckNs = ns
      if (len > 0) {
        s.synData = Math.max(s.synData, len)
        conn.note('data-on-syn', s, `${len} bytes on the SYN+ACK`)
        notes?.push('data on SYN')
      }
    } else if (ack && !rst && conn.synAckSeen && !conn.handshakeDone && s === conn.client && o.isn !== undefined) {
      // The client's first ACK after the SYN+ACK completes the handshake if it acknowledges the SYN.
      const d = seqDiff(seg.ack as Seq, ((o.isn + 1) >>> 0) as Seq)
      if (d >= 0 && d <= o.synData) {
        conn.handshakeDone = true
        if (o.lastSynAckNs >= 0n) conn.rttServerNs = ns - o.lastSynAckNs
        if (this.onHandshake !== undefined) this.onHandshake(this.report(conn))
      } else {
        conn.note('ack-does-not-acknowledge-syn', s, `acknowledges ${seg.ack}, the SYN+ACK needs ${(o.isn + 1) >>> 0}`)
        notes?.push('does not acknowledge the SYN')
      }
    }

    if (!rst) {
      // Sequence space: a SYN occupies one number before the data (RFC 9293 §3.4).
      const start = syn ? (seg.seq + 1) >>> 0 : seg.seq
      if (!s.seqStarted) {
        s.seqStarted = true
        s.maxEnd = start
      }
      if (len > 0) {
        const end = (start + len) >>> 0
        const d = seqDiff(end as Seq, s.maxEnd as Seq)
        if (d > 0) {
          if (seqGt(start as Seq, s.maxEnd as Seq)) {
            conn.note('segment-not-captured', s)
            notes?.push('previous segment not captured')
          }
          s.bytes += d
          s.maxEnd = end
        } else if (!syn) {
          s.retransSegments++
          notes?.push('retransmission')
        }
      }
      if (fin && s.finSeq === undefined) {
        s.finSeq = (start + len) >>> 0
        if (conn.end === undefined && o.finSeq !== undefined) conn.end = { reason: 'closed', by: o }
      }
    }

    if (notes !== undefined) {
      const rec: SegmentRecord = {
        from: 'client',
        timeUs: nsToUs(ns - conn.firstNs),
        flags,
        seq: seg.seq,
        ack: seg.ack,
        len,
        window: seg.window,
        options: keepOptions(seg.options),
        notes,
      }
      this.keep(conn, s, o, rec, seg)
    }
  }

  /**
   * Keeps a segment: in the head while it has room, then in the tail ring; one pushed out of the ring is
   * counted as elided and kept (without options) only if it can move a state in toLadder's inference: SYN,
   * FIN, RST, the first ACK after the peer's SYN or FIN, and the first ACK that covers the peer's FIN.
   */
  private keep(conn: Conn, s: Side, o: Side, rec: SegmentRecord, seg: SegmentInfo): void {
    const f = seg.flags
    let infer = (f & (TcpFlags.SYN | TcpFlags.FIN | TcpFlags.RST)) !== 0
    if (f & TcpFlags.ACK) {
      if (s.owesAck) {
        s.owesAck = false
        infer = true
      }
      if (!s.ackedPeerFin && o.finSeq !== undefined && !seqGt(((o.finSeq + 1) >>> 0) as Seq, seg.ack as Seq)) {
        s.ackedPeerFin = true
        infer = true
      }
    }
    if (f & (TcpFlags.SYN | TcpFlags.FIN)) o.owesAck = true
    const head = conn.segments!
    if (head.length < this.keepHead) {
      head.push({ side: s, rec })
      return
    }
    if (this.keepTail === 0) {
      conn.elided++
      if (infer && conn.elidedKept.length < MAX_INFERENCE_SEGMENTS) conn.elidedKept.push({ side: s, rec: { ...rec, options: [] } })
      return
    }
    const tail = conn.tail
    if (tail.length < this.keepTail) {
      tail.push({ side: s, rec, infer })
      return
    }
    const out = tail[conn.tailStart]
    conn.elided++
    if (out.infer && conn.elidedKept.length < MAX_INFERENCE_SEGMENTS) conn.elidedKept.push({ side: out.side, rec: { ...out.rec, options: [] } })
    tail[conn.tailStart] = { side: s, rec, infer }
    conn.tailStart = (conn.tailStart + 1) % tail.length
  }

  /** Builds the report of a connection in its current state. */
  private report(conn: Conn): ConnectionReport {
    const client = clientOf(conn)
    const server = conn.other(client)
    const role = (x: Side | undefined): Role | null => (x === undefined ? null : x === client ? 'client' : 'server')
    const cOff = client.offered ?? null
    const sOff = server.offered ?? null

    let negotiated: NegotiatedOptions | null = null
    const anomalies: Anomaly[] = []
    if (cOff !== null && sOff !== null && server.synAcks > 0) {
      const def = conn.family === 4 ? DEFAULT_MSS_V4 : DEFAULT_MSS_V6
      const ws = cOff.wscale !== null && sOff.wscale !== null
      negotiated = {
        mss: { clientToServer: sOff.mss ?? def, serverToClient: cOff.mss ?? def },
        windowScale: ws ? { client: Math.min(cOff.wscale!, MAX_WSCALE), server: Math.min(sOff.wscale!, MAX_WSCALE) } : null,
        sack: cOff.sackPermitted && sOff.sackPermitted,
        timestamps: cOff.timestamps && sOff.timestamps,
      }
    }
    for (const s of [client, server]) {
      if (s.offered?.wscale != null && s.offered.wscale > MAX_WSCALE) {
        anomalies.push({
          kind: 'window-scale-too-large', by: role(s), count: 1, firstPacket: 0,
          message: `${role(s)} offered window scale ${s.offered.wscale}, above 14 (RFC 7323 §2.3: used as 14)`,
        })
      }
    }

    let handshake: ConnectionReport['handshake']
    if (conn.refused) handshake = 'refused'
    else if (conn.handshakeDone) handshake = 'complete'
    else if (conn.rolesFrom === undefined) handshake = 'not-seen'
    else handshake = 'incomplete'

    let ended: EndReason
    let endedBy: Role | null = null
    if (conn.end !== undefined) {
      ended = conn.end.reason
      endedBy = role(conn.end.by)
    } else if (handshake === 'incomplete') ended = 'incomplete'
    else if (client.finSeq !== undefined || server.finSeq !== undefined) {
      ended = 'half-closed'
      endedBy = client.finSeq !== undefined ? 'client' : 'server'
    } else ended = 'open'

    // Checksums, per end. Offload leaves outgoing checksums unfinished on the sending host: say so when
    // all of one end's checksums are wrong and the capture looks taken on its host.
    for (const s of [client, server]) {
      if (s.bad > 0) {
        const all = s.bad === s.checked
        const other = conn.other(s)
        const onSender =
          (s.directionKnown > 0 && s.outgoing === s.packets) ||
          s.partial === s.bad ||
          (s.directionKnown === 0 && other.bad === 0 && other.checked > 0 && s.checked >= 2)
        const possiblyOffloaded = all && onSender
        anomalies.push({
          kind: 'bad-checksum', by: role(s), count: s.bad, firstPacket: s.firstBad,
          message: `${s.bad} of ${s.checked} TCP checksums from the ${role(s)} are wrong${possiblyOffloaded ? ' (possibly offloaded: checksum offload leaves them for the NIC to fill in after the capture point)' : ''}`,
          possiblyOffloaded,
        })
      }
      if (s.ipBad > 0) {
        anomalies.push({
          kind: 'bad-ip-checksum', by: role(s), count: s.ipBad, firstPacket: s.firstIpBad,
          message: `${s.ipBad} IPv4 header checksums from the ${role(s)} are wrong`,
        })
      }
    }
    for (const x of conn.anomalies) {
      const who = role(x.by)
      let message: string
      switch (x.kind) {
        case 'ack-does-not-acknowledge-syn':
          message = `the ${who}'s ACK does not acknowledge the SYN+ACK (${x.detail})`
          break
        case 'synack-does-not-acknowledge-syn':
          message = `the ${who}'s SYN+ACK does not acknowledge the SYN (${x.detail})`
          break
        case 'data-on-syn':
          message = `data on a SYN from the ${who} (${x.detail}${x.count > 1 ? `, ${x.count} times` : ''})`
          break
        case 'segment-not-captured':
          message = `${x.count} segment${x.count > 1 ? 's' : ''} from the ${who} not captured (gaps in the sequence numbers)`
          break
        default:
          message = `${x.kind}${who ? ` by ${who}` : ''}`
      }
      anomalies.push({ kind: x.kind, by: who, count: x.count, firstPacket: x.firstPacket, message })
    }
    if (handshake === 'incomplete') {
      const what = server.synAcks > 0 ? 'no ACK of the SYN+ACK captured' : 'no SYN+ACK captured'
      anomalies.push({ kind: 'handshake-incomplete', by: null, count: 1, firstPacket: 0, message: `the handshake never completed (${what})` })
    }

    const resets = conn.resets.map((r) => {
      const by = r.by
      return {
        by: role(by)!,
        seq: r.seq,
        relativeSeq: by.isn === undefined ? null : seqDiff(r.seq as Seq, ((by.isn + 1) >>> 0) as Seq),
        ack: r.ack,
        timeUs: nsToUs(r.ns - conn.firstNs),
      }
    })
    const endpoint = (s: Side): { ip: string; port: number } => ({ ip: formatIp(s.addr), port: s.port })
    const r: ConnectionReport = {
      index: conn.index,
      family: conn.family,
      client: endpoint(client),
      server: endpoint(server),
      rolesFrom: conn.rolesFrom ?? 'ports',
      start: new Date(Number(conn.firstNs / 1_000_000n)).toISOString(),
      startUs: Number(conn.firstNs / 1000n),
      durationUs: nsToUs(conn.lastNs - conn.firstNs),
      isn: { client: client.isn ?? null, server: server.isn ?? null },
      options: { client: cOff, server: sOff },
      negotiated,
      handshake,
      rtt: {
        clientUs: conn.rttClientNs >= 0n ? nsToUs(conn.rttClientNs) : null,
        serverUs: conn.rttServerNs >= 0n ? nsToUs(conn.rttServerNs) : null,
      },
      retransmittedSyns: client.synRetrans,
      retransmittedSynAcks: server.synAckRetrans,
      resets,
      resetCount: conn.resetCount,
      bytes: { clientToServer: client.bytes, serverToClient: server.bytes },
      retransmittedSegments: { clientToServer: client.retransSegments, serverToClient: server.retransSegments },
      ended,
      endedBy,
      anomalies,
      packets: { total: conn.packets, clientToServer: client.packets, serverToClient: server.packets },
      evicted: conn.evicted,
    }
    if (conn.segments !== undefined) {
      const as = ({ side, rec }: { side: Side; rec: SegmentRecord }): SegmentRecord => ({ ...rec, from: role(side)! })
      const tail = conn.tail
      const ordered = [...tail.slice(conn.tailStart), ...tail.slice(0, conn.tailStart)]
      r.segments = [...conn.segments.map(as), ...ordered.map(as)]
      if (conn.elided > 0) {
        r.segmentsElided = { after: conn.segments.length, count: conn.elided, inference: conn.elidedKept.map(as) }
      }
    }
    if (conn.matched) r.matched = true
    return r
  }
}

/** What drain() returns when nothing left the table; frozen so no caller can fill it. */
const EMPTY: ConnectionReport[] = Object.freeze([]) as unknown as ConnectionReport[]

/** The client: the SYN's sender, the SYN+ACK's receiver, or the end with the higher port. */
function clientOf(conn: Conn): Side {
  if (conn.client !== undefined) return conn.client
  return conn.b.port > conn.a.port ? conn.b : conn.a
}

function ipEqualsPort(s: Side, seg: SegmentInfo): boolean {
  return s.port === seg.srcPort && sameAddr(s.addr, seg.src)
}
