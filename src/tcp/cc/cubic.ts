/**
 * CUBIC (RFC 9438, which obsoletes RFC 8312): after a reduction the window follows
 * W_cubic(t) = C·(t − K)³ + W_max, concave up to the previous maximum W_max and convex past it, with
 * K = ∛((W_max − cwnd_epoch) / C) (= ∛(W_max·(1 − β)/C) right after a loss, RFC 8312 §4.1), C = 0.4,
 * β = 0.7; fast convergence (§4.7); and the Reno-friendly region (§4.3), where the window grows at least as
 * fast as an AIMD flow with α = 3(1 − β)/(1 + β) would. Windows in the formulas are in segments and t in
 * seconds, as in the RFC; the window itself is kept in bytes. Time comes in as `now` (µs).
 *
 * Slow start exits early with HyStart as Linux's tcp_cubic.c does it (not HyStart++ of RFC 9406): from a
 * window of 16 segments, per round trip, either an ACK train (ACKs at most 2 ms apart) that lasts longer
 * than half the minimum RTT, or a round whose minimum over its first 8 RTT samples exceeds the minimum RTT
 * by clamp(minRTT/8, 4 ms, 16 ms), sets ssthresh to cwnd. Where we follow Linux rather than the RFC the
 * comment says so.
 */
import { seqGt, type Seq } from '../seq.js'
import type { CcName, CongestionControl, LossKind } from './index.js'
import { slowStart, type SlowStartRule } from './slowstart.js'

/** RFC 9438 §5.1: C, in segments per second cubed. */
export const CUBIC_C = 0.4
/** RFC 9438 §4.6: β_cubic, the multiplicative decrease factor. */
export const CUBIC_BETA = 0.7
/** RFC 9438 §4.3: α_cubic = 3(1 − β)/(1 + β), the Reno-friendly additive increase (segments per RTT). */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA)

/** Linux's hystart_low_window: HyStart runs only once cwnd reaches this many segments. */
export const HYSTART_LOW_WINDOW = 16
/** Linux's hystart_ack_delta_us: ACKs at most this far apart (µs) form an ACK train. */
export const HYSTART_ACK_DELTA = 2_000
/** Linux's HYSTART_MIN_SAMPLES: RTT samples per round before the delay test applies. */
export const HYSTART_MIN_SAMPLES = 8
/** Linux's HYSTART_DELAY_MIN / _MAX (µs): the bounds on the delay-increase threshold minRTT/8. */
export const HYSTART_DELAY_MIN = 4_000
/** Upper bound on the delay-increase threshold (µs). */
export const HYSTART_DELAY_MAX = 16_000

/** RFC 9438 §4.2 equation (2): K in seconds, for a window `cwndEpoch` (segments) below `wMax`. */
export function cubicK(wMax: number, cwndEpoch: number): number {
  return Math.cbrt((wMax - cwndEpoch) / CUBIC_C)
}

/** RFC 9438 §4.2 equation (1): W_cubic(t) in segments, t and K in seconds. */
export function wCubic(t: number, k: number, wMax: number): number {
  return CUBIC_C * (t - k) ** 3 + wMax
}

/** RFC 9438 CUBIC with Linux's HyStart. */
export class Cubic implements CongestionControl {
  /** Always 'cubic'. */
  readonly name: CcName = 'cubic'
  /** @param rule how slow start counts an ACK (index.ts). */
  constructor(private readonly rule: SlowStartRule = 'smss') {}
  /** Slow-start threshold in bytes. */
  ssthresh = Infinity
  /** The window in bytes, fractional: CUBIC grows it by fractions of a segment per ACK. */
  private w = 1

  /** W_max (segments): the window before the last reduction, after fast convergence; 0 after an RTO. */
  wMax = 0
  /** cwnd_prior (segments): the window before the last reduction (RFC 9438 §4.3's switch of α to 1). */
  cwndPrior = 0
  /** K (s) of the current congestion avoidance epoch. */
  k = 0
  /** The W_cubic curve's plateau for this epoch (W_max, or cwnd_epoch when that is higher). */
  origin = 0
  /** When the current congestion avoidance epoch began (µs), undefined outside one. */
  epochStart: number | undefined = undefined
  /** W_est (segments), the Reno-friendly estimate (RFC 9438 §4.3). */
  wEst = 0
  /** The smallest RTT seen (µs), Linux's delay_min: the RTT in W_cubic(t + RTT) and HyStart's baseline. */
  minRtt: number | undefined = undefined

  /** HyStart found the exit from slow start in this slow-start phase. */
  hystartFound = false
  private roundStart = 0
  private lastAck = 0
  private endSeq: Seq | undefined = undefined
  private currRtt = Infinity
  private sampleCnt = 0

  /** Congestion window in bytes. */
  get cwnd(): number {
    const c = Math.floor(this.w)
    return c > 1 ? c : 1
  }

  /** Starts with the initial window; the HyStart round starts afresh. */
  init(iw: number, _now: number): void {
    this.w = iw
    this.epochStart = undefined
    this.hystartFound = false
    this.endSeq = undefined
  }

  /**
   * Linux's cubictcp_acked: the minimum RTT, and HyStart while in slow start. Samples in the first second
   * of an epoch (just after a recovery) are not used, as Linux.
   */
  onRttSample(rtt: number, now: number, smss: number, una: Seq, sndNxt: Seq): void {
    if (rtt < 0) return
    if (this.epochStart !== undefined && now - this.epochStart < 1_000_000) return
    const delay = rtt > 0 ? rtt : 1
    if (this.minRtt === undefined || delay < this.minRtt) this.minRtt = delay
    if (!this.hystartFound && this.w < this.ssthresh && this.w >= HYSTART_LOW_WINDOW * smss) {
      this.hystartUpdate(delay, now, una, sndNxt)
    }
  }

  private hystartUpdate(delay: number, now: number, una: Seq, sndNxt: Seq): void {
    if (this.endSeq === undefined || seqGt(una, this.endSeq)) {
      // A new round trip: everything sent so far is acknowledged.
      this.roundStart = now
      this.lastAck = now
      this.endSeq = sndNxt
      this.currRtt = Infinity
      this.sampleCnt = 0
    }
    const minRtt = this.minRtt!
    // ACK train: the ACKs of one round keep arriving closely spaced for longer than half the RTT, so the
    // bottleneck is already busy (Linux halves the threshold when the socket is not paced; ours never is).
    if (now - this.lastAck <= HYSTART_ACK_DELTA) {
      this.lastAck = now
      if (now - this.roundStart > minRtt / 2) return this.hystartExit()
    }
    // Delay increase: the round's minimum RTT rose above the path's by more than the threshold.
    if (delay < this.currRtt) this.currRtt = delay
    if (this.sampleCnt < HYSTART_MIN_SAMPLES) {
      this.sampleCnt++
    } else {
      const thresh = Math.min(Math.max(Math.floor(minRtt / 8), HYSTART_DELAY_MIN), HYSTART_DELAY_MAX)
      if (this.currRtt > minRtt + thresh) this.hystartExit()
    }
  }

  private hystartExit(): void {
    this.hystartFound = true
    this.ssthresh = this.cwnd
  }

  /** Slow start as RFC 5681 §3.1 (per the slow-start rule), then RFC 9438 §4.2–4.5 congestion avoidance. */
  onAck(acked: number, smss: number, now: number): void {
    if (this.w < this.ssthresh) {
      const ss = slowStart(this.w, acked, smss, this.ssthresh, this.rule)
      this.w = ss.w
      if (ss.left <= 0) return
      acked = ss.left
    }
    const seg = this.w / smss
    if (this.epochStart === undefined) {
      // §4.2: a new epoch. After an RTO (W_max cleared) or when the window is already past W_max, the
      // plateau is the current window and K = 0 (§4.8; Linux's bic_origin_point).
      this.epochStart = now
      if (this.wMax <= seg) {
        this.k = 0
        this.origin = seg
      } else {
        this.k = cubicK(this.wMax, seg)
        this.origin = this.wMax
      }
      this.wEst = seg
    }
    const t = (now - this.epochStart) / 1_000_000
    const rtt = (this.minRtt ?? 0) / 1_000_000
    // §4.3: W_est grows by α per window acknowledged; α becomes 1 once W_est reaches cwnd_prior.
    const alpha = this.wEst >= this.cwndPrior ? 1 : CUBIC_ALPHA
    this.wEst += (alpha * (acked / smss)) / seg
    if (wCubic(t, this.k, this.origin) < this.wEst) {
      // Reno-friendly region: cwnd = W_est.
      this.w = this.wEst * smss
      return
    }
    // §4.4/§4.5: concave or convex region; the target one RTT ahead, bounded to [cwnd, 1.5·cwnd].
    let target = wCubic(t + rtt, this.k, this.origin)
    if (target < seg) target = seg
    else if (target > 1.5 * seg) target = 1.5 * seg
    this.w += ((target - seg) / seg) * acked
  }

  /**
   * §4.6 and §4.7: W_max ← cwnd (less, by fast convergence, when the window did not regain the previous
   * W_max), ssthresh ← max(FlightSize·β, 2·SMSS), cwnd ← ssthresh. After a tail loss probe repaired a loss
   * the flight is the probe's, so cwnd stands in for it (as Linux always does).
   */
  onLoss(kind: LossKind, flight: number, smss: number, _now: number): void {
    this.reduce(kind === 'tlp' ? this.w : flight, smss)
    this.w = this.ssthresh
  }

  /**
   * §4.8: on an RTO ssthresh is set with β as on a loss and cwnd drops to one segment; the next epoch starts
   * with K = 0 from the window it starts at (Linux clears W_max, the minimum RTT and HyStart: bictcp_reset).
   */
  onRto(flight: number, smss: number, _now: number): void {
    this.reduce(flight, smss)
    this.w = smss
    this.wMax = 0
    this.cwndPrior = 0
    this.minRtt = undefined
    this.hystartFound = false
    this.endSeq = undefined
  }

  private reduce(basis: number, smss: number): void {
    const seg = this.w / smss
    this.epochStart = undefined
    // §4.7 fast convergence: a flow whose window stopped short of the previous W_max releases bandwidth.
    this.wMax = seg < this.wMax ? (seg * (1 + CUBIC_BETA)) / 2 : seg
    this.cwndPrior = seg
    // β = 7/10 in integers: 90000·0.7 in floating point is 62999.999…
    this.ssthresh = Math.max(Math.floor((basis * 7) / 10), 2 * smss)
  }

  /** Sets the window as the recovery says (the epoch starts when congestion avoidance resumes). */
  setRecoveryWindow(bytes: number): void {
    this.w = bytes
  }
}
