/**
 * The `.pkt` lexer: tokens with 1-based line and column, produced on demand so the first error in the file
 * is the one reported. It follows packetdrill's longest-match rules (an IPv4 address beats a float, a word
 * `0xZZ` beats a hex integer that would stop at `0`), but keywords stay ordinary words here: the parser
 * decides from context, and `-D` substitution skips the names packetdrill reserves (see KEYWORDS).
 */
import { isIPv6 } from 'node:net'
import { ScriptSyntaxError } from './errors.js'
import { SCRIPT_OPTIONS, normaliseOptionName } from './options.js'

/** What a token is. `punct` is any other single character (`<`, `>`, `(`, `:`, `,`, `+`, `*`, `~`…). */
export type TokenKind =
  | 'word'
  | 'int'
  | 'hex'
  | 'float'
  | 'string'
  | 'backquote'
  | 'code'
  | 'option'
  | 'ipv4'
  | 'ipv6'
  | 'ellipsis'
  | 'punct'
  | 'eof'

/** One token. `text` is the value: the contents of a string, command or code block, an option's name. */
export interface Token {
  kind: TokenKind
  text: string
  /** An option's value (`--mss=1000` → '1000'); undefined for a bare `--flag`. */
  value?: string
  line: number
  col: number
  /** Offsets into the source: [offset, end). */
  offset: number
  end: number
}

/**
 * The words packetdrill's lexer turns into keywords. A `-D` definition never replaces them (packetdrill
 * matches keywords before it looks a word up), and the parser will not take them as a syscall's errno,
 * an ICMP type or code, or TCP flags.
 */
export const KEYWORDS: ReadonlySet<string> = new Set(
  (
    'sa_family sin_port sin_addr msg_name msg_iov msg_flags msg_control cmsg_data cmsg_level cmsg_type ' +
    'ee_errno ee_origin ee_type ee_code ee_info ee_data scm_sec scm_nsec fd u32 u64 ptr events revents onoff ' +
    'linger htons ipv4 ipv6 icmp udp GREv0 gre raw sum off key seq none checksum present encap psp spi mpls ' +
    'label tc ttl inet_addr inet6_addr ack eol ecr mss mtu nop sack sackOK md5 TS FO FOEXP ECN e0b e1b ceb tos ' +
    'flowlabel flags Flags val win urg wscale ect01 ect0 ect1 noecn ce id'
  ).split(' '),
)

const FLOAT_RE = /-?[0-9]*\.[0-9]+/y
const INT_RE = /-?[0-9]+/y
const HEX_RE = /0x[0-9a-fA-F]+/y
const WORD_RE = /[A-Za-z0-9_]+/y
const IPV4_RE = /[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/y
const IPV6_RUN_RE = /[0-9a-fA-F:.]+/y
const OPTION_NAME_RE = /[A-Za-z0-9_][A-Za-z0-9_-]*/y

function matchLen(re: RegExp, src: string, at: number): number {
  re.lastIndex = at
  const m = re.exec(src)
  return m ? m[0].length : 0
}

/** The longest IPv6 address at `at` in the forms packetdrill's lexer knows (`::` or eight groups). */
function ipv6Len(src: string, at: number): number {
  const run = matchLen(IPV6_RUN_RE, src, at)
  for (let n = run; n >= 2; n--) {
    const cand = src.slice(at, at + n)
    if ((cand.includes('::') || cand.split(':').length === 8) && isIPv6(cand)) return n
  }
  return 0
}

/** Splits a script into tokens on demand. */
export class Lexer {
  private readonly tokens: Token[] = []
  private pos = 0
  private readonly lineStarts: number[] = [0]

  constructor(
    readonly source: string,
    readonly file: string,
  ) {
    for (let i = 0; i < source.length; i++) if (source.charCodeAt(i) === 10) this.lineStarts.push(i + 1)
  }

  /** The 1-based line and column of a source offset. */
  position(offset: number): { line: number; col: number } {
    let lo = 0
    let hi = this.lineStarts.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.lineStarts[mid]! <= offset) lo = mid
      else hi = mid - 1
    }
    return { line: lo + 1, col: offset - this.lineStarts[lo]! + 1 }
  }

  /** The i-th token (lexing up to it); past the end, the eof token. */
  tokenAt(i: number): Token {
    while (this.tokens.length <= i) {
      const last = this.tokens[this.tokens.length - 1]
      if (last?.kind === 'eof') return last
      this.tokens.push(this.lex())
    }
    return this.tokens[i]!
  }

  private fail(offset: number, message: string): never {
    const { line, col } = this.position(offset)
    throw new ScriptSyntaxError(this.file, line, col, message)
  }

  private make(kind: TokenKind, text: string, offset: number, end: number, value?: string): Token {
    const { line, col } = this.position(offset)
    const t: Token = { kind, text, line, col, offset, end }
    if (value !== undefined) t.value = value
    return t
  }

  /** Skips blanks and both comment styles; a `//` comment may end the file without a newline. */
  private skipBlanks(): void {
    const s = this.source
    for (;;) {
      const c = s[this.pos]
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '\v') this.pos++
      else if (c === '/' && s[this.pos + 1] === '/') {
        const nl = s.indexOf('\n', this.pos)
        this.pos = nl < 0 ? s.length : nl + 1
      } else if (c === '/' && s[this.pos + 1] === '*') {
        const close = s.indexOf('*/', this.pos + 2)
        if (close < 0) this.fail(this.pos, 'unterminated /* comment')
        this.pos = close + 2
      } else return
    }
  }

  /** A quoted run from `at` (which holds the quote) through the matching quote; backslash escapes a character. */
  private quotedEnd(at: number, what: string): number {
    const s = this.source
    const q = s[at]
    for (let i = at + 1; i < s.length; i++) {
      if (s[i] === '\\') i++
      else if (s[i] === q) return i + 1
    }
    this.fail(at, `unterminated ${what}`)
  }

  /** An option's value: up to blank space, quoted parts kept whole (`--define=X="a b"`). */
  private optionValueEnd(at: number): number {
    const s = this.source
    let i = at
    while (i < s.length && !/\s/.test(s[i]!)) {
      if (s[i] === '"' || s[i] === '`') i = this.quotedEnd(i, 'quoted option value')
      else i++
    }
    return i
  }

  private lex(): Token {
    this.skipBlanks()
    const s = this.source
    const at = this.pos
    if (at >= s.length) return this.make('eof', '', at, at)
    const c = s[at]!

    if (c === '%' && s[at + 1] === '{') {
      const close = s.indexOf('}%', at + 2)
      if (close < 0) this.fail(at, 'unterminated %{ code block')
      this.pos = close + 2
      // packetdrill trims blanks (not newlines) at both ends of the code
      return this.make('code', s.slice(at + 2, close).replace(/^[ \t]+|[ \t]+$/g, ''), at, this.pos)
    }
    if (c === '-' && s[at + 1] === '-' && matchLen(OPTION_NAME_RE, s, at + 2) > 0) {
      const nameEnd = at + 2 + matchLen(OPTION_NAME_RE, s, at + 2)
      const name = s.slice(at + 2, nameEnd)
      this.pos = nameEnd
      if (s[nameEnd] === '=') {
        const end = this.optionValueEnd(nameEnd + 1)
        if (end === nameEnd + 1) this.fail(nameEnd, `option --${name}: expected a value after '='`)
        this.pos = end
        return this.make('option', name, at, end, s.slice(nameEnd + 1, end))
      }
      // `--name value` on the same line, for an option that takes a value
      const blank = /[ \t]+/y
      blank.lastIndex = nameEnd
      if (SCRIPT_OPTIONS.get(normaliseOptionName(name)) === true && blank.test(s)) {
        const vStart = blank.lastIndex
        const v = s[vStart]
        if (v !== undefined && v !== '\n' && v !== '\r' && !(v === '/' && (s[vStart + 1] === '/' || s[vStart + 1] === '*'))) {
          const end = this.optionValueEnd(vStart)
          this.pos = end
          return this.make('option', name, at, end, s.slice(vStart, end))
        }
      }
      return this.make('option', name, at, nameEnd)
    }
    if (c === '.' && s[at + 1] === '.' && s[at + 2] === '.') {
      this.pos = at + 3
      return this.make('ellipsis', '...', at, at + 3)
    }
    if (c === '"' || c === '`') {
      const end = this.quotedEnd(at, c === '"' ? 'string' : 'backquoted command')
      this.pos = end
      return this.make(c === '"' ? 'string' : 'backquote', s.slice(at + 1, end - 1), at, end)
    }
    // numbers, words and addresses: the longest match wins, ties go to the earlier kind (flex's rule)
    const cands: Array<[TokenKind, number]> = [
      ['float', matchLen(FLOAT_RE, s, at)],
      ['int', matchLen(INT_RE, s, at)],
      ['hex', matchLen(HEX_RE, s, at)],
      ['word', matchLen(WORD_RE, s, at)],
      ['ipv4', matchLen(IPV4_RE, s, at)],
      ['ipv6', ipv6Len(s, at)],
    ]
    let best: [TokenKind, number] = ['punct', 0]
    for (const cand of cands) if (cand[1] > best[1]) best = cand
    if (best[1] > 0) {
      this.pos = at + best[1]
      return this.make(best[0], s.slice(at, this.pos), at, this.pos)
    }
    const cp = s.codePointAt(at)!
    const len = cp > 0xffff ? 2 : 1
    this.pos = at + len
    return this.make('punct', s.slice(at, at + len), at, at + len)
  }
}
