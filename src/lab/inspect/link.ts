/**
 * Link layers of captured packets, down to the IP header: Ethernet II (with 802.1Q/802.1ad tags), raw IP,
 * BSD loopback (NULL and LOOP), and Linux cooked captures v1 and v2 (what `tcpdump -i any` writes). Each
 * decoder only finds where the IP packet starts and, for cooked captures, which way the packet went; the
 * IP and TCP headers are left to the codecs in src/net and src/tcp. Nothing is copied or allocated.
 *
 * Header layouts follow the tcpdump.org LINKTYPE_ pages (LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2,
 * LINKTYPE_NULL, LINKTYPE_LOOP).
 */
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
} from '../../net/pcap.js'
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN } from '../../net/ethernet.js'

/** OpenBSD loopback: like LINKTYPE_NULL but the address family is in network byte order. */
export const LINKTYPE_LOOP = 108

/** Which way a packet went, as far as the link layer tells (only Linux cooked captures do). */
export type PacketDirection = 'in' | 'out' | 'unknown'

/** Where a frame's IP packet starts and which way it went; filled in place by {@link locateIp}. */
export interface LinkView {
  /** Offset of the IP header in the frame. */
  ipStart: number
  direction: PacketDirection
}

// Ethernet II (IEEE 802.3 clause 3): destination, source, EtherType; a tag adds 4 bytes before the type.
const ETH_OFF_TYPE = 12
const ETH_HEADER_LEN = 14
const VLAN_TAG_LEN = 4
/** At most two tags (802.1ad QinQ): more is not a frame anyone sends. */
const MAX_VLAN_TAGS = 2

// Linux cooked v1 (LINKTYPE_LINUX_SLL): packet type, ARPHRD type, address length, 8 address bytes, protocol.
const SLL_OFF_PKTTYPE = 0
const SLL_OFF_HATYPE = 2
const SLL_OFF_PROTOCOL = 14
const SLL_HEADER_LEN = 16

// Linux cooked v2 (LINKTYPE_LINUX_SLL2): protocol, reserved, interface index, ARPHRD type, packet type,
// address length, 8 address bytes.
const SLL2_OFF_PROTOCOL = 0
const SLL2_OFF_HATYPE = 8
const SLL2_OFF_PKTTYPE = 10
const SLL2_HEADER_LEN = 20

/** `sll_pkttype` PACKET_OUTGOING (linux/if_packet.h): sent by this host. Types 0..3 were received. */
const PACKET_OUTGOING = 4
/** ARPHRD_NETLINK: nlmon frames in a cooked capture, never IP. */
const ARPHRD_NETLINK = 824

// BSD loopback: a 4-byte address family, then the packet.
const NULL_HEADER_LEN = 4
const AF_INET = 2
/** AF_INET6 differs by OS: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30. */
const AF_INET6_VALUES = [10, 24, 28, 30]

const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1]

/** True for the link types {@link locateIp} understands. */
export function isSupportedLinkType(linkType: number): boolean {
  switch (linkType) {
    case LINKTYPE_ETHERNET:
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
    case LINKTYPE_LINUX_SLL:
    case LINKTYPE_LINUX_SLL2:
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP:
      return true
    default:
      return false
  }
}

/** After an EtherType at `typeAt`: skips up to two VLAN tags; returns the IP start, or -1 when not IP. */
function afterEtherType(b: Uint8Array, typeAt: number, headerEnd: number): number {
  let type = u16(b, typeAt)
  let start = headerEnd
  for (let tags = 0; (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) && tags < MAX_VLAN_TAGS; tags++) {
    // The tag is the TCI (2 bytes) then the next EtherType (2 bytes).
    if (b.length < start + VLAN_TAG_LEN) return -1
    type = u16(b, start + 2)
    start += VLAN_TAG_LEN
  }
  return type === ETHERTYPE_IPV4 || type === ETHERTYPE_IPV6 ? start : -1
}

function familyIsIp(af: number): boolean {
  return af === AF_INET || AF_INET6_VALUES.includes(af)
}

/**
 * Finds the IP packet in a captured frame of link type `linkType` and writes its offset and direction
 * into `out`. Returns false when the frame carries no IP (ARP, netlink, other EtherTypes), is too short
 * for its link header, or the link type is unsupported (see {@link isSupportedLinkType}).
 */
export function locateIp(linkType: number, b: Uint8Array, out: LinkView): boolean {
  out.direction = 'unknown'
  let start: number
  switch (linkType) {
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      start = 0
      break
    case LINKTYPE_ETHERNET:
      if (b.length < ETH_HEADER_LEN) return false
      start = afterEtherType(b, ETH_OFF_TYPE, ETH_HEADER_LEN)
      break
    case LINKTYPE_LINUX_SLL:
      if (b.length < SLL_HEADER_LEN || u16(b, SLL_OFF_HATYPE) === ARPHRD_NETLINK) return false
      out.direction = u16(b, SLL_OFF_PKTTYPE) === PACKET_OUTGOING ? 'out' : 'in'
      start = afterEtherType(b, SLL_OFF_PROTOCOL, SLL_HEADER_LEN)
      break
    case LINKTYPE_LINUX_SLL2:
      if (b.length < SLL2_HEADER_LEN || u16(b, SLL2_OFF_HATYPE) === ARPHRD_NETLINK) return false
      out.direction = b[SLL2_OFF_PKTTYPE] === PACKET_OUTGOING ? 'out' : 'in'
      start = afterEtherType(b, SLL2_OFF_PROTOCOL, SLL2_HEADER_LEN)
      break
    case LINKTYPE_NULL:
    case LINKTYPE_LOOP: {
      if (b.length < NULL_HEADER_LEN) return false
      // NULL stores the family in the capturing host's byte order, which the file does not record: accept
      // either order. LOOP is always big-endian.
      const be = ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0
      const le = ((b[3] << 24) | (b[2] << 16) | (b[1] << 8) | b[0]) >>> 0
      if (!(familyIsIp(be) || (linkType === LINKTYPE_NULL && familyIsIp(le)))) return false
      start = NULL_HEADER_LEN
      break
    }
    default:
      return false
  }
  if (start < 0 || start >= b.length) return false
  out.ipStart = start
  return true
}
