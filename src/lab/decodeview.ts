/**
 * Decoding packets for people (decode, craft --json): like decodeIp/decodeEthernet of src/net/packet.ts,
 * but a malformed TCP option does not lose the segment. The options before it are kept, the packet gets
 * a warning, and the printers mark it (`[bad opt]`). The live stack keeps the strict decoder: a segment
 * with a malformed option is still dropped (and counted as malformed) there.
 */
import { IPPROTO_TCP } from '../tcp/checksum.js'
import { WireError, type WireErrorCode } from '../tcp/errors.js'
import { parseTcp } from '../tcp/segment.js'
import { parseArp } from '../net/arp.js'
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, parseEthernet } from '../net/ethernet.js'
import { parseIpv4, parseIpv4Options } from '../net/ipv4.js'
import { listIpv6Extensions, parseIpv6, type Ipv6Parsed } from '../net/ipv6.js'
import type { DecodedPacket, LinkKind } from '../net/packet.js'

/** Something decode could read around: a stable code and a message for people. */
export interface DecodeWarning {
  code: WireErrorCode
  message: string
}

/** A decoded packet plus what was wrong but not fatal. */
export interface PacketView extends DecodedPacket {
  warnings: DecodeWarning[]
}

/**
 * RFC 8200 §8.1: with a Routing header the TCP pseudo-header carries the final destination, the last
 * address of a type 0 routing header (the only type whose addresses we read), not the packet's current one.
 */
function finalDestination(ip: Ipv6Parsed): Uint8Array {
  let dst = ip.dst
  for (const e of listIpv6Extensions(ip.nextHeader, ip.extensions)) {
    if (e.kind === 'routing' && e.routingType === 0 && e.segmentsLeft > 0 && e.data.length >= 20) {
      const n = Math.floor((e.data.length - 4) / 16)
      dst = e.data.subarray(4 + 16 * (n - 1), 4 + 16 * n)
    }
  }
  return dst
}

/** Decodes an IP packet (v4 or v6 by the version nibble) tolerantly; throws WireError only for IP-level faults. */
export function viewIp(bytes: Uint8Array, out: PacketView = { warnings: [] }): PacketView {
  if (bytes.length < 1) throw new WireError('IP_ERR_TRUNCATED', 'empty packet')
  const version = bytes[0] >> 4
  let payload: Uint8Array | undefined
  let pseudoDst: Uint8Array
  if (version === 4) {
    const ip = parseIpv4(bytes)
    out.ip = ip
    const opt = parseIpv4Options(ip.options).error
    if (opt !== undefined) out.warnings.push({ code: 'IP_ERR_BAD_FIELD', message: opt.message })
    if (ip.protocol === IPPROTO_TCP && !ip.isFragment) payload = ip.payload
    pseudoDst = ip.dst
  } else if (version === 6) {
    const ip = parseIpv6(bytes)
    out.ip = ip
    // An atomic fragment (offset 0, no more to come, RFC 8200 §4.5 / RFC 6946) holds the whole segment.
    const atomic = ip.fragment === undefined || (ip.fragment.offset === 0 && !ip.fragment.moreFragments)
    if (ip.protocol === IPPROTO_TCP && atomic) payload = ip.payload
    pseudoDst = finalDestination(ip)
  } else {
    throw new WireError('IP_ERR_BAD_VERSION', `IP version ${version} is neither 4 nor 6`)
  }
  if (payload !== undefined) {
    const tcp = parseTcp(payload, { src: out.ip.src, dst: pseudoDst }, { tolerantOptions: true })
    out.tcp = tcp
    if (tcp.optionError) out.warnings.push({ code: tcp.optionError.code, message: tcp.optionError.message })
  }
  return out
}

/** Decodes a packet that starts at the given link layer, tolerantly (see viewIp). */
export function viewPacket(bytes: Uint8Array, link: LinkKind): PacketView {
  if (link === 'ip') return viewIp(bytes)
  const eth = parseEthernet(bytes)
  const out: PacketView = { eth, warnings: [] }
  if (eth.etherType === ETHERTYPE_ARP) out.arp = parseArp(eth.payload)
  else if (eth.etherType === ETHERTYPE_IPV4 || eth.etherType === ETHERTYPE_IPV6) viewIp(eth.payload, out)
  return out
}
