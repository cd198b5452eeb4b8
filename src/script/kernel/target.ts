/**
 * The kernel target: a script's packets go through a TUN device and its system calls are made for real on
 * the Linux kernel, inside the throwaway network namespace the child (child.ts) runs in. Time is the
 * monotonic clock in µs; outbound packets are stamped when read from the TUN; calls that may block run on
 * the libuv threadpool, so the event loop keeps reading packets while they wait.
 */
import { spawn, spawnSync, execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isIP } from 'node:net'
import type { CodeSnapshot, LiveConnection, OutboundPacket, SyscallCall, SyscallResult, Target, UnsupportedKind } from '../target.js'
import { ccInfoVars, memInfoVars, PY_TCP_INFO_LEN, tcpInfoVars } from '../python.js'
import { iovLengths, parseMsghdr, readingAs, recvmsgMismatch } from '../msghdr.js'
import { evalInt, intArg, structInts } from '../symbols.js'
import { buildTcpPacket } from '../../net/packet.js'
import { parseIp } from '../../net/addr.js'
import type { Seq } from '../../tcp/seq.js'
import { LINUX, readTcpInfo, sockAddr, TCP_INFO_MIN_LEN, type KernelSys, type SysResult, type TimedSysResult, type SysOp, type SysOpArgs, type SysSockAddr } from './sys.js'
import type { SysNullPointer } from '../../net/native.js'

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
const MAY_BLOCK = new Set(['accept', 'accept4', 'connect', 'read', 'readv', 'recv', 'recvfrom', 'recvmsg', 'write', 'writev', 'send', 'sendto', 'sendmsg', 'poll', 'epoll_wait', 'close', 'sendfile', 'splice'])

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

/** Whether two addresses of one family share the first `plen` bits. */
export function samePrefix(a: string, b: string, plen: number): boolean {
  const x = parseIp(a)
  const y = parseIp(b)
  if (x.length !== y.length) return false
  for (let i = 0; i < x.length; i++) {
    const bits = Math.max(0, Math.min(8, plen - 8 * i))
    const mask = (0xff00 >> bits) & 0xff
    if ((x[i]! & mask) !== (y[i]! & mask)) return false
  }
  return true
}

/**
 * The gateway for a script's own local address when it names no gateway: the default one when it is on the
 * local address's subnet, else the local address itself, which Linux takes as an on-link gateway (packetdrill's
 * own defaults pair a gateway with the local address the same way: 192.168.0.1 for both).
 */
export function gatewayFor(localIp: string, netmaskIp: string, fallback: string): string {
  const v6 = localIp.includes(':')
  const plen = v6 && netmaskIp.includes('.') ? 64 : prefixLength(netmaskIp)
  return samePrefix(localIp, fallback, plen) ? fallback : localIp
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

  /** CLOCK_REALTIME µs at a time of this target's (monotonic) clock, for stamps the kernel gives in wall time (SO_TIMESTAMPING). */
  realtimeAt(t: number): number {
    return t + Number(this.sys.native.realtimeOffsetNs() / 1000n)
  }

  async waitUntil(t: number): Promise<void> {
    // Sleep on a timer until ~3 ms before, then yield with setImmediate (packets keep being read) until t: a
    // timer on a loaded machine wakes a millisecond or two late, and a packet injected that late shifts every
    // later time of the script (packetdrill spins the last stretch too).
    for (;;) {
      const left = t - this.now()
      if (left <= 0) return
      if (left > 4000) await new Promise<void>((r) => setTimeout(r, Math.floor((left - 3000) / 1000)))
      else await new Promise<void>((r) => setImmediate(r))
    }
  }

  async inject(bytes: Uint8Array, opts?: { gsoSize?: number }): Promise<void> {
    const n = this.sys.native.tunWrite(this.tun, bytes, bytes.length, opts?.gsoSize)
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
    if (!call.blocking && (op.op === 'write' || op.op === 'send') && op.args[1] instanceof Uint8Array) {
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
    if (!call.blocking && op.op === 'sendmsg' && this.connected(op.args[0] as number)) {
      // The same for sendmsg on a connected socket (on another, an address makes it a Fast Open connect, where
      // MSG_DONTWAIT changes the answer): MSG_DONTWAIT first; the rest of a partial send may then block.
      const [fd, msg, flags] = op.args as SysOpArgs['sendmsg']
      const total = msg.iov.reduce((n, b) => n + b.length, 0)
      const r = this.sys.call('sendmsg', [fd, msg, (flags ?? 0) | LINUX.MSG_DONTWAIT])
      if (r.ret === total || (r.ret < 0 && r.errnoName !== 'EAGAIN')) return this.result(r, op.post, this.now())
      if (r.ret > 0) {
        done = r.ret
        let skip = r.ret
        const rest = msg.iov.flatMap((b) => {
          const cut = Math.min(skip, b.length)
          skip -= cut
          return cut === b.length ? [] : [b.subarray(cut)]
        })
        // The address and control messages went with the first part.
        op = { ...op, args: [fd, { iov: rest }, flags] }
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

  /** Whether a TCP socket is connected (ESTABLISHED or CLOSE-WAIT), read from TCP_INFO. */
  private connected(fd: number): boolean {
    const r = this.sys.getsockopt(fd, LINUX.SOL_TCP, LINUX.TCP_INFO)
    const state = r.ret >= 0 && r.bytes ? r.bytes[0] : undefined
    return state === LINUX.TCP_ESTABLISHED || state === LINUX.TCP_CLOSE_WAIT
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
    const flagsAt = ['send', 'sendto', 'sendmsg', 'recv', 'recvfrom', 'recvmsg'].includes(name) ? 2 : -1
    if (flagsAt >= 0 && typeof args[flagsAt] === 'number' && (args[flagsAt] as number) & LINUX.MSG_DONTWAIT) return true
    if (name === 'read' || name === 'readv' || name === 'recv' || name === 'recvfrom' || name === 'recvmsg' || name === 'accept' || name === 'splice') {
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
    const int = (i: number, dflt?: number): number => intArg(call, i, dflt, Unsupported, 'kernel target')
    // packetdrill's buffer argument: `...` (zeroed bytes) or NULL (the kernel sees a NULL pointer).
    const isNull = (i: number): boolean => {
      const e = a[i]
      return e !== undefined && ((e.kind === 'word' && e.name === 'NULL') || (e.kind === 'int' && e.value === 0))
    }
    const readLen = (bufArg: number, lenArg: number): number | SysNullPointer => (isNull(bufArg) ? { nullPointer: int(lenArg) } : int(lenArg))
    const data = (bufArg: number, lenArg: number): Uint8Array | SysNullPointer => (isNull(bufArg) ? { nullPointer: int(lenArg) } : bytes(bufArg, lenArg))
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
        return { op: 'read', args: [int(0), readLen(1, 2)] }
      case 'recv':
        return { op: 'recv', args: [int(0), readLen(1, 2), int(3, 0)] }
      case 'recvfrom':
        return { op: 'recvfrom', args: [int(0), readLen(1, 2), int(3, 0)] }
      case 'write':
        return { op: 'write', args: [int(0), data(1, 2)] }
      case 'send':
        return { op: 'send', args: [int(0), data(1, 2), int(3, 0)] }
      case 'sendto': {
        // packetdrill passes the script's remote address whatever the socket's state (TCP ignores it on a
        // connected socket; Fast Open's sendto connects with it); a family written as a number gives a
        // sockaddr with only that family (AF_UNSPEC: EOPNOTSUPP for MSG_FASTOPEN).
        const at = a[4]
        const to = at === undefined || at.kind === 'ellipsis' ? addr(4, false) : familyOnly(int(4))
        return { op: 'sendto', args: [int(0), data(1, 2), int(3, 0), to] }
      }
      case 'sendmsg':
      case 'recvmsg':
        return this.msg(call, int(0), int(2, 0))
      case 'writev':
      case 'readv': {
        const lens = readingAs(() => iovLengths(call.name, a[1]), Unsupported)
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
          const f = structInts(v)
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
        if (v?.kind === 'struct') {
          // A struct value names the fields to check: {onoff=…, linger=…} for SO_LINGER, {tcpi_state=…, …} for
          // TCP_INFO (fields the script leaves out are not checked).
          const want = structInts(v)
          return { op: 'getsockopt', args: [int(0), int(1), int(2)], post: (r) => ({ mismatch: structMismatch(want, r) }) }
        }
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
          const f = structInts(p)
          return { fd: f.get('fd') ?? -1, events: f.get('events') ?? 0 }
        })
        return { op: 'poll', args: [fds, int(2, -1)], post: (r) => ({ revents: r.revents }) }
      }
      case 'open': {
        const path = a[0]
        if (path?.kind !== 'string') throw new Unsupported('open: the path must be a string')
        return { op: 'open', args: [path.value, int(1), int(2, 0)] }
      }
      case 'sendfile': {
        // sendfile(out, in, [offset], count): the offset in brackets, as packetdrill writes it.
        const off = a[2]
        const offset = off === undefined || (off.kind === 'word' && off.name === 'NULL') ? null : int(2)
        return { op: 'sendfile', args: [int(0), int(1), offset, int(3)] }
      }
      case 'pipe':
        return { op: 'pipe', args: [], post: (r) => ({ fds: r.fds }) }
      case 'splice': {
        if (!isNull(1) || !isNull(3)) throw new Unsupported('splice: only NULL offsets are supported on the kernel target')
        return { op: 'splice', args: [int(0), int(2), int(4), int(5, 0)] }
      }
      case 'epoll_create':
        return { op: 'epoll_create', args: [int(0, 1)] }
      case 'epoll_create1':
        return { op: 'epoll_create1', args: [int(0, 0)] }
      case 'epoll_ctl': {
        const ev = a[3]
        const f = ev?.kind === 'struct' ? structInts(ev) : new Map<string, number>()
        return { op: 'epoll_ctl', args: [int(0), int(1), int(2), ev?.kind === 'struct' ? { events: f.get('events') ?? 0, data: f.get('fd') ?? f.get('u64') ?? f.get('u32') ?? int(2) } : null] }
      }
      case 'epoll_wait':
        return { op: 'epoll_wait', args: [int(0), int(2), int(3, -1)] }
      default:
        throw new Unsupported(`the kernel target does not support ${call.name}()`)
    }
  }

  /**
   * sendmsg/recvmsg with packetdrill's msghdr: `msg_name(...)=...` is the script's remote address, `msg_iov(n)=
   * [{..., len}, …]` zeroed buffers (or room), `msg_control=[{cmsg_level, cmsg_type, cmsg_data=int}, …]` control
   * messages; recvmsg's result is checked against msg_flags and the cmsgs in packetdrill's words.
   */
  private msg(call: SyscallCall, fd: number, flags: number): { op: SysOp; args: unknown[]; post?: (r: SysResult) => Partial<SyscallResult> } {
    const { name, iov, flags: msgFlags, cmsgs } = readingAs(() => parseMsghdr(call.name, call.args[1]), Unsupported)
    const to = name ? sockAddr(this.opts.remoteIp, this.opts.connectPort) : undefined
    if (call.name === 'sendmsg') {
      if (cmsgs?.some((c) => c.ee || c.ts !== undefined)) throw new Unsupported('sendmsg: error-queue and timestamp cmsgs are only something recvmsg returns')
      const out = cmsgs?.map((c) => ({ level: c.level, type: c.type, data: c.data ?? 0 }))
      return { op: 'sendmsg', args: [fd, { iov: iov.map((n) => new Uint8Array(n)), ...(to ? { addr: to } : {}), ...(out ? { cmsgs: out } : {}) }, flags] }
    }
    return {
      op: 'recvmsg',
      args: [fd, { iov, control: cmsgs ? 1024 : 0 }, flags],
      post: (r) => ({
        mismatch: recvmsgMismatch(msgFlags ?? 0, cmsgs ?? [], r.msgFlags ?? 0, r.cmsgs ?? [], { realtimeAt: this.realtimeAt(call.scriptStart ?? 0), tolerance: this.opts.toleranceUsecs }),
      }),
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

  /** packetdrill's snapshot: getsockopt TCP_INFO, TCP_CC_INFO and SO_MEMINFO on the socket under test. */
  async codeSnapshot(fd: number): Promise<CodeSnapshot> {
    const info = this.sys.getsockopt(fd, LINUX.SOL_TCP, LINUX.TCP_INFO, PY_TCP_INFO_LEN)
    if (info.ret < 0 || !info.bytes) return { error: "can't find getsockopt to get TCP info" }
    const cc = this.sys.getsockopt(fd, LINUX.SOL_TCP, LINUX.TCP_CC_INFO, 20)
    if (cc.ret < 0) return { error: "can't find getsockopt to get TCP_CC_INFO" }
    const mem = this.sys.getsockopt(fd, LINUX.SOL_SOCKET, LINUX.SO_MEMINFO, 4 * 9)
    if (mem.ret < 0 || !mem.bytes) return { error: "can't find getsockopt to get sk_meminfo" }
    return { vars: [...tcpInfoVars(info.bytes), ...ccInfoVars(cc.bytes ?? new Uint8Array(0)), ...memInfoVars(mem.bytes)] }
  }

  /** Runs the blocks' program with python3 from a temporary file (tracebacks name a file, as packetdrill's do). */
  async runPython(source: string): Promise<{ status: number; output: string }> {
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-code-'))
    try {
      const path = join(dir, 'code.py')
      writeFileSync(path, source)
      return await new Promise((resolve) => {
        const child = spawn('python3', [path], { stdio: ['ignore', 'pipe', 'pipe'] })
        const out: Buffer[] = []
        child.stdout.on('data', (d: Buffer) => out.push(d))
        child.stderr.on('data', (d: Buffer) => out.push(d))
        child.on('error', (e) => resolve({ status: 127, output: e.message }))
        child.on('close', (code, signal) => resolve({ status: code ?? (signal ? 128 : 1), output: Buffer.concat(out).toString() }))
      })
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }

  unsupported(what: UnsupportedKind): string | undefined {
    if (what === 'python') return hasPython3() ? undefined : 'Python blocks (%{ }%) run with python3, which is not installed (apt-get install python3)'
    return undefined
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

/** A sockaddr with only a family (packetdrill's `AF_UNSPEC` address argument). */
function familyOnly(family: number): SysSockAddr {
  if (family === LINUX.AF_INET) return { family, addr: '0.0.0.0', port: 0 }
  if (family === LINUX.AF_INET6) return { family, addr: '::', port: 0 }
  return { family, addr: '', port: 0 }
}

/** getsockopt's struct answer (a linger, or struct tcp_info by field name) against the fields the script gave. */
function structMismatch(want: Map<string, number>, r: SysResult): string | undefined {
  const info = r.bytes && r.bytes.length >= TCP_INFO_MIN_LEN && r.linger === undefined ? (readTcpInfo(r.bytes) as unknown as Record<string, number | bigint | undefined>) : undefined
  for (const [name, expected] of want) {
    let actual: number | bigint | undefined
    if (r.linger) actual = name === 'onoff' || name === 'l_onoff' ? r.linger.onoff : name === 'linger' || name === 'l_linger' ? r.linger.linger : undefined
    else if (info) actual = info[name]
    if (actual === undefined) return `getsockopt has no field ${name} to compare`
    if (BigInt(actual) !== BigInt(expected >>> 0) && BigInt(actual) !== BigInt(expected)) return `Bad getsockopt ${name}: expected: ${expected} actual: ${actual}`
  }
  return undefined
}

let python3: boolean | undefined
/** Whether `python3` runs here (checked once). */
function hasPython3(): boolean {
  python3 ??= spawnSync('python3', ['-c', ''], { stdio: 'ignore' }).status === 0
  return python3
}

/** An integer argument: numbers, Linux's symbols and errno names, `A|B`, `[n]` (symbols.ts's evalInt). */
const intOf = evalInt

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
