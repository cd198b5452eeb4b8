/**
 * RFC 5961 defences against blind in-window attacks, as RFC 9293 §3.10.7.4 adopts them: an inexact RST
 * or any SYN in a synchronized state gets a challenge ACK, never a reset; ACKs outside
 * [SND.UNA − MAX.SND.WND, SND.NXT] are dropped with an ACK; challenge ACKs are rate-limited (§7).
 */
import { describe, expect, it } from 'vitest'
import { seq, seqAdd } from '../../src/tcp/seq.js'
import {
  ACK,
  FIN,
  L,
  R,
  RST,
  SYN,
  drain,
  expectNothing,
  expectSent,
  recorder,
  send,
  tcbCloseWait,
  tcbEstablished,
  tcbFinWait2,
  tcbSynReceived,
} from './helpers.js'

const CHALLENGE = (t: { rcvNxt: number }) => ({ seq: L(0), ack: seq(t.rcvNxt), flags: ACK })

describe('RFC 5961 §3: blind RST', () => {
  it('a RST at RCV.NXT+1 gets a challenge ACK and the connection survives', () => {
    const t = tcbEstablished()
    const ev = recorder(t)
    send(t, { seq: R(1), flags: RST })
    expect(t.state).toBe('ESTABLISHED')
    expectSent(t, { seq: L(0), ack: R(0), flags: ACK })
    expectNothing(t)
    expect(ev.some((e) => e.type === 'drop' && e.reason === 'rst-in-window')).toBe(true)
    expect(t.stats.challengeAcks).toBe(1)
  })

  it('any in-window but inexact RST (also RST+ACK) is challenged; the peer answers with the exact one', () => {
    const t = tcbEstablished()
    for (const off of [1, 100, 60_000]) {
      send(t, { seq: R(off), ack: L(0), flags: RST | ACK }, off * 1_000_000)
      expect(t.state).toBe('ESTABLISHED')
      expectSent(t, CHALLENGE(t), off * 1_000_000)
    }
    // A real peer that lost its state replies to the challenge ACK with RST at exactly RCV.NXT.
    send(t, { seq: R(0), flags: RST }, 100_000_000)
    expect(t.error?.code).toBe('ECONNRESET')
  })

  it('a RST outside the window is dropped silently', () => {
    const t = tcbEstablished()
    send(t, { seq: R(-1), flags: RST })
    send(t, { seq: R(70_000), flags: RST })
    expect(t.state).toBe('ESTABLISHED')
    expectNothing(t)
    expect(t.stats.challengeAcks).toBe(0)
  })

  it('also in FIN-WAIT-2, CLOSE-WAIT and SYN-RECEIVED', () => {
    for (const make of [tcbFinWait2, tcbCloseWait, tcbSynReceived]) {
      const t = make()
      const before = t.state
      send(t, { seq: seqAdd(t.rcvNxt, 5), flags: RST }, 100)
      expect(t.state).toBe(before)
      expect(drain(t, 100).map((s) => s.flags)).toEqual([ACK])
    }
  })
})

describe('RFC 5961 §4: SYN in a synchronized state', () => {
  it('an in-window SYN gets a challenge ACK, never a reset', () => {
    const t = tcbEstablished()
    send(t, { seq: R(10), flags: SYN })
    expect(t.state).toBe('ESTABLISHED')
    expectSent(t, { seq: L(0), ack: R(0), flags: ACK })
    expect(t.error).toBeUndefined()
  })

  it('so does a SYN outside the window, and a SYN+ACK', () => {
    const t = tcbEstablished()
    send(t, { seq: R(-500), flags: SYN }, 0)
    expectSent(t, CHALLENGE(t), 0)
    send(t, { seq: R(999_999), ack: L(0), flags: SYN | ACK }, 1_000_000)
    expectSent(t, CHALLENGE(t), 1_000_000)
    expect(t.state).toBe('ESTABLISHED')
  })

  it('a SYN with data delivers nothing', () => {
    const t = tcbEstablished()
    send(t, { seq: R(0), flags: SYN, payload: 'evil' })
    expect(t.readable).toBe(0)
    expectSent(t, CHALLENGE(t))
  })
})

describe('RFC 5961 §5: ACK validation', () => {
  it('an ACK beyond SND.NXT is dropped with an ACK and its data is not delivered', () => {
    const t = tcbEstablished()
    const ev = recorder(t)
    send(t, { seq: R(0), ack: L(1000), payload: 'inject' })
    expect(t.readable).toBe(0)
    expect(t.sndUna).toBe(L(0))
    expectSent(t, { seq: L(0), ack: R(0), flags: ACK })
    expect(ev.some((e) => e.type === 'drop' && e.reason === 'ack-unsent')).toBe(true)
  })

  it('data with an ACK older than SND.UNA − MAX.SND.WND is dropped (blind data injection)', () => {
    const t = tcbEstablished()
    // MAX.SND.WND is 64240 (the SYN+ACK's window): an ACK further back than that is too old.
    send(t, { seq: R(0), ack: seqAdd(L(0), -64_241), payload: 'inject' })
    expect(t.readable).toBe(0)
    expectSent(t, { seq: L(0), ack: R(0), flags: ACK })
    // Within the range it is an old duplicate ACK: the data is fine.
    send(t, { seq: R(0), ack: seqAdd(L(0), -64_240), payload: 'legit' })
    expect(t.readable).toBe(5)
  })

  it('a FIN with an invalid ACK does not close the connection', () => {
    const t = tcbEstablished()
    send(t, { seq: R(0), ack: L(5000), flags: ACK | FIN })
    expect(t.state).toBe('ESTABLISHED')
  })
})

describe('RFC 5961 §7: challenge-ACK rate limit', () => {
  it('at most one challenge ACK per 500 ms per connection (Linux tcp_invalid_ratelimit)', () => {
    const t = tcbEstablished()
    let acks = 0
    for (let i = 0; i < 100; i++) {
      const now = i * 10_000 // 100 attacks over one second
      send(t, { seq: R(1 + i), flags: i % 2 ? RST : SYN }, now)
      acks += drain(t, now).length
    }
    expect(acks).toBe(2) // at 0 ms and at 500 ms
    expect(t.stats.challengeAcks).toBe(2)
    expect(t.stats.challengeAcksSuppressed).toBe(98)
    expect(t.state).toBe('ESTABLISHED')
  })

  it('the interval is configurable', () => {
    const t = tcbEstablished({ challengeAckInterval: 0 })
    let acks = 0
    for (let i = 0; i < 10; i++) {
      send(t, { seq: R(1), flags: RST }, i)
      acks += drain(t, i).length
    }
    expect(acks).toBe(10)
  })

  it('ACKs for duplicate data are not rate-limited (the peer needs them)', () => {
    const t = tcbEstablished()
    send(t, { seq: R(0), ack: L(0), payload: 'abc' })
    drain(t)
    let acks = 0
    for (let i = 0; i < 5; i++) {
      send(t, { seq: R(0), ack: L(0), payload: 'abc' }, i)
      acks += drain(t, i).length
    }
    expect(acks).toBe(5)
  })

  it('pure ACKs outside the window are answered at most once per interval (ACK-war guard)', () => {
    const t = tcbEstablished()
    let acks = 0
    for (let i = 0; i < 5; i++) {
      send(t, { seq: R(100_000), ack: L(0) }, i)
      acks += drain(t, i).length
    }
    expect(acks).toBe(1)
  })
})
