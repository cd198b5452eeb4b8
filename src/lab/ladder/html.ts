/**
 * The ladder as one self-contained HTML page: the inline SVG and a table of the segments, with inline
 * CSS. It references nothing outside itself, so it opens offline and can be mailed as one file.
 */
import type { LadderExchange, LadderOptions } from './model.js'
import { renderSvg, xmlEscape } from './svg.js'
import { ladderView } from './view.js'
import { displayNumbers, flagNames, numbersCaption, rowLabel, rowTime, sequenceBases } from './text.js'

const CSS = `
  :root { color-scheme: light; }
  body { margin: 0; padding: 24px; background: #f6f8fa; color: #1f2328;
    font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', Arial, sans-serif; }
  main { max-width: 1200px; margin: 0 auto; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  p { margin: 0 0 16px; color: #59636e; }
  figure { margin: 0 0 24px; overflow-x: auto; background: #fff; border: 1px solid #d0d7de; border-radius: 6px; }
  figure svg { display: block; margin: 0 auto; max-width: none; }
  table { border-collapse: collapse; width: 100%; background: #fff; font-size: 13px; }
  th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
  th { background: #f6f8fa; }
  td.num { text-align: right; white-space: nowrap; font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; }
  td.state, td.dir { white-space: nowrap; }
  td.mono, td.state { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; }
  tr.lost td { color: #cf222e; }
  tr.gap td { text-align: center; font-weight: 700; color: #9a6700; background: #fff8c5; }
`

/** The exchange as a complete HTML document. */
export function renderHtml(ex: LadderExchange, opts: LadderOptions = {}): string {
  const bases = sequenceBases(ex)
  const e = xmlEscape
  const title = ex.title ?? `${ex.left.label} ↔ ${ex.right.label}`
  const view = ladderView(ex, opts)
  const rows = view.items.map((item) => {
    if (item.kind === 'gap') return `<tr class="gap"><td colspan="12">${e(`⋯ ${item.text} ⋯`)}</td></tr>`
    const row = item.row
    const n = displayNumbers(ex, row, opts, bases)
    const l = rowLabel(ex, row, opts, bases)
    const dir = row.from === 'left' ? `${ex.left.label} → ${ex.right.label}` : `${ex.right.label} → ${ex.left.label}`
    const win = row.scaledWindow !== undefined && row.scaledWindow !== row.window ? `${row.window} (${row.scaledWindow})` : `${row.window}`
    const cells = [
      ['num', String(item.n)],
      ['num', rowTime(ex, row)],
      ['dir', dir],
      ['mono', flagNames(row.flags)],
      ['num', String(n.seq)],
      ['num', n.ack === undefined ? '' : String(n.ack)],
      ['num', String(row.len)],
      ['num', win],
      ['mono', l.options],
      ['state', row.leftState ?? ''],
      ['state', row.rightState ?? ''],
      ['', l.notes],
    ]
    const tds = cells.map(([cls, v]) => `<td${cls ? ` class="${cls}"` : ''}>${e(v)}</td>`).join('')
    return `<tr${row.lost ? ' class="lost"' : ''}>${tds}</tr>`
  })
  const heads = ['#', 'time', 'direction', 'flags', 'seq', 'ack', 'len', 'win', 'options', `${ex.left.label} state`, `${ex.right.label} state`, 'notes']
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${e(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<h1>${e(title)}</h1>`,
    `<p>${e(`${ex.left.label} ${ex.left.endpoint} · ${ex.right.label} ${ex.right.endpoint} · ${numbersCaption(ex, opts)}`)}${ex.outcome ? ` · outcome: <strong>${e(ex.outcome)}</strong>` : ''}${view.elidedNote !== undefined ? ` · <strong>${e(view.elidedNote)}</strong>` : ''}</p>`,
    `<figure>${renderSvg(ex, { ...opts, inline: true }).trimEnd()}</figure>`,
    '<table>',
    `<thead><tr>${heads.map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead>`,
    `<tbody>\n${rows.join('\n')}\n</tbody>`,
    '</table>',
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n')
}
