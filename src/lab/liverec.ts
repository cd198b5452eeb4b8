/**
 * Recording a live run: every TCP segment an interface sends or receives, with the state our end is in
 * after it, as lines for the terminal, records for `--json`, and a ladder for diagrams.
 */
import { StringDecoder } from 'node:string_decoder'
import { formatEndpoint } from '../net/addr.js'
import type { TcpOption } from '../tcp/options.js'
import { formatFlags, parseFlags } from '../tcp/segment.js'
import { inferStates } from './inspect/ladder.js'
import type { TcpState } from '../tcp/types.js'
import { optionToJson, optionToText } from './format.js'
import { viewIp } from './decodeview.js'
import type { Connection } from './stack/connection.js'
import type { Interface, PacketEvent } from './stack/iface.js'
import type { TraceEvent } from '../tcp/trace.js'
import type { WireStamp, WireStampDevice } from '../net/wirestamp.js'
import type { LadderExchange, LadderRow } from './ladder/model.js'

/** One segment of a live run. */
export interface SegmentRecord {
  dir: 'in' | 'out'
  /** µs since the recorder started. */
  timeUs: number
  flags: string
  seq: number
  ack: number
  len: number
  window: number
  options: TcpOption[]
  /** Our end's state after this segment. */
  state: TcpState | 'CLOSED'
  /** "local:port" of our end and of the peer. */
  local: string
  remote: string
  /**
   * µs since the recorder started (as `timeUs`) at which the segment really crossed the device, when the
   * device reports it (a live stack's wire stamps): `timeUs` is when the interface handled it, which for
   * a segment sent can be before the device sent it (building it, ARP) and for one received after it
   * arrived (a busy event loop).
   */
  wireUs?: number
  /** Set when the interface dropped it (bad checksum…). */
  drop?: string
  /**
   * A malformed TCP option, for a segment the interface dropped as malformed: `options` then holds the
   * options before it (decode's tolerant view), and the printers mark the rest `[bad opt]` as tcpdump does.
   */
  optionError?: { code: string; message: string }
  /**
   * Segments of this connection the recorder did not keep just before this one (see
   * {@link RecorderLimits}); set only on the first segment after such a gap, in what `of()` returns.
   */
  omittedBefore?: number
}

/** A state transition of our end. */
export interface StateRecord {
  timeUs: number
  from: TcpState
  to: TcpState
  cause: string
}

/** The JSON form of a segment record (options as decode --json prints them). */
export function segmentJson(r: SegmentRecord): Record<string, unknown> {
  const j: Record<string, unknown> = {
    dir: r.dir,
    timeUs: r.timeUs,
    flags: r.flags,
    seq: r.seq,
    ack: r.ack,
    len: r.len,
    window: r.window,
    options: r.options.map(optionToJson),
    state: r.state,
  }
  if (r.wireUs !== undefined) j.wireUs = r.wireUs
  if (r.drop) j.drop = r.drop
  if (r.optionError) {
    ;(j.options as unknown[]).push({ kind: 'malformed', code: r.optionError.code })
    j.warnings = [r.optionError]
  }
  if (r.omittedBefore) j.omittedBefore = r.omittedBefore
  return j
}

const FLAG_WORDS: Array<[string, string]> = [['S', 'SYN'], ['F', 'FIN'], ['R', 'RST'], ['P', 'PSH'], ['A', 'ACK'], ['U', 'URG'], ['E', 'ECE'], ['C', 'CWR']]

/** Flags as words joined by '+', in the order people say them (SYN+ACK, PSH+ACK, FIN+ACK). */
export function flagWords(letters: string): string {
  const words = FLAG_WORDS.filter(([l]) => letters.includes(l)).map(([, w]) => w)
  return words.length ? words.join('+') : 'none'
}

/** One segment as a terminal line: time, direction, flags, numbers, options and our state after it. */
export function segmentLine(r: SegmentRecord): string {
  const t = `+${(r.timeUs / 1000).toFixed(3)} ms`.padStart(12)
  const arrow = r.dir === 'out' ? '→' : '←'
  const opts = r.options.filter((o) => o.kind !== 'nop' && o.kind !== 'eol').map(optionToText)
  if (r.optionError) opts.push('[bad opt]')
  const body = `${flagWords(r.flags).padEnd(8)} seq=${r.seq} ack=${r.ack} len=${r.len} win=${r.window}${opts.length ? ` [${opts.join(', ')}]` : ''}`
  return `${t} ${arrow} ${body}  ${r.drop ? `(dropped: ${r.drop})` : r.state}`
}

/**
 * How much a {@link LiveRecorder} keeps, so that its memory does not grow with what a peer sends. Every
 * segment is still passed to the recorder's callback (the live lines) and counted.
 */
export interface RecorderLimits {
  /** Segments kept from the start of each connection. */
  head: number
  /** Segments kept from the end of each connection (the most recent ones). */
  tail: number
  /**
   * Connections whose segments are kept at once. A new one past it pushes out the one quiet the longest
   * (its segments are then counted in `omitted`): stray packets of a flood cannot lock out later clients.
   */
  connections: number
  /** State transitions kept (of all connections); later ones are only counted. */
  states: number
}

/**
 * The defaults. 64 from the start holds the handshake with its options — what people look at — plus the
 * seed's whole exchange (about 10 segments) and the first round trips of a longer one, and is about as
 * many rows as a ladder diagram stays readable with; 16 from the end hold the close (FIN, ACK, FIN, ACK
 * or an RST) and what led to it. At a few hundred bytes a record that is about 30 KB a connection, and
 * 256 connections bound the whole recorder to under 10 MB. `listen` forgets a connection once it is
 * reported ({@link LiveRecorder.forget}), so serving clients one after another never nears the cap.
 */
export const RECORDER_LIMITS: Readonly<RecorderLimits> = { head: 64, tail: 16, connections: 256, states: 4096 }

/** The kept segments of one connection: the first `head`, and a ring of the last `tail`. */
class ConnectionSegments {
  readonly head: Array<{ n: number; r: SegmentRecord }> = []
  private readonly ring: Array<{ n: number; r: SegmentRecord }> = []
  /** Index of the oldest entry of the ring once it is full. */
  private oldest = 0
  /** Segments seen. */
  total = 0

  add(n: number, r: SegmentRecord, limits: RecorderLimits): void {
    this.total++
    if (this.head.length < limits.head) this.head.push({ n, r })
    else if (limits.tail <= 0) return
    else if (this.ring.length < limits.tail) this.ring.push({ n, r })
    else {
      this.ring[this.oldest] = { n, r }
      this.oldest = (this.oldest + 1) % limits.tail
    }
  }

  /** Segments seen but not kept. */
  get omitted(): number {
    return this.total - this.head.length - this.ring.length
  }

  /** Kept entries in order; the first after a gap is a copy that says how many were left out. */
  entries(): Array<{ n: number; r: SegmentRecord }> {
    const tail = [...this.ring.slice(this.oldest), ...this.ring.slice(0, this.oldest)]
    const gap = this.omitted
    if (gap > 0 && tail.length > 0) tail[0] = { n: tail[0].n, r: { ...tail[0].r, omittedBefore: gap } }
    return [...this.head, ...tail]
  }
}

/**
 * Records the segments of one interface as they pass, per connection, within {@link RecorderLimits}:
 * the first and last segments of each connection, with a count of those left out between.
 */
export class LiveRecorder {
  /** State transitions of our end, up to `limits.states` (see {@link statesOmitted}). */
  readonly states: StateRecord[] = []
  /** State transitions not kept. */
  statesOmitted = 0
  /** The limits in force. */
  readonly limits: RecorderLimits
  private readonly conns = new Map<string, ConnectionSegments>()
  /** Segments of connections pushed out by `limits.connections`: counted, no longer kept. */
  private evicted = 0
  private seen = 0
  private readonly start: number
  private readonly onPacket = (e: PacketEvent): void => this.packet(e)
  private readonly onTrace = (ev: TraceEvent): void => {
    if (ev.type === 'segment-out') this.settle()
    if (ev.type === 'state') {
      if (this.states.length < this.limits.states) this.states.push({ timeUs: ev.now - this.start, from: ev.from, to: ev.to, cause: ev.cause })
      else this.statesOmitted++
    }
  }

  constructor(
    private readonly iface: Interface,
    /** Called with each record once our state after it is known (every one, kept or not). */
    private readonly onSegment?: (r: SegmentRecord) => void,
    limits: Partial<RecorderLimits> = {},
    /** The device's wire stamps (a live stack's `wire`), on the interface's clock: they fill `wireUs`. */
    wire?: Pick<WireStampDevice, 'onStamp'>,
  ) {
    this.limits = { ...RECORDER_LIMITS, ...limits }
    this.start = iface.now
    iface.on('packet', this.onPacket)
    iface.on('trace', this.onTrace)
    this.offStamp = wire?.onStamp(this.onStamp)
  }

  private readonly offStamp: (() => void) | undefined
  /** Segments received that the device stamped and the interface has not shown yet, oldest first. */
  private readonly stampsIn: WireStamp[] = []
  /** Records of segments sent that the device has not stamped yet (sent later, after ARP), oldest first. */
  private readonly awaitingOut: SegmentRecord[] = []
  private readonly outKeys = new WeakMap<SegmentRecord, WireStamp>()

  private readonly onStamp = (st: WireStamp): void => {
    if (st.dir === 'in') {
      // The packet event follows at once, or after the packets queued before it: a few at most.
      if (this.stampsIn.push(st) > STAMPS_PENDING) this.stampsIn.shift()
      return
    }
    const q = this.awaitingOut
    for (let i = 0; i < q.length; i++) {
      if (sameSegment(this.outKeys.get(q[i])!, st)) {
        q[i].wireUs = st.atUs - this.start
        // Sends leave in order: what was queued before it and is still unstamped never left.
        q.splice(0, i + 1)
        return
      }
    }
  }

  /** Sets `r.wireUs` from the device's stamp of the same segment (in), or waits for it (out). */
  private stampOf(r: SegmentRecord, key: WireStamp): void {
    if (this.offStamp === undefined) return
    if (r.dir === 'out') {
      this.outKeys.set(r, key)
      if (this.awaitingOut.push(r) > STAMPS_PENDING) this.awaitingOut.shift()
      return
    }
    const q = this.stampsIn
    for (let i = 0; i < q.length; i++) {
      if (sameSegment(q[i], key)) {
        r.wireUs = q[i].atUs - this.start
        q.splice(0, i + 1)
        return
      }
    }
  }

  /**
   * Stops recording segments. State transitions are still recorded (within `limits.states`) until the
   * interface closes: `handshake` reports the last one (TIME-WAIT → CLOSED) as the stack shuts down.
   */
  stop(): void {
    this.iface.off('packet', this.onPacket)
    this.offStamp?.()
  }

  /** Every kept segment of every connection, in the order they passed (gaps marked as in {@link of}). */
  get segments(): SegmentRecord[] {
    const all: Array<{ n: number; r: SegmentRecord }> = []
    for (const c of this.conns.values()) all.push(...c.entries())
    return all.sort((x, y) => x.n - y.n).map((e) => e.r)
  }

  /** Segments seen but not kept: of the connections held, and all of those the connection cap pushed out. */
  get omitted(): number {
    let n = this.evicted
    for (const c of this.conns.values()) n += c.omitted
    return n
  }

  /** Segments seen, kept or not. */
  get total(): number {
    return this.seen
  }

  /** Segments of one connection seen but not kept. */
  omittedOf(local: string, remote: string): number {
    return this.conns.get(key(local, remote))?.omitted ?? 0
  }

  /** Drops what is kept of one connection (once it has been reported), freeing its place. */
  forget(local: string, remote: string): void {
    this.conns.delete(key(local, remote))
  }

  private packet(e: PacketEvent): void {
    let ip = e.decoded?.ip
    let tcp = e.tcp
    let optionError: SegmentRecord['optionError']
    if ((!ip || !tcp) && e.drop === 'malformed') {
      // The stack drops a segment with a malformed option (its header cannot be trusted), but a person
      // watching should still see it, as decode and inspect show it: the tolerant view, marked.
      try {
        const v = viewIp(e.bytes)
        if (v.ip !== undefined && v.tcp !== undefined && v.tcp.optionError !== undefined) {
          ip = v.ip
          tcp = v.tcp
          optionError = { code: v.tcp.optionError.code, message: v.tcp.optionError.message }
        }
      } catch {
        // Malformed below TCP: nothing a ladder could show.
      }
    }
    if (!ip || !tcp) return
    const mine = e.dir === 'out'
    const local = formatEndpoint(mine ? ip.src : ip.dst, mine ? tcp.srcPort : tcp.dstPort)
    const remote = formatEndpoint(mine ? ip.dst : ip.src, mine ? tcp.dstPort : tcp.srcPort)
    const r: SegmentRecord = {
      dir: e.dir,
      timeUs: e.now - this.start,
      flags: formatFlags(tcp.flags),
      seq: tcp.seq,
      ack: tcp.ack,
      len: tcp.payload.length,
      window: tcp.window,
      options: tcp.options.map((o) => (o.kind === 'unknown' ? { ...o, data: o.data.slice() } : o)),
      state: e.conn?.state ?? 'CLOSED',
      local,
      remote,
    }
    if (e.drop) r.drop = e.drop
    if (optionError) r.optionError = optionError
    this.stampOf(r, { dir: e.dir, atUs: 0, srcPort: tcp.srcPort, dstPort: tcp.dstPort, seq: tcp.seq, ack: tcp.ack, flags: tcp.flags & 0xff, len: tcp.payload.length })
    // A received segment is reported before the TCB processes it, and processed before anything else
    // happens: the state after it is whatever the connection is in at the next event (or microtask).
    this.settle()
    this.keep(r)
    this.queue.push(r)
    if (e.dir === 'in' && !e.drop) {
      this.unsettled = { r, conn: e.conn }
      queueMicrotask(() => this.settle())
    } else this.flush()
  }

  private keep(r: SegmentRecord): void {
    const n = this.seen++
    const k = key(r.local, r.remote)
    let c = this.conns.get(k)
    if (c !== undefined) this.conns.delete(k) // re-inserted below: the map runs from quietest to latest
    else {
      if (this.conns.size >= this.limits.connections) {
        const [quietest, old] = this.conns.entries().next().value!
        this.conns.delete(quietest)
        this.evicted += old.total
      }
      c = new ConnectionSegments()
    }
    this.conns.set(k, c)
    c.add(n, r, this.limits)
  }

  private readonly queue: SegmentRecord[] = []
  private unsettled: { r: SegmentRecord; conn: Connection | undefined } | undefined

  private settle(): void {
    const u = this.unsettled
    if (!u) return
    this.unsettled = undefined
    u.r.state = (u.conn ?? this.find(u.r.local, u.r.remote))?.state ?? 'CLOSED'
    this.flush()
  }

  private flush(): void {
    if (this.unsettled) return
    for (const r of this.queue) this.onSegment?.(r)
    this.queue.length = 0
  }

  private find(local: string, remote: string): Connection | undefined {
    for (const c of this.iface.connections()) {
      const t = c.tuple
      if (formatEndpoint(t.localAddr, t.localPort) === local && formatEndpoint(t.remoteAddr, t.remotePort) === remote) return c
    }
    return undefined
  }

  /**
   * The kept segments of one connection (by our endpoint and the peer's): the first `limits.head` and the
   * last `limits.tail`; the first one after a gap carries `omittedBefore`.
   */
  of(local: string, remote: string): SegmentRecord[] {
    return this.conns.get(key(local, remote))?.entries().map((e) => e.r) ?? []
  }

  /**
   * The handshake's round trip for an active open, in µs: from the SYN that was answered — the last one
   * sent before the accepted SYN+ACK arrived (a retransmitted SYN carries the same sequence number, so
   * the ACK cannot tell them apart; the latest is the one the answer can have come from soonest) — to the
   * SYN+ACK our end accepted (not dropped, and taking it out of SYN-SENT). Wire times when both segments
   * have them, else the interface's. Undefined when no SYN+ACK was accepted.
   */
  static handshakeRtt(segs: SegmentRecord[]): number | undefined {
    const i = segs.findIndex((s) => s.dir === 'in' && s.flags.includes('S') && s.flags.includes('A') && !s.drop && s.state !== 'SYN-SENT' && s.state !== 'CLOSED')
    if (i < 0) return undefined
    const synAck = segs[i]
    const answered = (at: (s: SegmentRecord) => number | undefined): number | undefined => {
      const t = at(synAck)
      if (t === undefined) return undefined
      let syn: number | undefined
      for (let j = 0; j < i; j++) {
        const s = segs[j]
        if (s.dir !== 'out' || !s.flags.includes('S') || s.flags.includes('A') || ((s.seq + 1) >>> 0) !== synAck.ack) continue
        const ts = at(s)
        if (ts !== undefined && ts <= t) syn = ts
      }
      return syn !== undefined ? t - syn : undefined
    }
    return answered((s) => s.wireUs) ?? answered((s) => s.timeUs)
  }
}

/** Wire stamps or unstamped records held for matching at most (the rest are older than any in flight). */
const STAMPS_PENDING = 64

/** The same TCP segment: ports, numbers, flags and length (the stamps' time and direction aside). */
function sameSegment(a: WireStamp, b: WireStamp): boolean {
  return a.seq === b.seq && a.ack === b.ack && a.flags === b.flags && a.srcPort === b.srcPort && a.dstPort === b.dstPort && a.len === b.len
}

const key = (local: string, remote: string): string => `${local} ${remote}`

/** A ladder of one connection's segments: our end on the left, the peer on the right. */
export function ladderOf(segs: SegmentRecord[], labels: { left: string; right: string }, title?: string, outcome?: string): LadderExchange {
  const first = segs[0]
  // The peer's states are inferred from what it sent and received, as `inspect` does for a capture: it
  // listens when we open (our first segment is a SYN), else it is the one opening.
  const peerStart = first && first.dir === 'out' ? 'LISTEN' : 'CLOSED'
  const peer = inferStates(
    segs.filter((s) => !s.drop).map((s) => ({ mine: s.dir === 'in', flags: parseFlags(s.flags), seq: s.seq, ack: s.ack, len: s.len })),
    peerStart,
  )
  let k = 0
  const ourSyn = segs.find((s) => s.dir === 'out' && s.flags.includes('S'))
  const theirSyn = segs.find((s) => s.dir === 'in' && s.flags.includes('S'))
  const rows: LadderRow[] = segs.map((s) => ({
    from: s.dir === 'out' ? 'left' : 'right',
    timeUs: s.timeUs - (first?.timeUs ?? 0),
    flags: s.flags,
    seq: s.seq,
    ack: s.ack,
    hasAck: s.flags.includes('A'),
    len: s.len,
    window: s.window,
    options: s.options,
    leftState: s.state,
    ...(s.drop ? {} : { rightState: peer[k++] }),
    ...(s.drop || s.omittedBefore ? { notes: rowNotes(s) } : {}),
  }))
  return {
    ...(title ? { title } : {}),
    left: { label: labels.left, endpoint: first?.local ?? '', ...(ourSyn ? { isn: ourSyn.seq } : {}) },
    right: { label: labels.right, endpoint: first?.remote ?? '', ...(theirSyn ? { isn: theirSyn.seq } : {}) },
    rows,
    ...(outcome ? { outcome } : {}),
  }
}

function rowNotes(s: SegmentRecord): string[] {
  const notes: string[] = []
  if (s.omittedBefore) notes.push(`${s.omittedBefore} segment${s.omittedBefore === 1 ? '' : 's'} before this one not kept`)
  if (s.drop) notes.push(`dropped by tcplab: ${s.drop}`)
  return notes
}

// ---------------------------------------------------------------------------------------------------
// Received text

/**
 * Bytes of each connection's received text kept for the report: one read's worth (the socket reads 64 KiB
 * at a time), so a message up to that size is reported whole; the rest is only counted.
 */
export const RECEIVED_KEEP = 64 * 1024

/** What a connection received: the first `keep` bytes as text, and how many bytes in all. */
export class ReceivedText {
  /** Bytes received in all. */
  bytes = 0
  private readonly chunks: Buffer[] = []
  private kept = 0

  constructor(readonly keep: number = RECEIVED_KEEP) {}

  /** Counts a chunk and keeps what still fits of it. */
  add(d: Buffer | string): void {
    this.bytes += typeof d === 'string' ? Buffer.byteLength(d, 'utf8') : d.length
    if (this.kept >= this.keep) return
    const room = this.keep - this.kept
    // (of a string, encode no more characters than could fit: each is at least one byte)
    const b = typeof d === 'string' ? Buffer.from(d.length > room ? d.slice(0, room) : d, 'utf8') : d
    const part = b.subarray(0, room)
    // a copy: the kept prefix must not pin the (larger) buffer it came from
    this.chunks.push(Buffer.from(part))
    this.kept += part.length
  }

  /** The kept bytes as UTF-8 text; a character cut at the limit is left out, not replaced. */
  get text(): string {
    return new StringDecoder('utf8').write(Buffer.concat(this.chunks))
  }
}
