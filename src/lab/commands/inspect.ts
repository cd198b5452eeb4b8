/**
 * `tcplab inspect`: what happened to every TCP connection in a capture file (or, live, on an interface):
 * both ends, ISNs, options and what they add up to, handshake RTTs, retransmitted SYNs, resets, bytes,
 * how it ended, anomalies. Text by default, one JSON object per connection with --json.
 */
import * as fs from 'node:fs'
import { isWireError, WireError } from '../../tcp/errors.js'
import { diagramFormat, renderText, renderToFile } from '../ladder/index.js'
import { parseUint, usageError, type Command, type CommandArgs, type Io } from '../command.js'
import {
  DEFAULT_MAX_SEGMENTS,
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
  if (v.filter !== undefined || v.count !== undefined) throw usageError('--filter and --count are for live inspection with --iface')
  const file = args.positionals[0]
  const json = v.json === true
  const absolute = v.absolute === true
  const diagram = v.diagram as string | undefined
  const wantLadder = v.ladder === true
  const connNo = v.connection !== undefined ? parseUint('connection', v.connection as string, 1, 2 ** 31) : 1
  if (v.connection !== undefined && diagram === undefined && !wantLadder) throw usageError('--connection picks the connection for --diagram or --ladder')
  if (wantLadder && json) throw usageError('--ladder prints text: use --diagram FILE with --json')
  if (diagram !== undefined) diagramFormat(diagram) // a bad extension fails before the capture is read
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
  const keep = diagram !== undefined || wantLadder
  const inspection = inspect(file === '-' ? io.stdin : file, {
    maxConnections,
    keepSegments: keep ? DEFAULT_MAX_SEGMENTS : 0,
    keepSegmentsOf: keep ? connNo : undefined,
    onRead: bar ? (n) => bar.update(n) : undefined,
  })

  let chosen: ConnectionReport | undefined
  let first = true
  const show = (r: ConnectionReport): void => {
    if (r.index === connNo && keep) chosen = r
    bar?.done()
    if (json) {
      io.stdout(JSON.stringify(reportToJson(r)))
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
      if (!first) io.stdout('')
      io.stdout(formatSummary(s))
    }
    if (!keep) return
    if (chosen === undefined) {
      throw new WireError('ERR_BAD_ARGUMENT', `the capture has no connection #${connNo} (it has ${s.connections})`)
    }
    const ladder = toLadder(chosen)
    if (wantLadder) {
      io.stdout('')
      io.stdout(renderText(ladder, { absolute, color: colorOk(io) }))
    }
    if (diagram !== undefined) {
      const fmt = await renderToFile(ladder, diagram, { absolute })
      if (!json) io.stderr(`wrote the ladder of connection #${connNo} to ${diagram} (${fmt})`)
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

/** The `inspect` command. */
export const inspectCommand: Command = {
  name: 'inspect',
  usage: 'FILE [--json] [--diagram FILE] [--absolute]  |  --iface IF [--filter BPF]',
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
    'Live: --iface watches an interface through libpcap (root or CAP_NET_RAW) and prints each handshake\n' +
    'as it completes, and refused or reset connections as they end.',
  allowPositionals: true,
  options: {
    json: { type: 'boolean', help: 'one JSON object per connection per line, then {"summary":…}' },
    diagram: { type: 'string', arg: 'FILE', help: 'write the ladder of connection #1 (or --connection N) as .svg, .html, .mmd or .md' },
    ladder: { type: 'boolean', help: 'print the ladder of connection #1 (or --connection N) after the reports' },
    connection: { type: 'string', arg: 'N', help: 'which connection --diagram and --ladder draw (default 1)' },
    absolute: { type: 'boolean', help: 'sequence numbers as on the wire, not relative to each ISN' },
    'max-connections': { type: 'string', arg: 'N', help: 'connections tracked at once (default 20000)' },
    iface: { type: 'string', arg: 'IF', help: 'watch this interface live instead of reading a file (root)' },
    filter: { type: 'string', arg: 'BPF', help: `BPF filter for --iface (default '${DEFAULT_LIVE_FILTER}')` },
    count: { type: 'string', arg: 'N', help: 'with --iface: stop after N handshakes' },
  },
  async run(args, io) {
    const v = args.values
    if (v.iface !== undefined) {
      if (args.positionals.length > 0) throw usageError('give a capture FILE or --iface IF, not both')
      for (const o of ['diagram', 'ladder', 'connection', 'absolute']) {
        if (v[o] !== undefined) throw usageError(`--${o} is for capture files, not --iface`)
      }
      return runLive(args, io)
    }
    return runFile(args, io)
  },
}
