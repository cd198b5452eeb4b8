import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseScript } from '../../src/script/parser.js'
import { isScriptSyntaxError } from '../../src/script/errors.js'
import { KEYWORDS } from '../../src/script/lexer.js'

/** Parses and reports only how it ended: anything but a ScriptSyntaxError is rethrown and fails the property. */
function outcome(src: string, defines?: Record<string, string>): 'ok' | 'syntax' {
  try {
    parseScript(src, { file: 'f.pkt', defines })
    return 'ok'
  } catch (e) {
    if (isScriptSyntaxError(e) && /^f\.pkt:\d+:\d+: /.test(e.message)) return 'syntax'
    throw e
  }
}

// Pieces of real syntax, so soups reach deep into the grammar instead of failing on the first token.
const PIECES = [
  ...KEYWORDS, '0', '+0', '+.1', '1.5', '*', '~', '...', '<', '>', '(', ')', '[', ']', '{', '}', ',', ':', '=', '|', '-', '.',
  'S', 'S.', 'P.', 'F.', 'R', 'E1', '0:0(0)', '1:1001(1000)', 'win', '65535', '4294967296', '-1', '0x10', '0xffffffffffffffffff',
  'socket', 'close', 'AF_INET', 'EAGAIN', '"s"', '"u', '`cmd`', '`', '%{ x }%', '%{', '//c\n', '/*', '*/', '\n', ' ',
  '--mss=1', '--strict_segments', '--define=X=1', '--foo', '192.0.2.1', 'fd00::1', 'htons', '\u00e9', '\ud83d\ude00', 'X',
]

describe('script parser fuzz', () => {
  it('random token soups end in a parse or a SCRIPT_ERR_SYNTAX with a position, nothing else', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...PIECES), { maxLength: 60 }), fc.constantFrom(' ', '', '\n'), (parts, sep) => {
        expect(['ok', 'syntax']).toContain(outcome(parts.join(sep), { X: '`y`' }))
      }),
      { numRuns: 3000, seed: 13 },
    )
  })

  it('random strings likewise', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200, unit: 'binary' }), (s) => {
        expect(['ok', 'syntax']).toContain(outcome(s))
      }),
      { numRuns: 2000, seed: 13 },
    )
  })

  it('a valid script mutated at one place never throws anything else', () => {
    const good = '--mss=1000\n`init`\n0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:0(0) win 10 <mss 1000,nop,nop,sackOK>\n+0 > S. 0:0(0) ack 1 <...>\n+0 read(3, ..., 10) = -1 EAGAIN (x)\n`done`\n'
    expect(outcome(good)).toBe('ok')
    fc.assert(
      fc.property(fc.nat(good.length), fc.nat(good.length), fc.constantFrom(...PIECES), (at, len, piece) => {
        const src = good.slice(0, at) + piece + good.slice(Math.min(good.length, at + (len % 8)))
        expect(['ok', 'syntax']).toContain(outcome(src))
      }),
      { numRuns: 3000, seed: 13 },
    )
  })

  it('deep nesting is an error, not a stack overflow', () => {
    expect(outcome(`0 f(${'['.repeat(100000)}) = 0`)).toBe('syntax')
    expect(outcome(`0 f(${'a='.repeat(100000)}1) = 0`)).toBe('syntax')
  })
})
