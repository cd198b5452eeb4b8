/** ARP for the lab-owned IPv4 address (RFC 826): answering for it, and resolving peers. */
import { WireError } from '../../tcp/errors.js'
import { formatIp, parseIp, parseMac } from '../addr.js'
import { ARP_LEN, ARP_OP_REPLY, ARP_OP_REQUEST, emitArp, parseArp } from '../arp.js'
import { emitEthernetHeader, ETHERNET_HEADER_LEN, ETHERNET_MIN_FRAME_LEN, ETHERTYPE_ARP } from '../ethernet.js'
import { BROADCAST_MAC, bytesAt, sameBytes, ZERO_MAC } from './bytes.js'
import { NeighborCache, type NeighborOptions } from './neighbor.js'

/** Options of {@link ArpAgent}. */
export interface ArpAgentOptions extends NeighborOptions {
  /** The lab-owned MAC we answer with. */
  mac: string
  /** The lab-owned IPv4 address we answer for. */
  ipv4: string
  /** Sends one Ethernet frame (the buffer is reused after the call returns). */
  send: (frame: Uint8Array) => void
}

/** Counters of an ARP agent. */
export interface ArpStats {
  requestsAnswered: number
  requestsSent: number
  learned: number
  /** ARP packets not for us, malformed or unsupported. */
  ignored: number
}

/** Answers ARP for the lab-owned address and resolves peers' MACs (RFC 826). */
export class ArpAgent {
  readonly cache: NeighborCache
  readonly mac: Uint8Array
  readonly ipv4: Uint8Array
  private readonly send: (frame: Uint8Array) => void
  private readonly tx = new Uint8Array(ETHERNET_MIN_FRAME_LEN)
  private readonly counters: ArpStats = { requestsAnswered: 0, requestsSent: 0, learned: 0, ignored: 0 }

  constructor(opts: ArpAgentOptions) {
    this.mac = parseMac(opts.mac)
    this.ipv4 = parseIp(opts.ipv4)
    if (this.ipv4.length !== 4) throw new WireError('ERR_BAD_ARGUMENT', `ARP needs an IPv4 address, got ${opts.ipv4}`)
    this.send = opts.send
    this.cache = new NeighborCache((ip) => this.request(ip), opts)
  }

  /**
   * Handles the payload of an ARP frame. RFC 826 "Packet Reception": update the sender if known (merge);
   * if we are the target, add it, and answer a request. Never throws on bad input (counted as ignored).
   */
  handle(payload: Uint8Array): void {
    let arp
    try {
      arp = parseArp(payload)
    } catch {
      this.counters.ignored++
      return
    }
    if (sameBytes(arp.senderMac, this.mac)) {
      this.counters.ignored++
      return
    }
    const sender = formatIp(arp.senderIp)
    // 0.0.0.0 is an RFC 5227 probe's sender: nothing to learn, but a probe for our address gets a reply.
    const unspecified = arp.senderIp.every((b) => b === 0)
    const merged = !unspecified && this.cache.has(sender)
    if (merged) this.learnFrom(sender, arp.senderMac)
    if (!sameBytes(arp.targetIp, this.ipv4)) {
      if (!merged) this.counters.ignored++
      return
    }
    if (!merged && !unspecified) this.learnFrom(sender, arp.senderMac)
    if (arp.op === ARP_OP_REQUEST) {
      this.emit(ARP_OP_REPLY, arp.senderMac, arp.senderMac, arp.senderIp)
      this.counters.requestsAnswered++
    }
  }

  private learnFrom(ip: string, mac: Uint8Array): void {
    this.cache.learn(ip, mac)
    this.counters.learned++
  }

  private readonly lastIpSrc = new Uint8Array(4)
  private readonly lastIpMac = new Uint8Array(6)

  /**
   * {@link learnFromIp} for the IPv4 packet at `ipOff` in an Ethernet `frame` (sender MAC at 6), comparing
   * in place first: the same sender as last time, the common case, costs no allocation.
   */
  learnFromFrame(frame: Uint8Array, ipOff: number): void {
    if (bytesAt(frame, ipOff + 12, this.lastIpSrc) && bytesAt(frame, 6, this.lastIpMac)) return
    this.learnFromIp(frame.subarray(ipOff + 12, ipOff + 16), frame.subarray(6, 12))
  }

  /**
   * Learns the link address of the sender of an IPv4 packet unicast to us (smoltcp fills its neighbor
   * cache the same way): the reply then needs no ARP exchange, so a flood from spoofed sources leaves no
   * pending resolution behind and a real client's SYN+ACK never waits for one. Such an entry is only
   * 'seen' (anyone can send from any address): it goes first when the cache is full, so a flood from many
   * spoofed sources churns among its own entries and leaves neighbours confirmed by ARP in place. The last
   * sender is remembered, so a stream from one peer costs a 10-byte comparison per packet.
   */
  learnFromIp(src: Uint8Array, mac: Uint8Array): void {
    if ((mac[0] & 1) !== 0 || (sameBytes(src, this.lastIpSrc) && sameBytes(mac, this.lastIpMac))) return
    if (src[0] === 0 || src[0] >= 224 || src[0] === 127) return
    this.lastIpSrc.set(src)
    this.lastIpMac.set(mac)
    const ip = formatIp(src)
    const known = this.cache.lookup(ip)
    // The same MAC again refreshes the entry (and keeps it confirmed if it was); a new one is learned.
    this.cache.learn(ip, mac, 'seen')
    if (known === undefined || !sameBytes(known, mac)) this.counters.learned++
  }

  /** Number of ARP resolutions under way. */
  get pendingCount(): number {
    return this.cache.pendingCount
  }

  /** The MAC of `ip` (cache, else ARP requests). */
  resolve(ip: string): Promise<Uint8Array> {
    return this.cache.resolve(ip)
  }

  /** The cached MAC of `ip`, if fresh. */
  lookup(ip: string): Uint8Array | undefined {
    return this.cache.lookup(ip)
  }

  private request(ip: string): void {
    this.emit(ARP_OP_REQUEST, BROADCAST_MAC, ZERO_MAC, parseIp(ip))
    this.counters.requestsSent++
  }

  private emit(op: number, ethDst: Uint8Array, targetMac: Uint8Array, targetIp: Uint8Array): void {
    const f = this.tx
    emitEthernetHeader({ dst: ethDst, src: this.mac, etherType: ETHERTYPE_ARP }, f, 0)
    emitArp({ op, senderMac: this.mac, senderIp: this.ipv4, targetMac, targetIp }, f, ETHERNET_HEADER_LEN)
    // Pad to the 60-byte minimum frame (IEEE 802.3): what the kernel would send.
    f.fill(0, ETHERNET_HEADER_LEN + ARP_LEN)
    this.send(f)
  }

  /** Counters. */
  stats(): ArpStats {
    return { ...this.counters }
  }
}
