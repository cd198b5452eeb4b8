/** `tcplab bench`: tcplab against the native and kernel paths, side by side, as a table or JSON lines. */
import { benchModules, formatTable, rowJson, runBench, type BenchModule } from '../bench/index.js'
import type { Command } from '../command.js'

/** "Rows: a, b, …." wrapped at 100 columns: the help lists exactly the rows the modules measure. */
function wrapRows(names: string[]): string {
  const lines: string[] = []
  let line = 'Rows:'
  names.forEach((n, i) => {
    const word = ` ${n}${i === names.length - 1 ? '.' : ','}`
    if (line.length + word.length > 100) {
      lines.push(line)
      line = word.trimStart()
    } else line += word
  })
  lines.push(line)
  return lines.join('\n')
}

/** Builds the command over a list of modules (tests pass their own; the CLI uses every row). */
export function makeBenchCommand(modules: () => BenchModule[] = benchModules): Command {
  return {
    name: 'bench',
    usage: '[--only ROWS] [--json] [--quick]',
    summary: 'Benchmark tcplab against the native and kernel paths and print the ratios.',
    description:
      `${wrapRows(modules().flatMap((m) => m.rows.map((r) => r.name)))}\n` +
      'Each figure is the median of several repetitions after a warm-up, with its spread (± half the min-max\n' +
      'range, % of the median). ratio is how many times better tcplab is:\n' +
      'tcplab/baseline for rates, baseline/tcplab for latencies (lower is better), so above 1 tcplab wins.\n' +
      'Rows that need root, a missing tool or code not built yet say "skipped" and why. Missing a target is\n' +
      'not a failure: the exit code is 0 unless a row failed unexpectedly (1) or the command line is bad (2).',
    options: {
      only: { type: 'string', arg: 'ROWS', help: 'comma-separated row names or prefixes, e.g. checksum,codec-syn' },
      json: { type: 'boolean', help: 'print one JSON object per row, one per line' },
      quick: { type: 'boolean', help: 'tiny sizes and few repetitions: checks the harness, numbers are rough' },
    },
    async run(args, io) {
      const json = args.values.json === true
      const rows = await runBench(modules(), {
        only: args.values.only as string | undefined,
        quick: args.values.quick === true,
        progress: io.isTTY && !json ? (m) => io.stderr(m) : undefined,
        onRow: json ? (r) => io.stdout(rowJson(r)) : undefined,
      })
      if (!json) for (const l of formatTable(rows)) io.stdout(l)
      return rows.some((r) => r.error !== undefined) ? 1 : 0
    },
  }
}

/** The `bench` command. */
export const benchCommand: Command = makeBenchCommand()
