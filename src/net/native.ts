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
