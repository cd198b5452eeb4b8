/**
 * IP over Ethernet: {@link ipOverEthernet} turns any Ethernet-medium device (the capture device, an
 * in-memory link) into an IP-medium one owning an address and MAC of its own, so the same stack runs over
 * a raw socket or a capture. It answers ARP (RFC 826) and IPv6 neighbor discovery (RFC 4861) through the
 * agents beside it in this folder, resolves next hops through their neighbour caches with a queue per
 * unresolved address, and hands up only the IP packets addressed to us.
 */
import { WireError } from '../../tcp/errors.js'
import { formatIp, formatMac, parseMac } from '../addr.js'
import type { Device, DeviceStats, ErrorHandler, ReceiveHandler, ReceiveMeta } from '../device.js'
import {
  emitEthernetHeader,
  ETHERNET_HEADER_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  parseEthernet,
  type EthernetRepr,
} from '../ethernet.js'
import { IPV6_HEADER_LEN, parseIpv6, type Ipv6Parsed } from '../ipv6.js'
import { ArpAgent } from './arp.js'
import { BROADCAST_MAC, bytesAt, sameBytes } from './bytes.js'
import { NdpAgent, multicastMac } from './ndp.js'
import type { NeighborOptions } from './neighbor.js'

/** How long ipOverEthernet reuses its last next hop's MAC before it asks the neighbor cache again (ms). */
const MEMO_MS = 1000

/** Options of {@link ipOverEthernet}. */
export interface IpOverEthernetOptions extends NeighborOptions {
  /** The lab-owned MAC. */
  mac: string
  /** The lab-owned IPv4 address (enables IPv4 and ARP). */
  ipv4?: string
  /** The lab-owned IPv6 address (enables IPv6 and NDP). */
  ipv6?: string
  /** Packets queued per unresolved next hop at most (default 32); more are dropped. */
  maxQueued?: number
  /**
   * Packets queued for all unresolved next hops together at most (default 1024, about 1.5 MB of copies);
   * more are dropped. Only packets to unresolved next hops ever wait: a frame to a known neighbour leaves at
   * once, whatever waits for the others.
   */
  maxQueuedTotal?: number
}

/** Counters of an IP-over-Ethernet device. */
export interface IpOverEthernetStats extends DeviceStats {
  /** Frames that did not parse. */
  malformed: number
  /** Frames or packets not addressed to us. */
  foreign: number
  /** Packets dropped because the next hop's MAC could not be resolved (or the queue was full). */
  unresolved: number
}

/** An IP-medium device over an Ethernet one, with its own MAC and addresses. */
export interface IpOverEthernetDevice extends Device {
  readonly medium: 'ip'
  readonly mac: string
  readonly arp: ArpAgent | undefined
  readonly ndp: NdpAgent | undefined
  /** The Ethernet device underneath (its stats count what never became a frame for this one: cut short, lost). */
  readonly link: Device
  stats(): IpOverEthernetStats
}

/**
 * Wraps an Ethernet-medium device as an IP-medium one owning `mac` and `ipv4`/`ipv6`: answers ARP and
 * neighbor solicitations for them, resolves next hops (every destination is treated as on-link, as in the
 * lab) with a queue per unresolved address, and delivers only IP packets addressed to us, trimmed of
 * link padding.
 */
export function ipOverEthernet(eth: Device, opts: IpOverEthernetOptions): IpOverEthernetDevice {
  return new EthernetIp(eth, opts)
}

class EthernetIp implements IpOverEthernetDevice {
  readonly medium = 'ip' as const
  readonly mtu: number
  readonly mac: string
  readonly arp: ArpAgent | undefined
  readonly ndp: NdpAgent | undefined
  private readonly macBytes: Uint8Array
  private readonly v4: Uint8Array | undefined
  private readonly v6: Uint8Array | undefined
  private readonly maxQueued: number
  private readonly maxQueuedTotal: number
  /** Packets waiting in `queues`, all next hops together. */
  private queuedTotal = 0
  private readonly maxPending: number
  private readonly now: () => number
  /** The memoised next hop's address: a view of memo4 or memo6 (copied in, so no allocation per next hop). */
  private memoDst = new Uint8Array(0)
  private readonly memo4 = new Uint8Array(4)
  private readonly memo6 = new Uint8Array(16)
  private memoMac: Uint8Array | undefined
  private memoAt = 0
  private readonly tx: Uint8Array
  /** Views of `tx` by length, made once: a frame per packet would otherwise allocate one. */
  private readonly txViews: Array<Uint8Array | undefined> = []
  private readonly queues = new Map<string, Uint8Array[]>()
  private handler: ReceiveHandler | undefined
  private closed = false
  private readonly counters: IpOverEthernetStats = {
    sent: 0, received: 0, dropped: 0, sendErrors: 0, malformed: 0, foreign: 0, unresolved: 0,
  }

  constructor(
    private readonly eth: Device,
    opts: IpOverEthernetOptions,
  ) {
    if (eth.medium !== 'ethernet') throw new WireError('ERR_BAD_ARGUMENT', 'ipOverEthernet needs an Ethernet-medium device')
    this.mtu = eth.mtu
    this.macBytes = parseMac(opts.mac)
    this.mac = formatMac(this.macBytes)
    this.maxQueued = opts.maxQueued ?? 32
    this.maxQueuedTotal = opts.maxQueuedTotal ?? 1024
    this.maxPending = opts.maxPending ?? 256
    this.now = opts.now ?? Date.now
    this.tx = new Uint8Array(ETHERNET_HEADER_LEN + eth.mtu)
    const send = (f: Uint8Array): void => this.eth.send(f)
    if (opts.ipv4 !== undefined) {
      this.arp = new ArpAgent({ ...opts, ipv4: opts.ipv4, send })
      this.v4 = this.arp.ipv4
    }
    if (opts.ipv6 !== undefined) {
      this.ndp = new NdpAgent({ ...opts, ipv6: opts.ipv6, send })
      this.v6 = this.ndp.ipv6
    }
    if (this.v4 === undefined && this.v6 === undefined) {
      throw new WireError('ERR_BAD_ARGUMENT', 'ipOverEthernet needs ipv4 or ipv6')
    }
    // The link's checksum word travels with the packet it came with: the IP packet is the frame's payload.
    eth.onReceive((f, m) => this.receive(f, m))
  }

  send(packet: Uint8Array): void {
    if (this.closed) throw new WireError('DEV_ERR_CLOSED', 'device is closed')
    if (packet.length > this.mtu) {
      this.counters.sendErrors++
      throw new WireError('ERR_BAD_ARGUMENT', `packet of ${packet.length} bytes exceeds the MTU ${this.mtu}`)
    }
    const version = packet.length > 0 ? packet[0] >> 4 : 0
    let dstOff: number
    let resolver: ArpAgent | NdpAgent | undefined
    if (version === 4 && packet.length >= 20) {
      dstOff = 16
      resolver = this.arp
    } else if (version === 6 && packet.length >= 40) {
      dstOff = 24
      resolver = this.ndp
    } else {
      this.counters.sendErrors++
      throw new WireError('ERR_BAD_ARGUMENT', 'not an IPv4 or IPv6 packet')
    }
    if (resolver === undefined) {
      this.counters.sendErrors++
      throw new WireError('ERR_BAD_ARGUMENT', `no IPv${version} address configured on this device`)
    }
    const etherType = version === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6
    // A stream to one peer: its MAC from the last lookup, re-checked at most every MEMO_MS, so the hot path
    // builds no text key and touches no map.
    const memo = this.memoMac
    const dstLen = version === 4 ? 4 : 16
    if (memo !== undefined && this.memoDst.length === dstLen && bytesAt(packet, dstOff, this.memoDst) && this.now() - this.memoAt < MEMO_MS) {
      this.frame(memo, etherType, packet)
      return
    }
    const dst = packet.subarray(dstOff, dstOff + dstLen)
    const fixed = this.fixedMac(dst)
    const key = formatIp(dst)
    const mac = fixed ?? resolver.lookup(key)
    if (mac !== undefined && !this.queues.has(key)) {
      if (fixed === undefined) {
        const m = dstLen === 4 ? this.memo4 : this.memo6
        m.set(dst)
        this.memoDst = m
        this.memoMac = mac
        this.memoAt = this.now()
      }
      this.frame(mac, etherType, packet)
      return
    }
    this.enqueue(key, packet, resolver, etherType)
  }

  /** Broadcast and multicast destinations need no resolution (RFC 1112 §6.4, RFC 2464 §7). */
  private fixedMac(dst: Uint8Array): Uint8Array | undefined {
    if (dst.length === 16) return dst[0] === 0xff ? multicastMac(dst) : undefined
    if (dst.every((b) => b === 0xff)) return BROADCAST_MAC
    if (dst[0] >= 224 && dst[0] <= 239) return new Uint8Array([0x01, 0x00, 0x5e, dst[1] & 0x7f, dst[2], dst[3]])
    return undefined
  }

  private frame(mac: Uint8Array, etherType: number, packet: Uint8Array): void {
    const f = this.tx
    emitEthernetHeader({ dst: mac, src: this.macBytes, etherType }, f, 0)
    f.set(packet, ETHERNET_HEADER_LEN)
    const n = ETHERNET_HEADER_LEN + packet.length
    this.eth.send((this.txViews[n] ??= f.subarray(0, n)))
    this.counters.sent++
  }

  private enqueue(key: string, packet: Uint8Array, resolver: ArpAgent | NdpAgent, etherType: number): void {
    let q = this.queues.get(key)
    if (q === undefined) {
      if (this.queues.size >= this.maxPending) {
        this.counters.unresolved++
        return
      }
      q = []
      this.queues.set(key, q)
      const queue = q
      resolver.resolve(key).then(
        (mac) => {
          this.queues.delete(key)
          this.queuedTotal -= queue.length
          if (this.closed) return
          for (const p of queue) this.frame(mac, etherType, p)
        },
        () => {
          this.queues.delete(key)
          this.queuedTotal -= queue.length
          this.counters.unresolved += queue.length
        },
      )
    }
    if (q.length >= this.maxQueued || this.queuedTotal >= this.maxQueuedTotal) {
      this.counters.unresolved++
      return
    }
    q.push(packet.slice())
    this.queuedTotal++
  }

  private receive(frame: Uint8Array, meta: ReceiveMeta | undefined): void {
    // Untagged IPv4, the common case, read in place: no header object, and no view but the packet handed up.
    if (this.v4 !== undefined && frame.length >= ETHERNET_HEADER_LEN && ((frame[12] << 8) | frame[13]) === ETHERTYPE_IPV4) {
      if (!bytesAt(frame, 0, this.macBytes) && (frame[0] & 1) === 0) return this.drop('foreign')
      const o = ETHERNET_HEADER_LEN
      const avail = frame.length - o
      const total = avail >= 4 ? (frame[o + 2] << 8) | frame[o + 3] : 0
      if (avail < 20 || frame[o] >> 4 !== 4 || total < 20 || total > avail) return this.drop('malformed')
      if (!bytesAt(frame, o + 16, this.v4)) return this.drop('foreign')
      if ((frame[0] & 1) === 0) this.arp!.learnFromFrame(frame, o)
      this.up(frame.subarray(o, o + total), meta)
      return
    }
    let eth: EthernetRepr
    try {
      eth = parseEthernet(frame)
    } catch {
      this.drop('malformed')
      return
    }
    const d = eth.dst
    if (!sameBytes(d, this.macBytes) && (d[0] & 1) === 0) {
      this.drop('foreign')
      return
    }
    const p = eth.payload
    if (eth.etherType === ETHERTYPE_ARP) {
      if (this.arp !== undefined) this.arp.handle(p)
      else this.drop('foreign')
      return
    }
    if (eth.etherType === ETHERTYPE_IPV4 && this.v4 !== undefined) {
      const total = p.length >= 4 ? (p[2] << 8) | p[3] : 0
      if (p.length < 20 || p[0] >> 4 !== 4 || total < 20 || total > p.length) return this.drop('malformed')
      if (!sameBytes(p.subarray(16, 20), this.v4)) return this.drop('foreign')
      if ((d[0] & 1) === 0) this.arp!.learnFromIp(p.subarray(12, 16), eth.src)
      this.up(p.subarray(0, total), meta)
      return
    }
    if (eth.etherType === ETHERTYPE_IPV6 && this.v6 !== undefined) {
      let ip: Ipv6Parsed
      try {
        ip = parseIpv6(p)
      } catch {
        return this.drop('malformed')
      }
      if (this.ndp!.handle(eth, ip)) return
      if (!sameBytes(ip.dst, this.v6)) return this.drop('foreign')
      if ((d[0] & 1) === 0) this.ndp!.learnFromIp(ip.src, eth.src)
      this.up(p.subarray(0, IPV6_HEADER_LEN + ip.payloadLength), meta)
      return
    }
    this.drop('foreign')
  }

  private drop(why: 'malformed' | 'foreign'): void {
    this.counters[why]++
    this.counters.dropped++
  }

  private up(packet: Uint8Array, meta: ReceiveMeta | undefined): void {
    const h = this.handler
    if (h === undefined) {
      this.counters.dropped++
      return
    }
    this.counters.received++
    h(packet, meta)
  }

  onReceive(handler: ReceiveHandler): void {
    this.handler = handler
  }

  onError(handler: ErrorHandler): void {
    this.eth.onError?.(handler)
  }

  get link(): Device {
    return this.eth
  }

  stats(): IpOverEthernetStats {
    return { ...this.counters }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.arp?.cache.clear()
    this.ndp?.cache.clear()
    this.eth.close()
  }
}
