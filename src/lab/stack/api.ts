/**
 * node:net's two entry points, `connect(options)` and `createServer(options, listener)`, over tcplab's
 * userland TCP on a live device, so application code written for node:net runs on tcplab by changing
 * one import. Each socket or server gets its own stack: a raw socket (default; an RST guard for exactly
 * its address and port) or libpcap with an address of its own (`via: 'pcap'`, `localAddress`, `iface`).
 * Needs root or CAP_NET_RAW; without it the error comes as the socket's or server's 'error' event.
 */
import { EventEmitter } from 'node:events'
import { formatIp, parseIp } from '../../net/addr.js'
import type { Device, ReceiveHandler } from '../../net/device.js'
import { WireError } from '../../tcp/errors.js'
import { Interface } from './iface.js'
import { drain, liveInterfaceOptions, openLiveDevice, randomEphemeralPort, routeTo, type LiveDevice, type Via } from './live.js'
import { TcpServer, TcpSocket, type TcpConnectOptions, type TcpServerOptions } from './socket.js'

/** Where the userland stack of a socket or server runs. */
export interface StackChoice {
  /** 'raw' (default): an address the kernel owns; 'pcap': an address and MAC of our own on `iface`. */
  via?: Via
  /** Interface for `via: 'pcap'` (default: the route to the peer). */
  iface?: string
  /** Write every packet to this pcap file. */
  pcapFile?: string
}

/**
 * A device that queues what is sent until the real one is attached: the interface (and the SYN) can exist
 * at once while the RST guard and the raw socket are still being set up.
 */
class DeferredDevice implements Device {
  readonly medium = 'ip' as const
  readonly mtu = 1500
  private real: Device | undefined
  private handler: ReceiveHandler | undefined
  private queue: Uint8Array[] = []
  private closed = false

  send(packet: Uint8Array): void {
    if (this.closed) throw new WireError('DEV_ERR_CLOSED', 'device closed')
    if (this.real) this.real.send(packet)
    else if (this.queue.length < 1024) this.queue.push(packet.slice())
  }

  onReceive(handler: ReceiveHandler): void {
    this.handler = handler
    this.real?.onReceive(handler)
  }

  attach(real: Device): void {
    if (this.closed) {
      real.close()
      return
    }
    this.real = real
    if (this.handler) real.onReceive(this.handler)
    for (const p of this.queue) real.send(p)
    this.queue = []
  }

  close(): void {
    this.closed = true
    this.queue = []
    this.real?.close()
  }
}

/** Opens the live device behind `dev`; on failure reports through `fail`. Resolves to the release step. */
async function attachLive(dev: DeferredDevice, opts: Parameters<typeof openLiveDevice>[0], fail: (e: Error) => void): Promise<LiveDevice | undefined> {
  try {
    const live = await openLiveDevice(opts)
    dev.attach(live.device)
    return live
  } catch (e) {
    fail(e instanceof Error ? e : new Error(String(e)))
    return undefined
  }
}

/** Options of {@link connect}: net.connect's plus where the stack runs. */
export type ConnectOptions = TcpConnectOptions & StackChoice

/**
 * Like `net.connect(options[, listener])`: an active open through the userland TCP. `host` must be an IP
 * address. While no answer comes the socket says so: `connecting` and `readyState` 'opening', a 'retry'
 * event per SYN retransmission, 'timeout' after `options.timeout` ms, and ETIMEDOUT once the SYN retries
 * (`tcp.synRetries`) are used up. The stack is torn down (guard removed, device closed) once the socket
 * has closed.
 */
export function connect(options: ConnectOptions, connectListener?: () => void): TcpSocket
/** `net.connect(port[, host][, connectListener])`: `host` defaults to 127.0.0.1, as node:net's. */
export function connect(port: number, host?: string, connectListener?: () => void): TcpSocket
export function connect(port: number, connectListener?: () => void): TcpSocket
export function connect(a: ConnectOptions | number, b?: string | (() => void), c?: () => void): TcpSocket {
  const options: ConnectOptions = typeof a === 'number' ? { port: a, ...(typeof b === 'string' ? { host: b } : {}) } : a
  const connectListener = typeof b === 'function' ? b : c
  const host = options.host ?? '127.0.0.1'
  const via = options.via ?? 'raw'
  const peer = parseIp(host)
  const localAddr = options.localAddress ? parseIp(options.localAddress) : via === 'raw' ? routeTo(peer).src : undefined
  if (!localAddr) throw new WireError('ERR_BAD_ARGUMENT', "via 'pcap' needs localAddress: an address of its own that no host uses")
  const localPort = options.localPort ?? randomEphemeralPort(localAddr)
  const dev = new DeferredDevice()
  const iface = new Interface({ device: dev, addrs: [localAddr], ...liveInterfaceOptions(via), ...(options.tcp ? { tcp: options.tcp } : {}) })
  const socket = new TcpSocket(iface)
  const live = attachLive(
    dev,
    { via, peer, localAddr, guardPorts: via === 'raw' ? [localPort] : [], ...(options.iface ? { iface: options.iface } : {}), ...(options.pcapFile ? { pcapFile: options.pcapFile } : {}) },
    (e) => socket.destroy(e),
  )
  socket.once('close', () => {
    void (async () => {
      await drain(iface)
      iface.close()
      await (await live)?.release()
    })()
  })
  return socket.connect({ ...options, host, localAddress: formatIp(localAddr), localPort }, connectListener)
}

/** Options of {@link createServer}: net.createServer's plus where the stack runs. */
export type ServerOptions = TcpServerOptions & StackChoice

/** A server like net.Server whose userland stack is set up when `listen` is called. */
export class LiveServer extends EventEmitter {
  private inner: TcpServer | undefined
  private iface: Interface | undefined
  private live: Promise<LiveDevice | undefined> | undefined

  constructor(
    private readonly options: ServerOptions,
    listener?: (socket: TcpSocket) => void,
  ) {
    super()
    if (listener) this.on('connection', listener)
  }

  /** `listen({ host, port, backlog }[, cb])` or `listen(port, host[, backlog][, cb])`; host must be an IP address. */
  listen(a: { host?: string; port?: number; backlog?: number } | number, ...rest: Array<string | number | (() => void) | undefined>): this {
    const cb = rest.find((x): x is () => void => typeof x === 'function')
    const o = typeof a === 'number' ? { port: a, host: rest.find((x): x is string => typeof x === 'string'), backlog: rest.find((x): x is number => typeof x === 'number') } : a
    if (!o.host) throw new WireError('ERR_BAD_ARGUMENT', 'listen needs host: the address the userland stack answers on')
    if (!o.port) throw new WireError('ERR_BAD_ARGUMENT', 'listen needs a port (the RST guard is set for it)')
    if (cb) this.once('listening', cb)
    const via = this.options.via ?? 'raw'
    const localAddr = parseIp(o.host)
    const dev = new DeferredDevice()
    const iface = new Interface({ device: dev, addrs: [localAddr], ...liveInterfaceOptions(via), ...(this.options.tcp ? { tcp: this.options.tcp } : {}) })
    this.iface = iface
    const inner = new TcpServer(iface, this.options, (s) => this.emit('connection', s))
    this.inner = inner
    inner.on('error', (e) => this.emit('error', e))
    inner.on('close', () => this.emit('close'))
    this.live = attachLive(
      dev,
      { via, localAddr, guardPorts: via === 'raw' ? [o.port] : [], ...(this.options.iface ? { iface: this.options.iface } : {}), ...(this.options.pcapFile ? { pcapFile: this.options.pcapFile } : {}) },
      (e) => this.emit('error', e),
    )
    void this.live.then((l) => {
      if (!l) return
      inner.listen({ host: o.host, port: o.port, ...(o.backlog !== undefined ? { backlog: o.backlog } : {}) }, () => this.emit('listening'))
    })
    return this
  }

  /** Stops accepting; the stack is torn down once the open connections have closed. */
  close(cb?: (err?: Error) => void): this {
    const inner = this.inner
    if (!inner) {
      cb?.(new Error('Server is not running.'))
      return this
    }
    inner.close((err?: Error) => {
      void (async () => {
        if (this.iface) await drain(this.iface)
        this.iface?.close()
        await (await this.live)?.release()
        cb?.(err)
      })()
    })
    return this
  }

  /** As net.Server's. */
  address(): ReturnType<TcpServer['address']> | null {
    return this.inner?.address() ?? null
  }
}

/** Like `net.createServer([options][, listener])`, over the userland TCP. */
export function createServer(options?: ServerOptions | ((socket: TcpSocket) => void), listener?: (socket: TcpSocket) => void): LiveServer {
  if (typeof options === 'function') return new LiveServer({}, options)
  return new LiveServer(options ?? {}, listener)
}
