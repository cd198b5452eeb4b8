/**
 * TCP Fast Open (RFC 7413) as Linux does it: the cookie, the key's text form, the option layout, the
 * client's cache and SYN plan, and the listener's decision.
 */
import { describe, expect, it } from 'vitest'
import {
  FastOpenCache,
  FastOpenClient,
  TFO_CLIENT_ENABLE,
  TFO_CLIENT_NO_COOKIE,
  TFO_SERVER_COOKIE_NOT_REQD,
  TFO_SERVER_ENABLE,
  fastOpenCookie,
  fastOpenOptions,
  fastOpenServerDecision,
  parseFastOpenKeys,
} from '../../src/tcp/fastopen.js'
import { Listener } from '../../src/tcp/listener.js'
import type { TcpOption } from '../../src/tcp/options.js'
import type { TcpRepr } from '../../src/tcp/segment.js'
import { seqAdd } from '../../src/tcp/seq.js'
import { Tcb } from '../../src/tcp/tcb.js'
import { ACK, LOCAL_ISS, LOCAL_PORT, PEER_TUPLE, PLAIN, PSH, REMOTE_ISS, REMOTE_PORT, RST, SYN, TUPLE, expectSent, send, seg } from './helpers.js'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const ip = (...b: number[]): Uint8Array => Uint8Array.from(b)

describe('the server cookie (Linux: SipHash-2-4 over source and destination address)', () => {
  it('matches the cookies Linux gives under two keys', () => {
    // Values read off the kernel's SYN+ACKs for these keys and addresses (packetdrill's server tests agree).
    const k1 = parseFastOpenKeys('a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4')![0]!
    expect(hex(fastOpenCookie(k1, ip(192, 0, 2, 1), ip(192, 168, 0, 1)))).toBe('3021b9d889017eeb')
    const k2 = parseFastOpenKeys('a0bf63f7-ed803d81-cd641d30-cebc4a90')![0]!
    expect(hex(fastOpenCookie(k2, ip(10, 248, 0, 2), ip(192, 168, 0, 2)))).toBe('00abaaabe8e954c2')
  })
})

describe('the key in text (tcp_fastopen_key): four little-endian words, an optional backup', () => {
  it('stores each 32-bit word little-endian, as proc_tcp_fastopen_key', () => {
    const [k] = parseFastOpenKeys('a0bf63f7-ed803d81-cd641d30-cebc4a90')!
    expect(hex(k!)).toBe('f763bfa0813d80ed301d64cd904abcce')
  })
  it('takes a backup key after a comma and refuses anything else', () => {
    expect(parseFastOpenKeys('1-2-3-4,5-6-7-8')!.map(hex)).toEqual(['01000000020000000300000004000000', '05000000060000000700000008000000'])
    expect(parseFastOpenKeys('1-2-3')).toBeUndefined()
    expect(parseFastOpenKeys('1-2-3-4,5-6-7-8,9-a-b-c')).toBeUndefined()
    expect(parseFastOpenKeys('g-2-3-4')).toBeUndefined()
  })
})

describe('the option, laid out as Linux (tcp_options_write)', () => {
  it('pads with NOP,NOP when the length leaves two bytes of a word', () => {
    expect(fastOpenOptions(new Uint8Array(0), false).map((o) => o.kind)).toEqual(['unknown', 'nop', 'nop'])
    expect(fastOpenOptions(new Uint8Array(8), false).map((o) => o.kind)).toEqual(['unknown', 'nop', 'nop'])
    expect(fastOpenOptions(new Uint8Array(6), false).map((o) => o.kind)).toEqual(['unknown'])
    // The experimental form (kind 254, magic 0xF989): 4 + 8 bytes, no padding.
    const exp = fastOpenOptions(new Uint8Array(8), true)
    expect(exp).toHaveLength(1)
    expect(exp[0]).toMatchObject({ kind: 'unknown', type: 254 })
    expect(hex((exp[0] as { data: Uint8Array }).data)).toBe('f9890000000000000000')
  })
})

describe('the client: cache and SYN plan (tcp_send_syn_data, tcp_rcv_fastopen_synack)', () => {
  const server = ip(192, 0, 2, 2)
  const cookie = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])
  const synAck = (opts: TcpOption[]): TcpOption[] => [{ kind: 'mss', value: 940 }, ...opts]

  it('asks for a cookie with an empty option and no data, then caches cookie and MSS', () => {
    const cache = new FastOpenCache()
    const first = new FastOpenClient(cache, server, TFO_CLIENT_ENABLE, 1460)
    expect(first.space).toBe(0)
    expect(first.option).toEqual(fastOpenOptions(new Uint8Array(0), false))
    first.onSynAck(synAck(fastOpenOptions(cookie, false)), false)
    expect(cache.get(server)).toMatchObject({ mss: 940, exp: false })
    expect(hex(cache.get(server)!.cookie!)).toBe('0102030405060708')
    // The data space: the cached MSS less the 40 bytes kept for options.
    const next = new FastOpenClient(cache, server, TFO_CLIENT_ENABLE, 1460)
    expect(next.space).toBe(900)
    expect(next.option).toEqual(fastOpenOptions(cookie, false))
  })

  it('ignores an unsolicited cookie; without cookies (0x4) sends data and no option', () => {
    const cache = new FastOpenCache()
    const c = new FastOpenClient(cache, server, TFO_CLIENT_ENABLE | TFO_CLIENT_NO_COOKIE, 1460)
    expect(c.option).toBeUndefined()
    expect(c.space).toBe(1420)
    c.onSynAck(synAck(fastOpenOptions(cookie, false)), false)
    expect(cache.get(server)!.cookie).toBeUndefined()
    expect(cache.get(server)!.mss).toBe(940)
  })

  it('a request answered without a cookie tries the experimental form next, then the RFC form for good (try_exp)', () => {
    const cache = new FastOpenCache()
    const forms: boolean[] = []
    for (let i = 0; i < 3; i++) {
      const c = new FastOpenClient(cache, server, TFO_CLIENT_ENABLE, 1460)
      forms.push((c.option![0] as { type: number }).type === 254)
      c.onSynAck(synAck([]), false)
    }
    expect(forms).toEqual([false, true, false])
  })
})

describe("the server's decision (tcp_try_fastopen)", () => {
  const key = parseFastOpenKeys('a1a1a1a1-b2b2b2b2-c3c3c3c3-d4d4d4d4')![0]!
  const client = ip(192, 0, 2, 1)
  const server = ip(192, 168, 0, 1)
  const valid = fastOpenCookie(key, client, server)
  const base = { mode: TFO_SERVER_ENABLE, queueOk: true, keys: [key], client, server, synData: true }

  it('a valid cookie makes the child, a request or a wrong cookie gets the valid cookie', () => {
    expect(fastOpenServerDecision({ ...base, options: fastOpenOptions(valid, false) })).toEqual({ child: true, option: undefined })
    expect(fastOpenServerDecision({ ...base, synData: false, options: fastOpenOptions(new Uint8Array(0), false) })).toEqual({ child: false, option: fastOpenOptions(valid, false) })
    expect(fastOpenServerDecision({ ...base, options: fastOpenOptions(new Uint8Array(8), true) })).toEqual({ child: false, option: fastOpenOptions(valid, true) })
  })

  it('a cookie valid under the backup key makes the child and is refreshed', () => {
    const backup = parseFastOpenKeys('1-2-3-4')![0]!
    const old = fastOpenCookie(backup, client, server)
    expect(fastOpenServerDecision({ ...base, keys: [key, backup], options: fastOpenOptions(old, false) })).toEqual({ child: true, option: fastOpenOptions(valid, false) })
  })

  it('nothing without the server bit, a queue, or data and option; anything with data when cookies are not required', () => {
    const opts = fastOpenOptions(valid, false)
    expect(fastOpenServerDecision({ ...base, mode: 0x1, options: opts }).child).toBe(false)
    expect(fastOpenServerDecision({ ...base, queueOk: false, options: opts }).child).toBe(false)
    expect(fastOpenServerDecision({ ...base, synData: false, options: [] })).toEqual({ child: false, option: undefined })
    expect(fastOpenServerDecision({ ...base, mode: TFO_SERVER_ENABLE | TFO_SERVER_COOKIE_NOT_REQD, options: [] })).toEqual({ child: true, option: undefined })
  })
})

describe('the TCB: SYN with data (RFC 7413 §4.1)', () => {
  const cfg = { ...PLAIN, profile: 'linux' as const, fastOpen: TFO_CLIENT_ENABLE }
  const cookie = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])
  const j = LOCAL_ISS
  const k = REMOTE_ISS
  const client = (): { tcb: Tcb; cache: FastOpenCache } => {
    const cache = new FastOpenCache()
    Object.assign(cache.entry(TUPLE.remoteAddr), { mss: 1000, cookie })
    const fo = new FastOpenClient(cache, TUPLE.remoteAddr, TFO_CLIENT_ENABLE, 1460)
    const tcb = Tcb.connect(TUPLE, 0, cfg, undefined, fo)
    tcb.send(new Uint8Array(2000).fill(0x61))
    return { tcb, cache }
  }

  it('the SYN carries the cookie option last and the cached MSS less 40 octets of data; SYN+ACK of it all', () => {
    const { tcb } = client()
    const syn = expectSent(tcb, { flags: SYN, seq: j, options: [{ kind: 'mss', value: 1460 }, ...fastOpenOptions(cookie, false)] })
    expect(syn.payload.length).toBe(960)
    expect(tcb.sndNxt).toBe(seqAdd(j, 961))
    send(tcb, { seq: k, ack: seqAdd(j, 961), flags: SYN | ACK, options: [{ kind: 'mss', value: 1000 }] })
    expect(tcb.state).toBe('ESTABLISHED')
    expect(tcb.synDataAcked).toBe(true)
    expect(tcb.sndUna).toBe(seqAdd(j, 961))
    // The rest of the write follows at once, with the ACK of the SYN+ACK.
    expectSent(tcb, { flags: ACK, seq: seqAdd(j, 961), ack: seqAdd(k, 1) })
  })

  it('data the SYN+ACK does not acknowledge is sent again at once, pushed, from SEG.ACK', () => {
    const { tcb } = client()
    tcb.dispatch(0)
    send(tcb, { seq: k, ack: seqAdd(j, 101), flags: SYN | ACK, options: [{ kind: 'mss', value: 1000 }] })
    expect(tcb.synDataAcked).toBe(false)
    const again = expectSent(tcb, { flags: ACK | PSH, seq: seqAdd(j, 101), ack: seqAdd(k, 1) })
    expect(again.payload.length).toBe(860)
  })

  it('a retransmitted SYN carries neither option nor data, and the SYN+ACK may still acknowledge the data', () => {
    const { tcb } = client()
    tcb.dispatch(0)
    const at = tcb.pollAt()!
    expectSent(tcb, { flags: SYN, seq: j, options: [{ kind: 'mss', value: 1460 }], payload: '' }, at)
    send(tcb, { seq: k, ack: seqAdd(j, 961), flags: SYN | ACK, options: [{ kind: 'mss', value: 1000 }] }, at + 1000)
    expect(tcb.state).toBe('ESTABLISHED')
    expect(tcb.sndUna).toBe(seqAdd(j, 961))
  })
})

describe('the TCB: a Fast Open child (RFC 7413 §4.2.2)', () => {
  const cfg = { ...PLAIN, profile: 'linux' as const, fastOpen: TFO_SERVER_ENABLE }
  const k = REMOTE_ISS
  const synData = (): TcpRepr => seg({ seq: k, flags: SYN, options: [{ kind: 'mss', value: 1460 }], payload: 'hello' })

  it('takes the SYN data, acknowledges it in the SYN+ACK and sends data before the handshake ends', () => {
    const tcb = Tcb.fromSyn(PEER_TUPLE, 0, synData(), cfg, undefined, undefined, { child: true, option: undefined })
    expect(tcb.state).toBe('SYN-RECEIVED')
    expect(tcb.fastOpenPassive).toBe(true)
    expect(tcb.readable).toBe(5)
    expect(tcb.synDataAcked).toBe(true)
    expectSent(tcb, { flags: SYN | ACK, seq: LOCAL_ISS, ack: seqAdd(k, 6) })
    tcb.send(new Uint8Array(20))
    expectSent(tcb, { flags: ACK | PSH, seq: seqAdd(LOCAL_ISS, 1), ack: seqAdd(k, 6) })
    send(tcb, { seq: seqAdd(k, 6), ack: seqAdd(LOCAL_ISS, 21) })
    expect(tcb.state).toBe('ESTABLISHED')
  })

  it('a RST in SYN-RECEIVED resets it (ECONNRESET): its application holds it already', () => {
    const tcb = Tcb.fromSyn(PEER_TUPLE, 0, synData(), cfg, undefined, undefined, { child: true, option: undefined })
    tcb.dispatch(0)
    send(tcb, { seq: seqAdd(k, 6), flags: RST })
    expect(tcb.state).toBe('CLOSED')
    expect(tcb.error?.code).toBe('ECONNRESET')
  })

  it('a plain child sends the cookie option on its first SYN+ACK only', () => {
    const opt = fastOpenOptions(Uint8Array.from([9, 9, 9, 9, 9, 9, 9, 9]), false)
    const tcb = Tcb.fromSyn(PEER_TUPLE, 0, synData(), cfg, undefined, undefined, { child: false, option: opt })
    expect(tcb.readable).toBe(0)
    expectSent(tcb, { flags: SYN | ACK, ack: seqAdd(k, 1), options: [{ kind: 'mss', value: 1460 }, ...opt] })
    const at = tcb.pollAt()!
    expectSent(tcb, { flags: SYN | ACK, ack: seqAdd(k, 1), options: [{ kind: 'mss', value: 1460 }] }, at)
  })
})

describe('the listener: Fast Open children are accepted at once', () => {
  it('with a queue and cookies not required, a SYN with data is ready for accept() before the handshake ends', () => {
    const l = new Listener({ localPort: LOCAL_PORT, config: { ...PLAIN, profile: 'linux', fastOpen: TFO_SERVER_ENABLE | TFO_SERVER_COOKIE_NOT_REQD } })
    const syn = seg({ srcPort: REMOTE_PORT, dstPort: LOCAL_PORT, seq: REMOTE_ISS, flags: SYN, payload: 'x' })
    expect(l.process(0, syn, TUPLE)).toBeInstanceOf(Tcb)
    expect(l.pending).toBe(0) // no queue set: a plain child
    l.fastOpenQueue = 1
    const t = l.process(0, { ...syn, srcPort: REMOTE_PORT + 1 }, { ...TUPLE, remotePort: REMOTE_PORT + 1 }) as Tcb
    expect(t.fastOpenPassive).toBe(true)
    expect(l.pending).toBe(1)
    expect(l.accept()).toBe(t)
    // The queue holds one child in SYN-RECEIVED: the next SYN with data makes a plain child.
    const u = l.process(0, { ...syn, srcPort: REMOTE_PORT + 2 }, { ...TUPLE, remotePort: REMOTE_PORT + 2 }) as Tcb
    expect(u.fastOpenPassive).toBe(false)
  })
})
