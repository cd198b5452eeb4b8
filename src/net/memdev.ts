/**
 * Devices for tests and diagnostics: an in-memory link between two stacks in one process, and middleware
 * that wraps any device — a seeded fault injector (drop, duplicate, reorder, corrupt, delay), a tracer that
 * timestamps every packet, and a tap that writes every packet to a pcap file.
 */
import { WireError } from '../tcp/errors.js'
import type { PcapWriter } from './pcap.js'
import { mulberry32, subSeed, type Prng } from './prng.js'
import {
  DEFAULT_MTU,
  emptyStats,
  type Device,
  type DeviceStats,
  type ErrorHandler,
  type Medium,
  type ReceiveHandler,
  type ReceiveMeta,
} from './device.js'

/** Bytes of an Ethernet header, which the MTU of an Ethernet-medium device does not count. */
const ETH_HEADER_LEN = 14

const closedError = (what: string): WireError => new WireError('DEV_ERR_CLOSED', `${what} is closed`)

/** How a memory pair hands packets over. */
export type MemoryDelivery =
  /** Queue, and deliver everything queued in one microtask (the default: no reentrancy, no timers). */
  | 'microtask'
  /** Queue until `flush()` is called: the test decides when packets arrive. */
  | 'manual'
  /** Deliver inside `send`, before it returns (reentrant: the peer may answer before `send` returns). */
  | 'sync'

/** Options for {@link memoryPair}. */
export interface MemoryPairOptions {
  /** Default 1500. */
  mtu?: number
  /** Default 'ip'. */
  medium?: Medium
  /** Default 'microtask'. */
  delivery?: MemoryDelivery
}

/** One end of an in-memory link. */
export interface MemoryDevice extends Device {
  /** Delivers every packet queued for this end now; returns how many were delivered. */
  flush(): number
  /** Packets queued for this end and not yet delivered. */
  pending(): number
  stats(): DeviceStats
}

class MemoryEnd implements MemoryDevice {
  peer!: MemoryEnd
  private handler: ReceiveHandler | undefined
  private readonly inbox: Uint8Array[] = []
  private scheduled = false
  private closed = false
  private readonly counters = emptyStats()

  constructor(
    readonly medium: Medium,
    readonly mtu: number,
    private readonly delivery: MemoryDelivery,
  ) {}

  send(packet: Uint8Array): void {
    if (this.closed) throw closedError('memory device')
    const limit = this.medium === 'ethernet' ? this.mtu + ETH_HEADER_LEN : this.mtu
    if (packet.length > limit) {
      this.counters.sendErrors++
      throw new WireError('ERR_BAD_ARGUMENT', `packet of ${packet.length} bytes exceeds the ${limit}-byte limit of the link`)
    }
    this.counters.sent++
    // A cable to a closed peer: the packet leaves and is lost.
    if (this.peer.closed) return
    this.peer.enqueue(packet.slice())
  }

  private enqueue(packet: Uint8Array): void {
    if (this.delivery === 'sync') {
      this.deliver(packet)
      return
    }
    this.inbox.push(packet)
    if (this.delivery === 'microtask' && !this.scheduled) {
      this.scheduled = true
      queueMicrotask(() => {
        this.scheduled = false
        this.flush()
      })
    }
  }

  private deliver(packet: Uint8Array): void {
    if (this.closed) return
    const h = this.handler
    if (h === undefined) {
      this.counters.dropped++
      return
    }
    this.counters.received++
    h(packet)
  }

  flush(): number {
    let n = 0
    // Packets queued while delivering (a reply to our own peer's reply) wait for the next flush, so a
    // ping-pong cannot loop here forever.
    const batch = this.inbox.splice(0, this.inbox.length)
    for (const p of batch) {
      this.deliver(p)
      n++
    }
    return n
  }

  pending(): number {
    return this.inbox.length
  }

  onReceive(handler: ReceiveHandler): void {
    this.handler = handler
  }

  onError(_handler: ErrorHandler): void {
    // An in-memory link has no asynchronous errors.
  }

  stats(): DeviceStats {
    return { ...this.counters }
  }

  close(): void {
    this.closed = true
    this.inbox.length = 0
  }
}

/** Two devices joined by an in-memory link: what one sends, the other receives (copied, in order). */
export function memoryPair(opts: MemoryPairOptions = {}): [MemoryDevice, MemoryDevice] {
  const { mtu = DEFAULT_MTU, medium = 'ip', delivery = 'microtask' } = opts
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw new WireError('ERR_BAD_ARGUMENT', `mtu must be an integer 68..65535, got ${mtu}`)
  }
  const a = new MemoryEnd(medium, mtu, delivery)
  const b = new MemoryEnd(medium, mtu, delivery)
  a.peer = b
  b.peer = a
  return [a, b]
}

/**
 * Base of the wrapping devices: passes everything through to `inner`. A wrapper takes over `inner`'s
 * receive handler (set the handler on the outermost device only).
 */
abstract class Middleware implements Device {
  protected handler: ReceiveHandler | undefined
  readonly medium: Medium
  readonly mtu: number

  constructor(protected readonly inner: Device) {
    this.medium = inner.medium
    this.mtu = inner.mtu
    inner.onReceive((p, m) => this.received(p, m))
  }

  /** Hands a received packet up (to the handler set on this wrapper), with the device's meta when still true. */
  protected up(packet: Uint8Array, meta?: ReceiveMeta): void {
    this.handler?.(packet, meta)
  }

  /** A wrapper that may change the bytes (the fault injector) drops `meta`: the kernel spoke of other bytes. */
  protected abstract received(packet: Uint8Array, meta?: ReceiveMeta): void
  abstract send(packet: Uint8Array): void

  onReceive(handler: ReceiveHandler): void {
    this.handler = handler
  }

  onError(handler: ErrorHandler): void {
    this.inner.onError?.(handler)
  }

  stats(): DeviceStats {
    return this.inner.stats?.() ?? emptyStats()
  }

  close(): void {
    this.inner.close()
  }
}

/** Probabilities (0..1) of each fault, applied to each packet independently. */
export interface FaultOptions {
  /** Seed of the PRNG: the same seed and packet sequence give the same faults. */
  seed: number
  /** Probability a packet is lost. */
  drop?: number
  /** Probability a packet is delivered twice. */
  duplicate?: number
  /** Probability a packet is held back and delivered after the next one (or at the end of the turn). */
  reorder?: number
  /** Probability one bit of the packet is flipped. */
  corrupt?: number
  /** Delay every packet by `ms` (plus `jitter`·U[0,1) ms), scheduled with `schedule` (default setTimeout). */
  delay?: { ms: number; jitter?: number; schedule?: (fn: () => void, ms: number) => void }
  /** Which way faults apply: packets sent, packets received, or both (default). */
  direction?: 'out' | 'in' | 'both'
  /** Told about every fault as it happens. */
  onFault?: (event: FaultEvent) => void
}

/** One fault the injector applied. */
export interface FaultEvent {
  /** 'out' for a sent packet, 'in' for a received one. */
  dir: 'out' | 'in'
  /** 0-based index of the packet in its direction. */
  index: number
  action: 'drop' | 'corrupt' | 'duplicate' | 'reorder'
  /** For 'corrupt': the bit flipped (byte·8 + bit, bit 7 = most significant). */
  bit?: number
}

/** Counters of the faults applied, per kind. */
export interface FaultStats {
  /** Packets not dropped (each counted once, whatever else happened to it). */
  passed: number
  dropped: number
  duplicated: number
  reordered: number
  corrupted: number
}

/** A device wrapped by {@link faultInjector}. */
export interface FaultDevice extends Device {
  /** How many faults of each kind were applied so far. */
  faults(): FaultStats
  /** Releases a packet held for reordering now (otherwise the next packet or the end of the turn does). */
  releaseHeld(): void
}

/**
 * One direction's fault decisions. Each packet draws exactly five numbers (drop, corrupt, duplicate,
 * reorder, bit), so packet n's fate depends only on the seed and n, not on earlier outcomes.
 */
class FaultLane {
  private readonly rng: Prng
  /** Delay jitter draws from its own stream so that it never shifts the fault decisions. */
  private readonly jitterRng: Prng
  private index = 0
  private held: { packet: Uint8Array; dup: boolean } | undefined
  private releaseScheduled = false

  constructor(
    seed: number,
    readonly dir: 'out' | 'in',
    private readonly opts: FaultOptions,
    private readonly active: boolean,
    private readonly stats: FaultStats,
    /** Passes a packet on (to the inner device, or up to the handler). */
    private readonly emit: (packet: Uint8Array) => void,
    /** Whether the packet buffer may be modified or kept (received packets) or must be copied (sent ones). */
    private readonly owned: boolean,
  ) {
    this.rng = mulberry32(subSeed(seed, dir))
    this.jitterRng = mulberry32(subSeed(seed, `${dir}-delay`))
  }

  push(packet: Uint8Array): void {
    if (!this.active) {
      this.stats.passed++
      this.out(packet)
      return
    }
    const i = this.index++
    const o = this.opts
    const r = this.rng
    const rDrop = r.next()
    const rCorrupt = r.next()
    const rDup = r.next()
    const rReorder = r.next()
    const rBit = r.nextU32()
    if (rDrop < (o.drop ?? 0)) {
      this.stats.dropped++
      o.onFault?.({ dir: this.dir, index: i, action: 'drop' })
      return
    }
    let p = packet
    let copied = false
    if (rCorrupt < (o.corrupt ?? 0) && p.length > 0) {
      if (!this.owned) {
        p = p.slice()
        copied = true
      }
      const bit = rBit % (p.length * 8)
      p[bit >>> 3] ^= 0x80 >>> (bit & 7)
      this.stats.corrupted++
      o.onFault?.({ dir: this.dir, index: i, action: 'corrupt', bit })
    }
    const dup = rDup < (o.duplicate ?? 0)
    if (dup) {
      this.stats.duplicated++
      o.onFault?.({ dir: this.dir, index: i, action: 'duplicate' })
    }
    this.stats.passed++
    if (this.held === undefined && rReorder < (o.reorder ?? 0)) {
      this.stats.reordered++
      o.onFault?.({ dir: this.dir, index: i, action: 'reorder' })
      this.held = { packet: this.owned || copied ? p : p.slice(), dup }
      if (!this.releaseScheduled) {
        this.releaseScheduled = true
        queueMicrotask(() => {
          this.releaseScheduled = false
          this.release()
        })
      }
      return
    }
    this.out(p, dup)
    this.release()
  }

  release(): void {
    const h = this.held
    if (h === undefined) return
    this.held = undefined
    this.out(h.packet, h.dup)
  }

  private out(p: Uint8Array, dup = false): void {
    const d = this.opts.delay
    if (d === undefined) {
      this.emit(p)
      if (dup) this.emit(this.owned ? p.slice() : p)
      return
    }
    const schedule = d.schedule ?? ((fn: () => void, ms: number) => void setTimeout(fn, ms))
    const q = this.owned ? p : p.slice()
    const wait = d.ms + (d.jitter ?? 0) * this.jitterRng.next()
    schedule(() => this.emit(q), wait)
    if (dup) schedule(() => this.emit(q.slice()), wait)
  }
}

class FaultInjector extends Middleware implements FaultDevice {
  private readonly counters: FaultStats = { passed: 0, dropped: 0, duplicated: 0, reordered: 0, corrupted: 0 }
  private readonly outLane: FaultLane
  private readonly inLane: FaultLane

  constructor(inner: Device, opts: FaultOptions) {
    super(inner)
    for (const k of ['drop', 'duplicate', 'reorder', 'corrupt'] as const) {
      const v = opts[k]
      if (v !== undefined && !(v >= 0 && v <= 1)) {
        throw new WireError('ERR_BAD_ARGUMENT', `fault probability ${k} must be in 0..1, got ${v}`)
      }
    }
    const dir = opts.direction ?? 'both'
    this.outLane = new FaultLane(opts.seed, 'out', opts, dir !== 'in', this.counters, (p) => this.inner.send(p), false)
    this.inLane = new FaultLane(opts.seed, 'in', opts, dir !== 'out', this.counters, (p) => this.up(p), true)
  }

  protected received(packet: Uint8Array): void {
    this.inLane.push(packet)
  }

  send(packet: Uint8Array): void {
    this.outLane.push(packet)
  }

  faults(): FaultStats {
    return { ...this.counters }
  }

  releaseHeld(): void {
    this.outLane.release()
    this.inLane.release()
  }
}

/**
 * Wraps `inner` with seeded faults. Per direction, packet n's fate depends only on the seed and n: drop
 * (nothing else happens), else corrupt (flip one bit), duplicate, and reorder (held until the next packet
 * has passed, or the end of the current turn). Sent packets are copied only when a fault keeps or alters them.
 */
export function faultInjector(inner: Device, opts: FaultOptions): FaultDevice {
  return new FaultInjector(inner, opts)
}

/** Receives each packet a tracer sees; `packet` is only valid during the call (copy it to keep it). */
export type TraceRecorder<T> = (dir: 'in' | 'out', packet: Uint8Array, ts: T) => void

class Tracer<T> extends Middleware {
  constructor(
    inner: Device,
    private readonly clock: () => T,
    private readonly record: TraceRecorder<T>,
  ) {
    super(inner)
  }

  protected received(packet: Uint8Array, meta?: ReceiveMeta): void {
    this.record('in', packet, this.clock())
    this.up(packet, meta)
  }

  send(packet: Uint8Array): void {
    this.record('out', packet, this.clock())
    this.inner.send(packet)
  }
}

/** Wraps `inner` so that every packet sent ('out', before it goes down) and received ('in') is recorded with `clock()`. */
export function tracer<T extends bigint | number>(inner: Device, clock: () => T, record: TraceRecorder<T>): Device {
  return new Tracer(inner, clock, record)
}

/** Nanoseconds since the Unix epoch with sub-millisecond resolution (performance.timeOrigin + now). */
export function epochNs(): bigint {
  const ms = performance.timeOrigin + performance.now()
  const whole = Math.floor(ms)
  return BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6))
}

/**
 * Wraps `inner` so every packet sent and received is written to `writer` (whose link type must match the
 * medium: LINKTYPE_RAW for 'ip', LINKTYPE_ETHERNET for 'ethernet'). `clock` gives epoch nanoseconds.
 */
export function pcapTap(inner: Device, writer: PcapWriter, clock: () => bigint = epochNs): Device {
  return new Tracer(inner, clock, (_dir, packet, ts) => writer.write(packet, ts))
}
