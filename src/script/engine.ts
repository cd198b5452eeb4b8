/**
 * The script engine: runs a parsed packetdrill script against a Target and judges it with packetdrill's
 * semantics (times and tolerance, sequence and timestamp mapping, outbound matching, the fd table) and its
 * messages. The same code judges the kernel (real time) and tcplab's own TCP (virtual time).
 */
import type { Expr, IcmpPacket, IpInfo, PythonBlock, ScriptEvent, Script, SyscallEvent, TcpOptionNode, TcpPacket, TimeSpec } from './ast.js'
import type { LiveConnection, OutboundPacket, SyscallResult, Target, UnsupportedKind } from './target.js'
import { parseIp, formatIp, ipEquals } from '../net/addr.js'
import { buildTcpPacket } from '../net/packet.js'
import { parseIpv4 } from '../net/ipv4.js'
import { parseIpv6 } from '../net/ipv6.js'
import { parseTcp } from '../tcp/segment.js'
import type { TcpOption } from '../tcp/options.js'
import type { Seq } from '../tcp/seq.js'
import { F, formatPacket, secs, secsPadded, secsSigned, type PacketFields } from './notation.js'
import { setIpChecks, verifyHeaders, verifyOptions, verifyPayload } from './match.js'
import { errnoNumber, errnoText } from './errno.js'
import { evalInt, flagsToString, POLL_FLAG_NAMES } from './symbols.js'
import { buildIcmpError, icmpTypeCode } from './icmp.js'
import { pythonErrorLine, pythonErrorSummary, pythonProgram, type PyFragment } from './python.js'

/** The settings a run reads; `tcplab script`'s ScriptConfig fits it. Unset fields take packetdrill's defaults. */
export interface RunConfig {
  stack?: string
  ipVersion?: 'ipv4' | 'ipv6'
  toleranceUsecs?: number
  tolerancePercent?: number
  mss?: number
  localIp?: string
  remoteIp?: string
  bindPort?: number
  connectPort?: number
  strictSegments?: boolean
  nonFatal?: Array<'packet' | 'syscall'>
  tcpTsTickUsecs?: number
  tcpTsEcrScaled?: boolean
}

/** One event as it ran: its line, kind and when it happened (script seconds × 1e6). */
export interface EventRecord {
  kind: string
  line: number
  time: number
  /** Packets: the packet in script notation (the actual one for outbound packets). */
  packet?: string
}

/** A script's verdict: the `--json` object plus the lines packetdrill would print. */
export interface ScriptVerdict {
  script: string
  stack: string
  result: 'pass' | 'fail' | 'error' | 'unsupported'
  line: number | null
  col: number | null
  message: string | null
  events: EventRecord[]
  /** What packetdrill prints: `FILE:LINE: error handling packet: …`, `script packet: …`, `actual packet: …`. */
  text: string[]
  /** Non-fatal mismatches (`--non-fatal`), worded as packetdrill's warnings. */
  warnings: string[]
  /** The tcplab target's TCB profile ('linux' or 'rfc'); absent for the kernel. */
  profile?: string
}

/** packetdrill's defaults: 4 ms, 12.5 % of the gap since the previous event, 2 s for an expected packet. */
export const DEFAULT_TOLERANCE_USECS = 4000
/** The dynamic part of the tolerance rule, in percent. */
export const DEFAULT_TOLERANCE_PERCENT = 12.5
/** How long past an outbound packet's scheduled time the engine waits for it. */
export const OUTBOUND_WAIT_USECS = 2_000_000
/** The README's addresses (local = the stack under test). */
export const DEFAULT_ADDRESSES = {
  ipv4: { local: '198.18.0.1', remote: '198.19.2.1' },
  ipv6: { local: '2001:2::1', remote: '2001:2:0:2::1' },
} as const

/** Why a run stopped early; `kind` picks the verdict. */
class Stop {
  constructor(
    readonly result: 'fail' | 'error' | 'unsupported',
    readonly line: number | null,
    /** The first line packetdrill prints (with FILE:LINE:). */
    readonly head: string,
    /** The message alone, for --json. */
    readonly message: string,
    readonly more: string[] = [],
    /** A mismatch --non-fatal may turn into a warning. */
    readonly nonFatalKind?: 'packet' | 'syscall',
  ) {}
}

type SockState =
  | 'init'
  | 'listening'
  | 'passiveReceived'
  | 'passiveSynackSent'
  | 'activeConnecting'
  | 'activeSynSent'
  | 'activeSynAcked'
  | 'established'

/** The socket under test (packetdrill tests one connection at a time). */
interface Conn {
  state: SockState
  localPort: number
  remotePort: number
  scriptLocalIsn: number
  liveLocalIsn: number
  remoteIsn: number
  tsValMap: Map<number, number>
  firstTs?: { script: number; actual: number }
  lastOut?: { seq: number; ack: number; len: number; flags: number }
  lastIn?: { seq: number; ack: number; len: number; flags: number }
}

interface Timed {
  ev: ScriptEvent
  /** Script µs of the event (start of its range). */
  time: number
  end?: number
  offset: number
  /** Blocking syscalls: script µs of the expected return. */
  blockEnd?: number
}

interface PendingCall {
  timed: Timed
  call: SyscallEvent
  settled?: SyscallResult
  failed?: unknown
  promise: Promise<void>
}

const NEW_FD_CALLS = new Set(['socket', 'accept', 'accept4', 'open', 'epoll_create', 'epoll_create1'])
/** Calls whose first argument is an fd. */
const FD_FIRST = new Set([
  'bind', 'listen', 'accept', 'accept4', 'connect', 'read', 'readv', 'recv', 'recvfrom', 'recvmsg', 'write', 'writev', 'send', 'sendto',
  'sendmsg', 'fcntl', 'ioctl', 'close', 'shutdown', 'getsockopt', 'setsockopt', 'epoll_ctl', 'epoll_wait', 'splice', 'sendfile',
])

/** Runs one parsed script against a target and returns its verdict; never throws for a script's faults. */
export async function runScript(script: Script, target: Target, config: RunConfig = {}): Promise<ScriptVerdict> {
  const run = new Run(script, target, config)
  return run.go()
}

class Run {
  private readonly file: string
  private readonly tolUsecs: number
  private readonly tolPercent: number
  private readonly v6: boolean
  private readonly localIp: Uint8Array
  private readonly remoteIp: Uint8Array
  private readonly bindPort: number
  private readonly connectPort: number
  private readonly strictSegments: boolean
  private readonly tsTick: number
  private readonly tsEcrScaled: boolean
  private readonly nonFatal: Set<string>
  /** packetdrill's --mss: the segment size of inbound data lines longer than it (sent as GRO super-segments). */
  private readonly mss: number | undefined
  private liveStart = 0
  private last?: Timed
  private conn?: Conn
  private readonly fds = new Map<number, number>()
  /**
   * packetdrill's socket under test, as a live fd for Python blocks: the last socket() or accept(); -1 for a
   * connection an inbound packet started and no accept() has taken yet.
   */
  private sutFd?: number
  /** Local ports of connections an earlier socket had: their packets are not the socket under test's. */
  private readonly earlierPorts = new Set<number>()
  /** Python blocks that ran, with their snapshots; run as one program at the end. */
  private readonly code: PyFragment[] = []
  private pending?: PendingCall
  private nextEphemeral = 40000
  private readonly events: EventRecord[] = []
  private readonly warnings: string[] = []
  private readonly text: string[] = []

  constructor(
    private readonly script: Script,
    private readonly target: Target,
    private readonly config: RunConfig,
  ) {
    this.file = script.file
    const opt = new Map(script.options.map((o) => [o.name, o.value]))
    const num = (name: string): number | undefined => {
      const v = opt.get(name)
      return v === undefined ? undefined : Number(v)
    }
    this.tolUsecs = config.toleranceUsecs ?? num('tolerance_usecs') ?? DEFAULT_TOLERANCE_USECS
    this.tolPercent = config.tolerancePercent ?? num('tolerance_percent') ?? DEFAULT_TOLERANCE_PERCENT
    const ipv = config.ipVersion ?? opt.get('ip_version')
    this.v6 = ipv === 'ipv6'
    const defaults = this.v6 ? DEFAULT_ADDRESSES.ipv6 : DEFAULT_ADDRESSES.ipv4
    this.localIp = parseIp(config.localIp ?? opt.get('local_ip') ?? defaults.local)
    this.remoteIp = parseIp(config.remoteIp ?? opt.get('remote_ip') ?? defaults.remote)
    this.bindPort = config.bindPort ?? num('bind_port') ?? 8080
    this.connectPort = config.connectPort ?? num('connect_port') ?? 8080
    this.strictSegments = config.strictSegments === true || opt.has('strict_segments')
    this.tsTick = config.tcpTsTickUsecs ?? num('tcp_ts_tick_usecs') ?? 0
    this.tsEcrScaled = config.tcpTsEcrScaled === true || opt.has('tcp_ts_ecr_scaled')
    this.nonFatal = new Set([...(config.nonFatal ?? []), ...(opt.get('non_fatal')?.split(',') ?? [])])
    this.mss = config.mss ?? num('mss')
  }

  async go(): Promise<ScriptVerdict> {
    const verdict = (result: ScriptVerdict['result'], line: number | null, message: string | null): ScriptVerdict => ({
      script: this.file,
      stack: this.config.stack ?? 'kernel',
      result,
      line,
      col: null,
      message,
      events: this.events,
      text: this.text,
      warnings: this.warnings,
    })
    const early = this.precheck()
    if (early) {
      this.text.push(early.head)
      return verdict(early.result, early.line, early.message)
    }
    let stop: Stop | undefined
    try {
      if (this.script.init) {
        const r = await this.target.shell(this.script.init.command)
        if (r.unsupported) throw new Stop('unsupported', this.script.init.line, `${this.file}:${this.script.init.line}: ${r.unsupported}`, r.unsupported)
        if (r.status !== 0) {
          const m = `error executing init command: non-zero status ${r.status}`
          throw new Stop('error', this.script.init.line, `${this.file}: ${m}`, m)
        }
      }
      this.liveStart = this.target.now()
      for (const ev of this.script.events) {
        await this.checkPending()
        await this.runEvent(ev)
      }
      await this.finishPending()
    } catch (e) {
      if (!(e instanceof Stop)) {
        const m = e instanceof Error ? e.message : String(e)
        stop = new Stop('error', null, `${this.file}: internal error: ${m}`, `internal error: ${m}`)
      } else stop = e
    }
    try {
      await this.target.close(this.liveConnections())
      if (this.script.cleanup && (stop === undefined || stop.result !== 'unsupported')) {
        const r = await this.target.shell(this.script.cleanup.command)
        if (r.status !== 0 && stop === undefined) {
          const m = `error executing cleanup command: non-zero status ${r.status}`
          stop = new Stop('error', this.script.cleanup.line, `${this.file}: ${m}`, m)
        }
      }
    } catch (e) {
      if (stop === undefined) stop = new Stop('error', null, `${this.file}: ${String(e)}`, String(e))
    }
    if (stop === undefined && this.code.length > 0) stop = await this.runCode()
    if (stop) {
      this.text.push(stop.head, ...stop.more)
      return verdict(stop.result, stop.line, stop.message)
    }
    return verdict('pass', null, null)
  }

  /** What neither this engine nor the target can run is reported before anything runs. */
  private precheck(): Stop | undefined {
    let prevAbs: number | undefined
    for (const [i, ev] of this.script.events.entries()) {
      const a = ev.action
      const un = (what: UnsupportedKind, own: string | undefined): Stop | undefined => {
        const why = own ?? this.target.unsupported(what)
        return why === undefined ? undefined : new Stop('unsupported', ev.line, `${this.file}:${ev.line}: unsupported: ${why}`, why)
      }
      let s: Stop | undefined
      if (a.kind === 'python') s = un('python', this.target.codeSnapshot && this.target.runPython ? undefined : 'this target does not run Python blocks (%{ }%)')
      else if (a.kind === 'udp') s = un('udp', 'udp packet lines are not supported by the engine yet')
      else if (a.kind === 'icmp') {
        // Inbound ICMP errors echoing a TCP segment run; what the stack should send, or an echoed UDP or raw
        // payload, needs UDP/raw sockets the engine does not have.
        const tcp = a.echoed === undefined || a.echoed.protocol === 'tcp'
        s = un('icmp', a.direction !== 'inbound' ? 'outbound icmp packet lines are not supported yet' : !tcp ? `icmp lines echoing a ${a.echoed!.protocol} packet are not supported yet` : undefined)
        if (!s && a.encapsulation.length > 0) s = un('encapsulation', 'encapsulated (tunnel) packets are not supported')
      }
      else if (a.kind === 'tcp' && a.encapsulation.length > 0) s = un('encapsulation', 'encapsulated (tunnel) packets are not supported')
      else if (a.kind === 'tcp' && a.options !== 'any' && a.options.some((o) => o.kind === 'fastopen')) s = un('fastopen', undefined)
      if (s) return s
      if (i === 0 && !(ev.time.kind === 'absolute' && ev.time.usecs === 0) && ev.time.kind !== 'relative') {
        const m = 'first event should be at time 0'
        return new Stop('error', ev.line, `${this.file}:${ev.line}: ${m}`, m)
      }
      if (ev.time.kind === 'absolute' || ev.time.kind === 'absoluteRange') {
        if (prevAbs !== undefined && ev.time.usecs < prevAbs) {
          const m = `time goes backward in script from ${prevAbs} usec to ${ev.time.usecs} usec`
          return new Stop('error', ev.line, `${this.file}:${ev.line}: ${m}`, m)
        }
        prevAbs = ev.time.usecs
      } else prevAbs = undefined
    }
    return undefined
  }

  // ---- time ------------------------------------------------------------------------------------------

  private scriptNow(): number {
    return this.target.now() - this.liveStart
  }

  private schedule(ev: ScriptEvent): Timed {
    const t: TimeSpec = ev.time
    const inbound = (e: ScriptEvent): boolean => e.action.kind !== 'syscall' && e.action.kind !== 'shell' && e.action.kind !== 'python' && e.action.direction === 'inbound'
    let offset = 0
    if (t.kind === 'any' || t.kind === 'relative' || t.kind === 'relativeRange') {
      // Consecutive inbound packets are anchored to each other's scheduled times so processing delays do not add
      // up; everything else counts from when the previous event actually finished (packetdrill's rule).
      offset = this.last && inbound(this.last.ev) && inbound(ev) ? this.last.time : this.scriptNow()
    }
    const timed: Timed = { ev, time: 0, offset }
    switch (t.kind) {
      case 'absolute':
        timed.time = t.usecs
        break
      case 'absoluteRange':
        timed.time = t.usecs
        timed.end = t.endUsecs
        break
      case 'relative':
        timed.time = t.usecs + offset
        break
      case 'relativeRange':
        timed.time = t.usecs + offset
        timed.end = t.endUsecs + offset
        break
      case 'any':
        timed.time = offset
        break
    }
    if (ev.action.kind === 'syscall' && ev.action.blockingEndUsecs !== undefined) {
      timed.blockEnd = ev.action.blockingEndUsecs + (t.kind === 'relative' ? offset : 0)
    }
    return timed
  }

  /** The tolerance for an event at `script` µs whose predecessor was at `lastUsecs`. */
  private tolerance(script: number, lastUsecs: number | undefined): number {
    let tol = this.tolUsecs
    if (lastUsecs !== undefined) {
      const dyn = Math.trunc((this.tolPercent / 100) * (script - lastUsecs))
      if (dyn > tol) tol = dyn
    }
    return tol
  }

  /** packetdrill's verify_time: undefined when on time, else its message. */
  private verifyTime(kind: TimeSpec['kind'], time: number, end: number | undefined, offset: number, actual: number, lastUsecs: number | undefined, what: string): string | undefined {
    if (kind === 'any') return undefined
    const tol = this.tolerance(time, lastUsecs)
    if ((kind === 'absoluteRange' || kind === 'relativeRange') && end !== undefined) {
      if (actual >= time - tol && actual <= end + tol) return undefined
      if (kind === 'absoluteRange') return `timing error: expected ${what} in time range ${secs(time)}~${secs(end)} sec but happened at ${secs(actual)} sec`
      return `timing error: expected ${what} in relative time range +${secs(time - offset)}~+${secs(end - offset)} sec but happened at ${secsSigned(actual - offset)} sec`
    }
    if (actual >= time - tol && actual <= time + tol) return undefined
    return `timing error: expected ${what} at ${secs(time)} sec but happened at ${secs(actual)} sec; tolerance ${secs(tol)} sec`
  }

  /** Waits for an event's time, then checks it was not missed (an event that runs late fails, as in packetdrill). */
  private async waitFor(timed: Timed, what: string): Promise<void> {
    await this.target.waitUntil(this.liveStart + timed.time)
    const err = this.verifyTime(timed.ev.time.kind, timed.time, timed.end, timed.offset, this.scriptNow(), this.last?.time, what)
    if (err) throw new Stop('fail', timed.ev.line, `${this.file}:${timed.ev.line}: ${err}`, err)
  }

  // ---- events ----------------------------------------------------------------------------------------

  private async runEvent(ev: ScriptEvent): Promise<void> {
    const timed = this.schedule(ev)
    const a = ev.action
    try {
      if (a.kind === 'tcp') {
        if (a.direction === 'inbound') await this.inbound(timed, a)
        else await this.outbound(timed, a)
      } else if (a.kind === 'icmp') await this.inboundIcmp(timed, a)
      else if (a.kind === 'syscall') await this.syscall(timed, a)
      else if (a.kind === 'python') await this.python(timed, a)
      else if (a.kind === 'shell') {
        await this.waitFor(timed, 'command')
        const r = await this.target.shell(a.command)
        if (r.unsupported) throw new Stop('unsupported', ev.line, `${this.file}:${ev.line}: unsupported: ${r.unsupported}`, r.unsupported)
        this.events.push({ kind: 'shell', line: ev.line, time: this.scriptNow() })
        if (r.status !== 0) {
          const m = `error executing \`${a.command}\` command: non-zero status ${r.status}`
          throw new Stop('error', ev.line, `${this.file}:${ev.line}: ${m}`, m)
        }
      }
    } catch (e) {
      if (e instanceof Stop && e.nonFatalKind && this.nonFatal.has(e.nonFatalKind)) {
        this.warnings.push(e.head.replace(': error handling packet:', ': warning handling packet:'), ...e.more)
      } else {
        // A blocking call that already returned wrongly, before this failure, is what packetdrill reports.
        const earlier = await this.pendingFailure()
        throw earlier ?? e
      }
    }
    this.last = timed
  }

  // ---- Python blocks ---------------------------------------------------------------------------------

  /** A block takes its snapshot of the socket under test at its time; the code itself runs after the script. */
  private async python(timed: Timed, block: PythonBlock): Promise<void> {
    const line = timed.ev.line
    await this.target.waitUntil(this.liveStart + timed.time)
    // A blocking accept() that returned while the block waited gives the block its socket.
    await this.checkPending()
    const err = (m: string): Stop => new Stop('error', line, `${this.file}:${line}: runtime error in code: ${m}`, `runtime error in code: ${m}`)
    if (this.sutFd === undefined) throw err('no socket to use for code')
    const snap = await this.target.codeSnapshot!(this.sutFd)
    if ('unsupported' in snap) throw new Stop('unsupported', line, `${this.file}:${line}: unsupported: ${snap.unsupported}`, snap.unsupported)
    if ('error' in snap) throw err(snap.error)
    this.code.push({ file: this.file, line, code: block.code, vars: snap.vars })
    this.events.push({ kind: 'python', line, time: this.scriptNow() })
  }

  /** Runs every block as one program (after the cleanup command, as packetdrill does); a failure is the verdict. */
  private async runCode(): Promise<Stop | undefined> {
    const r = await this.target.runPython!(pythonProgram(this.code))
    if (r.status === 0) return undefined
    const m = `error executing code: 'python3' returned non-zero status ${r.status}`
    const out = r.output.split('\n').filter((l) => l.length > 0)
    const summary = pythonErrorSummary(r.output)
    const line = pythonErrorLine(r.output) ?? null
    const message = summary ? `${m} (${summary})` : m
    // What packetdrill prints: Python's own lines first, then its one-line verdict.
    const lines = [...out, `${this.file}: ${m}`]
    return new Stop('fail', line, lines[0]!, message, lines.slice(1))
  }

  // ---- packets ---------------------------------------------------------------------------------------

  private packetStop(line: number, err: string, more: string[] = [], nonFatal = false, result: 'fail' | 'error' = 'fail'): Stop {
    return new Stop(result, line, `${this.file}:${line}: error handling packet: ${err}`, err, more, nonFatal ? 'packet' : undefined)
  }

  private async inbound(timed: Timed, p: TcpPacket): Promise<void> {
    const line = timed.ev.line
    if (p.win === undefined) throw this.packetStop(line, 'inbound packets need a window (win N)', [], false, 'error')
    const flags = flagBits(p.flags)
    let c = this.conn
    if (c === undefined || c.state === 'listening') {
      // Any inbound packet at a listener starts the connection under test; its seq is the remote ISN.
      this.sutFd = -1
      c = this.conn = {
        state: 'passiveReceived',
        localPort: this.bindPort,
        remotePort: this.nextEphemeral++,
        scriptLocalIsn: 0,
        liveLocalIsn: 0,
        remoteIsn: p.seq.start >>> 0,
        tsValMap: new Map(),
      }
    } else if (c.state === 'passiveSynackSent' && flags & F.ACK) c.state = 'established'
    else if (c.state === 'activeSynSent' && flags & F.SYN && flags & F.ACK) {
      c.state = 'activeSynAcked'
      c.remoteIsn = p.seq.start >>> 0
    }
    const syn = (flags & F.SYN) !== 0
    const seqOff = syn ? 0 : c.remoteIsn
    const ackOff = syn ? c.liveLocalIsn - c.scriptLocalIsn : c.liveLocalIsn
    const options: TcpOption[] = []
    for (const o of p.options === 'any' ? [] : p.options) {
      const opt = optionFromNode(o)
      if (opt.kind === 'sack') opt.blocks = opt.blocks.map(([l, r]) => [((l + ackOff) >>> 0) as Seq, ((r + ackOff) >>> 0) as Seq])
      if (opt.kind === 'timestamp' && flags & F.ACK) {
        // The script's TS ecr names an outbound TS val in script space; the stack must see the live value.
        const mapped = c.tsValMap.get(opt.echo >>> 0)
        if (mapped !== undefined) opt.echo = mapped
        else if (this.tsEcrScaled && c.firstTs) opt.echo = (opt.echo - c.firstTs.script + c.firstTs.actual) >>> 0
        else {
          throw this.packetStop(line, `unable to infer live TS ecr for script TS ecr ${opt.echo >>> 0};  no matching or preceding outbound TS val`, [], false, 'error')
        }
      }
      options.push(opt)
    }
    const seq = (p.seq.start + seqOff) >>> 0
    const ack = flags & F.ACK ? ((p.ack ?? 0) + ackOff) >>> 0 : 0
    const bytes = buildTcpPacket(
      { ...ipFieldsOf(p.ipInfo), src: this.remoteIp, dst: this.localIp },
      {
        srcPort: p.ports?.src ?? c.remotePort,
        dstPort: p.ports?.dst ?? c.localPort,
        seq: seq as Seq,
        ack: ack as Seq,
        flags,
        window: p.win,
        urgent: p.urg ?? 0,
        options,
        payload: new Uint8Array(p.seq.len),
      },
    )
    await this.waitFor(timed, 'inbound packet')
    c.lastIn = { seq, ack, len: p.seq.len, flags }
    // With --mss, a data line longer than it arrives as one super-segment of that segment size (GRO's).
    await this.target.inject(bytes, this.mss !== undefined && p.seq.len > this.mss ? { gsoSize: this.mss } : undefined)
    this.events.push({ kind: 'tcp', line, time: this.scriptNow(), packet: `< ${formatPacket(this.scriptPacket(p))}` })
  }

  /**
   * An inbound ICMP error for the connection under test: it echoes the stack's own packet (local → remote,
   * the live ports) with the script's sequence number mapped to the live one, as packetdrill's does.
   */
  private async inboundIcmp(timed: Timed, p: IcmpPacket): Promise<void> {
    const line = timed.ev.line
    const c = this.conn
    if (!c || c.state === 'init' || c.state === 'listening') throw this.packetStop(line, 'no matching socket for script packet', [], false, 'error')
    const tc = icmpTypeCode(this.v6, p.type, p.code)
    if ('error' in tc) throw this.packetStop(line, tc.error, [], false, 'error')
    const echoed = p.echoed?.protocol === 'tcp' ? p.echoed.seq : undefined
    const ip = ipFieldsOf(p.ipInfo)
    const bytes = buildIcmpError({
      v6: this.v6,
      remote: this.remoteIp,
      local: this.localIp,
      ...tc,
      mtu: p.mtu,
      localPort: c.localPort,
      remotePort: c.remotePort,
      seq: ((echoed?.start ?? 0) + seqOffOf(c, 0)) >>> 0,
      payloadLen: echoed?.len ?? 0,
      ttl: ip.ttl,
      tos: ip.tos,
      flowLabel: ip.flowLabel,
    })
    await this.waitFor(timed, 'inbound packet')
    await this.target.inject(bytes)
    const what = [p.type, p.code, p.mtu !== undefined ? `mtu ${p.mtu}` : undefined, echoed ? `[${echoed.start}:${echoed.start + echoed.len}(${echoed.len})]` : undefined]
    this.events.push({ kind: 'icmp', line, time: this.scriptNow(), packet: `< icmp ${what.filter((x) => x !== undefined).join(' ')}` })
  }

  /** The script's packet line in the engine's packet form (script space). */
  private scriptPacket(p: TcpPacket): PacketFields {
    const flags = flagBits(p.flags)
    const options = p.options === 'any' ? [] : p.options.map(optionFromNode)
    const optLen = options.reduce((n, o) => n + optLenOf(o), 0)
    const doff = 5 + Math.ceil(optLen / 4)
    const payload = new Uint8Array(p.seq.len)
    const tcpLen = doff * 4 + payload.length
    const tos = p.ipInfo.tos ?? (p.ipInfo.ecn && p.ipInfo.ecn !== 'ect01' ? ECN[p.ipInfo.ecn] : 0)
    const fields: PacketFields = {
      version: this.v6 ? 6 : 4,
      src: this.localIp,
      dst: this.remoteIp,
      tos,
      ttl: p.ipInfo.ttl ?? 0,
      flowLabel: p.ipInfo.flowLabel ?? 0,
      protocol: 6,
      ihl: 5,
      ipLen: this.v6 ? tcpLen : 20 + tcpLen,
      tcp: {
        srcPort: p.ports?.src ?? 0,
        dstPort: p.ports?.dst ?? 0,
        seq: p.seq.start >>> 0,
        ack: (p.ack ?? 0) >>> 0,
        flags,
        doff,
        window: p.win ?? 0,
        urgent: p.urg ?? 0,
        options,
        payload,
      },
      winCheck: p.win !== undefined,
      optionsCheck: p.options !== 'any',
      ace: /[0-7]/.test(p.flags),
    }
    setIpChecks(fields, { ecn: p.ipInfo.ecn, tos: p.ipInfo.tos, ttl: p.ipInfo.ttl })
    return fields
  }

  /** Decodes a live packet; undefined for anything that is not IP+TCP. */
  private decode(bytes: Uint8Array): PacketFields | undefined {
    try {
      const version = bytes[0]! >> 4
      let fields: Omit<PacketFields, 'tcp' | 'winCheck' | 'optionsCheck' | 'ace'>
      let payload: Uint8Array
      if (version === 4) {
        const ip = parseIpv4(bytes)
        if (ip.protocol !== 6 || ip.isFragment) return undefined
        fields = { version: 4, src: ip.src, dst: ip.dst, tos: (ip.dscp << 2) | ip.ecn, ttl: ip.ttl, flowLabel: 0, protocol: ip.protocol, ihl: ip.ihl, ipLen: ip.totalLength }
        if (!ip.checksumOk) return { ...fields, tcp: emptyTcp(), winCheck: true, optionsCheck: true, ace: false, badIpChecksum: true } as PacketFields
        payload = ip.payload
      } else if (version === 6) {
        const ip = parseIpv6(bytes)
        if (ip.protocol !== 6 || ip.fragment) return undefined
        fields = { version: 6, src: ip.src, dst: ip.dst, tos: ip.trafficClass, ttl: ip.hopLimit, flowLabel: ip.flowLabel, protocol: ip.protocol, ihl: 5, ipLen: ip.payloadLength }
        payload = ip.payload
      } else return undefined
      const t = parseTcp(payload, undefined, { tolerantOptions: true })
      return {
        ...fields,
        tcp: { srcPort: t.srcPort, dstPort: t.dstPort, seq: t.seq, ack: t.ack, flags: t.flags, doff: t.dataOffset, window: t.window, urgent: t.urgent, options: t.options, payload: t.payload },
        winCheck: true,
        optionsCheck: true,
        ace: false,
      }
    } catch {
      return undefined
    }
  }

  /** Whether a live outbound packet belongs to the connection under test (learning the active side's tuple). */
  private claim(p: PacketFields): boolean {
    const c = this.conn
    if (!c) return false
    if (!ipEquals(p.src, this.localIp) || !ipEquals(p.dst, this.remoteIp)) return false
    const t = p.tcp
    // A packet of a connection the script has moved on from (an earlier socket's SYN retransmitted) belongs to
    // that socket, not to the one under test: packetdrill skips packets of its other known sockets.
    if (this.earlierPorts.has(t.srcPort) && t.srcPort !== c.localPort) return false
    if (c.state === 'activeSynSent' && t.flags & F.SYN && !(t.flags & F.ACK) && t.dstPort === c.remotePort) {
      c.localPort = t.srcPort
      c.liveLocalIsn = t.seq >>> 0
      return true
    }
    return t.srcPort === c.localPort && t.dstPort === c.remotePort
  }

  /** The next outbound packet of the connection, before `deadline` (live µs), or null. */
  private async sniff(deadline: number): Promise<{ fields: PacketFields; time: number } | null> {
    for (;;) {
      const out: OutboundPacket | null = await this.target.nextOutbound(deadline)
      if (out === null) return null
      const fields = this.decode(out.bytes)
      if (fields && (fields as { badIpChecksum?: boolean }).badIpChecksum) return { fields, time: out.time }
      if (fields && this.claim(fields)) return { fields, time: out.time }
    }
  }

  /** Live → script space, in place on a copy: seq, ack, SACK blocks, TS val (and the TS val map). */
  private mapOutbound(live: PacketFields, script: PacketFields): PacketFields {
    const c = this.conn!
    const t = live.tcp
    const syn = (t.flags & F.SYN) !== 0
    const seqOff = syn ? c.liveLocalIsn - c.scriptLocalIsn : c.liveLocalIsn
    const ackOff = syn ? 0 : c.remoteIsn
    const options = t.options.map((o): TcpOption => {
      if (o.kind === 'sack') return { kind: 'sack', blocks: o.blocks.map(([l, r]) => [((l - ackOff) >>> 0) as Seq, ((r - ackOff) >>> 0) as Seq]) }
      return { ...o } as TcpOption
    })
    const ts = options.find((o) => o.kind === 'timestamp') as Extract<TcpOption, { kind: 'timestamp' }> | undefined
    const sts = script.tcp.options.find((o) => o.kind === 'timestamp') as Extract<TcpOption, { kind: 'timestamp' }> | undefined
    if (ts && sts) {
      c.tsValMap.set(sts.value >>> 0, ts.value >>> 0)
      c.firstTs ??= { script: sts.value >>> 0, actual: ts.value >>> 0 }
      ts.value = (c.firstTs.script + (ts.value - c.firstTs.actual)) >>> 0
    }
    return {
      ...live,
      winCheck: true,
      optionsCheck: true,
      ace: script.ace,
      tcp: { ...t, seq: (t.seq - seqOff) >>> 0, ack: t.flags & F.ACK ? (t.ack - ackOff) >>> 0 : t.ack, options },
    }
  }

  private async outbound(timed: Timed, p: TcpPacket): Promise<void> {
    const line = timed.ev.line
    const script = this.scriptPacket(p)
    const flags = script.tcp.flags
    let c = this.conn
    if (c && c.state === 'activeConnecting' && flags & F.SYN && !(flags & F.ACK)) {
      c.state = 'activeSynSent'
      c.scriptLocalIsn = p.seq.start >>> 0
    }
    if (!c) throw this.packetStop(line, 'no matching socket for script packet', [], false, 'error')
    const synack = c.state === 'passiveReceived' && flags & F.SYN && flags & F.ACK
    if (synack) c.scriptLocalIsn = p.seq.start >>> 0
    const lastTime = this.last?.time ?? 0
    const wait = Math.max(timed.time, timed.end ?? timed.time) - lastTime
    const deadline = timed.ev.time.kind === 'any' ? Infinity : this.target.now() + (Math.trunc(wait / 1e6) * 1e6 + OUTBOUND_WAIT_USECS)
    const expected = script.tcp.payload.length
    const pieces: Array<{ fields: PacketFields; time: number }> = []
    let got = 0
    do {
      const s = await this.sniff(deadline)
      if (s === null) throw this.packetStop(line, 'Timed out waiting for packet')
      if ((s.fields as { badIpChecksum?: boolean }).badIpChecksum) throw this.packetStop(line, 'bad outbound IP checksum')
      if (synack && pieces.length === 0) {
        c.state = 'passiveSynackSent'
        c.liveLocalIsn = s.fields.tcp.seq >>> 0
      }
      const mapped = this.mapOutbound(s.fields, script)
      const piece = { fields: mapped, time: s.time }
      if (pieces.length > 0) {
        const prev = pieces[pieces.length - 1]!
        const len = mapped.tcp.payload.length
        let err = verifyHeaders(mapped, { ...prev.fields, winCheck: true, optionsCheck: true }, false)
        if (!err && len < expected - got && len !== prev.fields.tcp.payload.length) {
          err = `fragment payload: expected ${prev.fields.tcp.payload.length} bytes vs actual ${len} bytes; total payload: expected ${expected} bytes vs actual ${len + got} bytes`
        }
        if (err) {
          const more = [`   script packet: ${secsPadded(timed.time)} ${formatPacket(script)}`]
          for (const [i, q] of [...pieces, piece].entries()) more.push(`actual #${i} packet: ${secsPadded(q.time - this.liveStart)} ${formatPacket(q.fields)}`)
          throw this.packetStop(line, err, more)
        }
      }
      pieces.push(piece)
      got += mapped.tcp.payload.length
      // Consecutive smaller packets add up to a TSO-sized script line (packetdrill's aggregation); a packet
      // larger than its line is not cut to fit: packetdrill reports the payload length, and so does this.
    } while (got < expected && !this.strictSegments)
    if (got !== expected) throw this.packetStop(line, `live packet payload: expected ${expected} bytes vs actual ${got} bytes`)
    const actual = pieces.length === 1 ? pieces[0]!.fields : aggregate(pieces.map((q) => q.fields))
    const time = pieces[pieces.length - 1]!.time
    const actualUsecs = pieces[0]!.time - this.liveStart
    c.lastOut = { seq: (actual.tcp.seq + seqOffOf(c, actual.tcp.flags)) >>> 0, ack: actual.tcp.ack, len: actual.tcp.payload.length, flags: actual.tcp.flags }
    const dump = [`script packet: ${secsPadded(timed.time)} ${formatPacket(script)}`, `actual packet: ${secsPadded(actualUsecs)} ${formatPacket(actual)}`]
    const tsTol = this.tolerance(timed.time, 0)
    const err =
      verifyHeaders(actual, script, true) ??
      verifyOptions(actual, script, this.tsTick, tsTol) ??
      verifyPayload(actual, script) ??
      this.verifyTime(timed.ev.time.kind, timed.time, timed.end, timed.offset, time - this.liveStart, this.last?.time, 'outbound packet')
    this.events.push({ kind: 'tcp', line, time: actualUsecs, packet: `> ${formatPacket(actual)}` })
    if (err) throw this.packetStop(line, err, dump, true)
  }

  // ---- system calls ----------------------------------------------------------------------------------

  private callStop(line: number, name: string, err: string, result: 'fail' | 'error' = 'fail', nonFatal = false): Stop {
    const m = `runtime error in ${name} call: ${err}`
    return new Stop(result, line, `${this.file}:${line}: ${m}`, m, [], nonFatal ? 'syscall' : undefined)
  }

  private liveFd(line: number, name: string, e: Expr | undefined): number {
    const fd = e ? evalInt(e) : undefined
    if (fd === undefined) throw this.callStop(line, name, 'bad fd argument', 'error')
    const live = this.fds.get(fd)
    if (live === undefined) throw this.callStop(line, name, `unable to find fd with script fd ${fd}`, 'error')
    return live
  }

  /** The call's arguments with script fds replaced by live ones. */
  private mapArgs(line: number, call: SyscallEvent): { args: Expr[]; fds: number[] } {
    const args = call.args.slice()
    const fds: number[] = []
    const intExpr = (v: number, at: Expr): Expr => ({ kind: 'int', value: v, text: String(v), hex: false, line: at.line, col: at.col })
    if (FD_FIRST.has(call.name) && args[0]) {
      const fd = this.liveFd(line, call.name, args[0])
      fds.push(fd)
      args[0] = intExpr(fd, args[0])
    }
    // The second fd of sendfile(out, in, …) and splice(in, off, out, …).
    const second = call.name === 'sendfile' ? 1 : call.name === 'splice' ? 2 : -1
    if (second >= 0 && args[second]) {
      const fd = this.liveFd(line, call.name, args[second])
      fds.push(fd)
      args[second] = intExpr(fd, args[second]!)
    }
    if (call.name === 'epoll_ctl' && args[2]) {
      const fd = this.liveFd(line, call.name, args[2])
      fds.push(fd)
      args[2] = intExpr(fd, args[2])
    }
    if (call.name === 'poll' && args[0]?.kind === 'array') {
      args[0] = {
        ...args[0],
        items: args[0].items.map((pfd) => {
          if (pfd.kind !== 'struct') return pfd
          return {
            ...pfd,
            items: pfd.items.map((f) => {
              if (f.kind === 'assign' && f.target.kind === 'word' && f.target.name === 'fd') {
                const fd = this.liveFd(line, call.name, f.value)
                fds.push(fd)
                return { ...f, value: intExpr(fd, f.value) }
              }
              return f
            }),
          }
        }),
      }
    }
    return { args, fds }
  }

  private async syscall(timed: Timed, call: SyscallEvent): Promise<void> {
    const line = timed.ev.line
    const blocking = call.blockingEndUsecs !== undefined
    await this.waitFor(timed, 'system call start')
    if (this.pending) {
      // packetdrill waits up to 1 s for a blocking call in progress before starting another.
      await Promise.race([this.pending.promise, this.target.waitUntil(this.target.now() + 1_000_000)])
      await this.checkPending()
      if (this.pending && blocking) throw this.callStop(line, call.name, 'blocking system call while another blocking system call is already in progress', 'error')
    }
    if (!(call.result.kind === 'int')) throw this.callStop(line, call.name, 'bad result expression', 'error')
    const { args, fds } = this.mapArgs(line, call)
    const start = this.scriptNow()
    const promise = this.target.syscall({ name: call.name, args, fds, blocking, line, scriptStart: this.liveStart })
    if (blocking) {
      // A blocking connect() sends its SYN while it blocks: the socket under test exists from the call's start.
      if (connectsSocket(call) && (!this.conn || this.conn.state === 'init' || this.conn.state === 'listening')) this.conn = this.newConn('activeConnecting')
      const pending: PendingCall = { timed, call, promise: Promise.resolve() }
      pending.promise = promise.then(
        (r) => {
          pending.settled = r
        },
        (e) => {
          pending.failed = e
        },
      )
      this.pending = pending
      this.events.push({ kind: 'syscall', line, time: start })
      return
    }
    // A call the script does not expect to block must return within the tolerance; one that blocks is an error.
    // The engine does not race the call against the clock (a virtual clock would jump); the target bounds it.
    const limit = this.target.now() + Math.max(this.tolUsecs, 1)
    const res = await promise
    if (res.stillBlocked === true || res.endTime > limit) {
      throw this.callStop(line, call.name, `system call blocked, but the script does not expect it to block (write +T...E for a blocking call)`)
    }
    this.events.push({ kind: 'syscall', line, time: start })
    this.checkResult(line, call, res)
  }

  /** Checks a returned call's result, errno and outputs; records new fds; updates the socket state. */
  private checkResult(line: number, call: SyscallEvent, res: SyscallResult): void {
    if (res.unsupported) throw new Stop('unsupported', line, `${this.file}:${line}: unsupported: ${res.unsupported}`, res.unsupported)
    const expected = (call.result as Extract<Expr, { kind: 'int' }>).value
    const actualErrno = res.errno === undefined ? 0 : (errnoNumber(res.errno) ?? -1)
    const errText = res.errno === undefined ? 'Success' : errnoText(res.errno)
    const nf = true
    if (NEW_FD_CALLS.has(call.name) && expected >= 0) {
      if (res.ret < 0) throw this.callStop(line, call.name, `Expected non-negative result but got ${res.ret} with errno ${actualErrno} (${errText})`, 'fail', nf)
      // packetdrill checks new sockets' fds for duplicates but lets accept() reuse a script fd (a test may
      // accept into fd 4 again without closing the first; the script's later uses mean the new socket).
      const accepting = call.name === 'accept' || call.name === 'accept4'
      if (!accepting && this.fds.has(expected)) throw this.callStop(line, call.name, `duplicate fd ${expected} in script`, 'error')
      if (!accepting && [...this.fds.values()].includes(res.ret)) throw this.callStop(line, call.name, `duplicate live fd ${res.ret}`, 'error')
      this.fds.set(expected, res.ret)
      if (call.name === 'socket' || call.name === 'accept' || call.name === 'accept4') this.sutFd = res.ret
      // A new socket becomes packetdrill's socket under test: later packets belong to it, not to an earlier connection.
      if (call.name === 'socket' && this.conn && this.conn.state !== 'init') {
        if (this.conn.localPort !== 0) this.earlierPorts.add(this.conn.localPort)
        this.conn = undefined
      }
    } else if (res.ret !== expected) {
      throw this.callStop(line, call.name, `Expected result ${expected} but got ${res.ret} with errno ${actualErrno} (${errText})`, 'fail', nf)
    }
    if (call.errno !== undefined) {
      const want = errnoNumber(call.errno)
      if (want === undefined) throw this.callStop(line, call.name, `unknown errno ${call.errno}`, 'error')
      if (res.errno !== call.errno && actualErrno !== want) {
        throw this.callStop(line, call.name, `Expected errno ${want} (${errnoText(want)}) but got ${actualErrno} (${errText})`, 'fail', nf)
      }
    }
    if (call.name === 'poll' && res.revents && call.args[0]?.kind === 'array') {
      for (const [i, pfd] of call.args[0].items.entries()) {
        if (pfd.kind !== 'struct') continue
        const f = pfd.items.find((x) => x.kind === 'assign' && x.target.kind === 'word' && x.target.name === 'revents')
        const want = f && f.kind === 'assign' ? evalInt(f.value) : undefined
        const got = res.revents[i]
        if (want !== undefined && got !== undefined && want !== got) {
          throw this.callStop(line, call.name, `Expected revents of ${flagsToString(want, POLL_FLAG_NAMES)} but got ${flagsToString(got, POLL_FLAG_NAMES)} for pollfd ${i}`, 'fail', nf)
        }
      }
    }
    if (call.name === 'getsockopt' && res.optval !== undefined && call.args[3]) {
      const want = evalInt(call.args[3])
      // Compared as the C int the kernel wrote ([0xffffffff] is -1), printed as packetdrill prints them.
      if (want !== undefined && (want | 0) !== (res.optval | 0)) throw this.callStop(line, call.name, `Bad getsockopt optval: expected: ${want | 0} actual: ${res.optval | 0}`, 'fail', nf)
    }
    if (call.name === 'pipe' && res.ret === 0) {
      // pipe([5, 6]): the script's two fds name the live read and write ends.
      const arr = call.args[0]
      const want = arr?.kind === 'array' ? arr.items.map((e) => evalInt(e)) : []
      if (want.length !== 2 || want.some((x) => x === undefined) || res.fds?.length !== 2) throw this.callStop(line, call.name, 'pipe() needs an array of two script fds', 'error')
      for (const [i, fd] of want.entries()) {
        if (this.fds.has(fd!)) throw this.callStop(line, call.name, `duplicate fd ${fd} in script`, 'error')
        this.fds.set(fd!, res.fds[i]!)
      }
    }
    if (call.name === 'close' && res.ret === 0) {
      const fd = evalInt(call.args[0]!)
      if (fd !== undefined) this.fds.delete(fd)
    }
    if (res.mismatch !== undefined) throw this.callStop(line, call.name, res.mismatch, 'fail', nf)
    // The socket under test follows listen() and connect() (and sendto/sendmsg with an address), as packetdrill's does.
    if (call.name === 'listen' && res.ret === 0 && (!this.conn || this.conn.state === 'init')) this.conn = this.newConn('listening')
    if (connectsSocket(call) && (!this.conn || this.conn.state === 'init' || this.conn.state === 'listening')) this.conn = this.newConn('activeConnecting')
  }

  private newConn(state: SockState): Conn {
    return { state, localPort: state === 'listening' ? this.bindPort : 0, remotePort: this.connectPort, scriptLocalIsn: 0, liveLocalIsn: 0, remoteIsn: 0, tsValMap: new Map() }
  }

  /** A blocking call that has returned: check its result and return time. */
  private async checkPending(): Promise<void> {
    const p = this.pending
    if (!p) return
    await Promise.resolve()
    if (p.failed !== undefined) {
      this.pending = undefined
      throw p.failed
    }
    if (!p.settled) return
    this.pending = undefined
    const line = p.timed.ev.line
    const end = p.settled.endTime - this.liveStart
    this.checkResult(line, p.call, p.settled)
    const err = this.verifyTime(p.timed.ev.time.kind === 'relative' ? 'absolute' : p.timed.ev.time.kind, p.timed.blockEnd!, undefined, p.timed.offset, end, p.timed.time, 'system call return')
    if (err) throw new Stop('fail', line, `${this.file}:${line}: ${err}`, err)
  }

  /** The pending call's failure, when it returned before the failure being reported. */
  private async pendingFailure(): Promise<Stop | undefined> {
    try {
      await this.checkPending()
    } catch (e) {
      if (e instanceof Stop) return e
    }
    return undefined
  }

  /** At the end, a blocking call still in progress gets until its expected return (plus tolerance). */
  private async finishPending(): Promise<void> {
    const p = this.pending
    if (!p) return
    const endBy = this.liveStart + p.timed.blockEnd! + this.tolerance(p.timed.blockEnd!, p.timed.time)
    await Promise.race([p.promise, this.target.waitUntil(endBy)])
    await this.checkPending()
    if (this.pending) {
      const line = p.timed.ev.line
      const m = `timing error: expected system call return at ${secs(p.timed.blockEnd!)} sec but it had not returned at ${secs(this.scriptNow())} sec`
      throw new Stop('fail', line, `${this.file}:${line}: ${m}`, m)
    }
  }

  private liveConnections(): LiveConnection[] {
    const c = this.conn
    if (!c || c.state === 'init' || c.state === 'listening' || c.state === 'activeConnecting') return []
    const out = c.lastOut
    const inn = c.lastIn
    const rcvNxt = out ? out.ack : inn ? (inn.seq + inn.len + (inn.flags & (F.SYN | F.FIN) ? 1 : 0)) >>> 0 : 0
    const sndNxt = out ? (out.seq + out.len + (out.flags & (F.SYN | F.FIN) ? 1 : 0)) >>> 0 : inn ? inn.ack : 0
    return [{ localIp: formatIp(this.localIp), localPort: c.localPort, remoteIp: formatIp(this.remoteIp), remotePort: c.remotePort, rcvNxt, sndNxt }]
  }
}

const ECN = { noecn: 0, ect1: 1, ect0: 2, ce: 3 } as const

/**
 * Calls that connect a new socket to the script's remote address, as packetdrill treats them: connect(),
 * sendto() (packetdrill always passes the remote address; an address family given as a number, such as
 * AF_UNSPEC, connects nothing) and sendmsg() with a msg_name (TCP Fast Open's SYN carries their data).
 */
function connectsSocket(call: SyscallEvent): boolean {
  if (call.name === 'connect') return true
  if (call.name === 'sendto') {
    const a = call.args[4]
    return a === undefined || a.kind === 'ellipsis'
  }
  if (call.name === 'sendmsg') {
    const m = call.args[1]
    return m?.kind === 'struct' && m.items.some((f) => f.kind === 'assign' && (f.target.kind === 'call' || f.target.kind === 'word') && f.target.name === 'msg_name')
  }
  return false
}

function seqOffOf(c: Conn, flags: number): number {
  return flags & F.SYN ? c.liveLocalIsn - c.scriptLocalIsn : c.liveLocalIsn
}

/** The flag bits of a script's flag letters (`.` is ACK, `W` CWR, `A` AE, a digit the AccECN ACE field). */
export function flagBits(letters: string): number {
  let f = 0
  for (const ch of letters) {
    switch (ch) {
      case 'F': f |= F.FIN; break
      case 'S': f |= F.SYN; break
      case 'R': f |= F.RST; break
      case 'P': f |= F.PSH; break
      case '.': f |= F.ACK; break
      case 'U': f |= F.URG; break
      case 'E': f |= F.ECE; break
      case 'W': f |= F.CWR; break
      case 'A': f |= F.AE; break
      default:
        if (ch >= '0' && ch <= '7') {
          const n = ch.charCodeAt(0) - 48
          if (n & 1) f |= F.ECE
          if (n & 2) f |= F.CWR
          if (n & 4) f |= F.AE
        }
    }
  }
  return f
}

const hexBytes = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (h) => parseInt(h, 16))

/** A script option as the codec's option (FO/FOEXP/md5/AccECN as raw kinds). */
export function optionFromNode(o: TcpOptionNode): TcpOption {
  switch (o.kind) {
    case 'nop': return { kind: 'nop' }
    case 'eol': return { kind: 'eol' }
    case 'mss': return { kind: 'mss', value: o.value }
    case 'wscale': return { kind: 'wscale', shift: o.shift }
    case 'sackOK': return { kind: 'sackPermitted' }
    case 'sack': return { kind: 'sack', blocks: o.blocks.map((b) => [(b.left >>> 0) as Seq, (b.right >>> 0) as Seq]) }
    case 'timestamp': return { kind: 'timestamp', value: o.val >>> 0, echo: o.ecr >>> 0 }
    case 'fastopen': {
      const cookie = hexBytes(o.cookie)
      if (!o.experimental) return { kind: 'unknown', type: 34, data: cookie }
      const d = new Uint8Array(2 + cookie.length)
      d[0] = 0xf9
      d[1] = 0x89
      d.set(cookie, 2)
      return { kind: 'unknown', type: 254, data: d }
    }
    case 'md5': return { kind: 'unknown', type: 19, data: hexBytes(o.digest) }
    case 'accecn': {
      const d = new Uint8Array(3 * o.fields.length)
      o.fields.forEach((f, i) => {
        d[3 * i] = (f.value >> 16) & 0xff
        d[3 * i + 1] = (f.value >> 8) & 0xff
        d[3 * i + 2] = f.value & 0xff
      })
      return { kind: 'unknown', type: o.fields[0]?.name === 'e1b' ? 174 : 172, data: d }
    }
  }
}

function optLenOf(o: TcpOption): number {
  switch (o.kind) {
    case 'eol': case 'nop': return 1
    case 'mss': return 4
    case 'wscale': return 3
    case 'sackPermitted': return 2
    case 'sack': return 2 + 8 * o.blocks.length
    case 'timestamp': return 10
    case 'unknown': return 2 + o.data.length
  }
}

function ipFieldsOf(info: IpInfo): { tos?: number; ttl?: number; flowLabel?: number } {
  const tos = info.tos ?? (info.ecn && info.ecn !== 'ect01' ? ECN[info.ecn] : info.ecn === 'ect01' ? 2 : undefined)
  return { tos, ttl: info.ttl, flowLabel: info.flowLabel }
}

function emptyTcp(): PacketFields['tcp'] {
  return { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, doff: 5, window: 0, urgent: 0, options: [], payload: new Uint8Array(0) }
}

/** Consecutive pieces as one packet: the first's header, the last's PSH/FIN, all payloads. */
function aggregate(pieces: PacketFields[]): PacketFields {
  const first = pieces[0]!
  const lastFlags = pieces[pieces.length - 1]!.tcp.flags
  const total = pieces.reduce((n, p) => n + p.tcp.payload.length, 0)
  const payload = new Uint8Array(total)
  let o = 0
  for (const p of pieces) {
    payload.set(p.tcp.payload, o)
    o += p.tcp.payload.length
  }
  const flags = (first.tcp.flags & ~(F.PSH | F.FIN)) | (lastFlags & (F.PSH | F.FIN))
  return { ...first, ipLen: first.ipLen + total - first.tcp.payload.length, tcp: { ...first.tcp, flags, payload } }
}
