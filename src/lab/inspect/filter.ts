/**
 * The packet filter of `tcplab inspect FILE --filter EXPR`: a small subset of what tcpdump (pcap-filter(7))
 * and Wireshark users already type, compiled once to a predicate over a decoded segment and the number of
 * its connection. The grammar, loosest binding first:
 *
 *   expr     := and ( ('or' | '||') and )*
 *   and      := not ( ('and' | '&&') not )*
 *   not      := ('not' | '!') not | '(' expr ')' | primitive
 *   primitive:= [src|dst] host ADDR | [src|dst] net ADDR/LEN | [src|dst] port N | conn N[-M]
 *             | syn | ack | fin | rst | psh | urg | ece | cwr | ip | ip6 | tcp
 *             | tcp[tcpflags] & MASK [(!= | = | ==) VALUE]
 *   MASK     := flag ( '|' flag )* or '(' MASK ')', a flag being tcp-syn, syn, … or a number
 *
 * A bad expression throws a usage error (exit 2) naming the 1-based column where it went wrong.
 */
import { parseIp } from '../../net/addr.js'
import { TcpFlags } from '../../tcp/segment.js'
import type { WireError } from '../../tcp/errors.js'
import { usageError } from '../command.js'
import type { SegmentInfo } from './decode.js'

/** What a filter looks at: the segment and the number of the connection it belongs to. */
export interface FilterInput {
  seg: SegmentInfo
  connection: number
}

/** A compiled filter. */
export type PacketFilter = (p: FilterInput) => boolean

/** The one-paragraph description `inspect --help` prints. */
export const FILTER_HELP =
  "--filter EXPR (capture files) selects packets, tcpdump style: 'host 198.18.0.2 and port 1935',\n" +
  "'src host ADDR', 'dst port N', 'net 198.18.0.0/24', 'conn 3' or 'conn 3-5' (connection numbers as\n" +
  "reported), flags by name ('syn', 'rst and not ack', 'fin', 'psh', 'urg', 'ece', 'cwr') or as in BPF\n" +
  "('tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn'), 'ip', 'ip6', combined with not/!, and/&&, or/||\n" +
  'and parentheses. It applies to --packets and to the reports: a connection is reported (whole, with\n' +
  'its unfiltered numbers) when any of its packets matches.'

const FLAG_BITS: Readonly<Record<string, number>> = {
  fin: TcpFlags.FIN,
  syn: TcpFlags.SYN,
  rst: TcpFlags.RST,
  psh: TcpFlags.PSH,
  push: TcpFlags.PSH,
  ack: TcpFlags.ACK,
  urg: TcpFlags.URG,
  ece: TcpFlags.ECE,
  cwr: TcpFlags.CWR,
}

interface Token {
  text: string
  /** 1-based column of the token's first character. */
  col: number
}

/** Words are addresses, numbers and keywords (IPv6 and CIDR characters included); the rest are operators. */
const TOKEN = /\s*(?:([A-Za-z0-9_.:/-]+)|(&&|\|\||!=|==|[()[\]&|!=]))/y

function tokenize(expr: string): Token[] {
  const out: Token[] = []
  TOKEN.lastIndex = 0
  let pos = 0
  while (pos < expr.length) {
    TOKEN.lastIndex = pos
    const m = TOKEN.exec(expr)
    if (m === null) {
      const at = pos + (expr.slice(pos).length - expr.slice(pos).trimStart().length)
      if (at >= expr.length) break
      throw filterError(expr, at + 1, `unexpected character '${expr[at]}'`)
    }
    const text = m[1] ?? m[2]
    out.push({ text, col: m.index + m[0].length - text.length + 1 })
    pos = TOKEN.lastIndex
  }
  return out
}

function filterError(expr: string, col: number, what: string): WireError {
  return usageError(`bad --filter expression at column ${col}: ${what} (in '${expr}'; see 'tcplab inspect --help')`)
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

function inNet(addr: Uint8Array, net: Uint8Array, bits: number): boolean {
  if (addr.length !== net.length) return false
  for (let i = 0; i < net.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff
    if ((addr[i] & mask) !== (net[i] & mask)) return false
  }
  return true
}

/** Compiles a filter expression; throws a usage error with the column of the first problem. */
export function compileFilter(expr: string): PacketFilter {
  const toks = tokenize(expr)
  let i = 0
  const endCol = expr.length + 1
  const peek = (): Token | undefined => toks[i]
  const at = (): number => toks[i]?.col ?? endCol
  const shown = (t: Token | undefined): string => (t === undefined ? 'the end of the expression' : `'${t.text}'`)
  const expect = (text: string, what: string): void => {
    const t = peek()
    if (t?.text.toLowerCase() !== text) throw filterError(expr, at(), `expected ${what}, got ${shown(t)}`)
    i++
  }

  const parseOr = (): PacketFilter => {
    let left = parseAnd()
    while (peek() !== undefined && /^(or|\|\|)$/i.test(peek()!.text)) {
      i++
      const l = left
      const r = parseAnd()
      left = (p) => l(p) || r(p)
    }
    return left
  }
  const parseAnd = (): PacketFilter => {
    let left = parseNot()
    while (peek() !== undefined && /^(and|&&)$/i.test(peek()!.text)) {
      i++
      const l = left
      const r = parseNot()
      left = (p) => l(p) && r(p)
    }
    return left
  }
  const parseNot = (): PacketFilter => {
    const t = peek()
    if (t === undefined) throw filterError(expr, at(), 'expected a primitive (host, port, conn, syn, …), got the end of the expression')
    if (/^(not|!)$/i.test(t.text)) {
      i++
      const inner = parseNot()
      return (p) => !inner(p)
    }
    if (t.text === '(') {
      i++
      const inner = parseOr()
      expect(')', "')'")
      return inner
    }
    return parsePrimitive()
  }

  const number = (what: string, max: number): number => {
    const t = peek()
    if (t === undefined || !/^(0x[0-9a-f]+|\d+)$/i.test(t.text) || Number(t.text) > max) {
      throw filterError(expr, at(), `expected ${what}, got ${shown(t)}`)
    }
    i++
    return Number(t.text)
  }

  const parseMaskTerm = (): number => {
    const t = peek()
    if (t?.text === '(') {
      i++
      const m = parseMask()
      expect(')', "')'")
      return m
    }
    const name = t?.text.toLowerCase().replace(/^tcp-/, '') ?? ''
    if (Object.prototype.hasOwnProperty.call(FLAG_BITS, name)) {
      i++
      return FLAG_BITS[name]
    }
    return number('a flag (tcp-syn, tcp-ack, …) or a number', 0xff)
  }
  const parseMask = (): number => {
    let m = parseMaskTerm()
    while (peek()?.text === '|') {
      i++
      m |= parseMaskTerm()
    }
    return m
  }

  const parsePrimitive = (): PacketFilter => {
    const t = peek()!
    const word = t.text.toLowerCase()
    let dir: 'src' | 'dst' | undefined
    if (word === 'src' || word === 'dst') {
      dir = word
      i++
      const k = peek()?.text.toLowerCase()
      if (k !== 'host' && k !== 'port' && k !== 'net') throw filterError(expr, at(), `expected host, net or port after '${word}', got ${shown(peek())}`)
    }
    const kw = peek()!
    const key = kw.text.toLowerCase()
    const pick = <T>(src: T, dst: T): T[] => (dir === 'src' ? [src] : dir === 'dst' ? [dst] : [src, dst])
    switch (key) {
      case 'host': {
        i++
        const a = peek()
        let addr: Uint8Array
        try {
          if (a === undefined) throw new Error()
          addr = parseIp(a.text)
        } catch {
          throw filterError(expr, at(), `expected an IPv4 or IPv6 address after 'host', got ${shown(a)}`)
        }
        i++
        return (p) => pick(p.seg.src, p.seg.dst).some((x) => sameBytes(x, addr))
      }
      case 'net': {
        i++
        const a = peek()
        const m = /^([^/]+)\/(\d+)$/.exec(a?.text ?? '')
        let addr: Uint8Array | undefined
        try {
          if (m !== null) addr = parseIp(m[1])
        } catch {
          addr = undefined
        }
        const bits = m === null ? NaN : Number(m[2])
        if (addr === undefined || !(bits <= addr.length * 8)) {
          throw filterError(expr, at(), `expected ADDRESS/PREFIX-LENGTH after 'net' (e.g. 198.18.0.0/24), got ${shown(a)}`)
        }
        i++
        const net = addr
        return (p) => pick(p.seg.src, p.seg.dst).some((x) => inNet(x, net, bits))
      }
      case 'port': {
        i++
        const port = number("a port number (0-65535) after 'port'", 0xffff)
        return dir === 'src' ? (p) => p.seg.srcPort === port : dir === 'dst' ? (p) => p.seg.dstPort === port : (p) => p.seg.srcPort === port || p.seg.dstPort === port
      }
      case 'conn':
      case 'connection': {
        i++
        const c = peek()
        const m = /^(\d+)(?:-(\d+))?$/.exec(c?.text ?? '')
        if (m === null || Number(m[1]) < 1 || (m[2] !== undefined && Number(m[2]) < Number(m[1]))) {
          throw filterError(expr, at(), `expected a connection number N or range N-M (from 1) after '${kw.text}', got ${shown(c)}`)
        }
        i++
        const lo = Number(m[1])
        const hi = m[2] === undefined ? lo : Number(m[2])
        return (p) => p.connection >= lo && p.connection <= hi
      }
      case 'ip':
        i++
        return (p) => p.seg.family === 4
      case 'ip6':
        i++
        return (p) => p.seg.family === 6
      case 'tcp': {
        i++
        if (peek()?.text !== '[') return () => true
        i++
        const f = peek()?.text.toLowerCase()
        if (f !== 'tcpflags' && f !== 'flags' && f !== '13') throw filterError(expr, at(), `expected tcpflags inside 'tcp[…]' (the only field supported), got ${shown(peek())}`)
        i++
        expect(']', "']'")
        expect('&', "'&' after 'tcp[tcpflags]'")
        const mask = parseMask()
        const op = peek()?.text
        if (op === '!=' || op === '=' || op === '==') {
          i++
          const v = parseMask()
          return op === '!=' ? (p) => (p.seg.flags & mask) !== v : (p) => (p.seg.flags & mask) === v
        }
        return (p) => (p.seg.flags & mask) !== 0
      }
      default:
        if (Object.prototype.hasOwnProperty.call(FLAG_BITS, key)) {
          i++
          const bit = FLAG_BITS[key]
          return (p) => (p.seg.flags & bit) !== 0
        }
        throw filterError(expr, kw.col, `unknown primitive '${kw.text}' (host, net, port, conn, syn, ack, fin, rst, psh, urg, ece, cwr, ip, ip6, tcp[tcpflags])`)
    }
  }

  if (toks.length === 0) throw filterError(expr, 1, 'the expression is empty')
  const f = parseOr()
  if (i < toks.length) throw filterError(expr, at(), `expected 'and', 'or' or the end, got ${shown(peek())}`)
  return f
}
