/**
 * Reno (RFC 5681): slow start with appropriate byte counting L = 1 SMSS (RFC 3465), congestion avoidance
 * of about one SMSS per RTT, and ssthresh = max(FlightSize / 2, 2·SMSS) on a loss or an RTO (equation 4).
 */
import type { Seq } from '../seq.js'
import type { CcName, CongestionControl, LossKind } from './index.js'
import { slowStart, type SlowStartRule } from './slowstart.js'

/** RFC 5681 Reno, byte-counted. */
export class Reno implements CongestionControl {
  /** @param rule how slow start counts an ACK (index.ts). */
  constructor(private readonly rule: SlowStartRule = 'smss') {}

  /** Always 'reno'. */
  readonly name: CcName = 'reno'
  /** Congestion window in bytes. */
  cwnd = 1
  /** Slow-start threshold in bytes. */
  ssthresh = Infinity

  /** Sets cwnd to the initial window; ssthresh stays (RFC 5681 §3.1: arbitrarily high until a loss). */
  init(iw: number, _now: number): void {
    this.cwnd = iw
  }

  /** Reno takes no RTT input. */
  onRttSample(_rtt: number, _now: number, _smss: number, _una: Seq, _sndNxt: Seq): void {}

  /** RFC 5681 §3.1: slow start below ssthresh (per the slow-start rule), else congestion avoidance. */
  onAck(acked: number, smss: number, _now: number): void {
    if (this.cwnd < this.ssthresh) {
      const ss = slowStart(this.cwnd, acked, smss, this.ssthresh, this.rule)
      this.cwnd = ss.w
      if (ss.left <= 0) return
    }
    this.cwnd += Math.max(1, Math.floor((smss * smss) / this.cwnd))
  }

  /**
   * RFC 5681 equation (4): ssthresh = max(FlightSize / 2, 2·SMSS). After a tail loss probe repaired a loss
   * the flight is the probe's, so half the congestion window is used instead (RFC 8985 §7.4: "as for any
   * other loss"; Linux's tcp_reno_ssthresh halves cwnd too).
   */
  onLoss(kind: LossKind, flight: number, smss: number, _now: number): void {
    const basis = kind === 'tlp' ? this.cwnd : flight
    this.ssthresh = Math.max(Math.floor(basis / 2), 2 * smss)
    this.cwnd = this.ssthresh
  }

  /** RFC 5681 §3.1: equation (4), and cwnd ← the loss window of one segment. */
  onRto(flight: number, smss: number, _now: number): void {
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * smss)
    this.cwnd = smss
  }

  /** Sets cwnd as the recovery says. */
  setRecoveryWindow(bytes: number): void {
    this.cwnd = bytes
  }
}
