/**
 * The benchmark harness behind `tcplab bench`: statistics, a calibrated timing loop, row selection, and
 * the row objects that `--json` prints (a contract: add fields, never rename). A benchmark is a
 * `BenchModule` that measures one or more rows; the harness turns its raw figures into ratios and
 * verdicts, so every row is judged the same way and a new row is one module added to the list in
 * index.ts.
 *
 * Ratios always read "how many times better tcplab is": tcplab / baseline for rows where higher is better
 * (rates), baseline / tcplab for rows where lower is better (latencies). A ratio above 1 means tcplab wins.
 */
import { usageError } from '../command.js'

// ---------------------------------------------------------------------------------------------------
// Statistics

/** The median of `xs` (the mean of the two middle values for an even count); NaN for an empty list. */
export function median(xs: readonly number[]): number {
  return quantile(xs, 0.5)
}

/**
 * The q-quantile of `xs` (0 ≤ q ≤ 1) by linear interpolation between closest ranks (Hyndman–Fan type 7,
 * the default of R and NumPy); NaN for an empty list.
 */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const h = (s.length - 1) * Math.min(1, Math.max(0, q))
  const lo = Math.floor(h)
  const hi = Math.ceil(h)
  return s[lo] + (h - lo) * (s[hi] - s[lo])
}

/**
 * How noisy the repetitions were: half the min–max range as a percentage of the median, printed as
 * "±x%". 0 for fewer than two samples; NaN when the median is 0.
 */
export function spreadPct(xs: readonly number[]): number {
  if (xs.length < 2) return 0
  const m = median(xs)
  return ((Math.max(...xs) - Math.min(...xs)) / 2 / Math.abs(m)) * 100
}

/** The interquartile range as a percentage of the median (a spread that ignores one wild repetition). */
export function iqrPct(xs: readonly number[]): number {
  if (xs.length < 2) return 0
  return ((quantile(xs, 0.75) - quantile(xs, 0.25)) / Math.abs(median(xs))) * 100
}

// ---------------------------------------------------------------------------------------------------
// Timing

/** Runs `n` operations and returns a value derived from their results (fed to the sink). */
export type Body = (n: number) => number

/** How long to warm up and measure. */
export interface TimingOptions {
  /** Time spent running each body before any measurement (lets the JIT settle). */
  warmupMs: number
  /** Target duration of one repetition; the operation count is calibrated to reach it. */
  repMs: number
  /** Repetitions per body; the reported figure is their median. */
  reps: number
}

/** Default timing: about 1.5 s per body. */
export const FULL_TIMING: TimingOptions = { warmupMs: 300, repMs: 100, reps: 11 }

/** `--quick` timing: proves the harness works, numbers are rough. */
export const QUICK_TIMING: TimingOptions = { warmupMs: 2, repMs: 2, reps: 3 }

/** A monotonic clock in nanoseconds; injectable so the harness can be tested without real time. */
export type Clock = () => number

/** The process's monotonic clock in nanoseconds. */
export const hrClock: Clock = () => Number(process.hrtime.bigint())

let sinkValue = 0

/** Keeps a benchmark's result alive so the optimiser cannot delete the work that produced it. */
export function sink(v: number): void {
  sinkValue = (sinkValue + v) | 0
}

/** The accumulated sink (read so that the writes to it are observable). */
export function sinkTotal(): number {
  return sinkValue
}

/** Times one call of `body(n)` in nanoseconds (at least 1). */
function timeOnce(body: Body, n: number, clock: Clock): number {
  const t0 = clock()
  sink(body(n))
  return Math.max(1, clock() - t0)
}

/**
 * The operation count that makes one call of `body` last about `repMs`: doubles from 1 until a call takes
 * at least an eighth of that, then scales. Never below 1.
 */
export function calibrate(body: Body, repMs: number, clock: Clock = hrClock): number {
  const goal = repMs * 1e6
  let n = 1
  for (;;) {
    const t = timeOnce(body, n, clock)
    if (t >= goal / 8 || n >= 2 ** 40) return Math.max(1, Math.round((n * goal) / t))
    n *= 2
  }
}

/**
 * Measures operations per second of each body: calibrates and warms up every body, then runs the
 * repetitions interleaved (A B A B …) so drift in machine load hits all bodies alike. Returns one array
 * of per-repetition rates per body, in the order given.
 */
export function measureRates(bodies: readonly Body[], timing: TimingOptions, clock: Clock = hrClock): number[][] {
  const counts = bodies.map((b) => calibrate(b, timing.repMs, clock))
  bodies.forEach((b, i) => {
    const until = clock() + timing.warmupMs * 1e6
    do timeOnce(b, counts[i], clock)
    while (clock() < until)
  })
  const rates: number[][] = bodies.map(() => [])
  for (let r = 0; r < timing.reps; r++) {
    bodies.forEach((b, i) => rates[i].push((counts[i] * 1e9) / timeOnce(b, counts[i], clock)))
  }
  return rates
}

// ---------------------------------------------------------------------------------------------------
// Rows

/** A goal a row is judged against. `ratio` targets need ratio ≥ value; `tcplab` targets compare tcplab's
 * own figure (≥ value when higher is better, ≤ value when lower is better). */
export interface Target {
  on: 'ratio' | 'tcplab'
  value: number
}

/** What a row measures, known before it runs. */
export interface RowSpec {
  /** Stable row name, e.g. `checksum-1500`. */
  name: string
  /** Unit of the tcplab and baseline figures, e.g. `calls/s`. */
  unit: string
  /** Whether a larger figure is better (rates) or a smaller one (latencies); decides how ratio is formed. */
  better: 'higher' | 'lower'
  /** What tcplab is compared with, e.g. `raw-socket createChecksum`. */
  baselineName: string
  /** All must hold for `met`; the first is the one printed as `target`. Empty: the row is informational. */
  targets: Target[]
  /** Why the target is what it is, when that is a choice of ours rather than the issue's. */
  targetNote?: string
}

/** One measured figure: the median of its repetitions and their spread. */
export interface Figure {
  value: number
  /** Half the min–max range as % of the median (see spreadPct); null when not repeated. */
  spread: number | null
  /** Number of repetitions behind `value`. */
  reps: number
}

/** What a module reports for one row; the harness derives ratio and met from it. */
export interface RowMeasurement {
  row: string
  tcplab: Figure | null
  baseline: Figure | null
  /** Set when the row was not measured: why (a missing tool, root, or code not built yet). */
  skipped?: string
  /** Anything a reader needs to interpret the figures (e.g. why the baseline is missing). */
  note?: string
}

/** What a module gets to run with. */
export interface BenchContext {
  quick: boolean
  timing: TimingOptions
  clock: Clock
  /** Progress messages (stderr on a terminal); never part of the results. */
  progress: (message: string) => void
}

/** A benchmark that measures one or more rows. */
export interface BenchModule {
  /** Short id for progress messages, e.g. `checksum`. */
  id: string
  rows: RowSpec[]
  /** Measures the selected rows (a non-empty subset of `rows`) and reports one measurement for each. */
  run(ctx: BenchContext, selected: readonly RowSpec[]): Promise<RowMeasurement[]>
}

/** One printed row: the `--json` object. Keys up to `met` are the contract; the rest are added. */
export interface RowResult {
  row: string
  /** tcplab's figure (median), null when skipped. */
  tcplab: number | null
  /** The baseline's figure (median), null when skipped or the baseline is unavailable. */
  baseline: number | null
  unit: string
  /** Times better than the baseline (see the module comment); null without both figures. */
  ratio: number | null
  /** The first target's value (a ratio or a figure in `unit`, see targetOn); null when the row has none. */
  target: number | null
  /** Whether every target holds; null when it cannot be judged (skipped, or a ratio target without a baseline). */
  met: boolean | null
  better: 'higher' | 'lower'
  targetOn: 'ratio' | 'tcplab' | null
  /** All targets as text, e.g. `≥5×` or `≥3M & ≥0.3×`. */
  targetText: string
  baselineName: string
  /** tcplab's spread in % (±, half the min–max range over the median). */
  spread: number | null
  baselineSpread: number | null
  reps: number | null
  skipped?: string
  note?: string
  /** Set when the module failed unexpectedly (a bug, not a missing tool); the command then exits 1. */
  error?: string
}

/** Rounds to 4 significant digits (figures are noisier than that). */
export function round4(x: number): number {
  return Number.isFinite(x) ? Number(x.toPrecision(4)) : x
}

/** Formats a number with an SI prefix and 3 significant digits: 1234567 → `1.23M`, 0.000153 → `153µ`. */
export function si(x: number): string {
  const a = Math.abs(x)
  if (a === 0 || !Number.isFinite(x)) return String(x)
  const [div, suf] =
    a >= 1e9 ? [1e9, 'G'] : a >= 1e6 ? [1e6, 'M'] : a >= 1e3 ? [1e3, 'k'] : a >= 1 ? [1, ''] : a >= 1e-3 ? [1e-3, 'm'] : a >= 1e-6 ? [1e-6, 'µ'] : [1e-9, 'n']
  const v = x / div
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2
  return `${v.toFixed(digits)}${suf}`
}

function targetText(spec: RowSpec): string {
  return spec.targets
    .map((t) => (t.on === 'ratio' ? `≥${t.value}×` : `${spec.better === 'higher' ? '≥' : '≤'}${si(t.value)}`))
    .join(' & ')
}

/** Whether one target holds; undefined when the figure it needs is missing. */
function holds(t: Target, spec: RowSpec, tcplab: number | null, ratio: number | null): boolean | undefined {
  if (t.on === 'ratio') return ratio === null ? undefined : ratio >= t.value
  if (tcplab === null) return undefined
  return spec.better === 'higher' ? tcplab >= t.value : tcplab <= t.value
}

/** Builds the printed row from a spec and a measurement: forms the ratio and judges the targets. */
export function finishRow(spec: RowSpec, m: RowMeasurement | undefined): RowResult {
  const skipped = m?.skipped ?? (m === undefined ? 'the module reported nothing for this row' : undefined)
  const tcplab = skipped === undefined && m?.tcplab ? m.tcplab.value : null
  const baseline = skipped === undefined && m?.baseline ? m.baseline.value : null
  let ratio: number | null = null
  if (tcplab !== null && baseline !== null && tcplab > 0 && baseline > 0) {
    ratio = spec.better === 'higher' ? tcplab / baseline : baseline / tcplab
  }
  let met: boolean | null = null
  if (skipped === undefined && spec.targets.length > 0) {
    const verdicts = spec.targets.map((t) => holds(t, spec, tcplab, ratio))
    met = verdicts.includes(false) ? false : verdicts.includes(undefined) ? null : true
  }
  const first = spec.targets[0]
  const r: RowResult = {
    row: spec.name,
    tcplab: tcplab === null ? null : round4(tcplab),
    baseline: baseline === null ? null : round4(baseline),
    unit: spec.unit,
    ratio: ratio === null ? null : round4(ratio),
    target: first ? first.value : null,
    met,
    better: spec.better,
    targetOn: first ? first.on : null,
    targetText: targetText(spec),
    baselineName: spec.baselineName,
    spread: tcplab !== null && m?.tcplab?.spread != null ? round4(m.tcplab.spread) : null,
    baselineSpread: baseline !== null && m?.baseline?.spread != null ? round4(m.baseline.spread) : null,
    reps: tcplab !== null ? m!.tcplab!.reps : null,
  }
  if (skipped !== undefined) r.skipped = skipped
  const notes = [m?.note, spec.targetNote].filter((s): s is string => s !== undefined && s !== '')
  if (notes.length > 0) r.note = notes.join('; ')
  return r
}

/** A row for a module that threw: no figures, the error message, never a verdict. */
export function errorRow(spec: RowSpec, message: string): RowResult {
  const r = finishRow(spec, { row: spec.name, tcplab: null, baseline: null })
  r.error = message
  return r
}

/**
 * The row names `--only` selects, in module order. Each comma-separated token is a row name or a prefix
 * of one (`checksum` picks all three checksum rows). Throws a usage error for a token that matches
 * nothing. Without `only`, every row.
 */
export function selectRows(all: readonly RowSpec[], only: string | undefined): Set<string> {
  if (only === undefined) return new Set(all.map((s) => s.name))
  const tokens = only
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')
  if (tokens.length === 0) throw usageError('--only needs at least one row name')
  const picked = new Set<string>()
  for (const t of tokens) {
    const hits = all.filter((s) => s.name === t || s.name.startsWith(t))
    if (hits.length === 0) {
      throw usageError(`--only: no row named or starting with '${t}' (rows: ${all.map((s) => s.name).join(', ')})`)
    }
    for (const h of hits) picked.add(h.name)
  }
  return picked
}

/** Options of one bench run. */
export interface RunOptions {
  only?: string
  quick: boolean
  timing?: TimingOptions
  clock?: Clock
  progress?: (message: string) => void
  /** Called with each finished row as soon as its module returns (for streaming output). */
  onRow?: (row: RowResult) => void
}

/** Runs the selected rows of `modules` in order and returns the finished rows. */
export async function runBench(modules: readonly BenchModule[], opts: RunOptions): Promise<RowResult[]> {
  const selected = selectRows(
    modules.flatMap((m) => m.rows),
    opts.only,
  )
  const ctx: BenchContext = {
    quick: opts.quick,
    timing: opts.timing ?? (opts.quick ? QUICK_TIMING : FULL_TIMING),
    clock: opts.clock ?? hrClock,
    progress: opts.progress ?? (() => {}),
  }
  const out: RowResult[] = []
  for (const mod of modules) {
    const specs = mod.rows.filter((s) => selected.has(s.name))
    if (specs.length === 0) continue
    let rows: RowResult[]
    try {
      ctx.progress(`bench: ${mod.id}…`)
      const ms = await mod.run(ctx, specs)
      rows = specs.map((s) => finishRow(s, ms.find((m) => m.row === s.name)))
    } catch (e) {
      const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0]
      rows = specs.map((s) => errorRow(s, msg))
    }
    for (const r of rows) {
      out.push(r)
      opts.onRow?.(r)
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------------
// Output

/** One `--json` line: the row object with keys in contract order and no undefined fields. */
export function rowJson(r: RowResult): string {
  return JSON.stringify(r)
}

function figureCell(v: number | null, spread: number | null): string {
  if (v === null) return '-'
  return spread === null ? si(v) : `${si(v)} ±${spread < 10 ? spread.toFixed(1) : spread.toFixed(0)}%`
}

/**
 * The table: aligned columns row / tcplab / baseline / unit / ratio / target / met, each figure with its
 * spread. A skipped or failed row prints its reason after the row name.
 */
export function formatTable(rows: readonly RowResult[]): string[] {
  const head = ['row', 'tcplab', 'baseline', 'unit', 'ratio', 'target', 'met']
  const cells: string[][] = []
  const wide: Array<[string, string]> = []
  for (const r of rows) {
    if (r.skipped !== undefined || r.error !== undefined) {
      wide.push([r.row, r.error !== undefined ? `error: ${r.error}` : `skipped: ${r.skipped}`])
      cells.push([])
      continue
    }
    cells.push([
      r.row,
      figureCell(r.tcplab, r.spread),
      figureCell(r.baseline, r.baselineSpread),
      r.unit,
      r.ratio === null ? '-' : `${r.ratio.toFixed(2)}×`,
      r.targetText === '' ? '-' : r.targetText,
      r.met === null ? '-' : r.met ? 'yes' : 'no',
    ])
  }
  const widths = head.map((h, c) => Math.max(h.length, ...cells.filter((x) => x.length > 0).map((x) => x[c].length)))
  widths[0] = Math.max(widths[0], ...rows.map((r) => r.row.length))
  // Numbers right-aligned, text left-aligned.
  const right = [false, true, true, false, true, false, false]
  const line = (xs: string[]): string =>
    xs
      .map((x, c) => (right[c] ? x.padStart(widths[c]) : x.padEnd(widths[c])))
      .join('  ')
      .trimEnd()
  const lines = [line(head)]
  let w = 0
  cells.forEach((x, i) => {
    if (x.length > 0) lines.push(line(x))
    else {
      const [name, text] = wide[w++]
      lines.push(`${name.padEnd(widths[0])}  ${text}`)
    }
  })
  const notes = rows.filter((r) => r.note !== undefined && r.skipped === undefined && r.error === undefined)
  if (notes.length > 0) {
    lines.push('')
    for (const r of notes) lines.push(`${r.row}: ${r.note}`)
  }
  return lines
}
