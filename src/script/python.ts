/**
 * Python blocks (`%{ … }%`), as packetdrill runs them: at each block's time the engine takes a snapshot of
 * the socket under test (getsockopt TCP_INFO, TCP_CC_INFO and SO_MEMINFO), and after the script has run,
 * one Python program is built from every snapshot and block in order and run once with `python3`. A block
 * sees the snapshot taken at its own line as plain variables (`tcpi_snd_cwnd`, `TCP_ESTABLISHED`, …); an
 * exception in it names the script line.
 *
 * Pure: this module builds variable lists and program text; running the program is the target's job.
 */
import { TCP_INFO_LAYOUT } from './kernel/sys.js'

/** One variable a block sees, in the order packetdrill defines them. */
export type PyVar = readonly [name: string, value: bigint]

/** A block as it ran: its line, its code and the snapshot taken at its time. */
export interface PyFragment {
  file: string
  line: number
  code: string
  vars: readonly PyVar[]
}

/** Symbolic names a block may compare with (Linux's values: tcp_states.h, tcp.h). */
const SYMBOLS: readonly PyVar[] = (
  [
    ['TCP_ESTABLISHED', 1], ['TCP_SYN_SENT', 2], ['TCP_SYN_RECV', 3], ['TCP_FIN_WAIT1', 4], ['TCP_FIN_WAIT2', 5],
    ['TCP_TIME_WAIT', 6], ['TCP_CLOSE', 7], ['TCP_CLOSE_WAIT', 8], ['TCP_LAST_ACK', 9], ['TCP_LISTEN', 10],
    ['TCP_CLOSING', 11],
    ['TCP_CA_Open', 0], ['TCP_CA_Disorder', 1], ['TCP_CA_CWR', 2], ['TCP_CA_Recovery', 3], ['TCP_CA_Loss', 4],
    ['TCPI_OPT_TIMESTAMPS', 1], ['TCPI_OPT_SACK', 2], ['TCPI_OPT_WSCALE', 4], ['TCPI_OPT_ECN', 8],
    ['TCPI_OPT_ECN_SEEN', 16], ['TCPI_OPT_SYN_DATA', 32], ['TCPI_OPT_USEC_TS', 64], ['TCPI_OPT_TFO_CHILD', 128],
  ] as const
).map(([n, v]) => [n, BigInt(v)] as const)

/** Bytes of struct tcp_info as this module reads it (through the AccECN word); a kernel's shorter struct leaves the rest 0. */
export const PY_TCP_INFO_LEN = 280

/** tcp_info's bitfields: byte offset of their 32-bit word's start, low bit, width (GCC, little-endian: declaration order from the low bit up). */
const TCP_INFO_BITS: readonly (readonly [string, number, number, number])[] = [
  ['tcpi_snd_wscale', 4, 16, 4], ['tcpi_rcv_wscale', 4, 20, 4], ['tcpi_delivery_rate_app_limited', 4, 24, 1],
  ['tcpi_ecn_mode', 276, 0, 2], ['tcpi_accecn_opt_seen', 276, 2, 2], ['tcpi_accecn_fail_mode', 276, 4, 4], ['tcpi_options2', 276, 8, 24],
]

/** The variables of a TCP_INFO snapshot: the symbolic names, then every tcpi_ field. */
export function tcpInfoVars(bytes: Uint8Array): PyVar[] {
  // A field the kernel's struct does not reach reads 0, as from packetdrill's zeroed buffer.
  const buf = new Uint8Array(Math.max(PY_TCP_INFO_LEN, bytes.length))
  buf.set(bytes)
  const v = new DataView(buf.buffer)
  const out: PyVar[] = [...SYMBOLS]
  for (const [name, off, width] of TCP_INFO_LAYOUT) {
    const x = width === 1 ? v.getUint8(off) : width === 2 ? v.getUint16(off, true) : width === 4 ? v.getUint32(off, true) : v.getBigUint64(off, true)
    out.push([name, BigInt(x)])
  }
  for (const [name, off, shift, bits] of TCP_INFO_BITS) out.push([name, BigInt((v.getUint32(off, true) >>> shift) & ((1 << bits) - 1))])
  return out
}

/**
 * The variables of a TCP_CC_INFO snapshot. The answer is a union the kernel does not tag, so (as packetdrill
 * does) each algorithm's reading is given whenever the answer is long enough for it: BBR's (20 bytes),
 * DCTCP's and Vegas's (16). An algorithm without the option (CUBIC, Reno) answers nothing.
 */
export function ccInfoVars(bytes: Uint8Array): PyVar[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const u32 = (o: number): bigint => BigInt(v.getUint32(o, true))
  const out: PyVar[] = []
  if (bytes.length >= 20) {
    out.push(['bbr_bw_lo', u32(0)], ['bbr_bw_hi', u32(4)], ['bbr_bw', (u32(4) << 32n) + u32(0)], ['bbr_min_rtt', u32(8)], ['bbr_pacing_gain', u32(12)], ['bbr_cwnd_gain', u32(16)])
  }
  if (bytes.length >= 16) {
    out.push(['dctcp_enabled', BigInt(v.getUint16(0, true))], ['dctcp_ce_state', BigInt(v.getUint16(2, true))], ['dctcp_alpha', u32(4)], ['dctcp_ab_ecn', u32(8)], ['dctcp_ab_tot', u32(12)])
    out.push(['tcpv_enabled', u32(0)], ['tcpv_rttcnt', u32(4)], ['tcp_rtt', u32(8)], ['tcp_minrtt', u32(12)])
  }
  return out
}

const MEMINFO_NAMES = ['RMEM_ALLOC', 'RCVBUF', 'WMEM_ALLOC', 'SNDBUF', 'FWD_ALLOC', 'WMEM_QUEUED', 'OPTMEM', 'BACKLOG', 'DROPS'] as const

/** The variables of an SO_MEMINFO snapshot (SK_MEMINFO_RCVBUF …); entries past the answer read 0. */
export function memInfoVars(bytes: Uint8Array): PyVar[] {
  const buf = new Uint8Array(Math.max(bytes.length, 4 * MEMINFO_NAMES.length))
  buf.set(bytes)
  const v = new DataView(buf.buffer)
  return MEMINFO_NAMES.map((n, i): PyVar => [`SK_MEMINFO_${n}`, BigInt(v.getUint32(4 * i, true))])
}

/**
 * The preamble: an exception names the script file and line of the block that raised it, then Python's
 * own traceback follows (what packetdrill's users read).
 */
const PREAMBLE = [
  'import sys',
  'import traceback',
  'def excepthook(etype, value, tb):',
  '  sys.stderr.write("%s:%d: error in Python code\\n" % (_file, _line))',
  '  traceback.print_exception(etype, value, tb)',
  '',
  'sys.excepthook = excepthook',
  '',
].join('\n')

/** A Python string literal for `s` (a script path). */
function pyString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`
}

/** The one program that runs every block: each snapshot's variables, then the block's code, in script order. */
export function pythonProgram(fragments: readonly PyFragment[]): string {
  const parts = [PREAMBLE]
  for (const f of fragments) {
    parts.push(f.vars.map(([n, v]) => `${n} = ${v}`).join('\n') + '\n')
    parts.push(`_file = ${pyString(f.file)}\n_line = ${f.line}\n${f.code}\n`)
  }
  return parts.join('\n')
}

/** Where a failing program says the failure is: the script line of the block that raised, or undefined. */
export function pythonErrorLine(output: string): number | undefined {
  const m = /^.*:(\d+): error in Python code$/m.exec(output)
  return m ? Number(m[1]) : undefined
}

/** The last line of a traceback (`AssertionError: 9`), for a one-line message; undefined when there is none. */
export function pythonErrorSummary(output: string): string | undefined {
  const lines = output.split('\n').map((l) => l.trimEnd()).filter((l) => l.length > 0)
  const last = lines[lines.length - 1]
  return last !== undefined && /^[A-Za-z_][\w.]*(:|$)/.test(last) ? last : undefined
}
