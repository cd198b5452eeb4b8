/**
 * The time-sequence graph as one self-contained HTML page: the inline SVG, a summary of what it shows and
 * a table of the marked events. Inline CSS only; it references nothing outside itself.
 */
import { xmlEscape } from '../ladder/svg.js'
import type { TimeSequenceGraph } from './model.js'
import { renderGraphSvg, siText } from './svg.js'

const CSS = `
  :root { color-scheme: light; }
  body { margin: 0; padding: 24px; background: #f6f8fa; color: #1f2328;
    font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', 'DejaVu Sans', Arial, sans-serif; }
  main { max-width: 1100px; margin: 0 auto; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  h2 { font-size: 16px; margin: 16px 0 6px; }
  p { margin: 0 0 16px; color: #59636e; }
  figure { margin: 0 0 24px; overflow-x: auto; background: #fff; border: 1px solid #d0d7de; border-radius: 6px; }
  figure svg { display: block; margin: 0 auto; max-width: none; }
  table { border-collapse: collapse; background: #fff; font-size: 13px; }
  th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; }
  th { background: #f6f8fa; }
  td.num { text-align: right; font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; }
`

/** Microseconds as milliseconds with three decimals. */
const ms = (us: number): string => `${(us / 1000).toFixed(3)} ms`

/** Summary rows of a graph: [what, value]. */
export function graphSummary(g: TimeSequenceGraph): Array<[string, string]> {
  const rtt = g.rtt.map((p) => p.value).sort((a, b) => a - b)
  const count = (k: string): number => g.events.filter((e) => e.kind === k).length
  const rows: Array<[string, string]> = [
    ['data sent', `${g.sender} → ${g.receiver}`],
    ['duration', ms(g.durationUs)],
    ['data (sequence space)', `${g.maxSeq} bytes`],
    ['data segments', String(g.data.length)],
    ['retransmissions (both directions)', String(g.retransmissions.length)],
    ['fast retransmits', String(count('fast-retransmit'))],
    ['retransmissions after an RTO', String(count('rto'))],
    ['zero windows advertised', String(count('zero-window'))],
    ['receiver window scale', String(g.windowScale)],
    ['RTT samples', String(rtt.length)],
  ]
  if (rtt.length > 0) rows.push(['RTT min / median / max', `${ms(rtt[0])} / ${ms(rtt[Math.floor(rtt.length / 2)])} / ${ms(rtt[rtt.length - 1])}`])
  if (g.durationUs > 0) rows.push(['mean throughput (ACKed)', `${siText((g.maxSeq * 8) / (g.durationUs / 1e6))}bit/s`])
  return rows
}

/** The graph as a complete HTML document. */
export function renderGraphHtml(g: TimeSequenceGraph): string {
  const e = xmlEscape
  const events = g.events.map((ev) => `<tr><td class="num">${ev.index + 1}</td><td class="num">${e(ms(ev.timeUs))}</td><td>${e(ev.kind)}</td><td class="num">${ev.seq}</td></tr>`)
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${e(`Time-sequence graph: ${g.title}`)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<h1>${e(`Time-sequence graph: ${g.title}`)}</h1>`,
    `<p>${e(`sequence numbers relative to ${g.base} (the sender's ISN + 1); segment numbers count from the connection's first segment`)}</p>`,
    `<figure>${renderGraphSvg(g, { inline: true }).trimEnd()}</figure>`,
    '<h2>Summary</h2>',
    `<table><tbody>${graphSummary(g).map(([k, v]) => `<tr><th>${e(k)}</th><td>${e(v)}</td></tr>`).join('')}</tbody></table>`,
    '<h2>Events</h2>',
    `<table><thead><tr><th>segment</th><th>time</th><th>event</th><th>relative seq</th></tr></thead><tbody>\n${events.join('\n')}\n</tbody></table>`,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n')
}
