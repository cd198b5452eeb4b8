/**
 * What `tcplab inspect` says about one TCP connection: the report type (also the `--json` schema, one
 * object per line: extend it, never rename a field), the summary of a whole capture, and the aligned text
 * form of both.
 */
import type { TcpOption } from '../../tcp/options.js'

/** Which end of a connection: the one that sent the first SYN (client) or the one that answered it. */
export type Role = 'client' | 'server'

/** An IP address (RFC 5952 text for IPv6) and a port. */
export interface EndpointReport {
  ip: string
  port: number
}

/** The handshake options one end put on its SYN or SYN+ACK. */
export interface OfferedOptions {
  /** MSS option value (RFC 9293 §3.7.1), or null when absent. */
  mss: number | null
  /** Window scale shift count as sent (RFC 7323 §2), or null when absent. */
  wscale: number | null
  /** SACK-permitted (RFC 2018 §2). */
  sackPermitted: boolean
  /** Timestamps option present (RFC 7323 §3). */
  timestamps: boolean
  /** Kinds of any other options in order (e.g. 30 MPTCP, 34 TCP Fast Open). */
  other: number[]
}

/** What both ends' SYNs add up to. */
export interface NegotiatedOptions {
  /**
   * Largest segment each way: the receiving end's MSS option, or without one the RFC 9293 §3.7.1 default
   * (536 for IPv4, 1220 for IPv6). MSS is announced, not negotiated: each direction has its own.
   */
  mss: { clientToServer: number; serverToClient: number }
  /** Shift counts in use, only when both ends sent the option (RFC 7323 §2.2); above 14 counts as 14. */
  windowScale: { client: number; server: number } | null
  /** Both ends sent SACK-permitted. */
  sack: boolean
  /** Both ends sent timestamps. */
  timestamps: boolean
}

/** One RST. */
export interface ResetReport {
  by: Role
  /** Sequence number as on the wire. */
  seq: number
  /** Sequence number relative to the sender's ISN + 1 (as Wireshark shows it), or null without an ISN. */
  relativeSeq: number | null
  /** Acknowledgment number when the ACK flag was set, else null. */
  ack: number | null
  /** Microseconds after the connection's first packet. */
  timeUs: number
}

/** How a connection ended (the first of FIN-both-ways or RST decides). */
export type EndReason = 'closed' | 'reset' | 'refused' | 'open' | 'half-closed' | 'incomplete'

/** What the capture shows of the three-way handshake. */
export type HandshakeStatus = 'complete' | 'incomplete' | 'refused' | 'not-seen'

/** Something unusual. Counted per kind and end, so a report stays small whatever the capture holds. */
export type AnomalyKind =
  | 'bad-checksum'
  | 'bad-ip-checksum'
  | 'ack-does-not-acknowledge-syn'
  | 'synack-does-not-acknowledge-syn'
  | 'data-on-syn'
  | 'handshake-incomplete'
  | 'segment-not-captured'
  | 'window-scale-too-large'

/** One kind of anomaly seen from one end. */
export interface Anomaly {
  kind: AnomalyKind
  /** The end that sent the packets concerned (null for the connection as a whole). */
  by: Role | null
  /** How many packets showed it (1 for connection-level anomalies). */
  count: number
  /** 1-based number of the first such packet within the connection (0 for connection-level anomalies). */
  firstPacket: number
  /** One line for people. */
  message: string
  /**
   * bad-checksum only: every checksum this end sent was wrong and the capture was most likely taken on
   * its host, where checksum offload leaves outgoing checksums for the NIC to finish.
   */
  possiblyOffloaded?: boolean
}

/** One segment kept for a ladder diagram (only when asked for: see InspectOptions.keepSegments). */
export interface SegmentRecord {
  from: Role
  /** Microseconds after the connection's first packet. */
  timeUs: number
  flags: number
  seq: number
  ack: number
  len: number
  window: number
  options: TcpOption[]
  /** "retransmission", "bad checksum"… */
  notes: string[]
}

/** Everything `tcplab inspect` reports about one TCP connection (the `--json` line, minus `segments`). */
export interface ConnectionReport {
  /** 1-based, in order of each connection's first packet in the capture. */
  index: number
  family: 4 | 6
  client: EndpointReport
  server: EndpointReport
  /** How client and server were told apart: the SYN, the SYN+ACK, or (neither seen) the higher port is the client. */
  rolesFrom: 'syn' | 'syn-ack' | 'ports'
  /** Time of the first packet: ISO 8601 and microseconds since the epoch. */
  start: string
  startUs: number
  /** From the first to the last packet, in microseconds. */
  durationUs: number
  isn: { client: number | null; server: number | null }
  options: { client: OfferedOptions | null; server: OfferedOptions | null }
  /** Null unless both the SYN and the SYN+ACK were captured. */
  negotiated: NegotiatedOptions | null
  handshake: HandshakeStatus
  /**
   * Handshake round trips as seen where the capture was taken, in microseconds: client = the last SYN
   * before the first SYN+ACK → that SYN+ACK; server = the last SYN+ACK before the handshake's ACK → that
   * ACK. Captured on the client's host, clientUs is the whole round trip and serverUs the client's
   * turnaround; on the server's host, the other way round. Null when not measurable.
   */
  rtt: { clientUs: number | null; serverUs: number | null }
  /** SYNs the client sent again with the same ISN. */
  retransmittedSyns: number
  /** SYN+ACKs the server sent again with the same ISN. */
  retransmittedSynAcks: number
  /** At most {@link MAX_RESETS_KEPT} RSTs in capture order; `resetCount` has them all. */
  resets: ResetReport[]
  resetCount: number
  /**
   * Payload bytes each way, by sequence space: the highest sequence number sent minus the first, so a
   * retransmitted byte counts once (and bytes the capture missed but the sequence numbers cover count too).
   */
  bytes: { clientToServer: number; serverToClient: number }
  /** Data segments that carried nothing new (retransmissions, as far as the capture shows). */
  retransmittedSegments: { clientToServer: number; serverToClient: number }
  ended: EndReason
  /** Who sent the RST (reset, refused), the first FIN (closed), the only FIN (half-closed); else null. */
  endedBy: Role | null
  anomalies: Anomaly[]
  packets: { total: number; clientToServer: number; serverToClient: number }
  /** Reported early because the connection table was full; later packets of it form a new entry. */
  evicted: boolean
  /** Kept segments for {@link toLadder}, when asked for; never part of the JSON. */
  segments?: SegmentRecord[]
  /** When more segments came than were kept: the middle ones between `segments` head and tail; never in the JSON. */
  segmentsElided?: ElidedSegments
  /** Some packet of it matched the inspect filter (set only when one did); never in the JSON. */
  matched?: boolean
}

/** The middle of a long connection, left out of `segments` (which hold its first and last ones). */
export interface ElidedSegments {
  /** How many of `segments` come before the gap. */
  after: number
  /** Segments left out. */
  count: number
  /** The left-out ones that can change a state (SYN, FIN, RST, some ACKs), options dropped: for state inference only. */
  inference: SegmentRecord[]
}

/** At most this many RSTs are listed per connection (all are counted). */
export const MAX_RESETS_KEPT = 16

/** Totals over a whole capture. */
export interface InspectSummary {
  /** Connections reported. */
  connections: number
  /** Packets read from the capture. */
  packets: number
  tcpPackets: number
  /** Packets skipped: no IP in them, IP but not TCP, IP fragments, undecodable. */
  skipped: { notIp: number; notTcp: number; fragments: number; malformed: number }
  /** Packets on link types tcplab cannot decode, by LINKTYPE_ number. */
  unsupportedLinkTypes: Record<string, number>
  /** Most connections tracked at once, and the limit. */
  maxTracked: number
  maxConnections: number
  /** Connections reported early because the table was full. */
  evicted: number
  /** False when the capture ended in the middle of a record (the reports cover what was read). */
  complete: boolean
  /** With a filter only: TCP packets that matched it, and connections reported for having one. */
  matchedPackets?: number
  matchedConnections?: number
}

/** The report as one JSON object (no kept segments). */
export function reportToJson(r: ConnectionReport): Omit<ConnectionReport, 'segments' | 'segmentsElided' | 'matched'> {
  const { segments: _segments, segmentsElided: _elided, matched: _matched, ...rest } = r
  return rest
}

/** Address and port as text: `198.18.0.1:40000`, `[2001:2::1]:40000`. */
export function endpointText(e: EndpointReport): string {
  return e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`
}

/** Microseconds as milliseconds with three decimals ("0.123 ms"). */
export function msText(us: number): string {
  return `${(us / 1000).toFixed(3)} ms`
}

function optionsText(o: OfferedOptions | null, what: string): string {
  if (o === null) return `(no ${what} captured)`
  const parts: string[] = []
  parts.push(o.mss === null ? 'no MSS' : `MSS ${o.mss}`)
  parts.push(o.wscale === null ? 'no wscale' : `wscale ${o.wscale}`)
  parts.push(o.sackPermitted ? 'SACK' : 'no SACK')
  parts.push(o.timestamps ? 'TS' : 'no TS')
  if (o.other.length > 0) parts.push(`other kinds ${o.other.join(',')}`)
  return parts.join('  ')
}

const yesNo = (b: boolean): string => (b ? 'yes' : 'no')

/** One line on how the connection ended. */
export function endedText(r: ConnectionReport): string {
  switch (r.ended) {
    case 'closed':
      return `closed with FIN both ways${r.endedBy ? ` (${r.endedBy} closed first)` : ''}`
    case 'reset':
      return `reset by ${r.endedBy ?? 'unknown'}`
    case 'refused':
      return `refused (RST from ${r.endedBy ?? 'server'} in answer to the SYN)`
    case 'half-closed':
      return `still open, half-closed (FIN from ${r.endedBy ?? 'one end'} only) when the capture ends`
    case 'incomplete':
      return 'handshake never completed'
    case 'open':
      return 'still open when the capture ends'
  }
}

/** Options of {@link formatReport}. */
export interface FormatOptions {
  /** Sequence numbers of RSTs as on the wire instead of relative to the sender's ISN. */
  absolute?: boolean
}

/** The text report of one connection: a heading and aligned `label  value` lines. */
export function formatReport(r: ConnectionReport, opts: FormatOptions = {}): string[] {
  const rows: Array<[string, string]> = []
  const roles = r.rolesFrom === 'syn' ? '' : r.rolesFrom === 'syn-ack' ? ' (roles from the SYN+ACK)' : ' (no SYN captured: roles guessed from the ports)'
  const head = `#${r.index}  ${endpointText(r.client)} → ${endpointText(r.server)}  IPv${r.family}, client → server${roles}${r.evicted ? '  [reported early: table full]' : ''}`
  const hs =
    r.handshake === 'complete' ? 'complete' : r.handshake === 'refused' ? 'refused' : r.handshake === 'not-seen' ? 'not captured (connection already open)' : 'never completed'
  rows.push(['handshake', hs])
  const rtt: string[] = []
  if (r.rtt.clientUs !== null) rtt.push(`client ${msText(r.rtt.clientUs)} (SYN→SYN+ACK)`)
  if (r.rtt.serverUs !== null) rtt.push(`server ${msText(r.rtt.serverUs)} (SYN+ACK→ACK)`)
  if (rtt.length > 0) rows.push(['RTT', `${rtt.join('   ')}   as seen at the capture point`])
  rows.push(['ISN', `client ${r.isn.client ?? '-'}   server ${r.isn.server ?? '-'}`])
  if (r.options.client !== null || r.options.server !== null) {
    rows.push(['options', `client  ${optionsText(r.options.client, 'SYN')}`])
    rows.push(['', `server  ${optionsText(r.options.server, 'SYN+ACK')}`])
  }
  const n = r.negotiated
  if (n !== null) {
    const ws = n.windowScale === null ? 'window scale off' : `window scale client ${n.windowScale.client} / server ${n.windowScale.server}`
    rows.push([
      'negotiated',
      `MSS ${n.mss.clientToServer} client→server / ${n.mss.serverToClient} server→client   ${ws}   SACK ${yesNo(n.sack)}   timestamps ${yesNo(n.timestamps)}`,
    ])
  }
  rows.push(['retransmitted', `SYN ${r.retransmittedSyns}   SYN+ACK ${r.retransmittedSynAcks}   data segments ${r.retransmittedSegments.clientToServer} client→server / ${r.retransmittedSegments.serverToClient} server→client`])
  rows.push(['bytes', `client→server ${r.bytes.clientToServer}   server→client ${r.bytes.serverToClient}`])
  rows.push(['ended', endedText(r)])
  if (r.resetCount > 0) {
    const list = r.resets.map((x) => {
      const s = opts.absolute || x.relativeSeq === null ? `seq ${x.seq}` : `seq ${x.relativeSeq} (relative)`
      return `by ${x.by} ${s} at +${msText(x.timeUs)}`
    })
    if (r.resetCount > r.resets.length) list.push(`… ${r.resetCount - r.resets.length} more`)
    rows.push(['resets', list.join('; ')])
  }
  if (r.anomalies.length === 0) rows.push(['anomalies', 'none'])
  else r.anomalies.forEach((a, i) => rows.push([i === 0 ? 'anomalies' : '', a.message]))
  rows.push([
    'packets',
    `${r.packets.total} (client→server ${r.packets.clientToServer}, server→client ${r.packets.serverToClient}) over ${msText(r.durationUs)}, from ${r.start}`,
  ])
  const w = Math.max(...rows.map((x) => x[0].length))
  return [head, ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`.trimEnd())]
}

/** The closing line of a text report. */
export function formatSummary(s: InspectSummary): string {
  const skipped = s.skipped.notIp + s.skipped.notTcp + s.skipped.fragments + s.skipped.malformed
  const parts = [
    `${s.connections} TCP connection${s.connections === 1 ? '' : 's'} in ${s.packets} packets (${s.tcpPackets} TCP`,
  ]
  let tail = ')'
  if (skipped > 0) {
    const why: string[] = []
    if (s.skipped.notIp > 0) why.push(`${s.skipped.notIp} not IP`)
    if (s.skipped.notTcp > 0) why.push(`${s.skipped.notTcp} not TCP`)
    if (s.skipped.fragments > 0) why.push(`${s.skipped.fragments} IP fragments`)
    if (s.skipped.malformed > 0) why.push(`${s.skipped.malformed} malformed`)
    tail = `, skipped ${why.join(', ')})`
  }
  const unsupported = Object.entries(s.unsupportedLinkTypes).map(([lt, c]) => `${c} on unsupported link type ${lt}`)
  let line = parts[0] + tail
  if (unsupported.length > 0) line += `; ${unsupported.join(', ')}`
  if (s.evicted > 0) line += `; ${s.evicted} reported early (more than ${s.maxConnections} connections at once)`
  if (s.matchedPackets !== undefined) {
    line += `; the filter matched ${s.matchedPackets} packet${s.matchedPackets === 1 ? '' : 's'} in ${s.matchedConnections ?? 0} connection${s.matchedConnections === 1 ? '' : 's'}`
  }
  if (!s.complete) line += '; the capture is truncated'
  return line
}

/** One line per connection (`inspect --summary`): who, how it ended, packets, bytes each way, duration. */
export function summaryLine(r: ConnectionReport): string {
  const parts = [`#${r.index}`, `${endpointText(r.client)} → ${endpointText(r.server)}`, `IPv${r.family}`, endedText(r)]
  if (r.rtt.clientUs !== null) parts.push(`RTT ${msText(r.rtt.clientUs)}`)
  parts.push(`${r.packets.total} packet${r.packets.total === 1 ? '' : 's'}`)
  parts.push(`${r.bytes.clientToServer}/${r.bytes.serverToClient} bytes`)
  parts.push(`over ${msText(r.durationUs)}`)
  const odd = r.anomalies.length
  if (odd > 0) parts.push(`${odd} anomal${odd === 1 ? 'y' : 'ies'}`)
  if (r.evicted) parts.push('[reported early: table full]')
  return parts.join('  ')
}
