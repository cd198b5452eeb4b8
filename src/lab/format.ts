/**
 * Presenting decoded packets: the JSON objects of `tcplab decode --json` (a contract: extend, never
 * rename) and one tcpdump-style line per packet.
 */
import type { DecodedPacket } from '../net/packet.js'
import type { Ipv4Parsed } from '../net/ipv4.js'
import type { Ipv6Parsed } from '../net/ipv6.js'
import type { TcpParsed } from '../tcp/segment.js'
import { formatFlags } from '../tcp/segment.js'
import type { TcpOption } from '../tcp/options.js'
import { formatIp, formatMac } from '../net/addr.js'

const hexOf = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')

/** A TCP option as JSON: `{"kind":"mss","value":1460}`, unknown data as hex. */
export function optionToJson(o: TcpOption): Record<string, unknown> {
  switch (o.kind) {
    case 'sack':
      return { kind: 'sack', blocks: o.blocks.map(([l, r]) => [l, r]) }
    case 'unknown':
      return { kind: 'unknown', type: o.type, data: hexOf(o.data) }
    default:
      return { ...o }
  }
}

/** The `"tcp"` object of decode's JSON. */
export function tcpToJson(t: TcpParsed): Record<string, unknown> {
  const j: Record<string, unknown> = {
    srcPort: t.srcPort,
    dstPort: t.dstPort,
    seq: t.seq,
    ack: t.ack,
    flags: formatFlags(t.flags),
    dataOffset: t.dataOffset,
    window: t.window,
    urgent: t.urgent,
    checksum: t.checksum,
    checksumOk: t.checksumOk,
    options: t.options.map(optionToJson),
    payload: hexOf(t.payload),
  }
  if (t.flags > 0xff) j.reserved = t.flags >> 8
  return j
}

function isV4(ip: Ipv4Parsed | Ipv6Parsed): ip is Ipv4Parsed {
  return ip.src.length === 4
}

/** The `"ip"` object of decode's JSON. */
export function ipToJson(ip: Ipv4Parsed | Ipv6Parsed): Record<string, unknown> {
  if (isV4(ip)) {
    const j: Record<string, unknown> = {
      version: 4,
      src: formatIp(ip.src),
      dst: formatIp(ip.dst),
      ttl: ip.ttl,
      id: ip.id,
      totalLength: ip.totalLength,
      checksumOk: ip.checksumOk,
      protocol: ip.protocol,
    }
    if (ip.isFragment) {
      j.fragmentOffset = ip.fragmentOffset
      j.moreFragments = ip.moreFragments
    }
    return j
  }
  const j: Record<string, unknown> = {
    version: 6,
    src: formatIp(ip.src),
    dst: formatIp(ip.dst),
    hopLimit: ip.hopLimit,
    flowLabel: ip.flowLabel,
    payloadLength: ip.payloadLength,
    protocol: ip.protocol,
  }
  if (ip.fragment) j.fragment = { ...ip.fragment }
  return j
}

/** One decoded packet as decode's JSON object (eth, arp, ip, tcp in that order, each when present). */
export function packetToJson(p: DecodedPacket): Record<string, unknown> {
  const j: Record<string, unknown> = {}
  if (p.eth) {
    j.eth = { src: formatMac(p.eth.src), dst: formatMac(p.eth.dst), type: p.eth.etherType }
    if (p.eth.vlan) (j.eth as Record<string, unknown>).vlan = { ...p.eth.vlan }
  }
  if (p.arp) {
    j.arp = {
      op: p.arp.op,
      senderMac: formatMac(p.arp.senderMac),
      senderIp: formatIp(p.arp.senderIp),
      targetMac: formatMac(p.arp.targetMac),
      targetIp: formatIp(p.arp.targetIp),
    }
  }
  if (p.ip) j.ip = ipToJson(p.ip)
  if (p.tcp) j.tcp = tcpToJson(p.tcp)
  return j
}

/** A TCP option the way tcpdump prints it. */
export function optionToText(o: TcpOption): string {
  switch (o.kind) {
    case 'eol':
      return 'eol'
    case 'nop':
      return 'nop'
    case 'mss':
      return `mss ${o.value}`
    case 'wscale':
      return `wscale ${o.shift}`
    case 'sackPermitted':
      return 'sackOK'
    case 'sack':
      return `sack ${o.blocks.length} ${o.blocks.map(([l, r]) => `{${l}:${r}}`).join('')}`
    case 'timestamp':
      return `TS val ${o.value} ecr ${o.echo}`
    case 'unknown':
      return `unknown-${o.type} 0x${hexOf(o.data)}`
  }
}

// tcpdump's flag letters, in its table order (print-tcp.c): ACK is '.', CWR is 'W'.
const TCPDUMP_FLAGS: Array<[number, string]> = [
  [0x01, 'F'],
  [0x02, 'S'],
  [0x04, 'R'],
  [0x08, 'P'],
  [0x10, '.'],
  [0x20, 'U'],
  [0x40, 'E'],
  [0x80, 'W'],
]

/** TCP flags as tcpdump prints them inside `Flags [...]` (e.g. `S.` for SYN+ACK). */
export function tcpdumpFlags(flags: number): string {
  let s = ''
  for (const [bit, ch] of TCPDUMP_FLAGS) if (flags & bit) s += ch
  return s === '' ? 'none' : s
}

function endpoint(addr: string, port: number): string {
  return `${addr}.${port}`
}

/** The TCP part of a tcpdump-style line. */
export function tcpToText(t: TcpParsed, src: string, dst: string): string {
  const parts = [`${endpoint(src, t.srcPort)} > ${endpoint(dst, t.dstPort)}: Flags [${tcpdumpFlags(t.flags)}]`]
  if (t.checksumOk === false) parts.push(`cksum 0x${t.checksum.toString(16).padStart(4, '0')} (incorrect)`)
  const len = t.payload.length
  parts.push(len > 0 ? `seq ${t.seq}:${(t.seq + len) >>> 0}` : `seq ${t.seq}`)
  if (t.flags & 0x10) parts.push(`ack ${t.ack}`)
  parts.push(`win ${t.window}`)
  if (t.flags & 0x20) parts.push(`urg ${t.urgent}`)
  if (t.options.length > 0) parts.push(`options [${t.options.map(optionToText).join(',')}]`)
  parts.push(`length ${len}`)
  return parts.join(', ')
}

const ETHERTYPE_NAMES: Record<number, string> = { 0x0800: 'IPv4', 0x0806: 'ARP', 0x86dd: 'IPv6', 0x8100: '802.1Q' }

/** One packet as a tcpdump-style line (`tcpdump -n`, with `-e` style link info for Ethernet). */
export function packetToText(p: DecodedPacket, wireLength: number): string {
  let prefix = ''
  if (p.eth) {
    const e = p.eth
    const type = `ethertype ${ETHERTYPE_NAMES[e.etherType] ?? 'Unknown'} (0x${e.etherType.toString(16).padStart(4, '0')})`
    const vlan = e.vlan ? `vlan ${e.vlan.id}, p ${e.vlan.pcp}, ` : ''
    prefix = `${formatMac(e.src)} > ${formatMac(e.dst)}, ${vlan}${type}, length ${wireLength}: `
  }
  if (p.arp) {
    const a = p.arp
    if (a.op === 1) return `${prefix}ARP, Request who-has ${formatIp(a.targetIp)} tell ${formatIp(a.senderIp)}, length ${p.eth?.payload.length ?? 28}`
    if (a.op === 2) return `${prefix}ARP, Reply ${formatIp(a.senderIp)} is-at ${formatMac(a.senderMac)}, length ${p.eth?.payload.length ?? 28}`
    return `${prefix}ARP, op ${a.op}, length ${p.eth?.payload.length ?? 28}`
  }
  const ip = p.ip
  if (!ip) return `${prefix.replace(/: $/, '')}`
  const v4 = isV4(ip)
  const family = v4 ? 'IP' : 'IP6'
  const src = formatIp(ip.src)
  const dst = formatIp(ip.dst)
  let ipNote = ''
  if (v4 && !ip.checksumOk) ipNote = ' (bad IP cksum)'
  if (p.tcp) return `${prefix}${family}${ipNote} ${tcpToText(p.tcp, src, dst)}`
  if (v4 && ip.isFragment) {
    return `${prefix}${family}${ipNote} ${src} > ${dst}: frag (offset ${ip.fragmentOffset * 8}${ip.moreFragments ? ', MF' : ''}), proto ${ip.protocol}, length ${ip.payload.length}`
  }
  if (!v4 && ip.fragment) {
    return `${prefix}${family} ${src} > ${dst}: frag (offset ${ip.fragment.offset * 8}${ip.fragment.moreFragments ? ', MF' : ''}), proto ${ip.protocol}, length ${ip.payload.length}`
  }
  return `${prefix}${family}${ipNote} ${src} > ${dst}: proto ${ip.protocol}, length ${ip.payload.length}`
}
