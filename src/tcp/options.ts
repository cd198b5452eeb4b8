/**
 * TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018). Parsed into a list that keeps order and unknown
 * kinds, so a segment re-emits byte for byte.
 */
import type { Seq } from './seq.js'

/** One TCP option. `unknown` keeps any other kind as raw bytes (data excludes kind and length). */
export type TcpOption =
  | { kind: 'eol' }
  | { kind: 'nop' }
  | { kind: 'mss'; value: number }
  | { kind: 'wscale'; shift: number }
  | { kind: 'sackPermitted' }
  | { kind: 'sack'; blocks: Array<[Seq, Seq]> }
  | { kind: 'timestamp'; value: number; echo: number }
  | { kind: 'unknown'; type: number; data: Uint8Array }

// IMPLEMENTATION PENDING (helper: TCP codec)
