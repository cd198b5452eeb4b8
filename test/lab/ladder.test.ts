/**
 * Ladder diagrams: the terminal text checked line by line against a literal for the seed's exchange
 * (client ISN 1000, server ISN 5000, '张三: ' and its reply, FIN both ways), exact Mermaid, well-formed
 * SVG whose labels never overlap, a self-contained HTML page, renderToFile's choice of format, and a
 * headless Chromium screenshot of the SVG decoded and checked pixel by pixel.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ECHO_DEFAULTS } from '../../src/lab/echo.js'
import {
  diagramFormat,
  displayWidth,
  flagNames,
  mermaidText,
  renderHtml,
  renderMermaid,
  renderSvg,
  renderText,
  renderToFile,
  rowLabel,
  xmlEscape,
} from '../../src/lab/ladder/index.js'
import type { LadderExchange, LadderRow } from '../../src/lab/ladder/index.js'
import type { TcpOption } from '../../src/tcp/options.js'
import type { Seq } from '../../src/tcp/seq.js'
import { WireError } from '../../src/tcp/errors.js'
import { decodePng, describeChromium, hexRgb, inkAndColours, screenshot, screenshotSvg } from '../helpers/pictures.js'

// ---------------------------------------------------------------------------------------------------------
// The seed's exchange, as a Linux client and server would make it on the namespace lab's veth pair.

const J = 1000 // client ISN
const K = 5000 // server ISN
const MSG = Buffer.byteLength(ECHO_DEFAULTS.message) // '张三: ' is 8 bytes of UTF-8
const REPLY = Buffer.byteLength(ECHO_DEFAULTS.message + ECHO_DEFAULTS.suffix) // '张三:  你好!' is 16

const synOpts = (ts: number, ecr: number): TcpOption[] => [
  { kind: 'mss', value: 1460 },
  { kind: 'sackPermitted' },
  { kind: 'timestamp', value: ts, echo: ecr },
  { kind: 'nop' },
  { kind: 'wscale', shift: 7 },
]
const tsOpts = (ts: number, ecr: number): TcpOption[] => [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: ts, echo: ecr }]

const seq = (n: number): Seq => (n >>> 0) as Seq
type R = Omit<LadderRow, 'options'> & { options?: TcpOption[] }
const row = (r: R): LadderRow => ({ options: [], ...r })
// Client windows after the handshake: 502 << 7 = 64256 bytes; server 509 << 7 = 65152.
const C = { window: 502, scaledWindow: 64256 }
const S = { window: 509, scaledWindow: 65152 }

function seedExchange(): LadderExchange {
  return {
    title: 'seed echo: handshake, one message each way, FIN both ways',
    left: { label: 'client', endpoint: '198.18.0.1:40000', isn: J },
    right: { label: 'server', endpoint: '198.18.0.2:1935', isn: K },
    rows: [
      row({ from: 'left', timeUs: 0, flags: 'S', seq: J, ack: 0, hasAck: false, len: 0, window: 64240, options: synOpts(4079300, 0), leftState: 'SYN-SENT', rightState: 'SYN-RECEIVED' }),
      row({ from: 'right', timeUs: 48, flags: 'SA', seq: K, ack: J + 1, hasAck: true, len: 0, window: 65160, options: synOpts(2176001, 4079300), leftState: 'ESTABLISHED', rightState: 'SYN-RECEIVED' }),
      row({ from: 'left', timeUs: 71, flags: 'A', seq: J + 1, ack: K + 1, hasAck: true, len: 0, ...C, options: tsOpts(4079300, 2176001), leftState: 'ESTABLISHED', rightState: 'ESTABLISHED' }),
      row({ from: 'left', timeUs: 95, flags: 'PA', seq: J + 1, ack: K + 1, hasAck: true, len: MSG, ...C, options: tsOpts(4079300, 2176001), leftState: 'ESTABLISHED', rightState: 'ESTABLISHED' }),
      row({ from: 'right', timeUs: 180, flags: 'PA', seq: K + 1, ack: J + 1 + MSG, hasAck: true, len: REPLY, ...S, options: tsOpts(2176001, 4079300), leftState: 'ESTABLISHED', rightState: 'ESTABLISHED' }),
      row({ from: 'left', timeUs: 212, flags: 'FA', seq: J + 1 + MSG, ack: K + 1 + REPLY, hasAck: true, len: 0, ...C, options: tsOpts(4079301, 2176001), leftState: 'FIN-WAIT-1', rightState: 'CLOSE-WAIT' }),
      row({ from: 'right', timeUs: 260, flags: 'A', seq: K + 1 + REPLY, ack: J + 2 + MSG, hasAck: true, len: 0, ...S, options: tsOpts(2176001, 4079301), leftState: 'FIN-WAIT-2', rightState: 'CLOSE-WAIT' }),
      row({ from: 'right', timeUs: 301, flags: 'FA', seq: K + 1 + REPLY, ack: J + 2 + MSG, hasAck: true, len: 0, ...S, options: tsOpts(2176002, 4079301), leftState: 'TIME-WAIT', rightState: 'LAST-ACK' }),
      row({ from: 'left', timeUs: 322, flags: 'A', seq: J + 2 + MSG, ack: K + 2 + REPLY, hasAck: true, len: 0, ...C, options: tsOpts(4079302, 2176002), leftState: 'TIME-WAIT', rightState: 'CLOSED' }),
    ],
    outcome: 'closed with FIN both ways',
  }
}

/** A refused connection after a lost SYN, over IPv6, with wrapped notes and awkward characters. */
function lossyExchange(): LadderExchange {
  const isn = 4294967000 // wraps past 2^32 after 296 bytes
  return {
    title: 'refused after a lost SYN <&> "q" \'a\'',
    left: { label: 'tcplab (userland)', endpoint: '[2001:2::10]:40000', isn },
    right: { label: 'Linux kernel', endpoint: '[2001:2::2]:9' },
    rows: [
      row({ from: 'left', timeUs: 1_000_000, flags: 'S', seq: isn, ack: 0, hasAck: false, len: 0, window: 64800, options: [{ kind: 'mss', value: 1440 }, { kind: 'unknown', type: 34, data: new Uint8Array(2) }], leftState: 'SYN-SENT', lost: true, notes: ['dropped by tcplab fault injector (seed 42, drop probability 0.5, first SYN only)'] }),
      row({ from: 'left', timeUs: 2_003_000, flags: 'S', seq: isn, ack: 0, hasAck: false, len: 0, window: 64800, options: [{ kind: 'mss', value: 1440 }], leftState: 'SYN-SENT', notes: ['retransmission'] }),
      row({ from: 'right', timeUs: 2_003_050, flags: 'RA', seq: 0, ack: isn + 1, hasAck: true, len: 0, window: 0, leftState: 'CLOSED', rightState: 'CLOSED' }),
      row({ from: 'right', timeUs: 2_003_060, flags: 'A', seq: 0, ack: (isn + 400) >>> 0, hasAck: true, len: 0, window: 0, options: [{ kind: 'sack', blocks: [[seq(isn + 100), seq(isn + 496)]] }], lost: true }),
    ],
    outcome: 'refused (RST)',
  }
}

// ---------------------------------------------------------------------------------------------------------
// Text

// Read and checked by hand: relative numbers count from each side's ISN (SYN seq=0; SYN+ACK seq=0 ack=1;
// the third ACK seq=1 ack=1); the message is 8 bytes (ack=9), the reply 16 (ack=17); each FIN takes one
// sequence number (ack=10, ack=18). Labels sit next to the sender's column; states after each segment.
const EXPECTED_TEXT = `seed echo: handshake, one message each way, FIN both ways
relative seq/ack (client ISN 1000, server ISN 5000)

                     client                                                        server
                198.18.0.1:40000                                               198.18.0.2:1935
                        │                                                             │
                        │ SYN seq=0 len=0 win=64240                                   │
                        │ mss 1460, sackOK, TS val 4079300 ecr 0, wscale 7            │
+0.000 ms      SYN-SENT ├────────────────────────────────────────────────────────────►│ SYN-RECEIVED
                        │                                                             │
                        │                         SYN+ACK seq=0 ack=1 len=0 win=65160 │
                        │      mss 1460, sackOK, TS val 2176001 ecr 4079300, wscale 7 │
+0.048 ms   ESTABLISHED │◄────────────────────────────────────────────────────────────┤ SYN-RECEIVED
                        │                                                             │
                        │ ACK seq=1 ack=1 len=0 win=502 (scaled 64256)                │
                        │ TS val 4079300 ecr 2176001                                  │
+0.071 ms   ESTABLISHED ├────────────────────────────────────────────────────────────►│ ESTABLISHED
                        │                                                             │
                        │ PSH+ACK seq=1 ack=1 len=8 win=502 (scaled 64256)            │
                        │ TS val 4079300 ecr 2176001                                  │
+0.095 ms   ESTABLISHED ├────────────────────────────────────────────────────────────►│ ESTABLISHED
                        │                                                             │
                        │           PSH+ACK seq=1 ack=9 len=16 win=509 (scaled 65152) │
                        │                                  TS val 2176001 ecr 4079300 │
+0.180 ms   ESTABLISHED │◄────────────────────────────────────────────────────────────┤ ESTABLISHED
                        │                                                             │
                        │ FIN+ACK seq=9 ack=17 len=0 win=502 (scaled 64256)           │
                        │ TS val 4079301 ecr 2176001                                  │
+0.212 ms    FIN-WAIT-1 ├────────────────────────────────────────────────────────────►│ CLOSE-WAIT
                        │                                                             │
                        │              ACK seq=17 ack=10 len=0 win=509 (scaled 65152) │
                        │                                  TS val 2176001 ecr 4079301 │
+0.260 ms    FIN-WAIT-2 │◄────────────────────────────────────────────────────────────┤ CLOSE-WAIT
                        │                                                             │
                        │          FIN+ACK seq=17 ack=10 len=0 win=509 (scaled 65152) │
                        │                                  TS val 2176002 ecr 4079301 │
+0.301 ms     TIME-WAIT │◄────────────────────────────────────────────────────────────┤ LAST-ACK
                        │                                                             │
                        │ ACK seq=10 ack=18 len=0 win=502 (scaled 64256)              │
                        │ TS val 4079302 ecr 2176002                                  │
+0.322 ms     TIME-WAIT ├────────────────────────────────────────────────────────────►│ CLOSED
                        │                                                             │
outcome: closed with FIN both ways
`

const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '')

describe('renderText', () => {
  it('draws the seed exchange exactly as expected, line by line', () => {
    const got = renderText(seedExchange()).split('\n')
    const want = EXPECTED_TEXT.split('\n')
    for (let i = 0; i < Math.max(got.length, want.length); i++) expect(got[i], `line ${i + 1}`).toBe(want[i])
  })

  it('shows absolute numbers with absolute: true', () => {
    const lines = renderText(seedExchange(), { absolute: true }).split('\n')
    expect(lines[1]).toBe('absolute seq/ack, as on the wire')
    const heads = lines.filter((l) => /(SYN|ACK|FIN)\S* seq=/.test(l)).map((l) => l.replace(/^.*│ +| *│$/g, ''))
    expect(heads).toEqual([
      'SYN seq=1000 len=0 win=64240',
      'SYN+ACK seq=5000 ack=1001 len=0 win=65160',
      'ACK seq=1001 ack=5001 len=0 win=502 (scaled 64256)',
      'PSH+ACK seq=1001 ack=5001 len=8 win=502 (scaled 64256)',
      'PSH+ACK seq=5001 ack=1009 len=16 win=509 (scaled 65152)',
      'FIN+ACK seq=1009 ack=5017 len=0 win=502 (scaled 64256)',
      'ACK seq=5017 ack=1010 len=0 win=509 (scaled 65152)',
      'FIN+ACK seq=5017 ack=1010 len=0 win=509 (scaled 65152)',
      'ACK seq=1010 ack=5018 len=0 win=502 (scaled 64256)',
    ])
    // Everything but the numbers is the same as the relative ladder.
    const rel = renderText(seedExchange()).split('\n')
    expect(lines.length).toBe(rel.length)
    expect(lines.filter((l, i) => l !== rel[i]).length).toBe(1 + heads.length)
  })

  it('colours only when asked, and the colours are the only difference', () => {
    const plain = renderText(seedExchange())
    expect(plain).not.toMatch(/\x1b/)
    expect(renderText(seedExchange(), { color: false })).toBe(plain)
    const coloured = renderText(seedExchange(), { color: true })
    expect(coloured).toMatch(/\x1b\[1;36mSYN\x1b\[0m/) // SYN in bold cyan
    expect(coloured).toMatch(/\x1b\[1;35mFIN\+ACK\x1b\[0m/) // FIN in bold magenta
    expect(stripAnsi(coloured)).toBe(plain)
  })

  it('fits 100 columns by default and a narrower width when asked', () => {
    for (const ex of [seedExchange(), lossyExchange()]) {
      for (const l of renderText(ex).split('\n')) expect(displayWidth(l), l).toBeLessThanOrEqual(100)
    }
    const narrow = renderText(lossyExchange(), { width: 80 }).split('\n')
    for (const l of narrow) expect(displayWidth(l), l).toBeLessThanOrEqual(80)
    // The long note wrapped rather than overflowing; every word is still there.
    expect(narrow.join(' ').replace(/[│ ]+/g, ' ')).toContain('first SYN only)')
  })

  it('draws lost segments ending in ✗, wraps notes, counts past 2^32 and bases an unknown ISN on the first segment', () => {
    const lines = renderText(lossyExchange()).split('\n')
    expect(lines.slice(6, 15)).toEqual([
      '                       │ SYN seq=0 len=0 win=64800                                        │',
      '                       │ mss 1440, opt 34 (2 bytes)                                       │',
      '                       │ lost; dropped by tcplab fault injector (seed 42, drop            │',
      '                       │ probability 0.5, first SYN only)                                 │',
      '+0.000 ms     SYN-SENT ├───────────────────────────────────────✗                          │',
      '                       │                                                                  │',
      '                       │ SYN seq=0 len=0 win=64800                                        │',
      '                       │ mss 1440                                                         │',
      '                       │ retransmission                                                   │',
    ])
    expect(lines[1]).toBe('relative seq/ack (tcplab (userland) ISN 4294967000, Linux kernel ISN 0)')
    expect(lines).toContain('+1003.050 ms    CLOSED │◄─────────────────────────────────────────────────────────────────┤ CLOSED')
    // The ACK's ack and SACK block are in the client's space, relative across the wrap.
    expect(lines).toContain('                       │                                    ACK seq=0 ack=400 len=0 win=0 │')
    expect(lines).toContain('                       │                                                     sack 100-496 │')
    expect(lines).toContain('+1003.060 ms           │                          ✗───────────────────────────────────────┤')
    expect(lines.at(-2)).toBe('outcome: refused (RST)')
  })

  it('names flags the way Wireshark does', () => {
    expect(['S', 'SA', 'A', 'PA', 'FA', 'R', 'RA', 'FPA', 'SEC', '', 'as'].map(flagNames)).toEqual([
      'SYN', 'SYN+ACK', 'ACK', 'PSH+ACK', 'FIN+ACK', 'RST', 'RST+ACK', 'FIN+PSH+ACK', 'SYN+ECE+CWR', 'none', 'SYN+ACK',
    ])
  })

  it('says so when there is nothing to draw', () => {
    const ex: LadderExchange = { left: { label: 'a', endpoint: '10.0.0.1:1' }, right: { label: 'b', endpoint: '10.0.0.2:2' }, rows: [] }
    expect(renderText(ex)).toContain('│ (no segments)')
    expect(renderMermaid(ex)).toBe(
      'sequenceDiagram\n    participant L as a<br/>10.0.0.1:1\n    participant R as b<br/>10.0.0.2:2\n    Note over L,R: relative seq/ack (a ISN ?, b ISN ?)\n',
    )
    expect(tagBalance(renderSvg(ex))).toBeUndefined()
  })
})

// ---------------------------------------------------------------------------------------------------------
// Mermaid

const EXPECTED_MERMAID = `---
title: "seed echo: handshake, one message each way, FIN both ways"
---
sequenceDiagram
    participant L as client<br/>198.18.0.1:40000
    participant R as server<br/>198.18.0.2:1935
    Note over L,R: relative seq/ack (client ISN 1000, server ISN 5000)
    L->>R: +0.000 ms · SYN seq=0 len=0 win=64240<br/>mss 1460, sackOK, TS val 4079300 ecr 0, wscale 7
    Note left of L: SYN-SENT
    Note right of R: SYN-RECEIVED
    R->>L: +0.048 ms · SYN+ACK seq=0 ack=1 len=0 win=65160<br/>mss 1460, sackOK, TS val 2176001 ecr 4079300, wscale 7
    Note left of L: ESTABLISHED
    L->>R: +0.071 ms · ACK seq=1 ack=1 len=0 win=502 (scaled 64256)<br/>TS val 4079300 ecr 2176001
    Note right of R: ESTABLISHED
    L->>R: +0.095 ms · PSH+ACK seq=1 ack=1 len=8 win=502 (scaled 64256)<br/>TS val 4079300 ecr 2176001
    R->>L: +0.180 ms · PSH+ACK seq=1 ack=9 len=16 win=509 (scaled 65152)<br/>TS val 2176001 ecr 4079300
    L->>R: +0.212 ms · FIN+ACK seq=9 ack=17 len=0 win=502 (scaled 64256)<br/>TS val 4079301 ecr 2176001
    Note left of L: FIN-WAIT-1
    Note right of R: CLOSE-WAIT
    R->>L: +0.260 ms · ACK seq=17 ack=10 len=0 win=509 (scaled 65152)<br/>TS val 2176001 ecr 4079301
    Note left of L: FIN-WAIT-2
    R->>L: +0.301 ms · FIN+ACK seq=17 ack=10 len=0 win=509 (scaled 65152)<br/>TS val 2176002 ecr 4079301
    Note left of L: TIME-WAIT
    Note right of R: LAST-ACK
    L->>R: +0.322 ms · ACK seq=10 ack=18 len=0 win=502 (scaled 64256)<br/>TS val 4079302 ecr 2176002
    Note right of R: CLOSED
    Note over L,R: outcome: closed with FIN both ways
`

describe('renderMermaid', () => {
  it('writes the seed exchange exactly: a message per segment, a note per state change', () => {
    expect(renderMermaid(seedExchange())).toBe(EXPECTED_MERMAID)
  })

  it('crosses out lost segments and escapes what Mermaid would parse', () => {
    const m = renderMermaid(lossyExchange())
    expect(m).toContain('    L-xR: +0.000 ms · SYN seq=0 len=0 win=64800<br/>mss 1440, opt 34 (2 bytes)<br/>lost#59; dropped by tcplab fault injector')
    expect(m).toContain('    R-xL: +1003.060 ms · ACK seq=0 ack=400 len=0 win=0<br/>sack 100-496<br/>lost\n')
    expect(m).toContain('title: "refused after a lost SYN <&> \\"q\\" \'a\'"')
    expect(mermaidText('a;b#c<d>e\nf')).toBe('a#59;b#35;c#60;d#62;e f')
  })
})

// ---------------------------------------------------------------------------------------------------------
// SVG and HTML

/** A tiny XML well-formedness check: tags balance, attributes are quoted, only the five entities appear. */
function tagBalance(xml: string): string | undefined {
  const stack: string[] = []
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '')
  const re = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->|<|&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[\da-f]+);)/gi
  let m: RegExpExecArray | null
  let roots = 0
  while ((m = re.exec(body)) !== null) {
    if (m[0] === '<') return `stray '<' at ${m.index}`
    if (m[0].startsWith('&')) return `bare '&' at ${m.index}`
    if (m[0].startsWith('<!--')) continue
    const [, close, name, , selfClose] = m
    if (close) {
      if (stack.pop() !== name) return `</${name}> at ${m.index} closes nothing open`
    } else if (!selfClose) {
      if (stack.length === 0) roots++
      stack.push(name)
    } else if (stack.length === 0) roots++
  }
  if (stack.length > 0) return `unclosed <${stack.join('> <')}>`
  return roots === 1 ? undefined : `${roots} root elements`
}

const hasXmllint = spawnSync('xmllint', ['--version']).error === undefined

/** Attribute values of every `<tag …>` in the SVG, as numbers where they parse. */
function elements(svg: string, tag: string): Array<Record<string, string>> {
  const out: Array<Record<string, string>> = []
  for (const m of svg.matchAll(new RegExp(`<${tag}\\b([^>]*)>`, 'g'))) {
    const attrs: Record<string, string> = {}
    for (const a of m[1].matchAll(/([\w:-]+)="([^"]*)"/g)) attrs[a[1]] = a[2]
    out.push(attrs)
  }
  return out
}

describe('renderSvg', () => {
  for (const [name, make] of [['seed', seedExchange], ['lossy', lossyExchange]] as const) {
    it(`is well-formed XML (${name})`, () => {
      const svg = renderSvg(make())
      expect(tagBalance(svg)).toBeUndefined()
      expect(svg.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" ')).toBe(true)
      if (hasXmllint) {
        const r = spawnSync('xmllint', ['--noout', '-'], { input: svg })
        expect(r.stderr.toString()).toBe('')
        expect(r.status).toBe(0)
      }
    })

    it(`contains every label, state, endpoint, the title and the outcome, escaped (${name})`, () => {
      const ex = make()
      const svg = renderSvg(ex)
      const svgText = [...svg.matchAll(/<text[^>]*>(.*?)<\/text>/g)].map((m) => m[1].replace(/<[^>]+>/g, ''))
      // Every row's label appears whole (wrapped lines are consecutive <text>s broken at spaces).
      const all = svgText.join(' ')
      for (const r of ex.rows) {
        const l = rowLabel(ex, r)
        for (const part of [`${l.flags} ${l.numbers}`, l.options, l.notes]) expect(all).toContain(xmlEscape(part))
      }
      expect(all).toContain('SYN seq=0 len=0 win=')
      for (const r of ex.rows) {
        for (const s of [r.leftState, r.rightState]) if (s) expect(svgText).toContain(s)
      }
      for (const s of [ex.left.label, ex.left.endpoint, ex.right.label, ex.right.endpoint, ex.title ?? '']) expect(svgText).toContain(xmlEscape(s))
      expect(svg).toContain(`<tspan font-weight="700">outcome:</tspan> ${xmlEscape(ex.outcome ?? '')}`)
    })

    it(`lays labels out without overlaps (${name})`, () => {
      const ex = make()
      const svg = renderSvg(ex)
      const backs = elements(svg, 'rect').filter((r) => r['fill-opacity'] === '0.94').map((r) => ({ y0: +r.y, y1: +r.y + +r.height, x0: +r.x, x1: +r.x + +r.width }))
      const arrows = elements(svg, 'line').filter((l) => l.y1 === l.y2).map((l) => +l.y1)
      const boxes = elements(svg, 'rect').filter((r) => r.height === '20').map((r) => ({ y0: +r.y, y1: +r.y + 20, x0: +r.x, x1: +r.x + +r.width }))
      expect(backs.length).toBe(ex.rows.length)
      expect(arrows.length).toBe(ex.rows.length)
      const { width } = elements(svg, 'svg')[0]
      for (let i = 0; i < backs.length; i++) {
        expect(backs[i].x0).toBeGreaterThan(0)
        expect(backs[i].x1).toBeLessThan(+width)
        // below the previous arrow, above its own, clear of every state box
        expect(backs[i].y1).toBeLessThan(arrows[i])
        if (i > 0) expect(backs[i].y0).toBeGreaterThan(arrows[i - 1] + 10)
        for (const b of boxes) expect(b.x1 < backs[i].x0 || b.x0 > backs[i].x1 || b.y1 < backs[i].y0 || b.y0 > backs[i].y1).toBe(true)
      }
    })
  }

  it('escapes XML and replaces characters XML cannot carry', () => {
    expect(xmlEscape(`<a href="x">&'\u0001\ud800`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;\ufffd\ufffd')
    const svg = renderSvg({ ...lossyExchange(), outcome: 'bad\u0000byte & <done>' })
    expect(svg).toContain('refused after a lost SYN &lt;&amp;&gt; &quot;q&quot; &apos;a&apos;')
    expect(svg).toContain('bad\ufffdbyte &amp; &lt;done&gt;')
    expect(tagBalance(svg)).toBeUndefined()
  })
})

describe('renderHtml', () => {
  it('is one self-contained page: the inline SVG, a table of the segments, no network references', () => {
    const ex = seedExchange()
    const html = renderHtml(ex)
    expect(html.startsWith('<!DOCTYPE html>\n<html lang="en">')).toBe(true)
    expect(html).toContain(renderSvg(ex, { inline: true }).trimEnd())
    expect(html).not.toMatch(/https?:\/\//)
    expect(html).not.toMatch(/<(script|link|img|iframe)\b|\bsrc=|@import|url\((?!#)/i)
    expect(html.match(/<tr>/g)?.length).toBe(1 + ex.rows.length)
    expect(html).toContain(
      '<tr><td class="num">2</td><td class="num">+0.048 ms</td><td class="dir">server → client</td><td class="mono">SYN+ACK</td><td class="num">0</td><td class="num">1</td><td class="num">0</td><td class="num">65160</td><td class="mono">mss 1460, sackOK, TS val 2176001 ecr 4079300, wscale 7</td><td class="state">ESTABLISHED</td><td class="state">SYN-RECEIVED</td><td></td></tr>',
    )
    expect(renderHtml(lossyExchange())).toContain('<tr class="lost"><td class="num">1</td>')
  })
})

// ---------------------------------------------------------------------------------------------------------
// renderToFile

describe('renderToFile', () => {
  it('picks the format from the extension', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-ladder-'))
    try {
      const ex = seedExchange()
      expect(await renderToFile(ex, join(dir, 'a.mmd'))).toBe('mermaid')
      expect(readFileSync(join(dir, 'a.mmd'), 'utf8')).toBe(EXPECTED_MERMAID)
      expect(await renderToFile(ex, join(dir, 'a.md'))).toBe('markdown')
      expect(readFileSync(join(dir, 'a.md'), 'utf8')).toBe('```mermaid\n' + EXPECTED_MERMAID + '```\n')
      expect(await renderToFile(ex, join(dir, 'A.SVG'), { absolute: true })).toBe('svg')
      expect(readFileSync(join(dir, 'A.SVG'), 'utf8')).toBe(renderSvg(ex, { absolute: true }))
      expect(await renderToFile(ex, join(dir, 'a.html'))).toBe('html')
      expect(readFileSync(join(dir, 'a.html'), 'utf8')).toBe(renderHtml(ex))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('rejects an unknown extension with ERR_BAD_ARGUMENT naming the allowed ones, writing nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-ladder-'))
    try {
      const path = join(dir, 'ladder.png')
      const err = await renderToFile(seedExchange(), path).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(WireError)
      expect((err as WireError).code).toBe('ERR_BAD_ARGUMENT')
      expect((err as WireError).message).toBe(`cannot tell the diagram format of ${JSON.stringify(path)}: unknown extension ".png"; use .mmd, .md, .svg, .html`)
      expect(existsSync(path)).toBe(false)
      expect(() => diagramFormat('ladder')).toThrow('no extension; use .mmd, .md, .svg, .html')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

// ---------------------------------------------------------------------------------------------------------
// Headless Chromium: the SVG really renders, and docs/handshake.svg is what the renderer makes today.

const DOCS_SVG = new URL('../../docs/handshake.svg', import.meta.url).pathname
const DOCS_PNG = new URL('../../docs/handshake.png', import.meta.url).pathname

describeChromium('renderSvg in headless Chromium', () => {
  it('renders every arrow in its colour on a page that is far from blank', () => {
    const svg = renderSvg(seedExchange())
    const { width, height } = elements(svg, 'svg')[0]
    const { png, px } = screenshotSvg(svg, +width, +height)
    const { ink, colours } = inkAndColours(png)
    // Measured here at about 13% of pixels inked and thousands of colours (anti-aliased text).
    expect(ink).toBeGreaterThan(0.06)
    expect(colours).toBeGreaterThan(200)
    // The middle of each arrow's shaft is its colour: the drawing is where the layout says.
    for (const l of elements(svg, 'line').filter((e) => e.y1 === e.y2)) {
      const [r, g, b] = px((+l.x1 + +l.x2) / 2, +l.y1)
      const [er, eg, eb] = hexRgb(l.stroke)
      expect(Math.abs(r - er) + Math.abs(g - eg) + Math.abs(b - eb), `arrow at y=${l.y1}`).toBeLessThan(40)
    }
  })
})

// LADDER_UPDATE_DOCS=1 rewrites the committed example and its screenshot (which needs Chromium).
describe('docs/handshake.svg', () => {
  it('is the seed exchange as the renderer draws it today, with a screenshot of the same size', () => {
    const svg = renderSvg(seedExchange())
    const { width, height } = elements(svg, 'svg')[0]
    if (process.env.LADDER_UPDATE_DOCS === '1') {
      writeFileSync(DOCS_SVG, svg)
      writeFileSync(DOCS_PNG, screenshot(DOCS_SVG, +width, +height))
    }
    expect(readFileSync(DOCS_SVG, 'utf8'), 'regenerate with LADDER_UPDATE_DOCS=1').toBe(svg)
    const png = decodePng(readFileSync(DOCS_PNG))
    expect([png.width, png.height]).toEqual([+width, +height])
  })
})
