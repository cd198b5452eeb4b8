/** A call's integer arguments as both targets read them: values, defaults for `...`, and what they cannot read. */
import { describe, expect, it } from 'vitest'
import { parseScript } from '../../src/script/parser.js'
import type { SyscallEvent } from '../../src/script/ast.js'
import { exprText, intArg } from '../../src/script/symbols.js'

class Unsupported extends Error {}
const call = (line: string) => parseScript(`0 ${line}\n`, { file: 't.pkt' }).events[0]!.action as SyscallEvent

describe('intArg', () => {
  it('numbers, symbols, A|B and [n]; `...` takes the default', () => {
    const c = call('setsockopt(3, SOL_TCP, TCP_NODELAY, [1], ...) = 0')
    expect([0, 1, 2, 3].map((i) => intArg(c, i, undefined, Unsupported, 'x'))).toEqual([3, 6, 1, 1])
    expect(intArg(c, 4, 4, Unsupported, 'x')).toBe(4)
    expect(intArg(call('fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0'), 2, undefined, Unsupported, 'x')).toBe(0o4002)
  })

  it("throws the target's own error, naming the argument as the script wrote it", () => {
    const c = call('listen(3, BACKLOG_WORD, ...) = 0')
    expect(() => intArg(c, 1, undefined, Unsupported, 'kernel target')).toThrow(new Unsupported('listen: cannot evaluate argument 2 (BACKLOG_WORD) on the kernel target'))
    expect(() => intArg(c, 2, undefined, Unsupported, 'kernel target')).toThrow(new Unsupported('listen: argument 3 must be a number'))
    expect(() => intArg(c, 1, undefined, Unsupported, 'x')).toThrow(Unsupported)
    expect(exprText(call('poll([{fd=3, events=POLLIN}], 1, A|B) = 0').args[2]!)).toBe('A|B')
  })
})
