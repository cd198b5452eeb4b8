/**
 * Passive OPEN (RFC 9293 §3.10.7.2, the LISTEN state): a listener that answers segments for its port that
 * match no connection and spawns one TCB per incoming SYN. Backlogs are bounded twice, as in Linux: half-open
 * connections (SYN-RECEIVED, the "SYN queue") and established ones not yet accepted (the accept queue).
 * When the SYN queue is full and `synCookies` is on, the SYN+ACK carries a SYN cookie (RFC 4987 §3.6) and
 * no state is kept until a valid ACK comes back. With TCP Fast Open (RFC 7413 §4.2, TcpConfig.fastOpen and
 * a queue set with {@link Listener.fastOpenQueue}) a SYN with a valid cookie, or any SYN with data when
 * cookies are not required, makes a child that is accepted at once (Linux's tcp_try_fastopen, fastopen.ts).
 */
import { seq, seqAdd, type Seq } from './seq.js'
import { TcpFlags, type TcpRepr } from './segment.js'
import { defaultSecret, HashDomain, keyedHash32 } from './isn.js'
import { EMPTY } from './snd.js'
import { synOptions, synWindow } from './optlayout.js'
import { fastOpenServerDecision } from './fastopen.js'
import { sipHash24, sipHashHigh } from './siphash.js'
import { rstForClosed, Tcb } from './tcb.js'
import type { DropReason, TraceListener } from './trace.js'
import { resolveConfig, type FourTuple, type TcpConfig, type TcpState } from './types.js'

export { rstForClosed } from './tcb.js'

const { SYN, RST, ACK } = TcpFlags

/** MSS values a SYN cookie can encode (Linux's IPv4 msstab): the index takes 2 of the cookie's bits. */
export const COOKIE_MSS = [536, 1300, 1440, 1460] as const

/** A SYN cookie's clock ticks once a minute; a cookie is valid in its minute and the next (Linux: 2). */
const COOKIE_TICK = 60_000_000

/** Options for {@link Listener}. */
export interface ListenerOptions {
  /** Local port listened on (for the RST replies' source port the segment's own port is used). */
  localPort: number
  /** Accept-queue bound: established connections not yet accepted (listen(2)'s backlog). Default 128. */
  backlog?: number
  /** Half-open bound: children in SYN-RECEIVED. Default: the backlog. */
  maxHalfOpen?: number
  /** Answer SYNs with SYN cookies once the half-open queue is full. Default false. */
  synCookies?: boolean
  /** Configuration for every spawned TCB. */
  config?: Partial<TcpConfig>
  /** Trace callback handed to every spawned TCB. */
  onEvent?: TraceListener
}

/** Counters for the SYN-flood figures of issue 7. */
export interface ListenerStats {
  synsReceived: number
  synsDropped: number
  cookiesSent: number
  cookiesAccepted: number
  cookiesRejected: number
  resetsSent: number
}

/** A TCP listener: LISTEN state for one port. */
export class Listener {
  /** Always LISTEN (RFC 9293 §3.3.2). */
  readonly state: TcpState = 'LISTEN'
  /** Accept-queue bound. */
  readonly backlog: number
  /** Half-open bound. */
  readonly maxHalfOpen: number
  /** Counters. */
  readonly stats: ListenerStats = {
    synsReceived: 0,
    synsDropped: 0,
    cookiesSent: 0,
    cookiesAccepted: 0,
    cookiesRejected: 0,
    resetsSent: 0,
  }
  private readonly acceptQueue: Tcb[] = []
  private halfOpenCount = 0
  /**
   * The most Fast Open children in SYN-RECEIVED at once (Linux's fastopenq.max_qlen, set by TCP_FASTOPEN or
   * the listen() backlog under tcp_fastopen 0x400); 0 turns Fast Open off for this listener.
   */
  fastOpenQueue = 0
  /** The listener's own Fast Open keys (Linux's TCP_FASTOPEN_KEY), over the config's. */
  fastOpenKeys: Uint8Array[] | undefined
  private fastOpenCount = 0
  private readonly fastOpenHook = (_tcb: Tcb, from: TcpState): void => {
    if (from === 'SYN-RECEIVED') this.fastOpenCount--
  }
  private config: Partial<TcpConfig>
  private resolved: TcpConfig
  private readonly secret: Uint8Array
  private readonly synCookies: boolean
  private readonly onEvent: TraceListener | undefined
  private readonly hook = (tcb: Tcb, from: TcpState, to: TcpState): void => {
    if (from !== 'SYN-RECEIVED') return
    this.halfOpenCount--
    if (to !== 'CLOSED') this.acceptQueue.push(tcb)
  }

  constructor(readonly options: ListenerOptions) {
    this.backlog = options.backlog ?? 128
    this.maxHalfOpen = options.maxHalfOpen ?? this.backlog
    this.config = options.config ?? {}
    this.resolved = resolveConfig(this.config)
    this.secret = this.resolved.isnSecret ?? defaultSecret()
    this.synCookies = options.synCookies ?? false
    this.onEvent = options.onEvent
  }

  /**
   * The configuration of connections made from now on (a socket option set on a listening socket, which
   * Linux's children inherit); connections already made keep theirs. The ISN secret stays.
   */
  setConfig(config: Partial<TcpConfig>): void {
    this.resolved = resolveConfig(config)
    this.config = config
  }

  /** Connections in SYN-RECEIVED. */
  get halfOpen(): number {
    return this.halfOpenCount
  }

  /** Established connections waiting for `accept`. */
  get pending(): number {
    return this.acceptQueue.length
  }

  /** The oldest connection that completed its handshake, or undefined. */
  accept(): Tcb | undefined {
    return this.acceptQueue.shift()
  }

  /**
   * A segment for this port that matched no connection (`tuple` seen from our side). Returns a new TCB
   * (in SYN-RECEIVED, or ESTABLISHED from a SYN cookie) that the caller must register and `dispatch`, a
   * segment to send in reply (a RST, or a cookie SYN+ACK), or undefined when the segment is dropped.
   */
  process(now: number, seg: TcpRepr, tuple: FourTuple): Tcb | TcpRepr | undefined {
    const f = seg.flags
    // First: "An incoming RST segment could not be valid ... ignore it."
    if (f & RST) return this.dropped(now, seg, 'listen')
    // Second: any ACK is bad in LISTEN — unless it returns one of our SYN cookies.
    if (f & ACK) {
      if (this.synCookies && !(f & SYN)) {
        const mss = this.checkCookie(now, seg, tuple)
        if (mss !== undefined && this.acceptQueue.length < this.backlog) {
          this.stats.cookiesAccepted++
          const tcb = Tcb.fromCookie(tuple, now, seg, seqAdd(seg.ack, -1), mss, this.config, this.onEvent)
          this.acceptQueue.push(tcb)
          if (seg.payload.length > 0 || f & TcpFlags.FIN) tcb.process(now, seg)
          return tcb
        }
        if (mss === undefined) this.stats.cookiesRejected++
      }
      this.stats.resetsSent++
      return this.reply(now, seg, rstForClosed(seg)!)
    }
    // Third: SYN.
    if (f & SYN) {
      this.stats.synsReceived++
      if (this.acceptQueue.length >= this.backlog) {
        // Linux drops SYNs while the accept queue is full; the client retries.
        this.stats.synsDropped++
        return this.dropped(now, seg, 'backlog-full')
      }
      if (this.halfOpenCount >= this.maxHalfOpen) {
        if (this.synCookies) return this.reply(now, seg, this.cookieSynAck(now, seg, tuple))
        this.stats.synsDropped++
        return this.dropped(now, seg, 'backlog-full')
      }
      const keys = this.fastOpenKeys ?? this.resolved.fastOpenKeys ?? [this.derivedKey()]
      const fo = this.resolved.fastOpen === 0 ? undefined : fastOpenServerDecision({
        mode: this.resolved.fastOpen,
        queueOk: this.fastOpenQueue > 0 && this.fastOpenCount < this.fastOpenQueue,
        keys,
        client: tuple.remoteAddr,
        server: tuple.localAddr,
        synData: seg.payload.length > 0,
        options: seg.options,
      })
      if (fo?.child) {
        // RFC 7413 §4.2.2: the child takes the SYN's data and is ready for accept() before the handshake ends.
        this.fastOpenCount++
        const tcb = Tcb.fromSyn(tuple, now, seg, this.config, this.onEvent, this.fastOpenHook, fo)
        this.acceptQueue.push(tcb)
        return tcb
      }
      this.halfOpenCount++
      return Tcb.fromSyn(tuple, now, seg, this.config, this.onEvent, this.hook, fo)
    }
    // Fourth: "Any other control or text-bearing segment (not containing SYN) must have an ACK and thus
    // would have been discarded by the ACK processing" — drop.
    return this.dropped(now, seg, 'listen')
  }

  /** A Fast Open key of our own when none is set (Linux makes a random one): derived from the secret. */
  private derivedKey(): Uint8Array {
    const k = new Uint8Array(16)
    const v = new DataView(k.buffer)
    const label = new TextEncoder().encode('tcplab fast open key')
    v.setUint32(0, sipHash24(this.secret, label), true)
    v.setUint32(4, sipHashHigh, true)
    v.setUint32(8, sipHash24(this.secret, label, label.length - 1), true)
    v.setUint32(12, sipHashHigh, true)
    return k
  }

  private dropped(now: number, seg: TcpRepr, reason: DropReason): undefined {
    if (this.onEvent) {
      this.onEvent({ type: 'segment-in', now, seg }, this)
      this.onEvent({ type: 'drop', now, seg, reason }, this)
    }
    return undefined
  }

  private reply(now: number, seg: TcpRepr, out: TcpRepr): TcpRepr {
    if (this.onEvent) {
      this.onEvent({ type: 'segment-in', now, seg }, this)
      this.onEvent({ type: 'segment-out', now, seg: out, retransmit: false }, this)
    }
    return out
  }

  /** RFC 4987 §3.6: cookie = t (5 bits) ‖ MSS index (3 bits) ‖ 24 bits of a keyed hash over the 4-tuple, t and the client's ISN. */
  private cookieFor(tuple: FourTuple, clientIsn: Seq, t: number, mssIdx: number): Seq {
    const h = keyedHash32(this.secret, HashDomain.SYN_COOKIE, tuple, (clientIsn ^ Math.imul(t, 0x01000193)) >>> 0)
    return seq(((t & 31) << 27) | ((mssIdx & 7) << 24) | (h & 0xffffff))
  }

  private cookieSynAck(now: number, syn: TcpRepr, tuple: FourTuple): TcpRepr {
    let peerMss = 536
    for (const o of syn.options) if (o.kind === 'mss') peerMss = o.value
    const want = Math.min(peerMss, this.resolved.mss)
    let idx = 0
    for (let i = COOKIE_MSS.length - 1; i >= 0; i--) {
      if (COOKIE_MSS[i] <= want) {
        idx = i
        break
      }
    }
    const t = Math.floor(now / COOKIE_TICK) % 32
    const cookie = this.cookieFor(tuple, syn.seq, t, idx)
    this.stats.cookiesSent++
    // Only MSS survives a cookie: no window scale, SACK or timestamps (we keep no state to remember them).
    return {
      srcPort: syn.dstPort,
      dstPort: syn.srcPort,
      seq: cookie,
      ack: seqAdd(syn.seq, 1),
      flags: SYN | ACK,
      window: synWindow(this.resolved.profile, this.resolved.rcvBuf, this.resolved.mss),
      urgent: 0,
      options: synOptions(this.resolved.profile, { mss: this.resolved.mss, sackPermitted: false, tsVal: undefined, tsEcr: 0, wscale: undefined }),
      payload: EMPTY,
    }
  }

  /** The MSS a returning ACK's cookie encodes, or undefined when the cookie is not ours or too old. */
  private checkCookie(now: number, ack: TcpRepr, tuple: FourTuple): number | undefined {
    const cookie = seqAdd(ack.ack, -1)
    const clientIsn = seqAdd(ack.seq, -1)
    const t = cookie >>> 27
    const idx = (cookie >>> 24) & 7
    if (idx >= COOKIE_MSS.length) return undefined
    const nowT = Math.floor(now / COOKIE_TICK) % 32
    if (t !== nowT && t !== (nowT + 31) % 32) return undefined
    if (this.cookieFor(tuple, clientIsn, t, idx) !== cookie) return undefined
    return COOKIE_MSS[idx]
  }
}
