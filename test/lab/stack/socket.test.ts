/**
 * TcpSocket and TcpServer: the same application code on node:net (127.0.0.1) and on tcplab (two
 * Interfaces over an in-memory link), then the net.Socket behaviours one by one — backpressure both ways,
 * half-close, destroy with FIN or RST, errors with Node's codes and messages, idle timeouts. Apart from
 * the node:net comparison, everything runs in virtual time: the test advances the VirtualClock only when
 * the link and the event loop have gone quiet, so no test waits on the wall clock.
 */
import { once } from 'node:events'
import * as net from 'node:net'
import type { Duplex } from 'node:stream'
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest'
import { memoryPair } from '../../../src/net/memdev.js'
import { TcpFlags } from '../../../src/tcp/segment.js'
import type { TcpConfig } from '../../../src/tcp/types.js'
import { VirtualClock } from '../../../src/lab/stack/clock.js'
import { Interface, type PacketEvent } from '../../../src/lab/stack/iface.js'
import { connect, createServer, TcpServer, TcpSocket, type ConnectRetry, type TcpSocketError } from '../../../src/lab/stack/socket.js'
import { runVirtual, turn } from '../../helpers/virtual.js'

const { FIN, RST } = TcpFlags
const A = '198.18.0.1'
const B = '198.18.0.2'

const cleanups: Array<() => void> = []
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!()
})


/** Resolves with the arguments of the next `event` (unlike events.once, an 'error' does not reject it). */
const next = (em: NodeJS.EventEmitter, event: string): Promise<unknown[]> =>
  new Promise((res) => em.once(event, (...args: unknown[]) => res(args)))

/** Two interfaces over a memory pair (microtask delivery unless told), in virtual time. */
function vrig(tcp: Partial<TcpConfig> = {}, delivery: 'microtask' | 'sync' = 'microtask') {
  const vc = new VirtualClock(1_000_000)
  const [da, db] = memoryPair({ delivery })
  const a = new Interface({ device: da, addrs: [A], clock: vc.clock, scheduler: vc, tcp })
  const b = new Interface({ device: db, addrs: [B], clock: vc.clock, scheduler: vc, tcp })
  cleanups.push(() => {
    a.close()
    b.close()
  })
  const moved = (): number => a.stats.packetsIn + b.stats.packetsIn
  /**
   * Lets the event loop run (packets travel in microtasks, stream events in nextTicks); when a whole turn
   * moved no packet, fires the next virtual timer. Stops when `cond()` holds.
   */
  async function until(cond: () => boolean, maxTurns = 100_000): Promise<void> {
    for (let i = 0; i < maxTurns; i++) {
      if (cond()) return
      const before = moved()
      await turn()
      if (cond()) return
      if (moved() === before && !vc.runNext()) {
        await turn()
        if (cond()) return
        throw new Error('stuck: nothing in flight and no timer pending')
      }
    }
    throw new Error(`condition not met after ${maxTurns} turns`)
  }
  /** Runs `us` of virtual time, letting everything due happen. */
  const runFor = (us: number): Promise<void> => runVirtual(vc, moved, us)
  return { vc, a, b, until, runFor }
}

/** A connected pair: a client TcpSocket on `a` and the server's socket on `b`. */
async function pair(r: ReturnType<typeof vrig>, opts: { serverHalfOpen?: boolean; clientHalfOpen?: boolean } = {}) {
  let serverSock: TcpSocket | undefined
  const server = createServer(r.b, { allowHalfOpen: opts.serverHalfOpen }, (s) => {
    serverSock = s
  })
  server.listen(80, B)
  const client = connect(r.a, { host: B, port: 80, allowHalfOpen: opts.clientHalfOpen })
  await r.until(() => serverSock !== undefined && !client.connecting)
  return { server, client, srv: serverSock! }
}

// ------------------------------------------------------------------------------------------ the same app

/** What both stacks must offer the application: net's shapes, nothing tcplab-specific. */
interface AppServer {
  on(event: 'connection', listener: (socket: Duplex) => void): unknown
  on(event: 'close', listener: () => void): unknown
  listen(port: number, host: string, cb: () => void): unknown
  address(): unknown
  close(): unknown
}
type AppConnect = (port: number, host: string) => Duplex & { bytesRead: number; bytesWritten: number }

/** The seed's echo server: one reply per line, `<line> 你好!`; closes after `max` clients. */
function echoServer(server: AppServer, log: string[], max: number): void {
  let served = 0
  server.on('connection', (sock) => {
    let buf = ''
    sock.setEncoding('utf8')
    sock.on('data', (d: string) => {
      buf += d
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        log.push(`got ${line}`)
        sock.write(`${line} 你好!\n`)
      }
    })
    sock.on('end', () => log.push('client ended'))
    sock.on('close', (hadError: boolean) => {
      log.push(`closed hadError=${hadError}`)
      if (++served === max) server.close()
    })
  })
  server.on('close', () => log.push('server closed'))
}

/** The seed's client: sends lines, prints replies, ends; resolves at 'close'. */
function echoClient(connectFn: AppConnect, port: number, host: string, lines: string[], log: string[]): Promise<void> {
  return new Promise((resolve) => {
    const s = connectFn(port, host)
    s.setEncoding('utf8')
    let buf = ''
    s.on('connect', () => {
      log.push('connected')
      for (const l of lines) s.write(`${l}\n`)
      s.end()
    })
    s.on('data', (d: string) => {
      buf += d
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        log.push(`reply ${buf.slice(0, i)}`)
        buf = buf.slice(i + 1)
      }
    })
    s.on('end', () => log.push('end'))
    s.on('error', (e: NodeJS.ErrnoException) => log.push(`error ${e.code} ${e.syscall} errno=${e.errno}`))
    s.on('close', (hadError: boolean) => {
      log.push(`close hadError=${hadError} read=${s.bytesRead} written=${s.bytesWritten}`)
      resolve()
    })
  })
}

/** Runs the app: a server for 3 clients, 3 clients one after the other, then one to a closed port. */
async function runApp(
  server: AppServer,
  host: string,
  connectFn: AppConnect,
  closedPort: number,
): Promise<{ server: string[]; clients: string[][] }> {
  const serverLog: string[] = []
  echoServer(server, serverLog, 3)
  await new Promise<void>((res) => server.listen(0, host, res))
  const port = (server.address() as net.AddressInfo).port
  const clients: string[][] = []
  for (const who of ['张三', 'li', 'wang']) {
    const log: string[] = []
    await echoClient(connectFn, port, host, [`${who}: hello`, `${who}: bye`], log)
    clients.push(log)
  }
  const refused: string[] = []
  await echoClient(connectFn, closedPort, host, ['nobody'], refused)
  clients.push(refused)
  if (!serverLog.includes('server closed')) await once(server as unknown as net.Server, 'close')
  return { server: serverLog, clients }
}

describe('the same application on node:net and on tcplab', () => {
  it('produces identical output', async () => {
    // node:net on loopback; a port that nothing listens on (bound and closed again).
    const probe = net.createServer()
    await new Promise<void>((res) => probe.listen(0, '127.0.0.1', res))
    const closedPort = (probe.address() as net.AddressInfo).port
    await new Promise<void>((res) => probe.close(() => res()))
    const kernel = await runApp(net.createServer(), '127.0.0.1', (port, host) => net.connect(port, host), closedPort)

    // tcplab: two stacks over an in-memory link, real clock and timers (liveness only, nothing timed).
    const [da, db] = memoryPair()
    const a = new Interface({ device: da, addrs: [A] })
    const b = new Interface({ device: db, addrs: [B] })
    cleanups.push(() => {
      a.close()
      b.close()
    })
    const lab = await runApp(createServer(b), B, (port, host) => connect(a, { port, host }), closedPort)

    expect(lab).toEqual(kernel)
    // And the output is what the app should print (a test that cannot fail is no test).
    expect(kernel.clients[0]).toEqual([
      'connected',
      'reply 张三: hello 你好!',
      'reply 张三: bye 你好!',
      'end',
      'close hadError=false read=42 written=26',
    ])
    expect(kernel.clients[3]).toEqual(['error ECONNREFUSED connect errno=-111', 'close hadError=true read=0 written=0'])
    expect(kernel.server.at(-1)).toBe('server closed')
  })
})

// ------------------------------------------------------------------------------------------ behaviours

describe('TcpSocket', () => {
  it('connects with net.Socket properties, events in order, and data written before connect', async () => {
    const r = vrig()
    const events: string[] = []
    let srv: TcpSocket | undefined
    const server = createServer(r.b, (s) => {
      srv = s
      events.push(`connection ${s.remoteAddress}:${s.remotePort} -> ${s.localAddress}:${s.localPort}`)
    })
    server.on('listening', () => events.push(`listening ${JSON.stringify(server.address())}`))
    server.listen({ port: 8080, host: B })
    const c = connect(r.a, { host: B, port: 8080, localPort: 40100 })
    expect(c.readyState).toBe('opening')
    expect(c.pending).toBe(true)
    expect(c.write('early ')).toBe(true) // queued in SYN-SENT, sent after the handshake
    c.on('connect', () => events.push(`connect ${c.readyState}`))
    c.on('ready', () => events.push('ready'))
    await r.until(() => srv !== undefined && !c.connecting)
    // The client's events in order; the server's 'listening' always before its 'connection' (as net).
    expect(events.filter((e) => e !== 'ready' && !e.startsWith('connect '))).toEqual([
      `listening {"address":"${B}","family":"IPv4","port":8080}`,
      `connection ${A}:40100 -> ${B}:8080`,
    ])
    expect(events.filter((e) => e === 'ready' || e.startsWith('connect '))).toEqual(['connect open', 'ready'])
    expect(c.address()).toEqual({ address: A, family: 'IPv4', port: 40100 })
    expect([c.remoteAddress, c.remotePort, c.remoteFamily, c.localAddress, c.localPort]).toEqual([B, 8080, 'IPv4', A, 40100])
    expect(c.state).toBe('ESTABLISHED')
    expect(c.tcb!.state).toBe('ESTABLISHED')
    c.write('late')
    const got: Buffer[] = []
    srv!.on('data', (d: Buffer) => got.push(d))
    await r.until(() => Buffer.concat(got).length === 10)
    expect(Buffer.isBuffer(got[0])).toBe(true)
    expect(Buffer.concat(got).toString()).toBe('early late')
    expect(c.bytesWritten).toBe(10)
    expect(srv!.bytesRead).toBe(10)
  })

  it('applies backpressure: write returns false on a full send buffer, the window closes, drain follows reading', async () => {
    const r = vrig()
    const winFromServer: number[] = []
    r.b.on('packet', (e: PacketEvent) => {
      if (e.dir === 'out' && e.tcp && e.conn) winFromServer.push(e.tcp.window)
    })
    const { client, srv } = await pair(r)
    // Small writes (under the 16 KiB high-water mark) return true while the TCB takes them, and false
    // once its send buffer is full and the stream starts to buffer.
    const small = Buffer.alloc(8 * 1024, 0x61)
    let smallTotal = 0
    for (;;) {
      smallTotal += small.length
      if (!client.write(small)) break
      await turn()
      if (smallTotal > 4 * 1024 * 1024) throw new Error('write never returned false')
    }
    expect(client.tcb!.writable).toBe(0)
    expect(client.tcb!.unacked).toBe(256 * 1024)
    expect(smallTotal).toBeGreaterThanOrEqual(2 * 256 * 1024)
    expect(smallTotal).toBeLessThanOrEqual(2 * 256 * 1024 + 128 + 16 * 1024)
    let smallDrained = false
    client.once('drain', () => {
      smallDrained = true
    })
    await r.runFor(10_000_000)
    expect(smallDrained).toBe(false)
    let got = 0
    srv.on('data', (d: Buffer) => {
      got += d.length
    })
    await r.until(() => smallDrained && got === smallTotal)
    srv.removeAllListeners('data')
    srv.pause()
    winFromServer.length = 0

    const size = 8 * 1024 * 1024
    const data = Buffer.alloc(size)
    for (let i = 0; i < size; i += 4) data.writeUInt32BE(i, i)
    let drained = false
    client.on('drain', () => {
      drained = true
    })
    expect(client.write(data)).toBe(false)
    // The server does not read: its receive buffer fills, it advertises a zero window, the client's
    // send buffer fills and the rest of the write waits in the stream.
    await r.runFor(30_000_000)
    expect(drained).toBe(false)
    expect(winFromServer.at(-1)).toBe(0)
    // The receive buffer holds its 256 KiB plus at most one window-scale unit (2^7) of rounding.
    expect(srv.tcb!.readable).toBeGreaterThanOrEqual(256 * 1024)
    expect(srv.tcb!.readable).toBeLessThanOrEqual(256 * 1024 + 128)
    expect(client.tcb!.unacked).toBe(256 * 1024)
    expect(client.tcb!.stats.probes).toBeGreaterThan(0) // zero-window probes (RFC 9293 §3.8.6.1)
    // The 8 MB chunk is still being written (its callback waits for the TCB to take the rest), so the
    // stream counts all of it; bytesWritten counts it too, as net.Socket's does.
    expect(client.writableLength).toBe(size)
    expect(client.bytesWritten).toBe(smallTotal + size)
    // The reader reads 1 MiB, pauses (the window closes again, nothing more is taken from the TCB),
    // then reads the rest; 'drain' comes once the TCB has taken the whole write.
    const chunks: Buffer[] = []
    let total = 0
    srv.on('data', (d: Buffer) => {
      chunks.push(d)
      total += d.length
      if (total >= 1024 * 1024 && total - d.length < 1024 * 1024) srv.pause()
    })
    srv.resume() // paused explicitly above: a new 'data' listener alone does not restart the flow
    await r.until(() => total >= 1024 * 1024)
    winFromServer.length = 0
    await r.runFor(30_000_000)
    const pausedAt = total
    expect(total).toBeLessThan(1024 * 1024 + 64 * 1024)
    expect(winFromServer.at(-1)).toBe(0)
    expect(drained).toBe(false)
    srv.resume()
    await r.until(() => drained && total === size)
    expect(pausedAt).toBeLessThan(size)
    expect(Buffer.concat(chunks).equals(data)).toBe(true)
    expect(winFromServer.some((w) => w > 0)).toBe(true)
  })

  it('keeps data intact over a synchronous link, where the peer answers from inside write()', async () => {
    const r = vrig({}, 'sync')
    const { client, srv } = await pair(r)
    const data = Buffer.alloc(1024 * 1024)
    for (let i = 0; i < data.length; i++) data[i] = (i * 131) >>> 3
    const got: Buffer[] = []
    let total = 0
    srv.on('data', (d: Buffer) => {
      got.push(d)
      total += d.length
    })
    // Uneven writes, some under and some over the high-water mark.
    let off = 0
    for (let n = 1; off < data.length; n = (n * 7 + 3) % 40_000) {
      const piece = data.subarray(off, Math.min(off + n + 1, data.length))
      off += piece.length
      if (!client.write(piece)) await r.until(() => client.writableLength === 0)
    }
    await r.until(() => total === data.length)
    expect(Buffer.concat(got).equals(data)).toBe(true)
    // The cleanup closes the interfaces, which reset open connections; over a synchronous link the
    // peer sees that RST at once.
    const resets: string[] = []
    client.on('error', (e) => resets.push(e.message))
    srv.on('error', (e) => resets.push(e.message))
    r.a.close()
    await turn()
    expect(resets).toEqual(['read ECONNRESET'])
    expect(client.destroyed && srv.destroyed).toBe(true)
  })

  it('half-closes: after end() the socket still reads; the peer writes after its "end"', async () => {
    const r = vrig()
    const { client, srv } = await pair(r, { serverHalfOpen: true })
    const clientGot: string[] = []
    client.setEncoding('utf8')
    client.on('data', (d: string) => clientGot.push(d))
    let clientFinished = false
    client.on('finish', () => {
      clientFinished = true
    })
    srv.setEncoding('utf8')
    let srvGot = ''
    let srvEnded = false
    srv.on('data', (d: string) => (srvGot += d))
    srv.on('end', () => {
      srvEnded = true
    })
    client.end('question')
    await r.until(() => srvEnded)
    expect(srvGot).toBe('question')
    expect(client.state).toBe('FIN-WAIT-2')
    expect(srv.state).toBe('CLOSE-WAIT')
    expect(clientFinished).toBe(true)
    expect(client.readyState).toBe('readOnly')
    expect(srv.readyState).toBe('writeOnly')
    // Long after the peer's FIN, the server still answers and the client still reads.
    await r.runFor(5_000_000)
    srv.write('answer 1, ')
    srv.end('answer 2')
    const closed = Promise.all([once(client, 'close'), once(srv, 'close')])
    await r.until(() => client.destroyed && srv.destroyed)
    await closed
    expect(clientGot.join('')).toBe('answer 1, answer 2')
    expect(client.state).toBe('TIME-WAIT')
    expect(srv.tcb!.state).toBe('CLOSED')
  })

  it('destroy() with unread data sends RST and the peer sees ECONNRESET; without, a FIN', async () => {
    const r = vrig()
    const sent: number[] = []
    r.b.on('packet', (e: PacketEvent) => {
      if (e.dir === 'out' && e.tcp) sent.push(e.tcp.flags)
    })
    const { client, srv } = await pair(r)
    client.write('unread')
    await r.until(() => srv.tcb!.readable === 6)
    const clientErr = next(client, 'error')
    const clientClose = next(client, 'close')
    srv.destroy()
    expect(srv.destroyed).toBe(true)
    await r.until(() => client.destroyed)
    const [err] = (await clientErr) as [TcpSocketError]
    expect(err.message).toBe('read ECONNRESET')
    expect([err.code, err.errno, err.syscall]).toEqual(['ECONNRESET', -104, 'read'])
    expect(await clientClose).toEqual([true])
    expect(sent.at(-1)! & RST).toBe(RST)

    // Nothing unread: destroy() closes with FIN, and the peer reads a clean end.
    const { client: c2, srv: s2 } = await pairOn(r, 81)
    sent.length = 0
    let ended = false
    c2.on('data', () => {})
    c2.on('end', () => {
      ended = true
    })
    const s2Close = once(s2, 'close')
    s2.destroy()
    expect(await s2Close).toEqual([false])
    await r.until(() => ended)
    expect(sent[0] & FIN).toBe(FIN)
    expect(sent.every((f) => !(f & RST))).toBe(true)
  })

  it('destroy(err) resets the connection and reports the error with hadError', async () => {
    const r = vrig()
    const { client, srv } = await pair(r)
    const errs: string[] = []
    client.on('error', (e) => errs.push(e.message))
    srv.on('error', (e) => errs.push(`server: ${e.message}`))
    const closed = next(client, 'close')
    client.destroy(new Error('app gave up'))
    expect(await closed).toEqual([true])
    await r.until(() => srv.destroyed)
    expect(srv.tcb!.error?.code).toBe('ECONNRESET')
    expect(errs).toEqual(['app gave up', 'server: read ECONNRESET'])
  })

  it('fails a connection to a closed port with ECONNREFUSED, as Node words it', async () => {
    const r = vrig()
    const c = connect(r.a, { host: B, port: 81 })
    const closed = next(c, 'close')
    const [err] = (await Promise.all([next(c, 'error'), r.until(() => c.destroyed)]))[0] as [TcpSocketError]
    expect(await closed).toEqual([true])
    expect(err.message).toBe(`connect ECONNREFUSED ${B}:81`)
    expect(err).toMatchObject({ code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: B, port: 81 })
    expect(c.readyState).toBe('closed')
  })

  it('fails with ETIMEDOUT when SYNs go unanswered, in virtual time', async () => {
    const r = vrig({ synRetries: 2 })
    r.b.close() // nobody answers
    const c = connect(r.a, { host: B, port: 80 })
    const errP = next(c, 'error')
    await r.until(() => c.destroyed)
    const [err] = (await errP) as [TcpSocketError]
    expect(err.message).toBe(`connect ETIMEDOUT ${B}:80`)
    // 1 s + 2 s + 4 s of backoff (RFC 6298 §5.5) after the first SYN at t = 1 s.
    expect(r.vc.now).toBe(1_000_000 + 7_000_000)
  })

  it("reports its state while the SYN is retransmitted: 'retry' per resend, 'timeout' during connect, then ETIMEDOUT", async () => {
    const r = vrig({ synRetries: 3 })
    r.b.close() // nobody answers
    const syns: Array<[number, number]> = []
    r.a.on('packet', (e) => {
      if (e.dir === 'out' && e.tcp) syns.push([r.vc.now - 1_000_000, e.tcp.flags])
    })
    const events: string[] = []
    const at = (): number => (r.vc.now - 1_000_000) / 1000
    const c = connect(r.a, { host: B, port: 80, timeout: 1500 })
    c.on('retry', (x: ConnectRetry) => events.push(`${at()} retry ${JSON.stringify(x)} ${c.readyState} ${c.connecting} ${c.state} ${c.connectRetries}`))
    c.on('timeout', () => events.push(`${at()} timeout ${c.readyState} ${c.connecting} ${c.pending} ${c.state}`))
    c.on('error', (e: TcpSocketError) => events.push(`${at()} error ${e.message} ${e.code} ${e.errno}`))
    c.on('close', (hadError: boolean) => events.push(`${at()} close ${hadError} ${c.readyState}`))
    expect([c.readyState, c.connecting, c.pending, c.state, c.connectRetries]).toEqual(['opening', true, true, 'SYN-SENT', 0])
    await r.until(() => events.some((e) => e.includes('close')))
    // RFC 6298 §5.5: 1 s, then doubled per expiry; after synRetries resends, the fourth expiry gives up.
    expect(events).toEqual([
      '1000 retry {"attempt":1,"rtoMs":2000,"retriesLeft":2} opening true SYN-SENT 1',
      '1500 timeout opening true true SYN-SENT',
      '3000 retry {"attempt":2,"rtoMs":4000,"retriesLeft":1} opening true SYN-SENT 2',
      '7000 retry {"attempt":3,"rtoMs":8000,"retriesLeft":0} opening true SYN-SENT 3',
      `15000 error connect ETIMEDOUT ${B}:80 ETIMEDOUT -110`,
      '15000 close true closed',
    ])
    expect(syns).toEqual([0, 1_000_000, 3_000_000, 7_000_000].map((t) => [t, TcpFlags.SYN]))
    expect(r.a.connectionCount).toBe(0)
  })

  it('a connect given up from its timeout handler ends at once: no more SYNs, no error', async () => {
    const r = vrig()
    r.b.close()
    let syns = 0
    r.a.on('packet', (e) => {
      if (e.dir === 'out') syns++
    })
    const c = connect(r.a, { host: B, port: 80 })
    const retries: number[] = []
    c.on('retry', (x: ConnectRetry) => retries.push(x.attempt))
    c.setTimeout(2500, () => c.destroy())
    const closed = next(c, 'close')
    await r.until(() => c.destroyed)
    expect(await closed).toEqual([false])
    expect([r.vc.now, syns, retries, r.a.connectionCount]).toEqual([1_000_000 + 2_500_000, 2, [1], 0])
    await r.runFor(60_000_000)
    expect(syns).toBe(2)
    expect(r.vc.pending).toBe(0)
  })

  it('reports bad arguments the way net does, asynchronously', async () => {
    const r = vrig()
    const c = connect(r.a, { host: 'example.com', port: 80 })
    const [err] = (await once(c, 'error')) as [TcpSocketError]
    expect(err.code).toBe('EINVAL')
    expect(err.message).toMatch(/^connect EINVAL example\.com:80 \(/)
    const server = new TcpServer(r.b)
    server.listen(80)
    const s2 = new TcpServer(r.b).listen(80)
    const [e2] = (await once(s2, 'error')) as [TcpSocketError]
    expect(e2.code).toBe('EADDRINUSE')
    expect(server.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 80 })
  })

  it("emits 'timeout' after the idle time, restarted by activity, in virtual time", async () => {
    const r = vrig()
    const { client } = await pair(r)
    const fired: number[] = []
    const t0 = r.vc.now
    client.setTimeout(5000, () => fired.push(r.vc.now - t0))
    await r.runFor(3_000_000)
    client.write('x') // activity at +3 s restarts the idle clock
    await r.runFor(4_000_000)
    expect(fired).toEqual([])
    await r.runFor(2_000_000)
    expect(fired).toEqual([8_000_000])
    // Not re-armed until the next activity; 0 turns it off.
    const again: number[] = []
    client.on('timeout', () => again.push(r.vc.now - t0))
    await r.runFor(20_000_000)
    expect(again).toEqual([])
    client.write('y')
    await r.runFor(6_000_000)
    expect(again).toEqual([29_000_000 + 5_000_000])
    client.setTimeout(0)
    client.write('z')
    await r.runFor(10_000_000)
    expect(again).toHaveLength(1)
    expect(client.destroyed).toBe(false)
  })

  it('setNoDelay turns Nagle off in the TCB; server close waits for its connections', async () => {
    const r = vrig()
    const { server, client, srv } = await pair(r)
    expect(client.tcb!.config.nagle).toBe(true)
    client.setNoDelay()
    expect(client.tcb!.config.nagle).toBe(false)
    expect(client.setKeepAlive(true)).toBe(client)
    let serverClosed = false
    server.close(() => {
      serverClosed = true
    })
    expect(server.listening).toBe(false)
    await r.runFor(1_000_000)
    expect(serverClosed).toBe(false)
    srv.on('data', () => {})
    client.end()
    await r.until(() => serverClosed)
    expect(srv.destroyed).toBe(true)
  })
})

/** Another connected pair on a fresh port of the same rig. */
async function pairOn(r: ReturnType<typeof vrig>, port: number) {
  let srv: TcpSocket | undefined
  createServer(r.b, (s) => {
    srv = s
  }).listen(port, B)
  const client = connect(r.a, { host: B, port })
  await r.until(() => srv !== undefined && !client.connecting)
  return { client, srv: srv! }
}

describe('typed events (issue 15: listeners were typed any)', () => {
  it('data is a Buffer, close a boolean, error a TcpSocketError, retry a ConnectRetry; the server hands a TcpSocket', () => {
    // Checked by `npm run typecheck` (tsc over the tests); at run time these only register listeners.
    const sock = new TcpSocket(new Interface({ device: memoryPair()[0], addrs: ['192.0.2.1'] }))
    sock.on('data', (chunk) => expectTypeOf(chunk).toEqualTypeOf<Buffer>())
    sock.on('close', (hadError) => expectTypeOf(hadError).toEqualTypeOf<boolean>())
    sock.on('error', (err) => expectTypeOf(err).toEqualTypeOf<TcpSocketError>())
    sock.on('retry', (info) => expectTypeOf(info).toEqualTypeOf<ConnectRetry>())
    const server = new TcpServer(new Interface({ device: memoryPair()[1], addrs: ['192.0.2.2'] }))
    server.on('connection', (s) => expectTypeOf(s).toEqualTypeOf<TcpSocket>())
    expect(sock.listenerCount('data') + sock.listenerCount('retry') + server.listenerCount('connection')).toBe(3)
    sock.destroy()
  })
})
