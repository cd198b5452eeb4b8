/**
 * TCP options (RFC 9293 §3.2, RFC 7323, RFC 2018). Parsed into a list that keeps order and unknown
 * kinds, so a segment re-emits byte for byte.
 */
import { WireError } from './errors.js'
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
  let i = start
  while (i < end) {
    const type = buf[i]
    // RFC 9293 §3.2: EOL ends the list; what follows is padding (zero, but we do not insist).
    if (type === 0) {
      out.push({ kind: 'eol' })
      return out
    }
    if (type === 1) {
      out.push({ kind: 'nop' })
      i++
      continue
    }
    // Every other kind is TLV: kind, length (counting kind and length), data.
    if (i + 1 >= end) {
      throw new WireError(
        'TCP_ERR_BAD_OPTION_LENGTH',
        `${optionName(type)} option at ${where} offset ${base + i - start}: length byte missing`,
      )
    }
    const len = buf[i + 1]
    if (len < 2) {
      throw new WireError(
        'TCP_ERR_BAD_OPTION_LENGTH',
        `${optionName(type)} option at ${where} offset ${base + i - start}: length ${len} < 2`,
      )
    }
    // Fixed lengths are checked before the overrun so that an impossible length (SACK 42) is reported as
    // such rather than as running off the end of a 40-byte option space.
    const want = fixedLength(type, len)
    if (want !== len) {
      throw new WireError(
        'TCP_ERR_BAD_OPTION_LENGTH',
        `${optionName(type)} option at ${where} offset ${base + i - start}: length ${len}, expected ${
          type === 5 ? '2 + 8n with n in 1..4' : want
        }`,
      )
    }
    if (i + len > end) {
      throw new WireError(
        'TCP_ERR_OPTION_OVERRUN',
        `${optionName(type)} option at ${where} offset ${base + i - start}: length ${len} runs ${
          i + len - end
        } byte(s) past the end of the options`,
      )
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
  return out
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

/** The encoded size of one option, in bytes. */
function oneLen(o: TcpOption): number {
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
  for (let i = 0; i < options.length; i++) n += oneLen(options[i])
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
