/** `tcplab echo-server` and `tcplab echo-client`: the seed's echo pair on node:net. */
import * as net from 'node:net'
import { ECHO_DEFAULTS, runEchoClient, runEchoServer, type NetLike } from '../echo.js'
import { parseUint, usageError, type Command } from '../command.js'

/** node:net seen through the echo pair's interface. */
export const kernelNet: NetLike = net as unknown as NetLike

/** Splits `HOST:PORT` (IPv6 in brackets) into host and port. */
export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text)
  if (!m) throw usageError(`expected HOST:PORT (IPv6 as [ADDR]:PORT), got '${text}'`)
  return { host: m[1], port: parseUint('port', m[2], 1, 65535) }
}

/** The `echo-server` command. */
export const echoServerCommand: Command = {
  name: 'echo-server',
  usage: '[--host H] [--port P] [--count N] [--suffix S]',
  summary: `The seed's echo server on the kernel's TCP (node:net): replies '<message>${ECHO_DEFAULTS.suffix}', stops after N clients.`,
  options: {
    host: { type: 'string', arg: 'H', help: `address to listen on (default ${ECHO_DEFAULTS.host})` },
    port: { type: 'string', arg: 'P', help: `port (default ${ECHO_DEFAULTS.port})` },
    count: { type: 'string', arg: 'N', help: `clients to serve before exiting (default ${ECHO_DEFAULTS.count})` },
    suffix: { type: 'string', arg: 'S', help: `appended to every message (default '${ECHO_DEFAULTS.suffix}')` },
    backlog: { type: 'string', arg: 'N', help: `listen backlog (default ${ECHO_DEFAULTS.backlog})` },
  },
  async run(args, io) {
    const v = args.values as Record<string, string | undefined>
    await runEchoServer(kernelNet, {
      host: v.host ?? ECHO_DEFAULTS.host,
      port: v.port !== undefined ? parseUint('port', v.port, 0, 65535) : ECHO_DEFAULTS.port,
      count: v.count !== undefined ? parseUint('count', v.count, 1, 1_000_000) : ECHO_DEFAULTS.count,
      backlog: v.backlog !== undefined ? parseUint('backlog', v.backlog, 0, 65535) : ECHO_DEFAULTS.backlog,
      suffix: v.suffix ?? ECHO_DEFAULTS.suffix,
      log: io.stdout,
    })
    return 0
  },
}

/** The `echo-client` command. */
export const echoClientCommand: Command = {
  name: 'echo-client',
  usage: 'HOST:PORT [--message M]',
  summary: `The seed's echo client on node:net: sends '${ECHO_DEFAULTS.message}' and prints each reply.`,
  allowPositionals: true,
  options: {
    message: { type: 'string', arg: 'M', help: `what to send (default '${ECHO_DEFAULTS.message}')` },
    timeout: { type: 'string', arg: 'MS', help: 'give up after this many ms (default 5000)' },
  },
  async run(args, io) {
    if (args.positionals.length !== 1) throw usageError("echo-client takes one HOST:PORT (see 'tcplab echo-client --help')")
    const { host, port } = parseHostPort(args.positionals[0])
    const v = args.values as Record<string, string | undefined>
    try {
      await runEchoClient(kernelNet, {
        host,
        port,
        message: v.message ?? ECHO_DEFAULTS.message,
        timeoutMs: v.timeout !== undefined ? parseUint('timeout', v.timeout, 1, 3_600_000) : 5000,
        onReply: io.stdout,
      })
    } catch (e) {
      io.stderr(`tcplab echo-client: ${e instanceof Error ? e.message : String(e)}`)
      return 1
    }
    return 0
  },
}
