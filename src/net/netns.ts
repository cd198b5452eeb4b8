/**
 * The namespace lab: a throwaway topology of two network namespaces, side A and side B, joined by one
 * veth pair, where tcplab meets the Linux kernel's TCP without touching the host's network.
 *
 * ```
 *   tcplab-<id>-a                                   tcplab-<id>-b
 *   tl<id>a  198.18.0.1/24  2001:2::1/64  <—veth—>  tl<id>b  198.18.0.2/24  2001:2::2/64
 *            lab-owned: 198.18.0.10, 2001:2::10             lab-owned: 198.18.0.20, 2001:2::20
 * ```
 *
 * Addresses come from ranges reserved for benchmarking, never routed on the Internet: 198.18.0.0/15
 * (RFC 2544 §C.2.2, RFC 6890) and 2001:2::/48 (RFC 5180 §8). Every lab uses the same addresses — the
 * namespaces isolate them — and only names differ: `tcplab-<id>-a`/`-b` for the namespaces, `tl<id>a`/`b`
 * for the veth ends (≤ 15 characters, IFNAMSIZ), `tcplab_<…>` for nftables tables, so parallel test
 * processes never collide and `tcplab cleanup` can find every leftover. The lab-owned addresses belong to
 * no kernel interface: the capture device (capdev) claims them with its own MAC, so the kernel never
 * answers for them (no RST guard needed); the kernel reaches them through the on-link /24 and /64.
 *
 * The bridge topology ({@link NetnsUpOptions.topology} 'bridge') is the Docker shape: side B is the "host"
 * with a Linux bridge carrying its addresses, and side A (tcplab's) and a third namespace, side C, hang off
 * it through one veth each. tcplab in A then has two kernel peers at once, B on the bridge itself and C on
 * another bridge port, and ARP/ND cross a real bridge (flooding, learning):
 *
 * ```
 *   tcplab-<id>-a                       tcplab-<id>-b                              tcplab-<id>-c
 *   tl<id>a 198.18.0.1 <—veth—> tl<id>pa ─┐                       ┌─ tl<id>pc <—veth—> tl<id>c 198.18.0.3
 *           2001:2::1                     └── tl<id>br 198.18.0.2 ┘                            2001:2::3
 *   lab-owned: .10, ::10                              2001:2::2                        lab-owned: .30, ::30
 * ```
 *
 * The bridge runs without STP, with forward delay 0 (ports forward as soon as they have carrier) and without
 * multicast snooping (the bridge floods multicast, so the first neighbor solicitation reaches every port
 * instead of waiting for MLD reports); the ports are layer 2 only (IPv6 off on them, no addresses).
 *
 * Nothing is ever added to the root namespace: the veth is created with both ends directly inside the
 * lab's namespaces (`ip -n A link add … peer … netns B`). Inside each namespace: `lo` up, IPv6 addresses
 * with `nodad`, DAD and router solicitation off. Offloads are a choice ({@link NetnsUpOptions.offloads}):
 * 'off' (the default) turns checksum and segmentation offloads off on the veth, so every packet a raw
 * socket or libpcap sees there is the one on the wire, checksum finished and at most one MTU long; 'on'
 * leaves the veth as `ip link add … type veth` makes it (what Docker, podman and every namespace tutorial
 * leave), where a local sender's TCP checksums hold only the pseudo-header sum (CHECKSUM_PARTIAL) and
 * TSO/GRO hand taps 64 KB super-segments. A Node process cannot enter a namespace itself, so work inside
 * one runs as a child process through `ip netns exec`: {@link Lab.exec} and {@link Lab.spawn}.
 *
 * Each lab registers a cleanup action (cleanup.ts) that kills the processes left in its namespaces and
 * deletes them (the veths and the bridge go with them) on exit, uncaught errors, SIGINT and SIGTERM.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { WireError } from '../tcp/errors.js'
import { registerCleanup, type CleanupHandle } from './cleanup.js'
import { Capability, hasCapability, labPermissionError } from './native.js'
import { dropOwner, dropStaleGuardRecords, markKept, ownershipOf, recordOwner, type Ownership } from './owner.js'

/** Prefix of every namespace a lab creates. */
export const LAB_NS_PREFIX = 'tcplab-'
/** Prefix of every nftables table tcplab creates (RST guards, test counters). */
export const LAB_TABLE_PREFIX = 'tcplab_'
/** Prefix of every veth end a lab creates. */
export const LAB_IF_PREFIX = 'tl'

/** Which end of the lab ('c' exists only in a bridge lab). */
export type LabSideName = 'a' | 'b' | 'c'

/** How a lab's namespaces are joined: one veth pair A–B, or a bridge in B with A and C on veths. */
export type LabTopology = 'pair' | 'bridge'

/** The bridge of a bridge lab: in side B's namespace, carrying B's addresses. */
export interface LabBridge {
  /** Namespace holding the bridge (side B's). */
  readonly ns: string
  /** The bridge device, `tl<id>br`. */
  readonly name: string
  /** The bridge's MAC (side B's). */
  readonly mac: string
  /** The bridge's ports in `ns`: the B ends of the veths to side A (`tl<id>pa`) and side C (`tl<id>pc`). */
  readonly ports: { readonly a: string; readonly c: string }
}

/** One side of a lab. */
export interface LabSide {
  readonly name: LabSideName
  /** Network namespace name, `tcplab-<id>-a`. */
  readonly ns: string
  /** The interface holding the side's addresses inside `ns`: the veth end `tl<id>a`, or side B's bridge `tl<id>br`. */
  readonly iface: string
  /** MAC of that interface (the kernel's). */
  readonly mac: string
  /** The kernel's IPv4 address on the veth (prefix `lab.prefix4`). */
  readonly ipv4: string
  /** The kernel's IPv6 address on the veth (prefix `lab.prefix6`). */
  readonly ipv6: string
  /** Addresses on the veth's subnets that no kernel holds, for a userland stack with its own MAC (capdev). */
  readonly owned: { readonly ipv4: string; readonly ipv6: string; readonly mac: string }
}

/** The fixed addressing plan of every lab (namespaces keep labs apart). */
export const LAB_PLAN = {
  prefix4: 24,
  prefix6: 64,
  subnet4: '198.18.0.0/24',
  subnet6: '2001:2::/64',
  a: {
    ipv4: '198.18.0.1',
    ipv6: '2001:2::1',
    mac: '02:74:6c:00:00:01',
    owned: { ipv4: '198.18.0.10', ipv6: '2001:2::10', mac: '02:74:6c:00:00:0a' },
  },
  b: {
    ipv4: '198.18.0.2',
    ipv6: '2001:2::2',
    mac: '02:74:6c:00:00:02',
    owned: { ipv4: '198.18.0.20', ipv6: '2001:2::20', mac: '02:74:6c:00:00:14' },
  },
  /** Side C, only in a bridge lab. */
  c: {
    ipv4: '198.18.0.3',
    ipv6: '2001:2::3',
    mac: '02:74:6c:00:00:03',
    owned: { ipv4: '198.18.0.30', ipv6: '2001:2::30', mac: '02:74:6c:00:00:1e' },
  },
  /** MACs of the bridge ports in side B (bridge lab): fixed so captures read the same in every run. */
  ports: { a: '02:74:6c:00:01:01', c: '02:74:6c:00:01:03' },
} as const

/** What a command run by the lab printed and how it ended. */
export interface ExecResult {
  stdout: string
  stderr: string
  /** Exit code, or null when killed by a signal. */
  code: number | null
  signal: NodeJS.Signals | null
}

/** Options of {@link Lab.exec} and {@link run}. */
export interface ExecOptions {
  /** Written to the command's stdin. */
  input?: string | Uint8Array
  /** Resolve with the result instead of rejecting when the command fails. */
  allowFail?: boolean
  /** Kill the command after this many ms (default 30000). */
  timeoutMs?: number
}

/** A running lab. */
export interface Lab {
  /** The lab's id: `tcplab-<id>-a`, `tl<id>a`. */
  readonly id: string
  readonly a: LabSide
  readonly b: LabSide
  /** Side C in a bridge lab; undefined in a pair lab (which has only A and B). */
  readonly c: LabSide | undefined
  /** 'pair' (A–B over one veth) or 'bridge' (A and C on a bridge in B). */
  readonly topology: LabTopology
  /** The bridge of a bridge lab; undefined in a pair lab. */
  readonly bridge: LabBridge | undefined
  /** Every side the lab has, in order: [a, b] or [a, b, c]. */
  readonly sides: readonly LabSide[]
  readonly prefix4: number
  readonly prefix6: number
  /** The offload setting asked for: 'off' (turned off on the veth) or 'on' (left at the kernel's defaults). */
  readonly offloads: LabOffloads
  /** Whether checksum/segmentation offloads are off on the veth (asked for, and the switch worked). */
  readonly offloadsOff: boolean
  /** Side by name; throws ERR_BAD_ARGUMENT for 'c' in a pair lab. */
  side(name: LabSideName): LabSide
  /** Runs `argv` inside a side's namespace and collects its output; rejects with DEV_ERR_NETNS on failure. */
  exec(side: LabSideName, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>
  /** Starts `argv` inside a side's namespace (`ip netns exec` execs it, so `child.pid` is the command's). */
  spawn(side: LabSideName, argv: readonly string[], opts?: SpawnOptions): ChildProcess
  /** How to use the lab by hand, one line each (for `tcplab netns up`). */
  describe(): string[]
  /** Kills what still runs in the lab and deletes its namespaces (veths and bridge go with them). Idempotent. */
  down(): Promise<void>
  /** {@link Lab.down}, synchronously. */
  downSync(): void
  /**
   * Leaves the lab in place when this process exits (for `tcplab netns up`): its removal is no longer
   * registered, so `tcplab netns down` or `tcplab cleanup` must remove it.
   */
  keep(): void
}

const netnsError = (msg: string): WireError => new WireError('DEV_ERR_NETNS', msg)
const oneLine = (s: string): string => s.trim().split('\n').filter(Boolean).slice(-1)[0] ?? ''
const fmtArgv = (argv: readonly string[]): string => argv.join(' ')

/** Runs a command (no shell) and collects its output; rejects with DEV_ERR_NETNS unless `allowFail`. */
export function run(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] })
    const out: Buffer[] = []
    const err: Buffer[] = []
    let spawnError: Error | undefined
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000)
    child.stdout.on('data', (d: Buffer) => out.push(d))
    child.stderr.on('data', (d: Buffer) => err.push(d))
    child.on('error', (e) => {
      spawnError = e
    })
    child.stdin.on('error', () => {
      // The command may exit without reading its input; its exit status tells what happened.
    })
    child.stdin.end(opts.input ?? '')
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const r: ExecResult = {
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        code: spawnError !== undefined ? 127 : code,
        signal,
      }
      if (spawnError !== undefined && !opts.allowFail) {
        reject(missingTool(argv, spawnError))
      } else if ((r.code !== 0 || r.signal !== null) && !opts.allowFail) {
        reject(commandFailed(argv, r))
      } else resolve(r)
    })
  })
}

/** {@link run}, synchronously (for cleanup at exit, where nothing asynchronous runs). */
export function runSync(argv: readonly string[], opts: ExecOptions = {}): ExecResult {
  const r = spawnSync(argv[0], argv.slice(1), {
    input: opts.input ?? '',
    timeout: opts.timeoutMs ?? 30_000,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const res: ExecResult = {
    stdout: r.stdout?.toString() ?? '',
    stderr: r.stderr?.toString() ?? '',
    code: r.error !== undefined ? 127 : r.status,
    signal: r.signal,
  }
  if (!opts.allowFail) {
    if (r.error !== undefined) throw missingTool(argv, r.error)
    if (res.code !== 0 || res.signal !== null) throw commandFailed(argv, res)
  }
  return res
}

function missingTool(argv: readonly string[], e: Error): WireError {
  if ((e as { code?: string }).code === 'ENOENT') {
    const tool = argv[0] === 'ip' ? "the 'ip' command (iproute2): apt-get install iproute2" : `'${argv[0]}'`
    return netnsError(`${fmtArgv(argv.slice(0, 3))}: cannot run ${tool}`)
  }
  return netnsError(`${fmtArgv(argv.slice(0, 3))}: ${e.message}`)
}

function commandFailed(argv: readonly string[], r: ExecResult): WireError {
  const why = r.signal !== null ? `killed by ${r.signal}` : `exit ${r.code}`
  const detail = oneLine(r.stderr) || oneLine(r.stdout)
  return netnsError(`${fmtArgv(argv)} failed (${why})${detail ? `: ${detail}` : ''}`)
}

/** A short random id: 6 characters of [a-z0-9]. */
export function newLabId(): string {
  const bytes = randomBytes(6)
  let s = ''
  for (const b of bytes) s += '0123456789abcdefghijklmnopqrstuvwxyz'[b % 36]
  return s
}

/** Ids may only be short lowercase alphanumerics: they end up in interface names (≤ 15 chars). */
const ID_RE = /^[a-z0-9]{1,10}$/

function checkId(id: string): void {
  if (!ID_RE.test(id)) {
    throw new WireError('ERR_BAD_ARGUMENT', `lab name '${id}' must be 1..10 characters of a-z and 0-9`)
  }
}

/**
 * Namespace names lab `id` may have: side A's, side B's, and side C's (present only in a bridge lab; every
 * removal and leftover check looks for all three, whichever topology made the lab).
 */
export function labNamespaces(id: string): [string, string, string] {
  return [`${LAB_NS_PREFIX}${id}-a`, `${LAB_NS_PREFIX}${id}-b`, `${LAB_NS_PREFIX}${id}-c`]
}

/** The id of a lab namespace name (`tcplab-<id>-a`, `-b` or `-c` → `<id>`), or undefined. */
export function labIdOf(ns: string): string | undefined {
  const m = /^tcplab-([a-z0-9]{1,10})-[abc]$/.exec(ns)
  return m === null ? undefined : m[1]
}

/** Every interface name a lab `id` may create (veth ends, bridge ports, the bridge): `tl<id>` + one of these. */
const LAB_IF_SUFFIXES = ['a', 'b', 'c', 'br', 'pa', 'pc'] as const

/** Interface names lab `id` may create, in any of its namespaces (for leftover checks). */
export function labInterfaces(id: string): string[] {
  return LAB_IF_SUFFIXES.map((s) => `${LAB_IF_PREFIX}${id}${s}`)
}

/** Names in `ip netns list` (first word of each line: "name (id: 3)"). */
export function parseNetnsList(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => n !== undefined && n !== '')
}

/** All named network namespaces. */
export async function listNamespaces(): Promise<string[]> {
  return parseNetnsList((await run(['ip', 'netns', 'list'])).stdout)
}

function listNamespacesSync(): string[] {
  return parseNetnsList(runSync(['ip', 'netns', 'list']).stdout)
}

/** Ids of every lab present (any process's), from the namespace names. */
export async function listLabs(): Promise<string[]> {
  return labIdsIn(await listNamespaces())
}

function labIdsIn(names: string[]): string[] {
  const ids = new Set<string>()
  for (const n of names) {
    const id = labIdOf(n)
    if (id !== undefined) ids.add(id)
  }
  return [...ids].sort()
}

/**
 * Turns off checksum and segmentation offloads on `iface` with the legacy ethtool ioctls (SIOCETHTOOL:
 * ETHTOOL_STXCSUM, _SSG, _STSO, _SGSO, _SGRO, _SRXCSUM set to 0), in Python because Node has no ioctl and
 * the `ethtool` program is often missing. Tried after `ethtool -K`. With a second argument 'norx' it leaves
 * receive checksumming alone: a bridge has no such feature to switch (the ioctl fails with EOPNOTSUPP).
 */
const OFFLOADS_OFF_PY = `
import array, fcntl, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
cmds = (0x17, 0x19, 0x1f, 0x24, 0x2c) + (() if sys.argv[2:] == ['norx'] else (0x15,))
for cmd in cmds:
    buf = array.array('B', struct.pack('II', cmd, 0))
    fcntl.ioctl(s.fileno(), 0x8946, struct.pack('16sP', sys.argv[1].encode(), buf.buffer_info()[0]))
`

/** Sysctls set inside each namespace before the veth exists, so the veth inherits them (`default`). */
const NS_SYSCTLS = [
  'net.ipv6.conf.all.accept_dad=0',
  'net.ipv6.conf.default.accept_dad=0',
  'net.ipv6.conf.all.router_solicitations=0',
  'net.ipv6.conf.default.router_solicitations=0',
  'net.ipv6.conf.all.accept_ra=0',
  'net.ipv6.conf.default.accept_ra=0',
]

/** A lab veth's offloads: turned off by the lab, or left at the kernel's defaults. */
export type LabOffloads = 'on' | 'off'

/** Options of {@link netnsUp}. */
export interface NetnsUpOptions {
  /** Lab id (1..10 of a-z0-9); default a random one. Fails if a lab of that name exists. */
  name?: string
  /**
   * 'off' (default): checksum and segmentation offloads turned off on both veth ends; fails with
   * DEV_ERR_NETNS if neither `ethtool -K` nor the ioctl can. 'on': the veth as the kernel makes it,
   * untouched (see the module comment).
   */
  offloads?: LabOffloads
  /**
   * 'pair' (default): sides A and B joined by one veth. 'bridge': the Docker shape (see the module
   * comment): a bridge in B carrying B's addresses, A and C on veths to it; `offloads` then applies to every
   * veth end and to the bridge.
   */
  topology?: LabTopology
}

/** One phrase for a message: which offload setting a lab's veth had (failures say it, issue 12). */
export function describeOffloads(lab: Pick<Lab, 'offloads' | 'offloadsOff'> & { readonly topology?: LabTopology }): string {
  // A bridge lab names the bridge too: its offloads follow the same setting.
  const what = lab.topology === 'bridge' ? 'veth and bridge offloads' : 'veth offloads'
  if (lab.offloads === 'on') return `${what} at the kernel's defaults (checksum offload, TSO/GSO/GRO on)`
  return lab.offloadsOff ? `${what} off (tx, sg, tso, gso, gro)` : `${what} meant to be off, but the switch failed`
}

/**
 * Creates a lab (see the module comment) and registers its removal with cleanup.ts. Needs root (or
 * CAP_SYS_ADMIN + CAP_NET_ADMIN); throws DEV_ERR_PERMISSION without it, DEV_ERR_NETNS when a step fails
 * (after removing whatever it had created).
 */
export async function netnsUp(opts: NetnsUpOptions = {}): Promise<Lab> {
  if (!hasCapability(Capability.CAP_SYS_ADMIN) || !hasCapability(Capability.CAP_NET_ADMIN)) {
    throw labPermissionError()
  }
  const existing = await listNamespaces()
  let id = opts.name
  if (id !== undefined) {
    checkId(id)
    if (labIdsIn(existing).includes(id)) throw netnsError(`lab '${id}' already exists (tcplab netns down --name ${id})`)
  } else {
    do id = newLabId()
    while (labIdsIn(existing).includes(id))
  }
  const offloads = opts.offloads ?? 'off'
  if (offloads !== 'on' && offloads !== 'off') throw new WireError('ERR_BAD_ARGUMENT', `offloads must be on or off, got '${String(offloads)}'`)
  const topology = opts.topology ?? 'pair'
  if (topology !== 'pair' && topology !== 'bridge') {
    throw new WireError('ERR_BAD_ARGUMENT', `topology must be pair or bridge, got '${String(topology)}'`)
  }
  const lab = new LabImpl(id, offloads, topology)
  try {
    await lab.create()
  } catch (e) {
    lab.downSync()
    throw e
  }
  return lab
}

class LabImpl implements Lab {
  readonly a: LabSide
  readonly b: LabSide
  readonly c: LabSide | undefined
  readonly bridge: LabBridge | undefined
  readonly sides: readonly LabSide[]
  readonly prefix4 = LAB_PLAN.prefix4
  readonly prefix6 = LAB_PLAN.prefix6
  offloadsOff = false
  private readonly children = new Set<ChildProcess>()
  private readonly cleanup: CleanupHandle
  /** Namespaces this lab created: only these are ever removed by it (a failed create never touches another's). */
  private readonly created: string[] = []

  constructor(
    readonly id: string,
    readonly offloads: LabOffloads,
    readonly topology: LabTopology,
  ) {
    const [nsA, nsB, nsC] = labNamespaces(id)
    const ifc = (suffix: string): string => `${LAB_IF_PREFIX}${id}${suffix}`
    this.a = { name: 'a', ns: nsA, iface: ifc('a'), ...LAB_PLAN.a }
    if (topology === 'bridge') {
      // B's addresses live on the bridge, so `lab.b.iface` is where B's kernel sends from and a tap on it
      // sees all of B's traffic, as in a pair lab.
      this.bridge = { ns: nsB, name: ifc('br'), mac: LAB_PLAN.b.mac, ports: { a: ifc('pa'), c: ifc('pc') } }
      this.b = { name: 'b', ns: nsB, iface: this.bridge.name, ...LAB_PLAN.b }
      this.c = { name: 'c', ns: nsC, iface: ifc('c'), ...LAB_PLAN.c }
      this.sides = [this.a, this.b, this.c]
    } else {
      this.b = { name: 'b', ns: nsB, iface: ifc('b'), ...LAB_PLAN.b }
      this.sides = [this.a, this.b]
    }
    // The owner record and the cleanup action come before anything exists: a kill -9 during creation leaves
    // a record naming a dead owner (plain `tcplab cleanup` takes it), a signal removes what was made.
    recordOwner('lab', id)
    this.cleanup = registerCleanup(`namespace lab ${id}`, () => {
      removeNamespacesSync(this.created)
      dropOwner('lab', id)
    })
  }

  async create(): Promise<void> {
    for (const s of this.sides) {
      await run(['ip', 'netns', 'add', s.ns])
      this.created.push(s.ns)
    }
    await Promise.all(this.sides.map((s) => run(['ip', 'netns', 'exec', s.ns, 'sysctl', '-q', '-w', ...NS_SYSCTLS])))
    const offs = this.bridge === undefined ? await this.createPair() : await this.createBridge(this.bridge, this.c!)
    this.offloadsOff = offs.every(Boolean)
    if (this.offloads === 'off' && !this.offloadsOff) {
      const what = this.bridge === undefined ? `${this.a.iface}/${this.b.iface}` : `the veths and bridge of lab ${this.id}`
      throw netnsError(`cannot turn offloads off on ${what} (neither ethtool -K nor the SIOCETHTOOL ioctl from python3 worked); --offloads on leaves them at the kernel's defaults`)
    }
    await Promise.all(this.sides.map((s) => waitReady(s)))
    if (this.bridge !== undefined) await waitForwarding(this.bridge)
  }

  /** One veth, an end in A and an end in B; resolves the offload switch's result per end. */
  private async createPair(): Promise<boolean[]> {
    const { a, b } = this
    // Both ends are born inside the lab's namespaces: nothing ever appears in the root namespace.
    await run([
      'ip', '-n', a.ns, 'link', 'add', a.iface, 'address', a.mac, 'type', 'veth',
      'peer', 'name', b.iface, 'address', b.mac, 'netns', b.ns,
    ])
    return Promise.all([a, b].map((s) => this.configure(s)))
  }

  /** The bridge in B, and a veth from A and from C to it; resolves the offload switch's result per device. */
  private async createBridge(br: LabBridge, c: LabSide): Promise<boolean[]> {
    const { a, b } = this
    // STP off and forward delay 0: a port forwards as soon as it has carrier (no 15 s listening/learning).
    // Multicast snooping off: ND's solicited-node multicast is flooded from the first packet on.
    await run([
      'ip', '-n', br.ns, 'link', 'add', br.name, 'address', br.mac, 'type', 'bridge',
      'stp_state', '0', 'forward_delay', '0', 'mcast_snooping', '0',
    ])
    for (const [s, port, mac] of [[a, br.ports.a, LAB_PLAN.ports.a], [c, br.ports.c, LAB_PLAN.ports.c]] as const) {
      await run([
        'ip', '-n', s.ns, 'link', 'add', s.iface, 'address', s.mac, 'type', 'veth',
        'peer', 'name', port, 'address', mac, 'netns', br.ns,
      ])
    }
    // All at once: each offload switch starts a python3, slow where it is a pyenv shim (~0.4 s). The
    // bridge keeps its switched-off features when ports join (they are recomputed from what was asked).
    return Promise.all([
      ...[br.ports.a, br.ports.c].map((p) => this.configurePort(br, p)),
      this.offloads === 'off' ? disableOffloads(br.ns, br.name, false) : Promise.resolve(false),
      ...[a, b, c].map((s) => this.configure(s, s === b)),
    ])
  }

  /** A bridge port: layer 2 only (no IPv6 of its own, so no link-local chatter from it), enslaved, up. */
  private async configurePort(br: LabBridge, port: string): Promise<boolean> {
    const n = ['ip', '-n', br.ns]
    await run(['ip', 'netns', 'exec', br.ns, 'sysctl', '-q', '-w', `net.ipv6.conf.${port}.disable_ipv6=1`])
    const off = this.offloads === 'off' ? await disableOffloads(br.ns, port) : false
    await run([...n, 'link', 'set', port, 'master', br.name])
    await run([...n, 'link', 'set', port, 'up'])
    return off
  }

  /** Addresses on a side's interface, then up; `isBridge`: offloads were already handled with the bridge. */
  private async configure(s: LabSide, isBridge = false): Promise<boolean> {
    const n = ['ip', '-n', s.ns]
    await run([...n, 'link', 'set', 'lo', 'up'])
    const off = this.offloads === 'off' && !isBridge ? await disableOffloads(s.ns, s.iface) : this.offloads === 'off'
    await run([...n, 'addr', 'add', `${s.ipv4}/${this.prefix4}`, 'dev', s.iface])
    await run([...n, '-6', 'addr', 'add', `${s.ipv6}/${this.prefix6}`, 'dev', s.iface, 'nodad'])
    await run([...n, 'link', 'set', s.iface, 'up'])
    return off
  }

  side(name: LabSideName): LabSide {
    if (name === 'a') return this.a
    if (name === 'b') return this.b
    if (name === 'c' && this.c !== undefined) return this.c
    throw new WireError('ERR_BAD_ARGUMENT', `lab ${this.id} has no side '${String(name)}' (side c exists only in a bridge lab)`)
  }

  exec(side: LabSideName, argv: readonly string[], opts?: ExecOptions): Promise<ExecResult> {
    return run(['ip', 'netns', 'exec', this.side(side).ns, ...argv], opts)
  }

  spawn(side: LabSideName, argv: readonly string[], opts: SpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.side(side).ns, ...argv], opts)
    this.children.add(child)
    child.on('exit', () => this.children.delete(child))
    return child
  }

  describe(): string[] {
    const { a, b, c, bridge } = this
    const at = (s: LabSide): string => `${s.iface} ${s.ipv4}/${this.prefix4} ${s.ipv6}/${this.prefix6}`
    const owned = (s: LabSide): string => `side ${s.name} ${s.owned.ipv4} ${s.owned.ipv6} ${s.owned.mac}`
    if (bridge === undefined || c === undefined) {
      return [
        `lab ${this.id}: ${a.ns} (${at(a)}) <-veth-> ${b.ns} (${at(b)})`,
        `offloads: ${describeOffloads(this)}`,
        `lab-owned (for --via pcap): ${owned(a)}; ${owned(b)}`,
        `run a command on side a: ip netns exec ${a.ns} <command>   (e.g. ip netns exec ${a.ns} ping -c1 ${b.ipv4})`,
        `run a command on side b: ip netns exec ${b.ns} <command>`,
        `remove: tcplab netns down --name ${this.id}`,
      ]
    }
    return [
      `lab ${this.id} (bridge): ${a.ns} (${at(a)}) <-veth-> ${bridge.ports.a} [bridge ${bridge.name} in ${b.ns}: ${b.ipv4}/${this.prefix4} ${b.ipv6}/${this.prefix6}] ${bridge.ports.c} <-veth-> ${c.ns} (${at(c)})`,
      `offloads: ${describeOffloads(this)}`,
      `lab-owned (for --via pcap): ${owned(a)}; ${owned(b)}; ${owned(c)}`,
      `run a command on side a: ip netns exec ${a.ns} <command>   (e.g. ip netns exec ${a.ns} ping -c1 ${c.ipv4})`,
      `run a command on side b: ip netns exec ${b.ns} <command>`,
      `run a command on side c: ip netns exec ${c.ns} <command>`,
      `remove: tcplab netns down --name ${this.id}`,
    ]
  }

  private killChildren(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  }

  async down(): Promise<void> {
    this.killChildren()
    await removeNamespaces(this.created)
    dropOwner('lab', this.id)
    this.cleanup.unregister()
  }

  downSync(): void {
    this.killChildren()
    this.cleanup.run()
  }

  keep(): void {
    this.cleanup.unregister()
    markKept('lab', this.id)
  }
}

/** How long {@link waitReady} waits for the kernel to finish bringing a veth end up. */
const READY_TIMEOUT_MS = 10_000

/**
 * Waits until the kernel has finished bringing `s.iface` up: operstate UP and IPv6 ready on it (its
 * multicast route `ff00::/8` installed). Carrier changes reach IPv6 through the kernel's linkwatch, which
 * batches events machine-wide and can lag by up to a second when many interfaces change at once (parallel
 * tests): until then the side drops multicast, neighbor solicitations included.
 */
async function waitReady(s: LabSide): Promise<void> {
  const start = Date.now()
  for (;;) {
    const [link, routes] = await Promise.all([
      run(['ip', '-n', s.ns, '-o', 'link', 'show', 'dev', s.iface]),
      run(['ip', '-n', s.ns, '-6', 'route', 'show', 'table', 'local', 'type', 'multicast']),
    ])
    if (/\bstate UP\b/.test(link.stdout) && routes.stdout.includes(`ff00::/8 dev ${s.iface} `)) return
    if (Date.now() - start > READY_TIMEOUT_MS) {
      throw netnsError(`${s.iface} in ${s.ns} is not ready after ${READY_TIMEOUT_MS / 1000} s (no carrier or no IPv6)`)
    }
    await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * Waits until both ports of a bridge forward. With STP off and forward delay 0 the kernel moves a port
 * to forwarding when it gets carrier, but that carrier change too goes through linkwatch (see waitReady).
 */
async function waitForwarding(br: LabBridge): Promise<void> {
  const start = Date.now()
  for (;;) {
    const links = await run(['ip', '-n', br.ns, '-d', '-o', 'link', 'show', 'master', br.name])
    const forwarding = links.stdout.split('\n').filter((l) => /\bbridge_slave state forwarding\b/.test(l)).length
    if (forwarding === 2) return
    if (Date.now() - start > READY_TIMEOUT_MS) {
      throw netnsError(`the ports of ${br.name} in ${br.ns} do not forward after ${READY_TIMEOUT_MS / 1000} s`)
    }
    await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * Turns offloads off on `iface` inside `ns`: `ethtool -K`, else the Python ioctl. False if neither works.
 * `rx` false: a device without a receive checksum feature (the bridge).
 */
async function disableOffloads(ns: string, iface: string, rx = true): Promise<boolean> {
  const x = ['ip', 'netns', 'exec', ns]
  const e = await run([...x, 'ethtool', '-K', iface, 'tx', 'off', 'sg', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off'], {
    allowFail: true,
  })
  if (e.code === 0) return true
  const p = await run([...x, 'python3', '-c', OFFLOADS_OFF_PY, iface, ...(rx ? [] : ['norx'])], { allowFail: true })
  return p.code === 0
}

/** Kills (SIGKILL) every process in namespace `ns`: they are ours, started in a lab. */
function killNamespacePids(pidsText: string): void {
  for (const w of pidsText.split(/\s+/)) {
    const pid = Number(w)
    if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Already gone.
    }
  }
}

/** Removes lab `id` (all its namespaces; veths and bridge go with them). Returns the namespaces it deleted. */
export async function removeLab(id: string): Promise<string[]> {
  const removed = await removeNamespaces(labNamespaces(id))
  dropOwner('lab', id)
  return removed
}

/**
 * Kills the processes in each namespace and deletes it; returns those deleted. The owner records of the RST
 * guards that lived inside go too (a guard's table goes with its namespace; its record would stay behind).
 */
async function removeNamespaces(list: readonly string[]): Promise<string[]> {
  const present = new Set(await listNamespaces())
  const removed: string[] = []
  for (const ns of list) {
    if (!present.has(ns)) continue
    const tables = await run(['ip', 'netns', 'exec', ns, 'nft', 'list', 'tables'], { allowFail: true })
    const pids = await run(['ip', 'netns', 'pids', ns], { allowFail: true })
    killNamespacePids(pids.stdout)
    const r = await run(['ip', 'netns', 'del', ns], { allowFail: true })
    if (r.code === 0) {
      removed.push(ns)
      // A guard's table is named tcplab_<id>: its record, if any, is named the same (dropping none is a no-op).
      for (const [, name] of parseNftTables(tables.stdout)) dropOwner('guard', name)
    }
  }
  return removed
}

/** {@link removeLab}, synchronously. */
export function removeLabSync(id: string): string[] {
  const removed = removeNamespacesSync(labNamespaces(id))
  dropOwner('lab', id)
  return removed
}

function removeNamespacesSync(list: readonly string[]): string[] {
  const present = new Set(listNamespacesSync())
  const removed: string[] = []
  for (const ns of list) {
    if (!present.has(ns)) continue
    const tables = runSync(['ip', 'netns', 'exec', ns, 'nft', 'list', 'tables'], { allowFail: true })
    killNamespacePids(runSync(['ip', 'netns', 'pids', ns], { allowFail: true }).stdout)
    if (runSync(['ip', 'netns', 'del', ns], { allowFail: true }).code === 0) {
      removed.push(ns)
      // A guard's table is named tcplab_<id>: its record, if any, is named the same (dropping none is a no-op).
      for (const [, name] of parseNftTables(tables.stdout)) dropOwner('guard', name)
    }
  }
  return removed
}

/**
 * Removes one lab by id (or by one of its namespace names) — for `tcplab netns down`, also after a
 * `kill -9` left one behind. Returns the namespaces deleted (empty when there was nothing).
 */
export async function netnsDown(name: string): Promise<string[]> {
  const id = labIdOf(name) ?? name
  checkId(id)
  return removeLab(id)
}

/** What {@link cleanupAll} removed. */
export interface CleanupReport {
  /** Lab namespaces deleted. */
  namespaces: string[]
  /** nftables tables deleted, as `<namespace or "root">:<family> <table>`. */
  tables: string[]
  /** iptables/ip6tables rules deleted, as `<namespace or "root">:<rule>`. */
  iptablesRules: string[]
  /** With owners 'dead': what was left because its owner still runs (labs by id, tables and rules as above). */
  inUse?: string[]
  /** With owners 'dead', a full scan: owner records of dead guards dropped because nothing of them was left. */
  staleRecords?: string[]
  /** With owners 'dead': labs left because `netns up` handed them to nobody (remove with netns down). */
  kept?: string[]
  /** With owners 'dead': what was left because no owner record names it (an older tcplab, or made by hand). */
  unowned?: string[]
}

/** `nft list tables` lines ("table inet tcplab_x") whose name starts with `prefix`, as [family, name]. */
export function parseNftTables(text: string, match: NameMatch = LAB_TABLE_PREFIX): [string, string][] {
  const test = matcherOf(match)
  const out: [string, string][] = []
  for (const line of text.split('\n')) {
    const m = /^table\s+(\S+)\s+(\S+)/.exec(line.trim())
    if (m !== null && test(m[2])) out.push([m[1], m[2]])
  }
  return out
}

/** `iptables -S OUTPUT` lines of tcplab (comment `tcplab_…`), turned into `-D` argument lists. */
export function parseIptablesRules(text: string, match: NameMatch = LAB_TABLE_PREFIX): string[][] {
  const test = matcherOf(match)
  const out: string[][] = []
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/)
    const c = words.indexOf('--comment')
    if (words[0] !== '-A' || c < 0) continue
    const comment = (words[c + 1] ?? '').replace(/^"|"$/g, '')
    if (!test(comment)) continue
    out.push(['-D', ...words.slice(1).map((w) => w.replace(/^"|"$/g, ''))])
  }
  return out
}

/** Which table or rule-comment names to take: a prefix, or a predicate. */
export type NameMatch = string | ((name: string) => boolean)

function matcherOf(m: NameMatch): (name: string) => boolean {
  return typeof m === 'string' ? (name) => name.startsWith(m) : m
}

/**
 * The tables and rule comments named after lab `id`: `tcplab_<id>` itself or `tcplab_<id>_…` — never
 * another lab's whose id merely starts the same (`ab` vs `abc`), nor an RST guard's `tcplab_g…`.
 */
export function labNameMatcher(id: string): (name: string) => boolean {
  const base = `${LAB_TABLE_PREFIX}${id}`
  return (name) => name === base || name.startsWith(`${base}_`)
}

/** Options of {@link cleanupAll}. */
export interface CleanupAllOptions {
  /** Only these lab ids, and only tables/rules named `tcplab_<id>` or `tcplab_<id>_…`; default: everything of tcplab. */
  only?: string[]
  /**
   * 'any' (default; `cleanup --all` and `--name`): whatever is found. 'dead' (plain `tcplab cleanup`): only
   * what a tcplab process that is gone left behind (owner.ts); kept labs, things whose owner runs and things
   * with no owner record stay, listed in the report's kept, inUse and unowned.
   */
  owners?: 'any' | 'dead'
  /**
   * Look only at these labs, and for tables and rules only inside their namespaces (never the root
   * namespace or any other): for tests, which must never touch what parallel runs own.
   */
  within?: string[]
}

/** Whose a table or rule is: a guard's own record, else the lab it is named after (`tcplab_<id>…`). */
function tableOwnership(name: string, labs: readonly string[]): Ownership {
  const own = ownershipOf('guard', name)
  if (own !== 'unowned') return own
  const lab = labs.find((id) => labNameMatcher(id)(name))
  return lab === undefined ? 'unowned' : ownershipOf('lab', lab)
}

/**
 * Removes lab namespaces and tcplab nftables tables and iptables rules left anywhere (the root namespace
 * and every other named namespace) — `tcplab cleanup`, after a `kill -9` or a crash. With owners 'dead'
 * only what a dead owner left (see {@link CleanupAllOptions.owners}).
 */
export async function cleanupAll(opts: CleanupAllOptions = {}): Promise<CleanupReport> {
  const report: CleanupReport = { namespaces: [], tables: [], iptablesRules: [] }
  const dead = opts.owners === 'dead'
  const left = { inUse: [] as string[], kept: [] as string[], unowned: [] as string[] }
  const leave = (own: Ownership, what: string): boolean => {
    if (!dead || own === 'dead') return false
    left[own === 'alive' ? 'inUse' : own === 'kept' ? 'kept' : 'unowned'].push(what)
    return true
  }
  const only = opts.only
  only?.forEach(checkId)
  opts.within?.forEach(checkId)
  const names = await listNamespaces()
  const allLabs = labIdsIn(names)
  const remaining: string[] = []
  for (const id of allLabs) {
    if (opts.within !== undefined && !opts.within.includes(id)) continue
    if ((only !== undefined && !only.includes(id)) || leave(ownershipOf('lab', id), id)) {
      remaining.push(id)
      continue
    }
    report.namespaces.push(...(await removeLab(id)))
  }
  const prefixes: NameMatch[] = only === undefined ? [LAB_TABLE_PREFIX] : only.map(labNameMatcher)
  // Tables and rules: in the root namespace and every other one; with 'dead' also inside the labs left
  // standing (a guard of a killed run in a kept lab is a leftover). `within`: only the labs' namespaces.
  const spaces: Array<string | undefined> =
    opts.within !== undefined
      ? names.filter((n) => remaining.includes(labIdOf(n) ?? ''))
      : [undefined, ...names.filter((n) => labIdOf(n) === undefined || (dead && remaining.includes(labIdOf(n)!)))]
  /** Every table and rule name seen, left or removed: a guard record naming none of them is stale. */
  const seen = new Set<string>()
  for (const ns of spaces) {
    const x = ns === undefined ? [] : ['ip', 'netns', 'exec', ns]
    const where = ns ?? 'root'
    const tables = await run([...x, 'nft', 'list', 'tables'], { allowFail: true })
    if (tables.code === 0) {
      for (const p of prefixes) {
        for (const [family, name] of parseNftTables(tables.stdout, p)) {
          seen.add(name)
          if (leave(tableOwnership(name, allLabs), `${where}:${family} ${name}`)) continue
          const r = await run([...x, 'nft', 'delete', 'table', family, name], { allowFail: true })
          if (r.code === 0) {
            report.tables.push(`${where}:${family} ${name}`)
            dropOwner('guard', name)
          }
        }
      }
    }
    for (const tool of ['iptables', 'ip6tables']) {
      const rules = await run([...x, tool, '-w', '-S', 'OUTPUT'], { allowFail: true })
      if (rules.code !== 0) continue
      for (const p of prefixes) {
        for (const del of parseIptablesRules(rules.stdout, p)) {
          const comment = del[del.indexOf('--comment') + 1] ?? ''
          seen.add(comment)
          const what = `${where}:${tool} ${del.slice(1).join(' ')}`
          if (leave(tableOwnership(comment, allLabs), what)) continue
          const r = await run([...x, tool, '-w', ...del], { allowFail: true })
          if (r.code === 0) {
            report.iptablesRules.push(what)
            dropOwner('guard', comment)
          }
        }
      }
    }
  }
  // A full scan that saw every namespace: the records of dead guards with nothing left anywhere go too.
  const sweep = dead && only === undefined && opts.within === undefined
  return dead ? { ...report, ...left, ...(sweep ? { staleRecords: dropStaleGuardRecords(seen) } : {}) } : report
}

/**
 * What is left of lab `id`: its namespaces (C's too), interfaces named after it in the root namespace
 * (veth ends, bridge ports, the bridge), and nftables tables named after it in the root namespace. Empty
 * when the lab is fully gone.
 */
export function labLeftovers(id: string): string[] {
  const left: string[] = []
  const names = new Set(listNamespacesSync())
  for (const ns of labNamespaces(id)) if (names.has(ns)) left.push(`namespace ${ns}`)
  const links = runSync(['ip', '-o', 'link', 'show'], { allowFail: true }).stdout
  const ours = new Set(labInterfaces(id))
  for (const line of links.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line)
    if (m !== null && ours.has(m[1])) left.push(`link ${m[1]}`)
  }
  const tables = runSync(['nft', 'list', 'tables'], { allowFail: true })
  if (tables.code === 0) {
    for (const [f, t] of parseNftTables(tables.stdout, labNameMatcher(id))) left.push(`nft table ${f} ${t}`)
  }
  return left
}
