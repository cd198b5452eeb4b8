/**
 * What the local kernel's TCP holds, read from /proc/net/tcp and /proc/net/tcp6 of this process's network
 * namespace: which ports it listens on or uses for connections, and the range it picks ephemeral ports
 * from. A raw socket shares its address with the kernel, so before tcplab takes a port there it asks
 * here, and refuses a port the kernel already uses rather than have two stacks answer the same segments.
 *
 * /proc/net/tcp lines (Documentation/networking/proc_net_tcp.rst):
 * `sl local_address rem_address st …`, addresses as hex `ADDR:PORT`, ADDR as the kernel's 32-bit words in
 * host byte order (little-endian on every machine Linux runs tcplab on), PORT big-endian hex; `st` is the
 * TCP state in hex (0A = LISTEN).
 */
import { readFileSync } from 'node:fs'
import { formatIp } from './addr.js'

/** The kernel's TCP states as /proc/net/tcp numbers them (include/net/tcp_states.h). */
const STATES = [
  '', 'ESTABLISHED', 'SYN-SENT', 'SYN-RECEIVED', 'FIN-WAIT-1', 'FIN-WAIT-2', 'TIME-WAIT', 'CLOSED',
  'CLOSE-WAIT', 'LAST-ACK', 'LISTEN', 'CLOSING', 'NEW-SYN-RECEIVED',
] as const

/** One socket of the kernel's TCP. */
export interface KernelSocket {
  family: 4 | 6
  localAddr: Uint8Array
  localPort: number
  remoteAddr: Uint8Array
  remotePort: number
  /** RFC 9293 state name ('LISTEN', 'ESTABLISHED', …). */
  state: string
}

function parseAddr(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2)
  // Each 32-bit word is printed as the kernel holds it in memory: reverse its bytes on little-endian hosts.
  for (let w = 0; w < hex.length / 8; w++) {
    for (let i = 0; i < 4; i++) out[w * 4 + i] = parseInt(hex.slice(w * 8 + (3 - i) * 2, w * 8 + (3 - i) * 2 + 2), 16)
  }
  return out
}

/** Parses the text of /proc/net/tcp or /proc/net/tcp6 (exported for tests). */
export function parseProcNetTcp(text: string, family: 4 | 6): KernelSocket[] {
  const out: KernelSocket[] = []
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 4) continue
    const [la, lp] = f[1].split(':')
    const [ra, rp] = f[2].split(':')
    if (!la || !lp || !ra || !rp || la.length !== (family === 4 ? 8 : 32)) continue
    out.push({
      family,
      localAddr: parseAddr(la),
      localPort: parseInt(lp, 16),
      remoteAddr: parseAddr(ra),
      remotePort: parseInt(rp, 16),
      state: STATES[parseInt(f[3], 16)] ?? f[3],
    })
  }
  return out
}

/** Every TCP socket of the kernel in this namespace for `family` (none when /proc cannot be read). */
export function kernelSockets(family: 4 | 6): KernelSocket[] {
  try {
    return parseProcNetTcp(readFileSync(family === 4 ? '/proc/net/tcp' : '/proc/net/tcp6', 'utf8'), family)
  } catch {
    return []
  }
}

const isAny = (a: Uint8Array): boolean => a.every((b) => b === 0)

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as its IPv4 address, else undefined. */
function mappedV4(a: Uint8Array): Uint8Array | undefined {
  if (a.length !== 16) return undefined
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return undefined
  return a[10] === 0xff && a[11] === 0xff ? a.subarray(12) : undefined
}

function sameAddr(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/**
 * The kernel's sockets bound to `port` on `addr` — or on the wildcard address, which covers `addr`, or
 * (IPv4) on a dual-stack IPv6 socket's wildcard or mapped address. Empty when the port is free there.
 */
export function kernelSocketsOn(addr: Uint8Array, port: number): KernelSocket[] {
  const v4 = addr.length === 4
  const found: KernelSocket[] = []
  for (const s of kernelSockets(v4 ? 4 : 6)) {
    if (s.localPort === port && (isAny(s.localAddr) || sameAddr(s.localAddr, addr))) found.push(s)
  }
  if (v4) {
    for (const s of kernelSockets(6)) {
      if (s.localPort !== port) continue
      const m = mappedV4(s.localAddr)
      if ((s.state === 'LISTEN' && isAny(s.localAddr)) || (m !== undefined && sameAddr(m, addr))) found.push(s)
    }
  }
  return found
}

/** One line saying what the kernel holds on `addr:port`, or undefined when nothing. */
export function kernelPortUse(addr: Uint8Array, port: number): string | undefined {
  const socks = kernelSocketsOn(addr, port)
  if (socks.length === 0) return undefined
  const at = `${addr.length === 4 ? formatIp(addr) : `[${formatIp(addr)}]`}:${port}`
  const l = socks.find((s) => s.state === 'LISTEN')
  if (l !== undefined) return `the kernel already listens on ${at} (${isAny(l.localAddr) ? 'a server bound to every address' : 'a server on this address'})`
  const c = socks[0]
  const peer = c.remoteAddr.length === 4 ? formatIp(c.remoteAddr) : `[${formatIp(c.remoteAddr)}]`
  return `the kernel already uses ${at} (a connection to ${peer}:${c.remotePort} in ${c.state}${socks.length > 1 ? `, and ${socks.length - 1} more` : ''})`
}

/** The kernel's ephemeral port range (net.ipv4.ip_local_port_range; Linux's default 32768–60999). */
export function kernelLocalPortRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    if (Number.isInteger(lo) && Number.isInteger(hi) && lo >= 1 && lo <= hi && hi <= 65535) return [lo, hi]
  } catch {
    // not Linux, or no /proc: assume the default
  }
  return [32768, 60999]
}
