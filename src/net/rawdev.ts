/**
 * A Device over `raw-socket` (IP medium): whole IPv4/IPv6 packets out and in, the kernel owning the
 * address (so an RST guard is needed, see rstguard.ts).
 *
 * IPv4: a raw TCP socket with IP_HDRINCL (raw(7)): we write the whole header (Linux still fills the
 * checksum, and the id when 0) and receive whole packets, header included.
 *
 * IPv6: raw IPv6 sockets never hand the header over (RFC 3542 §3). Sending uses IPV6_HDRINCL (Linux ≥ 4.5,
 * option 36), so the stack's header goes out as written. Receiving gives only the TCP segment and its
 * source address — `raw-socket` has no bind() and no recvmsg() for IPV6_RECVPKTINFO — so the device
 * synthesizes the 40-byte header with `localAddress` as destination (hop limit `hopLimit`, traffic class and
 * flow label 0) and keeps only segments whose TCP checksum verifies against that pseudo-header: a segment
 * for another address of the host fails it and is dropped as foreign. The header is written into the
 * receive slab right in front of the segment, so nothing is copied.
 *
 * Received packets are carved out of 1 MB slabs (recv goes straight into the slab, up to `batch` packets
 * per readable event), so each belongs to the handler and nothing is copied; sends are synchronous
 * `sendto`s straight from the caller's buffer, copied into a queue only when the socket would block.
 * Every packet sent carries SO_MARK {@link TCPLAB_PACKET_MARK}, which the RST guard lets through.
 * Malformed input is dropped and counted, never thrown.
 */
import { finishChecksum, IPPROTO_TCP, isOffloadedChecksum, onesSum, pseudoHeaderSum } from '../tcp/checksum.js'
import { WireError } from '../tcp/errors.js'
import { formatIp, parseIp } from './addr.js'
import { DEFAULT_MTU, type Device, type DeviceStats, type ErrorHandler, type ReceiveHandler } from './device.js'
import { isPermissionFailure, loadRawSocket, rawPermissionError, type RawSocket, type RawSocketModule } from './native.js'
import { TCPLAB_PACKET_MARK } from './rstguard.js'

/** Linux socket option numbers `raw-socket` does not export (asm-generic/socket.h, linux/in6.h). */
const SO_MARK = 36
const SO_SNDBUFFORCE = 32
/** Send buffer asked for (the kernel doubles it): see the constructor. */
const SEND_BUFFER = 16 << 20
const SO_RCVBUFFORCE = 33
const IPV6_HDRINCL = 36
const SOL_SOCKET = 1

const IPV6_HEADER_LEN = 40
/**
 * Largest packet received whole (default of `maxPacket`): an IPv4 datagram or an IPv6 payload is at most
 * 65535 bytes, which is also the most a GSO/GRO super-segment from a local sender carries. One byte more
 * is read, so a longer one (IPv6 BIG TCP) shows as truncated instead of passing as a shorter packet.
 */
const MAX_PACKET = 65535
const SLAB_SIZE = 1 << 20

/**
 * Open devices, reachable from here until closed. `raw-socket` stops its poll handle when its socket
 * object is collected, so a listener that only waits — nothing else referencing its stack — would lose
 * its socket to the garbage collector and the process would exit mid-run.
 */
const openDevices = new Set<RawSocketDevice>()

const NOOP = (): void => {}

/** Packets queued behind a busy socket at most (like a qdisc's limit). */
const MAX_QUEUED = 256

/** Options of {@link openRawDevice}. */
export interface RawDeviceOptions {
  family: 4 | 6
  /** IP protocol of the socket; only TCP (6) is supported. */
  protocol?: 6
  /**
   * The local address tcplab speaks from. Required for IPv6 (destination of the synthesized header);
   * for IPv4 optional, and when given only packets to it are delivered (others are counted as foreign).
   */
  localAddress?: string
  /** Default 1500. */
  mtu?: number
  /** Bind to this interface (SO_BINDTODEVICE): only its traffic is received. */
  iface?: string
  /** Packets read per readable event at most (default 64). */
  batch?: number
  /** Hop limit written into synthesized IPv6 headers (the real one is not available; default 64). */
  hopLimit?: number
  /**
   * Largest packet received whole, in bytes (default 65535, enough for any super-segment). A longer one is
   * counted in `truncated` and dropped, never delivered cut short. Smaller values are for tests.
   */
  maxPacket?: number
  /** The `raw-socket` module (default: loaded lazily), for tests. */
  rawSocket?: RawSocketModule
}

/** Counters of a raw device. */
export interface RawDeviceStats extends DeviceStats {
  /** Received packets too short or inconsistent to be IP/TCP. */
  malformed: number
  /**
   * Received packets not for `localAddress`: IPv4 by destination; IPv6 by a TCP checksum that fails
   * against it (another address of this host — or a corrupted segment, which the stack would drop anyway).
   */
  foreign: number
  /** Sends that found the socket busy and waited in the queue. */
  queued: number
  /** Received packets longer than the receive buffer (`maxPacket`): cut short by recv, so dropped. */
  truncated: number
  /**
   * Received IPv6 segments whose TCP checksum held only the pseudo-header sum a local sender's checksum
   * offload leaves (accepted: the sum is the one for our address, so they are ours). IPv4 packets are
   * passed on as they are and counted by the interface.
   */
  checksumOffloaded: number
}

/** A raw-socket device. */
export interface RawDevice extends Device {
  readonly family: 4 | 6
  readonly localAddress: string | undefined
  onError(handler: ErrorHandler): void
  /**
   * Sets a callback run when the socket turns readable, before its packets are read and handed up (one
   * at a time: a later call replaces it): the earliest moment the process sees them, for wire stamps.
   */
  onWake(handler: () => void): void
  stats(): RawDeviceStats
}

const isWouldBlock = (e: unknown): boolean =>
  /temporarily unavailable|would block|no buffer space/i.test(e instanceof Error ? e.message : String(e))

/**
 * Opens a raw TCP socket device. Throws DEV_ERR_NO_RAW_SOCKET without the addon, DEV_ERR_PERMISSION
 * without CAP_NET_RAW (one line each), ERR_BAD_ARGUMENT for bad options.
 */
export function openRawDevice(opts: RawDeviceOptions): RawDevice {
  return new RawSocketDevice(opts)
}

class RawSocketDevice implements RawDevice {
  readonly medium = 'ip' as const
  readonly mtu: number
  readonly family: 4 | 6
  readonly localAddress: string | undefined
  private readonly local: Uint8Array | undefined
  private readonly sock: RawSocket
  private readonly batch: number
  private readonly hopLimit: number
  private readonly maxPacket: number
  private handler: ReceiveHandler | undefined
  private errorHandler: ErrorHandler | undefined
  private wake: () => void = NOOP
  private closed = false
  /** Sends waiting for the socket (copies), in order; while non-empty, new sends queue behind them. */
  private waiting = 0
  private slab = new Uint8Array(SLAB_SIZE)
  private slabOff = 0
  private readonly counters: RawDeviceStats = {
    sent: 0, received: 0, dropped: 0, sendErrors: 0, malformed: 0, foreign: 0, queued: 0, truncated: 0, checksumOffloaded: 0,
  }

  constructor(opts: RawDeviceOptions) {
    const { family, protocol = 6, mtu = DEFAULT_MTU, batch = 64, hopLimit = 64, maxPacket = MAX_PACKET } = opts
    if (family !== 4 && family !== 6) throw new WireError('ERR_BAD_ARGUMENT', `family must be 4 or 6, got ${String(family)}`)
    if (protocol !== 6) throw new WireError('ERR_BAD_ARGUMENT', `only TCP (protocol 6) is supported, got ${String(protocol)}`)
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new WireError('ERR_BAD_ARGUMENT', `mtu must be 68..65535, got ${mtu}`)
    this.family = family
    this.mtu = mtu
    this.batch = Math.max(1, batch)
    this.hopLimit = hopLimit
    if (!Number.isInteger(maxPacket) || maxPacket < 68 || maxPacket > MAX_PACKET) {
      throw new WireError('ERR_BAD_ARGUMENT', `maxPacket must be 68..${MAX_PACKET}, got ${maxPacket}`)
    }
    this.maxPacket = maxPacket
    if (opts.localAddress !== undefined) {
      const a = parseIp(opts.localAddress)
      if (a.length !== (family === 4 ? 4 : 16)) {
        throw new WireError('ERR_BAD_ARGUMENT', `local address ${opts.localAddress} is not IPv${family}`)
      }
      this.local = a
      this.localAddress = formatIp(a)
    } else if (family === 6) {
      throw new WireError('ERR_BAD_ARGUMENT', 'an IPv6 raw device needs localAddress (the kernel does not report destinations)')
    }
    const raw = opts.rawSocket ?? loadRawSocket()
    try {
      this.sock = raw.createSocket({
        protocol: IPPROTO_TCP,
        addressFamily: family === 4 ? raw.AddressFamily.IPv4 : raw.AddressFamily.IPv6,
      })
    } catch (e) {
      if (isPermissionFailure(e)) throw rawPermissionError()
      throw new WireError('DEV_ERR_IO', `cannot open a raw IPv${family} socket: ${e instanceof Error ? e.message : String(e)}`)
    }
    try {
      this.configure(raw, opts)
    } catch (e) {
      this.sock.close()
      throw e
    }
    this.sock.on('error', (e: Error) => this.fail(e))
    const wrap = this.sock.wrap
    if (wrap !== undefined && typeof wrap.recv === 'function') {
      // Read straight into the slab, many packets per wakeup, instead of raw-socket's one-at-a-time
      // reads into a single shared buffer.
      wrap.removeAllListeners('recvReady')
      wrap.on('recvReady', () => this.drain())
    } else {
      this.sock.on('message', (buf: Uint8Array, source: string) => this.copyIn(buf, source))
    }
    openDevices.add(this)
  }

  private configure(raw: RawSocketModule, opts: RawDeviceOptions): void {
    const s = this.sock
    if (this.family === 4) s.setOption(raw.SocketLevel.IPPROTO_IP, raw.SocketOption.IP_HDRINCL, 1)
    else {
      try {
        s.setOption(raw.SocketLevel.IPPROTO_IPV6, IPV6_HDRINCL, 1)
      } catch (e) {
        throw new WireError('DEV_ERR_IO', `this kernel cannot send whole IPv6 packets (IPV6_HDRINCL, Linux ≥ 4.5): ${String(e)}`)
      }
    }
    try {
      s.setOption(SOL_SOCKET, SO_MARK, TCPLAB_PACKET_MARK)
    } catch {
      // SO_MARK needs CAP_NET_ADMIN; without it no RST guard can be installed either, so nothing depends on it.
    }
    try {
      // A large send buffer: packets to a next hop the kernel is still resolving wait in its neighbour queue
      // charged to this socket (up to ~3 s, then dropped). A SYN flood from spoofed on-link sources parks a
      // SYN+ACK per SYN there; with the default ~200 KB every later send, a real client's included, would
      // block until the flood ended. The kernel holds the memory only while packets are parked.
      s.setOption(SOL_SOCKET, SO_SNDBUFFORCE, SEND_BUFFER)
    } catch {
      // Without CAP_NET_ADMIN the default buffer still works; it only blocks sooner behind unresolved hops.
    }
    try {
      s.setOption(SOL_SOCKET, SO_RCVBUFFORCE, 4 << 20)
    } catch {
      try {
        s.setOption(SOL_SOCKET, raw.SocketOption.SO_RCVBUF, 4 << 20)
      } catch {
        // The default buffer still works, it only drops sooner under bursts.
      }
    }
    if (opts.iface !== undefined) {
      const name = Buffer.from(`${opts.iface}\0`)
      s.setOption(SOL_SOCKET, raw.SocketOption.SO_BINDTODEVICE ?? 25, name, name.length)
    }
  }

  /** A window of the slab big enough for any packet (plus room for a synthesized IPv6 header). */
  private window(): number {
    if (this.slabOff + IPV6_HEADER_LEN + this.maxPacket + 8 > this.slab.length) {
      // Earlier packets keep the old slab alive as long as the stack holds them.
      this.slab = new Uint8Array(SLAB_SIZE)
      this.slabOff = 0
    }
    return this.slabOff
  }

  private drain(): void {
    this.wake()
    const wrap = this.sock.wrap!
    for (let i = 0; i < this.batch && !this.closed; i++) {
      const off = this.window()
      const at = this.family === 6 ? off + IPV6_HEADER_LEN : off
      let got = -1
      let source = ''
      try {
        wrap.recv(this.slab.subarray(at, at + this.maxPacket + 1), (_b, bytes, src) => {
          got = bytes
          source = src
        })
      } catch (e) {
        if (!isWouldBlock(e)) this.fail(e instanceof Error ? e : new Error(String(e)))
        return
      }
      if (got < 0) return
      const slab = this.slab
      // Keep the slab 8-byte aligned for the next packet.
      this.slabOff = (at + got + 7) & ~7
      this.accept(slab, off, at, got, source)
    }
  }

  /** The fallback path (no access to raw-socket's wrap): copy out of raw-socket's shared buffer. */
  private copyIn(buf: Uint8Array, source: string): void {
    this.wake()
    const off = this.window()
    const at = this.family === 6 ? off + IPV6_HEADER_LEN : off
    const n = Math.min(buf.length, this.maxPacket + 1)
    this.slab.set(buf.subarray(0, n), at)
    const slab = this.slab
    this.slabOff = (at + n + 7) & ~7
    this.accept(slab, off, at, n, source)
  }

  private accept(slab: Uint8Array, off: number, at: number, len: number, source: string): void {
    if (len > this.maxPacket) {
      // recv cut it to the buffer: what is left is not the packet, and must never pass for data.
      this.counters.truncated++
      this.counters.dropped++
      return
    }
    const packet = this.family === 4 ? this.checkV4(slab, at, len) : this.buildV6(slab, off, at, len, source)
    if (packet === undefined) return
    const h = this.handler
    if (h === undefined) {
      this.counters.dropped++
      return
    }
    this.counters.received++
    h(packet)
  }

  private checkV4(b: Uint8Array, at: number, len: number): Uint8Array | undefined {
    const ihl = (b[at] & 0x0f) * 4
    const total = len >= 4 ? (b[at + 2] << 8) | b[at + 3] : 0
    if (len < 20 || b[at] >> 4 !== 4 || ihl < 20 || total < ihl || total > len) {
      this.counters.malformed++
      this.counters.dropped++
      return undefined
    }
    const l = this.local
    if (l !== undefined && (b[at + 16] !== l[0] || b[at + 17] !== l[1] || b[at + 18] !== l[2] || b[at + 19] !== l[3])) {
      this.counters.foreign++
      this.counters.dropped++
      return undefined
    }
    // Ethernet padding of a short frame may follow the datagram: the header's length is the truth.
    return b.subarray(at, at + total)
  }

  private buildV6(b: Uint8Array, off: number, at: number, len: number, source: string): Uint8Array | undefined {
    let src: Uint8Array
    try {
      src = parseIp(source.split('%')[0])
    } catch {
      src = new Uint8Array(0)
    }
    if (len < 20 || src.length !== 16) {
      this.counters.malformed++
      this.counters.dropped++
      return undefined
    }
    const dst = this.local!
    // The TCP checksum (RFC 8200 §8.1) over the pseudo-header with our address: a segment for another
    // address of this host does not verify.
    const sum = onesSum(b, at, at + len, pseudoHeaderSum(src, dst, IPPROTO_TCP, len))
    if (finishChecksum(sum) !== 0) {
      // A local sender's checksum offload leaves only the pseudo-header sum, which names the addresses
      // just as well: for our address it is ours, and the interface accepts it as offloaded.
      if (!isOffloadedChecksum((b[at + 16] << 8) | b[at + 17], src, dst, IPPROTO_TCP, len)) {
        this.counters.foreign++
        this.counters.dropped++
        return undefined
      }
      this.counters.checksumOffloaded++
    }
    // RFC 8200 §3: version 6, traffic class 0, flow label 0, payload length, next header, hop limit.
    b[off] = 0x60
    b[off + 1] = 0
    b[off + 2] = 0
    b[off + 3] = 0
    b[off + 4] = len >>> 8
    b[off + 5] = len & 0xff
    b[off + 6] = IPPROTO_TCP
    b[off + 7] = this.hopLimit
    b.set(src, off + 8)
    b.set(dst, off + 24)
    return b.subarray(off, at + len)
  }

  send(packet: Uint8Array): void {
    if (this.closed) throw new WireError('DEV_ERR_CLOSED', 'raw device is closed')
    const dst = this.destinationOf(packet)
    if (packet.length > this.mtu) {
      this.counters.sendErrors++
      throw new WireError('ERR_BAD_ARGUMENT', `packet of ${packet.length} bytes exceeds the MTU ${this.mtu}`)
    }
    const wrap = this.sock.wrap
    if (this.waiting === 0 && wrap !== undefined) {
      try {
        wrap.send(packet, 0, packet.length, dst, NOOP)
        this.counters.sent++
        return
      } catch (e) {
        if (!isWouldBlock(e)) {
          this.counters.sendErrors++
          this.fail(e instanceof Error ? e : new Error(String(e)))
          return
        }
      }
    }
    // The socket is busy (or raw-socket's internals are not reachable): queue a copy behind the others,
    // up to a bound — past it, drop and count, as a full qdisc does (TCP retransmits what matters). An
    // unbounded queue let a SYN flood from unresolvable spoofed sources starve real connections.
    if (this.waiting >= MAX_QUEUED) {
      this.counters.sendErrors++
      return
    }
    this.counters.queued++
    this.waiting++
    const copy = Buffer.from(packet)
    this.sock.send(copy, 0, copy.length, dst, (err) => {
      this.waiting--
      if (err) {
        this.counters.sendErrors++
        this.fail(err)
      } else this.counters.sent++
    })
  }

  private lastDst4 = -1
  private lastDst4Text = ''

  /** The destination address of an outgoing packet, checking that it is one of our family. */
  private destinationOf(p: Uint8Array): string {
    if (this.family === 4) {
      if (p.length < 20 || p[0] >> 4 !== 4) throw new WireError('ERR_BAD_ARGUMENT', 'raw IPv4 device: not an IPv4 packet')
      // one peer in practice: reuse its text instead of building it per packet
      const key = ((p[16] << 24) | (p[17] << 16) | (p[18] << 8) | p[19]) >>> 0
      if (key !== this.lastDst4) {
        this.lastDst4 = key
        this.lastDst4Text = `${p[16]}.${p[17]}.${p[18]}.${p[19]}`
      }
      return this.lastDst4Text
    }
    if (p.length < IPV6_HEADER_LEN || p[0] >> 4 !== 6) {
      throw new WireError('ERR_BAD_ARGUMENT', 'raw IPv6 device: not an IPv6 packet')
    }
    return formatIp(p.subarray(24, 40))
  }

  private fail(e: Error): void {
    const h = this.errorHandler
    if (h !== undefined) queueMicrotask(() => h(e))
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

  stats(): RawDeviceStats {
    return { ...this.counters }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    openDevices.delete(this)
    this.sock.close()
  }
}
