/**
 * Segments the 'linux' profile must write as the kernel does, each case pinned against a kernel run of the
 * corpus script named in its describe (test/scripts/, `tcplab script --stack both`), plus what the 'rfc'
 * profile does where it differs.
 */
import { describe, expect, it } from 'vitest'
import { Tcb } from '../../src/tcp/tcb.js'
import type { TcpConfig } from '../../src/tcp/types.js'
import { ACK, L, PSH, R, REMOTE_ISS, SYN, TUPLE, PLAIN, drain, expectNothing, expectSent, send, seg, flagNames } from './helpers.js'

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

  it('a write cut into segments: only its last segment had PSH, so only its retransmission has it', () => {
    const t = passive({ profile: 'linux', nagle: false, ackDelay: 0 }, [{ kind: 'mss', value: 1000 }], 65535)
    expect(t.send(bytes(2500))).toBe(2500)
    const first = drain(t, 100_000)
    expect(first.map((s) => `${s.payload.length}:${flagNames(s.flags)}`)).toEqual(['1000:ACK', '1000:ACK', '500:PSH,ACK'])
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
