/**
 * The interface's clocks: the real one (µs from the monotonic `performance.now()`, timers on Node's
 * `setTimeout`) and a virtual one for tests and simulations, where time moves only when told to. Time is
 * µs as in src/tcp; an `Interface` (iface.ts) and its sockets read one clock and set timers through one scheduler.
 */
import { TimerHeap } from './timerheap.js'

/** Schedules the interface's timer (and sockets' idle timers) at an absolute time of the interface clock. */
export interface TimerScheduler {
  /** Calls `fn` once at (or after) `atUs` on the interface's clock; returns a handle for `clearTimer`. */
  setTimer(fn: () => void, atUs: number): unknown
  /** Cancels a timer that has not fired (a handle that already fired or was cleared is ignored). */
  clearTimer(handle: unknown): void
  /** Whether a pending timer keeps the process alive (Node's ref/unref); optional. */
  setRef?(handle: unknown, ref: boolean): void
}

/** The default clock: µs since the process started, from the monotonic `performance.now()`. */
export function monotonicUs(): number {
  return Math.round(performance.now() * 1000)
}

/** A scheduler over Node's `setTimeout`, converting absolute µs of `clock` to a relative delay in ms. */
export function realScheduler(clock: () => number = monotonicUs): TimerScheduler {
  return {
    setTimer(fn, atUs) {
      // Rounded up: a timer that fires a little early would find nothing due and re-arm at once. Capped
      // at setTimeout's limit (about 24.8 days); firing at the cap just re-arms for the rest.
      const ms = Math.min(0x7fffffff, Math.max(0, Math.ceil((atUs - clock()) / 1000)))
      return setTimeout(fn, ms)
    },
    clearTimer(handle) {
      clearTimeout(handle as NodeJS.Timeout)
    },
    setRef(handle, ref) {
      const t = handle as NodeJS.Timeout
      if (ref) t.ref()
      else t.unref()
    },
  }
}

interface VirtualTimer {
  fn: () => void
  at: number
  live: boolean
}

/**
 * Virtual time for tests and simulations: a clock that moves only when told to, and a scheduler whose
 * timers fire, in time order, as `advance`/`runNext` move the clock past them.
 */
export class VirtualClock implements TimerScheduler {
  private t: number
  private readonly heap = new TimerHeap<VirtualTimer>()
  private live = 0
  /** The clock function to hand to an Interface (µs). */
  readonly clock = (): number => this.t

  constructor(startUs = 0) {
    this.t = startUs
  }

  /** Current virtual time (µs). */
  get now(): number {
    return this.t
  }

  /** Timers set and neither fired nor cleared. */
  get pending(): number {
    return this.live
  }

  /** When the next live timer fires, or undefined when none is pending. */
  nextAt(): number | undefined {
    this.skipDead()
    return this.heap.size > 0 ? this.heap.peekTime() : undefined
  }

  setTimer(fn: () => void, atUs: number): unknown {
    const t: VirtualTimer = { fn, at: atUs, live: true }
    this.heap.push(atUs, t)
    this.live++
    return t
  }

  clearTimer(handle: unknown): void {
    const t = handle as VirtualTimer | undefined
    if (t !== undefined && t.live) {
      t.live = false
      this.live--
    }
  }

  /** Fires the earliest pending timer, moving the clock to its time (never backwards); false when none. */
  runNext(): boolean {
    this.skipDead()
    const t = this.heap.pop()
    if (t === undefined) return false
    t.live = false
    this.live--
    if (t.at > this.t) this.t = t.at
    t.fn()
    return true
  }

  /** Moves the clock to `atUs`, firing every timer due by then in time order; returns how many fired. */
  advanceTo(atUs: number): number {
    let n = 0
    for (;;) {
      this.skipDead()
      if (this.heap.size === 0 || this.heap.peekTime() > atUs) break
      this.runNext()
      n++
    }
    if (atUs > this.t) this.t = atUs
    return n
  }

  /** Moves the clock forward by `us`, firing timers on the way. */
  advance(us: number): number {
    return this.advanceTo(this.t + us)
  }

  private skipDead(): void {
    while (this.heap.size > 0 && !this.heap.peekItem()!.live) this.heap.pop()
  }
}
