/**
 * Inbound ICMP error lines (`< icmp unreachable frag_needed mtu 1200 [1:1461(1460)]`), built as packetdrill
 * builds them: an ICMP or ICMPv6 error from the remote side carrying the echoed IP header of a packet the
 * stack sent (local → remote, TCP) and the first 8 bytes of its TCP header — the ports and the sequence
 * number, mapped to the stack's live numbers — so the kernel finds the connection and checks the sequence.
 *
 * Pure: the engine gives live addresses, ports and sequence number; this module only writes bytes.
 */
import { emitIpv4 } from '../net/ipv4.js'
import { emitIpv6 } from '../net/ipv6.js'
import { finishChecksum, onesSum, pseudoHeaderSum } from '../tcp/checksum.js'

/** A name table: type (or code) name → number. */
type Names = Readonly<Record<string, number>>

/** ICMPv4 types by packetdrill's names (RFC 792, RFC 950). */
const V4_TYPES: Names = {
  echo_reply: 0, unreachable: 3, source_quench: 4, redirect: 5, echo_request: 8, time_exceeded: 11,
  parameter_problem: 12, timestamp_request: 13, timestamp_reply: 14, information_request: 15,
  information_reply: 16, address_mask_request: 17, address_mask_reply: 18,
}

/** ICMPv4 destination-unreachable codes (RFC 792, RFC 1812 §5.2.7.1). */
const V4_UNREACHABLE: Names = {
  net_unreachable: 0, host_unreachable: 1, protocol_unreachable: 2, port_unreachable: 3, frag_needed: 4,
  source_route_failed: 5, net_unknown: 6, host_unknown: 7, source_host_isolated: 8, net_prohibited: 9,
  host_prohibited: 10, net_unreachable_for_tos: 11, host_unreachable_for_tos: 12, packet_filtered: 13,
  precedence_violation: 14, precedence_cutoff: 15,
}

/** ICMPv6 error and echo types (RFC 4443). */
const V6_TYPES: Names = { unreachable: 1, packet_too_big: 2, time_exceeded: 3, parameter_problem: 4, echo_request: 128, echo_reply: 129 }

/** ICMPv6 codes per type (RFC 4443 §3). */
const V6_CODES: Readonly<Record<string, Names>> = {
  unreachable: { net_unreachable: 0, no_route: 0, admin_prohibited: 1, not_neighbour: 2, address_unreachable: 3, port_unreachable: 4 },
  time_exceeded: { exceeded_hop_limit: 0, exceeded_frag_time: 1 },
  parameter_problem: { header_field: 0, unknown_next_header: 1, unknown_option: 2 },
}

/** Type and code numbers for a line's names (a number written as digits is taken as is; no code is 0). */
export function icmpTypeCode(v6: boolean, type: string, code: string | undefined): { type: number; code: number } | { error: string } {
  const t = /^\d+$/.test(type) ? Number(type) : (v6 ? V6_TYPES : V4_TYPES)[type]
  if (t === undefined || t > 255) return { error: `unknown ${v6 ? 'ICMPv6' : 'ICMP'} type '${type}'` }
  if (code === undefined) return { type: t, code: 0 }
  const table = v6 ? V6_CODES[type] : type === 'unreachable' ? V4_UNREACHABLE : undefined
  const c = /^\d+$/.test(code) ? Number(code) : table?.[code]
  if (c === undefined || c > 255) return { error: `unknown ${v6 ? 'ICMPv6' : 'ICMP'} code '${code}' for type '${type}'` }
  return { type: t, code: c }
}

/** What an inbound ICMP error echoes and carries, in live numbers. */
export interface IcmpErrorSpec {
  v6: boolean
  /** The remote side (the ICMP's source, the echoed packet's destination). */
  remote: Uint8Array
  /** The stack under test (the ICMP's destination, the echoed packet's source). */
  local: Uint8Array
  type: number
  code: number
  /** Next-hop MTU (fragmentation needed) or the MTU of packet-too-big; absent leaves the field 0. */
  mtu?: number
  localPort: number
  remotePort: number
  /** The echoed TCP segment's sequence number (live) and payload length. */
  seq: number
  payloadLen: number
  /** Outer header: TTL / hop limit, TOS / traffic class and IPv6 flow label from the script's annotations. */
  ttl?: number
  tos?: number
  flowLabel?: number
}

/** The whole IP packet of an inbound ICMP error echoing a TCP segment the stack sent. */
export function buildIcmpError(s: IcmpErrorSpec): Uint8Array {
  const ipLen = s.v6 ? 40 : 20
  // The echoed header: the stack's packet as it left (local → remote, TCP with a 20-byte header), then the
  // first 8 bytes of that TCP header: ports and sequence number.
  const echoed = new Uint8Array(ipLen + 8)
  const tcp8 = new Uint8Array(8)
  const v = new DataView(tcp8.buffer)
  v.setUint16(0, s.localPort)
  v.setUint16(2, s.remotePort)
  v.setUint32(4, s.seq >>> 0)
  const echoedLen = ipLen + 20 + s.payloadLen
  if (s.v6) {
    const inner = new Uint8Array(40)
    emitIpv6({ src: s.local, dst: s.remote, trafficClass: 0, flowLabel: 0, hopLimit: 64, nextHeader: 6, extensions: new Uint8Array(0), payload: new Uint8Array(0) }, inner, 0)
    new DataView(inner.buffer).setUint16(4, echoedLen - 40)
    echoed.set(inner)
  } else {
    const inner = new Uint8Array(20)
    emitIpv4(
      { src: s.local, dst: s.remote, protocol: 6, ttl: 64, id: 0, dscp: 0, ecn: 0, dontFragment: true, moreFragments: false, fragmentOffset: 0, options: new Uint8Array(0), payload: new Uint8Array(0) },
      inner,
      0,
    )
    // The echoed header states the original packet's length; its checksum is recomputed for that length.
    const dv = new DataView(inner.buffer)
    dv.setUint16(2, echoedLen)
    dv.setUint16(10, 0)
    dv.setUint16(10, finishChecksum(onesSum(inner)))
    echoed.set(inner)
  }
  echoed.set(tcp8, ipLen)

  const icmp = new Uint8Array(8 + echoed.length)
  const iv = new DataView(icmp.buffer)
  icmp[0] = s.type
  icmp[1] = s.code
  if (s.mtu !== undefined) {
    // ICMPv4 fragmentation needed: next-hop MTU in the low 16 bits of the second word (RFC 1191 §4);
    // ICMPv6 packet too big: the whole word (RFC 4443 §3.2).
    if (s.v6) iv.setUint32(4, s.mtu >>> 0)
    else iv.setUint16(6, s.mtu & 0xffff)
  }
  icmp.set(echoed, 8)
  const out = new Uint8Array(ipLen + icmp.length)
  if (s.v6) {
    // The ICMPv6 checksum covers a pseudo-header (RFC 4443 §2.3).
    iv.setUint16(2, finishChecksum(onesSum(icmp, 0, icmp.length, pseudoHeaderSum(s.remote, s.local, 58, icmp.length))))
    emitIpv6({ src: s.remote, dst: s.local, trafficClass: s.tos ?? 0, flowLabel: s.flowLabel ?? 0, hopLimit: s.ttl ?? 64, nextHeader: 58, extensions: new Uint8Array(0), payload: icmp }, out, 0)
  } else {
    iv.setUint16(2, finishChecksum(onesSum(icmp)))
    const tos = s.tos ?? 0
    emitIpv4(
      { src: s.remote, dst: s.local, protocol: 1, ttl: s.ttl ?? 64, id: 0, dscp: tos >> 2, ecn: tos & 3, dontFragment: false, moreFragments: false, fragmentOffset: 0, options: new Uint8Array(0), payload: icmp },
      out,
      0,
    )
  }
  return out
}
