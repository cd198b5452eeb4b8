/**
 * CUBIC (RFC 9438 / RFC 8312) as a module, with the expected windows computed here from the RFC's own
 * formula: W_cubic(t) = C·(t − K)³ + W_max, K = ∛(W_max·(1 − β)/C), C = 0.4, β = 0.7. Windows in the
 * comments are in segments; the module keeps bytes (SMSS 1000 here, so 1 segment = 1000 bytes). The
 * controller grows cwnd toward W_cubic(t + RTT) by (target − cwnd)/cwnd per segment acknowledged, so an ACK
 * of one whole window moves cwnd onto the target (within the byte the window is rounded to).
 */
import { describe, expect, it } from 'vitest'
import { CUBIC_ALPHA, Cubic, cubicK, wCubic } from '../../../src/tcp/cc/cubic.js'
import { seq } from '../../../src/tcp/seq.js'

const S = 1000 // SMSS
const SEC = 1_000_000
const MS = 1_000

/** The RFC's curve for W_max = 100 segments after a loss: K = ∛(100·0.3/0.4) = ∛75. */
const K100 = Math.cbrt(75)
const W100 = (t: number): number => 0.4 * (t - K100) ** 3 + 100

/** A CUBIC controller that lost at `w` segments (flight = cwnd), with minimum RTT `rtt` µs. */
function afterLoss(w: number, rtt: number): Cubic {
  const c = new Cubic()
  c.init(w * S, 0)
  c.onRttSample(rtt, 0, S, seq(0), seq(w * S)) // only the minimum RTT: HyStart needs slow start
  c.onLoss('sack', w * S, S, 0)
  return c
}

/** ACKs a whole window at `now` (µs) and returns cwnd in segments. */
function ackWindow(c: Cubic, now: number): number {
  c.onAck(c.cwnd, S, now)
  return c.cwnd / S
}

describe('CUBIC: the window curve (RFC 9438 §4.2, §4.4, §4.5)', () => {
  it('K ≈ 4.2172 s for W_max = 100, W(0) = β·W_max = 70, W(K) = W_max, and the convex side', () => {
    expect(K100).toBeCloseTo(4.2172, 4)
    expect(cubicK(100, 70)).toBeCloseTo(4.2172, 4)
    expect(wCubic(0, K100, 100)).toBeCloseTo(70, 9)
    expect(wCubic(K100, K100, 100)).toBe(100)
    expect(wCubic(K100 + 1, K100, 100)).toBeCloseTo(100.4, 9)
    expect(wCubic(K100 + 2, K100, 100)).toBeCloseTo(103.2, 9)
    expect(wCubic(K100 - 1, K100, 100)).toBeCloseTo(99.6, 9)
  })

  it('a loss at 100 segments: ssthresh = cwnd = 70, W_max = 100; each whole-window ACK lands on W(t + RTT)', () => {
    const rtt = 100 * MS
    const c = afterLoss(100, rtt)
    expect([c.cwnd, c.ssthresh, c.wMax, c.cwndPrior]).toEqual([70_000, 70_000, 100, 100])
    const t0 = 1 * SEC
    // The first ACK of the epoch: t = 0, W_cubic(0) = 70 but W_est = 70 + α, so the Reno-friendly region
    // (§4.3) rules for this one ACK.
    expect(ackWindow(c, t0)).toBeCloseTo(70 + CUBIC_ALPHA, 2)
    expect(c.k).toBeCloseTo(4.2172, 4)
    // Then the concave region: W(t + RTT), checked at known points up to K and past it.
    for (const t of [0.1, 1, 2, 3, K100 - 0.1, K100 + 0.9, K100 + 1.9]) {
      const got = ackWindow(c, t0 + Math.round(t * SEC))
      expect(Math.abs(got - W100(t + 0.1))).toBeLessThan(0.002) // within about a byte of the curve
    }
    // The known points themselves: W(K) = 100, W(K + 1) = 100.4, W(K + 2) = 103.2.
    expect(W100(K100)).toBe(100)
    expect(c.cwnd).toBeGreaterThanOrEqual(103_199)
    expect(c.cwnd).toBeLessThanOrEqual(103_201)
  })

  it('the target is capped at 1.5·cwnd per RTT (§4.4), and a window above W_max starts with K = 0', () => {
    const c = afterLoss(100, 100 * MS)
    ackWindow(c, SEC)
    // Ten seconds later W(t) is far above 1.5·cwnd: one whole-window ACK grows cwnd by half.
    const before = c.cwnd / S
    expect(ackWindow(c, 11 * SEC)).toBeCloseTo(1.5 * before, 2)
    // A new epoch after a loss at a window above the last W_max: W_max ← cwnd (no fast convergence).
    const w = c.cwnd / S
    c.onLoss('sack', c.cwnd, S, 12 * SEC)
    expect(c.wMax).toBeCloseTo(w, 2) // cwnd in whole bytes; W_max keeps the fraction
  })
})

describe('CUBIC: the Reno-friendly region (RFC 9438 §4.3)', () => {
  it('a small window on a short RTT grows as W_est: α = 3(1−β)/(1+β) per window, then 1 past cwnd_prior', () => {
    expect(CUBIC_ALPHA).toBeCloseTo(0.9 / 1.7, 12)
    const c = afterLoss(10, 1 * MS) // K = ∛(10·0.3/0.4) ≈ 1.957 s: the cubic curve stays near 7 for a while
    expect(c.cwnd).toBe(7_000)
    const t0 = 2 * SEC
    let est = 7
    for (let n = 1; n <= 8; n++) {
      const t = (n - 1) * MS
      // One window per millisecond: W_est gains α while below cwnd_prior = 10, then 1.
      est += est >= 10 ? 1 : CUBIC_ALPHA
      const wc = 0.4 * (t / SEC - Math.cbrt(7.5)) ** 3 + 10
      expect(wc).toBeLessThan(est) // the cubic curve is below W_est: the Reno-friendly region
      const got = ackWindow(c, t0 + t)
      expect(Math.abs(got - est)).toBeLessThan(0.002)
    }
    // 7 + 6α ≥ 10, so the 7th and 8th windows added 1 each.
    expect(est).toBeCloseTo(7 + 6 * CUBIC_ALPHA + 2, 9)
  })
})

describe('CUBIC: fast convergence (RFC 9438 §4.7)', () => {
  it('a loss below the previous W_max sets W_max = cwnd·(1 + β)/2; K follows from it', () => {
    const c = afterLoss(100, 100 * MS)
    expect(c.wMax).toBe(100)
    // The window regained only 90 segments before the next loss.
    c.setRecoveryWindow(90 * S)
    c.onLoss('sack', 90 * S, S, 5 * SEC)
    expect(c.wMax).toBeCloseTo(90 * 1.7 / 2, 9) // 76.5
    expect([c.cwnd, c.ssthresh, c.cwndPrior]).toEqual([63_000, 63_000, 90])
    ackWindow(c, 6 * SEC)
    expect(c.k).toBeCloseTo(Math.cbrt((76.5 - 63) / 0.4), 9) // ∛33.75 ≈ 3.2317
    expect(c.k).toBeCloseTo(3.2317, 4)
  })

  it('after a repaired tail loss probe the basis is cwnd; ssthresh never goes below 2·SMSS', () => {
    const c = new Cubic()
    c.init(20 * S, 0)
    c.onLoss('tlp', 1 * S, S, 1)
    expect([c.cwnd, c.ssthresh]).toEqual([14_000, 14_000])
    c.onLoss('sack', 1 * S, S, 2)
    expect([c.cwnd, c.ssthresh]).toEqual([2 * S, 2 * S])
  })
})

describe('CUBIC: RTO (RFC 9438 §4.8)', () => {
  it('ssthresh = FlightSize·β, cwnd = 1 segment, and the next epoch starts with K = 0 at its own window', () => {
    const c = afterLoss(100, 100 * MS)
    c.onRto(50 * S, S, SEC)
    expect([c.cwnd, c.ssthresh, c.wMax]).toEqual([S, 35_000, 0])
    for (let i = 0; i < 34; i++) c.onAck(S, S, SEC + i) // slow start back to ssthresh
    expect(c.cwnd).toBe(35_000)
    ackWindow(c, 2 * SEC)
    expect([c.k, c.origin]).toEqual([0, 35])
  })
})

describe("CUBIC: slow start with Linux's rule (the 'linux' profile)", () => {
  it('a stretch ACK opens the window by every segment it covers; past ssthresh the rest is congestion avoidance', () => {
    const c = new Cubic('acked')
    c.init(10 * S, 0)
    c.onAck(10 * S, S, 1)
    expect(c.cwnd).toBe(20 * S) // 10 → 20 on one ACK, as packetdrill's slow-start scripts see on the kernel
    c.onRto(40 * S, S, 2) // ssthresh = 28 segments (β 0.7), cwnd 1
    c.onAck(30 * S, S, 3) // 27 segments of slow start, 3 left for the first epoch of congestion avoidance
    expect(c.ssthresh).toBe(28 * S)
    // 28 segments, then the first epoch's W_est grows by α = 1 (cwnd_prior was cleared by the RTO) × 3/28.
    expect(c.cwnd).toBe(Math.floor((28 + 3 / 28) * S))
    expect([c.epochStart, c.k, c.origin]).toEqual([3, 0, 28])
    const rfc = new Cubic()
    rfc.init(10 * S, 0)
    rfc.onAck(10 * S, S, 1)
    expect(rfc.cwnd).toBe(11 * S) // RFC 5681's one SMSS per ACK, the default
  })
})

describe('HyStart (Linux tcp_cubic.c): leaving slow start before a loss', () => {
  /** A controller in slow start at `w` segments whose first RTT sample (at t = 0) is `base` µs. */
  function slowStart(w: number, base: number): Cubic {
    const c = new Cubic()
    c.init(w * S, 0)
    c.onRttSample(base, 0, S, seq(1), seq(1 + w * S)) // round 1 ends when SND.UNA passes w·S
    return c
  }

  it('delay increase: a round whose first 8 samples all exceed minRTT + max(minRTT/8, 4 ms) ends slow start', () => {
    const c = slowStart(20, 10 * MS)
    expect(c.minRtt).toBe(10 * MS)
    // Round 2 (SND.UNA past the first round's end), samples 3 ms apart (no ACK train): 14.5 ms > 10 + 4.
    let now = 0
    const una = seq(2 + 20 * S)
    for (let i = 0; i < 8; i++) {
      now += 3 * MS
      c.onRttSample(14.5 * MS, now, S, una, seq(40 * S))
      expect(c.hystartFound).toBe(false)
    }
    c.onRttSample(14.5 * MS, now + 3 * MS, S, una, seq(40 * S))
    expect(c.hystartFound).toBe(true)
    expect([c.cwnd, c.ssthresh]).toEqual([20_000, 20_000])
    // Slow start is over: the next ACK grows cwnd by congestion avoidance, far less than a segment.
    c.onAck(S, S, now + 4 * MS)
    expect(c.cwnd).toBeLessThan(20_100)
  })

  it('no exit when the round stays within the threshold (14 ms = 10 + 4 is not above it)', () => {
    const c = slowStart(20, 10 * MS)
    let now = 0
    for (let i = 0; i < 20; i++) {
      now += 3 * MS
      c.onRttSample(14 * MS, now, S, seq(2 + 20 * S), seq(40 * S))
    }
    expect(c.hystartFound).toBe(false)
    expect(c.ssthresh).toBe(Infinity)
  })

  it('ACK train: ACKs at most 2 ms apart for longer than minRTT/2 after the round began end slow start', () => {
    const c = slowStart(20, 10 * MS)
    const una = seq(2 + 20 * S)
    const t0 = 50 * MS
    // The round starts at t0; ACKs every millisecond; minRTT/2 = 5 ms.
    for (let i = 0; i <= 5; i++) {
      c.onRttSample(10 * MS, t0 + i * MS, S, una, seq(40 * S))
      expect(c.hystartFound).toBe(false) // 5 ms is not more than 5 ms
    }
    c.onRttSample(10 * MS, t0 + 6 * MS, S, una, seq(40 * S))
    expect(c.hystartFound).toBe(true)
    expect(c.ssthresh).toBe(20_000)
  })

  it('below 16 segments HyStart does not run', () => {
    const c = slowStart(15, 10 * MS)
    let now = 0
    for (let i = 0; i < 12; i++) {
      now += 3 * MS
      c.onRttSample(30 * MS, now, S, seq(2 + 15 * S), seq(40 * S))
    }
    expect([c.hystartFound, c.ssthresh]).toEqual([false, Infinity])
  })

  it('an RTO clears an exit found (and the minimum RTT), so the next slow start runs HyStart again', () => {
    const c = slowStart(20, 10 * MS)
    for (let i = 0; i <= 6; i++) c.onRttSample(10 * MS, 50 * MS + i * MS, S, seq(2 + 20 * S), seq(40 * S))
    expect(c.hystartFound).toBe(true)
    c.onRto(20 * S, S, SEC)
    expect([c.hystartFound, c.minRtt, c.cwnd, c.ssthresh]).toEqual([false, undefined, S, 14_000])
  })
})
