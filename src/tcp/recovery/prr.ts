/**
 * Proportional Rate Reduction (RFC 6937; its standards-track successor is RFC 9937) as Linux runs it in
 * tcp_init_cwnd_reduction, tcp_cwnd_reduction and tcp_end_cwnd_reduction (net/ipv4/tcp_input.c). While a
 * recovery (or an ECN CWR episode) lasts, PRR decides on every ACK how many segments may leave: it spreads
 * the cut from the old window down to ssthresh over one round trip, in proportion to the data the peer
 * reports delivered, instead of going silent for half a round trip and then bursting (RFC 6937 §1, §3.1).
 *
 * Everything here counts segments, as Linux does (snd_cwnd, prr_delivered, prr_out and
 * tcp_packets_in_flight are all packet counts). The class holds no scoreboard: the recovery code passes
 * what the ACK delivered and the pipe it computed, and tells PRR what it sent. No clock, no I/O.
 *
 * Where Linux and RFC 6937 §3 part ways, this follows Linux:
 * - RecoverFS is the congestion window when the reduction starts (Linux's prior_cwnd), not FlightSize.
 * - Below ssthresh the reduction bound is chosen per ACK: the slow-start bound (PRR-SSRB, one segment
 *   more than delivered) only when the ACK advanced SND.UNA and marked nothing newly lost; otherwise
 *   the conservative bound, max(prr_delivered − prr_out, DeliveredData), which also spends sends banked
 *   earlier (the 2022 form of tcp_cwnd_reduction; RFC 9937 adopts both, calling such an ACK "safe").
 * - The first segment of a recovery may always leave (the fast retransmit), whatever the formula says.
 */

/** What one ACK told the recovery code, in segments (Linux's tcp_cwnd_reduction arguments). */
export interface PrrAck {
  /** Segments this ACK newly delivered: cumulatively ACKed or newly SACKed (Linux's tcp_newly_delivered). */
  deliveredPackets: number
  /** Segments this ACK newly marked lost (Linux's rate sample `losses`). */
  newlyLost: number
  /** Whether SND.UNA moved forward on this ACK (Linux's FLAG_SND_UNA_ADVANCED). */
  unaAdvanced: boolean
  /**
   * The pipe after this ACK's SACK and loss marking, before anything is sent: Linux's
   * tcp_packets_in_flight, packets_out − sacked_out − lost_out + retrans_out (RFC 6675's pipe, in segments).
   */
  inFlightPackets: number
}

/**
 * PRR's state for one reduction episode (RFC 6937 §3; Linux's prior_cwnd, prr_delivered, prr_out).
 * Call {@link Prr.start} on entering recovery, {@link Prr.onAck} on every ACK while it lasts (after loss
 * marking), {@link Prr.onSent} for every segment sent meanwhile, and {@link Prr.end} when it completes.
 */
export class Prr {
  /** Whether a reduction is under way (between start and end). */
  active = false
  /** RecoverFS: the congestion window when the reduction started (Linux's prior_cwnd), in segments. */
  recoverFs = 0
  /** The target window: ssthresh as the congestion control set it on entry, in segments. */
  ssthresh = Infinity
  /** prr_delivered: segments delivered to the receiver since the reduction started. */
  delivered = 0
  /** prr_out: segments sent (new data and retransmissions) since the reduction started. */
  out = 0
  /** The congestion window PRR last set, in segments (unchanged by ACKs that deliver nothing). */
  cwnd = 0
  /** sndcnt of the last ACK that delivered something: how many segments it let leave. */
  sndcnt = 0

  /**
   * Starts a reduction (Linux's tcp_init_cwnd_reduction, RFC 6937 §3 "at the beginning of recovery"):
   * RecoverFS = the current cwnd, prr_delivered = prr_out = 0. cwnd itself stays until the first ACK.
   */
  start(cwndPackets: number, ssthreshPackets: number): void {
    if (!(cwndPackets >= 1)) throw new RangeError(`PRR needs a window of at least one segment, got ${cwndPackets}`)
    this.active = true
    this.recoverFs = cwndPackets
    this.ssthresh = ssthreshPackets
    this.delivered = 0
    this.out = 0
    this.cwnd = cwndPackets
    this.sndcnt = 0
  }

  /**
   * One ACK during the reduction (Linux's tcp_cwnd_reduction; RFC 6937 §3 "on every ACK"). Returns the new
   * cwnd in segments: the pipe plus sndcnt, so exactly sndcnt segments may be sent in reply. An ACK that
   * delivered nothing changes nothing (Linux returns early), so the last window stands. When RACK's reorder
   * timer, not an ACK, starts the recovery, Linux calls this as if one segment had been delivered
   * (tcp_rack_reo_timeout), so that the first retransmission may leave.
   */
  onAck(ack: PrrAck): number {
    if (!this.active || ack.deliveredPackets <= 0) return this.cwnd
    const pipe = ack.inFlightPackets
    this.delivered += ack.deliveredPackets
    const room = this.ssthresh - pipe
    let sndcnt: number
    if (room < 0) {
      // RFC 6937 §3, pipe > ssthresh: send ssthresh/RecoverFS of what was delivered, rounded up
      // (CEIL(prr_delivered · ssthresh / RecoverFS) − prr_out), so the flight ends near ssthresh.
      sndcnt = Math.ceil((this.ssthresh * this.delivered) / this.recoverFs) - this.out
    } else {
      // RFC 6937 §3, pipe ≤ ssthresh: the reduction bound. Linux: the conservative bound, plus one segment
      // (the slow-start bound) only on an ACK that moved SND.UNA and found no new loss; never above ssthresh.
      sndcnt = Math.max(this.delivered - this.out, ack.deliveredPackets)
      if (ack.unaAdvanced && ack.newlyLost === 0) sndcnt += 1
      sndcnt = Math.min(room, sndcnt)
    }
    // Linux: "force a fast retransmit upon entering fast recovery": until one segment has gone out, at least
    // one may; afterwards never below zero (the window is never cut under the pipe).
    sndcnt = Math.max(sndcnt, this.out === 0 ? 1 : 0)
    this.sndcnt = sndcnt
    this.cwnd = pipe + sndcnt
    return this.cwnd
  }

  /** Counts `n` segments sent during the reduction, new or retransmitted (RFC 6937 §3 prr_out). */
  onSent(n: number): void {
    if (this.active) this.out += n
  }

  /**
   * Ends the reduction (Linux's tcp_end_cwnd_reduction) and returns the window to continue with: ssthresh,
   * or the last window when ssthresh is infinite. Linux does not call this when the recovery is undone
   * (a spurious retransmission): the undo restores the window from before, which is {@link Prr.recoverFs}.
   */
  end(): number {
    this.active = false
    if (Number.isFinite(this.ssthresh)) this.cwnd = this.ssthresh
    return this.cwnd
  }
}
