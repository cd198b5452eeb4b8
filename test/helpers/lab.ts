/**
 * Helpers for tests in the namespace lab: a lab that is always torn down (and checked to be gone), and
 * small tools to talk to child processes (line-by-line stdout, exit status) and read nft counters.
 */
import { spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { expect } from 'vitest'
import {
  describeOffloads,
  labLeftovers,
  netnsUp,
  parseNftTables,
  runSync,
  type Lab,
  type LabSideName,
  type NetnsUpOptions,
} from '../../src/net/netns.js'

/**
 * Brings a lab up, runs `fn`, and always tears the lab down, then asserts nothing of it remains — and that
 * no tcplab table exists in the root namespace at all (nothing of tcplab ever belongs there). A failure's
 * message starts with the lab's offload setting, so every report says which kind of veth was in force.
 */
export async function withLab<T>(fn: (lab: Lab) => Promise<T>, opts?: NetnsUpOptions): Promise<T> {
  const lab = await netnsUp(opts)
  try {
    return await fn(lab)
  } catch (e) {
    if (e instanceof Error && !e.message.startsWith('[veth ')) e.message = `[${describeOffloads(lab)}] ${e.message}`
    throw e
  } finally {
    await lab.down()
    expect(labLeftovers(lab.id)).toEqual([])
    expect(rootTcplabTables()).toEqual([])
  }
}

/** tcplab nftables tables in the root namespace (there should never be any). */
export function rootTcplabTables(): string[] {
  const r = runSync(['nft', 'list', 'tables'], { allowFail: true })
  return r.code === 0 ? parseNftTables(r.stdout).map(([f, t]) => `${f} ${t}`) : []
}

/** Absolute path of a file in the repository (`repoPath('dist/net/netns.js')`). */
export function repoPath(rel: string): string {
  return fileURLToPath(new URL(`../../${rel}`, import.meta.url))
}

/** Throws a one-line hint when the compiled code the child scripts import is missing. */
export function requireBuilt(...files: string[]): void {
  for (const f of files) {
    if (!existsSync(repoPath(f))) throw new Error(`${f} is missing: run \`npm run build\` first (child processes import dist/)`)
  }
}

/**
 * A veth end's offload features as the kernel reports them (legacy SIOCETHTOOL gets, from python3 since
 * Node has no ioctl and ethtool may be missing): 1 on, 0 off.
 */
export async function vethOffloads(lab: Lab, side: LabSideName): Promise<Record<'rx' | 'tx' | 'sg' | 'tso' | 'gso' | 'gro', number>> {
  const py = `
import array, fcntl, json, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
out = {}
for name, cmd in (('rx', 0x14), ('tx', 0x16), ('sg', 0x18), ('tso', 0x1e), ('gso', 0x23), ('gro', 0x2b)):
    buf = array.array('B', struct.pack('II', cmd, 0))
    fcntl.ioctl(s.fileno(), 0x8946, struct.pack('16sP', sys.argv[1].encode(), buf.buffer_info()[0]))
    out[name] = struct.unpack('II', buf.tobytes())[1]
print(json.dumps(out))
`
  return JSON.parse((await lab.exec(side, ['python3', '-c', py, lab.side(side).iface])).stdout)
}

/** Reads a child's stdout line by line. */
export class LineReader {
  private buf = ''
  private readonly lines: string[] = []
  private waiter: (() => void) | undefined
  private ended = false
  private stderr = ''

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8')
    child.stdout!.on('data', (d: string) => {
      this.buf += d
      let i: number
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(this.buf.slice(0, i))
        this.buf = this.buf.slice(i + 1)
      }
      this.waiter?.()
    })
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (d: string) => {
      this.stderr += d
    })
    child.on('close', () => {
      this.ended = true
      this.waiter?.()
    })
  }

  /** Everything the child wrote to stderr so far. */
  get errors(): string {
    return this.stderr
  }

  /** The next line matching `re` (earlier lines are skipped); rejects if the child ends first. */
  async next(re: RegExp = /./): Promise<string> {
    for (;;) {
      while (this.lines.length > 0) {
        const l = this.lines.shift()!
        if (re.test(l)) return l
      }
      if (this.ended) throw new Error(`child ended before a line matching ${re}; stderr: ${this.stderr.trim()}`)
      await new Promise<void>((r) => {
        this.waiter = r
      })
      this.waiter = undefined
    }
  }

  /** The next line that parses as JSON with a `type` field equal to `type`. */
  async json<T = Record<string, unknown>>(type: string): Promise<T> {
    for (;;) {
      const l = await this.next(/^\{/)
      const v = JSON.parse(l) as { type?: string }
      if (v.type === type) return v as T
    }
  }
}

/** How a child ended. */
export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode })
  }
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
}

/** Packet counts of every named counter (`counter name "x"`) in an nft table of a lab side. */
export async function nftCounters(lab: Lab, side: LabSideName, table: string): Promise<Record<string, number>> {
  const r = await lab.exec(side, ['nft', 'list', 'counters', 'table', 'inet', table])
  const out: Record<string, number> = {}
  const re = /counter\s+(\S+)\s*\{\s*packets\s+(\d+)/g
  for (const m of r.stdout.matchAll(re)) out[m[1]] = Number(m[2])
  return out
}

/** Whether an nft table exists in a lab side. */
export async function nftTableExists(lab: Lab, side: LabSideName, table: string): Promise<boolean> {
  const r = await lab.exec(side, ['nft', 'list', 'tables'])
  return r.stdout.split('\n').some((l) => l.trim() === `table inet ${table}`)
}

let pingTool: string[] | undefined

/**
 * One echo request from a lab side to `addr` (`ping -c1 -W1`, or test/interop/ping.py where no ping is
 * installed). Resolves true on a reply, false on none.
 */
export async function ping(lab: Lab, side: LabSideName, addr: string): Promise<boolean> {
  if (pingTool === undefined) {
    const which = spawnSync('sh', ['-c', 'command -v ping'])
    pingTool = which.status === 0 ? ['ping', '-c1', '-W1'] : ['python3', repoPath('test/interop/ping.py')]
  }
  const r = await lab.exec(side, [...pingTool, addr], { allowFail: true })
  return r.code === 0
}

/** Polls `read` until `done(value)` holds and returns that value (the test timeout bounds the wait). */
export async function until<T>(read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  for (;;) {
    const v = await read()
    if (done(v)) return v
    await new Promise((r) => setTimeout(r, 10))
  }
}

/**
 * Installs RST counters in both sides of a lab (table `tcplab_<lab id>_cnt`). Side A counts the kernel's
 * RSTs at output (before any guard) and at postrouting (what actually leaves), and tcplab's own (marked)
 * RSTs at postrouting; side B counts every RST arriving.
 */
export async function installRstCounters(lab: Lab): Promise<string> {
  const table = `tcplab_${lab.id}_cnt`
  const mark = 'meta mark 0x7463706c'
  const notMark = 'meta mark != 0x7463706c'
  await lab.exec('a', ['nft', '-f', '-'], {
    input: `table inet ${table} {
  counter kernel_rst_out { }
  counter kernel_rst_post { }
  counter own_rst_post { }
  chain out { type filter hook output priority -10; policy accept; tcp flags & rst == rst ${notMark} counter name kernel_rst_out; }
  chain post { type filter hook postrouting priority 100; policy accept; tcp flags & rst == rst ${notMark} counter name kernel_rst_post; tcp flags & rst == rst ${mark} counter name own_rst_post; }
}
`,
  })
  await lab.exec('b', ['nft', '-f', '-'], {
    input: `table inet ${table} {
  counter rst_in { }
  chain in { type filter hook input priority -10; policy accept; tcp flags & rst == rst counter name rst_in; }
}
`,
  })
  return table
}

/** Starts a kernel TCP listener (Node's net) in a side on `port`, all addresses, and waits until it listens. */
export async function kernelListener(lab: Lab, side: LabSideName, port: number): Promise<ChildProcess> {
  const code = `require('net').createServer((s) => s.on('error', () => {})).listen(${port}, '::', () => console.log('ready'))`
  const child = lab.spawn(side, [process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] })
  await new LineReader(child).next(/^ready$/)
  return child
}

/** A child process in a lab side, with its stdout read line by line and a line-writer to its stdin. */
export interface LabChild {
  out: LineReader
  send(line: string): void
  child: ChildProcess
}

/** Spawns `argv` in `side` with piped stdio (a closed stdin is not an error: the child may exit first). */
export function labChild(lab: Lab, side: LabSideName, argv: string[]): LabChild {
  const c = lab.spawn(side, argv, { stdio: ['pipe', 'pipe', 'pipe'] })
  c.stdin!.on('error', () => {})
  return { child: c, out: new LineReader(c), send: (l) => c.stdin!.write(`${l}\n`) }
}

/** Runs `test/hostile/<script>` with Node in `side`, its options as JSON in argv[2]. */
export function hostileChild(lab: Lab, side: LabSideName, script: string, opts: object): LabChild {
  return labChild(lab, side, [process.execPath, repoPath(`test/hostile/${script}`), JSON.stringify(opts)])
}

/**
 * tcpdump in a lab side, writing every frame that matches `filter` to `file` at once (-U, immediate mode,
 * as root so it can write anywhere); resolves once it listens, rejects with its stderr if it ends first.
 */
export async function startTcpdump(lab: Lab, side: LabSideName, args: string[], file: string, filter: string): Promise<ChildProcess> {
  const child = lab.spawn(side, ['tcpdump', '-n', '-U', '--immediate-mode', '-Z', 'root', ...args, '-w', file, filter], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let err = ''
  await new Promise<void>((resolve, reject) => {
    child.stderr!.setEncoding('utf8')
    child.stderr!.on('data', (d: string) => {
      err += d
      if (err.includes('listening on')) resolve()
    })
    child.on('exit', () => reject(new Error(`tcpdump ended: ${err.trim()}`)))
  })
  return child
}
