import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import {
  benchModules,
  bulkModule,
  calibrate,
  finishRow,
  formatTable,
  handshakeModule,
  inspectModule,
  iqrPct,
  measureRates,
  median,
  quantile,
  runBench,
  selectRows,
  si,
  spreadPct,
  type BenchModule,
  type Clock,
  type RowResult,
  type RowSpec,
} from '../../src/lab/bench/index.js'
import { CHECKSUM_ROWS, checksumModule, NO_NATIVE_REASON } from '../../src/lab/bench/rows/checksum.js'
import { benchSynBytes, codecModule } from '../../src/lab/bench/rows/codec.js'
import { pendingModule } from '../../src/lab/bench/rows/pending.js'
import {
  blocksOf,
  childScript,
  labPrivileged,
  labSkipReason,
  latencyFigure,
  NEEDS_ROOT,
  parseChildLines,
  runHandshakeChild,
  TCPLAB_PORTS,
  withBenchLab,
  type ChildLine,
} from '../../src/lab/bench/rows/handshake.js'
import { runBulkChild } from '../../src/lab/bench/rows/bulk.js'
import { cliScript, findTshark, generateCapture, inspectSummaryOf, tsharkConversationsOf } from '../../src/lab/bench/rows/inspect.js'
import { guardTableName, rangeGuardScript } from '../../src/lab/bench/child/common.js'
import { inspect } from '../../src/lab/inspect/index.js'
import { labLeftovers, type Lab } from '../../src/net/netns.js'
import { benchCommand, makeBenchCommand } from '../../src/lab/commands/bench.js'
import { parseCommandArgs, type Command, type Io } from '../../src/lab/command.js'
import { isWireError } from '../../src/tcp/errors.js'
import { hex, toHex } from '../helpers/codecLaws.js'

/** Runs a command in-process (as cli.ts's main would) and collects what it prints. */
async function run(argv: string[], cmd: Command = benchCommand): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { stdout: (l) => out.push(l), stderr: (l) => err.push(l), stdin: Readable.from(['']), isTTY: false }
  const code = await cmd.run(parseCommandArgs(cmd, argv), io)
  return { code, out, err }
}

const ALL_ROWS = [
  'checksum-40', 'checksum-576', 'checksum-1500', 'codec-syn', 'handshake-latency-p50', 'handshake-latency-p99',
  'handshake-rate', 'handshake-rate-pcap', 'bulk-transfer', 'bulk-transfer-pcap', 'bulk-transfer-gso', 'inspect',
]
/** The contract keys, in order, then the ones this harness adds. */
const CONTRACT_KEYS = ['row', 'tcplab', 'baseline', 'unit', 'ratio', 'target', 'met']
const ADDED_KEYS = ['better', 'targetOn', 'targetText', 'baselineName', 'spread', 'baselineSpread', 'reps']

const numOrNull = (v: unknown): boolean => v === null || (typeof v === 'number' && Number.isFinite(v))

describe('statistics', () => {
  it('median and quantiles interpolate between closest ranks (type 7)', () => {
    expect(median([5, 1, 3])).toBe(3)
    expect(median([4, 1, 3, 2])).toBe(2.5)
    expect(median([7])).toBe(7)
    expect(median([])).toBeNaN()
    expect(quantile([1, 2, 3, 4], 0.25)).toBe(1.75)
    expect(quantile([1, 2, 3, 4], 0.75)).toBe(3.25)
    expect(quantile([10, 20, 30], 0)).toBe(10)
    expect(quantile([10, 20, 30], 1)).toBe(30)
  })

  it('spread is half the min-max range over the median, in percent', () => {
    expect(spreadPct([90, 100, 110])).toBe(10)
    expect(spreadPct([100, 100, 100])).toBe(0)
    expect(spreadPct([1, 2, 3, 4, 100])).toBe(1650) // one wild repetition shows up in full
    expect(spreadPct([42])).toBe(0)
    expect(iqrPct([1, 2, 3, 4, 100])).toBe(((4 - 2) / 3) * 100) // …and the IQR ignores it
  })

  it('formats figures with SI prefixes', () => {
    expect(si(49_600_000)).toBe('49.6M')
    expect(si(3_000_000)).toBe('3.00M')
    expect(si(5163)).toBe('5.16k')
    expect(si(0.000153)).toBe('153µ')
    expect(si(1e9)).toBe('1.00G')
    expect(si(0.3)).toBe('300m')
  })
})

describe('timing loop (fake clock, no real time)', () => {
  /** A clock that only moves when a body runs: body k costs costs[k] ns per operation. */
  function fakeBodies(costs: number[]): { clock: Clock; bodies: Array<(n: number) => number>; calls: string[] } {
    let now = 0
    const calls: string[] = []
    const bodies = costs.map((c, k) => (n: number) => {
      now += c * n
      calls.push(`${k}:${n}`)
      return n
    })
    return { clock: () => now, bodies, calls }
  }

  it('calibrates the operation count so one repetition lasts repMs', () => {
    const { clock, bodies, calls } = fakeBodies([10])
    // doubles until 10 ns × n ≥ 1 ms / 8 (n = 16384), then scales to 1 ms: 100000 operations
    expect(calibrate(bodies[0], 1, clock)).toBe(100_000)
    expect(calls.slice(-1)).toEqual(['0:16384'])
    expect(calls).toHaveLength(15)
  })

  it('warms up each body, then interleaves repetitions and reports operations per second', () => {
    const { clock, bodies, calls } = fakeBodies([10, 40])
    const rates = measureRates(bodies, { warmupMs: 0, repMs: 1, reps: 3 }, clock)
    expect(rates).toEqual([[1e8, 1e8, 1e8], [2.5e7, 2.5e7, 2.5e7]])
    // after calibration: one warm-up call each (warmupMs 0), then A B A B A B
    expect(calls.slice(-8)).toEqual(['0:100000', '1:25000', '0:100000', '1:25000', '0:100000', '1:25000', '0:100000', '1:25000'])
  })
})

describe('rows: ratio and verdict', () => {
  const rate: RowSpec = { name: 'r', unit: 'calls/s', better: 'higher', baselineName: 'b', targets: [{ on: 'ratio', value: 5 }] }
  const latency: RowSpec = { name: 'l', unit: 's', better: 'lower', baselineName: 'k', targets: [{ on: 'ratio', value: 1 }] }
  const fig = (value: number, spread: number | null = 1) => ({ value, spread, reps: 5 })

  it('higher is better: ratio = tcplab / baseline', () => {
    const r = finishRow(rate, { row: 'r', tcplab: fig(50), baseline: fig(10) })
    expect(r).toMatchObject({ tcplab: 50, baseline: 10, ratio: 5, target: 5, met: true, targetOn: 'ratio', targetText: '≥5×', reps: 5 })
    expect(finishRow(rate, { row: 'r', tcplab: fig(49), baseline: fig(10) })).toMatchObject({ ratio: 4.9, met: false })
  })

  it('lower is better (latency): ratio = baseline / tcplab, so above 1 still means tcplab wins', () => {
    expect(finishRow(latency, { row: 'l', tcplab: fig(0.0001), baseline: fig(0.0002) })).toMatchObject({ ratio: 2, met: true })
    expect(finishRow(latency, { row: 'l', tcplab: fig(0.0004), baseline: fig(0.0002) })).toMatchObject({ ratio: 0.5, met: false })
  })

  it('a target on tcplab alone is judged without a baseline; a ratio target is not', () => {
    const own: RowSpec = { ...rate, targets: [{ on: 'tcplab', value: 3e6 }] }
    expect(finishRow(own, { row: 'r', tcplab: fig(3.1e6), baseline: null })).toMatchObject({ baseline: null, ratio: null, met: true, targetText: '≥3.00M' })
    expect(finishRow(own, { row: 'r', tcplab: fig(2.9e6), baseline: null })).toMatchObject({ met: false })
    expect(finishRow(rate, { row: 'r', tcplab: fig(50), baseline: null })).toMatchObject({ ratio: null, met: null })
    const lowOwn: RowSpec = { ...latency, targets: [{ on: 'tcplab', value: 0.001 }] }
    expect(finishRow(lowOwn, { row: 'l', tcplab: fig(0.002), baseline: null })).toMatchObject({ met: false, targetText: '≤1.00m' })
  })

  it('every target must hold; a row without targets has no verdict', () => {
    const bulk: RowSpec = { ...rate, targets: [{ on: 'ratio', value: 0.3 }, { on: 'tcplab', value: 1e9 }] }
    expect(finishRow(bulk, { row: 'r', tcplab: fig(2e9), baseline: fig(4e9) })).toMatchObject({ ratio: 0.5, target: 0.3, met: true })
    expect(finishRow(bulk, { row: 'r', tcplab: fig(0.9e9), baseline: fig(1e9) })).toMatchObject({ ratio: 0.9, met: false })
    expect(finishRow({ ...rate, targets: [] }, { row: 'r', tcplab: fig(1), baseline: fig(1) })).toMatchObject({ target: null, targetOn: null, met: null, targetText: '' })
  })

  it('a skipped row carries its reason and no figures, even if the module sent some', () => {
    const r = finishRow(rate, { row: 'r', tcplab: fig(50), baseline: fig(10), skipped: 'needs root' })
    expect(r).toMatchObject({ tcplab: null, baseline: null, ratio: null, met: null, spread: null, reps: null, skipped: 'needs root' })
  })

  it('rounds figures to 4 significant digits', () => {
    expect(finishRow(rate, { row: 'r', tcplab: fig(49_612_345, 1.23456), baseline: fig(10_000_000) })).toMatchObject({
      tcplab: 49_610_000, ratio: 4.961, spread: 1.235,
    })
  })
})

describe('--only selection', () => {
  const specs = ALL_ROWS.map((name): RowSpec => ({ name, unit: 'x', better: 'higher', baselineName: 'b', targets: [] }))

  it('takes names and prefixes, comma-separated', () => {
    expect([...selectRows(specs, 'checksum,codec-syn')]).toEqual(['checksum-40', 'checksum-576', 'checksum-1500', 'codec-syn'])
    expect([...selectRows(specs, ' handshake , inspect ')]).toEqual(['handshake-latency-p50', 'handshake-latency-p99', 'handshake-rate', 'handshake-rate-pcap', 'inspect'])
    expect([...selectRows(specs, 'checksum-1500')]).toEqual(['checksum-1500'])
    expect([...selectRows(specs, undefined)]).toEqual(ALL_ROWS)
  })

  it('refuses a token that matches no row, and an empty list', () => {
    for (const bad of ['checksum,nope', ',', '']) {
      let caught: unknown
      try {
        selectRows(specs, bad)
      } catch (e) {
        caught = e
      }
      expect(isWireError(caught, 'ERR_BAD_ARGUMENT')).toBe(true)
    }
  })
})

describe('table output', () => {
  it('aligns the columns and prints skipped rows with their reason', () => {
    const rows: RowResult[] = [
      finishRow(CHECKSUM_ROWS[0], { row: 'checksum-40', tcplab: { value: 49.6e6, spread: 1.5, reps: 11 }, baseline: { value: 10.5e6, spread: 12, reps: 11 } }),
      finishRow(
        { name: 'codec-syn', unit: 'segments/s', better: 'higher', baselineName: 'scapy', targets: [{ on: 'tcplab', value: 3e6 }] },
        { row: 'codec-syn', tcplab: { value: 3.16e6, spread: 2.2, reps: 11 }, baseline: null, note: 'no scapy' },
      ),
      finishRow({ name: 'inspect', unit: 'packets/s', better: 'higher', baselineName: 'tshark', targets: [] }, { row: 'inspect', tcplab: null, baseline: null, skipped: 'not built yet' }),
    ]
    expect(formatTable(rows)).toEqual([
      'row               tcplab    baseline  unit        ratio  target  met',
      'checksum-40  49.6M ±1.5%  10.5M ±12%  calls/s     4.72×  ≥5×     no',
      'codec-syn    3.16M ±2.2%           -  segments/s      -  ≥3.00M  yes',
      'inspect      skipped: not built yet',
      '',
      'codec-syn: no scapy',
    ])
  })
})

/** Whether the namespace rows can run here for real: root, and the children compiled (npm run build). */
const LAB_OK = labSkipReason([childScript('handshake'), childScript('bulk'), childScript('server')], labPrivileged) === undefined
const TSHARK = findTshark()
const INSPECT_OK = TSHARK !== undefined && existsSync(cliScript())

describe('tcplab bench (in-process, --quick)', () => {
  it('lists the issue\'s rows in order', () => {
    expect(benchModules().flatMap((m) => m.rows.map((r) => r.name))).toEqual(ALL_ROWS)
  })

  it('prints every row as one JSON object per line with the documented keys and types', { timeout: 120_000 }, async () => {
    // The default modules, with hooks that let the test check nothing outlives the run.
    const labs: Lab[] = []
    const captures: string[] = []
    const modules = (): BenchModule[] => [
      ...benchModules().slice(0, 2),
      handshakeModule({ onLab: (l) => labs.push(l) }),
      bulkModule({ onLab: (l) => labs.push(l) }),
      inspectModule({ onCapture: (p) => captures.push(p) }),
    ]
    const r = await run(['--quick', '--json'], makeBenchCommand(modules))
    expect(r.err).toEqual([])
    expect(r.code).toBe(0)
    const rows = r.out.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(rows.map((j) => j.row)).toEqual(ALL_ROWS)
    for (const j of rows) {
      expect(Object.keys(j).slice(0, CONTRACT_KEYS.length)).toEqual(CONTRACT_KEYS)
      for (const k of ADDED_KEYS) expect(j).toHaveProperty(k)
      expect(typeof j.unit).toBe('string')
      for (const k of ['tcplab', 'baseline', 'ratio', 'target', 'spread', 'baselineSpread', 'reps']) expect(numOrNull(j[k])).toBe(true)
      expect([true, false, null]).toContain(j.met)
      expect(['higher', 'lower']).toContain(j.better)
      expect(j.error).toBeUndefined()
      if (j.skipped !== undefined) {
        expect(typeof j.skipped).toBe('string')
        expect((j.skipped as string).length).toBeGreaterThan(10)
        expect([j.tcplab, j.baseline, j.ratio, j.met]).toEqual([null, null, null, null])
        continue
      }
      expect(j.tcplab as number).toBeGreaterThan(0)
      expect(j.reps).toBe(3)
      if (j.baseline !== null) {
        const t = j.tcplab as number
        const b = j.baseline as number
        const want = j.better === 'higher' ? t / b : b / t
        expect(Math.abs((j.ratio as number) - want) / want).toBeLessThan(2e-3) // both figures rounded to 4 digits
      } else expect(j.ratio).toBeNull()
    }
    // Rows 3–5 run for real as root (tiny sizes), each with both figures; without root they say why.
    const lab = rows.slice(4, 11)
    if (LAB_OK) {
      for (const j of lab) {
        expect(j.skipped).toBeUndefined()
        expect([typeof j.tcplab, typeof j.baseline, j.reps]).toEqual(['number', 'number', 3])
      }
      expect(labs).toHaveLength(2) // one for the handshake rows, one for bulk
      for (const l of labs) expect(labLeftovers(l.id)).toEqual([])
    } else if (!labPrivileged()) {
      for (const j of lab) expect(j.skipped).toBe(NEEDS_ROOT)
    }
    const insp = rows[11]
    if (INSPECT_OK) {
      expect([typeof insp.tcplab, typeof insp.baseline, insp.reps]).toEqual(['number', 'number', 3])
      expect(insp.note).toMatch(/^20000 packets \(200 connections, /)
      expect(captures).toHaveLength(1)
      expect(existsSync(captures[0])).toBe(false)
    } else expect(insp.skipped).toMatch(/^(tshark not installed|not built)/)
    // Lower is better only for the latencies.
    expect(rows.filter((j) => j.better === 'lower').map((j) => j.row)).toEqual(['handshake-latency-p50', 'handshake-latency-p99'])
    // codec-syn's target is on tcplab's own rate, so it is judged with or without scapy.
    const codec = rows[3]
    expect(codec).toMatchObject({ unit: 'segments/s', target: 3e6, targetOn: 'tcplab' })
    expect(typeof codec.met).toBe('boolean')
  })

  /** The real modules' rows behind stand-ins that measure nothing: for what selection and output do. */
  const stubs = (): BenchModule[] => benchModules().map((m) => pendingModule(m.id, m.rows, `stub ${m.id}`))

  it('--only filters rows by name or prefix', async () => {
    const r = await run(['--quick', '--json', '--only', 'handshake,inspect'], makeBenchCommand(stubs))
    expect(r.out.map((l) => JSON.parse(l).row)).toEqual(['handshake-latency-p50', 'handshake-latency-p99', 'handshake-rate', 'handshake-rate-pcap', 'inspect'])
    const c = await run(['--quick', '--json', '--only', 'checksum-1500,bulk'], makeBenchCommand(stubs))
    expect(c.out.map((l) => JSON.parse(l).row)).toEqual(['checksum-1500', 'bulk-transfer', 'bulk-transfer-pcap', 'bulk-transfer-gso'])
    const p = await run(['--quick', '--json', '--only', 'bulk-transfer-pcap'], makeBenchCommand(stubs))
    expect(p.out.map((l) => JSON.parse(l).row)).toEqual(['bulk-transfer-pcap'])
  })

  it('rejects an unknown row with a usage error', async () => {
    await expect(run(['--quick', '--only', 'checksum,warp-drive'])).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENT', message: expect.stringMatching(/warp-drive/) })
  })

  it('prints a table without --json, skipped rows with their reason', async () => {
    const r = await run(['--quick', '--only', 'inspect'], makeBenchCommand(() => [inspectModule({ tshark: null })]))
    expect(r.out).toEqual([
      'row      tcplab  baseline  unit  ratio  target  met',
      'inspect  skipped: tshark not installed (apt-get install tshark)',
    ])
  })

  it('without root the lab rows say so and measure nothing (no lab is created)', async () => {
    const labs: Lab[] = []
    const no = { privileged: () => false, onLab: (l: Lab) => labs.push(l) }
    const r = await run(['--quick'], makeBenchCommand(() => [handshakeModule(no), bulkModule(no)]))
    expect(r.code).toBe(0)
    expect(r.out).toEqual([
      'row                    tcplab  baseline  unit  ratio  target  met',
      'handshake-latency-p50  skipped: needs root (network namespaces and raw sockets)',
      'handshake-latency-p99  skipped: needs root (network namespaces and raw sockets)',
      'handshake-rate         skipped: needs root (network namespaces and raw sockets)',
      'handshake-rate-pcap    skipped: needs root (network namespaces and raw sockets)',
      'bulk-transfer          skipped: needs root (network namespaces and raw sockets)',
      'bulk-transfer-pcap     skipped: needs root (network namespaces and raw sockets)',
      'bulk-transfer-gso      skipped: needs root (network namespaces and raw sockets)',
    ])
    expect(labs).toEqual([])
  })

  it('skips the checksum rows with the rebuild hint when raw-socket does not load', async () => {
    const missing = checksumModule({
      load: () => {
        throw new Error("Cannot find module 'raw-socket'")
      },
    })
    const r = await run(['--quick', '--json'], makeBenchCommand(() => [missing]))
    expect(r.code).toBe(0)
    const rows = r.out.map((l) => JSON.parse(l))
    expect(rows.map((j) => [j.row, j.skipped, j.tcplab, j.met])).toEqual(
      ['checksum-40', 'checksum-576', 'checksum-1500'].map((n) => [n, NO_NATIVE_REASON, null, null]),
    )
    expect(rows[0].note).toBe("Cannot find module 'raw-socket'")
    const noFn = await runBench([checksumModule({ load: () => ({}) })], { quick: true, only: 'checksum-40' })
    expect(noFn[0]).toMatchObject({ skipped: NO_NATIVE_REASON, note: 'the loaded raw-socket has no createChecksum' })
  })

  it('codec-syn without scapy: no baseline, tcplab still judged against 3 M/s', async () => {
    const rows = await runBench([codecModule({ python: '/nonexistent/python3' })], { quick: true })
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ row: 'codec-syn', baseline: null, ratio: null, note: 'no scapy baseline: /nonexistent/python3 not found' })
    expect(rows[0].tcplab).toBeGreaterThan(0)
    expect(typeof rows[0].met).toBe('boolean')
  })

  it('a module that fails reports an error row and the command exits 1', async () => {
    const broken: BenchModule = {
      id: 'broken',
      rows: [{ name: 'boom', unit: 'x/s', better: 'higher', baselineName: 'b', targets: [{ on: 'ratio', value: 1 }] }],
      run: async () => {
        throw new Error('kaput\nstack…')
      },
    }
    const ok = pendingModule('p', [{ name: 'later', unit: 'x/s', better: 'higher', baselineName: 'b', targets: [] }], 'waiting')
    const r = await run(['--json'], makeBenchCommand(() => [broken, ok]))
    expect(r.code).toBe(1)
    expect(r.out.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ row: 'boom', tcplab: null, met: null, error: 'kaput' }),
      expect.objectContaining({ row: 'later', skipped: 'waiting' }),
    ])
  })
})

describe('the benchmark SYN', () => {
  it('is the Linux-style SYN, byte for byte (the scapy side checks it builds the same)', () => {
    expect(toHex(benchSynBytes())).toBe(toHex(hex(`
      9c 40 00 50   # src port 40000, dst port 80
      00 00 00 01   # seq 1
      00 00 00 00   # ack 0
      a0 02 ff ff   # data offset 10 (40 bytes), flags SYN, window 65535
      97 6b 00 00   # checksum 0x976b over 10.0.0.1 > 10.0.0.2 (scapy agrees), urgent 0
      02 04 05 b4   # MSS 1460
      04 02         # SACK permitted
      08 0a 00 00 00 01 00 00 00 00   # timestamps val 1 ecr 0
      01            # NOP
      03 03 07      # window scale 7
    `)))
  })
})

describe('namespace children', () => {
  it('are run compiled, from dist/, also when the module runs from src/', () => {
    expect(childScript('handshake')).toMatch(/[/\\]dist[/\\]lab[/\\]bench[/\\]child[/\\]handshake\.js$/)
    expect(cliScript()).toMatch(/[/\\]dist[/\\]lab[/\\]cli\.js$/)
  })

  it('guard the whole tcplab port range with one nft rule that lets tcplab\'s own (marked) RSTs through', () => {
    expect(guardTableName('x1')).toBe('tcplab_benchx1')
    expect(() => guardTableName('X; flush ruleset')).toThrow(/bad guard id/)
    expect(rangeGuardScript('tcplab_benchx1', '198.18.0.1', 40000, 65535)).toBe(
      [
        'table inet tcplab_benchx1 {',
        '  chain out {',
        '    type filter hook output priority 0; policy accept;',
        '    ip saddr 198.18.0.1 tcp sport 40000-65535 tcp flags & rst == rst meta mark != 0x7463706c counter drop',
        '  }',
        '}',
        '',
      ].join('\n'),
    )
    expect(rangeGuardScript('t', '2001:2::1', 1, 2)).toContain('ip6 saddr 2001:2::1 tcp sport 1-2 ')
  })

  it('latency figures pool every handshake of a side; the spread is that of the blocks', () => {
    const blocks = [{ type: 'block', samplesNs: [3000, 1000, 2000] }, { type: 'block', samplesNs: [4000, 6000, 5000] }]
    const p50 = latencyFigure(blocks, 0.5)!
    expect(p50.value).toBeCloseTo(3.5e-6, 15) // median of all six samples, in seconds
    expect(p50.spread).toBeCloseTo(((5000 - 2000) / 2 / 3500) * 100, 10) // blocks' medians 2 µs and 5 µs
    expect(p50.reps).toBe(2)
    expect(latencyFigure(blocks, 1)!.value).toBeCloseTo(6e-6, 15)
    expect(latencyFigure([], 0.5)).toBeNull()
  })

  it('speak JSON lines; anything else on stdout is ignored', () => {
    expect(parseChildLines('{"type":"ready"}\nwarning: x\n{"type":"block","side":"kernel","n":3}\n{"no":"type"}\n{broken\n')).toEqual([
      { type: 'ready' },
      { type: 'block', side: 'kernel', n: 3 },
    ])
  })

  /** The blocks of a child run as [side, rep] pairs, in the order printed. */
  const order = (lines: ChildLine[]): Array<[unknown, unknown]> => lines.filter((l) => l.type === 'block').map((l) => [l.side, l.rep])
  const ALTERNATING: Array<[string, number]> = [['tcplab', 0], ['kernel', 0], ['kernel', 1], ['tcplab', 1], ['tcplab', 2], ['kernel', 2]]

  it.skipIf(!LAB_OK)('measure handshakes and transfers for real in a lab, alternating sides, and leave nothing behind', { timeout: 60_000 }, async () => {
    let labId = ''
    await withBenchLab({ onLab: (l) => (labId = l.id) }, 'sink', async (b) => {
      expect(b.table).toBe(`tcplab_bench${labId}`)
      const sizes = { latency: { reps: 3, count: 7, warmup: 3, blockWarmup: 1 }, rate: { reps: 3, count: 25, concurrency: 5, warmup: 5 } }
      const lat = await runHandshakeChild(b, 'latency', sizes, true)
      expect(lat[0]).toEqual({ type: 'ready' })
      expect(lat[lat.length - 1]).toMatchObject({ type: 'done' })
      expect(order(lat)).toEqual(ALTERNATING)
      for (const side of ['tcplab', 'kernel'] as const) {
        for (const x of blocksOf(lat, side)) {
          expect(x.n).toBe(7)
          expect(x.samplesNs).toHaveLength(7)
          expect(x.minNs as number).toBeLessThanOrEqual(x.p50Ns as number)
          expect(x.p50Ns as number).toBeLessThanOrEqual(x.p99Ns as number)
          expect(x.p99Ns as number).toBeLessThanOrEqual(x.maxNs as number)
        }
      }
      const rate = await runHandshakeChild(b, 'rate', sizes, true)
      expect(order(rate)).toEqual(ALTERNATING)
      for (const x of [...blocksOf(rate, 'tcplab'), ...blocksOf(rate, 'kernel')]) {
        expect(x.n).toBe(25)
        expect(x.perSecond).toBeCloseTo((25 * 1e9) / (x.elapsedNs as number), 6)
      }
      const bulk = await runBulkChild(b, { reps: 3, bytes: 300_001, warmupBytes: 0, chunk: 65_536 }, true)
      // Each block passed only if the server counted every byte (the child checks its answer).
      expect(order(bulk)).toEqual(ALTERNATING)
      for (const x of blocksOf(bulk, 'tcplab')) expect(x.bytes).toBe(300_001)
      // The children removed their guard tables on the way out.
      const tables = await b.lab.exec('a', ['nft', 'list', 'tables'])
      expect(tables.stdout).not.toContain('tcplab_bench')
    })
    expect(labLeftovers(labId)).toEqual([])
    // The port plan: tcplab's range sits above the kernel's.
    expect(TCPLAB_PORTS).toEqual([40000, 65535])
  })
})

describe('the inspect capture', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tcplab-bench-test-'))

  it('is a classic pcap of complete Linux-style connections, byte for byte', async () => {
    const file = join(dir, 'g.pcap')
    try {
      expect(generateCapture(file, 300)).toEqual({ packets: 300, connections: 3, bytes: 24 + 300 * 16 + 300 * 66 + 3 * 2 * 8 + 3 * 47 * 200 })
      const bytes = new Uint8Array(readFileSync(file))
      expect(toHex(bytes.subarray(0, 24 + 16 + 74))).toBe(toHex(hex(`
        d4 c3 b2 a1  02 00 04 00   # pcap magic (little-endian, µs), version 2.4
        00 00 00 00  00 00 00 00   # thiszone, sigfigs
        00 00 04 00  01 00 00 00   # snaplen 262144, LINKTYPE_ETHERNET
        80 00 92 65  00 00 00 00   # record: 1704067200 s (2024-01-01), 0 µs
        4a 00 00 00  4a 00 00 00   # captured 74, original 74
        02 00 00 00 00 05  02 00 00 00 00 0c  08 00   # to the server's MAC from the client's, IPv4
        45 00 00 3c  00 00 40 00  40 06 ae 94   # IPv4, 60 bytes, id 0, DF, TTL 64, TCP, checksum
        c6 13 00 01  c6 12 00 01   # 198.19.0.1 > 198.18.0.1
        80 00 01 bb   # port 32768 > 443
        9e 37 79 b1   # seq: connection 0's ISN
        00 00 00 00   # ack 0
        a0 02 fa f0   # data offset 10, SYN, window 64240
        23 5b 00 00   # checksum, urgent 0
        02 04 05 b4  04 02  08 0a 00 00 03 e8 00 00 00 00  01  03 03 07   # MSS 1460, SACK-perm, TS 1000/0, NOP, wscale 7
      `)))
      const ins = inspect(file)
      const reports = []
      for await (const c of ins) reports.push(c)
      expect(ins.summary()).toMatchObject({ connections: 3, packets: 300, tcpPackets: 300, complete: true })
      expect(reports.map((c) => [c.client, c.server])).toEqual([1, 2, 3].map((k) => [{ ip: `198.19.0.${k}`, port: 32767 + k }, { ip: '198.18.0.1', port: 443 }]))
      for (const c of reports) {
        expect(c).toMatchObject({
          handshake: 'complete',
          ended: 'closed',
          endedBy: 'client',
          bytes: { clientToServer: 46 * 200, serverToClient: 200 },
          packets: { total: 100, clientToServer: 51, serverToClient: 49 },
          anomalies: [],
          negotiated: { mss: { clientToServer: 1460, serverToClient: 1460 }, windowScale: { client: 7, server: 7 }, sack: true, timestamps: true },
        })
      }
      if (TSHARK !== undefined) {
        // An outside reader agrees: three conversations of 100 frames.
        const t = spawnSync(TSHARK, ['-n', '-q', '-z', 'conv,tcp', '-r', file], { encoding: 'utf8' })
        expect(t.status).toBe(0)
        expect(tsharkConversationsOf(t.stdout)).toBe(3)
        expect(t.stdout.split('\n').filter((l) => l.includes('<->')).map((l) => l.split(/\s+/).slice(0, 3).join(' '))).toEqual(
          [1, 2, 3].map((k) => `198.19.0.${k}:${32767 + k} <-> 198.18.0.1:443`),
        )
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('output checks read what each tool printed', () => {
    expect(inspectSummaryOf('{"index":1}\n{"summary":{"connections":3,"packets":300,"tcpPackets":300}}\n')).toEqual({ packets: 300, connections: 3 })
    expect(inspectSummaryOf('not json')).toBeUndefined()
    const conv = [
      '================================================================================',
      'TCP Conversations',
      '198.19.0.1:32768           <-> 198.18.0.1:443                  41 2714 bytes      43 11 kB',
      '198.19.0.2:32769           <-> 198.18.0.1:443                  41 2714 bytes      42 10 kB',
      '================================================================================',
    ].join('\n')
    expect(tsharkConversationsOf(conv)).toBe(2)
  })
})

describe('bench --help', () => {
  it('lists exactly the rows the modules measure, in their order', () => {
    const r = spawnSync(process.execPath, [new URL('../../dist/lab/cli.js', import.meta.url).pathname, 'bench', '--help'], { encoding: 'utf8' })
    expect(r.status).toBe(0)
    const listed = /Rows: ([^.]*)\./.exec(r.stdout.replaceAll('\n', ' '))![1].split(', ')
    expect(listed).toEqual(benchModules().flatMap((m) => m.rows.map((row) => row.name)))
    expect(listed).toContain('bulk-transfer-gso')
  })
})
