/**
 * Lazy loading of the optional native addons (`raw-socket` for IP-medium raw sockets, `cap` for libpcap
 * capture) and the privilege checks around them. Nothing here loads an addon at import time, so tcplab
 * runs without them and says in one line what to install or which capability is missing.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { WireError, type WireErrorCode } from '../tcp/errors.js'

const nodeRequire = createRequire(import.meta.url)

/** Options of the loaders; `require` is injectable so tests can simulate a missing or broken addon. */
export interface LoadOptions {
  require?: (id: string) => unknown
}

/** The part of `raw-socket`'s internal SocketWrap that rawdev uses for synchronous, batched I/O. */
export interface RawSocketWrap {
  send(buffer: Uint8Array, offset: number, length: number, address: string, cb: (bytes: number) => void): void
  recv(buffer: Uint8Array, cb: (buffer: Uint8Array, bytes: number, source: string) => void): void
  on(event: string, fn: (...args: unknown[]) => void): unknown
  removeAllListeners(event: string): unknown
}

/** A `raw-socket` Socket (an EventEmitter: 'message', 'error', 'close'). */
export interface RawSocket {
  wrap?: RawSocketWrap
  send(
    buffer: Uint8Array,
    offset: number,
    length: number,
    address: string,
    after: (err: Error | null, bytes: number) => void,
  ): unknown
  setOption(level: number, option: number, value: number | Uint8Array, length?: number): void
  close(): unknown
  on(event: string, fn: (...args: any[]) => void): unknown
}

/** The `raw-socket` module. */
export interface RawSocketModule {
  createSocket(opts: { protocol?: number; addressFamily?: number; bufferSize?: number }): RawSocket
  AddressFamily: { IPv4: number; IPv6: number }
  SocketLevel: { SOL_SOCKET: number; IPPROTO_IP: number; IPPROTO_IPV6: number }
  SocketOption: { IP_HDRINCL: number; SO_RCVBUF: number; SO_SNDBUF: number; SO_BINDTODEVICE?: number }
}

/** A `cap` capture handle (an EventEmitter: 'packet' with (nbytes, truncated)). */
export interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Uint8Array): string
  send(buffer: Uint8Array, size?: number): void
  close(): void
  on(event: 'packet', fn: (nbytes: number, truncated: boolean) => void): unknown
  setMinBytes?: (n: number) => void
}

/** The `cap` module. */
export interface CapModule {
  Cap: { new (): CapHandle; deviceList(): { name: string; addresses: { addr: string }[] }[] }
}

/**
 * tcplab's own packet addon (native/packet_tx.c, package `tcplab-packet-tx`): an AF_PACKET socket with
 * PACKET_VNET_HDR, so one send can carry a TCP super-frame for the kernel's GSO to cut, and (newer builds)
 * a receive socket that hands over the kernel's tp_status with every frame.
 */
export interface PacketTxModule {
  /** Opens a send-only packet socket on `ifname` (non-blocking); throws an Error with .code (errno name). */
  open(ifname: string, sndbuf: number): number
  /** Sends frame[0, length) behind a virtio_net_hdr; the bytes sent, or -errno (-11: EAGAIN). */
  send(
    fd: number,
    frame: Uint8Array,
    length: number,
    gsoType: number,
    gsoSize: number,
    hdrLen: number,
    csumStart: number,
    csumOffset: number,
  ): number
  close(fd: number): void
  /**
   * Which offloads that let an interface hand over frames larger than its MTU are on (bits: 1 TSO, 2 UFO,
   * 4 GSO, 8 GRO, 16 LRO), or -errno (-19: no such interface). Absent from builds before it existed.
   */
  offloads?(ifname: string): number
  /**
   * Opens a receive packet socket on `ifname` (every protocol, promiscuous, PACKET_AUXDATA on, our host's
   * sends ignored, `rcvbuf` bytes of buffer) and polls it on the event loop: `onReadable(status)` runs
   * whenever frames wait (status < 0: a poll error, as a libuv code). Frames longer than `maxFrame` are
   * reported truncated. Throws an Error with .code (an errno name; ERR_NOT_ETHERNET with .arphrd).
   * Absent from builds before the receive path existed.
   */
  rxOpen?(ifname: string, rcvbuf: number, maxFrame: number, onReadable: (status: number) => void): PacketRxHandle
  /**
   * Reads up to `maxFrames` waiting frames into `buffer` from `offset` (8-byte aligned, while maxFrame + 4
   * bytes are left); frame i's meta[4i..4i+3] = offset, bytes stored, real length (more than stored: cut
   * short), tp_status. Returns the frames read, 0 when none wait, or -errno.
   */
  rxRead?(rx: PacketRxHandle, buffer: Uint8Array, offset: number, meta: Uint32Array, maxFrames: number): number
  /** [frames seen, frames the kernel dropped for lack of buffer] since the last call (PACKET_STATISTICS). */
  rxStats?(rx: PacketRxHandle): [number, number]
  /** Stops polling and closes the receive socket (idempotent; uv_close()s the poll handle). */
  rxClose?(rx: PacketRxHandle): void
  /** tp_status bits (linux/if_packet.h), present with the receive path. */
  TP_STATUS_CSUMNOTREADY?: number
  TP_STATUS_CSUM_VALID?: number
  TP_STATUS_VLAN_VALID?: number
}

/** An open receive socket of the packet addon (an opaque external). */
export type PacketRxHandle = { readonly __brand: 'PacketRxHandle' }

/** Whether `tx` is a build of the packet addon with the receive path (rxOpen, rxRead, rxStats, rxClose). */
export function hasPacketRx(tx: PacketTxModule | undefined): tx is PacketTxModule & Required<Pick<PacketTxModule, 'rxOpen' | 'rxRead' | 'rxStats' | 'rxClose'>> {
  return tx !== undefined && typeof tx.rxOpen === 'function' && typeof tx.rxRead === 'function' && typeof tx.rxStats === 'function' && typeof tx.rxClose === 'function'
}

/** Addons loaded so far, by package name (only through the real `require`: injected ones are not kept). */
const loaded = new Map<string, unknown>()

/** True when `e` is Node's "cannot find module `id`" (and not a missing dependency of it). */
function isNotFound(e: unknown, id: string): boolean {
  const err = e as { code?: string; message?: string }
  return err?.code === 'MODULE_NOT_FOUND' && (err.message ?? '').includes(`'${id}'`)
}

const firstLine = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0]

/**
 * Loads the optional addon `id` (cached) or throws WireError `code` with the line `why` gives: for an
 * addon that is not installed (`failure` undefined) or one that failed to load (`failure`, its first line).
 */
function loadAddon<T>(id: string, opts: LoadOptions, code: WireErrorCode, why: (failure: string | undefined) => string): T {
  if (opts.require === undefined && loaded.has(id)) return loaded.get(id) as T
  let mod: T
  try {
    mod = (opts.require ?? nodeRequire)(id) as T
  } catch (e) {
    throw new WireError(code, why(isNotFound(e, id) ? undefined : firstLine(e)))
  }
  if (opts.require === undefined) loaded.set(id, mod)
  return mod
}

/** Loads `raw-socket` (cached) or throws WireError DEV_ERR_NO_RAW_SOCKET saying what to install. */
export function loadRawSocket(opts: LoadOptions = {}): RawSocketModule {
  return loadAddon<RawSocketModule>('raw-socket', opts, 'DEV_ERR_NO_RAW_SOCKET', (failure) =>
    failure === undefined
      ? "raw sockets need the optional 'raw-socket' addon, which is not installed: npm install raw-socket (needs python3, make and g++)"
      : `the 'raw-socket' addon failed to load (${failure}): npm rebuild raw-socket`,
  )
}

/** Loads `cap` (cached) or throws WireError DEV_ERR_NO_CAP saying what to install. */
export function loadCap(opts: LoadOptions = {}): CapModule {
  return loadAddon<CapModule>('cap', opts, 'DEV_ERR_NO_CAP', (failure) =>
    failure === undefined
      ? "the capture device needs the 'cap' addon, which needs libpcap: apt-get install libpcap-dev && npm install cap"
      : `the capture device needs the 'cap' addon, which failed to load (${failure}): apt-get install libpcap-dev && npm rebuild cap`,
  )
}

/** Loads tcplab's transmit addon (cached) or throws WireError DEV_ERR_NO_PACKET_TX saying how to build it. */
export function loadPacketTx(opts: LoadOptions = {}): PacketTxModule {
  return loadAddon<PacketTxModule>('tcplab-packet-tx', opts, 'DEV_ERR_NO_PACKET_TX', (failure) => {
    const why = failure === undefined ? 'is not installed' : `failed to load (${failure})`
    return `segmentation offload (gso) needs tcplab's 'tcplab-packet-tx' addon, which ${why}: npm install (needs python3, make and g++; Linux only)`
  })
}

/** Linux capability bits (include/uapi/linux/capability.h). */
export const Capability = { CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_SYS_ADMIN: 21 } as const

/**
 * The effective capability set of this process from /proc/self/status (`CapEff`, hex), or undefined
 * where that file does not exist (not Linux). `status` is injectable for tests.
 */
export function effectiveCapabilities(status?: string): bigint | undefined {
  let text = status
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/status', 'utf8')
    } catch {
      return undefined
    }
  }
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(text)
  return m === null ? undefined : BigInt(`0x${m[1]}`)
}

/** Whether the effective set holds capability `bit` (falls back to "is root" where /proc is missing). */
export function hasCapability(bit: number, status?: string): boolean {
  const caps = effectiveCapabilities(status)
  if (caps === undefined) return process.getuid?.() === 0
  return ((caps >> BigInt(bit)) & 1n) === 1n
}

/** Whether this process may open raw sockets and packet captures (CAP_NET_RAW, bit 13 of CapEff). */
export function hasRawPrivilege(status?: string): boolean {
  return hasCapability(Capability.CAP_NET_RAW, status)
}

/** Whether this process may change firewall rules and links (CAP_NET_ADMIN, bit 12 of CapEff). */
export function hasNetAdminPrivilege(status?: string): boolean {
  return hasCapability(Capability.CAP_NET_ADMIN, status)
}

/** The one-line error for a raw socket without the privilege. */
export function rawPermissionError(): WireError {
  return new WireError(
    'DEV_ERR_PERMISSION',
    'raw sockets need root or CAP_NET_RAW (run with sudo, or setcap cap_net_raw+ep $(which node))',
  )
}

/** The one-line error for a packet capture without the privilege. */
export function capPermissionError(): WireError {
  return new WireError(
    'DEV_ERR_PERMISSION',
    'the capture device needs root or CAP_NET_RAW (run with sudo, or setcap cap_net_raw+ep $(which node))',
  )
}

/** The one-line error for firewall changes (the RST guard) without the privilege. */
export function firewallPermissionError(): WireError {
  return new WireError(
    'DEV_ERR_PERMISSION',
    'the RST guard needs root or CAP_NET_ADMIN to add a firewall rule (run with sudo)',
  )
}

/** The one-line error for the namespace lab without the privilege. */
export function labPermissionError(): WireError {
  return new WireError(
    'DEV_ERR_PERMISSION',
    'the namespace lab needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN create network namespaces): run with sudo',
  )
}

/** True when an error from a socket, a capture or a command says "not permitted". */
export function isPermissionFailure(e: unknown): boolean {
  const err = e as { code?: string; message?: string; stderr?: unknown }
  const text = `${err?.message ?? ''} ${String(err?.stderr ?? '')}`
  return (
    err?.code === 'EPERM' ||
    err?.code === 'EACCES' ||
    /operation not permitted|permission denied|you don't have permission|must be root/i.test(text)
  )
}

/** A socket address as the script addon takes and gives it (family 0, AF_UNSPEC, needs nothing else). */
export interface SysSockAddr {
  /** AF_INET (2), AF_INET6 (10) or AF_UNSPEC (0). */
  family: number
  /** Dotted quad or IPv6 text; absent for AF_UNSPEC. */
  addr?: string
  /** Host-order port; default 0. */
  port?: number
  /** IPv6 flow label word (host order). */
  flowinfo?: number
  /** IPv6 scope id. */
  scopeId?: number
}

/** A NULL buffer pointer with a length: what a script's `NULL` buffer argument passes to the kernel. */
export interface SysNullPointer {
  nullPointer: number
}

/** A control message: `data` as bytes, or (sendmsg only) a number for the common 4-byte int form. */
export interface SysCmsg {
  level: number
  type: number
  data: Uint8Array | number
}

/**
 * The arguments of each op of `sys`/`sysAsync`, in order. Every op but socket, epoll_create(1) and poll
 * starts with the fd. Lengths ask the addon for room; bytes are copied before the call.
 */
export interface SysOpArgs {
  /* A buffer or length written `{ nullPointer: n }` is a NULL pointer with length n (the kernel answers EFAULT). */
  socket: [domain: number, type: number, protocol?: number]
  bind: [fd: number, addr: SysSockAddr]
  listen: [fd: number, backlog: number]
  /** accept4's flags (SOCK_NONBLOCK, SOCK_CLOEXEC), default 0; result: addr (the peer). */
  accept: [fd: number, flags?: number]
  connect: [fd: number, addr: SysSockAddr]
  /** Result: data (the bytes read). */
  read: [fd: number, len: number | SysNullPointer]
  write: [fd: number, data: Uint8Array | SysNullPointer]
  send: [fd: number, data: Uint8Array | SysNullPointer, flags?: number]
  sendto: [fd: number, data: Uint8Array | SysNullPointer, flags?: number, addr?: SysSockAddr | null]
  /** Result: data. */
  recv: [fd: number, len: number | SysNullPointer, flags?: number]
  /** Result: data, addr (when the kernel filled one). */
  recvfrom: [fd: number, len: number | SysNullPointer, flags?: number]
  sendmsg: [fd: number, msg: { iov: Uint8Array[]; addr?: SysSockAddr; cmsgs?: SysCmsg[] }, flags?: number]
  /** iov: the length of each buffer; control: bytes of room for cmsgs. Result: data, addr, msgFlags, cmsgs. */
  recvmsg: [fd: number, msg: { iov: number[]; control?: number }, flags?: number]
  writev: [fd: number, iov: Uint8Array[]]
  /** The length of each buffer; result: data (the bytes read, contiguous). */
  readv: [fd: number, iov: number[]]
  close: [fd: number]
  shutdown: [fd: number, how: number]
  /** value: an int, a linger, raw bytes, or a string (without its NUL); optlen overrides the length. */
  setsockopt: [fd: number, level: number, name: number, value: number | { onoff: number; linger: number } | Uint8Array | string, optlen?: number]
  /**
   * Result: optlen and value (an int), linger (SO_LINGER) or bytes (TCP_INFO, up to what the kernel
   * fills; or any option when optlen is given, with that much room).
   */
  getsockopt: [fd: number, level: number, name: number, optlen?: number]
  fcntl: [fd: number, cmd: number, arg?: number]
  /** An int in (default 0) and out: SIOCINQ, SIOCOUTQ, FIONBIO. Result: value. */
  ioctl: [fd: number, request: number, arg?: number]
  /** Result: revents, one per entry. Timeout in ms, default -1. */
  poll: [fds: { fd: number; events: number }[], timeoutMs?: number]
  epoll_create: [size?: number]
  epoll_create1: [flags?: number]
  /** data defaults to the fd (packetdrill's `{events=…, fd=N}`). */
  epoll_ctl: [epfd: number, op: number, fd: number, event?: { events: number; data?: number | bigint } | null]
  /** Result: events [{events, data}]. Timeout in ms, default -1. */
  /** open(path, flags, mode?) → an fd. */
  open: [path: string, flags: number, mode?: number]
  /** sendfile(out_fd, in_fd, offset or null, count); result: offset (the one after, when given). */
  sendfile: [outFd: number, inFd: number, offset: number | null, count: number]
  /** pipe() → result fds [read end, write end]. */
  pipe: []
  /** splice(fd_in, NULL, fd_out, NULL, len, flags). */
  splice: [fdIn: number, fdOut: number, len: number, flags?: number]
  epoll_wait: [epfd: number, maxEvents: number, timeoutMs?: number]
}

/** Every op of `sys`/`sysAsync`. */
export type SysOp = keyof SysOpArgs

/** What one syscall gave: ret and errno (0 unless ret < 0), and the outputs its op has. */
export interface SysRawResult {
  ret: number
  errno: number
  /** Bytes read (read, recv, recvfrom, readv, recvmsg). */
  data?: Buffer
  /** The peer (accept) or source (recvfrom, recvmsg). */
  addr?: SysSockAddr
  /** recvmsg's msg_flags. */
  msgFlags?: number
  /** recvmsg's control messages. */
  cmsgs?: { level: number; type: number; data: Buffer }[]
  /** getsockopt: the length the kernel answered. */
  optlen?: number
  /** getsockopt (integer options) or ioctl: the int. */
  value?: number
  /** getsockopt SO_LINGER. */
  linger?: { onoff: number; linger: number }
  /** getsockopt TCP_INFO (struct tcp_info's bytes) or any option read with an explicit optlen. */
  bytes?: Buffer
  /** poll: revents per entry. */
  revents?: number[]
  /** pipe: the two new fds. */
  fds?: number[]
  /** sendfile: the file offset after the call, when one was given. */
  offset?: number
  /** epoll_wait: the ready events. */
  events?: { events: number; data: bigint }[]
}

/** sysAsync's result: the same, with CLOCK_MONOTONIC nanoseconds just before and just after the call. */
export interface SysTimedRawResult extends SysRawResult {
  startNs: bigint
  endNs: bigint
}

/** A readiness watch on a TUN fd (an opaque external). */
export type TunWatchHandle = { readonly __brand: 'TunWatchHandle' }

/**
 * The script part of tcplab's packet addon (native/script_sys.c): a TUN device and real syscalls for the
 * packetdrill kernel target, run inside the script's namespace. Syscall failures are data ({ret: -1,
 * errno}); bad arguments throw a TypeError with code ERR_BAD_ARGUMENT. Only fds the addon opened are acted
 * on (others answer EBADF without a syscall), so a script cannot close one of Node's own.
 */
export interface ScriptSysModule {
  /** A TUN device `name` (IFF_TUN|IFF_NO_PI), non-blocking, MTU `mtu`, link up → its fd; throws Error with .code/.errno. */
  tunOpen(name: string, mtu: number): number
  /** One packet into `buf` → its length or -errno (-11: none waiting); `stamp[0]` gets monotonicNs() right after the read. */
  tunRead(fd: number, buf: Uint8Array, stamp?: BigUint64Array): number
  /** buf[0, len) as one packet → the bytes written or -errno. */
  tunWrite(fd: number, buf: Uint8Array, len: number, gsoSize?: number): number
  /** Calls `onReadable(status)` from the event loop while packets wait (status < 0: a libuv error); keep the handle. */
  tunWatch(fd: number, onReadable: (status: number) => void): TunWatchHandle
  /** Stops a watch and uv_close()s it (idempotent); unwatch before closing the fd. */
  tunUnwatch(watch: TunWatchHandle): void
  /** CLOCK_MONOTONIC in nanoseconds: the clock of tunRead's stamp and sysAsync's startNs/endNs. */
  monotonicNs(): bigint
  /** CLOCK_REALTIME minus CLOCK_MONOTONIC in ns, read back to back (wall time of a monotonic stamp). */
  realtimeOffsetNs(): bigint
  /** Ends the process at once (_exit), without joining threadpool threads a blocked call still holds. */
  exitNow(status: number): never
  /** Makes the call now, on this thread. */
  sys<K extends SysOp>(op: K, args: SysOpArgs[K]): SysRawResult
  /** Makes the call on the libuv threadpool (a blocking call leaves the event loop free) and times it. */
  sysAsync<K extends SysOp>(op: K, args: SysOpArgs[K]): Promise<SysTimedRawResult>
}

/** Whether a loaded packet addon is a build with the script functions. */
export function hasScriptSys(mod: unknown): mod is ScriptSysModule {
  const m = mod as Partial<ScriptSysModule> | undefined
  return typeof m?.sys === 'function' && typeof m.sysAsync === 'function' && typeof m.tunOpen === 'function' && typeof m.monotonicNs === 'function'
}

/** The one-line hint for a missing or old build of the addon's script part. */
const SCRIPT_SYS_HINT = "npm rebuild tcplab-packet-tx (needs python3, make and g++; Linux only)"

/**
 * Loads the script part of tcplab's packet addon (cached) or throws WireError DEV_ERR_NO_PACKET_TX saying
 * what to install: the addon missing, failing to load, or built before native/script_sys.c existed.
 */
export function loadScriptSys(opts: LoadOptions = {}): ScriptSysModule {
  const mod = loadAddon<unknown>('tcplab-packet-tx', opts, 'DEV_ERR_NO_PACKET_TX', (failure) => {
    const why = failure === undefined ? 'is not installed' : `failed to load (${failure})`
    return `the kernel script target needs tcplab's 'tcplab-packet-tx' addon, which ${why}: ${SCRIPT_SYS_HINT}`
  })
  if (!hasScriptSys(mod)) {
    throw new WireError(
      'DEV_ERR_NO_PACKET_TX',
      `the kernel script target needs tcplab's 'tcplab-packet-tx' addon built with its script part (native/script_sys.c): ${SCRIPT_SYS_HINT}`,
    )
  }
  return mod
}
