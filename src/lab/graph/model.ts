/**
 * The time-sequence graph model (tcptrace's and Wireshark's "Stevens" graph) of one TCP connection, built
 * from its segments alone: no clock, no I/O. The direction that carried the most data is "data sent"; the
 * other direction supplies the ACK line, the advertised-window line, SACK blocks and zero windows.
 *
 * Rules (the README and `--help` repeat them):
 * - retransmission: as tshark's `tcp.analysis.retransmission`, a segment that occupies sequence space (data,
 *   SYN or FIN) starting below the highest seq+len its sender already sent, i.e. not new data; a keep-alive
 *   (at most 1 byte at highest-1) is not one. Out-of-order segments therefore count as well.
 * - fast retransmit: a retransmission after at least 3 duplicate ACKs since the ACK last advanced
 *   (duplicate as RFC 5681 §2 defines it: no data, no SYN/FIN, same ACK and window, data outstanding).
 * - RTO: any other retransmission that starts at the cumulative ACK after at least 2 × the smoothed RTT
 *   (RFC 6298 §2 from the samples so far; any gap before the first sample) with no ACK progress and
 *   nothing sent in that direction.
 * - RTT: from a data segment to the first ACK covering it, skipping segments that were retransmitted
 *   (Karn's rule, RFC 6298 §3).
 * - throughput: bytes newly acknowledged per interval (GRAPH_BINS intervals over the connection).
 */
import type { TcpOption } from '../../tcp/options.js'
import { TcpFlags } from '../../tcp/segment.js'

/** Which end sent a segment: `a` is the first end named, `b` the other. */
export type GraphEnd = 'a' | 'b'

/** One captured or recorded segment, as the model needs it. */
export interface GraphSegment {
  from: GraphEnd
  /** Microseconds on any clock (the model subtracts the first segment's time). */
  timeUs: number
  /** TcpFlags bits. */
  flags: number
  /** Sequence and acknowledgment numbers as on the wire. */
  seq: number
  ack: number
  /** Payload length. */
  len: number
  /** Window field as sent (unscaled). */
  window: number
  /** Options (window scale from SYNs, SACK blocks). */
  options: readonly TcpOption[]
}

/** What the model is built from. */
export interface GraphInput {
  title?: string
  /** Endpoint text of each end, e.g. "10.0.0.1:5001". */
  ends: { a: string; b: string }
  /** Window scale shift of each end when known; otherwise taken from both SYNs' options (RFC 7323 §2.2). */
  windowScale?: { a: number; b: number } | null
  segments: readonly GraphSegment[]
}

/** Why a retransmission happened, as far as the capture shows. */
export type RetransmitCause = 'fast-retransmit' | 'rto' | 'other'

/** One segment of the data direction that occupies sequence space. */
export interface DataPoint {
  /** Index in the input's segments. */
  index: number
  /** µs after the first segment. */
  timeUs: number
  /** Relative sequence numbers of its first byte and one past its last (SYN and FIN count one). */
  seq: number
  end: number
  retransmission: boolean
  /** Only for retransmissions. */
  cause?: RetransmitCause
}

/** One segment with ACK set from the receiving direction. */
export interface AckPoint {
  index: number
  timeUs: number
  /** Relative acknowledgment number. */
  ack: number
  /** Right edge of the advertised window: ack + window × 2^scale (relative). */
  windowEdge: number
  /** Window in bytes, scaled. */
  window: number
  /** SACK blocks (relative), RFC 2018. */
  sack: Array<[number, number]>
  /** A duplicate ACK (RFC 5681 §2). */
  duplicate: boolean
}

/** A marked moment. */
export interface GraphEvent {
  kind: 'fast-retransmit' | 'rto' | 'zero-window'
  index: number
  timeUs: number
  /** Relative sequence number it is drawn at (the retransmitted seq, or the ACK of the zero window). */
  seq: number
}

/** One sample of a series over time. */
export interface SeriesPoint {
  timeUs: number
  value: number
}

/** The time-sequence graph of one connection. */
export interface TimeSequenceGraph {
  title: string
  /** Endpoint text of the data sender and of the receiver. */
  sender: string
  receiver: string
  /** Which input end sent the data. */
  senderEnd: GraphEnd
  /** The wire sequence number drawn as 0: the sender's ISN + 1, or its first segment's seq without a SYN. */
  base: number
  /** The receiver's window scale shift in force (0 without the option on both SYNs). */
  windowScale: number
  /** From the first to the last segment. */
  durationUs: number
  data: DataPoint[]
  acks: AckPoint[]
  events: GraphEvent[]
  /** Indices of every segment flagged as a retransmission, either direction, in input order. */
  retransmissions: number[]
  /** Bytes newly acknowledged per second, one point per interval (at its middle). */
  throughput: SeriesPoint[]
  /** Round-trip samples in µs, at the time of the ACK that gave each. */
  rtt: SeriesPoint[]
  /** Highest relative sequence number the sender reached. */
  maxSeq: number
}

/** Intervals of the throughput series. */
export const GRAPH_BINS = 100

const SYN_FIN = TcpFlags.SYN | TcpFlags.FIN

/** Sequence space a segment occupies: its payload, plus one each for SYN and FIN. */
export function seqSpace(s: Pick<GraphSegment, 'flags' | 'len'>): number {
  return s.len + (s.flags & TcpFlags.SYN ? 1 : 0) + (s.flags & TcpFlags.FIN ? 1 : 0)
}

/** a − b on the 32-bit circle, as a signed number. */
const diff = (a: number, b: number): number => (a - b) | 0

/**
 * Marks each input segment that is a retransmission by the tshark rule (see the module comment); one
 * boolean per segment, both directions tracked separately.
 */
export function retransmissionFlags(segs: readonly GraphSegment[]): boolean[] {
  const maxEnd: Record<GraphEnd, number | undefined> = { a: undefined, b: undefined }
  return segs.map((s) => {
    const space = seqSpace(s)
    if (space === 0 || s.flags & TcpFlags.RST) return false
    const hi = maxEnd[s.from]
    const end = (s.seq + space) >>> 0
    if (hi === undefined || diff(end, hi) > 0) maxEnd[s.from] = end
    if (hi === undefined || diff(s.seq, hi) >= 0) return false
    // tshark's keep-alive: at most one byte at the highest sequence number − 1, no SYN or FIN.
    const keepAlive = s.len <= 1 && !(s.flags & SYN_FIN) && ((s.seq + 1) >>> 0) === hi
    return !keepAlive
  })
}

/** The end that sent the most new data (sequence space); ties go to `a`. */
function dataSender(segs: readonly GraphSegment[]): GraphEnd {
  const sent: Record<GraphEnd, { lo: number | undefined; hi: number }> = { a: { lo: undefined, hi: 0 }, b: { lo: undefined, hi: 0 } }
  for (const s of segs) {
    if (s.len === 0) continue
    const d = sent[s.from]
    if (d.lo === undefined) {
      d.lo = s.seq
      d.hi = 0
    }
    d.hi = Math.max(d.hi, diff((s.seq + s.len) >>> 0, d.lo))
  }
  return sent.b.hi > sent.a.hi ? 'b' : 'a'
}

function wscaleOf(opts: readonly TcpOption[]): number | undefined {
  for (const o of opts) if (o.kind === 'wscale') return Math.min(o.shift, 14) // RFC 7323 §2.3
  return undefined
}

/** The time-sequence graph model of one connection's segments (see the module comment for the rules). */
export function buildGraph(input: GraphInput): TimeSequenceGraph {
  const segs = input.segments
  const rtx = retransmissionFlags(segs)
  const snd = dataSender(segs)
  const rcv: GraphEnd = snd === 'a' ? 'b' : 'a'
  const t0 = segs.length > 0 ? segs[0].timeUs : 0
  const t = (s: GraphSegment): number => s.timeUs - t0

  const syn = segs.find((s) => s.from === snd && s.flags & TcpFlags.SYN)
  const firstSent = segs.find((s) => s.from === snd && seqSpace(s) > 0) ?? segs.find((s) => s.from === snd)
  const base = syn !== undefined ? (syn.seq + 1) >>> 0 : (firstSent?.seq ?? (segs.find((s) => s.from === rcv && s.flags & TcpFlags.ACK)?.ack ?? 0))
  const rel = (x: number): number => diff(x, base)

  let scale = 0
  if (input.windowScale != null) scale = input.windowScale[rcv]
  else {
    const sndSyn = wscaleOf(syn?.options ?? [])
    const rcvSynSeg = segs.find((s) => s.from === rcv && s.flags & TcpFlags.SYN)
    const rcvSyn = wscaleOf(rcvSynSeg?.options ?? [])
    if (sndSyn !== undefined && rcvSyn !== undefined) scale = rcvSyn
  }

  const data: DataPoint[] = []
  const acks: AckPoint[] = []
  const events: GraphEvent[] = []
  const retransmissions: number[] = []
  const rtt: SeriesPoint[] = []
  /** New data awaiting its first covering ACK, in send order (Karn: `tainted` once retransmitted). */
  const pending: Array<{ seq: number; end: number; timeUs: number; tainted: boolean }> = []
  let highAck: number | undefined
  let lastWindow: number | undefined
  let dupAcks = 0
  let lastProgressUs = 0
  let lastSentUs: number | undefined
  let maxEnd = 0
  let srtt: number | undefined
  const acked: Array<{ timeUs: number; bytes: number }> = []

  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]
    const now = t(s)
    if (rtx[i]) retransmissions.push(i)
    if (s.from === snd) {
      const space = seqSpace(s)
      if (space === 0 || s.flags & TcpFlags.RST) continue
      const seq = rel(s.seq)
      const end = seq + space
      const p: DataPoint = { index: i, timeUs: now, seq, end, retransmission: rtx[i] }
      if (rtx[i]) {
        let cause: RetransmitCause = 'other'
        if (dupAcks >= 3) cause = 'fast-retransmit'
        else {
          const quiet = Math.min(now - lastProgressUs, lastSentUs === undefined ? Infinity : now - lastSentUs)
          if (highAck !== undefined && seq === highAck && quiet >= 2 * (srtt ?? 0) && quiet > 0) cause = 'rto'
        }
        p.cause = cause
        if (cause !== 'other') events.push({ kind: cause, index: i, timeUs: now, seq })
        for (const q of pending) if (q.seq < end && q.end > seq) q.tainted = true
      } else pending.push({ seq, end, timeUs: now, tainted: false })
      maxEnd = Math.max(maxEnd, end)
      lastSentUs = now
      data.push(p)
      continue
    }
    if (!(s.flags & TcpFlags.ACK) || s.flags & TcpFlags.RST) continue
    const ack = rel(s.ack)
    const window = s.flags & TcpFlags.SYN ? s.window : s.window * 2 ** scale // RFC 7323 §2.2: never scaled on a SYN
    const sack: Array<[number, number]> = []
    for (const o of s.options) if (o.kind === 'sack') for (const [l, r] of o.blocks) sack.push([rel(l), rel(r)])
    // RFC 5681 §2: data outstanding, no data, no SYN/FIN, same ACK and same window as the last one.
    const duplicate =
      highAck !== undefined && ack === highAck && s.len === 0 && !(s.flags & SYN_FIN) && window === lastWindow && maxEnd > ack
    if (highAck === undefined || ack > highAck) {
      if (highAck !== undefined && !(s.flags & TcpFlags.SYN)) acked.push({ timeUs: now, bytes: ack - Math.max(highAck, 0) })
      highAck = ack
      dupAcks = 0
      lastProgressUs = now
      while (pending.length > 0 && pending[0].end <= ack) {
        const q = pending.shift()!
        if (q.tainted) continue
        const sample = now - q.timeUs
        rtt.push({ timeUs: now, value: sample })
        // RFC 6298 §2.2/2.3 smoothing, α = 1/8.
        srtt = srtt === undefined ? sample : srtt + (sample - srtt) / 8
      }
    } else if (duplicate) dupAcks++
    lastWindow = window
    acks.push({ index: i, timeUs: now, ack, windowEdge: ack + window, window, sack, duplicate })
    if (s.window === 0) events.push({ kind: 'zero-window', index: i, timeUs: now, seq: ack })
  }

  const durationUs = segs.length > 0 ? t(segs[segs.length - 1]) : 0
  return {
    title: input.title ?? `${input.ends[snd]} → ${input.ends[rcv]}`,
    sender: input.ends[snd],
    receiver: input.ends[rcv],
    senderEnd: snd,
    base,
    windowScale: scale,
    durationUs,
    data,
    acks,
    events,
    retransmissions,
    throughput: throughputSeries(acked, durationUs),
    rtt,
    maxSeq: maxEnd,
  }
}

/** Bytes acknowledged per second in GRAPH_BINS equal intervals (none for a connection with no duration). */
function throughputSeries(acked: ReadonlyArray<{ timeUs: number; bytes: number }>, durationUs: number): SeriesPoint[] {
  if (durationUs <= 0) return []
  const bin = durationUs / GRAPH_BINS
  const sums = new Array<number>(GRAPH_BINS).fill(0)
  for (const a of acked) sums[Math.min(GRAPH_BINS - 1, Math.floor(a.timeUs / bin))] += a.bytes
  return sums.map((b, k) => ({ timeUs: (k + 0.5) * bin, value: b / (bin / 1e6) }))
}
