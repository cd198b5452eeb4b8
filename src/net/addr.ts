/**
 * Text forms of the addresses the lab prints and reads: IPv4 dotted quads (RFC 791), IPv6 (RFC 4291 §2.2
 * to parse, RFC 5952 to print), `addr:port` endpoints (RFC 3986 §3.2.2 brackets) and Ethernet MACs.
 * Addresses are plain Uint8Arrays (4, 16 or 6 bytes), the same bytes the codecs read and write.
 */
import { WireError } from '../tcp/errors.js'

/** Bytes in an IPv4 address. */
export const IPV4_ADDR_LEN = 4
/** Bytes in an IPv6 address. */
export const IPV6_ADDR_LEN = 16
/** Bytes in an Ethernet (EUI-48) address. */
export const MAC_LEN = 6

/**
 * Parses an IPv4 dotted quad or an IPv6 address into 4 or 16 bytes. Strict, like Node's `net.isIP`:
 * decimal octets without leading zeros (so "010" is never read as octal), 1–4 hex digits per group, at
 * most one `::`, an embedded dotted quad only as the last 32 bits, no zone id (`%eth0`), no whitespace.
 * Throws WireError `IP_ERR_BAD_ADDRESS`.
 */
export function parseIp(s: string): Uint8Array {
  if (typeof s === 'string') {
    if (s.includes(':')) {
      const out = new Uint8Array(IPV6_ADDR_LEN)
      if (parseIpv6Into(s, out)) return out
    } else {
      const out = new Uint8Array(IPV4_ADDR_LEN)
      if (parseIpv4Into(s, out, 0)) return out
    }
  }
  throw new WireError('IP_ERR_BAD_ADDRESS', `not an IPv4 or IPv6 address: ${JSON.stringify(s)}`)
}

/** Writes the dotted quad `s` into out[at, at+4); false if `s` is not one. */
function parseIpv4Into(s: string, out: Uint8Array, at: number): boolean {
  const parts = s.split('.')
  if (parts.length !== 4) return false
  for (let i = 0; i < 4; i++) {
    const p = parts[i]
    if (p.length < 1 || p.length > 3 || (p.length > 1 && p[0] === '0')) return false
    let v = 0
    for (let j = 0; j < p.length; j++) {
      const c = p.charCodeAt(j) - 48
      if (c < 0 || c > 9) return false
      v = v * 10 + c
    }
    if (v > 255) return false
    out[at + i] = v
  }
  return true
}

/** One IPv6 group: 1–4 hex digits, or -1. */
function parseGroup(g: string): number {
  if (g.length < 1 || g.length > 4) return -1
  let v = 0
  for (let i = 0; i < g.length; i++) {
    const c = g.charCodeAt(i)
    let d: number
    if (c >= 48 && c <= 57) d = c - 48
    else if (c >= 97 && c <= 102) d = c - 87
    else if (c >= 65 && c <= 70) d = c - 55
    else return -1
    v = (v << 4) | d
  }
  return v
}

/**
 * RFC 4291 §2.2: eight groups, or fewer around one `::` that stands for one or more zero groups; the last
 * two groups may be written as a dotted quad (form 3).
 */
function parseIpv6Into(s: string, out: Uint8Array): boolean {
  if (s.length > 45) return false // 6 groups of 4, 6 colons, a 15-character quad
  const gap = s.indexOf('::')
  if (gap >= 0 && s.indexOf('::', gap + 1) >= 0) return false
  const head = gap >= 0 ? s.slice(0, gap) : s
  const tail = gap >= 0 ? s.slice(gap + 2) : ''
  const headParts = head === '' ? [] : head.split(':')
  const tailParts = tail === '' ? [] : tail.split(':')
  if (gap < 0 && headParts.length === 0) return false
  // Only the very last group of the text may be a dotted quad.
  const lastParts = gap >= 0 ? tailParts : headParts
  const last = lastParts.length > 0 ? lastParts[lastParts.length - 1] : ''
  const v4 = last.includes('.')
  if (v4) lastParts.pop()
  const words = headParts.length + tailParts.length + (v4 ? 2 : 0)
  if (gap >= 0 ? words > 7 : words !== 8) return false
  out.fill(0)
  let at = 0
  for (const g of headParts) {
    const v = parseGroup(g)
    if (v < 0) return false
    out[at++] = v >>> 8
    out[at++] = v & 0xff
  }
  at = IPV6_ADDR_LEN - 2 * (tailParts.length + (v4 ? 2 : 0))
  if (gap < 0) at = 2 * headParts.length
  for (const g of tailParts) {
    const v = parseGroup(g)
    if (v < 0) return false
    out[at++] = v >>> 8
    out[at++] = v & 0xff
  }
  return v4 ? parseIpv4Into(last, out, 12) : true
}

/**
 * Prints 4 bytes as a dotted quad and 16 bytes in RFC 5952 form: lowercase, no leading zeros, the longest
 * run of two or more zero groups as `::` (the first run on a tie, §4.2.3), and IPv4-mapped addresses as
 * `::ffff:a.b.c.d` (§5). Throws WireError `IP_ERR_BAD_ADDRESS` on any other length.
 */
export function formatIp(b: Uint8Array): string {
  if (b.length === IPV4_ADDR_LEN) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`
  if (b.length !== IPV6_ADDR_LEN) {
    throw new WireError('IP_ERR_BAD_ADDRESS', `an IP address has 4 or 16 bytes, not ${b.length}`)
  }
  if (isIpv4Mapped(b)) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`
  const words: number[] = []
  for (let i = 0; i < 16; i += 2) words.push((b[i] << 8) | b[i + 1])
  // §4.2.2: a single zero group is never shortened, so runs start counting at two.
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && words[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  if (bestStart < 0) return words.map((w) => w.toString(16)).join(':')
  const left = words.slice(0, bestStart).map((w) => w.toString(16)).join(':')
  const right = words.slice(bestStart + bestLen).map((w) => w.toString(16)).join(':')
  return `${left}::${right}`
}

/** True for an IPv4-mapped IPv6 address, ::ffff:0:0/96 (RFC 4291 §2.5.5.2). */
export function isIpv4Mapped(b: Uint8Array): boolean {
  if (b.length !== IPV6_ADDR_LEN) return false
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false
  return b[10] === 0xff && b[11] === 0xff
}

/** Byte-for-byte equality of two addresses; an IPv4 address never equals its IPv4-mapped form. */
export function ipEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** A transport endpoint: an address (4 or 16 bytes) and a port. */
export interface Endpoint {
  addr: Uint8Array
  port: number
}

/**
 * Parses `1.2.3.4:80` or `[2001:db8::1]:80` (RFC 3986 §3.2.2: an IPv6 address needs brackets). The port
 * is 1–5 decimal digits in 0..65535. Any fault, address included, throws WireError `ERR_BAD_ARGUMENT`:
 * this reads user input, where one code for "bad endpoint" is what a caller wants.
 */
export function parseEndpoint(s: string): Endpoint {
  const bad = (why: string): WireError =>
    new WireError('ERR_BAD_ARGUMENT', `bad endpoint ${JSON.stringify(s)}: ${why}`)
  if (typeof s !== 'string') throw bad('not a string')
  let host: string
  let portText: string
  if (s.startsWith('[')) {
    const close = s.indexOf(']')
    if (close < 0 || s[close + 1] !== ':') throw bad('expected [ipv6]:port')
    host = s.slice(1, close)
    portText = s.slice(close + 2)
    if (!host.includes(':')) throw bad('brackets hold an IPv6 address')
  } else {
    const colon = s.lastIndexOf(':')
    if (colon < 0) throw bad('missing :port')
    host = s.slice(0, colon)
    portText = s.slice(colon + 1)
    if (host.includes(':')) throw bad('an IPv6 address needs brackets: [addr]:port')
  }
  if (!/^[0-9]{1,5}$/.test(portText)) throw bad('port must be 0..65535')
  const port = Number(portText)
  if (port > 0xffff) throw bad('port must be 0..65535')
  let addr: Uint8Array
  try {
    addr = parseIp(host)
  } catch {
    throw bad(`not an IP address: ${JSON.stringify(host)}`)
  }
  return { addr, port }
}

/** Prints an endpoint as `1.2.3.4:80` or `[2001:db8::1]:80`. Throws `ERR_BAD_ARGUMENT` on a bad port. */
export function formatEndpoint(addr: Uint8Array, port: number): string {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new WireError('ERR_BAD_ARGUMENT', `port must be an integer in 0..65535, not ${port}`)
  }
  const host = formatIp(addr)
  return addr.length === IPV6_ADDR_LEN ? `[${host}]:${port}` : `${host}:${port}`
}

/** Parses `aa:bb:cc:dd:ee:ff` (either case, exactly two hex digits per byte). Throws `ETH_ERR_BAD_ADDRESS`. */
export function parseMac(s: string): Uint8Array {
  const out = new Uint8Array(MAC_LEN)
  const parts = typeof s === 'string' ? s.split(':') : []
  let ok = parts.length === MAC_LEN
  for (let i = 0; ok && i < MAC_LEN; i++) {
    const v = parts[i].length === 2 ? parseGroup(parts[i]) : -1
    if (v < 0) ok = false
    else out[i] = v
  }
  if (!ok) throw new WireError('ETH_ERR_BAD_ADDRESS', `not a MAC address: ${JSON.stringify(s)}`)
  return out
}

/** Prints 6 bytes as lowercase `aa:bb:cc:dd:ee:ff`. Throws `ETH_ERR_BAD_ADDRESS` on any other length. */
export function formatMac(b: Uint8Array): string {
  if (b.length !== MAC_LEN) {
    throw new WireError('ETH_ERR_BAD_ADDRESS', `a MAC address has 6 bytes, not ${b.length}`)
  }
  let s = ''
  for (let i = 0; i < MAC_LEN; i++) s += (i ? ':' : '') + (b[i] < 16 ? '0' : '') + b[i].toString(16)
  return s
}
