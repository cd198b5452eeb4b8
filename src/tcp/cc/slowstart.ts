/** Slow start's count per ACK, shared by the algorithms (RFC 5681 §3.1, RFC 3465; Linux's tcp_slow_start). */

/**
 * How slow start counts an ACK: 'smss', RFC 5681 §3.1's at most one SMSS per ACK (RFC 3465 with L = 1 SMSS);
 * 'acked', Linux's tcp_slow_start, every acknowledged byte up to ssthresh and what is left over counted in
 * congestion avoidance, so an ACK of two segments opens the window by two (the 'linux' profile).
 */
export type SlowStartRule = 'smss' | 'acked'

/**
 * One ACK of `acked` bytes in slow start, on a window `w` below `ssthresh`: the new window and the bytes
 * left for congestion avoidance (only with 'acked', once the window reaches ssthresh).
 */
export function slowStart(w: number, acked: number, smss: number, ssthresh: number, rule: SlowStartRule): { w: number; left: number } {
  if (rule === 'smss') return { w: w + Math.min(acked, smss), left: 0 }
  const grown = Math.min(w + acked, ssthresh)
  return { w: grown, left: acked - (grown - w) }
}
