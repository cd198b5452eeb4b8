/**
 * The TCP state machine (RFC 9293), in smoltcp's shape: `process(now, seg)` takes one incoming segment,
 * `dispatch(now)` yields at most one segment to send (call it until it returns undefined), `pollAt()` says
 * when a timer next needs `dispatch`. No I/O, no timers, no clock: time comes in as `now` (µs, see
 * types.ts), randomness only through the ISN hook. Segments carry no addresses; the caller demultiplexes.
 *
 * Incoming segments follow RFC 9293 §3.10.7 step by step (the comments name the step), hardened by
 * RFC 5961 (challenge ACKs) and RFC 7323 (PAWS). Retransmission follows RFC 6298; congestion control is a
 * module chosen by name (cc/: RFC 5681 Reno, or RFC 9438 CUBIC; MUST-19).
 * Policies live beside the state machine: cc/, the option layout (optlayout.ts), the timers (timers.ts),
 * and for the 'linux' profile quick ACKs (quickack.ts) and Linux's RTO (rto.ts). Loss recovery is its own
 * module (recovery/), chosen when the handshake ends: when both ends agreed on SACK, RFC 6675 with RACK-TLP
 * loss detection (RFC 8985); without SACK, NewReno (RFC 6582). The TCB calls it on every acceptable ACK,
 * on an RTO, from its timers, and from dispatch/pollAt for what to (re)send; its design choices are in
 * its files. What TCP_INFO reports is info.ts. Where we follow Linux rather than the letter of an RFC, the
 * comment says "Linux".
 *
 * Design choices where the RFCs leave room:
 * - RTO minimum 200 ms, as Linux (TCP_RTO_MIN), rather than RFC 6298 §2.4's 1 s (a SHOULD): the lab talks
 *   to Linux peers over veths with sub-millisecond RTTs, and a 1 s floor would make every loss a visible
 *   one-second stall that no Linux peer shows.
 * - The RTO backoff is cleared by an ACK of data sent only once, or whose echo shows the original arrived
 *   (a spurious timeout, RFC 3522), not only by a fresh RTT sample (RFC 8961 §4 (4); Linux resets it on
 *   every ACK with a timestamp). Without this a few losses in a row at 20% left RTOs of tens of seconds.
 * - Without SACK, after an RTO we go back N (SND.NXT ← SND.UNA) and let slow start resend (newreno.ts);
 *   with SACK, SND.NXT stays at SND.MAX and the recovery resends what it marked lost (sack-recovery.ts).
 * - A zero-window probe carries no data and the sequence number SND.UNA - 1, as Linux's (RFC 9293
 *   §3.8.6.1 allows it or one octet of new data; see dataSegment for why not the octet); sent after one RTO
 *   and backed off exponentially; probes answered by the peer do not count toward the retry limit (MUST-37).
 */
import { seq, seqAdd, seqDiff, seqGe, seqGt, seqInWindow, seqLe, seqLt, type Seq } from './seq.js'
import { TcpFlags, type TcpRepr } from './segment.js'
import { newSegOpts, scanSegOpts, type SegOpts, type TcpOption } from './options.js'
import { NO_OPTIONS, dataOptions, synOptions, synWindow } from './optlayout.js'
import { defaultSecret, isnFor, tsOffsetFor } from './isn.js'
import { RecvBuffer, sackBlocks } from './rcv.js'
import { EMPTY, PushMarks, RttEstimator, RttTiming, SendBuffer } from './snd.js'
import type { DropReason, TimerKind, TraceListener } from './trace.js'
import { createCongestionControl, type CongestionControl } from './cc/index.js'
import { TIMEOUT_MIN, TcbTimers } from './timers.js'
import { RecoveryView, createRecovery, type LossRecovery, type RecoveryHost } from './recovery/index.js'
import { newStats, tcbInfo, type TcbInfo, type TcbStats } from './info.js'
import { QuickAck } from './quickack.js'
import { LinuxRttEstimator } from './rto.js'
import { GsoPacket, linuxTsoSegs } from './tso.js'
import type { FastOpenClient } from './fastopen.js'
import {
  resolveConfig,
  type FourTuple,
  type TcpConfig,
  type TcpError,
  type TcpState,
} from './types.js'

const { FIN, SYN, RST, PSH, ACK, URG } = TcpFlags

/** Smallest peer MSS we honour (Linux's tcp_min_snd_mss default). */
export const MIN_SND_MSS = 48

/** Linux's TCP_DELACK_MAX (µs): the longest an ACK is delayed. */
const DELACK_MAX = 200_000

/** RFC 7323 §5.5: TS.Recent older than 24 days is stale and no longer used for PAWS (µs). */
const PAWS_IDLE = 24 * 24 * 3600 * 1_000_000

/** Errors raised by user calls made in the wrong state (RFC 9293 §3.10: "error: connection closing"...). */
export class TcpUserError extends Error {
  override readonly name = 'TcpUserError'
  constructor(
    readonly code: 'ENOTCONN' | 'EPIPE' | 'ECONNRESET' | 'ECONNREFUSED' | 'ETIMEDOUT' | 'ECONNABORTED',
    message: string,
  ) {
    super(message)
  }
}

/** Every legal transition of RFC 9293 Figure 5, plus the reset/abort/timeout edges to CLOSED. */
export const LEGAL_TRANSITIONS: Readonly<Record<TcpState, readonly TcpState[]>> = Object.freeze({
  CLOSED: ['SYN-SENT', 'LISTEN'],
  LISTEN: ['SYN-RECEIVED', 'SYN-SENT', 'CLOSED'],
  'SYN-SENT': ['SYN-RECEIVED', 'ESTABLISHED', 'CLOSED'],
  'SYN-RECEIVED': ['ESTABLISHED', 'FIN-WAIT-1', 'CLOSED', 'LISTEN'],
  ESTABLISHED: ['FIN-WAIT-1', 'CLOSE-WAIT', 'CLOSED'],
  'FIN-WAIT-1': ['FIN-WAIT-2', 'CLOSING', 'TIME-WAIT', 'CLOSED'],
  'FIN-WAIT-2': ['TIME-WAIT', 'CLOSED'],
  'CLOSE-WAIT': ['LAST-ACK', 'CLOSED'],
  CLOSING: ['TIME-WAIT', 'CLOSED'],
  'LAST-ACK': ['CLOSED'],
  'TIME-WAIT': ['CLOSED'],
})

export type { CaState, TcbInfo, TcbStats } from './info.js'

/**
 * RFC 9293 §3.10.7.1: the reply to a segment that belongs to no connection (CLOSED). An incoming RST is
 * never answered. With ACK set: <SEQ=SEG.ACK><CTL=RST>; otherwise <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>,
 * where SEG.LEN counts SYN and FIN.
 */
export function rstForClosed(seg: TcpRepr): TcpRepr | undefined {
  if (seg.flags & RST) return undefined
  if (seg.flags & ACK) {
    return {
      srcPort: seg.dstPort,
      dstPort: seg.srcPort,
      seq: seg.ack,
      ack: seq(0),
      flags: RST,
      window: 0,
      urgent: 0,
      options: NO_OPTIONS,
      payload: EMPTY,
    }
  }
  const len = seg.payload.length + (seg.flags & SYN ? 1 : 0) + (seg.flags & FIN ? 1 : 0)
  return {
    srcPort: seg.dstPort,
    dstPort: seg.srcPort,
    seq: seq(0),
    ack: seqAdd(seg.seq, len),
    flags: RST | ACK,
    window: 0,
    urgent: 0,
    options: NO_OPTIONS,
    payload: EMPTY,
  }
}

/** Called by a listener's child on every transition, so the listener can keep its backlog counts. */
export type StateHook = (tcb: Tcb, from: TcpState, to: TcpState) => void

/** One TCP connection: a Transmission Control Block and the RFC 9293 state machine around it. */
export class Tcb {
  private _state: TcpState
  /** Set when the connection ended abnormally (reset, refused, timed out). */
  error: TcpError | undefined
  /** Trace callback: every transition, segment, drop and timer. Built only when set. */
  onEvent: TraceListener | undefined
  /** True when this TCB was spawned by a listener (passive OPEN). */
  readonly passive: boolean
  /** Resolved configuration. */
  readonly config: TcpConfig
  /** Counters. */
  readonly stats: TcbStats = newStats()

  // --- send sequence space (RFC 9293 §3.3.1) ---
  /** Initial send sequence number. */
  readonly iss: Seq
  /** Oldest unacknowledged sequence number. */
  sndUna: Seq
  /** Next sequence number to send (moves back to SND.UNA after an RTO: go-back-N). */
  sndNxt: Seq
  /** Highest sequence number sent so far (BSD's snd_max): the upper bound for acceptable ACKs. */
  sndMax: Seq
  /** Send window in bytes (already scaled). */
  sndWnd = 0
  /** Segment sequence number used for the last window update. */
  sndWl1: Seq
  /** Segment acknowledgment number used for the last window update. */
  sndWl2: Seq
  /** Largest window the peer has offered (RFC 5961 §5.2's MAX.SND.WND). */
  maxSndWnd = 0
  /** Peer's window-scale shift (0 unless both sides sent the option). */
  sndShift = 0
  /** Sequence number of the first byte in the send buffer. */
  private sndBufSeq: Seq
  private readonly sndBuf: SendBuffer
  /** CLOSE was called: a FIN follows the queued data. */
  private finQueued = false
  /** Send urgent pointer: first non-urgent octet (RFC 9293 §3.8.5, MUST-62). */
  private sndUp: Seq | undefined
  /** End of the last short (sub-MSS) segment sent, for Minshall's Nagle (Linux's snd_sml). */
  private sndSml: Seq
  /** Where PSH was set on data not yet acknowledged (snd.ts), and Linux's pushed_seq. */
  private readonly push: PushMarks
  /** The 'linux' profile's GSO packet being sent (tso.ts): its last segment carries PSH. */
  private readonly gso = new GsoPacket()
  /** The smallest RTT sample (µs), for the GSO packet size (Linux's tcp_min_rtt). */
  private minRtt: number | undefined = undefined

  // --- receive sequence space ---
  /** Initial receive sequence number (valid once the peer's SYN is seen). */
  irs: Seq = seq(0)
  /** Next sequence number expected. */
  rcvNxt: Seq = seq(0)
  /** Right edge of the window we last advertised (never moved left: RFC 9293 SHLD-14). */
  private rcvAdvRight: Seq = seq(0)
  /** Our window-scale shift (0 unless both sides sent the option). */
  rcvShift = 0
  /** RCV.NXT carried by the last ACK we sent (RFC 7323's Last.ACK.sent). */
  private lastAckSent: Seq = seq(0)
  private readonly rcvBuf: RecvBuffer
  /** RFC 2883: the duplicate to report in a D-SACK block on the next segment we send, if any. */
  private dsackStart: Seq | undefined = undefined
  private dsackEnd: Seq = seq(0)
  private readonly overlapScratch: number[] = [0, 0]
  /** The peer's FIN arrived ahead of missing data: where it sits. */
  private rcvFinAt: Seq | undefined
  /** That FIN came alone and after every out-of-order segment held: its SACK block is the most recent. */
  private rcvFinRecent = false
  /** The peer's FIN has been received in order. */
  finReceived = false
  /** Receive urgent pointer (first non-urgent octet), once the peer sent URG. */
  rcvUp: Seq | undefined
  /** We have seen the peer's SYN (IRS/RCV.NXT are valid). */
  private synSeen = false
  /** The window field carried by our SYN or SYN+ACK (never scaled: RFC 7323 §2.2). */
  private synWindow: number

  // --- negotiated options ---
  /** Timestamps in use (RFC 7323 §3.2: both SYNs carried the option). */
  tsOk = false
  /** SACK in use (RFC 2018: both SYNs carried SACK-permitted). */
  sackOk = false
  /** Window scaling in use (RFC 7323 §2.2). */
  wsOk = false
  /** MSS the peer announced, or the RFC 9293 MUST-15 default (536 IPv4, 1220 IPv6). */
  peerMss: number
  private tsRecent = 0
  private tsRecentAt = 0
  private tsRecentValid = false
  private readonly tsOffset: number

  // --- timers (data, never callbacks: timers.ts) ---
  /** Every timer of this connection; `pollAt` is their earliest. */
  readonly timers = new TcbTimers()
  private retries = 0
  private ackSinceTimeout = false
  /** The RFC 6298 estimator. */
  readonly rtt: RttEstimator
  /** Which segment or echo the next RTT sample comes from (snd.ts: Karn, RFC 7323 RTTM). */
  private readonly rttTiming = new RttTiming()
  /** When the connection last made progress (µs): the user timeout counts from here. */
  private progressAt: number

  // --- congestion control (cc/: RFC 5681 Reno or RFC 9438 CUBIC) and loss recovery (recovery/) ---
  /** The congestion controller chosen by `config.congestionControl`; it owns cwnd and ssthresh. */
  readonly cc: CongestionControl
  /** Loss recovery (recovery/): NewReno until the handshake agrees on SACK, then RFC 6675 with RACK-TLP. */
  private recovery: LossRecovery
  /** What the recovery sees of this TCB (recovery/recovery.ts). */
  private readonly host: RecoveryHost

  // --- pending output ---
  /** Linux's quick-ack mode (profile 'linux' only): the first ACKs go out at once. */
  private readonly quickAck: QuickAck | undefined
  private ackNow = false
  private segsSinceAck = 0
  private forceProbe = false
  private readonly replies: TcpRepr[] = []
  private lastOowAckAt = -Infinity
  private now: number
  private readonly stateHook: StateHook | undefined
  private readonly opts: SegOpts = newSegOpts()
  private readonly sackScratch: number[] = [0, 0, 0, 0, 0, 0, 0, 0]

  // --- TCP Fast Open (RFC 7413, fastopen.ts) ---
  /** An active open's Fast Open: the option and data of the first SYN, and the cache the SYN+ACK updates. */
  private fastOpen: FastOpenClient | undefined
  /** When our first SYN or SYN+ACK went out (µs): Linux's retrans_stamp for the SYN-SENT timestamp check. */
  private synSentAt: number | undefined = undefined
  /** Data octets the first SYN carried (active open). */
  private synData = 0
  /** Where the SYN's data the SYN+ACK did not acknowledge ends, while it is sent again (Linux: a retransmission). */
  private synDataEnd: Seq | undefined
  /** The option our first SYN+ACK carries (a cookie for the client), if any. */
  private synAckOption: TcpOption[] | undefined
  /** A Fast Open child (RFC 7413 §4.2.2): its SYN's data was accepted and it may send before the handshake ends. */
  private tfoChild = false
  /** The data of our SYN, or of the peer's, was acknowledged or accepted (Linux's TCPI_OPT_SYN_DATA). */
  synDataAcked = false
  /**
   * A blocking write waits for this connection to be established (Linux's sk_write_pending): the ACK of the
   * SYN+ACK is then delayed to ride on that data ('linux' profile). The socket layer sets it.
   */
  writePending = false

  private constructor(
    readonly tuple: FourTuple,
    now: number,
    config: Partial<TcpConfig> | undefined,
    passive: boolean,
    hook: StateHook | undefined,
  ) {
    this.config = resolveConfig(config)
    const c = this.config
    this.now = now
    this.passive = passive
    this.stateHook = hook
    this._state = passive ? 'LISTEN' : 'CLOSED'
    const secret = c.isnSecret ?? (c.iss === undefined || c.tsOffset === undefined ? defaultSecret() : undefined)
    // RFC 9293 §3.4.1 / RFC 6528: ISN = M + F(4-tuple, key); tests may fix it.
    this.iss =
      typeof c.iss === 'number'
        ? seq(c.iss)
        : typeof c.iss === 'function'
          ? seq(c.iss(tuple, now))
          : isnFor(secret!, tuple, now)
    this.tsOffset = c.tsOffset !== undefined ? c.tsOffset >>> 0 : tsOffsetFor(secret!, tuple)
    this.sndUna = this.iss
    this.sndNxt = this.iss
    this.sndMax = this.iss
    this.sndWl1 = seq(0)
    this.sndWl2 = this.iss
    this.sndBufSeq = seqAdd(this.iss, 1)
    this.sndSml = this.iss
    this.push = new PushMarks(seqAdd(this.iss, 1))
    this.sndBuf = new SendBuffer(c.sndBuf)
    // One scaling unit of slack: a window rounded up to the scale never overruns the ring.
    this.rcvBuf = new RecvBuffer(c.rcvBuf + (c.windowScale === false ? 1 : 1 << c.windowScale))
    this.synWindow = c.synWindow ?? synWindow(c.profile, c.rcvBuf, c.mss)
    this.peerMss = this.defaultPeerMss()
    // The RTO: RFC 6298's estimator, or Linux's with its profile (rto.ts).
    this.rtt = new (c.profile === 'linux' ? LinuxRttEstimator : RttEstimator)(c.rtoInitial, c.rtoMin, c.rtoMax)
    // Linux's slow start counts every acknowledged segment; RFC 5681's at most one SMSS per ACK.
    this.cc = createCongestionControl(c.congestionControl, { slowStart: c.profile === 'linux' ? 'acked' : 'smss' })
    this.cc.init(c.initialCwnd * this.effMss, now)
    this.quickAck = c.profile === 'linux' ? new QuickAck() : undefined
    this.progressAt = now
    this.host = this.recoveryHost()
    this.recovery = createRecovery(false, this.host, this.iss)
  }

  /** The narrow view of this TCB that loss recovery works through (recovery/recovery.ts). */
  private recoveryHost(): RecoveryHost {
    return new RecoveryView(this, {
      segMss: () => this.segMss(),
      tsVal: (at) => this.tsVal(at),
      ackAdvance: (now, ack) => this.ackAdvance(now, ack),
      planData: (ignoreCwnd) => this.planData(ignoreCwnd),
      buildSegment: (now, at, max, resend) => this.buildSegment(now, at, max, resend),
      forgetRttSample: () => this.rttTiming.forget(),
      emitTimer: (now, timer) => this.emitTimer(now, timer),
    })
  }


  /**
   * Active OPEN (RFC 9293 §3.10.1): a TCB in SYN-SENT whose SYN the next `dispatch` sends. With `fastOpen`
   * (RFC 7413 §4.1) that SYN carries its option and, up to its space, the data queued by then.
   */
  static connect(tuple: FourTuple, now: number, config?: Partial<TcpConfig>, onEvent?: TraceListener, fastOpen?: FastOpenClient): Tcb {
    const t = new Tcb(tuple, now, config, false, undefined)
    t.onEvent = onEvent
    t.fastOpen = fastOpen
    t.setState('SYN-SENT', 'OPEN (active)')
    return t
  }

  /**
   * Passive OPEN, one connection: the TCB a listener spawns for an incoming SYN (RFC 9293 §3.10.7.2
   * third check). It starts in SYN-RECEIVED with the SYN+ACK queued. `syn` must have SYN set and no ACK.
   * `fastOpen` is the listener's Fast Open decision (fastopen.ts): `child` accepts the SYN's data at once
   * (RFC 7413 §4.2.2, Linux's tcp_fastopen_create_child), `option` rides on the first SYN+ACK.
   */
  static fromSyn(
    tuple: FourTuple,
    now: number,
    syn: TcpRepr,
    config?: Partial<TcpConfig>,
    onEvent?: TraceListener,
    hook?: StateHook,
    fastOpen?: { child: boolean; option: TcpOption[] | undefined },
  ): Tcb {
    if ((syn.flags & (SYN | ACK | RST)) !== SYN) throw new RangeError('fromSyn needs a segment with SYN and neither ACK nor RST')
    const t = new Tcb(tuple, now, config, true, hook)
    t.onEvent = onEvent
    t.emitSegIn(syn)
    scanSegOpts(syn.options, t.opts)
    t.acceptSyn(now, syn)
    t.synAckOption = fastOpen?.option
    if (fastOpen?.child) {
      // The SYN's data is in order at RCV.NXT: taken now, so the SYN+ACK acknowledges it.
      t.tfoChild = true
      const n = syn.payload.length > 0 ? t.rcvBuf.write(0, syn.payload) : 0
      if (n > 0) {
        t.rcvNxt = seqAdd(t.rcvNxt, n)
        t.lastAckSent = t.rcvNxt
        // The SYN+ACK's window counts from its ACK, past the data (Linux's tcp_make_synack).
        t.rcvAdvRight = seqAdd(t.rcvNxt, t.synWindow)
        t.stats.bytesIn += n
        t.synDataAcked = true
      }
    }
    t.sndWnd = syn.window // never scaled in a SYN (RFC 7323 §2.2)
    t.maxSndWnd = syn.window
    t.sndWl1 = syn.seq
    // §3.10.7.2: SND.NXT ← ISS+1 and SND.UNA ← ISS once the SYN+ACK goes out; dispatch does that.
    t.setState('SYN-RECEIVED', 'SYN received (passive OPEN)')
    return t
  }

  /**
   * A connection re-created from a valid SYN cookie (RFC 4987 §3.6): ESTABLISHED directly, with the MSS
   * the cookie encoded and no other options (they were not stored).
   */
  static fromCookie(
    tuple: FourTuple,
    now: number,
    ack: TcpRepr,
    iss: Seq,
    mss: number,
    config?: Partial<TcpConfig>,
    onEvent?: TraceListener,
  ): Tcb {
    const t = new Tcb(tuple, now, { ...config, iss, timestamps: false, sackPermitted: false, windowScale: false }, true, undefined)
    t.onEvent = onEvent
    t.emitSegIn(ack)
    t.synSeen = true
    t.irs = seqAdd(ack.seq, -1)
    t.rcvNxt = ack.seq
    t.peerMss = mss
    t.cc.init(t.config.initialCwnd * t.effMss, now)
    t.sndUna = seqAdd(iss, 1)
    t.sndNxt = t.sndUna
    t.sndMax = t.sndUna
    t.recovery = createRecovery(false, t.host, t.sndUna)
    t.sndWnd = ack.window
    t.maxSndWnd = ack.window
    t.sndWl1 = ack.seq
    t.sndWl2 = ack.ack
    t.rcvAdvRight = seqAdd(t.rcvNxt, t.synWindow)
    t.lastAckSent = t.rcvNxt
    t.setState('SYN-RECEIVED', 'SYN cookie')
    t.setState('ESTABLISHED', 'ACK with a valid SYN cookie')
    return t
  }

  // ------------------------------------------------------------------ public state

  /** Current RFC 9293 state. */
  get state(): TcpState {
    return this._state
  }

  /** A Fast Open child (RFC 7413 §4.2.2): accepted with its SYN's data, it may send before the handshake ends. */
  get fastOpenPassive(): boolean {
    return this.tfoChild
  }

  /** Congestion window in bytes (the congestion controller's). */
  get cwnd(): number {
    return this.cc.cwnd
  }

  /** Slow-start threshold in bytes (the congestion controller's). */
  get ssthresh(): number {
    return this.cc.ssthresh
  }

  /** A snapshot of the counters Linux reports in TCP_INFO ({@link TcbInfo}). */
  info(): TcbInfo {
    const acked = seqDiff(this.sndUna, this.passive ? seqAdd(this.iss, 1) : this.iss)
    const received = this.synSeen ? seqDiff(this.rcvNxt, seqAdd(this.irs, 1)) : 0
    const src = {
      retries: this.retries,
      rtt: this.rtt,
      sndMss: this.effMss,
      rcvMss: this.quickAck && this.synSeen && this.sndUna !== this.iss ? this.quickAck.estimate(this.config.mss, this.effMss, this.advertisedWnd) : 0,
      advMss: this.config.mss,
      minRtt: this.minRtt,
      cwnd: this.cwnd,
      ssthresh: this.ssthresh,
      acked,
      received,
      stats: this.stats,
    }
    return tcbInfo(src, this.recovery.info(this.sndUna !== this.iss))
  }


  /** Largest payload we put in one segment: RFC 9293 §3.7.1 Eff.snd.MSS, less the timestamp option. */
  get effMss(): number {
    const m = Math.min(this.peerMss, this.config.mss) - (this.tsOk ? 12 : 0)
    return m > 1 ? m : 1
  }

  /** The receive window we currently promise: RCV.WND (bytes past RCV.NXT). */
  get rcvWnd(): number {
    if (!this.synSeen) return this.synWindow
    const w = seqDiff(this.rcvAdvRight, this.rcvNxt)
    return w > 0 ? w : 0
  }

  /** The window our last ACK advertised (Linux's rcv_wnd): its right edge less the RCV.NXT it carried. */
  private get advertisedWnd(): number {
    const w = seqDiff(this.rcvAdvRight, this.lastAckSent)
    return w > 0 ? w : 0
  }

  /** Bytes the application can read now. */
  get readable(): number {
    return this.rcvBuf.length
  }

  /** Room in the send buffer: how many bytes `send` would take now. */
  get writable(): number {
    switch (this._state) {
      case 'SYN-SENT':
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
      case 'CLOSE-WAIT':
        return this.finQueued ? 0 : this.sndBuf.free
      default:
        return 0
    }
  }

  /** Bytes queued for sending that the peer has not acknowledged yet (sent or not). */
  get unacked(): number {
    return this.sndBuf.length
  }

  /** The peer closed its direction and every byte before its FIN has been read. */
  get eof(): boolean {
    return this.finReceived && this.rcvBuf.length === 0
  }

  /** RFC 9293 MUST-33: how many octets of urgent data lie ahead of the reader (0 when none). */
  get urgentPending(): number {
    if (this.rcvUp === undefined) return 0
    const readSeq = seqAdd(this.rcvNxt, -this.rcvBuf.length - (this.finReceived ? 1 : 0))
    const n = seqDiff(this.rcvUp, readSeq)
    return n > 0 ? n : 0
  }

  // ------------------------------------------------------------------ user calls (RFC 9293 §3.10)

  /**
   * SEND (§3.10.2): copies as much of `data` as the send buffer takes and returns that count. With
   * `urgent`, the urgent pointer moves to the end of this data (§3.8.5). Throws TcpUserError when the
   * connection is closed or closing.
   */
  send(data: Uint8Array, opts?: { urgent?: boolean }): number {
    switch (this._state) {
      case 'SYN-SENT':
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
      case 'CLOSE-WAIT':
        if (this.finQueued) throw new TcpUserError('EPIPE', 'connection closing')
        break
      case 'CLOSED':
      case 'LISTEN':
        if (this.error) throw new TcpUserError(this.error.code, this.error.reason)
        throw new TcpUserError('ENOTCONN', 'connection does not exist')
      default:
        throw new TcpUserError('EPIPE', 'connection closing')
    }
    // The user timeout measures from when data starts waiting, not from an idle period before it.
    if (this.sndBuf.length === 0 && this.sndUna === this.sndMax) this.progressAt = this.now
    const n = this.sndBuf.write(data)
    if (opts?.urgent && n > 0) this.sndUp = seqAdd(this.sndBufSeq, this.sndBuf.length)
    return n
  }

  /**
   * A new send-buffer size in bytes (SO_SNDBUF once the connection exists): queued data is kept, so the
   * buffer never shrinks below it.
   */
  setSendBuffer(bytes: number): void {
    if (!(bytes >= 1)) throw new RangeError(`send buffer of ${bytes} bytes`)
    this.sndBuf.resize(Math.floor(bytes))
  }

  /** RECEIVE (§3.10.3): copies up to `max` in-order bytes into a new array (empty when none). */
  recv(max = Infinity): Uint8Array {
    const n = Math.min(max, this.rcvBuf.length)
    if (n === 0) return EMPTY
    const out = new Uint8Array(n)
    this.rcvBuf.read(out)
    this.afterRead()
    return out
  }

  /** RECEIVE into a caller-owned buffer; returns the byte count (0 when none). No allocation. */
  recvInto(into: Uint8Array): number {
    const n = this.rcvBuf.read(into)
    if (n > 0) this.afterRead()
    return n
  }

  /** The next contiguous run of received bytes without copying; follow with `consume(n)`. */
  peek(max?: number): Uint8Array {
    return this.rcvBuf.peek(max)
  }

  /** Frees `n` bytes returned by `peek`. */
  consume(n: number): void {
    this.rcvBuf.consume(n)
    this.afterRead()
  }

  /**
   * CLOSE (§3.10.4): "I have no more to send". A FIN follows the queued data; receiving goes on
   * (half-close). In SYN-SENT the connection is simply deleted.
   */
  close(): void {
    switch (this._state) {
      case 'SYN-SENT':
        this.toClosed('CLOSE in SYN-SENT')
        return
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
        this.queueFin()
        this.setState('FIN-WAIT-1', 'CLOSE')
        return
      case 'CLOSE-WAIT':
        this.queueFin()
        this.setState('LAST-ACK', 'CLOSE')
        return
      default:
        // CLOSED: "connection does not exist"; FIN-WAIT-*, CLOSING, LAST-ACK, TIME-WAIT: already closing.
        return
    }
  }

  /** The FIN follows the queued data; like data, it starts the user timeout when nothing was waiting. */
  private queueFin(): void {
    if (this.sndBuf.length === 0 && this.sndUna === this.sndMax && this.sndUna !== this.iss) this.progressAt = this.now
    this.finQueued = true
  }

  /**
   * ABORT (§3.10.5): in a synchronized state (and SYN-RECEIVED) send a RST, then CLOSED. Like Linux the
   * RST also carries ACK=RCV.NXT; its sequence number is SND.MAX, the peer's likely RCV.NXT.
   */
  abort(): void {
    switch (this._state) {
      case 'SYN-RECEIVED':
      case 'ESTABLISHED':
      case 'FIN-WAIT-1':
      case 'FIN-WAIT-2':
      case 'CLOSE-WAIT':
        // RFC 7323 §3.2: timestamps SHOULD be sent in a <RST> too (Linux's tcp_send_active_reset does).
        this.replies.push(this.makeSeg(this.sndMax, RST | ACK, 0, EMPTY, this.tsOk ? dataOptions(true, this.tsVal(this.now), this.tsRecent, undefined) : NO_OPTIONS))
        break
      default:
        break
    }
    if (this._state !== 'CLOSED') this.toClosed('ABORT')
  }

  // ------------------------------------------------------------------ segment arrives (§3.10.7)

  /** One incoming segment for this connection (checksum already verified, demultiplexed by 4-tuple). */
  process(now: number, seg: TcpRepr): void {
    this.now = now
    this.gso.reset()
    this.stats.segsIn++
    if (seg.payload.length > 0) this.stats.dataSegsIn++
    if (this.onEvent) this.emitSegIn(seg)
    switch (this._state) {
      case 'CLOSED': {
        // §3.10.7.1: as if no TCB existed.
        const r = rstForClosed(seg)
        if (r) this.queueReply(r)
        this.drop(seg, 'closed')
        return
      }
      case 'LISTEN':
        this.drop(seg, 'closed')
        return
      case 'SYN-SENT':
        this.processSynSent(now, seg)
        break
      default:
        this.processSynchronized(now, seg)
        break
    }
    this.armPersist(now)
  }

  /** §3.10.7.3 SYN-SENT STATE. */
  private processSynSent(now: number, seg: TcpRepr): void {
    const f = seg.flags
    scanSegOpts(seg.options, this.opts)
    // First: check the ACK bit.
    if (f & ACK) {
      if (seqLe(seg.ack, this.iss) || seqGt(seg.ack, this.sndMax)) {
        if (!(f & RST)) this.queueReply(this.makeRst(seg.ack))
        // Linux (tcp_rcv_synsent_state_process): such a segment may answer an old connection's FIN or RST
        // that was ignored, so while the SYN has not been retransmitted yet it goes again after
        // TCP_TIMEOUT_MIN rather than a whole RTO later.
        if (this.config.profile === 'linux' && this.retries === 0) {
          this.timers.rtx = now + TIMEOUT_MIN
          this.timers.rtxKind = 'retransmit'
        }
        this.drop(seg, 'bad-ack')
        return
      }
      // Linux (tcp_rcv_synsent_state_process, PAWSActiveRejected): an acceptable ACK whose timestamp echo is
      // not one we can have sent since our first SYN is refused like a bad ACK, with a RST; we stay in SYN-SENT.
      if (this.config.profile === 'linux' && this.config.timestamps && this.synSentAt !== undefined) {
        const e = this.opts.tsEcr
        if (this.opts.ts && e !== 0 && (seqLt(seq(e), seq(this.tsVal(this.synSentAt))) || seqGt(seq(e), seq(this.tsVal(now))))) {
          if (!(f & RST)) this.queueReply(this.makeRst(seg.ack))
          this.drop(seg, 'paws')
          return
        }
      }
    }
    // Second: the RST bit. Acceptable only with an ACK of our SYN.
    if (f & RST) {
      if (f & ACK) {
        this.toClosed('RST in SYN-SENT', { code: 'ECONNREFUSED', reason: 'connection refused: RST in reply to SYN' })
      } else {
        this.drop(seg, 'rst-bad-ack')
      }
      return
    }
    // Third (security/precedence): not implemented (RFC 9293 Appendix A.1).
    // Fourth: the SYN bit.
    if (!(f & SYN)) {
      this.drop(seg, 'no-syn-or-rst')
      return
    }
    this.acceptSyn(now, seg)
    if (f & ACK) {
      if (this.fastOpen) this.fastOpenSynAck(seg)
      // Our SYN is acknowledged: SND.UNA ← SEG.ACK, ESTABLISHED, ACK the SYN.
      this.ackAdvance(now, seg.ack)
      // Linux sets the initial window once the handshake is done (tcp_init_transfer), whatever the SYN's
      // data added to it.
      if (this.synData > 0) this.cc.init(this.config.initialCwnd * this.effMss, now)
      this.sndWnd = seg.window // never scaled in a SYN (RFC 7323 §2.2)
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd)
      this.sndWl1 = seg.seq
      this.sndWl2 = seg.ack
      this.setState('ESTABLISHED', 'SYN+ACK received')
      if (this.quickAck && this.writePending && seqGe(seg.ack, this.sndMax)) {
        // Linux (tcp_rcv_synsent_state_process): a writer is waiting, so the ACK is delayed to ride on its
        // data, in quick-ack mode with the delayed-ACK timeout started (unless SYN data must go again).
        this.quickAck.enterOnConnect(now, this.rcvWnd)
        this.timers.delayedAck = now + DELACK_MAX
      } else this.ackNow = true
      // "Data or controls included in the SYN+ACK are processed at the sixth step."
      if (seg.payload.length > 0 || f & FIN || f & URG) {
        this.processUrgText(now, seg, seqAdd(seg.seq, 1), seg.payload, (f & FIN) !== 0)
      }
    } else {
      // Simultaneous open (MUST-10): SYN-RECEIVED, send <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>.
      this.sndWnd = seg.window
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd)
      this.sndWl1 = seg.seq
      this.sndWl2 = this.iss
      this.sndNxt = this.iss
      this.rttTiming.forget()
      // Text in a bare SYN is dropped; the peer sends it again after the handshake.
      this.setState('SYN-RECEIVED', 'SYN received in SYN-SENT (simultaneous open)')
    }
  }

  /**
   * The SYN+ACK of a Fast Open (RFC 7413 §4.1.2, Linux's tcp_rcv_fastopen_synack): the cache learns the
   * server's MSS and cookie; data of our SYN it does not acknowledge is sent again after the handshake,
   * as new data (SND.NXT and SND.MAX back to SEG.ACK: nothing of it counts as in flight).
   */
  private fastOpenSynAck(seg: TcpRepr): void {
    this.fastOpen!.onSynAck(seg.options, this.retries > 0 || this.stats.retransmits > 0)
    if (this.synData === 0) return
    if (seqLt(seg.ack, this.sndMax)) {
      this.synDataEnd = this.sndMax
      this.sndMax = seg.ack
      this.sndNxt = seg.ack
    } else this.synDataAcked = true
  }

  /** Records the peer's SYN: IRS, RCV.NXT and the options of RFC 9293 §3.7.1, RFC 7323 and RFC 2018. */
  private acceptSyn(now: number, seg: TcpRepr): void {
    const c = this.config
    const o = this.opts
    this.synSeen = true
    this.irs = seg.seq
    this.rcvNxt = seqAdd(seg.seq, 1)
    this.lastAckSent = this.rcvNxt
    // RFC 9293 MUST-15: without an MSS option assume 536 (IPv4) or 1220 (IPv6). Like Linux
    // (net.ipv4.tcp_min_snd_mss, after CVE-2019-11479) we never go below 48: a tiny MSS would only make
    // a hostile peer's job of exhausting us easier.
    this.peerMss = o.mss > 0 ? Math.max(o.mss, MIN_SND_MSS) : this.defaultPeerMss()
    // RFC 7323 §2.2: scaling only when both SYNs carry the option; §2.3: a shift above 14 is used as 14.
    this.wsOk = o.ws >= 0 && c.windowScale !== false
    this.sndShift = this.wsOk ? Math.min(o.ws, 14) : 0
    this.rcvShift = this.wsOk ? (c.windowScale as number) : 0
    // RFC 7323 §3.2: timestamps only when both SYNs carry them.
    this.tsOk = o.ts && c.timestamps
    if (this.tsOk) {
      this.tsRecent = o.tsVal
      this.tsRecentAt = now
      this.tsRecentValid = true
    }
    this.sackOk = o.sackOk && c.sackPermitted
    if (this.sackOk) this.recovery = createRecovery(true, this.host, this.recovery.recover)
    // A SYN+ACK's window may depend on what was agreed (Linux counts segments less the timestamp option).
    if (this.passive && c.synWindow === undefined) this.synWindow = synWindow(c.profile, c.rcvBuf, c.mss - (this.tsOk ? 12 : 0))
    this.rcvAdvRight = seqAdd(this.rcvNxt, this.synWindow)
    this.cc.init(c.initialCwnd * this.effMss, now)
  }

  /** §3.10.7.4: every state from SYN-RECEIVED to TIME-WAIT. */
  private processSynchronized(now: number, seg: TcpRepr): void {
    const f = seg.flags
    let segSeq = seg.seq
    const rst = (f & RST) !== 0
    let syn = (f & SYN) !== 0
    let fin = (f & FIN) !== 0
    let payload = seg.payload
    const o = this.opts
    scanSegOpts(seg.options, o)

    // Simultaneous open: the peer's SYN+ACK (seq IRS, acknowledging our SYN) arrives in SYN-RECEIVED. By
    // the letter of §3.10.7.4 it is out of window and only elicits an ACK (RFC 9293 Appendix A.2); Linux
    // ("simultaneous connect" in tcp_rcv_state_process) takes it as the ACK of our SYN, and so do we.
    if (
      this._state === 'SYN-RECEIVED' && !this.passive && syn && !rst && f & ACK &&
      segSeq === this.irs && seg.ack === this.sndMax
    ) {
      syn = false
      segSeq = seqAdd(segSeq, 1)
    }

    // Linux: a retransmitted SYN in SYN-RECEIVED means our SYN+ACK was lost; send it again (rate-limited).
    if (this._state === 'SYN-RECEIVED' && syn && !rst && !(f & ACK) && segSeq === this.irs) {
      if (this.sndUna === this.iss && this.oowAllowed(now)) this.sndNxt = this.iss
      this.drop(seg, 'out-of-window')
      return
    }

    // RFC 7323 §5.3 R1 (PAWS), before the sequence check; never applied to RST.
    if (this.tsOk && o.ts && !rst && this.tsRecentValid && seqLt(seq(o.tsVal), seq(this.tsRecent))) {
      if (now - this.tsRecentAt > PAWS_IDLE) {
        this.tsRecentValid = false // RFC 7323 §5.5: TS.Recent too old to judge by
      } else {
        if (payload.length > 0 || fin) this.ackNow = true
        else this.oowAck(now)
        this.drop(seg, 'paws')
        return
      }
    }

    // First: sequence number check (§3.10.7.4 table).
    const segLen = payload.length + (syn ? 1 : 0) + (fin ? 1 : 0)
    const wnd = this.rcvWnd
    let ok: boolean
    if (segLen === 0) {
      ok = wnd === 0 ? segSeq === this.rcvNxt : seqInWindow(segSeq, this.rcvNxt, wnd)
    } else if (wnd === 0) {
      // Not acceptable by the table, but MUST-66 asks us to still process its ACK, URG and RST when it
      // starts at RCV.NXT (as Linux does): its text is trimmed off below and answered with an ACK.
      ok = segSeq === this.rcvNxt
    } else {
      ok = seqInWindow(segSeq, this.rcvNxt, wnd) || seqInWindow(seqAdd(segSeq, segLen - 1), this.rcvNxt, wnd)
    }
    if (!ok) {
      if (rst) {
        this.drop(seg, 'out-of-window')
      } else if (syn) {
        // RFC 5961 §4.2: a SYN, whatever its sequence number, gets a challenge ACK.
        this.challengeAck(now)
        this.drop(seg, 'syn-in-window')
      } else {
        // TIME-WAIT: a retransmitted FIN is acknowledged and restarts the 2 MSL wait (§3.10.7.4 eighth).
        if (this._state === 'TIME-WAIT' && fin) this.timers.timeWait = now + 2 * this.config.msl
        // "send an acknowledgment <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>"; Linux rate-limits the reply to
        // segments without data, which would otherwise let two confused ends ACK each other forever.
        if (payload.length > 0 || fin) this.ackNow = true
        else this.oowAck(now)
        // Linux (tcp_send_dupack): data we already had means our ACK went missing; quick-ack mode again.
        if (this.quickAck && segLen > 0 && seqLt(segSeq, this.rcvNxt)) this.quickAck.enter(this.advertisedWnd)
        // RFC 2883 §4.1.1: the duplicate, up to RCV.NXT, goes in a D-SACK block (not from TIME-WAIT, whose
        // Linux minisocket answers without SACK blocks).
        if (segLen > 0 && seqLt(segSeq, this.rcvNxt) && this._state !== 'TIME-WAIT') {
          const end = seqAdd(segSeq, segLen)
          this.setDsack(segSeq, seqLt(end, this.rcvNxt) ? end : this.rcvNxt)
        }
        this.drop(seg, 'out-of-window')
      }
      return
    }

    // RFC 7323 §4.3 (2): TS.Recent ← SEG.TSval when the segment covers Last.ACK.sent.
    if (this.tsOk && o.ts && seqLe(segSeq, this.lastAckSent)) {
      if (!this.tsRecentValid || seqGe(seq(o.tsVal), seq(this.tsRecent))) {
        this.tsRecent = o.tsVal
        this.tsRecentAt = now
        this.tsRecentValid = true
      }
    }

    // Trim to the window: "segments with higher beginning sequence numbers may be held for later
    // processing"; the part before RCV.NXT is a duplicate, the part past the right edge is dropped.
    let start = segSeq
    if (seqLt(start, this.rcvNxt)) {
      // RFC 2883 §4.1.1 (Linux's "partial packet"): the part below RCV.NXT was a duplicate.
      if (payload.length > 0 && !syn) this.setDsack(start, this.rcvNxt)
      let cut = seqDiff(this.rcvNxt, start)
      if (syn) {
        syn = false
        cut--
        start = seqAdd(start, 1)
      }
      const c = Math.min(cut, payload.length)
      if (c > 0) {
        payload = payload.subarray(c)
        start = seqAdd(start, c)
        cut -= c
      }
      if (cut > 0) fin = false
    }
    let trimmedRight = false
    // Accept up to the furthest edge promised, never past what the ring can hold (a guard: every promised
    // edge fitted the ring when it was promised).
    const room = seqDiff(seqAdd(this.rcvNxt, Math.min(wnd, this.rcvBuf.room)), start)
    if (payload.length > room) {
      payload = payload.subarray(0, room > 0 ? room : 0)
      fin = false
      trimmedRight = true
    }

    // Second: the RST bit (RFC 5961 §3.2: reset only on an exact match, challenge ACK otherwise).
    if (rst) {
      if (segSeq !== this.rcvNxt) {
        this.challengeAck(now)
        this.drop(seg, 'rst-in-window')
        return
      }
      switch (this._state) {
        case 'SYN-RECEIVED':
          // A Fast Open child is a connection its application already holds: reset, as Linux's tcp_reset.
          if (this.tfoChild) this.toClosed('RST', { code: 'ECONNRESET', reason: 'connection reset by peer in SYN-RECEIVED (Fast Open)' })
          else if (this.passive) this.toClosed('RST in SYN-RECEIVED (passive OPEN: the listener goes on)')
          else this.toClosed('RST in SYN-RECEIVED', { code: 'ECONNREFUSED', reason: 'connection refused: RST in SYN-RECEIVED' })
          return
        case 'ESTABLISHED':
        case 'FIN-WAIT-1':
        case 'FIN-WAIT-2':
        case 'CLOSE-WAIT':
          this.toClosed('RST', { code: 'ECONNRESET', reason: `connection reset by peer in ${this._state}` })
          return
        default:
          // CLOSING, LAST-ACK, TIME-WAIT: "enter the CLOSED state, delete the TCB, and return".
          this.toClosed('RST')
          return
      }
    }

    // Third: security/precedence — not implemented (RFC 9293 Appendix A.1).

    // Fourth: the SYN bit.
    if (syn) {
      if (this._state === 'SYN-RECEIVED' && this.passive) {
        // "return this connection to the LISTEN state": the listener keeps listening, this TCB goes.
        this.toClosed('SYN in SYN-RECEIVED (passive OPEN: back to LISTEN)')
        return
      }
      // RFC 5961 §4.2 (MUST): challenge ACK, never a reset.
      this.challengeAck(now)
      this.drop(seg, 'syn-in-window')
      return
    }

    // Fifth: the ACK field.
    if (!(f & ACK)) {
      this.drop(seg, 'no-ack')
      return
    }
    const ack = seg.ack
    if (this._state === 'SYN-RECEIVED') {
      if (seqGt(ack, this.sndUna) && seqLe(ack, this.sndMax)) {
        this.sndWnd = seg.window * 2 ** this.sndShift
        // Linux (tcp_create_openreq_child): a passive connection's max_window is the window of the ACK that
        // completes the handshake, not the SYN's; it bounds the segment size and the forced push below.
        this.maxSndWnd = this.config.profile === 'linux' && this.passive ? this.sndWnd : Math.max(this.maxSndWnd, this.sndWnd)
        this.sndWl1 = segSeq
        this.sndWl2 = ack
        this.setState('ESTABLISHED', 'ACK of SYN')
      } else {
        // "form a reset segment <SEQ=SEG.ACK><CTL=RST> and send it"
        this.queueReply(this.makeRst(ack))
        this.drop(seg, 'bad-ack')
        return
      }
    }
    if (seqGt(ack, this.sndMax)) {
      // §3.10.7.4: "If the ACK acks something not yet sent (SEG.ACK > SND.NXT) then send an ACK, drop the
      // segment, and return" — rate-limited as a challenge ACK (RFC 5961 §5.2, §7).
      this.challengeAck(now)
      this.drop(seg, 'ack-unsent')
      return
    }
    if (seqLt(ack, seqAdd(this.sndUna, -this.maxSndWnd))) {
      // RFC 5961 §5.2: an ACK older than SND.UNA − MAX.SND.WND is blind-injection material.
      this.challengeAck(now)
      this.drop(seg, 'ack-too-old')
      return
    }
    this.ackSinceTimeout = true
    const newWnd = seg.window * 2 ** this.sndShift
    // RFC 5681 §2's duplicate ACK: nothing new acknowledged, no data, no window change, data outstanding.
    const dup =
      ack === this.sndUna &&
      seg.payload.length === 0 &&
      !(f & (SYN | FIN)) &&
      newWnd === this.sndWnd &&
      seqLt(this.sndUna, this.sndMax)
    const unaBefore = this.sndUna
    // Loss recovery (recovery/) takes the ACK; the cumulative part comes back to ackAdvance.
    this.recovery.onAck(now, ack, dup, o.sack, this.tsOk && o.ts ? o.tsEcr : 0)
    // Window update: "If SND.UNA =< SEG.ACK =< SND.NXT, the send window should be updated" when the
    // segment is newer than the last update (WL1/WL2 rule). Linux (tcp_may_update_window) takes it from any
    // ACK of new data or a later SEG.SEQ, but from the same SEG.SEQ only a larger or zero window: a segment
    // that only shrinks the window without new sequence space is taken for an old one.
    const newer =
      this.config.profile === 'linux'
        ? seqGt(ack, unaBefore) || seqGt(segSeq, this.sndWl1) || (segSeq === this.sndWl1 && (newWnd > this.sndWnd || newWnd === 0))
        : seqLt(this.sndWl1, segSeq) || (this.sndWl1 === segSeq && seqLe(this.sndWl2, ack))
    if (seqGe(ack, this.sndUna) && newer) {
      this.sndWnd = newWnd
      if (newWnd > this.maxSndWnd) this.maxSndWnd = newWnd
      this.sndWl1 = segSeq
      this.sndWl2 = ack
    }
    if (this.finQueued && this.finAcked) {
      switch (this._state) {
        case 'FIN-WAIT-1':
          this.setState('FIN-WAIT-2', 'ACK of FIN')
          break
        case 'CLOSING':
          this.enterTimeWait(now, 'ACK of FIN')
          break
        case 'LAST-ACK':
          this.toClosed('ACK of FIN')
          return
        default:
          break
      }
    }

    this.processUrgText(now, seg, start, payload, fin)
    if (trimmedRight) this.ackNow = true
  }

  /** §3.10.7.4 sixth (URG), seventh (text) and eighth (FIN), for an acceptable, trimmed segment. */
  private processUrgText(now: number, seg: TcpRepr, start: Seq, payload: Uint8Array, fin: boolean): void {
    const s = this._state
    const receiving = s === 'ESTABLISHED' || s === 'FIN-WAIT-1' || s === 'FIN-WAIT-2'
    // Sixth: URG. The pointer names the first non-urgent octet (MUST-62); urgent data is read inline.
    if (seg.flags & URG && receiving) {
      const up = seqAdd(seg.seq, seg.urgent)
      if (this.rcvUp === undefined || seqGt(up, this.rcvUp)) {
        const wasPending = this.urgentPending > 0
        this.rcvUp = up
        // MUST-32: tell the application when urgent data begins.
        if (!wasPending && this.onEvent) this.onEvent({ type: 'urgent', now, up }, this)
      }
    }
    // Seventh: segment text.
    if (payload.length > 0) {
      if (!receiving) {
        this.drop(seg, 'after-fin')
        return
      }
      const off = seqDiff(start, this.rcvNxt)
      const hadHoles = this.rcvBuf.oooRanges > 0
      // RFC 2883 §4.1.2: data we already hold out of order is reported in a D-SACK block.
      if (hadHoles && this.rcvBuf.heldOverlap(off, off + payload.length, this.overlapScratch)) {
        this.setDsack(seqAdd(this.rcvNxt, this.overlapScratch[0]), seqAdd(this.rcvNxt, this.overlapScratch[1]))
      }
      const adv = this.rcvBuf.write(off, payload)
      this.stats.bytesIn += payload.length
      if (adv < 0) {
        this.ackNow = true
        this.drop(seg, 'ooo-full')
        return
      }
      if (adv > 0) {
        this.rcvNxt = seqAdd(this.rcvNxt, adv)
        if (this.quickAck) {
          this.quickAck.onData(now, payload.length, this.config.mss, this.effMss, this.advertisedWnd, this.rtt.current)
        }
        // Linux (tcp_fin): an in-order FIN in ESTABLISHED starts ping-pong mode, so no quick ACK for the data
        // it comes with either.
        if (this.quickAck && fin && s === 'ESTABLISHED' && seqAdd(start, payload.length) === this.rcvNxt) this.quickAck.pingpong = true
        // RFC 5681 §4.2: ACK at once when a segment fills a hole; otherwise delayed-ACK rules.
        if (hadHoles) this.ackNow = true
        else this.scheduleAck(now, payload.length)
      } else {
        // Out of order: an immediate duplicate ACK (RFC 5681 §4.2), with SACK blocks when agreed.
        this.ackNow = true
        this.rcvFinRecent = false
      }
      if (fin) {
        const finAt = seqAdd(start, payload.length)
        if (finAt !== this.rcvNxt) {
          this.rcvFinAt = finAt
          fin = false
        }
      }
      if (this.rcvFinAt !== undefined && this.rcvFinAt === this.rcvNxt) {
        this.rcvFinAt = undefined
        fin = true
      }
    } else if (fin && start !== this.rcvNxt) {
      // A bare FIN ahead of missing data.
      if (receiving) {
        this.rcvFinAt = start
        this.rcvFinRecent = true
      }
      this.ackNow = true
      fin = false
    }
    // Eighth: the FIN bit.
    if (fin) this.receiveFin(now)
  }

  /** §3.10.7.4 eighth: the peer's FIN, in order. */
  private receiveFin(now: number): void {
    switch (this._state) {
      case 'ESTABLISHED':
      case 'SYN-RECEIVED': {
        const ackDue = this.ackNow
        this.consumeFin()
        if (this.quickAck) {
          // Linux (tcp_fin): ping-pong mode; the ACK of the FIN is delayed, to ride on our reply or FIN.
          this.quickAck.pingpong = true
          this.ackNow = ackDue
          if (!ackDue) this.scheduleAck(now, 0)
        }
        this.setState('CLOSE-WAIT', 'FIN received')
        break
      }
      case 'FIN-WAIT-1':
        this.consumeFin()
        if (this.finAcked) this.enterTimeWait(now, 'FIN received (our FIN acknowledged)')
        else this.setState('CLOSING', 'FIN received (simultaneous close)')
        break
      case 'FIN-WAIT-2':
        this.consumeFin()
        this.enterTimeWait(now, 'FIN received')
        break
      case 'TIME-WAIT':
        this.ackNow = true
        this.timers.timeWait = now + 2 * this.config.msl
        break
      default:
        // CLOSE-WAIT, CLOSING, LAST-ACK: the FIN was already received; just acknowledge.
        this.ackNow = true
        break
    }
  }

  private consumeFin(): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1)
    this.finReceived = true
    this.rcvBuf.clearOutOfOrder()
    this.ackNow = true
  }

  private enterTimeWait(now: number, cause: string): void {
    // MUST-13: TIME-WAIT lasts 2×MSL, and no other timer runs in it.
    this.timers.clearAll()
    this.timers.timeWait = now + 2 * this.config.msl
    this.setState('TIME-WAIT', cause)
  }

  /** An ACK that acknowledges new data: RFC 9293 §3.10.7.4 fifth, RFC 6298 §5.3 (recovery/ for RFC 5681/6582). */
  private ackAdvance(now: number, ack: Seq): void {
    const acked = seqDiff(ack, this.sndUna)
    if (seqGt(ack, this.sndBufSeq)) {
      const n = Math.min(seqDiff(ack, this.sndBufSeq), this.sndBuf.length)
      this.sndBuf.consume(n)
      this.sndBufSeq = seqAdd(this.sndBufSeq, n)
    }
    this.sndUna = ack
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack
    this.recovery.onUnaAdvanced(ack)
    this.push.ack(ack)
    if (this.sndUp !== undefined && seqLe(this.sndUp, ack)) this.sndUp = undefined
    this.retries = 0
    this.progressAt = now
    // RFC 6298 §3 / RFC 7323 §4: the RTT sample this ACK gives, if any (snd.ts).
    const o = this.opts
    const sample = this.rttTiming.onAck(now, ack, this.tsOk && o.ts ? o.tsEcr : 0, this.tsOffset, this.rtt)
    if (sample !== undefined) this.rttSample(now, sample)
    // The congestion controller's RTT sample and window (cc/), set by the loss recovery (recovery/).
    this.recovery.onAckedData(now, acked, sample)
    // RFC 6298 §5.2/§5.3: stop the timer when all is acknowledged, otherwise restart it.
    if (this.sndUna === this.sndMax) {
      this.timers.rtx = undefined
    } else {
      this.timers.rtx = now + this.rtt.current
      this.timers.rtxKind = 'retransmit'
    }
  }

  private rttSample(now: number, r: number): void {
    this.rtt.sample(r, this.sndUna, this.sndMax)
    if (this.minRtt === undefined || r < this.minRtt) this.minRtt = r
    this.stats.rttSamples++
    if (this.onEvent) {
      const e = this.rtt
      this.onEvent({ type: 'rtt', now, sample: r, srtt: e.srtt!, rttvar: e.rttvar, rto: e.rto }, this)
    }
  }

  /** RFC 2883: remembers a duplicate for the next segment's first SACK block (when D-SACK is on). */
  private setDsack(start: Seq, end: Seq): void {
    if (!this.sackOk || !this.config.dsack || !seqLt(start, end)) return
    this.dsackStart = start
    this.dsackEnd = end
  }

  /** Schedules an ACK for in-order data: at once, or delayed (RFC 9293 §3.8.6.3, RFC 5681 §4.2). */
  private scheduleAck(now: number, len: number): void {
    const d = this.config.ackDelay
    // Linux: before any data arrived the delayed-ACK timeout (ato) is still 0 (quickack.ts).
    if (d === 0 || this.quickAck?.active || (this.quickAck !== undefined && !this.quickAck.ackDelayStarted)) {
      this.ackNow = true
      return
    }
    if (this.quickAck) {
      // Linux (__tcp_ack_snd_check): at once when more than one of the peer's segments is unacknowledged and
      // the window we could offer now is no smaller than the one we offered, i.e. the application reads;
      // otherwise the read sends it (afterRead) or the timer does.
      if (seqDiff(this.rcvNxt, this.lastAckSent) > this.quickAck.rcvMss && this.config.rcvBuf - this.rcvBuf.length >= this.advertisedWnd) {
        this.ackNow = true
      } else if (this.timers.delayedAck === undefined) {
        this.timers.delayedAck = now + d
      }
      return
    }
    // SHLD-19: an ACK for at least every second full-sized segment; MUST-40: delay < 0.5 s.
    if (len >= this.effMss) this.segsSinceAck++
    if (this.segsSinceAck >= 2) this.ackNow = true
    else if (this.timers.delayedAck === undefined) this.timers.delayedAck = now + d
  }

  /** RFC 5961 §7: a challenge ACK, at most one per `challengeAckInterval`. */
  private challengeAck(now: number): void {
    if (this.oowAllowed(now)) {
      this.stats.challengeAcks++
      this.ackNow = true
    } else {
      this.stats.challengeAcksSuppressed++
    }
  }

  /** An ACK in reply to an unacceptable segment without data, rate-limited like Linux (tcp_oow_rate_limited). */
  private oowAck(now: number): void {
    if (this.oowAllowed(now)) this.ackNow = true
  }

  private oowAllowed(now: number): boolean {
    if (now - this.lastOowAckAt < this.config.challengeAckInterval) return false
    this.lastOowAckAt = now
    return true
  }

  private afterRead(): void {
    const s = this._state
    if (s !== 'ESTABLISHED' && s !== 'FIN-WAIT-1' && s !== 'FIN-WAIT-2') return
    // Window update after the application reads (RFC 9293 §3.8.6.2.2): only when the right edge can move
    // by at least min(RCV.BUFF/2, MSS) and the window at least doubles (Linux's tcp_cleanup_rbuf rule).
    // The window we could advertise now: the free space, up to what the field carries (65535 without scaling;
    // Linux's window_clamp). A read that frees more than that has no larger window to announce.
    const cur = this.rcvWnd
    const free = Math.min(this.config.rcvBuf - this.rcvBuf.length, 0xffff * 2 ** this.rcvShift)
    if (free - cur >= Math.min(this.config.rcvBuf >> 1, this.config.mss) && free >= 2 * cur) this.ackNow = true
    // Linux (tcp_cleanup_rbuf): a delayed ACK that covers more than one of the peer's segments goes out once
    // the application has read (the every-second-segment ACK waits for the read: scheduleAck).
    if (this.quickAck && this.timers.delayedAck !== undefined && seqDiff(this.rcvNxt, this.lastAckSent) > this.quickAck.rcvMss) {
      this.ackNow = true
    }
  }

  /**
   * Linux's TCP_QUICKACK socket option ('linux' profile): false enters ping-pong mode (ACKs wait to ride on
   * data); true leaves it, and an ACK being delayed goes now if the application has read everything or more
   * than one of the peer's segments is unacknowledged (__tcp_sock_set_quickack → tcp_cleanup_rbuf; checked on
   * the kernel: with the data unread the ACK still waits for its timer). In 'rfc', which has no quick-ack
   * mode, false changes nothing and true sends a delayed ACK under the same conditions.
   */
  setQuickAck(on: boolean): void {
    if (this.quickAck) this.quickAck.pingpong = !on
    const s = this._state
    if (!on || (s !== 'ESTABLISHED' && s !== 'CLOSE-WAIT') || this.timers.delayedAck === undefined) return
    const rcvMss = this.quickAck?.rcvMss ?? this.effMss
    if (this.rcvBuf.length === 0 || seqDiff(this.rcvNxt, this.lastAckSent) > rcvMss) this.ackNow = true
  }

  /** TCP_QUICKACK's value: ACKs go out at once now (Linux's inet_csk_in_quickack_mode; false in 'rfc'). */
  get quickAckMode(): boolean {
    return this.quickAck?.active ?? false
  }

  // ------------------------------------------------------------------ output

  /** When `dispatch` next has something to do: 0 for "now", a time in µs, or undefined for never. */
  pollAt(): number | undefined {
    if (this.replies.length > 0) return 0
    if (this._state === 'CLOSED') return undefined
    if (this.ackNow) return 0
    if (this.sndUna === this.iss && this.sndNxt === this.iss) return 0 // SYN or SYN+ACK to send
    if ((this.sndUna !== this.iss || (this.fastOpenPassive && this.sndNxt !== this.iss)) && this.planData() >= 0) return 0
    if (this.recovery.wantsToSend(this.sndUna !== this.iss && this.sendable())) return 0
    return this.timers.earliest()
  }

  /** At most one segment to send now; call until it returns undefined (after `process` and when `pollAt` ≤ now). */
  dispatch(now: number): TcpRepr | undefined {
    this.now = now
    if (this.replies.length > 0) return this.out(this.replies.shift()!, false)
    this.runTimers(now)
    if (this.replies.length > 0) return this.out(this.replies.shift()!, false)
    const s = this._state
    if (s === 'CLOSED' || s === 'LISTEN') return undefined
    if (this.sndUna === this.iss) {
      // Our SYN is not acknowledged yet: (re)send SYN or SYN+ACK, nothing else carries data — except from a
      // Fast Open child once its SYN+ACK is out (RFC 7413 §4.2.2; Linux's tcp_sendmsg lets it send).
      if (this.sndNxt === this.iss) return this.synSegment(now)
      if (this.fastOpenPassive && s === 'SYN-RECEIVED') {
        const d = this.dataSegment(now)
        if (d !== undefined) return d
      }
      if (this.ackNow && this.synSeen) return this.ackSegment(now)
      return undefined
    }
    if (s !== 'TIME-WAIT' && s !== 'FIN-WAIT-2') {
      const d = this.dataSegment(now)
      if (d !== undefined) return d
    }
    if (this.ackNow) return this.ackSegment(now)
    this.armPersist(now)
    return undefined
  }

  private runTimers(now: number): void {
    if (this.timers.timeWait !== undefined && now >= this.timers.timeWait) {
      this.timers.timeWait = undefined
      this.emitTimer(now, 'time-wait')
      this.toClosed('2MSL timeout')
      return
    }
    // The tail loss probe's and RACK's reordering timers (RFC 8985 §7.3, §6.2).
    this.recovery.onTimers(now)
    if (this.timers.rtx !== undefined && now >= this.timers.rtx) {
      this.timers.rtx = undefined
      if (this.timers.rtxKind === 'persist') this.onPersistTimeout(now)
      else this.onRetransmitTimeout(now)
      if (this._state === 'CLOSED') return
    }
    if (this.timers.delayedAck !== undefined && now >= this.timers.delayedAck) {
      this.timers.delayedAck = undefined
      this.emitTimer(now, 'delayed-ack')
      this.ackNow = true
      this.quickAck?.onDelayedAckTimeout()
    }
  }

  /** RFC 6298 §5.4–5.6 and RFC 9293 §3.8.3 (R2): the retransmission timer expired. */
  private onRetransmitTimeout(now: number): void {
    this.emitTimer(now, 'retransmit')
    this.rttTiming.lastRtoAt = now
    this.stats.timeouts++
    const synPhase = this.sndUna === this.iss
    // Probes the peer answered with a zero window do not count: MUST-37 lets the window stay closed.
    if (!(this.sndWnd === 0 && this.ackSinceTimeout && !synPhase)) this.retries++
    this.ackSinceTimeout = false
    const limit = synPhase ? this.config.synRetries : this.config.maxRetries
    if (this.retries > limit) {
      const what = synPhase ? (this.synSeen ? 'SYN+ACK' : 'SYN') : 'data'
      this.toClosed('retransmission limit', {
        code: 'ETIMEDOUT',
        reason: `no acknowledgment for ${what} after ${limit} retransmissions`,
      })
      return
    }
    if (this.userTimedOut(now)) return
    // RFC 5681 §3.1, RFC 6582 §4: the congestion controller's reduction and recover ← highest sent.
    if (!synPhase) this.recovery.onRto(now)
    // Linux (tcp_syn_linear_timeouts): the first SYN retransmissions keep the initial RTO.
    if (!(this._state === 'SYN-SENT' && this.retries <= this.config.synLinearTimeouts)) this.rtt.expired()
    this.rttTiming.forget() // Karn: no sample from anything sent before now
    // With SACK the recovery resends what it marks lost (RFC 6675 §5.1, RFC 8985 §6.3); else go back N.
    if (!synPhase && this.recovery.rtoRecovery(now)) return
    this.sndNxt = this.sndUna // go back N from the earliest unacknowledged octet (RFC 6298 §5.4)
    if (this.sndWnd === 0 && !synPhase) this.forceProbe = true
  }

  /** RFC 9293 §3.8.6.1: the persist timer expired; send a window probe and back off (SHLD-29/30). */
  private onPersistTimeout(now: number): void {
    this.emitTimer(now, 'persist')
    if (this.userTimedOut(now)) return
    this.rtt.expired()
    this.forceProbe = true
  }

  private userTimedOut(now: number): boolean {
    const ut = this.config.userTimeout
    if (ut > 0 && now - this.progressAt >= ut) {
      this.toClosed('user timeout', {
        code: 'ETIMEDOUT',
        reason: `no progress for ${Math.round((now - this.progressAt) / 1000)} ms (user timeout ${ut / 1000} ms)${this.sndWnd === 0 ? ' with a zero window' : ''}`,
      })
      return true
    }
    return false
  }

  /** Arms the persist timer when data or a FIN waits on the window and nothing is in flight to elicit an ACK. */
  private armPersist(now: number): void {
    if (this.timers.rtx !== undefined) return
    const s = this._state
    if (s !== 'ESTABLISHED' && s !== 'CLOSE-WAIT' && s !== 'FIN-WAIT-1' && s !== 'CLOSING' && s !== 'LAST-ACK') return
    if (this.sndUna === this.iss || this.sndNxt !== this.sndUna) return
    const bufEnd = seqAdd(this.sndBufSeq, this.sndBuf.length)
    const pending = seqLt(this.sndNxt, bufEnd) || (this.finQueued && seqLe(this.sndNxt, bufEnd))
    if (!pending) return
    this.timers.rtx = now + this.rtt.current
    this.timers.rtxKind = 'persist'
  }

  /**
   * How many data octets the next segment would carry now (≥ 0, a FIN may ride along), or -1 when
   * nothing may be sent. Pure: shared by dispatch and pollAt.
   */
  private planData(ignoreCwnd = false): number {
    const s = this._state
    const early = s === 'SYN-RECEIVED' && this.fastOpenPassive && this.sndNxt !== this.iss
    if (s !== 'ESTABLISHED' && s !== 'CLOSE-WAIT' && s !== 'FIN-WAIT-1' && s !== 'CLOSING' && s !== 'LAST-ACK' && !early) return -1
    const bufEnd = seqAdd(this.sndBufSeq, this.sndBuf.length)
    const avail = seqDiff(bufEnd, this.sndNxt)
    const finPending = this.finQueued && avail >= 0
    if (avail <= 0 && !finPending) return -1
    const mss = this.segMss()
    // The congestion state's limit (recovery/: cwnd against pipe with SACK, limited transmit without).
    const usable = this.recovery.sendWindow(ignoreCwnd)
    let len = Math.min(mss, avail > 0 ? avail : 0, usable > 0 ? usable : 0)
    // Linux sends the SYN's unacknowledged data again as it was queued (its own skb), never merged with more.
    if (len > 0 && this.synDataEnd !== undefined && seqLt(this.sndNxt, this.synDataEnd)) return Math.min(len, seqDiff(this.synDataEnd, this.sndNxt))
    if (len < mss && len < avail) {
      // Sender SWS avoidance (§3.8.6.2.1, MUST-38): a short window-limited segment only if it is at least
      // half the largest window the peer ever offered, or when the override (persist) timer fired.
      if (len === 0 || (len < this.maxSndWnd / 2 && !this.forceProbe)) len = 0
    } else if (len > 0 && len < mss && len === avail && this.config.nagle && seqGt(this.sndSml, this.sndUna) && seqLe(this.sndSml, this.sndNxt)) {
      // Nagle (§3.7.4) with Minshall's modification (RFC 9293 Appendix A.3, as Linux): hold a short final
      // segment while an earlier short segment is unacknowledged, unless the FIN goes with it.
      if (!finPending) len = 0
    }
    if (len > 0) return len
    // No data: only a FIN that fits in the window (it takes one sequence number).
    if (finPending && avail === 0 && (usable > 0 || seqDiff(seqAdd(this.sndUna, this.sndWnd), this.sndNxt) > 0)) return 0
    return -1
  }

  /**
   * Linux pushes new data that is not the end of the queue in two cases: more than half the largest window
   * the peer offered has been queued since the last push (tcp_sendmsg's forced_push), and a window-limited
   * segment the persist timer lets out (tcp_write_wakeup). Pinned by window-limited-send.pkt and
   * open-passive-wscale-only.pkt on the kernel.
   */
  private linuxForcedPush(end: Seq, probe: boolean): boolean {
    return probe || seqGt(end, seqAdd(this.push.last, this.maxSndWnd >>> 1))
  }

  /** Segments in one of Linux's GSO packets now (tso.ts). */
  private tsoSegs(): number {
    const mss = this.effMss
    return linuxTsoSegs({ mss, cwndSegs: Math.floor(this.cwnd / mss), packetsOut: this.recovery.packetsOut, ssthreshSegs: this.ssthresh / mss, srtt: this.rtt.srtt, minRtt: this.minRtt })
  }

  private segMss(): number {
    // SACK blocks ride in the header and take room from the payload (RFC 9293 §3.7.1 Eff.snd.MSS).
    const finBlock = this.rcvFinAt !== undefined && this.rcvBuf.oooEnd !== seqDiff(this.rcvFinAt, this.rcvNxt) ? 1 : 0
    const n = this.sackOk ? Math.min(this.rcvBuf.oooRanges + (this.dsackStart !== undefined ? 1 : 0) + finBlock, this.tsOk ? 3 : 4) : 0
    let mss = this.effMss
    if (this.config.profile === 'linux' && this.maxSndWnd > 0) {
      // Linux (tcp_bound_to_half_wnd, in tcp_sync_mss): segments no larger than half the largest window the
      // peer offered (all of it when that is at most 536), so a small window is filled by whole segments.
      const cutoff = this.maxSndWnd > 536 ? this.maxSndWnd >>> 1 : this.maxSndWnd
      if (mss > cutoff) mss = Math.max(cutoff, 68 - 20 - (this.tsOk ? 12 : 0))
    }
    return mss - (n > 0 ? 4 + 8 * n : 0)
  }

  private dataSegment(now: number): TcpRepr | undefined {
    // Loss recovery first (recovery/): a fast retransmission, or RFC 6675 NextSeg rule 1 and the probes.
    const sendable = this.sendable()
    const rtx = this.recovery.retransmission(now, sendable)
    if (rtx !== undefined) return rtx
    if (this.forceProbe && seqDiff(seqAdd(this.sndUna, this.sndWnd), this.sndNxt) <= 0) {
      // Zero-window probe (MUST-36) as Linux sends it (tcp_xmit_probe_skb): no data, SEQ = SND.UNA - 1. The
      // receiver finds it unacceptable and must answer with an ACK carrying its window (§3.10.7.4). A probe
      // of new data would move SND.NXT past a closed window, so our later ACKs and RSTs would be out of the
      // peer's window, and it would take octets into room a scaled window rounds away.
      this.forceProbe = false
      this.stats.probes++
      const probe = this.out(this.makeSeg(seqAdd(this.sndUna, -1), ACK, this.windowField(), EMPTY, this.segOptions(now)), false)
      this.armPersist(now)
      return probe
    }
    const len = this.planData()
    if (len < 0) return sendable ? this.recovery.rescue(now) : undefined
    const probe = this.forceProbe
    if (probe) {
      this.forceProbe = false
      this.stats.probes++
    }
    const seg = this.buildSegment(now, this.sndNxt, len, false, probe)
    // RFC 8985 §7.2: (re)start the PTO after sending new data.
    if (sendable) this.recovery.onNewDataSent(now)
    return seg
  }

  /** A state in which data or a FIN may be (re)sent. */
  private sendable(): boolean {
    const s = this._state
    return s === 'ESTABLISHED' || s === 'CLOSE-WAIT' || s === 'FIN-WAIT-1' || s === 'CLOSING' || s === 'LAST-ACK'
  }

  /**
   * A segment at `at` with up to `max` data octets (fewer at the ring's wrap), plus FIN when it reaches the
   * end of the queued data after CLOSE. `resend` leaves SND.NXT alone (fast retransmit); `probe` says the
   * persist timer let this segment out.
   */
  private buildSegment(now: number, at: Seq, max: number, resend: boolean, probe = false): TcpRepr {
    const bufEnd = seqAdd(this.sndBufSeq, this.sndBuf.length)
    if (resend) {
      // A fast retransmission resends only what was sent before (never new data past SND.MAX).
      const finSent = this.finQueued && this.sndMax === seqAdd(bufEnd, 1)
      const sent = seqDiff(this.sndMax, at) - (finSent ? 1 : 0)
      if (max > sent) max = sent
    }
    const payload = max > 0 ? this.sndBuf.view(seqDiff(at, this.sndBufSeq), max) : EMPTY
    const end = seqAdd(at, payload.length)
    let flags = ACK
    if (payload.length > 0) {
      // PSH marks the end of pushed data (RFC 9293 §3.9.1, RFC 1122 §4.2.2.2: a property of the data, so a
      // retransmission that covers a push point carries it again, as Linux's does); new data is pushed when
      // it reaches the end of what is queued (MUST-61).
      if (seqLt(at, this.sndMax) && this.push.covers(at, end)) flags |= PSH
      else if (seqGt(end, this.sndMax) && (end === bufEnd || (this.config.profile === 'linux' && this.linuxForcedPush(end, probe)))) flags |= PSH
      if (flags & PSH && seqGt(end, this.sndMax)) this.push.add(end)
    }
    if (this.finQueued && end === bufEnd) {
      // The FIN needs one sequence number inside the window, unless this is a forced probe or a resend.
      const wndEnd = seqAdd(this.sndUna, this.sndWnd)
      if (resend ? seqGt(this.sndMax, end) : seqLt(end, wndEnd) || payload.length === 0) flags |= FIN
    }
    let urgent = 0
    if (this.sndUp !== undefined && seqGt(this.sndUp, at)) {
      // RFC 9293 §3.8.5: URG with the pointer to the first non-urgent octet, as an offset from SEG.SEQ.
      const off = seqDiff(this.sndUp, at)
      if (off <= 0xffff) {
        flags |= URG
        urgent = off
      }
    }
    // Linux sends the SYN's unacknowledged data again as a retransmission, pushed (tcp_send_syn_data's
    // TCPHDR_PSH), which Minshall's Nagle does not count.
    const synResend = this.synDataEnd !== undefined && seqLe(end, this.synDataEnd)
    if (synResend && end === this.synDataEnd && payload.length > 0) flags |= PSH
    if (this.synDataEnd !== undefined && seqGe(end, this.synDataEnd)) this.synDataEnd = undefined
    if (payload.length > 0 && payload.length < this.segMss() && !synResend) this.sndSml = end
    if (this.quickAck && payload.length > 0) this.quickAck.onDataSent(now, this.config.ackDelay)
    const next = seqAdd(end, flags & FIN ? 1 : 0)
    const retransmit = seqLt(at, this.sndMax)
    if (!resend) {
      if (at === this.sndMax && next !== at) this.recovery.onSent(at, next, now)
      this.sndNxt = next
      if (seqGt(next, this.sndMax)) {
        // Time one fresh segment at a time (RFC 6298 §3 with Karn's rule: never a retransmitted one).
        if (!retransmit && this.rttTiming.seq === undefined) this.rttTiming.start(next, now)
        this.sndMax = next
      }
    }
    if (retransmit) {
      this.stats.retransmits++
      this.rttTiming.resent(at)
    }
    if (this.timers.rtx === undefined || this.timers.rtxKind === 'persist') {
      this.timers.rtx = now + this.rtt.current
      this.timers.rtxKind = 'retransmit'
    }
    if (this.config.profile === 'linux' && payload.length > 0 && !resend && !retransmit) {
      // Linux sends new data as GSO packets and pushes each one of several segments (tso.ts).
      if (this.gso.add(now, this.tsoSegs(), this.planData() > 0, (flags & PSH) !== 0)) flags |= PSH
    }
    const seg = this.makeSeg(at, flags, this.windowField(), payload, this.segOptions(now))
    seg.urgent = urgent
    this.stats.bytesOut += payload.length
    return this.out(seg, retransmit)
  }

  private synSegment(now: number): TcpRepr {
    const c = this.config
    const retransmit = this.sndMax !== this.iss
    const flags = this.synSeen ? SYN | ACK : SYN
    // RFC 9293 §3.7.1 / RFC 7323 / RFC 2018 options, laid out per profile (optlayout.ts). A SYN+ACK only
    // echoes what the peer offered.
    const ts = this.synSeen ? this.tsOk : c.timestamps
    let o = synOptions(c.profile, {
      mss: c.mss,
      sackPermitted: this.synSeen ? this.sackOk : c.sackPermitted,
      tsVal: ts ? this.tsVal(now) : undefined,
      tsEcr: this.synSeen ? this.tsRecent : 0,
      wscale: (this.synSeen ? this.wsOk : c.windowScale !== false) ? (c.windowScale as number) : undefined,
    })
    // RFC 7413 §4.1: Fast Open's option (last, as Linux's tcp_options_write) and data on the first SYN only;
    // a retransmitted SYN carries neither (Linux), and the data goes again after the handshake.
    let payload: Uint8Array = EMPTY
    const fo = retransmit ? undefined : this.synSeen ? this.synAckOption : this.fastOpen?.option
    if (fo) o = [...o, ...fo]
    if (!retransmit && this.fastOpen && this.fastOpen.space > 0) payload = this.sndBuf.view(0, Math.min(this.sndBuf.length, this.fastOpen.space))
    if (!retransmit) this.synData = payload.length
    this.sndNxt = seqAdd(this.iss, 1)
    if (!retransmit) {
      this.synSentAt = now
      this.rttTiming.start(this.sndNxt, now)
    } else {
      this.stats.retransmits++
    }
    this.sndNxt = seqAdd(this.sndNxt, payload.length)
    // The first SYN's data stays sent (SND.MAX) when the SYN goes again without it: the peer may acknowledge it.
    if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt
    if (this.timers.rtx === undefined) {
      this.timers.rtx = now + this.rtt.current
      this.timers.rtxKind = 'retransmit'
    }
    if (this.synSeen) this.lastAckSent = this.rcvNxt
    // RFC 7323 §2.2: the window in a SYN or SYN+ACK is never scaled.
    const seg = this.makeSeg(this.iss, flags, this.synWindow, payload, o)
    this.stats.bytesOut += payload.length
    if (this.synSeen) {
      this.ackNow = false
      this.timers.delayedAck = undefined
    }
    return this.out(seg, retransmit)
  }

  private ackSegment(now: number): TcpRepr {
    // <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>, with SND.NXT taken as the highest sent (the peer's view).
    return this.out(this.makeSeg(this.sndMax, ACK, this.windowField(), EMPTY, this.segOptions(now)), false)
  }

  /** Options for a non-SYN segment (optlayout.ts): timestamps when in use, SACK blocks for held data. */
  private segOptions(now: number): TcpOption[] {
    const sackN = this.sackOk ? this.rcvBuf.oooRanges : 0
    const dsack = this.dsackStart
    if (!this.tsOk && sackN === 0 && dsack === undefined && !(this.sackOk && this.rcvFinAt !== undefined)) return NO_OPTIONS
    let blocks: Array<[Seq, Seq]> | undefined
    if (sackN > 0 || dsack !== undefined || (this.sackOk && this.rcvFinAt !== undefined)) {
      const d: [Seq, Seq] | undefined = dsack !== undefined ? [dsack, this.dsackEnd] : undefined
      blocks = sackBlocks(this.rcvBuf, this.rcvNxt, this.tsOk ? 3 : 4, d, this.rcvFinAt, this.rcvFinRecent, this.sackScratch)
      this.dsackStart = undefined // RFC 2883 §4: a D-SACK block is sent once
    }
    return dataOptions(this.tsOk, this.tsOk ? this.tsVal(now) : 0, this.tsRecent, blocks)
  }

  /**
   * The window field for an outgoing segment, and the bookkeeping of what it promises. Receiver SWS
   * avoidance (§3.8.6.2.2, MUST-39): the right edge moves only by min(RCV.BUFF/2, MSS) or more; it never
   * moves left (SHLD-14), so with scaling the window is rounded up to the next unit (Linux rounds up the
   * same way), bounded by the ring's real room (RCV.BUFF plus one unit).
   */
  private windowField(): number {
    const unit = 1 << this.rcvShift
    const free = Math.max(this.config.rcvBuf - this.rcvBuf.length, 0)
    const cur = this.rcvWnd
    let wnd = free
    if (wnd - cur < Math.min(this.config.rcvBuf >> 1, this.config.mss)) wnd = cur
    // Rounded up: with a scale unit larger than the free space (a small buffer and a large shift) rounding
    // down would advertise zero forever. The ring has one unit of slack for exactly this.
    let field = Math.ceil(wnd / unit)
    const hard = Math.floor(this.rcvBuf.room / unit)
    if (field > hard) field = hard
    if (field > 0xffff) field = 0xffff
    // SHLD-14 with scaling (RFC 7323 §2.4): the field is rounded to a whole unit, so the edge it shows
    // can sit up to one unit left of one we showed before. We keep accepting data up to the furthest edge
    // ever promised (the ring has the room: every edge was bounded by it when promised). Without this,
    // Linux, filling to the old edge, had its ACKs dropped as out of window (the interop slow-reader test).
    const right = seqAdd(this.rcvNxt, field * unit)
    if (seqGt(right, this.rcvAdvRight) || !this.synSeen) this.rcvAdvRight = right
    this.lastAckSent = this.rcvNxt
    if (this.quickAck && (this.ackNow || this.timers.delayedAck !== undefined)) this.quickAck.onAckSent()
    this.ackNow = false
    this.segsSinceAck = 0
    this.timers.delayedAck = undefined
    return field
  }

  private tsVal(now: number): number {
    // A 1 ms timestamp clock (RFC 7323 §5.4 asks for 1 ms..1 s per tick) plus the per-connection offset.
    return (this.tsOffset + Math.floor(now / 1000)) >>> 0
  }

  private makeSeg(at: Seq, flags: number, window: number, payload: Uint8Array, options: TcpOption[]): TcpRepr {
    return {
      srcPort: this.tuple.localPort,
      dstPort: this.tuple.remotePort,
      seq: at,
      ack: flags & ACK ? this.rcvNxt : seq(0),
      flags,
      window,
      urgent: 0,
      options,
      payload,
    }
  }

  private makeRst(at: Seq): TcpRepr {
    return this.makeSeg(at, RST, 0, EMPTY, NO_OPTIONS)
  }

  private queueReply(r: TcpRepr): void {
    // Bounded: a burst of bad segments between two dispatch calls cannot grow memory.
    if (this.replies.length < 8) this.replies.push(r)
  }

  private out(seg: TcpRepr, retransmit: boolean): TcpRepr {
    this.stats.segsOut++
    if (seg.payload.length > 0) this.stats.dataSegsOut++
    if (this.onEvent) this.onEvent({ type: 'segment-out', now: this.now, seg, retransmit }, this)
    return seg
  }

  // ------------------------------------------------------------------ helpers

  private get finAcked(): boolean {
    return this.finQueued && this.sndBuf.length === 0 && seqGt(this.sndUna, this.sndBufSeq)
  }

  private defaultPeerMss(): number {
    return this.tuple.remoteAddr.length === 16 ? 1220 : 536
  }

  private setState(to: TcpState, cause: string): void {
    const from = this._state
    this._state = to
    if (this.onEvent) {
      this.onEvent(
        {
          type: 'state',
          now: this.now,
          from,
          to,
          cause,
          sndUna: this.sndUna,
          sndNxt: this.sndNxt,
          sndWnd: this.sndWnd,
          rcvNxt: this.rcvNxt,
          rcvWnd: this.rcvWnd,
        },
        this,
      )
    }
    if (this.stateHook) this.stateHook(this, from, to)
  }

  private toClosed(cause: string, err?: TcpError): void {
    if (err) {
      this.error = err
      if (this.onEvent) this.onEvent({ type: 'error', now: this.now, code: err.code, reason: err.reason }, this)
    }
    this.timers.clearAll()
    this.ackNow = false
    this.forceProbe = false
    this.recovery.onClose()
    this.setState('CLOSED', cause)
  }

  private drop(seg: TcpRepr, reason: DropReason): void {
    this.stats.drops++
    if (this.onEvent) this.onEvent({ type: 'drop', now: this.now, seg, reason }, this)
  }

  private emitSegIn(seg: TcpRepr): void {
    if (this.onEvent) this.onEvent({ type: 'segment-in', now: this.now, seg }, this)
  }

  private emitTimer(now: number, timer: TimerKind): void {
    if (this.onEvent) this.onEvent({ type: 'timer', now, timer, backoff: this.rtt.backoff }, this)
  }

  /**
   * Checks the TCB's invariants (RFC 9293 §3.3.1 relations and our own bookkeeping); returns a
   * description of the first one broken, or undefined. Used by tests and the simulation after every step.
   */
  checkInvariants(): string | undefined {
    const s = this._state
    if (!seqLe(this.sndUna, this.sndNxt)) return `SND.UNA ${this.sndUna} > SND.NXT ${this.sndNxt}`
    if (!seqLe(this.sndNxt, this.sndMax)) return `SND.NXT ${this.sndNxt} > SND.MAX ${this.sndMax}`
    if (!seqLe(this.sndUna, this.sndBufSeq) && !this.finAcked) return 'send buffer starts before SND.UNA'
    const bufEnd = seqAdd(this.sndBufSeq, this.sndBuf.length)
    const maxEnd = seqAdd(bufEnd, this.finQueued ? 1 : 0)
    if (!seqLe(this.sndMax, maxEnd)) return `SND.MAX ${this.sndMax} beyond queued data end ${maxEnd}`
    if (this.sndUna !== this.iss && seqDiff(this.sndBufSeq, this.sndUna) !== 0 && !this.finAcked) {
      return `send buffer start ${this.sndBufSeq} != SND.UNA ${this.sndUna}`
    }
    if (this.sndBuf.length > this.sndBuf.capacity) return 'send buffer over capacity'
    if (this.sndWnd < 0 || this.sndWnd > 0xffff * 2 ** 14) return `SND.WND ${this.sndWnd} out of range`
    if (this.sndWnd > this.maxSndWnd) return 'SND.WND > MAX.SND.WND'
    if (!(this.cwnd >= 1)) return `cwnd ${this.cwnd}`
    if (this.synSeen) {
      const w = seqDiff(this.rcvAdvRight, this.rcvNxt)
      if (w > this.rcvBuf.room) return `advertised window ${w} exceeds buffer room ${this.rcvBuf.room}`
      if (w > 0xffff * 2 ** this.rcvShift) return `advertised window ${w} exceeds the field`
    }
    const rb = this.rcvBuf.check()
    if (rb) return rb
    if (this.error && s !== 'CLOSED') return `error set in ${s}`
    if (s === 'CLOSED' || s === 'LISTEN') return undefined
    if (s !== 'TIME-WAIT' && seqLt(this.sndUna, this.sndMax) && this.timers.rtx === undefined) {
      return 'unacknowledged data but no retransmission timer'
    }
    if (s === 'TIME-WAIT' && this.timers.timeWait === undefined) return 'TIME-WAIT without its timer'
    if (this.sndUna !== this.iss) {
      // The loss recovery's own (with SACK: SND.NXT = SND.MAX, the log and scoreboard, pipe ≥ 0).
      const r = this.recovery.check()
      if (r) return r
    }
    const closingSend = s === 'FIN-WAIT-1' || s === 'FIN-WAIT-2' || s === 'CLOSING' || s === 'LAST-ACK' || s === 'TIME-WAIT'
    if (closingSend !== this.finQueued) return `FIN queued=${this.finQueued} in ${s}`
    const finIn = s === 'CLOSE-WAIT' || s === 'CLOSING' || s === 'LAST-ACK' || s === 'TIME-WAIT'
    if (finIn !== this.finReceived) return `FIN received=${this.finReceived} in ${s}`
    if ((s === 'FIN-WAIT-2' || s === 'TIME-WAIT') && !this.finAcked) return `${s} but our FIN is not acknowledged`
    if (s === 'SYN-SENT' && this.synSeen) return 'SYN-SENT with a peer SYN recorded'
    return undefined
  }
}
