/**
 * A recursive-descent parser for packetdrill's `.pkt` language (the TCP subset: option lines, init and
 * cleanup commands, timed packets, syscalls, shell commands and `%{ }%` blocks). It also makes the checks
 * packetdrill makes while parsing (value ranges, `seq:end(len)` agreement, `*` and ranges only on outbound
 * packets, a window on inbound packets), so a script that passes here passes packetdrill's parse too.
 * Every error is a ScriptSyntaxError `FILE:LINE:COL: expected …, got …`.
 */
import type {
  Action,
  Direction,
  Expr,
  IcmpEchoed,
  IcmpPacket,
  IpInfo,
  IpPrefix,
  OptionLine,
  Script,
  ScriptEvent,
  SeqSpec,
  SyscallEvent,
  TcpOptionNode,
  TcpPacket,
  TimeSpec,
  UdpPacket,
} from './ast.js'
import { ScriptSyntaxError } from './errors.js'
import { KEYWORDS, Lexer, type Token } from './lexer.js'
import { SCRIPT_OPTIONS, normaliseOptionName, splitDefinition } from './options.js'

/** How to parse: the file name for messages and the `-D NAME=VALUE` definitions of the command line. */
export interface ParseOptions {
  file?: string
  /** Command-line definitions; they win over a script's own `--define=NAME=VALUE` lines, as in packetdrill. */
  defines?: ReadonlyMap<string, string> | Record<string, string>
}

/** Brackets nest at most this deep, so a hostile script cannot exhaust the stack. */
const MAX_DEPTH = 64
/** TCP option space in a header (60 - 20). */
const MAX_TCP_OPTION_BYTES = 40
const U8 = 0xff
const U16 = 0xffff
const U24 = 0xffffff
const U32 = 0xffffffff

/** Parses one script; throws ScriptSyntaxError on the first error. */
export function parseScript(source: string, options: ParseOptions = {}): Script {
  return new Parser(source, options).script()
}

/** strtol(value, &end, 0) over the whole text, as packetdrill's lexer reads a definition's value. */
function strtolWhole(text: string): number | undefined {
  const m = /^[ \t\n]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(text)
  if (!m) return undefined
  const body = m[2]!
  const mag = /^0[xX]/.test(body) ? parseInt(body.slice(2), 16) : body.length > 1 && body[0] === '0' ? parseInt(body, 8) : Number(body)
  const v = m[1] === '-' ? -mag : mag
  return Number.isSafeInteger(v) ? v : undefined
}

/** Seconds as decimal text → microseconds, exactly (digits past the sixth decimal are dropped, as C's cast does). */
function secondsToUsecs(text: string): number {
  const neg = text.startsWith('-')
  const t = neg ? text.slice(1) : text
  const [whole = '', frac = ''] = t.split('.')
  const us = Number(whole || '0') * 1_000_000 + Number((frac + '000000').slice(0, 6))
  return neg ? -us : us
}

class Parser {
  private readonly lexer: Lexer
  private readonly file: string
  private i = 0
  private depth = 0
  private readonly cliDefines: Map<string, string>
  private readonly scriptDefines = new Map<string, string>()

  constructor(
    private readonly source: string,
    options: ParseOptions,
  ) {
    this.file = options.file ?? '<script>'
    this.lexer = new Lexer(source, this.file)
    const d = options.defines
    this.cliDefines = d instanceof Map ? new Map(d) : new Map(Object.entries(d ?? {}))
  }

  // ---- tokens -------------------------------------------------------------------------------------------

  /** The k-th token ahead, with `-D` definitions applied to plain words (packetdrill's lexer does it there). */
  private peek(k = 0): Token {
    const t = this.lexer.tokenAt(this.i + k)
    if (t.kind !== 'word' || KEYWORDS.has(t.text)) return t
    const value = this.cliDefines.get(t.text) ?? this.scriptDefines.get(t.text)
    if (value === undefined) return t
    const q = value[0]
    if (q === '"' || q === '`') {
      const inner = value.length >= 2 && value.endsWith(q) ? value.slice(1, -1) : value.slice(1)
      return { ...t, kind: q === '"' ? 'string' : 'backquote', text: inner }
    }
    const n = strtolWhole(value)
    if (n !== undefined) return { ...t, kind: 'int', text: String(n) }
    return { ...t, text: value }
  }

  private next(): Token {
    const t = this.peek()
    if (t.kind !== 'eof') this.i++
    return t
  }

  private isPunct(c: string, k = 0): boolean {
    const t = this.peek(k)
    return t.kind === 'punct' && t.text === c
  }

  private isWord(w: string, k = 0): boolean {
    const t = this.peek(k)
    return t.kind === 'word' && t.text === w
  }

  private describe(t: Token): string {
    if (t.kind === 'eof') return 'end of file'
    const raw = this.source.slice(t.offset, t.end)
    const shown = raw.length > 24 ? raw.slice(0, 21) + '...' : raw
    return `'${shown.replace(/\n/g, '\\n')}'`
  }

  private failAt(t: { line: number; col: number }, message: string): never {
    throw new ScriptSyntaxError(this.file, t.line, t.col, message)
  }

  private expected(what: string, t: Token = this.peek()): never {
    this.failAt(t, `expected ${what}, got ${this.describe(t)}`)
  }

  private expectPunct(c: string): Token {
    if (!this.isPunct(c)) this.expected(`'${c}'`)
    return this.next()
  }

  private expectWord(w: string): Token {
    if (!this.isWord(w)) this.expected(`'${w}'`)
    return this.next()
  }

  /** A decimal integer token within [min, max]; `what` names it in errors. */
  private integer(what: string, min: number, max: number): number {
    const t = this.peek()
    if (t.kind !== 'int') this.expected(what)
    this.next()
    const v = Number(t.text)
    if (!Number.isSafeInteger(v) || v < min || v > max) this.failAt(t, `${what} out of range (${min} to ${max}), got ${t.text}`)
    return v
  }

  /** A `0x…` integer token within [0, max]. */
  private hexInteger(what: string, max: number): number {
    const t = this.peek()
    if (t.kind !== 'hex') this.expected(`${what} as a 0x… hex number`)
    this.next()
    const v = parseInt(t.text.slice(2), 16)
    if (!Number.isSafeInteger(v) || v > max) this.failAt(t, `${what} out of range (0 to 0x${max.toString(16)}), got ${t.text}`)
    return v
  }

  private enter(t: Token): void {
    if (++this.depth > MAX_DEPTH) this.failAt(t, `brackets nested deeper than ${MAX_DEPTH}`)
  }

  // ---- script -------------------------------------------------------------------------------------------

  script(): Script {
    const options: OptionLine[] = []
    while (this.peek().kind === 'option') options.push(this.optionLine())
    const script: Script = { file: this.file, options, events: [] }
    const init = this.peek()
    if (init.kind === 'backquote') {
      this.next()
      script.init = { kind: 'shell', command: init.text, line: init.line, col: init.col }
    }
    while (this.startsTime()) script.events.push(this.event())
    const t = this.peek()
    if (script.events.length === 0) this.expected('an event (a time such as 0, +0.1 or *)', t)
    if (t.kind === 'backquote') {
      this.next()
      script.cleanup = { kind: 'shell', command: t.text, line: t.line, col: t.col }
    }
    if (this.peek().kind !== 'eof') {
      this.expected(script.cleanup ? 'end of file after the cleanup command' : 'an event time or the cleanup command')
    }
    return script
  }

  private optionLine(): OptionLine {
    const t = this.next()
    const name = normaliseOptionName(t.text)
    const takesValue = SCRIPT_OPTIONS.get(name)
    if (takesValue === undefined) this.failAt(t, `unknown option '--${t.text}'`)
    if (takesValue && t.value === undefined) this.failAt(t, `option '--${t.text}' requires a value`)
    if (!takesValue && t.value !== undefined) this.failAt(t, `option '--${t.text}' takes no value`)
    const line: OptionLine = { name, line: t.line, col: t.col }
    if (t.value !== undefined) {
      const v = t.value
      line.value = v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v
    }
    if (name === 'define') {
      const def = splitDefinition(line.value!)
      if (!def) this.failAt(t, `bad definition '${line.value}', expected NAME=VALUE`)
      this.scriptDefines.set(def.name, def.value)
    }
    return line
  }

  private startsTime(): boolean {
    const t = this.peek()
    return t.kind === 'int' || t.kind === 'float' || (t.kind === 'punct' && (t.text === '+' || t.text === '*'))
  }

  // ---- events and times -----------------------------------------------------------------------------------

  /** A time in seconds (integer or decimal) → microseconds. */
  private timeValue(): number {
    const t = this.peek()
    if (t.kind !== 'int' && t.kind !== 'float') this.expected('a time in seconds')
    this.next()
    const us = secondsToUsecs(t.text)
    if (us < 0) this.failAt(t, `negative time ${t.text}`)
    if (!Number.isSafeInteger(us)) this.failAt(t, `time ${t.text} is too large`)
    return us
  }

  private timeSpec(): TimeSpec {
    const t = this.peek()
    const pos = { line: t.line, col: t.col }
    if (this.isPunct('*')) {
      this.next()
      return { kind: 'any', ...pos }
    }
    if (this.isPunct('+')) {
      this.next()
      const usecs = this.timeValue()
      if (!this.isPunct('~')) return { kind: 'relative', usecs, ...pos }
      this.next()
      this.expectPunct('+')
      const endTok = this.peek()
      const endUsecs = this.timeValue()
      if (endUsecs < usecs) this.failAt(endTok, 'time range is backwards')
      return { kind: 'relativeRange', usecs, endUsecs, ...pos }
    }
    const usecs = this.timeValue()
    if (!this.isPunct('~')) return { kind: 'absolute', usecs, ...pos }
    this.next()
    const endTok = this.peek()
    const endUsecs = this.timeValue()
    if (endUsecs < usecs) this.failAt(endTok, 'time range is backwards')
    return { kind: 'absoluteRange', usecs, endUsecs, ...pos }
  }

  private event(): ScriptEvent {
    const time = this.timeSpec()
    const action = this.action()
    const outboundPacket = (action.kind === 'tcp' || action.kind === 'udp' || action.kind === 'icmp') && action.direction === 'outbound'
    if (time.kind === 'any' && !outboundPacket) this.failAt(time, 'event time * can only be used with outbound packets')
    if ((time.kind === 'absoluteRange' || time.kind === 'relativeRange') && !outboundPacket) {
      this.failAt(time, 'event time range can only be used with outbound packets')
    }
    return { time, action, line: time.line, col: time.col }
  }

  private action(): Action {
    const t = this.peek()
    if (this.isPunct('<') || this.isPunct('>')) return this.packet()
    if (t.kind === 'backquote') {
      this.next()
      return { kind: 'shell', command: t.text, line: t.line, col: t.col }
    }
    if (t.kind === 'code') {
      this.next()
      return { kind: 'python', code: t.text, line: t.line, col: t.col }
    }
    if (t.kind === 'ellipsis' || t.kind === 'word') return this.syscall()
    this.expected('a packet (< or >), a syscall, a `command` or a %{ }% block')
  }

  // ---- packets --------------------------------------------------------------------------------------------

  private packet(): TcpPacket | UdpPacket | IcmpPacket {
    const dirTok = this.next()
    const direction: Direction = dirTok.text === '<' ? 'inbound' : 'outbound'
    const pos = { line: dirTok.line, col: dirTok.col }
    const encapsulation: IpPrefix[] = []
    for (;;) {
      const t = this.peek()
      if (this.isWord('ipv4') || this.isWord('ipv6')) {
        this.next()
        const version = t.text === 'ipv4' ? 4 : 6
        const ipInfo = this.optIpInfo()
        const kind = version === 4 ? 'ipv4' : 'ipv6'
        const src = this.peek()
        if (src.kind !== kind) this.expected(`an IPv${version} source address`)
        this.next()
        this.expectPunct('>')
        const dst = this.peek()
        if (dst.kind !== kind) this.expected(`an IPv${version} destination address`)
        this.next()
        this.expectPunct(':')
        encapsulation.push({ version, ipInfo, src: src.text, dst: dst.text, line: t.line, col: t.col })
      } else if (t.kind === 'word' && ['gre', 'GREv0', 'mpls', 'encap'].includes(t.text)) {
        this.failAt(t, `'${t.text}' encapsulation is not supported`)
      } else break
    }
    const ipInfoTok = this.peek()
    const ipInfo = this.optIpInfo()
    if (ipInfo.ecn === 'ect01' && direction !== 'outbound') this.failAt(ipInfoTok, '[ect01] can only be used with outbound packets')
    if (this.isWord('udp')) return this.udpPacket(direction, encapsulation, ipInfo, ipInfoTok, pos)
    if (this.isWord('icmp')) return this.icmpPacket(direction, encapsulation, ipInfo, pos)
    return this.tcpPacket(direction, encapsulation, ipInfo, pos)
  }

  /** `[ip_info]` or `(ip_info)`: an ECN mark or `tos 0x..`, optionally `, flowlabel 0x..`; or `flowlabel`; or `ttl N`. */
  private optIpInfo(): IpInfo {
    const open = this.peek()
    if (!this.isPunct('[') && !this.isPunct('(')) return {}
    this.next()
    const close = open.text === '[' ? ']' : ')'
    const info: IpInfo = {}
    const t = this.peek()
    if (this.isWord('flowlabel')) {
      this.next()
      info.flowLabel = this.hexInteger('flowlabel', 0xfffff)
    } else if (this.isWord('ttl')) {
      this.next()
      info.ttl = this.integer('ttl', 0, U8)
    } else {
      if (t.kind === 'word' && (t.text === 'noecn' || t.text === 'ect0' || t.text === 'ect1' || t.text === 'ce' || t.text === 'ect01')) {
        this.next()
        info.ecn = t.text
      } else if (this.isWord('tos')) {
        this.next()
        info.tos = this.hexInteger('tos', U8)
      } else this.expected('an ECN mark (noecn, ect0, ect1, ce, ect01), tos, flowlabel or ttl')
      if (this.isPunct(',')) {
        this.next()
        this.expectWord('flowlabel')
        info.flowLabel = this.hexInteger('flowlabel', 0xfffff)
      }
    }
    this.expectPunct(close)
    return info
  }

  private optPorts(): { src: number; dst: number } | undefined {
    if (this.peek().kind !== 'int') return undefined
    const src = this.integer('source port', 0, U16)
    this.expectPunct('>')
    const dst = this.integer('destination port', 0, U16)
    return { src, dst }
  }

  private udpPacket(
    direction: Direction,
    encapsulation: IpPrefix[],
    ipInfo: IpInfo,
    ipInfoTok: Token,
    pos: { line: number; col: number },
  ): UdpPacket {
    if (ipInfo.ecn !== undefined && ipInfo.ecn !== 'ect01') this.failAt(ipInfoTok, 'ECN can only be used with TCP packets')
    this.next()
    const ports = this.optPorts()
    this.expectPunct('(')
    const len = this.integer('UDP payload size', 0, U16)
    this.expectPunct(')')
    const p: UdpPacket = { kind: 'udp', direction, encapsulation, ipInfo, len, ...pos }
    if (ports) p.ports = ports
    return p
  }

  private plainWord(what: string): string {
    const t = this.peek()
    if (t.kind !== 'word' || KEYWORDS.has(t.text)) this.expected(what)
    this.next()
    return t.text
  }

  private icmpPacket(direction: Direction, encapsulation: IpPrefix[], ipInfo: IpInfo, pos: { line: number; col: number }): IcmpPacket {
    this.next()
    const p: IcmpPacket = { kind: 'icmp', direction, encapsulation, ipInfo, type: this.plainWord('an ICMP type'), ...pos }
    const c = this.peek()
    if (c.kind === 'word' && !KEYWORDS.has(c.text)) p.code = this.plainWord('an ICMP code')
    if (this.isWord('mtu')) {
      this.next()
      p.mtu = this.integer('mtu', 0, U32)
    }
    if (this.isWord('id')) {
      this.next()
      p.id = this.integer('id', 0, U16)
    }
    if (this.isPunct('[')) {
      this.next()
      let echoed: IcmpEchoed
      if (this.isWord('udp') || this.isWord('raw')) {
        const protocol = this.next().text as 'udp' | 'raw'
        this.expectPunct('(')
        const len = this.integer('payload size', 0, U16)
        this.expectPunct(')')
        echoed = { protocol, len }
      } else echoed = { protocol: 'tcp', seq: this.seqSpec() }
      this.expectPunct(']')
      p.echoed = echoed
    }
    return p
  }

  /** The flags of a TCP line: letters from `.FSRPEWAU` or an AccECN ACE digit, `.` alone, or `-` for none. */
  private tcpFlags(): string {
    const t = this.peek()
    let flags: string
    if (this.isPunct('-')) {
      this.next()
      return ''
    }
    if (this.isPunct('.')) {
      this.next()
      return '.'
    }
    if (t.kind === 'float') {
      this.next()
      flags = t.text
    } else if (t.kind === 'word' && !KEYWORDS.has(t.text)) {
      this.next()
      flags = t.text
      if (this.isPunct('.')) {
        this.next()
        flags += '.'
      } else if (this.peek().kind === 'float') flags += this.next().text
    } else this.expected('TCP flags (such as S, S., P., F., ., or - for none)')
    let ecn = false
    let ace = false
    for (const ch of flags) {
      if (!'.FSRPEWAU01234567'.includes(ch)) this.failAt(t, `invalid TCP flag '${ch}' in '${flags}'`)
      const isAce = ch >= '0' && ch <= '7'
      if ((isAce && (ecn || ace)) || ('EWA'.includes(ch) && ace)) this.failAt(t, `conflicting TCP flag '${ch}' in '${flags}'`)
      if (isAce) ace = true
      if ('EWA'.includes(ch)) ecn = true
    }
    return flags
  }

  private seqSpec(): SeqSpec {
    const t = this.peek()
    const start = this.integer('a sequence number (start:end(length))', 0, U32)
    this.expectPunct(':')
    const end = this.integer('an end sequence number', 0, U32)
    this.expectPunct('(')
    const len = this.integer('a payload length', 0, U16)
    this.expectPunct(')')
    if (end !== start + len) this.failAt(t, `inconsistent TCP sequence numbers and payload size: ${start}+${len} is not ${end}`)
    return { start, end, len }
  }

  private tcpPacket(direction: Direction, encapsulation: IpPrefix[], ipInfo: IpInfo, pos: { line: number; col: number }): TcpPacket {
    const ports = this.optPorts()
    const flags = this.tcpFlags()
    const seq = this.seqSpec()
    const p: TcpPacket = { kind: 'tcp', direction, encapsulation, ipInfo, flags, seq, options: [], ...pos }
    if (ports) p.ports = ports
    if (this.isWord('ack')) {
      this.next()
      p.ack = this.integer('an ack number', 0, U32)
    }
    if (this.isWord('win')) {
      this.next()
      p.win = this.integer('a window', 0, U16)
    }
    if (this.isWord('urg')) {
      this.next()
      p.urg = this.integer('an urgent pointer', 0, U16)
    }
    if (this.isPunct('<')) {
      const open = this.next()
      if (this.peek().kind === 'ellipsis') {
        this.next()
        this.expectPunct('>')
        if (direction !== 'outbound') this.failAt(open, '<...> for TCP options can only be used with outbound packets')
        p.options = 'any'
      } else {
        const list: TcpOptionNode[] = [this.tcpOption()]
        while (this.isPunct(',')) {
          this.next()
          list.push(this.tcpOption())
        }
        if (!this.isPunct('>')) this.expected("',' or '>'")
        this.next()
        const bytes = list.reduce((n, o) => n + tcpOptionLen(o), 0)
        if (bytes > MAX_TCP_OPTION_BYTES) this.failAt(open, `TCP option list too long (${bytes} bytes, at most ${MAX_TCP_OPTION_BYTES})`)
        // packetdrill builds the header from the list as written, so it must fill whole 32-bit words
        if (bytes % 4 !== 0) this.failAt(open, `TCP options are not padded to a multiple of 4 bytes (${bytes} bytes)`)
        p.options = list
      }
    }
    if (direction === 'inbound' && p.win === undefined) this.failAt(pos, 'window must be specified for inbound packets')
    return p
  }

  /** An FO cookie or MD5 digest: a word or integer of hex digits, even in number. */
  private hexBlob(what: string, maxBytes: number, tok: Token): string {
    const t = this.peek()
    if (t.kind !== 'word' && t.kind !== 'int') this.expected(what)
    this.next()
    const hex = t.text
    if (!/^([0-9a-fA-F]{2})*$/.test(hex)) this.failAt(t, `${what} must be an even number of hex digits, got '${hex}'`)
    if (hex.length / 2 > maxBytes) this.failAt(tok, `${what} longer than ${maxBytes} bytes`)
    return hex.toLowerCase()
  }

  private tcpOption(): TcpOptionNode {
    const t = this.peek()
    const pos = { line: t.line, col: t.col }
    if (t.kind !== 'word') this.expected('a TCP option (nop, eol, mss, wscale, sackOK, sack, TS, FO, FOEXP, md5, ECN)')
    switch (t.text) {
      case 'nop':
      case 'eol':
      case 'sackOK':
        this.next()
        return { kind: t.text, ...pos }
      case 'mss':
        this.next()
        return { kind: 'mss', value: this.integer('an mss value', 0, U16), ...pos }
      case 'wscale':
        this.next()
        return { kind: 'wscale', shift: this.integer('a window scale shift count', 0, U8), ...pos }
      case 'sack': {
        this.next()
        const blocks: Array<{ left: number; right: number }> = []
        do {
          const left = this.integer('a SACK block left edge', 0, U32)
          this.expectPunct(':')
          blocks.push({ left, right: this.integer('a SACK block right edge', 0, U32) })
        } while (this.peek().kind === 'int')
        return { kind: 'sack', blocks, ...pos }
      }
      case 'TS': {
        this.next()
        this.expectWord('val')
        const val = this.integer('a TS val', 0, U32)
        this.expectWord('ecr')
        return { kind: 'timestamp', val, ecr: this.integer('a TS ecr', 0, U32), ...pos }
      }
      case 'FO':
      case 'FOEXP': {
        this.next()
        const experimental = t.text === 'FOEXP'
        const n = this.peek()
        const cookie =
          (n.kind === 'word' && !KEYWORDS.has(n.text)) || n.kind === 'int'
            ? this.hexBlob('a fast open cookie', MAX_TCP_OPTION_BYTES - (experimental ? 4 : 2), t)
            : ''
        return { kind: 'fastopen', experimental, cookie, ...pos }
      }
      case 'md5': {
        this.next()
        return { kind: 'md5', digest: this.hexBlob('an md5 digest', 16, t), ...pos }
      }
      case 'ECN':
        return this.accEcnOption()
      default:
        this.expected('a TCP option (nop, eol, mss, wscale, sackOK, sack, TS, FO, FOEXP, md5, ECN)')
    }
  }

  /** `ECN e0b N [ceb N [e1b N]]` or `ECN e1b N [ceb N [e0b N]]`: the orders packetdrill accepts. */
  private accEcnOption(): TcpOptionNode {
    const t = this.next()
    const fields: Array<{ name: 'e0b' | 'ceb' | 'e1b'; value: number }> = []
    const first = this.peek()
    if (!this.isWord('e0b') && !this.isWord('e1b')) this.expected("'e0b' or 'e1b'")
    const order: Array<'e0b' | 'ceb' | 'e1b'> = first.text === 'e0b' ? ['e0b', 'ceb', 'e1b'] : ['e1b', 'ceb', 'e0b']
    for (const name of order) {
      if (fields.length > 0 && !this.isWord(name)) break
      this.expectWord(name)
      fields.push({ name, value: this.integer(`an AccECN ${name} counter`, 0, U24) })
    }
    return { kind: 'accecn', fields, line: t.line, col: t.col }
  }

  // ---- syscalls -------------------------------------------------------------------------------------------

  private syscall(): SyscallEvent {
    let blockingEndUsecs: number | undefined
    if (this.peek().kind === 'ellipsis') {
      this.next()
      blockingEndUsecs = this.timeValue()
    }
    const nameTok = this.peek()
    if (nameTok.kind !== 'word') this.expected('a syscall name')
    this.next()
    const open = this.expectPunct('(')
    this.enter(open)
    const args: Expr[] = []
    if (!this.isPunct(')')) {
      args.push(this.expr())
      while (this.isPunct(',')) {
        this.next()
        args.push(this.expr())
      }
    }
    if (!this.isPunct(')')) this.expected("',' or ')'")
    this.next()
    this.depth--
    if (!this.isPunct('=')) this.expected("'=' and the expected result")
    this.next()
    const result = this.expr()
    const call: SyscallEvent = { kind: 'syscall', name: nameTok.text, args, result, line: nameTok.line, col: nameTok.col }
    if (blockingEndUsecs !== undefined) call.blockingEndUsecs = blockingEndUsecs
    // the errno must share the result's line: a word on the next line is a mistake, not an errno
    const e = this.peek()
    if (e.kind === 'word' && !KEYWORDS.has(e.text) && e.line === this.lexer.tokenAt(this.i - 1).line) {
      this.next()
      call.errno = e.text
    }
    if (this.isPunct('(')) call.note = this.note()
    return call
  }

  /** `(free text)` after a result: its words, blanks collapsed. */
  private note(): string {
    const open = this.next()
    for (;;) {
      const t = this.peek()
      if (t.kind === 'eof') this.failAt(open, "unterminated note: expected ')'")
      if (t.kind === 'punct' && t.text === '(') this.expected("')' closing the note")
      this.next()
      if (t.kind === 'punct' && t.text === ')') return this.source.slice(open.end, t.offset).replace(/\s+/g, ' ').trim()
    }
  }

  private expr(): Expr {
    const first = this.primary()
    if (!this.isPunct('|')) return first
    const operands = [first]
    while (this.isPunct('|')) {
      this.next()
      operands.push(this.primary())
    }
    return { kind: 'or', operands, line: first.line, col: first.col }
  }

  private list(close: string): Expr[] {
    const items: Expr[] = []
    if (this.isPunct(close)) return items
    items.push(this.expr())
    while (this.isPunct(',')) {
      this.next()
      items.push(this.expr())
    }
    if (!this.isPunct(close)) this.expected(`',' or '${close}'`)
    return items
  }

  private primary(): Expr {
    const t = this.peek()
    const pos = { line: t.line, col: t.col }
    switch (t.kind) {
      case 'ellipsis':
        this.next()
        return { kind: 'ellipsis', ...pos }
      case 'int':
        this.next()
        return { kind: 'int', value: Number(t.text), text: t.text, hex: false, ...pos }
      case 'hex':
        this.next()
        return { kind: 'int', value: parseInt(t.text.slice(2), 16), text: t.text, hex: true, ...pos }
      case 'string': {
        let value = ''
        while (this.peek().kind === 'string') value += this.next().text
        const ellipsis = this.peek().kind === 'ellipsis'
        if (ellipsis) this.next()
        return { kind: 'string', value, ellipsis, ...pos }
      }
      case 'punct':
        if (t.text === '[' || t.text === '{') {
          this.next()
          this.enter(t)
          const close = t.text === '[' ? ']' : '}'
          const items = this.list(close)
          this.next()
          this.depth--
          return { kind: t.text === '[' ? 'array' : 'struct', items, ...pos }
        }
        break
      case 'word': {
        this.next()
        let target: Expr = { kind: 'word', name: t.text, ...pos }
        if (this.isPunct('(')) {
          const open = this.next()
          this.enter(open)
          const args = this.list(')')
          this.next()
          this.depth--
          target = { kind: 'call', name: t.text, args, ...pos }
        }
        if (!this.isPunct('=')) return target
        this.next()
        this.enter(t)
        const value = this.expr()
        this.depth--
        return { kind: 'assign', target, value, ...pos }
      }
      default:
        break
    }
    this.expected('an expression (a number, string, ..., constant, [array] or {struct})')
  }
}

/** The bytes an option takes in the header, for the 40-byte limit. */
function tcpOptionLen(o: TcpOptionNode): number {
  switch (o.kind) {
    case 'nop':
    case 'eol':
      return 1
    case 'mss':
      return 4
    case 'wscale':
      return 3
    case 'sackOK':
      return 2
    case 'sack':
      return 2 + 8 * o.blocks.length
    case 'timestamp':
      return 10
    case 'fastopen':
      return (o.experimental ? 4 : 2) + o.cookie.length / 2
    case 'md5':
      return 18
    case 'accecn':
      return 2 + 3 * o.fields.length
  }
}
