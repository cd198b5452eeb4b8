/**
 * Congestion control behind one small interface, chosen per connection by name (Linux's
 * `struct tcp_congestion_ops` and `tcp_congestion_control`; gVisor's `congestionControl`). The algorithm
 * owns cwnd and ssthresh: it decides how the window grows on an ACK (RFC 5681 §3.1) and how far it is cut
 * on a loss or an RTO. The TCB's loss recovery may still set the window while recovery lasts (RFC 6582's
 * inflation and deflation), through `setRecoveryWindow`, as Linux's recovery sets snd_cwnd apart from the
 * congestion module. Sizes are bytes, times µs, as everywhere in src/tcp.
 */
import type { Seq } from '../seq.js'
import { Cubic } from './cubic.js'
import { Reno } from './reno.js'
import type { SlowStartRule } from './slowstart.js'

export { Cubic } from './cubic.js'
export { Reno } from './reno.js'
export { slowStart, type SlowStartRule } from './slowstart.js'

/** The algorithms by name (Linux's names for `tcp_congestion_control`). */
export type CcName = 'reno' | 'cubic'

/** Every name {@link createCongestionControl} accepts. */
export const CC_NAMES: readonly CcName[] = Object.freeze(['reno', 'cubic'])

/**
 * What reduced the window: a fast retransmit on duplicate ACKs (RFC 5681 §3.2), a loss marked with SACK
 * information (RFC 6675 §5), or a tail loss probe that repaired a loss (RFC 8985 §7.4).
 */
export type LossKind = 'dupack' | 'sack' | 'tlp'

/** The interface the TCB calls on ACK, RTT sample, loss and RTO. */
export interface CongestionControl {
  /** The algorithm's name. */
  readonly name: CcName
  /** Congestion window in bytes (an integer ≥ 1). */
  readonly cwnd: number
  /** Slow-start threshold in bytes (Infinity until the first reduction or slow-start exit). */
  readonly ssthresh: number
  /** Starts (or restarts, once the MSS is known) with the initial window `iw` in bytes (RFC 5681 §3.1 IW). */
  init(iw: number, now: number): void
  /** One RTT measurement (µs) after SND.UNA moved to `una` (Linux's pkts_acked hook: HyStart reads it). */
  onRttSample(rtt: number, now: number, smss: number, una: Seq, sndNxt: Seq): void
  /** `acked` new bytes acknowledged outside recovery: slow start or congestion avoidance. */
  onAck(acked: number, smss: number, now: number): void
  /** A loss was detected: ssthresh per the algorithm, and cwnd ← ssthresh (the recovery may then adjust it). */
  onLoss(kind: LossKind, flight: number, smss: number, now: number): void
  /** The retransmission timer expired: ssthresh per the algorithm, cwnd ← the loss window of one segment. */
  onRto(flight: number, smss: number, now: number): void
  /** The window the loss recovery sets while it lasts (RFC 6582 §3.2 inflation, deflation and exit). */
  setRecoveryWindow(bytes: number): void
}

/** Options every algorithm takes. */
export interface CcOptions {
  /** Slow start's count per ACK (default 'smss'). */
  slowStart?: SlowStartRule
}

/** A congestion controller by name; throws RangeError for an unknown one. */
export function createCongestionControl(name: CcName, opts: CcOptions = {}): CongestionControl {
  const rule = opts.slowStart ?? 'smss'
  switch (name) {
    case 'reno':
      return new Reno(rule)
    case 'cubic':
      return new Cubic(rule)
    default:
      throw new RangeError(`congestionControl ${String(name)} is not one of ${CC_NAMES.join(', ')}`)
  }
}
