/**
 * Bench rows handshake-latency-p50, handshake-latency-p99 and handshake-rate: tcplab's userland active
 * open over a raw socket against `net.connect` (the kernel's TCP), both from lab side A to the same
 * node:net server in side B across the veth.
 *
 * A Node process cannot enter a namespace, so the measuring runs in a child started in side A
 * (child/handshake.ts) that times both sides with one clock; this module brings the lab up, sets the
 * namespaces' sysctls, starts the server (child/server.ts), runs the child and tears everything down on
 * every path. It also holds the lab plumbing row 5 (rows/bulk.ts) shares.
 *
 * Port plan inside side A: the kernel's ephemeral range is narrowed to {@link KERNEL_PORTS}, tcplab's
 * active opens use {@link TCPLAB_PORTS}, and the one nft rule that drops the kernel's RSTs covers exactly
 * tcplab's range — the kernel's own connections are never touched by it.
 */
import { spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { loadCap, loadPacketTx, loadRawSocket, hasCapability, hasRawPrivilege, Capability } from '../../../net/native.js'
import { netnsUp, type Lab, type LabSideName } from '../../../net/netns.js'
import type { ChildLine } from '../child/common.js'
import { median, quantile, spreadPct, type BenchContext, type BenchModule, type Figure, type RowMeasurement, type RowSpec } from '../harness.js'

/** The reason printed when the lab rows cannot run for lack of privilege. */
export const NEEDS_ROOT = 'needs root (network namespaces and raw sockets)'

/** tcplab's ephemeral ports in side A (the range guard covers exactly these). */
export const TCPLAB_PORTS: [number, number] = [40000, 65535]
/** The kernel's ephemeral ports in side A (net.ipv4.ip_local_port_range), apart from tcplab's. */
export const KERNEL_PORTS: [number, number] = [10000, 39999]
/** The kernel server's port in side B. */
export const SERVER_PORT = 9000
/** Listen backlog of the server, and somaxconn / tcp_max_syn_backlog in side B. */
export const SERVER_BACKLOG = 65535

/** Row 3: sequential handshakes over the veth, tcplab's active open vs net.connect, p50 and p99. */
export const HANDSHAKE_LATENCY_ROWS: RowSpec[] = [
  {
    name: 'handshake-latency-p50',
    unit: 's',
    better: 'lower',
    baselineName: 'node:net connect (kernel)',
    targets: [{ on: 'ratio', value: 1 }],
  },
  {
    name: 'handshake-latency-p99',
    unit: 's',
    better: 'lower',
    baselineName: 'node:net connect (kernel)',
    targets: [],
  },
]

/**
 * Row 4: connections established per second with 1,000 in flight; `handshake-rate` on the raw socket (as
 * rows 3 and 5), `handshake-rate-pcap` on the capture device (an address and MAC of tcplab's own, so the
 * kernel of side A drops the replies at once instead of building an RST for each that the guard drops).
 */
export const HANDSHAKE_RATE_ROWS: RowSpec[] = ['handshake-rate', 'handshake-rate-pcap'].map((name) => ({
  name,
  unit: 'conn/s',
  better: 'higher',
  baselineName: 'node:net connect (kernel)',
  targets: [{ on: 'ratio', value: 3 }],
}))

/** tcplab's device in a lab row. */
export type BenchVia = 'raw' | 'pcap' | 'pcap-gso'

/** Why the pcap variant of a row cannot run here (the `cap` addon missing), or undefined. */
export function pcapSkipReason(): string | undefined {
  try {
    loadCap()
    return undefined
  } catch {
    return 'cap addon not built (apt-get install libpcap-dev, then npm rebuild cap)'
  }
}

/** Why a row's `via` cannot run here (an addon missing), or undefined: pcap needs `cap`, gso also tcplab's own. */
export function viaSkipReason(via: BenchVia): string | undefined {
  if (via === 'raw') return undefined
  const cap = pcapSkipReason()
  if (cap !== undefined || via === 'pcap') return cap
  try {
    loadPacketTx()
    return undefined
  } catch {
    return "tcplab-packet-tx addon not built (needs python3, make and g++: npm install)"
  }
}

/**
 * The options a lab child needs for tcplab's device: on the raw socket, side A's kernel address (the range
 * guard covers tcplab's ports); on pcap, side A's lab-owned address and MAC on the veth, and no guard.
 */
export function deviceOptions(b: BenchLab, via: BenchVia): { via: 'raw' | 'pcap'; local: string; iface?: string; mac?: string; gso?: boolean } {
  if (via === 'raw') return { via, local: b.local }
  const pcap = { via: 'pcap' as const, local: b.lab.a.owned.ipv4, iface: b.lab.a.iface, mac: b.lab.a.owned.mac }
  return via === 'pcap-gso' ? { ...pcap, gso: true } : pcap
}

// ---------------------------------------------------------------------------------------------------
// Lab plumbing (shared with rows/bulk.ts)

/**
 * The absolute path of a compiled namespace child, `dist/lab/bench/child/<name>.js`, whether this module
 * runs from dist/ (the CLI) or from src/ (vitest): children always run compiled.
 */
export function childScript(name: string): string {
  const p = fileURLToPath(new URL(`../child/${name}.js`, import.meta.url))
  return p.replace(/([/\\])src([/\\]lab[/\\]bench[/\\]child[/\\])/, '$1dist$2')
}

/** What the lab rows need; injectable so tests can take the paths a machine without root takes. */
export interface LabModuleOptions {
  /** Whether this process may create namespaces and open raw sockets (default: the capability checks). */
  privileged?: () => boolean
  /** Called with the lab once it is up (tests check it is gone afterwards). */
  onLab?: (lab: Lab) => void
}

/** Whether the process has CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_NET_RAW (root has all three). */
export function labPrivileged(): boolean {
  return hasCapability(Capability.CAP_SYS_ADMIN) && hasCapability(Capability.CAP_NET_ADMIN) && hasRawPrivilege()
}

/** Why the lab rows cannot run here (the first missing thing), or undefined when they can. */
export function labSkipReason(scripts: string[], privileged: () => boolean): string | undefined {
  if (!privileged()) return NEEDS_ROOT
  for (const s of scripts) {
    if (!existsSync(s)) return `not built: ${s} is missing (npm run build compiles the namespace children)`
  }
  try {
    loadRawSocket()
  } catch {
    return 'raw-socket addon not built (npm rebuild raw-socket)'
  }
  if (spawnSync('nft', ['--version']).status !== 0) return 'needs nft (apt-get install nftables) for the RST guard'
  return undefined
}

export type { ChildLine }

/** Splits stdout of a child into its JSON lines (other lines are ignored). */
export function parseChildLines(text: string): ChildLine[] {
  const out: ChildLine[] = []
  for (const l of text.split('\n')) {
    if (!l.startsWith('{')) continue
    try {
      const v = JSON.parse(l) as ChildLine
      if (typeof v.type === 'string') out.push(v)
    } catch {
      // not a protocol line
    }
  }
  return out
}

/**
 * Runs a child script with Node in a lab side and resolves with its JSON lines once it printed "done"
 * and exited 0. Rejects with the child's own error line, its last stderr line, or a timeout (the child
 * is killed; its guard table goes with the namespace at the latest).
 */
export function runLabChild(lab: Lab, side: LabSideName, script: string, options: object, timeoutMs: number, onLine?: (l: ChildLine) => void): Promise<ChildLine[]> {
  return new Promise((resolve, reject) => {
    const child = lab.spawn(side, [process.execPath, script, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'pipe'] })
    const lines: ChildLine[] = []
    let buf = ''
    let err = ''
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGTERM')
      setTimeout(() => child.kill('SIGKILL'), 2000).unref()
    }, timeoutMs)
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d
      let i: number
      while ((i = buf.indexOf('\n')) >= 0) {
        const got = parseChildLines(buf.slice(0, i))
        buf = buf.slice(i + 1)
        for (const l of got) {
          lines.push(l)
          onLine?.(l)
        }
      }
    })
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err = (err + d).slice(-4000)
    })
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const name = script.split(/[/\\]/).pop()
      const failed = lines.find((l) => l.type === 'error')
      if (timedOut) reject(new Error(`${name} timed out after ${timeoutMs / 1000} s`))
      else if (failed !== undefined) reject(new Error(`${name}: ${String(failed.message)}`))
      else if (code !== 0 || !lines.some((l) => l.type === 'done')) {
        const last = err.trim().split('\n').filter(Boolean).pop() ?? ''
        reject(new Error(`${name} exited ${code ?? signal}${last ? `: ${last}` : ''}`))
      } else resolve(lines)
    })
  })
}

/** A running lab with the kernel server up in side B. */
export interface BenchLab {
  lab: Lab
  /** Side A's address (tcplab's and the node:net client's). */
  local: string
  /** The server: side B's address and port. */
  server: string
  port: number
  /** A table name unique to this run for the range guard (`tcplab_bench<id>`). */
  table: string
}

/** Waits for the server's "listening" line; rejects if it fails, exits first, or says nothing for 15 s. */
function serverReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = ''
    let err = ''
    const timer = setTimeout(() => reject(new Error('kernel server: not listening after 15 s')), 15_000)
    child.once('exit', () => clearTimeout(timer))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d))
    const onData = (d: string): void => {
      buf += d
      for (const l of parseChildLines(buf)) {
        if (l.type === 'listening') {
          clearTimeout(timer)
          child.stdout!.off('data', onData)
          child.stdout!.resume()
          resolve()
          return
        }
        if (l.type === 'error') reject(new Error(`kernel server: ${String(l.message)}`))
      }
    }
    child.stdout!.setEncoding('utf8').on('data', onData)
    child.once('exit', (code) => reject(new Error(`kernel server exited ${code}: ${err.trim().split('\n').pop() ?? ''}`)))
  })
}

/**
 * Brings a lab up, tunes its namespaces, starts the kernel server in side B (`serverMode`, see
 * child/server.ts), runs `fn`, and always stops the server and removes the lab (the lab's own cleanup also
 * covers signals and crashes).
 *
 * Side B: somaxconn and tcp_max_syn_backlog raised so 1,000 handshakes in flight never overflow the
 * accept or SYN queue (an overflow costs a 1 s SYN retransmission and would measure the queue, not the
 * stacks). Side A: the kernel's ephemeral range moved off tcplab's. All three are per-namespace sysctls:
 * the host's are untouched.
 */
export async function withBenchLab<T>(opts: LabModuleOptions, serverMode: 'sink' | 'close', fn: (b: BenchLab) => Promise<T>): Promise<T> {
  const lab = await netnsUp()
  let server: ChildProcess | undefined
  try {
    opts.onLab?.(lab)
    await lab.exec('b', ['sysctl', '-q', '-w', `net.core.somaxconn=${SERVER_BACKLOG}`, `net.ipv4.tcp_max_syn_backlog=${SERVER_BACKLOG}`])
    await lab.exec('a', ['sysctl', '-q', '-w', `net.ipv4.ip_local_port_range=${KERNEL_PORTS[0]} ${KERNEL_PORTS[1]}`])
    server = lab.spawn('b', [process.execPath, childScript('server'), JSON.stringify({ host: lab.b.ipv4, port: SERVER_PORT, backlog: SERVER_BACKLOG, mode: serverMode })], {
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    await serverReady(server)
    return await fn({ lab, local: lab.a.ipv4, server: lab.b.ipv4, port: SERVER_PORT, table: `tcplab_bench${lab.id}` })
  } finally {
    server?.stdin?.end()
    server?.kill('SIGTERM')
    await lab.down()
  }
}

/** A figure from per-block values: their median and spread. */
export function figureOf(values: number[]): Figure | null {
  return values.length === 0 ? null : { value: median(values), spread: spreadPct(values), reps: values.length }
}

/** The blocks of one side, in repetition order. */
export function blocksOf(lines: ChildLine[], side: 'tcplab' | 'kernel'): ChildLine[] {
  return lines.filter((l) => l.type === 'block' && l.side === side)
}

// ---------------------------------------------------------------------------------------------------
// Sizes

/** How much each handshake row does. */
export interface HandshakeSizes {
  latency: { reps: number; count: number; warmup: number; blockWarmup: number }
  rate: { reps: number; count: number; concurrency: number; warmup: number }
}

/**
 * Full run: 3,000 unmeasured handshakes per side, then 2,500 measured sequential ones per side (10 blocks
 * of 250, each after 20 unmeasured, so the sides interleave finely); 2,000 unmeasured, then 5 × 20,000 at
 * 1,000 in flight.
 */
export const FULL_HANDSHAKE_SIZES: HandshakeSizes = {
  latency: { reps: 10, count: 250, warmup: 3000, blockWarmup: 20 },
  rate: { reps: 5, count: 20_000, concurrency: 1000, warmup: 2000 },
}

/** `--quick`: a few handshakes per block, for real, to prove the path works. */
export const QUICK_HANDSHAKE_SIZES: HandshakeSizes = {
  latency: { reps: 3, count: 10, warmup: 5, blockWarmup: 1 },
  rate: { reps: 3, count: 40, concurrency: 10, warmup: 10 },
}

/** Options of the handshake module. */
export interface HandshakeModuleOptions extends LabModuleOptions {
  sizes?: HandshakeSizes
}

/** Runs the handshake child in `mode` and returns its lines. */
export function runHandshakeChild(b: BenchLab, mode: 'latency' | 'rate', sizes: HandshakeSizes, quick: boolean, via: BenchVia = 'raw'): Promise<ChildLine[]> {
  const s = mode === 'latency' ? { ...sizes.latency, concurrency: 1 } : sizes.rate
  const opts = { mode, server: b.server, port: b.port, ports: TCPLAB_PORTS, table: b.table, ...deviceOptions(b, via), ...s }
  return runLabChild(b.lab, 'a', childScript('handshake'), opts, quick ? 60_000 : 600_000)
}

/**
 * A latency figure in seconds: the q-quantile of every handshake of one side (all blocks pooled, so p99
 * stands on thousands of samples), with the spread of the blocks' own q-quantiles to show the noise.
 */
export function latencyFigure(blocks: ChildLine[], q: number): Figure | null {
  if (blocks.length === 0) return null
  const pooled = blocks.flatMap((b) => b.samplesNs as number[])
  const per = blocks.map((b) => quantile(b.samplesNs as number[], q))
  return { value: quantile(pooled, q) / 1e9, spread: spreadPct(per), reps: blocks.length }
}

const LATENCY_NOTE = (s: HandshakeSizes['latency']): string =>
  `${s.reps}×${s.count} sequential handshakes per side after ${s.warmup} unmeasured, each closed with RST; SYN sent → ESTABLISHED in one process and clock (net.connect: call → 'connect'); quantile of all handshakes, spread of the per-block quantiles`

/** The handshake rows (3 and 4) as one module: one lab, one child per selected mode. */
export function handshakeModule(opts: HandshakeModuleOptions = {}): BenchModule {
  const privileged = opts.privileged ?? labPrivileged
  return {
    id: 'handshake',
    rows: [...HANDSHAKE_LATENCY_ROWS, ...HANDSHAKE_RATE_ROWS],
    async run(ctx: BenchContext, selected: readonly RowSpec[]): Promise<RowMeasurement[]> {
      const skip = labSkipReason([childScript('handshake'), childScript('server')], privileged)
      if (skip !== undefined) return selected.map((s) => ({ row: s.name, tcplab: null, baseline: null, skipped: skip }))
      const sizes = opts.sizes ?? (ctx.quick ? QUICK_HANDSHAKE_SIZES : FULL_HANDSHAKE_SIZES)
      const want = new Set(selected.map((s) => s.name))
      const out: RowMeasurement[] = []
      // The server closes each connection at once: the handshake rows measure handshakes, and a server that
      // also set up reading for every connection would be the bottleneck of the rate row sooner.
      await withBenchLab(opts, 'close', async (b) => {
        if (want.has('handshake-latency-p50') || want.has('handshake-latency-p99')) {
          ctx.progress('bench: handshake latency (namespace lab)…')
          const lines = await runHandshakeChild(b, 'latency', sizes, ctx.quick)
          const t = blocksOf(lines, 'tcplab')
          const k = blocksOf(lines, 'kernel')
          for (const [row, q] of [['handshake-latency-p50', 0.5], ['handshake-latency-p99', 0.99]] as const) {
            if (!want.has(row)) continue
            out.push({ row, tcplab: latencyFigure(t, q), baseline: latencyFigure(k, q), note: LATENCY_NOTE(sizes.latency) })
          }
        }
        for (const [row, via] of [['handshake-rate', 'raw'], ['handshake-rate-pcap', 'pcap']] as const) {
          if (!want.has(row)) continue
          const skipPcap = viaSkipReason(via)
          if (skipPcap !== undefined) {
            out.push({ row, tcplab: null, baseline: null, skipped: skipPcap })
            continue
          }
          ctx.progress(`bench: handshake rate over ${via} (namespace lab)…`)
          const lines = await runHandshakeChild(b, 'rate', sizes, ctx.quick, via)
          const per = (bs: ChildLine[]): number[] => bs.map((x) => x.perSecond as number)
          const r = sizes.rate
          out.push({
            row,
            tcplab: figureOf(per(blocksOf(lines, 'tcplab'))),
            baseline: figureOf(per(blocksOf(lines, 'kernel'))),
            note: `${r.concurrency} in flight, ${r.reps}×${r.count} handshakes per side, each reset once established; tcplab over ${via === 'raw' ? 'a raw socket' : 'libpcap with its own address and MAC'}`,
          })
        }
      })
      return out
    },
  }
}
