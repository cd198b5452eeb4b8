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

/** Linux errno values (include/uapi/asm-generic/errno-base.h and errno.h). */
export const ERRNO = {
  EPERM: 1, ENOENT: 2, ESRCH: 3, EINTR: 4, EIO: 5, ENXIO: 6, E2BIG: 7, ENOEXEC: 8, EBADF: 9, ECHILD: 10,
  EAGAIN: 11, ENOMEM: 12, EACCES: 13, EFAULT: 14, ENOTBLK: 15, EBUSY: 16, EEXIST: 17, EXDEV: 18, ENODEV: 19,
  ENOTDIR: 20, EISDIR: 21, EINVAL: 22, ENFILE: 23, EMFILE: 24, ENOTTY: 25, ETXTBSY: 26, EFBIG: 27, ENOSPC: 28,
  ESPIPE: 29, EROFS: 30, EMLINK: 31, EPIPE: 32, EDOM: 33, ERANGE: 34, EDEADLK: 35, ENAMETOOLONG: 36,
  ENOLCK: 37, ENOSYS: 38, ENOTEMPTY: 39, ELOOP: 40, ENOMSG: 42, EIDRM: 43, ECHRNG: 44, EL2NSYNC: 45,
  EL3HLT: 46, EL3RST: 47, ELNRNG: 48, EUNATCH: 49, ENOCSI: 50, EL2HLT: 51, EBADE: 52, EBADR: 53, EXFULL: 54,
  ENOANO: 55, EBADRQC: 56, EBADSLT: 57, EBFONT: 59, ENOSTR: 60, ENODATA: 61, ETIME: 62, ENOSR: 63,
  ENONET: 64, ENOPKG: 65, EREMOTE: 66, ENOLINK: 67, EADV: 68, ESRMNT: 69, ECOMM: 70, EPROTO: 71,
  EMULTIHOP: 72, EDOTDOT: 73, EBADMSG: 74, EOVERFLOW: 75, ENOTUNIQ: 76, EBADFD: 77, EREMCHG: 78,
  ELIBACC: 79, ELIBBAD: 80, ELIBSCN: 81, ELIBMAX: 82, ELIBEXEC: 83, EILSEQ: 84, ERESTART: 85, ESTRPIPE: 86,
  EUSERS: 87, ENOTSOCK: 88, EDESTADDRREQ: 89, EMSGSIZE: 90, EPROTOTYPE: 91, ENOPROTOOPT: 92,
  EPROTONOSUPPORT: 93, ESOCKTNOSUPPORT: 94, EOPNOTSUPP: 95, EPFNOSUPPORT: 96, EAFNOSUPPORT: 97,
  EADDRINUSE: 98, EADDRNOTAVAIL: 99, ENETDOWN: 100, ENETUNREACH: 101, ENETRESET: 102, ECONNABORTED: 103,
  ECONNRESET: 104, ENOBUFS: 105, EISCONN: 106, ENOTCONN: 107, ESHUTDOWN: 108, ETOOMANYREFS: 109,
  ETIMEDOUT: 110, ECONNREFUSED: 111, EHOSTDOWN: 112, EHOSTUNREACH: 113, EALREADY: 114, EINPROGRESS: 115,
  ESTALE: 116, EUCLEAN: 117, ENOTNAM: 118, ENAVAIL: 119, EISNAM: 120, EREMOTEIO: 121, EDQUOT: 122,
  ENOMEDIUM: 123, EMEDIUMTYPE: 124, ECANCELED: 125, ENOKEY: 126, EKEYEXPIRED: 127, EKEYREVOKED: 128,
  EKEYREJECTED: 129, EOWNERDEAD: 130, ENOTRECOVERABLE: 131, ERFKILL: 132, EHWPOISON: 133,
} as const

/** Names that are another errno's second name on Linux (a script may write either). */
export const ERRNO_ALIASES = { EWOULDBLOCK: 11, EDEADLOCK: 35, ENOTSUP: 95 } as const

/** An errno's name. */
export type ErrnoName = keyof typeof ERRNO

const ERRNO_BY_VALUE = new Map<number, ErrnoName>(Object.entries(ERRNO).map(([k, v]) => [v, k as ErrnoName]))

/** The canonical name of errno `n` (EAGAIN for 11, not EWOULDBLOCK); undefined for 0; `ERRNO_<n>` if unknown. */
export function errnoName(n: number): string | undefined {
  if (n === 0) return undefined
  return ERRNO_BY_VALUE.get(n) ?? `ERRNO_${n}`
}

/** The value of an errno name, aliases included (EWOULDBLOCK → 11), or undefined. */
export function errnoValue(name: string): number | undefined {
  return (ERRNO as Record<string, number>)[name] ?? (ERRNO_ALIASES as Record<string, number>)[name]
}

/**
 * The symbolic constants a packetdrill script uses, with their Linux values (generic ABI as on x86-64 and
 * arm64; sockets, TCP, fcntl, MSG_*, poll, epoll, ioctl, shutdown and tcp_info's state and option bits).
 */
export const LINUX = {
  // address families and socket types (linux/socket.h, linux/net.h)
  AF_UNSPEC: 0, AF_INET: 2, AF_INET6: 10, PF_INET: 2, PF_INET6: 10,
  SOCK_STREAM: 1, SOCK_DGRAM: 2, SOCK_RAW: 3, SOCK_NONBLOCK: 0o4000, SOCK_CLOEXEC: 0o2000000,
  // protocols and levels
  IPPROTO_IP: 0, IPPROTO_TCP: 6, IPPROTO_UDP: 17, IPPROTO_IPV6: 41,
  SOL_IP: 0, SOL_TCP: 6, SOL_UDP: 17, SOL_IPV6: 41, SOL_SOCKET: 1,
  // SOL_SOCKET options (asm-generic/socket.h)
  SO_DEBUG: 1, SO_REUSEADDR: 2, SO_TYPE: 3, SO_ERROR: 4, SO_DONTROUTE: 5, SO_BROADCAST: 6, SO_SNDBUF: 7,
  SO_RCVBUF: 8, SO_KEEPALIVE: 9, SO_OOBINLINE: 10, SO_NO_CHECK: 11, SO_PRIORITY: 12, SO_LINGER: 13,
  SO_BSDCOMPAT: 14, SO_REUSEPORT: 15, SO_PASSCRED: 16, SO_PEERCRED: 17, SO_RCVLOWAT: 18, SO_SNDLOWAT: 19,
  SO_RCVTIMEO: 20, SO_SNDTIMEO: 21, SO_BINDTODEVICE: 25, SO_ATTACH_FILTER: 26, SO_DETACH_FILTER: 27,
  SO_PEERNAME: 28, SO_TIMESTAMP: 29, SO_ACCEPTCONN: 30, SO_SNDBUFFORCE: 32, SO_RCVBUFFORCE: 33, SO_MARK: 36,
  SO_TIMESTAMPING: 37, SO_PROTOCOL: 38, SO_DOMAIN: 39, SO_MAX_PACING_RATE: 47, SO_INCOMING_CPU: 49,
  SO_MEMINFO: 55, SO_ZEROCOPY: 60, SO_TXTIME: 61,
  // IPPROTO_TCP options (linux/tcp.h)
  TCP_NODELAY: 1, TCP_MAXSEG: 2, TCP_CORK: 3, TCP_KEEPIDLE: 4, TCP_KEEPINTVL: 5, TCP_KEEPCNT: 6,
  TCP_SYNCNT: 7, TCP_LINGER2: 8, TCP_DEFER_ACCEPT: 9, TCP_WINDOW_CLAMP: 10, TCP_INFO: 11, TCP_QUICKACK: 12,
  TCP_CONGESTION: 13, TCP_MD5SIG: 14, TCP_THIN_LINEAR_TIMEOUTS: 16, TCP_THIN_DUPACK: 17,
  TCP_USER_TIMEOUT: 18, TCP_REPAIR: 19, TCP_REPAIR_QUEUE: 20, TCP_QUEUE_SEQ: 21, TCP_REPAIR_OPTIONS: 22,
  TCP_FASTOPEN: 23, TCP_TIMESTAMP: 24, TCP_NOTSENT_LOWAT: 25, TCP_CC_INFO: 26, TCP_SAVE_SYN: 27,
  TCP_SAVED_SYN: 28, TCP_REPAIR_WINDOW: 29, TCP_FASTOPEN_CONNECT: 30, TCP_ULP: 31, TCP_MD5SIG_EXT: 32,
  TCP_FASTOPEN_KEY: 33, TCP_FASTOPEN_NO_COOKIE: 34, TCP_ZEROCOPY_RECEIVE: 35, TCP_INQ: 36, TCP_CM_INQ: 36,
  TCP_TX_DELAY: 37,
  // IP / IPv6 options (linux/in.h, linux/in6.h)
  IP_TOS: 1, IP_TTL: 2, IP_RECVTOS: 13, IP_MTU_DISCOVER: 10, IP_RECVERR: 11, IP_MTU: 14, IP_FREEBIND: 15,
  IP_PMTUDISC_DONT: 0, IP_PMTUDISC_WANT: 1, IP_PMTUDISC_DO: 2, IP_PMTUDISC_PROBE: 3,
  IPV6_MTU_DISCOVER: 23, IPV6_MTU: 24, IPV6_RECVERR: 25, IPV6_V6ONLY: 26, IPV6_HOPLIMIT: 52,
  IPV6_RECVTCLASS: 66, IPV6_TCLASS: 67,
  // fcntl (asm-generic/fcntl.h)
  O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2, O_NONBLOCK: 0o4000, O_CLOEXEC: 0o2000000,
  F_DUPFD: 0, F_GETFD: 1, F_SETFD: 2, F_GETFL: 3, F_SETFL: 4, F_SETOWN: 8, F_GETOWN: 9, F_DUPFD_CLOEXEC: 1030,
  FD_CLOEXEC: 1,
  // send/recv flags (linux/socket.h)
  MSG_OOB: 0x1, MSG_PEEK: 0x2, MSG_DONTROUTE: 0x4, MSG_CTRUNC: 0x8, MSG_PROXY: 0x10, MSG_TRUNC: 0x20,
  MSG_DONTWAIT: 0x40, MSG_EOR: 0x80, MSG_WAITALL: 0x100, MSG_FIN: 0x200, MSG_SYN: 0x400, MSG_CONFIRM: 0x800,
  MSG_RST: 0x1000, MSG_ERRQUEUE: 0x2000, MSG_NOSIGNAL: 0x4000, MSG_MORE: 0x8000, MSG_WAITFORONE: 0x10000,
  MSG_ZEROCOPY: 0x4000000, MSG_FASTOPEN: 0x20000000, MSG_CMSG_CLOEXEC: 0x40000000,
  // poll (asm-generic/poll.h)
  POLLIN: 0x1, POLLPRI: 0x2, POLLOUT: 0x4, POLLERR: 0x8, POLLHUP: 0x10, POLLNVAL: 0x20, POLLRDNORM: 0x40,
  POLLRDBAND: 0x80, POLLWRNORM: 0x100, POLLWRBAND: 0x200, POLLMSG: 0x400, POLLREMOVE: 0x1000, POLLRDHUP: 0x2000,
  // epoll (linux/eventpoll.h); EPOLLET is bit 31, kept positive
  EPOLLIN: 0x1, EPOLLPRI: 0x2, EPOLLOUT: 0x4, EPOLLERR: 0x8, EPOLLHUP: 0x10, EPOLLRDNORM: 0x40,
  EPOLLRDBAND: 0x80, EPOLLWRNORM: 0x100, EPOLLWRBAND: 0x200, EPOLLMSG: 0x400, EPOLLRDHUP: 0x2000,
  EPOLLEXCLUSIVE: 0x10000000, EPOLLWAKEUP: 0x20000000, EPOLLONESHOT: 0x40000000, EPOLLET: 0x80000000,
  EPOLL_CTL_ADD: 1, EPOLL_CTL_DEL: 2, EPOLL_CTL_MOD: 3, EPOLL_CLOEXEC: 0o2000000,
  // ioctl (asm-generic/ioctls.h, linux/sockios.h)
  FIONREAD: 0x541b, SIOCINQ: 0x541b, TIOCOUTQ: 0x5411, SIOCOUTQ: 0x5411, FIONBIO: 0x5421, SIOCOUTQNSD: 0x894b,
  // shutdown
  SHUT_RD: 0, SHUT_WR: 1, SHUT_RDWR: 2,
  // tcp_info: tcpi_state (net/tcp_states.h), tcpi_ca_state, tcpi_options bits (linux/tcp.h)
  TCP_ESTABLISHED: 1, TCP_SYN_SENT: 2, TCP_SYN_RECV: 3, TCP_FIN_WAIT1: 4, TCP_FIN_WAIT2: 5, TCP_TIME_WAIT: 6,
  TCP_CLOSE: 7, TCP_CLOSE_WAIT: 8, TCP_LAST_ACK: 9, TCP_LISTEN: 10, TCP_CLOSING: 11, TCP_NEW_SYN_RECV: 12,
  TCP_CA_Open: 0, TCP_CA_Disorder: 1, TCP_CA_CWR: 2, TCP_CA_Recovery: 3, TCP_CA_Loss: 4,
  TCPI_OPT_TIMESTAMPS: 1, TCPI_OPT_SACK: 2, TCPI_OPT_WSCALE: 4, TCPI_OPT_ECN: 8, TCPI_OPT_ECN_SEEN: 16,
  TCPI_OPT_SYN_DATA: 32,
  // control messages
  SCM_RIGHTS: 1, SCM_TIMESTAMP: 29, SCM_TIMESTAMPING: 37,
  // sock_extended_err origins and codes (linux/errqueue.h)
  SO_EE_ORIGIN_NONE: 0, SO_EE_ORIGIN_LOCAL: 1, SO_EE_ORIGIN_ICMP: 2, SO_EE_ORIGIN_ICMP6: 3,
  SO_EE_ORIGIN_TXSTATUS: 4, SO_EE_ORIGIN_ZEROCOPY: 5, SO_EE_ORIGIN_TXTIME: 6, SO_EE_ORIGIN_TIMESTAMPING: 4,
  SO_EE_CODE_ZEROCOPY_COPIED: 1, SO_EE_CODE_TXTIME_INVALID_PARAM: 1, SO_EE_CODE_TXTIME_MISSED: 2,
  // SO_TIMESTAMPING flags and the error queue's timestamp kinds (linux/net_tstamp.h, linux/errqueue.h)
  SOF_TIMESTAMPING_TX_HARDWARE: 1, SOF_TIMESTAMPING_TX_SOFTWARE: 2, SOF_TIMESTAMPING_RX_HARDWARE: 4,
  SOF_TIMESTAMPING_RX_SOFTWARE: 8, SOF_TIMESTAMPING_SOFTWARE: 16, SOF_TIMESTAMPING_SYS_HARDWARE: 32,
  SOF_TIMESTAMPING_RAW_HARDWARE: 64, SOF_TIMESTAMPING_OPT_ID: 128, SOF_TIMESTAMPING_TX_SCHED: 256,
  SOF_TIMESTAMPING_TX_ACK: 512, SOF_TIMESTAMPING_OPT_CMSG: 1024, SOF_TIMESTAMPING_OPT_TSONLY: 2048,
  SOF_TIMESTAMPING_OPT_STATS: 4096, SOF_TIMESTAMPING_OPT_PKTINFO: 8192, SOF_TIMESTAMPING_OPT_TX_SWHW: 16384,
  SOF_TIMESTAMPING_BIND_PHC: 32768, SOF_TIMESTAMPING_OPT_ID_TCP: 65536,
  SCM_TSTAMP_SND: 0, SCM_TSTAMP_SCHED: 1, SCM_TSTAMP_ACK: 2, SCM_TIMESTAMPING_OPT_STATS: 54,
} as const

/** The Linux value of a script symbol (constants and errno names), or undefined. */
export function linuxSymbol(name: string): number | undefined {
  return (LINUX as Record<string, number>)[name] ?? errnoValue(name)
}

const TCP_STATE_NAMES = [
  undefined, 'TCP_ESTABLISHED', 'TCP_SYN_SENT', 'TCP_SYN_RECV', 'TCP_FIN_WAIT1', 'TCP_FIN_WAIT2',
  'TCP_TIME_WAIT', 'TCP_CLOSE', 'TCP_CLOSE_WAIT', 'TCP_LAST_ACK', 'TCP_LISTEN', 'TCP_CLOSING', 'TCP_NEW_SYN_RECV',
] as const

/** tcpi_state's name (TCP_ESTABLISHED for 1), or undefined. */
export function tcpStateName(state: number): string | undefined {
  return TCP_STATE_NAMES[state]
}

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
