/**
 * `tcplab inspect`: what happened to every TCP connection in a capture file (or, live, on an interface):
 * both ends, ISNs, options and what they add up to, handshake RTTs, retransmitted SYNs, resets, bytes,
 * how it ended, anomalies. Text by default, one JSON object per connection with --json.
 */
import * as fs from 'node:fs'
import { isWireError, WireError } from '../../tcp/errors.js'
import { DEFAULT_LADDER_ROWS, diagramFormat, renderText, renderToFile } from '../ladder/index.js'
import { parseUint, usageError, type Command, type CommandArgs, type Io } from '../command.js'
import {
  compileFilter,
  FILTER_HELP,
  packetLine,
  packetToJson,
  summaryLine,
  endpointText,
  formatReport,
  formatSummary,
  inspect,
  msText,
  reportToJson,
  toLadder,
  type ConnectionReport,
  type InspectSummary,
} from '../inspect/index.js'
import { ProgressBar } from '../inspect/progress.js'
import { GRAPH_MAX_SEGMENTS, graphFormat, graphFromReport, renderGraphToFile } from '../graph/index.js'
import { DEFAULT_LIVE_FILTER, inspectLive } from '../inspect/live.js'

/** Whether colours may be used on stdout (a terminal, and NO_COLOR unset: https://no-color.org). */
function colorOk(io: Io): boolean {
  return io.isTTY && (process.env.NO_COLOR ?? '') === ''
}

/** One line for a live event: a completed handshake or a connection's end. */
export function liveLine(r: ConnectionReport, event: 'handshake' | 'end'): string {
  const who = `${endpointText(r.client)} → ${endpointText(r.server)}`
  if (event === 'end') {
    if (r.ended === 'refused') return `${who}  refused (RST from the server)`
    if (r.ended === 'reset') return `${who}  reset by the ${r.endedBy ?? 'unknown end'}, ${r.bytes.clientToServer}/${r.bytes.serverToClient} bytes`
    return `${who}  closed, ${r.bytes.clientToServer} bytes client→server, ${r.bytes.serverToClient} server→client`
  }
  const parts = [`${who}  handshake`]
  if (r.rtt.clientUs !== null) parts.push(`SYN→SYN+ACK ${msText(r.rtt.clientUs)}`)
  if (r.rtt.serverUs !== null) parts.push(`SYN+ACK→ACK ${msText(r.rtt.serverUs)}`)
  const n = r.negotiated
  if (n !== null) {
    parts.push(`MSS ${n.mss.clientToServer}/${n.mss.serverToClient}`)
    parts.push(n.windowScale === null ? 'no wscale' : `wscale ${n.windowScale.client}/${n.windowScale.server}`)
    parts.push(n.sack ? 'SACK' : 'no SACK')
    parts.push(n.timestamps ? 'TS' : 'no TS')
  }
  if (r.retransmittedSyns > 0) parts.push(`${r.retransmittedSyns} SYN retransmitted`)
  return parts.join('  ')
}

async function runLive(args: CommandArgs, io: Io): Promise<number> {
  const v = args.values
  const json = v.json === true
  const iface = v.iface as string
  const count = v.count !== undefined ? parseUint('count', v.count as string, 1, 1e9) : undefined
  let handshakes = 0
  let finish: () => void = () => undefined
  const finished = new Promise<void>((resolve) => {
    finish = resolve
  })
  const print = (r: ConnectionReport, event: 'handshake' | 'end'): void => {
    if (json) io.stdout(JSON.stringify({ event, ...reportToJson(r) }))
    else io.stdout(liveLine(r, event))
  }
  const live = inspectLive({
    iface,
    filter: (v.filter as string | undefined) ?? DEFAULT_LIVE_FILTER,
    onHandshake: (r) => {
      print(r, 'handshake')
      handshakes++
      if (count !== undefined && handshakes >= count) finish()
    },
    onEnd: (r) => {
      if (r.ended === 'refused' || r.ended === 'reset') print(r, 'end')
    },
  })
  if (!json) io.stderr(`watching ${iface} (filter '${(v.filter as string | undefined) ?? DEFAULT_LIVE_FILTER}'); times are when packets reach tcplab. Ctrl-C stops.`)
  const onSignal = (): void => finish()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    await finished
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    live.stop()
  }
  const s = live.summary()
  if (json) io.stdout(JSON.stringify({ summary: { ...s, handshakes } }))
  else io.stderr(`${handshakes} handshake${handshakes === 1 ? '' : 's'} seen; ${s.tcpPackets} TCP packets`)
  return 0
}

async function runFile(args: CommandArgs, io: Io): Promise<number> {
  const v = args.values
  if (args.positionals.length !== 1) throw usageError("inspect needs one capture FILE, or --iface IF (see 'tcplab inspect --help')")
  if (v.count !== undefined) throw usageError('--count is for live inspection with --iface')
  // For a FILE, --filter is tcplab's expression language (filter.ts), compiled before the capture is read.
  const filter = v.filter !== undefined ? compileFilter(v.filter as string) : undefined
  const wantPackets = v.packets === true
  const oneLine = v.summary === true
  const maxRows = v['max-rows'] !== undefined ? parseUint('max-rows', v['max-rows'] as string, 2, 1e6) : DEFAULT_LADDER_ROWS
  const timeScale = v['time-scale'] !== undefined ? parseScale(v['time-scale'] as string) : undefined
  const file = args.positionals[0]
  const json = v.json === true
  const absolute = v.absolute === true
  const diagram = v.diagram as string | undefined
  const wantLadder = v.ladder === true
  const graph = v.graph as string | undefined
  const connNo = v.connection !== undefined ? parseUint('connection', v.connection as string, 1, 2 ** 31) : 1
  if (v.connection !== undefined && diagram === undefined && !wantLadder && graph === undefined) throw usageError('--connection picks the connection for --diagram, --ladder or --graph')
  if (wantLadder && json) throw usageError('--ladder prints text: use --diagram FILE with --json')
  if (diagram !== undefined) diagramFormat(diagram) // a bad extension fails before the capture is read
  if (graph !== undefined) graphFormat(graph)
  const maxConnections = v['max-connections'] !== undefined ? parseUint('max-connections', v['max-connections'] as string, 1, 1e8) : undefined

  let size = 0
  if (file !== '-') {
    let st: fs.Stats
    try {
      st = fs.statSync(file)
    } catch (e) {
      const code = (e as { code?: string }).code
      throw new WireError('ERR_BAD_ARGUMENT', `cannot read ${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message.split('\n')[0]}`)
    }
    if (!st.isFile()) throw usageError(`${file} is not a file`)
    size = st.size
  }
  const stderr = process.stderr
  const bar = file !== '-' && stderr.isTTY === true ? new ProgressBar(stderr, size, { label: 'inspect' }) : undefined
  const keep = diagram !== undefined || wantLadder || graph !== undefined
  const inspection = inspect(file === '-' ? io.stdin : file, {
    maxConnections,
    keepSegments: keep ? (graph !== undefined ? Math.max(maxRows, GRAPH_MAX_SEGMENTS) : maxRows) : 0,
    keepSegmentsOf: keep ? connNo : undefined,
    onRead: bar ? (n) => bar.update(n) : undefined,
    filter,
    onPacket: wantPackets
      ? (p) => {
          bar?.done()
          io.stdout(json ? JSON.stringify(packetToJson(p, { absolute })) : packetLine(p, { absolute }))
        }
      : undefined,
  })

  let chosen: ConnectionReport | undefined
  let first = true
  const show = (r: ConnectionReport): void => {
    if (r.index === connNo && keep) chosen = r
    bar?.done()
    if (wantPackets && !oneLine) return // --packets alone lists packets, then the summary line
    if (json) {
      io.stdout(JSON.stringify(reportToJson(r)))
      return
    }
    if (oneLine) {
      io.stdout(summaryLine(r))
      first = false
      return
    }
    if (!first) io.stdout('')
    first = false
    for (const line of formatReport(r, { absolute })) io.stdout(line)
  }
  const closing = async (s: InspectSummary): Promise<void> => {
    bar?.done()
    if (json) io.stdout(JSON.stringify({ summary: s }))
    else {
      if (!first && !oneLine) io.stdout('')
      io.stdout(formatSummary(s))
    }
    if (!keep) return
    if (chosen === undefined) {
      if (filter !== undefined && connNo <= s.connections) throw new WireError('ERR_BAD_ARGUMENT', `connection #${connNo} has no packet the --filter matches`)
      throw new WireError('ERR_BAD_ARGUMENT', `the capture has no connection #${connNo} (it has ${s.connections})`)
    }
    const ladder = toLadder(chosen)
    if (wantLadder) {
      io.stdout('')
      io.stdout(renderText(ladder, { absolute, color: colorOk(io), maxRows, timeScale }))
    }
    if (diagram !== undefined) {
      const fmt = await renderToFile(ladder, diagram, { absolute, maxRows, timeScale })
      if (!json) io.stderr(`wrote the ladder of connection #${connNo} to ${diagram} (${fmt})`)
    }
    if (graph !== undefined) {
      const g = graphFromReport(chosen)
      const fmt = await renderGraphToFile(g, graph)
      if (!json) io.stderr(`wrote the time-sequence graph of connection #${connNo} to ${graph} (${fmt}; ${g.data.length} data segments, ${g.retransmissions.length} retransmissions)`)
    }
  }

  try {
    for await (const r of inspection) show(r)
  } catch (e) {
    if (!isWireError(e, 'PCAP_ERR_TRUNCATED')) {
      bar?.done()
      throw e
    }
    await closing(inspection.summary())
    throw new WireError('PCAP_ERR_TRUNCATED', `${file} is truncated: ${e.message} (the connections above are those read before it)`)
  }
  await closing(inspection.summary())
  return 0
}

/** --time-scale: pixels per millisecond, a positive number. */
function parseScale(text: string): number {
  const n = Number(text)
  if (!/^\s*\d*\.?\d+(e[+-]?\d+)?\s*$/i.test(text) || !(n > 0) || n > 1e6) {
    throw usageError(`--time-scale must be a positive number of pixels per millisecond (e.g. 2 or 0.5), got '${text}'`)
  }
  return n
}

/** The `inspect` command. */
export const inspectCommand: Command = {
  name: 'inspect',
  usage: 'FILE [--json] [--packets] [--summary] [--filter EXPR] [--diagram FILE] [--ladder] [--absolute]  |  --iface IF [--filter BPF]',
  summary: 'Report every TCP connection in a capture: ends, ISNs, options, handshake RTTs, resets, bytes, how it ended.',
  description:
    'FILE is a pcap or pcapng capture (Ethernet, raw IP, BSD loopback, Linux cooked SLL/SLL2 as\n' +
    "tcpdump -i any writes), or '-' for standard input. The client is the end that sent the first SYN.\n" +
    'RTTs are as seen where the capture was taken: SYN→SYN+ACK is the whole round trip on the client\'s\n' +
    "host, SYN+ACK→ACK on the server's. Bytes count sequence space, so retransmitted bytes count once.\n" +
    'Wrong checksums on every packet one end sent, captured on its host, are labelled "possibly\n' +
    'offloaded": the NIC fills them in after the capture point.\n' +
    '--json prints one object per connection per line, then {"summary":{…}} as the last line.\n' +
    'Memory stays bounded on any capture size: at most --max-connections (default 20000) are tracked at\n' +
    'once; past that, finished ones and then the least recently active are reported early.\n' +
    'A capture cut short prints the connections read so far, then an error, and exits 1.\n' +
    '--packets lists TCP packets one per line as `tcplab decode` prints them, led by the frame number, the\n' +
    'seconds since the first packet and the connection number (#N), seq/ack relative per connection\n' +
    '(--absolute: as on the wire); with --json, one object per packet. --summary prints one line per\n' +
    'connection instead of the full report. Ladders of more than --max-rows segments draw the first and\n' +
    'last halves with a marked gap that counts the rest (Mermaid fewer, to stay under its 50,000-character\n' +
    'limit); --time-scale PX spaces segments by time (PX pixels per ms, 17 px a text line, long pauses capped).\n' +
    FILTER_HELP + '\n' +
    'Live: --iface watches an interface through libpcap (root or CAP_NET_RAW) and prints each handshake\n' +
    'as it completes, and refused or reset connections as they end.\n' +
    '--graph draws sequence numbers over time for the direction with the most data (a bar per segment), the\n' +
    'ACK and advertised-window lines and SACK blocks. Retransmissions (seq below the highest seq+len already\n' +
    'sent, as tshark) are red; a fast retransmit (after 3 duplicate ACKs) has a triangle; an RTO (a resend of\n' +
    'the first unACKed byte after 2 × SRTT without ACK progress) a dashed line. Throughput and RTT below.',
  allowPositionals: true,
  options: {
    json: { type: 'boolean', help: 'one JSON object per connection per line, then {"summary":…}' },
    diagram: { type: 'string', arg: 'FILE', help: 'write the ladder of connection #1 (or --connection N) as .svg, .html, .mmd or .md' },
    ladder: { type: 'boolean', help: 'print the ladder of connection #1 (or --connection N) after the reports' },
    connection: { type: 'string', arg: 'N', help: 'which connection --diagram, --ladder and --graph draw (default 1)' },
    graph: { type: 'string', arg: 'FILE', help: 'write the time-sequence graph of connection #1 (or --connection N) as .svg or .html' },
    absolute: { type: 'boolean', help: 'sequence numbers as on the wire, not relative to each ISN' },
    'max-connections': { type: 'string', arg: 'N', help: 'connections tracked at once (default 20000)' },
    iface: { type: 'string', arg: 'IF', help: 'watch this interface live instead of reading a file (root)' },
    filter: { type: 'string', arg: 'EXPR|BPF', help: `FILE: select packets (expression below); --iface: a BPF filter (default '${DEFAULT_LIVE_FILTER}')` },
    packets: { type: 'boolean', help: 'list TCP packets one per line (decode style, relative seq/ack, connection #)' },
    summary: { type: 'boolean', help: 'one line per connection instead of the full report' },
    'max-rows': { type: 'string', arg: 'N', help: `segments a ladder draws at most (default ${DEFAULT_LADDER_ROWS}); the middle of a longer one is elided` },
    'time-scale': { type: 'string', arg: 'PX', help: 'ladders: space segments by time, PX pixels per millisecond' },
    count: { type: 'string', arg: 'N', help: 'with --iface: stop after N handshakes' },
  },
  async run(args, io) {
    const v = args.values
    if (v.iface !== undefined) {
      if (args.positionals.length > 0) throw usageError('give a capture FILE or --iface IF, not both')
      for (const o of ['diagram', 'ladder', 'connection', 'absolute', 'packets', 'summary', 'max-rows', 'time-scale', 'graph']) {
        if (v[o] !== undefined) throw usageError(`--${o} is for capture files, not --iface`)
      }
      return runLive(args, io)
    }
    return runFile(args, io)
  },
}
