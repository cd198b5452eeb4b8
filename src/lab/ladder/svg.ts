/**
 * The ladder as a standalone SVG: two lifelines, one arrow per segment with its label above it on a white
 * backing, each end's state in a small box beside its lifeline, the time at the left margin, a title and
 * the outcome. The layout is computed (row height from the number of label lines, width from the longest
 * label), so labels never overlap. No external fonts, images or scripts: it opens anywhere, offline.
 */
import type { LadderExchange, LadderOptions } from './model.js'
import { displayWidth, numbersCaption, rowKind, rowLabel, rowTime, sequenceBases, wrapText } from './text.js'
import type { RowKind } from './text.js'
import { ladderView } from './view.js'

/** Options of the SVG renderer. */
export interface SvgOptions extends LadderOptions {
  /** For embedding in HTML: no XML declaration and no xmlns (HTML parsers supply the namespace). */
  inline?: boolean
}

/** Text escaped for XML content and attribute values; characters XML 1.0 forbids become U+FFFD. */
export function xmlEscape(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
    .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] as string)
}

// Monospace text so widths can be computed: DejaVu Sans Mono, Menlo and Liberation Mono advance 0.6 em
// (Consolas 0.55, narrower, which only makes the backings a little generous).
const MONO = "'DejaVu Sans Mono', Menlo, Consolas, 'Liberation Mono', monospace"
const SANS = "system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', Arial, sans-serif"
const FS = 13
const CW = FS * 0.61
const LH = 17
const MARGIN = 20

const KIND_COLOR: Record<RowKind, string> = {
  syn: '#0969da',
  fin: '#8250df',
  rst: '#cf222e',
  data: '#1a7f37',
  ack: '#57606a',
}
const LOST = '#cf222e'
const INK = '#1f2328'
const MUTED = '#59636e'
const NOTE = '#9a6700'

/** Fill, stroke and text colours of a state box, by the part of the connection's life it belongs to. */
function stateColors(state: string): { fill: string; stroke: string; text: string } {
  if (state === 'ESTABLISHED') return { fill: '#dafbe1', stroke: '#1a7f37', text: '#116329' }
  if (/^(LISTEN|SYN-)/.test(state)) return { fill: '#ddf4ff', stroke: '#0969da', text: '#0550ae' }
  if (/^(FIN-|CLOSE-WAIT|CLOSING|LAST-ACK|TIME-WAIT)/.test(state)) return { fill: '#fff8c5', stroke: '#9a6700', text: '#7d4e00' }
  return { fill: '#f6f8fa', stroke: '#59636e', text: '#1f2328' }
}

const textW = (s: string, cw = CW): number => displayWidth(s) * cw
const n1 = (v: number): string => String(Math.round(v * 10) / 10)

/** The exchange as SVG source (standalone unless `inline`). */
export function renderSvg(ex: LadderExchange, opts: SvgOptions = {}): string {
  const bases = sequenceBases(ex)
  const view = ladderView(ex, opts)
  const items = view.items.map((it) => {
    if (it.kind === 'gap') return it
    const row = it.row
    const l = rowLabel(ex, row, opts, bases)
    return { kind: 'row' as const, item: it, row, label: l, rowKind: rowKind(row), time: rowTime(ex, row) }
  })
  const rows = items.flatMap((x) => (x.kind === 'row' ? [x] : []))
  const gapTexts = view.items.flatMap((x) => (x.kind === 'gap' ? [`⋯ ${x.text} ⋯`] : []))

  // Horizontal layout: time | left state box | left lifeline … right lifeline | right state box.
  const timeW = Math.max(textW('time', 7.4), ...rows.map((r) => textW(r.time, 7.4)))
  const states = rows.flatMap(({ row: r }) => [r.leftState, r.rightState]).filter((s): s is string => s !== undefined)
  const boxW = states.length === 0 ? 0 : Math.max(...states.map((s) => textW(s, 12 * 0.61))) + 14
  const xL = MARGIN + timeW + 14 + boxW + 12
  const longest = Math.max(
    0,
    ...rows.flatMap((r) => [textW(`${r.label.flags} ${r.label.numbers}`), textW(r.label.options), textW(r.label.notes)]),
    ...gapTexts.map((t) => textW(t, 12 * 0.61)),
  )
  const span = Math.min(Math.max(longest + 40, 460), 760)
  const xR = xL + span
  const header = (label: string, endpoint: string): number => Math.max(textW(label, 8.6), textW(endpoint)) + 28
  const hL = header(ex.left.label, ex.left.endpoint)
  const hR = header(ex.right.label, ex.right.endpoint)
  const title = ex.title ?? ''
  const caption = numbersCaption(ex, opts)
  const outcome = ex.outcome ? `outcome: ${ex.outcome}` : ''
  let width = Math.max(xR + 12 + boxW + MARGIN, xR + hR / 2 + MARGIN)
  const elided = view.elidedNote ?? ''
  width = Math.max(width, textW(title, 9.6) + 2 * MARGIN, textW(caption, 7.4) + 2 * MARGIN, textW(outcome, 8.4) + 2 * MARGIN, textW(elided, 7.4) + 2 * MARGIN)
  width = Math.ceil(width)
  const room = Math.floor((span - 28) / CW)

  const out: string[] = []
  let y = MARGIN
  const body: string[] = []
  if (title !== '') {
    y += 18
    body.push(`<text x="${n1(width / 2)}" y="${y}" text-anchor="middle" font-family="${SANS}" font-size="17" font-weight="700" fill="${INK}">${xmlEscape(title)}</text>`)
  }
  y += 20
  body.push(`<text x="${n1(width / 2)}" y="${y}" text-anchor="middle" font-family="${SANS}" font-size="12" fill="${MUTED}">${xmlEscape(caption)}</text>`)
  if (elided !== '') {
    y += 17
    body.push(`<text x="${n1(width / 2)}" y="${y}" text-anchor="middle" font-family="${SANS}" font-size="12" font-weight="700" fill="${NOTE}">${xmlEscape(elided)}</text>`)
  }

  // Participant boxes, centred on the lifelines.
  y += 14
  const boxTop = y
  const headH = 2 * LH + 12
  for (const [x, w, end] of [[xL, hL, ex.left], [xR, hR, ex.right]] as const) {
    body.push(`<rect x="${n1(x - w / 2)}" y="${boxTop}" width="${n1(w)}" height="${headH}" rx="6" fill="#f6f8fa" stroke="#59636e" stroke-width="1.5"/>`)
    body.push(`<text x="${n1(x)}" y="${boxTop + 6 + LH - 3}" text-anchor="middle" font-family="${SANS}" font-size="14" font-weight="700" fill="${INK}">${xmlEscape(end.label)}</text>`)
    body.push(`<text x="${n1(x)}" y="${boxTop + 6 + 2 * LH - 3}" text-anchor="middle" font-family="${MONO}" font-size="${FS}" fill="${MUTED}">${xmlEscape(end.endpoint)}</text>`)
  }
  y = boxTop + headH
  const lifeTop = y
  y += 10
  body.push(`<text x="${MARGIN}" y="${y + 4}" font-family="${SANS}" font-size="11" fill="${MUTED}">time</text>`)
  y += 6

  // Rows: label lines above the arrow, the arrow, state boxes centred on it.
  const rowsSvg: string[] = []
  const prev: { left?: string; right?: string } = {}
  for (const it of items) {
    if (it.kind === 'gap') {
      // The gap: the lifelines turn dashed around a band that says what is left out.
      const gy = y + 8
      const gh = 46
      rowsSvg.push(`<g class="ladder-gap" data-omitted="${it.omitted}">`)
      rowsSvg.push(`<rect x="${n1(xL - 3)}" y="${gy}" width="${n1(xR - xL + 6)}" height="${gh}" fill="#ffffff"/>`)
      for (const x of [xL, xR]) rowsSvg.push(`<line x1="${n1(x)}" y1="${gy}" x2="${n1(x)}" y2="${gy + gh}" stroke="#8c959f" stroke-width="2" stroke-dasharray="2 5"/>`)
      rowsSvg.push(`<rect x="${n1(xL + 8)}" y="${gy + 8}" width="${n1(xR - xL - 16)}" height="${gh - 16}" rx="4" fill="#fff8c5" stroke="${NOTE}" stroke-dasharray="4 3"/>`)
      rowsSvg.push(`<text x="${n1((xL + xR) / 2)}" y="${gy + gh / 2 + 4}" text-anchor="middle" font-family="${SANS}" font-size="12" font-weight="700" fill="${NOTE}">${xmlEscape(`⋯ ${it.text} ⋯`)}</text>`)
      rowsSvg.push('</g>')
      y = gy + gh + 4
      continue
    }
    const { row, label, rowKind: kind, time } = it
    if (it.item.spaceBefore > 0) {
      y += it.item.spaceBefore
      if (it.item.breakText !== undefined) {
        rowsSvg.push(`<text x="${n1((xL + xR) / 2)}" y="${n1(y - it.item.spaceBefore / 2 + 4)}" text-anchor="middle" font-family="${SANS}" font-size="11" font-style="italic" fill="${MUTED}">${xmlEscape(`≈ ${it.item.breakText} ≈`)}</text>`)
      }
    }
    const color = KIND_COLOR[kind]
    const head = wrapText(`${label.flags} ${label.numbers}`, room)
    const lines: Array<{ text: string; fill: string; style: '' | 'head' | 'note' }> = head.map((t, i) => ({ text: t, fill: INK, style: i === 0 ? 'head' : '' }))
    for (const t of wrapText(label.options, room)) lines.push({ text: t, fill: MUTED, style: '' })
    for (const t of wrapText(label.notes, room)) lines.push({ text: t, fill: NOTE, style: 'note' })
    const top = y + 8
    const blockW = Math.max(...lines.map((l) => textW(l.text)))
    const leftToRight = row.from === 'left'
    const tx = leftToRight ? xL + 14 : xR - 14
    const anchor = leftToRight ? 'start' : 'end'
    const bx = leftToRight ? tx - 5 : tx - blockW - 5
    rowsSvg.push(`<rect x="${n1(bx)}" y="${top}" width="${n1(blockW + 10)}" height="${lines.length * LH + 4}" rx="3" fill="#ffffff" fill-opacity="0.94"/>`)
    lines.forEach((l, i) => {
      const ly = top + (i + 1) * LH - 2
      const attrs = `x="${n1(tx)}" y="${ly}" text-anchor="${anchor}" font-family="${MONO}" font-size="${FS}"`
      if (l.style === 'head' && l.text.startsWith(label.flags)) {
        rowsSvg.push(
          `<text ${attrs} fill="${INK}"><tspan font-weight="700" fill="${color}">${xmlEscape(label.flags)}</tspan>${xmlEscape(l.text.slice(label.flags.length))}</text>`,
        )
      } else {
        rowsSvg.push(`<text ${attrs} fill="${l.fill}"${l.style === 'note' ? ' font-style="italic"' : ''}>${xmlEscape(l.text)}</text>`)
      }
    })
    const ay = top + lines.length * LH + 14
    const [x1, x2] = leftToRight ? [xL, xR] : [xR, xL]
    rowsSvg.push(`<circle cx="${n1(x1)}" cy="${ay}" r="3.5" fill="${color}"/>`)
    if (row.lost) {
      const xe = x1 + (x2 - x1) * 0.6
      rowsSvg.push(`<line x1="${n1(x1)}" y1="${ay}" x2="${n1(xe)}" y2="${ay}" stroke="${color}" stroke-width="2" stroke-dasharray="7 4"/>`)
      rowsSvg.push(
        `<path d="M${n1(xe - 7)},${ay - 7} L${n1(xe + 7)},${ay + 7} M${n1(xe - 7)},${ay + 7} L${n1(xe + 7)},${ay - 7}" stroke="${LOST}" stroke-width="3" stroke-linecap="round"/>`,
      )
    } else {
      rowsSvg.push(`<line x1="${n1(x1)}" y1="${ay}" x2="${n1(x2)}" y2="${ay}" stroke="${color}" stroke-width="2" marker-end="url(#ladder-arrow-${kind})"/>`)
    }
    rowsSvg.push(`<text x="${MARGIN}" y="${ay + 4}" font-family="${MONO}" font-size="12" fill="${MUTED}">${xmlEscape(time)}</text>`)
    // A state that just changed is filled; one that stayed the same is drawn as an outline.
    for (const side of ['left', 'right'] as const) {
      const s = side === 'left' ? row.leftState : row.rightState
      if (s === undefined) continue
      const changed = s !== prev[side]
      prev[side] = s
      const c = stateColors(s)
      const bx2 = side === 'left' ? xL - 12 - boxW : xR + 12
      rowsSvg.push(
        `<rect x="${n1(bx2)}" y="${ay - 10}" width="${n1(boxW)}" height="20" rx="4" fill="${changed ? c.fill : '#ffffff'}" stroke="${c.stroke}" stroke-width="${changed ? 1.5 : 1}"${changed ? '' : ' stroke-dasharray="3 2"'}/>`,
      )
      rowsSvg.push(
        `<text x="${n1(bx2 + boxW / 2)}" y="${ay + 4}" text-anchor="middle" font-family="${MONO}" font-size="12"${changed ? ' font-weight="700"' : ''} fill="${c.text}">${xmlEscape(s)}</text>`,
      )
    }
    y = ay + 16
  }
  if (rows.length === 0) {
    y += 10
    rowsSvg.push(`<text x="${n1((xL + xR) / 2)}" y="${y + 4}" text-anchor="middle" font-family="${SANS}" font-size="13" fill="${MUTED}">(no segments)</text>`)
    y += 16
  }
  y += 8
  const lifeBottom = y
  for (const x of [xL, xR]) {
    body.push(`<line x1="${n1(x)}" y1="${lifeTop}" x2="${n1(x)}" y2="${lifeBottom}" stroke="#8c959f" stroke-width="2"/>`)
    body.push(`<rect x="${n1(x - 14)}" y="${lifeBottom}" width="28" height="5" rx="2" fill="#8c959f"/>`)
  }
  body.push(...rowsSvg)
  y = lifeBottom + 5
  if (outcome !== '') {
    y += 28
    body.push(`<text x="${n1(width / 2)}" y="${y}" text-anchor="middle" font-family="${SANS}" font-size="14" fill="${INK}"><tspan font-weight="700">outcome:</tspan> ${xmlEscape(ex.outcome ?? '')}</text>`)
  }
  if (elided !== '') {
    y += outcome !== '' ? 20 : 26
    body.push(`<text x="${n1(width / 2)}" y="${y}" text-anchor="middle" font-family="${SANS}" font-size="12" fill="${NOTE}">${xmlEscape(`(${elided})`)}</text>`)
  }
  if (states.length > 0) {
    y += outcome !== '' || elided !== '' ? 20 : 26
    body.push(
      `<text x="${n1(width / 2)}" y="${y}" text-anchor="middle" font-family="${SANS}" font-size="11" fill="${MUTED}">state boxes: filled when the segment changed the state, dashed when it stayed the same</text>`,
    )
  }
  const height = Math.ceil(y + MARGIN)

  const markers = (Object.keys(KIND_COLOR) as RowKind[]).map(
    (k) =>
      `<marker id="ladder-arrow-${k}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="11" markerHeight="11" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="${KIND_COLOR[k]}"/></marker>`,
  )
  const name = [title, `${ex.left.label} ${ex.left.endpoint} and ${ex.right.label} ${ex.right.endpoint}`].filter((s) => s !== '').join(': ')
  if (!opts.inline) out.push('<?xml version="1.0" encoding="UTF-8"?>')
  out.push(
    `<svg${opts.inline ? '' : ' xmlns="http://www.w3.org/2000/svg"'} width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${xmlEscape(`TCP ladder diagram, ${name}`)}">`,
  )
  out.push(`<title>${xmlEscape(`TCP ladder diagram, ${name}`)}</title>`)
  out.push(`<defs>${markers.join('')}</defs>`)
  out.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`)
  out.push(...body)
  out.push('</svg>')
  return out.join('\n') + '\n'
}
