/**
 * Linux errno numbers and strerror() texts, for the messages packetdrill prints ("Expected errno 11
 * (Resource temporarily unavailable) but got 115 (Operation now in progress)"). Scripts name errors; targets
 * return names; the numbers exist only to word the messages as packetdrill's users know them.
 */

const TABLE: Array<[string, number, string]> = [
  ['EPERM', 1, 'Operation not permitted'],
  ['ENOENT', 2, 'No such file or directory'],
  ['EINTR', 4, 'Interrupted system call'],
  ['EIO', 5, 'Input/output error'],
  ['EBADF', 9, 'Bad file descriptor'],
  ['EAGAIN', 11, 'Resource temporarily unavailable'],
  ['ENOMEM', 12, 'Cannot allocate memory'],
  ['EACCES', 13, 'Permission denied'],
  ['EFAULT', 14, 'Bad address'],
  ['EBUSY', 16, 'Device or resource busy'],
  ['EEXIST', 17, 'File exists'],
  ['EINVAL', 22, 'Invalid argument'],
  ['EMFILE', 24, 'Too many open files'],
  ['ENOSPC', 28, 'No space left on device'],
  ['EPIPE', 32, 'Broken pipe'],
  ['ENOSYS', 38, 'Function not implemented'],
  ['ENOTSOCK', 88, 'Socket operation on non-socket'],
  ['EDESTADDRREQ', 89, 'Destination address required'],
  ['EMSGSIZE', 90, 'Message too long'],
  ['EPROTOTYPE', 91, 'Protocol wrong type for socket'],
  ['ENOPROTOOPT', 92, 'Protocol not available'],
  ['EPROTONOSUPPORT', 93, 'Protocol not supported'],
  ['EOPNOTSUPP', 95, 'Operation not supported'],
  ['EAFNOSUPPORT', 97, 'Address family not supported by protocol'],
  ['EADDRINUSE', 98, 'Address already in use'],
  ['EADDRNOTAVAIL', 99, 'Cannot assign requested address'],
  ['ENETDOWN', 100, 'Network is down'],
  ['ENETUNREACH', 101, 'Network is unreachable'],
  ['ECONNABORTED', 103, 'Software caused connection abort'],
  ['ECONNRESET', 104, 'Connection reset by peer'],
  ['ENOBUFS', 105, 'No buffer space available'],
  ['EISCONN', 106, 'Transport endpoint is already connected'],
  ['ENOTCONN', 107, 'Transport endpoint is not connected'],
  ['ESHUTDOWN', 108, 'Cannot send after transport endpoint shutdown'],
  ['ETIMEDOUT', 110, 'Connection timed out'],
  ['ECONNREFUSED', 111, 'Connection refused'],
  ['EHOSTDOWN', 112, 'Host is down'],
  ['EHOSTUNREACH', 113, 'No route to host'],
  ['EALREADY', 114, 'Operation already in progress'],
  ['EINPROGRESS', 115, 'Operation now in progress'],
]

const BY_NAME = new Map(TABLE.map(([n, num, text]) => [n, { num, text }]))
const BY_NUM = new Map(TABLE.map(([n, num, text]) => [num, { name: n, text }]))
// Aliases Linux defines with the same number.
BY_NAME.set('EWOULDBLOCK', BY_NAME.get('EAGAIN')!)
BY_NAME.set('ENOTSUP', BY_NAME.get('EOPNOTSUPP')!)

/** The errno number of a name (EAGAIN → 11), or undefined for a name this table lacks. */
export function errnoNumber(name: string): number | undefined {
  return BY_NAME.get(name)?.num
}

/** strerror() of a name or number as glibc words it; `Unknown error N` as glibc does for others. */
export function errnoText(e: string | number): string {
  if (typeof e === 'number') return e === 0 ? 'Success' : (BY_NUM.get(e)?.text ?? `Unknown error ${e}`)
  return BY_NAME.get(e)?.text ?? `Unknown error ${e}`
}

/** The name of an errno number (11 → EAGAIN), or undefined. */
export function errnoName(num: number): string | undefined {
  return BY_NUM.get(num)?.name
}
