/**
 * A `net.Socket`-like Duplex over a userland TCP connection, and a `net.Server`-like server, so the same
 * application code runs on `node:net` or on tcplab. The mapping follows what the kernel does under a
 * Node socket: `write` copies into the TCB's send buffer (backpressure when it is full), `_read` takes
 * bytes out of the TCB's receive buffer only as fast as the consumer asks (so a slow reader closes the
 * advertised window), `end` is CLOSE (FIN after the queued data), and `destroy` closes with FIN — or with
 * RST when data is left unread or on error, as Linux's close() does (RFC 9293 §3.10.4 / RFC 2525 §2.17).
 */
import { EventEmitter } from 'node:events'
import { Duplex } from 'node:stream'
import { formatIp, parseIp } from '../../net/addr.js'
import type { Tcb } from '../../tcp/tcb.js'
import type { TcpConfig, TcpError, TcpState } from '../../tcp/types.js'
import { type Connection, type ConnectionHandler, type PortListener } from './connection.js'
import { type Interface } from './iface.js'

/** Linux errno values, negated as Node reports them in `err.errno`. */
const ERRNO: Record<string, number> = {
  EPIPE: -32,
  EADDRINUSE: -98,
  EADDRNOTAVAIL: -99,
  ECONNABORTED: -103,
  ECONNRESET: -104,
  EISCONN: -106,
  ENOTCONN: -107,
  ETIMEDOUT: -110,
  ECONNREFUSED: -111,
  EINVAL: -22,
}

/** Bytes taken from the TCB per read (Node reads 64 KiB at a time from the kernel). */
const READ_CHUNK = 64 * 1024

/** An error shaped like Node's `ErrnoException` from `net` (`connect ECONNREFUSED 198.18.0.2:80`). */
export interface TcpSocketError extends Error {
  code: string
  errno: number | undefined
  syscall: string
  address?: string
  port?: number
}

/** Builds a Node-style socket error: message `${syscall} ${code}` plus ` address:port` when given. */
export function socketError(syscall: string, code: string, address?: string, port?: number, detail?: string): TcpSocketError {
  const where = address !== undefined ? ` ${address}${port !== undefined ? `:${port}` : ''}` : ''
  const e = new Error(`${syscall} ${code}${where}`) as TcpSocketError
  e.code = code
  e.errno = ERRNO[code]
  e.syscall = syscall
  if (address !== undefined) e.address = address
  if (port !== undefined) e.port = port
  if (detail !== undefined) Object.defineProperty(e, 'detail', { value: detail, enumerable: false })
  return e
}

/** Options of {@link TcpSocket}. */
export interface TcpSocketOptions {
  /** Like net.Socket's: false (default) ends our side when the peer's FIN has been read. */
  allowHalfOpen?: boolean
  readableHighWaterMark?: number
  writableHighWaterMark?: number
  /** @internal an accepted connection (server side). */
  conn?: Connection
}

/** Options of {@link TcpSocket.connect}, named as net.connect's. `host` must be an IP address (no DNS). */
export interface TcpConnectOptions {
  port: number
  host?: string
  localAddress?: string
  localPort?: number
  noDelay?: boolean
  keepAlive?: boolean
  /** Idle timeout in ms, as `socket.setTimeout`. */
  timeout?: number
  allowHalfOpen?: boolean
  /** TCB options for this connection. */
  tcp?: Partial<TcpConfig>
}

/** `address()`'s result, as net.Socket's. */
export interface AddressInfo {
  address: string
  family: 'IPv4' | 'IPv6'
  port: number
}

const familyName = (a: Uint8Array): 'IPv4' | 'IPv6' => (a.length === 4 ? 'IPv4' : 'IPv6')

/**
 * The payload of a TcpSocket's `'retry'` event: the handshake's SYN (or SYN+ACK, after a simultaneous
 * open) was just sent again because nothing answered within the retransmission timeout (RFC 6298 §5.5).
 */
export interface ConnectRetry {
  /** Which retransmission this is: 1 for the first resend of the SYN. */
  attempt: number
  /** The retransmission timeout now in force (doubled at each attempt): the wait before the next one, in ms. */
  rtoMs: number
  /** Retransmissions left before the connect fails with ETIMEDOUT (the TCB's `synRetries`, as Linux's tcp_syn_retries). */
  retriesLeft: number
}

/**
 * A TCP connection of a tcplab Interface with net.Socket's API and events. Besides net.Socket's events it
 * emits `'retry'` ({@link ConnectRetry}) each time the connecting handshake is retransmitted, so a connect
 * that gets no answer is never silent: `readyState` stays 'opening' and `connecting` true meanwhile, a
 * `timeout` option (or setTimeout) emits 'timeout' during the connect as net.Socket's does, and once the
 * retries are used up the socket fails with `connect ETIMEDOUT address:port`.
 */
export class TcpSocket extends Duplex implements ConnectionHandler {
  /** True from `connect()` until the handshake completes (or fails). */
  connecting = false
  /** Handshake retransmissions so far (the last `'retry'` event's `attempt`; 0 before the first). */
  connectRetries = 0
  private conn: Connection | undefined
  private wantRead = false
  private readEnded = false
  private wChunk: Uint8Array | undefined
  private wOff = 0
  private wCb: ((err?: Error | null) => void) | undefined
  private finalCb: ((err?: Error | null) => void) | undefined
  private accepted = 0
  private received = 0
  private noDelay: boolean | undefined
  private idleMs = 0
  private idleHandle: unknown = undefined
  private lastActive = 0
  private keepRef = true

  constructor(
    /** The interface the connection runs on. */
    readonly iface: Interface,
    opts: TcpSocketOptions = {},
  ) {
    super({
      allowHalfOpen: opts.allowHalfOpen ?? false,
      // net.Socket emits 'close' itself, with the hadError argument.
      emitClose: false,
      autoDestroy: true,
      decodeStrings: true,
      readableHighWaterMark: opts.readableHighWaterMark,
      writableHighWaterMark: opts.writableHighWaterMark,
    })
    if (opts.conn !== undefined) {
      this.conn = opts.conn
      opts.conn.handler = this
    }
  }

  // ---------------------------------------------------------------------------------- connect

  /** Active open, as `socket.connect(options[, cb])` or `socket.connect(port[, host][, cb])`. */
  connect(options: TcpConnectOptions, connectListener?: () => void): this
  connect(port: number, host?: string, connectListener?: () => void): this
  connect(port: number, connectListener?: () => void): this
  connect(a: TcpConnectOptions | number, b?: string | (() => void), c?: () => void): this {
    const o: TcpConnectOptions = typeof a === 'number' ? { port: a, host: typeof b === 'string' ? b : undefined } : a
    const cb = typeof b === 'function' ? b : c
    if (cb) this.once('connect', cb)
    if (this.conn !== undefined || this.destroyed) {
      process.nextTick(() => this.destroy(socketError('connect', 'EISCONN')))
      return this
    }
    this.connecting = true
    if (o.timeout !== undefined) this.setTimeout(o.timeout)
    if (o.noDelay) this.noDelay = true
    const host = o.host ?? ''
    try {
      const remoteAddr = parseIp(host)
      this.conn = this.iface.connect({
        remoteAddr,
        remotePort: o.port,
        localAddr: o.localAddress,
        localPort: o.localPort,
        tcp: this.noDelay ? { ...o.tcp, nagle: false } : o.tcp,
        handler: this,
      })
      if (!this.keepRef) this.conn.ref(false)
    } catch (e) {
      const code = (e as { code?: string }).code
      const known = code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL' || code === 'EINVAL'
      const err = socketError('connect', known ? code : 'EINVAL', host, o.port, (e as Error).message)
      // Node's message is all a caller sees; say why when it is tcplab's own reason (no DNS, bad port).
      if (!known || code === 'EINVAL') err.message += ` (${(e as Error).message})`
      this.connecting = false
      process.nextTick(() => this.destroy(err))
      return this
    }
    // A chunk written before connect() waits here.
    this.pumpWrite()
    return this
  }

  // ---------------------------------------------------------------------------------- properties

  /** The TCB (undefined before connect). */
  get tcb(): Tcb | undefined {
    return this.conn?.tcb
  }

  /** The interface's connection record (undefined before connect). */
  get connection(): Connection | undefined {
    return this.conn
  }

  /** The TCB's RFC 9293 state ('CLOSED' before connect). */
  get state(): TcpState {
    return this.conn?.tcb.state ?? 'CLOSED'
  }

  /** True until connected (net.Socket's `pending`). */
  get pending(): boolean {
    return this.conn === undefined || this.connecting
  }

  /** net.Socket's readyState: 'opening', 'open', 'readOnly', 'writeOnly' or 'closed'. */
  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening'
    if (this.readable && this.writable) return 'open'
    if (this.readable && !this.writable) return 'readOnly'
    if (!this.readable && this.writable) return 'writeOnly'
    return 'closed'
  }

  /** The peer's address as text (`198.18.0.2`, `2001:db8::2`). */
  get remoteAddress(): string | undefined {
    return this.conn ? formatIp(this.conn.tuple.remoteAddr) : undefined
  }

  /** The peer's port. */
  get remotePort(): number | undefined {
    return this.conn?.tuple.remotePort
  }

  /** 'IPv4' or 'IPv6'. */
  get remoteFamily(): 'IPv4' | 'IPv6' | undefined {
    return this.conn ? familyName(this.conn.tuple.remoteAddr) : undefined
  }

  /** Our address as text. */
  get localAddress(): string | undefined {
    return this.conn ? formatIp(this.conn.tuple.localAddr) : undefined
  }

  /** Our port. */
  get localPort(): number | undefined {
    return this.conn?.tuple.localPort
  }

  /** 'IPv4' or 'IPv6'. */
  get localFamily(): 'IPv4' | 'IPv6' | undefined {
    return this.conn ? familyName(this.conn.tuple.localAddr) : undefined
  }

  /** Bytes delivered to the application so far. */
  get bytesRead(): number {
    return this.received
  }

  /** Bytes written by the application: taken by the TCB plus still buffered in the stream (as net.Socket). */
  get bytesWritten(): number {
    const inFlight = this.wChunk !== undefined ? this.wOff : 0
    return this.accepted + this.writableLength - inFlight
  }

  /** The local address, as net.Socket's `address()` (`{}` before connect). */
  address(): AddressInfo | Record<string, never> {
    const c = this.conn
    if (c === undefined) return {}
    return { address: formatIp(c.tuple.localAddr), family: familyName(c.tuple.localAddr), port: c.tuple.localPort }
  }

  /** TCP_NODELAY: turns Nagle's algorithm off (RFC 9293 §3.7.4 MUST-17). */
  setNoDelay(noDelay = true): this {
    this.noDelay = noDelay
    // The TCB reads `config.nagle` at every send decision; it has no setter yet, so set the field.
    if (this.conn) (this.conn.tcb.config as TcpConfig).nagle = !noDelay
    return this
  }

  /** Accepted for compatibility; tcplab's TCB sends no keep-alives (RFC 9293 §3.8.4 makes them optional). */
  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this
  }

  /** Emits 'timeout' after `ms` without reads or writes (0 turns it off), as net.Socket's setTimeout. */
  setTimeout(ms: number, callback?: () => void): this {
    if (!(ms >= 0 && Number.isFinite(ms))) throw new RangeError(`timeout must be a non-negative number of ms, not ${ms}`)
    this.idleMs = ms
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback)
      else this.once('timeout', callback)
    }
    this.clearIdle()
    if (ms > 0 && !this.destroyed) {
      this.lastActive = this.iface.clock()
      this.armIdle()
    }
    return this
  }

  /** Lets the process exit while this socket is open (net.Socket's unref). */
  unref(): this {
    this.keepRef = false
    this.conn?.ref(false)
    return this
  }

  /** Keeps the process alive while this socket is open (the default). */
  ref(): this {
    this.keepRef = true
    this.conn?.ref(true)
    return this
  }

  /** Closes with RST at once (net.Socket's resetAndDestroy). */
  resetAndDestroy(): this {
    if (this.conn && !this.conn.closed) this.conn.abort()
    this.destroy()
    return this
  }

  // ---------------------------------------------------------------------------------- interface → socket

  /** @internal called by the interface after every segment or timer for this connection. */
  onConnectionUpdate(conn: Connection): void {
    if (this.destroyed || conn !== this.conn) return
    const tcb = conn.tcb
    const s = tcb.state
    if (s === 'CLOSED') {
      if (tcb.error !== undefined) {
        this.onTcbError(tcb.error)
        return
      }
      // Closed without an error (we aborted, the interface closed, a RST while both sides were closing):
      // if the peer never sent its FIN nothing more can come, so the socket goes; otherwise whatever the
      // TCB still holds stays readable and the stream ends normally.
      if (!tcb.finReceived) {
        this.connecting = false
        this.destroy()
        return
      }
    }
    if (this.connecting) {
      if (s === 'SYN-SENT' || s === 'SYN-RECEIVED') this.checkRetry(tcb)
      else this.onEstablished()
    }
    this.pumpRead()
    this.pumpWrite()
  }

  /** Emits 'retry' for each retransmission timeout of the handshake since the last call. */
  private checkRetry(tcb: Tcb): void {
    // Every expiry of the retransmission timer in the handshake resends the SYN (RFC 9293 §3.8.1 R2 counts
    // them against the connect's limit); the TCB counts the expiries.
    const n = tcb.stats.timeouts
    while (this.connectRetries < n && !this.destroyed) {
      this.connectRetries++
      const info: ConnectRetry = {
        attempt: this.connectRetries,
        rtoMs: tcb.rtt.current / 1000,
        retriesLeft: Math.max(0, tcb.config.synRetries - this.connectRetries),
      }
      this.emit('retry', info)
    }
  }

  private onEstablished(): void {
    this.connecting = false
    if (this.idleMs > 0) this.touch()
    this.emit('connect')
    this.emit('ready')
    const cb = this.finalCb
    if (cb !== undefined && this.conn) {
      this.finalCb = undefined
      this.conn.close()
      cb()
    }
  }

  /** The TCB ended abnormally: connect or read error, with Node's message and errno. */
  private onTcbError(err: TcpError): void {
    const c = this.conn!
    const e = this.connecting
      ? socketError('connect', err.code, formatIp(c.tuple.remoteAddr), c.tuple.remotePort, err.reason)
      : socketError('read', err.code, undefined, undefined, err.reason)
    this.connecting = false
    this.destroy(e)
  }

  // ---------------------------------------------------------------------------------- stream internals

  override _read(_size: number): void {
    this.wantRead = true
    this.pumpRead()
  }

  private pumpRead(): void {
    const conn = this.conn
    if (conn === undefined || this.readEnded) return
    const tcb = conn.tcb
    while (this.wantRead) {
      const n = tcb.readable
      if (n === 0) break
      const buf = Buffer.allocUnsafe(n < READ_CHUNK ? n : READ_CHUNK)
      const got = conn.recvInto(buf)
      if (got === 0) break
      this.received += got
      if (this.idleMs > 0) this.touch()
      this.wantRead = this.push(got === buf.length ? buf : buf.subarray(0, got))
    }
    if (tcb.eof && !this.readEnded) {
      this.readEnded = true
      this.push(null)
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.wChunk = chunk
    this.wOff = 0
    this.wCb = cb
    this.pumpWrite()
  }

  private pumpWrite(): void {
    const conn = this.conn
    const cb = this.wCb
    if (cb === undefined || conn === undefined) return
    const chunk = this.wChunk!
    try {
      while (this.wOff < chunk.length) {
        // Nothing fits now: the ACK that frees space calls us again. (In CLOSED, send throws the reason.)
        if (conn.tcb.writable === 0 && conn.tcb.state !== 'CLOSED') return
        const n = conn.send(this.wOff === 0 ? chunk : chunk.subarray(this.wOff))
        if (n === 0) return // the send buffer is full: an ACK that frees space calls us again
        this.wOff += n
        this.accepted += n
      }
    } catch (e) {
      this.wChunk = undefined
      this.wCb = undefined
      const code = (e as { code?: string }).code ?? 'EPIPE'
      cb(socketError('write', code, undefined, undefined, (e as Error).message))
      return
    }
    this.wChunk = undefined
    this.wCb = undefined
    if (this.idleMs > 0) this.touch()
    cb()
  }

  override _final(cb: (err?: Error | null) => void): void {
    const conn = this.conn
    if (conn === undefined || this.connecting) {
      // end() before the handshake completed: the FIN waits for it (closing in SYN-SENT would delete the TCB).
      this.finalCb = cb
      return
    }
    conn.close()
    cb()
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.clearIdle()
    const conn = this.conn
    if (conn !== undefined) {
      if (!conn.closed) {
        const unread = conn.tcb.readable > 0 || this.readableLength > 0
        // Linux: close() with unread data, or SO_LINGER 0, resets; otherwise FIN after the queued data.
        if (err || unread) conn.abort()
        else conn.close()
      }
      conn.release()
    }
    this.connecting = false
    this.finalCb = undefined
    // A write the TCB never took completes with the error (Writable ignores it once destroyed).
    const wcb = this.wCb
    this.wCb = undefined
    this.wChunk = undefined
    if (wcb !== undefined) {
      const e = new Error('Cannot call write after a stream was destroyed') as TcpSocketError
      e.code = 'ERR_STREAM_DESTROYED'
      wcb(err ?? e)
    }
    cb(err)
    // After the 'error' that cb(err) schedules, like net.Socket.
    process.nextTick(() => this.emit('close', err != null))
  }

  // ---------------------------------------------------------------------------------- idle timeout

  private touch(): void {
    this.lastActive = this.iface.clock()
    if (this.idleHandle === undefined && this.idleMs > 0 && !this.destroyed) this.armIdle()
  }

  private armIdle(): void {
    const s = this.iface.scheduler
    this.idleHandle = s.setTimer(this.onIdle, this.lastActive + this.idleMs * 1000)
    // Like net.Socket's timeout, it never keeps the process alive on its own.
    s.setRef?.(this.idleHandle, false)
  }

  private clearIdle(): void {
    if (this.idleHandle !== undefined) this.iface.scheduler.clearTimer(this.idleHandle)
    this.idleHandle = undefined
  }

  private readonly onIdle = (): void => {
    this.idleHandle = undefined
    if (this.destroyed || this.idleMs === 0) return
    const due = this.lastActive + this.idleMs * 1000
    if (this.iface.clock() < due) {
      this.armIdle()
      return
    }
    // Not re-armed until the next read or write, as net.Socket.
    this.emit('timeout')
  }
}

/** Connects a new {@link TcpSocket}, as `net.connect(options[, connectListener])`. */
export function connect(iface: Interface, options: TcpConnectOptions, connectListener?: () => void): TcpSocket {
  const s = new TcpSocket(iface, { allowHalfOpen: options.allowHalfOpen })
  return s.connect(options, connectListener)
}

/** Options of {@link TcpServer}. */
export interface TcpServerOptions {
  /** For accepted sockets, as net.Server's. */
  allowHalfOpen?: boolean
  /** Turn Nagle off on accepted sockets. */
  noDelay?: boolean
  /** Half-open bound (net's backlog argument also sets it). Default 511, as Node. */
  backlog?: number
  /** SYN cookies once the half-open queue is full (RFC 4987). */
  synCookies?: boolean
  /** TCB options for accepted connections. */
  tcp?: Partial<TcpConfig>
}

/** Options of {@link TcpServer.listen}, as net.Server's. `host` must be an IP address of the interface. */
export interface TcpListenOptions {
  port?: number
  host?: string
  backlog?: number
}

/** TcpSocket's events, typed (declaration merging adds these overloads to the class's on/once/off). */
export interface TcpSocket {
  on(event: 'connect' | 'ready' | 'end' | 'timeout' | 'finish' | 'drain', listener: () => void): this
  on(event: 'data', listener: (chunk: Buffer) => void): this
  on(event: 'error', listener: (err: TcpSocketError) => void): this
  on(event: 'close', listener: (hadError: boolean) => void): this
  on(event: 'retry', listener: (info: ConnectRetry) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once(event: 'connect' | 'ready' | 'end' | 'timeout' | 'finish' | 'drain', listener: () => void): this
  once(event: 'data', listener: (chunk: Buffer) => void): this
  once(event: 'error', listener: (err: TcpSocketError) => void): this
  once(event: 'close', listener: (hadError: boolean) => void): this
  once(event: 'retry', listener: (info: ConnectRetry) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
}

/** TcpServer's events, typed as net.Server's. */
export interface TcpServer {
  on(event: 'listening' | 'close', listener: () => void): this
  on(event: 'connection', listener: (socket: TcpSocket) => void): this
  on(event: 'error', listener: (err: Error) => void): this
  on(event: string | symbol, listener: (...args: any[]) => void): this
  once(event: 'listening' | 'close', listener: () => void): this
  once(event: 'connection', listener: (socket: TcpSocket) => void): this
  once(event: 'error', listener: (err: Error) => void): this
  once(event: string | symbol, listener: (...args: any[]) => void): this
}

/** A listening server with net.Server's API: 'listening', 'connection', 'close', 'error'. */
export class TcpServer extends EventEmitter {
  private pl: PortListener | undefined
  private readonly sockets = new Set<TcpSocket>()
  private closing = false
  private listeningEmitted = false
  private readonly early: TcpSocket[] = []
  private readonly options: TcpServerOptions

  constructor(
    /** The interface the server listens on. */
    readonly iface: Interface,
    options: TcpServerOptions = {},
    connectionListener?: (socket: TcpSocket) => void,
  ) {
    super()
    this.options = options
    if (connectionListener) this.on('connection', connectionListener)
  }

  /** True while listening. */
  get listening(): boolean {
    return this.pl !== undefined
  }

  /** Starts listening: `listen(port[, host][, backlog][, cb])` or `listen({ port, host, backlog }[, cb])`. */
  listen(port?: number | TcpListenOptions, ...rest: Array<string | number | (() => void) | undefined>): this {
    const o: TcpListenOptions = typeof port === 'object' && port !== null ? { ...port } : { port }
    for (const r of rest) {
      if (typeof r === 'function') this.once('listening', r)
      else if (typeof r === 'string') o.host = r
      else if (typeof r === 'number') o.backlog = r
    }
    if (this.pl !== undefined) {
      const e = new Error('Listen method has been called more than once without closing.') as TcpSocketError
      e.code = 'ERR_SERVER_ALREADY_LISTEN'
      process.nextTick(() => this.emit('error', e))
      return this
    }
    const unspecified = o.host === undefined || o.host === '0.0.0.0' || o.host === '::'
    try {
      this.pl = this.iface.listen(o.port ?? 0, {
        backlog: o.backlog ?? this.options.backlog ?? 511,
        synCookies: this.options.synCookies,
        tcp: this.options.noDelay ? { ...this.options.tcp, nagle: false } : this.options.tcp,
        localAddr: unspecified ? undefined : o.host,
        onConnection: (conn) => this.onConnection(conn),
      })
    } catch (e) {
      const code = (e as { code?: string }).code ?? 'EINVAL'
      const err = socketError('listen', code, o.host ?? '::', o.port, (e as Error).message)
      process.nextTick(() => this.emit('error', err))
      return this
    }
    this.closing = false
    this.listeningEmitted = false
    process.nextTick(() => {
      this.listeningEmitted = true
      this.emit('listening')
      // A handshake over an in-memory link can finish before this tick; keep net's order anyway.
      const early = this.early.splice(0, this.early.length)
      for (const sock of early) this.emit('connection', sock)
    })
    return this
  }

  /** Stops accepting; 'close' follows once every connection has closed (net.Server semantics). */
  close(cb?: (err?: Error) => void): this {
    if (this.pl === undefined) {
      if (cb) {
        const e = new Error('Server is not running.') as TcpSocketError
        e.code = 'ERR_SERVER_NOT_RUNNING'
        process.nextTick(() => cb(e))
      }
      return this
    }
    if (cb) this.once('close', cb)
    this.pl.close()
    this.pl = undefined
    this.closing = true
    this.maybeClosed()
    return this
  }

  /** The bound address, as net.Server's `address()` (null when not listening). */
  address(): AddressInfo | null {
    const pl = this.pl
    if (pl === undefined) return null
    if (pl.localAddr !== undefined) return { address: formatIp(pl.localAddr), family: familyName(pl.localAddr), port: pl.port }
    const v6 = this.iface.addrs.some((a) => a.length === 16)
    return { address: v6 ? '::' : '0.0.0.0', family: v6 ? 'IPv6' : 'IPv4', port: pl.port }
  }

  /** Calls back with the number of open connections. */
  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.sockets.size
    process.nextTick(() => cb(null, n))
    return this
  }

  /** Listener counters (SYNs, drops, cookies) of the port. */
  get listenerStats(): PortListener['stats'] | undefined {
    return this.pl?.stats
  }

  /** No-op (the interface's timer policy decides what keeps the process alive). */
  ref(): this {
    return this
  }

  /** No-op (see `ref`). */
  unref(): this {
    return this
  }

  private onConnection(conn: Connection): void {
    const s = new TcpSocket(this.iface, { conn, allowHalfOpen: this.options.allowHalfOpen })
    this.sockets.add(s)
    s.once('close', () => {
      this.sockets.delete(s)
      this.maybeClosed()
    })
    if (this.listeningEmitted) this.emit('connection', s)
    else this.early.push(s)
  }

  private maybeClosed(): void {
    if (this.closing && this.sockets.size === 0) {
      this.closing = false
      process.nextTick(() => this.emit('close'))
    }
  }
}

/** Creates a {@link TcpServer}, as `net.createServer([options][, connectionListener])`. */
export function createServer(
  iface: Interface,
  options?: TcpServerOptions | ((socket: TcpSocket) => void),
  connectionListener?: (socket: TcpSocket) => void,
): TcpServer {
  if (typeof options === 'function') return new TcpServer(iface, {}, options)
  return new TcpServer(iface, options ?? {}, connectionListener)
}
