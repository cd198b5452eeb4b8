/**
 * Python blocks (`%{ }%`) on the tcplab target: the snapshot a block sees is TCP_INFO as Linux fills it
 * (tcp_get_info), for the fields tcplab's TCB exposes today (Tcb and Tcb.info()). A block that reads any other
 * snapshot variable (tcpi_lost, tcpi_ato, SK_MEMINFO_*…) makes the script `unsupported` before it runs,
 * naming the variables, rather than reading a made-up 0. The program itself runs with python3, after the
 * script, as on the kernel target (src/script/python.ts builds it).
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Script } from '../ast.js'
import { ccInfoVars, memInfoVars, PY_TCP_INFO_LEN, tcpInfoVars, type PyVar } from '../python.js'
import { TCP_INFO_LAYOUT } from '../kernel/sys.js'
import type { Tcb } from '../../tcp/tcb.js'
import type { TcpState } from '../../tcp/types.js'

/** The TCP_INFO fields the tcplab target fills, each as Linux's tcp_get_info defines it. */
const FILLED = new Set([
  'tcpi_state', // the socket's state (TIME-WAIT belongs to a minisocket: the socket reads CLOSE)
  'tcpi_options', // TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE as agreed, TCPI_OPT_SYN_DATA (Fast Open)
  'tcpi_snd_wscale', // the peer's shift, when window scaling was agreed
  'tcpi_rcv_wscale', // ours, likewise
  'tcpi_snd_mss', // mss_cache: the segment payload size, timestamps taken off (Tcb.effMss)
  'tcpi_snd_cwnd', // in segments of that size
  'tcpi_snd_ssthresh', // likewise, TCP_INFINITE_SSTHRESH (0x7fffffff) before the first reduction or slow-start exit
  'tcpi_rto', // icsk_rto in µs, backoff applied
  'tcpi_backoff', // icsk_backoff: RTO doublings in force
  'tcpi_rtt', // the smoothed RTT in µs
  // From Tcb.info():
  'tcpi_ca_state', // TCP_CA_Open, Disorder, Recovery or Loss (never CWR: no ECN)
  'tcpi_retransmits', // icsk_retransmits: RTOs in a row with no ACK of new data since
  'tcpi_unacked', // packets_out: segments sent and not acknowledged
  'tcpi_sacked', // sacked_out
  'tcpi_retrans', // retrans_out: retransmitted and not SACKed
  'tcpi_total_retrans', // every retransmitted segment, SYNs included
  'tcpi_rttvar', // in µs
  'tcpi_rcv_mss', // Linux's estimate of the peer's segment size (536 before data, then the largest seen)
  'tcpi_advmss', // the MSS we announce
  'tcpi_min_rtt', // the smallest RTT sample, µs (~0U before one, as Linux's minmax starts)
  'tcpi_bytes_acked', // the SYN included on an active open, as Linux counts it
  'tcpi_bytes_received',
  'tcpi_data_segs_out', // retransmissions included
  'tcpi_data_segs_in',
])

/** Linux's snd_ssthresh while it is unset. */
const TCP_INFINITE_SSTHRESH = 0x7fffffff

/** Linux's TCP_CA_* numbers. */
const CA_STATE = { open: 0, disorder: 1, recovery: 3, loss: 4 } as const

/** Every variable a snapshot defines on the kernel target (what a block may read), symbols aside. */
const SNAPSHOT_NAMES = new Set([
  ...tcpInfoVars(new Uint8Array(PY_TCP_INFO_LEN)).map(([n]) => n).filter((n) => n.startsWith('tcpi_')),
  ...ccInfoVars(new Uint8Array(20)).map(([n]) => n),
  ...memInfoVars(new Uint8Array(0)).map(([n]) => n),
])

/**
 * Why the script's Python blocks cannot run on the tcplab target, or undefined: python3 is missing, or a
 * block reads snapshot variables this target does not fill (named).
 */
export function pythonProblem(script: Script): string | undefined {
  const missing = new Set<string>()
  let blocks = 0
  for (const ev of script.events) {
    if (ev.action.kind !== 'python') continue
    blocks++
    for (const name of ev.action.code.match(/[A-Za-z_]\w*/g) ?? []) if (SNAPSHOT_NAMES.has(name) && !FILLED.has(name)) missing.add(name)
  }
  if (blocks === 0) return undefined
  if (missing.size > 0) return `a Python block reads ${[...missing].join(', ')}: the tcplab target does not fill ${missing.size === 1 ? 'it' : 'them'} yet (the TCB does not expose ${missing.size === 1 ? 'it' : 'them'})`
  if (!hasPython3()) return 'Python blocks need python3, which is not installed'
  return undefined
}

let python3: boolean | undefined
function hasPython3(): boolean {
  python3 ??= spawnSync('python3', ['-c', ''], { stdio: 'ignore' }).status === 0
  return python3
}

/** Linux's tcp_states.h numbers for the TCB states a socket can be in. */
const LINUX_STATE: Record<TcpState, number> = {
  ESTABLISHED: 1,
  'SYN-SENT': 2,
  'SYN-RECEIVED': 3,
  'FIN-WAIT-1': 4,
  'FIN-WAIT-2': 5,
  // tcp_time_wait hands TIME-WAIT to a minisocket and the socket itself is done.
  'TIME-WAIT': 7,
  CLOSED: 7,
  'CLOSE-WAIT': 8,
  'LAST-ACK': 9,
  LISTEN: 10,
  CLOSING: 11,
}

/** The variables a block sees for a socket: a listener, a connection's TCB, or neither (CLOSE). */
export function tcplabSnapshot(sock: { listening: boolean; tcb: Tcb | undefined }): PyVar[] {
  const bytes = new Uint8Array(PY_TCP_INFO_LEN)
  const v = new DataView(bytes.buffer)
  const t = sock.tcb
  const set = (name: string, value: number): void => {
    const f = TCP_INFO_LAYOUT.find(([n]) => n === name)!
    if (f[2] === 1) v.setUint8(f[1], value)
    else if (f[2] === 8) v.setBigUint64(f[1], BigInt(value), true)
    else v.setUint32(f[1], value >>> 0, true)
  }
  set('tcpi_state', sock.listening ? LINUX_STATE.LISTEN : t ? LINUX_STATE[t.state] : LINUX_STATE.CLOSED)
  if (t) {
    set('tcpi_options', (t.tsOk ? 1 : 0) | (t.sackOk ? 2 : 0) | (t.wsOk ? 4 : 0) | (t.synDataAcked ? 32 : 0))
    // tcpi_snd_wscale and tcpi_rcv_wscale share byte 6 (4 bits each), as GCC lays the bitfields out.
    if (t.wsOk) v.setUint8(6, (t.sndShift & 0x0f) | ((t.rcvShift & 0x0f) << 4))
    set('tcpi_snd_mss', t.effMss)
    set('tcpi_snd_cwnd', Math.floor(t.cwnd / t.effMss))
    set('tcpi_snd_ssthresh', Number.isFinite(t.ssthresh) ? Math.floor(t.ssthresh / t.effMss) : TCP_INFINITE_SSTHRESH)
    set('tcpi_rto', t.rtt.current)
    set('tcpi_backoff', t.rtt.backoff)
    set('tcpi_rtt', t.rtt.srtt ?? 0)
    const i = t.info()
    set('tcpi_ca_state', CA_STATE[i.caState])
    set('tcpi_retransmits', i.retransmits)
    set('tcpi_unacked', i.unacked)
    set('tcpi_sacked', i.sacked)
    set('tcpi_retrans', i.retransOut)
    set('tcpi_total_retrans', i.totalRetrans)
    set('tcpi_rttvar', Math.round(i.rttvar))
    set('tcpi_rcv_mss', i.rcvMss)
    set('tcpi_advmss', i.advMss)
    set('tcpi_min_rtt', i.minRtt === undefined ? 0xffffffff : Math.round(i.minRtt))
    set('tcpi_bytes_acked', i.bytesAcked)
    set('tcpi_bytes_received', i.bytesReceived)
    set('tcpi_data_segs_out', i.dataSegsOut)
    set('tcpi_data_segs_in', i.dataSegsIn)
  }
  return tcpInfoVars(bytes).filter(([n]) => !n.startsWith('tcpi_') || FILLED.has(n))
}

/** Whether the tcplab target fills a TCP_INFO field (by its tcpi_ name). */
export function fillsTcpInfo(name: string): boolean {
  return FILLED.has(name)
}

/** Runs the blocks' program with python3 from a temporary file (tracebacks name a file, as packetdrill's do). */
export function runPythonProgram(source: string): { status: number; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tcplab-code-'))
  try {
    const path = join(dir, 'code.py')
    writeFileSync(path, source)
    const r = spawnSync('python3', [path], { encoding: 'utf8' })
    if (r.error) return { status: 127, output: r.error.message }
    return { status: r.status ?? 128, output: `${r.stdout}${r.stderr}` }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
