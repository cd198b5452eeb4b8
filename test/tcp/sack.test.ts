/**
 * The sender's SACK bookkeeping on its own (sack.ts): the scoreboard of SACKed ranges (RFC 2018, RFC 6675
 * §3–4), the transmission log RACK needs, D-SACK recognition (RFC 2883) and RACK's state (RFC 8985 §6.2).
 * The TCB-level behaviour is in tcb-recovery.test.ts.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { seq, seqAdd, type Seq } from '../../src/tcp/seq.js'
import {
  DUP_THRESH,
  MAX_SACK_RANGES,
  Rack,
  SEG_LOST,
  SEG_RETRANS,
  SEG_SACKED,
  SackScoreboard,
  SentLog,
  isDsack,
  rackSentAfter,
} from '../../src/tcp/sack.js'

/** SND.UNA for the scoreboard tests: just below 2^32, so blocks wrap. */
const UNA = seq(0xffff_ff00)
const at = (n: number): Seq => seqAdd(UNA, n)
const MAX = at(100_000)

/** The scoreboard's ranges as [start, end) offset pairs. */
function ranges(b: SackScoreboard): Array<[number, number]> {
  const out: Array<[number, number]> = []
  for (let i = 0; i < b.ranges; i++) out.push([b.startAt(i), b.endAt(i)])
  return out
}

describe('SackScoreboard', () => {
  it('records blocks as offsets from SND.UNA, merging overlapping and touching ones, and counts new octets', () => {
    const b = new SackScoreboard()
    expect(b.add(at(3000), at(4000), UNA, MAX)).toBe(1000)
    expect(b.add(at(1000), at(2000), UNA, MAX)).toBe(1000)
    expect(ranges(b)).toEqual([[1000, 2000], [3000, 4000]])
    // Touching on the left, overlapping on the right: one range, 1000 new octets (2000..3000).
    expect(b.add(at(2000), at(3500), UNA, MAX)).toBe(1000)
    expect(ranges(b)).toEqual([[1000, 4000]])
    expect(b.add(at(1500), at(2500), UNA, MAX)).toBe(0) // nothing new
    expect([b.sacked, b.highEnd]).toEqual([3000, 4000])
    expect(b.check(100_000)).toBeUndefined()
  })

  it('ignores blocks outside (SND.UNA, SND.MAX]: D-SACKs below the ACK, blocks at SND.UNA, past SND.MAX, empty', () => {
    const b = new SackScoreboard()
    expect(b.add(at(-1000), at(0), UNA, MAX)).toBe(0) // D-SACK of acknowledged data
    expect(b.add(at(-10), at(500), UNA, MAX)).toBe(0) // straddles SND.UNA
    expect(b.add(at(0), at(500), UNA, MAX)).toBe(0) // starts at SND.UNA: not a selective ACK
    expect(b.add(at(99_000), at(100_001), UNA, MAX)).toBe(0) // beyond SND.MAX
    expect(b.add(at(700), at(700), UNA, MAX)).toBe(0)
    expect(b.add(at(800), at(700), UNA, MAX)).toBe(0)
    expect(b.ranges).toBe(0)
    expect(b.add(at(99_000), at(100_000), UNA, MAX)).toBe(1000) // ending exactly at SND.MAX is fine
  })

  it('advance(): SND.UNA moves, ranges below it go, a range it stops inside keeps its upper part at offset 0', () => {
    const b = new SackScoreboard()
    b.add(at(1000), at(2000), UNA, MAX)
    b.add(at(3000), at(4000), UNA, MAX)
    b.advance(2000)
    expect(ranges(b)).toEqual([[1000, 2000]])
    b.advance(1500)
    expect(ranges(b)).toEqual([[0, 500]]) // the reneging sign the TCB looks for
    expect(b.sacked).toBe(500)
    b.advance(500)
    expect([b.ranges, b.sacked]).toEqual([0, 0])
  })

  it('is bounded: at MAX_SACK_RANGES a block above all ranges is dropped, a lower one evicts the highest', () => {
    const b = new SackScoreboard()
    for (let i = 0; i < MAX_SACK_RANGES; i++) b.add(at(1000 + 200 * i), at(1100 + 200 * i), UNA, MAX)
    expect(b.ranges).toBe(MAX_SACK_RANGES)
    const top = 1100 + 200 * (MAX_SACK_RANGES - 1)
    expect(b.add(at(top + 500), at(top + 600), UNA, MAX)).toBe(0)
    expect(b.highEnd).toBe(top)
    expect(b.add(at(100), at(200), UNA, MAX)).toBe(100)
    expect(b.ranges).toBe(MAX_SACK_RANGES)
    expect(b.highEnd).toBe(top - 200)
    expect(b.sacked).toBe(100 * MAX_SACK_RANGES)
    // Merging needs no new range, so it still works when full.
    expect(b.add(at(150), at(1050), UNA, MAX)).toBe(800)
    expect(b.check(100_000)).toBeUndefined()
  })

  it('covers, sackedAbove and RFC 6675 IsLost (DupThresh ranges above, or more than 2·SMSS octets above)', () => {
    const b = new SackScoreboard()
    b.add(at(1000), at(2000), UNA, MAX)
    b.add(at(3000), at(3500), UNA, MAX)
    expect(b.covers(1000, 2000)).toBe(true)
    expect(b.covers(1000, 2001)).toBe(false)
    expect(b.covers(2500, 3000)).toBe(false)
    expect(b.sackedAbove(1500)).toBe(1000)
    // Two ranges, 1500 octets above 0: with SMSS 1000, not lost (needs > 2000 or 3 ranges).
    expect(b.isLost(0, 1000)).toBe(false)
    // With SMSS 500, 1500 > 2·500: lost.
    expect(b.isLost(0, 500)).toBe(true)
    b.add(at(5000), at(5001), UNA, MAX)
    expect(DUP_THRESH).toBe(3)
    expect(b.isLost(0, 1000)).toBe(true) // three discontiguous ranges above
    expect(b.isLost(1000, 1000)).toBe(false) // only two start above 1000
  })

  it('property: after any blocks and advances, ranges are sorted, disjoint, within the flight, and the total is exact', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), s: fc.integer({ min: -200, max: 5000 }), len: fc.integer({ min: 0, max: 900 }) }),
      fc.record({ kind: fc.constant('advance' as const), n: fc.integer({ min: 0, max: 700 }) }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const b = new SackScoreboard()
        const bits = new Uint8Array(6000) // octet i of the original flight SACKed?
        let una = 0
        const max = 5000
        for (const o of ops) {
          if (o.kind === 'add') {
            const s = o.s
            const e = o.s + o.len
            const added = b.add(at(s), at(e), at(una), at(max))
            let expectAdded = 0
            if (s > una && e > s && e <= max) for (let i = s; i < e; i++) if (!bits[i]) (bits[i] = 1), expectAdded++
            // Eviction may forget old ranges, never invent octets.
            if (added !== expectAdded && b.ranges < MAX_SACK_RANGES) return false
          } else {
            const n = Math.min(o.n, max - una)
            b.advance(n)
            una += n
          }
          if (b.check(max - una) !== undefined) return false
          for (let i = 0; i < b.ranges; i++) for (let k = b.startAt(i); k < b.endAt(i); k++) if (!bits[una + k]) return false
        }
        return true
      }),
    )
  })
})

describe('isDsack (RFC 2883 §4)', () => {
  it('a first block below the cumulative ACK, or inside the second block, is a D-SACK', () => {
    const ack = seq(10_000)
    expect(isDsack([[seq(9000), seq(10_000)]], ack)).toBe(true)
    expect(isDsack([[seq(12_000), seq(13_000)], [seq(11_000), seq(14_000)]], ack)).toBe(true)
    expect(isDsack([[seq(12_000), seq(13_000)], [seq(15_000), seq(16_000)]], ack)).toBe(false)
    expect(isDsack([[seq(12_000), seq(13_000)]], ack)).toBe(false)
    expect(isDsack([], ack)).toBe(false)
  })
})

describe('SentLog', () => {
  const S = seq(0xffff_f000) // records wrap past 2^32

  function log3(): SentLog {
    const l = new SentLog()
    l.append(S, seqAdd(S, 1000), 10, 1460)
    l.append(seqAdd(S, 1000), seqAdd(S, 2000), 20, 1460)
    l.append(seqAdd(S, 2000), seqAdd(S, 3000), 30, 1460)
    return l
  }

  it('records contiguous segments with their send times; find() locates a sequence number', () => {
    const l = log3()
    expect(l.length).toBe(3)
    expect([l.start(1), l.end(1), l.len(1), l.sentAt(1), l.flags(1)]).toEqual([seqAdd(S, 1000), seqAdd(S, 2000), 1000, 20, 0])
    expect([l.find(S), l.find(seqAdd(S, 999)), l.find(seqAdd(S, 1000)), l.find(seqAdd(S, 2999))]).toEqual([0, 0, 1, 2])
    expect([l.find(seqAdd(S, -1)), l.find(seqAdd(S, 3000))]).toEqual([-1, -1])
    expect(l.check(S, seqAdd(S, 3000))).toBeUndefined()
    expect(l.check(S, seqAdd(S, 3001))).toMatch(/ends at/)
  })

  it('keeps SACKED and LOST octet counts through marks, splits, retransmissions, cumulative ACKs', () => {
    const l = log3()
    expect(l.markLost(0)).toBe(true)
    expect(l.markLost(0)).toBe(false)
    l.markSacked(1)
    expect(l.markLost(1)).toBe(false) // a SACKed segment is never lost
    expect([l.lostBytes, l.sackedBytes, l.sackedCount]).toEqual([1000, 1000, 1])
    l.split(0, seqAdd(S, 400))
    expect(l.length).toBe(4)
    expect([l.len(0), l.len(1), l.flags(0), l.flags(1), l.lostBytes]).toEqual([400, 600, SEG_LOST, SEG_LOST, 1000])
    l.retransmitted(0, 99)
    expect([l.flags(0), l.sentAt(0), l.lostBytes]).toEqual([SEG_RETRANS, 99, 600])
    l.split(2, seqAdd(S, 1500)) // a SACKed record splits into two SACKed ones
    expect([l.sackedBytes, l.sackedCount]).toEqual([1000, 2])
    l.markSacked(1) // LOST → SACKED
    expect([l.lostBytes, l.sackedBytes, l.sackedCount]).toEqual([0, 1600, 3])
    expect(l.check(S, seqAdd(S, 3000))).toBeUndefined()
    l.shift()
    l.trimHead(seqAdd(S, 700)) // into the SACKed record [400, 1000)
    expect([l.first, l.sackedBytes, l.sackedCount]).toEqual([seqAdd(S, 700), 1300, 3])
    expect(l.check(seqAdd(S, 700), seqAdd(S, 3000))).toBeUndefined()
    l.clearSacked()
    expect([l.sackedBytes, l.sackedCount, l.flags(0)]).toEqual([0, 0, 0])
    expect(l.firstLost()).toBe(-1)
    l.markLost(2)
    expect(l.firstLost()).toBe(2)
  })

  it('grows past its first capacity without losing records (ring wrap)', () => {
    const l = new SentLog()
    let s = S
    for (let i = 0; i < 40; i++) {
      l.append(s, seqAdd(s, 100), i, 1460)
      s = seqAdd(s, 100)
      if (i % 3 === 0) l.shift() // keep the head moving so the ring wraps
    }
    expect(l.length).toBe(40 - 14)
    expect(l.check(l.first, s)).toBeUndefined()
    expect(l.sentAt(l.length - 1)).toBe(39)
    l.split(5, seqAdd(l.start(5), 50))
    expect(l.check(l.first, s)).toBeUndefined()
  })

  it('past 512 records a new segment joins an unmarked last record that stays within one segment', () => {
    const l = new SentLog()
    let s = S
    for (let i = 0; i < 512; i++) {
      l.append(s, seqAdd(s, 10), i, 1460)
      s = seqAdd(s, 10)
    }
    l.append(s, seqAdd(s, 10), 600, 1460)
    expect(l.length).toBe(512)
    expect([l.len(511), l.sentAt(511)]).toEqual([20, 600])
    l.markLost(511)
    l.append(seqAdd(s, 10), seqAdd(s, 20), 601, 1460) // a marked record is never extended
    expect(l.length).toBe(513)
    expect(l.check(S, seqAdd(s, 20))).toBeUndefined()
  })
})

describe('Rack (RFC 8985 §6.2)', () => {
  it('RACK_sent_after: later time, or the same time with a higher end', () => {
    expect(rackSentAfter(2, seq(0), 1, seq(100))).toBe(true)
    expect(rackSentAfter(1, seq(200), 1, seq(100))).toBe(true)
    expect(rackSentAfter(1, seq(100), 1, seq(100))).toBe(false)
    expect(rackSentAfter(0, seq(900), 1, seq(100))).toBe(false)
  })

  it('steps 1–2: min_RTT from segments sent once; RACK.xmit_ts/end_seq/rtt follow the most recently sent delivery', () => {
    const r = new Rack()
    r.update(1000, seq(2000), false, 11_000, true)
    expect([r.xmitTs, r.endSeq, r.rtt, r.minRtt]).toEqual([1000, seq(2000), 10_000, 10_000])
    r.update(500, seq(1000), false, 12_000, true) // sent earlier: min_RTT unchanged, RACK state too
    expect([r.xmitTs, r.rtt]).toEqual([1000, 10_000])
    r.update(4000, seq(3000), false, 12_000, true)
    expect([r.xmitTs, r.endSeq, r.rtt, r.minRtt]).toEqual([4000, seq(3000), 8000, 8000])
    // A retransmission whose ACK may be for the original (echo too old, or RTT < min_RTT) is ignored.
    r.update(9000, seq(4000), true, 10_000, true)
    r.update(9000, seq(4000), true, 30_000, false)
    expect(r.xmitTs).toBe(4000)
    r.update(9000, seq(4000), true, 30_000, true)
    expect([r.xmitTs, r.rtt, r.minRtt]).toEqual([9000, 21_000, 8000])
  })

  it('steps 3–4: reordering seen, and the reordering window (0 in recovery or with DupThresh SACKed until then)', () => {
    const r = new Rack()
    r.update(0, seq(1000), false, 40_000, true) // min_RTT 40 ms
    const srtt = 50_000
    expect(r.reoWnd(false, 0, srtt)).toBe(10_000) // min_RTT / 4
    expect(r.reoWnd(true, 0, srtt)).toBe(0)
    expect(r.reoWnd(false, 3, srtt)).toBe(0)
    r.detectReordering(seq(3000), false)
    r.detectReordering(seq(2000), true) // a retransmission below FACK is not reordering
    expect(r.reorderingSeen).toBe(false)
    r.detectReordering(seq(2000), false)
    expect(r.reorderingSeen).toBe(true)
    expect(r.reoWnd(true, 5, srtt)).toBe(10_000)
    // A D-SACK widens the window once per round trip, bounded by SRTT; 16 recoveries later it resets.
    r.onAck(seq(0), seq(5000), true)
    r.onAck(seq(100), seq(6000), true) // same round (SND.UNA < 5000)
    expect(r.reoWndMult).toBe(2)
    expect(r.reoWnd(false, 0, srtt)).toBe(20_000)
    r.onAck(seq(5000), seq(7000), true)
    r.onAck(seq(7000), seq(8000), true)
    expect(r.reoWndMult).toBe(4)
    expect(r.reoWnd(false, 0, srtt)).toBe(40_000)
    expect(r.reoWnd(false, 0, 30_000)).toBe(30_000) // never more than SRTT
    for (let i = 0; i < 15; i++) r.onRecoveryExit()
    expect(r.reoWndMult).toBe(4)
    r.onRecoveryExit()
    expect(r.reoWndMult).toBe(1)
  })

  it('no delivery yet: min_RTT unknown, the window falls back to SRTT / 4', () => {
    expect(new Rack().reoWnd(false, 0, 8000)).toBe(2000)
    expect(SEG_SACKED | SEG_LOST | SEG_RETRANS).toBe(7)
  })
})
