/**
 * Generic segmentation offload on transmit, the part that lives in userland: consecutive MSS-sized TCP
 * segments of one flow, as Ethernet frames, are joined into one super-frame that the kernel cuts back
 * into the same segments (a packet socket with PACKET_VNET_HDR, see native/packet_tx.c). This is what
 * the kernel's own TCP hands its device layer with TSO, and what a virtio or tap guest hands its host.
 *
 * `GsoCoalescer` joins frames; `gsoSegment` is the kernel's cut (net/ipv4/tcp_offload.c tcp_gso_segment,
 * net/ipv4/af_inet.c inet_gso_segment, net/ipv6/ip6_offload.c) written out, so tests can check that a
 * round trip gives back exactly the frames that went in, and which bytes the kernel rewrites:
 * - every segment's sequence number, IP length and checksums;
 * - IPv4: the identification counts up from the first frame's (RFC 6864: meaningless in an atomic,
 *   DF datagram, which is all tcplab sends);
 * - PSH (and FIN) survive on the last segment only, CWR on the first only. The coalescer therefore
 *   joins only frames whose flags are ACK or ACK|ECE, with PSH allowed on the last.
 *
 * A frame joins the pending super-frame when its Ethernet, IP and TCP headers equal the first frame's
 * except for those fields, its sequence number follows on, every earlier frame carried exactly the first
 * frame's payload length (the GSO size) and the result stays within 65,535 bytes of IP packet.
 */
import { finishChecksum, internetChecksum, IPPROTO_TCP, onesSum, pseudoHeaderSum } from '../tcp/checksum.js'
import { ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from './ethernet.js'

/** virtio_net_hdr gso_type values (include/uapi/linux/virtio_net.h). */
export const VIRTIO_NET_HDR_GSO_NONE = 0
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4

/** Offset of the TCP checksum within the TCP header (the virtio header's csum_offset). */
export const TCP_CHECKSUM_OFFSET = 16

const FIN = 0x01
const SYN = 0x02
const RST = 0x04
const PSH = 0x08
const ACK = 0x10
const URG = 0x20
const CWR = 0x80

/** The largest IP packet (IPv4 total length, IPv6 payload length + 40 with no jumbogram). */
const MAX_IP_PACKET = 65535

/** What the kernel needs to cut a super-frame (the fields of struct virtio_net_hdr). */
export interface GsoMeta {
  /** VIRTIO_NET_HDR_GSO_TCPV4 or _TCPV6. */
  gsoType: number
  /** Payload bytes per segment (the MSS the frames were cut to). */
  gsoSize: number
  /** Ethernet + IP + TCP header bytes, copied in front of every segment. */
  hdrLen: number
  /** Where the TCP checksum's coverage starts (the TCP header). */
  csumStart: number
  /** The checksum field's offset from csumStart (16). */
  csumOffset: number
  /** How many frames were joined. */
  segments: number
}

/** Where the parts of a frame are, once it is known to be a joinable TCP segment. */
interface Layout {
  /** 4 or 6. */
  version: number
  /** Offset of the TCP header. */
  l4: number
  /** Offset of the payload. */
  payload: number
}

/** Layout of `f` when it is an Ethernet/IPv4-or-IPv6/TCP frame carrying data with joinable flags. */
function joinable(f: Uint8Array, n: number): Layout | undefined {
  if (n < ETHERNET_HEADER_LEN + 20 + 20) return undefined
  const etherType = (f[12] << 8) | f[13]
  let version: number
  let l4: number
  let ipEnd: number
  if (etherType === ETHERTYPE_IPV4) {
    // No options, no fragment: MF clear and offset zero (DF may be either).
    if (f[14] !== 0x45 || f[23] !== IPPROTO_TCP || (f[20] & 0x3f) !== 0 || f[21] !== 0) return undefined
    version = 4
    l4 = ETHERNET_HEADER_LEN + 20
    ipEnd = ETHERNET_HEADER_LEN + ((f[16] << 8) | f[17])
  } else if (etherType === ETHERTYPE_IPV6) {
    // TCP straight after the fixed header: no extension headers.
    if (f[14] >> 4 !== 6 || f[20] !== IPPROTO_TCP || n < ETHERNET_HEADER_LEN + 40 + 20) return undefined
    version = 6
    l4 = ETHERNET_HEADER_LEN + 40
    ipEnd = l4 + ((f[18] << 8) | f[19])
  } else return undefined
  if (ipEnd !== n) return undefined // padding or a truncated frame: leave it alone
  const doff = (f[l4 + 12] >> 4) * 4
  if (doff < 20 || l4 + doff >= n) return undefined // no payload: nothing to join
  const flags = f[l4 + 13]
  if ((flags & ACK) === 0 || (flags & (FIN | SYN | RST | URG | CWR)) !== 0) return undefined
  return { version, l4, payload: l4 + doff }
}

/** The sequence number at `off` (unsigned 32-bit). */
function seqAt(f: Uint8Array, off: number): number {
  return ((f[off] << 24) | (f[off + 1] << 16) | (f[off + 2] << 8) | f[off + 3]) >>> 0
}

function sameRange(a: Uint8Array, b: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * Joins consecutive segments of one flow into a super-frame. Use: `add(frame)` each frame; when it
 * returns false the frame does not continue the pending one, so `take()` the pending super-frame (if
 * any), send it, and `add` the frame again (a frame that cannot start one returns false a second time:
 * send it as it is). `take()` ends a batch. Frames are copied; the caller's buffers are free on return.
 */
export class GsoCoalescer {
  private readonly buf: Uint8Array
  private len = 0
  private count = 0
  private layout: Layout | undefined
  private gsoSize = 0
  private lastPayload = 0
  private lastPsh = false
  private nextSeq = 0

  /** `maxBytes`: largest super-frame, Ethernet header included (default 14 + 65,535). */
  constructor(readonly maxBytes = ETHERNET_HEADER_LEN + MAX_IP_PACKET) {
    this.buf = new Uint8Array(maxBytes)
  }

  /** True when a super-frame (of one frame or more) is pending. */
  get pending(): boolean {
    return this.count > 0
  }

  /** Frames in the pending super-frame. */
  get frames(): number {
    return this.count
  }

  /** Appends `frame` (its first `n` bytes) to the pending super-frame, or starts one; false when it cannot. */
  add(frame: Uint8Array, n = frame.length): boolean {
    if (this.count === 0) return this.start(frame, n)
    const lay = this.layout!
    const b = this.buf
    const pay = n - lay.payload
    if (
      this.lastPsh ||
      this.lastPayload !== this.gsoSize ||
      pay <= 0 ||
      pay > this.gsoSize ||
      this.len + pay > this.maxBytes ||
      n < lay.payload
    ) {
      return false
    }
    const l4 = lay.l4
    // Ethernet header, then the IP header but for length, identification and checksum. The IP length must
    // cover the frame exactly: Ethernet padding joined as payload would put made-up bytes in the stream.
    if (!sameRange(b, frame, 0, 16)) return false
    if (lay.version === 4) {
      if (ETHERNET_HEADER_LEN + ((frame[16] << 8) | frame[17]) !== n) return false
      if (!sameRange(b, frame, 20, 24) || !sameRange(b, frame, 26, l4)) return false
    } else {
      if (l4 + ((frame[18] << 8) | frame[19]) !== n) return false
      if (!sameRange(b, frame, 14, 18) || !sameRange(b, frame, 20, l4)) return false
    }
    // TCP: ports, then ack, data offset, window, urgent pointer and options; flags but for PSH.
    if (seqAt(frame, l4 + 4) !== this.nextSeq) return false
    if (!sameRange(b, frame, l4, l4 + 4) || !sameRange(b, frame, l4 + 8, l4 + 13)) return false
    if ((b[l4 + 13] | PSH) !== (frame[l4 + 13] | PSH)) return false
    if (!sameRange(b, frame, l4 + 14, l4 + 16) || !sameRange(b, frame, l4 + 18, lay.payload)) return false
    b.set(frame.subarray(lay.payload, n), this.len)
    this.len += pay
    this.count++
    this.lastPayload = pay
    this.lastPsh = (frame[l4 + 13] & PSH) !== 0
    this.nextSeq = (this.nextSeq + pay) >>> 0
    return true
  }

  private start(frame: Uint8Array, n: number): boolean {
    const lay = joinable(frame, n)
    if (lay === undefined || n > this.maxBytes) return false
    this.buf.set(frame.subarray(0, n), 0)
    this.len = n
    this.count = 1
    this.layout = lay
    this.gsoSize = n - lay.payload
    this.lastPayload = this.gsoSize
    this.lastPsh = (frame[lay.l4 + 13] & PSH) !== 0
    this.nextSeq = (seqAt(frame, lay.l4 + 4) + this.gsoSize) >>> 0
    return true
  }

  /**
   * Ends the pending super-frame and returns it (a view into the coalescer's buffer, valid until the next
   * `add`) with the virtio header fields; undefined when nothing is pending. A single frame comes back
   * byte for byte as it went in, with `segments` 1 and gsoType NONE; a joined one has its IP length, IPv4
   * header checksum and the PSH of its last frame set, and the pseudo-header sum in the TCP checksum field
   * (VIRTIO_NET_HDR_F_NEEDS_CSUM: the kernel completes the checksum of every segment).
   */
  take(): { frame: Uint8Array; meta: GsoMeta } | undefined {
    if (this.count === 0) return undefined
    const lay = this.layout!
    const b = this.buf
    const n = this.len
    const segments = this.count
    this.count = 0
    this.layout = undefined
    const l4 = lay.l4
    const meta: GsoMeta = {
      gsoType: VIRTIO_NET_HDR_GSO_NONE,
      gsoSize: this.gsoSize,
      hdrLen: lay.payload,
      csumStart: l4,
      csumOffset: TCP_CHECKSUM_OFFSET,
      segments,
    }
    if (segments === 1) {
      meta.csumOffset = 0
      meta.csumStart = 0
      return { frame: b.subarray(0, n), meta }
    }
    if (this.lastPsh) b[l4 + 13] |= PSH
    const v4 = lay.version === 4
    meta.gsoType = v4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6
    setIpLength(b, n, l4, v4, v4 ? (b[18] << 8) | b[19] : 0)
    const ph = tcpPseudoSum(b, n, l4, v4)
    b[l4 + 16] = ph >> 8
    b[l4 + 17] = ph & 0xff
    return { frame: b.subarray(0, n), meta }
  }
}

/**
 * The kernel's cut of a super-frame (software GSO): one frame per `gsoSize` bytes of payload, headers
 * copied, with sequence numbers, lengths, IPv4 identification and checksums rewritten and PSH/FIN kept on
 * the last segment only, CWR on the first only. A frame with gsoType NONE comes back as it is. Used by
 * tests to state exactly what the kernel puts on the wire; the device never needs it.
 */
export function gsoSegment(frame: Uint8Array, meta: GsoMeta): Uint8Array[] {
  const l4 = meta.csumStart
  const v4 = ((frame[12] << 8) | frame[13]) === ETHERTYPE_IPV4
  if (meta.gsoType === VIRTIO_NET_HDR_GSO_NONE) return [frame.slice()]
  const hdr = meta.hdrLen
  const payload = frame.length - hdr
  const seq0 = seqAt(frame, l4 + 4)
  const id0 = v4 ? (frame[18] << 8) | frame[19] : 0
  const flags = frame[l4 + 13]
  const out: Uint8Array[] = []
  for (let off = 0, k = 0; off < payload; off += meta.gsoSize, k++) {
    const len = Math.min(meta.gsoSize, payload - off)
    const last = off + len >= payload
    const s = new Uint8Array(hdr + len)
    s.set(frame.subarray(0, hdr), 0)
    s.set(frame.subarray(hdr + off, hdr + off + len), hdr)
    const seq = (seq0 + off) >>> 0
    s[l4 + 4] = seq >>> 24
    s[l4 + 5] = (seq >>> 16) & 0xff
    s[l4 + 6] = (seq >>> 8) & 0xff
    s[l4 + 7] = seq & 0xff
    let f = flags
    if (!last) f &= ~(PSH | FIN)
    if (k > 0) f &= ~CWR
    s[l4 + 13] = f
    setIpLength(s, s.length, l4, v4, (id0 + k) & 0xffff)
    s[l4 + 16] = 0
    s[l4 + 17] = 0
    const c = finishChecksum(onesSum(s, l4, s.length, tcpPseudoSum(s, s.length, l4, v4)))
    s[l4 + 16] = c >> 8
    s[l4 + 17] = c & 0xff
    out.push(s)
  }
  return out
}

/**
 * Writes the IP length of an `n`-byte frame whose TCP header is at `l4`: IPv4 total length, identification
 * `id` and header checksum; IPv6 payload length.
 */
function setIpLength(f: Uint8Array, n: number, l4: number, v4: boolean, id: number): void {
  if (!v4) {
    f[18] = (n - l4) >> 8
    f[19] = (n - l4) & 0xff
    return
  }
  const total = n - ETHERNET_HEADER_LEN
  f[16] = total >> 8
  f[17] = total & 0xff
  f[18] = id >> 8
  f[19] = id & 0xff
  f[24] = 0
  f[25] = 0
  const c = internetChecksum(f, ETHERNET_HEADER_LEN, l4)
  f[24] = c >> 8
  f[25] = c & 0xff
}

/** The TCP pseudo-header sum (folded, not complemented) of an `n`-byte frame whose TCP header is at `l4`. */
function tcpPseudoSum(f: Uint8Array, n: number, l4: number, v4: boolean): number {
  const [src, dst, end] = v4 ? [26, 30, 34] : [22, 38, 54]
  return pseudoHeaderSum(f.subarray(src, dst), f.subarray(dst, end), IPPROTO_TCP, n - l4)
}
