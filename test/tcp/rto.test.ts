/**
 * Linux's RTO estimator (src/tcp/rto.ts, profile 'linux') against RFC 6298's, with values worked out by
 * hand, and against the kernel: test/fixtures/linux-rto holds a script (seven 100 ms RTT samples, then a
 * lost segment) that passes on Linux under `tcplab script`, and the capture of that run (`--pcap`). A TCB
 * playing the kernel's side of the capture, sending when the kernel sent, must retransmit no later than
 * the kernel did, and later by no more than the kernel's timer granularity (HZ=250: 4 ms jiffies, and a
 * timer wheel slot of 8 jiffies for timeouts of 256 ms to 2 s).
 */
import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { parseTcp } from '../../src/tcp/segment.js'
import { seq } from '../../src/tcp/seq.js'
import { RttEstimator } from '../../src/tcp/snd.js'
import { LinuxRttEstimator } from '../../src/tcp/rto.js'
import { Tcb } from '../../src/tcp/tcb.js'
import type { TcpConfig } from '../../src/tcp/types.js'

const MS = 1000
const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'linux-rto', 'rto-after-rtt-samples.pcap')

describe('LinuxRttEstimator', () => {
  const pair = () => [new LinuxRttEstimator(1_000_000, 200 * MS, 120_000_000), new RttEstimator(1_000_000, 200 * MS, 120_000_000)] as const

  it('first sample R: RTO = R + max(2R, 200 ms), as RFC 6298 above the floor; below it Linux adds the floor', () => {
    const [lin, rfc] = pair()
    lin.sample(100 * MS, seq(1), seq(1))
    rfc.sample(100 * MS)
    expect([lin.srtt, lin.rto, rfc.rto]).toEqual([100 * MS, 300 * MS, 300 * MS])
    const [lin2, rfc2] = pair()
    lin2.sample(10 * MS, seq(1), seq(1))
    rfc2.sample(10 * MS)
    expect([lin2.rto, rfc2.rto]).toEqual([210 * MS, 200 * MS]) // 10 + 200; max(10 + 4·5, 200)
  })

  it('a steady 100 ms path: Linux stays at 300 ms, RFC 6298 falls to its 200 ms floor', () => {
    const [lin, rfc] = pair()
    for (let k = 0; k < 7; k++) {
      lin.sample(100 * MS, seq(1 + 1000 * k), seq(1 + 1000 * k))
      rfc.sample(100 * MS)
    }
    expect([lin.rto, rfc.rto]).toEqual([300 * MS, 200 * MS])
  })

  it('a falling sample moves the deviation with gain 1/32: 100 ms then 20 ms gives 90 + 203.75 ms', () => {
    const [lin, rfc] = pair()
    lin.sample(100 * MS, seq(1), seq(1))
    rfc.sample(100 * MS)
    // error −80 ms: SRTT 90 ms; |error| − mdev·4/4 = 80 − 50 = 30 ms, /8 = 3.75 ms; mdev·4 = 200 + 3.75.
    lin.sample(20 * MS, seq(1001), seq(1001))
    rfc.sample(20 * MS)
    expect([lin.srtt, lin.rto]).toEqual([90 * MS, 90 * MS + 203_750])
    expect(rfc.rto).toBe(320 * MS) // 90 + 4·(3/4·50 + 1/4·80)
  })

  it('a fresh sample clears the backoff, and the RTO never exceeds the maximum', () => {
    const lin = new LinuxRttEstimator(1_000_000, 200 * MS, 250 * MS)
    lin.expired()
    expect(lin.backoff).toBe(0) // 1 s is already above the 250 ms maximum: no doubling
    lin.sample(100 * MS, seq(1), seq(1))
    expect([lin.rto, lin.current, lin.backoff]).toEqual([250 * MS, 250 * MS, 0])
  })
})

describe("the 'linux' profile's RTO against the kernel's (test/fixtures/linux-rto)", () => {
  /** The TCP/IPv4 packets of the LINKTYPE_RAW capture: µs since the first, sender, segment. */
  function capture(): Array<{ t: number; fromKernel: boolean; seg: ReturnType<typeof parseTcp> }> {
    const b = readFileSync(FIXTURE)
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
    expect([v.getUint32(0, true), v.getUint32(20, true)]).toEqual([0xa1b2c3d4, 101])
    const out: Array<{ t: number; fromKernel: boolean; seg: ReturnType<typeof parseTcp> }> = []
    let t0 = -1
    for (let off = 24; off < b.length; ) {
      const us = v.getUint32(off, true) * 1_000_000 + v.getUint32(off + 4, true)
      const caplen = v.getUint32(off + 8, true)
      const ip = Uint8Array.from(b.subarray(off + 16, off + 16 + caplen))
      off += 16 + caplen
      if (ip[0] >> 4 !== 4 || ip[9] !== 6) continue // the TUN's IPv6 router solicitation
      if (t0 < 0) t0 = us
      out.push({ t: us - t0, fromKernel: ip[12] === 198 && ip[13] === 18, seg: parseTcp(ip.subarray((ip[0] & 15) * 4)) })
    }
    return out
  }

  /** Plays the kernel's side: sends when the kernel sent; returns the kernel's and our retransmission times. */
  function replay(cfg: Partial<TcpConfig>): { kernel: number[]; ours: number[] } {
    const cap = capture()
    const syn = cap[0]
    const synAck = cap[1]
    const tuple = { localAddr: Uint8Array.of(198, 18, 0, 1), localPort: 8080, remoteAddr: Uint8Array.of(198, 19, 2, 1), remotePort: 40000 }
    // As the script: no timestamps, TLP off (tcp_early_retrans=0), TCP_NODELAY.
    const t = Tcb.fromSyn(tuple, syn.t, syn.seg, { iss: synAck.seg.seq, rack: false, nagle: false, ...cfg })
    expect(t.dispatch(synAck.t)?.seq).toBe(synAck.seg.seq)
    const kernel: number[] = []
    const ours: number[] = []
    let writes = 0
    for (const c of cap.slice(2)) {
      if (!c.fromKernel) {
        t.process(c.t, c.seg)
        // The script's application writes 1000 bytes after accept and after each ACK, seven times.
        if (writes < 7 && t.unacked === 0) {
          t.send(new Uint8Array(1000))
          writes++
        }
        continue
      }
      const at = t.pollAt()
      if (at === 0) {
        // A first transmission: sent at the kernel's moment, so both stacks time the same interval.
        const s = t.dispatch(c.t)!
        expect([s.seq, s.payload.length]).toEqual([c.seg.seq, c.seg.payload.length])
      } else {
        // A retransmission: when did ours fall due?
        expect(at).toBeDefined()
        kernel.push(c.t)
        ours.push(at!)
        const s = t.dispatch(at!)!
        expect([s.seq, s.payload.length]).toEqual([c.seg.seq, c.seg.payload.length])
      }
    }
    return { kernel, ours }
  }

  /** The intervals: from the original transmission to the first retransmission, then to the second. */
  const intervals = (times: number[], sentAt: number): number[] => [times[0] - sentAt, times[1] - times[0]]

  it('the kernel resent after 322.8 and 644.0 ms; ours after 300.5 and 601.0 ms: earlier by less than its timer granularity', () => {
    const { kernel, ours } = replay({ profile: 'linux' })
    const sent = 704_080 // the kernel's original transmission of the lost segment (µs into the capture)
    const k = intervals(kernel, sent)
    const o = intervals(ours, sent)
    expect(k).toEqual([322_844, 644_008])
    // SRTT ≈ 100.49 ms plus the 200 ms floor of the variance term; doubled once.
    expect(o.map((x) => Math.round(x / 100) / 10)).toEqual([300.5, 601])
    for (let i = 0; i < 2; i++) {
      // Linux rounds the RTO up to 4 ms jiffies (and doubles that), then the timer wheel fires up to one
      // 32 ms slot (plus the jiffy it was armed in) late; it never fires early.
      const slack = k[i] - o[i]
      expect(slack).toBeGreaterThanOrEqual(0)
      expect(slack).toBeLessThanOrEqual(4_000 * 2 ** i + 32_000 + 4_000)
    }
  })

  it("the 'rfc' profile resends after 200 and 400 ms on the same path: RTTVAR decayed to its floor", () => {
    const { ours } = replay({})
    const o = intervals(ours, 704_080)
    expect(o).toEqual([200_000, 400_000])
  })
})
