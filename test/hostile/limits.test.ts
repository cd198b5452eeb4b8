/**
 * Issue 7, item 8: resource limits against hostile peers, at the interface over an in-memory link in
 * virtual time (the real kernel is not needed: what matters is what tcplab holds and when its timers fire).
 * A peer that advertises a zero window forever, one that never ACKs (data, SYN, SYN+ACK), one that sends
 * and never reads, and one that pours 64 MiB (LAB_FULL=1: 1 GiB) into a reader: memory stays bounded, the
 * timeouts fire at the times RFC 6298's backoff predicts, and every connection ends with a clear reason.
 */
import { describe, expect, it } from 'vitest'
import { parseIp } from '../../src/net/addr.js'
import type { Device, ReceiveHandler } from '../../src/net/device.js'
import { memoryPair, type MemoryDevice } from '../../src/net/memdev.js'
import { SECOND, type TcpConfig } from '../../src/tcp/types.js'
import { VirtualClock } from '../../src/lab/stack/clock.js'
import type { Connection } from '../../src/lab/stack/connection.js'
import { Interface } from '../../src/lab/stack/iface.js'
import { TcpSocket } from '../../src/lab/stack/socket.js'

const FULL = process.env.LAB_FULL === '1'
const A = parseIp('198.18.0.1')
const B = parseIp('198.18.0.2')
const KiB = 1024
const MiB = 1024 * KiB

/** A device that can be switched to swallow everything it is asked to send (a peer gone silent). */
class Gate implements Device {
  readonly medium = 'ip' as const
  readonly mtu: number
  blocked = false
  swallowed = 0
  constructor(private readonly inner: Device) {
    this.mtu = inner.mtu
  }
  send(p: Uint8Array): void {
    if (this.blocked) this.swallowed++
    else this.inner.send(p)
  }
  onReceive(h: ReceiveHandler): void {
    this.inner.onReceive(h)
  }
  close(): void {
    this.inner.close()
  }
}

interface Rig {
  vc: VirtualClock
  a: Interface
  b: Interface
  gateA: Gate
  gateB: Gate
  pump(): void
  /** Runs virtual time forward by `us`, calling `step` after every delivery round and timer. */
  run(us: number, step?: () => void): void
}

function rig(aTcp: Partial<TcpConfig> = {}, bTcp: Partial<TcpConfig> = {}): Rig {
  const vc = new VirtualClock(1_000_000)
  const [da, db]: [MemoryDevice, MemoryDevice] = memoryPair({ delivery: 'manual' })
  const gateA = new Gate(da)
  const gateB = new Gate(db)
  const base: Partial<TcpConfig> = { ackDelay: 0 }
  const a = new Interface({ device: gateA, addrs: [A], clock: vc.clock, scheduler: vc, tcp: { ...base, ...aTcp } })
  const b = new Interface({ device: gateB, addrs: [B], clock: vc.clock, scheduler: vc, tcp: { ...base, ...bTcp } })
  const pump = (): void => {
    for (let i = 0; i < 1_000_000; i++) if (da.flush() + db.flush() === 0) return
    throw new Error('link never went quiet')
  }
  const run = (us: number, step?: () => void): void => {
    const end = vc.now + us
    pump()
    step?.()
    pump()
    for (;;) {
      const next = vc.nextAt()
      if (next === undefined || next > end) break
      vc.runNext()
      pump()
      step?.()
      pump()
    }
    vc.advanceTo(end)
  }
  return { vc, a, b, gateA, gateB, pump, run }
}

/** Opens a connection a → b:80 and returns both ends. */
function connectPair(r: Rig): { client: Connection; server: () => Connection } {
  let server: Connection | undefined
  r.b.listen(80, { onConnection: (c) => (server = c) })
  const client = r.a.connect({ remoteAddr: B, remotePort: 80 })
  r.pump()
  expect(client.state).toBe('ESTABLISHED')
  return { client, server: () => server! }
}

/** Sum of the first `n` RTOs from `rto`, doubling each time, capped at `max` (RFC 6298 §5.5). */
function backoffSum(rto: number, max: number, n: number): number {
  let t = 0
  for (let k = 0; k < n; k++) t += Math.min(rto * 2 ** k, max)
  return t
}

describe('a peer that advertises a zero window forever', () => {
  it('is probed with backoff for an hour, the connection stays up (MUST-37) and nothing grows', () => {
    const r = rig({ sndBuf: 64 * KiB }, { rcvBuf: 16 * KiB, windowScale: false })
    const { client, server } = connectPair(r)
    const chunk = new Uint8Array(32 * KiB).fill(7)
    let accepted = 0
    const fill = (): void => {
      for (let n = client.send(chunk); n > 0; n = client.send(chunk)) accepted += n
    }
    r.run(60 * SECOND, fill)
    // The peer's application never reads: its buffer is full and its window shut.
    expect(server().tcb.readable).toBe(16 * KiB)
    expect(server().tcb.rcvWnd).toBe(0)
    expect(client.tcb.sndWnd).toBe(0)
    expect(client.tcb.unacked).toBe(64 * KiB)
    expect(accepted).toBe(16 * KiB + 64 * KiB)
    const probes = client.tcb.stats.probes
    const heap = r.a.timerEntries
    r.run(3600 * SECOND, fill)
    expect(client.state).toBe('ESTABLISHED')
    expect(client.tcb.error).toBeUndefined()
    // One probe per (backed-off) RTO, the backoff capped at rtoMax (120 s): about 30 in an hour.
    const more = client.tcb.stats.probes - probes
    expect(more).toBeGreaterThanOrEqual(29)
    expect(more).toBeLessThanOrEqual(32)
    expect(client.tcb.rtt.current).toBe(120 * SECOND)
    // Bounded: the send buffer, the peer's receive buffer, the timers.
    expect(accepted).toBe(16 * KiB + 64 * KiB)
    expect(client.tcb.unacked).toBe(64 * KiB)
    expect(server().tcb.readable).toBe(16 * KiB)
    expect(r.a.timerEntries).toBeLessThanOrEqual(Math.max(heap, 2))
    expect(r.vc.pending).toBeLessThanOrEqual(2)
  })

  it('with a user timeout, ends with ETIMEDOUT naming the zero window', () => {
    const r = rig({ sndBuf: 64 * KiB, userTimeout: 30 * SECOND }, { rcvBuf: 16 * KiB, windowScale: false })
    const { client } = connectPair(r)
    const chunk = new Uint8Array(32 * KiB)
    const fill = (): void => {
      while (client.state !== 'CLOSED' && client.send(chunk) > 0);
    }
    r.run(SECOND, fill)
    const stalledAt = r.vc.now
    let closedAt: number | undefined
    r.run(600 * SECOND, () => {
      fill()
      if (closedAt === undefined && client.state === 'CLOSED') closedAt = r.vc.now
    })
    expect(client.tcb.error?.code).toBe('ETIMEDOUT')
    expect(client.tcb.error?.reason).toMatch(/^no progress for \d+ ms \(user timeout 30000 ms\) with a zero window$/)
    // At the first probe after 30 s without progress (probes back off 0.2, 0.4 … 25.6 s).
    expect(closedAt! - stalledAt).toBeGreaterThanOrEqual(30 * SECOND - SECOND)
    expect(closedAt! - stalledAt).toBeLessThanOrEqual(30 * SECOND + 26 * SECOND)
    expect(r.a.connectionCount).toBe(0)
  })
})

describe('a peer that never ACKs', () => {
  it('data: 15 retransmissions with RFC 6298 backoff, then ETIMEDOUT with the reason', () => {
    const r = rig()
    const { client } = connectPair(r)
    r.gateB.blocked = true
    const t0 = r.vc.now
    // The tail loss probe goes first, 2·SRTT + 2 ms after the send (RFC 8985 §7.2); the RTO counts from it.
    const pto = 2 * client.tcb.rtt.srtt! + 2_000
    expect(client.send(new Uint8Array(10 * KiB))).toBe(10 * KiB)
    let closedAt: number | undefined
    r.run(3600 * SECOND, () => {
      if (closedAt === undefined && client.state === 'CLOSED') closedAt = r.vc.now
    })
    expect(client.tcb.error).toEqual({ code: 'ETIMEDOUT', reason: 'no acknowledgment for data after 15 retransmissions' })
    expect(client.tcb.stats.timeouts).toBe(16)
    // The probe, then 0.2 s doubling to the 120 s cap: 924.6 s from the probe to the give-up.
    expect(closedAt! - t0).toBe(pto + backoffSum(200_000, 120 * SECOND, 16))
    expect(client.tcb.stats.tlpProbes).toBe(1)
    expect(r.a.connectionCount).toBe(0)
    expect(r.vc.pending).toBe(0)
  })

  it('our SYN: 7 retransmissions, then ETIMEDOUT (and the application hears why)', async () => {
    const r = rig()
    r.gateB.blocked = true
    r.b.listen(80, { onConnection: () => {} })
    const sock = new TcpSocket(r.a)
    const failed = new Promise<Error & { code?: string; detail?: string }>((resolve) => sock.on('error', resolve))
    sock.connect({ host: '198.18.0.2', port: 80 })
    const t0 = r.vc.now
    r.run(3600 * SECOND)
    const e = await failed
    expect(e.code).toBe('ETIMEDOUT')
    // Node's shape for the message; the TCB's reason rides along as `detail`.
    expect(e.message).toBe('connect ETIMEDOUT 198.18.0.2:80')
    expect(e.detail).toBe('no acknowledgment for SYN after 7 retransmissions')
    expect(sock.connection?.tcb.stats.timeouts).toBe(8)
    // 1 s initial RTO doubling: 1 + 2 + … + 128 = 255 s.
    expect(r.vc.now - t0).toBeGreaterThanOrEqual(backoffSum(SECOND, 120 * SECOND, 8))
    expect(r.a.connectionCount).toBe(0)
  })

  it("our SYN+ACK: the half-open connection gives up and frees the listener's slot", () => {
    const r = rig({}, {})
    let accepted = 0
    const pl = r.b.listen(80, { backlog: 1, onConnection: () => accepted++ })
    r.a.connect({ remoteAddr: B, remotePort: 80 })
    r.gateA.blocked = true // the SYN is out; nothing else from A arrives
    r.pump()
    expect(pl.v4!.halfOpen).toBe(1)
    r.run(3600 * SECOND)
    expect(pl.v4!.halfOpen).toBe(0)
    expect(r.b.connectionCount).toBe(0)
    expect(accepted).toBe(0)
    expect(r.vc.pending).toBeLessThanOrEqual(1)
  })

  it('our FIN: a released connection in FIN-WAIT-2 is forgotten after the orphan timeout', () => {
    const r = rig()
    const { client, server } = connectPair(r)
    client.close()
    client.release()
    r.pump()
    expect(client.state).toBe('FIN-WAIT-2')
    expect(server().state).toBe('CLOSE-WAIT') // and its application never closes
    r.run(59 * SECOND)
    expect(r.a.connectionCount).toBe(1)
    r.run(2 * SECOND)
    expect(r.a.connectionCount).toBe(0)
  })
})

describe('a peer that sends without ever reading', () => {
  it('against an echo that respects backpressure: at most the buffers fill, then the user timeout ends it', () => {
    // B is the echo server (the victim); A sends "forever" and never reads what comes back.
    const r = rig({ rcvBuf: 64 * KiB }, { rcvBuf: 64 * KiB, sndBuf: 64 * KiB, userTimeout: 60 * SECOND })
    const { client, server } = connectPair(r)
    const chunk = new Uint8Array(64 * KiB).fill(1)
    const buf = new Uint8Array(16 * KiB)
    let offered = 0
    let accepted = 0
    const step = (): void => {
      if (client.state === 'ESTABLISHED') {
        // The hostile peer tries to push 1 GiB.
        while (offered < 1024 * MiB) {
          const n = client.send(chunk)
          offered += chunk.length
          accepted += n
          if (n < chunk.length) break
        }
      }
      const s = server()
      // The echo reads only what it can write back (a pipe with backpressure).
      while (s.state === 'ESTABLISHED' && s.tcb.writable > 0 && s.tcb.readable > 0) {
        const n = s.recvInto(buf.subarray(0, Math.min(buf.length, s.tcb.writable)))
        s.send(buf.subarray(0, n))
      }
    }
    r.run(30 * SECOND, step)
    // Stalled: A's receive buffer full of echoes, B's send buffer full, B's receive buffer full, A's send buffer full.
    expect(client.tcb.readable).toBeGreaterThanOrEqual(63 * KiB)
    expect(server().tcb.unacked).toBe(64 * KiB)
    expect(server().tcb.readable).toBeGreaterThanOrEqual(63 * KiB)
    const bound = 64 * KiB * 4 + 256 * KiB // the four buffers (A's send buffer at its 256 KiB default)
    expect(accepted).toBeLessThanOrEqual(bound)
    r.run(120 * SECOND, step)
    expect(server().tcb.error?.code).toBe('ETIMEDOUT')
    expect(server().tcb.error?.reason).toMatch(/with a zero window$/)
    expect(accepted).toBeLessThanOrEqual(bound)
  })

  const BIG = FULL ? 1024 * MiB : 64 * MiB
  it(`pouring ${BIG / MiB} MiB into a reader: every byte arrives, memory stays flat`, () => {
    const r = rig({}, {})
    const { client, server } = connectPair(r)
    const chunk = new Uint8Array(256 * KiB)
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 131) & 0xff
    let sent = 0
    let received = 0
    let mismatches = 0
    const into = new Uint8Array(64 * KiB)
    const before = process.memoryUsage()
    let peakRss = before.rss
    let steps = 0
    const step = (): void => {
      while (sent < BIG) {
        const n = client.send(sent + chunk.length <= BIG ? chunk : chunk.subarray(0, BIG - sent))
        sent += n
        if (n === 0) break
      }
      const s = server()
      for (let n = s.recvInto(into); n > 0; n = s.recvInto(into)) {
        // The stream's byte at offset p is ((p mod 256 KiB) · 131) mod 256: in order and unaltered.
        for (let i = 0; i < n; i++) if (into[i] !== ((((received + i) % chunk.length) * 131) & 0xff)) mismatches++
        received += n
      }
      if ((++steps & 1023) === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss)
    }
    const t0 = performance.now()
    for (let i = 0; i < 100_000 && received < BIG; i++) r.run(SECOND, step)
    const ms = performance.now() - t0
    expect(received).toBe(BIG)
    expect(mismatches).toBe(0)
    expect(client.tcb.unacked).toBe(0)
    expect(server().tcb.readable).toBe(0)
    expect(r.a.timerEntries + r.b.timerEntries).toBeLessThanOrEqual(4)
    // Nothing of the stream is kept: a leak would be the size of the transfer.
    expect(peakRss - before.rss).toBeLessThan(Math.min(BIG / 2, 128 * MiB))
    console.log(`[issue7] limits: ${BIG / MiB} MiB through the interface pair in ${(ms / 1000).toFixed(1)} s of CPU, RSS ${(before.rss / MiB).toFixed(0)} → peak ${(peakRss / MiB).toFixed(0)} MiB`)
  }, FULL ? 600_000 : 60_000)
})
