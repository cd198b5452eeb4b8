/**
 * The seed's echo pair, written once against a net-like API so the same code runs on node:net (the
 * kernel's TCP) or on tcplab's userland TCP. The server answers every message with `<message><suffix>`
 * (suffix ` 你好!`) and stops after `count` clients; the client sends `张三: ` and prints each reply.
 */
import type { Duplex } from 'node:stream'
import type { EventEmitter } from 'node:events'

/** The part of `net.Socket` the echo pair uses. */
export interface SocketLike extends Duplex {
  remoteAddress?: string
  remotePort?: number
}

/** The part of `net.Server` the echo pair uses. */
export interface ServerLike extends EventEmitter {
  listen(options: { host: string; port: number; backlog: number }, cb?: () => void): unknown
  close(cb?: (err?: Error) => void): unknown
  address(): unknown
}

/** The part of `node:net` the echo pair uses; tcplab's library exposes the same two functions. */
export interface NetLike {
  createServer(listener: (socket: SocketLike) => void): ServerLike
  connect(options: { host: string; port: number }): SocketLike
}

/** Options of the echo server; the defaults are the classic example's. */
export interface EchoServerOptions {
  host?: string
  port?: number
  backlog?: number
  /** Clients to serve before stopping (default 5). */
  count?: number
  suffix?: string
  log?: (line: string) => void
  /** Called once the server listens. */
  onListening?: (address: unknown) => void
}

/** The classic example's address and behaviour. */
export const ECHO_DEFAULTS = { host: '127.0.0.1', port: 1935, backlog: 4, count: 5, suffix: ' 你好!', message: '张三: ' } as const

/**
 * Writes a reply and honours backpressure as `readable.pipe(socket)` would: while write() says the buffer
 * is full, stop reading and resume on 'drain'. A client that sends without reading then fills its own
 * window (our receive buffer stays full and advertises zero), not our memory. Returns write()'s answer.
 */
export function echo(socket: SocketLike, reply: string): boolean {
  if (socket.write(reply)) return true
  if (!socket.isPaused()) {
    socket.pause()
    socket.once('drain', () => socket.resume())
  }
  return false
}

/** Runs the echo server until `count` clients have been served and closed; resolves with that count. */
export function runEchoServer(net: NetLike, opts: EchoServerOptions = {}): Promise<number> {
  const host = opts.host ?? ECHO_DEFAULTS.host
  const port = opts.port ?? ECHO_DEFAULTS.port
  const count = opts.count ?? ECHO_DEFAULTS.count
  const suffix = opts.suffix ?? ECHO_DEFAULTS.suffix
  const log = opts.log ?? (() => {})
  return new Promise((resolve, reject) => {
    let accepted = 0
    let closed = 0
    const server = net.createServer((socket) => {
      accepted++
      const n = accepted
      log(`client ${n} connected from ${socket.remoteAddress}:${socket.remotePort}`)
      if (accepted >= count) server.close() // stop accepting; the open connections finish
      socket.setEncoding('utf8')
      socket.on('data', (msg: string) => {
        log(`client ${n} sent ${JSON.stringify(msg)}`)
        echo(socket, msg + suffix)
      })
      socket.on('end', () => socket.end())
      socket.on('error', (e: Error) => log(`client ${n} error: ${e.message}`))
      socket.on('close', () => {
        closed++
        log(`client ${n} closed`)
        if (closed >= count) resolve(closed)
      })
    })
    server.on('error', reject)
    server.listen({ host, port, backlog: opts.backlog ?? ECHO_DEFAULTS.backlog }, () => {
      const a = server.address() as { address?: string; port?: number } | null
      const where = a && typeof a === 'object' && a.port !== undefined ? `${a.address}:${a.port}` : `${host}:${port}`
      log(`echo server listening on ${where}, serving ${count} client${count === 1 ? '' : 's'}`)
      opts.onListening?.(server.address())
    })
  })
}

/** Options of the echo client. */
export interface EchoClientOptions {
  host: string
  port: number
  message?: string
  /** Give up after this many ms without the exchange finishing (default 5000). */
  timeoutMs?: number
  /** Called with each reply as it arrives. */
  onReply?: (reply: string) => void
}

/**
 * Connects, sends the message, prints each reply, half-closes after the first reply and resolves with
 * everything received once the server closes too.
 */
export function runEchoClient(net: NetLike, opts: EchoClientOptions): Promise<string> {
  const message = opts.message ?? ECHO_DEFAULTS.message
  return new Promise((resolve, reject) => {
    let received = ''
    let settled = false
    const socket = net.connect({ host: opts.host, port: opts.port })
    const timer = setTimeout(() => {
      finish(new Error(`no complete exchange with ${opts.host}:${opts.port} within ${opts.timeoutMs ?? 5000} ms`))
      socket.destroy()
    }, opts.timeoutMs ?? 5000)
    const finish = (err?: Error): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (err) reject(err)
      else resolve(received)
    }
    socket.setEncoding('utf8')
    socket.on('connect', () => socket.write(message))
    socket.on('data', (reply: string) => {
      received += reply
      opts.onReply?.(reply)
      socket.end()
    })
    socket.on('error', (e: Error) => finish(e))
    socket.on('close', () => finish())
  })
}
