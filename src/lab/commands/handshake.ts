/**
 * `tcplab handshake HOST:PORT`: an active open through the userland TCP on a raw socket or libpcap,
 * printing every segment as it goes. Without the privilege for raw packets, `--send` carries the exchange
 * over node:net instead and says so.
 */
import * as net from 'node:net'
import { formatIp, parseIp } from '../../net/addr.js'
import { hasRawPrivilege, loadCap, loadRawSocket } from '../../net/native.js'
import { WireError } from '../../tcp/errors.js'
import { parseUint, usageError, type Command, type Io } from '../command.js'
import { openLiveStack, randomEphemeralPort, sayOffloadsOnce, type Via } from '../stack/live.js'
import { ladderOf, LiveRecorder, ReceivedText, segmentJson, segmentLine, type SegmentRecord } from '../liverec.js'
import { TcpSocket } from '../stack/socket.js'
import { SaveFile, sendPayload } from '../payload.js'
import type { TcpConfig } from '../../tcp/types.js'
import { warmHandshake } from '../warmup.js'
import { diagramFormat, renderText, renderToFile } from '../ladder/index.js'
import { GRAPH_RECORDER_LIMITS, graphFormat, graphFromLive, renderGraphToFile } from '../graph/index.js'
import { parseHostPort } from './echo.js'

/** How long a closing exchange may take before the stack is torn down. */
const CLOSE_GRACE_MS = 2000

/** Why raw packets are out of reach here, or undefined when they are not. */
export function rawUnavailableReason(via: Via): string | undefined {
  try {
    if (via === 'raw') loadRawSocket()
    else loadCap()
  } catch (e) {
    return e instanceof Error ? e.message : String(e)
  }
  if (!hasRawPrivilege()) return 'raw packets need root or CAP_NET_RAW'
  return undefined
}

/** Whether the terminal should get colours: a TTY and no NO_COLOR. */
export function useColor(io: Io): boolean {
  return io.isTTY && !process.env.NO_COLOR
}

/** Parses `--src IP[:PORT]`. */
function parseSrc(text: string): { addr: Uint8Array; port?: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) ?? /^([^:]+)(?::(\d+))?$/.exec(text)
  if (m) return { addr: parseIp(m[1]), ...(m[2] ? { port: parseUint('src', m[2], 1, 65535) } : {}) }
  return { addr: parseIp(text) } // a bare IPv6 address
}

/** The `handshake` command. */
export const handshakeCommand: Command = {
  name: 'handshake',
  usage: 'HOST:PORT [options]',
  summary: 'Open a connection with the userland TCP over raw packets, printing every segment as it goes.',
  description:
    'Needs root (or CAP_NET_RAW). --via raw (default) speaks from an address the kernel owns and installs an\n' +
    'RST guard for exactly that address and port while it runs; --via pcap owns its own IP (--src) and MAC on\n' +
    '--iface. Without the privilege, --send carries the exchange over node:net (the kernel\'s TCP) instead.\n' +
    'The SYN → SYN+ACK time (rttUs) runs from the SYN that was answered to the SYN+ACK accepted, as the device\n' +
    'sent and received them (wireUs in --json); none when no SYN+ACK was accepted.\n' +
    'The SYN is built by the userland TCP from --mss, --wscale/--no-wscale, --no-sack, --no-ts and --win, and\n' +
    'every packet carries --ttl (IPv6: --hop-limit) and --tos: set before the connect, never patched after.\n' +
    'Send one of --send TEXT (with -e/--escapes: \\r\\n, \\x00, … as echo -e), --send-hex HEX, --send-file FILE;\n' +
    '--save FILE gets every byte received (--json keeps only the first 64 KiB in received).',
  allowPositionals: true,
  options: {
    via: { type: 'string', arg: 'raw|pcap', help: 'device: raw socket (default) or libpcap' },
    iface: { type: 'string', arg: 'IF', help: 'interface for --via pcap (default: the route to HOST)' },
    gso: { type: 'boolean', help: 'with --via pcap: send consecutive full-size segments as one super-frame that the kernel cuts (GSO)' },
    src: { type: 'string', arg: 'IP[:PORT]', help: 'our address and port (default: the route\'s source, a random port)' },
    send: { type: 'string', arg: 'TEXT', help: 'send TEXT once connected and print what comes back until the peer closes' },
    escapes: { type: 'boolean', short: 'e', help: 'read backslash escapes in --send TEXT, as echo -e: \\r \\n \\t \\0 \\\\ \\xHH (and \\a \\b \\e \\f \\v)' },
    'send-hex': { type: 'string', arg: 'HEX', help: 'as --send, the bytes given in hex (spaces and colons allowed)' },
    'send-file': { type: 'string', arg: 'FILE', help: "as --send, the bytes of FILE (one of --send, --send-hex, --send-file)" },
    save: { type: 'string', arg: 'FILE', help: 'write every byte received to FILE (JSON keeps only the first 64 KiB of them)' },
    mss: { type: 'string', arg: 'N', help: "MSS option of the SYN, 64-65535 (lowered to what the device's MTU fits, as Linux does)" },
    wscale: { type: 'string', arg: 'N', help: 'window scale shift offered in the SYN, 0-14 (default 7)' },
    'no-wscale': { type: 'boolean', help: 'offer no window scale option' },
    'no-sack': { type: 'boolean', help: 'offer no SACK-permitted option' },
    'no-ts': { type: 'boolean', help: 'offer no timestamps option' },
    win: { type: 'string', arg: 'N', help: 'window field of the SYN, 0-65535, unscaled (default 65535)' },
    ttl: { type: 'string', arg: 'N', help: 'IPv4 time to live of every packet, 0-255 (default 64)' },
    'hop-limit': { type: 'string', arg: 'N', help: 'IPv6 hop limit of every packet, 0-255 (default 64)' },
    tos: { type: 'string', arg: 'N', help: 'IPv4 TOS / IPv6 traffic class byte of every packet, 0-255 (default 0)' },
    pcap: { type: 'string', arg: 'FILE', help: 'write every packet sent and received to FILE' },
    json: { type: 'boolean', help: 'print one JSON object at the end instead of lines' },
    timeout: { type: 'string', arg: 'MS', help: 'end the run after MS milliseconds, counted from the start: opening the device and the connect included; an established connection closes with FIN (default 5000)' },
    idle: { type: 'string', arg: 'MS', help: 'with --send: close with FIN once MS pass with nothing more received' },
    ladder: { type: 'boolean', help: 'print a ladder diagram of the exchange at the end' },
    diagram: { type: 'string', arg: 'FILE', help: 'write the ladder to FILE (.svg, .html, .mmd or .md)' },
    graph: { type: 'string', arg: 'FILE', help: 'write the time-sequence graph of the run to FILE (.svg or .html; see tcplab inspect --help)' },
    absolute: { type: 'boolean', help: 'absolute sequence numbers in the ladder (default: relative)' },
  },
  async run(args, io) {
    if (args.positionals.length !== 1) throw usageError("handshake takes one HOST:PORT (see 'tcplab handshake --help')")
    const v = args.values as Record<string, string | boolean | undefined>
    const { host, port } = parseHostPort(args.positionals[0])
    const peer = parseIp(host)
    const via = ((v.via as string | undefined) ?? 'raw') as Via
    if (via !== 'raw' && via !== 'pcap') throw usageError(`--via must be raw or pcap, got '${via}'`)
    if (v.gso === true && via !== 'pcap') throw usageError('--gso needs --via pcap')
    const timeoutMs = v.timeout !== undefined ? parseUint('timeout', v.timeout as string, 1, 3_600_000) : 5000
    const json = v.json === true
    if (typeof v.diagram === 'string') diagramFormat(v.diagram)
    if (typeof v.graph === 'string') graphFormat(v.graph)
    const send = sendPayload(v as Parameters<typeof sendPayload>[0])
    const syn = synConfig(v, peer.length === 4 ? 4 : 6)
    const idleMs = v.idle !== undefined ? parseUint('idle', v.idle as string, 1, 3_600_000) : undefined

    const unavailable = rawUnavailableReason(via)
    if (unavailable !== undefined) {
      if (send === undefined) throw new WireError('DEV_ERR_PERMISSION', `cannot speak raw packets: ${unavailable}`)
      io.stderr(`tcplab handshake: cannot speak raw packets (${unavailable}); carrying the exchange over node:net (the kernel's TCP) instead`)
      if (syn.asked) throw new WireError('DEV_ERR_PERMISSION', `cannot set the SYN (${syn.asked}) without raw packets: ${unavailable}`)
      const save = typeof v.save === 'string' ? new SaveFile(v.save) : undefined
      try {
        return await kernelExchange(host, port, send, timeoutMs, json, io, save)
      } finally {
        save?.close()
      }
    }

    // --timeout bounds the whole run from here: the warm-up, opening the device (for pcap its address
    // probe, about 1 s), the connect and the exchange.
    const startedAt = performance.now()
    const remainingMs = (): number => Math.max(0, timeoutMs - (performance.now() - startedAt))
    const src = typeof v.src === 'string' ? parseSrc(v.src) : undefined
    if (src && src.addr.length !== peer.length) throw usageError('--src and HOST must be the same address family')
    const localPort = src?.port ?? randomEphemeralPort()
    // Opened (truncated) before any packet: a path that cannot be written fails first, in one line.
    const save = typeof v.save === 'string' ? new SaveFile(v.save) : undefined
    // Compiled before the real SYN: its SYN+ACK must not wait behind first-run compilation (see warmup.ts).
    await warmHandshake(peer.length === 4 ? 4 : 6)
    const stack = await openLiveStack({
      via,
      peer,
      ...(src ? { localAddr: src.addr } : {}),
      ...(typeof v.iface === 'string' ? { iface: v.iface } : {}),
      ...(v.gso === true ? { gso: true } : {}),
      guardPorts: via === 'raw' ? [localPort] : [],
      ...(typeof v.pcap === 'string' ? { pcapFile: v.pcap } : {}),
      tcp: syn.tcp,
    })
    // Set before connect(), as IP_TTL/IP_TOS on a socket: every packet of the connection carries them.
    stack.iface.ttl = syn.ttl
    stack.iface.tos = syn.tos
    const fit = stack.iface.device.mtu - (peer.length === 4 ? 40 : 60)
    if (syn.tcp.mss !== undefined && syn.tcp.mss > fit) {
      io.stderr(`tcplab handshake: --mss ${syn.tcp.mss} lowered to ${fit}, what the device's MTU ${stack.iface.device.mtu} fits (Linux caps TCP_MAXSEG the same way)`)
    }
    const local = `${formatIp(stack.localAddr)}:${localPort}`
    if (!json) {
      io.stdout(`tcplab handshake: userland TCP over ${via === 'raw' ? 'a raw socket' : `libpcap on ${stack.device} (MAC ${stack.mac})`}, ${local} → ${args.positionals[0]}`)
      for (const g of stack.guards) io.stdout(`RST guard: ${g.description}`)
    }
    const rec = new LiveRecorder(stack.iface, json ? undefined : (r) => io.stdout(segmentLine(r)), {}, stack.wire)
    // A graph needs every segment, not the ladder's first and last: its own recorder, so --json stays as it is.
    const graphRec = typeof v.graph === 'string' ? new LiveRecorder(stack.iface, undefined, GRAPH_RECORDER_LIMITS, stack.wire) : undefined
    if (!json) sayOffloadsOnce(stack.iface, io.stderr)
    let result = 'timeout'
    let error: string | undefined
    const received = new ReceivedText()
    try {
      await new Promise<void>((resolve) => {
        const socket = new TcpSocket(stack.iface)
        let idleTimer: NodeJS.Timeout | undefined
        // Close with FIN, then give the peer a bounded moment to finish its side before tearing down.
        const closeNow = (): void => {
          if (idleTimer) clearTimeout(idleTimer)
          if (result !== 'established') {
            // Still connecting (or failed): there is nothing to close gracefully, and no SYN may follow.
            socket.destroy()
            return
          }
          socket.end()
          setTimeout(() => {
            socket.destroy()
            resolve()
          }, CLOSE_GRACE_MS).unref()
        }
        const timer = setTimeout(closeNow, remainingMs())
        socket.on('connect', () => {
          result = 'established'
          if (send !== undefined) socket.write(send)
          else socket.end()
        })
        socket.on('data', (d: Buffer) => {
          received.add(d)
          save?.write(d)
          if (idleMs !== undefined) {
            if (idleTimer) clearTimeout(idleTimer)
            idleTimer = setTimeout(closeNow, idleMs)
          }
        })
        socket.on('end', () => socket.end())
        socket.on('error', (e: NodeJS.ErrnoException) => {
          if (e.code === 'ECONNREFUSED') result = 'refused'
          else if (result !== 'established') result = 'error'
          error = `${e.code ?? 'error'}: ${e.message}`
        })
        socket.on('close', () => {
          clearTimeout(timer)
          if (idleTimer) clearTimeout(idleTimer)
          resolve()
        })
        // The time ran out while the device opened: no SYN at all.
        if (remainingMs() === 0) socket.destroy()
        else socket.connect({ host, port, localAddress: formatIp(stack.localAddr), localPort })
      })
      await new Promise((r) => setImmediate(r))
    } finally {
      rec.stop()
      graphRec?.stop()
      save?.close()
      await stack.close()
    }
    const segs: SegmentRecord[] = rec.segments
    const rttUs = LiveRecorder.handshakeRtt(segs)
    const states = ['CLOSED', ...rec.states.map((s) => s.to)]
    const outcome = result === 'refused' ? 'refused (RST)' : result === 'timeout' ? 'timed out' : error ? `established, then ${error}` : 'established, closed with FIN'
    const exchange = ladderOf(segs, { left: 'tcplab (userland)', right: 'peer' }, `tcplab handshake ${args.positionals[0]}`, outcome)
    if (typeof v.diagram === 'string') await renderToFile(exchange, v.diagram, { absolute: v.absolute === true })
    if (graphRec !== undefined) await renderGraphToFile(graphFromLive(graphRec.segments, `tcplab handshake ${args.positionals[0]}`), v.graph as string)
    if (json) {
      io.stdout(
        JSON.stringify({
          result,
          segments: segs.map(segmentJson),
          states,
          rttUs: rttUs ?? null,
          received: received.text,
          path: 'userland',
          via,
          local,
          remote: args.positionals[0],
          ...(error ? { error } : {}),
          ...(typeof v.pcap === 'string' ? { pcap: v.pcap } : {}),
          receivedBytes: received.bytes,
          segmentsOmitted: rec.omitted,
          checksumOffloaded: stack.iface.stats.checksumOffloaded,
          ...(save ? { saved: save.path } : {}),
        }),
      )
    } else {
      if (received.bytes > 0) {
        const more = received.bytes > received.keep ? ` (first ${received.keep} of ${received.bytes} bytes)` : ''
        io.stdout(`received: ${JSON.stringify(received.text)}${more}`)
      }
      io.stdout(`${result}${rttUs !== undefined ? ` (SYN → SYN+ACK ${(rttUs / 1000).toFixed(3)} ms)` : ''}; states ${states.join(' → ')}${error ? `; ${error}` : ''}`)
      if (v.ladder === true) io.stdout(renderText(exchange, { absolute: v.absolute === true, color: useColor(io) }))
      if (typeof v.pcap === 'string') io.stdout(`packets written to ${v.pcap}`)
      if (save) io.stdout(`${save.bytes} bytes received written to ${save.path}`)
    }
    return result === 'established' ? 0 : 1
  },
}

/** The SYN asked for on the command line: TCB options, IP fields, and which flags were given (for messages). */
export interface SynConfig {
  tcp: Partial<TcpConfig>
  ttl: number | undefined
  tos: number | undefined
  /** The flags given, as typed ('--mss, --ttl'), or '' when none. */
  asked: string
}

/**
 * Maps handshake's SYN flags onto the TCB's config and the interface's IP fields (never by rewriting packets):
 * ranges as craft checks them, narrowed to what the TCB supports (wscale 0-14, RFC 7323 §2.3; MSS ≥ 64).
 */
export function synConfig(v: Record<string, unknown>, family: 4 | 6): SynConfig {
  const str = (k: string): string | undefined => (typeof v[k] === 'string' ? (v[k] as string) : undefined)
  if (family === 6 && str('ttl') !== undefined) throw usageError('IPv6 has no TTL: use --hop-limit')
  if (family === 4 && str('hop-limit') !== undefined) throw usageError('--hop-limit is for IPv6: use --ttl')
  if (str('wscale') !== undefined && v['no-wscale'] === true) throw usageError('give --wscale N or --no-wscale, not both')
  const tcp: Partial<TcpConfig> = {}
  const mss = str('mss')
  if (mss !== undefined) tcp.mss = parseUint('mss', mss, 64, 0xffff)
  const ws = str('wscale')
  if (ws !== undefined) tcp.windowScale = parseUint('wscale', ws, 0, 14)
  if (v['no-wscale'] === true) tcp.windowScale = false
  if (v['no-sack'] === true) tcp.sackPermitted = false
  if (v['no-ts'] === true) tcp.timestamps = false
  const win = str('win')
  if (win !== undefined) tcp.synWindow = parseUint('win', win, 0, 0xffff)
  const ttlName = family === 4 ? 'ttl' : 'hop-limit'
  const ttlText = str(ttlName)
  const ttl = ttlText !== undefined ? parseUint(ttlName, ttlText, 0, 255) : undefined
  const tosText = str('tos')
  const tos = tosText !== undefined ? parseUint('tos', tosText, 0, 255) : undefined
  const flags = ['mss', 'wscale', 'no-wscale', 'no-sack', 'no-ts', 'win', 'ttl', 'hop-limit', 'tos'].filter((k) => v[k] !== undefined)
  return { tcp, ttl, tos, asked: flags.map((k) => `--${k}`).join(', ') }
}

/** The fallback: the same exchange over node:net, marked as the kernel path. */
async function kernelExchange(host: string, port: number, send: Uint8Array, timeoutMs: number, json: boolean, io: Io, save?: SaveFile): Promise<number> {
  let result = 'timeout'
  let error: string | undefined
  const received = new ReceivedText()
  const t0 = process.hrtime.bigint()
  let rttUs: number | undefined
  await new Promise<void>((resolve) => {
    const socket = net.connect({ host, port })
    const timer = setTimeout(() => {
      socket.destroy()
      resolve()
    }, timeoutMs)
    socket.on('connect', () => {
      result = 'established'
      rttUs = Number((process.hrtime.bigint() - t0) / 1000n)
      if (!json) io.stdout(`[kernel path] connected to ${host}:${port}`)
      socket.write(send)
    })
    socket.on('data', (d: Buffer) => {
      received.add(d)
      save?.write(d)
      if (!json) io.stdout(`[kernel path] received ${JSON.stringify(d.toString('utf8'))}`)
    })
    socket.on('end', () => socket.end())
    socket.on('error', (e: NodeJS.ErrnoException) => {
      result = e.code === 'ECONNREFUSED' ? 'refused' : result === 'established' ? result : 'error'
      error = e.message
    })
    socket.on('close', () => {
      clearTimeout(timer)
      resolve()
    })
  })
  if (json) {
    io.stdout(
      JSON.stringify({ result, segments: [], states: [], rttUs: rttUs ?? null, received: received.text, path: 'kernel', ...(error ? { error } : {}), receivedBytes: received.bytes, ...(save ? { saved: save.path } : {}) }),
    )
  } else io.stdout(`[kernel path] ${result}${error ? `: ${error}` : ''}`)
  return result === 'established' ? 0 : 1
}

