import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseScript } from '../../src/script/parser.js'
import { isScriptSyntaxError } from '../../src/script/errors.js'
import { runTcplabScript } from '../../src/script/tcplab/target.js'

const DIR = join(import.meta.dirname, '../scripts')
const CORPUS = readdirSync(DIR)
  .filter((f) => f.endsWith('.pkt'))
  .sort()
  .map((f) => readFileSync(join(DIR, f), 'utf8').split('\n'))

/** One edit of a script's lines: drop one, duplicate one, swap two, or change the numbers in one. */
const edit = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat(), to: fc.nat() }),
  fc.record({ kind: fc.constant('num' as const), at: fc.nat(), value: fc.constantFrom('0', '1', '2', '3', '100', '1000', '65535', '4294967295') }),
)

function apply(lines: string[], edits: Array<{ kind: string; at: number; to?: number; value?: string }>): string {
  const out = lines.slice()
  for (const e of edits) {
    if (out.length === 0) break
    const i = e.at % out.length
    if (e.kind === 'drop') out.splice(i, 1)
    else if (e.kind === 'dup') out.splice(i, 0, out[i]!)
    else if (e.kind === 'swap') [out[i], out[e.to! % out.length]] = [out[e.to! % out.length]!, out[i]!]
    else out[i] = out[i]!.replace(/\d+/, e.value!)
  }
  return out.join('\n')
}

describe('tcplab target fuzz', () => {
  it('edited corpus scripts end in a verdict — pass, fail, unsupported, or the engine\'s own error — never the target\'s internal error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(), fc.array(edit, { minLength: 1, maxLength: 4 }), fc.constantFrom('ipv4' as const, 'ipv6' as const), async (which, edits, ipVersion) => {
        const src = apply(CORPUS[which % CORPUS.length]!, edits)
        let script
        try {
          script = parseScript(src, { file: 'f.pkt' })
        } catch (e) {
          if (isScriptSyntaxError(e)) return
          throw e
        }
        const v = await runTcplabScript(script, { ipVersion })
        expect(['pass', 'fail', 'error', 'unsupported']).toContain(v.result)
        expect(v.message ?? '').not.toMatch(/internal error/)
      }),
      { numRuns: 400 },
    )
  }, 60_000)
})
