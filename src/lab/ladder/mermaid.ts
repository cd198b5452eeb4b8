/**
 * The ladder as a Mermaid sequenceDiagram: one participant per end, one message per segment, and each
 * end's state as a note beside it whenever it changes (a note on every row would double the diagram).
 */
import type { LadderExchange, LadderOptions } from './model.js'
import { numbersCaption, rowLabel, rowTime, sequenceBases } from './text.js'
import { ladderView } from './view.js'

/**
 * Mermaid refuses a diagram longer than its `maxTextSize` setting (50 000 characters by default, the
 * "Maximum text size in diagram exceeded" error): the source stays under this many characters.
 */
export const MERMAID_MAX_TEXT = 50_000

/**
 * Text made safe inside a Mermaid label: `#` and `;` (entity start, statement separator), `<` and `>`
 * (HTML) as Mermaid entity codes; line breaks and other control characters become spaces.
 */
export function mermaidText(s: string): string {
  return s
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/[#;<>]/g, (c) => `#${c.charCodeAt(0)};`)
    .replace(/\s+/g, ' ')
    .trim()
}

/**
 * The exchange as Mermaid source (`sequenceDiagram`), ending with a newline. A ladder whose source would
 * pass {@link MERMAID_MAX_TEXT} draws fewer of its first and last segments (the middle elided, as in
 * every renderer) until it fits.
 */
export function renderMermaid(ex: LadderExchange, opts: LadderOptions = {}): string {
  const text = mermaidSource(ex, opts)
  if (text.length <= MERMAID_MAX_TEXT) return text
  // The most rows that fit, by bisection (rows differ in length, so no formula is exact).
  let lo = 2
  let hi = ladderView(ex, opts).drawn - 1
  let best = mermaidSource(ex, { ...opts, maxRows: lo })
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2)
    const t = mermaidSource(ex, { ...opts, maxRows: mid })
    if (t.length <= MERMAID_MAX_TEXT) {
      lo = mid
      best = t
    } else hi = mid - 1
  }
  return lo === 2 ? best : mermaidSource(ex, { ...opts, maxRows: lo })
}

function mermaidSource(ex: LadderExchange, opts: LadderOptions): string {
  const bases = sequenceBases(ex)
  const view = ladderView(ex, opts)
  const out: string[] = []
  if (ex.title) out.push('---', `title: ${JSON.stringify(ex.title.replace(/[\u0000-\u001f\u007f]+/g, ' '))}`, '---')
  out.push('sequenceDiagram')
  out.push(`    participant L as ${mermaidText(ex.left.label)}<br/>${mermaidText(ex.left.endpoint)}`)
  out.push(`    participant R as ${mermaidText(ex.right.label)}<br/>${mermaidText(ex.right.endpoint)}`)
  out.push(`    Note over L,R: ${mermaidText(numbersCaption(ex, opts))}`)
  if (view.elidedNote !== undefined) out.push(`    Note over L,R: ${mermaidText(view.elidedNote)}`)
  let left: string | undefined
  let right: string | undefined
  for (const item of view.items) {
    if (item.kind === 'gap') {
      out.push(`    Note over L,R: ${mermaidText(`⋯ ${item.text} ⋯`)}`)
      continue
    }
    const row = item.row
    const l = rowLabel(ex, row, opts, bases)
    const [from, to] = row.from === 'left' ? ['L', 'R'] : ['R', 'L']
    // `-x` draws a cross at the receiving end: the segment never arrived.
    const arrow = row.lost ? '-x' : '->>'
    const lines = [`${rowTime(ex, row)} · ${l.flags} ${l.numbers}`, l.options, l.notes].filter((s) => s !== '')
    out.push(`    ${from}${arrow}${to}: ${lines.map(mermaidText).join('<br/>')}`)
    if (row.leftState !== undefined && row.leftState !== left) out.push(`    Note left of L: ${mermaidText(row.leftState)}`)
    if (row.rightState !== undefined && row.rightState !== right) out.push(`    Note right of R: ${mermaidText(row.rightState)}`)
    left = row.leftState ?? left
    right = row.rightState ?? right
  }
  if (ex.outcome) out.push(`    Note over L,R: ${mermaidText(`outcome: ${ex.outcome}${view.elidedNote !== undefined ? ` (${view.elidedNote})` : ''}`)}`)
  return out.join('\n') + '\n'
}
