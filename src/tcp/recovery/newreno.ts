/**
 * Loss recovery without SACK: RFC 5681 §3.2 fast retransmit and fast recovery, with RFC 6582's NewReno
 * partial acknowledgments and `recover` guard, and RFC 3042 limited transmit (gVisor's reno_recovery.go;
 * Linux's tcp_input.c without SACK, where tp->sacked_out counts duplicate ACKs).
 *
 * - Three duplicate ACKs (DupThresh) with SND.UNA past `recover` start fast recovery: ssthresh per the
 *   congestion controller, cwnd = ssthresh + 3·SMSS, and SND.UNA is resent at once.
 * - In recovery each further duplicate ACK inflates cwnd by one SMSS; a partial ACK resends the next hole
 *   and deflates cwnd by the amount acknowledged (plus one SMSS); a full ACK (SND.UNA ≥ recover) ends it
 *   with cwnd = min(ssthresh, FlightSize + SMSS) (RFC 6582 §3.2 step 3, option 1).
 * - Before recovery, the first two duplicate ACKs each let one new segment out (limited transmit).
 * - After an RTO the TCB goes back N (SND.NXT ← SND.UNA, as smoltcp and BSD do) and slow start resends;
 *   SND.MAX, the highest sequence number ever sent, stays the bound for ACK acceptability (RFC 5961 §5.2),
 *   so an ACK for data sent before the rollback is still valid and moves SND.NXT forward.
 */
import type { RecoveryInfo } from '../info.js'
import { DUP_THRESH } from '../sack.js'
import type { TcpRepr } from '../segment.js'
import { seqAdd, seqDiff, seqGe, seqGt, seqLt, type Seq } from '../seq.js'
import { BaseRecovery } from './recovery.js'

/** NewReno (RFC 6582) with fast retransmit (RFC 5681 §3.2) and limited transmit (RFC 3042). */
export class NewRenoRecovery extends BaseRecovery {
  /** The next dispatch resends SND.UNA: a fast retransmission, or the next hole after a partial ACK. */
  private fastRtx = false

  /** Without SACK nothing is known to have left the network: pipe is FlightSize. */
  get pipe(): number {
    return seqDiff(this.host.sndMax, this.host.sndUna)
  }

  get packetsOut(): number {
    return Math.ceil(seqDiff(this.host.sndMax, this.host.sndUna) / this.host.effMss)
  }

  onAck(now: number, ack: Seq, dup: boolean): void {
    if (seqGt(ack, this.host.sndUna)) this.host.ackAdvance(now, ack)
    else if (dup) this.onDupAck(now)
  }

  /** RFC 5681 §3.2 fast retransmit / fast recovery, with RFC 6582's `recover` guard. */
  private onDupAck(now: number): void {
    const h = this.host
    h.stats.dupAcksIn++
    this.dupAcks++
    const smss = h.effMss
    if (this.inRecovery) {
      h.cc.setRecoveryWindow(h.cc.cwnd + smss) // RFC 6582 §3.2 step 3: inflate per duplicate ACK
    } else if (this.dupAcks === 3 && seqGt(h.sndUna, this.recover)) {
      // RFC 5681 §3.2 steps 2 and 3: ssthresh per the congestion controller, cwnd = ssthresh + 3·SMSS.
      h.cc.onLoss('dupack', seqDiff(h.sndMax, h.sndUna), smss, now)
      this.recover = h.sndMax
      h.cc.setRecoveryWindow(h.cc.ssthresh + 3 * smss)
      this.inRecovery = true
      this.fastRtx = true
      h.forgetRttSample()
      h.stats.fastRetransmits++
    }
  }

  protected ackWindow(now: number, acked: number): void {
    const h = this.host
    const smss = h.effMss
    if (!this.inRecovery) {
      // Linux (tcp_remove_reno_sacks): each duplicate ACK already counted one segment delivered, so the ACK
      // that moves SND.UNA delivers what it covers less those, at least one segment.
      if (this.linux) this.linuxGrowth(now, Math.max(acked - this.dupAcks * smss, Math.min(acked, smss)))
      else h.cc.onAck(acked, smss, now)
    } else if (seqGe(h.sndUna, this.recover)) {
      // RFC 6582 §3.2 step 3: full acknowledgment ends recovery.
      this.inRecovery = false
      h.cc.setRecoveryWindow(Math.min(h.cc.ssthresh, Math.max(seqDiff(h.sndMax, h.sndUna), 0) + smss))
    } else {
      // Partial acknowledgment: retransmit the next hole, deflate by the amount acked.
      this.fastRtx = true
      h.cc.setRecoveryWindow(Math.max(h.cc.cwnd - acked + smss, smss))
    }
  }

  override onRto(now: number): void {
    super.onRto(now)
    this.fastRtx = false
  }

  rtoRecovery(): boolean {
    return false
  }

  onTimers(): void {}

  sendWindow(): number {
    const h = this.host
    // RFC 3042 limited transmit: the first two duplicate ACKs each let one new segment out.
    const lt = !this.inRecovery && this.dupAcks > 0 && this.dupAcks < DUP_THRESH ? this.dupAcks * h.effMss : 0
    return seqDiff(seqAdd(h.sndUna, Math.min(h.sndWnd, h.cc.cwnd + lt)), h.sndNxt)
  }

  wantsToSend(): boolean {
    return this.fastRtx
  }

  retransmission(now: number): TcpRepr | undefined {
    if (!this.fastRtx) return undefined
    this.fastRtx = false
    const h = this.host
    if (seqLt(h.sndUna, h.sndMax)) return h.buildSegment(now, h.sndUna, h.segMss(), true)
    return undefined
  }

  rescue(): TcpRepr | undefined {
    return undefined
  }

  onSent(_at: Seq, next: Seq): void {
    this.noteSend(next)
  }

  onNewDataSent(): void {}

  onClose(): void {
    this.fastRtx = false
  }

  info(started: boolean): RecoveryInfo {
    const h = this.host
    const flight = started ? seqDiff(h.sndMax, h.sndUna) : 0
    return { caState: this.caState(false, false), unacked: Math.ceil(flight / h.effMss), sacked: 0, retransOut: 0 }
  }

  check(): string | undefined {
    return undefined
  }
}
