/**
 * RACK-TLP loss detection (RFC 8985), the parts the SACK recovery (sack-recovery.ts) calls: RACK's loss
 * marking over the transmission log (§6.2 step 5), the probe timeout (§7.2) and the tail loss probe's
 * bookkeeping (§7.3, §7.4). RACK's own state and its steps 1–4 are `Rack` in ../sack.ts. Linux's
 * tcp_recovery.c and gVisor's rack.go are the models.
 *
 * Design choices where the RFC leaves room (for which of RACK and RFC 6675's IsLost marks losses, see
 * sack-recovery.ts):
 * - The PTO is 2·SRTT plus 2 ms (Linux's TCP_TIMEOUT_MIN: timer slack, and a floor on sub-millisecond
 *   paths), or plus WCDelAckT = 200 ms when one segment is in flight (RFC 8985 §7.2), capped by the RTO.
 *   As the RFC and Linux, no probe during fast or RTO recovery, nor while SACKed data is outstanding; at
 *   most one probe until its ACK is understood (§7.4). A probe that repaired a loss halves cwnd.
 */
import { SEG_LOST, SEG_RETRANS, SEG_SACKED, rackSentAfter, type Rack, type SentLog } from '../sack.js'
import { seqGt, seqLt, type Seq } from '../seq.js'
import { TIMEOUT_MIN } from '../timers.js'

/** RFC 8985 §7.2 WCDelAckT: the worst-case delayed-ACK time added to the PTO for a one-segment flight (µs). */
const WC_DEL_ACK = 200_000
/** Added to 2·SRTT for the PTO otherwise: Linux's TCP_TIMEOUT_MIN. */
const TLP_SLACK = TIMEOUT_MIN

/**
 * RFC 8985 §6.2 step 5 (RACK_detect_loss_and_arm_timer): every segment sent before the most recently
 * delivered one is lost once RACK.rtt + reo_wnd (`reo`) has passed since it was sent; `markLost(i, now)`
 * is called for each, in order. Returns how long until the earliest of the others may be lost (µs, 0: none),
 * for the reordering timer.
 */
export function rackDetectLoss(
  rack: Rack,
  log: SentLog,
  now: number,
  reo: number,
  markLost: (i: number, now: number) => void,
): number {
  let timeout = 0
  for (let i = 0; i < log.length; i++) {
    const fl = log.flags(i)
    if (fl & (SEG_SACKED | SEG_LOST)) continue
    const t = log.sentAt(i)
    if (!rackSentAfter(rack.xmitTs, rack.endSeq, t, log.end(i))) {
      // Sent after the delivered segment. New data goes out in sequence order, so every later record went
      // out (or was resent) later still than one never retransmitted: none of them can be lost either.
      // This ends the walk at the first record after a cumulative ACK, as Linux's time-sorted list does.
      if ((fl & SEG_RETRANS) === 0 && t > rack.xmitTs) break
      continue
    }
    const remaining = t + rack.rtt + reo - now
    if (remaining <= 0) markLost(i, now)
    else if (remaining > timeout) timeout = remaining
  }
  return timeout
}

/** RFC 8985 §7.2 (TLP_calc_PTO): the probe timeout (µs) for a flight of `flight` octets. */
export function ptoFor(srtt: number | undefined, flight: number, smss: number): number {
  return srtt === undefined ? 1_000_000 : 2 * srtt + (flight <= smss ? WC_DEL_ACK : TLP_SLACK)
}

/** RFC 8985 §7: a probe to send, and the probe in flight (TLP.end_seq, TLP.is_retrans); the PTO is in the timers. */
export class TailLossProbe {
  /** The PTO fired: the next dispatch sends a probe. */
  pending = false
  /** TLP.end_seq: SND.MAX when the probe went out, while its outcome is unknown. */
  endSeq: Seq | undefined = undefined
  /** TLP.is_retrans: the probe resent data rather than sending new data. */
  isRetrans = false

  /** A probe went out; SND.MAX is now `sndMax`. */
  sent(sndMax: Seq, retrans: boolean): void {
    this.isRetrans = retrans
    this.endSeq = sndMax
  }

  /**
   * RFC 8985 §7.4 (TLP_process_ack, in Linux's form): once the ACK covers the probe, a probe that resent
   * data and was not reported as a duplicate (D-SACK) repaired a loss. Returns true then (the caller reacts
   * as to any loss, RFC 5681).
   */
  processAck(ack: Seq, dup: boolean, dsack: boolean, blocks: ReadonlyArray<readonly [Seq, Seq]> | undefined): boolean {
    const end = this.endSeq
    if (end === undefined || seqLt(ack, end)) return false
    if (!this.isRetrans) {
      this.endSeq = undefined // a probe of new data was delivered
    } else if (dsack && blocks![0][1] === end) {
      this.endSeq = undefined // the original and the probe both arrived: no loss
    } else if (seqGt(ack, end)) {
      this.endSeq = undefined
      return true
    } else if (dup && blocks === undefined) {
      this.endSeq = undefined // Linux: a pure duplicate ACK, the original and the probe arrived
    }
    return false
  }
}
