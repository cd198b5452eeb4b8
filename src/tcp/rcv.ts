/**
 * Receive-side bookkeeping (gVisor's rcv.go): a ring that holds in-order bytes not yet read by the
 * application, followed by the window where out-of-order segments are written in place. An assembler
 * (smoltcp's idea) remembers which ranges past RCV.NXT have arrived, so a segment that fills a hole makes
 * everything behind it in-order at once, without moving a byte. Ranges are kept as offsets from RCV.NXT.
 */
import { mergeSpan, spanOf, type RangeSpan } from './ranges.js'
import { seqAdd, type Seq } from './seq.js'
import { EMPTY } from './snd.js'

/** Most out-of-order ranges we hold; a segment that would open one more is dropped (it will be resent). */
export const MAX_OOO_RANGES = 32

/** Ring of received bytes plus the out-of-order assembler. */
export class RecvBuffer {
  private buf: Uint8Array | undefined
  private head = 0
  private len = 0
  /** Out-of-order ranges [start, end) as offsets from RCV.NXT, sorted and disjoint, never touching 0. */
  private readonly starts: number[] = []
  private readonly span: RangeSpan = { i: 0, j: 0, lo: 0, hi: 0 }
  private readonly ends: number[] = []
  /** Index into starts/ends of the range that the most recent out-of-order segment joined, or -1. */
  private recent = -1

  /** `capacity` bytes of storage, allocated when the first byte arrives. */
  constructor(readonly capacity: number) {}

  /** In-order bytes ready for the application. */
  get length(): number {
    return this.len
  }

  /** Number of out-of-order ranges held. */
  get oooRanges(): number {
    return this.starts.length
  }

  /** End offset (from RCV.NXT) of the furthest out-of-order byte held, 0 if none. */
  get oooEnd(): number {
    const n = this.ends.length
    return n === 0 ? 0 : this.ends[n - 1]
  }

  /** Room from RCV.NXT to the end of the ring, the hard limit on what may be accepted. */
  get room(): number {
    return this.capacity - this.len
  }

  /**
   * Stores `data` at `offset` bytes past RCV.NXT. Returns how far RCV.NXT advances (0 when the data is
   * out of order), or -1 when it was refused because it would need more than MAX_OOO_RANGES ranges.
   * The caller has trimmed the data to the window, so it fits in `room`.
   */
  write(offset: number, data: Uint8Array): number {
    let n = data.length
    if (offset + n > this.capacity - this.len) n = Math.max(0, this.capacity - this.len - offset)
    if (n === 0) return 0
    if (offset > 0 && !this.canInsert(offset, offset + n)) return -1
    const buf = (this.buf ??= new Uint8Array(this.capacity))
    let pos = this.head + this.len + offset
    pos %= this.capacity
    const first = Math.min(n, this.capacity - pos)
    buf.set(first === data.length ? data : data.subarray(0, first), pos)
    if (first < n) buf.set(data.subarray(first, n), 0)
    if (offset > 0) {
      this.insert(offset, offset + n)
      return 0
    }
    // In order: advance over this segment and every range it now touches.
    let adv = n
    let drop = 0
    while (drop < this.starts.length && this.starts[drop] <= adv) {
      if (this.ends[drop] > adv) adv = this.ends[drop]
      drop++
    }
    if (drop > 0) {
      this.starts.splice(0, drop)
      this.ends.splice(0, drop)
      this.recent = this.recent >= drop ? this.recent - drop : -1
    }
    for (let i = 0; i < this.starts.length; i++) {
      this.starts[i] -= adv
      this.ends[i] -= adv
    }
    this.len += adv
    return adv
  }

  private canInsert(s: number, e: number): boolean {
    if (this.starts.length < MAX_OOO_RANGES) return true
    // Full: allowed only if it overlaps or touches an existing range (no new range needed).
    for (let i = 0; i < this.starts.length; i++) if (s <= this.ends[i] && e >= this.starts[i]) return true
    return false
  }

  private insert(s: number, e: number): void {
    const span = spanOf(this.starts, this.ends, s, e, this.span)
    mergeSpan(this.starts, this.ends, span)
    this.recent = span.i
  }

  /**
   * The first part of [s, e) (offsets from RCV.NXT) already held out of order, as `out[0..1]`; false when
   * none is. RFC 2883 §4's D-SACK reports such duplicates.
   */
  heldOverlap(s: number, e: number, out: number[]): boolean {
    for (let i = 0; i < this.starts.length; i++) {
      const rs = this.starts[i]
      const re = this.ends[i]
      if (rs >= e) return false
      if (re > s) {
        out[0] = Math.max(s, rs)
        out[1] = Math.min(e, re)
        return true
      }
    }
    return false
  }

  /** Forgets every out-of-order range (used when the connection closes). */
  clearOutOfOrder(): void {
    this.starts.length = 0
    this.ends.length = 0
    this.recent = -1
  }

  /**
   * Up to `max` SACK blocks as [start, end) offsets from RCV.NXT, most recently updated first
   * (RFC 2018 §4), written into `out` (pairs); returns the number of blocks.
   */
  sackOffsets(out: number[], max: number): number {
    let k = 0
    const n = this.starts.length
    if (n === 0 || max <= 0) return 0
    const first = this.recent >= 0 && this.recent < n ? this.recent : n - 1
    out[0] = this.starts[first]
    out[1] = this.ends[first]
    k = 1
    for (let i = n - 1; i >= 0 && k < max; i--) {
      if (i === first) continue
      out[2 * k] = this.starts[i]
      out[2 * k + 1] = this.ends[i]
      k++
    }
    return k
  }

  /** Copies up to `into.length` in-order bytes out and frees them; returns the count. */
  read(into: Uint8Array): number {
    const n = Math.min(into.length, this.len)
    if (n === 0 || this.buf === undefined) return 0
    const first = Math.min(n, this.capacity - this.head)
    into.set(this.buf.subarray(this.head, this.head + first), 0)
    if (first < n) into.set(this.buf.subarray(0, n - first), first)
    this.consume(n)
    return n
  }

  /** The longest contiguous run of in-order bytes, without copying (valid until the next consume/write). */
  peek(max = Infinity): Uint8Array {
    if (this.len === 0 || this.buf === undefined) return EMPTY
    const n = Math.min(this.len, this.capacity - this.head, max)
    return this.buf.subarray(this.head, this.head + n)
  }

  /** Frees `n` in-order bytes the application has read. */
  consume(n: number): void {
    if (n > this.len) n = this.len
    this.head += n
    if (this.head >= this.capacity) this.head -= this.capacity
    this.len -= n
  }

  /** Consistency check for tests and the simulation: a description of the first broken rule, if any. */
  check(): string | undefined {
    if (this.len < 0 || this.len > this.capacity) return `rcv length ${this.len} outside 0..${this.capacity}`
    let prevEnd = 0
    for (let i = 0; i < this.starts.length; i++) {
      const s = this.starts[i]
      const e = this.ends[i]
      if (!(s > prevEnd || (i === 0 && s > 0))) return `ooo range ${i} [${s},${e}) not after ${prevEnd}`
      if (!(e > s)) return `ooo range ${i} empty`
      if (e > this.capacity - this.len) return `ooo range ${i} past ring room`
      prevEnd = e
    }
    return undefined
  }
}

/**
 * The SACK blocks a receiver reports on its next segment (RFC 2018 §4), at most `max`: the D-SACK block
 * first, when there is one (RFC 2883 §4), then the blocks of the data held past RCV.NXT, most recently
 * updated first. A FIN held beyond a hole (`fin`) is reported too, with its data or in a block of its own
 * (first when `finRecent`: it came last). `scratch` holds 2·max numbers. Undefined when there is none.
 */
export function sackBlocks(
  buf: RecvBuffer,
  rcvNxt: Seq,
  max: number,
  dsack: [Seq, Seq] | undefined,
  fin: Seq | undefined,
  finRecent: boolean,
  scratch: number[],
): Array<[Seq, Seq]> | undefined {
  const blocks: Array<[Seq, Seq]> = []
  if (dsack !== undefined) blocks.push(dsack)
  const k = buf.oooRanges > 0 ? buf.sackOffsets(scratch, max - blocks.length) : 0
  let finCovered = fin === undefined
  for (let i = 0; i < k; i++) {
    let end = seqAdd(rcvNxt, scratch[2 * i + 1])
    // A FIN held beyond a hole takes a sequence number (RFC 9293 §3.4) and is reported with its data, as
    // Linux's out-of-order queue holds it (end_seq = seq + len + 1): RFC 2018 reports received sequence space.
    if (end === fin) {
      end = seqAdd(end, 1)
      finCovered = true
    }
    blocks.push([seqAdd(rcvNxt, scratch[2 * i]), end])
  }
  if (!finCovered && blocks.length < max) {
    // A FIN alone beyond the hole: its own block (the kernel's: <sack 101:102>), first if it came last.
    const b: [Seq, Seq] = [fin!, seqAdd(fin!, 1)]
    if (finRecent) blocks.splice(dsack !== undefined ? 1 : 0, 0, b)
    else blocks.push(b)
  }
  return blocks.length === 0 ? undefined : blocks
}
