/**
 * Outbound packet checks in packetdrill's order and words: IP header fields, then TCP header fields
 * (`live packet field tcp_ack: expected: 1 (0x1) vs actual: 0 (0x0)`), then options, then payload.
 * Both packets are in script space (the live one already mapped) when these run.
 */
import { optionLen, type TcpOption } from '../tcp/options.js'
import { F, formatOption, optionKind, type PacketFields } from './notation.js'

/** packetdrill's check_field message, or undefined when the values agree. */
export function checkField(name: string, expected: number, actual: number): string | undefined {
  const e = expected >>> 0
  const a = actual >>> 0
  if (e === a) return undefined
  return `live packet field ${name}: expected: ${e} (0x${e.toString(16)}) vs actual: ${a} (0x${a.toString(16)})`
}

const bit = (flags: number, b: number): number => (flags & b ? 1 : 0)

/** Bytes of options the `<...>` wildcard lets through: the actual packet's whole option space. */
function optionsAllowance(actual: PacketFields, script: PacketFields): number {
  return script.optionsCheck ? 0 : (actual.tcp.doff - 5) * 4
}

/**
 * The IP and TCP header checks. `strict` is the final check of a (possibly aggregated) packet; non-strict is
 * packetdrill's compatibility check between consecutive pieces of one TSO-sized packet (then `script` is the
 * previous piece and `seq` must continue it).
 */
export function verifyHeaders(actual: PacketFields, script: PacketFields, strict: boolean): string | undefined {
  if (actual.version !== script.version) {
    const name = (v: 4 | 6): string => (v === 4 ? 'IPV4' : 'IPV6')
    return `live packet header layer 0: expected: ${name(script.version)} header vs actual: ${name(actual.version)} header`
  }
  const allowance = optionsAllowance(actual, script)
  let err: string | undefined
  if (script.version === 4) {
    err =
      checkField('ipv4_version', 4, actual.version) ??
      checkField('ipv4_protocol', script.protocol, actual.protocol) ??
      checkField('ipv4_header_length', script.ihl, actual.ihl) ??
      (strict ? checkField('ipv4_total_length', script.ipLen + allowance, actual.ipLen) : undefined)
  } else {
    err =
      checkField('ipv6_version', 6, actual.version) ??
      (strict ? checkField('ipv6_payload_len', script.ipLen + allowance, actual.ipLen) : undefined) ??
      checkField('ipv6_next_header', script.protocol, actual.protocol)
  }
  if (err) return err
  err = verifyTos(actual, script)
  if (err) return err
  const s = script.tcp
  const a = actual.tcp
  const scriptPayload = s.payload.length
  return (
    checkField('tcp_data_offset', s.doff + allowance / 4, a.doff) ??
    (strict ? checkField('tcp_fin', bit(s.flags, F.FIN), bit(a.flags, F.FIN)) : undefined) ??
    checkField('tcp_syn', bit(s.flags, F.SYN), bit(a.flags, F.SYN)) ??
    checkField('tcp_rst', bit(s.flags, F.RST), bit(a.flags, F.RST)) ??
    (strict ? checkField('tcp_psh', bit(s.flags, F.PSH), bit(a.flags, F.PSH)) : undefined) ??
    checkField('tcp_ack', bit(s.flags, F.ACK), bit(a.flags, F.ACK)) ??
    checkField('tcp_urg', bit(s.flags, F.URG), bit(a.flags, F.URG)) ??
    (script.ace
      ? checkField('tcp_ace', ace(s.flags), ace(a.flags))
      : (checkField('tcp_ece', bit(s.flags, F.ECE), bit(a.flags, F.ECE)) ??
        (strict ? checkField('tcp_cwr', bit(s.flags, F.CWR), bit(a.flags, F.CWR)) : undefined) ??
        checkField('tcp_ae', bit(s.flags, F.AE), bit(a.flags, F.AE)))) ??
    checkField('tcp_reserved_bits', (s.flags >> 9) & 7, (a.flags >> 9) & 7) ??
    (strict ? checkField('tcp_seq', s.seq, a.seq) : checkField('tcp_seq', s.seq + scriptPayload, a.seq)) ??
    checkField('tcp_ack_seq', s.ack, a.ack) ??
    (script.winCheck ? checkField('tcp_window', s.window, a.window) : undefined) ??
    checkField('tcp_urg_ptr', s.urgent, a.urgent)
  )
}

function ace(flags: number): number {
  return (flags & F.AE ? 4 : 0) | (flags & F.CWR ? 2 : 0) | (flags & F.ECE ? 1 : 0)
}

/** What the script asks of the TOS byte and TTL (nothing unless written). */
export interface IpChecks {
  ecn?: 'noecn' | 'ect0' | 'ect1' | 'ce' | 'ect01'
  tos?: number
  ttl?: number
}

const ECN_BITS = { noecn: 0, ect1: 1, ect0: 2, ce: 3 } as const

/** The IP checks the script's annotations ask for; kept on the packet so verifyHeaders can see them. */
const IP_CHECKS = new WeakMap<PacketFields, IpChecks>()

/** Attaches a script packet's `[ect0]`/`(tos …)`/`ttl` checks. */
export function setIpChecks(p: PacketFields, c: IpChecks): void {
  IP_CHECKS.set(p, c)
}

function verifyTos(actual: PacketFields, script: PacketFields): string | undefined {
  const c = IP_CHECKS.get(script)
  if (!c) return undefined
  const ecn = actual.tos & 3
  if (c.ecn === 'ect01') {
    if (ecn !== 1 && ecn !== 2) return `live packet field ip_ecn: expected: 0x1 or 0x2 vs actual: 0x${ecn.toString(16)}`
  } else if (c.ecn !== undefined) {
    const e = checkField('ip_ecn', ECN_BITS[c.ecn], ecn)
    if (e) return e
  } else if (c.tos !== undefined) {
    const e = checkField('tos', c.tos, actual.tos)
    if (e) return e
  }
  if (c.ttl !== undefined) return checkField('ttl', c.ttl, actual.ttl)
  return undefined
}

function sameValue(a: TcpOption, s: TcpOption): boolean {
  switch (s.kind) {
    case 'mss':
      return a.kind === 'mss' && a.value === s.value
    case 'wscale':
      return a.kind === 'wscale' && a.shift === s.shift
    case 'sackPermitted':
      return a.kind === 'sackPermitted'
    case 'sack':
      return a.kind === 'sack' && s.blocks.every(([l, r], i) => a.blocks[i] !== undefined && (a.blocks[i]![0] >>> 0) === (l >>> 0) && (a.blocks[i]![1] >>> 0) === (r >>> 0))
    case 'unknown':
      return a.kind === 'unknown' && s.data.every((b, i) => a.data[i] === b)
    default:
      return true
  }
}

/**
 * The options check: same kinds in the same order ("bad outbound TCP options"), then each option's length
 * and value; a TS val only when `tsTickUsecs` is set (within `tsToleranceUsecs`), never the TS ecr.
 */
export function verifyOptions(actual: PacketFields, script: PacketFields, tsTickUsecs: number, tsToleranceUsecs: number): string | undefined {
  if (!script.optionsCheck) return undefined
  const a = actual.tcp.options
  const s = script.tcp.options
  for (let i = 0; i < Math.max(a.length, s.length); i++) {
    const ao = a[i]
    const so = s[i]
    if (ao === undefined || so === undefined || optionKind(ao) !== optionKind(so)) return 'bad outbound TCP options'
    if (ao.kind === 'eol' || ao.kind === 'nop') continue
    if (ao.kind === 'timestamp' && so.kind === 'timestamp') {
      const diff = Math.abs(((ao.value - so.value) | 0))
      if (tsTickUsecs && diff * tsTickUsecs > tsToleranceUsecs) return `bad outbound TCP timestamp value, tolerance ${Math.trunc(tsToleranceUsecs)}`
      continue
    }
    let errType: string | undefined
    if (optionLen(so) !== optionLen(ao)) errType = 'bad length'
    if (optionLen(so) > 2 && !sameValue(ao, so)) errType = 'bad value'
    if (errType) return `${errType} in outbound TCP option (kind=${optionKind(so)}): expected: ${formatOption(so)} actual: ${formatOption(ao)}`
  }
  return undefined
}

/** The payload check: script payloads are zeros, as packetdrill's writes send from a zeroed buffer. */
export function verifyPayload(actual: PacketFields, script: PacketFields): string | undefined {
  const a = actual.tcp.payload
  const s = script.tcp.payload
  for (let i = 0; i < s.length; i++) if (a[i] !== s[i]) return 'incorrect outbound data payload'
  return undefined
}
