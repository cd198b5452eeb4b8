/**
 * Retransmission (RFC 6298) and congestion control (RFC 5681/6582): SYN and SYN+ACK retransmission and
 * their limit, SRTT/RTTVAR, Karn's rule, exponential backoff, aborting after the retry limit with a clear
 * reason, go-back-N after an RTO with a one-segment loss window, fast retransmit, slow start.
 */
import { describe, expect, it } from 'vitest'
import { Tcb } from '../../src/tcp/tcb.js'
import { RttEstimator } from '../../src/tcp/snd.js'
import {
  ACK,
  L,
  MSS_1460,
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
  seg,
  tcbEstablished,
  tcbSynReceived,
} from './helpers.js'

const S = 1_000_000
const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i & 0xff)

describe('SYN and SYN+ACK retransmission', () => {
  it('retransmits the SYN at 1, 3, 7 … s and gives up with ETIMEDOUT after synRetries (≥ 3 min, MUST-23)', () => {
    const t = Tcb.connect(TUPLE, 0, PLAIN)
    expectSent(t, { seq: L(-1), flags: SYN })
    const times: number[] = []
    for (;;) {
      const at = t.pollAt()
      if (at === undefined) break
      const out = drain(t, at)
      if (t.state === 'CLOSED') {
        times.push(at)
        expect(out).toEqual([])
        break
      }
      expect(out.map((s) => [s.seq, s.flags])).toEqual([[L(-1), SYN]])
      times.push(at)
    }
    expect(times).toEqual([1, 3, 7, 15, 31, 63, 127, 247].map((x) => x * S))
    expect(t.error).toEqual({ code: 'ETIMEDOUT', reason: 'no acknowledgment for SYN after 7 retransmissions' })
  })

  it('retransmits the SYN+ACK and times out a half-open connection the same way', () => {
    const t = tcbSynReceived({ synRetries: 2 })
    expectSent(t, { seq: L(-1), ack: R(0), flags: SYN | ACK }, 1 * S)
    expectSent(t, { seq: L(-1), ack: R(0), flags: SYN | ACK }, 3 * S)
    expectNothing(t, 7 * S)
    expect(t.state).toBe('CLOSED')
    expect(t.error?.reason).toBe('no acknowledgment for SYN+ACK after 2 retransmissions')
  })

  it('a retransmitted SYN gives no RTT sample (Karn), the RTO stays backed off', () => {
    const t = Tcb.connect(TUPLE, 0, PLAIN)
    t.dispatch(0)
    t.dispatch(1 * S) // retransmitted SYN
    send(t, { seq: REMOTE_ISS, ack: L(0), flags: SYN | ACK, options: MSS_1460 }, 1.1 * S)
    expect(t.stats.rttSamples).toBe(0)
    expect(t.rtt.srtt).toBeUndefined()
    expect(t.rtt.current).toBe(2 * S)
  })
})

describe('RFC 6298 estimator', () => {
  it('first sample: SRTT = R, RTTVAR = R/2; then the 1/8 and 1/4 gains; RTO = SRTT + max(G, 4·RTTVAR)', () => {
    const e = new RttEstimator(1 * S, 1000, 60 * S)
    expect(e.rto).toBe(1 * S)
    e.sample(100_000)
    expect([e.srtt, e.rttvar, e.rto]).toEqual([100_000, 50_000, 300_000])
    e.sample(50_000)
    expect([e.srtt, e.rttvar, e.rto]).toEqual([93_750, 50_000, 293_750])
    e.sample(93_750)
    expect(e.rttvar).toBe(37_500)
  })

  it('clamps to rtoMin (200 ms, as Linux) and rtoMax; backoff doubles up to rtoMax', () => {
    const e = new RttEstimator(1 * S, 200_000, 120 * S)
    e.sample(1000)
    expect(e.rto).toBe(200_000)
    const seen: number[] = []
    for (let i = 0; i < 12; i++) {
      e.expired()
      seen.push(e.current)
    }
    expect(seen.slice(0, 3)).toEqual([400_000, 800_000, 1_600_000])
    expect(seen[11]).toBe(120 * S)
    e.sample(1000)
    expect(e.current).toBe(200_000) // a fresh sample ends the backoff
  })

  it('the TCB samples one fresh segment at a time and traces it', () => {
    const t = Tcb.connect(TUPLE, 0, { ...PLAIN, rtoMin: 1000 })
    t.dispatch(0)
    send(t, { seq: REMOTE_ISS, ack: L(0), flags: SYN | ACK, options: MSS_1460 }, 100_000)
    t.dispatch(100_000)
    expect([t.rtt.srtt, t.rtt.rto]).toEqual([100_000, 300_000])
    const ev = recorder(t)
    t.send(bytes(100))
    t.dispatch(100_000)
    send(t, { seq: R(0), ack: L(100) }, 150_000)
    expect(ev.find((e) => e.type === 'rtt')).toEqual({ type: 'rtt', now: 150_000, sample: 50_000, srtt: 93_750, rttvar: 50_000, rto: 293_750 })
  })
})

describe('RTT measurement with timestamps (RFC 7323 §4)', () => {
  it('times even a retransmitted segment by the TSval its ACK echoes, ending the backoff', () => {
    const t = Tcb.connect(TUPLE, 0, { ...PLAIN, timestamps: true })
    t.dispatch(0)
    const ts = (value: number, echo: number) => [{ kind: 'timestamp' as const, value, echo }]
    send(t, { seq: REMOTE_ISS, ack: L(0), flags: SYN | ACK, options: [...MSS_1460, ...ts(1, 0)] }, 10_000)
    t.dispatch(10_000)
    expect(t.rtt.srtt).toBe(10_000) // TSecr 0 means "no echo": classic timing
    t.send(bytes(10))
    expectSent(t, { seq: L(0), options: [{ kind: 'nop' }, { kind: 'nop' }, ...ts(10, 1)] }, 10_000)
    expectSent(t, { seq: L(0), options: [{ kind: 'nop' }, { kind: 'nop' }, ...ts(210, 1)] }, 210_000)
    expect(t.rtt.backoff).toBe(1)
    const ev = recorder(t)
    send(t, { seq: R(0), ack: L(10), options: ts(2, 210) }, 260_000)
    expect(ev.find((e) => e.type === 'rtt')).toMatchObject({ sample: 50_000 })
    expect(t.rtt.backoff).toBe(0)
  })
})

describe('data retransmission', () => {
  it('RTO: resends from SND.UNA with a one-segment loss window, then slow-starts (go-back-N)', () => {
    const t = tcbEstablished()
    t.send(bytes(3 * 1460))
    expect(drain(t).map((s) => s.seq)).toEqual([L(0), L(1460), L(2920)])
    expect(t.pollAt()).toBe(200_000)
    expectSent(t, { seq: L(0), payload: bytes(1460) }, 200_000)
    expectNothing(t, 200_000) // cwnd = 1 MSS
    expect(t.cwnd).toBe(1460)
    expect(t.ssthresh).toBe(2 * 1460) // max(FlightSize/2, 2·SMSS)
    send(t, { seq: R(0), ack: L(1460) }, 250_000)
    expect(drain(t, 250_000).map((s) => s.seq)).toEqual([L(1460), L(2920)])
  })

  it('an ACK for data sent before the RTO moves SND.NXT forward (no needless resend)', () => {
    const t = tcbEstablished()
    t.send(bytes(3 * 1460))
    drain(t)
    t.dispatch(200_000) // RTO: resend of the first segment; SND.NXT rolled back
    send(t, { seq: R(0), ack: L(3 * 1460) }, 210_000) // the original flight did arrive
    expect([t.sndUna, t.sndNxt, t.sndMax]).toEqual([L(4380), L(4380), L(4380)])
    expectNothing(t, 210_000)
    expect(t.pollAt()).toBeUndefined()
  })

  it('gives up after maxRetries with ETIMEDOUT and a clear reason (MUST-20)', () => {
    const t = tcbEstablished({ maxRetries: 3 })
    const ev = recorder(t)
    t.send(bytes(10))
    t.dispatch(0)
    const at: number[] = []
    while (t.state !== 'CLOSED') {
      const next = t.pollAt()!
      at.push(next)
      drain(t, next)
    }
    expect(at).toEqual([200_000, 600_000, 1_400_000, 3_000_000])
    expect(t.error).toEqual({ code: 'ETIMEDOUT', reason: 'no acknowledgment for data after 3 retransmissions' })
    expect(ev.filter((e) => e.type === 'timer').length).toBe(4)
    expect(t.stats.retransmits).toBe(3)
  })

  it("an ACK of new data resets the retry count and Karn's rule keeps the backed-off RTO until a fresh sample", () => {
    const t = tcbEstablished({ maxRetries: 2 })
    t.send(bytes(10))
    t.dispatch(0)
    drain(t, 200_000)
    drain(t, 600_000) // two retransmissions
    send(t, { seq: R(0), ack: L(10) }, 700_000)
    expect(t.stats.rttSamples).toBe(1) // only the handshake's
    expect(t.rtt.current).toBe(800_000)
    t.send(bytes(10))
    t.dispatch(700_000)
    send(t, { seq: R(0), ack: L(20) }, 710_000)
    expect(t.stats.rttSamples).toBe(2)
    expect(t.rtt.current).toBe(200_000)
    expect(t.state).toBe('ESTABLISHED')
  })

  it('fast retransmit on the third duplicate ACK, then NewReno recovery (RFC 5681 §3.2, RFC 6582)', () => {
    const t = tcbEstablished()
    t.send(bytes(6 * 1460))
    expect(drain(t, 0).length).toBe(6)
    send(t, { seq: R(0), ack: L(0) }, 1000)
    send(t, { seq: R(0), ack: L(0) }, 1001)
    expectNothing(t, 1001)
    send(t, { seq: R(0), ack: L(0) }, 1002)
    expectSent(t, { seq: L(0), flags: ACK, payload: bytes(1460) }, 1002)
    expect(t.stats.fastRetransmits).toBe(1)
    expect(t.ssthresh).toBe(3 * 1460)
    // A partial ACK (the third segment was lost too) retransmits the next hole at once.
    send(t, { seq: R(0), ack: L(2920) }, 2000)
    expectSent(t, { seq: L(2920) }, 2000)
    // The full ACK ends recovery with cwnd = ssthresh-ish.
    send(t, { seq: R(0), ack: L(6 * 1460) }, 3000)
    expect(t.cwnd).toBeLessThanOrEqual(3 * 1460)
  })

  it('duplicate ACKs that carry data or a window change are not counted', () => {
    const t = tcbEstablished()
    t.send(bytes(4 * 1460))
    drain(t)
    send(t, { seq: R(0), ack: L(0), payload: 'a' })
    send(t, { seq: R(1), ack: L(0), window: 1234 })
    send(t, { seq: R(1), ack: L(0), window: 1234 })
    send(t, { seq: R(1), ack: L(0), window: 1234 })
    expect(t.stats.fastRetransmits).toBe(0)
    send(t, { seq: R(1), ack: L(0), window: 1234 })
    expect(t.stats.fastRetransmits).toBe(1)
  })

  it('slow start: the initial window is 10 segments and grows by one MSS per ACK (RFC 6928, RFC 5681)', () => {
    const t = tcbEstablished({ sndBuf: 1 << 20 })
    t.send(bytes(30 * 1460))
    expect(drain(t).length).toBe(10)
    send(t, { seq: R(0), ack: L(1460) })
    expect(drain(t).length).toBe(2)
    send(t, { seq: R(0), ack: L(2 * 1460) })
    expect(drain(t).length).toBe(2)
  })

  it('a peer that never ACKs: the connection ends in bounded time with ETIMEDOUT', () => {
    const t = tcbEstablished()
    t.send(bytes(100_000))
    let now = 0
    let sent = drain(t, now).length
    while (t.state !== 'CLOSED') {
      now = t.pollAt()!
      sent += drain(t, now).length
    }
    expect(t.error?.code).toBe('ETIMEDOUT')
    expect(now).toBeLessThan(20 * 60 * S)
    expect(sent).toBe(10 + 15)
  })
})

describe('ACK of the SYN+ACK, the handshake, with data', () => {
  it('the third segment of a passive open may carry data and the first RTT sample', () => {
    const t = Tcb.fromSyn(TUPLE, 0, seg({ seq: REMOTE_ISS, flags: SYN }), PLAIN)
    t.dispatch(0)
    send(t, { seq: R(0), ack: L(0), payload: 'x' }, 30_000)
    expect(t.rtt.srtt).toBe(30_000)
    expectSent(t, { ack: R(1), flags: ACK }, 30_000)
  })
})

describe('timestamps after an RTO (the RTO ratchet)', () => {
  it('an ACK echoing the TSval of the original transmission gives no RTT sample; a fresh echo does', () => {
    const tuple = { localAddr: new Uint8Array([198, 18, 0, 10]), localPort: 40000, remoteAddr: new Uint8Array([198, 18, 0, 2]), remotePort: 5000 }
    const t = Tcb.connect(tuple, 0, { iss: 1000, tsOffset: 0, ackDelay: 0, rtoInitial: 1_000_000 })
    const syn = t.dispatch(0)!
    const synTs = syn.options.find((o) => o.kind === 'timestamp') as { value: number }
    // SYN+ACK after 10 ms: the first sample, SRTT 10 ms
    t.process(10_000, { srcPort: 5000, dstPort: 40000, seq: 5000 as never, ack: 1001 as never, flags: 0x12, window: 65535, urgent: 0,
      options: [{ kind: 'mss', value: 1460 }, { kind: 'timestamp', value: 77, echo: synTs.value }, { kind: 'wscale', shift: 7 }], payload: new Uint8Array(0) })
    while (t.dispatch(10_000)) { /* the ACK */ }
    expect(t.rtt.srtt).toBe(10_000)
    const samples = t.stats.rttSamples
    t.send(new Uint8Array(100))
    const data = t.dispatch(20_000)!
    const origTs = (data.options.find((o) => o.kind === 'timestamp') as { value: number }).value
    // no ACK: the RTO fires and the segment goes again
    const at = t.pollAt()!
    const again = t.dispatch(at)!
    expect(again.seq).toBe(data.seq)
    // the ACK of the ORIGINAL arrives late, echoing its TSval: RTO + RTT would be the sample — skipped
    t.process(at + 10_000, { srcPort: 5000, dstPort: 40000, seq: 5001 as never, ack: 1101 as never, flags: 0x10, window: 1000, urgent: 0,
      options: [{ kind: 'timestamp', value: 78, echo: origTs }], payload: new Uint8Array(0) })
    expect(t.sndUna).toBe(1101)
    expect(t.stats.rttSamples).toBe(samples)
    expect(t.rtt.srtt).toBe(10_000)
    // …but the original did arrive (a spurious timeout, RFC 3522): the backoff goes (RFC 8961 §4 (4)).
    expect(t.rtt.backoff).toBe(0)
    // new data, echoed fresh: sampled again
    t.send(new Uint8Array(100))
    const next = t.dispatch(at + 20_000)!
    const nextTs = (next.options.find((o) => o.kind === 'timestamp') as { value: number }).value
    t.process(at + 30_000, { srcPort: 5000, dstPort: 40000, seq: 5001 as never, ack: 1201 as never, flags: 0x10, window: 1000, urgent: 0,
      options: [{ kind: 'timestamp', value: 79, echo: nextTs }], payload: new Uint8Array(0) })
    expect(t.stats.rttSamples).toBe(samples + 1)
  })
})
