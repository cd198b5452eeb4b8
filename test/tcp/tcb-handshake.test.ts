/**
 * Connection establishment: the seed's handshake with ISNs j and k, SYN-SENT, SYN-RECEIVED, LISTEN (the
 * listener and its backlog), simultaneous open (MUST-10), option negotiation and RST for CLOSED ports.
 */
import { describe, expect, it } from 'vitest'
import { seq, seqAdd } from '../../src/tcp/seq.js'
import { Listener, rstForClosed } from '../../src/tcp/listener.js'
import { Tcb } from '../../src/tcp/tcb.js'
import type { TcpRepr } from '../../src/tcp/segment.js'
import {
  ACK,
  FIN,
  L,
  LOCAL_ISS,
  LOCAL_PORT,
  LOCAL_WIN,
  MSS_1460,
  PEER_TUPLE,
  PLAIN,
  PSH,
  R,
  REMOTE_ISS,
  REMOTE_PORT,
  RST,
  SYN,
  TUPLE,
  expectNothing,
  expectSent,
  recorder,
  send,
  seg,
  tcbEstablished,
  tcbSynReceived,
  tcbSynSent,
} from './helpers.js'

const j = LOCAL_ISS
const k = REMOTE_ISS

describe("the seed's handshake (client ISN j, server ISN k)", () => {
  it('SYN seq=j; SYN+ACK seq=k ack=j+1; ACK seq=j+1 ack=k+1; both ESTABLISHED', () => {
    const client = Tcb.connect(TUPLE, 0, PLAIN)
    const listener = new Listener({ localPort: REMOTE_PORT, config: { ...PLAIN, iss: k } })
    expect(client.state).toBe('SYN-SENT')

    const syn = client.dispatch(0)!
    expect(syn).toMatchObject({ seq: j, flags: SYN, srcPort: LOCAL_PORT, dstPort: REMOTE_PORT })
    const server = listener.process(0, syn, PEER_TUPLE)
    expect(server).toBeInstanceOf(Tcb)
    const s = server as Tcb
    expect(s.state).toBe('SYN-RECEIVED')
    expect(listener.halfOpen).toBe(1)

    const synAck = s.dispatch(0)!
    expect(synAck).toMatchObject({ seq: k, ack: seqAdd(j, 1), flags: SYN | ACK, srcPort: REMOTE_PORT, dstPort: LOCAL_PORT })
    expect(s.dispatch(0)).toBeUndefined()

    client.process(0, synAck)
    expect(client.state).toBe('ESTABLISHED')
    const ack = client.dispatch(0)!
    expect(ack).toMatchObject({ seq: seqAdd(j, 1), ack: seqAdd(k, 1), flags: ACK })
    expect(client.dispatch(0)).toBeUndefined()

    s.process(0, ack)
    expect(s.state).toBe('ESTABLISHED')
    expect(s.dispatch(0)).toBeUndefined()
    expect(listener.halfOpen).toBe(0)
    expect(listener.accept()).toBe(s)
    expect(listener.accept()).toBeUndefined()

    // The variables of RFC 9293 §3.3.1 on both ends.
    expect([client.sndUna, client.sndNxt, client.rcvNxt, client.irs]).toEqual([j + 1, j + 1, k + 1, k])
    expect([s.sndUna, s.sndNxt, s.rcvNxt, s.irs]).toEqual([k + 1, k + 1, j + 1, j])
  })

  it('traces every transition with the sequence variables after it', () => {
    const client = Tcb.connect(TUPLE, 0, PLAIN)
    const ev = recorder(client)
    client.dispatch(0)
    send(client, { seq: k, ack: L(0), flags: SYN | ACK, options: MSS_1460 }, 5)
    client.dispatch(5)
    const states = ev.filter((e) => e.type === 'state')
    expect(states).toEqual([
      {
        type: 'state',
        now: 5,
        from: 'SYN-SENT',
        to: 'ESTABLISHED',
        cause: 'SYN+ACK received',
        sndUna: j + 1,
        sndNxt: j + 1,
        sndWnd: 64240,
        rcvNxt: k + 1,
        rcvWnd: LOCAL_WIN,
      },
    ])
    expect(ev.map((e) => e.type)).toEqual(['segment-out', 'segment-in', 'rtt', 'state', 'segment-out'])
  })

  it('an untraced TCB builds no events (onEvent unset)', () => {
    const t = tcbEstablished()
    expect(t.onEvent).toBeUndefined()
  })
})

describe('SYN-SENT', () => {
  it('sends a SYN with the MSS option and an unscaled window', () => {
    const t = Tcb.connect(TUPLE, 0, PLAIN)
    expectSent(t, { seq: j, ack: seq(0), flags: SYN, window: LOCAL_WIN, options: [{ kind: 'mss', value: 1460 }], payload: '' })
    expectNothing(t)
    expect(t.pollAt()).toBe(1_000_000) // RFC 6298 §2.1: initial RTO 1 s
  })

  it('sends MSS, SACK_PERM, TS, NOP, WS by default (with every option on, the same bytes as Linux)', () => {
    const t = Tcb.connect(TUPLE, 2_000_000, { iss: j, tsOffset: 100 })
    expectSent(
      t,
      {
        seq: j,
        flags: SYN,
        window: 65535,
        options: [
          { kind: 'mss', value: 1460 },
          { kind: 'sackPermitted' },
          { kind: 'timestamp', value: 2100, echo: 0 },
          { kind: 'nop' },
          { kind: 'wscale', shift: 7 },
        ],
      },
      2_000_000,
    )
  })

  it("the 'rfc' profile's NOP padding when only some options are on (without timestamps WS precedes SACK_PERM: not Linux's order)", () => {
    const noTs = Tcb.connect(TUPLE, 0, { iss: j, tsOffset: 0, timestamps: false })
    expectSent(noTs, {
      options: [
        { kind: 'mss', value: 1460 },
        { kind: 'nop' },
        { kind: 'wscale', shift: 7 },
        { kind: 'nop' },
        { kind: 'nop' },
        { kind: 'sackPermitted' },
      ],
    })
    const noSack = Tcb.connect(TUPLE, 0, { iss: j, tsOffset: 0, sackPermitted: false })
    expectSent(noSack, {
      options: [
        { kind: 'mss', value: 1460 },
        { kind: 'nop' },
        { kind: 'nop' },
        { kind: 'timestamp', value: 0, echo: 0 },
        { kind: 'nop' },
        { kind: 'wscale', shift: 7 },
      ],
    })
  })

  it("the 'linux' profile lays out a SYN without timestamps as Linux does: MSS, NOP, NOP, SACK_PERM, NOP, WS", () => {
    const noTs = Tcb.connect(TUPLE, 0, { iss: j, tsOffset: 0, timestamps: false, profile: 'linux' })
    expectSent(noTs, {
      options: [
        { kind: 'mss', value: 1460 },
        { kind: 'nop' },
        { kind: 'nop' },
        { kind: 'sackPermitted' },
        { kind: 'nop' },
        { kind: 'wscale', shift: 7 },
      ],
    })
  })

  it('SYN+ACK → ESTABLISHED and an ACK <SEQ=j+1><ACK=k+1>', () => {
    const t = tcbSynSent()
    send(t, { seq: k, ack: L(0), flags: SYN | ACK, window: 1000, options: MSS_1460 })
    expect(t.state).toBe('ESTABLISHED')
    expectSent(t, { seq: L(0), ack: R(0), flags: ACK, window: LOCAL_WIN, options: [] })
    expectNothing(t)
    expect(t.sndWnd).toBe(1000)
    expect(t.pollAt()).toBeUndefined() // nothing outstanding: no timer
  })

  it('data in the SYN+ACK is delivered (processed at the sixth step)', () => {
    const t = tcbSynSent()
    send(t, { seq: k, ack: L(0), flags: SYN | ACK, payload: 'hi' })
    expectSent(t, { seq: L(0), ack: R(2), flags: ACK })
    expect(new TextDecoder().decode(t.recv())).toBe('hi')
  })

  it('an ACK that does not acknowledge our SYN gets <SEQ=SEG.ACK><CTL=RST> and changes nothing', () => {
    for (const bad of [j, seqAdd(j, -5), seqAdd(j, 2)]) {
      const t = tcbSynSent()
      send(t, { seq: k, ack: bad, flags: SYN | ACK })
      expect(t.state).toBe('SYN-SENT')
      expectSent(t, { seq: bad, flags: RST, window: 0, options: [] })
      expectNothing(t)
    }
  })

  it('RST with an acceptable ACK → CLOSED, "connection refused"', () => {
    const t = tcbSynSent()
    send(t, { seq: seq(0), ack: L(0), flags: RST | ACK })
    expect(t.state).toBe('CLOSED')
    expect(t.error).toEqual({ code: 'ECONNREFUSED', reason: 'connection refused: RST in reply to SYN' })
    expectNothing(t)
    expect(() => t.send(new Uint8Array(1))).toThrow(/refused/)
  })

  it('RST without ACK, or with an unacceptable ACK, is dropped silently', () => {
    const t = tcbSynSent()
    send(t, { seq: seq(0), flags: RST })
    send(t, { seq: seq(0), ack: seqAdd(j, 9), flags: RST | ACK })
    expect(t.state).toBe('SYN-SENT')
    expectNothing(t)
  })

  it('a segment with neither SYN nor RST is dropped', () => {
    const t = tcbSynSent()
    send(t, { seq: k, ack: L(0), flags: ACK, payload: 'x' })
    expect(t.state).toBe('SYN-SENT')
    expectNothing(t)
  })

  it('SYN without ACK → SYN-RECEIVED (simultaneous open) and SYN+ACK <SEQ=j><ACK=k+1>', () => {
    const t = tcbSynSent()
    send(t, { seq: k, flags: SYN, options: MSS_1460 })
    expect(t.state).toBe('SYN-RECEIVED')
    expectSent(t, { seq: j, ack: R(0), flags: SYN | ACK, options: [{ kind: 'mss', value: 1460 }] })
    expectNothing(t)
    // The peer's SYN+ACK (its answer to our SYN) completes it, as in Linux; no further ACK is needed.
    send(t, { seq: k, ack: L(0), flags: SYN | ACK })
    expect(t.state).toBe('ESTABLISHED')
    expectNothing(t)
  })

  it('a SYN+ACK that does not acknowledge our SYN in simultaneous SYN-RECEIVED gets a challenge ACK', () => {
    const t = tcbSynSent()
    send(t, { seq: k, flags: SYN })
    t.dispatch(0)
    send(t, { seq: k, ack: j, flags: SYN | ACK })
    expect(t.state).toBe('SYN-RECEIVED')
    expectSent(t, { seq: L(0), ack: R(0), flags: ACK })
  })

  it('two TCBs that connect to each other at once both reach ESTABLISHED (MUST-10)', () => {
    const a = Tcb.connect(TUPLE, 0, PLAIN)
    const b = Tcb.connect(PEER_TUPLE, 0, { ...PLAIN, iss: k })
    const synA = a.dispatch(0)!
    const synB = b.dispatch(0)!
    a.process(1, synB)
    b.process(1, synA)
    expect([a.state, b.state]).toEqual(['SYN-RECEIVED', 'SYN-RECEIVED'])
    const saA = a.dispatch(1)!
    const saB = b.dispatch(1)!
    expect(saA).toMatchObject({ seq: j, ack: seqAdd(k, 1), flags: SYN | ACK })
    expect(saB).toMatchObject({ seq: k, ack: seqAdd(j, 1), flags: SYN | ACK })
    expect(a.dispatch(1)).toBeUndefined()
    a.process(2, saB)
    b.process(2, saA)
    expect([a.state, b.state]).toEqual(['ESTABLISHED', 'ESTABLISHED'])
    // Data flows both ways afterwards.
    a.send(new TextEncoder().encode('ping'))
    b.process(3, a.dispatch(3)!)
    expect(new TextDecoder().decode(b.recv())).toBe('ping')
  })

  it('queued data waits for the handshake, then goes with the first segment after the ACK', () => {
    const t = tcbSynSent()
    expect(t.send(new TextEncoder().encode('early'))).toBe(5)
    expectNothing(t)
    send(t, { seq: k, ack: L(0), flags: SYN | ACK })
    expectSent(t, { seq: L(0), ack: R(0), flags: ACK | PSH, payload: 'early' })
  })

  it('CLOSE in SYN-SENT deletes the TCB without a segment', () => {
    const t = tcbSynSent()
    t.close()
    expect(t.state).toBe('CLOSED')
    expect(t.error).toBeUndefined()
    expectNothing(t)
    expect(t.pollAt()).toBeUndefined()
  })

  it('ABORT in SYN-SENT sends nothing', () => {
    const t = tcbSynSent()
    t.abort()
    expect(t.state).toBe('CLOSED')
    expectNothing(t)
  })

  it('takes the peer MSS for segment sizes; without the option assumes 536 (MUST-15)', () => {
    const a = tcbSynSent()
    send(a, { seq: k, ack: L(0), flags: SYN | ACK, options: [{ kind: 'mss', value: 1000 }] })
    expect(a.effMss).toBe(1000)
    const b = tcbSynSent()
    send(b, { seq: k, ack: L(0), flags: SYN | ACK })
    expect(b.effMss).toBe(536)
    const v6 = Tcb.connect({ ...TUPLE, localAddr: new Uint8Array(16), remoteAddr: new Uint8Array(16) }, 0, PLAIN)
    v6.dispatch(0)
    v6.process(0, seg({ seq: k, ack: L(0), flags: SYN | ACK }))
    expect(v6.effMss).toBe(1220)
    // A hostile MSS of 1 is raised to 48, as Linux's tcp_min_snd_mss.
    const tiny = tcbSynSent()
    send(tiny, { seq: k, ack: L(0), flags: SYN | ACK, options: [{ kind: 'mss', value: 1 }] })
    expect(tiny.effMss).toBe(48)
  })
})

describe('option negotiation (RFC 7323, RFC 2018)', () => {
  const ALL = { iss: j, tsOffset: 0, ackDelay: 0 }
  it('window scale, timestamps and SACK when both SYNs carry them', () => {
    const t = Tcb.connect(TUPLE, 0, ALL)
    t.dispatch(0)
    send(
      t,
      {
        seq: k,
        ack: L(0),
        flags: SYN | ACK,
        window: 65160,
        options: [
          { kind: 'mss', value: 1460 },
          { kind: 'sackPermitted' },
          { kind: 'timestamp', value: 777, echo: 0 },
          { kind: 'nop' },
          { kind: 'wscale', shift: 7 },
        ],
      },
      3000,
    )
    expect([t.wsOk, t.tsOk, t.sackOk, t.sndShift, t.rcvShift]).toEqual([true, true, true, 7, 7])
    expect(t.sndWnd).toBe(65160) // the SYN+ACK's own window is never scaled
    expect(t.effMss).toBe(1448) // 1460 less the 12-byte timestamp option, as Linux
    // 256 KiB buffer >> 7 = 2048: the ACK's window is scaled; TSval 3 (1 ms clock), TSecr echoes 777.
    expectSent(
      t,
      {
        seq: L(0),
        ack: R(0),
        flags: ACK,
        window: 2048,
        options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 3, echo: 777 }],
      },
      3000,
    )
    // The peer's later windows are scaled by its shift.
    send(t, { seq: R(0), ack: L(0), window: 500, options: [{ kind: 'timestamp', value: 778, echo: 3 }] }, 4000)
    expect(t.sndWnd).toBe(500 * 128)
  })

  it('no scaling, timestamps or SACK when the peer does not offer them', () => {
    const t = Tcb.connect(TUPLE, 0, ALL)
    t.dispatch(0)
    send(t, { seq: k, ack: L(0), flags: SYN | ACK, window: 65535, options: MSS_1460 })
    expect([t.wsOk, t.tsOk, t.sackOk, t.sndShift, t.rcvShift]).toEqual([false, false, false, 0, 0])
    expectSent(t, { window: 65535, options: [] })
  })

  it('a shift above 14 is used as 14 (RFC 7323 §2.3)', () => {
    const t = Tcb.connect(TUPLE, 0, ALL)
    t.dispatch(0)
    send(t, { seq: k, ack: L(0), flags: SYN | ACK, options: [{ kind: 'wscale', shift: 15 }] })
    expect(t.sndShift).toBe(14)
  })

  it('the SYN+ACK of a passive open echoes only what the client offered, in Linux order', () => {
    const syn = seg({
      seq: k,
      flags: SYN,
      window: 64240,
      options: [
        { kind: 'mss', value: 1400 },
        { kind: 'sackPermitted' },
        { kind: 'timestamp', value: 4242, echo: 0 },
        { kind: 'nop' },
        { kind: 'wscale', shift: 9 },
      ],
    })
    const t = Tcb.fromSyn(TUPLE, 1000, syn, ALL)
    expectSent(
      t,
      {
        seq: j,
        ack: R(0),
        flags: SYN | ACK,
        window: 65535,
        options: [
          { kind: 'mss', value: 1460 },
          { kind: 'sackPermitted' },
          { kind: 'timestamp', value: 1, echo: 4242 },
          { kind: 'nop' },
          { kind: 'wscale', shift: 7 },
        ],
      },
      1000,
    )
    const bare = Tcb.fromSyn(TUPLE, 0, seg({ seq: k, flags: SYN, options: [{ kind: 'mss', value: 1400 }] }), ALL)
    expectSent(bare, { options: [{ kind: 'mss', value: 1460 }] })
    expect(bare.effMss).toBe(1400)
  })

  it('unknown options are ignored (MUST-6)', () => {
    const t = Tcb.connect(TUPLE, 0, PLAIN)
    t.dispatch(0)
    send(t, { seq: k, ack: L(0), flags: SYN | ACK, options: [{ kind: 'unknown', type: 99, data: new Uint8Array(3) }, ...MSS_1460] })
    expect(t.state).toBe('ESTABLISHED')
  })
})

describe('SYN-RECEIVED', () => {
  it('sends SYN+ACK <SEQ=j><ACK=k+1> and moves to ESTABLISHED on the ACK', () => {
    const t = Tcb.fromSyn(TUPLE, 0, seg({ seq: k, flags: SYN, options: MSS_1460 }), PLAIN)
    expect(t.state).toBe('SYN-RECEIVED')
    expectSent(t, { seq: j, ack: R(0), flags: SYN | ACK, window: LOCAL_WIN, options: [{ kind: 'mss', value: 1460 }] })
    expectNothing(t)
    send(t, { seq: R(0), ack: L(0), window: 30000 })
    expect(t.state).toBe('ESTABLISHED')
    expect(t.sndWnd).toBe(30000)
    expectNothing(t)
  })

  it('the ACK may carry data, delivered at once', () => {
    const t = tcbSynReceived()
    send(t, { seq: R(0), ack: L(0), flags: ACK | PSH, payload: 'GET /' })
    expect(t.state).toBe('ESTABLISHED')
    expectSent(t, { seq: L(0), ack: R(5), flags: ACK })
    expect(new TextDecoder().decode(t.recv())).toBe('GET /')
  })

  it('ACK+FIN completes the handshake and closes the peer side: CLOSE-WAIT', () => {
    const t = tcbSynReceived()
    const ev = recorder(t)
    send(t, { seq: R(0), ack: L(0), flags: ACK | FIN })
    expect(t.state).toBe('CLOSE-WAIT')
    expect(ev.filter((e) => e.type === 'state').map((e) => (e.type === 'state' ? e.to : ''))).toEqual(['ESTABLISHED', 'CLOSE-WAIT'])
    expectSent(t, { seq: L(0), ack: R(1), flags: ACK })
  })

  it('an unacceptable ACK gets <SEQ=SEG.ACK><CTL=RST>', () => {
    const t = tcbSynReceived()
    send(t, { seq: R(0), ack: seqAdd(j, 7) })
    expect(t.state).toBe('SYN-RECEIVED')
    expectSent(t, { seq: seqAdd(j, 7), flags: RST, ack: seq(0) })
  })

  it('a retransmitted SYN (our SYN+ACK was lost) is answered with the SYN+ACK again (Linux)', () => {
    const t = tcbSynReceived()
    send(t, { seq: k, flags: SYN, options: MSS_1460 }, 600_000)
    expectSent(t, { seq: j, ack: R(0), flags: SYN | ACK }, 600_000)
    expectNothing(t, 600_000)
  })

  it('a RST at RCV.NXT (passive open) deletes the half-open connection without an error', () => {
    const t = tcbSynReceived()
    send(t, { seq: R(0), flags: RST })
    expect(t.state).toBe('CLOSED')
    expect(t.error).toBeUndefined()
  })

  it('a RST at RCV.NXT after a simultaneous open is "connection refused"', () => {
    const t = tcbSynSent()
    send(t, { seq: k, flags: SYN })
    t.dispatch(0)
    send(t, { seq: R(0), flags: RST })
    expect(t.state).toBe('CLOSED')
    expect(t.error?.code).toBe('ECONNREFUSED')
  })

  it('an in-window SYN with a new ISN returns a passive connection to LISTEN (RFC 9293 §3.10.7.4 fourth)', () => {
    const t = tcbSynReceived()
    send(t, { seq: R(100), flags: SYN })
    expect(t.state).toBe('CLOSED')
  })

  it('CLOSE in SYN-RECEIVED → FIN-WAIT-1; the FIN follows once our SYN is acknowledged', () => {
    const t = tcbSynReceived()
    t.close()
    expect(t.state).toBe('FIN-WAIT-1')
    expectNothing(t)
    send(t, { seq: R(0), ack: L(0) })
    expectSent(t, { seq: L(0), ack: R(0), flags: FIN | ACK })
  })

  it('ABORT in SYN-RECEIVED sends RST', () => {
    const t = tcbSynReceived()
    t.abort()
    expect(t.state).toBe('CLOSED')
    expectSent(t, { seq: L(0), ack: R(0), flags: RST | ACK })
    expectNothing(t)
  })
})

describe('LISTEN: the listener', () => {
  const L_TUPLE = (port: number) => ({ ...PEER_TUPLE, remotePort: port })
  const synFrom = (port: number): TcpRepr => ({ ...seg({ seq: k, flags: SYN, options: MSS_1460 }), srcPort: port, dstPort: REMOTE_PORT })

  it('ignores RST, answers an ACK with <SEQ=SEG.ACK><CTL=RST>, drops other segments', () => {
    const l = new Listener({ localPort: REMOTE_PORT, config: PLAIN })
    expect(l.process(0, seg({ flags: RST, seq: seq(9) }), PEER_TUPLE)).toBeUndefined()
    const r = l.process(0, seg({ seq: seq(5), ack: seq(77), flags: ACK }), PEER_TUPLE) as TcpRepr
    expect(r).toMatchObject({ seq: 77, flags: RST, srcPort: LOCAL_PORT, dstPort: REMOTE_PORT })
    const r2 = l.process(0, seg({ seq: seq(5), ack: seq(78), flags: SYN | ACK }), PEER_TUPLE) as TcpRepr
    expect(r2).toMatchObject({ seq: 78, flags: RST })
    expect(l.process(0, seg({ seq: seq(5), flags: FIN }), PEER_TUPLE)).toBeUndefined()
  })

  it('setConfig: connections made after it take the new config (TCP_MAXSEG on a listening socket); earlier ones keep theirs', () => {
    const l = new Listener({ localPort: REMOTE_PORT, config: PLAIN })
    const before = l.process(0, synFrom(1000), L_TUPLE(1000)) as Tcb
    l.setConfig({ ...PLAIN, mss: 1100 })
    const after = l.process(0, synFrom(1001), L_TUPLE(1001)) as Tcb
    const mssOf = (t: Tcb) => t.dispatch(0)!.options.find((o) => o.kind === 'mss')
    expect([mssOf(before), mssOf(after)]).toEqual([{ kind: 'mss', value: 1460 }, { kind: 'mss', value: 1100 }])
    expect([before.config.mss, after.config.mss]).toEqual([1460, 1100])
  })

  it('traces what it answers and what it drops', () => {
    const events: string[] = []
    const l = new Listener({
      localPort: REMOTE_PORT,
      maxHalfOpen: 0,
      config: PLAIN,
      onEvent: (e, src) => {
        expect(src).toBe(l)
        events.push(e.type === 'drop' ? `drop:${e.reason}` : e.type)
      },
    })
    l.process(0, seg({ seq: seq(5), ack: seq(77), flags: ACK }), PEER_TUPLE)
    l.process(0, synFrom(1000), L_TUPLE(1000))
    l.process(0, seg({ flags: RST }), PEER_TUPLE)
    expect(events).toEqual(['segment-in', 'segment-out', 'segment-in', 'drop:backlog-full', 'segment-in', 'drop:listen'])
  })

  it('bounds half-open connections: SYNs beyond the limit are dropped', () => {
    const l = new Listener({ localPort: REMOTE_PORT, maxHalfOpen: 3, backlog: 10, config: PLAIN })
    const made: Tcb[] = []
    for (let p = 1000; p < 1010; p++) {
      const r = l.process(0, synFrom(p), L_TUPLE(p))
      if (r instanceof Tcb) made.push(r)
    }
    expect(made.length).toBe(3)
    expect(l.halfOpen).toBe(3)
    expect(l.stats.synsDropped).toBe(7)
    // A half-open one that is reset frees its slot.
    made[0].process(0, { ...seg({ seq: R(0), flags: RST }), dstPort: REMOTE_PORT })
    expect(l.halfOpen).toBe(2)
    expect(l.process(0, synFrom(2000), L_TUPLE(2000))).toBeInstanceOf(Tcb)
  })

  it('bounds the accept queue: while it is full new SYNs are dropped', () => {
    const l = new Listener({ localPort: REMOTE_PORT, backlog: 2, config: PLAIN })
    for (let p = 1000; p < 1002; p++) {
      const t = l.process(0, synFrom(p), L_TUPLE(p)) as Tcb
      t.dispatch(0)
      t.process(0, seg({ seq: R(0), ack: L(0) }))
      expect(t.state).toBe('ESTABLISHED')
    }
    expect(l.pending).toBe(2)
    expect(l.process(0, synFrom(3000), L_TUPLE(3000))).toBeUndefined()
    l.accept()
    expect(l.process(0, synFrom(3000), L_TUPLE(3000))).toBeInstanceOf(Tcb)
  })

  it('with SYN cookies, a full SYN queue answers statelessly and a valid ACK creates the connection', () => {
    const l = new Listener({ localPort: REMOTE_PORT, maxHalfOpen: 0, synCookies: true, config: { ...PLAIN, isnSecret: new Uint8Array(32).fill(7) } })
    const sa = l.process(5_000_000, synFrom(1234), L_TUPLE(1234)) as TcpRepr
    expect(sa).toMatchObject({ flags: SYN | ACK, ack: R(0), options: [{ kind: 'mss', value: 1460 }] })
    expect(l.halfOpen).toBe(0)
    // A forged ACK with a wrong cookie is answered with RST.
    const bad = l.process(5_000_100, { ...seg({ seq: R(0), ack: seqAdd(sa.seq, 2) }), dstPort: REMOTE_PORT, srcPort: 1234 }, L_TUPLE(1234))
    expect(bad).toMatchObject({ flags: RST })
    expect(l.stats.cookiesRejected).toBe(1)
    const t = l.process(5_000_100, { ...seg({ seq: R(0), ack: seqAdd(sa.seq, 1), payload: 'hello' }), srcPort: 1234, dstPort: REMOTE_PORT }, L_TUPLE(1234))
    expect(t).toBeInstanceOf(Tcb)
    const c = t as Tcb
    expect(c.state).toBe('ESTABLISHED')
    expect(c.effMss).toBe(1460)
    expect(new TextDecoder().decode(c.recv())).toBe('hello')
    expect(l.accept()).toBe(c)
    // Two minutes later the cookie has expired.
    const late = l.process(200_000_000, { ...seg({ seq: R(0), ack: seqAdd(sa.seq, 1) }), srcPort: 1234, dstPort: REMOTE_PORT }, L_TUPLE(1234))
    expect(late).toMatchObject({ flags: RST })
  })
})

describe('CLOSED: RST for a segment with no connection (RFC 9293 §3.10.7.1)', () => {
  it('ACK off: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, counting SYN and FIN', () => {
    expect(rstForClosed(seg({ seq: seq(100), flags: SYN }))).toMatchObject({
      seq: 0,
      ack: 101,
      flags: RST | ACK,
      srcPort: LOCAL_PORT,
      dstPort: REMOTE_PORT,
      window: 0,
      payload: new Uint8Array(0),
    })
    expect(rstForClosed(seg({ seq: seq(100), flags: FIN, payload: 'abc' }))).toMatchObject({ seq: 0, ack: 104, flags: RST | ACK })
    expect(rstForClosed(seg({ seq: seq(0xffffffff), flags: SYN | FIN }))).toMatchObject({ ack: 1 })
  })

  it('ACK on: <SEQ=SEG.ACK><CTL=RST>', () => {
    expect(rstForClosed(seg({ seq: seq(100), ack: seq(555), flags: ACK, payload: 'x' }))).toMatchObject({ seq: 555, flags: RST })
  })

  it('an incoming RST is never answered', () => {
    expect(rstForClosed(seg({ flags: RST }))).toBeUndefined()
    expect(rstForClosed(seg({ flags: RST | ACK }))).toBeUndefined()
  })

  it('a TCB that has reached CLOSED answers the same way', () => {
    const t = tcbEstablished()
    t.abort()
    t.dispatch(0) // the abort's RST
    send(t, { seq: R(0), ack: L(0), payload: 'late' })
    expectSent(t, { seq: L(0), flags: RST })
    expectNothing(t)
  })
})
