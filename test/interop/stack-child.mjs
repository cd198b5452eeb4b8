// A child process, started inside a lab namespace, that runs the userland TCP (openLiveStack over a raw
// socket or libpcap) as a client or a server, exchanges random bytes with its peer and reports what
// happened as JSON lines. Imports the built code (dist/). The interop tests (test/interop/*.test.ts) drive it.
//   node stack-child.mjs '<json options>'
// options:
//   role: 'client' | 'server' | 'idle' (no listener at all; "done" on stdin ends it)
//   via: 'raw' | 'pcap'; local: our address; mac, iface (pcap); peer: the peer's address (client)
//   port: the peer's port (client) or the port to listen on (server); localPort (client; the guard's port)
//   bytes: how many random bytes to send (and to expect from the peer, unless expectBytes says otherwise)
//   closeFirst: the client ends (FIN) once it has received `bytes` and its own bytes are acknowledged;
//     otherwise it waits for the peer's FIN (the server always waits for the peer's FIN, then ends)
//   waitGo: after "ready", wait for a line "go" on stdin before connecting (simultaneous open)
//   readDelayMs: pause reading this long once connected (a slow reader: our advertised window closes)
//   tcp: TcpConfig overrides (msl, rtoInitial…); timeoutMs: watchdog, the child exits 2 after it
//   traceDrops: the report's dropLog shows the 16 segments before the first drop and the first drops
// Lines printed, in order (each a JSON object with a `type`):
//   ready {localAddr, port, localPort, guards}      the device is open (and the guard installed)
//   state {from, to, cause}                         every state transition of the connection, live
//   error {code, reason}                            the TCB ended abnormally (RST, refused, timeout)
//   socketError {code, message}                     the TcpSocket emitted 'error'
//   window {sndWnd, lastWindowField, sndShift}      once all data went both ways, before our close
//   report {…}                                      data hashes, options, segment summary, counters
//   end {code}                                      the stack is closed and the guard removed; exit follows
import { createHash, randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { parseIp } from '../../dist/net/addr.js'
import { TcpSocket, createServer } from '../../dist/lab/stack/socket.js'
import { TcpFlags, tcpHeaderLen } from '../../dist/tcp/segment.js'
import { childExit, childOptions, emit, openChildStack } from '../helpers/child.mjs'

const o = childOptions()

let stack
const finish = childExit({
  timeoutMs: o.timeoutMs ?? 30_000,
  watchdog: () => ({ reason: `watchdog: no result after ${o.timeoutMs} ms`, states: states.map((s) => s.to), report: report() }),
  close: () => stack?.close(),
})

// ------------------------------------------------------------------------------------------ what we record

const states = []
/** Options of the first SYN (or SYN+ACK) the peer sent, as parsed. */
let peerSyn
/** Options of our own SYN or SYN+ACK. */
let ourSyn
const seg = {
  out: 0,
  outData: 0,
  outRetransmits: 0,
  maxPayload: 0,
  /** Largest payload + TCP option bytes of an outgoing segment (the peer's MSS bounds it). */
  maxPayloadPlusOptions: 0,
  /** Outgoing non-SYN segments by payload + TCP option bytes (only those with data). */
  bySize: {},
  /** Outgoing segments after the handshake without a timestamp option. */
  outWithoutTs: 0,
  /** Outgoing segments whose TSecr is not a TSval the peer sent (RFC 7323 §3: echo TS.Recent). */
  echoNotSeen: 0,
  in: 0,
  inData: 0,
  /** Largest incoming payload: more than the MSS only where the kernel hands over super-segments (GRO/TSO). */
  maxPayloadIn: 0,
  /** Incoming segments with a SACK option (the peer reporting holes). */
  inSack: 0,
  /** Outgoing segments carrying SACK blocks. */
  outSack: 0,
  /** Outgoing segments after the handshake that advertise a zero window. */
  outZeroWindow: 0,
}
const tsSeen = new Set()
/** Incoming segments the TCB discarded, by reason (trace 'drop' events). */
const drops = {}
/** traceDrops: the segments before the first drop, then the first drops (lines of text). */
const dropLog = []
let lastWindowField
let conn

const optionSummary = (options) =>
  options
    .filter((x) => x.kind !== 'nop' && x.kind !== 'eol')
    .map((x) => {
      switch (x.kind) {
        case 'mss':
          return { kind: 'mss', value: x.value }
        case 'wscale':
          return { kind: 'wscale', shift: x.shift }
        case 'timestamp':
          return { kind: 'timestamp', value: x.value, echo: x.echo }
        default:
          return { kind: x.kind }
      }
    })

/** traceDrops: the last 16 segments in and out, kept so the first drop can be shown in context. */
const recent = []
const brief = (dir, s) =>
  `${dir} flags=${s.flags} seq=${s.seq} ack=${s.ack} len=${s.payload.length} win=${s.window} | ` +
  `rcvNxt=${conn?.tcb.rcvNxt} rcvWnd=${conn?.tcb.rcvWnd} sndUna=${conn?.tcb.sndUna} readable=${conn?.tcb.readable}`

const onTrace = (ev) => {
  if (o.traceDrops && (ev.type === 'segment-in' || ev.type === 'segment-out')) {
    recent.push(brief(ev.type === 'segment-in' ? '<-' : '->', ev.seg))
    if (recent.length > 16) recent.shift()
  }
  switch (ev.type) {
    case 'state':
      states.push({ from: ev.from, to: ev.to, cause: ev.cause })
      emit({ type: 'state', from: ev.from, to: ev.to, cause: ev.cause })
      return
    case 'error':
      emit({ type: 'error', code: ev.code, reason: ev.reason })
      return
    case 'drop':
      drops[ev.reason] = (drops[ev.reason] ?? 0) + 1
      if (o.traceDrops && dropLog.length === 0) dropLog.push(...recent, '(first drop follows)')
      if (o.traceDrops && dropLog.length < 24) dropLog.push(`${ev.reason}: ${brief('<-', ev.seg)}`)
      return
    case 'segment-in': {
      const s = ev.seg
      seg.in++
      if (s.payload.length > 0) seg.inData++
      if (s.payload.length > seg.maxPayloadIn) seg.maxPayloadIn = s.payload.length
      for (const x of s.options) {
        if (x.kind === 'timestamp') tsSeen.add(x.value >>> 0)
        if (x.kind === 'sack') seg.inSack++
      }
      if (s.flags & TcpFlags.SYN && peerSyn === undefined) peerSyn = { flags: s.flags, window: s.window, options: optionSummary(s.options) }
      if (!(s.flags & TcpFlags.SYN)) lastWindowField = s.window
      return
    }
    case 'segment-out': {
      const s = ev.seg
      seg.out++
      if (ev.retransmit) seg.outRetransmits++
      if (s.flags & TcpFlags.RST) return
      if (s.flags & TcpFlags.SYN) {
        ourSyn ??= { flags: s.flags, window: s.window, options: optionSummary(s.options) }
        const ts = s.options.find((x) => x.kind === 'timestamp')
        if (s.flags & TcpFlags.ACK && ts !== undefined && !tsSeen.has(ts.echo >>> 0)) seg.echoNotSeen++
        return
      }
      if (s.window === 0) seg.outZeroWindow++
      const optLen = tcpHeaderLen(s) - 20
      const n = s.payload.length
      if (n > 0) {
        seg.outData++
        seg.bySize[n + optLen] = (seg.bySize[n + optLen] ?? 0) + 1
      }
      if (n > seg.maxPayload) seg.maxPayload = n
      if (n + optLen > seg.maxPayloadPlusOptions) seg.maxPayloadPlusOptions = n + optLen
      const ts = s.options.find((x) => x.kind === 'timestamp')
      if (ts === undefined) seg.outWithoutTs++
      else if (!tsSeen.has(ts.echo >>> 0)) seg.echoNotSeen++
      if (s.options.some((x) => x.kind === 'sack')) seg.outSack++
      return
    }
    default:
      return
  }
}

function report() {
  const tcb = conn?.tcb
  return {
    states: states.map((s) => s.to),
    peerSyn,
    ourSyn,
    negotiated: tcb && {
      peerMss: tcb.peerMss,
      effMss: tcb.effMss,
      mssOffered: tcb.config.mss,
      sndShift: tcb.sndShift,
      rcvShift: tcb.rcvShift,
      tsOk: tcb.tsOk,
      sackOk: tcb.sackOk,
      wsOk: tcb.wsOk,
    },
    segments: seg,
    drops,
    dropLog,
    tcb: tcb?.stats,
    iface: stack?.iface.stats,
    // The device that meets the wire (raw socket, or the capture device under IP-over-Ethernet): what it
    // received, and what it counted as truncated or dropped before any of it reached the interface.
    link: (stack?.iface.device.link ?? stack?.iface.device)?.stats?.(),
    data,
  }
}

// ------------------------------------------------------------------------------------------ data

const payload = randomBytes(o.bytes ?? 0)
const data = {
  sentBytes: 0,
  sentSha: createHash('sha256').update(payload).digest('hex'),
  recvBytes: 0,
  recvSha: '',
  eof: false,
  closed: false,
  hadError: false,
}
const recvHash = createHash('sha256')

/** Resolves when every byte went both ways: all of the peer's received, all of ours acknowledged. */
function allExchanged(sock) {
  return new Promise((resolve) => {
    const check = () => {
      const tcb = sock.tcb
      if (data.recvBytes >= (o.expectBytes ?? o.bytes) && tcb !== undefined && sock.writableLength === 0 && tcb.unacked === 0) resolve()
      else setImmediate(check)
    }
    check()
  })
}

function run(sock) {
  if (o.readDelayMs) {
    // A slow reader: nothing is taken out of the TCB for a while, so our advertised window closes.
    sock.pause()
    setTimeout(() => sock.resume(), o.readDelayMs)
  }
  sock.on('data', (d) => {
    recvHash.update(d)
    data.recvBytes += d.length
  })
  sock.on('end', () => {
    data.eof = true
  })
  sock.on('error', (e) => emit({ type: 'socketError', code: e.code, message: e.message }))
  sock.on('close', (hadError) => {
    data.closed = true
    data.hadError = hadError
  })
  sock.write(payload, () => {
    data.sentBytes = payload.length
  })
  void allExchanged(sock).then(() => {
    const tcb = sock.tcb
    emit({ type: 'window', sndWnd: tcb.sndWnd, lastWindowField, sndShift: tcb.sndShift })
    if (o.role === 'client' && o.closeFirst) sock.end()
  })
}

/** Resolves once the connection is gone (CLOSED), whichever way. */
let onClosedCheck = () => {}
const closedState = new Promise((resolve) => {
  onClosedCheck = () => {
    if (states.length > 0 && states[states.length - 1].to === 'CLOSED') resolve()
  }
})

// ------------------------------------------------------------------------------------------ main

stack = await openChildStack(o, {
  peer: o.peer !== undefined ? parseIp(o.peer) : undefined,
  // idle holds no port: on raw the kernel keeps answering for it, so no guard either
  guardPorts: o.via === 'raw' && o.role !== 'idle' ? [o.role === 'client' ? o.localPort : o.port] : [],
})
stack.iface.on('trace', (ev) => {
  onTrace(ev)
  if (ev.type === 'state') onClosedCheck()
})

if (o.role === 'idle') {
  // No listener, no connection: every SYN meets a closed port. "done" on stdin ends it.
  emit({ type: 'ready', localAddr: o.local, guards: stack.guards.map((g) => g.name) })
  await new Promise((resolve) => createInterface({ input: process.stdin }).on('line', (l) => l.trim() === 'done' && resolve()))
  emit({ type: 'report', ...report() })
  await finish(0)
} else if (o.role === 'server') {
  const server = createServer(stack.iface, {}, (sock) => {
    conn = sock.connection
    // One connection: later SYNs meet a closed port.
    server.close()
    run(sock)
  })
  await new Promise((resolve) => server.listen(o.port, resolve))
  emit({ type: 'ready', localAddr: o.local, port: o.port, guards: stack.guards.map((g) => g.name) })
} else {
  emit({ type: 'ready', localAddr: o.local, localPort: o.localPort, guards: stack.guards.map((g) => g.name) })
  if (o.waitGo) {
    await new Promise((resolve) => {
      const rl = createInterface({ input: process.stdin })
      rl.on('line', (l) => {
        if (l.trim() === 'go') {
          rl.close()
          resolve()
        }
      })
    })
  }
  const sock = new TcpSocket(stack.iface)
  sock.connect({ host: o.peer, port: o.port, localPort: o.localPort })
  conn = sock.connection
  run(sock)
}

await closedState
data.recvSha = recvHash.digest('hex')
// Let the socket's own 'close' (a tick after the TCB's) land before reporting.
await new Promise((r) => setImmediate(r))
emit({ type: 'report', ...report() })
await finish(0)
