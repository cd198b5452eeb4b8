/**
 * One captured frame down to its TCP segment, through the codecs of src/net and src/tcp, into a reused
 * record: nothing is copied (addresses and options point into the frame, valid until the next packet).
 *
 * A frame cut short by the capture's snaplen still has whole IP and TCP headers: those are read by hand
 * here (the codecs insist on a whole packet), the payload length comes from the IP header, and the
 * checksum is reported as unchecked.
 */
import { IPPROTO_TCP, onesSum } from '../../tcp/checksum.js'
import { isWireError } from '../../tcp/errors.js'
import type { MalformedOption, TcpOption } from '../../tcp/options.js'
import { parseTcp } from '../../tcp/segment.js'
import { parseIpv4 } from '../../net/ipv4.js'
import { parseIpv6 } from '../../net/ipv6.js'
import { locateIp, type LinkView, type PacketDirection } from './link.js'

/**
 * What the TCP checksum said: verified; wrong; wrong in the way checksum offload leaves it (the field
 * holds only the pseudo-header sum, as Linux writes it for CHECKSUM_PARTIAL before the NIC finishes it);
 * or not checkable (the capture cut the packet short).
 */
export type ChecksumStatus = 'ok' | 'bad' | 'partial' | 'unchecked'

/** A TCP segment found in a frame. Byte arrays point into the frame: valid until the next packet. */
export interface SegmentInfo {
  family: 4 | 6
  src: Uint8Array
  dst: Uint8Array
  srcPort: number
  dstPort: number
  seq: number
  ack: number
  /** All 12 flag bits, as TcpRepr.flags. */
  flags: number
  window: number
  options: TcpOption[]
  /** Payload bytes on the wire (from the IP length, so right even when the capture cut the packet). */
  payloadLen: number
  checksum: ChecksumStatus
  /**
   * The TCP option the parse stopped at (issue 15: one malformed option no longer loses the segment; the
   * options before it are in `options`), or undefined.
   */
  optionError: MalformedOption | undefined
  /** IPv4 header checksum verified (always true for IPv6, which has none). */
  ipChecksumOk: boolean
  direction: PacketDirection
}

/** Why a frame yielded no segment, or 'tcp' when it did. */
export type DecodeOutcome = 'tcp' | 'not-ip' | 'not-tcp' | 'fragment' | 'malformed'

/** A fresh record for {@link decodeSegment} to fill (allocate once, reuse for every packet). */
export function newSegmentInfo(): SegmentInfo {
  const none = new Uint8Array(0)
  return {
    family: 4, src: none, dst: none, srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0,
    options: [], payloadLen: 0, checksum: 'unchecked', optionError: undefined, ipChecksumOk: true, direction: 'unknown',
  }
}

const link: LinkView = { ipStart: 0, direction: 'unknown' }

// IPv4 (RFC 791 §3.1) and IPv6 (RFC 8200 §3) fixed-header offsets, for frames cut by the snaplen.
const V4_TOTAL_LENGTH = 2
const V4_FLAGS_FRAGMENT = 6
const V4_PROTOCOL = 9
const V4_SRC = 12
const V4_DST = 16
const V4_MIN_HEADER = 20
/** MF flag and fragment offset bits. */
const V4_FRAGMENT_BITS = 0x3fff
const V6_PAYLOAD_LENGTH = 4
const V6_NEXT_HEADER = 6
const V6_SRC = 8
const V6_DST = 24
const V6_HEADER = 40

const u16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1]

/**
 * Finds the TCP segment in a frame of `linkType` and fills `out`. `cut` says the capture kept fewer bytes
 * than were on the wire. Never throws on malformed input: it returns 'malformed'.
 */
export function decodeSegment(linkType: number, frame: Uint8Array, cut: boolean, out: SegmentInfo): DecodeOutcome {
  if (!locateIp(linkType, frame, link)) return 'not-ip'
  out.direction = link.direction
  const ip = frame.subarray(link.ipStart)
  try {
    const version = ip[0] >> 4
    if (version === 4) return cut ? cutIpv4(ip, out) : wholeIpv4(ip, out)
    if (version === 6) return cut ? cutIpv6(ip, out) : wholeIpv6(ip, out)
    return 'malformed'
  } catch (e) {
    if (isWireError(e)) return 'malformed'
    throw e
  }
}

function wholeIpv4(b: Uint8Array, out: SegmentInfo): DecodeOutcome {
  const ip = parseIpv4(b)
  if (ip.protocol !== IPPROTO_TCP) return 'not-tcp'
  if (ip.isFragment) return 'fragment'
  out.family = 4
  out.ipChecksumOk = ip.checksumOk
  return fillTcp(ip.payload, ip.src, ip.dst, -1, true, out)
}

function wholeIpv6(b: Uint8Array, out: SegmentInfo): DecodeOutcome {
  const ip = parseIpv6(b)
  if (ip.protocol !== IPPROTO_TCP) return 'not-tcp'
  if (ip.fragment !== undefined) return 'fragment'
  out.family = 6
  out.ipChecksumOk = true
  return fillTcp(ip.payload, ip.src, ip.dst, -1, true, out)
}

function cutIpv4(b: Uint8Array, out: SegmentInfo): DecodeOutcome {
  if (b.length < V4_MIN_HEADER) return 'malformed'
  const hl = (b[0] & 0x0f) * 4
  if (hl < V4_MIN_HEADER || hl > b.length) return 'malformed'
  if (b[V4_PROTOCOL] !== IPPROTO_TCP) return 'not-tcp'
  if ((u16(b, V4_FLAGS_FRAGMENT) & V4_FRAGMENT_BITS) !== 0) return 'fragment'
  const total = u16(b, V4_TOTAL_LENGTH)
  if (total < hl) return 'malformed'
  out.family = 4
  out.ipChecksumOk = onesSum(b, 0, hl) === 0xffff
  return fillTcp(b.subarray(hl, Math.min(total, b.length)), b.subarray(V4_SRC, V4_SRC + 4), b.subarray(V4_DST, V4_DST + 4), total - hl, false, out)
}

function cutIpv6(b: Uint8Array, out: SegmentInfo): DecodeOutcome {
  if (b.length < V6_HEADER) return 'malformed'
  // Extension headers may themselves be cut: only a TCP header right after the fixed header is read.
  if (b[V6_NEXT_HEADER] !== IPPROTO_TCP) return 'not-tcp'
  out.family = 6
  out.ipChecksumOk = true
  const pl = u16(b, V6_PAYLOAD_LENGTH)
  return fillTcp(b.subarray(V6_HEADER), b.subarray(V6_SRC, V6_SRC + 16), b.subarray(V6_DST, V6_DST + 16), pl, false, out)
}

/** `segLen` is the segment's length on the wire when the capture cut it (-1: `seg` is all of it). */
function fillTcp(seg: Uint8Array, src: Uint8Array, dst: Uint8Array, segLen: number, whole: boolean, out: SegmentInfo): DecodeOutcome {
  const tcp = whole ? parseTcp(seg, { src, dst }, { tolerantOptions: true }) : parseTcp(seg, undefined, { tolerantOptions: true })
  const hlen = tcp.dataOffset * 4
  const payloadLen = segLen < 0 ? seg.length - hlen : segLen - hlen
  if (payloadLen < 0) return 'malformed'
  out.src = src
  out.dst = dst
  out.srcPort = tcp.srcPort
  out.dstPort = tcp.dstPort
  out.seq = tcp.seq
  out.ack = tcp.ack
  out.flags = tcp.flags
  out.window = tcp.window
  out.options = tcp.options
  out.optionError = tcp.optionError
  out.payloadLen = payloadLen
  if (tcp.checksumOk === undefined) out.checksum = 'unchecked'
  else if (tcp.checksumOk) out.checksum = 'ok'
  else out.checksum = tcp.checksumOffloaded === true ? 'partial' : 'bad'
  return 'tcp'
}
