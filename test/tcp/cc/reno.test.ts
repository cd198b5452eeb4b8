/**
 * Reno (RFC 5681) as a module: the exact windows of slow start (L = 1 SMSS, RFC 3465), congestion
 * avoidance (SMSS·SMSS/cwnd per ACK), the loss and RTO reductions (equation 4), and the factory by name.
 */
import { describe, expect, it } from 'vitest'
import { CC_NAMES, createCongestionControl, Reno } from '../../../src/tcp/cc/index.js'
import { resolveConfig } from '../../../src/tcp/types.js'
import { seq } from '../../../src/tcp/seq.js'

const M = 1460

describe('Reno', () => {
  it('slow start adds min(acked, SMSS) per ACK from the initial window', () => {
    const r = new Reno()
    r.init(10 * M, 0)
    expect([r.cwnd, r.ssthresh]).toEqual([14_600, Infinity])
    r.onAck(M, M, 1)
    expect(r.cwnd).toBe(16_060)
    r.onAck(3 * M, M, 2) // a stretch ACK still counts one SMSS (RFC 3465 with L = 1)
    expect(r.cwnd).toBe(17_520)
    r.onAck(1, M, 3) // the ACK of a SYN: one octet
    expect(r.cwnd).toBe(17_521)
    r.onRttSample(10_000, 4, M, seq(0), seq(1)) // no effect
    expect([r.cwnd, r.ssthresh]).toEqual([17_521, Infinity])
  })

  it("with Linux's rule ('acked') slow start counts every acknowledged byte, up to ssthresh, the rest in congestion avoidance", () => {
    const r = new Reno('acked')
    r.init(10 * M, 0)
    r.onAck(2 * M, M, 1) // an ACK of two segments opens the window by two (tcp_slow_start)
    expect(r.cwnd).toBe(12 * M)
    r.onRto(26 * M, M, 2) // ssthresh 13 segments, cwnd 1
    r.onAck(10 * M, M, 3) // one stretch ACK of 10: slow start to 11
    expect([r.cwnd, r.ssthresh]).toEqual([11 * M, 13 * M])
    r.onAck(5 * M, M, 4) // 2 segments take it to ssthresh; the 3 left over are one congestion-avoidance step
    expect(r.cwnd).toBe(13 * M + Math.floor((M * M) / (13 * M)))
    // The factory passes the rule on; RFC 5681's stays the default.
    const a = createCongestionControl('reno', { slowStart: 'acked' })
    const d = createCongestionControl('reno')
    for (const c of [a, d]) c.init(10 * M, 0)
    a.onAck(3 * M, M, 1)
    d.onAck(3 * M, M, 1)
    expect([a.cwnd, d.cwnd]).toEqual([13 * M, 11 * M])
  })

  it('a loss halves the flight (at least 2·SMSS); congestion avoidance adds ⌊SMSS²/cwnd⌋ (at least 1)', () => {
    const r = new Reno()
    r.init(20_000, 0)
    r.onLoss('dupack', 20_000, M, 1)
    expect([r.cwnd, r.ssthresh]).toEqual([10_000, 10_000])
    r.onAck(M, M, 2)
    expect(r.cwnd).toBe(10_000 + 213) // ⌊1460² / 10000⌋ = ⌊213.16⌋
    r.onLoss('sack', 1_000, M, 3)
    expect([r.cwnd, r.ssthresh]).toEqual([2 * M, 2 * M])
    r.setRecoveryWindow(3 * M + 7)
    expect(r.cwnd).toBe(3 * M + 7)
    // After a repaired tail loss probe the basis is cwnd, not the (one-segment) flight.
    r.setRecoveryWindow(10_213)
    r.onLoss('tlp', M, M, 4)
    expect([r.cwnd, r.ssthresh]).toEqual([5_106, 5_106])
    // Huge windows: the increase never rounds to 0.
    r.setRecoveryWindow(M * M * 4)
    r.onAck(M, M, 5)
    expect(r.cwnd).toBe(M * M * 4 + 1)
  })

  it('an RTO: ssthresh = max(FlightSize/2, 2·SMSS), cwnd = one segment, then slow start again', () => {
    const r = new Reno()
    r.init(10 * M, 0)
    r.onRto(30_000, M, 1)
    expect([r.cwnd, r.ssthresh]).toEqual([M, 15_000])
    r.onAck(M, M, 2)
    expect(r.cwnd).toBe(2 * M)
    r.onRto(M, M, 3)
    expect([r.cwnd, r.ssthresh]).toEqual([M, 2 * M])
  })
})

describe('createCongestionControl', () => {
  it('builds each algorithm by name, and the config defaults to reno and rejects unknown names', () => {
    expect(CC_NAMES).toEqual(['reno', 'cubic'])
    for (const n of CC_NAMES) expect(createCongestionControl(n).name).toBe(n)
    expect(() => createCongestionControl('vegas' as never)).toThrow(RangeError)
    expect(resolveConfig().congestionControl).toBe('reno')
    expect(resolveConfig({ congestionControl: 'cubic' }).congestionControl).toBe('cubic')
    expect(() => resolveConfig({ congestionControl: 'bbr' as never })).toThrow(/congestionControl bbr is not one of reno, cubic/)
  })
})
