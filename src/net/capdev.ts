/**
 * The capture device (Ethernet medium, libpcap through `cap`). ipOverEthernet, which turns it (or any
 * Ethernet device) into an IP-medium one owning an address and MAC of its own, so the same stack runs over
 * a raw socket or a capture, lives in ./link/ with what it needs — the neighbour cache, ARP (RFC 826) and
 * IPv6 neighbor discovery (RFC 4861) — and is re-exported here.
 *
 * The lab-owned address belongs to no kernel interface (in the namespace lab, 198.18.0.10 on side A's
 * veth subnet): tcplab answers ARP and neighbor solicitations for it with its own MAC, the kernel on the
 * other side reaches it through its on-link route, and the local kernel drops the frames (they are not
 * addressed to its MAC), so it never answers with RST and no guard is needed. The device receives
 * through tcplab's packet addon where it has the receive path (PACKET_AUXDATA: the kernel says, per frame,
 * whether a checksum was left to offload or verified, and that word travels up with the packet), else
 * through libpcap; either way the interface is in promiscuous mode and the default filter keeps only frames
 * for our MAC, broadcast and multicast, and leaves out our own.
 */
import { WireError } from '../tcp/errors.js'
import { formatMac, parseMac } from './addr.js'
import {
  DEFAULT_MTU,
  META_CSUM_PARTIAL,
  META_CSUM_VALID,
  type Device,
  type DeviceStats,
  type ErrorHandler,
  type ReceiveHandler,
  type ReceiveMeta,
} from './device.js'
import { ETHERNET_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from './ethernet.js'
import { IPV6_HEADER_LEN } from './ipv6.js'
import { GsoCoalescer, type GsoMeta } from './gso.js'
import {
  capPermissionError,
  hasPacketRx,
  isPermissionFailure,
  loadCap,
  loadPacketTx,
  type CapHandle,
  type CapModule,
  type PacketRxHandle,
  type PacketTxModule,
} from './native.js'
import { bytesAt } from './link/bytes.js'

// IP over Ethernet, the neighbour cache, ARP and NDP live in ./link/; re-exported so imports of capdev keep working.
export { ipOverEthernet, type IpOverEthernetDevice, type IpOverEthernetOptions, type IpOverEthernetStats } from './link/ipoverethernet.js'
export { ArpAgent, type ArpAgentOptions, type ArpStats } from './link/arp.js'
export { multicastMac, NdpAgent, solicitedNode, type NdpAgentOptions, type NdpStats } from './link/ndp.js'
export { NeighborCache, type NeighborEvidence, type NeighborOptions, type NeighborStats, type Timers } from './link/neighbor.js'
export { probeAddress, type AddressProbeOptions, type KernelAddress } from './link/dad.js'

const SLAB_SIZE = 1 << 20
/**
 * The buffer libpcap copies each frame into: room for the largest frame a packet tap can hand over — a
 * 65535-byte IPv4 or IPv6 GRO/GSO super-segment (a veth with the kernel's default offloads passes them
 * as they are) behind an Ethernet header and up to two VLAN tags — and more (tcpdump's 256 KiB), so cap
 * never cuts one short here.
 */
const CAPTURE_BUFFER = 256 << 10
/**
 * The snapshot length libpcap captures with: cap's binding sets it to 65535 (`pcap_set_snaplen(…, 65535)`
 * in cap/src/binding.cc) and offers no way to change it, and libpcap trims every frame to it. A frame
 * longer than that (a super-segment of more than 65521 IP bytes) arrives cut short with no flag: the IP
 * length tells, and {@link ipFrameTruncated} counts it as truncated.
 */
export const CAP_SNAPLEN = 65535
const ETHERTYPE_VLAN = 0x8100
const ETHERTYPE_QINQ = 0x88a8
/**
 * Closed `cap` handles, kept reachable for the life of the process. cap's close() stops its libuv poll
 * handle but never uv_close()s it, so when the garbage collector later frees a closed Cap, libuv's handle
 * list still links the freed memory and the process dies with SIGSEGV (seen when a device is opened and
 * closed repeatedly in one process). Each retired handle costs a few hundred bytes.
 */
const retiredHandles: CapHandle[] = []

/**
 * Frames waiting for a busy packet socket at most (a default txqueuelen; a super-frame counts as its
 * segments, so the copies stay under about 1.5 MB); more are dropped and counted.
 */
const MAX_QUEUED = 1000
/** pcap_sendpacket's message when the packet socket's send buffer is full (EAGAIN / ENOBUFS). */
const WOULD_BLOCK = /temporarily unavailable|No buffer space|would block/i
/** The transmit addon's "would block" answers: -EAGAIN and -ENOBUFS. */
const EAGAIN = 11
const ENOBUFS = 105
/** Send buffer asked for the addon's packet socket (as the raw device's), so bursts of super-frames fit. */
const GSO_SNDBUF = 16 << 20
/**
 * Frames the capture ring holds while the process is busy elsewhere: two windows of a connection at
 * tcplab's default 256 KiB receive buffer (181 segments each) with room to spare. libpcap (in the
 * immediate mode cap asks for, a TPACKET_V2 ring of fixed slots) sizes each slot to the MTU when the
 * interface cannot hand over bigger frames, but to its whole 65535-byte snapshot when TSO, UFO, GSO, GRO
 * or LRO is on, as on a veth or loopback at the kernel's defaults: then 4 MB hold 64 frames, and a burst
 * past that is lost before tcplab sees it (measured: 64 of 1000 frames sent while the process was busy).
 */
export const CAPTURE_RING_FRAMES = 512
/** Capture buffer where frames stay within the MTU: about 2,600 slots of a 1500-byte MTU. */
export const CAPTURE_BUFFER_SMALL_FRAMES = 4 << 20
/**
 * Capture buffer where frames may be super-segments: {@link CAPTURE_RING_FRAMES} slots of 64 KiB (libpcap
 * gives each its own 128 KiB block, so the ring takes 64 MiB of memory).
 */
export const CAPTURE_BUFFER_SUPER_FRAMES = CAPTURE_RING_FRAMES * 65536

/**
 * The capture buffer `iface` needs: {@link CAPTURE_BUFFER_SMALL_FRAMES} where none of the offloads that
 * make frames larger than the MTU is on, else (or where tcplab's addon cannot tell: it is optional)
 * {@link CAPTURE_BUFFER_SUPER_FRAMES}. `probe` is the addon's offloads() (injectable for tests).
 */
export function captureBufferSize(iface: string, probe?: (ifname: string) => number): number {
  let bits = -1
  try {
    const p = probe ?? loadPacketTx().offloads
    if (p !== undefined) bits = p(iface)
  } catch {
    // No addon: assume the interface may carry super-segments (the safe side).
  }
  return bits === 0 ? CAPTURE_BUFFER_SMALL_FRAMES : CAPTURE_BUFFER_SUPER_FRAMES
}

/**
 * The longest frame the packet receive path takes whole by default: a 65535-byte IPv4 or IPv6 super-segment
 * (IPv6's 40-byte header comes on top of its 65535 payload bytes) behind an Ethernet header and two VLAN
 * tags, rounded up. Anything longer (BIG TCP) is counted as truncated, never delivered cut short.
 */
export const PACKET_RX_MAX_FRAME = 65600
/** Frames one rxRead call takes at most, and rxRead calls per wake-up (then the event loop runs again). */
const RX_BATCH = 64
const RX_ROUNDS = 8
/** tp_status bits (linux/if_packet.h), for a stand-in addon that does not name them. */
const TP_STATUS_CSUMNOTREADY = 1 << 3
const TP_STATUS_CSUM_VALID = 1 << 7

/** How the capture device receives: tcplab's packet socket (with the kernel's checksum word) or libpcap. */
export type CapReceive = 'libpcap' | 'packet'

/**
 * The receive path {@link openCapDevice} takes for `opts` and the addon it would use: `receive` when given;
 * else 'libpcap' for a BPF `filter` (only libpcap compiles one) or a stand-in `cap` given without a
 * `packetTx`; else 'packet' where the addon has the receive path, 'libpcap' where it is missing or older.
 */
export function chooseCapReceive(opts: Pick<CapDeviceOptions, 'receive' | 'filter' | 'cap' | 'packetTx'>): CapReceive {
  if (opts.receive !== undefined) return opts.receive
  if ((opts.filter !== undefined && opts.filter !== '') || (opts.cap !== undefined && opts.packetTx === undefined)) return 'libpcap'
  let tx = opts.packetTx
  if (tx === undefined) {
    try {
      tx = loadPacketTx()
    } catch {
      return 'libpcap'
    }
  }
  return hasPacketRx(tx) ? 'packet' : 'libpcap'
}

// ---------------------------------------------------------------------------------------------------
// The capture device

/** Options of {@link openCapDevice}. */
export interface CapDeviceOptions {
  /** Interface to capture on and send through (e.g. the lab's `tl<id>a`). */
  iface: string
  /** Our MAC: the default filter keeps frames to it, broadcast and multicast, and drops our own. */
  mac?: string
  /** BPF filter (tcpdump syntax); overrides the default built from `mac`. '' captures everything. */
  filter?: string
  /** Default 1500 (frame payload). */
  mtu?: number
  /**
   * Kernel capture buffer in bytes (default {@link captureBufferSize}: 4 MB, or 32 MB where the interface's
   * offloads make libpcap reserve 64 KB per frame); with receive 'packet', the socket's SO_RCVBUF.
   */
  bufferSize?: number
  /** The `cap` module (default: loaded lazily), for tests. */
  cap?: CapModule
  /**
   * Segmentation offload on transmit (default false). Consecutive full-sized TCP segments of one flow,
   * sent within one turn of the event loop, leave as one super-frame through tcplab's packet socket addon
   * (`tcplab-packet-tx`), and the kernel cuts it back into the same segments (GSO), as it does for its own
   * TCP: one system call and one pass of the receiver's softirq for up to 44 segments. On the wire only
   * two things differ from sending the frames one by one: IPv4 identifications count up from the first
   * segment's (RFC 6864 atomic datagrams), and a segment waits until the end of the event-loop turn
   * (a frame that cannot join is never held: it first sends what is pending, so order is kept).
   * Throws DEV_ERR_NO_PACKET_TX when the addon is missing.
   */
  gso?: boolean
  /** The packet addon (default: loaded lazily when `gso` is set or frames are received through it), for tests. */
  packetTx?: PacketTxModule
  /**
   * How frames are received (default {@link chooseCapReceive}: 'packet' where the addon has the receive
   * path). 'packet': the addon's packet socket, which hands each frame over with the kernel's word on its
   * checksum (PACKET_AUXDATA's tp_status: left to offload, or verified), passed up as the receive handler's
   * meta; frames are sent through the addon too, so `cap` (libpcap) is not needed, and the MAC filter runs
   * in JS. 'libpcap': through `cap`, with a BPF filter and no checksum word. A `filter` other than '' needs
   * 'libpcap'.
   */
  receive?: CapReceive
  /** With receive 'packet': the longest frame taken whole (default {@link PACKET_RX_MAX_FRAME}); longer ones count as truncated. */
  maxFrame?: number
}

/** Counters of a capture device. */
export interface CapDeviceStats extends DeviceStats {
  /** Frames shorter than an Ethernet header. */
  malformed: number
  /**
   * Frames captured cut short — longer than the capture buffer (cap says so), or shorter than their IP
   * header says (libpcap trims to its snapshot length without saying): dropped, never delivered as data.
   */
  truncated: number
  /** Sends that found the packet socket's buffer full and waited in the queue (in segments, as `sent`). */
  queued: number
  /** With `gso`: super-frames sent (two segments or more) and the segments they carried. */
  gsoFrames: number
  gsoSegments: number
  /**
   * With receive 'packet': frames delivered with the kernel's word that their checksum was left to offload
   * (TP_STATUS_CSUMNOTREADY) or was verified (TP_STATUS_CSUM_VALID); 0 through libpcap, which cannot tell.
   */
  csumPartial: number
  csumValid: number
  /** With receive 'packet': frames the kernel dropped because the socket's receive buffer was full. */
  kernelDropped: number
}

/** A libpcap device. */
export interface CapDevice extends Device {
  readonly medium: 'ethernet'
  readonly iface: string
  /** The filter in use, in tcpdump syntax (with receive 'packet' only the default MAC filter, applied in JS). */
  readonly filter: string
  /** Whether segmentation offload is on (the `gso` option). */
  readonly gso: boolean
  /** The kernel capture buffer asked for (see {@link captureBufferSize}). */
  readonly bufferSize: number
  /** How frames are received (the `receive` option). */
  readonly receive: CapReceive
  onError(handler: ErrorHandler): void
  /** With receive 'packet': `handler` runs each time the device wakes up to read, before the frames are handed over. */
  onWake(handler: () => void): void
  stats(): CapDeviceStats
}

/** The default BPF filter for `mac`: frames to us, broadcast or multicast, not from us. */
export function defaultCapFilter(mac: string): string {
  const m = formatMac(parseMac(mac))
  return `(ether dst ${m} or ether broadcast or ether multicast) and not ether src ${m}`
}

/**
 * Opens `iface` for capture and injection. Throws DEV_ERR_NO_CAP without the addon or libpcap,
 * DEV_ERR_PERMISSION without CAP_NET_RAW, DEV_ERR_IO when the interface cannot be opened (one line each).
 */
export function openCapDevice(opts: CapDeviceOptions): CapDevice {
  return new PcapDevice(opts)
}

/**
 * Whether the frame in `frame[0, n)` was cut short by the capture: it fills the whole snapshot and its
 * IPv4 total length or IPv6 payload length (behind up to two VLAN tags) says more, or it cannot say how
 * long it was (IPv4 length 0 or an IPv6 jumbogram, as BIG TCP sends; any other EtherType). A shorter frame
 * that claims more than it holds was not cut by libpcap: it arrived that way, and the IP layer counts it
 * as malformed.
 */
export function ipFrameTruncated(frame: Uint8Array, n: number): boolean {
  if (n < CAP_SNAPLEN) return false
  let o = 12
  let type = (frame[o] << 8) | frame[o + 1]
  for (let tags = 0; tags < 2 && (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) && o + 6 <= n; tags++) {
    o += 4
    type = (frame[o] << 8) | frame[o + 1]
  }
  const ip = o + 2
  if (type === ETHERTYPE_IPV4 && n >= ip + 4) {
    const total = (frame[ip + 2] << 8) | frame[ip + 3]
    return total > n - ip || total === 0
  }
  if (type === ETHERTYPE_IPV6 && n >= ip + 6) {
    const payload = (frame[ip + 4] << 8) | frame[ip + 5]
    return IPV6_HEADER_LEN + payload > n - ip || payload === 0
  }
  return true
}

class PcapDevice implements CapDevice {
  readonly medium = 'ethernet' as const
  readonly mtu: number
  readonly bufferSize: number
  readonly iface: string
  readonly filter: string
  readonly receive: CapReceive
  /** The libpcap handle (receive 'libpcap' only). */
  private readonly handle: CapHandle | undefined
  private readonly buffer: Buffer
  /** With receive 'packet': the addon's receive socket, its frame limit, meta words, and our MAC for the filter. */
  private readonly rx: PacketRxHandle | undefined
  private readonly maxFrame: number = PACKET_RX_MAX_FRAME
  private readonly rxMeta = new Uint32Array(RX_BATCH * 4)
  private readonly ourMac: Uint8Array | undefined
  private readonly csumNotReady: number = TP_STATUS_CSUMNOTREADY
  private readonly csumValid: number = TP_STATUS_CSUM_VALID
  private wake: () => void = () => {}
  private handler: ReceiveHandler | undefined
  private errorHandler: ErrorHandler | undefined
  private closed = false
  private slab = new Uint8Array(SLAB_SIZE)
  private slabOff = 0
  private readonly counters: CapDeviceStats = {
    sent: 0, received: 0, dropped: 0, sendErrors: 0, malformed: 0, truncated: 0, queued: 0, gsoFrames: 0, gsoSegments: 0,
    csumPartial: 0, csumValid: 0, kernelDropped: 0,
  }
  /** Copies of frames the socket refused for lack of buffer, in order; while non-empty, new sends queue. */
  private backlog: Array<{ frame: Uint8Array; meta: GsoMeta | undefined }> = []
  private backlogHead = 0
  /** Segments waiting in the backlog (a super-frame counts each of its segments). */
  private backlogSegments = 0
  private retry: { immediate?: ReturnType<typeof setImmediate>; timer?: ReturnType<typeof setTimeout> } | undefined
  /** With gso: the addon, its socket, the pending super-frame and the end-of-turn flush. */
  private readonly tx: PacketTxModule | undefined
  private readonly txFd: number = -1
  private readonly coalescer: GsoCoalescer | undefined
  private gsoFlush: ReturnType<typeof setImmediate> | undefined

  constructor(opts: CapDeviceOptions) {
    const { iface, mtu = DEFAULT_MTU } = opts
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new WireError('ERR_BAD_ARGUMENT', `mtu must be 68..65535, got ${mtu}`)
    const receive = chooseCapReceive(opts)
    if (receive !== 'libpcap' && receive !== 'packet') throw new WireError('ERR_BAD_ARGUMENT', `receive must be 'libpcap' or 'packet', got '${String(receive)}'`)
    if (receive === 'packet' && opts.filter !== undefined && opts.filter !== '') {
      throw new WireError('ERR_BAD_ARGUMENT', "a BPF filter needs receive: 'libpcap' (the packet receive path filters by MAC only)")
    }
    const maxFrame = opts.maxFrame ?? PACKET_RX_MAX_FRAME
    if (!Number.isInteger(maxFrame) || maxFrame < 64 || maxFrame > 1 << 20) throw new WireError('ERR_BAD_ARGUMENT', `maxFrame must be 64..1048576, got ${maxFrame}`)
    // The addon is needed for gso and for receiving through it; loaded once, here.
    const tx = receive === 'packet' || opts.gso === true ? (opts.packetTx ?? loadPacketTx()) : opts.packetTx
    const bufferSize = opts.bufferSize ?? captureBufferSize(iface, tx?.offloads !== undefined ? (n) => tx.offloads!(n) : undefined)
    this.bufferSize = bufferSize
    this.mtu = mtu
    this.iface = iface
    this.receive = receive
    this.filter = opts.filter ?? (opts.mac !== undefined ? defaultCapFilter(opts.mac) : '')
    if (receive === 'packet') {
      if (!hasPacketRx(tx)) {
        throw new WireError('DEV_ERR_NO_PACKET_TX', "receive: 'packet' needs a build of tcplab's 'tcplab-packet-tx' addon with the receive path: npm rebuild tcplab-packet-tx")
      }
      this.buffer = Buffer.alloc(0)
      this.maxFrame = maxFrame
      this.ourMac = opts.mac !== undefined && this.filter !== '' ? parseMac(opts.mac) : undefined
      this.csumNotReady = tx.TP_STATUS_CSUMNOTREADY ?? TP_STATUS_CSUMNOTREADY
      this.csumValid = tx.TP_STATUS_CSUM_VALID ?? TP_STATUS_CSUM_VALID
      // The slab must hold a whole frame (and the 4 bytes of a VLAN tag the addon puts back) at any offset it hands over.
      if (this.slab.length < maxFrame + 4 + 8) this.slab = new Uint8Array(maxFrame + 4 + 8)
      let txFd = -1
      try {
        txFd = tx.open(iface, GSO_SNDBUF)
        this.rx = tx.rxOpen(iface, bufferSize, maxFrame, this.onReadable)
      } catch (e) {
        if (txFd >= 0) tx.close(txFd)
        if (e instanceof WireError) throw e
        if (isPermissionFailure(e)) throw capPermissionError()
        const err = e as { code?: string; message?: string }
        if (err?.code === 'ERR_NOT_ETHERNET') throw new WireError('DEV_ERR_IO', String(err.message))
        throw new WireError('DEV_ERR_IO', `cannot capture on ${iface}: ${String(err?.message ?? e).split('\n')[0]}`)
      }
      this.tx = tx
      this.txFd = txFd
      this.handle = undefined
      if (opts.gso === true) this.coalescer = new GsoCoalescer()
      return
    }
    this.buffer = Buffer.alloc(CAPTURE_BUFFER)
    this.rx = undefined
    this.ourMac = undefined
    const cap = opts.cap ?? loadCap()
    const h = new cap.Cap()
    let linkType: string
    try {
      linkType = h.open(iface, this.filter, bufferSize, this.buffer)
    } catch (e) {
      // A handle whose open failed half-way (libpcap created, activation refused) is no safer to collect:
      // its destructor stops a poll handle that was never started (SIGSEGV, seen as an unprivileged user).
      retiredHandles.push(h)
      const msg = e instanceof Error ? e.message : String(e)
      if (isPermissionFailure(e)) throw capPermissionError()
      throw new WireError('DEV_ERR_IO', `cannot capture on ${iface}: ${msg.split('\n')[0]}`)
    }
    if (linkType !== 'ETHERNET') {
      h.close()
      retiredHandles.push(h)
      throw new WireError('DEV_ERR_IO', `${iface} is not an Ethernet interface (libpcap link type ${linkType})`)
    }
    h.setMinBytes?.(0)
    if (opts.gso === true) {
      try {
        this.tx = tx!
        this.txFd = this.tx.open(iface, GSO_SNDBUF)
      } catch (e) {
        h.close()
        retiredHandles.push(h)
        if (e instanceof WireError) throw e
        if (isPermissionFailure(e)) throw capPermissionError()
        throw new WireError('DEV_ERR_IO', `cannot open a packet socket on ${iface}: ${(e as Error).message.split('\n')[0]}`)
      }
      this.coalescer = new GsoCoalescer()
    }
    this.handle = h
    h.on('packet', (nbytes, truncated) => this.onPacket(nbytes, truncated))
  }

  /**
   * The packet socket has frames (or a poll error, status < 0): read them in batches straight into the slab
   * — no copy — and hand each up with the kernel's checksum word, for at most RX_ROUNDS batches per wake-up
   * so a flood cannot starve timers and sends (the poll is level-triggered: the rest wakes us again).
   */
  private readonly onReadable = (status: number): void => {
    if (this.closed) return
    const tx = this.tx!
    if (status < 0) this.sendFailed(new WireError('DEV_ERR_IO', `receive on ${this.iface} failed (libuv status ${status})`), false)
    this.wake()
    const meta = this.rxMeta
    const room = this.maxFrame + 4
    for (let round = 0; round < RX_ROUNDS && !this.closed; round++) {
      if (this.slab.length - this.slabOff < room) {
        this.slab = new Uint8Array(Math.max(SLAB_SIZE, room + 8))
        this.slabOff = 0
      }
      const slab = this.slab
      const n = tx.rxRead!(this.rx!, slab, this.slabOff, meta, RX_BATCH)
      if (n < 0) {
        this.sendFailed(new WireError('DEV_ERR_IO', `receive on ${this.iface} failed (errno ${-n})`), false)
        return
      }
      for (let i = 0; i < n; i++) {
        const at = meta[4 * i]
        const len = meta[4 * i + 1]
        if (len === meta[4 * i + 2]) this.slabOff = (at + len + 7) & ~7
        // A handler that closes the device ends the batch: what is left was read, and is lost with it.
        if (!this.closed) this.onFrame(slab, at, len, meta[4 * i + 2], meta[4 * i + 3])
      }
      if (n < RX_BATCH) return
    }
  }

  /** One frame from the packet socket: counted, filtered by MAC, and handed up with the kernel's word. */
  private onFrame(slab: Uint8Array, at: number, len: number, real: number, tpStatus: number): void {
    if (len !== real) {
      this.counters.truncated++
      this.counters.dropped++
      return
    }
    if (len < ETHERNET_HEADER_LEN) {
      this.counters.malformed++
      this.counters.dropped++
      return
    }
    const mac = this.ourMac
    // The default libpcap filter, in JS: to our MAC, broadcast or multicast, and not our own.
    if (mac !== undefined && (((slab[at] & 1) === 0 && !bytesAt(slab, at, mac)) || bytesAt(slab, at + 6, mac))) return
    const h = this.handler
    if (h === undefined) {
      this.counters.dropped++
      return
    }
    this.counters.received++
    let m: ReceiveMeta | undefined
    if ((tpStatus & this.csumNotReady) !== 0) {
      m = META_CSUM_PARTIAL
      this.counters.csumPartial++
    } else if ((tpStatus & this.csumValid) !== 0) {
      m = META_CSUM_VALID
      this.counters.csumValid++
    }
    h(slab.subarray(at, at + len), m)
  }

  private onPacket(n: number, truncated: boolean): void {
    if (this.closed) return
    if (n < ETHERNET_HEADER_LEN) {
      this.counters.malformed++
      this.counters.dropped++
      return
    }
    if (truncated || ipFrameTruncated(this.buffer, n)) {
      this.counters.truncated++
      this.counters.dropped++
      return
    }
    // libpcap reuses one buffer for every frame: copy each into the slab, which the handler then owns.
    if (this.slabOff + n > this.slab.length) {
      this.slab = new Uint8Array(SLAB_SIZE)
      this.slabOff = 0
    }
    const at = this.slabOff
    this.slab.set(this.buffer.subarray(0, n), at)
    this.slabOff = (at + n + 7) & ~7
    const h = this.handler
    if (h === undefined) {
      this.counters.dropped++
      return
    }
    this.counters.received++
    h(this.slab.subarray(at, at + n))
  }

  send(frame: Uint8Array): void {
    if (this.closed) throw new WireError('DEV_ERR_CLOSED', 'capture device is closed')
    if (frame.length > this.mtu + ETHERNET_HEADER_LEN || frame.length < ETHERNET_HEADER_LEN) {
      this.counters.sendErrors++
      throw new WireError('ERR_BAD_ARGUMENT', `frame of ${frame.length} bytes does not fit 14..${this.mtu + ETHERNET_HEADER_LEN}`)
    }
    const co = this.coalescer
    if (co !== undefined) {
      if (co.add(frame)) return this.scheduleGsoFlush()
      if (co.pending) this.flushGso()
      if (co.add(frame)) return this.scheduleGsoFlush()
    }
    this.sendOrQueue(frame, undefined)
  }

  private sendOrQueue(frame: Uint8Array, meta: GsoMeta | undefined): void {
    if (this.backlogHead === this.backlog.length && this.trySend(frame, meta)) return
    // The packet socket's send buffer is full (its frames wait in the peer's backlog, e.g. a veth whose
    // other end is busy): keep a copy behind the others, up to a bound, and retry from the event loop.
    // Dropping here, as pcap_sendpacket's caller would by default, silently lost bursts of SYNs and ACKs.
    const segments = meta?.segments ?? 1
    if (this.backlogSegments + segments > MAX_QUEUED) {
      this.counters.sendErrors += segments
      return
    }
    this.counters.queued += segments
    this.backlogSegments += segments
    this.backlog.push({ frame: frame.slice(), meta })
    this.scheduleRetry(true)
  }

  /** Sends the pending super-frame, if any (also what the end-of-turn flush does). */
  private flushGso(): void {
    const t = this.coalescer?.take()
    if (t !== undefined) this.sendOrQueue(t.frame, t.meta.segments > 1 ? t.meta : undefined)
  }

  private scheduleGsoFlush(): void {
    this.gsoFlush ??= setImmediate(this.onGsoFlush)
  }

  private readonly onGsoFlush = (): void => {
    this.gsoFlush = undefined
    if (!this.closed) this.flushGso()
  }

  /**
   * One send (synchronous: the buffer is free on return): pcap_sendpacket, or with gso the addon's packet
   * socket, carrying `meta`'s super-frame when given. False when the socket would block.
   */
  private trySend(frame: Uint8Array, meta: GsoMeta | undefined): boolean {
    const tx = this.tx
    if (tx !== undefined) {
      const n = meta === undefined
        ? tx.send(this.txFd, frame, frame.length, 0, 0, 0, 0, 0)
        : tx.send(this.txFd, frame, frame.length, meta.gsoType, meta.gsoSize, meta.hdrLen, meta.csumStart, meta.csumOffset)
      if (n === -EAGAIN || n === -ENOBUFS) return false
      if (n < 0) {
        this.sendFailed(new WireError('DEV_ERR_IO', `send on ${this.iface} failed (errno ${-n})`))
        return true
      }
      if (meta === undefined) this.counters.sent++
      else {
        this.counters.sent += meta.segments
        this.counters.gsoFrames++
        this.counters.gsoSegments += meta.segments
      }
      return true
    }
    try {
      this.handle!.send(frame, frame.length)
      this.counters.sent++
      return true
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e))
      if (WOULD_BLOCK.test(err.message)) return false
      this.sendFailed(err)
      return true
    }
  }

  private sendFailed(err: Error, countSend = true): void {
    if (countSend) this.counters.sendErrors++
    const h = this.errorHandler
    if (h !== undefined) queueMicrotask(() => h(err))
  }

  /** Retries the queue: at once on the next turn after progress, after 1 ms when nothing went out. */
  private scheduleRetry(progressed: boolean): void {
    if (this.retry !== undefined || this.closed) return
    const run = (): void => {
      this.retry = undefined
      if (this.closed) return
      const start = this.backlogHead
      const q = this.backlog
      while (this.backlogHead < q.length && this.trySend(q[this.backlogHead].frame, q[this.backlogHead].meta)) {
        this.backlogSegments -= q[this.backlogHead].meta?.segments ?? 1
        this.backlogHead++
      }
      if (this.backlogHead === this.backlog.length) {
        this.backlog = []
        this.backlogHead = 0
        return
      }
      this.scheduleRetry(this.backlogHead > start)
    }
    this.retry = progressed ? { immediate: setImmediate(run) } : { timer: setTimeout(run, 1) }
  }

  onReceive(handler: ReceiveHandler): void {
    this.handler = handler
  }

  onError(handler: ErrorHandler): void {
    this.errorHandler = handler
  }

  onWake(handler: () => void): void {
    this.wake = handler
  }

  get gso(): boolean {
    return this.coalescer !== undefined
  }

  stats(): CapDeviceStats {
    if (this.rx !== undefined && !this.closed) this.counters.kernelDropped += this.tx!.rxStats!(this.rx)[1]
    return { ...this.counters }
  }

  close(): void {
    if (this.closed) return
    // What is pending was sent as far as the stack knows: hand it over (or queue it, and drop it below).
    this.flushGso()
    this.closed = true
    if (this.gsoFlush !== undefined) clearImmediate(this.gsoFlush)
    this.gsoFlush = undefined
    if (this.tx !== undefined && this.txFd >= 0) this.tx.close(this.txFd)
    if (this.retry?.immediate !== undefined) clearImmediate(this.retry.immediate)
    if (this.retry?.timer !== undefined) clearTimeout(this.retry.timer)
    this.retry = undefined
    this.counters.dropped += this.backlogSegments
    this.backlog = []
    this.backlogHead = 0
    this.backlogSegments = 0
    if (this.rx !== undefined) {
      this.counters.kernelDropped += this.tx!.rxStats!(this.rx)[1]
      this.tx!.rxClose!(this.rx)
    }
    if (this.handle !== undefined) {
      this.handle.close()
      retiredHandles.push(this.handle)
    }
  }
}
