/**
 * The terminal ladder, and the row wording every other renderer shares: flag names, relative sequence
 * numbers (Wireshark's default: seq − own ISN, ack − peer's ISN), compact options and notes.
 */
import type { TcpOption } from '../../tcp/options.js'
import type { LadderExchange, LadderOptions, LadderRow } from './model.js'
import { ladderView } from './view.js'

// ---------------------------------------------------------------------------------------------------------
// Shared wording

const FLAG_NAMES: Record<string, string> = {
  F: 'FIN',
  S: 'SYN',
  R: 'RST',
  P: 'PSH',
  A: 'ACK',
  U: 'URG',
  E: 'ECE',
  C: 'CWR',
}

/** Flag letters as names joined by '+', in FSRPAUEC order ("SA" → "SYN+ACK", "" → "none"). */
export function flagNames(letters: string): string {
  const up = letters.toUpperCase()
  const names: string[] = []
  for (const l of 'FSRPAUEC') if (up.includes(l)) names.push(FLAG_NAMES[l])
  return names.length === 0 ? 'none' : names.join('+')
}

/** What a segment mostly is, for colours: opens, closes, resets, carries data, or only acknowledges. */
export type RowKind = 'syn' | 'fin' | 'rst' | 'data' | 'ack'

/** The kind of a row (RST wins over SYN wins over FIN wins over data). */
export function rowKind(row: LadderRow): RowKind {
  const f = row.flags.toUpperCase()
  if (f.includes('R')) return 'rst'
  if (f.includes('S')) return 'syn'
  if (f.includes('F')) return 'fin'
  if (row.len > 0) return 'data'
  return 'ack'
}

/**
 * The numbers relative values are counted from, per end: the end's ISN when given, else the first
 * sequence number it sent (what Wireshark does when it missed the SYN); undefined when unknown.
 */
export function sequenceBases(ex: LadderExchange): { left: number | undefined; right: number | undefined } {
  const first = (side: 'left' | 'right'): number | undefined => {
    const rows = ex.rows.filter((r) => r.from === side)
    const syn = rows.find((r) => r.flags.toUpperCase().includes('S'))
    return (syn ?? rows[0])?.seq
  }
  return { left: ex.left.isn ?? first('left'), right: ex.right.isn ?? first('right') }
}

/** The seq and ack a row shows: relative by default, as on the wire with `absolute` (ack undefined without ACK). */
export function displayNumbers(
  ex: LadderExchange,
  row: LadderRow,
  opts: LadderOptions = {},
  bases = sequenceBases(ex),
): { seq: number; ack: number | undefined } {
  const own = row.from === 'left' ? bases.left : bases.right
  const peer = row.from === 'left' ? bases.right : bases.left
  const rel = (v: number, base: number | undefined): number =>
    opts.absolute || base === undefined ? v >>> 0 : (v - base) >>> 0
  return { seq: rel(row.seq, own), ack: row.hasAck ? rel(row.ack, peer) : undefined }
}

/** One option, compactly ("mss 1460", "sackOK", "TS val 1 ecr 0", "wscale 7"); NOP and EOL give ''. */
export function optionText(o: TcpOption, peerBase?: number): string {
  switch (o.kind) {
    case 'eol':
    case 'nop':
      return ''
    case 'mss':
      return `mss ${o.value}`
    case 'wscale':
      return `wscale ${o.shift}`
    case 'sackPermitted':
      return 'sackOK'
    case 'sack': {
      // RFC 2018 §3: blocks are in the receiver's (the peer's) sequence space, so relative to its ISN.
      const r = (v: number): number => (peerBase === undefined ? v >>> 0 : (v - peerBase) >>> 0)
      return `sack ${o.blocks.map(([a, b]) => `${r(a)}-${r(b)}`).join(' ')}`
    }
    case 'timestamp':
      return `TS val ${o.value} ecr ${o.echo}`
    case 'unknown':
      return `opt ${o.type} (${o.data.length} byte${o.data.length === 1 ? '' : 's'})`
  }
}

/** The words of one row: the head ("SYN+ACK seq=0 ack=1 len=0 win=65160"), options and notes (each maybe ''). */
export interface RowLabel {
  flags: string
  /** Everything after the flag names on the head line. */
  numbers: string
  options: string
  notes: string
}

/** The label of a row, as every renderer words it. */
export function rowLabel(ex: LadderExchange, row: LadderRow, opts: LadderOptions = {}, bases = sequenceBases(ex)): RowLabel {
  const n = displayNumbers(ex, row, opts, bases)
  const parts = [`seq=${n.seq}`]
  if (n.ack !== undefined) parts.push(`ack=${n.ack}`)
  parts.push(`len=${row.len}`)
  let win = `win=${row.window}`
  if (row.scaledWindow !== undefined && row.scaledWindow !== row.window) win += ` (scaled ${row.scaledWindow})`
  parts.push(win)
  const peerBase = opts.absolute ? undefined : row.from === 'left' ? bases.right : bases.left
  const options = row.options
    .map((o) => optionText(o, peerBase))
    .filter((s) => s !== '')
    .join(', ')
  const notes = [...(row.lost ? ['lost'] : []), ...(row.notes ?? [])].join('; ')
  return { flags: flagNames(row.flags), numbers: parts.join(' '), options, notes }
}

/** Milliseconds since the first row, as "+0.048 ms". */
export function rowTime(ex: LadderExchange, row: LadderRow): string {
  const t0 = ex.rows[0]?.timeUs ?? row.timeUs
  const dt = (row.timeUs - t0) / 1000
  return `${dt < 0 ? '-' : '+'}${Math.abs(dt).toFixed(3)} ms`
}

/** A line saying how numbers are shown, e.g. "relative seq/ack (client ISN 1000, server ISN 5000)". */
export function numbersCaption(ex: LadderExchange, opts: LadderOptions = {}): string {
  if (opts.absolute) return 'absolute seq/ack, as on the wire'
  const b = sequenceBases(ex)
  const isn = (label: string, v: number | undefined): string => `${label} ISN ${v === undefined ? '?' : v >>> 0}`
  return `relative seq/ack (${isn(ex.left.label, b.left)}, ${isn(ex.right.label, b.right)})`
}

/** Terminal columns a string takes: East Asian wide characters count two, combining marks none. */
export function displayWidth(s: string): number {
  let w = 0
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0
    if (c < 0x20 || (c >= 0x7f && c < 0xa0) || (c >= 0x300 && c < 0x370) || c === 0x200b) continue
    w += isWide(c) ? 2 : 1
  }
  return w
}

function isWide(c: number): boolean {
  return (
    (c >= 0x1100 && c <= 0x115f) ||
    (c >= 0x2e80 && c <= 0x303e) ||
    (c >= 0x3041 && c <= 0xa4cf) ||
    (c >= 0xac00 && c <= 0xd7a3) ||
    (c >= 0xf900 && c <= 0xfaff) ||
    (c >= 0xfe30 && c <= 0xfe4f) ||
    (c >= 0xff00 && c <= 0xff60) ||
    (c >= 0xffe0 && c <= 0xffe6) ||
    (c >= 0x1f300 && c <= 0x1f64f) ||
    (c >= 0x20000 && c <= 0x3fffd)
  )
}

/** Wraps text into lines of at most `width` columns, breaking after ", " / "; " or at spaces (hard-cut if needed). */
export function wrapText(text: string, width: number): string[] {
  if (text === '') return []
  const w = Math.max(8, width)
  const words = text.split(' ')
  const lines: string[] = []
  let cur = ''
  for (let word of words) {
    while (displayWidth(word) > w) {
      // A single word longer than a line: flush and cut it.
      if (cur !== '') {
        lines.push(cur)
        cur = ''
      }
      let cut = ''
      for (const ch of word) {
        if (displayWidth(cut + ch) > w) break
        cut += ch
      }
      lines.push(cut)
      word = word.slice(cut.length)
    }
    if (cur === '') cur = word
    else if (displayWidth(cur) + 1 + displayWidth(word) <= w) cur += ' ' + word
    else {
      lines.push(cur)
      cur = word
    }
  }
  if (cur !== '') lines.push(cur)
  return lines
}

// ---------------------------------------------------------------------------------------------------------
// Terminal renderer

// SGR codes by hand rather than util.styleText: newer Node versions make styleText check process.stdout
// itself, and here the caller has already decided (TTY, NO_COLOR) through `color`.
type Style = 'bold' | 'dim' | 'italic' | 'red' | 'green' | 'yellow' | 'blue' | 'magenta' | 'cyan' | 'gray'
const SGR: Record<Style, string> = {
  bold: '1',
  dim: '2',
  italic: '3',
  red: '31',
  green: '32',
  yellow: '33',
  blue: '34',
  magenta: '35',
  cyan: '36',
  gray: '90',
}

const KIND_STYLE: Record<RowKind, Style> = { syn: 'cyan', fin: 'magenta', rst: 'red', data: 'green', ack: 'blue' }

/** A piece of a line: text and the styles it gets when colour is on. */
type Piece = [text: string, ...styles: Style[]]

function join(pieces: Piece[], color: boolean): string {
  let s = ''
  for (const [text, ...styles] of pieces) {
    if (!color || styles.length === 0 || text === '') s += text
    else s += `\x1b[${styles.map((x) => SGR[x]).join(';')}m${text}\x1b[0m`
  }
  return s.replace(/\s+$/, '')
}

const spaces = (n: number): string => ' '.repeat(Math.max(0, n))
const padEnd = (s: string, w: number): string => s + spaces(w - displayWidth(s))

const V = '│'
const H = '─'

/**
 * The ladder for a terminal: the two ends as columns, one arrow per segment with its label above it, the
 * time at the left margin and each end's state after the segment beside its column. Plain text unless
 * `color`; lines fit in `width` (default 100) columns. Ends with a newline.
 */
export function renderText(ex: LadderExchange, opts: LadderOptions = {}): string {
  const color = opts.color === true
  const width = opts.width ?? 100
  const bases = sequenceBases(ex)
  const view = ladderView(ex, opts)
  const drawn = view.items.flatMap((it) => (it.kind === 'row' ? [it.row] : []))
  const timeW = Math.max(0, ...drawn.map((r) => displayWidth(rowTime(ex, r))))
  const stateW = Math.max(0, ...drawn.flatMap((r) => [r.leftState ?? '', r.rightState ?? ''].map(displayWidth)))
  // time, two spaces, left state, a space, │ inner │, a space, right state
  const prefixW = timeW + 2 + stateW + 1
  const inner = Math.max(30, width - prefixW - 2 - 1 - stateW)
  const leftCol = prefixW
  const rightCol = prefixW + 1 + inner
  const out: string[] = []

  /** A line of the ladder body: prefix pieces, the inner pieces (exactly `inner` wide), suffix pieces. */
  const body = (time: Piece, lstate: Piece, lv: Piece, mid: Piece[], rv: Piece, rstate: Piece): string =>
    join(
      [time, [spaces(timeW - displayWidth(time[0]) + 2 + stateW - displayWidth(lstate[0]))], lstate, [' '], lv, ...mid, rv, [' '], rstate],
      color,
    )
  const blank = (): string => body([''], [''], [V, 'gray'], [[spaces(inner)]], [V, 'gray'], [''])

  /** One header line: `l` centred on the left column, `r` on the right one, both clamped to the width. */
  const header = (l: string, r: string, style: Style[]): string => {
    const lw = displayWidth(l)
    const rw = displayWidth(r)
    const ls = Math.max(0, leftCol - Math.floor(lw / 2))
    let rs = Math.min(rightCol - Math.floor(rw / 2), Math.max(width, rightCol + 1) - rw)
    rs = Math.max(rs, ls + lw + 2)
    return join([[spaces(ls)], [l, ...style], [spaces(rs - ls - lw)], [r, ...style]], color)
  }

  if (ex.title) out.push(join([[ex.title, 'bold']], color))
  out.push(join([[numbersCaption(ex, opts), 'dim']], color))
  if (view.elidedNote !== undefined) out.push(join([[view.elidedNote, 'yellow']], color))
  out.push('')
  out.push(header(ex.left.label, ex.right.label, ['bold']))
  out.push(header(ex.left.endpoint, ex.right.endpoint, []))
  out.push(blank())

  const prevState = { left: undefined as string | undefined, right: undefined as string | undefined }
  /** Text centred between the lifelines, wrapped to fit (the gap and time breaks). */
  const centred = (text: string, style: Style, edge: Piece = [V, 'gray']): string[] =>
    wrapText(text, inner - 2).map((t) => {
      const left = Math.floor((inner - displayWidth(t)) / 2)
      return body([''], [''], edge, [[spaces(left)], [t, style], [spaces(inner - left - displayWidth(t))]], edge, [''])
    })
  for (const item of view.items) {
    if (item.kind === 'gap') {
      // The gap: the lifelines break (┆) around a line with the count.
      const dotted = (): string => body([''], [''], ['┆', 'gray'], [[spaces(inner)]], ['┆', 'gray'], [''])
      out.push(dotted())
      out.push(...centred(`⋯ ${item.text} ⋯`, 'yellow', ['┆', 'gray']))
      out.push(dotted())
      out.push(blank())
      continue
    }
    const row = item.row
    // Time-proportional spacing: one extra line per 17 px, as the SVG's line height.
    const extra = Math.round(item.spaceBefore / 17)
    if (item.breakText !== undefined) {
      for (let k = 0; k < Math.floor(extra / 2); k++) out.push(blank())
      out.push(...centred(`≈ ${item.breakText} ≈`, 'gray'))
      for (let k = Math.floor(extra / 2) + 1; k < extra; k++) out.push(blank())
    } else for (let k = 0; k < extra; k++) out.push(blank())
    const kind = rowKind(row)
    const ks = KIND_STYLE[kind]
    const label = rowLabel(ex, row, opts, bases)
    const room = inner - 2
    const head = wrapText(`${label.flags} ${label.numbers}`, room)
    const lines: Piece[][] = head.map((t, j) =>
      j === 0 && t.startsWith(label.flags) ? [[label.flags, 'bold', ks], [t.slice(label.flags.length)]] : [[t]],
    )
    for (const t of wrapText(label.options, room)) lines.push([[t, 'dim']])
    for (const t of wrapText(label.notes, room)) lines.push([[t, 'yellow']])
    for (const pieces of lines) {
      const w = pieces.reduce((a, p) => a + displayWidth(p[0]), 0)
      // Labels hug the sender's column, so the text reads in the direction of the arrow.
      const mid: Piece[] = row.from === 'left' ? [[' '], ...pieces, [spaces(inner - 1 - w)]] : [[spaces(inner - 1 - w)], ...pieces, [' ']]
      out.push(body([''], [''], [V, 'gray'], mid, [V, 'gray'], ['']))
    }
    // The arrow: from the sender's column to the receiver's; a lost segment stops short at ✗.
    const shaft = row.lost ? Math.floor(inner * 0.6) : inner - 1
    let mid: Piece[]
    if (row.from === 'left') {
      mid = row.lost ? [[H.repeat(shaft), ks], ['✗', 'bold', 'red'], [spaces(inner - shaft - 1)]] : [[H.repeat(shaft) + '►', ks]]
    } else {
      mid = row.lost ? [[spaces(inner - shaft - 1)], ['✗', 'bold', 'red'], [H.repeat(shaft), ks]] : [['◄' + H.repeat(shaft), ks]]
    }
    const lv: Piece = row.from === 'left' ? ['├', ks] : [V, 'gray']
    const rv: Piece = row.from === 'right' ? ['┤', ks] : [V, 'gray']
    // A state that just changed is bold; one that stayed the same is dim.
    const st = (s: string | undefined, side: 'left' | 'right'): Piece => {
      if (s === undefined) return ['']
      const changed = s !== prevState[side]
      prevState[side] = s
      return changed ? [s, 'bold', 'yellow'] : [s, 'dim']
    }
    const ls = st(row.leftState, 'left')
    const rs = st(row.rightState, 'right')
    out.push(body([rowTime(ex, row), 'gray'], ls, lv, mid, rv, rs))
    out.push(blank())
  }
  if (ex.rows.length === 0) out.push(body([''], [''], [V, 'gray'], [[padEnd(' (no segments)', inner)]], [V, 'gray'], ['']))
  if (ex.outcome) out.push(join([['outcome: ', 'bold'], [ex.outcome]], color))
  if (view.elidedNote !== undefined) out.push(join([[`(${view.elidedNote})`, 'dim']], color))
  return out.join('\n') + '\n'
}
