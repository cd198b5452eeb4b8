/**
 * A tiny command registry over node:util parseArgs: each command declares its options once, with help
 * text, and gets `--help`, one-line errors and `--json` error objects for free.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { WireError } from '../tcp/errors.js'

/** One option of a command: parseArgs' own fields plus what `--help` prints. */
export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
  /** Shown after the flag in help, e.g. `IP:PORT`. */
  arg?: string
  help: string
}

/** Parsed command line of one command. */
export interface CommandArgs {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>
  positionals: string[]
  /** Options in the order they were given, for commands where order matters (craft's TCP options). */
  ordered: Array<{ name: string; value: string | undefined }>
}

/** Output sinks, replaceable in tests. */
export interface Io {
  stdout: (line: string) => void
  stderr: (line: string) => void
  stdin: NodeJS.ReadableStream
  /** True when stdout is a terminal (colours, progress). */
  isTTY: boolean
}

/** A subcommand of `tcplab`. */
export interface Command {
  name: string
  /** Usage after `tcplab <name>`, e.g. `[HEX…]`. */
  usage: string
  summary: string
  /** Extra help paragraphs. */
  description?: string
  options: Record<string, OptionSpec>
  allowPositionals?: boolean
  /** Rewrites argv before parsing (for an option whose value is optional, like listen's `--echo [SUFFIX]`). */
  preprocess?(argv: string[]): string[]
  /** Runs the command and resolves to the exit code. */
  run(args: CommandArgs, io: Io): Promise<number>
}

/** Usage errors exit with this code; runtime failures with 1. */
export const EXIT_USAGE = 2

/** Thrown for bad command lines; the CLI prints it as one line and exits 2. */
export function usageError(message: string): WireError {
  return new WireError('ERR_BAD_ARGUMENT', message)
}

/** Parses argv for a command, translating parseArgs' errors into one-line usage errors. */
export function parseCommandArgs(cmd: Command, argv: string[]): CommandArgs {
  const options: ParseArgsConfig['options'] = { help: { type: 'boolean', short: 'h' } }
  for (const [name, spec] of Object.entries(cmd.options)) {
    options[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) }
  }
  if (cmd.preprocess) argv = cmd.preprocess(argv)
  let parsed
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: cmd.allowPositionals ?? false, strict: true, tokens: true })
  } catch (e) {
    const msg = e instanceof Error ? e.message.split('\n')[0] : String(e)
    throw usageError(`${msg} (see 'tcplab ${cmd.name} --help')`)
  }
  const ordered: CommandArgs['ordered'] = []
  for (const t of parsed.tokens ?? []) if (t.kind === 'option') ordered.push({ name: t.name, value: t.value })
  return { values: parsed.values as CommandArgs['values'], positionals: parsed.positionals, ordered }
}

/** The help text of one command. */
export function commandHelp(cmd: Command): string {
  const lines = [`Usage: tcplab ${cmd.name} ${cmd.usage}`.trimEnd(), '', cmd.summary]
  if (cmd.description) lines.push('', cmd.description)
  lines.push('', 'Options:')
  const rows: Array<[string, string]> = []
  for (const [name, spec] of Object.entries(cmd.options)) {
    const flag = `${spec.short ? `-${spec.short}, ` : ''}--${name}${spec.arg ? ` ${spec.arg}` : ''}`
    rows.push([flag, spec.help + (spec.multiple ? ' (may repeat)' : '')])
  }
  rows.push(['-h, --help', 'show this help'])
  const w = Math.max(...rows.map((r) => r[0].length))
  for (const [f, h] of rows) lines.push(`  ${f.padEnd(w)}  ${h}`)
  return lines.join('\n')
}

/** Strictly parses an unsigned integer (decimal or 0x-hex) within [min, max]. */
export function parseUint(name: string, text: string, min: number, max: number): number {
  const t = text.trim()
  const ok = /^(0x[0-9a-fA-F]+|\d+)$/.test(t)
  const n = ok ? Number(t) : NaN
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw usageError(`--${name} must be an integer from ${min} to ${max}, got '${text}'`)
  }
  return n
}

/** Bytes from a hex string; spaces, colons and a leading 0x are allowed. */
export function parseHexBytes(text: string, what = 'hex'): Uint8Array {
  const clean = text.trim().replace(/^0x/i, '').replace(/[\s:]/g, '')
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) {
    throw new WireError('HEX_ERR_INVALID', `${what} is not an even number of hex digits`)
  }
  return new Uint8Array(Buffer.from(clean, 'hex'))
}
