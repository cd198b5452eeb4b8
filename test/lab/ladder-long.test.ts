/**
 * Ladders of long connections (issue 15): the tracker keeps the first and last segments (and the
 * state-moving ones between), every renderer draws the same marked gap with counts and a footer that
 * matches what is drawn, Mermaid stays under its 50,000-character limit, time-proportional spacing, and
 * the elided SVG laid out by headless Chromium.
 */
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { COMMANDS, main } from '../../src/lab/cli.js'
import type { Io } from '../../src/lab/command.js'
import { inspectCommand } from '../../src/lab/commands/inspect.js'
import { inspect, toLadder, type ConnectionReport } from '../../src/lab/inspect/index.js'
import {
  ladderView,
  MAX_TIME_GAP_PX,
  MERMAID_MAX_TEXT,
  renderHtml,
  renderMermaid,
  renderSvg,
  renderText,
  type LadderExchange,
  type LadderRow,
} from '../../src/lab/ladder/index.js'
import { parseIp } from '../../src/net/addr.js'
import { buildTcpPacket } from '../../src/net/packet.js'
import { LINKTYPE_RAW, PcapWriter } from '../../src/net/pcap.js'
import { parseFlags } from '../../src/tcp/segment.js'
import { seq } from '../../src/tcp/seq.js'
import { CHROMIUM, describeChromium } from '../helpers/pictures.js'

const T0 = 1_700_000_000_000_000_000n
const C = { addr: parseIp('192.0.2.1'), port: 40000 }
const S = { addr: parseIp('198.51.100.2'), port: 80 }

interface Seg {
  from: 'c' | 's'
  flags: string
  seq: number
  ack: number
  len?: number
}

/**
 * A long connection: handshake, `n` data segments client→server each ACKed, then `close`: 'end' closes
 * both ways at the end; 'middle' has the client send its FIN right after the handshake and the server go on.
 */
function longConnection(n: number, close: 'end' | 'middle'): Seg[] {
  const out: Seg[] = [
    { from: 'c', flags: 'S', seq: 1000, ack: 0 },
    { from: 's', flags: 'SA', seq: 5000, ack: 1001 },
    { from: 'c', flags: 'A', seq: 1001, ack: 5001 },
  ]
  if (close === 'end') {
    let c = 1001
    for (let i = 0; i < n; i++) {
      out.push({ from: 'c', flags: 'PA', seq: c, ack: 5001, len: 100 })
      c += 100
      out.push({ from: 's', flags: 'A', seq: 5001, ack: c })
    }
    out.push({ from: 'c', flags: 'FA', seq: c, ack: 5001 }, { from: 's', flags: 'FA', seq: 5001, ack: c + 1 }, { from: 'c', flags: 'A', seq: c + 1, ack: 5002 })
  } else {
    out.push({ from: 'c', flags: 'FA', seq: 1001, ack: 5001 }, { from: 's', flags: 'A', seq: 5001, ack: 1002 })
    let s = 5001
    for (let i = 0; i < n; i++) {
      out.push({ from: 's', flags: 'PA', seq: s, ack: 1002, len: 100 })
      s += 100
      out.push({ from: 'c', flags: 'A', seq: 1002, ack: s })
    }
  }
  return out
}

/** The segments as a raw-IP pcap, one every `stepUs` µs. */
function pcapOf(segs: Seg[], stepUs = 100): Uint8Array {
  const chunks: Uint8Array[] = []
  const w = new PcapWriter((c) => chunks.push(c.slice()), { linkType: LINKTYPE_RAW, nanosecond: true })
  segs.forEach((x, i) => {
    const [src, dst] = x.from === 'c' ? [C, S] : [S, C]
    const ip = buildTcpPacket(
      { src: src.addr, dst: dst.addr },
      { srcPort: src.port, dstPort: dst.port, seq: seq(x.seq), ack: seq(x.ack), flags: parseFlags(x.flags), window: 1000, urgent: 0, options: [], payload: new Uint8Array(x.len ?? 0) },
      'compute',
    )
    w.write(ip, T0 + BigInt(i * stepUs * 1000))
  })
  return Buffer.concat(chunks)
}

async function reportOf(bytes: Uint8Array, keepSegments: number): Promise<ConnectionReport> {
  const rs: ConnectionReport[] = []
  for await (const r of inspect(bytes, { keepSegments })) rs.push(r)
  expect(rs.length).toBe(1)
  return rs[0]
}

async function cli(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  if (!COMMANDS.some((c) => c.name === 'inspect')) COMMANDS.push(inspectCommand)
  const out: string[] = []
  const err: string[] = []
  const io: Io = { stdout: (l) => out.push(l), stderr: (l) => err.push(l), stdin: Readable.from([]), isTTY: false }
  const code = await main(['inspect', ...argv], io)
  return { code, out, err }
}

describe('the tracker keeps the start and the end of a long connection', () => {
  it('first and last halves, the count between, and states inferred across the gap', async () => {
    const segs = longConnection(2500, 'end') // 5006 segments
    const r = await reportOf(pcapOf(segs), 10)
    expect(r.segments?.length).toBe(10)
    expect(r.segmentsElided?.after).toBe(5)
    expect(r.segmentsElided?.count).toBe(5006 - 10)
    const ex = toLadder(r)
    expect(ex.gap).toEqual({ after: 5, omitted: 4996 })
    // The FIN the outcome speaks of is drawn: the last five segments are the connection's last five.
    expect(ex.rows.slice(5).map((x) => [x.from, x.flags, x.leftState, x.rightState])).toEqual([
      ['left', 'PA', 'ESTABLISHED', 'ESTABLISHED'],
      ['right', 'A', 'ESTABLISHED', 'ESTABLISHED'],
      ['left', 'FA', 'FIN-WAIT-1', 'CLOSE-WAIT'],
      ['right', 'FA', 'TIME-WAIT', 'LAST-ACK'],
      ['left', 'A', 'TIME-WAIT', 'CLOSED'],
    ])
    expect(ex.rows.slice(5).map((x) => x.timeUs)).toEqual([5001, 5002, 5003, 5004, 5005].map((i) => i * 100))
    expect(ex.outcome).toBe('closed with FIN both ways (client closed first)')
  })

  it('a FIN in the elided middle still moves the states drawn after the gap', async () => {
    const r = await reportOf(pcapOf(longConnection(3000, 'middle')), 6)
    // Head: SYN, SYN+ACK, ACK; the client's FIN and its ACK are in the middle; kept for inference only.
    expect(r.segmentsElided?.inference.map((x) => [x.from, x.flags])).toEqual([
      ['client', 0x11],
      ['server', 0x10],
    ])
    const ex = toLadder(r)
    expect(ex.rows.slice(0, 3).map((x) => x.rightState)).toEqual(['SYN-RECEIVED', 'SYN-RECEIVED', 'ESTABLISHED'])
    expect(ex.rows.slice(3).map((x) => [x.flags, x.leftState, x.rightState])).toEqual([
      ['A', 'FIN-WAIT-2', 'CLOSE-WAIT'],
      ['PA', 'FIN-WAIT-2', 'CLOSE-WAIT'],
      ['A', 'FIN-WAIT-2', 'CLOSE-WAIT'],
    ])
  })
})

/** A synthetic exchange of `n` rows alternating data and ACKs, 1 ms apart. */
function exchange(n: number): LadderExchange {
  const rows: LadderRow[] = []
  for (let i = 0; i < n; i++) {
    const left = i % 2 === 0
    rows.push({
      from: left ? 'left' : 'right', timeUs: i * 1000, flags: left ? 'PA' : 'A', seq: left ? 1 + 50 * i : 1, ack: left ? 1 : 1 + 50 * (i + 1),
      hasAck: true, len: left ? 100 : 0, window: 500, options: [], leftState: 'ESTABLISHED', rightState: 'ESTABLISHED',
    })
  }
  return { title: 'long', left: { label: 'client', endpoint: '192.0.2.1:40000', isn: 0 }, right: { label: 'server', endpoint: '198.51.100.2:80', isn: 0 }, rows, outcome: 'still open' }
}

describe('every renderer elides the middle the same way', () => {
  const NOTE = 'long connection, 20000 segments: drawn 1–3 and 19998–20000, 19994 in the middle left out'
  const GAP = '⋯ 19994 segments not drawn (4–19997, 19.995 s between the segments either side) ⋯'

  it('the view: first and last halves, one gap with counts', () => {
    const v = ladderView(exchange(20000), { maxRows: 6 })
    expect(v.items.map((x) => (x.kind === 'gap' ? `gap ${x.omitted} ${x.first}-${x.last}` : x.n))).toEqual([1, 2, 3, 'gap 19994 4-19997', 19998, 19999, 20000])
    expect([v.total, v.drawn, v.elidedNote]).toEqual([20000, 6, NOTE])
    // short ladders are drawn whole, with no note
    const short = ladderView(exchange(6), { maxRows: 6 })
    expect([short.items.length, short.elidedNote]).toEqual([6, undefined])
    // an upstream gap (the tracker's) is drawn with its count even when every kept row fits
    const ex = { ...exchange(6), gap: { after: 3, omitted: 100 } }
    expect(ladderView(ex).items.map((x) => (x.kind === 'gap' ? `gap ${x.omitted} ${x.first}-${x.last}` : x.n))).toEqual([1, 2, 3, 'gap 100 4-103', 104, 105, 106])
  })

  it('text: the gap line between broken lifelines, the note at the top and in the footer', () => {
    const t = renderText(exchange(20000), { maxRows: 6 }).split('\n')
    expect(t[2]).toBe(NOTE)
    const g = t.findIndex((l) => l.includes('⋯ 19994'))
    // The gap between dashed lifelines: the words wrapped, centred, and every one of them there.
    expect(t[g - 1].trim()).toMatch(/^┆ +┆$/)
    expect(t[g].trim()).toMatch(/^┆ +⋯ 19994 segments not drawn \(4–19997, 19\.995 s between the +┆$/)
    expect(t[g + 1].trim()).toMatch(/^┆ +segments either side\) ⋯ +┆$/)
    expect(t[g + 2].trim()).toMatch(/^┆ +┆$/)
    expect(t.filter((l) => /[►◄]/.test(l)).length).toBe(6)
    expect(t.slice(-3)).toEqual(['outcome: still open', `(${NOTE})`, ''])
    expect(t.every((l) => [...l].length <= 100)).toBe(true)
  })

  it('SVG and HTML: a gap group with the count, rows numbered as in the connection', () => {
    const svg = renderSvg(exchange(20000), { maxRows: 6 })
    expect(svg.match(/<g class="ladder-gap" data-omitted="19994">/g)?.length).toBe(1)
    expect(svg).toContain(`>${GAP}</text>`)
    expect(svg).toContain(`>${NOTE}</text>`)
    expect(svg).toContain(`>(${NOTE})</text>`)
    expect(svg.match(/marker-end="url\(#ladder-arrow-/g)?.length).toBe(6)
    const html = renderHtml(exchange(20000), { maxRows: 6 })
    expect(html).toContain(`<tr class="gap"><td colspan="12">${GAP}</td></tr>`)
    expect([...html.matchAll(/<tr><td class="num">(\d+)<\/td>/g)].map((m) => +m[1])).toEqual([1, 2, 3, 19998, 19999, 20000])
  })

  it('Mermaid stays under its 50,000-character limit, elided the same way', () => {
    // The default 500 rows of this exchange fit; 5000 would not, so as many as fit are drawn.
    expect(renderMermaid(exchange(20000)).length).toBeLessThanOrEqual(MERMAID_MAX_TEXT)
    const m = renderMermaid(exchange(20000), { maxRows: 5000 })
    expect(m.length).toBeLessThanOrEqual(MERMAID_MAX_TEXT)
    expect(m.length).toBeGreaterThan(MERMAID_MAX_TEXT - 200) // one more row would not fit
    const arrows = m.split('\n').filter((l) => / (L->>R|R->>L): /.test(l)).length
    const gap = m.split('\n').filter((l) => l.startsWith('    Note over L,R: ⋯ '))
    expect(gap.length).toBe(1)
    const omitted = Number(/⋯ (\d+) segments not drawn/.exec(gap[0])![1])
    expect(arrows + omitted).toBe(20000)
    const head = Math.ceil(arrows / 2)
    expect(m).toContain(`Note over L,R: long connection, 20000 segments: drawn 1–${head} and ${20000 - (arrows - head) + 1}–20000, ${omitted} in the middle left out`)
    expect(m.trimEnd().split('\n').at(-1)).toMatch(/^ {4}Note over L,R: outcome: still open \(long connection, 20000 segments: /)
    // With few rows nothing changes: no note, no gap.
    expect(renderMermaid(exchange(4))).not.toContain('⋯')
  })
})

describe('time-proportional spacing', () => {
  it('spaces arrows by the time between segments, capping long pauses with a break mark', () => {
    const ex = exchange(4)
    ex.rows[1].timeUs = 1000 // +1 ms
    ex.rows[2].timeUs = 3000 // +2 ms
    ex.rows[3].timeUs = 2_003_000 // +2 s: capped
    const arrowsY = (svg: string): number[] => [...svg.matchAll(/<circle cx="[\d.]+" cy="([\d.]+)"/g)].map((m) => +m[1])
    const even = arrowsY(renderSvg(ex))
    const timed = renderSvg(ex, { timeScale: 20 })
    const y = arrowsY(timed)
    const d = (a: number[], i: number): number => a[i + 1] - a[i]
    expect(d(y, 0) - d(even, 0)).toBe(20)
    expect(d(y, 1) - d(even, 1)).toBe(40)
    expect(d(y, 2) - d(even, 2)).toBe(MAX_TIME_GAP_PX)
    expect(timed).toContain('>≈ 2.000 s later ≈</text>')
    const text = renderText(ex, { timeScale: 17 }).split('\n')
    const arrowLines = text.map((l, i) => (/[►◄]/.test(l) ? i : -1)).filter((i) => i >= 0)
    const evenLines = renderText(ex).split('\n').map((l, i) => (/[►◄]/.test(l) ? i : -1)).filter((i) => i >= 0)
    expect(arrowLines.map((v, i) => v - evenLines[i])).toEqual([0, 1, 3, 3 + Math.round(MAX_TIME_GAP_PX / 17)])
    expect(text.some((l) => l.includes('≈ 2.000 s later ≈'))).toBe(true)
  })
})

describe('tcplab inspect on a long connection', () => {
  it('--ladder draws the start, a marked gap and the FIN the outcome speaks of; --max-rows and --time-scale are checked', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcplab-long-'))
    try {
      const file = path.join(dir, 'long.pcap')
      fs.writeFileSync(file, pcapOf(longConnection(2500, 'end')))
      const r = await cli([file, '--summary', '--ladder', '--max-rows', '8'])
      expect(r.code).toBe(0)
      const text = r.out.join('\n')
      expect(text).toContain('\nlong connection, 5006 segments: drawn 1–4 and 5003–5006, 4998 in the middle left out\n')
      expect(text).toContain('⋯ 4998 segments not drawn (5–5002, 499.900 ms between the')
      expect(text.match(/FIN\+ACK/g)?.length).toBe(2)
      expect(text).toMatch(/\noutcome: closed with FIN both ways \(client closed first\)\n\(long connection, 5006 segments: /)
      const mmd = path.join(dir, 'long.mmd')
      const d = await cli([file, '--summary', '--diagram', mmd, '--time-scale', '0.5'])
      expect(d.code).toBe(0)
      const m = fs.readFileSync(mmd, 'utf8')
      expect(m.length).toBeLessThanOrEqual(MERMAID_MAX_TEXT)
      expect(m).toContain('Note over L,R: ⋯ ')
      const bad = await cli([file, '--ladder', '--time-scale', 'fast'])
      expect([bad.code, bad.err]).toEqual([2, ["tcplab inspect: --time-scale must be a positive number of pixels per millisecond (e.g. 2 or 0.5), got 'fast'"]])
      const rows = await cli([file, '--ladder', '--max-rows', '1'])
      expect([rows.code, rows.err]).toEqual([2, ["tcplab inspect: --max-rows must be an integer from 2 to 1000000, got '1'"]])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})


describeChromium('an elided SVG in headless Chromium', () => {
  it('lays out the gap band between the last head arrow and the first tail arrow, its text inside its box', () => {
    const svg = renderSvg(exchange(20000), { maxRows: 6, inline: true })
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcplab-ladder-long-'))
    try {
      // The page measures the rendered SVG and writes the numbers into the DOM that --dump-dom prints.
      const page = `<!DOCTYPE html><html><body>${svg}<pre id="out"></pre><script>
const g = document.querySelector('g.ladder-gap'); const box = g.querySelectorAll('rect')[1].getBBox();
const t = g.querySelector('text'); const tb = t.getBBox();
const ys = [...document.querySelectorAll('line[marker-end]')].map((l) => l.getBBox().y);
document.getElementById('out').textContent = JSON.stringify({ box: [box.x, box.y, box.width, box.height], text: [tb.x, tb.y, tb.width, tb.height], textLen: t.getComputedTextLength(), arrows: ys, chars: t.textContent.length });
</script></body></html>`
      const file = path.join(dir, 'page.html')
      fs.writeFileSync(file, page)
      const profile = path.join(dir, 'profile')
      const r = spawnSync(CHROMIUM, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--dump-dom', file], { encoding: 'utf8', timeout: 60_000 })
      const m = /<pre id="out">([^<]*)<\/pre>/.exec(r.stdout)
      expect(m, r.stderr.slice(-500)).not.toBeNull()
      const got = JSON.parse(m![1].replace(/&quot;/g, '"')) as { box: number[]; text: number[]; textLen: number; arrows: number[]; chars: number }
      const [bx, by, bw, bh] = got.box
      const [tx, ty, tw, th] = got.text
      expect(got.chars).toBe('⋯ 19994 segments not drawn (4–19997, 19.995 s between the segments either side) ⋯'.length)
      expect(got.textLen).toBeGreaterThan(300) // really drawn, in a real font
      expect(tx).toBeGreaterThanOrEqual(bx)
      expect(tx + tw).toBeLessThanOrEqual(bx + bw)
      expect(ty).toBeGreaterThanOrEqual(by)
      expect(ty + th).toBeLessThanOrEqual(by + bh)
      expect(got.arrows.length).toBe(6)
      expect(got.arrows[2]).toBeLessThan(by)
      expect(got.arrows[3]).toBeGreaterThan(by + bh)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
