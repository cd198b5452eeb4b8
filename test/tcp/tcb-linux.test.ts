/**
 * The 'linux' profile's receiver, pinned against the kernel. test/fixtures/linux-quickack holds a kernel
 * server receiving 20 segments of 100 bytes, 50 ms apart, without reading (scripts/capture-quickack.sh):
 * it acknowledges the first 16 at once (quick-ack mode) and each later one 40-odd ms after it arrived
 * (the 40 ms delayed ACK plus timer slack). The test replays the client's segments into a TCB playing the
 * server, at the captured times, and compares when each ACK goes out. The 'rfc' profile delays them all.
 */
import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseOptions } from '../../src/tcp/options.js'
import type { TcpRepr } from '../../src/tcp/segment.js'
import { seq, seqDiff } from '../../src/tcp/seq.js'
import { Tcb } from '../../src/tcp/tcb.js'
import { resolveConfig, type FourTuple, type TcpConfig } from '../../src/tcp/types.js'

const FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'linux-quickack', 'small-writes-ipv4.pcap')

/** One captured TCP segment: µs since the first packet, which side sent it, and the segment. */
interface Captured {
  t: number
  fromClient: boolean
  seg: TcpRepr
}

const CLIENT = Uint8Array.of(198, 18, 78, 1)
const SERVER = Uint8Array.of(198, 18, 78, 2)

/** The segments of a little-endian µs pcap of Ethernet/IPv4 frames. */
function readCapture(): Captured[] {
  const b = readFileSync(FILE)
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  expect([v.getUint32(0, true), v.getUint32(20, true)]).toEqual([0xa1b2c3d4, 1])
  const out: Captured[] = []
  let t0 = -1
  for (let off = 24; off < b.length; ) {
    const us = v.getUint32(off, true) * 1_000_000 + v.getUint32(off + 4, true)
    const caplen = v.getUint32(off + 8, true)
    const f = Uint8Array.from(b.subarray(off + 16, off + 16 + caplen))
    off += 16 + caplen
    if (t0 < 0) t0 = us
    const ip = f.subarray(14)
    const ipLen = (ip[2] << 8) | ip[3]
    const tcp = ip.subarray((ip[0] & 15) * 4, ipLen)
    const d = new DataView(tcp.buffer, tcp.byteOffset, tcp.byteLength)
    const hl = (tcp[12] >> 4) * 4
    out.push({
      t: us - t0,
      fromClient: ip[15] === CLIENT[3],
      seg: {
        srcPort: d.getUint16(0),
        dstPort: d.getUint16(2),
        seq: seq(d.getUint32(4)),
        ack: seq(d.getUint32(8)),
        flags: tcp[13],
        window: d.getUint16(14),
        urgent: 0,
        options: parseOptions(tcp.subarray(20, hl)),
        payload: tcp.subarray(hl),
      },
    })
  }
  return out
}

/** For each data segment of the client, how long until an ACK covered it (µs). */
function kernelAckDelays(cap: Captured[]): number[] {
  const out: number[] = []
  for (const c of cap) {
    if (!c.fromClient || c.seg.payload.length === 0) continue
    const end = c.seg.seq + c.seg.payload.length
    const a = cap.find((x) => !x.fromClient && x.t >= c.t && seqDiff(x.seg.ack, seq(end)) >= 0)!
    out.push(a.t - c.t)
  }
  return out
}

/** Replays the client's SYN, ACK and data into a TCB playing the server; returns each data segment's ACK delay. */
function tcbAckDelays(cap: Captured[], cfg: Partial<TcpConfig>): number[] {
  const syn = cap[0]
  const synAck = cap.find((c) => !c.fromClient)!
  const ts = synAck.seg.options.find((o) => o.kind === 'timestamp')
  const tuple: FourTuple = { localAddr: SERVER, localPort: syn.seg.dstPort, remoteAddr: CLIENT, remotePort: syn.seg.srcPort }
  // The kernel's ISS and TS clock, so the client's ACKs and echoes fit this TCB.
  const t = Tcb.fromSyn(tuple, syn.t, syn.seg, { iss: synAck.seg.seq, tsOffset: ts && ts.kind === 'timestamp' ? ts.value : 0, ...cfg })
  expect(t.dispatch(synAck.t)?.flags).toBe(0x12)
  const delays: number[] = []
  let waiting: { end: number; at: number } | undefined
  let clock = synAck.t
  // Runs dispatch at every moment pollAt names up to `until` (0 means "now", the clock's current time).
  const fire = (until: number): void => {
    for (let at = t.pollAt(); at !== undefined && (at === 0 || at <= until); at = t.pollAt()) {
      if (at !== 0) clock = at
      for (let s = t.dispatch(clock); s !== undefined; s = t.dispatch(clock)) {
        if (waiting && seqDiff(s.ack!, seq(waiting.end)) >= 0) {
          delays.push(clock - waiting.at)
          waiting = undefined
        }
      }
    }
  }
  for (const c of cap) {
    if (!c.fromClient || c === syn) continue
    if (c.seg.flags & 0x01) break // the FIN: Linux enters ping-pong mode there, not modelled
    fire(c.t)
    clock = c.t
    t.process(c.t, c.seg)
    if (c.seg.payload.length > 0) waiting = { end: c.seg.seq + c.seg.payload.length, at: c.t }
    fire(c.t)
    expect(t.checkInvariants()).toBeUndefined()
  }
  fire(clock + 1_000_000)
  return delays
}

describe("the 'linux' profile's quick-ack mode, against a kernel receiver", () => {
  const cap = readCapture()
  const kernel = kernelAckDelays(cap)

  it('the capture: 20 segments; the kernel ACKs the first 16 within a millisecond, the last 4 after 40–50 ms', () => {
    expect(kernel).toHaveLength(20)
    expect(kernel.map((d) => (d < 1_000 ? 'now' : d >= 40_000 && d < 50_000 ? 'delayed' : `odd ${d}`))).toEqual([
      ...Array(16).fill('now'),
      ...Array(4).fill('delayed'),
    ])
  })

  it("a TCB with profile 'linux' ACKs the same segments at once and delays the others by exactly 40 ms", () => {
    const ours = tcbAckDelays(cap, { profile: 'linux' })
    expect(ours).toEqual(kernel.map((d) => (d < 1_000 ? 0 : 40_000)))
  })

  it("with profile 'rfc' every one of them waits for the delayed ACK", () => {
    expect(tcbAckDelays(cap, {})).toEqual(Array(20).fill(40_000))
  })

  it("profile 'linux' defaults to CUBIC; an explicit choice wins; 'rfc' stays Reno", () => {
    expect(resolveConfig({ profile: 'linux' }).congestionControl).toBe('cubic')
    expect(resolveConfig({ profile: 'linux', congestionControl: 'reno' }).congestionControl).toBe('reno')
    expect(resolveConfig({ profile: 'rfc' }).congestionControl).toBe('reno')
    const l = resolveConfig({ profile: 'linux' })
    expect([l.initialCwnd, l.rtoInitial, l.rtoMin, l.ackDelay]).toEqual([10, 1_000_000, 200_000, 40_000])
  })
})
