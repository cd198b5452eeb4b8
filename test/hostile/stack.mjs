// The userland TCP as a server in one side of a lab, for the hostile tests (test/hostile/*.test.ts). It
// opens its device itself (so every counter is visible), optionally wraps it in the seeded fault injector,
// listens on one port and runs a small application on every connection. Imports the built code (dist/).
//   node stack.mjs '<json options>'
// options:
//   via: 'raw' (an address the kernel owns, behind an RST guard) | 'pcap' (an address and MAC of its own)
//   local: our address; iface, mac: for pcap; port: the port to listen on
//   backlog, synCookies: the listener's half-open bound and SYN cookies; tcp: TcpConfig overrides
//   faults: faultInjector options ({seed, reorder, duplicate, drop, corrupt, direction}) around the device
//   app: 'echo' (pipe every byte back; with logData each chunk is also printed) |
//        'exchange' (send `bytes` random bytes, read until the peer's FIN, end; report hashes and when each
//        direction finished: recvDoneMs, sendDoneMs)
//   trace: TCB trace event types to print as {type:'trace', ev} (for debugging: ['rtt', 'timer'])
//   timeoutMs: watchdog (exit 2; default 120 s)
// stdin, one command per line:
//   stats   → {type:'stats', iface, device, eth, arp, listener, halfOpen, connections, rss, vmhwmKb, heapUsed}
//   tcb     → {type:'tcb', conns:[{remotePort, state, rcvNxt, sndNxt, sndUna, sndMax, maxSndWnd, rcvWnd, sndWnd,
//              cwnd, ssthresh, srtt, rttvar, rto, backoff, stats, error…}]}
//   done    → close everything (guard removed) and exit 0 after {type:'end'}
// stdout lines (JSON with a `type`): ready, conn, data (logData), closed (per connection), stats, tcb, end,
// fatal (an uncaught exception: the test fails on it). Nothing is ever written to stderr on purpose.
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { formatIp, parseIp } from '../../dist/net/addr.js'
import { openCapDevice, ipOverEthernet } from '../../dist/net/capdev.js'
import { openRawDevice } from '../../dist/net/rawdev.js'
import { faultInjector } from '../../dist/net/memdev.js'
import { installRstGuard } from '../../dist/net/rstguard.js'
import { Interface } from '../../dist/lab/stack/iface.js'
import { createServer } from '../../dist/lab/stack/socket.js'
import { childExit, childOptions, emit } from '../helpers/child.mjs'

const o = childOptions()

const finish = childExit({
  timeoutMs: o.timeoutMs ?? 120_000,
  watchdog: () => ({ reason: `watchdog: still running after ${o.timeoutMs ?? 120_000} ms` }),
  close: async () => {
    server.close()
    iface.close()
    await guard?.remove()
  },
  uncaughtExitsAtOnce: true,
})

// ------------------------------------------------------------------------------------------ device

const local = parseIp(o.local)
let guard
let eth
let dev
if (o.via === 'raw') {
  guard = await installRstGuard({ addr: o.local, port: o.port })
  dev = openRawDevice({ family: local.length === 4 ? 4 : 6, localAddress: o.local })
} else {
  eth = openCapDevice({ iface: o.iface, mac: o.mac })
  dev = ipOverEthernet(eth, local.length === 4 ? { mac: o.mac, ipv4: o.local } : { mac: o.mac, ipv6: o.local })
}
const faulty = o.faults ? faultInjector(dev, o.faults) : undefined
const iface = new Interface({ device: faulty ?? dev, addrs: [local], tcp: o.tcp })
// trace: event types to print as {type:'trace', ev} (debugging: 'rtt', 'timer', 'segment-in'…).
if (o.trace) {
  iface.on('trace', (ev) => {
    if (!o.trace.includes(ev.type)) return
    const seg = ev.seg && { seq: ev.seg.seq, ack: ev.seg.ack, flags: ev.seg.flags, len: ev.seg.payload.length, ts: ev.seg.options.find((x) => x.kind === 'timestamp'), sack: ev.seg.options.find((x) => x.kind === 'sack')?.blocks }
    emit({ type: 'trace', ev: { ...ev, seg } })
  })
}

// ------------------------------------------------------------------------------------------ application

const live = new Set()
const server = createServer(iface, { backlog: o.backlog, synCookies: o.synCookies, tcp: o.tcp }, (sock) => {
  const conn = sock.connection
  const remotePort = conn.tuple.remotePort
  const remote = formatIp(conn.tuple.remoteAddr)
  live.add(conn)
  const t0 = performance.now()
  let error
  sock.on('error', (e) => {
    error = { code: e.code, message: e.message }
  })
  emit({ type: 'conn', remote, remotePort })
  if (o.app === 'exchange') {
    const payload = randomBytes(o.bytes)
    const h = createHash('sha256')
    let received = 0
    sock.on('data', (d) => {
      h.update(d)
      received += d.length
    })
    // When each direction finished: every byte of the peer's in (the kernel's sending time), every byte of
    // ours acknowledged (tcplab's sending time).
    let recvDoneMs
    let sendDoneMs
    let written = false
    sock.on('data', () => {
      if (recvDoneMs === undefined && received >= o.bytes) recvDoneMs = Math.round(performance.now() - t0)
    })
    const acked = setInterval(() => {
      if (written && conn.tcb.unacked === 0) {
        sendDoneMs ??= Math.round(performance.now() - t0)
        clearInterval(acked)
      }
    }, 10)
    sock.on('end', () => sock.end())
    sock.write(payload, () => {
      written = true
    })
    sock.on('close', () => {
      clearInterval(acked)
      // The last ACK of our data often comes with the peer's FIN, and the close follows within a tick.
      if (sendDoneMs === undefined && written && conn.tcb.unacked === 0) sendDoneMs = Math.round(performance.now() - t0)
      live.delete(conn)
      emit({
        type: 'closed', remote, remotePort, error, ms: Math.round(performance.now() - t0), recvDoneMs, sendDoneMs,
        sentBytes: payload.length, sentSha: createHash('sha256').update(payload).digest('hex'),
        recvBytes: received, recvSha: h.digest('hex'), tcb: conn.tcb.stats, state: conn.tcb.state,
      })
    })
  } else {
    if (o.logData) sock.on('data', (d) => emit({ type: 'data', remotePort, text: d.toString('latin1') }))
    sock.pipe(sock)
    sock.on('close', () => {
      live.delete(conn)
      emit({ type: 'closed', remote, remotePort, error, tcb: conn.tcb.stats, state: conn.tcb.state, tcbError: conn.tcb.error })
    })
  }
})
server.on('error', (e) => emit({ type: 'fatal', reason: `server: ${e.message}` }))
await new Promise((resolve) => server.listen({ port: o.port, backlog: o.backlog }, resolve))
emit({ type: 'ready', localAddr: o.local, port: o.port, guard: guard?.name, pid: process.pid })

// ------------------------------------------------------------------------------------------ commands

function vmhwmKb() {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))
  return m ? Number(m[1]) : undefined
}

function stats() {
  const pl = iface.listenerOn(o.port)
  const mem = process.memoryUsage()
  return {
    type: 'stats',
    iface: iface.stats,
    device: dev.stats?.(),
    eth: eth?.stats(),
    arp: dev.arp?.stats(),
    faults: faulty?.faults(),
    listener: pl?.stats,
    halfOpen: (pl?.v4?.halfOpen ?? 0) + (pl?.v6?.halfOpen ?? 0),
    pending: pl?.pending.size ?? 0,
    connections: iface.connectionCount,
    timerEntries: iface.timerEntries,
    rss: mem.rss,
    heapUsed: mem.heapUsed,
    vmhwmKb: vmhwmKb(),
  }
}

function tcbs() {
  const conns = []
  for (const c of iface.connections()) {
    const t = c.tcb
    conns.push({
      remotePort: c.tuple.remotePort, state: t.state, rcvNxt: t.rcvNxt, sndNxt: t.sndNxt, sndUna: t.sndUna,
      sndMax: t.sndMax, maxSndWnd: t.maxSndWnd, rcvWnd: t.rcvWnd, sndWnd: t.sndWnd, tsOk: t.tsOk, sackOk: t.sackOk,
      cwnd: t.cwnd, ssthresh: t.ssthresh, srtt: t.rtt.srtt, rttvar: t.rtt.rttvar, rto: t.rtt.rto, backoff: t.rtt.backoff,
      stats: t.stats, error: t.error,
    })
  }
  return { type: 'tcb', conns }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim()
  if (cmd === 'stats') emit(stats())
  else if (cmd === 'tcb') emit(tcbs())
  else if (cmd === 'done') void finish(0)
})
process.stdin.on('end', () => void finish(0))
