/**
 * Closing: FIN-WAIT-1, FIN-WAIT-2, CLOSING, TIME-WAIT, CLOSE-WAIT, LAST-ACK with exact segments; close
 * in both orders and simultaneously between two TCBs; half-close; TIME-WAIT of 2×MSL; ABORT with RST.
 */
import { describe, expect, it } from 'vitest'
import { seq } from '../../src/tcp/seq.js'
import { Tcb } from '../../src/tcp/tcb.js'
import type { TcpRepr } from '../../src/tcp/segment.js'
import type { TcpState } from '../../src/tcp/types.js'
import {
  ACK,
  FIN,
  L,
  PEER_TUPLE,
  PLAIN,
  PSH,
  R,
  REMOTE_ISS,
  RST,
  SYN,
  TUPLE,
  drain,
  expectNothing,
  expectSent,
  recorder,
  send,
  tcbCloseWait,
  tcbClosing,
  tcbEstablished,
  tcbFinWait1,
  tcbFinWait2,
  tcbLastAck,
  tcbTimeWait,
} from './helpers.js'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const str = (b: Uint8Array): string => new TextDecoder().decode(b)

describe('FIN-WAIT-1', () => {
  it('CLOSE sends the FIN after queued data, riding on the last data segment', () => {
    const t = tcbEstablished()
    t.send(text('bye'))
    t.close()
    expect(t.state).toBe('FIN-WAIT-1')
    expectSent(t, { seq: L(0), ack: R(0), flags: ACK | PSH | FIN, payload: 'bye' })
    expectNothing(t)
    expect(t.sndNxt).toBe(L(4))
    expect(() => t.send(text('more'))).toThrow(/closing/)
  })

  it('the ACK of our FIN → FIN-WAIT-2', () => {
    const t = tcbFinWait1()
    send(t, { seq: R(0), ack: L(1) })
    expect(t.state).toBe('FIN-WAIT-2')
    expectNothing(t)
    expect(t.pollAt()).toBeUndefined()
  })

  it('an ACK of data before the FIN keeps FIN-WAIT-1', () => {
    const t = tcbEstablished()
    t.send(text('abc'))
    t.close()
    drain(t)
    send(t, { seq: R(0), ack: L(3) })
    expect(t.state).toBe('FIN-WAIT-1')
  })

  it("the peer's FIN without an ACK of ours → CLOSING, and we ACK it", () => {
    const t = tcbFinWait1()
    send(t, { seq: R(0), ack: L(0), flags: ACK | FIN })
    expect(t.state).toBe('CLOSING')
    expectSent(t, { seq: L(1), ack: R(1), flags: ACK })
  })

  it("the peer's FIN with the ACK of ours → TIME-WAIT directly", () => {
    const t = tcbFinWait1()
    send(t, { seq: R(0), ack: L(1), flags: ACK | FIN }, 500)
    expect(t.state).toBe('TIME-WAIT')
    expectSent(t, { seq: L(1), ack: R(1), flags: ACK }, 500)
    expect(t.pollAt()).toBe(500 + 2_000_000)
  })

  it('half-close: data still arrives and is acknowledged', () => {
    const t = tcbFinWait1()
    send(t, { seq: R(0), ack: L(0), payload: 'still here' })
    expectSent(t, { seq: L(1), ack: R(10) })
    expect(str(t.recv())).toBe('still here')
  })

  it('the FIN is retransmitted on the RTO', () => {
    const t = tcbFinWait1()
    expect(t.pollAt()).toBe(200_000)
    expectSent(t, { seq: L(0), flags: ACK | FIN }, 200_000)
    expect(t.pollAt()).toBe(200_000 + 400_000)
  })
})

describe('FIN-WAIT-2', () => {
  it('receives data (half-close) and no timer runs', () => {
    const t = tcbFinWait2()
    send(t, { seq: R(0), ack: L(1), payload: 'data' })
    expectSent(t, { seq: L(1), ack: R(4) })
    expect(t.pollAt()).toBeUndefined()
  })

  it('FIN → TIME-WAIT and an ACK', () => {
    const t = tcbFinWait2()
    send(t, { seq: R(0), ack: L(1), flags: ACK | FIN })
    expect(t.state).toBe('TIME-WAIT')
    expectSent(t, { seq: L(1), ack: R(1), flags: ACK })
    expectNothing(t)
  })
})

describe('CLOSING', () => {
  it('the ACK of our FIN → TIME-WAIT', () => {
    const t = tcbClosing()
    send(t, { seq: R(1), ack: L(1) }, 10)
    expect(t.state).toBe('TIME-WAIT')
    expectNothing(t, 10)
    expect(t.pollAt()).toBe(10 + 2_000_000)
  })

  it('the FIN is retransmitted until acknowledged', () => {
    const t = tcbClosing()
    expectSent(t, { seq: L(0), ack: R(1), flags: ACK | FIN }, 200_000)
  })
})

describe('TIME-WAIT', () => {
  it('lasts 2×MSL, then CLOSED (MUST-13)', () => {
    const t = tcbTimeWait()
    expect(t.pollAt()).toBe(2_000_000)
    expectNothing(t, 1_999_999)
    expect(t.state).toBe('TIME-WAIT')
    expectNothing(t, 2_000_000)
    expect(t.state).toBe('CLOSED')
    expect(t.error).toBeUndefined()
  })

  it('acknowledges a retransmitted FIN and restarts the 2 MSL timer', () => {
    const t = tcbTimeWait()
    send(t, { seq: R(0), ack: L(1), flags: ACK | FIN }, 1_000_000)
    expectSent(t, { seq: L(1), ack: R(1), flags: ACK }, 1_000_000)
    expect(t.pollAt()).toBe(3_000_000)
  })

  it('a SYN gets a challenge ACK (RFC 5961 §4.2)', () => {
    const t = tcbTimeWait()
    send(t, { seq: R(1000), flags: SYN }, 600_000)
    expectSent(t, { seq: L(1), ack: R(1), flags: ACK }, 600_000)
    expect(t.state).toBe('TIME-WAIT')
  })

  it('an exact RST closes it (RFC 9293; Linux with tcp_rfc1337=0 does the same)', () => {
    const t = tcbTimeWait()
    send(t, { seq: R(1), flags: RST })
    expect(t.state).toBe('CLOSED')
    expect(t.error).toBeUndefined()
  })
})

describe('CLOSE-WAIT', () => {
  it('EOF after the buffered data; we can still send (half-close)', () => {
    const t = tcbEstablished()
    send(t, { seq: R(0), ack: L(0), flags: ACK | FIN, payload: 'last' })
    expect(t.state).toBe('CLOSE-WAIT')
    expectSent(t, { ack: R(5) })
    expect(t.eof).toBe(false)
    expect(str(t.recv())).toBe('last')
    expect(t.eof).toBe(true)
    t.send(text('reply'))
    expectSent(t, { seq: L(0), ack: R(5), payload: 'reply' })
  })

  it('data after the FIN is ignored; a retransmitted FIN is acknowledged again', () => {
    const t = tcbCloseWait()
    send(t, { seq: R(1), ack: L(0), payload: 'bogus' })
    expectNothing(t)
    expect(t.readable).toBe(0)
    send(t, { seq: R(0), ack: L(0), flags: ACK | FIN }, 10)
    expectSent(t, { seq: L(0), ack: R(1) }, 10)
  })

  it('CLOSE → LAST-ACK with our FIN', () => {
    const t = tcbCloseWait()
    t.close()
    expect(t.state).toBe('LAST-ACK')
    expectSent(t, { seq: L(0), ack: R(1), flags: ACK | FIN })
  })
})

describe('LAST-ACK', () => {
  it('the ACK of our FIN → CLOSED, without error', () => {
    const t = tcbLastAck()
    send(t, { seq: R(1), ack: L(1) })
    expect(t.state).toBe('CLOSED')
    expect(t.error).toBeUndefined()
    expectNothing(t)
    expect(t.pollAt()).toBeUndefined()
  })

  it('retransmits the FIN on the RTO and closes on a RST', () => {
    const t = tcbLastAck()
    expectSent(t, { seq: L(0), ack: R(1), flags: ACK | FIN }, 200_000)
    send(t, { seq: R(1), flags: RST }, 200_001)
    expect(t.state).toBe('CLOSED')
    expect(t.error).toBeUndefined()
  })
})

describe('ABORT and RST', () => {
  it('ABORT in ESTABLISHED sends RST (with ACK, as Linux) and forgets everything', () => {
    const t = tcbEstablished()
    t.send(text('unsent'))
    t.abort()
    expect(t.state).toBe('CLOSED')
    expectSent(t, { seq: L(0), ack: R(0), flags: RST | ACK, window: 0, payload: '' })
    expectNothing(t)
    expect(t.pollAt()).toBeUndefined()
    expect(() => t.send(text('x'))).toThrow(/does not exist/)
  })

  it('ABORT sends RST from FIN-WAIT-1, FIN-WAIT-2 and CLOSE-WAIT; not from CLOSING, LAST-ACK, TIME-WAIT', () => {
    const rst = (make: () => Tcb): boolean => {
      const t = make()
      t.abort()
      const s = t.dispatch(0)
      return s !== undefined && (s.flags & RST) !== 0
    }
    expect([tcbFinWait1, tcbFinWait2, tcbCloseWait].map(rst)).toEqual([true, true, true])
    expect([tcbClosing, tcbLastAck, tcbTimeWait].map(rst)).toEqual([false, false, false])
  })

  it('a RST at RCV.NXT in ESTABLISHED → CLOSED with ECONNRESET (MUST-12)', () => {
    const t = tcbEstablished()
    const ev = recorder(t)
    send(t, { seq: R(0), flags: RST })
    expect(t.state).toBe('CLOSED')
    expect(t.error).toEqual({ code: 'ECONNRESET', reason: 'connection reset by peer in ESTABLISHED' })
    expect(ev.some((e) => e.type === 'error' && e.code === 'ECONNRESET')).toBe(true)
    expectNothing(t)
    expect(() => t.send(text('x'))).toThrow(/reset/)
  })

  it('a RST in FIN-WAIT-2 and CLOSE-WAIT is also a reset', () => {
    for (const make of [tcbFinWait2, tcbCloseWait]) {
      const t = make()
      send(t, { seq: t.rcvNxt, flags: RST })
      expect(t.error?.code).toBe('ECONNRESET')
    }
  })
})

// ------------------------------------------------------------------ two TCBs

/** Client and server ESTABLISHED through a real exchange. */
function pair(): [Tcb, Tcb] {
  const c = Tcb.connect(TUPLE, 0, PLAIN)
  const s = Tcb.fromSyn(PEER_TUPLE, 0, c.dispatch(0)!, { ...PLAIN, iss: REMOTE_ISS })
  c.process(0, s.dispatch(0)!)
  s.process(0, c.dispatch(0)!)
  expect([c.state, s.state]).toEqual(['ESTABLISHED', 'ESTABLISHED'])
  return [c, s]
}

/** Moves segments both ways until both are quiet; returns the ladder as "C>[FIN,ACK]" strings. */
function exchange(c: Tcb, s: Tcb, now = 0): string[] {
  const ladder: string[] = []
  const fl = (x: TcpRepr): string => ['FIN', 'SYN', 'RST', 'PSH', 'ACK'].filter((_, i) => x.flags & (1 << i)).join(',')
  for (let round = 0; round < 20; round++) {
    const fromC = drain(c, now)
    const fromS = drain(s, now)
    if (fromC.length === 0 && fromS.length === 0) break
    for (const x of fromC) {
      ladder.push(`C>${fl(x)}`)
      s.process(now, x)
    }
    for (const x of fromS) {
      ladder.push(`S>${fl(x)}`)
      c.process(now, x)
    }
  }
  return ladder
}

const states = (c: Tcb, s: Tcb): [TcpState, TcpState] => [c.state, s.state]

describe('closing between two TCBs', () => {
  it('client closes first: FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT; server CLOSE-WAIT → LAST-ACK → CLOSED', () => {
    const [c, s] = pair()
    c.close()
    expect(exchange(c, s)).toEqual(['C>FIN,ACK', 'S>ACK'])
    expect(states(c, s)).toEqual(['FIN-WAIT-2', 'CLOSE-WAIT'])
    s.send(text('after your FIN')) // half-close: the server still talks
    s.close()
    expect(exchange(c, s)).toEqual(['S>FIN,PSH,ACK', 'C>ACK'])
    expect(states(c, s)).toEqual(['TIME-WAIT', 'CLOSED'])
    expect(str(c.recv())).toBe('after your FIN')
    expectNothing(c, 2_000_000)
    expect(c.state).toBe('CLOSED')
    expect([c.error, s.error]).toEqual([undefined, undefined])
  })

  it('server closes first: the roles swap', () => {
    const [c, s] = pair()
    s.close()
    exchange(c, s)
    expect(states(c, s)).toEqual(['CLOSE-WAIT', 'FIN-WAIT-2'])
    c.close()
    exchange(c, s)
    expect(states(c, s)).toEqual(['CLOSED', 'TIME-WAIT'])
  })

  it('simultaneous close: both FIN-WAIT-1 → CLOSING → TIME-WAIT', () => {
    const [c, s] = pair()
    const evC = recorder(c)
    c.close()
    s.close()
    const finC = c.dispatch(0)!
    const finS = s.dispatch(0)!
    expect([finC.flags, finS.flags]).toEqual([FIN | ACK, FIN | ACK])
    c.process(1, finS)
    s.process(1, finC)
    expect(states(c, s)).toEqual(['CLOSING', 'CLOSING'])
    exchange(c, s, 2)
    expect(states(c, s)).toEqual(['TIME-WAIT', 'TIME-WAIT'])
    expect(evC.filter((e) => e.type === 'state').map((e) => (e.type === 'state' ? e.to : ''))).toEqual([
      'FIN-WAIT-1',
      'CLOSING',
      'TIME-WAIT',
    ])
  })

  it('abort on one side resets the other', () => {
    const [c, s] = pair()
    c.abort()
    exchange(c, s)
    expect(states(c, s)).toEqual(['CLOSED', 'CLOSED'])
    expect(s.error?.code).toBe('ECONNRESET')
  })

  it('a segment for a connection that has gone is answered by RST (CLOSED TCB)', () => {
    const [c, s] = pair()
    c.abort()
    c.dispatch(0) // the RST is lost
    s.send(text('anyone?'))
    exchange(c, s)
    expect(s.state).toBe('CLOSED')
    expect(s.error?.code).toBe('ECONNRESET')
    expect(seq(0)).toBe(0)
  })
})
