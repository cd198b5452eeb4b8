/**
 * Issue 7, item 1: fuzzing, at a bounded size. `scripts/fuzz.mjs` (`npm run fuzz`, 1,000,000 inputs per
 * decoder) runs here with 20,000 per decoder: every outcome must be a decoded value or a WireError, and
 * the script must catch a decoder that throws anything else (its --self-test decoder does). Then the
 * whole receive path of the interface gets random and mutated IP packets in-process: it never throws,
 * and every packet is counted exactly once (a drop reason, or handed to a connection or listener).
 */
import { spawnSync } from 'node:child_process'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseIp } from '../../src/net/addr.js'
import { memoryPair } from '../../src/net/memdev.js'
import { buildTcpPacket } from '../../src/net/packet.js'
import { emitIpv4, ipv4Len } from '../../src/net/ipv4.js'
import { seq } from '../../src/tcp/seq.js'
import { TcpFlags, type TcpRepr } from '../../src/tcp/segment.js'
import { VirtualClock } from '../../src/lab/stack/clock.js'
import { Interface, type IfaceDropReason } from '../../src/lab/stack/iface.js'
import { fuzzInputs } from '../helpers/codecLaws.js'
import { repoPath, requireBuilt } from '../helpers/lab.js'

const FUZZ = repoPath('scripts/fuzz.mjs')
const DECODERS = ['ethernet', 'arp', 'ipv4', 'ipv6', 'tcp', 'tcp-options', 'pcap', 'frame']

interface FuzzResult {
  decoder: string
  inputs: number
  random: number
  mutated: number
  decoded: number
  wireErrors: number
  codes: Record<string, number>
  other: number
  invariant: number
  samples: Array<{ input: string; problem: string }>
}

function runFuzz(args: string[]): { code: number | null; out: { ok: boolean; results: FuzzResult[] }; stderr: string } {
  requireBuilt('dist/net/pcap.js', 'dist/net/packet.js')
  const r = spawnSync(process.execPath, [FUZZ, '--json', ...args], { encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, out: JSON.parse(r.stdout), stderr: r.stderr }
}

describe('scripts/fuzz.mjs (npm run fuzz) at 20,000 inputs per decoder', () => {
  it('every decoder: only decoded values and WireErrors with stable codes, both outcomes reached', () => {
    const { code, out, stderr } = runFuzz(['--count', '20000', '--seed', '7'])
    expect(stderr).toBe('')
    expect(code).toBe(0)
    expect(out.ok).toBe(true)
    expect(out.results.map((r) => r.decoder)).toEqual(DECODERS)
    for (const r of out.results) {
      expect(r, r.decoder).toMatchObject({ inputs: 20_000, other: 0, invariant: 0, samples: [] })
      expect(r.random + r.mutated).toBe(20_000)
      expect(r.random, `${r.decoder}: random inputs`).toBeGreaterThan(4_000)
      expect(r.mutated, `${r.decoder}: mutated inputs`).toBeGreaterThan(12_000)
      // A fuzzer that never gets past the first check (or never fails one) is not exploring.
      expect(r.decoded, `${r.decoder}: decoded`).toBeGreaterThan(500)
      expect(r.wireErrors, `${r.decoder}: WireErrors`).toBeGreaterThan(500)
      expect(r.decoded + r.wireErrors).toBe(20_000)
      for (const c of Object.keys(r.codes)) expect(c).toMatch(/^(TCP|IP|ETH|ARP|PCAP)_ERR_[A-Z_]+$/)
    }
    // Mutations reach deep checks, not just truncation.
    const codes = (d: string) => Object.keys(out.results.find((r) => r.decoder === d)!.codes).sort()
    expect(codes('tcp')).toEqual(['TCP_ERR_BAD_DATA_OFFSET', 'TCP_ERR_BAD_OPTION_LENGTH', 'TCP_ERR_OPTION_OVERRUN', 'TCP_ERR_TRUNCATED'])
    expect(codes('ipv4')).toEqual(['IP_ERR_BAD_IHL', 'IP_ERR_BAD_TOTAL_LENGTH', 'IP_ERR_BAD_VERSION', 'IP_ERR_TRUNCATED'])
    expect(codes('ipv6')).toContain('IP_ERR_BAD_EXTENSION')
    expect(codes('pcap')).toEqual(['PCAP_ERR_BAD_BLOCK', 'PCAP_ERR_BAD_MAGIC', 'PCAP_ERR_TOO_LARGE', 'PCAP_ERR_TRUNCATED'])
  }, 60_000)

  it('the same seed gives the same inputs (a failure can be replayed)', () => {
    const a = runFuzz(['--count', '3000', '--seed', '99', '--only', 'tcp,pcap'])
    const b = runFuzz(['--count', '3000', '--seed', '99', '--only', 'tcp,pcap'])
    const strip = (r: FuzzResult[]) => r.map(({ decoder, decoded, codes }) => ({ decoder, decoded, codes }))
    expect(strip(a.out.results)).toEqual(strip(b.out.results))
  })

  it('fails (exit 1) with the input in hex when a decoder throws anything but a WireError', () => {
    const { code, out } = runFuzz(['--count', '5000', '--only', 'self-test', '--self-test'])
    expect(code).toBe(1)
    expect(out.ok).toBe(false)
    const r = out.results[0]
    expect(r.other).toBeGreaterThan(0)
    expect(r.codes).toEqual({ 'other RangeError': r.other })
    expect(r.samples[0].problem).toMatch(/^RangeError: /)
    expect(r.samples[0].input).toMatch(/^45[0-9a-f]*$/)
  })

  it('rejects an unknown decoder name with exit 2', () => {
    const r = spawnSync(process.execPath, [FUZZ, '--only', 'nope'], { encoding: 'utf8' })
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/^fuzz: unknown decoder\(s\) nope; known: ethernet, arp, ipv4, ipv6, tcp, tcp-options, pcap, frame/)
  })
})

describe("the interface's receive path under random and mutated packets", () => {
  it('never throws and counts every packet exactly once', () => {
    const A = parseIp('198.18.0.1')
    const B = parseIp('198.18.0.2')
    const vc = new VirtualClock(1_000_000)
    const [peer, dev] = memoryPair({ delivery: 'sync' })
    const iface = new Interface({ device: dev, addrs: [A], clock: vc.clock, scheduler: vc, tcp: { iss: 1000, tsOffset: 0 } })
    iface.listen(80, { backlog: 4, synCookies: true, onConnection: () => {} })
    let delivered = 0
    const errors: Error[] = []
    iface.on('packet', (p) => {
      if (p.dir === 'in' && p.drop === undefined) delivered++
    })
    iface.on('sendError', (e) => errors.push(e))
    iface.on('deviceError', (e) => errors.push(e))

    const syn: TcpRepr = {
      srcPort: 40000, dstPort: 80, seq: seq(5000), ack: seq(0), flags: TcpFlags.SYN, window: 65535, urgent: 0,
      options: [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'timestamp', value: 1, echo: 0 }, { kind: 'nop' }, { kind: 'wscale', shift: 7 }],
      payload: new Uint8Array(0),
    }
    const seeds = [
      buildTcpPacket({ src: B, dst: A }, syn),
      buildTcpPacket({ src: B, dst: A }, { ...syn, flags: TcpFlags.ACK, seq: seq(5001), ack: seq(1001), options: [], payload: new TextEncoder().encode('hello') }),
      buildTcpPacket({ src: B, dst: A }, { ...syn, flags: TcpFlags.RST, options: [] }),
      buildTcpPacket({ src: B, dst: A }, { ...syn, dstPort: 81 }),
      (() => {
        const r = { src: B, dst: A, protocol: 17, ttl: 64, id: 1, dscp: 0, ecn: 0, dontFragment: false, moreFragments: false, fragmentOffset: 0, options: new Uint8Array(0), payload: new Uint8Array(8) }
        const b = new Uint8Array(ipv4Len(r))
        emitIpv4(r, b, 0)
        return b
      })(),
    ]
    const N = 20_000
    fc.assert(
      fc.property(fuzzInputs(seeds), (bytes) => {
        vc.advance(1_000)
        peer.send(bytes.length <= 1500 ? bytes : bytes.subarray(0, 1500))
      }),
      { numRuns: N, seed: 20250407 },
    )
    const drops = iface.stats.drops as Record<IfaceDropReason, number>
    const dropped = Object.values(drops).reduce((a, b) => a + b, 0)
    expect(errors).toEqual([])
    expect(iface.stats.packetsIn).toBe(N)
    expect(dropped + delivered).toBe(N)
    // Reached every layer: delivered segments and drops of several kinds.
    expect(delivered).toBeGreaterThan(100)
    for (const r of ['malformed', 'ip-checksum', 'tcp-checksum', 'closed-port'] as const) expect(drops[r], r).toBeGreaterThan(0)
    // Whatever was accepted stays within the listener's bounds.
    expect(iface.connectionCount).toBeLessThanOrEqual(8)
    iface.close()
  })
})
