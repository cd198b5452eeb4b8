/**
 * The time-sequence graph as a standalone SVG: sequence number over time for the data sent (a vertical bar
 * per segment, from its first byte to one past its last), the ACK line, the advertised-window line, SACK
 * blocks, retransmissions, fast-retransmit and RTO events and zero windows; under it two small panels,
 * throughput and RTT over time. Plain SVG text, no scripts or fonts from outside: it opens anywhere.
 * Every mark of a segment carries `data-seg` (its index in the input) so tools and tests can find it.
 */
import { xmlEscape } from '../ladder/svg.js'
import type { TimeSequenceGraph } from './model.js'

/** Options of the SVG renderer. */
export interface GraphSvgOptions {
  /** For embedding in HTML: no XML declaration and no xmlns. */
  inline?: boolean
  /** Total width in pixels (default 1000). */
  width?: number
}

/** The colour of each kind of mark (the legend, the README and the tests use these). */
export const GRAPH_COLORS = {
  data: '#0969da',
  retransmission: '#cf222e',
  ack: '#1a7f37',
  window: '#bf8700',
  sack: '#8250df',
  fastRetransmit: '#e16f24',
  rto: '#1b7c83',
  zeroWindow: '#bf3989',
  throughput: '#0969da',
  rtt: '#9a6700',
} as const

const SANS = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', Arial, sans-serif"
const INK = '#1f2328'
const MUTED = '#59636e'
const GRID = '#d8dee4'
const LEFT = 84
const RIGHT = 28
const MAIN_H = 460
const PANEL_H = 120
const n1 = (v: number): string => String(Math.round(v * 10) / 10)

/** About `count` round tick values from 0 (or `lo`) to `hi`: steps of 1, 2 or 5 × 10^k. */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) return [lo]
  const raw = (hi - lo) / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag
  const out: number[] = []
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.round(v / step) * step + 0) // + 0: no -0
  return out
}

/** A number with an SI suffix: 950, 1.5k, 12M, 2.5G. */
export function siText(v: number): string {
  const a = Math.abs(v)
  const [d, suf] = a >= 1e9 ? [1e9, 'G'] : a >= 1e6 ? [1e6, 'M'] : a >= 1e3 ? [1e3, 'k'] : [1, '']
  return `${Number((v / d).toPrecision(4))}${suf}`
}

/** The unit time ticks are written in, for a span in µs. */
function timeUnit(spanUs: number): { div: number; name: string } {
  if (spanUs < 2000) return { div: 1, name: 'µs' }
  if (spanUs < 2e6) return { div: 1000, name: 'ms' }
  return { div: 1e6, name: 's' }
}

/** The graph as SVG source (standalone unless `inline`). */
export function renderGraphSvg(g: TimeSequenceGraph, opts: GraphSvgOptions = {}): string {
  const W = Math.max(480, Math.round(opts.width ?? 1000))
  const C = GRAPH_COLORS
  const plotW = W - LEFT - RIGHT
  const span = Math.max(g.durationUs, 1)
  const tu = timeUnit(span)
  const X = (us: number): number => LEFT + (us / span) * plotW
  const body: string[] = []
  const text = (x: number, y: number, s: string, attrs = ''): void => {
    body.push(`<text x="${n1(x)}" y="${n1(y)}" font-family="${SANS}" ${attrs}>${xmlEscape(s)}</text>`)
  }

  // Header: title, what is drawn, legend.
  let y = 30
  text(W / 2, y, g.title, `text-anchor="middle" font-size="17" font-weight="700" fill="${INK}"`)
  y += 20
  const fr = g.events.filter((e) => e.kind === 'fast-retransmit').length
  const rto = g.events.filter((e) => e.kind === 'rto').length
  const zw = g.events.filter((e) => e.kind === 'zero-window').length
  const dataRtx = g.data.filter((d) => d.retransmission).length
  text(
    W / 2,
    y,
    `data ${g.sender} → ${g.receiver}: ${siText(g.maxSeq)}B in ${g.data.length} segments, ${dataRtx} retransmitted (${fr} fast, ${rto} after RTO), ${zw} zero windows`,
    `text-anchor="middle" font-size="12" fill="${MUTED}"`,
  )
  y += 22
  const legend: Array<[string, string, 'bar' | 'line' | 'dash' | 'tri' | 'dot']> = [
    ['data sent', C.data, 'bar'],
    ['retransmission', C.retransmission, 'bar'],
    ['ACK', C.ack, 'line'],
    ['advertised window', C.window, 'line'],
    ['SACK block', C.sack, 'bar'],
    ['fast retransmit', C.fastRetransmit, 'tri'],
    ['RTO', C.rto, 'dash'],
    ['zero window', C.zeroWindow, 'dot'],
  ]
  const items = legend.map(([label, color, shape]) => ({ label, color, shape, w: 22 + label.length * 6.6 + 16 }))
  let lx = Math.max(8, (W - items.reduce((a, i) => a + i.w, 0)) / 2)
  for (const it of items) {
    const cy = y - 4
    if (it.shape === 'bar') body.push(`<path d="M${n1(lx + 8)},${cy - 7} V${cy + 7}" stroke="${it.color}" stroke-width="3"/>`)
    else if (it.shape === 'line') body.push(`<path d="M${n1(lx)},${cy} H${n1(lx + 16)}" stroke="${it.color}" stroke-width="2"/>`)
    else if (it.shape === 'dash') body.push(`<path d="M${n1(lx + 8)},${cy - 7} V${cy + 7}" stroke="${it.color}" stroke-width="1.5" stroke-dasharray="3 2"/>`)
    else if (it.shape === 'tri') body.push(`<path d="M${n1(lx + 8)},${cy - 6} l6,11 h-12 z" fill="${it.color}"/>`)
    else body.push(`<circle cx="${n1(lx + 8)}" cy="${cy}" r="4.5" fill="${it.color}"/>`)
    text(lx + 22, y, it.label, `font-size="12" fill="${INK}"`)
    lx += it.w
  }
  y += 18

  // Main plot: relative sequence number over time.
  const top = y
  const bottom = top + MAIN_H
  const maxAck = g.acks.reduce((m, a) => Math.max(m, a.ack), 0)
  const minSeq = Math.min(0, ...g.data.map((d) => d.seq))
  const hiData = Math.max(g.maxSeq, maxAck, 1)
  // The window edge may be far above the data; it is drawn up to a quarter more and clipped there.
  const maxEdge = g.acks.reduce((m, a) => Math.max(m, a.windowEdge), 0)
  const yTop = Math.max(hiData, Math.min(maxEdge, hiData * 1.25))
  // A little room at both ends, so lines at the extremes are not drawn on the frame.
  const pad = (yTop - minSeq) * 0.02
  const yMin = minSeq - pad
  const yMax = yTop + pad
  const Y = (s: number): number => bottom - ((s - yMin) / (yMax - yMin)) * MAIN_H
  axes(body, top, bottom, LEFT, W - RIGHT, niceTicks(0, span / tu.div).map((v) => [X(v * tu.div), `${v}`]), niceTicks(yMin, yMax).map((v) => [Y(v), siText(v)]))
  text(16, (top + bottom) / 2, 'relative sequence number (bytes)', `font-size="12" fill="${MUTED}" text-anchor="middle" transform="rotate(-90 16 ${n1((top + bottom) / 2)})"`)
  text(W - RIGHT, bottom + 32, `time (${tu.name})`, `text-anchor="end" font-size="12" fill="${MUTED}"`)
  const clip = `tsg-clip-${Math.abs(hash(g.title + g.durationUs)).toString(36)}`
  body.push(`<clipPath id="${clip}"><rect x="${LEFT}" y="${top}" width="${plotW}" height="${MAIN_H}"/></clipPath>`)
  const marks: string[] = []
  // The advertised window and the ACK as step lines: each holds until the next ACK changes it.
  const step = (pts: Array<[number, number]>): string => {
    if (pts.length === 0) return ''
    let d = `M${n1(X(pts[0][0]))},${n1(Y(pts[0][1]))}`
    for (let i = 1; i < pts.length; i++) d += ` H${n1(X(pts[i][0]))} V${n1(Y(pts[i][1]))}`
    return d + ` H${n1(X(span))}`
  }
  if (g.acks.length > 0) {
    marks.push(`<path class="window" d="${step(g.acks.map((a) => [a.timeUs, a.windowEdge]))}" fill="none" stroke="${C.window}" stroke-width="2"/>`)
    marks.push(`<path class="ack" d="${step(g.acks.map((a) => [a.timeUs, a.ack]))}" fill="none" stroke="${C.ack}" stroke-width="2"/>`)
  }
  const sackD = g.acks.flatMap((a) => a.sack.map(([l, r]) => `M${n1(X(a.timeUs) + 2)},${n1(Y(l))} V${n1(Y(r))}`)).join(' ')
  if (sackD !== '') marks.push(`<path class="sack" d="${sackD}" stroke="${C.sack}" stroke-width="2"/>`)
  const newD = g.data.filter((d) => !d.retransmission).map((d) => `M${n1(X(d.timeUs))},${n1(Y(d.seq))} V${n1(Y(d.end))}`).join(' ')
  if (newD !== '') marks.push(`<path class="data" d="${newD}" stroke="${C.data}" stroke-width="2"/>`)
  for (const e of g.events) {
    const x = n1(X(e.timeUs))
    if (e.kind === 'rto') {
      marks.push(`<path class="rto" data-seg="${e.index}" d="M${x},${top} V${bottom}" stroke="${C.rto}" stroke-width="1.5" stroke-dasharray="4 3"/>`)
      // The label stays inside the frame even for an RTO at either edge.
      const lx = Math.min(Math.max(X(e.timeUs), LEFT + 12), W - RIGHT - 12)
      marks.push(`<text x="${n1(lx)}" y="${top + 11}" text-anchor="middle" font-family="${SANS}" font-size="10" fill="${C.rto}">RTO</text>`)
    } else if (e.kind === 'zero-window') {
      marks.push(`<circle class="zero-window" data-seg="${e.index}" cx="${x}" cy="${n1(Y(e.seq))}" r="4.5" fill="${C.zeroWindow}"/>`)
    }
  }
  // Retransmissions on top: a thick bar with a square at its top edge, and a triangle under a fast one.
  for (const d of g.data) {
    if (!d.retransmission) continue
    const x = X(d.timeUs)
    const y1 = Y(d.seq)
    const y2 = Y(d.end)
    marks.push(
      `<path class="retransmission" data-seg="${d.index}" d="M${n1(x)},${n1(y1)} V${n1(y2)} M${n1(x - 3.5)},${n1(y2 - 3.5)} h7 v7 h-7 z" fill="none" stroke="${C.retransmission}" stroke-width="2.5"/>`,
    )
    if (d.cause === 'fast-retransmit') marks.push(`<path class="fast-retransmit" data-seg="${d.index}" d="M${n1(x)},${n1(y1 + 3)} l5,9 h-10 z" fill="${C.fastRetransmit}"/>`)
  }
  // The receiver's own retransmissions (a SYN+ACK or FIN sent again) sit on the ACK line.
  const dataIdx = new Set(g.data.map((d) => d.index))
  for (const i of g.retransmissions) {
    if (dataIdx.has(i)) continue
    const a = g.acks.find((p) => p.index === i)
    if (a === undefined) continue
    marks.push(`<circle class="retransmission reverse" data-seg="${i}" cx="${n1(X(a.timeUs))}" cy="${n1(Y(a.ack))}" r="5" fill="none" stroke="${C.retransmission}" stroke-width="2"/>`)
  }
  if (g.data.length === 0) marks.push(`<text x="${n1(LEFT + plotW / 2)}" y="${n1((top + bottom) / 2)}" text-anchor="middle" font-family="${SANS}" font-size="13" fill="${MUTED}">(no data segments)</text>`)
  body.push(`<g clip-path="url(#${clip})">`, ...marks, '</g>')

  // Panels: throughput (bytes newly ACKed, as bit/s) and RTT samples.
  y = bottom + 56
  const tpTop = y
  const tpMax = Math.max(1, ...g.throughput.map((p) => p.value * 8))
  const tpY = (v: number): number => tpTop + PANEL_H - (v / tpMax) * PANEL_H
  axes(body, tpTop, tpTop + PANEL_H, LEFT, W - RIGHT, niceTicks(0, span / tu.div).map((v) => [X(v * tu.div), `${v}`]), niceTicks(0, tpMax, 3).map((v) => [tpY(v), siText(v)]))
  text(LEFT, tpTop - 8, 'throughput (bit/s of data newly ACKed)', `font-size="12" font-weight="700" fill="${INK}"`)
  if (g.throughput.length > 0) {
    const d = g.throughput.map((p, i) => `${i === 0 ? 'M' : 'L'}${n1(X(p.timeUs))},${n1(tpY(p.value * 8))}`).join(' ')
    body.push(`<path class="throughput" d="${d}" fill="none" stroke="${C.throughput}" stroke-width="2"/>`)
  }
  y = tpTop + PANEL_H + 56
  const rttTop = y
  const rttMaxUs = Math.max(1, ...g.rtt.map((p) => p.value))
  const ru = timeUnit(rttMaxUs)
  const rttY = (us: number): number => rttTop + PANEL_H - (us / rttMaxUs) * PANEL_H
  axes(body, rttTop, rttTop + PANEL_H, LEFT, W - RIGHT, niceTicks(0, span / tu.div).map((v) => [X(v * tu.div), `${v}`]), niceTicks(0, rttMaxUs / ru.div, 3).map((v) => [rttY(v * ru.div), `${v}`]))
  text(LEFT, rttTop - 8, `RTT (${ru.name}, data segment → first ACK covering it; retransmitted ones skipped)`, `font-size="12" font-weight="700" fill="${INK}"`)
  text(W - RIGHT, rttTop + PANEL_H + 32, `time (${tu.name})`, `text-anchor="end" font-size="12" fill="${MUTED}"`)
  if (g.rtt.length > 0) {
    body.push(`<path class="rtt" d="${g.rtt.map((p) => `M${n1(X(p.timeUs) - 2)},${n1(rttY(p.value))} h4`).join(' ')}" stroke="${C.rtt}" stroke-width="4"/>`)
  }
  const height = rttTop + PANEL_H + 48

  const name = `TCP time-sequence graph, ${g.title}`
  const out: string[] = []
  if (!opts.inline) out.push('<?xml version="1.0" encoding="UTF-8"?>')
  out.push(`<svg${opts.inline ? '' : ' xmlns="http://www.w3.org/2000/svg"'} width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" role="img" aria-label="${xmlEscape(name)}">`)
  out.push(`<title>${xmlEscape(name)}</title>`)
  out.push(`<rect x="0" y="0" width="${W}" height="${height}" fill="#ffffff"/>`)
  out.push(...body)
  out.push('</svg>')
  return out.join('\n') + '\n'
}

/** A frame with grid lines and tick labels; ticks are [pixel, label]. */
function axes(body: string[], top: number, bottom: number, left: number, right: number, xt: Array<[number, string]>, yt: Array<[number, string]>): void {
  const grid = [...xt.map(([x]) => `M${n1(x)},${top} V${bottom}`), ...yt.map(([y]) => `M${left},${n1(y)} H${right}`)].join(' ')
  if (grid !== '') body.push(`<path d="${grid}" stroke="${GRID}" stroke-width="1"/>`)
  body.push(`<rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}" fill="none" stroke="${MUTED}" stroke-width="1"/>`)
  for (const [x, s] of xt) body.push(`<text x="${n1(x)}" y="${bottom + 16}" text-anchor="middle" font-family="${SANS}" font-size="11" fill="${MUTED}">${xmlEscape(s)}</text>`)
  for (const [y, s] of yt) body.push(`<text x="${left - 6}" y="${n1(y + 4)}" text-anchor="end" font-family="${SANS}" font-size="11" fill="${MUTED}">${xmlEscape(s)}</text>`)
}

/** A small string hash, so two graphs inlined in one page get different clip-path ids. */
function hash(s: string): number {
  let h = 0
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0
  return h
}
