/**
 * Bench row inspect: `tcplab inspect --json` against `tshark -q -z conv,tcp`, both as processes reading
 * the same generated capture (1 million packets, 20,000 with --quick), in packets per second of wall time
 * (process start to exit, so both pay their start-up). Each run's output is checked: tcplab must report
 * every packet and connection, tshark must list every conversation, or the row fails.
 *
 * The capture (generateCapture) is classic pcap, Ethernet, IPv4 in the benchmarking range 198.18.0.0/15
 * (clients 198.19.x.y, the server 198.18.0.1 port 443): connections of 100 packets each — a
 * Linux-style SYN (MSS, SACK-permitted, timestamps, window scale), SYN+ACK, ACK, 46 requests of 200 bytes
 * each acknowledged, one 200-byte answer acknowledged, and a FIN exchange — 64 of them interleaved at a
 * time, 10 µs apart, with correct checksums. It lives in os.tmpdir() and is deleted on every path.
 */
import { spawn } from 'node:child_process'
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { emitTcpPacket } from '../../../net/packet.js'
import { LINKTYPE_ETHERNET, PcapWriter } from '../../../net/pcap.js'
import type { TcpOption } from '../../../tcp/options.js'
import { synOptions as linuxSynOptions } from '../../../tcp/optlayout.js'
import { TcpFlags, type TcpRepr } from '../../../tcp/segment.js'
import { seq } from '../../../tcp/seq.js'
import type { BenchContext, BenchModule, RowMeasurement, RowSpec } from '../harness.js'
import { figureOf } from './handshake.js'

/** Row 6: packets per second over one capture. */
export const INSPECT_ROWS: RowSpec[] = [
  {
    name: 'inspect',
    unit: 'packets/s',
    better: 'higher',
    baselineName: 'tshark -q -z conv,tcp',
    targets: [{ on: 'ratio', value: 3 }],
  },
]

/** Packets of every complete generated connection. */
export const PACKETS_PER_CONNECTION = 100
/** Connections interleaved at a time in the generated capture. */
export const INTERLEAVE = 64
/** Payload bytes of each request and of the answer. */
const PAYLOAD = 200
/** Requests per connection: 3 handshake + 2×46 + 2 (answer, its ACK) + 3 (FIN, FIN, ACK) = 100. */
const REQUESTS = 46

const { SYN, ACK, FIN, PSH } = TcpFlags
const SERVER_ADDR = new Uint8Array([198, 18, 0, 1])
const CLIENT_MAC = [0x02, 0, 0, 0, 0, 0x0c]
const SERVER_MAC = [0x02, 0, 0, 0, 0, 0x05]
/** Capture start: 2024-01-01T00:00:00Z. */
const START_NS = 1_704_067_200n * 1_000_000_000n

/** What {@link generateCapture} wrote. */
export interface GeneratedCapture {
  packets: number
  /** Connections with at least a SYN (the last one may be cut short). */
  connections: number
  bytes: number
}

/** One connection of the generated capture: its endpoints and where it is in its 100-packet script. */
interface GenConn {
  client: Uint8Array
  port: number
  step: number
  cseq: number
  sseq: number
  ts: number
}

/** The client address of connection `k`: one of 64,000 hosts in 198.19.0.0/16 (benchmarking range, RFC 2544 / RFC 6890). */
function clientOf(k: number): Uint8Array {
  return new Uint8Array([198, 19, Math.floor(k / 250) % 256, 1 + (k % 250)])
}

const EMPTY = new Uint8Array(0)
const DATA = new Uint8Array(PAYLOAD).fill(0x61)

/** The options of a SYN or SYN+ACK as Linux sends them (optlayout's 'linux' profile). */
function synOptions(ts: number, echo: number): TcpOption[] {
  return linuxSynOptions('linux', { mss: 1460, sackPermitted: true, tsVal: ts, tsEcr: echo, wscale: 7 })
}

/**
 * Fills `repr` and `ip` with packet `c.step` of connection `c` and advances it. Returns false once the
 * script is over.
 */
function nextPacket(c: GenConn, repr: TcpRepr, ip: { src: Uint8Array; dst: Uint8Array }): boolean {
  const s = c.step++
  if (s >= PACKETS_PER_CONNECTION) return false
  const ts = c.ts + s
  const fromClient = s === 0 || s === 2 || (s >= 3 && s < 3 + 2 * REQUESTS && (s - 3) % 2 === 0) || s === 96 || s === 97 || s === 99
  ip.src = fromClient ? c.client : SERVER_ADDR
  ip.dst = fromClient ? SERVER_ADDR : c.client
  repr.srcPort = fromClient ? c.port : 443
  repr.dstPort = fromClient ? 443 : c.port
  repr.window = fromClient ? 502 : 509
  repr.payload = EMPTY
  repr.options = [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'timestamp', value: ts, echo: ts - 1 }]
  const mine = fromClient ? c.cseq : c.sseq
  const theirs = fromClient ? c.sseq : c.cseq
  repr.seq = seq(mine)
  repr.ack = seq(theirs)
  if (s === 0) {
    repr.flags = SYN
    repr.ack = seq(0)
    repr.window = 64240
    repr.options = synOptions(ts, 0)
    c.cseq = (c.cseq + 1) >>> 0
  } else if (s === 1) {
    repr.flags = SYN | ACK
    repr.window = 65160
    repr.options = synOptions(ts, ts - 1)
    c.sseq = (c.sseq + 1) >>> 0
  } else if (s === 2) {
    repr.flags = ACK
  } else if (s < 3 + 2 * REQUESTS) {
    if ((s - 3) % 2 === 0) {
      repr.flags = PSH | ACK
      repr.payload = DATA
      c.cseq = (c.cseq + PAYLOAD) >>> 0
    } else repr.flags = ACK
  } else if (s === 95) {
    repr.flags = PSH | ACK
    repr.payload = DATA
    c.sseq = (c.sseq + PAYLOAD) >>> 0
  } else if (s === 96) {
    repr.flags = ACK
  } else if (s === 97) {
    repr.flags = FIN | ACK
    c.cseq = (c.cseq + 1) >>> 0
  } else if (s === 98) {
    repr.flags = FIN | ACK
    c.sseq = (c.sseq + 1) >>> 0
  } else {
    repr.flags = ACK
  }
  return true
}

/**
 * Writes a capture of `packets` packets to `path` (see the module comment): `ceil(packets / 100)`
 * connections, all complete when `packets` is a multiple of 100 (otherwise those still open at the end
 * are cut short). Deterministic: the same `packets` always gives the same bytes.
 */
export function generateCapture(path: string, packets: number): GeneratedCapture {
  const fd = openSync(path, 'w')
  const out = new Uint8Array(1 << 20)
  let used = 0
  let bytes = 0
  const flushOut = (): void => {
    for (let off = 0; off < used; ) off += writeSync(fd, out, off, used - off)
    used = 0
  }
  try {
    const w = new PcapWriter((chunk) => {
      if (used + chunk.length > out.length) flushOut()
      out.set(chunk, used)
      used += chunk.length
      bytes += chunk.length
    }, { linkType: LINKTYPE_ETHERNET })
    const frame = new Uint8Array(14 + 60 + 60 + PAYLOAD)
    const repr: TcpRepr = { srcPort: 0, dstPort: 0, seq: seq(0), ack: seq(0), flags: 0, window: 0, urgent: 0, options: [], payload: EMPTY }
    const ip = { src: SERVER_ADDR, dst: SERVER_ADDR }
    const active: GenConn[] = []
    let opened = 0
    const open = (): void => {
      const k = opened++
      // Arbitrary but fixed ISNs and timestamp clocks per connection.
      active.push({ client: clientOf(k), port: 32768 + (k % 28000), step: 0, cseq: Math.imul(k + 1, 0x9e3779b1) >>> 0, sseq: Math.imul(k + 7, 0x85ebca6b) >>> 0, ts: 1000 + k * 7 })
    }
    let written = 0
    let t = START_NS
    let i = 0
    while (written < packets) {
      while (active.length < INTERLEAVE && (opened * PACKETS_PER_CONNECTION < packets)) open()
      if (i >= active.length) i = 0
      const c = active[i]
      if (!nextPacket(c, repr, ip)) {
        active.splice(i, 1)
        continue
      }
      const fromClient = ip.src === c.client
      frame.set(fromClient ? SERVER_MAC : CLIENT_MAC, 0)
      frame.set(fromClient ? CLIENT_MAC : SERVER_MAC, 6)
      frame[12] = 0x08
      frame[13] = 0x00
      const n = emitTcpPacket({ src: ip.src, dst: ip.dst, id: written & 0xffff }, repr, frame, 14)
      w.write(frame.subarray(0, 14 + n), t)
      t += 10_000n
      written++
      i++
    }
    flushOut()
    return { packets: written, connections: opened, bytes }
  } finally {
    closeSync(fd)
  }
}

/** The compiled CLI (`dist/lab/cli.js`), whether this module runs from dist/ or src/. */
export function cliScript(): string {
  const p = fileURLToPath(new URL('../../cli.js', import.meta.url))
  return p.replace(/([/\\])src([/\\]lab[/\\]cli\.js)$/, '$1dist$2')
}

/** What one timed process run printed. */
interface Timed {
  ns: number
  stdout: string
}

/** Runs a command to completion, timing it from spawn to exit; rejects on a non-zero exit. */
function timedRun(argv: string[], timeoutMs: number): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    let err = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.stdout.on('data', (d: Buffer) => out.push(d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-2000)))
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on('close', (code, signal) => {
      const ns = Number(process.hrtime.bigint() - t0)
      clearTimeout(timer)
      if (code !== 0) {
        const why = err.trim().split('\n').filter((l) => !/running as user .root/i.test(l)).pop() ?? ''
        reject(new Error(`${argv[0] === process.execPath ? 'tcplab inspect' : argv[0]} exited ${code ?? signal}${why ? `: ${why}` : ''}`))
      } else resolve({ ns, stdout: Buffer.concat(out).toString('utf8') })
    })
  })
}

/** The `{"summary":…}` line of `tcplab inspect --json`: packets and connections it reported. */
export function inspectSummaryOf(stdout: string): { packets: number; connections: number } | undefined {
  const lines = stdout.trimEnd().split('\n')
  try {
    const s = (JSON.parse(lines[lines.length - 1]) as { summary?: { packets: number; connections: number } }).summary
    return s === undefined ? undefined : { packets: s.packets, connections: s.connections }
  } catch {
    return undefined
  }
}

/** Conversations listed by `tshark -q -z conv,tcp` (rows with `<->`). */
export function tsharkConversationsOf(stdout: string): number {
  let n = 0
  for (const l of stdout.split('\n')) if (l.includes('<->')) n++
  return n
}

/** Where tshark is, or undefined (the row is then skipped). */
export function findTshark(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir !== '' && existsSync(join(dir, 'tshark'))) return join(dir, 'tshark')
  }
  return undefined
}

/** How much the inspect row reads. */
export interface InspectSizes {
  packets: number
  reps: number
}

/** Full run: 1 million packets, 3 timed runs each after one untimed run each. */
export const FULL_INSPECT_SIZES: InspectSizes = { packets: 1_000_000, reps: 3 }
/** `--quick`: 20,000 packets. */
export const QUICK_INSPECT_SIZES: InspectSizes = { packets: 20_000, reps: 3 }

/** Options of the inspect module. */
export interface InspectModuleOptions {
  sizes?: InspectSizes
  /** tshark's path; default: found on PATH. `null`: behave as if it were missing. */
  tshark?: string | null
  /** Called with the capture's path once written (tests check it is deleted afterwards). */
  onCapture?: (path: string) => void
}

/** The inspect row as a module. */
export function inspectModule(opts: InspectModuleOptions = {}): BenchModule {
  return {
    id: 'inspect',
    rows: INSPECT_ROWS,
    async run(ctx: BenchContext): Promise<RowMeasurement[]> {
      const tshark = opts.tshark === null ? undefined : (opts.tshark ?? findTshark())
      const skip = (why: string): RowMeasurement[] => [{ row: 'inspect', tcplab: null, baseline: null, skipped: why }]
      if (tshark === undefined) return skip('tshark not installed (apt-get install tshark)')
      const cli = cliScript()
      if (!existsSync(cli)) return skip(`not built: ${cli} is missing (npm run build)`)
      const sizes = opts.sizes ?? (ctx.quick ? QUICK_INSPECT_SIZES : FULL_INSPECT_SIZES)
      const dir = mkdtempSync(join(tmpdir(), 'tcplab-bench-'))
      try {
        const file = join(dir, 'inspect.pcap')
        ctx.progress(`bench: inspect: writing a ${sizes.packets}-packet capture…`)
        const cap = generateCapture(file, sizes.packets)
        opts.onCapture?.(file)
        const timeout = ctx.quick ? 60_000 : 600_000
        const ours = async (): Promise<number> => {
          const r = await timedRun([process.execPath, cli, 'inspect', file, '--json'], timeout)
          const s = inspectSummaryOf(r.stdout)
          if (s?.packets !== cap.packets || s.connections !== cap.connections) {
            throw new Error(`tcplab inspect reported ${JSON.stringify(s)}, expected ${cap.packets} packets in ${cap.connections} connections`)
          }
          return r.ns
        }
        const theirs = async (): Promise<number> => {
          const r = await timedRun([tshark, '-n', '-q', '-z', 'conv,tcp', '-r', file], timeout)
          const n = tsharkConversationsOf(r.stdout)
          if (n !== cap.connections) throw new Error(`tshark listed ${n} conversations, expected ${cap.connections}`)
          return r.ns
        }
        ctx.progress('bench: inspect: tcplab inspect vs tshark…')
        // One untimed run each: the file is then in the page cache for both.
        await ours()
        await theirs()
        const t: number[] = []
        const b: number[] = []
        for (let rep = 0; rep < sizes.reps; rep++) {
          const pair = rep % 2 === 0 ? [ours, theirs] : [theirs, ours]
          for (const f of pair) {
            const ns = await f()
            ;(f === ours ? t : b).push((cap.packets * 1e9) / ns)
          }
        }
        return [
          {
            row: 'inspect',
            tcplab: figureOf(t),
            baseline: figureOf(b),
            note: `${cap.packets} packets (${cap.connections} connections, ${(cap.bytes / 1e6).toFixed(0)} MB), wall time of each process including start-up; tcplab is 'tcplab inspect --json', tshark runs with -n`,
          },
        ]
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}
