/**
 * `tcplab demo` (what `npm start` runs): as root, a namespace lab with the seed's echo server on the
 * kernel in one namespace and tcplab's userland handshake plus the `张三: ` exchange from the other,
 * printed segment by segment, written to a pcap, then torn down. Without root, the echo pair on node:net
 * over loopback, saying what was skipped and why.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Capability, hasCapability } from '../../net/native.js'
import { netnsUp } from '../../net/netns.js'
import { usageError, type Command, type Io } from '../command.js'
import { ECHO_DEFAULTS, runEchoClient, runEchoServer } from '../echo.js'
import { diagramFormat } from '../ladder/index.js'
import { kernelNet } from './echo.js'
import { rawUnavailableReason } from './handshake.js'

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url))

/** Why the namespace demo cannot run here, or undefined. */
export function demoSkipReason(): string | undefined {
  if (!hasCapability(Capability.CAP_SYS_ADMIN) || !hasCapability(Capability.CAP_NET_ADMIN)) {
    return 'the namespace lab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN)'
  }
  return rawUnavailableReason('raw')
}

function pipeLines(child: ChildProcess, out: (l: string) => void, prefix = ''): void {
  if (child.stdout) createInterface({ input: child.stdout }).on('line', (l) => out(prefix + l))
  if (child.stderr) createInterface({ input: child.stderr }).on('line', (l) => out(prefix + l))
}

/** Waits for a child to exit, killing it after `ms`. */
async function exitWithin(child: ChildProcess, ms: number): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode
  const t = setTimeout(() => child.kill('SIGKILL'), ms)
  const [code] = (await once(child, 'exit')) as [number | null]
  clearTimeout(t)
  return code
}

async function namespaceDemo(io: Io, pcapFile: string, diagram: string | undefined): Promise<number> {
  const port = ECHO_DEFAULTS.port
  const lab = await netnsUp()
  try {
    io.stdout(`tcplab demo: a throwaway lab '${lab.id}' — two network namespaces joined by a veth pair`)
    io.stdout(`  side a ${lab.a.ns}: tcplab's userland TCP, from ${lab.a.ipv4} over a raw socket`)
    io.stdout(`  side b ${lab.b.ns}: the seed's echo server on the Linux kernel's TCP, ${lab.b.ipv4}:${port}`)
    io.stdout('')
    const server = lab.spawn('b', [process.execPath, CLI, 'echo-server', '--host', lab.b.ipv4, '--port', String(port), '--count', '1'])
    const lines = createInterface({ input: server.stdout! })
    const ready = new Promise<void>((resolve, reject) => {
      lines.on('line', (l) => {
        io.stdout(`[kernel echo server] ${l}`)
        if (l.includes('listening')) resolve()
      })
      server.on('exit', (code) => reject(new Error(`the echo server exited early (code ${code})`)))
    })
    if (server.stderr) createInterface({ input: server.stderr }).on('line', (l) => io.stdout(`[kernel echo server] ${l}`))
    await Promise.race([ready, new Promise((_, rej) => setTimeout(() => rej(new Error('the echo server did not start in 10 s')), 10_000).unref())])
    const argv = [process.execPath, CLI, 'handshake', `${lab.b.ipv4}:${port}`, '--send', ECHO_DEFAULTS.message, '--idle', '300', '--ladder', '--pcap', pcapFile]
    if (diagram) argv.push('--diagram', diagram)
    io.stdout(`[tcplab, side a] $ tcplab handshake ${lab.b.ipv4}:${port} --send '${ECHO_DEFAULTS.message}' --ladder --pcap ${pcapFile}`)
    const client = lab.spawn('a', argv)
    pipeLines(client, io.stdout)
    const code = await exitWithin(client, 30_000)
    await exitWithin(server, 5_000)
    io.stdout('')
    io.stdout(`capture: ${pcapFile} (tcplab inspect ${pcapFile}, or tcpdump -nn -r ${pcapFile})`)
    if (diagram) io.stdout(`diagram: ${diagram}`)
    return code === 0 ? 0 : 1
  } finally {
    await lab.down()
    io.stdout(`lab '${lab.id}' removed`)
  }
}

async function loopbackDemo(io: Io, reason: string): Promise<number> {
  io.stdout(`tcplab demo: skipped the userland handshake in a namespace lab: ${reason}.`)
  io.stdout("Run 'sudo npm start' (or sudo npx tcplab demo) for the full demo. Meanwhile, the seed's echo pair on")
  io.stdout("node:net (the kernel's TCP) over loopback:")
  io.stdout('')
  let port = 0
  const served = runEchoServer(kernelNet, {
    host: '127.0.0.1',
    port: 0,
    count: 1,
    log: (l) => io.stdout(`[echo server] ${l}`),
    onListening: (a) => {
      port = (a as { port: number }).port
    },
  })
  while (port === 0) await new Promise((r) => setTimeout(r, 5))
  const reply = await runEchoClient(kernelNet, { host: '127.0.0.1', port, message: ECHO_DEFAULTS.message })
  io.stdout(`[echo client] sent ${JSON.stringify(ECHO_DEFAULTS.message)}, received ${JSON.stringify(reply)}`)
  await served
  return 0
}

/** The `demo` command. */
export const demoCommand: Command = {
  name: 'demo',
  usage: '[--pcap FILE] [--diagram FILE]',
  summary: 'The tour: the seed echo exchange through tcplab\'s userland TCP against the kernel, in a namespace lab.',
  description: 'As root it needs nothing else; without root it runs the echo pair on node:net and says what it skipped.',
  options: {
    pcap: { type: 'string', arg: 'FILE', help: 'where to write the capture (default: a file in the temp directory)' },
    diagram: { type: 'string', arg: 'FILE', help: 'also write the ladder to FILE (.svg, .html, .mmd, .md)' },
  },
  async run(args, io) {
    const diagram = args.values.diagram as string | undefined
    if (diagram !== undefined) diagramFormat(diagram)
    if (args.positionals.length) throw usageError('demo takes no arguments')
    const reason = demoSkipReason()
    if (reason !== undefined) return loopbackDemo(io, reason)
    const pcap = (args.values.pcap as string | undefined) ?? join(tmpdir(), `tcplab-demo-${process.pid}.pcap`)
    return namespaceDemo(io, pcap, diagram)
  },
}
