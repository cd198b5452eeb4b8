/**
 * Loss recovery on its own (src/tcp/recovery/), driven through a fake host instead of a TCB: NewReno's
 * fast retransmit, inflation, partial and full ACKs (RFC 5681 §3.2, RFC 6582) and limited transmit
 * (RFC 3042); RACK's loss marking and the PTO (RFC 8985); and the small pieces that left tcb.ts with it
 * (the receiver's SACK blocks, push marks, RTT timing). The TCB-level behaviour is in tcb-recovery.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { createCongestionControl } from '../../src/tcp/cc/index.js'
import { newStats } from '../../src/tcp/info.js'
import { RecvBuffer, sackBlocks } from '../../src/tcp/rcv.js'
import { NewRenoRecovery, SackRecovery, createRecovery, type RecoveryHost } from '../../src/tcp/recovery/index.js'
import { TailLossProbe, ptoFor, rackDetectLoss } from '../../src/tcp/recovery/rack.js'
import { Rack, SentLog } from '../../src/tcp/sack.js'
import { TcpFlags, type TcpRepr } from '../../src/tcp/segment.js'
import { seq, seqAdd, type Seq } from '../../src/tcp/seq.js'
import { EMPTY, PushMarks, RttEstimator, RttTiming } from '../../src/tcp/snd.js'
import { TcbTimers } from '../../src/tcp/timers.js'
import { resolveConfig } from '../../src/tcp/types.js'

const MSS = 1000
const ISS = seq(5000)
/** SND.UNA once the SYN is acknowledged; `recover` starts at ISS, as in the TCB. */
const UNA = seqAdd(ISS, 1)

type FakeHost = RecoveryHost & {
  una: Seq
  nxt: Seq
  max: Seq
  wnd: number
  built: Array<[Seq, number, boolean]>
  /** The recovery whose cumulative ACKs `ackAdvance` reports back, as the TCB's does. */
  rec: NewRenoRecovery | undefined
}

/** A host whose sequence space the test moves by hand; segments it is asked to build are recorded. */
function fakeHost(): FakeHost {
  const cc = createCongestionControl('reno')
  cc.init(10 * MSS, 0)
  const h = {
    config: resolveConfig(),
    cc,
    timers: new TcbTimers(),
    stats: newStats(),
    rtt: new RttEstimator(1_000_000, 200_000, 120_000_000),
    state: 'ESTABLISHED' as const,
    una: UNA,
    nxt: UNA,
    max: UNA,
    wnd: 64_000,
    built: [] as Array<[Seq, number, boolean]>,
    rec: undefined as NewRenoRecovery | undefined,
    get sndUna() {
      return h.una
    },
    get sndNxt() {
      return h.nxt
    },
    get sndMax() {
      return h.max
    },
    get sndWnd() {
      return h.wnd
    },
    effMss: MSS,
    segMss: () => MSS,
    tsVal: (t: number) => Math.floor(t / 1000),
    ackAdvance: (_now: number, ack: Seq) => {
      h.una = ack
      h.rec?.onUnaAdvanced(ack)
      h.rec?.onAckedData(0, 0, undefined)
    },
    planData: () => -1,
    buildSegment: (_now: number, at: Seq, max: number, resend: boolean): TcpRepr => {
      h.built.push([at, max, resend])
      return { srcPort: 1, dstPort: 2, seq: at, ack: seq(0), flags: TcpFlags.ACK, window: 0, urgent: 0, options: [], payload: EMPTY }
    },
    forgetRttSample: () => {},
    emitTimer: () => {},
    trace: undefined,
  }
  return h
}

/** A NewReno recovery on a fake host with `n` segments in flight. */
function newReno(n: number): { h: FakeHost; r: NewRenoRecovery } {
  const h = fakeHost()
  const r = new NewRenoRecovery(h, ISS)
  h.rec = r
  h.nxt = h.max = seqAdd(UNA, n * MSS)
  return { h, r }
}

describe('NewRenoRecovery (RFC 5681 §3.2, RFC 6582, RFC 3042)', () => {
  it('limited transmit, then fast retransmit on the third duplicate ACK with cwnd = ssthresh + 3·SMSS', () => {
    const { h, r } = newReno(10)
    const before = r.sendWindow()
    r.onAck(0, UNA, true)
    // One duplicate ACK lets one more segment out (RFC 3042), and Linux calls that Disorder.
    expect(r.sendWindow()).toBe(before + MSS)
    expect(r.info(true).caState).toBe('disorder')
    r.onAck(0, UNA, true)
    r.onAck(0, UNA, true)
    expect(h.stats.fastRetransmits).toBe(1)
    expect(h.cc.cwnd).toBe(h.cc.ssthresh + 3 * MSS)
    expect(r.info(true)).toEqual({ caState: 'recovery', unacked: 10, sacked: 0, retransOut: 0 })
    expect(r.wantsToSend()).toBe(true)
    expect(r.retransmission(0)).toMatchObject({ seq: UNA })
    expect(h.built.at(-1)).toEqual([UNA, MSS, true]) // SND.UNA resent, one segment, SND.NXT left alone
    expect(h.built).toEqual([[UNA, MSS, true]])
    expect(r.wantsToSend()).toBe(false)
    // A fourth duplicate inflates by one SMSS (RFC 6582 §3.2 step 3).
    const cw = h.cc.cwnd
    r.onAck(0, UNA, true)
    expect(h.cc.cwnd).toBe(cw + MSS)
  })

  it('a partial ACK resends the next hole and deflates; a full ACK ends recovery at min(ssthresh, flight + SMSS)', () => {
    const { h, r } = newReno(10)
    for (let i = 0; i < 3; i++) r.onAck(0, UNA, true)
    r.retransmission(0)
    r.onAck(0, seqAdd(UNA, 2 * MSS), false)
    expect(r.wantsToSend()).toBe(true)
    expect(r.info(true).caState).toBe('recovery')
    r.onAck(0, h.max, false)
    expect(r.info(true).caState).toBe('open')
    expect(h.cc.cwnd).toBe(Math.min(h.cc.ssthresh, MSS))
  })

  it('an RTO leaves fast recovery for Loss, which ends once SND.UNA passes what was outstanding', () => {
    const { h, r } = newReno(4)
    for (let i = 0; i < 3; i++) r.onAck(0, UNA, true)
    r.onRto(0)
    expect(r.rtoRecovery()).toBe(false) // without SACK the TCB goes back N
    expect(r.wantsToSend()).toBe(false)
    expect(h.cc.cwnd).toBe(MSS)
    expect(r.info(true).caState).toBe('loss')
    r.onAck(0, h.max, false)
    expect(r.info(true).caState).toBe('open')
  })
})

describe('createRecovery', () => {
  it('picks the SACK recovery only when SACK was agreed', () => {
    const h = fakeHost()
    expect(createRecovery(false, h, ISS)).toBeInstanceOf(NewRenoRecovery)
    expect(createRecovery(true, h, ISS)).toBeInstanceOf(SackRecovery)
    expect(createRecovery(true, h, ISS).info(false)).toEqual({ caState: 'open', unacked: 0, sacked: 0, retransOut: 0 })
  })
})

describe('RACK-TLP pieces (RFC 8985)', () => {
  it('marks lost what was sent RACK.rtt + reo_wnd before the delivered segment, and times the rest', () => {
    const log = new SentLog()
    log.first = ISS
    for (let i = 0; i < 4; i++) log.append(seqAdd(ISS, i * MSS), seqAdd(ISS, (i + 1) * MSS), i * 10_000, MSS)
    const rack = new Rack()
    // The third segment (sent at 20 ms) was delivered at 70 ms: RACK.rtt = 50 ms.
    rack.update(20_000, seqAdd(ISS, 3 * MSS), false, 70_000, true)
    const lost: number[] = []
    const t = rackDetectLoss(rack, log, 70_000, 5_000, (i) => lost.push(i))
    // Sent at 0 and 10 ms: 0 + 50 + 5 ≤ 70 is lost; 10 + 50 + 5 = 65 ≤ 70 too. The third is the delivered
    // one (not before itself); the fourth was sent after it.
    expect(lost).toEqual([0, 1])
    expect(t).toBe(0)
    const later: number[] = []
    expect(rackDetectLoss(rack, log, 60_000, 5_000, (i) => later.push(i))).toBe(5_000)
    expect(later).toEqual([0])
  })

  it('the PTO is 2·SRTT + 2 ms, or + WCDelAckT for a one-segment flight, 1 s before any sample (§7.2)', () => {
    expect(ptoFor(undefined, 5 * MSS, MSS)).toBe(1_000_000)
    expect(ptoFor(10_000, 5 * MSS, MSS)).toBe(22_000)
    expect(ptoFor(10_000, MSS, MSS)).toBe(220_000)
  })

  it('a retransmitted probe repaired a loss when the ACK goes past it without a D-SACK for it (§7.4)', () => {
    const p = new TailLossProbe()
    const end = seqAdd(ISS, 4 * MSS)
    p.sent(end, true)
    expect(p.processAck(seqAdd(ISS, 3 * MSS), false, false, undefined)).toBe(false)
    expect(p.endSeq).toBe(end)
    expect(p.processAck(seqAdd(end, 1), false, false, undefined)).toBe(true)
    expect(p.endSeq).toBeUndefined()
    p.sent(end, true)
    expect(p.processAck(end, false, true, [[seqAdd(end, -MSS), end]])).toBe(false)
    expect(p.endSeq).toBeUndefined()
  })
})

describe('sackBlocks (RFC 2018 §4, RFC 2883 §4)', () => {
  const NXT = seq(1000)
  it('D-SACK first, then the most recent block, then the others; a FIN held beyond a hole rides with its data', () => {
    const b = new RecvBuffer(65536)
    b.write(1000, new Uint8Array(100)) // [2000, 2100)
    b.write(3000, new Uint8Array(100)) // [4000, 4100), most recent
    const scratch = [0, 0, 0, 0, 0, 0, 0, 0]
    expect(sackBlocks(b, NXT, 3, [seq(500), seq(600)], undefined, false, scratch)).toEqual([
      [500, 600],
      [4000, 4100],
      [2000, 2100],
    ])
    expect(sackBlocks(b, NXT, 4, undefined, seq(4100), false, scratch)).toEqual([
      [4000, 4101],
      [2000, 2100],
    ])
  })

  it('a FIN alone beyond the hole gets its own block, first when it came last; nothing to report is undefined', () => {
    const b = new RecvBuffer(65536)
    b.write(1000, new Uint8Array(100))
    const scratch = [0, 0, 0, 0, 0, 0, 0, 0]
    expect(sackBlocks(b, NXT, 4, undefined, seq(5000), true, scratch)).toEqual([[5000, 5001], [2000, 2100]])
    expect(sackBlocks(b, NXT, 4, undefined, seq(5000), false, scratch)).toEqual([[2000, 2100], [5000, 5001]])
    expect(sackBlocks(new RecvBuffer(100), NXT, 4, undefined, undefined, false, scratch)).toBeUndefined()
  })
})

describe('PushMarks and RttTiming (snd.ts)', () => {
  it('a retransmission covering a push point carries PSH; an ACK past it forgets it', () => {
    const m = new PushMarks(seq(1))
    m.add(seq(100))
    m.add(seq(300))
    expect(m.last).toBe(300)
    expect(m.covers(seq(0), seq(100))).toBe(true)
    expect(m.covers(seq(100), seq(200))).toBe(false)
    m.ack(seq(100))
    expect(m.covers(seq(0), seq(100))).toBe(false)
    expect(m.covers(seq(200), seq(300))).toBe(true)
  })

  it("times one segment sent once (Karn), and drops an echo from before the last RTO, clearing the backoff", () => {
    const rtt = new RttEstimator(1_000_000, 200_000, 120_000_000)
    const t = new RttTiming()
    t.start(seq(100), 1_000)
    expect(t.onAck(3_000, seq(50), 0, 0, rtt)).toBeUndefined()
    expect(t.onAck(5_000, seq(100), 0, 0, rtt)).toBe(4_000)
    t.start(seq(200), 6_000)
    t.resent(seq(150))
    expect(t.onAck(9_000, seq(200), 0, 0, rtt)).toBeUndefined()
    // Timestamps: the echo of TSval 10 (ms) at 25 ms is a 15 ms sample, unless an RTO fired after 10 ms.
    expect(t.onAck(25_000, seq(300), 10, 0, rtt)).toBe(15_000)
    rtt.backoff = 2
    t.lastRtoAt = 20_000
    expect(t.onAck(25_000, seq(300), 10, 0, rtt)).toBeUndefined()
    expect(rtt.backoff).toBe(0)
  })
})
