/**
 * Trace events (gVisor keeps the same idea in its tcp probe): every state transition with the sequence
 * variables after it, every segment in and out, every drop with its reason, every timer that fires.
 * Ladder diagrams are drawn from these. Events are built only when a listener is attached, so an
 * untraced TCB allocates nothing for them.
 */
import type { Seq } from './seq.js'
import type { TcpRepr } from './segment.js'
import { TcpFlags } from './segment.js'
import type { TcpErrorCode, TcpState } from './types.js'

/** Why an incoming segment was discarded (all cases of RFC 9293 §3.10.7 plus RFC 5961 and RFC 7323). */
export type DropReason =
  | 'closed'
  | 'no-syn-or-rst' // SYN-SENT: neither SYN nor RST (§3.10.7.3 fifth)
  | 'bad-ack' // SYN-SENT/SYN-RECEIVED: unacceptable ACK, answered with RST
  | 'rst-bad-ack' // SYN-SENT: RST whose ACK does not acknowledge our SYN
  | 'paws' // RFC 7323 §5.3 R1
  | 'out-of-window' // §3.10.7.4 first check
  | 'rst-in-window' // RFC 5961 §3.2: answered with a challenge ACK
  | 'syn-in-window' // RFC 5961 §4.2: answered with a challenge ACK
  | 'no-ack' // §3.10.7.4 fifth: ACK bit off
  | 'ack-unsent' // SEG.ACK > SND.NXT (§3.10.7.4, RFC 5961 §5.2)
  | 'ack-too-old' // SEG.ACK < SND.UNA − MAX.SND.WND (RFC 5961 §5.2)
  | 'ooo-full' // out-of-order data refused: too many holes
  | 'after-fin' // data after the peer's FIN (§3.10.7.4 seventh)
  | 'backlog-full' // LISTEN: SYN dropped, half-open or accept queue full
  | 'listen' // LISTEN: RST ignored, or a segment with neither SYN nor ACK (§3.10.7.2)

/** Timers that can fire: 'tlp' is RFC 8985's probe timeout (PTO), 'rack' its reordering timer. */
export type TimerKind = 'retransmit' | 'persist' | 'time-wait' | 'delayed-ack' | 'tlp' | 'rack'

/**
 * Loss-recovery milestones: 'enter' and 'exit' fast recovery (RFC 6582 or RFC 6675), 'rto' (RTO recovery
 * begins, RFC 6675 §5.1 / RFC 8985 §6.3), 'tlp-repair' (a probe repaired a loss, RFC 8985 §7.4),
 * 'reneging' (the peer dropped data it had SACKed, RFC 2018 §8).
 */
export type RecoveryEvent = 'enter' | 'exit' | 'rto' | 'tlp-repair' | 'reneging'

/** What marked a segment lost: RACK (RFC 8985 §6.2), RFC 6675 IsLost / DupThresh, or an RTO (§6.3). */
export type LossSource = 'rack' | 'dupthresh' | 'rto'

/** One trace record; `now` is in µs. */
export type TraceEvent =
  | {
      type: 'state'
      now: number
      from: TcpState
      to: TcpState
      cause: string
      sndUna: Seq
      sndNxt: Seq
      sndWnd: number
      rcvNxt: Seq
      rcvWnd: number
    }
  | { type: 'segment-in'; now: number; seg: TcpRepr }
  | { type: 'segment-out'; now: number; seg: TcpRepr; retransmit: boolean }
  | { type: 'drop'; now: number; seg: TcpRepr; reason: DropReason }
  | { type: 'timer'; now: number; timer: TimerKind; backoff: number }
  | { type: 'rtt'; now: number; sample: number; srtt: number; rttvar: number; rto: number }
  | { type: 'error'; now: number; code: TcpErrorCode; reason: string }
  | { type: 'urgent'; now: number; up: Seq }
  | { type: 'recovery'; now: number; event: RecoveryEvent; sndUna: Seq; recover: Seq; cwnd: number; ssthresh: number }
  | { type: 'lost'; now: number; start: Seq; end: Seq; by: LossSource }

/** The callback a TCB or listener calls for each event; `source` is the TCB or the Listener that emits it. */
export type TraceListener = (event: TraceEvent, source: unknown) => void

const FLAG_NAMES: Array<[number, string]> = [
  [TcpFlags.SYN, 'SYN'],
  [TcpFlags.FIN, 'FIN'],
  [TcpFlags.RST, 'RST'],
  [TcpFlags.PSH, 'PSH'],
  [TcpFlags.ACK, 'ACK'],
  [TcpFlags.URG, 'URG'],
  [TcpFlags.ECE, 'ECE'],
  [TcpFlags.CWR, 'CWR'],
]

/** Flags as "SYN,ACK" (empty string for none). */
export function flagString(flags: number): string {
  let s = ''
  for (const [bit, name] of FLAG_NAMES) if (flags & bit) s += s ? ',' + name : name
  return s
}

/** A one-line summary of a segment, tcpdump-like: `[SYN,ACK] seq=… ack=… win=… len=…`. */
export function segmentSummary(seg: TcpRepr): string {
  let s = `[${flagString(seg.flags)}] seq=${seg.seq}`
  if (seg.flags & TcpFlags.ACK) s += ` ack=${seg.ack}`
  s += ` win=${seg.window} len=${seg.payload.length}`
  if (seg.flags & TcpFlags.URG) s += ` up=${seg.urgent}`
  for (const o of seg.options) {
    if (o.kind === 'mss') s += ` mss=${o.value}`
    else if (o.kind === 'wscale') s += ` ws=${o.shift}`
    else if (o.kind === 'sackPermitted') s += ' sackOK'
    else if (o.kind === 'timestamp') s += ` ts=${o.value}/${o.echo}`
    else if (o.kind === 'sack') s += ` sack=${o.blocks.map(([a, b]) => `${a}-${b}`).join(',')}`
  }
  return s
}

/** A one-line rendering of any trace event (used to print a failing simulation seed). */
export function formatEvent(e: TraceEvent): string {
  const t = (e.now / 1000).toFixed(3).padStart(10) + 'ms'
  switch (e.type) {
    case 'state':
      return `${t} ${e.from} -> ${e.to} (${e.cause}) una=${e.sndUna} nxt=${e.sndNxt} swnd=${e.sndWnd} rnxt=${e.rcvNxt} rwnd=${e.rcvWnd}`
    case 'segment-in':
      return `${t} <- ${segmentSummary(e.seg)}`
    case 'segment-out':
      return `${t} -> ${segmentSummary(e.seg)}${e.retransmit ? ' (rtx)' : ''}`
    case 'drop':
      return `${t} drop ${e.reason}: ${segmentSummary(e.seg)}`
    case 'timer':
      return `${t} timer ${e.timer} backoff=${e.backoff}`
    case 'rtt':
      return `${t} rtt sample=${e.sample} srtt=${Math.round(e.srtt)} rttvar=${Math.round(e.rttvar)} rto=${e.rto}`
    case 'error':
      return `${t} error ${e.code}: ${e.reason}`
    case 'urgent':
      return `${t} urgent up=${e.up}`
    case 'recovery':
      return `${t} recovery ${e.event} una=${e.sndUna} recover=${e.recover} cwnd=${e.cwnd} ssthresh=${e.ssthresh}`
    case 'lost':
      return `${t} lost ${e.start}-${e.end} (${e.by})`
    default: {
      const never: never = e
      return String(never)
    }
  }
}
