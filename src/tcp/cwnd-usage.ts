/**
 * Whether the congestion window is being used, so that it may grow (the 'linux' profile): Linux's
 * tcp_cwnd_validate and tcp_is_cwnd_limited, its form of RFC 7661's congestion window validation. A sender
 * whose application keeps fewer segments in flight than cwnd allows learns nothing about the path from an
 * ACK, and Linux does not open the window on it: outside slow start only when the window was full at some
 * point of the current window of data; in slow start also while cwnd is below twice the most segments that
 * were in flight in that window ("ensure cwnd grows to twice what was ACKed"). RFC 5681 has no such rule
 * (the 'rfc' profile grows cwnd on every ACK of new data).
 */
import { seqLt, type Seq } from './seq.js'

/** What the sender used of its window in the current window of data. */
export class CwndUsage {
  /** The window was full (in flight ≥ cwnd) at some send of the current window (Linux's is_cwnd_limited). */
  isCwndLimited = false
  /** The most segments in flight in the current window (max_packets_out). */
  maxPacketsOut = 0
  /** SND.NXT when this window of data began; SND.UNA past it starts the next (cwnd_usage_seq). */
  private usageSeq: Seq

  constructor(start: Seq) {
    this.usageSeq = start
  }

  /**
   * After a send, or a send the window held back (tcp_write_xmit's tcp_cwnd_validate): `una` and `nxt`
   * after it, `packetsOut` segments in flight, `limited` whether cwnd is full (in flight ≥ cwnd).
   */
  onSend(una: Seq, nxt: Seq, packetsOut: number, limited: boolean): void {
    if (!seqLt(una, this.usageSeq) || limited || (!this.isCwndLimited && packetsOut > this.maxPacketsOut)) {
      this.isCwndLimited = limited
      this.maxPacketsOut = packetsOut
      this.usageSeq = nxt
    }
  }

  /** May an ACK grow cwnd (tcp_is_cwnd_limited)? `cwndSegs` in segments; `slowStart`: cwnd < ssthresh. */
  mayGrow(cwndSegs: number, slowStart: boolean): boolean {
    if (this.isCwndLimited) return true
    return slowStart && cwndSegs < 2 * this.maxPacketsOut
  }
}
