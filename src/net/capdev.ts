/**
 * The capture device (Ethernet medium, libpcap through `cap`) and what an Ethernet-medium stack needs on
 * top of it: ARP (RFC 826) and IPv6 neighbor discovery (RFC 4861) for an address the lab owns, and
 * {@link ipOverEthernet}, which turns any Ethernet device into an IP-medium one so the same stack runs over
 * a raw socket or a capture.
 *
 * The lab-owned address belongs to no kernel interface (in the namespace lab, 198.18.0.10 on side A's
 * veth subnet): tcplab answers ARP and neighbor solicitations for it with its own MAC, the kernel on the
 * other side reaches it through its on-link route, and the local kernel drops the frames (they are not
 * addressed to its MAC), so it never answers with RST and no guard is needed. libpcap opens the interface
 * in promiscuous mode; the default BPF filter keeps only frames for our MAC, broadcast and multicast, and
 * leaves out our own.
 */
import { finishChecksum, onesSum, pseudoHeaderSum } from '../tcp/checksum.js'
import { WireError } from '../tcp/errors.js'
import { formatIp, formatMac, parseIp, parseMac } from './addr.js'
import { ARP_OP_REPLY, ARP_OP_REQUEST, emitArp, parseArp, ARP_LEN } from './arp.js'
import { DEFAULT_MTU, type Device, type DeviceStats, type ErrorHandler, type ReceiveHandler } from './device.js'
import {
  emitEthernetHeader,
  ETHERNET_HEADER_LEN,
  ETHERNET_MIN_FRAME_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  parseEthernet,
  type EthernetRepr,
} from './ethernet.js'
import { IPPROTO_ICMPV6, parseIpv6, type Ipv6Parsed } from './ipv6.js'
import { GsoCoalescer, type GsoMeta } from './gso.js'
import { capPermissionError, isPermissionFailure, loadCap, loadPacketTx, type CapHandle, type CapModule, type PacketTxModule } from './native.js'

const SLAB_SIZE = 1 << 20
const CAPTURE_BUFFER = 65536
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
  /** Kernel capture buffer in bytes (default 4 MB). */
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
  /** The transmit addon (default: loaded lazily when `gso` is set), for tests. */
  packetTx?: PacketTxModule
}

/** Counters of a capture device. */
export interface CapDeviceStats extends DeviceStats {
  /** Frames longer than the capture buffer or shorter than an Ethernet header. */
  malformed: number
  /** Sends that found the packet socket's buffer full and waited in the queue (in segments, as `sent`). */
  queued: number
  /** With `gso`: super-frames sent (two segments or more) and the segments they carried. */
  gsoFrames: number
  gsoSegments: number
}

/** A libpcap device. */
export interface CapDevice extends Device {
  readonly medium: 'ethernet'
  readonly iface: string
  /** The BPF filter in use. */
  readonly filter: string
  /** Whether segmentation offload is on (the `gso` option). */
  readonly gso: boolean
  onError(handler: ErrorHandler): void
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

class PcapDevice implements CapDevice {
  readonly medium = 'ethernet' as const
  readonly mtu: number
  readonly iface: string
  readonly filter: string
  private readonly handle: CapHandle
  private readonly buffer = Buffer.alloc(CAPTURE_BUFFER)
  private handler: ReceiveHandler | undefined
  private errorHandler: ErrorHandler | undefined
  private closed = false
  private slab = new Uint8Array(SLAB_SIZE)
  private slabOff = 0
  private readonly counters: CapDeviceStats = {
    sent: 0, received: 0, dropped: 0, sendErrors: 0, malformed: 0, queued: 0, gsoFrames: 0, gsoSegments: 0,
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
    const { iface, mtu = DEFAULT_MTU, bufferSize = 4 << 20 } = opts
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new WireError('ERR_BAD_ARGUMENT', `mtu must be 68..65535, got ${mtu}`)
    this.mtu = mtu
    this.iface = iface
    this.filter = opts.filter ?? (opts.mac !== undefined ? defaultCapFilter(opts.mac) : '')
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
        this.tx = opts.packetTx ?? loadPacketTx()
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

  private onPacket(n: number, truncated: boolean): void {
    if (this.closed) return
    if (truncated || n < ETHERNET_HEADER_LEN) {
      this.counters.malformed++
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
      this.handle.send(frame, frame.length)
      this.counters.sent++
      return true
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e))
      if (WOULD_BLOCK.test(err.message)) return false
      this.sendFailed(err)
      return true
    }
  }

  private sendFailed(err: Error): void {
    this.counters.sendErrors++
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

  get gso(): boolean {
    return this.coalescer !== undefined
  }

  stats(): CapDeviceStats {
    return { ...this.counters }
  }

  close(): void {
    if (this.closed) return
    // What is pending was sent as far as the stack knows: hand it over (or queue it, and drop it below).
    this.flushGso()
    this.closed = true
    if (this.gsoFlush !== undefined) clearImmediate(this.gsoFlush)
    this.gsoFlush = undefined
    if (this.tx !== undefined) this.tx.close(this.txFd)
    if (this.retry?.immediate !== undefined) clearImmediate(this.retry.immediate)
    if (this.retry?.timer !== undefined) clearTimeout(this.retry.timer)
    this.retry = undefined
    this.counters.dropped += this.backlogSegments
    this.backlog = []
    this.backlogHead = 0
    this.backlogSegments = 0
    this.handle.close()
    retiredHandles.push(this.handle)
  }
}

// ---------------------------------------------------------------------------------------------------
// Neighbor resolution (shared by ARP and NDP)

/** setTimeout/clearTimeout, injectable so resolution can be tested without waiting. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
}

/** Timing of neighbor resolution. */
export interface NeighborOptions {
  /** How long a learned MAC is trusted (default 60 s; RFC 1122 §2.3.2.1 asks for a timeout). */
  ttlMs?: number
  /** Wait between solicitations (default 1 s, RFC 1122 §2.3.2.1: at most one per second per address). */
  retryMs?: number
  /** Solicitations before giving up (default 3, like RFC 4861's MAX_MULTICAST_SOLICIT). */
  maxTries?: number
  /** Most entries kept; the oldest goes first (default 1024), so hostile input cannot grow it unbounded. */
  maxEntries?: number
  /**
   * Most resolutions under way at once (default 256); past it a new one fails at once with
   * DEV_ERR_UNRESOLVED, so a flood from spoofed sources cannot hold a timer per source (Linux bounds
   * incomplete entries with the rest by gc_thresh3).
   */
  maxPending?: number
  /** Clock in ms (default Date.now). */
  now?: () => number
  /** Timers (default the global ones). */
  timers?: Timers
}

interface Pending {
  tries: number
  timer: unknown
  waiters: { resolve: (mac: Uint8Array) => void; reject: (e: Error) => void }[]
}

/** A cache of IP → MAC with timeouts and pending resolutions. Keys are addresses in text form. */
export class NeighborCache {
  private readonly entries = new Map<string, { mac: Uint8Array; at: number }>()
  private readonly pending = new Map<string, Pending>()
  private readonly ttlMs: number
  private readonly retryMs: number
  private readonly maxTries: number
  private readonly maxEntries: number
  private readonly maxPending: number
  private readonly now: () => number
  private readonly timers: Timers

  constructor(
    /** Sends one solicitation for `ip` (attempt counts from 1). */
    private readonly solicit: (ip: string, attempt: number) => void,
    opts: NeighborOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 60_000
    this.retryMs = opts.retryMs ?? 1000
    this.maxTries = opts.maxTries ?? 3
    this.maxEntries = opts.maxEntries ?? 1024
    this.maxPending = opts.maxPending ?? 256
    this.now = opts.now ?? Date.now
    this.timers = opts.timers ?? realTimers
  }

  /** The MAC of `ip` if known and not expired. */
  lookup(ip: string): Uint8Array | undefined {
    const e = this.entries.get(ip)
    if (e === undefined) return undefined
    if (this.now() - e.at >= this.ttlMs) {
      this.entries.delete(ip)
      return undefined
    }
    return e.mac
  }

  /** Whether `ip` has an entry (fresh or not) or a resolution under way. */
  has(ip: string): boolean {
    return this.entries.has(ip) || this.pending.has(ip)
  }

  /** Records `ip` → `mac` (copied) and completes a pending resolution. */
  learn(ip: string, mac: Uint8Array): void {
    this.entries.delete(ip)
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
    const m = mac.slice()
    this.entries.set(ip, { mac: m, at: this.now() })
    const p = this.pending.get(ip)
    if (p !== undefined) {
      this.pending.delete(ip)
      this.timers.clearTimeout(p.timer)
      for (const w of p.waiters) w.resolve(m)
    }
  }

  /** The MAC of `ip`: from the cache, or by soliciting up to maxTries times; rejects with DEV_ERR_UNRESOLVED. */
  resolve(ip: string): Promise<Uint8Array> {
    const known = this.lookup(ip)
    if (known !== undefined) return Promise.resolve(known)
    return new Promise((resolve, reject) => {
      const p = this.pending.get(ip)
      if (p !== undefined) {
        p.waiters.push({ resolve, reject })
        return
      }
      if (this.pending.size >= this.maxPending) {
        reject(new WireError('DEV_ERR_UNRESOLVED', `not resolving ${ip}: ${this.maxPending} resolutions already pending`))
        return
      }
      const q: Pending = { tries: 0, timer: undefined, waiters: [{ resolve, reject }] }
      this.pending.set(ip, q)
      this.attempt(ip, q)
    })
  }

  private attempt(ip: string, q: Pending): void {
    if (this.pending.get(ip) !== q) return
    if (q.tries >= this.maxTries) {
      this.pending.delete(ip)
      const e = new WireError('DEV_ERR_UNRESOLVED', `no answer from ${ip} after ${q.tries} solicitations`)
      for (const w of q.waiters) w.reject(e)
      return
    }
    q.tries++
    q.timer = this.timers.setTimeout(() => this.attempt(ip, q), this.retryMs)
    this.solicit(ip, q.tries)
  }

  /** Cancels every pending resolution (rejecting its waiters with DEV_ERR_CLOSED) and forgets all entries. */
  clear(): void {
    for (const [ip, p] of this.pending) {
      this.timers.clearTimeout(p.timer)
      const e = new WireError('DEV_ERR_CLOSED', `resolution of ${ip} cancelled: device closed`)
      for (const w of p.waiters) w.reject(e)
    }
    this.pending.clear()
    this.entries.clear()
  }

  /** Number of entries (expired ones included until looked up). */
  get size(): number {
    return this.entries.size
  }

  /** Number of resolutions under way. */
  get pendingCount(): number {
    return this.pending.size
  }
}

/** How long ipOverEthernet reuses its last next hop's MAC before it asks the neighbor cache again (ms). */
const MEMO_MS = 1000

const BROADCAST_MAC = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
const ZERO_MAC = new Uint8Array(6)

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Whether `buf` holds `b` at `off` (the per-packet paths compare in place rather than through a view). */
const bytesAt = (buf: Uint8Array, off: number, b: Uint8Array): boolean => {
  if (off + b.length > buf.length) return false
  for (let i = 0; i < b.length; i++) if (buf[off + i] !== b[i]) return false
  return true
}

// ---------------------------------------------------------------------------------------------------
// ARP

/** Options of {@link ArpAgent}. */
export interface ArpAgentOptions extends NeighborOptions {
  /** The lab-owned MAC we answer with. */
  mac: string
  /** The lab-owned IPv4 address we answer for. */
  ipv4: string
  /** Sends one Ethernet frame (the buffer is reused after the call returns). */
  send: (frame: Uint8Array) => void
}

/** Counters of an ARP agent. */
export interface ArpStats {
  requestsAnswered: number
  requestsSent: number
  learned: number
  /** ARP packets not for us, malformed or unsupported. */
  ignored: number
}

/** Answers ARP for the lab-owned address and resolves peers' MACs (RFC 826). */
export class ArpAgent {
  readonly cache: NeighborCache
  readonly mac: Uint8Array
  readonly ipv4: Uint8Array
  private readonly send: (frame: Uint8Array) => void
  private readonly tx = new Uint8Array(ETHERNET_MIN_FRAME_LEN)
  private readonly counters: ArpStats = { requestsAnswered: 0, requestsSent: 0, learned: 0, ignored: 0 }

  constructor(opts: ArpAgentOptions) {
    this.mac = parseMac(opts.mac)
    this.ipv4 = parseIp(opts.ipv4)
    if (this.ipv4.length !== 4) throw new WireError('ERR_BAD_ARGUMENT', `ARP needs an IPv4 address, got ${opts.ipv4}`)
    this.send = opts.send
    this.cache = new NeighborCache((ip) => this.request(ip), opts)
  }

  /**
   * Handles the payload of an ARP frame. RFC 826 "Packet Reception": update the sender if known (merge);
   * if we are the target, add it, and answer a request. Never throws on bad input (counted as ignored).
   */
  handle(payload: Uint8Array): void {
    let arp
    try {
      arp = parseArp(payload)
    } catch {
      this.counters.ignored++
      return
    }
    if (sameBytes(arp.senderMac, this.mac)) {
      this.counters.ignored++
      return
    }
    const sender = formatIp(arp.senderIp)
    // 0.0.0.0 is an RFC 5227 probe's sender: nothing to learn, but a probe for our address gets a reply.
    const unspecified = arp.senderIp.every((b) => b === 0)
    const merged = !unspecified && this.cache.has(sender)
    if (merged) this.learnFrom(sender, arp.senderMac)
    if (!sameBytes(arp.targetIp, this.ipv4)) {
      if (!merged) this.counters.ignored++
      return
    }
    if (!merged && !unspecified) this.learnFrom(sender, arp.senderMac)
    if (arp.op === ARP_OP_REQUEST) {
      this.emit(ARP_OP_REPLY, arp.senderMac, arp.senderMac, arp.senderIp)
      this.counters.requestsAnswered++
    }
  }

  private learnFrom(ip: string, mac: Uint8Array): void {
    this.cache.learn(ip, mac)
    this.counters.learned++
  }

  private lastIpSrc = new Uint8Array(4)
  private readonly lastIpMac = new Uint8Array(6)

  /**
   * Learns the link address of the sender of an IPv4 packet unicast to us (smoltcp fills its neighbor
   * cache the same way): the reply then needs no ARP exchange, so a flood from spoofed sources leaves no
   * pending resolution behind and a real client's SYN+ACK never waits for one. The last sender is
   * remembered, so a stream from one peer costs a 10-byte comparison per packet.
   */
  /**
   * {@link learnFromIp} for the IPv4 packet at `ipOff` in an Ethernet `frame` (sender MAC at 6), comparing
   * in place first: the same sender as last time, the common case, costs no allocation.
   */
  learnFromFrame(frame: Uint8Array, ipOff: number): void {
    if (bytesAt(frame, ipOff + 12, this.lastIpSrc) && bytesAt(frame, 6, this.lastIpMac)) return
    this.learnFromIp(frame.subarray(ipOff + 12, ipOff + 16), frame.subarray(6, 12))
  }

  learnFromIp(src: Uint8Array, mac: Uint8Array): void {
    if ((mac[0] & 1) !== 0 || (sameBytes(src, this.lastIpSrc) && sameBytes(mac, this.lastIpMac))) return
    if (src[0] === 0 || src[0] >= 224 || src[0] === 127) return
    this.lastIpSrc = src.slice()
    this.lastIpMac.set(mac)
    const ip = formatIp(src)
    const known = this.cache.lookup(ip)
    if (known === undefined || !sameBytes(known, mac)) this.learnFrom(ip, mac)
  }

  /** Number of ARP resolutions under way. */
  get pendingCount(): number {
    return this.cache.pendingCount
  }

  /** The MAC of `ip` (cache, else ARP requests). */
  resolve(ip: string): Promise<Uint8Array> {
    return this.cache.resolve(ip)
  }

  /** The cached MAC of `ip`, if fresh. */
  lookup(ip: string): Uint8Array | undefined {
    return this.cache.lookup(ip)
  }

  private request(ip: string): void {
    this.emit(ARP_OP_REQUEST, BROADCAST_MAC, ZERO_MAC, parseIp(ip))
    this.counters.requestsSent++
  }

  private emit(op: number, ethDst: Uint8Array, targetMac: Uint8Array, targetIp: Uint8Array): void {
    const f = this.tx
    emitEthernetHeader({ dst: ethDst, src: this.mac, etherType: ETHERTYPE_ARP }, f, 0)
    emitArp({ op, senderMac: this.mac, senderIp: this.ipv4, targetMac, targetIp }, f, ETHERNET_HEADER_LEN)
    // Pad to the 60-byte minimum frame (IEEE 802.3): what the kernel would send.
    f.fill(0, ETHERNET_HEADER_LEN + ARP_LEN)
    this.send(f)
  }

  /** Counters. */
  stats(): ArpStats {
    return { ...this.counters }
  }
}

// ---------------------------------------------------------------------------------------------------
// IPv6 neighbor discovery

const ND_NEIGHBOR_SOLICIT = 135
const ND_NEIGHBOR_ADVERT = 136
const ND_OPT_SOURCE_LL = 1
const ND_OPT_TARGET_LL = 2
const NA_FLAG_SOLICITED = 0x40
const NA_FLAG_OVERRIDE = 0x20
/** NS/NA: type, code, checksum, 4 bytes (flags/reserved), 16-byte target, one 8-byte link-layer option. */
const ND_LEN = 32
const IPV6_HEADER_LEN = 40

/** Options of {@link NdpAgent}. */
export interface NdpAgentOptions extends NeighborOptions {
  /** The lab-owned MAC we answer with. */
  mac: string
  /** The lab-owned IPv6 address we answer for. */
  ipv6: string
  /** Sends one Ethernet frame (the buffer is reused after the call returns). */
  send: (frame: Uint8Array) => void
}

/** Counters of an NDP agent. */
export interface NdpStats {
  solicitationsAnswered: number
  solicitationsSent: number
  learned: number
  /** NS/NA messages that failed validation (RFC 4861 §7.1) or were not for us. */
  ignored: number
}

/** The solicited-node multicast address of `ip` (RFC 4291 §2.7.1): ff02::1:ff + its low 24 bits. */
export function solicitedNode(ip: Uint8Array): Uint8Array {
  const a = new Uint8Array(16)
  a.set([0xff, 0x02], 0)
  a[11] = 0x01
  a[12] = 0xff
  a.set(ip.subarray(13, 16), 13)
  return a
}

/** The Ethernet MAC of an IPv6 multicast address (RFC 2464 §7): 33:33 + its low 32 bits. */
export function multicastMac(ip: Uint8Array): Uint8Array {
  const m = new Uint8Array(6)
  m[0] = 0x33
  m[1] = 0x33
  m.set(ip.subarray(12, 16), 2)
  return m
}

/** Answers neighbor solicitations for the lab-owned IPv6 address and resolves peers (RFC 4861 §7). */
export class NdpAgent {
  readonly cache: NeighborCache
  readonly mac: Uint8Array
  readonly ipv6: Uint8Array
  private readonly send: (frame: Uint8Array) => void
  private readonly tx = new Uint8Array(ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + ND_LEN)
  private readonly counters: NdpStats = { solicitationsAnswered: 0, solicitationsSent: 0, learned: 0, ignored: 0 }

  constructor(opts: NdpAgentOptions) {
    this.mac = parseMac(opts.mac)
    this.ipv6 = parseIp(opts.ipv6)
    if (this.ipv6.length !== 16) throw new WireError('ERR_BAD_ARGUMENT', `NDP needs an IPv6 address, got ${opts.ipv6}`)
    this.send = opts.send
    this.cache = new NeighborCache((ip) => this.solicit(ip), opts)
  }

  /**
   * Handles an IPv6 packet if it is a neighbor solicitation or advertisement; returns whether it was one
   * (consumed, answered if for us). Validation per RFC 4861 §7.1.1/§7.1.2: hop limit 255, code 0, good
   * checksum, length ≥ 24, target not multicast.
   */
  handle(eth: EthernetRepr, ip: Ipv6Parsed): boolean {
    if (ip.nextHeader !== IPPROTO_ICMPV6) return false
    const m = ip.payload
    if (m.length < 1 || (m[0] !== ND_NEIGHBOR_SOLICIT && m[0] !== ND_NEIGHBOR_ADVERT)) return false
    if (
      ip.hopLimit !== 255 ||
      m.length < 24 ||
      m[1] !== 0 ||
      finishChecksum(onesSum(m, 0, m.length, pseudoHeaderSum(ip.src, ip.dst, IPPROTO_ICMPV6, m.length))) !== 0 ||
      m[8] === 0xff
    ) {
      this.counters.ignored++
      return true
    }
    const target = m.subarray(8, 24)
    const ll = this.linkLayerOption(m, m[0] === ND_NEIGHBOR_SOLICIT ? ND_OPT_SOURCE_LL : ND_OPT_TARGET_LL)
    if (ll === null) {
      this.counters.ignored++
      return true
    }
    if (m[0] === ND_NEIGHBOR_ADVERT) {
      const t = formatIp(target)
      if (ll !== undefined && this.cache.has(t)) {
        this.cache.learn(t, ll)
        this.counters.learned++
      } else this.counters.ignored++
      return true
    }
    if (!sameBytes(target, this.ipv6)) {
      this.counters.ignored++
      return true
    }
    const unspecified = ip.src.every((b) => b === 0)
    if (!unspecified && ll !== undefined) {
      this.cache.learn(formatIp(ip.src), ll)
      this.counters.learned++
    }
    // RFC 4861 §7.2.4: reply to the source, solicited; to all-nodes, unsolicited, when the source is ::.
    const dstIp = unspecified ? parseIp('ff02::1') : ip.src
    const dstMac = unspecified ? multicastMac(dstIp) : (ll ?? eth.src)
    this.emit(ND_NEIGHBOR_ADVERT, dstMac, dstIp, this.ipv6, (unspecified ? 0 : NA_FLAG_SOLICITED) | NA_FLAG_OVERRIDE)
    this.counters.solicitationsAnswered++
    return true
  }

  /** The link-layer address in option `type`, undefined when absent, null when options are malformed. */
  private linkLayerOption(m: Uint8Array, type: number): Uint8Array | undefined | null {
    let found: Uint8Array | undefined
    for (let i = 24; i < m.length; ) {
      if (i + 2 > m.length) return null
      const len = m[i + 1] * 8
      // RFC 4861 §4.6: a zero-length option makes the whole message invalid.
      if (len === 0 || i + len > m.length) return null
      if (m[i] === type && len >= 8) found = m.subarray(i + 2, i + 8)
      i += len
    }
    return found
  }

  /** The MAC of `ip` (cache, else neighbor solicitations). */
  resolve(ip: string): Promise<Uint8Array> {
    return this.cache.resolve(formatIp(parseIp(ip)))
  }

  /** The cached MAC of `ip`, if fresh. */
  lookup(ip: string): Uint8Array | undefined {
    return this.cache.lookup(ip)
  }

  private solicit(ip: string): void {
    const target = parseIp(ip)
    const group = solicitedNode(target)
    this.emit(ND_NEIGHBOR_SOLICIT, multicastMac(group), group, target, 0)
    this.counters.solicitationsSent++
  }

  private emit(type: number, ethDst: Uint8Array, dstIp: Uint8Array, target: Uint8Array, flags: number): void {
    const f = this.tx
    emitEthernetHeader({ dst: ethDst, src: this.mac, etherType: ETHERTYPE_IPV6 }, f, 0)
    const ip = ETHERNET_HEADER_LEN
    // RFC 8200 §3 header; RFC 4861 §7.1: hop limit 255 proves the sender is on-link.
    f.fill(0, ip, ip + 4)
    f[ip] = 0x60
    f[ip + 4] = 0
    f[ip + 5] = ND_LEN
    f[ip + 6] = IPPROTO_ICMPV6
    f[ip + 7] = 255
    f.set(this.ipv6, ip + 8)
    f.set(dstIp, ip + 24)
    const m = ip + IPV6_HEADER_LEN
    f[m] = type
    f[m + 1] = 0
    f[m + 2] = 0
    f[m + 3] = 0
    f[m + 4] = flags
    f.fill(0, m + 5, m + 8)
    f.set(target, m + 8)
    f[m + 24] = type === ND_NEIGHBOR_SOLICIT ? ND_OPT_SOURCE_LL : ND_OPT_TARGET_LL
    f[m + 25] = 1
    f.set(this.mac, m + 26)
    const sum = finishChecksum(onesSum(f, m, m + ND_LEN, pseudoHeaderSum(this.ipv6, dstIp, IPPROTO_ICMPV6, ND_LEN)))
    f[m + 2] = sum >>> 8
    f[m + 3] = sum & 0xff
    this.send(f)
  }

  /** Counters. */
  stats(): NdpStats {
    return { ...this.counters }
  }
}

// ---------------------------------------------------------------------------------------------------
// IP over Ethernet

/** Options of {@link ipOverEthernet}. */
export interface IpOverEthernetOptions extends NeighborOptions {
  /** The lab-owned MAC. */
  mac: string
  /** The lab-owned IPv4 address (enables IPv4 and ARP). */
  ipv4?: string
  /** The lab-owned IPv6 address (enables IPv6 and NDP). */
  ipv6?: string
  /** Packets queued per unresolved next hop at most (default 32); more are dropped. */
  maxQueued?: number
}

/** Counters of an IP-over-Ethernet device. */
export interface IpOverEthernetStats extends DeviceStats {
  /** Frames that did not parse. */
  malformed: number
  /** Frames or packets not addressed to us. */
  foreign: number
  /** Packets dropped because the next hop's MAC could not be resolved (or the queue was full). */
  unresolved: number
}

/** An IP-medium device over an Ethernet one, with its own MAC and addresses. */
export interface IpOverEthernetDevice extends Device {
  readonly medium: 'ip'
  readonly mac: string
  readonly arp: ArpAgent | undefined
  readonly ndp: NdpAgent | undefined
  stats(): IpOverEthernetStats
}

/**
 * Wraps an Ethernet-medium device as an IP-medium one owning `mac` and `ipv4`/`ipv6`: answers ARP and
 * neighbor solicitations for them, resolves next hops (every destination is treated as on-link, as in the
 * lab) with a queue per unresolved address, and delivers only IP packets addressed to us, trimmed of
 * link padding.
 */
export function ipOverEthernet(eth: Device, opts: IpOverEthernetOptions): IpOverEthernetDevice {
  return new EthernetIp(eth, opts)
}

class EthernetIp implements IpOverEthernetDevice {
  readonly medium = 'ip' as const
  readonly mtu: number
  readonly mac: string
  readonly arp: ArpAgent | undefined
  readonly ndp: NdpAgent | undefined
  private readonly macBytes: Uint8Array
  private readonly v4: Uint8Array | undefined
  private readonly v6: Uint8Array | undefined
  private readonly maxQueued: number
  private readonly maxPending: number
  private readonly now: () => number
  private memoDst = new Uint8Array(0)
  private memoMac: Uint8Array | undefined
  private memoAt = 0
  private readonly tx: Uint8Array
  /** Views of `tx` by length, made once: a frame per packet would otherwise allocate one. */
  private readonly txViews: Array<Uint8Array | undefined> = []
  private readonly queues = new Map<string, Uint8Array[]>()
  private handler: ReceiveHandler | undefined
  private closed = false
  private readonly counters: IpOverEthernetStats = {
    sent: 0, received: 0, dropped: 0, sendErrors: 0, malformed: 0, foreign: 0, unresolved: 0,
  }

  constructor(
    private readonly eth: Device,
    opts: IpOverEthernetOptions,
  ) {
    if (eth.medium !== 'ethernet') throw new WireError('ERR_BAD_ARGUMENT', 'ipOverEthernet needs an Ethernet-medium device')
    this.mtu = eth.mtu
    this.macBytes = parseMac(opts.mac)
    this.mac = formatMac(this.macBytes)
    this.maxQueued = opts.maxQueued ?? 32
    this.maxPending = opts.maxPending ?? 256
    this.now = opts.now ?? Date.now
    this.tx = new Uint8Array(ETHERNET_HEADER_LEN + eth.mtu)
    const send = (f: Uint8Array): void => this.eth.send(f)
    if (opts.ipv4 !== undefined) {
      this.arp = new ArpAgent({ ...opts, ipv4: opts.ipv4, send })
      this.v4 = this.arp.ipv4
    }
    if (opts.ipv6 !== undefined) {
      this.ndp = new NdpAgent({ ...opts, ipv6: opts.ipv6, send })
      this.v6 = this.ndp.ipv6
    }
    if (this.v4 === undefined && this.v6 === undefined) {
      throw new WireError('ERR_BAD_ARGUMENT', 'ipOverEthernet needs ipv4 or ipv6')
    }
    eth.onReceive((f) => this.receive(f))
  }

  send(packet: Uint8Array): void {
    if (this.closed) throw new WireError('DEV_ERR_CLOSED', 'device is closed')
    if (packet.length > this.mtu) {
      this.counters.sendErrors++
      throw new WireError('ERR_BAD_ARGUMENT', `packet of ${packet.length} bytes exceeds the MTU ${this.mtu}`)
    }
    const version = packet.length > 0 ? packet[0] >> 4 : 0
    let dstOff: number
    let resolver: ArpAgent | NdpAgent | undefined
    if (version === 4 && packet.length >= 20) {
      dstOff = 16
      resolver = this.arp
    } else if (version === 6 && packet.length >= 40) {
      dstOff = 24
      resolver = this.ndp
    } else {
      this.counters.sendErrors++
      throw new WireError('ERR_BAD_ARGUMENT', 'not an IPv4 or IPv6 packet')
    }
    if (resolver === undefined) {
      this.counters.sendErrors++
      throw new WireError('ERR_BAD_ARGUMENT', `no IPv${version} address configured on this device`)
    }
    const etherType = version === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6
    // A stream to one peer: its MAC from the last lookup, re-checked at most every MEMO_MS, so the hot path
    // builds no text key and touches no map.
    const memo = this.memoMac
    const dstLen = version === 4 ? 4 : 16
    if (memo !== undefined && this.memoDst.length === dstLen && bytesAt(packet, dstOff, this.memoDst) && this.now() - this.memoAt < MEMO_MS) {
      this.frame(memo, etherType, packet)
      return
    }
    const dst = packet.subarray(dstOff, dstOff + dstLen)
    const fixed = this.fixedMac(dst)
    const key = formatIp(dst)
    const mac = fixed ?? resolver.lookup(key)
    if (mac !== undefined && !this.queues.has(key)) {
      if (fixed === undefined) {
        this.memoDst = dst.slice()
        this.memoMac = mac
        this.memoAt = this.now()
      }
      this.frame(mac, etherType, packet)
      return
    }
    this.enqueue(key, packet, resolver, etherType)
  }

  /** Broadcast and multicast destinations need no resolution (RFC 1112 §6.4, RFC 2464 §7). */
  private fixedMac(dst: Uint8Array): Uint8Array | undefined {
    if (dst.length === 16) return dst[0] === 0xff ? multicastMac(dst) : undefined
    if (dst.every((b) => b === 0xff)) return BROADCAST_MAC
    if (dst[0] >= 224 && dst[0] <= 239) return new Uint8Array([0x01, 0x00, 0x5e, dst[1] & 0x7f, dst[2], dst[3]])
    return undefined
  }

  private frame(mac: Uint8Array, etherType: number, packet: Uint8Array): void {
    const f = this.tx
    emitEthernetHeader({ dst: mac, src: this.macBytes, etherType }, f, 0)
    f.set(packet, ETHERNET_HEADER_LEN)
    const n = ETHERNET_HEADER_LEN + packet.length
    this.eth.send((this.txViews[n] ??= f.subarray(0, n)))
    this.counters.sent++
  }

  private enqueue(key: string, packet: Uint8Array, resolver: ArpAgent | NdpAgent, etherType: number): void {
    let q = this.queues.get(key)
    if (q === undefined) {
      if (this.queues.size >= this.maxPending) {
        this.counters.unresolved++
        return
      }
      q = []
      this.queues.set(key, q)
      const queue = q
      resolver.resolve(key).then(
        (mac) => {
          this.queues.delete(key)
          if (this.closed) return
          for (const p of queue) this.frame(mac, etherType, p)
        },
        () => {
          this.queues.delete(key)
          this.counters.unresolved += queue.length
        },
      )
    }
    if (q.length >= this.maxQueued) {
      this.counters.unresolved++
      return
    }
    q.push(packet.slice())
  }

  private receive(frame: Uint8Array): void {
    // Untagged IPv4, the common case, read in place: no header object, and no view but the packet handed up.
    if (this.v4 !== undefined && frame.length >= ETHERNET_HEADER_LEN && ((frame[12] << 8) | frame[13]) === ETHERTYPE_IPV4) {
      if (!bytesAt(frame, 0, this.macBytes) && (frame[0] & 1) === 0) return this.drop('foreign')
      const o = ETHERNET_HEADER_LEN
      const avail = frame.length - o
      const total = avail >= 4 ? (frame[o + 2] << 8) | frame[o + 3] : 0
      if (avail < 20 || frame[o] >> 4 !== 4 || total < 20 || total > avail) return this.drop('malformed')
      if (!bytesAt(frame, o + 16, this.v4)) return this.drop('foreign')
      if ((frame[0] & 1) === 0) this.arp!.learnFromFrame(frame, o)
      this.up(frame.subarray(o, o + total))
      return
    }
    let eth: EthernetRepr
    try {
      eth = parseEthernet(frame)
    } catch {
      this.drop('malformed')
      return
    }
    const d = eth.dst
    if (!sameBytes(d, this.macBytes) && (d[0] & 1) === 0) {
      this.drop('foreign')
      return
    }
    const p = eth.payload
    if (eth.etherType === ETHERTYPE_ARP) {
      if (this.arp !== undefined) this.arp.handle(p)
      else this.drop('foreign')
      return
    }
    if (eth.etherType === ETHERTYPE_IPV4 && this.v4 !== undefined) {
      const total = p.length >= 4 ? (p[2] << 8) | p[3] : 0
      if (p.length < 20 || p[0] >> 4 !== 4 || total < 20 || total > p.length) return this.drop('malformed')
      if (!sameBytes(p.subarray(16, 20), this.v4)) return this.drop('foreign')
      if ((d[0] & 1) === 0) this.arp!.learnFromIp(p.subarray(12, 16), eth.src)
      this.up(p.subarray(0, total))
      return
    }
    if (eth.etherType === ETHERTYPE_IPV6 && this.v6 !== undefined) {
      let ip: Ipv6Parsed
      try {
        ip = parseIpv6(p)
      } catch {
        return this.drop('malformed')
      }
      if (this.ndp!.handle(eth, ip)) return
      if (!sameBytes(ip.dst, this.v6)) return this.drop('foreign')
      this.up(p.subarray(0, IPV6_HEADER_LEN + ip.payloadLength))
      return
    }
    this.drop('foreign')
  }

  private drop(why: 'malformed' | 'foreign'): void {
    this.counters[why]++
    this.counters.dropped++
  }

  private up(packet: Uint8Array): void {
    const h = this.handler
    if (h === undefined) {
      this.counters.dropped++
      return
    }
    this.counters.received++
    h(packet)
  }

  onReceive(handler: ReceiveHandler): void {
    this.handler = handler
  }

  onError(handler: ErrorHandler): void {
    this.eth.onError?.(handler)
  }

  stats(): IpOverEthernetStats {
    return { ...this.counters }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.arp?.cache.clear()
    this.ndp?.cache.clear()
    this.eth.close()
  }
}
