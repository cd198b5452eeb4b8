/**
 * The 'linux' profile's receiver, pinned against the kernel. test/fixtures/linux-quickack holds a kernel
 * server receiving 20 segments of 100 bytes, 50 ms apart, without reading (scripts/capture-quickack.sh):
 * it acknowledges the first 16 at once (quick-ack mode) and each later one 40-odd ms after it arrived
 * (the 40 ms delayed ACK plus timer slack), and the FIN too (ping-pong mode). The test replays the client's segments into a TCB playing the
 * server, at the captured times, and compares when each ACK goes out. The 'rfc' profile delays them all.
 */
import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseOptions } from '../../src/tcp/options.js'
import { emitTcp, parseTcp, tcpHeaderLen, type TcpRepr } from '../../src/tcp/segment.js'
import { synWindow } from '../../src/tcp/optlayout.js'
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

/** The sequence number just past a segment's data and FIN. */
const endOf = (s: TcpRepr): number => s.seq + s.payload.length + (s.flags & 0x01)

/** For each data segment (and the FIN) of the client, how long until an ACK covered it (µs). */
function kernelAckDelays(cap: Captured[]): number[] {
  const out: number[] = []
  for (const c of cap) {
    if (!c.fromClient || endOf(c.seg) === c.seg.seq || c.seg.flags & 0x02) continue
    const end = endOf(c.seg)
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
    if (!(c.seg.flags & 0x10)) continue
    fire(c.t)
    clock = c.t
    t.process(c.t, c.seg)
    if (endOf(c.seg) !== c.seg.seq) waiting = { end: endOf(c.seg), at: c.t }
    fire(c.t)
    expect(t.checkInvariants()).toBeUndefined()
  }
  fire(clock + 1_000_000)
  return delays
}

describe("the 'linux' profile's SYN and SYN+ACK, against the kernel's (test/fixtures/linux-syn)", () => {
  /** The TCP segments of one fixture (addresses and segments, in capture order). */
  function synCapture(file: string): Array<{ src: Uint8Array; dst: Uint8Array; tcp: Uint8Array }> {
    const b = readFileSync(path.join(path.dirname(FILE), '..', 'linux-syn', file))
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
    const out: Array<{ src: Uint8Array; dst: Uint8Array; tcp: Uint8Array }> = []
    for (let off = 24; off < b.length; ) {
      const caplen = v.getUint32(off + 8, true)
      const ip = Uint8Array.from(b.subarray(off + 16 + 14, off + 16 + caplen))
      off += 16 + caplen
      if (ip[0] >> 4 === 4) out.push({ src: ip.subarray(12, 16), dst: ip.subarray(16, 20), tcp: ip.subarray((ip[0] & 15) * 4) })
      else out.push({ src: ip.subarray(8, 24), dst: ip.subarray(24, 40), tcp: ip.subarray(40) })
    }
    return out
  }
  /** The TCP header with the checksum field zeroed (the veth capture holds offload-partial checksums). */
  const header = (tcp: Uint8Array): Uint8Array => {
    const h = Uint8Array.from(tcp.subarray(0, (tcp[12] >> 4) * 4))
    h[16] = h[17] = 0
    return h
  }
  const emitted = (r: TcpRepr): Uint8Array => {
    const buf = new Uint8Array(tcpHeaderLen(r) + r.payload.length)
    emitTcp(r, buf, 0)
    return header(buf)
  }
  const tsValOf = (r: TcpRepr): number => {
    const o = r.options.find((x) => x.kind === 'timestamp')
    return o && o.kind === 'timestamp' ? o.value : 0
  }

  for (const fam of [4, 6]) {
    for (const ts of [1, 0]) {
      for (const sack of [1, 0]) {
        for (const ws of [1, 0]) {
          const file = `ts${ts}-sack${sack}-ws${ws}-ipv${fam}.pcap`
          it(`${file}: the TCB's SYN and SYN+ACK headers are the kernel's, byte for byte (checksum aside)`, () => {
            const [syn, synAck] = synCapture(file)
            const synSeg = parseTcp(syn.tcp)
            const synAckSeg = parseTcp(synAck.tcp)
            const cfg: Partial<TcpConfig> = {
              profile: 'linux',
              mss: fam === 4 ? 1460 : 1440,
              timestamps: ts === 1,
              sackPermitted: sack === 1,
              windowScale: ws === 1 ? 7 : false,
            }
            // Active open: the client's SYN, with the kernel's ISS, port and TS clock.
            const client = Tcb.connect(
              { localAddr: syn.src, localPort: synSeg.srcPort, remoteAddr: syn.dst, remotePort: synSeg.dstPort },
              0,
              { ...cfg, iss: synSeg.seq, tsOffset: tsValOf(synSeg) },
            )
            expect(emitted(client.dispatch(0)!)).toEqual(header(syn.tcp))
            // Passive open: the server's SYN+ACK in reply to the kernel's SYN.
            const server = Tcb.fromSyn(
              { localAddr: syn.dst, localPort: synSeg.dstPort, remoteAddr: syn.src, remotePort: synSeg.srcPort },
              0,
              synSeg,
              { ...cfg, iss: synAckSeg.seq, tsOffset: tsValOf(synAckSeg) },
            )
            expect(emitted(server.dispatch(0)!)).toEqual(header(synAck.tcp))
          })
        }
      }
    }
  }

  it("the 'rfc' profile advertises min(rcvBuf, 65535) instead: 65535 where Linux says 64240", () => {
    const t = Tcb.connect({ localAddr: CLIENT, localPort: 1, remoteAddr: SERVER, remotePort: 2 }, 0, { iss: 0, tsOffset: 0 })
    expect(t.dispatch(0)!.window).toBe(65535)
    expect(synWindow('rfc', 256 * 1024, 1460)).toBe(65535)
    expect(synWindow('rfc', 1000, 1460)).toBe(1000)
    expect(synWindow('linux', 256 * 1024, 1460)).toBe(64240)
    expect(synWindow('linux', 256 * 1024, 1448)).toBe(65160)
    expect(synWindow('linux', 10_000, 1460)).toBe(8760) // a smaller buffer: 6 segments
    expect(synWindow('linux', 1000, 1460)).toBe(1000) // less than a segment: not rounded
  })
})

describe("the 'linux' profile's quick-ack mode, against a kernel receiver", () => {
  const cap = readCapture()
  const kernel = kernelAckDelays(cap)

  it('the capture: 20 segments; the kernel ACKs the first 16 within a millisecond, the last 4 and the FIN after 40–50 ms', () => {
    expect(kernel).toHaveLength(21)
    expect(kernel.map((d) => (d < 1_000 ? 'now' : d >= 40_000 && d < 50_000 ? 'delayed' : `odd ${d}`))).toEqual([
      ...Array(16).fill('now'),
      ...Array(5).fill('delayed'),
    ])
  })

  it("a TCB with profile 'linux' ACKs the same segments at once and delays the others and the FIN by exactly 40 ms", () => {
    const ours = tcbAckDelays(cap, { profile: 'linux' })
    expect(ours).toEqual(kernel.map((d) => (d < 1_000 ? 0 : 40_000)))
  })

  it("with profile 'rfc' every data segment waits for the delayed ACK and the FIN is acknowledged at once", () => {
    expect(tcbAckDelays(cap, {})).toEqual([...Array(20).fill(40_000), 0])
  })

  it("profile 'linux' defaults to CUBIC; an explicit choice wins; 'rfc' stays Reno", () => {
    expect(resolveConfig({ profile: 'linux' }).congestionControl).toBe('cubic')
    expect(resolveConfig({ profile: 'linux', congestionControl: 'reno' }).congestionControl).toBe('reno')
    expect(resolveConfig({ profile: 'rfc' }).congestionControl).toBe('reno')
    const l = resolveConfig({ profile: 'linux' })
    expect([l.initialCwnd, l.rtoInitial, l.rtoMin, l.ackDelay]).toEqual([10, 1_000_000, 200_000, 40_000])
  })
})
