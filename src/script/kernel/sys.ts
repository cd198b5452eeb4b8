/**
 * Typed real syscalls for the packetdrill kernel target, over the script part of tcplab's packet addon
 * (native/script_sys.c). Runs inside the script's network namespace (a child started with `ip netns exec`).
 *
 * Every call answers `{ ret, errno, errnoName, …outputs }` and never throws for a failing syscall: a
 * script's `-1 EAGAIN` is an expected result, not an exception. The tables here are Linux's own numbers
 * (asm-generic errno, x86-64/generic socket ABI) so a script's symbols mean what they mean to the kernel.
 */
import { WireError } from '../../tcp/errors.js'
import {
  loadScriptSys,
  type LoadOptions,
  type ScriptSysModule,
  type SysOp,
  type SysOpArgs,
  type SysRawResult,
  type SysSockAddr,
  type SysTimedRawResult,
  type SysCmsg,
} from '../../net/native.js'

export type { SysSockAddr, SysCmsg, SysOp, SysOpArgs, ScriptSysModule }

export { ERRNO, ERRNO_ALIASES, errnoName, errnoValue, LINUX, linuxSymbol, tcpStateName, type ErrnoName } from '../linux.js'
import { errnoName, LINUX } from '../linux.js'

/**
 * struct tcp_info (include/uapi/linux/tcp.h) by field name, as a script writes them. The fields up to
 * tcpi_total_retrans exist in every kernel tcplab runs on; later ones are undefined when the kernel's struct
 * is shorter. 64-bit counters are BigInts.
 */
export interface TcpInfo {
  tcpi_state: number
  tcpi_ca_state: number
  tcpi_retransmits: number
  tcpi_probes: number
  tcpi_backoff: number
  tcpi_options: number
  tcpi_snd_wscale: number
  tcpi_rcv_wscale: number
  tcpi_delivery_rate_app_limited: number
  tcpi_fastopen_client_fail: number
  tcpi_rto: number
  tcpi_ato: number
  tcpi_snd_mss: number
  tcpi_rcv_mss: number
  tcpi_unacked: number
  tcpi_sacked: number
  tcpi_lost: number
  tcpi_retrans: number
  tcpi_fackets: number
  tcpi_last_data_sent: number
  tcpi_last_ack_sent: number
  tcpi_last_data_recv: number
  tcpi_last_ack_recv: number
  tcpi_pmtu: number
  tcpi_rcv_ssthresh: number
  tcpi_rtt: number
  tcpi_rttvar: number
  tcpi_snd_ssthresh: number
  tcpi_snd_cwnd: number
  tcpi_advmss: number
  tcpi_reordering: number
  tcpi_rcv_rtt: number
  tcpi_rcv_space: number
  tcpi_total_retrans: number
  tcpi_pacing_rate?: bigint
  tcpi_max_pacing_rate?: bigint
  tcpi_bytes_acked?: bigint
  tcpi_bytes_received?: bigint
  tcpi_segs_out?: number
  tcpi_segs_in?: number
  tcpi_notsent_bytes?: number
  tcpi_min_rtt?: number
  tcpi_data_segs_in?: number
  tcpi_data_segs_out?: number
  tcpi_delivery_rate?: bigint
  tcpi_busy_time?: bigint
  tcpi_rwnd_limited?: bigint
  tcpi_sndbuf_limited?: bigint
  tcpi_delivered?: number
  tcpi_delivered_ce?: number
  tcpi_bytes_sent?: bigint
  tcpi_bytes_retrans?: bigint
  tcpi_dsack_dups?: number
  tcpi_reord_seen?: number
  tcpi_rcv_ooopack?: number
  tcpi_snd_wnd?: number
  tcpi_rcv_wnd?: number
  tcpi_rehash?: number
  tcpi_total_rto?: number
  tcpi_total_rto_recoveries?: number
  tcpi_total_rto_time?: number
  tcpi_received_ce?: number
  tcpi_delivered_e1_bytes?: number
  tcpi_delivered_e0_bytes?: number
  tcpi_delivered_ce_bytes?: number
  tcpi_received_e1_bytes?: number
  tcpi_received_e0_bytes?: number
  tcpi_received_ce_bytes?: number
}

/** Byte offset and width (1, 2, 4 or 8; 8 reads a BigInt) of each whole-byte field of struct tcp_info. */
export const TCP_INFO_LAYOUT: readonly (readonly [keyof TcpInfo, number, 1 | 2 | 4 | 8])[] = [
  ['tcpi_state', 0, 1], ['tcpi_ca_state', 1, 1], ['tcpi_retransmits', 2, 1], ['tcpi_probes', 3, 1],
  ['tcpi_backoff', 4, 1], ['tcpi_options', 5, 1],
  ['tcpi_rto', 8, 4], ['tcpi_ato', 12, 4], ['tcpi_snd_mss', 16, 4], ['tcpi_rcv_mss', 20, 4],
  ['tcpi_unacked', 24, 4], ['tcpi_sacked', 28, 4], ['tcpi_lost', 32, 4], ['tcpi_retrans', 36, 4],
  ['tcpi_fackets', 40, 4], ['tcpi_last_data_sent', 44, 4], ['tcpi_last_ack_sent', 48, 4],
  ['tcpi_last_data_recv', 52, 4], ['tcpi_last_ack_recv', 56, 4], ['tcpi_pmtu', 60, 4],
  ['tcpi_rcv_ssthresh', 64, 4], ['tcpi_rtt', 68, 4], ['tcpi_rttvar', 72, 4], ['tcpi_snd_ssthresh', 76, 4],
  ['tcpi_snd_cwnd', 80, 4], ['tcpi_advmss', 84, 4], ['tcpi_reordering', 88, 4], ['tcpi_rcv_rtt', 92, 4],
  ['tcpi_rcv_space', 96, 4], ['tcpi_total_retrans', 100, 4],
  ['tcpi_pacing_rate', 104, 8], ['tcpi_max_pacing_rate', 112, 8], ['tcpi_bytes_acked', 120, 8],
  ['tcpi_bytes_received', 128, 8], ['tcpi_segs_out', 136, 4], ['tcpi_segs_in', 140, 4],
  ['tcpi_notsent_bytes', 144, 4], ['tcpi_min_rtt', 148, 4], ['tcpi_data_segs_in', 152, 4],
  ['tcpi_data_segs_out', 156, 4], ['tcpi_delivery_rate', 160, 8], ['tcpi_busy_time', 168, 8],
  ['tcpi_rwnd_limited', 176, 8], ['tcpi_sndbuf_limited', 184, 8], ['tcpi_delivered', 192, 4],
  ['tcpi_delivered_ce', 196, 4], ['tcpi_bytes_sent', 200, 8], ['tcpi_bytes_retrans', 208, 8],
  ['tcpi_dsack_dups', 216, 4], ['tcpi_reord_seen', 220, 4], ['tcpi_rcv_ooopack', 224, 4],
  ['tcpi_snd_wnd', 228, 4], ['tcpi_rcv_wnd', 232, 4], ['tcpi_rehash', 236, 4],
  ['tcpi_total_rto', 240, 2], ['tcpi_total_rto_recoveries', 242, 2], ['tcpi_total_rto_time', 244, 4],
  ['tcpi_received_ce', 248, 4], ['tcpi_delivered_e1_bytes', 252, 4], ['tcpi_delivered_e0_bytes', 256, 4],
  ['tcpi_delivered_ce_bytes', 260, 4], ['tcpi_received_e1_bytes', 264, 4], ['tcpi_received_e0_bytes', 268, 4],
  ['tcpi_received_ce_bytes', 272, 4],
]

/** Bytes of the oldest struct tcp_info tcplab reads (through tcpi_total_retrans). */
export const TCP_INFO_MIN_LEN = 104

/**
 * Reads struct tcp_info's fields by name from getsockopt(TCP_INFO)'s bytes (host byte order: the kernel
 * writes the struct as it is in memory, little-endian on every machine tcplab targets). Fields past the
 * end of `bytes` stay undefined; fewer than TCP_INFO_MIN_LEN bytes throw TCP_ERR_TRUNCATED.
 */
export function readTcpInfo(bytes: Uint8Array): TcpInfo {
  if (bytes.length < TCP_INFO_MIN_LEN) {
    throw new WireError('TCP_ERR_TRUNCATED', `struct tcp_info needs at least ${TCP_INFO_MIN_LEN} bytes, got ${bytes.length}`)
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: Record<string, number | bigint> = {}
  for (const [name, off, size] of TCP_INFO_LAYOUT) {
    if (off + size > bytes.length) continue
    out[name] =
      size === 1 ? v.getUint8(off) : size === 2 ? v.getUint16(off, true) : size === 4 ? v.getUint32(off, true) : v.getBigUint64(off, true)
  }
  // Bitfields: GCC on little-endian machines fills a byte from its low bit up, in declaration order.
  const b6 = bytes[6]
  const b7 = bytes[7]
  out.tcpi_snd_wscale = b6 & 0x0f
  out.tcpi_rcv_wscale = b6 >> 4
  out.tcpi_delivery_rate_app_limited = b7 & 1
  out.tcpi_fastopen_client_fail = (b7 >> 1) & 3
  return out as unknown as TcpInfo
}

/** A socket address from text: IPv6 when it has a colon (`sockAddr('198.18.0.1', 8080)`). */
export function sockAddr(addr: string, port: number): SysSockAddr {
  return { family: addr.includes(':') ? LINUX.AF_INET6 : LINUX.AF_INET, addr, port }
}

/** One syscall's outcome: the addon's result with errno's name (undefined when the call succeeded). */
export type SysResult = SysRawResult & { errnoName: string | undefined }

/** A call made on the threadpool: the same, with CLOCK_MONOTONIC ns just before and after the syscall. */
export type TimedSysResult = SysTimedRawResult & { errnoName: string | undefined }

/** Argument builders, one per call: each names an op and puts its arguments in the addon's order. */
const CALLS = {
  socket: (domain: number, type: number, protocol = 0) => ['socket', [domain, type, protocol]] as const,
  bind: (fd: number, addr: SysSockAddr) => ['bind', [fd, addr]] as const,
  listen: (fd: number, backlog: number) => ['listen', [fd, backlog]] as const,
  accept: (fd: number, flags = 0) => ['accept', [fd, flags]] as const,
  connect: (fd: number, addr: SysSockAddr) => ['connect', [fd, addr]] as const,
  read: (fd: number, len: number) => ['read', [fd, len]] as const,
  write: (fd: number, data: Uint8Array) => ['write', [fd, data]] as const,
  send: (fd: number, data: Uint8Array, flags = 0) => ['send', [fd, data, flags]] as const,
  sendto: (fd: number, data: Uint8Array, flags = 0, addr?: SysSockAddr) => ['sendto', [fd, data, flags, addr ?? null]] as const,
  recv: (fd: number, len: number, flags = 0) => ['recv', [fd, len, flags]] as const,
  recvfrom: (fd: number, len: number, flags = 0) => ['recvfrom', [fd, len, flags]] as const,
  sendmsg: (fd: number, msg: SysOpArgs['sendmsg'][1], flags = 0) => ['sendmsg', [fd, msg, flags]] as const,
  recvmsg: (fd: number, msg: SysOpArgs['recvmsg'][1], flags = 0) => ['recvmsg', [fd, msg, flags]] as const,
  writev: (fd: number, iov: Uint8Array[]) => ['writev', [fd, iov]] as const,
  readv: (fd: number, lengths: number[]) => ['readv', [fd, lengths]] as const,
  close: (fd: number) => ['close', [fd]] as const,
  shutdown: (fd: number, how: number) => ['shutdown', [fd, how]] as const,
  setsockopt: (fd: number, level: number, name: number, value: SysOpArgs['setsockopt'][3], optlen?: number) =>
    ['setsockopt', optlen === undefined ? [fd, level, name, value] : [fd, level, name, value, optlen]] as const,
  getsockopt: (fd: number, level: number, name: number, optlen?: number) =>
    ['getsockopt', optlen === undefined ? [fd, level, name] : [fd, level, name, optlen]] as const,
  fcntl: (fd: number, cmd: number, arg = 0) => ['fcntl', [fd, cmd, arg]] as const,
  ioctl: (fd: number, request: number, arg = 0) => ['ioctl', [fd, request, arg]] as const,
  poll: (fds: { fd: number; events: number }[], timeoutMs: number) => ['poll', [fds, timeoutMs]] as const,
  epollCreate: (size: number) => ['epoll_create', [size]] as const,
  epollCreate1: (flags = 0) => ['epoll_create1', [flags]] as const,
  epollCtl: (epfd: number, op: number, fd: number, event?: { events: number; data?: number | bigint }) =>
    ['epoll_ctl', [epfd, op, fd, event ?? null]] as const,
  epollWait: (epfd: number, maxEvents: number, timeoutMs: number) => ['epoll_wait', [epfd, maxEvents, timeoutMs]] as const,
}

type Calls = typeof CALLS

/** The typed calls, made now on this thread. */
export type SysCalls = { [K in keyof Calls]: (...a: Parameters<Calls[K]>) => SysResult }

/** The typed calls, made on the threadpool (for calls that may block) and timed. */
export type SysAsyncCalls = { [K in keyof Calls]: (...a: Parameters<Calls[K]>) => Promise<TimedSysResult> }

/** Real syscalls and the TUN device for the kernel target: the addon behind typed calls. */
export interface KernelSys extends SysCalls {
  /** The same calls on the libuv threadpool, with their start and end times. */
  readonly async: SysAsyncCalls
  /** Any op by name (for the engine, which holds the op as data). */
  call<K extends SysOp>(op: K, args: SysOpArgs[K]): SysResult
  /** Any op by name, on the threadpool and timed. */
  callAsync<K extends SysOp>(op: K, args: SysOpArgs[K]): Promise<TimedSysResult>
  /** The addon itself (tunOpen, tunRead, tunWrite, tunWatch, tunUnwatch, monotonicNs). */
  readonly native: ScriptSysModule
}

function named<T extends SysRawResult>(r: T): T & { errnoName: string | undefined } {
  return Object.assign(r, { errnoName: errnoName(r.errno) })
}

/**
 * The kernel target's syscalls over the addon (`module` given, or loaded; without it, a one-line
 * WireError DEV_ERR_NO_PACKET_TX says what to install). Linux only; run inside the script's namespace.
 */
export function createKernelSys(opts: LoadOptions & { module?: ScriptSysModule } = {}): KernelSys {
  const mod = opts.module ?? loadScriptSys(opts)
  const call = <K extends SysOp>(op: K, args: SysOpArgs[K]): SysResult => named(mod.sys(op, args))
  const callAsync = async <K extends SysOp>(op: K, args: SysOpArgs[K]): Promise<TimedSysResult> => named(await mod.sysAsync(op, args))
  const sync: Record<string, unknown> = {}
  const async: Record<string, unknown> = {}
  for (const [name, build] of Object.entries(CALLS) as [keyof Calls, (...a: unknown[]) => readonly [SysOp, unknown]][]) {
    sync[name] = (...a: unknown[]) => {
      const [op, args] = build(...a)
      return call(op, args as never)
    }
    async[name] = (...a: unknown[]) => {
      const [op, args] = build(...a)
      return callAsync(op, args as never)
    }
  }
  return Object.assign(sync as SysCalls, { async: async as SysAsyncCalls, call, callAsync, native: mod })
}
