/**
 * The tcplab target: a script runs against tcplab's own TCP (src/tcp's Tcb and Listener) in virtual time.
 * The clock moves only to the next event the engine asks for, to the stack's next timer (pollAt), or to a
 * blocked call's timeout, so a script with a 200 ms RTO runs in microseconds and every time is exact. No
 * root, no native code, no I/O: packets are bytes in and out of a VirtualStack, calls go to the socket layer.
 */
import type { Script } from '../ast.js'
import { runScript, DEFAULT_ADDRESSES, DEFAULT_TOLERANCE_USECS, type RunConfig, type ScriptVerdict } from '../engine.js'
import type { CodeSnapshot, LiveConnection, OutboundPacket, SyscallCall, SyscallResult, Target, UnsupportedKind } from '../target.js'
import { parseIp } from '../../net/addr.js'
import { VirtualStack } from './stack.js'
import { BLOCK, Sockets, Unsupported } from './sockets.js'
import { applyShellCommand, scriptTcpConfig, type ScriptStackSettings } from './config.js'
import type { TcpProfile } from '../../tcp/types.js'
import { pythonProblem, runPythonProgram, tcplabSnapshot } from './info.js'

/** The script's addresses and the engine's tolerance (all defaulted). */
export interface TcplabTargetOptions {
  ipVersion: 'ipv4' | 'ipv6'
  localIp: string
  remoteIp: string
  bindPort: number
  connectPort: number
  /** How long a call the script does not expect to block may take before it is reported as blocked (µs). */
  toleranceUsecs: number
  /** Why the script's ICMP lines cannot run here (see icmpProblem), or undefined. */
  icmp?: string
  /** Why the script's Python blocks cannot run here (info.ts pythonProblem), or undefined. */
  python?: string
  /** The TCB profile the settings start from when `settings` is not given (default 'linux'). */
  profile?: TcpProfile
  /** The stack's settings (default scriptTcpConfig(profile)); the script's sysctls change them. */
  settings?: ScriptStackSettings
}

/** Where virtual time starts: any value works; 1 s keeps the TCBs' "time ≥ 0" far away. */
const EPOCH_US = 1_000_000

/** A Target over tcplab's TCP in virtual time. */
export class TcplabTarget implements Target {
  readonly stack: VirtualStack
  readonly sockets: Sockets
  readonly settings: ScriptStackSettings
  /** Bumped by every call the engine makes: a wait the engine abandoned (Promise.race) stops moving the clock. */
  private epoch = 0
  /** Blocked calls completed since the engine last had a turn during a wait. */
  private resolved = 0
  /** How long a call the script does not expect to block may take (µs). */
  private readonly tolerance: number
  private readonly icmp: string | undefined
  private readonly python: string | undefined

  constructor(opts: TcplabTargetOptions) {
    this.settings = opts.settings ?? scriptTcpConfig(opts.profile)
    const localIp = parseIp(opts.localIp)
    this.stack = new VirtualStack(localIp)
    this.stack.now = EPOCH_US
    this.stack.finTimeout = this.settings.finTimeout
    this.stack.rfc1337 = this.settings.rfc1337 ?? false
    this.sockets = new Sockets({
      stack: this.stack,
      settings: this.settings,
      v6: opts.ipVersion === 'ipv6',
      localIp,
      remoteIp: parseIp(opts.remoteIp),
      bindPort: opts.bindPort,
      connectPort: opts.connectPort,
    })
    this.stack.onChange = () => this.sockets.wake()
    this.stack.timers = () => this.sockets.nextDeadline()
    this.tolerance = opts.toleranceUsecs
    this.icmp = opts.icmp
    this.python = opts.python
  }

  now(): number {
    return this.stack.now
  }

  async waitUntil(t: number): Promise<void> {
    await this.runUntil(t, ++this.epoch)
  }

  /**
   * Moves the clock to `t` one due event at a time. When a blocked call completes on the way, the engine gets
   * a turn (it may have raced this wait against the call and moved on: then this wait stops where it is).
   */
  private async runUntil(t: number, epoch: number, stop?: () => boolean): Promise<void> {
    let stuck = 0
    while (this.stack.now < t) {
      if (stop?.()) return
      if (this.resolved > 0) {
        // Also when the call completed before this wait began: the engine may be racing this wait against it.
        this.resolved = 0
        await new Promise<void>((r) => setImmediate(r))
        if (this.epoch !== epoch || stop?.()) return
      }
      const next = this.stack.nextAt()
      let to = next === undefined || next > t ? t : next
      if (to <= this.stack.now) {
        // A TCB that says it is due but sends nothing: do not spin, let time go on.
        if (++stuck > 3) to = Math.min(t, this.stack.now + 1000)
      } else stuck = 0
      this.stack.advanceTo(to)
    }
  }

  async inject(bytes: Uint8Array): Promise<void> {
    this.epoch++
    this.stack.inject(bytes)
  }

  async nextOutbound(deadline: number): Promise<OutboundPacket | null> {
    const epoch = ++this.epoch
    // Bounded: a TCB that keeps saying it is due without sending cannot hold an endless wait forever.
    for (let stuck = 0, steps = 0; steps < 1_000_000; steps++) {
      const p = this.stack.sent.shift()
      if (p) return { bytes: p.bytes, time: p.time }
      const next = this.stack.nextAt()
      if (next === undefined || next > deadline) {
        // Nothing leaves before the deadline: virtual time jumps there (an infinite one: nothing ever will).
        if (Number.isFinite(deadline)) await this.runUntil(deadline, epoch)
        const q = this.stack.sent.shift()
        return q ? { bytes: q.bytes, time: q.time } : null
      }
      if (next > this.stack.now) await this.runUntil(next, epoch)
      else if (++stuck > 3) await this.runUntil(Math.min(deadline, this.stack.now + 1000), epoch)
      else this.stack.advanceTo(this.stack.now)
    }
    return null
  }

  async syscall(call: SyscallCall): Promise<SyscallResult> {
    const epoch = ++this.epoch
    let prep: ReturnType<Sockets['prepare']>
    let first: ReturnType<ReturnType<Sockets['prepare']>['attempt']>
    try {
      prep = this.sockets.prepare(call)
      first = prep.attempt()
    } catch (e) {
      if (e instanceof Unsupported) return { ret: -1, unsupported: e.message, endTime: this.stack.now }
      throw e
    }
    if (first !== BLOCK) {
      this.stack.pump()
      return { ...first, endTime: this.stack.now }
    }
    // The call blocks: a continuation the stack resumes when it can complete (or at its timeout).
    let done: SyscallResult | undefined
    const promise = new Promise<SyscallResult>((resolve) => {
      this.sockets.waiters.push({
        attempt: prep.attempt,
        ...(prep.timeoutUs !== undefined ? { deadline: this.stack.now + prep.timeoutUs, onDeadline: prep.onDeadline! } : {}),
        resolve: (r) => {
          this.resolved++
          done = { ...r, endTime: this.stack.now }
          resolve(done)
        },
      })
    })
    if (call.blocking) return promise
    // The script does not expect it to block: it gets the tolerance, as the kernel target gives it.
    await this.runUntil(this.stack.now + Math.max(this.tolerance, 1), epoch, () => done !== undefined)
    if (done) return done
    const i = this.sockets.waiters.findIndex((w) => w.attempt === prep.attempt)
    if (i >= 0) this.sockets.waiters.splice(i, 1)
    return { ret: -1, stillBlocked: true, endTime: this.stack.now }
  }

  async shell(command: string): Promise<{ status: number; output?: string; unsupported?: string }> {
    const r = applyShellCommand(this.settings, command)
    if (this.settings.flushMetrics) this.stack.fastOpenCache.clear()
    this.settings.flushMetrics = undefined
    this.stack.finTimeout = this.settings.finTimeout
    this.stack.rfc1337 = this.settings.rfc1337 ?? false
    return r ? { status: 0, unsupported: r.unsupported } : { status: 0 }
  }

  unsupported(what: UnsupportedKind): string | undefined {
    switch (what) {
      case 'python':
        return this.python
      case 'udp':
        return 'the tcplab target has TCP only (udp packet lines)'
      case 'icmp':
        return this.icmp
      case 'encapsulation':
        return 'the tcplab target has no tunnels (encapsulated packets)'
      case 'fastopen':
        // TCP Fast Open (RFC 7413) as Linux does it: src/tcp/fastopen.ts, with the tcp_fastopen sysctl.
        return undefined
    }
  }

  /** A Python block's snapshot of the socket under test, at the block's virtual time (info.ts). */
  async codeSnapshot(fd: number): Promise<CodeSnapshot> {
    const s = this.sockets.socketOf(fd)
    if (!s) return { error: "can't find getsockopt to get TCP info" }
    return { vars: tcplabSnapshot(s) }
  }

  /** Runs the program of every block with python3, after the script. */
  async runPython(source: string): Promise<{ status: number; output: string }> {
    return runPythonProgram(source)
  }

  async close(_connections: LiveConnection[]): Promise<void> {
    // Nothing outlives a virtual run: the stack and its TCBs are dropped with the target.
    this.epoch++
    this.sockets.waiters.length = 0
  }
}

/**
 * Why a script's ICMP lines cannot run on the tcplab target, or undefined: the stack acts on a port
 * unreachable only (stack.ts); any other ICMP error would be dropped, so it is named instead.
 */
export function icmpProblem(script: Script): string | undefined {
  for (const ev of script.events) {
    const a = ev.action
    if (a.kind === 'icmp' && !(a.type === 'unreachable' && a.code === 'port_unreachable')) {
      return `icmp ${a.type}${a.code ? ` ${a.code}` : ''}: the tcplab target acts on ICMP port unreachable only`
    }
  }
  return undefined
}

/** The target's options for a script: the engine's addresses and ports, from the config or the script's options. */
export function tcplabTargetOptions(script: Script, config: RunConfig): TcplabTargetOptions {
  const opt = new Map(script.options.map((o) => [o.name, o.value]))
  const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v))
  const ipVersion = config.ipVersion ?? (opt.get('ip_version') === 'ipv6' ? 'ipv6' : 'ipv4')
  const d = DEFAULT_ADDRESSES[ipVersion]
  return {
    ipVersion,
    localIp: config.localIp ?? opt.get('local_ip') ?? d.local,
    remoteIp: config.remoteIp ?? opt.get('remote_ip') ?? d.remote,
    bindPort: config.bindPort ?? num(opt.get('bind_port')) ?? 8080,
    connectPort: config.connectPort ?? num(opt.get('connect_port')) ?? 8080,
    toleranceUsecs: config.toleranceUsecs ?? num(opt.get('tolerance_usecs')) ?? DEFAULT_TOLERANCE_USECS,
  }
}

/**
 * Runs one parsed script on tcplab's TCP in virtual time; never throws for a script's faults. `record` sees
 * every packet in and out, stamped on the script's clock (µs since the run's first event); `profile` is the
 * TCB profile the run starts from ('linux' unless asked).
 */
export async function runTcplabScript(
  script: Script,
  config: RunConfig = {},
  record?: (bytes: Uint8Array, us: number) => void,
  profile: TcpProfile = 'linux',
): Promise<ScriptVerdict> {
  const opts = { ...tcplabTargetOptions(script, config), profile, icmp: icmpProblem(script), python: pythonProblem(script) }
  const target = new TcplabTarget(opts)
  if (record) target.stack.record = (bytes, t) => record(bytes.slice(), t - EPOCH_US)
  const v = await runScript(script, target, { ...config, ipVersion: opts.ipVersion, stack: 'tcplab' })
  return { ...v, profile }
}
