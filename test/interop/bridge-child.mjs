// One userland stack (openLiveStack over a raw socket or libpcap) holding several connections at once: it
// connects to every peer in `peers` and accepts `accept` connections on `port`, all concurrently, exchanges
// its own random bytes on each, and reports each connection's state path and hashes. Started inside a lab
// namespace by test/interop/bridge.test.ts (tcplab in side A of a bridge lab, its kernel peers in B and C).
// Imports the built code (dist/).
//   node bridge-child.mjs '<json options>'
// options:
//   via: 'raw' | 'pcap'; local: our address; mac, iface (pcap)
//   peers: [{ host, port, localPort }]: connections we open; we close first once all bytes went both ways
//   port, accept: listen on `port` and serve `accept` connections; the peer closes first, then we do
//   bytes: random bytes each connection sends (and expects from its peer)
//   tcp: TcpConfig overrides (msl…); timeoutMs: watchdog, the child exits 2 after it
// Lines printed (JSON with a `type`): ready {guards}, then report {conns, iface}, then end {code}; or fatal.
// Each conn of the report: {role, peer, peerPort, localPort, states: [[from, to, cause]…], sentBytes,
//   maxPayloadIn, sentSha, recvBytes, recvSha, eof, closed, hadError}.
import { createHash, randomBytes } from 'node:crypto'
import { TcpSocket, createServer } from '../../dist/lab/stack/socket.js'
import { childExit, childOptions, emit, openChildStack } from '../helpers/child.mjs'

const o = childOptions()
const peers = o.peers ?? []
const accept = o.accept ?? 0

let stack
const finish = childExit({
  timeoutMs: o.timeoutMs ?? 30_000,
  watchdog: () => ({ reason: `watchdog: no result after ${o.timeoutMs} ms`, conns: conns.map(summary) }),
  close: () => stack?.close(),
})

/** Every connection's record, in the order the sockets appeared. */
const conns = []
/** Trace events by Connection object: the listener's first transition comes before its socket exists. */
const statesByConn = new Map()
let allClosed = () => {}
const closedAll = new Promise((r) => {
  allClosed = r
})
/** A connection is over when its socket closed and its TCB reached CLOSED (after TIME-WAIT, for ours). */
const over = (c) => c.data.closed && statesByConn.get(c.conn)?.at(-1)?.[1] === 'CLOSED'
const checkAllClosed = () => {
  if (conns.length === peers.length + accept && conns.every(over)) allClosed()
}

const summary = (c) => ({
  role: c.role,
  peer: c.peer,
  peerPort: c.peerPort,
  localPort: c.localPort,
  states: statesByConn.get(c.conn) ?? [],
  maxPayloadIn: maxInByConn.get(c.conn) ?? 0,
  ...c.data,
})

/** Runs one connection: send our bytes, hash theirs, close (first, or after the peer's FIN). */
function run(sock, role, peer, peerPort, localPort) {
  const payload = randomBytes(o.bytes)
  const recvHash = createHash('sha256')
  const c = {
    role,
    sock,
    peer,
    peerPort,
    localPort,
    conn: sock.connection,
    data: { sentBytes: 0, sentSha: createHash('sha256').update(payload).digest('hex'), recvBytes: 0, recvSha: '', eof: false, closed: false, hadError: false },
  }
  conns.push(c)
  sock.on('data', (d) => {
    recvHash.update(d)
    c.data.recvBytes += d.length
  })
  sock.on('end', () => {
    c.data.eof = true
  })
  sock.on('error', (e) => emit({ type: 'socketError', role, peer, code: e.code, message: e.message }))
  sock.on('close', (hadError) => {
    c.data.closed = true
    c.data.hadError = hadError
    c.data.recvSha = recvHash.digest('hex')
    checkAllClosed()
  })
  sock.write(payload, () => {
    c.data.sentBytes = payload.length
  })
  if (role === 'client') {
    // Active close once every byte went both ways: ours acknowledged, theirs all read.
    const check = () => {
      const tcb = sock.tcb
      if (c.data.recvBytes >= o.bytes && tcb !== undefined && sock.writableLength === 0 && tcb.unacked === 0) sock.end()
      else setTimeout(check, 1)
    }
    check()
  }
}

stack = await openChildStack(o, {
  // Raw: the kernel owns the address, so each port we hold needs its RST guard.
  guardPorts: o.via === 'raw' ? [...peers.map((p) => p.localPort), ...(accept > 0 ? [o.port] : [])] : [],
})
/** Largest TCP payload that arrived, by Connection (a super-segment from GRO/TSO is larger than the MSS). */
const maxInByConn = new Map()
stack.iface.on('trace', (ev, conn) => {
  if (conn === undefined) return
  if (ev.type === 'segment-in') maxInByConn.set(conn, Math.max(maxInByConn.get(conn) ?? 0, ev.seg.payload.length))
  if (ev.type !== 'state') return
  let list = statesByConn.get(conn)
  if (list === undefined) statesByConn.set(conn, (list = []))
  list.push([ev.from, ev.to, ev.cause])
  if (ev.to === 'CLOSED') checkAllClosed()
})

if (accept > 0) {
  let accepted = 0
  const server = createServer(stack.iface, {}, (sock) => {
    if (++accepted === accept) server.close()
    run(sock, 'server', sock.remoteAddress, sock.remotePort, o.port)
  })
  await new Promise((resolve) => server.listen(o.port, resolve))
}
emit({ type: 'ready', guards: stack.guards.map((g) => g.name) })
for (const p of peers) {
  const sock = new TcpSocket(stack.iface)
  sock.connect({ host: p.host, port: p.port, localPort: p.localPort })
  run(sock, 'client', p.host, p.port, p.localPort)
}

await closedAll
emit({ type: 'report', conns: conns.map(summary), iface: stack.iface.stats })
await finish(0)
