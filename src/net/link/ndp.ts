/** IPv6 neighbor discovery for the lab-owned IPv6 address (RFC 4861): answering for it, and resolving peers. */
import { finishChecksum, onesSum, pseudoHeaderSum } from '../../tcp/checksum.js'
import { WireError } from '../../tcp/errors.js'
import { formatIp, parseIp, parseMac } from '../addr.js'
import { emitEthernetHeader, ETHERNET_HEADER_LEN, ETHERTYPE_IPV6, type EthernetRepr } from '../ethernet.js'
import { IPPROTO_ICMPV6, IPV6_HEADER_LEN, type Ipv6Parsed } from '../ipv6.js'
import { sameBytes } from './bytes.js'
import { NeighborCache, type NeighborOptions } from './neighbor.js'

const ND_NEIGHBOR_SOLICIT = 135
const ND_NEIGHBOR_ADVERT = 136
const ND_OPT_SOURCE_LL = 1
const ND_OPT_TARGET_LL = 2
const NA_FLAG_SOLICITED = 0x40
const NA_FLAG_OVERRIDE = 0x20
/** NS/NA: type, code, checksum, 4 bytes (flags/reserved), 16-byte target, one 8-byte link-layer option. */
const ND_LEN = 32

/** Options of {@link NdpAgent}. */
export interface NdpAgentOptions extends NeighborOptions {
  /** The lab-owned MAC we answer with. */
  mac: string
  /** The lab-owned IPv6 address we answer for. */
  ipv6: string
  /** Sends one Ethernet frame (the buffer is reused after the call returns). */
  send: (frame: Uint8Array) => void
}

/** Counters of an NDP agent. */
export interface NdpStats {
  solicitationsAnswered: number
  solicitationsSent: number
  learned: number
  /** NS/NA messages that failed validation (RFC 4861 §7.1) or were not for us. */
  ignored: number
}

/** The solicited-node multicast address of `ip` (RFC 4291 §2.7.1): ff02::1:ff + its low 24 bits. */
export function solicitedNode(ip: Uint8Array): Uint8Array {
  const a = new Uint8Array(16)
  a.set([0xff, 0x02], 0)
  a[11] = 0x01
  a[12] = 0xff
  a.set(ip.subarray(13, 16), 13)
  return a
}

/** The Ethernet MAC of an IPv6 multicast address (RFC 2464 §7): 33:33 + its low 32 bits. */
export function multicastMac(ip: Uint8Array): Uint8Array {
  const m = new Uint8Array(6)
  m[0] = 0x33
  m[1] = 0x33
  m.set(ip.subarray(12, 16), 2)
  return m
}

/** Answers neighbor solicitations for the lab-owned IPv6 address and resolves peers (RFC 4861 §7). */
export class NdpAgent {
  readonly cache: NeighborCache
  readonly mac: Uint8Array
  readonly ipv6: Uint8Array
  private readonly send: (frame: Uint8Array) => void
  private readonly tx = new Uint8Array(ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + ND_LEN)
  private readonly counters: NdpStats = { solicitationsAnswered: 0, solicitationsSent: 0, learned: 0, ignored: 0 }

  constructor(opts: NdpAgentOptions) {
    this.mac = parseMac(opts.mac)
    this.ipv6 = parseIp(opts.ipv6)
    if (this.ipv6.length !== 16) throw new WireError('ERR_BAD_ARGUMENT', `NDP needs an IPv6 address, got ${opts.ipv6}`)
    this.send = opts.send
    this.cache = new NeighborCache((ip) => this.solicit(ip), opts)
  }

  /**
   * Handles an IPv6 packet if it is a neighbor solicitation or advertisement; returns whether it was one
   * (consumed, answered if for us). Validation per RFC 4861 §7.1.1/§7.1.2: hop limit 255, code 0, good
   * checksum, length ≥ 24, target not multicast.
   */
  handle(eth: EthernetRepr, ip: Ipv6Parsed): boolean {
    if (ip.nextHeader !== IPPROTO_ICMPV6) return false
    const m = ip.payload
    if (m.length < 1 || (m[0] !== ND_NEIGHBOR_SOLICIT && m[0] !== ND_NEIGHBOR_ADVERT)) return false
    if (
      ip.hopLimit !== 255 ||
      m.length < 24 ||
      m[1] !== 0 ||
      finishChecksum(onesSum(m, 0, m.length, pseudoHeaderSum(ip.src, ip.dst, IPPROTO_ICMPV6, m.length))) !== 0 ||
      m[8] === 0xff
    ) {
      this.counters.ignored++
      return true
    }
    const target = m.subarray(8, 24)
    const ll = this.linkLayerOption(m, m[0] === ND_NEIGHBOR_SOLICIT ? ND_OPT_SOURCE_LL : ND_OPT_TARGET_LL)
    if (ll === null) {
      this.counters.ignored++
      return true
    }
    if (m[0] === ND_NEIGHBOR_ADVERT) {
      const t = formatIp(target)
      if (ll !== undefined && this.cache.has(t)) {
        this.cache.learn(t, ll)
        this.counters.learned++
      } else this.counters.ignored++
      return true
    }
    if (!sameBytes(target, this.ipv6)) {
      this.counters.ignored++
      return true
    }
    const unspecified = ip.src.every((b) => b === 0)
    if (!unspecified && ll !== undefined) {
      this.cache.learn(formatIp(ip.src), ll)
      this.counters.learned++
    }
    // RFC 4861 §7.2.4: reply to the source, solicited; to all-nodes, unsolicited, when the source is ::.
    const dstIp = unspecified ? parseIp('ff02::1') : ip.src
    const dstMac = unspecified ? multicastMac(dstIp) : (ll ?? eth.src)
    this.emit(ND_NEIGHBOR_ADVERT, dstMac, dstIp, this.ipv6, (unspecified ? 0 : NA_FLAG_SOLICITED) | NA_FLAG_OVERRIDE)
    this.counters.solicitationsAnswered++
    return true
  }

  /** The link-layer address in option `type`, undefined when absent, null when options are malformed. */
  private linkLayerOption(m: Uint8Array, type: number): Uint8Array | undefined | null {
    let found: Uint8Array | undefined
    for (let i = 24; i < m.length; ) {
      if (i + 2 > m.length) return null
      const len = m[i + 1] * 8
      // RFC 4861 §4.6: a zero-length option makes the whole message invalid.
      if (len === 0 || i + len > m.length) return null
      if (m[i] === type && len >= 8) found = m.subarray(i + 2, i + 8)
      i += len
    }
    return found
  }

  /** The MAC of `ip` (cache, else neighbor solicitations). */
  resolve(ip: string): Promise<Uint8Array> {
    return this.cache.resolve(formatIp(parseIp(ip)))
  }

  /** The cached MAC of `ip`, if fresh. */
  lookup(ip: string): Uint8Array | undefined {
    return this.cache.lookup(ip)
  }

  private readonly lastIpSrc = new Uint8Array(16)
  private readonly lastIpMac = new Uint8Array(6)

  /**
   * Learns the link address of the sender of an IPv6 packet unicast to us, as {@link ArpAgent.learnFromIp}
   * does for IPv4 (an entry only 'seen', the first to go when the cache is full): a SYN+ACK to a spoofed
   * source then needs no solicitation. Not from ::, multicast or loopback sources.
   */
  learnFromIp(src: Uint8Array, mac: Uint8Array): void {
    if ((mac[0] & 1) !== 0 || src[0] === 0xff || (sameBytes(src, this.lastIpSrc) && sameBytes(mac, this.lastIpMac))) return
    let zero = true
    for (let i = 0; i < 15; i++) if (src[i] !== 0) zero = false
    if (zero && src[15] <= 1) return
    this.lastIpSrc.set(src)
    this.lastIpMac.set(mac)
    const ip = formatIp(src)
    const known = this.cache.lookup(ip)
    this.cache.learn(ip, mac, 'seen')
    if (known === undefined || !sameBytes(known, mac)) this.counters.learned++
  }

  private solicit(ip: string): void {
    const target = parseIp(ip)
    const group = solicitedNode(target)
    this.emit(ND_NEIGHBOR_SOLICIT, multicastMac(group), group, target, 0)
    this.counters.solicitationsSent++
  }

  private emit(type: number, ethDst: Uint8Array, dstIp: Uint8Array, target: Uint8Array, flags: number): void {
    const f = this.tx
    emitEthernetHeader({ dst: ethDst, src: this.mac, etherType: ETHERTYPE_IPV6 }, f, 0)
    const ip = ETHERNET_HEADER_LEN
    // RFC 8200 §3 header; RFC 4861 §7.1: hop limit 255 proves the sender is on-link.
    f.fill(0, ip, ip + 4)
    f[ip] = 0x60
    f[ip + 4] = 0
    f[ip + 5] = ND_LEN
    f[ip + 6] = IPPROTO_ICMPV6
    f[ip + 7] = 255
    f.set(this.ipv6, ip + 8)
    f.set(dstIp, ip + 24)
    const m = ip + IPV6_HEADER_LEN
    f[m] = type
    f[m + 1] = 0
    f[m + 2] = 0
    f[m + 3] = 0
    f[m + 4] = flags
    f.fill(0, m + 5, m + 8)
    f.set(target, m + 8)
    f[m + 24] = type === ND_NEIGHBOR_SOLICIT ? ND_OPT_SOURCE_LL : ND_OPT_TARGET_LL
    f[m + 25] = 1
    f.set(this.mac, m + 26)
    const sum = finishChecksum(onesSum(f, m, m + ND_LEN, pseudoHeaderSum(this.ipv6, dstIp, IPPROTO_ICMPV6, ND_LEN)))
    f[m + 2] = sum >>> 8
    f[m + 3] = sum & 0xff
    this.send(f)
  }

  /** Counters. */
  stats(): NdpStats {
    return { ...this.counters }
  }
}
