/**
 * Bench row codec-syn: encode + decode of a Linux-style SYN (MSS, SACK-permitted, timestamps, NOP, window
 * scale; RFC 9293 §3.1, RFC 7323, RFC 2018), in segments per second. tcplab's side is emitTcp into a reused
 * buffer (checksum computed over the IPv4 pseudo-header) then parseTcp of those bytes (checksum verified).
 * The baseline is scapy building and dissecting the same segment in a python3 subprocess, when
 * /usr/bin/python3 has scapy; the target (3 M/s) is on tcplab's own figure, so the row is judged either way.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { PseudoHeader } from '../../../tcp/checksum.js'
import { emitTcp, parseTcp, TcpFlags, type TcpRepr } from '../../../tcp/segment.js'
import { seq } from '../../../tcp/seq.js'
import { measureRates, median, spreadPct, type BenchModule, type RowSpec, type TimingOptions } from '../harness.js'

/** The python that may have scapy (the system one: scapy is an apt package, not an npm one). */
export const DEFAULT_PYTHON = '/usr/bin/python3'

/** The row spec. */
export const CODEC_ROWS: RowSpec[] = [
  {
    name: 'codec-syn',
    unit: 'segments/s',
    better: 'higher',
    baselineName: 'scapy build+dissect',
    targets: [{ on: 'tcplab', value: 3e6 }],
  },
]

/** The pseudo-header of the benchmark SYN: 10.0.0.1 → 10.0.0.2. */
export const SYN_PSEUDO: PseudoHeader = { src: new Uint8Array([10, 0, 0, 1]), dst: new Uint8Array([10, 0, 0, 2]) }

/** The SYN that Linux sends (option order as on the wire), the same one test/lab/cli.test.ts crafts. */
export function benchSyn(): TcpRepr {
  return {
    srcPort: 40000,
    dstPort: 80,
    seq: seq(1),
    ack: seq(0),
    flags: TcpFlags.SYN,
    window: 65535,
    urgent: 0,
    options: [
      { kind: 'mss', value: 1460 },
      { kind: 'sackPermitted' },
      { kind: 'timestamp', value: 1, echo: 0 },
      { kind: 'nop' },
      { kind: 'wscale', shift: 7 },
    ],
    payload: new Uint8Array(0),
  }
}

/** The benchmark SYN's 40 bytes as tcplab emits them (the scapy side checks it builds the same). */
export function benchSynBytes(): Uint8Array {
  const buf = new Uint8Array(60)
  return buf.slice(0, emitTcp(benchSyn(), buf, 0, SYN_PSEUDO))
}

/**
 * n encode+decode round trips of `repr` through one reused buffer. The sink mixes in the parsed checksum
 * and option count so the decode cannot be dropped; nothing here allocates but what parseTcp returns.
 */
export function codecLoop(repr: TcpRepr, buf: Uint8Array, n: number): number {
  let s = 0
  for (let i = 0; i < n; i++) {
    const len = emitTcp(repr, buf, 0, SYN_PSEUDO)
    const p = parseTcp(buf.subarray(0, len), SYN_PSEUDO)
    s = (s + p.checksum + p.options.length + (p.checksumOk ? 1 : 0)) | 0
  }
  return s
}

/**
 * The scapy side, run as `python3 -c SCRIPT JSON`. Builds IP/TCP (scapy computes the TCP checksum only
 * under an IP layer) and dissects the TCP part; timing mirrors harness.measureRates: calibrate, warm up,
 * then `reps` timed repetitions. Prints one JSON object; exit 3 when scapy cannot be imported.
 */
export const SCAPY_SCRIPT = String.raw`
import json, sys, time
try:
    import logging
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    from scapy.layers.inet import IP, TCP
    from scapy.compat import raw
    import scapy
except Exception as e:
    print(json.dumps({"error": "no-scapy", "message": str(e)}))
    sys.exit(3)
cfg = json.loads(sys.argv[1])
OPTS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)]
def once():
    b = raw(IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=40000, dport=80, seq=1, ack=0, flags="S", window=65535, options=OPTS))
    t = TCP(b[20:])
    return t.chksum
def body(n):
    s = 0
    for _ in range(n):
        s += once()
    return s
first = raw(IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=40000, dport=80, seq=1, ack=0, flags="S", window=65535, options=OPTS))[20:]
if first.hex() != cfg["expect"]:
    print(json.dumps({"error": "mismatch", "message": "scapy built " + first.hex() + ", tcplab " + cfg["expect"]}))
    sys.exit(0)
def timed(n):
    t0 = time.perf_counter_ns()
    body(n)
    return max(1, time.perf_counter_ns() - t0)
goal = cfg["repMs"] * 1e6
n = 1
while True:
    t = timed(n)
    if t >= goal / 8:
        n = max(1, round(n * goal / t))
        break
    n *= 2
until = time.perf_counter_ns() + cfg["warmupMs"] * 1e6
while True:
    timed(n)
    if time.perf_counter_ns() >= until:
        break
rates = [n * 1e9 / timed(n) for _ in range(cfg["reps"])]
print(json.dumps({"rates": rates, "version": scapy.VERSION}))
`

/** What the scapy subprocess reported: per-repetition rates, or why there are none. */
export type ScapyResult = { rates: number[]; version: string } | { missing: string } | { failed: string }

/** Runs the scapy side; never throws (a missing python or scapy is a result, not an error). */
export function runScapy(python: string, expectHex: string, timing: TimingOptions): Promise<ScapyResult> {
  if (!existsSync(python)) return Promise.resolve({ missing: `${python} not found` })
  return new Promise((resolve) => {
    const child = spawn(python, ['-c', SCAPY_SCRIPT, JSON.stringify({ expect: expectHex, ...timing })], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    child.on('error', (e) => resolve({ failed: `${python}: ${e.message}` }))
    child.on('close', (code) => {
      let j: { rates?: number[]; version?: string; error?: string; message?: string } | undefined
      try {
        j = JSON.parse(out.trim().split('\n').pop() ?? '')
      } catch {
        j = undefined
      }
      if (j?.error === 'no-scapy') resolve({ missing: `${python} has no scapy (apt-get install python3-scapy)` })
      else if (j?.error !== undefined) resolve({ failed: `scapy: ${j.message ?? j.error}` })
      else if (code === 0 && Array.isArray(j?.rates) && j.rates.length > 0) resolve({ rates: j.rates, version: j.version ?? '?' })
      else resolve({ failed: `scapy run exited ${code}: ${(err.trim().split('\n').pop() ?? '').slice(0, 200)}` })
    })
  })
}

/** Options of the codec module. */
export interface CodecModuleOptions {
  /** The interpreter for the scapy baseline; default /usr/bin/python3. */
  python?: string
}

/** The codec row as a module. */
export function codecModule(opts: CodecModuleOptions = {}): BenchModule {
  const python = opts.python ?? DEFAULT_PYTHON
  return {
    id: 'codec',
    rows: CODEC_ROWS,
    async run(ctx) {
      const repr = benchSyn()
      const buf = new Uint8Array(64)
      const expect = benchSynBytes()
      const p = parseTcp(expect, SYN_PSEUDO, { requireChecksum: true })
      if (p.options.length !== 5 || p.dataOffset !== 10) throw new Error('codec-syn: the SYN did not round-trip')
      const [t] = measureRates([(n) => codecLoop(repr, buf, n)], ctx.timing, ctx.clock)
      const tcplab = { value: median(t), spread: spreadPct(t), reps: t.length }
      // Run after tcplab's measurement, not beside it: the two would share cores.
      ctx.progress('bench: codec-syn scapy baseline…')
      const s = await runScapy(python, Buffer.from(expect).toString('hex'), ctx.timing)
      if ('rates' in s) {
        return [
          {
            row: 'codec-syn',
            tcplab,
            baseline: { value: median(s.rates), spread: spreadPct(s.rates), reps: s.rates.length },
            note: `scapy ${s.version} builds IP/TCP (its TCP checksum needs the IP layer) and dissects the TCP part without verifying the checksum; tcplab emits and parses TCP with the checksum computed and verified`,
          },
        ]
      }
      return [{ row: 'codec-syn', tcplab, baseline: null, note: `no scapy baseline: ${'missing' in s ? s.missing : s.failed}` }]
    },
  }
}
