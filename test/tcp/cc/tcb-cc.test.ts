/**
 * The TCB drives its congestion controller: with `congestionControl: 'cubic'` the reductions are CUBIC's
 * (β = 0.7) where Reno's halve, on an RTO and on a NewReno fast retransmit; the default stays Reno.
 */
import { describe, expect, it } from 'vitest'
import { ACK, L, R, drain, expectSent, send, tcbEstablished } from '../helpers.js'

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
})
