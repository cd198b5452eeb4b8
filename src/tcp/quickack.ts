/**
 * Linux's quick-ack mode, used by the 'linux' profile: a receiver acknowledges the first segments of a
 * connection at once instead of delaying the ACK (tcp_event_data_recv → tcp_incr_quickack), so a sender in
 * slow start is not held back by delayed ACKs; it does so again after a long silence (more than an RTO)
 * and after a retransmission of data it already had, a sign that its ACK was lost or late
 * (tcp_send_dupack → tcp_enter_quickack_mode). Each ACK sent while one was due uses one up
 * (tcp_dec_quickack_mode). Pinned against a kernel capture in test/fixtures/linux-quickack.
 *
 * Ping-pong mode (no quick ACKs; an ACK waits to ride on the reply) starts on the peer's FIN in ESTABLISHED
 * (tcp_fin) and when we send data less than the delayed-ACK timeout after data arrived (tcp_event_data_sent,
 * interactive traffic); it ends when the delayed-ACK timer fires or a retransmission arrives. Before the
 * first data the ACK delay is 0 (Linux's ato starts at 0). Not modelled (yet): Linux's adaptive ATO (the
 * delay stays `ackDelay`, which is Linux's TCP_ATO_MIN of 40 ms), its ping-pong counter beyond a threshold of
 * one, and the ACK Linux sends when a read empties the receive queue after a short pushed segment.
 */

/** Linux's TCP_MAX_QUICKACKS. */
export const MAX_QUICKACKS = 16
/** Linux's TCP_MSS_DEFAULT: the initial estimate of the peer's segment size. */
const MSS_DEFAULT = 536
/** Linux's TCP_MIN_MSS. */
const MIN_MSS = 88

/** The quick-ack state of one connection (Linux's icsk_ack.quick, rcv_mss, lrcvtime). */
export class QuickAck {
  /** ACKs still to send at once. */
  quick = 0
  /** Linux's icsk_ack.rcv_mss: the size of the peer's segments as seen so far (0 before any data). */
  rcvMss = 0
  /** When in-order data last arrived (µs, Linux's lrcvtime); undefined before the first. */
  private lastDataAt: number | undefined = undefined

  /**
   * Linux's icsk_ack.ato is 0 until the first data arrives (tcp_event_data_recv sets it to TCP_ATO_MIN), so
   * an ACK delayed before then (a bare FIN's) goes out on the next timer tick: no delay here.
   */
  get ackDelayStarted(): boolean {
    return this.lastDataAt !== undefined
  }

  /** Linux's ping-pong (interactive) mode: ACKs wait to ride on data; quick ACKs are off. */
  pingpong = false

  /** ACKs go out at once while quick-acks remain, unless in ping-pong mode (tcp_in_quickack_mode). */
  get active(): boolean {
    return this.quick > 0 && !this.pingpong
  }

  /**
   * In-order data of `len` octets arrived (tcp_event_data_recv): the first data of the connection, or the
   * first after more than an RTO of silence, starts quick-ack mode. `advMss` is our MSS, `sndMss` the
   * send MSS, `rcvWnd` the window we last advertised, `rto` the current RTO.
   */
  onData(now: number, len: number, advMss: number, sndMss: number, rcvWnd: number, rto: number): void {
    this.rcvMss = this.estimate(advMss, sndMss, rcvWnd)
    // tcp_measure_rcv_mss: a segment at least as large as the estimate raises it.
    if (len >= this.rcvMss) this.rcvMss = Math.min(len, advMss)
    if (this.lastDataAt === undefined || now - this.lastDataAt > rto) this.incr(rcvWnd)
    this.lastDataAt = now
  }

  /**
   * The peer's segment size as Linux estimates it (icsk_ack.rcv_mss): before any data, tcp_initialize_rcv_mss's
   * conservative first guess, min(our MSS, the send MSS, half the window, 536), at least 88.
   */
  estimate(advMss: number, sndMss: number, rcvWnd: number): number {
    if (this.rcvMss > 0) return this.rcvMss
    return Math.max(Math.min(advMss, sndMss, Math.floor(rcvWnd / 2), MSS_DEFAULT), MIN_MSS)
  }

  /**
   * We sent data (tcp_event_data_sent): a reply sent less than the delayed-ACK timeout `ato` after data
   * arrived makes the connection interactive, so ACKs wait to ride on the next reply (ping-pong mode).
   */
  onDataSent(now: number, ato: number): void {
    if (this.lastDataAt !== undefined && now - this.lastDataAt < ato) this.pingpong = true
  }

  /** The delayed-ACK timer fired in ping-pong mode: the reply did not come, so leave it (tcp_delack_timer_handler). */
  onDelayedAckTimeout(): void {
    this.pingpong = false
  }

  /**
   * The SYN+ACK arrived while a writer waits for the connection (tcp_rcv_synsent_state_process): quick-ack
   * mode with Linux's ato started (tcp_enter_quickack_mode) and the arrival as the last receive time
   * (tcp_finish_connect's lrcvtime), so data sent now makes the connection interactive.
   */
  enterOnConnect(now: number, rcvWnd: number): void {
    this.enter(rcvWnd)
    this.lastDataAt = now
  }

  /** tcp_enter_quickack_mode: a retransmission of data we already had (our ACK was lost or too late). */
  enter(rcvWnd: number): void {
    this.incr(rcvWnd)
    this.pingpong = false
  }

  /** tcp_dec_quickack_mode: an ACK went out while one was due. */
  onAckSent(): void {
    if (this.quick > 0) this.quick--
  }

  /** tcp_incr_quickack: enough quick ACKs for half the window in the peer's segments, 2 to 16. */
  private incr(rcvWnd: number): void {
    const mss = this.rcvMss > 0 ? this.rcvMss : MSS_DEFAULT
    let q = Math.floor(rcvWnd / (2 * mss))
    if (q === 0) q = 2
    if (q > MAX_QUICKACKS) q = MAX_QUICKACKS
    if (q > this.quick) this.quick = q
  }
}
