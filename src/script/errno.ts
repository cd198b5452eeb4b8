/**
 * Linux errno numbers and strerror() texts, for the messages packetdrill prints ("Expected errno 11
 * (Resource temporarily unavailable) but got 115 (Operation now in progress)"). Scripts name errors; targets
 * return names; the numbers exist only to word the messages as packetdrill's users know them.
 */

import { errnoName as linuxErrnoName, errnoValue } from './linux.js'

/** glibc's strerror() texts (the numbers come from linux.ts; a name without a text here reads `Unknown error`). */
const TABLE: Array<[string, string]> = [
  ['EPERM', 'Operation not permitted'],
  ['ENOENT', 'No such file or directory'],
  ['EINTR', 'Interrupted system call'],
  ['EIO', 'Input/output error'],
  ['EBADF', 'Bad file descriptor'],
  ['EAGAIN', 'Resource temporarily unavailable'],
  ['ENOMEM', 'Cannot allocate memory'],
  ['EACCES', 'Permission denied'],
  ['EFAULT', 'Bad address'],
  ['EBUSY', 'Device or resource busy'],
  ['EEXIST', 'File exists'],
  ['EINVAL', 'Invalid argument'],
  ['EMFILE', 'Too many open files'],
  ['ENOTTY', 'Inappropriate ioctl for device'],
  ['ENOSPC', 'No space left on device'],
  ['EPIPE', 'Broken pipe'],
  ['ENOSYS', 'Function not implemented'],
  ['ENOMSG', 'No message of desired type'],
  ['EPROTO', 'Protocol error'],
  ['ENOTSOCK', 'Socket operation on non-socket'],
  ['EDESTADDRREQ', 'Destination address required'],
  ['EMSGSIZE', 'Message too long'],
  ['EPROTOTYPE', 'Protocol wrong type for socket'],
  ['ENOPROTOOPT', 'Protocol not available'],
  ['EPROTONOSUPPORT', 'Protocol not supported'],
  ['EOPNOTSUPP', 'Operation not supported'],
  ['EAFNOSUPPORT', 'Address family not supported by protocol'],
  ['EADDRINUSE', 'Address already in use'],
  ['EADDRNOTAVAIL', 'Cannot assign requested address'],
  ['ENETDOWN', 'Network is down'],
  ['ENETUNREACH', 'Network is unreachable'],
  ['ECONNABORTED', 'Software caused connection abort'],
  ['ECONNRESET', 'Connection reset by peer'],
  ['ENOBUFS', 'No buffer space available'],
  ['EISCONN', 'Transport endpoint is already connected'],
  ['ENOTCONN', 'Transport endpoint is not connected'],
  ['ESHUTDOWN', 'Cannot send after transport endpoint shutdown'],
  ['ETIMEDOUT', 'Connection timed out'],
  ['ECONNREFUSED', 'Connection refused'],
  ['EHOSTDOWN', 'Host is down'],
  ['EHOSTUNREACH', 'No route to host'],
  ['EALREADY', 'Operation already in progress'],
  ['EINPROGRESS', 'Operation now in progress'],
]

const TEXT = new Map(TABLE)

/** The errno number of a name (EAGAIN → 11, EWOULDBLOCK → 11), or undefined for a name Linux lacks. */
export function errnoNumber(name: string): number | undefined {
  return errnoValue(name)
}

/** strerror() of a name or number as glibc words it; `Unknown error N` as glibc does for others. */
export function errnoText(e: string | number): string {
  if (e === 0) return 'Success'
  const name = typeof e === 'number' ? linuxErrnoName(e) : linuxErrnoName(errnoValue(e) ?? -1)
  return (name && TEXT.get(name)) ?? `Unknown error ${e}`
}

/** The name of an errno number (11 → EAGAIN), or undefined. */
export function errnoName(num: number): string | undefined {
  const n = linuxErrnoName(num)
  return n === undefined || n.startsWith('ERRNO_') ? undefined : n
}
