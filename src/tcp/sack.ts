/**
 * What a sender keeps for SACK-based loss recovery, as bookkeeping only (no clock, no I/O; the TCB decides
 * what to send):
 * - {@link SackScoreboard}: the octets the peer has selectively acknowledged (RFC 2018, RFC 6675 §3), as a
 *   small sorted list of ranges relative to SND.UNA, with RFC 6675's IsLost test.
 * - {@link SentLog}: one record per transmitted segment from SND.UNA to SND.MAX with its last send time and
 *   SACKED / LOST / RETRANS marks: RACK (RFC 8985) needs per-segment send times, and pipe (RFC 6675 §4) is
 *   cheaper to keep per segment than per octet. Linux keeps the same marks on each skb (TCPCB_SACKED_ACKED,
 *   TCPCB_LOST, TCPCB_SACKED_RETRANS).
 * - {@link Rack}: RACK's state (RFC 8985 §5.2) and the steps of §6.2 that do not depend on the TCB.
 */
import { mergeSpan, spanOf, type RangeSpan } from './ranges.js'
import { seqDiff, seqGt, seqLe, seqLt, type Seq } from './seq.js'

/** Most SACKed ranges the scoreboard holds; a block that would need one more evicts the highest range. */
export const MAX_SACK_RANGES = 64

/** RFC 6675 §2 DupThresh: 3, as RFC 5681's fast retransmit. */
export const DUP_THRESH = 3

/**
 * The SACK scoreboard: SACKed octets as sorted, disjoint, non-touching [start, end) offsets from SND.UNA.
 * Forgetting a range is always safe (the data is only resent), so the list is bounded by evicting the
 * range furthest from SND.UNA, the least useful one for repairing holes.
 */
export class SackScoreboard {
  private readonly starts: number[] = []
  private readonly span: RangeSpan = { i: 0, j: 0, lo: 0, hi: 0 }
  private readonly ends: number[] = []
  private total = 0

  /** Number of ranges held. */
  get ranges(): number {
    return this.starts.length
  }

  /** Octets SACKed in all. */
  get sacked(): number {
    return this.total
  }

  /** Start offset (from SND.UNA) of range `i`. */
  startAt(i: number): number {
    return this.starts[i]
  }

  /** End offset (exclusive) of range `i`. */
  endAt(i: number): number {
    return this.ends[i]
  }

  /** Offset just past the highest SACKed octet (RFC 6675's HighSACK + 1, less SND.UNA), 0 when none. */
  get highEnd(): number {
    const n = this.ends.length
    return n === 0 ? 0 : this.ends[n - 1]
  }

  /**
   * Records one SACK block [left, right) (RFC 2018 §3). Blocks not inside (SND.UNA, SND.MAX] are ignored:
   * a D-SACK below the cumulative ACK (RFC 2883), a stale block, or a lie. A D-SACK inside an already
   * SACKed range adds nothing. Returns the number of octets newly SACKed.
   */
  add(left: Seq, right: Seq, una: Seq, max: Seq): number {
    if (!seqGt(left, una) || !seqLt(left, right) || !seqLe(right, max)) return 0
    return this.insert(seqDiff(left, una), seqDiff(right, una))
  }

  private insert(s: number, e: number): number {
    const starts = this.starts
    const ends = this.ends
    const span = spanOf(starts, ends, s, e, this.span)
    let covered = 0
    for (let k = span.i; k < span.j; k++) {
      const lo = starts[k] > s ? starts[k] : s
      const hi = ends[k] < e ? ends[k] : e
      if (hi > lo) covered += hi - lo
    }
    const added = e - s - covered
    if (span.j === span.i && starts.length >= MAX_SACK_RANGES) {
      // Full: keep the ranges nearest SND.UNA. A block above all of them is dropped; otherwise the highest
      // range makes room.
      if (span.i === starts.length) return 0
      this.total -= ends[starts.length - 1] - starts[starts.length - 1]
      starts.pop()
      ends.pop()
    }
    mergeSpan(starts, ends, span)
    this.total += added
    return added
  }

  /** SND.UNA moved forward by `n` octets: ranges below it go, the rest shift down. */
  advance(n: number): void {
    if (n <= 0 || this.starts.length === 0) return
    const starts = this.starts
    const ends = this.ends
    let drop = 0
    while (drop < starts.length && ends[drop] <= n) {
      this.total -= ends[drop] - starts[drop]
      drop++
    }
    if (drop > 0) {
      starts.splice(0, drop)
      ends.splice(0, drop)
    }
    for (let i = 0; i < starts.length; i++) {
      if (starts[i] < n) {
        // The cumulative ACK stopped inside a SACKed range: that part is acknowledged, the rest stays
        // (at offset 0 now, which is the reneging sign the TCB looks for).
        this.total -= n - starts[i]
        starts[i] = n
      }
      starts[i] -= n
      ends[i] -= n
    }
  }

  /** Forgets everything (reneging, RFC 2018 §8; or the connection closing). */
  clear(): void {
    this.starts.length = 0
    this.ends.length = 0
    this.total = 0
  }

  /** True when every octet of [s, e) (offsets) is SACKed. */
  covers(s: number, e: number): boolean {
    const starts = this.starts
    for (let i = 0; i < starts.length; i++) {
      if (this.ends[i] <= s) continue
      return starts[i] <= s && this.ends[i] >= e
    }
    return false
  }

  /** Octets SACKed at or after offset `off`. */
  sackedAbove(off: number): number {
    let n = 0
    for (let i = this.starts.length - 1; i >= 0 && this.ends[i] > off; i--) {
      n += this.ends[i] - (this.starts[i] > off ? this.starts[i] : off)
    }
    return n
  }

  /**
   * RFC 6675 §4 IsLost(SND.UNA + off): DupThresh discontiguous SACKed sequences above it, or more than
   * (DupThresh − 1)·SMSS SACKed octets above it.
   */
  isLost(off: number, smss: number): boolean {
    let ranges = 0
    for (let i = this.starts.length - 1; i >= 0 && this.starts[i] > off; i--) ranges++
    return ranges >= DUP_THRESH || this.sackedAbove(off) > (DUP_THRESH - 1) * smss
  }

  /** Consistency check against the flight (SND.MAX − SND.UNA); a description of the first broken rule. */
  check(flight: number): string | undefined {
    let prevEnd = -1
    let sum = 0
    for (let i = 0; i < this.starts.length; i++) {
      const s = this.starts[i]
      const e = this.ends[i]
      if (s < 0 || !(e > s)) return `sack range ${i} [${s},${e}) empty or below SND.UNA`
      if (s <= prevEnd) return `sack range ${i} [${s},${e}) not after ${prevEnd}`
      if (e > flight) return `sack range ${i} [${s},${e}) beyond SND.MAX (${flight})`
      prevEnd = e
      sum += e - s
    }
    if (this.starts.length > MAX_SACK_RANGES) return 'too many sack ranges'
    if (sum !== this.total) return `sacked total ${this.total} != ${sum}`
    return undefined
  }
}

/**
 * True when the first block of a SACK option is a D-SACK (RFC 2883 §4): below the cumulative ACK, or
 * inside the second block.
 */
export function isDsack(blocks: ReadonlyArray<readonly [Seq, Seq]>, ack: Seq): boolean {
  if (blocks.length === 0) return false
  const [l, r] = blocks[0]
  if (seqLt(l, ack)) return true
  if (blocks.length > 1) {
    const [l2, r2] = blocks[1]
    if (seqLe(l2, l) && seqLe(r, r2)) return true
  }
  return false
}

/** SentLog mark: every octet of the segment is SACKed. */
export const SEG_SACKED = 1
/** SentLog mark: deemed lost and not retransmitted since (RFC 6675 IsLost, RACK, or an RTO). */
export const SEG_LOST = 2
/** SentLog mark: retransmitted at least once (RACK's Segment.retransmitted; RFC 6675's "≤ HighRxt"). */
export const SEG_RETRANS = 4

/** Above this many records, a new segment joins an unmarked last record when the two fit one segment. */
const COALESCE_AT = 512

/**
 * The transmission log: contiguous records covering [SND.UNA, SND.MAX) exactly, in sequence order, each
 * with the time of its latest transmission and its marks. A ring of parallel typed arrays that grows by
 * doubling: no allocation per segment or per ACK once it has reached the connection's flight size.
 * Records split when a retransmission covers only part of one; they never merge except when the log is
 * long (then a new segment may extend an unmarked last record, which only makes RACK's time for the
 * earlier part later, hence more patient).
 */
export class SentLog {
  private endv = new Uint32Array(0)
  private xmit = new Float64Array(0)
  private fl = new Uint8Array(0)
  private head = 0
  private n = 0
  /** Where the first record starts: SND.UNA. */
  first = 0 as Seq
  /** Sequence space in records marked SACKED. */
  sackedBytes = 0
  /** Records marked SACKED (RACK's segs_sacked). */
  sackedCount = 0
  /** Sequence space in records marked LOST (and not SACKED): lost and not retransmitted since. */
  lostBytes = 0
  /** Records marked LOST (Linux's lost_out less what was retransmitted since). */
  lostCount = 0

  /** Number of records. */
  get length(): number {
    return this.n
  }

  private ix(i: number): number {
    return (this.head + i) & (this.endv.length - 1)
  }

  /** Start of record `i`. */
  start(i: number): Seq {
    return i === 0 ? this.first : (this.endv[this.ix(i - 1)] as Seq)
  }

  /** End (exclusive) of record `i`. */
  end(i: number): Seq {
    return this.endv[this.ix(i)] as Seq
  }

  /** Sequence space of record `i`. */
  len(i: number): number {
    return seqDiff(this.end(i), this.start(i))
  }

  /** Time (µs) record `i` was last sent. */
  sentAt(i: number): number {
    return this.xmit[this.ix(i)]
  }

  /** Marks of record `i` (SEG_*). */
  flags(i: number): number {
    return this.fl[this.ix(i)]
  }

  private grow(): void {
    const cap = this.endv.length === 0 ? 16 : this.endv.length * 2
    const e = new Uint32Array(cap)
    const x = new Float64Array(cap)
    const f = new Uint8Array(cap)
    for (let i = 0; i < this.n; i++) {
      const k = this.ix(i)
      e[i] = this.endv[k]
      x[i] = this.xmit[k]
      f[i] = this.fl[k]
    }
    this.endv = e
    this.xmit = x
    this.fl = f
    this.head = 0
  }

  /**
   * A new segment [start, end) went out at `now` (start must be the last record's end, or anything when
   * the log is empty). `joinMax` bounds a coalesced record's length.
   */
  append(start: Seq, end: Seq, now: number, joinMax: number): void {
    if (this.n === 0) this.first = start
    else if (this.n >= COALESCE_AT) {
      const last = this.n - 1
      const k = this.ix(last)
      if (this.fl[k] === 0 && seqDiff(end, this.start(last)) <= joinMax) {
        this.endv[k] = end
        this.xmit[k] = now
        return
      }
    }
    if (this.n === this.endv.length) this.grow()
    const k = this.ix(this.n)
    this.endv[k] = end
    this.xmit[k] = now
    this.fl[k] = 0
    this.n++
  }

  /** Splits record `i` at `at` (strictly inside it) into two records with the same marks and time. */
  split(i: number, at: Seq): void {
    if (this.n === this.endv.length) this.grow()
    // Shift records i..n-1 up by one; record i then keeps [start, at), record i+1 gets [at, end).
    for (let j = this.n; j > i; j--) {
      const to = this.ix(j)
      const from = this.ix(j - 1)
      this.endv[to] = this.endv[from]
      this.xmit[to] = this.xmit[from]
      this.fl[to] = this.fl[from]
    }
    this.n++
    this.endv[this.ix(i)] = at
    if (this.fl[this.ix(i)] & SEG_SACKED) this.sackedCount++
    if (this.fl[this.ix(i)] & SEG_LOST) this.lostCount++
  }

  /** Marks record `i` SACKED (it may have been LOST). */
  markSacked(i: number): void {
    const k = this.ix(i)
    const f = this.fl[k]
    if (f & SEG_SACKED) return
    const len = this.len(i)
    if (f & SEG_LOST) {
      this.lostBytes -= len
      this.lostCount--
    }
    this.fl[k] = (f & ~SEG_LOST) | SEG_SACKED
    this.sackedBytes += len
    this.sackedCount++
  }

  /** Marks record `i` LOST unless it is SACKED or already LOST; returns true when it was marked now. */
  markLost(i: number): boolean {
    const k = this.ix(i)
    const f = this.fl[k]
    if (f & (SEG_SACKED | SEG_LOST)) return false
    this.fl[k] = f | SEG_LOST
    this.lostBytes += this.len(i)
    this.lostCount++
    return true
  }

  /** Record `i` (whole) was sent again at `now`: no longer LOST, marked RETRANS. */
  retransmitted(i: number, now: number): void {
    const k = this.ix(i)
    const f = this.fl[k]
    if (f & SEG_LOST) {
      this.lostBytes -= this.len(i)
      this.lostCount--
    }
    this.fl[k] = (f & ~SEG_LOST) | SEG_RETRANS
    this.xmit[k] = now
  }

  /** Clears every SACKED mark (reneging). */
  clearSacked(): void {
    for (let i = 0; i < this.n; i++) this.fl[this.ix(i)] &= ~SEG_SACKED
    this.sackedBytes = 0
    this.sackedCount = 0
  }

  /** Drops record 0 (fully acknowledged). */
  shift(): void {
    const k = this.head
    const f = this.fl[k]
    const len = this.len(0)
    if (f & SEG_SACKED) {
      this.sackedBytes -= len
      this.sackedCount--
    } else if (f & SEG_LOST) {
      this.lostBytes -= len
      this.lostCount--
    }
    this.first = this.endv[k] as Seq
    this.head = (this.head + 1) & (this.endv.length - 1)
    this.n--
    if (this.n === 0) this.head = 0
  }

  /** The cumulative ACK reached `ack` inside record 0: its first part is acknowledged. */
  trimHead(ack: Seq): void {
    const cut = seqDiff(ack, this.first)
    if (cut <= 0 || this.n === 0) return
    const f = this.fl[this.head]
    if (f & SEG_SACKED) this.sackedBytes -= cut
    else if (f & SEG_LOST) this.lostBytes -= cut
    this.first = ack
  }

  /** Empties the log (the connection closed, or everything was acknowledged). */
  clear(): void {
    this.n = 0
    this.head = 0
    this.sackedBytes = 0
    this.sackedCount = 0
    this.lostBytes = 0
    this.lostCount = 0
  }

  /** Index of the record holding sequence number `s`, or -1 (binary search). */
  find(s: Seq): number {
    if (this.n === 0 || seqLt(s, this.first) || !seqLt(s, this.end(this.n - 1))) return -1
    let lo = 0
    let hi = this.n - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (seqLt(s, this.end(mid))) hi = mid
      else lo = mid + 1
    }
    return lo
  }

  /** Index of the first record marked LOST, or -1. */
  firstLost(): number {
    if (this.lostBytes === 0) return -1
    for (let i = 0; i < this.n; i++) if (this.fl[this.ix(i)] & SEG_LOST) return i
    return -1
  }

  /** Consistency check against [SND.UNA, SND.MAX); a description of the first broken rule. */
  check(una: Seq, max: Seq): string | undefined {
    if (this.n === 0) return una === max ? undefined : `sent log empty but ${seqDiff(max, una)} octets outstanding`
    if (this.first !== una) return `sent log starts at ${this.first}, SND.UNA is ${una}`
    if (this.end(this.n - 1) !== max) return `sent log ends at ${this.end(this.n - 1)}, SND.MAX is ${max}`
    let sacked = 0
    let count = 0
    let lost = 0
    let lostN = 0
    for (let i = 0; i < this.n; i++) {
      const len = this.len(i)
      if (len <= 0) return `sent log record ${i} has length ${len}`
      const f = this.flags(i)
      if (f & SEG_SACKED && f & SEG_LOST) return `sent log record ${i} both SACKED and LOST`
      if (f & SEG_SACKED) {
        sacked += len
        count++
      }
      if (f & SEG_LOST) {
        lost += len
        lostN++
      }
    }
    if (sacked !== this.sackedBytes || count !== this.sackedCount) return `sent log SACKED ${this.sackedBytes}/${this.sackedCount} != ${sacked}/${count}`
    if (lost !== this.lostBytes || lostN !== this.lostCount) return `sent log LOST ${this.lostBytes}/${this.lostCount} != ${lost}/${lostN}`
    return undefined
  }
}

/** RFC 8985 §6.2 RACK_sent_after: t1 later than t2, or at the same time with a higher end sequence. */
export function rackSentAfter(t1: number, seq1: Seq, t2: number, seq2: Seq): boolean {
  return t1 > t2 || (t1 === t2 && seqGt(seq1, seq2))
}

/**
 * RACK's state (RFC 8985 §5.2) and its steps 1–4 of §6.2. Loss detection itself (step 5) walks the
 * SentLog in recovery/rack.ts; the SACK recovery (recovery/sack-recovery.ts) arms the timers.
 */
export class Rack {
  /** RACK.xmit_ts: send time of the most recently sent segment known delivered (−∞: none yet). */
  xmitTs = -Infinity
  /** RACK.end_seq: its end. */
  endSeq = 0 as Seq
  /** RACK.rtt (µs): the RTT of that segment. */
  rtt = 0
  /** RACK.min_RTT (µs) over the connection (RFC 8985 allows a windowed minimum; we keep the plain one). */
  minRtt = Infinity
  /** RACK.fack: the highest end sequence delivered (cumulatively or selectively). */
  fack = 0 as Seq
  private fackSet = false
  /** RACK.reordering_seen. */
  reorderingSeen = false
  /** RACK.reo_wnd_mult. */
  reoWndMult = 1
  /** RACK.reo_wnd_persist. */
  reoWndPersist = 0
  /** RACK.dsack_round: SND.NXT when the last D-SACK widened the window, or undefined. */
  dsackRound: Seq | undefined = undefined

  /**
   * Steps 1 and 2 (RACK_update) for one newly delivered segment. `echoOk` says the ACK's TSecr is not
   * older than the segment's last transmission (true when timestamps are off).
   */
  update(xmitTs: number, endSeq: Seq, retransmitted: boolean, now: number, echoOk: boolean): void {
    const rtt = now - xmitTs
    if (retransmitted) {
      // Ambiguous: the ACK may be for the original transmission.
      if (!echoOk || rtt < this.minRtt) return
    } else if (rtt < this.minRtt) {
      this.minRtt = rtt
    }
    // Linux (tcp_rack_advance) keeps RACK.rtt with RACK.xmit_ts: the RTT of the most recently sent segment.
    if (rackSentAfter(xmitTs, endSeq, this.xmitTs, this.endSeq)) {
      this.rtt = rtt
      this.xmitTs = xmitTs
      this.endSeq = endSeq
    }
  }

  /** Step 3 (RACK_detect_reordering) for one newly delivered segment. */
  detectReordering(endSeq: Seq, retransmitted: boolean): void {
    if (!this.fackSet || seqGt(endSeq, this.fack)) {
      this.fack = endSeq
      this.fackSet = true
    } else if (seqLt(endSeq, this.fack) && !retransmitted) {
      this.reorderingSeen = true
    }
  }

  /** Step 4, first half: an ACK carried a D-SACK (widen the window once per round trip). */
  onAck(sndUna: Seq, sndNxt: Seq, dsack: boolean): void {
    if (this.dsackRound !== undefined && !seqLt(sndUna, this.dsackRound)) this.dsackRound = undefined
    if (this.dsackRound === undefined && dsack) {
      this.dsackRound = sndNxt
      this.reoWndMult++
      this.reoWndPersist = 16
    }
  }

  /** Step 4: leaving fast recovery or RTO recovery; after 16 of them without a D-SACK the window resets. */
  onRecoveryExit(): void {
    if (this.reoWndPersist > 0 && --this.reoWndPersist === 0) this.reoWndMult = 1
  }

  /** Step 4 (RACK_update_reo_wnd): the reordering window in µs. `srtt` bounds it. */
  reoWnd(inRecovery: boolean, segsSacked: number, srtt: number): number {
    if (!this.reorderingSeen && (inRecovery || segsSacked >= DUP_THRESH)) return 0
    const base = this.minRtt === Infinity ? srtt : this.minRtt
    const w = (this.reoWndMult * base) / 4
    return w < srtt ? w : srtt
  }
}
