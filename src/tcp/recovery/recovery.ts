/**
 * The interface between the state machine and its loss recovery, and the state every recovery shares.
 *
 * The shape is gVisor's (`lossRecovery`, implemented by sackRecovery and renoRecovery, with rackControl
 * apart) and Linux's (tcp_input.c's fast-retransmit state machine, tcp_recovery.c for RACK): the TCB keeps
 * the sequence space, the send buffer, the RTT estimator and the timers; the recovery decides which ACKs
 * mean loss, what is resent and when, and sets the window while recovery lasts (through the congestion
 * controller's `setRecoveryWindow`, cc/).
 *
 * The boundary: the TCB hands the recovery a {@link RecoveryHost}, a narrow view of itself (read-only
 * SND.UNA/SND.NXT/SND.MAX/SND.WND and segment sizes, the congestion controller, the timer record, the
 * counters and the trace, and four actions: take a cumulative ACK, build a segment, plan new data, forget
 * the RTT sample being timed). The recovery never moves SND.UNA or SND.NXT itself, and never touches the
 * receive side. The TCB calls the recovery at fixed points of RFC 9293 §3.10.7 and of dispatch/pollAt:
 * {@link LossRecovery} lists them in the order they occur.
 */
import type { CongestionControl } from '../cc/index.js'
import { CwndUsage } from '../cwnd-usage.js'
import type { RecoveryInfo, TcbStats } from '../info.js'
import type { TcpRepr } from '../segment.js'
import { seqDiff, seqGe, type Seq } from '../seq.js'
import type { RttEstimator } from '../snd.js'
import type { TcbTimers } from '../timers.js'
import type { RecoveryEvent, TimerKind, TraceEvent, TraceListener } from '../trace.js'
import type { TcpConfig, TcpState } from '../types.js'

/** What a loss recovery may see of and ask from its TCB. */
export interface RecoveryHost {
  readonly config: TcpConfig
  readonly cc: CongestionControl
  readonly timers: TcbTimers
  readonly stats: TcbStats
  readonly rtt: RttEstimator
  readonly state: TcpState
  readonly sndUna: Seq
  readonly sndNxt: Seq
  readonly sndMax: Seq
  /** SND.WND in bytes (scaled). */
  readonly sndWnd: number
  /** Eff.snd.MSS less the timestamp option (the SMSS of RFC 5681). */
  readonly effMss: number
  /** The payload room of the next segment (effMss less the SACK blocks it carries). */
  segMss(): number
  /** Our TSval for a time (µs). */
  tsVal(t: number): number
  /** The cumulative part of an ACK of new data (RFC 9293 §3.10.7.4 fifth, RFC 6298 §5.2/§5.3). */
  ackAdvance(now: number, ack: Seq): void
  /** Octets the next new segment would carry (−1: none may go); `ignoreCwnd` for a probe. */
  planData(ignoreCwnd: boolean): number
  /** A data segment at `at` of up to `max` octets; `resend` leaves SND.NXT alone. */
  buildSegment(now: number, at: Seq, max: number, resend: boolean): TcpRepr
  /** Karn (RFC 6298 §3): the segment being timed gives no RTT sample. */
  forgetRttSample(): void
  /** Emits a 'timer' trace event. */
  emitTimer(now: number, timer: TimerKind): void
  /** The trace sink, undefined when nobody listens (events are then not built). */
  readonly trace: ((e: TraceEvent) => void) | undefined
}

/** The actions a loss recovery may ask of its TCB (the rest of {@link RecoveryHost} is state to read). */
export type RecoveryActions = Pick<
  RecoveryHost,
  'segMss' | 'tsVal' | 'ackAdvance' | 'planData' | 'buildSegment' | 'forgetRttSample' | 'emitTimer'
>

/** The public state of a TCB that {@link RecoveryView} reads (a Tcb is one). */
export type RecoverySource = Pick<
  RecoveryHost,
  'config' | 'cc' | 'timers' | 'stats' | 'rtt' | 'state' | 'sndUna' | 'sndNxt' | 'sndMax' | 'sndWnd' | 'effMss'
> & { readonly onEvent: TraceListener | undefined }

/**
 * A TCB as its loss recovery sees it: its public state read live, plus the actions the TCB hands over. A
 * class rather than an object literal with getters, so that every connection's view shares one hidden
 * class and the recovery's property reads stay monomorphic (literals with getters cost the seeded
 * simulation a third of its speed).
 */
export class RecoveryView implements RecoveryHost {
  readonly config: TcpConfig
  readonly cc: CongestionControl
  readonly timers: TcbTimers
  readonly stats: TcbStats
  readonly rtt: RttEstimator
  readonly segMss: RecoveryActions['segMss']
  readonly tsVal: RecoveryActions['tsVal']
  readonly ackAdvance: RecoveryActions['ackAdvance']
  readonly planData: RecoveryActions['planData']
  readonly buildSegment: RecoveryActions['buildSegment']
  readonly forgetRttSample: RecoveryActions['forgetRttSample']
  readonly emitTimer: RecoveryActions['emitTimer']
  private readonly emit = (e: TraceEvent): void => this.t.onEvent?.(e, this.t)

  constructor(
    private readonly t: RecoverySource,
    a: RecoveryActions,
  ) {
    this.config = t.config
    this.cc = t.cc
    this.timers = t.timers
    this.stats = t.stats
    this.rtt = t.rtt
    this.segMss = a.segMss
    this.tsVal = a.tsVal
    this.ackAdvance = a.ackAdvance
    this.planData = a.planData
    this.buildSegment = a.buildSegment
    this.forgetRttSample = a.forgetRttSample
    this.emitTimer = a.emitTimer
  }

  get state(): TcpState {
    return this.t.state
  }
  get sndUna(): Seq {
    return this.t.sndUna
  }
  get sndNxt(): Seq {
    return this.t.sndNxt
  }
  get sndMax(): Seq {
    return this.t.sndMax
  }
  get sndWnd(): number {
    return this.t.sndWnd
  }
  get effMss(): number {
    return this.t.effMss
  }
  get trace(): ((e: TraceEvent) => void) | undefined {
    return this.t.onEvent ? this.emit : undefined
  }
}

/**
 * Loss recovery as the TCB calls it: NewReno (newreno.ts) when SACK was not agreed, RFC 6675 with
 * RACK-TLP (sack-recovery.ts) when it was.
 */
export interface LossRecovery {
  /** RFC 6582's `recover` (RFC 6675's RecoveryPoint): SND.MAX when recovery or the last RTO began. */
  readonly recover: Seq
  /** RFC 6675 §4 pipe: octets outstanding and neither SACKed nor deemed lost (FlightSize without SACK). */
  readonly pipe: number
  /** Segments sent and not yet acknowledged (Linux's packets_out; with SACK, the transmission log's records). */
  readonly packetsOut: number
  /**
   * An acceptable ACK in a synchronized state (§3.10.7.4 fifth), with the segment's SACK blocks and the
   * TSecr it echoes (0: none). Calls the host's `ackAdvance` for the cumulative part.
   */
  onAck(now: number, ack: Seq, dup: boolean, blocks: ReadonlyArray<readonly [Seq, Seq]> | undefined, tsEcr: number): void
  /** From the host's `ackAdvance`, as soon as SND.UNA moved to `ack`. */
  onUnaAdvanced(ack: Seq): void
  /**
   * From the host's `ackAdvance`, after its RTT sample (`sample`, µs, if one was taken): the congestion
   * controller's RTT sample and window for `acked` new octets, in recovery or not.
   */
  onAckedData(now: number, acked: number, sample: number | undefined): void
  /** The retransmission timer expired outside the handshake (RFC 5681 §3.1, RFC 6582 §4), before backoff. */
  onRto(now: number): void
  /** After the RTO's backoff: true when the recovery resends what it marked lost, false to go back N. */
  rtoRecovery(now: number): boolean
  /** Runs the recovery's own timers that are due (the PTO, RACK's reordering timer). */
  onTimers(now: number): void
  /** Octets past SND.NXT that the congestion state lets out now (may be ≤ 0); `ignoreCwnd` for a probe. */
  sendWindow(ignoreCwnd: boolean): number
  /** pollAt: is a (re)transmission due now? `ready`: the connection is in a state that sends data. */
  wantsToSend(ready: boolean): boolean
  /** dispatch, before new data: a retransmission to send now, if any. */
  retransmission(now: number, ready: boolean): TcpRepr | undefined
  /** dispatch, when no new data may go: a last retransmission (RFC 6675 NextSeg rules 3 and 4), if any. */
  rescue(now: number): TcpRepr | undefined
  /** A new segment [at, next) is being sent for the first time. */
  onSent(at: Seq, next: Seq, now: number): void
  /** dispatch sent new data (RFC 8985 §7.2: (re)arm the PTO). */
  onNewDataSent(now: number): void
  /** The connection closed: nothing more is pending. */
  onClose(): void
  /** TCP_INFO's ca state and segment counts; `started`: our SYN has been acknowledged. */
  info(started: boolean): RecoveryInfo
  /** The recovery's invariants once the SYN is acknowledged; a description of the first one broken. */
  check(): string | undefined
}

/**
 * What NewReno and the SACK recovery both keep (Linux's icsk_ca_state with tp->high_seq): the duplicate
 * ACK count, `recover`, whether fast recovery is on, and the loss state after an RTO.
 */
export abstract class BaseRecovery implements LossRecovery {
  /** Duplicate ACKs in a row (RFC 5681 §2). */
  protected dupAcks = 0
  recover: Seq
  /** In fast recovery (RFC 6582 §3.2, RFC 6675 §5). */
  protected inRecovery = false
  /** After an RTO until SND.UNA passes what was outstanding then (Linux's TCP_CA_Loss). */
  protected caLoss = false
  /** The congestion controller's RTT sample for the ACK being processed, when the recovery took one (µs). */
  protected ccRtt: number | undefined = undefined
  /** How much of cwnd the sender used (cwnd-usage.ts): the 'linux' profile grows cwnd only when it did. */
  protected readonly usage: CwndUsage
  /** The 'linux' profile: Linux's window growth and PRR (the subclasses say where). */
  protected readonly linux: boolean

  constructor(
    protected readonly host: RecoveryHost,
    recover: Seq,
  ) {
    this.recover = recover
    this.usage = new CwndUsage(recover)
    this.linux = host.config.profile === 'linux'
  }

  /** After a new segment went out: what it left of the window, for cwnd validation (Linux's tcp_cwnd_validate). */
  protected noteSend(next: Seq): void {
    const h = this.host
    this.usage.onSend(h.sndUna, next, this.packetsOut, this.pipe + h.effMss > h.cc.cwnd)
  }

  /**
   * Linux's window growth outside recovery (tcp_cong_avoid behind tcp_may_raise_cwnd and
   * tcp_is_cwnd_limited): only on an ACK that moved SND.UNA, only while cwnd is being used, by what the ACK
   * delivered (`delivered` octets: newly acknowledged or newly SACKed).
   */
  protected linuxGrowth(now: number, delivered: number): void {
    const h = this.host
    const mss = h.effMss
    if (delivered <= 0 || !this.usage.mayGrow(Math.floor(h.cc.cwnd / mss), h.cc.cwnd < h.cc.ssthresh)) return
    h.cc.onAck(delivered, mss, now)
  }

  abstract get pipe(): number
  abstract get packetsOut(): number
  abstract onAck(
    now: number,
    ack: Seq,
    dup: boolean,
    blocks: ReadonlyArray<readonly [Seq, Seq]> | undefined,
    tsEcr: number,
  ): void
  abstract rtoRecovery(now: number): boolean
  abstract onTimers(now: number): void
  abstract sendWindow(ignoreCwnd: boolean): number
  abstract wantsToSend(ready: boolean): boolean
  abstract retransmission(now: number, ready: boolean): TcpRepr | undefined
  abstract rescue(now: number): TcpRepr | undefined
  abstract onSent(at: Seq, next: Seq, now: number): void
  abstract onNewDataSent(now: number): void
  abstract onClose(): void
  abstract info(started: boolean): RecoveryInfo
  abstract check(): string | undefined
  /** The window on an ACK of `acked` new octets, in recovery or not. */
  protected abstract ackWindow(now: number, acked: number): void

  onUnaAdvanced(ack: Seq): void {
    if (this.caLoss && seqGe(ack, this.recover)) this.caLoss = false
  }

  onAckedData(now: number, acked: number, sample: number | undefined): void {
    const h = this.host
    // The congestion controller's RTT sample (Linux's ca_rtt, which HyStart reads): with SACK, taken from
    // the transmission log, to the µs and on every ACK; otherwise it is the RTO estimator's.
    const ccRtt = this.ccRtt ?? sample
    this.ccRtt = undefined
    if (ccRtt !== undefined) h.cc.onRttSample(ccRtt, now, h.effMss, h.sndUna, h.sndMax)
    this.ackWindow(now, acked)
    this.dupAcks = 0
    // Nothing outstanding: the PTO and RACK's reordering timer stop, as the RTO does (RFC 6298 §5.2).
    if (h.sndUna === h.sndMax) {
      h.timers.pto = undefined
      h.timers.reo = undefined
    }
  }

  onRto(now: number): void {
    const h = this.host
    // RFC 5681 §3.1 equation (4) and the loss window of one segment (the congestion controller's
    // reduction); RFC 6582 §4: recover ← highest sent.
    h.cc.onRto(seqDiff(h.sndMax, h.sndUna), h.effMss, now)
    this.inRecovery = false
    this.caLoss = true
    this.recover = h.sndMax
    this.dupAcks = 0
  }

  /** Linux's ca state: Loss after an RTO, Recovery, Disorder (duplicate ACKs, or `sacked`), else Open. */
  protected caState(inLoss: boolean, sacked: boolean): RecoveryInfo['caState'] {
    return this.caLoss || inLoss ? 'loss' : this.inRecovery ? 'recovery' : this.dupAcks > 0 || sacked ? 'disorder' : 'open'
  }

  /** Emits a 'recovery' trace event. */
  protected recoveryEvent(now: number, event: RecoveryEvent): void {
    const h = this.host
    if (h.trace) {
      const { cwnd, ssthresh } = h.cc
      h.trace({ type: 'recovery', now, event, sndUna: h.sndUna, recover: this.recover, cwnd, ssthresh })
    }
  }
}
