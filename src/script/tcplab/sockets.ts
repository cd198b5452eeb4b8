/**
 * The socket layer of the tcplab target: a script's system calls on tcplab's Tcb and Listener, with the
 * results, errnos and blocking rules Linux gives them (net/ipv4/af_inet.c, tcp.c: the checks are made in
 * the kernel's order, so a script that names an errno gets the one Linux would return). Every call is an
 * `attempt` that either completes or would block; a blocking socket's attempt is retried whenever the stack
 * changes (a packet, a timer, another call) — a continuation, resumed at the virtual time it completes.
 */
import type { Expr } from '../ast.js'
import type { SyscallCall, SyscallResult } from '../target.js'
import { evalInt, exprText, intArg, structInts } from '../symbols.js'
import { intCmsgData, iovLengths, parseMsghdr, readingAs, recvmsgMismatch, type WantCmsg } from '../msghdr.js'
import { errnoNumber } from '../errno.js'
import { Listener } from '../../tcp/listener.js'
import { Tcb, TcpUserError } from '../../tcp/tcb.js'
import type { TcpConfig } from '../../tcp/types.js'
import { FastOpenClient, TFO_CLIENT_ENABLE, TFO_CLIENT_NO_COOKIE, TFO_SERVER_ENABLE, TFO_SERVER_WO_SOCKOPT1 } from '../../tcp/fastopen.js'
import { seqLe } from '../../tcp/seq.js'
import type { VirtualStack, BoundListener } from './stack.js'
import { linuxRcvSpace, type ScriptStackSettings } from './config.js'
import { fillsTcpInfo, tcplabSnapshot } from './info.js'

// Linux's values (asm-generic), as the scripts' symbols evaluate to them.
const O_RDWR = 2
const O_NONBLOCK = 0o4000
const SOCK_STREAM = 1
const SOCK_NONBLOCK = 0o4000
const SOCK_TYPE_MASK = 0xf
const AF_INET = 2
const AF_INET6 = 10
const SOL_SOCKET = 1
const IPPROTO_TCP = 6
const MSG_OOB = 0x1
const MSG_PEEK = 0x2
const MSG_DONTWAIT = 0x40
const MSG_WAITALL = 0x100
const MSG_NOSIGNAL = 0x4000
const MSG_FASTOPEN = 0x20000000
/** recv flags the target honours; any other is unsupported (named). */
const RECV_FLAGS = MSG_OOB | MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL | MSG_NOSIGNAL
/** send flags the target honours: MSG_MORE, MSG_EOR, MSG_ZEROCOPY… change what Linux sends. */
const SEND_FLAGS = MSG_OOB | MSG_DONTWAIT | MSG_NOSIGNAL | MSG_FASTOPEN
const FLAG_NAMES: Array<[number, string]> = [
  [0x1, 'MSG_OOB'], [0x2, 'MSG_PEEK'], [0x4, 'MSG_DONTROUTE'], [0x20, 'MSG_TRUNC'], [0x40, 'MSG_DONTWAIT'], [0x80, 'MSG_EOR'],
  [0x100, 'MSG_WAITALL'], [0x800, 'MSG_CONFIRM'], [0x2000, 'MSG_ERRQUEUE'], [0x4000, 'MSG_NOSIGNAL'], [0x8000, 'MSG_MORE'],
  [0x4000000, 'MSG_ZEROCOPY'], [0x20000000, 'MSG_FASTOPEN'],
]
const F_GETFD = 1
const F_SETFD = 2
const F_GETFL = 3
const F_SETFL = 4
const SIOCINQ = 0x541b
const SIOCOUTQ = 0x5411
const POLLIN = 0x1
const POLLOUT = 0x4
const POLLERR = 0x8
const POLLHUP = 0x10
const POLLNVAL = 0x20
const POLLRDNORM = 0x40
const POLLWRNORM = 0x100
const POLLRDHUP = 0x2000
const SO = { REUSEADDR: 2, TYPE: 3, ERROR: 4, SNDBUF: 7, RCVBUF: 8, KEEPALIVE: 9, OOBINLINE: 10, LINGER: 13, REUSEPORT: 15 } as const
const TCPO = {
  NODELAY: 1, MAXSEG: 2, CORK: 3, INFO: 11, QUICKACK: 12, USER_TIMEOUT: 18, FASTOPEN: 23, FASTOPEN_CONNECT: 30,
  FASTOPEN_KEY: 33, FASTOPEN_NO_COOKIE: 34, INQ: 36,
} as const
/** Linux's TCP_CM_INQ: the cmsg type of recvmsg's "bytes still queued" (at level SOL_TCP). */
const TCP_CM_INQ = 36

/** A call's outcome: done (the result without its end time), or it would block. */
type Attempt = Omit<SyscallResult, 'endTime'> | typeof BLOCK
/** An attempt would block: the call waits (or is reported as blocked). */
export const BLOCK = Symbol('block')

/** A call the tcplab target cannot make (the script is `unsupported`). */
export class Unsupported extends Error {}

const ok = (ret = 0): Omit<SyscallResult, 'endTime'> => ({ ret })
const fail = (errno: string): Omit<SyscallResult, 'endTime'> => ({ ret: -1, errno })

/** One socket: the fd's state beside its TCB or listener (what Linux keeps in struct socket and struct sock). */
interface Sock {
  fd: number
  nonblock: boolean
  reuseaddr: boolean
  linger: { onoff: number; linger: number } | undefined
  oobinline: boolean
  /** TCP_INQ: recvmsg hands back a TCP_CM_INQ control message. */
  inq: boolean
  /** Socket options before there is a TCB (and copied into it). */
  cfg: Partial<TcpConfig>
  bindPort: number | undefined
  listener: BoundListener | undefined
  tcb: Tcb | undefined
  /** struct socket's state: SS_UNCONNECTED, SS_CONNECTING, SS_CONNECTED. */
  ss: 'unconnected' | 'connecting' | 'connected'
  /** The TCB's error has been reported once (sock_error() clears sk_err). */
  errTaken: boolean
  rdShut: boolean
  wrShut: boolean
  /** The urgent pointer whose byte recv(MSG_OOB) has returned. */
  oobReadAt: number | undefined
  /** The TCB's last state before CLOSED: Linux reports a RST in CLOSE-WAIT as EPIPE (tcp_reset). */
  lastState: string | undefined
  /** TCP Fast Open (fastopen.ts): TCP_FASTOPEN's queue length (a listener), TCP_FASTOPEN_KEY's keys. */
  tfoQueue: number
  tfoKeys: Uint8Array[] | undefined
  /** TCP_FASTOPEN_CONNECT, and TCP_FASTOPEN_NO_COOKIE (Linux's fastopen_connect, fastopen_no_cookie). */
  tfoConnect: boolean
  tfoNoCookie: boolean
  /** connect() with TCP_FASTOPEN_CONNECT and a cookie: the SYN waits for the first write (Linux's defer_connect). */
  deferConnect: boolean
}

/** A call waiting for the stack: retried on every change; `deadline` (virtual µs) ends a poll's timeout. */
export interface Waiter {
  attempt: () => Attempt
  deadline?: number
  onDeadline?: () => Omit<SyscallResult, 'endTime'>
  resolve: (r: Omit<SyscallResult, 'endTime'>) => void
}

/** Where the socket layer's calls go and the script's addresses. */
export interface SocketEnv {
  stack: VirtualStack
  settings: ScriptStackSettings
  v6: boolean
  localIp: Uint8Array
  remoteIp: Uint8Array
  bindPort: number
  connectPort: number
}

/** The fd table and the system calls. */
export class Sockets {
  private readonly fds = new Map<number, Sock>()
  readonly waiters: Waiter[] = []
  private nextPort = 48000
  private waking = false

  constructor(private readonly env: SocketEnv) {}

  /** Retries every blocked call (after the stack changed); those that complete are resolved. */
  wake(): void {
    for (const s of this.fds.values()) if (s.tcb && s.tcb.state !== 'CLOSED') s.lastState = s.tcb.state
    if (this.waking) return
    this.waking = true
    try {
      for (let again = true; again; ) {
        again = false
        for (const w of [...this.waiters]) {
          let r = w.attempt()
          if (r === BLOCK && w.deadline !== undefined && this.env.stack.now >= w.deadline) r = w.onDeadline!()
          if (r === BLOCK) continue
          this.waiters.splice(this.waiters.indexOf(w), 1)
          w.resolve(r)
          again = true
        }
      }
    } finally {
      this.waking = false
    }
  }

  /** The earliest deadline of a blocked call. */
  nextDeadline(): number | undefined {
    let t: number | undefined
    for (const w of this.waiters) if (w.deadline !== undefined && (t === undefined || w.deadline < t)) t = w.deadline
    return t
  }

  /**
   * Prepares a call: its attempt and, for poll, its timeout. Throws Unsupported for what the target cannot
   * do. The attempt is made by the caller (the target), which also decides what blocking means in time.
   */
  prepare(call: SyscallCall): { attempt: () => Attempt; timeoutUs?: number; onDeadline?: () => Omit<SyscallResult, 'endTime'> } {
    const a = call.args
    const int = (i: number, dflt?: number): number => intArg(call, i, dflt, Unsupported, 'tcplab target')
    const sockAt = (i: number): Sock | undefined => this.fds.get(int(i))
    const badf = { attempt: (): Attempt => fail('EBADF') }
    // packetdrill's NULL buffer: the kernel's copy to or from it fails (EFAULT) when the call gets that far.
    const isNull = (i: number): boolean => {
      const e = a[i]
      return e !== undefined && ((e.kind === 'word' && e.name === 'NULL') || (e.kind === 'int' && e.value === 0))
    }
    const addrIsDefault = (i: number): void => {
      const e = a[i]
      if (e !== undefined && e.kind !== 'ellipsis') throw new Unsupported(`${call.name}: only '...' is supported as a socket address on the tcplab target`)
    }
    switch (call.name) {
      case 'socket': {
        const first = a[0]
        const domain = first === undefined || first.kind === 'ellipsis' ? (this.env.v6 ? AF_INET6 : AF_INET) : int(0)
        const type = int(1)
        if ((type & SOCK_TYPE_MASK) !== SOCK_STREAM) throw new Unsupported('socket: the tcplab target has TCP (SOCK_STREAM) sockets only')
        if (domain !== (this.env.v6 ? AF_INET6 : AF_INET)) throw new Unsupported(`socket: address family ${domain} does not match the script's IP version on the tcplab target`)
        return { attempt: () => ok(this.newSock((type & SOCK_NONBLOCK) !== 0).fd) }
      }
      case 'bind': {
        const s = sockAt(0)
        if (!s) return badf
        addrIsDefault(1)
        return {
          attempt: () => {
            if (s.bindPort !== undefined || s.tcb) return fail('EINVAL')
            const port = this.env.bindPort
            if (!s.reuseaddr && this.env.stack.portInUse(port)) return fail('EADDRINUSE')
            if ([...this.fds.values()].some((o) => o !== s && o.bindPort === port && (o.listener || !s.reuseaddr || !o.reuseaddr))) return fail('EADDRINUSE')
            s.bindPort = port
            return ok()
          },
        }
      }
      case 'listen': {
        const s = sockAt(0)
        if (!s) return badf
        const backlog = int(1)
        return { attempt: () => this.listen(s, backlog) }
      }
      case 'accept':
      case 'accept4': {
        const s = sockAt(0)
        if (!s) return badf
        const flags = call.name === 'accept4' ? int(3, 0) : 0
        return { attempt: () => this.accept(s, (flags & SOCK_NONBLOCK) !== 0) }
      }
      case 'connect': {
        const s = sockAt(0)
        if (!s) return badf
        addrIsDefault(1)
        let started = false
        return {
          attempt: () => {
            if (started) return this.connectWait(s)
            started = true
            return this.connect(s)
          },
        }
      }
      case 'read':
      case 'recv':
      case 'recvfrom': {
        const s = sockAt(0)
        if (!s) return badf
        const len = int(2)
        const flags = call.name === 'read' ? 0 : int(3, 0)
        checkFlags(call.name, flags, RECV_FLAGS)
        const st = { done: 0, nullBuf: isNull(1) }
        return { attempt: () => (flags & MSG_OOB ? this.readOob(s, len, flags) : this.readAll(s, len, flags, st)) }
      }
      case 'readv':
      case 'recvmsg': {
        const s = sockAt(0)
        if (!s) return badf
        const want = call.name === 'recvmsg' ? recvMsgWant(a[1]) : { len: iovTotal(call.name, a[1]), flags: undefined, cmsgs: undefined }
        const flags = call.name === 'recvmsg' ? int(2, 0) : 0
        checkFlags(call.name, flags, RECV_FLAGS)
        const st = { done: 0, nullBuf: false }
        return {
          attempt: () => {
            const r = this.readAll(s, want.len, flags, st)
            if (r === BLOCK || call.name !== 'recvmsg') return r
            // tcp_recvmsg adds TCP_CM_INQ (tcp_inq_hint: queued bytes, 1 at EOF) to a successful read.
            const inq = s.tcb ? (s.tcb.readable > 0 ? s.tcb.readable : s.tcb.eof ? 1 : 0) : 0
            const got = s.inq && r.ret >= 0 ? [{ level: IPPROTO_TCP, type: TCP_CM_INQ, data: intCmsgData(inq) }] : []
            // Times are not read: this target gives no timestamp cmsgs (recvMsgWant made such a script unsupported).
            const mismatch = recvmsgMismatch(want.flags ?? 0, want.cmsgs ?? [], 0, got, { realtimeAt: 0, tolerance: 0 })
            return mismatch ? { ...r, mismatch } : r
          },
        }
      }
      case 'write':
      case 'send':
      case 'sendto':
      case 'writev':
      case 'sendmsg': {
        const s = sockAt(0)
        if (!s) return badf
        const len = call.name === 'writev' ? iovTotal(call.name, a[1]) : call.name === 'sendmsg' ? msgIovTotal(call.name, a[1]) : int(2)
        const flags = call.name === 'write' || call.name === 'writev' ? 0 : call.name === 'sendmsg' ? int(2, 0) : int(3, 0)
        checkFlags(call.name, flags, SEND_FLAGS)
        if (call.name === 'sendto' && a[4] !== undefined && a[4].kind !== 'ellipsis' && evalInt(a[4]) !== 0) {
          throw new Unsupported('sendto: a destination address on a TCP socket')
        }
        // sendto(MSG_FASTOPEN) to AF_UNSPEC is refused (Linux's tcp_sendmsg_fastopen: EOPNOTSUPP).
        const unspec = call.name === 'sendto' && a[4]?.kind === 'word' && a[4].name === 'AF_UNSPEC'
        const st = { done: 0, nullBuf: (call.name === 'write' || call.name === 'send' || call.name === 'sendto') && isNull(1), unspec }
        return { attempt: () => this.write(s, len, flags, st) }
      }
      case 'close': {
        const s = sockAt(0)
        if (!s) return badf
        // SO_LINGER with a timeout: close() waits until our FIN is acknowledged or the time is up
        // (Linux's sk_stream_wait_close, whatever O_NONBLOCK says), and returns 0 either way.
        const lingerUs = s.linger && s.linger.onoff !== 0 && s.linger.linger > 0 ? s.linger.linger * 1_000_000 : 0
        let closed = false
        return {
          attempt: () => {
            if (!closed) {
              closed = true
              const r = this.close(s)
              if (lingerUs === 0 || !s.tcb || r === BLOCK || r.ret !== 0) return r
            }
            const st = s.tcb!.state
            return st === 'FIN-WAIT-1' || st === 'CLOSING' || st === 'LAST-ACK' ? BLOCK : ok()
          },
          ...(lingerUs > 0 ? { timeoutUs: lingerUs, onDeadline: () => ok() } : {}),
        }
      }
      case 'shutdown': {
        const s = sockAt(0)
        if (!s) return badf
        const how = int(1)
        return { attempt: () => this.shutdown(s, how) }
      }
      case 'fcntl': {
        const s = sockAt(0)
        if (!s) return badf
        const cmd = int(1)
        const arg = int(2, 0)
        return {
          attempt: () => {
            if (cmd === F_GETFL) return ok(O_RDWR | (s.nonblock ? O_NONBLOCK : 0))
            if (cmd === F_SETFL) {
              s.nonblock = (arg & O_NONBLOCK) !== 0
              return ok()
            }
            if (cmd === F_GETFD || cmd === F_SETFD) return ok()
            throw new Unsupported(`fcntl: command ${cmd} on the tcplab target`)
          },
        }
      }
      case 'ioctl': {
        const s = sockAt(0)
        if (!s) return badf
        const req = int(1)
        if (req !== SIOCINQ && req !== SIOCOUTQ) throw new Unsupported(`ioctl: request 0x${req.toString(16)} on the tcplab target`)
        // The value read is not compared by the engine (as on the kernel target); the call's result is.
        return { attempt: () => (s.listener ? fail('EINVAL') : ok()) }
      }
      case 'setsockopt': {
        const s = sockAt(0)
        if (!s) return badf
        const level = int(1)
        const name = int(2)
        const v = a[3]
        const optlen = a[4]
        return {
          attempt: () => {
            const r = this.setsockopt(s, level, name, v, exprText(a[2]!), optlen)
            // A listener's options reach the connections it makes from now on (Linux's children inherit them).
            if (s.listener && r !== BLOCK && r.ret === 0) s.listener.listener.setConfig(this.tcbConfig(s, true))
            return r
          },
        }
      }
      case 'getsockopt': {
        const s = sockAt(0)
        if (!s) return badf
        const level = int(1)
        const name = int(2)
        const v = a[3]
        const wants = v !== undefined && v.kind !== 'ellipsis' && v.kind !== 'struct'
        if (v?.kind === 'struct') {
          // The fields a struct value names are checked, as on the kernel target: TCP_INFO's tcpi_ fields
          // (those this target fills, info.ts), SO_LINGER's onoff/linger.
          const want = structFields(v)
          const info = level === IPPROTO_TCP && name === TCPO.INFO
          const linger = level === SOL_SOCKET && name === SO.LINGER
          if (!info && !linger) throw new Unsupported(`getsockopt ${exprText(a[2]!)}: a struct value on the tcplab target (TCP_INFO and SO_LINGER only)`)
          const unfilled = info ? [...want.keys()].filter((f) => !fillsTcpInfo(f)) : []
          if (unfilled.length > 0) throw new Unsupported(`getsockopt TCP_INFO: the tcplab target does not fill ${unfilled.join(', ')} yet (the TCB does not expose ${unfilled.length === 1 ? 'it' : 'them'})`)
          return {
            attempt: () => {
              const got = new Map<string, number>()
              if (info) for (const [n, x] of tcplabSnapshot({ listening: s.listener !== undefined, tcb: s.tcb })) got.set(n, Number(x))
              else {
                got.set('onoff', s.linger?.onoff ?? 0).set('l_onoff', s.linger?.onoff ?? 0)
                got.set('linger', s.linger?.linger ?? 0).set('l_linger', s.linger?.linger ?? 0)
              }
              for (const [f, expected] of want) {
                const actual = got.get(f)
                if (actual === undefined) return { ret: 0, mismatch: `getsockopt has no field ${f} to compare` }
                if (actual !== expected && actual !== expected >>> 0) return { ret: 0, mismatch: `Bad getsockopt ${f}: expected: ${expected} actual: ${actual}` }
              }
              return ok()
            },
          }
        }
        return {
          attempt: () => {
            const r = this.getsockopt(s, level, name, exprText(a[2]!))
            return wants ? r : { ret: r.ret, errno: r.errno }
          },
        }
      }
      case 'poll': {
        const arr = a[0]
        if (arr?.kind !== 'array') throw new Unsupported('poll: the pollfd array must be written out')
        const pfds = arr.items.map((p) => {
          if (p.kind !== 'struct') throw new Unsupported('poll: each pollfd must be a {fd=…, events=…} struct')
          const f = structInts(p)
          return { fd: f.get('fd') ?? -1, events: f.get('events') ?? 0 }
        })
        const timeoutMs = int(2, -1)
        const attempt = (): Attempt => {
          const revents = pfds.map((p) => this.pollMask(p.fd, p.events))
          const n = revents.filter((r) => r !== 0).length
          return n > 0 || timeoutMs === 0 ? { ret: n, revents } : BLOCK
        }
        return {
          attempt,
          ...(timeoutMs > 0 ? { timeoutUs: timeoutMs * 1000, onDeadline: () => ({ ret: 0, revents: pfds.map(() => 0) }) } : {}),
        }
      }
      default:
        throw new Unsupported(`the tcplab target does not support ${call.name}()`)
    }
  }

  /** What a Python block's snapshot reads of an fd: whether it listens, and its TCB; undefined for no such fd. */
  socketOf(fd: number): { listening: boolean; tcb: Tcb | undefined } | undefined {
    const s = this.fds.get(fd)
    return s ? { listening: s.listener !== undefined, tcb: s.tcb } : undefined
  }

  /** The live TCBs of open sockets (for the end of a run). */
  liveTcbs(): Tcb[] {
    return [...this.fds.values()].flatMap((s) => (s.tcb ? [s.tcb] : []))
  }

  // ---- calls ---------------------------------------------------------------------------------------

  private newSock(nonblock: boolean): Sock {
    let fd = 3
    while (this.fds.has(fd)) fd++
    const s: Sock = {
      fd, nonblock, reuseaddr: false, linger: undefined, oobinline: false, inq: false, cfg: {}, bindPort: undefined, listener: undefined,
      tcb: undefined, ss: 'unconnected', errTaken: false, rdShut: false, wrShut: false, oobReadAt: undefined, lastState: undefined,
      tfoQueue: 0, tfoKeys: undefined, tfoConnect: false, tfoNoCookie: false, deferConnect: false,
    }
    this.fds.set(fd, s)
    return s
  }

  private tcbConfig(s: Sock, passive: boolean): Partial<TcpConfig> {
    const st = this.env.settings
    // The SYN's window is the profile's (src/tcp/optlayout.ts synWindow), from rcvBuf and the MSS.
    return { ...st.tcp, ...s.cfg, synRetries: passive ? st.synAckRetries : st.synRetries }
  }

  private listen(s: Sock, backlog: number): Attempt {
    if (s.tcb) return fail('EINVAL')
    if (s.listener) return ok()
    if (s.bindPort === undefined) s.bindPort = this.ephemeral()
    // Linux's accept queue is full only when it holds more than the backlog (sk_acceptq_is_full uses >).
    const n = Math.max(0, Math.min(backlog, 4096)) + 1
    const listener = new Listener({ localPort: s.bindPort, backlog: n, maxHalfOpen: Math.max(n, 256), synCookies: this.env.settings.synCookies, config: this.tcbConfig(s, true) })
    // Linux (inet_listen): tcp_fastopen 0x400 makes every listener a Fast Open one, its queue the backlog.
    const mode = this.env.settings.tcp.fastOpen ?? 0
    listener.fastOpenQueue = s.tfoQueue > 0 ? s.tfoQueue : mode & TFO_SERVER_WO_SOCKOPT1 && mode & TFO_SERVER_ENABLE ? Math.max(0, Math.min(backlog, 4096)) : 0
    listener.fastOpenKeys = s.tfoKeys
    s.listener = { listener, addr: undefined, port: s.bindPort }
    this.env.stack.listen(s.listener)
    return ok()
  }

  private accept(s: Sock, nonblockChild: boolean): Attempt {
    if (!s.listener) return fail('EINVAL')
    const tcb = s.listener.listener.accept()
    if (tcb) {
      const c = this.newSock(nonblockChild)
      c.tcb = tcb
      c.ss = 'connected'
      c.bindPort = tcb.tuple.localPort
      c.reuseaddr = s.reuseaddr
      c.cfg = { ...s.cfg }
      // Options set on the listening socket after listen() reach the child too (Linux clones the socket).
      if (s.cfg.nagle !== undefined) tcb.config.nagle = s.cfg.nagle
      if (s.cfg.userTimeout !== undefined) tcb.config.userTimeout = s.cfg.userTimeout
      return ok(c.fd)
    }
    return s.nonblock ? fail('EAGAIN') : BLOCK
  }

  private ephemeral(): number {
    while (this.env.stack.portInUse(this.nextPort)) this.nextPort++
    return this.nextPort++
  }

  private connect(s: Sock): Attempt {
    if (s.listener) return fail('EISCONN')
    if (s.ss === 'connected') return fail('EISCONN')
    // Linux: a deferred Fast Open connect (SS_CONNECTING, defer_connect) answers connect() with EISCONN.
    if (s.deferConnect) return fail('EISCONN')
    if (s.ss === 'connecting') {
      const st = s.tcb?.state
      if (st === 'SYN-SENT' || st === 'SYN-RECEIVED') return s.nonblock ? fail('EALREADY') : BLOCK
      return this.connectWait(s)
    }
    let fo: FastOpenClient | undefined
    if (s.tfoConnect) {
      // TCP_FASTOPEN_CONNECT (Linux's tcp_fastopen_defer_connect): with a cookie (or none needed) connect()
      // succeeds at once and the SYN leaves with the first write's data; without, the SYN asks for a cookie.
      fo = this.fastOpenClient(s)
      if (fo.space > 0) {
        s.deferConnect = true
        s.ss = 'connecting'
        return ok()
      }
    }
    this.open(s, fo, 0)
    return s.nonblock ? fail('EINPROGRESS') : BLOCK
  }

  /** The active open: a TCB (with Fast Open: its SYN carries up to `data` bytes, queued first), in the stack. */
  private open(s: Sock, fo: FastOpenClient | undefined, data: number): number {
    const port = s.bindPort ?? this.ephemeral()
    s.bindPort = port
    const tuple = { localAddr: this.env.localIp, localPort: port, remoteAddr: this.env.remoteIp, remotePort: this.env.connectPort }
    const t = Tcb.connect(tuple, this.env.stack.now, this.tcbConfig(s, false), undefined, fo)
    const n = fo && data > 0 ? t.send(new Uint8Array(Math.min(data, fo.space))) : 0
    s.tcb = t
    s.errTaken = false
    s.ss = 'connecting'
    s.deferConnect = false
    this.env.stack.add(t)
    return n
  }

  /** A Fast Open for this socket's connection, from the stack's cookie cache (fastopen.ts). */
  private fastOpenClient(s: Sock): FastOpenClient {
    const c = this.tcbConfig(s, false)
    const mode = (c.fastOpen ?? 0) | (s.tfoNoCookie ? TFO_CLIENT_NO_COOKIE : 0)
    return new FastOpenClient(this.env.stack.fastOpenCache, this.env.remoteIp, mode, c.mss ?? 1460)
  }

  /**
   * sendto(MSG_FASTOPEN), or a write after a deferred connect (Linux's tcp_sendmsg_fastopen): on an
   * unconnected socket the SYN carries the data (with a cookie) and the call returns what it carried, or
   * EINPROGRESS; blocking, it waits for the handshake and sends the rest. A connection in progress gives
   * EALREADY, a connected socket EISCONN; once established MSG_FASTOPEN changes nothing. Undefined: go on
   * as a plain write.
   */
  private fastOpenWrite(s: Sock, len: number, nb: boolean, st: { done: number; nullBuf: boolean; tfo?: boolean; unspec?: boolean }): Attempt | undefined {
    if (!((this.env.settings.tcp.fastOpen ?? 0) & TFO_CLIENT_ENABLE) || st.unspec) return fail('EOPNOTSUPP')
    if (s.listener) return fail('EISCONN')
    if (s.ss === 'unconnected' || s.deferConnect) {
      if (s.tcb) return fail('EISCONN')
      st.tfo = true
      // A NULL buffer: the copy into the SYN fails, so it goes without data (Linux's tcp_send_syn_data falls
      // back to a plain SYN) and the call reports EINPROGRESS, or EFAULT once a blocking one has connected.
      st.done = this.open(s, this.fastOpenClient(s), st.nullBuf ? 0 : len)
      if (!nb) {
        // Linux's inet_wait_for_connect counts a pending write only when data is left after the SYN's.
        if (st.done < len) s.tcb!.writePending = true
        return BLOCK
      }
      return st.done > 0 ? ok(st.done) : fail('EINPROGRESS')
    }
    if (s.ss === 'connected') return fail('EISCONN')
    const state = s.tcb?.state
    if (state === 'SYN-SENT' || state === 'SYN-RECEIVED') {
      if (nb) return fail('EALREADY')
      s.tcb!.writePending = true
      return BLOCK
    }
    return undefined
  }

  /** A connect in progress: still connecting (block), connected (0), or failed (its error, once). */
  private connectWait(s: Sock): Attempt {
    const st = s.tcb!.state
    if (st === 'SYN-SENT' || st === 'SYN-RECEIVED') return BLOCK
    if (st === 'CLOSED') {
      s.ss = 'unconnected'
      return fail(this.takeError(s) ?? 'ECONNABORTED')
    }
    s.ss = 'connected'
    return ok()
  }

  /** sock_error(): the pending error's name, cleared. */
  private takeError(s: Sock): string | undefined {
    const icmp = s.tcb ? this.env.stack.icmpErrors.get(s.tcb) : undefined
    if (icmp && !s.errTaken) {
      s.errTaken = true
      return icmp
    }
    if (!s.tcb?.error || s.errTaken) return undefined
    s.errTaken = true
    // tcp_reset: sk_err is EPIPE for a RST in CLOSE-WAIT, ECONNRESET in the other synchronized states.
    if (s.tcb.error.code === 'ECONNRESET' && s.lastState === 'CLOSE-WAIT') return 'EPIPE'
    return s.tcb.error.code
  }

  private pendingError(s: Sock): boolean {
    return (s.tcb?.error !== undefined || (s.tcb !== undefined && this.env.stack.icmpErrors.has(s.tcb))) && !s.errTaken
  }

  /** A read; with MSG_WAITALL on a blocking socket it waits for all `len` bytes (or EOF, an error). */
  private readAll(s: Sock, len: number, flags: number, st: { done: number; nullBuf: boolean }): Attempt {
    if (!(flags & MSG_WAITALL) || flags & MSG_PEEK) return this.read(s, len, flags, st.nullBuf)
    const r = this.read(s, len - st.done, flags, st.nullBuf)
    if (r === BLOCK) return BLOCK
    if (r.ret < 0) return st.done > 0 ? ok(st.done) : r
    if (r.ret === 0) return ok(st.done)
    st.done += r.ret
    return st.done === len || s.nonblock || flags & MSG_DONTWAIT ? ok(st.done) : BLOCK
  }

  /**
   * tcp_recvmsg's order: data, then EOF, the pending error, shutdown, not connected, then wait. With a NULL
   * buffer the copy of queued data fails: EFAULT, and the data stays queued.
   */
  private read(s: Sock, len: number, flags: number, nullBuf = false): Attempt {
    if (s.listener) return fail('ENOTCONN')
    const t = s.tcb
    // A deferred Fast Open connect is in SYN-SENT for Linux: a read waits.
    if (!t && s.deferConnect) return s.nonblock || flags & MSG_DONTWAIT ? fail('EAGAIN') : BLOCK
    if (!t) return s.rdShut ? ok(0) : fail('ENOTCONN')
    // Urgent data (Linux's tcp_recvmsg): a read stops at the urgent mark; without SO_OOBINLINE the urgent
    // byte itself is skipped (recv(MSG_OOB) returns it instead).
    let max = len
    const upto = t.urgentPending - 1
    if (upto === 0 && !s.oobinline && t.readable > 0 && !(flags & MSG_PEEK)) {
      t.consume(1)
      this.env.stack.pump()
    } else if (upto > 0) max = Math.min(max, upto)
    if (t.readable > 0 && len > 0) {
      if (nullBuf) return fail('EFAULT')
      if (flags & MSG_PEEK) return ok(t.peek(max).length)
      const got = t.recv(max).length
      this.env.stack.pump() // a read may open the window: the update leaves now
      return ok(got)
    }
    if (len === 0) return ok(0)
    if (t.eof) return ok(0)
    const err = this.takeError(s)
    if (err) return fail(err)
    if (s.rdShut || t.state === 'CLOSED') return ok(0)
    const nb = s.nonblock || (flags & MSG_DONTWAIT) !== 0
    return nb ? fail('EAGAIN') : BLOCK
  }

  /**
   * recv(MSG_OOB), Linux's tcp_recv_urg: the urgent byte once (EINVAL with SO_OOBINLINE, with no urgent
   * data, or once read), EAGAIN while it has not arrived; it never blocks.
   */
  private readOob(s: Sock, len: number, flags: number): Attempt {
    const t = s.tcb
    if (s.oobinline || !t || t.rcvUp === undefined || s.oobReadAt === t.rcvUp) return fail('EINVAL')
    if (t.state === 'CLOSED' && !t.finReceived) return fail('ENOTCONN')
    if (seqLe(t.rcvUp, t.rcvNxt)) {
      if (!(flags & MSG_PEEK)) s.oobReadAt = t.rcvUp
      return ok(len > 0 ? 1 : 0)
    }
    if (t.state === 'CLOSED' || s.rdShut) return ok(0)
    return fail('EAGAIN')
  }

  /**
   * tcp_sendmsg's order: wait for the connection, the pending error or EPIPE, then copy (blocking for room).
   * A NULL buffer fails the copy (EFAULT) and queues nothing.
   */
  private write(s: Sock, len: number, flags: number, st: { done: number; nullBuf: boolean; tfo?: boolean; unspec?: boolean }): Attempt {
    const nb = s.nonblock || (flags & MSG_DONTWAIT) !== 0
    if ((flags & MSG_FASTOPEN || s.deferConnect) && !st.tfo) {
      const r = this.fastOpenWrite(s, len, nb, st)
      if (r !== undefined) return r
    }
    const t = s.tcb
    const state = t?.state
    if (s.ss === 'connecting' && state !== undefined && state !== 'SYN-SENT' && state !== 'SYN-RECEIVED' && state !== 'CLOSED') s.ss = 'connected'
    // A Fast Open child writes before its handshake ends (RFC 7413 §4.2.2; Linux's tcp_passive_fastopen).
    if (state === 'SYN-RECEIVED' && t!.fastOpenPassive) return this.writeNow(t!, len, flags, nb, st)
    if (state !== 'ESTABLISHED' && state !== 'CLOSE-WAIT') {
      const err = this.takeError(s)
      if (err) return fail(err)
      if (state !== 'SYN-SENT' && state !== 'SYN-RECEIVED') return st.done > 0 ? ok(st.done) : fail('EPIPE')
      if (nb) return fail('EAGAIN')
      // Linux's sk_stream_wait_connect counts a pending write (a Fast Open's only with data left after the SYN's).
      if (!(st.tfo && st.done >= len)) t!.writePending = true
      return BLOCK
    }
    if (this.pendingError(s) || s.wrShut) {
      if (st.done > 0) return ok(st.done)
      return fail(this.takeError(s) ?? 'EPIPE')
    }
    return this.writeNow(t!, len, flags, nb, st)
  }

  /** The copy into the send buffer (blocking for room). */
  private writeNow(t: Tcb, len: number, flags: number, nb: boolean, st: { done: number; nullBuf: boolean }): Attempt {
    if (st.nullBuf && len > st.done) return st.done > 0 ? ok(st.done) : fail('EFAULT')
    let n: number
    try {
      n = t.send(new Uint8Array(len - st.done), { urgent: (flags & MSG_OOB) !== 0 })
    } catch (e) {
      if (e instanceof TcpUserError) return st.done > 0 ? ok(st.done) : fail(e.code)
      throw e
    }
    st.done += n
    if (n > 0) this.env.stack.pump()
    if (st.done === len) return ok(len)
    if (nb) return st.done > 0 ? ok(st.done) : fail('EAGAIN')
    return BLOCK
  }

  private close(s: Sock): Attempt {
    this.fds.delete(s.fd)
    if (s.listener) {
      this.env.stack.unlisten(s.listener.listener)
      // Linux (inet_csk_listen_stop): connections not yet accepted are reset; half-open ones are dropped.
      for (let t = s.listener.listener.accept(); t; t = s.listener.listener.accept()) t.abort()
      this.env.stack.dropHalfOpen(s.listener.port)
      this.env.stack.pump()
      return ok()
    }
    const t = s.tcb
    if (!t) return ok()
    // Linux's tcp_close: unread data, or SO_LINGER with a zero timeout, sends a RST instead of a FIN
    // (RFC 2525 §2.17); otherwise the FIN follows the queued data and the connection lives on, orphaned.
    if (t.readable > 0 || (s.linger !== undefined && s.linger.onoff !== 0 && s.linger.linger === 0)) t.abort()
    else {
      t.close()
      this.env.stack.orphan(t)
    }
    this.env.stack.pump()
    return ok()
  }

  private shutdown(s: Sock, how: number): Attempt {
    if (how < 0 || how > 2) return fail('EINVAL')
    const t = s.tcb
    if (s.listener) return ok()
    if (how === 0 || how === 2) s.rdShut = true
    if (!t || t.state === 'CLOSED') return fail('ENOTCONN')
    if (s.rdShut) this.env.stack.rcvShutdown.add(t)
    if (how === 1 || how === 2) {
      s.wrShut = true
      if (t.state === 'SYN-SENT') t.abort()
      else t.close()
      this.env.stack.pump()
    }
    return ok()
  }

  private setsockopt(s: Sock, level: number, name: number, v: Expr | undefined, optName: string, optlen?: Expr): Attempt {
    const val = (): number => {
      const x = v ? intOf(v) : undefined
      if (x === undefined) throw new Unsupported(`setsockopt ${optName}: cannot evaluate the option value on the tcplab target`)
      return x
    }
    const t = s.tcb
    const live = (f: (c: TcpConfig) => void): void => {
      if (t) f(t.config)
    }
    const preConnect = (what: string): void => {
      if (t) throw new Unsupported(`setsockopt ${what} after the connection exists (tcplab sizes it when the TCB is made)`)
    }
    if (level === SOL_SOCKET) {
      switch (name) {
        case SO.REUSEADDR:
        case SO.REUSEPORT:
          s.reuseaddr = val() !== 0
          return ok()
        case SO.LINGER: {
          if (v?.kind !== 'struct') throw new Unsupported('setsockopt SO_LINGER: the value must be a {onoff=…, linger=…} struct')
          const f = structInts(v)
          s.linger = { onoff: f.get('onoff') ?? f.get('l_onoff') ?? 0, linger: f.get('linger') ?? f.get('l_linger') ?? 0 }
          return ok()
        }
        case SO.RCVBUF:
          preConnect('SO_RCVBUF')
          // Linux doubles the value for its bookkeeping (sk_rcvbuf) and advertises half of that: the value.
          s.cfg.rcvBuf = linuxRcvSpace(Math.max(val(), 1152) * 2)
          return ok()
        case SO.SNDBUF:
          s.cfg.sndBuf = Math.max(val(), 2304) * 2
          // On an open connection the TCB's buffer is resized (queued data kept), as Linux's sk_sndbuf changes.
          t?.setSendBuffer(s.cfg.sndBuf)
          return ok()
        case SO.OOBINLINE:
          s.oobinline = val() !== 0
          return ok()
        case SO.KEEPALIVE:
          if (val() === 0) return ok()
          throw new Unsupported('setsockopt SO_KEEPALIVE: tcplab has no keepalive')
        default:
          throw new Unsupported(`setsockopt ${optName}: not supported on the tcplab target`)
      }
    }
    if (level === IPPROTO_TCP) {
      switch (name) {
        case TCPO.NODELAY: {
          const on = val() !== 0
          s.cfg.nagle = !on
          live((c) => (c.nagle = !on))
          if (t) this.env.stack.pump() // Linux pushes what Nagle held back
          return ok()
        }
        case TCPO.USER_TIMEOUT: {
          const ms = val()
          if (ms < 0) return fail('EINVAL')
          s.cfg.userTimeout = ms * 1000
          live((c) => (c.userTimeout = ms * 1000))
          return ok()
        }
        case TCPO.MAXSEG: {
          const mss = val()
          if (mss < 88 || mss > 32767) return fail('EINVAL')
          preConnect('TCP_MAXSEG')
          s.cfg.mss = mss
          return ok()
        }
        case TCPO.CORK:
          if (val() === 0) return ok()
          throw new Unsupported('setsockopt TCP_CORK: tcplab has no corking')
        case TCPO.INQ:
          s.inq = val() !== 0
          return ok()
        case TCPO.FASTOPEN: {
          // Linux: the Fast Open queue of a listener (fastopen_queue_tune), in CLOSE or LISTEN only.
          const qlen = val()
          if (t) return fail('EINVAL')
          s.tfoQueue = Math.max(0, Math.min(qlen, 4096))
          if (s.listener) s.listener.listener.fastOpenQueue = s.tfoQueue
          return ok()
        }
        case TCPO.FASTOPEN_CONNECT:
        case TCPO.FASTOPEN_NO_COOKIE: {
          const on = val()
          if (on < 0 || on > 1) return fail('EINVAL')
          if (name === TCPO.FASTOPEN_NO_COOKIE) {
            s.tfoNoCookie = on === 1
            return ok()
          }
          if (!((this.env.settings.tcp.fastOpen ?? 0) & TFO_CLIENT_ENABLE)) return fail('EOPNOTSUPP')
          if (t || s.listener) return fail('EINVAL')
          s.tfoConnect = on === 1
          return ok()
        }
        case TCPO.FASTOPEN_KEY: {
          // The key's bytes as they are (Linux: 16 bytes, or 32 with a backup key).
          const len = optlen ? intOf(optlen) : undefined
          const bytes = v?.kind === 'string' ? unescapeBytes(v.value) : undefined
          if (bytes === undefined || len === undefined) throw new Unsupported(`setsockopt ${optName}: the key must be a "\\x.." string and a length on the tcplab target`)
          if ((len !== 16 && len !== 32) || bytes.length < len) return fail('EINVAL')
          s.tfoKeys = len === 16 ? [bytes.slice(0, 16)] : [bytes.slice(0, 16), bytes.slice(16, 32)]
          if (s.listener) s.listener.listener.fastOpenKeys = s.tfoKeys
          return ok()
        }
        case TCPO.QUICKACK: {
          // Tcb.setQuickAck: 0 enters ping-pong mode (ACKs wait to ride on data), 1 leaves it and sends an ACK
          // being delayed ('rfc' has no quick-ACK mode: 0 is what it does). Before there is a connection the
          // option would have to reach the TCB a listener or connect creates, which tcplab does not carry.
          const on = val()
          if (t) {
            t.setQuickAck(on !== 0)
            this.env.stack.pump()
            return ok()
          }
          if (on === 0 && this.env.settings.tcp.profile !== 'linux') return ok()
          throw new Unsupported(`setsockopt TCP_QUICKACK=${on} before the socket is connected: tcplab has no setting that carries it to the connection`)
        }
        default:
          throw new Unsupported(`setsockopt ${optName}: not supported on the tcplab target`)
      }
    }
    throw new Unsupported(`setsockopt ${optName} (level ${level}): not supported on the tcplab target`)
  }

  private getsockopt(s: Sock, level: number, name: number, optName: string): Omit<SyscallResult, 'endTime'> {
    const c = s.tcb?.config ?? { ...this.env.settings.tcp, ...s.cfg }
    if (level === SOL_SOCKET) {
      switch (name) {
        case SO.ERROR: {
          // sock_getsockopt: the error, else the soft error (an ICMP's on a live connection), each read once.
          let e = this.takeError(s)
          if (e === undefined && s.tcb && this.env.stack.icmpSoftErrors.has(s.tcb)) {
            e = this.env.stack.icmpSoftErrors.get(s.tcb)
            this.env.stack.icmpSoftErrors.delete(s.tcb)
          }
          return { ret: 0, optval: e ? (errnoNumber(e) ?? 0) : 0 }
        }
        case SO.REUSEADDR:
          return { ret: 0, optval: s.reuseaddr ? 1 : 0 }
        case SO.TYPE:
          return { ret: 0, optval: SOCK_STREAM }
        case SO.RCVBUF:
          // sk_rcvbuf, which Linux reports: twice the space it advertises (linuxRcvSpace).
          return { ret: 0, optval: (c.rcvBuf ?? 0) * 2 }
        case SO.SNDBUF:
          return { ret: 0, optval: c.sndBuf ?? 0 }
        case SO.OOBINLINE:
          return { ret: 0, optval: s.oobinline ? 1 : 0 }
        default:
          throw new Unsupported(`getsockopt ${optName}: not supported on the tcplab target`)
      }
    }
    if (level === IPPROTO_TCP) {
      switch (name) {
        case TCPO.NODELAY:
          return { ret: 0, optval: c.nagle === false ? 1 : 0 }
        case TCPO.MAXSEG:
          return { ret: 0, optval: s.tcb && s.tcb.state !== 'SYN-SENT' ? s.tcb.effMss : (c.mss ?? 536) }
        case TCPO.USER_TIMEOUT:
          return { ret: 0, optval: Math.floor((c.userTimeout ?? 0) / 1000) }
        case TCPO.INQ:
          return { ret: 0, optval: s.inq ? 1 : 0 }
        case TCPO.QUICKACK:
          // Linux: inet_csk_in_quickack_mode, whether the next ACK goes out at once.
          return { ret: 0, optval: s.tcb?.quickAckMode ? 1 : 0 }
        case TCPO.INFO:
          // The engine does not compare tcp_info's fields (neither does the kernel target): the call succeeds.
          return { ret: 0 }
        default:
          throw new Unsupported(`getsockopt ${optName}: not supported on the tcplab target`)
      }
    }
    throw new Unsupported(`getsockopt ${optName} (level ${level}): not supported on the tcplab target`)
  }

  /** tcp_poll's mask for one fd, filtered by the events asked (POLLERR and POLLHUP always count). */
  private pollMask(fd: number, events: number): number {
    const s = this.fds.get(fd)
    if (!s) return fd < 0 ? 0 : POLLNVAL
    let m = 0
    if (s.listener) {
      if (s.listener.listener.pending > 0) m |= POLLIN | POLLRDNORM
    } else {
      const t = s.tcb
      const state = t?.state ?? 'CLOSED'
      const closedOrReset = state === 'CLOSED'
      const rcvShut = s.rdShut || (t !== undefined && (t.finReceived || closedOrReset))
      const sndShut = s.wrShut || (t !== undefined && closedOrReset)
      if ((rcvShut && sndShut) || state === 'CLOSED') m |= POLLHUP
      if (rcvShut) m |= POLLIN | POLLRDNORM | POLLRDHUP
      if (state !== 'SYN-SENT' && state !== 'SYN-RECEIVED' && t) {
        if (t.readable > 0) m |= POLLIN | POLLRDNORM
        if (!sndShut) {
          if (t.writable > 0 && (state === 'ESTABLISHED' || state === 'CLOSE-WAIT')) m |= POLLOUT | POLLWRNORM
        } else m |= POLLOUT | POLLWRNORM
      }
      if (this.pendingError(s)) m |= POLLERR
    }
    return m & (events | POLLERR | POLLHUP | POLLNVAL)
  }
}

/** A script string's bytes: `\xHH` escapes and plain characters. */
function unescapeBytes(text: string): Uint8Array {
  const out: number[] = []
  for (let i = 0; i < text.length; i++) {
    const m = /^\\x([0-9a-fA-F]{2})/.exec(text.slice(i))
    if (m) {
      out.push(parseInt(m[1]!, 16))
      i += 3
    } else out.push(text.charCodeAt(i) & 0xff)
  }
  return Uint8Array.from(out)
}

/** A flag the target does not honour makes the call unsupported, named. */
function checkFlags(call: string, flags: number, allowed: number): void {
  const extra = flags & ~allowed
  if (extra === 0) return
  const names = FLAG_NAMES.filter(([b]) => extra & b).map(([, n]) => n)
  throw new Unsupported(`${call}: ${names.length > 0 ? names.join('|') : `flags 0x${extra.toString(16)}`} on the tcplab target`)
}

/** An integer argument: numbers, Linux's symbols and errno names, `A|B`, `[n]` (symbols.ts's evalInt). */
const intOf = evalInt

/** What a recvmsg's msghdr asks for: the room in msg_iov, the msg_flags and the integer cmsgs it expects back. */
function recvMsgWant(msg: Expr | undefined): { len: number; flags: number | undefined; cmsgs: WantCmsg[] | undefined } {
  const m = readingAs(() => parseMsghdr('recvmsg', msg), Unsupported)
  if (m.cmsgs?.some((c) => c.data === undefined)) throw new Unsupported('recvmsg: error-queue and timestamp control messages on the tcplab target')
  return { len: m.iov.reduce((n, x) => n + x, 0), flags: m.flags, cmsgs: m.cmsgs }
}

/** The payload length of a sendmsg's msg_iov; its control messages (cmsgs) are beyond this target. */
function msgIovTotal(name: string, msg: Expr | undefined): number {
  const m = readingAs(() => parseMsghdr(name, msg), Unsupported)
  if (m.cmsgs !== undefined) throw new Unsupported(`${name}: control messages (msg_control) on the tcplab target`)
  return m.iov.reduce((n, x) => n + x, 0)
}


/** A struct value's `name=value` fields, the values evaluated with Linux's symbols (TCP_ESTABLISHED…). */
function structFields(s: Extract<Expr, { kind: 'struct' }>): Map<string, number> {
  const m = new Map<string, number>()
  for (const f of s.items) {
    if (f.kind !== 'assign' || f.target.kind !== 'word') continue
    const v = intOf(f.value)
    if (v === undefined) throw new Unsupported(`getsockopt: cannot evaluate ${f.target.name} on the tcplab target`)
    m.set(f.target.name, v)
  }
  return m
}

/** The total length of a written-out iovec array ([{..., 100}, {..., 200}]). */
function iovTotal(name: string, iov: Expr | undefined): number {
  return readingAs(() => iovLengths(name, iov), Unsupported).reduce((n, x) => n + x, 0)
}
