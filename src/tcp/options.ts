/**
 * TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018). Parsed into a list that keeps order and unknown
 * kinds, so a segment re-emits byte for byte.
 */
import { WireError, type WireErrorCode } from './errors.js'
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

/** Option kind numbers (IANA "TCP Option Kind Numbers"). */
export const OptionKind = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WSCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMP: 8,
} as const

/** The most option bytes a TCP header can carry: data offset 15 words minus the 5-word fixed header. */
export const MAX_OPTIONS_LEN = 40

/** At most four SACK blocks fit in 40 option bytes (RFC 2018 §3: 2 + 8n ≤ 40). */
export const MAX_SACK_BLOCKS = 4

/** Parses a whole option space (the bytes between the fixed header and the data). Throws WireError. */
export function parseOptions(bytes: Uint8Array): TcpOption[] {
  return parseOptionRange(bytes, 0, bytes.length, 0, 'option')
}

/**
 * Parses options from `buf[start, end)`. Offsets in messages are `base + (i - start)`, labelled by `where`
 * ("option" offsets for a bare option space, "segment" offsets when called by parseTcp), so the error
 * points at the byte a person sees in a hex dump. Unknown-kind data is a subarray of `buf`.
 */
export function parseOptionRange(
  buf: Uint8Array,
  start: number,
  end: number,
  base: number,
  where: string,
): TcpOption[] {
  const out: TcpOption[] = []
  const bad = scanOptions(buf, start, end, base, where, out)
  if (bad !== undefined) throw new WireError(bad.code, bad.message)
  return out
}

/**
 * The first option the tolerant parser could not read. Everything before it was read; nothing after it
 * is (its length cannot be trusted, so neither can where the next option starts).
 */
export interface MalformedOption {
  kind: 'malformed'
  /** The code the strict parser throws for it: TCP_ERR_BAD_OPTION_LENGTH or TCP_ERR_OPTION_OVERRUN. */
  code: WireErrorCode
  /** The option's kind byte. */
  type: number
  /** Where it starts, in the same offsets as the message (`base + i - start`). */
  offset: number
  /** Its length byte, or undefined when the option space ended before it. */
  length: number | undefined
  message: string
}

/** What the tolerant parser returns: the options it read and, when it stopped early, why. */
export interface TolerantOptions {
  options: TcpOption[]
  malformed: MalformedOption | undefined
}

/**
 * Parses options like {@link parseOptionRange} but never throws on malformed input: it stops at the first
 * option it cannot read and reports it, the way tcpdump prints what it could and then `[bad opt]`. For
 * people (decode, inspect, the live printers); the TCB keeps the strict parser and drops such segments.
 */
export function parseOptionRangeTolerant(
  buf: Uint8Array,
  start: number,
  end: number,
  base: number,
  where: string,
): TolerantOptions {
  const options: TcpOption[] = []
  const malformed = scanOptions(buf, start, end, base, where, options)
  return { options, malformed }
}

/** Reads options into `out`; returns the first malformed one (and stops there), or undefined. */
function scanOptions(
  buf: Uint8Array,
  start: number,
  end: number,
  base: number,
  where: string,
  out: TcpOption[],
): MalformedOption | undefined {
  let i = start
  const bad = (code: WireErrorCode, type: number, length: number | undefined, what: string): MalformedOption => {
    const offset = base + i - start
    return { kind: 'malformed', code, type, offset, length, message: `${optionName(type)} option at ${where} offset ${offset}: ${what}` }
  }
  while (i < end) {
    const type = buf[i]
    // RFC 9293 §3.2: EOL ends the list; what follows is padding (zero, but we do not insist).
    if (type === 0) {
      out.push({ kind: 'eol' })
      return undefined
    }
    if (type === 1) {
      out.push({ kind: 'nop' })
      i++
      continue
    }
    // Every other kind is TLV: kind, length (counting kind and length), data.
    if (i + 1 >= end) return bad('TCP_ERR_BAD_OPTION_LENGTH', type, undefined, 'length byte missing')
    const len = buf[i + 1]
    if (len < 2) return bad('TCP_ERR_BAD_OPTION_LENGTH', type, len, `length ${len} < 2`)
    // Fixed lengths are checked before the overrun so that an impossible length (SACK 42) is reported as
    // such rather than as running off the end of a 40-byte option space.
    const want = fixedLength(type, len)
    if (want !== len) {
      return bad('TCP_ERR_BAD_OPTION_LENGTH', type, len, `length ${len}, expected ${type === 5 ? '2 + 8n with n in 1..4' : want}`)
    }
    if (i + len > end) {
      return bad('TCP_ERR_OPTION_OVERRUN', type, len, `length ${len} runs ${i + len - end} byte(s) past the end of the options`)
    }
    const d = i + 2
    switch (type) {
      case 2: // RFC 9293 §3.2: MSS, 16 bits
        out.push({ kind: 'mss', value: (buf[d] << 8) | buf[d + 1] })
        break
      case 3: // RFC 7323 §2.2: shift count (not clamped to 14 here: that is the receiver's policy)
        out.push({ kind: 'wscale', shift: buf[d] })
        break
      case 4: // RFC 2018 §2
        out.push({ kind: 'sackPermitted' })
        break
      case 5: {
        // RFC 2018 §3: left edge, right edge pairs
        const n = (len - 2) >>> 3
        const blocks: Array<[Seq, Seq]> = new Array(n)
        for (let k = 0; k < n; k++) {
          const b = d + 8 * k
          blocks[k] = [readU32(buf, b) as Seq, readU32(buf, b + 4) as Seq]
        }
        out.push({ kind: 'sack', blocks })
        break
      }
      case 8: // RFC 7323 §3.2: TSval, TSecr
        out.push({ kind: 'timestamp', value: readU32(buf, d), echo: readU32(buf, d + 4) })
        break
      default:
        out.push({ kind: 'unknown', type, data: buf.subarray(d, i + len) })
    }
    i += len
  }
  return undefined
}

/** The length a known kind must have given its length byte (returns `len` itself for unknown kinds). */
function fixedLength(type: number, len: number): number {
  switch (type) {
    case 2:
      return 4
    case 3:
      return 3
    case 4:
      return 2
    case 5:
      return len >= 10 && len <= 34 && ((len - 2) & 7) === 0 ? len : -1
    case 8:
      return 10
    default:
      return len
  }
}

/** A readable name for an option kind, for error messages. */
function optionName(type: number): string {
  switch (type) {
    case 2:
      return 'MSS'
    case 3:
      return 'window-scale'
    case 4:
      return 'SACK-permitted'
    case 5:
      return 'SACK'
    case 8:
      return 'timestamps'
    default:
      return `kind ${type}`
  }
}

const readU32 = (b: Uint8Array, i: number): number =>
  ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0

const isU8 = (v: number): boolean => (v & 0xff) === v
const isU16 = (v: number): boolean => (v & 0xffff) === v
const isU32 = (v: number): boolean => v >>> 0 === v

/** The encoded size of one option, in bytes (kind and length included). */
export function optionLen(o: TcpOption): number {
  switch (o.kind) {
    case 'eol':
    case 'nop':
      return 1
    case 'mss':
      return 4
    case 'wscale':
      return 3
    case 'sackPermitted':
      return 2
    case 'sack':
      return 2 + 8 * o.blocks.length
    case 'timestamp':
      return 10
    case 'unknown':
      return 2 + o.data.length
  }
}

/** Unpadded encoded length of an option list. Does not validate: emitOptions does. */
export function optionsLen(options: readonly TcpOption[]): number {
  let n = 0
  for (let i = 0; i < options.length; i++) n += optionLen(options[i])
  return n
}

const badField = (msg: string): WireError => new WireError('TCP_ERR_BAD_FIELD', msg)

/**
 * Validates every option's fields and returns the unpadded length, so that emitters can refuse bad input
 * before writing a single byte. Throws TCP_ERR_BAD_FIELD.
 */
export function checkedOptionsLen(options: readonly TcpOption[]): number {
  let n = 0
  for (let i = 0; i < options.length; i++) {
    const o = options[i]
    switch (o.kind) {
      case 'eol':
      case 'nop':
        n += 1
        break
      case 'mss':
        if (!isU16(o.value)) throw badField(`option ${i}: MSS ${o.value} is not in 0..65535`)
        n += 4
        break
      case 'wscale':
        if (!isU8(o.shift)) throw badField(`option ${i}: window-scale shift ${o.shift} is not in 0..255`)
        n += 3
        break
      case 'sackPermitted':
        n += 2
        break
      case 'sack': {
        const blocks = o.blocks
        if (blocks.length < 1 || blocks.length > MAX_SACK_BLOCKS) {
          throw badField(`option ${i}: SACK has ${blocks.length} blocks, expected 1..${MAX_SACK_BLOCKS}`)
        }
        for (let k = 0; k < blocks.length; k++) {
          const b = blocks[k]
          if (!isU32(b[0]) || !isU32(b[1])) throw badField(`option ${i}: SACK block ${k} is not two 32-bit values`)
        }
        n += 2 + 8 * blocks.length
        break
      }
      case 'timestamp':
        if (!isU32(o.value) || !isU32(o.echo)) throw badField(`option ${i}: timestamp values must be 32-bit`)
        n += 10
        break
      case 'unknown':
        if (!isU8(o.type)) throw badField(`option ${i}: kind ${o.type} is not in 0..255`)
        if (o.data.length > MAX_OPTIONS_LEN - 2) {
          throw badField(`option ${i}: kind ${o.type} carries ${o.data.length} data bytes, at most 38 fit`)
        }
        n += 2 + o.data.length
        break
      default:
        throw badField(`option ${i}: unknown option kind ${String((o as { kind: unknown }).kind)}`)
    }
  }
  return n
}

/**
 * Writes `options` at `into[offset]` without padding and returns the bytes written. Validates fields
 * first (TCP_ERR_BAD_FIELD) and that they fit (ERR_BAD_ARGUMENT), so nothing is written on error.
 */
export function emitOptions(options: readonly TcpOption[], into: Uint8Array, offset: number): number {
  const n = checkedOptionsLen(options)
  if (!Number.isInteger(offset) || offset < 0 || offset + n > into.length) {
    throw new WireError('ERR_BAD_ARGUMENT', `emitOptions: ${n} bytes do not fit at offset ${offset} of ${into.length}`)
  }
  return writeOptions(options, into, offset)
}

/** Writes already-validated options; returns bytes written. */
export function writeOptions(options: readonly TcpOption[], into: Uint8Array, offset: number): number {
  let i = offset
  for (let k = 0; k < options.length; k++) {
    const o = options[k]
    switch (o.kind) {
      case 'eol':
        into[i++] = 0
        break
      case 'nop':
        into[i++] = 1
        break
      case 'mss':
        into[i] = 2
        into[i + 1] = 4
        into[i + 2] = o.value >>> 8
        into[i + 3] = o.value
        i += 4
        break
      case 'wscale':
        into[i] = 3
        into[i + 1] = 3
        into[i + 2] = o.shift
        i += 3
        break
      case 'sackPermitted':
        into[i] = 4
        into[i + 1] = 2
        i += 2
        break
      case 'sack': {
        const blocks = o.blocks
        into[i] = 5
        into[i + 1] = 2 + 8 * blocks.length
        i += 2
        for (let b = 0; b < blocks.length; b++) {
          writeU32(into, i, blocks[b][0])
          writeU32(into, i + 4, blocks[b][1])
          i += 8
        }
        break
      }
      case 'timestamp':
        into[i] = 8
        into[i + 1] = 10
        writeU32(into, i + 2, o.value)
        writeU32(into, i + 6, o.echo)
        i += 10
        break
      case 'unknown':
        into[i] = o.type
        into[i + 1] = 2 + o.data.length
        into.set(o.data, i + 2)
        i += 2 + o.data.length
        break
    }
  }
  return i - offset
}

const writeU32 = (b: Uint8Array, i: number, v: number): void => {
  b[i] = v >>> 24
  b[i + 1] = v >>> 16
  b[i + 2] = v >>> 8
  b[i + 3] = v
}

/** The first option of the given kind, typed by kind, or undefined. */
export function findOption<K extends TcpOption['kind']>(
  options: readonly TcpOption[],
  kind: K,
): Extract<TcpOption, { kind: K }> | undefined {
  for (let i = 0; i < options.length; i++) {
    const o = options[i]
    if (o.kind === kind) return o as Extract<TcpOption, { kind: K }>
  }
  return undefined
}

// ---------------------------------------------------------------------------------------------------------
// Named options. The TCB acts on none of these, so the codec above keeps them as `unknown` bytes (which
// round-trip exactly); this layer gives people their fields. A kind whose data does not fit its layout
// stays unnamed (nameOption returns undefined) and is shown as raw bytes.

/** The RFC 6994 experiment ID that marks TCP Fast Open in the shared experimental kind 254 (RFC 7413 §4.1.1). */
export const TFO_EXP_MAGIC = 0xf989
/** The experiment ID of the Extended Data Offset option in kinds 253/254 (draft-ietf-tcpm-tcp-edo, which has no IANA kind). */
export const EDO_EXP_ID = 0x0ed0

/** Kind numbers of the named options (IANA "TCP Option Kind Numbers"). */
export const NamedOptionKind = {
  MD5: 19,
  UTO: 28,
  TCP_AO: 29,
  MPTCP: 30,
  TFO: 34,
  EXP1: 253,
  EXP2: 254,
} as const

/** An option that tcplab names for people; `namedToOption` turns it back into codec bytes. */
export type NamedOption =
  /** TCP Fast Open (RFC 7413 §4.1.1): kind 34, or 254 with the 0xF989 magic; an empty cookie is a request. */
  | { kind: 'tfo'; type: 34 | 254; cookie: Uint8Array }
  /** TCP MD5 signature (RFC 2385 §3.0): a 16-byte digest. */
  | { kind: 'md5'; digest: Uint8Array }
  /** Multipath TCP (RFC 8684 §3): 4-bit subtype, the 4 bits beside it, then the subtype's bytes. */
  | { kind: 'mptcp'; subtype: number; flags: number; data: Uint8Array }
  /** User Timeout (RFC 5482 §3): granularity bit (1 = minutes) and a 15-bit timeout. */
  | { kind: 'uto'; minutes: boolean; timeout: number }
  /** TCP Authentication Option (RFC 5925 §2.2): KeyID, RNextKeyID, MAC. */
  | { kind: 'tcpAo'; keyId: number; rNextKeyId: number; mac: Uint8Array }
  /**
   * Extended Data Offset (draft-ietf-tcpm-tcp-edo §4): "supported" alone (SYN), with the 16-bit header
   * length, or with header and segment length; carried in kind 253/254 with its experiment ID.
   */
  | { kind: 'edo'; type: 253 | 254; headerLength?: number; segmentLength?: number }

/** MPTCP subtype names (RFC 8684 §3, IANA "MPTCP Option Subtypes"), as tcpdump words them. */
export const MPTCP_SUBTYPES: readonly string[] = ['capable', 'join', 'dss', 'add-addr', 'remove-addr', 'prio', 'fail', 'fast-close', 'tcprst']

const rd16 = (b: Uint8Array, i: number): number => (b[i] << 8) | b[i + 1]

/** The named view of an option, or undefined when it is not one of the named kinds (or its data does not fit). */
export function nameOption(o: TcpOption): NamedOption | undefined {
  if (o.kind !== 'unknown') return undefined
  const d = o.data
  switch (o.type) {
    case 19:
      return d.length === 16 ? { kind: 'md5', digest: d } : undefined
    case 28:
      return d.length === 2 ? { kind: 'uto', minutes: (d[0] & 0x80) !== 0, timeout: rd16(d, 0) & 0x7fff } : undefined
    case 29:
      return d.length >= 2 ? { kind: 'tcpAo', keyId: d[0], rNextKeyId: d[1], mac: d.subarray(2) } : undefined
    case 30:
      return d.length >= 1 ? { kind: 'mptcp', subtype: d[0] >>> 4, flags: d[0] & 0x0f, data: d.subarray(1) } : undefined
    case 34:
      return tfoCookieOk(d.length) ? { kind: 'tfo', type: 34, cookie: d } : undefined
    case 253:
    case 254: {
      if (d.length < 2) return undefined
      const exid = rd16(d, 0)
      if (o.type === 254 && exid === TFO_EXP_MAGIC && tfoCookieOk(d.length - 2)) return { kind: 'tfo', type: 254, cookie: d.subarray(2) }
      if (exid !== EDO_EXP_ID) return undefined
      const type = o.type
      if (d.length === 2) return { kind: 'edo', type }
      if (d.length === 4) return { kind: 'edo', type, headerLength: rd16(d, 2) }
      if (d.length === 6) return { kind: 'edo', type, headerLength: rd16(d, 2), segmentLength: rd16(d, 4) }
      return undefined
    }
    default:
      return undefined
  }
}

/** RFC 7413 §4.1.1: a cookie is absent (a request) or 4 to 16 bytes. */
const tfoCookieOk = (n: number): boolean => n === 0 || (n >= 4 && n <= 16)

/** Encoded size of a named option (kind and length bytes included). Validates as namedToOption. */
export function namedOptionLen(n: NamedOption): number {
  return 2 + namedToOption(n).data.length
}

/**
 * The codec form of a named option: an `unknown` option holding its bytes, ready for emitOptions.
 * Throws TCP_ERR_BAD_FIELD when a field does not fit its layout (so nameOption could not read it back).
 */
export function namedToOption(n: NamedOption): Extract<TcpOption, { kind: 'unknown' }> {
  const bytes = (type: number, parts: Array<number[] | Uint8Array>): Extract<TcpOption, { kind: 'unknown' }> => {
    const data = new Uint8Array(parts.reduce((a, p) => a + p.length, 0))
    let at = 0
    for (const p of parts) {
      data.set(p, at)
      at += p.length
    }
    if (data.length > MAX_OPTIONS_LEN - 2) throw badField(`${n.kind} option carries ${data.length} data bytes, at most 38 fit`)
    return { kind: 'unknown', type, data }
  }
  const u16 = (v: number): number[] => [v >>> 8, v & 0xff]
  switch (n.kind) {
    case 'tfo':
      if (n.type !== 34 && n.type !== 254) throw badField(`TFO kind ${String(n.type)} is neither 34 nor 254`)
      if (!tfoCookieOk(n.cookie.length)) throw badField(`TFO cookie of ${n.cookie.length} bytes: RFC 7413 allows none (a request) or 4..16`)
      return n.type === 34 ? bytes(34, [n.cookie]) : bytes(254, [u16(TFO_EXP_MAGIC), n.cookie])
    case 'md5':
      if (n.digest.length !== 16) throw badField(`MD5 digest of ${n.digest.length} bytes, expected 16`)
      return bytes(19, [n.digest])
    case 'uto':
      if (!Number.isInteger(n.timeout) || n.timeout < 0 || n.timeout > 0x7fff) throw badField(`UTO timeout ${n.timeout} is not in 0..32767`)
      return bytes(28, [u16((n.minutes ? 0x8000 : 0) | n.timeout)])
    case 'tcpAo':
      if (!isU8(n.keyId) || !isU8(n.rNextKeyId)) throw badField('TCP-AO key IDs must be in 0..255')
      return bytes(29, [[n.keyId, n.rNextKeyId], n.mac])
    case 'mptcp':
      if ((n.subtype & 0xf) !== n.subtype || (n.flags & 0xf) !== n.flags) throw badField('MPTCP subtype and flags must be in 0..15')
      return bytes(30, [[(n.subtype << 4) | n.flags], n.data])
    case 'edo': {
      if (n.type !== 253 && n.type !== 254) throw badField(`EDO kind ${String(n.type)} is neither 253 nor 254`)
      if (n.segmentLength !== undefined && n.headerLength === undefined) throw badField('EDO segment length needs a header length')
      const parts: number[][] = [u16(EDO_EXP_ID)]
      for (const v of [n.headerLength, n.segmentLength]) {
        if (v === undefined) continue
        if (!isU16(v)) throw badField(`EDO length ${v} is not in 0..65535`)
        parts.push(u16(v))
      }
      return bytes(n.type, parts)
    }
  }
}

/** The options of one incoming segment, scanned into a reused scratch object. */
export interface SegOpts {
  mss: number
  ws: number
  sackOk: boolean
  ts: boolean
  tsVal: number
  tsEcr: number
  /** The SACK blocks of the segment (the parsed option's own array, not copied), if any. */
  sack: ReadonlyArray<readonly [Seq, Seq]> | undefined
}

/** An empty {@link SegOpts} to scan into. */
export function newSegOpts(): SegOpts {
  return { mss: 0, ws: -1, sackOk: false, ts: false, tsVal: 0, tsEcr: 0, sack: undefined }
}

/** Scans a segment's options into `o` (reused, so a segment costs no allocation). */
export function scanSegOpts(options: readonly TcpOption[], o: SegOpts): void {
  o.mss = 0
  o.ws = -1
  o.sackOk = false
  o.ts = false
  o.tsVal = 0
  o.tsEcr = 0
  o.sack = undefined
  // RFC 9293 MUST-5/MUST-6: options may appear in any segment; unknown kinds are ignored.
  for (let i = 0; i < options.length; i++) {
    const opt = options[i]
    switch (opt.kind) {
      case 'mss':
        o.mss = opt.value
        break
      case 'wscale':
        o.ws = opt.shift
        break
      case 'sackPermitted':
        o.sackOk = true
        break
      case 'timestamp':
        o.ts = true
        o.tsVal = opt.value >>> 0
        o.tsEcr = opt.echo >>> 0
        break
      case 'sack':
        o.sack = opt.blocks
        break
      default:
        break
    }
  }
}
