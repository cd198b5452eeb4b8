/**
 * The ladder as a Mermaid sequenceDiagram: one participant per end, one message per segment, and each
 * end's state as a note beside it whenever it changes (a note on every row would double the diagram).
 */
import type { LadderExchange, LadderOptions } from './model.js'
import { numbersCaption, rowLabel, rowTime, sequenceBases } from './text.js'

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

/** The exchange as Mermaid source (`sequenceDiagram`), ending with a newline. */
export function renderMermaid(ex: LadderExchange, opts: LadderOptions = {}): string {
  const bases = sequenceBases(ex)
  const out: string[] = []
  if (ex.title) out.push('---', `title: ${JSON.stringify(ex.title.replace(/[\u0000-\u001f\u007f]+/g, ' '))}`, '---')
  out.push('sequenceDiagram')
  out.push(`    participant L as ${mermaidText(ex.left.label)}<br/>${mermaidText(ex.left.endpoint)}`)
  out.push(`    participant R as ${mermaidText(ex.right.label)}<br/>${mermaidText(ex.right.endpoint)}`)
  out.push(`    Note over L,R: ${mermaidText(numbersCaption(ex, opts))}`)
  let left: string | undefined
  let right: string | undefined
  for (const row of ex.rows) {
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
  if (ex.outcome) out.push(`    Note over L,R: ${mermaidText(`outcome: ${ex.outcome}`)}`)
  return out.join('\n') + '\n'
}
