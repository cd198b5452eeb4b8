/**
 * Helpers for the interop tests (test/interop/*.test.ts): the userland stack as a child process in one
 * side of a lab (test/interop/stack-child.mjs), the Linux kernel's TCP as a python3 peer in the other
 * (with TCP_INFO, which Node's net cannot read), `ss` for the kernel's socket states, and the checks that
 * nothing of a lab outlives its test.
 */
import type { ChildProcess } from 'node:child_process'
import { expect } from 'vitest'
import { LEGAL_TRANSITIONS } from '../../src/tcp/tcb.js'
import type { TcpState } from '../../src/tcp/types.js'
import { runSync, parseNetnsList, type Lab, type LabOffloads, type LabSideName, type NetnsUpOptions } from '../../src/net/netns.js'
import { LineReader, exitOf, repoPath, requireBuilt, withLab } from './lab.js'

/** One mebibyte: the transfer size of the interop tests. */
export const MB = 1 << 20

/**
 * The kernel peer: a python3 TCP server or client that sends `bytes` random bytes while receiving, and
 * reports SHA-256 of both directions, whether it saw a clean EOF, the errno of any failure, and the
 * kernel's TCP_INFO (struct tcp_info, include/uapi/linux/tcp.h: 8 u8 then u32s) read before close().
 *
 * role 'server': listen, print {"type":"listening"}, accept one connection; exchange; read until EOF;
 *   close (the userland side closed first, so the kernel does the passive close: CLOSE-WAIT, LAST-ACK).
 * role 'client': connect; exchange; once `bytes` arrived and ours are sent, shutdown(SHUT_WR) (the kernel
 *   closes first and ends in TIME-WAIT); read until EOF; close.
 * maxseg sets TCP_MAXSEG before listen/connect: the MSS the kernel announces in its SYN or SYN+ACK.
 */
const KERNEL_PEER_PY = String.raw`
import errno, hashlib, json, os, socket, struct, sys, threading
o = json.loads(sys.argv[1])
def out(**kw):
    print(json.dumps(kw), flush=True)
fam = socket.AF_INET6 if ':' in o['host'] else socket.AF_INET
data = os.urandom(o['bytes'])
def info(s):
    f = struct.unpack('8B24I', s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)[:104])
    return {'state': f[0], 'options': f[5], 'sndWscale': f[6] & 15, 'rcvWscale': f[6] >> 4,
            'sndMss': f[10], 'rcvMss': f[11], 'advmss': f[27], 'retrans': f[15], 'totalRetrans': f[31]}
def errname(e):
    return errno.errorcode.get(e.errno, str(e)) if isinstance(e, OSError) and e.errno else type(e).__name__
def exchange(s, close_first):
    res = {'recvBytes': 0, 'eof': False, 'error': None, 'sentBytes': 0}
    h = hashlib.sha256()
    def send():
        try:
            s.sendall(data)
            res['sentBytes'] = len(data)
        except OSError as e:
            res['error'] = res['error'] or errname(e)
    t = threading.Thread(target=send)
    t.start()
    try:
        while True:
            if close_first and res['recvBytes'] >= o['bytes']:
                t.join()
                s.shutdown(socket.SHUT_WR)
                close_first = False
            b = s.recv(65536)
            if not b:
                res['eof'] = True
                break
            h.update(b)
            res['recvBytes'] += len(b)
    except OSError as e:
        res['error'] = res['error'] or errname(e)
    t.join()
    res['recvSha'] = h.hexdigest()
    res['sentSha'] = hashlib.sha256(data).hexdigest()
    res['info'] = info(s)
    s.close()
    out(type='done', **res)
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if o.get('maxseg'):
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, o['maxseg'])
s.settimeout(o['timeoutMs'] / 1000)
if o['role'] == 'server':
    s.bind((o['host'], o['port']))
    s.listen(4)
    out(type='listening')
    c, addr = s.accept()
    c.settimeout(o['timeoutMs'] / 1000)
    out(type='accepted', peer=addr[0], peerPort=addr[1])
    exchange(c, False)
    s.close()
else:
    try:
        s.connect((o['host'], o['port']))
    except OSError as e:
        out(type='done', error=errname(e), connected=False)
        sys.exit(0)
    out(type='connected', localPort=s.getsockname()[1])
    exchange(s, True)
`

/** Options of {@link kernelPeer}. */
export interface KernelPeerOptions {
  role: 'server' | 'client'
  /** Address to listen on (server) or connect to (client). */
  host: string
  port: number
  /** Random bytes to send; the client also waits for this many before it closes. */
  bytes: number
  /** TCP_MAXSEG before listen/connect. */
  maxseg?: number
  /** Socket timeout (every blocking call), ms. */
  timeoutMs?: number
}

/** What the kernel peer printed at the end. */
export interface KernelDone {
  type: 'done'
  error: string | null
  connected?: boolean
  recvBytes: number
  recvSha: string
  sentBytes: number
  sentSha: string
  eof: boolean
  info: KernelTcpInfo
}

/** The part of struct tcp_info the kernel peer reports. */
export interface KernelTcpInfo {
  /** TCP_ESTABLISHED = 1 … TCP_CLOSE = 7, TCP_CLOSE_WAIT = 8 (include/net/tcp_states.h). */
  state: number
  /** TCPI_OPT_TIMESTAMPS 1 | TCPI_OPT_SACK 2 | TCPI_OPT_WSCALE 4. */
  options: number
  /** The shift the peer (tcplab) announced: what the kernel applies to windows it receives. */
  sndWscale: number
  /** The kernel's own shift. */
  rcvWscale: number
  sndMss: number
  rcvMss: number
  advmss: number
  retrans: number
  totalRetrans: number
}

/** TCPI_OPT_* bits of tcp_info.tcpi_options. */
export const TCPI_OPT = { TIMESTAMPS: 1, SACK: 2, WSCALE: 4 } as const

/** A child and its line reader. */
export interface Proc {
  child: ChildProcess
  out: LineReader
}

/** Starts the python3 kernel peer in `side`. */
export function kernelPeer(lab: Lab, side: LabSideName, opts: KernelPeerOptions): Proc {
  const child = lab.spawn(side, ['python3', '-c', KERNEL_PEER_PY, JSON.stringify({ timeoutMs: 20_000, ...opts })], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return track({ child, out: new LineReader(child) })
}

/** Options of stack-child.mjs (see its header). */
export interface StackChildOptions {
  role: 'client' | 'server' | 'idle'
  via: 'raw' | 'pcap'
  local: string
  mac?: string
  iface?: string
  peer?: string
  port: number
  localPort?: number
  bytes?: number
  /** Bytes to receive before a closeFirst client ends (default `bytes`). */
  expectBytes?: number
  closeFirst?: boolean
  waitGo?: boolean
  /** Pause reading this long after the connection opens (our window closes). */
  readDelayMs?: number
  /** Log the first 40 dropped segments in the report (debugging). */
  traceDrops?: boolean
  tcp?: Record<string, unknown>
  timeoutMs?: number
}

/** A state transition as the child prints it. */
export interface StateLine {
  type: 'state'
  from: TcpState
  to: TcpState
  cause: string
}

/** The child's final report. */
export interface StackReport {
  type: 'report'
  states: TcpState[]
  peerSyn?: { flags: number; window: number; options: Array<Record<string, unknown>> }
  ourSyn?: { flags: number; window: number; options: Array<Record<string, unknown>> }
  negotiated?: {
    peerMss: number
    effMss: number
    mssOffered: number
    sndShift: number
    rcvShift: number
    tsOk: boolean
    sackOk: boolean
    wsOk: boolean
  }
  segments: {
    out: number
    outData: number
    outRetransmits: number
    maxPayload: number
    maxPayloadPlusOptions: number
    bySize: Record<string, number>
    outWithoutTs: number
    echoNotSeen: number
    in: number
    inData: number
    maxPayloadIn: number
    inSack: number
    outSack: number
    outZeroWindow: number
  }
  /** With traceDrops: the segments before the first drop, then the drops. */
  dropLog: string[]
  /** Incoming segments our TCB discarded, by trace drop reason. */
  drops: Record<string, number>
  tcb?: {
    retransmits: number
    timeouts: number
    fastRetransmits: number
    segsIn: number
    segsOut: number
    dupAcksIn: number
    drops: number
  } & Record<string, number>
  iface: { resetsSent: number; drops: Record<string, number>; packetsIn: number; packetsOut: number; checksumOffloaded: number } & Record<string, unknown>
  /** The wire-side device's counters (raw device, or the capture device under IP-over-Ethernet). */
  link: { received: number; dropped: number; truncated: number } & Record<string, number>
  data: {
    sentBytes: number
    sentSha: string
    recvBytes: number
    recvSha: string
    eof: boolean
    closed: boolean
    hadError: boolean
  }
}

/** Starts test/interop/stack-child.mjs in `side` (Node runs the built code). */
export function stackChild(lab: Lab, side: LabSideName, opts: StackChildOptions): Proc {
  requireBuilt('dist/lab/stack/live.js', 'dist/lab/stack/socket.js', 'dist/tcp/segment.js')
  const child = lab.spawn(side, [process.execPath, repoPath('test/interop/stack-child.mjs'), JSON.stringify({ timeoutMs: 25_000, ...opts })], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  return track({ child, out: new LineReader(child) })
}

/**
 * The next JSON line of `type` from a child (stack-child or the kernel peer), skipping other types; a
 * `fatal` line (the child's watchdog or an uncaught error) fails at once with what the child said.
 */
export async function line<T = Record<string, unknown>>(p: Proc, type: string): Promise<T> {
  for (;;) {
    const l = await p.out.next(/^\{/)
    const v = JSON.parse(l) as { type?: string }
    if (v.type === type) return v as T
    if (v.type === 'fatal') throw new Error(`child failed while waiting for '${type}': ${l}\n${p.out.errors}`)
  }
}

/** Starts any command in a lab side, tracked so {@link interopLab} kills it if it is still running. */
export function spawnTracked(lab: Lab, side: LabSideName, argv: string[]): Proc {
  const child = lab.spawn(side, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  return track({ child, out: new LineReader(child) })
}

/** Collects every `state` line up to the `report` line, and the report. */
export async function stateLinesAndReport(p: Proc): Promise<{ states: StateLine[]; report: StackReport }> {
  const states: StateLine[] = []
  for (;;) {
    const l = await p.out.next(/^\{/)
    const v = JSON.parse(l) as { type: string }
    if (v.type === 'state') states.push(v as StateLine)
    else if (v.type === 'report') return { states, report: v as StackReport }
    else if (v.type === 'fatal') throw new Error(`stack child failed: ${l}\n${p.out.errors}`)
  }
}

/** Waits for the child to exit and expects exit code 0 after its `end` line. */
export async function expectCleanExit(p: Proc): Promise<void> {
  expect(await exitOf(p.child)).toEqual({ code: 0, signal: null })
}

const live = new Set<ChildProcess>()

function track(p: Proc): Proc {
  live.add(p.child)
  p.child.on('exit', () => live.delete(p.child))
  return p
}

/** Kills every child started by this file that still runs (call in finally; lab.down kills them too). */
export function killChildren(): void {
  for (const c of live) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  }
  live.clear()
}

const labsOfThisFile = new Set<string>()

/**
 * The two kinds of lab veth every interop case runs on (issue 12): offloads turned off, as tcplab's own lab
 * has them, and left at the kernel's defaults, as users' veths, containers and bridges have them (checksums
 * left to offload, 64 KB super-segments). A case that passes only on the first hides a bug.
 */
export const VETH_KINDS: readonly { readonly offloads: LabOffloads; readonly label: string }[] = [
  { offloads: 'off', label: 'veth offloads off' },
  { offloads: 'on', label: "veth offloads at the kernel's defaults" },
]

/**
 * {@link withLab} (whose failures name the offload setting in force), remembering the lab id for
 * {@link expectNothingLeft} and killing children at the end.
 */
export async function interopLab<T>(fn: (lab: Lab) => Promise<T>, opts?: NetnsUpOptions): Promise<T> {
  return withLab(async (lab) => {
    labsOfThisFile.add(lab.id)
    try {
      return await fn(lab)
    } finally {
      killChildren()
    }
  }, opts)
}

/**
 * What a kind of veth must leave in the report of a connection that received 1 MiB from the kernel: at the
 * kernel's defaults its segments arrived with offloaded checksums and as super-segments larger than the MSS
 * (so the case proves tcplab took both); with offloads off, neither: every segment one MSS of payload at
 * most (`mss` less 12 bytes of timestamps) with a finished checksum.
 */
export function expectVethEvidence(kind: { offloads: LabOffloads }, report: StackReport, mss: number): void {
  const seen = { checksumOffloaded: report.iface.checksumOffloaded as number, maxPayloadIn: report.segments.maxPayloadIn }
  if (kind.offloads === 'on') {
    expect(seen.checksumOffloaded).toBeGreaterThan(0)
    expect(seen.maxPayloadIn).toBeGreaterThan(mss)
  } else expect(seen).toEqual({ checksumOffloaded: 0, maxPayloadIn: mss - 12 })
}

/** {@link interopLab} on one kind of veth (one of {@link VETH_KINDS}). */
export function labOf(kind: { offloads: LabOffloads }): <T>(fn: (lab: Lab) => Promise<T>) => Promise<T> {
  return (fn) => interopLab(fn, { offloads: kind.offloads })
}

/**
 * After a file's tests: none of its labs' namespaces remain, and the root namespace's ruleset holds no
 * tcplab table (RST guards and loss rules live only inside lab namespaces).
 */
export function expectNothingLeft(): void {
  const names = parseNetnsList(runSync(['ip', 'netns', 'list']).stdout)
  const ours = names.filter((n) => [...labsOfThisFile].some((id) => n.startsWith(`tcplab-${id}-`)))
  expect(ours).toEqual([])
  const ruleset = runSync(['nft', 'list', 'ruleset'], { allowFail: true })
  if (ruleset.code === 0) expect(ruleset.stdout).not.toMatch(/tcplab/)
  const links = runSync(['ip', '-o', 'link', 'show']).stdout
  for (const id of labsOfThisFile) expect(links).not.toContain(`tl${id}`)
}

/** Every transition in `states` is one RFC 9293 allows (tcb.ts's LEGAL_TRANSITIONS). */
export function expectLegalPath(states: StateLine[]): void {
  for (const s of states) expect(LEGAL_TRANSITIONS[s.from], `${s.from} -> ${s.to} (${s.cause})`).toContain(s.to)
}

/** TCP sockets of a lab side in an `ss` state filter ('time-wait', 'last-ack', 'all'…): "local peer" pairs. */
export async function kernelSockets(lab: Lab, side: LabSideName, state: string): Promise<string[]> {
  const r = await lab.exec(side, ['ss', '-tanH', 'state', state])
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((w) => w.length >= 4)
    .map((w) => `${w[w.length - 2]} ${w[w.length - 1]}`)
}

/** Packet counts of the named counters of a netdev-family nft table in a lab side. */
export async function netdevCounters(lab: Lab, side: LabSideName, table: string): Promise<Record<string, number>> {
  const r = await lab.exec(side, ['nft', 'list', 'counters', 'table', 'netdev', table])
  const out: Record<string, number> = {}
  for (const m of r.stdout.matchAll(/counter\s+(\S+)\s*\{\s*packets\s+(\d+)/g)) out[m[1]] = Number(m[2])
  return out
}

/** `ss` prints IPv6 endpoints in brackets: `[2001:2::1]:5000`. */
export function endpoint(addr: string, port: number): string {
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`
}

/** A kernel echo server on `host` (IPv4 or IPv6), any number of clients. */
export const ECHO_PY = String.raw`
import socket, sys, threading
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((host, port))
s.listen(16)
print('ready', flush=True)
def serve(c):
    while True:
        b = c.recv(4096)
        if not b:
            break
        c.sendall(b)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
`

/**
 * A kernel client that sends a numbered line every 20 ms and checks its echo until its stdin closes;
 * {"type":"ready"} once connected, {"type":"done","rounds":N,"error":…} at the end.
 */
export const PINGER_PY = String.raw`
import json, socket, sys, threading, errno
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
print(json.dumps({'type': 'ready'}), flush=True)
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
rounds, error = 0, None
try:
    while not stop.wait(0.02):
        msg = ('%d\n' % rounds).encode()
        s.sendall(msg)
        got = b''
        while len(got) < len(msg):
            b = s.recv(64)
            if not b:
                raise ConnectionError('EOF')
            got += b
        if got != msg:
            raise ValueError('echo mismatch')
        rounds += 1
except Exception as e:
    error = errno.errorcode.get(getattr(e, 'errno', None) or 0) or type(e).__name__
s.close()
print(json.dumps({'type': 'done', 'rounds': rounds, 'error': error}), flush=True)
`
