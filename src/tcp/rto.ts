/**
 * The retransmission timeout as Linux computes it (tcp_rtt_estimator and tcp_set_rto), used by the 'linux'
 * profile. SRTT is RFC 6298's (gain 1/8), but the variance term added to it is never less than the
 * minimum RTO: RTO = SRTT + max(mdev terms, rtoMin). So on a steady 100 ms path Linux retransmits after
 * about 300 ms, where RFC 6298 (RTO = max(SRTT + 4·RTTVAR, rtoMin)) decays to its 200 ms floor. Further
 * Linux details, in its own fixed point (µs, SRTT×8, mdev×4): a sample below SRTT moves the deviation with
 * a gain of 1/32 instead of 1/4 (so a falling RTT does not inflate the RTO), and the variance term decays
 * toward the window's largest deviation only once per window of data (when SND.UNA passes the SND.NXT
 * of the window's first sample). Pinned against the kernel by test/fixtures/linux-rto.
 */
import { seqGt, type Seq } from './seq.js'
import { RttEstimator } from './snd.js'

/** Linux's RTO estimator, a drop-in for RFC 6298's. */
export class LinuxRttEstimator extends RttEstimator {
  /** SRTT × 8 (µs); 0 before the first sample (Linux's srtt_us). */
  private srtt8 = 0
  /** Mean deviation × 4 (µs) (mdev_us). */
  private mdev4 = 0
  /** The largest mdev4 in the current window (mdev_max_us), at least rtoMin. */
  private mdevMax = 0
  /** The variance term added to SRTT (rttvar_us): never below rtoMin. */
  private var4 = 0
  /** SND.NXT when the current window of samples began (rtt_seq). */
  private rttSeq: Seq | undefined = undefined

  /** One RTT sample (µs) after SND.UNA moved to `una`; `nxt` is SND.NXT (the highest sequence sent). */
  override sample(r: number, una?: Seq, nxt?: Seq): void {
    if (r < 0) return
    const m0 = Math.max(Math.round(r), 1)
    if (this.srtt8 === 0) {
      // First sample: SRTT = R and a deviation of R/2, so the RTO is R + max(2R, rtoMin).
      this.srtt8 = m0 * 8
      this.mdev4 = m0 * 2
      this.var4 = Math.max(this.mdev4, this.rtoMin)
      this.mdevMax = this.var4
      this.rttSeq = nxt
    } else {
      let m = m0 - Math.floor(this.srtt8 / 8) // the error
      this.srtt8 += m // SRTT ← 7/8 SRTT + 1/8 R
      if (m < 0) {
        m = -m - Math.floor(this.mdev4 / 4)
        if (m > 0) m = Math.floor(m / 8) // a falling RTT: gain 1/32 on the deviation
      } else {
        m -= Math.floor(this.mdev4 / 4)
      }
      this.mdev4 += m // mdev ← 3/4 mdev + 1/4 |error|
      if (this.mdev4 > this.mdevMax) {
        this.mdevMax = this.mdev4
        if (this.mdevMax > this.var4) this.var4 = this.mdevMax
      }
      if (una !== undefined && (this.rttSeq === undefined || seqGt(una, this.rttSeq))) {
        // A window of data went by: the variance term decays a quarter of the way to its largest deviation.
        if (this.mdevMax < this.var4) this.var4 -= Math.floor((this.var4 - this.mdevMax) / 4)
        this.rttSeq = nxt
        this.mdevMax = this.rtoMin
      }
    }
    if (this.srtt8 < 1) this.srtt8 = 1
    this.srtt = this.srtt8 / 8
    this.rttvar = this.var4 / 4
    this.rto = Math.min(Math.floor(this.srtt8 / 8) + this.var4, this.rtoMax)
    this.backoff = 0
  }
}
