/**
 * `tcplab script FILE.pkt…`: run packetdrill scripts against the Linux kernel (src/script/kernel/), each in
 * its own throwaway namespace, against tcplab's own TCP in virtual time (src/script/tcplab/, no root), or
 * both side by side (`--stack both`); or only parse them (`--dry-run`).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { isIP } from 'node:net'
import { tmpdir } from 'node:os'
import { extname, join, resolve } from 'node:path'
import { diagramFormat, renderText, renderToFile } from '../ladder/index.js'
import { inspect, toLadder } from '../inspect/index.js'
import { parseUint, usageError, type Command, type CommandArgs, type Io } from '../command.js'
import { parseScript } from '../../script/parser.js'
import { isScriptSyntaxError } from '../../script/errors.js'
import { splitDefinition } from '../../script/options.js'
import type { Script } from '../../script/ast.js'
import type { RunConfig, ScriptVerdict } from '../../script/engine.js'
import { runTcplabScript } from '../../script/tcplab/target.js'
import { secs } from '../../script/notation.js'
import { kernelTargetProblem, runKernelScripts } from '../../script/kernel/runner.js'
import { LINKTYPE_RAW, PcapWriter } from '../../net/pcap.js'
import type { ChildRequest } from '../../script/kernel/child.js'
import type { TcpProfile } from '../../tcp/types.js'

/** The flags of `tcplab script`, validated; what the engine and its targets will be given. */
export interface ScriptConfig {
  stack: 'kernel' | 'tcplab' | 'both'
  /** The TCB profile of the tcplab target (--profile; default 'linux'). */
  profile: TcpProfile
  ipVersion?: 'ipv4' | 'ipv6'
  toleranceUsecs?: number
  tolerancePercent?: number
  json: boolean
  ladder: boolean
  diagram?: string
  pcap?: string
  /** `-D NAME=VALUE`, in order; a later definition of a name wins. */
  defines: Map<string, string>
  dryRun: boolean
  mss?: number
  mtu?: number
  localIp?: string
  remoteIp?: string
  gatewayIp?: string
  netmaskIp?: string
  bindPort?: number
  connectPort?: number
  strictSegments: boolean
  nonFatal: Array<'packet' | 'syscall'>
  tcpTsTickUsecs?: number
  tcpTsEcrScaled: boolean
  files: string[]
}

/** One script's outcome, as `--json` prints it. */
export interface ScriptResult {
  script: string
  stack: string
  result: 'pass' | 'fail' | 'error' | 'unsupported'
  line: number | null
  col: number | null
  message: string | null
  events: Array<{ kind: string; line: number }>
  /** With --stack tcplab: the TCB profile it ran with ('linux' or 'rfc'). */
  profile?: string
}

/** Options spelled packetdrill's way (`--tolerance_usecs`) are rewritten to ours (`--tolerance-usecs`). */
const UNDERSCORE_FLAGS = new Set([
  'ip_version',
  'tolerance_usecs',
  'tolerance_percent',
  'dry_run',
  'local_ip',
  'remote_ip',
  'gateway_ip',
  'netmask_ip',
  'bind_port',
  'connect_port',
  'strict_segments',
  'non_fatal',
  'tcp_ts_tick_usecs',
  'tcp_ts_ecr_scaled',
])

function dashSpelling(argv: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') {
      out.push(...argv.slice(i))
      break
    }
    const m = /^--([A-Za-z0-9_]+)(=.*)?$/s.exec(a)
    out.push(m && UNDERSCORE_FLAGS.has(m[1]!) ? `--${m[1]!.replace(/_/g, '-')}${m[2] ?? ''}` : a)
  }
  return out
}

function ipFlag(name: string, v: unknown, family?: 4 | 6): string | undefined {
  if (v === undefined) return undefined
  const s = v as string
  const f = isIP(s)
  if (f === 0 || (family !== undefined && f !== family)) throw usageError(`--${name} must be an ${family === 4 ? 'IPv4' : 'IP'} address, got '${s}'`)
  return s
}

/** Validates the command line of `tcplab script` (usage errors exit 2). */
export function scriptConfig(args: CommandArgs): ScriptConfig {
  const v = args.values
  const stack = (v.stack as string | undefined) ?? 'kernel'
  if (stack !== 'kernel' && stack !== 'tcplab' && stack !== 'both') throw usageError(`--stack must be kernel, tcplab or both, got '${stack}'`)
  const profile = (v.profile as string | undefined) ?? 'linux'
  if (profile !== 'linux' && profile !== 'rfc') throw usageError(`--profile must be linux or rfc, got '${profile}'`)
  if (v.profile !== undefined && stack === 'kernel') throw usageError('--profile chooses the tcplab target\'s TCB profile: use it with --stack tcplab or both')
  const cfg: ScriptConfig = {
    stack,
    profile,
    json: v.json === true,
    ladder: v.ladder === true,
    defines: new Map(),
    dryRun: v['dry-run'] === true,
    strictSegments: v['strict-segments'] === true,
    nonFatal: [],
    tcpTsEcrScaled: v['tcp-ts-ecr-scaled'] === true,
    files: args.positionals,
  }
  const ipv = v['ip-version'] as string | undefined
  if (ipv !== undefined) {
    if (ipv !== 'ipv4' && ipv !== 'ipv6') throw usageError(`--ip-version must be ipv4 or ipv6, got '${ipv}'`)
    cfg.ipVersion = ipv
  }
  const num = (name: string, min: number, max: number): number | undefined =>
    v[name] === undefined ? undefined : parseUint(name, v[name] as string, min, max)
  const assign = <K extends keyof ScriptConfig>(key: K, value: ScriptConfig[K] | undefined): void => {
    if (value !== undefined) cfg[key] = value
  }
  assign('toleranceUsecs', num('tolerance-usecs', 1, 2 ** 31 - 1))
  assign('tolerancePercent', num('tolerance-percent', 0, 100))
  assign('mss', num('mss', 1, 0xffff))
  assign('mtu', num('mtu', 68, 0xffff))
  assign('bindPort', num('bind-port', 1, 0xffff))
  assign('connectPort', num('connect-port', 1, 0xffff))
  assign('tcpTsTickUsecs', num('tcp-ts-tick-usecs', 0, 1_000_000))
  assign('localIp', ipFlag('local-ip', v['local-ip']))
  assign('remoteIp', ipFlag('remote-ip', v['remote-ip']))
  assign('gatewayIp', ipFlag('gateway-ip', v['gateway-ip']))
  assign('netmaskIp', ipFlag('netmask-ip', v['netmask-ip'], 4))
  const nf = v['non-fatal'] as string | undefined
  if (nf !== undefined) {
    for (const part of nf.split(',')) {
      if (part !== 'packet' && part !== 'syscall') throw usageError(`--non-fatal takes packet and/or syscall, comma-separated, got '${nf}'`)
      if (!cfg.nonFatal.includes(part)) cfg.nonFatal.push(part)
    }
  }
  for (const [key, flag] of [
    ['diagram', 'diagram'],
    ['pcap', 'pcap'],
  ] as const) {
    const p = v[flag] as string | undefined
    if (p === undefined) continue
    if (p === '') throw usageError(`--${flag} needs a file name`)
    cfg[key] = p
  }
  if (cfg.diagram !== undefined) diagramFormat(cfg.diagram)
  for (const d of (v.define as string[] | undefined) ?? []) {
    const def = splitDefinition(d)
    if (!def) throw usageError(`-D takes NAME=VALUE, got '${d}'`)
    cfg.defines.set(def.name, def.value)
  }
  if (cfg.files.length === 0) throw usageError("no script given (see 'tcplab script --help')")
  return cfg
}

/** Parses one file: its result object, and the script when it parsed. */
export function dryRunFile(file: string, cfg: Pick<ScriptConfig, 'stack' | 'defines'>): { result: ScriptResult; script?: Script } {
  const base: ScriptResult = { script: file, stack: cfg.stack, result: 'error', line: null, col: null, message: null, events: [] }
  let source: string
  try {
    source = readFileSync(file, 'utf8')
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO'
    return { result: { ...base, message: `cannot read ${file} (${code})` } }
  }
  try {
    const script = parseScript(source, { file, defines: cfg.defines })
    const events = script.events.map((e) => ({ kind: e.action.kind, line: e.line }))
    return { result: { ...base, result: 'pass', events }, script }
  } catch (e) {
    if (!isScriptSyntaxError(e)) throw e
    return { result: { ...base, line: e.line, col: e.col, message: e.detail } }
  }
}

/** The `--json` object of a verdict. */
function verdictJson(v: ScriptVerdict): ScriptResult {
  return { script: v.script, stack: v.stack, result: v.result, line: v.line, col: v.col, message: v.message, events: v.events, ...(v.profile !== undefined ? { profile: v.profile } : {}) }
}

/** The engine's settings from the command line. */
function runConfigOf(cfg: ScriptConfig): RunConfig {
  return {
    ipVersion: cfg.ipVersion, toleranceUsecs: cfg.toleranceUsecs, tolerancePercent: cfg.tolerancePercent, mss: cfg.mss,
    localIp: cfg.localIp, remoteIp: cfg.remoteIp, bindPort: cfg.bindPort, connectPort: cfg.connectPort,
    strictSegments: cfg.strictSegments, nonFatal: cfg.nonFatal, tcpTsTickUsecs: cfg.tcpTsTickUsecs, tcpTsEcrScaled: cfg.tcpTsEcrScaled,
  }
}

/** Prints one script's outcome as packetdrill does (FILE: ok, or its lines on stderr), or as --json. */
function printer(cfg: ScriptConfig, io: Io): { print: (v: ScriptVerdict | ScriptResult, text?: string[], warnings?: string[]) => void; failed: () => boolean } {
  let failed = false
  const print = (v: ScriptVerdict | ScriptResult, text: string[] = [], warnings: string[] = []): void => {
    if (v.result !== 'pass') failed = true
    if (cfg.json) io.stdout(JSON.stringify('text' in v ? verdictJson(v as ScriptVerdict) : v))
    else {
      for (const w of warnings) io.stderr(w)
      if (v.result === 'pass') io.stdout(`${v.script}: ok`)
      else for (const l of text) io.stderr(l)
    }
  }
  return { print, failed: () => failed }
}

/** --pcap FILE (FILE.1, FILE.2… for several scripts), and the ladder of each run drawn from its packets. */
function ladders(cfg: ScriptConfig, io: Io): { pcapOf: (i: number) => string | undefined; drawLadder: (i: number) => Promise<void>; scratch: string | undefined } {
  const many = cfg.files.length > 1
  const scratch = (cfg.ladder || cfg.diagram !== undefined) && cfg.pcap === undefined ? mkdtempSync(join(tmpdir(), 'tcplab-script-')) : undefined
  const pcapOf = (i: number): string | undefined =>
    cfg.pcap !== undefined ? resolve(many ? `${cfg.pcap}.${i + 1}` : cfg.pcap) : scratch !== undefined ? join(scratch, `${i + 1}.pcap`) : undefined
  const diagramOf = (i: number): string | undefined => {
    if (cfg.diagram === undefined) return undefined
    const ext = extname(cfg.diagram)
    return many ? `${cfg.diagram.slice(0, cfg.diagram.length - ext.length)}.${i + 1}${ext}` : cfg.diagram
  }
  // The ladder of a script's connection, from the packets its run recorded (inspect's first connection).
  const drawLadder = async (i: number): Promise<void> => {
    const file = pcapOf(i)
    if (file === undefined || (!cfg.ladder && cfg.diagram === undefined)) return
    let report
    try {
      for await (const r of inspect(file, { keepSegments: 4000 })) {
        report = r
        break
      }
    } catch {
      // No packet was recorded (the script failed before any): nothing to draw.
    }
    if (report === undefined) {
      if (!cfg.json) io.stderr(`${cfg.files[i]}: no TCP packet was recorded, so no ladder`)
      return
    }
    const ex = toLadder(report)
    if (cfg.ladder && !cfg.json) io.stdout(renderText(ex, { color: false }))
    const d = diagramOf(i)
    if (d !== undefined) await renderToFile(ex, d)
  }
  return { pcapOf, drawLadder, scratch }
}

/** Runs the scripts against the kernel, each in its own namespace; prints as packetdrill does (or --json). */
async function runKernel(cfg: ScriptConfig, io: Io): Promise<number> {
  const problem = kernelTargetProblem()
  if (problem !== undefined) throw usageError(problem)
  const { print, failed } = printer(cfg, io)
  const reqs: ChildRequest[] = []
  const slots: Array<ScriptResult | number> = []
  // --pcap FILE (FILE.1, FILE.2… for several scripts) is written by the child; a ladder is drawn from it.
  const { pcapOf, drawLadder, scratch } = ladders(cfg, io)
  for (const file of cfg.files) {
    const { result, script } = dryRunFile(file, cfg)
    if (!script) {
      slots.push(result)
      continue
    }
    slots.push(reqs.length)
    reqs.push({
      file,
      name: file,
      defines: [...cfg.defines],
      config: { ...runConfigOf(cfg), gatewayIp: cfg.gatewayIp, netmaskIp: cfg.netmaskIp, mtu: cfg.mtu },
      ...(pcapOf(slots.length - 1) !== undefined ? { pcap: pcapOf(slots.length - 1) } : {}),
    })
  }
  // Verdicts are printed in the files' order; a file that did not parse prints where its turn comes.
  let at = 0
  const flushParsed = (): void => {
    while (at < slots.length && typeof slots[at] !== 'number') {
      const r = slots[at] as ScriptResult
      print(r, [r.line !== null ? `${r.script}:${r.line}:${r.col}: ${r.message}` : `${r.script}: ${r.message}`])
      at++
    }
  }
  flushParsed()
  let chain = Promise.resolve()
  try {
    await runKernelScripts(reqs, (v, r) => {
      const i = slots.indexOf(r) // the file's place in the list: FILE.N and the ladder follow it
      chain = chain.then(async () => {
        print(v, v.text, v.warnings)
        await drawLadder(i)
        at++
        flushParsed()
      })
    })
    await chain
  } finally {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true })
  }
  flushParsed()
  return failed() ? 1 : 0
}

/** Runs the scripts against tcplab's own TCP in virtual time (no root), one after another, in this process. */
async function runTcplab(cfg: ScriptConfig, io: Io): Promise<number> {
  const { print, failed } = printer(cfg, io)
  const { pcapOf, drawLadder, scratch } = ladders(cfg, io)
  try {
    for (const [i, file] of cfg.files.entries()) {
      const { result, script } = dryRunFile(file, cfg)
      if (!script) {
        print(result, [result.line !== null ? `${file}:${result.line}:${result.col}: ${result.message}` : `${file}: ${result.message}`])
        continue
      }
      const path = pcapOf(i)
      const packets: Array<{ bytes: Uint8Array; us: number }> = []
      const v = await runTcplabScript(script, runConfigOf(cfg), path === undefined ? undefined : (bytes, us) => packets.push({ bytes, us }), cfg.profile)
      if (path !== undefined) {
        const w = PcapWriter.toFile(path, { linkType: LINKTYPE_RAW })
        for (const p of packets) w.write(p.bytes, BigInt(Math.round(p.us)) * 1000n)
        w.close()
      }
      print(v, v.text, v.warnings)
      await drawLadder(i)
    }
  } finally {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true })
  }
  return failed() ? 1 : 0
}

/** One script on both stacks: `same` (same verdict, line and message), `differs`, or `unsupported` (on either). */
export interface ScriptComparison {
  script: string
  stack: 'both'
  comparison: 'same' | 'differs' | 'unsupported'
  /** The first line where the two runs part (the earlier failing line), or null. */
  line: number | null
  /** Each stack's packet at that line, in script notation (null when it sent none there). */
  kernelActual: string | null
  tcplabActual: string | null
  kernel: ScriptResult
  tcplab: ScriptResult
}

/** Compares two verdicts of one script (kernel first). */
export function compareVerdicts(k: ScriptVerdict, t: ScriptVerdict): ScriptComparison {
  const make = (comparison: ScriptComparison['comparison'], line: number | null, kernelActual: string | null = null, tcplabActual: string | null = null): ScriptComparison => ({
    script: k.script, stack: 'both', comparison, line, kernelActual, tcplabActual, kernel: verdictJson(k), tcplab: verdictJson(t),
  })
  if (k.result === 'unsupported' || t.result === 'unsupported') return make('unsupported', (t.result === 'unsupported' ? t.line : k.line) ?? null)
  if (k.result === t.result && k.line === t.line && k.message === t.message) return make('same', k.line)
  const lines = [k.line, t.line].filter((l): l is number => l !== null)
  const line = lines.length > 0 ? Math.min(...lines) : null
  // The packet each stack sent (or was sent) at that line, with its time on the script's clock.
  const actual = (v: ScriptVerdict): string | null => {
    const e = line === null ? undefined : v.events.find((x) => x.line === line && x.packet !== undefined)
    return e ? `${secs(e.time)} ${e.packet!.trimEnd()}` : null
  }
  return make('differs', line, actual(k), actual(t))
}

/** Runs every script on the kernel (root) and on tcplab, and prints one comparison per script. */
async function runBoth(cfg: ScriptConfig, io: Io): Promise<number> {
  const problem = kernelTargetProblem()
  if (problem !== undefined) throw usageError(`--stack both runs the kernel side too: ${problem}`)
  if (cfg.pcap !== undefined || cfg.ladder || cfg.diagram !== undefined) throw usageError('--pcap, --ladder and --diagram work with one stack (--stack kernel or tcplab)')
  let failed = false
  const parsed: Array<{ file: string; script?: Script; result: ScriptResult }> = cfg.files.map((file) => ({ file, ...dryRunFile(file, cfg) }))
  const reqs: ChildRequest[] = parsed
    .filter((p) => p.script !== undefined)
    .map((p) => ({ file: p.file, name: p.file, defines: [...cfg.defines], config: { ...runConfigOf(cfg), gatewayIp: cfg.gatewayIp, netmaskIp: cfg.netmaskIp, mtu: cfg.mtu } }))
  const kernel = await runKernelScripts(reqs, () => {})
  let k = 0
  for (const p of parsed) {
    if (!p.script) {
      failed = true
      const r = p.result
      if (cfg.json) io.stdout(JSON.stringify(r))
      else io.stderr(r.line !== null ? `${r.script}:${r.line}:${r.col}: ${r.message}` : `${r.script}: ${r.message}`)
      continue
    }
    const kv = kernel[k++]!
    const tv = await runTcplabScript(p.script, runConfigOf(cfg), undefined, cfg.profile)
    if (kv.result !== 'pass' || tv.result !== 'pass') failed = true
    const c = compareVerdicts(kv, tv)
    if (cfg.json) {
      io.stdout(JSON.stringify(c))
      continue
    }
    const say = (v: ScriptVerdict): string => (v.result === 'pass' ? 'pass' : `${v.result} at line ${v.line ?? '?'}: ${v.message ?? ''}`)
    if (c.comparison === 'same') io.stdout(`${p.file}: same (${kv.result === 'pass' ? 'pass' : `${kv.result} at line ${kv.line}`})`)
    else if (c.comparison === 'unsupported') io.stdout(`${p.file}: unsupported: ${tv.result === 'unsupported' ? `tcplab: ${tv.message}` : `kernel: ${kv.message}`}`)
    else {
      // One line per script (grep-able): both verdicts, then each stack's packet at that line.
      io.stdout(`${p.file}: differs at line ${c.line ?? '?'}: kernel ${say(kv)}; tcplab ${say(tv)} | kernel actual: ${c.kernelActual ?? '(no packet)'} | tcplab actual: ${c.tcplabActual ?? '(no packet)'}`)
    }
  }
  return failed ? 1 : 0
}

/** The `script` command. */
export const scriptCommand: Command = {
  name: 'script',
  usage: 'FILE.pkt… [--stack kernel|tcplab|both] [--profile linux|rfc] [--dry-run] [-D NAME=VALUE]… [--json]',
  summary: 'Run packetdrill scripts (.pkt) against the Linux kernel (root) or tcplab\'s TCP in virtual time.',
  description:
    'With --dry-run each script is parsed and checked as packetdrill parses it: FILE: ok (N events) on\n' +
    'stdout, or FILE:LINE:COL: what was expected and what was found, on stderr. --json prints one object\n' +
    'per script: {"script","stack","result","line","col","message","events":[{"kind","line"}]}. Exit 0 when\n' +
    'every script passes, 1 when one fails, 2 for a usage error. Flags spelled packetdrill\'s way\n' +
    '(--tolerance_usecs, --local_ip…) are accepted too. Without --dry-run each script runs against the\n' +
    'kernel (root): in its own throwaway network namespace, with a TUN device holding the script\'s\n' +
    'addresses (198.18.0.1 → 198.19.2.1; IPv6 2001:2::1 → 2001:2:0:2::1, MTU 1520), real system calls and\n' +
    'the init command\'s sysctls inside it; FILE: ok, or what packetdrill prints on failure. --pcap FILE\n' +
    'records what crossed the TUN (FILE.1, FILE.2… for several scripts); --ladder prints, and --diagram FILE\n' +
    'writes (FILE.N.ext for several), the ladder of the script\'s connection drawn from those packets.\n' +
    '--stack tcplab runs the scripts on tcplab\'s own TCP in virtual time (no root): the clock jumps to the\n' +
    'next packet or timer, blocking calls resume when the stack lets them, sysctl -q net.ipv4.tcp_*=… lines\n' +
    'set tcplab\'s matching settings and any other shell command or setting makes the script unsupported.\n' +
    '--profile picks the TCB profile of the tcplab side: linux (default: Linux\'s option layout, SYN window,\n' +
    'quick-ack mode and CUBIC) or rfc (tcplab\'s own defaults, Reno).\n' +
    '--stack both (root) runs each script on both and prints one line per script: FILE: same (…), FILE:\n' +
    'differs at line N: both verdicts | each stack\'s actual packet there, or FILE: unsupported: …; --json:\n' +
    '{"script","stack":"both","comparison","line","kernelActual","tcplabActual","kernel":{…},"tcplab":{…}}.',
  allowPositionals: true,
  preprocess: dashSpelling,
  options: {
    'dry-run': { type: 'boolean', help: 'parse and check the scripts only' },
    define: { type: 'string', short: 'D', multiple: true, arg: 'NAME=VALUE', help: 'replace the word NAME in the scripts by VALUE' },
    json: { type: 'boolean', help: 'one JSON object per script' },
    stack: { type: 'string', arg: 'kernel|tcplab|both', help: 'the stack under test (default kernel)' },
    profile: { type: 'string', arg: 'linux|rfc', help: "the tcplab target's TCB profile (default linux)" },
    'ip-version': { type: 'string', arg: 'ipv4|ipv6', help: 'address family of the packets' },
    'tolerance-usecs': { type: 'string', arg: 'N', help: 'how far an event may be from its scripted time' },
    'tolerance-percent': { type: 'string', arg: 'N', help: 'timing tolerance as a percentage of the interval' },
    ladder: { type: 'boolean', help: 'print a ladder diagram of each script run' },
    diagram: { type: 'string', arg: 'FILE', help: 'write the ladder to FILE (.svg, .html, .mmd, .md)' },
    pcap: { type: 'string', arg: 'FILE', help: 'write every packet to FILE' },
    mss: { type: 'string', arg: 'N', help: 'segment size of inbound GRO super-segments (data lines longer than N)' },
    mtu: { type: 'string', arg: 'N', help: 'the MTU of the test interface' },
    'local-ip': { type: 'string', arg: 'IP', help: "the stack under test's address" },
    'remote-ip': { type: 'string', arg: 'IP', help: "the script's (remote) address" },
    'gateway-ip': { type: 'string', arg: 'IP', help: 'gateway address of the test network' },
    'netmask-ip': { type: 'string', arg: 'MASK', help: 'netmask of the test network' },
    'bind-port': { type: 'string', arg: 'PORT', help: 'port the scripts bind to' },
    'connect-port': { type: 'string', arg: 'PORT', help: 'port the scripts connect to' },
    'strict-segments': { type: 'boolean', help: 'outbound packets must match segment by segment (no TSO merging)' },
    'non-fatal': { type: 'string', arg: 'packet,syscall', help: 'mismatches of these kinds are reported but do not stop the script' },
    'tcp-ts-tick-usecs': { type: 'string', arg: 'N', help: 'microseconds per TS val tick (0: do not check TS val)' },
    'tcp-ts-ecr-scaled': { type: 'boolean', help: 'TS ecr values in the script are scaled like TS val' },
  },
  async run(args, io) {
    const cfg = scriptConfig(args)
    if (!cfg.dryRun) {
      if (cfg.stack === 'tcplab') return runTcplab(cfg, io)
      if (cfg.stack === 'both') return runBoth(cfg, io)
      return runKernel(cfg, io)
    }
    let failed = false
    for (const file of cfg.files) {
      const { result } = dryRunFile(file, cfg)
      if (result.result !== 'pass') failed = true
      if (cfg.json) io.stdout(JSON.stringify(result))
      else if (result.result === 'pass') io.stdout(`${file}: ok (${result.events.length} events)`)
      else if (result.line !== null) io.stderr(`${file}:${result.line}:${result.col}: ${result.message}`)
      else io.stderr(`${file}: ${result.message}`)
    }
    return failed ? 1 : 0
  },
}
