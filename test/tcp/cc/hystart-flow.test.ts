/**
 * HyStart in a whole connection: 1.5 MB through a 10 Mbit/s bottleneck with 40 ms of propagation RTT and
 * a 100-packet drop-tail queue, in virtual time. Slow start doubles the window each round until the queue
 * overflows; with CUBIC, HyStart sees the queue build (the RTT samples of a round rise more than
 * max(minRTT/8, 4 ms) above the minimum, or the ACK train lasts longer than half of it) and ends slow start
 * with the window between the path's BDP and BDP plus the queue, before any loss. The samples are per ACK,
 * from the transmission log (SACK, no timestamps). Reno's slow start runs on into the queue limit.
 */
import { describe, expect, it } from 'vitest'
import { Tcb } from '../../../src/tcp/tcb.js'
import type { Cubic } from '../../../src/tcp/cc/cubic.js'
import type { TcpRepr } from '../../../src/tcp/segment.js'
import type { TcpConfig } from '../../../src/tcp/types.js'
import { PEER_TUPLE, TUPLE } from '../helpers.js'

const RATE = 1.25 // bytes per µs: 10 Mbit/s
const ONE_WAY = 20_000 // µs
const QUEUE = 100 // packets the bottleneck holds

/** Runs a 1.5 MB transfer; returns the client and how many data segments the bottleneck dropped. */
function transfer(cc: 'reno' | 'cubic'): { client: Tcb; drops: number; exitCwnd: number | undefined; firstDropInSlowStart: boolean | undefined } {
  const cfg: Partial<TcpConfig> = { congestionControl: cc, sackPermitted: true, timestamps: false, windowScale: 7, rcvBuf: 4 << 20, sndBuf: 4 << 20, ackDelay: 0, tsOffset: 0 }
  const client = Tcb.connect(TUPLE, 0, { ...cfg, iss: 1_000 })
  let server: Tcb | undefined
  const inFlight: Array<{ at: number; toServer: boolean; seg: TcpRepr }> = []
  let linkFree = 0 // when the bottleneck finishes its current queue
  let drops = 0
  let exitCwnd: number | undefined
  let firstDropInSlowStart: boolean | undefined
  const size = 1_500_000
  const data = new Uint8Array(size)
  let sent = 0
  let got = 0
  let now = 0
  const pump = (t: Tcb, toServer: boolean): void => {
    for (let s = t.dispatch(now); s !== undefined; s = t.dispatch(now)) {
      const bytes = 40 + s.payload.length
      if (toServer && s.payload.length > 0) {
        // Drop-tail at the bottleneck, then serialization at RATE.
        const queued = Math.max(0, linkFree - now) * RATE
        if (queued > QUEUE * 1500) {
          if (drops === 0) firstDropInSlowStart = client.ssthresh === Infinity
          drops++
          continue
        }
        linkFree = Math.max(now, linkFree) + bytes / RATE
        inFlight.push({ at: linkFree + ONE_WAY, toServer, seg: s })
      } else {
        inFlight.push({ at: now + ONE_WAY, toServer, seg: s })
      }
    }
  }
  for (let step = 0; step < 1_000_000 && got < size; step++) {
    if (client.state === 'ESTABLISHED' && sent < size) sent += client.send(data.subarray(sent))
    pump(client, true)
    if (server) {
      got += server.recv().length
      pump(server, false)
    }
    if (exitCwnd === undefined && cc === 'cubic' && (client.cc as Cubic).hystartFound) {
      exitCwnd = client.cwnd
      expect(drops).toBe(0)
    }
    let next = Infinity
    for (const p of inFlight) if (p.at < next) next = p.at
    for (const t of [client, server]) {
      const at = t?.pollAt()
      if (at !== undefined && at > now && at < next) next = at
    }
    now = next
    for (let i = 0; i < inFlight.length; ) {
      const p = inFlight[i]
      if (p.at > now) {
        i++
        continue
      }
      inFlight.splice(i, 1)
      if (!p.toServer) client.process(now, p.seg)
      else if (server === undefined) server = Tcb.fromSyn(PEER_TUPLE, now, p.seg, { ...cfg, iss: 9_000 })
      else server.process(now, p.seg)
    }
    expect(client.checkInvariants()).toBeUndefined()
  }
  expect(got).toBe(size)
  return { client, drops, exitCwnd, firstDropInSlowStart }
}

describe('HyStart in a connection through a bottleneck', () => {
  it('CUBIC leaves slow start before the queue overflows and loses nothing; Reno overflows it in slow start', () => {
    const cubic = transfer('cubic')
    const reno = transfer('reno')
    // BDP: 10 Mbit/s × 40 ms = 50 KB, about 34 segments of 1460; the queue holds 100 more.
    expect(cubic.exitCwnd).toBeGreaterThan(34 * 1460)
    expect(cubic.exitCwnd).toBeLessThan(134 * 1460)
    expect([cubic.drops, cubic.client.stats.retransmits]).toEqual([0, 0])
    expect(reno.firstDropInSlowStart).toBe(true)
    expect(reno.drops).toBeGreaterThan(0)
    expect(reno.client.stats.retransmits).toBeGreaterThan(0)
  })
})
