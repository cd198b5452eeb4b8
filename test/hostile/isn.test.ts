/**
 * Issue 7, item 6: ISN quality, what test/tcp/isn.test.ts does not already cover (that file checks the
 * RFC 6528 construction against an independent SHA-256, 100,000 ISNs for one 4-tuple without repeats over
 * ~50 s, and the lag-1 correlation of random 4-tuples). Here: one 4-tuple across the WHOLE clock window
 * (4.77 h), the blind attacker's view (the ISN of port p known, port p+1 guessed; the next connection of a
 * sequential-port client), bit balance, the ISNs the TCB and the listener really use, and the 24 bits a SYN
 * cookie leaves unpredictable. Every input is fixed, so every statistic is a fixed number: no flakiness.
 */
import { describe, expect, it } from 'vitest'
import { lag1 } from '../helpers/stats.js'
import { isnClock, isnFor } from '../../src/tcp/isn.js'
import { Listener } from '../../src/tcp/listener.js'
import { seq, seqGt } from '../../src/tcp/seq.js'
import { TcpFlags, type TcpRepr } from '../../src/tcp/segment.js'
import { Tcb } from '../../src/tcp/tcb.js'
import type { FourTuple } from '../../src/tcp/types.js'

const KEY = new Uint8Array(32).map((_, i) => (i * 29 + 3) & 0xff)
const N = 100_000
/** The clock window: M wraps after 2^32 ticks of 4 µs. */
const WINDOW_US = 4 * 2 ** 32

const tuple = (localPort: number, remoteLast = 2): FourTuple => ({
  localAddr: Uint8Array.of(198, 18, 0, 1),
  localPort,
  remoteAddr: Uint8Array.of(198, 18, 0, remoteLast),
  remotePort: 80,
})

/** Pearson's chi-square of `counts` against a uniform expectation. */
function chiSquare(counts: Uint32Array | number[]): number {
  let n = 0
  for (const c of counts) n += c
  const e = n / counts.length
  let x = 0
  for (const c of counts) x += (c - e) ** 2 / e
  return x
}

/** Upper bound for a chi-square with `dof` degrees of freedom: mean + 5 standard deviations. */
const chiBound = (dof: number): number => dof + 5 * Math.sqrt(2 * dof)

describe('one 4-tuple over the whole clock window', () => {
  it('100,000 ISNs spread over 4.77 h: all distinct, each after the one before (TIME-WAIT reuse is safe)', () => {
    const t = tuple(40000)
    const step = Math.floor(WINDOW_US / N / 4) * 4
    const seen = new Set<number>()
    let prev = isnFor(KEY, t, 0)
    seen.add(prev)
    let backwards = 0
    let offStep = 0
    for (let i = 1; i < N; i++) {
      const cur = isnFor(KEY, t, i * step)
      seen.add(cur)
      // Within one tuple the ISN is M + F with F fixed: it moves forward with the clock, in sequence space.
      if (!seqGt(cur, prev)) backwards++
      if ((cur - prev) >>> 0 !== step / 4) offStep++
      prev = cur
    }
    expect({ backwards, offStep }).toEqual({ backwards: 0, offStep: 0 })
    expect(seen.size).toBe(N)
    // A full window later the clock has wrapped: the same ISN again (the RFC 6528 clock's period).
    expect(isnFor(KEY, t, WINDOW_US)).toBe(isnFor(KEY, t, 0))
    // Within one 4 µs tick the ISN does not move: two opens of the same 4-tuple in one tick repeat it.
    expect(isnFor(KEY, t, 1_000_003)).toBe(isnFor(KEY, t, 1_000_000))
    expect(isnClock(1_000_004) - isnClock(1_000_000)).toBe(1)
  })
})

describe("a blind attacker's view: the ISN of one connection says nothing about the next", () => {
  it('sequential source ports at the same instant: differences uniform, bits balanced, no lag-1 correlation', () => {
    const now = 123_456_789
    const isns = new Float64Array(N)
    const deltaHigh = new Uint32Array(256)
    const deltaLow = new Uint32Array(256)
    const ones = new Uint32Array(32)
    for (let i = 0; i < N; i++) {
      // A client that opens its connections from ports 1024, 1025, … (Windows XP did); past 64,000 ports
      // the next remote address (every 4-tuple is distinct: a repeated one would repeat its ISN).
      const v = isnFor(KEY, tuple(1024 + (i % 64000), 2 + Math.floor(i / 64000)), now)
      isns[i] = v
      for (let b = 0; b < 32; b++) if ((v >>> b) & 1) ones[b]++
      if (i > 0) {
        const d = (v - isns[i - 1]) >>> 0
        deltaHigh[d >>> 24]++
        deltaLow[d & 0xff]++
      }
    }
    // Knowing ISN(p) does not narrow ISN(p+1): the difference is uniform in its high and low bytes.
    expect(chiSquare(deltaHigh)).toBeLessThan(chiBound(255))
    expect(chiSquare(deltaLow)).toBeLessThan(chiBound(255))
    // Every bit is set about half the time (±1%).
    for (let b = 0; b < 32; b++) expect(Math.abs(ones[b] / N - 0.5), `bit ${b}`).toBeLessThan(0.01)
    expect(Math.abs(lag1(isns))).toBeLessThan(0.02)
  })

  it('the same port a little later (the next connection of the same client) is just as unrelated', () => {
    const high = new Uint32Array(256)
    let prev = 0
    for (let i = 0; i < N; i++) {
      const v = isnFor(KEY, tuple(1024 + (i % 64000), 2 + Math.floor(i / 64000)), 1_000_000 + i * 1000)
      if (i > 0) high[((v - prev) >>> 0) >>> 24]++
      prev = v
    }
    expect(chiSquare(high)).toBeLessThan(chiBound(255))
  })
})

describe('the ISNs the stack really uses', () => {
  it('Tcb.connect with the process key: RFC 6528 structure per tuple, unrelated across tuples', () => {
    const t0 = 5_000_000
    const a = Tcb.connect(tuple(30000), t0, {}).iss
    const high = new Uint32Array(256)
    let prev = a
    for (let i = 1; i <= 20_000; i++) {
      const v = Tcb.connect(tuple(30000 + i), t0 + i * 40, {}).iss
      high[((v - prev) >>> 0) >>> 24]++
      prev = v
    }
    expect(chiSquare(high)).toBeLessThan(chiBound(255))
    // Same tuple 1 s later: exactly 250,000 ticks further.
    expect((Tcb.connect(tuple(30000), t0 + 1_000_000, {}).iss - a) >>> 0).toBe(250_000)
  })

  it("the listener's SYN+ACK: RFC 6528 ISN from the half-open path; a SYN cookie keeps 24 unpredictable bits", () => {
    const syn = (port: number, isn: number): TcpRepr => ({
      srcPort: port, dstPort: 80, seq: seq(isn), ack: seq(0), flags: TcpFlags.SYN, window: 64240, urgent: 0,
      options: [{ kind: 'mss', value: 1460 }], payload: new Uint8Array(0),
    })
    const listener = (maxHalfOpen: number) =>
      new Listener({ localPort: 80, backlog: 1 << 20, maxHalfOpen, synCookies: true, config: { isnSecret: KEY } })
    const peer = (p: number): FourTuple => ({ localAddr: Uint8Array.of(198, 18, 0, 1), localPort: 80, remoteAddr: Uint8Array.of(198, 18, 0, 2), remotePort: p })

    // Half-open path: the child TCB's ISS is exactly RFC 6528's.
    const l = listener(1 << 20)
    const child = l.process(7_000_000, syn(40001, 99), peer(40001))
    expect(child).toBeInstanceOf(Tcb)
    expect((child as Tcb).iss).toBe(isnFor(KEY, peer(40001), 7_000_000))

    // Cookie path (no half-open slots): t (5 bits) and the MSS index (3 bits) are public by design
    // (RFC 4987 §3.6); the low 24 bits must be uniform and unrelated from one SYN to the next.
    const c = listener(0)
    const top = new Set<number>()
    const low = new Uint32Array(256)
    const lowDelta = new Uint32Array(256)
    let prev = 0
    for (let i = 0; i < N; i++) {
      // Distinct 4-tuples (a spoofed flood): ports cycle, the client ISN differs every time.
      const r = c.process(61_000_000 + i, syn(1024 + (i % 64000), i * 7919), peer(1024 + (i % 64000)))
      const s = (r as TcpRepr).seq
      expect((r as TcpRepr).flags).toBe(TcpFlags.SYN | TcpFlags.ACK)
      top.add(s >>> 24)
      low[(s >>> 8) & 0xff]++
      if (i > 0) lowDelta[((s - prev) >>> 8) & 0xff]++
      prev = s
    }
    expect(c.stats.cookiesSent).toBe(N)
    // One minute (t = 1), MSS 1460 (index 3): the top byte is the same for all of them.
    expect([...top]).toEqual([(1 << 3) | 3])
    expect(chiSquare(low)).toBeLessThan(chiBound(255))
    expect(chiSquare(lowDelta)).toBeLessThan(chiBound(255))
  })
})
