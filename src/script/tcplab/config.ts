/**
 * The TCP settings a script runs tcplab's TCP with: one place that picks the Linux-like values tcplab's
 * TcpConfig can express today (scriptTcpConfig), and the `sysctl -q net.ipv4.tcp_*=…` commands scripts run
 * in their init command, mapped onto those settings. A sysctl tcplab cannot honour makes the script
 * `unsupported`, with the command named, rather than running it with a setting silently ignored.
 */
import { readFileSync } from 'node:fs'
import { parseFastOpenKeys } from '../../tcp/fastopen.js'
import { DEFAULT_TCP_CONFIG, LINUX_TCP_CONFIG, MILLISECOND, SECOND, type TcpConfig, type TcpProfile } from '../../tcp/types.js'

/** Everything a script's sockets are made with: the TCB config plus what lives beside it (listener, per-side SYN retries). */
export interface ScriptStackSettings {
  /** The config every new TCB starts from (socket options then change a copy). */
  tcp: Partial<TcpConfig>
  /** net.ipv4.tcp_syn_retries: SYN retransmissions of an active open (Linux default 6). */
  synRetries: number
  /** net.ipv4.tcp_synack_retries: SYN+ACK retransmissions of a passive open (Linux default 5). */
  synAckRetries: number
  /** net.ipv4.tcp_syncookies (Linux default 1: cookies once the SYN queue overflows). */
  synCookies: boolean
  /** net.ipv4.tcp_fin_timeout in µs: how long an orphaned FIN-WAIT-2 connection lives (Linux default 60 s). */
  finTimeout: number
  /** tcp_rmem's maximum as set by a sysctl (the window scale follows it, as on Linux). */
  rmemMax?: number
  /** tcp_window_scaling=0 was set (a later tcp_rmem does not turn scaling back on). */
  wsOff?: boolean
  /** net.ipv4.tcp_rfc1337: TIME-WAIT drops a RST (RFC 1337) instead of closing (Linux default 0). */
  rfc1337?: boolean
  /** `ip tcp_metrics flush` ran: the stack forgets its Fast Open cookies (the target clears the flag). */
  flushMetrics?: boolean
  /** What packetdrill's set_sysctls.py changed from, for the restore script it writes. */
  restore?: Omit<ScriptStackSettings, 'restore'>
}

/** Linux's tcp_rmem / tcp_wmem defaults (min, default, max), as a fresh namespace has them. */
const LINUX_RMEM = [4096, 131072, 6291456] as const
/** tcplab's send buffer for scripts (payload bytes). */
const SND_BUF = 65536
/** net.core.rmem_max's default: the window scale is derived from max(tcp_rmem[2], rmem_max). */
const LINUX_RMEM_MAX = 212992

/**
 * The window-scale shift Linux offers for a receive-buffer maximum (tcp_select_initial_window): the
 * smallest shift that brings the space under 64 KiB, at most 14.
 */
export function linuxWindowScale(rmemMax: number): number {
  let space = Math.max(rmemMax, LINUX_RMEM_MAX)
  let ws = 0
  while (space > 0xffff && ws < 14) {
    space = Math.floor(space / 2)
    ws++
  }
  return ws
}

/**
 * The receive space Linux advertises for a socket buffer of `bytes` (tcp_win_from_space at the initial
 * scaling ratio of ½): TcpConfig.rcvBuf counts window, not the kernel's sk_rcvbuf.
 */
export function linuxRcvSpace(bytes: number): number {
  return Math.floor(bytes / 2)
}

/**
 * The single place where a script's TCP settings are chosen. The profile is 'linux' unless asked otherwise
 * (`tcplab script --profile rfc`): LINUX_TCP_CONFIG's defaults (CUBIC, Linux's SYN option layout and SYN
 * window from src/tcp/optlayout.ts, quick-ack mode, IW 10, RTO 1 s / min 200 ms, 40 ms delayed ACK, the
 * ms timestamp clock), or DEFAULT_TCP_CONFIG's for 'rfc'. Beside the profile: the window scale from
 * tcp_rmem's maximum, the receive space from tcp_rmem's default, SYN and SYN+ACK retries as Linux's
 * sysctls, and fixed ISN keys.
 */
export function scriptTcpConfig(profile: TcpProfile = 'linux'): ScriptStackSettings {
  return {
    tcp: {
      // The profile's defaults, whole, so every field a socket option reads back is there.
      ...(profile === 'linux' ? LINUX_TCP_CONFIG : DEFAULT_TCP_CONFIG),
      windowScale: linuxWindowScale(LINUX_RMEM[2]),
      rcvBuf: linuxRcvSpace(LINUX_RMEM[1]),
      // Linux grows a connection's send buffer to about 2 × IW × per-segment truesize as it establishes
      // (tcp_sndbuf_expand), well past tcp_wmem[1]: 64 KiB of payload is tcplab's stand-in.
      sndBuf: SND_BUF,
      // Scripts' runs are reproducible: the same ISNs and timestamp offsets every run.
      isnSecret: new Uint8Array(16).fill(0x5c),
    },
    synRetries: 6,
    synAckRetries: 5,
    synCookies: true,
    finTimeout: 60 * SECOND,
  }
}

/** Why a shell command cannot run on the tcplab target, or undefined when it was applied. */
export type ShellOutcome = { unsupported: string } | undefined

/** Splits a command line into words, honouring '…' and "…" quotes (as sh would for these simple lines). */
export function shellWords(line: string): string[] | undefined {
  const words: string[] = []
  let cur = ''
  let inWord = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!
    if (ch === '"' || ch === "'") {
      const end = line.indexOf(ch, i + 1)
      if (end < 0) return undefined
      cur += line.slice(i + 1, end)
      i = end
      inWord = true
    } else if (ch === ' ' || ch === '\t') {
      if (inWord) words.push(cur)
      cur = ''
      inWord = false
    } else if (ch === '\\' && i + 1 < line.length) {
      cur += line[++i]
      inWord = true
    } else {
      cur += ch
      inWord = true
    }
  }
  if (inWord) words.push(cur)
  return words
}

const bool01 = (v: string): boolean | undefined => (v === '0' ? false : v === '1' ? true : undefined)
const triple = (v: string): number[] | undefined => {
  const p = v.trim().split(/\s+/).map(Number)
  return p.length === 3 && p.every((n) => Number.isInteger(n) && n > 0) ? p : undefined
}

/**
 * One `name=value` sysctl applied to the settings: undefined when done, or why it cannot be. A value that is
 * Linux's default is accepted even without a knob (the settings are Linux's defaults already); other values
 * need a TcpConfig knob, or say plainly that tcplab behaves that way.
 */
export function applySysctl(s: ScriptStackSettings, name: string, value: string): string | undefined {
  const t = s.tcp
  const b = bool01(value)
  switch (name) {
    case 'net.ipv4.tcp_timestamps':
      // Linux's 2 (timestamps without the random offset) is not distinguishable in a script's packets.
      if (value === '2') t.timestamps = true
      else if (b === undefined) return badValue(name, value)
      else t.timestamps = b
      return undefined
    case 'net.ipv4.tcp_sack':
      if (b === undefined) return badValue(name, value)
      t.sackPermitted = b
      return undefined
    case 'net.ipv4.tcp_window_scaling':
      if (b === undefined) return badValue(name, value)
      t.windowScale = b ? linuxWindowScale(s.rmemMax ?? LINUX_RMEM[2]) : false
      s.wsOff = !b
      return undefined
    case 'net.ipv4.tcp_rmem': {
      const p = triple(value)
      if (!p) return badValue(name, value)
      t.rcvBuf = linuxRcvSpace(p[1]!)
      s.rmemMax = p[2]!
      if (!s.wsOff) t.windowScale = linuxWindowScale(p[2]!)
      return undefined
    }
    case 'net.ipv4.tcp_wmem': {
      const p = triple(value)
      if (!p) return badValue(name, value)
      // The send buffer Linux starts from grows on its own (tcp_sndbuf_expand); tcplab keeps SND_BUF unless
      // the maximum is below it.
      t.sndBuf = Math.min(SND_BUF, p[2]!)
      return undefined
    }
    case 'net.ipv4.tcp_invalid_ratelimit': {
      const ms = Number(value)
      if (!Number.isInteger(ms) || ms < 0) return badValue(name, value)
      t.challengeAckInterval = ms * MILLISECOND
      return undefined
    }
    case 'net.ipv4.tcp_syn_retries':
    case 'net.ipv4.tcp_synack_retries': {
      const n = Number(value)
      if (!Number.isInteger(n) || n < 1 || n > 127) return badValue(name, value)
      if (name === 'net.ipv4.tcp_syn_retries') s.synRetries = n
      else s.synAckRetries = n
      return undefined
    }
    case 'net.ipv4.tcp_fin_timeout': {
      const sec = Number(value)
      if (!Number.isInteger(sec) || sec < 0) return badValue(name, value)
      s.finTimeout = sec * SECOND
      return undefined
    }
    case 'net.ipv4.tcp_syn_linear_timeouts': {
      // SYN-SENT timeouts that keep the initial RTO before it doubles (TcpConfig.synLinearTimeouts).
      const n = Number(value)
      if (!Number.isInteger(n) || n < 0) return badValue(name, value)
      t.synLinearTimeouts = n
      return undefined
    }
    case 'net.ipv4.tcp_syncookies':
      if (value !== '0' && value !== '1') return badValue(name, value)
      s.synCookies = value === '1'
      return undefined
    case 'net.ipv4.tcp_early_retrans':
      // 3 (Linux's default) and 4 are RACK-TLP; 0 turns TLP off, which tcplab does only with RACK off (DupThresh).
      if (value === '3' || value === '4') t.rack = true
      else if (value === '0') t.rack = false
      else return `sysctl ${name}=${value}: tcplab has only RACK-TLP (3) or neither (0)`
      return undefined
    case 'net.ipv4.tcp_autocorking':
      // tcplab never corks small writes on its own: autocorking off is what it does.
      if (value === '0') return undefined
      return `sysctl ${name}=${value}: tcplab has no autocorking`
    case 'net.ipv4.tcp_dsack':
      // D-SACK blocks for duplicates (RFC 2883, TcpConfig.dsack).
      if (b === undefined) return badValue(name, value)
      t.dsack = b
      return undefined
    case 'net.ipv4.tcp_recovery':
    case 'net.ipv4.tcp_fack':
      if (name === 'net.ipv4.tcp_recovery' && value === '1') return undefined
      if (name === 'net.ipv4.tcp_fack' && value === '0') return undefined
      return `sysctl ${name}=${value}: no tcplab setting for it`
    case 'net.ipv4.tcp_challenge_ack_limit': {
      // tcplab keeps no global challenge-ACK budget (only the per-connection rate limit): like a limit
      // never reached. A limit small enough to be reached in a script cannot be honoured.
      const n = Number(value)
      if (Number.isInteger(n) && n >= 1000) return undefined
      return `sysctl ${name}=${value}: tcplab has no global challenge ACK limit`
    }
    case 'net.ipv4.tcp_rfc1337':
      // 0 (Linux's default): TIME-WAIT honours a RST, as RFC 9293 and the TCB do; 1: the stack drops it first.
      if (b === undefined) return badValue(name, value)
      s.rfc1337 = b
      return undefined
    case 'net.ipv4.tcp_congestion_control':
      // src/tcp/cc/ has the two Linux builds in by default; others (bbr, vegas…) are modules tcplab lacks.
      if (value === 'cubic' || value === 'reno') t.congestionControl = value
      else return `sysctl ${name}=${value}: tcplab has cubic and reno congestion control only`
      return undefined
    case 'net.ipv4.tcp_slow_start_after_idle':
      // RFC 5681 §4.1's restart window after an idle period: tcplab never restarts, which is Linux's 0.
      if (value === '0') return undefined
      return `sysctl ${name}=${value}: tcplab does not restart slow start after idle (RFC 5681 §4.1)`
    case 'net.ipv4.tcp_ecn':
      // tcplab never negotiates ECN: 0, and Linux's default 2 (ECN only when a peer's SYN asks, which a script
      // then shows at its SYN-ACK line), are what it does; 1 would ask for ECN in its own SYNs.
      if (value === '0' || value === '2') return undefined
      return `sysctl ${name}=${value}: tcplab has no ECN`
    case 'net.ipv4.tcp_fastopen': {
      // TCP Fast Open's modes, Linux's bits (TcpConfig.fastOpen, src/tcp/fastopen.ts); 0x70000 and other
      // bits tcplab does not read are kept and ignored.
      const n = Number(value.trim())
      if (!Number.isInteger(n) || n < 0) return badValue(name, value)
      t.fastOpen = n
      return undefined
    }
    case 'net.ipv4.tcp_fastopen_blackhole_timeout_sec':
      // Linux's detection of middleboxes that drop Fast Open SYNs; tcplab has none, which is Linux's 0 (off).
      if (value.trim() === '0') return undefined
      return `sysctl ${name}=${value}: tcplab has no Fast Open blackhole detection (0, off, is what it does)`
    case 'net.ipv4.tcp_fastopen_key': {
      const keys = parseFastOpenKeys(value)
      if (!keys) return badValue(name, value)
      t.fastOpenKeys = keys
      return undefined
    }
    case 'net.ipv4.tcp_ecn_option':
    case 'net.ipv4.tcp_pacing_ss_ratio':
    case 'net.ipv4.tcp_pacing_ca_ratio':
      // Settings of features tcplab lacks (AccECN's option, pacing — which needs fq or a pacing rate):
      // nothing to set; a script that uses the feature shows it at the packet or call that does.
      if (value.trim() === '') return badValue(name, value)
      return undefined
    default: {
      // Linux defaults with no knob in tcplab: taken as is, since tcplab already behaves that way (the
      // reordering degree is RFC 6675's DupThresh, sysctl.c's defaults for the rest).
      const linuxDefault = LINUX_DEFAULTS[name]
      if (linuxDefault !== undefined && linuxDefault === value.trim()) return undefined
      return `sysctl ${name}=${value}: no tcplab setting for it`
    }
  }
}

/**
 * Linux's default for sysctls tcplab has no setting for, accepted as every script without the line already
 * runs with them: DupThresh 3 (RFC 6675's, as tcplab's), TCP_NOTSENT_LOWAT unset (as tcplab), TSO's deferral
 * divisor and minimum segments (tcplab sends MSS-sized segments; the engine groups them into a TSO line as
 * packetdrill does), and F-RTO 2 (RFC 5682, which tcplab lacks: where it would change the packets after an
 * RTO, the script shows it at that line).
 */
const LINUX_DEFAULTS: Readonly<Record<string, string>> = {
  'net.ipv4.tcp_frto': '2',
  'net.ipv4.tcp_reordering': '3',
  'net.ipv4.tcp_tso_win_divisor': '3',
  'net.ipv4.tcp_min_tso_segs': '2',
  'net.ipv4.tcp_notsent_lowat': '4294967295',
}

function badValue(name: string, value: string): string {
  return `sysctl ${name}=${value}: value not understood`
}

/** How a shell command reads a script file it runs (`../common/defaults.sh`): the file's text, or undefined. */
export type ReadShellFile = (path: string) => string | undefined

const readFromDisk: ReadShellFile = (path) => {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
}

/** Shell scripts run from a shell script, at most this deep (a file that runs itself ends here). */
const MAX_SHELL_DEPTH = 4

/**
 * Runs a script's shell command on the settings, as sh would run it in the directory tcplab runs in (where
 * the kernel target's sh runs it too): `sysctl [-q] [-w] name=value…` lines (several joined by `;` or `&&`,
 * continued with `\`, with comments, `$((…))` arithmetic and output redirections), a shell script file such
 * as packetdrill's `../common/defaults.sh` read and run line by line, packetdrill's `set_sysctls.py
 * /proc/sys/net/ipv4/NAME=VALUE…` and the `/tmp/sysctl_restore_${PPID}.sh` it writes (restoring what it
 * set), and the commands that have nothing to act on in tcplab: `true`, `:`, `ip tcp_metrics flush` (no
 * metrics cache) and `tc qdisc … pfifo` on the tunnel (no queue in front of virtual time). Anything else is
 * unsupported on the tcplab target, with the command named.
 */
export function applyShellCommand(s: ScriptStackSettings, command: string, readFile: ReadShellFile = readFromDisk, depth = 0): ShellOutcome {
  // sh's line continuations and comments first (`sysctl -q \\⏎ a=1 # why`).
  const joined = command.replace(/\\\n/g, ' ').replace(/(^|\s)#[^\n]*/g, '$1')
  for (const part of joined.split(/;|&&|\n/)) {
    // `A || B`: B runs when A cannot (a sysctl only some kernels have, then the command for the others).
    let why: ShellOutcome
    for (const alt of part.split('||')) {
      const line = expandArithmetic(alt).replace(/\s(?:[12]|&)?>\s*\/dev\/null|\s2>&1/g, ' ').trim()
      if (line === '') {
        why = undefined
        continue
      }
      const words = shellWords(line)
      why = words === undefined ? { unsupported: `shell command \`${line}\` is not understood by the tcplab target` } : applyShellWords(s, line, words, readFile, depth)
      if (why === undefined) break
    }
    if (why !== undefined) return why
  }
  return undefined
}

/** One simple command, split into words. */
function applyShellWords(s: ScriptStackSettings, line: string, words: string[], readFile: ReadShellFile, depth: number): ShellOutcome {
  const cmd = words[0]!
  const base = cmd.slice(cmd.lastIndexOf('/') + 1)
  if (words.length === 1 && (cmd === 'true' || cmd === ':')) return undefined
  if (cmd === 'sysctl') {
    for (const w of words.slice(1)) {
      if (w === '-q' || w === '-w' || w === '-qw' || w === '-wq') continue
      const eq = w.indexOf('=')
      if (w.startsWith('-') || eq < 0) return { unsupported: `shell command \`${line}\`: only sysctl [-q] [-w] NAME=VALUE is mapped on the tcplab target` }
      const why = applySysctl(s, w.slice(0, eq).replace(/\//g, '.'), w.slice(eq + 1))
      if (why !== undefined) return { unsupported: why }
    }
    return undefined
  }
  if (base === 'set_sysctls.py') {
    // packetdrill's helper: /proc/sys/<name>=<value>…, after writing a script that restores the old values.
    s.restore = structuredClone({ ...s, restore: undefined })
    for (const w of words.slice(1)) {
      const m = /^\/proc\/sys\/([^=]+)=(.*)$/.exec(w)
      if (!m) return { unsupported: `shell command \`${line}\`: only /proc/sys/NAME=VALUE arguments are mapped on the tcplab target` }
      const why = applySysctl(s, m[1]!.replace(/\//g, '.'), m[2]!)
      if (why !== undefined) return { unsupported: why }
    }
    return undefined
  }
  if (/^sysctl_restore_.*\.sh$/.test(base) && words.length === 1) {
    // The file set_sysctls.py wrote: back to the values before it ran.
    const before = s.restore
    if (before !== undefined) Object.assign(s, before, { restore: undefined })
    return undefined
  }
  if (cmd === 'echo' && words.length === 4 && words[2] === '>') {
    // `echo VALUE > /proc/sys/…` is a sysctl; `echo VALUE > /sys/module/tcp_cubic/parameters/NAME` one of
    // CUBIC's module parameters, taken when it is Linux's default (src/tcp/cc/cubic.ts has those built in).
    const [value, path] = [words[1]!, words[3]!]
    const sys = /^\/proc\/sys\/(.+)$/.exec(path)
    if (sys) {
      const why = applySysctl(s, sys[1]!.replace(/\//g, '.'), value)
      return why === undefined ? undefined : { unsupported: why }
    }
    const param = /^\/sys\/module\/tcp_cubic\/parameters\/(\w+)$/.exec(path)
    if (param) {
      if (CUBIC_DEFAULTS[param[1]!] === value) return undefined
      return { unsupported: `tcp_cubic parameter ${param[1]}=${value}: tcplab's CUBIC has Linux's defaults built in` }
    }
  }
  if (cmd === 'ip' && words[1] === 'tcp_metrics' && words[2] === 'flush') {
    s.flushMetrics = true
    return undefined
  }
  if (cmd === 'tc' && words[1] === 'qdisc' && words.includes('root')) {
    const op = words[2]
    const kind = words[words.indexOf('root') + 1]
    if (op === 'del' || op === 'delete') return undefined
    if ((op === 'add' || op === 'replace') && kind === 'pfifo' && !words.includes('limit')) return undefined
    return { unsupported: `shell command \`${line}\`: tcplab's virtual link has no queueing discipline (only a plain pfifo is what it does)` }
  }
  if (words.length === 1 && cmd.includes('/') && !cmd.endsWith('.py')) {
    // A shell script file (packetdrill's ../common/defaults.sh): run its lines here.
    const text = depth < MAX_SHELL_DEPTH ? readFile(cmd) : undefined
    if (text === undefined) return { unsupported: `shell command \`${line}\`: ${depth < MAX_SHELL_DEPTH ? 'cannot read the file' : 'shell scripts nested too deep'} on the tcplab target` }
    return applyShellCommand(s, text.replace(/^#![^\n]*/, ''), readFile, depth + 1)
  }
  return { unsupported: `shell command \`${line}\` cannot run on the tcplab target (only sysctl net.ipv4.tcp_* settings are mapped)` }
}

/** tcp_cubic's module parameters at Linux's defaults: what src/tcp/cc/cubic.ts implements. */
const CUBIC_DEFAULTS: Readonly<Record<string, string>> = {
  fast_convergence: '1',
  beta: '717',
  initial_ssthresh: '0',
  bic_scale: '41',
  tcp_friendliness: '1',
  hystart: '1',
  hystart_detect: '3',
  hystart_low_window: '16',
  hystart_ack_delta_us: '2000',
}

/** sh's `$((…))`: integer arithmetic with + - * / % and parentheses; anything else is left as written. */
export function expandArithmetic(text: string): string {
  return text.replace(/\$\(\(([0-9+\-*/%()\s]*)\)\)/g, (all, expr: string) => {
    const v = evalArithmetic(expr)
    return v === undefined ? all : String(v)
  })
}

function evalArithmetic(expr: string): number | undefined {
  const toks = expr.match(/\d+|[+\-*/%()]/g) ?? []
  if (toks.join('') !== expr.replace(/\s+/g, '')) return undefined
  let i = 0
  const primary = (): number | undefined => {
    const t = toks[i++]
    if (t === '(') {
      const v = sum()
      return toks[i++] === ')' ? v : undefined
    }
    if (t === '-') {
      const v = primary()
      return v === undefined ? undefined : -v
    }
    return t !== undefined && /^\d+$/.test(t) ? Number(t) : undefined
  }
  const product = (): number | undefined => {
    let v = primary()
    while (v !== undefined && (toks[i] === '*' || toks[i] === '/' || toks[i] === '%')) {
      const op = toks[i++]
      const r = primary()
      if (r === undefined || (op !== '*' && r === 0)) return undefined
      v = op === '*' ? v * r : op === '/' ? Math.trunc(v / r) : v % r
    }
    return v
  }
  const sum = (): number | undefined => {
    let v = product()
    while (v !== undefined && (toks[i] === '+' || toks[i] === '-')) {
      const op = toks[i++]
      const r = product()
      if (r === undefined) return undefined
      v = op === '+' ? v + r : v - r
    }
    return v
  }
  const v = sum()
  return i === toks.length && v !== undefined && Number.isSafeInteger(v) ? v : undefined
}
