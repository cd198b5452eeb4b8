import { describe, expect, it } from 'vitest'
import { Lexer, type Token } from '../../src/script/lexer.js'
import { isScriptSyntaxError } from '../../src/script/errors.js'

/** Every token of `src` as [kind, text] (eof left off). */
function kinds(src: string): Array<[string, string]> {
  return tokens(src).map((t) => [t.kind, t.text])
}

function tokens(src: string): Token[] {
  const lx = new Lexer(src, 't.pkt')
  const out: Token[] = []
  for (let i = 0; ; i++) {
    const t = lx.tokenAt(i)
    if (t.kind === 'eof') return out
    out.push(t)
  }
}

function lexError(src: string): string {
  try {
    tokens(src)
  } catch (e) {
    expect(isScriptSyntaxError(e)).toBe(true)
    return (e as Error).message
  }
  throw new Error('no error')
}

describe('script lexer', () => {
  it('splits a TCP line the way packetdrill does', () => {
    expect(kinds('+.1 < S. 0:0(0) ack 1 win 257 <mss 1460,nop>')).toEqual([
      ['punct', '+'], ['float', '.1'], ['punct', '<'], ['word', 'S'], ['punct', '.'],
      ['int', '0'], ['punct', ':'], ['int', '0'], ['punct', '('], ['int', '0'], ['punct', ')'],
      ['word', 'ack'], ['int', '1'], ['word', 'win'], ['int', '257'],
      ['punct', '<'], ['word', 'mss'], ['int', '1460'], ['punct', ','], ['word', 'nop'], ['punct', '>'],
    ])
  })

  it('takes the longest match, ties to the earlier rule', () => {
    expect(kinds('1.2.3.4 1.5 -1 0x1F 0xZZ 12ab ... ...0.5 -')).toEqual([
      ['ipv4', '1.2.3.4'], ['float', '1.5'], ['int', '-1'], ['hex', '0x1F'], ['word', '0xZZ'], ['word', '12ab'],
      ['ellipsis', '...'], ['ellipsis', '...'], ['float', '0.5'], ['punct', '-'],
    ])
  })

  it('knows IPv6 addresses but not seq:end or SACK blocks', () => {
    expect(kinds('fd00::1 > fd00::2: 1:1001 2001:db8:0:0:0:0:0:1')).toEqual([
      ['ipv6', 'fd00::1'], ['punct', '>'], ['ipv6', 'fd00::2'], ['punct', ':'],
      ['int', '1'], ['punct', ':'], ['int', '1001'], ['ipv6', '2001:db8:0:0:0:0:0:1'],
    ])
  })

  it('keeps strings, commands and code raw, and skips both comment styles', () => {
    expect(kinds('"a\\"b" `ls -l` %{ x = 1 }% // tail\n/* a\nb */ "c"')).toEqual([
      ['string', 'a\\"b'], ['backquote', 'ls -l'], ['code', 'x = 1'], ['string', 'c'],
    ])
  })

  it('reads options with =, with a blank for one that takes a value, and bare', () => {
    const t = tokens('--mss=1000\n--local-ip 192.0.2.1 // c\n--strict_segments\n--define=X="a b"\n--mtu\n0')
    expect(t.map((x) => [x.kind, x.text, x.value])).toEqual([
      ['option', 'mss', '1000'],
      ['option', 'local-ip', '192.0.2.1'],
      ['option', 'strict_segments', undefined],
      ['option', 'define', 'X="a b"'],
      ['option', 'mtu', undefined],
      ['int', '0', undefined],
    ])
  })

  it('gives every token its 1-based line and column', () => {
    const t = tokens('0 close(3) = 0\n\t+0 < R 1:1(0) win 0')
    expect(t.map((x) => `${x.text}@${x.line}:${x.col}`)).toEqual([
      '0@1:1', 'close@1:3', '(@1:8', '3@1:9', ')@1:10', '=@1:12', '0@1:14',
      '+@2:2', '0@2:3', '<@2:5', 'R@2:7', '1@2:9', ':@2:10', '1@2:11', '(@2:12', '0@2:13', ')@2:14', 'win@2:16', '0@2:20',
    ])
  })

  it('reports unterminated strings, commands, comments and code at their start', () => {
    expect(lexError('0 write(3, "abc, 3) = 3')).toBe('t.pkt:1:12: unterminated string')
    expect(lexError('\n  `echo')).toBe('t.pkt:2:3: unterminated backquoted command')
    expect(lexError('0 /* x')).toBe('t.pkt:1:3: unterminated /* comment')
    expect(lexError('0 %{ x')).toBe('t.pkt:1:3: unterminated %{ code block')
    expect(lexError('--mss=')).toBe("t.pkt:1:6: option --mss: expected a value after '='")
  })
})
