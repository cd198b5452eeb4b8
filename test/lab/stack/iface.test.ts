/**
 * The interface: two stacks over an in-memory link, in virtual time (a VirtualClock and manual delivery:
 * the test decides when packets arrive and when timers fire, nothing sleeps). Segments are checked as
 * they cross the wire through the 'packet' event: flags, sequence relations and options.
 */
import { describe, expect, it } from 'vitest'
import { formatIp, parseIp } from '../../../src/net/addr.js'
import type { ChecksumStatus, Device } from '../../../src/net/device.js'
import { emitIpv4 } from '../../../src/net/ipv4.js'
import { faultInjector, memoryPair, type MemoryDevice } from '../../../src/net/memdev.js'
import { buildTcpPacket } from '../../../src/net/packet.js'
import { pseudoHeaderSum } from '../../../src/tcp/checksum.js'
import { seq } from '../../../src/tcp/seq.js'
import { TcpFlags, type TcpRepr } from '../../../src/tcp/segment.js'
import type { TraceEvent } from '../../../src/tcp/trace.js'
import type { TcpConfig } from '../../../src/tcp/types.js'
import { Interface, type InterfaceOptions, type PacketEvent } from '../../../src/lab/stack/iface.js'
import type { Connection, ConnectionHandler } from '../../../src/lab/stack/connection.js'
import { VirtualClock } from '../../../src/lab/stack/clock.js'
import { TimerHeap } from '../../../src/lab/stack/timerheap.js'

const { FIN, SYN, RST, PSH, ACK } = TcpFlags
const A = parseIp('198.18.0.1')
const B = parseIp('198.18.0.2')
const A6 = parseIp('2001:db8::1')
const B6 = parseIp('2001:db8::2')
const enc = new TextEncoder()
const dec = new TextDecoder()

/** Fixed ISNs and timestamp offsets, so segments are exact numbers. */
const CLIENT_TCP: Partial<TcpConfig> = { iss: 1000, tsOffset: 0, ackDelay: 0, msl: 1_000_000 }
const SERVER_TCP: Partial<TcpConfig> = { iss: 5000, tsOffset: 7, ackDelay: 0, msl: 1_000_000 }

interface Rig {
  vc: VirtualClock
  a: Interface
  b: Interface
  da: MemoryDevice
  db: MemoryDevice
  /** Delivers queued packets both ways until the link is quiet. */
  pump(): void
  /** Runs virtual time forward by `us`, delivering packets and firing timers in order. */
  run(us: number): void
  /** Runs until `done()` (checked after every delivery and timer), at most `maxSteps` timer firings. */
  runUntil(done: () => boolean, maxSteps?: number): number
}

function rig(opts: {
  a?: Partial<InterfaceOptions>
  b?: Partial<InterfaceOptions>
  wrapA?: (d: Device) => Device
  wrapB?: (d: Device) => Device
  delivery?: 'manual' | 'sync'
  /** Of the in-memory link (default 1500); a larger one carries super-segments. */
  mtu?: number
} = {}): Rig {
  const vc = new VirtualClock(1_000_000)
  const [da, db] = memoryPair({ delivery: opts.delivery ?? 'manual', ...(opts.mtu ? { mtu: opts.mtu } : {}) })
  const a = new Interface({ device: opts.wrapA ? opts.wrapA(da) : da, addrs: [A, A6], clock: vc.clock, scheduler: vc, tcp: CLIENT_TCP, ...opts.a })
  const b = new Interface({ device: opts.wrapB ? opts.wrapB(db) : db, addrs: [B, B6], clock: vc.clock, scheduler: vc, tcp: SERVER_TCP, ...opts.b })
  const pump = (): void => {
    for (let i = 0; i < 100_000; i++) if (da.flush() + db.flush() === 0) return
    throw new Error('link never went quiet')
  }
  const run = (us: number): void => {
    const end = vc.now + us
    pump()
    for (;;) {
      const next = vc.nextAt()
      if (next === undefined || next > end) break
      vc.runNext()
      pump()
    }
    vc.advanceTo(end)
  }
  const runUntil = (done: () => boolean, maxSteps = 100_000): number => {
    pump()
    let steps = 0
    while (!done()) {
      if (steps++ >= maxSteps) throw new Error(`not done after ${maxSteps} timer steps`)
      if (!vc.runNext()) throw new Error('not done and no timer pending')
      pump()
    }
    return steps
  }
  return { vc, a, b, da, db, pump, run, runUntil }
}

/** Records every packet an interface sends and receives, as plain data. */
function record(iface: Interface): Array<{ dir: string; seg: TcpRepr; ok: boolean | undefined; src: string; dst: string; drop?: string }> {
  const log: Array<{ dir: string; seg: TcpRepr; ok: boolean | undefined; src: string; dst: string; drop?: string }> = []
  iface.on('packet', (e: PacketEvent) => {
    const ip = e.decoded?.ip
    if (e.tcp === undefined) return
    log.push({
      dir: e.dir,
      seg: { ...e.tcp!, payload: e.tcp!.payload.slice() },
      ok: e.decoded?.tcp?.checksumOk,
      src: ip ? formatIp(ip.src) : '',
      dst: ip ? formatIp(ip.dst) : '',
      drop: e.drop,
    })
  })
  return log
}

/** A handler that keeps what it reads and counts updates. */
class Sink implements ConnectionHandler {
  readonly chunks: Uint8Array[] = []
  updates = 0
  onConnectionUpdate(conn: Connection): void {
    this.updates++
    if (conn.tcb.readable > 0) this.chunks.push(conn.recv())
  }
  get text(): string {
    return dec.decode(Buffer.concat(this.chunks))
  }
}

function listenSink(b: Interface, port: number, tcp?: Partial<TcpConfig>): { conns: Connection[]; sinks: Sink[] } {
  const conns: Connection[] = []
  const sinks: Sink[] = []
  b.listen(port, {
    tcp,
    onConnection: (c) => {
      const s = new Sink()
      c.handler = s
      conns.push(c)
      sinks.push(s)
    },
  })
  return { conns, sinks }
}

describe('TimerHeap', () => {
  it('pops in time order, compacts, and clears references', () => {
    const h = new TimerHeap<string>()
    const times = [50, 10, 40, 10, 30, 20, 60, 0]
    times.forEach((t, i) => h.push(t, `x${i}`))
    expect(h.size).toBe(8)
    h.compact((at) => at !== 40)
    const out: number[] = []
    while (h.size > 0) {
      out.push(h.peekTime())
      h.pop()
    }
    expect(out).toEqual([0, 10, 10, 20, 30, 50, 60])
    expect(h.peekTime()).toBe(Infinity)
    expect(h.pop()).toBeUndefined()
  })
})

describe('VirtualClock', () => {
  it('fires timers in time order as the clock advances, and skips cleared ones', () => {
    const vc = new VirtualClock(100)
    const fired: string[] = []
    vc.setTimer(() => fired.push(`b@${vc.now}`), 300)
    const h = vc.setTimer(() => fired.push('cleared'), 200)
    vc.setTimer(() => fired.push(`a@${vc.now}`), 150)
    vc.clearTimer(h)
    expect(vc.pending).toBe(2)
    expect(vc.advanceTo(250)).toBe(1)
    expect(vc.now).toBe(250)
    expect(vc.nextAt()).toBe(300)
    expect(vc.runNext()).toBe(true)
    expect(fired).toEqual(['a@150', 'b@300'])
    expect(vc.runNext()).toBe(false)
    expect(vc.pending).toBe(0)
  })
})

describe('Interface: handshake, data, close', () => {
  it('completes a three-way handshake with the exact segments on the wire', () => {
    const r = rig()
    const logA = record(r.a)
    const { conns } = listenSink(r.b, 80)
    const c = r.a.connect({ remoteAddr: B, remotePort: 80, localPort: 40000 })
    expect(c.state).toBe('SYN-SENT')
    r.pump()
    expect(c.state).toBe('ESTABLISHED')
    expect(conns).toHaveLength(1)
    expect(conns[0].state).toBe('ESTABLISHED')
    expect(conns[0].tuple.remotePort).toBe(40000)

    expect(logA.map((p) => p.dir)).toEqual(['out', 'in', 'out'])
    expect(logA.every((p) => p.ok === true)).toBe(true)
    const [syn, synAck, ack] = logA.map((p) => p.seg)
    // SYN: <SEQ=ISS><CTL=SYN> with Linux's option order MSS, SACK_PERM, TS, NOP, WS.
    expect(logA[0]).toMatchObject({ src: '198.18.0.1', dst: '198.18.0.2' })
    expect(syn).toMatchObject({ srcPort: 40000, dstPort: 80, seq: 1000, flags: SYN, window: 65535 })
    expect(syn.options).toEqual([
      { kind: 'mss', value: 1460 },
      { kind: 'sackPermitted' },
      { kind: 'timestamp', value: 1000, echo: 0 }, // 1 s of virtual time at a 1 ms tick, offset 0
      { kind: 'nop' },
      { kind: 'wscale', shift: 7 },
    ])
    // SYN+ACK: <SEQ=IRS'><ACK=ISS+1><CTL=SYN,ACK>, echoing our TSval.
    expect(logA[1]).toMatchObject({ src: '198.18.0.2', dst: '198.18.0.1' })
    expect(synAck).toMatchObject({ srcPort: 80, dstPort: 40000, seq: 5000, ack: 1001, flags: SYN | ACK })
    expect(synAck.options).toEqual([
      { kind: 'mss', value: 1460 },
      { kind: 'sackPermitted' },
      { kind: 'timestamp', value: 1007, echo: 1000 },
      { kind: 'nop' },
      { kind: 'wscale', shift: 7 },
    ])
    // ACK: <SEQ=ISS+1><ACK=IRS'+1><CTL=ACK>, the window now scaled (256 KiB >> 7).
    expect(ack).toMatchObject({ seq: 1001, ack: 5001, flags: ACK, window: (256 * 1024) >> 7 })
    expect(ack.options).toEqual([{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: 1000, echo: 1007 }])
    expect(r.a.stats).toMatchObject({ packetsIn: 1, packetsOut: 2, activeOpens: 1, resetsSent: 0 })
    expect(r.b.stats).toMatchObject({ packetsIn: 2, packetsOut: 1, passiveOpens: 1 })
  })

  it('clamps the MSS to the link MTU per family (IPv6: 1500 − 60 = 1440)', () => {
    const r = rig()
    const logA = record(r.a)
    const { conns } = listenSink(r.b, 80)
    r.a.connect({ remoteAddr: B6, remotePort: 80 })
    r.pump()
    expect(conns).toHaveLength(1)
    expect(conns[0].family).toBe(6)
    expect(logA[0].seg.options[0]).toEqual({ kind: 'mss', value: 1440 })
    expect(logA[1].seg.options[0]).toEqual({ kind: 'mss', value: 1440 })
    expect(logA[0]).toMatchObject({ src: '2001:db8::1', dst: '2001:db8::2' })
  })

  it('moves data both ways, then closes with FIN, LAST-ACK and TIME-WAIT', () => {
    const r = rig()
    const { conns, sinks } = listenSink(r.b, 80)
    const client = new Sink()
    const c = r.a.connect({ remoteAddr: B, remotePort: 80, localPort: 40001, handler: client })
    r.pump()
    const logA = record(r.a)
    expect(c.send(enc.encode('hello'))).toBe(5)
    r.pump()
    expect(sinks[0].text).toBe('hello')
    expect(conns[0].send(enc.encode('hello 你好!'))).toBe(13)
    r.pump()
    expect(client.text).toBe('hello 你好!')
    // Data out: seq ISS+1, PSH on the last (only) segment; the reply acknowledges all 5 bytes.
    const data = logA.filter((p) => p.seg.payload.length > 0)
    expect(data.map((p) => [p.dir, p.seg.seq, p.seg.flags, dec.decode(p.seg.payload)])).toEqual([
      ['out', 1001, PSH | ACK, 'hello'],
      ['in', 5001, PSH | ACK, 'hello 你好!'],
    ])
    expect(data[1].seg.ack).toBe(1006)

    logA.length = 0
    c.close()
    expect(c.state).toBe('FIN-WAIT-1')
    r.pump()
    expect(c.state).toBe('FIN-WAIT-2')
    expect(conns[0].state).toBe('CLOSE-WAIT')
    expect(conns[0].tcb.eof).toBe(true)
    conns[0].close()
    r.pump()
    expect(conns[0].state).toBe('CLOSED')
    expect(conns[0].closed).toBe(true)
    expect(c.state).toBe('TIME-WAIT')
    expect(logA.map((p) => `${p.dir} ${p.seg.flags} ${p.seg.seq} ${p.seg.ack}`)).toEqual([
      `out ${FIN | ACK} 1006 5014`,
      `in ${ACK} 5014 1007`,
      `in ${FIN | ACK} 5014 1007`,
      `out ${ACK} 1007 5015`,
    ])
    expect(r.b.connectionCount).toBe(0)
    expect(r.a.connectionCount).toBe(1)
    // TIME-WAIT lasts 2 MSL (2 s here), and then nothing is left: no connection, no timer.
    r.run(1_999_000)
    expect(c.state).toBe('TIME-WAIT')
    r.run(2_000)
    expect(c.state).toBe('CLOSED')
    expect(r.a.connectionCount).toBe(0)
    expect(r.a.timerArmed).toBe(false)
    expect(r.b.timerArmed).toBe(false)
    expect(r.vc.pending).toBe(0)
  })

  it('survives a synchronous link: replies sent from inside send() wait for a microtask, in order', async () => {
    const r = rig({ delivery: 'sync' })
    const turn = (): Promise<void> => new Promise((res) => setImmediate(res))
    const { sinks, conns } = listenSink(r.b, 80)
    const client = new Sink()
    const c = r.a.connect({ remoteAddr: B, remotePort: 80, handler: client })
    // The SYN+ACK came back inside connect(): it is queued, not handled under the caller's feet.
    expect(c.state).toBe('SYN-SENT')
    expect(client.updates).toBe(0)
    await turn()
    expect(c.state).toBe('ESTABLISHED')
    const big = new Uint8Array(200_000).map((_, i) => i * 7)
    let sent = 0
    while (sent < big.length) {
      sent += c.send(big.subarray(sent))
      await turn()
      r.run(50_000)
      await turn()
    }
    for (let i = 0; i < 20; i++) {
      r.run(50_000)
      await turn()
    }
    expect(Buffer.concat(sinks[0].chunks).equals(Buffer.from(big))).toBe(true)
    conns[0].send(enc.encode('ok'))
    await turn()
    expect(client.text).toBe('ok')
  })

  it('forwards trace events only while someone listens', () => {
    const r = rig()
    listenSink(r.b, 80)
    const c = r.a.connect({ remoteAddr: B, remotePort: 80 })
    expect(c.tcb.onEvent).toBeUndefined()
    r.pump()
    const events: Array<[TraceEvent, Connection | undefined]> = []
    const onTrace = (e: TraceEvent, conn: Connection | undefined): void => {
      events.push([e, conn])
    }
    r.b.on('trace', onTrace)
    r.a.on('trace', onTrace)
    expect(c.tcb.onEvent).toBeDefined()
    const c2 = r.a.connect({ remoteAddr: B, remotePort: 80 })
    r.pump()
    // Every event comes with its connection, including those raised inside Tcb.connect and Listener.process.
    expect(events.every(([, conn]) => conn !== undefined)).toBe(true)
    const states = events.filter(([e]) => e.type === 'state').map(([e, conn]) => `${conn!.tuple.localPort}:${e.type === 'state' ? e.to : ''}`)
    const p = c2.tuple.localPort
    expect(states).toEqual([`${p}:SYN-SENT`, `80:SYN-RECEIVED`, `${p}:ESTABLISHED`, `80:ESTABLISHED`])
    r.a.off('trace', onTrace)
    expect(c.tcb.onEvent).toBeUndefined()
    expect(c2.tcb.onEvent).toBeUndefined()
  })
})

describe('Interface: closed ports and bad input', () => {
  it('answers a SYN to a closed port with RST,ACK and the connection fails with ECONNREFUSED', () => {
    const r = rig()
    const logA = record(r.a)
    const c = r.a.connect({ remoteAddr: B, remotePort: 81, localPort: 40002 })
    r.pump()
    expect(c.state).toBe('CLOSED')
    expect(c.closed).toBe(true)
    expect(c.tcb.error?.code).toBe('ECONNREFUSED')
    // RFC 9293 §3.10.7.1: no ACK on the SYN, so <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    expect(logA[1].seg).toMatchObject({ srcPort: 81, dstPort: 40002, seq: 0, ack: 1001, flags: RST | ACK, window: 0 })
    expect(logA[1].ok).toBe(true)
    expect(r.b.stats.resetsSent).toBe(1)
    expect(r.b.stats.drops['closed-port']).toBe(1)
    expect(r.a.connectionCount).toBe(0)
    expect(r.a.timerArmed).toBe(false)
  })

  it('answers a stray ACK with <SEQ=SEG.ACK><CTL=RST>, never answers a RST, and stays silent when told to', () => {
    const r = rig()
    const logB = record(r.b)
    const stray: TcpRepr = { srcPort: 5555, dstPort: 81, seq: seq(77), ack: seq(12345), flags: ACK, window: 100, urgent: 0, options: [], payload: new Uint8Array(0) }
    r.da.send(buildTcpPacket({ src: A, dst: B }, stray))
    r.da.send(buildTcpPacket({ src: A, dst: B }, { ...stray, flags: RST }))
    r.pump()
    expect(logB.map((p) => [p.dir, p.seg.flags, p.seg.seq, p.drop])).toEqual([
      ['in', ACK, 77, 'closed-port'],
      ['out', RST, 12345, undefined],
      ['in', RST, 77, 'closed-port'],
    ])
    const quiet = rig({ b: { rstClosedPorts: false } })
    quiet.da.send(buildTcpPacket({ src: A, dst: B }, stray))
    quiet.pump()
    expect(quiet.b.stats.drops['closed-port']).toBe(1)
    expect(quiet.b.stats.packetsOut).toBe(0)
  })

  it('counts and drops malformed packets, bad checksums, foreign destinations and non-TCP, never throwing', () => {
    const r = rig()
    listenSink(r.b, 80)
    const syn: TcpRepr = { srcPort: 5555, dstPort: 80, seq: seq(1), ack: seq(0), flags: SYN, window: 1000, urgent: 0, options: [], payload: new Uint8Array(0) }
    const good = buildTcpPacket({ src: A, dst: B }, syn)
    const badIpSum = good.slice()
    badIpSum[8] ^= 1 // TTL changed, header checksum not updated
    const udp = new Uint8Array(28)
    emitIpv4(
      { src: A, dst: B, protocol: 17, ttl: 64, id: 0, dscp: 0, ecn: 0, dontFragment: true, moreFragments: false, fragmentOffset: 0, options: new Uint8Array(0), payload: new Uint8Array(8) },
      udp,
      0,
    )
    const fragment = new Uint8Array(28 + 20)
    emitIpv4(
      { src: A, dst: B, protocol: 6, ttl: 64, id: 9, dscp: 0, ecn: 0, dontFragment: false, moreFragments: true, fragmentOffset: 0, options: new Uint8Array(0), payload: good.subarray(20) },
      fragment,
      0,
    )
    const sends: Array<[Uint8Array, string]> = [
      [new Uint8Array(0), 'malformed'],
      [Uint8Array.from([0x45, 0, 0, 40, 1, 2]), 'malformed'], // truncated IPv4
      [Uint8Array.from([0x60, 0, 0, 0]), 'malformed'], // truncated IPv6
      [new Uint8Array(40).fill(0x75), 'malformed'], // version 7
      [good.subarray(0, 30), 'malformed'], // TCP header cut (total length says 40)
      [buildTcpPacket({ src: A, dst: B }, syn, 'bad'), 'tcp-checksum'],
      [badIpSum, 'ip-checksum'],
      [buildTcpPacket({ src: A, dst: parseIp('198.18.0.99') }, syn), 'not-ours'],
      [udp, 'not-tcp'],
      [fragment, 'fragment'],
      [buildTcpPacket({ src: A, dst: B }, { ...syn, srcPort: 0 }), 'bad-port'],
    ]
    for (const [p] of sends) expect(() => r.da.send(p)).not.toThrow()
    expect(() => r.pump()).not.toThrow()
    const drops = { ...r.b.stats.drops }
    const expected: Record<string, number> = {}
    for (const [, why] of sends) expected[why] = (expected[why] ?? 0) + 1
    for (const [k, v] of Object.entries(drops)) expect([k, v]).toEqual([k, expected[k] ?? 0])
    expect(r.b.stats.packetsIn).toBe(sends.length)
    expect(r.b.stats.packetsOut).toBe(0)
    expect(r.b.connectionCount).toBe(0)
  })

  it('reports each dropped packet to observers with its reason', () => {
    const r = rig()
    const seen: Array<string | undefined> = []
    r.b.on('packet', (e) => seen.push(e.drop))
    r.da.send(new Uint8Array(3))
    r.da.send(buildTcpPacket({ src: A, dst: parseIp('198.18.0.99') }, { srcPort: 1, dstPort: 2, seq: seq(0), ack: seq(0), flags: SYN, window: 0, urgent: 0, options: [], payload: new Uint8Array(0) }))
    r.pump()
    expect(seen).toEqual(['malformed', 'not-ours'])
  })
})

describe('Interface: ports', () => {
  it('refuses a second listener and a connection whose 4-tuple is taken; shares ports only when it must', () => {
    const r = rig({ a: { ephemeralPorts: [40000, 40001] } })
    listenSink(r.b, 80)
    listenSink(r.b, 81)
    expect(() => r.b.listen(80)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }))
    const c1 = r.a.connect({ remoteAddr: B, remotePort: 80 })
    const c2 = r.a.connect({ remoteAddr: B, remotePort: 80 })
    expect(new Set([c1.tuple.localPort, c2.tuple.localPort])).toEqual(new Set([40000, 40001]))
    // Both ports busy: a third connection to another port shares one (its 4-tuple differs).
    const c3 = r.a.connect({ remoteAddr: B, remotePort: 81 })
    expect([40000, 40001]).toContain(c3.tuple.localPort)
    expect(() => r.a.connect({ remoteAddr: B, remotePort: 80 })).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL' }))
    expect(() => r.a.connect({ remoteAddr: B, remotePort: 80, localPort: c1.tuple.localPort })).toThrow(
      expect.objectContaining({ code: 'EADDRINUSE' }),
    )
    expect(() => r.a.connect({ remoteAddr: parseIp('10.0.0.1'), remotePort: 80, localAddr: parseIp('10.0.0.2') })).toThrow(
      expect.objectContaining({ code: 'EADDRNOTAVAIL' }),
    )
    r.pump()
    expect([c1, c2, c3].map((c) => c.state)).toEqual(['ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED'])
  })

  it('resets connections a closed listener never accepted, and answers later SYNs with RST', () => {
    const r = rig()
    const pl = r.b.listen(80, { onConnection: () => {} })
    const c = r.a.connect({ remoteAddr: B, remotePort: 80 })
    r.db.flush() // SYN to B, SYN+ACK queued for A
    expect(pl.pending.size).toBe(1)
    pl.close()
    r.pump()
    expect(c.state).toBe('CLOSED')
    expect(c.tcb.error?.code).toBe('ECONNRESET')
    expect(r.b.connectionCount).toBe(0)
    const c2 = r.a.connect({ remoteAddr: B, remotePort: 80 })
    r.pump()
    expect(c2.tcb.error?.code).toBe('ECONNREFUSED')
  })

  it('answers data that reaches a released (orphaned) connection with RST, as Linux', () => {
    const r = rig()
    const { conns } = listenSink(r.b, 80)
    const c = r.a.connect({ remoteAddr: B, remotePort: 80, handler: new Sink() })
    r.pump()
    c.close()
    c.release()
    r.pump()
    expect(c.state).toBe('FIN-WAIT-2')
    conns[0].send(enc.encode('late'))
    r.pump()
    expect(c.state).toBe('CLOSED')
    expect(conns[0].tcb.error?.code).toBe('ECONNRESET')
  })
})

describe('Interface: orphans', () => {
  it('forgets a released connection stuck in FIN-WAIT-2 after the orphan timeout, without a RST', () => {
    const r = rig({ a: { orphanTimeout: 60_000_000 } })
    const { conns } = listenSink(r.b, 80)
    const c = r.a.connect({ remoteAddr: B, remotePort: 80, handler: new Sink() })
    r.pump()
    c.close()
    r.pump()
    expect(c.state).toBe('FIN-WAIT-2')
    const sent = r.a.stats.packetsOut
    c.release()
    expect(r.a.timerArmed).toBe(true)
    expect(r.a.timerKeepsAlive).toBe(false)
    r.run(59_999_000)
    expect(c.closed).toBe(false)
    r.run(1_000)
    expect(c.closed).toBe(true)
    expect(r.a.stats.packetsOut).toBe(sent)
    expect(r.a.connectionCount).toBe(0)
    expect(r.a.timerArmed).toBe(false)
    // The peer, still in CLOSE-WAIT, now meets a closed port: its FIN is answered with RST.
    conns[0].close()
    r.pump()
    expect(r.a.stats.resetsSent).toBe(1)
    expect(conns[0].state).toBe('CLOSED')
  })
})

describe('Interface: many connections over a lossy link', () => {
  it('completes 1,000 concurrent echo exchanges with 5% loss each way, then holds nothing', () => {
    const N = 1000
    const r = rig({
      wrapA: (d) => faultInjector(d, { seed: 42, drop: 0.05 }),
      a: { ephemeralPorts: [20000, 29999], tcp: { ...CLIENT_TCP, iss: undefined } },
      b: { tcp: { ...SERVER_TCP, iss: undefined } },
    })
    // Server: echo everything, close after the client's FIN.
    r.b.listen(7, {
      backlog: 256, // fewer than N: SYNs beyond it are dropped and the clients retry, as with Linux
      onConnection: (conn) => {
        conn.handler = {
          onConnectionUpdate(c: Connection) {
            if (c.closed) return
            while (c.tcb.readable > 0 && c.tcb.writable > 0) c.send(c.recv(c.tcb.writable))
            if (c.tcb.eof && c.tcb.unacked === 0 && c.state === 'CLOSE-WAIT') c.close()
          },
        }
      },
    })
    const replies: string[] = new Array(N).fill('')
    const errors: string[] = []
    let finished = 0
    const conns: Connection[] = []
    for (let i = 0; i < N; i++) {
      let closed = false
      let done = false
      const handler: ConnectionHandler = {
        onConnectionUpdate(c) {
          if (c.tcb.readable > 0) replies[i] += dec.decode(c.recv())
          if (c.tcb.error) errors.push(`${i}: ${c.tcb.error.code}`)
          // CLOSE in SYN-SENT would delete the connection (RFC 9293 §3.10.4): FIN once established.
          if (!closed && c.state === 'ESTABLISHED') {
            closed = true
            c.close()
          }
          if (c.tcb.eof && !done) {
            done = true
            finished++
          }
        },
      }
      const c = r.a.connect({ remoteAddr: B, remotePort: 7, handler })
      // Queued in SYN-SENT, sent after the handshake.
      expect(c.send(enc.encode(`message ${i} `.repeat(20)))).toBe(`message ${i} `.length * 20)
      conns.push(c)
    }
    let maxHeap = 0
    r.a.on('packet', () => {
      maxHeap = Math.max(maxHeap, r.a.timerEntries)
    })
    // Bounded: the run must finish within this many timer firings (it takes 75 with this seed).
    const steps = r.runUntil(() => finished === N || errors.length > 0, 20_000)
    expect(errors).toEqual([])
    expect(steps).toBeLessThan(500)
    for (let i = 0; i < N; i++) expect(replies[i]).toBe(`message ${i} `.repeat(20))
    // The heap stays proportional to the connections, stale entries included.
    expect(maxHeap).toBeLessThanOrEqual(2 * N + 64)
    // Everyone is in TIME-WAIT or closed; after 2 MSL nothing remains on either side.
    r.run(10_000_000)
    expect(conns.every((c) => c.closed)).toBe(true)
    expect(r.a.connectionCount).toBe(0)
    expect(r.b.connectionCount).toBe(0)
    expect(r.a.timerArmed).toBe(false)
    expect(r.b.timerArmed).toBe(false)
    expect(r.vc.pending).toBe(0)
    expect(r.b.listenerOn(7)!.stats.synsDropped).toBeGreaterThan(0)
  })
})

describe('Interface: real timers', () => {
  it('leaves no timer handle behind after close, and never holds the process for TIME-WAIT', async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((t) => t === 'Timeout').length
    const before = timers()
    const [da, db] = memoryPair()
    const a = new Interface({ device: da, addrs: [A] })
    const b = new Interface({ device: db, addrs: [B] })
    const { conns } = listenSink(b, 80)
    const c = a.connect({ remoteAddr: B, remotePort: 80, handler: new Sink() })
    // Liveness only (generous bound, no duration asserted): the handshake completes over microtasks.
    for (let i = 0; i < 1000 && conns.length === 0; i++) await new Promise((res) => setImmediate(res))
    expect(c.state).toBe('ESTABLISHED')
    c.close()
    for (let i = 0; i < 1000 && c.state !== 'FIN-WAIT-2'; i++) await new Promise((res) => setImmediate(res))
    conns[0].close()
    for (let i = 0; i < 1000 && c.state !== 'TIME-WAIT'; i++) await new Promise((res) => setImmediate(res))
    expect(c.state).toBe('TIME-WAIT')
    expect(a.timerArmed).toBe(true) // the 2 MSL timer, unref'd: it does not keep the process alive
    expect(a.timerKeepsAlive).toBe(false)
    a.close()
    b.close()
    expect(a.timerArmed).toBe(false)
    expect(b.timerArmed).toBe(false)
    expect(timers()).toBe(before)
    expect(() => a.connect({ remoteAddr: B, remotePort: 80 })).toThrow(expect.objectContaining({ code: 'ECLOSED' }))
    // A packet arriving after close is counted, not processed.
    expect(da.stats().sent).toBeGreaterThan(0)
  })
})

/** `pkt` (IPv4 or IPv6, no extension headers) with its TCP checksum as a local kernel's checksum offload leaves it. */
function asOffloaded(pkt: Uint8Array): Uint8Array {
  const out = pkt.slice()
  const v4 = out[0] >> 4 === 4
  const hl = v4 ? (out[0] & 15) * 4 : 40
  const src = v4 ? out.subarray(12, 16) : out.subarray(8, 24)
  const dst = v4 ? out.subarray(16, 20) : out.subarray(24, 40)
  const p = pseudoHeaderSum(src, dst, 6, out.length - hl)
  out[hl + 16] = p >> 8
  out[hl + 17] = p & 0xff
  return out
}

describe("Interface: ownership 'ports' (a raw socket on the kernel's address)", () => {
  const stray: TcpRepr = { srcPort: 5555, dstPort: 81, seq: seq(77), ack: seq(12345), flags: ACK, window: 100, urgent: 0, options: [], payload: new Uint8Array(0) }

  it('ignores every segment for a 4-tuple it does not hold, silently: SYN, ACK, data, FIN, RST', () => {
    const r = rig({ b: { ownership: 'ports' } })
    const logB = record(r.b)
    for (const flags of [SYN, ACK, PSH | ACK, FIN | ACK, RST, SYN | ACK]) {
      r.da.send(buildTcpPacket({ src: A, dst: B }, { ...stray, flags, payload: flags & PSH ? enc.encode('x') : new Uint8Array(0) }))
    }
    r.pump()
    expect(logB.map((p) => [p.dir, p.drop])).toEqual(Array(6).fill(['in', 'not-our-port']))
    expect(r.b.stats.drops['not-our-port']).toBe(6)
    expect(r.b.stats.drops['closed-port']).toBe(0)
    expect(r.b.stats.packetsOut).toBe(0)
    expect(r.b.stats.resetsSent).toBe(0)
  })

  it('rstClosedPorts cannot turn closed-port RSTs back on under ownership ports', () => {
    const r = rig({ b: { ownership: 'ports', rstClosedPorts: true } })
    r.da.send(buildTcpPacket({ src: A, dst: B }, stray))
    r.pump()
    expect(r.b.stats.packetsOut).toBe(0)
  })

  it('its listener answers SYNs with SYN+ACK but never a stray ACK with RST (counted as suppressed)', () => {
    const r = rig({ b: { ownership: 'ports' } })
    const { sinks } = listenSink(r.b, 81)
    const logB = record(r.b)
    r.da.send(buildTcpPacket({ src: A, dst: B }, stray))
    r.pump()
    expect(logB.map((p) => [p.dir, p.seg.flags, p.drop])).toEqual([['in', ACK, undefined]])
    expect(r.b.stats.resetsSuppressed).toBe(1)
    expect(r.b.stats.drops.listener).toBe(1)
    expect(r.b.stats.packetsOut).toBe(0)
    // The same listener still serves a real client, end to end.
    const c = r.a.connect({ remoteAddr: B, remotePort: 81, localPort: 40010 })
    c.handler = new Sink()
    r.pump()
    expect(c.state).toBe('ESTABLISHED')
    c.send(enc.encode('seed'))
    r.pump()
    expect(sinks[0].text).toBe('seed')
    // Under ownership 'address' the same stray ACK gets its RST (RFC 9293 §3.10.7.2).
    const plain = rig()
    listenSink(plain.b, 81)
    plain.da.send(buildTcpPacket({ src: A, dst: B }, stray))
    plain.pump()
    expect(plain.b.stats.resetsSent).toBe(1)
    expect(plain.b.stats.resetsSuppressed).toBe(0)
  })
})

/** A device on loopback as a raw socket sees it: every packet sent is also heard back, in order. */
class LoopbackRaw implements Device {
  readonly medium = 'ip' as const
  readonly mtu = 1500
  readonly sent: Uint8Array[] = []
  private readonly heard: Uint8Array[] = []
  private handler: ((p: Uint8Array) => void) | undefined
  send(p: Uint8Array): void {
    this.sent.push(p.slice())
    this.heard.push(p.slice())
  }
  onReceive(h: (p: Uint8Array) => void): void {
    this.handler = h
  }
  /** Delivers what was heard back so far, and `extra` (the peer's packets) after it. */
  deliver(...extra: Uint8Array[]): void {
    const all = [...this.heard.splice(0), ...extra]
    for (const p of all) this.handler?.(p)
  }
  close(): void {}
}

/** `inner` with every packet it sends rewritten as a local kernel's checksum offload leaves it. */
function offloading(inner: Device): Device {
  return { medium: 'ip', mtu: inner.mtu, send: (p) => inner.send(asOffloaded(p)), onReceive: (h) => inner.onReceive(h), close: () => inner.close() }
}

describe('Interface: its own sends heard back (a raw socket on loopback)', () => {
  it("drops the echo of every packet it sent, takes the peer's, and never answers itself", () => {
    const vc = new VirtualClock(1_000_000)
    const L = parseIp('127.0.0.1')
    const dev = new LoopbackRaw()
    const me = new Interface({ device: dev, addrs: [L], clock: vc.clock, scheduler: vc, tcp: CLIENT_TCP, ownership: 'ports' })
    const log = record(me)
    const c = me.connect({ remoteAddr: L, remotePort: 1935, localPort: 61000 })
    dev.deliver()
    // Our SYN came back: dropped as our own (and not shown again), still SYN-SENT, nothing answered.
    expect(me.stats.drops['own-echo']).toBe(1)
    expect(dev.sent).toHaveLength(1)
    expect(c.state).toBe('SYN-SENT')
    const synAck: TcpRepr = { srcPort: 1935, dstPort: 61000, seq: seq(9000), ack: seq(1001), flags: SYN | ACK, window: 65535, urgent: 0, options: [], payload: new Uint8Array(0) }
    dev.deliver(buildTcpPacket({ src: L, dst: L }, synAck))
    expect(c.state).toBe('ESTABLISHED')
    dev.deliver()
    expect(log.map((p) => [p.dir, p.seg.flags, p.drop])).toEqual([
      ['out', SYN, undefined],
      ['in', SYN | ACK, undefined],
      ['out', ACK, undefined],
    ])
    expect(me.stats.drops['own-echo']).toBe(2)
    expect(dev.sent).toHaveLength(2)
    expect(me.stats.resetsSent).toBe(0)
  })
})

describe('Interface: checksums a local kernel leaves to offload', () => {
  it('accepts a segment whose checksum is only the pseudo-header sum, counts it apart, says so once', () => {
    for (const fam of [4, 6] as const) {
      const r = rig({ wrapA: offloading })
      const { sinks } = listenSink(r.b, 80)
      let said = 0
      r.b.on('checksumOffloaded', () => said++)
      const c = r.a.connect({ remoteAddr: fam === 4 ? B : B6, remotePort: 80, localPort: 40020 })
      c.handler = new Sink()
      r.pump()
      expect(c.state).toBe('ESTABLISHED')
      c.send(enc.encode('张三: '))
      r.pump()
      expect(sinks[0].text).toBe('张三: ')
      // SYN, ACK and the data segment: each accepted as offloaded, none dropped; by the heuristic (no device word).
      expect(r.b.stats.checksumOffloaded).toBe(3)
      expect(r.b.stats.checksumOffloadedKernel).toBe(0)
      expect(r.b.stats.checksumValidKernel).toBe(0)
      expect(said).toBe(1)
      expect(r.b.stats.drops['tcp-checksum']).toBe(0)
    }
  })

  it("drops it with offloadedChecksums: 'drop', and always drops any other wrong checksum", () => {
    const syn: TcpRepr = { srcPort: 5555, dstPort: 80, seq: seq(1), ack: seq(0), flags: SYN, window: 1000, urgent: 0, options: [], payload: new Uint8Array(0) }
    const strict = rig({ b: { offloadedChecksums: 'drop' } })
    listenSink(strict.b, 80)
    strict.da.send(asOffloaded(buildTcpPacket({ src: A, dst: B }, syn)))
    strict.pump()
    expect(strict.b.stats.drops['tcp-checksum']).toBe(1)
    expect(strict.b.stats.checksumOffloaded).toBe(0)
    expect(strict.b.stats.packetsOut).toBe(0)
    const r = rig()
    listenSink(r.b, 80)
    const off = asOffloaded(buildTcpPacket({ src: A, dst: B }, syn))
    off[20 + 17] ^= 1 // one bit away from the pseudo-header sum: just wrong
    r.da.send(off)
    r.pump()
    expect(r.b.stats.drops['tcp-checksum']).toBe(1)
    expect(r.b.stats.checksumOffloaded).toBe(0)
    expect(r.b.stats.packetsOut).toBe(0)
  })
})

/** `inner` handing every received packet up with the kernel's word `csum`, as the capture device's packet path does. */
function kernelSays(inner: Device, csum: ChecksumStatus): Device {
  const meta = { csum }
  return {
    medium: 'ip',
    mtu: inner.mtu,
    send: (p) => inner.send(p),
    onReceive: (h) => inner.onReceive((p) => h(p, meta)),
    close: () => inner.close(),
  }
}

describe("Interface: the kernel's word on checksums comes before the heuristic (issue 12)", () => {
  const syn: TcpRepr = { srcPort: 5555, dstPort: 80, seq: seq(1), ack: seq(0), flags: SYN, window: 1000, urgent: 0, options: [], payload: new Uint8Array(0) }
  /** The SYN from A to B (or A6 to B6) with the checksum field set to `field`. */
  const synWith = (fam: 4 | 6, field: number): Uint8Array => {
    const p = buildTcpPacket(fam === 4 ? { src: A, dst: B } : { src: A6, dst: B6 }, syn)
    const hl = fam === 4 ? 20 : 40
    p[hl + 16] = field >> 8
    p[hl + 17] = field & 0xff
    return p
  }
  /** A field that is neither the right checksum nor the pseudo-header sum. */
  const garbage = (fam: 4 | 6): number => {
    const good = synWith(fam, 0)
    const right = buildTcpPacket(fam === 4 ? { src: A, dst: B } : { src: A6, dst: B6 }, syn)
    const hl = fam === 4 ? 20 : 40
    const ok = (right[hl + 16] << 8) | right[hl + 17]
    const pseudo = pseudoHeaderSum(good.subarray(fam === 4 ? 12 : 8, fam === 4 ? 16 : 24), good.subarray(fam === 4 ? 16 : 24, fam === 4 ? 20 : 40), 6, good.length - hl)
    const g = 0x1234
    expect(g).not.toBe(ok)
    expect(g).not.toBe(pseudo)
    return g
  }

  it("'partial' (TP_STATUS_CSUMNOTREADY): a field that is NOT the pseudo-header sum is accepted as offloaded and counted as the kernel's word; without the word the same bytes are dropped", () => {
    for (const fam of [4, 6] as const) {
      const said = rig({ wrapB: (d) => kernelSays(d, 'partial') })
      listenSink(said.b, 80)
      let events = 0
      said.b.on('checksumOffloaded', () => events++)
      said.da.send(synWith(fam, garbage(fam)))
      said.pump()
      expect(said.b.stats.drops['tcp-checksum']).toBe(0)
      expect(said.b.stats.checksumOffloaded).toBe(1)
      expect(said.b.stats.checksumOffloadedKernel).toBe(1)
      expect(said.b.stats.checksumValidKernel).toBe(0)
      expect(said.b.stats.passiveOpens).toBe(1)
      expect(events).toBe(1)

      const silent = rig()
      listenSink(silent.b, 80)
      silent.da.send(synWith(fam, garbage(fam)))
      silent.pump()
      expect(silent.b.stats.drops['tcp-checksum']).toBe(1)
      expect(silent.b.stats.checksumOffloaded).toBe(0)
      expect(silent.b.stats.checksumOffloadedKernel).toBe(0)
      expect(silent.b.stats.passiveOpens).toBe(0)
      expect(silent.b.stats.packetsOut).toBe(0)
    }
  })

  it("'partial' with a field that IS the pseudo-header sum: both rules agree, the kernel's word is the one counted; with no word the heuristic is", () => {
    const said = rig({ wrapB: (d) => kernelSays(d, 'partial') })
    listenSink(said.b, 80)
    said.da.send(asOffloaded(buildTcpPacket({ src: A, dst: B }, syn)))
    said.pump()
    expect([said.b.stats.checksumOffloaded, said.b.stats.checksumOffloadedKernel, said.b.stats.drops['tcp-checksum']]).toEqual([1, 1, 0])
    const silent = rig()
    listenSink(silent.b, 80)
    silent.da.send(asOffloaded(buildTcpPacket({ src: A, dst: B }, syn)))
    silent.pump()
    expect([silent.b.stats.checksumOffloaded, silent.b.stats.checksumOffloadedKernel, silent.b.stats.drops['tcp-checksum']]).toEqual([1, 0, 0])
  })

  it("'partial' with offloadedChecksums: 'drop' is dropped like any wrong checksum", () => {
    const strict = rig({ b: { offloadedChecksums: 'drop' }, wrapB: (d) => kernelSays(d, 'partial') })
    listenSink(strict.b, 80)
    strict.da.send(synWith(4, garbage(4)))
    strict.pump()
    expect(strict.b.stats.drops['tcp-checksum']).toBe(1)
    expect([strict.b.stats.checksumOffloaded, strict.b.stats.checksumOffloadedKernel, strict.b.stats.packetsOut]).toEqual([0, 0, 0])
  })

  it("'valid' (TP_STATUS_CSUM_VALID): a field that does not verify here is taken on the kernel's word, counted in checksumValidKernel and not as offloaded", () => {
    for (const fam of [4, 6] as const) {
      const r = rig({ wrapB: (d) => kernelSays(d, 'valid') })
      listenSink(r.b, 80)
      r.da.send(synWith(fam, garbage(fam)))
      r.pump()
      expect(r.b.stats.drops['tcp-checksum']).toBe(0)
      expect([r.b.stats.checksumValidKernel, r.b.stats.checksumOffloaded, r.b.stats.checksumOffloadedKernel]).toEqual([1, 0, 0])
      expect(r.b.stats.passiveOpens).toBe(1)
    }
  })

  it('a right checksum counts under no rule, whatever the device says', () => {
    for (const csum of ['partial', 'valid'] as const) {
      const r = rig({ wrapB: (d) => kernelSays(d, csum) })
      listenSink(r.b, 80)
      r.da.send(buildTcpPacket({ src: A, dst: B }, syn))
      r.pump()
      expect([r.b.stats.checksumOffloaded, r.b.stats.checksumOffloadedKernel, r.b.stats.checksumValidKernel, r.b.stats.passiveOpens]).toEqual([0, 0, 0, 1])
    }
  })
})

describe('Interface: super-segments', () => {
  it('takes a 60000-byte in-window segment (GSO/GRO from a local sender) whole, IPv4 and IPv6', () => {
    for (const fam of [4, 6] as const) {
      // The link carries 64 KB packets; both ends still announce and send MSS-sized segments of 1460.
      const r = rig({ mtu: 65535, a: { tcp: { ...CLIENT_TCP, mss: 1460 } } })
      const { conns, sinks } = listenSink(r.b, 80, { ...SERVER_TCP, mss: 1460, rcvBuf: 1 << 20 })
      const c = r.a.connect({ remoteAddr: fam === 4 ? B : B6, remotePort: 80, localPort: 40030 })
      c.handler = new Sink()
      r.pump()
      expect(conns[0].state).toBe('ESTABLISHED')
      const big = new Uint8Array(60000).map((_, i) => (i * 7) & 0xff)
      const seg: TcpRepr = { srcPort: 40030, dstPort: 80, seq: seq(1001), ack: seq(5001), flags: PSH | ACK, window: 65535, urgent: 0, options: [], payload: big }
      const pkt = buildTcpPacket({ src: fam === 4 ? A : A6, dst: fam === 4 ? B : B6 }, seg)
      expect(pkt.length).toBe(60000 + 20 + (fam === 4 ? 20 : 40))
      r.da.send(asOffloaded(pkt))
      r.pump()
      expect(Buffer.concat(sinks[0].chunks).equals(Buffer.from(big))).toBe(true)
      expect(conns[0].tcb.rcvNxt).toBe(61001)
    }
  })
})
