/**
 * A one-line progress bar for long reads (bytes read of the file size), redrawn in place with `\r` at most
 * every `intervalMs`. Callers show it only when its stream is a terminal.
 */

/** Where the bar is drawn (process.stderr, or a fake in tests). */
export interface ProgressSink {
  write(s: string): unknown
  /** Terminal width; default 80. */
  columns?: number
}

/** Options of {@link ProgressBar}. */
export interface ProgressOptions {
  /** Milliseconds between redraws (default 100). */
  intervalMs?: number
  /** Clock in ms, for tests (default Date.now). */
  now?: () => number
  /** Text before the bar (default "reading"). */
  label?: string
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB']

/** Bytes in decimal units with one decimal above bytes: "512 B", "1.5 MB". */
export function bytesText(n: number): string {
  let i = 0
  let v = n
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000
    i++
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${UNITS[i]}`
}

/** The bar: `update(bytes)` as data is read, `done()` to erase it. */
export class ProgressBar {
  private last = -Infinity
  private shown = false
  private readonly intervalMs: number
  private readonly now: () => number
  private readonly label: string

  constructor(
    private readonly sink: ProgressSink,
    private readonly total: number,
    opts: ProgressOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 100
    this.now = opts.now ?? Date.now
    this.label = opts.label ?? 'reading'
  }

  /** The line for `bytes` read (without the leading `\r`). */
  line(bytes: number): string {
    const frac = this.total > 0 ? Math.min(1, bytes / this.total) : 1
    const pct = `${Math.floor(frac * 100)}%`.padStart(4)
    const tail = `${pct}  ${bytesText(bytes)} / ${bytesText(this.total)}`
    const width = Math.max(10, Math.min(40, (this.sink.columns ?? 80) - this.label.length - tail.length - 6))
    const filled = Math.round(frac * width)
    return `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${tail}`
  }

  /** Redraws if `intervalMs` passed since the last draw (always for the final byte). */
  update(bytes: number): void {
    const t = this.now()
    if (t - this.last < this.intervalMs && bytes < this.total) return
    this.last = t
    this.shown = true
    this.sink.write(`\r${this.line(bytes)}\x1b[K`)
  }

  /** Erases the bar, leaving the cursor at the start of an empty line. */
  done(): void {
    if (this.shown) this.sink.write('\r\x1b[K')
    this.shown = false
  }
}
