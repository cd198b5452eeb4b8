/**
 * Loss recovery with SACK (RFC 6675) and RACK-TLP (RFC 8985), segment by segment: a single hole, several
 * holes, a lost retransmission, tail losses repaired by a probe, reordering inside the reordering window,
 * an RTO that resends only what is lost, SACK reneging, and NewReno unchanged without SACK (plus RFC 3042's
 * limited transmit). Times are µs; the handshake gives SRTT = 10 ms, so the RTO is its 200 ms floor.
 */
import { describe, expect, it } from 'vitest'
import { Tcb } from '../../src/tcp/tcb.js'
import type { TcpOption } from '../../src/tcp/options.js'
import { resolveConfig, type TcpConfig } from '../../src/tcp/types.js'
import {
  ACK,
  L,
  PLAIN,
  R,
  REMOTE_ISS,
  SYN,
  TUPLE,
  drain,
  expectNothing,
  expectSent,
  recorder,
  send,
  traceLines,
} from './helpers.js'

/** One full segment. */
const M = 1460
const MS = 1000
/** The handshake's RTT and the time data first goes out. */
const RTT = 10 * MS
const data = Uint8Array.from({ length: 40 * M }, (_, i) => (i * 7) & 0xff)
/** The payload of segment `k` (k·M .. (k+1)·M). */
const segData = (k: number): Uint8Array => data.subarray(k * M, (k + 1) * M)

/** A SACK option with blocks given as data offsets [from, to). */
const sack = (...blocks: Array<[number, number]>): TcpOption[] => [{ kind: 'sack', blocks: blocks.map(([a, b]) => [L(a), L(b)]) }]

/** ESTABLISHED with SACK agreed (no timestamps, immediate ACKs, MSS 1460) at t = RTT; SRTT 10 ms. */
function tcbSack(cfg: Partial<TcpConfig> = {}): Tcb {
  const t = Tcb.connect(TUPLE, 0, { ...PLAIN, sackPermitted: true, ...cfg })
  expectSent(t, { seq: L(-1), flags: SYN, options: [{ kind: 'mss', value: 1460 }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'sackPermitted' }] }, 0)
  send(t, { seq: REMOTE_ISS, ack: L(0), flags: SYN | ACK, options: [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }] }, RTT)
  expectSent(t, { seq: L(0), ack: R(0), flags: ACK }, RTT)
  expect(t.sackOk).toBe(true)
  // cwnd: 10 segments (RFC 6928), plus one octet for the ACK of the SYN (slow start counts it).
  expect([t.rtt.srtt, t.rtt.current, t.cwnd]).toEqual([10 * MS, 200 * MS, 10 * M + 1])
  return t
}

/** Queues `n` segments of data and sends what cwnd allows at `now`; returns the sequence numbers sent. */
function sendSegs(t: Tcb, n: number, now = RTT): number[] {
  t.send(data.subarray(0, n * M))
  return drain(t, now).map((s) => s.seq)
}

/** The peer's ACK of data offset `ack`, with SACK blocks. */
function ackWith(t: Tcb, ack: number, now: number, ...blocks: Array<[number, number]>): void {
  send(t, { seq: R(0), ack: L(ack), options: blocks.length > 0 ? sack(...blocks) : [] }, now)
}

const pick = (t: Tcb) => {
  const s = t.stats
  return {
    retransmits: s.retransmits,
    timeouts: s.timeouts,
    fastRetransmits: s.fastRetransmits,
    sackRecoveries: s.sackRecoveries,
    rackLosses: s.rackLosses,
    dupThreshLosses: s.dupThreshLosses,
    tlpProbes: s.tlpProbes,
  }
}

describe('SACK recovery: one hole', () => {
  it('RACK: the segment sent before a SACKed one is lost once RACK.rtt + min_RTT/4 has passed, then fast recovery', () => {
    const t = tcbSack()
    expect(sendSegs(t, 6)).toEqual([0, 1, 2, 3, 4, 5].map((k) => L(k * M)))
    const ev = recorder(t)
    // Segment 0 is lost; the peer SACKs segment 1 ten milliseconds later (one RTT).
    ackWith(t, 0, 20 * MS, [M, 2 * M])
    expectNothing(t, 20 * MS)
    // reo_wnd = min_RTT / 4 = 2.5 ms: not yet lost, the reordering timer waits.
    expect(t.pollAt()).toBe(22_500)
    expectSent(t, { seq: L(0), ack: R(0), flags: ACK, payload: segData(0) }, 22_500)
    expectNothing(t, 22_500) // pipe (5 segments) is above cwnd (3)
    expect([t.cwnd, t.ssthresh]).toEqual([3 * M, 3 * M])
    expect(pick(t)).toEqual({ retransmits: 1, timeouts: 0, fastRetransmits: 1, sackRecoveries: 1, rackLosses: 1, dupThreshLosses: 0, tlpProbes: 0 })
    expect(traceLines(ev).filter((l) => / (lost|recovery|timer) /.test(l)).map((l) => l.trim())).toEqual([
      `22.500ms timer rack backoff=0`,
      `22.500ms lost ${L(0)}-${L(M)} (rack)`,
      `22.500ms recovery enter una=${L(0)} recover=${L(6 * M)} cwnd=${3 * M} ssthresh=${3 * M}`,
    ])
    // The retransmission fills the hole: everything is acknowledged and recovery ends.
    ackWith(t, 6 * M, 32_500)
    expect(ev.at(-1)).toMatchObject({ type: 'recovery', event: 'exit', sndUna: L(6 * M) })
    expectNothing(t, 32_500)
    expect(t.pollAt()).toBeUndefined()
    expect(t.checkInvariants()).toBeUndefined()
  })

  it('RFC 6675 IsLost (rack: false): more than 2·SMSS SACKed above a segment marks it lost at once', () => {
    const t = tcbSack({ rack: false })
    sendSegs(t, 6)
    ackWith(t, 0, 20 * MS, [M, 2 * M])
    ackWith(t, 0, 20_100, [M, 3 * M])
    expectNothing(t, 20_100) // 2 SACKed segments: not lost yet, and no timer either
    expect(t.pollAt()).toBe(210 * MS) // only the RTO
    // One ACK that SACKs a third segment: 3 segments above segment 0 (RFC 6675 §4).
    ackWith(t, 0, 20_200, [M, 4 * M])
    expectSent(t, { seq: L(0), payload: segData(0) }, 20_200)
    expectNothing(t, 20_200)
    expect(pick(t)).toEqual({ retransmits: 1, timeouts: 0, fastRetransmits: 1, sackRecoveries: 1, rackLosses: 0, dupThreshLosses: 1, tlpProbes: 0 })
  })

  it('a peer that agreed to SACK but sends no blocks: three duplicate ACKs still start recovery (DupThresh)', () => {
    const t = tcbSack()
    sendSegs(t, 6)
    ackWith(t, 0, 20 * MS)
    ackWith(t, 0, 20_100)
    expectNothing(t, 20_100)
    ackWith(t, 0, 20_200)
    expectSent(t, { seq: L(0), payload: segData(0) }, 20_200)
    expect(pick(t)).toMatchObject({ fastRetransmits: 1, sackRecoveries: 1, dupThreshLosses: 1, rackLosses: 0 })
  })
})

describe('SACK recovery: several holes and lost retransmissions', () => {
  it('two holes: both are resent in one round, as cwnd − pipe allows', () => {
    const t = tcbSack()
    sendSegs(t, 8)
    // Segments 1 and 4 are lost.
    ackWith(t, M, 20 * MS, [2 * M, 4 * M])
    expectNothing(t, 20 * MS)
    // Three segments SACKed above them: reo_wnd is 0 (RFC 8985 §6.2 step 4), both are lost at once.
    ackWith(t, M, 20_500, [2 * M, 4 * M], [5 * M, 8 * M])
    expectSent(t, { seq: L(M), payload: segData(1) }, 20_500)
    expectSent(t, { seq: L(4 * M), payload: segData(4) }, 20_500)
    expectNothing(t, 20_500)
    // ssthresh = cwnd = FlightSize / 2 = 7 segments / 2 (RFC 6675 §5 (4.2)).
    expect([t.cwnd, t.ssthresh]).toEqual([3.5 * M, 3.5 * M])
    expect(pick(t)).toEqual({ retransmits: 2, timeouts: 0, fastRetransmits: 1, sackRecoveries: 1, rackLosses: 2, dupThreshLosses: 0, tlpProbes: 0 })
    ackWith(t, 4 * M, 30_500, [5 * M, 8 * M])
    ackWith(t, 8 * M, 30_600)
    expect(t.pollAt()).toBeUndefined()
  })

  it('a lost retransmission is found by RACK when a segment sent after it is delivered, with no RTO', () => {
    const t = tcbSack()
    expect(sendSegs(t, 20).length).toBe(10) // cwnd: 10 segments
    // Segment 0 lost; 1–3 SACKed: lost at once (three SACKed segments above it).
    ackWith(t, 0, 20 * MS, [M, 4 * M])
    expectSent(t, { seq: L(0), payload: segData(0) }, 20 * MS)
    expectNothing(t, 20 * MS)
    // 1–9 SACKed: pipe is the retransmission alone, cwnd (5 segments) lets four new segments out.
    ackWith(t, 0, 20_500, [M, 10 * M])
    expect(drain(t, 20_500).map((s) => s.seq)).toEqual([10, 11, 12, 13].map((k) => L(k * M)))
    // Segment 10, sent after the retransmission, is SACKed one RTT later: the retransmission was lost.
    ackWith(t, 0, 30_500, [M, 11 * M])
    expectSent(t, { seq: L(0), payload: segData(0) }, 30_500)
    expectSent(t, { seq: L(14 * M), payload: segData(14) }, 30_500) // cwnd − pipe still has one segment
    expectNothing(t, 30_500)
    expect(pick(t)).toEqual({ retransmits: 2, timeouts: 0, fastRetransmits: 1, sackRecoveries: 1, rackLosses: 2, dupThreshLosses: 0, tlpProbes: 0 })
    ackWith(t, 15 * M, 40_500)
    expect(t.checkInvariants()).toBeUndefined()
  })
})

describe('tail loss probes (RFC 8985 §7)', () => {
  it('the last two segments lost: the probe resends the last one, its SACK starts recovery of the other, no RTO', () => {
    const t = tcbSack()
    sendSegs(t, 4)
    ackWith(t, 2 * M, 20 * MS)
    // PTO = 2·SRTT + 2 ms with more than one segment in flight (the RTO would be at 220 ms).
    expect(t.pollAt()).toBe(42 * MS)
    const ev = recorder(t)
    expectSent(t, { seq: L(3 * M), payload: segData(3) }, 42 * MS)
    expectNothing(t, 42 * MS)
    expect(t.pollAt()).toBe(242 * MS) // the RTO is re-armed whole from the probe (RFC 8985 §7.3, as Linux); no second probe
    ackWith(t, 2 * M, 52 * MS, [3 * M, 4 * M])
    expectSent(t, { seq: L(2 * M), payload: segData(2) }, 52 * MS)
    ackWith(t, 4 * M, 62 * MS)
    expect(t.pollAt()).toBeUndefined()
    expect(pick(t)).toEqual({ retransmits: 2, timeouts: 0, fastRetransmits: 1, sackRecoveries: 1, rackLosses: 1, dupThreshLosses: 0, tlpProbes: 1 })
    expect(ev.find((e) => e.type === 'timer')).toEqual({ type: 'timer', now: 42 * MS, timer: 'tlp', backoff: 0 })
  })

  it('a whole flight lost: the probe is new data (cwnd notwithstanding) and its SACK marks the flight lost', () => {
    const t = tcbSack()
    expect(sendSegs(t, 11).length).toBe(10)
    expect(t.pollAt()).toBe(32 * MS) // 10 ms + 2·10 ms + 2 ms
    expectSent(t, { seq: L(10 * M), payload: segData(10) }, 32 * MS)
    expectNothing(t, 32 * MS)
    ackWith(t, 0, 42 * MS, [10 * M, 11 * M])
    // ssthresh = 11 segments / 2: the forced first retransmission, then four more under cwnd − pipe.
    expect(drain(t, 42 * MS).map((s) => s.seq)).toEqual([0, 1, 2, 3, 4].map((k) => L(k * M)))
    expect(pick(t)).toEqual({ retransmits: 5, timeouts: 0, fastRetransmits: 1, sackRecoveries: 1, rackLosses: 10, dupThreshLosses: 0, tlpProbes: 1 })
  })

  it('one segment in flight: PTO = 2·SRTT + WCDelAckT (200 ms), capped by the RTO; the probe comes first', () => {
    const t = tcbSack()
    sendSegs(t, 1)
    expect(t.pollAt()).toBe(210 * MS) // min(10 + 20 + 200, RTO at 10 + 200)
    const ev = recorder(t)
    expectSent(t, { seq: L(0), payload: segData(0) }, 210 * MS)
    expect(ev.filter((e) => e.type === 'timer').map((e) => e.type === 'timer' && e.timer)).toEqual(['tlp'])
    expect(pick(t)).toMatchObject({ timeouts: 0, tlpProbes: 1, retransmits: 1 })
    expect(t.rtt.backoff).toBe(0)
  })

  it('a probe that repaired a loss (the ACK goes past it) costs a cwnd reduction (§7.4)', () => {
    const t = tcbSack()
    sendSegs(t, 4)
    ackWith(t, 3 * M, 20 * MS)
    expectSent(t, { seq: L(3 * M) }, 220 * MS) // one segment in flight: the probe at the RTO's time
    ackWith(t, 4 * M, 230 * MS) // the probe filled the tail: ambiguous until the ACK passes it
    expect(t.stats.tlpRecoveries).toBe(0)
    t.send(data.subarray(4 * M, 5 * M))
    expectSent(t, { seq: L(4 * M) }, 231 * MS)
    const cwnd = t.cwnd
    ackWith(t, 5 * M, 241 * MS)
    expect(t.stats.tlpRecoveries).toBe(1)
    // Slow start adds one segment for this ACK, then the loss halves cwnd (RFC 5681 equation 4).
    expect(t.cwnd).toBe(Math.max(Math.floor((cwnd + M) / 2), 2 * M))
    expect(t.ssthresh).toBe(t.cwnd)
  })

  it('no probe with rack: false: only the RTO', () => {
    const t = tcbSack({ rack: false })
    sendSegs(t, 4)
    ackWith(t, 2 * M, 20 * MS)
    expect(t.pollAt()).toBe(220 * MS)
  })
})

describe('reordering (RFC 8985 §6.2 step 4)', () => {
  it('a segment that arrives within reo_wnd of a later one is not marked lost', () => {
    const t = tcbSack()
    sendSegs(t, 4)
    ackWith(t, 0, 20 * MS, [M, 2 * M])
    expect(t.pollAt()).toBe(22_500)
    ackWith(t, 2 * M, 21 * MS) // segment 0 was only late
    expectNothing(t, 22_500)
    expectNothing(t, 30 * MS)
    expect(pick(t)).toMatchObject({ retransmits: 0, rackLosses: 0, sackRecoveries: 0 })
    // Reordering was seen: the window stays min_RTT/4 even with three segments SACKed.
    t.send(data.subarray(4 * M, 8 * M))
    drain(t, 30 * MS)
    ackWith(t, 4 * M, 40 * MS, [5 * M, 8 * M])
    expectNothing(t, 40 * MS)
    expect(t.pollAt()).toBe(42_500)
    expectSent(t, { seq: L(4 * M) }, 42_500)
    expect(t.stats.rackLosses).toBe(1)
  })
})

describe('RTO with SACK (RFC 6675 §5.1, RFC 8985 §6.3)', () => {
  it('marks the first segment and those sent RACK.rtt + reo_wnd ago lost, resends them under slow start, skips SACKed data', () => {
    const t = tcbSack()
    sendSegs(t, 5)
    ackWith(t, 0, 20 * MS, [3 * M, 4 * M])
    // Fast recovery first (segments 0–2 lost by RACK at 22.5 ms): segment 0 goes, then cwnd is full.
    expectSent(t, { seq: L(0) }, 22_500)
    expectNothing(t, 22_500)
    // Nothing more arrives: the RTO fires 200 ms after the data went out.
    expect(t.pollAt()).toBe(210 * MS)
    const ev = recorder(t)
    expectSent(t, { seq: L(0), payload: segData(0) }, 210 * MS)
    expectNothing(t, 210 * MS) // cwnd = 1 segment
    expect(traceLines(ev).filter((l) => / (lost|recovery) /.test(l)).map((l) => l.trim())).toEqual([
      `210.000ms recovery rto una=${L(0)} recover=${L(5 * M)} cwnd=${M} ssthresh=${2.5 * M}`,
      `210.000ms lost ${L(0)}-${L(M)} (rto)`,
      `210.000ms lost ${L(4 * M)}-${L(5 * M)} (rto)`,
    ])
    // Slow start: two segments per ACK, the SACKed segment 3 is skipped.
    ackWith(t, M, 220 * MS, [3 * M, 4 * M])
    expect(drain(t, 220 * MS).map((s) => s.seq)).toEqual([L(M), L(2 * M)])
    ackWith(t, 4 * M, 230 * MS)
    expect(drain(t, 230 * MS).map((s) => s.seq)).toEqual([L(4 * M)])
    ackWith(t, 5 * M, 240 * MS)
    expect(t.pollAt()).toBeUndefined()
    expect(pick(t)).toEqual({ retransmits: 5, timeouts: 1, fastRetransmits: 1, sackRecoveries: 1, rackLosses: 3, dupThreshLosses: 0, tlpProbes: 0 })
  })

  it('SACK reneging: a cumulative ACK that stops at SACKed data; the RTO (after 10 ms) clears the scoreboard and repairs', () => {
    const t = tcbSack()
    sendSegs(t, 4)
    ackWith(t, 0, 20 * MS, [2 * M, 3 * M])
    // The peer now acknowledges up to segment 2 only, without its block: it dropped what it had SACKed.
    ackWith(t, 2 * M, 21 * MS)
    expect(t.pollAt()).toBe(31 * MS) // max(SRTT/2, 10 ms), as Linux
    const ev = recorder(t)
    expectSent(t, { seq: L(2 * M), payload: segData(2) }, 31 * MS)
    expectNothing(t, 31 * MS)
    expect(ev.filter((e) => e.type === 'recovery').map((e) => e.type === 'recovery' && e.event)).toEqual(['reneging', 'rto'])
    expect(t.stats.sackReneging).toBe(1)
    ackWith(t, 3 * M, 41 * MS)
    expectSent(t, { seq: L(3 * M), payload: segData(3) }, 41 * MS)
    ackWith(t, 4 * M, 51 * MS)
    expect(pick(t)).toMatchObject({ timeouts: 1, retransmits: 2 })
    expect(t.checkInvariants()).toBeUndefined()
  })

  it('an ACK for data sent only once clears the RTO backoff (RFC 8961 §4)', () => {
    const t = tcbSack()
    sendSegs(t, 3)
    expectSent(t, { seq: L(2 * M) }, 32 * MS) // the probe: no new data, so the last segment again
    expect(t.stats.tlpProbes).toBe(1)
    expectSent(t, { seq: L(0) }, 232 * MS) // RTO
    expectSent(t, { seq: L(0) }, 632 * MS) // RTO again, backed off
    expect([t.stats.timeouts, t.rtt.backoff]).toEqual([2, 2])
    // The original transmission of segment 1 (never resent) is acknowledged.
    ackWith(t, 2 * M, 650 * MS)
    expect(t.rtt.backoff).toBe(0)
  })
})

describe('without SACK: NewReno (RFC 6582) and limited transmit (RFC 3042)', () => {
  it('blocks from a peer that did not agree to SACK are ignored; new data on dupACKs 1 and 2, fast retransmit on 3', () => {
    const t = Tcb.connect(TUPLE, 0, PLAIN)
    t.dispatch(0)
    send(t, { seq: REMOTE_ISS, ack: L(0), flags: SYN | ACK, options: [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }] }, RTT)
    drain(t, RTT)
    expect(t.sackOk).toBe(false)
    expect(sendSegs(t, 12).length).toBe(10)
    send(t, { seq: R(0), ack: L(0), options: sack([M, 2 * M]) }, 20 * MS)
    expectSent(t, { seq: L(10 * M), payload: segData(10) }, 20 * MS)
    expectNothing(t, 20 * MS)
    send(t, { seq: R(0), ack: L(0), options: sack([M, 3 * M]) }, 20_100)
    expectSent(t, { seq: L(11 * M), payload: segData(11) }, 20_100)
    expectNothing(t, 20_100)
    send(t, { seq: R(0), ack: L(0), options: sack([M, 4 * M]) }, 20_200)
    expectSent(t, { seq: L(0), payload: segData(0) }, 20_200)
    expectNothing(t, 20_200)
    expect(pick(t)).toEqual({ retransmits: 1, timeouts: 0, fastRetransmits: 1, sackRecoveries: 0, rackLosses: 0, dupThreshLosses: 0, tlpProbes: 0 })
    expect(t.pollAt()).toBe(210 * MS) // no probe timer without SACK
  })
})

describe('configuration', () => {
  it('rack defaults to true and must be a boolean', () => {
    expect(resolveConfig().rack).toBe(true)
    expect(() => resolveConfig({ rack: 'yes' as unknown as boolean })).toThrow(RangeError)
  })
})
