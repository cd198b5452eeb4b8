/**
 * The interface's connections: a {@link Connection} (a TCB plus the interface's bookkeeping), a
 * {@link PortListener} (a listening port), and the {@link ConnectionTable} that finds a connection by its
 * 4-tuple for every packet received. The interface (iface.ts) creates and removes them; they call back
 * into it for the user's calls (send, recv, close), so every one runs as one of its entry points.
 */
import type { IpHeaderFields } from '../../net/packet.js'
import type { Listener, ListenerStats } from '../../tcp/listener.js'
import type { Tcb } from '../../tcp/tcb.js'
import type { FourTuple, TcpState } from '../../tcp/types.js'
import type { IfaceListenOptions, Interface } from './iface.js'

/** What the interface tells about a connection after every event that may have changed it. */
export interface ConnectionHandler {
  /** Called after a segment was processed or a timer ran for `conn` (state, data, space may have changed). */
  onConnectionUpdate(conn: Connection): void
}

/** One TCP connection on an interface: its TCB plus the interface's bookkeeping. */
export class Connection {
  /** The handler told about changes (a TcpSocket), if any. */
  handler: ConnectionHandler | undefined
  /** IPv4 or IPv6. */
  readonly family: 4 | 6
  /** @internal next connection in the same hash bucket. */
  next: Connection | undefined = undefined
  /** @internal hash of the 4-tuple. */
  hash = 0
  /** @internal the time of this connection's valid heap entry (NaN: none). */
  heapAt = NaN
  /** @internal the listener it came from, until accepted. */
  port: PortListener | undefined = undefined
  /** @internal counted in the interface's keep-alive count. */
  held = false
  /** @internal released by its owner: the TCB finishes alone; data arriving is answered with RST (Linux). */
  orphan = false
  /** @internal when a released connection in FIN-WAIT-2 is given up (NaN: not yet). */
  orphanAt = NaN
  /** @internal removed from the interface (the TCB is CLOSED). */
  removed = false
  /** @internal IP fields for every outgoing packet (our address → theirs). */
  readonly ip: IpHeaderFields

  constructor(
    /** @internal */ readonly iface: Interface,
    /** The TCB. */
    readonly tcb: Tcb,
  ) {
    this.family = tcb.tuple.localAddr.length === 4 ? 4 : 6
    // The interface's TTL/TOS as the connection starts: a socket option set before connect() (IP_TTL, IP_TOS).
    this.ip = { src: tcb.tuple.localAddr, dst: tcb.tuple.remoteAddr, ttl: iface.ttl, tos: iface.tos }
  }

  /** The 4-tuple from our side. */
  get tuple(): FourTuple {
    return this.tcb.tuple
  }

  /** The TCB's RFC 9293 state. */
  get state(): TcpState {
    return this.tcb.state
  }

  /** True once the TCB is CLOSED and the interface forgot it. */
  get closed(): boolean {
    return this.removed
  }

  /** SEND: queues what fits in the send buffer, sends what the windows allow; returns bytes taken. */
  send(data: Uint8Array): number {
    return this.iface.userSend(this, data)
  }

  /** RECEIVE into a caller-owned buffer; a window update goes out when reading opened the window. */
  recvInto(into: Uint8Array): number {
    return this.iface.userRecvInto(this, into)
  }

  /** RECEIVE up to `max` bytes into a new array. */
  recv(max = Infinity): Uint8Array {
    const n = Math.min(max, this.tcb.readable)
    const out = new Uint8Array(n)
    if (n > 0) this.recvInto(out)
    return out
  }

  /** CLOSE: FIN after the queued data (half-close; receiving goes on). */
  close(): void {
    this.iface.userClose(this, false)
  }

  /** ABORT: RST in a synchronized state, then CLOSED. */
  abort(): void {
    this.iface.userClose(this, true)
  }

  /**
   * Gives the connection up: the handler is detached, it no longer keeps the process alive, and the TCB
   * finishes its close alone. Data that arrives afterwards is answered with RST, as Linux does for an
   * orphaned socket (tcp_rcv_state_process, FIN-WAIT with RCV_SHUTDOWN).
   */
  release(): void {
    this.iface.userRelease(this)
  }

  /** Whether this connection keeps the process alive (while not in TIME-WAIT and not released). */
  ref(on: boolean): void {
    this.iface.setHeld(this, on && !this.orphan && !this.removed && this.tcb.state !== 'TIME-WAIT')
  }
}

/** A port the interface listens on: one Listener per address family, created at the first SYN. */
export class PortListener {
  /** Connections spawned and not yet established/accepted. */
  readonly pending = new Set<Connection>()
  /** @internal */ v4: Listener | undefined = undefined
  /** @internal */ v6: Listener | undefined = undefined
  /** True after close(). */
  closed = false
  /** Called with every accepted connection. */
  onConnection: ((conn: Connection) => void) | undefined

  constructor(
    private readonly iface: Interface,
    /** The port. */
    readonly port: number,
    /** The local address it is bound to, or undefined for any of ours. */
    readonly localAddr: Uint8Array | undefined,
    /** @internal */ readonly opts: IfaceListenOptions,
  ) {
    this.onConnection = opts.onConnection
  }

  /** Listener counters summed over both families. */
  get stats(): ListenerStats {
    const s: ListenerStats = { synsReceived: 0, synsDropped: 0, cookiesSent: 0, cookiesAccepted: 0, cookiesRejected: 0, resetsSent: 0 }
    for (const l of [this.v4, this.v6]) {
      if (!l) continue
      for (const k of Object.keys(s) as Array<keyof ListenerStats>) s[k] += l.stats[k]
    }
    return s
  }

  /** Stops listening: new SYNs meet a closed port; connections not yet accepted are reset (as Linux does). */
  close(): void {
    this.iface.unlisten(this)
  }
}

/** @internal Whether two addresses (4 or 16 bytes) are equal. */
export function addrEq(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length
  if (n !== b.length) return false
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false
  return true
}

/** @internal FNV-1a-style mix of the 4-tuple into a 32-bit bucket key: no strings built per packet. */
export function tupleHash(local: Uint8Array, lport: number, remote: Uint8Array, rport: number): number {
  let h = Math.imul(((lport << 16) | rport) ^ 0x811c9dc5, 0x01000193)
  for (let i = 0; i < remote.length; i++) h = Math.imul(h ^ remote[i], 0x01000193)
  for (let i = 0; i < local.length; i++) h = Math.imul(h ^ local[i], 0x01000193)
  return h ^ (h >>> 16)
}

/**
 * @internal The connections of one interface by 4-tuple: a map from the tuple's hash to a chain linked
 * through `Connection.next` (no entry objects, no strings per packet), and each TCB's connection, which
 * stays known after removal so that a TCB's last trace events still name their connection.
 */
export class ConnectionTable {
  private readonly buckets = new Map<number, Connection>()
  private readonly byTcb = new WeakMap<Tcb, Connection>()
  private count = 0

  /** Connections in the table. */
  get size(): number {
    return this.count
  }

  /** The connection with this 4-tuple (our address and port first), if any. */
  lookup(local: Uint8Array, lport: number, remote: Uint8Array, rport: number): Connection | undefined {
    let c = this.buckets.get(tupleHash(local, lport, remote, rport))
    for (; c !== undefined; c = c.next) {
      const t = c.tcb.tuple
      if (t.localPort === lport && t.remotePort === rport && addrEq(t.remoteAddr, remote) && addrEq(t.localAddr, local)) return c
    }
    return undefined
  }

  /** The connection of `tcb`, if it ever was in the table. */
  ofTcb(tcb: Tcb): Connection | undefined {
    return this.byTcb.get(tcb)
  }

  /** Adds `conn` at the head of its bucket. */
  add(conn: Connection): void {
    const t = conn.tcb.tuple
    const h = tupleHash(t.localAddr, t.localPort, t.remoteAddr, t.remotePort)
    conn.hash = h
    conn.next = this.buckets.get(h)
    this.buckets.set(h, conn)
    this.count++
    this.byTcb.set(conn.tcb, conn)
  }

  /** Unlinks `conn`, which is in the table, from its bucket. */
  remove(conn: Connection): void {
    const h = conn.hash
    let c = this.buckets.get(h)
    if (c === conn) {
      if (conn.next === undefined) this.buckets.delete(h)
      else this.buckets.set(h, conn.next)
    } else {
      while (c !== undefined && c.next !== conn) c = c.next
      if (c !== undefined) c.next = conn.next
    }
    conn.next = undefined
    this.count--
  }

  /** Every connection in the table, bucket by bucket. */
  *values(): IterableIterator<Connection> {
    for (let c of this.buckets.values()) {
      for (; c !== undefined; c = c.next!) yield c
    }
  }
}
