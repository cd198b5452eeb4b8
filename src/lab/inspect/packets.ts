/**
 * `tcplab inspect FILE --packets`: one line per TCP packet in the decode command's tcpdump style, led by
 * the frame number, the time since the capture's first packet and the connection's number, with seq and
 * ack relative per connection (tcpdump's and Wireshark's default) unless `absolute`.
 */
import { formatIp } from '../../net/addr.js'
import type { TcpOption } from '../../tcp/options.js'
import { formatFlags, TcpFlags } from '../../tcp/segment.js'
import { optionToJson, optionToText, tcpdumpFlags } from '../format.js'
import type { InspectedPacket } from './index.js'

/** Options of {@link packetLine} and {@link packetToJson}. */
export interface PacketFormatOptions {
  /** Sequence numbers as on the wire, not relative to each end's first one. */
  absolute?: boolean
}

/** One packet of `--packets --json` (a contract: extend, never rename). */
export interface PacketJson {
  /** 1-based packet number in the capture (tshark's frame number). */
  frame: number
  /** Microseconds since the capture's first packet. */
  timeUs: number
  /** The connection's number, as in the reports. */
  connection: number
  family: 4 | 6
  src: string
  srcPort: number
  dst: string
  dstPort: number
  /** Flag letters in FSRPAUEC order, as `decode --json`. */
  flags: string
  /** Relative to the sender's (ack: the receiver's) first sequence number, or as on the wire with --absolute. */
  seq: number
  ack: number | null
  /** As on the wire. */
  seqRaw: number
  ackRaw: number | null
  /** Payload bytes. */
  len: number
  window: number
  options: Array<Record<string, unknown>>
  /** 'ok', 'bad', 'partial' (left for checksum offload) or 'unchecked' (the capture cut the packet). */
  checksum: string
  ipChecksumOk: boolean
}

const rel = (v: number, base: number | undefined, absolute: boolean | undefined): number =>
  absolute || base === undefined ? v >>> 0 : (v - base) >>> 0

/** Seconds since the capture's first packet with six decimals, from nanoseconds (no float rounding). */
function secondsText(ns: bigint): string {
  const neg = ns < 0n
  const us = (neg ? -ns : ns) / 1000n
  return `${neg ? '-' : ''}${us / 1_000_000n}.${String(us % 1_000_000n).padStart(6, '0')}`
}

/** Options as tcpdump prints them, SACK blocks relative to the receiver's base like its seq (RFC 2018 §3). */
function optionsText(options: readonly TcpOption[], peerBase: number | undefined, absolute: boolean | undefined): string {
  return options
    .map((o) => (o.kind === 'sack' ? `sack ${o.blocks.length} ${o.blocks.map(([l, r]) => `{${rel(l, peerBase, absolute)}:${rel(r, peerBase, absolute)}}`).join('')}` : optionToText(o)))
    .join(',')
}

/**
 * The packet's line: `   12 0.000514 #3 IP 198.18.0.1.40000 > 198.18.0.2.8080: Flags [P.], seq 1:13, ack 1,
 * win 502, options [nop,nop,TS val 1 ecr 2], length 12`.
 */
export function packetLine(p: InspectedPacket, opts: PacketFormatOptions = {}): string {
  const s = p.seg
  const c = p.context
  const family = s.family === 4 ? 'IP' : 'IP6'
  const parts = [`${formatIp(s.src)}.${s.srcPort} > ${formatIp(s.dst)}.${s.dstPort}: Flags [${tcpdumpFlags(s.flags)}]`]
  if (s.checksum === 'bad') parts.push('cksum incorrect')
  else if (s.checksum === 'partial') parts.push('cksum incorrect (left for offload)')
  const seq = rel(s.seq, c.seqBase, opts.absolute)
  parts.push(s.payloadLen > 0 ? `seq ${seq}:${(seq + s.payloadLen) >>> 0}` : `seq ${seq}`)
  if (s.flags & TcpFlags.ACK) parts.push(`ack ${rel(s.ack, c.ackBase, opts.absolute)}`)
  parts.push(`win ${s.window}`)
  if (s.options.length > 0) parts.push(`options [${optionsText(s.options, c.ackBase, opts.absolute)}]`)
  parts.push(`length ${s.payloadLen}`)
  const head = `${String(p.frame).padStart(5)} ${secondsText(p.relativeNs)} #${c.connection}`
  return `${head} ${family}${s.ipChecksumOk ? '' : ' (bad IP cksum)'} ${parts.join(', ')}`
}

/** The packet as one `--packets --json` object. */
export function packetToJson(p: InspectedPacket, opts: PacketFormatOptions = {}): PacketJson {
  const s = p.seg
  const c = p.context
  const hasAck = (s.flags & TcpFlags.ACK) !== 0
  return {
    frame: p.frame,
    timeUs: Number(p.relativeNs / 1000n),
    connection: c.connection,
    family: s.family,
    src: formatIp(s.src),
    srcPort: s.srcPort,
    dst: formatIp(s.dst),
    dstPort: s.dstPort,
    flags: formatFlags(s.flags),
    seq: rel(s.seq, c.seqBase, opts.absolute),
    ack: hasAck ? rel(s.ack, c.ackBase, opts.absolute) : null,
    seqRaw: s.seq >>> 0,
    ackRaw: hasAck ? s.ack >>> 0 : null,
    len: s.payloadLen,
    window: s.window,
    options: s.options.map(optionToJson),
    checksum: s.checksum,
    ipChecksumOk: s.ipChecksumOk,
  }
}
