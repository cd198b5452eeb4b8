/**
 * Send-side bookkeeping (gVisor's snd.go): the send buffer, a ring that holds every byte from SND.UNA to
 * the end of what the application queued, and the RFC 6298 retransmission-timer estimator. Bytes are
 * copied once, on the way in; outgoing segments are zero-copy subarrays of the ring.
 */
import { seqGe, seqGt, seqLe, seqLt, type Seq } from './seq.js'

/** A byte ring: bytes are appended at the tail, acknowledged off the head, and read as subarrays. */
export class SendBuffer {
  private buf: Uint8Array | undefined
  private head = 0
  private len = 0
  private cap: number

  /** `capacity` bytes; storage is allocated on the first write so idle or half-open TCBs stay small. */
  constructor(capacity: number) {
    this.cap = capacity
  }

  /** Most bytes the ring holds. */
  get capacity(): number {
    return this.cap
  }

  /**
   * A new capacity (SO_SNDBUF on an open connection), never below what is queued: the bytes move to a new
   * ring, so segments already handed out keep the old one's bytes.
   */
  resize(capacity: number): void {
    const cap = Math.max(capacity, this.len)
    if (cap === this.cap) return
    if (this.buf !== undefined) {
      const next = new Uint8Array(cap)
      const first = Math.min(this.len, this.cap - this.head)
      next.set(this.buf.subarray(this.head, this.head + first), 0)
      if (first < this.len) next.set(this.buf.subarray(0, this.len - first), first)
      this.buf = next
    }
    this.head = 0
    this.cap = cap
  }

  /** Bytes queued (sent but unacknowledged, plus unsent). */
  get length(): number {
    return this.len
  }

  /** Room left for `write`. */
  get free(): number {
    return this.cap - this.len
  }

  /** Copies as much of `data` as fits and returns how many bytes were taken (backpressure). */
  write(data: Uint8Array): number {
    const n = Math.min(data.length, this.cap - this.len)
    if (n === 0) return 0
    const buf = (this.buf ??= new Uint8Array(this.cap))
    let tail = this.head + this.len
    if (tail >= this.cap) tail -= this.cap
    const first = Math.min(n, this.cap - tail)
    buf.set(data.subarray(0, first), tail)
    if (first < n) buf.set(data.subarray(first, n), 0)
    this.len += n
    return n
  }

  /** Drops `n` acknowledged bytes from the head. */
  consume(n: number): void {
    if (n <= 0) return
    if (n > this.len) n = this.len
    this.head += n
    if (this.head >= this.cap) this.head -= this.cap
    this.len -= n
    if (this.len === 0) this.head = 0
  }

  /**
   * Up to `max` bytes starting `offset` bytes after the head, as one subarray: the result stops at the
   * ring's end, so a segment that would straddle the wrap point is sent short (smoltcp does the same).
   */
  view(offset: number, max: number): Uint8Array {
    const buf = this.buf
    if (buf === undefined || offset >= this.len) return EMPTY
    let start = this.head + offset
    if (start >= this.cap) start -= this.cap
    const n = Math.min(max, this.len - offset, this.cap - start)
    return buf.subarray(start, start + n)
  }
}

/**
 * Where PSH was set on data sent and not yet acknowledged (ascending): a retransmission carries PSH when
 * it covers one of these push points, as Linux's retransmitted skb keeps the PSH it was first sent with.
 */
export class PushMarks {
  private readonly marks: Seq[] = []

  /** `last`: the end of the data last sent with PSH (Linux's pushed_seq), for the 'linux' forced push. */
  constructor(public last: Seq) {}

  /** New data up to `end` went out with PSH. */
  add(end: Seq): void {
    this.marks.push(end)
    this.last = end
  }

  /** SND.UNA moved to `ack`: the push points it covers are forgotten. */
  ack(ack: Seq): void {
    const m = this.marks
    let n = 0
    while (n < m.length && seqLe(m[n], ack)) n++
    if (n > 0) m.splice(0, n)
  }

  /** A push point in (at, end]: the PSH a retransmission of that range carries. */
  covers(at: Seq, end: Seq): boolean {
    const m = this.marks
    for (let i = 0; i < m.length; i++) {
      if (seqGt(m[i], end)) return false
      if (seqGt(m[i], at)) return true
    }
    return false
  }
}

/** A shared empty payload, so segments without data allocate nothing. */
export const EMPTY = new Uint8Array(0)

/**
 * RFC 6298 retransmission timeout: SRTT and RTTVAR from samples, RTO = SRTT + max(G, 4·RTTVAR) clamped to
 * [rtoMin, rtoMax], exponential backoff on expiry. All values in µs.
 */
export class RttEstimator {
  /** Smoothed RTT, undefined until the first sample. */
  srtt: number | undefined
  /** RTT variation. */
  rttvar = 0
  /** The RTO before backoff. */
  rto: number
  /** How many times the timer has expired without a fresh sample since (RFC 6298 §5.5). */
  backoff = 0

  /** G, the clock granularity of RFC 6298 §2: 1 ms, the resolution of our timestamp clock. */
  static readonly G = 1000

  constructor(
    rtoInitial: number,
    protected readonly rtoMin: number,
    protected readonly rtoMax: number,
  ) {
    // RFC 6298 §2.1: until a sample is made, RTO = 1 s (configurable).
    this.rto = Math.min(Math.max(rtoInitial, rtoMin), rtoMax)
  }

  /** The RTO in force, with backoff applied: RFC 6298 §5.5 doubles it per expiry, capped at rtoMax. */
  get current(): number {
    const v = this.rto * 2 ** this.backoff
    return v > this.rtoMax ? this.rtoMax : v
  }

  /**
   * Feeds one RTT measurement R (µs), taken only from a segment that was never retransmitted (Karn).
   * SND.UNA and SND.NXT after the ACK are for estimators that work per window (Linux's); RFC 6298's does not.
   */
  sample(r: number, _una?: Seq, _nxt?: Seq): void {
    if (r < 0) return
    if (this.srtt === undefined) {
      // RFC 6298 §2.2: first measurement.
      this.srtt = r
      this.rttvar = r / 2
    } else {
      // RFC 6298 §2.3 with alpha = 1/8, beta = 1/4 (RTTVAR is updated before SRTT).
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r)
      this.srtt = 0.875 * this.srtt + 0.125 * r
    }
    const rto = this.srtt + Math.max(RttEstimator.G, 4 * this.rttvar)
    // RFC 6298 §2.4/§2.5: clamp to the minimum and maximum.
    this.rto = Math.round(Math.min(Math.max(rto, this.rtoMin), this.rtoMax))
    // RFC 6298 §5.7 note: a fresh sample after backoff sets the RTO afresh.
    this.backoff = 0
  }

  /** RFC 6298 §5.5: the timer expired; double the RTO (until the doubled value passes rtoMax). */
  expired(): void {
    if (this.rto * 2 ** this.backoff < this.rtoMax) this.backoff++
  }
}

/**
 * Where RTT samples come from: one segment sent once is timed at a time (RFC 6298 §3 with Karn's rule,
 * MUST-18: an RTO or a retransmission of it cancels the timing), or, with timestamps, every ACK of new data
 * times the segment whose TSval it echoes (RFC 7323 §4, RTTM).
 */
export class RttTiming {
  /** End of the segment being timed, undefined when none is. */
  seq: Seq | undefined = undefined
  private startedAt = 0
  /** When the retransmission timer last fired (µs): echoes of older TSvals give no RTT sample. */
  lastRtoAt: number | undefined = undefined

  /** Times the segment ending at `end`, sent `now`. */
  start(end: Seq, now: number): void {
    this.seq = end
    this.startedAt = now
  }

  /** Karn: no sample from what is being timed. */
  forget(): void {
    this.seq = undefined
  }

  /** Data from `at` was sent again: a timed segment at or past it no longer gives a sample. */
  resent(at: Seq): void {
    if (this.seq !== undefined && seqLt(at, this.seq)) this.seq = undefined
  }

  /**
   * An ACK of new data up to `ack` that echoes `tsEcr` (0: no timestamp to use), for our TSval clock
   * `tsOffset` + ms: the RTT sample it gives (µs), or undefined. May clear `rtt`'s backoff (below).
   */
  onAck(now: number, ack: Seq, tsEcr: number, tsOffset: number, rtt: RttEstimator): number | undefined {
    let sample: number | undefined
    if (tsEcr !== 0) {
      // RFC 7323 §4 (RTTM): with timestamps every ACK of new data times the segment whose TSval it echoes,
      // retransmitted or not, so Karn's ambiguity does not arise (Linux does the same).
      // But an echo of a TSval sent before the last RTO times the ORIGINAL transmission of a segment we
      // then resent (its ACK was lost): that sample is RTO + RTT, and taking it ratchets the RTO upward
      // under loss. Skip it, as Eifel (RFC 3522) detection would; the next fresh echo gives a true sample.
      const sentMs = (tsEcr - tsOffset) >>> 0
      const ms = (Math.floor(now / 1000) - sentMs) >>> 0
      const stale = this.lastRtoAt !== undefined && ((sentMs - Math.floor(this.lastRtoAt / 1000)) | 0) < 0
      if (ms < 0x7fffffff && !stale) sample = ms * 1000
      // The echo shows data sent before the RTO arrived (Eifel detection, RFC 3522 §2: the timeout was
      // spurious). No sample, but the path works: the backoff goes (RFC 8961 §4 (4); Linux resets it on any
      // ACK with a timestamp). Keeping it made a few unlucky losses in a row cost minutes at 20% loss.
      else if (stale) rtt.backoff = 0
      this.seq = undefined
    } else if (this.seq !== undefined && seqGe(ack, this.seq)) {
      // Karn (MUST-18): `seq` is only set for segments sent once; an RTO or fast retransmit clears it.
      sample = now - this.startedAt
      this.seq = undefined
    }
    return sample
  }
}
