/**
 * ESTABLISHED: data transfer. Segmentation by MSS, flow control (windows, SWS avoidance, zero-window
 * probing), out-of-order reassembly, duplicates, delayed ACKs, PAWS, SACK blocks, the urgent pointer,
 * sequence-number wrap and the buffers' backpressure. Exact segments throughout.
 */
import { describe, expect, it } from 'vitest'
import { seq, seqAdd } from '../../src/tcp/seq.js'
import { Tcb } from '../../src/tcp/tcb.js'
import type { TcpConfig } from '../../src/tcp/types.js'
import {
  ACK,
  FIN,
  RST,
  L,
  LOCAL_ISS,
  LOCAL_WIN,
  MSS_1460,
  PLAIN,
  PSH,
  R,
  REMOTE_ISS,
  TUPLE,
  URG,
  drain,
  expectNothing,
  expectSent,
  recorder,
  send,
  seg,
  tcbCloseWait,
  tcbEstablished,
  type Expect,
} from './helpers.js'

const bytes = (n: number, start = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff)
const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const str = (b: Uint8Array): string => new TextDecoder().decode(b)

/** ESTABLISHED with a chosen SYN+ACK from the peer (window, options). */
function established(cfg: Partial<TcpConfig> = {}, synAck: Partial<Expect> = {}, now = 0): Tcb {
  const t = Tcb.connect(TUPLE, now, { ...PLAIN, ...cfg })
  t.dispatch(now)
  t.process(now, seg({ seq: REMOTE_ISS, ack: L(0), flags: 0x12, options: MSS_1460, ...synAck } as never))
  const a = t.dispatch(now)
  expect(a?.flags).toBe(ACK)
  expect(t.state).toBe('ESTABLISHED')
  return t
}

describe('ESTABLISHED: sending', () => {
  it('cuts data into MSS-sized segments, PSH on the last one', () => {
    const t = tcbEstablished()
    expect(t.send(bytes(4000))).toBe(4000)
    expectSent(t, { seq: L(0), ack: R(0), flags: ACK, window: LOCAL_WIN, payload: bytes(1460) })
    expectSent(t, { seq: L(1460), ack: R(0), flags: ACK, payload: bytes(1460, 1460) })
    expectSent(t, { seq: L(2920), ack: R(0), flags: ACK | PSH, payload: bytes(1080, 2920) })
    expectNothing(t)
    expect([t.sndUna, t.sndNxt]).toEqual([L(0), L(4000)])
    expect(t.pollAt()).toBe(200_000) // RTO: 200 ms floor after the handshake's RTT sample
  })

  it("uses the peer's smaller MSS", () => {
    const t = established({}, { options: [{ kind: 'mss', value: 500 }] })
    t.send(bytes(1200))
    expect(drain(t).map((s) => s.payload.length)).toEqual([500, 500, 200])
  })

  it('sends no more than the peer window, and more as ACKs open it', () => {
    const t = established({}, { window: 1000 })
    t.send(bytes(3000))
    expectSent(t, { seq: L(0), payload: bytes(1000) }) // a full window, half of the largest ever: not SWS
    expectNothing(t)
    send(t, { seq: R(0), ack: L(1000), window: 1000 })
    expectSent(t, { seq: L(1000), payload: bytes(1000, 1000) })
    expectNothing(t)
  })

  it('sender SWS avoidance: a tiny window-limited segment waits for the override timer (MUST-38)', () => {
    const t = tcbEstablished()
    send(t, { seq: R(0), ack: L(0), window: 100 }) // the peer shrinks its window to 100 of 64240
    t.send(bytes(3000))
    expectNothing(t)
    expect(t.pollAt()).toBe(200_000)
    expectNothing(t, 199_999)
    expectSent(t, { seq: L(0), payload: bytes(100) }, 200_000)
  })

  it('Nagle (Minshall): a second short segment waits while one is unacknowledged; nagle:false sends it', () => {
    const t = tcbEstablished()
    t.send(text('a'))
    expectSent(t, { seq: L(0), payload: 'a', flags: ACK | PSH })
    t.send(text('b'))
    expectNothing(t)
    send(t, { seq: R(0), ack: L(1) })
    expectSent(t, { seq: L(1), payload: 'b' })
    const n = tcbEstablished({ nagle: false })
    n.send(text('a'))
    n.dispatch(0)
    n.send(text('b'))
    expectSent(n, { seq: L(1), payload: 'b' })
  })

  it('the send buffer pushes back: send() takes only what fits; ACKs free room', () => {
    const t = tcbEstablished({ sndBuf: 1000 })
    expect(t.send(bytes(1500))).toBe(1000)
    expect(t.writable).toBe(0)
    expect(t.send(bytes(10))).toBe(0)
    drain(t)
    send(t, { seq: R(0), ack: L(600) })
    expect(t.writable).toBe(600)
    expect(t.unacked).toBe(400)
  })

  it('an ACK for new data advances SND.UNA and updates the window (WL1/WL2 rule)', () => {
    const t = tcbEstablished()
    t.send(bytes(2000))
    drain(t)
    send(t, { seq: R(0), ack: L(1460), window: 5000 })
    expect([t.sndUna, t.sndWnd]).toEqual([L(1460), 5000])
    // An older segment (lower SEQ, same ACK) must not update the window.
    send(t, { seq: R(0), ack: L(1000), window: 9 })
    expect(t.sndWnd).toBe(5000)
  })
})

describe('ESTABLISHED: zero window and probing', () => {
  it('probes a zero window after one RTO with no data at SND.UNA - 1 (as Linux), backing off; answered probes never abort (MUST-36/37)', () => {
    const t = tcbEstablished()
    send(t, { seq: R(0), ack: L(0), window: 0 })
    t.send(text('hello'))
    expectNothing(t)
    expect(t.pollAt()).toBe(200_000)
    expectSent(t, { seq: L(-1), ack: R(0), flags: ACK, payload: '' }, 200_000)
    expectNothing(t, 200_000)
    // Answered with a zero window: each probe after twice the interval, capped at rtoMax. SND.NXT never
    // moves past the closed window, so each probe is the same segment.
    const times: number[] = []
    let now = 200_000
    for (let i = 0; i < 30; i++) {
      send(t, { seq: R(0), ack: L(0), window: 0 }, now + 10)
      now = t.pollAt()!
      times.push(now)
      expectSent(t, { seq: L(-1), ack: R(0), flags: ACK, payload: '' }, now)
    }
    expect(times.slice(0, 4)).toEqual([600_000, 1_400_000, 3_000_000, 6_200_000])
    expect(times[29] - times[28]).toBe(120_000_000)
    expect(t.state).toBe('ESTABLISHED')
    expect(t.stats.probes).toBe(31)
    // The window opens: everything follows from SND.UNA.
    send(t, { seq: R(0), ack: L(0), window: 1000 }, now + 10)
    expectSent(t, { seq: L(0), payload: 'hello' }, now + 10)
  })

  it('a zero-window probe and the ACKs after it stay inside a closed window: a peer that drops out-of-window ACKs still accepts them', () => {
    const t = tcbEstablished()
    send(t, { seq: R(0), ack: L(0), window: 0 })
    t.send(text('hello'))
    expectNothing(t)
    expectSent(t, { seq: L(-1), payload: '' }, 200_000)
    // Data arrives from the peer (its window to us is open): our ACK carries SEQ = SND.UNA, which a peer
    // whose own receive window is zero accepts (RCV.NXT), unlike SND.UNA + 1 after a one-octet probe.
    send(t, { seq: R(0), ack: L(0), window: 0, payload: 'abc' }, 200_100)
    const at = t.pollAt()!
    expect(at).toBeLessThan(200_100 + 200_000) // the delayed ACK, before the next probe
    expectSent(t, { seq: L(0), ack: R(3), flags: ACK, payload: '' }, at)
  })

  it('with a user timeout, a window that stays closed ends the connection with ETIMEDOUT', () => {
    const t = tcbEstablished({ userTimeout: 5_000_000 })
    send(t, { seq: R(0), ack: L(0), window: 0 })
    t.send(text('x'))
    let now = 0
    const open = (): boolean => t.state !== 'CLOSED'
    for (let i = 0; i < 20 && open(); i++) {
      now = t.pollAt()!
      drain(t, now)
      if (open()) send(t, { seq: R(0), ack: L(0), window: 0 }, now + 1)
    }
    expect(t.state).toBe('CLOSED')
    expect(t.error?.code).toBe('ETIMEDOUT')
    expect(t.error?.reason).toMatch(/user timeout 5000 ms\) with a zero window/)
  })

  it('the user timeout of a FIN counts from the CLOSE after an idle spell, not from the last progress before it', () => {
    const t = tcbEstablished({ userTimeout: 3_000_000, maxRetries: 100 })
    send(t, { seq: R(0), ack: L(0) }, 2_000_000) // idle two seconds; the TCB's clock is at 2 s
    t.close()
    expectSent(t, { seq: L(0), ack: R(0), flags: FIN | ACK, payload: '' }, 2_000_000)
    // Retransmissions go on for 3 s after the FIN, not 3 s after the handshake (packetdrill's user_timeout.pkt).
    const times: number[] = []
    while (t.state !== 'CLOSED' && times.length < 50) {
      const at = t.pollAt()!
      times.push(at)
      drain(t, at)
    }
    // The RTO doubles from 200 ms: 2.2, 2.6, 3.4 s; the next timer, at 5.0 s, is 3 s after the FIN and ends it
    // (counted from the handshake it would have ended at 3.4 s).
    expect(times).toEqual([2_200_000, 2_600_000, 3_400_000, 5_000_000])
    expect(t.error).toEqual({ code: 'ETIMEDOUT', reason: 'no progress for 3000 ms (user timeout 3000 ms)' })
  })

  it('advertises a zero window when the buffer is full, answers probes with it, and updates on read', () => {
    const t = tcbEstablished({ rcvBuf: 1000 })
    send(t, { seq: R(0), ack: L(0), payload: bytes(1500) })
    expectSent(t, { seq: L(0), ack: R(1000), window: 0 }) // trimmed to the window of 1000
    send(t, { seq: R(1000), ack: L(0), payload: 'z' }, 1) // a zero-window probe
    expectSent(t, { seq: L(0), ack: R(1000), window: 0 }, 1)
    expect(t.recv(400).length).toBe(400) // 400 free: less than min(RCV.BUFF/2, MSS) = 500, no update yet
    expectNothing(t, 2)
    expect(t.recv(400).length).toBe(400)
    expectSent(t, { seq: L(0), ack: R(1000), window: 800 }, 3)
    expect(Array.from(t.recv())).toEqual(Array.from(bytes(200, 800)))
  })

  it('processes the ACK of a segment that arrives while our window is zero (MUST-66)', () => {
    const t = tcbEstablished({ rcvBuf: 1000 })
    t.send(bytes(10))
    drain(t)
    send(t, { seq: R(0), ack: L(0), payload: bytes(1000) })
    expectSent(t, { ack: R(1000), window: 0 })
    send(t, { seq: R(1000), ack: L(10), payload: 'more' })
    expect(t.sndUna).toBe(L(10))
    expectSent(t, { seq: L(10), ack: R(1000), window: 0 })
  })
})

describe('ESTABLISHED: receiving', () => {
  it('delivers in-order data and acknowledges it at once (ackDelay 0)', () => {
    const t = tcbEstablished()
    send(t, { seq: R(0), ack: L(0), flags: ACK | PSH, payload: 'hello' })
    expectSent(t, { seq: L(0), ack: R(5), flags: ACK, window: LOCAL_WIN - 5, payload: '' })
    expectNothing(t)
    expect(t.readable).toBe(5)
    expect(str(t.recv())).toBe('hello')
    expect(t.recv().length).toBe(0)
  })

  it('holds out-of-order segments, sends duplicate ACKs, and reassembles when the hole fills', () => {
    const t = tcbEstablished()
    send(t, { seq: R(100), ack: L(0), payload: bytes(100, 100) })
    expectSent(t, { seq: L(0), ack: R(0) })
    send(t, { seq: R(300), ack: L(0), payload: bytes(50, 300) })
    expectSent(t, { seq: L(0), ack: R(0) })
    expect(t.readable).toBe(0)
    send(t, { seq: R(0), ack: L(0), payload: bytes(100) })
    expectSent(t, { ack: R(200) })
    send(t, { seq: R(200), ack: L(0), payload: bytes(100, 200) })
    expectSent(t, { ack: R(350) })
    expect(Array.from(t.recv())).toEqual(Array.from(bytes(350)))
  })

  it('acknowledges duplicate data without delivering it twice; trims overlaps', () => {
    const t = tcbEstablished()
    send(t, { seq: R(0), ack: L(0), payload: 'abcd' })
    expectSent(t, { ack: R(4) })
    send(t, { seq: R(0), ack: L(0), payload: 'abcd' }) // wholly old
    expectSent(t, { seq: L(0), ack: R(4) })
    send(t, { seq: R(2), ack: L(0), payload: 'cdef' }) // half old
    expectSent(t, { ack: R(6) })
    expect(str(t.recv())).toBe('abcdef')
  })

  it('a FIN that arrives ahead of missing data waits for it', () => {
    const t = tcbEstablished()
    send(t, { seq: R(3), ack: L(0), flags: ACK | FIN, payload: 'def' })
    expectSent(t, { ack: R(0) })
    expect(t.state).toBe('ESTABLISHED')
    send(t, { seq: R(0), ack: L(0), payload: 'abc' })
    expect(t.state).toBe('CLOSE-WAIT')
    expectSent(t, { ack: R(7) })
    expect(str(t.recv())).toBe('abcdef')
    expect(t.eof).toBe(true)
  })

  it('delayed ACK: one segment waits up to ackDelay, the second full-sized one is ACKed at once', () => {
    const t = tcbEstablished({ ackDelay: 40_000 })
    send(t, { seq: R(0), ack: L(0), payload: bytes(1460) }, 1000)
    expectNothing(t, 1000)
    expect(t.pollAt()).toBe(41_000)
    expectSent(t, { ack: R(1460) }, 41_000)
    send(t, { seq: R(1460), ack: L(0), payload: bytes(1460) }, 50_000)
    expectNothing(t, 50_000)
    send(t, { seq: R(2920), ack: L(0), payload: bytes(1460) }, 50_001)
    expectSent(t, { ack: R(4380) }, 50_001)
    expectNothing(t, 50_001)
    // Out-of-order data is ACKed immediately regardless.
    send(t, { seq: R(5000), ack: L(0), payload: 'x' }, 60_000)
    expectSent(t, { ack: R(4380) }, 60_000)
  })

  it('outgoing data carries the pending ACK (piggybacking, MUST-58)', () => {
    const t = tcbEstablished({ ackDelay: 40_000 })
    send(t, { seq: R(0), ack: L(0), payload: 'req' }, 10)
    t.send(text('resp'))
    expectSent(t, { seq: L(0), ack: R(3), payload: 'resp' }, 11)
    expectNothing(t, 50_000)
  })

  it('recvInto and peek/consume read without allocating', () => {
    const t = tcbEstablished()
    send(t, { seq: R(0), ack: L(0), payload: 'abcdef' })
    const into = new Uint8Array(4)
    expect(t.recvInto(into)).toBe(4)
    expect(str(into)).toBe('abcd')
    expect(str(t.peek())).toBe('ef')
    t.consume(2)
    expect(t.readable).toBe(0)
  })

  it('receiver SWS avoidance: small reads do not advertise a slightly larger window (MUST-39)', () => {
    const t = tcbEstablished()
    send(t, { seq: R(0), ack: L(0), payload: bytes(1000) })
    expectSent(t, { ack: R(1000), window: LOCAL_WIN - 1000 })
    t.recv(500)
    expectNothing(t)
    send(t, { seq: R(1000), ack: L(0), payload: bytes(10) })
    expectSent(t, { ack: R(1010), window: LOCAL_WIN - 1010 }) // the right edge has not moved
    t.recv() // 1010 freed in all: still less than min(RCV.BUFF/2, MSS) = 1460 past the promised edge
    send(t, { seq: R(1010), ack: L(0), payload: bytes(1000) })
    expectSent(t, { ack: R(2010), window: LOCAL_WIN - 2010 })
    t.recv() // now 2011 octets past the old edge: the next ACK moves it
    send(t, { seq: R(2010), ack: L(0), payload: bytes(10) })
    expectSent(t, { ack: R(2020), window: 65536 - 10 })
  })
})

describe('ESTABLISHED: timestamps and PAWS (RFC 7323)', () => {
  const TS_CFG = { timestamps: true }
  const tsEstablished = () =>
    established(TS_CFG, { options: [...MSS_1460, { kind: 'timestamp', value: 1000, echo: 0 }] }, 0)

  it('echoes the most recent in-order TSval and stamps every segment', () => {
    const t = tsEstablished()
    send(t, { seq: R(0), ack: L(0), payload: 'a', options: [{ kind: 'timestamp', value: 1005, echo: 0 }] }, 7000)
    expectSent(
      t,
      { ack: R(1), options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 7, echo: 1005 }] },
      7000,
    )
  })

  it('an ABORT\'s RST carries the timestamps too (RFC 7323 §3.2 SHOULD; packetdrill\'s reset_tsval.pkt on Linux)', () => {
    const t = tsEstablished()
    send(t, { seq: R(0), ack: L(0), payload: 'a', options: [{ kind: 'timestamp', value: 1005, echo: 0 }] }, 7000)
    t.dispatch(7000)
    // A second later the RST's TSval has moved on with the clock, and it echoes the peer's latest.
    send(t, { seq: R(1), ack: L(0), payload: '', options: [{ kind: 'timestamp', value: 1006, echo: 7 }] }, 1_007_000)
    t.abort()
    expectSent(
      t,
      { seq: L(0), ack: R(1), flags: RST | ACK, window: 0, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 1007, echo: 1006 }] },
      1_007_000,
    )
  })

  it('drops a segment whose TSval is older than TS.Recent and sends an ACK (PAWS)', () => {
    const t = tsEstablished()
    send(t, { seq: R(0), ack: L(0), payload: 'new', options: [{ kind: 'timestamp', value: 2000, echo: 0 }] })
    expectSent(t, { ack: R(3) })
    send(t, { seq: R(3), ack: L(0), payload: 'old', options: [{ kind: 'timestamp', value: 1999, echo: 0 }] })
    expectSent(t, { ack: R(3) })
    expect(str(t.recv())).toBe('new')
    // A RST is exempt from PAWS.
    send(t, { seq: R(3), flags: 0x04, options: [{ kind: 'timestamp', value: 1, echo: 0 }] })
    expect(t.state).toBe('CLOSED')
  })

  it('TSval comparison wraps modulo 2^32', () => {
    const t = established(TS_CFG, { options: [{ kind: 'timestamp', value: 0xfffffff0, echo: 0 }] })
    send(t, { seq: R(0), ack: L(0), payload: 'a', options: [{ kind: 'timestamp', value: 5, echo: 0 }] })
    expectSent(t, { ack: R(1) })
  })
})

describe('ESTABLISHED: SACK blocks (RFC 2018)', () => {
  it('describes held out-of-order data, most recent block first', () => {
    const t = established({ sackPermitted: true }, { options: [...MSS_1460, { kind: 'sackPermitted' }] })
    send(t, { seq: R(100), ack: L(0), payload: bytes(100) })
    expectSent(t, {
      ack: R(0),
      options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[R(100), R(200)]] }],
    })
    send(t, { seq: R(300), ack: L(0), payload: bytes(50) })
    expectSent(t, {
      ack: R(0),
      options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[R(300), R(350)], [R(100), R(200)]] }],
    })
    send(t, { seq: R(0), ack: L(0), payload: bytes(100) })
    expectSent(t, { ack: R(200), options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[R(300), R(350)]] }] })
  })
})

describe('ESTABLISHED: urgent pointer (RFC 9293 §3.8.5)', () => {
  it('reads urgent data inline, reports it and how much remains (MUST-31..33)', () => {
    const t = tcbEstablished()
    const ev = recorder(t)
    send(t, { seq: R(0), ack: L(0), flags: ACK | URG | PSH, urgent: 3, payload: 'abcdef' })
    expectSent(t, { ack: R(6) })
    expect(ev.filter((e) => e.type === 'urgent')).toEqual([{ type: 'urgent', now: 0, up: R(3) }])
    expect(t.urgentPending).toBe(3)
    expect(str(t.recv(2))).toBe('ab')
    expect(t.urgentPending).toBe(1)
    expect(str(t.recv())).toBe('cdef')
    expect(t.urgentPending).toBe(0)
  })

  it('sends URG with the pointer to the first non-urgent octet (MUST-62)', () => {
    const t = tcbEstablished()
    t.send(text('!!'), { urgent: true })
    expectSent(t, { seq: L(0), flags: ACK | PSH | URG, urgent: 2, payload: '!!' })
  })

  it('a pointer beyond the data, or URG in a state without receiving, breaks nothing', () => {
    const t = tcbEstablished()
    send(t, { seq: R(0), ack: L(0), flags: ACK | URG, urgent: 60000, payload: 'x' })
    expectSent(t, { ack: R(1) })
    expect(str(t.recv())).toBe('x')
    expect(t.urgentPending).toBe(59999)
    const cw = tcbCloseWait()
    send(cw, { seq: R(1), ack: L(0), flags: ACK | URG, urgent: 5 })
    expect(cw.state).toBe('CLOSE-WAIT')
    expect(cw.urgentPending).toBe(0)
  })
})

describe('sequence numbers that wrap past 2^32', () => {
  it('sends and receives across the wrap', () => {
    const iss = 0xffffff00
    const t = Tcb.connect(TUPLE, 0, { ...PLAIN, iss })
    expectSent(t, { seq: seq(iss) })
    const peerIss = seq(0xfffffff0)
    t.process(0, seg({ seq: peerIss, ack: seq(iss + 1), flags: 0x12, options: MSS_1460 }))
    expectSent(t, { seq: seq(iss + 1), ack: seq(0xfffffff1) })
    t.send(bytes(1000))
    const segs = drain(t)
    expect(segs.map((s) => s.seq)).toEqual([seq(0xffffff01)])
    expect(t.sndNxt).toBe(seqAdd(seq(0xffffff01), 1000))
    expect(t.sndNxt).toBe(745) // wrapped
    send(t, { seq: seq(0xfffffff1), ack: seq(745), payload: bytes(100) })
    expect(t.sndUna).toBe(745)
    expectSent(t, { ack: seq(0x55) })
    expect(Array.from(t.recv())).toEqual(Array.from(bytes(100)))
  })
})

describe('LOCAL_ISS sanity', () => {
  it('fixtures use j', () => {
    expect(LOCAL_ISS).toBe(1000)
  })
})

describe('ESTABLISHED: data up to the furthest advertised edge is accepted (RFC 9293 SHLD-14, RFC 7323 §2.4)', () => {
  it('with window scaling and an application that never reads, the peer may fill to any edge it was shown', () => {
    const tuple = { localAddr: new Uint8Array([198, 18, 0, 10]), localPort: 40000, remoteAddr: new Uint8Array([198, 18, 0, 2]), remotePort: 5000 }
    const t = Tcb.connect(tuple, 0, { iss: 1000, rcvBuf: 65536, windowScale: 7, timestamps: false, sackPermitted: false, ackDelay: 0 })
    t.dispatch(0)
    const IRS = 5000
    t.process(0, { srcPort: 5000, dstPort: 40000, seq: seq(IRS), ack: seq(1001), flags: 0x12, window: 65535, urgent: 0, options: [{ kind: 'mss', value: 1460 }, { kind: 'wscale', shift: 10 }], payload: new Uint8Array(0) })
    const first = t.dispatch(0)!
    let next = IRS + 1
    let furthest = first.ack + first.window * 128
    let movedLeft = 0
    for (let i = 0; i < 200 && furthest - next > 0; i++) {
      // the peer fills up to the furthest edge it was ever offered, as Linux does
      const n = Math.min(1448, furthest - next)
      t.process(0, { srcPort: 5000, dstPort: 40000, seq: seq(next), ack: seq(1001), flags: 0x10, window: 1000, urgent: 0, options: [], payload: new Uint8Array(n) })
      next += n
      const a = t.dispatch(0)
      if (!a) continue
      expect(a.ack).toBe(next) // every byte inside a promised edge was kept
      const right = a.ack + a.window * 128
      if (right < furthest) movedLeft++
      furthest = Math.max(furthest, right)
    }
    expect(movedLeft).toBeGreaterThan(0) // the scaled field did round the edge left: the case that matters
    expect(furthest - next).toBe(0) // the window closed exactly at the furthest edge
    expect(t.readable).toBe(next - (IRS + 1))
    expect(t.readable).toBeLessThanOrEqual(65536 + 128)
    expect(t.checkInvariants()).toBeUndefined()
  })
})
