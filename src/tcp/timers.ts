/**
 * Every timer of one TCB in one record: data, never callbacks (smoltcp's `Timer`, gVisor's per-endpoint
 * timers). Each field is the time (µs) at which that timer falls due, or undefined while it is stopped.
 * `pollAt` is the earliest of them; `dispatch(now)` runs those that are due.
 */

/** Linux's TCP_TIMEOUT_MIN (2 jiffies: 2 ms at HZ=1000), its shortest timer (µs). */
export const TIMEOUT_MIN = 2_000

/** Which job the retransmission timer does: RFC 6298's retransmission, or RFC 9293 §3.8.6.1's persist. */
export type RtxKind = 'retransmit' | 'persist'

/** The timers of one connection. */
export class TcbTimers {
  /**
   * The retransmission timer (RFC 6298), which doubles as the persist timer (RFC 9293 §3.8.6.1, SHLD-29)
   * when data waits on a zero window with nothing in flight: `rtxKind` says which it is now.
   */
  rtx: number | undefined = undefined
  /** What the retransmission timer does when it fires. */
  rtxKind: RtxKind = 'retransmit'
  /** RFC 8985 §7.2: the tail loss probe timeout (PTO). */
  pto: number | undefined = undefined
  /** RFC 8985 §6.2 step 5: the RACK reordering timer. */
  reo: number | undefined = undefined
  /** RFC 9293 §3.4.2 (MUST-13): the end of TIME-WAIT, 2×MSL after it began. */
  timeWait: number | undefined = undefined
  /** RFC 9293 §3.8.6.3 / RFC 5681 §4.2: the delayed ACK. */
  delayedAck: number | undefined = undefined

  /** The time the next timer falls due, or undefined when all are stopped. */
  earliest(): number | undefined {
    let t = this.rtx
    if (this.pto !== undefined && (t === undefined || this.pto < t)) t = this.pto
    if (this.reo !== undefined && (t === undefined || this.reo < t)) t = this.reo
    if (this.timeWait !== undefined && (t === undefined || this.timeWait < t)) t = this.timeWait
    if (this.delayedAck !== undefined && (t === undefined || this.delayedAck < t)) t = this.delayedAck
    return t
  }

  /** Stops every timer (CLOSED; entering TIME-WAIT before its own timer starts). */
  clearAll(): void {
    this.rtx = undefined
    this.rtxKind = 'retransmit'
    this.pto = undefined
    this.reo = undefined
    this.timeWait = undefined
    this.delayedAck = undefined
  }
}
