/**
 * The kernel target: a script's packets go through a TUN device and its system calls are made for real on
 * the Linux kernel, inside the throwaway network namespace the child (child.ts) runs in. Time is the
 * monotonic clock in µs; outbound packets are stamped when read from the TUN; calls that may block run on
 * the libuv threadpool, so the event loop keeps reading packets while they wait.
 */
import { spawn, execFileSync } from 'node:child_process'
import { isIP } from 'node:net'
import type { Expr } from '../ast.js'
import type { LiveConnection, OutboundPacket, SyscallCall, SyscallResult, Target } from '../target.js'
import { evalInt } from '../symbols.js'
import { buildTcpPacket } from '../../net/packet.js'
import { parseIp } from '../../net/addr.js'
import type { Seq } from '../../tcp/seq.js'
import { linuxSymbol, LINUX, sockAddr, type KernelSys, type SysResult, type TimedSysResult, type SysOp, type SysOpArgs } from './sys.js'

/** Where the target's TUN lives and what the script's addresses are (all already defaulted). */
export interface KernelTargetOptions {
  ipVersion: 'ipv4' | 'ipv6'
  localIp: string
  remoteIp: string
  gatewayIp: string
  /** IPv4 netmask (dotted) or IPv6 prefix mask; the local address's prefix length. */
  netmaskIp: string
  mtu: number
  bindPort: number
  connectPort: number
  /** How long a call the script does not expect to block may take before it is reported as blocked (µs). */
  toleranceUsecs: number
  /** TUN device name (default tun0). */
  tunName?: string
}

/** packetdrill-style defaults of the TUN network, per IP version (README of test/scripts). */
export const KERNEL_DEFAULTS = {
  ipv4: { localIp: '198.18.0.1', remoteIp: '198.19.2.1', gatewayIp: '198.18.0.2', netmaskIp: '255.255.255.0', mtu: 1500 },
  ipv6: { localIp: '2001:2::1', remoteIp: '2001:2:0:2::1', gatewayIp: '2001:2::2', netmaskIp: 'ffff:ffff:ffff:ffff::', mtu: 1520 },
} as const

/** Calls that may block: made on the threadpool (bounded by the tolerance when the script expects no block). */
const MAY_BLOCK = new Set(['accept', 'accept4', 'connect', 'read', 'readv', 'recv', 'recvfrom', 'recvmsg', 'write', 'writev', 'send', 'sendto', 'sendmsg', 'poll', 'epoll_wait', 'close'])

/** The prefix length of a netmask (255.255.255.0 → 24, ffff:ffff:ffff:ffff:: → 64). */
export function prefixLength(mask: string): number {
  let n = 0
  for (const b of parseIp(mask)) {
    let x = b
    while (x & 0x80) {
      n++
      x = (x << 1) & 0xff
    }
    if (x !== 0 || b !== 0xff) break
  }
  return n
}

class Unsupported extends Error {}

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] })
}

/** A Target over real syscalls and a TUN device; create with {@link openKernelTarget} inside the namespace. */
export class KernelTarget implements Target {
  private readonly queue: OutboundPacket[] = []
  private wake?: () => void
  private readonly buf = new Uint8Array(65536)
  private readonly stamp = new BigUint64Array(1)
  private readonly watch: ReturnType<KernelSys['native']['tunWatch']>
  private closed = false

  constructor(
    private readonly sys: KernelSys,
    private readonly tun: number,
    private readonly opts: KernelTargetOptions,
  ) {
    this.watch = sys.native.tunWatch(tun, () => this.drain())
  }

  private drain(): void {
    for (;;) {
      const n = this.sys.native.tunRead(this.tun, this.buf, this.stamp)
      if (n <= 0) break
      this.queue.push({ bytes: this.buf.slice(0, n), time: Number(this.stamp[0]! / 1000n) })
    }
    const w = this.wake
    this.wake = undefined
    w?.()
  }

  now(): number {
    return Number(this.sys.native.monotonicNs() / 1000n)
  }

  async waitUntil(t: number): Promise<void> {
    // Sleep on a timer until ~1 ms before, then yield with setImmediate (packets keep being read) until t.
    for (;;) {
      const left = t - this.now()
      if (left <= 0) return
      if (left > 1500) await new Promise<void>((r) => setTimeout(r, Math.floor((left - 1000) / 1000)))
      else await new Promise<void>((r) => setImmediate(r))
    }
  }

  async inject(bytes: Uint8Array): Promise<void> {
    const n = this.sys.native.tunWrite(this.tun, bytes, bytes.length)
    if (n < 0) throw new Error(`writing a packet to the TUN device failed (errno ${-n})`)
  }

  async nextOutbound(deadline: number): Promise<OutboundPacket | null> {
    for (;;) {
      this.drain()
      const p = this.queue.shift()
      if (p) return p
      const left = deadline - this.now()
      if (left <= 0) return null
      await new Promise<void>((resolve) => {
        const timer = Number.isFinite(left) ? setTimeout(() => resolve(), Math.ceil(left / 1000)) : undefined
        this.wake = () => {
          if (timer) clearTimeout(timer)
          resolve()
        }
      })
      this.wake = undefined
    }
  }

  async syscall(call: SyscallCall): Promise<SyscallResult> {
    let op: { op: SysOp; args: unknown[]; post?: (r: SysResult) => Partial<SyscallResult> }
    try {
      op = this.translate(call)
    } catch (e) {
      if (e instanceof Unsupported) return { ret: -1, unsupported: e.message, endTime: this.now() }
      throw e
    }
    const may = MAY_BLOCK.has(call.name) && !(call.name === 'poll' && op.args[1] === 0) && !(call.name === 'epoll_wait' && op.args[2] === 0)
    if (!may || (!call.blocking && this.cannotBlock(call.name, op.args))) {
      const r = this.sys.call(op.op, op.args as SysOpArgs[SysOp])
      return this.result(r, op.post, this.now())
    }
    let done = 0
    if (!call.blocking && (op.op === 'write' || op.op === 'send')) {
      // Try without blocking first: a write that fits returns exactly what the blocking call would, at once.
      const data = op.args[1] as Uint8Array
      const flags = op.op === 'send' ? (op.args[2] as number) : 0
      const r = this.sys.send(op.args[0] as number, data, flags | LINUX.MSG_DONTWAIT)
      if (r.ret === data.length || (r.ret < 0 && r.errnoName !== 'EAGAIN' && r.errnoName !== 'ENOTSOCK')) return this.result(r, op.post, this.now())
      if (r.ret > 0) {
        done = r.ret
        op = { ...op, args: [op.args[0], data.subarray(r.ret), ...op.args.slice(2)] }
      }
    }
    const p = this.sys.callAsync(op.op, op.args as SysOpArgs[SysOp]).then((r) => (done > 0 ? Object.assign(r, { ret: r.ret < 0 ? done : r.ret + done, errno: r.ret < 0 ? 0 : r.errno, errnoName: r.ret < 0 ? undefined : r.errnoName }) : r))
    if (call.blocking) {
      const r = await p
      return this.result(r, op.post, Number(r.endNs / 1000n))
    }
    const bound = this.opts.toleranceUsecs + 5000
    let timer: NodeJS.Timeout | undefined
    const r = await Promise.race([p, new Promise<null>((res) => (timer = setTimeout(() => res(null), Math.ceil(bound / 1000))))])
    clearTimeout(timer)
    if (r === null) return { ret: -1, stillBlocked: true, endTime: this.now() }
    return this.result(r, op.post, Number((r as TimedSysResult).endNs / 1000n))
  }

  /**
   * Whether a call the script expects not to block surely returns at once, so it can be made on this thread
   * without the threadpool's round trip: a non-blocking fd or MSG_DONTWAIT, a readable fd for reads and
   * accept, close without a lingering timeout.
   */
  private cannotBlock(name: string, args: unknown[]): boolean {
    const fd = args[0]
    if (typeof fd !== 'number') return false
    const fl = this.sys.fcntl(fd, LINUX.F_GETFL)
    if (fl.ret >= 0 && fl.ret & LINUX.O_NONBLOCK) return true
    const flagsAt = name === 'send' || name === 'sendto' ? 2 : name === 'recv' || name === 'recvfrom' ? 2 : -1
    if (flagsAt >= 0 && typeof args[flagsAt] === 'number' && (args[flagsAt] as number) & LINUX.MSG_DONTWAIT) return true
    if (name === 'read' || name === 'readv' || name === 'recv' || name === 'recvfrom' || name === 'accept') {
      const p = this.sys.poll([{ fd, events: LINUX.POLLIN }], 0)
      return p.ret > 0
    }
    if (name === 'close') {
      const l = this.sys.getsockopt(fd, LINUX.SOL_SOCKET, LINUX.SO_LINGER)
      return l.ret < 0 || !l.linger || l.linger.onoff === 0 || l.linger.linger === 0
    }
    return false
  }

  private result(r: SysResult, post: ((r: SysResult) => Partial<SyscallResult>) | undefined, endTime: number): SyscallResult {
    return { ret: r.ret, errno: r.ret < 0 ? r.errnoName : undefined, endTime, ...(r.ret >= 0 && post ? post(r) : {}) }
  }

  /** The engine's call as an addon op: fds are already live; `...` means what packetdrill makes of it. */
  private translate(call: SyscallCall): { op: SysOp; args: unknown[]; post?: (r: SysResult) => Partial<SyscallResult> } {
    const a = call.args
    const v6 = this.opts.ipVersion === 'ipv6'
    const int = (i: number, dflt?: number): number => {
      const e = a[i]
      if (e === undefined || e.kind === 'ellipsis') {
        if (dflt !== undefined) return dflt
        throw new Unsupported(`${call.name}: argument ${i + 1} must be a number`)
      }
      const v = intOf(e)
      if (v === undefined) throw new Unsupported(`${call.name}: cannot evaluate argument ${i + 1} on the kernel target`)
      return v
    }
    const bytes = (bufArg: number, lenArg: number): Uint8Array => {
      const len = int(lenArg)
      const out = new Uint8Array(len)
      const e = a[bufArg]
      if (e?.kind === 'string') out.set(new TextEncoder().encode(e.value).subarray(0, len))
      return out
    }
    const addr = (i: number, local: boolean) => {
      const e = a[i]
      if (e === undefined || e.kind === 'ellipsis') {
        return local ? sockAddr(this.opts.localIp, this.opts.bindPort) : sockAddr(this.opts.remoteIp, this.opts.connectPort)
      }
      throw new Unsupported(`${call.name}: only '...' is supported as a socket address on the kernel target`)
    }
    switch (call.name) {
      case 'socket': {
        const first = a[0]
        const domain = first === undefined || first.kind === 'ellipsis' ? (v6 ? LINUX.AF_INET6 : LINUX.AF_INET) : int(0)
        return { op: 'socket', args: [domain, int(1), int(2, 0)] }
      }
      case 'bind':
        return { op: 'bind', args: [int(0), addr(1, true)] }
      case 'connect':
        return { op: 'connect', args: [int(0), addr(1, false)] }
      case 'listen':
        return { op: 'listen', args: [int(0), int(1)] }
      case 'accept':
        return { op: 'accept', args: [int(0), 0] }
      case 'accept4':
        return { op: 'accept', args: [int(0), int(3, 0)] }
      case 'read':
        return { op: 'read', args: [int(0), int(2)] }
      case 'recv':
        return { op: 'recv', args: [int(0), int(2), int(3, 0)] }
      case 'recvfrom':
        return { op: 'recvfrom', args: [int(0), int(2), int(3, 0)] }
      case 'write':
        return { op: 'write', args: [int(0), bytes(1, 2)] }
      case 'send':
        return { op: 'send', args: [int(0), bytes(1, 2), int(3, 0)] }
      case 'sendto':
        return { op: 'sendto', args: [int(0), bytes(1, 2), int(3, 0), null] }
      case 'writev':
      case 'readv': {
        const iov = a[1]
        if (iov?.kind !== 'array') throw new Unsupported(`${call.name}: the iovec array must be written out`)
        const lens = iov.items.map((it) => {
          const last = it.kind === 'struct' ? it.items[it.items.length - 1] : undefined
          const v = last && last.kind !== 'assign' ? intOf(last) : last?.kind === 'assign' ? intOf(last.value) : undefined
          if (v === undefined) throw new Unsupported(`${call.name}: cannot read an iovec length`)
          return v
        })
        return call.name === 'writev' ? { op: 'writev', args: [int(0), lens.map((n) => new Uint8Array(n))] } : { op: 'readv', args: [int(0), lens] }
      }
      case 'close':
        return { op: 'close', args: [int(0)] }
      case 'shutdown':
        return { op: 'shutdown', args: [int(0), int(1)] }
      case 'fcntl':
        return { op: 'fcntl', args: [int(0), int(1), int(2, 0)] }
      case 'ioctl':
        return { op: 'ioctl', args: [int(0), int(1), 0] }
      case 'setsockopt': {
        const v = a[3]
        let value: number | { onoff: number; linger: number } | string
        if (v?.kind === 'struct') {
          const f = fieldsOf(v)
          if (f.has('onoff') || f.has('l_onoff')) value = { onoff: f.get('onoff') ?? f.get('l_onoff') ?? 0, linger: f.get('linger') ?? f.get('l_linger') ?? 0 }
          else throw new Unsupported('setsockopt: this struct option value is not supported on the kernel target')
        } else if (v?.kind === 'string') value = v.value
        else value = int(3)
        const len = a[4] && a[4].kind !== 'ellipsis' ? intOf(a[4]) : undefined
        const args: unknown[] = [int(0), int(1), int(2), value]
        if (len !== undefined && typeof value === 'number' && len !== 4) args.push(len)
        return { op: 'setsockopt', args }
      }
      case 'getsockopt': {
        const v = a[3]
        const isInt = v !== undefined && (v.kind === 'array' || v.kind === 'int' || v.kind === 'word' || v.kind === 'ellipsis')
        return {
          op: 'getsockopt',
          args: [int(0), int(1), int(2)],
          post: (r) => (isInt && v?.kind !== 'ellipsis' && r.value !== undefined ? { optval: r.value } : {}),
        }
      }
      case 'poll': {
        const arr = a[0]
        if (arr?.kind !== 'array') throw new Unsupported('poll: the pollfd array must be written out')
        const fds = arr.items.map((p) => {
          if (p.kind !== 'struct') throw new Unsupported('poll: each pollfd must be a {fd=…, events=…} struct')
          const f = fieldsOf(p)
          return { fd: f.get('fd') ?? -1, events: f.get('events') ?? 0 }
        })
        return { op: 'poll', args: [fds, int(2, -1)], post: (r) => ({ revents: r.revents }) }
      }
      case 'epoll_create':
        return { op: 'epoll_create', args: [int(0, 1)] }
      case 'epoll_create1':
        return { op: 'epoll_create1', args: [int(0, 0)] }
      case 'epoll_ctl': {
        const ev = a[3]
        const f = ev?.kind === 'struct' ? fieldsOf(ev) : new Map<string, number>()
        return { op: 'epoll_ctl', args: [int(0), int(1), int(2), ev?.kind === 'struct' ? { events: f.get('events') ?? 0, data: f.get('fd') ?? f.get('u64') ?? f.get('u32') ?? int(2) } : null] }
      }
      case 'epoll_wait':
        return { op: 'epoll_wait', args: [int(0), int(2), int(3, -1)] }
      default:
        throw new Unsupported(`the kernel target does not support ${call.name}()`)
    }
  }

  async shell(command: string): Promise<{ status: number; output?: string }> {
    return new Promise((resolve) => {
      // PACKETDRILL_PID as packetdrill sets it: scripts' helpers (the kernel tree's set_sysctls.py) name their
      // sysctl restore files after it, and an existing script must find it as under packetdrill.
      const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PACKETDRILL_PID: String(process.pid) } })
      const out: Buffer[] = []
      child.stdout.on('data', (d: Buffer) => out.push(d))
      child.stderr.on('data', (d: Buffer) => out.push(d))
      child.on('error', () => resolve({ status: 127, output: Buffer.concat(out).toString() }))
      child.on('close', (code, signal) => resolve({ status: code ?? (signal ? 128 : 1), output: Buffer.concat(out).toString() }))
    })
  }

  unsupported(what: 'python' | 'udp' | 'icmp' | 'encapsulation'): string | undefined {
    return what === 'python' ? 'the kernel target does not run Python blocks' : undefined
  }

  async close(connections: LiveConnection[]): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const c of connections) {
      // An RST the stack accepts in any synchronized state (seq = RCV.NXT) and in SYN-SENT (acceptable ack).
      const rst = buildTcpPacket(
        { src: parseIp(c.remoteIp), dst: parseIp(c.localIp) },
        { srcPort: c.remotePort, dstPort: c.localPort, seq: (c.rcvNxt >>> 0) as Seq, ack: (c.sndNxt >>> 0) as Seq, flags: 0x14, window: 0, urgent: 0, options: [], payload: new Uint8Array(0) },
      )
      await this.inject(rst)
    }
    this.sys.native.tunUnwatch(this.watch)
    this.sys.call('close', [this.tun])
  }
}

function intOf(e: Expr): number | undefined {
  const v = evalInt(e)
  if (v !== undefined) return v
  if (e.kind === 'word') return linuxSymbol(e.name)
  if (e.kind === 'or') {
    let x = 0
    for (const o of e.operands) {
      const y = intOf(o)
      if (y === undefined) return undefined
      x = (x | y) >>> 0
    }
    return x
  }
  if (e.kind === 'array' && e.items.length === 1) return intOf(e.items[0]!)
  return undefined
}

function fieldsOf(s: Extract<Expr, { kind: 'struct' }>): Map<string, number> {
  const m = new Map<string, number>()
  for (const f of s.items) {
    if (f.kind === 'assign' && f.target.kind === 'word') {
      const v = intOf(f.value)
      if (v !== undefined) m.set(f.target.name, v)
    }
  }
  return m
}

/**
 * Sets up the TUN network in the current namespace (lo up, TUN with the local address, the remote routed
 * through the gateway) and returns the target; the caller must be inside a throwaway namespace.
 */
export function openKernelTarget(sys: KernelSys, opts: KernelTargetOptions): KernelTarget {
  const name = opts.tunName ?? 'tun0'
  const v6 = opts.ipVersion === 'ipv6'
  for (const [what, v] of [['local', opts.localIp], ['remote', opts.remoteIp], ['gateway', opts.gatewayIp]] as const) {
    if (isIP(v) !== (v6 ? 6 : 4)) throw new Error(`the ${what} address ${v} is not an ${v6 ? 'IPv6' : 'IPv4'} address`)
  }
  ip('link', 'set', 'lo', 'up')
  const tun = sys.native.tunOpen(name, opts.mtu)
  const plen = v6 && opts.netmaskIp.includes('.') ? 64 : prefixLength(opts.netmaskIp)
  if (v6) {
    ip('-6', 'addr', 'add', `${opts.localIp}/${plen}`, 'dev', name, 'nodad')
    ip('-6', 'route', 'add', `${opts.remoteIp}/128`, 'via', opts.gatewayIp, 'dev', name)
  } else {
    ip('addr', 'add', `${opts.localIp}/${plen}`, 'dev', name)
    ip('route', 'add', `${opts.remoteIp}/32`, 'via', opts.gatewayIp, 'dev', name)
  }
  return new KernelTarget(sys, tun, opts)
}
