/**
 * The neighbour cache shared by ARP and NDP: IP → MAC with timeouts, and resolutions under way, on one
 * clock (`now` and `timers`, injectable so tests run in virtual time).
 */
import { WireError } from '../../tcp/errors.js'

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
