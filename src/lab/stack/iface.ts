/**
 * The interface: what runs the userland TCP on a device (smoltcp's `iface::Interface`). It takes IP
 * packets from an IP-medium device, checks and demultiplexes them by 4-tuple to a TCB (or to a listener,
 * or answers a closed port with RST), drains every TCB's `dispatch` after each event, wraps the segments
 * in IP and sends them, and keeps ONE real timer for the earliest `pollAt()` of all connections.
 *
 * Work happens in three kinds of entry points — a packet arrives, the timer fires, the application calls
 * (send, recv, close…) — and each one reads the clock once. A packet that arrives while an entry point is
 * running (a synchronous device answering from inside `send`) is queued and handled when it finishes, so
 * a TCB is never entered twice at once.
 *
 * Time is µs as in src/tcp. The clock and the timer scheduler are injectable: tests pass a
 * {@link VirtualClock} (clock.ts) and drive time by hand, with no sleeps.
 */
import { EventEmitter } from 'node:events'
import { formatIp, parseIp } from '../../net/addr.js'
import type { Device, ReceiveMeta } from '../../net/device.js'
import type { Ipv4Parsed } from '../../net/ipv4.js'
import { decodeIp, emitTcpPacket, type DecodedPacket, type IpHeaderFields } from '../../net/packet.js'
import { WireError } from '../../tcp/errors.js'
import { Listener } from '../../tcp/listener.js'
import { TcpFlags, type TcpRepr } from '../../tcp/segment.js'
import { rstForClosed, Tcb } from '../../tcp/tcb.js'
import type { TraceEvent } from '../../tcp/trace.js'
import { DEFAULT_TCP_CONFIG, type FourTuple, type TcpConfig } from '../../tcp/types.js'
import { monotonicUs, realScheduler, type TimerScheduler } from './clock.js'
import { addrEq, Connection, ConnectionTable, PortListener, type ConnectionHandler } from './connection.js'
import { TimerHeap } from './timerheap.js'

const IPPROTO_TCP = 6
const { RST } = TcpFlags

// ------------------------------------------------------------------------------------------ types

/** Why a TCP checksum that did not verify was accepted (which rule decided), or 'drop'. */
type ChecksumVerdict = 'offloaded-kernel' | 'valid-kernel' | 'offloaded' | 'drop'

/** Why the interface dropped a received packet. */
export type IfaceDropReason =
  /** decodeIp threw: truncated or impossible IP or TCP header, unknown IP version. */
  | 'malformed'
  /** IPv4 header checksum wrong (RFC 791). */
  | 'ip-checksum'
  /** Destination address is not one of ours. */
  | 'not-ours'
  /** Not TCP (UDP, ICMP…). */
  | 'not-tcp'
  /** A fragment: the interface does not reassemble (Linux sets DF on TCP, and so do we). */
  | 'fragment'
  /** TCP checksum wrong (RFC 9293 §3.1, MUST-3). */
  | 'tcp-checksum'
  /** Source or destination port 0. */
  | 'bad-port'
  /** No connection and no listener: answered with RST when `rstClosedPorts` (unless it was a RST). */
  | 'closed-port'
  /**
   * `ownership: 'ports'` (a raw socket on an address the kernel owns): no connection and no listener of
   * ours, so the 4-tuple is the kernel's — ignored silently, never answered.
   */
  | 'not-our-port'
  /** A packet we sent ourselves, heard back (a raw socket on loopback receives its own sends). */
  | 'own-echo'
  /** A listener discarded it (backlog full, stray non-SYN segment, bad cookie without a reply). */
  | 'listener'
  /** Arrived after `close()`. */
  | 'closed'

const DROP_REASONS: readonly IfaceDropReason[] = [
  'malformed',
  'ip-checksum',
  'not-ours',
  'not-tcp',
  'fragment',
  'tcp-checksum',
  'bad-port',
  'closed-port',
  'not-our-port',
  'own-echo',
  'listener',
  'closed',
]

/** Counters of an interface (a live object: read it, don't write it). */
export interface IfaceStats {
  packetsIn: number
  packetsOut: number
  bytesIn: number
  bytesOut: number
  /** Received packets dropped, by reason. */
  drops: Record<IfaceDropReason, number>
  /** RST segments sent: closed ports, listener refusals, aborts and every RST a TCB produced. */
  resetsSent: number
  /** Packets that could not be built or that the device refused (oversize, closed). */
  sendErrors: number
  /** Connections opened (active) and spawned by listeners (passive, counted at SYN). */
  activeOpens: number
  passiveOpens: number
  /**
   * Received segments whose TCP checksum was accepted as offloaded (CHECKSUM_PARTIAL: a local sender left
   * it to offload, so it was never filled in): on the device's word (`checksumOffloadedKernel`), or, where
   * the device gave none, because the field held exactly the pseudo-header sum. Counted apart from verified ones.
   */
  checksumOffloaded: number
  /**
   * Of `checksumOffloaded`, those the device vouched for: the kernel marked the frame TP_STATUS_CSUMNOTREADY
   * (the capture device's packet receive path), whatever the field held.
   */
  checksumOffloadedKernel: number
  /**
   * Received segments whose TCP checksum did not verify here but which the kernel said it had verified
   * (TP_STATUS_CSUM_VALID), accepted on its word.
   */
  checksumValidKernel: number
  /** RSTs not sent because `ownership: 'ports'` forbids answering what is not ours (listener refusals). */
  resetsSuppressed: number
}

/** One packet seen by the interface, for observers (the CLI, diagrams). Zero cost when nobody listens. */
export interface PacketEvent {
  dir: 'in' | 'out'
  /** The whole IP packet; valid only during the event (the send buffer is reused): copy it to keep it. */
  bytes: Uint8Array
  /** What decodeIp made of it (partially filled when it threw); undefined when nothing parsed. */
  decoded: DecodedPacket | undefined
  /** The TCP segment (parsed for 'in', as emitted for 'out'). */
  tcp: TcpRepr | undefined
  /** Interface time (µs). */
  now: number
  /** The connection it belongs to, when there is one. */
  conn: Connection | undefined
  /** Set for a received packet the interface dropped. */
  drop: IfaceDropReason | undefined
}

/** Events of an {@link Interface}. */
export interface InterfaceEvents {
  /** Every packet in and out. */
  packet: [PacketEvent]
  /** Every TCB trace event (transitions, segments, drops, timers); `conn` is undefined only for none. */
  trace: [TraceEvent, Connection | undefined]
  /** A segment could not be built or sent (counted in `sendErrors`). Not 'error': it never throws. */
  sendError: [Error]
  /** The device reported an asynchronous error. */
  deviceError: [Error]
  /** Emitted once, at the first segment accepted with an offloaded checksum (see `IfaceStats.checksumOffloaded`). */
  checksumOffloaded: []
}

/** Options of {@link Interface}. */
export interface InterfaceOptions {
  /** An IP-medium device (use `ipOverEthernet` for an Ethernet one). */
  device: Device
  /** The local addresses the interface owns (4 or 16 bytes, or text). */
  addrs: Array<Uint8Array | string>
  /** Clock in µs, never going backwards. Default: `performance.now()` in µs. */
  clock?: () => number
  /** Timer scheduler on the same clock. Default: `setTimeout` (unref'd while no connection is open). */
  scheduler?: TimerScheduler
  /** Defaults for every TCB (per-call `tcp` options override them). */
  tcp?: Partial<TcpConfig>
  /** Answer segments for ports with no connection and no listener with RST (RFC 9293 §3.10.7.1). Default true. */
  rstClosedPorts?: boolean
  /**
   * What the interface owns. 'address' (default): the whole address, as the capture device with an IP of
   * its own does — closed ports are answered with RST (when `rstClosedPorts`). 'ports': only the ports it
   * holds, as a raw socket on an address the kernel owns — every other 4-tuple is the kernel's and is
   * ignored silently ('not-our-port'), and a listener never answers a non-SYN with RST (a stray ACK on our
   * port may belong to the kernel), so nothing tcplab sends can disturb a connection it does not own.
   */
  ownership?: 'address' | 'ports'
  /**
   * A TCP checksum left to offload (CHECKSUM_PARTIAL, as a local kernel sends on a veth or loopback at
   * default settings) — on the device's word (TP_STATUS_CSUMNOTREADY), or with no word when it holds
   * exactly the pseudo-header sum: 'accept' (default) takes the segment and counts it in
   * `checksumOffloaded`; 'drop' treats it as any wrong checksum.
   */
  offloadedChecksums?: 'accept' | 'drop'

  /** Inclusive range of ephemeral ports for active opens. Default [49152, 65535] (RFC 6335 §6). */
  ephemeralPorts?: [number, number]
  /** Close the device in `close()`. Default true. */
  closeDevice?: boolean
  /**
   * How long a released connection may sit in FIN-WAIT-2 waiting for the peer's FIN before it is
   * forgotten, quietly (Linux's tcp_fin_timeout, 60 s by default), in µs.
   */
  orphanTimeout?: number
  /** IPv4 TTL / IPv6 hop limit of every connection's packets (default 64); see {@link Interface.ttl}. */
  ttl?: number
  /** IPv4 TOS / IPv6 traffic class byte of every connection's packets (default 0); see {@link Interface.tos}. */
  tos?: number
}

/** Options of {@link Interface.connect}. */
export interface IfaceConnectOptions {
  remoteAddr: Uint8Array | string
  remotePort: number
  /** Default: the first of our addresses in the remote address's family. */
  localAddr?: Uint8Array | string
  /** Default: an ephemeral port not in use. */
  localPort?: number
  tcp?: Partial<TcpConfig>
  /** Attached before the SYN goes out. */
  handler?: ConnectionHandler
}

/** Options of {@link Interface.listen}. */
export interface IfaceListenOptions {
  /** Half-open (SYN-RECEIVED) bound per address family; accepted connections are taken at once. Default 128. */
  backlog?: number
  /** Answer SYNs with SYN cookies once the half-open queue is full (RFC 4987 §3.6). */
  synCookies?: boolean
  tcp?: Partial<TcpConfig>
  /** Accept only connections to this local address (default: any of ours). */
  localAddr?: Uint8Array | string
  /** Called with each connection that completed its handshake (ESTABLISHED or beyond). */
  onConnection?: (conn: Connection) => void
}

/** Errors of the interface's own calls, with Node-like codes (EADDRINUSE, EADDRNOTAVAIL, EINVAL…). */
export class NetError extends Error {
  override readonly name = 'NetError'
  constructor(
    readonly code: 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'EINVAL' | 'ECLOSED',
    message: string,
  ) {
    super(message)
  }
}

// ------------------------------------------------------------------------------------------ helpers

function toAddr(a: Uint8Array | string, what: string): Uint8Array {
  if (typeof a === 'string') return parseIp(a)
  if (a.length !== 4 && a.length !== 16) throw new WireError('ERR_BAD_ARGUMENT', `${what} must have 4 or 16 bytes, not ${a.length}`)
  return a.slice()
}

function isPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 0xffff
}

const NOOP = (): void => {}

/** Segments one flush may send before we suspect a TCB bug (a dispatch that never returns undefined). */
const MAX_DISPATCH = 1 << 20

// ------------------------------------------------------------------------------------------ interface

/** Runs the userland TCP on one IP-medium device. */
export class Interface extends EventEmitter<InterfaceEvents> {
  /** The device. */
  readonly device: Device
  /** Addresses we own. */
  readonly addrs: readonly Uint8Array[]
  /** The clock (µs). */
  readonly clock: () => number
  /** The timer scheduler (also used by sockets' idle timeouts). */
  readonly scheduler: TimerScheduler
  /** Live counters. */
  readonly stats: IfaceStats

  private readonly tcpDefaults: Partial<TcpConfig>
  private readonly rstClosedPorts: boolean
  private readonly ownsPortsOnly: boolean
  private readonly acceptOffloaded: boolean
  private readonly ephemeral: [number, number]
  private readonly closeDevice: boolean
  private readonly orphanTimeout: number
  /** IPv4 TTL / IPv6 hop limit for connections opened from now on (undefined: 64), like Linux's IP_TTL. */
  ttl: number | undefined
  /** IPv4 TOS / IPv6 traffic class for connections opened from now on (undefined: 0), like IP_TOS. */
  tos: number | undefined
  private portCursor: number

  private readonly table = new ConnectionTable()
  private readonly ports = new Map<number, PortListener>()
  private readonly portUse = new Map<number, number>()

  private readonly heap = new TimerHeap<Connection>()
  private readonly due: Connection[] = []
  private timerHandle: unknown = undefined
  private timerAt = Infinity
  private timerRef = false
  private heldCount = 0

  private depth = 0
  private nowUs = 0
  private readonly rxQueue: Uint8Array[] = []
  /** The device's word on each queued packet (same index as rxQueue; undefined where it said nothing). */
  private readonly rxMeta: Array<ReceiveMeta | undefined> = []
  private readonly rxScratch: DecodedPacket = {}
  private readonly txBuf: Uint8Array
  private readonly txViews: Array<Uint8Array | undefined> = []
  private txBusy = false
  private drainScheduled = false
  private isClosed = false

  private tracing = false
  private observing = false
  private readonly pendingTrace: Array<TraceEvent | Tcb> = []

  constructor(opts: InterfaceOptions) {
    super()
    if (opts.device.medium !== 'ip') {
      throw new WireError('ERR_BAD_ARGUMENT', `the interface needs an IP-medium device (wrap an Ethernet one with ipOverEthernet), got '${opts.device.medium}'`)
    }
    if (opts.addrs.length === 0) throw new WireError('ERR_BAD_ARGUMENT', 'the interface needs at least one address')
    this.device = opts.device
    this.addrs = opts.addrs.map((a) => toAddr(a, 'an interface address'))
    this.clock = opts.clock ?? monotonicUs
    this.scheduler = opts.scheduler ?? realScheduler(this.clock)
    this.tcpDefaults = { ...opts.tcp }
    this.ownsPortsOnly = opts.ownership === 'ports'
    this.rstClosedPorts = (opts.rstClosedPorts ?? true) && !this.ownsPortsOnly
    this.acceptOffloaded = (opts.offloadedChecksums ?? 'accept') === 'accept'
    const [lo, hi] = opts.ephemeralPorts ?? [49152, 65535]
    if (!isPort(lo) || !isPort(hi) || lo > hi) throw new WireError('ERR_BAD_ARGUMENT', `bad ephemeral port range ${lo}..${hi}`)
    this.ephemeral = [lo, hi]
    // Linux starts its search at a hashed offset so ports are hard to guess (RFC 6056 §3.3.4); random will do.
    this.portCursor = Math.floor(Math.random() * (hi - lo + 1))
    this.closeDevice = opts.closeDevice ?? true
    this.orphanTimeout = opts.orphanTimeout ?? 60_000_000
    this.ttl = opts.ttl
    this.tos = opts.tos
    this.txBuf = new Uint8Array(Math.max(this.device.mtu, 68))
    this.stats = {
      packetsIn: 0,
      packetsOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      drops: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<IfaceDropReason, number>,
      resetsSent: 0,
      sendErrors: 0,
      activeOpens: 0,
      passiveOpens: 0,
      checksumOffloaded: 0,
      checksumOffloadedKernel: 0,
      checksumValidKernel: 0,
      resetsSuppressed: 0,
    }
    // Tracing and observation cost nothing until someone listens: track the listener counts.
    const self = this as EventEmitter
    self.on('newListener', (name: string | symbol) => {
      if (name === 'trace') this.setTracing(true)
      else if (name === 'packet') this.observing = true
    })
    self.on('removeListener', (name: string | symbol) => {
      if (name === 'trace') this.setTracing(this.listenerCount('trace') > 0)
      else if (name === 'packet') this.observing = this.listenerCount('packet') > 0
    })
    this.device.onReceive(this.onPacket)
    this.device.onError?.(this.onDeviceError)
  }

  // ---------------------------------------------------------------------------------- public

  /** The clock reading of the current (or last) entry point (µs). */
  get now(): number {
    return this.nowUs
  }

  /** Connections the interface holds (every state but CLOSED, TIME-WAIT included). */
  get connectionCount(): number {
    return this.table.size
  }

  /** Every connection held. */
  *connections(): IterableIterator<Connection> {
    yield* this.table.values()
  }

  /** Whether the real timer is armed (for tests: false after close and when nothing is due). */
  get timerArmed(): boolean {
    return this.timerHandle !== undefined
  }

  /** Whether the armed timer keeps the process alive (some connection is open, not in TIME-WAIT). */
  get timerKeepsAlive(): boolean {
    return this.timerHandle !== undefined && this.timerRef
  }

  /** Entries in the timer heap, stale ones included (for tests and the benchmark). */
  get timerEntries(): number {
    return this.heap.size
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.isClosed
  }

  /** The port listener on `port`, if any. */
  listenerOn(port: number): PortListener | undefined {
    return this.ports.get(port)
  }

  /** Active OPEN: a new connection in SYN-SENT; its SYN is sent before this returns. */
  connect(opts: IfaceConnectOptions): Connection {
    if (this.isClosed) throw new NetError('ECLOSED', 'the interface is closed')
    const remoteAddr = toAddr(opts.remoteAddr, 'remoteAddr')
    if (!isPort(opts.remotePort)) throw new NetError('EINVAL', `remote port must be 1..65535, not ${opts.remotePort}`)
    const localAddr = opts.localAddr !== undefined ? toAddr(opts.localAddr, 'localAddr') : this.addrs.find((a) => a.length === remoteAddr.length)
    if (localAddr === undefined || !this.isOurs(localAddr)) {
      const what = localAddr === undefined ? `no IPv${remoteAddr.length === 4 ? 4 : 6} address` : `${formatIp(localAddr)} is not ours`
      throw new NetError('EADDRNOTAVAIL', `cannot connect to ${formatIp(remoteAddr)}: ${what}`)
    }
    if (localAddr.length !== remoteAddr.length) throw new NetError('EINVAL', 'local and remote addresses are of different families')
    let localPort: number
    if (opts.localPort !== undefined && opts.localPort !== 0) {
      if (!isPort(opts.localPort)) throw new NetError('EINVAL', `local port must be 1..65535, not ${opts.localPort}`)
      localPort = opts.localPort
      if (this.table.lookup(localAddr, localPort, remoteAddr, opts.remotePort) !== undefined) {
        throw new NetError('EADDRINUSE', `${formatIp(localAddr)}:${localPort} is already connected to ${formatIp(remoteAddr)}:${opts.remotePort}`)
      }
    } else {
      localPort = this.pickPort(localAddr, remoteAddr, opts.remotePort)
    }
    const tuple: FourTuple = { localAddr, localPort, remoteAddr, remotePort: opts.remotePort }
    this.enter()
    try {
      const family = localAddr.length === 4 ? 4 : 6
      const tcb = Tcb.connect(tuple, this.nowUs, this.configFor(family, opts.tcp), this.tracing ? this.onTcbEvent : undefined)
      const conn = this.register(tcb, undefined)
      conn.handler = opts.handler
      this.stats.activeOpens++
      this.flush(conn)
      return conn
    } finally {
      this.exit(true)
    }
  }

  /** Passive OPEN on `port` (0 picks an ephemeral port). Throws EADDRINUSE when the port is taken. */
  listen(port: number, opts: IfaceListenOptions = {}): PortListener {
    if (this.isClosed) throw new NetError('ECLOSED', 'the interface is closed')
    const localAddr = opts.localAddr !== undefined ? toAddr(opts.localAddr, 'localAddr') : undefined
    if (localAddr !== undefined && !this.isOurs(localAddr)) throw new NetError('EADDRNOTAVAIL', `${formatIp(localAddr)} is not ours`)
    if (port === 0) port = this.pickListenPort()
    else if (!isPort(port)) throw new NetError('EINVAL', `port must be 0..65535, not ${port}`)
    if (this.ports.has(port)) throw new NetError('EADDRINUSE', `port ${port} is already listened on`)
    const pl = new PortListener(this, port, localAddr, opts)
    this.ports.set(port, pl)
    return pl
  }

  /** Resets every connection (RST where synchronized), stops listening and the timer, and closes the device. */
  close(): void {
    if (this.isClosed) return
    this.enter()
    try {
      for (const pl of [...this.ports.values()]) this.unlisten(pl)
      for (const conn of [...this.connections()]) {
        conn.tcb.abort()
        this.flush(conn)
        this.notify(conn)
      }
    } finally {
      this.isClosed = true
      this.rxQueue.length = 0
      this.rxMeta.length = 0
      this.depth = 0
      this.heap.clear()
      this.disarm()
      this.device.onReceive(NOOP)
      if (this.closeDevice) this.device.close()
    }
  }

  // ---------------------------------------------------------------------------------- internal API

  /** @internal */
  userSend(conn: Connection, data: Uint8Array): number {
    this.enter()
    try {
      const n = conn.tcb.send(data)
      if (n > 0) this.flush(conn)
      return n
    } finally {
      this.exit(true)
    }
  }

  /** @internal */
  userRecvInto(conn: Connection, into: Uint8Array): number {
    this.enter()
    try {
      const n = conn.tcb.recvInto(into)
      if (n > 0) this.flush(conn)
      return n
    } finally {
      this.exit(true)
    }
  }

  /** @internal */
  userClose(conn: Connection, abort: boolean): void {
    this.enter()
    try {
      if (abort) conn.tcb.abort()
      else conn.tcb.close()
      this.flush(conn)
    } finally {
      this.exit(true)
    }
  }

  /** @internal */
  userRelease(conn: Connection): void {
    conn.handler = undefined
    conn.orphan = true
    this.setHeld(conn, false)
    if (conn.removed || this.isClosed) return
    this.enter()
    try {
      this.flush(conn) // starts the FIN-WAIT-2 clock if it is already there
    } finally {
      this.exit(true)
    }
  }

  /** @internal */
  setHeld(conn: Connection, on: boolean): void {
    if (conn.held === on) return
    conn.held = on
    this.heldCount += on ? 1 : -1
    if (this.depth === 0) this.arm()
  }

  /** @internal */
  unlisten(pl: PortListener): void {
    if (pl.closed) return
    pl.closed = true
    if (this.ports.get(pl.port) === pl) this.ports.delete(pl.port)
    if (pl.pending.size === 0) return
    this.enter()
    try {
      for (const conn of [...pl.pending]) {
        pl.pending.delete(conn)
        conn.port = undefined
        conn.tcb.abort()
        this.flush(conn)
      }
    } finally {
      this.exit(true)
    }
  }

  // ---------------------------------------------------------------------------------- entry points

  private enter(): void {
    if (this.depth++ === 0) this.nowUs = this.clock()
  }

  /**
   * Leaves an entry point. Packets queued meanwhile are handled now — unless this was an application
   * call: then they wait for a microtask, so a handler is never called back from inside its own
   * `send`/`recv` (a synchronous device would otherwise re-enter a socket in the middle of a write).
   */
  private exit(user = false): void {
    if (this.depth > 1) {
      this.depth--
      return
    }
    try {
      if (!user) this.drainRx()
    } finally {
      this.depth = 0
      if (this.isClosed) {
        this.rxQueue.length = 0
        this.rxMeta.length = 0
      } else {
        if (user && this.rxQueue.length > 0 && !this.drainScheduled) {
          this.drainScheduled = true
          queueMicrotask(this.onDrain)
        }
        this.arm()
      }
    }
  }

  /** Handles queued packets in arrival order (the queue may grow meanwhile). */
  private drainRx(): void {
    const q = this.rxQueue
    try {
      for (let i = 0; i < q.length && !this.isClosed; i++) {
        if (i > 0) this.nowUs = this.clock()
        this.handlePacket(q[i], this.rxMeta[i])
      }
    } finally {
      q.length = 0
      this.rxMeta.length = 0
    }
  }

  private readonly onDrain = (): void => {
    this.drainScheduled = false
    if (this.depth > 0 || this.rxQueue.length === 0 || this.isClosed) return
    this.enter()
    this.exit()
  }

  private readonly onPacket = (packet: Uint8Array, meta?: ReceiveMeta): void => {
    if (this.isClosed) {
      this.stats.drops.closed++
      return
    }
    // Always through the queue, so a packet never overtakes one that arrived before it.
    this.rxQueue.push(packet)
    this.rxMeta.push(meta)
    if (this.depth > 0) return
    this.enter()
    this.exit()
  }

  private readonly onDeviceError = (err: Error): void => {
    this.emit('deviceError', err)
  }

  private readonly onTimer = (): void => {
    this.timerHandle = undefined
    this.timerAt = Infinity
    if (this.isClosed) return
    this.enter()
    const due = this.due
    try {
      const now = this.nowUs
      const heap = this.heap
      while (heap.size > 0 && heap.peekTime() <= now) {
        const at = heap.peekTime()
        const c = heap.pop()!
        // Lazy deletion: only the entry matching the connection's recorded deadline is live.
        if (c.heapAt !== at) continue
        c.heapAt = NaN
        due.push(c)
      }
      for (let i = 0; i < due.length; i++) {
        const c = due[i]
        if (c.removed) continue
        this.flush(c)
        this.notify(c)
      }
    } finally {
      due.length = 0
      this.exit()
    }
  }

  // ---------------------------------------------------------------------------------- receive path

  private handlePacket(bytes: Uint8Array, meta: ReceiveMeta | undefined): void {
    const st = this.stats
    st.packetsIn++
    st.bytesIn += bytes.length
    const observe = this.observing
    // Observers may keep the decoded object, so they get a fresh one; otherwise a scratch is reused.
    const d: DecodedPacket = observe ? {} : this.rxScratch
    d.ip = undefined
    d.tcp = undefined
    let drop: IfaceDropReason | undefined
    let csum: ChecksumVerdict | undefined
    try {
      decodeIp(bytes, d)
    } catch {
      drop = 'malformed'
    }
    // (Read back through the type: TypeScript would keep the `undefined` narrowing from the reset above.)
    const ip = (d as DecodedPacket).ip as DecodedPacket['ip']
    const seg = (d as DecodedPacket).tcp as DecodedPacket['tcp']
    if (drop === undefined) {
      if (ip === undefined) drop = 'malformed'
      else if (ip.src.length === 4 && !(ip as Ipv4Parsed).checksumOk) drop = 'ip-checksum'
      else if (!this.isOurs(ip.dst)) drop = 'not-ours'
      else if (ip.protocol !== IPPROTO_TCP) drop = 'not-tcp'
      else if (seg === undefined) drop = 'fragment'
      else if (seg.checksumOk !== true && (csum = this.checksumVerdict(seg.checksumOffloaded === true, meta)) === 'drop') drop = 'tcp-checksum'
      else if (seg.srcPort === 0 || seg.dstPort === 0) drop = 'bad-port'
    }
    if (drop !== undefined) {
      st.drops[drop]++
      if (observe) this.emitPacket('in', bytes, ip ? d : undefined, seg, undefined, drop)
      return
    }
    const src = ip!.src
    const dst = ip!.dst
    const tcp = seg!
    const conn = this.table.lookup(dst, tcp.dstPort, src, tcp.srcPort)
    // Our own send heard back (a raw socket on loopback): it leaves from our side of one of our 4-tuples,
    // which nobody else may use. Checked after the forward lookup, so two connections of ours joined over
    // loopback still reach each other.
    if (conn === undefined && this.isOurs(src) && this.table.lookup(src, tcp.srcPort, dst, tcp.dstPort) !== undefined) {
      // Not shown to observers: it was shown once already, as it left.
      st.drops['own-echo']++
      return
    }
    if (csum !== undefined) this.countChecksum(csum)
    if (conn !== undefined) {
      if (observe) this.emitPacket('in', bytes, d, tcp, conn, undefined)
      conn.tcb.process(this.nowUs, tcp)
      this.afterSegment(conn)
      return
    }
    const pl = this.ports.get(tcp.dstPort)
    if (pl !== undefined && (pl.localAddr === undefined || addrEq(pl.localAddr, dst))) {
      if (observe) this.emitPacket('in', bytes, d, tcp, undefined, undefined)
      this.toListener(pl, src, dst, tcp)
      return
    }
    if (this.ownsPortsOnly) {
      // The kernel's 4-tuple (its connection, its listener, or nobody's — the kernel answers that itself).
      st.drops['not-our-port']++
      if (observe) this.emitPacket('in', bytes, d, tcp, undefined, 'not-our-port')
      return
    }
    st.drops['closed-port']++
    if (observe) this.emitPacket('in', bytes, d, tcp, undefined, 'closed-port')
    if (this.rstClosedPorts) {
      // RFC 9293 §3.10.7.1: "If the state is CLOSED (i.e., TCB does not exist) ... a reset is sent."
      const r = rstForClosed(tcp)
      if (r !== undefined) this.transmit({ src: dst, dst: src }, r, undefined)
    }
  }

  /**
   * What to do with a TCP checksum that did not verify. The kernel's word comes first where the device
   * has one: 'partial' (TP_STATUS_CSUMNOTREADY) says the sender left the field to offload and nobody filled
   * it in, whatever it holds; 'valid' (TP_STATUS_CSUM_VALID) says the kernel verified it. With no word,
   * the heuristic: offloaded when the field holds exactly the pseudo-header sum (`looksOffloaded`).
   */
  private checksumVerdict(looksOffloaded: boolean, meta: ReceiveMeta | undefined): ChecksumVerdict {
    const said = meta?.csum
    if (said === 'partial') return this.acceptOffloaded ? 'offloaded-kernel' : 'drop'
    if (said === 'valid') return 'valid-kernel'
    return looksOffloaded && this.acceptOffloaded ? 'offloaded' : 'drop'
  }

  private countChecksum(v: ChecksumVerdict): void {
    const st = this.stats
    if (v === 'valid-kernel') {
      st.checksumValidKernel++
      return
    }
    if (v === 'offloaded-kernel') st.checksumOffloadedKernel++
    if (st.checksumOffloaded++ === 0) this.emit('checksumOffloaded')
  }

  private toListener(pl: PortListener, src: Uint8Array, dst: Uint8Array, seg: TcpRepr): void {
    const family = dst.length === 4 ? 4 : 6
    let l = family === 4 ? pl.v4 : pl.v6
    if (l === undefined) {
      const o = pl.opts
      l = new Listener({
        localPort: pl.port,
        backlog: o.backlog,
        synCookies: o.synCookies,
        // The MSS follows the family (IPv6 headers are 20 bytes longer), hence one Listener per family.
        config: this.configFor(family, o.tcp),
        onEvent: this.onTcbEvent,
      })
      if (family === 4) pl.v4 = l
      else pl.v6 = l
    }
    // The TCB keeps the tuple: copies, not views of the packet.
    const tuple: FourTuple = { localAddr: dst.slice(), localPort: seg.dstPort, remoteAddr: src.slice(), remotePort: seg.srcPort }
    const r = l.process(this.nowUs, seg, tuple)
    if (r instanceof Tcb) {
      r.onEvent = this.tracing ? this.onTcbEvent : undefined
      const conn = this.register(r, pl)
      this.stats.passiveOpens++
      this.afterSegment(conn)
    } else if (r !== undefined) {
      this.flushTrace(undefined)
      if (this.ownsPortsOnly && (r.flags & RST) !== 0) {
        // A non-SYN on our listening port with no connection of ours: on a shared address it may be the
        // kernel's (or a stale peer's); silence is safe, an RST might reset something we do not own.
        this.stats.resetsSuppressed++
        this.stats.drops.listener++
      } else this.transmit({ src: dst, dst: src }, r, undefined)
    } else {
      this.flushTrace(undefined)
      this.stats.drops.listener++
    }
  }

  private afterSegment(conn: Connection): void {
    this.flush(conn)
    const pl = conn.port
    if (pl !== undefined) this.acceptFrom(pl)
    this.notify(conn)
  }

  private acceptFrom(pl: PortListener): void {
    for (const l of [pl.v4, pl.v6]) {
      if (l === undefined) continue
      for (let t = l.accept(); t !== undefined; t = l.accept()) {
        const conn = this.table.ofTcb(t)
        if (conn === undefined || conn.port !== pl) continue
        conn.port = undefined
        pl.pending.delete(conn)
        if (conn.removed) continue
        if (pl.closed || pl.onConnection === undefined) {
          // Nobody will ever accept it: reset, as Linux does for a closed listener's queue.
          conn.tcb.abort()
          this.flush(conn)
          continue
        }
        pl.onConnection(conn)
      }
    }
  }

  private notify(conn: Connection): void {
    const h = conn.handler
    if (h !== undefined) {
      h.onConnectionUpdate(conn)
    } else if (conn.orphan && !conn.removed && conn.tcb.readable > 0) {
      conn.tcb.abort()
      this.flush(conn)
    }
  }

  // ---------------------------------------------------------------------------------- send path

  /** Drains the TCB's output, then forgets it when CLOSED or schedules its next deadline. */
  private flush(conn: Connection): void {
    if (conn.removed) return
    const tcb = conn.tcb
    const now = this.nowUs
    for (let i = 0; i < MAX_DISPATCH; i++) {
      const seg = tcb.dispatch(now)
      if (seg === undefined) break
      this.transmit(conn.ip, seg, conn)
    }
    const s = tcb.state
    if (s === 'CLOSED') {
      this.unregister(conn)
      return
    }
    // TIME-WAIT belongs to the stack, not the application: it never keeps the process alive.
    if (s === 'TIME-WAIT' && conn.held) this.setHeld(conn, false)
    let t = tcb.pollAt()
    if (conn.orphan && s === 'FIN-WAIT-2') {
      // Linux (tcp_fin_timeout): an orphan waits for the peer's FIN this long, then goes without a RST.
      if (Number.isNaN(conn.orphanAt)) conn.orphanAt = now + this.orphanTimeout
      else if (now >= conn.orphanAt) {
        this.unregister(conn)
        return
      }
      if (t === undefined || conn.orphanAt < t) t = conn.orphanAt
    }
    if (t === undefined) return
    // After a full drain nothing should be due now; if the TCB still says so, retry in 1 ms rather than spin.
    const at = t > now ? t : now + 1000
    // Keep an earlier entry: waking early costs one pollAt; pushing on every later deadline would fill the heap.
    if (conn.heapAt <= at) return
    conn.heapAt = at
    this.heap.push(at, conn)
    if (this.heap.size > 2 * this.table.size + 64) this.compactHeap()
  }

  private compactHeap(): void {
    this.heap.compact((at, c) => c.heapAt === at && !c.removed)
  }

  private transmit(ip: IpHeaderFields, seg: TcpRepr, conn: Connection | undefined): void {
    const st = this.stats
    // An observer that sends from inside a 'packet' event must not overwrite the packet being sent.
    const nested = this.txBusy
    const buf = nested ? new Uint8Array(this.txBuf.length) : this.txBuf
    this.txBusy = true
    try {
      let n: number
      try {
        n = emitTcpPacket(ip, seg, buf, 0)
      } catch (e) {
        st.sendErrors++
        this.emit('sendError', e as Error)
        return
      }
      let pkt: Uint8Array
      if (nested) pkt = buf.subarray(0, n)
      else pkt = this.txViews[n] ??= buf.subarray(0, n)
      st.packetsOut++
      st.bytesOut += n
      if (seg.flags & RST) st.resetsSent++
      if (this.observing) {
        let d: DecodedPacket | undefined
        try {
          d = decodeIp(pkt)
        } catch {
          d = undefined
        }
        this.emitPacket('out', pkt, d, seg, conn, undefined)
      }
      try {
        this.device.send(pkt)
      } catch (e) {
        st.sendErrors++
        this.emit('sendError', e as Error)
      }
    } finally {
      this.txBusy = nested
    }
  }

  private emitPacket(
    dir: 'in' | 'out',
    bytes: Uint8Array,
    decoded: DecodedPacket | undefined,
    tcp: TcpRepr | undefined,
    conn: Connection | undefined,
    drop: IfaceDropReason | undefined,
  ): void {
    this.emit('packet', { dir, bytes, decoded, tcp, now: this.nowUs, conn, drop })
  }

  // ---------------------------------------------------------------------------------- timer

  /** Points the one real timer at the heap's earliest entry (called once per entry point). */
  private arm(): void {
    const heap = this.heap
    // Stale entries on top would only cause empty wake-ups (and keep a timer for closed connections).
    while (heap.size > 0 && heap.peekItem()!.heapAt !== heap.peekTime()) heap.pop()
    const top = heap.peekTime()
    const ref = this.heldCount > 0
    if (top === this.timerAt) {
      if (this.timerHandle !== undefined && ref !== this.timerRef) {
        this.scheduler.setRef?.(this.timerHandle, ref)
        this.timerRef = ref
      }
      return
    }
    this.disarm()
    if (top === Infinity) return
    this.timerAt = top
    this.timerHandle = this.scheduler.setTimer(this.onTimer, top)
    this.timerRef = ref
    if (!ref) this.scheduler.setRef?.(this.timerHandle, false)
  }

  private disarm(): void {
    if (this.timerHandle !== undefined) this.scheduler.clearTimer(this.timerHandle)
    this.timerHandle = undefined
    this.timerAt = Infinity
  }

  // ---------------------------------------------------------------------------------- table

  private register(tcb: Tcb, pl: PortListener | undefined): Connection {
    const conn = new Connection(this, tcb)
    const t = tcb.tuple
    this.table.add(conn)
    this.portUse.set(t.localPort, (this.portUse.get(t.localPort) ?? 0) + 1)
    if (pl !== undefined) {
      conn.port = pl
      pl.pending.add(conn)
    }
    this.setHeld(conn, true)
    this.flushTrace(tcb)
    return conn
  }

  private unregister(conn: Connection): void {
    if (conn.removed) return
    conn.removed = true
    conn.heapAt = NaN
    this.table.remove(conn)
    const p = conn.tcb.tuple.localPort
    const u = (this.portUse.get(p) ?? 1) - 1
    if (u === 0) this.portUse.delete(p)
    else this.portUse.set(p, u)
    if (conn.port !== undefined) {
      conn.port.pending.delete(conn)
      conn.port = undefined
    }
    this.setHeld(conn, false)
  }

  private isOurs(a: Uint8Array): boolean {
    const addrs = this.addrs
    for (let i = 0; i < addrs.length; i++) if (addrEq(addrs[i], a)) return true
    return false
  }

  private pickPort(local: Uint8Array, remote: Uint8Array, rport: number): number {
    const [lo, hi] = this.ephemeral
    const span = hi - lo + 1
    for (let i = 0; i < span; i++) {
      const p = lo + ((this.portCursor + i) % span)
      if (!this.portUse.has(p) && !this.ports.has(p)) {
        this.portCursor = (p - lo + 1) % span
        return p
      }
    }
    // Every port is in use by some connection: share one whose 4-tuple with this peer is free (as Linux).
    for (let i = 0; i < span; i++) {
      const p = lo + ((this.portCursor + i) % span)
      if (!this.ports.has(p) && this.table.lookup(local, p, remote, rport) === undefined) {
        this.portCursor = (p - lo + 1) % span
        return p
      }
    }
    throw new NetError('EADDRNOTAVAIL', `no ephemeral port free in ${lo}..${hi} for ${formatIp(remote)}:${rport}`)
  }

  private pickListenPort(): number {
    const [lo, hi] = this.ephemeral
    const span = hi - lo + 1
    for (let i = 0; i < span; i++) {
      const p = lo + ((this.portCursor + i) % span)
      if (!this.portUse.has(p) && !this.ports.has(p)) {
        this.portCursor = (p - lo + 1) % span
        return p
      }
    }
    throw new NetError('EADDRINUSE', `no free port in ${lo}..${hi}`)
  }

  /** The TCB config for a family: defaults, then per-call options, with the MSS clamped to the device MTU. */
  private configFor(family: 4 | 6, extra: Partial<TcpConfig> | undefined): Partial<TcpConfig> {
    const c: Partial<TcpConfig> = { ...this.tcpDefaults, ...extra }
    // RFC 9293 §3.7.1: the MSS we announce is what fits the link: MTU less the IP and TCP fixed headers.
    const fit = this.device.mtu - (family === 4 ? 40 : 60)
    c.mss = Math.max(64, Math.min(c.mss ?? DEFAULT_TCP_CONFIG.mss, fit))
    return c
  }

  // ---------------------------------------------------------------------------------- tracing

  private setTracing(on: boolean): void {
    if (this.tracing === on) return
    this.tracing = on
    for (const c of this.connections()) c.tcb.onEvent = on ? this.onTcbEvent : undefined
  }

  private readonly onTcbEvent = (ev: TraceEvent, source: unknown): void => {
    if (!this.tracing) return
    const conn = this.table.ofTcb(source as Tcb)
    if (conn !== undefined) this.emit('trace', ev, conn)
    // Events from inside Tcb.connect or Listener.process, before the connection exists: held until it does.
    else this.pendingTrace.push(ev, source as Tcb)
  }

  /** Emits held trace events: those of `tcb` with its connection, and any others without one. */
  private flushTrace(tcb: Tcb | undefined): void {
    const p = this.pendingTrace
    if (p.length === 0) return
    const conn = tcb !== undefined ? this.table.ofTcb(tcb) : undefined
    const events = p.splice(0, p.length)
    for (let i = 0; i < events.length; i += 2) {
      const src = events[i + 1] as Tcb
      this.emit('trace', events[i] as TraceEvent, src === tcb ? conn : this.table.ofTcb(src))
    }
  }
}
