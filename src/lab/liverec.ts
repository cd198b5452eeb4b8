/**
 * Recording a live run: every TCP segment an interface sends or receives, with the state our end is in
 * after it, as lines for the terminal, records for `--json`, and a ladder for diagrams.
 */
import { formatEndpoint } from '../net/addr.js'
import type { TcpOption } from '../tcp/options.js'
import { formatFlags, parseFlags } from '../tcp/segment.js'
import { inferStates } from './inspect/ladder.js'
import type { TcpState } from '../tcp/types.js'
import { optionToJson, optionToText } from './format.js'
import type { Connection, Interface, PacketEvent } from './iface.js'
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
  /** Set when the interface dropped it (bad checksum…). */
  drop?: string
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
  if (r.drop) j.drop = r.drop
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
  const body = `${flagWords(r.flags).padEnd(8)} seq=${r.seq} ack=${r.ack} len=${r.len} win=${r.window}${opts.length ? ` [${opts.join(', ')}]` : ''}`
  return `${t} ${arrow} ${body}  ${r.drop ? `(dropped: ${r.drop})` : r.state}`
}

/** Records the segments of one interface (optionally one connection) as they pass. */
export class LiveRecorder {
  readonly segments: SegmentRecord[] = []
  readonly states: StateRecord[] = []
  private readonly start: number
  private readonly onPacket = (e: PacketEvent): void => this.packet(e)

  constructor(
    private readonly iface: Interface,
    /** Called with each record once our state after it is known. */
    private readonly onSegment?: (r: SegmentRecord) => void,
  ) {
    this.start = iface.now
    iface.on('packet', this.onPacket)
    iface.on('trace', (ev) => {
      if (ev.type === 'segment-out') this.settle()
      if (ev.type === 'state') this.states.push({ timeUs: ev.now - this.start, from: ev.from, to: ev.to, cause: ev.cause })
    })
  }

  /** Stops recording. */
  stop(): void {
    this.iface.off('packet', this.onPacket)
  }

  private packet(e: PacketEvent): void {
    const ip = e.decoded?.ip
    const tcp = e.tcp
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
    // A received segment is reported before the TCB processes it, and processed before anything else
    // happens: the state after it is whatever the connection is in at the next event (or microtask).
    this.settle()
    this.segments.push(r)
    this.queue.push(r)
    if (e.dir === 'in' && !e.drop) {
      this.unsettled = { r, conn: e.conn }
      queueMicrotask(() => this.settle())
    } else this.flush()
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

  /** The segments of one connection (by our endpoint and the peer's). */
  of(local: string, remote: string): SegmentRecord[] {
    return this.segments.filter((s) => s.local === local && s.remote === remote)
  }

  /** SYN → SYN+ACK time at our end for an active open, in µs. */
  static handshakeRtt(segs: SegmentRecord[]): number | undefined {
    const syn = segs.find((s) => s.dir === 'out' && s.flags.includes('S') && !s.flags.includes('A'))
    const synAck = segs.find((s) => s.dir === 'in' && s.flags.includes('S') && s.flags.includes('A'))
    return syn && synAck ? synAck.timeUs - syn.timeUs : undefined
  }
}

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
    ...(s.drop ? { notes: [`dropped by tcplab: ${s.drop}`] } : {}),
  }))
  return {
    ...(title ? { title } : {}),
    left: { label: labels.left, endpoint: first?.local ?? '', ...(ourSyn ? { isn: ourSyn.seq } : {}) },
    right: { label: labels.right, endpoint: first?.remote ?? '', ...(theirSyn ? { isn: theirSyn.seq } : {}) },
    rows,
    ...(outcome ? { outcome } : {}),
  }
}
