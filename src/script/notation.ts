/**
 * Packets in script notation, worded as packetdrill's DUMP_SHORT prints them in its error messages
 * (`P. 1:1001(1000) ack 1 win 64240 <mss 1460,nop,nop,sackOK>`), and its time formats.
 */
import type { TcpOption } from '../tcp/options.js'

/** Flag bits of the 12-bit flags field (bits 0..7 of byte 13, AE is bit 0 of byte 12's low nibble). */
export const F = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10, URG: 0x20, ECE: 0x40, CWR: 0x80, AE: 0x100 } as const

/** A TCP segment as the engine compares it: in script space (mapped) or live. */
export interface SegmentFields {
  srcPort: number
  dstPort: number
  seq: number
  ack: number
  /** 12 bits, see {@link F}. */
  flags: number
  /** Header length in 32-bit words. */
  doff: number
  window: number
  urgent: number
  options: TcpOption[]
  payload: Uint8Array
}

/** An IP packet carrying a TCP segment, with the IP fields the checks read. */
export interface PacketFields {
  version: 4 | 6
  src: Uint8Array
  dst: Uint8Array
  /** IPv4 TOS or IPv6 traffic class. */
  tos: number
  /** TTL or hop limit. */
  ttl: number
  flowLabel: number
  /** IPv4 protocol or IPv6 next header. */
  protocol: number
  /** IPv4 header length in words (5 for IPv6, unused). */
  ihl: number
  /** IPv4 total length or IPv6 payload length. */
  ipLen: number
  tcp: SegmentFields
  /** Script packets: false when no `win` was written (any window). */
  winCheck: boolean
  /** Script packets: false for `<...>` (any options). */
  optionsCheck: boolean
  /** Script packets written with an AccECN digit (ACE) instead of E/W/A letters. */
  ace: boolean
}

/** `%9.6f` of microseconds as seconds: packetdrill's packet dump time. */
export function secsPadded(usecs: number): string {
  return secs(usecs).padStart(9, ' ')
}

/** `%.6f` of microseconds as seconds. */
export function secs(usecs: number): string {
  const neg = usecs < 0
  const a = Math.round(Math.abs(usecs))
  const s = `${Math.floor(a / 1e6)}.${String(a % 1e6).padStart(6, '0')}`
  return neg && a !== 0 ? `-${s}` : s
}

/** `%+.6f` of microseconds as seconds. */
export function secsSigned(usecs: number): string {
  const s = secs(usecs)
  return s.startsWith('-') ? s : `+${s}`
}

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')

/** The numeric kind of an option (what packetdrill's messages call `kind=N`). */
export function optionKind(o: TcpOption): number {
  switch (o.kind) {
    case 'eol': return 0
    case 'nop': return 1
    case 'mss': return 2
    case 'wscale': return 3
    case 'sackPermitted': return 4
    case 'sack': return 5
    case 'timestamp': return 8
    case 'unknown': return o.type
  }
}

/** One option as packetdrill prints it (`mss 1460`, `TS val 1 ecr 0`, `FO abcd`). */
export function formatOption(o: TcpOption): string {
  switch (o.kind) {
    case 'eol': return 'eol'
    case 'nop': return 'nop'
    case 'mss': return `mss ${o.value}`
    case 'wscale': return `wscale ${o.shift}`
    case 'sackPermitted': return 'sackOK'
    case 'sack': return `sack ${o.blocks.map(([l, r]) => `${l >>> 0}:${r >>> 0}`).join(' ')}`
    case 'timestamp': return `TS val ${o.value >>> 0} ecr ${o.echo >>> 0}`
    case 'unknown': {
      if (o.type === 34) return o.data.length > 0 ? `FO ${hex(o.data)}` : 'FO'
      if (o.type === 254 && o.data.length >= 2 && o.data[0] === 0xf9 && o.data[1] === 0x89) {
        return o.data.length > 2 ? `FOEXP ${hex(o.data.subarray(2))}` : 'FOEXP'
      }
      if (o.type === 19) return o.data.length > 0 ? `md5 ${hex(o.data)}` : 'md5'
      if (o.type === 172 || o.type === 174) {
        const labels = o.type === 172 ? ['e0b', 'ceb', 'e1b'] : ['e1b', 'ceb', 'e0b']
        let s = 'ECN'
        for (let i = 0; i + 3 <= o.data.length && i / 3 < 3; i += 3) {
          s += ` ${labels[i / 3]} ${(o.data[i]! << 16) | (o.data[i + 1]! << 8) | o.data[i + 2]!}`
        }
        return s
      }
      // packetdrill refuses to print other kinds; a readable stand-in beats losing the whole dump.
      return `kind ${o.type} len ${o.data.length + 2}`
    }
  }
}

/** The flag letters in tcpdump's order, with `.` for ACK, as packetdrill prints them. */
export function formatFlagLetters(flags: number, ace: boolean): string {
  let s = ''
  if (flags & F.FIN) s += 'F'
  if (flags & F.SYN) s += 'S'
  if (flags & F.RST) s += 'R'
  if (flags & F.PSH) s += 'P'
  if (flags & F.ACK) s += '.'
  if (flags & F.URG) s += 'U'
  if (ace) s += String((flags & F.ECE ? 1 : 0) | (flags & F.CWR ? 2 : 0) | (flags & F.AE ? 4 : 0))
  else {
    if (flags & F.ECE) s += 'E'
    if (flags & F.CWR) s += 'W'
    if (flags & F.AE) s += 'A'
  }
  return s
}

/** A TCP packet in packetdrill's short notation, trailing space included where packetdrill leaves one. */
export function formatPacket(p: PacketFields): string {
  const t = p.tcp
  const len = t.payload.length
  let s = `${formatFlagLetters(t.flags, p.ace)} ${t.seq >>> 0}:${(t.seq + len) >>> 0}(${len}) `
  if (t.flags & F.ACK) s += `ack ${t.ack >>> 0} `
  if (p.winCheck) s += `win ${t.window} `
  if (t.options.length > 0) s += `<${t.options.map(formatOption).join(',')}>`
  return s
}
