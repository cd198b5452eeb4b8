/**
 * Time-sequence graphs: the model on synthetic segment lists (exact points, the tshark retransmission rule,
 * fast retransmit, RTO, zero window, Karn's rule for RTT, throughput bins), the SVG's marks by class and
 * segment, the file formats, and the SVG rendered in headless Chromium (colours where the marks are, not
 * blank).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  buildGraph,
  GRAPH_COLORS,
  graphFormat,
  niceTicks,
  renderGraphHtml,
  renderGraphSvg,
  renderGraphToFile,
  retransmissionFlags,
  siText,
  type GraphSegment,
} from '../../src/lab/graph/index.js'
import { TcpFlags } from '../../src/tcp/segment.js'
import type { TcpOption } from '../../src/tcp/options.js'
import type { Seq } from '../../src/tcp/seq.js'
import { WireError } from '../../src/tcp/errors.js'
import { describeChromium, hexRgb, inkAndColours, marks, screenshotSvg } from '../helpers/pictures.js'

const { SYN, ACK, FIN, PSH, RST } = TcpFlags
const A = 1000 // a's ISN (the data sender)
const B = 5000 // b's ISN
const sack = (...blocks: Array<[number, number]>): TcpOption[] => [{ kind: 'sack', blocks: blocks.map(([l, r]) => [l as Seq, r as Seq]) }]
const seg = (from: 'a' | 'b', timeUs: number, flags: number, seq: number, ack: number, len: number, window: number, options: TcpOption[] = []): GraphSegment => ({
  from, timeUs, flags, seq, ack, len, window, options,
})

/**
 * A bulk transfer a → b with wscale 7 (a) and 2 (b): the second data segment is lost and fast-retransmitted
 * after three duplicate ACKs with SACK blocks; a zero window; a segment lost with its ACK repaired by an
 * RTO; FIN both ways, b's FIN sent twice.
 */
function lossyTransfer(): GraphSegment[] {
  return [
    /* 0 */ seg('a', 0, SYN, A, 0, 0, 64240, [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'wscale', shift: 7 }]),
    /* 1 */ seg('b', 100, SYN | ACK, B, A + 1, 0, 65160, [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'wscale', shift: 2 }]),
    /* 2 */ seg('a', 200, ACK, A + 1, B + 1, 0, 502),
    /* 3 */ seg('a', 300, ACK | PSH, A + 1, B + 1, 1000, 502),
    /* 4 */ seg('a', 310, ACK | PSH, A + 1001, B + 1, 1000, 502), // lost
    /* 5 */ seg('a', 320, ACK | PSH, A + 2001, B + 1, 1000, 502),
    /* 6 */ seg('a', 330, ACK | PSH, A + 3001, B + 1, 1000, 502),
    /* 7 */ seg('a', 340, ACK | PSH, A + 4001, B + 1, 1000, 502),
    /* 8 */ seg('b', 400, ACK, B + 1, A + 1001, 0, 1000),
    /* 9 */ seg('b', 420, ACK, B + 1, A + 1001, 0, 1000, sack([A + 2001, A + 3001])),
    /* 10 */ seg('b', 430, ACK, B + 1, A + 1001, 0, 1000, sack([A + 2001, A + 4001])),
    /* 11 */ seg('b', 440, ACK, B + 1, A + 1001, 0, 1000, sack([A + 2001, A + 5001])),
    /* 12 */ seg('a', 450, ACK | PSH, A + 1001, B + 1, 1000, 502), // fast retransmit
    /* 13 */ seg('b', 550, ACK, B + 1, A + 5001, 0, 0), // zero window
    /* 14 */ seg('b', 600, ACK, B + 1, A + 5001, 0, 1000), // window update
    /* 15 */ seg('a', 610, ACK | PSH, A + 5001, B + 1, 1000, 502), // its ACK is lost
    /* 16 */ seg('a', 5000, ACK | PSH, A + 5001, B + 1, 1000, 502), // RTO
    /* 17 */ seg('b', 5100, ACK, B + 1, A + 6001, 0, 1000),
    /* 18 */ seg('a', 5200, FIN | ACK, A + 6001, B + 1, 0, 502),
    /* 19 */ seg('b', 5300, FIN | ACK, B + 1, A + 6002, 0, 1000),
    /* 20 */ seg('a', 5400, ACK, A + 6002, B + 2, 0, 502),
    /* 21 */ seg('b', 5500, FIN | ACK, B + 1, A + 6002, 0, 1000), // b's FIN again
  ]
}

describe('retransmissionFlags (the tshark rule)', () => {
  it('flags sequence space below the highest end already sent, per direction; not new data, pure ACKs, RSTs or keep-alives', () => {
    const segs = [
      seg('a', 0, SYN, 100, 0, 0, 1000), // SYN: 100..101
      seg('a', 1, SYN, 100, 0, 0, 1000), // the SYN again
      seg('b', 2, SYN | ACK, 900, 101, 0, 1000),
      seg('a', 3, ACK, 101, 901, 10, 1000), // 101..111 new
      seg('a', 4, ACK, 111, 901, 10, 1000), // 111..121 new
      seg('a', 5, ACK, 105, 901, 10, 1000), // 105..115: below 121
      seg('a', 6, ACK, 115, 901, 10, 1000), // overlaps new data (115..125) but starts below: tshark flags it
      seg('a', 7, ACK, 124, 901, 1, 1000), // keep-alive: 1 byte at highest (125) − 1
      seg('a', 8, ACK, 120, 901, 0, 1000), // pure ACK with an old seq: no sequence space
      seg('a', 9, RST, 101, 0, 0, 0), // RSTs are never retransmissions
      seg('b', 10, ACK, 901, 125, 5, 1000), // b's own data: new for b
      seg('b', 11, ACK, 901, 125, 5, 1000), // and again
      seg('a', 12, FIN | ACK, 125, 906, 0, 1000),
      seg('a', 13, FIN | ACK, 125, 906, 0, 1000), // FIN again
    ]
    expect(retransmissionFlags(segs)).toEqual([false, true, false, false, false, true, true, false, false, false, false, true, false, true])
  })

  it('works across the 32-bit wrap', () => {
    const segs = [seg('a', 0, ACK, 0xffff_fc00, 1, 1000, 1), seg('a', 1, ACK, 0xffff_ffe8, 1, 1000, 1), seg('a', 2, ACK, 0xffff_ffe8, 1, 1000, 1), seg('a', 3, ACK, 0x3d0, 1, 1000, 1)]
    expect(retransmissionFlags(segs)).toEqual([false, false, true, false])
  })
})

describe('buildGraph', () => {
  const g = buildGraph({ ends: { a: '10.0.0.1:40000', b: '10.0.0.2:5001' }, segments: lossyTransfer() })

  it('picks the end with the most data as the sender, relative to its ISN + 1, with the window scale from the SYNs', () => {
    expect([g.title, g.sender, g.receiver, g.senderEnd, g.base, g.windowScale, g.durationUs, g.maxSeq]).toEqual([
      '10.0.0.1:40000 → 10.0.0.2:5001', '10.0.0.1:40000', '10.0.0.2:5001', 'a', A + 1, 2, 5500, 6001,
    ])
  })

  it('has one point per segment of the data direction that occupies sequence space, retransmissions with their cause', () => {
    expect(g.data).toEqual([
      { index: 0, timeUs: 0, seq: -1, end: 0, retransmission: false },
      { index: 3, timeUs: 300, seq: 0, end: 1000, retransmission: false },
      { index: 4, timeUs: 310, seq: 1000, end: 2000, retransmission: false },
      { index: 5, timeUs: 320, seq: 2000, end: 3000, retransmission: false },
      { index: 6, timeUs: 330, seq: 3000, end: 4000, retransmission: false },
      { index: 7, timeUs: 340, seq: 4000, end: 5000, retransmission: false },
      { index: 12, timeUs: 450, seq: 1000, end: 2000, retransmission: true, cause: 'fast-retransmit' },
      { index: 15, timeUs: 610, seq: 5000, end: 6000, retransmission: false },
      { index: 16, timeUs: 5000, seq: 5000, end: 6000, retransmission: true, cause: 'rto' },
      { index: 18, timeUs: 5200, seq: 6000, end: 6001, retransmission: false },
    ])
  })

  it('has the ACK, window edge (scaled, but not on the SYN+ACK), SACK blocks and duplicate ACKs of the receiver', () => {
    expect(g.acks).toEqual([
      { index: 1, timeUs: 100, ack: 0, windowEdge: 65160, window: 65160, sack: [], duplicate: false },
      { index: 8, timeUs: 400, ack: 1000, windowEdge: 5000, window: 4000, sack: [], duplicate: false },
      { index: 9, timeUs: 420, ack: 1000, windowEdge: 5000, window: 4000, sack: [[2000, 3000]], duplicate: true },
      { index: 10, timeUs: 430, ack: 1000, windowEdge: 5000, window: 4000, sack: [[2000, 4000]], duplicate: true },
      { index: 11, timeUs: 440, ack: 1000, windowEdge: 5000, window: 4000, sack: [[2000, 5000]], duplicate: true },
      { index: 13, timeUs: 550, ack: 5000, windowEdge: 5000, window: 0, sack: [], duplicate: false },
      { index: 14, timeUs: 600, ack: 5000, windowEdge: 9000, window: 4000, sack: [], duplicate: false },
      { index: 17, timeUs: 5100, ack: 6000, windowEdge: 10000, window: 4000, sack: [], duplicate: false },
      { index: 19, timeUs: 5300, ack: 6001, windowEdge: 10001, window: 4000, sack: [], duplicate: false },
      { index: 21, timeUs: 5500, ack: 6001, windowEdge: 10001, window: 4000, sack: [], duplicate: false },
    ])
  })

  it('marks the events and every retransmission of either direction', () => {
    expect(g.events).toEqual([
      { kind: 'fast-retransmit', index: 12, timeUs: 450, seq: 1000 },
      { kind: 'zero-window', index: 13, timeUs: 550, seq: 5000 },
      { kind: 'rto', index: 16, timeUs: 5000, seq: 5000 },
    ])
    expect(g.retransmissions).toEqual([12, 16, 21])
  })

  it('takes RTT samples from each segment to the first ACK covering it, skipping retransmitted ones (Karn)', () => {
    expect(g.rtt).toEqual([
      { timeUs: 100, value: 100 }, // the SYN
      { timeUs: 400, value: 100 }, // 0..1000
      // 1000..2000 was retransmitted: no sample
      { timeUs: 550, value: 230 },
      { timeUs: 550, value: 220 },
      { timeUs: 550, value: 210 },
      // 5000..6000 was retransmitted: no sample
      { timeUs: 5300, value: 100 }, // the FIN
    ])
  })

  it('puts bytes newly ACKed into 100 equal intervals, as bytes per second', () => {
    expect(g.throughput).toHaveLength(100)
    const bin = 55 // µs: 5500 / 100
    const nonzero = g.throughput.map((p, k) => [k, p.timeUs, p.value] as const).filter(([, , v]) => v > 0)
    expect(nonzero.map(([k, t]) => [k, t])).toEqual([[7, 7.5 * bin], [10, 10.5 * bin], [92, 92.5 * bin], [96, 96.5 * bin]])
    expect(nonzero.map(([, , v]) => Math.round(v * bin * 1e-6))).toEqual([1000, 4000, 1000, 1])
  })

  it('takes the data direction from b when b sent more, and an explicit window scale over the SYNs', () => {
    const swapped = lossyTransfer().map((s) => ({ ...s, from: s.from === 'a' ? ('b' as const) : ('a' as const) }))
    const h = buildGraph({ ends: { a: 'x', b: 'y' }, windowScale: { a: 5, b: 3 }, segments: swapped })
    expect([h.senderEnd, h.sender, h.windowScale, h.retransmissions]).toEqual(['b', 'y', 5, [12, 16, 21]])
    expect(h.acks[1]).toMatchObject({ index: 8, window: 1000 * 32 })
  })

  it('starts at the first data segment without a SYN, and survives no segments at all', () => {
    const mid = buildGraph({ ends: { a: 'x', b: 'y' }, segments: lossyTransfer().slice(3) })
    expect([mid.base, mid.windowScale, mid.data[0]]).toEqual([A + 1, 0, { index: 0, timeUs: 0, seq: 0, end: 1000, retransmission: false }])
    const none = buildGraph({ ends: { a: 'x', b: 'y' }, segments: [] })
    expect([none.data, none.acks, none.events, none.throughput, none.rtt, none.durationUs]).toEqual([[], [], [], [], [], 0])
    expect(renderGraphSvg(none)).toContain('(no data segments)')
  })
})

describe('renderGraphSvg', () => {
  const g = buildGraph({ title: 'lossy', ends: { a: '10.0.0.1:40000', b: '10.0.0.2:5001' }, segments: lossyTransfer() })
  const svg = renderGraphSvg(g)

  it('is well-formed standalone SVG with one mark per retransmission and event, by segment', () => {
    expect(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="1000" ')).toBe(true)
    expect(svg.endsWith('</svg>\n')).toBe(true)
    expect(marks(svg, 'retransmission').map((m) => m['data-seg'])).toEqual(['12', '16', '21'])
    expect(marks(svg, 'fast-retransmit').map((m) => m['data-seg'])).toEqual(['12'])
    expect(marks(svg, 'rto').map((m) => m['data-seg'])).toEqual(['16'])
    expect(marks(svg, 'zero-window').map((m) => m['data-seg'])).toEqual(['13'])
    for (const k of ['data', 'ack', 'window', 'sack', 'throughput', 'rtt'] as const) expect(marks(svg, k), k).toHaveLength(1)
    // Colours as documented.
    const colour = (m: Record<string, string>): string => m.stroke !== undefined && m.stroke !== 'none' && m.fill !== GRAPH_COLORS.fastRetransmit && m.fill !== GRAPH_COLORS.zeroWindow ? m.stroke : m.fill
    expect(colour(marks(svg, 'data')[0])).toBe(GRAPH_COLORS.data)
    expect(colour(marks(svg, 'retransmission')[0])).toBe(GRAPH_COLORS.retransmission)
    expect(colour(marks(svg, 'ack')[0])).toBe(GRAPH_COLORS.ack)
    expect(colour(marks(svg, 'window')[0])).toBe(GRAPH_COLORS.window)
    expect(colour(marks(svg, 'sack')[0])).toBe(GRAPH_COLORS.sack)
    expect(marks(svg, 'fast-retransmit')[0].fill).toBe(GRAPH_COLORS.fastRetransmit)
    expect(marks(svg, 'rto')[0].stroke).toBe(GRAPH_COLORS.rto)
    expect(marks(svg, 'zero-window')[0].fill).toBe(GRAPH_COLORS.zeroWindow)
    // The data path draws each new segment as one vertical bar.
    expect(marks(svg, 'data')[0].d.match(/M/g)).toHaveLength(8)
    expect(svg).toContain('data 10.0.0.1:40000 → 10.0.0.2:5001: 6.001kB in 10 segments, 2 retransmitted (1 fast, 1 after RTO), 1 zero windows')
  })

  it('escapes titles and inlines into the HTML page with a summary', () => {
    const h = buildGraph({ title: '<a&b>', ends: { a: 'x', b: 'y' }, segments: lossyTransfer() })
    expect(renderGraphSvg(h)).toContain('<title>TCP time-sequence graph, &lt;a&amp;b&gt;</title>')
    const html = renderGraphHtml(h)
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true)
    expect(html).toContain('<figure><svg width="1000"')
    expect(html).toContain('<tr><th>retransmissions (both directions)</th><td>3</td></tr>')
    expect(html).toContain('<tr><td class="num">14</td><td class="num">0.550 ms</td><td>zero-window</td><td class="num">5000</td></tr>')
  })

  it('has round ticks and SI numbers', () => {
    expect(niceTicks(0, 5500)).toEqual([0, 1000, 2000, 3000, 4000, 5000])
    expect(niceTicks(-1, 10, 5)).toEqual([0, 5, 10])
    expect(Object.is(niceTicks(-1, 10, 5)[0], 0)).toBe(true)
    expect(niceTicks(3, 3)).toEqual([3])
    expect([siText(950), siText(1500), siText(12_000_000), siText(2.5e9)]).toEqual(['950', '1.5k', '12M', '2.5G'])
  })
})

describe('graph files', () => {
  it('picks .svg or .html by extension and refuses anything else before writing', async () => {
    expect([graphFormat('a.svg'), graphFormat('b.HTML')]).toEqual(['svg', 'html'])
    expect(() => graphFormat('c.png')).toThrow(WireError)
    expect(() => graphFormat('c.png')).toThrow('cannot tell the graph format of "c.png": unknown extension ".png"; use .svg or .html')
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-graph-'))
    try {
      const g = buildGraph({ ends: { a: 'x', b: 'y' }, segments: lossyTransfer() })
      expect(await renderGraphToFile(g, join(dir, 'g.svg'))).toBe('svg')
      expect(readFileSync(join(dir, 'g.svg'), 'utf8')).toBe(renderGraphSvg(g))
      expect(await renderGraphToFile(g, join(dir, 'g.html'))).toBe('html')
      expect(readFileSync(join(dir, 'g.html'), 'utf8')).toBe(renderGraphHtml(g))
      await expect(renderGraphToFile(g, join(dir, 'g.txt'))).rejects.toThrow(WireError)
      expect(existsSync(join(dir, 'g.txt'))).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describeChromium('renderGraphSvg in headless Chromium', () => {
  it('draws each kind of mark in its documented colour where the SVG puts it, on a page that is not blank', () => {
    const g = buildGraph({ title: 'lossy', ends: { a: '10.0.0.1:40000', b: '10.0.0.2:5001' }, segments: lossyTransfer() })
    const svg = renderGraphSvg(g)
    const [, width, height] = /<svg [^>]*width="(\d+)" height="(\d+)"/.exec(svg)!
    const { png, px } = screenshotSvg(svg, +width, +height)
    // A pixel is a mark's when, of the palette, white and the frame's greys, that colour is the nearest:
    // anti-aliasing blends thin lines with white, but never towards another mark's colour.
    const palette = [...Object.values(GRAPH_COLORS), '#ffffff', '#d8dee4', '#59636e', '#1f2328']
    const dist = (p: [number, number, number], c: string): number => {
      const [r, gg, b] = hexRgb(c)
      return Math.abs(p[0] - r) + Math.abs(p[1] - gg) + Math.abs(p[2] - b)
    }
    const near = (x: number, y: number, colour: string): boolean => {
      for (let dx = -1; dx <= 1; dx++) {
        for (let dy = -1; dy <= 1; dy++) {
          const p = px(x + dx, y + dy)
          const best = palette.reduce((m, c) => (dist(p, c) < dist(p, m) ? c : m))
          if (best === colour && dist(p, colour) < 120) return true
        }
      }
      return false
    }
    const { ink, colours } = inkAndColours(png)
    expect(ink).toBeGreaterThan(0.03)
    expect(colours).toBeGreaterThan(100)
    // The middle of every retransmission bar is red; the zero-window dot is its colour; the fast
    // retransmit triangle and the RTO line are theirs.
    const mid = (d: string): [number, number] => {
      const m = /^M([\d.]+),([\d.]+) V([\d.]+)/.exec(d)!
      return [+m[1], (+m[2] + +m[3]) / 2]
    }
    for (const m of marks(svg, 'retransmission').filter((m) => m.d !== undefined)) {
      const [x, y] = mid(m.d)
      expect(near(x, y, GRAPH_COLORS.retransmission), `retransmission ${m['data-seg']} at ${x},${y}`).toBe(true)
    }
    const zw = marks(svg, 'zero-window')[0]
    expect(near(+zw.cx, +zw.cy, GRAPH_COLORS.zeroWindow)).toBe(true)
    const fr = /^M([\d.]+),([\d.]+)/.exec(marks(svg, 'fast-retransmit')[0].d)!
    expect(near(+fr[1], +fr[2] + 6, GRAPH_COLORS.fastRetransmit)).toBe(true)
    const rto = /^M([\d.]+),([\d.]+) V([\d.]+)/.exec(marks(svg, 'rto')[0].d)!
    let rtoHits = 0
    for (let y = +rto[2] + 20; y < +rto[3]; y += 1) if (near(+rto[1], y, GRAPH_COLORS.rto)) rtoHits++
    expect(rtoHits).toBeGreaterThan(100)
    // The ACK line's first step (SYN+ACK → first data ACK) runs at ack 0 in green.
    const ack = /^M([\d.]+),([\d.]+) H([\d.]+)/.exec(marks(svg, 'ack')[0].d)!
    expect(near((+ack[1] + +ack[3]) / 2, +ack[2], GRAPH_COLORS.ack)).toBe(true)
  }, 90_000)
})
