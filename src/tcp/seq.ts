/**
 * Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4). This is the only module that does `>>> 0` and
 * `| 0` on sequence numbers; everything else goes through these functions. Comparisons follow gVisor's
 * seqnum package: `a < b` iff the signed 32-bit difference `a - b` is negative.
 */

/** A TCP sequence number: an unsigned 32-bit integer compared modulo 2^32. */
export type Seq = number & { readonly __brand: 'Seq' }

/** Brands a number (taken modulo 2^32) as a sequence number. */
export const seq = (n: number): Seq => (n >>> 0) as Seq

/** a + n modulo 2^32; n may be negative. */
export const seqAdd = (a: Seq, n: number): Seq => ((a + n) >>> 0) as Seq

/** The signed distance b - a in [-2^31, 2^31): how far b is ahead of a. */
export const seqDiff = (b: Seq, a: Seq): number => (b - a) | 0

/** a < b modulo 2^32. */
export const seqLt = (a: Seq, b: Seq): boolean => ((a - b) | 0) < 0
/** a ≤ b modulo 2^32. */
export const seqLe = (a: Seq, b: Seq): boolean => ((a - b) | 0) <= 0
/** a > b modulo 2^32. */
export const seqGt = (a: Seq, b: Seq): boolean => ((a - b) | 0) > 0
/** a ≥ b modulo 2^32. */
export const seqGe = (a: Seq, b: Seq): boolean => ((a - b) | 0) >= 0

/** The later of a and b. */
export const seqMax = (a: Seq, b: Seq): Seq => (seqGt(a, b) ? a : b)
/** The earlier of a and b. */
export const seqMin = (a: Seq, b: Seq): Seq => (seqLt(a, b) ? a : b)

/** start ≤ x < start + len (modulo 2^32); an empty window holds nothing. len must be < 2^31. */
export const seqInWindow = (x: Seq, start: Seq, len: number): boolean => {
  const off = (x - start) >>> 0
  return off < len
}

/** lo ≤ x ≤ hi modulo 2^32 (RFC 9293's "=<" checks, e.g. SND.UNA < SEG.ACK =< SND.NXT uses seqLt + seqLe). */
export const seqBetween = (lo: Seq, x: Seq, hi: Seq): boolean => ((x - lo) >>> 0) <= ((hi - lo) >>> 0)
