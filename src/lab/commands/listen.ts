/**
 * `tcplab listen PORT`: a userland listener on a raw socket or libpcap. With `--echo` it is the seed's
 * echo server running on tcplab's TCP instead of the kernel's: the same application code (src/lab/echo.ts).
 */
import { execFileSync } from 'node:child_process'
import { formatEndpoint, formatIp, parseIp } from '../../net/addr.js'
import { WireError } from '../../tcp/errors.js'
import { parseUint, usageError, type Command } from '../command.js'
import { ECHO_DEFAULTS, runEchoServer, type NetLike, type SocketLike } from '../echo.js'
import { drain, openLiveStack, routeTo, sayOffloadsOnce, type Via } from '../stack/live.js'
import { ladderOf, LiveRecorder, RECEIVED_KEEP, ReceivedText, RECORDER_LIMITS, segmentJson, segmentLine } from '../liverec.js'
import { createServer, type TcpSocket } from '../stack/socket.js'
import { diagramFormat, renderText, renderToFile } from '../ladder/index.js'
import { GRAPH_RECORDER_LIMITS, graphFormat, graphFromLive, renderGraphToFile } from '../graph/index.js'
import type { Interface } from '../stack/iface.js'
import { rawUnavailableReason, useColor } from './handshake.js'
import { SaveFile, saveFileFor } from '../payload.js'

/**
 * `--echo` takes an optional SUFFIX: bare `--echo` (last, before another option, or before the port when
 * the port is the only other positional) means the default suffix.
 */
export function optionalEchoValue(argv: string[]): string[] {
  const out = [...argv]
  const i = out.indexOf('--echo')
  if (i < 0) return out
  const next = out[i + 1]
  const positionals = out.filter((a, j) => j !== i + 1 && !a.startsWith('-'))
  if (next === undefined || next.startsWith('-') || (/^\d+$/.test(next) && positionals.length === 0)) out[i] = '--echo='
  return out
}

/** tcplab's userland TCP on one interface, seen through the echo pair's net-like interface. */
export function userlandNet(iface: Interface): NetLike {
  return {
    createServer: (listener) => createServer(iface, {}, listener as (s: TcpSocket) => void) as unknown as ReturnType<NetLike['createServer']>,
    connect: () => {
      throw new WireError('ERR_BAD_ARGUMENT', 'connect is not used by the listener')
    },
  }
}

/**
 * The address `listen --via raw` takes without `--ip`: the only global IPv4 address of this namespace, or,
 * when there are several, the source address of the default route (what a reply to a client elsewhere
 * would leave from). With neither, one line lists the addresses to pick from with --ip.
 */
export function defaultListenAddress(globalAddrs: string[], defaultRouteSrc: string | undefined): Uint8Array {
  if (globalAddrs.length === 1) return parseIp(globalAddrs[0])
  if (defaultRouteSrc !== undefined && globalAddrs.includes(defaultRouteSrc)) return parseIp(defaultRouteSrc)
  throw usageError(
    `say which address to listen on with --ip (${globalAddrs.length ? `this host has ${globalAddrs.join(', ')}` : 'no global IPv4 address here'})`,
  )
}

/** This namespace's global IPv4 addresses and the default route's source address (ip(8)). */
function localAddressChoice(): { addrs: string[]; routeSrc: string | undefined } {
  const out = execFileSync('ip', ['-4', '-o', 'addr', 'show', 'scope', 'global'], { encoding: 'utf8' })
  const addrs = [...out.matchAll(/\binet (\d+\.\d+\.\d+\.\d+)\//g)].map((m) => m[1])
  if (addrs.length <= 1) return { addrs, routeSrc: undefined }
  let routeSrc: string | undefined
  try {
    const def = execFileSync('ip', ['-4', 'route', 'show', 'default'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    const via = /\bvia (\d+\.\d+\.\d+\.\d+)/.exec(def)?.[1]
    if (via !== undefined) routeSrc = formatIp(routeTo(parseIp(via)).src)
  } catch {
    routeSrc = undefined // no default route: the caller lists the addresses
  }
  return { addrs, routeSrc }
}

/** {@link defaultListenAddress} for this namespace. */
function defaultAddress(): Uint8Array {
  const { addrs, routeSrc } = localAddressChoice()
  return defaultListenAddress(addrs, routeSrc)
}

/** The `listen` command. */
export const listenCommand: Command = {
  name: 'listen',
  usage: 'PORT [options]',
  summary: 'Listen with the userland TCP over raw packets; with --echo, serve the seed\'s echo protocol.',
  description:
    'Needs root (or CAP_NET_RAW). --via raw listens on an address the kernel owns (--ip; an RST guard keeps\n' +
    'the kernel from resetting our connections); --via pcap owns --ip and a MAC of its own on --iface.\n' +
    "--echo replies '<message> 你好!' (or '<message>SUFFIX' with --echo=SUFFIX) and exits after --count clients;\n" +
    'like a pipe, it stops reading while a reply waits to be sent. Memory stays bounded: each report keeps\n' +
    `the first ${RECEIVED_KEEP / 1024} KiB received (receivedBytes counts all) and the first ${RECORDER_LIMITS.head} and last ${RECORDER_LIMITS.tail} segments\n` +
    '(segmentsOmitted counts those between; the first segment after the gap says omittedBefore).',
  allowPositionals: true,
  preprocess: optionalEchoValue,
  options: {
    via: { type: 'string', arg: 'raw|pcap', help: 'device: raw socket (default) or libpcap' },
    iface: { type: 'string', arg: 'IF', help: 'interface for --via pcap' },
    gso: { type: 'boolean', help: 'with --via pcap: send consecutive full-size segments as one super-frame that the kernel cuts (GSO)' },
    ip: { type: 'string', arg: 'IP', help: 'address to listen on (raw: one the kernel owns; pcap: one nobody holds)' },
    echo: { type: 'string', arg: '[SUFFIX]', help: `echo every message with SUFFIX appended (default '${ECHO_DEFAULTS.suffix}')` },
    count: { type: 'string', arg: 'N', help: `connections to serve before exiting (default ${ECHO_DEFAULTS.count} with --echo, else 1)` },
    json: { type: 'boolean', help: 'one JSON object per connection when it closes, instead of lines' },
    pcap: { type: 'string', arg: 'FILE', help: 'write every packet sent and received to FILE' },
    save: { type: 'string', arg: 'FILE', help: 'write every byte received to FILE; with --count above 1, connection N (in accept order) to FILE.N' },
    ladder: { type: 'boolean', help: 'print a ladder diagram of each connection when it closes' },
    diagram: { type: 'string', arg: 'FILE', help: 'write the first connection\'s ladder to FILE (.svg, .html, .mmd, .md)' },
    graph: { type: 'string', arg: 'FILE', help: 'write the first connection\'s time-sequence graph to FILE (.svg or .html; see tcplab inspect --help)' },
    absolute: { type: 'boolean', help: 'absolute sequence numbers in the ladder' },
  },
  async run(args, io) {
    if (args.positionals.length !== 1) throw usageError("listen takes one PORT (see 'tcplab listen --help')")
    const port = parseUint('port', args.positionals[0], 1, 65535)
    const v = args.values as Record<string, string | boolean | undefined>
    const via = ((v.via as string | undefined) ?? 'raw') as Via
    if (via !== 'raw' && via !== 'pcap') throw usageError(`--via must be raw or pcap, got '${via}'`)
    if (v.gso === true && via !== 'pcap') throw usageError('--gso needs --via pcap')
    if (typeof v.diagram === 'string') diagramFormat(v.diagram)
    if (typeof v.graph === 'string') graphFormat(v.graph)
    const echo = v.echo !== undefined ? (v.echo === '' ? ECHO_DEFAULTS.suffix : (v.echo as string)) : undefined
    const count = v.count !== undefined ? parseUint('count', v.count as string, 1, 1_000_000) : echo !== undefined ? ECHO_DEFAULTS.count : 1
    const json = v.json === true
    const unavailable = rawUnavailableReason(via)
    if (unavailable !== undefined) throw new WireError('DEV_ERR_PERMISSION', `cannot listen with raw packets: ${unavailable}`)
    if (via === 'pcap' && (typeof v.ip !== 'string' || typeof v.iface !== 'string')) {
      throw usageError('--via pcap needs --iface IF and --ip IP (an address on its subnet that no host uses)')
    }
    const localAddr = typeof v.ip === 'string' ? parseIp(v.ip) : defaultAddress()
    // The address actually listened on, as text: the echo server and the banner need one, never ''.
    const host = formatIp(localAddr)
    // The first --save file is created now: a path that cannot be written fails in one line before listening.
    if (typeof v.save === 'string') new SaveFile(saveFileFor(v.save, 1, count)).close()
    const stack = await openLiveStack({
      via,
      localAddr,
      ...(typeof v.iface === 'string' ? { iface: v.iface } : {}),
      ...(v.gso === true ? { gso: true } : {}),
      guardPorts: via === 'raw' ? [port] : [],
      ...(typeof v.pcap === 'string' ? { pcapFile: v.pcap } : {}),
    })
    const rec = new LiveRecorder(stack.iface, json ? undefined : (r) => io.stdout(`${r.remote.padEnd(22)} ${segmentLine(r)}`))
    // A graph needs every segment of the first connection: its own recorder, stopped once it is drawn.
    let graphRec = typeof v.graph === 'string' ? new LiveRecorder(stack.iface, undefined, GRAPH_RECORDER_LIMITS, stack.wire) : undefined
    if (!json) sayOffloadsOnce(stack.iface, io.stderr)
    let diagramWritten = false
    // --save: one file per connection, opened as it is accepted (concurrent connections never interleave).
    const saveTo = typeof v.save === 'string' ? v.save : undefined
    let accepted = 0
    const saves = new Map<SocketLike, SaveFile>()
    const openSave = (socket: SocketLike): void => {
      if (saveTo !== undefined) saves.set(socket, new SaveFile(saveFileFor(saveTo, ++accepted, count)))
    }
    const report = async (socket: SocketLike, received: ReceivedText): Promise<void> => {
      const save = saves.get(socket)
      save?.close()
      const conn = (socket as unknown as TcpSocket).connection
      // let a closing connection finish (LAST-ACK waits for the peer's last ACK), bounded
      for (let i = 0; i < 200 && conn && !conn.closed && conn.state !== 'TIME-WAIT'; i++) await new Promise((r) => setTimeout(r, 10))
      const t = conn?.tuple
      const ends = t ? ([formatEndpoint(t.localAddr, t.localPort), formatEndpoint(t.remoteAddr, t.remotePort)] as const) : undefined
      const segs = ends ? rec.of(...ends) : []
      const omitted = ends ? rec.omittedOf(...ends) : 0
      // reported: what is kept of it can go (a listener serving many clients stays flat)
      if (ends) rec.forget(...ends)
      const exchange = ladderOf(segs, { left: 'tcplab (userland)', right: 'client' }, `tcplab listen ${port}`)
      if (json) {
        io.stdout(
          JSON.stringify({
            remote: `${socket.remoteAddress}:${socket.remotePort}`,
            segments: segs.map(segmentJson),
            states: ['LISTEN', ...segs.map((s) => s.state).filter((s, i, a) => i === 0 || a[i - 1] !== s)],
            received: received.text,
            path: 'userland',
            via,
            // added with the limits: `received` holds the first RECEIVED_KEEP bytes of receivedBytes, and
            // `segments` the first and last of a connection, segmentsOmitted more having passed between
            receivedBytes: (socket as unknown as TcpSocket).bytesRead ?? received.bytes,
            segmentsOmitted: omitted,
            // the listener's segments accepted so far with a checksum left to offload (all connections)
            checksumOffloaded: stack.iface.stats.checksumOffloaded,
            ...(save ? { saved: save.path } : {}),
          }),
        )
      } else if (v.ladder === true) io.stdout(renderText(exchange, { absolute: v.absolute === true, color: useColor(io) }))
      if (typeof v.diagram === 'string' && !diagramWritten) {
        diagramWritten = true
        await renderToFile(exchange, v.diagram, { absolute: v.absolute === true })
      }
      if (graphRec !== undefined && ends) {
        const g = graphFromLive(graphRec.of(...ends), `tcplab listen ${port}`)
        graphRec.stop()
        graphRec = undefined
        await renderGraphToFile(g, v.graph as string)
      }
    }
    try {
      if (!json) {
        io.stdout(`tcplab listen: userland TCP on ${via === 'raw' ? 'a raw socket' : `libpcap on ${stack.device} (MAC ${stack.mac})`}, ${localAddr.length === 16 ? `[${host}]` : host}:${port}, ${count} connection${count === 1 ? '' : 's'}`)
        for (const g of stack.guards) io.stdout(`RST guard: ${g.description}`)
      }
      const net = userlandNet(stack.iface)
      const pending: Promise<void>[] = []
      if (echo !== undefined) {
        const wrapped: NetLike = {
          ...net,
          createServer: (listener) =>
            net.createServer((socket) => {
              const received = new ReceivedText()
              openSave(socket)
              socket.on('data', (d: Buffer | string) => {
                received.add(d)
                saves.get(socket)?.write(d)
              })
              socket.on('close', () => pending.push(report(socket, received)))
              listener(socket)
            }),
        }
        await runEchoServer(wrapped, { host, port, count, suffix: echo, log: json ? () => {} : io.stdout })
      } else {
        await new Promise<void>((resolve, reject) => {
          let closed = 0
          const server = net.createServer((socket) => {
            const received = new ReceivedText()
            openSave(socket)
            socket.on('data', (d: Buffer) => {
              received.add(d)
              saves.get(socket)?.write(d)
              if (!json) io.stdout(`received ${JSON.stringify(d.toString())} from ${socket.remoteAddress}:${socket.remotePort}`)
            })
            socket.on('end', () => socket.end())
            socket.on('error', () => {})
            socket.on('close', () => {
              pending.push(report(socket, received))
              if (++closed >= count) {
                server.close()
                resolve()
              }
            })
          })
          server.on('error', reject)
          server.listen({ host, port, backlog: 128 })
        })
      }
      await drain(stack.iface)
      await Promise.all(pending)
    } finally {
      rec.stop()
      graphRec?.stop()
      for (const f of saves.values()) f.close()
      await stack.close()
    }
    if (!json && typeof v.pcap === 'string') io.stdout(`packets written to ${v.pcap}`)
    if (!json) for (const f of saves.values()) io.stdout(`${f.bytes} bytes received written to ${f.path}`)
    return 0
  },
}
