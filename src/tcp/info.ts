/**
 * What a TCB reports about itself: the counters kept for figures and checks ({@link TcbStats}) and the
 * snapshot in the terms of Linux's struct tcp_info that TCP_INFO returns ({@link TcbInfo}). Plain data and
 * one builder; the TCB and its loss recovery supply the values.
 */
import type { RttEstimator } from './snd.js'

/** Counters for figures (retransmissions, challenge ACKs…) and for issue-7 style checks. */
export interface TcbStats {
  segsIn: number
  segsOut: number
  bytesIn: number
  bytesOut: number
  retransmits: number
  timeouts: number
  fastRetransmits: number
  probes: number
  dupAcksIn: number
  challengeAcks: number
  challengeAcksSuppressed: number
  drops: number
  rttSamples: number
  /** Fast recoveries run on SACK information (RFC 6675); each also counts in fastRetransmits. */
  sackRecoveries: number
  /** Segments RACK marked lost (RFC 8985 §6.2), retransmissions included. */
  rackLosses: number
  /** Segments RFC 6675's IsLost or the DupThresh rule marked lost. */
  dupThreshLosses: number
  /** Tail loss probes sent (RFC 8985 §7.3). */
  tlpProbes: number
  /** Probes that repaired a loss (RFC 8985 §7.4: the ACK went past the retransmitted probe). */
  tlpRecoveries: number
  /** Times the peer dropped data it had SACKed (RFC 2018 §8), so the scoreboard was cleared. */
  sackReneging: number
  /** Segments sent with data, retransmissions included (Linux's data_segs_out). */
  dataSegsOut: number
  /** Segments received with data (Linux's data_segs_in). */
  dataSegsIn: number
}

/**
 * Linux's congestion-avoidance state (tcpi_ca_state): Open; Disorder (duplicate ACKs or SACKed data, no
 * loss yet); Recovery (fast recovery); Loss (after an RTO, until what was outstanding then is acknowledged).
 * tcplab has no ECN, so never Linux's CWR.
 */
export type CaState = 'open' | 'disorder' | 'recovery' | 'loss'

/**
 * A read-only snapshot of a connection's counters in the terms of Linux's struct tcp_info, for TCP_INFO:
 * times in µs, windows in bytes, segment counts where Linux counts packets.
 */
export interface TcbInfo {
  /** tcpi_ca_state. */
  caState: CaState
  /** tcpi_retransmits: retransmission timeouts in a row, with no ACK of new data since. */
  retransmits: number
  /** tcpi_backoff: RTO doublings in force. */
  backoff: number
  /** tcpi_rto (µs), backoff applied. */
  rto: number
  /** tcpi_rtt and tcpi_rttvar (µs): the smoothed RTT (undefined before a sample) and its variation. */
  rtt: number | undefined
  rttvar: number
  /** tcpi_snd_mss: the payload of a full segment (Eff.snd.MSS). */
  sndMss: number
  /**
   * tcpi_rcv_mss: the peer's segment size as seen (the 'linux' profile's estimate: Linux's first guess once
   * the connection is established, then the largest segment received; 0 in 'rfc' or before the handshake).
   */
  rcvMss: number
  /** tcpi_advmss: the MSS we announce (TcpConfig.mss, as TCP_MAXSEG sets it). */
  advMss: number
  /** tcpi_min_rtt (µs): the smallest RTT sample, undefined before one. */
  minRtt: number | undefined
  /** Congestion window and slow-start threshold in bytes (tcpi_snd_cwnd and tcpi_snd_ssthresh count segments). */
  cwnd: number
  ssthresh: number
  /**
   * tcpi_unacked: segments sent and not acknowledged (with SACK, the transmission log's records; without,
   * the flight in full segments, rounded up).
   */
  unacked: number
  /** tcpi_sacked and tcpi_retrans: of those, SACKed, and retransmitted and not SACKed (SACK only; else 0). */
  sacked: number
  retransOut: number
  /** tcpi_total_retrans: every segment retransmitted, SYNs included. */
  totalRetrans: number
  /** tcpi_bytes_acked: sequence space the peer acknowledged (the SYN included on an active open, as Linux's). */
  bytesAcked: number
  /** tcpi_bytes_received: sequence space received in order past the peer's SYN. */
  bytesReceived: number
  /** tcpi_segs_out / tcpi_segs_in / tcpi_data_segs_out / tcpi_data_segs_in. */
  segsOut: number
  segsIn: number
  dataSegsOut: number
  dataSegsIn: number
}

/** A fresh set of counters, all zero. */
export function newStats(): TcbStats {
  return {
    segsIn: 0,
    segsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    retransmits: 0,
    timeouts: 0,
    fastRetransmits: 0,
    probes: 0,
    dupAcksIn: 0,
    challengeAcks: 0,
    challengeAcksSuppressed: 0,
    drops: 0,
    rttSamples: 0,
    sackRecoveries: 0,
    rackLosses: 0,
    dupThreshLosses: 0,
    tlpProbes: 0,
    tlpRecoveries: 0,
    sackReneging: 0,
    dataSegsOut: 0,
    dataSegsIn: 0,
  }
}

/** The loss recovery's part of {@link TcbInfo} (recovery/: ca state and the segment counts). */
export type RecoveryInfo = Pick<TcbInfo, 'caState' | 'unacked' | 'sacked' | 'retransOut'>

/** What else {@link tcbInfo} needs from the TCB: the fields it copies as they are, and the rest. */
export interface InfoSource extends Pick<TcbInfo, 'sndMss' | 'rcvMss' | 'advMss' | 'minRtt' | 'cwnd' | 'ssthresh'> {
  /** Retransmission timeouts in a row. */
  retries: number
  rtt: RttEstimator
  /** Sequence space acknowledged and received in order (may be negative before the handshake ends). */
  acked: number
  received: number
  stats: TcbStats
}

/** Builds the TCP_INFO snapshot from the TCB's values and its loss recovery's. */
export function tcbInfo(s: InfoSource, r: RecoveryInfo): TcbInfo {
  return {
    caState: r.caState,
    retransmits: s.retries,
    backoff: s.rtt.backoff,
    rto: s.rtt.current,
    rtt: s.rtt.srtt,
    rttvar: s.rtt.rttvar,
    sndMss: s.sndMss,
    rcvMss: s.rcvMss,
    advMss: s.advMss,
    minRtt: s.minRtt,
    cwnd: s.cwnd,
    ssthresh: s.ssthresh,
    unacked: r.unacked,
    sacked: r.sacked,
    retransOut: r.retransOut,
    totalRetrans: s.stats.retransmits,
    bytesAcked: s.acked > 0 ? s.acked : 0,
    bytesReceived: s.received > 0 ? s.received : 0,
    segsOut: s.stats.segsOut,
    segsIn: s.stats.segsIn,
    dataSegsOut: s.stats.dataSegsOut,
    dataSegsIn: s.stats.dataSegsIn,
  }
}
