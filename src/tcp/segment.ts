/**
 * The TCP segment (RFC 9293 §3.1): a checked zero-copy view with named offsets, and a plain repr that
 * `parseTcp` fills and `emitTcp` writes back.
 */
import { finishChecksum, IPPROTO_TCP, isOffloadedChecksum, onesSum, pseudoHeaderSum, type PseudoHeader } from './checksum.js'
import { WireError } from './errors.js'
import {
  checkedOptionsLen,
  MAX_OPTIONS_LEN,
  optionsLen,
  parseOptionRange,
  parseOptionRangeTolerant,
  writeOptions,
  type MalformedOption,
  type TcpOption,
} from './options.js'
import type { Seq } from './seq.js'

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

// Byte offsets of the fixed header fields (RFC 9293 §3.1, figure 1), named the gVisor way.
/** Offset of the source port (16 bits). */
export const SRC_PORT = 0
/** Offset of the destination port (16 bits). */
export const DST_PORT = 2
/** Offset of the sequence number (32 bits). */
export const SEQ = 4
/** Offset of the acknowledgment number (32 bits). */
export const ACK = 8
/** Offset of the byte holding data offset (high nibble) and reserved bits (low nibble). */
export const DATA_OFFSET = 12
/** Offset of the flag byte (CWR ECE URG ACK PSH RST SYN FIN, high bit first). */
export const FLAGS = 13
/** Offset of the window (16 bits). */
export const WINDOW = 14
/** Offset of the checksum (16 bits). */
export const CHECKSUM = 16
/** Offset of the urgent pointer (16 bits). */
export const URGENT = 18
/** Length of the fixed header, without options. */
export const TCP_MIN_HEADER_LEN = 20
/** Largest header: data offset 15 words. */
export const TCP_MAX_HEADER_LEN = 60

const badField = (msg: string): WireError => new WireError('TCP_ERR_BAD_FIELD', msg)
const isU16 = (v: number): boolean => (v & 0xffff) === v
const isU32 = (v: number): boolean => v >>> 0 === v

const rd16 = (b: Uint8Array, i: number): number => (b[i] << 8) | b[i + 1]
const rd32 = (b: Uint8Array, i: number): number => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0
const wr16 = (b: Uint8Array, i: number, v: number): void => {
  b[i] = v >>> 8
  b[i + 1] = v
}
const wr32 = (b: Uint8Array, i: number, v: number): void => {
  b[i] = v >>> 24
  b[i + 1] = v >>> 16
  b[i + 2] = v >>> 8
  b[i + 3] = v
}

const badDataOffset = (doff: number, len: number): WireError =>
  new WireError(
    'TCP_ERR_BAD_DATA_OFFSET',
    `TCP data offset ${doff} (${doff * 4} bytes) ${doff < 5 ? 'is below the minimum of 5' : `exceeds the ${len}-byte segment`}`,
  )

/** Throws ERR_BAD_ARGUMENT unless the pseudo-header carries two IPv4 or two IPv6 addresses. */
function checkPseudo(p: PseudoHeader): void {
  const n = p.src.length
  if ((n !== 4 && n !== 16) || p.dst.length !== n) {
    throw new WireError('ERR_BAD_ARGUMENT', `pseudo-header addresses must both be 4 or 16 bytes (got ${n} and ${p.dst.length})`)
  }
}

/** One's-complement sum of the pseudo-header and `bytes[start, end)` (the segment), folded to 16 bits. */
function segmentSum(bytes: Uint8Array, start: number, end: number, p: PseudoHeader): number {
  return onesSum(bytes, start, end, pseudoHeaderSum(p.src, p.dst, IPPROTO_TCP, end - start))
}

/**
 * A zero-copy view over the bytes of one TCP segment, with a getter and setter per header field. Use
 * `TcpView.check` on untrusted bytes; the constructor itself checks nothing, for writing into a buffer
 * the caller has already sized. Setters refuse values that do not fit their field (TCP_ERR_BAD_FIELD)
 * but otherwise write what they are given, so a fault injector can craft impossible headers.
 */
export class TcpView {
  /** Wraps bytes without checking them; prefer `TcpView.check` for anything received. */
  constructor(readonly bytes: Uint8Array) {}

  /** Validates lengths (RFC 9293 §3.1: data offset ≥ 5 words, header within the segment) and wraps. */
  static check(bytes: Uint8Array): TcpView {
    if (bytes.length < TCP_MIN_HEADER_LEN) {
      throw new WireError('TCP_ERR_TRUNCATED', `TCP segment of ${bytes.length} bytes is shorter than the 20-byte header`)
    }
    const doff = bytes[DATA_OFFSET] >>> 4
    if (doff < 5 || doff * 4 > bytes.length) throw badDataOffset(doff, bytes.length)
    return new TcpView(bytes)
  }

  /** Source port. */
  get srcPort(): number {
    return rd16(this.bytes, SRC_PORT)
  }
  set srcPort(v: number) {
    if (!isU16(v)) throw badField(`source port ${v} is not in 0..65535`)
    wr16(this.bytes, SRC_PORT, v)
  }

  /** Destination port. */
  get dstPort(): number {
    return rd16(this.bytes, DST_PORT)
  }
  set dstPort(v: number) {
    if (!isU16(v)) throw badField(`destination port ${v} is not in 0..65535`)
    wr16(this.bytes, DST_PORT, v)
  }

  /** Sequence number. */
  get seq(): Seq {
    return rd32(this.bytes, SEQ) as Seq
  }
  set seq(v: Seq) {
    if (!isU32(v)) throw badField(`sequence number ${v} is not a 32-bit value`)
    wr32(this.bytes, SEQ, v)
  }

  /** Acknowledgment number (meaningful only with ACK set, but always read). */
  get ack(): Seq {
    return rd32(this.bytes, ACK) as Seq
  }
  set ack(v: Seq) {
    if (!isU32(v)) throw badField(`acknowledgment number ${v} is not a 32-bit value`)
    wr32(this.bytes, ACK, v)
  }

  /** Header length in 32-bit words (the high nibble of byte 12). */
  get dataOffset(): number {
    return this.bytes[DATA_OFFSET] >>> 4
  }
  /** Writes the nibble only; the reserved bits beside it are kept. Any 0..15 is accepted, even < 5. */
  set dataOffset(v: number) {
    if ((v & 0xf) !== v) throw badField(`data offset ${v} is not in 0..15`)
    this.bytes[DATA_OFFSET] = (v << 4) | (this.bytes[DATA_OFFSET] & 0x0f)
  }

  /** Header length in bytes (dataOffset × 4). */
  get headerLen(): number {
    return (this.bytes[DATA_OFFSET] >>> 4) << 2
  }

  /** 12 flag bits: FSRPAUEC from byte 13 in bits 0..7, the reserved low nibble of byte 12 in bits 8..11. */
  get flags(): number {
    return ((this.bytes[DATA_OFFSET] & 0x0f) << 8) | this.bytes[FLAGS]
  }
  set flags(v: number) {
    if ((v & 0xfff) !== v) throw badField(`flags 0x${v.toString(16)} do not fit 12 bits`)
    this.bytes[DATA_OFFSET] = (this.bytes[DATA_OFFSET] & 0xf0) | (v >>> 8)
    this.bytes[FLAGS] = v
  }

  /** Receive window (unscaled, as on the wire). */
  get window(): number {
    return rd16(this.bytes, WINDOW)
  }
  set window(v: number) {
    if (!isU16(v)) throw badField(`window ${v} is not in 0..65535`)
    wr16(this.bytes, WINDOW, v)
  }

  /** Checksum field as stored. */
  get checksum(): number {
    return rd16(this.bytes, CHECKSUM)
  }
  set checksum(v: number) {
    if (!isU16(v)) throw badField(`checksum ${v} is not in 0..65535`)
    wr16(this.bytes, CHECKSUM, v)
  }

  /** Urgent pointer. */
  get urgent(): number {
    return rd16(this.bytes, URGENT)
  }
  set urgent(v: number) {
    if (!isU16(v)) throw badField(`urgent pointer ${v} is not in 0..65535`)
    wr16(this.bytes, URGENT, v)
  }

  /** The option space, bytes 20 .. headerLen (a subarray, possibly empty). */
  get optionBytes(): Uint8Array {
    return this.bytes.subarray(TCP_MIN_HEADER_LEN, this.headerLen)
  }

  /** Everything after the header (a subarray). */
  get payload(): Uint8Array {
    return this.bytes.subarray(this.headerLen)
  }

  /** True when the checksum over the pseudo-header and the whole segment comes out right (RFC 1071 §1). */
  verifyChecksum(pseudo: PseudoHeader): boolean {
    checkPseudo(pseudo)
    // A correct segment sums to 0xffff with its checksum included; finishChecksum maps that to 0.
    return finishChecksum(segmentSum(this.bytes, 0, this.bytes.length, pseudo)) === 0
  }

  /** Computes the checksum over the pseudo-header and the whole segment, writes it, and returns it. */
  fillChecksum(pseudo: PseudoHeader): number {
    checkPseudo(pseudo)
    const b = this.bytes
    b[CHECKSUM] = 0
    b[CHECKSUM + 1] = 0
    const c = finishChecksum(segmentSum(b, 0, b.length, pseudo))
    wr16(b, CHECKSUM, c)
    return c
  }
}

/** What parseTcp returns: the repr plus the header facts that the repr does not keep. */
export interface TcpParsed extends TcpRepr {
  /** Header length in 32-bit words. */
  dataOffset: number
  /** The checksum field as received. */
  checksum: number
  /** Whether the checksum verified; undefined when no pseudo-header was given. */
  checksumOk: boolean | undefined
  /**
   * True when the checksum did not verify but holds exactly the pseudo-header sum that a local sender's
   * checksum offload leaves (see {@link isOffloadedChecksum}); false otherwise, undefined when unchecked.
   */
  checksumOffloaded: boolean | undefined
  /**
   * Only with `tolerantOptions`: the option the parser stopped at (the options before it are in
   * `options`); absent when every option read.
   */
  optionError?: MalformedOption
}

/**
 * Parses a TCP segment (the whole IP payload). Payload and unknown-option data are subarrays of `bytes`.
 * Without `pseudo` the checksum is not checked (checksumOk undefined); with `requireChecksum` a bad one
 * throws TCP_ERR_BAD_CHECKSUM (and a missing pseudo-header throws ERR_BAD_ARGUMENT). With `tolerantOptions`
 * a malformed option no longer throws: the options before it are kept and it is reported in `optionError`
 * (for people; the TCB keeps the strict default and drops such a segment).
 */
export function parseTcp(
  bytes: Uint8Array,
  pseudo?: PseudoHeader,
  opts?: { requireChecksum?: boolean; tolerantOptions?: boolean },
): TcpParsed {
  const len = bytes.length
  if (len < TCP_MIN_HEADER_LEN) {
    throw new WireError('TCP_ERR_TRUNCATED', `TCP segment of ${len} bytes is shorter than the 20-byte header`)
  }
  const b12 = bytes[DATA_OFFSET]
  const doff = b12 >>> 4
  const hlen = doff << 2
  if (doff < 5 || hlen > len) throw badDataOffset(doff, len)
  let checksumOk: boolean | undefined
  let checksumOffloaded: boolean | undefined
  if (pseudo === undefined) {
    // Demanding a verified checksum without the addresses to verify it is a caller bug, not a pass.
    if (opts?.requireChecksum === true) throw new WireError('ERR_BAD_ARGUMENT', 'requireChecksum needs a pseudo-header')
  } else {
    checkPseudo(pseudo)
    checksumOk = finishChecksum(segmentSum(bytes, 0, len, pseudo)) === 0
    checksumOffloaded = !checksumOk && isOffloadedChecksum(rd16(bytes, CHECKSUM), pseudo.src, pseudo.dst, IPPROTO_TCP, len)
    if (!checksumOk && opts?.requireChecksum === true) {
      throw new WireError(
        'TCP_ERR_BAD_CHECKSUM',
        `TCP checksum 0x${rd16(bytes, CHECKSUM).toString(16).padStart(4, '0')} does not verify`,
      )
    }
  }
  let options: TcpOption[] = []
  let optionError: MalformedOption | undefined
  if (hlen > TCP_MIN_HEADER_LEN) {
    if (opts?.tolerantOptions === true) {
      const t = parseOptionRangeTolerant(bytes, TCP_MIN_HEADER_LEN, hlen, TCP_MIN_HEADER_LEN, 'segment')
      options = t.options
      optionError = t.malformed
    } else options = parseOptionRange(bytes, TCP_MIN_HEADER_LEN, hlen, TCP_MIN_HEADER_LEN, 'segment')
  }
  const parsed: TcpParsed = {
    srcPort: rd16(bytes, SRC_PORT),
    dstPort: rd16(bytes, DST_PORT),
    seq: rd32(bytes, SEQ) as Seq,
    ack: rd32(bytes, ACK) as Seq,
    flags: ((b12 & 0x0f) << 8) | bytes[FLAGS],
    window: rd16(bytes, WINDOW),
    urgent: rd16(bytes, URGENT),
    options,
    payload: bytes.subarray(hlen),
    dataOffset: doff,
    checksum: rd16(bytes, CHECKSUM),
    checksumOk,
    checksumOffloaded,
  }
  if (optionError !== undefined) parsed.optionError = optionError
  return parsed
}

/** Header length in bytes: 20 plus the options padded to a 4-byte boundary. Throws TCP_ERR_OPTIONS_TOO_LONG past 40. */
export function tcpHeaderLen(repr: TcpRepr): number {
  return headerLenFor(optionsLen(repr.options))
}

function headerLenFor(optLen: number): number {
  if (optLen > MAX_OPTIONS_LEN) {
    throw new WireError('TCP_ERR_OPTIONS_TOO_LONG', `TCP options take ${optLen} bytes; at most ${MAX_OPTIONS_LEN} fit`)
  }
  return TCP_MIN_HEADER_LEN + ((optLen + 3) & ~3)
}

/** Whole segment length: header plus payload. */
export function tcpLen(repr: TcpRepr): number {
  return tcpHeaderLen(repr) + repr.payload.length
}

/** How emitTcp fills the checksum: computed, left zero (for offload), or deliberately wrong. */
export type ChecksumMode = 'compute' | 'zero' | 'bad'

/**
 * Writes `repr` at `into[offset]`: header, options, zero padding, payload. Returns the bytes written.
 * The checksum is computed when `pseudo` is given (unless opts.checksum says otherwise) and 0 without it;
 * 'bad' writes a value guaranteed not to verify. Fields are validated before anything is written
 * (TCP_ERR_BAD_FIELD, TCP_ERR_OPTIONS_TOO_LONG; ERR_BAD_ARGUMENT if the buffer is too small).
 */
export function emitTcp(
  repr: TcpRepr,
  into: Uint8Array,
  offset: number,
  pseudo?: PseudoHeader,
  opts?: { checksum?: ChecksumMode },
): number {
  const mode: ChecksumMode = opts?.checksum ?? (pseudo === undefined ? 'zero' : 'compute')
  if (pseudo === undefined) {
    if (mode !== 'zero') throw new WireError('ERR_BAD_ARGUMENT', `checksum '${mode}' needs a pseudo-header`)
  } else checkPseudo(pseudo)
  if (!isU16(repr.srcPort)) throw badField(`source port ${repr.srcPort} is not in 0..65535`)
  if (!isU16(repr.dstPort)) throw badField(`destination port ${repr.dstPort} is not in 0..65535`)
  if (!isU32(repr.seq)) throw badField(`sequence number ${repr.seq} is not a 32-bit value`)
  if (!isU32(repr.ack)) throw badField(`acknowledgment number ${repr.ack} is not a 32-bit value`)
  if ((repr.flags & 0xfff) !== repr.flags) throw badField(`flags ${repr.flags} do not fit 12 bits`)
  if (!isU16(repr.window)) throw badField(`window ${repr.window} is not in 0..65535`)
  if (!isU16(repr.urgent)) throw badField(`urgent pointer ${repr.urgent} is not in 0..65535`)
  const options = repr.options
  const optLen = checkedOptionsLen(options)
  const hlen = headerLenFor(optLen)
  const payload = repr.payload
  const total = hlen + payload.length
  if (!Number.isInteger(offset) || offset < 0 || offset + total > into.length) {
    throw new WireError('ERR_BAD_ARGUMENT', `emitTcp: ${total} bytes do not fit at offset ${offset} of ${into.length}`)
  }
  const o = offset
  wr16(into, o + SRC_PORT, repr.srcPort)
  wr16(into, o + DST_PORT, repr.dstPort)
  wr32(into, o + SEQ, repr.seq)
  wr32(into, o + ACK, repr.ack)
  into[o + DATA_OFFSET] = ((hlen >>> 2) << 4) | (repr.flags >>> 8)
  into[o + FLAGS] = repr.flags
  wr16(into, o + WINDOW, repr.window)
  into[o + CHECKSUM] = 0
  into[o + CHECKSUM + 1] = 0
  wr16(into, o + URGENT, repr.urgent)
  let i = o + TCP_MIN_HEADER_LEN
  if (optLen > 0) i += writeOptions(options, into, i)
  // RFC 9293 §3.1: "The TCP header padding is used to ensure that the TCP header ends ... on a 32-bit
  // boundary. The padding is composed of zeros."
  const hend = o + hlen
  while (i < hend) into[i++] = 0
  if (payload.length > 0) into.set(payload, hend)
  if (mode !== 'zero') {
    const good = finishChecksum(segmentSum(into, o, o + total, pseudo!))
    wr16(into, o + CHECKSUM, mode === 'compute' ? good : badChecksum(good))
  }
  return total
}

/**
 * A checksum that cannot verify. Complementing the right value is enough except for 0x0000 and 0xffff,
 * which are +0 and -0 of one's-complement arithmetic and both verify (RFC 1624 §3): flip the low bit there.
 */
export function badChecksum(good: number): number {
  return good === 0 || good === 0xffff ? good ^ 0x0001 : good ^ 0xffff
}

const FLAG_LETTERS = 'FSRPAUEC'
const FLAG_LETTERS_ANY_CASE = 'FSRPAUECfsrpauec'

/** The set flags as letters in FSRPAUEC order (SYN+ACK → "SA"); the reserved bits 8..11 are not shown. */
export function formatFlags(flags: number): string {
  let s = ''
  for (let i = 0; i < 8; i++) if (flags & (1 << i)) s += FLAG_LETTERS[i]
  return s
}

/** Flag bits from letters of FSRPAUEC in any order and case; anything else throws ERR_BAD_ARGUMENT. */
export function parseFlags(letters: string): number {
  let flags = 0
  for (const ch of letters) {
    const i = FLAG_LETTERS_ANY_CASE.indexOf(ch)
    if (i < 0) {
      throw new WireError('ERR_BAD_ARGUMENT', `unknown TCP flag letter ${JSON.stringify(ch)} (expected some of ${FLAG_LETTERS})`)
    }
    flags |= 1 << (i & 7)
  }
  return flags
}
