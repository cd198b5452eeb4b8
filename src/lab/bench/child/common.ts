/**
 * What every namespace child of `tcplab bench` shares: its JSON-lines protocol on stdout, the one nft rule
 * that keeps the kernel from resetting tcplab's connections across a whole port range, and the userland
 * stack opened on a raw socket. These children run inside a lab namespace (`ip netns exec`), compiled to
 * dist/lab/bench/child/, and are started by rows/handshake.ts and rows/bulk.ts.
 *
 * Why one rule for a range rather than src/net/rstguard.ts: that guard covers one port, and the rate row
 * opens thousands of connections from as many ports; one table per port would cost an `nft` run each.
 */
import { spawnSync } from 'node:child_process'
import { parseIp } from '../../../net/addr.js'
import { LAB_TABLE_PREFIX } from '../../../net/netns.js'
import { ipOverEthernet, openCapDevice } from '../../../net/capdev.js'
import type { Device } from '../../../net/device.js'
import { openRawDevice } from '../../../net/rawdev.js'
import { TCPLAB_PACKET_MARK } from '../../../net/rstguard.js'
import type { TcpConfig } from '../../../tcp/types.js'
import { Interface } from '../../stack/iface.js'

/** One line a child prints: a JSON object with a `type`. */
export interface ChildLine {
  type: string
  [k: string]: unknown
}

/** Prints one protocol line. */
export function emit(line: ChildLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}

/** The monotonic clock in nanoseconds, the one both sides of a row are timed with. */
export function nowNs(): number {
  return Number(process.hrtime.bigint())
}

/** The nft script of the range guard: drop the kernel's RSTs from `addr` ports lo..hi, let tcplab's (marked) pass. */
export function rangeGuardScript(table: string, addr: string, lo: number, hi: number): string {
  const fam = parseIp(addr).length === 4 ? 'ip' : 'ip6'
  return [
    `table inet ${table} {`,
    '  chain out {',
    '    type filter hook output priority 0; policy accept;',
    `    ${fam} saddr ${addr} tcp sport ${lo}-${hi} tcp flags & rst == rst meta mark != 0x${TCPLAB_PACKET_MARK.toString(16)} counter drop`,
    '  }',
    '}',
    '',
  ].join('\n')
}

/** A table name of the bench guard, `tcplab_bench<id>` (cleanup.ts and `tcplab cleanup` find it by prefix). */
export function guardTableName(id: string): string {
  if (!/^[a-z0-9]{1,20}$/.test(id)) throw new Error(`bad guard id '${id}'`)
  return `${LAB_TABLE_PREFIX}bench${id}`
}

/** Installs the range guard in this process's namespace; returns its removal (idempotent). */
export function installRangeGuard(table: string, addr: string, lo: number, hi: number): () => void {
  const r = spawnSync('nft', ['-f', '-'], { input: rangeGuardScript(table, addr, lo, hi), encoding: 'utf8' })
  if (r.status !== 0) {
    throw new Error(`nft could not install the RST guard: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0]}`)
  }
  let removed = false
  return () => {
    if (removed) return
    removed = true
    spawnSync('nft', ['delete', 'table', 'inet', table])
  }
}

/** Options of {@link openBenchStack}. */
export interface BenchStackOptions {
  /** Our address (the kernel's on this side: the raw device speaks from it). */
  local: string
  /** The ephemeral port range of tcplab's active opens (the guard covers exactly it). */
  ports: [number, number]
  tcp?: Partial<TcpConfig>
  /**
   * 'raw' (default): a raw IPv4 socket speaking from `local`, the kernel's address (needs the range guard).
   * 'pcap': libpcap on `iface` with an address and MAC of our own (`local` and `mac`), which the kernel
   * does not hold, so it neither answers our peers' packets nor needs a guard.
   */
  via?: 'raw' | 'pcap'
  iface?: string
  mac?: string
  /** On pcap: segmentation offload on transmit (the capture device's `gso`). */
  gso?: boolean
  /** The peer whose MAC a pcap stack resolves before it is returned. */
  peer?: string
}

/**
 * tcplab on a raw IPv4 socket (default) or on libpcap. Built here rather than with stack/live.ts's openLiveStack
 * for two options it does not pass on: the ephemeral port range (kept apart from the kernel's, which the
 * guard must not cover) and `rstClosedPorts: false` (the raw socket also sees the kernel's own
 * connections' packets; answering those with RST would break the baseline). With pcap, `peer`'s MAC is
 * resolved before the stack is handed out, so a burst of opens does not start behind an ARP exchange
 * (packets to an unresolved next hop queue 32 deep, the rest drop and wait for a retransmission).
 */
export async function openBenchStack(opts: BenchStackOptions): Promise<Interface> {
  let device: Device
  if (opts.via === 'pcap') {
    if (opts.iface === undefined || opts.mac === undefined) throw new Error('via pcap needs iface and mac')
    const eth = openCapDevice({ iface: opts.iface, mac: opts.mac, gso: opts.gso })
    try {
      const ip = ipOverEthernet(eth, { mac: opts.mac, ipv4: opts.local })
      device = ip
      if (opts.peer !== undefined) await ip.arp!.resolve(opts.peer)
    } catch (e) {
      eth.close()
      throw e
    }
  } else device = openRawDevice({ family: 4, localAddress: opts.local })
  try {
    return new Interface({ device, addrs: [opts.local], ephemeralPorts: opts.ports, rstClosedPorts: false, tcp: opts.tcp })
  } catch (e) {
    device.close()
    throw e
  }
}

/** What every lab child is told about the lab: the server, and tcplab's address, ports and device. */
export interface LabChildOptions {
  /** The kernel server (side B) and its port. */
  server: string
  port: number
  /** tcplab's address: side A's kernel address (raw) or the lab-owned one (pcap). */
  local: string
  /** tcplab's ephemeral ports; on the raw device the guard covers them, the kernel's range must not overlap. */
  ports: [number, number]
  /** The guard's nft table name (tcplab_bench…), for the raw device. */
  table: string
  /** tcplab's device (default raw); pcap needs `iface` and `mac` (the lab-owned ones). */
  via?: 'raw' | 'pcap'
  iface?: string
  mac?: string
  /** On pcap: segmentation offload on transmit. */
  gso?: boolean
}

/** tcplab's stack for a lab child, with the server's MAC resolved first on pcap. */
export function openChildStack(o: LabChildOptions, tcp?: Partial<TcpConfig>): Promise<Interface> {
  return openBenchStack({ local: o.local, ports: o.ports, tcp, via: o.via, iface: o.iface, mac: o.mac, gso: o.gso, peer: o.server })
}

/** The range guard a lab child needs: on the raw device only (pcap owns an address the kernel does not). */
export function childGuard(o: LabChildOptions): { table: string; addr: string; ports: [number, number] } | undefined {
  return o.via === 'pcap' ? undefined : { table: o.table, addr: o.local, ports: o.ports }
}

/** The child's options: the JSON in argv[2]. */
export function childOptions<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T
}

/**
 * Runs a child's body: installs the guard first and removes it on every way out (return, throw, SIGTERM),
 * prints `{"type":"done"}` or `{"type":"error","message"}`, and exits 0 or 1.
 */
export function runChild(guard: { table: string; addr: string; ports: [number, number] } | undefined, body: () => Promise<void>): void {
  let remove: (() => void) | undefined
  const bye = (code: number): never => {
    try {
      remove?.()
    } finally {
      process.exit(code)
    }
  }
  process.once('SIGTERM', () => bye(143))
  process.once('SIGINT', () => bye(130))
  ;(async () => {
    if (guard !== undefined) remove = installRangeGuard(guard.table, guard.addr, guard.ports[0], guard.ports[1])
    await body()
  })().then(
    () => {
      emit({ type: 'done', cpu: process.cpuUsage() })
      bye(0)
    },
    (e: unknown) => {
      emit({ type: 'error', message: (e instanceof Error ? e.message : String(e)).split('\n')[0] })
      bye(1)
    },
  )
}

/** Resolves after `ms` (between blocks, so the previous block's closes settle). */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
