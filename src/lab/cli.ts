#!/usr/bin/env node
/**
 * The `tcplab` command line. Every failure is one line on stderr (or a JSON error object on stdout
 * with --json) and a non-zero exit: 2 for a bad command line, 1 for anything else. Never a stack trace.
 */
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { isWireError } from '../tcp/errors.js'
import { commandHelp, EXIT_USAGE, parseCommandArgs, type Command, type Io } from './command.js'
import { craftCommand } from './commands/craft.js'
import { decodeCommand } from './commands/decode.js'
import { benchCommand } from './commands/bench.js'
import { echoClientCommand, echoServerCommand } from './commands/echo.js'
import { cleanupCommand, netnsCommand } from './commands/netns.js'
import { handshakeCommand } from './commands/handshake.js'
import { listenCommand } from './commands/listen.js'
import { demoCommand } from './commands/demo.js'
import { inspectCommand } from './commands/inspect.js'
import { scriptCommand } from './commands/script.js'

/** Every command, in the order `tcplab --help` lists them. */
export const COMMANDS: Command[] = [demoCommand, craftCommand, decodeCommand, inspectCommand, echoServerCommand, echoClientCommand, handshakeCommand, listenCommand, scriptCommand, netnsCommand, cleanupCommand, benchCommand]

const VERSION = '0.1.0'

/** The top-level help text. */
export function mainHelp(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length))
  return [
    'Usage: tcplab <command> [options]',
    '',
    'tcplab is a TCP/IP protocol lab: craft segments, decode packets, and watch TCP work packet by packet.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    '',
    "Run 'tcplab <command> --help' for the options of a command.",
  ].join('\n')
}

/** The default I/O of the process. */
export function processIo(): Io {
  return {
    stdout: (l) => process.stdout.write(l + '\n'),
    stderr: (l) => process.stderr.write(l + '\n'),
    stdin: process.stdin,
    isTTY: process.stdout.isTTY === true,
  }
}

/** Runs the CLI with argv (without node and script) and resolves to the exit code. */
export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(mainHelp())
    return name === undefined ? EXIT_USAGE : 0
  }
  if (name === '--version' || name === '-V') {
    io.stdout(VERSION)
    return 0
  }
  const cmd = COMMANDS.find((c) => c.name === name)
  if (!cmd) {
    io.stderr(`tcplab: unknown command '${name}' (see 'tcplab --help')`)
    return EXIT_USAGE
  }
  const wantsJson = rest.includes('--json')
  try {
    const args = parseCommandArgs(cmd, rest)
    if (args.values.help === true) {
      io.stdout(commandHelp(cmd))
      return 0
    }
    return await cmd.run(args, io)
  } catch (e) {
    const code = isWireError(e) ? e.code : 'ERR_INTERNAL'
    const message = (e instanceof Error ? e.message : String(e)).split('\n')[0]
    if (wantsJson) io.stdout(JSON.stringify({ error: { code, message } }))
    else io.stderr(`tcplab ${cmd.name}: ${message}`)
    // a bad command line, or a missing privilege (issue 7: name the capability and exit 2)
    return isWireError(e, 'ERR_BAD_ARGUMENT') || isWireError(e, 'DEV_ERR_PERMISSION') ? EXIT_USAGE : 1
  }
}

function isEntryPoint(): boolean {
  if (!process.argv[1]) return false
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url))
  } catch {
    return false
  }
}

/**
 * A reader that went away (`tcplab decode … | head -1`): stop quietly with exit 0, as a pipeline expects,
 * instead of an EPIPE trace. process.exit runs the exit handlers (cleanup.ts), so RST guards and labs are
 * still removed. Any other failure of stdout is one line on stderr and exit 1.
 */
function onStdoutError(e: NodeJS.ErrnoException): void {
  if (e.code === 'EPIPE') process.exit(0)
  process.stderr.write(`tcplab: cannot write to stdout: ${e.message}\n`)
  process.exit(1)
}

if (isEntryPoint()) {
  process.stdout.on('error', onStdoutError)
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (e: unknown) => {
      process.stderr.write(`tcplab: ${e instanceof Error ? e.message : String(e)}\n`)
      process.exitCode = 1
    },
  )
}
