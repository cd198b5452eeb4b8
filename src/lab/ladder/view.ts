/**
 * What a renderer draws of a ladder: every segment of a short one; of a long one (more than `maxRows`, or
 * one whose middle was never kept) the first and the last segments with one marked gap between them, and
 * words that say so. Every renderer draws from this view, so the gap, the counts and the footer agree.
 */
import { DEFAULT_LADDER_ROWS, MAX_TIME_GAP_PX, type LadderExchange, type LadderOptions, type LadderRow } from './model.js'

/** A drawn segment and its 1-based number in the whole connection. */
export interface ViewRow {
  kind: 'row'
  row: LadderRow
  n: number
  /** Extra space before it for time-proportional spacing, in pixels (0 without `timeScale`). */
  spaceBefore: number
  /** The time-proportional space was capped: the time since the previous segment, as text, for a break mark. */
  breakText?: string
}

/** The marked gap: how many segments are not drawn, and their numbers. */
export interface ViewGap {
  kind: 'gap'
  omitted: number
  first: number
  last: number
  text: string
}

/** The ladder as drawn. */
export interface LadderView {
  items: Array<ViewRow | ViewGap>
  /** Segments in the connection (drawn or not), and drawn. */
  total: number
  drawn: number
  /** Undefined when everything is drawn; else one line such as "20000 segments: drawn 1–250 and 19751–20000". */
  elidedNote?: string
}

const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`

/** Milliseconds as "0.048 ms", "1.250 s". */
export function spanText(us: number): string {
  return us >= 1_000_000 ? `${(us / 1_000_000).toFixed(3)} s` : `${(us / 1000).toFixed(3)} ms`
}

/** The view of `ex` under `opts.maxRows` (default {@link DEFAULT_LADDER_ROWS}) and `opts.timeScale`. */
export function ladderView(ex: LadderExchange, opts: LadderOptions = {}): LadderView {
  const rows = ex.rows
  const max = Math.max(2, Math.floor(opts.maxRows ?? DEFAULT_LADDER_ROWS))
  const after = Math.min(Math.max(0, ex.gap?.after ?? rows.length), rows.length)
  const upstream = Math.max(0, ex.gap?.omitted ?? 0)
  let head = after
  let tail = rows.length - after
  if (rows.length > max) {
    // First half and last half; where the kept rows are lopsided around an upstream gap, the other side
    // takes the rest.
    const h = Math.ceil(max / 2)
    if (ex.gap === undefined) {
      head = h
      tail = max - h
    } else {
      head = Math.min(h, after)
      tail = Math.min(max - head, rows.length - after)
      head = Math.min(after, max - tail)
    }
  }
  const total = rows.length + upstream
  const omitted = total - head - tail
  const items: Array<ViewRow | ViewGap> = []
  const scale = opts.timeScale !== undefined && opts.timeScale > 0 ? opts.timeScale : 0
  let prevUs: number | undefined
  const push = (row: LadderRow, n: number): void => {
    const item: ViewRow = { kind: 'row', row, n, spaceBefore: 0 }
    if (scale > 0 && prevUs !== undefined) {
      const dtUs = Math.max(0, row.timeUs - prevUs)
      const px = (dtUs / 1000) * scale
      if (px > MAX_TIME_GAP_PX) {
        item.spaceBefore = MAX_TIME_GAP_PX
        item.breakText = `${spanText(dtUs)} later`
      } else item.spaceBefore = px
    }
    prevUs = row.timeUs
    items.push(item)
  }
  for (let i = 0; i < head; i++) push(rows[i], i + 1)
  if (omitted > 0) {
    const first = head + 1
    const last = head + omitted
    const before = rows[head - 1]
    const next = rows[rows.length - tail]
    const span = before !== undefined && next !== undefined ? `, ${spanText(Math.max(0, next.timeUs - before.timeUs))} between the segments either side` : ''
    items.push({ kind: 'gap', omitted, first, last, text: `${count(omitted, 'segment')} not drawn (${first}–${last}${span})` })
    prevUs = undefined // a time-proportional gap across elided segments would mean nothing
  }
  const tailFirstN = head + omitted + 1
  for (let i = 0; i < tail; i++) push(rows[rows.length - tail + i], tailFirstN + i)
  const view: LadderView = { items, total, drawn: head + tail }
  if (omitted > 0) {
    const parts = [head > 0 ? `1–${head}` : '', tail > 0 ? `${total - tail + 1}–${total}` : ''].filter((s) => s !== '')
    view.elidedNote = `long connection, ${count(total, 'segment')}: drawn ${parts.join(' and ')}, ${omitted} in the middle left out`
  }
  return view
}
