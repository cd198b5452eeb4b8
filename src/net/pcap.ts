/**
 * Capture files: write classic pcap, read classic pcap and pcapng, streaming.
 *
 * Formats follow draft-ietf-opsawg-pcap (classic pcap: 24-byte file header, 16-byte record headers, either
 * byte order, micro- or nanosecond magic) and draft-ietf-opsawg-pcapng (blocks of `type, length, body,
 * length`; Section Header, Interface Description, Enhanced/Simple/obsolete Packet blocks). Link type
 * numbers are the tcpdump.org LINKTYPE_ registry.
 *
 * The reader pulls chunks from any byte source and keeps only the current chunk plus one staging buffer
 * for records that straddle chunks, so memory is bounded by the largest block, never by the file: a 1 GB
 * capture streams through in constant space. Hostile lengths are capped by `maxPacketBytes`.
 */
import * as fs from 'node:fs'
import { WireError } from '../tcp/errors.js'

/** BSD loopback: a 4-byte host-order address family, then the packet. */
export const LINKTYPE_NULL = 0
/** Ethernet II / 802.3 frames. */
export const LINKTYPE_ETHERNET = 1
/** Raw IP: the packet starts with an IPv4 or IPv6 header (version nibble tells which). */
export const LINKTYPE_RAW = 101
/** Linux cooked capture v1 (16-byte pseudo-header), what `tcpdump -i any` wrote before libpcap 1.10. */
export const LINKTYPE_LINUX_SLL = 113
/** Raw IPv4 only. */
export const LINKTYPE_IPV4 = 228
/** Raw IPv6 only. */
export const LINKTYPE_IPV6 = 229
/** Linux cooked capture v2 (20-byte pseudo-header with interface index), `tcpdump -i any -y LINUX_SLL2`. */
export const LINKTYPE_LINUX_SLL2 = 276

/** Default cap on one record's captured length (and on buffered pcapng blocks): 256 KiB, libpcap's max snaplen. */
export const PCAP_DEFAULT_MAX_PACKET_BYTES = 256 * 1024

/** One captured packet as read from a pcap or pcapng file. */
export interface CapturePacket {
  /** LINKTYPE_ of the file (pcap) or of the packet's interface (pcapng). */
  linkType: number
  /** Capture time in nanoseconds since the Unix epoch (pcapng: after if_tsresol and if_tsoffset). */
  timestampNs: bigint
  /**
   * The captured bytes. A subarray of the source chunk or of the reader's reused staging buffer: valid
   * only until the generator is resumed. Copy it (`data.slice()`) to keep it past the next iteration.
   */
  data: Uint8Array
  /** Length of the packet on the wire (≥ data.length when the capture was cut by a snaplen). */
  originalLength: number
  /** pcapng interface index within its section; always 0 for classic pcap. */
  interfaceId: number
}

/** Options for {@link readCapture}. */
export interface ReadCaptureOptions {
  /** Largest captured length accepted before PCAP_ERR_TOO_LARGE (default 256 KiB). */
  maxPacketBytes?: number
}

/** A byte source {@link readCapture} accepts: chunks (async or sync), a Node stream, one buffer, or a file path. */
export type CaptureSource =
  | AsyncIterable<Uint8Array>
  | Iterable<Uint8Array>
  | NodeJS.ReadableStream
  | Uint8Array
  | string

// ---- classic pcap (draft-ietf-opsawg-pcap §4, §5) ----

const PCAP_MAGIC_US = 0xa1b2c3d4
const PCAP_MAGIC_NS = 0xa1b23c4d
const PCAP_FILE_HEADER_LEN = 24
const PCAP_RECORD_HEADER_LEN = 16
// file header offsets
const PCAP_OFF_MAGIC = 0
const PCAP_OFF_VERSION_MAJOR = 4
const PCAP_OFF_VERSION_MINOR = 6
const PCAP_OFF_SNAPLEN = 16
const PCAP_OFF_LINKTYPE = 20
// record header offsets
const REC_OFF_TS_SEC = 0
const REC_OFF_TS_FRAC = 4
const REC_OFF_CAPLEN = 8
const REC_OFF_ORIGLEN = 12

// ---- pcapng (draft-ietf-opsawg-pcapng §4) ----

const BT_SHB = 0x0a0d0d0a
const BT_IDB = 0x00000001
const BT_PB = 0x00000002 // obsolete Packet Block (§A)
const BT_SPB = 0x00000003
const BT_EPB = 0x00000006
const BYTE_ORDER_MAGIC = 0x1a2b3c4d
/** Block type + block total length; body offsets below are relative to the end of this header. */
const BLOCK_HEADER_LEN = 8
/** Type, length and the trailing copy of the length. */
const BLOCK_MIN_LEN = 12
const SHB_MIN_LEN = 28
const IDB_MIN_LEN = 20
const EPB_MIN_LEN = 32
const SPB_MIN_LEN = 16
const PB_MIN_LEN = 32
// EPB body: interface id, timestamp high, timestamp low, captured length, original length, data (§4.3)
const EPB_OFF_IFID = 0
const EPB_OFF_TS_HIGH = 4
const EPB_OFF_TS_LOW = 8
const EPB_OFF_CAPLEN = 12
const EPB_OFF_ORIGLEN = 16
const EPB_OFF_DATA = 20
// obsolete PB body: u16 interface id, u16 drops count, then as EPB
const PB_OFF_IFID = 0
// SPB body: original length, data (§4.4)
const SPB_OFF_ORIGLEN = 0
const SPB_OFF_DATA = 4
// IDB body: link type u16, reserved u16, snaplen u32, options (§4.2)
const IDB_OFF_LINKTYPE = 0
const IDB_OFF_SNAPLEN = 4
const IDB_OFF_OPTIONS = 8
// SHB body after the byte-order magic: major u16, minor u16, section length u64, options (§4.1)
const SHB_OFF_MAJOR = 4
const OPT_ENDOFOPT = 0
const OPT_IF_TSRESOL = 9
const OPT_IF_TSOFFSET = 14
/** Room for options beyond the packet data before a buffered block counts as too large. */
const BLOCK_OPTIONS_SLACK = 64 * 1024

const NS_PER_S = 1_000_000_000n
const EMPTY = new Uint8Array(0)
/** Read size for files: large enough that few records straddle chunks. */
const FILE_CHUNK_BYTES = 256 * 1024

function u16(b: Uint8Array, o: number, le: boolean): number {
  return le ? b[o] | (b[o + 1] << 8) : (b[o] << 8) | b[o + 1]
}

function u32(b: Uint8Array, o: number, le: boolean): number {
  return le
    ? (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0
    : ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0
}

function put16(b: Uint8Array, o: number, v: number, le: boolean): void {
  if (le) {
    b[o] = v
    b[o + 1] = v >>> 8
  } else {
    b[o] = v >>> 8
    b[o + 1] = v
  }
}

function put32(b: Uint8Array, o: number, v: number, le: boolean): void {
  if (le) {
    b[o] = v
    b[o + 1] = v >>> 8
    b[o + 2] = v >>> 16
    b[o + 3] = v >>> 24
  } else {
    b[o] = v >>> 24
    b[o + 1] = v >>> 16
    b[o + 2] = v >>> 8
    b[o + 3] = v
  }
}

function truncated(what: string, at: number, need: number, have: number): WireError {
  return new WireError(
    'PCAP_ERR_TRUNCATED',
    `capture ends inside ${what} at byte ${at}: needed ${need} bytes, only ${have} left`,
  )
}

/**
 * Pulls chunks from an async iterator and hands out exact byte counts: a subarray of the current chunk
 * when it holds the whole request (no copy), else a staging buffer assembled across chunks. The staging
 * buffer is reused, so a returned view is valid only until the next read.
 */
class ByteSource {
  private chunk: Uint8Array = EMPTY
  private pos = 0
  private stage: Uint8Array = EMPTY
  private ended = false
  /** Absolute offset in the input of the next unread byte (for error messages). */
  offset = 0

  constructor(private readonly it: AsyncIterator<unknown>) {}

  /** Synchronous fast path: `n` bytes if the current chunk holds them, else undefined (nothing consumed). */
  take(n: number): Uint8Array | undefined {
    const p = this.pos
    if (this.chunk.length - p < n) return undefined
    this.pos = p + n
    this.offset += n
    return this.chunk.subarray(p, p + n)
  }

  /** `n` bytes, across chunk boundaries; at end of input returns how many bytes were left (< n) instead. */
  async read(n: number): Promise<Uint8Array | number> {
    const fast = this.take(n)
    if (fast !== undefined) return fast
    if (this.stage.length < n) this.stage = new Uint8Array(Math.max(n, Math.min(2 * this.stage.length, 2 * n), 256))
    const stage = this.stage
    let have = this.chunk.length - this.pos
    stage.set(this.chunk.subarray(this.pos), 0)
    this.chunk = EMPTY
    this.pos = 0
    while (have < n) {
      const c = await this.next()
      if (c === undefined) {
        this.offset += have
        return have
      }
      const k = Math.min(n - have, c.length)
      stage.set(k === c.length ? c : c.subarray(0, k), have)
      have += k
      this.chunk = c
      this.pos = k
    }
    this.offset += n
    return stage.subarray(0, n)
  }

  /** Discards `n` bytes without buffering them; at end of input returns how many were skipped (< n). */
  async skip(n: number): Promise<number> {
    let done = 0
    for (;;) {
      const k = Math.min(n - done, this.chunk.length - this.pos)
      this.pos += k
      this.offset += k
      done += k
      if (done === n) return n
      const c = await this.next()
      if (c === undefined) return done
      this.chunk = c
      this.pos = 0
    }
  }

  private async next(): Promise<Uint8Array | undefined> {
    while (!this.ended) {
      const r = await this.it.next()
      if (r.done) {
        this.ended = true
        break
      }
      const c = r.value
      if (!(c instanceof Uint8Array)) {
        throw new WireError(
          'ERR_BAD_ARGUMENT',
          `capture source yielded ${typeof c === 'string' ? 'a string (stream has an encoding set?)' : typeof c}, expected Uint8Array chunks`,
        )
      }
      if (c.length > 0) return c
    }
    return undefined
  }
}

function toAsyncIterator(source: CaptureSource): AsyncIterator<unknown> {
  if (typeof source === 'string') return openFile(source)[Symbol.asyncIterator]()
  if (source instanceof Uint8Array) return fromSync([source][Symbol.iterator]())
  const s = source as Partial<AsyncIterable<unknown> & Iterable<unknown>>
  if (typeof s[Symbol.asyncIterator] === 'function') return s[Symbol.asyncIterator]!()
  if (typeof s[Symbol.iterator] === 'function') return fromSync(s[Symbol.iterator]!())
  throw new WireError('ERR_BAD_ARGUMENT', 'capture source must be a path, a Uint8Array, a stream or an iterable of chunks')
}

function fromSync(it: Iterator<unknown>): AsyncIterator<unknown> {
  return {
    next: async () => it.next(),
    return: async () => it.return?.() ?? { done: true, value: undefined },
  }
}

function openFile(path: string): fs.ReadStream {
  return fs.createReadStream(path, { highWaterMark: FILE_CHUNK_BYTES })
}

/** Per-interface state of a pcapng section. */
interface Iface {
  linkType: number
  snaplen: number
  /** Timestamp units → ns: units * mul / div + offsetNs (if_tsresol, if_tsoffset; §4.2). */
  mul: bigint
  div: bigint
  offsetNs: bigint
}

/**
 * Reads a classic pcap (either byte order, µs or ns magic) or pcapng capture and yields its packets in file
 * order, streaming chunk by chunk. Throws WireError: PCAP_ERR_BAD_MAGIC, PCAP_ERR_TRUNCATED (after every
 * complete packet has been yielded), PCAP_ERR_BAD_BLOCK, PCAP_ERR_TOO_LARGE. `data` of each packet is
 * valid only until the next iteration (see {@link CapturePacket.data}). Breaking out of the loop closes
 * the source.
 */
export async function* readCapture(source: CaptureSource, opts: ReadCaptureOptions = {}): AsyncGenerator<CapturePacket> {
  const max = opts.maxPacketBytes ?? PCAP_DEFAULT_MAX_PACKET_BYTES
  if (!Number.isInteger(max) || max < 0) throw new WireError('ERR_BAD_ARGUMENT', `maxPacketBytes must be a non-negative integer, got ${max}`)
  const it = toAsyncIterator(source)
  const src = new ByteSource(it)
  try {
    const m = await src.read(4)
    if (typeof m === 'number') throw truncated('the file header', 0, 4, m)
    const magicLe = u32(m, 0, true)
    const magicBe = u32(m, 0, false)
    if (magicBe === BT_SHB) {
      yield* readPcapng(src, max)
      return
    }
    let le: boolean
    let nano: boolean
    if (magicLe === PCAP_MAGIC_US || magicLe === PCAP_MAGIC_NS) {
      le = true
      nano = magicLe === PCAP_MAGIC_NS
    } else if (magicBe === PCAP_MAGIC_US || magicBe === PCAP_MAGIC_NS) {
      le = false
      nano = magicBe === PCAP_MAGIC_NS
    } else {
      throw new WireError('PCAP_ERR_BAD_MAGIC', `not a pcap or pcapng file: magic 0x${magicBe.toString(16).padStart(8, '0')}`)
    }
    const h = await src.read(PCAP_FILE_HEADER_LEN - 4)
    if (typeof h === 'number') throw truncated('the pcap file header', 0, PCAP_FILE_HEADER_LEN, 4 + h)
    // The link-type field carries FCS information in its upper bits (draft-ietf-opsawg-pcap §4): keep the type.
    const linkType = u32(h, PCAP_OFF_LINKTYPE - 4, le) & 0xffff
    const fracToNs = nano ? 1n : 1000n
    for (;;) {
      const start = src.offset
      const r = src.take(PCAP_RECORD_HEADER_LEN) ?? (await src.read(PCAP_RECORD_HEADER_LEN))
      if (typeof r === 'number') {
        if (r === 0) return
        throw truncated('a packet record header', start, PCAP_RECORD_HEADER_LEN, r)
      }
      const sec = u32(r, REC_OFF_TS_SEC, le)
      const frac = u32(r, REC_OFF_TS_FRAC, le)
      const caplen = u32(r, REC_OFF_CAPLEN, le)
      const origlen = u32(r, REC_OFF_ORIGLEN, le)
      if (caplen > max) {
        throw new WireError('PCAP_ERR_TOO_LARGE', `packet record at byte ${start} claims ${caplen} captured bytes, above the ${max}-byte limit`)
      }
      const data = src.take(caplen) ?? (await src.read(caplen))
      if (typeof data === 'number') throw truncated('a packet record', start, PCAP_RECORD_HEADER_LEN + caplen, PCAP_RECORD_HEADER_LEN + data)
      yield {
        linkType,
        timestampNs: BigInt(sec) * NS_PER_S + BigInt(frac) * fracToNs,
        data,
        originalLength: origlen,
        interfaceId: 0,
      }
    }
  } finally {
    // Closes a file or stream the caller stopped early; a close error must not mask the real one.
    await Promise.resolve(it.return?.()).catch(() => undefined)
  }
}

/** The pcapng block loop; the 4-byte SHB type has already been consumed. */
async function* readPcapng(src: ByteSource, max: number): AsyncGenerator<CapturePacket> {
  const maxBlock = max + BLOCK_OPTIONS_SLACK
  let le = true
  let ifaces: Iface[] = []
  let start = 0
  let type = BT_SHB
  for (let first = true; ; first = false) {
    if (!first) {
      start = src.offset
      const t = src.take(4) ?? (await src.read(4))
      if (typeof t === 'number') {
        if (t === 0) return
        throw truncated('a pcapng block header', start, BLOCK_HEADER_LEN, t)
      }
      type = u32(t, 0, le)
    }
    if (type === BT_SHB) {
      // The SHB's length is in the section's byte order, which only the magic after it tells (§4.1).
      const h = await src.read(8)
      if (typeof h === 'number') throw truncated('a section header block', start, 12, 4 + h)
      const bom = u32(h, 4, true)
      if (bom === BYTE_ORDER_MAGIC) le = true
      else if (u32(h, 4, false) === BYTE_ORDER_MAGIC) le = false
      else throw new WireError('PCAP_ERR_BAD_MAGIC', `pcapng section at byte ${start} has byte-order magic 0x${bom.toString(16)}`)
      const total = u32(h, 0, le)
      checkBlockLength(total, SHB_MIN_LEN, 'section header', start)
      if (total > maxBlock) throw tooLargeBlock(total, maxBlock, start)
      const body = await src.read(total - 12)
      if (typeof body === 'number') throw truncated('a section header block', start, total, 12 + body)
      // body starts at the version fields; the trailing length is its last 4 bytes.
      checkTrailer(body, total, le, start)
      const major = u16(body, SHB_OFF_MAJOR - 4, le)
      if (major !== 1) throw new WireError('PCAP_ERR_BAD_BLOCK', `pcapng section at byte ${start} has unsupported version ${major}`)
      ifaces = []
      continue
    }
    const l = src.take(4) ?? (await src.read(4))
    if (typeof l === 'number') throw truncated('a pcapng block header', start, BLOCK_HEADER_LEN, 4 + l)
    const total = u32(l, 0, le)
    checkBlockLength(total, BLOCK_MIN_LEN, 'block', start)
    if (type !== BT_EPB && type !== BT_IDB && type !== BT_SPB && type !== BT_PB) {
      // Unknown or uninteresting block (NRB, ISB, DSB, custom…): stream past it, check the trailer (§3.1).
      const skipped = await src.skip(total - BLOCK_MIN_LEN)
      if (skipped < total - BLOCK_MIN_LEN) throw truncated('a pcapng block', start, total, BLOCK_HEADER_LEN + skipped)
      const tr = src.take(4) ?? (await src.read(4))
      if (typeof tr === 'number') throw truncated('a pcapng block', start, total, total - 4 + tr)
      checkTrailer(tr, total, le, start)
      continue
    }
    if (total > maxBlock) throw tooLargeBlock(total, maxBlock, start)
    const n = total - BLOCK_HEADER_LEN
    const body = src.take(n) ?? (await src.read(n))
    if (typeof body === 'number') throw truncated('a pcapng block', start, total, BLOCK_HEADER_LEN + body)
    checkTrailer(body, total, le, start)
    const room = n - 4 // body bytes before the trailing length
    if (type === BT_EPB || type === BT_PB) {
      const minLen = type === BT_EPB ? EPB_MIN_LEN : PB_MIN_LEN
      if (total < minLen) throw badBlock(`packet block at byte ${start} is ${total} bytes, below the minimum ${minLen}`)
      const ifid = type === BT_EPB ? u32(body, EPB_OFF_IFID, le) : u16(body, PB_OFF_IFID, le)
      const caplen = u32(body, EPB_OFF_CAPLEN, le)
      if (caplen > max) throw new WireError('PCAP_ERR_TOO_LARGE', `packet block at byte ${start} claims ${caplen} captured bytes, above the ${max}-byte limit`)
      if (EPB_OFF_DATA + caplen > room) throw badBlock(`packet block at byte ${start}: captured length ${caplen} exceeds the block`)
      const iface = ifaces[ifid]
      if (iface === undefined) throw badBlock(`packet block at byte ${start} names interface ${ifid}, but the section has ${ifaces.length}`)
      const units = (BigInt(u32(body, EPB_OFF_TS_HIGH, le)) << 32n) | BigInt(u32(body, EPB_OFF_TS_LOW, le))
      yield {
        linkType: iface.linkType,
        timestampNs: (iface.div === 1n ? units * iface.mul : (units * iface.mul) / iface.div) + iface.offsetNs,
        data: body.subarray(EPB_OFF_DATA, EPB_OFF_DATA + caplen),
        originalLength: u32(body, EPB_OFF_ORIGLEN, le),
        interfaceId: ifid,
      }
    } else if (type === BT_SPB) {
      if (total < SPB_MIN_LEN) throw badBlock(`simple packet block at byte ${start} is ${total} bytes, below the minimum ${SPB_MIN_LEN}`)
      const iface = ifaces[0]
      if (iface === undefined) throw badBlock(`simple packet block at byte ${start} but the section has no interface`)
      // §4.4: the captured length is the original length cut at the interface's snaplen (0 = no limit).
      const origlen = u32(body, SPB_OFF_ORIGLEN, le)
      const caplen = iface.snaplen !== 0 && origlen > iface.snaplen ? iface.snaplen : origlen
      if (caplen > max) throw new WireError('PCAP_ERR_TOO_LARGE', `simple packet block at byte ${start} holds ${caplen} bytes, above the ${max}-byte limit`)
      if (SPB_OFF_DATA + caplen > room) throw badBlock(`simple packet block at byte ${start}: packet length ${caplen} exceeds the block`)
      yield {
        linkType: iface.linkType,
        // SPBs carry no timestamp.
        timestampNs: 0n,
        data: body.subarray(SPB_OFF_DATA, SPB_OFF_DATA + caplen),
        originalLength: origlen,
        interfaceId: 0,
      }
    } else {
      if (total < IDB_MIN_LEN) throw badBlock(`interface description block at byte ${start} is ${total} bytes, below the minimum ${IDB_MIN_LEN}`)
      ifaces.push(parseIdb(body, room, le, start))
    }
  }
}

function parseIdb(body: Uint8Array, room: number, le: boolean, start: number): Iface {
  const iface: Iface = {
    linkType: u16(body, IDB_OFF_LINKTYPE, le),
    snaplen: u32(body, IDB_OFF_SNAPLEN, le),
    mul: 1000n, // default resolution 10^-6 s (§4.2, if_tsresol)
    div: 1n,
    offsetNs: 0n,
  }
  let o = IDB_OFF_OPTIONS
  while (o + 4 <= room) {
    const code = u16(body, o, le)
    const len = u16(body, o + 2, le)
    if (code === OPT_ENDOFOPT) break
    if (o + 4 + len > room) throw badBlock(`interface description block at byte ${start}: option ${code} overruns the block`)
    const v = o + 4
    if (code === OPT_IF_TSRESOL && len >= 1) {
      const r = body[v]
      const exp = BigInt(r & 0x7f)
      if (r & 0x80) {
        // 2^-exp seconds per unit
        iface.mul = NS_PER_S
        iface.div = 1n << exp
      } else if (exp <= 9n) {
        iface.mul = 10n ** (9n - exp)
        iface.div = 1n
      } else {
        iface.mul = 1n
        iface.div = 10n ** (exp - 9n)
      }
    } else if (code === OPT_IF_TSOFFSET && len >= 8) {
      const hi = BigInt(u32(body, le ? v + 4 : v, le))
      const lo = BigInt(u32(body, le ? v : v + 4, le))
      iface.offsetNs = BigInt.asIntN(64, (hi << 32n) | lo) * NS_PER_S
    }
    o = v + ((len + 3) & ~3)
  }
  return iface
}

function checkBlockLength(total: number, min: number, what: string, start: number): void {
  if (total < min || total % 4 !== 0) {
    throw badBlock(`pcapng ${what} at byte ${start} has length ${total} (must be a multiple of 4, at least ${min})`)
  }
}

function checkTrailer(body: Uint8Array, total: number, le: boolean, start: number): void {
  const trailer = u32(body, body.length - 4, le)
  if (trailer !== total) throw badBlock(`pcapng block at byte ${start}: leading length ${total} but trailing length ${trailer}`)
}

function badBlock(message: string): WireError {
  return new WireError('PCAP_ERR_BAD_BLOCK', message)
}

function tooLargeBlock(total: number, maxBlock: number, start: number): WireError {
  return new WireError('PCAP_ERR_TOO_LARGE', `pcapng block at byte ${start} is ${total} bytes, above the ${maxBlock}-byte limit`)
}

/** {@link readCapture} over `fs.createReadStream(path)` (same as passing the path). */
export function readCaptureFile(path: string, opts?: ReadCaptureOptions): AsyncGenerator<CapturePacket> {
  return readCapture(openFile(path), opts)
}

/** Options for {@link PcapWriter}. */
export interface PcapWriterOptions {
  /** LINKTYPE_ of every packet (0..65535). */
  linkType: number
  /** Longest captured length; longer packets are cut to it, as libpcap does (default 262144). */
  snaplen?: number
  /** Nanosecond magic 0xa1b23c4d instead of microseconds (which truncates timestamps to µs). */
  nanosecond?: boolean
  /** Write big-endian headers (default little-endian); readers handle both. */
  bigEndian?: boolean
}

/**
 * Writes a classic pcap: the 24-byte file header at construction, then a 16-byte record header and the
 * captured bytes per `write`. `out` receives the reused record header and a view of the caller's data,
 * so it must consume or copy each chunk before returning (a sync write does).
 */
export class PcapWriter {
  private readonly record = new Uint8Array(PCAP_RECORD_HEADER_LEN)
  private readonly snaplen: number
  private readonly nanosecond: boolean
  private readonly le: boolean

  constructor(
    private readonly out: (chunk: Uint8Array) => void,
    opts: PcapWriterOptions,
  ) {
    const { linkType, snaplen = PCAP_DEFAULT_MAX_PACKET_BYTES, nanosecond = false, bigEndian = false } = opts
    if (!Number.isInteger(linkType) || linkType < 0 || linkType > 0xffff) {
      throw new WireError('ERR_BAD_ARGUMENT', `link type must be an integer 0..65535, got ${linkType}`)
    }
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0x7fffffff) {
      throw new WireError('ERR_BAD_ARGUMENT', `snaplen must be an integer 1..2^31-1, got ${snaplen}`)
    }
    this.snaplen = snaplen
    this.nanosecond = nanosecond
    this.le = !bigEndian
    const h = new Uint8Array(PCAP_FILE_HEADER_LEN)
    put32(h, PCAP_OFF_MAGIC, nanosecond ? PCAP_MAGIC_NS : PCAP_MAGIC_US, this.le)
    put16(h, PCAP_OFF_VERSION_MAJOR, 2, this.le)
    put16(h, PCAP_OFF_VERSION_MINOR, 4, this.le)
    // thiszone and sigfigs (offsets 8, 12) stay 0, as every modern writer leaves them.
    put32(h, PCAP_OFF_SNAPLEN, snaplen, this.le)
    put32(h, PCAP_OFF_LINKTYPE, linkType, this.le)
    out(h)
  }

  /**
   * Appends one packet captured at `timestampNs` (ns since the epoch, 0 ≤ seconds < 2^32; µs files
   * truncate). `originalLength` defaults to `data.length`; data beyond the snaplen is cut off.
   */
  write(data: Uint8Array, timestampNs: bigint, originalLength: number = data.length): void {
    if (timestampNs < 0n || timestampNs >= 0x1_0000_0000n * NS_PER_S) {
      throw new WireError('ERR_BAD_ARGUMENT', `timestamp ${timestampNs} ns does not fit a pcap record (0 ≤ seconds < 2^32)`)
    }
    if (!Number.isInteger(originalLength) || originalLength < data.length || originalLength > 0xffffffff) {
      throw new WireError('ERR_BAD_ARGUMENT', `original length ${originalLength} must be an integer ≥ the ${data.length} captured bytes and < 2^32`)
    }
    const caplen = data.length > this.snaplen ? this.snaplen : data.length
    const sec = Number(timestampNs / NS_PER_S)
    const ns = Number(timestampNs % NS_PER_S)
    const r = this.record
    put32(r, REC_OFF_TS_SEC, sec, this.le)
    put32(r, REC_OFF_TS_FRAC, this.nanosecond ? ns : Math.floor(ns / 1000), this.le)
    put32(r, REC_OFF_CAPLEN, caplen, this.le)
    put32(r, REC_OFF_ORIGLEN, originalLength, this.le)
    this.out(r)
    if (caplen > 0) this.out(caplen === data.length ? data : data.subarray(0, caplen))
  }

  /** A writer appending synchronously to a new file at `path` (truncated if it exists); call `close()`. */
  static toFile(path: string, opts: PcapWriterOptions): PcapFileWriter {
    return new PcapFileWriter(path, opts)
  }
}

/** A {@link PcapWriter} backed by a file descriptor written with `fs.writeSync`: each packet is on disk when `write` returns. */
export class PcapFileWriter extends PcapWriter {
  private readonly file: { fd: number }

  /** Creates (or truncates) `path` and writes the file header. */
  constructor(path: string, opts: PcapWriterOptions) {
    const file = { fd: fs.openSync(path, 'w') }
    try {
      super((chunk) => writeAll(file.fd, chunk), opts)
    } catch (e) {
      fs.closeSync(file.fd)
      throw e
    }
    this.file = file
  }

  /** Closes the file; later writes throw. Idempotent. */
  close(): void {
    if (this.file.fd >= 0) {
      fs.closeSync(this.file.fd)
      this.file.fd = -1
    }
  }
}

function writeAll(fd: number, chunk: Uint8Array): void {
  if (fd < 0) throw new WireError('ERR_BAD_ARGUMENT', 'pcap file writer is closed')
  for (let off = 0; off < chunk.length; ) off += fs.writeSync(fd, chunk, off, chunk.length - off)
}
