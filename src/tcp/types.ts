/**
 * Types shared by the TCB, the listener and the trace: states, the 4-tuple, configuration and its
 * defaults. Time everywhere in src/tcp is a plain number of MICROSECONDS since an arbitrary epoch chosen
 * by the caller (the lab uses `performance.now() * 1000`, the simulation starts at 0); it must never go
 * backwards and must be ≥ 0.
 */
import type { Seq } from './seq.js'
import { CC_NAMES, type CcName } from './cc/index.js'

/** The eleven states of RFC 9293 §3.3.2, spelled as in the RFC. */
export type TcpState =
  | 'CLOSED'
  | 'LISTEN'
  | 'SYN-SENT'
  | 'SYN-RECEIVED'
  | 'ESTABLISHED'
  | 'FIN-WAIT-1'
  | 'FIN-WAIT-2'
  | 'CLOSE-WAIT'
  | 'CLOSING'
  | 'LAST-ACK'
  | 'TIME-WAIT'

/** A connection's addresses and ports, seen from this end (local = us). Addresses are 4 or 16 bytes. */
export interface FourTuple {
  localAddr: Uint8Array
  localPort: number
  remoteAddr: Uint8Array
  remotePort: number
}

/** Why a connection ended abnormally; codes follow errno names so the lab can print them like Linux. */
export type TcpErrorCode = 'ECONNREFUSED' | 'ECONNRESET' | 'ETIMEDOUT' | 'ECONNABORTED'

/** The reason a connection was torn down, set when it enters CLOSED abnormally (RFC 9293 MUST-12). */
export interface TcpError {
  code: TcpErrorCode
  reason: string
}

/** One microsecond-based time unit helper: µs per second. */
export const SECOND = 1_000_000
/** µs per millisecond. */
export const MILLISECOND = 1_000

/**
 * Whose behaviour a TCB follows where the RFCs leave room: 'rfc' is tcplab's own (the default); 'linux'
 * is what the Linux kernel does, pinned against kernel captures (so far: the SYN option layout, optlayout.ts).
 */
export type TcpProfile = 'rfc' | 'linux'

/** Every tunable of a TCB; all optional when passed in, resolved against {@link DEFAULT_TCP_CONFIG}. */
export interface TcpConfig {
  /** Whose behaviour to follow where the RFCs leave room ({@link TcpProfile}); default 'rfc'. */
  profile: TcpProfile
  /** MSS we advertise (RFC 9293 §3.7.1, MUST-14/MUST-67) and our cap on outgoing payload. */
  mss: number
  /** Window-scale shift we offer (RFC 7323 §2), or false to not offer the option. */
  windowScale: number | false
  /**
   * Offer SACK-permitted (RFC 2018) in the SYN. When both ends agree we send SACK blocks for out-of-order
   * data and recover from loss with the peer's blocks (RFC 6675); otherwise NewReno (RFC 6582).
   */
  sackPermitted: boolean
  /**
   * With SACK: RACK-TLP loss detection (RFC 8985), time-based marking and tail loss probes, as Linux by
   * default. false keeps RFC 6675's DupThresh rule alone (losses of a tail or of a retransmission then wait
   * for the RTO).
   */
  rack: boolean
  /**
   * With SACK: report duplicate segments in a first D-SACK block (RFC 2883), as Linux does by default
   * (tcp_dsack=1). Default: on in the 'linux' profile, off in 'rfc'.
   */
  dsack: boolean
  /** Offer timestamps (RFC 7323 §3): TSval/TSecr in every segment and PAWS once both sides agree. */
  timestamps: boolean
  /** Receive buffer size in bytes: the most we advertise (plus at most one scaling unit). */
  rcvBuf: number
  /**
   * The window field of our SYN or SYN+ACK (never scaled, RFC 7323 §2.2), 0..65535 and at most rcvBuf;
   * undefined advertises min(rcvBuf, 65535). Later segments advertise the buffer as usual.
   */
  synWindow: number | undefined
  /** Send buffer size in bytes: `send` accepts no more than this unacknowledged + unsent. */
  sndBuf: number
  /** RFC 6298 §2.1 initial RTO (µs). */
  rtoInitial: number
  /** Lower bound on the RTO (µs). Default 200 ms as Linux (TCP_RTO_MIN), not RFC 6298's 1 s: see tcb.ts. */
  rtoMin: number
  /** Upper bound on the RTO after backoff (µs); RFC 6298 §2.5 allows a maximum of at least 60 s. */
  rtoMax: number
  /** Retransmissions of a SYN or SYN+ACK before giving up (RFC 9293 R2 for SYN, MUST-23: ≥ 3 minutes). */
  synRetries: number
  /**
   * SYN retransmissions in SYN-SENT that keep the initial RTO instead of doubling it (Linux's
   * tcp_syn_linear_timeouts, 4 by default since 6.7, the 'linux' profile's); 0 backs off from the first
   * (RFC 6298 §5.5, the 'rfc' profile's).
   */
  synLinearTimeouts: number
  /** Retransmissions of data or FIN before giving up (RFC 9293 R2, MUST-20); Linux tcp_retries2 = 15. */
  maxRetries: number
  /**
   * Optional user timeout in µs (RFC 5482 / Linux TCP_USER_TIMEOUT): abort with ETIMEDOUT when data has
   * been outstanding or blocked by a zero window this long with no forward progress. 0 = off, in which
   * case a zero window may stay closed indefinitely while the peer answers probes (RFC 9293 MUST-37).
   */
  userTimeout: number
  /** Maximum segment lifetime (µs); TIME-WAIT lasts 2×MSL (RFC 9293 §3.4.2, MUST-13). */
  msl: number
  /** Delayed-ACK timeout in µs (RFC 9293 §3.8.6.3, MUST-40: < 0.5 s); 0 acknowledges every segment at once. */
  ackDelay: number
  /** Nagle's algorithm (RFC 9293 §3.7.4, SHLD-7); false is TCP_NODELAY (MUST-17). */
  nagle: boolean
  /** Initial congestion window in segments (RFC 6928: 10, as Linux). */
  initialCwnd: number
  /**
   * Congestion control by name, as Linux's tcp_congestion_control: 'reno' (RFC 5681) or 'cubic' (RFC 9438
   * with Linux's HyStart). See src/tcp/cc/.
   */
  congestionControl: CcName
  /**
   * Minimum spacing (µs) between challenge ACKs and other ACKs sent in reply to invalid segments
   * (RFC 5961 §7). Per connection, like Linux's tcp_invalid_ratelimit (500 ms), which avoids the global
   * counter side channel of CVE-2016-5696.
   */
  challengeAckInterval: number
  /**
   * Initial send sequence number: a fixed value (tests), a function of the 4-tuple and time, or undefined
   * for RFC 6528 ISNs keyed with `isnSecret`.
   */
  iss: number | ((tuple: FourTuple, now: number) => number) | undefined
  /** Secret key for RFC 6528 ISNs and the timestamp offset; when undefined a process-wide random key is used. */
  isnSecret: Uint8Array | undefined
  /** Offset added to our timestamp clock (Linux randomises it per connection); undefined derives it from the secret. */
  tsOffset: number | undefined
  /**
   * TCP Fast Open (RFC 7413) as Linux's tcp_fastopen sysctl spells it (fastopen.ts: 0x1 client, 0x2 server,
   * 0x4 client without cookies, 0x200 server without cookies, 0x400 every listener); 0, the default, is off.
   */
  fastOpen: number
  /** The server's Fast Open keys (16 bytes each, primary first); undefined derives one from the ISN secret. */
  fastOpenKeys: Uint8Array[] | undefined
}

/** Defaults: what a modern Linux client does, except where tcb.ts says otherwise. */
export const DEFAULT_TCP_CONFIG: Readonly<TcpConfig> = Object.freeze({
  profile: 'rfc',
  mss: 1460,
  windowScale: 7,
  sackPermitted: true,
  rack: true,
  dsack: false,
  timestamps: true,
  rcvBuf: 256 * 1024,
  synWindow: undefined,
  sndBuf: 256 * 1024,
  rtoInitial: 1 * SECOND,
  rtoMin: 200 * MILLISECOND,
  rtoMax: 120 * SECOND,
  synRetries: 7,
  synLinearTimeouts: 0,
  maxRetries: 15,
  userTimeout: 0,
  msl: 30 * SECOND,
  ackDelay: 40 * MILLISECOND,
  nagle: true,
  initialCwnd: 10,
  congestionControl: 'reno',
  challengeAckInterval: 500 * MILLISECOND,
  iss: undefined,
  isnSecret: undefined,
  tsOffset: undefined,
  fastOpen: 0,
  fastOpenKeys: undefined,
})

/**
 * The defaults of the 'linux' profile: DEFAULT_TCP_CONFIG already has Linux's initial window (10), initial
 * RTO (1 s), minimum RTO (200 ms), delayed ACK (40 ms, TCP_ATO_MIN) and 1 ms timestamp clock; the profile
 * adds CUBIC, Linux's default congestion control, D-SACK (tcp_dsack=1), linear SYN timeouts
 * (tcp_syn_linear_timeouts=4), and (in the TCB) the option layout and quick-ack mode.
 */
export const LINUX_TCP_CONFIG: Readonly<TcpConfig> = Object.freeze({
  ...DEFAULT_TCP_CONFIG,
  profile: 'linux',
  congestionControl: 'cubic',
  dsack: true,
  synLinearTimeouts: 4,
})

/** Merges a partial config over the defaults and checks the ranges that would break the TCB. */
export function resolveConfig(partial?: Partial<TcpConfig>): TcpConfig {
  // The profile picks the defaults: fields given explicitly win over either set.
  const c: TcpConfig = { ...(partial?.profile === 'linux' ? LINUX_TCP_CONFIG : DEFAULT_TCP_CONFIG), ...partial }
  if (!(c.mss >= 64 && c.mss <= 65535)) throw new RangeError(`mss ${c.mss} out of range 64..65535`)
  if (c.windowScale !== false && !(c.windowScale >= 0 && c.windowScale <= 14)) {
    throw new RangeError(`windowScale ${c.windowScale} out of range 0..14 (RFC 7323 §2.3)`)
  }
  if (!(c.rcvBuf >= 1 && c.rcvBuf <= 0x3fffffff)) throw new RangeError(`rcvBuf ${c.rcvBuf} out of range`)
  if (c.synWindow !== undefined && !(Number.isInteger(c.synWindow) && c.synWindow >= 0 && c.synWindow <= Math.min(0xffff, c.rcvBuf))) {
    throw new RangeError(`synWindow ${c.synWindow} out of range 0..${Math.min(0xffff, c.rcvBuf)} (the SYN's unscaled field, within rcvBuf)`)
  }
  if (!(c.sndBuf >= 1 && c.sndBuf <= 0x3fffffff)) throw new RangeError(`sndBuf ${c.sndBuf} out of range`)
  if (c.ackDelay >= 500_000) throw new RangeError('ackDelay must be < 0.5 s (RFC 9293 MUST-40)')
  if (!(c.rtoMin > 0 && c.rtoMin <= c.rtoMax)) throw new RangeError('need 0 < rtoMin ≤ rtoMax')
  if (!(Number.isInteger(c.synLinearTimeouts) && c.synLinearTimeouts >= 0)) throw new RangeError(`synLinearTimeouts ${c.synLinearTimeouts} must be an integer ≥ 0`)
  if (c.profile !== 'rfc' && c.profile !== 'linux') throw new RangeError(`profile ${String(c.profile)} is not one of rfc, linux`)
  if (!CC_NAMES.includes(c.congestionControl)) {
    throw new RangeError(`congestionControl ${String(c.congestionControl)} is not one of ${CC_NAMES.join(', ')}`)
  }
  if (typeof c.rack !== 'boolean') throw new RangeError(`rack must be true or false, got ${String(c.rack)}`)
  if (typeof c.dsack !== 'boolean') throw new RangeError(`dsack must be true or false, got ${String(c.dsack)}`)
  return c
}

/** A sequence number pair for a SACK block (RFC 2018): [left edge, right edge). */
export type SackBlock = [Seq, Seq]
