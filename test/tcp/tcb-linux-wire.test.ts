/**
 * Segments the 'linux' profile must write as the kernel does, each case pinned against a kernel run of the
 * corpus script named in its describe (test/scripts/, `tcplab script --stack both`), plus what the 'rfc'
 * profile does where it differs.
 */
import { describe, expect, it } from 'vitest'
import { Tcb } from '../../src/tcp/tcb.js'
import type { TcpConfig } from '../../src/tcp/types.js'
import type { TcpOption } from '../../src/tcp/options.js'
import { seq, seqAdd, type Seq } from '../../src/tcp/seq.js'
import { ACK, L, LOCAL_ISS, MSS_1460, PSH, R, REMOTE_ISS, RST, SYN, TUPLE, PLAIN, drain, expectNothing, expectSent, send, seg, flagNames } from './helpers.js'

const bytes = (n: number, fill = 0x61): Uint8Array => new Uint8Array(n).fill(fill)

/** A passive open as the corpus scripts make it: the peer's SYN with `synOpts`, our SYN+ACK, its ACK with `win`. */
function passive(cfg: Partial<TcpConfig>, synOpts: Parameters<typeof seg>[0]['options'], win: number, synWin = 65535): Tcb {
  const t = Tcb.fromSyn(TUPLE, 0, seg({ seq: REMOTE_ISS, flags: SYN, window: synWin, options: synOpts }), { ...PLAIN, ...cfg })
  expect(t.dispatch(0)!.flags).toBe(SYN | ACK)
  send(t, { seq: R(0), ack: L(0), window: win }, 100_000)
  expect(t.state).toBe('ESTABLISHED')
  return t
}

describe('PSH on retransmissions (retrans-fast-retransmit.pkt, retrans-sack-recovery.pkt)', () => {
  for (const profile of ['linux', 'rfc'] as const) {
    it(`${profile}: a segment first sent with PSH is retransmitted with PSH; one sent without, without`, () => {
      const t = passive({ profile, nagle: false, ackDelay: 0 }, [{ kind: 'mss', value: 1000 }], 65535)
      const now = 100_000
      // Four writes of 1000 octets, each its own segment with PSH (TCP_NODELAY, each write ends the queue).
      for (let i = 0; i < 4; i++) {
        expect(t.send(bytes(1000))).toBe(1000)
        expectSent(t, { seq: L(1000 * i), flags: ACK | PSH, payload: bytes(1000) }, now)
      }
      // Three duplicate ACKs: the first segment again, with the PSH it had (the kernel: `P. 1:1001(1000)`).
      for (let i = 0; i < 3; i++) send(t, { seq: R(0), ack: L(0), window: 65535 }, 200_000)
      expectSent(t, { seq: L(0), flags: ACK | PSH, payload: bytes(1000) }, 200_000)
      expectNothing(t, 200_000)
    })
  }

  it('a write cut into segments: GSO packets of two push their last segment, the write its end; a retransmission has only the write\'s PSH', () => {
    const t = passive({ profile: 'linux', nagle: false, ackDelay: 0 }, [{ kind: 'mss', value: 1000 }], 65535)
    expect(t.send(bytes(2500))).toBe(2500)
    const first = drain(t, 100_000)
    // On the kernel (6.18): one 2000-byte GSO packet with PSH, then the 500 with the write's PSH (tso.ts: a
    // 100 ms handshake makes a GSO packet 2 segments).
    expect(first.map((s) => `${s.payload.length}:${flagNames(s.flags)}`)).toEqual(['1000:ACK', '1000:PSH,ACK', '500:PSH,ACK'])
    // The handshake timed 100 ms, so the RTO is 300 ms: at 400 ms go-back-N resends the first segment, which
    // was sent without PSH and goes again without it.
    expectNothing(t, 399_999)
    expectSent(t, { seq: L(0), flags: ACK, payload: bytes(1000) }, 400_000)
    expectNothing(t, 400_000)
    // The peer had the second: an ACK of 2000 lets the last 500 go again, with the PSH they first had.
    send(t, { seq: R(0), ack: L(2000), window: 65535 }, 500_000)
    expectSent(t, { seq: L(2000), flags: ACK | PSH, payload: bytes(500) }, 500_000)
  })
})

describe('window-limited sends (window-limited-send.pkt, open-passive-wscale-only.pkt)', () => {
  const mss1000 = [{ kind: 'mss' as const, value: 1000 }]

  it("linux: a 300-octet window is filled at once, with PSH, by segments bounded to the window the handshake's ACK offered", () => {
    const t = passive({ profile: 'linux' }, mss1000, 300)
    expect(t.maxSndWnd).toBe(300) // the ACK's window, not the SYN's 65535
    expect(t.send(bytes(1000))).toBe(1000)
    expectSent(t, { seq: L(0), flags: ACK | PSH, payload: bytes(300) }, 100_000)
    expectNothing(t, 100_000)
    send(t, { seq: R(0), ack: L(300), window: 300 }, 200_000)
    expectSent(t, { seq: L(300), flags: ACK | PSH, payload: bytes(300) }, 200_000)
    expectNothing(t, 200_000)
    // A window of 1000: segments may now be 500 (half of it); 400 remain, the end of the write.
    send(t, { seq: R(0), ack: L(600), window: 1000 }, 300_000)
    expectSent(t, { seq: L(600), flags: ACK | PSH, payload: bytes(400) }, 300_000)
    expectNothing(t, 300_000)
  })

  it("linux: with the peer's shift of 2 a window field of 100 is 400 octets: 1:401 with PSH, then the other 600 with PSH", () => {
    const t = passive({ profile: 'linux', windowScale: 10, timestamps: true }, [{ kind: 'mss', value: 1000 }, { kind: 'wscale', shift: 2 }], 100)
    expect(t.send(bytes(1000))).toBe(1000)
    expectSent(t, { seq: L(0), flags: ACK | PSH, payload: bytes(400) }, 100_000)
    expectNothing(t, 100_000)
    send(t, { seq: R(0), ack: L(400), window: 1000 }, 200_000)
    expectSent(t, { seq: L(400), flags: ACK | PSH, payload: bytes(600) }, 200_000)
  })

  it('linux: more than half the largest window queued since the last push is pushed (the kernel: P at 2001 of 1:3001)', () => {
    const t = passive({ profile: 'linux' }, mss1000, 3000)
    expect(t.send(bytes(3000))).toBe(3000)
    const out = drain(t, 100_000)
    expect(out.map((s) => `${s.seq - L(0)}:${s.payload.length}:${flagNames(s.flags)}`)).toEqual(['0:1000:ACK', '1000:1000:PSH,ACK', '2000:1000:PSH,ACK'])
  })

  it('linux: a window shrunk below half the largest one holds the data until the persist timer, which sends what fits with PSH', () => {
    const t = passive({ profile: 'linux' }, mss1000, 65535)
    // The peer's data moves its sequence number so the smaller window is taken (the kernel ignores a shrink
    // from the same SEG.SEQ, tcp_may_update_window).
    send(t, { seq: R(0), ack: L(0), window: 65535, flags: ACK | PSH, payload: 'x' }, 100_000)
    drain(t, 100_000)
    send(t, { seq: R(1), ack: L(0), window: 300 }, 100_000)
    expect(t.send(bytes(1000))).toBe(1000)
    expectNothing(t, 100_000)
    const at = t.pollAt()!
    expect(at).toBe(400_000) // one RTO (300 ms after a 100 ms handshake)
    expectSent(t, { seq: L(0), flags: ACK | PSH, payload: bytes(300) }, at)
  })

  it('rfc: the same 300-octet window waits for the override timeout (RFC 9293 §3.8.6.2.1, SYN window 65535) and goes without PSH', () => {
    const t = passive({ profile: 'rfc' }, mss1000, 300)
    expect(t.maxSndWnd).toBe(65535)
    expect(t.send(bytes(1000))).toBe(1000)
    expectNothing(t, 100_000)
    expectSent(t, { seq: L(0), flags: ACK, payload: bytes(300) }, 400_000)
  })
})

describe('an unacceptable ACK in SYN-SENT (rst-syn-sent-bad-ack.pkt, rst-syn-sent-ignored.pkt)', () => {
  // Linear SYN timeouts off, as in the kernel run that checked the backed-off timer (tcp_syn_linear_timeouts=0).
  const connect = (profile: 'linux' | 'rfc'): Tcb => {
    const t = Tcb.connect(TUPLE, 0, { ...PLAIN, profile, synLinearTimeouts: 0 })
    expectSent(t, { seq: LOCAL_ISS, flags: SYN }, 0)
    return t
  }

  it('linux: a SYN+ACK with a bad ACK draws the RST, then the SYN again 2 ms later (TCP_TIMEOUT_MIN); a second one only the RST', () => {
    const t = connect('linux')
    send(t, { seq: REMOTE_ISS, ack: seqAdd(LOCAL_ISS, 5000), flags: SYN | ACK, options: MSS_1460 }, 100_000)
    expectSent(t, { seq: seqAdd(LOCAL_ISS, 5000), flags: RST }, 100_000)
    expectNothing(t, 100_000)
    expect(t.pollAt()).toBe(102_000)
    expectSent(t, { seq: LOCAL_ISS, flags: SYN }, 102_000)
    // The SYN has been retransmitted once: the next bad ACK leaves the timer alone (backed off: 2 s).
    send(t, { seq: REMOTE_ISS, ack: seqAdd(LOCAL_ISS, 5000), flags: SYN | ACK, options: MSS_1460 }, 200_000)
    expectSent(t, { seq: seqAdd(LOCAL_ISS, 5000), flags: RST }, 200_000)
    expect(t.pollAt()).toBe(2_102_000)
    expect(t.state).toBe('SYN-SENT')
  })

  it('linux: a RST whose ACK is bad is dropped without a reply but also brings the SYN forward; a RST without ACK does not', () => {
    const t = connect('linux')
    send(t, { seq: seq(0), ack: seq(0), flags: RST, window: 0 }, 50_000)
    expectNothing(t, 50_000)
    expect(t.pollAt()).toBe(1_000_000)
    send(t, { seq: seq(0), ack: seqAdd(LOCAL_ISS, 12345), flags: RST | ACK, window: 0 }, 100_000)
    expectNothing(t, 100_000)
    expect(t.pollAt()).toBe(102_000)
    expectSent(t, { seq: LOCAL_ISS, flags: SYN }, 102_000)
  })

  it('rfc: the RST only (RFC 9293 §3.10.7.3); the SYN waits for its 1 s RTO', () => {
    const t = connect('rfc')
    send(t, { seq: REMOTE_ISS, ack: seqAdd(LOCAL_ISS, 5000), flags: SYN | ACK, options: MSS_1460 }, 100_000)
    expectSent(t, { seq: seqAdd(LOCAL_ISS, 5000), flags: RST }, 100_000)
    expect(t.pollAt()).toBe(1_000_000)
  })
})

describe('D-SACK, RFC 2883 (sack-dsack-duplicate.pkt, sack-dsack-out-of-order.pkt)', () => {
  const sackSyn = [{ kind: 'mss' as const, value: 1000 }, { kind: 'sackPermitted' as const }]
  const sack = (...blocks: Array<[number, number]>) => [{ kind: 'nop' as const }, { kind: 'nop' as const }, { kind: 'sack' as const, blocks: blocks.map(([a, b]) => [R(a), R(b)] as [ReturnType<typeof R>, ReturnType<typeof R>]) }]
  const data = (t: Tcb, from: number, to: number, now: number) =>
    send(t, { seq: R(from), ack: L(0), flags: ACK | PSH, window: 65535, payload: bytes(to - from) }, now)

  it('linux: a duplicate below RCV.NXT is reported once, as the first block; a partly old one up to RCV.NXT', () => {
    const t = passive({ profile: 'linux', sackPermitted: true }, sackSyn, 65535)
    data(t, 0, 1000, 100_000)
    expectSent(t, { ack: R(1000), options: [] }, 100_000)
    data(t, 0, 1000, 200_000)
    expectSent(t, { ack: R(1000), options: sack([0, 1000]) }, 200_000)
    expectNothing(t, 200_000)
    // Checked on the kernel: 501:1501 after 1:1001 draws ack 1501 <sack 501:1001>.
    data(t, 500, 1500, 300_000)
    expectSent(t, { ack: R(1500), options: sack([500, 1000]) }, 300_000)
    // Only once: the next ACK has no block.
    data(t, 1500, 1600, 400_000)
    expectSent(t, { ack: R(1600), options: [] }, 400_000)
  })

  it('linux: a duplicate of data held above a hole comes first, then the block that holds it; an in-order segment overlapping held data too', () => {
    const t = passive({ profile: 'linux', sackPermitted: true }, sackSyn, 65535)
    data(t, 2000, 3000, 100_000)
    expectSent(t, { ack: R(0), options: sack([2000, 3000]) }, 100_000)
    data(t, 3000, 4000, 150_000)
    expectSent(t, { ack: R(0), options: sack([2000, 4000]) }, 150_000)
    data(t, 2000, 3000, 200_000)
    expectSent(t, { ack: R(0), options: sack([2000, 3000], [2000, 4000]) }, 200_000)
    // Checked on the kernel: a segment that fills the hole and runs into held data has that part D-SACKed.
    data(t, 0, 2500, 300_000)
    expectSent(t, { ack: R(4000), options: sack([2000, 2500]) }, 300_000)
  })

  it("rfc (dsack off by default) and a connection without SACK send no D-SACK", () => {
    for (const t of [passive({ profile: 'rfc', sackPermitted: true, ackDelay: 0 }, sackSyn, 65535), passive({ profile: 'linux' }, sackSyn, 65535)]) {
      data(t, 0, 1000, 100_000)
      expectSent(t, { ack: R(1000), options: [] }, 100_000)
      data(t, 0, 1000, 200_000)
      expectSent(t, { ack: R(1000), options: [] }, 200_000)
    }
  })
})

describe('a FIN held beyond a hole is in the SACK blocks (close-fin-out-of-order.pkt)', () => {
  const sackSyn = [{ kind: 'mss' as const, value: 1000 }, { kind: 'sackPermitted' as const }]
  const sackOpt = (...blocks: Array<[number, number]>): TcpOption[] => [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: blocks.map(([a, b]) => [R(a), R(b)] as [Seq, Seq]) }]
  const FIN = 0x01

  for (const profile of ['linux', 'rfc'] as const) {
    it(`${profile}: data+FIN at 101 is SACKed 101:202 (the FIN's sequence number included); filling the hole ACKs 202`, () => {
      const t = passive({ profile, sackPermitted: true }, sackSyn, 65535)
      send(t, { seq: R(100), ack: L(0), flags: ACK | PSH | FIN, window: 65535, payload: bytes(100) }, 100_000)
      expectSent(t, { ack: R(0), options: sackOpt([100, 201]) }, 100_000)
      send(t, { seq: R(0), ack: L(0), flags: ACK | PSH, window: 65535, payload: bytes(100) }, 200_000)
      expectSent(t, { ack: R(201), options: [] }, 200_000)
      expect(t.state).toBe('CLOSE-WAIT')
    })
  }

  it('linux: a bare FIN beyond the hole gets its own block, as on the kernel (<sack 101:102>); later data below it comes first', () => {
    const t = passive({ profile: 'linux', sackPermitted: true }, sackSyn, 65535)
    send(t, { seq: R(100), ack: L(0), flags: ACK | FIN, window: 65535 }, 100_000)
    expectSent(t, { ack: R(0), options: sackOpt([100, 101]) }, 100_000)
    send(t, { seq: R(50), ack: L(0), flags: ACK | PSH, window: 65535, payload: bytes(20) }, 150_000)
    expectSent(t, { ack: R(0), options: sackOpt([50, 70], [100, 101]) }, 150_000)
    // Data that reaches the FIN joins its block.
    send(t, { seq: R(70), ack: L(0), flags: ACK | PSH, window: 65535, payload: bytes(30) }, 160_000)
    expectSent(t, { ack: R(0), options: sackOpt([50, 101]) }, 160_000)
  })
})

describe('interactive (ping-pong) mode (data-both-ways.pkt)', () => {
  const mss1000 = [{ kind: 'mss' as const, value: 1000 }]

  it('linux: a reply sent within 40 ms of a request makes the next request wait for the reply to carry its ACK; a missed delayed ACK ends it', () => {
    const t = passive({ profile: 'linux', sackPermitted: true, ackDelay: 40_000 }, [...mss1000, { kind: 'sackPermitted' as const }], 65535)
    send(t, { seq: R(0), ack: L(0), flags: ACK | PSH, window: 65535, payload: bytes(100) }, 100_000)
    expectSent(t, { seq: L(0), ack: R(100), flags: ACK, payload: '' }, 100_000) // quick ACK
    expect(t.recv(100).length).toBe(100)
    t.send(bytes(300))
    expectSent(t, { seq: L(0), ack: R(100), flags: ACK | PSH, payload: bytes(300) }, 100_000)
    // The second request: no quick ACK now (the kernel sends none), the delayed ACK is armed.
    send(t, { seq: R(100), ack: L(300), flags: ACK | PSH, window: 65535, payload: bytes(100) }, 200_000)
    expectNothing(t, 200_000)
    expect(t.pollAt()).toBe(240_000)
    expect(t.recv(100).length).toBe(100)
    t.send(bytes(50))
    expectSent(t, { seq: L(300), ack: R(200), flags: ACK | PSH, payload: bytes(50) }, 200_000)
    expectNothing(t, 200_000)
    // A third request with no reply: the delayed ACK fires 40 ms later and ping-pong mode ends...
    send(t, { seq: R(200), ack: L(350), flags: ACK | PSH, window: 65535, payload: bytes(100) }, 300_000)
    expectNothing(t, 300_000)
    expectSent(t, { ack: R(300), flags: ACK, payload: '' }, 340_000)
    // ...so the next request is quick-ACKed again.
    send(t, { seq: R(300), ack: L(350), flags: ACK | PSH, window: 65535, payload: bytes(100) }, 400_000)
    expectSent(t, { ack: R(400), flags: ACK, payload: '' }, 400_000)
  })

  it('linux: a reply more than 40 ms after the request leaves quick ACKs on', () => {
    const t = passive({ profile: 'linux', ackDelay: 40_000 }, mss1000, 65535)
    send(t, { seq: R(0), ack: L(0), flags: ACK | PSH, window: 65535, payload: bytes(100) }, 100_000)
    expectSent(t, { ack: R(100), payload: '' }, 100_000)
    t.send(bytes(300))
    expectSent(t, { seq: L(0), flags: ACK | PSH, payload: bytes(300) }, 140_000)
    send(t, { seq: R(100), ack: L(300), flags: ACK | PSH, window: 65535, payload: bytes(100) }, 200_000)
    expectSent(t, { ack: R(200), payload: '' }, 200_000)
  })
})

describe('TCP_QUICKACK and the every-second-segment ACK (data-delayed-ack.pkt, data-delayed-ack-cumulative.pkt)', () => {
  const mss1000 = [{ kind: 'mss' as const, value: 1000 }]
  const linux = { profile: 'linux' as const, ackDelay: 40_000, rcvBuf: 65536 }

  it('linux: quick-ack off before the data: a lone segment is ACKed by the delayed-ACK timer, 40 ms later', () => {
    const t = passive(linux, mss1000, 65535)
    expect(t.quickAckMode).toBe(false) // no data yet: quick-ack mode starts with the first
    t.setQuickAck(false)
    send(t, { seq: R(0), ack: L(0), flags: ACK | PSH, window: 65535, payload: bytes(100) }, 100_000)
    expectNothing(t, 100_000)
    expect(t.pollAt()).toBe(140_000)
    expectSent(t, { ack: R(100), payload: '' }, 140_000)
  })

  it('linux: two full segments the application has not read wait for the timer (one cumulative ACK); a read sends it at once', () => {
    const t = passive(linux, mss1000, 65535)
    t.setQuickAck(false)
    send(t, { seq: R(0), ack: L(0), window: 65535, payload: bytes(1000) }, 100_000)
    send(t, { seq: R(1000), ack: L(0), window: 65535, payload: bytes(1000) }, 105_000)
    expectNothing(t, 105_000)
    expect(t.pollAt()).toBe(140_000)
    expectSent(t, { ack: R(2000), payload: '' }, 140_000)
    // The timer firing in ping-pong mode ended it (TCP_QUICKACK=0 is not permanent); set again, two more
    // segments, then the application reads: the ACK goes with the read (Linux's tcp_cleanup_rbuf).
    expect(t.quickAckMode).toBe(true)
    t.setQuickAck(false)
    send(t, { seq: R(2000), ack: L(0), window: 65535, payload: bytes(1000) }, 200_000)
    send(t, { seq: R(3000), ack: L(0), window: 65535, payload: bytes(1000) }, 201_000)
    expectNothing(t, 201_000)
    expect(t.recv(4000).length).toBe(4000)
    expectSent(t, { ack: R(4000), payload: '' }, 202_000)
  })

  it('linux: TCP_QUICKACK=1 leaves ping-pong mode; the ACK being delayed goes at once only once the data was read (as on the kernel)', () => {
    const t = passive(linux, mss1000, 65535)
    t.setQuickAck(false)
    send(t, { seq: R(0), ack: L(0), flags: ACK | PSH, window: 65535, payload: bytes(100) }, 100_000)
    expectNothing(t, 100_000)
    t.setQuickAck(true)
    expect(t.quickAckMode).toBe(true)
    expectNothing(t, 101_000) // unread: the kernel's ACK still came from its timer
    t.setQuickAck(false)
    expect(t.recv(100).length).toBe(100)
    t.setQuickAck(true)
    expectSent(t, { ack: R(100), payload: '' }, 102_000)
    send(t, { seq: R(100), ack: L(0), flags: ACK | PSH, window: 65535, payload: bytes(100) }, 110_000)
    expectSent(t, { ack: R(200), payload: '' }, 110_000)
  })

  it('rfc: no quick-ack mode to leave; two full segments are ACKed at once (RFC 1122 §4.2.3.2, RFC 9293 SHLD-19)', () => {
    const t = passive({ profile: 'rfc', ackDelay: 40_000 }, mss1000, 65535)
    t.setQuickAck(false)
    expect(t.quickAckMode).toBe(false)
    send(t, { seq: R(0), ack: L(0), window: 65535, payload: bytes(1000) }, 100_000)
    expectNothing(t, 100_000)
    send(t, { seq: R(1000), ack: L(0), window: 65535, payload: bytes(1000) }, 105_000)
    expectSent(t, { ack: R(2000), payload: '' }, 105_000)
  })
})

describe('Tcb.info(): TCP_INFO counters (info-passive-options.pkt, info-rto-loss-state.pkt, info-unacked-rtt.pkt)', () => {
  const sackSyn = [{ kind: 'mss' as const, value: 1000 }, { kind: 'sackPermitted' as const }]

  it('after a passive open: Open, nothing unacknowledged or retransmitted, 10 segments of cwnd', () => {
    const t = passive({ profile: 'linux', sackPermitted: true }, sackSyn, 65535)
    const i = t.info()
    expect([i.caState, i.unacked, i.retransmits, i.totalRetrans, i.sndMss, Math.floor(i.cwnd / i.sndMss)]).toEqual(['open', 0, 0, 0, 1000, 10])
    expect([i.bytesAcked, i.dataSegsOut]).toEqual([0, 0])
  })

  it('an RTO: Loss, one retransmission, backoff 1, the RTO doubled, cwnd one segment; the ACK brings Open back', () => {
    // tcp_early_retrans=0 in the script: no tail loss probe before the RTO.
    const t = passive({ profile: 'linux', sackPermitted: true, nagle: false, rack: false }, sackSyn, 65535)
    const before = t.info().rto
    expect(before).toBe(300_000)
    t.send(bytes(1000))
    expectSent(t, { seq: L(0), payload: bytes(1000) }, 100_000)
    expectSent(t, { seq: L(0), payload: bytes(1000) }, 400_000)
    const i = t.info()
    expect([i.caState, i.retransmits, i.backoff, i.totalRetrans, i.rto, i.cwnd / i.sndMss]).toEqual(['loss', 1, 1, 1, 2 * before, 1])
    expect([i.unacked, i.retransOut]).toEqual([1, 1])
    send(t, { seq: R(0), ack: L(1000), window: 65535 }, 500_000)
    const j = t.info()
    expect([j.caState, j.retransmits, j.unacked, j.bytesAcked, j.dataSegsOut]).toEqual(['open', 0, 0, 1000, 2])
  })

  it('segments in flight, then an RTT sample of 100 ms, 3000 octets acknowledged in 3 data segments', () => {
    const t = passive({ profile: 'linux', sackPermitted: true, nagle: false }, sackSyn, 65535)
    for (let k = 0; k < 3; k++) {
      t.send(bytes(1000))
      expectSent(t, { seq: L(1000 * k) }, 200_000)
    }
    expect(t.info().unacked).toBe(3)
    send(t, { seq: R(0), ack: L(2000), window: 65535 }, 300_000)
    expect(t.info().unacked).toBe(1)
    send(t, { seq: R(0), ack: L(3000), window: 65535 }, 300_000)
    const i = t.info()
    expect([i.unacked, i.rtt, i.bytesAcked, i.dataSegsOut]).toEqual([0, 100_000, 3000, 3])
  })

  it('without SACK unacked counts the flight in full segments; an active open counts the SYN in bytesAcked, as the kernel does', () => {
    const t = Tcb.connect(TUPLE, 0, { ...PLAIN, profile: 'linux' })
    expectSent(t, { flags: SYN }, 0)
    send(t, { seq: REMOTE_ISS, ack: L(0), flags: SYN | ACK, options: [{ kind: 'mss', value: 1000 }] }, 100_000)
    expectSent(t, { flags: ACK }, 100_000)
    expect(t.info().bytesAcked).toBe(1)
    t.send(bytes(2500))
    drain(t, 100_000)
    expect(t.info().unacked).toBe(3)
    send(t, { seq: R(0), ack: L(1000) }, 200_000)
    expect([t.info().unacked, t.info().bytesAcked]).toEqual([2, 1001])
    // Three duplicate ACKs: fast recovery (NewReno).
    for (let k = 0; k < 3; k++) send(t, { seq: R(0), ack: L(1000) }, 210_000)
    expect(t.info().caState).toBe('recovery')
  })
})

describe('linear SYN timeouts (open-syn-linear-timeouts.pkt)', () => {
  const synTimes = (cfg: Partial<TcpConfig>, n: number): number[] => {
    const t = Tcb.connect(TUPLE, 0, { ...PLAIN, ...cfg })
    const out: number[] = []
    for (let k = 0; k < n; k++) {
      const at = k === 0 ? 0 : t.pollAt()!
      expectSent(t, { seq: LOCAL_ISS, flags: SYN }, at)
      out.push(at / 1000)
    }
    return out
  }

  it('synLinearTimeouts 4: the RTO stays 1 s through the fourth timeout, then doubles (the kernel: SYNs at 0, 1, 2, 3, 4, 5, 7 s)', () => {
    expect(synTimes({ profile: 'linux', synLinearTimeouts: 4 }, 7)).toEqual([0, 1000, 2000, 3000, 4000, 5000, 7000])
  })

  it('0 (RFC 6298 §5.5): doubling from the first', () => {
    expect(synTimes({ profile: 'linux', synLinearTimeouts: 0 }, 4)).toEqual([0, 1000, 3000, 7000])
  })
})

describe('window updates from the same SEG.SEQ (checked on the kernel with --stack both)', () => {
  const mss1000 = [{ kind: 'mss' as const, value: 1000 }]

  it('linux: a bare ACK that only shrinks the window (same SEG.SEQ and SEG.ACK) is not taken; one that opens it is', () => {
    const t = passive({ profile: 'linux' }, mss1000, 65535)
    send(t, { seq: R(0), ack: L(0), window: 300 }, 100_000)
    expect(t.sndWnd).toBe(65535)
    t.send(bytes(1000))
    expectSent(t, { seq: L(0), flags: ACK | PSH, payload: bytes(1000) }, 100_000)
    const u = passive({ profile: 'linux' }, mss1000, 300)
    send(u, { seq: R(0), ack: L(0), window: 2000 }, 100_000)
    expect(u.sndWnd).toBe(2000)
    u.send(bytes(1000))
    expectSent(u, { seq: L(0), flags: ACK | PSH, payload: bytes(1000) }, 100_000)
  })

  it('linux: a zero window from the same SEG.SEQ is taken; rfc takes any window from it (RFC 9293 §3.10.7.4 WL1/WL2)', () => {
    const t = passive({ profile: 'linux' }, mss1000, 65535)
    send(t, { seq: R(0), ack: L(0), window: 0 }, 100_000)
    expect(t.sndWnd).toBe(0)
    const r = passive({ profile: 'rfc' }, mss1000, 65535)
    send(r, { seq: R(0), ack: L(0), window: 300 }, 100_000)
    expect(r.sndWnd).toBe(300)
  })
})
