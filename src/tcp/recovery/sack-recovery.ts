/**
 * Loss recovery when both ends agreed on SACK (RFC 2018): the peer's blocks feed a scoreboard and a
 * transmission log (../sack.ts), losses are detected by RACK-TLP (RFC 8985, rack.ts) or, with
 * `config.rack` false, by RFC 6675's IsLost, and what is resent follows RFC 6675's NextSeg, with the
 * congestion window checked against pipe (RFC 6675 §4) rather than FlightSize. gVisor's
 * sack_recovery.go and Linux's tcp_input.c (tcp_fastretrans_alert) with tcp_recovery.c are the models.
 *
 * Design choices where the RFCs leave room:
 * - SND.NXT stays at SND.MAX: an RTO marks segments lost in the transmission log (RFC 8985 §6.3: the first
 *   one, and those sent at least RACK.rtt + reo_wnd ago) and recovery resends exactly those, skipping what
 *   the peer SACKed. The scoreboard is kept across the RTO, as Linux does, rather than cleared (RFC 2018 §8
 *   allows either): reneging is detected instead (a cumulative ACK that stops at SACKed data, or SACKed
 *   data at SND.UNA when the RTO fires), and only then is the scoreboard cleared.
 * - Only RACK marks losses when it is on (Linux: RACK replaces the DupThresh rule, once the peer sends
 *   blocks); with `rack: false` RFC 6675's IsLost does, with its rules 3 and 4 (rescue retransmission) of
 *   NextSeg.
 * - With SACK an RTO against a zero window resends the first segment, which serves as the window probe
 *   (Linux does the same); without SACK the TCB's own zero-window probe goes instead.
 */
import type { RecoveryInfo } from '../info.js'
import { DUP_THRESH, Rack, SEG_LOST, SEG_RETRANS, SEG_SACKED, SackScoreboard, SentLog, isDsack } from '../sack.js'
import { TcpFlags, type TcpRepr } from '../segment.js'
import { seq, seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, type Seq } from '../seq.js'
import type { LossSource } from '../trace.js'
import { BaseRecovery } from './recovery.js'
import { TailLossProbe, ptoFor, rackDetectLoss } from './rack.js'
import { Prr } from './prr.js'

/** Linux (tcp_check_sack_reneging): after a reneging sign, the RTO fires within max(SRTT/2, 10 ms). */
const RENEGING_MIN_WAIT = 10_000

/** RFC 6675 SACK-based loss recovery with RACK-TLP loss detection (RFC 8985). */
export class SackRecovery extends BaseRecovery {
  /** The peer's SACK blocks, as octet ranges past SND.UNA. */
  private readonly sack = new SackScoreboard()
  /** Every segment from SND.UNA to SND.MAX with its send time and SACKED/LOST/RETRANS marks. */
  private readonly log = new SentLog()
  private readonly rack = new Rack()
  private readonly tlp = new TailLossProbe()
  /** RTO recovery (RFC 6675 §5.1): after an RTO until SND.UNA reaches `recover`; no fast recovery meanwhile. */
  private inLoss = false
  /** The next dispatch resends the first segment marked lost whatever cwnd says (RTO; entering recovery). */
  private forceRtx = false
  /** RFC 6675 NextSeg rule 4: the rescue retransmission of this recovery was sent. */
  private rescued = false
  /** Fast or RTO recovery was on when the retransmission timer fired. */
  private wasRecovering = false
  /** RACK's loss marking (one closure per connection, not per ACK). */
  private readonly rackLost = (i: number, now: number): void => this.markLost(now, i, 'rack')
  /**
   * The 'linux' profile's Proportional Rate Reduction (prr.ts) while fast recovery lasts; without it ('rfc')
   * cwnd stays at ssthresh through the recovery, as RFC 6675 has it.
   */
  private readonly prr: Prr | undefined = this.linux ? new Prr() : undefined
  /** Of the ACK being processed: segments (log records) and octets newly delivered, and segments newly lost. */
  private ackSegs = 0
  private ackOctets = 0
  private ackLost = 0

  /** RFC 6675 §4 pipe, per segment: octets outstanding that are neither SACKed nor deemed lost. */
  get pipe(): number {
    return seqDiff(this.host.sndMax, this.host.sndUna) - this.log.sackedBytes - this.log.lostBytes
  }

  get packetsOut(): number {
    return this.log.length
  }

  /**
   * An acceptable ACK, in RFC 8985 §6.2's order: the cumulative part and the new SACK blocks update the
   * transmission log, and each newly delivered segment RACK's state (steps 1–3); then the reordering window
   * (step 4) and loss detection (step 5, or RFC 6675's IsLost), recovery entry and exit (RFC 6675 §5), the
   * tail loss probe's outcome (§7.4) and the PTO (§7.2).
   */
  onAck(now: number, ack: Seq, dup: boolean, blocks: ReadonlyArray<readonly [Seq, Seq]> | undefined, tsEcr: number): void {
    const h = this.host
    const log = this.log
    let acked = 0
    this.ackSegs = 0
    this.ackOctets = 0
    this.ackLost = 0
    if (seqGt(ack, h.sndUna)) {
      acked = seqDiff(ack, h.sndUna)
      this.ackOctets = acked
      let fresh = false
      let retransAcked = false
      let lastSent = -Infinity
      while (log.length > 0 && seqLe(log.end(0), ack)) {
        const fl = log.flags(0)
        if (!(fl & SEG_SACKED)) {
          this.delivered(now, log.sentAt(0), log.end(0), fl, tsEcr)
          this.ackSegs++
        } else {
          this.ackOctets -= log.len(0) // delivered when it was SACKed
        }
        if (!(fl & SEG_RETRANS)) fresh = true
        else retransAcked = true
        if (!(fl & (SEG_RETRANS | SEG_SACKED)) && log.sentAt(0) > lastSent) lastSent = log.sentAt(0)
        log.shift()
      }
      // Linux (tcp_clean_rtx_queue): the congestion controller times the most recently sent segment this
      // ACK newly covers, unless it also covers a retransmission (Karn).
      if (!retransAcked && lastSent > -Infinity) this.ccRtt = now - lastSent
      if (log.length > 0) log.trimHead(ack)
      else log.first = ack
      this.sack.advance(acked)
      h.ackAdvance(now, ack)
      // RFC 8961 §4 (4) (a): data sent once was delivered, so the RTO backoff goes (Karn's ambiguity does
      // not arise: the segment was never resent).
      if (fresh) h.rtt.backoff = 0
    } else if (dup) {
      h.stats.dupAcksIn++
      this.dupAcks++
    }
    let dsack = false
    if (blocks !== undefined && blocks.length > 0 && log.length > 0) {
      dsack = isDsack(blocks, ack)
      for (let b = 0; b < blocks.length; b++) {
        const blk = blocks[b]
        if (this.sack.add(blk[0], blk[1], h.sndUna, h.sndMax) > 0) this.markSackedRange(now, blk[0], blk[1], tsEcr)
      }
    }
    // Reneging (RFC 2018 §8): the cumulative ACK stopped at data the peer had SACKed. Linux
    // (tcp_check_sack_reneging) gives the peer max(SRTT/2, 10 ms) to restore its blocks, then the RTO fires
    // and clears the scoreboard; we do the same.
    if (this.sack.ranges > 0 && this.sack.startAt(0) === 0 && h.timers.rtx !== undefined) {
      const at = now + Math.max((h.rtt.srtt ?? 0) / 2, RENEGING_MIN_WAIT)
      if (at < h.timers.rtx) h.timers.rtx = at
    }
    if (h.config.rack) {
      this.rack.onAck(h.sndUna, h.sndMax, dsack)
      this.detectLoss(now)
    } else if (blocks !== undefined) {
      this.markLostIsLost(now)
    }
    // RFC 6675 §5 (4): DupThresh duplicate ACKs start recovery even without SACK information (with RACK on,
    // only then: Linux lets RACK replace the DupThresh rule once the peer sends blocks).
    if (
      this.dupAcks >= DUP_THRESH && !this.inRecovery && !this.inLoss && log.length > 0 &&
      !(log.flags(0) & (SEG_SACKED | SEG_RETRANS)) && (!h.config.rack || log.sackedCount === 0)
    ) {
      this.markLost(now, 0, 'dupthresh')
    }
    if ((this.inRecovery || this.inLoss) && seqGe(h.sndUna, this.recover)) {
      // RFC 6675 §5 / §5.1: a cumulative ACK covering RecoveryPoint ends recovery.
      this.recoveryEvent(now, 'exit')
      // Linux (tcp_end_cwnd_reduction): PRR hands over with cwnd = ssthresh.
      if (this.prr?.active && this.inRecovery) {
        this.prr.end()
        h.cc.setRecoveryWindow(Math.max(Math.floor(h.cc.ssthresh), h.effMss))
      }
      this.inRecovery = false
      this.inLoss = false
      this.rack.onRecoveryExit()
    }
    this.afterLossMarking(now)
    if (this.tlp.processAck(ack, dup, dsack, blocks)) {
      // RFC 8985 §7.4: the probe repaired a loss: react as to any loss (RFC 5681).
      h.stats.tlpRecoveries++
      if (!this.inRecovery && !this.inLoss) {
        h.cc.onLoss('tlp', seqDiff(h.sndMax, h.sndUna), h.effMss, now)
        this.recoveryEvent(now, 'tlp-repair')
      }
    }
    if (this.linux) {
      // Linux (tcp_cong_control): in recovery PRR sets the window from what this ACK delivered; otherwise it
      // may grow by that, now that the SACK blocks are in.
      if (this.inRecovery && this.prr?.active) this.prrWindow(acked > 0)
      else if (acked > 0) this.linuxGrowth(now, this.ackOctets)
    }
    if (acked > 0) this.armPto(now)
  }

  /**
   * RFC 6675: cwnd stays at ssthresh during fast recovery; RTO recovery slow-starts (cwnd < ssthresh). The
   * 'linux' profile decides at the end of the ACK instead (onAck), once its SACK blocks are counted.
   */
  protected ackWindow(now: number, acked: number): void {
    if (!this.inRecovery && !this.linux) this.host.cc.onAck(acked, this.host.effMss, now)
  }

  /** PRR's window for the ACK just processed (prr.ts): the pipe plus the segments it lets out. */
  private prrWindow(unaAdvanced: boolean): void {
    const prr = this.prr!
    const log = this.log
    if (this.ackSegs <= 0) return
    prr.onAck({ deliveredPackets: this.ackSegs, newlyLost: this.ackLost, unaAdvanced, inFlightPackets: log.length - log.sackedCount - log.lostCount })
    const h = this.host
    h.cc.setRecoveryWindow(Math.max(this.pipe + prr.sndcnt * h.effMss, h.effMss))
  }

  /** RFC 8985 §6.2 steps 1–3 for one newly delivered segment (cumulatively or selectively). */
  private delivered(now: number, sentAt: number, end: Seq, fl: number, tsEcr: number): void {
    const retrans = (fl & SEG_RETRANS) !== 0
    let echoOk = true
    if (retrans && tsEcr !== 0) {
      // The ACK must echo a TSval not older than the last transmission, or it may be for an earlier one.
      echoOk = !seqLt(seq(tsEcr), seq(this.host.tsVal(sentAt)))
    }
    this.rack.update(sentAt, end, retrans, now, echoOk)
    this.rack.detectReordering(end, retrans)
  }

  /** Marks SACKED each record overlapping [left, right) that the scoreboard now covers whole. */
  private markSackedRange(now: number, left: Seq, right: Seq, tsEcr: number): void {
    const log = this.log
    const una = this.host.sndUna
    let i = log.find(left)
    if (i < 0) i = 0
    for (; i < log.length && seqLt(log.start(i), right); i++) {
      const fl = log.flags(i)
      if (fl & SEG_SACKED) continue
      if (!this.sack.covers(seqDiff(log.start(i), una), seqDiff(log.end(i), una))) continue
      log.markSacked(i)
      this.ackSegs++
      this.ackOctets += log.len(i)
      this.delivered(now, log.sentAt(i), log.end(i), fl, tsEcr)
    }
  }

  /** Marks record `i` lost (counted and traced once). */
  private markLost(now: number, i: number, by: LossSource): void {
    if (!this.log.markLost(i)) return
    this.ackLost++
    const h = this.host
    if (by === 'rack') h.stats.rackLosses++
    else if (by === 'dupthresh') h.stats.dupThreshLosses++
    if (h.trace) h.trace({ type: 'lost', now, start: this.log.start(i), end: this.log.end(i), by })
  }

  /** RFC 8985 §6.2 step 5 over the log (rack.ts), and the reordering timer for the earliest of the rest. */
  private detectLoss(now: number): void {
    const log = this.log
    const rack = this.rack
    const timers = this.host.timers
    timers.reo = undefined
    if (rack.xmitTs === -Infinity || log.length === 0) return
    const reo = rack.reoWnd(this.inRecovery || this.inLoss, log.sackedCount, this.host.rtt.srtt ?? 0)
    const timeout = rackDetectLoss(rack, log, now, reo, this.rackLost)
    if (timeout > 0) timers.reo = now + Math.ceil(timeout)
  }

  /**
   * RFC 6675 §4 IsLost, used when RACK is off: walking up from SND.UNA, every segment not yet SACKed nor
   * retransmitted for which IsLost holds is lost (IsLost only gets harder further up, so the walk stops at
   * the first one that is not).
   */
  private markLostIsLost(now: number): void {
    const log = this.log
    const high = this.sack.highEnd
    const una = this.host.sndUna
    for (let i = 0; i < log.length; i++) {
      const fl = log.flags(i)
      if (fl & (SEG_SACKED | SEG_LOST | SEG_RETRANS)) continue
      const off = seqDiff(log.start(i), una)
      if (off >= high || !this.sack.isLost(off, this.host.effMss)) break
      this.markLost(now, i, 'dupthresh')
    }
  }

  /** RFC 6675 §5 (4) / RFC 8985: a segment newly marked lost outside recovery starts fast recovery. */
  private afterLossMarking(now: number): void {
    if (this.inRecovery || this.inLoss || this.log.lostBytes === 0) return
    const h = this.host
    const prior = h.cc.cwnd
    // (4.1) RecoveryPoint = HighData; (4.2) ssthresh = cwnd = FlightSize / 2 (RFC 5681 equation 4; the
    // congestion controller's own reduction with CUBIC).
    h.cc.onLoss('sack', seqDiff(h.sndMax, h.sndUna), h.effMss, now)
    // Linux (tcp_init_cwnd_reduction): PRR from the window before the cut down to the new ssthresh.
    if (this.prr) this.prr.start(Math.max(Math.floor(prior / h.effMss), 1), Math.floor(h.cc.ssthresh / h.effMss))
    this.recover = h.sndMax
    this.inRecovery = true
    this.rescued = false
    h.timers.pto = undefined
    // (4.3) the first loss goes out now, whatever pipe says.
    this.forceRtx = true
    h.forgetRttSample()
    h.stats.fastRetransmits++
    h.stats.sackRecoveries++
    this.recoveryEvent(now, 'enter')
  }

  /** RFC 8985 §7.2: may a tail loss probe be scheduled or sent now? */
  private tlpAllowed(): boolean {
    const h = this.host
    const s = h.state
    return (
      h.config.rack && !this.inRecovery && !this.inLoss && this.tlp.endSeq === undefined &&
      this.log.length > 0 && this.log.sackedCount === 0 && h.sndWnd > 0 && h.timers.rtxKind === 'retransmit' &&
      (s === 'ESTABLISHED' || s === 'CLOSE-WAIT' || s === 'FIN-WAIT-1' || s === 'CLOSING' || s === 'LAST-ACK')
    )
  }

  /** RFC 8985 §7.2 (TLP_calc_PTO): (re)arms the PTO after new data goes out or new data is acknowledged. */
  private armPto(now: number): void {
    const timers = this.host.timers
    if (!this.tlpAllowed()) {
      timers.pto = undefined
      return
    }
    const h = this.host
    let at = now + Math.ceil(ptoFor(h.rtt.srtt, seqDiff(h.sndMax, h.sndUna), h.effMss))
    if (timers.rtx !== undefined && at > timers.rtx) at = timers.rtx
    timers.pto = at
  }

  onNewDataSent(now: number): void {
    this.armPto(now)
  }

  onTimers(now: number): void {
    const h = this.host
    const timers = h.timers
    if (timers.pto !== undefined && now >= timers.pto) {
      timers.pto = undefined
      if (this.tlpAllowed()) {
        // RFC 8985 §7.3: the probe goes out on this dispatch and the RTO stays armed; when the PTO was capped
        // by it (they fall due together) it restarts, so the probe comes first.
        h.emitTimer(now, 'tlp')
        this.tlp.pending = true
        if (timers.rtx !== undefined && timers.rtx <= now) timers.rtx = now + h.rtt.current
      }
    }
    if (timers.reo !== undefined && now >= timers.reo) {
      timers.reo = undefined
      h.emitTimer(now, 'rack')
      this.ackLost = 0
      const was = this.inRecovery
      this.detectLoss(now)
      this.afterLossMarking(now)
      // Linux (tcp_rack_reo_timeout): a recovery the timer starts gets PRR's window as if one segment had
      // been delivered, so its first retransmission may leave.
      if (this.prr?.active && this.inRecovery) {
        this.ackSegs = was ? 0 : 1
        this.prrWindow(false)
      }
    }
  }

  /**
   * RFC 6675 NextSeg rule 1: the first segment marked lost, when cwnd − pipe has room for it and it starts
   * inside the peer's window (Linux's tcp_retransmit_skb; the first one may go regardless). Pure.
   */
  private nextLost(): number {
    const log = this.log
    const h = this.host
    const i = log.firstLost()
    if (i < 0) return -1
    const len = Math.min(log.len(i), h.segMss())
    if (h.cc.cwnd - this.pipe < len) return -1
    if (i > 0 && !seqLt(log.start(i), seqAdd(h.sndUna, h.sndWnd))) return -1
    return i
  }

  /**
   * RFC 6675 NextSeg rules 3 and 4 (RACK off, in fast recovery, nothing else to send): the first unSACKed
   * segment below the highest SACKed octet not yet resent, else once per recovery a rescue retransmission of
   * the highest unSACKed segment. Pure: returns i for rule 3, −2 − i for rule 4, −1 when neither applies.
   */
  private nextRescue(): number {
    const h = this.host
    if (h.config.rack || !this.inRecovery) return -1
    const log = this.log
    if (h.cc.cwnd - this.pipe < h.effMss) return -1
    const high = this.sack.highEnd
    for (let i = 0; i < log.length; i++) {
      if (seqDiff(log.start(i), h.sndUna) >= high) break
      if (!(log.flags(i) & (SEG_SACKED | SEG_LOST | SEG_RETRANS))) return i
    }
    if (this.rescued) return -1
    for (let i = log.length - 1; i >= 0; i--) if (!(log.flags(i) & SEG_SACKED)) return -2 - i
    return -1
  }

  /**
   * Resends record `i` of the log (or its first segment's worth, splitting the record): a retransmission
   * that leaves SND.NXT alone.
   */
  private resendRecord(now: number, i: number): TcpRepr {
    const log = this.log
    const start = log.start(i)
    const recLen = log.len(i)
    const seg = this.host.buildSegment(now, start, Math.min(recLen, this.host.segMss()), true)
    let covered = seg.payload.length + (seg.flags & TcpFlags.FIN ? 1 : 0)
    if (covered <= 0) covered = recLen
    if (covered < recLen) log.split(i, seqAdd(start, covered))
    log.retransmitted(i, now)
    if (this.inRecovery) this.prr?.onSent(1)
    // A FIN that rode along belongs to the next record: it went again too.
    if (covered > recLen && i + 1 < log.length) log.retransmitted(i + 1, now)
    return seg
  }

  /**
   * RFC 8985 §7.3 (TLP_send_probe): one segment of new data if the peer's window allows it (cwnd
   * notwithstanding), else the last segment sent again. Then the RTO is re-armed, not the PTO: a full RTO
   * from the probe ("the sender MUST re-arm the RTO timer"; Linux's tcp_rearm_rto after the loss-probe timer,
   * which finds no timer pending and so takes icsk_rto whole: packetdrill's fr-4pkt-fack-last-byte.pkt sees
   * the RTO one RTO after the probe on the kernel).
   */
  private tlpProbe(now: number): TcpRepr | undefined {
    const log = this.log
    const h = this.host
    let seg: TcpRepr | undefined
    let retrans = false
    const len = h.planData(true)
    if (len >= 0) {
      seg = h.buildSegment(now, h.sndNxt, len, false)
    } else if (log.length > 0) {
      let i = log.length - 1
      const mss = h.segMss()
      // The last segment: a record longer than one segment sends its tail.
      if (log.len(i) > mss + 1) {
        log.split(i, seqAdd(log.end(i), -mss))
        i++
      }
      seg = this.resendRecord(now, i)
      retrans = true
    }
    if (seg !== undefined) {
      this.tlp.sent(h.sndMax, retrans)
      h.stats.tlpProbes++
    }
    const timers = h.timers
    if (seqLt(h.sndUna, h.sndMax)) {
      timers.rtx = now + h.rtt.current
      timers.rtxKind = 'retransmit'
    }
    return seg
  }

  sendWindow(ignoreCwnd: boolean): number {
    const h = this.host
    // RFC 6675 §5: with SACK the congestion window is checked against pipe, not FlightSize (which also
    // gives RFC 3042's limited transmit: each SACKed segment leaves pipe). A probe ignores cwnd.
    const rwnd = seqDiff(seqAdd(h.sndUna, h.sndWnd), h.sndNxt)
    const cw = h.cc.cwnd - this.pipe
    return ignoreCwnd || rwnd < cw ? rwnd : cw
  }

  wantsToSend(ready: boolean): boolean {
    return ready && (this.forceRtx || this.tlp.pending || this.nextLost() >= 0 || this.nextRescue() !== -1)
  }

  /**
   * RFC 6675 NextSeg, in order: the forced first retransmission (RTO, entering recovery), a tail loss
   * probe, rule 1 (a segment marked lost); rule 2 (new data) is the TCB's, then rules 3 and 4 ({@link rescue}).
   */
  retransmission(now: number, ready: boolean): TcpRepr | undefined {
    if (!ready) return undefined
    if (this.forceRtx) {
      this.forceRtx = false
      const i = this.log.firstLost()
      if (i >= 0) return this.resendRecord(now, i)
    }
    if (this.tlp.pending) {
      this.tlp.pending = false
      const p = this.tlpProbe(now)
      if (p !== undefined) return p
    }
    const i = this.nextLost()
    if (i >= 0) return this.resendRecord(now, i)
    return undefined
  }

  rescue(now: number): TcpRepr | undefined {
    const r = this.nextRescue()
    if (r >= 0) return this.resendRecord(now, r)
    if (r < -1) {
      this.rescued = true
      return this.resendRecord(now, -2 - r)
    }
    return undefined
  }

  /** With SACK every new segment gets a record in the transmission log (SND.NXT is SND.MAX here). */
  onSent(at: Seq, next: Seq, now: number): void {
    this.log.append(at, next, now, this.host.effMss)
    if (this.inRecovery) this.prr?.onSent(1)
    this.noteSend(next)
  }

  override onRto(now: number): void {
    this.wasRecovering = this.inRecovery || this.inLoss
    super.onRto(now)
  }

  /**
   * The RTO with SACK: RTO recovery (RFC 6675 §5.1: no fast recovery until SND.UNA passes RecoveryPoint)
   * and RFC 8985 §6.3's RACK_mark_losses_on_RTO: the first segment is lost, and so is every segment sent at
   * least RACK.rtt + reo_wnd ago (every unSACKed one when RACK is off). The first goes out now; the rest as
   * slow start allows. SACKed data at SND.UNA means the peer reneged: the scoreboard is cleared first.
   */
  rtoRecovery(now: number): boolean {
    const log = this.log
    if (log.length === 0) return false
    const h = this.host
    if (this.wasRecovering) this.rack.onRecoveryExit()
    // Linux: the Loss state is no window reduction; PRR stops without handing over.
    if (this.prr) this.prr.active = false
    this.inRecovery = false
    this.inLoss = true
    this.tlp.endSeq = undefined
    this.tlp.pending = false
    h.timers.pto = undefined
    if (log.flags(0) & SEG_SACKED || (this.sack.ranges > 0 && this.sack.startAt(0) === 0)) {
      this.sack.clear()
      log.clearSacked()
      h.stats.sackReneging++
      this.recoveryEvent(now, 'reneging')
    }
    this.recoveryEvent(now, 'rto')
    const rack = this.rack
    const useRack = h.config.rack && rack.xmitTs !== -Infinity
    const reo = useRack ? rack.reoWnd(true, log.sackedCount, h.rtt.srtt ?? 0) : 0
    for (let i = 0; i < log.length; i++) {
      if (log.flags(i) & SEG_SACKED) continue
      if (i === 0 || !useRack || log.sentAt(i) + rack.rtt + reo <= now) this.markLost(now, i, 'rto')
    }
    this.detectLoss(now)
    this.forceRtx = true
    // Against a zero window that first segment is the window probe (MUST-36), counted as one.
    if (h.sndWnd === 0) h.stats.probes++
    return true
  }

  onClose(): void {
    this.forceRtx = false
    this.tlp.pending = false
  }

  info(started: boolean): RecoveryInfo {
    const log = this.log
    if (!started) return { caState: this.caState(this.inLoss, false), unacked: 0, sacked: 0, retransOut: 0 }
    let retransOut = 0
    for (let i = 0; i < log.length; i++) if ((log.flags(i) & (SEG_RETRANS | SEG_SACKED)) === SEG_RETRANS) retransOut++
    const caState = this.caState(this.inLoss, log.sackedCount > 0)
    return { caState, unacked: log.length, sacked: log.sackedCount, retransOut }
  }

  check(): string | undefined {
    const h = this.host
    if (h.sndNxt !== h.sndMax) return `SACK in use but SND.NXT ${h.sndNxt} != SND.MAX ${h.sndMax}`
    const l = this.log.check(h.sndUna, h.sndMax)
    if (l) return l
    const b = this.sack.check(seqDiff(h.sndMax, h.sndUna))
    if (b) return b
    if (this.pipe < 0) return `pipe ${this.pipe} < 0`
    if (this.inRecovery && this.inLoss) return 'fast recovery and RTO recovery at once'
    return undefined
  }
}
