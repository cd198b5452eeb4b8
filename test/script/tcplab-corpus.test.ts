import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseScript } from '../../src/script/parser.js'
import { runTcplabScript } from '../../src/script/tcplab/target.js'
import type { ScriptVerdict } from '../../src/script/engine.js'

const DIR = join(import.meta.dirname, '../scripts')
const SCRIPTS = readdirSync(DIR).filter((f) => f.endsWith('.pkt')).sort()
/** The committed list of scripts that pass on tcplab: it may grow, never silently shrink. */
const PASSING = readFileSync(join(DIR, 'tcplab-passing.txt'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'))

async function runAll(ipVersion: 'ipv4' | 'ipv6'): Promise<Map<string, ScriptVerdict>> {
  const out = new Map<string, ScriptVerdict>()
  for (const f of SCRIPTS) {
    const script = parseScript(readFileSync(join(DIR, f), 'utf8'), { file: f })
    out.set(f, await runTcplabScript(script, { ipVersion }))
  }
  return out
}

describe('the corpus on --stack tcplab (virtual time, no root)', () => {
  it('lists only scripts that exist', () => {
    expect(PASSING.filter((f) => !SCRIPTS.includes(f))).toEqual([])
  })

  for (const ipVersion of ['ipv4', 'ipv6'] as const) {
    it(`${ipVersion}: every script gets a verdict from the script (no 'error' from the target), and every listed script passes`, async () => {
      const verdicts = await runAll(ipVersion)
      const errors = [...verdicts.values()].filter((v) => v.result === 'error').map((v) => `${v.script}: ${v.message}`)
      expect(errors).toEqual([])
      const regressed = PASSING.filter((f) => verdicts.get(f)?.result !== 'pass').map((f) => `${f}: ${verdicts.get(f)?.text.join(' | ')}`)
      expect(regressed).toEqual([])
      for (const v of verdicts.values()) {
        if (v.result !== 'pass') {
          expect(v.line, v.script).not.toBeNull()
          expect(v.message, v.script).not.toBeNull()
        }
      }
    })
  }
})
