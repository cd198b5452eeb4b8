/**
 * The IPv6 header (RFC 8200 §3) and its extension-header chain (§4): a zero-copy view with named offsets,
 * and a plain repr that keeps the extension headers as raw bytes, so any packet re-emits byte for byte.
 */
import { WireError } from '../tcp/errors.js'

/** Hop-by-Hop Options header (RFC 8200 §4.3). */
export const IPPROTO_HOPOPTS = 0
/** Routing header (RFC 8200 §4.4). */
export const IPPROTO_ROUTING = 43
/** Fragment header (RFC 8200 §4.5). */
export const IPPROTO_FRAGMENT = 44
/** Encapsulating Security Payload (RFC 4303). */
export const IPPROTO_ESP = 50
/** Authentication Header (RFC 4302). */
export const IPPROTO_AH = 51
/** ICMPv6 (RFC 4443). */
export const IPPROTO_ICMPV6 = 58
/** No Next Header (RFC 8200 §4.7). */
export const IPPROTO_NONE = 59
/** Destination Options header (RFC 8200 §4.6). */
export const IPPROTO_DSTOPTS = 60

/** Length of the fixed header. */
export const IPV6_HEADER_LEN = 40
/** The fragment header is always 8 bytes (RFC 8200 §4.5). */
export const IPV6_FRAGMENT_HEADER_LEN = 8
/**
 * parseIpv6 gives up after this many extension headers. RFC 8200 sets no limit; each header takes at
 * least 8 bytes, so only a crafted packet comes near it, and the walk stays bounded whatever the input.
 */
export const IPV6_MAX_EXTENSION_HEADERS = 32

/** Byte offsets of the fixed header fields (RFC 8200 §3). */
export const Ipv6Offset = {
  VERSION_TC_FLOW: 0,
  PAYLOAD_LENGTH: 4,
  NEXT_HEADER: 6,
  HOP_LIMIT: 7,
  SRC: 8,
  DST: 24,
  PAYLOAD: 40,
} as const

const O = Ipv6Offset

/** An IPv6 packet as plain data. Addresses, extensions and payload are subarrays when parsed. */
export interface Ipv6Repr {
  src: Uint8Array
  dst: Uint8Array
  trafficClass: number
  /** 20 bits. */
  flowLabel: number
  hopLimit: number
  /** The Next Header field of the fixed header: the first extension header, or the upper layer. */
  nextHeader: number
  /** Raw extension header bytes between the fixed header and the upper layer, possibly empty. */
  extensions: Uint8Array
  /** The upper-layer payload after the extension headers. */
  payload: Uint8Array
}

/** The fields of the first Fragment header in the chain (RFC 8200 §4.5). */
export interface Ipv6Fragment {
  /** In 8-byte units. */
  offset: number
  moreFragments: boolean
  id: number
}

/** What parseIpv6 returns: the repr plus what the walk found. */
export interface Ipv6Parsed extends Ipv6Repr {
  payloadLength: number
  /** The upper-layer protocol after walking the extension headers (50 for ESP, 59 for none). */
  protocol: number
  fragment?: Ipv6Fragment
}

const u16 = (b: Uint8Array, i: number): number => (b[i] << 8) | b[i + 1]
const u32 = (b: Uint8Array, i: number): number => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0
const put16 = (b: Uint8Array, i: number, v: number): void => {
  b[i] = v >>> 8
  b[i + 1] = v & 0xff
}

function checkUint(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new WireError('IP_ERR_BAD_FIELD', `IPv6 ${name} ${String(v)} out of range 0..${max}`)
  }
}

function checkAddr(name: string, a: Uint8Array): void {
  if (!(a instanceof Uint8Array) || a.length !== 16) {
    throw new WireError('IP_ERR_BAD_ADDRESS', `IPv6 ${name} address needs 16 bytes, got ${a?.length}`)
  }
}

/** The checks behind Ipv6View.check and the parser, without allocating a view. */
function validate(bytes: Uint8Array): void {
  if (bytes.length < IPV6_HEADER_LEN) {
    throw new WireError('IP_ERR_TRUNCATED', `IPv6 header needs 40 bytes, got ${bytes.length}`)
  }
  const version = bytes[0] >>> 4
  if (version !== 6) throw new WireError('IP_ERR_BAD_VERSION', `IP version ${version}, expected 6`)
  const pl = u16(bytes, O.PAYLOAD_LENGTH)
  if (IPV6_HEADER_LEN + pl > bytes.length) {
    throw new WireError(
      'IP_ERR_BAD_TOTAL_LENGTH',
      `payload length ${pl} but only ${bytes.length - IPV6_HEADER_LEN} bytes follow the header`,
    )
  }
}

/**
 * A view over the bytes of an IPv6 packet. The constructor trusts its input; `Ipv6View.check` validates
 * untrusted bytes before any field is read.
 */
export class Ipv6View {
  constructor(readonly bytes: Uint8Array) {}

  /** Checks length, version and payload length; the buffer may be longer (link-layer padding). */
  static check(bytes: Uint8Array): Ipv6View {
    validate(bytes)
    return new Ipv6View(bytes)
  }

  /** 4 bits; 6 for IPv6. */
  get version(): number {
    return this.bytes[0] >>> 4
  }
  set version(v: number) {
    checkUint('version', v, 15)
    this.bytes[0] = (v << 4) | (this.bytes[0] & 0x0f)
  }
  /** 8 bits: DSCP in the top 6, ECN in the low 2 (RFC 8200 §7). */
  get trafficClass(): number {
    return ((this.bytes[0] & 0x0f) << 4) | (this.bytes[1] >>> 4)
  }
  set trafficClass(v: number) {
    checkUint('traffic class', v, 0xff)
    this.bytes[0] = (this.bytes[0] & 0xf0) | (v >>> 4)
    this.bytes[1] = ((v & 0x0f) << 4) | (this.bytes[1] & 0x0f)
  }
  /** 20 bits (RFC 6437). */
  get flowLabel(): number {
    return ((this.bytes[1] & 0x0f) << 16) | u16(this.bytes, 2)
  }
  set flowLabel(v: number) {
    checkUint('flow label', v, 0xfffff)
    this.bytes[1] = (this.bytes[1] & 0xf0) | (v >>> 16)
    put16(this.bytes, 2, v & 0xffff)
  }
  /** Bytes after the fixed header, extension headers included. */
  get payloadLength(): number {
    return u16(this.bytes, O.PAYLOAD_LENGTH)
  }
  set payloadLength(v: number) {
    checkUint('payload length', v, 0xffff)
    put16(this.bytes, O.PAYLOAD_LENGTH, v)
  }
  get nextHeader(): number {
    return this.bytes[O.NEXT_HEADER]
  }
  set nextHeader(v: number) {
    checkUint('next header', v, 0xff)
    this.bytes[O.NEXT_HEADER] = v
  }
  get hopLimit(): number {
    return this.bytes[O.HOP_LIMIT]
  }
  set hopLimit(v: number) {
    checkUint('hop limit', v, 0xff)
    this.bytes[O.HOP_LIMIT] = v
  }
  /** A subarray: writes through it change the packet. */
  get src(): Uint8Array {
    return this.bytes.subarray(O.SRC, O.SRC + 16)
  }
  set src(a: Uint8Array) {
    checkAddr('source', a)
    this.bytes.set(a, O.SRC)
  }
  get dst(): Uint8Array {
    return this.bytes.subarray(O.DST, O.DST + 16)
  }
  set dst(a: Uint8Array) {
    checkAddr('destination', a)
    this.bytes.set(a, O.DST)
  }
  /** Everything after the fixed header up to the payload length: extension headers and upper layer. */
  get payload(): Uint8Array {
    return this.bytes.subarray(O.PAYLOAD, O.PAYLOAD + this.payloadLength)
  }
}

function extError(msg: string): WireError {
  return new WireError('IP_ERR_BAD_EXTENSION', msg)
}

/**
 * Parses an IPv6 packet and walks its extension headers: Hop-by-Hop (0), Routing (43), Destination
 * Options (60), all `(len + 1) * 8` bytes (RFC 8200 §4.3–4.6), Fragment (44, 8 bytes) and AH (51,
 * `(len + 2) * 4` bytes, RFC 4302 §2.2). ESP (50) and No Next Header (59) end the walk with the rest as
 * payload; so does a non-first fragment, whose data continues a payload rather than starting a header.
 * The payload ends at 40 + payload length (a jumbogram's zero length is taken literally). Throws
 * `IP_ERR_TRUNCATED`, `IP_ERR_BAD_VERSION`, `IP_ERR_BAD_TOTAL_LENGTH` or `IP_ERR_BAD_EXTENSION`.
 */
export function parseIpv6(bytes: Uint8Array): Ipv6Parsed {
  validate(bytes)
  const b = bytes
  const payloadLength = u16(b, O.PAYLOAD_LENGTH)
  const end = IPV6_HEADER_LEN + payloadLength
  const nextHeader = b[O.NEXT_HEADER]
  let nh = nextHeader
  let at = IPV6_HEADER_LEN
  let fragment: Ipv6Fragment | undefined
  for (let count = 0; ; count++) {
    let len: number
    if (nh === IPPROTO_HOPOPTS || nh === IPPROTO_ROUTING || nh === IPPROTO_DSTOPTS) {
      if (at + 2 > end) throw extError(`extension header ${nh} at offset ${at} runs past the payload end ${end}`)
      len = (b[at + 1] + 1) * 8
    } else if (nh === IPPROTO_AH) {
      if (at + 2 > end) throw extError(`AH at offset ${at} runs past the payload end ${end}`)
      len = (b[at + 1] + 2) * 4
    } else if (nh === IPPROTO_FRAGMENT) {
      len = IPV6_FRAGMENT_HEADER_LEN
    } else {
      break // an upper-layer protocol, ESP or No Next Header
    }
    if (at + len > end) {
      throw extError(`extension header ${nh} at offset ${at} (${len} bytes) runs past the payload end ${end}`)
    }
    if (count >= IPV6_MAX_EXTENSION_HEADERS) {
      throw extError(`more than ${IPV6_MAX_EXTENSION_HEADERS} extension headers`)
    }
    const next = b[at]
    if (nh === IPPROTO_FRAGMENT) {
      const offField = u16(b, at + 2)
      const offset = offField >>> 3
      if (fragment === undefined) fragment = { offset, moreFragments: (offField & 1) !== 0, id: u32(b, at + 4) }
      if (offset !== 0) {
        // RFC 8200 §4.5: only the first fragment carries the headers that follow the Fragment header.
        at += len
        nh = next
        break
      }
    }
    at += len
    nh = next
  }
  const parsed: Ipv6Parsed = {
    src: b.subarray(O.SRC, O.SRC + 16),
    dst: b.subarray(O.DST, O.DST + 16),
    trafficClass: ((b[0] & 0x0f) << 4) | (b[1] >>> 4),
    flowLabel: ((b[1] & 0x0f) << 16) | u16(b, 2),
    hopLimit: b[O.HOP_LIMIT],
    nextHeader,
    extensions: b.subarray(IPV6_HEADER_LEN, at),
    payload: b.subarray(at, end),
    payloadLength,
    protocol: nh,
  }
  if (fragment !== undefined) parsed.fragment = fragment
  return parsed
}

/** Header length emit writes for `repr`: 40 plus the extension bytes. */
export function ipv6HeaderLen(repr: Pick<Ipv6Repr, 'extensions'> & Partial<Ipv6Repr>): number {
  return IPV6_HEADER_LEN + repr.extensions.length
}

/** Total bytes emitIpv6 writes: header, extensions and payload. */
export function ipv6Len(repr: Pick<Ipv6Repr, 'extensions' | 'payload'> & Partial<Ipv6Repr>): number {
  return IPV6_HEADER_LEN + repr.extensions.length + repr.payload.length
}

/**
 * Writes the fixed header and the raw extension bytes at `into[offset]`, with payload length =
 * extensions + `payloadLength`, and returns the bytes written. The caller puts the upper layer right
 * after. Extensions are written as given, not checked: a lab may want a malformed chain. Throws
 * `IP_ERR_BAD_FIELD` / `IP_ERR_BAD_ADDRESS` on a field out of range, `ERR_BAD_ARGUMENT` when `into` is
 * too short.
 */
export function emitIpv6Header(
  repr: Omit<Ipv6Repr, 'payload'>,
  payloadLength: number,
  into: Uint8Array,
  offset: number,
): number {
  return writeHeader(repr, payloadLength, into, offset, false)
}

function writeHeader(
  repr: Omit<Ipv6Repr, 'payload'>,
  payloadLength: number,
  into: Uint8Array,
  offset: number,
  withPayload: boolean,
): number {
  checkAddr('source', repr.src)
  checkAddr('destination', repr.dst)
  checkUint('traffic class', repr.trafficClass, 0xff)
  checkUint('flow label', repr.flowLabel, 0xfffff)
  checkUint('hop limit', repr.hopLimit, 0xff)
  checkUint('next header', repr.nextHeader, 0xff)
  const extLen = repr.extensions.length
  checkUint('payload length', extLen + payloadLength, 0xffff)
  const hl = IPV6_HEADER_LEN + extLen
  const need = withPayload ? hl + payloadLength : hl
  if (!Number.isInteger(offset) || offset < 0 || offset + need > into.length) {
    throw new WireError('ERR_BAD_ARGUMENT', `IPv6 needs ${need} bytes at offset ${offset} of ${into.length}`)
  }
  const b = into
  const o = offset
  const tc = repr.trafficClass
  const fl = repr.flowLabel
  b[o] = 0x60 | (tc >>> 4)
  b[o + 1] = ((tc & 0x0f) << 4) | (fl >>> 16)
  put16(b, o + 2, fl & 0xffff)
  put16(b, o + O.PAYLOAD_LENGTH, extLen + payloadLength)
  b[o + O.NEXT_HEADER] = repr.nextHeader
  b[o + O.HOP_LIMIT] = repr.hopLimit
  b.set(repr.src, o + O.SRC)
  b.set(repr.dst, o + O.DST)
  b.set(repr.extensions, o + IPV6_HEADER_LEN)
  return hl
}

/** Writes header, extensions and payload at `into[offset]` and returns the bytes written. */
export function emitIpv6(repr: Ipv6Repr, into: Uint8Array, offset: number): number {
  const hl = writeHeader(repr, repr.payload.length, into, offset, true)
  into.set(repr.payload, offset + hl)
  return hl + repr.payload.length
}

// ---------------------------------------------------------------------------------------------------------
// The extension headers one by one (RFC 8200 §4), for people (decode) and for `craft`.

/** One extension header. `options` of Hop-by-Hop and Destination Options stay raw TLV bytes (RFC 8200 §4.2). */
export type Ipv6Extension =
  | { kind: 'hopByHop' | 'destination'; nextHeader: number; options: Uint8Array }
  | { kind: 'routing'; nextHeader: number; routingType: number; segmentsLeft: number; data: Uint8Array }
  | { kind: 'fragment'; nextHeader: number; offset: number; moreFragments: boolean; id: number }
  | { kind: 'ah'; nextHeader: number; spi: number; sequence: number; icv: Uint8Array }

/**
 * Splits the extension bytes parseIpv6 found (`Ipv6Parsed.extensions`, starting with `firstNextHeader`)
 * into headers. parseIpv6 has already checked every length, so this only reads.
 */
export function listIpv6Extensions(firstNextHeader: number, extensions: Uint8Array): Ipv6Extension[] {
  const out: Ipv6Extension[] = []
  const b = extensions
  let nh = firstNextHeader
  let at = 0
  while (at + 2 <= b.length) {
    const next = b[at]
    let len: number
    if (nh === IPPROTO_HOPOPTS || nh === IPPROTO_DSTOPTS) {
      len = (b[at + 1] + 1) * 8
      out.push({ kind: nh === IPPROTO_HOPOPTS ? 'hopByHop' : 'destination', nextHeader: next, options: b.subarray(at + 2, at + len) })
    } else if (nh === IPPROTO_ROUTING) {
      len = (b[at + 1] + 1) * 8
      out.push({ kind: 'routing', nextHeader: next, routingType: b[at + 2], segmentsLeft: b[at + 3], data: b.subarray(at + 4, at + len) })
    } else if (nh === IPPROTO_FRAGMENT) {
      len = IPV6_FRAGMENT_HEADER_LEN
      const off = u16(b, at + 2)
      out.push({ kind: 'fragment', nextHeader: next, offset: off >>> 3, moreFragments: (off & 1) !== 0, id: u32(b, at + 4) })
    } else if (nh === IPPROTO_AH) {
      len = (b[at + 1] + 2) * 4
      out.push({ kind: 'ah', nextHeader: next, spi: u32(b, at + 4), sequence: u32(b, at + 8), icv: b.subarray(at + 12, at + len) })
    } else break
    if (at + len > b.length) break
    at += len
    nh = next
  }
  return out
}

/**
 * Encodes a chain of extension headers ending in `upper` (each header's Next Header names the one after
 * it) and returns the bytes plus the fixed header's Next Header. Hop-by-Hop/Destination options and
 * routing data are padded with PadN/zeros to the 8-byte multiple RFC 8200 §4 requires. Throws IP_ERR_BAD_FIELD.
 */
export function emitIpv6Extensions(chain: readonly Ipv6Extension[], upper: number): { nextHeader: number; bytes: Uint8Array } {
  const parts: Uint8Array[] = []
  const types = chain.map((e) =>
    e.kind === 'hopByHop' ? IPPROTO_HOPOPTS : e.kind === 'destination' ? IPPROTO_DSTOPTS : e.kind === 'routing' ? IPPROTO_ROUTING : e.kind === 'fragment' ? IPPROTO_FRAGMENT : IPPROTO_AH,
  )
  chain.forEach((e, k) => {
    const next = k + 1 < chain.length ? types[k + 1] : upper
    let h: Uint8Array
    if (e.kind === 'hopByHop' || e.kind === 'destination') {
      const len = (2 + e.options.length + 7) & ~7
      h = new Uint8Array(len)
      h.set(e.options, 2)
      const pad = len - 2 - e.options.length
      // RFC 8200 §4.2: Pad1 for one byte, PadN (type 1, length n - 2) for more.
      if (pad === 1) h[2 + e.options.length] = 0
      else if (pad >= 2) h.set([1, pad - 2], 2 + e.options.length)
    } else if (e.kind === 'routing') {
      checkUint('routing type', e.routingType, 0xff)
      checkUint('segments left', e.segmentsLeft, 0xff)
      h = new Uint8Array((4 + e.data.length + 7) & ~7)
      h.set([0, 0, e.routingType, e.segmentsLeft], 0)
      h.set(e.data, 4)
    } else if (e.kind === 'fragment') {
      checkUint('fragment offset', e.offset, 0x1fff)
      checkUint('fragment id', e.id, 0xffffffff)
      h = new Uint8Array(IPV6_FRAGMENT_HEADER_LEN)
      put16(h, 2, (e.offset << 3) | (e.moreFragments ? 1 : 0))
      h.set([e.id >>> 24, (e.id >>> 16) & 0xff, (e.id >>> 8) & 0xff, e.id & 0xff], 4)
    } else if (e.kind === 'ah') {
      checkUint('AH SPI', e.spi, 0xffffffff)
      checkUint('AH sequence', e.sequence, 0xffffffff)
      if ((12 + e.icv.length) % 8 !== 0) throw new WireError('IP_ERR_BAD_FIELD', `AH ICV of ${e.icv.length} bytes: the header must be a multiple of 8 bytes`)
      h = new Uint8Array(12 + e.icv.length)
      const w = (i: number, v: number): void => h.set([v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff], i)
      w(4, e.spi)
      w(8, e.sequence)
      h.set(e.icv, 12)
    } else throw new WireError('IP_ERR_BAD_FIELD', `unknown IPv6 extension ${String((e as { kind: unknown }).kind)}`)
    h[0] = next
    if (e.kind === 'ah') h[1] = h.length / 4 - 2
    else if (e.kind !== 'fragment') {
      if (h.length / 8 - 1 > 0xff) throw new WireError('IP_ERR_BAD_FIELD', `IPv6 ${e.kind} header of ${h.length} bytes is too long`)
      h[1] = h.length / 8 - 1
    }
    parts.push(h)
  })
  const bytes = new Uint8Array(parts.reduce((a, p) => a + p.length, 0))
  let at = 0
  for (const p of parts) {
    bytes.set(p, at)
    at += p.length
  }
  return { nextHeader: chain.length > 0 ? types[0] : upper, bytes }
}
