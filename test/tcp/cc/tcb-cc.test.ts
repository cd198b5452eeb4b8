/**
 * The TCB drives its congestion controller: with `congestionControl: 'cubic'` the reductions are CUBIC's
 * (β = 0.7) where Reno's halve, on an RTO and on a NewReno fast retransmit; the default stays Reno.
 */
import { describe, expect, it } from 'vitest'
import { ACK, L, PLAIN, R, REMOTE_ISS, SYN, TUPLE, drain, expectSent, send, tcbEstablished } from '../helpers.js'
import { Tcb } from '../../../src/tcp/tcb.js'
import type { Cubic } from '../../../src/tcp/cc/cubic.js'

const M = 1460
const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i & 0xff)

describe('the TCB with a congestion controller by name', () => {
  it('defaults to reno', () => {
    const t = tcbEstablished()
    expect([t.cc.name, t.config.congestionControl]).toEqual(['reno', 'reno'])
  })

  it('cubic: an RTO sets ssthresh = max(⌊FlightSize·0.7⌋, 2·SMSS) and cwnd = 1 segment', () => {
    const t = tcbEstablished({ congestionControl: 'cubic' })
    expect(t.cc.name).toBe('cubic')
    expect(t.cwnd).toBe(10 * M + 1) // IW 10 plus the octet of the SYN, as with Reno
    t.send(bytes(3 * M))
    expect(drain(t).map((s) => s.seq)).toEqual([L(0), L(M), L(2 * M)])
    expectSent(t, { seq: L(0), payload: bytes(M) }, 200_000)
    expect([t.cwnd, t.ssthresh]).toEqual([M, 3066]) // ⌊4380·0.7⌋; Reno would say 2920
  })

  it('cubic: three duplicate ACKs (NewReno) set ssthresh = ⌊FlightSize·0.7⌋ and cwnd = ssthresh + 3·SMSS', () => {
    const t = tcbEstablished({ congestionControl: 'cubic' })
    t.send(bytes(6 * M))
    expect(drain(t)).toHaveLength(6)
    for (let i = 0; i < 3; i++) send(t, { seq: R(0), ack: L(0) }, 10_000)
    expectSent(t, { seq: L(0), ack: R(0), flags: ACK, payload: bytes(M) }, 10_000)
    expect([t.ssthresh, t.cwnd]).toEqual([6132, 6132 + 3 * M]) // ⌊8760·0.7⌋ = 6132
    expect(t.checkInvariants()).toBeUndefined()
  })

  it('with SACK the controller gets an RTT sample from the transmission log on every ACK, to the µs (Linux ca_rtt)', () => {
    const t = Tcb.connect(TUPLE, 0, { ...PLAIN, sackPermitted: true, congestionControl: 'cubic' })
    t.dispatch(0)
    send(t, { seq: REMOTE_ISS, ack: L(0), flags: SYN | ACK, options: [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }] }, 10_000)
    drain(t, 10_000)
    const cubic = t.cc as Cubic
    expect(cubic.minRtt).toBe(10_000) // the SYN's, through the RTO estimator
    t.send(bytes(M))
    expect(drain(t, 10_000)).toHaveLength(1) // timed by the RTO estimator (Karn: one at a time)
    t.send(bytes(M))
    expect(drain(t, 15_000)).toHaveLength(1) // not timed by it
    send(t, { seq: R(0), ack: L(M) }, 20_000)
    expect([t.rtt.srtt, cubic.minRtt]).toEqual([10_000, 10_000])
    send(t, { seq: R(0), ack: L(2 * M) }, 21_000)
    // Only the log times the second segment: 21 − 15 = 6 ms; the RTO estimator has no sample for it.
    expect([t.rtt.srtt, t.stats.rttSamples, cubic.minRtt]).toEqual([10_000, 2, 6_000])
  })
})

