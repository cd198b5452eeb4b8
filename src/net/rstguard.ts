/**
 * The RST guard for the raw-socket device. With a raw socket the kernel owns the address, so when a
 * SYN+ACK (or anything) arrives for a port where the kernel has no socket it answers with RST (RFC 9293
 * §3.10.7.1, "If the state is CLOSED … a reset is sent") and the peer drops the connection tcplab is
 * building. The guard is one firewall rule, scoped to exactly tcplab's source address and port, that drops
 * the kernel's outgoing RSTs from it:
 *
 * ```
 * table inet tcplab_<id> {
 *   chain out {
 *     type filter hook output priority 0; policy accept;
 *     ip saddr 198.18.0.1 tcp sport 40000 tcp flags & rst == rst meta mark != 0x7463706c counter drop
 *   }
 * }
 * ```
 *
 * (`ip6 saddr` for IPv6.) tcplab's own packets cross the same output hook (a raw socket's sends do), so
 * the raw device marks them with SO_MARK {@link TCPLAB_PACKET_MARK} and the rule skips that mark: the
 * userland stack can still send its RSTs, only the kernel's are dropped.
 *
 * The table lives in the namespace where the userland stack runs: `netns` names it (the commands run
 * through `ip netns exec`), or, without `netns`, the current one — the lab's namespace when called from a
 * child process started there. Without nft it falls back to one iptables/ip6tables rule tagged with the
 * comment `tcplab_<id>`. The guard is removed by `remove()` and, on every exit path, by cleanup.ts.
 */
import { randomBytes } from 'node:crypto'
import { WireError } from '../tcp/errors.js'
import { parseIp } from './addr.js'
import { registerCleanup, type CleanupHandle } from './cleanup.js'
import { firewallPermissionError, isPermissionFailure } from './native.js'
import { LAB_TABLE_PREFIX, run, runSync, type ExecResult } from './netns.js'
import { dropOwner, recordOwner } from './owner.js'

/** SO_MARK of every packet the raw device sends ("tcpl"): the guard lets these through. */
export const TCPLAB_PACKET_MARK = 0x7463706c
const MARK_HEX = `0x${TCPLAB_PACKET_MARK.toString(16)}`

/** Options of {@link installRstGuard}. */
export interface RstGuardOptions {
  /** tcplab's source address (IPv4 or IPv6), exactly as in its packets. */
  addr: string
  /** tcplab's source port. */
  port: number
  /** Namespace to install in (via `ip netns exec`); default the current one. */
  netns?: string
  /** 'auto' (default) tries nft, then iptables/ip6tables. */
  backend?: 'auto' | 'nft' | 'iptables'
  /** Suffix of the table name / rule comment (`tcplab_<id>`, a-z0-9_); default random. */
  id?: string
  /** Program names or paths, for tests. */
  tools?: { nft?: string; iptables?: string; ip6tables?: string }
}

/** An installed guard. */
export interface RstGuard {
  readonly backend: 'nft' | 'iptables'
  /** The nft table (`inet tcplab_<id>`) or the iptables rule comment (`tcplab_<id>`). */
  readonly name: string
  readonly netns: string | undefined
  /** The rule in words, for logs: "drop TCP RST from 198.18.0.1:40000 (nft table inet tcplab_x)". */
  readonly description: string
  /** Kernel RSTs the rule dropped so far. */
  dropped(): Promise<number>
  /** Removes the rule (idempotent). */
  remove(): Promise<void>
  /** {@link RstGuard.remove}, synchronously. */
  removeSync(): void
}

/** The nft script that creates the guard's table (see the module comment). */
export function nftGuardScript(table: string, addr: string, port: number): string {
  const fam = parseIp(addr).length === 4 ? 'ip' : 'ip6'
  return [
    `table inet ${table} {`,
    '  chain out {',
    '    type filter hook output priority 0; policy accept;',
    `    ${fam} saddr ${addr} tcp sport ${port} tcp flags & rst == rst meta mark != ${MARK_HEX} counter drop`,
    '  }',
    '}',
    '',
  ].join('\n')
}

/** The iptables rule spec of the guard (after -A/-I/-D OUTPUT). */
export function iptablesGuardSpec(comment: string, addr: string, port: number): string[] {
  const v4 = parseIp(addr).length === 4
  return [
    '-s', `${addr}/${v4 ? 32 : 128}`, '-p', 'tcp', '--sport', String(port),
    '--tcp-flags', 'RST', 'RST', '-m', 'mark', '!', '--mark', MARK_HEX, '-m', 'comment', '--comment', comment, '-j', 'DROP',
  ]
}

const noFirewall = (why: string): WireError =>
  new WireError(
    'DEV_ERR_NO_FIREWALL',
    `cannot install the RST guard (${why}): install nftables (apt-get install nftables) or iptables, or use the capture device (--via pcap), which needs no guard`,
  )

const lastLine = (r: ExecResult): string =>
  (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-1)[0] ?? `exit ${r.code}`

/** True when a command could not start: missing program, also behind `ip netns exec`. */
const notInstalled = (r: ExecResult): boolean =>
  r.code === 127 || /exec of .* failed: No such file|No such file or directory|not found/i.test(r.stderr)

/**
 * Installs the guard and registers its removal with cleanup.ts. Throws DEV_ERR_PERMISSION without
 * CAP_NET_ADMIN, DEV_ERR_NO_FIREWALL when neither nft nor iptables can install it (one line each).
 */
export async function installRstGuard(opts: RstGuardOptions): Promise<RstGuard> {
  const { addr, port, netns, backend = 'auto', tools = {} } = opts
  const v4 = parseIp(addr).length === 4
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new WireError('ERR_BAD_ARGUMENT', `RST guard port must be 1..65535, got ${port}`)
  }
  const id = opts.id ?? `g${randomBytes(5).toString('hex')}`
  if (!/^[a-z0-9_]{1,40}$/.test(id)) throw new WireError('ERR_BAD_ARGUMENT', `RST guard id '${id}' must be a-z, 0-9, _`)
  const name = `${LAB_TABLE_PREFIX}${id}`
  const x = netns === undefined ? [] : ['ip', 'netns', 'exec', netns]
  const nft = tools.nft ?? 'nft'
  const ipt = v4 ? (tools.iptables ?? 'iptables') : (tools.ip6tables ?? 'ip6tables')
  const reasons: string[] = []
  // Recorded before the rule exists: a kill -9 right after leaves a record naming a dead owner, which
  // plain `tcplab cleanup` needs to tell this guard from one a running tcplab still uses.
  recordOwner('guard', name)
  try {
    return await install()
  } catch (e) {
    dropOwner('guard', name)
    throw e
  }

  async function install(): Promise<RstGuard> {
    if (backend !== 'iptables') {
      const r = await run([...x, nft, '-f', '-'], { input: nftGuardScript(name, addr, port), allowFail: true })
      if (r.code === 0) {
        return makeGuard('nft', name, netns, `drop TCP RST from ${fmt(addr, port)} (nft table inet ${name})`, {
          remove: [...x, nft, 'delete', 'table', 'inet', name],
          list: [...x, nft, 'list', 'table', 'inet', name],
          count: (out) => Number(/counter packets (\d+)/.exec(out)?.[1] ?? 0),
        })
      }
      if (!notInstalled(r) && isPermissionFailure({ stderr: r.stderr })) throw firewallPermissionError()
      reasons.push(notInstalled(r) ? 'nft not found' : `nft: ${lastLine(r)}`)
      if (backend === 'nft') throw noFirewall(reasons.join('; '))
    }

    const spec = iptablesGuardSpec(name, addr, port)
    const r = await run([...x, ipt, '-w', '-I', 'OUTPUT', '1', ...spec], { allowFail: true })
    if (r.code === 0) {
      return makeGuard('iptables', name, netns, `drop TCP RST from ${fmt(addr, port)} (${ipt} rule ${name})`, {
        remove: [...x, ipt, '-w', '-D', 'OUTPUT', ...spec],
        list: [...x, ipt, '-w', '-L', 'OUTPUT', '-v', '-x', '-n'],
        count: (out) => {
          const line = out.split('\n').find((l) => l.includes(`/* ${name} */`))
          return line === undefined ? 0 : Number(line.trim().split(/\s+/)[0])
        },
      })
    }
    if (!notInstalled(r) && isPermissionFailure({ stderr: r.stderr })) throw firewallPermissionError()
    reasons.push(notInstalled(r) ? `${ipt} not found` : `${ipt}: ${lastLine(r)}`)
    throw noFirewall(reasons.join('; '))
  }
}

const fmt = (addr: string, port: number): string => (addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`)

interface GuardCommands {
  remove: string[]
  list: string[]
  count: (listing: string) => number
}

function makeGuard(
  backend: 'nft' | 'iptables',
  name: string,
  netns: string | undefined,
  description: string,
  cmds: GuardCommands,
): RstGuard {
  let removed = false
  // Removal may fail only because the namespace is already gone, which removed the rule with it.
  const removeSync = (): void => {
    if (removed) return
    removed = true
    runSync(cmds.remove, { allowFail: true })
    dropOwner('guard', name)
  }
  const handle: CleanupHandle = registerCleanup(`RST guard ${name}`, removeSync)
  return {
    backend,
    name,
    netns,
    description,
    async dropped() {
      const r = await run(cmds.list)
      return cmds.count(r.stdout)
    },
    async remove() {
      if (removed) return
      removed = true
      handle.unregister()
      await run(cmds.remove, { allowFail: true })
      dropOwner('guard', name)
    },
    removeSync() {
      handle.run()
    },
  }
}
