/**
 * Presenting decoded packets: the JSON objects of `tcplab decode --json` (a contract: extend, never
 * rename) and one tcpdump-style line per packet.
 */
import type { DecodedPacket } from '../net/packet.js'
import type { Ipv4Parsed } from '../net/ipv4.js'
import type { Ipv6Parsed } from '../net/ipv6.js'
import type { TcpParsed } from '../tcp/segment.js'
import { formatFlags } from '../tcp/segment.js'
import { MPTCP_SUBTYPES, nameOption, type MalformedOption, type NamedOption, type TcpOption } from '../tcp/options.js'
import { formatIp, formatMac } from '../net/addr.js'
import { parseIpv4Options, type Ipv4Option } from '../net/ipv4.js'
import { listIpv6Extensions, type Ipv6Extension } from '../net/ipv6.js'

const hexOf = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')

/** A named option as JSON: its kind, the kind byte (`type`) and its fields, byte fields as hex. */
export function namedOptionToJson(n: NamedOption): Record<string, unknown> {
  switch (n.kind) {
    case 'tfo':
      return { kind: 'tfo', type: n.type, cookie: hexOf(n.cookie) }
    case 'md5':
      return { kind: 'md5', type: 19, digest: hexOf(n.digest) }
    case 'mptcp':
      return { kind: 'mptcp', type: 30, subtype: n.subtype, subtypeName: MPTCP_SUBTYPES[n.subtype] ?? `subtype-${n.subtype}`, flags: n.flags, data: hexOf(n.data) }
    case 'uto':
      return { kind: 'uto', type: 28, minutes: n.minutes, timeout: n.timeout }
    case 'tcpAo':
      return { kind: 'tcpAo', type: 29, keyId: n.keyId, rNextKeyId: n.rNextKeyId, mac: hexOf(n.mac) }
    case 'edo': {
      const j: Record<string, unknown> = { kind: 'edo', type: n.type }
      if (n.headerLength !== undefined) j.headerLength = n.headerLength
      if (n.segmentLength !== undefined) j.segmentLength = n.segmentLength
      return j
    }
  }
}

/** The last entry of a JSON option list whose parse stopped early (decode --json). */
export function malformedToJson(m: MalformedOption): Record<string, unknown> {
  return { kind: 'malformed', code: m.code, type: m.type, offset: m.offset, length: m.length ?? null, message: m.message }
}

/** A TCP option as JSON: `{"kind":"mss","value":1460}`, named kinds with their fields, other data as hex. */
export function optionToJson(o: TcpOption): Record<string, unknown> {
  const named = nameOption(o)
  if (named) return namedOptionToJson(named)
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
    options: t.optionError ? [...t.options.map(optionToJson), malformedToJson(t.optionError)] : t.options.map(optionToJson),
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
    // Issue 15: every field a user may have crafted. Added after the historical ones (extend, never rename).
    j.tos = (ip.dscp << 2) | ip.ecn
    j.dscp = ip.dscp
    j.ecn = ip.ecn
    j.dontFragment = ip.dontFragment
    j.moreFragments = ip.moreFragments
    j.fragmentOffset = ip.fragmentOffset
    if (ip.options.length > 0) {
      const r = parseIpv4Options(ip.options)
      j.options = r.options.map(ipv4OptionToJson)
      if (r.error) (j.options as unknown[]).push({ kind: 'malformed', code: 'IP_ERR_BAD_FIELD', type: r.error.type, offset: r.error.offset, length: r.error.length ?? null, message: r.error.message })
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
  j.trafficClass = ip.trafficClass
  j.dscp = ip.trafficClass >> 2
  j.ecn = ip.trafficClass & 3
  if (ip.extensions.length > 0) j.extensions = listIpv6Extensions(ip.nextHeader, ip.extensions).map(ipv6ExtensionToJson)
  return j
}

/** The four-byte addresses of a route option's data, as written (RFC 791 §3.1 "Record Route"). */
function addressesOf(data: Uint8Array): string[] {
  const out: string[] = []
  for (let i = 0; i + 4 <= data.length; i += 4) out.push(formatIp(data.subarray(i, i + 4)))
  return out
}

/** Internet Timestamp entries (RFC 791 §3.1): times alone (flag 0) or address + time (flags 1 and 3). */
function timestampEntries(o: Extract<Ipv4Option, { kind: 'timestamp' }>): Array<{ addr?: string; time: number }> {
  const hop = o.flag === 0 ? 4 : 8
  const out: Array<{ addr?: string; time: number }> = []
  for (let i = 0; i + hop <= o.data.length; i += hop) {
    const t = o.data.subarray(i + hop - 4, i + hop)
    const time = ((t[0] << 24) | (t[1] << 16) | (t[2] << 8) | t[3]) >>> 0
    out.push(hop === 8 ? { addr: formatIp(o.data.subarray(i, i + 4)), time } : { time })
  }
  return out
}

const IPV4_ROUTE_NAMES: Record<number, string> = { 7: 'rr', 131: 'lsrr', 137: 'ssrr' }

/** One IPv4 option as JSON. */
export function ipv4OptionToJson(o: Ipv4Option): Record<string, unknown> {
  switch (o.kind) {
    case 'eol':
    case 'nop':
      return { kind: o.kind }
    case 'route':
      return { kind: IPV4_ROUTE_NAMES[o.type] ?? 'route', type: o.type, pointer: o.pointer, route: addressesOf(o.data) }
    case 'timestamp':
      return { kind: 'timestamp', type: 68, pointer: o.pointer, overflow: o.overflow, flag: o.flag, entries: timestampEntries(o) }
    case 'unknown':
      return { kind: 'unknown', type: o.type, data: hexOf(o.data) }
  }
}

/** One IPv6 extension header as JSON. */
export function ipv6ExtensionToJson(e: Ipv6Extension): Record<string, unknown> {
  switch (e.kind) {
    case 'hopByHop':
    case 'destination':
      return { kind: e.kind, nextHeader: e.nextHeader, options: hexOf(e.options) }
    case 'routing': {
      const j: Record<string, unknown> = { kind: 'routing', nextHeader: e.nextHeader, routingType: e.routingType, segmentsLeft: e.segmentsLeft }
      if (e.routingType === 0) j.addresses = routingAddresses(e.data)
      else j.data = hexOf(e.data)
      return j
    }
    case 'fragment':
      return { kind: 'fragment', nextHeader: e.nextHeader, offset: e.offset, moreFragments: e.moreFragments, id: e.id }
    case 'ah':
      return { kind: 'ah', nextHeader: e.nextHeader, spi: e.spi, sequence: e.sequence, icv: hexOf(e.icv) }
  }
}

/** Type 0 routing data (RFC 2460 §4.4, deprecated by RFC 5095): 4 reserved bytes, then addresses. */
function routingAddresses(data: Uint8Array): string[] {
  const out: string[] = []
  for (let i = 4; i + 16 <= data.length; i += 16) out.push(formatIp(data.subarray(i, i + 16)))
  return out
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
  const warnings = (p as { warnings?: Array<{ code: string; message: string }> }).warnings
  if (warnings !== undefined && warnings.length > 0) j.warnings = warnings.map((w) => ({ code: w.code, message: w.message }))
  return j
}

// tcpdump's names for option kinds (print-tcp.c tcp_option_values), for kinds shown without their fields.
const TCPDUMP_OPTION_NAMES: Record<number, string> = {
  0: 'eol', 1: 'nop', 2: 'mss', 3: 'wscale', 4: 'sackOK', 5: 'sack', 6: 'echo', 7: 'echoreply', 8: 'TS', 11: 'cc',
  12: 'ccnew', 19: 'md5', 20: 'scps', 28: 'uto', 29: 'tcp-ao', 30: 'mptcp', 34: 'tfo', 254: 'exp',
}

/** A named option the way tcpdump words it (UTO: RFC 5482's granularity bit, not tcpdump's older reading). */
export function namedOptionToText(n: NamedOption): string {
  switch (n.kind) {
    case 'tfo':
      return `${n.type === 34 ? 'tfo' : 'exp-tfo'} ${n.cookie.length === 0 ? 'cookiereq' : `cookie ${hexOf(n.cookie)}`}`
    case 'md5':
      return `md5 ${hexOf(n.digest)}`
    case 'mptcp':
      return `mptcp ${2 + 1 + n.data.length} ${MPTCP_SUBTYPES[n.subtype] ?? `subtype-${n.subtype}`}`
    case 'uto':
      return `uto ${n.timeout} ${n.minutes ? 'min' : 'sec'}`
    case 'tcpAo':
      return `tcp-ao keyid ${n.keyId} rnextkeyid ${n.rNextKeyId} mac 0x${hexOf(n.mac)}`
    case 'edo':
      return `edo${n.headerLength === undefined ? '' : ` hdr ${n.headerLength}`}${n.segmentLength === undefined ? '' : ` seg ${n.segmentLength}`}`
  }
}

/** How tcpdump marks the option it could not read: its name when its length byte made sense, then `[bad opt]`. */
export function malformedToText(m: MalformedOption): string {
  const named = m.code === 'TCP_ERR_BAD_OPTION_LENGTH' && m.length !== undefined && m.length >= 2
  return `${named ? (TCPDUMP_OPTION_NAMES[m.type] ?? `unknown-${m.type}`) : ''}[bad opt]`
}

/** A TCP option the way tcpdump prints it. */
export function optionToText(o: TcpOption): string {
  const named = nameOption(o)
  if (named) return namedOptionToText(named)
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
    case 'unknown': {
      const name = TCPDUMP_OPTION_NAMES[o.type]
      return name === undefined ? `unknown-${o.type} 0x${hexOf(o.data)}` : `${name} (invalid) 0x${hexOf(o.data)}`
    }
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

/**
 * The TCP part of a tcpdump-style line. Empty `src`/`dst` print bare ports (tcpdump's form after IPv6
 * extension headers); `verbose` always shows the checksum verdict, as `tcpdump -v` does.
 */
export function tcpToText(t: TcpParsed, src: string, dst: string, verbose = false): string {
  const ep = (a: string, port: number): string => (a === '' ? String(port) : endpoint(a, port))
  const parts = [`${ep(src, t.srcPort)} > ${ep(dst, t.dstPort)}: Flags [${tcpdumpFlags(t.flags)}]`]
  const ck = `cksum 0x${t.checksum.toString(16).padStart(4, '0')}`
  if (t.checksumOk === false) parts.push(`${ck} (incorrect)`)
  else if (verbose && t.checksumOk === true) parts.push(`${ck} (correct)`)
  const len = t.payload.length
  parts.push(len > 0 ? `seq ${t.seq}:${(t.seq + len) >>> 0}` : `seq ${t.seq}`)
  if (t.flags & 0x10) parts.push(`ack ${t.ack}`)
  parts.push(`win ${t.window}`)
  if (t.flags & 0x20) parts.push(`urg ${t.urgent}`)
  if (t.options.length > 0 || t.optionError) {
    const texts = t.options.map(optionToText)
    if (t.optionError) texts.push(malformedToText(t.optionError))
    parts.push(`options [${texts.join(',')}]`)
  }
  parts.push(`length ${len}`)
  return parts.join(', ')
}

const ETHERTYPE_NAMES: Record<number, string> = { 0x0800: 'IPv4', 0x0806: 'ARP', 0x86dd: 'IPv6', 0x8100: '802.1Q' }

// tcpdump's protocol names (ipproto_values), for `proto TCP (6)` and `next-header TCP (6)`.
const PROTO_NAMES: Record<number, string> = {
  0: 'Options', 1: 'ICMP', 2: 'IGMP', 4: 'IPIP', 6: 'TCP', 17: 'UDP', 41: 'IPv6', 43: 'Routing', 44: 'Fragment',
  47: 'GRE', 50: 'ESP', 51: 'AH', 58: 'ICMPv6', 59: 'NONE', 60: 'Destination', 132: 'SCTP',
}
const protoName = (n: number): string => `${PROTO_NAMES[n] ?? 'unknown'} (${n})`

// RFC 3168 §5 codepoints, as tcpdump appends them to the TOS.
const ECN_TEXT = ['', ',ECT(1)', ',ECT(0)', ',CE']

/** The IPv4 options the way tcpdump -v prints them (print-ip.c): `NOP,RR 1.2.3.4, 0.0.0.0,EOL`. */
export function ipv4OptionsToText(bytes: Uint8Array): string {
  const { options, error } = parseIpv4Options(bytes)
  const out = options.map((o): string => {
    switch (o.kind) {
      case 'eol':
        return 'EOL'
      case 'nop':
        return 'NOP'
      case 'route': {
        const name = o.type === 7 ? 'RR' : o.type === 131 ? 'LSRR' : 'SSRR'
        const length = 3 + o.data.length
        let s = name
        if ((length + 1) & 3) s += ` [bad length ${length}]`
        const ptr = o.pointer - 1
        if (ptr < 3 || (ptr + 1) & 3 || ptr > length + 1) s += ` [bad ptr ${o.pointer}]`
        // A comma after each address already recorded (the pointer is past it).
        for (let i = 0, at = 3; i + 4 <= o.data.length; i += 4, at += 4) s += ` ${formatIp(o.data.subarray(i, i + 4))}${ptr > at ? ',' : ''}`
        return s
      }
      case 'timestamp': {
        const length = 4 + o.data.length
        const hop = o.flag === 0 ? 4 : 8
        let s = 'timestamp TS{'
        if ((length - 4) & (hop - 1)) s += `[bad length ${length}]`
        const ptr = o.pointer - 1
        if (ptr < 4 || (ptr - 4) & (hop - 1) || ptr > length + 1) s += `[bad ptr ${o.pointer}]`
        const kind = ['TSONLY', 'TS+ADDR', undefined, 'PRESPEC'][o.flag]
        let at = 4
        if (kind === undefined) s += `[bad ts type ${o.flag}]`
        else {
          s += kind
          for (const e of timestampEntries(o)) {
            s += `${ptr === at ? ' ^ ' : ' '}${e.time}@${e.addr ?? ''}`
            at += hop
          }
        }
        s += ptr === at ? ' ^ ' : ''
        return s + (o.overflow ? ` [${o.overflow} hops not recorded]} ` : '}')
      }
      case 'unknown': {
        if (o.type === 148) return o.data.length >= 2 && ((o.data[0] << 8) | o.data[1]) !== 0 ? `RA value ${(o.data[0] << 8) | o.data[1]}` : 'RA'
        return o.type === 130 ? 'security' : o.type === 82 ? 'traceroute' : `unknown ${o.type}`
      }
    }
  })
  if (error) out.push(`${PROTO_OPT_NAME(error.type)} [bad length ${error.length ?? 0}]`)
  return out.join(',')
}
const PROTO_OPT_NAME = (t: number): string =>
  ({ 0: 'EOL', 1: 'NOP', 7: 'RR', 68: 'timestamp', 130: 'security', 131: 'LSRR', 137: 'SSRR', 148: 'RA' })[t] ?? `unknown ${t}`

/** The IPv4 header as `tcpdump -v` prints it: `(tos 0x0, ttl 64, id 1, offset 0, flags [DF], proto TCP (6), length 60)`. */
export function ipv4HeaderToText(ip: Ipv4Parsed): string {
  const tos = (ip.dscp << 2) | ip.ecn
  const flags = [ip.moreFragments ? '+' : '', ip.dontFragment ? 'DF' : '', ip.reservedFlag ? 'rsvd' : ''].filter((f) => f !== '')
  let s = `(tos 0x${tos.toString(16)}${ECN_TEXT[ip.ecn]}, ttl ${ip.ttl}, id ${ip.id}, offset ${ip.fragmentOffset * 8}, flags [${flags.length ? flags.join(', ') : 'none'}], proto ${protoName(ip.protocol)}, length ${ip.totalLength}`
  if (ip.options.length > 0) s += `, options (${ipv4OptionsToText(ip.options)})`
  if (!ip.checksumOk) s += `, bad cksum ${ip.checksum.toString(16)}!`
  return s + ')'
}

/** The IPv6 header as `tcpdump -v` prints it: `(class 0xb9, flowlabel 0x12345, hlim 64, next-header TCP (6) payload length: 20)`. */
export function ipv6HeaderToText(ip: Ipv6Parsed): string {
  let s = '('
  if (ip.trafficClass) s += `class 0x${ip.trafficClass.toString(16).padStart(2, '0')}, `
  if (ip.flowLabel) s += `flowlabel 0x${ip.flowLabel.toString(16).padStart(5, '0')}, `
  return s + `hlim ${ip.hopLimit}, next-header ${protoName(ip.nextHeader)} payload length: ${ip.payloadLength})`
}

/** Hop-by-Hop / Destination options in verbose form: `(padn)`, `(pad1)`, `(type 0x..: len=..)`. */
function tlvText(b: Uint8Array): string {
  const out: string[] = []
  for (let i = 0; i < b.length; ) {
    if (b[i] === 0) {
      out.push('(pad1)')
      i++
      continue
    }
    if (i + 1 >= b.length) break
    out.push(b[i] === 1 ? '(padn)' : `(type 0x${b[i].toString(16).padStart(2, '0')}: len=${b[i + 1]})`)
    i += 2 + b[i + 1]
  }
  return out.join('')
}

/** IPv6 extension headers as tcpdump prints them between the addresses and the upper layer. */
export function ipv6ExtensionsToText(ip: Ipv6Parsed, verbose: boolean): string {
  const parts: string[] = []
  let used = 0
  for (const e of listIpv6Extensions(ip.nextHeader, ip.extensions)) {
    switch (e.kind) {
      case 'hopByHop':
        parts.push(verbose ? `HBH ${tlvText(e.options)}` : 'HBH')
        used += e.options.length + 2
        break
      case 'destination':
        parts.push(verbose ? `DSTOPT ${tlvText(e.options)}` : 'DSTOPT')
        used += e.options.length + 2
        break
      case 'routing': {
        const addrs = e.routingType === 0 ? routingAddresses(e.data).map((a, i) => `[${i}]${a}`).join(', ') : ''
        const len = (e.data.length + 4) / 8 - 1
        const type = `type=${e.routingType}${e.routingType === 0 ? ' [Deprecated]' : ''}`
        parts.push(`RT6 (len=${len}, ${type}, segleft=${e.segmentsLeft}${verbose ? ', rsv=0x0' : ''}${addrs ? `, ${addrs}` : ''})`)
        used += e.data.length + 4
        break
      }
      case 'fragment': {
        used += 8
        const rest = ip.payloadLength - used
        parts.push(verbose ? `frag (0x${e.id.toString(16).padStart(8, '0')}:${e.offset * 8}|${rest})` : `frag (${e.offset * 8}|${rest})`)
        break
      }
      case 'ah':
        parts.push(`AH(spi=0x${e.spi.toString(16).padStart(8, '0')},seq=0x${e.sequence.toString(16)}):`)
        used += e.icv.length + 12
        break
    }
  }
  return parts.join(' ')
}

/** Options for {@link packetToText}. */
export interface TextOptions {
  /** `tcpdump -v`: the IP header's fields (TOS/ECN, TTL, id, flags, options; class, flow label), TCP checksum verdicts. */
  verbose?: boolean
}

/** One packet as a tcpdump-style line (`tcpdump -n`, with `-e` style link info for Ethernet; `-v` with opts.verbose). */
export function packetToText(p: DecodedPacket, wireLength: number, opts: TextOptions = {}): string {
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
  const verbose = opts.verbose === true
  let ipNote = ''
  if (v4 && !ip.checksumOk && !verbose) ipNote = ' (bad IP cksum)'
  if (verbose) ipNote = ` ${v4 ? ipv4HeaderToText(ip) : ipv6HeaderToText(ip as Ipv6Parsed)}`
  // tcpdump -v puts an IPv4 packet's header on a line of its own and the upper layer, indented, below.
  const sep = verbose && v4 ? '\n    ' : ' '
  const ext = !v4 && ip.extensions.length > 0 ? ipv6ExtensionsToText(ip, verbose) : ''
  if (p.tcp) {
    if (ext !== '') return `${prefix}${family}${ipNote} ${src} > ${dst}: ${ext} ${tcpToText(p.tcp, '', '', verbose)}`
    return `${prefix}${family}${ipNote}${sep}${tcpToText(p.tcp, src, dst, verbose)}`
  }
  if (ext !== '') return `${prefix}${family}${ipNote} ${src} > ${dst}: ${ext} proto ${ip.protocol}, length ${ip.payload.length}`
  if (v4 && ip.isFragment) {
    return `${prefix}${family}${ipNote} ${src} > ${dst}: frag (offset ${ip.fragmentOffset * 8}${ip.moreFragments ? ', MF' : ''}), proto ${ip.protocol}, length ${ip.payload.length}`
  }
  if (!v4 && ip.fragment) {
    return `${prefix}${family} ${src} > ${dst}: frag (offset ${ip.fragment.offset * 8}${ip.fragment.moreFragments ? ', MF' : ''}), proto ${ip.protocol}, length ${ip.payload.length}`
  }
  return `${prefix}${family}${ipNote} ${src} > ${dst}: proto ${ip.protocol}, length ${ip.payload.length}`
}
