/**
 * The neighbour cache shared by ARP and NDP: IP → MAC with timeouts, and resolutions under way, on one
 * clock (`now` and `timers`, injectable so tests run in virtual time).
 */
import { WireError } from '../../tcp/errors.js'
import { sameBytes } from './bytes.js'

/** setTimeout/clearTimeout, injectable so resolution can be tested without waiting. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
}

/** Timing and bounds of neighbor resolution. */
export interface NeighborOptions {
  /** How long a learned MAC is trusted (default 60 s; RFC 1122 §2.3.2.1 asks for a timeout). */
  ttlMs?: number
  /** Wait between solicitations (default 1 s, RFC 1122 §2.3.2.1: at most one per second per address). */
  retryMs?: number
  /** Solicitations before giving up (default 3, like RFC 4861's MAX_MULTICAST_SOLICIT). */
  maxTries?: number
  /**
   * Most entries kept (default 1024), so hostile input cannot grow the cache unbounded. When full, the
   * least recently used entry goes — one only seen as the source of an IP packet before any confirmed by
   * ARP or NDP (see {@link NeighborCache.learn}).
   */
  maxEntries?: number
  /**
   * Most resolutions under way at once (default 256); past it a new one fails at once with
   * DEV_ERR_UNRESOLVED, so a flood from spoofed sources cannot hold a timer per source (Linux bounds
   * incomplete entries with the rest by gc_thresh3). Resolutions under way never displace a known entry.
   */
  maxPending?: number
  /** Clock in ms (default Date.now). */
  now?: () => number
  /** Timers (default the global ones). */
  timers?: Timers
}

/**
 * How an entry was learned. 'confirmed': from ARP or NDP — a reply to our solicitation, or the neighbour's
 * own request or solicitation for our address (RFC 826 "Packet Reception", RFC 4861 §7.2.3). 'seen': only
 * as the link-layer source of an IP packet unicast to us, which anyone can spoof from any address.
 */
export type NeighborEvidence = 'confirmed' | 'seen'

/** Counters of a neighbour cache. */
export interface NeighborStats {
  /** Entries now (fresh or not), of which confirmed by ARP/NDP. */
  entries: number
  confirmed: number
  /** Resolutions under way now. */
  pending: number
  /** Entries dropped to make room (only-seen ones first). */
  evicted: number
  /** Resolutions refused at once because maxPending were under way. */
  refused: number
  /** Resolutions that got no answer after maxTries solicitations. */
  failed: number
}

/** Bytes of each MAC slab (4096 MACs). */
const MAC_SLAB = 6 * 4096

interface Entry {
  mac: Uint8Array
  at: number
}

interface Pending {
  tries: number
  timer: unknown
  waiters: { resolve: (mac: Uint8Array) => void; reject: (e: Error) => void }[]
}

/**
 * A cache of IP → MAC with timeouts and pending resolutions. Keys are addresses in text form.
 *
 * Two classes of entry, each kept in least-recently-used order (a Map's insertion order; a hit moves the
 * entry to the end): confirmed ones and ones only seen. A flood from spoofed sources fills the second
 * class and churns in it; it can push out a confirmed neighbour only once no seen-only entry is left, and
 * a resolution under way (an address nobody may ever answer for) displaces no entry at all: it is bounded
 * on its own by maxPending. Linux keeps incomplete and reachable entries in one table bounded by
 * gc_thresh3 and prefers to collect unreferenced ones; the split here is the same idea made explicit.
 */
export class NeighborCache {
  private readonly confirmed = new Map<string, Entry>()
  private readonly seenOnly = new Map<string, Entry>()
  private readonly pending = new Map<string, Pending>()
  private readonly ttlMs: number
  private readonly retryMs: number
  private readonly maxTries: number
  private readonly maxEntries: number
  private readonly maxPending: number
  private readonly now: () => number
  private readonly timers: Timers
  private readonly counters = { evicted: 0, refused: 0, failed: 0 }
  private macSlab = new Uint8Array(MAC_SLAB)
  private macOff = 0

  constructor(
    /** Sends one solicitation for `ip` (attempt counts from 1). */
    private readonly solicit: (ip: string, attempt: number) => void,
    opts: NeighborOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 60_000
    this.retryMs = opts.retryMs ?? 1000
    this.maxTries = opts.maxTries ?? 3
    this.maxEntries = Math.max(1, opts.maxEntries ?? 1024)
    this.maxPending = opts.maxPending ?? 256
    this.now = opts.now ?? Date.now
    this.timers = opts.timers ?? realTimers
  }

  /** The MAC of `ip` if known and not expired (a hit makes the entry the most recently used); read it, never write it. */
  lookup(ip: string): Uint8Array | undefined {
    const table = this.confirmed.has(ip) ? this.confirmed : this.seenOnly
    const e = table.get(ip)
    if (e === undefined) return undefined
    if (this.now() - e.at >= this.ttlMs) {
      table.delete(ip)
      return undefined
    }
    table.delete(ip)
    table.set(ip, e)
    return e.mac
  }

  /** Whether `ip` has an entry (fresh or not) or a resolution under way. */
  has(ip: string): boolean {
    return this.confirmed.has(ip) || this.seenOnly.has(ip) || this.pending.has(ip)
  }

  /** How `ip`'s entry was learned, if there is one (fresh or not). */
  evidence(ip: string): NeighborEvidence | undefined {
    return this.confirmed.has(ip) ? 'confirmed' : this.seenOnly.has(ip) ? 'seen' : undefined
  }

  /**
   * Records `ip` → `mac` (copied) and completes a pending resolution. A sighting ('seen') of a confirmed
   * entry's own MAC refreshes it and leaves it confirmed; one with another MAC replaces it, as RFC 826's
   * merge would, but only as seen: the entry is then only as good as its evidence.
   */
  learn(ip: string, mac: Uint8Array, how: NeighborEvidence = 'confirmed'): void {
    let cls = how
    let e = this.confirmed.get(ip)
    if (e !== undefined) {
      this.confirmed.delete(ip)
      if (how === 'seen' && sameBytes(e.mac, mac)) cls = 'confirmed'
    } else {
      e = this.seenOnly.get(ip)
      if (e !== undefined) this.seenOnly.delete(ip)
      else if (this.confirmed.size + this.seenOnly.size >= this.maxEntries) this.evictOne()
    }
    // The same MAC again refreshes the entry in place; a new one is copied into the MAC slab.
    if (e !== undefined && sameBytes(e.mac, mac)) e.at = this.now()
    else e = { mac: this.copyMac(mac), at: this.now() }
    ;(cls === 'confirmed' ? this.confirmed : this.seenOnly).set(ip, e)
    const p = this.pending.get(ip)
    if (p !== undefined) {
      this.pending.delete(ip)
      this.timers.clearTimeout(p.timer)
      for (const w of p.waiters) w.resolve(e.mac)
    }
  }

  /**
   * A copy of `mac` as a view of a shared slab: a flood of new senders then allocates one 24 KiB buffer
   * per 4096 MACs rather than an ArrayBuffer (and its backing store) for each.
   */
  private copyMac(mac: Uint8Array): Uint8Array {
    if (this.macOff + 6 > this.macSlab.length) {
      this.macSlab = new Uint8Array(MAC_SLAB)
      this.macOff = 0
    }
    const v = this.macSlab.subarray(this.macOff, this.macOff + 6)
    v.set(mac.subarray(0, 6))
    this.macOff += 6
    return v
  }

  /** Drops the least recently used seen-only entry, or the least recently used confirmed one if none is left. */
  private evictOne(): void {
    const table = this.seenOnly.size > 0 ? this.seenOnly : this.confirmed
    const oldest = table.keys().next().value
    if (oldest === undefined) return
    table.delete(oldest)
    this.counters.evicted++
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
        this.counters.refused++
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
      this.counters.failed++
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
    this.confirmed.clear()
    this.seenOnly.clear()
  }

  /** Number of entries (expired ones included until looked up). */
  get size(): number {
    return this.confirmed.size + this.seenOnly.size
  }

  /** Number of resolutions under way. */
  get pendingCount(): number {
    return this.pending.size
  }

  /** Counters. */
  stats(): NeighborStats {
    return { entries: this.size, confirmed: this.confirmed.size, pending: this.pending.size, ...this.counters }
  }
}
