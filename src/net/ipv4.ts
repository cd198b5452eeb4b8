/**
 * The IPv4 header (RFC 791 §3.1): a zero-copy view with named offsets and a getter and setter per field,
 * and a plain repr that `parseIpv4` fills and `emitIpv4` writes back. Options are kept as raw bytes
 * (skipped via IHL), so any header re-emits byte for byte.
 */
import { IPPROTO_TCP, internetChecksum, onesSum } from '../tcp/checksum.js'
import { WireError } from '../tcp/errors.js'

export { IPPROTO_TCP }
/** IANA protocol number of ICMP (RFC 792). */
export const IPPROTO_ICMP = 1
/** IANA protocol number of UDP (RFC 768). */
export const IPPROTO_UDP = 17

/** Length of the fixed header (IHL 5). */
export const IPV4_HEADER_LEN = 20
/** The longest header: IHL 15. */
export const IPV4_MAX_HEADER_LEN = 60
/** The largest total length the 16-bit field can state. */
export const IPV4_MAX_PACKET_LEN = 0xffff

/** Byte offsets of the header fields (RFC 791 §3.1 figure 4). */
export const Ipv4Offset = {
  VERSION_IHL: 0,
  DSCP_ECN: 1,
  TOTAL_LENGTH: 2,
  IDENT: 4,
  FLAGS_FRAGMENT: 6,
  TTL: 8,
  PROTOCOL: 9,
  CHECKSUM: 10,
  SRC: 12,
  DST: 16,
  OPTIONS: 20,
} as const

const O = Ipv4Offset

/** Bits of the 16-bit flags + fragment offset word: reserved (must be zero), DF, MF (RFC 791 §3.1). */
export const Ipv4Flag = { RESERVED: 0x8000, DF: 0x4000, MF: 0x2000 } as const
const FRAG_MASK = 0x1fff

/** An IPv4 packet as plain data. Addresses, options and payload are subarrays when parsed. */
export interface Ipv4Repr {
  src: Uint8Array
  dst: Uint8Array
  protocol: number
  ttl: number
  id: number
  /** Differentiated Services code point, 6 bits (RFC 2474 §3). */
  dscp: number
  /** Explicit Congestion Notification, 2 bits (RFC 3168 §5). */
  ecn: number
  dontFragment: boolean
  moreFragments: boolean
  /** In 8-byte units, 13 bits. */
  fragmentOffset: number
  /** Raw option bytes, a multiple of 4 and at most 40. */
  options: Uint8Array
  payload: Uint8Array
}

/** What parseIpv4 returns: the repr plus the fields emit derives (lengths, checksum). */
export interface Ipv4Parsed extends Ipv4Repr {
  ihl: number
  totalLength: number
  checksum: number
  checksumOk: boolean
  /** MF set or offset ≠ 0: this packet is one piece of a larger datagram (RFC 791 §2.3). */
  isFragment: boolean
  /** The reserved flag bit (RFC 791: must be zero), shown by decode; emit never writes it. */
  reservedFlag?: boolean
}

/** How emit fills the header checksum: correct (default), zero, or deliberately wrong (for tests). */
export type Ipv4ChecksumMode = 'compute' | 'zero' | 'bad'

const u16 = (b: Uint8Array, i: number): number => (b[i] << 8) | b[i + 1]
const put16 = (b: Uint8Array, i: number, v: number): void => {
  b[i] = v >>> 8
  b[i + 1] = v & 0xff
}

function fieldError(name: string, v: unknown, range: string): WireError {
  return new WireError('IP_ERR_BAD_FIELD', `IPv4 ${name} ${String(v)} out of range ${range}`)
}

function checkUint(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw fieldError(name, v, `0..${max}`)
}

function checkAddr(name: string, a: Uint8Array): void {
  if (!(a instanceof Uint8Array) || a.length !== 4) {
    throw new WireError('IP_ERR_BAD_ADDRESS', `IPv4 ${name} address needs 4 bytes, got ${a?.length}`)
  }
}

/** The checks behind Ipv4View.check and the parser, without allocating a view. */
function validate(bytes: Uint8Array): void {
  if (bytes.length < IPV4_HEADER_LEN) {
    throw new WireError('IP_ERR_TRUNCATED', `IPv4 header needs 20 bytes, got ${bytes.length}`)
  }
  const version = bytes[0] >>> 4
  if (version !== 4) throw new WireError('IP_ERR_BAD_VERSION', `IP version ${version}, expected 4`)
  const ihl = bytes[0] & 0x0f
  if (ihl < 5 || ihl * 4 > bytes.length) {
    throw new WireError('IP_ERR_BAD_IHL', `IHL ${ihl} (${ihl * 4} bytes) with ${bytes.length} bytes present`)
  }
  const total = u16(bytes, O.TOTAL_LENGTH)
  if (total < ihl * 4 || total > bytes.length) {
    throw new WireError(
      'IP_ERR_BAD_TOTAL_LENGTH',
      `total length ${total}: header is ${ihl * 4} bytes and ${bytes.length} bytes are present`,
    )
  }
}

/**
 * A view over the bytes of an IPv4 packet. The constructor trusts its input (for packets we build);
 * `Ipv4View.check` validates untrusted bytes before any field is read.
 */
export class Ipv4View {
  constructor(readonly bytes: Uint8Array) {}

  /**
   * Checks version, IHL and total length against the buffer and returns a view. The buffer may be longer
   * than the total length (Ethernet pads short frames to 60 bytes); `payload` ends at the total length.
   */
  static check(bytes: Uint8Array): Ipv4View {
    validate(bytes)
    return new Ipv4View(bytes)
  }

  /** 4 bits; 4 for IPv4. */
  get version(): number {
    return this.bytes[O.VERSION_IHL] >>> 4
  }
  set version(v: number) {
    checkUint('version', v, 15)
    this.bytes[O.VERSION_IHL] = (v << 4) | (this.bytes[O.VERSION_IHL] & 0x0f)
  }
  /** Internet header length in 32-bit words, 5..15. */
  get ihl(): number {
    return this.bytes[O.VERSION_IHL] & 0x0f
  }
  set ihl(v: number) {
    checkUint('IHL', v, 15)
    this.bytes[O.VERSION_IHL] = (this.bytes[O.VERSION_IHL] & 0xf0) | v
  }
  /** IHL in bytes. */
  get headerLen(): number {
    return (this.bytes[O.VERSION_IHL] & 0x0f) * 4
  }
  get dscp(): number {
    return this.bytes[O.DSCP_ECN] >>> 2
  }
  set dscp(v: number) {
    checkUint('DSCP', v, 63)
    this.bytes[O.DSCP_ECN] = (v << 2) | (this.bytes[O.DSCP_ECN] & 3)
  }
  get ecn(): number {
    return this.bytes[O.DSCP_ECN] & 3
  }
  set ecn(v: number) {
    checkUint('ECN', v, 3)
    this.bytes[O.DSCP_ECN] = (this.bytes[O.DSCP_ECN] & 0xfc) | v
  }
  /** Header plus data, in bytes. */
  get totalLength(): number {
    return u16(this.bytes, O.TOTAL_LENGTH)
  }
  set totalLength(v: number) {
    checkUint('total length', v, 0xffff)
    put16(this.bytes, O.TOTAL_LENGTH, v)
  }
  get id(): number {
    return u16(this.bytes, O.IDENT)
  }
  set id(v: number) {
    checkUint('identification', v, 0xffff)
    put16(this.bytes, O.IDENT, v)
  }
  /** The reserved flag bit (RFC 791: must be zero). Readable so a lab can show it; not in the repr. */
  get reservedFlag(): boolean {
    return (this.bytes[O.FLAGS_FRAGMENT] & 0x80) !== 0
  }
  set reservedFlag(v: boolean) {
    this.setFlag(Ipv4Flag.RESERVED, v)
  }
  get dontFragment(): boolean {
    return (u16(this.bytes, O.FLAGS_FRAGMENT) & Ipv4Flag.DF) !== 0
  }
  set dontFragment(v: boolean) {
    this.setFlag(Ipv4Flag.DF, v)
  }
  get moreFragments(): boolean {
    return (u16(this.bytes, O.FLAGS_FRAGMENT) & Ipv4Flag.MF) !== 0
  }
  set moreFragments(v: boolean) {
    this.setFlag(Ipv4Flag.MF, v)
  }
  /** In 8-byte units. */
  get fragmentOffset(): number {
    return u16(this.bytes, O.FLAGS_FRAGMENT) & FRAG_MASK
  }
  set fragmentOffset(v: number) {
    checkUint('fragment offset', v, FRAG_MASK)
    put16(this.bytes, O.FLAGS_FRAGMENT, (u16(this.bytes, O.FLAGS_FRAGMENT) & ~FRAG_MASK) | v)
  }
  get ttl(): number {
    return this.bytes[O.TTL]
  }
  set ttl(v: number) {
    checkUint('TTL', v, 0xff)
    this.bytes[O.TTL] = v
  }
  get protocol(): number {
    return this.bytes[O.PROTOCOL]
  }
  set protocol(v: number) {
    checkUint('protocol', v, 0xff)
    this.bytes[O.PROTOCOL] = v
  }
  get checksum(): number {
    return u16(this.bytes, O.CHECKSUM)
  }
  set checksum(v: number) {
    checkUint('checksum', v, 0xffff)
    put16(this.bytes, O.CHECKSUM, v)
  }
  /** A subarray: writes through it change the packet. */
  get src(): Uint8Array {
    return this.bytes.subarray(O.SRC, O.SRC + 4)
  }
  set src(a: Uint8Array) {
    checkAddr('source', a)
    this.bytes.set(a, O.SRC)
  }
  get dst(): Uint8Array {
    return this.bytes.subarray(O.DST, O.DST + 4)
  }
  set dst(a: Uint8Array) {
    checkAddr('destination', a)
    this.bytes.set(a, O.DST)
  }
  /** Raw option bytes between the fixed header and IHL*4. */
  get options(): Uint8Array {
    return this.bytes.subarray(O.OPTIONS, this.headerLen)
  }
  /** The data: from IHL*4 to the total length (link-layer padding excluded). */
  get payload(): Uint8Array {
    return this.bytes.subarray(this.headerLen, this.totalLength)
  }

  /** True when the one's-complement sum over the header is all ones (RFC 791 §3.1, RFC 1071). */
  verifyChecksum(): boolean {
    return onesSum(this.bytes, 0, this.headerLen) === 0xffff
  }
  /** Computes and writes the header checksum. */
  fillChecksum(): void {
    put16(this.bytes, O.CHECKSUM, 0)
    put16(this.bytes, O.CHECKSUM, internetChecksum(this.bytes, 0, this.headerLen))
  }

  private setFlag(bit: number, on: boolean): void {
    const w = u16(this.bytes, O.FLAGS_FRAGMENT)
    put16(this.bytes, O.FLAGS_FRAGMENT, on ? w | bit : w & ~bit)
  }
}

/**
 * Parses an IPv4 packet. Validates as `Ipv4View.check`; with `requireChecksum` a wrong header checksum
 * throws `IP_ERR_BAD_CHECKSUM`, otherwise it is reported in `checksumOk`. Addresses, options and payload
 * are subarrays of `bytes`, never copies.
 */
export function parseIpv4(bytes: Uint8Array, opts?: { requireChecksum?: boolean }): Ipv4Parsed {
  validate(bytes)
  const b = bytes
  const ihl = b[0] & 0x0f
  const hl = ihl * 4
  const totalLength = u16(b, O.TOTAL_LENGTH)
  const checksumOk = onesSum(b, 0, hl) === 0xffff
  if (opts?.requireChecksum && !checksumOk) {
    throw new WireError('IP_ERR_BAD_CHECKSUM', `IPv4 header checksum 0x${u16(b, O.CHECKSUM).toString(16)} is wrong`)
  }
  const ff = u16(b, O.FLAGS_FRAGMENT)
  const moreFragments = (ff & Ipv4Flag.MF) !== 0
  const fragmentOffset = ff & FRAG_MASK
  return {
    src: b.subarray(O.SRC, O.SRC + 4),
    dst: b.subarray(O.DST, O.DST + 4),
    protocol: b[O.PROTOCOL],
    ttl: b[O.TTL],
    id: u16(b, O.IDENT),
    dscp: b[O.DSCP_ECN] >>> 2,
    ecn: b[O.DSCP_ECN] & 3,
    dontFragment: (ff & Ipv4Flag.DF) !== 0,
    moreFragments,
    fragmentOffset,
    options: b.subarray(O.OPTIONS, hl),
    payload: b.subarray(hl, totalLength),
    ihl,
    totalLength,
    checksum: u16(b, O.CHECKSUM),
    checksumOk,
    isFragment: moreFragments || fragmentOffset !== 0,
    reservedFlag: (ff & Ipv4Flag.RESERVED) !== 0,
  }
}

/** Header length emit writes for `repr`: 20 plus the option bytes. */
export function ipv4HeaderLen(repr: Pick<Ipv4Repr, 'options'> & Partial<Ipv4Repr>): number {
  return IPV4_HEADER_LEN + repr.options.length
}

/** Total bytes emitIpv4 writes: header plus payload. */
export function ipv4Len(repr: Pick<Ipv4Repr, 'options' | 'payload'> & Partial<Ipv4Repr>): number {
  return IPV4_HEADER_LEN + repr.options.length + repr.payload.length
}

/**
 * Writes only the header at `into[offset]`, with total length = header + `payloadLength`, and returns the
 * header length. The caller writes the payload right after it (e.g. a TCP segment emitted in place, its
 * checksum computed there), so nothing is copied. Throws `IP_ERR_BAD_FIELD` / `IP_ERR_BAD_ADDRESS` on a
 * field out of range and `ERR_BAD_ARGUMENT` when `into` is too short.
 */
export function emitIpv4Header(
  repr: Omit<Ipv4Repr, 'payload'>,
  payloadLength: number,
  into: Uint8Array,
  offset: number,
  opts?: { checksum?: Ipv4ChecksumMode },
): number {
  return writeHeader(repr, payloadLength, into, offset, opts?.checksum ?? 'compute', false)
}

/** Validates every field, then the room in `into` (for the payload too when `withPayload`), then writes. */
function writeHeader(
  repr: Omit<Ipv4Repr, 'payload'>,
  payloadLength: number,
  into: Uint8Array,
  offset: number,
  mode: Ipv4ChecksumMode,
  withPayload: boolean,
): number {
  checkAddr('source', repr.src)
  checkAddr('destination', repr.dst)
  checkUint('protocol', repr.protocol, 0xff)
  checkUint('TTL', repr.ttl, 0xff)
  checkUint('identification', repr.id, 0xffff)
  checkUint('DSCP', repr.dscp, 63)
  checkUint('ECN', repr.ecn, 3)
  checkUint('fragment offset', repr.fragmentOffset, FRAG_MASK)
  const optLen = repr.options.length
  if (optLen % 4 !== 0 || optLen > IPV4_MAX_HEADER_LEN - IPV4_HEADER_LEN) {
    throw fieldError('options length', optLen, '0..40, a multiple of 4')
  }
  const hl = IPV4_HEADER_LEN + optLen
  checkUint('payload length', payloadLength, IPV4_MAX_PACKET_LEN - hl)
  const need = withPayload ? hl + payloadLength : hl
  if (!Number.isInteger(offset) || offset < 0 || offset + need > into.length) {
    throw new WireError('ERR_BAD_ARGUMENT', `IPv4 needs ${need} bytes at offset ${offset} of ${into.length}`)
  }
  const b = into
  const o = offset
  b[o + O.VERSION_IHL] = 0x40 | (hl >>> 2)
  b[o + O.DSCP_ECN] = (repr.dscp << 2) | repr.ecn
  put16(b, o + O.TOTAL_LENGTH, hl + payloadLength)
  put16(b, o + O.IDENT, repr.id)
  put16(
    b,
    o + O.FLAGS_FRAGMENT,
    (repr.dontFragment ? Ipv4Flag.DF : 0) | (repr.moreFragments ? Ipv4Flag.MF : 0) | repr.fragmentOffset,
  )
  b[o + O.TTL] = repr.ttl
  b[o + O.PROTOCOL] = repr.protocol
  put16(b, o + O.CHECKSUM, 0)
  b.set(repr.src, o + O.SRC)
  b.set(repr.dst, o + O.DST)
  b.set(repr.options, o + O.OPTIONS)
  if (mode !== 'zero') {
    const sum = internetChecksum(b, o, o + hl)
    // Flipping the low bit moves the sum by one: never the all-ones of a valid header, nor its -0 twin.
    put16(b, o + O.CHECKSUM, mode === 'bad' ? sum ^ 1 : sum)
  }
  return hl
}

/** Writes header and payload at `into[offset]` and returns the bytes written (see emitIpv4Header). */
export function emitIpv4(
  repr: Ipv4Repr,
  into: Uint8Array,
  offset: number,
  opts?: { checksum?: Ipv4ChecksumMode },
): number {
  const hl = writeHeader(repr, repr.payload.length, into, offset, opts?.checksum ?? 'compute', true)
  into.set(repr.payload, offset + hl)
  return hl + repr.payload.length
}

// ---------------------------------------------------------------------------------------------------------
// IPv4 options (RFC 791 §3.1). The codec above keeps them as raw bytes; this layer reads them for people
// and builds them for `craft`.

/** IPv4 option type numbers (IANA "IP Option Numbers"): copy flag, class and number in one byte. */
export const Ipv4OptionType = { EOL: 0, NOP: 1, RR: 7, TS: 68, LSRR: 131, SSRR: 137, RA: 148 } as const

/** One IPv4 option. `route` is RR, LSRR or SSRR; `timestamp` keeps its entries as bytes (RFC 791 "Internet Timestamp"). */
export type Ipv4Option =
  | { kind: 'eol' }
  | { kind: 'nop' }
  | { kind: 'route'; type: number; pointer: number; data: Uint8Array }
  | { kind: 'timestamp'; pointer: number; overflow: number; flag: number; data: Uint8Array }
  | { kind: 'unknown'; type: number; data: Uint8Array }

/** Where the option reader stopped: an option whose length byte is missing, below 2 or past the header. */
export interface Ipv4OptionError {
  type: number
  offset: number
  length: number | undefined
  message: string
}

/**
 * Reads the option bytes of a header (after the fixed 20) into a list, never throwing: it stops at EOL
 * (what follows is padding) or at the first option whose length cannot be right, which it reports.
 * Offsets are from the start of the IP header.
 */
export function parseIpv4Options(bytes: Uint8Array): { options: Ipv4Option[]; error: Ipv4OptionError | undefined } {
  const options: Ipv4Option[] = []
  let i = 0
  while (i < bytes.length) {
    const type = bytes[i]
    if (type === 0) {
      options.push({ kind: 'eol' })
      break
    }
    if (type === 1) {
      options.push({ kind: 'nop' })
      i++
      continue
    }
    const at = IPV4_HEADER_LEN + i
    if (i + 1 >= bytes.length) return { options, error: { type, offset: at, length: undefined, message: `IPv4 option ${type} at offset ${at}: length byte missing` } }
    const len = bytes[i + 1]
    if (len < 2 || i + len > bytes.length) {
      return { options, error: { type, offset: at, length: len, message: `IPv4 option ${type} at offset ${at}: length ${len} ${len < 2 ? '< 2' : 'runs past the header'}` } }
    }
    const data = bytes.subarray(i + 2, i + len)
    if ((type === Ipv4OptionType.RR || type === Ipv4OptionType.LSRR || type === Ipv4OptionType.SSRR) && len >= 3) {
      options.push({ kind: 'route', type, pointer: data[0], data: data.subarray(1) })
    } else if (type === Ipv4OptionType.TS && len >= 4) {
      options.push({ kind: 'timestamp', pointer: data[0], overflow: data[1] >>> 4, flag: data[1] & 0x0f, data: data.subarray(2) })
    } else options.push({ kind: 'unknown', type, data })
    i += len
  }
  return { options, error: undefined }
}

/** Encoded size of one option. */
function ipv4OptionLen(o: Ipv4Option): number {
  switch (o.kind) {
    case 'eol':
    case 'nop':
      return 1
    case 'route':
      return 3 + o.data.length
    case 'timestamp':
      return 4 + o.data.length
    case 'unknown':
      return 2 + o.data.length
  }
}

/**
 * Encodes options and pads them with zeros (EOL, RFC 791 §3.1) to a multiple of 4, ready for
 * Ipv4Repr.options. Throws IP_ERR_BAD_FIELD when a field does not fit or the whole exceeds 40 bytes.
 */
export function emitIpv4Options(options: readonly Ipv4Option[]): Uint8Array {
  const n = options.reduce((a, o) => a + ipv4OptionLen(o), 0)
  const padded = (n + 3) & ~3
  if (padded > IPV4_MAX_HEADER_LEN - IPV4_HEADER_LEN) throw fieldError('options length', n, '0..40')
  const out = new Uint8Array(padded)
  let i = 0
  for (const o of options) {
    const len = ipv4OptionLen(o)
    switch (o.kind) {
      case 'eol':
        out[i] = 0
        break
      case 'nop':
        out[i] = 1
        break
      case 'route':
        checkUint('option type', o.type, 0xff)
        checkUint('route pointer', o.pointer, 0xff)
        out.set([o.type, len, o.pointer], i)
        out.set(o.data, i + 3)
        break
      case 'timestamp':
        checkUint('timestamp pointer', o.pointer, 0xff)
        checkUint('timestamp overflow', o.overflow, 15)
        checkUint('timestamp flag', o.flag, 15)
        out.set([Ipv4OptionType.TS, len, o.pointer, (o.overflow << 4) | o.flag], i)
        out.set(o.data, i + 4)
        break
      case 'unknown':
        checkUint('option type', o.type, 0xff)
        out.set([o.type, len], i)
        out.set(o.data, i + 2)
        break
    }
    i += len
  }
  return out
}
