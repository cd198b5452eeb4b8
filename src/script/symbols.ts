/**
 * The Linux values of the symbolic constants scripts use in system call arguments (SOCK_STREAM, POLLIN…),
 * so the engine can compare poll revents and getsockopt values, and targets can make real calls.
 */
import type { Expr } from './ast.js'
import { errnoNumber } from './errno.js'

/** Constant name → Linux value. */
export const LINUX_SYMBOLS: ReadonlyMap<string, number> = new Map([
  ['AF_INET', 2], ['AF_INET6', 10], ['AF_UNSPEC', 0], ['PF_INET', 2], ['PF_INET6', 10],
  ['SOCK_STREAM', 1], ['SOCK_DGRAM', 2], ['SOCK_RAW', 3], ['SOCK_NONBLOCK', 0o4000], ['SOCK_CLOEXEC', 0o2000000],
  ['IPPROTO_IP', 0], ['IPPROTO_TCP', 6], ['IPPROTO_UDP', 17], ['IPPROTO_IPV6', 41], ['IPPROTO_ICMP', 1], ['IPPROTO_ICMPV6', 58],
  ['SOL_SOCKET', 1], ['SOL_TCP', 6], ['SOL_IP', 0], ['SOL_IPV6', 41],
  ['SO_DEBUG', 1], ['SO_REUSEADDR', 2], ['SO_TYPE', 3], ['SO_ERROR', 4], ['SO_DONTROUTE', 5], ['SO_BROADCAST', 6],
  ['SO_SNDBUF', 7], ['SO_RCVBUF', 8], ['SO_KEEPALIVE', 9], ['SO_OOBINLINE', 10], ['SO_LINGER', 13], ['SO_REUSEPORT', 15],
  ['SO_RCVLOWAT', 18], ['SO_SNDLOWAT', 19], ['SO_RCVTIMEO', 20], ['SO_SNDTIMEO', 21], ['SO_MARK', 36], ['SO_ZEROCOPY', 60],
  ['TCP_NODELAY', 1], ['TCP_MAXSEG', 2], ['TCP_CORK', 3], ['TCP_KEEPIDLE', 4], ['TCP_KEEPINTVL', 5], ['TCP_KEEPCNT', 6],
  ['TCP_SYNCNT', 7], ['TCP_LINGER2', 8], ['TCP_DEFER_ACCEPT', 9], ['TCP_WINDOW_CLAMP', 10], ['TCP_INFO', 11],
  ['TCP_QUICKACK', 12], ['TCP_CONGESTION', 13], ['TCP_MD5SIG', 14], ['TCP_USER_TIMEOUT', 18], ['TCP_FASTOPEN', 23],
  ['TCP_NOTSENT_LOWAT', 25], ['TCP_FASTOPEN_CONNECT', 30],
  ['IP_TOS', 1], ['IP_TTL', 2], ['IPV6_TCLASS', 67], ['IPV6_V6ONLY', 26],
  ['F_GETFD', 1], ['F_SETFD', 2], ['F_GETFL', 3], ['F_SETFL', 4],
  ['O_RDONLY', 0], ['O_WRONLY', 1], ['O_RDWR', 2], ['O_NONBLOCK', 0o4000], ['O_CLOEXEC', 0o2000000],
  ['SHUT_RD', 0], ['SHUT_WR', 1], ['SHUT_RDWR', 2],
  ['MSG_OOB', 1], ['MSG_PEEK', 2], ['MSG_DONTROUTE', 4], ['MSG_TRUNC', 0x20], ['MSG_DONTWAIT', 0x40], ['MSG_EOR', 0x80],
  ['MSG_WAITALL', 0x100], ['MSG_NOSIGNAL', 0x4000], ['MSG_MORE', 0x8000], ['MSG_ZEROCOPY', 0x4000000], ['MSG_FASTOPEN', 0x20000000],
  ['POLLIN', 0x1], ['POLLPRI', 0x2], ['POLLOUT', 0x4], ['POLLERR', 0x8], ['POLLHUP', 0x10], ['POLLNVAL', 0x20],
  ['POLLRDNORM', 0x40], ['POLLRDBAND', 0x80], ['POLLWRNORM', 0x100], ['POLLWRBAND', 0x200], ['POLLRDHUP', 0x2000],
  ['EPOLLIN', 0x1], ['EPOLLPRI', 0x2], ['EPOLLOUT', 0x4], ['EPOLLERR', 0x8], ['EPOLLHUP', 0x10], ['EPOLLRDHUP', 0x2000],
  ['EPOLLET', 0x80000000], ['EPOLLONESHOT', 0x40000000], ['EPOLL_CTL_ADD', 1], ['EPOLL_CTL_DEL', 2], ['EPOLL_CTL_MOD', 3],
  ['FIONREAD', 0x541b], ['SIOCINQ', 0x541b], ['SIOCOUTQ', 0x5411],
])

/** An integer expression's value: numbers, known constants, errno names, `A|B` and `htons(…)`; else undefined. */
export function evalInt(e: Expr): number | undefined {
  switch (e.kind) {
    case 'int':
      return e.value
    case 'word':
      return LINUX_SYMBOLS.get(e.name) ?? errnoNumber(e.name)
    case 'or': {
      let v = 0
      for (const o of e.operands) {
        const x = evalInt(o)
        if (x === undefined) return undefined
        v = (v | x) >>> 0
      }
      return v
    }
    case 'array':
      return e.items.length === 1 ? evalInt(e.items[0]!) : undefined
    case 'call':
      if ((e.name === 'htons' || e.name === 'htonl' || e.name === 'ntohs' || e.name === 'ntohl') && e.args.length === 1) return evalInt(e.args[0]!)
      return undefined
    default:
      return undefined
  }
}

/** Names of the flags set in `v` among `names` ("POLLIN|POLLOUT"), packetdrill's flags_to_string; "0" for none. */
export function flagsToString(v: number, names: readonly string[]): string {
  const parts: string[] = []
  let rest = v >>> 0
  for (const n of names) {
    const bit = LINUX_SYMBOLS.get(n)!
    if (bit !== 0 && (rest & bit) === bit) {
      parts.push(n)
      rest = (rest & ~bit) >>> 0
    }
  }
  if (rest !== 0) parts.push(`0x${rest.toString(16)}`)
  return parts.length === 0 ? '0' : parts.join('|')
}

/** The poll flags, in the order their names are printed. */
export const POLL_FLAG_NAMES = ['POLLIN', 'POLLPRI', 'POLLOUT', 'POLLERR', 'POLLHUP', 'POLLNVAL', 'POLLRDNORM', 'POLLRDBAND', 'POLLWRNORM', 'POLLWRBAND', 'POLLRDHUP'] as const
