/**
 * Whole packets: decode a frame or IP packet down to TCP, and build an IP packet around a TCP segment
 * in one caller-owned buffer (the TCP checksum is computed in place, nothing is copied twice).
 */
import { WireError } from '../tcp/errors.js'
import { IPPROTO_TCP, type PseudoHeader } from '../tcp/checksum.js'
import { emitTcp, parseTcp, tcpLen, type ChecksumMode, type TcpParsed, type TcpRepr } from '../tcp/segment.js'
import { parseIpv4, emitIpv4Header, type Ipv4Parsed, type Ipv4Repr } from './ipv4.js'
import { parseIpv6, emitIpv6Header, type Ipv6Parsed, type Ipv6Repr } from './ipv6.js'
import { parseEthernet, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, type EthernetRepr } from './ethernet.js'
import { parseArp, type ArpRepr } from './arp.js'

/** How a packet starts: at the IP header (version nibble picks v4/v6) or at an Ethernet header. */
export type LinkKind = 'ip' | 'ethernet'

/** A packet decoded as far as tcplab understands it. */
export interface DecodedPacket {
  eth?: EthernetRepr
  arp?: ArpRepr
  ip?: Ipv4Parsed | Ipv6Parsed
  tcp?: TcpParsed
}

/** The pseudo-header of an IP packet, for the TCP checksum. */
export function pseudoOf(ip: { src: Uint8Array; dst: Uint8Array }): PseudoHeader {
  return { src: ip.src, dst: ip.dst }
}

/**
 * Decodes an IP packet (v4 or v6 by the version nibble) and, when it carries an unfragmented TCP
 * segment (or the first fragment holding a whole header), the segment with its checksum verified.
 */
export function decodeIp(bytes: Uint8Array, out: DecodedPacket = {}): DecodedPacket {
  if (bytes.length < 1) throw new WireError('IP_ERR_TRUNCATED', 'empty packet')
  const version = bytes[0] >> 4
  if (version === 4) {
    const ip = parseIpv4(bytes)
    out.ip = ip
    if (ip.protocol === IPPROTO_TCP && ip.fragmentOffset === 0 && !ip.moreFragments) {
      out.tcp = parseTcp(ip.payload, pseudoOf(ip))
    }
  } else if (version === 6) {
    const ip = parseIpv6(bytes)
    out.ip = ip
    if (ip.protocol === IPPROTO_TCP && ip.fragment === undefined) {
      out.tcp = parseTcp(ip.payload, pseudoOf(ip))
    }
  } else {
    throw new WireError('IP_ERR_BAD_VERSION', `IP version ${version} is neither 4 nor 6`)
  }
  return out
}

/** Decodes an Ethernet frame: ARP, or IPv4/IPv6 down to TCP. */
export function decodeEthernet(bytes: Uint8Array): DecodedPacket {
  const eth = parseEthernet(bytes)
  const out: DecodedPacket = { eth }
  if (eth.etherType === ETHERTYPE_ARP) out.arp = parseArp(eth.payload)
  else if (eth.etherType === ETHERTYPE_IPV4 || eth.etherType === ETHERTYPE_IPV6) decodeIp(eth.payload, out)
  return out
}

/** Decodes a packet that starts at the given link layer. */
export function decodePacket(bytes: Uint8Array, link: LinkKind): DecodedPacket {
  return link === 'ethernet' ? decodeEthernet(bytes) : decodeIp(bytes)
}

/** The IP fields a TCP packet builder needs; the family follows the address length. */
export interface IpHeaderFields {
  src: Uint8Array
  dst: Uint8Array
  /** TTL (IPv4) or hop limit (IPv6); default 64. */
  ttl?: number
  /** IPv4 identification; default 0. */
  id?: number
  /** IPv4 Don't Fragment; default true, as Linux sets it on TCP. */
  dontFragment?: boolean
  /** IPv6 flow label; default 0. */
  flowLabel?: number
  /** DSCP/ECN byte (IPv4 TOS or IPv6 traffic class); default 0. */
  tos?: number
}

/** What `emitTcpPacket` does with the TCP checksum. */
export type { ChecksumMode }

/** Length of the IP packet that `emitTcpPacket` writes. */
export function tcpPacketLen(ip: IpHeaderFields, tcp: TcpRepr): number {
  return ipHeaderLenFor(ip) + tcpLen(tcp)
}

function ipHeaderLenFor(ip: IpHeaderFields): number {
  return ip.src.length === 4 ? 20 : 40
}

/**
 * Writes an IPv4 or IPv6 packet carrying `tcp` at `offset` of `into` and returns the bytes written.
 * The TCP checksum covers the right pseudo-header; `checksum: 'bad'` writes a wrong one on purpose.
 */
export function emitTcpPacket(
  ip: IpHeaderFields,
  tcp: TcpRepr,
  into: Uint8Array,
  offset = 0,
  checksum: ChecksumMode = 'compute',
): number {
  if (ip.src.length !== ip.dst.length || (ip.src.length !== 4 && ip.src.length !== 16)) {
    throw new WireError('IP_ERR_BAD_ADDRESS', 'source and destination must both be IPv4 or both IPv6')
  }
  const segLen = tcpLen(tcp)
  let hlen: number
  // One header object per family, refilled for each packet (the emitters keep nothing): sending a segment
  // allocates nothing here.
  if (ip.src.length === 4) {
    const repr = V4_SCRATCH
    repr.src = ip.src
    repr.dst = ip.dst
    repr.ttl = ip.ttl ?? 64
    repr.id = ip.id ?? 0
    repr.dscp = (ip.tos ?? 0) >> 2
    repr.ecn = (ip.tos ?? 0) & 3
    repr.dontFragment = ip.dontFragment ?? true
    hlen = 20 // no IPv4 options on the packets we build
    emitIpv4Header(repr, segLen, into, offset)
  } else {
    const repr = V6_SCRATCH
    repr.src = ip.src
    repr.dst = ip.dst
    repr.trafficClass = ip.tos ?? 0
    repr.flowLabel = ip.flowLabel ?? 0
    repr.hopLimit = ip.ttl ?? 64
    hlen = 40 // no extension headers on the packets we build
    emitIpv6Header(repr, segLen, into, offset)
  }
  // `ip` is itself the pseudo-header (its src and dst); 'compute' is emitTcp's default with one.
  const n = emitTcp(tcp, into, offset + hlen, ip, checksum === 'compute' ? undefined : { checksum })
  return hlen + n
}


/** Builds a fresh buffer holding the IP packet around `tcp`. */
export function buildTcpPacket(ip: IpHeaderFields, tcp: TcpRepr, checksum: ChecksumMode = 'compute'): Uint8Array {
  const buf = new Uint8Array(tcpPacketLen(ip, tcp))
  emitTcpPacket(ip, tcp, buf, 0, checksum)
  return buf
}

const EMPTY = new Uint8Array(0)

/** emitTcpPacket's header objects, refilled for every packet. */
const V4_SCRATCH: Omit<Ipv4Repr, 'payload'> = {
  src: EMPTY,
  dst: EMPTY,
  protocol: IPPROTO_TCP,
  ttl: 64,
  id: 0,
  dscp: 0,
  ecn: 0,
  dontFragment: true,
  moreFragments: false,
  fragmentOffset: 0,
  options: EMPTY,
}

const V6_SCRATCH: Omit<Ipv6Repr, 'payload'> = {
  src: EMPTY,
  dst: EMPTY,
  trafficClass: 0,
  flowLabel: 0,
  hopLimit: 64,
  nextHeader: IPPROTO_TCP,
  extensions: EMPTY,
}
