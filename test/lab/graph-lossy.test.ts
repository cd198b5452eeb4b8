/**
 * The time-sequence graph of a real lossy transfer, checked against tshark: a kernel sender (python3 in side
 * A of a namespace lab) sends to a kernel receiver (side B) while nftables drops 10% of A's data segments at
 * B's end of the veth, and tcpdump captures on A's end. Every frame tshark flags as
 * `tcp.analysis.retransmission` must be a retransmission in the model and have a mark in the SVG; every
 * segment the model flags must be one tshark calls a retransmission (plain, fast or spurious) or out of
 * order (our rule, like tshark's first test, does not look at timing).
 *
 * The committed capture (test/fixtures/graph/lossy-transfer.pcap, headers only) and docs/time-sequence.svg
 * drawn from it are checked the same way without root; GRAPH_UPDATE_DOCS=1 with root makes both anew.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { inspect, type ConnectionReport } from '../../src/lab/inspect/index.js'
import { GRAPH_MAX_SEGMENTS, graphFromReport, renderGraphSvg, type TimeSequenceGraph } from '../../src/lab/graph/index.js'
import { describeRoot } from '../helpers/root.js'
import { withLab, repoPath } from '../helpers/lab.js'
import { marks } from '../helpers/pictures.js'

const PORT = 5001
const BYTES = 400_000
const FIXTURE = repoPath('test/fixtures/graph/lossy-transfer.pcap')
const DOCS_SVG = repoPath('docs/time-sequence.svg')
const tsharkMissing = spawnSync('tshark', ['--version']).error !== undefined

/** Frame numbers tshark's display filter matches. */
function tsharkFrames(cap: string, filter: string): number[] {
  const r = spawnSync('tshark', ['-n', '-r', cap, '-Y', filter, '-T', 'fields', '-e', 'frame.number'], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`)
  return r.stdout.split('\n').filter((l) => l !== '').map(Number)
}

/** The only connection of a capture, with every segment kept. */
async function onlyConnection(cap: string): Promise<ConnectionReport> {
  const out: ConnectionReport[] = []
  for await (const r of inspect(cap, { keepSegments: GRAPH_MAX_SEGMENTS })) out.push(r)
  expect(out).toHaveLength(1)
  return out[0]
}

/** Checks the model and the SVG of a capture of one connection (every frame one segment) against tshark. */
async function checkAgainstTshark(cap: string): Promise<{ g: TimeSequenceGraph; svg: string; flagged: number[] }> {
  const conn = await onlyConnection(cap)
  // The whole transfer was captured, from the SYN to FIN both ways.
  expect([conn.handshake, conn.ended, conn.bytes.clientToServer]).toEqual(['complete', 'closed', BYTES])
  const g = graphFromReport(conn)
  const svg = renderGraphSvg(g)
  const frames = tsharkFrames(cap, 'tcp')
  expect(conn.segments!.length).toBe(frames.length) // segment i is frame i + 1
  const flagged = tsharkFrames(cap, 'tcp.analysis.retransmission')
  expect(flagged.length, 'the loss caused retransmissions').toBeGreaterThan(0)
  const ours = new Set(g.retransmissions)
  const marked = new Set(marks(svg, 'retransmission').map((m) => Number(m['data-seg'])))
  for (const f of flagged) {
    expect(ours.has(f - 1), `frame ${f} is a retransmission in the model`).toBe(true)
    expect(marked.has(f - 1), `frame ${f} has a retransmission mark`).toBe(true)
  }
  const tsharkAny = new Set(
    tsharkFrames(cap, 'tcp.analysis.retransmission || tcp.analysis.fast_retransmission || tcp.analysis.spurious_retransmission || tcp.analysis.out_of_order'),
  )
  for (const i of g.retransmissions) expect(tsharkAny.has(i + 1), `frame ${i + 1} flagged by us is flagged by tshark`).toBe(true)
  return { g, svg, flagged }
}

const PY_RECEIVER = `
import socket, sys
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((sys.argv[1], int(sys.argv[2])))
l.listen(1)
print('listening', flush=True)
c, _ = l.accept()
n = 0
while True:
    d = c.recv(65536)
    if not d:
        break
    n += len(d)
c.close()
print(n, flush=True)
`
const PY_SENDER = `
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b'x' * int(sys.argv[3]))
s.shutdown(socket.SHUT_WR)
s.recv(1)
s.close()
print('sent', flush=True)
`

/** Resolves with a child's stdout once it exits 0 (rejects otherwise, with its stderr). */
function exited(child: import('node:child_process').ChildProcess): Promise<string> {
  let out = ''
  let err = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()))
  return new Promise((resolve, reject) => {
    child.on('exit', (code, signal) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code ?? signal}: ${err.slice(-400)}`))))
  })
}

/** Resolves once `text` appears on the child's stream. */
function appears(stream: NodeJS.ReadableStream, text: string): Promise<void> {
  let buf = ''
  return new Promise((resolve) => {
    const on = (d: Buffer): void => {
      buf += d.toString()
      if (buf.includes(text)) {
        stream.off('data', on)
        resolve()
      }
    }
    stream.on('data', on)
  })
}

describeRoot('time-sequence graph of a real lossy transfer (root, namespace lab, tshark)', () => {
  it('marks every retransmission tshark flags, in the model and in the SVG', async () => {
    expect(tsharkMissing, 'needs tshark').toBe(false)
    await withLab(async (lab) => {
      const dir = mkdtempSync(join(tmpdir(), 'tcplab-graph-loss-'))
      try {
        const cap = join(dir, 'lossy.pcap')
        const table = `tcplab_${lab.id}_gloss`
        // One segment per frame from A's kernel (no GSO bursts), so one random choice drops one segment.
        await lab.exec('a', ['ip', 'link', 'set', 'dev', lab.a.iface, 'gso_max_segs', '1'])
        await lab.exec('b', ['nft', '-f', '-'], {
          input: `table netdev ${table} {
  counter dropped { }
  chain in {
    type filter hook ingress device "${lab.b.iface}" priority -500; policy accept;
    ip saddr ${lab.a.ipv4} tcp dport ${PORT} tcp flags & (syn | fin) == 0 meta l4proto tcp numgen random mod 10 == 0 counter name dropped drop
  }
}
`,
        })
        const dump = lab.spawn('a', ['tcpdump', '-i', lab.a.iface, '-n', '-s', '128', '-U', '--immediate-mode', '-Z', 'root', '-w', cap, `tcp port ${PORT}`], { stdio: ['ignore', 'ignore', 'pipe'] })
        const dumpDone = exited(dump)
        await appears(dump.stderr!, 'listening on')
        const rx = lab.spawn('b', ['python3', '-c', PY_RECEIVER, lab.b.ipv4, String(PORT)], { stdio: ['ignore', 'pipe', 'pipe'] })
        const rxDone = exited(rx)
        await appears(rx.stdout!, 'listening')
        const tx = lab.spawn('a', ['python3', '-c', PY_SENDER, lab.b.ipv4, String(PORT), String(BYTES)], { stdio: ['ignore', 'pipe', 'pipe'] })
        await exited(tx)
        expect((await rxDone).trim().split('\n').at(-1)).toBe(String(BYTES))
        await new Promise((r) => setTimeout(r, 300)) // the last ACK reaches the capture
        dump.kill('SIGINT')
        await dumpDone
        const dropped = Number(/packets (\d+)/.exec((await lab.exec('b', ['nft', 'list', 'counter', 'netdev', table, 'dropped'])).stdout)?.[1])
        expect(dropped, 'nftables dropped some of the data').toBeGreaterThan(0)
        if (process.env.GRAPH_KEEP_CAPTURE) copyFileSync(cap, process.env.GRAPH_KEEP_CAPTURE)
        const { g, flagged } = await checkAgainstTshark(cap)
        console.log(`graph of a lossy transfer: ${dropped} segments dropped, tshark flags ${flagged.length} retransmissions, the model ${g.retransmissions.length} (${g.events.filter((e) => e.kind === 'fast-retransmit').length} fast, ${g.events.filter((e) => e.kind === 'rto').length} RTO)`)
        // The docs test below then draws docs/time-sequence.svg from it.
        if (process.env.GRAPH_UPDATE_DOCS === '1') copyFileSync(cap, FIXTURE)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    })
  }, 120_000)
})

describe('the committed lossy capture and docs/time-sequence.svg', () => {
  it.skipIf(tsharkMissing && process.env.LAB_REQUIRE_ROOT !== '1')('every retransmission tshark flags in the fixture is marked', async () => {
    await checkAgainstTshark(FIXTURE)
  })

  it('docs/time-sequence.svg is the fixture as the renderer draws it today (regenerate: GRAPH_UPDATE_DOCS=1, root)', async () => {
    const g = graphFromReport(await onlyConnection(FIXTURE))
    if (process.env.GRAPH_UPDATE_DOCS === '1') writeFileSync(DOCS_SVG, renderGraphSvg(g))
    expect(readFileSync(DOCS_SVG, 'utf8')).toBe(renderGraphSvg(g))
    expect(g.retransmissions.length).toBeGreaterThan(0)
  })
})
