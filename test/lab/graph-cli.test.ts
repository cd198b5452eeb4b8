/**
 * `--graph FILE` on the CLI: inspect draws the committed lossy capture exactly as the renderer does (SVG and
 * HTML), refuses other extensions in one line with exit 2 before reading, and names a missing connection;
 * handshake --graph writes the live run's graph (root, namespace lab, a python3 echo server in side B).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { COMMANDS, main } from '../../src/lab/cli.js'
import { inspectCommand } from '../../src/lab/commands/inspect.js'
import type { Io } from '../../src/lab/command.js'
import { inspect, type ConnectionReport } from '../../src/lab/inspect/index.js'
import { GRAPH_MAX_SEGMENTS, graphFromReport, renderGraphHtml, renderGraphSvg } from '../../src/lab/graph/index.js'
import { describeRoot, itRoot } from '../helpers/root.js'
import { repoPath, requireBuilt, withLab } from '../helpers/lab.js'
import { marks } from '../helpers/pictures.js'

const FIXTURE = repoPath('test/fixtures/graph/lossy-transfer.pcap')
const CLI = repoPath('dist/lab/cli.js')

async function cli(argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  if (!COMMANDS.some((c) => c.name === 'inspect')) COMMANDS.push(inspectCommand)
  const out: string[] = []
  const err: string[] = []
  const io: Io = { stdout: (l) => out.push(l), stderr: (l) => err.push(l), stdin: Readable.from([]), isTTY: false }
  const code = await main(argv, io)
  return { code, out, err }
}

async function fixtureConnection(): Promise<ConnectionReport> {
  for await (const r of inspect(FIXTURE, { keepSegments: GRAPH_MAX_SEGMENTS })) return r
  throw new Error('no connection')
}

describe('tcplab inspect --graph', () => {
  it('writes the SVG and the HTML page of connection #1 as the renderers draw them, and says so on stderr', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-graph-cli-'))
    try {
      const g = graphFromReport(await fixtureConnection())
      const svg = join(dir, 'g.svg')
      const r = await cli(['inspect', FIXTURE, '--summary', '--graph', svg])
      expect(r.code).toBe(0)
      expect(r.err).toEqual([`wrote the time-sequence graph of connection #1 to ${svg} (svg; ${g.data.length} data segments, ${g.retransmissions.length} retransmissions)`])
      expect(readFileSync(svg, 'utf8')).toBe(renderGraphSvg(g))
      const html = join(dir, 'g.html')
      const h = await cli(['inspect', FIXTURE, '--json', '--connection', '1', '--graph', html])
      expect([h.code, h.err]).toEqual([0, []])
      expect(readFileSync(html, 'utf8')).toBe(renderGraphHtml(g))
      expect(marks(readFileSync(svg, 'utf8'), 'retransmission').length).toBe(g.retransmissions.length)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses a format it cannot write in one line, exit 2, and names a connection the capture lacks', async () => {
    const bad = await cli(['inspect', FIXTURE, '--graph', 'g.png'])
    expect([bad.code, bad.out, bad.err]).toEqual([2, [], ['tcplab inspect: cannot tell the graph format of "g.png": unknown extension ".png"; use .svg or .html']])
    const json = await cli(['inspect', FIXTURE, '--json', '--graph', 'g'])
    expect(json.code).toBe(2)
    expect(JSON.parse(json.out.at(-1)!)).toEqual({ error: { code: 'ERR_BAD_ARGUMENT', message: 'cannot tell the graph format of "g": no extension; use .svg or .html' } })
    const missing = await cli(['inspect', FIXTURE, '--summary', '--connection', '2', '--graph', join(tmpdir(), 'never.svg')])
    expect(missing.code).not.toBe(0)
    expect(missing.err).toEqual(['tcplab inspect: the capture has no connection #2 (it has 1)'])
    const live = await cli(['inspect', '--iface', 'lo', '--graph', 'g.svg'])
    expect([live.code, live.err]).toEqual([2, ['tcplab inspect: --graph is for capture files, not --iface']])
  })
})

const PY_ECHO = `
import socket, sys
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(1)
print('listening', flush=True)
c, _ = l.accept()
d = c.recv(65536)
c.sendall(d * 2000)
c.close()
`

describeRoot('tcplab handshake --graph (root, namespace lab)', () => {
  itRoot('draws the live run: the peer sent the most data, so it is the sender, every segment kept', async () => {
    requireBuilt('dist/lab/cli.js')
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-graph-hs-'))
    try {
      await withLab(async (lab) => {
        const echo = lab.spawn('b', ['python3', '-c', PY_ECHO, lab.b.ipv4, '1937'], { stdio: ['ignore', 'pipe', 'pipe'] })
        await new Promise<void>((resolve) => echo.stdout!.once('data', () => resolve()))
        const svg = join(dir, 'hs.svg')
        const r = await lab.exec('a', [process.execPath, CLI, 'handshake', `${lab.b.ipv4}:1937`, '--send', 'hello', '--idle', '300', '--json', '--graph', svg], {
          allowFail: true,
          timeoutMs: 30_000,
        })
        expect(r.code).toBe(0)
        const j = JSON.parse(r.stdout)
        expect(j.receivedBytes).toBe(10_000)
        const text = readFileSync(svg, 'utf8')
        expect(text).toContain(`<title>TCP time-sequence graph, tcplab handshake ${lab.b.ipv4}:1937</title>`)
        // The peer's 10 000 bytes are "data sent": the caption names it as the sender.
        expect(text).toMatch(new RegExp(`data ${lab.b.ipv4.replace(/\./g, '\\.')}:1937 → [0-9.]+:\\d+: 10kB in \\d+ segments`))
        expect(marks(text, 'data')).toHaveLength(1)
        expect(marks(text, 'ack')).toHaveLength(1)
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
