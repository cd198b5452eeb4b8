/**
 * Send-side bookkeeping (gVisor's snd.go): the send buffer, a ring that holds every byte from SND.UNA to
 * the end of what the application queued, and the RFC 6298 retransmission-timer estimator. Bytes are
 * copied once, on the way in; outgoing segments are zero-copy subarrays of the ring.
 */
import type { Seq } from './seq.js'

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
