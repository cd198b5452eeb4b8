/**
 * Proportional Rate Reduction (RFC 6937 §3) as Linux's tcp_cwnd_reduction computes it, in segments. The
 * single-ACK cases check the formula at known points; the flows drive it with a small Linux-style
 * scoreboard (pipe = packets_out − sacked_out − lost_out + retrans_out, lost segments resent before new
 * data) through the same ACK sequences as the kernel-verified scripts prr-proportional-cubic.pkt,
 * prr-proportional-reno.pkt and prr-reduction-bound.pkt, and through the two examples of RFC 6937 §3.1.
 */
import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { Prr, type PrrAck } from '../../src/tcp/recovery/prr.js'

/** An ACK with defaults: one segment delivered by SACK, nothing newly lost, SND.UNA unchanged. */
const ack = (inFlightPackets: number, more: Partial<PrrAck> = {}): PrrAck => ({
  deliveredPackets: 1,
  newlyLost: 0,
  unaAdvanced: false,
  inFlightPackets,
  ...more,
})

/** What the flow did on one ACK: the pipe PRR saw, sndcnt, the window, and what was sent ('R3', 'N20'). */
interface Step {
  pipe: number
  sndcnt: number
  cwnd: number
  sent: string[]
}

/** One incoming ACK for {@link Flow.ack}: segment indexes SACKed, the new cumulative point, losses marked. */
interface FlowAck {
  sack?: number[]
  cum?: number
  lose?: number[]
  /** This ACK starts the recovery (the third duplicate, or RACK's loss marking). */
  enter?: boolean
  /** No new data is queued yet (the script writes more only once recovery has started). */
  noNewData?: boolean
}

/**
 * A sender with `n` segments in flight (indexes 0…n−1) and `extra` more queued, counting as Linux does.
 * Outside recovery it fills cwnd − pipe (limited transmit); in recovery PRR sets cwnd on every ACK.
 */
class Flow {
  readonly prr = new Prr()
  private readonly state: Array<'out' | 'sacked' | 'lost' | 'rexmit' | 'acked'>
  private una = 0
  private nxt: number
  private readonly total: number
  private inRecovery = false

  constructor(
    public cwnd: number,
    private readonly ssthresh: number,
    n: number,
    extra: number,
  ) {
    this.state = Array.from({ length: n }, () => 'out' as const)
    this.nxt = n
    this.total = n + extra
  }

  /** tcp_packets_in_flight: segments not SACKed, not ACKed, and not lost unless retransmitted. */
  get pipe(): number {
    return this.state.slice(this.una).filter((s) => s === 'out' || s === 'rexmit').length
  }

  ack(a: FlowAck): Step {
    let delivered = 0
    let lost = 0
    let advanced = false
    for (const i of a.sack ?? []) {
      if (this.state[i] !== 'sacked') delivered++
      this.state[i] = 'sacked'
    }
    if (a.cum !== undefined && a.cum > this.una) {
      for (let i = this.una; i < a.cum; i++) {
        if (this.state[i] !== 'sacked') delivered++
        this.state[i] = 'acked'
      }
      this.una = a.cum
      advanced = true
    }
    for (const i of a.lose ?? []) {
      if (this.state[i] === 'out') {
        this.state[i] = 'lost'
        lost++
      }
    }
    if (a.enter) {
      this.prr.start(this.cwnd, this.ssthresh)
      this.inRecovery = true
    }
    const pipe = this.pipe
    if (this.inRecovery) {
      this.cwnd = this.prr.onAck({ deliveredPackets: delivered, newlyLost: lost, unaAdvanced: advanced, inFlightPackets: pipe })
    }
    const sent: string[] = []
    for (let room = this.cwnd - pipe; room > 0; room--) {
      const lostAt = this.state.indexOf('lost', this.una)
      if (lostAt >= 0) {
        this.state[lostAt] = 'rexmit'
        sent.push(`R${lostAt}`)
      } else if (this.nxt < this.total && !a.noNewData) {
        this.state[this.nxt] = 'out'
        sent.push(`N${this.nxt++}`)
      } else break
      if (this.inRecovery) this.prr.onSent(1)
    }
    return { pipe, sndcnt: this.inRecovery ? this.prr.sndcnt : 0, cwnd: this.cwnd, sent }
  }

  /** The recovery point is ACKed (Linux's tcp_end_cwnd_reduction). */
  end(): number {
    this.inRecovery = false
    this.cwnd = this.prr.end()
    return this.cwnd
  }
}

describe('PRR: one ACK at a time (Linux tcp_cwnd_reduction)', () => {
  it('start keeps cwnd and records RecoverFS = cwnd (prior_cwnd), not the flight', () => {
    const p = new Prr()
    p.start(20, 14)
    expect([p.active, p.recoverFs, p.ssthresh, p.delivered, p.out, p.cwnd]).toEqual([true, 20, 14, 0, 0, 20])
    expect(() => p.start(0, 2)).toThrow(RangeError)
  })

  it('pipe > ssthresh: sndcnt = ⌈ssthresh · prr_delivered / RecoverFS⌉ − prr_out, rounded up', () => {
    const p = new Prr()
    p.start(20, 14)
    expect(p.onAck(ack(16))).toBe(17) // ⌈14 · 1 / 20⌉ − 0 = 1
    p.onSent(1)
    // A stretch SACK of three segments: ⌈14 · 4 / 20⌉ − 1 = ⌈2.8⌉ − 1 = 2.
    expect(p.onAck(ack(15, { deliveredPackets: 3 }))).toBe(17)
    expect(p.sndcnt).toBe(2)
    p.onSent(2)
    // ⌈14 · 5 / 20⌉ − 3 = 4 − 3 = 1; then ⌈14 · 6 / 20⌉ − 4 = 5 − 4 = 1; ⌈14 · 7 / 20⌉ − 5 = 0.
    expect([p.onAck(ack(16)), p.sndcnt]).toEqual([17, 1])
    p.onSent(1)
    expect([p.onAck(ack(16)), p.sndcnt]).toEqual([17, 1])
    p.onSent(1)
    expect([p.onAck(ack(16)), p.sndcnt]).toEqual([16, 0])
  })

  it('pipe ≤ ssthresh: max(prr_delivered − prr_out, delivered), +1 only on an ACK that advanced SND.UNA with no new loss, capped at ssthresh − pipe', () => {
    const p = new Prr()
    p.start(10, 7)
    p.onAck(ack(3, { newlyLost: 4 })) // forced first retransmission
    p.onSent(1)
    // A SACK: max(2 − 1, 1) = 1, no bonus.
    expect([p.onAck(ack(3)), p.sndcnt]).toEqual([4, 1])
    p.onSent(1)
    // SND.UNA advanced, nothing newly lost: max(3 − 2, 1) + 1 = 2.
    expect([p.onAck(ack(3, { unaAdvanced: true })), p.sndcnt]).toEqual([5, 2])
    p.onSent(2)
    // SND.UNA advanced but the ACK also marked a loss: no bonus, max(4 − 4, 1) = 1.
    expect([p.onAck(ack(3, { unaAdvanced: true, newlyLost: 1 })), p.sndcnt]).toEqual([4, 1])
    p.onSent(1)
    // A safe ACK with pipe 6: max(5 − 5, 1) + 1 = 2, but only ssthresh − pipe = 1 fits.
    expect([p.onAck(ack(6, { unaAdvanced: true })), p.sndcnt]).toEqual([7, 1])
  })

  it('banked sends (the application sent less than allowed) are spent below ssthresh, up to ssthresh − pipe', () => {
    const p = new Prr()
    p.start(10, 7)
    p.onAck(ack(3, { newlyLost: 4 }))
    p.onSent(1)
    for (let i = 0; i < 4; i++) p.onAck(ack(3)) // nothing to send: prr_delivered 5, prr_out 1
    expect([p.delivered, p.out]).toEqual([5, 1])
    expect([p.onAck(ack(2)), p.sndcnt]).toEqual([7, 5]) // max(6 − 1, 1) = 5 ≤ 7 − 2
    expect([p.onAck(ack(5)), p.sndcnt]).toEqual([7, 2]) // max(7 − 1, 1) = 6, capped at 7 − 5
  })

  it('forces the fast retransmit: sndcnt ≥ 1 while nothing has been sent, even when pipe = ssthresh', () => {
    // Reno at cwnd 10: ssthresh 5; three SACKed and two lost leave pipe 5, so ssthresh − pipe = 0.
    const p = new Prr()
    p.start(10, 5)
    expect([p.onAck(ack(5, { newlyLost: 2 })), p.sndcnt]).toEqual([6, 1])
    // Until something is sent the floor stays 1; once it has been, the same ACK allows nothing.
    expect([p.onAck(ack(5)), p.sndcnt]).toEqual([6, 1])
    p.onSent(1)
    expect([p.onAck(ack(5)), p.sndcnt]).toEqual([5, 0])
  })

  it('never cuts cwnd below pipe: a negative proportional share counts as zero', () => {
    const p = new Prr()
    p.start(20, 14)
    p.onAck(ack(18))
    p.onSent(5) // e.g. sent under an earlier, larger window
    expect([p.onAck(ack(17)), p.sndcnt]).toEqual([17, 0]) // ⌈14 · 2 / 20⌉ − 5 = −3 → 0
  })

  it('an ACK that delivers nothing changes nothing (Linux returns early)', () => {
    const p = new Prr()
    p.start(20, 14)
    p.onAck(ack(16))
    p.onSent(1)
    const before = [p.cwnd, p.delivered, p.out, p.sndcnt]
    expect(p.onAck(ack(10, { deliveredPackets: 0, unaAdvanced: false }))).toBe(17)
    expect(p.onAck(ack(10, { deliveredPackets: 0, newlyLost: 3 }))).toBe(17)
    expect([p.cwnd, p.delivered, p.out, p.sndcnt]).toEqual(before)
  })

  it('end sets cwnd = ssthresh (tcp_end_cwnd_reduction); an infinite ssthresh keeps the window; nothing counts after', () => {
    const p = new Prr()
    p.start(20, 14)
    p.onAck(ack(16))
    expect(p.end()).toBe(14)
    expect(p.active).toBe(false)
    p.onSent(3)
    expect(p.out).toBe(0)
    expect(p.onAck(ack(2))).toBe(14)
    p.start(9, Infinity)
    expect(p.onAck(ack(8))).toBe(9) // ssthresh − pipe = ∞: max(1 − 0, 1) = 1
    expect(p.end()).toBe(9)
    // A new episode starts from zero again.
    p.start(12, 8)
    expect([p.recoverFs, p.delivered, p.out, p.cwnd]).toEqual([12, 0, 0, 12])
  })
})

describe('PRR flows (the kernel-verified scripts)', () => {
  it('prr-proportional-cubic.pkt: one loss at cwnd 20, CUBIC ssthresh 14; SACKs release 1,1,1,0,1,1,0,0, then 1 each', () => {
    // Segments 0…19 in flight, 0 lost; the script writes 14 more once recovery has started.
    const f = new Flow(20, 14, 20, 14)
    const steps: Step[] = [f.ack({ sack: [1], noNewData: true }), f.ack({ sack: [2], noNewData: true })]
    steps.push(f.ack({ sack: [3], lose: [0], enter: true }))
    for (let i = 4; i < 20; i++) steps.push(f.ack({ sack: [i] }))
    expect(steps.map((s) => s.pipe)).toEqual([19, 18, 16, 16, 16, 16, 15, 15, 15, 14, 13, 13, 13, 13, 13, 13, 13, 13, 13])
    expect(steps.slice(2).map((s) => s.sndcnt)).toEqual([1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1])
    expect(steps.map((s) => s.cwnd)).toEqual([20, 20, 17, 17, 17, 16, 16, 16, 15, 14, 14, 14, 14, 14, 14, 14, 14, 14, 14])
    expect(steps.flatMap((s) => s.sent)).toEqual(['R0', ...Array.from({ length: 13 }, (_, i) => `N${20 + i}`)])
    expect([f.prr.delivered, f.prr.out]).toEqual([17, 14])
    // The retransmission is ACKed (SND.UNA passes the recovery point): cwnd = ssthresh, one more goes out.
    expect(f.end()).toBe(14)
    expect(f.ack({ cum: 20 }).sent).toEqual(['N33'])
  })

  it('prr-proportional-reno.pkt: the same loss with Reno, ssthresh 10: every other SACK while pipe > 10, then 1 each', () => {
    const f = new Flow(20, 10, 20, 10)
    const steps: Step[] = [f.ack({ sack: [1], noNewData: true }), f.ack({ sack: [2], noNewData: true })]
    steps.push(f.ack({ sack: [3], lose: [0], enter: true }))
    for (let i = 4; i < 20; i++) steps.push(f.ack({ sack: [i] }))
    expect(steps.slice(2).map((s) => s.sndcnt)).toEqual([1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 1])
    expect(steps.slice(2).map((s) => s.pipe)).toEqual([16, 16, 15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10, 9, 9, 9, 9])
    expect([f.prr.delivered, f.prr.out]).toEqual([17, 10])
    expect(f.end()).toBe(10)
    expect(f.ack({ cum: 20 }).sent).toEqual(['N29'])
  })

  it('prr-reduction-bound.pkt: four of ten lost, pipe 3 < ssthresh 7; SACKs release one each, SND.UNA advances two each', () => {
    const f = new Flow(10, 7, 10, 7)
    const steps: Step[] = [f.ack({ sack: [4], noNewData: true }), f.ack({ sack: [5], noNewData: true })]
    steps.push(f.ack({ sack: [6], lose: [0, 1, 2, 3], enter: true }))
    for (let i = 7; i < 10; i++) steps.push(f.ack({ sack: [i] }))
    for (let una = 1; una <= 3; una++) steps.push(f.ack({ cum: una }))
    expect(steps.map((s) => s.pipe)).toEqual([9, 8, 3, 3, 3, 3, 3, 4, 5])
    expect(steps.slice(2).map((s) => s.sndcnt)).toEqual([1, 1, 1, 1, 2, 2, 2])
    expect(steps.map((s) => s.cwnd)).toEqual([10, 10, 4, 4, 4, 4, 5, 6, 7])
    expect(steps.map((s) => s.sent.join(','))).toEqual(['', '', 'R0', 'R1', 'R2', 'R3', 'N10,N11', 'N12,N13', 'N14,N15'])
    expect(f.end()).toBe(7)
    expect(f.ack({ cum: 10 }).sent).toEqual(['N16'])
  })
})

describe('PRR: the examples of RFC 6937 §3.1 (cwnd = FlightSize = 20, ssthresh 10, limited transmit)', () => {
  it('one loss: R on the third duplicate, then new data on every other ACK, ending with pipe = ssthresh', () => {
    const f = new Flow(20, 10, 20, 40)
    const steps: Step[] = [f.ack({ sack: [1] }), f.ack({ sack: [2] }), f.ack({ sack: [3], lose: [0], enter: true })]
    for (let i = 4; i < 20; i++) steps.push(f.ack({ sack: [i] }))
    const sent = steps.map((s) => (s.sent.length ? s.sent[0]![0] : '-')).join(' ')
    // ACKs 1…19. The RFC's row reads N N R - N - N - N - N - N - N - - N N: the same for ACKs 1–16. At 17–19
    // its figure shows -, N, N; with the pipe Linux computes (RFC 6675's, 11 at ACK 17) the proportional
    // share still allows one at 17 and pipe has reached ssthresh at 19, so Linux sends N, -, -.
    expect(sent).toBe('N N R - N - N - N - N - N - N - N - -')
    expect(steps.map((s) => s.pipe).slice(2)).toEqual([18, 18, 17, 17, 16, 16, 15, 15, 14, 14, 13, 13, 12, 12, 11, 11, 10])
    expect(steps[18]!.cwnd).toBe(10)
  })

  it('fifteen losses: Linux sends one retransmission per duplicate ACK, the RFC\'s PRR-CRB row (pipe 4 4 4, R R R)', () => {
    const f = new Flow(20, 10, 20, 40)
    const steps: Step[] = [f.ack({ sack: [15] }), f.ack({ sack: [16] })]
    steps.push(f.ack({ sack: [17], lose: Array.from({ length: 15 }, (_, i) => i), enter: true }))
    steps.push(f.ack({ sack: [18] }), f.ack({ sack: [19] }))
    expect(steps.map((s) => s.sent.join(','))).toEqual(['N20', 'N21', 'R0', 'R1', 'R2'])
    expect(steps.slice(2).map((s) => s.pipe)).toEqual([4, 4, 4])
    // The RFC's PRR-SSRB row (2R per ACK, pipe 4 5 6) is not what Linux does: duplicate ACKs do not advance
    // SND.UNA, so Linux keeps the conservative bound (RFC 9937 takes the same rule).
    expect(steps.slice(2).map((s) => s.sndcnt)).toEqual([1, 1, 1])
  })
})

describe('PRR: properties over random ACK sequences', () => {
  /** One random ACK: what it delivered, whether it marked losses or advanced SND.UNA, and how the pipe moved. */
  const arbAck = fc.record({
    delivered: fc.integer({ min: 0, max: 4 }),
    lost: fc.integer({ min: 0, max: 3 }),
    advanced: fc.boolean(),
    sendFraction: fc.double({ min: 0, max: 1, noNaN: true }),
  })
  const arbEpisode = fc.record({
    cwnd: fc.integer({ min: 2, max: 60 }),
    ssthreshFraction: fc.double({ min: 0.3, max: 1, noNaN: true }),
    pipeFraction: fc.double({ min: 0, max: 1, noNaN: true }),
    acks: fc.array(arbAck, { minLength: 1, maxLength: 60 }),
  })

  it('cwnd ≥ pipe after every delivering ACK; prr_out ≤ prr_delivered + safe ACKs; above ssthresh, prr_out ≤ ⌈ssthresh · prr_delivered / RecoverFS⌉', () => {
    fc.assert(
      fc.property(arbEpisode, ({ cwnd, ssthreshFraction, pipeFraction, acks }) => {
        const ssthresh = Math.max(2, Math.floor(cwnd * ssthreshFraction))
        let pipe = Math.floor(cwnd * pipeFraction)
        const p = new Prr()
        p.start(cwnd, ssthresh)
        let safeAcks = 0
        let alwaysAbove = true
        for (const a of acks) {
          // An ACK that delivers nothing marks nothing either (a pure duplicate or window update): the
          // bounds below are about what deliveries release. A delivering ACK takes its segments out of pipe.
          const lost = a.delivered > 0 ? a.lost : 0
          pipe = Math.max(0, pipe - a.delivered - lost)
          const before = p.cwnd
          const w = p.onAck({ deliveredPackets: a.delivered, newlyLost: lost, unaAdvanced: a.advanced, inFlightPackets: pipe })
          if (a.delivered <= 0) {
            expect(w).toBe(before)
            continue
          }
          if (a.advanced && lost === 0) safeAcks++
          if (pipe <= ssthresh) alwaysAbove = false
          expect(w).toBeGreaterThanOrEqual(pipe)
          expect(w - pipe).toBe(p.sndcnt)
          // The sender may send less than allowed (application-limited), never more.
          const n = Math.floor(p.sndcnt * a.sendFraction)
          p.onSent(n)
          pipe += n
          expect(p.out).toBeLessThanOrEqual(p.delivered + safeAcks)
          if (alwaysAbove) expect(p.out).toBeLessThanOrEqual(Math.ceil((ssthresh * p.delivered) / cwnd))
        }
        expect(p.end()).toBe(ssthresh)
      }),
      { numRuns: 500 },
    )
  })

  it('with no ACK advancing SND.UNA (only SACKs), what is sent never exceeds what was delivered (PRR-CRB, RFC 6937 §4)', () => {
    fc.assert(
      fc.property(arbEpisode, ({ cwnd, ssthreshFraction, pipeFraction, acks }) => {
        const ssthresh = Math.max(2, Math.floor(cwnd * ssthreshFraction))
        let pipe = Math.floor(cwnd * pipeFraction)
        const p = new Prr()
        p.start(cwnd, ssthresh)
        for (const a of acks) {
          if (a.delivered === 0) continue
          pipe = Math.max(0, pipe - a.delivered - a.lost)
          p.onAck({ deliveredPackets: a.delivered, newlyLost: a.lost, unaAdvanced: false, inFlightPackets: pipe })
          p.onSent(p.sndcnt) // a sender with data to spare sends everything it may
          pipe += p.sndcnt
          expect(p.out).toBeLessThanOrEqual(p.delivered)
        }
      }),
      { numRuns: 500 },
    )
  })
})
