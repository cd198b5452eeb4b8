/**
 * Linux's segmentation offload as a peer sees it, for the 'linux' profile. tcplab sends one segment at a time;
 * Linux hands its device GSO/TSO packets of several segments, and that shows on the wire in one way a script
 * checks: __tcp_transmit_skb sets PSH on every packet of more than one segment ("to expedite GRO flush at
 * the receiver"), which after segmentation is the PSH of the packet's last segment. A 1-segment packet gets
 * no such PSH. So the TCB groups the new-data segments of one burst (one tcp_write_xmit pass: segments
 * sent at the same instant, nothing received in between) into packets of at most `linuxTsoSegs` segments,
 * and the last segment of a packet of two or more carries PSH.
 *
 * How many segments a packet takes is tcp_tso_autosize: about 1 ms of the pacing rate, which Linux sets to
 * 200 % of cwnd·MSS/SRTT in slow start (below ssthresh/2) and 120 % after (tcp_update_pacing_rate), plus a
 * share of the 64 KiB GSO maximum on short paths (tcp_tso_rtt_log 9: all of it below 512 µs of minimum RTT,
 * half below 1024 µs…), at least tcp_min_tso_segs (2). With a script's usual 100 ms handshake that is 2.
 */

/** sk_gso_max_size on a device with TSO (GSO_LEGACY_MAX_SIZE). */
export const GSO_MAX_SIZE = 65536
/** net.ipv4.tcp_min_tso_segs. */
export const MIN_TSO_SEGS = 2
/** net.ipv4.tcp_tso_rtt_log. */
const TSO_RTT_LOG = 9
/** sk_pacing_shift: a TSO packet holds about 2^-10 s (~1 ms) of the pacing rate. */
const PACING_SHIFT = 10

/** What tcp_tso_autosize reads: segment size, window and flight in segments, smoothed and minimum RTT (µs). */
export interface TsoInputs {
  mss: number
  cwndSegs: number
  packetsOut: number
  ssthreshSegs: number
  /** Smoothed RTT, undefined before the first sample (then Linux's rate is not divided: the maximum). */
  srtt: number | undefined
  /** Smallest RTT seen, undefined before the first sample. */
  minRtt: number | undefined
}

/** Segments per GSO packet, as Linux's tcp_tso_segs for CUBIC and Reno (which set no min_tso_segs of their own). */
export function linuxTsoSegs(o: TsoInputs): number {
  const mss = o.mss > 0 ? o.mss : 1
  let bytes: number
  if (o.srtt === undefined || o.srtt <= 0) {
    bytes = GSO_MAX_SIZE
  } else {
    const ratio = o.cwndSegs < o.ssthreshSegs / 2 ? 2 : 1.2
    const rate = (mss * ratio * Math.max(o.cwndSegs, o.packetsOut) * 1e6) / o.srtt // bytes per second
    bytes = Math.floor(rate / 2 ** PACING_SHIFT)
    const r = o.minRtt === undefined ? 0 : Math.floor(o.minRtt) >> TSO_RTT_LOG
    if (r < 32) bytes += Math.floor(GSO_MAX_SIZE / 2 ** r)
    if (bytes > GSO_MAX_SIZE) bytes = GSO_MAX_SIZE
  }
  return Math.max(Math.floor(bytes / mss), MIN_TSO_SEGS)
}

/**
 * The packet being built from one burst of new data: how many segments it has so far and when the burst
 * began. `add` counts a segment and says whether it closes the packet (and so carries PSH).
 */
export class GsoPacket {
  private segs = 0
  private at = -1

  /** A segment arrived or time moved: the next segment starts a new burst. */
  reset(): void {
    this.segs = 0
    this.at = -1
  }

  /**
   * One new-data segment sent at `now`. `max` is the packet's size in segments (linuxTsoSegs), `more` whether
   * another segment of new data can follow at once, `pushed` whether the segment has PSH for another reason
   * (the end of a write: no packet runs across it). Returns true when this segment carries the packet's PSH.
   */
  add(now: number, max: number, more: boolean, pushed: boolean): boolean {
    if (now !== this.at) {
      this.at = now
      this.segs = 0
    }
    this.segs++
    const ends = pushed || !more || this.segs >= max
    const psh = ends && this.segs >= 2
    if (ends) this.segs = 0
    return psh
  }
}
