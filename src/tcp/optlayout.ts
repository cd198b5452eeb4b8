/**
 * The option layout of every segment a TCB or listener sends: the only place that builds SYN, SYN+ACK
 * and data-segment option lists. Which options a segment carries is the caller's decision (RFC 9293
 * §3.7.1 MSS, RFC 7323 window scale and timestamps, RFC 2018 SACK); their order and NOP padding is the
 * profile's:
 * - 'rfc': tcplab's own layout, kept byte for byte as it has always been: MSS, then timestamps (preceded
 *   by SACK-permitted or by NOP,NOP), then NOP,WS, and without timestamps NOP,NOP,SACK-permitted last.
 * - 'linux': as Linux's tcp_options_write() lays them out, pinned against kernel captures in
 *   test/fixtures/linux-syn (MSS, SACK_PERM, TS, NOP, WS; without timestamps MSS, NOP, NOP, SACK_PERM,
 *   NOP, WS). The two differ only when SACK-permitted is offered without timestamps.
 * Data segments carry NOP,NOP,TS (RFC 7323 Appendix A) and NOP,NOP,SACK (RFC 2018) in both profiles,
 * which is also Linux's layout. The window field of a SYN or SYN+ACK is chosen here too, per profile.
 */
import type { Seq } from './seq.js'
import type { TcpOption } from './options.js'
import type { TcpProfile } from './types.js'

const NOP: TcpOption = Object.freeze({ kind: 'nop' }) as TcpOption
const SACK_PERM: TcpOption = Object.freeze({ kind: 'sackPermitted' }) as TcpOption
/** The shared empty option list (frozen: never push onto it). */
export const NO_OPTIONS: TcpOption[] = Object.freeze([]) as unknown as TcpOption[]

/** What a SYN or SYN+ACK offers; undefined leaves an option out. */
export interface SynOffer {
  /** MSS to announce (RFC 9293 §3.7.1). */
  mss: number
  /** Offer SACK-permitted (RFC 2018). */
  sackPermitted: boolean
  /** Timestamp option values (RFC 7323 §3), or undefined for none. */
  tsVal: number | undefined
  /** TSecr: 0 in a SYN, the peer's TSval in a SYN+ACK. */
  tsEcr: number
  /** Window-scale shift to offer (RFC 7323 §2), or undefined for none. */
  wscale: number | undefined
}

/** The options of a SYN or SYN+ACK under `profile`. */
export function synOptions(profile: TcpProfile, offer: SynOffer): TcpOption[] {
  const o: TcpOption[] = [{ kind: 'mss', value: offer.mss }]
  const ts = offer.tsVal !== undefined
  const sack = offer.sackPermitted
  if (ts) {
    // Both profiles: SACK_PERM fills the two bytes before TS that would otherwise be NOP,NOP.
    if (sack) o.push(SACK_PERM)
    else o.push(NOP, NOP)
    o.push({ kind: 'timestamp', value: offer.tsVal!, echo: offer.tsEcr })
  } else if (sack && profile === 'linux') {
    o.push(NOP, NOP, SACK_PERM) // Linux: ahead of the window scale (OPTION_SACK_ADVERTISE before OPTION_WSCALE)
  }
  if (offer.wscale !== undefined) o.push(NOP, { kind: 'wscale', shift: offer.wscale })
  if (sack && !ts && profile === 'rfc') o.push(NOP, NOP, SACK_PERM)
  return o
}

/**
 * The options of a segment without SYN: NOP,NOP,TS when timestamps are in use, then NOP,NOP,SACK with
 * `blocks` when there are any (RFC 2018 §3: at most 3 blocks beside a timestamp, 4 without).
 */
export function dataOptions(ts: boolean, tsVal: number, tsEcr: number, blocks: Array<[Seq, Seq]> | undefined): TcpOption[] {
  const sack = blocks !== undefined && blocks.length > 0
  if (!ts && !sack) return NO_OPTIONS
  const o: TcpOption[] = []
  if (ts) o.push(NOP, NOP, { kind: 'timestamp', value: tsVal, echo: tsEcr })
  if (sack) o.push(NOP, NOP, { kind: 'sack', blocks })
  return o
}

/** Linux's initial receive space: tcp_rmem[1] (128 KiB) at the initial scaling ratio of ½ (tcp_win_from_space). */
export const LINUX_INITIAL_RCV_SPACE = 65536

/**
 * The window field of a SYN or SYN+ACK (never scaled, RFC 7323 §2.2). 'rfc': min(rcvBuf, 65535). 'linux':
 * as tcp_select_initial_window picks it, the initial receive space, at most `rcvBuf`, rounded down to a
 * multiple of `mss` (the MSS we announce, less 12 octets in a SYN+ACK once timestamps are agreed), at most
 * 65535: 64240 with an MSS of 1460, 65160 with 1448.
 */
export function synWindow(profile: TcpProfile, rcvBuf: number, mss: number): number {
  if (profile === 'rfc') return Math.min(rcvBuf, 0xffff)
  let space = Math.min(rcvBuf, LINUX_INITIAL_RCV_SPACE)
  if (space > mss) space -= space % mss
  return Math.min(space, 0xffff)
}
