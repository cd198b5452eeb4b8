import { EventEmitter } from 'node:events'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { isWireError } from '../../src/tcp/errors.js'
import { TcpFlags } from '../../src/tcp/segment.js'
import type { Seq } from '../../src/tcp/seq.js'
import { formatIp, parseIp } from '../../src/net/addr.js'
import {
  NeighborCache,
  ArpAgent,
  defaultCapFilter,
  ipOverEthernet,
  multicastMac,
  NdpAgent,
  openCapDevice,
  captureBufferSize,
  CAPTURE_BUFFER_SMALL_FRAMES,
  CAPTURE_BUFFER_SUPER_FRAMES,
  CAPTURE_RING_FRAMES,
  chooseCapReceive,
  PACKET_RX_MAX_FRAME,
  solicitedNode,
  type Timers,
} from '../../src/net/capdev.js'
import { parseEthernet } from '../../src/net/ethernet.js'
import { parseIpv6 } from '../../src/net/ipv6.js'
import { memoryPair } from '../../src/net/memdev.js'
import { loadCap, loadPacketTx, type CapModule, type PacketRxHandle, type PacketTxModule } from '../../src/net/native.js'
import { buildTcpPacket } from '../../src/net/packet.js'
import { hex, toHex } from '../helpers/codecLaws.js'
import { describeRoot } from '../helpers/root.js'
import { nobodyPath } from '../helpers/nobody.js'
import {
  exitOf,
  installRstCounters,
  kernelListener,
  LineReader,
  nftCounters,
  repoPath,
  requireBuilt,
  until,
  withLab,
} from '../helpers/lab.js'

/** Virtual time: timers fire only when the test advances the clock. */
class FakeTimers implements Timers {
  now = 0
  private seq = 0
  private readonly queue = new Map<number, { at: number; fn: () => void }>()
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq
    this.queue.set(id, { at: this.now + ms, fn })
    return id
  }
  clearTimeout(h: unknown): void {
    this.queue.delete(h as number)
  }
  advance(ms: number): void {
    const end = this.now + ms
    for (;;) {
      const due = [...this.queue.entries()].filter(([, t]) => t.at <= end).sort((x, y) => x[1].at - y[1].at)[0]
      if (due === undefined) break
      this.queue.delete(due[0])
      this.now = due[1].at
      due[1].fn()
    }
    this.now = end
  }
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r))
}

const OUR_MAC = '02:74:6c:00:00:0a'
const PEER_MAC = '02:74:6c:00:00:02'

function arpAgent(extra: Partial<ConstructorParameters<typeof ArpAgent>[0]> = {}) {
  const t = new FakeTimers()
  const sent: string[] = []
  const agent = new ArpAgent({
    mac: OUR_MAC,
    ipv4: '198.18.0.10',
    send: (f) => sent.push(toHex(f)),
    now: () => t.now,
    timers: t,
    ...extra,
  })
  return { t, sent, agent }
}

/** An ARP packet (no Ethernet header). */
const arp = (op: number, smac: string, sip: string, tmac: string, tip: string): Uint8Array =>
  hex(`0001 0800 06 04 000${op} ${smac.replaceAll(':', '')} ${toHex(parseIp(sip))} ${tmac.replaceAll(':', '')} ${toHex(parseIp(tip))}`)

describe('ArpAgent (RFC 826)', () => {
  it('answers a request for the lab-owned address with its MAC, and learns the requester', () => {
    const { sent, agent } = arpAgent()
    agent.handle(arp(1, PEER_MAC, '198.18.0.2', '00:00:00:00:00:00', '198.18.0.10'))
    expect(sent).toEqual([
      toHex(
        hex(`
          02746c000002 02746c00000a 0806            # Ethernet: to the requester, from us, ARP
          0001 0800 06 04 0002                      # Ethernet/IPv4, reply
          02746c00000a c612000a                     # sender: us, 198.18.0.10
          02746c000002 c6120002                     # target: the requester, 198.18.0.2
          000000000000000000000000000000000000      # padding to 60 bytes
        `),
      ),
    ])
    expect(toHex(agent.lookup('198.18.0.2')!)).toBe('02746c000002')
    expect(agent.stats()).toEqual({ requestsAnswered: 1, requestsSent: 0, learned: 1, ignored: 0 })
  })

  it('ignores requests for other addresses (and does not learn from them), but merges known senders', () => {
    const { sent, agent } = arpAgent()
    agent.handle(arp(1, PEER_MAC, '198.18.0.2', '00:00:00:00:00:00', '198.18.0.1'))
    expect(sent).toEqual([])
    expect(agent.lookup('198.18.0.2')).toBeUndefined()
    agent.handle(arp(2, PEER_MAC, '198.18.0.2', OUR_MAC, '198.18.0.10'))
    expect(toHex(agent.lookup('198.18.0.2')!)).toBe('02746c000002')
    // The peer moves to another MAC: a broadcast request it sends to anyone updates our entry.
    agent.handle(arp(1, '02:74:6c:00:00:99', '198.18.0.2', '00:00:00:00:00:00', '198.18.0.1'))
    expect(toHex(agent.lookup('198.18.0.2')!)).toBe('02746c000099')
    expect(agent.stats()).toEqual({ requestsAnswered: 0, requestsSent: 0, learned: 2, ignored: 1 })
  })

  it('answers an RFC 5227 probe (sender 0.0.0.0) without learning from it', () => {
    const { sent, agent } = arpAgent()
    agent.handle(arp(1, PEER_MAC, '0.0.0.0', '00:00:00:00:00:00', '198.18.0.10'))
    expect(sent.length).toBe(1)
    expect(sent[0].slice(0, 12)).toBe('02746c000002')
    expect(sent[0].slice(64, 84)).toBe('02746c00000200000000') // target: the prober, 0.0.0.0
    expect(agent.cache.size).toBe(0)
  })

  it('ignores malformed packets, other hardware types and its own echo, without throwing', () => {
    const { sent, agent } = arpAgent()
    agent.handle(new Uint8Array(10))
    const tokenRing = arp(1, PEER_MAC, '198.18.0.2', '00:00:00:00:00:00', '198.18.0.10')
    tokenRing[1] = 6
    agent.handle(tokenRing)
    agent.handle(arp(1, OUR_MAC, '198.18.0.10', '00:00:00:00:00:00', '198.18.0.10'))
    expect(sent).toEqual([])
    expect(agent.stats().ignored).toBe(3)
  })

  it('resolves by broadcasting requests once a second, sharing one resolution between callers', async () => {
    const { t, sent, agent } = arpAgent()
    const p1 = agent.resolve('198.18.0.2')
    const p2 = agent.resolve('198.18.0.2')
    expect(sent).toEqual([
      toHex(
        hex(`
          ffffffffffff 02746c00000a 0806      # broadcast, from us, ARP
          0001 0800 06 04 0001                # request
          02746c00000a c612000a               # sender: us
          000000000000 c6120002               # target: unknown MAC, 198.18.0.2
          000000000000000000000000000000000000
        `),
      ),
    ])
    t.advance(999)
    expect(sent.length).toBe(1)
    t.advance(1)
    expect(sent.length).toBe(2)
    agent.handle(arp(2, PEER_MAC, '198.18.0.2', OUR_MAC, '198.18.0.10'))
    expect(toHex(await p1)).toBe('02746c000002')
    expect(toHex(await p2)).toBe('02746c000002')
    t.advance(5000)
    expect(sent.length).toBe(2)
    expect(agent.stats()).toEqual({ requestsAnswered: 0, requestsSent: 2, learned: 1, ignored: 0 })
  })

  it('gives up after maxTries with DEV_ERR_UNRESOLVED', async () => {
    const { t, sent, agent } = arpAgent({ maxTries: 3, retryMs: 500 })
    const p = agent.resolve('198.18.0.3')
    const result = p.catch((e: unknown) => e)
    t.advance(1499)
    expect(sent.length).toBe(3)
    t.advance(1)
    const e = await result
    expect(isWireError(e, 'DEV_ERR_UNRESOLVED')).toBe(true)
    expect((e as Error).message).toBe('no answer from 198.18.0.3 after 3 solicitations')
  })

  it('forgets entries after the TTL and keeps at most maxEntries', () => {
    const { t, agent } = arpAgent({ ttlMs: 1000, maxEntries: 2 })
    agent.handle(arp(1, PEER_MAC, '198.18.0.2', '00:00:00:00:00:00', '198.18.0.10'))
    t.advance(999)
    expect(agent.lookup('198.18.0.2')).toBeDefined()
    t.advance(1)
    expect(agent.lookup('198.18.0.2')).toBeUndefined()
    for (const n of [3, 4, 5]) agent.handle(arp(1, PEER_MAC, `198.18.0.${n}`, '00:00:00:00:00:00', '198.18.0.10'))
    expect(agent.cache.size).toBe(2)
    expect(agent.lookup('198.18.0.3')).toBeUndefined()
    expect(agent.lookup('198.18.0.5')).toBeDefined()
  })
})

/** An NS or NA inside an Ethernet frame, from annotated parts. */
const ndFrame = (ethDst: string, ethSrc: string, hopLimit: string, src: string, dst: string, icmp: string): Uint8Array => {
  const len = hex(icmp).length.toString(16).padStart(4, '0')
  return hex(`${ethDst} ${ethSrc} 86dd  60000000 ${len} 3a ${hopLimit} ${toHex(parseIp(src))} ${toHex(parseIp(dst))} ${icmp}`)
}

function ndpAgent() {
  const t = new FakeTimers()
  const sent: string[] = []
  const agent = new NdpAgent({ mac: OUR_MAC, ipv6: '2001:2::10', send: (f) => sent.push(toHex(f)), now: () => t.now, timers: t })
  return { t, sent, agent }
}

const handleFrame = (agent: NdpAgent, f: Uint8Array): boolean => {
  const eth = parseEthernet(f)
  return agent.handle(eth, parseIpv6(eth.payload))
}

// The peer's NS for 2001:2::10, to its solicited-node group, with its link-layer address.
const PEER_NS = ndFrame(
  '3333ff000010',
  '02746c000002',
  'ff',
  '2001:2::2',
  'ff02::1:ff00:10',
  '87 00 cb00 00000000  20010002000000000000000000000010  01 01 02746c000002',
)

describe('NdpAgent (RFC 4861)', () => {
  it('computes solicited-node groups and their multicast MACs', () => {
    const g = solicitedNode(parseIp('2001:2::1:2345:6789'))
    expect(toHex(g)).toBe('ff0200000000000000000001ff456789')
    expect(toHex(multicastMac(g))).toBe('3333ff456789')
  })

  it('answers a solicitation for the lab-owned address with a solicited, override advertisement', () => {
    const { sent, agent } = ndpAgent()
    expect(handleFrame(agent, PEER_NS)).toBe(true)
    expect(sent).toEqual([
      toHex(
        hex(`
          02746c000002 02746c00000a 86dd                # to the solicitor, from us, IPv6
          60000000 0020 3a ff                          # payload 32, ICMPv6, hop limit 255
          20010002000000000000000000000010             # from 2001:2::10
          20010002000000000000000000000002             # to 2001:2::2
          88 00 46fa                                   # neighbor advertisement, checksum
          60 000000                                    # S and O flags
          20010002000000000000000000000010             # target 2001:2::10
          02 01 02746c00000a                           # target link-layer address: our MAC
        `),
      ),
    ])
    expect(toHex(agent.lookup('2001:2::2')!)).toBe('02746c000002')
    expect(agent.stats()).toEqual({ solicitationsAnswered: 1, solicitationsSent: 0, learned: 1, ignored: 0 })
  })

  it('answers duplicate address detection (source ::) to all-nodes, unsolicited', () => {
    const { sent, agent } = ndpAgent()
    const dad = hex(
      `3333ff000010 02746c000002 86dd 60000000 0018 3a ff ${'00'.repeat(16)} ${toHex(parseIp('ff02::1:ff00:10'))}
       87 00 5a85 00000000 20010002000000000000000000000010`,
    )
    expect(handleFrame(agent, dad)).toBe(true)
    expect(sent.length).toBe(1)
    expect(sent[0].slice(0, 12)).toBe('333300000001')
    expect(sent[0].slice(76, 108)).toBe('ff020000000000000000000000000001')
    expect(sent[0].slice(108, 124)).toBe('8800a7fb20000000')
    expect(agent.cache.size).toBe(0)
  })

  it('drops solicitations that fail validation: hop limit, checksum, foreign target', () => {
    const { sent, agent } = ndpAgent()
    const hop64 = PEER_NS.slice()
    hop64[21] = 64
    const badSum = PEER_NS.slice()
    badSum[57] ^= 1
    const other = ndFrame(
      '3333ff000002', '02746c000002', 'ff', '2001:2::2', 'ff02::1:ff00:2',
      '87 00 0000 00000000 20010002000000000000000000000002 01 01 02746c000002',
    )
    const zeroLenOption = PEER_NS.slice()
    zeroLenOption[79] = 0
    for (const f of [hop64, badSum, other, zeroLenOption]) expect(handleFrame(agent, f)).toBe(true)
    expect(sent).toEqual([])
    expect(agent.stats().ignored).toBe(4)
    // Not NDP at all: an echo request is left for someone else.
    const echo = ndFrame('02746c00000a', '02746c000002', '40', '2001:2::2', '2001:2::10', '80 00 0000 00000000')
    expect(handleFrame(agent, echo)).toBe(false)
  })

  it('resolves a peer with a solicitation to its solicited-node group', async () => {
    const { t, sent, agent } = ndpAgent()
    const p = agent.resolve('2001:2::2')
    expect(sent).toEqual([
      toHex(
        hex(`
          3333ff000002 02746c00000a 86dd
          60000000 0020 3a ff
          20010002000000000000000000000010             # from us
          ff0200000000000000000001ff000002             # to ff02::1:ff00:2
          87 00 cb06 00000000                          # neighbor solicitation
          20010002000000000000000000000002             # target
          01 01 02746c00000a                           # source link-layer address
        `),
      ),
    ])
    t.advance(1000)
    expect(sent.length).toBe(2)
    const na = ndFrame(
      '02746c00000a', '02746c000002', 'ff', '2001:2::2', '2001:2::10',
      '88 00 4710 60000000 20010002000000000000000000000002 02 01 02746c000002',
    )
    expect(handleFrame(agent, na)).toBe(true)
    expect(toHex(await p)).toBe('02746c000002')
  })
})

const empty = new Uint8Array(0)
const tcpPacket = (src: string, dst: string, payload = empty): Uint8Array =>
  buildTcpPacket(
    { src: parseIp(src), dst: parseIp(dst) },
    { srcPort: 40000, dstPort: 5000, seq: 1 as Seq, ack: 0 as Seq, flags: TcpFlags.SYN, window: 1000, urgent: 0, options: [], payload },
  )

describe('ipOverEthernet', () => {
  function twoStacks(opts: { maxQueued?: number; maxPending?: number } = {}) {
    const t = new FakeTimers()
    const [ea, eb] = memoryPair({ medium: 'ethernet' })
    const common = { now: () => t.now, timers: t, ...opts }
    const a = ipOverEthernet(ea, { mac: OUR_MAC, ipv4: '198.18.0.10', ipv6: '2001:2::10', ...common })
    const b = ipOverEthernet(eb, { mac: PEER_MAC, ipv4: '198.18.0.2', ipv6: '2001:2::2', ...common })
    const atA: string[] = []
    const atB: string[] = []
    a.onReceive((p) => atA.push(toHex(p)))
    b.onReceive((p) => atB.push(toHex(p)))
    return { t, a, b, ea, eb, atA, atB }
  }

  it('resolves the next hop by ARP, then delivers IPv4 packets both ways, in order', async () => {
    const { a, b, atA, atB } = twoStacks()
    const p1 = tcpPacket('198.18.0.10', '198.18.0.2', new Uint8Array([1]))
    const p2 = tcpPacket('198.18.0.10', '198.18.0.2', new Uint8Array([2]))
    a.send(p1)
    a.send(p2)
    await settle()
    expect(atB).toEqual([toHex(p1), toHex(p2)])
    // B learned A from A's request: no ARP needed for the answer.
    const back = tcpPacket('198.18.0.2', '198.18.0.10')
    b.send(back)
    await settle()
    expect(atA).toEqual([toHex(back)])
    expect(a.arp!.stats()).toEqual({ requestsAnswered: 0, requestsSent: 1, learned: 1, ignored: 0 })
    expect(b.arp!.stats()).toEqual({ requestsAnswered: 1, requestsSent: 0, learned: 1, ignored: 0 })
    expect(a.stats()).toMatchObject({ sent: 2, received: 1, unresolved: 0 })
  })

  it('resolves by neighbor discovery for IPv6 and delivers the packet', async () => {
    const { a, b, atB } = twoStacks()
    const p = tcpPacket('2001:2::10', '2001:2::2', new Uint8Array([9, 9]))
    a.send(p)
    await settle()
    expect(atB).toEqual([toHex(p)])
    expect(a.ndp!.stats().solicitationsSent).toBe(1)
    expect(b.ndp!.stats().solicitationsAnswered).toBe(1)
  })

  it('delivers only packets for its own addresses, trimmed of Ethernet padding', async () => {
    const { a, ea, eb, atA } = twoStacks()
    const small = tcpPacket('198.18.0.2', '198.18.0.10')
    const frame = (dstMac: string, pkt: Uint8Array, type = '0800'): Uint8Array =>
      hex(`${dstMac.replaceAll(':', '')} 02746c000002 ${type} ${toHex(pkt)} 000000000000`)
    eb.send(frame(OUR_MAC, small))
    eb.send(frame('02:74:6c:00:00:77', small)) // another station's MAC
    eb.send(frame(OUR_MAC, tcpPacket('198.18.0.2', '198.18.0.11'))) // another IP
    eb.send(frame(OUR_MAC, small, '88cc')) // LLDP
    eb.send(hex('02746c00000a 02746c'))
    await settle()
    expect(atA).toEqual([toHex(small)])
    expect(a.stats()).toMatchObject({ received: 1, malformed: 1, foreign: 3 })
    void ea
  })

  it('drops what it cannot resolve, and what overflows the queue, counting both', async () => {
    const { t, a, atB } = twoStacks({ maxQueued: 2 })
    for (let i = 0; i < 3; i++) a.send(tcpPacket('198.18.0.10', '198.18.0.99'))
    expect(a.stats().unresolved).toBe(1)
    t.advance(3000)
    await settle()
    expect(a.stats().unresolved).toBe(3)
    expect(atB).toEqual([])
  })

  it('reuses the last next hop\'s MAC for at most a second, then asks the neighbor cache again', async () => {
    const { t, a, ea, eb } = twoStacks()
    const dsts: string[] = []
    const send = ea.send.bind(ea)
    ea.send = (f: Uint8Array) => {
      if (f[12] === 0x08 && f[13] === 0x00) dsts.push(toHex(f.subarray(0, 6)))
      send(f)
    }
    a.send(tcpPacket('198.18.0.10', '198.18.0.2')) // resolved by ARP
    await settle()
    a.send(tcpPacket('198.18.0.10', '198.18.0.2')) // from the cache, remembered
    // The peer moves to another MAC and says so (an IPv4 packet unicast to us teaches its sender's MAC).
    eb.send(hex(`02746c00000a 02746c000099 0800 ${toHex(tcpPacket('198.18.0.2', '198.18.0.10'))}`))
    await settle()
    a.send(tcpPacket('198.18.0.10', '198.18.0.2'))
    t.advance(999)
    a.send(tcpPacket('198.18.0.10', '198.18.0.2'))
    t.advance(1)
    a.send(tcpPacket('198.18.0.10', '198.18.0.2'))
    expect(dsts).toEqual(['02746c000002', '02746c000002', '02746c000002', '02746c000002', '02746c000099'])
  })

  it('bounds resolutions under way: past maxPending a new next hop is dropped at once, without a solicitation', async () => {
    const { t, a, ea } = twoStacks({ maxPending: 3 })
    const solicits: string[] = []
    const send = ea.send.bind(ea)
    ea.send = (f: Uint8Array) => {
      if (f[12] === 0x08 && f[13] === 0x06) solicits.push(formatIp(f.subarray(38, 42)))
      send(f)
    }
    for (let i = 0; i < 5; i++) a.send(tcpPacket('198.18.0.10', `198.18.0.${100 + i}`))
    a.send(tcpPacket('198.18.0.10', '198.18.0.101')) // joins the pending resolution of .101
    expect(solicits).toEqual(['198.18.0.100', '198.18.0.101', '198.18.0.102'])
    expect(a.stats().unresolved).toBe(2)
    t.advance(3000)
    await settle()
    expect(a.stats().unresolved).toBe(6)
    expect(a.arp!.pendingCount).toBe(0)
    // The slots are free again.
    a.send(tcpPacket('198.18.0.10', '198.18.0.104'))
    expect(solicits.at(-1)).toBe('198.18.0.104')
    expect(a.arp!.pendingCount).toBe(1)
  })

  it('the NeighborCache itself refuses a resolution past maxPending with DEV_ERR_UNRESOLVED', async () => {
    const t = new FakeTimers()
    const asked: string[] = []
    const cache = new NeighborCache((ip) => asked.push(ip), { timers: t, now: () => t.now, maxPending: 1 })
    const first = cache.resolve('198.18.0.7')
    const again = cache.resolve('198.18.0.7')
    await expect(cache.resolve('198.18.0.8')).rejects.toMatchObject({ code: 'DEV_ERR_UNRESOLVED', message: 'not resolving 198.18.0.8: 1 resolutions already pending' })
    cache.learn('198.18.0.7', hex('02746c000007'))
    expect(toHex(await first)).toBe('02746c000007')
    expect(toHex(await again)).toBe('02746c000007')
    expect(asked).toEqual(['198.18.0.7'])
    expect(cache.pendingCount).toBe(0)
  })

  it('learns the sender of an IPv4 packet unicast to it, so the answer needs no ARP (a spoofed flood leaves nothing pending)', async () => {
    const { a, ea, eb, atA, atB } = twoStacks()
    const frames: string[] = []
    const send = ea.send.bind(ea)
    ea.send = (f: Uint8Array) => {
      frames.push(toHex(f.subarray(12, 14)))
      send(f)
    }
    const syn = (src: string): Uint8Array => hex(`02746c00000a 02746c000002 0800 ${toHex(tcpPacket(src, '198.18.0.10'))}`)
    for (let i = 0; i < 50; i++) eb.send(syn(`198.18.0.${100 + i}`))
    eb.send(syn('198.18.0.149')) // the same sender again: nothing new to learn
    // Broadcast IP traffic teaches nothing.
    eb.send(hex(`ffffffffffff 02746c000002 0800 ${toHex(tcpPacket('198.18.0.77', '198.18.0.10'))}`))
    await settle()
    expect(atA).toHaveLength(52)
    expect(a.arp!.stats().learned).toBe(50)
    for (let i = 0; i < 50; i++) a.send(tcpPacket('198.18.0.10', `198.18.0.${100 + i}`))
    a.send(tcpPacket('198.18.0.10', '198.18.0.77'))
    await settle()
    expect(frames.filter((x) => x === '0806')).toHaveLength(1) // only .77 needed ARP
    expect(a.arp!.pendingCount).toBe(1)
    expect(a.stats()).toMatchObject({ sent: 50, unresolved: 0 })
    void atB
  })
})

// ---------------------------------------------------------------------------------------------------
// Issue 12: a SYN flood from spoofed sources, as the neighbour cache and ipOverEthernet see it.

/** A unicast MAC numbered n (02:74:6c:01:hi:lo). */
const macOf = (n: number): Uint8Array => hex(`02746c01 ${(n >> 8).toString(16).padStart(2, '0')} ${(n & 0xff).toString(16).padStart(2, '0')}`)
/** Spoofed source number i, spread over 198.19.0.0/16 (another benchmarking block nobody in the lab holds). */
const spoofed = (i: number): string => `198.19.${(i >> 8) & 0xff}.${i & 0xff}`

describe('NeighborCache: what a flood from spoofed sources can and cannot push out', () => {
  function cache(opts: { maxEntries?: number; maxPending?: number } = {}) {
    const t = new FakeTimers()
    const asked: string[] = []
    const c = new NeighborCache((ip) => asked.push(ip), { timers: t, now: () => t.now, ...opts })
    return { t, c, asked }
  }

  it('evicts entries only seen as IP sources, least recently used first, before any confirmed by ARP or NDP', () => {
    const { c } = cache({ maxEntries: 4 })
    c.learn('198.18.0.2', macOf(2))
    c.learn('198.18.0.3', macOf(3))
    for (let i = 0; i < 1000; i++) c.learn(spoofed(i), macOf(i), 'seen')
    expect(c.stats()).toEqual({ entries: 4, confirmed: 2, pending: 0, evicted: 998, refused: 0, failed: 0 })
    expect(toHex(c.lookup('198.18.0.2')!)).toBe('02746c010002')
    expect(toHex(c.lookup('198.18.0.3')!)).toBe('02746c010003')
    expect(c.lookup(spoofed(997))).toBeUndefined()
    expect([spoofed(998), spoofed(999)].map((ip) => c.evidence(ip))).toEqual(['seen', 'seen'])
    // A hit makes an entry the most recently used: 998 is looked up, so 999 goes next.
    c.lookup(spoofed(998))
    c.learn(spoofed(1000), macOf(1000), 'seen')
    expect([spoofed(998), spoofed(999), spoofed(1000)].map((ip) => c.evidence(ip))).toEqual(['seen', undefined, 'seen'])
  })

  it('with no entry only seen left, evicts the least recently used confirmed one', () => {
    const { c } = cache({ maxEntries: 2 })
    c.learn('198.18.0.2', macOf(2))
    c.learn('198.18.0.3', macOf(3))
    c.lookup('198.18.0.2')
    c.learn('198.18.0.4', macOf(4))
    expect(['198.18.0.2', '198.18.0.3', '198.18.0.4'].map((ip) => c.evidence(ip))).toEqual(['confirmed', undefined, 'confirmed'])
    expect(c.stats().evicted).toBe(1)
  })

  it("a sighting of a confirmed entry's own MAC keeps it confirmed; another MAC replaces it, only as seen", () => {
    const { c } = cache()
    c.learn('198.18.0.2', macOf(2))
    c.learn('198.18.0.2', macOf(2), 'seen')
    expect(c.evidence('198.18.0.2')).toBe('confirmed')
    c.learn('198.18.0.2', macOf(9), 'seen')
    expect(c.evidence('198.18.0.2')).toBe('seen')
    expect(toHex(c.lookup('198.18.0.2')!)).toBe('02746c010009')
    // ARP confirms it again.
    c.learn('198.18.0.2', macOf(9))
    expect(c.evidence('198.18.0.2')).toBe('confirmed')
    expect(c.size).toBe(1)
  })

  it('resolutions nobody answers push out no known entry: past maxPending they are refused at once, and they come and go', async () => {
    const { t, c, asked } = cache({ maxEntries: 2, maxPending: 3 })
    c.learn('198.18.0.2', macOf(2))
    const codes: string[] = []
    for (let i = 0; i < 10; i++) c.resolve(spoofed(i)).catch((e: { code: string }) => codes.push(e.code))
    await settle()
    expect(asked).toEqual([spoofed(0), spoofed(1), spoofed(2)])
    expect(codes).toEqual(Array(7).fill('DEV_ERR_UNRESOLVED'))
    expect(c.stats()).toEqual({ entries: 1, confirmed: 1, pending: 3, evicted: 0, refused: 7, failed: 0 })
    t.advance(3000)
    await settle()
    expect(codes).toHaveLength(10)
    expect(c.stats()).toEqual({ entries: 1, confirmed: 1, pending: 0, evicted: 0, refused: 7, failed: 3 })
    expect(toHex(c.lookup('198.18.0.2')!)).toBe('02746c010002')
    // The slots are free again for the next ones.
    void c.resolve(spoofed(10)).catch(() => {})
    expect(asked.at(-1)).toBe(spoofed(10))
    c.clear()
  })
})

describe('ipOverEthernet under a SYN flood from spoofed sources (issue 12)', () => {
  function stacks(opts: { maxQueued?: number; maxQueuedTotal?: number } = {}) {
    const t = new FakeTimers()
    const [ea, eb] = memoryPair({ medium: 'ethernet' })
    const common = { now: () => t.now, timers: t }
    const a = ipOverEthernet(ea, { mac: OUR_MAC, ipv4: '198.18.0.10', ipv6: '2001:2::10', ...common, ...opts })
    const b = ipOverEthernet(eb, { mac: PEER_MAC, ipv4: '198.18.0.2', ipv6: '2001:2::2', ...common })
    const atA: string[] = []
    a.onReceive((p) => atA.push(toHex(p)))
    b.onReceive(() => {})
    // What A puts on the wire: [destination MAC, EtherType], in order, as it happens.
    const wire: Array<[string, string]> = []
    const send = ea.send.bind(ea)
    ea.send = (f: Uint8Array) => {
      wire.push([toHex(f.subarray(0, 6)), toHex(f.subarray(12, 14))])
      send(f)
    }
    return { t, a, ea, eb, atA, wire }
  }

  it('20,000 SYNs from 20,000 sources fill the cache with entries only seen, and the client resolved by ARP stays', async () => {
    const { a, eb, atA, wire } = stacks()
    a.send(tcpPacket('198.18.0.10', '198.18.0.2')) // resolves the client by ARP
    await settle()
    expect(wire).toEqual([['ffffffffffff', '0806'], ['02746c000002', '0800']])
    for (let i = 0; i < 20_000; i++) eb.send(hex(`02746c00000a 02746c000002 0800 ${toHex(tcpPacket(spoofed(i), '198.18.0.10'))}`))
    await settle()
    expect(atA).toHaveLength(20_000)
    const cache = a.arp!.cache
    expect(cache.stats()).toEqual({ entries: 1024, confirmed: 1, pending: 0, evicted: 20_000 - 1023, refused: 0, failed: 0 })
    expect(cache.evidence('198.18.0.2')).toBe('confirmed')
    // The answer to the latest spoofed SYN and to the client need no ARP.
    wire.length = 0
    a.send(tcpPacket('198.18.0.10', spoofed(19_999)))
    a.send(tcpPacket('198.18.0.10', '198.18.0.2'))
    expect(wire).toEqual([['02746c000002', '0800'], ['02746c000002', '0800']])
  })

  it('SYN+ACKs to next hops nobody answers for never hold up a frame to a known neighbour, and what waits is bounded', async () => {
    const { t, a, wire } = stacks()
    a.send(tcpPacket('198.18.0.10', '198.18.0.2'))
    await settle()
    wire.length = 0
    let next = 0
    for (let round = 0; round < 20; round++) {
      // A thousand SYN+ACKs (cookies, or retransmissions whose entry is gone) to sources nobody answers for…
      for (let k = 0; k < 1000; k++) a.send(tcpPacket('198.18.0.10', spoofed(next++)))
      expect(a.arp!.pendingCount).toBeLessThanOrEqual(256)
      // …and the client's next segment leaves at once, to its MAC, as the very next frame.
      const before = wire.length
      a.send(tcpPacket('198.18.0.10', '198.18.0.2', new Uint8Array([round])))
      expect(wire.slice(before)).toEqual([['02746c000002', '0800']])
      t.advance(1000) // past the next-hop memo: the next one comes from the cache
      await settle()
    }
    t.advance(3000)
    await settle()
    // Nothing to a spoofed source ever left; every one of them counted; the client's 20 segments all went.
    expect(wire.filter(([, type]) => type === '0800')).toHaveLength(20)
    expect(wire.every(([dst, type]) => (type === '0806' ? dst === 'ffffffffffff' : dst === '02746c000002'))).toBe(true)
    expect(a.stats()).toMatchObject({ sent: 21, unresolved: 20_000 })
    expect(a.arp!.cache.stats()).toMatchObject({ entries: 1, confirmed: 1, pending: 0 })
    // ARP requests: at most one a second per address, three per address, and never more under way than maxPending.
    const requests = wire.filter(([, type]) => type === '0806').length
    expect(requests).toBe(3 * a.arp!.cache.stats().failed)
  })

  it('bounds the packets waiting for all next hops together (maxQueuedTotal)', async () => {
    const { t, a } = stacks({ maxQueued: 32, maxQueuedTotal: 5 })
    for (const n of [1, 2, 3]) for (let k = 0; k < 3; k++) a.send(tcpPacket('198.18.0.10', `198.18.1.${n}`))
    expect(a.stats().unresolved).toBe(4)
    t.advance(3000)
    await settle()
    expect(a.stats().unresolved).toBe(9)
    // Room again once those resolutions ended.
    for (let k = 0; k < 5; k++) a.send(tcpPacket('198.18.0.10', '198.18.1.4'))
    expect(a.stats().unresolved).toBe(9)
  })

  it('learns the sender of an IPv6 packet unicast to it too, so the answer needs no neighbor solicitation', async () => {
    const { a, eb, atA, wire } = stacks()
    const syn6 = (src: string): Uint8Array => hex(`02746c00000a 02746c000002 86dd ${toHex(tcpPacket(src, '2001:2::10'))}`)
    for (let i = 0; i < 50; i++) eb.send(syn6(`2001:2::${(0x100 + i).toString(16)}`))
    eb.send(syn6('2001:2::131')) // the last sender again
    // Multicast link destinations and unspecified sources teach nothing.
    eb.send(hex(`333300000001 02746c000002 86dd ${toHex(tcpPacket('2001:2::77', '2001:2::10'))}`))
    eb.send(hex(`02746c00000a 02746c000002 86dd ${toHex(tcpPacket('::', '2001:2::10'))}`))
    await settle()
    expect(atA).toHaveLength(53)
    expect(a.ndp!.stats().learned).toBe(50)
    expect(a.ndp!.cache.evidence('2001:2::100')).toBe('seen')
    for (let i = 0; i < 50; i++) a.send(tcpPacket('2001:2::10', `2001:2::${(0x100 + i).toString(16)}`))
    expect(wire).toEqual(Array(50).fill(['02746c000002', '86dd']))
    expect(a.ndp!.stats().solicitationsSent).toBe(0)
  })
})

// ---------------------------------------------------------------------------------------------------
// The capture device over a stand-in `cap` addon.

class FakeCap extends EventEmitter {
  static opened: { iface: string; filter: string; bufSize: number }[] = []
  static openError: Error | undefined
  static linkType = 'ETHERNET'
  buffer: Uint8Array = new Uint8Array(0)
  sent: string[] = []
  sendError: Error | undefined
  closed = 0
  open(iface: string, filter: string, bufSize: number, buffer: Uint8Array): string {
    if (FakeCap.openError) throw FakeCap.openError
    FakeCap.opened.push({ iface, filter, bufSize })
    this.buffer = buffer
    FakeCap.last = this
    return FakeCap.linkType
  }
  static last: FakeCap
  send(b: Uint8Array, n: number): void {
    if (this.sendError) throw this.sendError
    this.sent.push(toHex(b.subarray(0, n)))
  }
  close(): void {
    this.closed++
  }
  /** libpcap writes each frame into the one shared buffer, then emits. */
  capture(frame: Uint8Array, truncated = false): void {
    this.buffer.set(frame)
    this.emit('packet', frame.length, truncated)
  }
}
const fakeCap = { Cap: FakeCap } as unknown as CapModule

describe('capture buffer size (libpcap reserves 64 KB a frame where offloads allow super-segments)', () => {
  it('4 MB where no size offload is on, 512 slots of 64 KiB where one is or nobody can tell', () => {
    expect(CAPTURE_BUFFER_SMALL_FRAMES).toBe(4 * 1024 * 1024)
    expect(CAPTURE_BUFFER_SUPER_FRAMES).toBe(CAPTURE_RING_FRAMES * 65536)
    expect(CAPTURE_RING_FRAMES).toBe(512)
    const seen: string[] = []
    const probe = (bits: number) => (ifname: string): number => (seen.push(ifname), bits)
    expect(captureBufferSize('veth0', probe(0))).toBe(CAPTURE_BUFFER_SMALL_FRAMES)
    for (const bits of [1, 2, 4, 8, 16, 13]) expect(captureBufferSize('veth0', probe(bits))).toBe(CAPTURE_BUFFER_SUPER_FRAMES)
    expect(captureBufferSize('gone0', probe(-19))).toBe(CAPTURE_BUFFER_SUPER_FRAMES)
    expect(captureBufferSize('veth0', () => { throw new Error('no addon') })).toBe(CAPTURE_BUFFER_SUPER_FRAMES)
    expect(seen).toEqual(Array(8).fill('veth0').map((n, i) => (i === 7 ? 'gone0' : n)))
  })

  it("the addon reads the kernel's own answer: loopback has TSO, GSO and GRO on; a missing interface is ENODEV", () => {
    let tx
    try {
      tx = loadPacketTx()
    } catch (e) {
      // The addon is optional; where it did not build, captureBufferSize takes the safe side (above).
      expect(isWireError(e, 'DEV_ERR_NO_PACKET_TX')).toBe(true)
      return
    }
    expect(tx.offloads!('lo') & (1 | 4)).toBe(1 | 4)
    expect(tx.offloads!('tcplabnoif0')).toBe(-19)
    expect(captureBufferSize('lo')).toBe(CAPTURE_BUFFER_SUPER_FRAMES)
  })
})

describe('capture device over a stand-in cap', () => {
  it('opens the interface with a filter for our MAC and copies each frame out of the shared buffer', () => {
    FakeCap.openError = undefined
    FakeCap.linkType = 'ETHERNET'
    const dev = openCapDevice({ iface: 'tlx', mac: '02:74:6C:00:00:0A', cap: fakeCap })
    expect(FakeCap.opened.at(-1)).toEqual({
      iface: 'tlx',
      filter: '(ether dst 02:74:6c:00:00:0a or ether broadcast or ether multicast) and not ether src 02:74:6c:00:00:0a',
      // No interface 'tlx' here: the addon cannot tell its offloads, so the buffer for super-frames.
      bufSize: CAPTURE_BUFFER_SUPER_FRAMES,
    })
    expect(dev.filter).toBe(defaultCapFilter(OUR_MAC))
    const got: Uint8Array[] = []
    dev.onReceive((f) => got.push(f))
    const f1 = hex('02746c00000a 02746c000002 0800 45')
    const f2 = hex('ffffffffffff 02746c000002 0806 0001')
    FakeCap.last.capture(f1)
    FakeCap.last.capture(f2)
    FakeCap.last.capture(hex('02746c00000a'))
    FakeCap.last.capture(f1, true)
    expect(got.map(toHex)).toEqual([toHex(f1), toHex(f2)])
    expect(dev.receive).toBe('libpcap')
    expect(dev.stats()).toEqual({
      sent: 0, received: 2, dropped: 2, sendErrors: 0, malformed: 1, truncated: 1, queued: 0, gsoFrames: 0, gsoSegments: 0,
      csumPartial: 0, csumValid: 0, kernelDropped: 0,
    })
    dev.send(f2)
    expect(FakeCap.last.sent).toEqual([toHex(f2)])
    dev.close()
    dev.close()
    expect(FakeCap.last.closed).toBe(1)
    expect(isWireError((() => { try { dev.send(f2) } catch (e) { return e } })(), 'DEV_ERR_CLOSED')).toBe(true)
  })

  it('takes 64 KB super-segments whole; a frame cut short (by cap, or by libpcap at its snapshot length) is counted as truncated and never delivered', () => {
    FakeCap.openError = undefined
    const dev = openCapDevice({ iface: 'tlx', mac: OUR_MAC, cap: fakeCap })
    const cap = FakeCap.last
    expect(cap.buffer.length).toBe(256 * 1024)
    const got: number[] = []
    dev.onReceive((f) => got.push(f.length))
    const eth = hex('02746c00000a 02746c000002')
    /** An Ethernet frame (optionally VLAN-tagged) around an IP header that claims `ipLen` bytes, captured to `caplen`. */
    const frame = (version: 4 | 6, ipLen: number, caplen: number, vlan = false): Uint8Array => {
      const f = new Uint8Array(caplen)
      f.set(eth)
      let o = 12
      if (vlan) {
        f.set([0x81, 0x00, 0x00, 0x05], o) // 802.1Q, VLAN 5
        o += 4
      }
      f.set(version === 4 ? [0x08, 0x00] : [0x86, 0xdd], o)
      const ip = o + 2
      if (version === 4) f.set([0x45, 0, ipLen >> 8, ipLen & 0xff], ip)
      else f.set([0x60, 0, 0, 0, (ipLen - 40) >> 8, (ipLen - 40) & 0xff], ip)
      return f
    }
    cap.capture(frame(4, 65000, 14 + 65000)) // a GRO super-segment, whole
    cap.capture(frame(6, 63000, 14 + 63000)) // IPv6, whole
    cap.capture(frame(4, 65000, 18 + 65000, true)) // VLAN-tagged, whole
    cap.capture(frame(4, 65521, 65535)) // exactly the snapshot length, and whole
    cap.capture(frame(4, 40, 60)) // a small segment with Ethernet padding
    cap.capture(frame(4, 1500, 100)) // says 1500, has 86: not cut by the capture, so the IP layer judges it
    expect(got).toEqual([65014, 63014, 65018, 65535, 60, 100])
    cap.capture(frame(4, 65535, 65535)) // 65549 bytes on the wire: libpcap kept the first 65535
    cap.capture(frame(6, 65535, 65535)) // the same in IPv6
    cap.capture(frame(4, 65535, 65535, true)) // and behind a VLAN tag
    cap.capture(frame(4, 0, 65535)) // IPv4 length 0 (a super-segment past 64 KB): cannot be whole
    cap.capture(frame(4, 1500, 1514), true) // cap: longer than its buffer
    expect(got).toHaveLength(6)
    expect(dev.stats()).toMatchObject({ received: 6, truncated: 5, malformed: 0, dropped: 5 })
    dev.close()
  })

  it('reports send failures to the error handler', async () => {
    FakeCap.openError = undefined
    const dev = openCapDevice({ iface: 'tlx', cap: fakeCap, filter: '' })
    const errors: string[] = []
    dev.onError((e) => errors.push(e.message))
    FakeCap.last.sendError = new Error('send: Network is down')
    dev.send(hex('02746c00000a 02746c000002 0800'))
    await Promise.resolve()
    expect(errors).toEqual(['send: Network is down'])
    expect(dev.stats().sendErrors).toBe(1)
  })

  it('queues frames the packet socket refuses for lack of buffer (EAGAIN) and sends them in order later', async () => {
    FakeCap.openError = undefined
    const dev = openCapDevice({ iface: 'tlx', cap: fakeCap, filter: '' })
    const errors: string[] = []
    dev.onError((e) => errors.push(e.message))
    const cap = FakeCap.last
    const frame = (i: number): Uint8Array => hex(`02746c00000a 02746c000002 0800 ${i.toString(16).padStart(2, '0')}`)
    dev.send(frame(1))
    cap.sendError = new Error('send: Resource temporarily unavailable')
    const scratch = frame(2)
    dev.send(scratch)
    scratch.fill(0xa5) // the caller reuses its buffer at once: the queue must hold a copy
    cap.sendError = undefined
    dev.send(frame(3)) // the socket has room again, but frame 2 waits: 3 must queue behind it
    expect(cap.sent).toEqual([toHex(frame(1))])
    expect(dev.stats()).toMatchObject({ sent: 1, queued: 2, sendErrors: 0 })
    await new Promise((r) => setImmediate(r))
    expect(cap.sent).toEqual([1, 2, 3].map((i) => toHex(frame(i))))
    expect(dev.stats()).toMatchObject({ sent: 3, queued: 2, sendErrors: 0, dropped: 0 })
    expect(errors).toEqual([])
    dev.close()
  })

  it('bounds the queue at 1000 frames (a default txqueuelen), dropping and counting the rest; close drops what still waits', async () => {
    FakeCap.openError = undefined
    const dev = openCapDevice({ iface: 'tlx', cap: fakeCap, filter: '' })
    const cap = FakeCap.last
    cap.sendError = new Error('send: No buffer space available')
    for (let i = 0; i < 1044; i++) dev.send(hex('02746c00000a 02746c000002 0800'))
    expect(dev.stats()).toMatchObject({ sent: 0, queued: 1000, sendErrors: 44, dropped: 0 })
    await new Promise((r) => setTimeout(r, 5)) // still refused: nothing moves, nothing is lost
    expect(dev.stats()).toMatchObject({ sent: 0, queued: 1000, sendErrors: 44 })
    dev.close()
    expect(dev.stats()).toMatchObject({ sent: 0, dropped: 1000 })
    cap.sendError = undefined
    await new Promise((r) => setTimeout(r, 5)) // no retry after close
    expect(cap.sent).toEqual([])
  })

  it('says in one line what is missing: privilege, interface, Ethernet', () => {
    const attempt = (): unknown => {
      try {
        openCapDevice({ iface: 'tlx', cap: fakeCap })
      } catch (e) {
        return e
      }
    }
    FakeCap.openError = new Error("tlx: You don't have permission to capture on that device (socket: Operation not permitted)")
    let e = attempt()
    expect(isWireError(e, 'DEV_ERR_PERMISSION')).toBe(true)
    expect((e as Error).message).toBe('the capture device needs root or CAP_NET_RAW (run with sudo, or setcap cap_net_raw+ep $(which node))')
    FakeCap.openError = new Error('tlx: No such device exists\n(SIOCGIFHWADDR: No such device)')
    e = attempt()
    expect(isWireError(e, 'DEV_ERR_IO')).toBe(true)
    expect((e as Error).message).toBe('cannot capture on tlx: tlx: No such device exists')
    FakeCap.openError = undefined
    FakeCap.linkType = 'LINUX_SLL'
    e = attempt()
    expect((e as Error).message).toBe('tlx is not an Ethernet interface (libpcap link type LINUX_SLL)')
    FakeCap.linkType = 'ETHERNET'
  })

  it('loadCap says what to install when the addon or libpcap is missing', () => {
    const notFound = Object.assign(new Error("Cannot find module 'cap'"), { code: 'MODULE_NOT_FOUND' })
    const load = (err: Error): unknown => {
      try {
        loadCap({ require: () => { throw err } })
      } catch (e) {
        return e
      }
    }
    let e = load(notFound)
    expect(isWireError(e, 'DEV_ERR_NO_CAP')).toBe(true)
    expect((e as Error).message).toBe(
      "the capture device needs the 'cap' addon, which needs libpcap: apt-get install libpcap-dev && npm install cap",
    )
    e = load(new Error('libpcap.so.0.8: cannot open shared object file: No such file or directory\nRequire stack: …'))
    expect((e as Error).message).toBe(
      "the capture device needs the 'cap' addon, which failed to load (libpcap.so.0.8: cannot open shared object file: No such file or directory): apt-get install libpcap-dev && npm rebuild cap",
    )
  })
})

describeRoot('capture device against the kernel in a lab (root)', () => {
  const PORT = 5000
  for (const family of [4, 6] as const) {
    const how = family === 4 ? 'ARP' : 'neighbor discovery'
    it(`IPv${family}: resolves the kernel by ${how}, gets its SYN+ACK, answers its ${how}, and the kernel never resets`, async () => {
      requireBuilt('dist/net/capdev.js', 'dist/net/packet.js')
      await withLab(async (lab) => {
        const table = await installRstCounters(lab)
        await kernelListener(lab, 'b', PORT)
        const src = family === 4 ? lab.a.owned.ipv4 : lab.a.owned.ipv6
        const dst = family === 4 ? lab.b.ipv4 : lab.b.ipv6
        const iss = 0xfffffff0
        const opts = { via: 'cap', iface: lab.a.iface, mac: lab.a.owned.mac, src, dst, sport: 40000, dport: PORT, iss }
        const child = lab.spawn('a', [process.execPath, repoPath('test/interop/syn-probe.mjs'), JSON.stringify(opts)], {
          stdio: ['pipe', 'pipe', 'pipe'],
        })
        const out = new LineReader(child)
        const sa = await out.json<Record<string, unknown>>('synack')
        expect(sa).toMatchObject({
          flags: TcpFlags.SYN | TcpFlags.ACK,
          ack: (iss + 1) >>> 0,
          srcPort: PORT,
          dstPort: 40000,
          checksumOk: true,
          peerMac: lab.b.mac,
        })
        // Side B saw one RST, ours; side A's kernel sent none at all (the frames were not for its MAC).
        expect(await until(() => nftCounters(lab, 'b', table), (c) => c.rst_in >= 1)).toEqual({ rst_in: 1 })
        expect(await nftCounters(lab, 'a', table)).toEqual({ kernel_rst_out: 0, kernel_rst_post: 0, own_rst_post: 0 })
        // Side B learned our MAC from our own request. Make it forget, and ask: the agent must answer.
        await lab.exec('b', ['ip', 'neigh', 'flush', 'to', src])
        const udp = family === 4 ? 'AF_INET' : 'AF_INET6'
        await lab.exec('b', ['python3', '-c', `import socket; socket.socket(socket.${udp}, socket.SOCK_DGRAM).sendto(b'x', ('${src}', 9))`])
        const neigh = await until(
          async () => (await lab.exec('b', ['ip', 'neigh', 'show', 'to', src])).stdout,
          (t) => t.includes('lladdr') || t.includes('FAILED'),
        )
        expect(neigh).toContain(`lladdr ${lab.a.owned.mac} REACHABLE`)
        child.stdin!.write('done\n')
        const stats = await out.json<{ agent: Record<string, number>; device: Record<string, number> }>('stats')
        if (family === 4) expect(stats.agent).toMatchObject({ requestsSent: 1, requestsAnswered: 1 })
        else expect(stats.agent).toMatchObject({ solicitationsSent: 1, solicitationsAnswered: 1 })
        expect(stats.device).toMatchObject({ sent: 2, sendErrors: 0, unresolved: 0 })
        expect(await exitOf(child)).toEqual({ code: 0, signal: null })
      })
    })
  }
})

describeRoot('capture device: a burst while the process is busy (root, namespace lab)', () => {
  // libpcap holds what arrives while tcplab is not reading. On a veth at the kernel's default offloads its
  // ring slots are 64 KB each: with the old fixed 4 MB buffer only 64 of these 1000 frames survived.
  const cases = [
    { offloads: 'off', frames: 1000, buffer: CAPTURE_BUFFER_SMALL_FRAMES },
    { offloads: 'on', frames: CAPTURE_RING_FRAMES - 12, buffer: CAPTURE_BUFFER_SUPER_FRAMES },
  ] as const
  for (const c of cases) {
    it(`veth offloads ${c.offloads}: ${c.frames} frames that arrive while the process is not reading all reach it (buffer ${c.buffer >> 20} MiB)`, async () => {
      requireBuilt('dist/net/capdev.js')
      await withLab(
        async (lab) => {
          const marker = join(tmpdir(), `tcplab-burst-${lab.id}`)
          const child = lab.spawn('a', [process.execPath, repoPath('test/net/capture-burst.mjs'), JSON.stringify({ iface: lab.a.iface, mac: lab.a.owned.mac, marker })], {
            stdio: ['pipe', 'pipe', 'pipe'],
          })
          try {
            const out = new LineReader(child)
            expect(await out.json('ready')).toEqual({ type: 'ready', bufferSize: c.buffer })
            child.stdin!.write('go\n')
            await out.json('stalled')
            // 1400-byte frames to our MAC from side B's packet socket, all sent before the child reads again.
            await lab.exec('b', ['python3', '-c', `
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('${lab.b.iface}', 0))
head = bytes.fromhex('${lab.a.owned.mac.replaceAll(':', '')}${lab.b.mac.replaceAll(':', '')}88b5')
for i in range(${c.frames}):
    s.send(head + i.to_bytes(4, 'big') + b'x' * 1396)
open('${marker}', 'w').close()
`])
            const r = await out.json<{ got: number; stats: Record<string, number> }>('got')
            expect(r.got).toBe(c.frames)
            expect({ dropped: r.stats.dropped, truncated: r.stats.truncated }).toEqual({ dropped: 0, truncated: 0 })
            expect(await exitOf(child)).toEqual({ code: 0, signal: null })
          } finally {
            rmSync(marker, { force: true })
          }
        },
        { offloads: c.offloads },
      )
    })
  }
})

describeRoot('capture device: failed opens as an unprivileged user (root, to drop it)', () => {
  it('200 refused opens, then garbage collection: the process lives (cap frees a half-opened handle unsafely)', async () => {
    requireBuilt('dist/net/capdev.js')
    await withLab(async (lab) => {
      const script = [
        // from a world-readable copy: the repository may sit in a private directory
        `const { openCapDevice } = await import(${JSON.stringify(nobodyPath('dist/net/capdev.js'))})`,
        'let refused = 0',
        'for (let i = 0; i < 200; i++) {',
        `  try { openCapDevice({ iface: ${JSON.stringify(lab.a.iface)} }).close() } catch (e) { if (e.code === 'DEV_ERR_PERMISSION') refused++ }`,
        '}',
        'for (let i = 0; i < 20; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 5)) }',
        'console.log(JSON.stringify({ type: "done", refused }))',
      ].join('\n')
      const child = lab.spawn(
        'a',
        [
          'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all',
          process.execPath, '--expose-gc', '--input-type=module', '-e', script,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      )
      const out = new LineReader(child)
      expect(await out.json('done')).toEqual({ type: 'done', refused: 200 })
      expect(await exitOf(child)).toEqual({ code: 0, signal: null })
    })
  })
})

// ---------------------------------------------------------------------------------------------------
// The capture device's packet receive path, over a stand-in packet addon (issue 12)

/** Emulates native/packet_tx.c's receive path: frames wait in a queue until the device reads them. */
class FakePacketAddon implements PacketTxModule {
  opened: { iface: string; rcvbuf: number; maxFrame: number }[] = []
  sent: string[] = []
  txClosed: number[] = []
  rxClosed = 0
  rxOpenError: Error | undefined
  waiting: { frame: Uint8Array; status: number }[] = []
  reads = 0
  kernelDrops = 0
  private onReadable: ((status: number) => void) | undefined
  private maxFrame = 0
  readonly TP_STATUS_CSUMNOTREADY = 8
  readonly TP_STATUS_CSUM_VALID = 128
  readonly TP_STATUS_VLAN_VALID = 16
  open(): number {
    return 33
  }
  send(fd: number, frame: Uint8Array, length: number, ...gso: number[]): number {
    expect([fd, ...gso]).toEqual([33, 0, 0, 0, 0, 0])
    this.sent.push(toHex(frame.subarray(0, length)))
    return length
  }
  close(fd: number): void {
    this.txClosed.push(fd)
  }
  offloads(): number {
    return 0
  }
  rxOpen(iface: string, rcvbuf: number, maxFrame: number, onReadable: (status: number) => void): PacketRxHandle {
    if (this.rxOpenError) throw this.rxOpenError
    this.opened.push({ iface, rcvbuf, maxFrame })
    this.onReadable = onReadable
    this.maxFrame = maxFrame
    return { fake: true } as unknown as PacketRxHandle
  }
  rxRead(_rx: PacketRxHandle, buffer: Uint8Array, offset: number, meta: Uint32Array, maxFrames: number): number {
    this.reads++
    let got = 0
    let off = offset
    while (got < maxFrames && this.waiting.length > 0 && buffer.length - off >= this.maxFrame + 4) {
      const { frame, status } = this.waiting.shift()!
      const stored = Math.min(frame.length, this.maxFrame)
      buffer.set(frame.subarray(0, stored), off)
      meta.set([off, stored, frame.length, status], got * 4)
      got++
      if (stored === frame.length) off += (stored + 7) & ~7
    }
    return got
  }
  rxStats(): [number, number] {
    const d = this.kernelDrops
    this.kernelDrops = 0
    return [0, d]
  }
  rxClose(): void {
    this.rxClosed++
  }
  /** Frames arrive; the event loop then says the socket is readable. */
  arrive(...frames: Array<Uint8Array | [Uint8Array, number]>): void {
    for (const f of frames) this.waiting.push(f instanceof Uint8Array ? { frame: f, status: 1 } : { frame: f[0], status: f[1] })
    this.onReadable!(0)
  }
}

const US = '02746c00000a'
const PEER = '02746c000002'
const USER = 1
const NOTREADY = 1 | 8
const VALID = 1 | 128

describe("capture device: choosing the receive path (libpcap or tcplab's packet socket)", () => {
  it("'packet' where the addon has the receive path; 'libpcap' for a BPF filter, a stand-in cap alone, or an addon without it", () => {
    const withRx = new FakePacketAddon()
    const { rxOpen: _o, rxRead: _r, rxStats: _s, rxClose: _c, ...old } = withRx
    const olderBuild = { open: () => 3, send: () => 0, close: () => {} } as PacketTxModule
    expect(chooseCapReceive({ packetTx: withRx })).toBe('packet')
    expect(chooseCapReceive({ packetTx: olderBuild })).toBe('libpcap')
    expect(chooseCapReceive({ packetTx: withRx, filter: 'less 1' })).toBe('libpcap')
    expect(chooseCapReceive({ packetTx: withRx, filter: '' })).toBe('packet')
    expect(chooseCapReceive({ cap: fakeCap })).toBe('libpcap')
    expect(chooseCapReceive({ cap: fakeCap, packetTx: withRx })).toBe('packet')
    expect(chooseCapReceive({ packetTx: withRx, receive: 'libpcap' })).toBe('libpcap')
    expect(chooseCapReceive({ packetTx: olderBuild, receive: 'packet' })).toBe('packet')
    expect(Object.keys(old)).not.toContain('rxOpen')
  })

  it('a stand-in cap with an addon that lacks the receive path keeps libpcap (and the addon is not opened)', () => {
    FakeCap.openError = undefined
    const dev = openCapDevice({ iface: 'tlx', mac: OUR_MAC, cap: fakeCap, packetTx: { open: () => { throw new Error('not used') }, send: () => 0, close: () => {} } })
    expect(dev.receive).toBe('libpcap')
    dev.close()
  })

  it('says in one line why the packet path cannot open: an older addon, a BPF filter, privilege, a non-Ethernet interface', () => {
    const attempt = (f: () => unknown): Error => {
      try {
        f()
      } catch (e) {
        return e as Error
      }
      throw new Error('did not throw')
    }
    let e = attempt(() => openCapDevice({ iface: 'tlx', receive: 'packet', packetTx: { open: () => 3, send: () => 0, close: () => {} } }))
    expect(isWireError(e, 'DEV_ERR_NO_PACKET_TX')).toBe(true)
    expect(e.message).toBe("receive: 'packet' needs a build of tcplab's 'tcplab-packet-tx' addon with the receive path: npm rebuild tcplab-packet-tx")
    e = attempt(() => openCapDevice({ iface: 'tlx', receive: 'packet', filter: 'less 1', packetTx: new FakePacketAddon() }))
    expect(isWireError(e, 'ERR_BAD_ARGUMENT')).toBe(true)
    e = attempt(() => openCapDevice({ iface: 'tlx', receive: 'bogus' as 'packet', packetTx: new FakePacketAddon() }))
    expect(isWireError(e, 'ERR_BAD_ARGUMENT')).toBe(true)
    e = attempt(() => openCapDevice({ iface: 'tlx', maxFrame: 10, packetTx: new FakePacketAddon() }))
    expect(isWireError(e, 'ERR_BAD_ARGUMENT')).toBe(true)
    const tx = new FakePacketAddon()
    tx.rxOpenError = Object.assign(new Error('socket(AF_PACKET): Operation not permitted'), { code: 'EPERM' })
    e = attempt(() => openCapDevice({ iface: 'tlx', packetTx: tx }))
    expect(isWireError(e, 'DEV_ERR_PERMISSION')).toBe(true)
    // The send socket opened first is closed again.
    expect(tx.txClosed).toEqual([33])
    tx.rxOpenError = Object.assign(new Error('tlx is not an Ethernet interface (ARPHRD 65534)'), { code: 'ERR_NOT_ETHERNET', arphrd: 65534 })
    e = attempt(() => openCapDevice({ iface: 'tlx', packetTx: tx }))
    expect(isWireError(e, 'DEV_ERR_IO')).toBe(true)
    expect(e.message).toBe('tlx is not an Ethernet interface (ARPHRD 65534)')
    tx.rxOpenError = Object.assign(new Error('if_nametoindex: No such device'), { code: 'ENODEV' })
    e = attempt(() => openCapDevice({ iface: 'tlx', packetTx: tx }))
    expect(e.message).toBe('cannot capture on tlx: if_nametoindex: No such device')
    expect(tx.txClosed).toEqual([33, 33, 33])
  })
})

describe("capture device over a stand-in packet addon: frames with the kernel's checksum word", () => {
  it("filters by MAC as libpcap's filter did, hands each frame up with 'partial', 'valid' or no word, and counts them", () => {
    const tx = new FakePacketAddon()
    const dev = openCapDevice({ iface: 'tlx', mac: OUR_MAC, packetTx: tx, bufferSize: 1 << 22 })
    expect(dev.receive).toBe('packet')
    expect(dev.filter).toBe(defaultCapFilter(OUR_MAC))
    expect(tx.opened).toEqual([{ iface: 'tlx', rcvbuf: 1 << 22, maxFrame: PACKET_RX_MAX_FRAME }])
    const got: Array<[string, string | undefined]> = []
    dev.onReceive((f, m) => got.push([toHex(f), m?.csum]))
    let wakes = 0
    dev.onWake(() => wakes++)
    const toUs = hex(`${US} ${PEER} 0800 45`)
    const bcast = hex(`ffffffffffff ${PEER} 0806 0001`)
    const mcast = hex(`333300000001 ${PEER} 86dd 60`)
    const toOther = hex(`02746c0000ee ${PEER} 0800 45`)
    const fromUs = hex(`ffffffffffff ${US} 0806 0001`)
    tx.arrive([toUs, NOTREADY], [bcast, USER], [toOther, NOTREADY], [fromUs, USER], [mcast, VALID], [hex(US), USER])
    expect(got).toEqual([
      [toHex(toUs), 'partial'],
      [toHex(bcast), undefined],
      [toHex(mcast), 'valid'],
    ])
    expect(wakes).toBe(1)
    // Frames for other MACs and our own are filtered out silently, as the BPF filter did; the 6-byte one is malformed.
    tx.kernelDrops = 3
    expect(dev.stats()).toEqual({
      sent: 0, received: 3, dropped: 1, sendErrors: 0, malformed: 1, truncated: 0, queued: 0, gsoFrames: 0, gsoSegments: 0,
      csumPartial: 1, csumValid: 1, kernelDropped: 3,
    })
    // Sends go through the addon's socket as plain frames (no cap at all).
    dev.send(bcast)
    expect(tx.sent).toEqual([toHex(bcast)])
    tx.kernelDrops = 2
    dev.close()
    dev.close()
    expect([tx.rxClosed, tx.txClosed]).toEqual([1, [33]])
    expect(dev.stats().kernelDropped).toBe(5)
  })

  it('a frame longer than maxFrame is counted as truncated and never delivered; the frames around it are, whole', () => {
    const tx = new FakePacketAddon()
    const dev = openCapDevice({ iface: 'tlx', mac: OUR_MAC, packetTx: tx, maxFrame: 1000 })
    expect(tx.opened[0].maxFrame).toBe(1000)
    const got: number[] = []
    dev.onReceive((f) => got.push(f.length))
    const frame = (n: number): Uint8Array => {
      const f = new Uint8Array(n).fill(0x5a)
      f.set(hex(`${US} ${PEER} 0800`))
      return f
    }
    tx.arrive(frame(1000), frame(1001), frame(60), frame(65000), frame(999))
    expect(got).toEqual([1000, 60, 999])
    expect(dev.stats()).toMatchObject({ received: 3, truncated: 2, dropped: 2, malformed: 0 })
  })

  it('frames handed up stay as they were while later ones are read (straight into the slab, no shared buffer)', () => {
    const tx = new FakePacketAddon()
    const dev = openCapDevice({ iface: 'tlx', mac: OUR_MAC, packetTx: tx })
    const kept: Uint8Array[] = []
    dev.onReceive((f) => kept.push(f))
    const frames: Uint8Array[] = []
    // Enough 1514-byte frames to fill several 1 MiB slabs, with a 64 KiB one now and then.
    for (let i = 0; i < 3000; i++) {
      const f = new Uint8Array(i % 100 === 0 ? 65000 : 1514).fill(i & 0xff)
      f.set(hex(`${US} ${PEER} 0800`))
      frames.push(f)
    }
    for (let i = 0; i < frames.length; i += 100) tx.arrive(...frames.slice(i, i + 100))
    expect(kept).toHaveLength(3000)
    for (let i = 0; i < 3000; i++) expect(Buffer.from(kept[i]).equals(Buffer.from(frames[i])), `frame ${i}`).toBe(true)
  })

  it('reads at most 8 batches of 64 frames per wake-up, and the rest at the next (the poll is level-triggered)', () => {
    const tx = new FakePacketAddon()
    const dev = openCapDevice({ iface: 'tlx', mac: OUR_MAC, packetTx: tx })
    let n = 0
    dev.onReceive(() => n++)
    const f = hex(`${US} ${PEER} 0800 45`)
    tx.arrive(...Array(600).fill(f))
    expect([n, tx.reads, tx.waiting.length]).toEqual([512, 8, 88])
    tx.arrive()
    expect([n, tx.reads, tx.waiting.length]).toEqual([600, 10, 0])
    // 64 frames: a full batch, so one more read finds none.
    tx.arrive(...Array(64).fill(f))
    expect([n, tx.reads]).toEqual([664, 12])
  })

  it("ipOverEthernet passes the kernel's word up with the IP packet: IPv4 (plain and VLAN-tagged path), IPv6, and none where none was said", () => {
    const tx = new FakePacketAddon()
    const dev = openCapDevice({ iface: 'tlx', mac: OUR_MAC, packetTx: tx })
    const ip = ipOverEthernet(dev, { mac: OUR_MAC, ipv4: '198.18.0.10', ipv6: '2001:2::10' })
    const got: Array<[number, string | undefined]> = []
    ip.onReceive((p, m) => got.push([p[0] >> 4, m?.csum]))
    const syn: Parameters<typeof buildTcpPacket>[1] = {
      srcPort: 5555, dstPort: 80, seq: 1 as Seq, ack: 0 as Seq, flags: TcpFlags.SYN, window: 1000, urgent: 0, options: [], payload: new Uint8Array(0),
    }
    const v4 = toHex(buildTcpPacket({ src: parseIp('198.18.0.2'), dst: parseIp('198.18.0.10') }, syn))
    const v6 = toHex(buildTcpPacket({ src: parseIp('2001:2::2'), dst: parseIp('2001:2::10') }, syn))
    tx.arrive(
      [hex(`${US} ${PEER} 0800 ${v4}`), NOTREADY],
      [hex(`${US} ${PEER} 0800 ${v4}`), USER],
      [hex(`${US} ${PEER} 8100 0005 0800 ${v4}`), VALID],
      [hex(`${US} ${PEER} 86dd ${v6}`), VALID],
      [hex(`${US} ${PEER} 86dd ${v6}`), NOTREADY],
    )
    expect(got).toEqual([
      [4, 'partial'],
      [4, undefined],
      [4, 'valid'],
      [6, 'valid'],
      [6, 'partial'],
    ])
    ip.close()
  })
})
