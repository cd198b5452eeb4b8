/**
 * Linux's quick-ack mode as a module (src/tcp/quickack.ts), with counts worked out from Linux's rules:
 * quick ACKs = clamp(⌊rcv_wnd / (2·rcv_mss)⌋, 2 when 0, at most 16); rcv_mss starts at
 * max(min(advmss, mss, rcv_wnd/2, 536), 88) and rises to the size of a larger segment. And the TCB with
 * profile 'linux': quick ACKs at the start, delayed ACKs after, quick ACKs again after a retransmission.
 */
import { describe, expect, it } from 'vitest'
import { MAX_QUICKACKS, QuickAck } from '../../src/tcp/quickack.js'
import { ACK, FIN, L, R, drain, send, tcbEstablished, tcbFinWait2 } from './helpers.js'

describe('QuickAck', () => {
  it('the first data starts 16 quick ACKs with a 64 KB window (⌊65535/1072⌋ = 61, capped), each ACK uses one', () => {
    const q = new QuickAck()
    q.onData(0, 100, 1460, 1448, 65535, 200_000)
    expect([q.rcvMss, q.quick, q.active]).toEqual([536, MAX_QUICKACKS, true])
    for (let i = 0; i < 16; i++) q.onAckSent()
    expect([q.quick, q.active]).toEqual([0, false])
    q.onAckSent()
    expect(q.quick).toBe(0)
  })

  it('small windows: ⌊1000/1000⌋ = 1; ⌊100/176⌋ = 0 becomes 2 (rcv_mss floor 88); full-size segments raise rcv_mss', () => {
    const a = new QuickAck()
    a.onData(0, 10, 1460, 1460, 1000, 200_000)
    expect([a.rcvMss, a.quick]).toEqual([500, 1])
    const b = new QuickAck()
    b.onData(0, 10, 1460, 1460, 100, 200_000)
    expect([b.rcvMss, b.quick]).toEqual([88, 2])
    const c = new QuickAck()
    c.onData(0, 1460, 1460, 1460, 20_000, 200_000)
    expect([c.rcvMss, c.quick]).toEqual([1460, 6]) // ⌊20000/2920⌋
  })

  it('again after more than an RTO without data, not after less; enter() re-arms after a retransmission', () => {
    const q = new QuickAck()
    q.onData(0, 100, 1460, 1460, 65535, 200_000)
    for (let i = 0; i < 16; i++) q.onAckSent()
    q.onData(200_000, 100, 1460, 1460, 65535, 200_000) // exactly one RTO: not more
    expect(q.quick).toBe(0)
    q.onData(400_001, 100, 1460, 1460, 65535, 200_000)
    expect(q.quick).toBe(16)
    for (let i = 0; i < 16; i++) q.onAckSent()
    q.enter(65535)
    expect(q.quick).toBe(16)
  })
})

describe("the TCB with profile 'linux'", () => {
  it('ACKs the first 16 small segments at once, delays the 17th, and quick-ACKs again after a retransmission', () => {
    const t = tcbEstablished({ profile: 'linux', ackDelay: 40_000 })
    let off = 0
    const now = (i: number): number => 1_000 + i * 100_000
    for (let i = 0; i < 17; i++) {
      send(t, { seq: R(off), ack: L(0), payload: 'x'.repeat(100) }, now(i))
      off += 100
      const out = drain(t, now(i))
      if (i < 16) expect(out.map((s) => [s.flags, s.ack])).toEqual([[ACK, R(off)]])
      else expect(out).toEqual([])
    }
    expect(t.pollAt()).toBe(now(16) + 40_000)
    expect(drain(t, now(16) + 40_000).map((s) => s.ack)).toEqual([R(off)])
    // The peer resends the last segment (its ACK came late): an ACK at once, and quick-ack mode again.
    send(t, { seq: R(off - 100), ack: L(0), payload: 'x'.repeat(100) }, now(17))
    expect(drain(t, now(17)).map((s) => s.ack)).toEqual([R(off)])
    send(t, { seq: R(off), ack: L(0), payload: 'y'.repeat(100) }, now(18))
    expect(drain(t, now(18)).map((s) => s.ack)).toEqual([R(off + 100)])
  })

  it('a FIN in ESTABLISHED (ping-pong mode): its ACK is delayed even with quick ACKs left, data riding with it too', () => {
    const bare = tcbEstablished({ profile: 'linux', ackDelay: 40_000 })
    send(bare, { seq: R(0), ack: L(0), payload: 'hi' }, 1_000)
    expect(drain(bare, 1_000).map((s) => s.ack)).toEqual([R(2)])
    send(bare, { seq: R(2), ack: L(0), flags: ACK | FIN }, 2_000)
    expect(bare.state).toBe('CLOSE-WAIT')
    expect(drain(bare, 2_000)).toEqual([])
    expect(bare.pollAt()).toBe(42_000)
    expect(drain(bare, 42_000).map((s) => s.ack)).toEqual([R(3)])
    const withData = tcbEstablished({ profile: 'linux', ackDelay: 40_000 })
    send(withData, { seq: R(0), ack: L(0), flags: ACK | FIN, payload: 'bye' }, 1_000)
    expect(drain(withData, 1_000)).toEqual([])
    // Closing before the delayed ACK fires: the FIN carries the ACK, as Linux's reply would.
    withData.close()
    expect(drain(withData, 2_000).map((s) => [s.flags, s.ack])).toEqual([[ACK | FIN, R(4)]])
  })

  it('a bare FIN before any data is acknowledged at once: the ACK delay (Linux\'s ato) is 0 until data arrives (close-last-ack-retransmit.pkt on the kernel)', () => {
    const t = tcbEstablished({ profile: 'linux', ackDelay: 40_000 })
    send(t, { seq: R(0), ack: L(0), flags: ACK | FIN }, 1_000)
    expect(t.state).toBe('CLOSE-WAIT')
    expect(drain(t, 1_000).map((s) => s.ack)).toEqual([R(1)])
  })

  it('a FIN in FIN-WAIT-2 is acknowledged at once (Linux: tcp_send_ack)', () => {
    const t = tcbFinWait2({ profile: 'linux', ackDelay: 40_000 })
    send(t, { seq: R(0), ack: L(1), flags: ACK | FIN }, 1_000)
    expect(drain(t, 1_000).map((s) => s.ack)).toEqual([R(1)])
  })

  for (const profile of ['rfc', 'linux'] as const) {
    it(`${profile}: an old duplicate data segment is ACKed without using up the rate limit of ACKs to bare segments`, () => {
      const t = tcbEstablished({ profile })
      send(t, { seq: R(0), ack: L(0), payload: 'abc' }, 1_000)
      expect(drain(t, 1_000).map((s) => s.ack)).toEqual([R(3)])
      send(t, { seq: R(0), ack: L(0), payload: 'abc' }, 2_000) // a retransmission of data we had
      expect(drain(t, 2_000).map((s) => s.ack)).toEqual([R(3)])
      send(t, { seq: R(200_000), ack: L(0) }, 2_001) // out of window, no data: rate-limited, but the first goes
      expect(drain(t, 2_001).map((s) => s.ack)).toEqual([R(3)])
      send(t, { seq: R(200_000), ack: L(0) }, 2_002) // the second within 500 ms does not
      expect(drain(t, 2_002)).toEqual([])
    })
  }

  it("with profile 'rfc' the first small segment already waits for the delayed ACK", () => {
    const t = tcbEstablished({ ackDelay: 40_000 })
    send(t, { seq: R(0), ack: L(0), payload: 'x'.repeat(100) }, 1_000)
    expect(drain(t, 1_000)).toEqual([])
    expect(t.pollAt()).toBe(41_000)
  })
})
