/**
 * The TCP segment (RFC 9293 §3.1): a checked zero-copy view with named offsets, and a plain repr that
 * `parseTcp` fills and `emitTcp` writes back.
 */
import type { Seq } from './seq.js'
import type { TcpOption } from './options.js'

/** Flag bits of header byte 13 (and, above 0xff, the four reserved bits of byte 12). */
export const TcpFlags = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const

/** A TCP segment as plain data. `ack` is kept whether or not the ACK flag is set (byte-exact round trip). */
export interface TcpRepr {
  srcPort: number
  dstPort: number
  seq: Seq
  ack: Seq
  /** 12 bits: FSRPAUEC in bits 0..7, the reserved nibble of byte 12 in bits 8..11. */
  flags: number
  window: number
  urgent: number
  options: TcpOption[]
  /** A subarray of the parsed bytes: never copied on the way in. */
  payload: Uint8Array
}

// IMPLEMENTATION PENDING (helper: TCP codec)
